/* Packet trace, workers' side: mark packets, run their burst stage by stage, snapshot, send records. */
#include <errno.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_malloc.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "psw_conntrack.h"
#include "psw_ct.h"
#include "psw_forward.h"
#include "psw_guard.h"
#include "psw_parse.h"
#include "psw_policy.h"
#include "psw_service.h"
#include "psw_trace.h"
#include "psw_tunnel.h"

_Static_assert(sizeof(struct psw_trace_rec) % 4 == 0, "ring elements are a multiple of 4 bytes");
_Static_assert(PSW_TRACE_MAX <= UINT16_MAX, "seq is 16 bits");

/* Alone in its cache line: every worker reads it every burst, the control thread rarely writes it. */
struct psw_trace_arm *psw_trace_armed __attribute__((aligned(RTE_CACHE_LINE_SIZE)));

static struct psw_trace_worker *workers[PSW_MAX_WORKERS];
static unsigned nb_workers;

typedef void (*stage_fn)(struct psw_stage_ctx *sc, const struct psw_tables *t, struct psw_burst *b);

/* The stages in psw_worker_process's order (psw_worker.c): keep the two lists the same. */
static const struct {
	uint8_t point;
	stage_fn run;
} stages[] = {
	{ PSW_TS_PARSE, psw_parse_run },
	{ PSW_TS_TUNNEL, psw_tunnel_run },
	{ PSW_TS_GUARD, psw_guard_run },
	{ PSW_TS_CONNTRACK, psw_conntrack_run },
	{ PSW_TS_SERVICE, psw_service_run },
	{ PSW_TS_POLICY, psw_policy_run },
	{ PSW_TS_FORWARD, psw_forward_run },
};

static const char *const stage_names[] = {
#define _(sym, name) [PSW_TS_##sym] = name,
	PSW_TRACE_STAGES(_)
#undef _
};

const char *
psw_trace_stage_name(unsigned stage)
{
	return stage < PSW_TS_COUNT ? stage_names[stage] : "?";
}

int
psw_trace_init(unsigned n)
{
	char name[RTE_RING_NAMESIZE];
	unsigned w;

	if (n > PSW_MAX_WORKERS)
		return -EINVAL;
	for (w = 0; w < n; w++) {
		if (workers[w] != NULL)
			continue;
		workers[w] = rte_zmalloc("psw_trace", sizeof(*workers[w]), RTE_CACHE_LINE_SIZE);
		if (workers[w] == NULL)
			goto out_nomem;
		snprintf(name, sizeof(name), "psw_trace%u", w);
		workers[w]->ring = rte_ring_create_elem(name, sizeof(struct psw_trace_rec), PSW_TRACE_RING,
							SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
		if (workers[w]->ring == NULL)
			goto out_nomem;
	}
	if (n > nb_workers)
		nb_workers = n;
	return 0;

out_nomem:
	psw_trace_fini();
	return -ENOMEM;
}

void
psw_trace_fini(void)
{
	unsigned w;

	for (w = 0; w < PSW_MAX_WORKERS; w++) {
		if (workers[w] == NULL)
			continue;
		rte_ring_free(workers[w]->ring);
		rte_free(workers[w]);
		workers[w] = NULL;
	}
	nb_workers = 0;
}

struct psw_trace_worker *
psw_trace_worker(unsigned w)
{
	return w < PSW_MAX_WORKERS ? workers[w] : NULL;
}

/* Take one of the packets left to mark: its sequence number, or -1 when none is left. */
static int
claim(struct psw_trace_arm *a)
{
	int32_t left = __atomic_load_n(&a->left, __ATOMIC_RELAXED);

	while (left > 0)
		if (__atomic_compare_exchange_n(&a->left, &left, left - 1, false, __ATOMIC_ACQ_REL,
						__ATOMIC_RELAXED))
			return a->count - left;
	return -1;
}

/* All marked and none held: workers stop running the filter at once. */
static void
maybe_disarm(struct psw_trace_arm *a)
{
	struct psw_trace_arm *expected = a;

	if (__atomic_load_n(&a->left, __ATOMIC_ACQUIRE) <= 0 && __atomic_load_n(&a->held, __ATOMIC_ACQUIRE) <= 0)
		__atomic_compare_exchange_n(&psw_trace_armed, &expected, NULL, false, __ATOMIC_RELEASE,
					    __ATOMIC_RELAXED);
}

/* Was this frame a traced fragment in the worker's hold? Its sequence number, or -1. */
static int
released(struct psw_trace_worker *tw, const struct rte_mbuf *pkt, struct psw_trace_arm *a)
{
	unsigned i;

	for (i = 0; i < PSW_TRACE_HELD; i++) {
		if (tw->held[i] != pkt)
			continue;
		tw->held[i] = NULL;
		if (tw->held_id[i] != a->id)
			return -1;
		__atomic_sub_fetch(&a->held, 1, __ATOMIC_ACQ_REL);
		return tw->held_seq[i];
	}
	return -1;
}

/* A traced fragment went to the hold: traced again when its first one releases it. */
static void
remember_held(struct psw_trace_worker *tw, struct rte_mbuf *pkt, const struct psw_trace_rec *r,
	      struct psw_trace_arm *a)
{
	unsigned i, slot = (unsigned)r->seq % PSW_TRACE_HELD;

	for (i = 0; i < PSW_TRACE_HELD; i++)
		if (tw->held[i] == NULL) {
			slot = i;
			break;
		}
	if (tw->held[slot] != NULL && tw->held_id[slot] == a->id)
		__atomic_sub_fetch(&a->held, 1, __ATOMIC_ACQ_REL);   /* forgotten: not waited for */
	tw->held[slot] = pkt;
	tw->held_id[slot] = r->id;
	tw->held_seq[slot] = r->seq;
	__atomic_add_fetch(&a->held, 1, __ATOMIC_ACQ_REL);
}

/* What the packet is now, after stage `point`, and what the stage counted. */
static void
snap(const struct psw_tables *t, struct psw_trace_rec *r, unsigned point, const struct rte_mbuf *pkt,
     const struct psw_meta *m, const uint64_t *ev_before, const uint64_t *ev_after)
{
	struct psw_trace_step *s = &r->steps[r->nb_steps];
	const uint8_t *data;
	unsigned e, len;

	memset(s, 0, offsetof(struct psw_trace_step, hdr));
	if (point == PSW_TS_RX)
		s->meta.in_port = m->in_port;        /* the rest is the last burst's until parse */
	else
		s->meta = *m;
	s->pkt_len = rte_pktmbuf_pkt_len(pkt);
	if (s->meta.verdict == PSW_V_PUNT)
		s->punt_reason = pkt->hash.fdir.hi;
	if (ev_before != NULL)
		for (e = 0; e < PSW_EV_COUNT; e++)
			if (ev_after[e] != ev_before[e] && s->nb_events < PSW_TRACE_EVENTS)
				s->events[s->nb_events++] = (uint8_t)e;
	if (s->meta.ct != 0 && t->ct != NULL) {
		const struct psw_ct_entry *ce = psw_ct_entry(t->ct, s->meta.ct - 1);

		s->ct_state = __atomic_load_n(&ce->state, __ATOMIC_RELAXED);
		s->ct_flags = __atomic_load_n(&ce->flags, __ATOMIC_RELAXED);
	}
	len = RTE_MIN(s->pkt_len, (uint32_t)PSW_TRACE_HDR);
	data = rte_pktmbuf_read(pkt, 0, len, s->hdr);
	if (data == NULL)
		len = 0;
	else if (data != s->hdr)
		memcpy(s->hdr, data, len);
	s->hdr_len = (uint16_t)len;
	r->stage_of[point] = (uint8_t)(r->nb_steps + 1);
	r->nb_steps++;
}

/* The stages over a sub-burst of packets nobody traces, as psw_worker_process runs them. */
static void
run_plain(struct psw_lcore *lc, const struct psw_tables *t, struct psw_burst *sub)
{
	unsigned s;

	for (s = 0; s < RTE_DIM(stages); s++)
		stages[s].run(&lc->sc, t, sub);
}

/* One traced packet alone (a burst of one), a snapshot after each stage that works on it. */
static void
run_traced(struct psw_lcore *lc, const struct psw_tables *t, struct psw_burst *one, struct psw_trace_rec *r)
{
	uint64_t before[PSW_EV_COUNT];
	unsigned s;

	snap(t, r, PSW_TS_RX, one->pkts[0], &one->meta[0], NULL, NULL);
	for (s = 0; s < RTE_DIM(stages); s++) {
		/* a stage only works on what is still undecided; parse decides for every packet */
		if (s > 0 && one->meta[0].verdict != PSW_V_CONTINUE)
			break;
		if (stages[s].point == PSW_TS_POLICY)
			psw_policy_why(t, one->pkts[0], &one->meta[0], &r->why);
		memcpy(before, lc->sc.events, sizeof(before));
		stages[s].run(&lc->sc, t, one);
		snap(t, r, stages[s].point, one->pkts[0], &one->meta[0], before, lc->sc.events);
	}
}

static void
send_record(struct psw_trace_worker *tw, const struct psw_trace_rec *r)
{
	if (rte_ring_sp_enqueue_elem(tw->ring, (void *)(uintptr_t)r, sizeof(*r)) != 0)
		__atomic_store_n(&tw->lost, tw->lost + 1, __ATOMIC_RELAXED);
}

/* Move packets [from, to) of b into sub (meta as they are), or back. */
static void
copy_range(struct psw_burst *dst, unsigned dst_at, const struct psw_burst *src, unsigned src_at, unsigned n)
{
	memcpy(&dst->pkts[dst_at], &src->pkts[src_at], n * sizeof(src->pkts[0]));
	memcpy(&dst->meta[dst_at], &src->meta[src_at], n * sizeof(src->meta[0]));
}

bool
psw_trace_burst(struct psw_lcore *lc, const struct psw_tables *t, struct psw_burst *b, struct psw_trace_arm *a)
{
	struct psw_trace_worker *tw = psw_trace_worker(lc->worker);
	struct psw_burst sub;
	uint64_t traced = 0;
	unsigned i, start, nb_recs = 0;
	uint8_t rec_of[PSW_BURST_MAX];
	bool any_held;
	int seq;

	if (tw == NULL)
		return false;
	/* none held anywhere when the burst began: none of its packets can be a release */
	any_held = __atomic_load_n(&a->held, __ATOMIC_ACQUIRE) > 0;
	for (i = 0; i < b->nb; i++) {
		bool again = false;

		seq = any_held ? released(tw, b->pkts[i], a) : -1;
		if (seq >= 0)
			again = true;
		else if (__atomic_load_n(&a->left, __ATOMIC_RELAXED) <= 0 ||
			 (a->port != PSW_PORT_NONE && b->meta[i].in_port != a->port) ||
			 !psw_filter_match(&a->filter, b->pkts[i]) || (seq = claim(a)) < 0)
			continue;
		traced |= 1ull << i;
		rec_of[i] = (uint8_t)nb_recs;
		memset(&tw->recs[nb_recs], 0, offsetof(struct psw_trace_rec, steps));
		tw->recs[nb_recs].id = a->id;
		tw->recs[nb_recs].seq = (uint16_t)seq;
		tw->recs[nb_recs].worker = (uint16_t)lc->worker;
		tw->recs[nb_recs].tsc = rte_rdtsc();
		tw->recs[nb_recs].released = again;
		nb_recs++;
	}
	if (traced == 0)
		return false;
	/* in burst order: runs of untraced packets together, each traced one alone */
	for (start = i = 0; i <= b->nb; i++) {
		if (i < b->nb && !((traced >> i) & 1))
			continue;
		if (i > start) {
			sub.nb = (uint16_t)(i - start);
			copy_range(&sub, 0, b, start, sub.nb);
			run_plain(lc, t, &sub);
			copy_range(b, start, &sub, 0, sub.nb);
		}
		if (i < b->nb) {
			struct psw_trace_rec *r = &tw->recs[rec_of[i]];

			sub.nb = 1;
			copy_range(&sub, 0, b, i, 1);
			run_traced(lc, t, &sub, r);
			copy_range(b, i, &sub, 0, 1);
			if (b->meta[i].verdict == PSW_V_HOLD)
				remember_held(tw, b->pkts[i], r, a);
			send_record(tw, r);
		}
		start = i + 1;
	}
	maybe_disarm(a);
	return true;
}
