/*
 * Building the forward stage's tables (control thread only): the pod
 * exact-match table and the route table. Each build makes a new immutable
 * object with one reference, ready to be put into a snapshot.
 */
#ifndef PSW_FORWARD_CTL_H
#define PSW_FORWARD_CTL_H

#include "psw_config.h"
#include "psw_tables.h"

struct psw_route_spec {
	struct psw_prefix prefix;
	struct psw_nh nh;
};

/**
 * Build a pod table. Pod i keeps index i.
 * @return the table, or NULL with rte_errno set (EINVAL: two pods share an
 *         address; ENOMEM).
 */
struct psw_pod_table *psw_pod_table_build(const struct psw_pod *pods, uint32_t nb, int socket);

/**
 * Build a route table; rte_fib / rte_fib6 are created only for families that
 * have routes. Next hop i of the table is routes[i].nh.
 * @return the table, or NULL with rte_errno set (EINVAL: bad prefix; ENOMEM).
 */
struct psw_route_table *psw_route_table_build(const struct psw_route_spec *routes, uint32_t nb,
					      int socket);

#endif /* PSW_FORWARD_CTL_H */
