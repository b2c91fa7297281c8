/*
 * parse stage: Ethernet (up to two VLAN tags), ARP, IPv4 (options,
 * fragments), IPv6 (extension headers, fragments), TCP, UDP, SCTP, ICMP,
 * ICMPv6. Headers must lie in the first segment.
 */
#include <netinet/in.h>
#include <string.h>

#include <rte_arp.h>
#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>
#include <rte_sctp.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include "psw_csum.h"
#include "psw_gso.h"
#include "psw_parse.h"

#define PREFETCH_AHEAD 4
#define MAX_VLANS 2
#define MAX_IP6_EXT 8

/* Bytes of L4 header needed to read ports (or ICMP type/code/id). */
static inline unsigned
l4_min_len(uint8_t proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return sizeof(struct rte_tcp_hdr);
	case IPPROTO_UDP:
		return sizeof(struct rte_udp_hdr);
	case IPPROTO_SCTP:
		return sizeof(struct rte_sctp_hdr);
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		return 8;
	default:
		return 0;
	}
}

static inline void
parse_l4(const uint8_t *data, unsigned len, struct psw_meta *m)
{
	unsigned need = l4_min_len(m->l4_proto);
	const uint8_t *l4 = data + m->l4_off;
	unsigned l3_end = m->l2_len + m->l3_payload;

	if (need == 0 || (m->flags & PSW_F_FRAG_LATER))
		return;
	if ((unsigned)m->l4_off + need > len || (unsigned)m->l4_off + need > l3_end) {
		psw_set_drop(m, PSW_DROP_L4_TRUNC);
		return;
	}
	if (m->l4_proto == IPPROTO_TCP) {
		const struct rte_tcp_hdr *th = (const struct rte_tcp_hdr *)l4;
		unsigned doff = (th->data_off >> 4) * 4u;

		/* a SYN's options are read in place (window scale): first segment only */
		if (doff < sizeof(*th) || (unsigned)m->l4_off + doff > l3_end ||
		    ((th->tcp_flags & RTE_TCP_SYN_FLAG) && (unsigned)m->l4_off + doff > len)) {
			psw_set_drop(m, PSW_DROP_L4_TRUNC);
			return;
		}
	}
	if (m->l4_proto == IPPROTO_ICMP || m->l4_proto == IPPROTO_ICMPV6) {
		/* type/code in dport, identifier (echo) in sport */
		m->dport = (uint16_t)(l4[0] << 8 | l4[1]);
		memcpy(&m->sport, l4 + 4, 2);
	} else {
		/* TCP, UDP and SCTP all start with source and destination port */
		memcpy(&m->sport, l4, 2);
		memcpy(&m->dport, l4 + 2, 2);
	}
	m->flags |= PSW_F_L4;
}

static inline void
parse_ip4(struct rte_mbuf *pkt, const uint8_t *data, unsigned len, struct psw_meta *m)
{
	const struct rte_ipv4_hdr *ip = (const struct rte_ipv4_hdr *)(data + m->l2_len);
	unsigned ihl, total;
	uint16_t frag;

	if (m->l2_len + sizeof(*ip) > len) {
		psw_set_drop(m, PSW_DROP_RUNT);
		return;
	}
	if (likely(ip->version_ihl == RTE_IPV4_VHL_DEF)) {
		ihl = sizeof(*ip);           /* version 4, no options: checked above */
	} else {
		if ((ip->version_ihl >> 4) != 4) {
			psw_set_drop(m, PSW_DROP_IP4_VERSION);
			return;
		}
		ihl = (ip->version_ihl & 0xf) * 4u;
		if (ihl < sizeof(*ip)) {
			psw_set_drop(m, PSW_DROP_IP4_IHL);
			return;
		}
		if (m->l2_len + ihl > len) {
			psw_set_drop(m, PSW_DROP_RUNT);
			return;
		}
	}
	total = rte_be_to_cpu_16(ip->total_length);
	if (total < ihl || m->l2_len + total > rte_pktmbuf_pkt_len(pkt)) {
		psw_set_drop(m, PSW_DROP_IP4_LEN);
		return;
	}
	if ((pkt->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) == RTE_MBUF_F_RX_IP_CKSUM_BAD ||
	    ((pkt->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) != RTE_MBUF_F_RX_IP_CKSUM_GOOD &&
	     !psw_ip4_hdr_csum_ok(ip, ihl))) {
		psw_set_drop(m, PSW_DROP_IP4_CSUM);
		return;
	}
	m->l3 = PSW_L3_IPV4;
	m->l3_len = (uint16_t)ihl;
	m->l4_off = (uint16_t)(m->l2_len + ihl);
	m->l3_payload = (uint16_t)total;
	m->l4_proto = ip->next_proto_id;
	m->src4 = ip->src_addr;
	m->dst4 = ip->dst_addr;
	if (ihl > sizeof(*ip))
		m->flags |= PSW_F_IP_OPTS;
	frag = rte_be_to_cpu_16(ip->fragment_offset);
	if (frag & (RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK)) {
		m->flags |= PSW_F_FRAG;
		if (frag & RTE_IPV4_HDR_OFFSET_MASK)
			m->flags |= PSW_F_FRAG_LATER;
	}
	parse_l4(data, len, m);
}

static inline void
parse_ip6(struct rte_mbuf *pkt, const uint8_t *data, unsigned len, struct psw_meta *m)
{
	const struct rte_ipv6_hdr *ip = (const struct rte_ipv6_hdr *)(data + m->l2_len);
	unsigned off, end, payload;
	uint8_t next;
	int i;

	if (m->l2_len + sizeof(*ip) > len) {
		psw_set_drop(m, PSW_DROP_RUNT);
		return;
	}
	if ((rte_be_to_cpu_32(ip->vtc_flow) >> 28) != 6) {
		psw_set_drop(m, PSW_DROP_IP6_VERSION);
		return;
	}
	payload = rte_be_to_cpu_16(ip->payload_len);
	/* payload length 0 is a jumbogram, which no 1500..9600 MTU port carries */
	if (payload == 0 && ip->proto != IPPROTO_NONE) {
		psw_set_drop(m, PSW_DROP_IP6_LEN);
		return;
	}
	if (m->l2_len + sizeof(*ip) + payload > rte_pktmbuf_pkt_len(pkt)) {
		psw_set_drop(m, PSW_DROP_IP6_LEN);
		return;
	}
	end = m->l2_len + sizeof(*ip) + payload;
	off = m->l2_len + sizeof(*ip);
	next = ip->proto;
	for (i = 0; i < MAX_IP6_EXT; i++) {
		const uint8_t *ext = data + off;
		unsigned ext_len;

		if (next != IPPROTO_HOPOPTS && next != IPPROTO_ROUTING &&
		    next != IPPROTO_FRAGMENT && next != IPPROTO_DSTOPTS)
			break;
		if (off + 8 > len || off + 8 > end) {
			psw_set_drop(m, PSW_DROP_IP6_EXT);
			return;
		}
		m->flags |= PSW_F_IP_OPTS;
		if (next == IPPROTO_FRAGMENT) {
			uint16_t fo = (uint16_t)(ext[2] << 8 | ext[3]);

			m->flags |= PSW_F_FRAG;
			if (fo & 0xfff8)
				m->flags |= PSW_F_FRAG_LATER;
			ext_len = 8;
		} else {
			ext_len = (ext[1] + 1u) * 8u;
		}
		next = ext[0];
		off += ext_len;
		if (m->flags & PSW_F_FRAG_LATER)
			break;               /* after a later fragment's header comes data, not headers */
	}
	if (i == MAX_IP6_EXT || off > end) {
		psw_set_drop(m, PSW_DROP_IP6_EXT);
		return;
	}
	m->l3 = PSW_L3_IPV6;
	m->l3_len = (uint16_t)(off - m->l2_len);
	m->l4_off = (uint16_t)off;
	m->l3_payload = (uint16_t)(sizeof(*ip) + payload);
	m->l4_proto = next;
	memcpy(m->src6, ip->src_addr, 16);
	memcpy(m->dst6, ip->dst_addr, 16);
	parse_l4(data, len, m);
}

void
psw_parse_one(struct rte_mbuf *pkt, struct psw_meta *m)
{
	const uint8_t *data = rte_pktmbuf_mtod(pkt, const uint8_t *);
	unsigned len = rte_pktmbuf_data_len(pkt);
	const struct rte_ether_hdr *eth = (const struct rte_ether_hdr *)data;
	uint16_t in_port = m->in_port;
	uint16_t type;
	unsigned off;

	memset(m, 0, offsetof(struct psw_meta, src4));
	m->ct = 0;
	m->cslot = 0;
	m->in_port = in_port;
	if (len < sizeof(*eth)) {
		psw_set_drop(m, PSW_DROP_RUNT);
		return;
	}
	if (eth->dst_addr.addr_bytes[0] & 1)
		m->flags |= PSW_F_L2_MCAST;
	type = eth->ether_type;
	off = sizeof(*eth);
	while (type == RTE_BE16(RTE_ETHER_TYPE_VLAN) || type == RTE_BE16(RTE_ETHER_TYPE_QINQ)) {
		const struct rte_vlan_hdr *vh = (const struct rte_vlan_hdr *)(data + off);

		if (m->nb_vlans == MAX_VLANS) {
			psw_set_drop(m, PSW_DROP_VLAN_STACK);
			return;
		}
		if (off + sizeof(*vh) > len) {
			psw_set_drop(m, PSW_DROP_RUNT);
			return;
		}
		if (m->nb_vlans == 0)
			m->vlan_tci = rte_be_to_cpu_16(vh->vlan_tci);
		m->nb_vlans++;
		m->flags |= PSW_F_VLAN;
		type = vh->eth_proto;
		off += sizeof(*vh);
	}
	m->l2_len = (uint8_t)off;

	switch (type) {
	case RTE_BE16(RTE_ETHER_TYPE_IPV4):
		parse_ip4(pkt, data, len, m);
		break;
	case RTE_BE16(RTE_ETHER_TYPE_IPV6):
		parse_ip6(pkt, data, len, m);
		break;
	case RTE_BE16(RTE_ETHER_TYPE_ARP):
		m->l3 = PSW_L3_ARP;
		break;
	default:
		psw_set_drop(m, PSW_DROP_ETHERTYPE);
		break;
	}
	/* a kernel pod's partial checksum or large frame (psw_gso.h: every
	 * request has its partial checksum, and one byte of ol_flags says so) */
	if (unlikely(psw_gso_requested(pkt)) && m->verdict == PSW_V_CONTINUE)
		(void)psw_gso_check(pkt, m);
}

void
psw_parse_run(struct psw_stage_ctx *sc, const struct psw_tables *t, struct psw_burst *b)
{
	unsigned i;

	RTE_SET_USED(t);
	for (i = 0; i < PREFETCH_AHEAD && i < b->nb; i++)
		rte_prefetch0(rte_pktmbuf_mtod(b->pkts[i], void *));
	for (i = 0; i < b->nb; i++) {
		if (i + PREFETCH_AHEAD < b->nb)
			rte_prefetch0(rte_pktmbuf_mtod(b->pkts[i + PREFETCH_AHEAD], void *));
		psw_parse_one(b->pkts[i], &b->meta[i]);
		if (unlikely(b->meta[i].flags & PSW_F_FRAG))
			psw_count_event(sc, PSW_EV_FRAG_SEEN);
	}
}
