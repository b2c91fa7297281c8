/*
 * Later fragments of a tracked connection. A fragment after the first has
 * no L4 header, so conntrack cannot find its connection by the 5-tuple, and
 * it would leave un-NAT-ed (a UDP datagram larger than the MTU to a
 * ClusterIP got no answer). Each first fragment of a tracked connection is
 * noted in the worker's fragment cache, by its addresses as received,
 * protocol and IP identification: by the conntrack stage (a known
 * connection) or the service stage (one it opened). The later ones find
 * their connection there and get its NAT (addresses only: the L4 checksum,
 * in the first fragment, was already updated for the whole datagram): in
 * the conntrack stage when the first came in an earlier burst, in the
 * service stage when it came in this one (then, the connection's verdict
 * being not yet decided, they are judged with it by the policy stage). A later fragment that arrives before its first one is
 * not followed. IPv4 only; fragments of one datagram come in on one queue,
 * so one worker sees them all.
 *
 * The cache is the worker's (struct psw_stage_ctx.frags), direct-mapped; a
 * note is good for PSW_FRAG_MS and only while its connection entry still
 * holds the same addresses.
 */
#ifndef PSW_FRAG_H
#define PSW_FRAG_H

#include <rte_cycles.h>
#include <rte_hash_crc.h>
#include <rte_ip.h>
#include <rte_mbuf.h>

#include "psw_ct.h"
#include "psw_nat.h"
#include "psw_stage.h"

#define PSW_FRAG_SLOTS 256u
#define PSW_FRAG_MS    1000u

struct psw_frag_cache {
	struct {
		uint32_t src, dst;       /**< as received, network order */
		uint16_t id;             /**< IPv4 identification */
		uint8_t proto;
		uint8_t pad;
		uint32_t hit1;           /**< the connection's hit + 1; 0: empty */
		uint64_t tsc;            /**< when the first fragment was seen */
	} slot[PSW_FRAG_SLOTS];
};

static inline unsigned
psw_frag_slot(uint32_t src, uint32_t dst, uint16_t id, uint8_t proto)
{
	return rte_hash_crc_4byte(src, rte_hash_crc_4byte(dst, (uint32_t)id << 8 | proto)) &
	       (PSW_FRAG_SLOTS - 1);
}

static inline uint16_t
psw_frag_id(const struct rte_mbuf *pkt, const struct psw_meta *m)
{
	return rte_pktmbuf_mtod_offset(pkt, const struct rte_ipv4_hdr *, m->l2_len)->packet_id;
}

/* The addresses a packet of entry e in direction dir carries as received. */
static inline void
psw_frag_wire(const struct psw_ct_entry *e, unsigned dir, uint32_t *src, uint32_t *dst)
{
	const struct psw_ct_key *k = dir == PSW_CT_DIR_ORIG ? &e->orig : &e->reply;

	memcpy(src, k->src, 4);
	memcpy(dst, k->dst, 4);
}

/** A first fragment of a tracked IPv4 connection (m->ct set) is noted. */
static inline void
psw_frag_note(struct psw_stage_ctx *sc, const struct psw_tables *t, const struct rte_mbuf *pkt,
	      const struct psw_meta *m)
{
	const struct psw_ct_entry *e;
	uint32_t src, dst;
	uint16_t id;
	unsigned s;

	if (sc->frags == NULL || m->l3 != PSW_L3_IPV4 || m->ct == 0 || t->ct == NULL)
		return;
	e = psw_ct_entry(t->ct, m->ct - 1);
	psw_frag_wire(e, (m->ct - 1) & 1, &src, &dst);
	id = psw_frag_id(pkt, m);
	s = psw_frag_slot(src, dst, id, m->l4_proto);
	sc->frags->slot[s].src = src;
	sc->frags->slot[s].dst = dst;
	sc->frags->slot[s].id = id;
	sc->frags->slot[s].proto = m->l4_proto;
	sc->frags->slot[s].hit1 = m->ct;
	sc->frags->slot[s].tsc = rte_rdtsc();
}

/**
 * A later IPv4 fragment whose first one was noted gets its connection and
 * NAT. @return true when it was followed (or dropped: the connection was
 * denied).
 */
static inline bool
psw_frag_follow(struct psw_stage_ctx *sc, const struct psw_tables *t, struct rte_mbuf *pkt,
		struct psw_meta *m)
{
	uint16_t id = psw_frag_id(pkt, m);
	unsigned s = psw_frag_slot(m->src4, m->dst4, id, m->l4_proto), dir;
	struct psw_ct_entry *e;
	enum psw_drop_reason why;
	uint32_t src, dst, hit;

	if (sc->frags == NULL || sc->frags->slot[s].hit1 == 0 || sc->frags->slot[s].src != m->src4 ||
	    sc->frags->slot[s].dst != m->dst4 || sc->frags->slot[s].id != id ||
	    sc->frags->slot[s].proto != m->l4_proto ||
	    rte_rdtsc() - sc->frags->slot[s].tsc > rte_get_tsc_hz() / 1000 * PSW_FRAG_MS)
		return false;
	hit = sc->frags->slot[s].hit1 - 1;
	e = psw_ct_entry(t->ct, hit);
	dir = hit & 1;
	psw_frag_wire(e, dir, &src, &dst);
	if (src != m->src4 || dst != m->dst4)
		return false;                    /* the entry was reused since */
	if ((why = psw_ct_denied(e)) != PSW_DROP_NONE) {
		psw_set_drop(m, why);
		return true;
	}
	psw_nat_apply_entry(pkt, m, e, dir);
	m->ct = hit + 1;
	m->flags &= (uint16_t)~PSW_F_TO_GW;
	psw_count_event(sc, PSW_EV_FRAG_FOLLOWED);
	return true;
}

#endif /* PSW_FRAG_H */
