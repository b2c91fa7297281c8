/*
 * The fixture test_neigh.c and test_tunnel.c share: one node with a pod and
 * two uplinks, another node across the overlay, the control state's
 * neighbour table, and the builders and runners both halves' tests use
 * (neighbour discovery frames, one frame through the worker, a verdict
 * checked). Header-only, like pkt_build.h and psw_ut.h, so each test
 * program stays one file; one program includes it once.
 *
 * The node: pod P (port 0, fd00:0:0:1::a); uplinks U (port 2) and U2
 * (port 3); node addresses 192.168.50.1 and 2001:db8::1. VXLAN (VNI 42,
 * port 4789): the other node 192.168.50.2 has fd00:0:0:2::/64 and the
 * addresses 2001:db8::2 and 192.168.50.2 (their host routes name its VTEP,
 * as psw_fwd.c builds them); 2001:db8:99::1 is routed and no node's. The
 * pod also has 10.244.1.10.
 */
#ifndef PSW_TEST_NEIGH_FIXTURE_H
#define PSW_TEST_NEIGH_FIXTURE_H

#ifndef PSW_UT_EAL
#define PSW_UT_EAL
#endif
#include <stdio.h>

#include <CUnit/Basic.h>
#include <rte_eal.h>
#include <rte_ip.h>
#include <rte_udp.h>

#include "pkt_build.h"
#include "psw_ct.h"
#include "psw_ct_ctl.h"
#include "psw_ctl.h"
#include "psw_forward_ctl.h"
#include "psw_tunnel.h"
#include "psw_neigh.h"
#include "psw_port.h"
#include "psw_service_ctl.h"
#include "psw_ut.h"
#include "psw_worker.h"

#define P_POD 0
#define P_UP 2
#define P_UP2 3
#define NODE 0xc0a83201u         /* 192.168.50.1 */
#define OTHER 0xc0a83202u        /* 192.168.50.2, the other node */
#define POD4 0x0af4010au         /* 10.244.1.10, the pod's IPv4 address */
#define REMOTE4 0x0af40305u      /* 10.244.3.5, a pod of the other node (its /24 in the overlay) */
#define VNI 42
#define VXLAN_PORT 4789

#define ND_NS 135
#define ND_NA 136
#define O_FLAG 0x20
#define S_FLAG 0x40

static struct rte_mempool *mp;
static struct psw_tables *t;
static struct psw_lcore lc;
static struct psw_state st;
static const uint8_t gw_mac[6] = { 0x02, 0x50, 0x53, 0x57, 0x00, 0x01 };
static const uint8_t up_mac[6] = { 0x02, 0x50, 0x53, 0x57, 0x00, 0x02 };
static const uint8_t up2_mac[6] = { 0x02, 0x50, 0x53, 0x57, 0x00, 0x03 };
static const uint8_t mac_pod[6] = { 2, 0, 0, 0, 0, 0x0a };
static const uint8_t mac_rtr[6] = { 2, 0, 0, 0, 0, 0x71 }, mac_evil[6] = { 2, 0, 0, 0, 0, 0xee };
static const uint8_t mac_other[6] = { 2, 0, 0, 0, 0, 0x22 };
static const uint8_t pod6[16] = { 0xfd, 0, 0, 0, 0, 0, 0, 1, [15] = 0x0a };
static const uint8_t remote6[16] = { 0xfd, 0, 0, 0, 0, 0, 0, 2, [15] = 0x05 };
static const uint8_t node6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
static const uint8_t rtr6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 0xfe };   /* the next hop asked for */
static const uint8_t other_node6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 2 };
static const uint8_t far6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0x99, [15] = 1 };
static const uint8_t rtr_ll[16] = { 0xfe, 0x80, [15] = 0xfe };

static inline int
setup(void)
{
	struct psw_pod pod = { 0 };
	struct psw_route_spec r[5] = { { .prefix = { .family = 6, .len = 64 } },
				       { .prefix = { .family = 6, .len = 128 } },
				       { .prefix = { .family = 6, .len = 128 } },
				       { .prefix = { .family = 4, .len = 32 } },
				       { .prefix = { .family = 4, .len = 24 } } };
	uint32_t remote4 = rte_cpu_to_be_32(REMOTE4 & 0xffffff00u);
	uint32_t other = rte_cpu_to_be_32(OTHER);
	unsigned i;

	/* the control thread's view: two uplinks */
	psw_ports[P_UP].in_use = true;
	psw_ports[P_UP].conf.uplink = true;
	memcpy(&psw_ports[P_UP].mac, up_mac, 6);
	snprintf(psw_ports[P_UP].name, sizeof(psw_ports[P_UP].name), "up");
	psw_ports[P_UP2].in_use = true;
	psw_ports[P_UP2].conf.uplink = true;
	memcpy(&psw_ports[P_UP2].mac, up2_mac, 6);
	snprintf(psw_ports[P_UP2].name, sizeof(psw_ports[P_UP2].name), "up2");
	memcpy(st.cfg.node.gateway_mac, gw_mac, 6);

	/* the workers' view */
	t = psw_tables_alloc();
	memcpy(&t->node.gw_mac, gw_mac, 6);
	t->node.gw6[0] = 0xfd;
	t->node.gw6[7] = 1;
	t->node.gw6[15] = 1;
	t->node.has_ip6 = 1;
	t->node.nb_addrs = 1;
	t->node.addrs4[0] = rte_cpu_to_be_32(NODE);
	t->node.nb_addrs6 = 1;
	memcpy(t->node.addrs6[0], node6, 16);
	t->node.overlay = 1;
	t->node.tunnel_port = RTE_BE16(VXLAN_PORT);
	t->node.vni = VNI;
	psw_tunnel_prepare(&t->node);
	t->ports[P_POD] = (struct psw_port_info){ .present = 1, .is_pod = 1, .pod = 0, .mtu = 1500 };
	t->ports[P_UP] = (struct psw_port_info){ .present = 1, .is_uplink = 1, .mtu = 1500 };
	memcpy(&t->ports[P_UP].mac, up_mac, 6);
	t->ports[P_UP2] = (struct psw_port_info){ .present = 1, .is_uplink = 1, .mtu = 1500 };
	memcpy(&t->ports[P_UP2].mac, up2_mac, 6);
	memcpy(&pod.nh.mac, mac_pod, 6);
	pod.nh.port = P_POD;
	pod.has_ip6 = 1;
	memcpy(pod.ip6, pod6, 16);
	pod.has_ip4 = 1;
	pod.ip4 = rte_cpu_to_be_32(POD4);
	t->pods = psw_pod_table_build(&pod, 1, SOCKET_ID_ANY);
	/* the other node's pods in VXLAN, the other node itself and a stranger natively */
	memcpy(r[0].prefix.addr, remote6, 8);
	r[0].nh.flags = PSW_NH_F_TUNNEL;
	r[0].nh.tunnel_dst = rte_cpu_to_be_32(OTHER);
	memcpy(r[1].prefix.addr, other_node6, 16);
	r[1].nh.flags = PSW_NH_F_VTEP;               /* as psw_fwd.c marks a Node's host routes under VXLAN */
	r[1].nh.tunnel_dst = rte_cpu_to_be_32(OTHER);
	memcpy(r[2].prefix.addr, far6, 16);
	memcpy(r[3].prefix.addr, &other, 4);
	r[3].nh.flags = PSW_NH_F_VTEP;
	r[3].nh.tunnel_dst = other;
	/* the other node's IPv4 pods in the overlay too */
	memcpy(r[4].prefix.addr, &remote4, 4);
	r[4].nh.flags = PSW_NH_F_TUNNEL;
	r[4].nh.tunnel_dst = other;
	for (i = 0; i < 5; i++) {
		r[i].nh.port = P_UP;
		memcpy(&r[i].nh.mac, mac_other, 6);
	}
	t->routes = psw_route_table_build(r, 5, SOCKET_ID_ANY);
	t->svcs = psw_svc_table_create(64, SOCKET_ID_ANY);
	t->ct = psw_ct_create(1024, SOCKET_ID_ANY, psw_tables_qsbr());
	return t->pods == NULL || t->routes == NULL || t->svcs == NULL || t->ct == NULL;
}

/* Set the ICMPv6 checksum of an untagged frame's message. */
static inline void
nd_cksum(struct rte_mbuf *m)
{
	struct rte_ipv6_hdr *ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv6_hdr *, 14);
	uint8_t *icmp = (uint8_t *)(ip + 1);
	uint16_t c;

	icmp[2] = icmp[3] = 0;
	c = rte_ipv6_udptcp_cksum(ip, icmp);
	memcpy(icmp + 2, &c, 2);
}

/*
 * An untagged neighbour solicitation or advertisement from smac, src to dst
 * (multicast: the group's MAC, else the uplink's), about target, with
 * options; hop limit 255, checksum right.
 */
static inline struct rte_mbuf *
nd_frame(uint8_t type, const uint8_t *smac, const uint8_t *src, const uint8_t *dst, const uint8_t *target,
	 uint8_t flags, const uint8_t *opts, unsigned opts_len)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(mp);
	unsigned len = 14 + 40 + 24 + opts_len;
	struct rte_ipv6_hdr *ip;
	uint8_t *d, *icmp;

	if (m == NULL || (d = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)len)) == NULL) {
		rte_pktmbuf_free(m);
		return NULL;
	}
	memset(d, 0, len);
	if (dst[0] == 0xff) {
		d[0] = d[1] = 0x33;
		memcpy(d + 2, dst + 12, 4);
	} else {
		memcpy(d, up_mac, 6);
	}
	memcpy(d + 6, smac, 6);
	*(uint16_t *)(d + 12) = RTE_BE16(RTE_ETHER_TYPE_IPV6);
	ip = (struct rte_ipv6_hdr *)(d + 14);
	ip->vtc_flow = RTE_BE32(6u << 28);
	ip->payload_len = rte_cpu_to_be_16((uint16_t)(24 + opts_len));
	ip->proto = IPPROTO_ICMPV6;
	ip->hop_limits = 255;
	memcpy(ip->src_addr, src, 16);
	memcpy(ip->dst_addr, dst, 16);
	icmp = (uint8_t *)(ip + 1);
	icmp[0] = type;
	icmp[4] = flags;
	memcpy(icmp + 8, target, 16);
	if (opts_len > 0)
		memcpy(icmp + 24, opts, opts_len);
	nd_cksum(m);
	return m;
}

/* A solicited advertisement for target, to the node, its target link-layer option tlla (NULL: none). */
static inline struct rte_mbuf *
na(const uint8_t *smac, const uint8_t *target, uint8_t flags, const uint8_t *tlla)
{
	uint8_t opt[8] = { 2, 1 };

	if (tlla == NULL)
		return nd_frame(ND_NA, smac, rtr_ll, node6, target, flags, NULL, 0);
	memcpy(opt + 2, tlla, 6);
	return nd_frame(ND_NA, smac, rtr_ll, node6, target, flags, opt, 8);
}

static inline struct rte_ipv6_hdr *
ip_of(struct rte_mbuf *m)
{
	return rte_pktmbuf_mtod_offset(m, struct rte_ipv6_hdr *, 14);
}

/* The frame with a VLAN tag (7) after its MACs. */
static inline struct rte_mbuf *
tagged(struct rte_mbuf *m)
{
	uint8_t hdr[12];
	uint8_t *d;

	if (m == NULL)
		return NULL;
	memcpy(hdr, rte_pktmbuf_mtod(m, uint8_t *), 12);
	d = (uint8_t *)rte_pktmbuf_prepend(m, 4);
	if (d == NULL)
		return m;
	memcpy(d, hdr, 12);
	*(uint16_t *)(d + 12) = RTE_BE16(RTE_ETHER_TYPE_VLAN);
	*(uint16_t *)(d + 14) = RTE_BE16(7);
	*(uint16_t *)(d + 16) = RTE_BE16(RTE_ETHER_TYPE_IPV6);
	return m;
}

/* Put an 8-byte extension header (next header ext[0]) of kind nh between a frame's IPv6 header and its payload. */
static inline void
insert_ext(struct rte_mbuf *m, uint8_t nh, const uint8_t *ext)
{
	uint8_t hdrs[14 + 40];
	uint8_t *d;
	struct rte_ipv6_hdr *ip;

	memcpy(hdrs, rte_pktmbuf_mtod(m, uint8_t *), sizeof(hdrs));
	d = (uint8_t *)rte_pktmbuf_prepend(m, 8);
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	memcpy(d, hdrs, sizeof(hdrs));
	memcpy(d + 14 + 40, ext, 8);
	ip = (struct rte_ipv6_hdr *)(d + 14);
	ip->proto = nh;
	ip->payload_len = rte_cpu_to_be_16((uint16_t)(rte_be_to_cpu_16(ip->payload_len) + 8));
}

/* ---- the control thread's table ---- */

/* A fresh table with one entry, rtr6, asked for on port (PSW_PORT_NONE: every uplink). */
static inline void
fresh_table(uint16_t port)
{
	struct psw_nh nh;

	psw_neigh_free(st.neigh);
	st.neigh = psw_neigh_create();
	CU_ASSERT_PTR_NOT_NULL_FATAL(st.neigh);
	CU_ASSERT_EQUAL(psw_neigh_nh(st.neigh, 6, rtr6, port, &nh), 0);
	CU_ASSERT(nh.flags & PSW_NH_F_RESOLVE);
}

/* Hand a punted advertisement to the control thread, as the worker would. */
static inline void
learn(struct rte_mbuf *m, uint16_t port)
{
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	m->port = port;
	m->hash.fdir.lo = 0;
	m->hash.fdir.hi = PSW_PUNT_ND;
	psw_neigh_input(&st, m);                 /* frees it */
}

/* rtr6's entry: resolved to mac on port, or (mac NULL) not resolved. */
static inline void
expect_entry(const uint8_t *mac, uint16_t port, const char *what)
{
	struct psw_nh nh;
	bool ok;

	CU_ASSERT_EQUAL_FATAL(psw_neigh_nh(st.neigh, 6, rtr6, PSW_PORT_NONE, &nh), 0);
	if (mac == NULL)
		ok = (nh.flags & PSW_NH_F_RESOLVE) != 0;
	else
		ok = !(nh.flags & PSW_NH_F_RESOLVE) && memcmp(&nh.mac, mac, 6) == 0 && nh.port == port;
	if (!ok) {
		fprintf(stderr, "\n  %s: flags %x mac %02x:..:%02x port %u\n", what, nh.flags, nh.mac.addr_bytes[0],
			nh.mac.addr_bytes[5], nh.port);
		CU_FAIL(what);
	}
}

/* ---- the workers ---- */

static inline void
fresh(void)
{
	memset(&lc.stats, 0, sizeof(lc.stats));
	memset(lc.sc.drops, 0, sizeof(lc.sc.drops));
	memset(lc.sc.events, 0, sizeof(lc.sc.events));
	memset(lc.sc.punt, 0, sizeof(lc.sc.punt));
}

static inline struct psw_meta
run(struct rte_mbuf *m, uint16_t port)
{
	struct psw_burst b = { .nb = 1 };

	b.pkts[0] = m;
	b.meta[0].in_port = port;
	m->port = port;
	psw_worker_process(&lc, t, &b);
	return b.meta[0];
}

/* Run, check the verdict (TX: out port, DROP: reason, PUNT: punt reason); free unless keep. */
static inline struct rte_mbuf *
expect_v(struct rte_mbuf *m, uint16_t in_port, uint8_t verdict, unsigned what_, const char *what, bool keep)
{
	struct psw_meta meta;
	unsigned got;

	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	meta = run(m, in_port);
	got = verdict == PSW_V_TX ? meta.out_port
	      : verdict == PSW_V_DROP ? meta.drop_reason : (m->hash.fdir.hi & 0xffff);
	if (meta.verdict != verdict || got != what_) {
		fprintf(stderr, "\n  %s: verdict %u port %u reason %s\n", what, meta.verdict, meta.out_port,
			meta.verdict == PSW_V_DROP ? psw_drop_name(meta.drop_reason) : "-");
		CU_FAIL(what);
	}
	if (keep)
		return m;
	rte_pktmbuf_free(m);
	return NULL;
}

/* Start EAL for the suite name and build the node; 0, or -1 (the suite cannot run). */
static inline int
fixture_start(const char *name)
{
	mp = psw_ut_eal(name, 2048);
	if (mp == NULL)
		return -1;
	psw_lcore_init(&lc);
	if (setup() != 0) {
		fprintf(stderr, "test_%s: setup failed\n", name);
		return -1;
	}
	return 0;
}

/* Undo fixture_start, after the suite ran. */
static inline void
fixture_stop(void)
{
	psw_neigh_free(st.neigh);
	psw_ct_destroy(t->ct);
	psw_ut_eal_fini();
}

#endif /* PSW_TEST_NEIGH_FIXTURE_H */
