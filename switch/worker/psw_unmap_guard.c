/*
 * A grace period before the EAL interrupt thread unmaps memory, so that a
 * DPDK pod's shared memory never goes while a worker is in a burst on it.
 *
 * net_memif tears a connection down on the interrupt thread
 * (memif_disconnect): it clears the device's "connected" flag, then unmaps
 * the peer's regions at once, without waiting for the workers, one of which
 * may be in the middle of a receive or transmit burst on that memory. A
 * memif pod that disconnected at full load took the switch down (SIGSEGV in
 * librte_net_memif on the worker). The PMD offers no event before the unmap,
 * so podswitch defines munmap itself, and the dynamic linker binds the
 * PMD's calls (and every other library's) to it: on the interrupt thread it
 * first waits for an RCU grace period of the workers, then unmaps. Each
 * worker reports a quiescent state between bursts, and a burst that starts
 * after the flag was cleared returns at once, so after the grace period no
 * worker can be reading the memory. The order is documented in docs/ports.md.
 *
 * Elsewhere (the control thread, the workers, glibc's own calls, which go
 * to its internal alias) munmap unmaps at once. The executable exports this
 * symbol (meson: --export-dynamic-symbol=munmap).
 */
#include <dlfcn.h>
#include <stddef.h>
#include <sys/mman.h>

#include <rte_interrupts.h>
#include <rte_rcu_qsbr.h>

#include "psw_tables.h"


int
munmap(void *addr, size_t len)
{
	static int (*next_munmap)(void *, size_t);
	struct rte_rcu_qsbr *qsbr;

	if (next_munmap == NULL)
		next_munmap = (int (*)(void *, size_t))dlsym(RTLD_NEXT, "munmap");
	if (rte_thread_is_intr() && (qsbr = psw_tables_qsbr()) != NULL)
		rte_rcu_qsbr_synchronize(qsbr, RTE_QSBR_THRID_INVALID);
	return next_munmap(addr, len);
}
