/*
 * The control state's own sources of change and its read-outs
 * (psw_state.c). The data is struct psw_state (psw_ctl.h).
 *
 * psw_state_apply() takes a whole new configuration (start-up, SIGHUP):
 * it computes the difference with the running one, creates the ports that
 * are new, and commits one change through the pipeline (psw_pipeline.h);
 * ports that went away are destroyed after a grace period. CNI attachments
 * come and go through psw_state_attach() / psw_state_remove_attachment(),
 * each one change. On any error the running state is what it was.
 *
 * Thread-safety: control thread only.
 */
#ifndef PSW_STATE_H
#define PSW_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "psw_ctl.h"

/**
 * Move the switch to cfg. On success st owns cfg's allocations (the caller's
 * struct is zeroed); on failure cfg is untouched, the running state is
 * unchanged and err says what is wrong.
 * @return 0 or a negative errno.
 */
int psw_state_apply(struct psw_state *st, struct psw_config *cfg, char *err, size_t err_len);

/** Index of the attachment (container_id, ifname), or -1. */
int psw_state_find_attachment(const struct psw_state *st, const char *container_id,
			      const char *ifname);

/**
 * Add an attachment record (not yet attached: no port). Copies att.
 * @return its index, or -ENOMEM.
 */
int psw_state_add_attachment(struct psw_state *st, const struct psw_attachment *att);

/**
 * Create the port of attachment i and publish tables with the pod in them.
 * @return 0, or a negative errno with err filled (the record stays, detached).
 */
int psw_state_attach(struct psw_state *st, unsigned i, char *err, size_t err_len);

/**
 * Remove attachment i: publish tables without it, wait for a grace period,
 * destroy its port, give its addresses back to IPAM, drop the record.
 * @return 0, or a negative errno (tables could not be built: nothing changed).
 */
int psw_state_remove_attachment(struct psw_state *st, unsigned i, char *err, size_t err_len);

/**
 * Take the workers' punted packets to the neighbour table; with tick, also
 * ask, retry and age. Rebuilds the routes when a next hop's MAC changed.
 */
void psw_state_neigh_poll(struct psw_state *st, bool tick);

/** Remove every port and release the configuration (workers stopped). */
void psw_state_fini(struct psw_state *st);

/** All counters as JSON (ports, workers, drops, events). New reference. */
json_t *psw_state_stats_json(const struct psw_state *st);

/** Print all counters (ports, drops, events, workers) as "key value" lines. */
void psw_state_print_stats(const struct psw_state *st, FILE *out);

/** Port's counters summed over the workers (racy reads: a snapshot). */
void psw_state_port_counters(const struct psw_state *st, unsigned port,
			     struct psw_port_counters *c);

/** Drop-reason and event counters summed over the workers. */
void psw_state_sum_counters(const struct psw_state *st, uint64_t drops[PSW_DROP_COUNT],
			    uint64_t events[PSW_EV_COUNT]);

#endif /* PSW_STATE_H */
