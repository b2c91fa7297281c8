/*
 * Packet trace, the workers' side (docs/observability.md, "Trace"): while
 * a trace is armed, a worker checks each received packet against its
 * filter (psw_filter.h) and input port; a burst holding a packet to trace
 * runs through the stages one by one (the same stage functions as
 * psw_worker_process), each traced packet alone, and what each stage left
 * (metadata, the first bytes of the frame, the events it counted, the
 * connection's state, the policy's reasons) is copied into a record. A
 * complete record goes to the control thread on the worker's own ring
 * (never waiting: a full ring counts the record lost). The control side
 * (ctl/psw_trace_ctl.c) arms, collects and renders.
 *
 * Off, a trace costs the worker one load of psw_trace_armed and one
 * predictable branch per burst (psw_worker_process). The number of packets
 * to mark is shared by all workers (an atomic decrement); once none is
 * left, and no traced fragment waits in a worker's hold for its first one
 * (to be traced again when released), the worker that sees it clears
 * psw_trace_armed, so the filter stops being run at once.
 *
 * Thread-safety: psw_trace_armed is written by the control thread (and
 * cleared by a worker, compare-and-swap); the arm it points to is
 * immutable but for `left`, and freed only after every worker has been
 * quiescent (psw_tables_defer). Each worker's ring has one producer (its
 * worker) and one consumer (the control thread).
 */
#ifndef PSW_TRACE_H
#define PSW_TRACE_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_ring.h>

#include "psw_filter.h"
#include "psw_lcore.h"
#include "psw_pkt.h"
#include "psw_policy.h"
#include "psw_tables.h"

#define PSW_TRACE_MAX       64   /**< packets one trace may mark */
#define PSW_TRACE_HDR       128  /**< bytes of the frame kept after each stage */
#define PSW_TRACE_EVENTS    8    /**< events a stage counted, kept per stage */
#define PSW_TRACE_RING      128  /**< records a worker's ring holds */
#define PSW_TRACE_HELD      8    /**< traced fragments a worker remembers in its hold */

/* Where a snapshot was taken: on receipt, then after each stage. */
#define PSW_TRACE_STAGES(_)  \
	_(RX,        "rx")        \
	_(PARSE,     "parse")     \
	_(TUNNEL,    "tunnel")    \
	_(GUARD,     "guard")     \
	_(CONNTRACK, "conntrack") \
	_(SERVICE,   "service")   \
	_(POLICY,    "policy")    \
	_(FORWARD,   "forward")

enum psw_trace_stage {
#define _(sym, name) PSW_TS_##sym,
	PSW_TRACE_STAGES(_)
#undef _
	PSW_TS_COUNT
};

/** Name of a trace point ("rx", "parse", ...). */
const char *psw_trace_stage_name(unsigned stage);

/** What one stage left of one packet. */
struct psw_trace_step {
	struct psw_meta meta;            /**< after the stage */
	uint32_t punt_reason;            /**< mbuf hash.fdir.hi when the verdict is PUNT */
	uint32_t pkt_len;
	uint16_t hdr_len;                /**< bytes of hdr[] valid */
	uint8_t nb_events;
	uint8_t ct_state;                /**< meta.ct != 0: its connection's state and flags */
	uint8_t ct_flags;
	uint8_t pad[3];
	uint8_t events[PSW_TRACE_EVENTS]; /**< enum psw_event the stage counted */
	uint8_t hdr[PSW_TRACE_HDR];      /**< the frame's first bytes */
};

/** One traced packet: a worker fills it, the control thread reads it. */
struct psw_trace_rec {
	uint32_t id;                     /**< of the trace (psw_trace_arm.id) */
	uint16_t seq;                    /**< which of its packets, 0..count-1 */
	uint16_t worker;
	uint64_t tsc;                    /**< when it was received */
	uint8_t released;                /**< a fragment the trace saw held, released by its first */
	uint8_t nb_steps;                /**< steps[0..nb_steps-1]: rx, then the stages it went through */
	uint8_t stage_of[PSW_TS_COUNT];  /**< step index + 1 of each stage, 0: not run (decided before) */
	uint8_t pad[6];
	struct psw_pol_why why;          /**< the policy stage's reasons */
	struct psw_trace_step steps[PSW_TS_COUNT];
};

/** An armed trace. Immutable once published, but for left. */
struct psw_trace_arm {
	uint32_t id;                     /**< never 0 */
	uint16_t port;                   /**< input port to trace, PSW_PORT_NONE: any */
	uint16_t count;                  /**< packets to mark, 1..PSW_TRACE_MAX */
	int32_t left;                    /**< still to mark (atomic) */
	int32_t held;                    /**< traced fragments in workers' holds, to be traced again (atomic) */
	struct psw_filter filter;
};

/** The trace armed now, NULL when none: read once per burst. */
extern struct psw_trace_arm *psw_trace_armed;

/** One worker's trace state (allocated by psw_trace_init). */
struct psw_trace_worker {
	struct rte_ring *ring;           /**< struct psw_trace_rec elements, to the control thread */
	uint64_t lost;                   /**< records the full ring did not take (the worker writes) */
	struct rte_mbuf *held[PSW_TRACE_HELD];   /**< traced fragments in the worker's hold */
	uint32_t held_id[PSW_TRACE_HELD];
	uint16_t held_seq[PSW_TRACE_HELD];
	struct psw_trace_rec recs[PSW_BURST_MAX];   /**< being filled, one per traced packet of a burst */
};

/**
 * Allocate the state of nb_workers workers (control thread, before they
 * start). 0 or -ENOMEM. Safe to call again (does nothing).
 */
int psw_trace_init(unsigned nb_workers);

/** Free it (workers stopped). */
void psw_trace_fini(void);

/** The state of worker w (for the control thread's rings), or NULL. */
struct psw_trace_worker *psw_trace_worker(unsigned w);

/**
 * The slow path of psw_worker_process when a trace is armed: marks the
 * burst's packets that match a and, when there is one, runs the whole burst
 * through the stages (traced packets one at a time, with snapshots) and
 * sends the records. Returns false, having changed nothing, when no packet
 * of the burst is traced (the caller runs the stages as usual). Worker only.
 */
bool psw_trace_burst(struct psw_lcore *lc, const struct psw_tables *t, struct psw_burst *b,
		     struct psw_trace_arm *a);

#endif /* PSW_TRACE_H */
