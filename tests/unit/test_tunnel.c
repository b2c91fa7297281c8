/*
 * The overlay, attacked: VXLAN and Geneve decapsulation (spoofed senders,
 * the other node itself, relays, cut headers, options and critical
 * options, lengths that lie, nesting, segments, mixed bursts; neighbour
 * discovery inside teaches nothing), encapsulation (the template byte for
 * byte, MTU edges, TTL 1, tags, a next hop being resolved, answers back
 * into the overlay), IPv4 fragmentation natively and into the overlay,
 * and the inner IPv4 checksum: left to a pod on the plain path, checked
 * before every answer or whole rewrite. Split from test_neigh.c, whose
 * node (neigh_fixture.h) it runs on. EAL --no-huge, crafted mbufs.
 */
#define PSW_UT_EAL
#include "neigh_fixture.h"

/* Wrap an inner frame in VXLAN from the other node (outer source vtep) to the node. */
static struct rte_mbuf *
vxlan(struct rte_mbuf *inner, uint32_t vtep)
{
	const unsigned over = 14 + 20 + 8 + 8;
	uint16_t ilen = rte_pktmbuf_data_len(inner);
	uint8_t *d = (uint8_t *)rte_pktmbuf_prepend(inner, (uint16_t)over);
	struct rte_ipv4_hdr *ip;
	struct rte_udp_hdr *udp;

	if (d == NULL)
		return NULL;
	memset(d, 0, over);
	memcpy(d, up_mac, 6);
	memcpy(d + 6, mac_other, 6);
	*(uint16_t *)(d + 12) = RTE_BE16(RTE_ETHER_TYPE_IPV4);
	ip = (struct rte_ipv4_hdr *)(d + 14);
	ip->version_ihl = 0x45;
	ip->total_length = rte_cpu_to_be_16((uint16_t)(20 + 8 + 8 + ilen));
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_UDP;
	ip->src_addr = rte_cpu_to_be_32(vtep);
	ip->dst_addr = rte_cpu_to_be_32(NODE);
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	udp = (struct rte_udp_hdr *)(ip + 1);
	udp->src_port = RTE_BE16(50000);
	udp->dst_port = RTE_BE16(VXLAN_PORT);
	udp->dgram_len = rte_cpu_to_be_16((uint16_t)(8 + 8 + ilen));
	d = (uint8_t *)(udp + 1);
	d[0] = 0x08;
	d[4] = 0;
	d[5] = 0;
	d[6] = VNI;
	return inner;
}

/* An inner UDP datagram from src to dst, from the other node's side. */
static struct rte_mbuf *
inner_udp6(const uint8_t *src, const uint8_t *dst)
{
	struct tpkt p;

	tpkt_defaults(&p);
	p.ip6 = 1;
	memcpy(p.src_mac, mac_other, 6);
	memcpy(p.dst_mac, up_mac, 6);
	memcpy(p.src6, src, 16);
	memcpy(p.dst6, dst, 16);
	return tpkt_build(mp, &p);
}

static void
test_tunnel(void)
{
	struct rte_mbuf *m;

	fresh();
	/* what the setup is for: the other node's pod to ours */
	expect_v(vxlan(inner_udp6(remote6, pod6), OTHER), P_UP, PSW_V_TX, P_POD, "remote pod to local pod", false);
	/* a source that is not the sending node's */
	expect_v(vxlan(inner_udp6(rtr6, pod6), OTHER), P_UP, PSW_V_DROP, PSW_DROP_VXLAN_SPOOF,
		 "a spoofed inner source", false);
	expect_v(vxlan(inner_udp6(remote6, pod6), OTHER + 1), P_UP, PSW_V_DROP, PSW_DROP_VXLAN_SPOOF,
		 "the other node's pods from a third vtep", false);
	/* the other node itself: what it masqueraded to its own address (a
	 * NodePort's client); from no other vtep, and no route naming no node
	 * passes for one, even from outer source 0.0.0.0 */
	expect_v(vxlan(inner_udp6(other_node6, pod6), OTHER), P_UP, PSW_V_TX, P_POD, "the other node's own address",
		 false);
	expect_v(vxlan(inner_udp6(other_node6, pod6), OTHER + 1), P_UP, PSW_V_DROP, PSW_DROP_VXLAN_SPOOF,
		 "the other node's own address from a third vtep", false);
	expect_v(vxlan(inner_udp6(far6, pod6), 0), P_UP, PSW_V_DROP, PSW_DROP_VXLAN_SPOOF,
		 "a routed stranger from vtep 0.0.0.0", false);
	/* not for this node: no relaying */
	expect_v(vxlan(inner_udp6(remote6, rtr6), OTHER), P_UP, PSW_V_DROP, PSW_DROP_VXLAN_NOT_HERE,
		 "relayed to a third", false);
	/* inner IPv6 header cut short */
	m = inner_udp6(remote6, pod6);
	rte_pktmbuf_trim(m, (uint16_t)(rte_pktmbuf_data_len(m) - (14 + 30)));
	expect_v(vxlan(m, OTHER), P_UP, PSW_V_DROP, PSW_DROP_RUNT, "an inner IPv6 header cut short", false);
	/* inner UDP header cut short: the IPv6 payload length says 8, 4 are there */
	m = inner_udp6(remote6, pod6);
	ip_of(m)->payload_len = RTE_BE16(8);
	rte_pktmbuf_trim(m, (uint16_t)(rte_pktmbuf_data_len(m) - (14 + 40 + 4)));
	expect_v(vxlan(m, OTHER), P_UP, PSW_V_DROP, PSW_DROP_IP6_LEN, "an inner UDP header cut short", false);
	/* inner IPv6 behind extension headers: a hop-by-hop header, a first fragment */
	{
		static const uint8_t ext[2][8] = { { IPPROTO_UDP, 0, 1, 4, 0, 0, 0, 0 },      /* HBH: PadN */
						   { IPPROTO_UDP, 0, 0, 1, 0, 0, 0x12, 0x34 } }; /* frag 0, M */
		static const uint8_t nh[2] = { 0, 44 };
		unsigned k;

		for (k = 0; k < 2; k++) {
			m = inner_udp6(remote6, pod6);
			insert_ext(m, nh[k], ext[k]);
			expect_v(vxlan(m, OTHER), P_UP, PSW_V_TX, P_POD, "a remote pod's datagram behind an extension header",
				 false);
		}
		/* and a spoofed source behind them is still a spoof */
		for (k = 0; k < 2; k++) {
			m = inner_udp6(rtr6, pod6);
			insert_ext(m, nh[k], ext[k]);
			expect_v(vxlan(m, OTHER), P_UP, PSW_V_DROP, PSW_DROP_VXLAN_SPOOF,
				 "a spoofed source behind an extension header", false);
		}
	}
	/* inner ND is not on-link: a neighbour advertisement (hop limit 255 and
	 * all) through the overlay must not reach the neighbour table */
	m = nd_frame(ND_NA, mac_evil, remote6, node6, rtr6, O_FLAG, (const uint8_t[8]){ 2, 1, 2, 0, 0, 0, 0, 0xee },
		     8);
	memcpy(rte_pktmbuf_mtod(m, uint8_t *), up_mac, 6);
	expect_v(vxlan(m, OTHER), P_UP, PSW_V_DROP, PSW_DROP_ND_IGNORED, "an advertisement through VXLAN punted",
		 false);
	m = nd_frame(ND_NA, mac_evil, remote6, pod6, rtr6, O_FLAG, (const uint8_t[8]){ 2, 1, 2, 0, 0, 0, 0, 0xee },
		     8);
	expect_v(vxlan(m, OTHER), P_UP, PSW_V_DROP, PSW_DROP_ND_IGNORED,
		 "an advertisement through VXLAN to a pod punted", false);
	/* nor is a solicitation answered into the underlay */
	m = nd_frame(ND_NS, mac_evil, remote6, node6, node6, 0, (const uint8_t[8]){ 1, 1, 2, 0, 0, 0, 0, 0xee }, 8);
	expect_v(vxlan(m, OTHER), P_UP, PSW_V_DROP, PSW_DROP_ND_IGNORED, "a solicitation through VXLAN answered",
		 false);
}

/*
 * Wrap an inner frame in Geneve (port 6081) from the other node: byte 0
 * version and options' length, byte 1 the O and C flags, proto, then
 * opt_words * 4 bytes of options (one TLV: class 0x0102, type 0x05).
 */
static struct rte_mbuf *
geneve(struct rte_mbuf *inner, uint8_t b0, uint8_t b1, uint16_t proto, uint32_t vni, unsigned opt_words)
{
	const unsigned over = 14 + 20 + 8 + 8 + opt_words * 4;
	uint16_t ilen = rte_pktmbuf_data_len(inner);
	uint8_t *d = (uint8_t *)rte_pktmbuf_prepend(inner, (uint16_t)over);
	struct rte_ipv4_hdr *ip;
	struct rte_udp_hdr *udp;

	if (d == NULL)
		return NULL;
	memset(d, 0, over);
	memcpy(d, up_mac, 6);
	memcpy(d + 6, mac_other, 6);
	*(uint16_t *)(d + 12) = RTE_BE16(RTE_ETHER_TYPE_IPV4);
	ip = (struct rte_ipv4_hdr *)(d + 14);
	ip->version_ihl = 0x45;
	ip->total_length = rte_cpu_to_be_16((uint16_t)(over - 14 + ilen));
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_UDP;
	ip->src_addr = rte_cpu_to_be_32(OTHER);
	ip->dst_addr = rte_cpu_to_be_32(NODE);
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	udp = (struct rte_udp_hdr *)(ip + 1);
	udp->src_port = RTE_BE16(50000);
	udp->dst_port = RTE_BE16(6081);
	udp->dgram_len = rte_cpu_to_be_16((uint16_t)(over - 34 + ilen));
	d = (uint8_t *)(udp + 1);
	d[0] = b0;
	d[1] = b1;
	d[2] = (uint8_t)(proto >> 8);
	d[3] = (uint8_t)proto;
	d[4] = (uint8_t)(vni >> 16);
	d[5] = (uint8_t)(vni >> 8);
	d[6] = (uint8_t)vni;
	if (opt_words > 0) {
		d[8] = 0x01;
		d[9] = 0x02;
		d[10] = 0x05;
		d[11] = (uint8_t)(opt_words - 1);    /* the option's data length in words */
	}
	return inner;
}

/*
 * Geneve (RFC 8926) in place of VXLAN: decapsulated with its options
 * skipped, refused with a critical option, as a control packet, another
 * version, protocol or VNI, options past the datagram; a pod's packet to
 * the other node's pods leaves in Geneve, byte for byte.
 */
static void
test_geneve(void)
{
	struct rte_mbuf *m;
	struct tpkt p;
	const uint8_t *o;

	fresh();
	t->node.geneve = 1;
	t->node.tunnel_port = RTE_BE16(6081);
	psw_tunnel_prepare(&t->node);
	expect_v(geneve(inner_udp6(remote6, pod6), 0, 0, 0x6558, VNI, 0), P_UP, PSW_V_TX, P_POD,
		 "Geneve: remote pod to local pod", false);
	expect_v(geneve(inner_udp6(remote6, pod6), 2, 0, 0x6558, VNI, 2), P_UP, PSW_V_TX, P_POD,
		 "Geneve: a non-critical option skipped", false);
	expect_v(geneve(inner_udp6(remote6, pod6), 2, 0x40, 0x6558, VNI, 2), P_UP, PSW_V_DROP,
		 PSW_DROP_GENEVE_OPTION, "Geneve: a critical option", false);
	expect_v(geneve(inner_udp6(remote6, pod6), 0, 0x80, 0x6558, VNI, 0), P_UP, PSW_V_DROP,
		 PSW_DROP_GENEVE_OPTION, "Geneve: a control packet", false);
	expect_v(geneve(inner_udp6(remote6, pod6), 0x40, 0, 0x6558, VNI, 0), P_UP, PSW_V_DROP, PSW_DROP_VXLAN_BAD,
		 "Geneve: version 1", false);
	expect_v(geneve(inner_udp6(remote6, pod6), 0, 0, 0x86dd, VNI, 0), P_UP, PSW_V_DROP, PSW_DROP_VXLAN_BAD,
		 "Geneve: IPv6 without Ethernet (not Transparent Ethernet Bridging)", false);
	expect_v(geneve(inner_udp6(remote6, pod6), 0, 0, 0x6558, VNI + 1, 0), P_UP, PSW_V_DROP, PSW_DROP_VXLAN_BAD,
		 "Geneve: another VNI", false);
	expect_v(geneve(inner_udp6(rtr6, pod6), 0, 0, 0x6558, VNI, 0), P_UP, PSW_V_DROP, PSW_DROP_VXLAN_SPOOF,
		 "Geneve: a spoofed inner source", false);
	/* options' length past the datagram: 63 words of options, 2 there */
	expect_v(geneve(inner_udp6(remote6, pod6), 63, 0, 0x6558, VNI, 2), P_UP, PSW_V_DROP, PSW_DROP_VXLAN_BAD,
		 "Geneve: options past the end", false);
	/* a VXLAN frame at the Geneve port is not Geneve */
	m = vxlan(inner_udp6(remote6, pod6), OTHER);
	rte_pktmbuf_mtod_offset(m, struct rte_udp_hdr *, 34)->dst_port = RTE_BE16(6081);
	expect_v(m, P_UP, PSW_V_DROP, PSW_DROP_VXLAN_BAD, "VXLAN at the Geneve port", false);
	/* and the way out: the pod to the other node's pod */
	tpkt_defaults(&p);
	p.ip6 = 1;
	memcpy(p.src_mac, mac_pod, 6);
	memcpy(p.dst_mac, gw_mac, 6);
	memcpy(p.src6, pod6, 16);
	memcpy(p.dst6, remote6, 16);
	m = expect_v(tpkt_build(mp, &p), P_POD, PSW_V_TX, P_UP, "Geneve: a pod to the other node's pod", true);
	CU_ASSERT_FATAL(rte_pktmbuf_data_len(m) >= 50 + 14 + 40);
	o = rte_pktmbuf_mtod(m, const uint8_t *);
	CU_ASSERT_EQUAL(memcmp(o, mac_other, 6), 0);
	CU_ASSERT_EQUAL(o[23], IPPROTO_UDP);
	CU_ASSERT_EQUAL(rte_be_to_cpu_32(*(const uint32_t *)(o + 26)), NODE);
	CU_ASSERT_EQUAL(rte_be_to_cpu_32(*(const uint32_t *)(o + 30)), OTHER);
	CU_ASSERT_EQUAL(o[36] << 8 | o[37], 6081);
	CU_ASSERT_EQUAL((unsigned)(o[38] << 8 | o[39]), rte_pktmbuf_data_len(m) - 34u);
	/* version 0, no options, neither O nor C, Ethernet, the VNI, reserved 0 */
	{
		static const uint8_t want[8] = { 0, 0, 0x65, 0x58, 0, 0, VNI, 0 };

		CU_ASSERT_EQUAL(memcmp(o + 42, want, 8), 0);
	}
	CU_ASSERT_EQUAL(memcmp(o + 50 + 14 + 8, pod6, 16), 0);  /* the inner IPv6 source */
	/* the outer IPv4 header: no options, its length, not a fragment, TTL 64, its checksum right */
	CU_ASSERT_EQUAL(o[12] << 8 | o[13], RTE_ETHER_TYPE_IPV4);
	CU_ASSERT_EQUAL(o[14], 0x45);
	CU_ASSERT_EQUAL((unsigned)(o[16] << 8 | o[17]), rte_pktmbuf_data_len(m) - 14u);
	CU_ASSERT_EQUAL(o[20] & 0x3f, 0);
	CU_ASSERT_EQUAL(o[21], 0);
	CU_ASSERT_EQUAL(o[22], 64);
	CU_ASSERT_EQUAL(rte_raw_cksum(o + 14, 20), 0xffff);
	/* the UDP source port in the dynamic range, no checksum (RFC 8926 section 3.3) */
	CU_ASSERT((o[34] << 8 | o[35]) >= 49152);
	CU_ASSERT_EQUAL(o[40] | o[41], 0);
	/* the inner frame whole after the 8 bytes: an IPv6 header and the pod's UDP */
	CU_ASSERT_EQUAL(rte_pktmbuf_data_len(m), 50u + 14 + 40 + 8 + p.payload);
	CU_ASSERT_EQUAL(o[50 + 12] << 8 | o[50 + 13], RTE_ETHER_TYPE_IPV6);
	CU_ASSERT_EQUAL(memcmp(o + 50 + 14 + 24, remote6, 16), 0);
	rte_pktmbuf_free(m);
	t->node.geneve = 0;
	t->node.tunnel_port = RTE_BE16(VXLAN_PORT);
	psw_tunnel_prepare(&t->node);
}

/* The IPv4 header at off of frame f, checked: its checksum right. */
static const struct rte_ipv4_hdr *
ip4_at(const struct rte_mbuf *f, unsigned off)
{
	const struct rte_ipv4_hdr *ip = rte_pktmbuf_mtod_offset(f, const struct rte_ipv4_hdr *, off);

	CU_ASSERT_EQUAL(rte_ipv4_cksum(ip), 0);   /* the header sums to all ones */
	return ip;
}

/*
 * Send a datagram from the pod of IP length len (no DF unless df) to dst4;
 * check it leaves on the uplink in pieces of at most mtu bytes of IP
 * (encapsulated when encap), whose offsets, MF and payloads put together
 * give the datagram back; first_off / last_mf: the original's own.
 */
static unsigned frag_pad, frag_vlans;   /* Ethernet padding after the datagram; VLAN tags on it */

static void
expect_fragments(uint32_t dst4, unsigned len, unsigned mtu, bool encap, uint16_t frag_field, unsigned want)
{
	struct tpkt p;
	struct rte_mbuf *m, *frames[PSW_EXTRA_MAX + 1];
	uint8_t orig[4096], got[4096];
	unsigned n = 0, i, inner = encap ? 50 : 0, covered = 0;
	uint16_t off0 = frag_field & RTE_IPV4_HDR_OFFSET_MASK;
	struct psw_meta meta;

	tpkt_defaults(&p);
	memcpy(p.src_mac, mac_pod, 6);
	memcpy(p.dst_mac, gw_mac, 6);
	p.src4 = POD4;
	p.dst4 = dst4;
	p.payload = (uint16_t)(len - 20 - 8);
	p.nb_vlans = (int)frag_vlans;
	m = tpkt_build(mp, &p);
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	if (frag_pad > 0)
		memset(rte_pktmbuf_append(m, (uint16_t)frag_pad), 0xa5, frag_pad);
	{
		struct rte_ipv4_hdr *ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, 14 + 4 * frag_vlans);

		ip->fragment_offset = rte_cpu_to_be_16(frag_field);
		ip->hdr_checksum = 0;
		ip->hdr_checksum = rte_ipv4_cksum(ip);
		memcpy(orig, ip + 1, len - 20);
	}
	lc.sc.nb_extra = 0;
	meta = run(m, P_POD);
	CU_ASSERT_EQUAL_FATAL(meta.verdict, PSW_V_TX);
	CU_ASSERT_EQUAL(meta.out_port, P_UP);
	frames[n++] = m;
	for (i = 0; i < lc.sc.nb_extra && n < RTE_DIM(frames); i++) {
		CU_ASSERT_EQUAL(lc.sc.extra[i].port, P_UP);
		frames[n++] = lc.sc.extra[i].pkt;
	}
	lc.sc.nb_extra = 0;
	CU_ASSERT_EQUAL(n, want);
	memset(got, 0, sizeof(got));
	for (i = 0; i < n; i++) {
		const uint8_t *d = rte_pktmbuf_mtod(frames[i], const uint8_t *);
		const struct rte_ipv4_hdr *ip;
		unsigned l, off;
		uint16_t f;

		CU_ASSERT_EQUAL(memcmp(d, mac_other, 6), 0);        /* to the next hop */
		if (encap) {
			const struct rte_ipv4_hdr *outer = ip4_at(frames[i], 14);

			CU_ASSERT_EQUAL(outer->dst_addr, rte_cpu_to_be_32(OTHER));
			CU_ASSERT_EQUAL(rte_be_to_cpu_16(outer->total_length), rte_pktmbuf_data_len(frames[i]) - 14u);
		}
		ip = ip4_at(frames[i], 14 + inner);
		l = rte_be_to_cpu_16(ip->total_length);
		f = rte_be_to_cpu_16(ip->fragment_offset);
		off = ((f & RTE_IPV4_HDR_OFFSET_MASK) - off0) * 8u;
		CU_ASSERT(l <= mtu);
		CU_ASSERT_EQUAL(rte_pktmbuf_data_len(frames[i]), 14u + inner + l);
		CU_ASSERT_EQUAL(ip->dst_addr, rte_cpu_to_be_32(dst4));
		CU_ASSERT_EQUAL(ip->time_to_live, 63);
		CU_ASSERT(!(f & RTE_IPV4_HDR_DF_FLAG));
		/* MF on all but the last, which keeps the original's */
		CU_ASSERT_EQUAL(!!(f & RTE_IPV4_HDR_MF_FLAG),
				i < n - 1 ? 1 : !!(frag_field & RTE_IPV4_HDR_MF_FLAG));
		CU_ASSERT(i == n - 1 || (l - 20) % 8 == 0);
		if (off + l - 20 <= sizeof(got)) {
			memcpy(got + off, ip + 1, l - 20);
			covered += l - 20;
		}
		rte_pktmbuf_free(frames[i]);
	}
	CU_ASSERT_EQUAL(covered, len - 20);
	CU_ASSERT_EQUAL(memcmp(got, orig, len - 20), 0);
}

/*
 * An IPv4 datagram without DF longer than its next hop's MTU leaves in
 * fragments (RFC 791), natively and into the overlay (each encapsulated);
 * a fragment is split again keeping its offset and its MF on the last;
 * with DF the sender is told instead; with IP options, or no room for the
 * fragments, it is dropped and counted.
 */
static void
test_fragmentation(void)
{
	struct tpkt p;
	struct rte_mbuf *m;
	unsigned i;

	fresh();
	expect_fragments(OTHER, 2000, 1500, false, 0, 2);             /* native: 1480 + 500 */
	expect_fragments(REMOTE4, 2000, 1450, true, 0, 2);            /* overlay: 1424 + 556 */
	expect_fragments(REMOTE4, 2000, 1450, true, 100 | RTE_IPV4_HDR_MF_FLAG, 2);   /* a middle fragment */
	expect_fragments(OTHER, 1500, 1500, false, 0, 1);             /* fits: one, untouched */
	CU_ASSERT_EQUAL(lc.sc.events[PSW_EV_FRAGMENTED], 3);
	/* DF: the sender learns the MTU, nothing fragmented */
	tpkt_defaults(&p);
	memcpy(p.src_mac, mac_pod, 6);
	memcpy(p.dst_mac, gw_mac, 6);
	p.src4 = POD4;
	p.dst4 = REMOTE4;
	p.payload = 2000 - 28;
	m = tpkt_build(mp, &p);
	rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, 14)->fragment_offset = RTE_BE16(RTE_IPV4_HDR_DF_FLAG);
	rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, 14)->hdr_checksum = 0;
	rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, 14)->hdr_checksum =
		rte_ipv4_cksum(rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, 14));
	expect_v(m, P_POD, PSW_V_TX, P_POD, "DF: fragmentation needed, back to the pod", false);
	CU_ASSERT_EQUAL(lc.sc.nb_extra, 0);
	/* IP options: not split (dropped, counted) */
	p.ihl_words = 6;
	p.payload = 2000 - 32;
	expect_v(tpkt_build(mp, &p), P_POD, PSW_V_DROP, PSW_DROP_MTU_EXCEEDED, "with options: dropped", false);
	/* no room left for its fragments in this burst */
	p.ihl_words = 5;
	p.payload = 2000 - 28;
	lc.sc.nb_extra = PSW_EXTRA_MAX;
	expect_v(tpkt_build(mp, &p), P_POD, PSW_V_DROP, PSW_DROP_FRAG_NO_ROOM, "no room: dropped", false);
	lc.sc.nb_extra = 0;
	for (i = 0; i < PSW_EXTRA_MAX; i++)
		lc.sc.extra[i].pkt = NULL;
}

/* The uplink's MTU set to mtu, a datagram of len split natively: as many pieces as the 8-byte rule gives. */
static void
expect_split_at(unsigned mtu, unsigned len, uint16_t frag_field)
{
	unsigned chunk = (mtu - 20) & ~7u;

	t->ports[P_UP].mtu = (uint16_t)mtu;
	expect_fragments(OTHER, len, mtu, false, frag_field, len <= mtu ? 1 : (len - 20 + chunk - 1) / chunk);
	t->ports[P_UP].mtu = 1500;
}

/*
 * A burst of 32 datagrams each needing 20 more pieces at an MTU of 68: the
 * first three split (60 of the 64 extra), the rest dropped frag_no_room;
 * then a pool with 4 mbufs left: dropped too. Not an mbuf kept anywhere.
 */
static void
test_fragmentation_burst(void)
{
	static struct rte_mbuf *hog[4096];
	struct psw_burst b = { .nb = PSW_BURST_MAX };
	unsigned avail, i, tx = 0, no_room = 0, nb_hog;
	struct tpkt p;

	fresh();
	avail = rte_mempool_avail_count(mp);
	t->ports[P_UP].mtu = 68;
	tpkt_defaults(&p);
	memcpy(p.src_mac, mac_pod, 6);
	memcpy(p.dst_mac, gw_mac, 6);
	p.src4 = POD4;
	p.dst4 = OTHER;
	p.payload = 1000 - 28;
	for (i = 0; i < PSW_BURST_MAX; i++) {
		b.pkts[i] = tpkt_build(mp, &p);
		CU_ASSERT_PTR_NOT_NULL_FATAL(b.pkts[i]);
		b.pkts[i]->port = P_POD;
		b.meta[i].in_port = P_POD;
	}
	lc.sc.nb_extra = 0;
	psw_worker_process(&lc, t, &b);
	for (i = 0; i < PSW_BURST_MAX; i++) {
		tx += b.meta[i].verdict == PSW_V_TX;
		no_room += b.meta[i].verdict == PSW_V_DROP && b.meta[i].drop_reason == PSW_DROP_FRAG_NO_ROOM;
		rte_pktmbuf_free(b.pkts[i]);
	}
	CU_ASSERT_EQUAL(tx, 3);
	CU_ASSERT_EQUAL(no_room, PSW_BURST_MAX - 3);
	CU_ASSERT_EQUAL(lc.sc.nb_extra, 60);
	for (i = 0; i < lc.sc.nb_extra; i++)
		rte_pktmbuf_free(lc.sc.extra[i].pkt);
	lc.sc.nb_extra = 0;
	CU_ASSERT_EQUAL(rte_mempool_avail_count(mp), avail);
	/* the pool nearly empty: no pieces, nothing taken */
	b.nb = 1;
	b.pkts[0] = tpkt_build(mp, &p);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b.pkts[0]);
	b.pkts[0]->port = P_POD;
	memset(&b.meta[0], 0, sizeof(b.meta[0]));
	b.meta[0].in_port = P_POD;
	nb_hog = rte_mempool_avail_count(mp) - 4;
	CU_ASSERT_FATAL(nb_hog <= RTE_DIM(hog));
	CU_ASSERT_EQUAL_FATAL(rte_pktmbuf_alloc_bulk(mp, hog, nb_hog), 0);
	psw_worker_process(&lc, t, &b);
	CU_ASSERT_EQUAL(b.meta[0].verdict, PSW_V_DROP);
	CU_ASSERT_EQUAL(b.meta[0].drop_reason, PSW_DROP_FRAG_NO_ROOM);
	CU_ASSERT_EQUAL(lc.sc.nb_extra, 0);
	CU_ASSERT_EQUAL(rte_mempool_avail_count(mp), 4);
	rte_pktmbuf_free_bulk(hog, nb_hog);
	rte_pktmbuf_free(b.pkts[0]);
	CU_ASSERT_EQUAL(rte_mempool_avail_count(mp), avail);
	t->ports[P_UP].mtu = 1500;
}

/*
 * Fragmentation at its edges: the smallest MTUs (68: 48 bytes a piece) and
 * ones whose room is no multiple of 8, a datagram one byte too long, a
 * fragment far into its datagram, Ethernet padding after the datagram,
 * VLAN tags on it; an offset that would pass 13 bits is not split.
 */
static void
test_fragmentation_edges(void)
{
	static const unsigned mtus[] = { 68, 69, 75, 76, 77, 1499, 1500 };
	struct tpkt p;
	unsigned i;

	fresh();
	for (i = 0; i < RTE_DIM(mtus); i++) {
		expect_split_at(mtus[i], mtus[i] + 1, 0);
		expect_split_at(mtus[i], mtus[i] + 1, 3 | RTE_IPV4_HDR_MF_FLAG);
	}
	expect_split_at(68, 68 + 48 * 40, 0);                  /* 41 pieces: most of the extra room */
	expect_split_at(1500, 2000, 7900);                     /* last piece at 8085, no MF */
	expect_split_at(1500, 2000, (8191 - 250) | RTE_IPV4_HDR_MF_FLAG);
	frag_pad = 30;
	expect_split_at(1000, 2000, 0);
	frag_pad = 0;
	frag_vlans = 1;
	expect_split_at(1000, 2000, 0);
	frag_vlans = 0;
	/* into the overlay at the smallest MTU (118 - 50): each of 21 pieces encapsulated */
	t->ports[P_UP].mtu = 118;
	expect_fragments(REMOTE4, 1000, 68, true, 0, 21);
	t->ports[P_UP].mtu = 1500;
	/* past 65,535 bytes of datagram: not split, dropped */
	tpkt_defaults(&p);
	memcpy(p.src_mac, mac_pod, 6);
	memcpy(p.dst_mac, gw_mac, 6);
	p.src4 = POD4;
	p.dst4 = OTHER;
	p.payload = 2000 - 28;
	{
		struct rte_mbuf *m = tpkt_build(mp, &p);
		struct rte_ipv4_hdr *ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, 14);

		ip->fragment_offset = rte_cpu_to_be_16(8100);
		ip->hdr_checksum = 0;
		ip->hdr_checksum = rte_ipv4_cksum(ip);
		expect_v(m, P_POD, PSW_V_DROP, PSW_DROP_MTU_EXCEEDED, "offset past 13 bits: dropped", false);
	}
	CU_ASSERT_EQUAL(lc.sc.nb_extra, 0);
}

/*
 * A pod's own datagram to the other node's VTEP at the VXLAN port: masqueraded
 * to this node's address it would pass there as this node's VXLAN, carrying
 * whatever inner source the pod wrote (this node's address, its pods').
 */
static void
test_tunnel_forged_by_pod(void)
{
	struct tpkt p;

	fresh();
	tpkt_defaults(&p);
	memcpy(p.src_mac, mac_pod, 6);
	memcpy(p.dst_mac, gw_mac, 6);
	p.src4 = POD4;
	p.dst4 = OTHER;
	p.dport = VXLAN_PORT;
	p.payload = 8 + 14 + 20 + 8 + 10;
	expect_v(tpkt_build(mp, &p), P_POD, PSW_V_DROP, PSW_DROP_VXLAN_FORGED,
		 "a pod's datagram to the other node's VXLAN port", false);
	/* the other node's other ports as before */
	p.dport = VXLAN_PORT + 1;
	expect_v(tpkt_build(mp, &p), P_POD, PSW_V_TX, P_UP, "a pod's datagram to the other node", false);
}

/* End to end: what the guard punts from the overlay would poison the table. */
static void
test_tunnel_cannot_poison(void)
{
	struct rte_mbuf *m;
	struct psw_meta meta;

	fresh();
	fresh_table(PSW_PORT_NONE);
	learn(na(mac_rtr, rtr6, S_FLAG | O_FLAG, mac_rtr), P_UP);
	expect_entry(mac_rtr, P_UP, "the router's answer");
	m = nd_frame(ND_NA, mac_evil, remote6, node6, rtr6, O_FLAG, (const uint8_t[8]){ 2, 1, 2, 0, 0, 0, 0, 0xee },
		     8);
	m = vxlan(m, OTHER);
	meta = run(m, P_UP);
	if (meta.verdict == PSW_V_PUNT)
		psw_neigh_input(&st, m);         /* what the worker would hand over; frees it */
	else
		rte_pktmbuf_free(m);
	expect_entry(mac_rtr, P_UP, "the router's MAC replaced through VXLAN");
}

/* The outer IPv4 header of a frame built by vxlan() or geneve(). */
static struct rte_ipv4_hdr *
outer_ip(struct rte_mbuf *m)
{
	return rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, 14);
}

/* Set the outer IPv4 total length (and its checksum) and the UDP length, each to what it is given. */
static void
outer_lens(struct rte_mbuf *m, unsigned ip_len, unsigned udp_len)
{
	struct rte_ipv4_hdr *ip = outer_ip(m);
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)((uint8_t *)ip + (ip->version_ihl & 0xf) * 4);

	ip->total_length = rte_cpu_to_be_16((uint16_t)ip_len);
	ip->hdr_checksum = 0;
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	udp->dgram_len = rte_cpu_to_be_16((uint16_t)udp_len);
}

/* Give the outer IPv4 header 4 bytes of options (NOPs): IHL 6. */
static struct rte_mbuf *
outer_ip_opts(struct rte_mbuf *m)
{
	uint8_t hdrs[34];
	uint8_t *d;
	struct rte_ipv4_hdr *ip;

	memcpy(hdrs, rte_pktmbuf_mtod(m, uint8_t *), sizeof(hdrs));
	d = (uint8_t *)rte_pktmbuf_prepend(m, 4);
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	memcpy(d, hdrs, sizeof(hdrs));
	memset(d + 34, 1, 4);
	ip = (struct rte_ipv4_hdr *)(d + 14);
	ip->version_ihl = 0x46;
	ip->total_length = rte_cpu_to_be_16((uint16_t)(rte_be_to_cpu_16(ip->total_length) + 4));
	ip->hdr_checksum = 0;
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	return m;
}

/* A bare inner Ethernet header of type type, from the other node's side (room before it for 63 words of options). */
static struct rte_mbuf *
inner_eth(uint16_t type)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(mp);
	uint8_t *d;

	if (m != NULL && m->buf_len >= 512 + 64)
		m->data_off = 512;
	if (m == NULL || (d = (uint8_t *)rte_pktmbuf_append(m, 14)) == NULL) {
		rte_pktmbuf_free(m);
		return NULL;
	}
	memcpy(d, up_mac, 6);
	memcpy(d + 6, mac_other, 6);
	d[12] = (uint8_t)(type >> 8);
	d[13] = (uint8_t)type;
	return m;
}

/* An inner UDP datagram over IPv4 from src to dst (host order), from the other node's side, to port dport. */
static struct rte_mbuf *
inner_udp4(uint32_t src, uint32_t dst, uint16_t dport, uint16_t payload)
{
	struct tpkt p;

	tpkt_defaults(&p);
	memcpy(p.src_mac, mac_other, 6);
	memcpy(p.dst_mac, up_mac, 6);
	p.src4 = src;
	p.dst4 = dst;
	p.dport = dport;
	p.payload = payload;
	return tpkt_build(mp, &p);
}

/* m in on port P_UP is not decapsulated (whatever else becomes of it); freed. */
static void
not_decapsulated(struct rte_mbuf *m, const char *what)
{
	uint64_t decap = lc.sc.events[PSW_EV_VXLAN_DECAP];

	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	run(m, P_UP);
	if (lc.sc.events[PSW_EV_VXLAN_DECAP] != decap) {
		fprintf(stderr, "\n  %s: decapsulated\n", what);
		CU_FAIL(what);
	}
	rte_pktmbuf_free(m);
}

/*
 * Geneve attacked: options' length at, and one word past, the datagram's
 * end; lengths that lie; the outer frame's padding; IPv4 options, fragments
 * and checksums outside; VLAN, ARP, Geneve and VXLAN inside; the gateway's
 * address, a relay, several segments, the other overlay's port. Every
 * malformed frame dropped with its reason, no mbuf left behind.
 */
static void
test_geneve_attacks(void)
{
	unsigned avail = rte_mempool_avail_count(mp), ilen;
	uint64_t decap;
	struct rte_mbuf *m, *seg;
	struct psw_meta meta;
	struct rte_udp_hdr *udp;
	uint8_t *d;

	fresh();
	t->node.geneve = 1;
	t->node.tunnel_port = RTE_BE16(6081);
	psw_tunnel_prepare(&t->node);
	/* options that end exactly where the datagram ends: no room for an inner Ethernet header */
	m = geneve(inner_eth(RTE_ETHER_TYPE_IPV6), 3, 0, 0x6558, VNI, 2);
	expect_v(m, P_UP, PSW_V_DROP, PSW_DROP_VXLAN_BAD, "Geneve: options one word past the end, 14 bytes after",
		 false);
	m = geneve(inner_eth(RTE_ETHER_TYPE_IPV6), 2, 0, 0x6558, VNI, 2);
	expect_v(m, P_UP, PSW_V_DROP, PSW_DROP_RUNT, "Geneve: only an inner Ethernet header after the options",
		 false);
	m = geneve(inner_eth(RTE_ETHER_TYPE_IPV6), 63, 0, 0x6558, VNI, 63);
	expect_v(m, P_UP, PSW_V_DROP, PSW_DROP_RUNT, "Geneve: 63 words of options, then 14 bytes", false);
	m = geneve(inner_eth(RTE_ETHER_TYPE_IPV6), 0, 0, 0x6558, VNI, 0);
	rte_pktmbuf_trim(m, 1);
	outer_lens(m, 20 + 8 + 8 + 13, 8 + 8 + 13);
	expect_v(m, P_UP, PSW_V_DROP, PSW_DROP_VXLAN_BAD, "Geneve: 13 bytes after the header", false);
	/* options' length a word short: the inner frame read 4 bytes early, its type a MAC's bytes */
	m = geneve(inner_udp6(remote6, pod6), 1, 0, 0x6558, VNI, 2);
	expect_v(m, P_UP, PSW_V_DROP, PSW_DROP_ETHERTYPE,
		 "Geneve: options' length short by a word", false);
	/* the UDP length lies, one way or the other */
	m = geneve(inner_udp6(remote6, pod6), 2, 0, 0x6558, VNI, 2);
	ilen = rte_be_to_cpu_16(outer_ip(m)->total_length);
	outer_lens(m, ilen, ilen - 20 - 4);
	expect_v(m, P_UP, PSW_V_DROP, PSW_DROP_VXLAN_BAD, "Geneve: UDP length short of the IP length", false);
	m = geneve(inner_udp6(remote6, pod6), 2, 0, 0x6558, VNI, 2);
	outer_lens(m, ilen, ilen - 20 + 4);
	expect_v(m, P_UP, PSW_V_DROP, PSW_DROP_VXLAN_BAD, "Geneve: UDP length past the IP length", false);
	/* both lengths end inside the options; the rest of the frame is padding */
	m = geneve(inner_udp6(remote6, pod6), 2, 0, 0x6558, VNI, 2);
	outer_lens(m, 20 + 8 + 8 + 4, 8 + 8 + 4);
	expect_v(m, P_UP, PSW_V_DROP, PSW_DROP_VXLAN_BAD, "Geneve: the datagram ends inside the options", false);
	/* both lengths end inside the inner frame: the inner IPv6 says more than there is */
	m = geneve(inner_udp6(remote6, pod6), 2, 0, 0x6558, VNI, 2);
	outer_lens(m, ilen - 10, ilen - 20 - 10);
	expect_v(m, P_UP, PSW_V_DROP, PSW_DROP_IP6_LEN, "Geneve: the outer datagram ends inside the inner one", false);
	/* padding after the outer datagram: trimmed, the inner frame as it was sent */
	m = inner_udp6(remote6, pod6);
	ilen = rte_pktmbuf_data_len(m);
	m = geneve(m, 2, 0, 0x6558, VNI, 2);
	d = (uint8_t *)rte_pktmbuf_append(m, 9);
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	memset(d, 0xee, 9);
	m = expect_v(m, P_UP, PSW_V_TX, P_POD, "Geneve: the outer frame padded", true);
	CU_ASSERT_EQUAL(rte_pktmbuf_pkt_len(m), ilen);
	CU_ASSERT_EQUAL(memcmp(rte_pktmbuf_mtod_offset(m, uint8_t *, 14 + 24), pod6, 16), 0);
	rte_pktmbuf_free(m);
	/* outer IPv4 options: decapsulated all the same */
	m = outer_ip_opts(geneve(inner_udp6(remote6, pod6), 2, 0, 0x6558, VNI, 2));
	expect_v(m, P_UP, PSW_V_TX, P_POD, "Geneve: outer IPv4 options", false);
	/* a critical option behind outer IPv4 options is still one */
	m = outer_ip_opts(geneve(inner_udp6(remote6, pod6), 2, 0x40, 0x6558, VNI, 2));
	expect_v(m, P_UP, PSW_V_DROP, PSW_DROP_GENEVE_OPTION, "Geneve: a critical option behind IPv4 options", false);
	/* an outer first fragment is not decapsulated */
	m = geneve(inner_udp6(remote6, pod6), 0, 0, 0x6558, VNI, 0);
	outer_ip(m)->fragment_offset = RTE_BE16(RTE_IPV4_HDR_MF_FLAG);
	outer_lens(m, rte_be_to_cpu_16(outer_ip(m)->total_length), rte_be_to_cpu_16(outer_ip(m)->total_length) - 20);
	not_decapsulated(m, "Geneve: an outer first fragment");
	/* a UDP checksum: a right one passes, a wrong one does not */
	m = geneve(inner_udp6(remote6, pod6), 2, 0, 0x6558, VNI, 2);
	udp = rte_pktmbuf_mtod_offset(m, struct rte_udp_hdr *, 34);
	udp->dgram_cksum = rte_ipv4_udptcp_cksum(outer_ip(m), udp);
	expect_v(m, P_UP, PSW_V_TX, P_POD, "Geneve: a right UDP checksum", false);
	m = geneve(inner_udp6(remote6, pod6), 2, 0, 0x6558, VNI, 2);
	udp = rte_pktmbuf_mtod_offset(m, struct rte_udp_hdr *, 34);
	udp->dgram_cksum = rte_ipv4_udptcp_cksum(outer_ip(m), udp) ^ RTE_BE16(0x0100);
	expect_v(m, P_UP, PSW_V_DROP, PSW_DROP_VXLAN_BAD, "Geneve: a wrong UDP checksum", false);
	/* an option changed after the checksum was made */
	m = geneve(inner_udp6(remote6, pod6), 2, 0, 0x6558, VNI, 2);
	udp = rte_pktmbuf_mtod_offset(m, struct rte_udp_hdr *, 34);
	udp->dgram_cksum = rte_ipv4_udptcp_cksum(outer_ip(m), udp);
	rte_pktmbuf_mtod_offset(m, uint8_t *, 34 + 8 + 8 + 4)[0] ^= 0x55;
	expect_v(m, P_UP, PSW_V_DROP, PSW_DROP_VXLAN_BAD, "Geneve: an option changed under its checksum", false);
	/* inside: a VLAN tag, ARP */
	expect_v(geneve(tagged(inner_udp6(remote6, pod6)), 2, 0, 0x6558, VNI, 2), P_UP, PSW_V_DROP, PSW_DROP_VXLAN_BAD,
		 "Geneve: a VLAN-tagged inner frame", false);
	m = inner_udp6(remote6, pod6);
	rte_pktmbuf_mtod(m, uint8_t *)[12] = 0x08;
	rte_pktmbuf_mtod(m, uint8_t *)[13] = 0x06;
	expect_v(geneve(m, 2, 0, 0x6558, VNI, 2), P_UP, PSW_V_DROP, PSW_DROP_VXLAN_BAD, "Geneve: inner ARP", false);
	/* Geneve in Geneve, from the other node's own address to this node: decapsulated once, never twice */
	m = geneve(geneve(inner_udp6(remote6, pod6), 0, 0, 0x6558, VNI, 0), 2, 0, 0x6558, VNI, 2);
	decap = lc.sc.events[PSW_EV_VXLAN_DECAP];
	meta = run(m, P_UP);
	CU_ASSERT(!(meta.verdict == PSW_V_TX && meta.out_port == P_POD));
	CU_ASSERT(lc.sc.events[PSW_EV_VXLAN_DECAP] <= decap + 1);
	rte_pktmbuf_free(m);
	/* ... and to a pod: it gets the inner Geneve datagram, as it was sent */
	m = geneve(inner_udp4(OTHER, POD4, 6081, 8 + 14 + 40 + 8 + 18), 2, 0, 0x6558, VNI, 2);
	expect_v(m, P_UP, PSW_V_TX, P_POD, "Geneve: a datagram to a pod's port 6081", false);
	/* VXLAN in Geneve: the same */
	m = geneve(vxlan(inner_udp6(remote6, pod6), OTHER), 2, 0, 0x6558, VNI, 2);
	decap = lc.sc.events[PSW_EV_VXLAN_DECAP];
	meta = run(m, P_UP);
	CU_ASSERT(!(meta.verdict == PSW_V_TX && meta.out_port == P_POD));
	CU_ASSERT(lc.sc.events[PSW_EV_VXLAN_DECAP] <= decap + 1);
	rte_pktmbuf_free(m);
	/* not to the node's own address: the pods' gateway, a pod */
	m = geneve(inner_udp6(remote6, pod6), 0, 0, 0x6558, VNI, 0);
	outer_ip(m)->dst_addr = rte_cpu_to_be_32(0x0af40101u);
	outer_ip(m)->hdr_checksum = 0;
	outer_ip(m)->hdr_checksum = rte_ipv4_cksum(outer_ip(m));
	not_decapsulated(m, "Geneve: to the pods' gateway");
	m = geneve(inner_udp6(remote6, pod6), 0, 0, 0x6558, VNI, 0);
	outer_ip(m)->dst_addr = rte_cpu_to_be_32(POD4);
	outer_ip(m)->hdr_checksum = 0;
	outer_ip(m)->hdr_checksum = rte_ipv4_cksum(outer_ip(m));
	not_decapsulated(m, "Geneve: to a pod");
	/* a relay to a third, over IPv4 and IPv6 */
	expect_v(geneve(inner_udp6(remote6, far6), 2, 0, 0x6558, VNI, 2), P_UP, PSW_V_DROP, PSW_DROP_VXLAN_NOT_HERE,
		 "Geneve: relayed to a third", false);
	expect_v(geneve(inner_udp4(OTHER, 0x08080808u, 53, 18), 2, 0, 0x6558, VNI, 2), P_UP, PSW_V_DROP,
		 PSW_DROP_VXLAN_NOT_HERE, "Geneve: relayed to the Internet", false);
	/* an IPv4 source that is no pod of the sender */
	expect_v(geneve(inner_udp4(0x0af4020au, POD4, 80, 18), 2, 0, 0x6558, VNI, 2), P_UP, PSW_V_DROP,
		 PSW_DROP_VXLAN_SPOOF, "Geneve: an IPv4 inner source routed nowhere", false);
	/* the frame in two segments, the options in the first */
	m = geneve(inner_udp6(remote6, pod6), 2, 0, 0x6558, VNI, 2);
	seg = rte_pktmbuf_alloc(mp);
	CU_ASSERT_PTR_NOT_NULL_FATAL(seg);
	d = (uint8_t *)rte_pktmbuf_append(seg, 30);
	memcpy(d, rte_pktmbuf_mtod_offset(m, uint8_t *, rte_pktmbuf_data_len(m) - 30), 30);
	rte_pktmbuf_trim(m, 30);
	CU_ASSERT_EQUAL_FATAL(rte_pktmbuf_chain(m, seg), 0);
	expect_v(m, P_UP, PSW_V_DROP, PSW_DROP_VXLAN_BAD, "Geneve: two segments", false);
	/* at the VXLAN port, with Geneve configured: not the overlay */
	m = geneve(inner_udp6(remote6, pod6), 0, 0, 0x6558, VNI, 0);
	rte_pktmbuf_mtod_offset(m, struct rte_udp_hdr *, 34)->dst_port = RTE_BE16(VXLAN_PORT);
	not_decapsulated(m, "Geneve at the VXLAN port, Geneve configured");
	/* the reserved bits (flags, the byte after the VNI) are ignored on receipt (RFC 8926 section 3.4) */
	m = geneve(inner_udp6(remote6, pod6), 2, 0x3f, 0x6558, VNI, 2);
	rte_pktmbuf_mtod_offset(m, uint8_t *, 34 + 8 + 7)[0] = 0xff;
	expect_v(m, P_UP, PSW_V_TX, P_POD, "Geneve: reserved bits set", false);
	/* the C flag with no options at all is still a drop */
	expect_v(geneve(inner_udp6(remote6, pod6), 0, 0x40, 0x6558, VNI, 0), P_UP, PSW_V_DROP,
		 PSW_DROP_GENEVE_OPTION, "Geneve: the C flag, no options", false);
	/* a pod's own datagram to the other node's Geneve port is forged; to the VXLAN port it is not the overlay's */
	{
		struct tpkt p;

		tpkt_defaults(&p);
		memcpy(p.src_mac, mac_pod, 6);
		memcpy(p.dst_mac, gw_mac, 6);
		p.src4 = POD4;
		p.dst4 = OTHER;
		p.dport = 6081;
		p.payload = 8 + 14 + 20 + 8 + 10;
		expect_v(tpkt_build(mp, &p), P_POD, PSW_V_DROP, PSW_DROP_VXLAN_FORGED,
			 "a pod's datagram to the other node's Geneve port", false);
		p.dport = VXLAN_PORT;
		expect_v(tpkt_build(mp, &p), P_POD, PSW_V_TX, P_UP, "a pod's datagram to the VXLAN port under Geneve",
			 false);
	}
	/* and a Geneve frame at the VXLAN port, VXLAN configured: byte 0 is no VXLAN I flag */
	t->node.geneve = 0;
	t->node.tunnel_port = RTE_BE16(VXLAN_PORT);
	psw_tunnel_prepare(&t->node);
	m = geneve(inner_udp6(remote6, pod6), 2, 0, 0x6558, VNI, 2);
	rte_pktmbuf_mtod_offset(m, struct rte_udp_hdr *, 34)->dst_port = RTE_BE16(VXLAN_PORT);
	expect_v(m, P_UP, PSW_V_DROP, PSW_DROP_VXLAN_BAD, "Geneve at the VXLAN port", false);
	CU_ASSERT_EQUAL(rte_mempool_avail_count(mp), avail);
}

/*
 * One burst of 32 frames from the uplink, eight kinds in turn: good IPv4
 * and IPv6 senders, spoofed ones of each family, a good sender from a third
 * vtep, a wrong VNI and a cut inner header (decap fails between the ones
 * that pass), a relay. The senders are checked in one lookup a family:
 * each frame must still get its own verdict.
 */
static void
test_tunnel_burst(void)
{
	static const struct {
		uint8_t verdict;
		unsigned what;
	} want[8] = {
		{ PSW_V_TX, P_POD }, { PSW_V_TX, P_POD }, { PSW_V_DROP, PSW_DROP_VXLAN_SPOOF },
		{ PSW_V_DROP, PSW_DROP_VXLAN_SPOOF }, { PSW_V_DROP, PSW_DROP_VXLAN_SPOOF },
		{ PSW_V_DROP, PSW_DROP_VXLAN_BAD }, { PSW_V_DROP, PSW_DROP_RUNT }, { PSW_V_DROP, PSW_DROP_VXLAN_NOT_HERE },
	};
	struct psw_burst b = { .nb = PSW_BURST_MAX };
	unsigned i, avail;

	fresh();
	avail = rte_mempool_avail_count(mp);
	for (i = 0; i < PSW_BURST_MAX; i++) {
		struct rte_mbuf *m = NULL;

		switch (i % 8) {
		case 0: m = vxlan(inner_udp4(REMOTE4, POD4, (uint16_t)(80 + i), 18), OTHER); break;
		case 1: m = vxlan(inner_udp6(remote6, pod6), OTHER); break;
		case 2: m = vxlan(inner_udp4(0x0af4020au, POD4, 80, 18), OTHER); break;
		case 3: m = vxlan(inner_udp6(rtr6, pod6), OTHER); break;
		case 4: m = vxlan(inner_udp4(REMOTE4, POD4, 80, 18), OTHER + 1); break;
		case 5:
			m = vxlan(inner_udp6(remote6, pod6), OTHER);
			rte_pktmbuf_mtod_offset(m, uint8_t *, 42 + 6)[0] = VNI + 1;
			break;
		case 6:
			m = inner_udp6(remote6, pod6);
			rte_pktmbuf_trim(m, (uint16_t)(rte_pktmbuf_data_len(m) - (14 + 30)));
			m = vxlan(m, OTHER);
			break;
		case 7: m = vxlan(inner_udp4(REMOTE4, REMOTE4 + 1, 80, 18), OTHER); break;
		}
		CU_ASSERT_PTR_NOT_NULL_FATAL(m);
		m->port = P_UP;
		b.pkts[i] = m;
		memset(&b.meta[i], 0, sizeof(b.meta[i]));
		b.meta[i].in_port = P_UP;
	}
	psw_worker_process(&lc, t, &b);
	for (i = 0; i < PSW_BURST_MAX; i++) {
		const struct psw_meta *m = &b.meta[i];
		unsigned got = m->verdict == PSW_V_TX ? m->out_port : m->drop_reason;

		if (m->verdict != want[i % 8].verdict || got != want[i % 8].what) {
			fprintf(stderr, "\n  burst frame %u: verdict %u port %u reason %s\n", i, m->verdict, m->out_port,
				m->verdict == PSW_V_DROP ? psw_drop_name(m->drop_reason) : "-");
			CU_FAIL("a frame of a mixed tunnel burst");
		}
		/* the ones delivered, their own inner packet */
		if (i % 8 == 0 && m->verdict == PSW_V_TX)
			CU_ASSERT_EQUAL(m->dport, rte_cpu_to_be_16((uint16_t)(80 + i)));
		rte_pktmbuf_free(b.pkts[i]);
	}
	CU_ASSERT_EQUAL(lc.sc.events[PSW_EV_VXLAN_DECAP], 8);
	CU_ASSERT_EQUAL(rte_mempool_avail_count(mp), avail);
}

/*
 * The outer headers from the template against ones written field by
 * field (the checksum by rte_ipv4_cksum), for many destinations and
 * lengths, VXLAN and Geneve; the inner frame's MACs the gateway's and
 * zero, the rest of it untouched.
 */
static void
test_tunnel_template(void)
{
	static const uint32_t dsts[] = { 0x00000001u, 0xc0a83202u, 0xffffffffu, 0x0afffffeu, 0x7f000001u,
					 0x80000000u, 0xfffe0001u };
	unsigned g, i, len;

	for (g = 0; g < 2; g++) {
		t->node.geneve = (uint8_t)g;
		t->node.tunnel_port = g ? RTE_BE16(6081) : RTE_BE16(VXLAN_PORT);
		psw_tunnel_prepare(&t->node);
		for (i = 0; i < RTE_DIM(dsts); i++)
			for (len = 60; len <= 1514; len += 97) {
				struct rte_mbuf *m = rte_pktmbuf_alloc(mp);
				struct psw_nh nh = { .port = P_UP, .flags = PSW_NH_F_TUNNEL };
				struct psw_meta meta = { .l3 = PSW_L3_IPV4, .l4_proto = IPPROTO_UDP, .sport = 7,
							 .dport = 9 };
				uint8_t want[50 + 12], *d, *o;
				struct rte_ipv4_hdr *ip;
				unsigned k;

				CU_ASSERT_PTR_NOT_NULL_FATAL(m);
				d = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)len);
				CU_ASSERT_PTR_NOT_NULL_FATAL(d);
				for (k = 0; k < len; k++)
					d[k] = (uint8_t)(k * 7 + 1);
				nh.tunnel_dst = rte_cpu_to_be_32(dsts[i]);
				o = (uint8_t *)psw_tunnel_encap(t, m, &meta, &nh);
				CU_ASSERT_PTR_NOT_NULL_FATAL(o);
				CU_ASSERT_EQUAL(rte_pktmbuf_pkt_len(m), len + 50);
				memset(want, 0, sizeof(want));
				want[12] = 0x08;
				ip = (struct rte_ipv4_hdr *)(want + 14);
				ip->version_ihl = 0x45;
				ip->total_length = rte_cpu_to_be_16((uint16_t)(len + 36));
				ip->time_to_live = 64;
				ip->next_proto_id = IPPROTO_UDP;
				ip->src_addr = rte_cpu_to_be_32(NODE);
				ip->dst_addr = nh.tunnel_dst;
				ip->hdr_checksum = rte_ipv4_cksum(ip);
				memcpy(want + 34, o + 34, 2);        /* the source port: the flow's */
				CU_ASSERT((o[34] << 8 | o[35]) >= 49152);
				want[36] = g ? 0x17 : 0x12;
				want[37] = g ? 0xc1 : 0xb5;
				want[38] = (uint8_t)((len + 16) >> 8);
				want[39] = (uint8_t)(len + 16);
				if (g) {
					want[44] = 0x65;
					want[45] = 0x58;
				} else {
					want[42] = 0x08;
				}
				want[48] = VNI;
				memcpy(want + 50 + 6, gw_mac, 6);
				if (memcmp(o + 12, want + 12, sizeof(want) - 12) != 0) {
					for (k = 12; k < sizeof(want) && o[k] == want[k]; k++)
						;
					fprintf(stderr, "\n  %s to %08x, %u bytes: headers differ at %u (%02x, not %02x)\n",
						g ? "Geneve" : "VXLAN", dsts[i], len, k, o[k], want[k]);
					CU_FAIL("the encapsulation's headers");
				}
				for (k = 12; k < len; k++)
					if (o[50 + k] != (uint8_t)(k * 7 + 1))
						break;
				CU_ASSERT_EQUAL(k, len);
				rte_pktmbuf_free(m);
			}
	}
	t->node.geneve = 0;
	t->node.tunnel_port = RTE_BE16(VXLAN_PORT);
	psw_tunnel_prepare(&t->node);
}

/* A frame that left encapsulated to the other node: outer MACs and destination, the inner MACs the template's. */
static void
expect_encapsulated(struct rte_mbuf *m, unsigned l3_len, const char *what)
{
	static const uint8_t zero[6];
	const uint8_t *o = rte_pktmbuf_mtod(m, const uint8_t *);

	if (rte_pktmbuf_data_len(m) != 50u + 14 + l3_len || memcmp(o, mac_other, 6) != 0 ||
	    memcmp(o + 6, up_mac, 6) != 0 || outer_ip(m)->dst_addr != rte_cpu_to_be_32(OTHER) ||
	    rte_ipv4_cksum(outer_ip(m)) != 0 ||
	    rte_be_to_cpu_16(outer_ip(m)->total_length) != rte_pktmbuf_data_len(m) - 14u ||
	    memcmp(o + 50, zero, 6) != 0 || memcmp(o + 56, gw_mac, 6) != 0) {
		fprintf(stderr, "\n  %s: not encapsulated as it should be (%u bytes)\n", what,
			rte_pktmbuf_data_len(m));
		CU_FAIL(what);
	}
}

/* A pod's datagram of IP length len to dst (IPv4 host order, or IPv6 when dst6), its TTL, DF, VLAN tags. */
static struct rte_mbuf *
pod_out(uint32_t dst, const uint8_t *dst6, unsigned len, uint8_t ttl, bool df, int vlans)
{
	struct tpkt p;
	struct rte_mbuf *m;

	tpkt_defaults(&p);
	memcpy(p.src_mac, mac_pod, 6);
	memcpy(p.dst_mac, gw_mac, 6);
	p.ttl = ttl;
	p.nb_vlans = vlans;
	if (dst6 != NULL) {
		p.ip6 = 1;
		memcpy(p.src6, pod6, 16);
		memcpy(p.dst6, dst6, 16);
		p.payload = (uint16_t)(len - 48);
	} else {
		p.src4 = POD4;
		p.dst4 = dst;
		p.payload = (uint16_t)(len - 28);
	}
	m = tpkt_build(mp, &p);
	if (m != NULL && df && dst6 == NULL) {
		struct rte_ipv4_hdr *ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, 14 + 4 * vlans);

		ip->fragment_offset = RTE_BE16(RTE_IPV4_HDR_DF_FLAG);
		ip->hdr_checksum = 0;
		ip->hdr_checksum = rte_ipv4_cksum(ip);
	}
	return m;
}

/*
 * The way into the overlay, short path and long: at the MTU less the 50
 * bytes and one past (with DF told, without split, IPv6 told), TTL 1, a
 * VLAN-tagged pod, a node without an IPv4 address, a next hop whose MAC
 * is not known yet, an answer to a packet that came out of the overlay. Each that leaves is encapsulated
 * with the inner MACs set.
 */
/*
 * The inner IPv4 header of a frame not yet wrapped: TTL, DF and protocol
 * set, its checksum computed, then made wrong if bad.
 */
static struct rte_mbuf *
inner_hdr(struct rte_mbuf *m, uint8_t ttl, bool df, bool bad)
{
	struct rte_ipv4_hdr *ip;

	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, 14);
	ip->time_to_live = ttl;
	ip->fragment_offset = df ? RTE_BE16(RTE_IPV4_HDR_DF_FLAG) : 0;
	ip->hdr_checksum = 0;
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	if (bad)
		ip->hdr_checksum ^= RTE_BE16(0x0400);
	return m;
}

/* An inner ICMP echo request over IPv4 from src to dst (host order). */
static struct rte_mbuf *
inner_echo4(uint32_t src, uint32_t dst)
{
	struct tpkt p;

	tpkt_defaults(&p);
	memcpy(p.src_mac, mac_other, 6);
	memcpy(p.dst_mac, up_mac, 6);
	p.src4 = src;
	p.dst4 = dst;
	p.proto = IPPROTO_ICMP;
	p.icmp_type = RTE_IP_ICMP_ECHO_REQUEST;
	return tpkt_build(mp, &p);
}

/*
 * The inner IPv4 header checksum out of the overlay: a pod's plain packet
 * passes unchecked, its TTL changed and a wrong checksum left wrong; what
 * the switch answers or rewrites whole (the node's address, ICMP, TTL 1,
 * too big, fragments) is checked first and dropped if wrong.
 */
static void
test_tunnel_inner_csum(void)
{
	struct rte_mbuf *m;
	struct rte_ipv4_hdr *ip;

	fresh();
	lc.sc.nb_extra = 0;
	m = expect_v(vxlan(inner_hdr(inner_udp4(REMOTE4, POD4, 80, 18), 64, true, true), OTHER), P_UP, PSW_V_TX,
		     P_POD, "a wrong inner checksum to a pod", true);
	ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, 14);
	CU_ASSERT_EQUAL(ip->time_to_live, 63);
	CU_ASSERT_EQUAL(ip->dst_addr, rte_cpu_to_be_32(POD4));
	CU_ASSERT_NOT_EQUAL(rte_ipv4_cksum(ip), 0);      /* still wrong: not made right */
	rte_pktmbuf_free(m);
	m = expect_v(vxlan(inner_hdr(inner_udp4(REMOTE4, POD4, 80, 18), 64, true, false), OTHER), P_UP, PSW_V_TX,
		     P_POD, "a right inner checksum to a pod", true);
	CU_ASSERT_EQUAL(rte_ipv4_cksum(rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, 14)), 0);
	rte_pktmbuf_free(m);

	/* answered or rewritten whole: checked (expect_v: each dropped as ip4_csum) */
	expect_v(vxlan(inner_hdr(inner_echo4(REMOTE4, NODE), 64, false, true), OTHER), P_UP, PSW_V_DROP,
		 PSW_DROP_IP4_CSUM, "a ping of the node with a wrong checksum", false);
	expect_v(vxlan(inner_hdr(inner_udp4(REMOTE4, NODE, 80, 18), 64, false, true), OTHER), P_UP, PSW_V_DROP,
		 PSW_DROP_IP4_CSUM, "a datagram to the node with a wrong checksum", false);
	expect_v(vxlan(inner_hdr(inner_echo4(REMOTE4, POD4), 64, false, true), OTHER), P_UP, PSW_V_DROP,
		 PSW_DROP_IP4_CSUM, "ICMP to a pod with a wrong checksum", false);
	expect_v(vxlan(inner_hdr(inner_udp4(REMOTE4, POD4, 80, 18), 1, false, true), OTHER), P_UP, PSW_V_DROP,
		 PSW_DROP_IP4_CSUM, "TTL 1 with a wrong checksum", false);
	expect_v(vxlan(inner_hdr(inner_udp4(REMOTE4, POD4, 80, 1600), 64, true, true), OTHER), P_UP, PSW_V_DROP,
		 PSW_DROP_IP4_CSUM, "too big, DF, with a wrong checksum", false);
	expect_v(vxlan(inner_hdr(inner_udp4(REMOTE4, POD4, 80, 1600), 64, false, true), OTHER), P_UP, PSW_V_DROP,
		 PSW_DROP_IP4_CSUM, "too big, to be split, with a wrong checksum", false);
	CU_ASSERT_EQUAL(lc.sc.events[PSW_EV_ECHO_REPLY], 0);
	CU_ASSERT_EQUAL(lc.sc.events[PSW_EV_ICMP_TIME_EXCEEDED], 0);
	CU_ASSERT_EQUAL(lc.sc.events[PSW_EV_ICMP_TOO_BIG], 0);
	CU_ASSERT_EQUAL(lc.sc.events[PSW_EV_FRAGMENTED], 0);
	CU_ASSERT_EQUAL(lc.sc.nb_extra, 0);

	/* the same with right checksums: answered, split */
	m = expect_v(vxlan(inner_hdr(inner_echo4(REMOTE4, NODE), 64, false, false), OTHER), P_UP, PSW_V_TX, P_UP,
		     "a ping of the node", true);
	expect_encapsulated(m, rte_pktmbuf_data_len(m) - 64u, "a ping of the node");
	rte_pktmbuf_free(m);
	m = expect_v(vxlan(inner_hdr(inner_udp4(REMOTE4, POD4, 80, 18), 1, false, false), OTHER), P_UP, PSW_V_TX,
		     P_UP, "TTL 1", true);
	rte_pktmbuf_free(m);
	m = expect_v(vxlan(inner_hdr(inner_udp4(REMOTE4, POD4, 80, 1600), 64, true, false), OTHER), P_UP,
		     PSW_V_TX, P_UP, "too big, DF", true);
	rte_pktmbuf_free(m);
	m = expect_v(vxlan(inner_hdr(inner_udp4(REMOTE4, POD4, 80, 1600), 64, false, false), OTHER), P_UP,
		     PSW_V_TX, P_POD, "too big, to be split", true);
	CU_ASSERT_EQUAL(rte_ipv4_cksum(rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, 14)), 0);
	rte_pktmbuf_free(m);
	CU_ASSERT_EQUAL_FATAL(lc.sc.nb_extra, 1);
	CU_ASSERT_EQUAL(rte_ipv4_cksum(rte_pktmbuf_mtod_offset(lc.sc.extra[0].pkt, struct rte_ipv4_hdr *, 14)), 0);
	rte_pktmbuf_free(lc.sc.extra[0].pkt);
	lc.sc.nb_extra = 0;
	CU_ASSERT_EQUAL(lc.sc.events[PSW_EV_ECHO_REPLY], 1);
	CU_ASSERT_EQUAL(lc.sc.events[PSW_EV_ICMP_TIME_EXCEEDED], 1);
	CU_ASSERT_EQUAL(lc.sc.events[PSW_EV_ICMP_TOO_BIG], 1);
	CU_ASSERT_EQUAL(lc.sc.events[PSW_EV_FRAGMENTED], 1);
}

/*
 * An inner IPv4 packet of protocol 58 (ICMPv6's number) is not ICMP to
 * the tunnel stage, but conntrack takes it for an ICMP error (type 1..4)
 * and, when it quotes a known connection, rewrites its IPv4 header whole
 * (cut to 576 bytes, or translated for a Service): its checksum must have
 * been checked before, not made right for a pod.
 */
static struct rte_mbuf *
inner_icmp6_in_ip4(uint16_t payload)
{
	struct tpkt p;
	struct rte_mbuf *m;
	uint8_t *ip, *icmp, *q;
	uint32_t a;
	uint16_t c;

	tpkt_defaults(&p);
	memcpy(p.src_mac, mac_other, 6);
	memcpy(p.dst_mac, up_mac, 6);
	p.src4 = REMOTE4;
	p.dst4 = POD4;
	p.proto = IPPROTO_ICMP;
	p.payload = payload;
	m = tpkt_build(mp, &p);
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	ip = rte_pktmbuf_mtod_offset(m, uint8_t *, 14);
	ip[9] = IPPROTO_ICMPV6;
	icmp = ip + 20;
	memset(icmp, 0, 8u + payload);
	icmp[0] = 1;                             /* "destination unreachable" */
	q = icmp + 8;                            /* the quoted datagram: POD4:1234 -> REMOTE4:80, UDP */
	q[0] = 0x45;
	q[3] = 48;
	q[8] = 64;
	q[9] = IPPROTO_UDP;
	a = rte_cpu_to_be_32(POD4);
	memcpy(q + 12, &a, 4);
	a = rte_cpu_to_be_32(REMOTE4);
	memcpy(q + 16, &a, 4);
	c = (uint16_t)~rte_raw_cksum(q, 20);
	memcpy(q + 10, &c, 2);
	q[20] = 1234 >> 8;
	q[21] = 1234 & 0xff;
	q[23] = 80;
	c = (uint16_t)~rte_raw_cksum(icmp, 8u + payload);
	memcpy(icmp + 2, &c, 2);
	return m;
}

static void
test_tunnel_icmp6_in_ip4_csum(void)
{
	struct psw_ct_key o = { .family = 4, .proto = IPPROTO_UDP }, r;
	struct rte_ipv4_hdr *ip;
	struct rte_mbuf *m;
	struct psw_meta meta;
	int hit;

	fresh();
	*(uint32_t *)o.src = rte_cpu_to_be_32(POD4);
	*(uint32_t *)o.dst = rte_cpu_to_be_32(REMOTE4);
	o.sport = RTE_BE16(1234);
	o.dport = RTE_BE16(80);
	psw_ct_key_reverse(&o, &r);
	hit = psw_ct_insert(t->ct, &o, &r, 0, 0, 0, rte_rdtsc());
	CU_ASSERT_FATAL(hit >= 0);
	/* longer than 576: conntrack cuts it, and writes the IPv4 header's checksum afresh */
	m = vxlan(inner_hdr(inner_icmp6_in_ip4(800), 64, false, true), OTHER);
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	meta = run(m, P_UP);
	if (meta.verdict == PSW_V_TX) {
		ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, 14);
		CU_ASSERT_NOT_EQUAL(rte_ipv4_cksum(ip), 0);      /* not laundered */
	} else {
		CU_ASSERT_EQUAL(meta.verdict, PSW_V_DROP);
		CU_ASSERT_EQUAL(meta.drop_reason, PSW_DROP_IP4_CSUM);
	}
	rte_pktmbuf_free(m);
	/* a right one passes, whole: protocol 58 in IPv4 is no ICMP error, nothing cuts or rewrites it */
	m = vxlan(inner_hdr(inner_icmp6_in_ip4(800), 64, false, false), OTHER);
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	meta = run(m, P_UP);
	CU_ASSERT_EQUAL(meta.verdict, PSW_V_TX);
	CU_ASSERT_EQUAL(meta.out_port, P_POD);
	CU_ASSERT_EQUAL(meta.l3_payload, 20 + 8 + 800);
	CU_ASSERT(!(meta.flags & PSW_F_CT_RELATED));
	rte_pktmbuf_free(m);
	CU_ASSERT_EQUAL(psw_ct_remove(t->ct, (uint32_t)hit), 0);
}

/*
 * A Service address may be any address (spec.externalIPs is not checked
 * against the pods'): one that is a pod's here, without endpoints, makes
 * the service stage refuse a connection to it out of the overlay, a RST
 * or an ICMP error with the IPv4 header written whole. A wrong inner
 * checksum must not be answered.
 */
static void
test_tunnel_reject_csum(void)
{
	struct psw_svc_spec spec[2];
	struct psw_svc_table *svcs = t->svcs, *ext = psw_svc_table_create(16, SOCKET_ID_ANY);
	struct rte_mbuf *m;
	struct psw_meta meta;
	struct tpkt p;
	uint32_t a = rte_cpu_to_be_32(POD4);
	unsigned i;

	CU_ASSERT_PTR_NOT_NULL_FATAL(ext);
	memset(spec, 0, sizeof(spec));
	for (i = 0; i < 2; i++) {
		spec[i].key.family = 4;
		spec[i].key.proto = i == 0 ? IPPROTO_TCP : IPPROTO_UDP;
		spec[i].key.port = RTE_BE16(8080);
		memcpy(spec[i].key.addr, &a, 4);
		CU_ASSERT_FATAL(psw_svc_table_set(ext, psw_svc_port_build(&spec[i], 0, SOCKET_ID_ANY)) == 0);
	}
	t->svcs = ext;
	for (i = 0; i < 4; i++) {
		bool bad = i < 2;

		fresh();
		tpkt_defaults(&p);
		memcpy(p.src_mac, mac_other, 6);
		memcpy(p.dst_mac, up_mac, 6);
		p.src4 = REMOTE4;
		p.dst4 = POD4;
		p.proto = i % 2 == 0 ? IPPROTO_TCP : IPPROTO_UDP;
		p.dport = 8080;
		m = vxlan(inner_hdr(tpkt_build(mp, &p), 64, true, bad), OTHER);
		CU_ASSERT_PTR_NOT_NULL_FATAL(m);
		meta = run(m, P_UP);
		if (bad) {
			CU_ASSERT_EQUAL(lc.sc.events[PSW_EV_SVC_REJECT], 0);
			CU_ASSERT_EQUAL(meta.verdict, PSW_V_DROP);
			CU_ASSERT_EQUAL(meta.drop_reason, PSW_DROP_IP4_CSUM);
		} else {
			/* refused, back into the overlay */
			CU_ASSERT_EQUAL(lc.sc.events[PSW_EV_SVC_REJECT], 1);
			CU_ASSERT_EQUAL(meta.verdict, PSW_V_TX);
			CU_ASSERT_EQUAL(meta.out_port, P_UP);
			CU_ASSERT_EQUAL(lc.sc.events[PSW_EV_VXLAN_ENCAP], 1);
		}
		rte_pktmbuf_free(m);
	}
	t->svcs = svcs;
	psw_svc_table_destroy(ext);
}

static void
test_tunnel_way_out(void)
{
	struct rte_mbuf *m;
	unsigned i;

	fresh();
	lc.sc.nb_extra = 0;
	m = expect_v(pod_out(REMOTE4, NULL, 1450, 64, true, 0), P_POD, PSW_V_TX, P_UP, "1450 bytes, DF", true);
	expect_encapsulated(m, 1450, "1450 bytes, DF");
	rte_pktmbuf_free(m);
	expect_v(pod_out(REMOTE4, NULL, 1451, 64, true, 0), P_POD, PSW_V_TX, P_POD, "1451 bytes, DF: told", false);
	CU_ASSERT_EQUAL(lc.sc.events[PSW_EV_ICMP_TOO_BIG], 1);
	m = expect_v(pod_out(REMOTE4, NULL, 1451, 64, false, 0), P_POD, PSW_V_TX, P_UP, "1451 bytes: split", true);
	CU_ASSERT_EQUAL_FATAL(lc.sc.nb_extra, 1);
	expect_encapsulated(m, 20 + 1424, "1451 bytes: the first piece");
	expect_encapsulated(lc.sc.extra[0].pkt, 20 + 1451 - 20 - 1424, "1451 bytes: the second piece");
	rte_pktmbuf_free(m);
	rte_pktmbuf_free(lc.sc.extra[0].pkt);
	lc.sc.nb_extra = 0;
	m = expect_v(pod_out(0, remote6, 1450, 64, false, 0), P_POD, PSW_V_TX, P_UP, "IPv6, 1450 bytes", true);
	expect_encapsulated(m, 1450, "IPv6, 1450 bytes");
	rte_pktmbuf_free(m);
	expect_v(pod_out(0, remote6, 1451, 64, false, 0), P_POD, PSW_V_TX, P_POD, "IPv6, 1451 bytes: told", false);
	expect_v(pod_out(REMOTE4, NULL, 100, 1, false, 0), P_POD, PSW_V_TX, P_POD, "TTL 1: told", false);
	expect_v(pod_out(0, remote6, 100, 1, false, 0), P_POD, PSW_V_TX, P_POD, "hop limit 1: told", false);
	CU_ASSERT_EQUAL(lc.sc.events[PSW_EV_VXLAN_ENCAP], 4);
	/* tagged: the tag gone, then the short path's encapsulation */
	m = expect_v(pod_out(REMOTE4, NULL, 100, 64, false, 1), P_POD, PSW_V_TX, P_UP, "a tagged pod frame", true);
	expect_encapsulated(m, 100, "a tagged pod frame");
	CU_ASSERT_EQUAL(rte_pktmbuf_mtod(m, const uint8_t *)[62], 0x08);
	rte_pktmbuf_free(m);
	/* an answer to a packet out of the overlay goes back into it: TTL 1 from the remote pod */
	m = inner_udp4(REMOTE4, POD4, 80, 18);
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, 14)->time_to_live = 1;
	rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, 14)->hdr_checksum = 0;
	rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, 14)->hdr_checksum =
		rte_ipv4_cksum(rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, 14));
	m = expect_v(vxlan(m, OTHER), P_UP, PSW_V_TX, P_UP, "time exceeded back into the overlay", true);
	expect_encapsulated(m, rte_pktmbuf_data_len(m) - 64u, "time exceeded back into the overlay");
	rte_pktmbuf_free(m);
	/* a node without an IPv4 address has no source for the outer header (the template's is 0.0.0.0) */
	t->node.nb_addrs = 0;
	psw_tunnel_prepare(&t->node);
	expect_v(pod_out(REMOTE4, NULL, 100, 64, false, 0), P_POD, PSW_V_DROP, PSW_DROP_VXLAN_NO_ROOM,
		 "no IPv4 address: not sent from 0.0.0.0", false);
	t->node.nb_addrs = 1;
	psw_tunnel_prepare(&t->node);
	/* the other node's MAC not known yet: held encapsulated, its inner MACs set */
	for (i = 0; i < t->routes->nb_nhs; i++)
		if (t->routes->nhs[i].flags == PSW_NH_F_TUNNEL) {
			t->routes->nhs[i].flags |= PSW_NH_F_RESOLVE;
			t->routes->nhs[i].port = PSW_PORT_NONE;
		}
	m = expect_v(pod_out(REMOTE4, NULL, 100, 64, false, 0), P_POD, PSW_V_PUNT, PSW_PUNT_RESOLVE,
		     "resolving: held", true);
	CU_ASSERT_EQUAL(memcmp(rte_pktmbuf_mtod_offset(m, const uint8_t *, 56), gw_mac, 6), 0);
	CU_ASSERT_EQUAL(outer_ip(m)->dst_addr, rte_cpu_to_be_32(OTHER));
	CU_ASSERT_EQUAL(rte_ipv4_cksum(outer_ip(m)), 0);
	rte_pktmbuf_free(m);
	for (i = 0; i < t->routes->nb_nhs; i++)
		if (t->routes->nhs[i].flags == (PSW_NH_F_TUNNEL | PSW_NH_F_RESOLVE)) {
			t->routes->nhs[i].flags = PSW_NH_F_TUNNEL;
			t->routes->nhs[i].port = P_UP;
		}
}

/*
 * Bytes after a pod's datagram (Ethernet padding, or more) do not go into
 * the overlay: the outer lengths are the datagram's, within the MTU the
 * datagram was checked against.
 */
static void
test_tunnel_trailing_bytes(void)
{
	static const unsigned pads[] = { 6, 64 };
	struct rte_mbuf *m;
	unsigned i;

	fresh();
	for (i = 0; i < RTE_DIM(pads); i++) {
		m = pod_out(REMOTE4, NULL, 1450, 64, false, 0);
		CU_ASSERT_PTR_NOT_NULL_FATAL(m);
		memset(rte_pktmbuf_append(m, (uint16_t)pads[i]), 0xa5, pads[i]);
		m = expect_v(m, P_POD, PSW_V_TX, P_UP, "a datagram and bytes after it", true);
		expect_encapsulated(m, 1450, "a datagram and bytes after it");
		rte_pktmbuf_free(m);
		m = pod_out(REMOTE4, NULL, 1450, 64, false, 1);
		memset(rte_pktmbuf_append(m, (uint16_t)pads[i]), 0xa5, pads[i]);
		m = expect_v(m, P_POD, PSW_V_TX, P_UP, "a tagged datagram and bytes after it", true);
		expect_encapsulated(m, 1450, "a tagged datagram and bytes after it");
		rte_pktmbuf_free(m);
	}
}

int
main(void)
{
	CU_pSuite s;
	int failures;

	if (fixture_start("tunnel") != 0)
		return 1;
	CU_initialize_registry();
	s = CU_add_suite("tunnel", NULL, NULL);
	CU_add_test(s, "VXLAN decap of IPv6: spoofs, the other node itself, relays, cut headers, ND", test_tunnel);
	CU_add_test(s, "an advertisement through VXLAN does not poison the table", test_tunnel_cannot_poison);
	CU_add_test(s, "a pod's datagram to another node's VXLAN port dropped", test_tunnel_forged_by_pod);
	CU_add_test(s, "Geneve: options, critical and control packets, versions, the way out", test_geneve);
	CU_add_test(s, "IPv4 without DF past the MTU: fragments, natively and into the overlay", test_fragmentation);
	CU_add_test(s, "fragmentation at its edges: tiny MTUs, far offsets, padding, VLAN", test_fragmentation_edges);
	CU_add_test(s, "fragmentation of a burst past its extra room, and of an empty pool", test_fragmentation_burst);
	CU_add_test(s, "Geneve attacked: lengths, padding, outer options, nesting, segments, ports", test_geneve_attacks);
	CU_add_test(s, "a burst of tunnelled frames, good and spoofed, each its own verdict", test_tunnel_burst);
	CU_add_test(s, "the encapsulation's template against headers written field by field", test_tunnel_template);
	CU_add_test(s, "into the overlay: MTU edges, TTL 1, tags, resolve, answers", test_tunnel_way_out);
	CU_add_test(s, "bytes after a pod's datagram stay out of the overlay", test_tunnel_trailing_bytes);
	CU_add_test(s, "the inner IPv4 checksum: left to the pod on the plain path, checked before answers",
		    test_tunnel_inner_csum);
	CU_add_test(s, "the inner IPv4 checksum of an ICMPv6 error in IPv4, which conntrack rewrites whole",
		    test_tunnel_icmp6_in_ip4_csum);
	CU_add_test(s, "the inner IPv4 checksum before a Service at a pod's address refuses a connection",
		    test_tunnel_reject_csum);
	failures = psw_ut_run();
	fixture_stop();
	return failures ? 1 : 0;
}
