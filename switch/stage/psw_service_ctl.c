/*
 * The service table (control thread): port objects with their backends and
 * Maglev table in one allocation, published in a lock-free rte_hash and
 * replaced in place; what is replaced or removed is freed after an RCU
 * grace period (psw_tables_defer). A second hash counts the keys per
 * Service address (for fragments, which carry no port: psw_frag.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_malloc.h>

#include "psw_maglev.h"
#include "psw_service.h"
#include "psw_service_ctl.h"

static const unsigned primes[] = { 251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521 };

/* Maglev size: a prime of at least 100 slots per backend (disruption ~1%). */
static unsigned
maglev_size(unsigned nb)
{
	unsigned i;

	for (i = 0; i < RTE_DIM(primes); i++)
		if (primes[i] >= 100u * nb)
			return primes[i];
	return primes[RTE_DIM(primes) - 1];
}

uint32_t
psw_svc_key_id(const struct psw_svc_key *k)
{
	return rte_hash_crc(k, sizeof(*k), 0x5057u);
}

static uint64_t
backend_key(const struct psw_svc_backend *b)
{
	uint64_t a[2];                   /* rte_hash_crc reads 8 aligned bytes at a time */

	memcpy(a, b->addr, sizeof(a));
	return (uint64_t)rte_hash_crc(a, 16, b->port) << 32 | rte_hash_crc(a, 16, 7);
}

struct psw_svc_table *
psw_svc_table_create(uint32_t max_ports, int socket)
{
	static unsigned instance;
	char name[RTE_HASH_NAMESIZE];
	struct rte_hash_parameters hp = {
		.name = name,
		.entries = RTE_MAX(max_ports, 64u),
		.key_len = sizeof(struct psw_svc_key),
		.hash_func = rte_hash_crc,
		.socket_id = socket,
		.extra_flag = RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF | RTE_HASH_EXTRA_FLAGS_EXT_TABLE,
	};
	struct psw_svc_table *s = rte_zmalloc_socket("psw_svcs", sizeof(*s), RTE_CACHE_LINE_SIZE, socket);

	if (s == NULL) {
		rte_errno = ENOMEM;
		return NULL;
	}
	snprintf(name, sizeof(name), "psw_svc%u", instance);
	s->vips = rte_hash_create(&hp);
	snprintf(name, sizeof(name), "psw_svca%u", instance++);
	s->addrs = s->vips != NULL ? rte_hash_create(&hp) : NULL;
	if (s->addrs == NULL) {
		rte_hash_free(s->vips);
		rte_free(s);
		rte_errno = ENOMEM;
		return NULL;
	}
	s->capacity = hp.entries;
	return s;
}

void
psw_svc_table_destroy(struct psw_svc_table *s)
{
	const void *key;
	void *data;
	uint32_t it = 0;

	if (s == NULL)
		return;
	while (rte_hash_iterate(s->vips, &key, &data, &it) >= 0)
		rte_free(data);
	rte_hash_free(s->vips);
	rte_hash_free(s->addrs);
	rte_free(s);
}

/* Where a port's backends and Maglev table go, after the port at off; the end. */
static size_t
lay_out(unsigned nb, size_t off, size_t *off_be, size_t *off_mg)
{
	*off_be = RTE_ALIGN_CEIL(off + sizeof(struct psw_svc_port), 8);
	*off_mg = *off_be + nb * sizeof(struct psw_svc_backend);
	return *off_mg + (nb ? maglev_size(nb) : 0) * sizeof(uint16_t);
}

/* Backends and their Maglev table into a port whose room was laid out. */
static void
fill_backends(struct psw_svc_port *p, const struct psw_svc_backend *be, unsigned nb, uint8_t *base,
	      size_t off_be, size_t off_mg)
{
	unsigned mg = nb ? maglev_size(nb) : 0, i;
	uint64_t keys[nb ? nb : 1];

	p->nb_backends = (uint16_t)nb;
	p->maglev_size = (uint16_t)mg;
	p->backends = (struct psw_svc_backend *)(base + off_be);
	p->maglev = (uint16_t *)(base + off_mg);
	for (i = 0; i < nb; i++) {
		p->backends[i] = be[i];
		keys[i] = backend_key(&be[i]);
	}
	if (nb > 0)
		psw_maglev_build(keys, nb, p->maglev, mg);
}

struct psw_svc_port *
psw_svc_port_build(const struct psw_svc_spec *spec, uint64_t owner, int socket)
{
	unsigned nb = spec->nb_backends, pnb = spec->nb_pod_backends;
	size_t off_be, off_mg, off_src, off_pods = 0, off_pbe = 0, off_pmg = 0, size;
	struct psw_svc_port *p;

	if (nb >= primes[RTE_DIM(primes) - 1] || pnb >= primes[RTE_DIM(primes) - 1]) {
		rte_errno = EINVAL;
		return NULL;
	}
	off_src = RTE_ALIGN_CEIL(lay_out(nb, 0, &off_be, &off_mg), 8);
	size = off_src + spec->nb_src * sizeof(struct psw_prefix);
	if (spec->pod_backends != NULL) {
		off_pods = RTE_ALIGN_CEIL(size, 8);
		size = lay_out(pnb, off_pods, &off_pbe, &off_pmg);
	}
	p = rte_zmalloc_socket("psw_svc_port", size, RTE_CACHE_LINE_SIZE, socket);
	if (p == NULL) {
		rte_errno = ENOMEM;
		return NULL;
	}
	p->key = spec->key;
	p->id = psw_svc_key_id(&spec->key);
	p->affinity_s = spec->affinity_s;
	p->flags = spec->flags & PSW_SVC_F_LOCAL ? PSW_SVC_F_LOCAL : PSW_SVC_F_REJECT;
	p->flags |= spec->flags & (PSW_SVC_F_AFFINITY | PSW_SVC_F_MASQ | PSW_SVC_F_HEALTH);
	p->owner = owner;
	p->cslot = spec->cslot;
	p->nb_src = spec->nb_src;
	p->src = (struct psw_prefix *)((uint8_t *)p + off_src);
	if (spec->nb_src > 0)
		memcpy(p->src, spec->src, spec->nb_src * sizeof(*p->src));
	fill_backends(p, spec->backends, nb, (uint8_t *)p, off_be, off_mg);
	if (spec->pod_backends != NULL) {
		/* the pods' view: policy Cluster without masquerade, the same Service */
		struct psw_svc_port *q = (struct psw_svc_port *)((uint8_t *)p + off_pods);

		q->key = p->key;
		q->id = p->id;
		q->affinity_s = p->affinity_s;
		q->flags = PSW_SVC_F_REJECT | (p->flags & PSW_SVC_F_AFFINITY);
		q->owner = owner;
		q->cslot = p->cslot;
		fill_backends(q, spec->pod_backends, pnb, (uint8_t *)p, off_pbe, off_pmg);
		p->pods = q;
	}
	return p;
}

static bool
same_backends(const struct psw_svc_port *a, const struct psw_svc_port *b)
{
	return a->nb_backends == b->nb_backends &&
	       memcmp(a->backends, b->backends, a->nb_backends * sizeof(a->backends[0])) == 0;
}

bool
psw_svc_port_same(const struct psw_svc_port *a, const struct psw_svc_port *b)
{
	return memcmp(&a->key, &b->key, sizeof(a->key)) == 0 && a->flags == b->flags &&
	       a->affinity_s == b->affinity_s && same_backends(a, b) &&
	       a->owner == b->owner && a->cslot == b->cslot && a->nb_src == b->nb_src &&
	       memcmp(a->src, b->src, a->nb_src * sizeof(a->src[0])) == 0 &&
	       (a->pods == NULL) == (b->pods == NULL) && (a->pods == NULL || same_backends(a->pods, b->pods));
}

struct psw_svc_port *
psw_svc_table_get(const struct psw_svc_table *s, const struct psw_svc_key *k)
{
	void *data;

	return rte_hash_lookup_data(s->vips, k, &data) >= 0 ? data : NULL;
}

struct deferred_del {
	struct psw_svc_table *s;
	int32_t pos;
	void *port;
};

static void
free_port(void *p)
{
	rte_free(p);
}

static void
free_deleted(void *arg)
{
	struct deferred_del *d = arg;

	if (d->pos >= 0) {
		rte_hash_free_key_with_position(d->s->vips, d->pos);
		d->s->nb_held--;
	}
	rte_free(d->port);
	free(d);
}

struct deferred_addr {
	struct rte_hash *addrs;
	int32_t pos;
};

static void
free_addr_key(void *arg)
{
	struct deferred_addr *d = arg;

	rte_hash_free_key_with_position(d->addrs, d->pos);
	free(d);
}

/*
 * One more (up) or one fewer key at k's address in s->addrs. An address
 * that cannot be added (the hash full) is left out: later fragments to it
 * that come before their first one are not held.
 */
static void
addr_count(struct psw_svc_table *s, const struct psw_svc_key *k, bool up)
{
	struct psw_svc_key a;
	struct deferred_addr *d;
	void *data = NULL;
	uintptr_t n;
	int32_t pos;

	memset(&a, 0, sizeof(a));
	a.family = k->family;
	memcpy(a.addr, k->addr, sizeof(a.addr));
	n = rte_hash_lookup_data(s->addrs, &a, &data) >= 0 ? (uintptr_t)data : 0;
	if (up || n > 1) {
		rte_hash_add_key_data(s->addrs, &a, (void *)(up ? n + 1 : n - 1));
		return;
	}
	pos = rte_hash_del_key(s->addrs, &a);
	if (pos < 0)
		return;
	/* lock-free readers: the key's slot is reused only after a grace period */
	d = malloc(sizeof(*d));
	if (d == NULL) {
		psw_tables_sync();
		rte_hash_free_key_with_position(s->addrs, pos);
		return;
	}
	*d = (struct deferred_addr){ .addrs = s->addrs, .pos = pos };
	psw_tables_defer(free_addr_key, d);
}

int
psw_svc_table_set(struct psw_svc_table *s, struct psw_svc_port *p)
{
	struct psw_svc_port *old = psw_svc_table_get(s, &p->key);

	/* in lock-free mode an existing key's data is replaced atomically */
	if (rte_hash_add_key_data(s->vips, &p->key, p) < 0)
		return -ENOSPC;
	if (old != NULL) {
		psw_tables_defer(free_port, old);
	} else {
		s->nb_ports++;
		addr_count(s, &p->key, true);
	}
	return 0;
}

void
psw_svc_table_del(struct psw_svc_table *s, const struct psw_svc_key *k)
{
	struct psw_svc_port *old = psw_svc_table_get(s, k);
	struct deferred_del *d;
	int32_t pos;

	if (old == NULL)
		return;
	pos = rte_hash_del_key(s->vips, k);
	s->nb_ports--;
	addr_count(s, k, false);
	d = malloc(sizeof(*d));
	if (d == NULL) {
		psw_tables_sync();
		if (pos >= 0)
			rte_hash_free_key_with_position(s->vips, pos);
		rte_free(old);
		return;
	}
	*d = (struct deferred_del){ .s = s, .pos = pos, .port = old };
	if (pos >= 0)
		s->nb_held++;
	psw_tables_defer(free_deleted, d);
}

uint32_t
psw_svc_table_room(const struct psw_svc_table *s)
{
	uint32_t used = s->nb_ports + s->nb_held;

	return used < s->capacity ? s->capacity - used : 0;
}

void
psw_svc_table_walk(const struct psw_svc_table *s, void (*fn)(const struct psw_svc_port *p, void *arg),
		   void *arg)
{
	const void *key;
	void *data;
	uint32_t it = 0;

	while (rte_hash_iterate(s->vips, &key, &data, &it) >= 0)
		fn(data, arg);
}

/* One prefix never masqueraded to, in its family's list (full lists keep what they have). */
static void
add_nomasq(struct psw_node_info *node, const struct psw_prefix *p)
{
	unsigned h;

	if (p->family == 4 && node->nb_nomasq < RTE_DIM(node->nomasq)) {
		uint32_t mask = p->len ? ~0u << (32 - p->len) : 0, net;

		memcpy(&net, p->addr, 4);
		node->nomasq[node->nb_nomasq].net = net;
		node->nomasq[node->nb_nomasq++].mask = rte_cpu_to_be_32(mask);
	} else if (p->family == 6 && node->nb_nomasq6 < RTE_DIM(node->nomasq6)) {
		for (h = 0; h < 2; h++) {
			unsigned bits = p->len > 64 * h ? RTE_MIN(p->len - 64 * h, 64u) : 0;
			uint64_t mask = bits ? rte_cpu_to_be_64(~0ull << (64 - bits)) : 0, net;

			memcpy(&net, p->addr + 8 * h, 8);
			node->nomasq6[node->nb_nomasq6].net[h] = net & mask;
			node->nomasq6[node->nb_nomasq6].mask[h] = mask;
		}
		node->nb_nomasq6++;
	}
}

void
psw_svc_masq_fill(struct psw_node_info *node, const struct psw_config *cfg)
{
	static const struct psw_prefix ll = { .family = 4, .len = 16, .addr = { 169, 254 } };
	static const struct psw_prefix ll6 = { .family = 6, .len = 10, .addr = { 0xfe, 0x80 } };
	static const struct psw_prefix mc6 = { .family = 6, .len = 8, .addr = { 0xff } };
	unsigned i;

	node->masq = cfg->cluster.pod_cidr.family == 4 && cfg->node.nb_addresses > 0;
	node->masq6 = cfg->cluster.pod_cidr6.family == 6 && cfg->node.nb_addresses6 > 0;
	node->nb_nomasq = 0;
	node->nb_nomasq6 = 0;
	add_nomasq(node, &cfg->cluster.pod_cidr);
	add_nomasq(node, &cfg->node.pod_cidr);
	add_nomasq(node, &cfg->node.service_cidr);
	add_nomasq(node, &cfg->node.service_cidr6);
	add_nomasq(node, &ll);
	add_nomasq(node, &cfg->cluster.pod_cidr6);
	add_nomasq(node, &cfg->node.pod_cidr6);
	add_nomasq(node, &ll6);
	add_nomasq(node, &mc6);
	for (i = 0; i < cfg->cluster.nb_no_masquerade; i++)
		add_nomasq(node, &cfg->cluster.no_masquerade[i]);
}
