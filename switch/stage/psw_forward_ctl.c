/* Builders of the forward stage's pod table (rte_hash) and route table (rte_fib). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_errno.h>
#include <rte_fib.h>
#include <rte_fib6.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_malloc.h>

#include "psw_forward_ctl.h"

#define FIB_TBL8 256

/* Every rte_hash / rte_fib needs a process-unique name. */
static uint64_t next_table_id;

/* Put pod i in the first empty slot from h. false: the address is taken. */
static bool
index_pod(struct psw_pod_table *pt, uint32_t *slots, uint32_t h, uint32_t i, int ip6)
{
	const struct psw_pod *p = &pt->pods[i];

	for (h &= pt->mask; slots[h] != 0; h = (h + 1) & pt->mask) {
		const struct psw_pod *q = &pt->pods[slots[h] - 1];

		if (ip6 ? memcmp(q->ip6, p->ip6, 16) == 0 : q->ip4 == p->ip4)
			return false;
	}
	slots[h] = i + 1;
	return true;
}

struct psw_pod_table *
psw_pod_table_build(const struct psw_pod *pods, uint32_t nb, int socket)
{
	struct psw_pod_table *pt;
	uint32_t i, nb_slots = rte_align32pow2(RTE_MAX(nb * 2, 16u));

	pt = rte_zmalloc_socket("psw_pods", sizeof(*pt) + nb * sizeof(pods[0]),
				RTE_CACHE_LINE_SIZE, socket);
	if (pt == NULL) {
		rte_errno = ENOMEM;
		return NULL;
	}
	pt->refcnt = 1;
	pt->id = ++next_table_id;
	pt->nb = nb;
	pt->mask = nb_slots - 1;
	if (nb > 0)
		memcpy(pt->pods, pods, nb * sizeof(pods[0]));
	pt->slot4 = rte_zmalloc_socket("psw_pod_slot4", nb_slots * sizeof(uint32_t),
				       RTE_CACHE_LINE_SIZE, socket);
	pt->slot6 = rte_zmalloc_socket("psw_pod_slot6", nb_slots * sizeof(uint32_t),
				       RTE_CACHE_LINE_SIZE, socket);
	if (pt->slot4 == NULL || pt->slot6 == NULL) {
		rte_errno = ENOMEM;
		goto out_free;
	}
	for (i = 0; i < nb; i++) {
		const struct psw_pod *p = &pods[i];

		if ((p->has_ip4 && !index_pod(pt, pt->slot4, psw_pod_hash4(p->ip4), i, 0)) ||
		    (p->has_ip6 && !index_pod(pt, pt->slot6, psw_pod_hash6(p->ip6), i, 1))) {
			rte_errno = EINVAL;          /* two pods with one address */
			goto out_free;
		}
	}
	return pt;

out_free:
	psw_pod_table_put(pt);
	return NULL;
}

static struct rte_fib *
fib4_create(uint32_t nb, int socket, uint64_t id)
{
	char name[64];
	struct rte_fib_conf c = {
		.type = RTE_FIB_DIR24_8,
		.default_nh = PSW_NH_NONE,
		.max_routes = (int)RTE_MAX(nb, 16u),
		.dir24_8 = { .nh_sz = RTE_FIB_DIR24_8_2B, .num_tbl8 = FIB_TBL8 },
	};

	snprintf(name, sizeof(name), "psw_f4_%" PRIu64, id);
	return rte_fib_create(name, socket, &c);
}

static struct rte_fib6 *
fib6_create(uint32_t nb, int socket, uint64_t id)
{
	char name[64];
	struct rte_fib6_conf c = {
		.type = RTE_FIB6_TRIE,
		.default_nh = PSW_NH_NONE,
		.max_routes = (int)RTE_MAX(nb, 16u),
		.trie = { .nh_sz = RTE_FIB6_TRIE_2B, .num_tbl8 = FIB_TBL8 * 4 },
	};

	snprintf(name, sizeof(name), "psw_f6_%" PRIu64, id);
	return rte_fib6_create(name, socket, &c);
}

struct psw_route_table *
psw_route_table_build(const struct psw_route_spec *routes, uint32_t nb, int socket)
{
	struct psw_route_table *rt;
	uint32_t i, nb4 = 0, nb6 = 0;

	if (nb >= PSW_NH_NONE) {
		rte_errno = EINVAL;
		return NULL;
	}
	rt = rte_zmalloc_socket("psw_routes", sizeof(*rt) + nb * sizeof(rt->nhs[0]),
				RTE_CACHE_LINE_SIZE, socket);
	if (rt == NULL) {
		rte_errno = ENOMEM;
		return NULL;
	}
	rt->refcnt = 1;
	rt->id = ++next_table_id;
	rt->nb_nhs = nb;
	for (i = 0; i < nb; i++) {
		rt->nhs[i] = routes[i].nh;
		if (routes[i].prefix.family == 4)
			nb4++;
		else if (routes[i].prefix.family == 6)
			nb6++;
		else
			goto out_inval;
	}
	if (nb4 > 0 && (rt->fib4 = fib4_create(nb4, socket, rt->id)) == NULL)
		goto out_nomem;
	if (nb6 > 0 && (rt->fib6 = fib6_create(nb6, socket, rt->id)) == NULL)
		goto out_nomem;
	for (i = 0; i < nb; i++) {
		const struct psw_prefix *p = &routes[i].prefix;
		int rc;

		if (p->family == 4) {
			uint32_t a;

			memcpy(&a, p->addr, 4);
			rc = rte_fib_add(rt->fib4, rte_be_to_cpu_32(a), p->len, i);
		} else {
			rc = rte_fib6_add(rt->fib6, p->addr, p->len, i);
		}
		if (rc == -EINVAL)
			goto out_inval;
		if (rc < 0)
			goto out_nomem;
	}
	return rt;

out_inval:
	psw_route_table_put(rt);
	rte_errno = EINVAL;
	return NULL;
out_nomem:
	psw_route_table_put(rt);
	rte_errno = ENOMEM;
	return NULL;
}
