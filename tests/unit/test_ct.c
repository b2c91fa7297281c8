/*
 * Connection tracking and NAT, on crafted packets (EAL --no-huge --no-pci):
 * the TCP state machine, insert / lookup / clash / full table, expiry and
 * flushes, and NAT rewrites checked against checksums computed from scratch
 * (IPv4 / IPv6, TCP / UDP / ICMP echo).
 */
#define PSW_UT_EAL
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_malloc.h>
#include <rte_tcp.h>

#include "pkt_build.h"
#include "psw_ct.h"
#include "psw_ct_ctl.h"
#include "psw_nat.h"
#include "psw_parse.h"
#include "psw_tables.h"
#include "psw_ut.h"

#define SYN RTE_TCP_SYN_FLAG
#define ACK RTE_TCP_ACK_FLAG
#define FIN RTE_TCP_FIN_FLAG
#define RST RTE_TCP_RST_FLAG

static struct rte_mempool *mp;
static struct rte_rcu_qsbr *qsbr;

static struct psw_ct_key
key4(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport, uint8_t proto)
{
	struct psw_ct_key k;

	memset(&k, 0, sizeof(k));
	k.family = 4;
	k.proto = proto;
	k.sport = rte_cpu_to_be_16(sport);
	k.dport = rte_cpu_to_be_16(dport);
	src = rte_cpu_to_be_32(src);
	dst = rte_cpu_to_be_32(dst);
	memcpy(k.src, &src, 4);
	memcpy(k.dst, &dst, 4);
	return k;
}

static void
test_ct_insert_lookup_clash_full(void)
{
	struct psw_ct *ct = psw_ct_create(1024, SOCKET_ID_ANY, qsbr);
	struct psw_ct_key o = key4(0x0af40002, 0x0a600010, 40000, 80, IPPROTO_TCP), r, o2;
	const struct psw_ct_key *kp[2];
	uint32_t hits[2];
	unsigned i;
	int rc;

	CU_ASSERT_PTR_NOT_NULL_FATAL(ct);
	r = key4(0x0af40009, 0x0af40002, 8080, 40000, IPPROTO_TCP);   /* backend -> client */
	rc = psw_ct_insert(ct, &o, &r, 7, 0, PSW_CT_F_DNAT, rte_rdtsc());
	CU_ASSERT_FATAL(rc >= 0);
	kp[0] = &o;
	kp[1] = &r;
	psw_ct_lookup(ct, kp, 2, hits);
	CU_ASSERT_EQUAL(hits[0], (uint32_t)rc | PSW_CT_DIR_ORIG);
	CU_ASSERT_EQUAL(hits[1], (uint32_t)rc | PSW_CT_DIR_REPLY);
	CU_ASSERT_EQUAL(psw_ct_count(ct), 1);
	/* the same connection again, and another one claiming its reply tuple */
	CU_ASSERT_EQUAL(psw_ct_insert(ct, &o, &r, 7, 0, 0, rte_rdtsc()), -EEXIST);
	o2 = key4(0x0af40003, 0x0a600010, 40000, 80, IPPROTO_TCP);
	CU_ASSERT_EQUAL(psw_ct_insert(ct, &o2, &r, 7, 0, 0, rte_rdtsc()), -EADDRINUSE);
	CU_ASSERT_EQUAL(ct->clashes, 1);
	/* fill it: the 1025th connection is refused, the first still found */
	for (i = 1; i < 1024; i++) {
		struct psw_ct_key a = key4(0x0b000000 + i, 0x0a600010, 1000, 80, IPPROTO_UDP);
		struct psw_ct_key b = key4(0x0a600010, 0x0b000000 + i, 80, 1000, IPPROTO_UDP);

		CU_ASSERT_FATAL(psw_ct_insert(ct, &a, &b, 0, 0, 0, rte_rdtsc()) >= 0);
	}
	o2 = key4(0x0c000001, 0x0a600010, 1, 80, IPPROTO_UDP);
	r = key4(0x0a600010, 0x0c000001, 80, 1, IPPROTO_UDP);
	CU_ASSERT_EQUAL(psw_ct_insert(ct, &o2, &r, 0, 0, 0, rte_rdtsc()), -ENOSPC);
	CU_ASSERT_EQUAL(ct->full, 1);
	psw_ct_lookup(ct, kp, 1, hits);
	CU_ASSERT_EQUAL(hits[0], (uint32_t)rc);
	/* expire everything (all = true): the table is empty and usable again */
	CU_ASSERT_EQUAL(psw_ct_expire(ct, 2048, true), 1024);
	CU_ASSERT_EQUAL(psw_ct_count(ct), 0);
	psw_ct_lookup(ct, kp, 1, hits);
	CU_ASSERT_EQUAL(hits[0], UINT32_MAX);
	CU_ASSERT(psw_ct_insert(ct, &o2, &r, 0, 0, 0, rte_rdtsc()) >= 0);
	psw_ct_destroy(ct);
}

/* A TCP header without options: flags, sequence number and window. */
struct seg {
	struct rte_tcp_hdr h;
	uint8_t opt[4];
};

/* One TCP segment of connection e in direction dir, through psw_ct_update. */
#define SEG(dir, flags, seq, win, len) \
	psw_ct_update(ct, e, PSW_CT_DIR_##dir, tcp_seg(&sg, flags, seq, win), len, now)

static const struct rte_tcp_hdr *
tcp_seg(struct seg *sg, uint8_t flags, uint32_t seq, uint16_t win)
{
	memset(sg, 0, sizeof(*sg));
	sg->h.tcp_flags = flags;
	sg->h.sent_seq = rte_cpu_to_be_32(seq);
	sg->h.rx_win = rte_cpu_to_be_16(win);
	sg->h.data_off = 5 << 4;
	return &sg->h;
}

/* A SYN or SYN-ACK offering window scale shift. */
static const struct rte_tcp_hdr *
syn_seg(struct seg *sg, uint8_t flags, uint32_t seq, uint16_t win, uint8_t shift)
{
	tcp_seg(sg, flags, seq, win);
	sg->h.data_off = 6 << 4;
	memcpy(sg->opt, (const uint8_t[]){ 1, 3, 3, shift }, 4);
	return &sg->h;
}

/* A new TCP connection 1:3 -> 2:4 in a fresh table; *ctp receives the table. */
static struct psw_ct_entry *
tcp_conn(struct psw_ct **ctp, uint64_t now)
{
	struct psw_ct_key o = key4(1, 2, 3, 4, IPPROTO_TCP), r;
	int rc;

	*ctp = psw_ct_create(1024, SOCKET_ID_ANY, qsbr);
	CU_ASSERT_PTR_NOT_NULL_FATAL(*ctp);
	psw_ct_key_reverse(&o, &r);
	rc = psw_ct_insert(*ctp, &o, &r, 0, 0, 0, now);
	CU_ASSERT_FATAL(rc >= 0);
	return psw_ct_entry(*ctp, (uint32_t)rc);
}

static void
test_ct_tcp_states(void)
{
	struct seg sg;
	struct psw_ct *ct = psw_ct_create(1024, SOCKET_ID_ANY, qsbr);
	struct psw_ct_key o = key4(1, 2, 3, 4, IPPROTO_TCP), r;
	struct psw_ct_entry *e;
	uint64_t now = rte_rdtsc();
	int rc;

	psw_ct_key_reverse(&o, &r);
	rc = psw_ct_insert(ct, &o, &r, 0, 0, 0, now);
	CU_ASSERT_FATAL(rc >= 0);
	e = psw_ct_entry(ct, (uint32_t)rc);
	CU_ASSERT_EQUAL(e->state, PSW_CT_NEW);
	/* a reply that is not a SYN-ACK to a half-open connection is invalid */
	CU_ASSERT_EQUAL(PSW_DROP_CT_INVALID, SEG(REPLY, ACK, 0, 0, 0));
	CU_ASSERT_EQUAL(PSW_DROP_NONE, SEG(REPLY, SYN | ACK, 0, 0, 0));
	CU_ASSERT_EQUAL(e->state, PSW_CT_SYN_RECV);
	CU_ASSERT_EQUAL(PSW_DROP_NONE, SEG(ORIG, ACK, 0, 0, 0));
	CU_ASSERT_EQUAL(e->state, PSW_CT_ESTABLISHED);
	CU_ASSERT_EQUAL(PSW_DROP_NONE, SEG(ORIG, FIN | ACK, 0, 0, 0));
	CU_ASSERT_EQUAL(e->state, PSW_CT_FIN_WAIT);
	CU_ASSERT_EQUAL(PSW_DROP_NONE, SEG(REPLY, FIN | ACK, 0, 0, 0));
	CU_ASSERT_EQUAL(e->state, PSW_CT_CLOSING);
	CU_ASSERT_EQUAL(PSW_DROP_NONE, SEG(REPLY, RST, 0, 0, 0));
	CU_ASSERT_EQUAL(e->state, PSW_CT_CLOSED);
	/* after RST: data is invalid; a new SYN from the client reopens the tuple */
	CU_ASSERT_EQUAL(PSW_DROP_CT_INVALID, SEG(ORIG, ACK, 0, 0, 0));
	CU_ASSERT_EQUAL(PSW_DROP_CT_INVALID, SEG(REPLY, SYN, 0, 0, 0));
	CU_ASSERT_EQUAL(PSW_DROP_NONE, SEG(ORIG, SYN, 0, 0, 0));
	CU_ASSERT_EQUAL(e->state, PSW_CT_NEW);
	/* a closed connection idles out after seconds, not the established day */
	e->state = PSW_CT_CLOSED;
	e->last_seen = now - 11 * rte_get_tsc_hz();
	CU_ASSERT_EQUAL(psw_ct_expire(ct, 1024, false), 1);
	psw_ct_destroy(ct);
}

static void
test_ct_tcp_window(void)
{
	uint64_t now = rte_rdtsc();
	struct psw_ct *ct;
	struct psw_ct_entry *e = tcp_conn(&ct, now);
	struct seg sg;

	/* handshake: client ISN 1000, server ISN 5000; the client offers shift 7 */
	tcp_seg(&sg, SYN, 1000, 64240);
	sg.h.data_off = 6 << 4;
	memcpy(sg.opt, (const uint8_t[]){ 3, 3, 7, 1 }, 4);
	CU_ASSERT_EQUAL(PSW_DROP_NONE, psw_ct_update(ct, e, PSW_CT_DIR_ORIG, &sg.h, 0, now));
	CU_ASSERT_EQUAL(e->wscale[PSW_CT_DIR_ORIG], 0x80 | 7);
	/* the server does not offer scaling: no window is scaled */
	CU_ASSERT_EQUAL(PSW_DROP_NONE, SEG(REPLY, SYN | ACK, 5000, 65535, 0));
	CU_ASSERT_EQUAL(PSW_DROP_NONE, SEG(ORIG, ACK, 1001, 502, 0));
	CU_ASSERT_EQUAL(e->state, PSW_CT_ESTABLISHED);
	CU_ASSERT_EQUAL(e->td_end[PSW_CT_DIR_ORIG], 1001);
	CU_ASSERT_EQUAL(e->td_maxwin[PSW_CT_DIR_ORIG], 64240);
	/* data in window advances the sender's end */
	CU_ASSERT_EQUAL(PSW_DROP_NONE, SEG(ORIG, ACK, 1001, 502, 1400));
	CU_ASSERT_EQUAL(e->td_end[PSW_CT_DIR_ORIG], 2401);
	/* a retransmission of old data is still in the window */
	CU_ASSERT_EQUAL(PSW_DROP_NONE, SEG(ORIG, ACK, 1001, 502, 1400));
	CU_ASSERT_EQUAL(e->td_end[PSW_CT_DIR_ORIG], 2401);
	/* far ahead of anything the server allowed (2 x 64 KiB): dropped, nothing learnt */
	CU_ASSERT_EQUAL(PSW_DROP_CT_WINDOW, SEG(ORIG, ACK, 2401 + 200000, 502, 100));
	CU_ASSERT_EQUAL(e->td_end[PSW_CT_DIR_ORIG], 2401);
	/* far behind: dropped as well, in both directions; a blind RST is refused */
	CU_ASSERT_EQUAL(PSW_DROP_CT_WINDOW, SEG(REPLY, ACK, 5001 - 300000, 0, 10));
	CU_ASSERT_EQUAL(PSW_DROP_CT_WINDOW, SEG(REPLY, RST, 5001 + 1000000, 0, 0));
	CU_ASSERT_EQUAL(e->state, PSW_CT_ESTABLISHED);
	/* sequence numbers wrap: a connection crossing 2^32 keeps flowing */
	e->td_end[PSW_CT_DIR_REPLY] = UINT32_MAX - 100;
	CU_ASSERT_EQUAL(PSW_DROP_NONE, SEG(REPLY, ACK, UINT32_MAX - 100, 0, 1000));
	CU_ASSERT_EQUAL(e->td_end[PSW_CT_DIR_REPLY], 899);
	/* an in-window RST closes */
	CU_ASSERT_EQUAL(PSW_DROP_NONE, SEG(REPLY, RST, 899, 0, 0));
	CU_ASSERT_EQUAL(e->state, PSW_CT_CLOSED);
	/* the tuple reopens with fresh windows; both sides scale by 2^7 now */
	CU_ASSERT_EQUAL(PSW_DROP_NONE, psw_ct_update(ct, e, PSW_CT_DIR_ORIG,
						     syn_seg(&sg, SYN, 70000, 64240, 7), 0, now));
	CU_ASSERT_EQUAL(e->td_end[PSW_CT_DIR_ORIG], 70001);
	CU_ASSERT_EQUAL(PSW_DROP_NONE, psw_ct_update(ct, e, PSW_CT_DIR_REPLY,
						     syn_seg(&sg, SYN | ACK, 9000, 65160, 7), 0, now));
	CU_ASSERT_EQUAL(PSW_DROP_NONE, SEG(ORIG, ACK, 70001, 502, 0));
	/* the server's window 2000 << 7 = 256000 lets the client run 400000 ahead */
	CU_ASSERT_EQUAL(PSW_DROP_NONE, SEG(REPLY, ACK, 9001, 2000, 0));
	CU_ASSERT_EQUAL(e->td_maxwin[PSW_CT_DIR_REPLY], 256000);
	CU_ASSERT_EQUAL(PSW_DROP_NONE, SEG(ORIG, ACK, 70001 + 400000, 502, 1400));
	CU_ASSERT_EQUAL(PSW_DROP_CT_WINDOW, SEG(ORIG, ACK, 70001 + 1400000, 502, 1400));
	psw_ct_destroy(ct);
}

static void
test_ct_tcp_window_syn_and_reuse(void)
{
	uint64_t now = rte_rdtsc();
	struct psw_ct *ct;
	struct psw_ct_entry *e = tcp_conn(&ct, now);
	struct seg sg;

	/* each side's windows are scaled by its own shift: client 7, server 2 */
	CU_ASSERT_EQUAL(PSW_DROP_NONE, psw_ct_update(ct, e, PSW_CT_DIR_ORIG,
						     syn_seg(&sg, SYN, 100, 64240, 7), 0, now));
	CU_ASSERT_EQUAL(PSW_DROP_NONE, psw_ct_update(ct, e, PSW_CT_DIR_REPLY,
						     syn_seg(&sg, SYN | ACK, 900000, 65160, 2), 0, now));
	CU_ASSERT_EQUAL(PSW_DROP_NONE, SEG(ORIG, ACK, 101, 1000, 0));
	CU_ASSERT_EQUAL(PSW_DROP_NONE, SEG(REPLY, ACK, 900001, 30000, 0));
	CU_ASSERT_EQUAL(e->td_maxwin[PSW_CT_DIR_ORIG], 128000);
	CU_ASSERT_EQUAL(e->td_maxwin[PSW_CT_DIR_REPLY], 120000);
	CU_ASSERT_EQUAL(e->state, PSW_CT_ESTABLISHED);
	/* a blind SYN is checked like data: it moves nothing, changes no scale */
	CU_ASSERT_EQUAL(PSW_DROP_CT_WINDOW, psw_ct_update(ct, e, PSW_CT_DIR_ORIG,
							  syn_seg(&sg, SYN, 2000000000, 0, 0), 0, now));
	CU_ASSERT_EQUAL(e->td_end[PSW_CT_DIR_ORIG], 101);
	CU_ASSERT_EQUAL(e->wscale[PSW_CT_DIR_ORIG], 0x80 | 7);
	/* a blind SYN+RST does not close the connection */
	CU_ASSERT_EQUAL(PSW_DROP_CT_WINDOW, SEG(REPLY, SYN | RST, 2000000000, 0, 0));
	CU_ASSERT_EQUAL(e->state, PSW_CT_ESTABLISHED);
	/* FIN takes one sequence number; both FINs: closing */
	CU_ASSERT_EQUAL(PSW_DROP_NONE, SEG(ORIG, FIN | ACK, 101, 1000, 0));
	CU_ASSERT_EQUAL(e->td_end[PSW_CT_DIR_ORIG], 102);
	CU_ASSERT_EQUAL(PSW_DROP_NONE, SEG(REPLY, FIN | ACK, 900001, 30000, 0));
	CU_ASSERT_EQUAL(e->state, PSW_CT_CLOSING);
	/* the client reuses the port with an ISN far behind the old connection's */
	CU_ASSERT_EQUAL(PSW_DROP_NONE, psw_ct_update(ct, e, PSW_CT_DIR_ORIG,
						     syn_seg(&sg, SYN, 4000000000u, 64240, 7), 0, now));
	CU_ASSERT_EQUAL(e->state, PSW_CT_NEW);
	CU_ASSERT_EQUAL(e->td_end[PSW_CT_DIR_ORIG], 4000000001u);
	CU_ASSERT_EQUAL(PSW_DROP_NONE, psw_ct_update(ct, e, PSW_CT_DIR_REPLY,
						     syn_seg(&sg, SYN | ACK, 300000000, 65160, 2), 0, now));
	CU_ASSERT_EQUAL(PSW_DROP_NONE, SEG(ORIG, ACK, 4000000001u, 1000, 0));
	CU_ASSERT_EQUAL(e->state, PSW_CT_ESTABLISHED);
	CU_ASSERT_EQUAL(PSW_DROP_NONE, SEG(REPLY, ACK, 300000001, 30000, 1400));
	CU_ASSERT_EQUAL(PSW_DROP_NONE, SEG(ORIG, ACK, 4000000001u, 1000, 1400));
	psw_ct_destroy(ct);
}

/*
 * A pick-up seen one way only (a server-side pick-up is opened with its
 * first packet as the reply) goes after 30 s, not a day: one bare frame
 * must not hold an entry long after its pods are gone.
 */
static void
test_ct_loose_one_way_expires(void)
{
	uint64_t now = rte_rdtsc(), hz = rte_get_tsc_hz();
	struct psw_ct *ct;
	struct psw_ct_entry *e = tcp_conn(&ct, now);
	struct seg sg;

	e->flags |= PSW_CT_F_LOOSE;
	e->state = PSW_CT_ESTABLISHED;
	CU_ASSERT_EQUAL(PSW_DROP_NONE, SEG(REPLY, ACK, 5000, 0, 0));
	e->last_seen = now - 31 * hz;
	CU_ASSERT_EQUAL(psw_ct_expire(ct, 1024, false), 1);
	psw_ct_destroy(ct);
	/* seen both ways: a live connection, kept */
	e = tcp_conn(&ct, now);
	e->flags |= PSW_CT_F_LOOSE;
	e->state = PSW_CT_ESTABLISHED;
	CU_ASSERT_EQUAL(PSW_DROP_NONE, SEG(REPLY, ACK, 5000, 0, 0));
	CU_ASSERT_EQUAL(PSW_DROP_NONE, SEG(ORIG, ACK, 9000, 0, 0));
	e->last_seen = now - 31 * hz;
	CU_ASSERT_EQUAL(psw_ct_expire(ct, 1024, false), 0);
	psw_ct_destroy(ct);
}

/* A connection picked up mid-stream (no handshake): data unchecked, blind RSTs refused. */
static void
test_ct_loose_blind_rst(void)
{
	uint64_t now = rte_rdtsc();
	struct psw_ct *ct;
	struct psw_ct_entry *e = tcp_conn(&ct, now);
	struct seg sg;

	e->flags |= PSW_CT_F_LOOSE;
	e->state = PSW_CT_ESTABLISHED;
	CU_ASSERT_EQUAL(PSW_DROP_NONE, SEG(ORIG, ACK, 3000000000u, 0, 1400));
	CU_ASSERT_EQUAL(PSW_DROP_NONE, SEG(REPLY, ACK, 7000, 0, 0));
	/* anywhere goes for data (the windows are not known), but it moves no mark */
	CU_ASSERT_EQUAL(PSW_DROP_NONE, SEG(ORIG, ACK, 123456000, 0, 100));
	CU_ASSERT_EQUAL(e->td_end[PSW_CT_DIR_ORIG], 3000001400u);
	/* a RST far from where either side is refused, and the connection lives */
	CU_ASSERT_EQUAL(PSW_DROP_CT_WINDOW, SEG(ORIG, RST, 123456789, 0, 0));
	CU_ASSERT_EQUAL(PSW_DROP_CT_WINDOW, SEG(REPLY, RST | ACK, 2000000000u, 0, 0));
	CU_ASSERT_EQUAL(e->state, PSW_CT_ESTABLISHED);
	CU_ASSERT_EQUAL(PSW_DROP_NONE, SEG(ORIG, ACK, 3000001400u, 0, 10));
	/* the sender's own RST, at its next sequence number, closes it */
	CU_ASSERT_EQUAL(PSW_DROP_NONE, SEG(REPLY, RST, 7000, 0, 0));
	CU_ASSERT_EQUAL(e->state, PSW_CT_CLOSED);
	psw_ct_destroy(ct);
}

static void
test_ct_udp_and_flush(void)
{
	struct psw_ct *ct = psw_ct_create(1024, SOCKET_ID_ANY, qsbr);
	struct psw_ct_key o = key4(1, 0x0a600001, 5000, 53, IPPROTO_UDP), r, o2, r2;
	uint8_t be[16] = { 10, 244, 0, 9 }, other[16] = { 10, 244, 0, 8 };
	struct psw_ct_entry *e;
	uint64_t now = rte_rdtsc();
	int rc;

	r = key4(0x0af40009, 1, 5353, 5000, IPPROTO_UDP);
	rc = psw_ct_insert(ct, &o, &r, 42, 0, PSW_CT_F_DNAT, now);
	e = psw_ct_entry(ct, (uint32_t)rc);
	CU_ASSERT_EQUAL(PSW_DROP_NONE, psw_ct_update(ct, e, PSW_CT_DIR_REPLY, NULL, 0, now));
	CU_ASSERT_EQUAL(e->state, PSW_CT_ESTABLISHED);
	o2 = key4(2, 0x0a600001, 5000, 53, IPPROTO_UDP);
	r2 = key4(0x0af40008, 2, 5353, 5000, IPPROTO_UDP);
	CU_ASSERT(psw_ct_insert(ct, &o2, &r2, 42, 1, PSW_CT_F_DNAT, now) >= 0);
	/* flushing backend .9 of Service 42 forgets only its flow */
	CU_ASSERT_EQUAL(psw_ct_flush_backend(ct, 42, be, rte_cpu_to_be_16(5353)), 1);
	CU_ASSERT_EQUAL(psw_ct_flush_backend(ct, 43, other, rte_cpu_to_be_16(5353)), 0);
	CU_ASSERT_EQUAL(psw_ct_count(ct), 1);
	/* idle UDP past its timeout expires; fresh does not */
	CU_ASSERT_EQUAL(psw_ct_expire(ct, 1024, false), 0);
	psw_ct_destroy(ct);
}

/* A worker stamping entries while expiry passes run back to back. */
struct stamper {
	struct psw_ct *ct;
	uint32_t idx[64];
	unsigned n;
	volatile int stop;
};

static void *
stamp_loop(void *arg)
{
	struct stamper *s = arg;
	unsigned i;

	while (!s->stop)
		for (i = 0; i < s->n; i++)
			__atomic_store_n(&s->ct->entries[s->idx[i]].last_seen, rte_rdtsc(), __ATOMIC_RELAXED);
	return NULL;
}

/*
 * Expiry reads its clock once per pass while workers stamp last_seen later:
 * an entry "seen after now" is the busiest of all, never idle (the age is
 * signed). Once with a stamp one second ahead, then as a real race.
 */
static void
test_ct_expiry_races_stamps(void)
{
	struct psw_ct *ct = psw_ct_create(1024, SOCKET_ID_ANY, qsbr);
	struct stamper s = { .ct = ct, .n = 64 };
	struct psw_ct_key o, r;
	pthread_t th;
	unsigned i;
	int rc;

	CU_ASSERT_PTR_NOT_NULL_FATAL(ct);
	for (i = 0; i < s.n; i++) {
		o = key4(0x0af40002, 0x0af40003, (uint16_t)(1000 + i), 53, IPPROTO_UDP);
		psw_ct_key_reverse(&o, &r);
		rc = psw_ct_insert(ct, &o, &r, 0, 0, PSW_CT_F_POLICY, rte_rdtsc());
		CU_ASSERT_FATAL(rc >= 0);
		s.idx[i] = (uint32_t)rc >> 1;
	}
	ct->entries[s.idx[0]].last_seen = rte_rdtsc() + rte_get_tsc_hz();
	CU_ASSERT_EQUAL(psw_ct_expire(ct, 1024, false), 0);
	CU_ASSERT_EQUAL(psw_ct_count(ct), s.n);
	CU_ASSERT_FATAL(pthread_create(&th, NULL, stamp_loop, &s) == 0);
	for (i = 0; i < 20000; i++)
		psw_ct_expire(ct, 1024, false);
	s.stop = 1;
	pthread_join(th, NULL);
	CU_ASSERT_EQUAL(psw_ct_count(ct), s.n);
	CU_ASSERT_EQUAL(ct->expired, 0);
	psw_ct_destroy(ct);
}

/* Two workers opening the same flows at once. */
struct racer {
	struct psw_ct *ct;
	unsigned nb, won, lost, other;
	volatile int *go;
};

static void *
race_inserts(void *arg)
{
	struct racer *r = arg;
	unsigned i;

	while (!*r->go)
		;
	for (i = 0; i < r->nb; i++) {
		struct psw_ct_key o = key4(0x0af40002, 0x0a600010, (uint16_t)(1000 + i), 80, IPPROTO_TCP), rk;
		int rc;

		psw_ct_key_reverse(&o, &rk);
		rc = psw_ct_insert_zone(r->ct, &o, &rk, 0, 0, 0, 3, rte_rdtsc());
		if (rc >= 0)
			r->won++;
		else if (rc == -EEXIST)
			r->lost++;
		else
			r->other++;
	}
	return NULL;
}

/*
 * Two workers racing to insert the same 2,000 connections: each is
 * inserted exactly once (the other worker is told -EEXIST), both keys
 * find the same entry, and the table and its zone count hold 2,000.
 */
static void
test_ct_two_workers_race_inserts(void)
{
	struct psw_ct *ct = psw_ct_create(4096, SOCKET_ID_ANY, qsbr);
	volatile int go = 0;
	struct racer r[2] = { { .ct = ct, .nb = 2000, .go = &go }, { .ct = ct, .nb = 2000, .go = &go } };
	pthread_t th[2];
	unsigned i;

	CU_ASSERT_PTR_NOT_NULL_FATAL(ct);
	for (i = 0; i < 2; i++)
		CU_ASSERT_FATAL(pthread_create(&th[i], NULL, race_inserts, &r[i]) == 0);
	go = 1;
	for (i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	CU_ASSERT_EQUAL(r[0].won + r[1].won, 2000);
	CU_ASSERT_EQUAL(r[0].lost + r[1].lost, 2000);
	CU_ASSERT_EQUAL(r[0].other + r[1].other, 0);
	CU_ASSERT_EQUAL(psw_ct_count(ct), 2000);
	CU_ASSERT_EQUAL(ct->zone_count[3], 2000);
	for (i = 0; i < 2000; i++) {
		struct psw_ct_key o = key4(0x0af40002, 0x0a600010, (uint16_t)(1000 + i), 80, IPPROTO_TCP), rk;
		const struct psw_ct_key *kp[2] = { &o, &rk };
		uint32_t hits[2];

		psw_ct_key_reverse(&o, &rk);
		psw_ct_lookup(ct, kp, 2, hits);
		if (hits[0] == UINT32_MAX || hits[1] != (hits[0] | PSW_CT_DIR_REPLY)) {
			CU_FAIL("a raced connection's keys do not lead to one entry");
			break;
		}
	}
	/* all expire: the zone's count goes back to zero with the entries */
	psw_ct_expire(ct, ct->size, true);
	CU_ASSERT_EQUAL(psw_ct_count(ct), 0);
	CU_ASSERT_EQUAL(ct->zone_count[3], 0);
	psw_ct_destroy(ct);
}

/*
 * An entry idle past its timeout counts as gone at once, whatever the sweep
 * has reached (none runs here): psw_ct_expired says so by the timeout of
 * its protocol and state, and inserting the connection again removes it
 * instead of failing -EEXIST, through its original or its reply key. The
 * control thread frees it after the grace period. Within its timeout an
 * entry is kept.
 */
static void
test_ct_expired_counts_as_gone(void)
{
	uint64_t now = rte_rdtsc(), hz = rte_get_tsc_hz();
	struct psw_ct *ct = psw_ct_create(1024, SOCKET_ID_ANY, qsbr);
	struct psw_ct_key o = key4(0x0af40002, 0x0a600010, 5000, 53, IPPROTO_UDP), r, o2;
	const struct psw_ct_key *kp = &o;
	struct psw_ct_entry *e;
	uint32_t hit;
	int a, b, c;

	CU_ASSERT_PTR_NOT_NULL_FATAL(ct);
	r = key4(0x0af40009, 0x0af40002, 5353, 5000, IPPROTO_UDP);
	a = psw_ct_insert(ct, &o, &r, 1, 0, PSW_CT_F_DNAT, now);
	CU_ASSERT_FATAL(a >= 0);
	e = psw_ct_entry(ct, (uint32_t)a);
	/* UDP before a reply: 30 s; a clock behind the stamp sees no idle time */
	CU_ASSERT(!psw_ct_expired(ct, e, now + 29 * hz));
	CU_ASSERT(psw_ct_expired(ct, e, now + 31 * hz));
	CU_ASSERT(!psw_ct_expired(ct, e, now - 100 * hz));
	CU_ASSERT_EQUAL(psw_ct_insert(ct, &o, &r, 1, 0, PSW_CT_F_DNAT, now + 29 * hz), -EEXIST);
	/* after a reply: 120 s */
	psw_ct_update(ct, e, PSW_CT_DIR_REPLY, NULL, 0, now);
	CU_ASSERT(!psw_ct_expired(ct, e, now + 119 * hz));
	CU_ASSERT(psw_ct_expired(ct, e, now + 121 * hz));
	/* opened again after that: the old entry goes, the new one is found */
	now += 121 * hz;
	b = psw_ct_insert(ct, &o, &r, 1, 1, PSW_CT_F_DNAT, now);
	CU_ASSERT_FATAL(b >= 0);
	CU_ASSERT_NOT_EQUAL(b, a);
	CU_ASSERT_EQUAL(e->in_use, 0);
	CU_ASSERT_EQUAL(ct->expired_lookup, 1);
	psw_ct_lookup(ct, &kp, 1, &hit);
	CU_ASSERT_EQUAL(hit, (uint32_t)b);
	/* until the control thread frees it, it is neither free nor in use */
	CU_ASSERT_EQUAL(psw_ct_count(ct), 1);
	CU_ASSERT_EQUAL(rte_ring_count(ct->free), ct->size - 2);
	CU_ASSERT_EQUAL(psw_ct_expire(ct, 0, false), 0);
	CU_ASSERT_EQUAL(rte_ring_count(ct->free), ct->size - 1);
	CU_ASSERT_EQUAL(ct->expired, 0);
	/* another flow whose reply tuple a live entry holds clashes; once that entry expired, it opens */
	o2 = key4(0x0af40003, 0x0a600010, 5000, 53, IPPROTO_UDP);
	CU_ASSERT_EQUAL(psw_ct_insert(ct, &o2, &r, 1, 1, PSW_CT_F_DNAT, now + 29 * hz), -EADDRINUSE);
	c = psw_ct_insert(ct, &o2, &r, 1, 1, PSW_CT_F_DNAT, now + 31 * hz);
	CU_ASSERT(c >= 0);
	CU_ASSERT_EQUAL(ct->expired_lookup, 2);
	CU_ASSERT_EQUAL(psw_ct_entry(ct, (uint32_t)b)->in_use, 0);
	psw_ct_lookup(ct, &kp, 1, &hit);
	CU_ASSERT_EQUAL(hit, UINT32_MAX);
	psw_ct_expire(ct, 0, false);
	CU_ASSERT_EQUAL(psw_ct_count(ct), 1);
	CU_ASSERT_EQUAL(rte_ring_count(ct->free), ct->size - 1);
	psw_ct_destroy(ct);
}

/*
 * TCP by state (closed after RST: 10 s; established: a day; a pick-up seen
 * one way only: 30 s) and affinity records by their own timeoutSeconds,
 * at least 1 s even before it is set.
 */
static void
test_ct_expired_by_state_and_own_timeout(void)
{
	uint64_t now = rte_rdtsc(), hz = rte_get_tsc_hz();
	struct psw_ct *ct;
	struct psw_ct_entry *e = tcp_conn(&ct, now);
	struct psw_ct_key o = key4(1, 2, 3, 4, IPPROTO_TCP), r, ak, ar;
	int a;

	e->state = PSW_CT_ESTABLISHED;
	CU_ASSERT(!psw_ct_expired(ct, e, now + 86399 * hz));
	CU_ASSERT(psw_ct_expired(ct, e, now + 86401 * hz));
	e->flags |= PSW_CT_F_LOOSE;
	CU_ASSERT(psw_ct_expired(ct, e, now + 31 * hz));
	e->win_known = 3;                        /* seen both ways: a live connection */
	CU_ASSERT(!psw_ct_expired(ct, e, now + 31 * hz));
	e->flags &= (uint8_t)~PSW_CT_F_LOOSE;
	e->state = PSW_CT_CLOSED;
	CU_ASSERT(!psw_ct_expired(ct, e, now + 9 * hz));
	CU_ASSERT(psw_ct_expired(ct, e, now + 11 * hz));
	/* the tuple opened again 11 s after the RST: a new entry */
	psw_ct_key_reverse(&o, &r);
	a = psw_ct_insert(ct, &o, &r, 0, 0, 0, now + 11 * hz);
	CU_ASSERT(a >= 0 && psw_ct_entry(ct, (uint32_t)a) != e);
	CU_ASSERT_EQUAL(ct->expired_lookup, 1);
	/* an affinity record: its own timeout, 1 s before it is set */
	ak = key4(0x0af40002, 0x0a600010, 7, 0, PSW_CT_PROTO_AFFINITY);
	ar = ak;
	ar.pad = 1;
	a = psw_ct_insert(ct, &ak, &ar, 7, 0, 0, now);
	CU_ASSERT_FATAL(a >= 0);
	e = psw_ct_entry(ct, (uint32_t)a);
	CU_ASSERT(!psw_ct_expired(ct, e, now + hz / 2));
	CU_ASSERT(psw_ct_expired(ct, e, now + 2 * hz));
	psw_ct_set_timeout(ct, (uint32_t)a, 3);
	CU_ASSERT(!psw_ct_expired(ct, e, now + 2 * hz));
	CU_ASSERT(psw_ct_expired(ct, e, now + 4 * hz));
	CU_ASSERT_EQUAL(psw_ct_insert(ct, &ak, &ar, 7, 1, 0, now + 2 * hz), -EEXIST);
	CU_ASSERT(psw_ct_insert(ct, &ak, &ar, 7, 1, 0, now + 4 * hz) >= 0);
	CU_ASSERT_EQUAL(ct->expired_lookup, 2);
	psw_ct_destroy(ct);
}

/* A worker opening the same flows again and again, each round 31 s after the last. */
struct replacer {
	struct psw_ct *ct;
	pthread_barrier_t *round;
	uint64_t t0;
	unsigned nb_rounds, nb_flows, won, lost, other;
	int *done;
};

#define REPLACE_FLOWS 128
#define REPLACE_ROUNDS 200

static void *
replace_loop(void *arg)
{
	struct replacer *w = arg;
	uint64_t hz = rte_get_tsc_hz();
	unsigned round, i;

	for (round = 0; round < w->nb_rounds; round++) {
		for (i = 0; i < w->nb_flows; i++) {
			struct psw_ct_key o = key4(0x0af40002, 0x0af40003, (uint16_t)(1000 + i), 53, IPPROTO_UDP), rk;
			int rc;

			psw_ct_key_reverse(&o, &rk);
			rc = psw_ct_insert_zone(w->ct, &o, &rk, 0, 0, 0, 3, w->t0 + round * 31 * hz);
			if (rc >= 0)
				w->won++;
			else if (rc == -EEXIST)
				w->lost++;
			else
				w->other++;
		}
		pthread_barrier_wait(w->round);
		usleep(20);              /* the sweep's turn */
	}
	__atomic_fetch_add(w->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/*
 * Two workers replace expired entries while the control thread sweeps the
 * same entries (the workers' clocks are in the past, so the sweep finds
 * every entry expired too): each entry is removed exactly once, by a worker
 * or by the sweep, and freed exactly once; every flow stays reachable; the
 * table, its free ring and the zone count come back whole.
 */
static void
test_ct_workers_replace_expired_while_sweeping(void)
{
	struct psw_ct *ct = psw_ct_create(4096, SOCKET_ID_ANY, qsbr);
	uint64_t hz = rte_get_tsc_hz();
	pthread_barrier_t round;
	struct replacer w[2];
	pthread_t th[2];
	int done = 0;
	unsigned i, won = 0, lost = 0, other = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(ct);
	pthread_barrier_init(&round, NULL, 2);
	for (i = 0; i < 2; i++) {
		w[i] = (struct replacer){ .ct = ct, .round = &round, .nb_rounds = REPLACE_ROUNDS,
					  .nb_flows = REPLACE_FLOWS, .done = &done,
					  .t0 = rte_rdtsc() - (REPLACE_ROUNDS * 31 + 100) * hz };
		CU_ASSERT_FATAL(pthread_create(&th[i], NULL, replace_loop, &w[i]) == 0);
	}
	while (__atomic_load_n(&done, __ATOMIC_ACQUIRE) < 2) {
		psw_ct_expire(ct, ct->size, false);
		usleep(10);              /* the CPUs may be shared: leave the workers some */
	}
	for (i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		won += w[i].won;
		lost += w[i].lost;
		other += w[i].other;
	}
	pthread_barrier_destroy(&round);
	/* the only refusal: a full table, if the sweep fell behind */
	CU_ASSERT_EQUAL(other, ct->full);
	CU_ASSERT_EQUAL(won + lost + other, 2 * REPLACE_FLOWS * REPLACE_ROUNDS);
	CU_ASSERT_EQUAL(won, ct->inserts);
	CU_ASSERT(ct->expired_lookup > 0);
	/* what the sweep has not removed yet is reachable by both keys */
	for (i = 0; i < REPLACE_FLOWS; i++) {
		struct psw_ct_key o = key4(0x0af40002, 0x0af40003, (uint16_t)(1000 + i), 53, IPPROTO_UDP), rk;
		const struct psw_ct_key *kp[2] = { &o, &rk };
		uint32_t hits[2];

		psw_ct_key_reverse(&o, &rk);
		psw_ct_lookup(ct, kp, 2, hits);
		if (hits[0] != UINT32_MAX &&
		    (hits[1] != (hits[0] | PSW_CT_DIR_REPLY) || !psw_ct_entry(ct, hits[0])->in_use)) {
			CU_FAIL("a replaced flow's keys do not lead to one entry in use");
			break;
		}
	}
	psw_ct_expire(ct, ct->size, true);
	psw_ct_expire(ct, ct->size, true);
	CU_ASSERT_EQUAL(ct->expired + ct->expired_lookup, ct->inserts);
	CU_ASSERT_EQUAL(psw_ct_count(ct), 0);
	CU_ASSERT_EQUAL(rte_ring_count(ct->free), ct->size);
	CU_ASSERT_EQUAL(rte_ring_count(ct->gone), 0);
	CU_ASSERT_EQUAL(ct->zone_count[3], 0);
	psw_ct_destroy(ct);
}

struct sweeper {
	struct psw_ct *ct;
	int done;
};

static void *
sweep_once(void *arg)
{
	struct sweeper *sw = arg;

	psw_ct_expire(sw->ct, sw->ct->size, false);
	__atomic_store_n(&sw->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

struct opener {
	struct psw_ct *ct;
	struct psw_ct_key o, r;
	int rc, done;
};

static void *
open_once(void *arg)
{
	struct opener *op = arg;

	op->rc = psw_ct_insert(op->ct, &op->o, &op->r, 0, 0, 0, rte_rdtsc());
	__atomic_store_n(&op->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/*
 * The sweep finds an expired entry in use; before it takes the writers'
 * lock, a worker opening the same flow removes that entry and inserts its
 * successor under the same keys. The sweep must then leave both alone:
 * neither delete the successor's keys nor free the entry a second time.
 * The interleaving is forced: this thread holds the lock while the sweep
 * and the worker come to wait for it, then lets them race for it; rounds
 * alternate which of them starts first.
 */
static void
test_ct_sweep_and_worker_remove_the_same_entry(void)
{
	struct psw_ct *ct = psw_ct_create(1024, SOCKET_ID_ANY, qsbr);
	struct psw_ct_key o = key4(0x0af40002, 0x0af40003, 4000, 53, IPPROTO_UDP), r;
	const struct psw_ct_key *kp = &o;
	unsigned round, worker_first = 0;
	uint32_t hit;

	CU_ASSERT_PTR_NOT_NULL_FATAL(ct);
	psw_ct_key_reverse(&o, &r);
	/* 100 rounds, and more (up to 2,000) until the worker has won one: on a
	 * loaded machine the thread that started first can win many in a row */
	for (round = 0; round < 100 || (worker_first == 0 && round < 2000); round++) {
		struct sweeper sw = { .ct = ct };
		struct opener op = { .ct = ct, .o = o, .r = r };
		uint64_t by_worker = ct->expired_lookup;
		pthread_t th[2];

		CU_ASSERT_FATAL(psw_ct_insert(ct, &o, &r, 0, 0, 0, rte_rdtsc() - 100 * rte_get_tsc_hz()) >= 0);
		rte_spinlock_lock(&ct->write_lock);
		CU_ASSERT_FATAL(pthread_create(&th[round & 1], NULL, sweep_once, &sw) == 0);
		usleep(1000);
		CU_ASSERT_FATAL(pthread_create(&th[!(round & 1)], NULL, open_once, &op) == 0);
		usleep(1000);
		rte_spinlock_unlock(&ct->write_lock);
		pthread_join(th[0], NULL);
		pthread_join(th[1], NULL);
		worker_first += ct->expired_lookup != by_worker;
		/* the successor is there, whoever removed the old entry */
		CU_ASSERT_FATAL(op.rc >= 0);
		psw_ct_lookup(ct, &kp, 1, &hit);
		CU_ASSERT_EQUAL(hit, (uint32_t)op.rc);
		CU_ASSERT(psw_ct_entry(ct, (uint32_t)op.rc)->in_use);
		/* and everything comes back exactly once */
		psw_ct_expire(ct, ct->size, true);
		psw_ct_expire(ct, ct->size, true);
		CU_ASSERT_EQUAL(psw_ct_count(ct), 0);
		CU_ASSERT_EQUAL_FATAL(rte_ring_count(ct->free), ct->size);
	}
	/* the worker won the lock some of the time (about one round in five here) */
	CU_ASSERT(worker_first > 0);
	psw_ct_destroy(ct);
}

/*
 * psw_ct_remove: a worker removes an entry it found obsolete, whatever its
 * age; both keys go at once, a second removal (another worker, or the
 * sweep) finds it out of use, and a successor under the same keys is not
 * touched by a removal through the old hit. Freed once, by the control thread.
 */
static void
test_ct_remove_by_worker(void)
{
	struct psw_ct *ct = psw_ct_create(1024, SOCKET_ID_ANY, qsbr);
	struct psw_ct_key o = key4(0x0af40002, 0x0a600010, 7, 0, PSW_CT_PROTO_AFFINITY), r = o;
	const struct psw_ct_key *kp[2] = { &o, &r };
	uint32_t hits[2];
	int a, b;

	CU_ASSERT_PTR_NOT_NULL_FATAL(ct);
	r.pad = 1;
	a = psw_ct_insert(ct, &o, &r, 7, 0, 0, rte_rdtsc());
	CU_ASSERT_FATAL(a >= 0);
	CU_ASSERT_EQUAL(psw_ct_remove(ct, (uint32_t)a), 0);
	CU_ASSERT_EQUAL(psw_ct_remove(ct, (uint32_t)a), -ENOENT);
	psw_ct_lookup(ct, kp, 2, hits);
	CU_ASSERT_EQUAL(hits[0], UINT32_MAX);
	CU_ASSERT_EQUAL(hits[1], UINT32_MAX);
	CU_ASSERT_EQUAL(ct->expired_lookup, 0);          /* not expired: removed */
	b = psw_ct_insert(ct, &o, &r, 7, 1, 0, rte_rdtsc());
	CU_ASSERT_FATAL(b >= 0 && b != a);
	CU_ASSERT_EQUAL(psw_ct_remove(ct, (uint32_t)a), -ENOENT);
	psw_ct_lookup(ct, kp, 2, hits);
	CU_ASSERT_EQUAL(hits[0], (uint32_t)b);
	CU_ASSERT_EQUAL(psw_ct_expire(ct, 0, false), 0);
	CU_ASSERT_EQUAL(psw_ct_count(ct), 1);
	CU_ASSERT_EQUAL(rte_ring_count(ct->free), ct->size - 1);
	psw_ct_expire(ct, ct->size, true);
	CU_ASSERT_EQUAL(rte_ring_count(ct->free), ct->size);
	psw_ct_destroy(ct);
}

/* Flow i of round r: a client's datagram to one of many Service addresses, all to one backend. */
static struct psw_ct_key
held_orig(unsigned i, unsigned r)
{
	return key4(0x0af40002, 0x0a600000 + r % 251, (uint16_t)(1000 + i), 53, IPPROTO_UDP);
}

/* Its reply, the same every round: each round's insert finds the last round's entry there. */
static struct psw_ct_key
held_reply(unsigned i)
{
	return key4(0x0af40009, 0x0af40002, 5353, (uint16_t)(1000 + i), IPPROTO_UDP);
}

#define HELD_FLOWS 64
#define HELD_ROUNDS 300

/* A worker that looks flows up and reads what it found until its quiescent report. */
struct holder {
	struct psw_ct *ct;
	struct rte_rcu_qsbr *qs;
	unsigned id, held, reused;
	const volatile unsigned *round;
	const volatile int *stop;
};

static void *
hold_loop(void *arg)
{
	struct holder *h = arg;
	unsigned i, spin;

	rte_rcu_qsbr_thread_register(h->qs, h->id);
	rte_rcu_qsbr_thread_online(h->qs, h->id);
	while (!*h->stop) {
		unsigned r = *h->round;

		for (i = 0; i < HELD_FLOWS; i++) {
			struct psw_ct_key k = held_orig(i, r), rk = held_reply(i);
			const struct psw_ct_key *kp[2] = { &k, &rk };
			uint32_t hits[2];
			unsigned j;

			psw_ct_lookup(h->ct, kp, 2, hits);
			for (j = 0; j < 2; j++) {
				const struct psw_ct_entry *e;

				if (hits[j] == UINT32_MAX)
					continue;
				e = psw_ct_entry(h->ct, hits[j]);
				h->held++;
				/* until this worker reports, nobody may hand the entry to another flow */
				for (spin = 0; spin < 20; spin++)
					if (memcmp((hits[j] & 1) ? &e->reply : &e->orig, kp[j], sizeof(k)) != 0) {
						h->reused++;
						break;
					}
			}
		}
		rte_rcu_qsbr_quiescent(h->qs, h->id);
	}
	rte_rcu_qsbr_thread_offline(h->qs, h->id);
	rte_rcu_qsbr_thread_unregister(h->qs, h->id);
	return NULL;
}

struct held_replacer {
	struct psw_ct *ct;
	pthread_barrier_t *barrier;
	volatile unsigned *round;
	uint64_t t0;
	unsigned won, lost, other;
	int leader;
};

static void *
held_replace_loop(void *arg)
{
	struct held_replacer *w = arg;
	uint64_t hz = rte_get_tsc_hz();
	unsigned r, i;

	for (r = 0; r < HELD_ROUNDS; r++) {
		for (i = 0; i < HELD_FLOWS; i++) {
			struct psw_ct_key o = held_orig(i, r), rk = held_reply(i);
			int rc = psw_ct_insert(w->ct, &o, &rk, 0, 0, PSW_CT_F_DNAT, w->t0 + r * 31 * hz);

			if (rc >= 0)
				w->won++;
			else if (rc == -EEXIST)
				w->lost++;
			else
				w->other++;
		}
		pthread_barrier_wait(w->barrier);
		if (w->leader)
			*w->round = r;
		pthread_barrier_wait(w->barrier);
	}
	return NULL;
}

/*
 * Workers that found an entry read it until their quiescent report, while
 * two other workers open, round after round, flows whose reply tuple the
 * last round's (expired) entries hold, and the control thread sweeps and
 * frees. An entry removed by a worker's insert, or by the sweep, must not
 * be given to another flow before every reader has reported: a reader never
 * sees the key it looked up change under it.
 */
static void
readers_keep_entries_round(unsigned *held_out, unsigned *reused_out)
{
	size_t sz = rte_rcu_qsbr_get_memsize(2);
	struct rte_rcu_qsbr *qs = rte_zmalloc("ut_qs", sz, RTE_CACHE_LINE_SIZE);
	struct psw_ct *ct;
	volatile unsigned round = 0;
	volatile int stop = 0;
	pthread_barrier_t barrier;
	struct holder h[2];
	struct held_replacer w[2];
	pthread_t th[4];
	unsigned i, held = 0, reused = 0;
	uint64_t hz = rte_get_tsc_hz();

	CU_ASSERT_PTR_NOT_NULL_FATAL(qs);
	CU_ASSERT_FATAL(rte_rcu_qsbr_init(qs, 2) == 0);
	ct = psw_ct_create(1024, SOCKET_ID_ANY, qs);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ct);
	pthread_barrier_init(&barrier, NULL, 2);
	for (i = 0; i < 2; i++) {
		h[i] = (struct holder){ .ct = ct, .qs = qs, .id = i, .round = &round, .stop = &stop };
		w[i] = (struct held_replacer){ .ct = ct, .barrier = &barrier, .round = &round, .leader = i == 0,
					       .t0 = rte_rdtsc() - (HELD_ROUNDS * 31 + 100) * hz };
		CU_ASSERT_FATAL(pthread_create(&th[i], NULL, hold_loop, &h[i]) == 0);
	}
	for (i = 0; i < 2; i++)
		CU_ASSERT_FATAL(pthread_create(&th[2 + i], NULL, held_replace_loop, &w[i]) == 0);
	while (round + 1 < HELD_ROUNDS) {
		psw_ct_expire(ct, ct->size / 4, false);
		usleep(50);
	}
	for (i = 2; i < 4; i++)
		pthread_join(th[i], NULL);
	stop = 1;
	for (i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		held += h[i].held;
		reused += h[i].reused;
	}
	pthread_barrier_destroy(&barrier);
	*held_out = held;
	*reused_out = reused;
	CU_ASSERT(ct->expired_lookup > 0);
	psw_ct_expire(ct, ct->size, true);
	psw_ct_expire(ct, ct->size, true);
	CU_ASSERT_EQUAL(psw_ct_count(ct), 0);
	CU_ASSERT_EQUAL(rte_ring_count(ct->free), ct->size);
	psw_ct_destroy(ct);
	rte_free(qs);
}

static void
test_ct_readers_keep_entries_removed_by_workers(void)
{
	unsigned held = 0, reused = 0, attempt;

	/*
	 * On two CPUs the readers may not be scheduled before the replacers have
	 * run all their rounds (then they held nothing and proved nothing): the
	 * scenario runs again, a few times at most, until they have held some.
	 */
	for (attempt = 0; attempt < 5 && held == 0; attempt++) {
		readers_keep_entries_round(&held, &reused);
		CU_ASSERT_EQUAL(reused, 0);
	}
	CU_ASSERT(held > 0);
}

/* CRC32c register update, bit by bit, from init, no inversions: rte_hash_crc's definition. */
static uint32_t
crc32c_raw(const void *data, unsigned len, uint32_t crc)
{
	const uint8_t *p = data;
	unsigned i, b;

	for (i = 0; i < len; i++) {
		crc ^= p[i];
		for (b = 0; b < 8; b++)
			crc = (crc >> 1) ^ (0x82f63b78 & (0u - (crc & 1)));
	}
	return crc;
}

/* A way of the worker cache that names lookup k's set. */
static void
cache_point(struct psw_ct_cache *c, const struct psw_ct_key *k, uint32_t hit)
{
	uint32_t sig = psw_ct_hash(k, sizeof(*k), 0);

	c->way[sig & (PSW_CT_CACHE_SETS - 1)][0].sig = sig;
	c->way[sig & (PSW_CT_CACHE_SETS - 1)][0].hit1 = hit + 1;
}

static uint32_t
cached(struct psw_ct *ct, struct psw_ct_cache *c, const struct psw_ct_key *k)
{
	uint32_t hit;

	psw_ct_lookup_cached(ct, c, &k, 1, &hit);
	return hit;
}

static void
test_ct_worker_cache(void)
{
	struct psw_ct *ct = psw_ct_create(1024, SOCKET_ID_ANY, qsbr);
	struct psw_ct_cache *c = calloc(1, sizeof(*c));
	struct psw_ct_key o = key4(0x0af40002, 0x0a600010, 40000, 80, IPPROTO_TCP), r, o2, r2;
	const struct psw_ct_key *kp[4];
	uint32_t hits[4];
	unsigned i;
	int a, b;

	CU_ASSERT_PTR_NOT_NULL_FATAL(ct);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	/* the table's hash is CRC32c as rte_hash_crc defines it, whichever way it is computed */
	for (i = 0; i < 64; i++) {
		struct psw_ct_key k = key4(0x0af40000 + i * 7919, 0x0a600010 + i, (uint16_t)(i * 31), 80,
					   i & 1 ? IPPROTO_UDP : IPPROTO_TCP);

		CU_ASSERT_EQUAL(psw_ct_hash(&k, sizeof(k), 0), crc32c_raw(&k, sizeof(k), 0));
		CU_ASSERT_EQUAL(psw_ct_hash(&k, sizeof(k), 77), crc32c_raw(&k, sizeof(k), 77));
		CU_ASSERT_EQUAL(psw_ct_hash(&k, sizeof(k), 77), rte_hash_crc(&k, sizeof(k), 77));
	}
	r = key4(0x0af40009, 0x0af40002, 8080, 40000, IPPROTO_TCP);
	o2 = key4(0x0af40003, 0x0a600010, 40001, 80, IPPROTO_TCP);
	r2 = key4(0x0af40009, 0x0af40003, 8080, 40001, IPPROTO_TCP);
	a = psw_ct_insert(ct, &o, &r, 1, 0, PSW_CT_F_DNAT, rte_rdtsc());
	b = psw_ct_insert(ct, &o2, &r2, 1, 0, PSW_CT_F_DNAT, rte_rdtsc());
	CU_ASSERT_FATAL(a >= 0 && b >= 0 && a != b);
	/* a burst: both directions, a miss, twice (filled by the first) */
	kp[0] = &o;
	kp[1] = &r;
	kp[2] = &o2;
	r2.sport ^= 1;
	kp[3] = &r2;
	for (i = 0; i < 2; i++) {
		psw_ct_lookup_cached(ct, c, kp, 4, hits);
		CU_ASSERT_EQUAL(hits[0], (uint32_t)a | PSW_CT_DIR_ORIG);
		CU_ASSERT_EQUAL(hits[1], (uint32_t)a | PSW_CT_DIR_REPLY);
		CU_ASSERT_EQUAL(hits[2], (uint32_t)b | PSW_CT_DIR_ORIG);
		CU_ASSERT_EQUAL(hits[3], UINT32_MAX);
	}
	r2.sport ^= 1;
	/* the burst filled o's way, and the cache answers on its own: with o's key
	 * taken out of the hash (the entry still in use), only the way finds it */
	{
		uint32_t sig = psw_ct_hash(&o, sizeof(o), 0), w, filled = 0;

		for (w = 0; w < PSW_CT_CACHE_WAYS; w++)
			filled += c->way[sig & (PSW_CT_CACHE_SETS - 1)][w].sig == sig &&
				  c->way[sig & (PSW_CT_CACHE_SETS - 1)][w].hit1 == (uint32_t)a + 1;
		CU_ASSERT_EQUAL(filled, 1);
		CU_ASSERT_FATAL(rte_hash_del_key(ct->hash, &o) >= 0);
		psw_ct_lookup(ct, kp, 1, hits);
		CU_ASSERT_EQUAL(hits[0], UINT32_MAX);
		CU_ASSERT_EQUAL(cached(ct, c, &o), (uint32_t)a);
		CU_ASSERT_FATAL(rte_hash_add_key_data(ct->hash, &o, (void *)(uintptr_t)a) >= 0);
	}
	/* a way naming another connection's entry, the wrong direction, or an
	 * index past the table is not trusted: the hash answers */
	cache_point(c, &o, (uint32_t)b);
	CU_ASSERT_EQUAL(cached(ct, c, &o), (uint32_t)a);
	cache_point(c, &o, (uint32_t)a | PSW_CT_DIR_REPLY);
	CU_ASSERT_EQUAL(cached(ct, c, &o), (uint32_t)a);
	cache_point(c, &o, 1u << 30);
	CU_ASSERT_EQUAL(cached(ct, c, &o), (uint32_t)a);
	{       /* a key the table does not hold, its way naming a live entry: a miss */
		struct psw_ct_key u = key4(0x0af40004, 0x0a600010, 40002, 80, IPPROTO_TCP);

		cache_point(c, &u, (uint32_t)a | PSW_CT_DIR_REPLY);
		CU_ASSERT_EQUAL(cached(ct, c, &u), UINT32_MAX);
		cache_point(c, &u, (uint32_t)a);
		CU_ASSERT_EQUAL(cached(ct, c, &u), UINT32_MAX);
	}
	/* after expiry the cached ways lead nowhere */
	CU_ASSERT_EQUAL(cached(ct, c, &o), (uint32_t)a);
	CU_ASSERT_EQUAL(psw_ct_expire(ct, 1024, true), 2);
	CU_ASSERT_EQUAL(cached(ct, c, &o), UINT32_MAX);
	CU_ASSERT_EQUAL(cached(ct, c, &r), UINT32_MAX);
	/* the same key opened again, in whatever entry, is found again */
	a = psw_ct_insert(ct, &o, &r, 1, 0, PSW_CT_F_DNAT, rte_rdtsc());
	CU_ASSERT_FATAL(a >= 0);
	CU_ASSERT_EQUAL(cached(ct, c, &o), (uint32_t)a);
	CU_ASSERT_EQUAL(cached(ct, c, &o2), UINT32_MAX);
	free(c);
	psw_ct_destroy(ct);
}

/* Full checksums of a packet after NAT: IPv4 header and L4. */
static void
check_checksums(struct rte_mbuf *m, int ip6, uint8_t proto)
{
	uint8_t *l3 = rte_pktmbuf_mtod_offset(m, uint8_t *, 14);
	uint8_t *l4 = l3 + (ip6 ? 40 : 20);
	unsigned l4len = rte_pktmbuf_data_len(m) - 14 - (ip6 ? 40 : 20);

	if (!ip6) {
		CU_ASSERT_EQUAL(rte_raw_cksum(l3, 20), 0xffff);
		if (proto == IPPROTO_ICMP) {
			CU_ASSERT_EQUAL(rte_raw_cksum(l4, l4len), 0xffff);
		} else {
			/* summing a correct checksum in gives all ones */
			CU_ASSERT_EQUAL(__rte_ipv4_udptcp_cksum((struct rte_ipv4_hdr *)l3, l4), 0xffff);
		}
	} else {
		CU_ASSERT_EQUAL(tpkt_ip6_cksum_verify((struct rte_ipv6_hdr *)l3, l4), 0);
	}
}

static void
test_nat_checksums(void)
{
	static const uint8_t protos[] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP };
	uint8_t new4[16] = { 10, 244, 0, 77 }, new6[16] = { 0xfd, 0, [15] = 0x77 };
	unsigned v, k;

	for (v = 0; v < 2; v++) {
		for (k = 0; k < 3; k++) {
			struct tpkt p;
			struct psw_meta meta = { .in_port = 0 };
			struct rte_mbuf *m;
			uint16_t port = rte_cpu_to_be_16(31337);

			tpkt_defaults(&p);
			p.ip6 = (int)v;
			p.proto = v && protos[k] == IPPROTO_ICMP ? IPPROTO_ICMPV6 : protos[k];
			p.icmp_type = v ? 128 : 8;
			p.src4 = 0x0af40002;
			p.dst4 = 0x0a600010;
			p.src6[0] = 0xfd;
			p.src6[15] = 2;
			p.dst6[0] = 0xfd;
			p.dst6[15] = 0x10;
			m = tpkt_build(mp, &p);
			psw_parse_one(m, &meta);
			CU_ASSERT_EQUAL_FATAL(meta.verdict, PSW_V_CONTINUE);
			/* DNAT then SNAT, as a hairpin connection gets */
			psw_nat_rewrite(m, &meta, 1, v ? new6 : new4, port);
			psw_nat_rewrite(m, &meta, 0, v ? new6 : new4, port);
			check_checksums(m, (int)v, p.proto);
			if (p.proto == IPPROTO_TCP || p.proto == IPPROTO_UDP) {
				CU_ASSERT_EQUAL(meta.dport, port);
				CU_ASSERT_EQUAL(*rte_pktmbuf_mtod_offset(m, uint16_t *, 14 + (v ? 40 : 20) + 2), port);
			} else {
				CU_ASSERT_EQUAL(*rte_pktmbuf_mtod_offset(m, uint16_t *, 14 + (v ? 40 : 20) + 4), port);
			}
			CU_ASSERT(memcmp(v ? (void *)meta.dst6 : (void *)&meta.dst4, v ? new6 : new4, v ? 16 : 4) == 0);
			rte_pktmbuf_free(m);
		}
	}
	/* UDP over IPv4 without a checksum keeps none */
	{
		struct tpkt p;
		struct psw_meta meta = { .in_port = 0 };
		struct rte_mbuf *m;

		tpkt_defaults(&p);
		p.src4 = 1;
		p.dst4 = 2;
		m = tpkt_build(mp, &p);
		*rte_pktmbuf_mtod_offset(m, uint16_t *, 14 + 20 + 6) = 0;
		psw_parse_one(m, &meta);
		psw_nat_rewrite(m, &meta, 1, new4, rte_cpu_to_be_16(99));
		CU_ASSERT_EQUAL(*rte_pktmbuf_mtod_offset(m, uint16_t *, 14 + 20 + 6), 0);
		CU_ASSERT_EQUAL(rte_raw_cksum(rte_pktmbuf_mtod_offset(m, void *, 14), 20), 0xffff);
		rte_pktmbuf_free(m);
	}
	/* every destination port, IPv4 and IPv6 UDP: the checksum stays right and
	 * is never 0 (which means "none"); one of these ports computes to 0 */
	for (v = 0; v < 2; v++) {
		struct tpkt p;
		struct psw_meta meta = { .in_port = 0 };
		struct rte_mbuf *m;
		unsigned port, bad = 0, zero = 0;
		uint8_t *l3, *l4;

		tpkt_defaults(&p);
		p.ip6 = (int)v;
		p.src4 = 0x0af40002;
		p.dst4 = 0x0a600010;
		p.src6[0] = p.dst6[0] = 0xfd;
		p.dst6[15] = 0x10;
		m = tpkt_build(mp, &p);
		psw_parse_one(m, &meta);
		l3 = rte_pktmbuf_mtod_offset(m, uint8_t *, 14);
		l4 = l3 + (v ? 40 : 20);
		for (port = 0; port < 65536; port++) {
			psw_nat_rewrite(m, &meta, 1, v ? new6 : new4, rte_cpu_to_be_16((uint16_t)port));
			zero += l4[6] == 0 && l4[7] == 0;
			if (v ? tpkt_ip6_cksum_verify((struct rte_ipv6_hdr *)l3, l4) != 0
			      : __rte_ipv4_udptcp_cksum((struct rte_ipv4_hdr *)l3, l4) != 0xffff)
				bad++;
		}
		CU_ASSERT_EQUAL(bad, 0);
		CU_ASSERT_EQUAL(zero, 0);
		rte_pktmbuf_free(m);
	}
}

/* CRC32c as SCTP uses it (RFC 3720): the register from all ones, inverted at the end. */
static uint32_t
crc32c_ref(const uint8_t *p, unsigned len)
{
	return ~crc32c_raw(p, len, 0xffffffff);
}

static void
test_nat_sctp_crc(void)
{
	struct tpkt p;
	struct psw_meta meta = { .in_port = 0 };
	struct rte_mbuf *m;
	uint8_t *sctp, new4[16] = { 10, 244, 0, 99 }, want[4];
	unsigned len = 12 + 16;
	uint32_t crc;

	tpkt_defaults(&p);
	p.proto = IPPROTO_SCTP;
	p.src4 = 0x0af4000a;
	p.dst4 = 0x0a600010;
	p.payload = (uint16_t)(len - 8);          /* tpkt counts 8 header bytes for SCTP */
	m = tpkt_build(mp, &p);
	sctp = rte_pktmbuf_mtod_offset(m, uint8_t *, 14 + 20);
	memset(sctp, 0, len);
	sctp[0] = 0x9c; sctp[1] = 0x40;            /* source port 40000 */
	sctp[2] = 0x00; sctp[3] = 0x50;            /* destination port 80 */
	sctp[4] = 0xde; sctp[5] = 0xad; sctp[6] = 0xbe; sctp[7] = 0xef;   /* verification tag */
	sctp[12] = 1;                              /* an INIT chunk header and some body */
	sctp[15] = 16;
	crc = crc32c_ref(sctp, len);
	sctp[8] = (uint8_t)crc; sctp[9] = (uint8_t)(crc >> 8);
	sctp[10] = (uint8_t)(crc >> 16); sctp[11] = (uint8_t)(crc >> 24);
	psw_parse_one(m, &meta);
	CU_ASSERT_EQUAL_FATAL(meta.verdict, PSW_V_CONTINUE);
	psw_nat_rewrite(m, &meta, 1, new4, rte_cpu_to_be_16(8080));
	CU_ASSERT_EQUAL(sctp[2], 0x1f);
	CU_ASSERT_EQUAL(sctp[3], 0x90);
	memcpy(want, sctp + 8, 4);
	memset(sctp + 8, 0, 4);
	crc = crc32c_ref(sctp, len);
	CU_ASSERT_EQUAL(want[0], (uint8_t)crc);
	CU_ASSERT_EQUAL(want[1], (uint8_t)(crc >> 8));
	CU_ASSERT_EQUAL(want[2], (uint8_t)(crc >> 16));
	CU_ASSERT_EQUAL(want[3], (uint8_t)(crc >> 24));
	CU_ASSERT_EQUAL(rte_raw_cksum(rte_pktmbuf_mtod_offset(m, void *, 14), 20), 0xffff);
	/* the same packet in two segments (the chunk's body in the second): the
	 * CRC covers both */
	{
		struct rte_mbuf *tail = rte_pktmbuf_alloc(mp);
		uint8_t whole[12 + 16], *t2;

		CU_ASSERT_PTR_NOT_NULL_FATAL(tail);
		sctp[2] = 0x00; sctp[3] = 0x50;    /* back to port 80, CRC made for it */
		memset(sctp + 8, 0, 4);
		crc = crc32c_ref(sctp, len);
		sctp[8] = (uint8_t)crc; sctp[9] = (uint8_t)(crc >> 8);
		sctp[10] = (uint8_t)(crc >> 16); sctp[11] = (uint8_t)(crc >> 24);
		t2 = (uint8_t *)rte_pktmbuf_append(tail, 12);
		CU_ASSERT_PTR_NOT_NULL_FATAL(t2);
		memcpy(t2, sctp + 16, 12);
		rte_pktmbuf_trim(m, 12);
		CU_ASSERT_FATAL(rte_pktmbuf_chain(m, tail) == 0);
		memset(&meta, 0, sizeof(meta));
		psw_parse_one(m, &meta);
		CU_ASSERT_EQUAL_FATAL(meta.verdict, PSW_V_CONTINUE);
		psw_nat_rewrite(m, &meta, 1, new4, rte_cpu_to_be_16(8080));
		memcpy(whole, rte_pktmbuf_read(m, 14 + 20, len, whole), len);
		CU_ASSERT_EQUAL(whole[3], 0x90);
		memcpy(want, whole + 8, 4);
		memset(whole + 8, 0, 4);
		crc = crc32c_ref(whole, len);
		CU_ASSERT_EQUAL(want[0], (uint8_t)crc);
		CU_ASSERT_EQUAL(want[1], (uint8_t)(crc >> 8));
		CU_ASSERT_EQUAL(want[2], (uint8_t)(crc >> 16));
		CU_ASSERT_EQUAL(want[3], (uint8_t)(crc >> 24));
	}
	rte_pktmbuf_free(m);
}

/*
 * ICMP's errors and echoes each in their own family: IPv4 carrying
 * protocol 58, or IPv6 carrying protocol 1, is neither an error quoting a
 * connection nor an echo to track (their types mean other things there).
 */
static void
test_ct_icmp_families(void)
{
	static const struct {
		uint8_t l3, proto, type;
		bool error, track;
	} cases[] = {
		{ PSW_L3_IPV4, IPPROTO_ICMP, 3, true, false },
		{ PSW_L3_IPV4, IPPROTO_ICMP, 11, true, false },
		{ PSW_L3_IPV4, IPPROTO_ICMP, 8, false, true },
		{ PSW_L3_IPV4, IPPROTO_ICMP, 0, false, true },
		{ PSW_L3_IPV4, IPPROTO_ICMP, 128, false, false },
		{ PSW_L3_IPV4, IPPROTO_ICMPV6, 1, false, false },
		{ PSW_L3_IPV4, IPPROTO_ICMPV6, 2, false, false },
		{ PSW_L3_IPV4, IPPROTO_ICMPV6, 128, false, false },
		{ PSW_L3_IPV6, IPPROTO_ICMPV6, 1, true, false },
		{ PSW_L3_IPV6, IPPROTO_ICMPV6, 4, true, false },
		{ PSW_L3_IPV6, IPPROTO_ICMPV6, 128, false, true },
		{ PSW_L3_IPV6, IPPROTO_ICMPV6, 129, false, true },
		{ PSW_L3_IPV6, IPPROTO_ICMP, 3, false, false },
		{ PSW_L3_IPV6, IPPROTO_ICMP, 8, false, false },
	};
	unsigned i;

	for (i = 0; i < RTE_DIM(cases); i++) {
		struct psw_meta m = { .l3 = cases[i].l3, .l4_proto = cases[i].proto, .flags = PSW_F_L4,
				      .dport = (uint16_t)(cases[i].type << 8) };
		struct psw_ct_key k;

		if (psw_is_icmp_error(&m) != cases[i].error || psw_ct_trackable(&m) != cases[i].track ||
		    psw_ct_key_of(&m, &k) != cases[i].track) {
			fprintf(stderr, "\n  family %u protocol %u type %u\n", cases[i].l3, cases[i].proto,
				cases[i].type);
			CU_FAIL("ICMP taken in the wrong family");
		}
	}
}

int
main(void)
{
	CU_pSuite s;
	unsigned failures;

	mp = psw_ut_eal("ct", 1024);
	if (mp == NULL)
		return 1;
	qsbr = psw_tables_qsbr();
	CU_initialize_registry();
	s = CU_add_suite("conntrack", NULL, NULL);
	CU_add_test(s, "insert, lookup both ways, clash, full table", test_ct_insert_lookup_clash_full);
	CU_add_test(s, "ICMP errors and echoes only in their own family", test_ct_icmp_families);
	CU_add_test(s, "TCP state machine and timeouts", test_ct_tcp_states);
	CU_add_test(s, "TCP sequence windows", test_ct_tcp_window);
	CU_add_test(s, "TCP windows: blind SYN, SYN+RST, FIN, port reuse", test_ct_tcp_window_syn_and_reuse);
	CU_add_test(s, "loose pick-up: blind RSTs refused", test_ct_loose_blind_rst);
	CU_add_test(s, "loose pick-up seen one way only: gone after 30 s", test_ct_loose_one_way_expires);
	CU_add_test(s, "UDP replies, flush by backend", test_ct_udp_and_flush);
	CU_add_test(s, "worker cache: hits, stale ways, expiry", test_ct_worker_cache);
	CU_add_test(s, "expiry never retires an entry stamped after its clock read", test_ct_expiry_races_stamps);
	CU_add_test(s, "two workers racing to insert the same flows", test_ct_two_workers_race_inserts);
	CU_add_test(s, "an entry idle past its timeout counts as gone; its insert removes it",
		    test_ct_expired_counts_as_gone);
	CU_add_test(s, "timeouts at lookup: TCP by state, loose pick-up, affinity record's own",
		    test_ct_expired_by_state_and_own_timeout);
	CU_add_test(s, "two workers replace expired entries while the sweep removes them",
		    test_ct_workers_replace_expired_while_sweeping);
	CU_add_test(s, "the sweep and a worker remove the same expired entry: once",
		    test_ct_sweep_and_worker_remove_the_same_entry);
	CU_add_test(s, "a worker removes an entry it found obsolete: once, never its successor",
		    test_ct_remove_by_worker);
	CU_add_test(s, "readers keep the entries workers and the sweep remove until they report",
		    test_ct_readers_keep_entries_removed_by_workers);
	CU_add_test(s, "NAT keeps IPv4/IPv6 TCP/UDP/ICMP checksums valid", test_nat_checksums);
	CU_add_test(s, "SCTP port translation recomputes the CRC32c", test_nat_sctp_crc);
	failures = (unsigned)psw_ut_run();
	psw_ut_eal_fini();
	return failures ? 1 : 0;
}
