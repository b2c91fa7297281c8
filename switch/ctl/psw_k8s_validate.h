/*
 * Kubernetes objects validated and defaulted the way the API server would
 * (psw_k8s_validate.c): pure C and jansson, no DPDK, no state.
 */
#ifndef PSW_K8S_VALIDATE_H
#define PSW_K8S_VALIDATE_H

/* The annotation of a MultiNetworkPolicy naming the networks it is for. */
#define PSW_K8S_POLICY_FOR "k8s.v1.cni.cncf.io/policy-for"

#include <jansson.h>

#include "psw_config.h"

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

/** Cap on a Node's status.addresses (the API server has none; real nodes list a few). */
#define PSW_K8S_MAX_NODE_ADDRESSES 256

/**
 * Validate and default one object in place. A Node is also trimmed to what
 * the switch reads (metadata.name and labels, spec.podCIDR and podCIDRs,
 * status.addresses); its namespace, like a Namespace's, is cleared, as the
 * API server clears it for cluster-scoped kinds.
 * @return NULL when valid, else a message naming the object and the field
 *         path ("Service default/web: spec.ports[0].port: ...") (caller frees).
 */
char *psw_k8s_validate(json_t *obj);

/** Flatten "kind: List" documents into the objects they hold (new reference). */
json_t *psw_k8s_flatten(json_t *objects);

/** loadBalancerSourceRanges a Service may give (more are refused, never cut). */
#define PSW_K8S_MAX_SOURCE_RANGES 64

/**
 * A CIDR as the API server takes it ("203.0.113.9/24": host bits allowed,
 * cleared here). 0, or -1 when it is none.
 */
int psw_k8s_parse_cidr(const char *s, struct psw_prefix *p);

/** RFC 1123 label: lower-case alphanumerics and '-', alphanumeric at both ends, 1..max long. */
bool psw_k8s_dns_label(const char *s, size_t max);

/** RFC 1123 subdomain: dot-separated labels of at most 63, 1..253 long. */
bool psw_k8s_dns_subdomain(const char *s);

#endif /* PSW_K8S_VALIDATE_H */
