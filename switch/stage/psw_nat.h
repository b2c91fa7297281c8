/*
 * NAT rewrites with incremental checksum updates: replace a packet's source
 * or destination address and L4 port (TCP, UDP, SCTP, ICMP echo identifier),
 * IPv4 and IPv6, keeping the IPv4 header checksum and the L4 checksum valid
 * (a UDP checksum of 0 over IPv4 stays 0). SCTP's CRC32c is not
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
#include "psw_pkt.h"

/* Offset of the L4 checksum from the L4 header, or -1 (none, or UDP/IPv4 without one). */
static inline int
psw_l4_csum_off(struct rte_mbuf *pkt, const struct psw_meta *m)
{
	const uint8_t *l4 = rte_pktmbuf_mtod_offset(pkt, const uint8_t *, m->l4_off);

	if (!(m->flags & PSW_F_L4))
		return -1;
	switch (m->l4_proto) {
	case IPPROTO_TCP:
		return 16;
	case IPPROTO_UDP:
		return (m->l3 == PSW_L3_IPV4 && l4[6] == 0 && l4[7] == 0) ? -1 : 6;
	case IPPROTO_ICMPV6:
		return 2;
	default:
		return -1;       /* ICMPv4's checksum has no pseudo-header */
	}
}

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
	unsigned len = m->l2_len + m->l3_payload - m->l4_off, i;
	uint32_t crc = 0xffffffff;
	uint8_t sum[4];

	if (pkt->nb_segs != 1 || len < 12)
		return;
	memset(l4 + 8, 0, 4);
	for (i = 0; i < len; i++)
		crc = rte_hash_crc_1byte(l4[i], crc);
	crc = ~crc;
	sum[0] = (uint8_t)crc;
	sum[1] = (uint8_t)(crc >> 8);
	sum[2] = (uint8_t)(crc >> 16);
	sum[3] = (uint8_t)(crc >> 24);
	memcpy(l4 + 8, sum, 4);
}

/* Replace len bytes at field, keeping the checksum at csum (may be NULL) valid. */
static inline void
psw_nat_field(uint8_t *field, const void *val, unsigned len, uint8_t *csum)
{
	if (csum != NULL) {
		uint16_t c;

		memcpy(&c, csum, 2);
		c = psw_csum_replace(c, field, val, len);
		memcpy(csum, &c, 2);
	}
	memcpy(field, val, len);
}

/**
 * Rewrite the destination (dst != 0) or source address and port. addr is 4
 * or 16 bytes (network order) for the packet's family; port in network
 * order. For ICMP echo the port is the identifier, rewritten on the source
 * side only.
 */
static inline void
psw_nat_rewrite(struct rte_mbuf *pkt, struct psw_meta *m, int dst, const uint8_t *addr,
		uint16_t port)
{
	uint8_t *l3 = rte_pktmbuf_mtod_offset(pkt, uint8_t *, m->l2_len);
	uint8_t *l4 = rte_pktmbuf_mtod_offset(pkt, uint8_t *, m->l4_off);
	int coff = psw_l4_csum_off(pkt, m);
	uint8_t *l4c = coff >= 0 ? l4 + coff : NULL;
	bool v4 = m->l3 == PSW_L3_IPV4;
	unsigned alen = v4 ? 4 : 16;
	uint8_t *a = v4 ? l3 + (dst ? 16 : 12) : l3 + (dst ? 24 : 8);

	if (l4c != NULL) {                   /* the address is in the L4 pseudo-header */
		uint16_t c;

		memcpy(&c, l4c, 2);
		c = psw_csum_replace(c, a, addr, alen);
		memcpy(l4c, &c, 2);
	}
	psw_nat_field(a, addr, alen, v4 ? l3 + 10 : NULL);
	if (v4)
		memcpy(dst ? (void *)&m->dst4 : (void *)&m->src4, addr, 4);
	else
		memcpy(dst ? m->dst6 : m->src6, addr, 16);
	if (!(m->flags & PSW_F_L4))
		return;
	if (m->l4_proto == IPPROTO_TCP || m->l4_proto == IPPROTO_UDP) {
		psw_nat_field(l4 + (dst ? 2 : 0), &port, 2, l4c);
		if (dst)
			m->dport = port;
		else
			m->sport = port;
	} else if (m->l4_proto == IPPROTO_SCTP) {
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
	} else if ((m->l4_proto == IPPROTO_ICMP || m->l4_proto == IPPROTO_ICMPV6) && !dst) {
		psw_nat_field(l4 + 4, &port, 2, l4 + 2);
		m->sport = port;
	}
}

#endif /* PSW_NAT_H */
