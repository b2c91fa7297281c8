/*
 * Per-worker state: one cache-aligned struct per worker lcore holding its
 * loop counters, TX buffers, connection cache and the context its stages
 * see (psw_stage.h). Only its own worker writes it; the control thread
 * reads the counters (plain 64-bit loads, which do not tear on x86-64/arm64).
 */
#ifndef PSW_LCORE_H
#define PSW_LCORE_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_common.h>
#include <rte_mbuf.h>

#include "psw_ct.h"
#include "psw_frag.h"
#include "psw_pkt.h"
#include "psw_stage.h"
#include "psw_tables.h"

struct psw_port_counters {
	uint64_t rx;
	uint64_t tx;
	uint64_t tx_drop;
	uint64_t rx_bytes;               /**< frames' lengths (Ethernet header on, no FCS) */
	uint64_t tx_bytes;               /**< ... of those the port took */
};

struct psw_lcore_stats {
	uint64_t loops;
	uint64_t busy_loops;
	uint64_t busy_cycles;            /**< TSC cycles of iterations that moved packets */
	uint64_t started;                /**< TSC when the loop started (0: not yet); idle = since then - busy */
	uint64_t rx;
	uint64_t tx;
	uint64_t parks;                  /**< idle socket ports handed to epoll */
	uint64_t wakes;                  /**< ... and taken back when a frame came */
	uint64_t parked;                 /**< ports waiting on epoll now (this worker's view) */
	uint64_t punted;                 /**< packets handed to the control thread */
	uint64_t injected;               /**< frames the control thread had this worker send */
	struct psw_port_counters ports[PSW_MAX_PORTS];
};

/*
 * A worker's view of one port it polls. A port without a frame for
 * PSW_PARK_MS that can wait is parked: taken out of the worker's active
 * list (so a loop costs nothing for it) and, when psw_port_arm() gives a
 * descriptor (af_packet, a vhost-user device), that descriptor registered
 * (one-shot) in the worker's epoll set, which is looked at every
 * PSW_PARKED_CHECK_LOOPS loops and waited on when the worker sleeps; a
 * vhost-user port without a device waits for psw_port_events to move. gen
 * is the port slot's generation this state belongs to: a slot taken by a
 * new port, or a vhost-user device that comes or goes, starts afresh.
 */
struct psw_rxstate {
	uint64_t last_rx;                /**< TSC of the last frame (or of the wake) */
	uint32_t gen;
	uint8_t parked;
	uint8_t registered;              /**< the port's fd is in the epoll set (armed or spent) */
	uint16_t queue;                  /**< the RX queue parked (ports parked have one) */
	uint16_t rxq;                    /**< parked: its index in the snapshot's queue list */
};

#define PSW_PARK_MS 10
#define PSW_PARKED_CHECK_LOOPS 16

#define PSW_TXBUF_MAX (2 * PSW_BURST_MAX)

struct psw_txbuf {
	uint16_t nb;
	uint16_t listed;                 /**< in the worker's dirty list */
	struct rte_mbuf *pkts[PSW_TXBUF_MAX];
};

struct psw_lcore {
	unsigned worker;                 /**< 0..nb_workers-1, also the RCU thread id */
	unsigned lcore_id;
	unsigned idle_sleep_us;
	volatile bool stop;              /**< set by the control thread */
	struct psw_lcore_stats stats;    /**< the loop's own counters */
	struct psw_stage_ctx sc;         /**< what the stages may touch: their counters, caches */
	unsigned nb_dirty;               /**< ports with a txbuf filled since the last flush */
	uint16_t dirty[PSW_MAX_PORTS];
	struct psw_txbuf tx[PSW_MAX_PORTS];
	struct psw_ct_cache ct_cache;    /**< this worker's recent connections (sc.ct_cache) */
	struct psw_frag_cache frag_cache; /**< its first fragments (sc.frags) */
	int epfd;                        /**< parked socket ports; -1: none (every port polled) */
	unsigned nb_parked;
	uint64_t park_cycles;            /**< PSW_PARK_MS in TSC cycles */
	const void *tables_seen;         /**< the snapshot the active list was built from */
	uint32_t events_seen;            /**< psw_port_events when the parked ports were checked */
	uint16_t nb_active;
	uint16_t active[PSW_MAX_RXQ_PER_WORKER]; /**< queues polled: indexes in the snapshot's list */
	struct psw_rxstate rxst[PSW_MAX_PORTS];
	struct rte_ring *punt;           /**< to the control thread (psw_set_punt); NULL: punts dropped */
	struct rte_ring *inject;         /**< from the control thread: frames to send (mbuf port) */
} __rte_cache_aligned;

/** Ready a zeroed worker state: its stage context points at its own connection cache. */
static inline void
psw_lcore_init(struct psw_lcore *lc)
{
	lc->sc.ct_cache = &lc->ct_cache;
	lc->sc.frags = &lc->frag_cache;
	lc->epfd = -1;
}

#endif /* PSW_LCORE_H */
