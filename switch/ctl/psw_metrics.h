/*
 * Prometheus metrics (docs/observability.md): `metrics.listen` in the
 * configuration opens an HTTP endpoint whose /metrics is the text
 * exposition format (version 0.0.4) of the switch's counters: ports,
 * workers, drops by reason, events, conntrack, neighbours, the control
 * plane. libmicrohttpd runs without a thread of its own: its epoll fd is
 * one more source of the control thread's loop, so a scrape reads the
 * control state where it lives, and the workers' counters as `stats`
 * does (plain loads of counters each worker alone writes): a scrape never
 * stops or slows a worker.
 *
 * Control thread only.
 */
#ifndef PSW_METRICS_H
#define PSW_METRICS_H

#include <stddef.h>

struct psw_state;
struct psw_metrics;

/**
 * Listen on listen ("ADDRESS:PORT", IPv4, or "[IPv6]:PORT").
 * @return the endpoint, or NULL with err filled.
 */
struct psw_metrics *psw_metrics_start(struct psw_state *st, const char *listen, char *err, size_t err_len);

/** The fd the control loop watches for readability (libmicrohttpd's epoll set). */
int psw_metrics_fd(const struct psw_metrics *m);

/** Serve what is ready, and time idle connections out (also called on the loop's timer). */
void psw_metrics_run(struct psw_metrics *m);

/**
 * Milliseconds until psw_metrics_run must be called whether or not the fd
 * is readable: 0 when libmicrohttpd left work over (it reads and writes
 * connections edge-triggered, so a request read in part raises no new
 * event), an idle connection's deadline otherwise.
 * @return the delay, or -1 when there is none (m NULL, no connection).
 */
int psw_metrics_timeout(struct psw_metrics *m);

/** Close the endpoint (m may be NULL). */
void psw_metrics_stop(struct psw_metrics *m);

/**
 * The exposition text of a scrape, malloc'ed (the caller frees it), its
 * length in *len; NULL when out of memory.
 */
char *psw_metrics_text(const struct psw_state *st, size_t *len);

#endif /* PSW_METRICS_H */
