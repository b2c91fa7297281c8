/*
 * NetworkPolicy compiler: from the stored Namespaces, Pods and
 * NetworkPolicies and the attached pods to each local pod's allow rules
 * (struct psw_pol_rule), then to rte_acl contexts published per port.
 * Control thread only.
 *
 * A pod's object is rebuilt only when its inputs (isolation, rules,
 * isolating policies) changed, compared by digest; a change to NetworkPolicies
 * alone recompiles only the local pods the old or new versions select.
 */
#ifndef PSW_NETPOL_H
#define PSW_NETPOL_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "psw_policy.h"

struct psw_state;

/**
 * The most allow rules (and peer prefixes of one rule) the policies of one
 * pod may compile to; a pod whose policies need more allows nothing (fail
 * closed) and the sync says why. The caps on apply (psw_k8s.h) keep
 * ordinary policies far below it.
 */
#define PSW_NETPOL_MAX_RULES (1u << 20)

/** Does a LabelSelector (matchLabels, matchExpressions) select labels? {} selects all. */
bool psw_netpol_selects(json_t *selector, json_t *labels);

/**
 * The allow rules a policy gives a pod in direction dir (PSW_POL_INGRESS /
 * PSW_POL_EGRESS), appended to *rules (realloc'ed), with ref.slot = slot.
 * pods: the known pods as [{ "namespace", "labels", "pod" (object or null),
 * "ips": ["10.0.0.1", ...] }], namespaces: { name: labels }. pod: the
 * selected pod (the same shape), for named ports of ingress rules. Any
 * number of ipBlock excepts (O(n log n) in them); no caps checked here.
 * @return 0, -ENOMEM, or -E2BIG past PSW_NETPOL_MAX_RULES rules or peer prefixes.
 */
int psw_netpol_compile(json_t *policy, unsigned dir, unsigned slot, json_t *pod, json_t *pods,
		       json_t *namespaces, struct psw_pol_rule **rules, unsigned *nb_rules);

/**
 * Recompile and publish the policy of every local pod, from the whole store
 * (changed == NULL and pods == NULL); or after the Pods in pods (an array
 * of Pod objects, old and new versions; the rest of the store unchanged
 * since the last call) changed: those pods' entries are renewed and every
 * local pod recompiled; or of the local pods selected by the old or new
 * versions of the policies in changed (an array of policy objects). 0, or
 * -errno with err filled (nothing published for the pod that failed).
 */
int psw_netpol_sync(struct psw_state *st, json_t *changed, json_t *pods, char *err, size_t err_len);


/** "ns/name" of the policy in slot + 1 as connections record it; "" for 0 or a gone slot. */
const char *psw_netpol_slot_name(unsigned slot_plus_1);

/** Forget every slot and compiled object (at exit, workers stopped). */
void psw_netpol_clear(struct psw_state *st);

#include "psw_netpol_report.h"

#endif /* PSW_NETPOL_H */
