/*
 * Packet trace, the control side (docs/observability.md, "Trace"): the API
 * operations trace.start, trace.poll and trace.stop arm a trace for the
 * workers (worker/psw_trace.h), collect the records their rings bring,
 * and render each as one block of what every stage decided, in names
 * (ports, Services, NetworkPolicies and their rules, drop reasons). One
 * trace at a time; it is disarmed when its packets are in, when it is
 * stopped, or at its timeout (a client gone without stopping it). The
 * records of the last trace are kept until the next one starts.
 * Control thread only.
 */
#ifndef PSW_TRACE_CTL_H
#define PSW_TRACE_CTL_H

#include <jansson.h>

struct psw_state;
struct psw_trace_rec;

/** The workers' trace state (before they start). 0 or -ENOMEM. */
int psw_trace_ctl_init(unsigned nb_workers);

/** Disarm, free everything (workers stopped). */
void psw_trace_ctl_fini(void);

/** On the control thread's timer: collect records, disarm a trace past its timeout. */
void psw_trace_tick(struct psw_state *st);

/**
 * API "trace.start": {filter?, count? (1..PSW_TRACE_MAX, default 1),
 * port?, timeout? (seconds, 1..3600, default 10)} -> {id, ...}. Refused,
 * nothing changed, on a bad argument or while another trace runs.
 */
json_t *psw_trace_op_start(struct psw_state *st, json_t *args);

/**
 * API "trace.poll": {id?, from?} -> {id, armed, done, traced, lost,
 * records[from..]}; without id, the trace armed now or the last one.
 */
json_t *psw_trace_op_poll(struct psw_state *st, json_t *args);

/** API "trace.stop": {id} -> as trace.poll, the trace disarmed. */
json_t *psw_trace_op_stop(struct psw_state *st, json_t *args);

/**
 * One record as JSON: {packet, worker, in_port, stages: [{stage, verdict,
 * decision, headers, ...}], verdict, service?, policy?}. New reference.
 * start_tsc: when the trace was armed (for the record's time), 0: none.
 */
json_t *psw_trace_render(const struct psw_state *st, const struct psw_trace_rec *r, uint64_t start_tsc);

#endif /* PSW_TRACE_CTL_H */
