/*
 * podswitch's own DPDK telemetry commands (docs/observability.md), beside
 * the ethdev ones DPDK registers: /podswitch/stats, /podswitch/workers,
 * /podswitch/conntrack, /podswitch/ports, /podswitch/port,NAME and
 * /podswitch/status, so dpdk-telemetry.py shows the switch.
 *
 * DPDK calls the commands on its telemetry thread; the state they read is
 * the control thread's. So a command hands its request to the control
 * thread (an eventfd in its loop) and waits, at most a second, for the
 * answer, which the control thread writes into the command's reply.
 */
#ifndef PSW_TELEMETRY_H
#define PSW_TELEMETRY_H

struct psw_state;

/**
 * Register the commands (once per process). @return the eventfd the
 * control loop watches (psw_telemetry_serve() when readable), or -errno.
 */
int psw_telemetry_init(struct psw_state *st);

/** Answer the request waiting, if any (control thread). */
void psw_telemetry_serve(void);

/** No more answers: waiting and later commands fail at once (before the state goes). */
void psw_telemetry_fini(void);

#endif /* PSW_TELEMETRY_H */
