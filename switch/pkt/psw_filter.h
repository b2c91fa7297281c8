/*
 * Packet filters in tcpdump's language, for capture and trace: compiled by
 * libpcap on the control thread (classic BPF, DLT_EN10MB), run by workers
 * with libpcap's interpreter, which only reads the program and the packet
 * (no state, no allocation: safe on any thread).
 */
#ifndef PSW_FILTER_H
#define PSW_FILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pcap/pcap.h>
#include <rte_mbuf.h>

/* Bytes of a multi-segment packet a filter may look at (headers live there). */
#define PSW_FILTER_SCRATCH 256

struct psw_filter {
	struct bpf_program prog;         /**< bf_len 0: every packet matches */
	char expr[256];                  /**< as given ("" for none), for status */
};

/**
 * Compile expr ("" or NULL: match all) for Ethernet frames of up to
 * snaplen bytes. Returns 0, or -1 with the reason in err: libpcap's, or
 * that expr reads the Linux kernel's packet metadata (inbound, outbound,
 * ifindex), which the switch does not have (it would never match).
 */
int psw_filter_compile(struct psw_filter *f, const char *expr, uint32_t snaplen,
		       char *err, size_t errlen);

/** Free what psw_filter_compile() allocated (a zeroed filter too). */
void psw_filter_free(struct psw_filter *f);

/** Does the packet match? Reads only its first PSW_FILTER_SCRATCH bytes when segmented. */
static inline bool
psw_filter_match(const struct psw_filter *f, const struct rte_mbuf *m)
{
	uint8_t scratch[PSW_FILTER_SCRATCH];
	const uint8_t *data;
	uint32_t len;

	if (f->prog.bf_len == 0)
		return true;
	len = rte_pktmbuf_data_len(m);
	data = rte_pktmbuf_mtod(m, const uint8_t *);
	if (m->nb_segs > 1) {
		len = RTE_MIN(rte_pktmbuf_pkt_len(m), (uint32_t)sizeof(scratch));
		data = rte_pktmbuf_read(m, 0, len, scratch);
		if (data == NULL)
			return false;
	}
	return bpf_filter(f->prog.bf_insns, data, rte_pktmbuf_pkt_len(m), len) != 0;
}

#endif /* PSW_FILTER_H */
