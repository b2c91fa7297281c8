/* Connection tracking, control side: creation, expiry with RCU-deferred free, flushes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_hash_crc.h>
#include <rte_malloc.h>

#include "psw_ct.h"
#include "psw_ct_ctl.h"

/* A deleted entry waiting for its grace period, with its keys' positions (control thread only). */
struct psw_ct_retired {
	uint32_t idx;
	int32_t pos[2];
	uint64_t token;
};

/* Idle timeouts in seconds, by protocol class and state (kube-proxy-like). */
static const unsigned timeouts[4][PSW_CT_NB_STATES] = {
	[PSW_CT_TCP]   = { 60, 60, 86400, 120, 120, 10 },
	[PSW_CT_UDP]   = { 30, 30, 120, 30, 30, 30 },
	[PSW_CT_ICMP]  = { 30, 30, 30, 30, 30, 30 },
	[PSW_CT_OTHER] = { 60, 60, 600, 60, 60, 60 },
};

static const char *const state_names[PSW_CT_NB_STATES] = {
	"NEW", "SYN_RECV", "ESTABLISHED", "FIN_WAIT", "CLOSING", "CLOSED",
};

const char *
psw_ct_state_name(unsigned state)
{
	return state < PSW_CT_NB_STATES ? state_names[state] : "?";
}

struct psw_ct *
psw_ct_create(uint32_t size, int socket, struct rte_rcu_qsbr *qsbr)
{
	static unsigned instance;
	char name[RTE_HASH_NAMESIZE];
	struct rte_hash_parameters hp = {
		.name = name,
		.key_len = sizeof(struct psw_ct_key),
		.hash_func = psw_ct_hash,
		.socket_id = socket,
		.extra_flag = RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF | RTE_HASH_EXTRA_FLAGS_EXT_TABLE,
	};
	struct psw_ct *ct;
	uint32_t i, c, p;

	size = rte_align32pow2(RTE_MAX(size, 1024u));
	ct = rte_zmalloc_socket("psw_ct", sizeof(*ct), RTE_CACHE_LINE_SIZE, socket);
	if (ct == NULL)
		goto nomem;
	ct->size = size;
	ct->zone_max = UINT32_MAX;
	ct->qsbr = qsbr;
	rte_spinlock_init(&ct->write_lock);
	ct->tsc_hz = rte_get_tsc_hz();
	for (c = 0; c < 4; c++)
		for (p = 0; p < PSW_CT_NB_STATES; p++)
			ct->timeout_tsc[c][p] = (uint64_t)timeouts[c][p] * ct->tsc_hz;
	snprintf(name, sizeof(name), "psw_ct%u", instance++);
	hp.entries = size * 2;                    /* two keys per connection */
	ct->hash = rte_hash_create(&hp);
	ct->entries = rte_zmalloc_socket("psw_ct_entries", (size_t)size * sizeof(*ct->entries),
					 RTE_CACHE_LINE_SIZE, socket);
	snprintf(name, sizeof(name), "psw_ct_free%u", instance);
	ct->free = rte_ring_create(name, size * 2, socket, RING_F_EXACT_SZ);
	snprintf(name, sizeof(name), "psw_ct_doom%u", instance);
	ct->doomed = rte_ring_create(name, 4096, socket, RING_F_SC_DEQ);
	/*
	 * size - 1 slots: an entry is in it at most once, until the control
	 * thread frees it, and the worker removing one holds a free entry.
	 */
	snprintf(name, sizeof(name), "psw_ct_gone%u", instance);
	ct->gone = rte_ring_create_elem(name, sizeof(struct psw_ct_gone), size, socket,
					RING_F_SP_ENQ | RING_F_SC_DEQ);
	if (ct->hash == NULL || ct->entries == NULL || ct->free == NULL || ct->doomed == NULL ||
	    ct->gone == NULL)
		goto nomem;
	for (i = 0; i < size; i++)
		rte_ring_enqueue(ct->free, (void *)(uintptr_t)i);
	return ct;
nomem:
	psw_ct_destroy(ct);
	rte_errno = ENOMEM;
	return NULL;
}

void
psw_ct_destroy(struct psw_ct *ct)
{
	if (ct == NULL)
		return;
	rte_hash_free(ct->hash);
	rte_free(ct->entries);
	rte_ring_free(ct->free);
	rte_ring_free(ct->doomed);
	rte_ring_free(ct->gone);
	free(ct->retired);
	rte_free(ct);
}

/* Nothing came back yet: a SYN or datagram unanswered, or a loose TCP pick-up unreplied. */
static bool
unanswered(const struct psw_ct_entry *e)
{
	if (e->flags & PSW_CT_F_LOOSE)
		return (e->win_known & 3) != 3;    /* both directions seen, not just "a reply" */
	return e->state == PSW_CT_NEW;
}

/* The entry's timeout (psw_ct_timeout), or the early one for an unanswered entry under pressure. */
static uint64_t
entry_timeout(const struct psw_ct *ct, const struct psw_ct_entry *e, bool pressure)
{
	if (pressure && e->orig.proto != PSW_CT_PROTO_AFFINITY && unanswered(e))
		return (uint64_t)PSW_CT_EARLY_S * ct->tsc_hz;
	return psw_ct_timeout(ct, e);
}

void
psw_ct_set_zone_max(struct psw_ct *ct, uint32_t max)
{
	ct->zone_max = max == 0 || max >= ct->size ? UINT32_MAX : max;
}

/* Room for one more retired entry. */
static int
retired_room(struct psw_ct *ct)
{
	if (ct->nb_retired == ct->cap_retired) {
		uint32_t cap = ct->cap_retired ? ct->cap_retired * 2 : 1024, i;
		struct psw_ct_retired *r = malloc(cap * sizeof(*r));

		if (r == NULL)
			return -ENOMEM;
		for (i = 0; i < ct->nb_retired; i++)
			r[i] = ct->retired[(ct->retired_head + i) % ct->cap_retired];
		free(ct->retired);
		ct->retired = r;
		ct->cap_retired = cap;
		ct->retired_head = 0;
	}
	return 0;
}

/* Record an entry whose keys are gone; its grace period starts now (after they went). */
static void
retired_push(struct psw_ct *ct, uint32_t idx, int32_t p, int32_t q)
{
	/* the positions stay here, not in the entry: workers may still read it */
	ct->retired[(ct->retired_head + ct->nb_retired) % ct->cap_retired] =
		(struct psw_ct_retired){ .idx = idx, .pos = { p, q }, .token = rte_rcu_qsbr_start(ct->qsbr) };
	ct->nb_retired++;
}

/*
 * Remove the entry's keys now; free the entry after a grace period.
 * -ENOENT when it is out of use already: a worker removed it as expired
 * after this thread saw it in use (write_lock orders the two).
 */
static int
retire(struct psw_ct *ct, uint32_t idx)
{
	struct psw_ct_entry *e = &ct->entries[idx];
	int32_t p, q;

	if (retired_room(ct) != 0)
		return -ENOMEM;
	rte_spinlock_lock(&ct->write_lock);
	if (!__atomic_load_n(&e->in_use, __ATOMIC_ACQUIRE)) {
		rte_spinlock_unlock(&ct->write_lock);
		return -ENOENT;
	}
	/* out of use first: from here no worker's cache takes it (psw_ct_lookup_cached) */
	__atomic_store_n(&e->in_use, 0, __ATOMIC_RELEASE);
	p = rte_hash_del_key(ct->hash, &e->orig);
	q = rte_hash_del_key(ct->hash, &e->reply);
	rte_spinlock_unlock(&ct->write_lock);
	retired_push(ct, idx, p, q);
	return 0;
}

/* Take over the entries workers removed (their keys deleted already). */
static void
adopt_gone(struct psw_ct *ct)
{
	struct psw_ct_gone g;

	while (retired_room(ct) == 0 && rte_ring_sc_dequeue_elem(ct->gone, &g, sizeof(g)) == 0)
		retired_push(ct, g.idx, g.pos[0], g.pos[1]);
}

/* Free the retired entries no worker can still hold. */
static void
reclaim(struct psw_ct *ct, bool wait)
{
	adopt_gone(ct);
	if (wait && ct->nb_retired > 0)
		rte_rcu_qsbr_synchronize(ct->qsbr, RTE_QSBR_THRID_INVALID);
	while (ct->nb_retired > 0) {
		struct psw_ct_retired *r = &ct->retired[ct->retired_head];
		int i;

		if (rte_rcu_qsbr_check(ct->qsbr, r->token, false) != 1)
			break;
		rte_spinlock_lock(&ct->write_lock);
		for (i = 0; i < 2; i++)
			if (r->pos[i] >= 0)
				rte_hash_free_key_with_position(ct->hash, r->pos[i]);
		rte_spinlock_unlock(&ct->write_lock);
		__atomic_fetch_sub(&ct->zone_count[ct->entries[r->idx].zone], 1, __ATOMIC_RELAXED);
		rte_ring_mp_enqueue(ct->free, (void *)(uintptr_t)r->idx);
		ct->retired_head = (ct->retired_head + 1) % ct->cap_retired;
		ct->nb_retired--;
	}
}

unsigned
psw_ct_expire(struct psw_ct *ct, unsigned budget, bool all)
{
	uint64_t now = rte_rdtsc();
	unsigned n = 0, i, early = 0;
	/* less than an eighth free: unanswered entries go early, and the scan goes faster */
	bool pressure = rte_ring_count(ct->free) < ct->size / 8;
	void *obj;

	if (pressure)
		budget *= 8;
	reclaim(ct, false);
	/* connections the policy stage denied go first, whatever their age */
	while (rte_ring_sc_dequeue(ct->doomed, &obj) == 0) {
		struct psw_ct_entry *e = &ct->entries[(uintptr_t)obj];

		if (__atomic_load_n(&e->in_use, __ATOMIC_ACQUIRE) &&
		    (e->flags & (PSW_CT_F_DENY_IN | PSW_CT_F_DENY_EG)) && retire(ct, (uint32_t)(uintptr_t)obj) == 0)
			n++;
	}
	for (i = 0; i < budget && i < ct->size; i++) {
		uint32_t idx = ct->scan_pos;
		struct psw_ct_entry *e = &ct->entries[idx];

		if (idx == 0)
			ct->passes++;
		ct->scan_pos = (ct->scan_pos + 1) & (ct->size - 1);
		if (!__atomic_load_n(&e->in_use, __ATOMIC_ACQUIRE))
			continue;
		if (e->cslot != 0)
			ct->slot_seen[e->cslot] = ct->passes - 1;   /* (the pass under way) */
		/*
		 * Age is signed: a worker may stamp last_seen after this pass read
		 * its clock (an entry "younger than now" is not idle at all), and
		 * workers' TSCs may differ by a little.
		 */
		if (!all && !(e->flags & (PSW_CT_F_DENY_IN | PSW_CT_F_DENY_EG)) &&   /* denied: now */
		    (int64_t)(now - __atomic_load_n(&e->last_seen, __ATOMIC_RELAXED)) <=
		    (int64_t)entry_timeout(ct, e, pressure))
			continue;
		if (retire(ct, idx) == 0) {
			n++;
			early += pressure && !all && unanswered(e) &&
				 (int64_t)(now - e->last_seen) <= (int64_t)entry_timeout(ct, e, false);
		}
	}
	ct->expired += n;
	ct->early += early;
	reclaim(ct, all);
	return n;
}

unsigned
psw_ct_flush_backend(struct psw_ct *ct, uint32_t svc, const uint8_t *addr, uint16_t port)
{
	unsigned n = 0;
	uint32_t i;

	for (i = 0; i < ct->size; i++) {
		struct psw_ct_entry *e = &ct->entries[i];

		if (!__atomic_load_n(&e->in_use, __ATOMIC_ACQUIRE) || e->svc != svc ||
		    memcmp(e->reply.src, addr, e->reply.family == 4 ? 4 : 16) != 0 ||
		    e->reply.sport != port)
			continue;
		if (retire(ct, i) == 0)
			n++;
	}
	ct->flushed += n;
	reclaim(ct, false);
	return n;
}

uint32_t
psw_ct_count(const struct psw_ct *ct)
{
	return ct->size - rte_ring_count(ct->free) - ct->nb_retired - rte_ring_count(ct->gone);
}
