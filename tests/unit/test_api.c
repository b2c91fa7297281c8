/*
 * API codec, manifest parsing and Kubernetes validation/defaulting, without
 * EAL or a daemon. Invalid input first, then function.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "psw_api.h"
#include "psw_k8s.h"
#include "psw_k8s_validate.h"
#include "psw_manifest.h"
#include "psw_ut.h"

/* ------------------------------------------------------------- API codec */

static void
expect_bad_request(const char *line, const char *code, const char *text)
{
	const char *op = NULL;
	json_t *args = NULL, *err = NULL;
	json_t *req = psw_api_parse_request(line, strlen(line), &op, &args, &err);

	CU_ASSERT_PTR_NULL(req);
	CU_ASSERT_PTR_NOT_NULL_FATAL(err);
	CU_ASSERT(json_is_false(json_object_get(err, "ok")));
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_object_get(err, "error"), "code")),
			       code);
	CU_ASSERT_PTR_NOT_NULL(strstr(json_string_value(json_object_get(json_object_get(err, "error"),
									  "message")), text));
	json_decref(err);
	json_decref(req);
}

static void
test_api_bad_requests(void)
{
	expect_bad_request("garbage", PSW_API_E_BAD_REQUEST, "not JSON");
	expect_bad_request("{\"api\":1,\"op\":", PSW_API_E_BAD_REQUEST, "not JSON");   /* truncated */
	expect_bad_request("[1,2]", PSW_API_E_BAD_REQUEST, "must be a JSON object");
	expect_bad_request("{\"op\":\"status\"}", PSW_API_E_BAD_REQUEST, "'api'");
	expect_bad_request("{\"api\":\"1\",\"op\":\"status\"}", PSW_API_E_BAD_REQUEST, "'api'");
	expect_bad_request("{\"api\":7,\"op\":\"status\"}", PSW_API_E_VERSION, "api version 7");
	expect_bad_request("{\"api\":1}", PSW_API_E_BAD_REQUEST, "'op'");
	expect_bad_request("{\"api\":1,\"op\":3}", PSW_API_E_BAD_REQUEST, "'op'");
	expect_bad_request("{\"api\":1,\"op\":\"get\",\"args\":[]}", PSW_API_E_BAD_REQUEST, "'args'");
	expect_bad_request("{\"api\":1,\"op\":\"a\",\"op\":\"b\"}", PSW_API_E_BAD_REQUEST, "duplicate");
}

static void
test_api_round_trip(void)
{
	json_t *req = psw_api_request("get", json_pack("{s:s}", "kind", "pods")), *parsed, *args, *err;
	const char *op;
	size_t len;
	char *line = psw_api_encode(req, &len), errbuf[64];

	CU_ASSERT_PTR_NOT_NULL_FATAL(line);
	CU_ASSERT_EQUAL(line[len - 1], '\n');
	CU_ASSERT_PTR_NULL(memchr(line, '\n', len - 1));          /* one line */
	parsed = psw_api_parse_request(line, len - 1, &op, &args, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(parsed);
	CU_ASSERT_STRING_EQUAL(op, "get");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(args, "kind")), "pods");
	json_decref(parsed);
	free(line);
	json_decref(req);

	/* args may be absent: an empty object is supplied */
	parsed = psw_api_parse_request("{\"api\":1,\"op\":\"status\"}", 23, &op, &args, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(parsed);
	CU_ASSERT(json_is_object(args) && json_object_size(args) == 0);
	json_decref(parsed);

	req = psw_api_error(PSW_API_E_NOT_FOUND, "no %s", "thing");
	CU_ASSERT_PTR_NULL(psw_api_result(req, errbuf, sizeof(errbuf)));
	CU_ASSERT_STRING_EQUAL(errbuf, "no thing");
	json_decref(req);
	/* a message cut inside a UTF-8 character (a long name at the buffer's end) still goes out */
	{
		char longname[1100];

		memset(longname, 'x', sizeof(longname) - 1);
		longname[sizeof(longname) - 1] = '\0';
		memcpy(longname + 1015, "\xc3\xa9\xc3\xa9\xc3\xa9", 6);
		req = psw_api_error(PSW_API_E_INVALID, "name %s", longname);
		CU_ASSERT_PTR_NOT_NULL_FATAL(req);
		CU_ASSERT_PTR_NULL(psw_api_result(req, errbuf, sizeof(errbuf)));
		CU_ASSERT_PTR_NOT_NULL(strstr(errbuf, "name xxx"));
		json_decref(req);
	}
	req = psw_api_ok(json_pack("{s:i}", "n", 3));
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(psw_api_result(req, errbuf, sizeof(errbuf)),
							   "n")), 3);
	json_decref(req);
	/* no daemon there: a clear message, no crash */
	CU_ASSERT_PTR_NULL(psw_api_call("/nonexistent/psw.sock", "status", NULL, errbuf, sizeof(errbuf)));
	CU_ASSERT_PTR_NOT_NULL(strstr(errbuf, "cannot connect"));
}

/* ------------------------------------------------------------ manifests */

static json_t *
parse(const char *text, char *err)
{
	return psw_manifest_parse(text, strlen(text), "m.yaml", err, 512);
}

static void
test_manifest_bad(void)
{
	char err[512];

	CU_ASSERT_PTR_NULL(parse("a: [1, 2\n", err));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "m.yaml: line"));
	CU_ASSERT_PTR_NULL(parse("a: 1\na: 2\n", err));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "duplicate key 'a'"));
	CU_ASSERT_PTR_NULL(parse("? [a]\n: 1\n", err));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "keys must be scalars"));
	CU_ASSERT_PTR_NULL(parse("a:\n\tb: 1\n", err));                /* tab indentation */
}

static void
test_manifest_documents(void)
{
	char err[512];
	json_t *docs = parse("---\n# nothing\n---\nkind: A\nn: 5\nf: 1.5\nt: true\nz: ~\ns: '5'\n"
			     "p: 0755x\n---\n{\"kind\": \"B\", \"x\": [1, \"y\"]}\n---\n", err);

	CU_ASSERT_PTR_NOT_NULL_FATAL(docs);
	CU_ASSERT_EQUAL(json_array_size(docs), 2);
	json_t *a = json_array_get(docs, 0), *b = json_array_get(docs, 1);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(a, "n")), 5);
	CU_ASSERT(json_is_real(json_object_get(a, "f")));
	CU_ASSERT(json_is_true(json_object_get(a, "t")));
	CU_ASSERT(json_is_null(json_object_get(a, "z")));
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(a, "s")), "5");    /* quoted */
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(a, "p")), "0755x");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(b, "kind")), "B");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(json_object_get(b, "x"), 1)), "y");
	json_decref(docs);
}

/* ------------------------------------------------------ validation, defaulting */

static json_t *
obj(const char *yaml)
{
	char err[512];
	json_t *docs = parse(yaml, err), *o;

	CU_ASSERT_PTR_NOT_NULL_FATAL(docs);
	o = json_incref(json_array_get(docs, 0));
	json_decref(docs);
	return o;
}

/* The object is refused with a message holding want. */
static void
refused(const char *yaml, const char *want)
{
	json_t *o = obj(yaml);
	char *err = psw_k8s_validate(o);

	CU_ASSERT_PTR_NOT_NULL(err);
	if (err != NULL && strstr(err, want) == NULL) {
		fprintf(stderr, "\n  message '%s' lacks '%s'\n", err, want);
		CU_FAIL("message lacks the expected text");
	}
	free(err);
	json_decref(o);
}

static json_t *
accepted(const char *yaml)
{
	json_t *o = obj(yaml);
	char *err = psw_k8s_validate(o);

	if (err != NULL)
		fprintf(stderr, "\n  refused: %s\n", err);
	CU_ASSERT_PTR_NULL(err);
	free(err);
	return o;
}

static void
test_k8s_invalid(void)
{
	refused("- 1\n", "must be a mapping");
	refused("apiVersion: v1\nmetadata: {name: x}\n", "kind: is required");
	refused("apiVersion: v1\nkind: Deployment\nmetadata: {name: x}\n", "'Deployment' is not supported");
	refused("apiVersion: v2\nkind: Pod\nmetadata: {name: x}\n", "apiVersion: must be v1");
	refused("apiVersion: v1\nkind: Pod\nmetadata: {}\n", "metadata.name: is required");
	refused("apiVersion: v1\nkind: Node\nmetadata: {name: '-n'}\n", "Node -n: metadata.name: must be a DNS subdomain");
	refused("apiVersion: v1\nkind: Node\nmetadata: {name: n}\nspec: {podCIDRs: [10.0.0.0/8, 'fd00::/64'], podCIDR: 'fd00::/64'}\n",
		"Node n: spec.podCIDR: 'fd00::/64' must be podCIDRs[0] ('10.0.0.0/8') when both are given");
	refused("apiVersion: v1\nkind: Node\nmetadata: {name: n}\nspec: {podCIDRs: ['fd00::/64', 'fd01::/64']}\n",
		"Node n: spec.podCIDRs: both entries are IPv6");
	refused("apiVersion: v1\nkind: Node\nmetadata: {name: n}\nstatus: {addresses: [{type: ExternalIP, address: 'fd00::1::2'}]}\n",
		"Node n: status.addresses[0].address: 'fd00::1::2' is not an IPv4 or IPv6 address");
	refused("apiVersion: v1\nkind: Node\nmetadata: {name: n}\nspec: [1]\n", "Node n: spec: must be an object");
	refused("apiVersion: v1\nkind: Pod\nmetadata: {name: Bad_Name}\n", "Pod default/Bad_Name: metadata.name");
	refused("apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: NS}\n", "metadata.namespace");
	refused("apiVersion: v1\nkind: Pod\nmetadata: {name: p, labels: {'-x': y}}\n", "not a valid label key");
	refused("apiVersion: v1\nkind: Pod\nmetadata: {name: p, labels: {app: 'a b'}}\n", "not a valid label value");
	refused("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{ports: [{containerPort: 0}]}]}\n",
		"spec.containers[0].ports[0].containerPort: must be an integer from 1 to 65535");
	refused("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{ports: [{containerPort: 80, protocol: ICMP}]}]}\n",
		"protocol: must be TCP, UDP or SCTP");
	refused("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{ports: [{containerPort: 80, name: Web_Port}]}]}\n",
		"ports[0].name: must be an IANA service name");
	refused("apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 80}, {port: 81}]}\n",
		"spec.ports[0].name: is required when a Service has more than one port");
	refused("apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {type: Magic, ports: [{port: 80}]}\n",
		"spec.type");
	refused("apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 80, targetPort: 'no_way'}]}\n",
		"targetPort");
	refused("apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {sessionAffinity: ClientIP, ports: [{port: 80}], sessionAffinityConfig: {clientIP: {timeoutSeconds: 0}}}\n",
		"timeoutSeconds");
	refused("apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {}\n", "at least one port");
	refused("apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: e}\nendpoints: []\n",
		"addressType");
	refused("apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: e}\naddressType: IPv4\nendpoints: [{addresses: ['fd00::1']}]\n",
		"endpoints[0].addresses[0]: must be an IPv4 address");
	refused("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: n}\nspec: {}\n",
		"spec.podSelector: is required");
	refused("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: n}\nspec: {podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8, except: [11.0.0.0/16]}}]}]}\n",
		"except[0]: must be a CIDR inside ipBlock.cidr");
	refused("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: n}\nspec: {podSelector: {}, ingress: [{ports: [{port: 100, endPort: 50}]}]}\n",
		"endPort");
	refused("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: n}\nspec: {podSelector: {matchExpressions: [{key: a, operator: In}]}}\n",
		"needs a non-empty values list");
	refused("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: n}\nspec: {podSelector: {}, policyTypes: [Sideways]}\n",
		"policyTypes");
}

/* A NetworkPolicy default/big with ingress rules of one ipBlock each (YAML would be slow to write). */
static json_t *
big_policy(unsigned nb_rules, unsigned nb_excepts)
{
	json_t *o = json_pack("{s:s, s:s, s:{s:s}, s:{s:{}, s:[]}}", "apiVersion", "networking.k8s.io/v1",
			      "kind", "NetworkPolicy", "metadata", "name", "big", "spec", "podSelector",
			      "ingress");
	json_t *ingress = json_object_get(json_object_get(o, "spec"), "ingress");
	unsigned r, i;

	for (r = 0; r < nb_rules; r++) {
		json_t *excepts = json_array();

		for (i = 0; i < nb_excepts; i++) {
			char buf[32];

			snprintf(buf, sizeof(buf), "10.%u.%u.%u/32", i >> 16 & 255, i >> 8 & 255, i & 255);
			json_array_append_new(excepts, json_string(buf));
		}
		json_array_append_new(ingress, json_pack("{s:[{s:{s:s, s:o}}]}", "from", "ipBlock", "cidr",
							 "10.0.0.0/8", "except", excepts));
	}
	return o;
}

static void
expect_refused(json_t *o, const char *want)
{
	char *err = psw_k8s_validate(o);

	CU_ASSERT_PTR_NOT_NULL(err);
	if (err != NULL && strstr(err, want) == NULL) {
		fprintf(stderr, "\n  message '%s' lacks '%s'\n", err, want);
		CU_FAIL("message lacks the expected text");
	}
	free(err);
	json_decref(o);
}

/* Lists of a NetworkPolicy are capped on apply, with the object and field path named. */
static void
test_k8s_policy_caps(void)
{
	json_t *o = big_policy(1, PSW_K8S_MAX_EXCEPTS);
	char *err = psw_k8s_validate(o);

	if (err != NULL)
		fprintf(stderr, "\n  refused: %s\n", err);
	CU_ASSERT_PTR_NULL(err);
	free(err);
	json_decref(o);
	expect_refused(big_policy(1, PSW_K8S_MAX_EXCEPTS + 1),
		       "NetworkPolicy default/big: spec.ingress[0].from[0].ipBlock.except: has 10001 "
		       "entries; podswitch accepts at most 10000");
	expect_refused(big_policy(1, 500000), "ipBlock.except: has 500000 entries");
	expect_refused(big_policy(PSW_K8S_MAX_POLICY_RULES + 1, 0),
		       "NetworkPolicy default/big: spec.ingress: has 1025 entries; podswitch accepts at most 1024");
	o = big_policy(1, 0);
	json_object_set_new(json_array_get(json_object_get(json_object_get(o, "spec"), "ingress"), 0),
			    "ports", json_string("80"));
	expect_refused(o, "spec.ingress[0].ports: must be a list");
	refused("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: n}\nspec: {podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8, except: 10.1.0.0/16}}]}]}\n",
		"ipBlock.except: must be a list");
	refused("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: n}\nspec: {podSelector: {matchExpressions: 3}}\n",
		"spec.podSelector.matchExpressions: must be a list");
}

static void
test_k8s_defaulting(void)
{
	json_t *o, *spec, *p;

	o = accepted("apiVersion: v1\nkind: Namespace\nmetadata: {name: prod, namespace: ignored}\n");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_object_get(json_object_get(o,
		"metadata"), "labels"), "kubernetes.io/metadata.name")), "prod");
	CU_ASSERT_PTR_NULL(json_object_get(json_object_get(o, "metadata"), "namespace"));
	json_decref(o);

	o = accepted("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{ports: [{containerPort: 8080, name: http}]}]}\n");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_object_get(o, "metadata"), "namespace")),
			       "default");
	p = json_array_get(json_object_get(json_array_get(json_object_get(json_object_get(o, "spec"),
		"containers"), 0), "ports"), 0);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(p, "protocol")), "TCP");
	json_decref(o);

	o = accepted("apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {sessionAffinity: ClientIP, type: NodePort, ports: [{port: 80}]}\n");
	spec = json_object_get(o, "spec");
	p = json_array_get(json_object_get(spec, "ports"), 0);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(p, "targetPort")), 80);   /* = port */
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(p, "protocol")), "TCP");
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_object_get(json_object_get(spec,
		"sessionAffinityConfig"), "clientIP"), "timeoutSeconds")), 10800);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(spec, "externalTrafficPolicy")), "Cluster");
	json_decref(o);

	o = accepted("apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 80, targetPort: http}]}\n");
	p = json_array_get(json_object_get(json_object_get(o, "spec"), "ports"), 0);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(p, "targetPort")), "http");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_object_get(o, "spec"), "type")),
			       "ClusterIP");
	json_decref(o);

	/* policyTypes: Ingress only without egress rules; Ingress+Egress with them */
	o = accepted("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: n}\nspec: {podSelector: {}, ingress: [{ports: [{port: 80}]}]}\n");
	spec = json_object_get(o, "spec");
	CU_ASSERT_EQUAL(json_array_size(json_object_get(spec, "policyTypes")), 1);
	p = json_array_get(json_object_get(json_array_get(json_object_get(spec, "ingress"), 0), "ports"), 0);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(p, "protocol")), "TCP");
	json_decref(o);
	o = accepted("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: n}\nspec: {podSelector: {}, egress: [{}]}\n");
	CU_ASSERT_EQUAL(json_array_size(json_object_get(json_object_get(o, "spec"), "policyTypes")), 2);
	json_decref(o);
	/* an empty egress list is not "egress rules" */
	o = accepted("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: n}\nspec: {podSelector: {}, egress: []}\n");
	CU_ASSERT_EQUAL(json_array_size(json_object_get(json_object_get(o, "spec"), "policyTypes")), 1);
	json_decref(o);
	/* Node: podCIDRs = [podCIDR], podCIDR = podCIDRs[0] ("" is unset), namespace cleared */
	o = accepted("apiVersion: v1\nkind: Node\nmetadata: {name: n1.example, namespace: default}\nspec: {podCIDR: 10.244.1.0/24}\n");
	spec = json_object_get(o, "spec");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(json_object_get(spec, "podCIDRs"), 0)),
			       "10.244.1.0/24");
	CU_ASSERT_EQUAL(json_array_size(json_object_get(spec, "podCIDRs")), 1);
	CU_ASSERT_PTR_NULL(json_object_get(json_object_get(o, "metadata"), "namespace"));
	json_decref(o);
	o = accepted("apiVersion: v1\nkind: Node\nmetadata: {name: n2}\nspec: {podCIDR: '', podCIDRs: ['fd00:1::/64', 10.244.2.0/24]}\n");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_object_get(o, "spec"), "podCIDR")),
			       "fd00:1::/64");
	json_decref(o);
	o = accepted("apiVersion: v1\nkind: Node\nmetadata: {name: n3}\nspec: {podCIDRs: []}\n");
	CU_ASSERT_EQUAL(json_object_size(json_object_get(o, "spec")), 0);
	json_decref(o);
	/* given policyTypes are kept */
	o = accepted("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: n}\nspec: {podSelector: {}, policyTypes: [Egress]}\n");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(json_object_get(json_object_get(o, "spec"),
		"policyTypes"), 0)), "Egress");
	json_decref(o);
}

static void
test_k8s_list_flattening(void)
{
	json_t *docs = obj("- {kind: List, items: [{kind: Pod}, {kind: List, items: [{kind: Service}]}]}\n- {kind: Namespace}\n");
	json_t *flat = psw_k8s_flatten(docs);

	CU_ASSERT_EQUAL(json_array_size(flat), 3);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_array_get(flat, 1), "kind")), "Service");
	json_decref(flat);
	json_decref(docs);
}

int
main(void)
{
	CU_pSuite s;
	unsigned failures;

	CU_initialize_registry();
	s = CU_add_suite("api", NULL, NULL);
	CU_add_test(s, "codec: malformed requests answered with errors", test_api_bad_requests);
	CU_add_test(s, "codec: round trip, results, no daemon", test_api_round_trip);
	CU_add_test(s, "manifest: syntax errors, duplicate keys", test_manifest_bad);
	CU_add_test(s, "manifest: documents and scalar types", test_manifest_documents);
	CU_add_test(s, "k8s: invalid objects named with their field path", test_k8s_invalid);
	CU_add_test(s, "k8s: NetworkPolicy lists capped, with the field path", test_k8s_policy_caps);
	CU_add_test(s, "k8s: API server defaulting", test_k8s_defaulting);
	CU_add_test(s, "k8s: kind List flattened", test_k8s_list_flattening);
	failures = (unsigned)psw_ut_run();
	return failures ? 1 : 0;
}
