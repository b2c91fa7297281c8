/* Desired state -> tables: configure-by-diff for ports, pods and routes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>

#include "psw_ct_ctl.h"
#include "psw_forward_ctl.h"
#include "psw_ipam.h"
#include "psw_netpol.h"
#include "psw_service.h"
#include "psw_port.h"
#include "psw_netpol.h"
#include "psw_service_ctl.h"
#include "psw_k8s.h"
#include "psw_state.h"

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
	if (memcmp(&old->node, &new->node, sizeof(old->node)) != 0 ||
	    memcmp(&old->api, &new->api, sizeof(old->api)) != 0 ||
	    memcmp(&old->limits, &new->limits, sizeof(old->limits)) != 0) {
		snprintf(err, err_len,
			 "%s: node, api and limits settings cannot change while running; restart podswitch",
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

static void
assign_rx_queues(struct psw_state *st, int port)
{
	unsigned q, w, best;

	for (q = 0; q < psw_ports[port].nb_rxq && q < PSW_MAX_WORKERS; q++) {
		best = 0;
		for (w = 1; w < st->nb_workers; w++)
			if (st->worker_load[w] < st->worker_load[best])
				best = w;
		st->rxq_owner[port][q] = (uint8_t)best;
		st->worker_load[best]++;
	}
}

static void
release_rx_queues(struct psw_state *st, int port)
{
	unsigned q;

	for (q = 0; q < psw_ports[port].nb_rxq && q < PSW_MAX_WORKERS; q++)
		st->worker_load[st->rxq_owner[port][q]]--;
}

static void
fill_node(struct psw_tables *t, const struct psw_config *cfg)
{
	uint32_t mask = cfg->node.pod_cidr.len ? ~0u << (32 - cfg->node.pod_cidr.len) : 0;

	memcpy(&t->node.gw4, cfg->node.gateway, 4);
	memcpy(t->node.gw6, cfg->node.gateway6, 16);
	t->node.has_ip6 = cfg->node.pod_cidr6.family == 6;
	memcpy(&t->node.gw_mac, cfg->node.gateway_mac, 6);
	memcpy(&t->node.pod_net4, cfg->node.pod_cidr.addr, 4);
	t->node.pod_mask4 = rte_cpu_to_be_32(mask);
	t->node.nb_addrs = cfg->node.nb_addresses;
	memcpy(t->node.addrs4, cfg->node.addresses, sizeof(t->node.addrs4));
}

static void
fill_ports_and_queues(struct psw_state *st, struct psw_tables *t, const bool *removed)
{
	unsigned p, q;

	for (p = 0; p < PSW_MAX_PORTS; p++) {
		if (!psw_ports[p].in_use || removed[p])
			continue;
		t->ports[p].present = 1;
		t->ports[p].is_node = psw_ports[p].conf.node;
		for (q = 0; q < psw_ports[p].nb_rxq && q < PSW_MAX_WORKERS; q++) {
			struct psw_worker_rxqs *w = &t->workers[st->rxq_owner[p][q]];

			if (w->nb < PSW_MAX_RXQ_PER_WORKER)
				w->rxq[w->nb++] = (struct psw_rxq){ .port = (uint16_t)p, .queue = (uint16_t)q };
		}
	}
}

static bool
routes_equal(const struct psw_config *a, const struct psw_config *b)
{
	unsigned i;

	if (a->nb_routes != b->nb_routes)
		return false;
	for (i = 0; i < a->nb_routes; i++) {
		const struct psw_route_conf *x = &a->routes[i], *y = &b->routes[i];

		if (memcmp(&x->prefix, &y->prefix, sizeof(x->prefix)) != 0 ||
		    strcmp(x->port, y->port) != 0 || memcmp(x->mac, y->mac, 6) != 0)
			return false;
	}
	return true;
}

/* Port index of a live port by name, or PSW_PORT_NONE (absent or being removed). */
static uint16_t
live_port(const char *name, const bool *removed)
{
	int idx = psw_port_find(name);

	return idx < 0 || removed[idx] ? PSW_PORT_NONE : (uint16_t)idx;
}

static void
pod_entry(struct psw_tables *t, struct psw_pod *pod, uint32_t index, uint16_t port,
	  const uint8_t *mac, bool has4, const uint8_t *ip4, bool has6, const uint8_t *ip6)
{
	memset(pod, 0, sizeof(*pod));
	memcpy(&pod->nh.mac, mac, 6);
	pod->nh.port = port;
	pod->has_ip4 = has4;
	memcpy(&pod->ip4, ip4, 4);
	pod->has_ip6 = has6;
	memcpy(pod->ip6, ip6, 16);
	if (port != PSW_PORT_NONE) {
		t->ports[port].is_pod = 1;
		t->ports[port].pod = index;
	}
}

/* Pods declared in the configuration, then pods attached through the API. */
static struct psw_pod_table *
build_pods(struct psw_tables *t, const struct psw_state *st, const struct psw_config *cfg,
	   const bool *removed)
{
	unsigned nb = cfg->nb_pods + st->nb_atts, n = 0, i;
	struct psw_pod *pods = calloc(nb ? nb : 1, sizeof(*pods));
	struct psw_pod_table *pt;

	if (pods == NULL) {
		rte_errno = ENOMEM;
		return NULL;
	}
	for (i = 0; i < cfg->nb_pods; i++, n++) {
		const struct psw_pod_conf *pc = &cfg->pods[i];

		pod_entry(t, &pods[n], n, live_port(pc->port, removed), pc->mac, pc->has_ip4,
			  pc->ip4, pc->has_ip6, pc->ip6);
	}
	for (i = 0; i < st->nb_atts; i++) {
		const struct psw_attachment *a = &st->atts[i];

		if (!a->attached)
			continue;
		pod_entry(t, &pods[n], n, live_port(a->port_name, removed), a->mac, a->has_ip4,
			  a->ip4, a->has_ip6, a->ip6);
		n++;
	}
	pt = psw_pod_table_build(pods, n, (int)rte_socket_id());
	free(pods);
	return pt;
}

static struct psw_route_table *
build_routes(const struct psw_config *cfg, const bool *removed)
{
	struct psw_route_spec specs[cfg->nb_routes ? cfg->nb_routes : 1];
	unsigned i;

	for (i = 0; i < cfg->nb_routes; i++) {
		specs[i].prefix = cfg->routes[i].prefix;
		memcpy(&specs[i].nh.mac, cfg->routes[i].mac, 6);
		specs[i].nh.port = live_port(cfg->routes[i].port, removed);
	}
	return psw_route_table_build(specs, cfg->nb_routes, (int)rte_socket_id());
}

/*
 * Build and publish a snapshot of cfg over the live ports (those not in
 * removed). The route table is rebuilt from scratch only when rebuild_routes
 * is set; otherwise the current one is shared.
 */
static int
publish(struct psw_state *st, const struct psw_config *cfg, const bool *removed,
	bool rebuild_routes, char *err, size_t err_len)
{
	const struct psw_tables *cur = psw_tables_current;
	struct psw_tables *t = psw_tables_alloc();

	if (t == NULL) {
		snprintf(err, err_len, "out of memory building tables");
		return -ENOMEM;
	}
	t->version = cur != NULL ? cur->version + 1 : 1;
	t->ct = st->ct;
	t->svcs = st->svcs;
	t->pol = st->pol;
	fill_node(t, cfg);
	fill_ports_and_queues(st, t, removed);
	t->pods = build_pods(t, st, cfg, removed);
	if (t->pods == NULL) {
		snprintf(err, err_len, "cannot build the pod table: %s", rte_strerror(rte_errno));
		goto out_free;
	}
	if (!rebuild_routes && cur != NULL && cur->routes != NULL) {
		t->routes = cur->routes;
		psw_route_table_ref(t->routes);
	} else if ((t->routes = build_routes(cfg, removed)) == NULL) {
		snprintf(err, err_len, "cannot build the route table: %s", rte_strerror(rte_errno));
		goto out_free;
	}
	psw_tables_publish(t);
	return 0;

out_free:
	psw_pod_table_put(t->pods);
	rte_free(t);
	return -ENOMEM;
}

/*
 * Mark every port that exists but is not wanted by the desired state (a
 * configured port, or the port of an attached attachment): a snapshot must
 * not list a port that is about to be destroyed.
 */
static void
unwanted_ports(const struct psw_state *st, const struct psw_config *cfg, bool *removed)
{
	unsigned p, i;

	for (p = 0; p < PSW_MAX_PORTS; p++) {
		bool wanted = false;

		if (!psw_ports[p].in_use || removed[p])
			continue;
		for (i = 0; i < cfg->nb_ports && !wanted; i++)
			wanted = strcmp(cfg->ports[i].name, psw_ports[p].name) == 0;
		for (i = 0; i < st->nb_atts && !wanted; i++)
			wanted = st->atts[i].attached &&
				 strcmp(st->atts[i].port_name, psw_ports[p].name) == 0;
		removed[p] = !wanted;
	}
}

int
psw_state_republish(struct psw_state *st, char *err, size_t err_len)
{
	bool removed[PSW_MAX_PORTS] = { false };

	unwanted_ports(st, &st->cfg, removed);
	return publish(st, &st->cfg, removed, false, err, err_len);
}

static int
create_port(struct psw_state *st, const struct psw_port_conf *c, char *err, size_t err_len)
{
	int idx = psw_port_create(c, err, err_len);
	unsigned w;

	if (idx < 0)
		return idx;
	/* no snapshot lists the slot yet: no worker writes these counters */
	for (w = 0; w < st->nb_workers; w++)
		memset(&st->lcores[w]->stats.ports[idx], 0, sizeof(st->lcores[w]->stats.ports[idx]));
	assign_rx_queues(st, idx);
	return idx;
}

static void
destroy_port(struct psw_state *st, int idx)
{
	release_rx_queues(st, idx);
	psw_port_destroy((uint16_t)idx);
}

int
psw_state_apply(struct psw_state *st, struct psw_config *cfg, char *err, size_t err_len)
{
	bool removed[PSW_MAX_PORTS] = { false }, created[PSW_MAX_PORTS] = { false };
	bool none[PSW_MAX_PORTS] = { false };
	unsigned changed[PSW_MAX_CFG_PORTS];     /* indices into the new cfg's ports */
	unsigned i, nb_changed = 0;
	bool any_removed = false, rebuild_routes;
	int rc, idx;

	if (err_len > 0)
		err[0] = '\0';
	if (st->has_cfg && (rc = check_immutable(&st->cfg, cfg, err, err_len)) < 0)
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
		idx = create_port(st, &cfg->ports[i], err, err_len);
		if (idx < 0) {
			rc = idx;
			goto out_undo;
		}
		created[idx] = true;
	}
	rebuild_routes = !st->has_cfg || any_removed || !routes_equal(&st->cfg, cfg);
	for (i = 0; i < PSW_MAX_PORTS; i++)
		rebuild_routes |= created[i];
	rc = publish(st, cfg, removed, rebuild_routes, err, err_len);
	if (rc < 0)
		goto out_undo;
	if (st->has_cfg)
		psw_config_free(&st->cfg);
	st->cfg = *cfg;
	st->has_cfg = true;
	memset(cfg, 0, sizeof(*cfg));
	/* configured pods are Kubernetes pods too: their policies follow */
	if (psw_netpol_sync(st, NULL, NULL, err, err_len) < 0)
		fprintf(stderr, "podswitch: policies not updated: %s\n", err);
	if (!any_removed)
		return 0;

	/* No worker uses the removed ports once every worker has been quiescent. */
	psw_tables_sync();
	for (i = 0; i < PSW_MAX_PORTS; i++)
		if (removed[i])
			destroy_port(st, (int)i);
	if (nb_changed == 0)
		return 0;
	/* Changed ports come back with their new settings (their sockets are free now). */
	rc = 0;
	for (i = 0; i < nb_changed; i++) {
		/* st->cfg now holds what cfg held (the caller's copy is zeroed) */
		idx = create_port(st, &st->cfg.ports[changed[i]], err, err_len);
		if (idx < 0)
			rc = idx;
	}
	unwanted_ports(st, &st->cfg, none);
	/* re-created ports may have new indices: their pods' policies first */
	if (psw_netpol_sync(st, NULL, NULL, err + strlen(err), err_len - strlen(err)) < 0)
		fprintf(stderr, "podswitch: policies not updated: %s\n", err);
	publish(st, &st->cfg, none, true, err + strlen(err), err_len - strlen(err));
	return rc;

out_undo:
	for (i = 0; i < PSW_MAX_PORTS; i++)
		if (created[i])
			destroy_port(st, (int)i);
	return rc;
}

int
psw_state_update_services(struct psw_state *st, json_t *scope, char *err, size_t err_len)
{
	return psw_services_sync(st, scope, err, err_len);
}

/* The Services of one namespace (selectors may pick a pod there). */
static int
update_namespace_services(struct psw_state *st, const char *ns, char *err, size_t err_len)
{
	char entry[PSW_NAME_MAX + 4];
	json_t *scope;
	int rc;

	snprintf(entry, sizeof(entry), "%s/*", ns);
	scope = json_pack("[s]", entry);
	rc = psw_services_sync(st, scope, err, err_len);
	json_decref(scope);
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
attachment_port(const struct psw_attachment *a, struct psw_port_conf *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "%s", a->port_name);
	c->kind = a->kind;
	if (a->kind == PSW_PORT_AFPACKET || a->kind == PSW_PORT_KERNEL)
		snprintf(c->ifname, sizeof(c->ifname), "%s", a->host_ifname);
	else
		snprintf(c->socket, sizeof(c->socket), "%s", a->socket);
	c->queues = 1;
}

int
psw_state_attach(struct psw_state *st, unsigned i, char *err, size_t err_len)
{
	struct psw_attachment *a = &st->atts[i];
	struct psw_port_conf c;
	int idx, rc;

	if (a->attached)
		return 0;
	attachment_port(a, &c);
	idx = create_port(st, &c, err, err_len);
	if (idx < 0)
		return idx;
	a->attached = true;
	/* its policy is in force before the pod is reachable */
	if (psw_netpol_sync(st, NULL, NULL, err, err_len) < 0)
		fprintf(stderr, "podswitch: policies not updated: %s\n", err);
	rc = psw_state_republish(st, err, err_len);
	if (rc < 0) {
		a->attached = false;
		psw_netpol_sync(st, NULL, NULL, err + strlen(err), err_len - strlen(err));
		destroy_port(st, idx);
		return rc;
	}
	/* a Service selecting this pod gains an endpoint */
	if (update_namespace_services(st, a->pod_namespace, err, err_len) < 0)
		fprintf(stderr, "podswitch: services not updated: %s\n", err);
	return 0;
}

int
psw_state_remove_attachment(struct psw_state *st, unsigned i, char *err, size_t err_len)
{
	struct psw_attachment *a = &st->atts[i];
	int idx = psw_port_find(a->port_name), rc;

	if (a->attached) {
		a->attached = false;
		/* Services that selected the pod lose the endpoint before the pod goes */
		if (update_namespace_services(st, a->pod_namespace, err, err_len) < 0)
			fprintf(stderr, "podswitch: services not updated: %s\n", err);
		rc = psw_state_republish(st, err, err_len);
		if (rc < 0) {
			/* the published tables still list the port: it must stay */
			a->attached = true;
			return rc;
		}
		psw_tables_sync();
		/* its port's policy goes; other pods' rules forget its address */
		if (psw_netpol_sync(st, NULL, NULL, err, err_len) < 0)
			fprintf(stderr, "podswitch: policies not updated: %s\n", err);
		if (idx >= 0)
			destroy_port(st, idx);
	}
	if (st->ipam != NULL) {                 /* delegated addresses are held in the pools too */
		if (a->has_ip4)
			psw_ipam_release(st->ipam, 4, a->ip4);
		if (a->has_ip6)
			psw_ipam_release(st->ipam, 6, a->ip6);
	}
	st->atts[i] = st->atts[--st->nb_atts];
	return 0;
}

void
psw_state_fini(struct psw_state *st)
{
	unsigned i;

	for (i = 0; i < PSW_MAX_PORTS; i++)
		psw_port_destroy((uint16_t)i);
	if (st->has_cfg)
		psw_config_free(&st->cfg);
	st->has_cfg = false;
	psw_svc_table_destroy(st->svcs);
	st->svcs = NULL;
	psw_netpol_clear(st);
	free(st->pol);
	st->pol = NULL;
	psw_services_clear();
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

void
psw_state_print_stats(const struct psw_state *st, FILE *out)
{
	uint64_t drops[PSW_DROP_COUNT], events[PSW_EV_COUNT];
	unsigned w, i;

	fprintf(out, "podswitch counters\n");
	for (i = 0; i < PSW_MAX_PORTS; i++) {
		const struct psw_port *p = &psw_ports[i];
		struct psw_port_counters c;
		struct rte_eth_stats es = { 0 };

		if (!p->in_use)
			continue;
		psw_state_port_counters(st, i, &c);
		rte_eth_stats_get(p->eth_port, &es);
		fprintf(out, "port %s kind %s rx %" PRIu64 " tx %" PRIu64 " tx_drop %" PRIu64
			" rx_missed %" PRIu64 " rx_nombuf %" PRIu64 "\n",
			p->name, psw_port_kind_name(p->kind), c.rx, c.tx, c.tx_drop,
			es.imissed, es.rx_nombuf);
	}
	for (w = 0; w < st->nb_workers; w++) {
		const struct psw_lcore_stats *s = &st->lcores[w]->stats;

		fprintf(out, "worker %u lcore %u rx %" PRIu64 " tx %" PRIu64 " loops %" PRIu64
			" busy_loops %" PRIu64 " busy_cycles %" PRIu64 " cycles_per_packet %" PRIu64 "\n",
			w, st->lcores[w]->lcore_id, s->rx, s->tx, s->loops, s->busy_loops,
			s->busy_cycles, s->rx ? s->busy_cycles / s->rx : 0);
	}
	psw_state_sum_counters(st, drops, events);
	for (i = 1; i < PSW_DROP_COUNT; i++)
		fprintf(out, "drop %s %" PRIu64 "\n", psw_drop_name(i), drops[i]);
	for (i = 0; i < PSW_EV_COUNT; i++)
		fprintf(out, "event %s %" PRIu64 "\n", psw_event_name(i), events[i]);
	fflush(out);
}
