/*
 * guard: what may enter the switch. Anti-spoofing on pod ports (a pod sends
 * only from its own MAC and IPs), destination-MAC check, and the gateway's
 * own answers: ARP replies (proxy ARP on pod ports, so pods on a shared
 * subnet still go through the gateway), IPv6 neighbour advertisements, and
 * echo replies for pings to the gateway. Answers are built in place and sent
 * back out the port they came from.
 *
 * Reads:  meta (parse), tables: node, ports, pods.
 * Writes: verdict DROP with a reason, or TX back to in_port for answers
 *         (frame rewritten); leaves packets to be routed at CONTINUE; marks
 *         other packets for the gateway PSW_F_TO_GW (a masqueraded reply that
 *         conntrack will claim, or a drop in forward).
 * Called by workers only.
 */
#ifndef PSW_GUARD_H
#define PSW_GUARD_H

#include "psw_stage.h"
#include "psw_pkt.h"
#include "psw_tables.h"

void psw_guard_run(struct psw_stage_ctx *sc, const struct psw_tables *t, struct psw_burst *b);

#endif /* PSW_GUARD_H */
