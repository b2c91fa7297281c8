/*
 * externalTrafficPolicy Local and this node's pods, on a real control
 * state: Services and EndpointSlices applied through the API, the entries
 * and the conntrack table the control thread keeps. A Service's entries
 * for external addresses and NodePorts carry a second endpoint list for
 * pods (struct psw_svc_port.pods); what a change of the policy does to the
 * UDP connections already open is checked here.
 *
 * The node n1: uplink "up" (ring), address 192.168.50.1/24. The Service's
 * endpoints: 10.244.0.10 here, 10.244.1.10 on n2.
 */
#define PSW_UT_EAL
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <rte_cycles.h>
#include <rte_malloc.h>

#include "psw_apiops.h"
#include "psw_ct_ctl.h"
#include "psw_k8s.h"
#include "psw_neigh.h"
#include "psw_policy_ctl.h"
#include "psw_port.h"
#include "psw_service_ctl.h"
#include "psw_state.h"
#include "psw_ut.h"

static const char *config_text =
	"node = { name = \"n1\"; addresses = [ \"192.168.50.1/24\" ]; };\n"
	"ports = ( { name = \"up\"; kind = \"ring\"; uplink = true; } );\n"
	"workers = { cores = [ 0 ]; idle_sleep_us = 0; };\n";

#define SERVICE(policy)                                                                                      \
	"{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"dns\",\"namespace\":\"default\"}," \
	" \"spec\":{\"type\":\"NodePort\",\"externalTrafficPolicy\":\"" policy "\","                            \
	"          \"clusterIP\":\"10.96.0.53\",\"externalIPs\":[\"192.0.2.10\"],"                             \
	"          \"ports\":[{\"port\":53,\"protocol\":\"UDP\",\"targetPort\":5353,\"nodePort\":30053}]}}"

static const char *slice =
	"{\"apiVersion\":\"discovery.k8s.io/v1\",\"kind\":\"EndpointSlice\","
	" \"metadata\":{\"name\":\"dns-4\",\"namespace\":\"default\",\"labels\":{\"kubernetes.io/service-name\":\"dns\"}},"
	" \"addressType\":\"IPv4\",\"ports\":[{\"port\":5353,\"protocol\":\"UDP\"}],"
	" \"endpoints\":[{\"addresses\":[\"10.244.0.10\"],\"nodeName\":\"n1\",\"conditions\":{\"ready\":true}},"
	"               {\"addresses\":[\"10.244.1.10\"],\"nodeName\":\"n2\",\"conditions\":{\"ready\":true}}]}";

/* the same slice without the endpoint on n2 */
static const char *slice_here_only =
	"[{\"apiVersion\":\"discovery.k8s.io/v1\",\"kind\":\"EndpointSlice\","
	" \"metadata\":{\"name\":\"dns-4\",\"namespace\":\"default\",\"labels\":{\"kubernetes.io/service-name\":\"dns\"}},"
	" \"addressType\":\"IPv4\",\"ports\":[{\"port\":5353,\"protocol\":\"UDP\"}],"
	" \"endpoints\":[{\"addresses\":[\"10.244.0.10\"],\"nodeName\":\"n1\",\"conditions\":{\"ready\":true}}]}]";

static struct psw_state st;
static const uint8_t ext4[4] = { 192, 0, 2, 10 };
static const uint8_t here4[4] = { 10, 244, 0, 10 }, there4[4] = { 10, 244, 1, 10 };
static const uint8_t outside4[4] = { 198, 51, 100, 7 }, pod4[4] = { 10, 244, 0, 20 };
static const uint8_t outside4b[4] = { 198, 51, 100, 8 }, pod4b[4] = { 10, 244, 0, 21 };

static bool
apply(const char *objs)
{
	json_error_t je;
	json_t *args = json_pack("{s:o}", "objects", json_loads(objs, 0, &je)), *res;
	bool ok;

	res = psw_api_dispatch(&st, "apply", args);
	json_decref(args);
	ok = json_is_true(json_object_get(res, "ok"));
	if (!ok) {
		char *dump = json_dumps(res, 0);

		fprintf(stderr, "\n  apply: %s\n", dump ?: "?");
		free(dump);
	}
	json_decref(res);
	return ok;
}

static struct psw_svc_port *
entry(void)
{
	struct psw_svc_key k;

	memset(&k, 0, sizeof(k));
	k.family = 4;
	k.proto = IPPROTO_UDP;
	k.port = htons(53);
	memcpy(k.addr, ext4, 4);
	return psw_svc_table_get(st.svcs, &k);
}

/* A UDP connection of client:40000 to the external address, DNAT-ed to backend:5353 (as svc_connect opens it). */
static int
open_udp(uint32_t id, const uint8_t *client, const uint8_t *backend)
{
	struct psw_ct_key o, r;

	memset(&o, 0, sizeof(o));
	o.family = 4;
	o.proto = IPPROTO_UDP;
	o.sport = htons(40000);
	o.dport = htons(53);
	memcpy(o.src, client, 4);
	memcpy(o.dst, ext4, 4);
	memset(&r, 0, sizeof(r));
	r.family = 4;
	r.proto = IPPROTO_UDP;
	r.sport = htons(5353);
	r.dport = htons(40000);
	memcpy(r.src, backend, 4);
	memcpy(r.dst, client, 4);
	return psw_ct_insert(st.ct, &o, &r, id, 0, PSW_CT_F_DNAT, rte_rdtsc());
}

static bool
is_open(const uint8_t *client)
{
	struct psw_ct_key o;
	const struct psw_ct_key *kp = &o;
	uint32_t hit;

	memset(&o, 0, sizeof(o));
	o.family = 4;
	o.proto = IPPROTO_UDP;
	o.sport = htons(40000);
	o.dport = htons(53);
	memcpy(o.src, client, 4);
	memcpy(o.dst, ext4, 4);
	psw_ct_lookup(st.ct, &kp, 1, &hit);
	return hit != UINT32_MAX;
}

/*
 * Local -> Cluster: every endpoint stays an endpoint of the Service port
 * (the outside client's one here is now among all; the pod's was already
 * in the pods' list). Nothing left, so nothing is flushed: the UDP flows
 * keep their backends, as they did before the pods' list existed.
 */
static void
test_local_to_cluster_keeps_udp_flows(void)
{
	struct psw_svc_port *e;

	e = entry();
	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	CU_ASSERT_PTR_NOT_NULL_FATAL(e->pods);
	CU_ASSERT_EQUAL(e->nb_backends, 1);
	CU_ASSERT_EQUAL(e->pods->nb_backends, 2);
	CU_ASSERT(open_udp(e->id, outside4, here4) >= 0);   /* from outside: the local endpoint */
	CU_ASSERT(open_udp(e->id, pod4, there4) >= 0);      /* this node's pod: the one on n2 */
	CU_ASSERT_FATAL(apply("[" SERVICE("Cluster") "]"));
	e = entry();
	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	CU_ASSERT_PTR_NULL(e->pods);
	CU_ASSERT_EQUAL(e->nb_backends, 2);
	CU_ASSERT_TRUE(is_open(outside4));
	CU_ASSERT_TRUE(is_open(pod4));
}

/*
 * Cluster -> Local: the endpoint on n2 is no longer the outside client's,
 * but it is still this node's pods' (struct psw_svc_port.pods): a pod's
 * UDP flow to it has nothing to be flushed for.
 */
static void
test_cluster_to_local_keeps_pods_flows(void)
{
	struct psw_svc_port *e = entry();

	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	CU_ASSERT_PTR_NULL_FATAL(e->pods);        /* Cluster, from the test before */
	CU_ASSERT(open_udp(e->id, outside4b, here4) >= 0);
	CU_ASSERT(open_udp(e->id, pod4b, there4) >= 0);
	CU_ASSERT_FATAL(apply("[" SERVICE("Local") "]"));
	e = entry();
	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	CU_ASSERT_PTR_NOT_NULL_FATAL(e->pods);
	CU_ASSERT_TRUE(is_open(outside4b));
	CU_ASSERT_TRUE(is_open(pod4b));
}

/* An endpoint that leaves the Service: its UDP flows go, from either list; the others stay. */
static void
test_endpoint_leaving_is_flushed(void)
{
	struct psw_svc_port *e;

	CU_ASSERT_FATAL(apply(slice_here_only));
	e = entry();
	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	CU_ASSERT_PTR_NOT_NULL_FATAL(e->pods);
	CU_ASSERT_EQUAL(e->pods->nb_backends, 1);
	CU_ASSERT_FALSE(is_open(pod4));            /* to 10.244.1.10 */
	CU_ASSERT_FALSE(is_open(pod4b));
	CU_ASSERT_TRUE(is_open(outside4));         /* to 10.244.0.10 */
	CU_ASSERT_TRUE(is_open(outside4b));
}

int
main(void)
{
	struct psw_config cfg;
	char err[PSW_ERR_MAX];
	struct rte_mempool *mp;
	CU_pSuite s;
	char objs[4096];
	int rc;

	mp = psw_ut_eal("localpods", 1024);
	if (mp == NULL)
		return 1;
	psw_port_layer_init(&(struct psw_port_env){ .nb_workers = 1, .rx_desc = 256,
						    .tx_desc = 256, .mbufs = 512 });
	st.nb_workers = 1;
	st.lcores[0] = rte_zmalloc("lc", sizeof(struct psw_lcore), RTE_CACHE_LINE_SIZE);
	st.ct = psw_ct_create(4096, (int)rte_socket_id(), psw_tables_qsbr());
	st.svcs = psw_svc_table_create(64, (int)rte_socket_id());
	st.pol = calloc(1, sizeof(*st.pol));
	st.neigh = psw_neigh_create();
	if (st.lcores[0] == NULL || st.ct == NULL || st.svcs == NULL || st.pol == NULL || st.neigh == NULL)
		return 1;
	psw_lcore_init(st.lcores[0]);
	if (psw_config_parse(config_text, "<test>", &cfg, err, sizeof(err)) < 0 ||
	    psw_state_apply(&st, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "test_local_pods: %s\n", err);
		return 1;
	}
	snprintf(objs, sizeof(objs), "[%s,%s]", SERVICE("Local"), slice);
	if (!apply(objs))
		return 1;
	CU_initialize_registry();
	s = CU_add_suite("externalTrafficPolicy Local and this node's pods (control thread)", NULL, NULL);
	CU_add_test(s, "Local -> Cluster: UDP flows to endpoints that stay are kept",
		    test_local_to_cluster_keeps_udp_flows);
	CU_add_test(s, "Cluster -> Local: the pods' UDP flows to an endpoint elsewhere are kept",
		    test_cluster_to_local_keeps_pods_flows);
	CU_add_test(s, "an endpoint leaves: its UDP flows are flushed, the others kept",
		    test_endpoint_leaving_is_flushed);
	rc = psw_ut_run();
	psw_state_fini(&st);
	rte_free(st.lcores[0]);
	psw_ut_eal_fini();
	return rc;
}
