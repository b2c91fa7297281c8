/*
 * The service stage's table builder (psw_service_ctl.c, control thread):
 * Service ports with their backends and Maglev tables, in the persistent
 * hash the stage looks Service addresses up in.
 */
#ifndef PSW_SERVICE_CTL_H
#define PSW_SERVICE_CTL_H

#include <stdbool.h>
#include <stdint.h>

#include "psw_service.h"

/*
 * Building (psw_service_ctl.c, control thread).
 */

/** A Service port with its backends, as the control plane computed it. */
struct psw_svc_spec {
	struct psw_svc_key key;
	uint8_t flags;                      /**< PSW_SVC_F_LOCAL, _AFFINITY, _MASQ */
	uint16_t cslot;                     /**< the Service's counters (psw_stage.h); 0: none */
	uint32_t affinity_s;                /**< sessionAffinity timeout, seconds */
	unsigned nb_backends;
	struct psw_svc_backend *backends;   /**< borrowed */
	unsigned nb_src;                    /**< loadBalancerSourceRanges (0: any client) */
	const struct psw_prefix *src;       /**< not kept: psw_svc_port_build copies it */
	/** every endpoint, for this node's pods as clients (struct psw_svc_port.pods);
	 * NULL: they are served like any client */
	const struct psw_svc_backend *pod_backends;   /**< borrowed */
	unsigned nb_pod_backends;
};

/** The (persistent) table for up to max_ports Service addresses x ports. NULL + rte_errno. */
struct psw_svc_table *psw_svc_table_create(uint32_t max_ports, int socket);

/** Free the table and every port (workers stopped). NULL accepted. */
void psw_svc_table_destroy(struct psw_svc_table *s);

/** A port object for spec (Maglev built), owned by owner. NULL on ENOMEM / EINVAL. */
struct psw_svc_port *psw_svc_port_build(const struct psw_svc_spec *spec, uint64_t owner, int socket);

/** Same key, flags, affinity and backends: nothing to change. */
bool psw_svc_port_same(const struct psw_svc_port *a, const struct psw_svc_port *b);

/** The port of a key, or NULL (control thread). */
struct psw_svc_port *psw_svc_table_get(const struct psw_svc_table *s, const struct psw_svc_key *k);

/**
 * Publish p under its key, replacing any port there; the replaced one is
 * freed after a grace period. 0 or -ENOSPC.
 */
int psw_svc_table_set(struct psw_svc_table *s, struct psw_svc_port *p);

/** Remove a key; its port and key slot are freed after a grace period. */
void psw_svc_table_del(struct psw_svc_table *s, const struct psw_svc_key *k);

/**
 * How many new keys psw_svc_table_set() takes now: the capacity less the
 * entries and the slots of deleted entries still in their grace period.
 */
uint32_t psw_svc_table_room(const struct psw_svc_table *s);

/** Call fn for every port (control thread). */
void psw_svc_table_walk(const struct psw_svc_table *s, void (*fn)(const struct psw_svc_port *p, void *arg),
			void *arg);

/** Stable id of a Service key (what conntrack entries remember). */
uint32_t psw_svc_key_id(const struct psw_svc_key *k);

/**
 * Egress masquerade in the node's tables, per family: on when the cluster's
 * pods of that family are known (cluster.pod_cidr, cluster.pod_cidr6) and
 * node.addresses holds an address of it (the first is the source); the
 * destinations never masqueraded to: the cluster's and the node's pod
 * CIDRs, node.service_cidr (IPv4; there is no IPv6 one), link-local,
 * IPv6 multicast, and cluster.no_masquerade. Control thread, on a table
 * being built.
 */
void psw_svc_masq_fill(struct psw_node_info *node, const struct psw_config *cfg);

#endif /* PSW_SERVICE_CTL_H */
