/*
 * NAT rewrites with incremental checksum updates: replace a packet's source
 * or destination address and L4 port (TCP, UDP, SCTP, ICMP echo identifier),
 * IPv4 and IPv6, keeping the IPv4 header checksum and the L4 checksum valid
 * (a UDP checksum of 0 over IPv4 stays 0; a partial one a kernel pod left,
 * psw_gso.h, stays partial). SCTP's CRC32c is not
 * incremental: after an SCTP port change it is recomputed over the packet.
 * Fast path; used by the conntrack and service stages.
 */
#ifndef PSW_NAT_H
#define PSW_NAT_H

#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>

#include <rte_byteorder.h>
#include <rte_hash_crc.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include "psw_csum.h"
#include "psw_ct.h"
#include "psw_pkt.h"

/*
 * SCTP's checksum: CRC32c (RFC 4960, appendix B) over the whole SCTP packet
 * with the checksum field zero, stored in little-endian byte order. The
 * byte loop keeps every access aligned (rte_hash_crc_1byte uses the CPU's
 * crc32 instruction where there is one).
 */
static inline void
psw_sctp_crc_update(struct rte_mbuf *pkt, const struct psw_meta *m)
{
	uint8_t *l4 = rte_pktmbuf_mtod_offset(pkt, uint8_t *, m->l4_off);
	unsigned len = m->l2_len + m->l3_payload - m->l4_off, i, n;
	uint32_t crc = 0xffffffff;
	const struct rte_mbuf *seg;
	const uint8_t *d;
	uint8_t sum[4];

	if (len < 12)
		return;
	memset(l4 + 8, 0, 4);                    /* the header lies in the first segment */
	/* over every segment the message spans (parse checked their total length) */
	d = l4;
	n = rte_pktmbuf_data_len(pkt) - m->l4_off;
	for (seg = pkt; seg != NULL && len > 0; seg = seg->next) {
		if (seg != pkt) {
			d = rte_pktmbuf_mtod(seg, const uint8_t *);
			n = rte_pktmbuf_data_len(seg);
		}
		n = RTE_MIN(n, len);
		for (i = 0; i < n; i++)
			crc = rte_hash_crc_1byte(d[i], crc);
		len -= n;
	}
	crc = ~crc;
	sum[0] = (uint8_t)crc;
	sum[1] = (uint8_t)(crc >> 8);
	sum[2] = (uint8_t)(crc >> 16);
	sum[3] = (uint8_t)(crc >> 24);
	memcpy(l4 + 8, sum, 4);
}

/* Fold delta into the 16-bit checksum field at p (any alignment). */
static inline void
psw_nat_csum(uint8_t *p, uint64_t delta)
{
	uint16_t c;

	memcpy(&c, p, 2);
	c = psw_csum_apply(c, delta);
	memcpy(p, &c, 2);
}

/**
 * Rewrite the destination (dst != 0) or source address and port. addr is 4
 * or 16 bytes (network order) for the packet's family; port in network
 * order. For ICMP echo the port is the identifier, rewritten on the source
 * side only. The checksums are adjusted by one delta each: the IPv4 header's
 * by the address, the L4 one (its pseudo-header has the addresses) by the
 * address and the port.
 */
static __rte_always_inline void
psw_nat_rewrite(struct rte_mbuf *pkt, struct psw_meta *m, int dst, const uint8_t *addr,
		uint16_t port)
{
	uint8_t *l3 = rte_pktmbuf_mtod_offset(pkt, uint8_t *, m->l2_len);
	uint8_t *l4 = rte_pktmbuf_mtod_offset(pkt, uint8_t *, m->l4_off);
	bool v4 = m->l3 == PSW_L3_IPV4;
	unsigned alen = v4 ? 4 : 16;
	uint8_t *a = v4 ? l3 + (dst ? 16 : 12) : l3 + (dst ? 24 : 8);
	uint64_t d = psw_csum_delta(a, addr, alen);
	uint16_t old;

	if (v4) {
		psw_nat_csum(l3 + 10, d);
		memcpy(dst ? (void *)&m->dst4 : (void *)&m->src4, addr, 4);
	} else {
		memcpy(dst ? m->dst6 : m->src6, addr, 16);
	}
	memcpy(a, addr, alen);
	if (!(m->flags & PSW_F_L4))
		return;          /* a later fragment: no L4 header to follow */
	switch (m->l4_proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
		memcpy(&old, l4 + (dst ? 2 : 0), 2);
		memcpy(l4 + (dst ? 2 : 0), &port, 2);
		if (dst)
			m->dport = port;
		else
			m->sport = port;
		/* a kernel pod's partial checksum (psw_gso.h) holds the pseudo-header's
		 * sum, not complemented, and no port: it follows the address alone,
		 * a delta the other way round (0 and all ones are the same sum) */
		if (unlikely(pkt->ol_flags & RTE_MBUF_F_TX_L4_MASK))
			d = (uint16_t)~psw_csum_fold(d);
		else
			d += psw_csum_delta16(old, port);
		if (m->l4_proto == IPPROTO_TCP) {
			psw_nat_csum(l4 + 16, d);
		} else if (!v4 || l4[6] != 0 || l4[7] != 0) {   /* UDP/IPv4 may have none */
			psw_nat_csum(l4 + 6, d);
			if (l4[6] == 0 && l4[7] == 0)
				l4[6] = l4[7] = 0xff;    /* a computed 0 is sent as all ones */
		}
		break;
	case IPPROTO_SCTP: {
		uint16_t cur;

		memcpy(&cur, l4 + (dst ? 2 : 0), 2);
		if (cur != port) {
			memcpy(l4 + (dst ? 2 : 0), &port, 2);
			if (dst)
				m->dport = port;
			else
				m->sport = port;
			psw_sctp_crc_update(pkt, m);
		}
		break;
	}
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		if (v4)
			d = 0;           /* ICMPv4's checksum has no pseudo-header */
		if (!dst) {          /* the echo identifier */
			memcpy(&old, l4 + 4, 2);
			memcpy(l4 + 4, &port, 2);
			m->sport = port;
			d += psw_csum_delta16(old, port);
		}
		if (d != 0)
			psw_nat_csum(l4 + 2, d);
		break;
	default:
		break;
	}
}

/** An ICMP echo's identifier (network order) set to id, its checksum following. */
static __rte_always_inline void
psw_nat_echo_id(struct rte_mbuf *pkt, struct psw_meta *m, uint16_t id)
{
	uint8_t *l4 = rte_pktmbuf_mtod_offset(pkt, uint8_t *, m->l4_off);
	uint16_t old;

	if (!(m->flags & PSW_F_L4))
		return;
	memcpy(&old, l4 + 4, 2);
	if (old == id)
		return;
	memcpy(l4 + 4, &id, 2);
	m->sport = id;
	psw_nat_csum(l4 + 2, psw_csum_delta16(old, id));
}

/**
 * Rewrite a packet of a known connection e for its direction (PSW_CT_DIR_*).
 * An ICMP echo leaves with the reply key's identifier (another when its own
 * was taken: psw_ct_open_snat) and comes back with the original's.
 */
static __rte_always_inline void
psw_nat_apply_entry(struct rte_mbuf *pkt, struct psw_meta *m, const struct psw_ct_entry *e, unsigned dir)
{
	bool icmp = e->orig.proto == IPPROTO_ICMP || e->orig.proto == IPPROTO_ICMPV6;

	if (dir == PSW_CT_DIR_ORIG) {
		if (e->flags & PSW_CT_F_DNAT)
			psw_nat_rewrite(pkt, m, 1, e->reply.src, e->reply.sport);
		if (e->flags & PSW_CT_F_SNAT)
			psw_nat_rewrite(pkt, m, 0, e->reply.dst, icmp ? e->reply.sport : e->reply.dport);
	} else {
		if (e->flags & PSW_CT_F_DNAT)
			psw_nat_rewrite(pkt, m, 0, e->orig.dst, icmp ? e->orig.sport : e->orig.dport);
		if (e->flags & PSW_CT_F_SNAT) {
			psw_nat_rewrite(pkt, m, 1, e->orig.src, e->orig.sport);
			if (unlikely(icmp))
				psw_nat_echo_id(pkt, m, e->orig.sport);
		}
	}
}

#endif /* PSW_NAT_H */
