/*
 * The switch's own answers, built in place in the packet that asked: ARP
 * replies, neighbour advertisements and echo replies for the gateway and
 * node addresses (guard decides which requests get one), ICMP / ICMPv6
 * errors (forward's time-exceeded, the service stage's port unreachable)
 * and the TCP RST of a Service without endpoints. Every builder turns the
 * frame around (destination = its source, source = the gateway's MAC) and
 * sets the verdict to go back out the port it came in on.
 */
#include <netinet/in.h>
#include <string.h>

#include <rte_arp.h>
#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>

#include "psw_answer.h"
#include "psw_csum.h"
#include "psw_ct.h"
#include "psw_gso.h"

#define ICMP_TIME_EXCEEDED 11
#define ICMP_UNREACH 3
#define ICMP_UNREACH_NEEDFRAG 4
#define ICMP6_PACKET_TOO_BIG 2
#define ICMP6_TIME_EXCEEDED 3
#define IP6_MIN_MTU 1280
#define ICMP6_ECHO_REQUEST 128
#define ICMP6_ECHO_REPLY   129
#define ND_NEIGHBOR_ADVERT 136
#define ND_OPT_TARGET_LLADDR 2
#define ND_NA_FLAGS (0x80 | 0x40 | 0x20) /* router, solicited, override */
#define ND_NA_LEN 32                     /* NA with a target link-layer option */

/* Turn the frame around: destination = its source, source = the switch on port. */
void
psw_answer_eth(struct rte_ether_hdr *eth, const struct psw_tables *t, uint16_t port)
{
	rte_ether_addr_copy(&eth->src_addr, &eth->dst_addr);
	rte_ether_addr_copy(psw_port_mac(t, port), &eth->src_addr);
}

void
psw_answer_arp(const struct psw_tables *t, struct rte_mbuf *pkt, struct psw_meta *m)
{
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(pkt, struct rte_ether_hdr *);
	struct rte_arp_hdr *arp = rte_pktmbuf_mtod_offset(pkt, struct rte_arp_hdr *, m->l2_len);
	uint32_t sip = arp->arp_data.arp_sip, tip = arp->arp_data.arp_tip;

	arp->arp_opcode = RTE_BE16(RTE_ARP_OP_REPLY);
	rte_ether_addr_copy(&arp->arp_data.arp_sha, &arp->arp_data.arp_tha);
	rte_ether_addr_copy(psw_port_mac(t, m->in_port), &arp->arp_data.arp_sha);
	arp->arp_data.arp_tip = sip;
	arp->arp_data.arp_sip = tip;
	psw_answer_eth(eth, t, m->in_port);
	psw_set_tx(m, m->in_port);
}

int
psw_answer_nd(const struct psw_tables *t, struct rte_mbuf *pkt, struct psw_meta *m, const uint8_t *target)
{
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(pkt, struct rte_ether_hdr *);
	struct rte_ipv6_hdr *ip = rte_pktmbuf_mtod_offset(pkt, struct rte_ipv6_hdr *, m->l2_len);
	uint8_t *icmp = rte_pktmbuf_mtod_offset(pkt, uint8_t *, m->l4_off);
	unsigned need = m->l4_off + ND_NA_LEN;
	uint8_t tgt[16];

	memcpy(tgt, target, 16);                 /* target may point into the frame */
	/* The NA is 32 bytes of ICMPv6: grow or shrink the frame to fit. */
	if (need > rte_pktmbuf_data_len(pkt)) {
		if (rte_pktmbuf_append(pkt, (uint16_t)(need - rte_pktmbuf_data_len(pkt))) == NULL) {
			return -1;
		}
	} else {
		rte_pktmbuf_trim(pkt, (uint16_t)(rte_pktmbuf_data_len(pkt) - need));
	}
	psw_answer_eth(eth, t, m->in_port);
	memcpy(ip->dst_addr, m->src6, 16);
	memcpy(ip->src_addr, tgt, 16);
	ip->payload_len = RTE_BE16(ND_NA_LEN);
	ip->hop_limits = 255;
	memset(icmp, 0, ND_NA_LEN);
	icmp[0] = ND_NEIGHBOR_ADVERT;
	icmp[4] = ND_NA_FLAGS;
	memcpy(icmp + 8, tgt, 16);
	icmp[24] = ND_OPT_TARGET_LLADDR;
	icmp[25] = 1;                       /* option length in units of 8 bytes */
	memcpy(icmp + 26, psw_port_mac(t, m->in_port), RTE_ETHER_ADDR_LEN);
	*(uint16_t *)(icmp + 2) = rte_ipv6_udptcp_cksum(ip, icmp);
	psw_set_tx(m, m->in_port);
	return 0;
}

void
psw_answer_echo4(const struct psw_tables *t, struct rte_mbuf *pkt, struct psw_meta *m)
{
	struct rte_ipv4_hdr *ip = rte_pktmbuf_mtod_offset(pkt, struct rte_ipv4_hdr *, m->l2_len);
	struct rte_icmp_hdr *icmp;

	icmp = rte_pktmbuf_mtod_offset(pkt, struct rte_icmp_hdr *, m->l4_off);
	icmp->icmp_type = RTE_IP_ICMP_ECHO_REPLY;
	icmp->icmp_cksum = psw_csum_update16(icmp->icmp_cksum,
					     RTE_BE16(RTE_IP_ICMP_ECHO_REQUEST << 8),
					     RTE_BE16(RTE_IP_ICMP_ECHO_REPLY << 8));
	/* answered from the address that was pinged: the gateway or a node address */
	ip->src_addr = ip->dst_addr;
	ip->dst_addr = m->src4;
	ip->time_to_live = 64;
	ip->hdr_checksum = 0;
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	psw_answer_eth(rte_pktmbuf_mtod(pkt, struct rte_ether_hdr *), t, m->in_port);
	psw_set_tx(m, m->in_port);
}

void
psw_answer_echo6(const struct psw_tables *t, struct rte_mbuf *pkt, struct psw_meta *m)
{
	struct rte_ipv6_hdr *ip = rte_pktmbuf_mtod_offset(pkt, struct rte_ipv6_hdr *, m->l2_len);
	uint16_t *csum;

	/* Swapping the addresses leaves the pseudo-header sum unchanged. */
	csum = rte_pktmbuf_mtod_offset(pkt, uint16_t *, m->l4_off + 2);
	*rte_pktmbuf_mtod_offset(pkt, uint8_t *, m->l4_off) = ICMP6_ECHO_REPLY;
	*csum = psw_csum_update16(*csum, RTE_BE16(ICMP6_ECHO_REQUEST << 8),
				  RTE_BE16(ICMP6_ECHO_REPLY << 8));
	{
		uint8_t pinged[16];

		memcpy(pinged, ip->dst_addr, 16);  /* the gateway or a node address */
		memcpy(ip->dst_addr, ip->src_addr, 16);
		memcpy(ip->src_addr, pinged, 16);
	}
	ip->hop_limits = 64;
	psw_answer_eth(rte_pktmbuf_mtod(pkt, struct rte_ether_hdr *), t, m->in_port);
	psw_set_tx(m, m->in_port);
}

/* ICMP types that are errors: never answer an error with an error. */
static inline bool
icmp4_is_error(uint8_t type)
{
	return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
}

static int icmp_error(const struct psw_tables *t, struct rte_mbuf *pkt, struct psw_meta *m,
		      uint8_t type4, uint8_t code4, uint8_t type6, uint8_t code6, uint32_t rest);

int
psw_icmp_time_exceeded(const struct psw_tables *t, struct rte_mbuf *pkt, struct psw_meta *m)
{
	return icmp_error(t, pkt, m, ICMP_TIME_EXCEEDED, 0, ICMP6_TIME_EXCEEDED, 0, 0);
}

int
psw_icmp_too_big(const struct psw_tables *t, struct rte_mbuf *pkt, struct psw_meta *m, uint16_t mtu)
{
	/* IPv4: the next-hop MTU in the low 16 bits of the word after the checksum;
	 * ICMPv6: the whole word */
	return icmp_error(t, pkt, m, ICMP_UNREACH, ICMP_UNREACH_NEEDFRAG, ICMP6_PACKET_TOO_BIG, 0, mtu);
}

int
psw_icmp_error(const struct psw_tables *t, struct rte_mbuf *pkt, struct psw_meta *m,
	       uint8_t type4, uint8_t code4, uint8_t type6, uint8_t code6)
{
	return icmp_error(t, pkt, m, type4, code4, type6, code6, 0);
}

static int
icmp_error(const struct psw_tables *t, struct rte_mbuf *pkt, struct psw_meta *m,
	   uint8_t type4, uint8_t code4, uint8_t type6, uint8_t code6, uint32_t rest)
{
	uint8_t *frame = rte_pktmbuf_mtod(pkt, uint8_t *);
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)frame;
	unsigned l3 = m->l2_len, quote, hdr, room;

	if (pkt->nb_segs != 1 || (m->flags & PSW_F_FRAG_LATER))
		return -1;
	pkt->ol_flags &= ~(uint64_t)PSW_OL_ANY;  /* the answer's checksums are whole (psw_gso.h) */
	room = rte_pktmbuf_data_len(pkt) + rte_pktmbuf_tailroom(pkt);
	if (m->l3 == PSW_L3_IPV4) {
		struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(frame + l3);
		struct rte_icmp_hdr *icmp;

		if (m->l4_proto == IPPROTO_ICMP && (m->flags & PSW_F_L4) &&
		    icmp4_is_error((uint8_t)(m->dport >> 8)))
			return -1;
		hdr = sizeof(*ip) + sizeof(*icmp);
		quote = RTE_MIN((unsigned)m->l3_len + 8u, (unsigned)m->l3_payload);
		if (l3 + hdr + quote > room)
			return -1;
		memmove(frame + l3 + hdr, frame + l3, quote);
		pkt->data_len = (uint16_t)(l3 + hdr + quote);
		pkt->pkt_len = pkt->data_len;
		memset(ip, 0, sizeof(*ip));
		ip->version_ihl = RTE_IPV4_VHL_DEF;
		ip->type_of_service = 0xc0;     /* internetwork control */
		ip->total_length = rte_cpu_to_be_16((uint16_t)(hdr + quote));
		ip->time_to_live = 64;
		ip->next_proto_id = IPPROTO_ICMP;
		/* from the node's address to what came from an uplink, else (a pod's,
		 * here or through VXLAN) from the gateway */
		ip->src_addr = t->ports[m->in_port].is_uplink && !(m->flags & PSW_F_TUNNEL) &&
			       t->node.nb_addrs > 0 ? t->node.addrs4[0] : t->node.gw4;
		ip->dst_addr = m->src4;
		ip->hdr_checksum = rte_ipv4_cksum(ip);
		icmp = (struct rte_icmp_hdr *)(ip + 1);
		memset(icmp, 0, sizeof(*icmp));
		icmp->icmp_type = type4;
		icmp->icmp_code = code4;
		icmp->icmp_seq_nb = rte_cpu_to_be_16((uint16_t)rest);
		icmp->icmp_cksum = (uint16_t)~rte_raw_cksum(icmp, sizeof(*icmp) + quote);
	} else {
		struct rte_ipv6_hdr *ip = (struct rte_ipv6_hdr *)(frame + l3);
		uint8_t *icmp;

		if (!t->node.has_ip6)
			return -1;
		if (m->l4_proto == IPPROTO_ICMPV6 && (m->flags & PSW_F_L4) && (m->dport >> 8) < 128)
			return -1;
		hdr = sizeof(*ip) + 8;
		quote = RTE_MIN((unsigned)m->l3_payload, IP6_MIN_MTU - hdr);
		if (l3 + hdr + quote > room)
			return -1;
		memmove(frame + l3 + hdr, frame + l3, quote);
		pkt->data_len = (uint16_t)(l3 + hdr + quote);
		pkt->pkt_len = pkt->data_len;
		ip->vtc_flow = RTE_BE32(6u << 28);
		ip->payload_len = rte_cpu_to_be_16((uint16_t)(8 + quote));
		ip->proto = IPPROTO_ICMPV6;
		ip->hop_limits = 64;
		memcpy(ip->dst_addr, m->src6, 16);
		memcpy(ip->src_addr, t->ports[m->in_port].is_uplink && t->node.nb_addrs6 > 0 ?
				     t->node.addrs6[0] : t->node.gw6, 16);
		icmp = (uint8_t *)(ip + 1);
		memset(icmp, 0, 8);
		icmp[0] = type6;
		icmp[1] = code6;
		rest = rte_cpu_to_be_32(rest);
		memcpy(icmp + 4, &rest, 4);      /* the frame's offsets are not aligned */
		*(uint16_t *)(icmp + 2) = rte_ipv6_udptcp_cksum(ip, icmp);
	}
	psw_answer_eth(eth, t, m->in_port);
	psw_set_tx(m, m->in_port);
	return 0;
}

int
psw_answer_tcp_rst(const struct psw_tables *t, struct rte_mbuf *pkt, struct psw_meta *m)
{
	uint8_t *frame = rte_pktmbuf_mtod(pkt, uint8_t *);
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)frame;
	struct rte_tcp_hdr *th = (struct rte_tcp_hdr *)(frame + m->l4_off);
	unsigned payload = psw_tcp_seg_len(m, th);
	uint32_t ack = rte_be_to_cpu_32(th->sent_seq) + payload +
		       !!(th->tcp_flags & RTE_TCP_SYN_FLAG) + !!(th->tcp_flags & RTE_TCP_FIN_FLAG);
	uint32_t seq = th->tcp_flags & RTE_TCP_ACK_FLAG ? th->recv_ack : 0;
	uint16_t port = th->src_port;

	if (pkt->nb_segs != 1 || (th->tcp_flags & RTE_TCP_RST_FLAG))
		return -1;
	th->src_port = th->dst_port;
	th->dst_port = port;
	th->sent_seq = seq;
	th->recv_ack = rte_cpu_to_be_32(ack);
	th->data_off = 5 << 4;
	th->tcp_flags = RTE_TCP_RST_FLAG | RTE_TCP_ACK_FLAG;
	th->rx_win = 0;
	th->tcp_urp = 0;
	th->cksum = 0;
	pkt->ol_flags &= ~(uint64_t)PSW_OL_ANY;  /* computed whole below (psw_gso.h) */
	if (m->l3 == PSW_L3_IPV4) {
		struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(frame + m->l2_len);
		uint32_t a = ip->src_addr;

		ip->src_addr = ip->dst_addr;
		ip->dst_addr = a;
		ip->time_to_live = 64;
		ip->total_length = rte_cpu_to_be_16((uint16_t)(m->l3_len + sizeof(*th)));
		ip->fragment_offset = 0;
		ip->hdr_checksum = 0;
		ip->hdr_checksum = rte_ipv4_cksum(ip);
		th->cksum = rte_ipv4_udptcp_cksum(ip, th);
	} else {
		struct rte_ipv6_hdr *ip = (struct rte_ipv6_hdr *)(frame + m->l2_len);
		uint8_t a[16];

		if (m->flags & PSW_F_IP_OPTS)
			return -1;
		memcpy(a, ip->src_addr, 16);
		memcpy(ip->src_addr, ip->dst_addr, 16);
		memcpy(ip->dst_addr, a, 16);
		ip->hop_limits = 64;
		ip->payload_len = rte_cpu_to_be_16(sizeof(*th));
		th->cksum = rte_ipv6_udptcp_cksum(ip, th);
	}
	pkt->data_len = (uint16_t)(m->l4_off + sizeof(*th));
	pkt->pkt_len = pkt->data_len;
	psw_answer_eth(eth, t, m->in_port);
	psw_set_tx(m, m->in_port);
	return 0;
}

