/*
 * v1 Node in the object store (ctl/psw_k8s.c): apply, replace and delete
 * on a bare control state (no EAL: the store calls no compiler), what each
 * change touches (psw_change_touch: the forwarding snapshot with its
 * routes, nothing else), and psw_k8s_nodes(), the routes compiler's view:
 * pod CIDRs and InternalIPs parsed, sorted by name, bounded by max.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "psw_change.h"
#include "psw_ctl.h"
#include "psw_k8s.h"
#include "psw_ut.h"

static struct psw_state st;

static const char *const dual_node =
	"{\"apiVersion\": \"v1\", \"kind\": \"Node\", \"metadata\": {\"name\": \"node-b\", "
	"\"namespace\": \"ignored\", \"labels\": {\"kubernetes.io/hostname\": \"node-b\"}, "
	"\"uid\": \"u-1\", \"resourceVersion\": \"42\"}, "
	"\"spec\": {\"podCIDRs\": [\"10.244.2.0/24\", \"fd00:10:244:2::/64\"], \"taints\": []}, "
	"\"status\": {\"addresses\": [{\"type\": \"Hostname\", \"address\": \"node-b\"}, "
	"{\"type\": \"InternalIP\", \"address\": \"192.168.0.12\"}, "
	"{\"type\": \"ExternalIP\", \"address\": \"203.0.113.12\"}, "
	"{\"type\": \"InternalIP\", \"address\": \"192.168.0.99\"}, "
	"{\"type\": \"InternalIP\", \"address\": \"fd00::12\"}], "
	"\"nodeInfo\": {\"kubeletVersion\": \"v1.30.0\"}, \"conditions\": [{\"type\": \"Ready\"}]}}";

static const char *const v4_node =
	"{\"apiVersion\": \"v1\", \"kind\": \"Node\", \"metadata\": {\"name\": \"node-a\"}, "
	"\"spec\": {\"podCIDR\": \"10.244.1.0/24\"}, "
	"\"status\": {\"addresses\": [{\"type\": \"InternalIP\", \"address\": \"192.168.0.11\"}]}}";

/* One store call on "[objects...]" (and kinds for a replace); the change is returned in ch. */
static json_t *
store(json_t *(*fn)(struct psw_state *, json_t *, struct psw_change *), const char *objects,
      const char *kinds, struct psw_change *ch)
{
	json_error_t je;
	json_t *objs = json_loads(objects, 0, &je), *args, *res;

	CU_ASSERT_PTR_NOT_NULL_FATAL(objs);
	args = json_pack("{s:o}", "objects", objs);
	if (kinds != NULL)
		json_object_set_new(args, "kinds", json_loads(kinds, 0, &je));
	psw_change_init(ch);
	res = fn(&st, args, ch);
	json_decref(args);
	CU_ASSERT_PTR_NOT_NULL_FATAL(res);
	return res;
}

static bool
ok(json_t *res)
{
	return json_is_true(json_object_get(res, "ok"));
}

static const char *
message(json_t *res)
{
	return json_string_value(json_object_get(json_object_get(res, "error"), "message")) ?: "";
}

/* Apply, expect success; the change's flags are checked by the caller. */
static void
apply_ok(const char *objects, struct psw_change *ch)
{
	json_t *res = store(psw_k8s_apply, objects, NULL, ch);

	if (!ok(res))
		fprintf(stderr, "\n  refused: %s\n", message(res));
	CU_ASSERT(ok(res));
	json_decref(res);
}

static void
refused(const char *objects, const char *want)
{
	struct psw_change ch;
	unsigned before = psw_k8s_nodes(&st, NULL, 0);
	json_t *res = store(psw_k8s_apply, objects, NULL, &ch);

	CU_ASSERT(!ok(res));
	if (strstr(message(res), want) == NULL) {
		fprintf(stderr, "\n  message '%s' lacks '%s'\n", message(res), want);
		CU_FAIL("message lacks the expected text");
	}
	CU_ASSERT_EQUAL(psw_k8s_nodes(&st, NULL, 0), before);       /* nothing stored */
	CU_ASSERT(!ch.forward && !ch.rebuild_routes);
	json_decref(res);
	psw_change_fini(&ch);
}

static void
expect_ip(const struct psw_k8s_node *n, unsigned i, uint8_t family, const char *text)
{
	uint8_t want[16] = { 0 };

	CU_ASSERT_EQUAL(inet_pton(family == 4 ? AF_INET : AF_INET6, text, want), 1);
	CU_ASSERT_EQUAL(n->internal_family[i], family);
	CU_ASSERT(memcmp(n->internal[i], want, family == 4 ? 4 : 16) == 0);
}

static void
expect_cidr(const struct psw_k8s_node *n, unsigned i, const char *text)
{
	char buf[64];

	psw_prefix_str(&n->cidrs[i], buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, text);
}

static void
test_nodes_refused(void)
{
	static const struct {
		const char *obj, *want;
	} cases[] = {
		{ "{\"apiVersion\": \"v1\", \"kind\": \"Node\", \"metadata\": {\"name\": \"Node_A\"}}",
		  "Node Node_A: metadata.name: must be a DNS subdomain" },
		{ "{\"apiVersion\": \"v2\", \"kind\": \"Node\", \"metadata\": {\"name\": \"n\"}}",
		  "apiVersion: must be v1" },
		{ "{\"apiVersion\": \"v1\", \"kind\": \"Node\", \"metadata\": {\"name\": \"n\"}, "
		  "\"spec\": {\"podCIDR\": \"10.244.1.1/24\"}}",
		  "Node n: spec.podCIDR: '10.244.1.1/24' is not a CIDR with its host bits zero" },
		{ "{\"apiVersion\": \"v1\", \"kind\": \"Node\", \"metadata\": {\"name\": \"n\"}, "
		  "\"spec\": {\"podCIDRs\": [\"10.244.1.0/24\", \"10.245.1.0/24\"]}}",
		  "Node n: spec.podCIDRs: both entries are IPv4: at most one CIDR per IP family" },
		{ "{\"apiVersion\": \"v1\", \"kind\": \"Node\", \"metadata\": {\"name\": \"n\"}, "
		  "\"spec\": {\"podCIDRs\": [\"10.244.1.0/24\", \"fd00::/64\", \"10.1.0.0/16\"]}}",
		  "Node n: spec.podCIDRs: has 3 entries; at most two" },
		{ "{\"apiVersion\": \"v1\", \"kind\": \"Node\", \"metadata\": {\"name\": \"n\"}, "
		  "\"spec\": {\"podCIDRs\": [\"fd00::/64\", \"10.244.1.0/33\"]}}",
		  "Node n: spec.podCIDRs[1]: '10.244.1.0/33' is not a CIDR" },
		{ "{\"apiVersion\": \"v1\", \"kind\": \"Node\", \"metadata\": {\"name\": \"n\"}, "
		  "\"spec\": {\"podCIDR\": \"10.244.9.0/24\", \"podCIDRs\": [\"10.244.1.0/24\"]}}",
		  "Node n: spec.podCIDR: '10.244.9.0/24' must be podCIDRs[0] ('10.244.1.0/24')" },
		{ "{\"apiVersion\": \"v1\", \"kind\": \"Node\", \"metadata\": {\"name\": \"n\"}, "
		  "\"spec\": {\"podCIDRs\": \"10.244.1.0/24\"}}",
		  "Node n: spec.podCIDRs: must be a list" },
		{ "{\"apiVersion\": \"v1\", \"kind\": \"Node\", \"metadata\": {\"name\": \"n\"}, "
		  "\"status\": {\"addresses\": [{\"type\": \"InternalIP\", \"address\": \"192.168.0.300\"}]}}",
		  "Node n: status.addresses[0].address: '192.168.0.300' is not an IPv4 or IPv6 address" },
		{ "{\"apiVersion\": \"v1\", \"kind\": \"Node\", \"metadata\": {\"name\": \"n\"}, "
		  "\"status\": {\"addresses\": [{\"type\": \"Hostname\", \"address\": \"n\"}, "
		  "{\"type\": \"ExternalIP\", \"address\": \"n.example\"}]}}",
		  "Node n: status.addresses[1].address: 'n.example' is not an IPv4 or IPv6 address" },
		{ "{\"apiVersion\": \"v1\", \"kind\": \"Node\", \"metadata\": {\"name\": \"n\"}, "
		  "\"status\": {\"addresses\": [{\"type\": \"PodIP\", \"address\": \"10.0.0.1\"}]}}",
		  "Node n: status.addresses[0].type: must be one of InternalIP, ExternalIP, Hostname" },
		{ "{\"apiVersion\": \"v1\", \"kind\": \"Node\", \"metadata\": {\"name\": \"n\"}, "
		  "\"status\": {\"addresses\": [{\"type\": \"InternalIP\"}]}}",
		  "Node n: status.addresses[0].address: is required" },
		{ "{\"apiVersion\": \"v1\", \"kind\": \"Node\", \"metadata\": {\"name\": \"n\"}, "
		  "\"status\": {\"addresses\": {\"InternalIP\": \"10.0.0.1\"}}}",
		  "Node n: status.addresses: must be a list" },
	};
	unsigned i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char list[2048];

		snprintf(list, sizeof(list), "[%s]", cases[i].obj);
		refused(list, cases[i].want);
	}
	/* one bad Node among good ones: none of them is stored */
	{
		char list[4096];

		snprintf(list, sizeof(list), "[%s, %s, %s]", v4_node, dual_node, cases[2].obj);
		refused(list, "document 3: Node n: spec.podCIDR");
	}
}

static void
test_nodes_apply_and_read(void)
{
	struct psw_k8s_node out[4];
	struct psw_change ch;
	json_t *stored, *res;
	char list[4096];

	snprintf(list, sizeof(list), "[%s, %s]", dual_node, v4_node);
	apply_ok(list, &ch);
	CU_ASSERT(ch.forward && ch.rebuild_routes);
	CU_ASSERT(!ch.services && !ch.policy && !ch.withdraw && !ch.pod_moves);
	psw_change_fini(&ch);

	/* cluster-scoped: the namespace given is cleared; stored trimmed and defaulted */
	stored = psw_k8s_find(&st, "Node", NULL, "node-b");
	CU_ASSERT_PTR_NOT_NULL_FATAL(stored);
	CU_ASSERT_PTR_NULL(psw_k8s_find(&st, "Node", "ignored", "node-b"));
	CU_ASSERT_PTR_NULL(json_object_get(json_object_get(stored, "metadata"), "namespace"));
	CU_ASSERT_PTR_NULL(json_object_get(json_object_get(stored, "metadata"), "uid"));
	CU_ASSERT_PTR_NULL(json_object_get(json_object_get(stored, "status"), "nodeInfo"));
	CU_ASSERT_PTR_NULL(json_object_get(json_object_get(stored, "spec"), "taints"));
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_object_get(stored, "spec"), "podCIDR")),
			       "10.244.2.0/24");                      /* = podCIDRs[0] */
	CU_ASSERT_EQUAL(json_array_size(json_object_get(json_object_get(stored, "status"), "addresses")), 5);
	stored = psw_k8s_find(&st, "Node", NULL, "node-a");
	CU_ASSERT_PTR_NOT_NULL_FATAL(stored);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(json_object_get(json_object_get(stored, "spec"),
		"podCIDRs"), 0)), "10.244.1.0/24");                   /* defaulted from podCIDR */

	/* the routes compiler's view: sorted by name, parsed */
	memset(out, 0xa5, sizeof(out));
	CU_ASSERT_EQUAL_FATAL(psw_k8s_nodes(&st, out, 4), 2);
	CU_ASSERT_STRING_EQUAL(out[0].name, "node-a");
	CU_ASSERT_EQUAL(out[0].nb_cidrs, 1);
	expect_cidr(&out[0], 0, "10.244.1.0/24");
	CU_ASSERT_EQUAL(out[0].nb_internal, 1);
	expect_ip(&out[0], 0, 4, "192.168.0.11");
	CU_ASSERT_STRING_EQUAL(out[1].name, "node-b");
	CU_ASSERT_EQUAL(out[1].nb_cidrs, 2);
	expect_cidr(&out[1], 0, "10.244.2.0/24");
	expect_cidr(&out[1], 1, "fd00:10:244:2::/64");
	CU_ASSERT_EQUAL(out[1].nb_internal, 2);                 /* the first of each family */
	expect_ip(&out[1], 0, 4, "192.168.0.12");
	expect_ip(&out[1], 1, 6, "fd00::12");
	CU_ASSERT_EQUAL(out[1].cidrs[1].family, 6);
	CU_ASSERT_EQUAL(out[1].cidrs[1].len, 64);

	/* counting, and a short array: the first by name */
	CU_ASSERT_EQUAL(psw_k8s_nodes(&st, NULL, 0), 2);
	memset(out, 0, sizeof(out));
	CU_ASSERT_EQUAL(psw_k8s_nodes(&st, out, 1), 2);
	CU_ASSERT_STRING_EQUAL(out[0].name, "node-a");
	CU_ASSERT_PTR_NULL(out[1].name);

	/* the same again: unchanged, touches nothing */
	res = store(psw_k8s_apply, list, NULL, &ch);
	CU_ASSERT(ok(res));
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_array_get(json_object_get(
		json_object_get(res, "result"), "results"), 0), "action")), "unchanged");
	CU_ASSERT(!ch.forward && !ch.rebuild_routes);
	json_decref(res);
	psw_change_fini(&ch);

	/* only what the switch does not keep changed (a heartbeat's conditions): unchanged too */
	res = store(psw_k8s_apply, "[{\"apiVersion\": \"v1\", \"kind\": \"Node\", \"metadata\": "
		    "{\"name\": \"node-a\", \"resourceVersion\": \"7\"}, \"spec\": {\"podCIDR\": "
		    "\"10.244.1.0/24\"}, \"status\": {\"conditions\": [{\"type\": \"Ready\"}], \"addresses\": "
		    "[{\"type\": \"InternalIP\", \"address\": \"192.168.0.11\"}]}}]", NULL, &ch);
	CU_ASSERT(ok(res) && !ch.forward);
	json_decref(res);
	psw_change_fini(&ch);

	/* a Node that moves: its new address is read */
	apply_ok("[{\"apiVersion\": \"v1\", \"kind\": \"Node\", \"metadata\": {\"name\": \"node-a\"}, "
		 "\"spec\": {\"podCIDR\": \"10.244.1.0/24\"}, \"status\": {\"addresses\": [{\"type\": "
		 "\"InternalIP\", \"address\": \"192.168.0.21\"}]}}]", &ch);
	CU_ASSERT(ch.forward && ch.rebuild_routes);
	psw_change_fini(&ch);
	CU_ASSERT_EQUAL(psw_k8s_nodes(&st, out, 4), 2);
	expect_ip(&out[0], 0, 4, "192.168.0.21");

	/* a Namespace touches no route; a Node with neither CIDRs nor addresses is listed */
	apply_ok("[{\"apiVersion\": \"v1\", \"kind\": \"Namespace\", \"metadata\": {\"name\": \"x\"}}]", &ch);
	CU_ASSERT(!ch.forward && !ch.rebuild_routes);
	psw_change_fini(&ch);
	apply_ok("[{\"apiVersion\": \"v1\", \"kind\": \"Node\", \"metadata\": {\"name\": \"bare\"}}]", &ch);
	psw_change_fini(&ch);
	CU_ASSERT_EQUAL_FATAL(psw_k8s_nodes(&st, out, 4), 3);
	CU_ASSERT_STRING_EQUAL(out[0].name, "bare");
	CU_ASSERT(out[0].nb_cidrs == 0 && out[0].nb_internal == 0);
}

static void
test_nodes_replace_and_delete(void)
{
	struct psw_k8s_node out[4];
	struct psw_change ch;
	json_t *res;

	/* a relist: node-b and bare go, node-c comes, in one change; the Namespace stays */
	res = store(psw_k8s_replace, "[{\"apiVersion\": \"v1\", \"kind\": \"Node\", \"metadata\": "
		    "{\"name\": \"node-c\"}, \"spec\": {\"podCIDRs\": [\"fd00:10:244:3::/64\"]}, \"status\": "
		    "{\"addresses\": [{\"type\": \"InternalIP\", \"address\": \"fd00::13\"}]}}, "
		    "{\"apiVersion\": \"v1\", \"kind\": \"Node\", \"metadata\": {\"name\": \"node-a\"}, "
		    "\"spec\": {\"podCIDR\": \"10.244.1.0/24\"}, \"status\": {\"addresses\": [{\"type\": "
		    "\"InternalIP\", \"address\": \"192.168.0.21\"}]}}]", "[\"Node\"]", &ch);
	if (!ok(res))
		fprintf(stderr, "\n  replace refused: %s\n", message(res));
	CU_ASSERT(ok(res));
	CU_ASSERT_EQUAL(json_array_size(json_object_get(json_object_get(res, "result"), "deleted")), 2);
	CU_ASSERT(ch.forward && ch.rebuild_routes);
	json_decref(res);
	psw_change_fini(&ch);
	CU_ASSERT_EQUAL_FATAL(psw_k8s_nodes(&st, out, 4), 2);
	CU_ASSERT_STRING_EQUAL(out[0].name, "node-a");
	CU_ASSERT_STRING_EQUAL(out[1].name, "node-c");
	CU_ASSERT(out[1].nb_cidrs == 1 && out[1].cidrs[0].family == 6 && out[1].nb_internal == 1);
	expect_ip(&out[1], 0, 6, "fd00::13");
	CU_ASSERT_PTR_NOT_NULL(psw_k8s_find(&st, "Namespace", NULL, "x"));

	/* a Pod in a replace of Nodes, or an unknown kind, changes nothing */
	res = store(psw_k8s_replace, "[{\"apiVersion\": \"v1\", \"kind\": \"Pod\", \"metadata\": "
		    "{\"name\": \"p\"}}]", "[\"Node\"]", &ch);
	CU_ASSERT(!ok(res) && strstr(message(res), "a Pod in a replace of Node") != NULL);
	json_decref(res);
	psw_change_fini(&ch);
	res = store(psw_k8s_replace, "[]", "[\"Nodes\"]", &ch);
	CU_ASSERT(!ok(res) && strstr(message(res), "'Nodes' is not one of Namespace, Pod, Service, "
				     "EndpointSlice, NetworkPolicy, MultiNetworkPolicy, Node") != NULL);
	json_decref(res);
	psw_change_fini(&ch);
	CU_ASSERT_EQUAL(psw_k8s_nodes(&st, NULL, 0), 2);

	/* delete by identity (a namespace given is ignored), then a missing one */
	res = store(psw_k8s_delete, "[{\"apiVersion\": \"v1\", \"kind\": \"Node\", \"metadata\": "
		    "{\"name\": \"node-c\", \"namespace\": \"default\"}, \"spec\": {\"podCIDR\": \"bad\"}}]",
		    NULL, &ch);
	CU_ASSERT(ok(res));
	CU_ASSERT(ch.forward && ch.rebuild_routes && !ch.services && !ch.policy);
	json_decref(res);
	psw_change_fini(&ch);
	CU_ASSERT_EQUAL(psw_k8s_nodes(&st, out, 4), 1);
	res = store(psw_k8s_delete, "[{\"apiVersion\": \"v1\", \"kind\": \"Node\", \"metadata\": "
		    "{\"name\": \"node-c\"}}]", NULL, &ch);
	CU_ASSERT(!ok(res) && strstr(message(res), "Node//node-c not found") != NULL);
	json_decref(res);
	psw_change_fini(&ch);
}

/* A hundred Nodes, more than out holds: the first by name, whatever the hash order. */
static void
test_nodes_bounded(void)
{
	struct psw_k8s_node out[8];
	struct psw_change ch;
	json_t *objs = json_array(), *args, *res;
	char name[32], cidr[32];
	unsigned i;

	for (i = 100; i > 0; i--) {
		snprintf(name, sizeof(name), "n%03u", i);
		snprintf(cidr, sizeof(cidr), "10.%u.0.0/16", i);
		json_array_append_new(objs, json_pack("{s:s, s:s, s:{s:s}, s:{s:s}}", "apiVersion", "v1",
						      "kind", "Node", "metadata", "name", name, "spec",
						      "podCIDR", cidr));
	}
	args = json_pack("{s:[s], s:o}", "kinds", "Node", "objects", objs);
	psw_change_init(&ch);
	res = psw_k8s_replace(&st, args, &ch);
	CU_ASSERT(ok(res));
	json_decref(res);
	json_decref(args);
	psw_change_fini(&ch);
	CU_ASSERT_EQUAL_FATAL(psw_k8s_nodes(&st, out, 8), 100);
	for (i = 0; i < 8; i++) {
		snprintf(name, sizeof(name), "n%03u", i + 1);
		snprintf(cidr, sizeof(cidr), "10.%u.0.0/16", i + 1);
		CU_ASSERT_STRING_EQUAL(out[i].name, name);
		expect_cidr(&out[i], 0, cidr);
	}
}

int
main(void)
{
	CU_pSuite s;
	int rc;

	CU_initialize_registry();
	s = CU_add_suite("nodes", NULL, NULL);
	CU_add_test(s, "bad Nodes refused, naming the object and field; nothing stored", test_nodes_refused);
	CU_add_test(s, "apply: trimmed, defaulted, routes touched; psw_k8s_nodes()", test_nodes_apply_and_read);
	CU_add_test(s, "replace and delete of Nodes", test_nodes_replace_and_delete);
	CU_add_test(s, "more Nodes than out holds: the first by name", test_nodes_bounded);
	rc = psw_ut_run();
	psw_k8s_clear(&st);
	return rc;
}
