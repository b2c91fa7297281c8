/*
 * The switch's desired state and how it becomes dataplane tables.
 * The state is a validated configuration (static ports, pods, routes; later
 * also API objects). psw_state_apply() takes a whole new configuration,
 * computes the difference with the running one, creates the ports that are
 * new, builds only the tables whose inputs changed, publishes a snapshot,
 * and removes the ports that went away after a grace period. Workers never
 * pause. On any error nothing changes.
 *
 * Thread-safety: control thread only.
 */
#ifndef PSW_STATE_H
#define PSW_STATE_H

#include <stddef.h>

#include "psw_config.h"
#include "psw_lcore.h"
#include "psw_tables.h"

struct psw_state {
	struct psw_config cfg;                 /**< running configuration (owned) */
	bool has_cfg;
	unsigned nb_workers;
	/* worker polling (port, queue); fixed for the life of the port */
	uint8_t rxq_owner[PSW_MAX_PORTS][PSW_MAX_WORKERS];
	unsigned worker_load[PSW_MAX_WORKERS];
	struct psw_lcore *lcores[PSW_MAX_WORKERS];
};

/**
 * Move the switch to cfg. On success st owns cfg's allocations (the caller's
 * struct is zeroed); on failure cfg is untouched, the running state is
 * unchanged and err says what is wrong.
 * @return 0 or a negative errno.
 */
int psw_state_apply(struct psw_state *st, struct psw_config *cfg, char *err, size_t err_len);

/** Remove every port and release the configuration (workers stopped). */
void psw_state_fini(struct psw_state *st);

/** Print all counters (ports, drops, events, workers) as "key value" lines. */
void psw_state_print_stats(const struct psw_state *st, FILE *out);

#endif /* PSW_STATE_H */
