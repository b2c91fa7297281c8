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

/**
 * Rewrite pkt in place into an ICMP(v6) time-exceeded error from the gateway
 * to its source, to be sent back out its input port.
 * @return 0, or -1 when no error may or can be sent (caller drops).
 */
int psw_icmp_time_exceeded(const struct psw_tables *t, struct rte_mbuf *pkt,
			   struct psw_meta *m);

/**
 * Rewrite pkt in place into an ICMP (type4/code4) or ICMPv6 (type6/code6)
 * error from the gateway to its source, quoting it, to go back out its
 * input port. Never answers an ICMP error or a non-first fragment.
 * @return 0, or -1 (caller drops).
 */
int psw_icmp_error(const struct psw_tables *t, struct rte_mbuf *pkt, struct psw_meta *m,
		   uint8_t type4, uint8_t code4, uint8_t type6, uint8_t code6);

#endif /* PSW_FORWARD_H */
