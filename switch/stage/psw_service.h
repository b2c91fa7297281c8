/*
 * The service load-balancer stage (psw_service_run) — after conntrack
 * (psw_conntrack.h), for PSW_F_CT_MISS packets whose destination is
 * a Service address and port: picks a backend by Maglev over the 5-tuple,
 * masquerades the source when the backend is the client itself (hairpin),
 * records the connection and rewrites the packet. A Service with no usable
 * endpoint is answered at once: TCP RST, or ICMP / ICMPv6 port unreachable.
 * A TCP packet to a Service that is not a SYN and has no connection is
 * dropped (ct_invalid), never forwarded un-NAT-ed (kubernetes #74839).
 * Plain pod-to-pod flows are not tracked by this stage.
 *
 * Egress masquerade, per family (node.masq, node.masq6): a pod's new
 * connection (TCP SYN, UDP, ICMP / ICMPv6 echo) to outside the cluster
 * (not in node.nomasq / nomasq6, not a node address) gets the node's first
 * address of its family as source and a port that does not clash
 * (psw_ct_open_snat); its replies are un-NAT-ed by conntrack. A
 * connection from outside to a pod is tracked, so its replies leave with
 * the pod's own address. A pod's packet out of the cluster that cannot be
 * tracked is dropped (masq_not_tracked).
 *
 * Reads:  meta, tables: svcs, ct, node. Writes: the frame (NAT, or a reject
 *         built in place), meta (addresses, ports, ct), the conntrack table.
 * Called by workers only.
 */
#ifndef PSW_SERVICE_H
#define PSW_SERVICE_H

#include <stdbool.h>
#include <stdint.h>

#include "psw_ct.h"
#include "psw_stage.h"
#include "psw_pkt.h"
#include "psw_tables.h"

void psw_service_run(struct psw_stage_ctx *sc, const struct psw_tables *t, struct psw_burst *b);

#endif /* PSW_SERVICE_H */
