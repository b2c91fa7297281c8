/*
 * The policy stage on crafted packets, through the whole pipeline
 * (psw_worker_process), with policy objects built by the stage's own
 * builder (real rte_acl contexts): a flow allowed both ways, denied by the
 * destination's ingress, denied by the source's egress, an established
 * connection kept without classification, and a connection judged again
 * after a policy change (cut, and its entry removed); the audit records
 * the stage hands the control thread (only for audited pods, bounded);
 * a Service's packets the policy stage drops are not counted to it.
 *
 * Pods: A (port 0, 10.244.0.10), B (port 1, 10.244.0.11), C (port 2,
 * 10.244.0.12). B admits A on TCP 80 only; C may send nowhere but to B.
 */
#define PSW_UT_EAL
#include <stdio.h>

#include <CUnit/Basic.h>
#include <rte_malloc.h>
#include <rte_tcp.h>

#include "pkt_build.h"
#include "psw_ct_ctl.h"
#include "psw_forward_ctl.h"
#include "psw_policy_ctl.h"
#include "psw_service_ctl.h"
#include "psw_ut.h"
#include "psw_worker.h"

#define A 0x0af4000au
#define B 0x0af4000bu
#define C 0x0af4000cu
#define VIP 0x0a600010u          /* 10.96.0.16:80, to B:80, counter slot 7 */
#define VIP81 0x0a600011u        /* 10.96.0.17:81, to B:81, counter slot 8 */

static struct rte_mempool *mp;
static struct psw_tables *t;
static struct psw_lcore lc;
static struct psw_pol_table pol;
static const uint8_t gw_mac[6] = { 0x02, 0x50, 0x53, 0x57, 0x00, 0x01 };
static const uint8_t macs[3][6] = { { 2, 0, 0, 0, 0, 0x0a }, { 2, 0, 0, 0, 0, 0x0b }, { 2, 0, 0, 0, 0, 0x0c } };
static const uint32_t ips[3] = { A, B, C };
static uint8_t audit_b, audit_c;         /* PSW_AUDIT_* of B's and C's objects */

static struct psw_pol_rule
rule(unsigned dir, uint32_t peer, unsigned plen, uint8_t proto, uint16_t lo, uint16_t hi, uint16_t n)
{
	struct psw_pol_rule r;
	uint32_t a = rte_cpu_to_be_32(peer);

	memset(&r, 0, sizeof(r));
	r.dir = (uint8_t)dir;
	r.family = 4;
	memcpy(r.addr, &a, 4);
	r.plen = (uint8_t)plen;
	r.proto = proto;
	r.port_lo = lo;
	r.port_hi = hi;
	r.ref.rule = n;
	return r;
}

/* B admits what its rule allows (TCP 80 from A, or also 81 when wider); C sends only to B. */
static void
set_policies(bool wider)
{
	struct psw_pol_rule rb[2], rc[1];
	uint16_t slot_b[1] = { 0 }, slot_c[1] = { 1 };
	const uint16_t *iso_b[2] = { slot_b, slot_b }, *iso_c[2] = { slot_c, slot_c };
	unsigned nb_iso_b[2] = { 1, 0 }, nb_iso_c[2] = { 0, 1 };
	bool in_only[2] = { true, false }, out_only[2] = { false, true };

	struct psw_pol_port *pb, *pc;

	rb[0] = rule(PSW_POL_INGRESS, A, 32, IPPROTO_TCP, 80, wider ? 81 : 80, 0);
	rc[0] = rule(PSW_POL_EGRESS, B, 32, 0, 0, UINT16_MAX, 0);
	pb = psw_pol_port_build(in_only, rb, 1, iso_b, nb_iso_b, SOCKET_ID_ANY);
	pc = psw_pol_port_build(out_only, rc, 1, iso_c, nb_iso_c, SOCKET_ID_ANY);
	if (pb != NULL && pc != NULL) {
		pb->port = 1;                    /* as the compiler sets them (psw_netpol.c) */
		pb->audit = audit_b;
		pc->port = 2;
		pc->audit = audit_c;
	}
	psw_pol_table_set(&pol, 1, pb);
	psw_pol_table_set(&pol, 2, pc);
	pol.nb_isolated = 2;
	__atomic_add_fetch(&pol.gen, 1, __ATOMIC_RELEASE);
	psw_tables_sync();                       /* the replaced objects are freed */
}

static int
setup(void)
{
	struct psw_pod pods[3];
	unsigned i;

	memset(pods, 0, sizeof(pods));
	t = psw_tables_alloc();
	t->node.gw4 = rte_cpu_to_be_32(0x0af40001);
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
	t->routes = psw_route_table_build(NULL, 0, SOCKET_ID_ANY);
	t->ct = psw_ct_create(1024, SOCKET_ID_ANY, psw_tables_qsbr());
	t->pol = &pol;
	set_policies(false);
	{
		struct psw_svc_backend be[2] = { { .family = 4, .local = 1 }, { .family = 4, .local = 1 } };
		uint32_t b = rte_cpu_to_be_32(B), vip[2] = { rte_cpu_to_be_32(VIP), rte_cpu_to_be_32(VIP81) };
		struct psw_svc_spec spec;

		t->svcs = psw_svc_table_create(64, SOCKET_ID_ANY);
		for (i = 0; t->svcs != NULL && i < 2; i++) {
			memcpy(be[i].addr, &b, 4);
			be[i].port = rte_cpu_to_be_16((uint16_t)(80 + i));
			memset(&spec, 0, sizeof(spec));
			spec.key.family = 4;
			spec.key.proto = IPPROTO_TCP;
			spec.key.port = rte_cpu_to_be_16((uint16_t)(80 + i));
			memcpy(spec.key.addr, &vip[i], 4);
			spec.cslot = (uint16_t)(7 + i);
			spec.nb_backends = 1;
			spec.backends = &be[i];
			if (psw_svc_table_set(t->svcs, psw_svc_port_build(&spec, 0, SOCKET_ID_ANY)) < 0)
				return 1;
		}
	}
	return t->pods == NULL || t->ct == NULL || t->svcs == NULL || pol.ports[1] == NULL ||
	       pol.ports[2] == NULL;
}

static int
teardown(void)
{
	psw_pol_table_set(&pol, 1, NULL);
	psw_pol_table_set(&pol, 2, NULL);
	psw_tables_sync();
	psw_ct_destroy(t->ct);
	psw_svc_table_destroy(t->svcs);
	return 0;
}

/* TCP from pod i to pod j with flags; runs the pipeline, returns the verdict's port or drop reason. */
static struct psw_meta tcp_to(unsigned i, uint32_t dst, uint16_t sport, uint16_t dport, uint8_t flags);

static struct psw_meta
tcp(unsigned i, unsigned j, uint16_t sport, uint16_t dport, uint8_t flags)
{
	return tcp_to(i, ips[j], sport, dport, flags);
}

/* The same to any address (a Service's). */
static struct psw_meta
tcp_to(unsigned i, uint32_t dst, uint16_t sport, uint16_t dport, uint8_t flags)
{
	struct psw_burst b = { .nb = 1 };
	struct rte_ipv4_hdr *ip;
	struct rte_tcp_hdr *th;
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
	b.pkts[0] = tpkt_build(mp, &p);
	ip = rte_pktmbuf_mtod_offset(b.pkts[0], struct rte_ipv4_hdr *, 14);
	th = (struct rte_tcp_hdr *)(ip + 1);
	th->tcp_flags = flags;
	th->sent_seq = rte_cpu_to_be_32(flags & RTE_TCP_SYN_FLAG ? 100 : 101);
	th->recv_ack = flags & RTE_TCP_ACK_FLAG ? rte_cpu_to_be_32(1001) : 0;
	th->rx_win = RTE_BE16(65535);
	th->cksum = 0;
	th->cksum = rte_ipv4_udptcp_cksum(ip, th);
	b.meta[0].in_port = (uint16_t)i;
	psw_worker_process(&lc, t, &b);
	rte_pktmbuf_free(b.pkts[0]);
	return b.meta[0];
}

#define EXPECT_TX(meta, port) do {                                      \
	struct psw_meta m_ = (meta);                                    \
	CU_ASSERT_EQUAL(m_.verdict, PSW_V_TX);                          \
	CU_ASSERT_EQUAL(m_.out_port, (port));                           \
} while (0)
#define EXPECT_DROP(meta, reason) do {                                  \
	struct psw_meta m_ = (meta);                                    \
	CU_ASSERT_EQUAL(m_.verdict, PSW_V_DROP);                        \
	CU_ASSERT_EQUAL(m_.drop_reason, (reason));                      \
} while (0)

static void
test_allowed_both_ways(void)
{
	uint64_t hits = lc.sc.events[PSW_EV_CT_HIT];

	EXPECT_TX(tcp(0, 1, 40000, 80, RTE_TCP_SYN_FLAG), 1);
	/* B's answer passes (B is not egress-isolated, and the connection is A's) */
	EXPECT_TX(tcp(1, 0, 80, 40000, RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG), 0);
	EXPECT_TX(tcp(0, 1, 40000, 80, RTE_TCP_ACK_FLAG), 1);
	CU_ASSERT_EQUAL(lc.sc.events[PSW_EV_CT_HIT] - hits, 2);     /* no classification after the first */
}

static void
test_denied_by_ingress(void)
{
	EXPECT_DROP(tcp(0, 1, 40001, 81, RTE_TCP_SYN_FLAG), PSW_DROP_POLICY_INGRESS);
	EXPECT_DROP(tcp(2, 1, 40002, 80, RTE_TCP_SYN_FLAG), PSW_DROP_POLICY_INGRESS);   /* C is not A */
}

static void
test_denied_by_egress(void)
{
	EXPECT_DROP(tcp(2, 0, 40003, 80, RTE_TCP_SYN_FLAG), PSW_DROP_POLICY_EGRESS);    /* C sends only to B */
}

/* A connection allowed under the old rules is judged again by its next packet. */
static void
test_rejudged_after_a_change(void)
{
	EXPECT_TX(tcp(0, 1, 40010, 80, RTE_TCP_SYN_FLAG), 1);
	EXPECT_TX(tcp(1, 0, 80, 40010, RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG), 0);
	/* wider rules: the connection stays, and 81 opens */
	set_policies(true);
	EXPECT_TX(tcp(0, 1, 40010, 80, RTE_TCP_ACK_FLAG), 1);
	EXPECT_TX(tcp(0, 1, 40011, 81, RTE_TCP_SYN_FLAG), 1);
	EXPECT_TX(tcp(1, 0, 81, 40011, RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG), 0);
	/* back to 80 only: the connection to 81 is cut at its next packet, either way */
	set_policies(false);
	EXPECT_DROP(tcp(1, 0, 81, 40011, RTE_TCP_ACK_FLAG), PSW_DROP_POLICY_INGRESS);
	EXPECT_DROP(tcp(0, 1, 40011, 81, RTE_TCP_ACK_FLAG), PSW_DROP_POLICY_INGRESS);
	/* and its entry goes at the next expiry pass; the one to 80 stays */
	psw_ct_expire(t->ct, 0, false);
	EXPECT_DROP(tcp(0, 1, 40011, 81, RTE_TCP_ACK_FLAG), PSW_DROP_POLICY_INGRESS);
	EXPECT_TX(tcp(0, 1, 40010, 80, RTE_TCP_ACK_FLAG), 1);
}

/*
 * A Service's packets count only when they go on: one the policy stage
 * drops (a new connection denied, or one cut by a change) is taken back,
 * else a denied client, or any outside one probing a protected Service,
 * would show traffic to backends that never reached them.
 */
static void
test_service_packets_denied_not_counted(void)
{
	struct psw_svc_counts *c7, *c8;

	lc.sc.svc = rte_zmalloc("svc", PSW_SVC_MAX_SLOTS * sizeof(*lc.sc.svc), 0);
	CU_ASSERT_FATAL(lc.sc.svc != NULL);
	c7 = &lc.sc.svc[7];
	c8 = &lc.sc.svc[8];
	/* C through the Service to B:80: B admits only A */
	EXPECT_DROP(tcp_to(2, VIP, 40020, 80, RTE_TCP_SYN_FLAG), PSW_DROP_POLICY_INGRESS);
	CU_ASSERT_EQUAL(c7->connections, 1);
	CU_ASSERT_EQUAL(c7->packets[0], 0);
	CU_ASSERT_EQUAL(c7->bytes[0], 0);
	/* A through it: counted both ways */
	EXPECT_TX(tcp_to(0, VIP, 40021, 80, RTE_TCP_SYN_FLAG), 1);
	EXPECT_TX(tcp(1, 0, 80, 40021, RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG), 0);
	CU_ASSERT_EQUAL(c7->packets[0], 1);
	CU_ASSERT_EQUAL(c7->packets[1], 1);
	CU_ASSERT_EQUAL(c7->bytes[0], 40);
	/* A to B:81 through the other Service while the wider rules hold, then cut */
	set_policies(true);
	EXPECT_TX(tcp_to(0, VIP81, 40022, 81, RTE_TCP_SYN_FLAG), 1);
	EXPECT_TX(tcp(1, 0, 81, 40022, RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG), 0);
	set_policies(false);
	EXPECT_DROP(tcp(1, 0, 81, 40022, RTE_TCP_ACK_FLAG), PSW_DROP_POLICY_INGRESS);
	EXPECT_DROP(tcp_to(0, VIP81, 40022, 81, RTE_TCP_ACK_FLAG), PSW_DROP_POLICY_INGRESS);
	CU_ASSERT_EQUAL(c8->packets[0], 1);
	CU_ASSERT_EQUAL(c8->packets[1], 1);
	CU_ASSERT_EQUAL(c8->bytes[0], 40);
	CU_ASSERT_EQUAL(c8->bytes[1], 40);
	psw_ct_expire(t->ct, 0, false);
	rte_free(lc.sc.svc);
	lc.sc.svc = NULL;
}

/* The records waiting on the worker's audit ring, taken off it. */
static unsigned
take_records(struct psw_audit_rec *out, unsigned max)
{
	return rte_ring_sc_dequeue_burst_elem(lc.sc.audit, out, sizeof(*out), max, NULL);
}

static void
test_audit_records(void)
{
	struct psw_audit_rec r[80];
	uint32_t a = rte_cpu_to_be_32(A), b = rte_cpu_to_be_32(B);
	uint64_t full, suppressed, queued;
	unsigned i, n;

	lc.sc.audit = rte_ring_create_elem("ut_audit", sizeof(struct psw_audit_rec), 64, SOCKET_ID_ANY,
					   RING_F_SP_ENQ | RING_F_SC_DEQ);
	CU_ASSERT_PTR_NOT_NULL_FATAL(lc.sc.audit);
	/* nobody audited: a denial leaves no record, and no audit code runs */
	audit_b = audit_c = 0;
	set_policies(false);
	CU_ASSERT_EQUAL(pol.nb_audited, 0);
	EXPECT_DROP(tcp(0, 1, 40020, 81, RTE_TCP_SYN_FLAG), PSW_DROP_POLICY_INGRESS);
	CU_ASSERT_EQUAL(take_records(r, 80), 0);

	/* B audits denials: one record, as B sees the connection */
	audit_b = PSW_AUDIT_DENY;
	set_policies(false);
	CU_ASSERT_EQUAL(pol.nb_audited, 1);
	EXPECT_DROP(tcp(0, 1, 40021, 81, RTE_TCP_SYN_FLAG), PSW_DROP_POLICY_INGRESS);
	EXPECT_TX(tcp(0, 1, 40022, 80, RTE_TCP_SYN_FLAG), 1);          /* allowed: not asked for */
	CU_ASSERT_EQUAL_FATAL(take_records(r, 80), 1);
	CU_ASSERT_EQUAL(memcmp(r[0].src, &a, 4), 0);
	CU_ASSERT_EQUAL(memcmp(r[0].dst, &b, 4), 0);
	CU_ASSERT_EQUAL(r[0].sport, rte_cpu_to_be_16(40021));
	CU_ASSERT_EQUAL(r[0].dport, rte_cpu_to_be_16(81));
	CU_ASSERT_EQUAL(r[0].family, 4);
	CU_ASSERT_EQUAL(r[0].proto, IPPROTO_TCP);
	CU_ASSERT_EQUAL(r[0].dir, PSW_POL_INGRESS);
	CU_ASSERT_EQUAL(r[0].verdict, PSW_AUDIT_V_DENY);
	CU_ASSERT_EQUAL(r[0].pod_port, 1);
	CU_ASSERT_EQUAL(r[0].in_port, 0);
	CU_ASSERT_EQUAL(r[0].slot, 0);                                 /* the policy isolating B */
	CU_ASSERT_EQUAL(r[0].rule, PSW_AUDIT_NO_RULE);
	CU_ASSERT_EQUAL(r[0].recheck, 0);
	CU_ASSERT_NOT_EQUAL(r[0].tsc, 0);

	/* B audits allowed ones too: the new connection's record names the rule; its reply none */
	audit_b = PSW_AUDIT_DENY | PSW_AUDIT_ALLOW;
	audit_c = PSW_AUDIT_DENY;
	set_policies(false);
	CU_ASSERT_EQUAL(pol.nb_audited, 2);
	EXPECT_TX(tcp(0, 1, 40023, 80, RTE_TCP_SYN_FLAG), 1);
	EXPECT_TX(tcp(1, 0, 80, 40023, RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG), 0);
	EXPECT_TX(tcp(0, 1, 40023, 80, RTE_TCP_ACK_FLAG), 1);
	CU_ASSERT_EQUAL_FATAL(take_records(r, 80), 1);
	CU_ASSERT_EQUAL(r[0].verdict, PSW_AUDIT_V_ALLOW);
	CU_ASSERT_EQUAL(r[0].rule, 0);
	CU_ASSERT_EQUAL(r[0].dport, rte_cpu_to_be_16(80));
	/* C's egress: a record on C's side */
	EXPECT_DROP(tcp(2, 0, 40024, 80, RTE_TCP_SYN_FLAG), PSW_DROP_POLICY_EGRESS);
	CU_ASSERT_EQUAL_FATAL(take_records(r, 80), 1);
	CU_ASSERT_EQUAL(r[0].dir, PSW_POL_EGRESS);
	CU_ASSERT_EQUAL(r[0].pod_port, 2);
	CU_ASSERT_EQUAL(r[0].slot, 1);

	/* a full ring is counted, never waited on */
	full = lc.sc.events[PSW_EV_AUDIT_RING_FULL];
	for (i = 0; i < 70; i++)
		EXPECT_DROP(tcp(0, 1, (uint16_t)(41000 + i), 81, RTE_TCP_SYN_FLAG), PSW_DROP_POLICY_INGRESS);
	CU_ASSERT_EQUAL(lc.sc.events[PSW_EV_AUDIT_RING_FULL] - full, 70 - rte_ring_get_capacity(lc.sc.audit));
	CU_ASSERT_EQUAL(take_records(r, 80), rte_ring_get_capacity(lc.sc.audit));

	/* one pod's flood takes at most its bucket on this worker; the rest is counted */
	suppressed = lc.sc.events[PSW_EV_AUDIT_SUPPRESSED];
	queued = lc.sc.events[PSW_EV_AUDIT_QUEUED];
	for (i = 0, n = 0; i < 1500; i++) {
		EXPECT_DROP(tcp(0, 1, (uint16_t)(42000 + i), 81, RTE_TCP_SYN_FLAG), PSW_DROP_POLICY_INGRESS);
		n += take_records(r, 80);
	}
	CU_ASSERT_EQUAL(n, lc.sc.events[PSW_EV_AUDIT_QUEUED] - queued);
	CU_ASSERT_EQUAL(n + lc.sc.events[PSW_EV_AUDIT_SUPPRESSED] - suppressed, 1500);
	CU_ASSERT_TRUE(lc.sc.events[PSW_EV_AUDIT_SUPPRESSED] - suppressed >= 400);   /* burst 1000, less what came back */

	audit_b = audit_c = 0;
	set_policies(false);
	CU_ASSERT_EQUAL(pol.nb_audited, 0);
	rte_ring_free(lc.sc.audit);
	lc.sc.audit = NULL;
}

int
main(void)
{
	CU_pSuite s;
	int rc;

	mp = psw_ut_eal("policy_stage", 1024);
	if (mp == NULL)
		return 1;
	psw_lcore_init(&lc);
	CU_initialize_registry();
	s = CU_add_suite("policy stage", setup, teardown);
	CU_add_test(s, "allowed: both ways, then without classification", test_allowed_both_ways);
	CU_add_test(s, "denied by the destination's ingress", test_denied_by_ingress);
	CU_add_test(s, "denied by the source's egress", test_denied_by_egress);
	CU_add_test(s, "established connections judged again after a change", test_rejudged_after_a_change);
	CU_add_test(s, "a Service's packets the policy stage drops are not counted",
		    test_service_packets_denied_not_counted);
	CU_add_test(s, "audit records: audited pods only, their fields, a full ring, the worker's bucket",
		    test_audit_records);
	rc = psw_ut_run();
	psw_ut_eal_fini();
	return rc;
}
