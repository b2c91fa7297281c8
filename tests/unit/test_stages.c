/*
 * Stage tests: parse, guard and forward called directly on crafted mbufs
 * (EAL with --no-huge --no-pci), checking verdicts, rewrites, checksums and
 * counters. Bad input first, then function.
 */
#define PSW_UT_EAL
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_malloc.h>

#include "pkt_build.h"
#include "psw_csum.h"
#include "psw_forward.h"
#include "psw_forward_ctl.h"
#include "psw_guard.h"
#include "psw_parse.h"
#include "psw_ut.h"
#include "psw_worker.h"

#define GW4   0x0af40001u        /* 10.244.0.1 */
#define POD_A 0x0af4000au        /* 10.244.0.10 on port 0 */
#define POD_B 0x0af4000bu        /* 10.244.0.11 on port 1 */
#define UPLINK_PORT 2
#define GONE_PORT 3

static struct rte_mempool *mp;
static struct psw_tables *tables;
static struct psw_lcore lc;
static const uint8_t gw_mac[6] = { 0x02, 0x50, 0x53, 0x57, 0x00, 0x01 };
static const uint8_t mac_a[6] = { 0x02, 0, 0, 0, 0, 0x0a };
static const uint8_t mac_b[6] = { 0x02, 0, 0, 0, 0, 0x0b };
static const uint8_t mac_r[6] = { 0x02, 0, 0, 0, 0, 0xfe };
static const uint8_t mac_r2[6] = { 0x02, 0, 0, 0, 0, 0xfd };
static uint8_t gw6[16] = { 0xfd, 0, 0, 0x10, 0x02, 0x44, [15] = 1 };
static uint8_t ip6_a[16] = { 0xfd, 0, 0, 0x10, 0x02, 0x44, [15] = 0x10 };
static uint8_t ip6_b[16] = { 0xfd, 0, 0, 0x10, 0x02, 0x44, [15] = 0x11 };
static uint8_t ip6_far[16] = { 0xfd, [7] = 0x99, [15] = 0x5 };

static struct psw_tables *
make_tables(void)
{
	struct psw_tables *t = psw_tables_alloc();
	struct psw_pod pods[3] = { 0 };
	struct psw_route_spec routes[4];

	t->version = 1;
	t->node.gw4 = rte_cpu_to_be_32(GW4);
	memcpy(t->node.gw6, gw6, 16);
	t->node.has_ip6 = 1;
	memcpy(&t->node.gw_mac, gw_mac, 6);
	t->node.pod_net4 = rte_cpu_to_be_32(0x0af40000);
	t->node.pod_mask4 = rte_cpu_to_be_32(0xffffff00);
	for (unsigned i = 0; i < UPLINK_PORT + 1; i++)
		t->ports[i].present = 1;
	t->ports[0] = (struct psw_port_info){ .present = 1, .is_pod = 1, .pod = 0 };
	t->ports[1] = (struct psw_port_info){ .present = 1, .is_pod = 1, .pod = 1 };
	memcpy(&pods[0].nh.mac, mac_a, 6);
	pods[0].nh.port = 0;
	pods[0].has_ip4 = pods[0].has_ip6 = 1;
	pods[0].ip4 = rte_cpu_to_be_32(POD_A);
	memcpy(pods[0].ip6, ip6_a, 16);
	memcpy(&pods[1].nh.mac, mac_b, 6);
	pods[1].nh.port = 1;
	pods[1].has_ip4 = pods[1].has_ip6 = 1;
	pods[1].ip4 = rte_cpu_to_be_32(POD_B);
	memcpy(pods[1].ip6, ip6_b, 16);
	/* a pod whose port has gone */
	memcpy(&pods[2].nh.mac, mac_b, 6);
	pods[2].nh.port = GONE_PORT;
	pods[2].has_ip4 = 1;
	pods[2].ip4 = rte_cpu_to_be_32(0x0af40063);
	t->pods = psw_pod_table_build(pods, 3, SOCKET_ID_ANY);
	memset(routes, 0, sizeof(routes));
	psw_parse_prefix("10.245.0.0/16", &routes[0].prefix);
	memcpy(&routes[0].nh.mac, mac_r, 6);
	routes[0].nh.port = UPLINK_PORT;
	psw_parse_prefix("10.245.7.0/24", &routes[1].prefix);
	memcpy(&routes[1].nh.mac, mac_r2, 6);
	routes[1].nh.port = UPLINK_PORT;
	psw_parse_prefix("fd00:0:0:99::/64", &routes[2].prefix);
	memcpy(&routes[2].nh.mac, mac_r, 6);
	routes[2].nh.port = UPLINK_PORT;
	psw_parse_prefix("0.0.0.0/0", &routes[3].prefix);
	memcpy(&routes[3].nh.mac, mac_r, 6);
	routes[3].nh.port = GONE_PORT;
	t->routes = psw_route_table_build(routes, 4, SOCKET_ID_ANY);
	return t;
}

/* Run parse+guard+forward on one frame; return its meta. */
static struct psw_meta
run1(struct rte_mbuf *m, uint16_t in_port)
{
	struct psw_burst b = { .nb = 1 };

	b.pkts[0] = m;
	b.meta[0].in_port = in_port;
	psw_worker_process(&lc, tables, &b);
	return b.meta[0];
}

static struct tpkt
from_a(void)
{
	struct tpkt p;

	tpkt_defaults(&p);
	memcpy(p.src_mac, mac_a, 6);
	memcpy(p.dst_mac, gw_mac, 6);
	p.src4 = POD_A;
	p.dst4 = POD_B;
	return p;
}

static struct tpkt
from_a6(void)
{
	struct tpkt p = from_a();

	p.ip6 = 1;
	memcpy(p.src6, ip6_a, 16);
	memcpy(p.dst6, ip6_b, 16);
	return p;
}

static struct psw_meta
parse_only(struct rte_mbuf *m)
{
	struct psw_meta meta = { .in_port = 0 };

	psw_parse_one(m, &meta);
	return meta;
}

#define EXPECT_DROP(meta, reason)                                           \
	do {                                                                    \
		CU_ASSERT_EQUAL((meta).verdict, PSW_V_DROP);                        \
		CU_ASSERT_STRING_EQUAL(psw_drop_name((meta).drop_reason), psw_drop_name(reason)); \
	} while (0)

/* ---------------------------------------------------------------- parse */

static void
test_parse_runt(void)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(mp);
	struct psw_meta meta;

	memset(rte_pktmbuf_append(m, 10), 0, 10);
	meta = parse_only(m);
	EXPECT_DROP(meta, PSW_DROP_RUNT);
	rte_pktmbuf_free(m);

	/* Ethernet + 10 bytes of an IPv4 header */
	struct tpkt p = from_a();
	m = tpkt_build(mp, &p);
	rte_pktmbuf_trim(m, (uint16_t)(rte_pktmbuf_data_len(m) - 24));
	meta = parse_only(m);
	EXPECT_DROP(meta, PSW_DROP_RUNT);
	rte_pktmbuf_free(m);
}

static void
test_parse_bad_ethertype_and_vlans(void)
{
	struct tpkt p = from_a();
	struct rte_mbuf *m = tpkt_build(mp, &p);
	struct psw_meta meta;

	rte_pktmbuf_mtod(m, struct rte_ether_hdr *)->ether_type = RTE_BE16(0x88b5);
	meta = parse_only(m);
	EXPECT_DROP(meta, PSW_DROP_ETHERTYPE);
	rte_pktmbuf_free(m);

	p.nb_vlans = 3;
	m = tpkt_build(mp, &p);
	meta = parse_only(m);
	EXPECT_DROP(meta, PSW_DROP_VLAN_STACK);
	rte_pktmbuf_free(m);

	p.nb_vlans = 2;
	m = tpkt_build(mp, &p);
	meta = parse_only(m);
	CU_ASSERT_EQUAL(meta.verdict, PSW_V_CONTINUE);
	CU_ASSERT_EQUAL(meta.l2_len, 22);
	CU_ASSERT_EQUAL(meta.nb_vlans, 2);
	CU_ASSERT_EQUAL(meta.vlan_tci, 10);
	CU_ASSERT_EQUAL(meta.dport, rte_cpu_to_be_16(80));
	rte_pktmbuf_free(m);
}

static void
test_parse_bad_ip4(void)
{
	struct tpkt p = from_a();
	struct rte_mbuf *m;
	struct rte_ipv4_hdr *ip;
	struct psw_meta meta;

	m = tpkt_build(mp, &p);
	ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, 14);
	ip->version_ihl = 0x65;
	EXPECT_DROP(parse_only(m), PSW_DROP_IP4_VERSION);
	ip->version_ihl = 0x44;
	EXPECT_DROP(parse_only(m), PSW_DROP_IP4_IHL);
	ip->version_ihl = 0x45;
	ip->total_length = rte_cpu_to_be_16(1000);
	EXPECT_DROP(parse_only(m), PSW_DROP_IP4_LEN);
	ip->total_length = rte_cpu_to_be_16(10);
	EXPECT_DROP(parse_only(m), PSW_DROP_IP4_LEN);
	ip->total_length = rte_cpu_to_be_16(20 + 8 + 18);
	ip->hdr_checksum ^= 0x1111;
	EXPECT_DROP(parse_only(m), PSW_DROP_IP4_CSUM);
	rte_pktmbuf_free(m);

	/* TCP header cut short by the IP total length */
	p.proto = IPPROTO_TCP;
	p.payload = 0;
	m = tpkt_build(mp, &p);
	ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, 14);
	ip->total_length = rte_cpu_to_be_16(20 + 10);
	ip->hdr_checksum = 0;
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	meta = parse_only(m);
	EXPECT_DROP(meta, PSW_DROP_L4_TRUNC);
	rte_pktmbuf_free(m);
}

static void
test_parse_options_and_fragments(void)
{
	struct tpkt p = from_a();
	struct rte_mbuf *m;
	struct rte_ipv4_hdr *ip;
	struct psw_meta meta;

	p.ihl_words = 6;
	m = tpkt_build(mp, &p);
	meta = parse_only(m);
	CU_ASSERT_EQUAL(meta.verdict, PSW_V_CONTINUE);
	CU_ASSERT(meta.flags & PSW_F_IP_OPTS);
	CU_ASSERT_EQUAL(meta.l3_len, 24);
	CU_ASSERT_EQUAL(meta.l4_off, 14 + 24);
	CU_ASSERT_EQUAL(meta.sport, rte_cpu_to_be_16(1234));
	rte_pktmbuf_free(m);

	p.ihl_words = 5;
	m = tpkt_build(mp, &p);
	ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, 14);
	ip->fragment_offset = RTE_BE16(RTE_IPV4_HDR_MF_FLAG);
	ip->hdr_checksum = 0;
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	meta = parse_only(m);
	CU_ASSERT(meta.flags & PSW_F_FRAG);
	CU_ASSERT(!(meta.flags & PSW_F_FRAG_LATER));
	CU_ASSERT(meta.flags & PSW_F_L4);
	ip->fragment_offset = RTE_BE16(100);
	ip->hdr_checksum = 0;
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	meta = parse_only(m);
	CU_ASSERT_EQUAL(meta.verdict, PSW_V_CONTINUE);
	CU_ASSERT(meta.flags & PSW_F_FRAG_LATER);
	CU_ASSERT(!(meta.flags & PSW_F_L4));
	rte_pktmbuf_free(m);
}

static void
test_parse_ip6(void)
{
	struct tpkt p = from_a6();
	struct rte_mbuf *m;
	struct rte_ipv6_hdr *ip;
	struct psw_meta meta;
	uint8_t *ext;

	m = tpkt_build(mp, &p);
	ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv6_hdr *, 14);
	ip->payload_len = rte_cpu_to_be_16(500);
	EXPECT_DROP(parse_only(m), PSW_DROP_IP6_LEN);
	ip->vtc_flow = RTE_BE32(4u << 28);
	EXPECT_DROP(parse_only(m), PSW_DROP_IP6_VERSION);
	rte_pktmbuf_free(m);

	/* hop-by-hop header (8 bytes) in front of the UDP header */
	p.payload = 26;
	m = tpkt_build(mp, &p);
	ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv6_hdr *, 14);
	ext = (uint8_t *)(ip + 1);
	memmove(ext + 8, ext, 8 + 18);
	memset(ext, 0, 8);
	ext[0] = IPPROTO_UDP;
	ip->proto = IPPROTO_HOPOPTS;
	meta = parse_only(m);
	CU_ASSERT_EQUAL(meta.verdict, PSW_V_CONTINUE);
	CU_ASSERT_EQUAL(meta.l4_proto, IPPROTO_UDP);
	CU_ASSERT_EQUAL(meta.l3_len, 48);
	CU_ASSERT(meta.flags & PSW_F_IP_OPTS);
	CU_ASSERT_EQUAL(meta.sport, rte_cpu_to_be_16(1234));
	/* an extension header longer than the packet */
	ext[1] = 200;
	EXPECT_DROP(parse_only(m), PSW_DROP_IP6_EXT);
	/* a fragment header with a non-zero offset: no L4 */
	ext[1] = 0;
	ip->proto = IPPROTO_FRAGMENT;
	ext[2] = 0x01;
	meta = parse_only(m);
	CU_ASSERT(meta.flags & PSW_F_FRAG_LATER);
	CU_ASSERT(!(meta.flags & PSW_F_L4));
	/* a later fragment of a packet whose fragmentable part starts with
	 * destination options: what follows the fragment header is data, not a
	 * header chain to walk (its bytes here would be a header 200 x 8 long) */
	ext[0] = IPPROTO_DSTOPTS;
	ext[9] = 200;
	meta = parse_only(m);
	CU_ASSERT_EQUAL(meta.verdict, PSW_V_CONTINUE);
	CU_ASSERT(meta.flags & PSW_F_FRAG_LATER);
	CU_ASSERT_EQUAL(meta.l4_proto, IPPROTO_DSTOPTS);
	CU_ASSERT_EQUAL(meta.l3_len, 48);
	rte_pktmbuf_free(m);
}

static void
test_parse_fields(void)
{
	struct tpkt p = from_a();
	struct rte_mbuf *m;
	struct psw_meta meta;

	p.proto = IPPROTO_TCP;
	p.sport = 40000;
	p.dport = 443;
	m = tpkt_build(mp, &p);
	meta = parse_only(m);
	CU_ASSERT_EQUAL(meta.verdict, PSW_V_CONTINUE);
	CU_ASSERT_EQUAL(meta.l3, PSW_L3_IPV4);
	CU_ASSERT_EQUAL(meta.l4_proto, IPPROTO_TCP);
	CU_ASSERT_EQUAL(meta.l2_len, 14);
	CU_ASSERT_EQUAL(meta.l4_off, 34);
	CU_ASSERT_EQUAL(meta.src4, rte_cpu_to_be_32(POD_A));
	CU_ASSERT_EQUAL(meta.dst4, rte_cpu_to_be_32(POD_B));
	CU_ASSERT_EQUAL(meta.sport, rte_cpu_to_be_16(40000));
	CU_ASSERT_EQUAL(meta.dport, rte_cpu_to_be_16(443));
	rte_pktmbuf_free(m);

	p.proto = IPPROTO_SCTP;
	p.payload = 12;
	m = tpkt_build(mp, &p);
	/* SCTP common header starts with the same two ports */
	*rte_pktmbuf_mtod_offset(m, uint16_t *, 34) = rte_cpu_to_be_16(5000);
	*rte_pktmbuf_mtod_offset(m, uint16_t *, 36) = rte_cpu_to_be_16(6000);
	meta = parse_only(m);
	CU_ASSERT(meta.flags & PSW_F_L4);
	CU_ASSERT_EQUAL(meta.dport, rte_cpu_to_be_16(6000));
	rte_pktmbuf_free(m);
}

/* ---------------------------------------------------------------- guard */

static void
test_guard_spoofing(void)
{
	struct tpkt p = from_a();
	struct psw_meta meta;
	struct rte_mbuf *m;
	uint64_t before = lc.sc.events[PSW_EV_FORWARDED4];

	p.src_mac[5] = 0x77;
	m = tpkt_build(mp, &p);
	meta = run1(m, 0);
	EXPECT_DROP(meta, PSW_DROP_SPOOF_MAC);
	rte_pktmbuf_free(m);

	p = from_a();
	p.src4 = POD_B;
	m = tpkt_build(mp, &p);
	EXPECT_DROP(run1(m, 0), PSW_DROP_SPOOF_IP);
	rte_pktmbuf_free(m);

	p = from_a6();
	memcpy(p.src6, ip6_b, 16);
	m = tpkt_build(mp, &p);
	EXPECT_DROP(run1(m, 0), PSW_DROP_SPOOF_IP);
	rte_pktmbuf_free(m);

	/* ARP claiming another pod's address */
	m = tpkt_arp(mp, mac_a, POD_B, GW4, RTE_ARP_OP_REQUEST);
	EXPECT_DROP(run1(m, 0), PSW_DROP_SPOOF_IP);
	rte_pktmbuf_free(m);
	CU_ASSERT_EQUAL(lc.sc.events[PSW_EV_FORWARDED4], before);

	/* the same frame from the uplink is not a pod's: no anti-spoofing */
	p = from_a();
	p.src4 = 0x0b000001;
	p.src_mac[5] = 0x77;
	m = tpkt_build(mp, &p);
	meta = run1(m, UPLINK_PORT);
	CU_ASSERT_EQUAL(meta.verdict, PSW_V_TX);
	CU_ASSERT_EQUAL(meta.out_port, 1);
	rte_pktmbuf_free(m);
}

static void
test_guard_l2(void)
{
	struct tpkt p = from_a();
	struct rte_mbuf *m;

	p.dst_mac[5] = 0x99;
	m = tpkt_build(mp, &p);
	EXPECT_DROP(run1(m, 0), PSW_DROP_L2_DST);
	rte_pktmbuf_free(m);

	p = from_a();
	p.dst4 = 0x0af400ff;            /* the pod subnet's broadcast */
	m = tpkt_build(mp, &p);
	EXPECT_DROP(run1(m, 0), PSW_DROP_MULTICAST);
	rte_pktmbuf_free(m);

	p = from_a();
	p.dst4 = GW4;                   /* UDP to the gateway: nobody listens */
	m = tpkt_build(mp, &p);
	EXPECT_DROP(run1(m, 0), PSW_DROP_TO_GATEWAY);
	rte_pktmbuf_free(m);
}

static void
test_guard_arp(void)
{
	struct rte_mbuf *m;
	struct rte_arp_hdr *arp;
	struct rte_ether_hdr *eth;
	struct psw_meta meta;
	uint64_t replies = lc.sc.events[PSW_EV_ARP_REPLY];

	/* truncated ARP */
	m = tpkt_arp(mp, mac_a, POD_A, GW4, RTE_ARP_OP_REQUEST);
	rte_pktmbuf_trim(m, 10);
	EXPECT_DROP(run1(m, 0), PSW_DROP_ARP_BAD);
	rte_pktmbuf_free(m);
	/* probe for the pod's own address (sender 0.0.0.0): no answer */
	m = tpkt_arp(mp, mac_a, 0, POD_A, RTE_ARP_OP_REQUEST);
	EXPECT_DROP(run1(m, 0), PSW_DROP_ARP_IGNORED);
	rte_pktmbuf_free(m);
	/* gratuitous ARP */
	m = tpkt_arp(mp, mac_a, POD_A, POD_A, RTE_ARP_OP_REQUEST);
	EXPECT_DROP(run1(m, 0), PSW_DROP_ARP_IGNORED);
	rte_pktmbuf_free(m);
	/* a reply is never answered */
	m = tpkt_arp(mp, mac_a, POD_A, GW4, RTE_ARP_OP_REPLY);
	EXPECT_DROP(run1(m, 0), PSW_DROP_ARP_IGNORED);
	rte_pktmbuf_free(m);
	CU_ASSERT_EQUAL(lc.sc.events[PSW_EV_ARP_REPLY], replies);

	/* request for the gateway, then for another pod (proxy ARP) */
	for (int i = 0; i < 2; i++) {
		uint32_t tip = i == 0 ? GW4 : POD_B;

		m = tpkt_arp(mp, mac_a, POD_A, tip, RTE_ARP_OP_REQUEST);
		meta = run1(m, 0);
		CU_ASSERT_EQUAL(meta.verdict, PSW_V_TX);
		CU_ASSERT_EQUAL(meta.out_port, 0);
		eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
		arp = (struct rte_arp_hdr *)(eth + 1);
		CU_ASSERT_EQUAL(arp->arp_opcode, RTE_BE16(RTE_ARP_OP_REPLY));
		CU_ASSERT(memcmp(&arp->arp_data.arp_sha, gw_mac, 6) == 0);
		CU_ASSERT(memcmp(&arp->arp_data.arp_tha, mac_a, 6) == 0);
		CU_ASSERT_EQUAL(arp->arp_data.arp_sip, rte_cpu_to_be_32(tip));
		CU_ASSERT_EQUAL(arp->arp_data.arp_tip, rte_cpu_to_be_32(POD_A));
		CU_ASSERT(memcmp(&eth->dst_addr, mac_a, 6) == 0);
		CU_ASSERT(memcmp(&eth->src_addr, gw_mac, 6) == 0);
		rte_pktmbuf_free(m);
	}
	/* on the uplink only the gateway's own address is answered */
	m = tpkt_arp(mp, mac_r, 0x0a000001, POD_B, RTE_ARP_OP_REQUEST);
	EXPECT_DROP(run1(m, UPLINK_PORT), PSW_DROP_ARP_IGNORED);
	rte_pktmbuf_free(m);
	CU_ASSERT_EQUAL(lc.sc.events[PSW_EV_ARP_REPLY], replies + 2);
}

static void
test_guard_nd(void)
{
	static const uint8_t ll_a[16] = { 0xfe, 0x80, [15] = 0x0a };
	static const uint8_t unspec[16];
	struct rte_mbuf *m;
	struct rte_ipv6_hdr *ip;
	uint8_t *icmp;
	struct psw_meta meta;

	/* duplicate address detection (source ::) is not answered ... */
	m = tpkt_ns(mp, mac_a, unspec, ip6_a);
	ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv6_hdr *, 14);
	icmp = (uint8_t *)(ip + 1);
	ip->payload_len = RTE_BE16(24);         /* without the source link-layer option */
	rte_pktmbuf_trim(m, 8);
	*(uint16_t *)(icmp + 2) = 0;
	*(uint16_t *)(icmp + 2) = rte_ipv6_udptcp_cksum(ip, icmp);
	EXPECT_DROP(run1(m, 0), PSW_DROP_ND_IGNORED);
	rte_pktmbuf_free(m);
	/* ... and one with that option, which it may not have, is invalid (RFC 4861 7.1.1) */
	m = tpkt_ns(mp, mac_a, unspec, ip6_a);
	EXPECT_DROP(run1(m, 0), PSW_DROP_ND_BAD);
	rte_pktmbuf_free(m);
	/* nor is a solicitation for the pod's own address */
	m = tpkt_ns(mp, mac_a, ll_a, ip6_a);
	EXPECT_DROP(run1(m, 0), PSW_DROP_ND_IGNORED);
	rte_pktmbuf_free(m);
	/* hop limit other than 255: not a valid ND message */
	m = tpkt_ns(mp, mac_a, ll_a, gw6);
	rte_pktmbuf_mtod_offset(m, struct rte_ipv6_hdr *, 14)->hop_limits = 64;
	EXPECT_DROP(run1(m, 0), PSW_DROP_ND_BAD);
	rte_pktmbuf_free(m);

	m = tpkt_ns(mp, mac_a, ll_a, gw6);
	meta = run1(m, 0);
	CU_ASSERT_EQUAL(meta.verdict, PSW_V_TX);
	CU_ASSERT_EQUAL(meta.out_port, 0);
	ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv6_hdr *, 14);
	icmp = (uint8_t *)(ip + 1);
	CU_ASSERT_EQUAL(rte_pktmbuf_pkt_len(m), 14 + 40 + 32);
	CU_ASSERT_EQUAL(icmp[0], 136);
	CU_ASSERT_EQUAL(icmp[4] & 0x60, 0x60);      /* solicited, override */
	CU_ASSERT(memcmp(icmp + 8, gw6, 16) == 0);
	CU_ASSERT(memcmp(icmp + 26, gw_mac, 6) == 0);
	CU_ASSERT(memcmp(ip->src_addr, gw6, 16) == 0);
	CU_ASSERT(memcmp(ip->dst_addr, ll_a, 16) == 0);
	CU_ASSERT_EQUAL(ip->hop_limits, 255);
	CU_ASSERT_EQUAL(tpkt_ip6_cksum_verify(ip, icmp), 0);
	rte_pktmbuf_free(m);
}

static void
test_guard_echo(void)
{
	struct tpkt p = from_a();
	struct rte_mbuf *m;
	struct rte_ipv4_hdr *ip;
	struct rte_ipv6_hdr *ip6;
	struct psw_meta meta;
	uint8_t *icmp;

	p.proto = IPPROTO_ICMP;
	p.icmp_type = 8;
	p.dst4 = GW4;
	p.sport = 0x1234;
	m = tpkt_build(mp, &p);
	meta = run1(m, 0);
	CU_ASSERT_EQUAL(meta.verdict, PSW_V_TX);
	CU_ASSERT_EQUAL(meta.out_port, 0);
	ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, 14);
	icmp = (uint8_t *)(ip + 1);
	CU_ASSERT_EQUAL(icmp[0], 0);
	CU_ASSERT_EQUAL(ip->src_addr, rte_cpu_to_be_32(GW4));
	CU_ASSERT_EQUAL(ip->dst_addr, rte_cpu_to_be_32(POD_A));
	CU_ASSERT_EQUAL(rte_raw_cksum(ip, 20), 0xffff);
	CU_ASSERT_EQUAL(rte_raw_cksum(icmp, 8 + 18), 0xffff);
	CU_ASSERT_EQUAL(icmp[4], 0x12);              /* identifier kept */
	rte_pktmbuf_free(m);

	p = from_a6();
	p.proto = IPPROTO_ICMPV6;
	p.icmp_type = 128;
	memcpy(p.dst6, gw6, 16);
	m = tpkt_build(mp, &p);
	meta = run1(m, 0);
	CU_ASSERT_EQUAL(meta.verdict, PSW_V_TX);
	ip6 = rte_pktmbuf_mtod_offset(m, struct rte_ipv6_hdr *, 14);
	icmp = (uint8_t *)(ip6 + 1);
	CU_ASSERT_EQUAL(icmp[0], 129);
	CU_ASSERT(memcmp(ip6->src_addr, gw6, 16) == 0);
	CU_ASSERT(memcmp(ip6->dst_addr, ip6_a, 16) == 0);
	CU_ASSERT_EQUAL(tpkt_ip6_cksum_verify(ip6, icmp), 0);
	rte_pktmbuf_free(m);
}

/* -------------------------------------------------------------- forward */

static void
test_forward_pod4(void)
{
	struct tpkt p = from_a();
	struct rte_mbuf *m = tpkt_build(mp, &p);
	struct psw_meta meta = run1(m, 0);
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);

	CU_ASSERT_EQUAL(meta.verdict, PSW_V_TX);
	CU_ASSERT_EQUAL(meta.out_port, 1);
	CU_ASSERT(memcmp(&eth->dst_addr, mac_b, 6) == 0);
	CU_ASSERT(memcmp(&eth->src_addr, gw_mac, 6) == 0);
	CU_ASSERT_EQUAL(ip->time_to_live, 63);
	CU_ASSERT_EQUAL(rte_raw_cksum(ip, 20), 0xffff);
	CU_ASSERT_EQUAL(ip->src_addr, rte_cpu_to_be_32(POD_A));   /* no NAT */
	rte_pktmbuf_free(m);
	/* every TTL that is forwarded, with other identifiers: the checksum stays right */
	for (unsigned ttl = 2, bad = 0; ttl <= 255; ttl++) {
		p = from_a();
		p.ttl = (uint8_t)ttl;
		m = tpkt_build(mp, &p);
		ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, 14);
		ip->packet_id = rte_cpu_to_be_16((uint16_t)(ttl * 257));
		ip->hdr_checksum = 0;
		ip->hdr_checksum = rte_ipv4_cksum(ip);
		meta = run1(m, 0);
		bad += meta.verdict != PSW_V_TX || ip->time_to_live != ttl - 1 || rte_raw_cksum(ip, 20) != 0xffff;
		rte_pktmbuf_free(m);
		if (ttl == 255)
			CU_ASSERT_EQUAL(bad, 0);
	}
}

static void
test_forward_pod6(void)
{
	struct tpkt p = from_a6();
	struct rte_mbuf *m = tpkt_build(mp, &p);
	struct psw_meta meta = run1(m, 0);
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_ipv6_hdr *ip = (struct rte_ipv6_hdr *)(eth + 1);

	CU_ASSERT_EQUAL(meta.verdict, PSW_V_TX);
	CU_ASSERT_EQUAL(meta.out_port, 1);
	CU_ASSERT(memcmp(&eth->dst_addr, mac_b, 6) == 0);
	CU_ASSERT_EQUAL(ip->hop_limits, 63);
	CU_ASSERT_EQUAL(tpkt_ip6_cksum_verify(ip, ip + 1), 0);
	rte_pktmbuf_free(m);
}

static void
test_forward_routes(void)
{
	struct tpkt p = from_a();
	struct rte_mbuf *m;
	struct psw_meta meta;

	/* longest prefix wins: /24 over /16 */
	p.dst4 = 0x0af50705;
	m = tpkt_build(mp, &p);
	meta = run1(m, 0);
	CU_ASSERT_EQUAL(meta.verdict, PSW_V_TX);
	CU_ASSERT_EQUAL(meta.out_port, UPLINK_PORT);
	CU_ASSERT(memcmp(&rte_pktmbuf_mtod(m, struct rte_ether_hdr *)->dst_addr, mac_r2, 6) == 0);
	rte_pktmbuf_free(m);
	p.dst4 = 0x0af50805;
	m = tpkt_build(mp, &p);
	meta = run1(m, 0);
	CU_ASSERT(memcmp(&rte_pktmbuf_mtod(m, struct rte_ether_hdr *)->dst_addr, mac_r, 6) == 0);
	rte_pktmbuf_free(m);
	/* default route to a port that is gone */
	p.dst4 = 0x08080808;
	m = tpkt_build(mp, &p);
	EXPECT_DROP(run1(m, 0), PSW_DROP_PORT_GONE);
	rte_pktmbuf_free(m);
	/* a pod whose port is gone */
	p.dst4 = 0x0af40063;
	m = tpkt_build(mp, &p);
	EXPECT_DROP(run1(m, 0), PSW_DROP_PORT_GONE);
	rte_pktmbuf_free(m);

	p = from_a6();
	memcpy(p.dst6, ip6_far, 16);
	m = tpkt_build(mp, &p);
	meta = run1(m, 0);
	CU_ASSERT_EQUAL(meta.verdict, PSW_V_TX);
	CU_ASSERT_EQUAL(meta.out_port, UPLINK_PORT);
	rte_pktmbuf_free(m);
	p.dst6[7] = 0x98;
	m = tpkt_build(mp, &p);
	EXPECT_DROP(run1(m, 0), PSW_DROP_NO_ROUTE);
	rte_pktmbuf_free(m);
}

static void
test_forward_vlan_strip(void)
{
	struct tpkt p = from_a();
	struct rte_mbuf *m;
	struct psw_meta meta;
	struct rte_ether_hdr *eth;

	p.nb_vlans = 1;
	p.src4 = 0x0b000001;
	memcpy(p.src_mac, mac_r, 6);
	m = tpkt_build(mp, &p);
	meta = run1(m, UPLINK_PORT);
	CU_ASSERT_EQUAL(meta.verdict, PSW_V_TX);
	CU_ASSERT_EQUAL(meta.out_port, 1);
	eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	CU_ASSERT_EQUAL(eth->ether_type, RTE_BE16(RTE_ETHER_TYPE_IPV4));
	CU_ASSERT_EQUAL(rte_pktmbuf_pkt_len(m), 14 + 20 + 8 + 18);
	CU_ASSERT_EQUAL(((struct rte_ipv4_hdr *)(eth + 1))->time_to_live, 63);
	rte_pktmbuf_free(m);
}

static void
test_forward_ttl(void)
{
	struct tpkt p = from_a();
	struct rte_mbuf *m;
	struct psw_meta meta;
	struct rte_ipv4_hdr *ip;
	struct rte_ipv6_hdr *ip6;
	uint8_t *icmp;
	uint64_t sent = lc.sc.events[PSW_EV_ICMP_TIME_EXCEEDED];

	p.ttl = 1;
	m = tpkt_build(mp, &p);
	meta = run1(m, 0);
	CU_ASSERT_EQUAL(meta.verdict, PSW_V_TX);
	CU_ASSERT_EQUAL(meta.out_port, 0);
	ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, 14);
	icmp = (uint8_t *)(ip + 1);
	CU_ASSERT_EQUAL(ip->next_proto_id, IPPROTO_ICMP);
	CU_ASSERT_EQUAL(ip->src_addr, rte_cpu_to_be_32(GW4));
	CU_ASSERT_EQUAL(ip->dst_addr, rte_cpu_to_be_32(POD_A));
	CU_ASSERT_EQUAL(rte_be_to_cpu_16(ip->total_length), 20 + 8 + 20 + 8);
	CU_ASSERT_EQUAL(rte_raw_cksum(ip, 20), 0xffff);
	CU_ASSERT_EQUAL(icmp[0], 11);
	CU_ASSERT_EQUAL(rte_raw_cksum(icmp, 8 + 28), 0xffff);
	/* the quote is the original header: its destination is pod B */
	CU_ASSERT_EQUAL(((struct rte_ipv4_hdr *)(icmp + 8))->dst_addr, rte_cpu_to_be_32(POD_B));
	CU_ASSERT(memcmp(&rte_pktmbuf_mtod(m, struct rte_ether_hdr *)->dst_addr, mac_a, 6) == 0);
	rte_pktmbuf_free(m);

	/* an ICMP error is never answered with another */
	p.proto = IPPROTO_ICMP;
	p.icmp_type = 11;
	m = tpkt_build(mp, &p);
	EXPECT_DROP(run1(m, 0), PSW_DROP_TTL_EXCEEDED);
	rte_pktmbuf_free(m);

	p = from_a6();
	p.ttl = 1;
	m = tpkt_build(mp, &p);
	meta = run1(m, 0);
	CU_ASSERT_EQUAL(meta.verdict, PSW_V_TX);
	ip6 = rte_pktmbuf_mtod_offset(m, struct rte_ipv6_hdr *, 14);
	CU_ASSERT_EQUAL(ip6->proto, IPPROTO_ICMPV6);
	CU_ASSERT(memcmp(ip6->src_addr, gw6, 16) == 0);
	CU_ASSERT_EQUAL(((uint8_t *)(ip6 + 1))[0], 3);
	CU_ASSERT_EQUAL(tpkt_ip6_cksum_verify(ip6, ip6 + 1), 0);
	rte_pktmbuf_free(m);
	CU_ASSERT_EQUAL(lc.sc.events[PSW_EV_ICMP_TIME_EXCEEDED], sent + 2);
}

/* The 20-byte IPv4 checksum test agrees with rte_raw_cksum on random headers. */
static void
test_ip4_csum_fast_path(void)
{
	uint8_t h[20];
	unsigned i, j, wrong = 0;

	srand(7);
	for (i = 0; i < 20000; i++) {
		uint16_t c;

		for (j = 0; j < 20; j++)
			h[j] = (uint8_t)rand();
		h[10] = h[11] = 0;
		c = (uint16_t)~rte_raw_cksum(h, 20);
		memcpy(h + 10, &c, 2);
		wrong += !psw_ip4_hdr_csum_ok(h, 20);
		h[rand() % 20] ^= (uint8_t)(1u << (rand() % 8));    /* one bit off */
		wrong += psw_ip4_hdr_csum_ok(h, 20) != (rte_raw_cksum(h, 20) == 0xffff);
		wrong += psw_ip4_hdr_csum_ok(h, 20) && rte_raw_cksum(h, 20) != 0xffff;
	}
	CU_ASSERT_EQUAL(wrong, 0);
}

/*
 * The TTL decrement's checksum update: on random headers and every TTL
 * forwarded, the very checksum rte_ipv4_cksum() computes whole (0, never
 * 0xffff); with a wrong checksum, as wrong after as before.
 */
static void
test_ip4_ttl_dec(void)
{
	struct rte_ipv4_hdr ip;
	unsigned i, wrong = 0, zeros = 0;

	srand(11);
	for (i = 0; i < 200000; i++) {
		uint8_t *h = (uint8_t *)&ip;
		unsigned j;
		uint16_t want, before;

		for (j = 0; j < 20; j++)
			h[j] = (uint8_t)rand();
		ip.version_ihl = RTE_IPV4_VHL_DEF;
		ip.time_to_live = (uint8_t)(2 + i % 254);
		ip.hdr_checksum = 0;
		ip.hdr_checksum = rte_ipv4_cksum(&ip);
		if (i % 3 == 0) {                /* a wrong one: off by the same after */
			ip.hdr_checksum ^= (uint16_t)(1u << (rand() % 16));
			before = rte_raw_cksum(&ip, 20);
			psw_ip4_ttl_dec(&ip);
			wrong += rte_raw_cksum(&ip, 20) != before || before == 0xffff;
			continue;
		}
		psw_ip4_ttl_dec(&ip);
		want = ip.hdr_checksum;
		ip.hdr_checksum = 0;
		ip.hdr_checksum = rte_ipv4_cksum(&ip);
		wrong += want != ip.hdr_checksum;
		zeros += want == 0;
	}
	CU_ASSERT_EQUAL(wrong, 0);
	/* where the sum comes out at 0: 0xfeff + 0x0100 is 0, not 0xffff */
	memset(&ip, 0, sizeof(ip));
	ip.version_ihl = RTE_IPV4_VHL_DEF;
	ip.time_to_live = 64;
	ip.next_proto_id = IPPROTO_UDP;
	for (i = 0; i < 65536; i++) {
		ip.total_length = rte_cpu_to_be_16((uint16_t)i);
		ip.hdr_checksum = 0;
		ip.hdr_checksum = rte_ipv4_cksum(&ip);
		if (ip.hdr_checksum == RTE_BE16(0xfeff))
			break;
	}
	CU_ASSERT_EQUAL_FATAL(ip.hdr_checksum, RTE_BE16(0xfeff));
	psw_ip4_ttl_dec(&ip);
	CU_ASSERT_EQUAL(ip.hdr_checksum, 0);
	CU_ASSERT_EQUAL(rte_raw_cksum(&ip, 20), 0xffff);
	CU_ASSERT(zeros > 0);
}

/* The pod index: every pod found by each address, absent ones not, duplicates refused. */
static void
test_pod_index(void)
{
	enum { N = 3000 };
	struct psw_pod *pods = calloc(N, sizeof(*pods));
	struct psw_pod_table *pt;
	uint8_t ip6[16];
	unsigned i;

	CU_ASSERT_PTR_NOT_NULL_FATAL(pods);
	for (i = 0; i < N; i++) {
		pods[i].nh.port = (uint16_t)(i % 7);
		pods[i].has_ip4 = i % 5 != 4;                /* some IPv6-only pods */
		pods[i].has_ip6 = i % 3 != 0;                /* some IPv4-only pods */
		pods[i].ip4 = rte_cpu_to_be_32(0x0af40000 + i * 256);   /* the low bytes alike */
		memcpy(pods[i].ip6, ip6_a, 16);
		pods[i].ip6[14] = (uint8_t)(i >> 8);
		pods[i].ip6[15] = (uint8_t)i;
	}
	pt = psw_pod_table_build(pods, N, SOCKET_ID_ANY);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pt);
	for (i = 0; i < N; i++) {
		CU_ASSERT_EQUAL(psw_pod_find4(pt, pods[i].ip4, psw_pod_hash4(pods[i].ip4)),
				pods[i].has_ip4 ? (int32_t)i : -1);
		CU_ASSERT_EQUAL(psw_pod_find6(pt, pods[i].ip6, psw_pod_hash6(pods[i].ip6)),
				pods[i].has_ip6 ? (int32_t)i : -1);
	}
	for (i = 0; i < 1000; i++) {
		uint32_t a = rte_cpu_to_be_32(0x0af40000 + i * 256 + 1);

		CU_ASSERT_EQUAL(psw_pod_find4(pt, a, psw_pod_hash4(a)), -1);
		memcpy(ip6, pods[i].ip6, 16);
		ip6[0] ^= 0x01;                              /* another prefix */
		CU_ASSERT_EQUAL(psw_pod_find6(pt, ip6, psw_pod_hash6(ip6)), -1);
	}
	psw_pod_table_put(pt);
	/* an empty table answers "no pod" */
	pt = psw_pod_table_build(NULL, 0, SOCKET_ID_ANY);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pt);
	CU_ASSERT_EQUAL(psw_pod_find4(pt, pods[0].ip4, psw_pod_hash4(pods[0].ip4)), -1);
	psw_pod_table_put(pt);
	/* two pods with one address, either family, are refused */
	pods[N - 1].ip4 = pods[17].ip4;
	pods[N - 1].has_ip4 = pods[17].has_ip4 = 1;
	rte_errno = 0;
	CU_ASSERT_PTR_NULL(psw_pod_table_build(pods, N, SOCKET_ID_ANY));
	CU_ASSERT_EQUAL(rte_errno, EINVAL);
	pods[N - 1].ip4 = rte_cpu_to_be_32(0x0b000000);
	memcpy(pods[N - 1].ip6, pods[5].ip6, 16);
	pods[N - 1].has_ip6 = pods[5].has_ip6 = 1;
	rte_errno = 0;
	CU_ASSERT_PTR_NULL(psw_pod_table_build(pods, N, SOCKET_ID_ANY));
	CU_ASSERT_EQUAL(rte_errno, EINVAL);
	free(pods);
}

/* A mixed burst through dispatch: drops freed and counted by reason. */
static void
test_dispatch_counts_and_frees(void)
{
	struct psw_burst b = { .nb = 0 };
	unsigned avail = rte_mempool_avail_count(mp), i;
	uint64_t spoof = lc.sc.drops[PSW_DROP_SPOOF_IP];
	uint64_t runt = lc.sc.drops[PSW_DROP_RUNT];

	for (i = 0; i < PSW_BURST_MAX; i++) {
		struct tpkt p = from_a();

		if (i % 2)
			p.src4 = POD_B;                         /* spoofed */
		b.pkts[i] = tpkt_build(mp, &p);
		b.meta[i].in_port = 0;
		if (i == 4)
			rte_pktmbuf_trim(b.pkts[i], (uint16_t)(rte_pktmbuf_data_len(b.pkts[i]) - 5));
	}
	b.nb = PSW_BURST_MAX;
	psw_worker_process(&lc, tables, &b);
	/* forwarded packets stay buffered for port 1 until flushed */
	psw_worker_dispatch(&lc, &b);
	CU_ASSERT_EQUAL(b.nb, 0);
	CU_ASSERT_EQUAL(lc.sc.drops[PSW_DROP_SPOOF_IP] - spoof, 16);
	CU_ASSERT_EQUAL(lc.sc.drops[PSW_DROP_RUNT] - runt, 1);
	CU_ASSERT_EQUAL(lc.tx[1].nb, 15);
	CU_ASSERT_EQUAL(rte_mempool_avail_count(mp), avail - 15);
	/* port 1 does not exist in this process: flush frees and counts them */
	psw_worker_flush(&lc);
	CU_ASSERT_EQUAL(lc.tx[1].nb, 0);
	CU_ASSERT_EQUAL(lc.stats.ports[1].tx_drop, 15);
	CU_ASSERT_EQUAL(rte_mempool_avail_count(mp), avail);
}

static int
init_suite(void)
{
	tables = make_tables();
	return mp == NULL || tables == NULL || tables->pods == NULL || tables->routes == NULL;
}

int
main(void)
{
	CU_pSuite s;
	unsigned failures;

	mp = psw_ut_eal("stages", 4096);
	if (mp == NULL)
		return 1;
	psw_lcore_init(&lc);
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("stages", init_suite, NULL);
	CU_add_test(s, "parse: runt frames", test_parse_runt);
	CU_add_test(s, "parse: unknown ethertype, VLAN stacks", test_parse_bad_ethertype_and_vlans);
	CU_add_test(s, "parse: bad IPv4 version/IHL/length/checksum, truncated TCP",
		    test_parse_bad_ip4);
	CU_add_test(s, "parse: IPv4 options and fragments", test_parse_options_and_fragments);
	CU_add_test(s, "parse: IPv6 lengths, extension headers, fragments", test_parse_ip6);
	CU_add_test(s, "parse: fields of TCP and SCTP packets", test_parse_fields);
	CU_add_test(s, "guard: spoofed MAC/IP/ARP dropped, uplink exempt", test_guard_spoofing);
	CU_add_test(s, "guard: wrong dst MAC, broadcast, UDP to gateway", test_guard_l2);
	CU_add_test(s, "guard: ARP answers and non-answers", test_guard_arp);
	CU_add_test(s, "guard: neighbour solicitation answers", test_guard_nd);
	CU_add_test(s, "guard: ping to the gateway (v4, v6)", test_guard_echo);
	CU_add_test(s, "forward: IPv4 to a local pod", test_forward_pod4);
	CU_add_test(s, "forward: IPv6 to a local pod", test_forward_pod6);
	CU_add_test(s, "forward: LPM routes, gone ports, no route", test_forward_routes);
	CU_add_test(s, "forward: VLAN tags stripped", test_forward_vlan_strip);
	CU_add_test(s, "forward: TTL/hop limit 1 -> ICMP time exceeded", test_forward_ttl);
	CU_add_test(s, "forward: pod index by IPv4 and IPv6, duplicates refused", test_pod_index);
	CU_add_test(s, "parse: the 20-byte IPv4 checksum test agrees with rte_raw_cksum", test_ip4_csum_fast_path);
	CU_add_test(s, "forward: the TTL decrement's checksum is the one computed whole", test_ip4_ttl_dec);
	CU_add_test(s, "dispatch: drops counted by reason and freed",
		    test_dispatch_counts_and_frees);
	failures = (unsigned)psw_ut_run();
	psw_ut_eal_fini();
	return failures ? 1 : 0;
}
