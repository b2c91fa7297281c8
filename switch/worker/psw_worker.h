/*
 * The worker loop: for each RX queue in its list (from the current table
 * snapshot), receive a burst, run the stages (parse -> guard -> conntrack ->
 * service -> policy -> forward, each with the worker's stage context), then
 * hand every packet to TX buffers or to the drop helper. TX buffers are flushed at the
 * end of every loop iteration, before the quiescent-state report, so no
 * worker holds a packet for a port across a grace period.
 *
 * Idle back-off: after a run of empty polls the worker sleeps, doubling up
 * to idle_sleep_us, offline for RCU while it sleeps; the first packet resets it.
 */
#ifndef PSW_WORKER_H
#define PSW_WORKER_H

#include "psw_lcore.h"
#include "psw_pkt.h"
#include "psw_tables.h"

/** eventfd the workers write when they punt to an empty ring (-1: none). */
extern int psw_punt_efd;

/** Entry point for rte_eal_remote_launch(); arg is the worker's struct psw_lcore. */
int psw_worker_main(void *arg);

/**
 * Run the stages on a received burst (meta[].in_port already set); with a
 * trace armed and one of its packets to trace, psw_trace_burst runs them
 * instead, one by one (psw_trace.h).
 */
void psw_worker_process(struct psw_lcore *lc, const struct psw_tables *t, struct psw_burst *b);

/**
 * Move a processed burst's packets to TX buffers, free and count the drops.
 * Leaves b empty.
 */
void psw_worker_dispatch(struct psw_lcore *lc, struct psw_burst *b);

/**
 * Held fragments (psw_frag.h): those whose first fragment came run through
 * the stages as if they had just come in, after it (their connection
 * noted again, they are followed); those whose input port went
 * (frag_hold_gone), and those held longer than PSW_FRAG_HOLD_MS at now
 * (frag_no_first), are dropped. b: an empty burst to work in.
 */
void psw_worker_frag_run(struct psw_lcore *lc, const struct psw_tables *t, struct psw_burst *b, uint64_t now);

/** Drop every held fragment (frag_hold_gone): the worker stops. */
void psw_worker_frag_flush(struct psw_lcore *lc);

/** Send every buffered packet; count what the ports refused. */
void psw_worker_flush(struct psw_lcore *lc);

#endif /* PSW_WORKER_H */
