/* tunnel stage: VXLAN or Geneve decapsulation on uplinks; the encapsulation forward uses (psw_tunnel.h). */
#include <netinet/in.h>
#include <string.h>

#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_fib.h>
#include <rte_fib6.h>
#include <rte_hash_crc.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_udp.h>

#include "psw_csum.h"
#include "psw_gso.h"
#include "psw_parse.h"
#include "psw_tunnel.h"

#define VXLAN_HDR_LEN 8
#define VXLAN_FLAG_VNI 0x08
#define VXLAN_SPORT_MIN 49152        /* the dynamic range (RFC 7348 section 5) */

struct vxlan_hdr {
	uint8_t flags;
	uint8_t reserved[3];
	rte_be32_t vni;          /**< VNI << 8 */
} __rte_packed;

/* Geneve (RFC 8926): 8 bytes, then opt_len * 4 bytes of options. */
#define GENEVE_HDR_LEN 8
#define GENEVE_F_OAM 0x80            /* a control packet, not a frame for the data path */
#define GENEVE_F_CRITICAL 0x40       /* options a receiver must understand follow */
#define GENEVE_PROTO_ETHER 0x6558    /* Transparent Ethernet Bridging */

struct geneve_hdr {
	uint8_t ver_opt_len;     /**< version (2 bits, 0) | options' length in 4-byte words (6 bits) */
	uint8_t flags;           /**< O, C, then reserved */
	rte_be16_t proto;
	rte_be32_t vni;          /**< VNI << 8 */
} __rte_packed;

/* One of the node's own addresses on its uplinks (not the pods' gateway). */
static inline bool
uplink_addr(const struct psw_tables *t, uint32_t a)
{
	uint32_t i;

	for (i = 0; i < t->node.nb_addrs; i++)
		if (a == t->node.addrs4[i])
			return true;
	return false;
}

static inline bool
is_vxlan(const struct psw_tables *t, const struct psw_meta *m)
{
	/* the destination port first: it alone sets nearly every packet aside */
	return m->dport == t->node.tunnel_port && m->verdict == PSW_V_CONTINUE && m->l3 == PSW_L3_IPV4 &&
	       m->l4_proto == IPPROTO_UDP && (m->flags & (PSW_F_L4 | PSW_F_FRAG)) == PSW_F_L4 &&
	       t->ports[m->in_port].is_uplink && uplink_addr(t, m->dst4);
}

/* The one's-complement sum over the pseudo-header and the datagram, its checksum included, is all ones. */
static inline bool
udp_cksum_ok(const struct rte_ipv4_hdr *ip, const struct rte_udp_hdr *udp)
{
	uint32_t sum = (uint32_t)rte_raw_cksum(udp, rte_be_to_cpu_16(udp->dgram_len)) +
		       rte_ipv4_phdr_cksum(ip, 0);

	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return sum == 0xffff;
}

/*
 * The offset of the frame a tunnel header at off carries (its fixed part
 * is there, checked by the caller), or 0: not one for this node's overlay
 * (the VNI), or a Geneve one to drop (its reason set in *why).
 */
static inline unsigned
tunnel_inner(const struct psw_tables *t, const struct rte_mbuf *pkt, unsigned off, enum psw_drop_reason *why)
{
	const struct geneve_hdr *g;

	*why = PSW_DROP_VXLAN_BAD;
	if (!t->node.geneve) {
		const struct vxlan_hdr *vx = rte_pktmbuf_mtod_offset(pkt, const struct vxlan_hdr *, off);

		if (!(vx->flags & VXLAN_FLAG_VNI) || (rte_be_to_cpu_32(vx->vni) >> 8) != t->node.vni)
			return 0;
		return off + VXLAN_HDR_LEN;
	}
	g = rte_pktmbuf_mtod_offset(pkt, const struct geneve_hdr *, off);
	if ((g->ver_opt_len >> 6) != 0 || g->proto != RTE_BE16(GENEVE_PROTO_ETHER) ||
	    (rte_be_to_cpu_32(g->vni) >> 8) != t->node.vni)
		return 0;
	/* a control packet, or options this switch would have to understand (it knows none) */
	if (g->flags & (GENEVE_F_OAM | GENEVE_F_CRITICAL)) {
		*why = PSW_DROP_GENEVE_OPTION;
		return 0;
	}
	return off + GENEVE_HDR_LEN + (g->ver_opt_len & 0x3fu) * 4u;   /* other options skipped */
}

/*
 * Take the outer headers off a VXLAN or Geneve frame and parse what it
 * carried; true when that is an untagged IPv4 or IPv6 packet, whose sender
 * the caller checks next (else it is dropped).
 */
static bool
decap(struct psw_stage_ctx *sc, const struct psw_tables *t, struct rte_mbuf *pkt, struct psw_meta *m)
{
	unsigned hdr = m->l4_off + sizeof(struct rte_udp_hdr), inner, end = m->l2_len + m->l3_payload;
	const struct rte_udp_hdr *udp = rte_pktmbuf_mtod_offset(pkt, const struct rte_udp_hdr *, m->l4_off);
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(pkt, struct rte_ether_hdr *);
	enum psw_drop_reason why;

	/* to this switch's MAC on the uplink, untagged: not a frame for another station */
	if ((m->flags & (PSW_F_L2_MCAST | PSW_F_VLAN)) ||
	    !rte_is_same_ether_addr(&eth->dst_addr, psw_port_mac(t, m->in_port))) {
		psw_set_drop(m, PSW_DROP_L2_DST);
		return false;
	}
	/* the tunnel header's fixed part (8 bytes, VXLAN or Geneve) and an Ethernet header after it */
	if (pkt->nb_segs != 1 || hdr + 8 + sizeof(*eth) > end || end > rte_pktmbuf_data_len(pkt) ||
	    /* the UDP length says what the IP length says */
	    rte_be_to_cpu_16(udp->dgram_len) != end - m->l4_off) {
		psw_set_drop(m, PSW_DROP_VXLAN_BAD);
		return false;
	}
	/* a checksum, when the sender gave one, must be right (ours send none) */
	if (udp->dgram_cksum != 0 && !(pkt->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_GOOD) &&
	    !udp_cksum_ok(rte_pktmbuf_mtod_offset(pkt, const struct rte_ipv4_hdr *, m->l2_len), udp)) {
		psw_set_drop(m, PSW_DROP_VXLAN_BAD);
		return false;
	}
	inner = tunnel_inner(t, pkt, hdr, &why);
	/* (Geneve's options: the frame after them must be there too) */
	if (inner == 0 || inner + sizeof(*eth) > end) {
		psw_set_drop(m, inner == 0 ? why : PSW_DROP_VXLAN_BAD);
		return false;
	}
	/* the carried frame, and nothing after it (the outer frame's padding): one segment */
	pkt->data_off = (uint16_t)(pkt->data_off + inner);
	pkt->data_len = (uint16_t)(end - inner);
	pkt->pkt_len = pkt->data_len;
	eth = rte_pktmbuf_mtod(pkt, struct rte_ether_hdr *);
	rte_ether_addr_copy(psw_port_mac(t, m->in_port), &eth->dst_addr);
	/*
	 * What the NIC checked was the outer header. The inner IPv4 header's
	 * checksum is arrived()'s to check, once it knows where the packet
	 * goes: parse is told it is good, and then that nothing is known.
	 */
	pkt->ol_flags = (pkt->ol_flags & ~(RTE_MBUF_F_RX_IP_CKSUM_MASK | RTE_MBUF_F_RX_L4_CKSUM_MASK)) |
			RTE_MBUF_F_RX_IP_CKSUM_GOOD;
	psw_parse_one(pkt, m);
	pkt->ol_flags &= ~RTE_MBUF_F_RX_IP_CKSUM_MASK;
	if (unlikely(m->flags & PSW_F_FRAG))
		psw_count_event(sc, PSW_EV_FRAG_SEEN);   /* the outer datagram was not one */
	if (m->verdict != PSW_V_CONTINUE)
		return false;
	if ((m->l3 != PSW_L3_IPV4 && m->l3 != PSW_L3_IPV6) || (m->flags & PSW_F_VLAN)) {
		psw_set_drop(m, PSW_DROP_VXLAN_BAD);
		return false;
	}
	return true;
}

/*
 * A decapsulated packet whose inner source routes to vtep, the outer
 * source: one of that node's pods (its pod CIDR's VXLAN route) or the node
 * itself (the host route to one of its InternalIPs, a NodePort's client it
 * masqueraded to its address). Both routes name the node's VTEP; vtep 0
 * names none. hop is the inner source's route, from the bulk lookup.
 */
static inline bool
sender_ok(const struct psw_tables *t, uint64_t hop, uint32_t vtep)
{
	return hop < t->routes->nb_nhs && vtep != 0 && t->routes->nhs[hop].tunnel_dst == vtep;
}

/*
 * A decapsulated packet its node sent: for a pod of this node, or the node
 * (its gateway), never to be relayed to a third. An IPv4 header's checksum
 * is checked here unless the packet is a pod's plain one (not ICMP, not a
 * large frame), which forward passes on with only its TTL changed (the
 * checksum updated, a wrong one staying wrong for the pod's stack to
 * drop): such a packet is marked PSW_F_IP_CSUM_LAZY, and forward checks
 * it before it answers it or rewrites its header whole (too big,
 * fragments, TTL expired), the service stage before it refuses a
 * connection (psw_tunnel_csum_ok).
 */
static void
arrived(struct psw_stage_ctx *sc, const struct psw_tables *t, struct rte_mbuf *pkt, struct psw_meta *m)
{
	if (m->l3 == PSW_L3_IPV4) {
		bool pod = t->pods != NULL && psw_pod_find4(t->pods, m->dst4, psw_pod_hash4(m->dst4)) >= 0;

		if (!pod && !psw_node_addr(&t->node, 4, (const uint8_t *)&m->dst4)) {
			psw_set_drop(m, PSW_DROP_VXLAN_NOT_HERE);
			return;
		}
		/* (and ICMPv6's number: nothing answers or rewrites it in IPv4, psw_is_icmp_error, but it costs nothing) */
		if (likely(pod && m->l4_proto != IPPROTO_ICMP && m->l4_proto != IPPROTO_ICMPV6 &&
			   !psw_gso_requested(pkt))) {
			m->flags |= PSW_F_IP_CSUM_LAZY;
		} else if (!psw_ip4_hdr_csum_ok(rte_pktmbuf_mtod_offset(pkt, const void *, m->l2_len),
					       m->l3_len)) {
			psw_set_drop(m, PSW_DROP_IP4_CSUM);
			return;
		}
	} else if (!(t->pods != NULL && psw_pod_find6(t->pods, m->dst6, psw_pod_hash6(m->dst6)) >= 0) &&
		   !psw_node_addr(&t->node, 6, m->dst6)) {
		psw_set_drop(m, PSW_DROP_VXLAN_NOT_HERE);
		return;
	}
	m->flags |= PSW_F_TUNNEL;                /* answers to it go back the way it came */
	psw_count_event(sc, PSW_EV_VXLAN_DECAP);
}

/*
 * The n decapsulated packets at idx, one family's, their inner sources'
 * routes in hop (NULL: no routes of that family, so no sender is known):
 * on to arrived() if from their outer source's node, else vxlan_spoof.
 */
static inline void
senders_checked(struct psw_stage_ctx *sc, const struct psw_tables *t, struct psw_burst *b, const uint8_t *idx,
		const uint32_t *vtep, const uint64_t *hop, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		if (hop != NULL && sender_ok(t, hop[i], vtep[i]))
			arrived(sc, t, b->pkts[idx[i]], &b->meta[idx[i]]);
		else
			psw_set_drop(&b->meta[idx[i]], PSW_DROP_VXLAN_SPOOF);
	}
}

/*
 * Decapsulate the burst's VXLAN or Geneve frames, then check the inner
 * sources against their senders, one bulk route lookup per family (those
 * that do not route to their outer source are dropped, vxlan_spoof), and
 * the destinations (arrived()).
 */
void
psw_tunnel_run(struct psw_stage_ctx *sc, const struct psw_tables *t, struct psw_burst *b)
{
	uint8_t idx4[PSW_BURST_MAX], idx6[PSW_BURST_MAX];
	uint32_t vtep4[PSW_BURST_MAX], vtep6[PSW_BURST_MAX], ip4[PSW_BURST_MAX];
	uint8_t ip6[PSW_BURST_MAX][RTE_FIB6_IPV6_ADDR_SIZE];
	uint64_t hop[PSW_BURST_MAX];
	unsigned i, n4 = 0, n6 = 0;

	if (!t->node.overlay)
		return;
	for (i = 0; i < b->nb; i++) {
		struct psw_meta *m = &b->meta[i];
		uint32_t vtep;

		if (!is_vxlan(t, m))
			continue;
		vtep = m->src4;                  /* the outer source, before the inner parse */
		if (!decap(sc, t, b->pkts[i], m))
			continue;
		if (m->l3 == PSW_L3_IPV4) {
			idx4[n4] = (uint8_t)i;
			vtep4[n4] = vtep;
			ip4[n4++] = rte_be_to_cpu_32(m->src4);
		} else {
			idx6[n6] = (uint8_t)i;
			vtep6[n6] = vtep;
			memcpy(ip6[n6++], m->src6, 16);
		}
	}
	if (n4 > 0) {
		bool fib = t->routes != NULL && t->routes->fib4 != NULL;

		if (fib)
			rte_fib_lookup_bulk(t->routes->fib4, ip4, hop, n4);
		senders_checked(sc, t, b, idx4, vtep4, fib ? hop : NULL, n4);
	}
	if (n6 > 0) {
		bool fib = t->routes != NULL && t->routes->fib6 != NULL;

		if (fib)
			rte_fib6_lookup_bulk(t->routes->fib6, ip6, hop, n6);
		senders_checked(sc, t, b, idx6, vtep6, fib ? hop : NULL, n6);
	}
}

/* The inner flow's hash, for the outer UDP source port. */
static inline uint16_t
flow_port(const struct psw_meta *m)
{
	uint32_t h = m->l3 == PSW_L3_IPV4 ? rte_hash_crc_4byte(m->src4, m->dst4 ^ 0x56584c4eu)
					   : rte_hash_crc(m->dst6, 16, rte_hash_crc(m->src6, 16, 0x56584c4eu));

	h = rte_hash_crc_4byte((uint32_t)m->sport << 16 | m->dport, h ^ m->l4_proto);
	return (uint16_t)(VXLAN_SPORT_MIN + (h & 0x3fff));
}

void
psw_tunnel_prepare(struct psw_node_info *node)
{
	uint8_t *d = node->tunnel_hdr;
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(d + 2);
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(ip + 1);
	uint8_t *tun = (uint8_t *)(udp + 1);

	memset(d, 0, sizeof(node->tunnel_hdr));
	*(rte_be16_t *)d = RTE_BE16(RTE_ETHER_TYPE_IPV4);
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_UDP;
	ip->src_addr = node->nb_addrs > 0 ? node->addrs4[0] : 0;
	udp->dst_port = node->tunnel_port;
	if (node->geneve) {
		struct geneve_hdr *g = (struct geneve_hdr *)tun;

		g->proto = RTE_BE16(GENEVE_PROTO_ETHER);
		g->vni = rte_cpu_to_be_32(node->vni << 8);
	} else {
		struct vxlan_hdr *vx = (struct vxlan_hdr *)tun;

		vx->flags = VXLAN_FLAG_VNI;
		vx->vni = rte_cpu_to_be_32(node->vni << 8);
	}
	/* the inner frame's destination MAC stays zero: the receiver sets its own */
	rte_ether_addr_copy(&node->gw_mac, (struct rte_ether_addr *)(tun + VXLAN_HDR_LEN + RTE_ETHER_ADDR_LEN));
	node->tunnel_sum = psw_ip4_hdr_sum20(ip);
}

struct rte_ether_hdr *
psw_tunnel_encap(const struct psw_tables *t, struct rte_mbuf *pkt, const struct psw_meta *m,
		const struct psw_nh *nh)
{
	uint16_t inner_len = (uint16_t)rte_pktmbuf_pkt_len(pkt);
	rte_be16_t ip_len = rte_cpu_to_be_16((uint16_t)(inner_len + PSW_TUNNEL_OVERHEAD - RTE_ETHER_HDR_LEN));
	struct rte_ipv4_hdr *ip;
	struct rte_udp_hdr *udp;
	uint8_t *d;

	if (pkt->nb_segs != 1 || t->node.nb_addrs == 0)
		return NULL;
	d = (uint8_t *)rte_pktmbuf_prepend(pkt, PSW_TUNNEL_OVERHEAD);
	if (d == NULL)
		return NULL;
	/* the template over the outer headers and the inner frame's MACs, then what differs */
	memcpy(d + 2 * RTE_ETHER_ADDR_LEN, t->node.tunnel_hdr, sizeof(t->node.tunnel_hdr));
	ip = (struct rte_ipv4_hdr *)(d + RTE_ETHER_HDR_LEN);
	ip->total_length = ip_len;
	ip->dst_addr = nh->tunnel_dst;
	ip->hdr_checksum = (uint16_t)~psw_csum_fold((uint64_t)t->node.tunnel_sum + nh->tunnel_dst + ip_len);
	udp = (struct rte_udp_hdr *)(ip + 1);
	udp->src_port = rte_cpu_to_be_16(flow_port(m));
	udp->dgram_len = rte_cpu_to_be_16((uint16_t)(inner_len + sizeof(*udp) + VXLAN_HDR_LEN));
	return (struct rte_ether_hdr *)d;
}
