/*
 * The stage contract: a burst of up to PSW_BURST_MAX packets with their
 * per-packet metadata, the verdict each stage may set, and the named drop
 * reasons. Every stage is a function over a whole burst:
 *
 *   void psw_<stage>_run(struct psw_stage_ctx *sc, const struct psw_tables *t,
 *                        struct psw_burst *b);
 *
 * Stages never free or transmit a packet. They set meta[i].verdict; a packet
 * whose verdict is no longer PSW_V_CONTINUE is skipped by later stages. Only
 * the worker loop transmits, and psw_worker_dispatch() frees drops (and
 * sends the frames a stage made besides, its context's extra). What a
 * stage may touch of its worker is its context, struct psw_stage_ctx
 * (psw_stage.h).
 */
#ifndef PSW_PKT_H
#define PSW_PKT_H

#include <stddef.h>
#include <stdint.h>

#include <rte_common.h>
#include <rte_mbuf.h>

#define PSW_BURST_MAX 32

/*
 * Drop reasons: one X-macro list gives the enum and the names printed by
 * `stats`. Add new reasons at the end of a group; names are part of the
 * output users script against.
 */
#define PSW_DROP_REASONS(_)                                                    \
	_(RUNT,            "runt",            "frame shorter than its headers")     \
	_(VLAN_STACK,      "vlan_stack",      "more than two VLAN tags")            \
	_(ETHERTYPE,       "unknown_ethertype", "ethertype not ARP/IPv4/IPv6")      \
	_(L2_DST,          "l2_not_for_us",   "destination MAC is not the gateway") \
	_(IP4_VERSION,     "ip4_bad_version", "IPv4 header version is not 4")       \
	_(IP4_IHL,         "ip4_bad_ihl",     "IPv4 header length below 20 bytes")  \
	_(IP4_LEN,         "ip4_bad_len",     "IPv4 total length inconsistent")     \
	_(IP4_CSUM,        "ip4_bad_csum",    "IPv4 header checksum wrong")         \
	_(IP6_VERSION,     "ip6_bad_version", "IPv6 header version is not 6")       \
	_(IP6_LEN,         "ip6_bad_len",     "IPv6 payload length inconsistent")   \
	_(IP6_EXT,         "ip6_bad_ext",     "IPv6 extension header chain broken") \
	_(L4_TRUNC,        "l4_truncated",    "TCP/UDP/ICMP/SCTP header truncated") \
	_(ARP_BAD,         "arp_bad",         "ARP not Ethernet/IPv4 or truncated") \
	_(ARP_IGNORED,     "arp_ignored",     "ARP reply or request not answered")  \
	_(ND_IGNORED,      "nd_ignored",      "ICMPv6 ND/RS not answered")          \
	_(ND_BAD,          "nd_bad",          "neighbour solicitation invalid (RFC 4861 7.1.1: hop limit, code, checksum, length, multicast target, option, DAD form)") \
	_(SPOOF_MAC,       "spoof_mac",       "pod sent from a MAC not its own")    \
	_(SPOOF_IP,        "spoof_ip",        "pod sent from an IP not its own")    \
	_(SPOOF_UPLINK,    "spoof_uplink",    "non-pod port sent from a local pod's or the node's address") \
	_(MULTICAST,       "multicast",       "multicast/broadcast not forwarded")  \
	_(LINK_LOCAL,      "link_local",      "link-local destination not routed")  \
	_(TO_GATEWAY,      "to_gateway",      "packet to the gateway not handled")  \
	_(TTL_EXCEEDED,    "ttl_exceeded",    "TTL/hop limit expired (ICMP sent)")  \
	_(NO_ROUTE,        "no_route",        "no route to destination")            \
	_(PORT_GONE,       "port_gone",       "output port removed")                \
	_(TX_FULL,         "tx_full",         "output queue full")                  \
	_(ICMP_ERR_FAILED, "icmp_error_failed", "ICMP error could not be built")  \
	_(CT_INVALID,      "ct_invalid",      "TCP packet invalid for its connection")  \
	_(CT_WINDOW,       "ct_out_of_window", "TCP segment outside its connection's window") \
	_(CT_FULL,         "ct_full",         "connection table full: new flow refused") \
	_(CT_CLASH,        "ct_clash",        "NAT reply tuple taken by another flow")  \
	_(CT_PORT_LIMIT,   "ct_port_limit",   "the port's share of the connection table is used up: new flow refused") \
	_(SVC_NO_ENDPOINT, "svc_no_endpoint", "Service without endpoints (reject sent)") \
	_(SVC_INVALID,     "svc_not_tracked", "packet to a Service that cannot be tracked") \
	_(SVC_NO_LOCAL,    "svc_no_local_endpoint", "traffic policy Local, no endpoint on this node") \
	_(SVC_SOURCE_RANGE, "svc_source_range", "a load balancer's loadBalancerSourceRanges do not hold the client") \
	_(POLICY_INGRESS,  "policy_ingress",  "NetworkPolicy: no ingress rule of the destination pod allows it") \
	_(POLICY_EGRESS,   "policy_egress",   "NetworkPolicy: no egress rule of the source pod allows it") \
	_(PUNT_LIMIT,      "punt_limit",      "an answer of the switch's own (ARP, ND, echo, ICMP error, RST) over its port's rate") \
	_(UNHANDLED,       "unhandled",       "no stage took the packet (a bug)") \
	_(PUNT_FULL,       "punt_full",       "the control thread's queue was full (a packet waiting for its next hop's MAC, an ARP to learn from)") \
	_(VXLAN_BAD,       "vxlan_bad",       "VXLAN (or Geneve) to the node: truncated, another VNI or version, or not carrying IPv4 or IPv6 in Ethernet") \
	_(VXLAN_SPOOF,     "vxlan_spoof",     "VXLAN (or Geneve) whose inner source is not a pod of the node that sent it") \
	_(VXLAN_NOT_HERE,  "vxlan_not_here",  "VXLAN (or Geneve) whose inner destination is neither a pod of this node nor the node (no relaying)") \
	_(VXLAN_FORGED,    "vxlan_forged",    "a pod's or the node's stack's UDP to another node's VTEP at the overlay's port (it would pass there for this node's VXLAN or Geneve)") \
	_(VXLAN_NO_ROOM,   "vxlan_no_room",   "no headroom (or several segments) to encapsulate in VXLAN (or Geneve)") \
	_(GENEVE_OPTION,   "geneve_option",   "Geneve to the node with a critical option (none is understood) or a control (O) packet") \
	_(MTU_EXCEEDED,    "mtu_exceeded",    "longer than the next hop's MTU, IPv4 without DF (the switch does not fragment)") \
	_(MASQ_UNTRACKED,  "masq_not_tracked", "a pod's packet to outside the cluster that cannot be tracked to masquerade (a later fragment, another protocol)") \
	_(FRAG_HOLD_FULL,  "frag_hold_full",  "a later fragment held for its first one pushed out of the worker's full fragment hold") \
	_(FRAG_NO_FIRST,   "frag_no_first",   "a later fragment held for its first one, which did not come in time") \
	_(FRAG_HOLD_GONE,  "frag_hold_gone",  "a held later fragment whose input port was removed, or whose worker stopped") \
	_(FRAG_NO_ROOM,    "frag_no_room",    "an IPv4 packet to fragment (no DF, longer than the MTU) without mbufs or room for its fragments") \
	_(GSO_BAD,         "gso_bad",         "a kernel pod's large frame or partial checksum that does not match its headers (protocol, offsets, segment size)") \
	_(GSO_NO_ROOM,     "gso_no_room",     "a kernel pod's large frame to cut into segments without mbufs or room for them")

enum psw_drop_reason {
	PSW_DROP_NONE = 0,
#define _(sym, name, help) PSW_DROP_##sym,
	PSW_DROP_REASONS(_)
#undef _
	PSW_DROP_COUNT
};

/** Name of a drop reason for counters and traces. */
const char *psw_drop_name(unsigned reason);
/** One-line explanation of a drop reason. */
const char *psw_drop_help(unsigned reason);

enum psw_verdict {
	PSW_V_CONTINUE = 0,      /**< later stages still work on it */
	PSW_V_TX,                /**< send out meta.out_port, done */
	PSW_V_DROP,              /**< free, count meta.drop_reason */
	PSW_V_PUNT,              /**< hand to the control thread (psw_set_punt), done */
	PSW_V_HOLD,              /**< a later fragment before its first: to the worker's fragment hold (psw_frag.h) */
};

/* Why a packet goes to the control thread (mbuf hash.fdir.hi, low 16 bits). */
enum psw_punt_reason {
	PSW_PUNT_ARP = 1,        /**< an ARP on an uplink: a neighbour may answer or move */
	PSW_PUNT_RESOLVE,        /**< routed, its next hop's MAC unknown: hold, resolve, send */
	PSW_PUNT_HEALTH,         /**< TCP to a healthCheckNodePort (cookie: the local endpoints) */
	PSW_PUNT_ND,             /**< a neighbour advertisement on an uplink (IPv6's ARP answer) */
};

/* L3 kind found by parse. */
enum psw_l3 {
	PSW_L3_NONE = 0,
	PSW_L3_ARP,
	PSW_L3_IPV4,
	PSW_L3_IPV6,
};

/* meta.flags */
#define PSW_F_VLAN        0x0001  /**< at least one VLAN tag */
#define PSW_F_FRAG        0x0002  /**< IP fragment (any) */
#define PSW_F_FRAG_LATER  0x0004  /**< non-first fragment: no L4 header */
#define PSW_F_IP_OPTS     0x0008  /**< IPv4 options / IPv6 extension headers */
#define PSW_F_L2_MCAST    0x0010  /**< destination MAC multicast/broadcast */
#define PSW_F_L4          0x0020  /**< l4 offset and ports are valid */
#define PSW_F_CT_MISS     0x0040  /**< conntrack: trackable, no entry yet */
#define PSW_F_TO_GW       0x0080  /**< addressed to the gateway, not answered by guard */
#define PSW_F_CT_NEW      0x0100  /**< service: this packet opened its connection (policy not yet decided) */
#define PSW_F_CT_RECHECK  0x0200  /**< conntrack: its connection's verdict predates the policies in force */
#define PSW_F_CT_RELATED  0x0400  /**< conntrack: an ICMP error about a known connection */
#define PSW_F_TUNNEL      0x0800  /**< came out of VXLAN: an answer to it is routed, not sent back raw */
#define PSW_F_IP_CSUM_LAZY 0x1000 /**< out of VXLAN to a pod: IPv4 header checksum not checked (psw_tunnel.h) */

/**
 * Per-packet metadata, written once by parse. Offsets are from the start of
 * the frame. Addresses are kept in network byte order, as in the packet.
 */
struct psw_meta {
	uint8_t verdict;         /**< enum psw_verdict */
	uint8_t drop_reason;     /**< enum psw_drop_reason, when verdict DROP */
	uint16_t in_port;        /**< podswitch port index it came from */
	uint16_t out_port;       /**< podswitch port index, when verdict TX */
	uint16_t flags;          /**< PSW_F_* */

	uint8_t l3;              /**< enum psw_l3 */
	uint8_t l4_proto;        /**< IPPROTO_*, final after IPv6 ext headers */
	uint8_t l2_len;          /**< Ethernet + VLAN tags */
	uint8_t nb_vlans;
	uint16_t l3_len;         /**< IP header incl. options / ext headers */
	uint16_t l4_off;         /**< l2_len + l3_len */
	uint16_t vlan_tci;       /**< outer tag, when PSW_F_VLAN */
	uint16_t sport;          /**< TCP/UDP/SCTP port, ICMP echo id */
	uint16_t dport;          /**< TCP/UDP/SCTP port, ICMP type<<8|code */
	uint16_t l3_payload;     /**< IPv4 total length / IPv6 payload length + 40 */
	union {                  /* at offset 24: 8-byte aligned for the hash functions */
		struct {
			uint32_t src4;
			uint32_t dst4;
		};
		struct {
			uint8_t src6[16];
			uint8_t dst6[16];
		};
	};
	uint32_t ct;             /**< conntrack hit (entry << 1 | dir) + 1; 0 = none */
	uint16_t cslot;          /**< Service counter slot it was counted to (psw_ct_count_svc); 0 = none */
} __rte_aligned(8);

struct psw_burst {
	uint16_t nb;
	struct rte_mbuf *pkts[PSW_BURST_MAX];
	struct psw_meta meta[PSW_BURST_MAX];
};

_Static_assert(offsetof(struct psw_meta, src6) % 8 == 0, "addresses must stay 8-byte aligned");
_Static_assert(sizeof(struct psw_meta) == 64, "per-packet metadata is one cache line");

static inline void
psw_set_drop(struct psw_meta *m, enum psw_drop_reason reason)
{
	m->verdict = PSW_V_DROP;
	m->drop_reason = (uint8_t)reason;
}

/**
 * Hand the packet to the control thread. The worker puts it on its punt
 * ring with reason, the port it came in on (mbuf port), the port asked for
 * (meta.out_port; PSW_PORT_NONE: any) and cookie (a neighbour's) in the
 * mbuf's hash fields, which nothing after the stages reads.
 */
static inline void
psw_set_punt(struct rte_mbuf *pkt, struct psw_meta *m, enum psw_punt_reason reason, uint32_t cookie)
{
	m->verdict = PSW_V_PUNT;
	pkt->hash.fdir.lo = cookie;
	pkt->hash.fdir.hi = (uint32_t)reason;
}

static inline void
psw_set_tx(struct psw_meta *m, uint16_t port)
{
	m->verdict = PSW_V_TX;
	m->out_port = port;
}

#endif /* PSW_PKT_H */
