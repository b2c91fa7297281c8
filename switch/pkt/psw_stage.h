/*
 * What a stage may touch of the worker that runs it: its event and drop
 * counters, its policy counters, its connection cache (by pointer), the
 * rate limiter of the switch's own answers, and the policy audit ring with
 * its per-pod buckets (producer side; the control thread consumes). Every stage takes this context,
 * the tables and a burst (psw_pkt.h):
 *
 *   void psw_<stage>_run(struct psw_stage_ctx *sc, const struct psw_tables *t,
 *                        struct psw_burst *b);
 *
 * The worker (worker/psw_lcore.h) embeds one context per lcore; stages never
 * see the rest of it (TX buffers, loop counters). Only its own worker writes
 * a context; the control thread reads the counters (plain 64-bit loads,
 * which do not tear on x86-64/arm64).
 */
#ifndef PSW_STAGE_H
#define PSW_STAGE_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_common.h>
#include <rte_cycles.h>

#include "psw_pkt.h"
#include "psw_tables.h"

/* Events that are not drops: counted the same way, named once. */
#define PSW_EVENTS(_)                                                  \
	_(ARP_REPLY,        "arp_reply",        "ARP requests answered")    \
	_(ND_REPLY,         "nd_reply",         "neighbour solicitations answered") \
	_(ECHO_REPLY,       "echo_reply",       "pings to the gateway answered") \
	_(ICMP_TIME_EXCEEDED, "icmp_time_exceeded", "ICMP time-exceeded sent") \
	_(ICMP_TOO_BIG,     "icmp_too_big",     "ICMP fragmentation-needed / ICMPv6 packet-too-big sent") \
	_(FORWARDED4,       "forwarded_ip4",    "IPv4 packets routed")        \
	_(FORWARDED6,       "forwarded_ip6",    "IPv6 packets routed")          \
	_(CT_HIT,           "ct_hit",           "packets of tracked connections") \
	_(CT_NEW,           "ct_new",           "connections created")         \
	_(CT_STALE,         "ct_stale",         "lookups that found a connection or affinity record idle past its timeout: treated as gone") \
	_(SVC_DNAT,         "svc_dnat",         "new connections to a Service load-balanced") \
	_(SVC_REJECT,       "svc_reject",       "Service without endpoints: RST / unreachable sent") \
	_(SVC_HAIRPIN,      "svc_hairpin",      "pod reached itself through its Service (masqueraded)") \
	_(VXLAN_ENCAP,      "vxlan_encap",      "packets sent to another node in VXLAN (or Geneve)") \
	_(VXLAN_DECAP,      "vxlan_decap",      "packets from another node taken out of VXLAN (or Geneve)") \
	_(MASQ,             "masquerade",       "connections from pods to outside the cluster masqueraded to the node") \
	_(FRAG_SEEN,        "frag_seen",        "IPv4 and IPv6 fragments received") \
	_(FRAG_FOLLOWED,    "frag_followed",    "later IPv4 / IPv6 fragments given their connection (and NAT) from their first one") \
	_(FRAG_HELD,        "frag_held",        "later fragments that came before their first one, held for it") \
	_(FRAG_RELEASED,    "frag_released",    "held fragments released when their first one came (then followed)") \
	_(FRAGMENTED,       "ip4_fragmented",   "IPv4 packets without DF longer than their next hop's MTU, sent in fragments") \
	_(AUDIT_QUEUED,     "audit_queued",     "policy verdicts handed to the audit log") \
	_(AUDIT_SUPPRESSED, "audit_suppressed", "policy verdicts not audited: over a pod's rate on its worker") \
	_(AUDIT_RING_FULL,  "audit_ring_full",  "policy verdicts not audited: the worker's audit ring was full") \
	_(GSO_SEGMENTED,    "gso_segmented",    "kernel pods' large frames cut into segments for a port or next hop that cannot take them") \
	_(CSUM_FINISHED,    "csum_finished",    "kernel pods' partial checksums finished by the switch for a port that cannot take them")

enum psw_event {
#define _(sym, name, help) PSW_EV_##sym,
	PSW_EVENTS(_)
#undef _
	PSW_EV_COUNT
};

/** Name of an event counter for `stats`. */
const char *psw_event_name(unsigned ev);

/*
 * The switch's own answers (ARP and ND replies, echo replies, ICMP errors,
 * TCP RSTs for Services without endpoints) are limited per input port and
 * worker by a token bucket, so that a flood of requests cannot turn a
 * worker into a reply generator: PSW_PUNT_RATE answers a second, bursts of
 * PSW_PUNT_BURST. Over the rate the request is dropped (punt_limit).
 */
#define PSW_PUNT_RATE  1000u
#define PSW_PUNT_BURST 100u

struct psw_punt_bucket {
	uint64_t last;                   /**< TSC of the last refill; 0 = full */
	uint32_t tokens;
};

struct psw_ct_cache;
struct rte_ring;
struct psw_frag_cache;
struct psw_pol_counts;

/*
 * Per-worker counters of one Service (all its addresses and ports), at its
 * slot (struct psw_svc_port.cslot; slot 0 gathers nothing anyone reads).
 * Connections and refusals are counted once each, by the service stage;
 * packets and bytes (IP length) of its connections by whichever stage
 * NAT-s them (psw_ct_count_svc; taken back when the policy stage drops
 * one), [0] to the backend, [1] back from it.
 * One cache line per Service.
 */
#define PSW_SVC_MAX_SLOTS 16384
struct psw_svc_counts {
	uint64_t connections;            /**< new connections load-balanced to a backend */
	uint64_t rejected;               /**< no endpoint: RST / unreachable (or its attempt) */
	uint64_t no_local;               /**< traffic policy Local, no endpoint here: dropped */
	uint64_t source_range;           /**< not in loadBalancerSourceRanges: dropped */
	uint64_t packets[2];             /**< of its connections: to the backend, from it */
	uint64_t bytes[2];
} __rte_cache_aligned;

/* Frames a stage sends besides its burst's (fragments of one), per burst. */
#define PSW_EXTRA_MAX 64

struct psw_stage_ctx {
	uint64_t drops[PSW_DROP_COUNT];  /**< by reason (the worker's dispatch counts most) */
	uint64_t events[PSW_EV_COUNT];
	struct psw_pol_counts *pol;      /**< PSW_POL_MAX_SLOTS connection counters per policy; NULL = none */
	struct psw_svc_counts *svc;      /**< PSW_SVC_MAX_SLOTS, per Service; NULL = none */
	struct psw_ct_cache *ct_cache;   /**< the worker's recent connections; NULL = none */
	struct psw_frag_cache *frags;    /**< first fragments of its connections, later ones held (psw_frag.h); NULL = none */
	struct psw_punt_bucket punt[PSW_MAX_PORTS];   /**< the switch's answers, per input port */
	struct rte_ring *audit;          /**< audit records to the control thread (psw_policy.h); NULL = none */
	struct psw_punt_bucket audit_bucket[PSW_MAX_PORTS];   /**< audit records per pod port */
	struct rte_mempool *mp;          /**< default-size mbufs for a large frame's segments (psw_gso.h); NULL: its own pool's */
	struct rte_mempool *const *large_mp;   /**< where the 64 KB mbufs are once made, for pieces no default
						*  one holds (a guest's frame in the vhost library's buffer has a
						*  default mbuf); NULL, or none yet: the frame's own pool's */
	unsigned nb_extra;               /**< frames in extra, sent after the burst by dispatch */
	struct {
		struct rte_mbuf *pkt;
		uint16_t port;
	} extra[PSW_EXTRA_MAX];
};

/** The 64 KB mbufs for pieces of a frame no default mbuf holds; NULL: none (the frame's own pool). */
static inline struct rte_mempool *
psw_large_mp(const struct psw_stage_ctx *sc)
{
	return sc->large_mp != NULL ? __atomic_load_n(sc->large_mp, __ATOMIC_ACQUIRE) : NULL;
}

static inline void
psw_count_event(struct psw_stage_ctx *sc, enum psw_event ev)
{
	sc->events[ev]++;
}

/**
 * Take a token of bucket b, refilled at rate a second up to burst. False
 * when it is empty. Worker only (its own buckets).
 */
static inline bool
psw_bucket_take(struct psw_punt_bucket *b, uint64_t rate, uint32_t burst)
{
	uint64_t now = rte_rdtsc(), hz = rte_get_tsc_hz(), add;

	if (b->last == 0) {
		b->tokens = burst;
		b->last = now;
	}
	add = (now - b->last) * rate / hz;
	if (add > 0) {
		b->tokens = (uint32_t)RTE_MIN((uint64_t)b->tokens + add, (uint64_t)burst);
		b->last += add * hz / rate;
	}
	if (b->tokens == 0)
		return false;
	b->tokens--;
	return true;
}

/**
 * May the switch answer one more request that came in on port? Takes a
 * token; false (and the packet must be dropped as PSW_DROP_PUNT_LIMIT)
 * when the port's bucket is empty.
 */
static inline bool
psw_punt_allow(struct psw_stage_ctx *sc, uint16_t port)
{
	return psw_bucket_take(&sc->punt[port < PSW_MAX_PORTS ? port : 0], PSW_PUNT_RATE, PSW_PUNT_BURST);
}

#endif /* PSW_STAGE_H */
