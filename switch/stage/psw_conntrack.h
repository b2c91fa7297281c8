/*
 * conntrack (psw_conntrack_run) — after guard. Looks up every trackable
 * packet (TCP, UDP, SCTP, ICMP echo) in the connection table (the worker's
 * cache first): a packet of a known connection is accounted (TCP state and
 * windows, last seen) and NAT-ed (original direction: to the backend, and
 * from the gateway or node when masqueraded; reply direction: back from
 * the Service address), then goes on to forward, its policy verdict kept
 * (marked PSW_F_CT_RECHECK when the policies changed since). Others are
 * marked PSW_F_CT_MISS. An ICMP error about a known, allowed connection
 * goes with it (PSW_F_CT_RELATED) under the rules of docs/policy.md's
 * threat model, translated back for the client when the connection is
 * DNAT-ed; any other error is judged like any packet.
 *
 * Reads:  meta, tables: ct, pol (generation), ports, node.
 * Writes: the frame (NAT), meta (addresses, ports, ct, flags), entries'
 *         state, windows and last seen.
 * Called by workers only.
 */
#ifndef PSW_CONNTRACK_H
#define PSW_CONNTRACK_H

#include "psw_ct.h"
#include "psw_pkt.h"
#include "psw_stage.h"
#include "psw_tables.h"

void psw_conntrack_run(struct psw_stage_ctx *sc, const struct psw_tables *t, struct psw_burst *b);

#endif /* PSW_CONNTRACK_H */
