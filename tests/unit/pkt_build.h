/*
 * Test helpers: craft frames into mbufs (Ethernet, VLAN, ARP, IPv4, IPv6,
 * TCP, UDP, ICMP, ICMPv6 NS) with correct checksums, for the stage tests
 * and the benchmarks. Header-only so each test program stays one file.
 */
#ifndef PSW_TEST_PKT_BUILD_H
#define PSW_TEST_PKT_BUILD_H

#include <netinet/in.h>
#include <string.h>

#include <rte_arp.h>
#include <rte_ether.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>
#include <rte_udp.h>

struct tpkt {
	uint8_t dst_mac[6], src_mac[6];
	int nb_vlans;
	uint32_t src4, dst4;             /* host order */
	uint8_t src6[16], dst6[16];
	int ip6;
	uint8_t proto;                   /* IPPROTO_UDP, TCP, ICMP, ICMPV6 */
	uint8_t ttl;
	uint16_t sport, dport;
	uint8_t icmp_type;
	uint16_t payload;                /* bytes after the L4 header */
	uint8_t ihl_words;               /* IPv4 header words, 5 = no options */
};

static inline void
tpkt_defaults(struct tpkt *p)
{
	memset(p, 0, sizeof(*p));
	p->ttl = 64;
	p->proto = IPPROTO_UDP;
	p->sport = 1234;
	p->dport = 80;
	p->payload = 18;
	p->ihl_words = 5;
}

static inline unsigned
tpkt_l4_len(const struct tpkt *p)
{
	switch (p->proto) {
	case IPPROTO_TCP:
		return sizeof(struct rte_tcp_hdr);
	case IPPROTO_UDP:
		return sizeof(struct rte_udp_hdr);
	default:
		return 8;
	}
}

/* Build the frame described by p into a fresh mbuf from mp. */
static inline struct rte_mbuf *
tpkt_build(struct rte_mempool *mp, const struct tpkt *p)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(mp);
	unsigned l2 = 14 + 4 * p->nb_vlans, l3 = p->ip6 ? 40 : p->ihl_words * 4u;
	unsigned l4 = tpkt_l4_len(p), len = l2 + l3 + l4 + p->payload, i;
	uint8_t *d;
	struct rte_ether_hdr *eth;
	uint16_t *type;

	if (m == NULL)
		return NULL;
	d = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)len);
	memset(d, 0, len);
	eth = (struct rte_ether_hdr *)d;
	memcpy(&eth->dst_addr, p->dst_mac, 6);
	memcpy(&eth->src_addr, p->src_mac, 6);
	type = &eth->ether_type;
	for (i = 0; i < (unsigned)p->nb_vlans; i++) {
		*type = RTE_BE16(RTE_ETHER_TYPE_VLAN);
		d[14 + 4 * i + 1] = (uint8_t)(10 + i);            /* VID */
		type = (uint16_t *)(d + 14 + 4 * i + 2);
	}
	for (i = 0; i < p->payload; i++)
		d[l2 + l3 + l4 + i] = (uint8_t)i;
	if (!p->ip6) {
		struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(d + l2);

		*type = RTE_BE16(RTE_ETHER_TYPE_IPV4);
		ip->version_ihl = (uint8_t)(0x40 | p->ihl_words);
		ip->total_length = rte_cpu_to_be_16((uint16_t)(l3 + l4 + p->payload));
		ip->time_to_live = p->ttl;
		ip->next_proto_id = p->proto;
		ip->src_addr = rte_cpu_to_be_32(p->src4);
		ip->dst_addr = rte_cpu_to_be_32(p->dst4);
		ip->hdr_checksum = rte_ipv4_cksum(ip);
	} else {
		struct rte_ipv6_hdr *ip = (struct rte_ipv6_hdr *)(d + l2);

		*type = RTE_BE16(RTE_ETHER_TYPE_IPV6);
		ip->vtc_flow = RTE_BE32(6u << 28);
		ip->payload_len = rte_cpu_to_be_16((uint16_t)(l4 + p->payload));
		ip->proto = p->proto;
		ip->hop_limits = p->ttl;
		memcpy(ip->src_addr, p->src6, 16);
		memcpy(ip->dst_addr, p->dst6, 16);
	}
	{
		uint8_t *h = d + l2 + l3;
		void *ip = d + l2;

		switch (p->proto) {
		case IPPROTO_UDP: {
			struct rte_udp_hdr *u = (struct rte_udp_hdr *)h;

			u->src_port = rte_cpu_to_be_16(p->sport);
			u->dst_port = rte_cpu_to_be_16(p->dport);
			u->dgram_len = rte_cpu_to_be_16((uint16_t)(l4 + p->payload));
			u->dgram_cksum = p->ip6 ? rte_ipv6_udptcp_cksum(ip, h) : rte_ipv4_udptcp_cksum(ip, h);
			break;
		}
		case IPPROTO_TCP: {
			struct rte_tcp_hdr *t = (struct rte_tcp_hdr *)h;

			t->src_port = rte_cpu_to_be_16(p->sport);
			t->dst_port = rte_cpu_to_be_16(p->dport);
			t->data_off = 5 << 4;
			t->tcp_flags = RTE_TCP_SYN_FLAG;
			t->cksum = p->ip6 ? rte_ipv6_udptcp_cksum(ip, h) : rte_ipv4_udptcp_cksum(ip, h);
			break;
		}
		case IPPROTO_ICMP:
			h[0] = p->icmp_type;
			h[4] = (uint8_t)(p->sport >> 8);
			h[5] = (uint8_t)p->sport;
			*(uint16_t *)(h + 2) = (uint16_t)~rte_raw_cksum(h, l4 + p->payload);
			break;
		case IPPROTO_ICMPV6:
			h[0] = p->icmp_type;
			h[4] = (uint8_t)(p->sport >> 8);
			h[5] = (uint8_t)p->sport;
			*(uint16_t *)(h + 2) = rte_ipv6_udptcp_cksum(ip, h);
			break;
		default:
			break;
		}
	}
	return m;
}

/* 0 when the ICMPv6/UDP/TCP checksum over ip's payload verifies. */
static inline int
tpkt_ip6_cksum_verify(const struct rte_ipv6_hdr *ip, const void *l4)
{
	/* summing a correct checksum field in yields all ones */
	return __rte_ipv6_udptcp_cksum(ip, l4) == 0xffff ? 0 : -1;
}

/* 0 when the UDP/TCP checksum over an IPv4 packet's payload verifies. */
static inline int
tpkt_ip4_cksum_verify(const struct rte_ipv4_hdr *ip, const void *l4)
{
	return __rte_ipv4_udptcp_cksum(ip, l4) == 0xffff ? 0 : -1;
}

/* ARP request from (sha, sip) for tip, broadcast. */
static inline struct rte_mbuf *
tpkt_arp(struct rte_mempool *mp, const uint8_t *sha, uint32_t sip, uint32_t tip, uint16_t op)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(mp);
	struct rte_ether_hdr *eth;
	struct rte_arp_hdr *arp;

	if (m == NULL)
		return NULL;
	eth = (struct rte_ether_hdr *)rte_pktmbuf_append(m, sizeof(*eth) + sizeof(*arp));
	memset(&eth->dst_addr, 0xff, 6);
	memcpy(&eth->src_addr, sha, 6);
	eth->ether_type = RTE_BE16(RTE_ETHER_TYPE_ARP);
	arp = (struct rte_arp_hdr *)(eth + 1);
	arp->arp_hardware = RTE_BE16(RTE_ARP_HRD_ETHER);
	arp->arp_protocol = RTE_BE16(RTE_ETHER_TYPE_IPV4);
	arp->arp_hlen = 6;
	arp->arp_plen = 4;
	arp->arp_opcode = rte_cpu_to_be_16(op);
	memcpy(&arp->arp_data.arp_sha, sha, 6);
	arp->arp_data.arp_sip = rte_cpu_to_be_32(sip);
	memset(&arp->arp_data.arp_tha, 0, 6);
	arp->arp_data.arp_tip = rte_cpu_to_be_32(tip);
	return m;
}

/* Neighbour solicitation from (mac, src6) for target, to its solicited-node group. */
static inline struct rte_mbuf *
tpkt_ns(struct rte_mempool *mp, const uint8_t *mac, const uint8_t *src6, const uint8_t *target)
{
	struct tpkt p;
	struct rte_mbuf *m;
	struct rte_ipv6_hdr *ip;
	uint8_t *icmp;

	tpkt_defaults(&p);
	p.ip6 = 1;
	p.proto = IPPROTO_ICMPV6;
	p.icmp_type = 135;
	p.ttl = 255;
	p.payload = 24 - 8 + 8;         /* target (16) ... + SLLA option (8) */
	memcpy(p.src_mac, mac, 6);
	p.dst_mac[0] = 0x33; p.dst_mac[1] = 0x33; p.dst_mac[2] = 0xff;
	p.dst_mac[3] = target[13]; p.dst_mac[4] = target[14]; p.dst_mac[5] = target[15];
	memcpy(p.src6, src6, 16);
	p.dst6[0] = 0xff; p.dst6[1] = 0x02; p.dst6[11] = 1; p.dst6[12] = 0xff;
	p.dst6[13] = target[13]; p.dst6[14] = target[14]; p.dst6[15] = target[15];
	m = tpkt_build(mp, &p);
	if (m == NULL)
		return NULL;
	ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv6_hdr *, 14);
	icmp = (uint8_t *)(ip + 1);
	memset(icmp + 4, 0, 4);
	memcpy(icmp + 8, target, 16);
	icmp[24] = 1;                   /* source link-layer address option */
	icmp[25] = 1;
	memcpy(icmp + 26, mac, 6);
	*(uint16_t *)(icmp + 2) = 0;
	*(uint16_t *)(icmp + 2) = rte_ipv6_udptcp_cksum(ip, icmp);
	return m;
}

#endif /* PSW_TEST_PKT_BUILD_H */
