/*
 * The unit suites' shared fixture: DPDK's EAL without hugepages or PCI (a
 * file prefix of its own per process, removed by scripts/test), one mbuf
 * pool, the tables' RCU for one worker, and the CUnit runner every suite
 * ends with. Header-only, like pkt_build.h.
 */
#ifndef PSW_UT_H
#define PSW_UT_H

#include <stdio.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#ifdef PSW_UT_EAL
#include <rte_eal.h>
#include <rte_mbuf.h>

#include "psw_tables.h"

/**
 * Start EAL for suite name (one lcore, 256 MB of ordinary memory), create
 * an mbuf pool of nb_mbufs and the tables' RCU for one worker.
 * @return the pool, or NULL (the suite cannot run).
 */
static inline struct rte_mempool *
psw_ut_eal(const char *name, unsigned nb_mbufs)
{
	char prefix[64], pool[32];
	char *argv[] = { (char *)(uintptr_t)name, "--no-huge", "--no-pci", "-m", "256", "--lcores=0@0",
			 "--log-level=*:error", prefix, NULL };
	struct rte_mempool *mp;

	snprintf(prefix, sizeof(prefix), "--file-prefix=psw_ut_%s%d", name, getpid());
	snprintf(pool, sizeof(pool), "ut_%s", name);
	if (rte_eal_init((int)RTE_DIM(argv) - 1, argv) < 0) {
		fprintf(stderr, "%s: EAL did not start\n", name);
		return NULL;
	}
	mp = rte_pktmbuf_pool_create(pool, nb_mbufs, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
	if (mp == NULL || psw_tables_init(1) < 0) {
		fprintf(stderr, "%s: no mbuf pool or tables\n", name);
		return NULL;
	}
	return mp;
}

/** Undo psw_ut_eal. */
static inline void
psw_ut_eal_fini(void)
{
	psw_tables_fini();
	rte_eal_cleanup();
}
#endif /* PSW_UT_EAL */

/** Run every registered suite verbosely; the exit status for main(). */
static inline int
psw_ut_run(void)
{
	unsigned failures;

	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failures = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	return failures ? 1 : 0;
}

#endif /* PSW_UT_H */
