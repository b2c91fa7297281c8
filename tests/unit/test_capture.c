/*
 * Packet capture's two ends without the daemon (EAL --no-huge): the
 * workers' copy (worker/psw_capture.h) on crafted bursts — the filter, the
 * snap length, segmented packets, the pool and the ring running out
 * (counted, never blocking), the hook when nothing or only the other
 * direction is captured — and the pcapng blocks podswitchctl writes
 * (cli/psw_pcapng.h), walked by their lengths.
 */
#define PSW_UT_EAL
#include <stdio.h>
#include <stdlib.h>

#include <CUnit/Basic.h>
#include <rte_malloc.h>

#include "pkt_build.h"
#include "psw_capture.h"
#include "psw_pcapng.h"
#include "psw_ut.h"

static struct rte_mempool *mp;
static unsigned seq;

static struct psw_capture *
cap_new(const char *filter, uint32_t snaplen, unsigned pool_n, unsigned ring_n, uint8_t dirs)
{
	struct psw_capture *c = rte_zmalloc(NULL, sizeof(*c), RTE_CACHE_LINE_SIZE);
	char name[32], err[512];

	CU_ASSERT_FATAL(c != NULL);
	c->snaplen = snaplen;
	c->dirs = dirs;
	snprintf(name, sizeof(name), "utcap%u", seq);
	c->pool = rte_mempool_create(name, pool_n, sizeof(struct psw_cap_rec) + snaplen, 0, 0,
				     NULL, NULL, NULL, NULL, SOCKET_ID_ANY, 0);
	snprintf(name, sizeof(name), "utcapr%u", seq++);
	c->ring[0] = rte_ring_create(name, ring_n, SOCKET_ID_ANY,
				     RING_F_SP_ENQ | RING_F_SC_DEQ | RING_F_EXACT_SZ);
	CU_ASSERT_FATAL(c->pool != NULL && c->ring[0] != NULL);
	CU_ASSERT_FATAL(psw_filter_compile(&c->filter, filter, snaplen, err, sizeof(err)) == 0);
	return c;
}

static void
cap_del(struct psw_capture *c)
{
	void *r;

	while (rte_ring_dequeue(c->ring[0], &r) == 0)
		rte_mempool_put(c->pool, r);
	CU_ASSERT(rte_mempool_avail_count(c->pool) == c->pool->size);
	rte_ring_free(c->ring[0]);
	rte_mempool_free(c->pool);
	psw_filter_free(&c->filter);
	rte_free(c);
}

static struct rte_mbuf *
udp(uint16_t dport, uint16_t payload)
{
	struct tpkt p;

	tpkt_defaults(&p);
	p.src4 = 0x0af4000a;
	p.dst4 = 0x0af4000b;
	p.dport = dport;
	p.payload = payload;
	return tpkt_build(mp, &p);
}

static struct rte_mbuf *
tcp(uint16_t dport)
{
	struct tpkt p;

	tpkt_defaults(&p);
	p.proto = IPPROTO_TCP;
	p.src4 = 0x0af4000a;
	p.dst4 = 0x0af4000b;
	p.dport = dport;
	return tpkt_build(mp, &p);
}

static void
free_all(struct rte_mbuf **m, unsigned n)
{
	rte_pktmbuf_free_bulk(m, n);
}

static void
test_filter_and_copy(void)
{
	struct psw_capture *c = cap_new("udp dst port 80", 2048, 64, 64, PSW_CAP_RX | PSW_CAP_TX);
	struct rte_mbuf *m[6] = { udp(80, 100), tcp(80), udp(81, 10), udp(80, 200), tcp(22), udp(80, 0) };
	struct psw_cap_rec *r[8];
	unsigned n, i, want[3] = { 0, 3, 5 };

	psw_capture_burst(c, 0, PSW_CAP_TX, m, 6);
	CU_ASSERT(c->w[0].matched == 3);
	CU_ASSERT(c->w[0].dropped == 0);
	n = rte_ring_dequeue_burst(c->ring[0], (void **)r, 8, NULL);
	CU_ASSERT_FATAL(n == 3);
	for (i = 0; i < n; i++) {
		struct rte_mbuf *pkt = m[want[i]];

		CU_ASSERT(r[i]->dir == PSW_CAP_TX);
		CU_ASSERT(r[i]->wirelen == rte_pktmbuf_pkt_len(pkt));
		CU_ASSERT(r[i]->caplen == rte_pktmbuf_pkt_len(pkt));
		CU_ASSERT(memcmp(r[i]->data, rte_pktmbuf_mtod(pkt, void *), r[i]->caplen) == 0);
		CU_ASSERT(r[i]->tsc != 0);
	}
	rte_mempool_put_bulk(c->pool, (void **)r, n);
	free_all(m, 6);
	cap_del(c);
}

static void
test_snap_length(void)
{
	struct psw_capture *c = cap_new("", 64, 8, 8, PSW_CAP_RX);
	struct rte_mbuf *m = udp(80, 1000);
	struct psw_cap_rec *r = NULL;

	psw_capture_burst(c, 0, PSW_CAP_RX, &m, 1);
	CU_ASSERT_FATAL(rte_ring_dequeue(c->ring[0], (void **)&r) == 0);
	CU_ASSERT(r->wirelen == 14 + 20 + 8 + 1000);
	CU_ASSERT(r->caplen == 64);
	CU_ASSERT(r->dir == PSW_CAP_RX);
	CU_ASSERT(memcmp(r->data, rte_pktmbuf_mtod(m, void *), 64) == 0);
	rte_mempool_put(c->pool, r);
	rte_pktmbuf_free(m);
	cap_del(c);
}

/* Headers cut across segments: the filter sees them whole, the record holds the bytes in order. */
static void
test_segmented(void)
{
	struct psw_capture *c = cap_new("udp dst port 80", 2048, 8, 8, PSW_CAP_RX);
	struct rte_mbuf *whole = udp(80, 300), *head = rte_pktmbuf_alloc(mp), *tail = rte_pktmbuf_alloc(mp);
	const uint8_t *d = rte_pktmbuf_mtod(whole, const uint8_t *);
	uint32_t len = rte_pktmbuf_pkt_len(whole);
	struct psw_cap_rec *r = NULL;

	CU_ASSERT_FATAL(head != NULL && tail != NULL);
	memcpy(rte_pktmbuf_append(head, 20), d, 20);            /* the IPv4 header split */
	memcpy(rte_pktmbuf_append(tail, (uint16_t)(len - 20)), d + 20, len - 20);
	CU_ASSERT_FATAL(rte_pktmbuf_chain(head, tail) == 0);
	psw_capture_burst(c, 0, PSW_CAP_RX, &head, 1);
	CU_ASSERT(c->w[0].matched == 1);
	CU_ASSERT_FATAL(rte_ring_dequeue(c->ring[0], (void **)&r) == 0);
	CU_ASSERT(r->caplen == len && r->wirelen == len);
	CU_ASSERT(memcmp(r->data, d, len) == 0);
	rte_mempool_put(c->pool, r);
	rte_pktmbuf_free(head);
	rte_pktmbuf_free(whole);
	cap_del(c);
}

/* Out of records, then out of ring: counted as the capture's drops, the burst untouched. */
static void
test_exhaustion_counted(void)
{
	struct psw_capture *c = cap_new("", 128, 8, 64, PSW_CAP_RX);
	struct psw_capture *d = cap_new("", 128, 64, 4, PSW_CAP_RX);
	struct rte_mbuf *m[12];
	unsigned i;

	for (i = 0; i < 12; i++)
		m[i] = udp(80, 10);
	psw_capture_burst(c, 0, PSW_CAP_RX, m, 12);
	CU_ASSERT(c->w[0].matched == 12);
	CU_ASSERT(c->w[0].dropped == 4);
	CU_ASSERT(rte_ring_count(c->ring[0]) == 8);
	psw_capture_burst(d, 0, PSW_CAP_RX, m, 12);
	CU_ASSERT(d->w[0].matched == 12);
	CU_ASSERT(d->w[0].dropped == 8);
	CU_ASSERT(rte_ring_count(d->ring[0]) == 4);
	CU_ASSERT(rte_mempool_avail_count(d->pool) == 60);    /* what the ring refused went back */
	for (i = 0; i < 12; i++)
		CU_ASSERT(rte_mbuf_refcnt_read(m[i]) == 1 && rte_pktmbuf_pkt_len(m[i]) == 14 + 20 + 8 + 10);
	free_all(m, 12);
	cap_del(c);
	cap_del(d);
}

/* The hook: nothing without a session, nothing for the direction not asked. */
static void
test_hook(void)
{
	struct psw_capture *c = cap_new("", 128, 8, 8, PSW_CAP_RX);
	struct rte_mbuf *m = udp(80, 10);

	psw_capture_hook(0, 3, PSW_CAP_RX, &m, 1);
	__atomic_store_n(&psw_capture_port[3], c, __ATOMIC_RELEASE);
	psw_capture_hook(0, 3, PSW_CAP_TX, &m, 1);
	CU_ASSERT(c->w[0].matched == 0);
	psw_capture_hook(0, 4, PSW_CAP_RX, &m, 1);
	CU_ASSERT(c->w[0].matched == 0);
	psw_capture_hook(0, 3, PSW_CAP_RX, &m, 1);
	CU_ASSERT(c->w[0].matched == 1);
	__atomic_store_n(&psw_capture_port[3], NULL, __ATOMIC_RELEASE);
	rte_pktmbuf_free(m);
	cap_del(c);
}

static uint32_t
u32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

/* Every block's two length fields agree and add up to the file; the EPB's fields are where pcapng puts them. */
static void
test_pcapng_blocks(void)
{
	uint8_t data[61];
	char *buf = NULL;
	size_t len = 0, off = 0;
	uint32_t types[8], nb = 0;
	FILE *f = open_memstream(&buf, &len);
	const uint8_t *b;

	memset(data, 0xab, sizeof(data));
	CU_ASSERT_FATAL(f != NULL);
	CU_ASSERT(psw_pcapng_section(f, "test") == 0);
	CU_ASSERT(psw_pcapng_interface(f, "pod-a", "podswitch kernel port", 9216) == 0);
	CU_ASSERT(psw_pcapng_packet(f, 0, 0x123456789abcdefull, true, data, 61, 1500) == 0);
	CU_ASSERT(psw_pcapng_packet(f, 0, 1, false, data, 0, 0) == 0);
	CU_ASSERT(psw_pcapng_stats(f, 0, 1, 2, 10, 3, 7) == 0);
	CU_ASSERT_FATAL(fclose(f) == 0);
	b = (const uint8_t *)buf;
	while (off + 12 <= len && nb < 8) {
		uint32_t total = u32(b + off + 4);

		CU_ASSERT_FATAL(total % 4 == 0 && total >= 12 && off + total <= len);
		CU_ASSERT(u32(b + off + total - 4) == total);
		types[nb++] = u32(b + off);
		if (u32(b + off) == 6 && nb == 3) {
			CU_ASSERT(u32(b + off + 12) == 0x01234567u);      /* timestamp, high word */
			CU_ASSERT(u32(b + off + 16) == 0x89abcdefu);
			CU_ASSERT(u32(b + off + 20) == 61 && u32(b + off + 24) == 1500);
			CU_ASSERT(memcmp(b + off + 28, data, 61) == 0);
			CU_ASSERT(b[off + 28 + 61] == 0 && b[off + 28 + 63] == 0);   /* padded */
		}
		off += total;
	}
	CU_ASSERT(off == len);
	CU_ASSERT(nb == 5);
	CU_ASSERT(types[0] == 0x0a0d0d0au && u32(b + 8) == 0x1a2b3c4du);
	CU_ASSERT(types[1] == 1 && types[2] == 6 && types[3] == 6 && types[4] == 5);
	free(buf);
}

int
main(void)
{
	CU_pSuite s;

	mp = psw_ut_eal("capture", 1024);
	if (mp == NULL || CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("capture", NULL, NULL);
	CU_add_test(s, "filter and copy", test_filter_and_copy);
	CU_add_test(s, "snap length", test_snap_length);
	CU_add_test(s, "segmented packet", test_segmented);
	CU_add_test(s, "no record or ring full: counted", test_exhaustion_counted);
	CU_add_test(s, "hook off and other direction", test_hook);
	CU_add_test(s, "pcapng blocks", test_pcapng_blocks);
	return psw_ut_run();
}
