/* Policy stage, control side: rte_acl contexts of one pod, and their publication. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_acl.h>
#include <rte_byteorder.h>
#include <rte_errno.h>
#include <rte_hash_crc.h>

#include "psw_policy.h"
#include "psw_policy_ctl.h"

/* Field layout: see psw_policy.h. Fields of one input_index fill 4 bytes. */
RTE_ACL_RULE_DEF(acl_rule4, 4);
RTE_ACL_RULE_DEF(acl_rule6, 7);

static const struct rte_acl_field_def defs4[4] = {
	{ .type = RTE_ACL_FIELD_TYPE_BITMASK, .size = 1, .field_index = 0, .input_index = 0, .offset = 0 },
	{ .type = RTE_ACL_FIELD_TYPE_MASK, .size = 4, .field_index = 1, .input_index = 1, .offset = 4 },
	{ .type = RTE_ACL_FIELD_TYPE_RANGE, .size = 2, .field_index = 2, .input_index = 2, .offset = 8 },
	{ .type = RTE_ACL_FIELD_TYPE_RANGE, .size = 2, .field_index = 3, .input_index = 2, .offset = 10 },
};

static const struct rte_acl_field_def defs6[7] = {
	{ .type = RTE_ACL_FIELD_TYPE_BITMASK, .size = 1, .field_index = 0, .input_index = 0, .offset = 0 },
	{ .type = RTE_ACL_FIELD_TYPE_MASK, .size = 4, .field_index = 1, .input_index = 1, .offset = 4 },
	{ .type = RTE_ACL_FIELD_TYPE_MASK, .size = 4, .field_index = 2, .input_index = 2, .offset = 8 },
	{ .type = RTE_ACL_FIELD_TYPE_MASK, .size = 4, .field_index = 3, .input_index = 3, .offset = 12 },
	{ .type = RTE_ACL_FIELD_TYPE_MASK, .size = 4, .field_index = 4, .input_index = 4, .offset = 16 },
	{ .type = RTE_ACL_FIELD_TYPE_RANGE, .size = 2, .field_index = 5, .input_index = 5, .offset = 20 },
	{ .type = RTE_ACL_FIELD_TYPE_RANGE, .size = 2, .field_index = 6, .input_index = 5, .offset = 22 },
};

/* Proto, port range and priority: the fields both families share. */
static void
common_fields(struct rte_acl_field *f, unsigned port_field, const struct psw_pol_rule *r,
	      struct rte_acl_rule_data *d, uint32_t userdata)
{
	f[0].value.u8 = r->proto;
	f[0].mask_range.u8 = r->proto != 0 ? 0xff : 0;
	f[port_field].value.u16 = r->port_lo;
	f[port_field].mask_range.u16 = r->port_hi;
	f[port_field + 1].value.u16 = 0;
	f[port_field + 1].mask_range.u16 = UINT16_MAX;
	d->category_mask = 1;
	/* the first rule (in compile order) wins, so a verdict names it */
	d->priority = (int32_t)(RTE_ACL_MAX_PRIORITY - userdata);
	d->userdata = userdata;
}

static struct rte_acl_ctx *
build_ctx(unsigned dir, unsigned family, const struct psw_pol_rule *rules, unsigned nb_rules,
	  int socket)
{
	static unsigned instance;
	char name[RTE_ACL_NAMESIZE];
	bool v4 = family == 4;
	struct rte_acl_param param = {
		.name = name,
		.socket_id = socket,
		.rule_size = v4 ? RTE_ACL_RULE_SZ(4) : RTE_ACL_RULE_SZ(7),
	};
	struct rte_acl_config cfg = { .num_categories = 1 };
	struct rte_acl_ctx *ctx;
	unsigned i, n = 0;
	int rc = 0;

	for (i = 0; i < nb_rules; i++)
		n += rules[i].family == family && rules[i].dir == dir;
	if (n == 0)
		return NULL;
	snprintf(name, sizeof(name), "psw_pol%u_%u_%u", instance++, dir, family);
	param.max_rule_num = n;
	ctx = rte_acl_create(&param);
	if (ctx == NULL)
		return NULL;
	for (i = 0; i < nb_rules; i++) {
		const struct psw_pol_rule *r = &rules[i];

		if (r->family != family || r->dir != dir)
			continue;
		if (v4) {
			struct acl_rule4 a;
			uint32_t addr;

			memset(&a, 0, sizeof(a));
			memcpy(&addr, r->addr, 4);
			a.field[1].value.u32 = rte_be_to_cpu_32(addr);
			a.field[1].mask_range.u32 = r->plen;
			common_fields(a.field, 2, r, &a.data, i + 1);
			rc = rte_acl_add_rules(ctx, (const struct rte_acl_rule *)&a, 1);
		} else {
			struct acl_rule6 a;
			unsigned w;

			memset(&a, 0, sizeof(a));
			for (w = 0; w < 4; w++) {
				uint32_t word;
				int bits = (int)r->plen - (int)w * 32;
				uint32_t mbits = bits <= 0 ? 0 : bits >= 32 ? 32 : (uint32_t)bits;

				memcpy(&word, r->addr + 4 * w, 4);
				a.field[1 + w].value.u32 = rte_be_to_cpu_32(word);
				a.field[1 + w].mask_range.u32 = mbits;
			}
			common_fields(a.field, 5, r, &a.data, i + 1);
			rc = rte_acl_add_rules(ctx, (const struct rte_acl_rule *)&a, 1);
		}
		if (rc != 0)
			goto fail;
	}
	cfg.num_fields = v4 ? RTE_DIM(defs4) : RTE_DIM(defs6);
	memcpy(cfg.defs, v4 ? defs4 : defs6, cfg.num_fields * sizeof(cfg.defs[0]));
	rc = rte_acl_build(ctx, &cfg);
	if (rc != 0)
		goto fail;
	return ctx;
fail:
	rte_acl_free(ctx);
	rte_errno = rc < 0 ? -rc : EINVAL;
	return NULL;
}

void
psw_pol_port_free(struct psw_pol_port *pp)
{
	unsigned d, f;

	if (pp == NULL)
		return;
	for (d = 0; d < 2; d++) {
		for (f = 0; f < 2; f++)
			rte_acl_free(pp->acl[d][f]);
		free(pp->isolating[d]);
	}
	free(pp->refs);
	free(pp->rules);
	free(pp);
}

uint64_t
psw_pol_digest(const bool isolated[2], const struct psw_pol_rule *rules, unsigned nb_rules,
	       const uint16_t *isolating[2], const unsigned nb_isolating[2])
{
	uint64_t h = rte_hash_crc_8byte(((uint64_t)isolated[0] << 1 | isolated[1]) ^ nb_rules, 0);
	unsigned d;

	if (nb_rules > 0)
		h = rte_hash_crc(rules, nb_rules * sizeof(*rules), (uint32_t)h) | h << 32;
	for (d = 0; d < 2; d++)
		if (nb_isolating[d] > 0)
			h = (h << 7 | h >> 57) ^ rte_hash_crc(isolating[d], nb_isolating[d] * sizeof(uint16_t),
							      (uint32_t)h ^ nb_isolating[d]);
	return h;
}

struct psw_pol_port *
psw_pol_port_build(const bool isolated[2], const struct psw_pol_rule *rules, unsigned nb_rules,
		   const uint16_t *isolating[2], const unsigned nb_isolating[2], int socket)
{
	struct psw_pol_port *pp = calloc(1, sizeof(*pp));
	unsigned d, f, i;

	if (pp == NULL)
		goto nomem;
	pp->digest = psw_pol_digest(isolated, rules, nb_rules, isolating, nb_isolating);
	pp->nb_rules = nb_rules;
	pp->nb_refs = nb_rules;
	pp->rules = malloc((nb_rules ? nb_rules : 1) * sizeof(*rules));
	pp->refs = malloc((nb_rules ? nb_rules : 1) * sizeof(*pp->refs));
	if (pp->rules == NULL || pp->refs == NULL)
		goto nomem;
	if (nb_rules > 0)
		memcpy(pp->rules, rules, nb_rules * sizeof(*rules));
	for (i = 0; i < nb_rules; i++)
		pp->refs[i] = rules[i].ref;
	for (d = 0; d < 2; d++) {
		pp->isolated[d] = isolated[d];
		pp->nb_isolating[d] = (uint16_t)nb_isolating[d];
		pp->isolating[d] = malloc((nb_isolating[d] ? nb_isolating[d] : 1) * sizeof(uint16_t));
		if (pp->isolating[d] == NULL)
			goto nomem;
		if (nb_isolating[d] > 0)
			memcpy(pp->isolating[d], isolating[d], nb_isolating[d] * sizeof(uint16_t));
		if (!isolated[d])
			continue;
		for (f = 0; f < 2; f++) {
			pp->acl[d][f] = build_ctx(d, f == 0 ? 4 : 6, rules, nb_rules, socket);
			if (pp->acl[d][f] == NULL) {
				unsigned j, n = 0;

				for (j = 0; j < nb_rules; j++)
					n += rules[j].dir == d && rules[j].family == (f == 0 ? 4 : 6);
				if (n > 0) {
					psw_pol_port_free(pp);
					return NULL;         /* rte_errno set by rte_acl */
				}
			}
		}
	}
	return pp;
nomem:
	psw_pol_port_free(pp);
	rte_errno = ENOMEM;
	return NULL;
}

static void
free_deferred(void *arg)
{
	psw_pol_port_free(arg);
}

void
psw_pol_table_set(struct psw_pol_table *pt, unsigned port, struct psw_pol_port *pp)
{
	struct psw_pol_port *old = pt->ports[port];

	if (old == pp)
		return;
	/* counted before an audited object is in force, and after one goes */
	if (pp != NULL && pp->audit != 0)
		__atomic_store_n(&pt->nb_audited, pt->nb_audited + 1, __ATOMIC_RELEASE);
	__atomic_store_n(&pt->ports[port], pp, __ATOMIC_RELEASE);
	if (old != NULL && old->audit != 0)
		__atomic_store_n(&pt->nb_audited, pt->nb_audited - 1, __ATOMIC_RELEASE);
	__atomic_store_n(&pt->nb_isolated, pt->nb_isolated + (pp != NULL) - (old != NULL), __ATOMIC_RELEASE);
	/* after the pointer: a worker seeing the new generation finds the new object */
	__atomic_store_n(&pt->gen, pt->gen + 1 == 0 ? 1 : pt->gen + 1, __ATOMIC_RELEASE);
	if (old != NULL)
		psw_tables_defer(free_deferred, old);
}

uint32_t
psw_pol_classify(const struct psw_pol_port *pp, unsigned dir, unsigned family, uint8_t proto,
		 const uint8_t *peer, uint16_t port)
{
	uint8_t in[24] __rte_aligned(8);
	const uint8_t *data[1] = { in };
	const struct rte_acl_ctx *ctx = pp->acl[dir][family == 4 ? 0 : 1];
	uint32_t res = 0;

	if (ctx == NULL)
		return 0;
	memset(in, 0, sizeof(in));
	in[0] = proto;
	memcpy(in + 4, peer, family == 4 ? 4 : 16);
	memcpy(in + (family == 4 ? 8 : 20), &port, 2);
	rte_acl_classify(ctx, data, &res, 1, 1);
	return res;
}
