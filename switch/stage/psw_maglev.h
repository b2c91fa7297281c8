/*
 * Maglev consistent hashing (Eisenbud et al., NSDI 2016): a lookup table of
 * a prime size M in which every backend owns about M/N slots, filled so that
 * adding or removing one backend moves few slots, hence few flows. A flow
 * picks slot hash(5-tuple) % M. Pure C, no DPDK; the control thread builds
 * tables, workers only read them.
 */
#ifndef PSW_MAGLEV_H
#define PSW_MAGLEV_H

#include <stddef.h>
#include <stdint.h>

/** Default table size: a prime well above 100 x the usual backend count. */
#define PSW_MAGLEV_SIZE 4093

#define PSW_MAGLEV_NONE UINT16_MAX

/**
 * Fill table[0..size-1] with backend indices 0..nb-1 (PSW_MAGLEV_NONE when
 * nb == 0). Each backend is named by a stable 64-bit key (e.g. its address
 * and port), so its permutation does not depend on the others.
 * @param size  a prime, larger than nb
 * @return 0, or -EINVAL (size not larger than nb, or nb too large)
 */
int psw_maglev_build(const uint64_t *keys, unsigned nb, uint16_t *table, unsigned size);

#endif /* PSW_MAGLEV_H */
