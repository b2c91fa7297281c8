/*
 * forward: L3 routing. The destination is looked up first among local pods
 * (exact match, rte_hash, one bulk lookup per burst), then in the routes
 * (longest prefix, rte_fib / rte_fib6, one bulk lookup per burst). The frame
 * gets the gateway as source MAC and the next hop as destination MAC, loses
 * any VLAN tags, and its TTL / hop limit is decremented (IPv4 checksum
 * updated incrementally). An expiring packet is turned into an ICMP / ICMPv6
 * time-exceeded message sent back where it came from.
 *
 * Reads:  meta (parse), tables: node, pods, routes, ports.
 * Writes: the frame's Ethernet header and TTL; verdict TX to the next hop's
 *         port, or DROP (no_route, port_gone, ttl_exceeded).
 * Called by workers only.
 */
#ifndef PSW_FORWARD_H
#define PSW_FORWARD_H

#include "psw_stage.h"
#include "psw_pkt.h"
#include "psw_tables.h"

void psw_forward_run(struct psw_stage_ctx *sc, const struct psw_tables *t, struct psw_burst *b);

#endif /* PSW_FORWARD_H */
