/*
 * tunnel: VXLAN (RFC 7348) or Geneve (RFC 8926) between nodes, when
 * cluster.encapsulation is "vxlan" or "geneve". Decapsulation is a stage of
 * its own, right after parse: a frame on an uplink that is UDP to a node
 * address and the overlay's port, with the cluster's VNI (Geneve: version
 * 0, Ethernet inside; its options skipped unless one is critical or the
 * packet is a control one, geneve_option), loses its outer headers and is parsed again as the frame
 * it carried, as if it had come in on the uplink (its destination MAC
 * becomes the switch's there). The inner packet must be IPv4 or IPv6 and
 * its source a pod of the node that sent it or that node itself: its
 * source address routes, through the VXLAN route of a Node or the host
 * route to one of its InternalIPs, to the outer source address (the
 * route's tunnel_dst). Anything else is dropped (vxlan_bad, vxlan_spoof;
 * the drop reasons and events keep VXLAN's names for Geneve too). The
 * inner IPv4 header checksum is checked unless the packet is a pod's plain
 * one (PSW_F_IP_CSUM_LAZY: forward checks it before it answers the packet
 * or rewrites its header whole).
 *
 * Encapsulation is the forward stage's, for a next hop with PSW_NH_F_TUNNEL:
 * psw_tunnel_encap() prepends outer Ethernet, IPv4 (from the node's first
 * address to the other node's), UDP (source port from the inner flow's
 * hash, for the underlay's ECMP and the receiver's RSS; checksum 0) and
 * VXLAN or Geneve (no options) headers; the caller fills the outer MACs.
 *
 * Reads:  meta (parse), tables: node, ports, routes.
 * Writes: the frame (outer headers gone), meta (parsed again); DROP (also ip4_csum).
 * Called by workers only.
 */
#ifndef PSW_TUNNEL_H
#define PSW_TUNNEL_H

#include <stdbool.h>

#include <rte_mbuf.h>

#include "psw_csum.h"
#include "psw_pkt.h"
#include "psw_stage.h"
#include "psw_tables.h"

/* Outer Ethernet + IPv4 + UDP + VXLAN, or Geneve without options. */
#define PSW_TUNNEL_OVERHEAD 50

void psw_tunnel_run(struct psw_stage_ctx *sc, const struct psw_tables *t, struct psw_burst *b);

/**
 * Fill node's tunnel_hdr and tunnel_sum from its addrs4[0], gw_mac,
 * geneve, tunnel_port and vni: whoever builds the tables calls it after
 * setting those (the control thread; tests that build tables by hand).
 */
void psw_tunnel_prepare(struct psw_node_info *node);

/**
 * Prepend the outer headers for next hop nh (PSW_NH_F_TUNNEL) to a routed
 * frame (one segment, Ethernet header without VLAN tags), and set the
 * inner frame's MACs (source the gateway's, destination zero: the
 * receiver writes its own). The outer Ethernet addresses are left for the
 * caller.
 * @return the outer Ethernet header, or NULL (no headroom: drop vxlan_no_room).
 */
struct rte_ether_hdr *psw_tunnel_encap(const struct psw_tables *t, struct rte_mbuf *pkt,
				      const struct psw_meta *m, const struct psw_nh *nh);

/**
 * A packet out of the overlay whose IPv4 header checksum the tunnel stage
 * left unchecked (PSW_F_IP_CSUM_LAZY): checked before a stage answers it
 * or rewrites its header whole (forward: time exceeded, too big,
 * fragments; service: a refused connection), so that a wrong one is not
 * made right. False: dropped (ip4_csum).
 */
static inline bool
psw_tunnel_csum_ok(const struct rte_mbuf *pkt, struct psw_meta *m)
{
	if (likely(!(m->flags & PSW_F_IP_CSUM_LAZY)))
		return true;
	m->flags &= (uint16_t)~PSW_F_IP_CSUM_LAZY;
	if (psw_ip4_hdr_csum_ok(rte_pktmbuf_mtod_offset(pkt, const void *, m->l2_len), m->l3_len))
		return true;
	psw_set_drop(m, PSW_DROP_IP4_CSUM);
	return false;
}

#endif /* PSW_TUNNEL_H */
