/*
 * The change pipeline (ctl/psw_change.h) on a real control state: two ring
 * ports with a configured pod each, the API's apply and delete. A change
 * that fails while compiling, or while publishing after part of it is in
 * force, leaves the store and the published tables as they were, and the
 * caller gets the error.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <rte_lcore.h>
#include <rte_malloc.h>

#define PSW_UT_EAL
#include "psw_apiops.h"
#include "psw_ct_ctl.h"
#include "psw_k8s.h"
#include "psw_policy.h"
#include "psw_policy_ctl.h"
#include "psw_port.h"
#include "psw_service_ctl.h"
#include "psw_state.h"
#include "psw_ut.h"

/* a table of 64 Service entries: small enough to fill in a test */
#define SVC_TABLE 64

static const char *config_text =
	"ports = ( { name = \"ra\"; kind = \"ring\"; }, { name = \"rb\"; kind = \"ring\"; } );\n"
	"pods = ( { name = \"a\"; port = \"ra\"; mac = \"02:00:00:00:00:0a\"; ip = \"10.244.0.10\"; },\n"
	"         { name = \"b\"; port = \"rb\"; mac = \"02:00:00:00:00:0b\"; ip = \"10.244.0.11\"; } );\n"
	"workers = { cores = [ 0 ]; idle_sleep_us = 0; };\n";

static struct psw_state st;
static int port_b;

static json_t *
call(const char *op, const char *objects_json)
{
	json_error_t je;
	json_t *objs = json_loads(objects_json, 0, &je), *args, *res;

	CU_ASSERT_PTR_NOT_NULL_FATAL(objs);
	args = json_pack("{s:o}", "objects", objs);
	res = psw_api_dispatch(&st, op, args);
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

static const char *
code(json_t *res)
{
	return json_string_value(json_object_get(json_object_get(res, "error"), "code")) ?: "";
}

static struct psw_svc_port *
svc_entry(const char *ip, uint16_t port)
{
	struct psw_svc_key k;

	memset(&k, 0, sizeof(k));
	k.family = 4;
	k.proto = IPPROTO_TCP;
	k.port = htons(port);
	CU_ASSERT_EQUAL_FATAL(inet_pton(AF_INET, ip, k.addr), 1);
	return psw_svc_table_get(st.svcs, &k);
}

static const char *service_one =
	"[{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"one\",\"namespace\":\"default\"},"
	"  \"spec\":{\"clusterIP\":\"10.96.0.10\",\"ports\":[{\"port\":80}]}}]";

/* isolates pod b (every pod of default) for ingress, allows nothing */
#define DENY_ALL \
	"{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"NetworkPolicy\"," \
	" \"metadata\":{\"name\":\"deny\",\"namespace\":\"default\"}," \
	" \"spec\":{\"podSelector\":{},\"policyTypes\":[\"Ingress\"]}}"

static void
test_change_commits_in_order(void)
{
	json_t *res = call("apply", service_one);

	CU_ASSERT_FATAL(ok(res));
	json_decref(res);
	CU_ASSERT_PTR_NOT_NULL(svc_entry("10.96.0.10", 80));
	CU_ASSERT_PTR_NULL(st.pol->ports[port_b]);

	res = call("apply", "[" DENY_ALL "]");
	CU_ASSERT(ok(res));
	json_decref(res);
	CU_ASSERT_PTR_NOT_NULL(st.pol->ports[port_b]);
	CU_ASSERT(st.pol->ports[port_b] != NULL && st.pol->ports[port_b]->isolated[PSW_POL_INGRESS]);

	res = call("delete", "[" DENY_ALL "]");
	CU_ASSERT(ok(res));
	json_decref(res);
	CU_ASSERT_PTR_NULL(st.pol->ports[port_b]);
	CU_ASSERT_PTR_NULL(psw_k8s_find(&st, "NetworkPolicy", "default", "deny"));
}

/* Two Services on one address: found while compiling, so nothing is published. */
static void
test_change_compile_failure(void)
{
	struct psw_svc_port *one = svc_entry("10.96.0.10", 80);
	uint64_t version = psw_tables_current->version;
	json_t *res = call("apply", "[" DENY_ALL ","
		"{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"x\",\"namespace\":\"default\"},"
		" \"spec\":{\"clusterIP\":\"10.96.0.20\",\"externalIPs\":[\"192.0.2.1\"],\"ports\":[{\"port\":80}]}},"
		"{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"y\",\"namespace\":\"default\"},"
		" \"spec\":{\"clusterIP\":\"10.96.0.21\",\"externalIPs\":[\"192.0.2.1\"],\"ports\":[{\"port\":80}]}}]");

	CU_ASSERT_FALSE(ok(res));
	CU_ASSERT_STRING_EQUAL(code(res), "invalid");
	CU_ASSERT_PTR_NOT_NULL(strstr(message(res), "claim the same address and port"));
	CU_ASSERT_PTR_NOT_NULL(strstr(message(res), "nothing was changed"));
	json_decref(res);
	/* the store and every published table as before */
	CU_ASSERT_PTR_NULL(psw_k8s_find(&st, "NetworkPolicy", "default", "deny"));
	CU_ASSERT_PTR_NULL(psw_k8s_find(&st, "Service", "default", "x"));
	CU_ASSERT_PTR_NULL(st.pol->ports[port_b]);
	CU_ASSERT_PTR_NULL(svc_entry("192.0.2.1", 80));
	CU_ASSERT_PTR_NULL(svc_entry("10.96.0.20", 80));
	CU_ASSERT_PTR_EQUAL(svc_entry("10.96.0.10", 80), one);
	CU_ASSERT_EQUAL(psw_tables_current->version, version);
}

/*
 * A NetworkPolicy that compiles to more rules than a pod may have: the
 * change is refused with the reason, and pod b stays as it was (not
 * isolated) rather than being published as "allows nothing".
 */
static void
test_change_too_many_rules(void)
{
	uint64_t version = psw_tables_current->version;
	static char objs[65536];
	size_t n;
	unsigned i;
	json_t *res;

	n = (size_t)snprintf(objs, sizeof(objs),
		"[{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"NetworkPolicy\","
		" \"metadata\":{\"name\":\"huge\",\"namespace\":\"default\"},"
		" \"spec\":{\"podSelector\":{},\"ingress\":[{\"from\":[{\"ipBlock\":{"
		"\"cidr\":\"10.0.0.0/8\",\"except\":[");
	/* 150 single addresses cut the block into about 1,400 prefixes */
	for (i = 0; i < 150; i++)
		n += (size_t)snprintf(objs + n, sizeof(objs) - n, "%s\"10.%u.%u.1/32\"", i ? "," : "",
				      i / 100, i % 100);
	n += (size_t)snprintf(objs + n, sizeof(objs) - n, "]}}],\"ports\":[");
	/* times 1,024 ports: past PSW_NETPOL_MAX_RULES */
	for (i = 0; i < 1024; i++)
		n += (size_t)snprintf(objs + n, sizeof(objs) - n, "%s{\"port\":%u}", i ? "," : "", 1 + i);
	snprintf(objs + n, sizeof(objs) - n, "]}]}}]");
	CU_ASSERT_FATAL(n < sizeof(objs) - 16);
	res = call("apply", objs);
	CU_ASSERT_FALSE(ok(res));
	CU_ASSERT_STRING_EQUAL(code(res), "invalid");
	CU_ASSERT_PTR_NOT_NULL(strstr(message(res), "compile to more than"));
	CU_ASSERT_PTR_NOT_NULL(strstr(message(res), "default/huge"));
	json_decref(res);
	CU_ASSERT_PTR_NULL(psw_k8s_find(&st, "NetworkPolicy", "default", "huge"));
	CU_ASSERT_PTR_NULL(st.pol->ports[port_b]);
	CU_ASSERT_EQUAL(psw_tables_current->version, version);
}

/*
 * A change the Service table cannot take is refused while compiling, with
 * the policy of the same change: nothing of it is published, and the store
 * is as before. (Publishing a Service plan once failed half-way here and
 * left the store and the tables apart.)
 */
static void
test_change_service_table_full(void)
{
	struct psw_svc_port *one = svc_entry("10.96.0.10", 80);
	uint64_t version = psw_tables_current->version;
	char objs[16384];
	size_t n;
	unsigned i;
	json_t *res;

	n = (size_t)snprintf(objs, sizeof(objs), "[" DENY_ALL ","
		"{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"big\",\"namespace\":\"default\"},"
		" \"spec\":{\"clusterIP\":\"10.96.0.30\",\"ports\":[");
	for (i = 0; i < SVC_TABLE + 8; i++)
		n += (size_t)snprintf(objs + n, sizeof(objs) - n, "%s{\"name\":\"p%u\",\"port\":%u}",
				      i ? "," : "", i, 1000 + i);
	snprintf(objs + n, sizeof(objs) - n, "]}}]");
	res = call("apply", objs);
	CU_ASSERT_FALSE(ok(res));
	CU_ASSERT_STRING_EQUAL(code(res), "no_resources");
	CU_ASSERT_PTR_NOT_NULL(strstr(message(res), "Service table is full"));
	CU_ASSERT_PTR_NULL(strstr(message(res), "putting the old state back"));
	json_decref(res);
	CU_ASSERT_PTR_NULL(psw_k8s_find(&st, "NetworkPolicy", "default", "deny"));
	CU_ASSERT_PTR_NULL(psw_k8s_find(&st, "Service", "default", "big"));
	CU_ASSERT_PTR_NULL(st.pol->ports[port_b]);
	for (i = 0; i < SVC_TABLE + 8; i++)
		CU_ASSERT_PTR_NULL(svc_entry("10.96.0.30", (uint16_t)(1000 + i)));
	CU_ASSERT_PTR_EQUAL(svc_entry("10.96.0.10", 80), one);
	CU_ASSERT_EQUAL(psw_tables_current->version, version);

	/* and the switch takes the next change as usual */
	res = call("apply", "[" DENY_ALL "]");
	CU_ASSERT(ok(res));
	json_decref(res);
	CU_ASSERT_PTR_NOT_NULL(st.pol->ports[port_b]);
	res = call("delete", "[" DENY_ALL "]");
	CU_ASSERT(ok(res));
	json_decref(res);
}

/*
 * The table exactly full; a Service moved from one port to another needs a
 * new slot before its old one is free: refused, and its old entry and
 * every other stay (a review found the old entry deleted and the store
 * saying it was still there).
 */
static void
test_change_full_table_port_move(void)
{
	struct psw_svc_port *one = svc_entry("10.96.0.10", 80);
	char objs[16384];
	size_t n;
	unsigned i, fill = st.svcs->capacity - st.svcs->nb_ports - st.svcs->nb_held;
	json_t *res, *svc_one;

	CU_ASSERT_FATAL(one != NULL && fill > 0 && fill < 200);
	n = (size_t)snprintf(objs, sizeof(objs),
		"[{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"fill\",\"namespace\":\"default\"},"
		" \"spec\":{\"clusterIP\":\"10.96.0.40\",\"ports\":[");
	for (i = 0; i < fill; i++)
		n += (size_t)snprintf(objs + n, sizeof(objs) - n, "%s{\"name\":\"p%u\",\"port\":%u}",
				      i ? "," : "", i, 2000 + i);
	snprintf(objs + n, sizeof(objs) - n, "]}}]");
	res = call("apply", objs);
	CU_ASSERT_FATAL(ok(res));
	json_decref(res);
	CU_ASSERT_EQUAL(psw_svc_table_room(st.svcs), 0);

	res = call("apply", "[{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"one\","
		   "\"namespace\":\"default\"},\"spec\":{\"clusterIP\":\"10.96.0.10\",\"ports\":[{\"port\":81}]}}]");
	CU_ASSERT_FALSE(ok(res));
	CU_ASSERT_PTR_NOT_NULL(strstr(message(res), "Service table is full"));
	json_decref(res);
	CU_ASSERT_PTR_EQUAL(svc_entry("10.96.0.10", 80), one);
	CU_ASSERT_PTR_NULL(svc_entry("10.96.0.10", 81));
	CU_ASSERT_PTR_NOT_NULL(svc_entry("10.96.0.40", 2000));
	CU_ASSERT_PTR_NOT_NULL(svc_entry("10.96.0.40", (uint16_t)(2000 + fill - 1)));
	svc_one = psw_k8s_find(&st, "Service", "default", "one");    /* the store: still port 80 */
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_array_get(json_object_get(
		json_object_get(svc_one, "spec"), "ports"), 0), "port")), 80);

	/* with the fill gone, and its slots past their grace period, the move works */
	res = call("delete", "[{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"fill\","
		   "\"namespace\":\"default\"}}]");
	CU_ASSERT(ok(res));
	json_decref(res);
	psw_tables_sync();
	psw_tables_reclaim();
	CU_ASSERT_EQUAL(st.svcs->nb_held, 0);
	res = call("apply", "[{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"one\","
		   "\"namespace\":\"default\"},\"spec\":{\"clusterIP\":\"10.96.0.10\",\"ports\":[{\"port\":81}]}}]");
	CU_ASSERT(ok(res));
	json_decref(res);
	CU_ASSERT_PTR_NULL(svc_entry("10.96.0.10", 80));
	CU_ASSERT_PTR_NOT_NULL(svc_entry("10.96.0.10", 81));
}

int
main(void)
{
	struct rte_mempool *mp = psw_ut_eal("change", 2048);
	struct psw_config cfg;
	char err[PSW_ERR_MAX];
	CU_pSuite s;
	int rc;

	if (mp == NULL)
		return 1;
	psw_port_layer_init(&(struct psw_port_env){ .nb_workers = 1, .rx_desc = 256,
						    .tx_desc = 256, .mbufs = 1024 });
	st.nb_workers = 1;
	st.lcores[0] = rte_zmalloc("lc", sizeof(struct psw_lcore), RTE_CACHE_LINE_SIZE);
	st.ct = psw_ct_create(4096, (int)rte_socket_id(), psw_tables_qsbr());
	st.svcs = psw_svc_table_create(SVC_TABLE, (int)rte_socket_id());
	st.pol = calloc(1, sizeof(*st.pol));
	if (st.lcores[0] == NULL || st.ct == NULL || st.svcs == NULL || st.pol == NULL)
		return 1;
	psw_lcore_init(st.lcores[0]);
	if (psw_config_parse(config_text, "<test>", &cfg, err, sizeof(err)) < 0 ||
	    psw_state_apply(&st, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "test_change: %s\n", err);
		return 1;
	}
	port_b = psw_port_find("rb");
	if (port_b < 0)
		return 1;
	CU_initialize_registry();
	s = CU_add_suite("change pipeline", NULL, NULL);
	CU_add_test(s, "apply and delete publish policy and Services", test_change_commits_in_order);
	CU_add_test(s, "failure while compiling: nothing published, store as before",
		    test_change_compile_failure);
	CU_add_test(s, "a policy past the rule limit is refused, not published closed",
		    test_change_too_many_rules);
	CU_add_test(s, "Service table full: refused while compiling, nothing published",
		    test_change_service_table_full);
	CU_add_test(s, "full table, a Service moving port: refused, its entry kept",
		    test_change_full_table_port_move);
	rc = psw_ut_run();
	psw_state_fini(&st);
	psw_ut_eal_fini();
	return rc;
}
