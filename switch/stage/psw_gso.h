/*
 * Offloads of kernel pods: partial checksums and large TCP (and UDP)
 * frames, as a pod's kernel hands them over when its interface keeps TX
 * checksum and segmentation offload on (psw_sockport.h, PACKET_VNET_HDR),
 * and as a vhost-user guest sends them (psw_vhostport.h).
 *
 * What a frame asks for is in its mbuf, as DPDK's TX offload requests:
 *   - a partial checksum: RTE_MBUF_F_TX_TCP_CKSUM (csum_offset 16),
 *     RTE_MBUF_F_TX_UDP_CKSUM (6) or RTE_MBUF_F_TX_SCTP_CKSUM (8, CRC32c);
 *     the checksum starts at l2_len + l3_len (the sender's csum_start), its
 *     field is at l4_len bytes from there (csum_offset) and holds, for
 *     TCP and UDP, the pseudo-header's sum (not complemented), lengths
 *     included, as Linux leaves it;
 *   - segmentation: RTE_MBUF_F_TX_TCP_SEG or RTE_MBUF_F_TX_UDP_SEG (always
 *     with the partial checksum: parse looks for requests by its bits
 *     alone), tso_segsz the payload of each segment,
 *     RTE_MBUF_F_TX_IPV4 or RTE_MBUF_F_TX_IPV6.
 * Such a frame is one segment (up to 64 KB, from the large mbuf pool).
 *
 * Who does what:
 *   - parse (psw_gso_check) holds the request to the headers it found: a
 *     partial checksum that is not the packet's own L4 one (a pod's tunnel)
 *     is finished there, if it lies past the headers parse read (else
 *     the pod would pick header bytes rewritten after the guard and the
 *     policy judged them: gso_bad); segmentation that does not match (protocol,
 *     offsets, a segment size that makes more than PSW_GSO_MAX_SEGS
 *     segments, a SYN or RST to cut) is dropped, gso_bad. After it, l2_len + l3_len is the
 *     packet's L4 header;
 *   - NAT keeps a partial checksum partial (psw_nat.h: the pseudo-header's
 *     sum follows the addresses, not the ports);
 *   - forward checks a large frame's segments, not the frame, against the
 *     MTU, and segments it before encapsulating it for another node;
 *   - the worker, sending to a port that cannot take offload requests
 *     (anything but a kernel pod with them, or a vhost-user guest that
 *     took GUEST_CSUM and GUEST_TSO4/6 for TCP ones), segments and
 *     finishes checksums there (psw_gso_finish); such a port takes the
 *     frame as it is, in one piece.
 * Everything else the stages do holds for large frames as for others:
 * they see one contiguous frame with its headers.
 */
#ifndef PSW_GSO_H
#define PSW_GSO_H

#include <stdbool.h>

#include <rte_mbuf.h>

#include "psw_pkt.h"

#define PSW_OL_CSUM (RTE_MBUF_F_TX_L4_MASK)
#define PSW_OL_SEG (RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_UDP_SEG)
#define PSW_OL_ANY (PSW_OL_CSUM | PSW_OL_SEG | RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IPV6)

/* More segments than this from one frame: not a kernel's (its segment size is absurd) */
#define PSW_GSO_MAX_SEGS 64

/**
 * Does pkt carry a request (its partial checksum: every request has one)?
 * One byte of ol_flags, bits 52 and 53: a test on memory, for parse's
 * every packet.
 */
static inline bool
psw_gso_requested(const struct rte_mbuf *pkt)
{
	const uint8_t *f = (const uint8_t *)&pkt->ol_flags;

	RTE_BUILD_BUG_ON(RTE_MBUF_F_TX_L4_MASK != (3ULL << 52));
	return (f[RTE_BYTE_ORDER == RTE_LITTLE_ENDIAN ? 6 : 1] & 0x30) != 0;
}

/** The IP length of each segment of pkt's (segmentation asked, checked): what meets the MTU. */
static inline unsigned
psw_gso_seg_l3(const struct rte_mbuf *pkt, const struct psw_meta *m)
{
	const uint8_t *l4 = rte_pktmbuf_mtod_offset(pkt, const uint8_t *, m->l4_off);
	unsigned l4hdr = (pkt->ol_flags & PSW_OL_SEG) == RTE_MBUF_F_TX_TCP_SEG ? (unsigned)(l4[12] >> 4) * 4u : 8u;

	return RTE_MIN((unsigned)m->l3_len + l4hdr + pkt->tso_segsz, (unsigned)m->l3_payload);
}

/**
 * Parse's check of a frame with offload requests (pkt->ol_flags &
 * PSW_OL_ANY), once m is parsed and still CONTINUE: see above. False when
 * it was dropped (m's verdict set).
 */
bool psw_gso_check(struct rte_mbuf *pkt, struct psw_meta *m);

/**
 * Finish pkt's partial checksum in software (no segmentation asked) and
 * clear its offload requests.
 */
void psw_gso_csum(struct rte_mbuf *pkt);

/**
 * Cut pkt (segmentation asked, checked by psw_gso_check, its headers at
 * l2_len / l3_len untagged or tagged alike) into segments of tso_segsz
 * bytes of payload, each a whole packet with its lengths, IPv4 identifier
 * and checksums, TCP sequence number and flags (FIN and PSH on the last,
 * CWR on the first) or UDP length, computed here: pkt keeps the first,
 * the others are new mbufs written to out (room for max), from mp, or
 * from big (64 KB mbufs; NULL: pkt's pool) when they do not fit one of
 * mp's. No offload request
 * is left on any of them. Returns how many new ones, or -1 with pkt
 * unchanged (no mbufs, or more than max).
 */
int psw_gso_segment(struct rte_mbuf *pkt, struct rte_mempool *mp, struct rte_mempool *big, struct rte_mbuf **out,
		    unsigned max);

#endif /* PSW_GSO_H */
