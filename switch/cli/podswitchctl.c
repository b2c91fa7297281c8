/*
 * podswitchctl: the command-line client of the podswitch API.
 *
 *   podswitchctl [-s SOCKET] VERB ...
 *     apply -f FILE|-       Kubernetes objects (YAML or JSON, several documents, kind: List)
 *     delete -f FILE|-
 *     get KIND [NAME] [-n NAMESPACE | -A] [-o json]
 *     stats [-o json]
 *     capture PORT [-f EXPR | EXPR...] [-c N] [-s SNAPLEN] [-Q rx|tx|both] [-G S] -w FILE|-
 *     status [-o json]
 *     trace [--filter EXPR] [-c N] [--port NAME] [--timeout S] [--json]   (psw_trace_cli.c)
 *     version
 *
 * The socket defaults to $PODSWITCH_SOCKET, else /run/podswitch/podswitch.sock.
 * Exit status 0 on success; 1 with a one-line reason on stderr otherwise
 * (2 for a usage error). Links no DPDK.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "psw_api.h"
#include "psw_build.h"
#include "psw_capture_cli.h"
#include "psw_manifest.h"
#include "psw_trace_cli.h"

#define EXIT_USAGE 2

static const char *socket_path;

static void
usage(FILE *out)
{
	fprintf(out,
		"usage: podswitchctl [-s SOCKET] VERB ...\n"
		"  apply -f FILE|-                  create or replace Kubernetes objects (YAML/JSON)\n"
		"  delete -f FILE|-                 delete the objects a manifest names\n"
		"  get KIND [NAME] [-n NS|-A] [-o json]\n"
		"                                   KIND: pods, namespaces, services, endpointslices,\n"
		"                                   networkpolicies, nodes, ports, attachments\n"
		"  explain FROM TO [PROTO/]PORT [-n NS] [-o json]\n"
		"                                   would NetworkPolicy allow a new connection, and why;\n"
		"                                   FROM, TO: [NAMESPACE/]POD or an address, TO may be\n"
		"                                   service/[NAMESPACE/]NAME\n"
		"  stats [-o json]                  counters per port, worker and drop reason\n"
		"  capture PORT [-f EXPR | EXPR...] [-c N] [-s SNAPLEN] [-Q rx|tx|both] [-G SECONDS] -w FILE|-\n"
		"                                   a port's packets as pcapng (- : standard output),\n"
		"                                   EXPR a tcpdump filter\n"
		"  status [-o json]                 is the switch ready; what it holds\n"
		"  trace [--filter EXPR] [-c N] [--port NAME] [--timeout S] [--json]\n"
		"                                   what each stage did with the next N (1-64) packets\n"
		"                                   matching EXPR (tcpdump syntax) received on any port\n"
		"                                   or NAME; waits S seconds (default 10) at most\n"
		"  version                          client and daemon versions\n"
		"The socket is SOCKET, else $PODSWITCH_SOCKET, else %s.\n", PSW_API_DEFAULT_SOCKET);
}

static int
die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
die(const char *fmt, ...)
{
	va_list ap;

	fputs("podswitchctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

/* Call op; on success return the result (owned by *resp), else print and return NULL. */
static json_t *
call(const char *op, json_t *args, json_t **resp)
{
	char err[1024];
	json_t *res;

	*resp = psw_api_call(socket_path, op, args, err, sizeof(err));
	if (*resp == NULL) {
		die("%s", err);
		return NULL;
	}
	res = psw_api_result(*resp, err, sizeof(err));
	if (res == NULL)
		die("%s", err);
	return res;
}

static void
print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	if (s != NULL)
		puts(s);
	free(s);
}

static const char *
str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL && s[0] != '\0' ? s : "-";
}

static void
labels_str(json_t *labels, char *buf, size_t len)
{
	const char *k;
	json_t *v;
	size_t off = 0;

	buf[0] = '\0';
	json_object_foreach(labels, k, v) {
		int n = snprintf(buf + off, len - off, "%s%s=%s", off ? "," : "", k,
				 json_string_value(v) ?: "");

		if (n < 0 || (size_t)n >= len - off)
			break;
		off += (size_t)n;
	}
	if (buf[0] == '\0')
		snprintf(buf, len, "-");
}

static void
table_pods(json_t *items)
{
	json_t *o;
	size_t i;
	char labels[512];

	printf("%-12s %-28s %-15s %-22s %-10s %-9s %s\n", "NAMESPACE", "NAME", "IP", "IPV6",
	       "INTERFACE", "ATTACHED", "LABELS");
	json_array_foreach(items, i, o) {
		labels_str(json_object_get(o, "labels"), labels, sizeof(labels));
		printf("%-12s %-28s %-15s %-22s %-10s %-9s %s\n", str(o, "namespace"), str(o, "name"),
		       str(o, "ip4"), str(o, "ip6"), str(o, "interface"),
		       json_is_true(json_object_get(o, "attached")) ? "yes" : "no", labels);
	}
}

static void
table_ports(json_t *items)
{
	json_t *o;
	size_t i;

	printf("%-5s %-36s %-11s %-4s %-4s %-5s %s\n", "INDEX", "NAME", "KIND", "RXQ", "TXQ", "LINK",
	       "MAC");
	json_array_foreach(items, i, o)
		printf("%-5lld %-36s %-11s %-4lld %-4lld %-5s %s\n",
		       (long long)json_integer_value(json_object_get(o, "index")), str(o, "name"),
		       str(o, "kind"), (long long)json_integer_value(json_object_get(o, "rx_queues")),
		       (long long)json_integer_value(json_object_get(o, "tx_queues")),
		       json_is_true(json_object_get(o, "link_up")) ? "up" : "down", str(o, "mac"));
}

static void
table_attachments(json_t *items)
{
	json_t *o;
	size_t i;

	printf("%-16s %-7s %-24s %-10s %-15s %s\n", "CONTAINER", "IFNAME", "POD", "INTERFACE", "IP",
	       "PORT");
	json_array_foreach(items, i, o) {
		char pod[160];

		snprintf(pod, sizeof(pod), "%s/%s", str(o, "namespace"), str(o, "name"));
		printf("%-16.16s %-7s %-24s %-10s %-15s %s\n", str(o, "container_id"), str(o, "ifname"),
		       pod, str(o, "interface"), str(o, "ip4"), str(o, "port"));
	}
}

static void
table_conntrack(json_t *items)
{
	json_t *o;
	size_t i;

	printf("%-5s %-12s %-28s %-28s %-28s %-6s %s\n", "PROTO", "STATE", "CLIENT", "SERVICE", "BACKEND",
	       "IDLE", "POLICY");
	json_array_foreach(items, i, o) {
		char c[64], s[64], b[64], idle[24], pol[300];

		snprintf(idle, sizeof(idle), "%llds", (long long)json_integer_value(json_object_get(o, "idle_seconds")));
		snprintf(c, sizeof(c), "%s:%lld", str(o, "src"),
			 (long long)json_integer_value(json_object_get(o, "sport")));
		snprintf(s, sizeof(s), "%s:%lld", str(o, "dst"),
			 (long long)json_integer_value(json_object_get(o, "dport")));
		snprintf(b, sizeof(b), "%s:%lld%s", str(o, "backend"),
			 (long long)json_integer_value(json_object_get(o, "backend_port")),
			 json_is_true(json_object_get(o, "masquerade")) ? " (masq)" : "");
		pol[0] = '\0';
		if (json_is_true(json_object_get(o, "denied")))
			snprintf(pol, sizeof(pol), "denied");
		else if (json_object_get(o, "ingress_policy") != NULL)
			snprintf(pol, sizeof(pol), "in:%s out:%s", str(o, "ingress_policy"), str(o, "egress_policy"));
		printf("%-5s %-12s %-28s %-28s %-28s %-6s %s\n", str(o, "protocol"), str(o, "state"), c, s, b,
		       idle, pol[0] ? pol : "-");
	}
}

/* "a,b" of a Node's list field (podCIDRs) or of its addresses of one type; "-" when empty. */
static void
node_list(json_t *list, const char *type, char *buf, size_t len)
{
	json_t *x;
	size_t i, off = 0;

	buf[0] = '\0';
	json_array_foreach(list, i, x) {
		const char *s = type != NULL ? (strcmp(str(x, "type"), type) == 0 ? str(x, "address") : NULL)
					     : json_string_value(x);
		int n;

		if (s == NULL)
			continue;
		n = snprintf(buf + off, len - off, "%s%s", off ? "," : "", s);
		if (n < 0 || (size_t)n >= len - off)
			break;
		off += (size_t)n;
	}
	if (buf[0] == '\0')
		snprintf(buf, len, "-");
}

static void
table_nodes(json_t *items)
{
	json_t *o;
	size_t i;
	char cidrs[128], ips[128];

	printf("%-30s %-36s %s\n", "NAME", "POD-CIDRS", "INTERNAL-IP");
	json_array_foreach(items, i, o) {
		node_list(json_object_get(json_object_get(o, "spec"), "podCIDRs"), NULL, cidrs, sizeof(cidrs));
		node_list(json_object_get(json_object_get(o, "status"), "addresses"), "InternalIP", ips,
			  sizeof(ips));
		printf("%-30s %-36s %s\n", str(json_object_get(o, "metadata"), "name"), cidrs, ips);
	}
}

static void
table_objects(const char *kind, json_t *items)
{
	json_t *o;
	size_t i;
	char buf[512];

	if (strcmp(kind, "Namespace") == 0)
		printf("%-30s %s\n", "NAME", "LABELS");
	else if (strcmp(kind, "Service") == 0)
		printf("%-12s %-24s %-13s %-15s %s\n", "NAMESPACE", "NAME", "TYPE", "CLUSTER-IP", "PORTS");
	else
		printf("%-12s %-28s %s\n", "NAMESPACE", "NAME", "DETAIL");
	json_array_foreach(items, i, o) {
		json_t *meta = json_object_get(o, "metadata"), *spec = json_object_get(o, "spec");

		if (strcmp(kind, "Namespace") == 0) {
			labels_str(json_object_get(meta, "labels"), buf, sizeof(buf));
			printf("%-30s %s\n", str(meta, "name"), buf);
		} else if (strcmp(kind, "Service") == 0) {
			json_t *p;
			size_t k, off = 0;

			buf[0] = '\0';
			json_array_foreach(json_object_get(spec, "ports"), k, p)
				off += (size_t)snprintf(buf + off, off < sizeof(buf) ? sizeof(buf) - off : 0,
					"%s%lld/%s", k ? "," : "",
					(long long)json_integer_value(json_object_get(p, "port")),
					str(p, "protocol"));
			printf("%-12s %-24s %-13s %-15s %s\n", str(meta, "namespace"), str(meta, "name"),
			       str(spec, "type"), str(spec, "clusterIP"), buf);
		} else {
			snprintf(buf, sizeof(buf), "%zu endpoints",
				 json_array_size(json_object_get(o, "endpoints")));
			printf("%-12s %-28s %s\n", str(meta, "namespace"), str(meta, "name"), buf);
		}
	}
}

/* NetworkPolicies with the local pods they select and their connection counters. */
static void
table_netpol(json_t *items)
{
	json_t *o, *t, *p;
	size_t i, k;
	char sel[256], types[64], pods[256];

	printf("%-12s %-24s %-24s %-15s %-20s %9s %9s\n", "NAMESPACE", "NAME", "POD-SELECTOR",
	       "POLICY-TYPES", "SELECTED-HERE", "ALLOWED", "DENIED");
	json_array_foreach(items, i, o) {
		json_t *meta = json_object_get(o, "metadata"), *spec = json_object_get(o, "spec");
		json_t *status = json_object_get(o, "status"), *ps = json_object_get(spec, "podSelector");

		labels_str(json_object_get(ps, "matchLabels"), sel, sizeof(sel));
		if (json_array_size(json_object_get(ps, "matchExpressions")) > 0)
			snprintf(sel + strlen(sel), sizeof(sel) - strlen(sel), "%s", "+expressions");
		else if (strcmp(sel, "-") == 0)
			snprintf(sel, sizeof(sel), "<all pods>");
		types[0] = pods[0] = '\0';
		json_array_foreach(json_object_get(spec, "policyTypes"), k, t)
			snprintf(types + strlen(types), sizeof(types) - strlen(types), "%s%s", k ? "," : "",
				 json_string_value(t));
		json_array_foreach(json_object_get(status, "selected"), k, p)
			snprintf(pods + strlen(pods), sizeof(pods) - strlen(pods), "%s%s", k ? "," : "",
				 json_string_value(p));
		printf("%-12s %-24s %-24s %-15s %-20s %9lld %9lld\n", str(meta, "namespace"), str(meta, "name"),
		       sel, types, pods[0] ? pods : "-",
		       (long long)json_integer_value(json_object_get(status, "allowed")),
		       (long long)json_integer_value(json_object_get(status, "denied")));
	}
}

static void
print_direction(const char *dir, json_t *d)
{
	json_t *by = json_object_get(d, "isolated_by"), *p;
	size_t k;

	printf("  %s of %s: ", dir, str(d, "pod"));
	/* a MultiNetworkPolicy's slot is named "MultiNetworkPolicy/ns/name", a NetworkPolicy's "ns/name" */
	if (json_is_string(json_object_get(d, "policy")) && strncmp(str(d, "policy"), "MultiNetworkPolicy/", 19) == 0)
		printf("allowed by MultiNetworkPolicy %s, %s rule %lld\n", str(d, "policy") + 19,
		       strcmp(dir, "egress") == 0 ? "egress" : "ingress",
		       (long long)json_integer_value(json_object_get(d, "rule")));
	else if (json_is_string(json_object_get(d, "policy")))
		printf("allowed by NetworkPolicy %s, %s rule %lld\n", str(d, "policy"),
		       strcmp(dir, "egress") == 0 ? "egress" : "ingress",
		       (long long)json_integer_value(json_object_get(d, "rule")));
	else
		printf("%s%s\n", json_is_true(json_object_get(d, "isolated")) && json_array_size(by) > 0 ?
		       "denied: " : "", str(d, "reason"));
	if (json_array_size(by) > 0) {
		printf("    isolated by:");
		json_array_foreach(by, k, p)
			printf(" %s", json_string_value(p));
		putchar('\n');
	}
}

/* explain FROM TO [PROTO/]PORT: would a new connection be allowed, and by what. */
static int
cmd_explain(int argc, char **argv)
{
	const char *ns = "default", *output = NULL, *slash;
	char proto[8] = "tcp";
	json_t *args, *resp, *res, *b;
	long port;
	char *end;
	size_t k;
	int c;

	optind = 0;
	while ((c = getopt(argc, argv, "n:o:")) != -1) {
		if (c == 'n')
			ns = optarg;
		else if (c == 'o')
			output = optarg;
		else
			return EXIT_USAGE;
	}
	if (argc - optind != 3)
		return die("explain: give FROM TO [PROTO/]PORT (FROM, TO: [NAMESPACE/]POD or an address; "
			   "TO may be service/[NAMESPACE/]NAME)");
	if (output != NULL && strcmp(output, "json") != 0)
		return die("explain: output format '%s' is not supported (json)", output);
	slash = strchr(argv[optind + 2], '/');
	if (slash != NULL) {
		if ((size_t)(slash - argv[optind + 2]) >= sizeof(proto))
			return die("explain: protocol in '%s' must be tcp, udp or sctp", argv[optind + 2]);
		memcpy(proto, argv[optind + 2], (size_t)(slash - argv[optind + 2]));
		proto[slash - argv[optind + 2]] = '\0';
	}
	port = strtol(slash != NULL ? slash + 1 : argv[optind + 2], &end, 10);
	if (*end != '\0' || port < 1 || port > 65535)
		return die("explain: port in '%s' must be a number 1-65535", argv[optind + 2]);
	args = json_pack("{s:s, s:s, s:s, s:I, s:s}", "from", argv[optind], "to", argv[optind + 1],
			 "proto", proto, "port", (json_int_t)port, "namespace", ns);
	res = call("explain", args, &resp);
	if (res == NULL) {
		json_decref(resp);
		return 1;
	}
	if (output != NULL) {
		print_json(res);
		json_decref(resp);
		return 0;
	}
	printf("%s: %s -> %s %s/%ld\n", json_is_true(json_object_get(res, "allowed")) ? "allowed" : "denied",
	       argv[optind], argv[optind + 1], proto, port);
	if (json_object_get(res, "backends") != NULL) {
		json_array_foreach(json_object_get(res, "backends"), k, b) {
			printf(" backend %s port %lld: %s\n", str(b, "to"),
			       (long long)json_integer_value(json_object_get(b, "port")),
			       json_is_true(json_object_get(b, "allowed")) ? "allowed" : "denied");
			print_direction("egress", json_object_get(b, "egress"));
			print_direction("ingress", json_object_get(b, "ingress"));
		}
		if (json_array_size(json_object_get(res, "backends")) == 0)
			printf("  %s\n", str(res, "reason"));
	} else {
		print_direction("egress", json_object_get(res, "egress"));
		print_direction("ingress", json_object_get(res, "ingress"));
	}
	json_decref(resp);
	return 0;
}

static int
cmd_get(int argc, char **argv)
{
	const char *ns = "default", *output = NULL, *kind, *name = NULL;
	bool all = false;
	json_t *args, *resp, *res, *items;
	int c, rc = 0;

	optind = 0;      /* 0: glibc re-initialises its scan (permutation state) */
	while ((c = getopt(argc, argv, "n:Ao:")) != -1) {
		if (c == 'n')
			ns = optarg;
		else if (c == 'A')
			all = true;
		else if (c == 'o')
			output = optarg;
		else
			return EXIT_USAGE;
	}
	if (optind >= argc)
		return die("get: which kind? (pods, namespaces, services, endpointslices, "
			   "networkpolicies, nodes, ports, attachments)");
	kind = argv[optind++];
	if (optind < argc)
		name = argv[optind++];
	if (optind < argc)
		return die("get: unexpected argument '%s'", argv[optind]);
	if (output != NULL && strcmp(output, "json") != 0)
		return die("get: output format '%s' is not supported (json)", output);
	args = json_pack("{s:s}", "kind", kind);
	if (strcmp(kind, "conntrack") == 0 || strcmp(kind, "ct") == 0) {
		/* get conntrack [ADDRESS]: connections with that address on either side */
		if (name != NULL)
			json_object_set_new(args, "address", json_string(name));
		name = NULL;
	} else if (!all && strcmp(kind, "ports") && strcmp(kind, "attachments") &&
		   strcmp(kind, "namespaces") && strcmp(kind, "ns") && strcmp(kind, "namespace") &&
		   strcmp(kind, "nodes") && strcmp(kind, "node") && strcmp(kind, "no")) {
		json_object_set_new(args, "namespace", json_string(ns));
	}
	if (name != NULL)
		json_object_set_new(args, "name", json_string(name));
	res = call("get", args, &resp);
	if (res == NULL) {
		json_decref(resp);
		return 1;
	}
	items = json_object_get(res, "items");
	if (output != NULL) {
		print_json(name != NULL && json_array_size(items) == 1 ? json_array_get(items, 0) : items);
	} else if (strcmp(kind, "ports") == 0 || strcmp(kind, "port") == 0) {
		table_ports(items);
	} else if (strcmp(kind, "attachments") == 0) {
		table_attachments(items);
	} else if (strcmp(kind, "conntrack") == 0 || strcmp(kind, "ct") == 0) {
		table_conntrack(items);
	} else if (strcmp(json_string_value(json_object_get(res, "kind")) ?: "", "NetworkPolicy") == 0) {
		table_netpol(items);
	} else if (strcmp(json_string_value(json_object_get(res, "kind")) ?: "", "Node") == 0) {
		table_nodes(items);
	} else if (json_is_string(json_object_get(res, "kind")) &&
		   strcmp(json_string_value(json_object_get(res, "kind")), "Pod") == 0) {
		table_pods(items);
	} else {
		table_objects(json_string_value(json_object_get(res, "kind")) ?: "", items);
	}
	json_decref(resp);
	return rc;
}

static int
cmd_apply(const char *verb, int argc, char **argv)
{
	const char *file = NULL;
	char err[1024];
	json_t *docs, *resp, *res, *r;
	size_t i;
	int c;

	optind = 0;      /* 0: glibc re-initialises its scan (permutation state) */
	while ((c = getopt(argc, argv, "f:")) != -1) {
		if (c != 'f')
			return EXIT_USAGE;
		file = optarg;
	}
	if (file == NULL)
		return die("%s: give the manifest with -f FILE (or -f - for standard input)", verb);
	if (optind < argc)
		return die("%s: unexpected argument '%s'", verb, argv[optind]);
	docs = psw_manifest_load(file, err, sizeof(err));
	if (docs == NULL)
		return die("%s", err);
	if (json_array_size(docs) == 0) {
		json_decref(docs);
		return die("%s: %s holds no objects", verb, file);
	}
	res = call(verb, json_pack("{s:o}", "objects", docs), &resp);
	if (res == NULL) {
		json_decref(resp);
		return 1;
	}
	json_array_foreach(json_object_get(res, "results"), i, r) {
		if (json_object_get(r, "object") != NULL)
			printf("%s %s\n", str(r, "object"), str(r, "action"));
		else
			printf("%s/%s%s%s %s\n", str(r, "kind"),
			       json_string_length(json_object_get(r, "namespace")) ? str(r, "namespace") : "",
			       json_string_length(json_object_get(r, "namespace")) ? "/" : "",
			       str(r, "name"), str(r, "action"));
	}
	json_decref(resp);
	return 0;
}

static int
cmd_stats(int argc, char **argv)
{
	json_t *resp, *res, *o;
	const char *k;
	size_t i;

	res = call("stats", NULL, &resp);
	if (res == NULL) {
		json_decref(resp);
		return 1;
	}
	if (argc > 2 && strcmp(argv[1], "-o") == 0 && strcmp(argv[2], "json") == 0) {
		print_json(res);
		json_decref(resp);
		return 0;
	}
	printf("%-36s %-11s %12s %12s %9s %9s %14s %14s\n", "PORT", "KIND", "RX", "TX", "TX_DROP",
	       "RX_MISSED", "RX_BYTES", "TX_BYTES");
	json_array_foreach(json_object_get(res, "ports"), i, o)
		printf("%-36s %-11s %12lld %12lld %9lld %9lld %14lld %14lld\n", str(o, "name"), str(o, "kind"),
		       (long long)json_integer_value(json_object_get(o, "rx")),
		       (long long)json_integer_value(json_object_get(o, "tx")),
		       (long long)json_integer_value(json_object_get(o, "tx_drop")),
		       (long long)json_integer_value(json_object_get(o, "rx_missed")),
		       (long long)json_integer_value(json_object_get(o, "rx_bytes")),
		       (long long)json_integer_value(json_object_get(o, "tx_bytes")));
	printf("\n%-7s %-6s %12s %12s %14s\n", "WORKER", "LCORE", "RX", "TX", "CYCLES/PACKET");
	json_array_foreach(json_object_get(res, "workers"), i, o)
		printf("%-7lld %-6lld %12lld %12lld %14lld\n",
		       (long long)json_integer_value(json_object_get(o, "worker")),
		       (long long)json_integer_value(json_object_get(o, "lcore")),
		       (long long)json_integer_value(json_object_get(o, "rx")),
		       (long long)json_integer_value(json_object_get(o, "tx")),
		       (long long)json_integer_value(json_object_get(o, "cycles_per_packet")));
	printf("\n%-24s %12s\n", "DROP REASON", "PACKETS");
	json_object_foreach(json_object_get(res, "drops"), k, o)
		printf("%-24s %12lld\n", k, (long long)json_integer_value(o));
	printf("\n%-24s %12s\n", "EVENT", "COUNT");
	json_object_foreach(json_object_get(res, "events"), k, o)
		printf("%-24s %12lld\n", k, (long long)json_integer_value(o));
	printf("\n%-24s %12s\n", "CONNTRACK", "");
	json_object_foreach(json_object_get(res, "conntrack"), k, o)
		printf("%-24s %12lld\n", k, (long long)json_integer_value(o));
	printf("\n%-24s %12s\n", "AUDIT", "");
	json_object_foreach(json_object_get(res, "audit"), k, o) {
		if (json_is_string(o))
			printf("%-24s %s\n", k, json_string_value(o)[0] != '\0' ? json_string_value(o) : "-");
		else
			printf("%-24s %12lld\n", k, (long long)json_integer_value(o));
	}
	json_decref(resp);
	return 0;
}

static int
cmd_simple(const char *op, int argc, char **argv)
{
	json_t *resp, *res = call(op, NULL, &resp);
	const char *k;
	json_t *v;

	if (res == NULL) {
		json_decref(resp);
		return 1;
	}
	if (argc > 2 && strcmp(argv[1], "-o") == 0 && strcmp(argv[2], "json") == 0) {
		print_json(res);
	} else if (strcmp(op, "version") == 0) {
		printf("client: %s\ndaemon: %s (api %lld)\n", PSW_VERSION, str(res, "version"),
		       (long long)json_integer_value(json_object_get(res, "api")));
	} else {
		json_object_foreach(res, k, v) {
			char *s;

			if (strcmp(k, "limits") == 0)
				continue;                /* below, one line each */
			s = json_dumps(v, JSON_ENCODE_ANY);
			printf("%-16s %s\n", k, s);
			free(s);
		}
		json_object_foreach(json_object_get(res, "limits"), k, v)
			printf("limit %-10s %lld / %lld\n", k,
			       (long long)json_integer_value(json_object_get(v, "used")),
			       (long long)json_integer_value(json_object_get(v, "max")));
	}
	json_decref(resp);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *verb;
	int c;

	socket_path = getenv("PODSWITCH_SOCKET");
	if (socket_path == NULL || socket_path[0] == '\0')
		socket_path = PSW_API_DEFAULT_SOCKET;
	while ((c = getopt(argc, argv, "+s:hV")) != -1) {
		if (c == 's') {
			socket_path = optarg;
		} else if (c == 'h') {
			usage(stdout);
			return 0;
		} else if (c == 'V') {
			printf("podswitchctl %s\n", PSW_VERSION);
			return 0;
		} else {
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	verb = argv[optind];
	argc -= optind;
	argv += optind;
	if (strcmp(verb, "get") == 0)
		return cmd_get(argc, argv);
	if (strcmp(verb, "apply") == 0 || strcmp(verb, "delete") == 0)
		return cmd_apply(verb, argc, argv);
	if (strcmp(verb, "explain") == 0)
		return cmd_explain(argc, argv);
	if (strcmp(verb, "stats") == 0)
		return cmd_stats(argc, argv);
	if (strcmp(verb, "capture") == 0)
		return psw_cli_capture(socket_path, argc, argv);
	if (strcmp(verb, "status") == 0 || strcmp(verb, "version") == 0)
		return cmd_simple(verb, argc, argv);
	if (strcmp(verb, "trace") == 0)
		return psw_cli_trace(socket_path, argc, argv);
	die("unknown verb '%s' (apply, delete, get, explain, stats, capture, status, trace, version)", verb);
	return EXIT_USAGE;
}
