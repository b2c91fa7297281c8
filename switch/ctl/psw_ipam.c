/* Pod address pools: a sorted set of taken host offsets per family, and a cursor; MAC picking. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "psw_ipam.h"

#define MAX_POOL (1ull << 32)   /* IPv6 pools are capped at 2^32 addresses */

struct pool {
	int family;
	struct psw_prefix prefix;
	uint64_t size;               /* host offsets 0..size-1 */
	uint64_t gw;                 /* gateway's offset */
	uint64_t cursor;             /* where the next search starts */
	uint64_t *taken;             /* sorted */
	uint64_t nb, cap;
};

struct psw_ipam {
	struct pool p4, p6;
};

/* Host offset of addr within the pool, or UINT64_MAX when outside it. */
static uint64_t
offset_of(const struct pool *p, const uint8_t *addr)
{
	unsigned alen = p->family == 4 ? 4 : 16, len = p->prefix.len, i;
	uint8_t host[16];
	uint64_t off = 0;

	if (!psw_prefix_contains(&p->prefix, addr))
		return UINT64_MAX;
	for (i = 0; i < alen; i++) {
		if ((i + 1) * 8 <= len)
			host[i] = 0;
		else if (i * 8 >= len)
			host[i] = addr[i];
		else
			host[i] = addr[i] & (uint8_t)(0xff >> (len - i * 8));
	}
	/* offsets are at most 64 bits: higher host bytes must be zero */
	for (i = 0; i + 8 < alen; i++)
		if (host[i] != 0)
			return UINT64_MAX;
	for (i = alen > 8 ? alen - 8 : 0; i < alen; i++)
		off = off << 8 | host[i];
	return off < p->size ? off : UINT64_MAX;
}

static void
addr_of(const struct pool *p, uint64_t off, uint8_t *addr)
{
	unsigned alen = p->family == 4 ? 4 : 16, i;

	memcpy(addr, p->prefix.addr, alen);
	for (i = alen; i-- > 0 && off != 0; off >>= 8)
		addr[i] |= (uint8_t)off;
}

static bool
pool_init(struct pool *p, const struct psw_prefix *pfx, const uint8_t *gw)
{
	unsigned bits;

	memset(p, 0, sizeof(*p));
	if (pfx == NULL || pfx->family == 0)
		return true;
	p->family = pfx->family;
	p->prefix = *pfx;
	bits = (pfx->family == 4 ? 32u : 128u) - pfx->len;
	p->size = bits >= 32 ? MAX_POOL : 1ull << bits;
	p->gw = offset_of(p, gw);
	p->cursor = 1;
	return true;
}

static bool
reserved(const struct pool *p, uint64_t off)
{
	if (off == 0 || off == p->gw)
		return true;
	return p->family == 4 && off == p->size - 1;   /* broadcast */
}

/* Index of off in taken[], or of where it would go. */
static uint64_t
find(const struct pool *p, uint64_t off, bool *found)
{
	uint64_t lo = 0, hi = p->nb;

	while (lo < hi) {
		uint64_t mid = (lo + hi) / 2;

		if (p->taken[mid] < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < p->nb && p->taken[lo] == off;
	return lo;
}

static int
take(struct pool *p, uint64_t off)
{
	bool found;
	uint64_t i = find(p, off, &found);

	if (found)
		return -EEXIST;
	if (p->nb == p->cap) {
		uint64_t cap = p->cap ? p->cap * 2 : 64;
		uint64_t *t = realloc(p->taken, cap * sizeof(*t));

		if (t == NULL)
			return -ENOMEM;
		p->taken = t;
		p->cap = cap;
	}
	memmove(&p->taken[i + 1], &p->taken[i], (p->nb - i) * sizeof(*p->taken));
	p->taken[i] = off;
	p->nb++;
	return 0;
}

static struct pool *
pool(struct psw_ipam *ipam, int family)
{
	struct pool *p = family == 4 ? &ipam->p4 : family == 6 ? &ipam->p6 : NULL;

	return p != NULL && p->family != 0 ? p : NULL;
}

struct psw_ipam *
psw_ipam_create(const struct psw_prefix *v4, const uint8_t gw4[4], const struct psw_prefix *v6,
		const uint8_t gw6[16])
{
	struct psw_ipam *ipam = calloc(1, sizeof(*ipam));

	if (ipam == NULL)
		return NULL;
	pool_init(&ipam->p4, v4, gw4);
	pool_init(&ipam->p6, v6, gw6);
	return ipam;
}

void
psw_ipam_destroy(struct psw_ipam *ipam)
{
	if (ipam == NULL)
		return;
	free(ipam->p4.taken);
	free(ipam->p6.taken);
	free(ipam);
}

bool
psw_ipam_has(const struct psw_ipam *ipam, int family)
{
	return pool((struct psw_ipam *)(uintptr_t)ipam, family) != NULL;
}

int
psw_ipam_reserve(struct psw_ipam *ipam, int family, const uint8_t *addr)
{
	struct pool *p = pool(ipam, family);
	uint64_t off;

	if (p == NULL)
		return -EAFNOSUPPORT;
	off = offset_of(p, addr);
	if (off == UINT64_MAX || reserved(p, off))
		return -EINVAL;
	return take(p, off);
}

int
psw_ipam_allocate(struct psw_ipam *ipam, int family, uint8_t *addr)
{
	struct pool *p = pool(ipam, family);
	uint64_t n, off;

	if (p == NULL)
		return -EAFNOSUPPORT;
	/* Round-robin from the cursor, so a released address is not reused at once. */
	for (n = 0, off = p->cursor; n < p->size; n++, off = (off + 1) % p->size) {
		bool found;

		if (reserved(p, off))
			continue;
		find(p, off, &found);
		if (found)
			continue;
		if (take(p, off) < 0)
			return -ENOMEM;
		p->cursor = (off + 1) % p->size;
		addr_of(p, off, addr);
		return 0;
	}
	return -ENOSPC;
}

void
psw_ipam_release(struct psw_ipam *ipam, int family, const uint8_t *addr)
{
	struct pool *p = pool(ipam, family);
	uint64_t off, i;
	bool found;

	if (p == NULL || (off = offset_of(p, addr)) == UINT64_MAX)
		return;
	i = find(p, off, &found);
	if (!found)
		return;
	memmove(&p->taken[i], &p->taken[i + 1], (p->nb - i - 1) * sizeof(*p->taken));
	p->nb--;
}

bool
psw_ipam_is_taken(const struct psw_ipam *ipam, int family, const uint8_t *addr)
{
	const struct pool *p = pool((struct psw_ipam *)(uintptr_t)ipam, family);
	uint64_t off;
	bool found;

	if (p == NULL || (off = offset_of(p, addr)) == UINT64_MAX)
		return false;
	find(p, off, &found);
	return found;
}

uint64_t
psw_ipam_used(const struct psw_ipam *ipam, int family)
{
	const struct pool *p = pool((struct psw_ipam *)(uintptr_t)ipam, family);

	return p != NULL ? p->nb : 0;
}

uint64_t
psw_ipam_capacity(const struct psw_ipam *ipam, int family)
{
	const struct pool *p = pool((struct psw_ipam *)(uintptr_t)ipam, family);

	if (p == NULL)
		return 0;
	return p->size - (p->family == 4 ? 3 : 2);    /* network, gateway (, broadcast) */
}

/* The attempt-th hashed candidate: FNV-1a of seed and attempt, as 02:xx:xx:xx:xx:xx. */
static void
hashed_mac(const char *seed, unsigned attempt, uint8_t mac[6])
{
	uint64_t h = 14695981039346656037ull;
	unsigned i;

	for (; *seed; seed++)
		h = (h ^ (uint8_t)*seed) * 1099511628211ull;
	for (i = 0; i < 4; i++)
		h = (h ^ (uint8_t)(attempt >> (8 * i))) * 1099511628211ull;
	mac[0] = 0x02;                   /* locally administered, unicast */
	for (i = 1; i < 6; i++)
		mac[i] = (uint8_t)(h >> (8 * i));
}

int
psw_mac_pick(const uint8_t derived[6], const char *seed,
	     bool (*in_use)(const uint8_t mac[6], void *ctx), void *ctx, uint8_t mac[6])
{
	unsigned attempt;

	for (attempt = 0; attempt < PSW_MAC_TRIES; attempt++) {
		if (attempt < 256) {
			memcpy(mac, derived, 6);
			mac[1] = (uint8_t)(derived[1] + attempt);
		} else {
			hashed_mac(seed, attempt, mac);
		}
		if (!in_use(mac, ctx))
			return 0;
	}
	return -ENOSPC;
}
