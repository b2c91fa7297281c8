/*
 * The forwarding compiler: the ports the desired state wants (created,
 * their RX queues given to workers for the port's life, destroyed after a
 * grace period) and the snapshot that lists them with the pod and route
 * tables. psw_fwd_plan() builds a snapshot aside; the pipeline
 * (psw_pipeline.h) publishes it. Control thread only.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_malloc.h>

#include "psw_capture_ctl.h"
#include "psw_ctl.h"
#include "psw_forward_ctl.h"
#include "psw_tunnel.h"
#include "psw_fwd.h"
#include "psw_k8s.h"
#include "psw_neigh.h"
#include "psw_port.h"
#include "psw_service_ctl.h"

static inline unsigned
alen_of(unsigned family)
{
	return family == 4 ? 4 : 16;
}

/* Is a (of family) in p? False when p is of the other family, or not set. */
static inline bool
in_prefix(const struct psw_prefix *p, uint8_t family, const uint8_t *a)
{
	return p->family == family && psw_prefix_contains(p, a);
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

int
psw_fwd_port_create(struct psw_state *st, const struct psw_port_conf *c, char *err, size_t err_len)
{
	int idx = psw_port_create(c, err, err_len);
	unsigned w;

	if (idx < 0)
		return idx;
	psw_neigh_port_gone(st->neigh, (uint16_t)idx);   /* whatever was learned on the slot before */
	/* no snapshot lists the slot yet: no worker writes these counters */
	for (w = 0; w < st->nb_workers; w++)
		memset(&st->lcores[w]->stats.ports[idx], 0, sizeof(st->lcores[w]->stats.ports[idx]));
	assign_rx_queues(st, idx);
	return idx;
}

void
psw_fwd_port_destroy(struct psw_state *st, int idx)
{
	release_rx_queues(st, idx);
	psw_neigh_port_gone(st->neigh, (uint16_t)idx);
	psw_capture_port_gone((uint16_t)idx);
	psw_port_destroy((uint16_t)idx);
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
	t->node.nb_addrs6 = cfg->node.nb_addresses6;
	memcpy(t->node.addrs6, cfg->node.addresses6, sizeof(t->node.addrs6));
	psw_svc_masq_fill(&t->node, cfg);
	t->node.uplink_mtu = (uint16_t)psw_config_uplink_mtu(cfg);
	t->node.overlay = cfg->cluster.encap != PSW_ENCAP_NONE && cfg->node.nb_addresses > 0;
	t->node.geneve = cfg->cluster.encap == PSW_ENCAP_GENEVE;
	t->node.tunnel_port = rte_cpu_to_be_16(t->node.geneve ? cfg->cluster.geneve_port : cfg->cluster.vxlan_port);
	t->node.vni = cfg->cluster.vni;
	psw_tunnel_prepare(&t->node);
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
		t->ports[p].is_uplink = psw_ports[p].conf.uplink;
		t->ports[p].mac = psw_ports[p].mac;
		t->ports[p].mtu = psw_ports[p].conf.mtu ? psw_ports[p].conf.mtu : 1500;
		for (q = 0; q < psw_ports[p].nb_rxq && q < PSW_MAX_WORKERS; q++) {
			struct psw_worker_rxqs *w = &t->workers[st->rxq_owner[p][q]];

			if (w->nb < PSW_MAX_RXQ_PER_WORKER)
				w->rxq[w->nb++] = (struct psw_rxq){ .port = (uint16_t)p, .queue = (uint16_t)q };
		}
	}
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

/*
 * The next hop toward address addr (family 4 or 6): a configured route
 * through an address (via) that covers it, the longest, or else addr
 * itself on the uplinks. 0, or -1 when there is none (its port gone, the
 * table full).
 */
static int
next_hop_toward(struct psw_state *st, const struct psw_config *cfg, const bool *removed,
		uint8_t family, const uint8_t *addr, struct psw_nh *nh)
{
	const struct psw_route_conf *best = NULL;
	uint16_t port = PSW_PORT_NONE;
	unsigned i;

	for (i = 0; i < cfg->nb_routes; i++) {
		const struct psw_route_conf *r = &cfg->routes[i];

		if (r->via_family == family && in_prefix(&r->prefix, family, addr) &&
		    (best == NULL || r->prefix.len > best->prefix.len))
			best = r;
	}
	if (best != NULL && best->port[0] && (port = live_port(best->port, removed)) == PSW_PORT_NONE)
		return -1;
	return st->neigh != NULL &&
	       psw_neigh_nh(st->neigh, family, best != NULL ? best->via : addr, port, nh) == 0 ? 0 : -1;
}

/*
 * Could a node have this address? Not an address of the pods or Services;
 * for IPv4 not 0/8, loopback, link-local, multicast or the reserved and
 * broadcast range; for IPv6 not unspecified, loopback, link-local or
 * multicast.
 */
static bool
address_usable(const struct psw_config *cfg, uint8_t family, const uint8_t *a)
{
	static const uint8_t loop6[16] = { [15] = 1 }, any6[16];

	if (family == 4 && (a[0] == 0 || a[0] == 127 || a[0] >= 224 || (a[0] == 169 && a[1] == 254)))
		return false;
	if (family == 6 && (a[0] == 0xff || (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) ||
			    memcmp(a, loop6, 16) == 0 || memcmp(a, any6, 16) == 0))
		return false;
	return !in_prefix(&cfg->node.pod_cidr, family, a) && !in_prefix(&cfg->cluster.pod_cidr, family, a) &&
	       !in_prefix(&cfg->node.pod_cidr6, family, a) && !in_prefix(&cfg->cluster.pod_cidr6, family, a) &&
	       !in_prefix(&cfg->node.service_cidr, family, a) && !in_prefix(&cfg->node.service_cidr6, family, a);
}

/* Could another node have this address? A node's, and not this one's. */
static bool
node_address_usable(const struct psw_config *cfg, uint8_t family, const uint8_t *a)
{
	return address_usable(cfg, family, a) && !psw_config_node_addr(cfg, family, a);
}

static bool
routed_by_config(const struct psw_config *cfg, const struct psw_prefix *p)
{
	unsigned i;

	for (i = 0; i < cfg->nb_routes; i++)
		if (cfg->routes[i].prefix.family == p->family && cfg->routes[i].prefix.len == p->len &&
		    memcmp(cfg->routes[i].prefix.addr, p->addr, 16) == 0)
			return true;
	return false;
}

/* This node's pod CIDR of p's family (family 0 when it has none). */
static const struct psw_prefix *
own_pod_cidr(const struct psw_config *cfg, uint8_t family)
{
	return family == 4 ? &cfg->node.pod_cidr : &cfg->node.pod_cidr6;
}

/* Does a Node claim this node's pods (a CIDR overlapping this node's)? Then it gets no route. */
static bool
claims_our_pods(const struct psw_config *cfg, const struct psw_k8s_node *nd)
{
	unsigned c;

	for (c = 0; c < nd->nb_cidrs; c++)
		if (own_pod_cidr(cfg, nd->cidrs[c].family)->family == nd->cidrs[c].family &&
		    psw_prefix_overlap(&nd->cidrs[c], own_pod_cidr(cfg, nd->cidrs[c].family)))
			return true;
	return false;
}

/*
 * Other nodes (v1 Node objects): for each node that is not this one, a
 * host route to each of its InternalIPs (native), and each pod CIDR: to
 * the InternalIP of its family natively, or, under VXLAN, in VXLAN to its
 * IPv4 InternalIP (the underlay is IPv4; IPv6 pods ride in it too). Not
 * routed: a node claiming this node's pods, a CIDR a configured route
 * already has, a CIDR without a usable InternalIP to go to. Returns the
 * number of specs written.
 */
static unsigned
node_routes(struct psw_state *st, const struct psw_config *cfg, const bool *removed,
	    struct psw_route_spec *specs, unsigned room)
{
	unsigned nb = psw_k8s_nodes(st, NULL, 0), n = 0, i, c, a;
	bool vxlan = cfg->cluster.encap != PSW_ENCAP_NONE;     /* or Geneve */
	struct psw_k8s_node *nodes;

	if (nb == 0 || (nodes = calloc(nb, sizeof(*nodes))) == NULL)
		return 0;
	nb = RTE_MIN(nb, psw_k8s_nodes(st, nodes, nb));
	for (i = 0; i < nb; i++) {
		const struct psw_k8s_node *nd = &nodes[i];
		const uint8_t *internal[7] = { NULL };   /* by family */

		if (strcmp(nd->name, cfg->node.name) == 0 || claims_our_pods(cfg, nd))
			continue;
		for (a = 0; a < nd->nb_internal; a++) {
			uint8_t f = nd->internal_family[a];

			if ((f == 4 || f == 6) && node_address_usable(cfg, f, nd->internal[a]))
				internal[f] = nd->internal[a];
		}
		/* the node itself, natively: replies to what was masqueraded to its address.
		 * Under VXLAN the route names the node's VTEP: what it masqueraded to its
		 * own address comes out of its VXLAN (psw_tunnel.h) */
		for (a = 4; a <= 6 && n < room; a += 2) {
			struct psw_prefix host = { .family = (uint8_t)a, .len = a == 4 ? 32 : 128 };

			if (internal[a] == NULL)
				continue;
			memcpy(host.addr, internal[a], alen_of(a));
			if (routed_by_config(cfg, &host) ||
			    next_hop_toward(st, cfg, removed, (uint8_t)a, internal[a], &specs[n].nh) < 0)
				continue;
			if (vxlan && internal[4] != NULL) {
				memcpy(&specs[n].nh.tunnel_dst, internal[4], 4);
				specs[n].nh.flags |= PSW_NH_F_VTEP;
			}
			specs[n++].prefix = host;
		}
		for (c = 0; c < nd->nb_cidrs && n < room; c++) {
			const struct psw_prefix *p = &nd->cidrs[c];
			uint8_t to = vxlan ? 4 : p->family;
			struct psw_nh nh;

			if ((p->family != 4 && p->family != 6) || internal[to] == NULL || routed_by_config(cfg, p) ||
			    next_hop_toward(st, cfg, removed, to, internal[to], &nh) < 0)
				continue;
			if (vxlan) {
				nh.flags |= PSW_NH_F_TUNNEL;
				memcpy(&nh.tunnel_dst, internal[4], 4);
			}
			specs[n].prefix = *p;
			specs[n++].nh = nh;
		}
	}
	free(nodes);
	return n;
}

bool
psw_fwd_node_addresses(struct psw_state *st)
{
	struct psw_node_conf *node = &st->cfg.node;
	unsigned nb = psw_k8s_nodes(st, NULL, 0), i, a, n4 = 0, n6 = 0;
	uint8_t a4[4] = { 0 }, a6[16] = { 0 };
	struct psw_k8s_node *nodes;
	bool changed;

	if (!node->addresses_from_node)
		return false;
	nodes = nb > 0 ? calloc(nb, sizeof(*nodes)) : NULL;
	if (nodes != NULL)
		nb = RTE_MIN(nb, psw_k8s_nodes(st, nodes, nb));
	for (i = 0; nodes != NULL && i < nb; i++) {
		if (strcmp(nodes[i].name, node->name) != 0)
			continue;
		for (a = 0; a < nodes[i].nb_internal; a++) {
			const uint8_t *ip = nodes[i].internal[a];

			if (nodes[i].internal_family[a] == 4 && n4 == 0 && address_usable(&st->cfg, 4, ip)) {
				memcpy(a4, ip, 4);
				n4 = 1;
			} else if (nodes[i].internal_family[a] == 6 && n6 == 0 && address_usable(&st->cfg, 6, ip)) {
				memcpy(a6, ip, 16);
				n6 = 1;
			}
		}
		break;
	}
	free(nodes);
	changed = node->nb_addresses != n4 || node->nb_addresses6 != n6 ||
		  (n4 > 0 && memcmp(node->addresses[0], a4, 4) != 0) ||
		  (n6 > 0 && memcmp(node->addresses6[0], a6, 16) != 0);
	if (!changed)
		return false;
	memset(node->addresses, 0, sizeof(node->addresses));
	memset(node->address_len, 0, sizeof(node->address_len));
	memset(node->addresses6, 0, sizeof(node->addresses6));
	memset(node->address6_len, 0, sizeof(node->address6_len));
	node->nb_addresses = n4;
	node->nb_addresses6 = n6;
	memcpy(node->addresses[0], a4, 4);
	memcpy(node->addresses6[0], a6, 16);
	node->address_len[0] = n4 > 0 ? 32 : 0;
	node->address6_len[0] = n6 > 0 ? 128 : 0;
	return true;
}

/* The uplinks' subnets: node.addresses given with a length below the address's. */
static unsigned
uplink_subnets(const struct psw_config *cfg, struct psw_prefix subnets[8])
{
	unsigned i, n = 0;

	for (i = 0; i < cfg->node.nb_addresses; i++) {
		if (cfg->node.address_len[i] >= 32)
			continue;
		memset(&subnets[n], 0, sizeof(subnets[n]));
		subnets[n].family = 4;
		subnets[n].len = cfg->node.address_len[i];
		memcpy(subnets[n].addr, cfg->node.addresses[i], 4);
		psw_prefix_mask(&subnets[n++]);
	}
	for (i = 0; i < cfg->node.nb_addresses6; i++) {
		if (cfg->node.address6_len[i] >= 128)
			continue;
		memset(&subnets[n], 0, sizeof(subnets[n]));
		subnets[n].family = 6;
		subnets[n].len = cfg->node.address6_len[i];
		memcpy(subnets[n].addr, cfg->node.addresses6[i], 16);
		psw_prefix_mask(&subnets[n++]);
	}
	return n;
}

/*
 * The routes: the configuration's (to a MAC on a port, or through an
 * address whose MAC the neighbour table finds), then other nodes' pod
 * CIDRs. Neighbours no route asks for any more leave the table.
 */
static struct psw_route_table *
build_routes(struct psw_state *st, const struct psw_config *cfg, const bool *removed)
{
	unsigned room = 2 * cfg->nb_routes + 4 * psw_k8s_nodes(st, NULL, 0) + 8 + 1, i, n = 0;
	struct psw_prefix subnets[8];
	unsigned nb_subnets;
	struct psw_route_spec *specs = calloc(room, sizeof(*specs));
	struct psw_route_table *rt;

	if (specs == NULL) {
		rte_errno = ENOMEM;
		return NULL;
	}
	if (st->neigh != NULL)
		psw_neigh_mark(st->neigh);
	for (i = 0; i < cfg->nb_routes; i++) {
		const struct psw_route_conf *r = &cfg->routes[i];
		uint16_t port = r->port[0] ? live_port(r->port, removed) : PSW_PORT_NONE;

		specs[n].prefix = r->prefix;
		if (r->via_family == 0) {
			memcpy(&specs[n].nh.mac, r->mac, 6);
			specs[n].nh.port = port;
		} else {
			if (st->neigh == NULL || (r->port[0] && port == PSW_PORT_NONE) ||
			    psw_neigh_nh(st->neigh, r->via_family, r->via, port, &specs[n].nh) < 0)
				continue;        /* its port is gone, or no room: no route */
		}
		n++;
	}
	n += node_routes(st, cfg, removed, specs + n, room - n);
	nb_subnets = uplink_subnets(cfg, subnets);
	/* a via on an uplink's subnet: a host route to it, so that what goes to
	 * the router itself (DNS, NTP) finds its MAC in the table, not by a punt */
	for (i = 0; i < cfg->nb_routes && n < room && st->neigh != NULL; i++) {
		const struct psw_route_conf *r = &cfg->routes[i];
		struct psw_prefix host = { .family = r->via_family, .len = r->via_family == 4 ? 32 : 128 };
		uint16_t port = r->port[0] ? live_port(r->port, removed) : PSW_PORT_NONE;
		unsigned k;

		if (r->via_family == 0 || (r->port[0] && port == PSW_PORT_NONE))
			continue;
		for (k = 0; k < nb_subnets; k++)
			if (in_prefix(&subnets[k], r->via_family, r->via))
				break;
		memcpy(host.addr, r->via, 16);
		if (k == nb_subnets || routed_by_config(cfg, &host) ||
		    psw_neigh_nh(st->neigh, r->via_family, r->via, port, &specs[n].nh) < 0)
			continue;
		specs[n++].prefix = host;
	}
	for (i = 0; i < nb_subnets && st->neigh != NULL; i++) {
		/* the rest of an uplink's subnet: each destination its own next hop */
		if (routed_by_config(cfg, &subnets[i]))
			continue;
		memset(&specs[n], 0, sizeof(specs[n]));
		specs[n].prefix = subnets[i];
		specs[n].nh.port = PSW_PORT_NONE;
		specs[n++].nh.flags = PSW_NH_F_GLEAN;
	}
	if (st->neigh != NULL)
		psw_neigh_sweep(st->neigh, subnets, nb_subnets);
	rt = psw_route_table_build(specs, n, (int)rte_socket_id());
	free(specs);
	return rt;
}

struct psw_tables *
psw_fwd_plan(struct psw_state *st, const struct psw_config *cfg, const bool *removed,
		   bool rebuild_routes, char *err, size_t err_len)
{
	const struct psw_tables *cur = psw_tables_current;
	struct psw_tables *t = psw_tables_alloc();

	if (t == NULL) {
		snprintf(err, err_len, "out of memory building tables");
		return NULL;
	}
	t->version = cur != NULL ? cur->version + 1 : 1;
	t->ct = st->ct;
	t->svcs = st->svcs;
	t->hosts4 = psw_neigh_hosts4(st->neigh);
	t->hosts6 = psw_neigh_hosts6(st->neigh);
	t->pol = st->pol;
	fill_node(t, cfg);
	fill_ports_and_queues(st, t, removed);
	t->pods = build_pods(t, st, cfg, removed);
	if (t->pods == NULL) {
		snprintf(err, err_len, "cannot build the pod table: %s", rte_strerror(rte_errno));
		goto out_free;
	}
	if (!rebuild_routes && cur != NULL && cur->routes != NULL && !psw_neigh_is_dirty(st->neigh)) {
		t->routes = cur->routes;
		psw_route_table_ref(t->routes);
	} else if ((t->routes = build_routes(st, cfg, removed)) == NULL) {
		snprintf(err, err_len, "cannot build the route table: %s", rte_strerror(rte_errno));
		goto out_free;
	}
	return t;

out_free:
	psw_fwd_plan_free(t);
	return NULL;
}

void
psw_fwd_plan_free(struct psw_tables *t)
{
	if (t == NULL)
		return;
	psw_pod_table_put(t->pods);
	if (t->routes != NULL)
		psw_route_table_put(t->routes);
	rte_free(t);
}

/*
 * Mark every port that exists but is not wanted by the desired state (a
 * configured port, or the port of an attached attachment): a snapshot must
 * not list a port that is about to be destroyed.
 */
static void
unwanted_ports(const struct psw_state *st, const struct psw_config *cfg, bool *removed)
{
	bool wanted[PSW_MAX_PORTS] = { false };
	unsigned p, i;
	int idx;

	/* by name lookups, not names against names: linear in ports + pods */
	for (i = 0; i < cfg->nb_ports; i++)
		if ((idx = psw_port_find(cfg->ports[i].name)) >= 0)
			wanted[idx] = true;
	for (i = 0; i < st->nb_atts; i++)
		if (st->atts[i].attached && (idx = psw_port_find(st->atts[i].port_name)) >= 0)
			wanted[idx] = true;
	for (p = 0; p < PSW_MAX_PORTS; p++)
		if (psw_ports[p].in_use && !removed[p])
			removed[p] = !wanted[p];
}

void
psw_fwd_unwanted_ports(const struct psw_state *st, bool removed[PSW_MAX_PORTS])
{
	memset(removed, 0, PSW_MAX_PORTS * sizeof(removed[0]));
	unwanted_ports(st, &st->cfg, removed);
}
