/*
 * The connection table's control side (psw_ct_ctl.c, control thread only):
 * creation, expiry with RCU-deferred free, flushes, counts. See psw_ct.h.
 */
#ifndef PSW_CT_CTL_H
#define PSW_CT_CTL_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_rcu_qsbr.h>

#include "psw_ct.h"

/**
 * Create a table of size entries (rounded up to a power of two, at least
 * 1024) on socket. qsbr is the workers' RCU variable. NULL + rte_errno.
 */
struct psw_ct *psw_ct_create(uint32_t size, int socket, struct rte_rcu_qsbr *qsbr);
void psw_ct_destroy(struct psw_ct *ct);

/** Entries one zone (a port) may hold; 0 or more than the table: no limit. */
void psw_ct_set_zone_max(struct psw_ct *ct, uint32_t max);

/**
 * Expire idle entries: examine up to budget entries from where the last
 * call stopped, delete the keys of those idle longer than their state's
 * timeout, and free entries whose grace period has passed.
 * @return the number of entries deleted by this call.
 */
unsigned psw_ct_expire(struct psw_ct *ct, unsigned budget, bool all);

/** Forget every connection of Service port svc (its id) to backend addr:port (network order). */
unsigned psw_ct_flush_backend(struct psw_ct *ct, uint32_t svc, const uint8_t *addr, uint16_t port);

/** Entries in use. */
uint32_t psw_ct_count(const struct psw_ct *ct);

/** Name of a state, for dumps. */
const char *psw_ct_state_name(unsigned state);

#endif /* PSW_CT_CTL_H */
