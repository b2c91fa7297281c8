/* Maglev lookup table population (the paper's Algorithm 1). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "psw_maglev.h"

/* Two independent 64-bit mixes of a backend key (splitmix64 finalizer). */
static uint64_t
mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

int
psw_maglev_build(const uint64_t *keys, unsigned nb, uint16_t *table, unsigned size)
{
	uint32_t *offset, *skip, *next;
	unsigned filled = 0, i;

	if (nb == 0) {
		for (i = 0; i < size; i++)
			table[i] = PSW_MAGLEV_NONE;
		return 0;
	}
	if (nb >= size || nb >= PSW_MAGLEV_NONE)
		return -EINVAL;
	offset = malloc(nb * sizeof(*offset));
	skip = malloc(nb * sizeof(*skip));
	next = calloc(nb, sizeof(*next));
	if (offset == NULL || skip == NULL || next == NULL) {
		free(offset);
		free(skip);
		free(next);
		return -ENOMEM;
	}
	for (i = 0; i < nb; i++) {
		offset[i] = (uint32_t)(mix(keys[i]) % size);
		skip[i] = (uint32_t)(mix(keys[i] ^ 0x5bd1e995u) % (size - 1) + 1);
	}
	for (i = 0; i < size; i++)
		table[i] = PSW_MAGLEV_NONE;
	/* Backends take turns claiming their next preferred empty slot. */
	while (filled < size) {
		for (i = 0; i < nb && filled < size; i++) {
			uint32_t c = (uint32_t)((offset[i] + (uint64_t)next[i] * skip[i]) % size);

			while (table[c] != PSW_MAGLEV_NONE) {
				next[i]++;
				c = (uint32_t)((offset[i] + (uint64_t)next[i] * skip[i]) % size);
			}
			table[c] = (uint16_t)i;
			next[i]++;
			filled++;
		}
	}
	free(offset);
	free(skip);
	free(next);
	return 0;
}
