/* Packet capture, the workers' half (psw_capture.h). */
#include <string.h>

#include <rte_cycles.h>

#include "psw_capture.h"

struct psw_capture *psw_capture_port[PSW_MAX_PORTS];

void
psw_capture_burst(struct psw_capture *c, unsigned worker, uint8_t dir,
		  struct rte_mbuf **pkts, unsigned n)
{
	struct psw_cap_worker *cw = &c->w[worker];
	void *recs[2 * 32];
	uint64_t tsc = rte_rdtsc();
	unsigned i, k = 0, sent;

	for (i = 0; i < n && k < RTE_DIM(recs); i++) {
		struct rte_mbuf *m = pkts[i];
		struct psw_cap_rec *r;
		const void *d;
		void *obj;

		if (!psw_filter_match(&c->filter, m))
			continue;
		cw->matched++;
		if (rte_mempool_get(c->pool, &obj) < 0) {
			cw->dropped++;
			continue;
		}
		r = obj;
		r->tsc = tsc;
		r->dir = dir;
		r->reserved = 0;
		r->wirelen = rte_pktmbuf_pkt_len(m);
		r->caplen = (uint16_t)RTE_MIN(r->wirelen, c->snaplen);
		d = rte_pktmbuf_read(m, 0, r->caplen, r->data);
		if (d == NULL)
			r->caplen = 0;
		else if (d != r->data)
			memcpy(r->data, d, r->caplen);
		recs[k++] = r;
	}
	if (k == 0)
		return;
	sent = rte_ring_sp_enqueue_burst(c->ring[worker], recs, k, NULL);
	if (sent < k) {
		rte_mempool_put_bulk(c->pool, &recs[sent], k - sent);
		cw->dropped += k - sent;
	}
}
