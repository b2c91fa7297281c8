/*
 * The Kubernetes object store: apply / delete / get. Objects are kept as
 * validated, defaulted JSON keyed "Kind/namespace/name". An apply or delete
 * of a list is atomic: everything is checked first, then all of it is done.
 * Applying an object again replaces it whole, as `kubectl apply` of a
 * complete object does. Control thread only.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_common.h>

#include "psw_api.h"
#include "psw_change.h"
#include "psw_ctl.h"
#include "psw_k8s.h"
#include "psw_k8s_validate.h"

/* Keep the index of EndpointSlices by Service in step with the store. */
static void
index_slice(struct psw_k8s_store *ks, const char *key, json_t *obj, bool add)
{
	json_t *meta, *set;
	const char *svc;
	char k[300];

	if (obj == NULL || strncmp(key, "EndpointSlice/", 14) != 0)
		return;
	meta = json_object_get(obj, "metadata");
	svc = json_string_value(json_object_get(json_object_get(meta, "labels"), "kubernetes.io/service-name"));
	if (svc == NULL)
		return;
	if (ks->slices == NULL)
		ks->slices = json_object();
	snprintf(k, sizeof(k), "%s/%s", json_string_value(json_object_get(meta, "namespace")) ?: "", svc);
	set = json_object_get(ks->slices, k);
	if (add) {
		if (set == NULL) {
			set = json_object();
			json_object_set_new(ks->slices, k, set);
		}
		json_object_set(set, key, obj);
	} else if (set != NULL) {
		json_object_del(set, key);
		if (json_object_size(set) == 0)
			json_object_del(ks->slices, k);
	}
}

/* Replace (obj != NULL) or remove the object at key, keeping the index right. */
static void
store_set(struct psw_k8s_store *ks, const char *key, json_t *obj)
{
	index_slice(ks, key, json_object_get(ks->objects, key), false);
	if (obj != NULL) {
		json_object_set(ks->objects, key, obj);
		index_slice(ks, key, obj, true);
	} else {
		json_object_del(ks->objects, key);
	}
}

json_t *
psw_k8s_slices_of(const struct psw_state *st, const char *ns_service)
{
	return st->k8s.slices != NULL ? json_object_get(st->k8s.slices, ns_service) : NULL;
}

static void
key_of(json_t *obj, char *key, size_t len)
{
	json_t *meta = json_object_get(obj, "metadata");
	const char *ns = json_string_value(json_object_get(meta, "namespace"));

	snprintf(key, len, "%s/%s/%s", json_string_value(json_object_get(obj, "kind")),
		 ns != NULL ? ns : "", json_string_value(json_object_get(meta, "name")));
}

json_t *
psw_k8s_find(const struct psw_state *st, const char *kind, const char *ns, const char *name)
{
	char key[512];

	snprintf(key, sizeof(key), "%s/%s/%s", kind, ns != NULL ? ns : "", name);
	return st->k8s.objects != NULL ? json_object_get(st->k8s.objects, key) : NULL;
}

json_t *
psw_k8s_objects(const struct psw_state *st)
{
	return st->k8s.objects;
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(((const struct psw_k8s_node *)a)->name, ((const struct psw_k8s_node *)b)->name);
}

/* One stored Node (validated: its CIDRs and InternalIPs parse) into n. */
static void
node_of(json_t *obj, struct psw_k8s_node *n)
{
	json_t *c, *a;
	size_t i;

	memset(n, 0, sizeof(*n));
	n->name = json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
	json_array_foreach(json_object_get(json_object_get(obj, "spec"), "podCIDRs"), i, c)
		if (n->nb_cidrs < 2 && psw_parse_prefix(json_string_value(c), &n->cidrs[n->nb_cidrs]) == 0)
			n->nb_cidrs++;
	json_array_foreach(json_object_get(json_object_get(obj, "status"), "addresses"), i, a) {
		uint8_t fam, addr[16];
		unsigned k;
		bool seen = false;

		if (n->nb_internal == 2 ||
		    strcmp(json_string_value(json_object_get(a, "type")) ?: "", "InternalIP") != 0 ||
		    psw_parse_ip(json_string_value(json_object_get(a, "address")), &fam, addr) < 0)
			continue;
		for (k = 0; k < n->nb_internal; k++)
			seen |= n->internal_family[k] == fam;
		if (seen)
			continue;                /* the first of each family */
		n->internal_family[n->nb_internal] = fam;
		memcpy(n->internal[n->nb_internal], addr, 16);
		n->nb_internal++;
	}
}

unsigned
psw_k8s_nodes(const struct psw_state *st, struct psw_k8s_node *out, unsigned max)
{
	unsigned nb = 0, filled = 0;
	const char *key;
	json_t *o;

	json_object_foreach(st->k8s.objects, key, o) {
		struct psw_k8s_node n;
		unsigned at;

		if (strncmp(key, "Node/", 5) != 0)
			continue;
		nb++;
		if (out == NULL || max == 0)
			continue;
		node_of(o, &n);
		if (filled < max) {
			out[filled++] = n;
			if (filled == max)
				qsort(out, filled, sizeof(*out), by_name);
			continue;
		}
		/* out is full (and sorted): keep the first max by name, whatever the hash order */
		if (strcmp(n.name, out[max - 1].name) >= 0)
			continue;
		for (at = max - 1; at > 0 && strcmp(n.name, out[at - 1].name) < 0; at--)
			out[at] = out[at - 1];
		out[at] = n;
	}
	if (filled > 0 && filled < max)
		qsort(out, filled, sizeof(*out), by_name);
	return nb;
}

void
psw_k8s_clear(struct psw_state *st)
{
	json_decref(st->k8s.objects);
	st->k8s.objects = NULL;
	json_decref(st->k8s.slices);
	st->k8s.slices = NULL;
}

/*
 * Validate every object of args.objects (after List flattening); NULL on
 * success. For a delete only the identity counts: apiVersion, kind, name
 * and namespace (the rest of the object is dropped before validation).
 */
static json_t *
validated_objects(json_t *args, json_t **objs, bool identity_only)
{
	json_t *in = json_object_get(args, "objects"), *o;
	size_t i;

	*objs = NULL;
	if (!json_is_array(in))
		return psw_api_error(PSW_API_E_INVALID, "argument 'objects' must be a list of objects");
	*objs = psw_k8s_flatten(in);
	json_array_foreach(*objs, i, o) {
		json_t *copy = json_deep_copy(o);
		char *err;

		if (copy == NULL)
			return psw_api_error(PSW_API_E_INTERNAL, "out of memory");
		if (identity_only && json_is_object(copy)) {
			json_t *meta = json_object_get(copy, "metadata"), *id;

			id = json_pack("{s:O*, s:O*, s:{s:O*, s:O*}, s:{}}", "apiVersion",
				       json_object_get(copy, "apiVersion"), "kind",
				       json_object_get(copy, "kind"), "metadata", "name",
				       json_object_get(meta, "name"), "namespace",
				       json_object_get(meta, "namespace"), "spec");
			json_decref(copy);
			copy = id;
			if (copy != NULL && (strcmp(json_string_value(json_object_get(copy, "kind")) ?: "",
						    "NetworkPolicy") == 0 ||
					     strcmp(json_string_value(json_object_get(copy, "kind")) ?: "",
						    "MultiNetworkPolicy") == 0))
				json_object_set_new(json_object_get(copy, "spec"), "podSelector", json_object());
			if (copy != NULL && strcmp(json_string_value(json_object_get(copy, "kind")) ?: "",
						   "Service") == 0)
				json_object_set_new(json_object_get(copy, "spec"), "clusterIP",
						    json_string("None"));
			if (copy != NULL && strcmp(json_string_value(json_object_get(copy, "kind")) ?: "",
						   "EndpointSlice") == 0)
				json_object_set_new(copy, "addressType", json_string("IPv4"));
			if (copy == NULL)
				return psw_api_error(PSW_API_E_INVALID, "document %zu: not an object", i + 1);
		}
		err = psw_k8s_validate(copy);
		if (err != NULL) {
			json_t *resp = psw_api_error(PSW_API_E_INVALID, "document %zu: %s (nothing was "
						     "changed)", i + 1, err);

			free(err);
			json_decref(copy);
			return resp;
		}
		json_array_set_new(*objs, i, copy);
	}
	return NULL;
}

/* The ClusterIPs the stored Services hold (clusterIP and clusterIPs), as a set (address -> true). */
static json_t *
cluster_ips(json_t *objs)
{
	json_t *used = json_object(), *o, *v;
	const char *key;
	size_t i;

	json_object_foreach(objs, key, o) {
		json_t *spec = json_object_get(o, "spec");
		const char *ip = json_string_value(json_object_get(spec, "clusterIP"));

		if (strncmp(key, "Service/", 8) != 0)
			continue;
		if (ip != NULL && ip[0] != '\0')
			json_object_set_new(used, ip, json_true());
		json_array_foreach(json_object_get(spec, "clusterIPs"), i, v)
			if (json_is_string(v) && json_string_length(v) > 0)
				json_object_set_new(used, json_string_value(v), json_true());
	}
	return used;
}

/* A free address of cidr (IPv4 or IPv6), probed from where the name hashes to; false when full. */
static bool
free_address(const struct psw_prefix *cidr, json_t *used, const char *key, char *buf, size_t len)
{
	unsigned host_bits = (cidr->family == 4 ? 32u : 128u) - cidr->len;
	uint64_t size = host_bits >= 32 ? 1ull << 32 : 1ull << host_bits, tries = RTE_MIN(size, 1ull << 20), i;
	uint32_t start = 2166136261u;

	if (size < 8)
		return false;
	/* start where the name hashes to (FNV-1a of "ns/name"): Services spread over
	 * the range, so allocation probes few addresses even with 10k of them */
	for (const char *c = key; *c; c++)
		start = (start ^ (uint8_t)*c) * 16777619u;
	for (i = 0; i < tries; i++) {
		uint32_t off = (uint32_t)((start + i) % size), last;
		uint8_t a[16];

		/* never the network, the API Service's first address, nor IPv4's broadcast */
		if (off < 2 || (cidr->family == 4 && off == size - 1))
			continue;
		/* the offset added to the address's last 32 bits */
		memcpy(a, cidr->addr, 16);
		memcpy(&last, a + (cidr->family == 4 ? 0 : 12), 4);
		last = htonl(ntohl(last) + off);
		memcpy(a + (cidr->family == 4 ? 0 : 12), &last, 4);
		inet_ntop(cidr->family == 4 ? AF_INET : AF_INET6, a, buf, (socklen_t)len);
		if (json_object_get(used, buf) == NULL)
			return true;
	}
	return false;
}

/* The address family (4, 6) of an address string, 0 when it is none. */
static unsigned
ip_family(const char *ip)
{
	uint8_t fam, addr[16];

	return ip != NULL && psw_parse_ip(ip, &fam, addr) == 0 ? fam : 0;
}

/*
 * The API server gives a Service without clusterIP one from the service CIDR
 * of each of its families, and keeps them when the Service is applied
 * again: ipFamilies (or, for PreferDualStack and RequireDualStack, IPv4 then
 * IPv6) says which, limited to the families that have a range here
 * (node.service_cidr, node.service_cidr6); with none of them, IPv4. A
 * clusterIP given (or kept) is the first; the other family's is added. The
 * first two addresses of a range (network, and the one Kubernetes keeps for
 * its own API Service) and IPv4's broadcast address are never used.
 */
static int
allocate_cluster_ip(const struct psw_state *st, json_t *next, json_t *used, json_t *obj,
		    const char *key)
{
	json_t *spec = json_object_get(obj, "spec"), *first, *given, *stored, *v, *ips;
	const struct psw_prefix *cidr[7] = { [4] = &st->cfg.node.service_cidr, [6] = &st->cfg.node.service_cidr6 };
	const char *policy = json_string_value(json_object_get(spec, "ipFamilyPolicy"));
	const char *ip = json_string_value(json_object_get(spec, "clusterIP"));
	const char *have[7] = { 0 };
	unsigned fams[2], nb = 0, k;
	char buf[INET6_ADDRSTRLEN];
	size_t i;

	/* clusterIPs without clusterIP: its first is the clusterIP (as the API server reads it) */
	if ((ip == NULL || ip[0] == '\0') && json_is_string(json_array_get(json_object_get(spec, "clusterIPs"), 0))) {
		json_object_set(spec, "clusterIP", json_array_get(json_object_get(spec, "clusterIPs"), 0));
		ip = json_string_value(json_object_get(spec, "clusterIP"));
	}
	stored = json_object_get(json_object_get(next, key), "spec");
	/* headless stays headless when applied again without a clusterIP */
	if ((ip == NULL || ip[0] == '\0') &&
	    strcmp(json_string_value(json_object_get(stored, "clusterIP")) ?: "", "None") == 0) {
		json_object_set_new(spec, "clusterIP", json_string("None"));
		ip = "None";
	}
	if (strcmp(json_string_value(json_object_get(spec, "type")) ?: "", "ExternalName") == 0 ||
	    (ip != NULL && strcmp(ip, "None") == 0))
		return 0;
	/* what it has: the manifest's addresses, then the stored Service's (immutable)
	 * where the manifest says nothing else */
	given = ip != NULL && ip[0] != '\0' ? spec : stored;
	first = given != NULL ? json_object_get(given, "clusterIP") : NULL;
	for (unsigned from = 0; from < 2; from++) {
		json_t *src = from == 0 ? given : stored;
		const char *cip = json_string_value(json_object_get(src, "clusterIP"));

		if (src == NULL || (from == 1 && (given == stored || cip == NULL ||
						  strcmp(cip, json_string_value(first) ?: "") != 0)))
			continue;
		if ((k = ip_family(cip)) != 0 && have[k] == NULL)
			have[k] = cip;
		json_array_foreach(json_object_get(src, "clusterIPs"), i, v)
			if ((k = ip_family(json_string_value(v))) != 0 && have[k] == NULL)
				have[k] = json_string_value(v);
	}
	/* the families wanted, in order */
	json_array_foreach(json_object_get(spec, "ipFamilies"), i, v) {
		k = strcmp(json_string_value(v) ?: "", "IPv6") == 0 ? 6 : 4;
		if (nb < 2 && (nb == 0 || fams[0] != k))
			fams[nb++] = k;
	}
	if (nb == 0) {
		fams[nb++] = have[6] != NULL && (have[4] == NULL || ip_family(json_string_value(first)) == 6) ? 6 : 4;
		/* dual stack when asked for, or when it has both already */
		if ((policy != NULL && strcmp(policy, "SingleStack") != 0) ||
		    (policy == NULL && have[4] != NULL && have[6] != NULL))
			fams[nb++] = fams[0] == 4 ? 6 : 4;
	}
	/* the address it has stays the first (clusterIP is immutable) */
	if ((k = ip_family(json_string_value(first))) != 0 && fams[0] != k) {
		if (nb == 2 && fams[1] == k)
			fams[1] = fams[0];
		fams[0] = k;
	}
	if (policy != NULL && strcmp(policy, "SingleStack") == 0)
		nb = 1;
	ips = json_array();
	for (k = 0; k < nb; k++) {
		unsigned f = fams[k];

		if (have[f] != NULL) {
			json_array_append_new(ips, json_string(have[f]));
		} else if (cidr[f]->family == f) {
			if (!free_address(cidr[f], used, key, buf, sizeof(buf))) {
				json_decref(ips);
				return -1;
			}
			json_array_append_new(ips, json_string(buf));
		}
	}
	if (json_array_size(ips) == 0) {
		/* no range of the families asked for: IPv4, as before dual stack */
		if (!free_address(cidr[4], used, key, buf, sizeof(buf))) {
			json_decref(ips);
			return -1;
		}
		json_array_append_new(ips, json_string(buf));
	}
	/* every address it holds is taken, given ones too, for the rest of this apply */
	json_array_foreach(ips, i, v)
		json_object_set_new(used, json_string_value(v), json_true());
	json_object_set(spec, "clusterIP", json_array_get(ips, 0));
	json_object_set_new(spec, "clusterIPs", ips);
	return 0;
}

/* nodePorts held by the stored Services other than skip_key: "port/proto" -> true. */
static json_t *
node_ports_used(json_t *objs, const char *skip_key)
{
	json_t *used = json_object(), *o, *p;
	const char *key;
	size_t i;

	json_object_foreach(objs, key, o) {
		if (strncmp(key, "Service/", 8) != 0 || strcmp(key, skip_key) == 0)
			continue;
		json_array_foreach(json_object_get(json_object_get(o, "spec"), "ports"), i, p) {
			char k[32];

			if (!json_is_integer(json_object_get(p, "nodePort")))
				continue;
			snprintf(k, sizeof(k), "%lld/%s", (long long)json_integer_value(json_object_get(p, "nodePort")),
				 json_string_value(json_object_get(p, "protocol")) ?: "TCP");
			json_object_set_new(used, k, json_true());
		}
		if (json_is_integer(json_object_get(json_object_get(o, "spec"), "healthCheckNodePort"))) {
			char k[32];

			snprintf(k, sizeof(k), "%lld/TCP", (long long)json_integer_value(
				json_object_get(json_object_get(o, "spec"), "healthCheckNodePort")));
			json_object_set_new(used, k, json_true());
		}
	}
	return used;
}

/*
 * A LoadBalancer Service with externalTrafficPolicy Local gets a
 * healthCheckNodePort (TCP), as from the API server: the one given, the
 * one it had, or a free one of node.nodeport_range.
 */
static json_t *
allocate_health_port(const struct psw_state *st, json_t *old, json_t *spec, json_t *used,
		     const char *key, size_t doc)
{
	unsigned lo = st->cfg.node.nodeport_min, hi = st->cfg.node.nodeport_max, j;
	json_t *hc = json_object_get(spec, "healthCheckNodePort");
	json_int_t v = json_integer_value(hc);
	char k[32];

	if (strcmp(json_string_value(json_object_get(spec, "type")) ?: "", "LoadBalancer") != 0 ||
	    strcmp(json_string_value(json_object_get(spec, "externalTrafficPolicy")) ?: "", "Local") != 0) {
		if (hc != NULL && v != 0)
			return psw_api_error(PSW_API_E_INVALID, "document %zu: %s: spec.healthCheckNodePort "
					     "is only for a LoadBalancer with externalTrafficPolicy Local "
					     "(nothing was changed)", doc, key);
		return NULL;
	}
	if (v == 0)
		v = json_integer_value(json_object_get(json_object_get(old, "spec"), "healthCheckNodePort"));
	if (v != 0) {
		snprintf(k, sizeof(k), "%lld/TCP", (long long)v);
		if (v < lo || v > hi)
			return psw_api_error(PSW_API_E_INVALID, "document %zu: %s: spec.healthCheckNodePort %lld "
					     "is outside node.nodeport_range %u-%u (nothing was changed)", doc,
					     key, (long long)v, lo, hi);
		if (json_object_get(used, k) != NULL)
			return psw_api_error(PSW_API_E_EXISTS, "document %zu: %s: spec.healthCheckNodePort "
					     "%lld is already allocated (nothing was changed)", doc, key,
					     (long long)v);
		json_object_set_new(spec, "healthCheckNodePort", json_integer(v));
		return NULL;
	}
	for (j = lo; j <= hi; j++) {
		snprintf(k, sizeof(k), "%u/TCP", j);
		if (json_object_get(used, k) == NULL)
			break;
	}
	if (j > hi)
		return psw_api_error(PSW_API_E_NO_RESOURCES, "document %zu: %s: no free healthCheckNodePort "
				     "in %u-%u (nothing was changed)", doc, key, lo, hi);
	json_object_set_new(spec, "healthCheckNodePort", json_integer((json_int_t)j));
	return NULL;
}

/*
 * NodePort and LoadBalancer Services: every port gets a nodePort from
 * node.nodeport_range, kept when the Service is applied again; one given in
 * the manifest must be in the range and free. Returns NULL or an error.
 */
static json_t *
allocate_node_ports(const struct psw_state *st, json_t *next, json_t *obj, const char *key,
		    size_t doc)
{
	json_t *spec = json_object_get(obj, "spec"), *old, *p, *used;
	const char *type = json_string_value(json_object_get(spec, "type")) ?: "";
	unsigned lo = st->cfg.node.nodeport_min, hi = st->cfg.node.nodeport_max;
	json_t *err = NULL;
	size_t i, j;

	if (strcmp(type, "NodePort") != 0 && strcmp(type, "LoadBalancer") != 0)
		return NULL;
	old = json_object_get(next, key);
	used = node_ports_used(next, key);
	json_array_foreach(json_object_get(spec, "ports"), i, p) {
		const char *proto = json_string_value(json_object_get(p, "protocol")) ?: "TCP";
		json_t *np = json_object_get(p, "nodePort"), *op;
		char k[32];

		if (np == NULL || json_integer_value(np) == 0) {
			/* the same port of the stored Service keeps its nodePort */
			json_array_foreach(json_object_get(json_object_get(old, "spec"), "ports"), j, op)
				if (json_equal(json_object_get(op, "port"), json_object_get(p, "port")) &&
				    json_equal(json_object_get(op, "protocol"), json_object_get(p, "protocol")) &&
				    json_is_integer(json_object_get(op, "nodePort")))
					np = json_object_get(op, "nodePort");
		}
		if (np != NULL && json_integer_value(np) != 0) {
			json_int_t v = json_integer_value(np);

			snprintf(k, sizeof(k), "%lld/%s", (long long)v, proto);
			if (v < lo || v > hi) {
				err = psw_api_error(PSW_API_E_INVALID, "document %zu: %s: spec.ports[%zu].nodePort "
						    "%lld is outside node.nodeport_range %u-%u (nothing was "
						    "changed)", doc, key, i, (long long)v, lo, hi);
				break;
			}
			if (json_object_get(used, k) != NULL) {
				err = psw_api_error(PSW_API_E_EXISTS, "document %zu: %s: spec.ports[%zu].nodePort "
						    "%lld is already allocated (nothing was changed)", doc, key,
						    i, (long long)v);
				break;
			}
			json_object_set_new(p, "nodePort", json_integer(v));
			json_object_set_new(used, k, json_true());
			continue;
		}
		for (j = lo; j <= hi; j++) {
			snprintf(k, sizeof(k), "%zu/%s", j, proto);
			if (json_object_get(used, k) == NULL)
				break;
		}
		if (j > hi) {
			err = psw_api_error(PSW_API_E_NO_RESOURCES, "document %zu: %s: no free nodePort in "
					    "%u-%u (nothing was changed)", doc, key, lo, hi);
			break;
		}
		json_object_set_new(p, "nodePort", json_integer((json_int_t)j));
		json_object_set_new(used, k, json_true());
	}
	if (err == NULL)
		err = allocate_health_port(st, old, spec, used, key, doc);
	json_decref(used);
	return err;
}

/* Put back what an apply or delete changed (a change's undo). */
static void
rollback(struct psw_state *st, struct psw_change *ch)
{
	const char *key;
	json_t *v;

	json_object_foreach(ch->undo_objects, key, v)
		store_set(&st->k8s, key, json_is_null(v) ? NULL : v);
}

/*
 * Store objs (validated) in place, the first old value of each key kept in
 * undo; Services get their ClusterIP and nodePorts. The API error, or NULL
 * (results filled); on an error the caller rolls back.
 */
static json_t *
store_objects(struct psw_state *st, json_t *objs, struct psw_change *ch, json_t *undo, json_t *results)
{
	json_t *o, *err = NULL, *used = NULL;
	size_t i;

	if (st->k8s.objects == NULL)
		st->k8s.objects = json_object();
	json_array_foreach(objs, i, o) {
		char key[512];
		json_t *old;
		const char *action;

		key_of(o, key, sizeof(key));
		if (strncmp(key, "Service/", 8) == 0) {
			/* (a Service with its clusterIP may still get the other family's) */
			if (used == NULL)
				used = cluster_ips(st->k8s.objects);
			if (allocate_cluster_ip(st, st->k8s.objects, used, o, key) < 0) {
				err = psw_api_error(PSW_API_E_NO_RESOURCES, "document %zu: no free address "
						    "in the service CIDR for %s (nothing was changed)", i + 1, key);
				break;
			}
			if ((err = allocate_node_ports(st, st->k8s.objects, o, key, i + 1)) != NULL)
				break;
		}
		old = json_object_get(st->k8s.objects, key);
		action = old == NULL ? "created" : json_equal(old, o) ? "unchanged" : "configured";
		if (json_object_get(undo, key) == NULL)
			json_object_set(undo, key, old != NULL ? old : json_null());
		psw_change_touch(ch, old, o);
		store_set(&st->k8s, key, o);
		json_array_append_new(results, json_pack("{s:s, s:s, s:s, s:s}",
			"kind", json_string_value(json_object_get(o, "kind")),
			"namespace", json_string_value(json_object_get(json_object_get(o, "metadata"),
									"namespace")) ?: "",
			"name", json_string_value(json_object_get(json_object_get(o, "metadata"), "name")),
			"action", action));
	}
	json_decref(used);
	return err;
}

json_t *
psw_k8s_apply(struct psw_state *st, json_t *args, struct psw_change *ch)
{
	json_t *objs, *err, *results;

	err = validated_objects(args, &objs, false);
	if (err != NULL) {
		json_decref(objs);
		return err;
	}
	results = json_array();
	ch->undo = rollback;
	ch->undo_objects = json_object();
	err = store_objects(st, objs, ch, ch->undo_objects, results);
	json_decref(objs);
	if (err != NULL) {
		rollback(st, ch);
		json_decref(results);
		return err;
	}
	return psw_api_ok(json_pack("{s:o}", "results", results));
}

/* The kinds a replace may name: those the store keeps. */
#define REPLACEABLE_KINDS "Namespace, Pod, Service, EndpointSlice, NetworkPolicy, MultiNetworkPolicy, Node"

static bool
replaceable_kind(const char *kind)
{
	static const char *const kinds[] = { "Namespace", "Pod", "Service", "EndpointSlice",
					     "NetworkPolicy", "MultiNetworkPolicy", "Node" };
	size_t i;

	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(kind, kinds[i]) == 0)
			return true;
	return false;
}

json_t *
psw_k8s_replace(struct psw_state *st, json_t *args, struct psw_change *ch)
{
	json_t *kinds = json_object_get(args, "kinds"), *objs, *err, *o, *k, *keep, *results, *gone;
	const char *key;
	size_t i;
	void *tmp;

	if (!json_is_array(kinds) || json_array_size(kinds) == 0)
		return psw_api_error(PSW_API_E_INVALID, "argument 'kinds' must be a non-empty list of "
				     "kinds (" REPLACEABLE_KINDS ")");
	json_array_foreach(kinds, i, k)
		if (!json_is_string(k) || !replaceable_kind(json_string_value(k)))
			return psw_api_error(PSW_API_E_INVALID, "kinds[%zu]: '%s' is not one of "
					     REPLACEABLE_KINDS, i,
					     json_is_string(k) ? json_string_value(k) : "(not a string)");
	err = validated_objects(args, &objs, false);
	if (err != NULL) {
		json_decref(objs);
		return err;
	}
	keep = json_object();
	json_array_foreach(objs, i, o) {
		const char *kind = json_string_value(json_object_get(o, "kind"));
		char okey[512];
		size_t j;
		json_t *kk;
		bool listed = false;

		json_array_foreach(kinds, j, kk)
			listed = listed || strcmp(json_string_value(kk), kind) == 0;
		if (!listed) {
			err = psw_api_error(PSW_API_E_INVALID, "document %zu: a %s in a replace of %s "
					    "(nothing was changed)", i + 1, kind,
					    json_string_value(json_array_get(kinds, 0)));
			json_decref(keep);
			json_decref(objs);       /* kind was in it */
			return err;
		}
		key_of(o, okey, sizeof(okey));
		json_object_set_new(keep, okey, json_true());
	}
	results = json_array();
	gone = json_array();
	ch->undo = rollback;
	ch->undo_objects = json_object();
	/* first what the new state no longer has (frees ClusterIPs and nodePorts for it) */
	json_object_foreach_safe(st->k8s.objects, tmp, key, o) {
		size_t j;
		json_t *kk;
		bool of_kind = false;

		json_array_foreach(kinds, j, kk) {
			size_t n = strlen(json_string_value(kk));

			of_kind = of_kind || (strncmp(key, json_string_value(kk), n) == 0 && key[n] == '/');
		}
		if (!of_kind || json_object_get(keep, key) != NULL)
			continue;
		json_object_set(ch->undo_objects, key, o);
		psw_change_touch(ch, o, NULL);
		json_array_append_new(gone, json_pack("{s:s, s:s}", "object", key, "action", "deleted"));
		store_set(&st->k8s, key, NULL);
	}
	err = store_objects(st, objs, ch, ch->undo_objects, results);
	json_decref(keep);
	json_decref(objs);
	if (err != NULL) {
		rollback(st, ch);
		json_decref(results);
		json_decref(gone);
		return err;
	}
	return psw_api_ok(json_pack("{s:o, s:o}", "results", results, "deleted", gone));
}

json_t *
psw_k8s_delete(struct psw_state *st, json_t *args, struct psw_change *ch)
{
	json_t *objs, *err, *o, *results;
	size_t i;

	err = validated_objects(args, &objs, true);
	if (err != NULL) {
		json_decref(objs);
		return err;
	}
	json_array_foreach(objs, i, o) {
		char key[512];

		key_of(o, key, sizeof(key));
		if (st->k8s.objects == NULL || json_object_get(st->k8s.objects, key) == NULL) {
			json_decref(objs);
			return psw_api_error(PSW_API_E_NOT_FOUND, "document %zu: %s not found (nothing "
					     "was deleted)", i + 1, key);
		}
	}
	results = json_array();
	ch->undo = rollback;
	ch->undo_objects = json_object();
	json_array_foreach(objs, i, o) {
		char key[512];
		json_t *old;

		key_of(o, key, sizeof(key));
		old = json_object_get(st->k8s.objects, key);
		if (old != NULL) {                       /* not when listed twice */
			json_object_set(ch->undo_objects, key, old);
			psw_change_touch(ch, old, NULL);
		}
		store_set(&st->k8s, key, NULL);
		json_array_append_new(results, json_pack("{s:s, s:s}", "object", key, "action", "deleted"));
	}
	json_decref(objs);
	return psw_api_ok(json_pack("{s:o}", "results", results));
}
