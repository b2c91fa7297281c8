/*
 * healthCheckNodePort end to end on a real control state: Services and
 * EndpointSlices applied through the API, a client's segments through the
 * worker pipeline (psw_worker_process) on a ring uplink, the punts handed
 * to the control thread (psw_state_neigh_poll -> psw_health_input), its
 * answers taken from the worker's inject ring and checked field by field:
 * the handshake, the HTTP answer and the FIN, over IPv4 and IPv6 alike.
 * Segments the exchange must not answer are shown to get nothing.
 *
 * The node n1: uplink "up" (ring), node addresses 192.168.50.1/24 and
 * fd00:50::1/64. The client: 192.168.50.2 / fd00:50::2.
 */
#define PSW_UT_EAL
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <rte_malloc.h>
#include <rte_ring.h>
#include <rte_tcp.h>

#include "pkt_build.h"
#include "psw_apiops.h"
#include "psw_ct_ctl.h"
#include "psw_k8s.h"
#include "psw_neigh.h"
#include "psw_policy_ctl.h"
#include "psw_port.h"
#include "psw_service_ctl.h"
#include "psw_state.h"
#include "psw_ut.h"
#include "psw_worker.h"

static const char *config_text =
	"node = { name = \"n1\"; addresses = [ \"192.168.50.1/24\", \"fd00:50::1/64\" ]; };\n"
	"ports = ( { name = \"up\"; kind = \"ring\"; uplink = true; } );\n"
	"workers = { cores = [ 0 ]; idle_sleep_us = 0; };\n";

/* hc: dual-stack, one endpoint here and one on n2 per family; hc4: IPv4 only */
static const char *objects =
	"[{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"hc\",\"namespace\":\"default\"},"
	"  \"spec\":{\"type\":\"LoadBalancer\",\"externalTrafficPolicy\":\"Local\","
	"           \"ipFamilyPolicy\":\"RequireDualStack\",\"ipFamilies\":[\"IPv4\",\"IPv6\"],"
	"           \"ports\":[{\"port\":80,\"targetPort\":8080}]}},"
	" {\"apiVersion\":\"discovery.k8s.io/v1\",\"kind\":\"EndpointSlice\","
	"  \"metadata\":{\"name\":\"hc-4\",\"namespace\":\"default\",\"labels\":{\"kubernetes.io/service-name\":\"hc\"}},"
	"  \"addressType\":\"IPv4\",\"ports\":[{\"port\":8080,\"protocol\":\"TCP\"}],"
	"  \"endpoints\":[{\"addresses\":[\"10.244.0.10\"],\"nodeName\":\"n1\",\"conditions\":{\"ready\":true}},"
	"                {\"addresses\":[\"10.244.1.10\"],\"nodeName\":\"n2\",\"conditions\":{\"ready\":true}}]},"
	" {\"apiVersion\":\"discovery.k8s.io/v1\",\"kind\":\"EndpointSlice\","
	"  \"metadata\":{\"name\":\"hc-6\",\"namespace\":\"default\",\"labels\":{\"kubernetes.io/service-name\":\"hc\"}},"
	"  \"addressType\":\"IPv6\",\"ports\":[{\"port\":8080,\"protocol\":\"TCP\"}],"
	"  \"endpoints\":[{\"addresses\":[\"fd00:10:244::a\"],\"nodeName\":\"n1\",\"conditions\":{\"ready\":true}},"
	"                {\"addresses\":[\"fd00:10:244:1::a\"],\"nodeName\":\"n2\",\"conditions\":{\"ready\":true}}]},"
	" {\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"hc4\",\"namespace\":\"default\"},"
	"  \"spec\":{\"type\":\"LoadBalancer\",\"externalTrafficPolicy\":\"Local\","
	"           \"ports\":[{\"port\":81,\"targetPort\":8081}]}}]";

static struct rte_mempool *mp;
static struct psw_state st;
static int up;
static const uint8_t client_mac[6] = { 2, 0, 0, 0, 0x50, 0x02 };
static const uint8_t node4[4] = { 192, 168, 50, 1 }, client4[4] = { 192, 168, 50, 2 };
static const uint8_t node6[16] = { 0xfd, 0x00, 0, 0x50, [15] = 1 }, client6[16] = { 0xfd, 0x00, 0, 0x50, [15] = 2 };

static const char request[] = "GET /healthz HTTP/1.1\r\nHost: lb\r\n\r\n";

/* The healthCheckNodePort the API gave Service name. */
static uint16_t
hc_port(const char *name)
{
	json_t *svc = psw_k8s_find(&st, "Service", "default", name);
	json_int_t p = json_integer_value(json_object_get(json_object_get(svc, "spec"), "healthCheckNodePort"));

	CU_ASSERT_FATAL(p >= 30000 && p <= 32767);
	return (uint16_t)p;
}

static struct psw_svc_port *
entry(uint8_t family, const uint8_t *addr, uint16_t port)
{
	struct psw_svc_key k;

	memset(&k, 0, sizeof(k));
	k.family = family;
	k.proto = IPPROTO_TCP;
	k.port = htons(port);
	memcpy(k.addr, addr, family == 4 ? 4 : 16);
	return psw_svc_table_get(st.svcs, &k);
}

/* A segment of the client's to the node's address of family at dport: flags, numbers, data. */
static struct rte_mbuf *
segment(uint8_t family, uint16_t dport, uint8_t flags, uint32_t seq, uint32_t ack, const char *data)
{
	struct tpkt p;
	struct rte_mbuf *m;
	struct rte_tcp_hdr *th;
	unsigned len = data != NULL ? (unsigned)strlen(data) : 0, l3 = family == 4 ? 20 : 40;
	void *ip;

	tpkt_defaults(&p);
	p.proto = IPPROTO_TCP;
	p.ip6 = family == 6;
	p.sport = 40000;
	p.dport = dport;
	p.payload = (uint16_t)len;
	memcpy(p.src_mac, client_mac, 6);
	memcpy(p.dst_mac, &psw_ports[up].mac, 6);
	memcpy(&p.src4, client4, 4);
	memcpy(&p.dst4, node4, 4);
	p.src4 = ntohl(p.src4);
	p.dst4 = ntohl(p.dst4);
	memcpy(p.src6, client6, 16);
	memcpy(p.dst6, node6, 16);
	m = tpkt_build(mp, &p);
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	ip = rte_pktmbuf_mtod_offset(m, void *, 14);
	th = rte_pktmbuf_mtod_offset(m, struct rte_tcp_hdr *, 14 + l3);
	th->tcp_flags = flags;
	th->sent_seq = rte_cpu_to_be_32(seq);
	th->recv_ack = rte_cpu_to_be_32(ack);
	th->rx_win = RTE_BE16(64240);
	if (len > 0)
		memcpy(th + 1, data, len);
	th->cksum = 0;
	th->cksum = family == 4 ? rte_ipv4_udptcp_cksum(ip, th) : rte_ipv6_udptcp_cksum(ip, th);
	return m;
}

/*
 * m through the worker on the uplink: it must be punted as a health check
 * with cookie endpoints; then the control thread takes it. Its answer
 * (NULL: none).
 */
static struct rte_mbuf *
exchange(struct rte_mbuf *m, unsigned endpoints)
{
	struct psw_lcore *lc = st.lcores[0];
	struct psw_burst b = { .nb = 1 };
	struct rte_mbuf *out = NULL;

	b.pkts[0] = m;
	b.meta[0].in_port = (uint16_t)up;
	m->port = (uint16_t)up;
	psw_worker_process(lc, psw_tables_current, &b);
	if (b.meta[0].verdict != PSW_V_PUNT || (m->hash.fdir.hi & 0xffff) != PSW_PUNT_HEALTH ||
	    m->hash.fdir.lo != endpoints) {
		fprintf(stderr, "\n  not punted as a health check: verdict %u reason %s punt %u cookie %u\n",
			b.meta[0].verdict,
			b.meta[0].verdict == PSW_V_DROP ? psw_drop_name(b.meta[0].drop_reason) : "-",
			m->hash.fdir.hi & 0xffff, m->hash.fdir.lo);
		CU_FAIL("punt");
		if (b.meta[0].verdict != PSW_V_PUNT) {
			rte_pktmbuf_free(m);
			return NULL;
		}
	}
	psw_worker_dispatch(lc, &b);              /* onto the punt ring */
	psw_state_neigh_poll(&st, false);         /* the control thread answers */
	if (rte_ring_dequeue(lc->inject, (void **)&out) != 0)
		return NULL;
	CU_ASSERT_EQUAL(rte_ring_count(lc->inject), 0);
	return out;
}

/* The answer r: from the node to the client, flags, numbers; its data (NUL-terminated into text). */
static void
expect_answer(struct rte_mbuf *r, uint8_t family, uint16_t hc, uint8_t flags, uint32_t seq, uint32_t ack,
	      char *text, size_t text_len)
{
	const struct rte_ether_hdr *eth;
	const struct rte_tcp_hdr *th;
	unsigned l3 = family == 4 ? 20 : 40, dlen;
	const void *ip;

	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_EQUAL(r->port, up);
	eth = rte_pktmbuf_mtod(r, const struct rte_ether_hdr *);
	CU_ASSERT_EQUAL(memcmp(&eth->dst_addr, client_mac, 6), 0);
	CU_ASSERT(rte_is_same_ether_addr(&eth->src_addr, &psw_ports[up].mac));
	ip = eth + 1;
	th = (const struct rte_tcp_hdr *)((const uint8_t *)ip + l3);
	CU_ASSERT_FATAL(rte_pktmbuf_data_len(r) >= 14 + l3 + sizeof(*th));
	dlen = rte_pktmbuf_data_len(r) - 14 - l3 - sizeof(*th);
	if (family == 4) {
		const struct rte_ipv4_hdr *ip4 = ip;

		CU_ASSERT_EQUAL(eth->ether_type, RTE_BE16(RTE_ETHER_TYPE_IPV4));
		CU_ASSERT_EQUAL(memcmp(&ip4->src_addr, node4, 4), 0);
		CU_ASSERT_EQUAL(memcmp(&ip4->dst_addr, client4, 4), 0);
		CU_ASSERT_EQUAL(ip4->next_proto_id, IPPROTO_TCP);
		CU_ASSERT_EQUAL(rte_be_to_cpu_16(ip4->total_length), l3 + sizeof(*th) + dlen);
		CU_ASSERT_EQUAL(rte_raw_cksum(ip4, 20), 0xffff);
		CU_ASSERT_EQUAL(tpkt_ip4_cksum_verify(ip4, th), 0);
	} else {
		const struct rte_ipv6_hdr *ip6 = ip;

		CU_ASSERT_EQUAL(eth->ether_type, RTE_BE16(RTE_ETHER_TYPE_IPV6));
		CU_ASSERT_EQUAL(rte_be_to_cpu_32(ip6->vtc_flow) >> 28, 6);
		CU_ASSERT_EQUAL(memcmp(ip6->src_addr, node6, 16), 0);
		CU_ASSERT_EQUAL(memcmp(ip6->dst_addr, client6, 16), 0);
		CU_ASSERT_EQUAL(ip6->proto, IPPROTO_TCP);
		CU_ASSERT_EQUAL(ip6->hop_limits, 64);
		CU_ASSERT_EQUAL(rte_be_to_cpu_16(ip6->payload_len), sizeof(*th) + dlen);
		CU_ASSERT_EQUAL(tpkt_ip6_cksum_verify(ip6, th), 0);
	}
	CU_ASSERT_EQUAL(rte_be_to_cpu_16(th->src_port), hc);
	CU_ASSERT_EQUAL(rte_be_to_cpu_16(th->dst_port), 40000);
	CU_ASSERT_EQUAL(th->tcp_flags, flags);
	CU_ASSERT_EQUAL(rte_be_to_cpu_32(th->sent_seq), seq);
	CU_ASSERT_EQUAL(rte_be_to_cpu_32(th->recv_ack), ack);
	if (text != NULL) {
		size_t n = dlen < text_len - 1 ? dlen : text_len - 1;

		memcpy(text, th + 1, n);
		text[n] = '\0';
	} else {
		CU_ASSERT_EQUAL(dlen, 0);
	}
}

/* The Services' entries on the node's addresses: IPv6 ones for the Service with IPv6 only. */
static void
test_entries(void)
{
	uint16_t hc = hc_port("hc"), hc4 = hc_port("hc4");
	struct psw_svc_port *e4 = entry(4, node4, hc), *e6 = entry(6, node6, hc);

	CU_ASSERT_PTR_NOT_NULL_FATAL(e4);
	CU_ASSERT_PTR_NOT_NULL_FATAL(e6);
	CU_ASSERT(e4->flags & PSW_SVC_F_HEALTH);
	CU_ASSERT(e6->flags & PSW_SVC_F_HEALTH);
	CU_ASSERT_EQUAL(e4->nb_backends, 1);      /* this node's endpoints of the family */
	CU_ASSERT_EQUAL(e6->nb_backends, 1);
	CU_ASSERT_PTR_NOT_NULL(entry(4, node4, hc4));
	CU_ASSERT_PTR_NULL(entry(6, node6, hc4));
}

/* The whole exchange, as curl has it, over one family. */
static void
exchange_over(uint8_t family)
{
	uint16_t hc = hc_port("hc");
	uint32_t cseq = 1000000, ours;
	struct rte_mbuf *r;
	char text[1024], *body;

	/* SYN -> SYN-ACK */
	r = exchange(segment(family, hc, RTE_TCP_SYN_FLAG, cseq, 0, NULL), 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	ours = rte_be_to_cpu_32(rte_pktmbuf_mtod_offset(r, struct rte_tcp_hdr *, 14 + (family == 4 ? 20 : 40))->sent_seq);
	expect_answer(r, family, hc, RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG, ours, cseq + 1, NULL, 0);
	rte_pktmbuf_free(r);
	/* the handshake's ACK: nothing to say */
	CU_ASSERT_PTR_NULL(exchange(segment(family, hc, RTE_TCP_ACK_FLAG, cseq + 1, ours + 1, NULL), 1));
	/* the request -> the whole answer, with FIN */
	r = exchange(segment(family, hc, RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG, cseq + 1, ours + 1, request), 1);
	expect_answer(r, family, hc, RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG | RTE_TCP_FIN_FLAG, ours + 1,
		      cseq + 1 + (uint32_t)strlen(request), text, sizeof(text));
	rte_pktmbuf_free(r);
	CU_ASSERT_EQUAL(strncmp(text, "HTTP/1.1 200 OK\r\n", 17), 0);
	body = strstr(text, "\r\n\r\n");
	CU_ASSERT_PTR_NOT_NULL_FATAL(body);
	CU_ASSERT_STRING_EQUAL(body + 4, "{\"service\":{\"namespace\":\"default\",\"name\":\"hc\"},"
			       "\"localEndpoints\":1,\"serviceProxyHealthy\":true}\n");
	/* the client's FIN -> its ACK, past our data and FIN */
	r = exchange(segment(family, hc, RTE_TCP_ACK_FLAG | RTE_TCP_FIN_FLAG, cseq + 1 + (uint32_t)strlen(request),
			     ours + 1 + (uint32_t)strlen(text) + 1, NULL), 1);
	expect_answer(r, family, hc, RTE_TCP_ACK_FLAG, ours + 1 + (uint32_t)strlen(text) + 1,
		      cseq + 1 + (uint32_t)strlen(request) + 1, NULL, 0);
	rte_pktmbuf_free(r);
}

static void
test_exchange_ipv4(void)
{
	exchange_over(4);
}

static void
test_exchange_ipv6(void)
{
	exchange_over(6);
}

/* Without a local endpoint: 503 and 0, over IPv6 as over IPv4. */
static void
test_no_local_endpoint(void)
{
	json_error_t je;
	json_t *args, *res;
	uint8_t family;

	args = json_pack("{s:o}", "objects", json_loads(
		"[{\"apiVersion\":\"discovery.k8s.io/v1\",\"kind\":\"EndpointSlice\","
		"  \"metadata\":{\"name\":\"hc-4\",\"namespace\":\"default\",\"labels\":{\"kubernetes.io/service-name\":\"hc\"}},"
		"  \"addressType\":\"IPv4\",\"ports\":[{\"port\":8080,\"protocol\":\"TCP\"}],"
		"  \"endpoints\":[{\"addresses\":[\"10.244.1.10\"],\"nodeName\":\"n2\",\"conditions\":{\"ready\":true}}]},"
		" {\"apiVersion\":\"discovery.k8s.io/v1\",\"kind\":\"EndpointSlice\","
		"  \"metadata\":{\"name\":\"hc-6\",\"namespace\":\"default\",\"labels\":{\"kubernetes.io/service-name\":\"hc\"}},"
		"  \"addressType\":\"IPv6\",\"ports\":[{\"port\":8080,\"protocol\":\"TCP\"}],"
		"  \"endpoints\":[{\"addresses\":[\"fd00:10:244:1::a\"],\"nodeName\":\"n2\",\"conditions\":{\"ready\":true}}]}]",
		0, &je));
	res = psw_api_dispatch(&st, "apply", args);
	json_decref(args);
	CU_ASSERT_FATAL(json_is_true(json_object_get(res, "ok")));
	json_decref(res);
	for (family = 4; family <= 6; family += 2) {
		uint16_t hc = hc_port("hc");
		struct rte_mbuf *r = exchange(segment(family, hc, RTE_TCP_SYN_FLAG, 7, 0, NULL), 0);
		uint32_t ours;
		char text[1024];

		CU_ASSERT_PTR_NOT_NULL_FATAL(r);
		ours = rte_be_to_cpu_32(rte_pktmbuf_mtod_offset(r, struct rte_tcp_hdr *,
								14 + (family == 4 ? 20 : 40))->sent_seq);
		rte_pktmbuf_free(r);
		r = exchange(segment(family, hc, RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG, 8, ours + 1, request), 0);
		expect_answer(r, family, hc, RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG | RTE_TCP_FIN_FLAG, ours + 1,
			      8 + (uint32_t)strlen(request), text, sizeof(text));
		rte_pktmbuf_free(r);
		CU_ASSERT_EQUAL(strncmp(text, "HTTP/1.1 503 Service Unavailable\r\n", 34), 0);
		CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"localEndpoints\":0,"));
	}
}

/* Put an 8-byte hop-by-hop header between an IPv6 frame's header and its TCP. */
static void
insert_hop_by_hop(struct rte_mbuf *m)
{
	uint8_t hdrs[14 + 40];
	uint8_t *d;
	struct rte_ipv6_hdr *ip;

	memcpy(hdrs, rte_pktmbuf_mtod(m, uint8_t *), sizeof(hdrs));
	d = (uint8_t *)rte_pktmbuf_prepend(m, 8);
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	memcpy(d, hdrs, sizeof(hdrs));
	memcpy(d + 14 + 40, (const uint8_t[8]){ IPPROTO_TCP, 0, 1, 4, 0, 0, 0, 0 }, 8);    /* PadN */
	ip = (struct rte_ipv6_hdr *)(d + 14);
	ip->proto = IPPROTO_HOPOPTS;
	ip->payload_len = rte_cpu_to_be_16((uint16_t)(rte_be_to_cpu_16(ip->payload_len) + 8));
}

/* Hand m to the control thread as a health punt (cookie 1) directly: nothing may come back. */
static void
expect_silence(struct rte_mbuf *m, const char *what)
{
	struct rte_mbuf *out;

	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	m->port = (uint16_t)up;
	m->hash.fdir.lo = 1;
	m->hash.fdir.hi = PSW_PUNT_HEALTH;
	psw_neigh_input(&st, m);                  /* frees it */
	if (rte_ring_dequeue(st.lcores[0]->inject, (void **)&out) == 0) {
		rte_pktmbuf_free(out);
		fprintf(stderr, "\n  answered: %s\n", what);
		CU_FAIL(what);
	}
}

/* What the exchange does not answer, IPv6 first. */
static void
test_not_answered(void)
{
	uint16_t hc = hc_port("hc");
	struct rte_mbuf *m;

	/* TCP behind an extension header */
	m = segment(6, hc, RTE_TCP_SYN_FLAG, 1, 0, NULL);
	insert_hop_by_hop(m);
	expect_silence(m, "an IPv6 SYN behind a hop-by-hop header");
	/* not TCP */
	m = segment(6, hc, RTE_TCP_SYN_FLAG, 1, 0, NULL);
	rte_pktmbuf_mtod_offset(m, struct rte_ipv6_hdr *, 14)->proto = IPPROTO_UDP;
	expect_silence(m, "IPv6 UDP");
	/* the payload length past the frame */
	m = segment(6, hc, RTE_TCP_SYN_FLAG, 1, 0, NULL);
	rte_pktmbuf_mtod_offset(m, struct rte_ipv6_hdr *, 14)->payload_len = RTE_BE16(20 + 100);
	expect_silence(m, "an IPv6 payload length past the frame");
	/* a TCP header longer than the payload */
	m = segment(6, hc, RTE_TCP_SYN_FLAG, 1, 0, NULL);
	rte_pktmbuf_mtod_offset(m, struct rte_tcp_hdr *, 14 + 40)->data_off = 15 << 4;
	expect_silence(m, "an IPv6 TCP header past the payload");
	/* a frame cut inside the IPv6 header */
	m = segment(6, hc, RTE_TCP_SYN_FLAG, 1, 0, NULL);
	rte_pktmbuf_trim(m, (uint16_t)(rte_pktmbuf_data_len(m) - 30));
	expect_silence(m, "a frame cut inside the IPv6 header");
	/* a request on a connection this side never opened, a reset: both families */
	for (uint8_t family = 4; family <= 6; family += 2) {
		expect_silence(segment(family, hc, RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG, 5, 0x12345678, request),
			       "a request on a connection never opened");
		expect_silence(segment(family, hc, RTE_TCP_RST_FLAG, 5, 0, NULL), "a reset");
	}
}

int
main(void)
{
	struct psw_config cfg;
	char err[PSW_ERR_MAX];
	json_error_t je;
	json_t *args, *res;
	CU_pSuite s;
	int rc;

	mp = psw_ut_eal("health", 2048);
	if (mp == NULL)
		return 1;
	psw_port_layer_init(&(struct psw_port_env){ .nb_workers = 1, .rx_desc = 256,
						    .tx_desc = 256, .mbufs = 1024 });
	st.nb_workers = 1;
	st.lcores[0] = rte_zmalloc("lc", sizeof(struct psw_lcore), RTE_CACHE_LINE_SIZE);
	st.ct = psw_ct_create(4096, (int)rte_socket_id(), psw_tables_qsbr());
	st.svcs = psw_svc_table_create(64, (int)rte_socket_id());
	st.pol = calloc(1, sizeof(*st.pol));
	st.neigh = psw_neigh_create();
	if (st.lcores[0] == NULL || st.ct == NULL || st.svcs == NULL || st.pol == NULL || st.neigh == NULL)
		return 1;
	psw_lcore_init(st.lcores[0]);
	st.lcores[0]->punt = rte_ring_create("ut_hc_punt", 64, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
	st.lcores[0]->inject = rte_ring_create("ut_hc_inject", 64, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
	if (st.lcores[0]->punt == NULL || st.lcores[0]->inject == NULL)
		return 1;
	if (psw_config_parse(config_text, "<test>", &cfg, err, sizeof(err)) < 0 ||
	    psw_state_apply(&st, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "test_health: %s\n", err);
		return 1;
	}
	up = psw_port_find("up");
	args = json_pack("{s:o}", "objects", json_loads(objects, 0, &je));
	res = psw_api_dispatch(&st, "apply", args);
	json_decref(args);
	if (up < 0 || !json_is_true(json_object_get(res, "ok"))) {
		char *dump = json_dumps(res, 0);

		fprintf(stderr, "test_health: setup: %s\n", dump ?: "?");
		free(dump);
		return 1;
	}
	json_decref(res);
	CU_initialize_registry();
	s = CU_add_suite("healthCheckNodePort", NULL, NULL);
	CU_add_test(s, "entries on the node's addresses, IPv6 for a Service with IPv6", test_entries);
	CU_add_test(s, "handshake, answer and FIN over IPv4", test_exchange_ipv4);
	CU_add_test(s, "handshake, answer and FIN over IPv6", test_exchange_ipv6);
	CU_add_test(s, "no local endpoint: 503 over both families", test_no_local_endpoint);
	CU_add_test(s, "extension headers, other protocols, cut frames, strangers' segments: no answer",
		    test_not_answered);
	rc = psw_ut_run();
	psw_state_fini(&st);
	rte_ring_free(st.lcores[0]->punt);
	rte_ring_free(st.lcores[0]->inject);
	rte_free(st.lcores[0]);
	psw_ut_eal_fini();
	return rc;
}
