/* Connection tracking, fast path: keys, lock-free lookup, insert, state machine. */
#include <errno.h>
#include <string.h>

#include <rte_prefetch.h>
#include <rte_tcp.h>

#include "psw_ct.h"

bool
psw_ct_key_of(const struct psw_meta *m, struct psw_ct_key *k)
{
	if (!psw_ct_trackable(m))
		return false;
	memset(k, 0, sizeof(*k));
	k->proto = m->l4_proto;
	k->sport = m->sport;                     /* ICMP echo: the identifier */
	if (m->l4_proto != IPPROTO_ICMP && m->l4_proto != IPPROTO_ICMPV6)
		k->dport = m->dport;
	else
		k->dport = m->dport >> 8;        /* the echo type: request and reply differ */
	if (m->l3 == PSW_L3_IPV4) {
		k->family = 4;
		memcpy(k->src, &m->src4, 4);
		memcpy(k->dst, &m->dst4, 4);
	} else {
		k->family = 6;
		memcpy(k->src, m->src6, 16);
		memcpy(k->dst, m->dst6, 16);
	}
	return true;
}

void
psw_ct_lookup(struct psw_ct *ct, const struct psw_ct_key *keys[], unsigned n, uint32_t *hits)
{
	void *data[PSW_BURST_MAX];
	hash_sig_t sig[PSW_BURST_MAX];
	uint64_t mask = 0;
	unsigned i;

	for (i = 0; i < n; i++)
		sig[i] = psw_ct_hash(keys[i], sizeof(*keys[i]), 0);
	if (n > 0)
		rte_hash_lookup_with_hash_bulk_data(ct->hash, (const void **)keys, sig, n, &mask, data);
	for (i = 0; i < n; i++)
		hits[i] = (mask >> i) & 1 ? (uint32_t)(uintptr_t)data[i] : UINT32_MAX;
}

static inline bool
key_eq(const struct psw_ct_key *a, const struct psw_ct_key *b)
{
	const uint64_t *x = (const uint64_t *)a, *y = (const uint64_t *)b;

	return ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3]) | (x[4] ^ y[4])) == 0;
}

/* The hit a cache way names, if its entry is in use and holds key that way. */
static inline bool
cache_way_valid(const struct psw_ct *ct, uint32_t hit, const struct psw_ct_key *key)
{
	const struct psw_ct_entry *e;

	if ((hit >> 1) >= ct->size)
		return false;
	e = &ct->entries[hit >> 1];
	if (!__atomic_load_n(&e->in_use, __ATOMIC_ACQUIRE))
		return false;
	return key_eq((hit & 1) == PSW_CT_DIR_ORIG ? &e->orig : &e->reply, key);
}

void
psw_ct_lookup_cached(struct psw_ct *ct, struct psw_ct_cache *cache,
		     const struct psw_ct_key *keys[], unsigned n, uint32_t *hits)
{
	const struct psw_ct_key *miss_keys[PSW_BURST_MAX];
	hash_sig_t sig[PSW_BURST_MAX], miss_sig[PSW_BURST_MAX];
	void *data[PSW_BURST_MAX];
	uint8_t miss[PSW_BURST_MAX];
	uint64_t mask = 0;
	unsigned i, nb_miss = 0;

	for (i = 0; i < n; i++) {
		sig[i] = psw_ct_hash(keys[i], sizeof(*keys[i]), 0);
		rte_prefetch0(&cache->way[sig[i] & (PSW_CT_CACHE_SETS - 1)]);
	}
	/* the ways' entries, fetched for the key test (and the stage after) */
	for (i = 0; i < n; i++) {
		unsigned set = sig[i] & (PSW_CT_CACHE_SETS - 1), w;

		hits[i] = UINT32_MAX;
		for (w = 0; w < PSW_CT_CACHE_WAYS; w++) {
			if (cache->way[set][w].sig == sig[i] && cache->way[set][w].hit1 != 0) {
				hits[i] = cache->way[set][w].hit1 - 1;
				if ((hits[i] >> 1) < ct->size)
					rte_prefetch0(&ct->entries[hits[i] >> 1]);
				break;
			}
		}
	}
	for (i = 0; i < n; i++) {
		if (hits[i] != UINT32_MAX && cache_way_valid(ct, hits[i], keys[i]))
			continue;
		miss_keys[nb_miss] = keys[i];
		miss_sig[nb_miss] = sig[i];
		miss[nb_miss++] = (uint8_t)i;
	}
	if (nb_miss == 0)
		return;
	rte_hash_lookup_with_hash_bulk_data(ct->hash, (const void **)miss_keys, miss_sig, nb_miss,
					    &mask, data);
	for (i = 0; i < nb_miss; i++) {
		unsigned k = miss[i], set = miss_sig[i] & (PSW_CT_CACHE_SETS - 1);

		if (!((mask >> i) & 1)) {
			hits[k] = UINT32_MAX;
			continue;
		}
		hits[k] = (uint32_t)(uintptr_t)data[i];
		/* the newest in way 0, the one it displaces in way 1 */
		cache->way[set][1] = cache->way[set][0];
		cache->way[set][0].sig = miss_sig[i];
		cache->way[set][0].hit1 = hits[k] + 1;
	}
}

/*
 * Under write_lock: remove entry idx (its keys in the hash), as the sweep's
 * retire() would, and hand it to the control thread, which frees it after a
 * grace period; count it in *removed (NULL: nowhere). The gone ring holds
 * every entry a worker can have removed (psw_ct_create), so it is never
 * full; that is checked all the same, before anything is deleted (only
 * holders of write_lock enqueue, so the room cannot shrink meanwhile).
 */
static __rte_noinline int
remove_locked(struct psw_ct *ct, uint32_t idx, uint64_t *removed)
{
	struct psw_ct_entry *e = &ct->entries[idx];
	struct psw_ct_gone g = { .idx = idx };

	if (!__atomic_load_n(&e->in_use, __ATOMIC_ACQUIRE) || rte_ring_free_count(ct->gone) == 0)
		return -EBUSY;
	/* out of use first: from here no worker's cache takes it (psw_ct_lookup_cached) */
	__atomic_store_n(&e->in_use, 0, __ATOMIC_RELEASE);
	g.pos[0] = rte_hash_del_key(ct->hash, &e->orig);
	g.pos[1] = rte_hash_del_key(ct->hash, &e->reply);
	rte_ring_sp_enqueue_elem(ct->gone, &g, sizeof(g));
	if (removed != NULL)
		__atomic_fetch_add(removed, 1, __ATOMIC_RELAXED);
	return 0;
}

int
psw_ct_remove(struct psw_ct *ct, uint32_t hit)
{
	int rc;

	rte_spinlock_lock(&ct->write_lock);
	rc = remove_locked(ct, hit >> 1, NULL);
	rte_spinlock_unlock(&ct->write_lock);
	return rc == 0 ? 0 : -ENOENT;
}

/*
 * Under write_lock: is key k free for a new entry? A key held by an entry
 * expired at now is freed by removing that entry. 0: free; -EEXIST: a live
 * entry holds it.
 */
static __rte_always_inline int
key_free_locked(struct psw_ct *ct, const struct psw_ct_key *k, uint64_t now)
{
	void *data;
	uint32_t idx;

	if (likely(rte_hash_lookup_data(ct->hash, k, &data) < 0))
		return 0;
	idx = (uint32_t)(uintptr_t)data >> 1;
	if (!psw_ct_expired(ct, &ct->entries[idx], now) || remove_locked(ct, idx, &ct->expired_lookup) != 0)
		return -EEXIST;
	return 0;
}

int
psw_ct_insert_zone(struct psw_ct *ct, const struct psw_ct_key *orig, const struct psw_ct_key *reply,
		   uint32_t svc, uint32_t backend, uint8_t flags, uint16_t zone, uint64_t now)
{
	struct psw_ct_entry *e;
	void *obj;
	uint32_t idx;
	int32_t pos_o, pos_r;
	int rc = 0;

	if (zone >= PSW_CT_NB_ZONES)
		zone = PSW_CT_ZONE_ANY;
	/* taken first, given back on failure: the limit holds under concurrent inserts */
	if (__atomic_fetch_add(&ct->zone_count[zone], 1, __ATOMIC_RELAXED) >= ct->zone_max &&
	    zone != PSW_CT_ZONE_ANY) {
		__atomic_fetch_sub(&ct->zone_count[zone], 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&ct->zone_full, 1, __ATOMIC_RELAXED);
		return -EDQUOT;
	}
	if (rte_ring_mc_dequeue(ct->free, &obj) != 0) {
		__atomic_fetch_sub(&ct->zone_count[zone], 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&ct->full, 1, __ATOMIC_RELAXED);
		return -ENOSPC;
	}
	idx = (uint32_t)(uintptr_t)obj;
	e = &ct->entries[idx];
	e->orig = *orig;
	e->reply = *reply;
	e->svc = svc;
	e->backend = (uint16_t)backend;
	e->wscale[0] = e->wscale[1] = 0;
	e->win_known = 0;
	e->td_end[0] = e->td_end[1] = 0;
	e->td_maxwin[0] = e->td_maxwin[1] = 0;
	e->flags = flags;
	e->state = PSW_CT_NEW;
	e->timeout_s = 0;
	e->pol_gen = 0;
	e->zone = zone;
	e->cslot = 0;
	e->last_seen = now;
	/* rte_hash_add overwrites an existing key: check and add under one lock */
	rte_spinlock_lock(&ct->write_lock);
	if (key_free_locked(ct, orig, now) != 0) {
		rc = -EEXIST;
	} else if (key_free_locked(ct, reply, now) != 0) {
		rc = -EADDRINUSE;
	} else {
		pos_r = rte_hash_add_key_data(ct->hash, reply, (void *)(uintptr_t)(idx << 1 | PSW_CT_DIR_REPLY));
		pos_o = pos_r < 0 ? pos_r :
			rte_hash_add_key_data(ct->hash, orig, (void *)(uintptr_t)(idx << 1 | PSW_CT_DIR_ORIG));
		if (pos_r >= 0 && pos_o < 0) {
			/*
			 * The reply key was visible: a worker may hold it. The
			 * entry goes the way of every other, through expiry and a
			 * grace period, as one denied (its packets dropped until
			 * then); its original key, never added, is made one no
			 * packet has, so that removing it touches no other entry.
			 */
			e->orig.pad = 0xdead;
			e->flags |= PSW_CT_F_DENY_IN;
			__atomic_store_n(&e->in_use, 1, __ATOMIC_RELEASE);
			rte_ring_mp_enqueue(ct->doomed, (void *)(uintptr_t)idx);
			rte_spinlock_unlock(&ct->write_lock);
			__atomic_fetch_add(&ct->full, 1, __ATOMIC_RELAXED);
			return -ENOSPC;
		}
		if (pos_r < 0)
			rc = -ENOSPC;
		else
			__atomic_store_n(&e->in_use, 1, __ATOMIC_RELEASE);
	}
	rte_spinlock_unlock(&ct->write_lock);
	if (rc < 0) {
		__atomic_fetch_sub(&ct->zone_count[zone], 1, __ATOMIC_RELAXED);
		rte_ring_mp_enqueue(ct->free, obj);
		if (rc == -ENOSPC)
			__atomic_fetch_add(&ct->full, 1, __ATOMIC_RELAXED);
		else if (rc == -EADDRINUSE)
			__atomic_fetch_add(&ct->clashes, 1, __ATOMIC_RELAXED);
		return rc;
	}
	__atomic_fetch_add(&ct->inserts, 1, __ATOMIC_RELAXED);
	return (int)(idx << 1);
}

static inline bool
seq_after(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) > 0;
}

/* Window scale option of a SYN (0x80 | shift), or 0. */
static uint8_t
syn_wscale(const struct rte_tcp_hdr *th)
{
	const uint8_t *o = (const uint8_t *)(th + 1);
	unsigned len = (th->data_off >> 4) * 4u - sizeof(*th), i = 0;

	while (i < len) {
		if (o[i] == 0)
			break;
		if (o[i] == 1) {
			i++;
			continue;
		}
		if (i + 1 >= len || o[i + 1] < 2)
			break;
		if (o[i] == 3 && o[i + 1] == 3 && i + 2 < len)
			return (uint8_t)(0x80 | RTE_MIN(o[i + 2], 14));
		i += o[i + 1];
	}
	return 0;
}

/*
 * Sequence window check and tracking; false = out of window. handshake: the
 * segment is the connection's own SYN or SYN-ACK, which sets the direction's
 * starting point and window scale instead of being checked. Any other SYN is
 * checked like data and changes nothing of the handshake.
 *
 * td_end / td_maxwin are plain stores: two workers updating one direction at
 * once (only with RSS spreading a flow) can lose an advance or a maximum for
 * a moment, which the factor-of-two room absorbs. win_known is published with
 * release so that a reader seeing a direction known sees its td_end.
 */
static bool
tcp_window(struct psw_ct_entry *e, unsigned d, const struct rte_tcp_hdr *th, unsigned seg_len,
	   bool handshake)
{
	uint8_t fl = th->tcp_flags, known = __atomic_load_n(&e->win_known, __ATOMIC_ACQUIRE);
	uint32_t seq = rte_be_to_cpu_32(th->sent_seq);
	uint32_t end = seq + seg_len + !!(fl & RTE_TCP_SYN_FLAG) + !!(fl & RTE_TCP_FIN_FLAG);
	unsigned o = !d, scale = 0;
	uint32_t win;

	if (e->flags & PSW_CT_F_LOOSE) {
		/*
		 * Picked up mid-stream: no handshake gave windows or scales, so
		 * data is not checked. A RST is: once a direction has been seen,
		 * its RST must lie near that direction's highest sequence end
		 * (where a real sender's RST sits), so a blind one cannot close
		 * the connection.
		 */
		if (d == PSW_CT_DIR_REPLY && !(known & PSW_CT_REPLIED))
			__atomic_or_fetch(&e->win_known, PSW_CT_REPLIED, __ATOMIC_RELAXED);
		uint32_t room = RTE_MAX(e->td_maxwin[o], 65535u) * 2;
		bool near = (known & (1u << d)) && !seq_after(seq, e->td_end[d] + room) &&
			    !seq_after(e->td_end[d] - room, end);

		if ((fl & RTE_TCP_RST_FLAG) && (known & (1u << d)) && !near)
			return false;
		/* only segments near it move the mark: a forged one cannot drag it to its RST */
		if (!(known & (1u << d)) || (near && seq_after(end, e->td_end[d]))) {
			e->td_end[d] = end;
			__atomic_or_fetch(&e->win_known, (uint8_t)(1u << d), __ATOMIC_RELEASE);
		}
		win = (uint32_t)rte_be_to_cpu_16(th->rx_win) << 14;    /* its scale unknown: the most */
		if (win > e->td_maxwin[d])
			e->td_maxwin[d] = win;
		return true;
	}
	if (handshake)
		e->wscale[d] = syn_wscale(th);
	else if (known == 3) {
		uint32_t room = RTE_MAX(e->td_maxwin[o], 65535u) * 2;

		if (seq_after(seq, e->td_end[d] + room) || seq_after(e->td_end[d] - room, end))
			return false;
	}
	if (!(known & (1u << d)) || seq_after(end, e->td_end[d])) {
		e->td_end[d] = end;
		__atomic_or_fetch(&e->win_known, (uint8_t)(1u << d), __ATOMIC_RELEASE);
	}
	/* windows are scaled only when both sides offered scaling, never on a SYN */
	if (!(fl & RTE_TCP_SYN_FLAG) && (e->wscale[0] & 0x80) && (e->wscale[1] & 0x80))
		scale = e->wscale[d] & 0x0f;
	win = (uint32_t)rte_be_to_cpu_16(th->rx_win) << scale;
	if (win > e->td_maxwin[d])
		e->td_maxwin[d] = win;
	return true;
}

/* The client opens the tuple again: forget the last connection's windows. */
static void
tcp_reopen(struct psw_ct_entry *e)
{
	__atomic_and_fetch(&e->flags, (uint8_t)~(PSW_CT_F_FIN_O | PSW_CT_F_FIN_R), __ATOMIC_RELAXED);
	__atomic_store_n(&e->win_known, 0, __ATOMIC_RELEASE);
	e->wscale[0] = e->wscale[1] = 0;
	e->td_maxwin[0] = e->td_maxwin[1] = 0;
}

enum psw_drop_reason
psw_ct_update(struct psw_ct *ct, struct psw_ct_entry *e, unsigned dir,
	      const struct rte_tcp_hdr *th, unsigned seg_len, uint64_t now)
{
	uint8_t state = __atomic_load_n(&e->state, __ATOMIC_RELAXED), next = state;
	uint8_t tcp_flags = th != NULL ? th->tcp_flags : 0;

	if (e->orig.proto == IPPROTO_TCP) {
		bool syn = tcp_flags & RTE_TCP_SYN_FLAG, ack = tcp_flags & RTE_TCP_ACK_FLAG;
		bool orig = dir == PSW_CT_DIR_ORIG;
		/* the connection's own SYN (or its retransmission) and SYN-ACK */
		bool handshake = syn && (orig ? !ack && state == PSW_CT_NEW :
					 ack && (state == PSW_CT_NEW || state == PSW_CT_SYN_RECV));

		if (tcp_flags & RTE_TCP_RST_FLAG) {
			/* a blind RST (or SYN+RST) out of window is not this connection's */
			if (th != NULL && !tcp_window(e, dir, th, seg_len, false))
				return PSW_DROP_CT_WINDOW;
			next = PSW_CT_CLOSED;
		} else if (orig && syn && !ack && (state == PSW_CT_CLOSED || state == PSW_CT_CLOSING)) {
			/* a new connection on the tuple, after RST or both FINs */
			next = PSW_CT_NEW;
			tcp_reopen(e);
			if (th != NULL)
				tcp_window(e, dir, th, seg_len, true);
		} else if (state == PSW_CT_CLOSED) {
			/* after RST only a new SYN from the client reopens the tuple */
			return PSW_DROP_CT_INVALID;
		} else if (state == PSW_CT_NEW && !orig && !syn) {
			/* a reply that is not a SYN-ACK to a half-open connection */
			return PSW_DROP_CT_INVALID;
		} else {
			if (th != NULL && !tcp_window(e, dir, th, seg_len, handshake))
				return PSW_DROP_CT_WINDOW;
			if (tcp_flags & RTE_TCP_FIN_FLAG) {
				uint8_t f = __atomic_or_fetch(&e->flags, orig ? PSW_CT_F_FIN_O : PSW_CT_F_FIN_R,
							      __ATOMIC_RELAXED);

				next = (f & PSW_CT_F_FIN_O) && (f & PSW_CT_F_FIN_R) ? PSW_CT_CLOSING
										      : PSW_CT_FIN_WAIT;
			} else if (state == PSW_CT_NEW && !orig && syn && ack) {
				next = PSW_CT_SYN_RECV;
			} else if (state == PSW_CT_SYN_RECV && orig && ack && !syn) {
				next = PSW_CT_ESTABLISHED;
			}
		}
	} else if (state == PSW_CT_NEW && dir == PSW_CT_DIR_REPLY) {
		next = PSW_CT_ESTABLISHED;
	}
	if (next != state)
		__atomic_store_n(&e->state, next, __ATOMIC_RELAXED);
	/* write the shared line rarely; signed, as another worker may have stamped a later time */
	if ((int64_t)(now - __atomic_load_n(&e->last_seen, __ATOMIC_RELAXED)) > (int64_t)(ct->tsc_hz / 16))
		__atomic_store_n(&e->last_seen, now, __ATOMIC_RELAXED);
	return PSW_DROP_NONE;
}
