/*
 * Kernel pods' offloads attacked (psw_gso.h): frames as the af_packet port
 * hands them over with PACKET_VNET_HDR (partial checksums, 60 KB TCP and
 * UDP frames, the requests in the mbuf), from a pod that writes its own
 * virtio-net headers. Each through the whole pipeline and the worker's
 * dispatch onto ring ports: what leaves is checked byte for byte (lengths,
 * identifiers, sequence numbers, flags, every checksum), what is refused is
 * counted, and no mbuf of either pool is lost.
 */
#define PSW_UT_EAL
#include <stdio.h>
#include <linux/if_packet.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <rte_eal.h>
#include <rte_ring.h>
#include <rte_tcp.h>

#include "pkt_build.h"
#include "psw_ct.h"
#include "psw_ct_ctl.h"
#include "psw_forward_ctl.h"
#include "psw_gso.h"
#include "psw_parse.h"
#include "psw_policy.h"
#include "psw_policy_ctl.h"
#include "psw_port.h"
#include "psw_service.h"
#include "psw_service_ctl.h"
#include "psw_sockport.h"
#include "psw_tunnel.h"
#include "psw_ut.h"
#include "psw_worker.h"

#define V 0x0af4000au            /* 10.244.0.10, port P_V */
#define W 0x0af4000bu            /* 10.244.0.11, port P_W */
#define GW 0x0af40001u
#define NODE 0xc0a83201u         /* 192.168.50.1 */
#define EXT 0xc0a83209u          /* 192.168.50.9, beyond the uplink */
#define OTHER 0xc0a83202u        /* another node */
#define REMOTE 0x0af40305u       /* 10.244.3.5, a pod of the other node (overlay) */
#define VIP 0x0a600010u          /* 10.96.0.16 */
#define VXLAN_PORT 4789
#define VNI 1

static struct rte_mempool *mp, *lp;   /* default mbufs; 64 KB mbufs, as limits.large_mbufs */
static struct psw_tables *t;
static struct psw_lcore lc;
static struct psw_pol_table *pol_dns;
static int P_V, P_W, P_UP;
static const uint8_t gw_mac[6] = { 0x02, 0x50, 0x53, 0x57, 0x00, 0x01 };
static const uint8_t mac_v[6] = { 2, 0, 0, 0, 0, 0x0a }, mac_w[6] = { 2, 0, 0, 0, 0, 0x0b };
static const uint8_t mac_ext[6] = { 2, 0, 0, 0, 0, 0xee };
static const uint8_t v6[16] = { 0xfd, [15] = 0x0a }, w6[16] = { 0xfd, [15] = 0x0b };
static const uint8_t gw6[16] = { 0xfd, [15] = 0x01 }, ext6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 9 };

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

/* W's ingress: from V, UDP 53 and 5353 only (a DNS server's policy). */
static struct psw_pol_table *
make_policies(void)
{
	struct psw_pol_table *pt = calloc(1, sizeof(*pt));
	struct psw_pol_rule rw[2];
	uint8_t a_v[4];
	uint16_t slot_w[1] = { 1 };
	const uint16_t *iso_w[2] = { slot_w, slot_w };
	unsigned nb_iso_w[2] = { 1, 0 }, i;
	bool in_only[2] = { true, false };

	put4(a_v, V);
	memset(rw, 0, sizeof(rw));
	for (i = 0; i < 2; i++) {
		rw[i].dir = PSW_POL_INGRESS;
		rw[i].family = 4;
		memcpy(rw[i].addr, a_v, 4);
		rw[i].plen = 32;
		rw[i].proto = IPPROTO_UDP;
		rw[i].port_lo = rw[i].port_hi = i == 0 ? 53 : 5353;
		rw[i].ref.rule = (uint16_t)i;
	}
	pt->ports[P_W] = psw_pol_port_build(in_only, rw, 2, iso_w, nb_iso_w, SOCKET_ID_ANY);
	pt->nb_isolated = 1;
	pt->gen = 1;
	return pt->ports[P_W] == NULL ? NULL : pt;
}

static int
ring_port(const char *name)
{
	struct psw_port_conf c;
	char err[256];
	int rc;

	memset(&c, 0, sizeof(c));
	snprintf(c.name, sizeof(c.name), "%s", name);
	c.kind = PSW_PORT_RING;
	rc = psw_port_create(&c, err, sizeof(err));
	if (rc < 0)
		fprintf(stderr, "ring port %s: %s\n", name, err);
	return rc;
}

static int
setup(void)
{
	struct psw_port_env env = { .nb_workers = 1, .rx_desc = 256, .tx_desc = 256, .mbufs = 1024 };
	struct psw_pod pods[2] = { 0 };
	struct psw_svc_backend be_udp = { .family = 4, .local = 1 }, be_tcp = be_udp;
	struct psw_svc_spec specs[2];
	struct psw_route_spec r[3] = { { .prefix = { .family = 4, .len = 0 } },
				       { .prefix = { .family = 4, .len = 24 } },
				       { .prefix = { .family = 6, .len = 0 } } };
	uint8_t a[4];
	unsigned i;

	psw_port_layer_init(&env);
	P_V = ring_port("v");
	P_W = ring_port("w");
	P_UP = ring_port("up");
	if (P_V < 0 || P_W < 0 || P_UP < 0)
		return 1;
	/* kernel pods with offloads; the uplink a NIC without */
	psw_ports[P_V].offloads = true;
	psw_ports[P_W].offloads = true;
	psw_ports[P_UP].offloads = false;

	t = psw_tables_alloc();
	t->node.gw4 = rte_cpu_to_be_32(GW);
	memcpy(t->node.gw6, gw6, 16);
	t->node.has_ip6 = 1;
	memcpy(&t->node.gw_mac, gw_mac, 6);
	t->node.pod_net4 = rte_cpu_to_be_32(0x0af40000);
	t->node.pod_mask4 = rte_cpu_to_be_32(0xffffff00);
	t->node.nb_addrs = 1;
	t->node.addrs4[0] = rte_cpu_to_be_32(NODE);
	t->node.overlay = 1;
	t->node.tunnel_port = RTE_BE16(VXLAN_PORT);
	t->node.vni = VNI;
	psw_tunnel_prepare(&t->node);
	t->ports[P_V] = (struct psw_port_info){ .present = 1, .is_pod = 1, .pod = 0, .mtu = 1500 };
	t->ports[P_W] = (struct psw_port_info){ .present = 1, .is_pod = 1, .pod = 1, .mtu = 1500 };
	t->ports[P_UP] = (struct psw_port_info){ .present = 1, .is_uplink = 1, .mtu = 1500 };
	memcpy(&pods[0].nh.mac, mac_v, 6);
	pods[0].nh.port = (uint16_t)P_V;
	pods[0].has_ip4 = pods[0].has_ip6 = 1;
	pods[0].ip4 = rte_cpu_to_be_32(V);
	memcpy(pods[0].ip6, v6, 16);
	memcpy(&pods[1].nh.mac, mac_w, 6);
	pods[1].nh.port = (uint16_t)P_W;
	pods[1].has_ip4 = pods[1].has_ip6 = 1;
	pods[1].ip4 = rte_cpu_to_be_32(W);
	memcpy(pods[1].ip6, w6, 16);
	t->pods = psw_pod_table_build(pods, 2, SOCKET_ID_ANY);
	/* the world through the uplink; the other node's pods in VXLAN */
	put4(a, REMOTE & 0xffffff00u);
	memcpy(r[1].prefix.addr, a, 4);
	r[1].nh.flags = PSW_NH_F_TUNNEL;
	r[1].nh.tunnel_dst = rte_cpu_to_be_32(OTHER);
	for (i = 0; i < 3; i++) {
		r[i].nh.port = (uint16_t)P_UP;
		memcpy(&r[i].nh.mac, mac_ext, 6);
	}
	t->routes = psw_route_table_build(r, 3, SOCKET_ID_ANY);
	put4(a, W);
	memcpy(be_udp.addr, a, 4);
	be_udp.port = rte_cpu_to_be_16(5353);
	memcpy(be_tcp.addr, a, 4);
	be_tcp.port = rte_cpu_to_be_16(8080);
	memset(specs, 0, sizeof(specs));
	put4(a, VIP);
	specs[0].key = svc_key(4, a, IPPROTO_UDP, 53);
	specs[0].nb_backends = 1;
	specs[0].backends = &be_udp;
	specs[1].key = svc_key(4, a, IPPROTO_TCP, 80);
	specs[1].nb_backends = 1;
	specs[1].backends = &be_tcp;
	t->svcs = psw_svc_table_create(64, SOCKET_ID_ANY);
	for (i = 0; t->svcs != NULL && i < 2; i++)
		if (psw_svc_table_set(t->svcs, psw_svc_port_build(&specs[i], 0, SOCKET_ID_ANY)) < 0)
			return 1;
	t->ct = psw_ct_create(1024, SOCKET_ID_ANY, psw_tables_qsbr());
	pol_dns = make_policies();
	lc.sc.mp = mp;
	return t->pods == NULL || t->routes == NULL || t->svcs == NULL || t->ct == NULL || pol_dns == NULL;
}

static unsigned avail_mp, avail_lp;

/* Each test starts with no connection, the given policies (NULL: none), nothing in the rings. */
static void
fresh(struct psw_pol_table *pt)
{
	psw_ct_expire(t->ct, t->ct->size, true);
	memset(&lc.ct_cache, 0, sizeof(lc.ct_cache));
	memset(&lc.stats, 0, sizeof(lc.stats));
	memset(lc.sc.drops, 0, sizeof(lc.sc.drops));
	memset(lc.sc.events, 0, sizeof(lc.sc.events));
	memset(lc.sc.punt, 0, sizeof(lc.sc.punt));
	t->pol = pt;
	t->ports[P_UP].mtu = 1500;
	t->ports[P_W].mtu = 1500;
	psw_ports[P_W].offloads = true;
	avail_mp = rte_mempool_avail_count(mp);
	avail_lp = rte_mempool_avail_count(lp);
}

/* Every mbuf of both pools is back (call with every frame freed). */
static void
no_leak(const char *what)
{
	if (rte_mempool_avail_count(mp) != avail_mp || rte_mempool_avail_count(lp) != avail_lp) {
		fprintf(stderr, "\n  %s: mbufs lost: default %u -> %u, large %u -> %u\n", what, avail_mp,
			rte_mempool_avail_count(mp), avail_lp, rte_mempool_avail_count(lp));
		CU_FAIL(what);
	}
}

/*
 * The offload requests the af_packet port puts on a frame (psw_sockport.c
 * offloads_in): csum_start (from the frame's start, tag included) and
 * csum_offset; seg: RTE_MBUF_F_TX_TCP_SEG / UDP_SEG or 0, mss.
 */
static void
request(struct rte_mbuf *m, unsigned start, unsigned off, uint64_t seg, uint16_t mss, bool ip6)
{
	m->l2_len = 14;
	m->l3_len = start - 14;
	m->l4_len = off;
	m->ol_flags |= off == 16 ? RTE_MBUF_F_TX_TCP_CKSUM : off == 6 ? RTE_MBUF_F_TX_UDP_CKSUM
				 : RTE_MBUF_F_TX_SCTP_CKSUM;
	if (seg != 0) {
		m->ol_flags |= seg | (ip6 ? RTE_MBUF_F_TX_IPV6 : RTE_MBUF_F_TX_IPV4);
		m->tso_segsz = mss;
	}
}

/* The L4 checksum field left as Linux leaves it partial: the pseudo-header's sum, not complemented. */
static void
make_partial(struct rte_mbuf *m, unsigned l2, bool ip6)
{
	uint8_t *d = rte_pktmbuf_mtod(m, uint8_t *);
	unsigned l4 = l2 + (ip6 ? 40 : (d[l2] & 0xf) * 4u);
	uint8_t proto = ip6 ? d[l2 + 6] : d[l2 + 9];
	uint16_t s = ip6 ? rte_ipv6_phdr_cksum((const struct rte_ipv6_hdr *)(d + l2), 0)
			 : rte_ipv4_phdr_cksum((const struct rte_ipv4_hdr *)(d + l2), 0);

	memcpy(d + l4 + (proto == IPPROTO_TCP ? 16 : 6), &s, 2);
}

/*
 * A pod's frame from mac_v: TCP (ACK|PSH, sequence 1000, DF) or UDP of
 * payload bytes (pattern i & 0xff), in a large mbuf when it does not fit
 * a default one. Checksums whole.
 */
static struct rte_mbuf *
pod_frame(bool ip6, uint8_t proto, uint32_t dst, const uint8_t *dst6, uint16_t sport, uint16_t dport,
	  unsigned payload)
{
	struct tpkt p;
	struct rte_mbuf *m;
	uint8_t *d;

	tpkt_defaults(&p);
	memcpy(p.src_mac, mac_v, 6);
	memcpy(p.dst_mac, gw_mac, 6);
	p.ip6 = ip6;
	p.proto = proto;
	p.src4 = V;
	p.dst4 = dst;
	memcpy(p.src6, v6, 16);
	if (dst6 != NULL)
		memcpy(p.dst6, dst6, 16);
	p.sport = sport;
	p.dport = dport;
	p.payload = (uint16_t)payload;
	m = tpkt_build(payload + 100 > 1900 ? lp : mp, &p);
	if (m == NULL)
		return NULL;
	d = rte_pktmbuf_mtod(m, uint8_t *);
	if (!ip6) {
		struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(d + 14);

		ip->fragment_offset = RTE_BE16(RTE_IPV4_HDR_DF_FLAG);
		ip->packet_id = RTE_BE16(0x1000);
		ip->hdr_checksum = 0;
		ip->hdr_checksum = rte_ipv4_cksum(ip);
	}
	if (proto == IPPROTO_TCP) {
		struct rte_tcp_hdr *th = (struct rte_tcp_hdr *)(d + 14 + (ip6 ? 40 : 20));

		th->tcp_flags = RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG;
		th->sent_seq = rte_cpu_to_be_32(1000);
		th->recv_ack = rte_cpu_to_be_32(1);
		th->rx_win = RTE_BE16(65535);
		th->cksum = 0;
		th->cksum = ip6 ? rte_ipv6_udptcp_cksum((void *)(d + 14), th) : rte_ipv4_udptcp_cksum((void *)(d + 14), th);
	}
	return m;
}

/* Through the stages; the verdict. Frames the stages made besides stay in lc.sc.extra. */
static struct psw_meta
run(struct rte_mbuf *m, uint16_t port, struct psw_burst *b)
{
	b->nb = 1;
	b->pkts[0] = m;
	b->meta[0].in_port = port;
	psw_worker_process(&lc, t, b);
	return b->meta[0];
}

/* ... then dispatched and flushed, as the worker loop does: what each port's ring got. */
static struct psw_meta
run_out(struct rte_mbuf *m, uint16_t port)
{
	struct psw_burst b;
	struct psw_meta meta = run(m, port, &b);

	psw_worker_dispatch(&lc, &b);
	psw_worker_flush(&lc);
	return meta;
}

static unsigned
take(int port, struct rte_mbuf **out, unsigned max)
{
	return rte_ring_dequeue_burst(psw_ports[port].rings[1], (void **)out, max, NULL);
}

static void
drain_all(void)
{
	struct rte_mbuf *pkts[128];
	unsigned n;
	int p;

	for (p = 0; p < 3; p++)
		while ((n = take(p, pkts, RTE_DIM(pkts))) > 0)
			rte_pktmbuf_free_bulk(pkts, n);
}

/* Does the frame's L4 checksum (TCP or UDP, IPv4 or IPv6, untagged, no options) verify? */
static bool
l4_ok(const struct rte_mbuf *m)
{
	const uint8_t *d = rte_pktmbuf_mtod(m, const uint8_t *);
	bool ip6 = (d[14] >> 4) == 6;
	unsigned ihl = ip6 ? 40 : (d[14] & 0xf) * 4u;
	unsigned l4len = ip6 ? (unsigned)(d[18] << 8 | d[19]) : (unsigned)(d[16] << 8 | d[17]) - ihl;
	uint32_t sum = ip6 ? rte_ipv6_phdr_cksum((const struct rte_ipv6_hdr *)(d + 14), 0)
			   : rte_ipv4_phdr_cksum((const struct rte_ipv4_hdr *)(d + 14), 0);

	if (14 + ihl + l4len > rte_pktmbuf_data_len(m))
		return false;
	sum = __rte_raw_cksum(d + 14 + ihl, l4len, sum);
	return __rte_raw_cksum_reduce(sum) == 0xffff;
}

static bool
ip4_ok(const struct rte_mbuf *m)
{
	const uint8_t *d = rte_pktmbuf_mtod(m, const uint8_t *);

	return (d[14] >> 4) != 4 || rte_raw_cksum(d + 14, (d[14] & 0xf) * 4u) == 0xffff;
}

/*
 * 1. A checksum the pod leaves partial that is not its packet's own (csum_start
 * before the L4 payload) is finished by parse after it has read the headers:
 * the two bytes it writes land on whatever csum_start + csum_offset names. A
 * pod picks them: here the destination port of a UDP datagram to W, which
 * W's policy admits on port 53 only. The IPv4 identifier (in the sum, not in
 * the written range) makes the finished "checksum" the port the pod wants,
 * and the datagram's own checksum holds for that port: W's kernel takes it.
 */
static void
test_foreign_csum_cannot_rewrite_headers(void)
{
	const uint16_t want = 5000;    /* closed to V by policy */
	struct rte_mbuf *m, *out[4];
	struct rte_ipv4_hdr *ip;
	struct rte_udp_hdr *uh;
	struct psw_meta meta;
	uint8_t *d;
	unsigned id, n, start = 14 + 6, off = 16;   /* the field: UDP's destination port */
	bool found = false;

	fresh(pol_dns);
	m = pod_frame(false, IPPROTO_UDP, W, NULL, 40000, want, 32);
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	d = rte_pktmbuf_mtod(m, uint8_t *);
	ip = (struct rte_ipv4_hdr *)(d + 14);
	uh = (struct rte_udp_hdr *)(ip + 1);
	/* the datagram W is to get: port 5000, its checksum right */
	for (id = 0; id < 65536 && !found; id++) {
		uint16_t c;

		uh->dst_port = rte_cpu_to_be_16(want);
		ip->packet_id = rte_cpu_to_be_16((uint16_t)id);
		ip->hdr_checksum = 0;
		ip->hdr_checksum = rte_ipv4_cksum(ip);
		uh->dgram_cksum = 0;
		uh->dgram_cksum = rte_ipv4_udptcp_cksum(ip, uh);
		/* what the policy is shown: port 53 */
		uh->dst_port = RTE_BE16(53);
		c = (uint16_t)~rte_raw_cksum(d + start, 14 + 20 + 8 + 32 - start);
		found = c == rte_cpu_to_be_16(want);
	}
	CU_ASSERT_FATAL(found);
	request(m, start, off, 0, 0, false);
	meta = run_out(m, (uint16_t)P_V);
	n = take(P_W, out, RTE_DIM(out));
	if (n > 0) {
		const struct rte_udp_hdr *got = rte_pktmbuf_mtod_offset(out[0], const struct rte_udp_hdr *, 34);

		fprintf(stderr, "\n  judged as port 53 (%s), W got port %u, UDP checksum %s, IP checksum %s\n",
			meta.verdict == PSW_V_TX ? "admitted" : "refused", rte_be_to_cpu_16(got->dst_port),
			l4_ok(out[0]) ? "right" : "wrong", ip4_ok(out[0]) ? "right" : "wrong");
		rte_pktmbuf_free_bulk(out, n);
	}
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_EQUAL(meta.verdict, PSW_V_DROP);
	CU_ASSERT_EQUAL(meta.drop_reason, PSW_DROP_GSO_BAD);
	drain_all();
	no_leak("foreign checksum into the ports");
}

/*
 * The same, every offset: a request whose checksum begins before the end of
 * the headers parse read (and is not the packet's own) leaves them as parse
 * saw them, or the frame is refused.
 */
static void
test_foreign_csum_every_offset(void)
{
	static const unsigned offs[3] = { 6, 8, 16 };
	unsigned v, k, start, bad = 0;

	fresh(NULL);
	for (v = 0; v < 4; v++) {
		bool ip6 = v & 1;
		uint8_t proto = v & 2 ? IPPROTO_TCP : IPPROTO_UDP;
		unsigned l4 = 14 + (ip6 ? 40 : 20), hdr_end = l4 + (proto == IPPROTO_TCP ? 20 : 8);

		for (start = 14; start < hdr_end; start++)
			for (k = 0; k < 3; k++) {
				struct rte_mbuf *m = pod_frame(ip6, proto, W, w6, 40000, 53, 64);
				uint8_t before[80];
				struct psw_meta meta;

				CU_ASSERT_PTR_NOT_NULL_FATAL(m);
				if (start == l4 && offs[k] == (proto == IPPROTO_TCP ? 16u : 6u)) {
					rte_pktmbuf_free(m);     /* its own: finished later */
					continue;
				}
				make_partial(m, 14, ip6);
				memcpy(before, rte_pktmbuf_mtod(m, uint8_t *), hdr_end);
				request(m, start, offs[k], 0, 0, ip6);
				meta.in_port = (uint16_t)P_V;
				psw_parse_one(m, &meta);
				if (meta.verdict == PSW_V_CONTINUE &&
				    memcmp(before, rte_pktmbuf_mtod(m, uint8_t *), hdr_end) != 0) {
					if (bad++ < 4)
						fprintf(stderr, "\n  IPv%d %s, csum_start %u, offset %u: headers rewritten after parse",
							ip6 ? 6 : 4, proto == IPPROTO_TCP ? "TCP" : "UDP", start, offs[k]);
				}
				rte_pktmbuf_free(m);
			}
	}
	CU_ASSERT_EQUAL(bad, 0);
	/* a pod's tunnel inside its UDP: the inner checksum, past the outer headers, finished */
	{
		struct rte_mbuf *m = pod_frame(false, IPPROTO_UDP, W, NULL, 40000, 5353, 64);
		uint8_t *d = rte_pktmbuf_mtod(m, uint8_t *);
		unsigned in = 14 + 20 + 8 + 16;          /* an inner UDP header in the payload */
		struct psw_meta meta;
		uint16_t c;

		memset(d + in, 0, 8);
		request(m, in, 6, 0, 0, false);
		meta.in_port = (uint16_t)P_V;
		psw_parse_one(m, &meta);
		CU_ASSERT_EQUAL(meta.verdict, PSW_V_CONTINUE);
		CU_ASSERT_EQUAL(m->ol_flags & PSW_OL_ANY, 0);
		memcpy(&c, d + in + 6, 2);
		d[in + 6] = d[in + 7] = 0;
		CU_ASSERT_EQUAL(c, (uint16_t)~rte_raw_cksum(d + in, 14 + 20 + 8 + 64 - in));
		rte_pktmbuf_free(m);
	}
	no_leak("every offset");
}

/* A pod's partial checksum: whole for the uplink, partial still (and right once finished) for a kernel pod. */
static void
test_own_csum(void)
{
	unsigned v;

	fresh(NULL);
	for (v = 0; v < 4; v++) {
		bool ip6 = v & 1;
		uint8_t proto = v & 2 ? IPPROTO_TCP : IPPROTO_UDP;
		unsigned l4 = 14 + (ip6 ? 40 : 20), off = proto == IPPROTO_TCP ? 16 : 6;
		struct rte_mbuf *m, *out[4];
		struct psw_meta meta;
		unsigned n;

		/* to the world: finished */
		m = pod_frame(ip6, proto, EXT, ext6, 40000, 53, 100 + v);
		make_partial(m, 14, ip6);
		request(m, l4, off, 0, 0, ip6);
		meta = run_out(m, (uint16_t)P_V);
		CU_ASSERT_EQUAL(meta.verdict, PSW_V_TX);
		n = take(P_UP, out, RTE_DIM(out));
		CU_ASSERT_EQUAL_FATAL(n, 1);
		CU_ASSERT(l4_ok(out[0]));
		CU_ASSERT(ip4_ok(out[0]));
		CU_ASSERT_EQUAL(out[0]->ol_flags & PSW_OL_ANY, 0);
		rte_pktmbuf_free(out[0]);
		/* to a kernel pod: as it came, and right when its kernel finishes it */
		m = pod_frame(ip6, proto, W, w6, 40000, 53, 100 + v);
		make_partial(m, 14, ip6);
		request(m, l4, off, 0, 0, ip6);
		meta = run_out(m, (uint16_t)P_V);
		CU_ASSERT_EQUAL(meta.verdict, PSW_V_TX);
		n = take(P_W, out, RTE_DIM(out));
		CU_ASSERT_EQUAL_FATAL(n, 1);
		CU_ASSERT((out[0]->ol_flags & PSW_OL_CSUM) != 0);
		psw_gso_csum(out[0]);
		CU_ASSERT(l4_ok(out[0]));
		rte_pktmbuf_free(out[0]);
	}
	drain_all();
	no_leak("own checksums");
}

/* A TCP frame's flags made SYN (a new connection, as conntrack wants one). */
static void
syn(struct rte_mbuf *m)
{
	rte_pktmbuf_mtod_offset(m, struct rte_tcp_hdr *, 34)->tcp_flags = RTE_TCP_SYN_FLAG;
}

/* NAT (ClusterIP DNAT, ports too) keeps a partial checksum partial and right; the reply's un-NAT too. */
static void
test_nat_partial(void)
{
	unsigned k;

	fresh(NULL);
	for (k = 0; k < 2; k++) {
		uint8_t proto = k ? IPPROTO_TCP : IPPROTO_UDP;
		uint16_t vport = k ? 80 : 53;
		unsigned off = k ? 16 : 6;
		struct rte_mbuf *m, *out[4];
		struct psw_meta meta;
		unsigned n;

		m = pod_frame(false, proto, VIP, NULL, 40000 + k, vport, 200);
		if (k)
			syn(m);
		make_partial(m, 14, false);
		request(m, 34, off, 0, 0, false);
		meta = run_out(m, (uint16_t)P_V);
		CU_ASSERT_EQUAL(meta.verdict, PSW_V_TX);
		n = take(P_W, out, RTE_DIM(out));
		CU_ASSERT_EQUAL_FATAL(n, 1);
		CU_ASSERT((out[0]->ol_flags & PSW_OL_CSUM) != 0);
		psw_gso_csum(out[0]);
		CU_ASSERT(l4_ok(out[0]));
		CU_ASSERT(ip4_ok(out[0]));
		rte_pktmbuf_free(out[0]);
		/* the same through a port without offloads: finished by the worker after NAT */
		psw_ports[P_W].offloads = false;
		m = pod_frame(false, proto, VIP, NULL, 40000 + k, vport, 300);
		if (k)
			syn(m);
		make_partial(m, 14, false);
		request(m, 34, off, 0, 0, false);
		meta = run_out(m, (uint16_t)P_V);
		CU_ASSERT_EQUAL(meta.verdict, PSW_V_TX);
		n = take(P_W, out, RTE_DIM(out));
		CU_ASSERT_EQUAL_FATAL(n, 1);
		CU_ASSERT(l4_ok(out[0]));
		rte_pktmbuf_free(out[0]);
		psw_ports[P_W].offloads = true;
	}
	drain_all();
	no_leak("NAT of partial checksums");
}

/*
 * The segments of a large frame: n of them, each within mtu bytes of IP, the
 * payload in order (pattern i & 0xff from seq0), checksums right, IPv4
 * identifiers one up, TCP flags (FIN and PSH on the last only, CWR on the
 * first only). hdr: bytes before the payload in each (Ethernet included).
 */
static void
check_segments(struct rte_mbuf **segs, unsigned n, unsigned want_n, bool ip6, uint8_t proto,
	       unsigned payload, unsigned mss, uint8_t flags, const char *what)
{
	unsigned i, done = 0, ihl = ip6 ? 40 : 20, l4h = proto == IPPROTO_TCP ? 20 : 8, errs = 0;

	if (n != want_n) {
		fprintf(stderr, "\n  %s: %u segments, not %u\n", what, n, want_n);
		CU_FAIL(what);
		return;
	}
	for (i = 0; i < n; i++) {
		const uint8_t *d = rte_pktmbuf_mtod(segs[i], const uint8_t *);
		unsigned len = RTE_MIN(mss, payload - done), j;
		unsigned tot = ip6 ? 40u + (unsigned)(d[18] << 8 | d[19]) : (unsigned)(d[16] << 8 | d[17]);
		const uint8_t *pl = d + 14 + ihl + l4h;
		bool ok = true;

		ok &= rte_pktmbuf_data_len(segs[i]) == 14 + ihl + l4h + len && tot == ihl + l4h + len;
		ok &= (segs[i]->ol_flags & PSW_OL_ANY) == 0;
		ok &= l4_ok(segs[i]) && ip4_ok(segs[i]);
		if (!ip6)
			ok &= (unsigned)(d[18] << 8 | d[19]) == 0x1000 + i;
		if (proto == IPPROTO_TCP) {
			const struct rte_tcp_hdr *th = (const struct rte_tcp_hdr *)(d + 14 + ihl);
			uint8_t f = flags;

			if (i > 0)
				f &= (uint8_t)~RTE_TCP_CWR_FLAG;
			if (i + 1 < n)
				f &= (uint8_t)~(RTE_TCP_FIN_FLAG | RTE_TCP_PSH_FLAG);
			ok &= rte_be_to_cpu_32(th->sent_seq) == 1000 + done && th->tcp_flags == f;
		} else {
			ok &= (unsigned)(d[14 + ihl + 4] << 8 | d[14 + ihl + 5]) == 8 + len;
		}
		for (j = 0; j < len && ok; j++)
			ok &= pl[j] == (uint8_t)(done + j);
		if (!ok && errs++ < 3)
			fprintf(stderr, "\n  %s: segment %u of %u wrong", what, i, n);
		done += len;
	}
	CU_ASSERT_EQUAL(errs, 0);
	CU_ASSERT_EQUAL(done, payload);
}

/* A 60 KB frame (TCP or UDP, IPv4 or IPv6) to the uplink: cut by the worker, every segment right. */
static void
test_seg_to_uplink(void)
{
	static const unsigned payloads[3] = { 60000, 1448 * 10, 1449 };
	unsigned v, k;

	fresh(NULL);
	for (v = 0; v < 4; v++)
		for (k = 0; k < 3; k++) {
			bool ip6 = v & 1;
			uint8_t proto = v & 2 ? IPPROTO_TCP : IPPROTO_UDP;
			unsigned l4 = 14 + (ip6 ? 40 : 20), mss = ip6 ? 1428 : 1448, payload = payloads[k];
			uint8_t flags = RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG | RTE_TCP_FIN_FLAG | RTE_TCP_CWR_FLAG;
			struct rte_mbuf *m = pod_frame(ip6, proto, EXT, ext6, 40000, 5001, payload), *out[64];
			struct psw_meta meta;
			unsigned n;
			char what[64];

			CU_ASSERT_PTR_NOT_NULL_FATAL(m);
			if (proto == IPPROTO_TCP)
				rte_pktmbuf_mtod_offset(m, struct rte_tcp_hdr *, l4)->tcp_flags = flags;
			make_partial(m, 14, ip6);
			request(m, l4, proto == IPPROTO_TCP ? 16 : 6,
				proto == IPPROTO_TCP ? RTE_MBUF_F_TX_TCP_SEG : RTE_MBUF_F_TX_UDP_SEG, (uint16_t)mss, ip6);
			meta = run_out(m, (uint16_t)P_V);
			CU_ASSERT_EQUAL(meta.verdict, PSW_V_TX);
			n = take(P_UP, out, RTE_DIM(out));
			snprintf(what, sizeof(what), "IPv%d %s %u bytes", ip6 ? 6 : 4,
				 proto == IPPROTO_TCP ? "TCP" : "UDP", payload);
			check_segments(out, n, (payload + mss - 1) / mss, ip6, proto, payload, mss, flags, what);
			rte_pktmbuf_free_bulk(out, n);
		}
	drain_all();
	no_leak("segments to the uplink");
}

/* To a kernel pod the frame stays whole, its requests with it. */
static void
test_seg_to_kernel_pod(void)
{
	struct rte_mbuf *m, *out[64];
	struct psw_meta meta;
	unsigned n;

	fresh(NULL);
	m = pod_frame(false, IPPROTO_TCP, W, NULL, 40000, 80, 60000);
	make_partial(m, 14, false);
	request(m, 34, 16, RTE_MBUF_F_TX_TCP_SEG, 1448, false);
	meta = run_out(m, (uint16_t)P_V);
	CU_ASSERT_EQUAL(meta.verdict, PSW_V_TX);
	n = take(P_W, out, RTE_DIM(out));
	CU_ASSERT_EQUAL_FATAL(n, 1);
	CU_ASSERT_EQUAL(rte_pktmbuf_data_len(out[0]), 14 + 20 + 20 + 60000);
	CU_ASSERT((out[0]->ol_flags & RTE_MBUF_F_TX_TCP_SEG) != 0);
	CU_ASSERT_EQUAL(out[0]->tso_segsz, 1448);
	rte_pktmbuf_free(out[0]);
	/* W without offloads: segments */
	psw_ports[P_W].offloads = false;
	m = pod_frame(false, IPPROTO_TCP, W, NULL, 40000, 80, 60000);
	make_partial(m, 14, false);
	request(m, 34, 16, RTE_MBUF_F_TX_TCP_SEG, 1448, false);
	meta = run_out(m, (uint16_t)P_V);
	n = take(P_W, out, RTE_DIM(out));
	check_segments(out, n, (60000 + 1447) / 1448, false, IPPROTO_TCP, 60000, 1448,
		       RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG, "to a pod without offloads");
	rte_pktmbuf_free_bulk(out, n);
	drain_all();
	no_leak("to a kernel pod");
}

/* Requests that do not match the frame: refused, gso_bad, nothing left behind. */
static void
test_seg_bad_requests(void)
{
	struct rte_mbuf *m;
	struct psw_meta meta;
	unsigned k;

	fresh(NULL);
	for (k = 0; k < 11; k++) {
		bool tcp = k != 2 && k != 7;
		struct psw_burst b;

		m = pod_frame(false, tcp ? IPPROTO_TCP : IPPROTO_UDP, EXT, NULL, 40000, 80, 20000);
		CU_ASSERT_PTR_NOT_NULL_FATAL(m);
		make_partial(m, 14, false);
		switch (k) {
		case 0:                  /* no segment size */
			request(m, 34, 16, RTE_MBUF_F_TX_TCP_SEG, 0, false);
			break;
		case 1:                  /* more than PSW_GSO_MAX_SEGS segments */
			request(m, 34, 16, RTE_MBUF_F_TX_TCP_SEG, 20000 / PSW_GSO_MAX_SEGS - 1, false);
			break;
		case 2:                  /* TCP segmentation of UDP */
			request(m, 34, 16, RTE_MBUF_F_TX_TCP_SEG, 1448, false);
			break;
		case 3:                  /* UDP segmentation of TCP */
			request(m, 34, 6, RTE_MBUF_F_TX_UDP_SEG, 1448, false);
			break;
		case 4:                  /* the checksum's start in the IP header */
			request(m, 30, 16, RTE_MBUF_F_TX_TCP_SEG, 1448, false);
			break;
		case 5: {                /* a fragment (MF) */
			struct rte_ipv4_hdr *ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, 14);

			ip->fragment_offset = RTE_BE16(RTE_IPV4_HDR_MF_FLAG);
			ip->hdr_checksum = 0;
			ip->hdr_checksum = rte_ipv4_cksum(ip);
			request(m, 34, 16, RTE_MBUF_F_TX_TCP_SEG, 1448, false);
			break;
		}
		case 6:                  /* a segment size past what an IP length holds */
			request(m, 34, 16, RTE_MBUF_F_TX_TCP_SEG, 65535, false);
			break;
		case 7:                  /* UDP, the checksum at TCP's offset */
			request(m, 34, 16, 0, 0, false);
			break;
		case 8: {                /* TCP data offset past the datagram */
			struct rte_tcp_hdr *th = rte_pktmbuf_mtod_offset(m, struct rte_tcp_hdr *, 34);

			rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, 14)->total_length = RTE_BE16(20 + 40);
			rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, 14)->hdr_checksum = 0;
			rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, 14)->hdr_checksum =
				rte_ipv4_cksum(rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, 14));
			th->data_off = 15 << 4;
			request(m, 34, 16, RTE_MBUF_F_TX_TCP_SEG, 1448, false);
			break;
		}
		case 9:                  /* a SYN to cut in fourteen (a kernel never sends one) */
		case 10: {               /* an RST likewise */
			struct rte_tcp_hdr *th = rte_pktmbuf_mtod_offset(m, struct rte_tcp_hdr *, 34);

			th->tcp_flags = k == 9 ? RTE_TCP_SYN_FLAG : RTE_TCP_RST_FLAG | RTE_TCP_ACK_FLAG;
			request(m, 34, 16, RTE_MBUF_F_TX_TCP_SEG, 1448, false);
			break;
		}
		}
		meta = run(m, (uint16_t)P_V, &b);
		if (meta.verdict != PSW_V_DROP) {
			fprintf(stderr, "\n  bad request %u: verdict %u, not dropped\n", k, meta.verdict);
			CU_FAIL("bad request taken");
		}
		psw_worker_dispatch(&lc, &b);
		psw_worker_flush(&lc);
	}
	CU_ASSERT_EQUAL(lc.sc.drops[PSW_DROP_GSO_BAD] + lc.sc.drops[PSW_DROP_L4_TRUNC], 11);
	drain_all();
	no_leak("bad requests");
}

/* Segments larger than the next hop's MTU (DF): the pod is told, an ICMP error of its own, whole. */
static void
test_seg_too_big(void)
{
	unsigned v;

	fresh(NULL);
	for (v = 0; v < 2; v++) {
		bool ip6 = v;
		struct rte_mbuf *m = pod_frame(ip6, IPPROTO_TCP, EXT, ext6, 40000, 80, 60000), *out[4];
		struct psw_meta meta;
		unsigned n;
		const uint8_t *d;

		t->ports[P_UP].mtu = 1400;
		t->node.has_ip6 = 1;
		make_partial(m, 14, ip6);
		request(m, ip6 ? 54 : 34, 16, RTE_MBUF_F_TX_TCP_SEG, 1448, ip6);
		meta = run_out(m, (uint16_t)P_V);
		CU_ASSERT_EQUAL(meta.verdict, PSW_V_TX);
		CU_ASSERT_EQUAL(meta.out_port, P_V);
		n = take(P_V, out, RTE_DIM(out));
		CU_ASSERT_EQUAL_FATAL(n, 1);
		d = rte_pktmbuf_mtod(out[0], const uint8_t *);
		CU_ASSERT_EQUAL(out[0]->ol_flags & PSW_OL_ANY, 0);
		CU_ASSERT(rte_pktmbuf_data_len(out[0]) <= 14 + 1280);
		if (!ip6) {
			CU_ASSERT_EQUAL(d[23], IPPROTO_ICMP);
			CU_ASSERT_EQUAL(d[34], 3);
			CU_ASSERT_EQUAL(d[35], 4);
			CU_ASSERT_EQUAL(d[34 + 6] << 8 | d[34 + 7], 1400);
			CU_ASSERT(ip4_ok(out[0]));
			CU_ASSERT_EQUAL(rte_raw_cksum(d + 34, rte_pktmbuf_data_len(out[0]) - 34), 0xffff);
		} else {
			CU_ASSERT_EQUAL(d[20], IPPROTO_ICMPV6);
			CU_ASSERT_EQUAL(d[54], 2);
			CU_ASSERT(l4_ok(out[0]));
		}
		rte_pktmbuf_free(out[0]);
	}
	/* without DF: its segments are not fragmented (nor the frame): dropped, counted */
	{
		struct rte_mbuf *m = pod_frame(false, IPPROTO_TCP, EXT, NULL, 40000, 80, 60000);
		struct rte_ipv4_hdr *ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, 14);
		uint64_t before = lc.sc.drops[PSW_DROP_MTU_EXCEEDED];
		struct psw_meta meta;

		ip->fragment_offset = 0;
		ip->hdr_checksum = 0;
		ip->hdr_checksum = rte_ipv4_cksum(ip);
		make_partial(m, 14, false);
		request(m, 34, 16, RTE_MBUF_F_TX_TCP_SEG, 1448, false);
		lc.sc.nb_extra = 0;
		meta = run_out(m, (uint16_t)P_V);
		CU_ASSERT_EQUAL(meta.verdict, PSW_V_DROP);
		CU_ASSERT_EQUAL(meta.drop_reason, PSW_DROP_MTU_EXCEEDED);
		CU_ASSERT_EQUAL(lc.sc.drops[PSW_DROP_MTU_EXCEEDED], before + 1);
		CU_ASSERT_EQUAL(lc.sc.nb_extra, 0);
	}
	drain_all();
	no_leak("too big");
}

/* Into the overlay: cut before VXLAN, each segment encapsulated, the inner ones right; room per burst kept. */
static void
test_seg_into_overlay(void)
{
	struct rte_mbuf *m, *out[64], *inner[64];
	struct psw_meta meta;
	unsigned n, i, mss = 1398;

	fresh(NULL);
	m = pod_frame(false, IPPROTO_TCP, REMOTE, NULL, 40000, 80, 30000);
	make_partial(m, 14, false);
	request(m, 34, 16, RTE_MBUF_F_TX_TCP_SEG, (uint16_t)mss, false);
	meta = run_out(m, (uint16_t)P_V);
	CU_ASSERT_EQUAL(meta.verdict, PSW_V_TX);
	n = take(P_UP, out, RTE_DIM(out));
	for (i = 0; i < n; i++) {
		CU_ASSERT(rte_pktmbuf_data_len(out[i]) <= 14 + 1500);
		inner[i] = out[i];
		rte_pktmbuf_adj(out[i], PSW_TUNNEL_OVERHEAD);   /* the inner frame */
	}
	check_segments(inner, n, (30000 + mss - 1) / mss, false, IPPROTO_TCP, 30000, mss,
		       RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG, "into the overlay");
	rte_pktmbuf_free_bulk(out, n);
	/* the burst's extra room mostly taken: refused, nothing lost */
	m = pod_frame(false, IPPROTO_TCP, REMOTE, NULL, 40000, 80, 30000);
	make_partial(m, 14, false);
	request(m, 34, 16, RTE_MBUF_F_TX_TCP_SEG, (uint16_t)mss, false);
	{
		struct psw_burst b;

		lc.sc.nb_extra = PSW_EXTRA_MAX - 5;
		for (i = 0; i < lc.sc.nb_extra; i++) {
			lc.sc.extra[i].pkt = rte_pktmbuf_alloc(mp);
			lc.sc.extra[i].port = (uint16_t)P_UP;
		}
		meta = run(m, (uint16_t)P_V, &b);
		CU_ASSERT_EQUAL(meta.verdict, PSW_V_DROP);
		CU_ASSERT_EQUAL(meta.drop_reason, PSW_DROP_GSO_NO_ROOM);
		psw_worker_dispatch(&lc, &b);
		psw_worker_flush(&lc);
	}
	drain_all();
	no_leak("into the overlay");
}

/* A tagged frame (the kernel took the tag off; the port put it back, csum_start after it). */
/*
 * A jumbo datagram without requests or DF, in a 64 KB mbuf, into the
 * overlay (1,450 bytes): fragmented, each piece but the first (the
 * datagram's own mbuf) in a default mbuf, not a 64 KB one.
 */
static void
test_jumbo_fragments(void)
{
	struct rte_mbuf *m, *out[16];
	struct rte_ipv4_hdr *ip;
	unsigned n, i, large = 0;

	fresh(NULL);
	m = pod_frame(false, IPPROTO_UDP, REMOTE, NULL, 40000, 53, 8000);
	CU_ASSERT_PTR_EQUAL_FATAL(m->pool, lp);
	ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, 14);
	ip->fragment_offset = 0;
	ip->hdr_checksum = 0;
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	CU_ASSERT_EQUAL(run_out(m, (uint16_t)P_V).verdict, PSW_V_TX);
	n = take(P_UP, out, RTE_DIM(out));
	CU_ASSERT_EQUAL(n, (8008 + 1424 - 1) / 1424);
	for (i = 0; i < n; i++) {
		CU_ASSERT(rte_pktmbuf_data_len(out[i]) <= 14 + 1500);
		large += out[i]->pool == lp;
	}
	CU_ASSERT_EQUAL(large, 1);
	rte_pktmbuf_free_bulk(out, n);
	drain_all();
	no_leak("jumbo fragments");
}

static void
test_seg_tagged(void)
{
	struct tpkt p;
	struct rte_mbuf *m, *out[64];
	struct psw_meta meta;
	unsigned n;

	fresh(NULL);
	tpkt_defaults(&p);
	memcpy(p.src_mac, mac_v, 6);
	memcpy(p.dst_mac, gw_mac, 6);
	p.nb_vlans = 1;
	p.proto = IPPROTO_TCP;
	p.src4 = V;
	p.dst4 = EXT;
	p.sport = 40000;
	p.dport = 80;
	p.payload = 10000;
	m = tpkt_build(lp, &p);
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	{
		uint8_t *d = rte_pktmbuf_mtod(m, uint8_t *);
		struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(d + 18);
		struct rte_tcp_hdr *th = (struct rte_tcp_hdr *)(ip + 1);

		ip->packet_id = RTE_BE16(0x1000);
		ip->fragment_offset = RTE_BE16(RTE_IPV4_HDR_DF_FLAG);
		ip->hdr_checksum = 0;
		ip->hdr_checksum = rte_ipv4_cksum(ip);
		th->tcp_flags = RTE_TCP_ACK_FLAG;
		th->sent_seq = rte_cpu_to_be_32(1000);
		make_partial(m, 18, false);
	}
	request(m, 38, 16, RTE_MBUF_F_TX_TCP_SEG, 1448, false);
	m->l2_len = 18;
	m->l3_len = 20;
	meta = run_out(m, (uint16_t)P_V);
	CU_ASSERT_EQUAL(meta.verdict, PSW_V_TX);
	n = take(P_UP, out, RTE_DIM(out));
	check_segments(out, n, (10000 + 1447) / 1448, false, IPPROTO_TCP, 10000, 1448, RTE_TCP_ACK_FLAG, "tagged");
	rte_pktmbuf_free_bulk(out, n);
	drain_all();
	no_leak("tagged");
}

/*
 * The af_packet port's way out (psw_sockport_tx, PACKET_VNET_HDR) on a veth
 * pair: a UDP datagram with a short payload and its checksum partial must
 * reach the other end either whole or with its virtio-net header asking
 * for it. Needs CAP_NET_ADMIN (skipped without).
 */
static void
test_sockport_short_udp_partial(void)
{
	struct rte_mbuf *m;
	struct psw_sockport *sp;
	char err[256];
	int fd, one = 1;
	unsigned payload;
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = RTE_BE16(0x0003) };

	fresh(NULL);
	(void)system("ip link del pswgso0 2>/dev/null");
	if (system("ip link add pswgso0 type veth peer name pswgso1 && ip link set pswgso0 up && "
		   "ip link set pswgso1 up") != 0) {
		fprintf(stderr, "\n  no veth (not root?): skipped\n");
		return;
	}
	sp = psw_sockport_open("pswgso0", lp, err, sizeof(err));
	fd = socket(AF_PACKET, SOCK_RAW, RTE_BE16(0x0003));
	sll.sll_ifindex = (int)if_nametoindex("pswgso1");
	CU_ASSERT_PTR_NOT_NULL_FATAL(sp);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FATAL(setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)) == 0);
	CU_ASSERT_FATAL(bind(fd, (struct sockaddr *)&sll, sizeof(sll)) == 0);
	for (payload = 0; payload < 40; payload += 4) {
		uint8_t buf[2048];
		struct virtio_net_hdr vh;
		ssize_t got;
		bool ok = false;
		int tries;

		m = pod_frame(false, IPPROTO_UDP, W, NULL, 40000, 53, payload);
		make_partial(m, 14, false);
		request(m, 34, 6, 0, 0, false);
		CU_ASSERT_EQUAL(psw_sockport_tx(sp, &m, 1), 1);
		for (tries = 0; tries < 100; tries++) {
			got = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
			if (got < 0) {
				usleep(1000);
				continue;
			}
			if (got < (ssize_t)(sizeof(vh) + 42) || buf[sizeof(vh) + 12] != 0x08 ||
			    buf[sizeof(vh) + 23] != IPPROTO_UDP)
				continue;                /* the veth's own chatter */
			memcpy(&vh, buf, sizeof(vh));
			if (vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
				ok = vh.csum_start == 34 && vh.csum_offset == 6;
			} else {
				struct rte_mbuf *r = rte_pktmbuf_alloc(mp);

				memcpy(rte_pktmbuf_append(r, (uint16_t)(got - (ssize_t)sizeof(vh))), buf + sizeof(vh),
				       (size_t)got - sizeof(vh));
				ok = l4_ok(r);
				rte_pktmbuf_free(r);
			}
			break;
		}
		if (!ok) {
			fprintf(stderr, "\n  UDP with %u bytes of payload: %s", payload,
				tries == 100 ? "not received" : "checksum neither whole nor asked for");
			CU_FAIL("short UDP partial checksum lost");
		}
	}
	close(fd);
	psw_sockport_close(sp);
	(void)system("ip link del pswgso0 2>/dev/null");
	no_leak("sockport");
}

int
main(void)
{
	CU_pSuite s;
	unsigned failures;

	mp = psw_ut_eal("gso", 4096);
	if (mp == NULL)
		return 1;
	lp = rte_pktmbuf_pool_create("ut_gso_large", 48, 0, 0, UINT16_MAX, SOCKET_ID_ANY);
	if (lp == NULL)
		return 1;
	psw_lcore_init(&lc);
	if (setup() != 0) {
		fprintf(stderr, "test_gso: setup failed\n");
		return 1;
	}
	CU_initialize_registry();
	s = CU_add_suite("gso", NULL, NULL);
	CU_add_test(s, "a foreign partial checksum cannot rewrite a port past policy", test_foreign_csum_cannot_rewrite_headers);
	CU_add_test(s, "a foreign partial checksum leaves parsed headers alone, any offset", test_foreign_csum_every_offset);
	CU_add_test(s, "own partial checksums: finished for the uplink, kept for a kernel pod", test_own_csum);
	CU_add_test(s, "NAT keeps partial checksums partial and right", test_nat_partial);
	CU_add_test(s, "60 KB frames to the uplink: every segment right", test_seg_to_uplink);
	CU_add_test(s, "60 KB frames to a kernel pod stay whole", test_seg_to_kernel_pod);
	CU_add_test(s, "segmentation requests that do not match: gso_bad", test_seg_bad_requests);
	CU_add_test(s, "segments past the MTU: ICMP too big, whole", test_seg_too_big);
	CU_add_test(s, "60 KB frames into the overlay, and past the burst's room", test_seg_into_overlay);
	CU_add_test(s, "a tagged 60 KB frame", test_seg_tagged);
	CU_add_test(s, "a jumbo datagram's fragments in default mbufs", test_jumbo_fragments);
	CU_add_test(s, "af_packet: a short UDP datagram's partial checksum reaches the pod", test_sockport_short_udp_partial);
	failures = (unsigned)psw_ut_run();
	psw_ct_destroy(t->ct);
	psw_ut_eal_fini();
	return failures ? 1 : 0;
}
