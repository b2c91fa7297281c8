/* Building the service table: Service addresses -> ports, backends, Maglev tables. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_malloc.h>

#include "psw_maglev.h"
#include "psw_service.h"

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
psw_svc_table_build(const struct psw_svc_spec *specs, unsigned nb, int socket)
{
	static uint64_t next_id;
	char name[RTE_HASH_NAMESIZE];
	struct rte_hash_parameters hp = {
		.name = name,
		.entries = RTE_MAX(nb * 2, 64u),
		.key_len = sizeof(struct psw_svc_key),
		.hash_func = rte_hash_crc,
		.socket_id = socket,
	};
	struct psw_svc_table *s;
	unsigned i, nb_be = 0, nb_mg = 0, be = 0, mg = 0;

	for (i = 0; i < nb; i++) {
		if (specs[i].nb_backends >= primes[RTE_DIM(primes) - 1]) {
			rte_errno = EINVAL;
			return NULL;
		}
		nb_be += specs[i].nb_backends;
		nb_mg += specs[i].nb_backends ? maglev_size(specs[i].nb_backends) : 0;
	}
	s = rte_zmalloc_socket("psw_svcs", sizeof(*s), RTE_CACHE_LINE_SIZE, socket);
	if (s == NULL)
		goto nomem;
	s->refcnt = 1;
	s->id = ++next_id;
	snprintf(name, sizeof(name), "psw_svc_%" PRIu64, s->id);
	s->vips = rte_hash_create(&hp);
	s->ports = rte_zmalloc_socket("psw_svc_ports", (nb ? nb : 1) * sizeof(*s->ports), 0, socket);
	s->backends = rte_zmalloc_socket("psw_svc_be", (nb_be ? nb_be : 1) * sizeof(*s->backends), 0,
					 socket);
	s->maglev = rte_zmalloc_socket("psw_svc_maglev", (nb_mg ? nb_mg : 1) * sizeof(uint16_t), 0,
				       socket);
	if (s->vips == NULL || s->ports == NULL || s->backends == NULL || s->maglev == NULL)
		goto nomem;
	for (i = 0; i < nb; i++) {
		const struct psw_svc_spec *sp = &specs[i];
		struct psw_svc_port *p = &s->ports[i];
		uint64_t keys[sp->nb_backends ? sp->nb_backends : 1];
		unsigned k;

		p->key = sp->key;
		p->id = psw_svc_key_id(&sp->key);
		p->nb_backends = (uint16_t)sp->nb_backends;
		p->backends = be;
		p->maglev = mg;
		p->flags = sp->flags & PSW_SVC_F_LOCAL ? PSW_SVC_F_LOCAL : PSW_SVC_F_REJECT;
		p->flags |= sp->flags & (PSW_SVC_F_AFFINITY | PSW_SVC_F_MASQ);
		p->affinity_s = sp->affinity_s;
		for (k = 0; k < sp->nb_backends; k++) {
			s->backends[be + k] = sp->backends[k];
			keys[k] = backend_key(&sp->backends[k]);
		}
		if (sp->nb_backends > 0) {
			p->maglev_size = (uint16_t)maglev_size(sp->nb_backends);
			psw_maglev_build(keys, sp->nb_backends, &s->maglev[mg], p->maglev_size);
			mg += p->maglev_size;
		}
		be += sp->nb_backends;
		if (rte_hash_lookup(s->vips, &sp->key) >= 0) {
			psw_svc_table_put(s);
			rte_errno = EINVAL;
			return NULL;
		}
		if (rte_hash_add_key_data(s->vips, &sp->key, (void *)(uintptr_t)i) < 0)
			goto nomem;
	}
	s->nb_ports = nb;
	s->nb_backends = nb_be;
	s->nb_maglev = nb_mg;
	return s;
nomem:
	psw_svc_table_put(s);
	rte_errno = ENOMEM;
	return NULL;
}
