/* forward stage: pod exact match, then LPM routes; rewrite and TTL. */
#include <netinet/in.h>
#include <string.h>

#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_fib.h>
#include <rte_fib6.h>
#include <rte_hash.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>

#include "psw_answer.h"
#include "psw_csum.h"
#include "psw_forward.h"
#include "psw_gso.h"
#include "psw_parse.h"
#include "psw_tunnel.h"

/* Routed frames leave untagged: drop the VLAN tags, keep the Ethernet header. */
static inline struct rte_ether_hdr *
strip_vlans(struct rte_mbuf *pkt, struct psw_meta *m)
{
	if (m->l2_len > sizeof(struct rte_ether_hdr)) {
		uint16_t extra = (uint16_t)(m->l2_len - sizeof(struct rte_ether_hdr));
		uint16_t type = m->l3 == PSW_L3_IPV4 ? RTE_BE16(RTE_ETHER_TYPE_IPV4)
						     : RTE_BE16(RTE_ETHER_TYPE_IPV6);
		struct rte_ether_hdr *eth = (struct rte_ether_hdr *)rte_pktmbuf_adj(pkt, extra);

		eth->ether_type = type;
		m->l2_len = sizeof(struct rte_ether_hdr);
		pkt->l2_len = sizeof(struct rte_ether_hdr);   /* offload requests (psw_gso.h) */
		m->l4_off = (uint16_t)(m->l4_off - extra);
		return eth;
	}
	return rte_pktmbuf_mtod(pkt, struct rte_ether_hdr *);
}

/*
 * Bytes after the datagram (Ethernet padding, or whatever more the sender
 * put there) stay out of the overlay: encapsulation counts every byte of
 * the frame in the outer lengths, and only the datagram was checked
 * against the MTU.
 */
static inline void
datagram_only(struct rte_mbuf *pkt, const struct psw_meta *m)
{
	uint32_t len = (uint32_t)m->l2_len + m->l3_payload;

	if (unlikely(rte_pktmbuf_pkt_len(pkt) > len))
		rte_pktmbuf_trim(pkt, (uint16_t)(rte_pktmbuf_pkt_len(pkt) - len));
}

/* The datagram alone into the overlay to nh; NULL when it could not be (dropped, vxlan_no_room). */
static inline struct rte_ether_hdr *
tunnel_out(struct psw_stage_ctx *sc, const struct psw_tables *t, struct rte_mbuf *pkt, struct psw_meta *m,
	   const struct psw_nh *nh)
{
	struct rte_ether_hdr *eth;

	if (unlikely(pkt->ol_flags & PSW_OL_CSUM)) {
		psw_gso_csum(pkt);               /* the other node gets it whole (psw_gso.h) */
		psw_count_event(sc, PSW_EV_CSUM_FINISHED);
	}
	datagram_only(pkt, m);
	eth = psw_tunnel_encap(t, pkt, m, nh);
	if (unlikely(eth == NULL))
		psw_set_drop(m, PSW_DROP_VXLAN_NO_ROOM);
	else
		psw_count_event(sc, PSW_EV_VXLAN_ENCAP);
	return eth;
}

static void route_answer(struct psw_stage_ctx *sc, const struct psw_tables *t, struct rte_mbuf *pkt,
			 struct psw_meta *m);

/* An ICMP error forward built in place of pkt: counted, and routed back into VXLAN if pkt came out of it. */
static void
answered(struct psw_stage_ctx *sc, const struct psw_tables *t, struct rte_mbuf *pkt, struct psw_meta *m,
	 enum psw_event ev)
{
	psw_count_event(sc, ev);
	if (unlikely(m->flags & PSW_F_TUNNEL))
		route_answer(sc, t, pkt, m);
}

/*
 * Longer than the next hop takes, and not to be fragmented (fragmentable()):
 * the sender is told the MTU (IPv4 with DF, IPv6), or, an IPv4 packet
 * without DF that cannot be split, it is dropped and counted.
 */
static __rte_noinline void
too_big(struct psw_stage_ctx *sc, const struct psw_tables *t, struct rte_mbuf *pkt,
	struct psw_meta *m, unsigned mtu)
{
	if (m->l3 == PSW_L3_IPV4) {
		const struct rte_ipv4_hdr *ip = rte_pktmbuf_mtod_offset(pkt, const struct rte_ipv4_hdr *,
									 m->l2_len);

		if (!(ip->fragment_offset & RTE_BE16(RTE_IPV4_HDR_DF_FLAG))) {
			psw_set_drop(m, PSW_DROP_MTU_EXCEEDED);
			return;
		}
	}
	if (!psw_punt_allow(sc, m->in_port))
		psw_set_drop(m, PSW_DROP_PUNT_LIMIT);
	else if (psw_icmp_too_big(t, pkt, m, (uint16_t)mtu) == 0)
		answered(sc, t, pkt, m, PSW_EV_ICMP_TOO_BIG);
	else
		psw_set_drop(m, PSW_DROP_MTU_EXCEEDED);
}

/*
 * A destination on an uplink's subnet: its own MAC from hosts4 / hosts6,
 * or, not known yet, to the control thread (cookie 0: resolve the
 * destination).
 */
static inline const struct psw_nh *
glean(const struct psw_tables *t, const struct psw_meta *m, struct psw_nh *host)
{
	static const struct psw_nh unknown = { .port = PSW_PORT_NONE, .flags = PSW_NH_F_RESOLVE };
	struct rte_hash *h = m->l3 == PSW_L3_IPV4 ? t->hosts4 : t->hosts6;
	void *d;

	if (h == NULL || rte_hash_lookup_data(h, m->l3 == PSW_L3_IPV4 ? (const void *)&m->dst4
								       : (const void *)m->dst6, &d) < 0)
		return &unknown;
	psw_host_nh_decode(d, host);
	return host;
}

/*
 * Can pkt, longer than mtu, leave in fragments as a router sends them (RFC
 * 791): IPv4 without DF, its header without options, in one segment, to a
 * next hop whose MAC is known, all of it within the 13-bit offsets?
 */
static inline bool
fragmentable(const struct rte_mbuf *pkt, const struct psw_meta *m, const struct psw_nh *nh, unsigned mtu)
{
	const struct rte_ipv4_hdr *ip;

	if (m->l3 != PSW_L3_IPV4 || pkt->nb_segs != 1 || (nh->flags & PSW_NH_F_RESOLVE) || mtu < 68)
		return false;
	ip = rte_pktmbuf_mtod_offset(pkt, const struct rte_ipv4_hdr *, m->l2_len);
	return !(ip->fragment_offset & RTE_BE16(RTE_IPV4_HDR_DF_FLAG)) && ip->version_ihl == RTE_IPV4_VHL_DEF &&
	       (rte_be_to_cpu_16(ip->fragment_offset) & RTE_IPV4_HDR_OFFSET_MASK) * 8u + m->l3_payload <= 65535u;
}

/*
 * Split pkt (a plain 14-byte Ethernet header, fragmentable()) into
 * fragments of at most mtu bytes of IP, each offset a multiple of 8: pkt
 * keeps the first, the others are new mbufs from its pool written to out
 * (room for max), its Ethernet header copied. Offsets and MF follow the
 * original's (a fragment may be split again: only its last piece keeps
 * its MF). The L4 header stays in the first. Returns how many new ones, or
 * -1 with nothing changed (no mbufs, or more than max).
 */
static int
fragment(struct rte_mbuf *pkt, struct psw_meta *m, unsigned mtu, struct rte_mbuf **out, unsigned max,
	 struct rte_mempool *mp, struct rte_mempool *big)
{
	struct rte_ipv4_hdr *ip = rte_pktmbuf_mtod_offset(pkt, struct rte_ipv4_hdr *, m->l2_len);
	unsigned hl = sizeof(*ip), data = m->l3_payload - hl, chunk = (mtu - hl) & ~7u;
	unsigned n = (data + chunk - 1) / chunk - 1, i;
	uint16_t frag = rte_be_to_cpu_16(ip->fragment_offset);
	uint16_t off0 = frag & RTE_IPV4_HDR_OFFSET_MASK, mf = frag & RTE_IPV4_HDR_MF_FLAG;

	/* default mbufs when a piece fits one, else 64 KB ones (psw_gso.h) */
	if (mp == NULL || m->l2_len + mtu + RTE_PKTMBUF_HEADROOM > rte_pktmbuf_data_room_size(mp))
		mp = big != NULL ? big : pkt->pool;
	if (n == 0 || n > max || rte_pktmbuf_alloc_bulk(mp, out, n) != 0)
		return -1;
	for (i = 0; i < n; i++) {
		unsigned start = (i + 1) * chunk, len = RTE_MIN(chunk, data - start);
		uint8_t *d = (uint8_t *)rte_pktmbuf_append(out[i], (uint16_t)(m->l2_len + hl + len));
		struct rte_ipv4_hdr *fip;

		if (d == NULL) {                 /* a pool of smaller mbufs */
			rte_pktmbuf_free_bulk(out, n);
			return -1;
		}
		memcpy(d, rte_pktmbuf_mtod(pkt, const uint8_t *), m->l2_len + hl);
		memcpy(d + m->l2_len + hl, (const uint8_t *)ip + hl + start, len);
		fip = (struct rte_ipv4_hdr *)(d + m->l2_len);
		fip->total_length = rte_cpu_to_be_16((uint16_t)(hl + len));
		fip->fragment_offset = rte_cpu_to_be_16((uint16_t)((off0 + start / 8) |
								   (i == n - 1 ? mf : RTE_IPV4_HDR_MF_FLAG)));
		fip->hdr_checksum = 0;
		fip->hdr_checksum = psw_ip4_hdr_csum20(fip);
		out[i]->port = pkt->port;
	}
	rte_pktmbuf_trim(pkt, (uint16_t)(rte_pktmbuf_data_len(pkt) - (m->l2_len + hl + chunk)));
	ip->total_length = rte_cpu_to_be_16((uint16_t)(hl + chunk));
	ip->fragment_offset = rte_cpu_to_be_16((uint16_t)(off0 | RTE_IPV4_HDR_MF_FLAG));
	ip->hdr_checksum = 0;
	ip->hdr_checksum = psw_ip4_hdr_csum20(ip);
	m->l3_payload = (uint16_t)(hl + chunk);
	return (int)n;
}

/*
 * The fragments of pkt after its first (which goes on as the packet), for
 * next hop nh: encapsulated if it is another node's overlay, addressed,
 * and queued to go after the burst (dispatch sends sc->extra).
 */
static __rte_noinline void
split(struct psw_stage_ctx *sc, const struct psw_tables *t, struct rte_mbuf *pkt, struct psw_meta *m,
      const struct psw_nh *nh, unsigned mtu)
{
	struct rte_mbuf *frags[PSW_EXTRA_MAX];
	struct rte_ether_hdr *eth;
	int n = fragment(pkt, m, mtu, frags, PSW_EXTRA_MAX - sc->nb_extra, sc->mp, psw_large_mp(sc)), i;

	if (n < 0) {
		psw_set_drop(m, PSW_DROP_FRAG_NO_ROOM);
		return;
	}
	for (i = 0; i < n; i++) {
		eth = rte_pktmbuf_mtod(frags[i], struct rte_ether_hdr *);
		if (nh->flags & PSW_NH_F_TUNNEL) {
			eth = psw_tunnel_encap(t, frags[i], m, nh);
			if (eth == NULL) {       /* (new mbufs have the headroom) */
				sc->drops[PSW_DROP_VXLAN_NO_ROOM]++;
				rte_pktmbuf_free(frags[i]);
				continue;
			}
			psw_count_event(sc, PSW_EV_VXLAN_ENCAP);
		}
		rte_ether_addr_copy(&nh->mac, &eth->dst_addr);
		rte_ether_addr_copy(psw_port_mac(t, nh->port), &eth->src_addr);
		sc->extra[sc->nb_extra].pkt = frags[i];
		sc->extra[sc->nb_extra].port = nh->port;
		sc->nb_extra++;
	}
	psw_count_event(sc, PSW_EV_FRAGMENTED);
}

/*
 * A kernel pod's large frame to next hop nh that cannot take it whole (the
 * overlay): cut into segments (psw_gso.h), the first going on as the
 * packet, the others encapsulated if nh is another node's overlay,
 * addressed, and queued to go after the burst, as split()'s fragments.
 */
static __rte_noinline void
gso_split(struct psw_stage_ctx *sc, const struct psw_tables *t, struct rte_mbuf *pkt, struct psw_meta *m,
	  const struct psw_nh *nh)
{
	struct rte_mbuf *segs[PSW_EXTRA_MAX];
	struct rte_ether_hdr *eth;
	int n = psw_gso_segment(pkt, sc->mp != NULL ? sc->mp : pkt->pool, psw_large_mp(sc), segs,
				PSW_EXTRA_MAX - sc->nb_extra), i;

	if (n < 0) {
		psw_set_drop(m, PSW_DROP_GSO_NO_ROOM);
		return;
	}
	m->l3_payload = (uint16_t)(rte_pktmbuf_data_len(pkt) - m->l2_len);
	for (i = 0; i < n; i++) {
		eth = rte_pktmbuf_mtod(segs[i], struct rte_ether_hdr *);
		if (nh->flags & PSW_NH_F_TUNNEL) {
			eth = psw_tunnel_encap(t, segs[i], m, nh);
			if (eth == NULL) {
				sc->drops[PSW_DROP_VXLAN_NO_ROOM]++;
				rte_pktmbuf_free(segs[i]);
				continue;
			}
			psw_count_event(sc, PSW_EV_VXLAN_ENCAP);
		}
		rte_ether_addr_copy(&nh->mac, &eth->dst_addr);
		rte_ether_addr_copy(psw_port_mac(t, nh->port), &eth->src_addr);
		sc->extra[sc->nb_extra].pkt = segs[i];
		sc->extra[sc->nb_extra].port = nh->port;
		sc->nb_extra++;
	}
	psw_count_event(sc, PSW_EV_GSO_SEGMENTED);
}

/* An expiring packet becomes an ICMP time-exceeded back to its sender. */
static __rte_noinline void
expired(struct psw_stage_ctx *sc, const struct psw_tables *t, struct rte_mbuf *pkt, struct psw_meta *m)
{
	if (!psw_tunnel_csum_ok(pkt, m))
		return;
	if (!psw_punt_allow(sc, m->in_port))
		psw_set_drop(m, PSW_DROP_PUNT_LIMIT);
	else if (psw_icmp_time_exceeded(t, pkt, m) == 0)
		answered(sc, t, pkt, m, PSW_EV_ICMP_TIME_EXCEEDED);
	else
		psw_set_drop(m, PSW_DROP_TTL_EXCEEDED);
}

/* The TTL / hop limit decremented (IPv4 checksum updated); false when it expired here. */
static inline bool
hop(struct psw_stage_ctx *sc, const struct psw_tables *t, struct rte_mbuf *pkt, struct psw_meta *m)
{
	if (m->l3 == PSW_L3_IPV4) {
		struct rte_ipv4_hdr *ip = rte_pktmbuf_mtod_offset(pkt, struct rte_ipv4_hdr *, m->l2_len);

		if (unlikely(ip->time_to_live <= 1)) {
			expired(sc, t, pkt, m);
			return false;
		}
		psw_ip4_ttl_dec(ip);
		psw_count_event(sc, PSW_EV_FORWARDED4);
	} else {
		struct rte_ipv6_hdr *ip = rte_pktmbuf_mtod_offset(pkt, struct rte_ipv6_hdr *, m->l2_len);

		if (unlikely(ip->hop_limits <= 1)) {
			expired(sc, t, pkt, m);
			return false;
		}
		ip->hop_limits--;
		psw_count_event(sc, PSW_EV_FORWARDED6);
	}
	return true;
}

/*
 * UDP to another node's VTEP (the host route to its IPv4 InternalIP names
 * it) at the cluster's VXLAN port, not from an uplink: not the switch's own
 * VXLAN (encapsulated after this), but a pod's or the node's stack's
 * datagram. Masqueraded to this node's address it would pass there as this
 * node's VXLAN, its inner source this node's address or any of its pods'.
 */
static inline bool
forged_vxlan(const struct psw_tables *t, const struct psw_meta *m, const struct psw_nh *nh)
{
	return (nh->flags & PSW_NH_F_VTEP) && m->l3 == PSW_L3_IPV4 && m->dst4 == nh->tunnel_dst &&
	       m->l4_proto == IPPROTO_UDP && (m->flags & PSW_F_L4) && m->dport == t->node.tunnel_port &&
	       !t->ports[m->in_port].is_uplink;
}

/*
 * A next hop that is not a plain MAC on a port: a destination on an
 * uplink's subnet (glean), another node's overlay (VXLAN) or address
 * (VTEP), or one whose MAC is not known yet (resolve). Out of line: the
 * common path stays short.
 */
static __rte_noinline void
forward_special(struct psw_stage_ctx *sc, const struct psw_tables *t, struct rte_mbuf *pkt,
		struct psw_meta *m, const struct psw_nh *nh)
{
	struct rte_ether_hdr *eth;
	struct psw_nh host;
	unsigned mtu, size;
	bool seg;

	if (!psw_tunnel_csum_ok(pkt, m))
		return;
	if (m->l3 != PSW_L3_NONE)
		datagram_only(pkt, m);   /* what follows the datagram leaves no more (Ethernet padding) */
	if (unlikely(forged_vxlan(t, m, nh))) {
		psw_set_drop(m, PSW_DROP_VXLAN_FORGED);
		return;
	}
	if (nh->flags & PSW_NH_F_GLEAN)
		nh = glean(t, m, &host);
	if (!(nh->flags & PSW_NH_F_RESOLVE) &&
	    (nh->port >= PSW_MAX_PORTS || !t->ports[nh->port].present)) {
		psw_set_drop(m, PSW_DROP_PORT_GONE);
		return;
	}
	/* 0: no limit known (tables built by hand) */
	mtu = nh->port < PSW_MAX_PORTS ? t->ports[nh->port].mtu : t->node.uplink_mtu;
	if (mtu > PSW_TUNNEL_OVERHEAD && (nh->flags & PSW_NH_F_TUNNEL))
		mtu -= PSW_TUNNEL_OVERHEAD;
	/* a kernel pod's large frame leaves in segments: theirs is the size to
	 * check, and segments too long are not fragmented (told, or dropped) */
	seg = unlikely(pkt->ol_flags & PSW_OL_SEG) != 0;
	size = seg ? psw_gso_seg_l3(pkt, m) : m->l3_payload;
	if (mtu != 0 && size > mtu && (seg || !fragmentable(pkt, m, nh, mtu))) {
		too_big(sc, t, pkt, m, mtu);
		return;
	}
	if (!hop(sc, t, pkt, m))
		return;
	eth = strip_vlans(pkt, m);
	if (mtu != 0 && size > mtu) {
		if (pkt->ol_flags & PSW_OL_CSUM) {
			psw_gso_csum(pkt);       /* over the whole datagram, before it is split */
			psw_count_event(sc, PSW_EV_CSUM_FINISHED);
		}
		split(sc, t, pkt, m, nh, mtu);
		if (m->verdict == PSW_V_DROP)
			return;
	}
	if (seg && (nh->flags & PSW_NH_F_TUNNEL)) {
		gso_split(sc, t, pkt, m, nh);
		if (m->verdict == PSW_V_DROP)
			return;
	}
	if ((nh->flags & PSW_NH_F_TUNNEL) && (eth = tunnel_out(sc, t, pkt, m, nh)) == NULL)
		return;
	if (nh->flags & PSW_NH_F_RESOLVE) {
		/* the control thread holds it, asks, and sends it with the MAC; at
		 * the port's rate for punts, so a flood to a dead address cannot
		 * keep the control thread busy */
		if (!psw_punt_allow(sc, m->in_port)) {
			psw_set_drop(m, PSW_DROP_PUNT_LIMIT);
			return;
		}
		m->out_port = nh->port;
		psw_set_punt(pkt, m, PSW_PUNT_RESOLVE, nh->neigh);
		return;
	}
	rte_ether_addr_copy(&nh->mac, &eth->dst_addr);
	rte_ether_addr_copy(psw_port_mac(t, nh->port), &eth->src_addr);
	psw_set_tx(m, nh->port);
}

/*
 * Another node's pod over the overlay, its outer next hop known, the
 * packet within the MTU once encapsulated, untagged: the common case of
 * forward_special's, kept short.
 */
static __rte_noinline void
forward_tunnel(struct psw_stage_ctx *sc, const struct psw_tables *t, struct rte_mbuf *pkt,
	       struct psw_meta *m, const struct psw_nh *nh)
{
	struct rte_ether_hdr *eth;
	uint16_t mtu;

	if (nh->port >= PSW_MAX_PORTS || !t->ports[nh->port].present) {
		psw_set_drop(m, PSW_DROP_PORT_GONE);
		return;
	}
	mtu = t->ports[nh->port].mtu;            /* 0: no limit known (tables built by hand) */
	if (unlikely((m->l3_payload + PSW_TUNNEL_OVERHEAD > mtu && mtu != 0) ||
		     m->l2_len != RTE_ETHER_HDR_LEN)) {
		forward_special(sc, t, pkt, m, nh);   /* fragments or the sender told; tags */
		return;
	}
	if (!hop(sc, t, pkt, m))
		return;
	eth = tunnel_out(sc, t, pkt, m, nh);
	if (eth == NULL)
		return;
	rte_ether_addr_copy(&nh->mac, &eth->dst_addr);
	rte_ether_addr_copy(psw_port_mac(t, nh->port), &eth->src_addr);
	psw_set_tx(m, nh->port);
}

static inline void
forward_one(struct psw_stage_ctx *sc, const struct psw_tables *t, struct rte_mbuf *pkt,
	    struct psw_meta *m, const struct psw_nh *nh)
{
	struct rte_ether_hdr *eth;
	uint16_t mtu;

	if (nh == NULL) {
		psw_set_drop(m, PSW_DROP_NO_ROUTE);
		return;
	}
	if (unlikely(nh->flags != 0)) {
		if (nh->flags == PSW_NH_F_TUNNEL)
			forward_tunnel(sc, t, pkt, m, nh);
		else
			forward_special(sc, t, pkt, m, nh);
		return;
	}
	if (nh->port >= PSW_MAX_PORTS || !t->ports[nh->port].present) {
		psw_set_drop(m, PSW_DROP_PORT_GONE);
		return;
	}
	mtu = t->ports[nh->port].mtu;            /* 0: no limit known (tables built by hand) */
	/* the frame, not only its datagram: bytes after it would leave past the
	 * MTU (a tagged frame within it takes the longer way too; a chain's
	 * whole length: forward_special refuses to cut one) */
	if (unlikely(rte_pktmbuf_pkt_len(pkt) > (uint32_t)mtu + RTE_ETHER_HDR_LEN) && mtu != 0) {
		forward_special(sc, t, pkt, m, nh);   /* too big: fragments, or the sender told */
		return;
	}
	if (!hop(sc, t, pkt, m))
		return;
	eth = strip_vlans(pkt, m);
	rte_ether_addr_copy(&nh->mac, &eth->dst_addr);
	rte_ether_addr_copy(psw_port_mac(t, nh->port), &eth->src_addr);
	psw_set_tx(m, nh->port);
}

/* Look the burst's IPv4 destinations up: pods first, then routes. */
static void
lookup4(const struct psw_tables *t, struct psw_burst *b, const uint8_t *idx, unsigned n,
	const struct psw_nh **nhs)
{
	const struct psw_pod_table *pt = t->pods;
	uint32_t ips[PSW_BURST_MAX], h[PSW_BURST_MAX];
	uint64_t hops[PSW_BURST_MAX];
	uint8_t miss[PSW_BURST_MAX];
	unsigned i, nb_miss = 0;

	if (pt != NULL) {
		for (i = 0; i < n; i++) {
			h[i] = psw_pod_hash4(b->meta[idx[i]].dst4);
			rte_prefetch0(&pt->slot4[h[i] & pt->mask]);
		}
	}
	for (i = 0; i < n; i++) {
		int32_t p = pt != NULL ? psw_pod_find4(pt, b->meta[idx[i]].dst4, h[i]) : -1;

		if (p >= 0) {
			nhs[i] = &pt->pods[p].nh;
		} else {
			nhs[i] = NULL;
			miss[nb_miss] = (uint8_t)i;
			ips[nb_miss++] = rte_be_to_cpu_32(b->meta[idx[i]].dst4);
		}
	}
	if (nb_miss == 0 || t->routes == NULL || t->routes->fib4 == NULL)
		return;
	rte_fib_lookup_bulk(t->routes->fib4, ips, hops, nb_miss);
	for (i = 0; i < nb_miss; i++) {
		const struct psw_nh *nh;

		if (hops[i] >= t->routes->nb_nhs)
			continue;
		nh = nhs[miss[i]] = &t->routes->nhs[hops[i]];
		/* encapsulation writes the headroom, a cache line nothing has touched */
		if (nh->flags & PSW_NH_F_TUNNEL)
			rte_prefetch0(rte_pktmbuf_mtod_offset(b->pkts[idx[miss[i]]], char *,
							      -PSW_TUNNEL_OVERHEAD));
	}
}

static void
lookup6(const struct psw_tables *t, struct psw_burst *b, const uint8_t *idx, unsigned n,
	const struct psw_nh **nhs)
{
	const struct psw_pod_table *pt = t->pods;
	uint8_t ips[PSW_BURST_MAX][RTE_FIB6_IPV6_ADDR_SIZE];
	uint64_t hops[PSW_BURST_MAX];
	uint8_t miss[PSW_BURST_MAX];
	unsigned i, nb_miss = 0;

	for (i = 0; i < n; i++) {
		const uint8_t *dst = b->meta[idx[i]].dst6;
		int32_t p = pt != NULL ? psw_pod_find6(pt, dst, psw_pod_hash6(dst)) : -1;

		if (p >= 0) {
			nhs[i] = &pt->pods[p].nh;
		} else {
			nhs[i] = NULL;
			miss[nb_miss] = (uint8_t)i;
			memcpy(ips[nb_miss++], dst, 16);
		}
	}
	if (nb_miss == 0 || t->routes == NULL || t->routes->fib6 == NULL)
		return;
	rte_fib6_lookup_bulk(t->routes->fib6, ips, hops, nb_miss);
	for (i = 0; i < nb_miss; i++)
		if (hops[i] < t->routes->nb_nhs)
			nhs[miss[i]] = &t->routes->nhs[hops[i]];
}

/* The next hop of one IPv4 destination: a local pod, else the routes. */
static const struct psw_nh *
lookup4_one(const struct psw_tables *t, uint32_t dst4)
{
	const struct psw_pod_table *pt = t->pods;
	int32_t p = pt != NULL ? psw_pod_find4(pt, dst4, psw_pod_hash4(dst4)) : -1;
	uint32_t ip = rte_be_to_cpu_32(dst4);
	uint64_t hop;

	if (p >= 0)
		return &pt->pods[p].nh;
	if (t->routes == NULL || t->routes->fib4 == NULL)
		return NULL;
	rte_fib_lookup_bulk(t->routes->fib4, &ip, &hop, 1);
	return hop < t->routes->nb_nhs ? &t->routes->nhs[hop] : NULL;
}

/* ... of one IPv6 destination. */
static const struct psw_nh *
lookup6_one(const struct psw_tables *t, const uint8_t *dst6)
{
	const struct psw_pod_table *pt = t->pods;
	int32_t p = pt != NULL ? psw_pod_find6(pt, dst6, psw_pod_hash6(dst6)) : -1;
	uint8_t ip[1][RTE_FIB6_IPV6_ADDR_SIZE];
	uint64_t hop;

	if (p >= 0)
		return &pt->pods[p].nh;
	if (t->routes == NULL || t->routes->fib6 == NULL)
		return NULL;
	memcpy(ip[0], dst6, 16);
	rte_fib6_lookup_bulk(t->routes->fib6, ip, &hop, 1);
	return hop < t->routes->nb_nhs ? &t->routes->nhs[hop] : NULL;
}

/*
 * An answer the switch built (echo reply, ICMP error, RST) to a packet
 * that came out of VXLAN must go back through VXLAN, not raw out of the
 * uplink: parsed again and routed like any packet. The earlier stages'
 * answers are routed here at the start of the forward stage, forward's
 * own (time exceeded, too big) as it builds them; parse clears
 * PSW_F_TUNNEL, so an answer is routed once.
 */
static void
route_answer(struct psw_stage_ctx *sc, const struct psw_tables *t, struct rte_mbuf *pkt, struct psw_meta *m)
{
	psw_parse_one(pkt, m);
	if (m->verdict != PSW_V_CONTINUE)
		return;
	if (m->l3 == PSW_L3_IPV4)
		forward_one(sc, t, pkt, m, lookup4_one(t, m->dst4));
	else if (m->l3 == PSW_L3_IPV6)
		forward_one(sc, t, pkt, m, lookup6_one(t, m->dst6));
	else
		psw_set_drop(m, PSW_DROP_UNHANDLED);
}

void
psw_forward_run(struct psw_stage_ctx *sc, const struct psw_tables *t, struct psw_burst *b)
{
	uint8_t idx4[PSW_BURST_MAX], idx6[PSW_BURST_MAX], ans[PSW_BURST_MAX];
	const struct psw_nh *nh4[PSW_BURST_MAX], *nh6[PSW_BURST_MAX];
	unsigned i, n4 = 0, n6 = 0, na = 0;

	for (i = 0; i < b->nb; i++) {
		struct psw_meta *m = &b->meta[i];

		if (m->verdict != PSW_V_CONTINUE) {
			/* an answer to a packet out of VXLAN goes back into it (route_answer) */
			if (unlikely(m->flags & PSW_F_TUNNEL) && m->verdict == PSW_V_TX && m->out_port == m->in_port)
				ans[na++] = (uint8_t)i;
			continue;
		}
		if (m->flags & PSW_F_TO_GW) {
			/* for the gateway itself, and no connection claimed it */
			psw_set_drop(m, PSW_DROP_TO_GATEWAY);
			continue;
		}
		if (m->l3 == PSW_L3_IPV4)
			idx4[n4++] = (uint8_t)i;
		else if (m->l3 == PSW_L3_IPV6)
			idx6[n6++] = (uint8_t)i;
		else
			psw_set_drop(m, PSW_DROP_UNHANDLED);
	}
	if (n4 > 0) {
		lookup4(t, b, idx4, n4, nh4);
		for (i = 0; i < n4; i++)
			forward_one(sc, t, b->pkts[idx4[i]], &b->meta[idx4[i]], nh4[i]);
	}
	if (n6 > 0) {
		lookup6(t, b, idx6, n6, nh6);
		for (i = 0; i < n6; i++)
			forward_one(sc, t, b->pkts[idx6[i]], &b->meta[idx6[i]], nh6[i]);
	}
	for (i = 0; i < na; i++)
		route_answer(sc, t, b->pkts[ans[i]], &b->meta[ans[i]]);
}
