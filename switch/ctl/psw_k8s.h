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

/*
 * Caps on the lists of a NetworkPolicy, refused on apply (the API server
 * has none but its object size). They bound what one object can make the
 * compiler do per selected pod; docs/policy.md lists them.
 */
#define PSW_K8S_MAX_POLICY_RULES 1024     /**< spec.ingress / spec.egress entries */
#define PSW_K8S_MAX_PEERS 1024            /**< from / to entries of one rule */
#define PSW_K8S_MAX_RULE_PORTS 1024       /**< ports of one rule */
#define PSW_K8S_MAX_EXCEPTS 10000         /**< ipBlock.except entries */
#define PSW_K8S_MAX_EXPRESSIONS 256       /**< matchExpressions of a selector */
#define PSW_K8S_MAX_VALUES 1024           /**< values of one expression */

/**
 * Validate and default one object in place.
 * @return NULL when valid, else a message naming the object and the field
 *         path ("Service default/web: spec.ports[0].port: ...") (caller frees).
 */
char *psw_k8s_validate(json_t *obj);

/** Flatten "kind: List" documents into the objects they hold (new reference). */
json_t *psw_k8s_flatten(json_t *objects);

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
