/* Worker loop, burst dispatch and TX buffering. */
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>

#include "psw_conntrack.h"
#include "psw_forward.h"
#include "psw_guard.h"
#include "psw_parse.h"
#include "psw_policy.h"
#include "psw_port.h"
#include "psw_service.h"
#include "psw_worker.h"

#define IDLE_POLLS_BEFORE_SLEEP 256
#define IDLE_SLEEP_MIN_US 1

void
psw_worker_process(struct psw_lcore *lc, const struct psw_tables *t, struct psw_burst *b)
{
	struct psw_stage_ctx *sc = &lc->sc;

	psw_parse_run(sc, t, b);
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
	uint16_t sent = 0;

	if (tb->nb == 0)
		return;
	if (psw_ports[port].in_use)
		sent = psw_port_tx(&psw_ports[port], lc->worker, tb->pkts, tb->nb);
	lc->stats.ports[port].tx += sent;
	lc->stats.tx += sent;
	if (sent < tb->nb) {
		unsigned lost = tb->nb - sent;

		rte_pktmbuf_free_bulk(&tb->pkts[sent], lost);
		lc->stats.ports[port].tx_drop += lost;
		lc->sc.drops[PSW_DROP_TX_FULL] += lost;
	}
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

void
psw_worker_dispatch(struct psw_lcore *lc, struct psw_burst *b)
{
	struct rte_mbuf *drops[PSW_BURST_MAX];
	unsigned i, nb_drops = 0;

	for (i = 0; i < b->nb; i++) {
		struct psw_meta *m = &b->meta[i];

		if (likely(m->verdict == PSW_V_TX)) {
			struct psw_txbuf *tb = &lc->tx[m->out_port];

			tb->pkts[tb->nb++] = b->pkts[i];
			if (!tb->listed) {
				tb->listed = 1;
				lc->dirty[lc->nb_dirty++] = m->out_port;
			}
			if (tb->nb == PSW_TXBUF_MAX)
				txbuf_flush(lc, m->out_port);
			continue;
		}
		if (m->verdict == PSW_V_CONTINUE)
			m->drop_reason = PSW_DROP_UNHANDLED;
		lc->sc.drops[m->drop_reason]++;
		drops[nb_drops++] = b->pkts[i];
	}
	if (nb_drops > 0)
		rte_pktmbuf_free_bulk(drops, nb_drops);
	b->nb = 0;
}

static unsigned
poll_queues(struct psw_lcore *lc, const struct psw_tables *t, struct psw_burst *b)
{
	const struct psw_worker_rxqs *qs = &t->workers[lc->worker];
	unsigned i, j, total = 0;

	for (i = 0; i < qs->nb; i++) {
		const struct psw_rxq *q = &qs->rxq[i];
		uint16_t n;

		n = psw_port_rx(&psw_ports[q->port], q->queue, b->pkts, PSW_BURST_MAX);
		if (n == 0)
			continue;
		b->nb = n;
		for (j = 0; j < n; j++)
			b->meta[j].in_port = q->port;
		lc->stats.ports[q->port].rx += n;
		psw_worker_process(lc, t, b);
		psw_worker_dispatch(lc, b);
		total += n;
	}
	return total;
}

static void
idle_sleep(struct psw_lcore *lc, struct rte_rcu_qsbr *qsbr, unsigned *sleep_us)
{
	rte_rcu_qsbr_thread_offline(qsbr, lc->worker);
	usleep(*sleep_us);
	rte_rcu_qsbr_thread_online(qsbr, lc->worker);
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
	rte_rcu_qsbr_thread_register(qsbr, lc->worker);
	rte_rcu_qsbr_thread_online(qsbr, lc->worker);
	while (!__atomic_load_n(&lc->stop, __ATOMIC_RELAXED)) {
		const struct psw_tables *t = psw_tables_get();
		uint64_t start = rte_rdtsc();
		unsigned n = 0;

		if (likely(t != NULL))
			n = poll_queues(lc, t, &b);
		psw_worker_flush(lc);
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
	rte_rcu_qsbr_thread_offline(qsbr, lc->worker);
	rte_rcu_qsbr_thread_unregister(qsbr, lc->worker);
	return 0;
}
