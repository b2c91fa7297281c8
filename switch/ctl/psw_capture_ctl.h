/*
 * Packet capture, the control thread's half: sessions opened by
 * `podswitchctl capture` (API operations capture.start, capture.read,
 * capture.stop; docs/api.md), each on one port, at most PSW_CAP_MAX
 * at once and one per port. The workers copy what a session wants
 * (worker/psw_capture.h); a read takes the records off their rings,
 * oldest first, with wall-clock times. A session ends at its packet
 * count, when its port is removed, or when stopped; one nobody read for
 * PSW_CAP_IDLE_S seconds (its client died) is closed.
 */
#ifndef PSW_CAPTURE_CTL_H
#define PSW_CAPTURE_CTL_H

#include <stdint.h>

#include <jansson.h>

struct psw_state;

#define PSW_CAP_MAX 8
#define PSW_CAP_IDLE_S 10
#define PSW_CAP_SNAPLEN 9216            /**< default: a jumbo frame whole */
#define PSW_CAP_POOL_BYTES (16u << 20)  /**< records of one session, at most */

json_t *psw_capture_op_start(struct psw_state *st, json_t *args);
json_t *psw_capture_op_read(struct psw_state *st, json_t *args);
json_t *psw_capture_op_stop(struct psw_state *st, json_t *args);

/** The sessions, for status. */
json_t *psw_capture_json(void);

/** Close the sessions nobody read for PSW_CAP_IDLE_S (the control thread's timer, once a second). */
void psw_capture_tick(void);

/** Port index is being removed: its session ends (what it caught can still be read). */
void psw_capture_port_gone(uint16_t port);

/** Close every session (the switch stops). */
void psw_capture_fini(void);

#endif /* PSW_CAPTURE_CTL_H */
