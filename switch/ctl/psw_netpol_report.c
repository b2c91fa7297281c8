/* NetworkPolicy reporting: get networkpolicies rows and explain (control thread). */
#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <rte_byteorder.h>

#include "psw_api.h"
#include "psw_config.h"
#include "psw_ctl.h"
#include "psw_k8s.h"
#include "psw_netpol.h"
#include "psw_netpol_priv.h"
#include "psw_netpol_report.h"
#include "psw_policy_ctl.h"
#include "psw_service.h"
#include "psw_service_ctl.h"

static bool
listed(json_t *names, const char *name)
{
	json_t *v;
	size_t i;

	json_array_foreach(names, i, v)
		if (strcmp(json_string_value(v), name) == 0)
			return true;
	return false;
}

/* Is key ("Kind/ns/name") a stored object of kind? */
static bool
of_kind(const char *key, const char *kind)
{
	size_t n = strlen(kind);

	return strncmp(key, kind, n) == 0 && key[n] == '/';
}

json_t *
psw_netpol_rows(const struct psw_state *st, const char *kind, const char *ns, const char *name)
{
	json_t *items = json_array(), *store = psw_k8s_objects(st), *o;
	unsigned nb_here;
	struct psw_netpol_here *here = psw_netpol_pods_here(st, &nb_here);
	const char *key;

	json_object_foreach(store, key, o) {
		json_t *meta = json_object_get(o, "metadata");
		const char *ons = json_string_value(json_object_get(meta, "namespace")) ?: "";
		const char *oname = json_string_value(json_object_get(meta, "name")) ?: "";
		struct psw_pol_counts c;
		json_t *selected = json_array(), *row;
		char pk[PSW_NAME_MAX + 260];
		unsigned i;

		if (!of_kind(key, kind) || (ns != NULL && strcmp(ns, ons) != 0) ||
		    (name != NULL && strcmp(name, oname) != 0)) {
			json_decref(selected);
			continue;
		}
		psw_netpol_policy_key(o, pk, sizeof(pk));
		psw_netpol_counts(st, pk, &c);
		for (i = 0; i < nb_here; i++) {
			json_t *pod = psw_k8s_find(st, "Pod", here[i].ns, here[i].name);
			json_t *labels = json_object_get(json_object_get(pod, "metadata"), "labels");
			json_t *none = NULL;

			if (labels == NULL)
				labels = none = json_object();
			/* a pod once, for the interfaces the policy is for (a NetworkPolicy:
			 * eth0; a MultiNetworkPolicy: those of the networks it names) */
			if (psw_netpol_applies(o, here[i].net) && psw_netpol_policy_selects(o, here[i].ns, labels) &&
			    !listed(selected, here[i].name))
				json_array_append_new(selected, json_string(here[i].name));
			json_decref(none);
		}
		/* the stored object, with what this switch does with it as its status */
		row = json_copy(o);
		json_object_set_new(row, "status", json_pack("{s:o, s:I, s:I}", "selected", selected,
			"allowed", (json_int_t)c.allowed, "denied", (json_int_t)c.denied));
		json_array_append_new(items, row);
	}
	free(here);
	return items;
}

void
psw_netpol_each_count(const struct psw_state *st, const char *kind,
		      void (*fn)(void *arg, const char *ns, const char *name, const struct psw_pol_counts *c),
		      void *arg)
{
	json_t *store = psw_k8s_objects(st), *o;
	const char *key;

	json_object_foreach(store, key, o) {
		json_t *meta = json_object_get(o, "metadata");
		struct psw_pol_counts c;
		char pk[PSW_NAME_MAX + 260];

		if (!of_kind(key, kind))
			continue;
		psw_netpol_policy_key(o, pk, sizeof(pk));
		psw_netpol_counts(st, pk, &c);
		fn(arg, json_string_value(json_object_get(meta, "namespace")) ?: "",
		   json_string_value(json_object_get(meta, "name")) ?: "", &c);
	}
}

/* One end of an explained connection. */
struct end {
	char what[PSW_NAME_MAX + 260];   /* "ns/pod", or the address */
	int family;
	uint8_t addr[16];
	int port;                        /* podswitch port of a local pod, else -1 */
	char net[PSW_PODIF_NET_MAX];     /* a local pod's: its attachment's network ("" eth0) */
};

static void
end_local(const struct psw_state *st, struct end *e)
{
	unsigned i, nb;
	struct psw_netpol_here *h = psw_netpol_pods_here(st, &nb);

	e->port = -1;
	for (i = 0; i < nb; i++) {
		if (e->family == 4 ? h[i].has4 && memcmp(h[i].ip4, e->addr, 4) == 0
				   : h[i].has6 && memcmp(h[i].ip6, e->addr, 16) == 0) {
			e->port = h[i].port;
			snprintf(e->what, sizeof(e->what), "%s/%s", h[i].ns, h[i].name);
			snprintf(e->net, sizeof(e->net), "%s", h[i].net);
			break;
		}
	}
	free(h);
}

/*
 * "ns/pod", "pod" (in dflt_ns) or an address. A pod attached here by more
 * than one interface is its address on network net if it has one there,
 * else on its own network (eth0), else its first attachment's. NULL, or
 * an error message (static).
 */
static const char *
resolve_end(const struct psw_state *st, const char *s, const char *dflt_ns, int family_hint,
	    const char *net, struct end *e)
{
	const char *slash = strchr(s, '/');
	char ns[PSW_NAME_MAX + 1];
	const char *name = s;
	struct psw_netpol_here *here;
	unsigned i, nb, best = UINT_MAX;
	int score, best_score = -1;

	memset(e, 0, sizeof(*e));
	if (inet_pton(AF_INET, s, e->addr) == 1 || inet_pton(AF_INET6, s, e->addr) == 1) {
		e->family = strchr(s, ':') != NULL ? 6 : 4;
		snprintf(e->what, sizeof(e->what), "%s", s);
		end_local(st, e);
		return NULL;
	}
	snprintf(ns, sizeof(ns), "%s", dflt_ns);
	if (slash != NULL) {
		if ((size_t)(slash - s) >= sizeof(ns))
			return "namespace too long";
		memcpy(ns, s, (size_t)(slash - s));
		ns[slash - s] = '\0';
		name = slash + 1;
	}
	snprintf(e->what, sizeof(e->what), "%s/%s", ns, name);
	here = psw_netpol_pods_here(st, &nb);
	for (i = 0; i < nb; i++) {
		if (strcmp(here[i].ns, ns) || strcmp(here[i].name, name))
			continue;
		/* 2: on net, 1: on its own network, 0: another; the first of the best */
		score = strcmp(here[i].net, net) == 0 ? 2 : here[i].net[0] == '\0' ? 1 : 0;
		if (score > best_score) {
			best = i;
			best_score = score;
		}
	}
	if (best != UINT_MAX) {
		i = best;
		e->family = family_hint == 6 && here[i].has6 ? 6 : here[i].has4 ? 4 : 6;
		memcpy(e->addr, e->family == 4 ? here[i].ip4 : here[i].ip6, e->family == 4 ? 4 : 16);
		e->port = here[i].port;
		snprintf(e->net, sizeof(e->net), "%s", here[i].net);
		free(here);
		return NULL;
	}
	free(here);
	{
		json_t *pod = psw_k8s_find(st, "Pod", ns, name), *status = json_object_get(pod, "status");
		const char *ip = json_string_value(json_object_get(status, "podIP"));

		if (pod == NULL)
			return "no such pod (give namespace/name or an address)";
		if (ip == NULL)
			ip = json_string_value(json_object_get(json_array_get(json_object_get(status, "podIPs"), 0),
							       "ip"));
		if (ip == NULL || (inet_pton(AF_INET, ip, e->addr) != 1 && inet_pton(AF_INET6, ip, e->addr) != 1))
			return "the pod has no address (not attached here, no status.podIP)";
		e->family = strchr(ip, ':') != NULL ? 6 : 4;
		e->port = -1;
	}
	return NULL;
}

static const struct psw_pol_port *
end_policy(const struct psw_state *st, const struct end *e)
{
	return e->port >= 0 && e->port < PSW_MAX_PORTS ? st->pol->ports[e->port] : NULL;
}

static json_t *
slot_list(const struct psw_state *st, const struct psw_pol_port *pp, unsigned d)
{
	json_t *l = json_array();
	unsigned i;

	for (i = 0; i < pp->nb_isolating[d]; i++)
		json_array_append_new(l, json_string(psw_netpol_slot_name(st, pp->isolating[d][i] + 1u)));
	return l;
}

/* The verdict of one direction, as the policy stage would give it. */
static json_t *
judge(const struct psw_state *st, const struct end *self, const struct end *peer, unsigned d,
      uint8_t proto, uint16_t port_be, bool *allowed)
{
	const struct psw_pol_port *pp = end_policy(st, self);
	uint32_t res;

	if (self->port < 0)
		return json_pack("{s:s, s:b, s:s}", "pod", self->what, "isolated", 0,
				 "reason", "not a pod on this node: its own node enforces its policy");
	if (pp == NULL || !pp->isolated[d])
		return json_pack("{s:s, s:b, s:s}", "pod", self->what, "isolated", 0,
				 "reason", "no NetworkPolicy of this type selects the pod");
	if (d == PSW_POL_INGRESS) {
		const struct psw_tables *t = psw_tables_current;

		if (t != NULL && psw_node_addr(&t->node, (unsigned)peer->family, peer->addr))
			return json_pack("{s:s, s:b, s:s}", "pod", self->what, "isolated", 1,
					 "reason", "traffic from the node itself is always allowed");
	}
	res = psw_pol_classify(pp, d, (unsigned)peer->family, proto, peer->addr, port_be);
	if (res == 0) {
		*allowed = false;
		return json_pack("{s:s, s:b, s:o, s:s}", "pod", self->what, "isolated", 1,
				 "isolated_by", slot_list(st, pp, d),
				 "reason", "no rule of the policies selecting the pod allows it");
	}
	return json_pack("{s:s, s:b, s:s, s:i, s:o}", "pod", self->what, "isolated", 1,
			 "policy", psw_netpol_slot_name(st, pp->refs[res - 1].slot + 1u), "rule", pp->refs[res - 1].rule,
			 "isolated_by", slot_list(st, pp, d));
}

static json_t *
explain_pair(const struct psw_state *st, const struct end *from, const struct end *to, uint8_t proto,
	     uint16_t port)
{
	bool allowed = true;
	json_t *eg = judge(st, from, to, PSW_POL_EGRESS, proto, rte_cpu_to_be_16(port), &allowed);
	json_t *in = judge(st, to, from, PSW_POL_INGRESS, proto, rte_cpu_to_be_16(port), &allowed);

	return json_pack("{s:b, s:s, s:s, s:i, s:o, s:o}", "allowed", allowed, "from", from->what,
			 "to", to->what, "port", port, "egress", eg, "ingress", in);
}

json_t *
psw_netpol_explain(struct psw_state *st, json_t *args)
{
	const char *from_s = json_string_value(json_object_get(args, "from"));
	const char *to_s = json_string_value(json_object_get(args, "to"));
	const char *proto_s = json_string_value(json_object_get(args, "proto")) ?: "tcp";
	const char *dflt_ns = json_string_value(json_object_get(args, "namespace")) ?: "default";
	json_int_t port = json_integer_value(json_object_get(args, "port"));
	struct end from, to;
	const char *why;
	uint8_t proto;

	if (from_s == NULL || to_s == NULL)
		return psw_api_error(PSW_API_E_INVALID, "explain needs 'from' and 'to'");
	if (strcasecmp(proto_s, "tcp") == 0)
		proto = IPPROTO_TCP;
	else if (strcasecmp(proto_s, "udp") == 0)
		proto = IPPROTO_UDP;
	else if (strcasecmp(proto_s, "sctp") == 0)
		proto = IPPROTO_SCTP;
	else
		return psw_api_error(PSW_API_E_INVALID, "proto '%s': must be tcp, udp or sctp", proto_s);
	if (port < 1 || port > 65535)
		return psw_api_error(PSW_API_E_INVALID, "port %lld: must be 1-65535", (long long)port);
	if ((why = resolve_end(st, from_s, dflt_ns, 0, "", &from)) != NULL)
		return psw_api_error(PSW_API_E_NOT_FOUND, "from '%s': %s", from_s, why);
	if (strncmp(to_s, "service/", 8) == 0 || strncmp(to_s, "svc/", 4) == 0) {
		const char *ref = strchr(to_s, '/') + 1, *slash = strchr(ref, '/');
		char ns[PSW_NAME_MAX + 1];
		const char *name = ref, *cip;
		json_t *svc, *backends, *first = NULL, *denied = NULL;
		struct psw_svc_key k;
		const struct psw_svc_port *sp;
		unsigned i;

		snprintf(ns, sizeof(ns), "%s", dflt_ns);
		if (slash != NULL && (size_t)(slash - ref) < sizeof(ns)) {
			memcpy(ns, ref, (size_t)(slash - ref));
			ns[slash - ref] = '\0';
			name = slash + 1;
		}
		svc = psw_k8s_find(st, "Service", ns, name);
		cip = json_string_value(json_object_get(json_object_get(svc, "spec"), "clusterIP"));
		if (svc == NULL || cip == NULL)
			return psw_api_error(PSW_API_E_NOT_FOUND, "to '%s': no such Service with a clusterIP", to_s);
		memset(&k, 0, sizeof(k));
		k.family = strchr(cip, ':') != NULL ? 6 : 4;
		k.proto = proto;
		k.port = rte_cpu_to_be_16((uint16_t)port);
		inet_pton(k.family == 4 ? AF_INET : AF_INET6, cip, k.addr);
		sp = psw_svc_table_get(st->svcs, &k);
		if (sp == NULL)
			return psw_api_error(PSW_API_E_NOT_FOUND, "Service %s/%s has no %s port %lld", ns, name,
					     proto_s, (long long)port);
		backends = json_array();
		for (i = 0; i < sp->nb_backends; i++) {
			json_t *r;

			memset(&to, 0, sizeof(to));
			to.family = sp->backends[i].family;
			memcpy(to.addr, sp->backends[i].addr, 16);
			inet_ntop(to.family == 4 ? AF_INET : AF_INET6, to.addr, to.what, sizeof(to.what));
			end_local(st, &to);
			r = explain_pair(st, &from, &to, proto, rte_be_to_cpu_16(sp->backends[i].port));
			json_array_append_new(backends, r);
			if (first == NULL)
				first = r;
			if (denied == NULL && !json_is_true(json_object_get(r, "allowed")))
				denied = r;
		}
		if (first == NULL) {
			json_decref(backends);
			return psw_api_ok(json_pack("{s:b, s:s, s:s, s:[]}", "allowed", 0, "service", to_s,
						    "reason", "the Service has no endpoints", "backends"));
		}
		first = denied != NULL ? denied : first;
		return psw_api_ok(json_pack("{s:b, s:s, s:O, s:O, s:o}", "allowed", denied == NULL,
					    "service", to_s, "egress", json_object_get(first, "egress"),
					    "ingress", json_object_get(first, "ingress"), "backends", backends));
	}
	/* a pod by name: on the network from is on, as a packet between them would be */
	if ((why = resolve_end(st, to_s, dflt_ns, from.family, from.net, &to)) != NULL)
		return psw_api_error(PSW_API_E_NOT_FOUND, "to '%s': %s", to_s, why);
	if (to.family != from.family)
		return psw_api_error(PSW_API_E_INVALID, "from and to are of different address families");
	return psw_api_ok(explain_pair(st, &from, &to, proto, (uint16_t)port));
}
