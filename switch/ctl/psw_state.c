/* The configuration (reload by difference) and CNI attachments as changes; counters. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_ring.h>

#include "psw_capture_ctl.h"
#include "psw_audit.h"
#include "psw_change.h"
#include "psw_ct_ctl.h"
#include "psw_forward_ctl.h"
#include "psw_fwd.h"
#include "psw_ipam.h"
#include "psw_k8s.h"
#include "psw_neigh.h"
#include "psw_netpol.h"
#include "psw_pipeline.h"
#include "psw_poddir.h"
#include "psw_port.h"
#include "psw_service.h"
#include "psw_service_ctl.h"
#include "psw_services.h"
#include "psw_state.h"
#include "psw_log.h"

/* The node settings of two configurations, but for addresses taken from the Node object while running. */
static bool
node_settings_equal(const struct psw_config *old, const struct psw_config *new)
{
	struct psw_node_conf a;

	memcpy(&a, &old->node, sizeof(a));     /* padding too: compared with memcmp */
	if (a.addresses_from_node) {
		a.nb_addresses = a.nb_addresses6 = 0;
		memset(a.addresses, 0, sizeof(a.addresses));
		memset(a.address_len, 0, sizeof(a.address_len));
		memset(a.addresses6, 0, sizeof(a.addresses6));
		memset(a.address6_len, 0, sizeof(a.address6_len));
	}
	return memcmp(&a, &new->node, sizeof(a)) == 0;
}

/* Settings that only a restart can change. */
static int
check_immutable(const struct psw_config *old, const struct psw_config *new, char *err,
		size_t err_len)
{
	if (memcmp(&old->eal, &new->eal, sizeof(old->eal)) != 0) {
		snprintf(err, err_len, "%s: eal settings cannot change while running; restart podswitch",
			 new->source);
		return -EINVAL;
	}
	if (memcmp(&old->workers, &new->workers, sizeof(old->workers)) != 0) {
		snprintf(err, err_len, "%s: workers cannot change while running; restart podswitch",
			 new->source);
		return -EINVAL;
	}
	if (!node_settings_equal(old, new) || memcmp(&old->api, &new->api, sizeof(old->api)) != 0 ||
	    memcmp(&old->metrics, &new->metrics, sizeof(old->metrics)) != 0 ||
	    memcmp(&old->limits, &new->limits, sizeof(old->limits)) != 0) {
		snprintf(err, err_len,
			 "%s: node, api, metrics and limits settings cannot change while running; restart podswitch",
			 new->source);
		return -EINVAL;
	}
	return 0;
}

static const struct psw_port_conf *
find_port_conf(const struct psw_config *cfg, const char *name)
{
	unsigned i;

	for (i = 0; i < cfg->nb_ports; i++)
		if (strcmp(cfg->ports[i].name, name) == 0)
			return &cfg->ports[i];
	return NULL;
}

/* Same port settings, ignoring where in the file they were written. */
static bool
port_conf_equal(const struct psw_port_conf *a, const struct psw_port_conf *b)
{
	struct psw_port_conf x = *a, y = *b;

	x.line = y.line = 0;
	return memcmp(&x, &y, sizeof(x)) == 0;
}

/*
 * Would the routes be the same? The configured ones (prefix, port, MAC or
 * via) and everything the others are built from: the node's addresses
 * (the uplinks' subnets), name and pod CIDR (which Nodes are others), the
 * encapsulation.
 */
static bool
routes_equal(const struct psw_config *a, const struct psw_config *b)
{
	unsigned i;

	if (a->nb_routes != b->nb_routes || a->cluster.encap != b->cluster.encap ||
	    strcmp(a->node.name, b->node.name) != 0 ||
	    memcmp(&a->node.pod_cidr, &b->node.pod_cidr, sizeof(a->node.pod_cidr)) != 0 ||
	    memcmp(&a->cluster.pod_cidr, &b->cluster.pod_cidr, sizeof(a->cluster.pod_cidr)) != 0 ||
	    memcmp(&a->node.service_cidr, &b->node.service_cidr, sizeof(a->node.service_cidr)) != 0 ||
	    a->node.nb_addresses != b->node.nb_addresses ||
	    memcmp(a->node.addresses, b->node.addresses, sizeof(a->node.addresses)) != 0 ||
	    memcmp(a->node.address_len, b->node.address_len, sizeof(a->node.address_len)) != 0)
		return false;
	for (i = 0; i < a->nb_routes; i++) {
		const struct psw_route_conf *x = &a->routes[i], *y = &b->routes[i];

		if (memcmp(&x->prefix, &y->prefix, sizeof(x->prefix)) != 0 ||
		    strcmp(x->port, y->port) != 0 || memcmp(x->mac, y->mac, 6) != 0 ||
		    x->via_family != y->via_family || memcmp(x->via, y->via, 16) != 0)
			return false;
	}
	return true;
}

/* A reload's undo: the running configuration back, the new one to the caller. */
struct cfg_swap {
	struct psw_config old, *cfg;
	bool had_cfg;
};

static void
undo_cfg(struct psw_state *st, struct psw_change *ch)
{
	struct cfg_swap *sw = ch->undo_arg;

	*sw->cfg = st->cfg;
	st->cfg = sw->old;
	st->has_cfg = sw->had_cfg;
}

int
psw_state_apply(struct psw_state *st, struct psw_config *cfg, char *err, size_t err_len)
{
	bool removed[PSW_MAX_PORTS] = { false }, created[PSW_MAX_PORTS] = { false };
	unsigned changed[PSW_MAX_CFG_PORTS];     /* indices into the new cfg's ports */
	unsigned i, nb_changed = 0;
	bool any_removed = false, rebuild_routes;
	struct psw_audit_file audit_next;
	struct psw_change ch;
	struct cfg_swap sw;
	int rc, r2, idx;

	if (err_len > 0)
		err[0] = '\0';
	if (st->has_cfg && (rc = check_immutable(&st->cfg, cfg, err, err_len)) < 0)
		return rc;
	/* the audit file first: one that cannot be opened changes nothing */
	rc = psw_audit_prepare(st, cfg, &audit_next, err, err_len);
	if (rc < 0)
		return rc;
	/* Ports that went away, or whose settings changed, are removed. */
	for (i = 0; st->has_cfg && i < st->cfg.nb_ports; i++) {
		const struct psw_port_conf *now = find_port_conf(cfg, st->cfg.ports[i].name);

		idx = psw_port_find(st->cfg.ports[i].name);
		if (idx < 0 || (now != NULL && port_conf_equal(now, &st->cfg.ports[i])))
			continue;
		removed[idx] = any_removed = true;
		if (now != NULL)
			changed[nb_changed++] = (unsigned)(now - cfg->ports);
	}
	/* New ports are created first: if one fails, nothing has changed yet. */
	for (i = 0; i < cfg->nb_ports; i++) {
		if (psw_port_find(cfg->ports[i].name) >= 0)
			continue;
		idx = psw_fwd_port_create(st, &cfg->ports[i], err, err_len);
		if (idx < 0) {
			rc = idx;
			goto out_undo;
		}
		created[idx] = true;
	}
	/* (node addresses from the Node are filled in again with the routes) */
	rebuild_routes = !st->has_cfg || any_removed || !routes_equal(&st->cfg, cfg) || cfg->node.addresses_from_node;
	for (i = 0; i < PSW_MAX_PORTS; i++)
		rebuild_routes |= created[i];
	/* stored: the new configuration is the state's, the old one kept to undo */
	sw.old = st->cfg;
	sw.had_cfg = st->has_cfg;
	sw.cfg = cfg;
	st->cfg = *cfg;
	st->has_cfg = true;
	psw_change_init(&ch);
	ch.policy = true;                        /* configured pods are Kubernetes pods too */
	ch.pol_all = true;
	ch.forward = true;
	ch.removed = removed;
	ch.rebuild_routes = rebuild_routes;
	ch.undo = undo_cfg;
	ch.undo_arg = &sw;
	rc = psw_pipeline_commit(st, &ch, err, err_len);
	psw_change_fini(&ch);
	if (rc < 0)
		goto out_undo;
	psw_audit_commit(st, &audit_next);
	if (sw.had_cfg)
		psw_config_free(&sw.old);
	memset(cfg, 0, sizeof(*cfg));
	if (!any_removed)
		return 0;

	/* No worker uses the removed ports once every worker has been quiescent. */
	psw_tables_sync();
	for (i = 0; i < PSW_MAX_PORTS; i++)
		if (removed[i])
			psw_fwd_port_destroy(st, (int)i);
	if (nb_changed == 0)
		return 0;
	/* Changed ports come back with their new settings (their sockets are free now). */
	rc = 0;
	for (i = 0; i < nb_changed; i++) {
		/* st->cfg now holds what cfg held (the caller's copy is zeroed) */
		idx = psw_fwd_port_create(st, &st->cfg.ports[changed[i]], err, err_len);
		if (idx < 0)
			rc = idx;
	}
	/* re-created ports may have new indices: their pods' policies, then their paths */
	psw_change_init(&ch);
	ch.policy = ch.pol_all = true;
	ch.forward = ch.rebuild_routes = true;
	r2 = psw_pipeline_commit(st, &ch, err + strlen(err), err_len - strlen(err));
	psw_change_fini(&ch);
	return rc < 0 ? rc : r2;

out_undo:
	psw_audit_abort(&audit_next);
	for (i = 0; i < PSW_MAX_PORTS; i++)
		if (created[i])
			psw_fwd_port_destroy(st, (int)i);
	return rc;
}

int
psw_state_find_attachment(const struct psw_state *st, const char *container_id, const char *ifname)
{
	unsigned i;

	for (i = 0; i < st->nb_atts; i++)
		if (strcmp(st->atts[i].container_id, container_id) == 0 &&
		    strcmp(st->atts[i].ifname, ifname) == 0)
			return (int)i;
	return -1;
}

int
psw_state_add_attachment(struct psw_state *st, const struct psw_attachment *att)
{
	if (st->nb_atts == st->cap_atts) {
		unsigned cap = st->cap_atts ? st->cap_atts * 2 : 16;
		struct psw_attachment *a = realloc(st->atts, cap * sizeof(*a));

		if (a == NULL)
			return -ENOMEM;
		st->atts = a;
		st->cap_atts = cap;
	}
	st->atts[st->nb_atts] = *att;
	st->atts[st->nb_atts].attached = false;
	return (int)st->nb_atts++;
}

/* The port an attachment needs, as if it were declared in the configuration. */
static void
attachment_port(const struct psw_state *st, const struct psw_attachment *a, struct psw_port_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->mtu = (uint16_t)psw_config_pod_mtu(&st->cfg);   /* what the CNI plugin gave the pod */
	snprintf(c->name, sizeof(c->name), "%s", a->port_name);
	c->kind = a->kind;
	if (a->kind == PSW_PORT_AFPACKET || a->kind == PSW_PORT_KERNEL)
		snprintf(c->ifname, sizeof(c->ifname), "%s", a->host_ifname);
	else
		snprintf(c->socket, sizeof(c->socket), "%s", a->socket);
	c->queues = 1;
}

static void
undo_attached(struct psw_state *st, struct psw_change *ch)
{
	struct psw_attachment *a = ch->undo_arg;

	a->attached = !a->attached;
}

/* A pod comes (or goes, withdraw): every pod's policy, the forwarding, its namespace's Services. */
static void
pod_change(struct psw_change *ch, struct psw_attachment *a, bool withdraw)
{
	char entry[PSW_NAME_MAX + 4];

	psw_change_init(ch);
	ch->policy = ch->pol_all = true;
	ch->forward = true;
	ch->services = true;
	snprintf(entry, sizeof(entry), "%s/*", a->pod_namespace);
	ch->svc_scope = json_pack("[s]", entry);
	ch->withdraw = withdraw;
	ch->pod_moves = true;
	ch->undo = undo_attached;
	ch->undo_arg = a;
}

int
psw_state_attach(struct psw_state *st, unsigned i, char *err, size_t err_len)
{
	struct psw_attachment *a = &st->atts[i];
	struct psw_port_conf c;
	struct psw_change ch;
	int idx, rc;

	if (a->attached)
		return 0;
	/* its socket's directory first: the port binds or connects there */
	if (psw_poddir_wanted(st, a) && psw_poddir_prepare(st, a, err, err_len) < 0)
		return -EIO;
	attachment_port(st, a, &c);
	idx = psw_fwd_port_create(st, &c, err, err_len);
	if (idx < 0)
		return idx;
	a->attached = true;
	/* its policy in force before the pod is reachable; then Services selecting it gain it */
	pod_change(&ch, a, false);
	rc = psw_pipeline_commit(st, &ch, err, err_len);
	psw_change_fini(&ch);
	if (rc < 0) {
		/* a failed publication may have listed the port: after a grace
		 * period it goes, unless the tables in force still list it (putting
		 * the old state back failed too): then it stays, and says so */
		psw_tables_sync();
		if (psw_tables_current != NULL && psw_tables_current->ports[idx].present) {
			PSW_LOG(WARN, STATE, "port %s kept: the published tables still list it",
				c.name);
			return rc;
		}
		psw_fwd_port_destroy(st, idx);
		return rc;
	}
	psw_poddir_publish(st, a);
	return rc;
}

int
psw_state_remove_attachment(struct psw_state *st, unsigned i, char *err, size_t err_len)
{
	struct psw_attachment *a = &st->atts[i];
	int idx = psw_port_find(a->port_name), rc;

	if (a->attached) {
		struct psw_change ch;

		a->attached = false;
		/* Services lose the endpoint, then the pod its path, then its policy; then its port */
		pod_change(&ch, a, true);
		ch.port_gone = idx;
		rc = psw_pipeline_commit(st, &ch, err, err_len);
		psw_change_fini(&ch);
		if (rc < 0)
			return rc;                /* attached again: the port stays */
	}
	if (st->ipam != NULL) {                 /* delegated addresses are held in the pools too */
		if (a->has_ip4)
			psw_ipam_release(st->ipam, 4, a->ip4);
		if (a->has_ip6)
			psw_ipam_release(st->ipam, 6, a->ip6);
	}
	psw_poddir_publish(st, a);               /* (detached: no longer listed) */
	st->atts[i] = st->atts[--st->nb_atts];
	return 0;
}

/* At exit (workers stopped): the rings' mbufs back to the pool, nothing compiled. */
static void
psw_state_drain_rings(struct psw_state *st)
{
	struct rte_mbuf *pkts[64];
	unsigned w, n;

	for (w = 0; w < st->nb_workers; w++) {
		if (st->lcores[w] == NULL)
			continue;
		while (st->lcores[w]->punt != NULL &&
		       (n = rte_ring_dequeue_burst(st->lcores[w]->punt, (void **)pkts, RTE_DIM(pkts), NULL)) > 0)
			rte_pktmbuf_free_bulk(pkts, n);
		while (st->lcores[w]->inject != NULL &&
		       (n = rte_ring_dequeue_burst(st->lcores[w]->inject, (void **)pkts, RTE_DIM(pkts), NULL)) > 0)
			rte_pktmbuf_free_bulk(pkts, n);
	}
}

void
psw_state_neigh_poll(struct psw_state *st, bool tick)
{
	struct rte_mbuf *pkts[64];
	struct psw_change ch;
	char err[PSW_ERR_MAX];
	unsigned w, n, i;

	for (w = 0; w < st->nb_workers; w++) {
		unsigned taken = 0;

		if (st->lcores[w] == NULL || st->lcores[w]->punt == NULL)
			continue;
		/* at most a ring's worth a call: a worker refilling it cannot keep
		 * the control thread here (the timer or the eventfd brings it back) */
		while (taken < rte_ring_get_capacity(st->lcores[w]->punt) &&
		       (n = rte_ring_dequeue_burst(st->lcores[w]->punt, (void **)pkts,
						   RTE_DIM(pkts), NULL)) > 0) {
			for (i = 0; i < n; i++)
				psw_neigh_input(st, pkts[i]);
			taken += n;
		}
	}
	if (st->neigh == NULL)
		return;
	if (tick) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		psw_neigh_tick(st, (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
	}
	if (!psw_neigh_dirty(st->neigh) || !st->has_cfg)
		return;
	/* a next hop's MAC came, changed or went: the routes say so */
	psw_change_init(&ch);
	ch.forward = true;
	ch.rebuild_routes = true;
	if (psw_pipeline_commit(st, &ch, err, sizeof(err)) < 0) {
		PSW_LOG(WARN, STATE, "routes not rebuilt after a neighbour change (tried again "
			"at the next tick): %s", err);
		psw_neigh_set_dirty(st->neigh);
	}
	psw_change_fini(&ch);
}

void
psw_state_fini(struct psw_state *st)
{
	json_decref(st->agent);
	st->agent = NULL;
	psw_capture_fini();
	psw_audit_fini(st);                       /* its last records, named while the state is whole */
	/* what waits for a grace period (a deleted Service entry's key slot,
	 * old policy objects) goes before the tables it points into */
	psw_tables_sync();
	psw_state_drain_rings(st);                /* the last punts and injects: their mbufs go back */
	psw_tables_sync();                        /* what the neighbour table deferred runs now */
	psw_neigh_free(st->neigh);
	st->neigh = NULL;
	psw_port_destroy_all();
	if (st->journal_open)
		close(st->journal_fd);
	st->journal_open = false;
	if (st->has_cfg)
		psw_config_free(&st->cfg);
	st->has_cfg = false;
	psw_svc_table_destroy(st->svcs);
	st->svcs = NULL;
	psw_netpol_clear(st);
	free(st->pol);
	st->pol = NULL;
	psw_services_clear(st);
	psw_k8s_clear(st);                       /* the store is the state's own */
	psw_ct_destroy(st->ct);
	st->ct = NULL;
	free(st->atts);
	st->atts = NULL;
	st->nb_atts = st->cap_atts = 0;
	psw_ipam_destroy(st->ipam);
	st->ipam = NULL;
}

void
psw_state_port_counters(const struct psw_state *st, unsigned port, struct psw_port_counters *c)
{
	unsigned w;

	memset(c, 0, sizeof(*c));
	for (w = 0; w < st->nb_workers; w++) {
		c->rx += st->lcores[w]->stats.ports[port].rx;
		c->tx += st->lcores[w]->stats.ports[port].tx;
		c->tx_drop += st->lcores[w]->stats.ports[port].tx_drop;
		c->rx_bytes += st->lcores[w]->stats.ports[port].rx_bytes;
		c->tx_bytes += st->lcores[w]->stats.ports[port].tx_bytes;
	}
}

void
psw_state_sum_counters(const struct psw_state *st, uint64_t drops[PSW_DROP_COUNT],
		       uint64_t events[PSW_EV_COUNT])
{
	unsigned w, i;

	memset(drops, 0, PSW_DROP_COUNT * sizeof(drops[0]));
	memset(events, 0, PSW_EV_COUNT * sizeof(events[0]));
	for (w = 0; w < st->nb_workers; w++) {
		const struct psw_stage_ctx *sc = &st->lcores[w]->sc;

		for (i = 0; i < PSW_DROP_COUNT; i++)
			drops[i] += sc->drops[i];
		for (i = 0; i < PSW_EV_COUNT; i++)
			events[i] += sc->events[i];
	}
}

/* The policy audit log's counters, one line (observability.md). */
static void
audit_line(const struct psw_state *st, FILE *out)
{
	json_t *a = psw_audit_json(st), *v;
	const char *k;

	fprintf(out, "audit");
	json_object_foreach(a, k, v)
		if (json_is_integer(v))
			fprintf(out, " %s %lld", k, (long long)json_integer_value(v));
	fprintf(out, "\n");
	json_decref(a);
}

void
psw_state_print_stats(const struct psw_state *st, FILE *out)
{
	uint64_t drops[PSW_DROP_COUNT], events[PSW_EV_COUNT];
	unsigned w, i;

	fprintf(out, "podswitch counters\n");
	for (i = 0; i < PSW_MAX_PORTS; i++) {
		const struct psw_port *p = &psw_ports[i];
		struct psw_port_counters c;
		uint64_t missed, nombuf;

		if (!p->in_use)
			continue;
		psw_state_port_counters(st, i, &c);
		psw_port_drops(&psw_ports[i], &missed, &nombuf);
		fprintf(out, "port %s kind %s rx %" PRIu64 " tx %" PRIu64 " tx_drop %" PRIu64
			" rx_missed %" PRIu64 " rx_nombuf %" PRIu64 " rx_bytes %" PRIu64 " tx_bytes %" PRIu64 "\n",
			p->name, psw_port_kind_name(p->kind), c.rx, c.tx, c.tx_drop, missed, nombuf,
			c.rx_bytes, c.tx_bytes);
	}
	for (w = 0; w < st->nb_workers; w++) {
		const struct psw_lcore_stats *s = &st->lcores[w]->stats;

		fprintf(out, "worker %u lcore %u rx %" PRIu64 " tx %" PRIu64 " loops %" PRIu64
			" busy_loops %" PRIu64 " busy_cycles %" PRIu64 " cycles_per_packet %" PRIu64
			" ports_parked %" PRIu64 " parks %" PRIu64 " wakes %" PRIu64 "\n",
			w, st->lcores[w]->lcore_id, s->rx, s->tx, s->loops, s->busy_loops,
			s->busy_cycles, s->rx ? s->busy_cycles / s->rx : 0, s->parked, s->parks, s->wakes);
	}
	psw_state_sum_counters(st, drops, events);
	for (i = 1; i < PSW_DROP_COUNT; i++)
		fprintf(out, "drop %s %" PRIu64 "\n", psw_drop_name(i), drops[i]);
	for (i = 0; i < PSW_EV_COUNT; i++)
		fprintf(out, "event %s %" PRIu64 "\n", psw_event_name(i), events[i]);
	audit_line(st, out);
	fflush(out);
}
