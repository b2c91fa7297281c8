/*
 * Packet capture, the workers' half: a port being captured has a session
 * here (psw_capture_port[port], NULL when not), which a worker looks at
 * once per burst it receives on the port and once per burst it hands to
 * it. Matching packets (psw_filter.h) are copied, up to the snap length,
 * into records of the session's pool and put on the worker's own ring to
 * the control thread (switch/ctl/psw_capture_ctl.h), which hands them to
 * `podswitchctl capture`. A worker never waits: no record free, or its
 * ring full, and the packet is counted as dropped by the capture (the
 * packet itself goes on).
 *
 * The control thread sets and clears the pointer; a session cleared is
 * freed after a grace period of the tables' RCU (psw_tables_defer).
 */
#ifndef PSW_CAPTURE_H
#define PSW_CAPTURE_H

#include <stdint.h>

#include <rte_common.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "psw_filter.h"
#include "psw_tables.h"

#define PSW_CAP_RX 0x1           /**< what the port received (before the stages) */
#define PSW_CAP_TX 0x2           /**< what the switch handed to the port to send */

/* One captured packet, in a pool element of sizeof(rec) + snaplen bytes. */
struct psw_cap_rec {
	uint64_t tsc;                    /**< when the worker saw its burst */
	uint32_t wirelen;                /**< the packet's length */
	uint16_t caplen;                 /**< bytes in data (at most the snap length) */
	uint8_t dir;                     /**< PSW_CAP_RX or PSW_CAP_TX */
	uint8_t reserved;
	uint8_t data[];
};

struct psw_cap_worker {
	uint64_t matched;                /**< packets the filter took */
	uint64_t dropped;                /**< ... of which no record could be had or queued */
} __rte_cache_aligned;

struct psw_capture {
	struct psw_filter filter;
	uint32_t snaplen;
	uint8_t dirs;                    /**< PSW_CAP_RX | PSW_CAP_TX */
	uint16_t port;
	struct rte_mempool *pool;        /**< records */
	struct rte_ring *ring[PSW_MAX_WORKERS];  /**< worker w -> control thread (SP/SC) */
	struct psw_cap_worker w[PSW_MAX_WORKERS]; /**< each written by its worker alone */
};

/** The session of each port (NULL: not captured). Written by the control thread. */
extern struct psw_capture *psw_capture_port[PSW_MAX_PORTS];

/** Copy the packets the session wants onto worker's ring (psw_capture_hook). */
void psw_capture_burst(struct psw_capture *c, unsigned worker, uint8_t dir,
		       struct rte_mbuf **pkts, unsigned n);

/** A worker's burst received on (PSW_CAP_RX) or handed to (PSW_CAP_TX) port. */
static inline void
psw_capture_hook(unsigned worker, uint16_t port, uint8_t dir, struct rte_mbuf **pkts, unsigned n)
{
	struct psw_capture *c = __atomic_load_n(&psw_capture_port[port], __ATOMIC_ACQUIRE);

	if (unlikely(c != NULL) && (c->dirs & dir))
		psw_capture_burst(c, worker, dir, pkts, n);
}

#endif /* PSW_CAPTURE_H */
