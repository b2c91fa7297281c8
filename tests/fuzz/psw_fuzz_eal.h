/*
 * EAL set-up shared by the fuzz targets that need DPDK (fuzz_stages,
 * fuzz_api): --no-huge, no PCI, one lcore, a private file prefix, and
 * DPDK's memory made a LeakSanitizer root region, so that heap blocks
 * reached only from rte_malloc'd structures (a connection table's retired
 * list, say) are not reported as leaks.
 */
#ifndef PSW_FUZZ_EAL_H
#define PSW_FUZZ_EAL_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <sanitizer/lsan_interface.h>

#include <rte_eal.h>
#include <rte_memory.h>

static int
psw_fuzz_lsan_root(const struct rte_memseg_list *msl, void *arg)
{
	if (msl->base_va != NULL && msl->len > 0)
		__lsan_register_root_region(msl->base_va, msl->len);
	return 0;
}

/** Start the EAL for target name, or exit. */
static inline void
psw_fuzz_eal_init(const char *argv0, const char *name)
{
	char prefix[64];
	char *eal_argv[] = { (char *)argv0, "--no-huge", "--no-pci", "-m", "256", "--lcores=0@0",
			     "--log-level=*:error", "--no-telemetry", prefix, NULL };

	snprintf(prefix, sizeof(prefix), "--file-prefix=psw_fz_%s%d", name, getpid());
	if (rte_eal_init((int)(sizeof(eal_argv) / sizeof(eal_argv[0])) - 1, eal_argv) < 0) {
		fprintf(stderr, "fuzz_%s: EAL initialisation failed\n", name);
		exit(1);
	}
	rte_memseg_list_walk(psw_fuzz_lsan_root, NULL);
}

#endif /* PSW_FUZZ_EAL_H */
