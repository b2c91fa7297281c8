/*
 * Services, control side: from the stored Services, EndpointSlices and Pods
 * (and the attached pods) to the service table the workers use.
 *
 * - Service addresses: spec.clusterIP(s), spec.externalIPs, and
 *   status.loadBalancer.ingress[].ip; one table entry per address x port.
 *   Headless (clusterIP None) and ExternalName Services have none, nor
 *   those labelled for another proxy (service.kubernetes.io/service-proxy-name)
 *   or as headless (service.kubernetes.io/headless), as kube-proxy does.
 * - Endpoints: the EndpointSlices labelled kubernetes.io/service-name; ready
 *   endpoints, else those serving and terminating; all of them with
 *   publishNotReadyAddresses. A Service with a selector and no slice of its
 *   own gets the attached pods whose Pod labels match, with targetPort
 *   resolved per pod (a name looks up the pod's container ports).
 * - After a change, UDP connections to backends that went away are
 *   forgotten at once (no stale UDP flows); TCP connections drain.
 * Control thread only.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_malloc.h>

#include "psw_ct.h"
#include "psw_ct_ctl.h"
#include "psw_ctl.h"
#include "psw_k8s_validate.h"
#include "psw_k8s.h"
#include "psw_log.h"
#include "psw_service.h"
#include "psw_service_ctl.h"
#include "psw_services.h"

struct spec_list {
	struct psw_svc_spec *v;
	unsigned nb, cap;
};

static int
proto_of(const char *p)
{
	if (p == NULL || strcmp(p, "TCP") == 0)
		return IPPROTO_TCP;
	if (strcmp(p, "UDP") == 0)
		return IPPROTO_UDP;
	return strcmp(p, "SCTP") == 0 ? IPPROTO_SCTP : -1;
}

static bool
labels_match(json_t *selector, json_t *labels)
{
	const char *k;
	json_t *v;

	if (json_object_size(selector) == 0)
		return false;                    /* an empty selector selects nothing for a Service */
	json_object_foreach(selector, k, v) {
		const char *have = json_string_value(json_object_get(labels, k));

		if (have == NULL || strcmp(have, json_string_value(v) ?: "") != 0)
			return false;
	}
	return true;
}

static int
add_backend(struct psw_svc_backend **list, unsigned *nb, int family, const uint8_t *addr,
	    uint16_t port, bool local)
{
	struct psw_svc_backend *l = realloc(*list, (*nb + 1) * sizeof(**list)), *b;
	unsigned i;

	if (l == NULL)
		return -1;
	*list = l;
	for (i = 0; i < *nb; i++)               /* the same endpoint in two slices */
		if (l[i].family == family && l[i].port == htons(port) &&
		    memcmp(l[i].addr, addr, family == 4 ? 4 : 16) == 0)
			return 0;
	b = &l[(*nb)++];
	memset(b, 0, sizeof(*b));
	b->family = (uint8_t)family;
	b->port = htons(port);
	b->local = local;
	memcpy(b->addr, addr, family == 4 ? 4 : 16);
	return 0;
}

/* Port number of a Service port in a slice: matched by name (and protocol). */
static int
slice_port(json_t *slice, const char *port_name, int proto)
{
	json_t *p;
	size_t i;

	json_array_foreach(json_object_get(slice, "ports"), i, p) {
		const char *n = json_string_value(json_object_get(p, "name"));

		if (proto_of(json_string_value(json_object_get(p, "protocol"))) != proto)
			continue;
		if ((n == NULL || n[0] == '\0') != (port_name == NULL || port_name[0] == '\0'))
			continue;
		if (n != NULL && port_name != NULL && strcmp(n, port_name) != 0)
			continue;
		return (int)json_integer_value(json_object_get(p, "port"));
	}
	return -1;
}

static bool
cond(json_t *conds, const char *key, bool dflt)
{
	json_t *v = json_object_get(conds, key);

	return json_is_boolean(v) ? json_is_true(v) : dflt;
}

/* An endpoint is on this node: a pod attached here, or its slice says so. */
static bool
is_local(const struct psw_state *st, json_t *ep, int family, const uint8_t *addr)
{
	const char *node = json_string_value(json_object_get(ep, "nodeName"));
	unsigned i;

	if (node != NULL && strcmp(node, st->cfg.node.name) == 0)
		return true;
	for (i = 0; i < st->nb_atts; i++) {
		const struct psw_attachment *a = &st->atts[i];

		if (a->attached && ((family == 4 && a->has_ip4 && memcmp(a->ip4, addr, 4) == 0) ||
				    (family == 6 && a->has_ip6 && memcmp(a->ip6, addr, 16) == 0)))
			return true;
	}
	return false;
}

/*
 * Endpoints of one Service port from its EndpointSlices (only this node's
 * with only_local: the fallback to serving, terminating endpoints is then
 * this node's too, as kube-proxy chooses it per traffic policy); false when
 * it has none.
 */
static bool
from_slices(const struct psw_state *st, json_t *slices, json_t *port, int family,
	    bool not_ready_too, bool only_local, struct psw_svc_backend **out, unsigned *nb)
{
	const char *pname = json_string_value(json_object_get(port, "name"));
	int proto = proto_of(json_string_value(json_object_get(port, "protocol")));
	struct psw_svc_backend *fallback = NULL;
	unsigned nb_fallback = 0;
	const char *skey;
	json_t *o;

	if (json_object_size(slices) == 0)
		return false;
	json_object_foreach(slices, skey, o) {
		const char *at = json_string_value(json_object_get(o, "addressType"));
		json_t *ep;
		size_t i;
		int pnum;

		if (at == NULL || strcmp(at, family == 4 ? "IPv4" : "IPv6") != 0)
			continue;
		pnum = slice_port(o, pname, proto);
		if (pnum <= 0)
			continue;
		json_array_foreach(json_object_get(o, "endpoints"), i, ep) {
			json_t *conds = json_object_get(ep, "conditions"), *a;
			bool ready = cond(conds, "ready", true);
			bool serving = cond(conds, "serving", ready);
			bool terminating = cond(conds, "terminating", false);
			size_t k;

			json_array_foreach(json_object_get(ep, "addresses"), k, a) {
				uint8_t addr[16], fam;

				if (psw_parse_ip(json_string_value(a), &fam, addr) < 0 || fam != family)
					continue;
				bool local = is_local(st, ep, family, addr);

				if (only_local && !local)
					continue;
				if (ready || not_ready_too)
					add_backend(out, nb, family, addr, (uint16_t)pnum, local);
				else if (serving && terminating)
					add_backend(&fallback, &nb_fallback, family, addr, (uint16_t)pnum, local);
			}
		}
	}
	if (*nb == 0 && nb_fallback > 0) {       /* none ready: use the serving, terminating ones */
		free(*out);
		*out = fallback;
		*nb = nb_fallback;
	} else {
		free(fallback);
	}
	return true;
}

/* targetPort of a Service port for one pod: a number, or a container port name. */
static int
target_port(json_t *port, json_t *pod)
{
	json_t *tp = json_object_get(port, "targetPort"), *c, *cp;
	int proto = proto_of(json_string_value(json_object_get(port, "protocol")));
	size_t i, j;

	if (json_is_integer(tp))
		return (int)json_integer_value(tp);
	json_array_foreach(json_object_get(json_object_get(pod, "spec"), "containers"), i, c)
		json_array_foreach(json_object_get(c, "ports"), j, cp)
			if (strcmp(json_string_value(json_object_get(cp, "name")) ?: "",
				   json_string_value(tp) ?: "") == 0 &&
			    proto_of(json_string_value(json_object_get(cp, "protocol"))) == proto)
				return (int)json_integer_value(json_object_get(cp, "containerPort"));
	return -1;
}

/* Endpoints from the selector over the attached pods. */
static void
from_selector(const struct psw_state *st, const char *ns, json_t *selector, json_t *port,
	      int family, struct psw_svc_backend **out, unsigned *nb)
{
	unsigned i;

	for (i = 0; i < st->nb_atts; i++) {
		const struct psw_attachment *a = &st->atts[i];
		json_t *pod;
		int pnum;

		if (!a->attached || strcmp(a->pod_namespace, ns) != 0)
			continue;
		if ((family == 4 && !a->has_ip4) || (family == 6 && !a->has_ip6))
			continue;
		pod = psw_k8s_find(st, "Pod", a->pod_namespace, a->pod_name);
		if (pod == NULL || !labels_match(selector, json_object_get(json_object_get(pod, "metadata"),
									  "labels")))
			continue;
		pnum = target_port(port, pod);
		if (pnum <= 0)
			continue;
		add_backend(out, nb, family, family == 4 ? a->ip4 : a->ip6, (uint16_t)pnum, true);
	}
}

static int
push_spec(struct spec_list *l, const struct psw_svc_spec *s)
{
	if (l->nb == l->cap) {
		unsigned cap = l->cap ? l->cap * 2 : 64;
		struct psw_svc_spec *v = realloc(l->v, cap * sizeof(*v));

		if (v == NULL)
			return -1;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->nb++] = *s;
	return 0;
}

/* A Service's ClusterIPs. */
static json_t *
service_addresses(json_t *svc)
{
	json_t *spec = json_object_get(svc, "spec"), *out = json_array(), *v;
	const char *cip = json_string_value(json_object_get(spec, "clusterIP"));
	size_t i;

	if (cip != NULL && cip[0] != '\0' && strcmp(cip, "None") != 0)
		json_array_append_new(out, json_string(cip));
	json_array_foreach(json_object_get(spec, "clusterIPs"), i, v)
		if (json_is_string(v) && (cip == NULL || strcmp(json_string_value(v), cip) != 0))
			json_array_append(out, v);
	return out;
}

/* Does the Service have IPv6: an IPv6 ClusterIP, or IPv6 in spec.ipFamilies? */
static bool
has_ipv6(json_t *svc, json_t *addrs)
{
	json_t *v;
	size_t i;

	json_array_foreach(json_object_get(json_object_get(svc, "spec"), "ipFamilies"), i, v)
		if (strcmp(json_string_value(v) ?: "", "IPv6") == 0)
			return true;
	json_array_foreach(addrs, i, v)
		if (strchr(json_string_value(v) ?: "", ':') != NULL)
			return true;
	return false;
}

/* Its addresses for traffic from outside: externalIPs, load-balancer ingress. */
static json_t *
external_addresses(json_t *svc)
{
	json_t *spec = json_object_get(svc, "spec"), *out = json_array(), *v;
	size_t i;

	json_array_foreach(json_object_get(spec, "externalIPs"), i, v)
		if (json_is_string(v))
			json_array_append(out, v);
	json_array_foreach(json_object_get(json_object_get(json_object_get(svc, "status"),
							   "loadBalancer"), "ingress"), i, v)
		if (json_is_string(json_object_get(v, "ip")))
			json_array_append(out, json_object_get(v, "ip"));
	return out;
}

/* What a spec of the plan owns: its backends, source ranges and pods' backends. */
static void
spec_release(struct psw_svc_spec *s)
{
	free(s->backends);
	free((void *)s->src);
	if (s->nb_pod_backends > 0)
		free((void *)s->pod_backends);
}

/*
 * One table entry: a Service address and port with the endpoints of that
 * Service port. local_only keeps this node's endpoints (traffic policy
 * Local; none then means drop); with pods_all, this node's pods as clients
 * keep every endpoint (an external address: the policy is not theirs).
 */
static void
add_entry(const struct psw_state *st, struct spec_list *specs, json_t *svc, json_t *slices,
	  json_t *port, uint8_t fam, const uint8_t *addr, int proto, uint16_t num, bool local_only,
	  bool pods_all, uint8_t flags, const struct psw_prefix *src, unsigned nb_src)
{
	json_t *spec = json_object_get(svc, "spec");
	const char *ns = json_string_value(json_object_get(json_object_get(svc, "metadata"), "namespace"));
	bool not_ready = json_is_true(json_object_get(spec, "publishNotReadyAddresses"));
	struct psw_svc_spec s = { .nb_backends = 0, .backends = NULL, .flags = flags };
	bool sliced;

	memset(&s.key, 0, sizeof(s.key));
	s.key.family = fam;
	s.key.proto = (uint8_t)proto;
	s.key.port = htons(num);
	memcpy(s.key.addr, addr, fam == 4 ? 4 : 16);
	if (!(sliced = from_slices(st, slices, port, fam, not_ready, false, &s.backends, &s.nb_backends)))
		from_selector(st, ns ?: "", json_object_get(spec, "selector"), port, fam, &s.backends,
			      &s.nb_backends);
	if (strcmp(json_string_value(json_object_get(spec, "sessionAffinity")) ?: "", "ClientIP") == 0) {
		json_int_t t = json_integer_value(json_object_get(json_object_get(
			json_object_get(spec, "sessionAffinityConfig"), "clientIP"), "timeoutSeconds"));

		s.flags |= PSW_SVC_F_AFFINITY;
		s.affinity_s = (uint32_t)(t > 0 ? t : 10800);
	}
	if (local_only) {
		static const struct psw_svc_backend no_backends[1];
		unsigned kept = 0, e;

		if (pods_all) {
			struct psw_svc_backend *all = NULL;

			if (s.nb_backends > 0 && (all = malloc(s.nb_backends * sizeof(*all))) == NULL) {
				free(s.backends);
				return;
			}
			if (all != NULL)
				memcpy(all, s.backends, s.nb_backends * sizeof(*all));
			s.pod_backends = all != NULL ? all : no_backends;
			s.nb_pod_backends = s.nb_backends;
		}
		/* none anywhere: refused as without the policy (kube-proxy rejects);
		 * only elsewhere: dropped */
		if (s.nb_backends > 0)
			s.flags |= PSW_SVC_F_LOCAL;
		if (sliced && !(flags & PSW_SVC_F_HEALTH)) {
			/* this node's endpoints, ready ones or else its serving, terminating
			 * ones (a local endpoint draining while others are ready elsewhere);
			 * a health check counts the ready ones, so that a load balancer
			 * drains a node whose endpoints are terminating */
			struct psw_svc_backend *here = NULL;
			unsigned nb_here = 0;

			(void)from_slices(st, slices, port, fam, not_ready, true, &here, &nb_here);
			free(s.backends);
			s.backends = here;
			s.nb_backends = nb_here;
		} else {
			for (e = 0; e < s.nb_backends; e++)
				if (s.backends[e].local)
					s.backends[kept++] = s.backends[e];
			s.nb_backends = kept;
		}
	}
	if (nb_src > 0) {
		/* the spec outlives the caller's ranges: its own copy, freed with its
		 * backends; without one, no entry (never one open to every client) */
		if ((s.src = malloc(nb_src * sizeof(*src))) == NULL) {
			spec_release(&s);
			return;
		}
		memcpy((struct psw_prefix *)s.src, src, nb_src * sizeof(*src));
		s.nb_src = nb_src;
	}
	if (push_spec(specs, &s) < 0)
		spec_release(&s);
}

/* Services of the table, by owner: "namespace/name" -> [hex keys]. */

static uint64_t
owner_hash(const char *owner)
{
	uint64_t h = 1469598103934665603ull;

	for (; *owner; owner++)
		h = (h ^ (uint8_t)*owner) * 1099511628211ull;
	return h;
}

static void
key_hex(const struct psw_svc_key *k, char out[2 * sizeof(*k) + 1])
{
	const uint8_t *b = (const uint8_t *)k;
	unsigned i;

	for (i = 0; i < sizeof(*k); i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static void
hex_key(const char *hex, struct psw_svc_key *k)
{
	uint8_t *b = (uint8_t *)k;
	unsigned i;

	for (i = 0; i < sizeof(*k); i++) {
		unsigned v = 0;

		sscanf(hex + 2 * i, "%2x", &v);
		b[i] = (uint8_t)v;
	}
}

/* Is owner "ns/name" named by the scope's sets (exact names, whole namespaces)? */
static bool
in_scope(json_t *names, json_t *namespaces, const char *owner)
{
	const char *slash = strchr(owner, '/');
	char ns[256];

	if (json_object_get(names, owner) != NULL)
		return true;
	snprintf(ns, sizeof(ns), "%.*s", slash ? (int)(slash - owner) : 0, owner);
	return json_object_get(namespaces, ns) != NULL;
}

/* The owners a scope names: "ns/name", or "ns/ *" for every Service of ns; NULL = all. */
static json_t *
expand_scope(json_t *store, json_t *owners, json_t *scope)
{
	json_t *set = json_object(), *names = json_object(), *namespaces = json_object(), *v, *o;
	const char *key;
	size_t i;

	json_array_foreach(scope, i, v) {
		const char *e = json_string_value(v) ?: "";
		size_t n = strlen(e);

		if (n >= 2 && strcmp(e + n - 2, "/*") == 0) {
			char ns[256];

			snprintf(ns, sizeof(ns), "%.*s", (int)(n - 2), e);
			json_object_set_new(namespaces, ns, json_true());
		} else {
			json_object_set_new(names, e, json_true());
		}
	}
	/* named Services directly; whole namespaces by a pass over the store */
	json_object_foreach(names, key, v)
		json_object_set_new(set, key, json_true());
	if (scope == NULL || json_object_size(namespaces) > 0) {
		json_object_foreach(store, key, o) {
			char owner[256];

			if (strncmp(key, "Service/", 8) != 0)
				continue;
			snprintf(owner, sizeof(owner), "%s/%s",
				 json_string_value(json_object_get(json_object_get(o, "metadata"), "namespace")) ?: "",
				 json_string_value(json_object_get(json_object_get(o, "metadata"), "name")) ?: "");
			if (scope == NULL || in_scope(names, namespaces, owner))
				json_object_set_new(set, owner, json_true());
		}
	}
	/* Services that went away still own entries to remove */
	if (scope == NULL || json_object_size(namespaces) > 0) {
		json_object_foreach(owners, key, o)
			if (scope == NULL || in_scope(names, namespaces, key))
				json_object_set_new(set, key, json_true());
	}
	json_decref(names);
	json_decref(namespaces);
	return set;
}

/*
 * kube-proxy's opt-outs: a Service labelled service.kubernetes.io/service-proxy-name
 * (whatever the value: podswitch has no proxy name) belongs to another proxy,
 * one labelled service.kubernetes.io/headless to none. Neither gets entries.
 */
static bool
proxied_elsewhere(json_t *svc)
{
	json_t *labels = json_object_get(json_object_get(svc, "metadata"), "labels");

	return json_object_get(labels, "service.kubernetes.io/service-proxy-name") != NULL ||
	       json_object_get(labels, "service.kubernetes.io/headless") != NULL;
}

/* The entries one Service wants: every address x port, and its NodePorts. */
static void
compile_service(const struct psw_state *st, struct spec_list *specs, json_t *svc)
{
	json_t *meta = json_object_get(svc, "metadata"), *spec = json_object_get(svc, "spec");
	const char *ns = json_string_value(json_object_get(meta, "namespace"));
	const char *name = json_string_value(json_object_get(meta, "name"));
	bool local_only = strcmp(json_string_value(json_object_get(spec, "internalTrafficPolicy")) ?: "",
				 "Local") == 0;
	const char *type = json_string_value(json_object_get(spec, "type")) ?: "";
	bool is_node_port = strcmp(type, "NodePort") == 0 || strcmp(type, "LoadBalancer") == 0;
	bool ext_local = strcmp(json_string_value(json_object_get(spec, "externalTrafficPolicy")) ?: "",
				"Local") == 0;
	json_t *addrs = service_addresses(svc), *ext = external_addresses(svc), *port, *a, *mine, *r;
	bool v6 = has_ipv6(svc, addrs);
	size_t nb_external_ips = json_array_size(json_object_get(spec, "externalIPs"));
	struct psw_prefix ranges[PSW_K8S_MAX_SOURCE_RANGES];
	unsigned nb_ranges = 0;
	char skey[256];
	size_t p, k;

	if (proxied_elsewhere(svc)) {
		json_decref(addrs);
		json_decref(ext);
		return;
	}
	snprintf(skey, sizeof(skey), "%s/%s", ns ?: "", name ?: "");
	mine = psw_k8s_slices_of(st, skey);
	json_array_foreach(json_object_get(spec, "loadBalancerSourceRanges"), p, r)
		if (nb_ranges < RTE_DIM(ranges) && psw_k8s_parse_cidr(json_string_value(r), &ranges[nb_ranges]) == 0)
			nb_ranges++;
	json_array_foreach(json_object_get(spec, "ports"), p, port) {
		int proto = proto_of(json_string_value(json_object_get(port, "protocol")));
		uint16_t num = (uint16_t)json_integer_value(json_object_get(port, "port"));
		json_int_t node_port = is_node_port ? json_integer_value(json_object_get(port, "nodePort")) : 0;

		json_array_foreach(addrs, k, a) {
			uint8_t fam, addr[16];

			if (proto < 0 || psw_parse_ip(json_string_value(a), &fam, addr) < 0)
				continue;
			add_entry(st, specs, svc, mine, port, fam, addr, proto, num, local_only, false, 0, NULL, 0);
		}
		/* externalIPs and load-balancer ingress: externalTrafficPolicy, as NodePorts;
		 * the load balancer's only from loadBalancerSourceRanges */
		json_array_foreach(ext, k, a) {
			uint8_t fam, addr[16];
			bool lb = k >= nb_external_ips;

			if (proto < 0 || psw_parse_ip(json_string_value(a), &fam, addr) < 0)
				continue;
			add_entry(st, specs, svc, mine, port, fam, addr, proto, num, ext_local, ext_local,
				  ext_local ? 0 : PSW_SVC_F_MASQ, lb ? ranges : NULL, lb ? nb_ranges : 0);
		}
		/* NodePort (also of LoadBalancer Services) on every node address; the
		 * IPv6 ones for a Service that has IPv6 */
		if (node_port > 0 && proto >= 0) {
			unsigned n;

			for (n = 0; n < st->cfg.node.nb_addresses; n++)
				add_entry(st, specs, svc, mine, port, 4, st->cfg.node.addresses[n], proto,
					  (uint16_t)node_port, ext_local, ext_local, ext_local ? 0 : PSW_SVC_F_MASQ,
					  NULL, 0);
			for (n = 0; v6 && n < st->cfg.node.nb_addresses6; n++)
				add_entry(st, specs, svc, mine, port, 6, st->cfg.node.addresses6[n], proto,
					  (uint16_t)node_port, ext_local, ext_local, ext_local ? 0 : PSW_SVC_F_MASQ,
					  NULL, 0);
		}
	}
	/*
	 * healthCheckNodePort on every node address, the IPv6 ones for a
	 * Service that has IPv6 (as its NodePorts): the count of this node's
	 * endpoints of the address's family. kube-proxy's per-family proxiers
	 * serve it the same way when given their node addresses.
	 */
	if (json_integer_value(json_object_get(spec, "healthCheckNodePort")) > 0 &&
	    json_array_size(json_object_get(spec, "ports")) > 0) {
		uint16_t hc = (uint16_t)json_integer_value(json_object_get(spec, "healthCheckNodePort"));
		json_t *first = json_array_get(json_object_get(spec, "ports"), 0);
		unsigned n;

		for (n = 0; n < st->cfg.node.nb_addresses; n++)
			add_entry(st, specs, svc, mine, first, 4, st->cfg.node.addresses[n], IPPROTO_TCP, hc, true,
				  false, PSW_SVC_F_HEALTH, NULL, 0);
		for (n = 0; v6 && n < st->cfg.node.nb_addresses6; n++)
			add_entry(st, specs, svc, mine, first, 6, st->cfg.node.addresses6[n], IPPROTO_TCP, hc, true,
				  false, PSW_SVC_F_HEALTH, NULL, 0);
	}
	json_decref(addrs);
	json_decref(ext);
}

static bool
has_backend(const struct psw_svc_port *p, const struct psw_svc_backend *b)
{
	unsigned i;

	for (i = 0; i < p->nb_backends; i++)
		if (memcmp(p->backends[i].addr, b->addr, 16) == 0 && p->backends[i].port == b->port)
			return true;
	return false;
}

/* A backend of the entry now, for any client (its own list or the pods'). */
static bool
still_backend(const struct psw_svc_port *now, const struct psw_svc_backend *b)
{
	return now != NULL && (has_backend(now, b) || (now->pods != NULL && has_backend(now->pods, b)));
}

/*
 * UDP connections to backends that went away are forgotten at once; TCP
 * ones drain. A connection carries the Service port, not the list it was
 * picked from: a backend went away when neither list has it now (a change
 * of externalTrafficPolicy alone takes no endpoint away).
 */
static void
flush_removed(struct psw_ct *ct, const struct psw_svc_port *old, const struct psw_svc_port *now)
{
	unsigned i;

	if (ct == NULL || old == NULL || old->key.proto != IPPROTO_UDP)
		return;
	for (i = 0; i < old->nb_backends; i++)
		if (!still_backend(now, &old->backends[i]))
			psw_ct_flush_backend(ct, old->id, old->backends[i].addr, old->backends[i].port);
	for (i = 0; old->pods != NULL && i < old->pods->nb_backends; i++)
		if (!still_backend(now, &old->pods->backends[i]))
			psw_ct_flush_backend(ct, old->id, old->pods->backends[i].addr, old->pods->backends[i].port);
}

/*
 * Counter slots, one per Service that has entries (st->svc_slots). A
 * slot's counts from before its owner are kept as a base and taken off.
 * A slot let go waits for a grace period (a worker may still open
 * connections for the old owner until then), then for its connections to
 * be gone (each counts its packets to the slot it was opened with: a
 * Service's established TCP connections outlive it): free once a whole
 * expiry pass found none of them (psw_ct_slot_drained).
 */
enum { SLOT_FREE, SLOT_TAKEN, SLOT_GRACE, SLOT_DRAINING };
static uint8_t slot_used[PSW_SVC_MAX_SLOTS];
static uint32_t slot_since[PSW_SVC_MAX_SLOTS];   /* SLOT_DRAINING: expiry passes begun by then */
static const struct psw_ct *slot_ct;             /* the table slots drain from */
static struct psw_svc_counts slot_base[PSW_SVC_MAX_SLOTS];

static void
slot_sum(const struct psw_state *st, unsigned slot, struct psw_svc_counts *c)
{
	unsigned w, d;

	memset(c, 0, sizeof(*c));
	for (w = 0; w < st->nb_workers; w++) {
		const struct psw_svc_counts *x = st->lcores[w] != NULL ? st->lcores[w]->sc.svc : NULL;

		if (x == NULL)
			continue;
		c->connections += __atomic_load_n(&x[slot].connections, __ATOMIC_RELAXED);
		c->rejected += __atomic_load_n(&x[slot].rejected, __ATOMIC_RELAXED);
		c->no_local += __atomic_load_n(&x[slot].no_local, __ATOMIC_RELAXED);
		c->source_range += __atomic_load_n(&x[slot].source_range, __ATOMIC_RELAXED);
		for (d = 0; d < 2; d++) {
			c->packets[d] += __atomic_load_n(&x[slot].packets[d], __ATOMIC_RELAXED);
			c->bytes[d] += __atomic_load_n(&x[slot].bytes[d], __ATOMIC_RELAXED);
		}
	}
}

static void
slot_drain(void *arg)
{
	slot_since[(uintptr_t)arg] = slot_ct != NULL ? slot_ct->passes : 0;
	slot_used[(uintptr_t)arg] = SLOT_DRAINING;
}

/* The owner's slot, taken if it has none; 0 when all are taken (counted nowhere). */
static uint16_t
slot_of(struct psw_state *st, const char *owner)
{
	json_t *v;
	unsigned i;

	if (st->svc_slots == NULL && (st->svc_slots = json_object()) == NULL)
		return 0;
	v = json_object_get(st->svc_slots, owner);
	if (v != NULL)
		return (uint16_t)json_integer_value(v);
	for (i = 1; i < PSW_SVC_MAX_SLOTS; i++)
		if (slot_used[i] == SLOT_FREE ||
		    (slot_used[i] == SLOT_DRAINING && psw_ct_slot_drained(st->ct, (uint16_t)i, slot_since[i])))
			break;
	if (i == PSW_SVC_MAX_SLOTS) {
		PSW_LOG(WARN, STATE, "Service %s is not counted: all %u counter slots are taken (stats and "
			"/metrics leave it out until a Service goes and it is changed)", owner, PSW_SVC_MAX_SLOTS - 1);
		return 0;
	}
	if (json_object_set_new(st->svc_slots, owner, json_integer(i)) < 0)
		return 0;
	slot_used[i] = SLOT_TAKEN;
	slot_sum(st, i, &slot_base[i]);
	return (uint16_t)i;
}

/* Owners with a slot and no entries (gone, or never published): their slots go. */
static void
slots_release(struct psw_state *st)
{
	const char *owner;
	json_t *v, *tmp;

	json_object_foreach_safe(st->svc_slots, tmp, owner, v) {
		uintptr_t slot = (uintptr_t)json_integer_value(v);

		if (st->svc_owners != NULL && json_object_get(st->svc_owners, owner) != NULL)
			continue;
		slot_used[slot] = SLOT_GRACE;
		slot_ct = st->ct;
		psw_tables_defer(slot_drain, (void *)slot);
		json_object_del(st->svc_slots, owner);
	}
}

json_t *
psw_services_counters_json(const struct psw_state *st)
{
	json_t *out = json_array(), *v;
	const char *owner;

	json_object_foreach(st->svc_slots, owner, v) {
		unsigned slot = (unsigned)json_integer_value(v);
		const char *slash = strchr(owner, '/');
		struct psw_svc_counts c;

		slot_sum(st, slot, &c);
		json_array_append_new(out, json_pack("{s:s%, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			"namespace", owner, slash != NULL ? (size_t)(slash - owner) : 0,
			"name", slash != NULL ? slash + 1 : owner,
			"connections", (json_int_t)(c.connections - slot_base[slot].connections),
			"rejected", (json_int_t)(c.rejected - slot_base[slot].rejected),
			"no_local", (json_int_t)(c.no_local - slot_base[slot].no_local),
			"source_range", (json_int_t)(c.source_range - slot_base[slot].source_range),
			"packets_to_backends", (json_int_t)(c.packets[0] - slot_base[slot].packets[0]),
			"bytes_to_backends", (json_int_t)(c.bytes[0] - slot_base[slot].bytes[0]),
			"packets_from_backends", (json_int_t)(c.packets[1] - slot_base[slot].packets[1]),
			"bytes_from_backends", (json_int_t)(c.bytes[1] - slot_base[slot].bytes[1])));
	}
	return out;
}

/* What one Service of a change gets: its entries, built aside. */
struct plan {
	const char *owner;
	uint64_t hash;
	struct spec_list specs;
	struct psw_svc_port **ports;    /* one per spec; NULL where the entry is unchanged */
};

struct psw_svc_plan {
	json_t *set;                     /* the owners in scope (keys are plan[].owner) */
	struct plan *plans;
	unsigned nb;
};

void
psw_services_plan_free(struct psw_svc_plan *sp)
{
	unsigned i, j;

	if (sp == NULL)
		return;
	for (i = 0; i < sp->nb; i++) {
		for (j = 0; j < sp->plans[i].specs.nb; j++) {
			spec_release(&sp->plans[i].specs.v[j]);
			if (sp->plans[i].ports != NULL)
				rte_free(sp->plans[i].ports[j]);      /* never published */
		}
		free(sp->plans[i].specs.v);
		free(sp->plans[i].ports);
	}
	free(sp->plans);
	json_decref(sp->set);
	free(sp);
}

int
psw_services_plan(struct psw_state *st, json_t *scope, struct psw_svc_plan **out, char *err, size_t err_len)
{
	json_t *store = psw_k8s_objects(st), *claimed, *v;
	struct psw_svc_plan *sp;
	const char *owner;
	unsigned i, j;
	int rc = 0;

	*out = NULL;
	if (st->svcs == NULL)
		return 0;
	if (st->svc_owners == NULL && (st->svc_owners = json_object()) == NULL)
		goto nomem;
	sp = calloc(1, sizeof(*sp));
	if (sp == NULL)
		goto nomem;
	sp->set = expand_scope(store, st->svc_owners, scope);
	sp->plans = calloc(json_object_size(sp->set) + 1, sizeof(*sp->plans));
	claimed = json_object();
	if (sp->plans == NULL || claimed == NULL) {
		json_decref(claimed);
		psw_services_plan_free(sp);
		goto nomem;
	}
	/* 1. what every Service in scope wants */
	json_object_foreach(sp->set, owner, v) {
		char ns[128];
		const char *slash = strchr(owner, '/');
		struct plan *pl = &sp->plans[sp->nb++];
		json_t *svc;

		snprintf(ns, sizeof(ns), "%.*s", slash ? (int)(slash - owner) : 0, owner);
		svc = psw_k8s_find(st, "Service", ns, slash ? slash + 1 : owner);
		pl->owner = owner;
		pl->hash = owner_hash(owner);
		if (svc != NULL)
			compile_service(st, &pl->specs, svc);
		if (pl->specs.nb > 0) {
			uint16_t slot = slot_of(st, owner);

			for (j = 0; j < pl->specs.nb; j++)
				pl->specs.v[j].cslot = slot;
		}
	}
	/* 2. no address and port may belong to two Services */
	for (i = 0; i < sp->nb && rc == 0; i++) {
		for (j = 0; j < sp->plans[i].specs.nb; j++) {
			const struct psw_svc_key *k = &sp->plans[i].specs.v[j].key;
			struct psw_svc_port *cur = psw_svc_table_get(st->svcs, k);
			char hex[2 * sizeof(*k) + 1];
			json_t *other;

			key_hex(k, hex);
			other = json_object_get(claimed, hex);
			if (other != NULL && strcmp(json_string_value(other), sp->plans[i].owner) != 0) {
				snprintf(err, err_len, "Services %s and %s claim the same address and port",
					 json_string_value(other), sp->plans[i].owner);
				rc = -EEXIST;
				break;
			}
			json_object_set_new(claimed, hex, json_string(sp->plans[i].owner));
			if (cur != NULL && cur->owner != sp->plans[i].hash) {
				bool moving = false;
				unsigned x;

				for (x = 0; x < sp->nb; x++)
					moving |= sp->plans[x].hash == cur->owner;
				if (!moving) {
					snprintf(err, err_len, "Service %s claims an address and port another "
						 "Service already serves", sp->plans[i].owner);
					rc = -EEXIST;
					break;
				}
			}
		}
	}
	json_decref(claimed);
	/* 3. room for the new keys: a change the table cannot take is refused
	 * here, so that publishing cannot fail half-way (slots of entries this
	 * change removes are free only after a grace period: not counted) */
	if (rc == 0) {
		uint32_t fresh = 0, room = psw_svc_table_room(st->svcs);

		for (i = 0; i < sp->nb; i++)
			for (j = 0; j < sp->plans[i].specs.nb; j++)
				fresh += psw_svc_table_get(st->svcs, &sp->plans[i].specs.v[j].key) == NULL;
		if (fresh > room) {
			snprintf(err, err_len, "the Service table is full: this change adds %u entries, "
				 "there is room for %u (table of %u)", fresh, room, st->svcs->capacity);
			rc = -ENOSPC;
		}
	}
	/* 4. the entries that change, built aside */
	for (i = 0; i < sp->nb && rc == 0; i++) {
		struct plan *pl = &sp->plans[i];

		pl->ports = calloc(pl->specs.nb + 1, sizeof(*pl->ports));
		if (pl->ports == NULL) {
			snprintf(err, err_len, "out of memory compiling Services");
			rc = -ENOMEM;
			break;
		}
		for (j = 0; j < pl->specs.nb; j++) {
			const struct psw_svc_spec *spec = &pl->specs.v[j];
			struct psw_svc_port *cur = psw_svc_table_get(st->svcs, &spec->key);
			struct psw_svc_port *port = psw_svc_port_build(spec, pl->hash, (int)rte_socket_id());

			if (port == NULL) {
				snprintf(err, err_len, "out of memory for Service %s", pl->owner);
				rc = -ENOMEM;
				break;
			}
			if (cur != NULL && psw_svc_port_same(cur, port))
				rte_free(port);
			else
				pl->ports[j] = port;
		}
	}
	if (rc < 0) {
		psw_services_plan_free(sp);
		slots_release(st);                 /* those taken for Services not published */
		return rc;
	}
	*out = sp;
	return 0;

nomem:
	snprintf(err, err_len, "out of memory compiling Services");
	return -ENOMEM;
}

int
psw_services_plan_publish(struct psw_state *st, struct psw_svc_plan *sp, char *err, size_t err_len)
{
	unsigned i, j;
	int rc = 0;

	for (i = 0; sp != NULL && i < sp->nb; i++) {
		struct plan *pl = &sp->plans[i];
		json_t *keys = json_array(), *old = json_object_get(st->svc_owners, pl->owner), *v;
		size_t k;

		for (j = 0; j < pl->specs.nb; j++) {
			const struct psw_svc_spec *spec = &pl->specs.v[j];
			struct psw_svc_port *cur = psw_svc_table_get(st->svcs, &spec->key);
			char hex[2 * sizeof(spec->key) + 1];

			key_hex(&spec->key, hex);
			json_array_append_new(keys, json_string(hex));
			if (pl->ports[j] == NULL)
				continue;                     /* unchanged */
			if (psw_svc_table_set(st->svcs, pl->ports[j]) < 0) {
				snprintf(err, err_len, "the Service table is full (%s)", pl->owner);
				rc = -ENOSPC;
				continue;                     /* freed with the plan */
			}
			flush_removed(st->ct, cur, pl->ports[j]);
			pl->ports[j] = NULL;                  /* the table's now */
		}
		/* entries the Service no longer has */
		json_array_foreach(old, k, v) {
			struct psw_svc_key key;
			struct psw_svc_port *cur;
			bool kept = false;
			size_t x;
			json_t *w;

			json_array_foreach(keys, x, w)
				kept |= strcmp(json_string_value(w), json_string_value(v)) == 0;
			if (kept)
				continue;
			hex_key(json_string_value(v), &key);
			cur = psw_svc_table_get(st->svcs, &key);
			if (cur == NULL || cur->owner != pl->hash)
				continue;             /* taken over by another Service in this change */
			flush_removed(st->ct, cur, NULL);
			psw_svc_table_del(st->svcs, &key);
		}
		if (json_array_size(keys) > 0) {
			json_object_set_new(st->svc_owners, pl->owner, keys);
		} else {
			json_object_del(st->svc_owners, pl->owner);
			json_decref(keys);
		}
	}
	slots_release(st);
	return rc;
}

void
psw_services_clear(struct psw_state *st)
{
	json_decref(st->svc_owners);
	st->svc_owners = NULL;
	memset(slot_used, 0, sizeof(slot_used));      /* the workers have stopped */
	memset(slot_base, 0, sizeof(slot_base));
	json_decref(st->svc_slots);
	st->svc_slots = NULL;
}
