/*
 * NetworkPolicy compiler (networking.k8s.io/v1 semantics, see docs/policy.md):
 *
 * - a pod selected by no policy of a type is not isolated that way; policies
 *   add up (any rule of any selecting policy allows);
 * - a rule's peers: absent or empty = everyone; podSelector alone = pods of
 *   the policy's namespace; namespaceSelector = pods of the namespaces it
 *   selects ({} = all); both in one peer = AND; ipBlock = the CIDR less its
 *   excepts (also matching pod addresses);
 * - a rule's ports: absent or empty = every port and protocol; a port
 *   without number = every port of its protocol; endPort = a range; a named
 *   port resolves against the destination pod's container ports (ingress:
 *   the selected pod; egress: each destination pod), per protocol, and
 *   allows nothing where it does not resolve.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_errno.h>
#include <rte_lcore.h>

#include "psw_audit.h"
#include "psw_config.h"
#include "psw_ctl.h"
#include "psw_k8s.h"
#include "psw_k8s_validate.h"
#include "psw_netpol.h"
#include "psw_netpol_priv.h"
#include "psw_podif.h"
#include "psw_policy_ctl.h"
#include "psw_port.h"

/* ---- label selectors ---- */

/* A MultiNetworkPolicy's slot key: "MultiNetworkPolicy/ns/name" (a NetworkPolicy's is "ns/name"). */
#define MULTI_PREFIX "MultiNetworkPolicy/"

static bool
in_values(json_t *values, const char *v)
{
	size_t i;
	json_t *x;

	json_array_foreach(values, i, x)
		if (v != NULL && strcmp(json_string_value(x) ?: "", v) == 0)
			return true;
	return false;
}

bool
psw_netpol_selects(json_t *selector, json_t *labels)
{
	json_t *ml = json_object_get(selector, "matchLabels"), *e, *v;
	const char *k;
	size_t i;

	json_object_foreach(ml, k, v) {
		const char *have = json_string_value(json_object_get(labels, k));

		if (have == NULL || strcmp(have, json_string_value(v) ?: "") != 0)
			return false;
	}
	json_array_foreach(json_object_get(selector, "matchExpressions"), i, e) {
		const char *key = json_string_value(json_object_get(e, "key")) ?: "";
		const char *op = json_string_value(json_object_get(e, "operator")) ?: "";
		const char *have = json_string_value(json_object_get(labels, key));
		json_t *vals = json_object_get(e, "values");

		if ((strcmp(op, "In") == 0 && !in_values(vals, have)) ||
		    (strcmp(op, "NotIn") == 0 && have != NULL && in_values(vals, have)) ||
		    (strcmp(op, "Exists") == 0 && have == NULL) ||
		    (strcmp(op, "DoesNotExist") == 0 && have != NULL))
			return false;
	}
	return true;
}

/* ---- rules ---- */

struct rule_buf {
	struct psw_pol_rule **v;
	unsigned *nb;
	unsigned cap;
};

static int
push(struct rule_buf *b, const struct psw_pol_rule *r)
{
	if (*b->nb >= PSW_NETPOL_MAX_RULES)
		return -E2BIG;
	if (*b->nb == b->cap) {
		unsigned cap = b->cap ? b->cap * 2 : 16;
		struct psw_pol_rule *v = realloc(*b->v, cap * sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		*b->v = v;
		b->cap = cap;
	}
	(*b->v)[(*b->nb)++] = *r;
	return 0;
}

/* A port spec of a rule: protocol (0 = any) and range, or a name to resolve. */
struct port_spec {
	uint8_t proto;
	uint16_t lo, hi;
	const char *name;
};

static int
proto_num(const char *p)
{
	if (p == NULL || strcmp(p, "TCP") == 0)
		return IPPROTO_TCP;
	if (strcmp(p, "UDP") == 0)
		return IPPROTO_UDP;
	return strcmp(p, "SCTP") == 0 ? IPPROTO_SCTP : IPPROTO_TCP;
}

/* Container port number of name/proto on a pod object, or -1. */
static int
named_port(json_t *pod_obj, const char *name, uint8_t proto)
{
	json_t *c, *cp;
	size_t i, j;

	json_array_foreach(json_object_get(json_object_get(pod_obj, "spec"), "containers"), i, c)
		json_array_foreach(json_object_get(c, "ports"), j, cp)
			if (strcmp(json_string_value(json_object_get(cp, "name")) ?: "", name) == 0 &&
			    proto_num(json_string_value(json_object_get(cp, "protocol"))) == proto)
				return (int)json_integer_value(json_object_get(cp, "containerPort"));
	return -1;
}

/* A peer prefix, and the pod it stands for (NULL for ipBlock / everyone). */
struct peer {
	struct psw_prefix pfx;
	json_t *pod;
};

struct peer_buf {
	struct peer *v;
	unsigned nb, cap;
};

static int
add_peer(struct peer_buf *b, const struct psw_prefix *p, json_t *pod)
{
	if (b->nb >= PSW_NETPOL_MAX_RULES)
		return -E2BIG;
	if (b->nb == b->cap) {
		unsigned cap = b->cap ? b->cap * 2 : 16;
		struct peer *v = realloc(b->v, cap * sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		b->v = v;
		b->cap = cap;
	}
	b->v[b->nb].pfx = *p;
	b->v[b->nb++].pod = pod;
	return 0;
}

static bool
prefix_within(const struct psw_prefix *outer, const struct psw_prefix *inner)
{
	return outer->family == inner->family && outer->len <= inner->len &&
	       psw_prefix_contains(outer, inner->addr);
}

/*
 * An ipBlock less its excepts. Addresses are 128-bit numbers (IPv4 in the
 * low 32 bits); the excepts become sorted intervals, and each gap between
 * them inside the CIDR is emitted as its maximal aligned prefixes, in
 * address order: O(n log n) in the number of excepts.
 */
typedef unsigned __int128 addr_num;

struct interval {
	addr_num lo, hi;                 /* inclusive */
};

static unsigned
family_bits(unsigned family)
{
	return family == 4 ? 32 : 128;
}

/* The host part of a prefix of length len: 2^(bits - len) - 1. */
static addr_num
host_mask(unsigned bits, unsigned len)
{
	unsigned host = bits - len;

	return host >= 128 ? ~(addr_num)0 : ((addr_num)1 << host) - 1;
}

static struct interval
prefix_interval(const struct psw_prefix *p)
{
	unsigned bits = family_bits(p->family), i;
	struct interval iv;
	addr_num a = 0;

	for (i = 0; i < bits / 8; i++)
		a = a << 8 | p->addr[i];
	iv.lo = a & ~host_mask(bits, p->len);
	iv.hi = iv.lo | host_mask(bits, p->len);
	return iv;
}

static int
interval_cmp(const void *x, const void *y)
{
	const struct interval *a = x, *b = y;

	return a->lo < b->lo ? -1 : a->lo > b->lo;
}

/* [lo, hi] as the fewest prefixes, lowest first. */
static int
emit_range(struct peer_buf *b, unsigned family, addr_num lo, addr_num hi)
{
	unsigned bits = family_bits(family);

	for (;;) {
		struct psw_prefix p = { .family = (uint8_t)family };
		unsigned host = 0, i;
		addr_num a;
		int rc;

		/* the largest block aligned at lo that ends at hi or before */
		while (host < bits && (lo & host_mask(bits, bits - host - 1)) == 0 &&
		       host_mask(bits, bits - host - 1) <= hi - lo)
			host++;
		p.len = (uint8_t)(bits - host);
		for (a = lo, i = bits / 8; i-- > 0; a >>= 8)
			p.addr[i] = (uint8_t)a;
		rc = add_peer(b, &p, NULL);
		if (rc < 0)
			return rc;
		if (lo + host_mask(bits, p.len) == hi)
			return 0;
		lo += host_mask(bits, p.len) + 1;
	}
}

static int
subtract(struct peer_buf *b, const struct psw_prefix *cidr, const struct psw_prefix *ex, unsigned nb_ex)
{
	struct interval whole = prefix_interval(cidr), *holes;
	unsigned nb_holes = 0, i;
	addr_num next = whole.lo;
	int rc = 0;

	holes = malloc((nb_ex ? nb_ex : 1) * sizeof(*holes));
	if (holes == NULL)
		return -ENOMEM;
	for (i = 0; i < nb_ex; i++) {
		struct interval iv;

		if (ex[i].family != cidr->family)
			continue;
		iv = prefix_interval(&ex[i]);
		if (iv.hi < whole.lo || iv.lo > whole.hi)
			continue;                        /* outside the block */
		if (iv.lo <= whole.lo && iv.hi >= whole.hi)
			goto out;                        /* wholly excepted */
		holes[nb_holes++] = iv;
	}
	qsort(holes, nb_holes, sizeof(*holes), interval_cmp);
	for (i = 0; i < nb_holes && rc == 0; i++) {
		if (holes[i].lo > next)
			rc = emit_range(b, cidr->family, next, holes[i].lo - 1);
		if (holes[i].hi >= whole.hi)
			goto out;                        /* the rest is excepted */
		if (holes[i].hi + 1 > next)
			next = holes[i].hi + 1;
	}
	if (rc == 0)
		rc = emit_range(b, cidr->family, next, whole.hi);
out:
	free(holes);
	return rc;
}

static int
pod_prefixes(struct peer_buf *b, json_t *pod)
{
	json_t *ip;
	size_t i;
	int rc;

	json_array_foreach(json_object_get(pod, "ips"), i, ip) {
		struct psw_prefix p = { 0 };
		const char *s = json_string_value(ip) ?: "";

		if (inet_pton(AF_INET, s, p.addr) == 1) {
			p.family = 4;
			p.len = 32;
		} else if (inet_pton(AF_INET6, s, p.addr) == 1) {
			p.family = 6;
			p.len = 128;
		} else {
			continue;
		}
		rc = add_peer(b, &p, pod);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* An ipBlock's prefixes. The excepts are on the heap: their number is capped on apply only. */
static int
ip_block_peers(struct peer_buf *b, json_t *ipb)
{
	json_t *excepts = json_object_get(ipb, "except"), *e;
	struct psw_prefix cidr, *ex;
	unsigned n = 0;
	size_t j;
	int rc;

	if (psw_parse_prefix(json_string_value(json_object_get(ipb, "cidr")) ?: "", &cidr) < 0)
		return 0;                        /* validated on apply */
	ex = malloc((json_array_size(excepts) + 1) * sizeof(*ex));
	if (ex == NULL)
		return -ENOMEM;
	json_array_foreach(excepts, j, e)
		if (psw_parse_prefix(json_string_value(e) ?: "", &ex[n]) == 0)
			n++;
	rc = subtract(b, &cidr, ex, n);
	free(ex);
	return rc;
}

/* Is a world entry on network net ("" the pods' own, else a secondary one)? */
static bool
on_net(json_t *pod, const char *net)
{
	return strcmp(json_string_value(json_object_get(pod, "net")) ?: "", net) == 0;
}

/*
 * The prefixes a rule's from / to list stands for; everyone when absent or
 * empty. Pods are their addresses on network net only.
 */
static int
rule_peers(struct peer_buf *b, json_t *peers, const char *policy_ns, json_t *pods, json_t *namespaces,
	   const char *net)
{
	json_t *peer, *pod;
	size_t i, j;
	int rc;

	if (json_array_size(peers) == 0) {
		struct psw_prefix any4 = { .family = 4 }, any6 = { .family = 6 };

		rc = add_peer(b, &any4, NULL);
		return rc < 0 ? rc : add_peer(b, &any6, NULL);
	}
	json_array_foreach(peers, i, peer) {
		json_t *ipb = json_object_get(peer, "ipBlock");
		json_t *nsel = json_object_get(peer, "namespaceSelector");
		json_t *psel = json_object_get(peer, "podSelector");

		if (ipb != NULL) {
			rc = ip_block_peers(b, ipb);
			if (rc < 0)
				return rc;
			continue;
		}
		if (nsel == NULL && psel == NULL)
			continue;                        /* an empty peer selects nothing (refused on apply) */
		json_array_foreach(pods, j, pod) {
			const char *ns = json_string_value(json_object_get(pod, "namespace")) ?: "";

			if (!on_net(pod, net))
				continue;
			if (nsel != NULL) {
				if (!psw_netpol_selects(nsel, json_object_get(namespaces, ns)))
					continue;
			} else if (strcmp(ns, policy_ns) != 0) {
				continue;
			}
			if (psel != NULL && !psw_netpol_selects(psel, json_object_get(pod, "labels")))
				continue;
			rc = pod_prefixes(b, pod);
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

static bool
pod_in_prefix(json_t *pod, const struct psw_prefix *pfx)
{
	struct peer_buf one = { 0 };
	bool in = false;
	unsigned i;

	if (pod_prefixes(&one, pod) < 0)
		return false;
	for (i = 0; i < one.nb && !in; i++)
		in = prefix_within(pfx, &one.v[i].pfx);
	free(one.v);
	return in;
}

static int
emit(struct rule_buf *rb, const struct psw_prefix *pfx, uint8_t proto, uint16_t lo, uint16_t hi,
     unsigned dir, unsigned slot, unsigned rule)
{
	struct psw_pol_rule r;

	memset(&r, 0, sizeof(r));
	r.family = pfx->family;
	r.proto = proto;
	r.plen = pfx->len;
	r.dir = (uint8_t)dir;
	r.port_lo = lo;
	r.port_hi = hi;
	memcpy(r.addr, pfx->addr, 16);
	r.ref.slot = (uint16_t)slot;
	r.ref.rule = (uint16_t)rule;
	return push(rb, &r);
}

int
psw_netpol_compile(json_t *policy, unsigned dir, unsigned slot, json_t *pod, json_t *pods,
		   json_t *namespaces, struct psw_pol_rule **rules, unsigned *nb_rules)
{
	json_t *spec = json_object_get(policy, "spec"), *rule, *ports, *p;
	const char *ns = json_string_value(json_object_get(json_object_get(policy, "metadata"),
							   "namespace")) ?: "default";
	const char *net = json_string_value(json_object_get(pod, "net")) ?: "";
	struct rule_buf rb = { rules, nb_rules, *nb_rules };
	size_t ri, pi;
	int rc = 0;

	json_array_foreach(json_object_get(spec, dir == PSW_POL_INGRESS ? "ingress" : "egress"), ri, rule) {
		struct peer_buf peers = { 0 };
		unsigned k;

		rc = rule_peers(&peers, json_object_get(rule, dir == PSW_POL_INGRESS ? "from" : "to"), ns,
				pods, namespaces, net);
		ports = json_object_get(rule, "ports");
		for (k = 0; k < peers.nb && rc == 0; k++) {
			const struct peer *pe = &peers.v[k];

			if (json_array_size(ports) == 0) {
				rc = emit(&rb, &pe->pfx, 0, 0, UINT16_MAX, dir, slot, (unsigned)ri);
				continue;
			}
			json_array_foreach(ports, pi, p) {
				json_t *port = json_object_get(p, "port"), *endp = json_object_get(p, "endPort");
				uint8_t proto = (uint8_t)proto_num(json_string_value(json_object_get(p, "protocol")));

				if (port == NULL) {
					rc = emit(&rb, &pe->pfx, proto, 0, UINT16_MAX, dir, slot, (unsigned)ri);
				} else if (json_is_integer(port)) {
					uint16_t lo = (uint16_t)json_integer_value(port);
					uint16_t hi = endp != NULL ? (uint16_t)json_integer_value(endp) : lo;

					rc = emit(&rb, &pe->pfx, proto, lo, hi, dir, slot, (unsigned)ri);
				} else if (dir == PSW_POL_INGRESS) {
					/* the selected pod is the destination */
					int num = named_port(json_object_get(pod, "pod"), json_string_value(port), proto);

					if (num > 0)
						rc = emit(&rb, &pe->pfx, proto, (uint16_t)num, (uint16_t)num, dir,
							  slot, (unsigned)ri);
				} else if (pe->pod != NULL) {
					int num = named_port(json_object_get(pe->pod, "pod"), json_string_value(port),
							     proto);

					if (num > 0)
						rc = emit(&rb, &pe->pfx, proto, (uint16_t)num, (uint16_t)num, dir,
							  slot, (unsigned)ri);
				} else {
					/* an address range: each known pod in it with that port name */
					json_t *dst;
					size_t j;

					json_array_foreach(pods, j, dst) {
						struct peer_buf one = { 0 };
						int num = named_port(json_object_get(dst, "pod"), json_string_value(port),
								     proto);
						unsigned q;

						if (num <= 0 || !on_net(dst, net) || !pod_in_prefix(dst, &pe->pfx))
							continue;
						rc = pod_prefixes(&one, dst);
						for (q = 0; q < one.nb && rc == 0; q++)
							if (prefix_within(&pe->pfx, &one.v[q].pfx))
								rc = emit(&rb, &one.v[q].pfx, proto, (uint16_t)num,
									  (uint16_t)num, dir, slot, (unsigned)ri);
						free(one.v);
						if (rc != 0)
							break;
					}
				}
				if (rc != 0)
					break;
			}
		}
		free(peers.v);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* ---- policy slots: a stable small number per policy, for counters ---- */

/*
 * What the compiler keeps between changes, the control state's own
 * (st->np): policy slots, and the policies by namespace and the world of
 * pods and namespaces (rebuilt on a full sync, renewed by a partial one).
 */
struct psw_netpol_store {
	json_t *slot_of;                         /* "ns/name" -> slot */
	char *slot_name[PSW_POL_MAX_SLOTS];
	struct psw_pol_counts slot_base[PSW_POL_MAX_SLOTS];
	unsigned nb_slots_used, slot_hint;
	json_t *pol_by_ns;                       /* ns -> [policy objects of the store] */
	json_t *world_pods, *world_ns;
};

static void
slot_sum(const struct psw_state *st, unsigned slot, struct psw_pol_counts *c)
{
	unsigned w;

	c->allowed = c->denied = 0;
	for (w = 0; w < st->nb_workers; w++) {
		const struct psw_pol_counts *pc = st->lcores[w] != NULL ? st->lcores[w]->sc.pol : NULL;

		if (pc != NULL) {
			c->allowed += pc[slot].allowed;
			c->denied += pc[slot].denied;
		}
	}
}

static int
slot_get(struct psw_state *st, const char *key)
{
	struct psw_netpol_store *np = st->np;
	json_t *s;
	unsigned i;

	if (np->slot_of == NULL)
		np->slot_of = json_object();
	s = json_object_get(np->slot_of, key);
	if (s != NULL)
		return (int)json_integer_value(s);
	if (np->nb_slots_used == PSW_POL_MAX_SLOTS)
		return -ENOSPC;
	for (i = 0; np->slot_name[np->slot_hint] != NULL; i++)
		np->slot_hint = (np->slot_hint + 1) % PSW_POL_MAX_SLOTS;
	np->slot_name[np->slot_hint] = strdup(key);
	if (np->slot_name[np->slot_hint] == NULL)
		return -ENOMEM;
	slot_sum(st, np->slot_hint, &np->slot_base[np->slot_hint]);  /* a reused slot starts from zero */
	json_object_set_new(np->slot_of, key, json_integer(np->slot_hint));
	np->nb_slots_used++;
	return (int)np->slot_hint;
}

void
psw_netpol_counts(const struct psw_state *st, const char *key, struct psw_pol_counts *c)
{
	const struct psw_netpol_store *np = st->np;
	json_t *slot = np != NULL && np->slot_of != NULL ? json_object_get(np->slot_of, key) : NULL;
	unsigned s;

	c->allowed = c->denied = 0;
	if (slot == NULL)
		return;
	s = (unsigned)json_integer_value(slot);
	slot_sum(st, s, c);
	c->allowed -= np->slot_base[s].allowed;         /* a reused slot counts from its reuse */
	c->denied -= np->slot_base[s].denied;
}

const char *
psw_netpol_slot_name(const struct psw_state *st, unsigned slot_plus_1)
{
	const struct psw_netpol_store *np = st->np;

	if (np == NULL || slot_plus_1 == 0 || slot_plus_1 > PSW_POL_MAX_SLOTS || np->slot_name[slot_plus_1 - 1] == NULL)
		return "";
	return np->slot_name[slot_plus_1 - 1];
}

static void
slot_put(struct psw_netpol_store *np, const char *key)
{
	json_t *s = json_object_get(np->slot_of, key);

	if (s == NULL)
		return;
	free(np->slot_name[json_integer_value(s)]);
	np->slot_name[json_integer_value(s)] = NULL;
	json_object_del(np->slot_of, key);
	np->nb_slots_used--;
}

/* ---- the world: known pods and namespaces ---- */

json_t *
psw_netpol_world_pods(const struct psw_state *st)
{
	return st->np != NULL ? st->np->world_pods : NULL;
}

static json_t *
labels_of(json_t *obj)
{
	json_t *l = json_object_get(json_object_get(obj, "metadata"), "labels");

	return l != NULL ? json_incref(l) : json_object();
}

static json_t *
pod_entry(const char *ns, const char *name, json_t *pod_obj, json_t *ips, const char *net)
{
	return json_pack("{s:s, s:s, s:o, s:O, s:o, s:s}", "namespace", ns, "name", name,
			 "labels", labels_of(pod_obj), "pod", pod_obj != NULL ? pod_obj : json_null(),
			 "ips", ips, "net", net);
}

/* The pods of this switch (psw_netpol_priv.h). */
struct psw_netpol_here *
psw_netpol_pods_here(const struct psw_state *st, unsigned *nb)
{
	struct psw_netpol_here *h = calloc(st->nb_atts + (st->has_cfg ? st->cfg.nb_pods : 0) + 1, sizeof(*h));
	unsigned i, n = 0;

	if (h == NULL) {
		*nb = 0;
		return NULL;
	}
	for (i = 0; st->has_cfg && i < st->cfg.nb_pods; i++) {
		const struct psw_pod_conf *pc = &st->cfg.pods[i];

		h[n] = (struct psw_netpol_here){ pc->namespace_[0] ? pc->namespace_ : "default", pc->name, "",
				      psw_port_find(pc->port), pc->has_ip4, pc->has_ip6, pc->ip4, pc->ip6 };
		h[n].net[0] = '\0';
		n += h[n].port >= 0 && h[n].port < PSW_MAX_PORTS;
	}
	for (i = 0; i < st->nb_atts; i++) {
		const struct psw_attachment *a = &st->atts[i];

		if (!a->attached)
			continue;
		/* eth0 is the pod's own network; another interface is a secondary
		 * attachment (Multus), on its CNI network */
		h[n].ns = a->pod_namespace;
		h[n].name = a->pod_name;
		h[n].port = psw_port_find(a->port_name);
		h[n].has4 = a->has_ip4;
		h[n].has6 = a->has_ip6;
		h[n].ip4 = a->ip4;
		h[n].ip6 = a->ip6;
		h[n].net[0] = '\0';     /* h[n] may be a skipped secondary's: not its network */
		/* a secondary's network as recorded at ADD (attachments restored
		 * from a state file of before: as its Pod says now) */
		if (strcmp(a->ifname, "eth0") != 0 && a->nad[0] != '\0')
			snprintf(h[n].net, sizeof(h[n].net), "%s", a->nad);
		else if (strcmp(a->ifname, "eth0") != 0)
			psw_podif_network(psw_k8s_find(st, "Pod", a->pod_namespace, a->pod_name), a->pod_namespace,
					  a->ifname, a->network, h[n].net, sizeof(h[n].net));
		n += h[n].port >= 0 && h[n].port < PSW_MAX_PORTS;
	}
	*nb = n;
	return h;
}

static json_t *
here_ips(const struct psw_netpol_here *h)
{
	json_t *ips = json_array();
	char buf[INET6_ADDRSTRLEN];

	if (h->has4)
		json_array_append_new(ips, json_string(inet_ntop(AF_INET, h->ip4, buf, sizeof(buf))));
	if (h->has6)
		json_array_append_new(ips, json_string(inet_ntop(AF_INET6, h->ip6, buf, sizeof(buf))));
	return ips;
}

/* Is any interface of the pod attached here? */
static bool
is_here(const struct psw_netpol_here *h, unsigned nb, const char *ns, const char *name)
{
	unsigned i;

	for (i = 0; i < nb; i++)
		if (strcmp(h[i].ns, ns) == 0 && strcmp(h[i].name, name) == 0)
			return true;
	return false;
}

/*
 * Is the pod's own network (eth0) attached here? If not (another plugin's
 * eth0, podswitch's secondary attachments only), its own-network addresses
 * are its Pod object's, as for a pod of another node.
 */
static bool
own_net_here(const struct psw_netpol_here *h, unsigned nb, const char *ns, const char *name)
{
	unsigned i;

	for (i = 0; i < nb; i++)
		if (strcmp(h[i].ns, ns) == 0 && strcmp(h[i].name, name) == 0 && h[i].net[0] == '\0')
			return true;
	return false;
}

/*
 * The entries of a Pod object of another node's secondary networks, from
 * the network-status annotation Multus writes (a JSON array of {"name":
 * "ns/nad", "ips": [...], "default": true for the pod's own}), onto out:
 * its peers for MultiNetworkPolicies of those networks. Malformed: none.
 */
static void
remote_secondary_entries(const char *ns, const char *name, json_t *o, json_t *out)
{
	const char *text = json_string_value(json_object_get(json_object_get(json_object_get(o, "metadata"),
						"annotations"), "k8s.v1.cni.cncf.io/network-status"));
	json_t *list, *n, *ip;
	size_t i, k;

	if (text == NULL || (list = json_loads(text, 0, NULL)) == NULL)
		return;
	json_array_foreach(list, i, n) {
		const char *net = json_string_value(json_object_get(n, "name")), *slash;
		json_t *ips = json_array();

		if (net == NULL || json_is_true(json_object_get(n, "default"))) {
			json_decref(ips);
			continue;
		}
		slash = strrchr(net, '/');
		json_array_foreach(json_object_get(n, "ips"), k, ip)
			if (json_is_string(ip))
				json_array_append(ips, ip);
		if (json_array_size(ips) == 0 || net[0] == '\0') {
			json_decref(ips);
			continue;
		}
		if (slash == NULL) {             /* Multus writes "namespace/name"; a bare name is the pod's namespace's */
			char full[PSW_PODIF_NET_MAX];

			if ((size_t)snprintf(full, sizeof(full), "%s/%s", ns, net) >= sizeof(full)) {
				json_decref(ips);        /* truncated it would be another NAD's */
				continue;
			}
			json_array_append_new(out, pod_entry(ns, name, o, ips, full));
		} else {
			json_array_append_new(out, pod_entry(ns, name, o, ips, net));
		}
	}
	json_decref(list);
}

/* The entry of a Pod object of another node, from its status.podIPs (or podIP); NULL without. */
static json_t *
remote_pod_entry(const char *ns, const char *name, json_t *o)
{
	json_t *status = json_object_get(o, "status"), *ips = json_array(), *p;
	size_t k;

	json_array_foreach(json_object_get(status, "podIPs"), k, p)
		if (json_is_string(json_object_get(p, "ip")))
			json_array_append(ips, json_object_get(p, "ip"));
	if (json_array_size(ips) == 0 && json_is_string(json_object_get(status, "podIP")))
		json_array_append(ips, json_object_get(status, "podIP"));
	if (json_array_size(ips) == 0) {
		json_decref(ips);
		return NULL;
	}
	return pod_entry(ns, name, o, ips, "");
}

/* A namespace no Namespace object describes has only its name label. */
static void
default_ns(json_t *nss, const char *ns)
{
	if (ns != NULL && json_object_get(nss, ns) == NULL)
		json_object_set_new(nss, ns, json_pack("{s:s}", "kubernetes.io/metadata.name", ns));
}

/*
 * Every pod this node knows: attached pods with their addresses, then Pod
 * objects with status.podIPs (or podIP) whose own network is not attached
 * here (of other nodes, or with podswitch as a secondary network only: the
 * addresses on their own network). And each namespace's
 * labels (kubernetes.io/metadata.name when no Namespace object says more).
 */
static void
world(const struct psw_state *st, json_t **pods_out, json_t **ns_out)
{
	json_t *pods = json_array(), *nss = json_object(), *store = psw_k8s_objects(st), *o, *p;
	unsigned i, nb_here;
	struct psw_netpol_here *here = psw_netpol_pods_here(st, &nb_here);
	const char *key;
	size_t k;

	for (i = 0; i < nb_here; i++)
		json_array_append_new(pods, pod_entry(here[i].ns, here[i].name,
			psw_k8s_find(st, "Pod", here[i].ns, here[i].name), here_ips(&here[i]), here[i].net));
	json_object_foreach(store, key, o) {
		json_t *meta = json_object_get(o, "metadata"), *e;
		const char *ns = json_string_value(json_object_get(meta, "namespace")) ?: "";
		const char *name = json_string_value(json_object_get(meta, "name")) ?: "";

		if (strncmp(key, "Namespace/", 10) == 0) {
			json_object_set_new(nss, name, labels_of(o));
			continue;
		}
		if (strncmp(key, "Pod/", 4) != 0 || own_net_here(here, nb_here, ns, name))
			continue;
		if ((e = remote_pod_entry(ns, name, o)) != NULL)
			json_array_append_new(pods, e);
		if (!is_here(here, nb_here, ns, name))
			remote_secondary_entries(ns, name, o, pods);
	}
	json_array_foreach(pods, k, p)
		default_ns(nss, json_string_value(json_object_get(p, "namespace")));
	free(here);
	*pods_out = pods;
	*ns_out = nss;
}


/* ---- compiling local pods ---- */

struct local_pod {
	int port;
	const struct psw_netpol_here *pod;
	json_t *entry;                   /* the world shape */
};

bool
psw_netpol_policy_selects(json_t *policy, const char *ns, json_t *labels)
{
	const char *pns = json_string_value(json_object_get(json_object_get(policy, "metadata"), "namespace"));

	return pns != NULL && strcmp(pns, ns) == 0 &&
	       psw_netpol_selects(json_object_get(json_object_get(policy, "spec"), "podSelector"), labels);
}

static bool
is_multi(json_t *policy)
{
	return strcmp(json_string_value(json_object_get(policy, "kind")) ?: "", "MultiNetworkPolicy") == 0;
}

void
psw_netpol_policy_key(json_t *policy, char *key, size_t len)
{
	json_t *meta = json_object_get(policy, "metadata");

	snprintf(key, len, "%s%s/%s", is_multi(policy) ? MULTI_PREFIX : "",
		 json_string_value(json_object_get(meta, "namespace")) ?: "",
		 json_string_value(json_object_get(meta, "name")) ?: "");
}

/*
 * Does the policy apply to a pod's interface on network net? A
 * NetworkPolicy to its own network's (""), a MultiNetworkPolicy to the
 * networks its policy-for annotation names (NetworkAttachmentDefinitions,
 * "name" in the policy's namespace or "namespace/name"; net is the
 * attachment's "namespace/name").
 */
bool
psw_netpol_applies(json_t *policy, const char *net)
{
	json_t *meta = json_object_get(policy, "metadata");
	const char *list, *p, *end, *pns, *slash;
	size_t nsl;

	if (!is_multi(policy))
		return net[0] == '\0';
	list = json_string_value(json_object_get(json_object_get(meta, "annotations"), PSW_K8S_POLICY_FOR));
	if (net[0] == '\0' || list == NULL || (slash = strchr(net, '/')) == NULL)
		return false;
	pns = json_string_value(json_object_get(meta, "namespace")) ?: "default";
	nsl = (size_t)(slash - net);
	for (p = list; *p != '\0'; p = *end == ',' ? end + 1 : end) {
		const char *s;
		size_t n;

		while (*p == ' ')
			p++;
		end = strchr(p, ',');
		if (end == NULL)
			end = p + strlen(p);
		n = (size_t)(end - p);
		while (n > 0 && p[n - 1] == ' ')
			n--;
		/* the namespace: the entry's, else the policy's */
		s = memchr(p, '/', n);
		if (s != NULL) {
			if ((size_t)(s - p) != nsl || strncmp(p, net, nsl) != 0)
				continue;
			n -= (size_t)(s + 1 - p);
			p = s + 1;
		} else if (strlen(pns) != nsl || strncmp(pns, net, nsl) != 0) {
			continue;
		}
		if (n == strlen(slash + 1) && strncmp(p, slash + 1, n) == 0)
			return true;
	}
	return false;
}

static int
compile_pod(struct psw_state *st, const struct local_pod *lp, json_t *policies, json_t *pods, json_t *nss,
	    struct psw_netpol_plan *plan, char *err, size_t err_len)
{
	const char *ns = json_string_value(json_object_get(lp->entry, "namespace"));
	json_t *labels = json_object_get(lp->entry, "labels"), *pol;
	struct psw_pol_rule *rules = NULL;
	unsigned nb_rules = 0, nb_iso[2] = { 0, 0 };
	uint16_t *iso[2] = { NULL, NULL };
	const uint16_t *isoc[2];
	bool isolated[2] = { false, false };
	struct psw_pol_port *cur = st->pol->ports[lp->port], *pp = NULL;
	char too_big[PSW_NAME_MAX + 260] = "";  /* the policy at which the rules overflowed */
	size_t i, j;
	int rc = 0;

	iso[0] = malloc((json_array_size(policies) + 1) * sizeof(uint16_t));
	iso[1] = malloc((json_array_size(policies) + 1) * sizeof(uint16_t));
	if (iso[0] == NULL || iso[1] == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	json_array_foreach(policies, i, pol) {
		char key[PSW_NAME_MAX + 260];
		json_t *type;
		int slot;

		if (!psw_netpol_applies(pol, json_string_value(json_object_get(lp->entry, "net")) ?: "") ||
		    !psw_netpol_policy_selects(pol, ns, labels))
			continue;
		psw_netpol_policy_key(pol, key, sizeof(key));
		slot = slot_get(st, key);
		if (slot < 0) {
			rc = slot;
			snprintf(err, err_len, "%s %s: no policy slot left (%d in use)",
				 is_multi(pol) ? "MultiNetworkPolicy" : "NetworkPolicy", key, PSW_POL_MAX_SLOTS);
			goto out;
		}
		bool seen[2] = { false, false };

		json_array_foreach(json_object_get(json_object_get(pol, "spec"), "policyTypes"), j, type) {
			unsigned d = strcmp(json_string_value(type) ?: "", "Egress") == 0 ? PSW_POL_EGRESS
											: PSW_POL_INGRESS;

			if (seen[d])
				continue;                /* each direction once per policy */
			seen[d] = true;
			isolated[d] = true;
			iso[d][nb_iso[d]++] = (uint16_t)slot;
			if (too_big[0] != '\0')
				continue;                /* its isolation still counts */
			rc = psw_netpol_compile(pol, d, (unsigned)slot, lp->entry, pods, nss, &rules, &nb_rules);
			if (rc == -E2BIG) {
				snprintf(too_big, sizeof(too_big), "%s", key);
				rc = 0;
			} else if (rc < 0) {
				goto out;
			}
		}
	}
	isoc[0] = iso[0];
	isoc[1] = iso[1];
	if (too_big[0] != '\0') {
		rc = -E2BIG;
		snprintf(err, err_len, "the NetworkPolicies selecting pod %s/%s compile to more than %u "
			 "rules (reached at %s)", ns, lp->pod->name, PSW_NETPOL_MAX_RULES, too_big);
		goto out;
	}
	if (isolated[0] || isolated[1]) {
		uint8_t audit = (uint8_t)psw_audit_ns_flags(st, &st->cfg, ns);

		if (cur != NULL && cur->digest == psw_pol_digest(isolated, rules, nb_rules, isoc, nb_iso) &&
		    cur->audit == audit && cur->port == lp->port)
			goto out;                                /* nothing changed for this pod */
		pp = psw_pol_port_build(isolated, rules, nb_rules, isoc, nb_iso, (int)rte_socket_id());
		if (pp == NULL) {
			rc = -rte_errno;
			snprintf(err, err_len, "cannot build the policy of pod %s/%s (%u rules): %s",
				 ns, lp->pod->name, nb_rules, rte_strerror(rte_errno));
			goto out;
		}
		pp->audit = audit;                       /* read by the stage once published */
		pp->port = (uint16_t)lp->port;
	} else if (cur == NULL) {
		goto out;                                /* not isolated, and was not */
	}
	plan->set[lp->port] = true;                      /* published with the plan */
	plan->next[lp->port] = pp;
out:
	if (rc == -ENOMEM && err[0] == '\0')
		snprintf(err, err_len, "out of memory compiling NetworkPolicies");
	free(rules);
	free(iso[0]);
	free(iso[1]);
	return rc;
}

/*
 * Kept between syncs: the policies by namespace (updated from the changed
 * list, rebuilt on a full sync), and the world of pods and namespaces
 * (rebuilt on a full sync only: pods and namespaces always cause one).
 */

/*
 * Pod ns/name changed in the store (nothing else did): its entries in the
 * world become what the store and the attachments say now, in the same
 * places (the order of the world is the order of a pod's rules, part of the
 * digest: moving an entry would rebuild contexts for nothing).
 */
static void
world_renew_pod(const struct psw_state *st, const struct psw_netpol_here *here, unsigned nb_here,
		const char *ns, const char *name)
{
	struct psw_netpol_store *np = st->np;
	json_t *o = psw_k8s_find(st, "Pod", ns, name), *now = json_array(), *e;
	size_t k, next = 0;
	unsigned i;

	for (i = 0; i < nb_here; i++)
		if (strcmp(here[i].ns, ns) == 0 && strcmp(here[i].name, name) == 0)
			json_array_append_new(now, pod_entry(ns, name, o, here_ips(&here[i]), here[i].net));
	/* as world() has it: the Pod object's addresses unless eth0 is attached here,
	 * its secondary ones (network-status) unless it is attached here at all */
	if (!own_net_here(here, nb_here, ns, name) && o != NULL && (e = remote_pod_entry(ns, name, o)) != NULL)
		json_array_append_new(now, e);
	if (!is_here(here, nb_here, ns, name) && o != NULL)
		remote_secondary_entries(ns, name, o, now);
	for (k = 0; k < json_array_size(np->world_pods);) {
		e = json_array_get(np->world_pods, k);
		if (strcmp(json_string_value(json_object_get(e, "namespace")) ?: "", ns) != 0 ||
		    strcmp(json_string_value(json_object_get(e, "name")) ?: "", name) != 0) {
			k++;
		} else if (next < json_array_size(now)) {
			json_array_set(np->world_pods, k++, json_array_get(now, next++));
		} else {
			json_array_remove(np->world_pods, k);
		}
	}
	for (; next < json_array_size(now); next++)
		json_array_append(np->world_pods, json_array_get(now, next));
	json_decref(now);
	default_ns(np->world_ns, ns);
}

static void
index_policy(const struct psw_state *st, const char *kind, const char *ns, const char *name)
{
	struct psw_netpol_store *np = st->np;
	json_t *list = json_object_get(np->pol_by_ns, ns), *o, *now = psw_k8s_find(st, kind, ns, name);
	size_t i;

	if (list == NULL) {
		list = json_array();
		json_object_set_new(np->pol_by_ns, ns, list);
	}
	json_array_foreach(list, i, o)
		if (strcmp(json_string_value(json_object_get(json_object_get(o, "metadata"), "name")) ?: "",
			   name) == 0 && strcmp(json_string_value(json_object_get(o, "kind")) ?: "", kind) == 0) {
			json_array_remove(list, i);
			break;
		}
	if (now != NULL)
		json_array_append(list, now);
}

static void
reindex_all(const struct psw_state *st)
{
	struct psw_netpol_store *np = st->np;
	json_t *store = psw_k8s_objects(st), *o;
	const char *key;

	json_decref(np->pol_by_ns);
	np->pol_by_ns = json_object();
	json_object_foreach(store, key, o) {
		json_t *meta = json_object_get(o, "metadata"), *list;
		const char *ns;

		if (strncmp(key, "NetworkPolicy/", 14) != 0 && strncmp(key, "MultiNetworkPolicy/", 19) != 0)
			continue;
		ns = json_string_value(json_object_get(meta, "namespace")) ?: "";
		list = json_object_get(np->pol_by_ns, ns);
		if (list == NULL) {
			list = json_array();
			json_object_set_new(np->pol_by_ns, ns, list);
		}
		json_array_append(list, o);
	}
}

/* Forget the index and the world: the next plan is a full one (the store may have been put back). */
static void
forget_caches(struct psw_netpol_store *np)
{
	json_decref(np->pol_by_ns);
	json_decref(np->world_pods);
	json_decref(np->world_ns);
	np->pol_by_ns = np->world_pods = np->world_ns = NULL;
}

int
psw_netpol_plan(struct psw_state *st, json_t *changed, json_t *pods, struct psw_netpol_plan *plan,
		char *err, size_t err_len)
{
	struct psw_netpol_store *np;
	json_t *o;
	struct local_pod local[PSW_MAX_PORTS];
	bool is_local[PSW_MAX_PORTS] = { false };
	unsigned nb_local = 0, nb_here, i;
	struct psw_netpol_here *here;
	const char *key;
	bool full;
	size_t k;
	int rc = 0;

	memset(plan, 0, sizeof(*plan));
	if (st->pol == NULL)
		return 0;
	if (st->np == NULL && (st->np = calloc(1, sizeof(*st->np))) == NULL) {
		snprintf(err, err_len, "out of memory compiling NetworkPolicies");
		return -ENOMEM;
	}
	np = st->np;
	plan->put = json_array();
	err[0] = '\0';
	full = (changed == NULL && pods == NULL) || np->pol_by_ns == NULL || np->world_pods == NULL;
	if (full) {
		changed = pods = NULL;
		reindex_all(st);
		json_decref(np->world_pods);
		json_decref(np->world_ns);
		world(st, &np->world_pods, &np->world_ns);
	}
	/* slots of deleted policies go back; the index follows the store */
	if (changed != NULL) {
		json_array_foreach(changed, k, o) {
			char pk[PSW_NAME_MAX + 260];
			json_t *meta = json_object_get(o, "metadata");
			const char *ns = json_string_value(json_object_get(meta, "namespace")) ?: "";
			const char *name = json_string_value(json_object_get(meta, "name")) ?: "";
			const char *kind = is_multi(o) ? "MultiNetworkPolicy" : "NetworkPolicy";

			psw_netpol_policy_key(o, pk, sizeof(pk));
			index_policy(st, kind, ns, name);
			if (psw_k8s_find(st, kind, ns, name) == NULL)
				json_array_append_new(plan->put, json_string(pk));
		}
	} else if (full && np->slot_of != NULL) {
		void *tmp;

		json_object_foreach_safe(np->slot_of, tmp, key, o) {
			char nsbuf[PSW_NAME_MAX + 1];
			bool multi = strncmp(key, MULTI_PREFIX, strlen(MULTI_PREFIX)) == 0;
			const char *id = multi ? key + strlen(MULTI_PREFIX) : key, *slash = strchr(id, '/');

			if (slash == NULL || (size_t)(slash - id) >= sizeof(nsbuf))
				continue;
			memcpy(nsbuf, id, (size_t)(slash - id));
			nsbuf[slash - id] = '\0';
			if (psw_k8s_find(st, multi ? "MultiNetworkPolicy" : "NetworkPolicy", nsbuf, slash + 1) == NULL)
				json_array_append_new(plan->put, json_string(key));
		}
	}
	here = psw_netpol_pods_here(st, &nb_here);
	if (here == NULL) {
		snprintf(err, err_len, "out of memory compiling NetworkPolicies");
		psw_netpol_plan_discard(st, plan);
		return -ENOMEM;
	}
	/* changed Pods: their world entries renewed, and every local pod compiled
	 * (selectors and peers anywhere may follow them) */
	json_array_foreach(pods, k, o) {
		json_t *meta = json_object_get(o, "metadata");
		const char *ns = json_string_value(json_object_get(meta, "namespace")) ?: "";
		const char *name = json_string_value(json_object_get(meta, "name")) ?: "";
		json_t *prev = k > 0 ? json_object_get(json_array_get(pods, k - 1), "metadata") : NULL;

		/* an update lists the old and the new version: one renewal does */
		if (prev != NULL && strcmp(json_string_value(json_object_get(prev, "namespace")) ?: "", ns) == 0 &&
		    strcmp(json_string_value(json_object_get(prev, "name")) ?: "", name) == 0)
			continue;
		world_renew_pod(st, here, nb_here, ns, name);
	}
	if (json_array_size(pods) > 0)
		changed = NULL;
	for (i = 0; i < nb_here && nb_local < PSW_MAX_PORTS; i++) {
		const struct psw_netpol_here *h = &here[i];
		json_t *e;

		if (is_local[h->port])
			continue;                    /* one pod per port */
		is_local[h->port] = true;
		e = pod_entry(h->ns, h->name, psw_k8s_find(st, "Pod", h->ns, h->name), here_ips(h), h->net);
		if (changed != NULL) {
			bool touched = false;

			json_array_foreach(changed, k, o)
				touched |= psw_netpol_policy_selects(o, h->ns, json_object_get(e, "labels"));
			if (!touched) {
				json_decref(e);
				continue;
			}
		}
		local[nb_local].port = h->port;
		local[nb_local].pod = h;
		local[nb_local++].entry = e;
	}
	/* every pod's object is built aside; the first failure drops them all */
	for (i = 0; i < nb_local && rc == 0; i++) {
		json_t *mine = json_object_get(np->pol_by_ns, local[i].pod->ns), *none = NULL;

		if (mine == NULL)
			mine = none = json_array();
		rc = compile_pod(st, &local[i], mine, np->world_pods, np->world_ns, plan, err, err_len);
		json_decref(none);
	}
	/* ports that no longer hold a pod lose their policy */
	for (i = 0; i < PSW_MAX_PORTS; i++)
		if (!is_local[i] && st->pol->ports[i] != NULL) {
			plan->set[i] = true;
			plan->next[i] = NULL;
		}
	for (i = 0; i < nb_local; i++)
		json_decref(local[i].entry);
	free(here);
	if (rc < 0)
		psw_netpol_plan_discard(st, plan);
	return rc;
}

unsigned
psw_netpol_plan_publish_guards(struct psw_state *st, struct psw_netpol_plan *plan)
{
	unsigned p, left = 0;

	for (p = 0; p < PSW_MAX_PORTS; p++) {
		if (!plan->set[p])
			continue;
		if (plan->next[p] == NULL) {
			left++;                          /* a port losing its object: later */
			continue;
		}
		psw_pol_table_set(st->pol, p, plan->next[p]);
		plan->set[p] = false;
		plan->next[p] = NULL;                    /* the table's now */
	}
	return left;
}

void
psw_netpol_plan_publish(struct psw_state *st, struct psw_netpol_plan *plan)
{
	json_t *k;
	size_t i;
	unsigned p;

	for (p = 0; p < PSW_MAX_PORTS; p++)
		if (plan->set[p])
			psw_pol_table_set(st->pol, p, plan->next[p]);   /* the old one after a grace period */
	json_array_foreach(plan->put, i, k)
		slot_put(st->np, json_string_value(k));
	json_decref(plan->put);
	memset(plan, 0, sizeof(*plan));
}

void
psw_netpol_plan_discard(struct psw_state *st, struct psw_netpol_plan *plan)
{
	unsigned p;

	for (p = 0; p < PSW_MAX_PORTS; p++)
		psw_pol_port_free(plan->next[p]);              /* never published */
	json_decref(plan->put);
	memset(plan, 0, sizeof(*plan));
	if (st->np != NULL)
		forget_caches(st->np);
}

void
psw_netpol_clear(struct psw_state *st)
{
	unsigned i;

	for (i = 0; st->pol != NULL && i < PSW_MAX_PORTS; i++) {
		psw_pol_port_free(st->pol->ports[i]);
		st->pol->ports[i] = NULL;
	}
	if (st->np == NULL)
		return;
	for (i = 0; i < PSW_POL_MAX_SLOTS; i++)
		free(st->np->slot_name[i]);
	json_decref(st->np->slot_of);
	forget_caches(st->np);
	free(st->np);
	st->np = NULL;
}

