/*
 * conntrack stage: packets of known connections accounted and NAT-ed, ICMP
 * errors about them judged and translated (psw_conntrack.h).
 */
#include <netinet/in.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_ip.h>
#include <rte_prefetch.h>
#include <rte_tcp.h>

#include "psw_conntrack.h"
#include "psw_frag.h"
#include "psw_nat.h"
#include "psw_policy.h"

/* The most of an error an ICMP router sends: RFC 1812 4.3.2.3 (IPv4), RFC 4443 2.4 (IPv6). */
#define ICMP4_ERROR_MAX 576u
#define ICMP6_ERROR_MAX 1280u

/*
 * Checksum of an IPv6 upper-layer message of len bytes at l4, with the
 * pseudo-header of RFC 8200 8.1 (its own next-header value and length,
 * whatever extension headers lie before it). Reads exactly len bytes.
 */
static uint16_t
ip6_l4_cksum(const uint8_t *src, const uint8_t *dst, uint8_t proto, const void *l4, uint32_t len)
{
	uint32_t pseudo[2] = { rte_cpu_to_be_32(len), rte_cpu_to_be_32(proto) };
	uint32_t sum = __rte_raw_cksum(src, 16, 0);

	sum = __rte_raw_cksum(dst, 16, sum);
	sum = __rte_raw_cksum(pseudo, sizeof(pseudo), sum);
	sum = __rte_raw_cksum(l4, len, sum);
	return (uint16_t)~__rte_raw_cksum_reduce(sum);
}

/* Cut an error to what a router may quote; false when it needs no cut. */
static bool
icmp_error_trim(struct rte_mbuf *pkt, struct psw_meta *m)
{
	bool v4 = m->l3 == PSW_L3_IPV4;
	unsigned max = v4 ? ICMP4_ERROR_MAX : ICMP6_ERROR_MAX;
	uint8_t *l3 = rte_pktmbuf_mtod_offset(pkt, uint8_t *, m->l2_len);

	if (m->l3_payload <= max)
		return false;
	rte_pktmbuf_trim(pkt, (uint16_t)(rte_pktmbuf_data_len(pkt) - m->l2_len - max));
	m->l3_payload = (uint16_t)max;
	if (v4) {
		struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)l3;

		ip->total_length = rte_cpu_to_be_16((uint16_t)max);
		ip->hdr_checksum = 0;
		ip->hdr_checksum = rte_ipv4_cksum(ip);
	} else {
		((struct rte_ipv6_hdr *)l3)->payload_len = rte_cpu_to_be_16((uint16_t)(max - 40));
	}
	return true;
}

/* The ICMP / ICMPv6 checksum of an error, computed afresh. */
static void
icmp_error_cksum(struct rte_mbuf *pkt, const struct psw_meta *m)
{
	uint8_t *icmp = rte_pktmbuf_mtod_offset(pkt, uint8_t *, m->l4_off);
	unsigned icmp_len = m->l2_len + m->l3_payload - m->l4_off;
	uint16_t c;

	icmp[2] = icmp[3] = 0;
	if (m->l3 == PSW_L3_IPV4) {
		c = (uint16_t)~rte_raw_cksum(icmp, icmp_len);
	} else {
		const struct rte_ipv6_hdr *ip = rte_pktmbuf_mtod_offset(pkt, const struct rte_ipv6_hdr *,
									 m->l2_len);

		c = ip6_l4_cksum(ip->src_addr, ip->dst_addr, IPPROTO_ICMPV6, icmp, icmp_len);
	}
	memcpy(icmp + 2, &c, 2);
}

/*
 * An ICMP error about a packet of a known, allowed connection goes with
 * the connection (the policy stage lets it pass) when:
 *  - it is addressed to the quoted packet's sender;
 *  - from a pod, it comes from the quoted packet's destination (only the
 *    peer itself may complain; routers are beyond the uplink);
 *  - the connection is not denied and its verdict is current;
 *  - it travels the reply way, or the connection is not NAT-ed (an error
 *    the client sends about a NAT-ed reply is judged like any packet).
 * Anything else is judged as a packet of its own. An accepted error is
 * cut to what a router may quote (so a pod cannot carry data through it),
 * and one of a NAT-ed connection is rewritten as the client must see it:
 * the quoted destination and the error's source become the Service
 * address (DNAT), the quoted source and the error's destination the
 * client's own address (masquerade), with its own port or echo identifier.
 * The quoted packet is TCP, UDP, SCTP or an ICMP echo (a ping's time
 * exceeded or unreachable finds the ping's connection by its identifier).
 * Returns true when the error is accepted.
 */
static bool
icmp_error_related(struct psw_stage_ctx *sc, const struct psw_tables *t, struct rte_mbuf *pkt,
		   struct psw_meta *m, uint32_t pol_gen)
{
	uint8_t *icmp = rte_pktmbuf_mtod_offset(pkt, uint8_t *, m->l4_off);
	bool v4 = m->l3 == PSW_L3_IPV4, trimmed;
	unsigned alen = v4 ? 4 : 16, ihl, icmp_len = m->l2_len + m->l3_payload - m->l4_off;
	const uint8_t *outer_src = v4 ? (const uint8_t *)&m->src4 : m->src6;
	const uint8_t *outer_dst = v4 ? (const uint8_t *)&m->dst4 : m->dst6;
	uint8_t *inner = icmp + 8, *ports, *l3, *id;
	struct psw_ct_key k, r;
	const struct psw_ct_key *kp = &r;
	struct psw_ct_entry *e;
	uint64_t d = 0;                          /* the quoted L4 checksum's delta */
	int csum_at = -1;                        /* its offset from ports, if quoted */
	bool pseudo;                             /* does it cover the addresses? */
	uint32_t hit;
	bool echo;

	/*
	 * An accepted error is cut to what a router may send (icmp_error_trim)
	 * before its quote is read and rewritten: judge it by what is left of
	 * it then. Headers leaving no room for the ICMP message and its quote
	 * (an IPv6 error behind a kilobyte of extension headers) are no router's:
	 * cut there, the quote's fields (or the ICMP header) lay past its end.
	 */
	if ((unsigned)m->l4_off - m->l2_len >= (v4 ? ICMP4_ERROR_MAX : ICMP6_ERROR_MAX))
		return false;
	icmp_len = RTE_MIN(icmp_len, (v4 ? ICMP4_ERROR_MAX : ICMP6_ERROR_MAX) - ((unsigned)m->l4_off - m->l2_len));
	if (icmp_len < 8 + (v4 ? 20u : 40u) + 4 || pkt->nb_segs != 1)
		return false;
	ihl = v4 ? (inner[0] & 0xf) * 4u : 40u;
	if ((v4 && ihl < 20) || icmp_len < 8 + ihl + 4)
		return false;
	if (v4 && ((inner[6] & 0x1f) | inner[7]) != 0)
		return false;                    /* a later fragment: no L4 header quoted, only payload */
	memset(&k, 0, sizeof(k));
	k.family = v4 ? 4 : 6;
	k.proto = v4 ? inner[9] : inner[6];
	ports = inner + ihl;
	echo = k.proto == (v4 ? IPPROTO_ICMP : IPPROTO_ICMPV6);
	if (echo) {
		/* about an echo: its type and identifier are its key's (psw_ct_key_of) */
		if (icmp_len < 8 + ihl + 8)
			return false;
		k.dport = ports[0];
		if (!(v4 ? k.dport == 8 || k.dport == 0 : k.dport == 128 || k.dport == 129))
			return false;
		memcpy(&k.sport, ports + 4, 2);
	} else if (k.proto == IPPROTO_TCP || k.proto == IPPROTO_UDP || k.proto == IPPROTO_SCTP) {
		memcpy(&k.sport, ports, 2);
		memcpy(&k.dport, ports + 2, 2);
	} else {
		return false;
	}
	id = echo ? ports + 4 : ports;               /* the source's port, or the echo's identifier */
	memcpy(k.src, inner + (v4 ? 12 : 8), alen);
	memcpy(k.dst, inner + (v4 ? 16 : 24), alen);
	if (memcmp(outer_dst, k.src, alen) != 0)
		return false;                    /* not to the quoted packet's sender */
	if (t->ports[m->in_port].is_pod && memcmp(outer_src, k.dst, alen) != 0)
		return false;                    /* a pod complaining about someone else's packet */
	/* the quoted packet went one way of the connection: its reverse is the other way's key */
	psw_ct_key_reverse(&k, &r);
	psw_ct_lookup(t->ct, &kp, 1, &hit);
	if (hit == UINT32_MAX)
		return false;
	e = psw_ct_entry(t->ct, hit);
	if (psw_ct_expired(t->ct, e, rte_rdtsc())) {
		psw_count_event(sc, PSW_EV_CT_STALE);
		return false;                    /* about a connection that is gone */
	}
	if (psw_ct_denied(e) != PSW_DROP_NONE || (pol_gen != 0 && e->pol_gen != pol_gen))
		return false;
	if ((hit & 1) != PSW_CT_DIR_REPLY && (e->flags & (PSW_CT_F_DNAT | PSW_CT_F_SNAT)))
		return false;
	trimmed = icmp_error_trim(pkt, m);
	icmp_len = m->l2_len + m->l3_payload - m->l4_off;
	m->flags |= PSW_F_CT_RELATED;            /* the policy stage lets it pass */
	psw_count_event(sc, PSW_EV_CT_HIT);
	if ((hit & 1) != PSW_CT_DIR_REPLY || !(e->flags & (PSW_CT_F_DNAT | PSW_CT_F_SNAT))) {
		if (trimmed)
			icmp_error_cksum(pkt, m);
		return true;
	}
	l3 = rte_pktmbuf_mtod_offset(pkt, uint8_t *, m->l2_len);
	/*
	 * The quoted packet's own checksum follows what is rewritten in it, as
	 * Linux's NAT does, when the quote holds it: an echo's (ICMPv6's covers
	 * the addresses), UDP's (none over IPv4 stays none), TCP's past the 8
	 * bytes a router must quote. SCTP's CRC over a cut quote cannot be.
	 */
	pseudo = !(echo && v4);
	if (echo)
		csum_at = 2;
	else if (k.proto == IPPROTO_UDP && icmp_len >= 8 + ihl + 8 && (!v4 || ports[6] != 0 || ports[7] != 0))
		csum_at = 6;
	else if (k.proto == IPPROTO_TCP && icmp_len >= 8 + ihl + 18)
		csum_at = 16;
	if (e->flags & PSW_CT_F_DNAT) {
		/* quoted destination: backend -> Service address and port; the error
		 * comes from the Service address */
		if (pseudo)
			d += psw_csum_delta(inner + (v4 ? 16 : 24), e->orig.dst, alen);
		memcpy(inner + (v4 ? 16 : 24), e->orig.dst, alen);
		if (!echo) {
			uint16_t old;

			memcpy(&old, ports + 2, 2);
			d += psw_csum_delta16(old, e->orig.dport);
			memcpy(ports + 2, &e->orig.dport, 2);
		}
		memcpy(l3 + (v4 ? 12 : 8), e->orig.dst, alen);
		memcpy(v4 ? (void *)&m->src4 : (void *)m->src6, e->orig.dst, alen);
	}
	if (e->flags & PSW_CT_F_SNAT) {
		/* masqueraded (a NodePort, a hairpin, a pod's connection out of the
		 * cluster): the quoted source and the error's destination are the
		 * real client's again, so a pod learns its path MTU */
		uint16_t old;

		if (pseudo)
			d += psw_csum_delta(inner + (v4 ? 12 : 8), e->orig.src, alen);
		memcpy(&old, id, 2);
		d += psw_csum_delta16(old, e->orig.sport);
		memcpy(inner + (v4 ? 12 : 8), e->orig.src, alen);
		memcpy(id, &e->orig.sport, 2);
		memcpy(l3 + (v4 ? 16 : 24), e->orig.src, alen);
		memcpy(v4 ? (void *)&m->dst4 : (void *)m->dst6, e->orig.src, alen);
	}
	if (csum_at >= 0 && d != 0) {
		psw_nat_csum(ports + csum_at, d);        /* the quoted packet as its sender sent it */
		if (csum_at == 6 && ports[6] == 0 && ports[7] == 0)
			ports[6] = ports[7] = 0xff;      /* UDP: a computed 0 is sent as all ones */
	}
	if (v4) {
		uint16_t c;

		inner[10] = inner[11] = 0;
		c = rte_ipv4_cksum((const struct rte_ipv4_hdr *)inner);
		memcpy(inner + 10, &c, 2);
		l3[10] = l3[11] = 0;
		c = rte_ipv4_cksum((const struct rte_ipv4_hdr *)l3);
		memcpy(l3 + 10, &c, 2);
	}
	icmp_error_cksum(pkt, m);
	m->flags &= (uint16_t)~PSW_F_TO_GW;
	return true;
}

/*
 * A client's new SYN on a closed Service connection (after RST or both
 * FINs: its port reused) is a new connection, as Linux's conntrack kills
 * the old one and NATs the SYN afresh: the service stage load-balances it
 * by the Service at the address now, and counts it there. Reopened in
 * place, it kept the old backend (perhaps gone) and counted to the slot of
 * a Service perhaps deleted since (psw_ct_count_svc), which the Service
 * there now never shows, and which it kept from draining.
 */
static inline bool
svc_reopened(const struct psw_ct_entry *e, unsigned dir, const struct rte_tcp_hdr *th)
{
	uint8_t state;

	if (e->svc == 0 || dir != PSW_CT_DIR_ORIG || th == NULL ||
	    (th->tcp_flags & (RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG | RTE_TCP_RST_FLAG)) != RTE_TCP_SYN_FLAG)
		return false;
	state = __atomic_load_n(&e->state, __ATOMIC_RELAXED);
	return state == PSW_CT_CLOSED || state == PSW_CT_CLOSING;
}

void
psw_conntrack_run(struct psw_stage_ctx *sc, const struct psw_tables *t, struct psw_burst *b)
{
	struct psw_ct_key keys[PSW_BURST_MAX];
	const struct psw_ct_key *kp[PSW_BURST_MAX];
	uint32_t hits[PSW_BURST_MAX];
	uint8_t idx[PSW_BURST_MAX];
	struct psw_ct *ct = t->ct;
	unsigned i, n = 0;
	uint32_t pol_gen;
	uint64_t now;

	if (ct == NULL)
		return;
	pol_gen = psw_pol_gen(t->pol);
	if (psw_ct_empty(ct)) {
		/* no connection at all (no Service or policy has opened one): every
		 * trackable packet is a miss, no lookup needed */
		for (i = 0; i < b->nb; i++) {
			struct psw_meta *m = &b->meta[i];

			if (m->verdict == PSW_V_CONTINUE && (m->l3 == PSW_L3_IPV4 || m->l3 == PSW_L3_IPV6) &&
			    psw_ct_trackable(m))
				m->flags |= PSW_F_CT_MISS;
		}
		return;
	}
	for (i = 0; i < b->nb; i++) {
		struct psw_meta *m = &b->meta[i];

		if (m->verdict != PSW_V_CONTINUE || (m->l3 != PSW_L3_IPV4 && m->l3 != PSW_L3_IPV6))
			continue;
		if (psw_is_icmp_error(m)) {
			icmp_error_related(sc, t, b->pkts[i], m, pol_gen);
			continue;
		}
		if (unlikely(m->flags & PSW_F_FRAG_LATER)) {
			psw_frag_follow(sc, t, b->pkts[i], m);
			continue;
		}
		if (!psw_ct_key_of(m, &keys[n]))
			continue;
		kp[n] = &keys[n];
		idx[n++] = (uint8_t)i;
	}
	if (n == 0)
		return;
	if (likely(sc->ct_cache != NULL))
		psw_ct_lookup_cached(ct, sc->ct_cache, kp, n, hits);
	else
		psw_ct_lookup(ct, kp, n, hits);
	/* fetch the burst's entries (both lines) before touching the first */
	for (i = 0; i < n; i++) {
		if (hits[i] != UINT32_MAX) {
			struct psw_ct_entry *e = psw_ct_entry(ct, hits[i]);

			rte_prefetch0(e);
			rte_prefetch0((const uint8_t *)e + RTE_CACHE_LINE_SIZE);
		}
	}
	now = rte_rdtsc();
	for (i = 0; i < n; i++) {
		struct psw_meta *m = &b->meta[idx[i]];
		struct rte_mbuf *pkt = b->pkts[idx[i]];
		const struct rte_tcp_hdr *th;
		enum psw_drop_reason why;
		struct psw_ct_entry *e;
		unsigned dir, seg_len = 0;

		if (hits[i] == UINT32_MAX) {
			m->flags |= PSW_F_CT_MISS;
			continue;
		}
		e = psw_ct_entry(ct, hits[i]);
		dir = hits[i] & 1;
		if (unlikely(psw_ct_expired(ct, e, now))) {
			/* idle past its timeout: gone, whatever the sweep has reached; a new
			 * connection's insert removes it */
			m->flags |= PSW_F_CT_MISS;
			psw_count_event(sc, PSW_EV_CT_STALE);
			continue;
		}
		if (unlikely((why = psw_ct_denied(e)) != PSW_DROP_NONE)) {
			psw_set_drop(m, why);            /* denied by policy, about to be removed */
			continue;
		}
		th = psw_tcp_hdr(pkt, m, &seg_len);
		if (unlikely(svc_reopened(e, dir, th))) {
			psw_ct_remove(ct, hits[i]);      /* (or an earlier SYN of this burst did) */
			m->flags |= PSW_F_CT_MISS;
			continue;
		}
		why = psw_ct_update(ct, e, dir, th, seg_len, now);
		if (why != PSW_DROP_NONE) {
			psw_set_drop(m, why);
			continue;
		}
		psw_nat_apply_entry(pkt, m, e, dir);
		psw_ct_count_svc(sc, e, dir, m);
		m->ct = hits[i] + 1;
		m->flags &= (uint16_t)~PSW_F_TO_GW;      /* an un-masqueraded reply */
		if (unlikely(m->flags & PSW_F_FRAG))
			psw_frag_note(sc, t, pkt, m);    /* a first fragment: the later ones follow */
		if (unlikely(pol_gen != 0 && e->pol_gen != pol_gen) && e->orig.proto != PSW_CT_PROTO_AFFINITY)
			m->flags |= PSW_F_CT_RECHECK;    /* judged before the policies changed */
		psw_count_event(sc, PSW_EV_CT_HIT);
	}
}

