/*
 * The neighbour table: the MACs of next hops given by their address (a
 * route's `via`, another node's address), found by ARP (IPv4) and
 * neighbour discovery (IPv6, RFC 4861) on the uplinks.
 *
 * The table lives on the control thread. The route compiler asks for the
 * next hops it needs (psw_neigh_nh): an entry is created and resolved at
 * once, so that a route is usually resolved before its first packet. Until
 * it is, the route's next hop says PSW_NH_F_RESOLVE and the forward stage
 * punts its packets here: up to PSW_NEIGH_HOLD of them wait for the answer
 * and are sent with it; more are dropped and counted. Workers punt ARP and
 * neighbour advertisements from the uplinks too; only entries the switch
 * asked for learn from them (nothing on the underlay can fill the table).
 * An IPv6 solicitation comes from the node's IPv6 address on the target's
 * subnet, else its first one, else the port's link-local address.
 *
 * A subnet of an uplink (node.addresses with a length) is a route whose
 * next hop is each destination itself (PSW_NH_F_GLEAN): the forward stage
 * finds its MAC in hosts4 / hosts6, which this table keeps (entries made on the
 * first packet to a destination, at most PSW_NEIGH_GLEAN_MAX, forgotten
 * when they stop answering); unknown, the packet is punted with cookie 0
 * and held like any other.
 *
 * States: INCOMPLETE (asking, broadcast, once a second, 3 times) ->
 * REACHABLE (answered) -> after PSW_NEIGH_REACHABLE_MS, PROBE (still used;
 * unicast asks, 3 times) -> REACHABLE again, or FAILED (MAC forgotten; asked
 * again after PSW_NEIGH_RETRY_MS). A MAC learned, changed or forgotten makes
 * the table dirty: the caller rebuilds the routes (psw_neigh_dirty).
 *
 * Frames go out through worker 0's inject ring. Control thread only.
 */
#ifndef PSW_NEIGH_H
#define PSW_NEIGH_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "psw_tables.h"

#define PSW_NEIGH_MAX          4096
#define PSW_NEIGH_GLEAN_MAX    1024      /* of which destinations on the uplinks' subnets */
#define PSW_NEIGH_HOLD         8
#define PSW_NEIGH_TRIES        3
#define PSW_NEIGH_RETRANS_MS   1000
#define PSW_NEIGH_REACHABLE_MS 30000
#define PSW_NEIGH_RETRY_MS     5000

struct psw_state;
struct psw_neigh_table;
struct rte_mbuf;

/** An empty table (NULL: out of memory). */
struct psw_neigh_table *psw_neigh_create(void);

/** Free the table and every packet it holds. */
void psw_neigh_free(struct psw_neigh_table *nt);

/** Start a route build: entries not asked for again until psw_neigh_sweep() go. */
void psw_neigh_mark(struct psw_neigh_table *nt);

/**
 * The next hop for address ip (family 4 or 6, network order) asked on port
 * (a port index, or PSW_PORT_NONE: every uplink): its MAC and port when
 * known, else PSW_NH_F_RESOLVE. Creates the entry (and asks at the next
 * tick) if there is none. @return 0, or -ENOSPC (table full: nh says no route).
 */
int psw_neigh_nh(struct psw_neigh_table *nt, uint8_t family, const uint8_t *ip, uint16_t port,
		 struct psw_nh *nh);

/**
 * End a route build: drop the entries not asked for since psw_neigh_mark(),
 * and destinations (glean entries) outside the uplinks' subnets.
 */
void psw_neigh_sweep(struct psw_neigh_table *nt, const struct psw_prefix *subnets, unsigned nb_subnets);

/**
 * The destinations on the uplinks' subnets whose MAC is known (IPv4 ->
 * psw_host_nh_encode), for psw_tables.hosts4; the table updates it in place.
 */
struct rte_hash *psw_neigh_hosts4(const struct psw_neigh_table *nt);

/** ... IPv6 ones (16-byte keys), for psw_tables.hosts6. */
struct rte_hash *psw_neigh_hosts6(const struct psw_neigh_table *nt);

/** Take a punted packet (psw_set_punt): learn from an ARP or advertisement, hold or send a routed packet. */
void psw_neigh_input(struct psw_state *st, struct rte_mbuf *pkt);

/** The node's addresses changed: announce them again on every uplink (at the next tick). */
void psw_neigh_reannounce(struct psw_neigh_table *nt);

/** Ask, retry, age and announce (gratuitous ARP, unsolicited advertisement on an uplink that came). now in ms. */
void psw_neigh_tick(struct psw_state *st, uint64_t now_ms);

/**
 * A port is destroyed, or its slot taken by a new one: what was learned on
 * it is asked anew (the table becomes dirty).
 */
void psw_neigh_port_gone(struct psw_neigh_table *nt, uint16_t port);

/** Rebuild the routes at the next poll (a rebuild that failed). */
void psw_neigh_set_dirty(struct psw_neigh_table *nt);

/** Dirty, without clearing it (a route build about to happen anyway rebuilds the routes). */
bool psw_neigh_is_dirty(const struct psw_neigh_table *nt);

/** A MAC was learned, changed or forgotten since the last call: routes must be rebuilt. */
bool psw_neigh_dirty(struct psw_neigh_table *nt);

/** Have worker 0 send a frame the control thread built on port (dropped and counted if it cannot). */
void psw_neigh_send(struct psw_state *st, struct rte_mbuf *pkt, uint16_t port);

/** The entries and counters as JSON (new reference). */
json_t *psw_neigh_json(const struct psw_neigh_table *nt);

#endif /* PSW_NEIGH_H */
