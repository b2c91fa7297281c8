/* guard stage: anti-spoofing, and which ARP / ND / echo requests the switch answers (psw_answer.c builds the answers). */
#include <netinet/in.h>
#include <string.h>

#include <rte_arp.h>
#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_mbuf.h>

#include "psw_answer.h"
#include "psw_csum.h"
#include "psw_guard.h"

#define ICMP6_ECHO_REQUEST 128
#define ND_NEIGHBOR_SOLICIT 135
#define ND_NEIGHBOR_ADVERT 136
#define ND_NS_LEN 24                     /* type..target, before options */
#define ND_OPT_SRC_LLADDR 1

static inline const struct psw_pod *
in_pod(const struct psw_tables *t, const struct psw_meta *m)
{
	const struct psw_port_info *pi = &t->ports[m->in_port];

	return pi->is_pod ? &t->pods->pods[pi->pod] : NULL;
}

/* The gateway, or one of the node's uplink addresses. */
static inline bool
is_node_addr4(const struct psw_tables *t, uint32_t a)
{
	uint32_t i;

	if (a == t->node.gw4)
		return true;
	for (i = 0; i < t->node.nb_addrs; i++)
		if (a == t->node.addrs4[i])
			return true;
	return false;
}

/*
 * Reverse-path check of a port without a pod (an uplink, the node's own
 * port): nothing arriving there may claim a local pod's address, nor the
 * gateway's or the node's unless the port is the node's own stack.
 */
static inline bool
uplink_spoof4(const struct psw_tables *t, const struct psw_meta *m)
{
	if (t->pods != NULL && psw_pod_find4(t->pods, m->src4, psw_pod_hash4(m->src4)) >= 0)
		return true;
	return is_node_addr4(t, m->src4) && !t->ports[m->in_port].is_node;
}

static inline bool
uplink_spoof6(const struct psw_tables *t, const struct psw_meta *m)
{
	if (t->pods != NULL && psw_pod_find6(t->pods, m->src6, psw_pod_hash6(m->src6)) >= 0)
		return true;
	return psw_node_addr(&t->node, 6, m->src6) && !t->ports[m->in_port].is_node;
}

static inline bool
ip6_is_link_local(const uint8_t *a)
{
	return a[0] == 0xfe && (a[1] & 0xc0) == 0x80;
}

static inline bool
ip6_is_unspecified(const uint8_t *a)
{
	static const uint8_t zero[16];

	return memcmp(a, zero, 16) == 0;
}

/* ff02::1:ffXX:XXXX, the group a solicitation for an address ending in XX:XXXX goes to */
static inline bool
ip6_is_solicited_node(const uint8_t *a)
{
	static const uint8_t prefix[13] = { 0xff, 0x02, [11] = 0x01, [12] = 0xff };

	return memcmp(a, prefix, sizeof(prefix)) == 0;
}

/*
 * RFC 4861 7.1.1: a neighbour solicitation (ip directly followed by the
 * message, icmp_len bytes of one segment) that may be acted on: hop limit
 * 255 (not routed here), code 0, checksum right, at least the 24 bytes up
 * to the target, a target that is not multicast, every option of non-zero
 * length and inside the message; from the unspecified address (duplicate
 * address detection) only to a solicited-node group and without a source
 * link-layer option.
 */
static bool
ns_valid(const struct rte_ipv6_hdr *ip, const uint8_t *icmp, unsigned icmp_len)
{
	bool dad = ip6_is_unspecified(ip->src_addr);
	unsigned off;

	if (ip->hop_limits != 255 || icmp[1] != 0 || icmp_len < ND_NS_LEN || icmp[8] == 0xff ||
	    !psw_ip6_l4_csum_ok(ip, icmp))
		return false;
	if (dad && !ip6_is_solicited_node(ip->dst_addr))
		return false;
	for (off = ND_NS_LEN; off + 2 <= icmp_len; off += icmp[off + 1] * 8u)
		if (icmp[off + 1] == 0 || off + icmp[off + 1] * 8u > icmp_len ||
		    (dad && icmp[off] == ND_OPT_SRC_LLADDR))
			return false;
	return true;
}

static void
guard_arp(struct psw_stage_ctx *sc, const struct psw_tables *t, struct rte_mbuf *pkt,
	  struct psw_meta *m, const struct psw_pod *pod)
{
	struct rte_arp_hdr *arp;
	uint32_t sip, tip;

	if (rte_pktmbuf_data_len(pkt) < m->l2_len + sizeof(*arp)) {
		psw_set_drop(m, PSW_DROP_ARP_BAD);
		return;
	}
	arp = rte_pktmbuf_mtod_offset(pkt, struct rte_arp_hdr *, m->l2_len);
	if (arp->arp_hardware != RTE_BE16(RTE_ARP_HRD_ETHER) ||
	    arp->arp_protocol != RTE_BE16(RTE_ETHER_TYPE_IPV4) ||
	    arp->arp_hlen != RTE_ETHER_ADDR_LEN || arp->arp_plen != 4) {
		psw_set_drop(m, PSW_DROP_ARP_BAD);
		return;
	}
	sip = arp->arp_data.arp_sip;
	tip = arp->arp_data.arp_tip;
	if (pod != NULL) {
		if (!rte_is_same_ether_addr(&arp->arp_data.arp_sha, &pod->nh.mac)) {
			psw_set_drop(m, PSW_DROP_SPOOF_MAC);
			return;
		}
		if (sip != 0 && !(pod->has_ip4 && sip == pod->ip4)) {
			psw_set_drop(m, PSW_DROP_SPOOF_IP);
			return;
		}
	}
	/*
	 * On an uplink, a reply to the node (to the switch's own request) and
	 * an announcement (gratuitous ARP) go to the control thread, which
	 * learns the neighbours it asked about and nothing else. Requests
	 * between other stations teach nothing and are not punted: their
	 * chatter cannot use up the port's budget for the node's own answers.
	 */
	if (t->ports[m->in_port].is_uplink && sip != 0 && m->nb_vlans == 0 &&
	    ((arp->arp_opcode == RTE_BE16(RTE_ARP_OP_REPLY) && (is_node_addr4(t, tip) || tip == sip)) ||
	     (arp->arp_opcode == RTE_BE16(RTE_ARP_OP_REQUEST) && tip == sip))) {
		if (!psw_punt_allow(sc, m->in_port))
			psw_set_drop(m, PSW_DROP_PUNT_LIMIT);
		else
			psw_set_punt(pkt, m, PSW_PUNT_ARP, 0);
		return;
	}
	/*
	 * Answer requests only. On a pod port, every address but the pod's own
	 * is reached through the gateway (proxy ARP); a probe or announcement
	 * of the pod's own address gets no answer. Elsewhere only the gateway.
	 */
	if (arp->arp_opcode != RTE_BE16(RTE_ARP_OP_REQUEST) || tip == sip ||
	    (pod != NULL ? (pod->has_ip4 && tip == pod->ip4) : !is_node_addr4(t, tip)) ||
	    sip == 0) {
		psw_set_drop(m, PSW_DROP_ARP_IGNORED);
		return;
	}
	if (!psw_punt_allow(sc, m->in_port)) {
		psw_set_drop(m, PSW_DROP_PUNT_LIMIT);
		return;
	}
	psw_answer_arp(t, pkt, m);
	psw_count_event(sc, PSW_EV_ARP_REPLY);
}

/*
 * ND: an advertisement on an uplink to the control thread; a valid
 * neighbour solicitation for an address the switch answers for -> the
 * advertisement, from the port's MAC, to the frame's source. The switch
 * learns nothing from a solicitation (its source link-layer option is
 * only checked for form): the neighbour table takes only answers to its
 * own questions.
 */
static void
guard_nd(struct psw_stage_ctx *sc, const struct psw_tables *t, struct rte_mbuf *pkt,
	 struct psw_meta *m, const struct psw_pod *pod)
{
	struct rte_ipv6_hdr *ip = rte_pktmbuf_mtod_offset(pkt, struct rte_ipv6_hdr *, m->l2_len);
	uint8_t *icmp = rte_pktmbuf_mtod_offset(pkt, uint8_t *, m->l4_off);
	unsigned icmp_len = m->l2_len + m->l3_payload - m->l4_off;
	uint8_t target[16];

	/*
	 * ND is link-scoped: out of VXLAN it came from anywhere the underlay
	 * routes (hop limit 255 and all), not from the uplink's link. Nothing
	 * learnt from it, nothing answered.
	 */
	if (m->flags & PSW_F_TUNNEL) {
		psw_set_drop(m, PSW_DROP_ND_IGNORED);
		return;
	}
	/*
	 * On an uplink, an advertisement (an answer to the switch's own
	 * solicitation, or a neighbour announcing itself) goes to the control
	 * thread, which learns the neighbours it asked about and nothing else.
	 * Answers to other stations (to another MAC) teach nothing and are not
	 * punted: their chatter cannot use up the port's budget.
	 */
	if ((m->dport >> 8) == ND_NEIGHBOR_ADVERT && t->ports[m->in_port].is_uplink && m->nb_vlans == 0 &&
	    ip->hop_limits == 255 && icmp_len >= ND_NS_LEN && !(m->flags & PSW_F_IP_OPTS) &&
	    pkt->nb_segs == 1 &&
	    ((m->flags & PSW_F_L2_MCAST) ||
	     rte_is_same_ether_addr(&rte_pktmbuf_mtod(pkt, const struct rte_ether_hdr *)->dst_addr,
				    psw_port_mac(t, m->in_port)))) {
		if (!psw_punt_allow(sc, m->in_port))
			psw_set_drop(m, PSW_DROP_PUNT_LIMIT);
		else
			psw_set_punt(pkt, m, PSW_PUNT_ND, 0);
		return;
	}
	/* other ND and router messages, and solicitations behind extension headers: not answered */
	if ((m->dport >> 8) != ND_NEIGHBOR_SOLICIT || (m->flags & PSW_F_IP_OPTS) || pkt->nb_segs != 1) {
		psw_set_drop(m, PSW_DROP_ND_IGNORED);
		return;
	}
	if (!ns_valid(ip, icmp, icmp_len)) {
		psw_set_drop(m, PSW_DROP_ND_BAD);
		return;
	}
	/* a duplicate address probe: the switch does not defend its addresses */
	if (ip6_is_unspecified(m->src6)) {
		psw_set_drop(m, PSW_DROP_ND_IGNORED);
		return;
	}
	memcpy(target, icmp + 8, 16);
	if (pod != NULL ? (pod->has_ip6 && memcmp(target, pod->ip6, 16) == 0)
			: !psw_node_addr(&t->node, 6, target)) {
		psw_set_drop(m, PSW_DROP_ND_IGNORED);
		return;
	}
	if (!psw_punt_allow(sc, m->in_port)) {
		psw_set_drop(m, PSW_DROP_PUNT_LIMIT);
		return;
	}
	if (psw_answer_nd(t, pkt, m, target) < 0) {
		psw_set_drop(m, PSW_DROP_ND_IGNORED);
		return;
	}
	psw_count_event(sc, PSW_EV_ND_REPLY);
}

static void
guard_echo4(struct psw_stage_ctx *sc, const struct psw_tables *t, struct rte_mbuf *pkt,
	    struct psw_meta *m)
{
	if (m->l4_proto != IPPROTO_ICMP || !(m->flags & PSW_F_L4) || (m->flags & PSW_F_FRAG) ||
	    (m->dport >> 8) != RTE_IP_ICMP_ECHO_REQUEST) {
		/* maybe a reply to a masqueraded (hairpin) connection: conntrack decides */
		m->flags |= PSW_F_TO_GW;
		return;
	}
	if (!psw_punt_allow(sc, m->in_port)) {
		psw_set_drop(m, PSW_DROP_PUNT_LIMIT);
		return;
	}
	psw_answer_echo4(t, pkt, m);
	psw_count_event(sc, PSW_EV_ECHO_REPLY);
}

static void
guard_echo6(struct psw_stage_ctx *sc, const struct psw_tables *t, struct rte_mbuf *pkt,
	    struct psw_meta *m)
{
	if (m->l4_proto != IPPROTO_ICMPV6 || !(m->flags & PSW_F_L4) || (m->flags & PSW_F_FRAG) ||
	    (m->dport >> 8) != ICMP6_ECHO_REQUEST) {
		m->flags |= PSW_F_TO_GW;
		return;
	}
	if (!psw_punt_allow(sc, m->in_port)) {
		psw_set_drop(m, PSW_DROP_PUNT_LIMIT);
		return;
	}
	psw_answer_echo6(t, pkt, m);
	psw_count_event(sc, PSW_EV_ECHO_REPLY);
}

static inline bool
ip4_is_multicast_or_broadcast(const struct psw_tables *t, uint32_t dst)
{
	uint32_t h = rte_be_to_cpu_32(dst);

	return (h & 0xf0000000) == 0xe0000000 || h == 0xffffffff ||
	       dst == (t->node.pod_net4 | ~t->node.pod_mask4);
}

/* Addressed to the switch's MAC on the port it came in on. */
static inline bool
gateway_mac(const struct psw_tables *t, const struct rte_mbuf *pkt, uint16_t port)
{
	const struct rte_ether_hdr *eth = rte_pktmbuf_mtod(pkt, const struct rte_ether_hdr *);

	return rte_is_same_ether_addr(&eth->dst_addr, psw_port_mac(t, port));
}

static void
guard_ip4(struct psw_stage_ctx *sc, const struct psw_tables *t, struct rte_mbuf *pkt,
	  struct psw_meta *m, const struct psw_pod *pod)
{
	if (m->flags & PSW_F_L2_MCAST) {
		psw_set_drop(m, PSW_DROP_MULTICAST);
		return;
	}
	if (!gateway_mac(t, pkt, m->in_port)) {
		psw_set_drop(m, PSW_DROP_L2_DST);
		return;
	}
	if (pod != NULL && !(pod->has_ip4 && m->src4 == pod->ip4)) {
		psw_set_drop(m, PSW_DROP_SPOOF_IP);
		return;
	}
	if (pod == NULL && uplink_spoof4(t, m)) {
		psw_set_drop(m, PSW_DROP_SPOOF_UPLINK);
		return;
	}
	if (ip4_is_multicast_or_broadcast(t, m->dst4)) {
		psw_set_drop(m, PSW_DROP_MULTICAST);
		return;
	}
	if (is_node_addr4(t, m->dst4))
		guard_echo4(sc, t, pkt, m);
}

static inline bool
is_nd(const struct psw_meta *m)
{
	unsigned type = m->dport >> 8;

	return m->l4_proto == IPPROTO_ICMPV6 && (m->flags & PSW_F_L4) &&
	       ((type >= 130 && type <= 137) || type == 143);
}

static void
guard_ip6(struct psw_stage_ctx *sc, const struct psw_tables *t, struct rte_mbuf *pkt,
	  struct psw_meta *m, const struct psw_pod *pod)
{
	if (is_nd(m)) {
		guard_nd(sc, t, pkt, m, pod);
		return;
	}
	if (m->flags & PSW_F_L2_MCAST) {
		psw_set_drop(m, PSW_DROP_MULTICAST);
		return;
	}
	if (!gateway_mac(t, pkt, m->in_port)) {
		psw_set_drop(m, PSW_DROP_L2_DST);
		return;
	}
	if (ip6_is_link_local(m->src6) || ip6_is_link_local(m->dst6)) {
		psw_set_drop(m, PSW_DROP_LINK_LOCAL);
		return;
	}
	if (pod != NULL && !(pod->has_ip6 && memcmp(m->src6, pod->ip6, 16) == 0)) {
		psw_set_drop(m, PSW_DROP_SPOOF_IP);
		return;
	}
	if (pod == NULL && uplink_spoof6(t, m)) {
		psw_set_drop(m, PSW_DROP_SPOOF_UPLINK);
		return;
	}
	if (m->dst6[0] == 0xff) {
		psw_set_drop(m, PSW_DROP_MULTICAST);
		return;
	}
	if (psw_node_addr(&t->node, 6, m->dst6))
		guard_echo6(sc, t, pkt, m);
}

void
psw_guard_run(struct psw_stage_ctx *sc, const struct psw_tables *t, struct psw_burst *b)
{
	unsigned i;

	for (i = 0; i < b->nb; i++) {
		struct psw_meta *m = &b->meta[i];
		struct rte_mbuf *pkt = b->pkts[i];
		const struct psw_pod *pod;

		if (m->verdict != PSW_V_CONTINUE)
			continue;
		pod = in_pod(t, m);
		if (pod != NULL &&
		    !rte_is_same_ether_addr(&rte_pktmbuf_mtod(pkt, struct rte_ether_hdr *)->src_addr,
					    &pod->nh.mac)) {
			psw_set_drop(m, PSW_DROP_SPOOF_MAC);
			continue;
		}
		switch (m->l3) {
		case PSW_L3_ARP:
			guard_arp(sc, t, pkt, m, pod);
			break;
		case PSW_L3_IPV4:
			guard_ip4(sc, t, pkt, m, pod);
			break;
		case PSW_L3_IPV6:
			guard_ip6(sc, t, pkt, m, pod);
			break;
		default:
			psw_set_drop(m, PSW_DROP_ETHERTYPE);
			break;
		}
	}
}
