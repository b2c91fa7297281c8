/*
 * Packet trace, the workers' side and the rendering, on crafted packets
 * through the whole pipeline (psw_worker_process with a trace armed), EAL
 * --no-huge: the per-stage snapshots (parse fields, guard's drop, the
 * connection's state, the policy and rule that allowed, the policies that
 * isolated), untraced packets of the same burst treated exactly as without
 * a trace, the shared count (the trace disarms itself after N), the
 * filter and the port, the switch's own answers, a full ring counted.
 *
 * Pods as test_policy_stage.c: A (port 0), B (port 1), C (port 2); B
 * admits A on TCP 80 only (policy slot 0, rule 0); C sends only to B
 * (slot 1).
 */
#define PSW_UT_EAL
#include <stdio.h>

#include <CUnit/Basic.h>
#include <rte_tcp.h>

#include "pkt_build.h"
#include "psw_ct_ctl.h"
#include "psw_forward_ctl.h"
#include "psw_policy_ctl.h"
#include "psw_trace.h"
#include "psw_trace_ctl.h"
#include "psw_ut.h"
#include "psw_worker.h"

#define A 0x0af4000au
#define B 0x0af4000bu
#define C 0x0af4000cu
#define GW 0x0af40001u

static struct rte_mempool *mp;
static struct psw_tables *t;
static struct psw_lcore lc;
static struct psw_pol_table pol;
static const uint8_t gw_mac[6] = { 0x02, 0x50, 0x53, 0x57, 0x00, 0x01 };
static const uint8_t macs[3][6] = { { 2, 0, 0, 0, 0, 0x0a }, { 2, 0, 0, 0, 0, 0x0b }, { 2, 0, 0, 0, 0, 0x0c } };
static const uint32_t ips[3] = { A, B, C };
static struct psw_trace_rec rec;

static struct psw_pol_rule
rule(unsigned dir, uint32_t peer, uint8_t proto, uint16_t lo, uint16_t hi, uint16_t n)
{
	struct psw_pol_rule r;
	uint32_t a = rte_cpu_to_be_32(peer);

	memset(&r, 0, sizeof(r));
	r.dir = (uint8_t)dir;
	r.family = 4;
	memcpy(r.addr, &a, 4);
	r.plen = 32;
	r.proto = proto;
	r.port_lo = lo;
	r.port_hi = hi;
	r.ref.rule = n;
	return r;
}

static int
setup(void)
{
	struct psw_pol_rule rb[2], rc[1];
	uint16_t slot_b[1] = { 0 }, slot_c[1] = { 1 };
	const uint16_t *iso_b[2] = { slot_b, slot_b }, *iso_c[2] = { slot_c, slot_c };
	unsigned nb_iso_b[2] = { 1, 0 }, nb_iso_c[2] = { 0, 1 };
	bool in_only[2] = { true, false }, out_only[2] = { false, true };
	struct psw_route_spec route;
	struct psw_pod pods[3];
	unsigned i;

	memset(pods, 0, sizeof(pods));
	t = psw_tables_alloc();
	t->node.gw4 = rte_cpu_to_be_32(GW);
	memcpy(&t->node.gw_mac, gw_mac, 6);
	t->node.pod_net4 = rte_cpu_to_be_32(0x0af40000);
	t->node.pod_mask4 = rte_cpu_to_be_32(0xffffff00);
	for (i = 0; i < 3; i++) {
		t->ports[i] = (struct psw_port_info){ .present = 1, .is_pod = 1, .pod = i };
		memcpy(&pods[i].nh.mac, macs[i], 6);
		pods[i].nh.port = (uint16_t)i;
		pods[i].has_ip4 = 1;
		pods[i].ip4 = rte_cpu_to_be_32(ips[i]);
	}
	t->pods = psw_pod_table_build(pods, 3, SOCKET_ID_ANY);
	/* a next hop whose MAC is not known yet: packets to it are punted (resolve) */
	memset(&route, 0, sizeof(route));
	psw_parse_prefix("10.245.0.0/16", &route.prefix);
	route.nh.port = 2;
	route.nh.flags = PSW_NH_F_RESOLVE;
	t->routes = psw_route_table_build(&route, 1, SOCKET_ID_ANY);
	t->ct = psw_ct_create(1024, SOCKET_ID_ANY, psw_tables_qsbr());
	t->pol = &pol;
	/* a second rule first, so that the allowing one is rule 1 of its policy */
	rb[0] = rule(PSW_POL_INGRESS, C, IPPROTO_UDP, 53, 53, 0);
	rb[1] = rule(PSW_POL_INGRESS, A, IPPROTO_TCP, 80, 80, 1);
	rc[0] = rule(PSW_POL_EGRESS, B, 0, 0, UINT16_MAX, 0);
	rc[0].ref.slot = 1;
	psw_pol_table_set(&pol, 1, psw_pol_port_build(in_only, rb, 2, iso_b, nb_iso_b, SOCKET_ID_ANY));
	psw_pol_table_set(&pol, 2, psw_pol_port_build(out_only, rc, 1, iso_c, nb_iso_c, SOCKET_ID_ANY));
	pol.nb_isolated = 2;
	__atomic_add_fetch(&pol.gen, 1, __ATOMIC_RELEASE);
	psw_tables_sync();
	return t->pods == NULL || t->ct == NULL || pol.ports[1] == NULL || psw_trace_ctl_init(1) < 0;
}

static int
teardown(void)
{
	psw_pol_table_set(&pol, 1, NULL);
	psw_pol_table_set(&pol, 2, NULL);
	psw_tables_sync();
	psw_ct_destroy(t->ct);
	psw_trace_fini();
	return 0;
}

static struct rte_mbuf *
tcp_pkt(unsigned i, uint32_t dst, uint16_t sport, uint16_t dport, uint8_t flags)
{
	struct rte_ipv4_hdr *ip;
	struct rte_tcp_hdr *th;
	struct rte_mbuf *m;
	struct tpkt p;

	tpkt_defaults(&p);
	p.proto = IPPROTO_TCP;
	p.payload = 0;
	memcpy(p.src_mac, macs[i], 6);
	memcpy(p.dst_mac, gw_mac, 6);
	p.src4 = ips[i];
	p.dst4 = dst;
	p.sport = sport;
	p.dport = dport;
	m = tpkt_build(mp, &p);
	ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, 14);
	th = (struct rte_tcp_hdr *)(ip + 1);
	th->tcp_flags = flags;
	th->sent_seq = rte_cpu_to_be_32(100);
	th->rx_win = RTE_BE16(65535);
	th->cksum = 0;
	th->cksum = rte_ipv4_udptcp_cksum(ip, th);
	return m;
}

static struct psw_trace_arm *
arm(const char *filter, unsigned count, uint16_t port)
{
	static uint32_t id;
	struct psw_trace_arm *a = calloc(1, sizeof(*a));
	char err[PCAP_ERRBUF_SIZE];

	CU_ASSERT_FATAL(a != NULL);
	CU_ASSERT_FATAL(psw_filter_compile(&a->filter, filter, 65535, err, sizeof(err)) == 0);
	a->id = ++id;
	a->port = port;
	a->count = (uint16_t)count;
	a->left = (int32_t)count;
	__atomic_store_n(&psw_trace_armed, a, __ATOMIC_RELEASE);
	return a;
}

static void
disarm(struct psw_trace_arm *a)
{
	__atomic_store_n(&psw_trace_armed, NULL, __ATOMIC_RELEASE);
	psw_filter_free(&a->filter);
	free(a);
}

/* Run a burst through psw_worker_process, free its packets; the metas are left in b. */
static void
run(struct psw_burst *b)
{
	unsigned i;

	psw_worker_process(&lc, t, b);
	for (i = 0; i < b->nb; i++)
		rte_pktmbuf_free(b->pkts[i]);
}

static unsigned
take_records(struct psw_trace_rec *out, unsigned max)
{
	struct psw_trace_worker *tw = psw_trace_worker(0);
	unsigned n = 0;

	while (n < max && rte_ring_sc_dequeue_elem(tw->ring, &out[n], sizeof(out[0])) == 0)
		n++;
	return n;
}

static const struct psw_trace_step *
step(const struct psw_trace_rec *r, unsigned point)
{
	return r->stage_of[point] ? &r->steps[r->stage_of[point] - 1] : NULL;
}

/* A: allowed to B on TCP 80 by slot 0 rule 1; every stage snapshotted. */
static void
test_allowed_packet_every_stage(void)
{
	struct psw_trace_arm *a = arm("tcp dst port 80", 1, PSW_PORT_NONE);
	struct psw_burst b = { .nb = 1 };
	const struct psw_trace_step *s;
	json_t *j;
	char *text;

	b.pkts[0] = tcp_pkt(0, B, 40000, 80, RTE_TCP_SYN_FLAG);
	b.meta[0].in_port = 0;
	run(&b);
	CU_ASSERT_EQUAL(b.meta[0].verdict, PSW_V_TX);
	CU_ASSERT_EQUAL(b.meta[0].out_port, 1);
	CU_ASSERT_EQUAL_FATAL(take_records(&rec, 1), 1);
	CU_ASSERT_EQUAL(rec.id, a->id);
	CU_ASSERT_EQUAL(rec.seq, 0);
	CU_ASSERT_EQUAL(rec.nb_steps, PSW_TS_COUNT);          /* rx and the seven stages */
	s = step(&rec, PSW_TS_PARSE);
	CU_ASSERT_FATAL(s != NULL);
	CU_ASSERT_EQUAL(s->meta.l3, PSW_L3_IPV4);
	CU_ASSERT_EQUAL(s->meta.l4_proto, IPPROTO_TCP);
	CU_ASSERT_EQUAL(rte_be_to_cpu_16(s->meta.dport), 80);
	CU_ASSERT(s->meta.flags & PSW_F_L4);
	s = step(&rec, PSW_TS_CONNTRACK);
	CU_ASSERT(s->meta.flags & PSW_F_CT_MISS);
	s = step(&rec, PSW_TS_POLICY);
	CU_ASSERT(s->meta.ct != 0);                            /* the policy opened the flow */
	CU_ASSERT_EQUAL(s->ct_state, PSW_CT_NEW);
	CU_ASSERT_EQUAL(rec.why.kind, PSW_POL_WHY_JUDGED);
	CU_ASSERT(rec.why.dir[PSW_POL_INGRESS].isolated && rec.why.dir[PSW_POL_INGRESS].allowed);
	CU_ASSERT_EQUAL(rec.why.dir[PSW_POL_INGRESS].ref.slot, 0);
	CU_ASSERT_EQUAL(rec.why.dir[PSW_POL_INGRESS].ref.rule, 1);
	CU_ASSERT(!rec.why.dir[PSW_POL_EGRESS].isolated);
	s = step(&rec, PSW_TS_FORWARD);
	CU_ASSERT_EQUAL(s->meta.verdict, PSW_V_TX);
	CU_ASSERT(memcmp(s->hdr, macs[1], 6) == 0);            /* MAC rewritten to B's */
	CU_ASSERT_EQUAL(s->hdr[14 + 8], 63);                   /* TTL */
	/* the count was one: the worker disarmed it */
	CU_ASSERT_PTR_NULL(__atomic_load_n(&psw_trace_armed, __ATOMIC_ACQUIRE));
	CU_ASSERT_EQUAL(a->left, 0);
	j = psw_trace_render(NULL, &rec, 0);
	text = json_dumps(j, JSON_COMPACT);
	CU_ASSERT(strstr(text, "allowed by policy slot 0 ingress rule 1") != NULL);
	CU_ASSERT(strstr(text, "\"action\":\"tx\"") != NULL);
	CU_ASSERT(strstr(text, "IPv4 TCP 10.244.0.10:40000 -> 10.244.0.11:80") != NULL);
	CU_ASSERT(strstr(text, "next hop 02:00:00:00:00:0b") != NULL);
	free(text);
	json_decref(j);
	disarm(a);
}

/* C to A: C's egress isolates it and nothing allows A; and a spoofed source stops at guard. */
static void
test_denied_and_spoofed(void)
{
	struct psw_trace_arm *a = arm("tcp", 2, PSW_PORT_NONE);
	struct psw_trace_rec recs[2];
	struct psw_burst b = { .nb = 2 };
	json_t *j;
	char *text;

	b.pkts[0] = tcp_pkt(2, A, 40001, 80, RTE_TCP_SYN_FLAG);
	b.meta[0].in_port = 2;
	b.pkts[1] = tcp_pkt(0, B, 40002, 80, RTE_TCP_SYN_FLAG);
	b.meta[1].in_port = 1;                                 /* A's frame on B's port */
	run(&b);
	CU_ASSERT_EQUAL(b.meta[0].drop_reason, PSW_DROP_POLICY_EGRESS);
	CU_ASSERT_EQUAL(b.meta[1].verdict, PSW_V_DROP);
	CU_ASSERT_EQUAL_FATAL(take_records(recs, 2), 2);
	CU_ASSERT_EQUAL(recs[0].why.kind, PSW_POL_WHY_JUDGED);
	CU_ASSERT(recs[0].why.dir[PSW_POL_EGRESS].isolated && !recs[0].why.dir[PSW_POL_EGRESS].allowed);
	CU_ASSERT_EQUAL(recs[0].why.dir[PSW_POL_EGRESS].nb_isolating, 1);
	CU_ASSERT_EQUAL(recs[0].why.dir[PSW_POL_EGRESS].isolating[0], 1);
	j = psw_trace_render(NULL, &recs[0], 0);
	text = json_dumps(j, JSON_COMPACT);
	CU_ASSERT(strstr(text, "egress isolated by policy slot 1; no rule allows it") != NULL);
	CU_ASSERT(strstr(text, "\"reason\":\"policy_egress\"") != NULL);
	free(text);
	json_decref(j);
	/* the spoofed one: guard decided, later stages never ran */
	CU_ASSERT(step(&recs[1], PSW_TS_GUARD) != NULL);
	CU_ASSERT_EQUAL(step(&recs[1], PSW_TS_GUARD)->meta.verdict, PSW_V_DROP);
	CU_ASSERT_PTR_NULL(step(&recs[1], PSW_TS_CONNTRACK));
	CU_ASSERT_PTR_NULL(step(&recs[1], PSW_TS_FORWARD));
	CU_ASSERT_EQUAL(recs[1].seq, 1);
	disarm(a);
}

/*
 * Untraced packets of a traced burst are treated as without a trace; the
 * filter and the port select; at most count packets, shared.
 */
static void
test_filter_port_count(void)
{
	struct psw_trace_arm *a = arm("tcp dst port 80", 3, 0);
	struct psw_trace_rec recs[8];
	struct psw_burst b = { .nb = 6 };
	unsigned i;

	for (i = 0; i < 6; i++) {
		/* A to B: 80 (traced, port 0), 81 (not the filter's: denied by B's ingress) */
		b.pkts[i] = tcp_pkt(0, B, (uint16_t)(41000 + i), i % 2 ? 81 : 80, RTE_TCP_SYN_FLAG);
		b.meta[i].in_port = 0;
	}
	run(&b);
	for (i = 0; i < 6; i++) {
		if (i % 2) {
			CU_ASSERT_EQUAL(b.meta[i].drop_reason, PSW_DROP_POLICY_INGRESS);
		} else {
			CU_ASSERT_EQUAL(b.meta[i].verdict, PSW_V_TX);
		}
	}
	CU_ASSERT_EQUAL(take_records(recs, 8), 3);
	for (i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(recs[i].seq, i);
	CU_ASSERT_PTR_NULL(psw_trace_armed);
	disarm(a);
	/* another port: nothing traced */
	a = arm("", 1, 2);
	b.nb = 1;
	b.pkts[0] = tcp_pkt(0, B, 42000, 80, RTE_TCP_SYN_FLAG);
	b.meta[0].in_port = 0;
	run(&b);
	CU_ASSERT_EQUAL(b.meta[0].verdict, PSW_V_TX);
	CU_ASSERT_EQUAL(take_records(recs, 8), 0);
	CU_ASSERT_EQUAL(a->left, 1);
	CU_ASSERT_PTR_EQUAL(psw_trace_armed, a);
	disarm(a);
}

/* A ping to the gateway: answered by guard, sent back where it came from. */
static void
test_answered_by_the_switch(void)
{
	struct psw_trace_arm *a = arm("icmp", 1, PSW_PORT_NONE);
	struct psw_burst b = { .nb = 1 };
	struct tpkt p;
	json_t *j;
	char *text;

	tpkt_defaults(&p);
	p.proto = IPPROTO_ICMP;
	p.icmp_type = 8;
	memcpy(p.src_mac, macs[0], 6);
	memcpy(p.dst_mac, gw_mac, 6);
	p.src4 = A;
	p.dst4 = GW;
	b.pkts[0] = tpkt_build(mp, &p);
	b.meta[0].in_port = 0;
	run(&b);
	CU_ASSERT_EQUAL(b.meta[0].verdict, PSW_V_TX);
	CU_ASSERT_EQUAL_FATAL(take_records(&rec, 1), 1);
	j = psw_trace_render(NULL, &rec, 0);
	text = json_dumps(j, JSON_COMPACT);
	CU_ASSERT(strstr(text, "answered by the switch (echo_reply)") != NULL);
	CU_ASSERT(strstr(text, "\"stage\":\"conntrack\"") == NULL);
	free(text);
	json_decref(j);
	disarm(a);
}

/* A packet to a next hop not resolved yet: punted to the control thread. */
static void
test_punted_to_resolve(void)
{
	struct psw_trace_arm *a = arm("dst net 10.245.0.0/16", 1, PSW_PORT_NONE);
	struct psw_burst b = { .nb = 1 };
	json_t *j;
	char *text;

	b.pkts[0] = tcp_pkt(0, 0x0af50005u, 40500, 443, RTE_TCP_SYN_FLAG);
	b.meta[0].in_port = 0;
	run(&b);
	CU_ASSERT_EQUAL(b.meta[0].verdict, PSW_V_PUNT);
	CU_ASSERT_EQUAL_FATAL(take_records(&rec, 1), 1);
	CU_ASSERT_EQUAL(rec.why.kind, PSW_POL_WHY_NONE);      /* A is not isolated, the peer is no pod here */
	j = psw_trace_render(NULL, &rec, 0);
	text = json_dumps(j, JSON_COMPACT);
	CU_ASSERT(strstr(text, "punted to the control thread: resolve") != NULL);
	CU_ASSERT(strstr(text, "\"action\":\"punt\"") != NULL);
	free(text);
	json_decref(j);
	disarm(a);
}

/* A full ring loses records, counted; the worker never waits. */
static void
test_full_ring_counted(void)
{
	struct psw_trace_worker *tw = psw_trace_worker(0);
	struct psw_trace_arm *a;
	struct psw_burst b;
	uint64_t lost = tw->lost;
	unsigned i, j, sent = 0;

	a = arm("", PSW_TRACE_MAX, PSW_PORT_NONE);
	for (j = 0; j < 3; j++) {                      /* 3 bursts of 32: 64 traced, the rest not */
		b.nb = PSW_BURST_MAX;
		for (i = 0; i < PSW_BURST_MAX; i++) {
			b.pkts[i] = tcp_pkt(0, B, (uint16_t)(43000 + sent), 80, RTE_TCP_SYN_FLAG);
			b.meta[i].in_port = 0;
			sent++;
		}
		run(&b);
		for (i = 0; i < PSW_BURST_MAX; i++)
			CU_ASSERT_EQUAL(b.meta[i].verdict, PSW_V_TX);
	}
	CU_ASSERT_EQUAL(a->left, 0);
	CU_ASSERT_EQUAL(rte_ring_count(tw->ring) + (tw->lost - lost), PSW_TRACE_MAX);
	disarm(a);
	/* now fill the ring beyond its size */
	a = arm("", PSW_TRACE_MAX, PSW_PORT_NONE);
	for (j = 0; j < 2; j++) {
		b.nb = PSW_BURST_MAX;
		for (i = 0; i < PSW_BURST_MAX; i++) {
			b.pkts[i] = tcp_pkt(0, B, (uint16_t)(44000 + sent), 80, RTE_TCP_SYN_FLAG);
			b.meta[i].in_port = 0;
			sent++;
		}
		run(&b);
	}
	CU_ASSERT(tw->lost - lost == 2 * PSW_TRACE_MAX - (PSW_TRACE_RING - 1));
	CU_ASSERT_EQUAL(rte_ring_count(tw->ring), PSW_TRACE_RING - 1);
	while (take_records(&rec, 1) == 1) {
	}
	disarm(a);
}

/* A mixed burst of packets whose outcome keeps no state: ping, spoof, punt, deny, ARP. */
static void
stateless_burst(struct psw_burst *b)
{
	struct tpkt p;
	unsigned i;

	memset(b->meta, 0, sizeof(b->meta));        /* what no stage writes compares equal */
	for (i = 0; i < 10; i++) {
		switch (i % 5) {
		case 0:                              /* a ping to the gateway: answered */
			tpkt_defaults(&p);
			p.proto = IPPROTO_ICMP;
			p.icmp_type = 8;
			memcpy(p.src_mac, macs[0], 6);
			memcpy(p.dst_mac, gw_mac, 6);
			p.src4 = A;
			p.dst4 = GW;
			b->pkts[i] = tpkt_build(mp, &p);
			b->meta[i].in_port = 0;
			break;
		case 1:                              /* A's frame on B's port: spoof_mac */
			b->pkts[i] = tcp_pkt(0, B, 45000, 80, RTE_TCP_SYN_FLAG);
			b->meta[i].in_port = 1;
			break;
		case 2:                              /* to the unresolved next hop: punted */
			b->pkts[i] = tcp_pkt(0, 0x0af50005u, 45001, 443, RTE_TCP_SYN_FLAG);
			b->meta[i].in_port = 0;
			break;
		case 3:                              /* C to A: C's egress denies */
			b->pkts[i] = tcp_pkt(2, A, 45002, 80, RTE_TCP_SYN_FLAG);
			b->meta[i].in_port = 2;
			break;
		default:                             /* ARP for the gateway: answered */
			b->pkts[i] = tpkt_arp(mp, macs[1], B, GW, 1);
			b->meta[i].in_port = 1;
			break;
		}
	}
	b->nb = 10;
}

/* The trace's runner and psw_worker_process's decide the same, byte for byte. */
static void
test_same_as_without_a_trace(void)
{
	struct psw_burst plain, traced;
	struct psw_trace_rec recs[10];
	struct psw_trace_arm *a;
	unsigned i;

	stateless_burst(&plain);
	psw_worker_process(&lc, t, &plain);
	stateless_burst(&traced);
	a = arm("", 10, PSW_PORT_NONE);
	psw_worker_process(&lc, t, &traced);
	CU_ASSERT_EQUAL(take_records(recs, 10), 10);
	for (i = 0; i < plain.nb; i++) {
		CU_ASSERT_EQUAL(plain.meta[i].verdict, traced.meta[i].verdict);
		CU_ASSERT_EQUAL(plain.meta[i].drop_reason, traced.meta[i].drop_reason);
		CU_ASSERT_EQUAL(plain.meta[i].out_port, traced.meta[i].out_port);
		CU_ASSERT_EQUAL(rte_pktmbuf_pkt_len(plain.pkts[i]), rte_pktmbuf_pkt_len(traced.pkts[i]));
		CU_ASSERT(memcmp(rte_pktmbuf_mtod(plain.pkts[i], void *), rte_pktmbuf_mtod(traced.pkts[i], void *),
				 rte_pktmbuf_data_len(plain.pkts[i])) == 0);
		CU_ASSERT(memcmp(&plain.meta[i], &traced.meta[i], sizeof(plain.meta[i])) == 0);
		rte_pktmbuf_free(plain.pkts[i]);
		rte_pktmbuf_free(traced.pkts[i]);
	}
	CU_ASSERT_EQUAL(plain.meta[0].verdict, PSW_V_TX);
	CU_ASSERT_EQUAL(plain.meta[1].drop_reason, PSW_DROP_SPOOF_MAC);
	CU_ASSERT_EQUAL(plain.meta[2].verdict, PSW_V_PUNT);
	CU_ASSERT_EQUAL(plain.meta[3].drop_reason, PSW_DROP_POLICY_EGRESS);
	CU_ASSERT_EQUAL(plain.meta[4].verdict, PSW_V_TX);
	disarm(a);
}

/* Whatever a record holds (a worker's bug, a frame built to confuse): rendered, never read out of bounds. */
static void
test_render_any_record(void)
{
	unsigned i, k;

	srand(18);
	for (i = 0; i < 3000; i++) {
		uint8_t *p = (uint8_t *)&rec;
		json_t *j;

		for (k = 0; k < sizeof(rec); k++)
			p[k] = (uint8_t)rand();
		if (i % 2) {
			/* plausible frames: Ethernet with IPv4 / IPv6 / ARP / VLAN, random beyond */
			static const uint16_t types[] = { 0x0800, 0x86dd, 0x0806, 0x8100 };

			for (k = 0; k < PSW_TS_COUNT; k++) {
				rec.steps[k].hdr[12] = (uint8_t)(types[(i / 2 + k) % 4] >> 8);
				rec.steps[k].hdr[13] = (uint8_t)types[(i / 2 + k) % 4];
				rec.steps[k].hdr[14] = (uint8_t)(i % 3 ? 0x45 : 0x4f);
				rec.steps[k].hdr[23] = (uint8_t)(k % 2 ? IPPROTO_UDP : IPPROTO_TCP);
				if (i % 4 == 1) {
					rec.steps[k].hdr[36] = 0x12;       /* UDP port 4789: VXLAN inside */
					rec.steps[k].hdr[37] = 0xb5;
				} else {
					rec.steps[k].hdr[36] = 0x17;       /* UDP port 6081: Geneve inside, */
					rec.steps[k].hdr[37] = 0xc1;       /* its options' length random */
				}
			}
		}
		j = psw_trace_render(NULL, &rec, rec.tsc / 2);
		CU_ASSERT_PTR_NOT_NULL(j);
		json_decref(j);
	}
}

int
main(void)
{
	CU_pSuite s;
	unsigned failures;

	mp = psw_ut_eal("trace", 4096);
	if (mp == NULL)
		return 1;
	psw_lcore_init(&lc);
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("trace", setup, teardown);
	CU_add_test(s, "an allowed packet: every stage, the allowing policy and rule", test_allowed_packet_every_stage);
	CU_add_test(s, "a denied packet and a spoofed one: isolating policy, guard's drop", test_denied_and_spoofed);
	CU_add_test(s, "filter, port and the shared count; others untouched", test_filter_port_count);
	CU_add_test(s, "a ping to the gateway answered by the switch", test_answered_by_the_switch);
	CU_add_test(s, "a packet to an unresolved next hop: punted (resolve)", test_punted_to_resolve);
	CU_add_test(s, "a full ring loses records, counted", test_full_ring_counted);
	CU_add_test(s, "a traced burst decided as without a trace, byte for byte", test_same_as_without_a_trace);
	CU_add_test(s, "any record rendered without reading out of bounds", test_render_any_record);
	failures = (unsigned)psw_ut_run();
	psw_ut_eal_fini();
	return failures ? 1 : 0;
}
