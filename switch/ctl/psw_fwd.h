/*
 * The forwarding compiler (psw_fwd.c): ports and the forwarding snapshot
 * (ports, pods, routes) from the desired state. Control thread only.
 */
#ifndef PSW_FWD_H
#define PSW_FWD_H

#include <stdbool.h>
#include <stddef.h>

#include "psw_config.h"
#include "psw_tables.h"

struct psw_state;

/**
 * Create a port, its counters zeroed, its RX queues given to the least
 * loaded workers (for the port's life). No snapshot lists it yet.
 * @return its index, or a negative errno with err filled.
 */
int psw_fwd_port_create(struct psw_state *st, const struct psw_port_conf *c, char *err,
			size_t err_len);

/** Destroy a port no worker can see any more (after a grace period). */
void psw_fwd_port_destroy(struct psw_state *st, int idx);

/**
 * Build, without publishing, a forwarding snapshot of cfg over the live
 * ports (those not in removed); the route table is rebuilt only when
 * rebuild_routes is set, shared with the current snapshot otherwise.
 * @return the snapshot, or NULL with err filled.
 */
struct psw_tables *psw_fwd_plan(struct psw_state *st, const struct psw_config *cfg,
				const bool *removed, bool rebuild_routes, char *err, size_t err_len);

/** Free a snapshot that was never published. */
void psw_fwd_plan_free(struct psw_tables *t);

/**
 * With node.addresses_from_node: set the running configuration's node
 * addresses to this node's Node object's (node.name): its first usable
 * InternalIP of each family, as host addresses; none while there is no
 * such Node. Addresses in the pod or service CIDRs, loopback, link-local or
 * multicast are not taken.
 * @return true when they changed (every Service's node entries, the
 *         forwarding snapshot and the announcements follow them).
 */
bool psw_fwd_node_addresses(struct psw_state *st);

/** The ports that exist but that nothing wants (no configured port, no attached pod). */
void psw_fwd_unwanted_ports(const struct psw_state *st, bool removed[PSW_MAX_PORTS]);

#endif /* PSW_FWD_H */
