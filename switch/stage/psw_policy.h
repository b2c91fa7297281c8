/*
 * NetworkPolicy: the policy stage and the tables it reads.
 *
 * The control thread compiles, for each local pod (one podswitch port), the
 * rules that allow traffic into it (ingress) and out of it (egress), and
 * builds one rte_acl context per pod, direction and address family. The
 * per-pod object is immutable; a change replaces the pointer in the port's
 * slot and frees the old object after an RCU grace period, so one policy
 * change rebuilds only the contexts of the pods it selects, and workers never
 * pause.
 *
 * policy (psw_policy_run) — after service, before forward. For the first
 * packet of a connection (a new Service connection, or a packet no
 * connection knows) between an isolated pod and anyone: egress rules of the
 * source pod, then ingress rules of the destination pod, on the packet as
 * the destination will see it (after Service DNAT). One rte_acl_classify
 * per context and burst. Allowed: a Service connection's entry keeps the
 * allowing policies; a pod-to-pod flow gets a connection entry so its
 * replies and later packets pass without classification. Denied: dropped,
 * counted (policy_egress / policy_ingress, and on every policy isolating
 * the pod); a denied Service connection's entry is removed. A verdict
 * about a pod whose object asks for it (audit, below) also leaves a record
 * on the worker's audit ring; with no audited pod (nb_audited == 0) no
 * audit code runs.
 *
 * Connections are judged again after a policy change: every change bumps
 * the table's generation, a connection remembers the generation of its
 * verdict, and conntrack marks a packet whose connection is older
 * (PSW_F_CT_RECHECK). The stage then judges the connection's original
 * direction (from the entry) against the policies now in force: still
 * allowed, it goes on; no longer allowed, the packet is dropped and the
 * connection removed.
 *
 * ACL input, per packet (network order, as rte_acl wants):
 *   IPv4: proto | pad[3] | peer address (4) | port (2) | zero (2)   12 bytes
 *   IPv6: proto | pad[3] | peer address (16) | port (2) | zero (2)  24 bytes
 * where peer is the source (ingress) or destination (egress) and port the
 * destination port (0 for ICMP and protocols without ports).
 */
#ifndef PSW_POLICY_H
#define PSW_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_acl.h>

#include "psw_stage.h"
#include "psw_pkt.h"
#include "psw_tables.h"

#define PSW_POL_INGRESS 0
#define PSW_POL_EGRESS  1

/** Policy slots (stable per NetworkPolicy) counted per worker. */
#define PSW_POL_MAX_SLOTS 32768

/** Where an allow came from: the policy's slot and the rule in it. */
struct psw_pol_ref {
	uint16_t slot;
	uint16_t rule;           /**< index in spec.ingress / spec.egress */
};

/** One allow rule as compiled (control side and rte_acl rule source). */
struct psw_pol_rule {
	uint8_t family;          /**< 4 or 6 */
	uint8_t proto;           /**< IPPROTO_*, 0 = any protocol */
	uint8_t plen;            /**< peer prefix length */
	uint8_t dir;             /**< PSW_POL_INGRESS or PSW_POL_EGRESS */
	uint16_t port_lo, port_hi;   /**< host order; 0..65535 = any */
	uint8_t addr[16];        /**< peer prefix (network order) */
	struct psw_pol_ref ref;
};

/* What the audit log wants of a pod's verdicts (struct psw_pol_port.audit). */
#define PSW_AUDIT_DENY  1u           /**< connections its isolation denied */
#define PSW_AUDIT_ALLOW 2u           /**< new connections its policies allowed */

/** The policy of one local pod, immutable once published. */
struct psw_pol_port {
	uint8_t isolated[2];                 /**< by direction */
	uint8_t audit;                       /**< PSW_AUDIT_* for this pod's namespace; 0 = none */
	uint16_t port;                       /**< the pod's port (audit records name it) */
	struct rte_acl_ctx *acl[2][2];       /**< [direction][0: IPv4, 1: IPv6]; NULL = nothing allowed */
	uint32_t nb_refs;
	struct psw_pol_ref *refs;            /**< rte_acl userdata - 1 -> where it came from */
	uint16_t nb_isolating[2];
	uint16_t *isolating[2];              /**< slots of the policies isolating each direction */
	/* control side */
	uint64_t digest;                     /**< of the rules and slots it was built from */
	uint32_t nb_rules;
	struct psw_pol_rule *rules;
};

/** The policies in force: one slot per port. Persistent; slots replaced in place. */
struct psw_pol_table {
	struct psw_pol_port *ports[PSW_MAX_PORTS];
	uint32_t nb_isolated;                /**< ports with a policy object; 0 = the stage is skipped */
	uint32_t nb_audited;                 /**< of which audited (audit != 0); 0 = no audit code runs */
	uint32_t gen;                        /**< bumped after every change; never 0 */
};

/**
 * The generation connections' verdicts must carry, or 0 when no policy is
 * in force (nothing to recheck). Loaded once per burst, before any policy
 * object.
 */
static inline uint32_t
psw_pol_gen(const struct psw_pol_table *pt)
{
	if (pt == NULL || __atomic_load_n(&pt->nb_isolated, __ATOMIC_RELAXED) == 0)
		return 0;
	return __atomic_load_n(&pt->gen, __ATOMIC_ACQUIRE);
}

void psw_policy_run(struct psw_stage_ctx *sc, const struct psw_tables *t, struct psw_burst *b);

/*
 * The policy audit log (ctl/psw_audit.c). When a verdict concerns a pod
 * whose object asks for it (psw_pol_port.audit), the stage puts one record
 * on its worker's audit ring (single producer: the worker; single
 * consumer: the control thread, which names the pods and policies and
 * writes the line). A worker takes a token of the pod's bucket first
 * (PSW_AUDIT_WORKER_RATE a second per pod and worker, so a flood at one
 * pod cannot fill the ring for the others; over it: audit_suppressed), and
 * never waits for the ring (full: audit_ring_full).
 */
#define PSW_AUDIT_WORKER_RATE  1000u
#define PSW_AUDIT_WORKER_BURST 1000u
#define PSW_AUDIT_RING_SIZE    4096u
#define PSW_AUDIT_NO_RULE      UINT16_MAX

enum psw_audit_verdict { PSW_AUDIT_V_DENY = 0, PSW_AUDIT_V_ALLOW = 1 };

/** One audited verdict: the connection as its destination sees it. 64 bytes. */
struct psw_audit_rec {
	uint64_t tsc;                        /**< rte_rdtsc() at the verdict */
	uint8_t src[16], dst[16];            /**< network order; IPv4 in the first 4 bytes */
	uint16_t sport, dport;               /**< network order; 0 without ports (ICMP) */
	uint16_t in_port;                    /**< where the packet came in */
	uint16_t pod_port;                   /**< the local pod whose policy judged */
	uint16_t slot;                       /**< allow: the policy's slot; deny: the first isolating one */
	uint16_t rule;                       /**< allow: the rule's index; PSW_AUDIT_NO_RULE */
	uint8_t family, proto, dir, verdict; /**< 4/6, IPPROTO_*, PSW_POL_*, PSW_AUDIT_V_* */
	uint8_t recheck;                     /**< an established connection judged again after a change */
	uint8_t pad[7];
};

/* What psw_policy_why() found the stage did with a packet. */
enum psw_pol_why_kind {
	PSW_POL_WHY_OFF = 0,     /**< no NetworkPolicy in force: the stage does nothing */
	PSW_POL_WHY_SKIPPED,     /**< decided before the stage, or not IP */
	PSW_POL_WHY_CURRENT,     /**< its connection's verdict is current: not judged again */
	PSW_POL_WHY_RELATED,     /**< an ICMP error about a known connection: goes with it */
	PSW_POL_WHY_NONE,        /**< neither end is a pod with a policy: nothing to judge */
	PSW_POL_WHY_FRAGMENT,    /**< a later fragment without its connection: judged by isolation alone */
	PSW_POL_WHY_JUDGED,      /**< classified: dir[] says how */
};

#define PSW_POL_WHY_MAX_ISOLATING 8

/** One direction of a judged packet. */
struct psw_pol_why_dir {
	uint8_t isolated;        /**< a policy of this type isolates the pod (and applies here) */
	uint8_t allowed;         /**< isolated and a rule allows it (ref says which) */
	uint16_t nb_isolating;   /**< policies isolating the pod this way (first PSW_POL_WHY_MAX_ISOLATING kept) */
	struct psw_pol_ref ref;  /**< when allowed: the policy slot and its rule */
	uint16_t isolating[PSW_POL_WHY_MAX_ISOLATING];
};

struct psw_pol_why {
	uint8_t kind;            /**< enum psw_pol_why_kind */
	uint8_t flip;            /**< TCP picked up mid-stream: judged as the client's connection too */
	uint8_t recheck;         /**< a known connection judged again after a policy change */
	uint8_t pad;
	struct psw_pol_why_dir dir[2];   /**< [PSW_POL_INGRESS], [PSW_POL_EGRESS] */
};

/**
 * For trace only, never on the fast path: what psw_policy_run() judges
 * packet m (its metadata as it was before the stage) by, and which policy
 * and rule allowed each direction, or which policies isolated it. The same
 * decisions as the stage, on one packet; reads the tables and the
 * connection entry, writes nothing but w. Any thread that may read t.
 */
void psw_policy_why(const struct psw_tables *t, const struct rte_mbuf *pkt, const struct psw_meta *m,
		    struct psw_pol_why *w);

/* Per-worker counters of connections allowed / denied by each policy slot. */
struct psw_pol_counts {
	uint64_t allowed;
	uint64_t denied;
};

#endif /* PSW_POLICY_H */
