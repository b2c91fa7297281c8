/*
 * Kubernetes objects in the desired state: Namespace, Pod, Service,
 * EndpointSlice, NetworkPolicy, MultiNetworkPolicy, Node. apply validates and defaults a whole list
 * the way the API server would, then stores all of it or none; delete
 * removes a list or nothing. Pods and the attachments of the CNI plugin are
 * joined by namespace and name. Control thread only; no DPDK.
 */
#ifndef PSW_K8S_H
#define PSW_K8S_H

#include <stdint.h>

#include <jansson.h>

#include "psw_config.h"

struct psw_state;
struct psw_change;

/**
 * Validate and store a list of objects (args: {"objects": [...]}): all of
 * them or none. The change is told what they touch and how to put the
 * store back; the caller commits it (psw_pipeline_commit()). Calls no
 * compiler. @return the API answer (an error: nothing stored).
 */
json_t *psw_k8s_apply(struct psw_state *st, json_t *args, struct psw_change *ch);

/** Remove a list of objects from the store, all or none (see psw_k8s_apply()). */
json_t *psw_k8s_delete(struct psw_state *st, json_t *args, struct psw_change *ch);

/**
 * Replace every stored object of the given kinds (args: {"kinds": [...],
 * "objects": [...]}) with the objects listed, atomically: the stored ones
 * of those kinds that are not listed are deleted, the listed ones applied,
 * all or nothing (an agent's resync after a relist: no window without
 * them). Objects of another kind are refused. See psw_k8s_apply().
 */
json_t *psw_k8s_replace(struct psw_state *st, json_t *args, struct psw_change *ch);

/** The stored object (borrowed) of a kind/namespace/name, or NULL. */
json_t *psw_k8s_find(const struct psw_state *st, const char *kind, const char *ns, const char *name);

/** Every stored object, keyed "Kind/namespace/name" (borrowed; may be NULL). */
json_t *psw_k8s_objects(const struct psw_state *st);

/** The EndpointSlices of Service "ns/name": { key -> slice } (borrowed), or NULL. */
json_t *psw_k8s_slices_of(const struct psw_state *st, const char *ns_service);

/**
 * A stored v1 Node as the routes compiler reads it: the node's pod CIDRs
 * and its InternalIP addresses, parsed.
 */
struct psw_k8s_node {
	const char *name;                /**< metadata.name (borrowed from the store) */
	unsigned nb_cidrs;               /**< 0..2: spec.podCIDRs, at most one per family */
	struct psw_prefix cidrs[2];      /**< in the order of spec.podCIDRs; host bits zero */
	unsigned nb_internal;            /**< 0..2: the first InternalIP of each family */
	uint8_t internal_family[2];      /**< 4 or 6 */
	uint8_t internal[2][16];         /**< IPv4 in the first 4 bytes, network order */
};

/**
 * The stored Nodes, sorted by name: the first max of them are written to
 * out (out may be NULL when max is 0). Of status.addresses only the first
 * InternalIP of each family is given, in the order they are listed; the
 * others (ExternalIP, Hostname, ...) are not. A Node without podCIDRs or
 * without an InternalIP is listed all the same (nb_cidrs or nb_internal
 * 0): the caller decides what a route needs.
 *
 * The names are borrowed from the store: valid until the next change to it
 * (apply, delete, replace, restore). Control thread only.
 * @return how many Nodes are stored (more than max when out was too small).
 */
unsigned psw_k8s_nodes(const struct psw_state *st, struct psw_k8s_node *out, unsigned max);

/** Drop every stored object (at exit). */
void psw_k8s_clear(struct psw_state *st);

#endif /* PSW_K8S_H */
