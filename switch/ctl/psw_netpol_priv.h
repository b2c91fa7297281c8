/*
 * Inside the NetworkPolicy compiler: what psw_netpol.c (compiling, slots)
 * shares with psw_netpol_report.c (get networkpolicies, explain). Control
 * thread only.
 */
#ifndef PSW_NETPOL_PRIV_H
#define PSW_NETPOL_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "psw_podif.h"
#include "psw_policy.h"

struct psw_state;

/*
 * A pod of this switch: attached through the CNI plugin, or declared in the
 * configuration (with its namespace and name, a Kubernetes pod like any).
 */
struct psw_netpol_here {
	const char *ns, *name;
	char net[PSW_PODIF_NET_MAX];     /* "": the pod's own network (eth0, NetworkPolicy);
					  * else a secondary attachment's NetworkAttachmentDefinition,
					  * "namespace/name" (MultiNetworkPolicy, psw_podif_network) */
	int port;                        /* podswitch port index */
	bool has4, has6;
	const uint8_t *ip4, *ip6;
};

/** The compiler's view of every known pod ([{namespace, name, ips}]; borrowed, may be NULL). */
json_t *psw_netpol_world_pods(const struct psw_state *st);

/** The pods of this switch that have a port now (borrowed strings). Caller frees. */
struct psw_netpol_here *psw_netpol_pods_here(const struct psw_state *st, unsigned *nb);

/** Does the policy (in namespace ns) select a pod with these labels? */
bool psw_netpol_policy_selects(json_t *policy, const char *ns, json_t *labels);

/** Does a policy (NetworkPolicy or MultiNetworkPolicy) apply to a pod's interface on network net? */
bool psw_netpol_applies(json_t *policy, const char *net);

/** "namespace/name" of a policy object. */
void psw_netpol_policy_key(json_t *policy, char *key, size_t len);

/** Connections allowed and denied by the policy "ns/name" since it was created (0 without a slot). */
void psw_netpol_counts(const struct psw_state *st, const char *key, struct psw_pol_counts *c);

#endif /* PSW_NETPOL_PRIV_H */
