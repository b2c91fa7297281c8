/*
 * RCU reader/writer test: a real worker lcore forwards between two ring
 * ports while the control side publishes thousands of table versions (new
 * pod tables every time, new route tables every tenth). Checks: no packet
 * lost or misrouted, every old version reclaimed, no heap or mbuf leaked.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <rte_eal.h>
#include <rte_launch.h>
#include <rte_malloc.h>
#include <rte_ring.h>

#include "pkt_build.h"
#include "psw_forward_ctl.h"
#include "psw_port.h"
#include "psw_state.h"
#include "psw_ut.h"
#include "psw_worker.h"

#define NB_VERSIONS 3000
#define BURST 16

static const char *config_text =
	"ports = ( { name = \"ra\"; kind = \"ring\"; }, { name = \"rb\"; kind = \"ring\"; } );\n"
	"pods = ( { name = \"a\"; port = \"ra\"; mac = \"02:00:00:00:00:0a\"; ip = \"10.244.0.10\"; },\n"
	"         { name = \"b\"; port = \"rb\"; mac = \"02:00:00:00:00:0b\"; ip = \"10.244.0.11\"; } );\n"
	"routes = ( { prefix = \"10.245.0.0/16\"; port = \"rb\"; mac = \"02:00:00:00:00:fe\"; } );\n"
	"workers = { cores = [ 0 ]; idle_sleep_us = 0; };\n";

static struct psw_state st;
static struct rte_mempool *mp;

static size_t
heap_bytes(void)
{
	struct rte_malloc_socket_stats s;
	size_t total = 0;
	int sock;

	for (sock = 0; sock < RTE_MAX_NUMA_NODES; sock++)
		if (rte_malloc_get_socket_stats(sock, &s) == 0)
			total += s.heap_allocsz_bytes;
	return total;
}

/* A new snapshot like the current one, with a fresh pod table of nb_extra more pods. */
static void
publish_version(unsigned v)
{
	const struct psw_tables *cur = psw_tables_current;
	struct psw_tables *t = psw_tables_alloc();
	unsigned nb_extra = v % 7, nb = cur->pods->nb >= 2 ? 2 : cur->pods->nb, i;
	struct psw_pod pods[2 + 7];

	memcpy(t, cur, sizeof(*t));
	t->version = cur->version + 1;
	memcpy(pods, cur->pods->pods, nb * sizeof(pods[0]));
	for (i = 0; i < nb_extra; i++) {
		pods[nb + i] = pods[0];
		pods[nb + i].ip4 = rte_cpu_to_be_32(0x0af40100 + v % 200 + i);
	}
	t->pods = psw_pod_table_build(pods, nb + nb_extra, SOCKET_ID_ANY);
	if (v % 10 == 0) {
		struct psw_route_spec r = { .nh = cur->routes->nhs[0] };

		psw_parse_prefix("10.245.0.0/16", &r.prefix);
		t->routes = psw_route_table_build(&r, 1, SOCKET_ID_ANY);
	} else {
		psw_route_table_ref(t->routes);
	}
	CU_ASSERT_PTR_NOT_NULL_FATAL(t->pods);
	CU_ASSERT_PTR_NOT_NULL_FATAL(t->routes);
	psw_tables_publish(t);
}

static unsigned
drain(struct rte_ring *out, unsigned *bad)
{
	struct rte_mbuf *pkts[64];
	unsigned n, i, total = 0;
	static const uint8_t mac_b[6] = { 2, 0, 0, 0, 0, 0x0b };
	static const uint8_t mac_r[6] = { 2, 0, 0, 0, 0, 0xfe };

	while ((n = rte_ring_dequeue_burst(out, (void **)pkts, 64, NULL)) > 0) {
		for (i = 0; i < n; i++) {
			struct rte_ether_hdr *eth = rte_pktmbuf_mtod(pkts[i], struct rte_ether_hdr *);
			struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);
			const uint8_t *want = ip->dst_addr == rte_cpu_to_be_32(0x0af4000b) ? mac_b : mac_r;

			if (memcmp(&eth->dst_addr, want, 6) != 0 || ip->time_to_live != 63)
				(*bad)++;
		}
		rte_pktmbuf_free_bulk(pkts, n);
		total += n;
	}
	return total;
}

static void
test_rcu_publish_while_forwarding(void)
{
	struct psw_config cfg;
	char err[PSW_ERR_MAX];
	int ra, rb;
	unsigned v, i, sent = 0, received = 0, bad = 0, lcore;
	size_t heap_before, heap_after;
	unsigned avail;

	CU_ASSERT_EQUAL_FATAL(psw_config_parse(config_text, "<test>", &cfg, err, sizeof(err)), 0);
	if (psw_state_apply(&st, &cfg, err, sizeof(err)) < 0)
		printf("\n  apply: %s\n", err);
	CU_ASSERT_FATAL(st.has_cfg);
	ra = psw_port_find("ra");
	rb = psw_port_find("rb");
	CU_ASSERT_FATAL(ra >= 0 && rb >= 0);
	avail = rte_mempool_avail_count(mp);
	heap_before = heap_bytes();

	lcore = rte_get_next_lcore(-1, 1, 0);
	CU_ASSERT_FATAL(lcore < RTE_MAX_LCORE);
	CU_ASSERT_EQUAL_FATAL(rte_eal_remote_launch(psw_worker_main, st.lcores[0], lcore), 0);

	for (v = 0; v < NB_VERSIONS; v++) {
		struct rte_mbuf *pkts[BURST];

		for (i = 0; i < BURST; i++) {
			struct tpkt p;

			tpkt_defaults(&p);
			p.src_mac[0] = 2;
			p.src_mac[5] = 0x0a;
			p.dst_mac[0] = 0x02; p.dst_mac[1] = 0x50; p.dst_mac[2] = 0x53;
			p.dst_mac[3] = 0x57; p.dst_mac[5] = 0x01;
			p.src4 = 0x0af4000a;
			p.dst4 = i % 2 ? 0x0af4000b : 0x0af50101;   /* pod b, or routed */
			p.sport = (uint16_t)v;
			pkts[i] = tpkt_build(mp, &p);
		}
		/* at most 512 in flight, so the output ring (1024) never fills even when
		 * this thread is descheduled while the worker forwards; keep draining
		 * while the input ring is full */
		for (i = 0; sent - received >= 512 && i < 5000; i++) {
			received += drain(psw_ports[rb].rings[1], &bad);
			if (sent - received >= 512)
				usleep(1000);           /* a lost packet must fail the test, not hang it */
		}
		while (rte_ring_enqueue_bulk(psw_ports[ra].rings[0], (void **)pkts, BURST, NULL) == 0)
			received += drain(psw_ports[rb].rings[1], &bad);
		sent += BURST;
		publish_version(v);
		received += drain(psw_ports[rb].rings[1], &bad);
	}
	for (i = 0; i < 2000 && received < sent; i++) {
		usleep(1000);
		received += drain(psw_ports[rb].rings[1], &bad);
	}
	st.lcores[0]->stop = true;
	rte_eal_wait_lcore(lcore);

	CU_ASSERT_EQUAL(received, sent);
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(st.lcores[0]->stats.rx, sent);
	CU_ASSERT(psw_tables_current->version >= NB_VERSIONS);
	psw_tables_sync();
	CU_ASSERT_EQUAL(psw_tables_reclaim(), 0);
	CU_ASSERT_EQUAL(rte_mempool_avail_count(mp), avail);
	/* put the first version's shape back (2 pods, fresh routes): same heap use */
	publish_version(0);
	psw_tables_sync();
	heap_after = heap_bytes();
	printf("\n  %u versions, %u packets, heap before %zu after %zu\n", NB_VERSIONS, sent,
	       heap_before, heap_after);
	CU_ASSERT(heap_after <= heap_before + 4096);
	psw_config_free(&cfg);
}

int
main(int argc, char **argv)
{
	char prefix[64], lcores[32];
	char *eal_argv[] = { argv[0], "--no-huge", "--no-pci", "-m", "512", lcores,
			     "--log-level=*:error", prefix, NULL };
	CU_pSuite s;
	unsigned failures;

	snprintf(prefix, sizeof(prefix), "--file-prefix=psw_rcu%d", getpid());
	snprintf(lcores, sizeof(lcores), "--lcores=0@0,1@%d", sysconf(_SC_NPROCESSORS_ONLN) > 1);
	if (rte_eal_init((int)RTE_DIM(eal_argv) - 1, eal_argv) < 0)
		return 1;
	mp = rte_pktmbuf_pool_create("rcu_pool", 8192, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
				     SOCKET_ID_ANY);
	psw_port_layer_init(&(struct psw_port_env){ .nb_workers = 1, .rx_desc = 1024,
						    .tx_desc = 1024, .mbufs = 2048 });
	if (mp == NULL || psw_tables_init(1) < 0)
		return 1;
	st.nb_workers = 1;
	st.lcores[0] = rte_zmalloc("lc", sizeof(struct psw_lcore), RTE_CACHE_LINE_SIZE);
	if (st.lcores[0] != NULL)
		psw_lcore_init(st.lcores[0]);
	CU_initialize_registry();
	s = CU_add_suite("rcu", NULL, NULL);
	CU_add_test(s, "publish thousands of versions while a worker forwards",
		    test_rcu_publish_while_forwarding);
	failures = (unsigned)psw_ut_run();
	psw_state_fini(&st);
	psw_tables_fini();
	rte_eal_cleanup();
	return failures ? 1 : 0;
}
