/*
 * The memif master's pure parts: control message checks (what a slave may
 * ask), descriptor bounds, and the datapath on rings in ordinary memory
 * standing in for a slave's region (EAL for the mbufs only). Bad input
 * first: a hostile slave must never make the switch read or write outside
 * its regions.
 */
#define PSW_UT_EAL
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "psw_memifport.h"
#include "psw_ut.h"

static struct rte_mempool *mp;

static void
test_init_checks(void)
{
	struct psw_memif_init in;
	char reason[PSW_MEMIF_REASON_LEN];

	memset(&in, 0, sizeof(in));
	in.version = 0x0100;
	CU_ASSERT_EQUAL(psw_memif_check_init(&in, reason, sizeof(reason)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(reason, "version 1.0"));
	in.version = PSW_MEMIF_VERSION;
	in.mode = 1;                             /* IP mode */
	CU_ASSERT_EQUAL(psw_memif_check_init(&in, reason, sizeof(reason)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(reason, "ethernet only"));
	in.mode = PSW_MEMIF_MODE_ETHERNET;
	in.secret[23] = 'x';
	CU_ASSERT_EQUAL(psw_memif_check_init(&in, reason, sizeof(reason)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(reason, "secret"));
	in.secret[23] = 0;
	in.id = 4294967295u;
	CU_ASSERT_EQUAL(psw_memif_check_init(&in, reason, sizeof(reason)), 0);
}

static void
test_region_checks(void)
{
	struct psw_memif_add_region ar = { .index = 0, .size = 4096 };
	char reason[PSW_MEMIF_REASON_LEN];

	CU_ASSERT_EQUAL(psw_memif_check_region(&ar, 1, 4096, true, reason, sizeof(reason)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(reason, "out of order"));
	ar.index = PSW_MEMIF_MAX_REGIONS;
	CU_ASSERT_EQUAL(psw_memif_check_region(&ar, PSW_MEMIF_MAX_REGIONS, 4096, true, reason,
					       sizeof(reason)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(reason, "too many"));
	ar.index = 0;
	ar.size = 0;
	CU_ASSERT_EQUAL(psw_memif_check_region(&ar, 0, 4096, true, reason, sizeof(reason)), -EINVAL);
	ar.size = PSW_MEMIF_MAX_REGION_SIZE + 1;
	CU_ASSERT_EQUAL(psw_memif_check_region(&ar, 0, UINT64_MAX, true, reason, sizeof(reason)), -EINVAL);
	/* a region larger than its file: the tail of the mapping would SIGBUS */
	ar.size = 8192;
	CU_ASSERT_EQUAL(psw_memif_check_region(&ar, 0, 4096, true, reason, sizeof(reason)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(reason, "larger than its file"));
	/* a file the slave could shrink under a worker */
	CU_ASSERT_EQUAL(psw_memif_check_region(&ar, 0, 8192, false, reason, sizeof(reason)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(reason, "F_SEAL_SHRINK"));
	CU_ASSERT_EQUAL(psw_memif_check_region(&ar, 0, 8192, true, reason, sizeof(reason)), 0);
	ar.index = 1;
	CU_ASSERT_EQUAL(psw_memif_check_region(&ar, 1, 8192, true, reason, sizeof(reason)), 0);
}

static void
test_ring_checks(void)
{
	struct psw_memif_region regions[1] = { { .addr = NULL, .size = 65536, .fd = -1 } };
	struct psw_memif_add_ring ar = { .flags = PSW_MEMIF_RING_FLAG_S2M, .index = 0, .region = 0,
					 .offset = 0, .log2_ring_size = 10 };
	char reason[PSW_MEMIF_REASON_LEN];

	CU_ASSERT_EQUAL(psw_memif_check_ring(&ar, regions, 1, reason, sizeof(reason)), 0);
	ar.flags = 0x8001;
	CU_ASSERT_EQUAL(psw_memif_check_ring(&ar, regions, 1, reason, sizeof(reason)), -EINVAL);
	ar.flags = 0;
	ar.index = 1;
	CU_ASSERT_EQUAL(psw_memif_check_ring(&ar, regions, 1, reason, sizeof(reason)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(reason, "one queue pair"));
	ar.index = 0;
	ar.region = 1;
	CU_ASSERT_EQUAL(psw_memif_check_ring(&ar, regions, 1, reason, sizeof(reason)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(reason, "not added"));
	ar.region = 0;
	ar.log2_ring_size = 0;
	CU_ASSERT_EQUAL(psw_memif_check_ring(&ar, regions, 1, reason, sizeof(reason)), -EINVAL);
	ar.log2_ring_size = PSW_MEMIF_MAX_LOG2_RING + 1;
	CU_ASSERT_EQUAL(psw_memif_check_ring(&ar, regions, 1, reason, sizeof(reason)), -EINVAL);
	ar.log2_ring_size = 10;
	ar.private_hdr_size = 16;
	CU_ASSERT_EQUAL(psw_memif_check_ring(&ar, regions, 1, reason, sizeof(reason)), -EINVAL);
	ar.private_hdr_size = 0;
	ar.offset = 4;
	CU_ASSERT_EQUAL(psw_memif_check_ring(&ar, regions, 1, reason, sizeof(reason)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(reason, "aligned"));
	/* descriptors past the region's end: 128 + 16 * 1024 from 65536 - 128 */
	ar.offset = 65536 - 128;
	CU_ASSERT_EQUAL(psw_memif_check_ring(&ar, regions, 1, reason, sizeof(reason)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(reason, "past region"));
	/* an offset near 2^32 does not wrap round to fit */
	ar.offset = 0xfffffff8u;
	CU_ASSERT_EQUAL(psw_memif_check_ring(&ar, regions, 1, reason, sizeof(reason)), -EINVAL);
	ar.offset = 65536 - (uint32_t)psw_memif_ring_bytes(10);
	CU_ASSERT_EQUAL(psw_memif_check_ring(&ar, regions, 1, reason, sizeof(reason)), 0);
}

static void
test_buffer_bounds(void)
{
	struct psw_memif_region regions[2] = { { .size = 4096 }, { .size = 100 } };

	CU_ASSERT(psw_memif_buffer_ok(regions, 2, 0, 0, 4096));
	CU_ASSERT(psw_memif_buffer_ok(regions, 2, 1, 99, 1));
	CU_ASSERT(!psw_memif_buffer_ok(regions, 2, 1, 99, 2));
	CU_ASSERT(!psw_memif_buffer_ok(regions, 2, 2, 0, 1));
	CU_ASSERT(!psw_memif_buffer_ok(regions, 1, 1, 0, 1));
	CU_ASSERT(!psw_memif_buffer_ok(regions, 2, 0, 0xffffffffu, 2));    /* no 32-bit wrap */
	CU_ASSERT(!psw_memif_buffer_ok(regions, 2, 0, 2, 0xffffffffu));
}

/* ------------------------------------------------ datapath on a fake slave */

#define LOG2 4
#define RING_SIZE (1u << LOG2)
#define BUF 1024u
#define REGION_SIZE (2 * 4096 + 2 * RING_SIZE * BUF)

struct fake {
	struct psw_memifport mf;
	uint8_t *mem;
	struct psw_memif_ring *s2m, *m2s;
};

/* A connected port on one region: S2M ring at 0, M2S at 4096, then buffers. */
static void
fake_up(struct fake *f)
{
	unsigned i;

	memset(f, 0, sizeof(*f));
	f->mem = aligned_alloc(4096, REGION_SIZE);
	memset(f->mem, 0, REGION_SIZE);
	f->s2m = (struct psw_memif_ring *)f->mem;
	f->m2s = (struct psw_memif_ring *)(f->mem + 4096);
	for (i = 0; i < RING_SIZE; i++) {
		f->s2m->desc[i] = (struct psw_memif_desc){ .offset = 8192 + i * BUF, .length = BUF };
		f->m2s->desc[i] = (struct psw_memif_desc){ .offset = 8192 + (RING_SIZE + i) * BUF, .length = BUF };
	}
	f->mf.nb_regions = 1;
	f->mf.regions[0] = (struct psw_memif_region){ .addr = f->mem, .size = REGION_SIZE, .fd = -1 };
	f->mf.rx = (struct psw_memif_queue){ .ring = f->s2m, .mask = RING_SIZE - 1, .intr_fd = -1 };
	f->mf.tx = (struct psw_memif_queue){ .ring = f->m2s, .mask = RING_SIZE - 1, .intr_fd = -1 };
	f->mf.epfd = epoll_create1(0);
	f->mf.connected = true;
}

static void
fake_down(struct fake *f)
{
	close(f->mf.epfd);
	free(f->mem);
}

/* The slave puts a frame of len bytes of byte v in slot s (chained over n descriptors). */
static void
slave_put(struct fake *f, uint16_t s, unsigned n, uint32_t len, uint8_t v)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		struct psw_memif_desc *d = &f->s2m->desc[(s + i) & (RING_SIZE - 1)];
		uint32_t part = i + 1 < n ? len / n : len - (n - 1) * (len / n);

		memset(f->mem + d->offset, v, part);
		d->length = part;
		d->flags = i + 1 < n ? PSW_MEMIF_DESC_NEXT : 0;
	}
}

static void
test_rx(void)
{
	struct rte_mbuf *pkts[32];
	struct fake f;
	uint16_t n, i;

	fake_up(&f);
	/* nothing published */
	CU_ASSERT_EQUAL(psw_memifport_rx(&f.mf, mp, pkts, 32), 0);
	slave_put(&f, 0, 1, 60, 0xa1);                       /* a plain frame */
	slave_put(&f, 1, 1, 60, 0xa2);
	f.s2m->desc[1].offset = REGION_SIZE - 10;             /* ... whose buffer runs past the region */
	slave_put(&f, 2, 1, 60, 0xa3);
	f.s2m->desc[2].region = 1;                            /* ... in a region that does not exist */
	slave_put(&f, 3, 2, 1800, 0xa4);                      /* chained, fits an mbuf: one segment */
	slave_put(&f, 5, 3, 3000, 0xa5);                      /* chained, larger than an mbuf */
	f.s2m->head = 8;
	n = psw_memifport_rx(&f.mf, mp, pkts, 32);
	CU_ASSERT_EQUAL(n, 2);
	CU_ASSERT_EQUAL(f.mf.rx_bad, 2);
	CU_ASSERT_EQUAL(f.mf.rx_oversize, 1);
	CU_ASSERT_EQUAL(f.s2m->tail, 8);                      /* every slot handed back */
	if (n == 2) {
		CU_ASSERT_EQUAL(pkts[0]->pkt_len, 60);
		CU_ASSERT_EQUAL(rte_pktmbuf_mtod(pkts[0], uint8_t *)[59], 0xa1);
		CU_ASSERT_EQUAL(pkts[1]->pkt_len, 1800);
		CU_ASSERT_EQUAL(pkts[1]->nb_segs, 1);
		for (i = 0; i < 1800 && rte_pktmbuf_mtod(pkts[1], uint8_t *)[i] == 0xa4; i++)
			;
		CU_ASSERT_EQUAL(i, 1800);
		rte_pktmbuf_free_bulk(pkts, n);
	}
	/* a chain whose last published descriptor says NEXT: dropped, not followed */
	slave_put(&f, 8, 2, 200, 0xa6);
	f.s2m->head = 9;
	CU_ASSERT_EQUAL(psw_memifport_rx(&f.mf, mp, pkts, 32), 0);
	CU_ASSERT_EQUAL(f.mf.rx_bad, 3);
	/* a head claiming more than a ring's worth: nothing read */
	f.s2m->head = (uint16_t)(f.mf.rx.next + RING_SIZE + 1);
	CU_ASSERT_EQUAL(psw_memifport_rx(&f.mf, mp, pkts, 32), 0);
	CU_ASSERT_EQUAL(f.mf.rx_bad_head, 1);
	CU_ASSERT_EQUAL(f.mf.rx.next, 9);
	/* not connected: the rings are not touched */
	f.mf.connected = false;
	f.mf.rx.ring = NULL;
	CU_ASSERT_EQUAL(psw_memifport_rx(&f.mf, mp, pkts, 32), 0);
	fake_down(&f);
}

static struct rte_mbuf *
frame(uint32_t len, uint8_t v)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(mp);

	if (m == NULL)
		return NULL;
	memset(rte_pktmbuf_append(m, (uint16_t)len), v, len);
	return m;
}

static void
test_tx(void)
{
	struct rte_mbuf *pkts[4];
	struct fake f;

	fake_up(&f);
	pkts[0] = frame(60, 0xb1);
	pkts[1] = frame(1500, 0xb2);                           /* larger than one 1024-byte buffer */
	/* the slave has given no buffers yet: head == tail */
	CU_ASSERT_EQUAL(psw_memifport_tx(&f.mf, pkts, 2), 0);
	f.m2s->head = 3;
	CU_ASSERT_EQUAL(psw_memifport_tx(&f.mf, pkts, 2), 2);
	CU_ASSERT_EQUAL(f.m2s->tail, 3);
	CU_ASSERT_EQUAL(f.m2s->desc[0].length, 60);
	CU_ASSERT_EQUAL(f.m2s->desc[0].flags, 0);
	CU_ASSERT_EQUAL(f.m2s->desc[1].length, 1024);
	CU_ASSERT_EQUAL(f.m2s->desc[1].flags, PSW_MEMIF_DESC_NEXT);
	CU_ASSERT_EQUAL(f.m2s->desc[2].length, 476);
	CU_ASSERT_EQUAL(f.m2s->desc[2].flags, 0);
	CU_ASSERT_EQUAL(f.mem[f.m2s->desc[2].offset + 475], 0xb2);
	/* a frame that needs two buffers when one is left waits */
	f.m2s->head = 4;
	pkts[0] = frame(1500, 0xb3);
	CU_ASSERT_EQUAL(psw_memifport_tx(&f.mf, pkts, 1), 0);
	CU_ASSERT_EQUAL(f.m2s->tail, 3);
	/* a buffer outside the region: nothing written, counted */
	f.m2s->head = 8;
	f.m2s->desc[3].offset = REGION_SIZE - 100;
	CU_ASSERT_EQUAL(psw_memifport_tx(&f.mf, pkts, 1), 0);
	CU_ASSERT_EQUAL(f.mf.tx_bad, 1);
	f.m2s->desc[3] = (struct psw_memif_desc){ .offset = 8192, .length = 0 };   /* no room at all */
	CU_ASSERT_EQUAL(psw_memifport_tx(&f.mf, pkts, 1), 0);
	CU_ASSERT_EQUAL(f.mf.tx_bad, 2);
	/* a head claiming more buffers than the ring has */
	f.m2s->head = (uint16_t)(f.mf.tx.next + RING_SIZE + 1);
	CU_ASSERT_EQUAL(psw_memifport_tx(&f.mf, pkts, 1), 0);
	CU_ASSERT_EQUAL(f.mf.tx_bad_head, 1);
	f.m2s->desc[3] = (struct psw_memif_desc){ .offset = 8192, .length = BUF };
	f.m2s->head = 8;
	CU_ASSERT_EQUAL(psw_memifport_tx(&f.mf, pkts, 1), 1);
	CU_ASSERT_EQUAL(f.m2s->tail, 5);
	/* not connected: refused, the caller frees */
	f.mf.connected = false;
	pkts[0] = frame(60, 0xb4);
	CU_ASSERT_EQUAL(psw_memifport_tx(&f.mf, pkts, 1), 0);
	rte_pktmbuf_free(pkts[0]);
	fake_down(&f);
}

static void
test_arm(void)
{
	struct rte_mbuf *pkts[4];
	struct fake f;

	fake_up(&f);
	f.s2m->flags = PSW_MEMIF_RING_MASK_INT;
	/* empty ring: the port may park, the slave is asked to signal */
	CU_ASSERT(psw_memifport_arm(&f.mf));
	CU_ASSERT_EQUAL(f.s2m->flags & PSW_MEMIF_RING_MASK_INT, 0);
	/* the first receive after the park masks again */
	CU_ASSERT_EQUAL(psw_memifport_rx(&f.mf, mp, pkts, 4), 0);
	CU_ASSERT_EQUAL(f.s2m->flags & PSW_MEMIF_RING_MASK_INT, PSW_MEMIF_RING_MASK_INT);
	CU_ASSERT(!f.mf.rx_armed);
	/* woken: the port layer disarms before the first receive */
	CU_ASSERT(psw_memifport_arm(&f.mf));
	psw_memifport_disarm(&f.mf);
	CU_ASSERT_EQUAL(f.s2m->flags & PSW_MEMIF_RING_MASK_INT, PSW_MEMIF_RING_MASK_INT);
	CU_ASSERT(!f.mf.rx_armed);
	psw_memifport_disarm(&f.mf);                          /* twice: nothing more */
	CU_ASSERT(!f.mf.rx_armed);
	/* a frame already waiting: no park */
	slave_put(&f, 0, 1, 60, 0xc1);
	f.s2m->head = 1;
	CU_ASSERT(!psw_memifport_arm(&f.mf));
	CU_ASSERT_EQUAL(psw_memifport_rx(&f.mf, mp, pkts, 4), 1);
	rte_pktmbuf_free(pkts[0]);
	/* no slave: parks (a new slave's ring starts unmasked); disarm leaves the ring alone */
	f.mf.connected = false;
	CU_ASSERT(psw_memifport_arm(&f.mf));
	f.mf.rx_armed = true;
	f.s2m->flags = 0;
	psw_memifport_disarm(&f.mf);
	CU_ASSERT_EQUAL(f.s2m->flags, 0);
	fake_down(&f);
}

int
main(void)
{
	CU_pSuite s;
	int rc;

	mp = psw_ut_eal("memif", 1024);
	if (mp == NULL)
		return 1;
	CU_initialize_registry();
	s = CU_add_suite("memif", NULL, NULL);
	CU_add_test(s, "INIT: version, mode, secret", test_init_checks);
	CU_add_test(s, "ADD_REGION: order, limits, file size, seal", test_region_checks);
	CU_add_test(s, "ADD_RING: direction, index, region, size, bounds", test_ring_checks);
	CU_add_test(s, "buffer bounds: region index, offset + length without wrap", test_buffer_bounds);
	CU_add_test(s, "rx: bad descriptors, chains, oversize, hostile head", test_rx);
	CU_add_test(s, "tx: chaining, ring full, bad buffers", test_tx);
	CU_add_test(s, "readiness: arm before a park, mask after", test_arm);
	rc = psw_ut_run();
	psw_ut_eal_fini();
	return rc;
}
