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
#include "psw_tables.h"

struct psw_state;

/**
 * The most allow rules (and peer prefixes of one rule) the policies of one
 * pod may compile to; a change that would need more is refused, and
 * says at which policy. The caps on apply (psw_k8s.h) keep
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
 * A policy change compiled aside: the object each port gets (set[p], with
 * next[p] == NULL for none) and the policy slots that go back. Nothing of
 * it is visible to workers until psw_netpol_plan_publish().
 */
struct psw_netpol_plan {
	bool set[PSW_MAX_PORTS];
	struct psw_pol_port *next[PSW_MAX_PORTS];
	json_t *put;                     /**< ["ns/name"] of deleted policies */
};

/**
 * Compile the policy of the local pods a change touches, without publishing:
 * of every local pod from the whole store (changed == NULL and pods ==
 * NULL); or after the Pods in pods (an array of Pod objects, old and new
 * versions; the rest of the store unchanged since the last plan) changed:
 * those pods' entries are renewed and every local pod recompiled; or of
 * the local pods selected by the old or new versions of the policies in
 * changed (an array of policy objects). Ports that no longer hold a pod
 * lose their policy.
 * @return 0, or -errno with err filled and nothing kept (-E2BIG: a pod's
 *         policies compile to more than PSW_NETPOL_MAX_RULES rules).
 */
int psw_netpol_plan(struct psw_state *st, json_t *changed, json_t *pods, struct psw_netpol_plan *plan,
		    char *err, size_t err_len);

/**
 * Publish the ports of a plan that get an object (new, changed, or a pod
 * that becomes isolated): what must be in force before a path to the pod.
 * @return how many ports of the plan lose their object (left for
 *         psw_netpol_plan_publish(), after the paths that need them are gone).
 */
unsigned psw_netpol_plan_publish_guards(struct psw_state *st, struct psw_netpol_plan *plan);

/** Publish (the rest of) a plan: each port's object replaced atomically; cannot fail. */
void psw_netpol_plan_publish(struct psw_state *st, struct psw_netpol_plan *plan);

/**
 * Drop a plan that will not be published. The compiler's caches are
 * forgotten too (the store may be put back): the next plan is a full one.
 */
void psw_netpol_plan_discard(struct psw_state *st, struct psw_netpol_plan *plan);

/** "ns/name" of the policy in slot + 1 as connections record it; "" for 0 or a gone slot. */
const char *psw_netpol_slot_name(const struct psw_state *st, unsigned slot_plus_1);

/** Forget every slot and compiled object (at exit, workers stopped). */
void psw_netpol_clear(struct psw_state *st);

#endif /* PSW_NETPOL_H */
