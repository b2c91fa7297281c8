/*
 * Snapshot publication and deferred reclamation with rte_rcu_qsbr.
 * Control thread only: workers see nothing here but psw_tables_current.
 */
#include <errno.h>
#include <stdlib.h>

#include <rte_errno.h>
#include <rte_fib.h>
#include <rte_fib6.h>
#include <rte_hash.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>

#include "psw_tables.h"

struct psw_tables *psw_tables_current;

/* An old snapshot (or any object) waiting for its grace period. */
struct retired {
	struct retired *next;
	struct psw_tables *t;            /* a snapshot, or NULL: call fn(arg) */
	void (*fn)(void *arg);
	void *arg;
	uint64_t token;
};

static struct rte_rcu_qsbr *qsbr;
static struct retired *retired_head, **retired_tail = &retired_head;
static unsigned nb_retired;

int
psw_tables_init(unsigned nb_workers)
{
	size_t sz = rte_rcu_qsbr_get_memsize(nb_workers ? nb_workers : 1);

	qsbr = rte_zmalloc("psw_qsbr", sz, RTE_CACHE_LINE_SIZE);
	if (qsbr == NULL)
		return -ENOMEM;
	return rte_rcu_qsbr_init(qsbr, nb_workers ? nb_workers : 1);
}

struct rte_rcu_qsbr *
psw_tables_qsbr(void)
{
	return qsbr;
}

struct psw_tables *
psw_tables_alloc(void)
{
	struct psw_tables *t = rte_zmalloc("psw_tables", sizeof(*t), RTE_CACHE_LINE_SIZE);

	if (t == NULL)
		rte_errno = ENOMEM;
	return t;
}

void
psw_pod_table_ref(struct psw_pod_table *p)
{
	if (p != NULL)
		p->refcnt++;
}

void
psw_pod_table_put(struct psw_pod_table *p)
{
	if (p == NULL || --p->refcnt > 0)
		return;
	rte_free(p->slot4);
	rte_free(p->slot6);
	rte_free(p);
}

void
psw_route_table_ref(struct psw_route_table *r)
{
	if (r != NULL)
		r->refcnt++;
}

void
psw_route_table_put(struct psw_route_table *r)
{
	if (r == NULL || --r->refcnt > 0)
		return;
	rte_fib_free(r->fib4);
	rte_fib6_free(r->fib6);
	rte_free(r);
}

static void
tables_release(struct psw_tables *t)
{
	if (t == NULL)
		return;
	psw_pod_table_put(t->pods);
	psw_route_table_put(t->routes);
	rte_free(t);
}

void
psw_tables_publish(struct psw_tables *t)
{
	struct psw_tables *old = psw_tables_current;
	struct retired *r;

	__atomic_store_n(&psw_tables_current, t, __ATOMIC_RELEASE);
	if (old == NULL)
		return;
	r = malloc(sizeof(*r));
	if (r == NULL) {
		/* No memory to defer: wait for the grace period instead. */
		rte_rcu_qsbr_synchronize(qsbr, RTE_QSBR_THRID_INVALID);
		tables_release(old);
		return;
	}
	r->next = NULL;
	r->t = old;
	r->fn = NULL;
	r->arg = NULL;
	r->token = rte_rcu_qsbr_start(qsbr);
	*retired_tail = r;
	retired_tail = &r->next;
	nb_retired++;
	psw_tables_reclaim();
}

void
psw_tables_defer(void (*fn)(void *arg), void *arg)
{
	struct retired *r = malloc(sizeof(*r));

	if (r == NULL) {
		rte_rcu_qsbr_synchronize(qsbr, RTE_QSBR_THRID_INVALID);
		fn(arg);
		return;
	}
	r->next = NULL;
	r->t = NULL;
	r->fn = fn;
	r->arg = arg;
	r->token = rte_rcu_qsbr_start(qsbr);
	*retired_tail = r;
	retired_tail = &r->next;
	nb_retired++;
}

unsigned
psw_tables_reclaim(void)
{
	/* Tokens grow in list order: stop at the first one not yet passed. */
	while (retired_head != NULL &&
	       rte_rcu_qsbr_check(qsbr, retired_head->token, false) == 1) {
		struct retired *r = retired_head;

		retired_head = r->next;
		if (retired_head == NULL)
			retired_tail = &retired_head;
		if (r->t != NULL)
			tables_release(r->t);
		else
			r->fn(r->arg);
		free(r);
		nb_retired--;
	}
	return nb_retired;
}

void
psw_tables_sync(void)
{
	rte_rcu_qsbr_synchronize(qsbr, RTE_QSBR_THRID_INVALID);
	psw_tables_reclaim();
}

void
psw_tables_fini(void)
{
	if (qsbr == NULL)
		return;
	psw_tables_sync();
	tables_release(psw_tables_current);
	psw_tables_current = NULL;
	rte_free(qsbr);
	qsbr = NULL;
}
