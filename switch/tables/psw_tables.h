/*
 * The table snapshot workers read: node facts, per-port facts, the pod table,
 * the route table and each worker's RX queue list, reached through one
 * pointer published with rte_rcu_qsbr.
 *
 * Rules (docs/concurrency.md):
 * - A snapshot and everything it points to is immutable once published.
 * - Workers load the pointer once per loop iteration (psw_tables_get), use it
 *   for that iteration only, and report a quiescent state at its end.
 * - The control thread alone builds and publishes snapshots. Sub-tables that
 *   did not change are shared between versions (reference counts, touched
 *   only by the control thread). An old snapshot and the sub-tables only it
 *   held are freed after every worker has passed a quiescent point.
 */
#ifndef PSW_TABLES_H
#define PSW_TABLES_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <rte_common.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_ether.h>
#include <rte_rcu_qsbr.h>

#include "psw_config.h"

/*
 * The switch's port index space. Ports that are DPDK ethdevs (NICs, vhost-
 * user, memif, tap, ring, pcap, null) are also bounded by RTE_MAX_ETHPORTS
 * (32 in Debian's DPDK); af_packet ports (kernel pods) are not ethdevs.
 */
#define PSW_MAX_PORTS       1024
#define PSW_PORT_NONE       UINT16_MAX
#define PSW_POD_NONE        UINT32_MAX
#define PSW_NH_NONE         0x7fff      /* FIB default: no route */
#define PSW_MAX_RXQ_PER_WORKER (PSW_MAX_PORTS + 64)

/* psw_nh.flags */
#define PSW_NH_F_RESOLVE 0x0001  /**< MAC not known yet: the packet goes to the control thread */
#define PSW_NH_F_TUNNEL   0x0002  /**< encapsulate to tunnel_dst first; mac, port: the outer next hop */
#define PSW_NH_F_GLEAN   0x0004  /**< a subnet on the uplinks: the destination itself is the next hop (hosts4) */
#define PSW_NH_F_VTEP    0x0008  /**< the host route to another node's VTEP (tunnel_dst): a pod's UDP to
				       its VXLAN port is forged VXLAN (psw_forward.c) */

/**
 * Where a packet goes: output port and destination MAC (the source is the
 * switch's MAC on that port). A next hop given by its address (a route's
 * via, another node) carries the cookie of its neighbour entry; until the
 * entry is resolved, PSW_NH_F_RESOLVE is set and port may be PSW_PORT_NONE
 * (asked on every uplink).
 */
struct psw_nh {
	struct rte_ether_addr mac;
	uint16_t port;
	uint16_t flags;
	uint16_t pad;
	uint32_t neigh;          /**< neighbour cookie (psw_neigh.h); 0: none */
	uint32_t tunnel_dst;     /**< another node's VTEP (IPv4 InternalIP), network order: where
				  *   PSW_NH_F_TUNNEL encapsulates to; under VXLAN also on the host
				  *   route to a node's InternalIP, whose packets may come out of
				  *   that VTEP (psw_tunnel.h); 0: none */
};

/** A local pod: its port, MAC and addresses (network order). */
struct psw_pod {
	struct psw_nh nh;        /**< port and MAC of the pod */
	uint8_t has_ip4;
	uint8_t has_ip6;
	uint32_t ip4;
	uint8_t ip6[16];
};

/** Per-port facts the fast path needs. */
struct psw_port_info {
	uint8_t present;         /**< port exists in this version */
	uint8_t is_pod;          /**< anti-spoofing applies */
	uint8_t is_node;         /**< the node's own stack: its node-addressed traffic is the node's */
	uint8_t is_uplink;       /**< link to other nodes: ARP from it may teach neighbours */
	struct rte_ether_addr mac; /**< the switch's MAC on it: the gateway's, an uplink's own */
	uint16_t mtu;            /**< the longest IP packet it takes */
	uint32_t pod;            /**< index into pods->pods when is_pod */
};

/**
 * Exact-match table of local pods: their IPv4 and IPv6 addresses -> pod.
 * Built once and never changed (a change builds a new table), so the index
 * is plain open addressing with linear probing, at most half full: a slot
 * holds a pod index + 1 (0 = empty), and the address is compared in the pod
 * itself, which the caller reads next anyway.
 */
struct psw_pod_table {
	unsigned refcnt;         /* control thread only */
	uint64_t id;
	uint32_t mask;           /**< slots - 1 (a power of two, >= 2 x pods) */
	uint32_t *slot4;         /**< by the hash of the IPv4 address */
	uint32_t *slot6;         /**< by the hash of the IPv6 address */
	uint32_t nb;
	struct psw_pod pods[];
};

static inline uint32_t
psw_pod_hash4(uint32_t ip4)
{
	return rte_hash_crc_4byte(ip4, 0x50445334u);
}

static inline uint32_t
psw_pod_hash6(const uint8_t *ip6)
{
	uint64_t w[2];

	memcpy(w, ip6, 16);
	return rte_hash_crc_8byte(w[1], rte_hash_crc_8byte(w[0], 0x50445336u));
}

/** Index of the local pod with IPv4 address ip4 (network order) and hash h, or -1. */
static inline int32_t
psw_pod_find4(const struct psw_pod_table *pt, uint32_t ip4, uint32_t h)
{
	uint32_t i = h & pt->mask, s;

	while ((s = pt->slot4[i]) != 0) {
		if (pt->pods[s - 1].ip4 == ip4 && pt->pods[s - 1].has_ip4)
			return (int32_t)(s - 1);
		i = (i + 1) & pt->mask;
	}
	return -1;
}

/** Index of the local pod with IPv6 address ip6 and hash h, or -1. */
static inline int32_t
psw_pod_find6(const struct psw_pod_table *pt, const uint8_t *ip6, uint32_t h)
{
	uint32_t i = h & pt->mask, s;

	while ((s = pt->slot6[i]) != 0) {
		if (memcmp(pt->pods[s - 1].ip6, ip6, 16) == 0 && pt->pods[s - 1].has_ip6)
			return (int32_t)(s - 1);
		i = (i + 1) & pt->mask;
	}
	return -1;
}

/** Longest-prefix routes (rte_fib / rte_fib6) to next hops. */
struct psw_route_table {
	unsigned refcnt;         /* control thread only */
	uint64_t id;
	struct rte_fib *fib4;    /**< host-order keys; next hop = index into nhs */
	struct rte_fib6 *fib6;
	uint32_t nb_nhs;
	struct psw_nh nhs[];
};

/** Key of a Service address: family, protocol, port, address. 24 bytes. */
struct psw_svc_key {
	uint8_t family;
	uint8_t proto;
	uint16_t port;           /**< network order */
	uint32_t pad;            /**< zero */
	uint8_t addr[16];
} __rte_aligned(8);              /* rte_hash_crc reads 8 bytes at a time */

struct psw_svc_backend {
	uint8_t family;
	uint8_t local;           /**< a pod on this node */
	uint16_t port;           /**< network order */
	uint8_t addr[16];
};

/* psw_svc_port.flags */
#define PSW_SVC_F_REJECT 0x01    /**< no endpoint: answer with RST / unreachable */
#define PSW_SVC_F_LOCAL  0x02    /**< traffic policy Local: no endpoint here means drop */
#define PSW_SVC_F_AFFINITY 0x04  /**< sessionAffinity ClientIP */
#define PSW_SVC_F_MASQ   0x08    /**< masquerade clients to this address (NodePort, policy Cluster) */
#define PSW_SVC_F_HEALTH 0x10    /**< healthCheckNodePort: answered by the control thread (backends: the local endpoints) */

/**
 * One Service address and port (a Service has one per address x port), with
 * its backends and Maglev table in the same allocation. Immutable once
 * published; replaced whole, the old one freed after a grace period.
 */
struct psw_svc_port {
	struct psw_svc_key key;
	uint32_t id;             /**< stable: hash of the key; conntrack entries carry it */
	uint32_t affinity_s;     /**< sessionAffinity ClientIP timeout, seconds */
	uint16_t nb_backends;
	uint16_t maglev_size;
	uint8_t flags;
	uint8_t pad;
	uint16_t cslot;          /**< its Service's counters (struct psw_svc_counts); 0: none */
	uint64_t owner;          /**< control thread: hash of the owning Service's namespace/name */
	struct psw_svc_backend *backends;
	uint16_t *maglev;
	uint32_t nb_src;         /**< loadBalancerSourceRanges; 0: every client */
	struct psw_prefix *src;
	/* for clients that are this node's pods, when they are served otherwise:
	 * an external address or NodePort of policy Local takes them to every
	 * endpoint, their source kept (kube-proxy's "pod traffic for external
	 * destinations"); in the same allocation, NULL when none */
	struct psw_svc_port *pods;
};

/**
 * The Services: key -> struct psw_svc_port *, in one rte_hash with
 * lock-free readers. Not versioned: the control thread updates entries in
 * place (an atomic replacement of the pointer) and frees what it replaced
 * after every worker has been quiescent, so an endpoint change is in force
 * as soon as its entry is written.
 */
struct psw_svc_table {
	struct rte_hash *vips;
	/* the addresses of those keys (proto and port zero) -> how many keys have
	 * it: a later fragment has no port, and is held for its first one only
	 * when it goes to one of these (psw_frag.h) */
	struct rte_hash *addrs;
	uint32_t nb_ports;
	uint32_t capacity;       /* keys the hash holds (control thread) */
	uint32_t nb_held;        /* key slots of deleted entries, free after a grace period */
};

struct psw_ct;
struct psw_pol_table;

struct psw_rxq {
	uint16_t port;           /**< podswitch port index */
	uint16_t queue;
};

struct psw_worker_rxqs {
	uint16_t nb;
	struct psw_rxq rxq[PSW_MAX_RXQ_PER_WORKER];
};

struct psw_node_info {
	uint32_t gw4;                    /**< network order */
	uint8_t gw6[16];
	uint8_t has_ip6;
	struct rte_ether_addr gw_mac;
	uint32_t pod_net4;               /**< network order */
	uint32_t pod_mask4;              /**< network order */
	uint32_t nb_addrs;
	uint32_t addrs4[4];              /**< the node's uplink addresses, network order */
	uint32_t nb_addrs6;
	uint8_t addrs6[4][16];
	uint8_t masq;                    /**< pods' IPv4 to outside the cluster: source to addrs4[0] */
	uint32_t nb_nomasq;
	struct {
		uint32_t net, mask;      /**< network order */
	} nomasq[20];                    /**< never masqueraded to: the cluster's pods, Services, ... */
	uint8_t masq6;                   /**< pods' IPv6 to outside the cluster: source to addrs6[0] */
	uint32_t nb_nomasq6;
	struct {
		uint64_t net[2], mask[2];  /**< the address's two halves, network order */
	} nomasq6[20];                   /**< never masqueraded to: the cluster's pods, link-local, ... */
	uint16_t uplink_mtu;             /**< the smallest uplink MTU (next hops asked on every uplink) */
	uint8_t overlay;                 /**< cluster.encapsulation vxlan or geneve: decapsulate on uplinks */
	uint8_t geneve;                  /**< the overlay is Geneve (RFC 8926), else VXLAN (RFC 7348) */
	uint16_t tunnel_port;            /**< its UDP port, network order */
	uint32_t vni;                    /**< host order */
	/* what encapsulation writes after the outer MACs (psw_tunnel_prepare()):
	 * the outer EtherType, IPv4 from addrs4[0] (length, checksum and
	 * destination zero), UDP (ports and length zero but the destination),
	 * the VXLAN or Geneve header, the inner destination (zero) and source
	 * (gw_mac) MACs */
	uint8_t tunnel_hdr[50];
	uint32_t tunnel_sum;             /**< the one's complement sum of tunnel_hdr's IPv4 header */
};

struct psw_tables {
	uint64_t version;
	struct psw_node_info node;
	struct psw_port_info ports[PSW_MAX_PORTS];
	struct psw_pod_table *pods;      /**< one reference held by this snapshot */
	struct psw_route_table *routes;  /**< one reference held by this snapshot */
	struct psw_svc_table *svcs;      /**< the Services (not versioned; may be NULL) */
	struct psw_ct *ct;               /**< the connection table (not versioned) */
	struct psw_pol_table *pol;       /**< NetworkPolicy per pod port (not versioned; may be NULL) */
	struct rte_hash *hosts4;         /**< neighbours on the uplinks' subnets: IPv4 -> psw_host_nh (not versioned) */
	struct rte_hash *hosts6;         /**< ... IPv6 (16-byte keys) */
	struct psw_worker_rxqs workers[PSW_MAX_WORKERS];
};

/*
 * A neighbour on an uplink's subnet, as hosts4 / hosts6 keep it: its MAC and port
 * in the 64 bits of the hash's data (replaced atomically).
 */
static inline void *
psw_host_nh_encode(const struct rte_ether_addr *mac, uint16_t port)
{
	uint64_t v = (uint64_t)port << 48;

	memcpy(&v, mac, 6);                      /* little-endian: the low 48 bits */
	return (void *)(uintptr_t)v;
}

static inline void
psw_host_nh_decode(const void *d, struct psw_nh *nh)
{
	uint64_t v = (uint64_t)(uintptr_t)d;

	memset(nh, 0, sizeof(*nh));
	memcpy(&nh->mac, &v, 6);
	nh->port = (uint16_t)(v >> 48);
}

/** Is addr (network order, family 4 or 6) the node itself: the gateway or an uplink address? */
static inline bool
psw_node_addr(const struct psw_node_info *node, unsigned family, const uint8_t *addr)
{
	uint32_t a;
	unsigned i;

	if (family == 6) {
		for (i = 0; i < node->nb_addrs6; i++)
			if (memcmp(addr, node->addrs6[i], 16) == 0)
				return true;
		return node->has_ip6 && memcmp(addr, node->gw6, 16) == 0;
	}
	memcpy(&a, addr, 4);
	if (a == node->gw4)
		return true;
	for (i = 0; i < node->nb_addrs; i++)
		if (a == node->addrs4[i])
			return true;
	return false;
}

/** The switch's source MAC on port: an uplink's own, the gateway's elsewhere. */
static inline const struct rte_ether_addr *
psw_port_mac(const struct psw_tables *t, uint16_t port)
{
	return t->ports[port].is_uplink ? &t->ports[port].mac : &t->node.gw_mac;
}

/** The published pointer; workers read it through psw_tables_get(). */
extern struct psw_tables *psw_tables_current;

/** Worker side: the snapshot to use for this loop iteration. */
static inline const struct psw_tables *
psw_tables_get(void)
{
	return __atomic_load_n(&psw_tables_current, __ATOMIC_ACQUIRE);
}

/*
 * Control side (psw_tables.c). Not for workers.
 */

/**
 * Create the RCU variable for nb_workers readers (thread ids 0..nb-1).
 * @return 0 or -ENOMEM
 */
int psw_tables_init(unsigned nb_workers);

/** The RCU variable workers register with. */
struct rte_rcu_qsbr *psw_tables_qsbr(void);

/** A zeroed snapshot to fill; sub-table pointers NULL. NULL + rte_errno on failure. */
struct psw_tables *psw_tables_alloc(void);

/**
 * Make t the current snapshot. Takes ownership of t and of the one reference
 * it holds on each sub-table. The previous snapshot is released (its
 * references dropped) once every worker has been quiescent.
 */
void psw_tables_publish(struct psw_tables *t);

/** Call fn(arg) once every worker has passed a quiescent point (control thread). */
void psw_tables_defer(void (*fn)(void *arg), void *arg);

/** Free what every worker has stopped using. Returns the number still pending. */
unsigned psw_tables_reclaim(void);

/**
 * Block the control thread (never a worker) until every worker has passed a
 * quiescent point, then reclaim. After it returns, no worker uses anything
 * that is not in the current snapshot (e.g. a removed port).
 */
void psw_tables_sync(void);

/** Release everything at shutdown (workers stopped). */
void psw_tables_fini(void);

/* Sub-table references (control thread only). Put frees at zero. NULL is accepted. */
void psw_pod_table_ref(struct psw_pod_table *p);
void psw_pod_table_put(struct psw_pod_table *p);
void psw_route_table_ref(struct psw_route_table *r);
void psw_route_table_put(struct psw_route_table *r);


#endif /* PSW_TABLES_H */
