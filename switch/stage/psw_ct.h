/*
 * Connection tracking: the one table workers write.
 *
 * A connection is one entry (in a preallocated array) reached by two keys in
 * a lock-free rte_hash: the tuple of its original direction and the tuple of
 * its reply direction (after NAT). A lookup is lock-free; inserts from
 * several workers serialise inside rte_hash on a writer lock, held for one
 * key insertion. Either direction may arrive on any worker: entries are
 * shared, their state and last-seen time updated with atomic operations.
 * An entry idle past its timeout counts as gone the moment it is looked up
 * (psw_ct_expired), whatever the expiry sweep has reached: callers treat it
 * as a miss, and the insert of the new connection removes it (under the
 * writers' lock, as the sweep would). The sweep runs on the control thread
 * (psw_ct_expire): it deletes the keys of idle entries; every removed entry,
 * whoever removed it, is freed by the control thread after an RCU grace
 * period, so a worker that found an entry may use it until its next
 * quiescent report.
 *
 * Every entry belongs to a zone: the port its first packet came in on.
 * A zone may hold at most zone_max entries (a pod cannot fill the table
 * for the others: its new connections beyond that are refused, counted
 * "ct_port_limit"). When the table is full a new connection is refused
 * (dropped, counted "ct_full"); established ones are untouched. Under
 * pressure (less than an eighth free) expiry drops unanswered entries
 * early (PSW_CT_EARLY_S) and scans faster.
 *
 * Thread-safety: psw_ct_lookup / psw_ct_lookup_cached (with the worker's own
 * cache) / psw_ct_insert / psw_ct_remove / psw_ct_update from workers;
 * psw_ct_create / psw_ct_expire / psw_ct_dump / psw_ct_destroy from the
 * control thread only.
 */
#ifndef PSW_CT_H
#define PSW_CT_H

#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <rte_common.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>
#include <rte_spinlock.h>
#include <rte_tcp.h>

#include "psw_pkt.h"
#include "psw_stage.h"

/** A flow's tuple as seen on the wire in one direction. 40 bytes. */
struct psw_ct_key {
	uint8_t family;          /**< 4 or 6 */
	uint8_t proto;           /**< IPPROTO_* */
	uint16_t sport;          /**< network order; ICMP echo: identifier */
	uint16_t dport;          /**< network order; ICMP echo: its type (psw_ct_echo_reverse) */
	uint16_t pad;
	uint8_t src[16];         /**< IPv4 in the first 4 bytes, rest zero */
	uint8_t dst[16];
} __rte_aligned(8);              /* rte_hash_crc reads 8 bytes at a time */

_Static_assert(sizeof(struct psw_ct_key) == 40, "conntrack key layout");

/**
 * The table's hash of a key: CRC32c over its five 8-byte words, the value
 * rte_hash_crc() gives, without that function's per-word test of which CRC
 * instruction the CPU has (a fifth of a lookup's instructions). len and the
 * alignment are the key's; the signature is rte_hash_function's.
 */
static inline uint32_t
psw_ct_hash(const void *key, uint32_t len, uint32_t init)
{
#if defined(RTE_ARCH_X86_64) && defined(__SSE4_2__)
	const uint64_t *w = key;

	RTE_SET_USED(len);
	return (uint32_t)__builtin_ia32_crc32di(__builtin_ia32_crc32di(__builtin_ia32_crc32di(
		__builtin_ia32_crc32di(__builtin_ia32_crc32di(init, w[0]), w[1]), w[2]), w[3]), w[4]);
#else
	return rte_hash_crc(key, len, init);
#endif
}

enum psw_ct_state {
	PSW_CT_NEW = 0,          /**< first packet seen (TCP: SYN sent) */
	PSW_CT_SYN_RECV,         /**< TCP: SYN-ACK from the reply side */
	PSW_CT_ESTABLISHED,      /**< TCP: handshake done; UDP/ICMP: reply seen */
	PSW_CT_FIN_WAIT,         /**< TCP: one side sent FIN */
	PSW_CT_CLOSING,          /**< TCP: both sides sent FIN */
	PSW_CT_CLOSED,           /**< TCP: RST seen */
	PSW_CT_NB_STATES
};

/* entry flags */
#define PSW_CT_F_DNAT   0x01     /**< original direction: destination rewritten */
#define PSW_CT_F_SNAT   0x02     /**< original direction: source rewritten (masquerade, hairpin, a reply port taken) */
#define PSW_CT_F_FIN_O  0x04     /**< FIN seen from the original side */
#define PSW_CT_F_FIN_R  0x08     /**< FIN seen from the reply side */
#define PSW_CT_F_POLICY 0x10     /**< opened by the policy stage (a pod-to-pod flow) */
#define PSW_CT_F_DENY_IN 0x20    /**< denied by ingress policy: dropped until removed */
#define PSW_CT_F_DENY_EG 0x40    /**< denied by egress policy: dropped until removed */
#define PSW_CT_F_LOOSE  0x80     /**< TCP picked up mid-stream: windows not tracked */

/** One connection. 128 bytes, two cache lines. */
struct psw_ct_entry {
	struct psw_ct_key orig;          /**< as the client sent it */
	struct psw_ct_key reply;         /**< as the reply arrives (after NAT) */
	uint64_t last_seen;              /**< TSC, any direction (atomic store) */
	uint32_t svc;                    /**< service port index + 1, 0 = none */
	uint16_t backend;                /**< backend index within the service port */
	uint8_t wscale[2];               /**< TCP window scale offered by each direction, 0x80 = offered */
	uint8_t state;                   /**< enum psw_ct_state (atomic) */
	uint8_t flags;                   /**< PSW_CT_F_* (atomic or) */
	uint8_t in_use;
	uint8_t win_known;               /**< bit per direction: td_end is set; PSW_CT_REPLIED */
	union {
		uint32_t timeout_s;      /**< affinity records: idle timeout in seconds */
		uint16_t pol[2];         /**< policy slot + 1 that allowed [ingress, egress]; 0 = not isolated */
	};
	uint32_t pol_gen;                /**< policy generation of its verdict */
	uint16_t zone;                   /**< port its first packet came in on (PSW_CT_ZONE_ANY: none) */
	uint16_t cslot;                  /**< its Service's counter slot (psw_svc_counts), 0 = none (atomic) */
	uint32_t td_end[2];              /**< TCP: highest sequence end sent, per direction */
	uint32_t td_maxwin[2];           /**< TCP: largest (scaled) window advertised, per direction */
} __rte_aligned(64);

_Static_assert(sizeof(struct psw_ct_entry) == 128, "a connection is two cache lines");

/* win_known: a packet of the reply direction was seen (LOOSE entries only) */
#define PSW_CT_REPLIED  0x04

/* Direction of a key: bit 0 of the hash data. */
#define PSW_CT_DIR_ORIG  0
#define PSW_CT_DIR_REPLY 1

struct psw_ct_retired;

/* No timeout is shorter (Kubernetes' least timeoutSeconds): psw_ct_expired's fast test. */
#define PSW_CT_MIN_TIMEOUT_S 1

/* A TCP flow picked up mid-stream, seen one way only: as long as an unanswered UDP flow. */
#define PSW_CT_LOOSE_UNREPLIED_S 30

/* Zones: a port index, or PSW_CT_ZONE_ANY for entries nobody's port owns (no limit). */
#define PSW_CT_NB_ZONES  (PSW_MAX_PORTS + 1)
#define PSW_CT_ZONE_ANY  PSW_MAX_PORTS

/* Under pressure, an entry that has seen no answer goes after this many seconds. */
#define PSW_CT_EARLY_S   2

struct psw_ct {
	struct rte_hash *hash;           /**< key -> (index << 1 | dir) */
	/**
	 * Every hash writer: inserts and removals of expired entries (workers),
	 * deletes (control thread). Under it, an entry whose keys are in the
	 * hash is in use, and only its holder clears in_use and deletes them.
	 */
	rte_spinlock_t write_lock;
	struct rte_rcu_qsbr *qsbr;
	struct psw_ct_entry *entries;
	struct rte_ring *free;           /**< free entry indices (MP/MC) */
	struct rte_ring *doomed;         /**< entries denied by policy, to remove (MP/SC) */
	/** entries workers removed (keys deleted), for the control thread to free after a
	 *  grace period: struct psw_ct_gone, enqueued under write_lock (SP/SC) */
	struct rte_ring *gone;
	uint32_t size;
	uint64_t tsc_hz;
	uint64_t timeout_tsc[4][PSW_CT_NB_STATES]; /**< by protocol class, by state */
	/* expiry (control thread) */
	uint32_t scan_pos;
	struct psw_ct_retired *retired;  /**< deleted, waiting for a grace period */
	uint32_t nb_retired, cap_retired, retired_head;
	uint64_t expired, flushed, early;
	/* counted by workers (atomic add); expired_lookup: removed by an insert, found expired */
	uint64_t inserts, full, clashes, zone_full, expired_lookup;
	uint32_t zone_max;               /**< entries a zone may hold; UINT32_MAX = no limit */
	uint32_t zone_count[PSW_CT_NB_ZONES]; /**< entries held (taken until freed), atomic */
	/* Service counter slots (control thread): a slot is given to another
	 * Service only once a whole pass of expiry found no entry counting to it */
	uint32_t passes;                 /**< expiry passes over the whole table begun */
	uint32_t slot_seen[PSW_SVC_MAX_SLOTS]; /**< the last pass that found an entry of the slot */
};

/*
 * Session affinity records live in the same table: protocol
 * PSW_CT_PROTO_AFFINITY, original key (Service port id in the ports, client
 * address as source, Service address as destination), the chosen backend
 * in the reply key's source address and port, and the Service's
 * timeoutSeconds as the entry's timeout.
 */
#define PSW_CT_PROTO_AFFINITY 0xfe

/** Protocol class for timeouts. */
enum { PSW_CT_TCP, PSW_CT_UDP, PSW_CT_ICMP, PSW_CT_OTHER };

/** An entry removed by a worker, waiting for the control thread (psw_ct.gone). */
struct psw_ct_gone {
	uint32_t idx;
	int32_t pos[2];                  /**< its keys' positions in the hash, to free; < 0: none */
	uint32_t spare;
};

static inline unsigned
psw_ct_proto_class(uint8_t proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return PSW_CT_TCP;
	case IPPROTO_UDP:
	case IPPROTO_SCTP:
		return PSW_CT_UDP;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		return PSW_CT_ICMP;
	default:
		return PSW_CT_OTHER;
	}
}

/**
 * An entry's idle timeout in TSC cycles: an affinity record's own
 * (timeoutSeconds), 30 s for a TCP pick-up seen one way only, else its
 * protocol class and state's. (Under pressure the sweep goes earlier for
 * unanswered entries: that is eviction, decided by the sweep alone.)
 */
static inline uint64_t
psw_ct_timeout(const struct psw_ct *ct, const struct psw_ct_entry *e)
{
	uint8_t state = __atomic_load_n(&e->state, __ATOMIC_RELAXED);

	if (e->orig.proto == PSW_CT_PROTO_AFFINITY)
		return (uint64_t)RTE_MAX(e->timeout_s, (uint32_t)PSW_CT_MIN_TIMEOUT_S) * ct->tsc_hz;
	/*
	 * A pick-up is a live connection once both directions have been seen.
	 * One packet, whichever direction it is taken for (a server-side pick-up
	 * opens the entry with its first packet as the reply; a pod's frame to
	 * itself with equal ports is both), proves nothing.
	 */
	if ((__atomic_load_n(&e->flags, __ATOMIC_RELAXED) & PSW_CT_F_LOOSE) &&
	    (__atomic_load_n(&e->win_known, __ATOMIC_RELAXED) & 3) != 3)
		return (uint64_t)PSW_CT_LOOSE_UNREPLIED_S * ct->tsc_hz;
	return ct->timeout_tsc[psw_ct_proto_class(e->orig.proto)][state < PSW_CT_NB_STATES ? state : 0];
}

/**
 * Has entry e been idle past its timeout at now? Then it counts as gone,
 * whatever the expiry sweep has reached: a lookup that finds it treats the
 * packet as new, and the insert of the new connection (or affinity pick)
 * removes it. The idle time is signed: another worker may have stamped a
 * later time than this one's now. On the fast path (idle less than the
 * shortest timeout) this is one subtraction and one compare.
 */
static inline bool
psw_ct_expired(const struct psw_ct *ct, const struct psw_ct_entry *e, uint64_t now)
{
	int64_t idle = (int64_t)(now - __atomic_load_n(&e->last_seen, __ATOMIC_RELAXED));

	if (likely(idle <= (int64_t)(ct->tsc_hz * PSW_CT_MIN_TIMEOUT_S)))
		return false;
	return idle > (int64_t)psw_ct_timeout(ct, e);
}

/**
 * Key of a parsed packet (original direction = as the packet travels).
 * @return false when the packet is not tracked (no L4, non-first fragment,
 *         ICMP other than echo request / reply).
 */
bool psw_ct_key_of(const struct psw_meta *m, struct psw_ct_key *k);

/** TCP payload bytes of a parsed packet whose TCP header is th. */
static inline unsigned
psw_tcp_seg_len(const struct psw_meta *m, const struct rte_tcp_hdr *th)
{
	return m->l2_len + m->l3_payload - m->l4_off - (th->data_off >> 4) * 4u;
}

/** The packet's TCP header and payload length, or NULL when it is not TCP. */
static inline const struct rte_tcp_hdr *
psw_tcp_hdr(struct rte_mbuf *pkt, const struct psw_meta *m, unsigned *seg_len)
{
	const struct rte_tcp_hdr *th;

	if (m->l4_proto != IPPROTO_TCP || !(m->flags & PSW_F_L4))
		return NULL;
	th = rte_pktmbuf_mtod_offset(pkt, const struct rte_tcp_hdr *, m->l4_off);
	*seg_len = psw_tcp_seg_len(m, th);
	return th;
}

/**
 * An ICMP error in IPv4 or an ICMPv6 error in IPv6 that quotes the packet
 * it is about (not tracked itself). Each protocol only in its own family:
 * IPv4 carrying protocol 58 is not an error to anyone.
 */
static inline bool
psw_is_icmp_error(const struct psw_meta *m)
{
	unsigned type = m->dport >> 8;

	if (!(m->flags & PSW_F_L4) || (m->flags & PSW_F_FRAG))
		return false;
	if (m->l3 == PSW_L3_IPV4)
		return m->l4_proto == IPPROTO_ICMP && (type == 3 || type == 11 || type == 12);
	return m->l4_proto == IPPROTO_ICMPV6 && type >= 1 && type <= 4;
}

/** Would psw_ct_key_of() track this packet? (The same test, without building the key.) */
static inline bool
psw_ct_trackable(const struct psw_meta *m)
{
	unsigned type;

	if (!(m->flags & PSW_F_L4) || (m->flags & PSW_F_FRAG_LATER))
		return false;
	switch (m->l4_proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
	case IPPROTO_SCTP:
		return true;
	case IPPROTO_ICMP:                      /* echo, each in its own family */
		type = m->dport >> 8;
		return m->l3 == PSW_L3_IPV4 && (type == 8 || type == 0);
	case IPPROTO_ICMPV6:
		type = m->dport >> 8;
		return m->l3 == PSW_L3_IPV6 && (type == 128 || type == 129);
	default:
		return false;
	}
}

/*
 * ICMP echo keys carry the message type in dport (request 8 / 128, reply
 * 0 / 129), as netfilter's and Open vSwitch's do: the reverse of a request
 * is a reply, so an echo *request* from the peer with the same identifier
 * is not taken for the reply of the connection.
 */
static inline uint16_t
psw_ct_echo_reverse(uint16_t type)
{
	switch (type) {
	case 8:
		return 0;
	case 0:
		return 8;
	case 128:
		return 129;
	case 129:
		return 128;
	default:
		return type;
	}
}

/** An echo reply (ICMP 0, ICMPv6 129): it never opens a connection. */
static inline bool
psw_ct_key_echo_reply(const struct psw_ct_key *k)
{
	return (k->proto == IPPROTO_ICMP && k->dport == 0) ||
	       (k->proto == IPPROTO_ICMPV6 && k->dport == 129);
}

/** The reverse of a key (what a reply carries). */
static inline void
psw_ct_key_reverse(const struct psw_ct_key *k, struct psw_ct_key *r)
{
	r->family = k->family;
	r->proto = k->proto;
	r->pad = 0;
	if (k->proto == IPPROTO_ICMP || k->proto == IPPROTO_ICMPV6) {
		r->sport = k->sport;             /* an echo reply keeps the identifier */
		r->dport = psw_ct_echo_reverse(k->dport);
	} else {
		r->sport = k->dport;
		r->dport = k->sport;
	}
	memcpy(r->src, k->dst, 16);
	memcpy(r->dst, k->src, 16);
}

/**
 * Look up to PSW_BURST_MAX keys. hits[i] = (entry index << 1 | direction),
 * or UINT32_MAX for a miss. A hit may name an entry idle past its timeout:
 * callers treat one psw_ct_expired() says so as a miss.
 */
void psw_ct_lookup(struct psw_ct *ct, const struct psw_ct_key *keys[], unsigned n,
		   uint32_t *hits);

/**
 * A worker's own cache of the connections it met last, in front of the
 * shared hash (as Open vSwitch's exact-match cache is in front of its
 * classifier): set-associative, indexed by the key's hash, each way the
 * hash and the hit it led to. A way is a hint, never trusted: a hit counts
 * only when the entry it names is in use and holds the very key in that
 * direction. Entries are freed after an RCU grace period and written before
 * in_use is published (release), so an in-use entry read in a worker's
 * critical section has whole keys; a deleted or reused entry fails the test
 * and the lookup falls through to the hash. Nothing to invalidate: the
 * control thread never touches it. Zeroed = empty.
 */
#define PSW_CT_CACHE_SETS 8192u          /* x 2 ways = 16,384 connections, 128 KiB */
#define PSW_CT_CACHE_WAYS 2

struct psw_ct_cache {
	struct {
		uint32_t sig;            /**< psw_ct_hash of the key */
		uint32_t hit1;           /**< its hit + 1; 0 = empty */
	} way[PSW_CT_CACHE_SETS][PSW_CT_CACHE_WAYS];
};

/** psw_ct_lookup through a worker's cache (filled with what the hash finds). */
void psw_ct_lookup_cached(struct psw_ct *ct, struct psw_ct_cache *cache,
			  const struct psw_ct_key *keys[], unsigned n, uint32_t *hits);

/**
 * Insert a connection: orig and reply keys, NAT decided by the caller. An
 * entry holding either key that is expired at now (psw_ct_expired) is
 * removed first, counted in expired_lookup, and freed by the control
 * thread after a grace period.
 * @return the entry index with direction ORIG (<< 1), or
 *         -ENOSPC (table full: refuse the connection), -EDQUOT (zone, a
 *         port index, holds zone_max entries already: refuse), -EEXIST
 *         (another worker inserted it first: look it up again),
 *         -EADDRINUSE (the reply tuple belongs to another connection).
 */
int psw_ct_insert_zone(struct psw_ct *ct, const struct psw_ct_key *orig,
		       const struct psw_ct_key *reply, uint32_t svc, uint32_t backend,
		       uint8_t flags, uint16_t zone, uint64_t now);


/**
 * Remove the entry hit names now, whatever its age, as an insert removes an
 * expired one (under the writers' lock; freed by the control thread after
 * a grace period): for an entry the caller found obsolete, an affinity
 * record naming a backend that left. hit must come from the caller's own
 * lookup in this quiescent period (so the entry cannot have been reused).
 * @return 0, or -ENOENT when it is out of use already (another worker or
 *         the sweep removed it).
 */
int psw_ct_remove(struct psw_ct *ct, uint32_t hit);

/** psw_ct_insert_zone in zone PSW_CT_ZONE_ANY (tests, affinity records). */
static inline int
psw_ct_insert(struct psw_ct *ct, const struct psw_ct_key *orig, const struct psw_ct_key *reply,
	      uint32_t svc, uint32_t backend, uint8_t flags, uint64_t now)
{
	return psw_ct_insert_zone(ct, orig, reply, svc, backend, flags, PSW_CT_ZONE_ANY, now);
}

/**
 * No entry is in use or waiting to be freed (worker side, a racy read that
 * errs towards "not empty"): then no packet can belong to a connection. An
 * entry is taken from the free ring before anything can refer to it, and
 * goes back only after its grace period.
 */
static inline bool
psw_ct_empty(const struct psw_ct *ct)
{
	return rte_ring_count(ct->free) == ct->size;
}

/** The drop reason of a failed psw_ct_insert. */
static inline enum psw_drop_reason
psw_ct_insert_drop(int rc)
{
	return rc == -ENOSPC ? PSW_DROP_CT_FULL : rc == -EDQUOT ? PSW_DROP_CT_PORT_LIMIT : PSW_DROP_CT_CLASH;
}

/** PSW_DROP_NONE, or why a connection the policy stage denied drops its packets. */
static inline enum psw_drop_reason
psw_ct_denied(const struct psw_ct_entry *e)
{
	uint8_t f = e->flags;

	if (likely(!(f & (PSW_CT_F_DENY_IN | PSW_CT_F_DENY_EG))))
		return PSW_DROP_NONE;
	return f & PSW_CT_F_DENY_IN ? PSW_DROP_POLICY_INGRESS : PSW_DROP_POLICY_EGRESS;
}

/**
 * A connection the policy stage denied (dir: PSW_POL_INGRESS 0 / EGRESS 1):
 * its packets are dropped from now on, and the control thread removes it
 * at its next expiry pass (so a later allow takes effect for a retry).
 */
static inline void
psw_ct_deny(struct psw_ct *ct, uint32_t hit, unsigned dir)
{
	struct psw_ct_entry *e = &ct->entries[hit >> 1];

	__atomic_or_fetch(&e->flags, dir == 0 ? PSW_CT_F_DENY_IN : PSW_CT_F_DENY_EG, __ATOMIC_RELAXED);
	rte_ring_mp_enqueue(ct->doomed, (void *)(uintptr_t)(hit >> 1));
}

/**
 * Set an entry's own idle timeout, right after inserting it: until then it
 * is PSW_CT_MIN_TIMEOUT_S, so nobody sees the fresh entry expire.
 */
static inline void
psw_ct_set_timeout(struct psw_ct *ct, uint32_t hit, uint32_t seconds)
{
	ct->entries[hit >> 1].timeout_s = seconds;
}

/**
 * Account a packet of a known connection: state machine and, for TCP,
 * sequence windows (th: its TCP header, seg_len: its payload bytes; NULL for
 * other protocols); last-seen time. Returns PSW_DROP_NONE, or why the
 * packet must be dropped: PSW_DROP_CT_INVALID when its state does not allow
 * it (a TCP packet after RST), PSW_DROP_CT_WINDOW when it is out of window
 * (once both directions are known, a segment must lie within twice the
 * receiver's largest window, at least 64 KiB, of the sender's highest
 * sequence end).
 */
enum psw_drop_reason psw_ct_update(struct psw_ct *ct, struct psw_ct_entry *e, unsigned dir,
		   const struct rte_tcp_hdr *th, unsigned seg_len, uint64_t now);

static inline struct psw_ct_entry *
psw_ct_entry(struct psw_ct *ct, uint32_t hit)
{
	return &ct->entries[hit >> 1];
}

/** Give a Service's new connection its counter slot (right after opening it). */
static inline void
psw_ct_set_cslot(struct psw_ct_entry *e, uint16_t cslot)
{
	__atomic_store_n(&e->cslot, cslot, __ATOMIC_RELAXED);
}

/**
 * Count a packet of connection e, NAT-ed in direction dir, to its Service's
 * slot (if any), and note the slot in m->cslot (m->ct is set to e and dir
 * next) for psw_ct_uncount_svc.
 */
static inline void
psw_ct_count_svc(struct psw_stage_ctx *sc, const struct psw_ct_entry *e, unsigned dir, struct psw_meta *m)
{
	uint16_t slot = __atomic_load_n(&e->cslot, __ATOMIC_RELAXED);

	if (slot != 0 && likely(sc->svc != NULL)) {
		sc->svc[slot].packets[dir]++;
		sc->svc[slot].bytes[dir] += m->l3_payload;
		m->cslot = slot;
	}
}

/**
 * Take back the count of a packet that the policy stage drops after all: it
 * never reaches the backend (or the client), so a denied client, or one
 * outside probing a protected Service, does not show as its traffic. The
 * slot is the one counted to (m->cslot), not the entry's read again: an
 * entry another worker opens gets its slot a moment after it is visible.
 */
static inline void
psw_ct_uncount_svc(struct psw_stage_ctx *sc, struct psw_meta *m)
{
	unsigned dir = (m->ct - 1) & 1;

	if (m->cslot == 0 || m->ct == 0 || sc->svc == NULL)
		return;
	sc->svc[m->cslot].packets[dir]--;
	sc->svc[m->cslot].bytes[dir] -= m->l3_payload;
	m->cslot = 0;
}

/**
 * May Service counter slot cslot, let go (and past its grace period) when
 * expiry had begun since passes, count for another Service? Yes once a
 * whole pass begun after that found no entry of the slot (control thread).
 */
static inline bool
psw_ct_slot_drained(const struct psw_ct *ct, uint16_t cslot, uint32_t since)
{
	uint32_t last;                   /* the last pass completed */

	if (ct == NULL)
		return true;
	last = ct->passes - 2;
	/* none appears after the slot is let go: a pass that found none means none is left */
	return (int32_t)(last - since) >= 0 && (int32_t)(last - ct->slot_seen[cslot]) > 0;
}

/**
 * Open a connection for packet m (the one helper the service and policy
 * stages share): insert orig / reply in the packet's zone (its input
 * port), give it its first state, account the packet in direction dir
 * (TCP state and windows), point m at it (m->ct) and count ct_new.
 * @return the entry's hit (index << 1 | dir), or a negative errno of
 *         psw_ct_insert_zone: -EEXIST is left to the caller (another
 *         worker opened it first, the packet untouched); any other
 *         refusal drops the packet (ct_full, ct_port_limit, ct_clash).
 */
static inline int psw_ct_opened(struct psw_stage_ctx *sc, struct psw_ct *ct, struct rte_mbuf *pkt,
				struct psw_meta *m, int rc, uint8_t state, unsigned dir, uint64_t now);

static inline int
psw_ct_open(struct psw_stage_ctx *sc, struct psw_ct *ct, struct rte_mbuf *pkt, struct psw_meta *m,
	    const struct psw_ct_key *orig, const struct psw_ct_key *reply, uint32_t svc,
	    uint32_t backend, uint8_t flags, uint8_t state, unsigned dir, uint64_t now)
{
	return psw_ct_opened(sc, ct, pkt, m,
			     psw_ct_insert_zone(ct, orig, reply, svc, backend, flags, m->in_port, now),
			     state, dir, now);
}

/* The rest of psw_ct_open after its insert (rc): drop on refusal, else the first update. */
static inline int
psw_ct_opened(struct psw_stage_ctx *sc, struct psw_ct *ct, struct rte_mbuf *pkt, struct psw_meta *m,
	      int rc, uint8_t state, unsigned dir, uint64_t now)
{
	const struct rte_tcp_hdr *th;
	struct psw_ct_entry *e;
	unsigned seg_len = 0;

	if (rc < 0) {
		if (rc != -EEXIST)
			psw_set_drop(m, psw_ct_insert_drop(rc));
		return rc;
	}
	e = psw_ct_entry(ct, (uint32_t)rc);
	if (state != PSW_CT_NEW)
		__atomic_store_n(&e->state, state, __ATOMIC_RELAXED);
	rc |= (int)dir;
	th = psw_tcp_hdr(pkt, m, &seg_len);
	psw_ct_update(ct, e, dir, th, seg_len, now);
	m->ct = (uint32_t)rc + 1;
	psw_count_event(sc, PSW_EV_CT_NEW);
	return rc;
}

/* Source NAT: the ports a connection's reply may come back to when the client's own is taken. */
#define PSW_SNAT_PORT_MIN   32768u
#define PSW_SNAT_PORT_SPAN  28232u       /* 32768..60999, Linux's ephemeral range */
#define PSW_SNAT_TRIES      16u

/**
 * psw_ct_open for a connection whose reply comes back to reply->dst (a
 * source-NAT address, or the client's own): the reply's destination port is
 * the client's own when that tuple is free, else one of PSW_SNAT_TRIES ports
 * from the flow's hash, so that two connections whose replies would be one
 * tuple do not clash (two clients with one source port masqueraded to one
 * address; one client reaching one backend from one port through two
 * Service addresses). A port changed makes the connection source-NAT-ed
 * (PSW_CT_F_SNAT), as Linux's conntrack does. An ICMP echo's identifier is
 * its port (both keys carry it in sport): two pods pinging one host with
 * one identifier get two. reply->dport (ICMP: reply->sport) is the one
 * chosen.
 */
static inline int
psw_ct_open_snat(struct psw_stage_ctx *sc, struct psw_ct *ct, struct rte_mbuf *pkt, struct psw_meta *m,
		 const struct psw_ct_key *orig, struct psw_ct_key *reply, uint32_t svc,
		 uint32_t backend, uint8_t flags, uint64_t now)
{
	bool echo = orig->proto == IPPROTO_ICMP || orig->proto == IPPROTO_ICMPV6;
	uint32_t h = 0;
	unsigned i;
	int rc;

	for (i = 0;; i++) {
		uint16_t port;

		rc = psw_ct_insert_zone(ct, orig, reply, svc, backend, flags, m->in_port, now);
		if (rc != -EADDRINUSE || i == PSW_SNAT_TRIES)
			break;
		if (i == 0)
			h = rte_hash_crc(orig, sizeof(*orig), 0x534e4154u);
		flags |= PSW_CT_F_SNAT;
		port = rte_cpu_to_be_16((uint16_t)(PSW_SNAT_PORT_MIN + (h + i * 40503u) % PSW_SNAT_PORT_SPAN));
		if (echo)
			reply->sport = port;
		else
			reply->dport = port;
	}
	return psw_ct_opened(sc, ct, pkt, m, rc, PSW_CT_NEW, PSW_CT_DIR_ORIG, now);
}

#endif /* PSW_CT_H */
