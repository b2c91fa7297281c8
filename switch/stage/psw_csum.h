/*
 * Incremental Internet checksum updates (RFC 1624), for stages that change a
 * few header bytes and keep the rest.
 */
#ifndef PSW_CSUM_H
#define PSW_CSUM_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <rte_byteorder.h>
#include <rte_ip.h>

/** Checksum field (network order) after a 16-bit word changed from old to new. */
static inline uint16_t
psw_csum_update16(uint16_t csum, uint16_t old_word, uint16_t new_word)
{
	uint32_t sum = (uint16_t)~rte_be_to_cpu_16(csum);

	sum += (uint16_t)~rte_be_to_cpu_16(old_word);
	sum += rte_be_to_cpu_16(new_word);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return rte_cpu_to_be_16((uint16_t)~sum);
}

/*
 * The same update for several fields at once, without byte swaps: a one's
 * complement sum taken over words as they sit in memory is the byte swap of
 * the sum over network-order words, so the raw checksum field can be
 * adjusted with raw words; and 32-bit words can be added in whole, since
 * 2^16 = 1 modulo 2^16 - 1. A delta is the sum of ~old + new over the
 * changed words; psw_csum_apply() folds it into a checksum field.
 */

/** Delta of replacing len bytes (a multiple of 4, any alignment) old with new. */
static inline uint64_t
psw_csum_delta(const void *old_bytes, const void *new_bytes, unsigned len)
{
	const uint8_t *o = old_bytes, *n = new_bytes;
	uint64_t d = 0;
	unsigned i;

	for (i = 0; i < len; i += 4) {
		uint32_t ow, nw;

		memcpy(&ow, o + i, 4);
		memcpy(&nw, n + i, 4);
		d += (uint32_t)~ow;
		d += nw;
	}
	return d;
}

/** Delta of replacing one 16-bit word (as in memory). */
static inline uint64_t
psw_csum_delta16(uint16_t old_word, uint16_t new_word)
{
	return (uint64_t)(uint16_t)~old_word + new_word;
}

/** A 64-bit one's complement sum folded to 16 bits. */
static inline uint16_t
psw_csum_fold(uint64_t s)
{
	s = (s & 0xffffffffu) + (s >> 32);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

/** Checksum field (as in memory) after the changes summed in delta. */
static inline uint16_t
psw_csum_apply(uint16_t csum, uint64_t delta)
{
	return (uint16_t)~psw_csum_fold((uint64_t)(uint16_t)~csum + delta);
}

/**
 * A checksum its sender left partial (a virtio-net header's NEEDS_CSUM),
 * finished: the one's complement sum of d[start, end), whose checksum field
 * at start + off holds the pseudo-header's sum, stored there. The caller
 * has checked that start + off + 2 <= end.
 */
static inline uint16_t
psw_csum_finish(uint8_t *d, unsigned start, unsigned off, unsigned end)
{
	uint16_t c = (uint16_t)~rte_raw_cksum(d + start, end - start);

	memcpy(d + start + off, &c, 2);
	return c;
}

/**
 * The one's complement sum of a 20-byte IPv4 header, as five 32-bit words
 * in one go (the generic rte_raw_cksum() takes three times the instructions).
 */
static inline uint16_t
psw_ip4_hdr_sum20(const void *hdr)
{
	uint32_t w[5];

	memcpy(w, hdr, 20);
	return psw_csum_fold((uint64_t)w[0] + w[1] + w[2] + w[3] + w[4]);
}

/**
 * Decrement an IPv4 header's TTL (2 or more) and its checksum with it (RFC
 * 1624): the TTL/protocol word falls by 0x0100, so the checksum rises by
 * as much, its end-around carry added back; a result of 0xffff becomes 0,
 * as a checksum computed whole would be. A wrong checksum stays as wrong.
 */
static inline void
psw_ip4_ttl_dec(struct rte_ipv4_hdr *ip)
{
	uint32_t c = (uint32_t)rte_be_to_cpu_16(ip->hdr_checksum) + 0x0100u;

	ip->time_to_live--;
	ip->hdr_checksum = rte_cpu_to_be_16((uint16_t)(c + (c >= 0xffffu)));
}

/**
 * Does an IPv4 header of ihl bytes sum to all ones (its checksum right)?
 */
static inline bool
psw_ip4_hdr_csum_ok(const void *hdr, unsigned ihl)
{
	if (ihl != 20)
		return rte_raw_cksum(hdr, ihl) == 0xffff;
	return psw_ip4_hdr_sum20(hdr) == 0xffff;
}

/**
 * The checksum of a 20-byte IPv4 header (its checksum field 0), as
 * rte_ipv4_cksum() gives it.
 */
static inline uint16_t
psw_ip4_hdr_csum20(const struct rte_ipv4_hdr *ip)
{
	return (uint16_t)~psw_ip4_hdr_sum20(ip);
}

/**
 * Does the upper-layer message of an IPv6 packet without extension headers
 * (payload_len bytes at l4, contiguous; ICMPv6, TCP or UDP) sum with its
 * pseudo-header to all ones: its checksum right?
 */
static inline bool
psw_ip6_l4_csum_ok(const struct rte_ipv6_hdr *ip, const void *l4)
{
	uint32_t sum = (uint32_t)rte_raw_cksum(l4, rte_be_to_cpu_16(ip->payload_len)) +
		       rte_ipv6_phdr_cksum(ip, 0);

	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return sum == 0xffff;
}

#endif /* PSW_CSUM_H */
