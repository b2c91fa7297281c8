/* Worker loop, burst dispatch and TX buffering, idle socket ports parked on epoll. */
#include <errno.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

#include "psw_capture.h"
#include "psw_conntrack.h"
#include "psw_forward.h"
#include "psw_gso.h"
#include "psw_guard.h"
#include "psw_parse.h"
#include "psw_policy.h"
#include "psw_port.h"
#include "psw_service.h"
#include "psw_trace.h"
#include "psw_tunnel.h"
#include "psw_worker.h"

#define IDLE_POLLS_BEFORE_SLEEP 256
#define IDLE_SLEEP_MIN_US 1

int psw_punt_efd = -1;

void
psw_worker_process(struct psw_lcore *lc, const struct psw_tables *t, struct psw_burst *b)
{
	struct psw_stage_ctx *sc = &lc->sc;
	struct psw_trace_arm *trace = __atomic_load_n(&psw_trace_armed, __ATOMIC_ACQUIRE);

	/* a trace armed and a packet of this burst to trace: the stages one by one (psw_trace.c, same list) */
	if (unlikely(trace != NULL) && psw_trace_burst(lc, t, b, trace))
		return;
	psw_parse_run(sc, t, b);
	psw_tunnel_run(sc, t, b);
	psw_guard_run(sc, t, b);
	psw_conntrack_run(sc, t, b);
	psw_service_run(sc, t, b);
	psw_policy_run(sc, t, b);
	psw_forward_run(sc, t, b);
}

static void
txbuf_flush(struct psw_lcore *lc, unsigned port)
{
	struct psw_txbuf *tb = &lc->tx[port];
	uint64_t bytes = 0;
	uint16_t sent = 0, i;

	if (tb->nb == 0)
		return;
	psw_capture_hook(lc->worker, (uint16_t)port, PSW_CAP_TX, tb->pkts, tb->nb);
	for (i = 0; i < tb->nb; i++)                 /* before: a sent mbuf is the port's */
		bytes += rte_pktmbuf_pkt_len(tb->pkts[i]);
	if (psw_ports[port].in_use)
		sent = psw_port_tx(&psw_ports[port], lc->worker, tb->pkts, tb->nb);
	lc->stats.ports[port].tx += sent;
	lc->stats.tx += sent;
	if (sent < tb->nb) {
		unsigned lost = tb->nb - sent;

		for (i = sent; i < tb->nb; i++)
			bytes -= rte_pktmbuf_pkt_len(tb->pkts[i]);
		rte_pktmbuf_free_bulk(&tb->pkts[sent], lost);
		lc->stats.ports[port].tx_drop += lost;
		lc->sc.drops[PSW_DROP_TX_FULL] += lost;
	}
	lc->stats.ports[port].tx_bytes += bytes;
	tb->nb = 0;
}

void
psw_worker_flush(struct psw_lcore *lc)
{
	unsigned i;

	for (i = 0; i < lc->nb_dirty; i++) {
		lc->tx[lc->dirty[i]].listed = 0;
		txbuf_flush(lc, lc->dirty[i]);
	}
	lc->nb_dirty = 0;
}

static inline void
txbuf_put(struct psw_lcore *lc, uint16_t port, struct rte_mbuf *pkt)
{
	struct psw_txbuf *tb = &lc->tx[port];

	tb->pkts[tb->nb++] = pkt;
	if (!tb->listed) {
		tb->listed = 1;
		lc->dirty[lc->nb_dirty++] = port;
	}
	if (tb->nb == PSW_TXBUF_MAX)
		txbuf_flush(lc, port);
}

/*
 * A kernel pod's frame with offload requests (psw_gso.h) to a port that
 * takes none: its checksum finished, or cut into segments, here.
 */
static __rte_noinline void
txbuf_finish(struct psw_lcore *lc, uint16_t port, struct rte_mbuf *pkt)
{
	struct rte_mbuf *segs[PSW_GSO_MAX_SEGS];
	int n, i;

	if (!(pkt->ol_flags & PSW_OL_SEG)) {
		psw_gso_csum(pkt);
		psw_count_event(&lc->sc, PSW_EV_CSUM_FINISHED);
		txbuf_put(lc, port, pkt);
		return;
	}
	n = psw_gso_segment(pkt, lc->sc.mp != NULL ? lc->sc.mp : pkt->pool, psw_large_mp(&lc->sc), segs, RTE_DIM(segs));
	if (n < 0) {
		rte_pktmbuf_free(pkt);
		lc->sc.drops[PSW_DROP_GSO_NO_ROOM]++;
		return;
	}
	psw_count_event(&lc->sc, PSW_EV_GSO_SEGMENTED);
	txbuf_put(lc, port, pkt);
	for (i = 0; i < n; i++)
		txbuf_put(lc, port, segs[i]);
}

/* Does the port take pkt's offload requests as they are (psw_gso.h)? */
static inline bool
port_takes(const struct psw_port *p, const struct rte_mbuf *pkt)
{
	if (!__atomic_load_n(&p->offloads, __ATOMIC_RELAXED))
		return false;
	/* a guest's virtio-net header has no UDP segments (only UFO) and no SCTP CRC */
	return p->kind != PSW_PORT_VHOST ||
	       (!(pkt->ol_flags & RTE_MBUF_F_TX_UDP_SEG) &&
		(pkt->ol_flags & RTE_MBUF_F_TX_L4_MASK) != RTE_MBUF_F_TX_SCTP_CKSUM);
}

static inline void
txbuf_add(struct psw_lcore *lc, uint16_t port, struct rte_mbuf *pkt)
{
	if (likely(!(pkt->ol_flags & PSW_OL_ANY))) {
		txbuf_put(lc, port, pkt);
	} else if (!port_takes(&psw_ports[port], pkt)) {
		txbuf_finish(lc, port, pkt);
	} else {
		if (psw_ports[port].kind == PSW_PORT_VHOST)
			psw_vhostport_tx_offload(pkt);
		txbuf_put(lc, port, pkt);
	}
}

/*
 * Hand packets to the control thread. Its eventfd is written when the ring
 * was empty before them (a burst of punts costs one wake-up); the control
 * thread also drains the rings on its timer, for the wake-up that raced
 * with its last look.
 */
static void
punt(struct psw_lcore *lc, struct rte_mbuf **pkts, unsigned n)
{
	unsigned done = 0, free_space = 0;
	uint64_t one = 1;

	if (lc->punt != NULL)
		done = rte_ring_sp_enqueue_burst(lc->punt, (void **)pkts, n, &free_space);
	if (done < n) {
		rte_pktmbuf_free_bulk(&pkts[done], n - done);
		lc->sc.drops[PSW_DROP_PUNT_FULL] += n - done;
	}
	lc->stats.punted += done;
	if (done > 0 && rte_ring_get_capacity(lc->punt) - free_space == done && psw_punt_efd >= 0 &&
	    write(psw_punt_efd, &one, sizeof(one)) < 0) {
		/* already signalled (counter at its maximum): the control thread is due */
	}
}

/*
 * A later fragment before its first one goes to the worker's hold; the
 * oldest held makes room when it is full. Returns what is to be freed.
 */
static struct rte_mbuf *
hold(struct psw_lcore *lc, struct rte_mbuf *pkt, struct psw_meta *m)
{
	uint32_t gen = __atomic_load_n(&psw_ports[m->in_port].gen, __ATOMIC_ACQUIRE);
	struct rte_mbuf *out = psw_frag_hold(&lc->frag_cache, pkt, m, gen, rte_rdtsc());

	if (out == pkt) {
		m->drop_reason = PSW_DROP_UNHANDLED;     /* no fragment header: a bug */
		return out;
	}
	psw_count_event(&lc->sc, PSW_EV_FRAG_HELD);
	m->drop_reason = PSW_DROP_FRAG_HOLD_FULL;
	return out;
}

void
psw_worker_dispatch(struct psw_lcore *lc, struct psw_burst *b)
{
	struct rte_mbuf *drops[PSW_BURST_MAX], *punts[PSW_BURST_MAX];
	unsigned i, nb_drops = 0, nb_punts = 0;

	for (i = 0; i < b->nb; i++) {
		struct psw_meta *m = &b->meta[i];

		if (likely(m->verdict == PSW_V_TX)) {
			txbuf_add(lc, m->out_port, b->pkts[i]);
			continue;
		}
		if (m->verdict == PSW_V_PUNT) {
			b->pkts[i]->port = m->in_port;
			b->pkts[i]->hash.fdir.hi |= (uint32_t)m->out_port << 16;
			punts[nb_punts++] = b->pkts[i];
			continue;
		}
		if (unlikely(m->verdict == PSW_V_HOLD)) {
			struct rte_mbuf *out = hold(lc, b->pkts[i], m);

			if (out == NULL)
				continue;
			lc->sc.drops[m->drop_reason]++;
			drops[nb_drops++] = out;
			continue;
		}
		if (m->verdict == PSW_V_CONTINUE)
			m->drop_reason = PSW_DROP_UNHANDLED;
		lc->sc.drops[m->drop_reason]++;
		drops[nb_drops++] = b->pkts[i];
	}
	/* what the stages sent besides (fragments), after the burst's own */
	for (i = 0; i < lc->sc.nb_extra; i++)
		txbuf_add(lc, lc->sc.extra[i].port, lc->sc.extra[i].pkt);
	lc->sc.nb_extra = 0;
	if (nb_drops > 0)
		rte_pktmbuf_free_bulk(drops, nb_drops);
	if (nb_punts > 0)
		punt(lc, punts, nb_punts);
	b->nb = 0;
}

void
psw_worker_frag_run(struct psw_lcore *lc, const struct psw_tables *t, struct psw_burst *b, uint64_t now)
{
	struct psw_frag_cache *fc = &lc->frag_cache;
	struct rte_mbuf *old[PSW_BURST_MAX];
	uint16_t ports[PSW_BURST_MAX];
	uint32_t gens[PSW_BURST_MAX];
	unsigned n, i, k;

	while (fc->hold.nb_ready > 0) {
		n = psw_frag_take_ready(fc, b->pkts, ports, gens, PSW_BURST_MAX, now);
		for (i = k = 0; i < n; i++) {
			if (!t->ports[ports[i]].present ||
			    gens[i] != __atomic_load_n(&psw_ports[ports[i]].gen, __ATOMIC_ACQUIRE)) {
				rte_pktmbuf_free(b->pkts[i]);
				lc->sc.drops[PSW_DROP_FRAG_HOLD_GONE]++;
				continue;
			}
			b->pkts[k] = b->pkts[i];
			b->meta[k++].in_port = ports[i];
		}
		lc->sc.events[PSW_EV_FRAG_RELEASED] += k;
		lc->sc.events[PSW_EV_FRAG_SEEN] -= k;    /* parsed again: they were counted when they came */
		b->nb = (uint16_t)k;
		psw_worker_process(lc, t, b);
		psw_worker_dispatch(lc, b);
	}
	while ((n = psw_frag_take_expired(fc, old, RTE_DIM(old), now)) > 0) {
		rte_pktmbuf_free_bulk(old, n);
		lc->sc.drops[PSW_DROP_FRAG_NO_FIRST] += n;
	}
}

void
psw_worker_frag_flush(struct psw_lcore *lc)
{
	struct rte_mbuf *pkts[PSW_BURST_MAX];
	unsigned n;

	while ((n = psw_frag_take_all(&lc->frag_cache, pkts, RTE_DIM(pkts))) > 0) {
		rte_pktmbuf_free_bulk(pkts, n);
		lc->sc.drops[PSW_DROP_FRAG_HOLD_GONE] += n;
	}
}

/* Frames the control thread built or held (ARP requests, packets whose next hop it resolved). */
static void
inject(struct psw_lcore *lc, const struct psw_tables *t)
{
	struct rte_mbuf *pkts[PSW_BURST_MAX];
	unsigned n, i;

	n = rte_ring_sc_dequeue_burst(lc->inject, (void **)pkts, PSW_BURST_MAX, NULL);
	for (i = 0; i < n; i++) {
		uint16_t port = pkts[i]->port;

		if (port >= PSW_MAX_PORTS || !t->ports[port].present) {
			rte_pktmbuf_free(pkts[i]);
			lc->sc.drops[PSW_DROP_PORT_GONE]++;
			continue;
		}
		txbuf_add(lc, port, pkts[i]);
	}
	lc->stats.injected += n;
}

/*
 * Idle ports. A port parked here is out of the worker's active list, so
 * the loop does not touch it. Its descriptor from the port layer
 * (psw_port_arm: an af_packet socket, a vhost-user kick eventfd) is armed
 * one-shot in the worker's epoll set (level-triggered: a frame already
 * waiting when it is armed reports at once, so none is stranded); a
 * vhost-user port without a device has none, and waits for a device event
 * (psw_port_events). A port that leaves the worker's list while parked
 * stays registered: its event, if one comes, only clears the state. A
 * closed descriptor leaves the set by itself once nothing else holds it; an
 * event of an older generation of the port is ignored.
 */
static bool
park(struct psw_lcore *lc, uint16_t port, struct psw_rxstate *rs, int fd, uint16_t rxq)
{
	struct epoll_event ev = {
		.events = EPOLLIN | EPOLLONESHOT,
		.data.u64 = port | (uint64_t)rs->gen << 32,
	};
	int rc;

	if (fd >= 0) {
		rc = epoll_ctl(lc->epfd, rs->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev);
		if (rc < 0 && errno == ENOENT)
			rc = epoll_ctl(lc->epfd, EPOLL_CTL_ADD, fd, &ev);
		else if (rc < 0 && errno == EEXIST)
			rc = epoll_ctl(lc->epfd, EPOLL_CTL_MOD, fd, &ev);
		if (rc < 0)
			return false;            /* stays polled */
		rs->registered = 1;
	}
	rs->parked = 1;
	rs->rxq = rxq;
	lc->nb_parked++;
	lc->stats.parks++;
	return true;
}

static void
unpark(struct psw_lcore *lc, struct psw_rxstate *rs, uint64_t now)
{
	rs->parked = 0;
	rs->last_rx = now;
	lc->nb_parked--;
	lc->active[lc->nb_active++] = rs->rxq;
}

static void
wake(struct psw_lcore *lc, const struct epoll_event *ev, unsigned n, uint64_t now)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		uint16_t port = (uint16_t)ev[i].data.u64;
		uint32_t gen = (uint32_t)(ev[i].data.u64 >> 32);
		struct psw_rxstate *rs = &lc->rxst[port];

		if (!rs->parked || rs->gen != gen ||
		    gen != __atomic_load_n(&psw_ports[port].gen, __ATOMIC_ACQUIRE))
			continue;
		unpark(lc, rs, now);
		lc->stats.wakes++;
		psw_port_disarm(&psw_ports[port], rs->queue);
	}
}

/* The parked ports that are ready, waiting up to timeout_ns (0: not at all). */
static int
wait_parked(struct psw_lcore *lc, struct epoll_event *ev, unsigned n, uint64_t timeout_ns)
{
	struct timespec ts = { .tv_sec = timeout_ns / 1000000000, .tv_nsec = timeout_ns % 1000000000 };
	int rc;

	rc = epoll_pwait2(lc->epfd, ev, (int)n, &ts, NULL);
	if (unlikely(rc < 0 && errno == ENOSYS))  /* kernels before 5.11: milliseconds, rounded up */
		rc = epoll_wait(lc->epfd, ev, (int)n, (int)((timeout_ns + 999999) / 1000000));
	return rc;
}

static void
check_parked(struct psw_lcore *lc)
{
	struct epoll_event ev[PSW_BURST_MAX];
	int n = wait_parked(lc, ev, RTE_DIM(ev), 0);

	if (n > 0)
		wake(lc, ev, (unsigned)n, rte_rdtsc());
}

/*
 * A new table snapshot lists the worker's queues anew: the active list is
 * rebuilt from it. A parked port still listed with the same generation
 * stays parked (armed in the set); any other parked state is dropped: a
 * port gone from this worker is polled afresh if it comes back, and a late
 * event for it finds nothing parked.
 */
static void
new_snapshot(struct psw_lcore *lc, const struct psw_tables *t)
{
	const struct psw_worker_rxqs *qs = &t->workers[lc->worker];
	uint8_t kept[PSW_MAX_PORTS] = { 0 };
	unsigned i;

	lc->tables_seen = t;
	lc->nb_active = 0;
	lc->nb_parked = 0;
	for (i = 0; i < qs->nb; i++) {
		uint16_t port = qs->rxq[i].port;
		struct psw_rxstate *rs = &lc->rxst[port];

		if (rs->parked && !kept[port] &&
		    rs->gen == __atomic_load_n(&psw_ports[port].gen, __ATOMIC_RELAXED)) {
			kept[port] = 1;
			rs->rxq = (uint16_t)i;
			lc->nb_parked++;
		} else {
			lc->active[lc->nb_active++] = (uint16_t)i;
		}
	}
	for (i = 0; i < PSW_MAX_PORTS; i++)
		if (lc->rxst[i].parked && !kept[i])
			lc->rxst[i].parked = 0;
}

/* A vhost-user device came or went somewhere: parked ports of another generation are polled. */
static void
port_events(struct psw_lcore *lc, const struct psw_tables *t, uint32_t events, uint64_t now)
{
	const struct psw_worker_rxqs *qs = &t->workers[lc->worker];
	unsigned i;

	lc->events_seen = events;
	if (lc->nb_parked == 0)
		return;
	for (i = 0; i < qs->nb; i++) {
		uint16_t port = qs->rxq[i].port;
		struct psw_rxstate *rs = &lc->rxst[port];

		if (rs->parked && rs->rxq == i &&
		    rs->gen != __atomic_load_n(&psw_ports[port].gen, __ATOMIC_ACQUIRE))
			unpark(lc, rs, now);
	}
}

static unsigned
poll_queues(struct psw_lcore *lc, const struct psw_tables *t, struct psw_burst *b, uint64_t now)
{
	const struct psw_worker_rxqs *qs = &t->workers[lc->worker];
	uint32_t events = __atomic_load_n(&psw_port_events, __ATOMIC_ACQUIRE);
	unsigned i, j, total = 0;
	uint64_t bytes;

	if (unlikely(t != lc->tables_seen))
		new_snapshot(lc, t);
	if (unlikely(events != lc->events_seen))
		port_events(lc, t, events, now);
	for (i = 0; i < lc->nb_active; i++) {
		uint16_t idx = lc->active[i];
		const struct psw_rxq *q = &qs->rxq[idx];
		struct psw_port *p = &psw_ports[q->port];
		struct psw_rxstate *rs = &lc->rxst[q->port];
		uint32_t gen = __atomic_load_n(&p->gen, __ATOMIC_ACQUIRE);
		uint16_t n;
		int fd;

		if (unlikely(rs->gen != gen)) {
			/* a new port in this slot (the old one's descriptor was closed, and
			 * left the set), or a vhost-user device that came or went */
			rs->gen = gen;
			rs->registered = 0;
			rs->last_rx = now;
		}
		n = psw_port_rx(p, q->queue, b->pkts, PSW_BURST_MAX);
		if (n == 0) {
			if (unlikely(now - rs->last_rx > lc->park_cycles) && lc->epfd >= 0) {
				fd = psw_port_arm(p, q->queue);
				rs->queue = q->queue;
				if ((fd >= 0 || fd == PSW_PORT_WAIT_EVENT) &&
				    park(lc, q->port, rs, fd, idx)) {
					/* out of the list: the last one takes its place */
					lc->active[i--] = lc->active[--lc->nb_active];
					continue;
				}
				if (fd >= 0)
					psw_port_disarm(p, q->queue);
				rs->last_rx = now;       /* polled; asked again a period later */
			}
			continue;
		}
		rs->last_rx = now;
		b->nb = n;
		bytes = 0;
		for (j = 0; j < n; j++) {
			b->meta[j].in_port = q->port;
			bytes += rte_pktmbuf_pkt_len(b->pkts[j]);
		}
		lc->stats.ports[q->port].rx += n;
		lc->stats.ports[q->port].rx_bytes += bytes;
		psw_capture_hook(lc->worker, q->port, PSW_CAP_RX, b->pkts, n);
		psw_worker_process(lc, t, b);
		psw_worker_dispatch(lc, b);
		total += n;
	}
	return total;
}

/* Nothing came for a while: sleep, on the parked ports' readiness when there are some. */
static void
idle_sleep(struct psw_lcore *lc, struct rte_rcu_qsbr *qsbr, unsigned *sleep_us)
{
	struct epoll_event ev[PSW_BURST_MAX];
	int n = 0;

	rte_rcu_qsbr_thread_offline(qsbr, lc->worker);
	if (lc->nb_parked > 0)
		n = wait_parked(lc, ev, RTE_DIM(ev), (uint64_t)*sleep_us * 1000);
	else
		usleep(*sleep_us);
	rte_rcu_qsbr_thread_online(qsbr, lc->worker);
	/* online again before the port layer is touched: a vhost-user device is
	 * only guaranteed to outlive a burst of an online worker */
	if (n > 0)
		wake(lc, ev, (unsigned)n, rte_rdtsc());
	if (*sleep_us < lc->idle_sleep_us)
		*sleep_us = RTE_MIN(*sleep_us * 2, lc->idle_sleep_us);
}

int
psw_worker_main(void *arg)
{
	struct psw_lcore *lc = arg;
	struct rte_rcu_qsbr *qsbr = psw_tables_qsbr();
	struct psw_burst b = { .nb = 0 };
	unsigned idle = 0, sleep_us = IDLE_SLEEP_MIN_US;

	lc->lcore_id = rte_lcore_id();
	lc->epfd = epoll_create1(EPOLL_CLOEXEC);     /* -1: socket ports are always polled */
	lc->park_cycles = rte_get_tsc_hz() / 1000 * PSW_PARK_MS;
	if (lc->stats.started == 0)
		__atomic_store_n(&lc->stats.started, rte_rdtsc(), __ATOMIC_RELAXED);
	rte_rcu_qsbr_thread_register(qsbr, lc->worker);
	rte_rcu_qsbr_thread_online(qsbr, lc->worker);
	while (!__atomic_load_n(&lc->stop, __ATOMIC_RELAXED)) {
		const struct psw_tables *t = psw_tables_get();
		uint64_t start = rte_rdtsc();
		unsigned n = 0;

		if (likely(t != NULL))
			n = poll_queues(lc, t, &b, start);
		if (unlikely(lc->frag_cache.hold.nb > 0) && t != NULL)
			psw_worker_frag_run(lc, t, &b, start);
		if (unlikely(lc->inject != NULL && !rte_ring_empty(lc->inject)) && t != NULL)
			inject(lc, t);
		psw_worker_flush(lc);
		if (lc->nb_parked > 0 && lc->stats.loops % PSW_PARKED_CHECK_LOOPS == 0)
			check_parked(lc);
		lc->stats.parked = lc->nb_parked;
		rte_rcu_qsbr_quiescent(qsbr, lc->worker);
		lc->stats.loops++;
		if (n > 0) {
			lc->stats.busy_cycles += rte_rdtsc() - start;
			lc->stats.busy_loops++;
			lc->stats.rx += n;
			idle = 0;
			sleep_us = IDLE_SLEEP_MIN_US;
		} else if (lc->idle_sleep_us > 0 && ++idle > IDLE_POLLS_BEFORE_SLEEP) {
			idle_sleep(lc, qsbr, &sleep_us);
		}
	}
	psw_worker_frag_flush(lc);
	rte_rcu_qsbr_thread_offline(qsbr, lc->worker);
	rte_rcu_qsbr_thread_unregister(qsbr, lc->worker);
	if (lc->epfd >= 0)
		close(lc->epfd);
	lc->epfd = -1;
	lc->nb_parked = 0;
	lc->tables_seen = NULL;
	return 0;
}
