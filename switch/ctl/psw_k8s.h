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

#include "psw_k8s_validate.h"


/** API operations (args: {"objects": [...]}, or for get {"kind", "name"?, "namespace"?}). */
json_t *psw_k8s_apply(struct psw_state *st, json_t *args);
json_t *psw_k8s_delete(struct psw_state *st, json_t *args);
json_t *psw_k8s_get(struct psw_state *st, const char *kind, json_t *args);

/** The stored object (borrowed) of a kind/namespace/name, or NULL. */
json_t *psw_k8s_find(const char *kind, const char *ns, const char *name);

/** Every stored object, keyed "Kind/namespace/name" (borrowed; may be NULL). */
json_t *psw_k8s_objects(void);

/** The EndpointSlices of Service "ns/name": { key -> slice } (borrowed), or NULL. */
json_t *psw_k8s_slices_of(const char *ns_service);

/** Drop every stored object (at exit). */
void psw_k8s_clear(void);

#endif /* PSW_K8S_H */
