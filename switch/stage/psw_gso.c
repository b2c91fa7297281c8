/* Kernel pods' offloads: partial checksums and segmentation (psw_gso.h). */
#include <netinet/in.h>
#include <string.h>

#include <rte_byteorder.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include "psw_csum.h"
#include "psw_gso.h"
#include "psw_nat.h"

/* Where the IP datagram at l2 ends (its own length, not the frame's padding), within the data. */
static unsigned
dgram_end(const struct rte_mbuf *pkt, unsigned l2)
{
	const uint8_t *d = rte_pktmbuf_mtod(pkt, const uint8_t *);
	unsigned len = rte_pktmbuf_data_len(pkt), end = len;

	if (l2 + 40 <= len && (d[l2] >> 4) == 6)
		end = l2 + 40 + (unsigned)(d[l2 + 4] << 8 | d[l2 + 5]);
	else if (l2 + 20 <= len && (d[l2] >> 4) == 4)
		end = l2 + (unsigned)(d[l2 + 2] << 8 | d[l2 + 3]);
	return RTE_MIN(end, len);
}

static inline void
clear_requests(struct rte_mbuf *pkt)
{
	pkt->ol_flags &= ~(uint64_t)PSW_OL_ANY;
	pkt->tso_segsz = 0;
}

/*
 * The checksum a sender left partial, finished: the one's complement sum
 * from start to end (its field holding the pseudo-header's sum) into the
 * field at start + off; for SCTP (off 8), the CRC32c of the whole message.
 * False when the offsets do not fall within the datagram.
 */
static bool
finish_at(struct rte_mbuf *pkt, unsigned start, unsigned off, unsigned end, bool sctp)
{
	uint8_t *d = rte_pktmbuf_mtod(pkt, uint8_t *);
	uint16_t c;

	if (start >= end || start + off + 2 > end)
		return false;
	if (sctp) {
		struct psw_meta m = { .l2_len = 0, .l4_off = (uint16_t)start,
				      .l3_payload = (uint16_t)end };

		if (off != 8 || end - start < 12)
			return false;
		psw_sctp_crc_update(pkt, &m);
		return true;
	}
	c = psw_csum_finish(d, start, off, end);
	if (c == 0 && off == 6)
		memset(d + start + off, 0xff, 2);   /* UDP: a computed 0 is sent as all ones */
	return true;
}

void
psw_gso_csum(struct rte_mbuf *pkt)
{
	uint64_t l4 = pkt->ol_flags & RTE_MBUF_F_TX_L4_MASK;

	if (l4 != 0)
		(void)finish_at(pkt, pkt->l2_len + pkt->l3_len, pkt->l4_len, dgram_end(pkt, pkt->l2_len),
				l4 == RTE_MBUF_F_TX_SCTP_CKSUM);
	clear_requests(pkt);
}

/* The partial checksum asked for is the packet's own TCP, UDP or SCTP one. */
static bool
own_l4(const struct rte_mbuf *pkt, const struct psw_meta *m)
{
	uint64_t l4 = pkt->ol_flags & RTE_MBUF_F_TX_L4_MASK;

	if ((m->flags & (PSW_F_L4 | PSW_F_FRAG)) != PSW_F_L4 ||
	    (unsigned)pkt->l2_len + pkt->l3_len != m->l4_off)
		return false;
	return (l4 == RTE_MBUF_F_TX_TCP_CKSUM && m->l4_proto == IPPROTO_TCP && pkt->l4_len == 16) ||
	       (l4 == RTE_MBUF_F_TX_UDP_CKSUM && m->l4_proto == IPPROTO_UDP && pkt->l4_len == 6) ||
	       (l4 == RTE_MBUF_F_TX_SCTP_CKSUM && m->l4_proto == IPPROTO_SCTP && pkt->l4_len == 8);
}

/*
 * A partial checksum that is not the packet's own: in an IP datagram (not
 * a fragment, which a kernel finishes before it fragments), starting past
 * the headers parse read: the L4 header (TCP's options included), or the
 * IP header chain for a protocol parse does not look into.
 */
static bool
foreign_ok(const struct rte_mbuf *pkt, const struct psw_meta *m)
{
	const uint8_t *l4 = rte_pktmbuf_mtod_offset(pkt, const uint8_t *, m->l4_off);
	unsigned hdr_end = m->l4_off;

	if ((m->l3 != PSW_L3_IPV4 && m->l3 != PSW_L3_IPV6) || (m->flags & PSW_F_FRAG))
		return false;
	if (m->flags & PSW_F_L4) {
		switch (m->l4_proto) {
		case IPPROTO_TCP:
			hdr_end += (unsigned)(l4[12] >> 4) * 4u;   /* parse checked it is there */
			break;
		case IPPROTO_SCTP:
			hdr_end += 12;
			break;
		default:                         /* UDP, ICMP, ICMPv6 */
			hdr_end += 8;
			break;
		}
	}
	return (unsigned)pkt->l2_len + pkt->l3_len >= hdr_end;
}

/* Segmentation a kernel asks for: TCP or UDP of this packet, segments that make sense. */
static bool
seg_ok(const struct rte_mbuf *pkt, const struct psw_meta *m)
{
	const uint8_t *l4 = rte_pktmbuf_mtod_offset(pkt, const uint8_t *, m->l4_off);
	uint64_t ol = pkt->ol_flags;
	unsigned hl, end = (unsigned)m->l2_len + m->l3_payload, mss = pkt->tso_segsz;

	if ((ol & PSW_OL_SEG) == RTE_MBUF_F_TX_TCP_SEG)
		hl = m->l4_off + (unsigned)(l4[12] >> 4) * 4u;   /* parse checked it is there */
	else if ((ol & PSW_OL_SEG) == RTE_MBUF_F_TX_UDP_SEG && m->l4_proto == IPPROTO_UDP)
		hl = m->l4_off + 8u;
	else
		return false;
	if ((ol & PSW_OL_SEG) == RTE_MBUF_F_TX_TCP_SEG &&
	    (m->l4_proto != IPPROTO_TCP || (l4[13] & (RTE_TCP_SYN_FLAG | RTE_TCP_RST_FLAG))))
		return false;    /* (a SYN or RST in many segments: conntrack would see one of them) */
	if (pkt->nb_segs != 1 || mss == 0 || hl > end || end > rte_pktmbuf_data_len(pkt) ||
	    hl - m->l2_len + mss > 65535u)
		return false;
	return (end - hl + mss - 1) / mss <= PSW_GSO_MAX_SEGS;
}

bool
psw_gso_check(struct rte_mbuf *pkt, struct psw_meta *m)
{
	uint64_t l4 = pkt->ol_flags & RTE_MBUF_F_TX_L4_MASK;
	bool own = own_l4(pkt, m);
	unsigned end;

	if (pkt->ol_flags & PSW_OL_SEG) {
		if (!own || !seg_ok(pkt, m)) {
			psw_set_drop(m, PSW_DROP_GSO_BAD);
			return false;
		}
		pkt->l2_len = m->l2_len;
		pkt->l3_len = m->l3_len;
		return true;
	}
	if (own && l4 != RTE_MBUF_F_TX_SCTP_CKSUM) {
		pkt->l2_len = m->l2_len;
		pkt->l3_len = m->l3_len;
		pkt->ol_flags |= m->l3 == PSW_L3_IPV4 ? RTE_MBUF_F_TX_IPV4 : RTE_MBUF_F_TX_IPV6;
		return true;
	}
	/*
	 * Not the packet's own (a pod's tunnel inside), or SCTP's CRC: done
	 * now, after parse has read the headers. A foreign one must lie within
	 * the L4 payload, past every byte parse took its addresses, ports and
	 * flags from: else the two bytes written would be the pod's choice of
	 * a header the guard, the policy and conntrack judged as it was.
	 */
	if (!own && !foreign_ok(pkt, m)) {
		psw_set_drop(m, PSW_DROP_GSO_BAD);
		return false;
	}
	end = m->l3 == PSW_L3_NONE ? rte_pktmbuf_data_len(pkt) : (unsigned)m->l2_len + m->l3_payload;
	if (l4 == 0 || !finish_at(pkt, pkt->l2_len + pkt->l3_len, pkt->l4_len, end,
				  l4 == RTE_MBUF_F_TX_SCTP_CKSUM)) {
		psw_set_drop(m, PSW_DROP_GSO_BAD);
		return false;
	}
	clear_requests(pkt);
	return true;
}

/* The one's complement sum of the IPv6 pseudo-header for len bytes of proto. */
static uint32_t
ip6_phdr_sum(const struct rte_ipv6_hdr *ip, uint8_t proto, uint32_t len)
{
	uint32_t w[2] = { rte_cpu_to_be_32(len), rte_cpu_to_be_32(proto) };
	uint32_t sum = __rte_raw_cksum(ip->src_addr, 32, 0);

	return __rte_raw_cksum(w, sizeof(w), sum);
}

/*
 * Segment i of n (len bytes of payload, headers at d copied from the
 * original): its lengths, identifier, sequence number, flags, checksums.
 */
static void
fix_segment(uint8_t *d, unsigned l2, unsigned l4, unsigned hl, unsigned i, unsigned n, unsigned len,
	    unsigned mss, bool tcp)
{
	unsigned l4len = hl - l4 + len;
	uint32_t sum;
	uint16_t c;

	if ((d[l2] >> 4) == 4) {
		struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(d + l2);
		unsigned ihl = (ip->version_ihl & 0xf) * 4u;

		ip->total_length = rte_cpu_to_be_16((uint16_t)(l4 - l2 + l4len));
		ip->packet_id = rte_cpu_to_be_16((uint16_t)(rte_be_to_cpu_16(ip->packet_id) + i));
		ip->hdr_checksum = 0;
		ip->hdr_checksum = ihl == 20 ? psw_ip4_hdr_csum20(ip) : (uint16_t)~rte_raw_cksum(ip, ihl);
		sum = rte_ipv4_phdr_cksum(ip, 0);
	} else {
		struct rte_ipv6_hdr *ip = (struct rte_ipv6_hdr *)(d + l2);

		ip->payload_len = rte_cpu_to_be_16((uint16_t)(l4 - l2 - 40 + l4len));
		sum = ip6_phdr_sum(ip, tcp ? IPPROTO_TCP : IPPROTO_UDP, l4len);
	}
	if (tcp) {
		struct rte_tcp_hdr *th = (struct rte_tcp_hdr *)(d + l4);

		th->sent_seq = rte_cpu_to_be_32(rte_be_to_cpu_32(th->sent_seq) + i * mss);
		if (i > 0)
			th->tcp_flags &= (uint8_t)~RTE_TCP_CWR_FLAG;
		if (i + 1 < n)
			th->tcp_flags &= (uint8_t)~(RTE_TCP_FIN_FLAG | RTE_TCP_PSH_FLAG);
		th->cksum = 0;
		c = (uint16_t)~__rte_raw_cksum_reduce(__rte_raw_cksum(th, l4len, sum));
		th->cksum = c;
	} else {
		struct rte_udp_hdr *uh = (struct rte_udp_hdr *)(d + l4);

		uh->dgram_len = rte_cpu_to_be_16((uint16_t)l4len);
		uh->dgram_cksum = 0;
		c = (uint16_t)~__rte_raw_cksum_reduce(__rte_raw_cksum(uh, l4len, sum));
		uh->dgram_cksum = c == 0 ? 0xffff : c;
	}
}

int
psw_gso_segment(struct rte_mbuf *pkt, struct rte_mempool *mp, struct rte_mempool *big, struct rte_mbuf **out,
		unsigned max)
{
	uint8_t *d = rte_pktmbuf_mtod(pkt, uint8_t *);
	bool tcp = (pkt->ol_flags & PSW_OL_SEG) == RTE_MBUF_F_TX_TCP_SEG;
	unsigned l2 = pkt->l2_len, l4 = l2 + pkt->l3_len, mss = pkt->tso_segsz;
	unsigned end = dgram_end(pkt, l2), hl, payload, n, i;
	struct rte_mempool *from;

	hl = l4 + (tcp ? (unsigned)(d[l4 + 12] >> 4) * 4u : 8u);
	if (mss == 0 || hl > end)
		return -1;
	payload = end - hl;
	n = payload == 0 ? 1 : (payload + mss - 1) / mss;
	if (n - 1 > max)
		return -1;
	from = hl + mss + RTE_PKTMBUF_HEADROOM <= rte_pktmbuf_data_room_size(mp) ? mp : big != NULL ? big : pkt->pool;
	if (n > 1 && rte_pktmbuf_alloc_bulk(from, out, n - 1) != 0)
		return -1;
	for (i = 1; i < n; i++) {
		unsigned len = RTE_MIN(mss, payload - i * mss);
		uint8_t *s = (uint8_t *)rte_pktmbuf_append(out[i - 1], (uint16_t)(hl + len));

		if (s == NULL) {
			rte_pktmbuf_free_bulk(out, n - 1);
			return -1;
		}
		memcpy(s, d, hl);
		memcpy(s + hl, d + hl + i * mss, len);
		fix_segment(s, l2, l4, hl, i, n, len, mss, tcp);
		out[i - 1]->port = pkt->port;
		out[i - 1]->l2_len = pkt->l2_len;
		out[i - 1]->l3_len = pkt->l3_len;
	}
	rte_pktmbuf_trim(pkt, (uint16_t)(rte_pktmbuf_data_len(pkt) - (hl + RTE_MIN(mss, payload))));
	fix_segment(d, l2, l4, hl, 0, n, RTE_MIN(mss, payload), mss, tcp);
	clear_requests(pkt);
	return (int)(n - 1);
}
