/*
 * Kubernetes objects in the desired state: Namespace, Pod, Service,
 * EndpointSlice, NetworkPolicy. apply validates and defaults a whole list
 * the way the API server would, then stores all of it or none; delete
 * removes a list or nothing. Pods and the attachments of the CNI plugin are
 * joined by namespace and name. Control thread only; no DPDK.
 */
#ifndef PSW_K8S_H
#define PSW_K8S_H

#include <jansson.h>

struct psw_state;

/**
 * The Kubernetes objects in the desired state: data of the control state
 * (struct psw_state.k8s), not of a file.
 */
struct psw_k8s_store {
	json_t *objects;         /**< "Kind/ns/name" -> object (NULL until the first apply) */
	json_t *slices;          /**< "ns/service" -> { "EndpointSlice/ns/name" -> slice } */
};

#include "psw_k8s_validate.h"


/** API operations (args: {"objects": [...]}, or for get {"kind", "name"?, "namespace"?}). */
json_t *psw_k8s_apply(struct psw_state *st, json_t *args);
json_t *psw_k8s_delete(struct psw_state *st, json_t *args);
json_t *psw_k8s_get(struct psw_state *st, const char *kind, json_t *args);

/** The stored object (borrowed) of a kind/namespace/name, or NULL. */
json_t *psw_k8s_find(const struct psw_state *st, const char *kind, const char *ns, const char *name);

/** Every stored object, keyed "Kind/namespace/name" (borrowed; may be NULL). */
json_t *psw_k8s_objects(const struct psw_state *st);

/** The EndpointSlices of Service "ns/name": { key -> slice } (borrowed), or NULL. */
json_t *psw_k8s_slices_of(const struct psw_state *st, const char *ns_service);

/** Drop every stored object (at exit). */
void psw_k8s_clear(struct psw_state *st);

#endif /* PSW_K8S_H */
