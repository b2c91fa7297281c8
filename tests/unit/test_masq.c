/*
 * Masquerade on crafted frames through the whole pipeline
 * (psw_worker_process), EAL --no-huge: pods' connections leaving the
 * cluster (egress), IPv6 and IPv4, and clients from outside masqueraded by
 * a NodePort or external IP with policy Cluster. Frames the pipeline emits
 * on the main paths are compared byte for byte with frames built from
 * scratch (so the incremental checksum updates are checked against full
 * ones). The masquerade tables come from a parsed configuration
 * (psw_svc_masq_fill), as the control thread builds them.
 *
 * The node: pods A (port 0, 10.244.0.10, fd00:10:244::a) and B (port 1,
 * 10.244.0.11, fd00:10:244::b); an uplink (port 2) with default routes of
 * both families to a router's MAC; node addresses 192.168.77.1, fd77::1;
 * cluster pods 10.244.0.0/16, fd00:10:244::/48; no_masquerade
 * 172.31.98.0/24, 2001:db8:98::/48. Outside: 2001:db8:99::1, 172.31.99.1.
 */
#define PSW_UT_EAL
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <rte_eal.h>
#include <rte_malloc.h>
#include <rte_tcp.h>

#include "pkt_build.h"
#include "psw_ct.h"
#include "psw_ct_ctl.h"
#include "psw_forward_ctl.h"
#include "psw_service.h"
#include "psw_service_ctl.h"
#include "psw_ut.h"
#include "psw_worker.h"

#define P_A 0
#define P_B 1
#define P_UP 2
#define A4 0x0af4000au           /* 10.244.0.10 */
#define NODE4 0xc0a84d01u        /* 192.168.77.1 */
#define OUT4 0xac1f6301u         /* 172.31.99.1 */
#define NOMASQ4 0xac1f6201u      /* 172.31.98.1 */
#define NODEPORT 30080

static const char *conf_text =
	"node = { addresses = [ \"192.168.77.1/24\", \"fd77::1/64\" ]; service_cidr6 = \"fd00:96::/112\"; };\n"
	"cluster = { pod_cidr = [ \"10.244.0.0/16\", \"fd00:10:244::/48\" ];\n"
	"  no_masquerade = [ \"172.31.98.0/24\", \"2001:db8:98::/48\" ]; };\n";

static struct rte_mempool *mp;
static struct psw_tables *t;
static struct psw_lcore lc;
static struct psw_config cfg;
static const uint8_t gw_mac[6] = { 0x02, 0x50, 0x53, 0x57, 0x00, 0x01 };
static const uint8_t mac_a[6] = { 2, 0, 0, 0, 0, 0x0a }, mac_b[6] = { 2, 0, 0, 0, 0, 0x0b };
static const uint8_t up_mac[6] = { 2, 0, 0, 0, 0x77, 0x01 }, router_mac[6] = { 2, 0, 0, 0, 0x77, 0xfe };
static const uint8_t a6[16] = { 0xfd, 0, 0, 0x10, 0x02, 0x44, [15] = 0x0a };
static const uint8_t b6[16] = { 0xfd, 0, 0, 0x10, 0x02, 0x44, [15] = 0x0b };
static const uint8_t gw6[16] = { 0xfd, 0, 0, 0x10, 0x02, 0x44, [15] = 0x01 };
static const uint8_t node6[16] = { 0xfd, 0x77, [15] = 1 };
static const uint8_t svc6_none[16] = { 0xfd, 0, 0, 0x96, [14] = 0x12, [15] = 0x34 };   /* fd00:96::1234 */
static const uint8_t out6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0x99, [15] = 1 };
static const uint8_t client6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0x99, [15] = 7 };
static const uint8_t client6b[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0x99, [15] = 8 };
static const uint8_t nomasq6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0x98, [15] = 1 };
static const uint8_t far_pod6[16] = { 0xfd, 0, 0, 0x10, 0x02, 0x44, 0, 5, [15] = 9 };
static const uint8_t ext_ip6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0x0e, [15] = 0x10 };

static struct psw_svc_key
svc_key6(const uint8_t *addr, uint8_t proto, uint16_t port)
{
	struct psw_svc_key k;

	memset(&k, 0, sizeof(k));
	k.family = 6;
	k.proto = proto;
	k.port = rte_cpu_to_be_16(port);
	memcpy(k.addr, addr, 16);
	return k;
}

static int
setup(void)
{
	struct psw_pod pods[2] = { 0 };
	struct psw_route_spec routes[2] = { { .prefix = { .family = 4 } }, { .prefix = { .family = 6 } } };
	struct psw_svc_backend be = { .family = 6, .local = 1 };
	struct psw_svc_spec specs[2];
	char err[256];
	unsigned i;

	if (psw_config_parse(conf_text, "masq.conf", &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "test_masq: %s\n", err);
		return 1;
	}
	t = psw_tables_alloc();
	t->node.gw4 = rte_cpu_to_be_32(0x0af40001);
	memcpy(t->node.gw6, gw6, 16);
	t->node.has_ip6 = 1;
	memcpy(&t->node.gw_mac, gw_mac, 6);
	t->node.pod_net4 = rte_cpu_to_be_32(0x0af40000);
	t->node.pod_mask4 = rte_cpu_to_be_32(0xffffff00);
	t->node.nb_addrs = 1;
	t->node.addrs4[0] = rte_cpu_to_be_32(NODE4);
	t->node.nb_addrs6 = 1;
	memcpy(t->node.addrs6[0], node6, 16);
	psw_svc_masq_fill(&t->node, &cfg);
	t->ports[P_A] = (struct psw_port_info){ .present = 1, .is_pod = 1, .pod = 0 };
	t->ports[P_B] = (struct psw_port_info){ .present = 1, .is_pod = 1, .pod = 1 };
	t->ports[P_UP] = (struct psw_port_info){ .present = 1, .is_uplink = 1 };
	memcpy(&t->ports[P_UP].mac, up_mac, 6);
	memcpy(&pods[0].nh.mac, mac_a, 6);
	pods[0].nh.port = P_A;
	pods[0].has_ip4 = pods[0].has_ip6 = 1;
	pods[0].ip4 = rte_cpu_to_be_32(A4);
	memcpy(pods[0].ip6, a6, 16);
	memcpy(&pods[1].nh.mac, mac_b, 6);
	pods[1].nh.port = P_B;
	pods[1].has_ip4 = pods[1].has_ip6 = 1;
	pods[1].ip4 = rte_cpu_to_be_32(A4 + 1);
	memcpy(pods[1].ip6, b6, 16);
	t->pods = psw_pod_table_build(pods, 2, SOCKET_ID_ANY);
	for (i = 0; i < 2; i++) {
		memcpy(&routes[i].nh.mac, router_mac, 6);
		routes[i].nh.port = P_UP;
	}
	t->routes = psw_route_table_build(routes, 2, SOCKET_ID_ANY);
	/* a NodePort on the node's IPv6 address and an external IP, both policy Cluster, to B:8080 */
	memcpy(be.addr, b6, 16);
	be.port = rte_cpu_to_be_16(8080);
	memset(specs, 0, sizeof(specs));
	specs[0].key = svc_key6(node6, IPPROTO_TCP, NODEPORT);
	specs[1].key = svc_key6(ext_ip6, IPPROTO_TCP, 80);
	for (i = 0; i < 2; i++) {
		specs[i].flags = PSW_SVC_F_MASQ;
		specs[i].nb_backends = 1;
		specs[i].backends = &be;
	}
	t->svcs = psw_svc_table_create(64, SOCKET_ID_ANY);
	for (i = 0; t->svcs != NULL && i < 2; i++)
		if (psw_svc_table_set(t->svcs, psw_svc_port_build(&specs[i], 0, SOCKET_ID_ANY)) < 0)
			return 1;
	t->ct = psw_ct_create(1024, SOCKET_ID_ANY, psw_tables_qsbr());
	return mp == NULL || t->pods == NULL || t->routes == NULL || t->svcs == NULL || t->ct == NULL;
}

/* Each test starts with no connection and no counts. */
static void
fresh(void)
{
	psw_ct_expire(t->ct, t->ct->size, true);
	memset(&lc.ct_cache, 0, sizeof(lc.ct_cache));
	memset(&lc.stats, 0, sizeof(lc.stats));
	memset(lc.sc.drops, 0, sizeof(lc.sc.drops));
	memset(lc.sc.events, 0, sizeof(lc.sc.events));
}

static struct psw_meta
run(struct rte_mbuf *m, uint16_t port)
{
	struct psw_burst b = { .nb = 1 };

	b.pkts[0] = m;
	b.meta[0].in_port = port;
	psw_worker_process(&lc, t, &b);
	return b.meta[0];
}

static void
same_frame(struct rte_mbuf *got, struct rte_mbuf *want, const char *what)
{
	unsigned i;

	if (rte_pktmbuf_data_len(got) == rte_pktmbuf_data_len(want) &&
	    memcmp(rte_pktmbuf_mtod(got, void *), rte_pktmbuf_mtod(want, void *),
		   rte_pktmbuf_data_len(want)) == 0)
		return;
	fprintf(stderr, "\n  %s: frame differs:\n  got  ", what);
	for (i = 0; i < rte_pktmbuf_data_len(got); i++)
		fprintf(stderr, "%02x", rte_pktmbuf_mtod(got, uint8_t *)[i]);
	fprintf(stderr, "\n  want ");
	for (i = 0; i < rte_pktmbuf_data_len(want); i++)
		fprintf(stderr, "%02x", rte_pktmbuf_mtod(want, uint8_t *)[i]);
	fprintf(stderr, "\n");
	CU_FAIL(what);
}

/* Run m in at in_port: it must leave on out_port (PSW_V_TX) or be dropped for reason. */
static struct psw_meta
expect(struct rte_mbuf *m, uint16_t in_port, uint8_t verdict, unsigned port_or_reason, const char *what)
{
	struct psw_meta meta;

	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	meta = run(m, in_port);
	if (meta.verdict != verdict ||
	    (verdict == PSW_V_TX ? meta.out_port : meta.drop_reason) != port_or_reason) {
		fprintf(stderr, "\n  %s: verdict %u port %u reason %s\n", what, meta.verdict, meta.out_port,
			meta.verdict == PSW_V_DROP ? psw_drop_name(meta.drop_reason) : "-");
		CU_FAIL(what);
	}
	return meta;
}

/* expect, then compare with want and free both. */
static void
expect_frame(struct rte_mbuf *m, uint16_t in_port, unsigned out_port, struct rte_mbuf *want, const char *what)
{
	struct psw_meta meta = expect(m, in_port, PSW_V_TX, out_port, what);

	if (meta.verdict == PSW_V_TX)
		same_frame(m, want, what);
	rte_pktmbuf_free(m);
	rte_pktmbuf_free(want);
}

/* expect and free. */
static void
expect_free(struct rte_mbuf *m, uint16_t in_port, uint8_t verdict, unsigned port_or_reason, const char *what)
{
	expect(m, in_port, verdict, port_or_reason, what);
	rte_pktmbuf_free(m);
}

/*
 * An IPv6 frame: proto TCP (flags, seq 1000, ack 5000 with ACK), UDP, or
 * ICMPv6 (icmp_type; sport is the echo identifier); hop limit hl.
 */
static struct rte_mbuf *
frame6(const uint8_t *smac, const uint8_t *dmac, uint8_t proto, const uint8_t *src, const uint8_t *dst,
       uint16_t sport, uint16_t dport, uint8_t flags_or_type, uint8_t hl)
{
	struct tpkt p;
	struct rte_mbuf *m;

	tpkt_defaults(&p);
	memcpy(p.src_mac, smac, 6);
	memcpy(p.dst_mac, dmac, 6);
	p.ip6 = 1;
	p.proto = proto;
	memcpy(p.src6, src, 16);
	memcpy(p.dst6, dst, 16);
	p.sport = sport;
	p.dport = dport;
	p.ttl = hl;
	p.icmp_type = flags_or_type;
	if (proto == IPPROTO_TCP)
		p.payload = 0;
	m = tpkt_build(mp, &p);
	if (m != NULL && proto == IPPROTO_TCP) {
		struct rte_ipv6_hdr *ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv6_hdr *, 14);
		struct rte_tcp_hdr *th = (struct rte_tcp_hdr *)(ip + 1);

		th->tcp_flags = flags_or_type;
		th->sent_seq = rte_cpu_to_be_32(1000);
		th->recv_ack = flags_or_type & RTE_TCP_ACK_FLAG ? rte_cpu_to_be_32(5000) : 0;
		th->rx_win = RTE_BE16(65535);
		th->cksum = 0;
		th->cksum = rte_ipv6_udptcp_cksum(ip, th);
	}
	return m;
}

/* The same for IPv4 (TCP SYN only, UDP). */
static struct rte_mbuf *
frame4(const uint8_t *smac, const uint8_t *dmac, uint8_t proto, uint32_t src, uint32_t dst,
       uint16_t sport, uint16_t dport, uint8_t ttl)
{
	struct tpkt p;

	tpkt_defaults(&p);
	memcpy(p.src_mac, smac, 6);
	memcpy(p.dst_mac, dmac, 6);
	p.proto = proto;
	p.src4 = src;
	p.dst4 = dst;
	p.sport = sport;
	p.dport = dport;
	p.ttl = ttl;
	if (proto == IPPROTO_TCP)
		p.payload = 0;
	return tpkt_build(mp, &p);
}

/* The source (address, port) of an IPv6 TCP / UDP frame as it left. */
static uint16_t
sport6(struct rte_mbuf *m, uint8_t *src)
{
	const struct rte_ipv6_hdr *ip = rte_pktmbuf_mtod_offset(m, const struct rte_ipv6_hdr *, 14);
	uint16_t port;

	if (src != NULL)
		memcpy(src, ip->src_addr, 16);
	memcpy(&port, ip + 1, 2);
	return rte_be_to_cpu_16(port);
}

/* The configuration as the control thread turns it into the tables. */
static void
test_tables_from_config(void)
{
	struct psw_node_info n;
	struct psw_config c;
	char err[256];

	memset(&n, 0, sizeof(n));
	psw_svc_masq_fill(&n, &cfg);
	CU_ASSERT_TRUE(n.masq);
	CU_ASSERT_TRUE(n.masq6);
	/* cluster, node pods, service CIDR, link-local, and one of no_masquerade */
	CU_ASSERT_EQUAL(n.nb_nomasq, 5);
	/* service CIDR, cluster, node pods, link-local, multicast, and one of no_masquerade */
	CU_ASSERT_EQUAL(n.nb_nomasq6, 6);
	CU_ASSERT_EQUAL(n.nomasq6[0].mask[1], rte_cpu_to_be_64(0xffffffffffff0000ull));
	CU_ASSERT_EQUAL(n.nomasq6[5].mask[0], rte_cpu_to_be_64(0xffffffffffff0000ull));
	CU_ASSERT_EQUAL(n.nomasq6[5].mask[1], 0);
	/* no IPv6 node address: IPv6 is not masqueraded, IPv4 still is */
	CU_ASSERT_FATAL(psw_config_parse("node = { addresses = [ \"192.168.77.1\" ]; };\n"
					 "cluster = { pod_cidr = [ \"10.244.0.0/16\", \"fd00:10:244::/48\" ]; };",
					 "m.conf", &c, err, sizeof(err)) == 0);
	psw_svc_masq_fill(&n, &c);
	CU_ASSERT_TRUE(n.masq);
	CU_ASSERT_FALSE(n.masq6);
	psw_config_free(&c);
	/* no IPv6 cluster CIDR: the same */
	CU_ASSERT_FATAL(psw_config_parse("node = { addresses = [ \"192.168.77.1\", \"fd77::1\" ]; };\n"
					 "cluster = { pod_cidr = \"10.244.0.0/16\"; };",
					 "m.conf", &c, err, sizeof(err)) == 0);
	psw_svc_masq_fill(&n, &c);
	CU_ASSERT_TRUE(n.masq);
	CU_ASSERT_FALSE(n.masq6);
	psw_config_free(&c);
}

/* A pod's TCP connection out: the node's address and the pod's port; the reply back to the pod. */
static void
test_egress6_tcp(void)
{
	fresh();
	expect_frame(frame6(mac_a, gw_mac, IPPROTO_TCP, a6, out6, 40000, 443, RTE_TCP_SYN_FLAG, 64), P_A, P_UP,
		     frame6(up_mac, router_mac, IPPROTO_TCP, node6, out6, 40000, 443, RTE_TCP_SYN_FLAG, 63),
		     "SYN out, masqueraded");
	expect_frame(frame6(router_mac, up_mac, IPPROTO_TCP, out6, node6, 443, 40000,
			    RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG, 64), P_UP, P_A,
		     frame6(gw_mac, mac_a, IPPROTO_TCP, out6, a6, 443, 40000, RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG, 63),
		     "SYN-ACK back to the pod");
	expect_frame(frame6(mac_a, gw_mac, IPPROTO_TCP, a6, out6, 40000, 443, RTE_TCP_ACK_FLAG, 64), P_A, P_UP,
		     frame6(up_mac, router_mac, IPPROTO_TCP, node6, out6, 40000, 443, RTE_TCP_ACK_FLAG, 63),
		     "ACK out, masqueraded");
	CU_ASSERT_EQUAL(lc.sc.events[PSW_EV_MASQ], 1);
}

/* Two pods, one source port, one server: the second gets another port; each reply finds its pod. */
static void
test_egress6_ports_never_clash(void)
{
	struct rte_mbuf *m;
	uint8_t src[16];
	uint16_t port;

	fresh();
	m = frame6(mac_a, gw_mac, IPPROTO_TCP, a6, out6, 5555, 443, RTE_TCP_SYN_FLAG, 64);
	expect(m, P_A, PSW_V_TX, P_UP, "A's SYN");
	CU_ASSERT_EQUAL(sport6(m, src), 5555);
	CU_ASSERT_EQUAL(memcmp(src, node6, 16), 0);
	rte_pktmbuf_free(m);
	m = frame6(mac_b, gw_mac, IPPROTO_TCP, b6, out6, 5555, 443, RTE_TCP_SYN_FLAG, 64);
	expect(m, P_B, PSW_V_TX, P_UP, "B's SYN, same source port");
	port = sport6(m, src);
	CU_ASSERT_EQUAL(memcmp(src, node6, 16), 0);
	CU_ASSERT(port != 5555 && port >= PSW_SNAT_PORT_MIN && port < PSW_SNAT_PORT_MIN + PSW_SNAT_PORT_SPAN);
	rte_pktmbuf_free(m);
	expect_frame(frame6(router_mac, up_mac, IPPROTO_TCP, out6, node6, 443, port,
			    RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG, 64), P_UP, P_B,
		     frame6(gw_mac, mac_b, IPPROTO_TCP, out6, b6, 443, 5555, RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG, 63),
		     "B's SYN-ACK, to its own port");
	expect_frame(frame6(router_mac, up_mac, IPPROTO_TCP, out6, node6, 443, 5555,
			    RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG, 64), P_UP, P_A,
		     frame6(gw_mac, mac_a, IPPROTO_TCP, out6, a6, 443, 5555, RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG, 63),
		     "A's SYN-ACK");
}

/* UDP and ICMPv6 echo go out masqueraded and come back. */
static void
test_egress6_udp_and_echo(void)
{
	fresh();
	expect_frame(frame6(mac_a, gw_mac, IPPROTO_UDP, a6, out6, 40001, 53, 0, 64), P_A, P_UP,
		     frame6(up_mac, router_mac, IPPROTO_UDP, node6, out6, 40001, 53, 0, 63), "UDP out");
	expect_frame(frame6(router_mac, up_mac, IPPROTO_UDP, out6, node6, 53, 40001, 0, 64), P_UP, P_A,
		     frame6(gw_mac, mac_a, IPPROTO_UDP, out6, a6, 53, 40001, 0, 63), "UDP answer");
	expect_frame(frame6(mac_a, gw_mac, IPPROTO_ICMPV6, a6, out6, 77, 0, 128, 64), P_A, P_UP,
		     frame6(up_mac, router_mac, IPPROTO_ICMPV6, node6, out6, 77, 0, 128, 63), "echo request out");
	expect_frame(frame6(router_mac, up_mac, IPPROTO_ICMPV6, out6, node6, 77, 0, 129, 64), P_UP, P_A,
		     frame6(gw_mac, mac_a, IPPROTO_ICMPV6, out6, a6, 77, 0, 129, 63), "echo reply");
	CU_ASSERT_EQUAL(lc.sc.events[PSW_EV_MASQ], 2);
}

/* An IPv4 ICMP echo (type 8 request, 0 reply) with identifier id. */
static struct rte_mbuf *
echo4(const uint8_t *smac, const uint8_t *dmac, uint32_t src, uint32_t dst, uint16_t id, uint8_t type,
      uint8_t ttl)
{
	struct tpkt p;

	tpkt_defaults(&p);
	memcpy(p.src_mac, smac, 6);
	memcpy(p.dst_mac, dmac, 6);
	p.proto = IPPROTO_ICMP;
	p.src4 = src;
	p.dst4 = dst;
	p.sport = id;
	p.icmp_type = type;
	p.ttl = ttl;
	return tpkt_build(mp, &p);
}

/* The identifier of an echo as it left (l3_len: 20 or 40). */
static uint16_t
echo_id(struct rte_mbuf *m, unsigned l3_len)
{
	uint16_t id;

	memcpy(&id, rte_pktmbuf_mtod_offset(m, uint8_t *, 14 + l3_len + 4), 2);
	return rte_be_to_cpu_16(id);
}

/*
 * Two pods ping one host outside with one echo identifier at once, over
 * both families: the second leaves with another identifier (the replies
 * would otherwise be one tuple: ct_clash), and each reply comes back to its
 * pod with the identifier the pod sent, every checksum right.
 */
static void
test_egress_echo_ids_never_clash(void)
{
	const uint32_t b4 = 0x0af4000bu;         /* 10.244.0.11 */
	struct rte_mbuf *m;
	uint16_t id;

	fresh();
	expect_frame(frame6(mac_a, gw_mac, IPPROTO_ICMPV6, a6, out6, 77, 0, 128, 64), P_A, P_UP,
		     frame6(up_mac, router_mac, IPPROTO_ICMPV6, node6, out6, 77, 0, 128, 63), "A's echo request");
	m = frame6(mac_b, gw_mac, IPPROTO_ICMPV6, b6, out6, 77, 0, 128, 64);
	expect(m, P_B, PSW_V_TX, P_UP, "B's echo request, the same identifier");
	id = echo_id(m, 40);
	CU_ASSERT(id != 77 && id >= PSW_SNAT_PORT_MIN && id < PSW_SNAT_PORT_MIN + PSW_SNAT_PORT_SPAN);
	{
		struct rte_mbuf *want = frame6(up_mac, router_mac, IPPROTO_ICMPV6, node6, out6, id, 0, 128, 63);

		same_frame(m, want, "B's echo request as it left");
		rte_pktmbuf_free(want);
	}
	rte_pktmbuf_free(m);
	expect_frame(frame6(router_mac, up_mac, IPPROTO_ICMPV6, out6, node6, id, 0, 129, 64), P_UP, P_B,
		     frame6(gw_mac, mac_b, IPPROTO_ICMPV6, out6, b6, 77, 0, 129, 63), "B's echo reply, its identifier");
	expect_frame(frame6(router_mac, up_mac, IPPROTO_ICMPV6, out6, node6, 77, 0, 129, 64), P_UP, P_A,
		     frame6(gw_mac, mac_a, IPPROTO_ICMPV6, out6, a6, 77, 0, 129, 63), "A's echo reply");

	expect_frame(echo4(mac_a, gw_mac, A4, OUT4, 4242, 8, 64), P_A, P_UP,
		     echo4(up_mac, router_mac, NODE4, OUT4, 4242, 8, 63), "A's IPv4 echo request");
	m = echo4(mac_b, gw_mac, b4, OUT4, 4242, 8, 64);
	expect(m, P_B, PSW_V_TX, P_UP, "B's IPv4 echo request, the same identifier");
	id = echo_id(m, 20);
	CU_ASSERT(id != 4242 && id >= PSW_SNAT_PORT_MIN && id < PSW_SNAT_PORT_MIN + PSW_SNAT_PORT_SPAN);
	{
		struct rte_mbuf *want = echo4(up_mac, router_mac, NODE4, OUT4, id, 8, 63);

		same_frame(m, want, "B's IPv4 echo request as it left");
		rte_pktmbuf_free(want);
	}
	rte_pktmbuf_free(m);
	expect_frame(echo4(router_mac, up_mac, OUT4, NODE4, id, 0, 64), P_UP, P_B,
		     echo4(gw_mac, mac_b, OUT4, b4, 4242, 0, 63), "B's IPv4 echo reply, its identifier");
	expect_frame(echo4(router_mac, up_mac, OUT4, NODE4, 4242, 0, 64), P_UP, P_A,
		     echo4(gw_mac, mac_a, OUT4, A4, 4242, 0, 63), "A's IPv4 echo reply");
}

/*
 * An ICMPv4 error (type) from router4 to the node, quoting the first qlen
 * bytes of q's IPv4 packet (q freed). Its ICMP checksum is right.
 */
static struct rte_mbuf *
error4_quoting(uint8_t type, uint32_t router4, struct rte_mbuf *q, unsigned qlen)
{
	struct rte_mbuf *m;
	struct tpkt p;
	uint8_t *icmp;
	uint16_t c;

	tpkt_defaults(&p);
	memcpy(p.src_mac, router_mac, 6);
	memcpy(p.dst_mac, up_mac, 6);
	p.proto = IPPROTO_ICMP;
	p.src4 = router4;
	p.dst4 = NODE4;
	p.icmp_type = type;
	p.sport = 0;
	p.payload = (uint16_t)qlen;
	m = tpkt_build(mp, &p);
	if (m == NULL || q == NULL) {
		rte_pktmbuf_free(q);
		return m;
	}
	icmp = rte_pktmbuf_mtod_offset(m, uint8_t *, 14 + 20);
	memset(icmp + 4, 0, 4);
	memcpy(icmp + 8, rte_pktmbuf_mtod_offset(q, uint8_t *, 14), qlen);
	icmp[2] = icmp[3] = 0;
	c = (uint16_t)~rte_raw_cksum(icmp, 8 + qlen);
	memcpy(icmp + 2, &c, 2);
	rte_pktmbuf_free(q);
	return m;
}

/*
 * An ICMPv6 error (type; word 4..7 of the message: rest, the MTU of a
 * packet too big) from router6 to the node, quoting the first qlen bytes
 * of q's IPv6 packet (q freed). Its ICMPv6 checksum is right.
 */
static struct rte_mbuf *
error6_quoting(uint8_t type, uint32_t rest, const uint8_t *router6, struct rte_mbuf *q, unsigned qlen)
{
	unsigned len = 14 + 40 + 8 + qlen;
	struct rte_mbuf *m = rte_pktmbuf_alloc(mp);
	struct rte_ipv6_hdr *ip;
	uint8_t *d, *icmp;

	d = m != NULL ? (uint8_t *)rte_pktmbuf_append(m, (uint16_t)len) : NULL;
	if (d == NULL || q == NULL) {
		rte_pktmbuf_free(q);
		rte_pktmbuf_free(m);
		return NULL;
	}
	memset(d, 0, len);
	memcpy(d, up_mac, 6);
	memcpy(d + 6, router_mac, 6);
	*(uint16_t *)(d + 12) = RTE_BE16(RTE_ETHER_TYPE_IPV6);
	ip = (struct rte_ipv6_hdr *)(d + 14);
	ip->vtc_flow = RTE_BE32(6u << 28);
	ip->payload_len = rte_cpu_to_be_16((uint16_t)(8 + qlen));
	ip->proto = IPPROTO_ICMPV6;
	ip->hop_limits = 64;
	memcpy(ip->src_addr, router6, 16);
	memcpy(ip->dst_addr, node6, 16);
	icmp = (uint8_t *)(ip + 1);
	icmp[0] = type;
	rest = rte_cpu_to_be_32(rest);
	memcpy(icmp + 4, &rest, 4);
	memcpy(icmp + 8, rte_pktmbuf_mtod_offset(q, void *, 14), qlen);
	*(uint16_t *)(icmp + 2) = rte_ipv6_udptcp_cksum(ip, icmp);
	rte_pktmbuf_free(q);
	return m;
}

/* An IPv4 first fragment (more fragments follow) of the echo m: its checksums stay right. */
static void
first_fragment4(struct rte_mbuf *m)
{
	struct rte_ipv4_hdr *ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, 14);

	ip->packet_id = RTE_BE16(0x5151);
	ip->fragment_offset = RTE_BE16(RTE_IPV4_HDR_MF_FLAG);
	ip->hdr_checksum = 0;
	ip->hdr_checksum = rte_ipv4_cksum(ip);
}

/*
 * A pod's echo *reply* to outside that answers nothing (no request came in
 * to it) opens no masquerade: its reverse is an echo request to the node,
 * so the entry would hand the node's pings (those the guard leaves to
 * conntrack: fragmented ones) from that host to the pod. The inbound and
 * policy paths already refuse to open a connection with an echo reply.
 */
static void
test_egress_echo_reply_opens_nothing(void)
{
	struct psw_meta meta;
	struct rte_mbuf *m;

	fresh();
	expect_free(echo4(mac_a, gw_mac, A4, OUT4, 555, 0, 64), P_A, PSW_V_DROP, PSW_DROP_MASQ_UNTRACKED,
		    "A's unsolicited IPv4 echo reply out");
	expect_free(frame6(mac_a, gw_mac, IPPROTO_ICMPV6, a6, out6, 555, 0, 129, 64), P_A, PSW_V_DROP,
		    PSW_DROP_MASQ_UNTRACKED, "A's unsolicited ICMPv6 echo reply out");
	/* the host pings the node with a large (fragmented) echo: never the pod's */
	m = echo4(router_mac, up_mac, OUT4, NODE4, 555, 8, 64);
	first_fragment4(m);
	meta = run(m, P_UP);
	if (meta.verdict == PSW_V_TX && meta.out_port == P_A)
		CU_FAIL("the host's echo request to the node went to pod A");
	rte_pktmbuf_free(m);
	CU_ASSERT_EQUAL(lc.sc.events[PSW_EV_MASQ], 0);
}

/*
 * Every identifier tried is taken (the pod's own and the 16 from the
 * flow's hash): the echo is dropped as a clash, counted, and neither an
 * entry nor its zone's count is left behind.
 */
static void
test_egress_echo_ids_exhausted(void)
{
	const uint32_t b4 = 0x0af4000bu;         /* 10.244.0.11 */
	struct psw_ct_key orig, ko, kr;
	uint64_t clashes;
	unsigned i, used;
	uint32_t h;

	fresh();
	memset(&orig, 0, sizeof(orig));
	orig.family = 4;
	orig.proto = IPPROTO_ICMP;
	orig.sport = rte_cpu_to_be_16(4242);
	orig.dport = 8;
	*(uint32_t *)orig.src = rte_cpu_to_be_32(b4);
	*(uint32_t *)orig.dst = rte_cpu_to_be_32(OUT4);
	h = rte_hash_crc(&orig, sizeof(orig), 0x534e4154u);
	/* 17 connections of others hold every reply tuple B's echo could take */
	for (i = 0; i <= PSW_SNAT_TRIES; i++) {
		memset(&ko, 0, sizeof(ko));
		ko.family = 4;
		ko.proto = IPPROTO_ICMP;
		ko.sport = rte_cpu_to_be_16((uint16_t)(1000 + i));
		ko.dport = 8;
		*(uint32_t *)ko.src = rte_cpu_to_be_32(0x0af40064u);     /* some other pod */
		*(uint32_t *)ko.dst = rte_cpu_to_be_32(OUT4);
		kr = ko;
		kr.dport = 0;
		*(uint32_t *)kr.src = rte_cpu_to_be_32(OUT4);
		*(uint32_t *)kr.dst = rte_cpu_to_be_32(NODE4);
		kr.sport = i == 0 ? rte_cpu_to_be_16(4242) :
			   rte_cpu_to_be_16((uint16_t)(PSW_SNAT_PORT_MIN +
						       (h + (i - 1) * 40503u) % PSW_SNAT_PORT_SPAN));
		CU_ASSERT_FATAL(psw_ct_insert(t->ct, &ko, &kr, 0, 0, PSW_CT_F_SNAT, rte_rdtsc()) >= 0);
	}
	used = t->ct->size - rte_ring_count(t->ct->free);
	clashes = t->ct->clashes;
	expect_free(echo4(mac_b, gw_mac, b4, OUT4, 4242, 8, 64), P_B, PSW_V_DROP, PSW_DROP_CT_CLASH,
		    "B's echo, every identifier taken");
	CU_ASSERT_EQUAL(t->ct->clashes, clashes + PSW_SNAT_TRIES + 1);
	CU_ASSERT_EQUAL(t->ct->size - rte_ring_count(t->ct->free), used);
	CU_ASSERT_EQUAL(t->ct->zone_count[P_B], 0);
}

/*
 * Fragmented echoes with another identifier: B's first fragment leaves with
 * it (its checksum, over the whole message, adjusted as a full one would
 * be), the host's fragmented reply comes back to B with B's own, and the
 * host's fragmented *request* with that identifier to the node is not B's.
 */
static void
test_egress_echo_realloc_fragments(void)
{
	const uint32_t b4 = 0x0af4000bu;         /* 10.244.0.11 */
	struct rte_mbuf *m, *want;
	struct psw_meta meta;
	uint16_t id;

	fresh();
	expect_frame(echo4(mac_a, gw_mac, A4, OUT4, 4343, 8, 64), P_A, P_UP,
		     echo4(up_mac, router_mac, NODE4, OUT4, 4343, 8, 63), "A's IPv4 echo request");
	m = echo4(mac_b, gw_mac, b4, OUT4, 4343, 8, 64);
	first_fragment4(m);
	expect(m, P_B, PSW_V_TX, P_UP, "B's first fragment, the same identifier");
	id = echo_id(m, 20);
	CU_ASSERT(id != 4343);
	want = echo4(up_mac, router_mac, NODE4, OUT4, id, 8, 63);
	first_fragment4(want);
	same_frame(m, want, "B's first fragment as it left");
	rte_pktmbuf_free(want);
	rte_pktmbuf_free(m);
	m = echo4(router_mac, up_mac, OUT4, NODE4, id, 0, 64);
	first_fragment4(m);
	want = echo4(gw_mac, mac_b, OUT4, b4, 4343, 0, 63);
	first_fragment4(want);
	expect_frame(m, P_UP, P_B, want, "the host's fragmented reply to B, B's identifier");
	m = echo4(router_mac, up_mac, OUT4, NODE4, id, 8, 64);
	first_fragment4(m);
	meta = run(m, P_UP);
	if (meta.verdict == PSW_V_TX && meta.out_port == P_B)
		CU_FAIL("the host's fragmented echo request to the node went to B");
	rte_pktmbuf_free(m);
}

/*
 * A router's time exceeded about B's echo request, which left with another
 * identifier: it names the node's address and that identifier. It reaches
 * B as B must see it (its address, its own identifier, traceroute -I and
 * ping's errors), never A, whose identifier is B's own.
 */
static void
test_egress_echo_error_quoted(void)
{
	const uint32_t b4 = 0x0af4000bu;         /* 10.244.0.11 */
	const uint32_t router4 = 0xac1f6309u;    /* 172.31.99.9 */
	struct rte_mbuf *m, *q;
	struct psw_meta meta;
	uint8_t *icmp;
	uint16_t id;

	fresh();
	expect_frame(echo4(mac_a, gw_mac, A4, OUT4, 4242, 8, 64), P_A, P_UP,
		     echo4(up_mac, router_mac, NODE4, OUT4, 4242, 8, 63), "A's IPv4 echo request");
	q = echo4(mac_b, gw_mac, b4, OUT4, 4242, 8, 64);
	expect(q, P_B, PSW_V_TX, P_UP, "B's IPv4 echo request, the same identifier");
	id = echo_id(q, 20);
	CU_ASSERT(id != 4242);
	/* time exceeded (11) from a router, quoting B's request as it left (IPv4 + 8 bytes) */
	m = error4_quoting(11, router4, q, 28);
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	meta = run(m, P_UP);
	CU_ASSERT_EQUAL(meta.verdict, PSW_V_TX);
	CU_ASSERT_EQUAL(meta.out_port, P_B);
	{
		const struct rte_ipv4_hdr *ip = rte_pktmbuf_mtod_offset(m, const struct rte_ipv4_hdr *, 14);
		const struct rte_ipv4_hdr *in;

		icmp = (uint8_t *)(ip + 1);
		in = (const struct rte_ipv4_hdr *)(icmp + 8);
		CU_ASSERT_EQUAL(icmp[0], 11);
		CU_ASSERT_EQUAL(ip->src_addr, rte_cpu_to_be_32(router4));
		CU_ASSERT_EQUAL(ip->dst_addr, rte_cpu_to_be_32(b4));
		CU_ASSERT_EQUAL(in->src_addr, rte_cpu_to_be_32(b4));   /* B's request as B sent it */
		CU_ASSERT_EQUAL(in->dst_addr, rte_cpu_to_be_32(OUT4));
		CU_ASSERT_EQUAL(((const uint8_t *)(in + 1))[0], 8);
		CU_ASSERT_EQUAL(rte_be_to_cpu_16(*(const uint16_t *)((const uint8_t *)(in + 1) + 4)), 4242);
		CU_ASSERT_EQUAL(rte_raw_cksum(ip, 20), 0xffff);
		CU_ASSERT_EQUAL(rte_raw_cksum(in, 20), 0xffff);
		CU_ASSERT_EQUAL(rte_raw_cksum(icmp, 8 + 28), 0xffff);
	}
	rte_pktmbuf_free(m);

	/* about A's, whose identifier went out as it was: to A, untouched but its destination */
	m = error4_quoting(11, router4, echo4(up_mac, router_mac, NODE4, OUT4, 4242, 8, 63), 28);
	expect(m, P_UP, PSW_V_TX, P_A, "an error about A's echo");
	icmp = rte_pktmbuf_mtod_offset(m, uint8_t *, 14 + 20);
	CU_ASSERT_EQUAL(rte_be_to_cpu_16(*(const uint16_t *)(icmp + 8 + 20 + 4)), 4242);
	{
		uint32_t a;

		memcpy(&a, icmp + 8 + 12, 4);      /* 2-byte aligned only */
		CU_ASSERT_EQUAL(a, rte_cpu_to_be_32(A4));
	}
	rte_pktmbuf_free(m);

	/* about an identifier no echo went out with: to nobody */
	m = error4_quoting(11, router4, echo4(up_mac, router_mac, NODE4, OUT4, 999, 8, 63), 28);
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	meta = run(m, P_UP);
	CU_ASSERT(!(meta.verdict == PSW_V_TX && (meta.out_port == P_A || meta.out_port == P_B)));
	rte_pktmbuf_free(m);
}

/* ICMPv6 time exceeded from a router about B's echo request, which left with another identifier: to B. */
static void
test_egress6_echo_error_quoted(void)
{
	static const uint8_t router6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0x77, [15] = 0xfe };
	struct rte_mbuf *q, *m;
	struct rte_ipv6_hdr *ip, *in;
	uint8_t *icmp;
	unsigned quote = 40 + 8 + 18;
	uint16_t id;

	fresh();
	expect_frame(frame6(mac_a, gw_mac, IPPROTO_ICMPV6, a6, out6, 77, 0, 128, 64), P_A, P_UP,
		     frame6(up_mac, router_mac, IPPROTO_ICMPV6, node6, out6, 77, 0, 128, 63), "A's echo request");
	q = frame6(mac_b, gw_mac, IPPROTO_ICMPV6, b6, out6, 77, 0, 128, 64);
	expect(q, P_B, PSW_V_TX, P_UP, "B's echo request, the same identifier");
	id = echo_id(q, 40);
	CU_ASSERT(id != 77);
	m = error6_quoting(3, 0, router6, q, quote);        /* time exceeded */
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	expect(m, P_UP, PSW_V_TX, P_B, "time exceeded to B");
	ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv6_hdr *, 14);
	icmp = (uint8_t *)(ip + 1);
	in = (struct rte_ipv6_hdr *)(icmp + 8);
	CU_ASSERT_EQUAL(memcmp(ip->dst_addr, b6, 16), 0);
	CU_ASSERT_EQUAL(memcmp(in->src_addr, b6, 16), 0);
	CU_ASSERT_EQUAL(memcmp(in->dst_addr, out6, 16), 0);
	CU_ASSERT_EQUAL(((uint8_t *)(in + 1))[0], 128);
	CU_ASSERT_EQUAL(rte_be_to_cpu_16(*(uint16_t *)((uint8_t *)(in + 1) + 4)), 77);
	CU_ASSERT_EQUAL(tpkt_ip6_cksum_verify(ip, icmp), 0);
	rte_pktmbuf_free(m);
}

/* q's IPv4 packet made a later fragment (offset 1480, more to come), its header checksum right. */
static void
later_fragment4(struct rte_mbuf *q)
{
	struct rte_ipv4_hdr *ip = rte_pktmbuf_mtod_offset(q, struct rte_ipv4_hdr *, 14);

	ip->packet_id = RTE_BE16(0x5151);
	ip->fragment_offset = RTE_BE16(RTE_IPV4_HDR_MF_FLAG | (1480 / 8));
	ip->hdr_checksum = 0;
	ip->hdr_checksum = rte_ipv4_cksum(ip);
}

/*
 * An error quoting a *later* fragment quotes 8 bytes of its payload, not an
 * ICMP (or UDP) header: any pod sending a fragmented packet to the host B
 * pings, its later fragment's TTL run out at the first router (or too big
 * for its DF), has that router quote 8 bytes of its choosing, such as an
 * echo request with B's identifier. Linux's conntrack relates no error
 * quoting a later fragment (ipv4_get_l4proto). Neither B nor A gets it,
 * about an echo or a UDP flow.
 */
static void
test_egress_error_quoting_later_fragment(void)
{
	const uint32_t b4 = 0x0af4000bu;         /* 10.244.0.11 */
	const uint32_t router4 = 0xac1f6309u;    /* 172.31.99.9 */
	struct rte_mbuf *m, *q;
	struct psw_meta meta;

	fresh();
	expect_free(echo4(mac_b, gw_mac, b4, OUT4, 4242, 8, 64), P_B, PSW_V_TX, P_UP, "B's echo request");
	expect_free(frame4(mac_b, gw_mac, IPPROTO_UDP, b4, OUT4, 5353, 53, 64), P_B, PSW_V_TX, P_UP,
		    "B's UDP datagram");
	/* the same error about the first fragment is B's */
	q = echo4(up_mac, router_mac, NODE4, OUT4, 4242, 8, 63);
	first_fragment4(q);
	m = error4_quoting(11, router4, q, 28);
	expect_free(m, P_UP, PSW_V_TX, P_B, "time exceeded quoting B's echo's first fragment");
	/* a later fragment whose first 8 payload bytes look like B's echo request */
	q = echo4(up_mac, router_mac, NODE4, OUT4, 4242, 8, 63);
	later_fragment4(q);
	m = error4_quoting(11, router4, q, 28);
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	meta = run(m, P_UP);
	if (meta.verdict == PSW_V_TX && (meta.out_port == P_A || meta.out_port == P_B)) {
		fprintf(stderr, "\n  an error quoting a later fragment (echo) went to pod %u\n", meta.out_port);
		CU_FAIL("an error quoting a later fragment taken for B's echo");
	}
	rte_pktmbuf_free(m);
	/* ... or like B's UDP datagram's header */
	q = frame4(up_mac, router_mac, IPPROTO_UDP, NODE4, OUT4, 5353, 53, 63);
	later_fragment4(q);
	m = error4_quoting(11, router4, q, 28);
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	meta = run(m, P_UP);
	if (meta.verdict == PSW_V_TX && (meta.out_port == P_A || meta.out_port == P_B)) {
		fprintf(stderr, "\n  an error quoting a later fragment (UDP) went to pod %u\n", meta.out_port);
		CU_FAIL("an error quoting a later fragment taken for B's UDP flow");
	}
	rte_pktmbuf_free(m);
}

/*
 * The echo a translated error quotes is the one its pod sent, checksum
 * included (a whole echo is quoted: a 64-byte ping fits in any error), as
 * Linux's nf_nat_icmp_reply_translation leaves it: its identifier (IPv4)
 * and, for ICMPv6, the addresses of its pseudo-header changed back.
 */
static void
test_egress_echo_error_quoted_cksum(void)
{
	static const uint8_t router6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0x77, [15] = 0xfe };
	const uint32_t b4 = 0x0af4000bu;         /* 10.244.0.11 */
	const uint32_t router4 = 0xac1f6309u;    /* 172.31.99.9 */
	unsigned quote = 40 + 8 + 18;
	struct rte_ipv6_hdr *ip, *in;
	struct rte_mbuf *m, *q;
	uint8_t *icmp;

	fresh();
	expect_free(echo4(mac_a, gw_mac, A4, OUT4, 4242, 8, 64), P_A, PSW_V_TX, P_UP, "A's echo request");
	q = echo4(mac_b, gw_mac, b4, OUT4, 4242, 8, 64);
	expect(q, P_B, PSW_V_TX, P_UP, "B's echo request, the same identifier");
	CU_ASSERT(echo_id(q, 20) != 4242);
	m = error4_quoting(3, router4, q, 20 + 8 + 18);
	expect(m, P_UP, PSW_V_TX, P_B, "unreachable quoting B's whole echo");
	icmp = rte_pktmbuf_mtod_offset(m, uint8_t *, 14 + 20);
	CU_ASSERT_EQUAL(rte_be_to_cpu_16(*(const uint16_t *)(icmp + 8 + 20 + 4)), 4242);
	CU_ASSERT_EQUAL(rte_raw_cksum(icmp, 8 + 20 + 8 + 18), 0xffff);
	if (rte_raw_cksum(icmp + 8 + 20, 8 + 18) != 0xffff)
		CU_FAIL("the quoted IPv4 echo's checksum is not B's echo's");
	rte_pktmbuf_free(m);

	/* IPv6: B's echo left with the node's address and another identifier */
	expect_free(frame6(mac_a, gw_mac, IPPROTO_ICMPV6, a6, out6, 77, 0, 128, 64), P_A, PSW_V_TX, P_UP,
		    "A's ICMPv6 echo request");
	q = frame6(mac_b, gw_mac, IPPROTO_ICMPV6, b6, out6, 77, 0, 128, 64);
	expect(q, P_B, PSW_V_TX, P_UP, "B's ICMPv6 echo request, the same identifier");
	m = error6_quoting(1, 0, router6, q, quote);        /* unreachable */
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	expect(m, P_UP, PSW_V_TX, P_B, "ICMPv6 unreachable to B");
	ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv6_hdr *, 14);
	icmp = (uint8_t *)(ip + 1);
	in = (struct rte_ipv6_hdr *)(icmp + 8);
	CU_ASSERT_EQUAL(memcmp(in->src_addr, b6, 16), 0);
	CU_ASSERT_EQUAL(rte_be_to_cpu_16(*(uint16_t *)((uint8_t *)(in + 1) + 4)), 77);
	CU_ASSERT_EQUAL(tpkt_ip6_cksum_verify(ip, icmp), 0);
	if (tpkt_ip6_cksum_verify(in, in + 1) != 0)
		CU_FAIL("the quoted ICMPv6 echo's checksum is not B's echo's");
	rte_pktmbuf_free(m);
}

/*
 * Errors about B's masqueraded echo that must not reach it (or A): one
 * quoting it as an echo *reply*, one quoting it as ICMPv6 (protocol 58) in
 * IPv4, one quoting only 4 bytes of it, one from pod A (a pod may complain
 * only about packets sent to it). One whose quote has IPv4 options reaches
 * B, every checksum right.
 */
static void
test_egress_echo_error_forged(void)
{
	const uint32_t b4 = 0x0af4000bu;         /* 10.244.0.11 */
	const uint32_t router4 = 0xac1f6309u;    /* 172.31.99.9 */
	struct rte_mbuf *m, *q;
	struct rte_ipv4_hdr *in;
	struct psw_meta meta;
	uint8_t *icmp, *d;
	uint16_t id, c;
	unsigned i;

	fresh();
	expect_free(echo4(mac_a, gw_mac, A4, OUT4, 4242, 8, 64), P_A, PSW_V_TX, P_UP, "A's echo request");
	q = echo4(mac_b, gw_mac, b4, OUT4, 4242, 8, 64);
	expect(q, P_B, PSW_V_TX, P_UP, "B's echo request, the same identifier");
	id = echo_id(q, 20);
	rte_pktmbuf_free(q);
	for (i = 0; i < 4; i++) {
		q = echo4(up_mac, router_mac, NODE4, OUT4, id, i == 0 ? 0 : 8, 63);
		CU_ASSERT_PTR_NOT_NULL_FATAL(q);
		in = rte_pktmbuf_mtod_offset(q, struct rte_ipv4_hdr *, 14);
		if (i == 1) {
			in->next_proto_id = IPPROTO_ICMPV6;
			in->hdr_checksum = 0;
			in->hdr_checksum = rte_ipv4_cksum(in);
		}
		m = error4_quoting(3, router4, q, i == 2 ? 24 : 28);
		CU_ASSERT_PTR_NOT_NULL_FATAL(m);
		if (i == 3) {
			/* from pod A, to the node: A's address as its source */
			struct rte_ipv4_hdr *ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, 14);

			memcpy(rte_pktmbuf_mtod(m, uint8_t *), gw_mac, 6);
			memcpy(rte_pktmbuf_mtod(m, uint8_t *) + 6, mac_a, 6);
			ip->src_addr = rte_cpu_to_be_32(A4);
			ip->hdr_checksum = 0;
			ip->hdr_checksum = rte_ipv4_cksum(ip);
		}
		meta = run(m, i == 3 ? P_A : P_UP);
		if (meta.verdict == PSW_V_TX && (meta.out_port == P_A || meta.out_port == P_B)) {
			fprintf(stderr, "\n  forged error %u went to pod %u\n", i, meta.out_port);
			CU_FAIL("a forged error about B's echo reached a pod");
		}
		rte_pktmbuf_free(m);
	}
	/* B's echo quoted with 4 bytes of IPv4 options (NOPs): to B, translated */
	q = echo4(up_mac, router_mac, NODE4, OUT4, id, 8, 63);
	m = error4_quoting(11, router4, q, 32);
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	icmp = rte_pktmbuf_mtod_offset(m, uint8_t *, 14 + 20);
	d = icmp + 8;
	memmove(d + 24, d + 20, 8);
	memset(d + 20, 1, 4);
	d[0] = 0x46;
	in = (struct rte_ipv4_hdr *)d;
	in->total_length = rte_cpu_to_be_16(rte_be_to_cpu_16(in->total_length) + 4);
	in->hdr_checksum = 0;
	in->hdr_checksum = rte_ipv4_cksum(in);
	icmp[2] = icmp[3] = 0;
	c = (uint16_t)~rte_raw_cksum(icmp, 8 + 32);
	memcpy(icmp + 2, &c, 2);
	expect(m, P_UP, PSW_V_TX, P_B, "an error quoting B's echo with IPv4 options");
	CU_ASSERT_EQUAL(in->src_addr, rte_cpu_to_be_32(b4));
	CU_ASSERT_EQUAL(rte_be_to_cpu_16(*(const uint16_t *)(d + 24 + 4)), 4242);
	CU_ASSERT_EQUAL(rte_raw_cksum(d, 24), 0xffff);
	CU_ASSERT_EQUAL(rte_raw_cksum(icmp, 8 + 32), 0xffff);
	CU_ASSERT_EQUAL(rte_raw_cksum(rte_pktmbuf_mtod_offset(m, uint8_t *, 14), 20), 0xffff);
	rte_pktmbuf_free(m);
}

/* The cluster's pods elsewhere and no_masquerade keep the pod's address. */
static void
test_egress6_not_masqueraded(void)
{
	fresh();
	expect_frame(frame6(mac_a, gw_mac, IPPROTO_UDP, a6, far_pod6, 40002, 53, 0, 64), P_A, P_UP,
		     frame6(up_mac, router_mac, IPPROTO_UDP, a6, far_pod6, 40002, 53, 0, 63),
		     "to a pod of another node");
	expect_frame(frame6(mac_a, gw_mac, IPPROTO_UDP, a6, nomasq6, 40002, 53, 0, 64), P_A, P_UP,
		     frame6(up_mac, router_mac, IPPROTO_UDP, a6, nomasq6, 40002, 53, 0, 63),
		     "to a no_masquerade prefix");
	/* an address of the IPv6 service CIDR without a Service is not the world's */
	expect_frame(frame6(mac_a, gw_mac, IPPROTO_UDP, a6, svc6_none, 40002, 53, 0, 64), P_A, P_UP,
		     frame6(up_mac, router_mac, IPPROTO_UDP, a6, svc6_none, 40002, 53, 0, 63),
		     "to the IPv6 service CIDR");
	CU_ASSERT_EQUAL(lc.sc.events[PSW_EV_MASQ], 0);
}

/*
 * An ICMPv6 packet too big from a router beyond the uplink about a
 * masqueraded connection: to the pod, quoting the pod's own packet.
 */
static void
test_egress6_packet_too_big(void)
{
	static const uint8_t router6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0x77, [15] = 0xfe };
	struct rte_mbuf *syn, *m;
	struct rte_ipv6_hdr *ip, *in;
	uint8_t *icmp, sent[20];
	unsigned quote = 40 + 20;
	uint16_t port;

	fresh();
	syn = frame6(mac_a, gw_mac, IPPROTO_TCP, a6, out6, 40003, 443, RTE_TCP_SYN_FLAG, 64);
	memcpy(sent, rte_pktmbuf_mtod_offset(syn, void *, 14 + 40), 20);   /* its TCP header as the pod sent it */
	expect(syn, P_A, PSW_V_TX, P_UP, "SYN out");
	port = sport6(syn, NULL);
	m = error6_quoting(2, 1280, router6, syn, quote);     /* packet too big, MTU 1280, quoting the SYN as it left */
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	expect(m, P_UP, PSW_V_TX, P_A, "packet too big to the pod");
	ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv6_hdr *, 14);
	icmp = (uint8_t *)(ip + 1);
	in = (struct rte_ipv6_hdr *)(icmp + 8);
	CU_ASSERT_EQUAL(memcmp(ip->dst_addr, a6, 16), 0);
	CU_ASSERT_EQUAL(memcmp(ip->src_addr, router6, 16), 0);
	CU_ASSERT_EQUAL(memcmp(in->src_addr, a6, 16), 0);
	CU_ASSERT_EQUAL(memcmp(in->dst_addr, out6, 16), 0);
	CU_ASSERT_EQUAL(rte_be_to_cpu_16(*(uint16_t *)(in + 1)), 40003);
	CU_ASSERT_EQUAL(memcmp(in + 1, sent, 20), 0);       /* the quoted TCP header, checksum included */
	CU_ASSERT_EQUAL(tpkt_ip6_cksum_verify(ip, icmp), 0);
	CU_ASSERT_EQUAL(port, 40003);
	rte_pktmbuf_free(m);
}

/* What cannot be tracked never leaves with a pod's address. */
static void
test_egress6_untracked_dropped(void)
{
	struct psw_burst b = { .nb = 0 };
	uint64_t expired;
	struct rte_mbuf *m;
	struct rte_ipv6_hdr *ip;
	uint8_t *fh;

	fresh();
	expect_free(frame6(mac_a, gw_mac, IPPROTO_TCP, a6, out6, 40004, 443, RTE_TCP_ACK_FLAG, 64), P_A,
		    PSW_V_DROP, PSW_DROP_CT_INVALID, "an ACK of no connection");
	/* another protocol (GRE) */
	m = frame6(mac_a, gw_mac, 47, a6, out6, 0, 0, 0, 64);
	expect_free(m, P_A, PSW_V_DROP, PSW_DROP_MASQ_UNTRACKED, "GRE out");
	/* a later fragment: a UDP frame whose L4 header becomes a fragment header, offset 8 */
	m = frame6(mac_a, gw_mac, IPPROTO_UDP, a6, out6, 40005, 53, 0, 64);
	ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv6_hdr *, 14);
	fh = (uint8_t *)(ip + 1);
	ip->proto = 44;
	memset(fh, 0, 8);
	fh[0] = IPPROTO_UDP;
	fh[3] = 8;                               /* offset 1 (8 bytes), last fragment */
	fh[7] = 1;                               /* identification */
	/* held for its first fragment (only masquerade would take it out), which never comes */
	expired = lc.sc.drops[PSW_DROP_FRAG_NO_FIRST];
	b.nb = 1;
	b.pkts[0] = m;
	memset(&b.meta[0], 0, sizeof(b.meta[0]));
	b.meta[0].in_port = P_A;
	psw_worker_process(&lc, t, &b);
	CU_ASSERT_EQUAL(b.meta[0].verdict, PSW_V_HOLD);
	psw_worker_dispatch(&lc, &b);           /* the hold takes it */
	b.nb = 0;
	CU_ASSERT_EQUAL(lc.frag_cache.hold.nb, 1);
	psw_worker_frag_run(&lc, t, &b, rte_rdtsc() + rte_get_tsc_hz() / 1000 * (PSW_FRAG_HOLD_MS + 1));
	CU_ASSERT_EQUAL(lc.frag_cache.hold.nb, 0);
	CU_ASSERT_EQUAL(lc.sc.drops[PSW_DROP_FRAG_NO_FIRST], expired + 1);
}

/* A connection from outside to a pod is tracked: its replies keep the pod's address. */
static void
test_inbound6_not_masqueraded(void)
{
	fresh();
	expect_frame(frame6(router_mac, up_mac, IPPROTO_TCP, client6, a6, 5000, 8080, RTE_TCP_SYN_FLAG, 64),
		     P_UP, P_A, frame6(gw_mac, mac_a, IPPROTO_TCP, client6, a6, 5000, 8080, RTE_TCP_SYN_FLAG, 63),
		     "SYN in");
	expect_frame(frame6(mac_a, gw_mac, IPPROTO_TCP, a6, client6, 8080, 5000,
			    RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG, 64), P_A, P_UP,
		     frame6(up_mac, router_mac, IPPROTO_TCP, a6, client6, 8080, 5000,
			    RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG, 63), "SYN-ACK out, the pod's own address");
	CU_ASSERT_EQUAL(lc.sc.events[PSW_EV_MASQ], 0);
}

/* IPv4 beside it: masqueraded to the IPv4 address; no_masquerade kept; IPv6 off leaves IPv4 on. */
static void
test_egress4_and_masq6_off(void)
{
	uint8_t masq6 = t->node.masq6;

	fresh();
	expect_frame(frame4(mac_a, gw_mac, IPPROTO_UDP, A4, OUT4, 40006, 53, 64), P_A, P_UP,
		     frame4(up_mac, router_mac, IPPROTO_UDP, NODE4, OUT4, 40006, 53, 63), "IPv4 UDP out");
	expect_frame(frame4(router_mac, up_mac, IPPROTO_UDP, OUT4, NODE4, 53, 40006, 64), P_UP, P_A,
		     frame4(gw_mac, mac_a, IPPROTO_UDP, OUT4, A4, 53, 40006, 63), "IPv4 UDP answer");
	expect_frame(frame4(mac_a, gw_mac, IPPROTO_UDP, A4, NOMASQ4, 40006, 53, 64), P_A, P_UP,
		     frame4(up_mac, router_mac, IPPROTO_UDP, A4, NOMASQ4, 40006, 53, 63), "IPv4 no_masquerade");
	/* masquerade off for IPv6 (no IPv6 node address): the pod's own address */
	t->node.masq6 = 0;
	expect_frame(frame6(mac_a, gw_mac, IPPROTO_UDP, a6, out6, 40007, 53, 0, 64), P_A, P_UP,
		     frame6(up_mac, router_mac, IPPROTO_UDP, a6, out6, 40007, 53, 0, 63), "IPv6 with masq6 off");
	expect_frame(frame4(mac_a, gw_mac, IPPROTO_UDP, A4, OUT4, 40007, 53, 64), P_A, P_UP,
		     frame4(up_mac, router_mac, IPPROTO_UDP, NODE4, OUT4, 40007, 53, 63), "IPv4 with masq6 off");
	t->node.masq6 = masq6;
	CU_ASSERT_EQUAL(lc.sc.events[PSW_EV_MASQ], 2);
}

/*
 * From outside over IPv6, policy Cluster: a NodePort on the node's IPv6
 * address and an external IP masquerade the client to the node's IPv6
 * address; two clients with one source port do not clash.
 */
static void
test_nodeport6_masquerades_clients(void)
{
	struct rte_mbuf *m;
	uint8_t src[16];
	uint16_t port;

	fresh();
	expect_frame(frame6(router_mac, up_mac, IPPROTO_TCP, client6, node6, 5555, NODEPORT, RTE_TCP_SYN_FLAG, 64),
		     P_UP, P_B, frame6(gw_mac, mac_b, IPPROTO_TCP, node6, b6, 5555, 8080, RTE_TCP_SYN_FLAG, 63),
		     "NodePort SYN, masqueraded to the node's IPv6 address");
	m = frame6(router_mac, up_mac, IPPROTO_TCP, client6b, node6, 5555, NODEPORT, RTE_TCP_SYN_FLAG, 64);
	expect(m, P_UP, PSW_V_TX, P_B, "second client, same source port");
	port = sport6(m, src);
	CU_ASSERT_EQUAL(memcmp(src, node6, 16), 0);
	CU_ASSERT(port != 5555 && port >= PSW_SNAT_PORT_MIN && port < PSW_SNAT_PORT_MIN + PSW_SNAT_PORT_SPAN);
	rte_pktmbuf_free(m);
	expect_frame(frame6(mac_b, gw_mac, IPPROTO_TCP, b6, node6, 8080, port,
			    RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG, 64), P_B, P_UP,
		     frame6(up_mac, router_mac, IPPROTO_TCP, node6, client6b, NODEPORT, 5555,
			    RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG, 63), "the second client's SYN-ACK");
	expect_frame(frame6(router_mac, up_mac, IPPROTO_TCP, client6, ext_ip6, 6000, 80, RTE_TCP_SYN_FLAG, 64),
		     P_UP, P_B, frame6(gw_mac, mac_b, IPPROTO_TCP, node6, b6, 6000, 8080, RTE_TCP_SYN_FLAG, 63),
		     "external IP SYN, masqueraded to the node's IPv6 address");
}

int
main(void)
{
	CU_pSuite s;
	unsigned failures;

	mp = psw_ut_eal("masq", 2048);
	if (mp == NULL)
		return 1;
	psw_lcore_init(&lc);
	if (setup() != 0) {
		fprintf(stderr, "test_masq: setup failed\n");
		return 1;
	}
	CU_initialize_registry();
	s = CU_add_suite("masquerade", NULL, NULL);
	CU_add_test(s, "tables from the configuration, per family", test_tables_from_config);
	CU_add_test(s, "IPv6 TCP out masqueraded, the reply back", test_egress6_tcp);
	CU_add_test(s, "IPv6: two pods, one source port, no clash", test_egress6_ports_never_clash);
	CU_add_test(s, "IPv6 UDP and echo masqueraded", test_egress6_udp_and_echo);
	CU_add_test(s, "two pods, one echo identifier, one host: no clash", test_egress_echo_ids_never_clash);
	CU_add_test(s, "a pod's unsolicited echo reply opens no masquerade", test_egress_echo_reply_opens_nothing);
	CU_add_test(s, "every echo identifier taken: a clash, nothing left", test_egress_echo_ids_exhausted);
	CU_add_test(s, "an error quoting a masqueraded echo reaches its pod, translated", test_egress_echo_error_quoted);
	CU_add_test(s, "fragmented echoes with another identifier", test_egress_echo_realloc_fragments);
	CU_add_test(s, "an ICMPv6 error quoting a masqueraded echo reaches its pod", test_egress6_echo_error_quoted);
	CU_add_test(s, "an error quoting a later fragment is nobody's", test_egress_error_quoting_later_fragment);
	CU_add_test(s, "a translated error quotes the echo with its checksum", test_egress_echo_error_quoted_cksum);
	CU_add_test(s, "forged errors about an echo reach no pod; IPv4 options in the quote", test_egress_echo_error_forged);
	CU_add_test(s, "IPv6 to the cluster's pods and no_masquerade: not masqueraded", test_egress6_not_masqueraded);
	CU_add_test(s, "ICMPv6 packet too big back to the pod", test_egress6_packet_too_big);
	CU_add_test(s, "IPv6 untracked out: dropped and counted", test_egress6_untracked_dropped);
	CU_add_test(s, "IPv6 from outside to a pod: replies keep its address", test_inbound6_not_masqueraded);
	CU_add_test(s, "IPv4 beside IPv6; IPv6 off", test_egress4_and_masq6_off);
	CU_add_test(s, "IPv6 NodePort and external IP masquerade clients", test_nodeport6_masquerades_clients);
	failures = (unsigned)psw_ut_run();
	psw_ct_destroy(t->ct);
	psw_svc_table_destroy(t->svcs);
	psw_pod_table_put(t->pods);
	psw_route_table_put(t->routes);
	rte_free(t);
	psw_config_free(&cfg);
	psw_ut_eal_fini();
	return failures ? 1 : 0;
}
