/*
 * Fragments to Service addresses (stage/psw_frag.h, EAL --no-huge): a UDP
 * datagram to a ClusterIP cut in two, IPv4 and IPv6, through the stages
 * and the worker's dispatch and hold as the worker loop runs them. The
 * later fragment in order (followed), before its first (held, released
 * with the first one's DNAT), with its first never coming (dropped when it
 * expires), a flood of later fragments without their first (the hold
 * stays bounded, the oldest pushed out and counted), its input port gone
 * while it waited, and the worker stopping with fragments held. Every
 * test checks that each mbuf comes back to the pool.
 */
#define PSW_UT_EAL
#include <stdio.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <rte_eal.h>
#include <rte_malloc.h>

#include "pkt_build.h"
#include "psw_ct.h"
#include "psw_ct_ctl.h"
#include "psw_forward_ctl.h"
#include "psw_frag.h"
#include "psw_port.h"
#include "psw_service.h"
#include "psw_service_ctl.h"
#include "psw_ut.h"
#include "psw_worker.h"

#define CLIENT 0x0af4000au       /* 10.244.0.10, port 0 */
#define BACKEND 0x0af4000bu      /* 10.244.0.11, port 1 */
#define VIP 0x0a600010u          /* 10.96.0.16: UDP 53 -> BACKEND:5353 */
#define PAYLOAD 100u             /* UDP payload: the first fragment carries 8 + 24 bytes */
#define CUT 32u

static struct rte_mempool *mp;
static struct psw_tables *t;
static struct psw_lcore lc;
static unsigned mp_baseline;
static const uint8_t gw_mac[6] = { 0x02, 0x50, 0x53, 0x57, 0x00, 0x01 };
static const uint8_t mac_c[6] = { 2, 0, 0, 0, 0, 0x0a }, mac_b[6] = { 2, 0, 0, 0, 0, 0x0b };
static const uint8_t client6[16] = { 0xfd, [15] = 0x0a }, backend6[16] = { 0xfd, [15] = 0x0b };
static const uint8_t vip6[16] = { 0xfd, 0, 0, 0x96, [15] = 0x10 };

static bool
add_udp_service(unsigned family, const void *vip, const void *backend)
{
	struct psw_svc_backend be = { .family = (uint8_t)family, .local = 1, .port = RTE_BE16(5353) };
	struct psw_svc_spec spec;

	memset(&spec, 0, sizeof(spec));
	spec.key.family = (uint8_t)family;
	spec.key.proto = IPPROTO_UDP;
	spec.key.port = RTE_BE16(53);
	memcpy(spec.key.addr, vip, family == 4 ? 4 : 16);
	memcpy(be.addr, backend, family == 4 ? 4 : 16);
	spec.nb_backends = 1;
	spec.backends = &be;
	spec.cslot = (uint16_t)family;          /* counted to slot 4 or 6 */
	return psw_svc_table_set(t->svcs, psw_svc_port_build(&spec, 0, SOCKET_ID_ANY)) == 0;
}

static int
setup(void)
{
	struct psw_pod pods[2] = { 0 };
	uint32_t vip = rte_cpu_to_be_32(VIP), b = rte_cpu_to_be_32(BACKEND);

	t = psw_tables_alloc();
	t->node.gw4 = rte_cpu_to_be_32(0x0af40001);
	t->node.gw6[0] = 0xfd;
	t->node.gw6[15] = 1;
	t->node.has_ip6 = 1;
	memcpy(&t->node.gw_mac, gw_mac, 6);
	t->node.pod_net4 = rte_cpu_to_be_32(0x0af40000);
	t->node.pod_mask4 = rte_cpu_to_be_32(0xffffff00);
	t->ports[0] = (struct psw_port_info){ .present = 1, .is_pod = 1, .pod = 0, .mtu = 1500 };
	t->ports[1] = (struct psw_port_info){ .present = 1, .is_pod = 1, .pod = 1, .mtu = 1500 };
	memcpy(&pods[0].nh.mac, mac_c, 6);
	pods[0].nh.port = 0;
	pods[0].has_ip4 = pods[0].has_ip6 = 1;
	pods[0].ip4 = rte_cpu_to_be_32(CLIENT);
	memcpy(pods[0].ip6, client6, 16);
	memcpy(&pods[1].nh.mac, mac_b, 6);
	pods[1].nh.port = 1;
	pods[1].has_ip4 = pods[1].has_ip6 = 1;
	pods[1].ip4 = b;
	memcpy(pods[1].ip6, backend6, 16);
	t->pods = psw_pod_table_build(pods, 2, SOCKET_ID_ANY);
	t->routes = psw_route_table_build(NULL, 0, SOCKET_ID_ANY);
	t->svcs = psw_svc_table_create(64, SOCKET_ID_ANY);
	t->ct = psw_ct_create(1024, SOCKET_ID_ANY, psw_tables_qsbr());
	if (t->pods == NULL || t->svcs == NULL || t->ct == NULL)
		return 1;
	if (!add_udp_service(4, &vip, &b) || !add_udp_service(6, vip6, backend6))
		return 1;
	lc.sc.svc = rte_zmalloc("svc", PSW_SVC_MAX_SLOTS * sizeof(*lc.sc.svc), 0);
	mp_baseline = rte_mempool_in_use_count(mp);
	return lc.sc.svc == NULL;
}

static int
teardown(void)
{
	rte_free(lc.sc.svc);
	lc.sc.svc = NULL;
	psw_ct_destroy(t->ct);
	psw_svc_table_destroy(t->svcs);
	psw_pod_table_put(t->pods);
	psw_route_table_put(t->routes);
	rte_free(t);
	return 0;
}

/*
 * A UDP datagram (PAYLOAD bytes, IP identification / fragment id id) from
 * the client to the ClusterIP, cut after CUT bytes of its IP payload: the
 * first fragment in *first, the rest in *later.
 */
static void
datagram(bool ip6, uint16_t sport, uint32_t id, struct rte_mbuf **first, struct rte_mbuf **later)
{
	struct tpkt p;
	struct rte_mbuf *whole;
	unsigned l3 = ip6 ? 40 : 20, total = 8 + PAYLOAD, i;
	const uint8_t *w;

	*first = *later = NULL;                  /* both set below; said for -O3's flow analysis */
	tpkt_defaults(&p);
	p.ip6 = ip6;
	memcpy(p.src_mac, mac_c, 6);
	memcpy(p.dst_mac, gw_mac, 6);
	p.src4 = CLIENT;
	p.dst4 = VIP;
	memcpy(p.src6, client6, 16);
	memcpy(p.dst6, vip6, 16);
	p.sport = sport;
	p.dport = 53;
	p.payload = PAYLOAD;
	whole = tpkt_build(mp, &p);
	CU_ASSERT_FATAL(whole != NULL);
	w = rte_pktmbuf_mtod(whole, const uint8_t *);
	for (i = 0; i < 2; i++) {
		unsigned off = i == 0 ? 0 : CUT, len = i == 0 ? CUT : total - CUT;
		unsigned hdr = 14 + l3 + (ip6 ? 8 : 0);
		struct rte_mbuf *m = rte_pktmbuf_alloc(mp);
		uint8_t *d;

		CU_ASSERT_FATAL(m != NULL);
		d = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)(hdr + len));
		memcpy(d, w, 14 + l3);
		memcpy(d + hdr, w + 14 + l3 + off, len);
		if (!ip6) {
			struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(d + 14);

			ip->total_length = rte_cpu_to_be_16((uint16_t)(20 + len));
			ip->packet_id = rte_cpu_to_be_16((uint16_t)id);
			ip->fragment_offset = rte_cpu_to_be_16((uint16_t)(off / 8 | (i == 0 ? RTE_IPV4_HDR_MF_FLAG : 0)));
			ip->hdr_checksum = 0;
			ip->hdr_checksum = rte_ipv4_cksum(ip);
		} else {
			struct rte_ipv6_hdr *ip = (struct rte_ipv6_hdr *)(d + 14);
			uint8_t *fh = d + 14 + 40;
			uint32_t nid = rte_cpu_to_be_32(id);

			ip->payload_len = rte_cpu_to_be_16((uint16_t)(8 + len));
			ip->proto = IPPROTO_FRAGMENT;
			fh[0] = IPPROTO_UDP;
			fh[1] = 0;
			fh[2] = (uint8_t)(off >> 8);
			fh[3] = (uint8_t)((off & 0xf8) | (i == 0 ? 1 : 0));
			memcpy(fh + 4, &nid, 4);
		}
		*(i == 0 ? first : later) = m;
	}
	rte_pktmbuf_free(whole);
}

/* One packet through the stages and dispatch, as the worker runs a burst. */
static struct psw_meta
run(struct rte_mbuf *m, uint16_t port)
{
	struct psw_burst b = { .nb = 1 };
	struct psw_meta meta;

	b.pkts[0] = m;
	b.meta[0].in_port = port;
	psw_worker_process(&lc, t, &b);
	meta = b.meta[0];
	psw_worker_dispatch(&lc, &b);
	return meta;
}

/* The destination of the n-th packet waiting to leave on port (it is the backend's?). */
static bool
sent_to_backend(unsigned port, unsigned n, bool ip6)
{
	const struct psw_txbuf *tb = &lc.tx[port];
	const uint8_t *l3;

	if (n >= tb->nb)
		return false;
	l3 = rte_pktmbuf_mtod_offset(tb->pkts[n], const uint8_t *, 14);
	if (!ip6) {
		struct rte_ipv4_hdr ip;
		uint32_t b = rte_cpu_to_be_32(BACKEND);
		uint16_t sum;

		memcpy(&ip, l3, sizeof(ip));
		sum = ip.hdr_checksum;
		ip.hdr_checksum = 0;
		return memcmp(l3 + 16, &b, 4) == 0 && rte_ipv4_cksum(&ip) == sum;   /* NAT kept it valid */
	}
	return memcmp(l3 + 24, backend6, 16) == 0;
}

/* Everything sent and dropped is freed; the pool is whole again. */
static void
settle(void)
{
	psw_worker_flush(&lc);           /* no port is in use: every TX is freed as refused */
	CU_ASSERT_EQUAL(rte_mempool_in_use_count(mp), mp_baseline);
}

static uint64_t
ev(enum psw_event e)
{
	return lc.sc.events[e];
}

static void
in_order_and_reversed(bool ip6, uint16_t sport)
{
	struct rte_mbuf *first, *later;
	struct psw_burst b = { .nb = 0 };
	struct psw_meta meta;
	uint64_t followed = ev(PSW_EV_FRAG_FOLLOWED), held = ev(PSW_EV_FRAG_HELD);
	uint64_t released = ev(PSW_EV_FRAG_RELEASED), seen = ev(PSW_EV_FRAG_SEEN);
	const struct psw_svc_counts *c = &lc.sc.svc[ip6 ? 6 : 4];
	uint64_t pkts = c->packets[0], bytes = c->bytes[0];
	unsigned l3 = ip6 ? 48 : 20;             /* (with IPv6's fragment header) */

	/* in order, one burst each: the later follows its first's DNAT */
	datagram(ip6, sport, 0x1234, &first, &later);
	meta = run(first, 0);
	CU_ASSERT_EQUAL(meta.verdict, PSW_V_TX);
	CU_ASSERT_EQUAL(meta.out_port, 1);
	meta = run(later, 0);
	CU_ASSERT_EQUAL(meta.verdict, PSW_V_TX);
	CU_ASSERT_EQUAL(meta.out_port, 1);
	CU_ASSERT(sent_to_backend(1, 0, ip6));
	CU_ASSERT(sent_to_backend(1, 1, ip6));
	CU_ASSERT_EQUAL(ev(PSW_EV_FRAG_FOLLOWED), followed + 1);
	settle();

	/* reversed (another datagram of the same connection): held, then released after its first */
	datagram(ip6, sport, 0x1235, &first, &later);
	meta = run(later, 0);
	CU_ASSERT_EQUAL(meta.verdict, PSW_V_HOLD);
	CU_ASSERT_EQUAL(lc.frag_cache.hold.nb, 1);
	CU_ASSERT_EQUAL(ev(PSW_EV_FRAG_HELD), held + 1);
	meta = run(first, 0);
	CU_ASSERT_EQUAL(meta.verdict, PSW_V_TX);
	CU_ASSERT_EQUAL(lc.frag_cache.hold.nb_ready, 1);
	psw_worker_frag_run(&lc, t, &b, rte_rdtsc());
	CU_ASSERT_EQUAL(lc.frag_cache.hold.nb, 0);
	CU_ASSERT_EQUAL(lc.tx[1].nb, 2);
	CU_ASSERT(sent_to_backend(1, 1, ip6));
	CU_ASSERT_EQUAL(ev(PSW_EV_FRAG_RELEASED), released + 1);
	CU_ASSERT_EQUAL(ev(PSW_EV_FRAG_FOLLOWED), followed + 2);
	CU_ASSERT_EQUAL(ev(PSW_EV_FRAG_SEEN), seen + 4);   /* a released one is not seen twice */
	settle();

	/* a new connection's datagram, reversed: its first opens the connection */
	datagram(ip6, (uint16_t)(sport + 1), 0x1236, &first, &later);
	CU_ASSERT_EQUAL(run(later, 0).verdict, PSW_V_HOLD);
	CU_ASSERT_EQUAL(run(first, 0).verdict, PSW_V_TX);
	psw_worker_frag_run(&lc, t, &b, rte_rdtsc());
	CU_ASSERT_EQUAL(lc.tx[1].nb, 2);
	CU_ASSERT(sent_to_backend(1, 1, ip6));
	settle();
	/* each fragment counted once to the Service, held ones when released: 3 datagrams */
	CU_ASSERT_EQUAL(c->packets[0] - pkts, 6);
	CU_ASSERT_EQUAL(c->bytes[0] - bytes, 3 * (2 * l3 + 8 + PAYLOAD));
	CU_ASSERT_EQUAL(c->packets[1], 0);
}

static void
test_ip4(void)
{
	in_order_and_reversed(false, 40000);
}

static void
test_ip6(void)
{
	in_order_and_reversed(true, 41000);
}

/* Both fragments in one burst, the later one first: followed in the service stage, never held. */
static void
test_reversed_in_one_burst(void)
{
	struct psw_burst b = { .nb = 2 };
	uint64_t held = ev(PSW_EV_FRAG_HELD);

	datagram(true, 42000, 7, &b.pkts[1], &b.pkts[0]);
	b.meta[0].in_port = b.meta[1].in_port = 0;
	psw_worker_process(&lc, t, &b);
	CU_ASSERT_EQUAL(b.meta[0].verdict, PSW_V_TX);
	CU_ASSERT_EQUAL(b.meta[1].verdict, PSW_V_TX);
	psw_worker_dispatch(&lc, &b);
	CU_ASSERT(sent_to_backend(1, 0, true));
	CU_ASSERT(sent_to_backend(1, 1, true));
	CU_ASSERT_EQUAL(ev(PSW_EV_FRAG_HELD), held);
	settle();
}

/*
 * Later fragments whose first never comes: a flood fills the hold, the
 * oldest make room (frag_hold_full), the rest expire (frag_no_first).
 */
static void
test_flood_without_first(void)
{
	struct psw_burst b = { .nb = 0 };
	uint64_t full = lc.sc.drops[PSW_DROP_FRAG_HOLD_FULL], expired = lc.sc.drops[PSW_DROP_FRAG_NO_FIRST];
	unsigned i, extra = 40;

	for (i = 0; i < PSW_FRAG_HOLD_MAX + extra; i++) {
		struct rte_mbuf *first, *later;

		datagram(i & 1, 43000, 0x10000 + i, &first, &later);
		rte_pktmbuf_free(first);
		CU_ASSERT_EQUAL(run(later, 0).verdict, PSW_V_HOLD);
	}
	CU_ASSERT_EQUAL(lc.frag_cache.hold.nb, PSW_FRAG_HOLD_MAX);
	CU_ASSERT_EQUAL(lc.sc.drops[PSW_DROP_FRAG_HOLD_FULL], full + extra);
	CU_ASSERT_EQUAL(rte_mempool_in_use_count(mp), mp_baseline + PSW_FRAG_HOLD_MAX);
	/* not yet expired: still held */
	psw_worker_frag_run(&lc, t, &b, rte_rdtsc());
	CU_ASSERT_EQUAL(lc.frag_cache.hold.nb, PSW_FRAG_HOLD_MAX);
	psw_worker_frag_run(&lc, t, &b, rte_rdtsc() + rte_get_tsc_hz() / 1000 * (PSW_FRAG_HOLD_MS + 1));
	CU_ASSERT_EQUAL(lc.frag_cache.hold.nb, 0);
	CU_ASSERT_EQUAL(lc.sc.drops[PSW_DROP_FRAG_NO_FIRST], expired + PSW_FRAG_HOLD_MAX);
	settle();
}

/* Its input port replaced while it waited: dropped when released; the worker stops: dropped. */
static void
test_port_gone_and_worker_stop(void)
{
	struct psw_burst b = { .nb = 0 };
	struct rte_mbuf *first, *later;
	uint64_t gone = lc.sc.drops[PSW_DROP_FRAG_HOLD_GONE];

	datagram(false, 44000, 0x4444, &first, &later);
	CU_ASSERT_EQUAL(run(later, 0).verdict, PSW_V_HOLD);
	__atomic_add_fetch(&psw_ports[0].gen, 1, __ATOMIC_RELEASE);
	CU_ASSERT_EQUAL(run(first, 0).verdict, PSW_V_TX);
	psw_worker_frag_run(&lc, t, &b, rte_rdtsc());
	CU_ASSERT_EQUAL(lc.sc.drops[PSW_DROP_FRAG_HOLD_GONE], gone + 1);
	CU_ASSERT_EQUAL(lc.tx[1].nb, 1);
	settle();
	datagram(true, 44001, 0x4445, &first, &later);
	rte_pktmbuf_free(first);
	CU_ASSERT_EQUAL(run(later, 0).verdict, PSW_V_HOLD);
	psw_worker_frag_flush(&lc);
	CU_ASSERT_EQUAL(lc.sc.drops[PSW_DROP_FRAG_HOLD_GONE], gone + 2);
	settle();
}

/* Pod to pod, no translation: a later fragment before its first is never held. */
static void
test_pod_to_pod_not_held(void)
{
	struct rte_mbuf *first, *later;
	struct rte_ipv4_hdr *ip;

	datagram(false, 45000, 0x5555, &first, &later);
	rte_pktmbuf_free(first);
	ip = rte_pktmbuf_mtod_offset(later, struct rte_ipv4_hdr *, 14);
	ip->dst_addr = rte_cpu_to_be_32(BACKEND);
	ip->hdr_checksum = 0;
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	CU_ASSERT_EQUAL(run(later, 0).verdict, PSW_V_TX);
	settle();
}

int
main(void)
{
	CU_pSuite s;
	unsigned failures;

	mp = psw_ut_eal("frag", 1024);
	if (mp == NULL)
		return 1;
	psw_lcore_init(&lc);
	CU_initialize_registry();
	s = CU_add_suite("fragments", setup, teardown);
	CU_add_test(s, "IPv4: later fragment in order followed, reversed held and released", test_ip4);
	CU_add_test(s, "IPv6: later fragment in order followed, reversed held and released", test_ip6);
	CU_add_test(s, "reversed within one burst: followed, not held", test_reversed_in_one_burst);
	CU_add_test(s, "a flood without first fragments: bounded hold, drops counted", test_flood_without_first);
	CU_add_test(s, "input port gone, worker stopped: held fragments dropped and counted",
		    test_port_gone_and_worker_stop);
	CU_add_test(s, "pod to pod: never held", test_pod_to_pod_not_held);
	failures = (unsigned)psw_ut_run();
	psw_ut_eal_fini();
	return failures ? 1 : 0;
}
