/*
 * Later fragments of a tracked connection. A fragment after the first has
 * no L4 header, so conntrack cannot find its connection by the 5-tuple, and
 * it would leave un-NAT-ed (a UDP datagram larger than the MTU to a
 * ClusterIP got no answer). The switch does not reassemble: each first
 * fragment of a tracked connection is noted in the worker's fragment
 * cache, by the datagram's key as received (family, addresses, IPv4
 * identification or IPv6 fragment identification, and protocol: IPv4's, or
 * the next header of IPv6's fragment header): by the conntrack stage (a
 * known connection) or the service stage (one it opened). The later ones
 * find their connection there and get its NAT (addresses only: the L4
 * checksum, in the first fragment, was already updated for the whole
 * datagram): in the conntrack stage when the first came in an earlier
 * burst, in the service stage when it came in this one (then, the
 * connection's verdict being not yet decided, they are judged with it by
 * the policy stage).
 *
 * A later fragment that comes before its first one, and that only a
 * translation can take where it goes (to a Service address, to a node
 * address, or from a pod out of the cluster under masquerade), is held:
 * the service stage sets PSW_V_HOLD and the worker's dispatch puts it in
 * the worker's hold (PSW_FRAG_HOLD_MAX packets, oldest pushed out first,
 * frag_hold_full). When its first fragment is noted, the held ones of the
 * datagram are marked ready; the worker then notes their connection again
 * and runs them through the stages as if they had just come in, after
 * their first (psw_frag_take_ready), so they are followed like any later
 * fragment. One not released within PSW_FRAG_HOLD_MS is dropped
 * (frag_no_first); one whose input port went, or whose worker stops, too
 * (frag_hold_gone). Other later fragments (pod to pod, no translation) are
 * never held. Fragments of one datagram come in on one queue, so one
 * worker sees them all.
 *
 * The cache is the worker's (struct psw_stage_ctx.frags), direct-mapped; a
 * note is good for PSW_FRAG_MS and only while its connection entry still
 * holds the same addresses. Nothing here runs for a packet that is not a
 * fragment.
 *
 * Thread-safety: everything is the worker's own; the stages note, follow
 * and ask to hold, the worker loop (psw_frag.c) holds, releases and drops.
 */
#ifndef PSW_FRAG_H
#define PSW_FRAG_H

#include <rte_cycles.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_ip.h>
#include <rte_mbuf.h>

#include "psw_ct.h"
#include "psw_nat.h"
#include "psw_stage.h"
#include "psw_tables.h"

#define PSW_FRAG_SLOTS    256u
#define PSW_FRAG_MS       1000u
#define PSW_FRAG_HOLD_MAX 64u    /**< packets a worker holds (a power of two) */
#define PSW_FRAG_HOLD_MS  200u

/** The datagram a fragment belongs to, as received (addresses apart). */
struct psw_frag_key {
	uint32_t sig;            /**< hash of the whole key, addresses included */
	uint32_t id;             /**< IPv4 identification / IPv6 fragment identification, network order */
	uint8_t proto;
	uint8_t family;          /**< 4 or 6 */
};

/** A first fragment seen: its connection. */
struct psw_frag_note {
	struct psw_frag_key key;
	uint32_t hit1;           /**< the connection's hit + 1; 0: empty */
	uint64_t tsc;            /**< when the first fragment was seen */
};

/** A later fragment waiting for its first one. */
struct psw_frag_held {
	struct rte_mbuf *pkt;    /**< NULL: the slot was emptied */
	uint64_t tsc;            /**< when it came */
	struct psw_frag_key key;
	uint32_t hit1;           /**< its first fragment's connection + 1 once it came: ready */
	uint32_t gen;            /**< its input port's generation when it came */
	uint16_t in_port;
	uint8_t l2_len;
};

/* A ring in arrival order: head is the oldest slot still in use. */
struct psw_frag_hold {
	uint32_t head, tail;     /**< free-running positions */
	uint32_t nb;             /**< packets held, ready ones included */
	uint32_t nb_ready;
	struct psw_frag_held slot[PSW_FRAG_HOLD_MAX];
};

struct psw_frag_cache {
	struct psw_frag_note slot[PSW_FRAG_SLOTS];
	struct psw_frag_hold hold;
};

_Static_assert((PSW_FRAG_HOLD_MAX & (PSW_FRAG_HOLD_MAX - 1)) == 0, "the hold is a ring");

/* The fragment header of an IPv6 fragment (parse checked the chain). */
static inline const uint8_t *
psw_frag_hdr6(const struct rte_mbuf *pkt, const struct psw_meta *m)
{
	const uint8_t *l3 = rte_pktmbuf_mtod_offset(pkt, const uint8_t *, m->l2_len);
	unsigned off = sizeof(struct rte_ipv6_hdr), end = m->l4_off - m->l2_len;
	uint8_t next = l3[6];

	while (off + 8 <= end) {
		if (next == IPPROTO_FRAGMENT)
			return l3 + off;
		next = l3[off];
		off += (l3[off + 1] + 1u) * 8u;  /* hop-by-hop, routing, destination options */
	}
	return NULL;
}

/*
 * The key of a fragment from its header and the addresses it was received
 * with (src, dst: 4 or 16 bytes). false: not a fragment after all.
 */
static inline bool
psw_frag_key_of(const struct rte_mbuf *pkt, const struct psw_meta *m, const uint8_t *src,
		const uint8_t *dst, struct psw_frag_key *k)
{
	uint32_t sig;

	if (m->l3 == PSW_L3_IPV4) {
		const struct rte_ipv4_hdr *ip = rte_pktmbuf_mtod_offset(pkt, const struct rte_ipv4_hdr *,
									 m->l2_len);
		uint32_t a, b;

		k->family = 4;
		k->id = ip->packet_id;
		k->proto = ip->next_proto_id;
		memcpy(&a, src, 4);
		memcpy(&b, dst, 4);
		sig = rte_hash_crc_4byte(a, rte_hash_crc_4byte(b, 4));
	} else {
		const uint8_t *fh = psw_frag_hdr6(pkt, m);

		if (fh == NULL)
			return false;
		k->family = 6;
		memcpy(&k->id, fh + 4, 4);
		k->proto = fh[0];
		sig = rte_hash_crc(src, 16, rte_hash_crc(dst, 16, 6));
	}
	k->sig = rte_hash_crc_4byte(k->id, rte_hash_crc_4byte((uint32_t)k->proto << 8 | k->family, sig));
	return true;
}

static inline bool
psw_frag_key_same(const struct psw_frag_key *a, const struct psw_frag_key *b)
{
	return a->sig == b->sig && a->id == b->id && a->proto == b->proto && a->family == b->family;
}

/* The addresses a packet of entry e in direction dir carries as received. */
static inline void
psw_frag_wire(const struct psw_ct_entry *e, unsigned dir, const uint8_t **src, const uint8_t **dst)
{
	const struct psw_ct_key *k = dir == PSW_CT_DIR_ORIG ? &e->orig : &e->reply;

	*src = k->src;
	*dst = k->dst;
}

/* The addresses a parsed packet carries now. */
static inline void
psw_frag_addrs(const struct psw_meta *m, const uint8_t **src, const uint8_t **dst)
{
	*src = m->l3 == PSW_L3_IPV4 ? (const uint8_t *)&m->src4 : m->src6;
	*dst = m->l3 == PSW_L3_IPV4 ? (const uint8_t *)&m->dst4 : m->dst6;
}

/** Note that key's datagram belongs to connection hit1 - 1 (psw_frag_take_ready notes again). */
static inline void
psw_frag_note_key(struct psw_frag_cache *fc, const struct psw_frag_key *k, uint32_t hit1, uint64_t now)
{
	struct psw_frag_note *n = &fc->slot[k->sig & (PSW_FRAG_SLOTS - 1)];

	n->key = *k;
	n->hit1 = hit1;
	n->tsc = now;
}

/* Held fragments of key's datagram (received from src to dst) are ready: their first came. */
void psw_frag_ready(struct psw_frag_cache *fc, const struct psw_frag_key *k, const uint8_t *src,
		    const uint8_t *dst, uint32_t hit1);

/** A first fragment of a tracked connection (m->ct set) is noted; its held later ones made ready. */
static inline void
psw_frag_note(struct psw_stage_ctx *sc, const struct psw_tables *t, const struct rte_mbuf *pkt,
	      const struct psw_meta *m)
{
	const struct psw_ct_entry *e;
	const uint8_t *src, *dst;
	struct psw_frag_key k;

	if (sc->frags == NULL || m->ct == 0 || t->ct == NULL)
		return;
	e = psw_ct_entry(t->ct, m->ct - 1);
	psw_frag_wire(e, (m->ct - 1) & 1, &src, &dst);
	if (!psw_frag_key_of(pkt, m, src, dst, &k))
		return;
	psw_frag_note_key(sc->frags, &k, m->ct, rte_rdtsc());
	if (unlikely(sc->frags->hold.nb > sc->frags->hold.nb_ready))
		psw_frag_ready(sc->frags, &k, src, dst, m->ct);
}

/**
 * A later fragment whose first one was noted gets its connection and
 * NAT. @return true when it was followed (or dropped: the connection was
 * denied).
 */
static inline bool
psw_frag_follow(struct psw_stage_ctx *sc, const struct psw_tables *t, struct rte_mbuf *pkt,
		struct psw_meta *m)
{
	unsigned alen = m->l3 == PSW_L3_IPV4 ? 4 : 16, dir;
	const struct psw_frag_note *n;
	const uint8_t *src, *dst, *esrc, *edst;
	struct psw_frag_key k;
	struct psw_ct_entry *e;
	enum psw_drop_reason why;
	uint32_t hit;

	if (sc->frags == NULL || t->ct == NULL)
		return false;
	psw_frag_addrs(m, &src, &dst);
	if (!psw_frag_key_of(pkt, m, src, dst, &k))
		return false;
	n = &sc->frags->slot[k.sig & (PSW_FRAG_SLOTS - 1)];
	if (n->hit1 == 0 || !psw_frag_key_same(&n->key, &k) ||
	    (int64_t)(rte_rdtsc() - n->tsc) > (int64_t)(rte_get_tsc_hz() / 1000 * PSW_FRAG_MS))
		return false;
	hit = n->hit1 - 1;
	e = psw_ct_entry(t->ct, hit);
	dir = hit & 1;
	psw_frag_wire(e, dir, &esrc, &edst);
	if (e->orig.family != k.family || memcmp(esrc, src, alen) != 0 || memcmp(edst, dst, alen) != 0)
		return false;                    /* the entry was reused since */
	if ((why = psw_ct_denied(e)) != PSW_DROP_NONE) {
		psw_set_drop(m, why);
		return true;
	}
	psw_nat_apply_entry(pkt, m, e, dir);
	psw_ct_count_svc(sc, e, dir, m);
	m->ct = hit + 1;
	m->flags &= (uint16_t)~PSW_F_TO_GW;
	psw_count_event(sc, PSW_EV_FRAG_FOLLOWED);
	return true;
}

/* Is the packet's destination the address of a Service (any port)? */
static inline bool
psw_frag_svc_addr(const struct psw_tables *t, const struct psw_meta *m)
{
	struct psw_svc_key a;

	if (t->svcs == NULL || t->svcs->addrs == NULL)
		return false;
	memset(&a, 0, sizeof(a));
	a.family = m->l3 == PSW_L3_IPV4 ? 4 : 6;
	memcpy(a.addr, m->l3 == PSW_L3_IPV4 ? (const uint8_t *)&m->dst4 : m->dst6, a.family == 4 ? 4 : 16);
	return rte_hash_lookup(t->svcs->addrs, &a) >= 0;
}

/**
 * A later fragment that psw_frag_follow() could not follow: held for its
 * first one (verdict PSW_V_HOLD) when only a translation takes it where
 * it goes: to a node address (PSW_F_TO_GW), to a Service address, or out
 * of the cluster under masquerade (leaves, the caller's test). One that
 * came out of VXLAN is not held (its outer headers are gone).
 * @return true when it is to be held.
 */
static inline bool
psw_frag_wait(const struct psw_stage_ctx *sc, const struct psw_tables *t, struct psw_meta *m, bool leaves)
{
	if (sc->frags == NULL || (m->flags & PSW_F_TUNNEL) ||
	    (!(m->flags & PSW_F_TO_GW) && !leaves && !psw_frag_svc_addr(t, m)))
		return false;
	m->verdict = PSW_V_HOLD;
	return true;
}

/*
 * The worker's side (psw_frag.c), from its loop only. Each returns the
 * packets it takes out of the hold in pkts (at most max): the caller sends
 * them through the stages, or frees them and counts the drops.
 */

/**
 * Hold a packet whose verdict is PSW_V_HOLD (gen: its input port's
 * generation). @return a packet pushed out to make room (frag_hold_full),
 * or NULL.
 */
struct rte_mbuf *psw_frag_hold(struct psw_frag_cache *fc, struct rte_mbuf *pkt, const struct psw_meta *m,
			       uint32_t gen, uint64_t now);

/**
 * Ready packets, their connection noted again (two datagrams whose notes
 * would share a slot are not taken together: call again while
 * fc->hold.nb_ready), in arrival order; their input ports and generations
 * in in_ports and gens.
 */
unsigned psw_frag_take_ready(struct psw_frag_cache *fc, struct rte_mbuf **pkts, uint16_t *in_ports,
			     uint32_t *gens, unsigned max, uint64_t now);

/** Packets held longer than PSW_FRAG_HOLD_MS (frag_no_first). */
unsigned psw_frag_take_expired(struct psw_frag_cache *fc, struct rte_mbuf **pkts, unsigned max, uint64_t now);

/** Every packet held (the worker stops: frag_hold_gone). */
unsigned psw_frag_take_all(struct psw_frag_cache *fc, struct rte_mbuf **pkts, unsigned max);

#endif /* PSW_FRAG_H */
