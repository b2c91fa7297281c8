/*
 * The one pipeline from a stored change to the dataplane (psw_pipeline.h).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <rte_common.h>

#include "psw_change.h"
#include "psw_ctl.h"
#include "psw_fwd.h"
#include "psw_neigh.h"
#include "psw_netpol.h"
#include "psw_pipeline.h"
#include "psw_services.h"

/* What a change compiled aside, not yet published. */
struct compiled {
	struct psw_netpol_plan pol;
	bool has_pol;
	struct psw_svc_plan *svc;
	struct psw_tables *fwd;
};

static void
discard(struct psw_state *st, struct compiled *c)
{
	if (c->has_pol)
		psw_netpol_plan_discard(st, &c->pol);
	psw_services_plan_free(c->svc);
	psw_fwd_plan_free(c->fwd);
	memset(c, 0, sizeof(*c));
}

/* Every compiler the change touches, nothing published; on failure nothing kept. */
static int
compile(struct psw_state *st, const struct psw_change *ch, struct compiled *c, char *err, size_t err_len)
{
	int rc;

	memset(c, 0, sizeof(*c));
	if (ch->policy) {
		rc = ch->pol_all ? psw_netpol_plan(st, NULL, NULL, &c->pol, err, err_len)
				 : psw_netpol_plan(st, ch->pol_changed, ch->pol_pods, &c->pol, err, err_len);
		if (rc < 0)
			return rc;
		c->has_pol = true;
	}
	if (ch->services) {
		rc = psw_services_plan(st, ch->svc_scope, &c->svc, err, err_len);
		if (rc < 0)
			goto fail;
	}
	if (ch->forward) {
		bool unwanted[PSW_MAX_PORTS];

		if (ch->removed == NULL)
			psw_fwd_unwanted_ports(st, unwanted);
		c->fwd = psw_fwd_plan(st, &st->cfg, ch->removed != NULL ? ch->removed : unwanted,
					    ch->rebuild_routes, err, err_len);
		if (c->fwd == NULL) {
			rc = -ENOMEM;
			goto fail;
		}
	}
	return 0;

fail:
	discard(st, c);
	return rc;
}

static void
publish_policy(struct psw_state *st, struct compiled *c)
{
	if (c->has_pol)
		psw_netpol_plan_publish(st, &c->pol);
	c->has_pol = false;
}

static void
publish_forward(struct compiled *c)
{
	if (c->fwd != NULL)
		psw_tables_publish(c->fwd);
	c->fwd = NULL;
}

/*
 * In the one order (psw_pipeline.h): a port that gets a policy object has it
 * before any path to its pod is published; a port that loses its object
 * loses it a grace period after the paths that used it are gone. The
 * Service table does not refuse (its room is checked when compiling);
 * should it, nothing after it is published.
 */
static int
publish(struct psw_state *st, bool withdraw, struct compiled *c, char *err, size_t err_len)
{
	unsigned losing = 0;
	int rc = 0;

	if (!withdraw) {
		if (c->has_pol)
			losing = psw_netpol_plan_publish_guards(st, &c->pol);
		publish_forward(c);
		if (c->svc != NULL)
			rc = psw_services_plan_publish(st, c->svc, err, err_len);
		if (rc == 0 && c->has_pol) {
			if (losing > 0)
				psw_tables_sync();
			publish_policy(st, c);
		}
	} else {
		if (c->svc != NULL)
			rc = psw_services_plan_publish(st, c->svc, err, err_len);
		if (rc == 0) {
			publish_forward(c);
			psw_tables_sync();        /* no worker can reach the pod: its guard may go */
			publish_policy(st, c);
		}
	}
	discard(st, c);
	return rc;
}

static void
reclaim(struct psw_state *st, struct psw_change *ch)
{
	if (ch->port_gone < 0)
		return;
	psw_tables_sync();                /* no worker uses the port any more */
	psw_fwd_port_destroy(st, ch->port_gone);
	ch->port_gone = -1;
}

/*
 * Node addresses taken from this node's Node object follow it (a change
 * to a Node, or to the configuration, rebuilds the routes): when it moves
 * them, every Service's node entries (NodePorts, health
 * checks) are compiled again with the forwarding snapshot, and the uplinks
 * announce the new ones.
 */
static void
follow_node_addresses(struct psw_state *st, struct psw_change *ch)
{
	if (!ch->rebuild_routes || !psw_fwd_node_addresses(st))   /* a Node changed, or the configuration */
		return;
	ch->services = true;
	json_decref(ch->svc_scope);
	ch->svc_scope = NULL;                    /* every Service */
	psw_neigh_reannounce(st->neigh);
}

static int
commit(struct psw_state *st, struct psw_change *ch, char *err, size_t err_len)
{
	struct compiled c;
	char again[PSW_ERR_MAX];
	int rc;

	if (err_len > 0)
		err[0] = '\0';
	follow_node_addresses(st, ch);
	rc = compile(st, ch, &c, err, err_len);
	if (rc < 0) {
		if (ch->undo != NULL)
			ch->undo(st, ch);
		psw_fwd_node_addresses(st);      /* back with the store; nothing was published */
		return rc;
	}
	rc = publish(st, ch->withdraw, &c, err, err_len);
	if (rc == 0) {
		reclaim(st, ch);
		return 0;
	}
	/* part of it is in force: the store goes back, and the tables follow
	 * it; a pod that was coming now goes (and the other way round) */
	if (ch->undo != NULL)
		ch->undo(st, ch);
	follow_node_addresses(st, ch);
	if (compile(st, ch, &c, again, sizeof(again)) < 0 ||
	    publish(st, ch->pod_moves ? !ch->withdraw : ch->withdraw, &c, again, sizeof(again)) < 0)
		snprintf(err + strlen(err), err_len - strlen(err), "; and putting the old state back: %s",
			 again);
	return rc;
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int
psw_pipeline_commit(struct psw_state *st, struct psw_change *ch, char *err, size_t err_len)
{
	uint64_t t0 = now_ns(), dt;
	int rc = commit(st, ch, err, err_len);

	dt = now_ns() - t0;
	if (rc == 0)
		st->pipe.ok++;
	else
		st->pipe.failed++;
	st->pipe.ns_sum += dt;
	st->pipe.last_ns = dt;
	st->pipe.max_ns = RTE_MAX(st->pipe.max_ns, dt);
	st->pipe.last_at = (int64_t)time(NULL);
	return rc;
}
