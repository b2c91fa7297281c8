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

/* the endpoint here terminating (still serving), the one on n2 ready */
static const char *slice_here_terminating =
	"[{\"apiVersion\":\"discovery.k8s.io/v1\",\"kind\":\"EndpointSlice\","
	" \"metadata\":{\"name\":\"dns-4\",\"namespace\":\"default\",\"labels\":{\"kubernetes.io/service-name\":\"dns\"}},"
	" \"addressType\":\"IPv4\",\"ports\":[{\"port\":5353,\"protocol\":\"UDP\"}],"
	" \"endpoints\":[{\"addresses\":[\"10.244.0.10\"],\"nodeName\":\"n1\","
	"                  \"conditions\":{\"ready\":false,\"serving\":true,\"terminating\":true}},"
	"               {\"addresses\":[\"10.244.1.10\"],\"nodeName\":\"n2\",\"conditions\":{\"ready\":true}}]}]";

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

/* [a, a + len) inside [base, base + size)? */
static bool
inside(const void *base, size_t size, const void *a, size_t len)
{
	return (const uint8_t *)a >= (const uint8_t *)base && (const uint8_t *)a + len <= (const uint8_t *)base + size;
}

static bool
apart(const void *a, size_t alen, const void *b, size_t blen)
{
	return alen == 0 || blen == 0 || (const uint8_t *)a + alen <= (const uint8_t *)b ||
	       (const uint8_t *)b + blen <= (const uint8_t *)a;
}

/*
 * psw_svc_port_build's one allocation, with and without source ranges, 0,
 * few, many and the most backends in either list: every part inside it,
 * aligned, apart from the others, its content as given, every Maglev slot
 * a backend of its own list.
 */
static void
test_layout(void)
{
	static const unsigned nbs[] = { 0, 1, 3, 700 }, pnbs[] = { 0, 1, 5, 701, 65520 }, srcs[] = { 0, 1, 3 };
	static struct psw_svc_backend be[65520];
	struct psw_prefix src[3];
	unsigned a, b, c, i;

	for (i = 0; i < RTE_DIM(be); i++) {
		be[i].family = 4;
		be[i].local = (uint8_t)(i & 1);
		be[i].port = (uint16_t)i;
		memcpy(be[i].addr, &i, sizeof(i));
	}
	for (i = 0; i < RTE_DIM(src); i++) {
		memset(&src[i], 0xa0 + i, sizeof(src[i]));
		src[i].family = 4;
	}
	for (a = 0; a < RTE_DIM(nbs); a++)
		for (b = 0; b < RTE_DIM(pnbs) + 1; b++)
			for (c = 0; c < RTE_DIM(srcs); c++) {
				struct psw_svc_spec sp;
				struct psw_svc_port *p, *q;
				size_t size = 0;

				if (b < RTE_DIM(pnbs) && pnbs[b] == 65520 && (a > 1 || c > 0))
					continue;                    /* the largest once is enough */
				memset(&sp, 0, sizeof(sp));
				sp.key.family = 4;
				sp.key.proto = IPPROTO_TCP;
				sp.key.port = htons(80);
				sp.flags = PSW_SVC_F_LOCAL | PSW_SVC_F_AFFINITY;
				sp.affinity_s = 77;
				sp.backends = &be[1];
				sp.nb_backends = nbs[a];
				sp.src = src;
				sp.nb_src = srcs[c];
				if (b < RTE_DIM(pnbs)) {       /* else no pods' list */
					sp.pod_backends = be;
					sp.nb_pod_backends = pnbs[b];
				}
				p = psw_svc_port_build(&sp, 9, SOCKET_ID_ANY);
				CU_ASSERT_PTR_NOT_NULL_FATAL(p);
				CU_ASSERT_EQUAL_FATAL(rte_malloc_validate(p, &size), 0);
				CU_ASSERT(inside(p, size, p, sizeof(*p)));
				CU_ASSERT(inside(p, size, p->backends, nbs[a] * sizeof(*p->backends)));
				CU_ASSERT(inside(p, size, p->maglev, p->maglev_size * sizeof(uint16_t)));
				CU_ASSERT(inside(p, size, p->src, srcs[c] * sizeof(*p->src)));
				CU_ASSERT((uintptr_t)p->backends % 8 == 0 && (uintptr_t)p->src % 8 == 0);
				CU_ASSERT(apart(p->backends, nbs[a] * sizeof(*p->backends), p->maglev,
						p->maglev_size * sizeof(uint16_t)));
				CU_ASSERT(apart(p->maglev, p->maglev_size * sizeof(uint16_t), p->src,
						srcs[c] * sizeof(*p->src)));
				CU_ASSERT(p->nb_src == srcs[c] && memcmp(p->src, src, srcs[c] * sizeof(*src)) == 0);
				CU_ASSERT(p->nb_backends == nbs[a] &&
					  memcmp(p->backends, &be[1], nbs[a] * sizeof(*be)) == 0);
				for (i = 0; i < p->maglev_size; i++)
					if (p->maglev[i] >= p->nb_backends)
						break;
				CU_ASSERT_EQUAL(i, p->maglev_size);
				if (b == RTE_DIM(pnbs)) {
					CU_ASSERT_PTR_NULL(p->pods);
					rte_free(p);
					continue;
				}
				q = p->pods;
				CU_ASSERT_PTR_NOT_NULL_FATAL(q);
				CU_ASSERT((uintptr_t)q % 8 == 0 && (uintptr_t)q->backends % 8 == 0);
				CU_ASSERT(inside(p, size, q, sizeof(*q)));
				CU_ASSERT(inside(p, size, q->backends, pnbs[b] * sizeof(*q->backends)));
				CU_ASSERT(inside(p, size, q->maglev, q->maglev_size * sizeof(uint16_t)));
				CU_ASSERT(apart(q, sizeof(*q), p->src, srcs[c] * sizeof(*p->src)));
				CU_ASSERT(apart(q, sizeof(*q), p->maglev, p->maglev_size * sizeof(uint16_t)));
				CU_ASSERT(apart(q->backends, pnbs[b] * sizeof(*be), q->maglev,
						q->maglev_size * sizeof(uint16_t)));
				CU_ASSERT(q->nb_backends == pnbs[b] &&
					  memcmp(q->backends, be, pnbs[b] * sizeof(*be)) == 0);
				CU_ASSERT(q->id == p->id && q->affinity_s == 77 && q->cslot == p->cslot &&
					  q->nb_src == 0 && q->pods == NULL);
				CU_ASSERT(q->flags == (PSW_SVC_F_REJECT | PSW_SVC_F_AFFINITY));
				for (i = 0; i < q->maglev_size; i++)
					if (q->maglev[i] >= q->nb_backends)
						break;
				CU_ASSERT_EQUAL(i, q->maglev_size);
				rte_free(p);
			}
	/* one past the most: refused, whichever list */
	{
		struct psw_svc_spec sp;

		memset(&sp, 0, sizeof(sp));
		sp.key.family = 4;
		sp.backends = be;
		sp.pod_backends = be;
		sp.nb_pod_backends = 65521;
		CU_ASSERT_PTR_NULL(psw_svc_port_build(&sp, 0, SOCKET_ID_ANY));
	}
}

/*
 * The endpoint here terminates (serving, not ready) while the one on n2 is
 * ready: clients from outside (policy Local) keep the draining local one,
 * as kube-proxy falls back per policy to serving, terminating endpoints;
 * this node's pods (every endpoint) get the ready one on n2.
 */
static void
test_local_fallback_to_terminating(void)
{
	struct psw_svc_port *e;

	CU_ASSERT_FATAL(apply(slice_here_terminating));
	e = entry();
	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	CU_ASSERT_PTR_NOT_NULL_FATAL(e->pods);
	CU_ASSERT_TRUE(e->flags & PSW_SVC_F_LOCAL);
	CU_ASSERT_EQUAL_FATAL(e->nb_backends, 1);
	CU_ASSERT_EQUAL(memcmp(e->backends[0].addr, here4, 4), 0);
	CU_ASSERT_EQUAL_FATAL(e->pods->nb_backends, 1);
	CU_ASSERT_EQUAL(memcmp(e->pods->backends[0].addr, there4, 4), 0);
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
	CU_add_test(s, "an entry's one allocation: both lists, source ranges, 0 to the most backends", test_layout);
	CU_add_test(s, "Local -> Cluster: UDP flows to endpoints that stay are kept",
		    test_local_to_cluster_keeps_udp_flows);
	CU_add_test(s, "Cluster -> Local: the pods' UDP flows to an endpoint elsewhere are kept",
		    test_cluster_to_local_keeps_pods_flows);
	CU_add_test(s, "an endpoint leaves: its UDP flows are flushed, the others kept",
		    test_endpoint_leaving_is_flushed);
	CU_add_test(s, "Local: a terminating endpoint here serves outside clients, pods get the ready one",
		    test_local_fallback_to_terminating);
	rc = psw_ut_run();
	psw_state_fini(&st);
	rte_free(st.lcores[0]);
	psw_ut_eal_fini();
	return rc;
}
