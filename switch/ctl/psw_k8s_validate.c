/*
 * Validation and defaulting of Kubernetes objects, following the upstream
 * API types and their defaults (core/v1 Namespace, Pod, Service, Node;
 * discovery/v1 EndpointSlice; networking/v1 NetworkPolicy). Only the fields
 * podswitch uses are checked in depth; others are kept as they are. Pure:
 * jansson only, no DPDK, so the unit tests need no EAL.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "psw_config.h"
#include "psw_k8s_validate.h"

#define ERR_MAX 512

struct vctx {
	char who[200];          /* "Service default/web" */
	char *err;
};

static int
fail(struct vctx *v, const char *path, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
fail(struct vctx *v, const char *path, const char *fmt, ...)
{
	char msg[ERR_MAX];
	va_list ap;

	if (v->err != NULL)
		return -1;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	v->err = malloc(ERR_MAX + sizeof(v->who) + 64);
	if (v->err != NULL)
		snprintf(v->err, ERR_MAX + sizeof(v->who) + 64, "%s: %s: %s", v->who, path, msg);
	return -1;
}

bool
psw_k8s_dns_label(const char *s, size_t max)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > max || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
		return false;
	for (i = 0; i < n; i++)
		if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-'))
			return false;
	return true;
}

bool
psw_k8s_dns_subdomain(const char *s)
{
	char buf[254], *save = NULL, *tok;

	if (strlen(s) == 0 || strlen(s) > 253)
		return false;
	snprintf(buf, sizeof(buf), "%s", s);
	if (buf[0] == '.' || buf[strlen(buf) - 1] == '.' || strstr(buf, "..") != NULL)
		return false;
	for (tok = strtok_r(buf, ".", &save); tok != NULL; tok = strtok_r(NULL, ".", &save))
		if (!psw_k8s_dns_label(tok, 63))
			return false;
	return true;
}

/* Label value or the name part of a label key: [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?, <= 63. */
static bool
label_name(const char *s, bool may_be_empty)
{
	size_t n = strlen(s), i;

	if (n == 0)
		return may_be_empty;
	if (n > 63 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
		return false;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return false;
	return true;
}

static bool
label_key(const char *k)
{
	const char *slash = strrchr(k, '/');
	char prefix[254];

	if (slash == NULL)
		return label_name(k, false);
	if ((size_t)(slash - k) >= sizeof(prefix))
		return false;
	memcpy(prefix, k, (size_t)(slash - k));
	prefix[slash - k] = '\0';
	return psw_k8s_dns_subdomain(prefix) && label_name(slash + 1, false);
}

static int
check_labels(struct vctx *v, json_t *labels, const char *path)
{
	const char *k;
	json_t *val;
	char p[256];

	if (labels == NULL || json_is_null(labels))
		return 0;
	if (!json_is_object(labels))
		return fail(v, path, "must be a map of strings");
	json_object_foreach(labels, k, val) {
		snprintf(p, sizeof(p), "%s[%s]", path, k);
		if (!label_key(k))
			return fail(v, p, "'%s' is not a valid label key", k);
		if (!json_is_string(val))
			return fail(v, p, "must be a string");
		if (!label_name(json_string_value(val), true))
			return fail(v, p, "'%s' is not a valid label value (63 characters of "
				    "[A-Za-z0-9-_.], alphanumeric at both ends)", json_string_value(val));
	}
	return 0;
}

/* A list of at most max entries, or absent (null counts as absent, as in the API). */
static int
check_list(struct vctx *v, json_t *list, const char *path, size_t max)
{
	if (list == NULL || json_is_null(list))
		return 0;
	if (!json_is_array(list))
		return fail(v, path, "must be a list");
	if (json_array_size(list) > max)
		return fail(v, path, "has %zu entries; podswitch accepts at most %zu",
			    json_array_size(list), max);
	return 0;
}

/* matchLabels / matchExpressions of a LabelSelector. */
static int
check_selector(struct vctx *v, json_t *sel, const char *path)
{
	static const char *const ops[] = { "In", "NotIn", "Exists", "DoesNotExist", NULL };
	json_t *exprs, *e;
	char p[256];
	size_t i;

	if (sel == NULL || json_is_null(sel))
		return 0;
	if (!json_is_object(sel))
		return fail(v, path, "must be a label selector object");
	snprintf(p, sizeof(p), "%s.matchLabels", path);
	if (check_labels(v, json_object_get(sel, "matchLabels"), p) < 0)
		return -1;
	exprs = json_object_get(sel, "matchExpressions");
	snprintf(p, sizeof(p), "%s.matchExpressions", path);
	if (check_list(v, exprs, p, PSW_K8S_MAX_EXPRESSIONS) < 0)
		return -1;
	json_array_foreach(exprs, i, e) {
		const char *op = json_string_value(json_object_get(e, "operator"));
		json_t *vals = json_object_get(e, "values");
		bool known = false;
		unsigned k;

		snprintf(p, sizeof(p), "%s.matchExpressions[%zu]", path, i);
		if (!json_is_string(json_object_get(e, "key")) ||
		    !label_key(json_string_value(json_object_get(e, "key"))))
			return fail(v, p, "key must be a valid label key");
		for (k = 0; op != NULL && ops[k] != NULL; k++)
			known |= strcmp(op, ops[k]) == 0;
		if (!known)
			return fail(v, p, "operator must be one of In, NotIn, Exists, DoesNotExist");
		if ((strcmp(op, "In") == 0 || strcmp(op, "NotIn") == 0) &&
		    (!json_is_array(vals) || json_array_size(vals) == 0))
			return fail(v, p, "operator %s needs a non-empty values list", op);
		snprintf(p, sizeof(p), "%s.matchExpressions[%zu].values", path, i);
		if (check_list(v, vals, p, PSW_K8S_MAX_VALUES) < 0)
			return -1;
		if ((strcmp(op, "Exists") == 0 || strcmp(op, "DoesNotExist") == 0) &&
		    json_array_size(vals) > 0)
			return fail(v, p, "operator %s takes no values", op);
	}
	return 0;
}

/* An integer field in [lo, hi]; absent is fine unless required. */
static int
check_int(struct vctx *v, json_t *obj, const char *key, const char *path, long lo, long hi,
	  bool required)
{
	json_t *x = json_object_get(obj, key);
	char p[256];

	snprintf(p, sizeof(p), "%s.%s", path, key);
	if (x == NULL || json_is_null(x))
		return required ? fail(v, p, "is required") : 0;
	if (!json_is_integer(x) || json_integer_value(x) < lo || json_integer_value(x) > hi)
		return fail(v, p, "must be an integer from %ld to %ld", lo, hi);
	return 0;
}

/* protocol: TCP (default), UDP or SCTP. */
static int
default_protocol(struct vctx *v, json_t *port, const char *path)
{
	json_t *p = json_object_get(port, "protocol");
	const char *s;
	char pp[256];

	if (p == NULL || json_is_null(p)) {
		json_object_set_new(port, "protocol", json_string("TCP"));
		return 0;
	}
	s = json_string_value(p);
	snprintf(pp, sizeof(pp), "%s.protocol", path);
	if (s == NULL || (strcmp(s, "TCP") && strcmp(s, "UDP") && strcmp(s, "SCTP")))
		return fail(v, pp, "must be TCP, UDP or SCTP");
	return 0;
}

/* IANA service name: <= 15 characters, lower-case alnum and '-', a letter, no "--". */
static bool
port_name(const char *s)
{
	bool letter = false;
	size_t n = strlen(s), i;

	if (n == 0 || n > 15 || s[0] == '-' || s[n - 1] == '-' || strstr(s, "--") != NULL)
		return false;
	for (i = 0; i < n; i++) {
		if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-'))
			return false;
		letter |= islower((unsigned char)s[i]) != 0;
	}
	return letter;
}

/* ----------------------------------------------------------------- kinds */

static int
validate_namespace(struct vctx *v, json_t *obj, json_t *meta, const char *name)
{
	json_t *labels = json_object_get(meta, "labels");
	json_t *audit = json_object_get(json_object_get(meta, "annotations"), "podswitch.io/policy-audit");
	const char *a = json_string_value(audit);

	if (!psw_k8s_dns_label(name, 63))
		return fail(v, "metadata.name", "must be a DNS label (63 lower-case alphanumerics or '-')");
	/* the policy audit log's opt-in (psw_audit.h): a typo must not look like "off" */
	if (audit != NULL && (a == NULL || (strcmp(a, "deny") != 0 && strcmp(a, "all") != 0 &&
					    strcmp(a, "off") != 0)))
		return fail(v, "metadata.annotations.podswitch.io/policy-audit",
			    "must be \"deny\" (denied connections), \"all\" (allowed new connections too) "
			    "or \"off\"");
	if (labels == NULL || json_is_null(labels)) {
		labels = json_object();
		json_object_set_new(meta, "labels", labels);
	}
	/* the API server sets this label on every namespace */
	json_object_set_new(labels, "kubernetes.io/metadata.name", json_string(name));
	json_object_del(meta, "namespace");
	return 0;
}

static int
validate_pod(struct vctx *v, json_t *obj, json_t *meta, const char *name)
{
	json_t *spec = json_object_get(obj, "spec"), *containers, *c, *ports, *p;
	size_t i, j;
	char path[256];

	if (!psw_k8s_dns_subdomain(name))
		return fail(v, "metadata.name", "must be a DNS subdomain");
	if (spec != NULL && !json_is_object(spec))
		return fail(v, "spec", "must be an object");
	containers = json_object_get(spec, "containers");
	if (containers != NULL && !json_is_array(containers))
		return fail(v, "spec.containers", "must be a list");
	json_array_foreach(containers, i, c) {
		snprintf(path, sizeof(path), "spec.containers[%zu]", i);
		if (!json_is_object(c))
			return fail(v, path, "must be an object");
		ports = json_object_get(c, "ports");
		if (ports != NULL && !json_is_array(ports))
			return fail(v, path, "ports must be a list");
		json_array_foreach(ports, j, p) {
			json_t *pn;

			snprintf(path, sizeof(path), "spec.containers[%zu].ports[%zu]", i, j);
			if (!json_is_object(p))
				return fail(v, path, "must be an object");
			if (check_int(v, p, "containerPort", path, 1, 65535, true) < 0 ||
			    default_protocol(v, p, path) < 0)
				return -1;
			pn = json_object_get(p, "name");
			if (pn != NULL && (!json_is_string(pn) || !port_name(json_string_value(pn)))) {
				strcat(path, ".name");
				return fail(v, path, "must be an IANA service name (15 lower-case "
					    "alphanumerics or '-', with a letter)");
			}
		}
	}
	return 0;
}

int
psw_k8s_parse_cidr(const char *s, struct psw_prefix *p)
{
	char addr[64], *end;
	const char *slash = s != NULL ? strchr(s, '/') : NULL;
	unsigned long len;
	unsigned i;

	if (slash == NULL || (size_t)(slash - s) >= sizeof(addr) || slash[1] < '0' || slash[1] > '9')
		return -1;
	snprintf(addr, sizeof(addr), "%.*s", (int)(slash - s), s);
	memset(p, 0, sizeof(*p));
	len = strtoul(slash + 1, &end, 10);
	if (*end != '\0' || psw_parse_ip(addr, &p->family, p->addr) < 0 || len > (p->family == 4 ? 32u : 128u))
		return -1;
	p->len = (uint8_t)len;
	for (i = 0; i < 16; i++)                 /* host bits, as the API server takes them, cleared */
		if (i * 8 >= len)
			p->addr[i] = 0;
		else if (i * 8 + 8 > len)
			p->addr[i] &= (uint8_t)(0xff << (8 - (len - i * 8)));
	return 0;
}

static int
validate_service(struct vctx *v, json_t *obj, json_t *meta, const char *name)
{
	json_t *spec = json_object_get(obj, "spec"), *ports, *p, *x;
	const char *type, *aff;
	size_t i;
	char path[256];

	if (!psw_k8s_dns_label(name, 63))
		return fail(v, "metadata.name", "must be a DNS label");
	if (spec == NULL) {
		spec = json_object();
		json_object_set_new(obj, "spec", spec);
	}
	if (!json_is_object(spec))
		return fail(v, "spec", "must be an object");
	x = json_object_get(spec, "type");
	if (x == NULL)
		json_object_set_new(spec, "type", json_string("ClusterIP"));
	type = json_string_value(json_object_get(spec, "type"));
	if (type == NULL || (strcmp(type, "ClusterIP") && strcmp(type, "NodePort") &&
			     strcmp(type, "LoadBalancer") && strcmp(type, "ExternalName")))
		return fail(v, "spec.type", "must be ClusterIP, NodePort, LoadBalancer or ExternalName");
	if (check_labels(v, json_object_get(spec, "selector"), "spec.selector") < 0)
		return -1;
	x = json_object_get(spec, "clusterIP");
	if (x != NULL && !json_is_null(x)) {
		uint8_t fam, a[16];
		const char *ip = json_string_value(x);

		if (ip == NULL || (strcmp(ip, "None") != 0 && strcmp(ip, "") != 0 &&
				   psw_parse_ip(ip, &fam, a) < 0))
			return fail(v, "spec.clusterIP", "must be an IP address, \"None\" or empty");
	}
	ports = json_object_get(spec, "ports");
	if (ports != NULL && !json_is_array(ports))
		return fail(v, "spec.ports", "must be a list");
	if (strcmp(type, "ExternalName") != 0 && json_array_size(ports) == 0 &&
	    !(json_is_string(x) && strcmp(json_string_value(x), "None") == 0))
		return fail(v, "spec.ports", "at least one port is required");
	json_array_foreach(ports, i, p) {
		json_t *tp, *pn;

		snprintf(path, sizeof(path), "spec.ports[%zu]", i);
		if (!json_is_object(p))
			return fail(v, path, "must be an object");
		if (check_int(v, p, "port", path, 1, 65535, true) < 0 ||
		    check_int(v, p, "nodePort", path, 1, 65535, false) < 0 ||
		    default_protocol(v, p, path) < 0)
			return -1;
		pn = json_object_get(p, "name");
		if (json_array_size(ports) > 1 && !json_is_string(pn)) {
			strcat(path, ".name");
			return fail(v, path, "is required when a Service has more than one port");
		}
		if (pn != NULL && (!json_is_string(pn) || !psw_k8s_dns_label(json_string_value(pn), 63))) {
			strcat(path, ".name");
			return fail(v, path, "must be a DNS label");
		}
		tp = json_object_get(p, "targetPort");
		if (tp == NULL || json_is_null(tp) || (json_is_integer(tp) && json_integer_value(tp) == 0)) {
			/* defaulting: targetPort = port */
			json_object_set(p, "targetPort", json_object_get(p, "port"));
		} else if (json_is_integer(tp)) {
			if (check_int(v, p, "targetPort", path, 1, 65535, true) < 0)
				return -1;
		} else if (!json_is_string(tp) || !port_name(json_string_value(tp))) {
			strcat(path, ".targetPort");
			return fail(v, path, "must be a port number or a container port name");
		}
	}
	x = json_object_get(spec, "sessionAffinity");
	if (x == NULL)
		json_object_set_new(spec, "sessionAffinity", json_string("None"));
	aff = json_string_value(json_object_get(spec, "sessionAffinity"));
	if (aff == NULL || (strcmp(aff, "None") && strcmp(aff, "ClientIP")))
		return fail(v, "spec.sessionAffinity", "must be None or ClientIP");
	if (strcmp(aff, "ClientIP") == 0) {
		json_t *cfg = json_object_get(spec, "sessionAffinityConfig"), *cip;

		if (cfg == NULL) {
			cfg = json_object();
			json_object_set_new(spec, "sessionAffinityConfig", cfg);
		}
		cip = json_object_get(cfg, "clientIP");
		if (cip == NULL) {
			cip = json_object();
			json_object_set_new(cfg, "clientIP", cip);
		}
		if (json_object_get(cip, "timeoutSeconds") == NULL)
			json_object_set_new(cip, "timeoutSeconds", json_integer(10800));
		if (check_int(v, cip, "timeoutSeconds", "spec.sessionAffinityConfig.clientIP", 1, 86400,
			      true) < 0)
			return -1;
	}
	if (strcmp(type, "NodePort") == 0 || strcmp(type, "LoadBalancer") == 0) {
		if (json_object_get(spec, "externalTrafficPolicy") == NULL)
			json_object_set_new(spec, "externalTrafficPolicy", json_string("Cluster"));
	}
	if (check_int(v, spec, "healthCheckNodePort", "spec", 0, 65535, false) < 0)
		return -1;
	x = json_object_get(spec, "loadBalancerSourceRanges");
	if (x != NULL && !json_is_array(x))
		return fail(v, "spec.loadBalancerSourceRanges", "must be a list of CIDRs");
	if (json_array_size(x) > PSW_K8S_MAX_SOURCE_RANGES)
		return fail(v, "spec.loadBalancerSourceRanges", "holds more than 64 CIDRs (the most "
			    "podswitch enforces); merge them into fewer, wider ones");
	json_array_foreach(x, i, p) {
		struct psw_prefix pr;

		snprintf(path, sizeof(path), "spec.loadBalancerSourceRanges[%zu]", i);
		if (psw_k8s_parse_cidr(json_string_value(p), &pr) < 0)
			return fail(v, path, "must be a CIDR, e.g. 203.0.113.0/24");
	}
	if (json_object_get(spec, "internalTrafficPolicy") == NULL && strcmp(type, "ExternalName"))
		json_object_set_new(spec, "internalTrafficPolicy", json_string("Cluster"));
	for (i = 0; i < 2; i++) {
		const char *key = i ? "internalTrafficPolicy" : "externalTrafficPolicy";
		const char *val = json_string_value(json_object_get(spec, key));

		snprintf(path, sizeof(path), "spec.%s", key);
		if (json_object_get(spec, key) != NULL &&
		    (val == NULL || (strcmp(val, "Cluster") && strcmp(val, "Local"))))
			return fail(v, path, "must be Cluster or Local");
	}
	return 0;
}

static int
validate_endpointslice(struct vctx *v, json_t *obj, json_t *meta, const char *name)
{
	const char *at = json_string_value(json_object_get(obj, "addressType"));
	json_t *eps = json_object_get(obj, "endpoints"), *ports = json_object_get(obj, "ports");
	json_t *e, *p;
	size_t i, j;
	char path[256];

	if (!psw_k8s_dns_subdomain(name))
		return fail(v, "metadata.name", "must be a DNS subdomain");
	if (at == NULL || (strcmp(at, "IPv4") && strcmp(at, "IPv6") && strcmp(at, "FQDN")))
		return fail(v, "addressType", "is required: IPv4, IPv6 or FQDN");
	if (eps != NULL && !json_is_array(eps))
		return fail(v, "endpoints", "must be a list");
	json_array_foreach(eps, i, e) {
		json_t *addrs = json_object_get(e, "addresses"), *a, *cond;

		snprintf(path, sizeof(path), "endpoints[%zu].addresses", i);
		if (!json_is_array(addrs) || json_array_size(addrs) == 0 || json_array_size(addrs) > 100)
			return fail(v, path, "must hold 1 to 100 addresses");
		json_array_foreach(addrs, j, a) {
			uint8_t fam, buf[16];

			if (strcmp(at, "FQDN") == 0)
				continue;
			if (!json_is_string(a) || psw_parse_ip(json_string_value(a), &fam, buf) < 0 ||
			    fam != (strcmp(at, "IPv4") == 0 ? 4 : 6)) {
				snprintf(path, sizeof(path), "endpoints[%zu].addresses[%zu]", i, j);
				return fail(v, path, "must be an %s address", at);
			}
		}
		cond = json_object_get(e, "conditions");
		if (cond != NULL && !json_is_object(cond)) {
			snprintf(path, sizeof(path), "endpoints[%zu].conditions", i);
			return fail(v, path, "must be an object");
		}
	}
	if (ports != NULL && !json_is_array(ports))
		return fail(v, "ports", "must be a list");
	json_array_foreach(ports, i, p) {
		snprintf(path, sizeof(path), "ports[%zu]", i);
		if (check_int(v, p, "port", path, 1, 65535, false) < 0 ||
		    default_protocol(v, p, path) < 0)
			return -1;
	}
	return 0;
}

static int
check_peers(struct vctx *v, json_t *peers, const char *path)
{
	json_t *peer;
	size_t i;
	char p[256];

	if (check_list(v, peers, path, PSW_K8S_MAX_PEERS) < 0)
		return -1;
	json_array_foreach(peers, i, peer) {
		json_t *ipb = json_object_get(peer, "ipBlock");

		snprintf(p, sizeof(p), "%s[%zu]", path, i);
		if (!json_is_object(peer))
			return fail(v, p, "must be an object");
		if (ipb == NULL && json_object_get(peer, "podSelector") == NULL &&
		    json_object_get(peer, "namespaceSelector") == NULL)
			return fail(v, p, "must specify a peer (podSelector, namespaceSelector or ipBlock)");
		if (ipb != NULL) {
			struct psw_prefix cidr, ex;
			json_t *excepts = json_object_get(ipb, "except"), *e;
			size_t k;

			if (json_object_get(peer, "podSelector") || json_object_get(peer, "namespaceSelector"))
				return fail(v, p, "ipBlock cannot be combined with a selector in one peer");
			if (!json_is_string(json_object_get(ipb, "cidr")) ||
			    psw_parse_prefix(json_string_value(json_object_get(ipb, "cidr")), &cidr) < 0) {
				strcat(p, ".ipBlock.cidr");
				return fail(v, p, "must be a CIDR");
			}
			snprintf(p, sizeof(p), "%s[%zu].ipBlock.except", path, i);
			if (check_list(v, excepts, p, PSW_K8S_MAX_EXCEPTS) < 0)
				return -1;
			json_array_foreach(excepts, k, e) {
				if (!json_is_string(e) || psw_parse_prefix(json_string_value(e), &ex) < 0 ||
				    ex.family != cidr.family || ex.len < cidr.len ||
				    !psw_prefix_contains(&cidr, ex.addr)) {
					snprintf(p, sizeof(p), "%s[%zu].ipBlock.except[%zu]", path, i, k);
					return fail(v, p, "must be a CIDR inside ipBlock.cidr");
				}
			}
		}
		strcat(p, ".podSelector");
		if (check_selector(v, json_object_get(peer, "podSelector"), p) < 0)
			return -1;
		snprintf(p, sizeof(p), "%s[%zu].namespaceSelector", path, i);
		if (check_selector(v, json_object_get(peer, "namespaceSelector"), p) < 0)
			return -1;
	}
	return 0;
}

static int
check_rules(struct vctx *v, json_t *rules, const char *dir, const char *peer_key)
{
	json_t *r, *ports, *p;
	size_t i, j;
	char path[256];

	snprintf(path, sizeof(path), "spec.%s", dir);
	if (check_list(v, rules, path, PSW_K8S_MAX_POLICY_RULES) < 0)
		return -1;
	json_array_foreach(rules, i, r) {
		snprintf(path, sizeof(path), "spec.%s[%zu].%s", dir, i, peer_key);
		if (check_peers(v, json_object_get(r, peer_key), path) < 0)
			return -1;
		ports = json_object_get(r, "ports");
		snprintf(path, sizeof(path), "spec.%s[%zu].ports", dir, i);
		if (check_list(v, ports, path, PSW_K8S_MAX_RULE_PORTS) < 0)
			return -1;
		json_array_foreach(ports, j, p) {
			json_t *port = json_object_get(p, "port");

			snprintf(path, sizeof(path), "spec.%s[%zu].ports[%zu]", dir, i, j);
			if (default_protocol(v, p, path) < 0)
				return -1;
			if (port != NULL && !json_is_integer(port) &&
			    !(json_is_string(port) && port_name(json_string_value(port)))) {
				strcat(path, ".port");
				return fail(v, path, "must be a port number or a named port");
			}
			if (json_is_integer(port) && check_int(v, p, "port", path, 1, 65535, true) < 0)
				return -1;
			if (json_object_get(p, "endPort") != NULL) {
				if (!json_is_integer(port))
					return fail(v, path, "endPort needs a numeric port");
				if (check_int(v, p, "endPort", path, json_integer_value(port), 65535, true) < 0)
					return -1;
			}
		}
	}
	return 0;
}

static int
validate_networkpolicy(struct vctx *v, json_t *obj, json_t *meta, const char *name)
{
	json_t *spec = json_object_get(obj, "spec"), *types, *t;
	size_t i;

	if (!psw_k8s_dns_subdomain(name))
		return fail(v, "metadata.name", "must be a DNS subdomain");
	if (!json_is_object(spec))
		return fail(v, "spec", "is required");
	if (!json_is_object(json_object_get(spec, "podSelector")))
		return fail(v, "spec.podSelector", "is required ({} selects every pod)");
	if (check_selector(v, json_object_get(spec, "podSelector"), "spec.podSelector") < 0 ||
	    check_rules(v, json_object_get(spec, "ingress"), "ingress", "from") < 0 ||
	    check_rules(v, json_object_get(spec, "egress"), "egress", "to") < 0)
		return -1;
	types = json_object_get(spec, "policyTypes");
	if (types == NULL || json_is_null(types)) {
		/* defaulting: Ingress always; Egress when there are egress rules */
		types = json_array();
		json_array_append_new(types, json_string("Ingress"));
		if (json_array_size(json_object_get(spec, "egress")) > 0)
			json_array_append_new(types, json_string("Egress"));
		json_object_set_new(spec, "policyTypes", types);
	}
	if (!json_is_array(types))
		return fail(v, "spec.policyTypes", "must be a list");
	if (json_array_size(types) > 2)
		return fail(v, "spec.policyTypes", "at most two entries (Ingress, Egress)");
	json_array_foreach(types, i, t) {
		const char *s = json_string_value(t);

		if (s == NULL || (strcmp(s, "Ingress") && strcmp(s, "Egress")))
			return fail(v, "spec.policyTypes", "entries must be Ingress or Egress");
		if (i == 1 && strcmp(s, json_string_value(json_array_get(types, 0)) ?: "") == 0)
			return fail(v, "spec.policyTypes", "'%s' is listed twice", s);
	}
	return 0;
}

/*
 * k8s.cni.cncf.io/v1beta1 MultiNetworkPolicy: a NetworkPolicy's spec, for
 * the networks its k8s.v1.cni.cncf.io/policy-for annotation names (a
 * comma-separated list of NetworkAttachmentDefinitions, "name" or
 * "namespace/name"); without it the policy applies to no network.
 */
static int
validate_multinetworkpolicy(struct vctx *v, json_t *obj, json_t *meta, const char *name)
{
	json_t *ann = json_object_get(json_object_get(meta, "annotations"), PSW_K8S_POLICY_FOR);
	char buf[1024], *e, *next;

	if (validate_networkpolicy(v, obj, meta, name) < 0)
		return -1;
	if (ann == NULL)
		return 0;
	if (!json_is_string(ann))
		return fail(v, "metadata.annotations[" PSW_K8S_POLICY_FOR "]", "must be a list of "
			    "NetworkAttachmentDefinitions (\"name\" or \"namespace/name\", comma-separated)");
	/* a list that long is no mistake of syntax: say what the limit is */
	if (strlen(json_string_value(ann)) >= sizeof(buf))
		return fail(v, "metadata.annotations[" PSW_K8S_POLICY_FOR "]", "longer than %zu characters",
			    sizeof(buf) - 1);
	snprintf(buf, sizeof(buf), "%s", json_string_value(ann));
	for (e = buf; e != NULL; e = next) {
		char *slash, *end;

		next = strchr(e, ',');
		if (next != NULL)
			*next++ = '\0';
		while (*e == ' ')
			e++;
		for (end = e + strlen(e); end > e && end[-1] == ' '; end--)
			end[-1] = '\0';
		slash = strchr(e, '/');
		if (slash != NULL)
			*slash++ = '\0';
		if ((slash != NULL && (!psw_k8s_dns_label(e, 63) || !psw_k8s_dns_subdomain(slash))) ||
		    (slash == NULL && !psw_k8s_dns_subdomain(e)))
			return fail(v, "metadata.annotations[" PSW_K8S_POLICY_FOR "]", "'%.64s%s%.64s' is not a "
				    "NetworkAttachmentDefinition (\"name\" or \"namespace/name\")", e,
				    slash != NULL ? "/" : "", slash != NULL ? slash : "");
	}
	return 0;
}

/* A CIDR with its host bits zero; the parsed prefix in out. */
static int
check_cidr(struct vctx *v, json_t *x, const char *path, struct psw_prefix *out)
{
	if (!json_is_string(x) || psw_parse_prefix(json_string_value(x), out) < 0)
		return fail(v, path, "'%s' is not a CIDR with its host bits zero (e.g. 10.244.1.0/24)",
			    json_is_string(x) ? json_string_value(x) : "(not a string)");
	return 0;
}

/*
 * spec.podCIDR and spec.podCIDRs: at most two, one per family. The API
 * server defaults podCIDRs to [podCIDR] (and podCIDR to podCIDRs[0]); a
 * podCIDR that is not podCIDRs[0] is refused here rather than dropped.
 */
static int
check_pod_cidrs(struct vctx *v, json_t *spec)
{
	json_t *one = json_object_get(spec, "podCIDR"), *list = json_object_get(spec, "podCIDRs"), *c;
	struct psw_prefix p[2];
	char path[64];
	size_t i;

	if (json_is_string(one) && json_string_length(one) == 0)
		one = NULL;                      /* "" is the API's unset */
	if (one != NULL && !json_is_null(one) && check_cidr(v, one, "spec.podCIDR", &p[0]) < 0)
		return -1;
	if (list == NULL || json_is_null(list) || (json_is_array(list) && json_array_size(list) == 0)) {
		json_object_del(spec, "podCIDRs");
		if (one == NULL || json_is_null(one)) {
			json_object_del(spec, "podCIDR");
			return 0;
		}
		json_object_set_new(spec, "podCIDRs", json_pack("[O]", one));   /* defaulting */
		return 0;
	}
	if (!json_is_array(list))
		return fail(v, "spec.podCIDRs", "must be a list of CIDRs");
	if (json_array_size(list) > 2)
		return fail(v, "spec.podCIDRs", "has %zu entries; at most two, one per IP family",
			    json_array_size(list));
	json_array_foreach(list, i, c) {
		snprintf(path, sizeof(path), "spec.podCIDRs[%zu]", i);
		if (check_cidr(v, c, path, &p[i]) < 0)
			return -1;
	}
	if (json_array_size(list) == 2 && p[0].family == p[1].family)
		return fail(v, "spec.podCIDRs", "both entries are IPv%u: at most one CIDR per IP family",
			    p[0].family);
	if (one != NULL && !json_is_null(one) &&
	    strcmp(json_string_value(one), json_string_value(json_array_get(list, 0))) != 0)
		return fail(v, "spec.podCIDR", "'%s' must be podCIDRs[0] ('%s') when both are given",
			    json_string_value(one), json_string_value(json_array_get(list, 0)));
	json_object_set(spec, "podCIDR", json_array_get(list, 0));     /* defaulting */
	return 0;
}

/* status.addresses: [{type, address}], addresses of the IP types valid IPs. */
static int
check_node_addresses(struct vctx *v, json_t *addrs)
{
	static const char *const types[] = { "InternalIP", "ExternalIP", "Hostname", "InternalDNS",
					     "ExternalDNS", NULL };
	json_t *a;
	char path[64];
	size_t i;

	if (addrs == NULL || json_is_null(addrs))
		return 0;
	if (!json_is_array(addrs))
		return fail(v, "status.addresses", "must be a list of {type, address}");
	if (json_array_size(addrs) > PSW_K8S_MAX_NODE_ADDRESSES)
		return fail(v, "status.addresses", "has %zu entries; podswitch accepts at most %d",
			    json_array_size(addrs), PSW_K8S_MAX_NODE_ADDRESSES);
	json_array_foreach(addrs, i, a) {
		const char *type = json_string_value(json_object_get(a, "type"));
		const char *addr = json_string_value(json_object_get(a, "address"));
		unsigned k;
		uint8_t fam, buf[16];

		snprintf(path, sizeof(path), "status.addresses[%zu]", i);
		if (!json_is_object(a))
			return fail(v, path, "must be an object {type, address}");
		for (k = 0; type != NULL && types[k] != NULL && strcmp(type, types[k]) != 0; k++)
			;
		strcat(path, ".type");
		if (type == NULL || types[k] == NULL)
			return fail(v, path, "must be one of InternalIP, ExternalIP, Hostname, InternalDNS, "
				    "ExternalDNS");
		snprintf(path, sizeof(path), "status.addresses[%zu].address", i);
		if (addr == NULL || addr[0] == '\0')
			return fail(v, path, "is required (a string)");
		if ((strcmp(type, "InternalIP") == 0 || strcmp(type, "ExternalIP") == 0) &&
		    psw_parse_ip(addr, &fam, buf) < 0)
			return fail(v, path, "'%s' is not an IPv4 or IPv6 address (type %s)", addr, type);
	}
	return 0;
}

/*
 * A Node keeps only what the switch reads: metadata.name and labels,
 * spec.podCIDR(s), status.addresses (a Node of `kubectl get -o yaml` is
 * mostly images and conditions that change with every heartbeat).
 */
static int
validate_node(struct vctx *v, json_t *obj, json_t *meta, const char *name)
{
	static const char *const top[] = { "apiVersion", "kind", "metadata", "spec", "status" };
	json_t *spec = json_object_get(obj, "spec"), *status = json_object_get(obj, "status");
	json_t *kept, *x;
	const char *k;
	void *tmp;

	if (!psw_k8s_dns_subdomain(name))
		return fail(v, "metadata.name", "must be a DNS subdomain (253 lower-case alphanumerics, "
			    "'-' or '.')");
	if (spec != NULL && !json_is_null(spec) && !json_is_object(spec))
		return fail(v, "spec", "must be an object");
	if (status != NULL && !json_is_null(status) && !json_is_object(status))
		return fail(v, "status", "must be an object");
	if (json_is_object(spec) && check_pod_cidrs(v, spec) < 0)
		return -1;
	if (check_node_addresses(v, json_object_get(status, "addresses")) < 0)
		return -1;
	/* trim: metadata.name and labels, spec.podCIDR(s), status.addresses */
	json_object_foreach_safe(obj, tmp, k, x) {
		unsigned i;

		for (i = 0; i < sizeof(top) / sizeof(top[0]) && strcmp(k, top[i]) != 0; i++)
			;
		if (i == sizeof(top) / sizeof(top[0]))
			json_object_del(obj, k);
	}
	json_object_foreach_safe(meta, tmp, k, x)
		if (strcmp(k, "name") != 0 && strcmp(k, "labels") != 0)
			json_object_del(meta, k);
	kept = json_object();
	if (json_is_object(spec)) {
		if ((x = json_object_get(spec, "podCIDR")) != NULL)
			json_object_set(kept, "podCIDR", x);
		if ((x = json_object_get(spec, "podCIDRs")) != NULL)
			json_object_set(kept, "podCIDRs", x);
	}
	json_object_set_new(obj, "spec", kept);
	kept = json_object();
	if (json_is_array(x = json_object_get(status, "addresses")) && json_array_size(x) > 0) {
		json_t *list = json_array(), *a;
		size_t i;

		json_array_foreach(x, i, a)
			json_array_append_new(list, json_pack("{s:O, s:O}", "type", json_object_get(a, "type"),
							      "address", json_object_get(a, "address")));
		json_object_set_new(kept, "addresses", list);
	}
	json_object_set_new(obj, "status", kept);
	return 0;
}

struct kind {
	const char *api_version;
	const char *kind;
	bool namespaced;
	int (*validate)(struct vctx *v, json_t *obj, json_t *meta, const char *name);
};

static const struct kind kinds[] = {
	{ "v1", "Namespace", false, validate_namespace },
	{ "v1", "Pod", true, validate_pod },
	{ "v1", "Service", true, validate_service },
	{ "discovery.k8s.io/v1", "EndpointSlice", true, validate_endpointslice },
	{ "networking.k8s.io/v1", "NetworkPolicy", true, validate_networkpolicy },
	{ "k8s.cni.cncf.io/v1beta1", "MultiNetworkPolicy", true, validate_multinetworkpolicy },
	{ "v1", "Node", false, validate_node },
};

char *
psw_k8s_validate(json_t *obj)
{
	struct vctx v = { .err = NULL };
	const char *api, *kind, *name, *ns;
	json_t *meta;
	unsigned i;

	snprintf(v.who, sizeof(v.who), "object");
	if (!json_is_object(obj)) {
		fail(&v, "(document)", "must be a mapping with apiVersion, kind and metadata");
		return v.err;
	}
	api = json_string_value(json_object_get(obj, "apiVersion"));
	kind = json_string_value(json_object_get(obj, "kind"));
	if (kind == NULL) {
		fail(&v, "kind", "is required");
		return v.err;
	}
	snprintf(v.who, sizeof(v.who), "%s", kind);
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(kinds[i].kind, kind) == 0)
			break;
	if (i == sizeof(kinds) / sizeof(kinds[0])) {
		fail(&v, "kind", "'%s' is not supported (Namespace, Pod, Service, EndpointSlice, "
		     "NetworkPolicy, MultiNetworkPolicy, Node)", kind);
		return v.err;
	}
	if (api == NULL || strcmp(api, kinds[i].api_version) != 0) {
		fail(&v, "apiVersion", "must be %s", kinds[i].api_version);
		return v.err;
	}
	meta = json_object_get(obj, "metadata");
	name = json_string_value(json_object_get(meta, "name"));
	if (!json_is_object(meta) || name == NULL || name[0] == '\0') {
		fail(&v, "metadata.name", "is required");
		return v.err;
	}
	if (kinds[i].namespaced) {
		ns = json_string_value(json_object_get(meta, "namespace"));
		if (json_object_get(meta, "namespace") != NULL && ns == NULL) {
			fail(&v, "metadata.namespace", "must be a string");
			return v.err;
		}
		if (ns == NULL || ns[0] == '\0')
			json_object_set_new(meta, "namespace", json_string("default"));
		ns = json_string_value(json_object_get(meta, "namespace"));
		snprintf(v.who, sizeof(v.who), "%s %.63s/%.100s", kind, ns, name);
		if (!psw_k8s_dns_label(ns, 63)) {
			fail(&v, "metadata.namespace", "must be a DNS label");
			return v.err;
		}
	} else {
		snprintf(v.who, sizeof(v.who), "%s %.100s", kind, name);
	}
	if (check_labels(&v, json_object_get(meta, "labels"), "metadata.labels") < 0)
		return v.err;
	kinds[i].validate(&v, obj, meta, name);
	return v.err;
}

json_t *
psw_k8s_flatten(json_t *objects)
{
	json_t *out = json_array(), *o;
	size_t i;

	json_array_foreach(objects, i, o) {
		const char *kind = json_string_value(json_object_get(o, "kind"));

		if (kind != NULL && strcmp(kind, "List") == 0 &&
		    json_is_array(json_object_get(o, "items"))) {
			json_t *inner = psw_k8s_flatten(json_object_get(o, "items"));

			json_array_extend(out, inner);
			json_decref(inner);
		} else {
			json_array_append(out, o);
		}
	}
	return out;
}
