/*
 * The worker's fragment hold (psw_frag.h): later fragments that came
 * before their first one, kept in arrival order until it comes, they
 * expire, or the worker stops.
 */
#include <string.h>

#include "psw_frag.h"

#define MASK (PSW_FRAG_HOLD_MAX - 1)

/* Move head past the slots emptied out of order. */
static void
hold_trim(struct psw_frag_hold *h)
{
	while (h->head != h->tail && h->slot[h->head & MASK].pkt == NULL)
		h->head++;
}

/* Take slot s's packet out of the hold. */
static struct rte_mbuf *
hold_take(struct psw_frag_hold *h, struct psw_frag_held *s)
{
	struct rte_mbuf *pkt = s->pkt;

	s->pkt = NULL;
	h->nb--;
	if (s->hit1 != 0)
		h->nb_ready--;
	return pkt;
}

struct rte_mbuf *
psw_frag_hold(struct psw_frag_cache *fc, struct rte_mbuf *pkt, const struct psw_meta *m, uint32_t gen,
	      uint64_t now)
{
	struct psw_frag_hold *h = &fc->hold;
	struct rte_mbuf *out = NULL;
	const uint8_t *src, *dst;
	struct psw_frag_held *s;
	struct psw_frag_key k;

	psw_frag_addrs(m, &src, &dst);
	if (!psw_frag_key_of(pkt, m, src, dst, &k))
		return pkt;                      /* cannot be matched: never held */
	if (h->tail - h->head == PSW_FRAG_HOLD_MAX) {
		s = &h->slot[h->head & MASK];
		if (s->pkt != NULL)
			out = hold_take(h, s);   /* the oldest makes room */
		h->head++;
		hold_trim(h);
	}
	s = &h->slot[h->tail++ & MASK];
	s->pkt = pkt;
	s->tsc = now;
	s->key = k;
	s->hit1 = 0;
	s->gen = gen;
	s->in_port = m->in_port;
	s->l2_len = m->l2_len;
	h->nb++;
	return out;
}

/* Does held packet s come from src to dst (as its first fragment did)? */
static bool
held_addrs(const struct psw_frag_held *s, const uint8_t *src, const uint8_t *dst)
{
	const uint8_t *l3 = rte_pktmbuf_mtod_offset(s->pkt, const uint8_t *, s->l2_len);

	if (s->key.family == 4)
		return memcmp(l3 + 12, src, 4) == 0 && memcmp(l3 + 16, dst, 4) == 0;
	return memcmp(l3 + 8, src, 16) == 0 && memcmp(l3 + 24, dst, 16) == 0;
}

void
psw_frag_ready(struct psw_frag_cache *fc, const struct psw_frag_key *k, const uint8_t *src,
	       const uint8_t *dst, uint32_t hit1)
{
	struct psw_frag_hold *h = &fc->hold;
	uint32_t i;

	for (i = h->head; i != h->tail; i++) {
		struct psw_frag_held *s = &h->slot[i & MASK];

		if (s->pkt == NULL || s->hit1 != 0 || !psw_frag_key_same(&s->key, k) || !held_addrs(s, src, dst))
			continue;
		s->hit1 = hit1;
		h->nb_ready++;
	}
}

unsigned
psw_frag_take_ready(struct psw_frag_cache *fc, struct rte_mbuf **pkts, uint16_t *in_ports, uint32_t *gens,
		    unsigned max, uint64_t now)
{
	uint64_t claimed[PSW_FRAG_SLOTS / 64] = { 0 };
	struct psw_frag_hold *h = &fc->hold;
	unsigned n = 0;
	uint32_t i;

	for (i = h->head; i != h->tail && n < max && h->nb_ready > 0; i++) {
		struct psw_frag_held *s = &h->slot[i & MASK];
		unsigned slot = s->key.sig & (PSW_FRAG_SLOTS - 1);
		const struct psw_frag_note *note = &fc->slot[slot];

		if (s->pkt == NULL || s->hit1 == 0)
			continue;
		if (claimed[slot / 64] & (1ull << (slot % 64))) {
			if (note->hit1 != s->hit1 || !psw_frag_key_same(&note->key, &s->key))
				continue;        /* another datagram's note is needed there: next time */
		} else {
			claimed[slot / 64] |= 1ull << (slot % 64);
			psw_frag_note_key(fc, &s->key, s->hit1, now);
		}
		in_ports[n] = s->in_port;
		gens[n] = s->gen;
		pkts[n++] = hold_take(h, s);
	}
	hold_trim(h);
	return n;
}

/* The front of the hold, oldest first: those held longer than life cycles, or (life < 0) all. */
static unsigned
take_front(struct psw_frag_hold *h, struct rte_mbuf **pkts, unsigned max, uint64_t now, int64_t life)
{
	unsigned n = 0;

	hold_trim(h);
	while (h->head != h->tail && n < max) {
		struct psw_frag_held *s = &h->slot[h->head & MASK];

		if (life >= 0 && (int64_t)(now - s->tsc) <= life)
			break;                   /* the ring is in arrival order */
		pkts[n++] = hold_take(h, s);
		h->head++;
		hold_trim(h);
	}
	return n;
}

unsigned
psw_frag_take_expired(struct psw_frag_cache *fc, struct rte_mbuf **pkts, unsigned max, uint64_t now)
{
	return take_front(&fc->hold, pkts, max, now, (int64_t)(rte_get_tsc_hz() / 1000 * PSW_FRAG_HOLD_MS));
}

unsigned
psw_frag_take_all(struct psw_frag_cache *fc, struct rte_mbuf **pkts, unsigned max)
{
	return take_front(&fc->hold, pkts, max, 0, -1);
}
