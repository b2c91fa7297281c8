/*
 * Kubernetes objects in the desired state: Namespace, Pod, Service,
 * EndpointSlice, NetworkPolicy, Node. apply validates and defaults a whole list
 * the way the API server would, then stores all of it or none; delete
 * removes a list or nothing. Pods and the attachments of the CNI plugin are
 * joined by namespace and name. Control thread only; no DPDK.
 */
#ifndef PSW_K8S_H
#define PSW_K8S_H

#include <jansson.h>

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

/** Drop every stored object (at exit). */
void psw_k8s_clear(struct psw_state *st);

#endif /* PSW_K8S_H */
