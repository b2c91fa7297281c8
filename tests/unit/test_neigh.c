/*
 * IPv6 neighbour discovery on uplinks, attacked: which advertisements the
 * guard stage punts (and which it refuses), what the control thread learns
 * from them (psw_neigh_input: RFC 4861 checks, options, override, entries
 * nobody asked for), and which solicitations the guard refuses or answers.
 * Advertisements inside the overlay, which must teach nothing, are
 * test_tunnel.c's; the node both run on is neigh_fixture.h's. EAL
 * --no-huge, crafted mbufs.
 */
#define PSW_UT_EAL
#include <jansson.h>

#include "neigh_fixture.h"

static const uint8_t all_nodes[16] = { 0xff, 0x02, [15] = 1 };

/* The ICMPv6 message of an untagged frame. */
static uint8_t *
icmp_of(struct rte_mbuf *m)
{
	return rte_pktmbuf_mtod_offset(m, uint8_t *, 14 + 40);
}

/* ---- the control thread: psw_neigh_input ---- */

static uint64_t
counter(const char *name)
{
	json_t *o = psw_neigh_json(st.neigh);
	uint64_t v = (uint64_t)json_integer_value(json_object_get(json_object_get(o, "counters"), name));

	json_decref(o);
	return v;
}

static unsigned
nb_entries(void)
{
	json_t *o = psw_neigh_json(st.neigh);
	unsigned n = (unsigned)json_array_size(json_object_get(o, "entries"));

	json_decref(o);
	return n;
}

/* A refused advertisement: counted as nd_bad, the entry as it was. */
static void
expect_bad(struct rte_mbuf *m, const char *what)
{
	uint64_t bad = counter("nd_bad"), learned = counter("learned");

	learn(m, P_UP);
	if (counter("nd_bad") != bad + 1 || counter("learned") != learned) {
		fprintf(stderr, "\n  %s: nd_bad %lu -> %lu\n", what, (unsigned long)bad,
			(unsigned long)counter("nd_bad"));
		CU_FAIL(what);
	}
	expect_entry(NULL, 0, what);
}

static void
test_learn_solicited(void)
{
	fresh_table(PSW_PORT_NONE);
	/* the target link-layer option, not the frame's source, is the target's MAC */
	learn(na(mac_evil, rtr6, S_FLAG | O_FLAG, mac_rtr), P_UP);
	expect_entry(mac_rtr, P_UP, "solicited advertisement with its option");
	CU_ASSERT_EQUAL(counter("learned"), 1);
	CU_ASSERT_EQUAL(counter("nd_bad"), 0);
	/* without the option: the frame's source */
	fresh_table(PSW_PORT_NONE);
	learn(na(mac_rtr, rtr6, S_FLAG | O_FLAG, NULL), P_UP);
	expect_entry(mac_rtr, P_UP, "advertisement without an option");
	/* an odd trailing byte after the options is not an option */
	fresh_table(PSW_PORT_NONE);
	{
		uint8_t opts[9] = { 2, 1, 2, 0, 0, 0, 0, 0x71, 0x55 };

		learn(nd_frame(ND_NA, mac_evil, rtr_ll, node6, rtr6, S_FLAG, opts, 9), P_UP);
		expect_entry(mac_rtr, P_UP, "advertisement with a trailing byte");
	}
}

static void
test_malformed_refused(void)
{
	struct rte_mbuf *m;
	uint8_t opts[16];

	fresh_table(PSW_PORT_NONE);
	m = na(mac_rtr, rtr6, S_FLAG | O_FLAG, mac_rtr);
	ip_of(m)->hop_limits = 254;
	nd_cksum(m);
	expect_bad(m, "hop limit 254");

	m = na(mac_rtr, rtr6, S_FLAG | O_FLAG, mac_rtr);
	icmp_of(m)[1] = 1;
	nd_cksum(m);
	expect_bad(m, "code 1");

	m = na(mac_rtr, rtr6, S_FLAG | O_FLAG, mac_rtr);
	icmp_of(m)[2] ^= 0x01;
	expect_bad(m, "bad checksum");

	m = na(mac_rtr, rtr6, S_FLAG | O_FLAG, mac_rtr);
	icmp_of(m)[2] = icmp_of(m)[3] = 0;
	expect_bad(m, "no checksum");

	/* a zero-length option before the target's: would loop for ever */
	memset(opts, 0, sizeof(opts));
	opts[0] = 14;
	opts[1] = 0;
	opts[8] = 2;
	opts[9] = 1;
	memcpy(opts + 10, mac_evil, 6);
	expect_bad(nd_frame(ND_NA, mac_rtr, rtr_ll, node6, rtr6, S_FLAG | O_FLAG, opts, 16), "zero-length option");

	/* a target option that says 16 bytes where 8 are */
	opts[0] = 2;
	opts[1] = 2;
	memcpy(opts + 2, mac_evil, 6);
	expect_bad(nd_frame(ND_NA, mac_rtr, rtr_ll, node6, rtr6, S_FLAG | O_FLAG, opts, 8),
		   "option running past the message");

	/* an option of 255 * 8 bytes, right at the end of the frame */
	opts[0] = 14;
	opts[1] = 0xff;
	expect_bad(nd_frame(ND_NA, mac_rtr, rtr_ll, node6, rtr6, S_FLAG | O_FLAG, opts, 8), "option of 2040 bytes");

	/* the IPv6 payload length longer than the frame */
	m = na(mac_rtr, rtr6, S_FLAG | O_FLAG, mac_rtr);
	ip_of(m)->payload_len = rte_cpu_to_be_16(24 + 8 + 64);
	nd_cksum(m);
	expect_bad(m, "payload length past the frame");

	/* shorter than an advertisement */
	m = na(mac_rtr, rtr6, S_FLAG | O_FLAG, NULL);
	ip_of(m)->payload_len = rte_cpu_to_be_16(20);
	rte_pktmbuf_trim(m, 4);
	nd_cksum(m);
	expect_bad(m, "20-byte advertisement");

	/* a frame that ends inside the IPv6 header */
	m = na(mac_rtr, rtr6, S_FLAG | O_FLAG, NULL);
	rte_pktmbuf_trim(m, (uint16_t)(rte_pktmbuf_data_len(m) - 30));
	expect_bad(m, "frame cut in the IPv6 header");

	/* a multicast target */
	expect_bad(na(mac_rtr, all_nodes, S_FLAG | O_FLAG, mac_rtr), "multicast target");

	/* a solicitation is not an advertisement, even with a source link-layer option */
	opts[0] = 1;
	opts[1] = 1;
	memcpy(opts + 2, mac_evil, 6);
	expect_bad(nd_frame(ND_NS, mac_evil, rtr6, node6, node6, 0, opts, 8), "solicitation learnt");
	{
		static const uint8_t unspec[16];

		expect_bad(nd_frame(ND_NS, mac_evil, unspec, node6, rtr6, 0, opts, 8),
			   "solicitation from :: with a source option learnt");
	}

	/* another protocol behind the IPv6 header */
	m = na(mac_rtr, rtr6, S_FLAG | O_FLAG, mac_rtr);
	ip_of(m)->proto = IPPROTO_UDP;
	expect_bad(m, "not ICMPv6");

	/* RFC 4861 7.1.2: to a multicast address, the solicited flag is zero */
	opts[0] = 2;
	opts[1] = 1;
	memcpy(opts + 2, mac_evil, 6);
	expect_bad(nd_frame(ND_NA, mac_evil, rtr_ll, all_nodes, rtr6, S_FLAG | O_FLAG, opts, 8),
		   "solicited advertisement to all nodes");

	/* in two segments */
	m = na(mac_rtr, rtr6, S_FLAG | O_FLAG, mac_rtr);
	{
		struct rte_mbuf *tail = rte_pktmbuf_alloc(mp);

		CU_ASSERT_PTR_NOT_NULL_FATAL(tail);
		rte_pktmbuf_append(tail, 8);
		CU_ASSERT_EQUAL(rte_pktmbuf_chain(m, tail), 0);
	}
	expect_bad(m, "two segments");
	CU_ASSERT_EQUAL(counter("learned"), 0);
}

/* A VLAN-tagged advertisement is about another network. */
static void
test_tagged_refused(void)
{
	fresh_table(PSW_PORT_NONE);
	expect_bad(tagged(na(mac_rtr, rtr6, S_FLAG | O_FLAG, mac_rtr)), "a VLAN-tagged advertisement");
}

static void
test_unsolicited_ignored(void)
{
	static const uint8_t other6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 0x99 };
	static const uint8_t unspec[16];
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	static const uint8_t mcast[6] = { 0x33, 0x33, 0, 0, 0, 1 };
	static const uint8_t zero[6];

	fresh_table(PSW_PORT_NONE);
	learn(na(mac_evil, other6, O_FLAG, mac_evil), P_UP);
	CU_ASSERT_EQUAL(counter("unsolicited"), 1);
	CU_ASSERT_EQUAL(nb_entries(), 1);        /* no entry made for it */
	learn(na(mac_evil, unspec, O_FLAG, mac_evil), P_UP);
	CU_ASSERT_EQUAL(counter("unsolicited"), 2);
	CU_ASSERT_EQUAL(nb_entries(), 1);
	/* MACs nobody may have */
	learn(na(mac_evil, rtr6, S_FLAG | O_FLAG, up_mac), P_UP);
	learn(na(mac_evil, rtr6, S_FLAG | O_FLAG, up2_mac), P_UP);
	learn(na(mac_evil, rtr6, S_FLAG | O_FLAG, gw_mac), P_UP);
	learn(na(mac_evil, rtr6, S_FLAG | O_FLAG, bcast), P_UP);
	learn(na(mac_evil, rtr6, S_FLAG | O_FLAG, mcast), P_UP);
	learn(na(mac_evil, rtr6, S_FLAG | O_FLAG, zero), P_UP);
	learn(na(up_mac, rtr6, S_FLAG | O_FLAG, NULL), P_UP);
	CU_ASSERT_EQUAL(counter("unsolicited"), 9);
	CU_ASSERT_EQUAL(counter("learned"), 0);
	expect_entry(NULL, 0, "an own or group MAC learnt");

	/* asked for on U: an answer on U2 is not taken */
	fresh_table(P_UP);
	learn(na(mac_evil, rtr6, S_FLAG | O_FLAG, mac_evil), P_UP2);
	CU_ASSERT_EQUAL(counter("unsolicited"), 1);
	expect_entry(NULL, 0, "an answer on another uplink");
	learn(na(mac_rtr, rtr6, S_FLAG | O_FLAG, mac_rtr), P_UP);
	expect_entry(mac_rtr, P_UP, "the answer on the uplink asked");
}

static void
test_override(void)
{
	fresh_table(PSW_PORT_NONE);
	learn(na(mac_rtr, rtr6, S_FLAG, mac_rtr), P_UP);      /* incomplete: any answer */
	expect_entry(mac_rtr, P_UP, "first answer without O");
	/* without override, a known MAC stays */
	learn(na(mac_evil, rtr6, S_FLAG, mac_evil), P_UP);
	learn(na(mac_evil, rtr6, 0, mac_evil), P_UP);
	expect_entry(mac_rtr, P_UP, "a known MAC replaced without O");
	CU_ASSERT_EQUAL(counter("unsolicited"), 2);
	/* ... nor moves to another uplink */
	learn(na(mac_rtr, rtr6, S_FLAG, mac_rtr), P_UP2);
	expect_entry(mac_rtr, P_UP, "a known MAC moved without O");
	/* the same MAC confirms */
	learn(na(mac_rtr, rtr6, S_FLAG, mac_rtr), P_UP);
	CU_ASSERT_EQUAL(counter("confirmed"), 1);
	/* with override it changes */
	learn(na(mac_evil, rtr6, O_FLAG, mac_evil), P_UP2);
	expect_entry(mac_evil, P_UP2, "override refused");
	CU_ASSERT_EQUAL(counter("learned"), 2);
}

/* ---- the workers: the guard ---- */

static void
test_guard_punts(void)
{
	struct rte_mbuf *m;
	unsigned i, punted = 0, limited = 0;

	fresh();
	expect_v(na(mac_rtr, rtr6, S_FLAG | O_FLAG, mac_rtr), P_UP, PSW_V_PUNT, PSW_PUNT_ND,
		 "an advertisement on the uplink", false);
	m = na(mac_rtr, rtr6, S_FLAG | O_FLAG, mac_rtr);
	ip_of(m)->hop_limits = 64;
	nd_cksum(m);
	expect_v(m, P_UP, PSW_V_DROP, PSW_DROP_ND_IGNORED, "hop limit 64 punted", false);
	expect_v(na(mac_pod, rtr6, S_FLAG | O_FLAG, mac_pod), P_POD, PSW_V_DROP, PSW_DROP_ND_IGNORED,
		 "a pod's advertisement punted", false);
	expect_v(tagged(na(mac_rtr, rtr6, S_FLAG | O_FLAG, mac_rtr)), P_UP, PSW_V_DROP, PSW_DROP_ND_IGNORED, "a tagged advertisement punted", false);
	/* shorter than an advertisement */
	m = na(mac_rtr, rtr6, S_FLAG | O_FLAG, NULL);
	ip_of(m)->payload_len = rte_cpu_to_be_16(16);
	rte_pktmbuf_trim(m, 8);
	nd_cksum(m);
	expect_v(m, P_UP, PSW_V_DROP, PSW_DROP_ND_IGNORED, "a 16-byte advertisement punted", false);

	/* behind an extension header: not punted */
	{
		static const uint8_t hbh[8] = { IPPROTO_ICMPV6, 0, 1, 4, 0, 0, 0, 0 };

		m = na(mac_rtr, rtr6, S_FLAG | O_FLAG, mac_rtr);
		insert_ext(m, 0, hbh);
		expect_v(m, P_UP, PSW_V_DROP, PSW_DROP_ND_IGNORED, "an advertisement behind a hop-by-hop header punted",
			 false);
	}
	/* solicitations: test_guard_solicitations */

	/*
	 * Advertisements between other stations (the uplink sees them when it
	 * is promiscuous, or the segment floods) teach nothing and are not
	 * punted: their chatter cannot use up the port's budget for the
	 * node's own answers. To the uplink's MAC, or to a group, they are.
	 */
	{
		static const uint8_t host_a[6] = { 2, 0, 0, 0, 0, 0xa1 };

		m = na(mac_rtr, rtr6, S_FLAG | O_FLAG, mac_rtr);
		memcpy(rte_pktmbuf_mtod(m, uint8_t *), host_a, 6);
		expect_v(m, P_UP, PSW_V_DROP, PSW_DROP_ND_IGNORED, "an advertisement to another station punted",
			 false);
		m = na(mac_rtr, rtr6, S_FLAG | O_FLAG, mac_rtr);
		memcpy(rte_pktmbuf_mtod(m, uint8_t *), up2_mac, 6);
		expect_v(m, P_UP, PSW_V_DROP, PSW_DROP_ND_IGNORED, "an advertisement to the other uplink's MAC punted",
			 false);
		m = nd_frame(ND_NA, mac_rtr, rtr_ll, all_nodes, rtr6, O_FLAG, (const uint8_t[8]){ 2, 1, 2, 0, 0, 0, 0, 0x71 },
			     8);
		expect_v(m, P_UP, PSW_V_PUNT, PSW_PUNT_ND, "an unsolicited advertisement to all nodes", false);
	}

	/* a flood is held to the port's punt rate */
	fresh();
	for (i = 0; i < 300; i++) {
		struct psw_meta meta;

		m = na(mac_evil, rtr6, O_FLAG, mac_evil);
		meta = run(m, P_UP);
		punted += meta.verdict == PSW_V_PUNT;
		limited += meta.verdict == PSW_V_DROP && meta.drop_reason == PSW_DROP_PUNT_LIMIT;
		rte_pktmbuf_free(m);
	}
	CU_ASSERT(punted >= PSW_PUNT_BURST && punted < 250);
	CU_ASSERT_EQUAL(punted + limited, 300);
}

/* ---- solicitations: the guard checks them (RFC 4861 7.1.1) and answers them ---- */

static const uint8_t unspecified[16];
/* node6's solicited-node group, ff02::1:ff00:1 (also ff02::1's) */
static const uint8_t sn_node[16] = { 0xff, 0x02, [11] = 1, [12] = 0xff, [15] = 1 };
static const uint8_t slla_rtr[8] = { 1, 1, 2, 0, 0, 0, 0, 0x71 };                       /* mac_rtr */

/* A neighbour's solicitation of the node's address, with its source link-layer option. */
static struct rte_mbuf *
ns_of_node(void)
{
	return nd_frame(ND_NS, mac_rtr, rtr6, sn_node, node6, 0, slla_rtr, sizeof(slla_rtr));
}

/* m in on port: dropped as nd_bad, counted as the worker counts drops, nothing answered. */
static void
expect_ns_bad(struct rte_mbuf *m, uint16_t port, const char *what)
{
	uint64_t bad = lc.sc.drops[PSW_DROP_ND_BAD], replies = lc.sc.events[PSW_EV_ND_REPLY];
	struct psw_burst b = { .nb = 1 };

	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	b.pkts[0] = m;
	b.meta[0].in_port = port;
	m->port = port;
	psw_worker_process(&lc, t, &b);
	if (b.meta[0].verdict != PSW_V_DROP || b.meta[0].drop_reason != PSW_DROP_ND_BAD) {
		fprintf(stderr, "\n  %s: verdict %u port %u reason %s\n", what, b.meta[0].verdict,
			b.meta[0].out_port,
			b.meta[0].verdict == PSW_V_DROP ? psw_drop_name(b.meta[0].drop_reason) : "-");
		CU_FAIL(what);
		rte_pktmbuf_free(m);
		return;
	}
	psw_worker_dispatch(&lc, &b);            /* counts the drop, frees the frame */
	CU_ASSERT_EQUAL(lc.sc.drops[PSW_DROP_ND_BAD], bad + 1);
	CU_ASSERT_EQUAL(lc.sc.events[PSW_EV_ND_REPLY], replies);
}

static void
test_guard_solicitations(void)
{
	struct rte_mbuf *m;
	struct rte_ipv6_hdr *ip;
	uint8_t opts[16];
	uint8_t *icmp;

	fresh();
	/* a neighbour's solicitation of the node: the advertisement, from the uplink's MAC */
	m = expect_v(ns_of_node(), P_UP, PSW_V_TX, P_UP, "a neighbour's solicitation of the node", true);
	ip = ip_of(m);
	icmp = icmp_of(m);
	CU_ASSERT_EQUAL(rte_pktmbuf_data_len(m), 14 + 40 + 32);
	CU_ASSERT_EQUAL(memcmp(rte_pktmbuf_mtod(m, uint8_t *), mac_rtr, 6), 0);     /* to the frame's source */
	CU_ASSERT_EQUAL(memcmp(rte_pktmbuf_mtod(m, uint8_t *) + 6, up_mac, 6), 0);
	CU_ASSERT_EQUAL(memcmp(ip->src_addr, node6, 16), 0);
	CU_ASSERT_EQUAL(memcmp(ip->dst_addr, rtr6, 16), 0);
	CU_ASSERT_EQUAL(ip->hop_limits, 255);
	CU_ASSERT_EQUAL(ip->proto, IPPROTO_ICMPV6);
	CU_ASSERT_EQUAL(ip->payload_len, RTE_BE16(32));
	CU_ASSERT_EQUAL(icmp[0], ND_NA);
	CU_ASSERT_EQUAL(icmp[1], 0);
	CU_ASSERT(icmp[4] & S_FLAG);
	CU_ASSERT(icmp[4] & O_FLAG);
	CU_ASSERT_EQUAL(memcmp(icmp + 8, node6, 16), 0);
	CU_ASSERT_EQUAL(icmp[24], 2);                           /* target link-layer address */
	CU_ASSERT_EQUAL(icmp[25], 1);
	CU_ASSERT_EQUAL(memcmp(icmp + 26, up_mac, 6), 0);
	CU_ASSERT_EQUAL(tpkt_ip6_cksum_verify(ip, icmp), 0);
	CU_ASSERT_EQUAL(lc.sc.events[PSW_EV_ND_REPLY], 1);
	rte_pktmbuf_free(m);

	m = ns_of_node();
	icmp_of(m)[2] ^= 0x01;
	expect_ns_bad(m, P_UP, "a solicitation with a bad checksum");

	m = ns_of_node();
	ip_of(m)->hop_limits = 254;
	nd_cksum(m);
	expect_ns_bad(m, P_UP, "a solicitation with hop limit 254");

	m = ns_of_node();
	icmp_of(m)[1] = 1;
	nd_cksum(m);
	expect_ns_bad(m, P_UP, "a solicitation with code 1");

	/* a zero-length option before the source's */
	memset(opts, 0, sizeof(opts));
	opts[0] = 14;
	memcpy(opts + 8, slla_rtr, 8);
	expect_ns_bad(nd_frame(ND_NS, mac_rtr, rtr6, sn_node, node6, 0, opts, 16), P_UP,
		      "a solicitation with a zero-length option");

	/* a source option that says 16 bytes where 8 are */
	memcpy(opts, slla_rtr, 8);
	opts[1] = 2;
	expect_ns_bad(nd_frame(ND_NS, mac_rtr, rtr6, sn_node, node6, 0, opts, 8), P_UP,
		      "a solicitation with an option past its end");

	/* shorter than the 24 bytes up to the target */
	m = nd_frame(ND_NS, mac_rtr, rtr6, sn_node, node6, 0, NULL, 0);
	ip_of(m)->payload_len = RTE_BE16(20);
	rte_pktmbuf_trim(m, 4);
	nd_cksum(m);
	expect_ns_bad(m, P_UP, "a 20-byte solicitation");

	/* a multicast target: on the uplink, and from a pod (which the gateway answers for every other address) */
	expect_ns_bad(nd_frame(ND_NS, mac_rtr, rtr6, sn_node, all_nodes, 0, slla_rtr, 8), P_UP,
		      "a solicitation of a multicast address");
	expect_ns_bad(nd_frame(ND_NS, mac_pod, pod6, sn_node, all_nodes, 0, NULL, 0), P_POD,
		      "a pod's solicitation of a multicast address");

	/* duplicate address detection: from ::, with a source option, which it may not have ... */
	expect_ns_bad(nd_frame(ND_NS, mac_evil, unspecified, sn_node, node6, 0, slla_rtr, 8), P_UP,
		      "a probe from :: with a source link-layer option");
	/* ... or to an address that is not a solicited-node group */
	expect_ns_bad(nd_frame(ND_NS, mac_evil, unspecified, node6, node6, 0, NULL, 0), P_UP,
		      "a probe from :: to a unicast address");
	CU_ASSERT_EQUAL(lc.sc.drops[PSW_DROP_ND_BAD], 10);
	CU_ASSERT_EQUAL(lc.sc.events[PSW_EV_ND_REPLY], 1);

	/* valid, and not answered: a well-formed probe, a solicitation of another station */
	expect_v(nd_frame(ND_NS, mac_evil, unspecified, sn_node, node6, 0, NULL, 0), P_UP, PSW_V_DROP, PSW_DROP_ND_IGNORED,
		 "a duplicate address probe answered or refused", false);
	expect_v(nd_frame(ND_NS, mac_rtr, rtr6, sn_node, rtr_ll, 0, slla_rtr, 8), P_UP, PSW_V_DROP,
		 PSW_DROP_ND_IGNORED, "a solicitation of another station answered or refused", false);
	/* a valid one with a source option naming another MAC: answered to the frame's source, not the option's */
	m = nd_frame(ND_NS, mac_evil, rtr6, sn_node, node6, 0, slla_rtr, 8);
	m = expect_v(m, P_UP, PSW_V_TX, P_UP, "a solicitation whose option names another MAC", true);
	CU_ASSERT_EQUAL(memcmp(rte_pktmbuf_mtod(m, uint8_t *), mac_evil, 6), 0);
	rte_pktmbuf_free(m);
}

int
main(void)
{
	CU_pSuite s;
	int failures;

	if (fixture_start("neigh") != 0)
		return 1;
	CU_initialize_registry();
	s = CU_add_suite("neigh", NULL, NULL);
	CU_add_test(s, "a solicited advertisement is learnt, its option's MAC", test_learn_solicited);
	CU_add_test(s, "malformed advertisements refused and counted", test_malformed_refused);
	CU_add_test(s, "a VLAN-tagged advertisement refused", test_tagged_refused);
	CU_add_test(s, "advertisements nobody asked for, and impossible MACs, ignored", test_unsolicited_ignored);
	CU_add_test(s, "without override a known MAC stays", test_override);
	CU_add_test(s, "the guard punts on-link advertisements only, at the port's rate", test_guard_punts);
	CU_add_test(s, "invalid solicitations refused and counted, a valid one answered", test_guard_solicitations);
	failures = psw_ut_run();
	fixture_stop();
	return failures ? 1 : 0;
}
