/*
 * Incremental Internet checksum updates (RFC 1624), for stages that change a
 * few header bytes and keep the rest.
 */
#ifndef PSW_CSUM_H
#define PSW_CSUM_H

#include <stdint.h>
#include <string.h>

#include <rte_byteorder.h>

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

/** Checksum field after len bytes (even) changed from old to new (any alignment). */
static inline uint16_t
psw_csum_replace(uint16_t csum, const void *old_bytes, const void *new_bytes, unsigned len)
{
	const uint8_t *o = old_bytes, *n = new_bytes;
	unsigned i;

	for (i = 0; i + 1 < len; i += 2) {
		uint16_t ow, nw;               /* the words as they sit in the packet */

		memcpy(&ow, o + i, 2);
		memcpy(&nw, n + i, 2);
		csum = psw_csum_update16(csum, ow, nw);
	}
	return csum;
}

#endif /* PSW_CSUM_H */
