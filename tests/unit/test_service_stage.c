/*
 * The conntrack and service stages on crafted packets (EAL --no-huge): every
 * frame the pipeline emits is compared byte for byte with a frame built from
 * scratch (so the incremental checksum updates are checked against full
 * ones): DNAT of a SYN, un-NAT of the SYN-ACK, DNAT of the next packet, an
 * ICMP error NAT-ed back, a TCP RST for a Service without endpoints, and
 * invalid TCP dropped; connections and affinity records idle past their
 * timeouts treated as gone (their idle time set by moving last_seen back).
 */
#define PSW_UT_EAL
#include <stdio.h>
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

#define CLIENT 0x0af4000au       /* 10.244.0.10, port 0 */
#define BACKEND 0x0af4000bu      /* 10.244.0.11, port 1 */
#define VIP 0x0a600010u          /* 10.96.0.16 */
#define EMPTY_VIP 0x0a600011u    /* a Service without endpoints */
#define AFF_VIP 0x0a600012u      /* sessionAffinity ClientIP, timeoutSeconds 3; backend ports 8080-8082 */

static struct rte_mempool *mp;
static struct psw_tables *t;
static struct psw_lcore lc;
static const uint8_t gw_mac[6] = { 0x02, 0x50, 0x53, 0x57, 0x00, 0x01 };
static const uint8_t mac_c[6] = { 2, 0, 0, 0, 0, 0x0a }, mac_b[6] = { 2, 0, 0, 0, 0, 0x0b };

static struct psw_svc_key
svc_key(uint32_t vip, uint8_t proto, uint16_t port)
{
	struct psw_svc_key k;

	memset(&k, 0, sizeof(k));
	k.family = 4;
	k.proto = proto;
	k.port = rte_cpu_to_be_16(port);
	vip = rte_cpu_to_be_32(vip);
	memcpy(k.addr, &vip, 4);
	return k;
}

/* A Service table holding these entries (tests and benchmarks build it directly). */
static struct psw_svc_table *
svcs_from(const struct psw_svc_spec *specs, unsigned n)
{
	struct psw_svc_table *s = psw_svc_table_create(1024, SOCKET_ID_ANY);
	unsigned i;

	for (i = 0; s != NULL && i < n; i++)
		if (psw_svc_table_set(s, psw_svc_port_build(&specs[i], 0, SOCKET_ID_ANY)) < 0)
			return NULL;
	return s;
}

static int
setup(void)
{
	struct psw_pod pods[2] = { 0 };
	struct psw_svc_backend be = { .family = 4, .local = 1 }, aff_be[3];
	struct psw_svc_spec specs[5];
	uint32_t b = rte_cpu_to_be_32(BACKEND);

	t = psw_tables_alloc();
	t->node.gw4 = rte_cpu_to_be_32(0x0af40001);
	memcpy(&t->node.gw_mac, gw_mac, 6);
	t->node.pod_net4 = rte_cpu_to_be_32(0x0af40000);
	t->node.pod_mask4 = rte_cpu_to_be_32(0xffffff00);
	t->ports[0] = (struct psw_port_info){ .present = 1, .is_pod = 1, .pod = 0 };
	t->ports[1] = (struct psw_port_info){ .present = 1, .is_pod = 1, .pod = 1 };
	memcpy(&pods[0].nh.mac, mac_c, 6);
	pods[0].nh.port = 0;
	pods[0].has_ip4 = 1;
	pods[0].ip4 = rte_cpu_to_be_32(CLIENT);
	memcpy(&pods[1].nh.mac, mac_b, 6);
	pods[1].nh.port = 1;
	pods[1].has_ip4 = 1;
	pods[1].ip4 = b;
	t->pods = psw_pod_table_build(pods, 2, SOCKET_ID_ANY);
	t->routes = psw_route_table_build(NULL, 0, SOCKET_ID_ANY);
	be.port = rte_cpu_to_be_16(8080);
	memcpy(be.addr, &b, 4);
	memset(specs, 0, sizeof(specs));
	specs[0].key = svc_key(VIP, IPPROTO_TCP, 80);
	specs[0].cslot = 5;
	specs[0].nb_backends = 1;
	specs[0].backends = &be;
	specs[1].key = svc_key(EMPTY_VIP, IPPROTO_TCP, 80);
	specs[2].key = svc_key(VIP, IPPROTO_UDP, 53);
	specs[2].nb_backends = 1;
	specs[2].backends = &be;
	for (unsigned i = 0; i < 3; i++) {
		aff_be[i] = be;
		aff_be[i].port = rte_cpu_to_be_16((uint16_t)(8080 + i));
	}
	specs[3].key = svc_key(AFF_VIP, IPPROTO_TCP, 80);
	specs[3].flags = PSW_SVC_F_AFFINITY;
	specs[3].affinity_s = 3;
	specs[3].nb_backends = 3;
	specs[3].backends = aff_be;
	specs[4] = specs[0];                     /* VIP:81, the same backend as VIP:80 */
	specs[4].key = svc_key(VIP, IPPROTO_TCP, 81);
	specs[4].cslot = 12;
	t->svcs = svcs_from(specs, 5);
	t->ct = psw_ct_create(1024, SOCKET_ID_ANY, psw_tables_qsbr());
	return mp == NULL || t->pods == NULL || t->svcs == NULL || t->ct == NULL;
}

static int
teardown(void)
{
	psw_ct_destroy(t->ct);
	psw_svc_table_destroy(t->svcs);
	psw_pod_table_put(t->pods);
	psw_route_table_put(t->routes);
	rte_free(t);
	return 0;
}

static struct tpkt
tcp(const uint8_t *src_mac, const uint8_t *dst_mac, uint32_t src, uint32_t dst, uint16_t sport,
    uint16_t dport, uint8_t ttl)
{
	struct tpkt p;

	tpkt_defaults(&p);
	p.proto = IPPROTO_TCP;
	memcpy(p.src_mac, src_mac, 6);
	memcpy(p.dst_mac, dst_mac, 6);
	p.src4 = src;
	p.dst4 = dst;
	p.sport = sport;
	p.dport = dport;
	p.ttl = ttl;
	p.payload = 4;
	return p;
}

/* Build a TCP frame with these flags / seq / ack and a valid checksum. */
static struct rte_mbuf *
tcp_frame(const struct tpkt *p, uint8_t flags, uint32_t seq, uint32_t ack)
{
	struct rte_mbuf *m = tpkt_build(mp, p);
	struct rte_ipv4_hdr *ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, 14);
	struct rte_tcp_hdr *th = (struct rte_tcp_hdr *)(ip + 1);

	th->tcp_flags = flags;
	th->sent_seq = rte_cpu_to_be_32(seq);
	th->recv_ack = rte_cpu_to_be_32(ack);
	th->cksum = 0;
	th->cksum = rte_ipv4_udptcp_cksum(ip, th);
	return m;
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
same_frame(struct rte_mbuf *got, struct rte_mbuf *want)
{
	CU_ASSERT_EQUAL(rte_pktmbuf_data_len(got), rte_pktmbuf_data_len(want));
	if (rte_pktmbuf_data_len(got) == rte_pktmbuf_data_len(want) &&
	    memcmp(rte_pktmbuf_mtod(got, void *), rte_pktmbuf_mtod(want, void *),
		   rte_pktmbuf_data_len(want)) != 0) {
		unsigned i;

		fprintf(stderr, "\n  frame differs:\n  got ");
		for (i = 0; i < rte_pktmbuf_data_len(got); i++)
			fprintf(stderr, "%02x", rte_pktmbuf_mtod(got, uint8_t *)[i]);
		fprintf(stderr, "\n  want ");
		for (i = 0; i < rte_pktmbuf_data_len(want); i++)
			fprintf(stderr, "%02x", rte_pktmbuf_mtod(want, uint8_t *)[i]);
		fprintf(stderr, "\n");
		CU_FAIL("frames differ");
	}
}

static void
test_invalid_tcp_dropped(void)
{
	struct tpkt p = tcp(mac_c, gw_mac, CLIENT, VIP, 40001, 80, 64);
	struct rte_mbuf *m = tcp_frame(&p, RTE_TCP_ACK_FLAG, 1, 1);
	struct psw_meta meta = run(m, 0);

	CU_ASSERT_EQUAL(meta.verdict, PSW_V_DROP);
	CU_ASSERT_EQUAL(meta.drop_reason, PSW_DROP_CT_INVALID);
	rte_pktmbuf_free(m);
}

static void
test_dnat_and_un_nat_byte_exact(void)
{
	struct tpkt p = tcp(mac_c, gw_mac, CLIENT, VIP, 40000, 80, 64), w;
	struct rte_mbuf *m, *want;
	struct psw_meta meta;

	/* SYN to the ClusterIP leaves for the backend, DNAT-ed */
	m = tcp_frame(&p, RTE_TCP_SYN_FLAG, 1000, 0);
	meta = run(m, 0);
	CU_ASSERT_EQUAL_FATAL(meta.verdict, PSW_V_TX);
	CU_ASSERT_EQUAL(meta.out_port, 1);
	w = tcp(gw_mac, mac_b, CLIENT, BACKEND, 40000, 8080, 63);
	want = tcp_frame(&w, RTE_TCP_SYN_FLAG, 1000, 0);
	same_frame(m, want);
	rte_pktmbuf_free(m);
	rte_pktmbuf_free(want);
	/* the backend's SYN-ACK comes back from the ClusterIP */
	p = tcp(mac_b, gw_mac, BACKEND, CLIENT, 8080, 40000, 64);
	m = tcp_frame(&p, RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG, 5000, 1001);
	meta = run(m, 1);
	CU_ASSERT_EQUAL_FATAL(meta.verdict, PSW_V_TX);
	CU_ASSERT_EQUAL(meta.out_port, 0);
	w = tcp(gw_mac, mac_c, VIP, CLIENT, 80, 40000, 63);
	want = tcp_frame(&w, RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG, 5000, 1001);
	same_frame(m, want);
	rte_pktmbuf_free(m);
	rte_pktmbuf_free(want);
	/* the client's ACK: a known connection, DNAT-ed by conntrack alone */
	p = tcp(mac_c, gw_mac, CLIENT, VIP, 40000, 80, 64);
	m = tcp_frame(&p, RTE_TCP_ACK_FLAG, 1001, 5001);
	meta = run(m, 0);
	CU_ASSERT_EQUAL_FATAL(meta.verdict, PSW_V_TX);
	CU_ASSERT(meta.ct != 0);
	w = tcp(gw_mac, mac_b, CLIENT, BACKEND, 40000, 8080, 63);
	want = tcp_frame(&w, RTE_TCP_ACK_FLAG, 1001, 5001);
	same_frame(m, want);
	rte_pktmbuf_free(m);
	rte_pktmbuf_free(want);
}

/*
 * One client port to one backend through two Service ports: the second
 * connection's reply tuple is the first's, so it keeps the client's address
 * but gets another port (as Linux's conntrack does), both ways byte-exact.
 */
static void
test_two_service_ports_one_backend_one_client_port(void)
{
	struct tpkt p = tcp(mac_c, gw_mac, CLIENT, VIP, 40300, 80, 64), w;
	struct rte_mbuf *m, *want;
	struct psw_meta meta;
	uint16_t port;

	m = tcp_frame(&p, RTE_TCP_SYN_FLAG, 100, 0);
	meta = run(m, 0);
	CU_ASSERT_EQUAL(meta.verdict, PSW_V_TX);
	w = tcp(gw_mac, mac_b, CLIENT, BACKEND, 40300, 8080, 63);
	want = tcp_frame(&w, RTE_TCP_SYN_FLAG, 100, 0);
	same_frame(m, want);
	rte_pktmbuf_free(m);
	rte_pktmbuf_free(want);
	/* the same client port to VIP:81: not a ct_clash, another source port */
	p = tcp(mac_c, gw_mac, CLIENT, VIP, 40300, 81, 64);
	m = tcp_frame(&p, RTE_TCP_SYN_FLAG, 200, 0);
	meta = run(m, 0);
	CU_ASSERT_EQUAL_FATAL(meta.verdict, PSW_V_TX);
	port = rte_be_to_cpu_16(rte_pktmbuf_mtod_offset(m, struct rte_tcp_hdr *, 34)->src_port);
	CU_ASSERT(port != 40300 && port >= PSW_SNAT_PORT_MIN);
	w = tcp(gw_mac, mac_b, CLIENT, BACKEND, port, 8080, 63);
	want = tcp_frame(&w, RTE_TCP_SYN_FLAG, 200, 0);
	same_frame(m, want);
	rte_pktmbuf_free(m);
	rte_pktmbuf_free(want);
	/* the backend's answer to that port comes back from VIP:81 to the client's own port */
	p = tcp(mac_b, gw_mac, BACKEND, CLIENT, 8080, port, 64);
	m = tcp_frame(&p, RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG, 7000, 201);
	meta = run(m, 1);
	CU_ASSERT_EQUAL_FATAL(meta.verdict, PSW_V_TX);
	w = tcp(gw_mac, mac_c, VIP, CLIENT, 81, 40300, 63);
	want = tcp_frame(&w, RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG, 7000, 201);
	same_frame(m, want);
	rte_pktmbuf_free(m);
	rte_pktmbuf_free(want);
	/* and the first connection's answer still to VIP:80 */
	p = tcp(mac_b, gw_mac, BACKEND, CLIENT, 8080, 40300, 64);
	m = tcp_frame(&p, RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG, 6000, 101);
	meta = run(m, 1);
	CU_ASSERT_EQUAL_FATAL(meta.verdict, PSW_V_TX);
	w = tcp(gw_mac, mac_c, VIP, CLIENT, 80, 40300, 63);
	want = tcp_frame(&w, RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG, 6000, 101);
	same_frame(m, want);
	rte_pktmbuf_free(m);
	rte_pktmbuf_free(want);
}

/*
 * A Service's packets and bytes (IP length) are counted to its slot, both
 * ways, by whichever stage NAT-s them: the SYN by the service stage, the
 * rest by conntrack. Its slot waits for a whole expiry pass without any of
 * its connections before another Service may have it.
 */
static void
test_service_packets_counted(void)
{
	struct { uint8_t flags; uint32_t seq, ack; int from_backend; } seq[] = {
		{ RTE_TCP_SYN_FLAG, 2000, 0, 0 },
		{ RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG, 9000, 2001, 1 },
		{ RTE_TCP_ACK_FLAG, 2001, 9001, 0 },
		{ RTE_TCP_ACK_FLAG, 2005, 9001, 0 },
	};
	struct psw_svc_counts *c;
	struct rte_mbuf *m;
	struct psw_meta meta;
	uint32_t since;
	unsigned i, len = 0;

	lc.sc.svc = rte_zmalloc("svc", PSW_SVC_MAX_SLOTS * sizeof(*lc.sc.svc), 0);
	CU_ASSERT_FATAL(lc.sc.svc != NULL);
	c = &lc.sc.svc[5];
	for (i = 0; i < RTE_DIM(seq); i++) {
		struct tpkt p = seq[i].from_backend ? tcp(mac_b, gw_mac, BACKEND, CLIENT, 8080, 40100, 64)
						    : tcp(mac_c, gw_mac, CLIENT, VIP, 40100, 80, 64);

		m = tcp_frame(&p, seq[i].flags, seq[i].seq, seq[i].ack);
		len = rte_pktmbuf_pkt_len(m) - 14;
		meta = run(m, seq[i].from_backend ? 1 : 0);
		CU_ASSERT_EQUAL(meta.verdict, PSW_V_TX);
		rte_pktmbuf_free(m);
	}
	CU_ASSERT_EQUAL(c->connections, 1);
	CU_ASSERT_EQUAL(c->packets[0], 3);
	CU_ASSERT_EQUAL(c->packets[1], 1);
	CU_ASSERT_EQUAL(c->bytes[0], 3 * len);
	CU_ASSERT_EQUAL(c->bytes[1], len);
	/* pod to pod, no Service: nothing counted anywhere */
	{
		struct tpkt p = tcp(mac_c, gw_mac, CLIENT, BACKEND, 40101, 8080, 64);

		m = tcp_frame(&p, RTE_TCP_SYN_FLAG, 1, 0);
		run(m, 0);
		rte_pktmbuf_free(m);
		CU_ASSERT_EQUAL(c->packets[0], 3);
		CU_ASSERT_EQUAL(lc.sc.svc[0].packets[0], 0);
	}
	/* the slot, let go now, drains: not while the connection is there */
	since = t->ct->passes;
	for (i = 0; i < 3; i++)                  /* (at most a pass a call) */
		psw_ct_expire(t->ct, t->ct->size, false);
	CU_ASSERT_FALSE(psw_ct_slot_drained(t->ct, 5, since));
	CU_ASSERT_TRUE(psw_ct_slot_drained(t->ct, 6, since));
	/* gone (flushed): drained once a whole pass has found none */
	psw_ct_expire(t->ct, t->ct->size, true);
	CU_ASSERT_FALSE(psw_ct_slot_drained(t->ct, 5, since));
	for (i = 0; i < 2; i++)
		psw_ct_expire(t->ct, t->ct->size, false);
	CU_ASSERT_TRUE(psw_ct_slot_drained(t->ct, 5, since));
	rte_free(lc.sc.svc);
	lc.sc.svc = NULL;
}


/*
 * An external address of policy Local whose one endpoint is on another
 * node: a client on the uplink is dropped here (no local endpoint), this
 * node's pod and the node's own stack are taken to the endpoint with their
 * own address, as kube-proxy does (the policy is for traffic from outside).
 */
static void
test_local_policy_is_not_for_pods(void)
{
	const uint32_t ext_vip = 0xc000020au, outside = 0xc0a85832u;   /* 192.0.2.10, 192.168.88.50 */
	const uint32_t remote = 0x0af40214u;                           /* 10.244.2.20, another node's pod */
	struct psw_svc_backend be = { .family = 4, .local = 0 };
	uint32_t r = rte_cpu_to_be_32(remote);
	struct psw_svc_spec sp;
	struct psw_svc_port *a, *b;
	struct tpkt p;
	struct rte_mbuf *m;
	struct psw_meta meta;
	const struct rte_ipv4_hdr *ip;
	const struct rte_tcp_hdr *th;
	struct psw_route_spec rs = { .prefix = { .family = 4, .len = 24 } };
	struct psw_route_table *routes = t->routes;
	uint32_t net = rte_cpu_to_be_32(remote & 0xffffff00u);

	/* the other node's pods behind the uplink (port 2) */
	memcpy(rs.prefix.addr, &net, 4);
	rs.nh.port = 2;
	memcpy(&rs.nh.mac, mac_b, 6);
	t->routes = psw_route_table_build(&rs, 1, SOCKET_ID_ANY);
	CU_ASSERT_FATAL(t->routes != NULL);
	be.port = rte_cpu_to_be_16(9000);
	memcpy(be.addr, &r, 4);
	memset(&sp, 0, sizeof(sp));
	sp.key = svc_key(ext_vip, IPPROTO_TCP, 80);
	sp.flags = PSW_SVC_F_LOCAL;
	sp.pod_backends = &be;                   /* no local endpoint; one elsewhere */
	sp.nb_pod_backends = 1;
	a = psw_svc_port_build(&sp, 0, SOCKET_ID_ANY);
	CU_ASSERT_FATAL(a != NULL && a->pods != NULL);
	CU_ASSERT_EQUAL(a->nb_backends, 0);
	CU_ASSERT_EQUAL(a->pods->nb_backends, 1);
	CU_ASSERT_EQUAL(a->pods->id, a->id);
	CU_ASSERT_FALSE(a->pods->flags & (PSW_SVC_F_LOCAL | PSW_SVC_F_MASQ));
	/* the same but for the pods' endpoints: a change to apply */
	sp.nb_pod_backends = 0;
	b = psw_svc_port_build(&sp, 0, SOCKET_ID_ANY);
	CU_ASSERT_FATAL(b != NULL);
	CU_ASSERT_FALSE(psw_svc_port_same(a, b));
	rte_free(b);
	CU_ASSERT_EQUAL_FATAL(psw_svc_table_set(t->svcs, a), 0);
	t->ports[2] = (struct psw_port_info){ .present = 1, .is_uplink = 1, .mtu = 1500 };
	memcpy(&t->ports[2].mac, gw_mac, 6);

	/* from outside, on the uplink: dropped, as the policy says */
	p = tcp(mac_b, gw_mac, outside, ext_vip, 40500, 80, 64);
	m = tcp_frame(&p, RTE_TCP_SYN_FLAG, 1, 0);
	meta = run(m, 2);
	CU_ASSERT_EQUAL(meta.verdict, PSW_V_DROP);
	CU_ASSERT_EQUAL(meta.drop_reason, PSW_DROP_SVC_NO_LOCAL);
	rte_pktmbuf_free(m);

	/* from a pod of this node: to the endpoint on the other node, its source kept */
	p = tcp(mac_c, gw_mac, CLIENT, ext_vip, 40500, 80, 64);
	m = tcp_frame(&p, RTE_TCP_SYN_FLAG, 1, 0);
	meta = run(m, 0);
	ip = rte_pktmbuf_mtod_offset(m, const struct rte_ipv4_hdr *, 14);
	th = (const struct rte_tcp_hdr *)(ip + 1);
	CU_ASSERT_EQUAL(meta.verdict, PSW_V_TX);
	CU_ASSERT_EQUAL(meta.out_port, 2);
	CU_ASSERT_EQUAL(ip->dst_addr, r);
	CU_ASSERT_EQUAL(th->dst_port, rte_cpu_to_be_16(9000));
	CU_ASSERT_EQUAL(ip->src_addr, rte_cpu_to_be_32(CLIENT));
	CU_ASSERT_EQUAL(th->src_port, rte_cpu_to_be_16(40500));
	rte_pktmbuf_free(m);

	/* from the node's own stack (a node port, a node address): the same */
	t->node.nb_addrs = 1;
	t->node.addrs4[0] = rte_cpu_to_be_32(0xc0a85801u);               /* 192.168.88.1 */
	t->ports[3] = (struct psw_port_info){ .present = 1, .is_node = 1, .mtu = 1500 };
	memcpy(&t->ports[3].mac, gw_mac, 6);
	p = tcp(mac_c, gw_mac, 0xc0a85801u, ext_vip, 40600, 80, 64);
	m = tcp_frame(&p, RTE_TCP_SYN_FLAG, 1, 0);
	meta = run(m, 3);
	ip = rte_pktmbuf_mtod_offset(m, const struct rte_ipv4_hdr *, 14);
	th = (const struct rte_tcp_hdr *)(ip + 1);
	CU_ASSERT_EQUAL(meta.verdict, PSW_V_TX);
	CU_ASSERT_EQUAL(meta.out_port, 2);
	CU_ASSERT_EQUAL(ip->dst_addr, r);
	CU_ASSERT_EQUAL(ip->src_addr, rte_cpu_to_be_32(0xc0a85801u));
	rte_pktmbuf_free(m);
	t->ports[3] = (struct psw_port_info){ 0 };
	t->node.nb_addrs = 0;
	psw_svc_table_del(t->svcs, &sp.key);
	psw_tables_sync();
	t->ports[2] = (struct psw_port_info){ 0 };
	psw_route_table_put(t->routes);
	t->routes = routes;
}

/*
 * Policy Local on an external address with sessionAffinity ClientIP: this
 * node's pods are pinned within their own list (every endpoint), a pod
 * that is its own pick hairpins through the gateway, and a client from
 * outside is served from the local list whatever a pod's record says (the
 * records of both lists share the Service port's id).
 */
static void
test_local_policy_pods_affinity_and_hairpin(void)
{
	const uint32_t ext_vip = 0xc000020bu, outside = 0xc0a85833u;   /* 192.0.2.11, 192.168.88.51 */
	struct psw_svc_backend be[2] = { { .family = 4, .local = 1 }, { .family = 4, .local = 1 } };
	uint32_t c = rte_cpu_to_be_32(CLIENT), b = rte_cpu_to_be_32(BACKEND);
	struct psw_svc_spec sp;
	struct psw_svc_port *a;
	struct psw_meta meta;
	const struct rte_ipv4_hdr *ip;
	const struct rte_tcp_hdr *th;
	uint32_t first = 0;
	struct rte_mbuf *m;
	struct tpkt p;
	unsigned i;

	memcpy(be[0].addr, &c, 4);                /* the client pod itself */
	memcpy(be[1].addr, &b, 4);
	be[0].port = be[1].port = rte_cpu_to_be_16(9000);
	memset(&sp, 0, sizeof(sp));
	sp.key = svc_key(ext_vip, IPPROTO_TCP, 80);
	sp.flags = PSW_SVC_F_LOCAL | PSW_SVC_F_AFFINITY;
	sp.affinity_s = 300;
	sp.backends = &be[1];                     /* from outside: BACKEND only */
	sp.nb_backends = 1;
	sp.pod_backends = be;
	sp.nb_pod_backends = 2;
	a = psw_svc_port_build(&sp, 0, SOCKET_ID_ANY);
	CU_ASSERT_FATAL(a != NULL && a->pods != NULL);
	CU_ASSERT_EQUAL_FATAL(psw_svc_table_set(t->svcs, a), 0);
	t->ports[2] = (struct psw_port_info){ .present = 1, .is_uplink = 1, .mtu = 1500 };
	memcpy(&t->ports[2].mac, gw_mac, 6);

	/* the pod: one backend for every connection, from the pods' list */
	for (i = 0; i < 16; i++) {
		p = tcp(mac_c, gw_mac, CLIENT, ext_vip, (uint16_t)(43000 + i), 80, 64);
		m = tcp_frame(&p, RTE_TCP_SYN_FLAG, 1, 0);
		meta = run(m, 0);
		ip = rte_pktmbuf_mtod_offset(m, const struct rte_ipv4_hdr *, 14);
		th = (const struct rte_tcp_hdr *)(ip + 1);
		CU_ASSERT_EQUAL(meta.verdict, PSW_V_TX);
		CU_ASSERT_EQUAL(th->dst_port, rte_cpu_to_be_16(9000));
		if (i == 0)
			first = ip->dst_addr;
		CU_ASSERT_EQUAL(ip->dst_addr, first);
		if (ip->dst_addr == c) {
			/* its own pick: back to it, from the gateway */
			CU_ASSERT_EQUAL(meta.out_port, 0);
			CU_ASSERT_EQUAL(ip->src_addr, t->node.gw4);
		} else {
			CU_ASSERT_EQUAL(ip->dst_addr, b);
			CU_ASSERT_EQUAL(meta.out_port, 1);
			CU_ASSERT_EQUAL(ip->src_addr, c);
		}
		rte_pktmbuf_free(m);
	}
	/* from outside: the local list's one backend, every time */
	for (i = 0; i < 4; i++) {
		p = tcp(mac_b, gw_mac, outside, ext_vip, (uint16_t)(44000 + i), 80, 64);
		m = tcp_frame(&p, RTE_TCP_SYN_FLAG, 1, 0);
		meta = run(m, 2);
		ip = rte_pktmbuf_mtod_offset(m, const struct rte_ipv4_hdr *, 14);
		CU_ASSERT_EQUAL(meta.verdict, PSW_V_TX);
		CU_ASSERT_EQUAL(ip->dst_addr, b);
		CU_ASSERT_EQUAL(ip->src_addr, rte_cpu_to_be_32(outside));
		rte_pktmbuf_free(m);
	}
	psw_ct_flush_backend(t->ct, a->id, (const uint8_t *)&c, be[0].port);
	psw_ct_flush_backend(t->ct, a->id, (const uint8_t *)&b, be[1].port);
	psw_svc_table_del(t->svcs, &sp.key);
	psw_tables_sync();
	t->ports[2] = (struct psw_port_info){ 0 };
}

/* The Service at VIP:80 made again (deleted and applied anew): counted to slot cslot now. */
static void
remake_service(uint16_t cslot)
{
	struct psw_svc_backend be = { .family = 4, .local = 1 };
	uint32_t b = rte_cpu_to_be_32(BACKEND);
	struct psw_svc_spec sp;

	be.port = rte_cpu_to_be_16(8080);
	memcpy(be.addr, &b, 4);
	memset(&sp, 0, sizeof(sp));
	sp.key = svc_key(VIP, IPPROTO_TCP, 80);
	sp.cslot = cslot;
	sp.nb_backends = 1;
	sp.backends = &be;
	CU_ASSERT_EQUAL(psw_svc_table_set(t->svcs, psw_svc_port_build(&sp, 0, SOCKET_ID_ANY)), 0);
	psw_tables_sync();                       /* the replaced entry is freed */
}

/*
 * A client's new SYN on a closed Service connection (port reuse after RST)
 * is a new connection, load-balanced by the Service at the address now and
 * counted to it (as Linux's conntrack kills the old one and NATs the SYN
 * afresh), not carried on the old entry to the slot of a Service deleted
 * since, which the new one's stats never show.
 */
static void
test_reused_tuple_counted_to_the_service_now(void)
{
	struct tpkt p = tcp(mac_c, gw_mac, CLIENT, VIP, 40200, 80, 64);
	struct tpkt r = tcp(mac_b, gw_mac, BACKEND, CLIENT, 8080, 40200, 64);
	struct { const struct tpkt *p; uint8_t flags; uint32_t seq, ack; uint16_t port; } seq[] = {
		{ &p, RTE_TCP_SYN_FLAG, 100, 0, 0 },
		{ &r, RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG, 500, 101, 1 },
		{ &p, RTE_TCP_RST_FLAG, 101, 0, 0 },
	};
	struct psw_svc_counts *c;
	struct rte_mbuf *m;
	unsigned i;

	lc.sc.svc = rte_zmalloc("svc", PSW_SVC_MAX_SLOTS * sizeof(*lc.sc.svc), 0);
	CU_ASSERT_FATAL(lc.sc.svc != NULL);
	c = lc.sc.svc;
	for (i = 0; i < RTE_DIM(seq); i++) {
		m = tcp_frame(seq[i].p, seq[i].flags, seq[i].seq, seq[i].ack);
		CU_ASSERT_EQUAL(run(m, seq[i].port).verdict, PSW_V_TX);
		rte_pktmbuf_free(m);
	}
	CU_ASSERT_EQUAL(c[5].connections, 1);
	CU_ASSERT_EQUAL(c[5].packets[0], 2);
	remake_service(9);
	/* the client reuses its port at once (the closed entry lives 10 s) */
	m = tcp_frame(&p, RTE_TCP_SYN_FLAG, 90000, 0);
	CU_ASSERT_EQUAL(run(m, 0).verdict, PSW_V_TX);
	rte_pktmbuf_free(m);
	CU_ASSERT_EQUAL(c[9].connections, 1);
	CU_ASSERT_EQUAL(c[9].packets[0], 1);
	CU_ASSERT_EQUAL(c[5].packets[0], 2);
	/* and it goes on as the new one: the SYN-ACK back counts there too */
	m = tcp_frame(&r, RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG, 700, 90001);
	CU_ASSERT_EQUAL(run(m, 1).verdict, PSW_V_TX);
	rte_pktmbuf_free(m);
	CU_ASSERT_EQUAL(c[9].packets[1], 1);
	CU_ASSERT_EQUAL(c[5].packets[1], 1);
	remake_service(5);
	rte_free(lc.sc.svc);
	lc.sc.svc = NULL;
}

static void
test_reject_byte_exact(void)
{
	struct tpkt p = tcp(mac_c, gw_mac, CLIENT, EMPTY_VIP, 40002, 80, 64), w;
	struct rte_mbuf *m = tcp_frame(&p, RTE_TCP_SYN_FLAG, 7000, 0), *want;
	struct psw_meta meta = run(m, 0);
	struct rte_ipv4_hdr *ip;

	CU_ASSERT_EQUAL_FATAL(meta.verdict, PSW_V_TX);
	CU_ASSERT_EQUAL(meta.out_port, 0);
	/* RST|ACK from the Service address acknowledging the SYN and its 4 data
	 * bytes (seq + 4 + 1), carrying none itself */
	w = tcp(gw_mac, mac_c, EMPTY_VIP, CLIENT, 80, 40002, 64);
	w.payload = 0;
	want = tcp_frame(&w, RTE_TCP_RST_FLAG | RTE_TCP_ACK_FLAG, 0, 7005);
	ip = rte_pktmbuf_mtod_offset(want, struct rte_ipv4_hdr *, 14);
	((struct rte_tcp_hdr *)(ip + 1))->rx_win = 0;
	((struct rte_tcp_hdr *)(ip + 1))->cksum = 0;
	((struct rte_tcp_hdr *)(ip + 1))->cksum = rte_ipv4_udptcp_cksum(ip, ip + 1);
	same_frame(m, want);
	rte_pktmbuf_free(m);
	rte_pktmbuf_free(want);
}

static void
test_icmp_error_nated_back(void)
{
	struct tpkt p;
	struct rte_mbuf *m, *err;
	struct psw_meta meta;
	struct rte_ipv4_hdr *ip, *inner;
	uint8_t *icmp, quote[28], sent[8];
	unsigned len;

	/* the client's UDP datagram to the Service, DNAT-ed to backend:5353... */
	tpkt_defaults(&p);
	memcpy(p.src_mac, mac_c, 6);
	memcpy(p.dst_mac, gw_mac, 6);
	p.src4 = CLIENT;
	p.dst4 = VIP;
	p.sport = 33000;
	p.dport = 53;
	m = tpkt_build(mp, &p);
	memcpy(sent, rte_pktmbuf_mtod_offset(m, void *, 14 + 20), 8);   /* its UDP header as sent */
	CU_ASSERT(sent[6] != 0 || sent[7] != 0);
	meta = run(m, 0);
	CU_ASSERT_EQUAL_FATAL(meta.verdict, PSW_V_TX);
	/* ...which the backend answers with port unreachable, quoting what it got */
	memcpy(quote, rte_pktmbuf_mtod_offset(m, void *, 14), 28);
	rte_pktmbuf_free(m);
	err = rte_pktmbuf_alloc(mp);
	len = 14 + 20 + 8 + 28;
	memset(rte_pktmbuf_append(err, (uint16_t)len), 0, len);
	memcpy(rte_pktmbuf_mtod(err, uint8_t *), gw_mac, 6);
	memcpy(rte_pktmbuf_mtod(err, uint8_t *) + 6, mac_b, 6);
	*rte_pktmbuf_mtod_offset(err, uint16_t *, 12) = RTE_BE16(RTE_ETHER_TYPE_IPV4);
	ip = rte_pktmbuf_mtod_offset(err, struct rte_ipv4_hdr *, 14);
	ip->version_ihl = 0x45;
	ip->total_length = rte_cpu_to_be_16(20 + 8 + 28);
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_ICMP;
	ip->src_addr = rte_cpu_to_be_32(BACKEND);
	ip->dst_addr = rte_cpu_to_be_32(CLIENT);
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	icmp = (uint8_t *)(ip + 1);
	icmp[0] = 3;
	icmp[1] = 3;
	memcpy(icmp + 8, quote, 28);
	*(uint16_t *)(icmp + 2) = (uint16_t)~rte_raw_cksum(icmp, 36);
	meta = run(err, 1);
	CU_ASSERT_EQUAL_FATAL(meta.verdict, PSW_V_TX);
	CU_ASSERT_EQUAL(meta.out_port, 0);
	/* the client sees it from the Service, about its datagram to the Service */
	CU_ASSERT_EQUAL(ip->src_addr, rte_cpu_to_be_32(VIP));
	CU_ASSERT_EQUAL(ip->dst_addr, rte_cpu_to_be_32(CLIENT));
	CU_ASSERT_EQUAL(rte_raw_cksum(ip, 20), 0xffff);
	CU_ASSERT_EQUAL(rte_raw_cksum(icmp, 36), 0xffff);
	inner = (struct rte_ipv4_hdr *)(icmp + 8);
	CU_ASSERT_EQUAL(inner->src_addr, rte_cpu_to_be_32(CLIENT));
	CU_ASSERT_EQUAL(inner->dst_addr, rte_cpu_to_be_32(VIP));
	CU_ASSERT_EQUAL(rte_raw_cksum(inner, 20), 0xffff);
	CU_ASSERT_EQUAL(*(uint16_t *)(icmp + 8 + 20 + 2), rte_cpu_to_be_16(53));
	/* the quoted UDP header is the client's, its checksum too (as Linux's NAT gives it) */
	CU_ASSERT_EQUAL(memcmp(icmp + 8 + 20, sent, 8), 0);
	rte_pktmbuf_free(err);
}

/*
 * Several packets of one new flow in one burst (a UDP client sending two
 * datagrams back to back): conntrack misses them all; the first opens the
 * connection, the others must use it, not be dropped as a clash.
 */
static void
test_one_new_flow_twice_in_a_burst(void)
{
	struct tpkt p = tcp(mac_c, gw_mac, CLIENT, VIP, 40077, 53, 64);
	struct psw_burst b = { .nb = 3 };
	uint32_t before = psw_ct_count(t->ct);
	unsigned i;

	p.proto = IPPROTO_UDP;
	for (i = 0; i < b.nb; i++) {
		b.pkts[i] = tpkt_build(mp, &p);
		b.meta[i].in_port = 0;
	}
	psw_worker_process(&lc, t, &b);
	for (i = 0; i < b.nb; i++) {
		const struct rte_ipv4_hdr *ip = rte_pktmbuf_mtod_offset(b.pkts[i], const struct rte_ipv4_hdr *, 14);

		CU_ASSERT_EQUAL(b.meta[i].verdict, PSW_V_TX);
		CU_ASSERT_EQUAL(b.meta[i].out_port, 1);
		CU_ASSERT_EQUAL(ip->dst_addr, rte_cpu_to_be_32(BACKEND));
		CU_ASSERT_EQUAL(b.meta[i].ct, b.meta[0].ct);
		rte_pktmbuf_free(b.pkts[i]);
	}
	CU_ASSERT_EQUAL(psw_ct_count(t->ct), before + 1);
}

/* The client's one affinity record in use (AFF_VIP is the only Service with affinity). */
static struct psw_ct_entry *
affinity_record(void)
{
	struct psw_ct_entry *found = NULL;
	unsigned n = 0;
	uint32_t i;

	for (i = 0; i < t->ct->size; i++) {
		struct psw_ct_entry *e = &t->ct->entries[i];

		if (e->in_use && e->orig.proto == PSW_CT_PROTO_AFFINITY) {
			found = e;
			n++;
		}
	}
	CU_ASSERT_EQUAL(n, 1);
	return found;
}

/* A SYN from the client's port sport to AFF_VIP:80; the backend port it was sent to. */
static unsigned
affinity_connect(uint16_t sport)
{
	struct tpkt p = tcp(mac_c, gw_mac, CLIENT, AFF_VIP, sport, 80, 64);
	struct rte_mbuf *m = tcp_frame(&p, RTE_TCP_SYN_FLAG, 1000, 0);
	struct psw_meta meta = run(m, 0);
	unsigned port = rte_be_to_cpu_16(*rte_pktmbuf_mtod_offset(m, uint16_t *, 14 + 20 + 2));

	CU_ASSERT_EQUAL(meta.verdict, PSW_V_TX);
	rte_pktmbuf_free(m);
	return port;
}

/*
 * sessionAffinity ClientIP with timeoutSeconds 3: within the timeout the
 * client's record is used and refreshed by each new connection, which goes
 * to its backend. Past it the record is gone, though no expiry sweep runs
 * here: the client is balanced afresh like a new one (Maglev over each
 * connection) and the pick recorded anew, so its connections spread.
 */
static void
test_affinity_record_past_its_timeout_is_not_used(void)
{
	uint64_t hz = rte_get_tsc_hz(), stale = lc.sc.events[PSW_EV_CT_STALE];
	uint64_t removed = t->ct->expired_lookup, before;
	struct psw_ct_entry *rec, *prev;
	unsigned pinned, port, i, seen = 0;

	pinned = affinity_connect(41000);
	CU_ASSERT(pinned >= 8080 && pinned <= 8082);
	rec = affinity_record();
	CU_ASSERT_PTR_NOT_NULL_FATAL(rec);
	CU_ASSERT_EQUAL(rte_be_to_cpu_16(rec->reply.sport), pinned);
	for (i = 1; i <= 8; i++) {
		rec->last_seen = rte_rdtsc() - 2 * hz;
		before = rte_rdtsc();
		CU_ASSERT_EQUAL(affinity_connect((uint16_t)(41000 + i)), pinned);
		CU_ASSERT_PTR_EQUAL(affinity_record(), rec);
		CU_ASSERT((int64_t)(rec->last_seen - before) >= 0);     /* refreshed */
	}
	CU_ASSERT_EQUAL(lc.sc.events[PSW_EV_CT_STALE], stale);
	for (i = 0; i < 12; i++) {
		prev = affinity_record();
		CU_ASSERT_PTR_NOT_NULL_FATAL(prev);
		prev->last_seen = rte_rdtsc() - 4 * hz;
		port = affinity_connect((uint16_t)(42000 + i));
		rec = affinity_record();
		CU_ASSERT_PTR_NOT_NULL_FATAL(rec);
		CU_ASSERT_PTR_NOT_EQUAL(rec, prev);
		CU_ASSERT_EQUAL(rte_be_to_cpu_16(rec->reply.sport), port);
		if (port >= 8080 && port <= 8082)
			seen |= 1u << (port - 8080);
		psw_ct_expire(t->ct, 0, false);          /* the control thread frees the old record */
	}
	CU_ASSERT(__builtin_popcount(seen) > 1);
	CU_ASSERT_EQUAL(lc.sc.events[PSW_EV_CT_STALE] - stale, 12);
	CU_ASSERT_EQUAL(t->ct->expired_lookup - removed, 12);
}

/* One UDP datagram from the client's port sport to VIP:53. */
static struct psw_meta
udp_to_vip(uint16_t sport)
{
	struct tpkt p = tcp(mac_c, gw_mac, CLIENT, VIP, sport, 53, 64);
	struct rte_mbuf *m;
	struct psw_meta meta;

	p.proto = IPPROTO_UDP;
	m = tpkt_build(mp, &p);
	meta = run(m, 0);
	rte_pktmbuf_free(m);
	return meta;
}

/* One TCP segment from the client's port sport to VIP:80. */
static struct psw_meta
tcp_to_vip(uint16_t sport, uint8_t flags, uint32_t seq)
{
	struct tpkt p = tcp(mac_c, gw_mac, CLIENT, VIP, sport, 80, 64);
	struct rte_mbuf *m = tcp_frame(&p, flags, seq, flags & RTE_TCP_ACK_FLAG ? 5001 : 0);
	struct psw_meta meta = run(m, 0);

	rte_pktmbuf_free(m);
	return meta;
}

/*
 * A connection idle past the timeout of its protocol and state is gone when
 * its next packet comes, though no sweep runs here. UDP (30 s before a
 * reply): after 29 s of silence the same connection, after 31 s a new one.
 * TCP: silent for a day, an ACK finds no connection (dropped, as a non-SYN
 * to a Service); closed by RST 11 s ago, a SYN opens a new connection.
 */
static void
test_idle_connection_past_its_timeout_is_new(void)
{
	uint64_t hz = rte_get_tsc_hz(), stale = lc.sc.events[PSW_EV_CT_STALE];
	struct psw_ct_entry *e;
	struct psw_meta meta;
	uint32_t first;

	meta = udp_to_vip(40100);
	CU_ASSERT_EQUAL_FATAL(meta.verdict, PSW_V_TX);
	first = meta.ct;
	e = psw_ct_entry(t->ct, first - 1);
	e->last_seen = rte_rdtsc() - 29 * hz;
	meta = udp_to_vip(40100);
	CU_ASSERT_EQUAL(meta.verdict, PSW_V_TX);
	CU_ASSERT_EQUAL(meta.ct, first);
	e->last_seen = rte_rdtsc() - 31 * hz;
	meta = udp_to_vip(40100);
	CU_ASSERT_EQUAL(meta.verdict, PSW_V_TX);
	CU_ASSERT(meta.ct != 0 && meta.ct != first);
	CU_ASSERT(meta.flags & PSW_F_CT_NEW);
	CU_ASSERT_EQUAL(e->in_use, 0);
	CU_ASSERT_EQUAL(lc.sc.events[PSW_EV_CT_STALE] - stale, 1);

	meta = tcp_to_vip(40101, RTE_TCP_SYN_FLAG, 1000);
	CU_ASSERT_EQUAL_FATAL(meta.verdict, PSW_V_TX);
	first = meta.ct;
	e = psw_ct_entry(t->ct, first - 1);
	e->state = PSW_CT_ESTABLISHED;
	e->last_seen = rte_rdtsc() - 86401 * hz;
	meta = tcp_to_vip(40101, RTE_TCP_ACK_FLAG, 1001);
	CU_ASSERT_EQUAL(meta.verdict, PSW_V_DROP);
	CU_ASSERT_EQUAL(meta.drop_reason, PSW_DROP_CT_INVALID);
	e->state = PSW_CT_CLOSED;
	e->last_seen = rte_rdtsc() - 11 * hz;
	meta = tcp_to_vip(40101, RTE_TCP_SYN_FLAG, 90000);
	CU_ASSERT_EQUAL(meta.verdict, PSW_V_TX);
	CU_ASSERT(meta.ct != 0 && meta.ct != first);
	CU_ASSERT_EQUAL(e->in_use, 0);
	CU_ASSERT_EQUAL(lc.sc.events[PSW_EV_CT_STALE] - stale, 3);
	psw_ct_expire(t->ct, 0, false);
}

/* Publish AFF_VIP:80 again with timeoutSeconds seconds and the backend ports of mask (8080 + bit). */
static void
affinity_republish(uint32_t seconds, unsigned mask)
{
	struct psw_svc_backend be[3];
	struct psw_svc_spec spec;
	uint32_t b = rte_cpu_to_be_32(BACKEND);
	unsigned i, n = 0;

	memset(be, 0, sizeof(be));
	for (i = 0; i < 3; i++) {
		if (!(mask & (1u << i)))
			continue;
		be[n].family = 4;
		be[n].local = 1;
		be[n].port = rte_cpu_to_be_16((uint16_t)(8080 + i));
		memcpy(be[n++].addr, &b, 4);
	}
	memset(&spec, 0, sizeof(spec));
	spec.key = svc_key(AFF_VIP, IPPROTO_TCP, 80);
	spec.flags = PSW_SVC_F_AFFINITY;
	spec.affinity_s = seconds;
	spec.nb_backends = n;
	spec.backends = be;
	CU_ASSERT_FATAL(psw_svc_table_set(t->svcs, psw_svc_port_build(&spec, 0, SOCKET_ID_ANY)) == 0);
}

/* Forget the client's affinity record (the sweep of everything). */
static void
affinity_forget(void)
{
	psw_ct_expire(t->ct, t->ct->size, true);
	psw_ct_expire(t->ct, t->ct->size, true);
}

/*
 * timeoutSeconds is the Service's, as it is now: kube-proxy checks a
 * client's record against the rule's current --seconds. Lowered from 3 to
 * 1, a record idle 2 s is not used; raised to 10800, a record idle 5 s is.
 */
static void
test_affinity_follows_a_changed_timeout(void)
{
	uint64_t hz = rte_get_tsc_hz(), stale;
	struct psw_ct_entry *rec;
	unsigned pinned;

	affinity_forget();
	pinned = affinity_connect(43000);
	rec = affinity_record();
	CU_ASSERT_PTR_NOT_NULL_FATAL(rec);
	affinity_republish(1, 7);
	rec->last_seen = rte_rdtsc() - 2 * hz;
	stale = lc.sc.events[PSW_EV_CT_STALE];
	affinity_connect(43001);
	CU_ASSERT_EQUAL(lc.sc.events[PSW_EV_CT_STALE] - stale, 1);       /* idle past 1 s: not used */
	CU_ASSERT_PTR_NOT_EQUAL(affinity_record(), rec);
	affinity_republish(10800, 7);
	rec = affinity_record();
	CU_ASSERT_PTR_NOT_NULL_FATAL(rec);
	pinned = rte_be_to_cpu_16(rec->reply.sport);
	rec->last_seen = rte_rdtsc() - 5 * hz;
	stale = lc.sc.events[PSW_EV_CT_STALE];
	CU_ASSERT_EQUAL(affinity_connect(43002), pinned);                /* within 10800 s: used */
	CU_ASSERT_EQUAL(lc.sc.events[PSW_EV_CT_STALE], stale);
	CU_ASSERT_PTR_EQUAL(affinity_record(), rec);
	affinity_republish(3, 7);
	affinity_forget();
}

/*
 * The client's backend leaves: its next connection is balanced afresh and
 * the client pinned to that pick at once (as kube-proxy's recent list and
 * IPVS persistence do), not balanced per connection until the old record
 * times out (timeoutSeconds, 3 hours by default).
 */
static void
test_affinity_repins_when_its_backend_leaves(void)
{
	unsigned pinned, first, i;

	affinity_forget();
	pinned = affinity_connect(44000);
	CU_ASSERT_FATAL(pinned >= 8080 && pinned <= 8082);
	affinity_republish(3, 7 & ~(1u << (pinned - 8080)));
	first = affinity_connect(44001);
	CU_ASSERT_NOT_EQUAL(first, pinned);
	for (i = 2; i < 14; i++)
		CU_ASSERT_EQUAL(affinity_connect((uint16_t)(44000 + i)), first);
	affinity_republish(3, 7);
	affinity_forget();
}

int
main(void)
{
	CU_pSuite s;
	unsigned failures;

	mp = psw_ut_eal("svc", 1024);
	if (mp == NULL)
		return 1;
	psw_lcore_init(&lc);
	CU_initialize_registry();
	s = CU_add_suite("service stage", setup, teardown);
	CU_add_test(s, "TCP to a Service without a connection, not a SYN: dropped", test_invalid_tcp_dropped);
	CU_add_test(s, "SYN DNAT-ed, SYN-ACK un-NAT-ed, ACK DNAT-ed: byte-exact", test_dnat_and_un_nat_byte_exact);
	CU_add_test(s, "no endpoints: RST from the Service address, byte-exact", test_reject_byte_exact);
	CU_add_test(s, "one client port, two Service ports, one backend: another port, not a clash",
		    test_two_service_ports_one_backend_one_client_port);
	CU_add_test(s, "a Service's packets and bytes counted both ways; its slot drains", test_service_packets_counted);
	CU_add_test(s, "a closed Service connection's tuple reused: counted to the Service now",
		    test_reused_tuple_counted_to_the_service_now);
	CU_add_test(s, "ICMP error from the backend NAT-ed back", test_icmp_error_nated_back);
	CU_add_test(s, "one new flow twice in a burst: one connection, both DNAT-ed",
		    test_one_new_flow_twice_in_a_burst);
	CU_add_test(s, "affinity: used and refreshed within timeoutSeconds, a fresh pick past it",
		    test_affinity_record_past_its_timeout_is_not_used);
	CU_add_test(s, "UDP and TCP idle past their timeouts: the next packet is a new connection",
		    test_idle_connection_past_its_timeout_is_new);
	CU_add_test(s, "affinity: timeoutSeconds as the Service has it now", test_affinity_follows_a_changed_timeout);
	CU_add_test(s, "policy Local on an external address: dropped from outside, every endpoint for pods",
		    test_local_policy_is_not_for_pods);
	CU_add_test(s, "affinity: the client's backend leaves, the client is pinned to its next pick",
		    test_affinity_repins_when_its_backend_leaves);
	CU_add_test(s, "policy Local, affinity: pods pinned within every endpoint, hairpin, outside kept local",
		    test_local_policy_pods_affinity_and_hairpin);
	failures = (unsigned)psw_ut_run();
	psw_ut_eal_fini();
	return failures ? 1 : 0;
}
