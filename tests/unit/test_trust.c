/*
 * Attacks on the stages, each a regression test of a hole an adversarial
 * review found (issue 11): forged ICMP errors, NodePort and hairpin
 * traffic past the backends' ingress policy, spoofed sources on uplinks,
 * the echo key, the ICMPv6 error checksum behind extension headers (with
 * the frame ending at an unreadable page), the first packet of a NodePort
 * connection, one pod filling the connection table, and a flood of
 * requests the switch itself answers. Crafted frames go
 * through the whole pipeline (psw_worker_process), EAL --no-huge.
 *
 * The node: pods V (port 0, 10.244.0.10, fd00::a) and W (port 1,
 * 10.244.0.11, fd00::b); an uplink (port 2, default route); the node's own
 * stack (port 3, node = true); node address 192.168.50.1. Policies: V is
 * isolated both ways and may only talk to W; W is isolated for ingress and
 * admits only V (and, in the second table, 192.168.50.0/24 on TCP 8080).
 */
#define PSW_UT_EAL
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <rte_eal.h>
#include <rte_malloc.h>
#include <rte_tcp.h>

#include "pkt_build.h"
#include "psw_ct.h"
#include "psw_ct_ctl.h"
#include "psw_forward_ctl.h"
#include "psw_policy.h"
#include "psw_policy_ctl.h"
#include "psw_service.h"
#include "psw_service_ctl.h"
#include "psw_ut.h"
#include "psw_worker.h"

#define V 0x0af4000au            /* 10.244.0.10, port 0 */
#define W 0x0af4000bu            /* 10.244.0.11, port 1 */
#define GW 0x0af40001u
#define NODE 0xc0a83201u         /* 192.168.50.1 */
#define EXT 0xc0a83209u          /* 192.168.50.9, beyond the uplink */
#define OUTSIDE 0x08080808u
#define VIP 0x0a600010u          /* 10.96.0.16 */
#define NODEPORT 30080
#define P_V 0
#define P_W 1
#define P_UPLINK 2
#define P_NODE 3

static struct rte_mempool *mp;
static struct psw_tables *t;
static struct psw_lcore lc;
static struct psw_pol_table *pol_v_w, *pol_ext;
static const uint8_t gw_mac[6] = { 0x02, 0x50, 0x53, 0x57, 0x00, 0x01 };
static const uint8_t mac_v[6] = { 2, 0, 0, 0, 0, 0x0a }, mac_w[6] = { 2, 0, 0, 0, 0, 0x0b };
static const uint8_t mac_ext[6] = { 2, 0, 0, 0, 0, 0xee }, mac_host[6] = { 2, 0, 0, 0, 0, 0x11 };
static const uint8_t v6[16] = { 0xfd, [15] = 0x0a }, w6[16] = { 0xfd, [15] = 0x0b };
static const uint8_t gw6[16] = { 0xfd, [15] = 0x01 }, vip6[16] = { 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0x10 };

static void
put4(uint8_t *dst, uint32_t host)
{
	uint32_t n = rte_cpu_to_be_32(host);

	memcpy(dst, &n, 4);
}

static struct psw_svc_key
svc_key(unsigned family, const void *addr, uint8_t proto, uint16_t port)
{
	struct psw_svc_key k;

	memset(&k, 0, sizeof(k));
	k.family = (uint8_t)family;
	k.proto = proto;
	k.port = rte_cpu_to_be_16(port);
	memcpy(k.addr, addr, family == 4 ? 4 : 16);
	return k;
}

static struct psw_pol_rule
rule(unsigned dir, unsigned family, const void *addr, unsigned plen, uint8_t proto, uint16_t lo, uint16_t hi)
{
	struct psw_pol_rule r;

	memset(&r, 0, sizeof(r));
	r.dir = (uint8_t)dir;
	r.family = (uint8_t)family;
	memcpy(r.addr, addr, family == 4 ? 4 : 16);
	r.plen = (uint8_t)plen;
	r.proto = proto;
	r.port_lo = lo;
	r.port_hi = hi;
	return r;
}

static struct psw_pol_table *
make_policies(bool admit_ext)
{
	struct psw_pol_table *pt = calloc(1, sizeof(*pt));
	struct psw_pol_rule rv[2], rw[3];
	uint8_t a_v[4], a_w[4], a_ext[4];
	uint16_t slot_v[1] = { 0 }, slot_w[1] = { 1 };
	const uint16_t *iso_v[2] = { slot_v, slot_v }, *iso_w[2] = { slot_w, slot_w };
	unsigned nb_iso_v[2] = { 1, 1 }, nb_iso_w[2] = { 1, 0 };
	bool both[2] = { true, true }, in_only[2] = { true, false };

	put4(a_v, V);
	put4(a_w, W);
	put4(a_ext, 0xc0a83200);
	rv[0] = rule(PSW_POL_EGRESS, 4, a_w, 32, 0, 0, UINT16_MAX);
	rv[1] = rule(PSW_POL_EGRESS, 6, w6, 128, 0, 0, UINT16_MAX);
	rw[0] = rule(PSW_POL_INGRESS, 4, a_v, 32, 0, 0, UINT16_MAX);
	rw[1] = rule(PSW_POL_INGRESS, 6, v6, 128, 0, 0, UINT16_MAX);
	rw[2] = rule(PSW_POL_INGRESS, 4, a_ext, 24, IPPROTO_TCP, 8080, 8080);
	rw[2].ref.rule = 2;
	pt->ports[P_V] = psw_pol_port_build(both, rv, 2, iso_v, nb_iso_v, SOCKET_ID_ANY);
	pt->ports[P_W] = psw_pol_port_build(in_only, rw, admit_ext ? 3 : 2, iso_w, nb_iso_w, SOCKET_ID_ANY);
	pt->nb_isolated = 2;
	pt->gen = admit_ext ? 2 : 1;
	return pt->ports[P_V] == NULL || pt->ports[P_W] == NULL ? NULL : pt;
}

static int
setup(void)
{
	struct psw_pod pods[2] = { 0 };
	struct psw_svc_backend be_udp = { .family = 4, .local = 1 }, be_tcp = be_udp, be6 = { .family = 6, .local = 1 };
	struct psw_svc_spec specs[3];
	struct psw_route_spec def = { .prefix = { .family = 4, .len = 0 } };
	uint8_t a[4];
	unsigned i;

	t = psw_tables_alloc();
	t->node.gw4 = rte_cpu_to_be_32(GW);
	memcpy(t->node.gw6, gw6, 16);
	t->node.has_ip6 = 1;
	memcpy(&t->node.gw_mac, gw_mac, 6);
	t->node.pod_net4 = rte_cpu_to_be_32(0x0af40000);
	t->node.pod_mask4 = rte_cpu_to_be_32(0xffffff00);
	t->node.nb_addrs = 1;
	t->node.addrs4[0] = rte_cpu_to_be_32(NODE);
	for (i = 0; i < 4; i++)
		t->ports[i].present = 1;
	t->ports[P_V] = (struct psw_port_info){ .present = 1, .is_pod = 1, .pod = 0 };
	t->ports[P_W] = (struct psw_port_info){ .present = 1, .is_pod = 1, .pod = 1 };
	t->ports[P_NODE].is_node = 1;
	memcpy(&pods[0].nh.mac, mac_v, 6);
	pods[0].nh.port = P_V;
	pods[0].has_ip4 = pods[0].has_ip6 = 1;
	pods[0].ip4 = rte_cpu_to_be_32(V);
	memcpy(pods[0].ip6, v6, 16);
	memcpy(&pods[1].nh.mac, mac_w, 6);
	pods[1].nh.port = P_W;
	pods[1].has_ip4 = pods[1].has_ip6 = 1;
	pods[1].ip4 = rte_cpu_to_be_32(W);
	memcpy(pods[1].ip6, w6, 16);
	t->pods = psw_pod_table_build(pods, 2, SOCKET_ID_ANY);
	memcpy(&def.nh.mac, mac_ext, 6);
	def.nh.port = P_UPLINK;
	t->routes = psw_route_table_build(&def, 1, SOCKET_ID_ANY);
	put4(a, W);
	memcpy(be_udp.addr, a, 4);
	be_udp.port = rte_cpu_to_be_16(5353);
	memcpy(be_tcp.addr, a, 4);
	be_tcp.port = rte_cpu_to_be_16(8080);
	memcpy(be6.addr, w6, 16);
	be6.port = rte_cpu_to_be_16(5353);
	memset(specs, 0, sizeof(specs));
	put4(a, VIP);
	specs[0].key = svc_key(4, a, IPPROTO_UDP, 53);
	specs[0].nb_backends = 1;
	specs[0].backends = &be_udp;
	put4(a, NODE);
	specs[1].key = svc_key(4, a, IPPROTO_TCP, NODEPORT);
	specs[1].flags = PSW_SVC_F_MASQ;
	specs[1].nb_backends = 1;
	specs[1].backends = &be_tcp;
	specs[2].key = svc_key(6, vip6, IPPROTO_UDP, 53);
	specs[2].nb_backends = 1;
	specs[2].backends = &be6;
	t->svcs = psw_svc_table_create(64, SOCKET_ID_ANY);
	for (i = 0; t->svcs != NULL && i < 3; i++)
		if (psw_svc_table_set(t->svcs, psw_svc_port_build(&specs[i], 0, SOCKET_ID_ANY)) < 0)
			return 1;
	t->ct = psw_ct_create(1024, SOCKET_ID_ANY, psw_tables_qsbr());
	pol_v_w = make_policies(false);
	pol_ext = make_policies(true);
	return mp == NULL || t->pods == NULL || t->routes == NULL || t->svcs == NULL || t->ct == NULL ||
	       pol_v_w == NULL || pol_ext == NULL;
}

/* Each test starts with no connection and the given policies (NULL: none). */
static void
fresh(struct psw_pol_table *pt)
{
	psw_ct_expire(t->ct, t->ct->size, true);
	memset(&lc.ct_cache, 0, sizeof(lc.ct_cache));
	memset(&lc.stats, 0, sizeof(lc.stats));
	memset(lc.sc.drops, 0, sizeof(lc.sc.drops));
	memset(lc.sc.events, 0, sizeof(lc.sc.events));
	t->pol = pt;
}

static struct psw_meta
run(struct rte_mbuf *m, uint16_t port)
{
	struct psw_burst b = { .nb = 1 };

	b.pkts[0] = m;
	b.meta[0].in_port = port;
	psw_worker_process(&lc, t, &b);
	return b.meta[0];
}

/* Run, check the verdict (TX to out_port, or the drop reason), free. */
static void
expect(struct rte_mbuf *m, uint16_t in_port, uint8_t verdict, unsigned port_or_reason, const char *what)
{
	struct psw_meta meta;

	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	meta = run(m, in_port);
	if (meta.verdict != verdict ||
	    (verdict == PSW_V_TX ? meta.out_port : meta.drop_reason) != port_or_reason) {
		fprintf(stderr, "\n  %s: verdict %u port %u reason %s\n", what, meta.verdict, meta.out_port,
			meta.verdict == PSW_V_DROP ? psw_drop_name(meta.drop_reason) : "-");
		CU_FAIL(what);
	}
	rte_pktmbuf_free(m);
}

static struct rte_mbuf *
frame4(const uint8_t *src_mac, uint8_t proto, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
       uint8_t icmp_type)
{
	struct tpkt p;

	tpkt_defaults(&p);
	memcpy(p.src_mac, src_mac, 6);
	memcpy(p.dst_mac, gw_mac, 6);
	p.proto = proto;
	p.src4 = src;
	p.dst4 = dst;
	p.sport = sport;
	p.dport = dport;
	p.icmp_type = icmp_type;
	if (proto == IPPROTO_TCP)
		p.payload = 0;
	return tpkt_build(mp, &p);
}

/* An ICMPv4 port unreachable from src to dst quoting a UDP datagram qsrc:qsport -> qdst:qdport with extra bytes. */
static struct rte_mbuf *
icmp4_error(const uint8_t *src_mac, uint32_t src, uint32_t dst, uint32_t qsrc, uint32_t qdst,
	    uint16_t qsport, uint16_t qdport, unsigned extra)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(mp);
	unsigned quote = 28 + extra, len = 14 + 20 + 8 + quote;
	uint8_t *d;
	struct rte_ipv4_hdr *ip, *in;
	uint8_t *icmp;

	if (m == NULL)
		return NULL;
	d = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)len);
	if (d == NULL) {
		rte_pktmbuf_free(m);
		return NULL;
	}
	memset(d, 0, len);
	memcpy(d, gw_mac, 6);
	memcpy(d + 6, src_mac, 6);
	*(uint16_t *)(d + 12) = RTE_BE16(RTE_ETHER_TYPE_IPV4);
	ip = (struct rte_ipv4_hdr *)(d + 14);
	ip->version_ihl = 0x45;
	ip->total_length = rte_cpu_to_be_16((uint16_t)(20 + 8 + quote));
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_ICMP;
	ip->src_addr = rte_cpu_to_be_32(src);
	ip->dst_addr = rte_cpu_to_be_32(dst);
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	icmp = (uint8_t *)(ip + 1);
	icmp[0] = 3;
	icmp[1] = 3;
	in = (struct rte_ipv4_hdr *)(icmp + 8);
	in->version_ihl = 0x45;
	in->total_length = rte_cpu_to_be_16((uint16_t)(28 + extra));
	in->time_to_live = 63;
	in->next_proto_id = IPPROTO_UDP;
	in->src_addr = rte_cpu_to_be_32(qsrc);
	in->dst_addr = rte_cpu_to_be_32(qdst);
	in->hdr_checksum = rte_ipv4_cksum(in);
	*(uint16_t *)(icmp + 28) = rte_cpu_to_be_16(qsport);
	*(uint16_t *)(icmp + 30) = rte_cpu_to_be_16(qdport);
	*(uint16_t *)(icmp + 32) = rte_cpu_to_be_16((uint16_t)(8 + extra));
	memset(icmp + 36, 0x5a, extra);            /* what a forger would smuggle */
	*(uint16_t *)(icmp + 2) = (uint16_t)~rte_raw_cksum(icmp, 8 + quote);
	return m;
}

static struct rte_mbuf *
tcp4(const uint8_t *src_mac, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport, uint8_t flags)
{
	struct rte_mbuf *m = frame4(src_mac, IPPROTO_TCP, src, dst, sport, dport, 0);
	struct rte_ipv4_hdr *ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, 14);
	struct rte_tcp_hdr *th = (struct rte_tcp_hdr *)(ip + 1);

	th->tcp_flags = flags;
	th->sent_seq = rte_cpu_to_be_32(1000);
	th->recv_ack = flags & RTE_TCP_ACK_FLAG ? rte_cpu_to_be_32(5000) : 0;
	th->rx_win = RTE_BE16(65535);
	th->cksum = 0;
	th->cksum = rte_ipv4_udptcp_cksum(ip, th);
	return m;
}

/*
 * Item 1: an ICMP error passes policy only as part of an allowed
 * connection, addressed to the quoted packet's sender, from its peer.
 */
static void
test_forged_icmp_errors(void)
{
	struct rte_mbuf *m;
	struct rte_ipv4_hdr *ip;

	fresh(pol_v_w);
	/* V -> W:5353, allowed both ways: the connection the forgeries hang on */
	expect(frame4(mac_v, IPPROTO_UDP, V, W, 40000, 5353, 0), P_V, PSW_V_TX, P_W, "allowed flow");
	/* W's genuine port unreachable about it reaches V, though V admits nothing */
	expect(icmp4_error(mac_w, W, V, V, W, 40000, 5353, 0), P_W, PSW_V_TX, P_V, "genuine error dropped");
	/* V's "error" about it to an outside address: V's egress decides, and refuses */
	expect(icmp4_error(mac_v, V, OUTSIDE, V, W, 40000, 5353, 0), P_V, PSW_V_DROP,
	       PSW_DROP_POLICY_EGRESS, "error to a third address passed as related");
	/* W's "error" to V quoting V's packet to someone else: judged, V admits nothing */
	expect(icmp4_error(mac_w, W, V, V, EXT, 40000, 5353, 0), P_W, PSW_V_DROP,
	       PSW_DROP_POLICY_INGRESS, "error about an unknown flow passed");
	/* an uplink host's "error" about the V-W connection it is no part of, to V */
	expect(icmp4_error(mac_ext, EXT, V, W, V, 5353, 40000, 0), P_UPLINK, PSW_V_DROP,
	       PSW_DROP_POLICY_INGRESS, "error quoting the other way, to the wrong end, passed");
	/* a genuine error carrying 1,400 bytes of quote is cut to 576, checksums whole */
	m = icmp4_error(mac_w, W, V, V, W, 40000, 5353, 1400);
	{
		struct psw_meta meta = run(m, P_W);

		CU_ASSERT_EQUAL(meta.verdict, PSW_V_TX);
		ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, 14);
		CU_ASSERT_EQUAL(rte_pktmbuf_pkt_len(m), 14 + 576);
		CU_ASSERT_EQUAL(rte_be_to_cpu_16(ip->total_length), 576);
		CU_ASSERT_EQUAL(rte_raw_cksum(ip, 20), 0xffff);
		CU_ASSERT_EQUAL(rte_raw_cksum(ip + 1, 576 - 20), 0xffff);
		rte_pktmbuf_free(m);
	}
}

/* Item 1: an error about a connection policy denied does not pass as its reply. */
static void
test_icmp_error_of_denied_connection(void)
{
	fresh(pol_v_w);
	/* an outside client's NodePort connection W does not admit: denied, entry doomed */
	expect(tcp4(mac_ext, EXT, NODE, 41000, NODEPORT, RTE_TCP_SYN_FLAG), P_UPLINK, PSW_V_DROP,
	       PSW_DROP_POLICY_INGRESS, "NodePort from a client W does not admit");
	/* W's "error" about it (the masqueraded packet it got) must not reach the client */
	expect(icmp4_error(mac_w, W, NODE, NODE, W, 41000, 8080, 0), P_W, PSW_V_DROP, PSW_DROP_TO_GATEWAY,
	       "error about a denied connection un-NAT-ed to the client");
}

/* Items 2 and 7: NodePort is judged on the original client, and its first packet arrives. */
static void
test_nodeport_judged_on_client(void)
{
	struct rte_mbuf *m;
	struct psw_meta meta;
	struct rte_ipv4_hdr *ip;

	/* no policy: the SYN itself reaches the backend, masqueraded */
	fresh(NULL);
	m = tcp4(mac_ext, EXT, NODE, 42000, NODEPORT, RTE_TCP_SYN_FLAG);
	meta = run(m, P_UPLINK);
	CU_ASSERT_EQUAL(meta.verdict, PSW_V_TX);
	CU_ASSERT_EQUAL(meta.out_port, P_W);
	ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, 14);
	CU_ASSERT_EQUAL(ip->src_addr, rte_cpu_to_be_32(NODE));
	CU_ASSERT_EQUAL(ip->dst_addr, rte_cpu_to_be_32(W));
	rte_pktmbuf_free(m);
	/* W admits only V: the outside client is refused, masquerade or not */
	fresh(pol_v_w);
	expect(tcp4(mac_ext, EXT, NODE, 42001, NODEPORT, RTE_TCP_SYN_FLAG), P_UPLINK, PSW_V_DROP,
	       PSW_DROP_POLICY_INGRESS, "NodePort passed W's ingress as node traffic");
	/* W admits 192.168.50.0/24 on 8080: the same client gets in, first packet and all */
	fresh(pol_ext);
	expect(tcp4(mac_ext, EXT, NODE, 42002, NODEPORT, RTE_TCP_SYN_FLAG), P_UPLINK, PSW_V_TX, P_W,
	       "NodePort from an admitted client");
	expect(tcp4(mac_w, W, NODE, 8080, 42002, RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG), P_W, PSW_V_TX,
	       P_UPLINK, "NodePort reply");
}

/* Item 3: reverse-path checks on ports without a pod; node traffic known by its port. */
static void
test_uplink_spoofing(void)
{
	fresh(pol_v_w);
	expect(frame4(mac_ext, IPPROTO_UDP, V, W, 40000, 5353, 0), P_UPLINK, PSW_V_DROP,
	       PSW_DROP_SPOOF_UPLINK, "a pod's address from the uplink");
	expect(frame4(mac_ext, IPPROTO_UDP, GW, W, 40000, 5353, 0), P_UPLINK, PSW_V_DROP,
	       PSW_DROP_SPOOF_UPLINK, "the gateway's address from the uplink");
	expect(frame4(mac_ext, IPPROTO_UDP, NODE, W, 40000, 5353, 0), P_UPLINK, PSW_V_DROP,
	       PSW_DROP_SPOOF_UPLINK, "the node's address from the uplink");
	expect(frame4(mac_host, IPPROTO_UDP, W, V, 40000, 5353, 0), P_NODE, PSW_V_DROP,
	       PSW_DROP_SPOOF_UPLINK, "a pod's address from the node's port");
	/* the node's own traffic, from its port: always allowed into pods */
	expect(frame4(mac_host, IPPROTO_TCP, NODE, W, 40000, 9999, 0), P_NODE, PSW_V_TX, P_W,
	       "the node's traffic refused");
	/* an uplink host with its own address is judged like anyone */
	expect(frame4(mac_ext, IPPROTO_UDP, EXT, W, 40000, 5353, 0), P_UPLINK, PSW_V_DROP,
	       PSW_DROP_POLICY_INGRESS, "an outside host passed W's ingress");
	{
		struct tpkt p;

		tpkt_defaults(&p);
		p.ip6 = 1;
		memcpy(p.src_mac, mac_ext, 6);
		memcpy(p.dst_mac, gw_mac, 6);
		memcpy(p.src6, v6, 16);
		memcpy(p.dst6, w6, 16);
		expect(tpkt_build(mp, &p), P_UPLINK, PSW_V_DROP, PSW_DROP_SPOOF_UPLINK,
		       "a pod's IPv6 address from the uplink");
	}
}

/* Item 4: after V pings W with identifier X, W's echo requests with X do not enter V. */
static void
test_echo_key_has_type(void)
{
	fresh(pol_v_w);
	expect(frame4(mac_v, IPPROTO_ICMP, V, W, 77, 0, 8), P_V, PSW_V_TX, P_W, "V's ping to W");
	expect(frame4(mac_w, IPPROTO_ICMP, W, V, 77, 0, 0), P_W, PSW_V_TX, P_V, "W's echo reply");
	expect(frame4(mac_w, IPPROTO_ICMP, W, V, 77, 0, 8), P_W, PSW_V_DROP, PSW_DROP_POLICY_INGRESS,
	       "W's echo request with V's identifier entered V");
	/* an unsolicited echo reply opens nothing: W's later request stays out */
	expect(frame4(mac_v, IPPROTO_ICMP, V, W, 78, 0, 0), P_V, PSW_V_TX, P_W, "V's echo reply to W");
	expect(frame4(mac_w, IPPROTO_ICMP, W, V, 78, 0, 8), P_W, PSW_V_DROP, PSW_DROP_POLICY_INGRESS,
	       "an echo reply opened a way in for requests");
}

/* The frame of m copied to the end of a page followed by an unreadable one. */
struct guarded {
	uint8_t *base;
	struct rte_mbuf_ext_shared_info shinfo;
};

static void
no_free(void *addr, void *opaque)
{
	RTE_SET_USED(addr);
	RTE_SET_USED(opaque);
}

static struct rte_mbuf *
at_page_end(struct guarded *g, struct rte_mbuf *src)
{
	long page = sysconf(_SC_PAGESIZE);
	unsigned len = rte_pktmbuf_data_len(src);
	struct rte_mbuf *m = rte_pktmbuf_alloc(mp);

	g->base = mmap(NULL, (size_t)page * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == NULL || g->base == MAP_FAILED || mprotect(g->base + page, (size_t)page, PROT_NONE) != 0)
		return NULL;
	memcpy(g->base + page - len, rte_pktmbuf_mtod(src, void *), len);
	g->shinfo.free_cb = no_free;
	g->shinfo.fcb_opaque = NULL;
	rte_mbuf_ext_refcnt_set(&g->shinfo, 1);
	rte_pktmbuf_attach_extbuf(m, g->base, rte_mem_virt2iova(g->base), (uint16_t)page, &g->shinfo);
	m->data_off = (uint16_t)(page - len);
	m->data_len = (uint16_t)len;
	m->pkt_len = len;
	rte_pktmbuf_free(src);
	return m;
}

/* V's UDP datagram to the IPv6 Service, DNAT-ed to W: its first 48 bytes as W got them. */
static void
datagram6_to_w(uint8_t quote[48])
{
	struct tpkt p;
	struct rte_mbuf *m;
	struct psw_meta meta;

	tpkt_defaults(&p);
	p.ip6 = 1;
	memcpy(p.src_mac, mac_v, 6);
	memcpy(p.dst_mac, gw_mac, 6);
	memcpy(p.src6, v6, 16);
	memcpy(p.dst6, vip6, 16);
	p.sport = 33000;
	p.dport = 53;
	p.payload = 0;
	m = tpkt_build(mp, &p);
	meta = run(m, P_V);
	CU_ASSERT_EQUAL_FATAL(meta.verdict, PSW_V_TX);
	CU_ASSERT_EQUAL(meta.out_port, P_W);
	memcpy(quote, rte_pktmbuf_mtod_offset(m, void *, 14), 48);
	rte_pktmbuf_free(m);
}

/*
 * W's ICMPv6 port unreachable to V quoting those 48 bytes, behind ext
 * bytes (a multiple of 8) of hop-by-hop padding, its checksum right, at
 * the end of a page after which nothing is readable (g).
 */
static struct rte_mbuf *
icmp6_error_behind_options(unsigned ext, const uint8_t quote[48], struct guarded *g)
{
	unsigned len = 14 + 40 + ext + 8 + 48, left;
	struct rte_mbuf *e = rte_pktmbuf_alloc(mp);
	struct rte_ipv6_hdr *ip;
	uint8_t *d, *icmp, *opt;
	uint32_t sum;

	d = e != NULL ? (uint8_t *)rte_pktmbuf_append(e, (uint16_t)len) : NULL;
	if (d == NULL) {
		rte_pktmbuf_free(e);
		return NULL;
	}
	memset(d, 0, len);
	memcpy(d, gw_mac, 6);
	memcpy(d + 6, mac_w, 6);
	*(uint16_t *)(d + 12) = RTE_BE16(RTE_ETHER_TYPE_IPV6);
	ip = (struct rte_ipv6_hdr *)(d + 14);
	ip->vtc_flow = RTE_BE32(6u << 28);
	ip->payload_len = rte_cpu_to_be_16((uint16_t)(ext + 8 + 48));
	ip->proto = 0;                              /* hop-by-hop options first */
	ip->hop_limits = 64;
	memcpy(ip->src_addr, w6, 16);
	memcpy(ip->dst_addr, v6, 16);
	d[14 + 40] = IPPROTO_ICMPV6;
	d[14 + 40 + 1] = (uint8_t)(ext / 8 - 1);
	for (opt = d + 14 + 40 + 2, left = ext - 2; left > 0;) {
		unsigned n = left >= 2 ? RTE_MIN(left - 2, 255u) : 0;

		opt[0] = left >= 2 ? 1 : 0;         /* PadN, or Pad1 */
		opt[1] = left >= 2 ? (uint8_t)n : opt[1];
		opt += left >= 2 ? n + 2 : 1;
		left -= left >= 2 ? n + 2 : 1;
	}
	icmp = d + 14 + 40 + ext;
	icmp[0] = 1;                                /* destination unreachable */
	icmp[1] = 4;                                /* port unreachable */
	memcpy(icmp + 8, quote, 48);
	sum = __rte_raw_cksum(ip->src_addr, 32, 0);
	sum = __rte_raw_cksum(&(uint32_t){ rte_cpu_to_be_32(56) }, 4, sum);
	sum = __rte_raw_cksum(&(uint32_t){ rte_cpu_to_be_32(IPPROTO_ICMPV6) }, 4, sum);
	sum = __rte_raw_cksum(icmp, 56, sum);
	*(uint16_t *)(icmp + 2) = (uint16_t)~__rte_raw_cksum_reduce(sum);
	return at_page_end(g, e);
}

/*
 * Item 5: a backend's ICMPv6 error behind a hop-by-hop header, the frame
 * ending at an unreadable page: un-NAT-ed with a checksum over exactly the
 * message and its own pseudo-header.
 */
static void
test_icmp6_error_behind_extension_header(void)
{
	struct rte_ipv6_hdr *ip;
	struct rte_mbuf *e;
	struct psw_meta meta;
	struct guarded g;
	uint8_t *icmp, quote[48];
	uint32_t sum;

	fresh(NULL);
	datagram6_to_w(quote);
	e = icmp6_error_behind_options(8, quote, &g);
	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	meta = run(e, P_W);
	CU_ASSERT_EQUAL(meta.verdict, PSW_V_TX);
	CU_ASSERT_EQUAL(meta.out_port, P_V);
	ip = rte_pktmbuf_mtod_offset(e, struct rte_ipv6_hdr *, 14);
	icmp = (uint8_t *)ip + 48;
	CU_ASSERT(memcmp(ip->src_addr, vip6, 16) == 0);        /* from the Service */
	CU_ASSERT(memcmp(icmp + 8 + 24, vip6, 16) == 0);       /* about the datagram to it */
	sum = __rte_raw_cksum(ip->src_addr, 32, 0);
	sum = __rte_raw_cksum(&(uint32_t){ rte_cpu_to_be_32(56) }, 4, sum);
	sum = __rte_raw_cksum(&(uint32_t){ rte_cpu_to_be_32(IPPROTO_ICMPV6) }, 4, sum);
	sum = __rte_raw_cksum(icmp, 56, sum);
	CU_ASSERT_EQUAL(__rte_raw_cksum_reduce(sum), 0xffff);
	rte_pktmbuf_free(e);
	munmap(g.base, (size_t)sysconf(_SC_PAGESIZE) * 2);
}

/*
 * A backend's ICMPv6 error about a Service connection behind ext bytes of
 * hop-by-hop options, at a page end. An accepted error is cut to 1280 bytes
 * (icmp_error_trim) before its quote is rewritten: with ext near 1280 the
 * cut leaves the quote short of its ports (1200) or the ICMPv6 header
 * past the end (1296, its length then "negative"). Such an error is no
 * router's: it must not be taken for the connection's, cut and rewritten
 * beyond its end (nor its checksum summed over 4 GB).
 */
static void
icmp6_error_behind_long_header(unsigned ext)
{
	struct rte_mbuf *e;
	struct psw_meta meta;
	struct guarded g;
	uint8_t *icmp, quote[48];

	fresh(NULL);
	datagram6_to_w(quote);
	e = icmp6_error_behind_options(ext, quote, &g);
	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	meta = run(e, P_W);
	CU_ASSERT(!(meta.flags & PSW_F_CT_RELATED));
	CU_ASSERT_EQUAL(rte_pktmbuf_data_len(e), 14 + 40 + ext + 8 + 48);       /* not cut */
	icmp = rte_pktmbuf_mtod_offset(e, uint8_t *, 14 + 40 + ext);
	CU_ASSERT(memcmp(icmp + 8, quote, 48) == 0);                   /* nor rewritten */
	rte_pktmbuf_free(e);
	munmap(g.base, (size_t)sysconf(_SC_PAGESIZE) * 2);
}

static void
test_icmp6_error_quote_past_the_cut(void)
{
	icmp6_error_behind_long_header(1200);       /* the cut leaves 40 bytes of ICMPv6 */
	icmp6_error_behind_long_header(1296);       /* the cut is before the ICMPv6 header */
}

/*
 * Item 8: one pod flooding new flows (bare ACKs, unanswered UDP) uses up
 * its own share, not the table: the other pod still opens connections and
 * an established one keeps working; under pressure the unanswered go early.
 */
static void
test_one_pod_cannot_fill_the_table(void)
{
	unsigned i, refused = 0;

	fresh(pol_v_w);
	psw_ct_set_zone_max(t->ct, 256);
	/* an established connection of W's, admitted from V */
	expect(tcp4(mac_v, V, W, 45000, 80, RTE_TCP_SYN_FLAG), P_V, PSW_V_TX, P_W, "V's SYN");
	expect(tcp4(mac_w, W, V, 80, 45000, RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG), P_W, PSW_V_TX, P_V, "SYN-ACK");
	/* V floods W with 2,000 bare ACKs from distinct ports, each a would-be loose pick-up */
	for (i = 0; i < 2000; i++) {
		struct rte_mbuf *m = tcp4(mac_v, V, W, (uint16_t)(2000 + i), 80, RTE_TCP_ACK_FLAG);
		struct psw_meta meta = run(m, P_V);

		refused += meta.verdict == PSW_V_DROP && meta.drop_reason == PSW_DROP_CT_PORT_LIMIT;
		rte_pktmbuf_free(m);
	}
	CU_ASSERT(refused >= 2000 - 256);
	CU_ASSERT(t->ct->zone_count[P_V] <= 256);
	CU_ASSERT_EQUAL(t->ct->zone_full, refused);            /* the counter "stats" shows */
	/* W still opens connections of its own, and V's established one still works */
	expect(frame4(mac_w, IPPROTO_UDP, W, OUTSIDE, 46000, 53, 0), P_W, PSW_V_TX, P_UPLINK, "W's own new flow");
	CU_ASSERT_EQUAL(t->ct->zone_count[P_W], 1);
	expect(tcp4(mac_v, V, W, 45000, 80, RTE_TCP_ACK_FLAG), P_V, PSW_V_TX, P_W, "established flow after the flood");
	/* the table near full: unanswered entries go early, the answered one stays */
	psw_ct_set_zone_max(t->ct, 0);
	for (i = 0; i < 1000; i++) {
		struct rte_mbuf *m = frame4(mac_v, IPPROTO_UDP, V, W, (uint16_t)(10000 + i), 5353, 0);

		rte_pktmbuf_free(m == NULL ? NULL : (run(m, P_V), m));
	}
	CU_ASSERT(psw_ct_count(t->ct) >= 1000);
	for (i = 0; i < t->ct->size; i++)
		if (t->ct->entries[i].in_use)
			t->ct->entries[i].last_seen -= (uint64_t)(PSW_CT_EARLY_S + 1) * rte_get_tsc_hz();
	psw_ct_expire(t->ct, t->ct->size, false);
	CU_ASSERT(t->ct->early > 0);
	CU_ASSERT(psw_ct_count(t->ct) < 300);
	expect(tcp4(mac_v, V, W, 45000, 80, RTE_TCP_ACK_FLAG), P_V, PSW_V_TX, P_W, "established flow after early drop");
	psw_ct_set_zone_max(t->ct, 0);
}

/* Punt path: a flood of requests for the switch's own answers is held to its port's rate. */
static void
test_punt_path_rate_limited(void)
{
	unsigned i, answered = 0, limited = 0;

	fresh(NULL);
	memset(lc.sc.punt, 0, sizeof(lc.sc.punt));
	for (i = 0; i < 300; i++) {
		struct rte_mbuf *m = tpkt_arp(mp, mac_v, V, GW, RTE_ARP_OP_REQUEST);
		struct psw_meta meta = run(m, P_V);

		answered += meta.verdict == PSW_V_TX;
		limited += meta.verdict == PSW_V_DROP && meta.drop_reason == PSW_DROP_PUNT_LIMIT;
		rte_pktmbuf_free(m);
	}
	/* the burst, and what the rate adds while the loop runs (a few ms; more
	 * if the machine is busy, hence the loose upper bound) */
	CU_ASSERT(answered >= PSW_PUNT_BURST && answered < 250);
	CU_ASSERT_EQUAL(answered + limited, 300);
	/* pings to the gateway share V's bucket; another port has its own */
	expect(frame4(mac_v, IPPROTO_ICMP, V, GW, 5, 0, 8), P_V, PSW_V_DROP, PSW_DROP_PUNT_LIMIT,
	       "echo over the rate answered");
	expect(frame4(mac_w, IPPROTO_ICMP, W, GW, 5, 0, 8), P_W, PSW_V_TX, P_W, "W's ping refused for V's flood");
	/* a second later the bucket is full again */
	lc.sc.punt[P_V].last -= rte_get_tsc_hz();
	expect(frame4(mac_v, IPPROTO_ICMP, V, GW, 6, 0, 8), P_V, PSW_V_TX, P_V, "echo after the refill");
}

int
main(void)
{
	CU_pSuite s;
	unsigned failures;

	mp = psw_ut_eal("trust", 2048);
	if (mp == NULL)
		return 1;
	psw_lcore_init(&lc);
	if (setup() != 0) {
		fprintf(stderr, "test_trust: setup failed\n");
		return 1;
	}
	CU_initialize_registry();
	s = CU_add_suite("trust", NULL, NULL);
	CU_add_test(s, "forged ICMP errors are judged; genuine ones pass, cut to 576 bytes", test_forged_icmp_errors);
	CU_add_test(s, "an ICMP error about a denied connection stays out", test_icmp_error_of_denied_connection);
	CU_add_test(s, "NodePort: judged on the client, first packet delivered", test_nodeport_judged_on_client);
	CU_add_test(s, "uplink reverse-path checks; node traffic by its port", test_uplink_spoofing);
	CU_add_test(s, "echo keys carry the type", test_echo_key_has_type);
	CU_add_test(s, "ICMPv6 error behind an extension header, at a page end", test_icmp6_error_behind_extension_header);
	CU_add_test(s, "ICMPv6 error whose quote the 1280-byte cut would lose: not the connection's",
		    test_icmp6_error_quote_past_the_cut);
	CU_add_test(s, "one pod cannot fill the connection table", test_one_pod_cannot_fill_the_table);
	CU_add_test(s, "the switch's own answers are rate-limited per port", test_punt_path_rate_limited);
	failures = (unsigned)psw_ut_run();
	psw_ct_destroy(t->ct);
	psw_ut_eal_fini();
	return failures ? 1 : 0;
}
