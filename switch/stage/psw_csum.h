/*
 * Incremental Internet checksum updates (RFC 1624), for stages that change a
 * few header bytes and keep the rest.
 */
#ifndef PSW_CSUM_H
#define PSW_CSUM_H

#include <stdint.h>

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

#endif /* PSW_CSUM_H */
