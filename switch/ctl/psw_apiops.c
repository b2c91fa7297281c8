/*
 * API operations: version, status, stats, get, and the CNI plugin's
 * cni.add / cni.attach / cni.del / cni.check / cni.gc. Every handler
 * validates its arguments fully before changing anything, and answers with
 * psw_api_ok() or psw_api_error(). Kubernetes objects (apply, delete, get of
 * object kinds) are in psw_k8s.c. Control thread only.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_vhost.h>
#include <strings.h>

#include "psw_audit.h"
#include "psw_api.h"
#include "psw_apiops.h"
#include "psw_build.h"
#include "psw_capture_ctl.h"
#include "psw_change.h"
#include "psw_ct.h"
#include "psw_ct_ctl.h"
#include "psw_ipam.h"
#include "psw_k8s.h"
#include "psw_podif.h"
#include "psw_poddir.h"
#include "psw_neigh.h"
#include "psw_netpol.h"
#include "psw_netpol_report.h"
#include "psw_objects_file.h"
#include "psw_pipeline.h"
#include "psw_port.h"
#include "psw_services.h"
#include "psw_state.h"
#include "psw_state_file.h"
#include "psw_trace_ctl.h"

static time_t start_time;

void
psw_api_started(void)
{
	start_time = time(NULL);
}

/* CNI container ids and interface names: [A-Za-z0-9._-], as the spec asks. */
static bool
safe_id(const char *s)
{
	if (s == NULL || *s == '\0' || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      *s == '.' || *s == '_' || *s == '-'))
			return false;
	return true;
}

static const char *
ip4_str(const uint8_t *a, char *buf)
{
	return inet_ntop(AF_INET, a, buf, INET_ADDRSTRLEN);
}

static const char *
ip6_str(const uint8_t *a, char *buf)
{
	return inet_ntop(AF_INET6, a, buf, INET6_ADDRSTRLEN);
}

static const char *
mac_str(const uint8_t *m, char *buf)
{
	snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
	return buf;
}

/* A string argument: required or optional, with a maximum length. */
static const char *
arg_str(json_t *args, const char *key, size_t max, bool required, json_t **err)
{
	json_t *v = json_object_get(args, key);

	if (v == NULL || json_is_null(v)) {
		if (required && *err == NULL)
			*err = psw_api_error(PSW_API_E_INVALID, "argument '%s' is required", key);
		return NULL;
	}
	if (!json_is_string(v)) {
		if (*err == NULL)
			*err = psw_api_error(PSW_API_E_INVALID, "argument '%s' must be a string", key);
		return NULL;
	}
	if (strlen(json_string_value(v)) >= max || (required && json_string_length(v) == 0)) {
		if (*err == NULL)
			*err = psw_api_error(PSW_API_E_INVALID, "argument '%s' must be 1..%zu characters",
					     key, max - 1);
		return NULL;
	}
	return json_string_value(v);
}

/* ------------------------------------------------------------ version, status */

static json_t *
op_version(struct psw_state *st, json_t *args)
{
	return psw_api_ok(json_pack("{s:s, s:i}", "version", PSW_VERSION, "api", PSW_API_VERSION));
}

static unsigned
nb_ports(void)
{
	unsigned i, n = 0;

	for (i = 0; i < PSW_MAX_PORTS; i++)
		n += psw_ports[i].in_use;
	return n;
}

/* Pods the switch holds: configured ones and CNI attachments (attached or being attached). */
static unsigned
nb_pods(const struct psw_state *st)
{
	return st->cfg.nb_pods + st->nb_atts;
}

/* Open file descriptors of the process, and the most it may have. */
static void
fd_usage(json_int_t *used, json_int_t *max)
{
	struct rlimit rl;
	struct dirent *d;
	DIR *dp = opendir("/proc/self/fd");

	*used = 0;
	while (dp != NULL && (d = readdir(dp)) != NULL)
		*used += d->d_name[0] != '.';
	if (dp != NULL) {
		closedir(dp);
		(*used)--;                       /* the directory's own */
	}
	*max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ? (json_int_t)rl.rlim_cur : -1;
}

/* Each per-pod resource, used / maximum (podswitchctl status shows them). */
static json_t *
limits_json(const struct psw_state *st)
{
	json_int_t fds, fd_max;
	struct psw_memif_usage mu;
	json_t *l, *m;

	fd_usage(&fds, &fd_max);
	psw_memif_usage(&mu);
	l = json_pack("{s:{s:I, s:I}, s:{s:i, s:i}, s:{s:i, s:i}, s:{s:I, s:I}, s:{s:I, s:I}, s:{s:I, s:I}, "
		      "s:{s:I, s:I}}",
		"pods", "used", (json_int_t)nb_pods(st), "max", (json_int_t)st->cfg.limits.max_pods,
		"ports", "used", (int)nb_ports(), "max", PSW_MAX_PORTS,
		"ethdevs", "used", (int)rte_eth_dev_count_total(), "max", RTE_MAX_ETHPORTS,
		"mbufs", "used", (json_int_t)psw_port_mbufs_in_use(), "max", (json_int_t)st->cfg.limits.mbufs,
		"large_mbufs", "used", (json_int_t)psw_port_large_mbufs_in_use(),
		"max", (json_int_t)st->cfg.limits.large_mbufs,
		"fds", "used", fds, "max", fd_max,
		"conntrack", "used", (json_int_t)(st->ct != NULL ? psw_ct_count(st->ct) : 0),
		"max", (json_int_t)(st->ct != NULL ? st->ct->size : 0));
	/* memif pods: the switch's own master, no ethdev; what slaves have it map */
	m = json_pack("{s:{s:i, s:i}, s:{s:i, s:i}, s:{s:I, s:I}}",
		"memif_interfaces", "used", (int)mu.interfaces, "max", PSW_MAX_PORTS,
		"memif_connected", "used", (int)mu.connected, "max", (int)mu.interfaces,
		"memif_mapped_bytes", "used", (json_int_t)mu.mapped_bytes,
		"max", (json_int_t)(mu.interfaces * PSW_MEMIF_MAX_MAPPED));
	if (l != NULL && m != NULL)
		json_object_update(l, m);
	json_decref(m);
	return l;
}

/* Free addresses of a pool, or -1 when the switch has no pool of that family. */
static json_int_t
pool_free(const struct psw_state *st, int family)
{
	if (st->ipam == NULL || !psw_ipam_has(st->ipam, family))
		return -1;
	return (json_int_t)(psw_ipam_capacity(st->ipam, family) - psw_ipam_used(st->ipam, family));
}

/*
 * Egress masquerade of one family: whether it is on, the address pods'
 * connections leave with, or why it is off.
 */
static void
masq_json(json_t *o, const char *key, const struct psw_tables *t, const struct psw_config *cfg,
	  unsigned family)
{
	bool on = t != NULL && (family == 4 ? t->node.masq : t->node.masq6);
	bool cidr = (family == 4 ? cfg->cluster.pod_cidr.family : cfg->cluster.pod_cidr6.family) == family;
	char k[32], a[INET6_ADDRSTRLEN];

	json_object_set_new(o, key, json_boolean(on));
	if (on) {
		inet_ntop(family == 4 ? AF_INET : AF_INET6,
			  family == 4 ? (const void *)&t->node.addrs4[0] : t->node.addrs6[0], a, sizeof(a));
		snprintf(k, sizeof(k), "%s_address", key);
		json_object_set_new(o, k, json_string(a));
	} else {
		snprintf(k, sizeof(k), "%s_off", key);
		json_object_set_new(o, k, json_string(
			t == NULL ? "no tables yet"
			: !cidr ? (family == 4 ? "cluster.pod_cidr has no IPv4 prefix"
					       : "cluster.pod_cidr6 is not set")
			: family == 4 ? "no IPv4 address in node.addresses"
				      : "no IPv6 address in node.addresses"));
	}
}

static json_t *
cluster_json(const struct psw_state *st, const struct psw_tables *t)
{
	json_t *o = json_pack("{s:s}", "encapsulation",
			      st->cfg.cluster.encap == PSW_ENCAP_VXLAN ? "vxlan" :
			      st->cfg.cluster.encap == PSW_ENCAP_GENEVE ? "geneve" : "none");
	json_t *addrs = json_array();
	char buf[INET6_ADDRSTRLEN];
	unsigned i;

	/* the node's own addresses, and where they came from */
	for (i = 0; i < st->cfg.node.nb_addresses; i++)
		json_array_append_new(addrs, json_string(ip4_str(st->cfg.node.addresses[i], buf)));
	for (i = 0; i < st->cfg.node.nb_addresses6; i++)
		json_array_append_new(addrs, json_string(ip6_str(st->cfg.node.addresses6[i], buf)));
	json_object_set_new(o, "node_addresses", addrs);
	json_object_set_new(o, "node_addresses_from",
			    json_string(st->cfg.node.addresses_from_node ? "Node" : "configuration"));
	masq_json(o, "masquerade", t, &st->cfg, 4);
	masq_json(o, "masquerade6", t, &st->cfg, 6);
	return o;
}

static json_t *
op_status(struct psw_state *st, json_t *args)
{
	const struct psw_tables *t = psw_tables_current;
	json_t *res;

	res = json_pack("{s:b, s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:I, s:I, s:i}",
		"ready", t != NULL, "version", PSW_VERSION, "node", st->cfg.node.name,
		"workers", st->nb_workers, "ports", nb_ports(), "max_ports", PSW_MAX_PORTS,
		"pods", t != NULL && t->pods != NULL ? t->pods->nb : 0, "attachments", st->nb_atts,
		"tables_version", (json_int_t)(t != NULL ? t->version : 0),
		"uptime_seconds", (json_int_t)(time(NULL) - start_time),
		"mbufs_in_use", psw_port_mbufs_in_use() + psw_port_large_mbufs_in_use());
	/* what a new pod needs: room under limits.max_pods, a port, and an
	 * address of each pool (CNI STATUS reads these) */
	json_object_set_new(res, "pod_capacity", json_pack("{s:I, s:i, s:I, s:I}",
		"pods_free", (json_int_t)st->cfg.limits.max_pods - (json_int_t)nb_pods(st),
		"ports_free", PSW_MAX_PORTS - (int)nb_ports(), "ipv4_free", pool_free(st, 4),
		"ipv6_free", pool_free(st, 6)));
	json_object_set_new(res, "limits", limits_json(st));
	json_object_set_new(res, "neighbours", psw_neigh_json(st->neigh));
	json_object_set_new(res, "captures", psw_capture_json());
	json_object_set_new(res, "cluster", cluster_json(st, t));
	json_object_set_new(res, "audit", psw_audit_json(st));
	if (st->agent != NULL)
		json_object_set_new(res, "agent", json_pack("{s:O, s:I}", "report", st->agent,
			"reported_s_ago", (json_int_t)(time(NULL) - st->agent_at)));
	return psw_api_ok(res);
}

/* podswitch-agent's sync state, shown by status (an object, kept as sent, at most 64 KiB). */
static json_t *
op_agent_report(struct psw_state *st, json_t *args)
{
	char *text = json_dumps(args, JSON_COMPACT);
	size_t len = text != NULL ? strlen(text) : 0;

	free(text);
	if (!json_is_object(args) || len > 65536)
		return psw_api_error(PSW_API_E_INVALID, "an agent report is a JSON object of at most 64 KiB");
	json_decref(st->agent);
	st->agent = json_incref(args);
	st->agent_at = time(NULL);
	return psw_api_ok(NULL);
}

/* ---------------------------------------------------------------------- stats */

static json_t *
conntrack_json(const struct psw_state *st)
{
	const struct psw_ct *ct = st->ct;

	if (ct == NULL)
		return json_object();
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
		"entries", (json_int_t)psw_ct_count(ct), "size", (json_int_t)ct->size,
		"per_port_max", (json_int_t)(ct->zone_max == UINT32_MAX ? 0 : ct->zone_max),
		"inserts", (json_int_t)__atomic_load_n(&ct->inserts, __ATOMIC_RELAXED),
		"refused_full", (json_int_t)__atomic_load_n(&ct->full, __ATOMIC_RELAXED),
		"refused_port_limit", (json_int_t)__atomic_load_n(&ct->zone_full, __ATOMIC_RELAXED),
		"clashes", (json_int_t)__atomic_load_n(&ct->clashes, __ATOMIC_RELAXED),
		"expired", (json_int_t)ct->expired, "expired_early", (json_int_t)ct->early,
		"expired_on_lookup", (json_int_t)__atomic_load_n(&ct->expired_lookup, __ATOMIC_RELAXED),
		"flushed", (json_int_t)ct->flushed);
}

/* Connections, filtered by an address (either side, any direction) and protocol. */
static json_t *
conntrack_list(const struct psw_state *st, json_t *args)
{
	const char *addr = json_string_value(json_object_get(args, "address"));
	const char *proto = json_string_value(json_object_get(args, "protocol"));
	json_int_t limit = json_integer_value(json_object_get(args, "limit"));
	const struct psw_ct *ct = st->ct;
	json_t *items = json_array();
	uint8_t want[16], fam = 0;
	uint32_t i;

	if (addr != NULL && psw_parse_ip(addr, &fam, want) < 0) {
		json_decref(items);
		return psw_api_error(PSW_API_E_INVALID, "address '%s' is not an IP address", addr);
	}
	if (limit <= 0)
		limit = 1000;
	for (i = 0; ct != NULL && i < ct->size && (json_int_t)json_array_size(items) < limit; i++) {
		const struct psw_ct_entry *e = &ct->entries[i];
		char a[4][INET6_ADDRSTRLEN];
		const struct psw_ct_key *k[4] = { &e->orig, &e->orig, &e->reply, &e->reply };
		const uint8_t *ad[4] = { e->orig.src, e->orig.dst, e->reply.src, e->reply.dst };
		const char *pname;
		unsigned j;
		bool match = addr == NULL;

		if (!__atomic_load_n(&e->in_use, __ATOMIC_ACQUIRE))
			continue;
		pname = e->orig.proto == IPPROTO_TCP ? "TCP" : e->orig.proto == IPPROTO_UDP ? "UDP" :
			e->orig.proto == IPPROTO_SCTP ? "SCTP" :
			e->orig.proto == PSW_CT_PROTO_AFFINITY ? "AFFINITY" : "ICMP";
		if (proto != NULL && strcasecmp(proto, pname) != 0)
			continue;
		for (j = 0; j < 4; j++) {
			inet_ntop(k[j]->family == 4 ? AF_INET : AF_INET6, ad[j], a[j], sizeof(a[j]));
			match |= fam == k[j]->family && memcmp(ad[j], want, fam == 4 ? 4 : 16) == 0;
		}
		if (!match)
			continue;
		json_array_append_new(items, json_pack("{s:s, s:s, s:s, s:i, s:i, s:s, s:s, s:i, s:i, s:b, s:b}",
			"protocol", pname, "state", psw_ct_state_name(e->state),
			"src", a[0], "sport", ntohs(e->orig.sport), "dport", ntohs(e->orig.dport),
			"dst", a[1], "backend", a[2], "backend_port", ntohs(e->reply.sport),
			"idle_seconds", (int)(RTE_MAX((int64_t)(rte_rdtsc() - e->last_seen), (int64_t)0) /
					      (int64_t)ct->tsc_hz),
			"dnat", (e->flags & PSW_CT_F_DNAT) != 0, "masquerade", (e->flags & PSW_CT_F_SNAT) != 0));
		if (e->orig.proto != PSW_CT_PROTO_AFFINITY &&
		    (e->pol[0] != 0 || e->pol[1] != 0 || (e->flags & (PSW_CT_F_DENY_IN | PSW_CT_F_DENY_EG)))) {
			json_t *row = json_array_get(items, json_array_size(items) - 1);

			/* the NetworkPolicies that allowed it (docs/policy.md) */
			json_object_set_new(row, "ingress_policy", json_string(psw_netpol_slot_name(st, e->pol[0])));
			json_object_set_new(row, "egress_policy", json_string(psw_netpol_slot_name(st, e->pol[1])));
			json_object_set_new(row, "denied", json_boolean(e->flags & (PSW_CT_F_DENY_IN | PSW_CT_F_DENY_EG)));
		}
	}
	return psw_api_ok(json_pack("{s:s, s:o}", "kind", "conntrack", "items", items));
}

json_t *
psw_state_stats_json(const struct psw_state *st)
{
	json_t *ports = json_array(), *workers = json_array(), *drops = json_object();
	json_t *events = json_object();
	uint64_t d[PSW_DROP_COUNT], e[PSW_EV_COUNT];
	unsigned i, w;

	for (i = 0; i < PSW_MAX_PORTS; i++) {
		const struct psw_port *p = &psw_ports[i];
		struct psw_port_counters c;
		uint64_t missed, nombuf;

		if (!p->in_use)
			continue;
		psw_state_port_counters(st, i, &c);
		psw_port_drops(&psw_ports[i], &missed, &nombuf);
		json_array_append_new(ports, json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			"name", p->name, "kind", psw_port_kind_name(p->kind), "rx", (json_int_t)c.rx,
			"tx", (json_int_t)c.tx, "tx_drop", (json_int_t)c.tx_drop,
			"rx_bytes", (json_int_t)c.rx_bytes, "tx_bytes", (json_int_t)c.tx_bytes,
			"rx_missed", (json_int_t)missed, "rx_nombuf", (json_int_t)nombuf));
	}
	for (w = 0; w < st->nb_workers; w++) {
		const struct psw_lcore_stats *s = &st->lcores[w]->stats;

		json_array_append_new(workers, json_pack("{s:i, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			"worker", w, "lcore", st->lcores[w]->lcore_id, "rx", (json_int_t)s->rx,
			"tx", (json_int_t)s->tx, "loops", (json_int_t)s->loops,
			"busy_loops", (json_int_t)s->busy_loops,
			"ports_parked", (json_int_t)s->parked, "parks", (json_int_t)s->parks,
			"wakes", (json_int_t)s->wakes,
			"cycles_per_packet", (json_int_t)(s->rx ? s->busy_cycles / s->rx : 0)));
	}
	psw_state_sum_counters(st, d, e);
	for (i = 1; i < PSW_DROP_COUNT; i++)
		json_object_set_new(drops, psw_drop_name(i), json_integer((json_int_t)d[i]));
	for (i = 0; i < PSW_EV_COUNT; i++)
		json_object_set_new(events, psw_event_name(i), json_integer((json_int_t)e[i]));
	return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "ports", ports, "workers", workers,
			 "drops", drops, "events", events, "conntrack", conntrack_json(st),
			 "services", psw_services_counters_json(st), "audit", psw_audit_json(st));
}

static json_t *
op_stats(struct psw_state *st, json_t *args)
{
	return psw_api_ok(psw_state_stats_json(st));
}

/* ------------------------------------------------------------------------ get */

static json_t *
ports_json(void)
{
	json_t *list = json_array();
	unsigned i;
	char mac[18];

	for (i = 0; i < PSW_MAX_PORTS; i++) {
		const struct psw_port *p = &psw_ports[i];
		if (!p->in_use)
			continue;
		json_t *o;
		int vid;

		o = json_pack("{s:s, s:s, s:i, s:s, s:i, s:i, s:b, s:s, s:b}",
			"name", p->name, "kind", psw_port_kind_name(p->kind), "index", i,
			"device", p->devname, "rx_queues", p->nb_rxq, "tx_queues", p->nb_txq,
			"tx_shared", p->txq_shared, "mac", mac_str(p->mac.addr_bytes, mac),
			"link_up", psw_port_link_up(p));
		/* what a connected vhost-user guest negotiated (virtio-net feature bits) */
		vid = p->kind == PSW_PORT_VHOST ? __atomic_load_n(&p->vid, __ATOMIC_ACQUIRE) : -1;
		if (vid >= 0) {
			uint64_t features;

			if (rte_vhost_get_negotiated_features(vid, &features) == 0)
				json_object_set_new(o, "virtio_features", json_integer((json_int_t)features));
		}
		json_array_append_new(list, o);
	}
	return list;
}

static json_t *
attachment_json(const struct psw_state *st, const struct psw_attachment *a)
{
	char ip4[INET_ADDRSTRLEN] = "", ip6[INET6_ADDRSTRLEN] = "", mac[18];

	if (a->has_ip4)
		ip4_str(a->ip4, ip4);
	if (a->has_ip6)
		ip6_str(a->ip6, ip6);
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:b}",
		"namespace", a->pod_namespace, "name", a->pod_name, "network", a->network,
		"network_attachment", a->nad,
		"container_id", a->container_id,
		"ifname", a->ifname, "netns", a->netns, "interface",
		a->kind == PSW_PORT_AFPACKET ? "kernel" : psw_port_kind_name(a->kind),
		"port", a->port_name, "host_ifname", a->host_ifname, "socket", a->socket,
		"mac", mac_str(a->mac, mac), "ip4", ip4, "ip6", ip6, "attached", a->attached,
		"ipam_external", a->ipam_external);
}

static json_t *
pods_json(const struct psw_state *st)
{
	json_t *list = json_array();
	char ip4[INET_ADDRSTRLEN], ip6[INET6_ADDRSTRLEN], mac[18];
	unsigned i;

	for (i = 0; i < st->cfg.nb_pods; i++) {
		const struct psw_pod_conf *p = &st->cfg.pods[i];

		json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
			"namespace", p->namespace_, "name", p->name, "port", p->port,
			"mac", mac_str(p->mac, mac), "ip4", p->has_ip4 ? ip4_str(p->ip4, ip4) : "",
			"ip6", p->has_ip6 ? ip6_str(p->ip6, ip6) : "", "source", "config"));
	}
	for (i = 0; i < st->nb_atts; i++) {
		json_t *o = attachment_json(st, &st->atts[i]);

		json_object_set_new(o, "source", json_string("cni"));
		json_array_append_new(list, o);
	}
	return list;
}

struct alias {
	const char *name;
	const char *kind;
};

static const struct alias aliases[] = {
	{ "namespaces", "Namespace" }, { "namespace", "Namespace" }, { "ns", "Namespace" },
	{ "pods", "Pod" }, { "pod", "Pod" }, { "po", "Pod" },
	{ "services", "Service" }, { "service", "Service" }, { "svc", "Service" },
	{ "endpointslices", "EndpointSlice" }, { "endpointslice", "EndpointSlice" },
	{ "networkpolicies", "NetworkPolicy" }, { "networkpolicy", "NetworkPolicy" },
	{ "netpol", "NetworkPolicy" },
	{ "multinetworkpolicies", "MultiNetworkPolicy" }, { "multinetworkpolicy", "MultiNetworkPolicy" },
	{ "multi-networkpolicy", "MultiNetworkPolicy" },
	{ "nodes", "Node" }, { "node", "Node" }, { "no", "Node" },
};

/* The Pod objects joined with the attachments (by namespace and name). */
static void
add_pod_rows(struct psw_state *st, json_t *items, const char *ns, const char *name)
{
	unsigned i;
	const char *key;
	json_t *o;
	char ip4[64], ip6[64];

	for (i = 0; i < st->nb_atts; i++) {
		const struct psw_attachment *a = &st->atts[i];
		json_t *pod = psw_k8s_find(st, "Pod", a->pod_namespace, a->pod_name), *labels;

		if ((ns != NULL && strcmp(ns, a->pod_namespace)) || (name != NULL && strcmp(name, a->pod_name)))
			continue;
		labels = json_object_get(json_object_get(pod, "metadata"), "labels");
		ip4[0] = ip6[0] = '\0';
		if (a->has_ip4)
			inet_ntop(AF_INET, a->ip4, ip4, sizeof(ip4));
		if (a->has_ip6)
			inet_ntop(AF_INET6, a->ip6, ip6, sizeof(ip6));
		json_array_append_new(items, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:o}",
			"namespace", a->pod_namespace, "name", a->pod_name, "ip4", ip4, "ip6", ip6,
			"interface", a->kind == PSW_PORT_AFPACKET ? "kernel" : psw_port_kind_name(a->kind),
			"port", a->port_name, "attached", a->attached,
			"labels", labels != NULL ? json_incref(labels) : json_object()));
	}
	/* Pod objects with no attachment (applied before or without their pod) */
	json_object_foreach(st->k8s.objects, key, o) {
		json_t *meta = json_object_get(o, "metadata");
		const char *pns = json_string_value(json_object_get(meta, "namespace"));
		const char *pname = json_string_value(json_object_get(meta, "name"));
		bool attached = false;

		if (strncmp(key, "Pod/", 4) != 0 || (ns != NULL && strcmp(ns, pns)) ||
		    (name != NULL && strcmp(name, pname)))
			continue;
		for (i = 0; i < st->nb_atts; i++)
			attached |= strcmp(st->atts[i].pod_namespace, pns) == 0 &&
				    strcmp(st->atts[i].pod_name, pname) == 0;
		if (attached)
			continue;
		json_array_append_new(items, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:o}",
			"namespace", pns, "name", pname, "ip4", "", "ip6", "", "interface", "",
			"port", "", "attached", 0,
			"labels", json_object_get(meta, "labels") ?
				  json_incref(json_object_get(meta, "labels")) : json_object()));
	}
}

/* get of a Kubernetes kind: Pods joined with attachments, NetworkPolicies with their state */
static json_t *
k8s_get(struct psw_state *st, const char *kind_arg, json_t *args)
{
	const char *ns = json_string_value(json_object_get(args, "namespace"));
	const char *name = json_string_value(json_object_get(args, "name"));
	const char *kind = NULL, *key;
	json_t *items = json_array(), *o;
	unsigned i;

	for (i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
		if (strcmp(aliases[i].name, kind_arg) == 0)
			kind = aliases[i].kind;
	if (kind == NULL) {
		json_decref(items);
		return psw_api_error(PSW_API_E_INVALID, "unknown kind '%s' (ports, pods, attachments, "
				     "namespaces, services, endpointslices, networkpolicies, multinetworkpolicies, nodes)",
				     kind_arg);
	}
	if (strcmp(kind, "Namespace") == 0 || strcmp(kind, "Node") == 0)
		ns = NULL;                       /* cluster-scoped: a namespace given is no filter */
	if (strcmp(kind, "Pod") == 0 && !json_is_true(json_object_get(args, "objects"))) {
		add_pod_rows(st, items, ns, name);
	} else if (strcmp(kind, "NetworkPolicy") == 0 || strcmp(kind, "MultiNetworkPolicy") == 0) {
		json_decref(items);
		items = psw_netpol_rows(st, kind, ns, name);
	} else {
		json_object_foreach(st->k8s.objects, key, o) {
			json_t *meta = json_object_get(o, "metadata");
			const char *ons = json_string_value(json_object_get(meta, "namespace"));

			if (strcmp(json_string_value(json_object_get(o, "kind")), kind) != 0)
				continue;
			if (ns != NULL && ons != NULL && strcmp(ns, ons) != 0)
				continue;
			if (name != NULL && strcmp(name, json_string_value(json_object_get(meta, "name"))))
				continue;
			json_array_append(items, o);
		}
	}
	if (name != NULL && json_array_size(items) == 0) {
		json_decref(items);
		return psw_api_error(PSW_API_E_NOT_FOUND, "%s \"%s\" not found%s%s", kind, name,
				     ns ? " in namespace " : "", ns ? ns : "");
	}
	return psw_api_ok(json_pack("{s:s, s:o}", "kind", kind, "items", items));
}

static json_t *
op_get(struct psw_state *st, json_t *args)
{
	json_t *err = NULL;
	const char *kind = arg_str(args, "kind", 64, true, &err);

	if (err != NULL)
		return err;
	if (strcmp(kind, "ports") == 0 || strcmp(kind, "port") == 0 ||
	    strcmp(kind, "attachments") == 0) {
		const char *name = json_string_value(json_object_get(args, "name"));
		json_t *list = kind[0] == 'p' ? ports_json() : json_array(), *o;
		unsigned i;
		size_t k;

		for (i = 0; kind[0] == 'a' && i < st->nb_atts; i++)
			json_array_append_new(list, attachment_json(st, &st->atts[i]));
		if (name != NULL) {
			json_t *one = json_array();

			json_array_foreach(list, k, o)
				if (strcmp(json_string_value(json_object_get(o, kind[0] == 'p' ? "name" :
							     "container_id")) ?: "", name) == 0)
					json_array_append(one, o);
			json_decref(list);
			list = one;
			if (json_array_size(list) == 0) {
				json_decref(list);
				return psw_api_error(PSW_API_E_NOT_FOUND, "%s \"%s\" not found", kind, name);
			}
		}
		return psw_api_ok(json_pack("{s:o}", "items", list));
	}
	if (strcmp(kind, "conntrack") == 0 || strcmp(kind, "ct") == 0)
		return conntrack_list(st, args);
	if (strcmp(kind, "endpoints") == 0 || strcmp(kind, "attached-pods") == 0)
		return psw_api_ok(json_pack("{s:o}", "items", pods_json(st)));
	return k8s_get(st, kind, args);
}

/* ------------------------------------------------------------------------ CNI */

static int
parse_interface(const char *s, enum psw_port_kind *kind)
{
	if (s == NULL || strcmp(s, "kernel") == 0)
		*kind = PSW_PORT_AFPACKET;
	else if (strcmp(s, "vhost-user") == 0)
		*kind = PSW_PORT_VHOST;
	else if (strcmp(s, "memif") == 0)
		*kind = PSW_PORT_MEMIF;
	else
		return -EINVAL;
	return 0;
}

static bool
mac_in_use(const struct psw_state *st, const uint8_t *mac)
{
	unsigned i;

	if (memcmp(mac, st->cfg.node.gateway_mac, 6) == 0)
		return true;
	for (i = 0; i < st->cfg.nb_pods; i++)
		if (memcmp(st->cfg.pods[i].mac, mac, 6) == 0)
			return true;
	for (i = 0; i < st->nb_atts; i++)
		if (memcmp(st->atts[i].mac, mac, 6) == 0)
			return true;
	return false;
}

static bool
mac_taken(const uint8_t mac[6], void *st)
{
	return mac_in_use(st, mac);
}

static bool
ip_in_config(const struct psw_state *st, int family, const uint8_t *addr)
{
	unsigned i;

	for (i = 0; i < st->cfg.nb_pods; i++) {
		const struct psw_pod_conf *p = &st->cfg.pods[i];

		if ((family == 4 && p->has_ip4 && memcmp(p->ip4, addr, 4) == 0) ||
		    (family == 6 && p->has_ip6 && memcmp(p->ip6, addr, 16) == 0))
			return true;
	}
	return false;
}

/* An address of a (delegated-IPAM) attachment used by a configured or attached pod. */
static bool
ip_taken_elsewhere(const struct psw_state *st, const struct psw_attachment *a)
{
	unsigned i;

	if ((a->has_ip4 && ip_in_config(st, 4, a->ip4)) || (a->has_ip6 && ip_in_config(st, 6, a->ip6)))
		return true;
	for (i = 0; i < st->nb_atts; i++) {
		const struct psw_attachment *o = &st->atts[i];

		if ((a->has_ip4 && o->has_ip4 && memcmp(a->ip4, o->ip4, 4) == 0) ||
		    (a->has_ip6 && o->has_ip6 && memcmp(a->ip6, o->ip6, 16) == 0))
			return true;
	}
	return false;
}

/* Read requested addresses ("ips": ["10.244.0.7", "fd00::7"]; a "/len" suffix is allowed). */
static json_t *
requested_ips(json_t *args, struct psw_attachment *a)
{
	json_t *ips = json_object_get(args, "ips"), *v;
	size_t i;

	if (ips == NULL || json_is_null(ips))
		return NULL;
	if (!json_is_array(ips))
		return psw_api_error(PSW_API_E_INVALID, "argument 'ips' must be a list of addresses");
	json_array_foreach(ips, i, v) {
		char buf[64], *slash;
		uint8_t fam, addr[16];

		if (!json_is_string(v) || json_string_length(v) >= sizeof(buf))
			return psw_api_error(PSW_API_E_INVALID, "ips[%zu] must be an address string", i);
		snprintf(buf, sizeof(buf), "%s", json_string_value(v));
		slash = strchr(buf, '/');
		if (slash != NULL)
			*slash = '\0';
		if (psw_parse_ip(buf, &fam, addr) < 0)
			return psw_api_error(PSW_API_E_INVALID, "ips[%zu] '%s' is not an IP address", i,
					     json_string_value(v));
		if ((fam == 4 && a->has_ip4) || (fam == 6 && a->has_ip6))
			return psw_api_error(PSW_API_E_INVALID, "ips: more than one IPv%d address", fam);
		if (fam == 4) {
			a->has_ip4 = true;
			memcpy(a->ip4, addr, 4);
		} else {
			a->has_ip6 = true;
			memcpy(a->ip6, addr, 16);
		}
	}
	return NULL;
}

static bool
ip_is_node(const struct psw_state *st, int family, const uint8_t *addr)
{
	unsigned i;

	for (i = 0; family == 4 && i < st->cfg.node.nb_addresses; i++)
		if (memcmp(st->cfg.node.addresses[i], addr, 4) == 0)
			return true;
	return false;
}

/*
 * Take a requested or delegated address in the switch's pool, so that
 * neither the pool nor another attachment hands it out again. 0, -EEXIST
 * (in use), -EADDRNOTAVAIL (the node's own), -EAFNOSUPPORT (no pool of
 * that family), -EINVAL (outside the pod CIDR, or its network, broadcast
 * or gateway address).
 */
static int
take_address(struct psw_state *st, int fam, const uint8_t *addr)
{
	if (ip_in_config(st, fam, addr))
		return -EEXIST;
	if (ip_is_node(st, fam, addr))
		return -EADDRNOTAVAIL;
	return psw_ipam_reserve(st->ipam, fam, addr);
}

static json_t *
address_error(int rc, int fam, const char *addr, bool external)
{
	const char *from = external ? " (from the IPAM plugin)" : "";

	switch (rc) {
	case -EEXIST:
		return psw_api_error(PSW_API_E_EXISTS, "address %s%s is already in use", addr, from);
	case -EADDRNOTAVAIL:
		return psw_api_error(PSW_API_E_INVALID, "address %s%s is one of the node's own addresses",
				     addr, from);
	case -EAFNOSUPPORT:
		return psw_api_error(PSW_API_E_INVALID, "address %s%s: the node has no IPv%d pod CIDR",
				     addr, from, fam);
	default:
		return psw_api_error(PSW_API_E_INVALID,
				     "address %s%s is not in the node's pod CIDR, or is its network, "
				     "broadcast or gateway address", addr, from);
	}
}

/*
 * Take the requested or delegated addresses, or allocate one per configured
 * family. Delegated ones are held in the pools too: an IPAM plugin sharing
 * the pod CIDR (the shipped host-local conflist does) cannot be handed the
 * switch's addresses, nor the switch the plugin's.
 */
static json_t *
assign_ips(struct psw_state *st, struct psw_attachment *a, bool requested)
{
	int fam;

	for (fam = 4; fam <= 6; fam += 2) {
		bool has = fam == 4 ? a->has_ip4 : a->has_ip6;
		uint8_t *addr = fam == 4 ? a->ip4 : a->ip6;
		char buf[INET6_ADDRSTRLEN];
		int rc;

		if (!has && (requested || a->ipam_external))
			continue;
		if (!has) {
			if (!psw_ipam_has(st->ipam, fam))
				continue;
			do
				rc = psw_ipam_allocate(st->ipam, fam, addr);
			while (rc == 0 && ip_in_config(st, fam, addr));
			if (rc < 0)
				goto fail;
			if (fam == 4)
				a->has_ip4 = true;
			else
				a->has_ip6 = true;
			continue;
		}
		rc = take_address(st, fam, addr);
		if (rc == 0)
			continue;
		if (fam == 6 && a->has_ip4)
			psw_ipam_release(st->ipam, 4, a->ip4);
		inet_ntop(fam == 4 ? AF_INET : AF_INET6, addr, buf, sizeof(buf));
		return address_error(rc, fam, buf, a->ipam_external);
fail:
		if (fam == 6 && a->has_ip4)
			psw_ipam_release(st->ipam, 4, a->ip4);
		return psw_api_error(PSW_API_E_NO_RESOURCES, "no free IPv%d address in the pod CIDR", fam);
	}
	return NULL;
}

/* Give back the addresses assign_ips took for an attachment that is not recorded after all. */
static void
release_ips(struct psw_state *st, const struct psw_attachment *a)
{
	if (a->has_ip4)
		psw_ipam_release(st->ipam, 4, a->ip4);
	if (a->has_ip6)
		psw_ipam_release(st->ipam, 6, a->ip6);
}

/*
 * The pods' prefixes, the cluster's where known, else this node's: what a
 * pod whose default route belongs to another network (a Multus secondary
 * attachment) routes through the switch instead.
 */
static json_t *
pod_cidrs_json(const struct psw_state *st)
{
	const struct psw_prefix *p[2] = {
		st->cfg.cluster.pod_cidr.family ? &st->cfg.cluster.pod_cidr : &st->cfg.node.pod_cidr,
		st->cfg.cluster.pod_cidr6.family ? &st->cfg.cluster.pod_cidr6 : &st->cfg.node.pod_cidr6,
	};
	json_t *out = json_array();
	char buf[INET6_ADDRSTRLEN + 8];
	unsigned i;

	for (i = 0; i < 2; i++)
		if (p[i]->family != 0)
			json_array_append_new(out, json_string(psw_prefix_str(p[i], buf, sizeof(buf))));
	return out;
}

static json_t *
add_result(const struct psw_state *st, const struct psw_attachment *a)
{
	json_t *ips = json_array(), *routes = json_array(), *res;
	char buf[INET6_ADDRSTRLEN + 8], gw[INET6_ADDRSTRLEN], mac[18];

	if (a->has_ip4) {
		ip4_str(a->ip4, buf);
		snprintf(buf + strlen(buf), 8, "/%u", a->ipam_external ? 32 : st->cfg.node.pod_cidr.len);
		json_array_append_new(ips, json_pack("{s:s, s:s}", "address", buf, "gateway",
						     ip4_str(st->cfg.node.gateway, gw)));
		json_array_append_new(routes, json_pack("{s:s, s:s}", "dst", "0.0.0.0/0", "gw", gw));
	}
	if (a->has_ip6 && st->cfg.node.pod_cidr6.family == 6) {
		ip6_str(a->ip6, buf);
		snprintf(buf + strlen(buf), 8, "/%u", a->ipam_external ? 128 : st->cfg.node.pod_cidr6.len);
		json_array_append_new(ips, json_pack("{s:s, s:s}", "address", buf, "gateway",
						     ip6_str(st->cfg.node.gateway6, gw)));
		json_array_append_new(routes, json_pack("{s:s, s:s}", "dst", "::/0", "gw", gw));
	}
	res = json_pack("{s:o, s:o, s:s, s:s, s:i, s:s}", "ips", ips, "routes", routes,
			"mac", mac_str(a->mac, mac), "port", a->port_name, "mtu", (int)psw_config_pod_mtu(&st->cfg),
			"gateway_mac", mac_str(st->cfg.node.gateway_mac, gw));
	if (a->socket[0] != '\0')
		json_object_set_new(res, "socket", json_string(a->socket));
	json_object_set_new(res, "pod_cidrs", pod_cidrs_json(st));
	/* a kernel pod keeps its checksum and segmentation offloads (psw_gso.h) */
	json_object_set_new(res, "offloads", json_boolean(st->cfg.limits.large_mbufs > 0));
	return res;
}

/* The interface of the host's IPv4 default route, into name (IF_NAMESIZE); false without one. */
static bool
default_route_ifname(char *name)
{
	FILE *f = fopen("/proc/net/route", "re");
	char line[256], ifname[IF_NAMESIZE];
	unsigned long dst, mask;
	bool found = false;

	if (f == NULL)
		return false;
	while (!found && fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "%15s %lx %*x %*x %*d %*d %*d %lx", ifname, &dst, &mask) == 3 &&
		    dst == 0 && mask == 0) {
			memcpy(name, ifname, IF_NAMESIZE);
			found = true;
		}
	fclose(f);
	return found;
}

/*
 * host_ifname of a kernel pod: the host end of the veth the CNI plugin
 * creates after cni.add, so no interface of that name may exist yet (the
 * uplink, lo, a port of the switch, another pod's veth). The name goes
 * into af_packet device arguments: a legal Linux name (1..15 characters,
 * not "." or "..", no '/', ':' or white space) without ',' or '='.
 */
static json_t *
check_host_ifname(const char *host)
{
	char route_if[IF_NAMESIZE];
	size_t n = strlen(host), i;

	if (n == 0 || n >= IF_NAMESIZE || strcmp(host, ".") == 0 || strcmp(host, "..") == 0)
		return psw_api_error(PSW_API_E_INVALID, "host_ifname '%s' is not an interface name "
				     "(1 to %d characters, not '.' or '..')", host, IF_NAMESIZE - 1);
	for (i = 0; i < n; i++)
		if (strchr("/:,=", host[i]) != NULL || !isgraph((unsigned char)host[i]))
			return psw_api_error(PSW_API_E_INVALID, "host_ifname '%s' holds '%c': an interface "
					     "name has no '/', ':', ',', '=', white space or control "
					     "characters", host, isgraph((unsigned char)host[i]) ? host[i] : '?');
	if (default_route_ifname(route_if) && strcmp(route_if, host) == 0)
		return psw_api_error(PSW_API_E_INVALID, "host_ifname '%s' is the node's default-route "
				     "interface; a pod's host end is a new veth the CNI plugin creates", host);
	if (if_nametoindex(host) != 0)
		return psw_api_error(PSW_API_E_EXISTS, "host_ifname '%s' is an existing interface of "
				     "the host; a pod's host end is a new veth the CNI plugin creates", host);
	return NULL;
}

/*
 * The kind of interface a new attachment asks for (psw_podif.h): the
 * request's own, else its Pod object's annotation (*iface NULL: neither,
 * the default applies); *source says which. An error when the annotation
 * is malformed, or when the request would wait for a Pod object not here.
 */
static json_t *
choose_interface(const struct psw_state *st, const struct psw_attachment *a, json_t *args,
		 const char **iface, const char **source)
{
	char msg[512];
	json_t *pod;

	*source = "request";
	if (*iface != NULL && (*iface)[0] != '\0')
		return NULL;
	*iface = NULL;
	*source = "default";
	pod = a->pod_name[0] != '\0' ? psw_k8s_find(st, "Pod", a->pod_namespace, a->pod_name) : NULL;
	if (pod == NULL) {
		if (json_is_true(json_object_get(args, "wait_for_pod")) && a->pod_name[0] != '\0')
			return psw_api_error(PSW_API_E_RETRY, "Pod %s/%s is not known to podswitch yet (its "
					     "interfaces may be chosen by its %s annotation)", a->pod_namespace,
					     a->pod_name, PSW_PODIF_ANNOTATION);
		return NULL;
	}
	switch (psw_podif_from_pod(pod, a->ifname, iface, msg, sizeof(msg))) {
	case 1:
		*source = "annotation";
		return NULL;
	case 0:
		return NULL;
	default:
		return psw_api_error(PSW_API_E_INVALID, "Pod %s/%s: %s", a->pod_namespace, a->pod_name, msg);
	}
}

/*
 * cni.add: record an attachment and give it addresses and a MAC. The plugin
 * then sets up the pod's side (kernel pods) and calls cni.attach.
 */
static json_t *
op_cni_add(struct psw_state *st, json_t *args)
{
	struct psw_attachment a;
	json_t *err = NULL, *res;
	const char *cid = arg_str(args, "container_id", sizeof(a.container_id), true, &err);
	const char *ifname = arg_str(args, "ifname", sizeof(a.ifname), true, &err);
	const char *netns = arg_str(args, "netns", sizeof(a.netns), false, &err);
	const char *pns = arg_str(args, "pod_namespace", sizeof(a.pod_namespace), false, &err);
	const char *pname = arg_str(args, "pod_name", sizeof(a.pod_name), false, &err);
	const char *network = arg_str(args, "network", sizeof(a.network), false, &err);
	const char *iface = arg_str(args, "interface", 32, false, &err);
	const char *dflt = arg_str(args, "default_interface", 32, false, &err);
	const char *host = arg_str(args, "host_ifname", sizeof(a.host_ifname), false, &err);
	const char *mac = arg_str(args, "mac", 18, false, &err);
	const char *source;
	int idx;

	if (err != NULL)
		return err;
	if (!safe_id(cid) || !safe_id(ifname))
		return psw_api_error(PSW_API_E_INVALID, "container_id and ifname may hold only "
				     "letters, digits, '.', '_' and '-'");
	idx = psw_state_find_attachment(st, cid, ifname);
	if (idx >= 0)                           /* a second ADD without a DEL: never a second address */
		return psw_api_error(PSW_API_E_EXISTS, "container %s already has interface %s (%s); "
				     "DEL it first", cid, ifname, st->atts[idx].port_name);
	if (nb_pods(st) >= st->cfg.limits.max_pods)
		return psw_api_error(PSW_API_E_NO_RESOURCES, "podswitch holds at most %u pods "
				     "(limits.pods); %u are attached or configured",
				     st->cfg.limits.max_pods, nb_pods(st));
	memset(&a, 0, sizeof(a));
	snprintf(a.network, sizeof(a.network), "%s", network ? network : "");
	snprintf(a.container_id, sizeof(a.container_id), "%s", cid);
	snprintf(a.ifname, sizeof(a.ifname), "%s", ifname);
	snprintf(a.netns, sizeof(a.netns), "%s", netns ? netns : "");
	snprintf(a.pod_namespace, sizeof(a.pod_namespace), "%s", pns && *pns ? pns : "default");
	snprintf(a.pod_name, sizeof(a.pod_name), "%s", pname ? pname : "");
	err = choose_interface(st, &a, args, &iface, &source);
	if (err != NULL)
		return err;
	/* the network a MultiNetworkPolicy knows it by: as Multus read the Pod's
	 * annotation for this ADD, not as the pod's owner may rewrite it later */
	if (strcmp(a.ifname, "eth0") != 0)
		psw_podif_network(a.pod_name[0] != '\0' ? psw_k8s_find(st, "Pod", a.pod_namespace, a.pod_name) : NULL,
				  a.pod_namespace, a.ifname, a.network, a.nad, sizeof(a.nad));
	if (iface == NULL)
		iface = dflt != NULL && dflt[0] != '\0' ? dflt : "kernel";
	if (parse_interface(iface, &a.kind) < 0)
		return psw_api_error(PSW_API_E_INVALID,
				     "interface '%s' is not one of kernel, vhost-user, memif", iface);
	if (a.kind == PSW_PORT_AFPACKET) {
		if (host == NULL || host[0] == '\0')
			return psw_api_error(PSW_API_E_INVALID, "a kernel interface needs 'host_ifname'");
		err = check_host_ifname(host);
		if (err != NULL)
			return err;
		snprintf(a.host_ifname, sizeof(a.host_ifname), "%s", host);
	} else if (psw_poddir_wanted(st, &a)) {
		/* in the pod's own directory (psw_poddir.h): one per pod and interface */
		char msg[PSW_ERR_MAX];
		unsigned i;

		if (psw_poddir_socket(st, &a, msg, sizeof(msg)) < 0)
			return psw_api_error(PSW_API_E_INVALID, "%s", msg);
		/* the holder named: this pod from another sandbox, or one whose names hash alike */
		for (i = 0; i < st->nb_atts; i++)
			if (strcmp(st->atts[i].socket, a.socket) == 0)
				return psw_api_error(PSW_API_E_EXISTS, "pod %s/%s already has interface %s "
						     "(container %s); DEL it first", st->atts[i].pod_namespace,
						     st->atts[i].pod_name, ifname, st->atts[i].container_id);
	} else {
		int n = snprintf(a.socket, sizeof(a.socket), "%s/%.12s-%s.%s", st->cfg.api.sockets_dir,
				 cid, ifname, a.kind == PSW_PORT_VHOST ? "sock" : "memif");

		if (n < 0 || (size_t)n >= sizeof(a.socket))
			return psw_api_error(PSW_API_E_INVALID, "socket path for %s/%s is too long", cid,
					     ifname);
	}
	snprintf(a.port_name, sizeof(a.port_name), "cni-%.24s-%s", cid, ifname);
	if (psw_port_find(a.port_name) >= 0)
		return psw_api_error(PSW_API_E_EXISTS, "port %s already exists", a.port_name);
	if (mac != NULL && (psw_parse_mac(mac, a.mac) < 0 || (a.mac[0] & 1) ||
			    memcmp(a.mac, "\0\0\0\0\0\0", 6) == 0))
		return psw_api_error(PSW_API_E_INVALID, "mac '%s' is not a unicast MAC address", mac);
	if (mac != NULL && mac_in_use(st, a.mac))
		return psw_api_error(PSW_API_E_EXISTS, "mac %s is already in use", mac);
	a.ipam_external = json_is_true(json_object_get(args, "ipam_external"));
	err = requested_ips(args, &a);
	if (err != NULL)
		return err;
	if (a.ipam_external && !a.has_ip4 && !a.has_ip6)
		return psw_api_error(PSW_API_E_INVALID, "ipam_external needs the addresses in 'ips'");
	if (a.ipam_external && ip_taken_elsewhere(st, &a))
		return psw_api_error(PSW_API_E_EXISTS, "an address in 'ips' is already in use");
	err = assign_ips(st, &a, a.has_ip4 || a.has_ip6);
	if (err != NULL)
		return err;
	if (mac == NULL) {
		/* 02:50 + the IPv4 address, unless a requested MAC took it */
		uint8_t derived[6] = { 0x02, 0x50 };
		char seed[sizeof(a.container_id) + sizeof(a.ifname) + 1];

		memcpy(derived + 2, a.has_ip4 ? a.ip4 : a.ip6 + 12, 4);
		snprintf(seed, sizeof(seed), "%s/%s", a.container_id, a.ifname);
		if (psw_mac_pick(derived, seed, mac_taken, st, a.mac) < 0) {
			release_ips(st, &a);
			return psw_api_error(PSW_API_E_NO_RESOURCES, "no free MAC address for %s/%s after "
					     "%u candidates; pass 'mac' explicitly", a.container_id,
					     a.ifname, PSW_MAC_TRIES);
		}
	}
	a.created = (uint64_t)time(NULL);
	idx = psw_state_add_attachment(st, &a);
	if (idx < 0) {
		release_ips(st, &a);
		return psw_api_error(PSW_API_E_INTERNAL, "out of memory");
	}
	psw_state_log(st, &st->atts[idx], false);
	res = add_result(st, &st->atts[idx]);
	json_object_set_new(res, "interface", json_string(a.kind == PSW_PORT_AFPACKET ? "kernel" :
							  psw_port_kind_name(a.kind)));
	json_object_set_new(res, "interface_from", json_string(source));
	return psw_api_ok(res);
}

static int
find_args(struct psw_state *st, json_t *args, json_t **err)
{
	const char *cid = arg_str(args, "container_id", 128, true, err);
	const char *ifname = arg_str(args, "ifname", PSW_IFNAME_MAX, true, err);

	if (*err != NULL)
		return -1;
	return psw_state_find_attachment(st, cid, ifname);
}

static json_t *
op_cni_attach(struct psw_state *st, json_t *args)
{
	json_t *err = NULL;
	char msg[PSW_ERR_MAX];
	int idx = find_args(st, args, &err);

	if (err != NULL)
		return err;
	if (idx < 0)
		return psw_api_error(PSW_API_E_NOT_FOUND, "no attachment %s/%s: call cni.add first",
				     json_string_value(json_object_get(args, "container_id")),
				     json_string_value(json_object_get(args, "ifname")));
	if (psw_state_attach(st, (unsigned)idx, msg, sizeof(msg)) < 0)
		return psw_api_error(PSW_API_E_NO_RESOURCES, "%s", msg);
	psw_state_log(st, &st->atts[idx], false);
	return psw_api_ok(add_result(st, &st->atts[idx]));
}

/*
 * A removed attachment's host end name (att, its JSON) that another
 * attachment has now (its veth went with its namespace, and a pod whose
 * name hashes the same took it) is not given to the plugin to delete.
 */
static void
host_still_held(const struct psw_state *st, json_t *att)
{
	const char *host = json_string_value(json_object_get(att, "host_ifname"));
	unsigned i;

	for (i = 0; host != NULL && host[0] != '\0' && i < st->nb_atts; i++)
		if (strcmp(st->atts[i].host_ifname, host) == 0) {
			json_object_set_new(att, "host_ifname", json_string(""));
			return;
		}
}

static json_t *
op_cni_del(struct psw_state *st, json_t *args)
{
	json_t *err = NULL, *res;
	struct psw_attachment gone;
	char msg[PSW_ERR_MAX];
	int idx = find_args(st, args, &err);

	if (err != NULL)
		return err;
	if (idx < 0)
		return psw_api_ok(json_pack("{s:b}", "removed", 0));
	res = json_pack("{s:b, s:o}", "removed", 1, "attachment", attachment_json(st, &st->atts[idx]));
	gone = st->atts[idx];
	if (psw_state_remove_attachment(st, (unsigned)idx, msg, sizeof(msg)) < 0) {
		json_decref(res);
		return psw_api_error(PSW_API_E_INTERNAL, "cannot remove %s: %s (nothing changed)",
				     st->atts[idx].port_name, msg);
	}
	psw_state_log(st, &gone, true);
	host_still_held(st, json_object_get(res, "attachment"));
	return psw_api_ok(res);
}

static json_t *
op_cni_check(struct psw_state *st, json_t *args)
{
	json_t *err = NULL, *res;
	int idx = find_args(st, args, &err), port;

	if (err != NULL)
		return err;
	if (idx < 0)
		return psw_api_error(PSW_API_E_NOT_FOUND, "podswitch has no attachment %s/%s",
				     json_string_value(json_object_get(args, "container_id")),
				     json_string_value(json_object_get(args, "ifname")));
	res = attachment_json(st, &st->atts[idx]);
	port = psw_port_find(st->atts[idx].port_name);
	json_object_set_new(res, "port_present", json_boolean(port >= 0));
	json_object_set_new(res, "result", add_result(st, &st->atts[idx]));
	return psw_api_ok(res);
}

static json_t *
op_cni_gc(struct psw_state *st, json_t *args)
{
	json_t *valid = json_object_get(args, "valid"), *v, *removed = json_array();
	const char *network = json_string_value(json_object_get(args, "network"));
	char msg[PSW_ERR_MAX];
	size_t k;
	unsigned i;

	if (!json_is_array(valid)) {
		json_decref(removed);
		return psw_api_error(PSW_API_E_INVALID,
				     "argument 'valid' must be a list of {container_id, ifname}");
	}
	json_array_foreach(valid, k, v) {
		if (!json_is_string(json_object_get(v, "container_id")) ||
		    !json_is_string(json_object_get(v, "ifname"))) {
			json_decref(removed);
			return psw_api_error(PSW_API_E_INVALID,
					     "valid[%zu] needs string container_id and ifname", k);
		}
	}
	psw_state_take_releases(st);            /* DELs recorded while the switch was away */
	for (i = 0; i < st->nb_atts;) {
		const struct psw_attachment *a = &st->atts[i];
		bool keep = false;

		/* GC of one network leaves the attachments of others alone */
		keep = network != NULL && a->network[0] != '\0' && strcmp(network, a->network) != 0;
		json_array_foreach(valid, k, v)
			if (strcmp(json_string_value(json_object_get(v, "container_id")), a->container_id) == 0 &&
			    strcmp(json_string_value(json_object_get(v, "ifname")), a->ifname) == 0)
				keep = true;
		if (keep) {
			i++;
			continue;
		}
		json_array_append_new(removed, attachment_json(st, a));
		if (psw_state_remove_attachment(st, i, msg, sizeof(msg)) < 0) {   /* swaps the last into i */
			json_array_remove(removed, json_array_size(removed) - 1);
			psw_state_save(st);
			json_decref(removed);
			return psw_api_error(PSW_API_E_INTERNAL, "GC stopped: %s", msg);
		}
	}
	json_array_foreach(removed, k, v)
		host_still_held(st, v);
	if (json_array_size(removed) > 0)
		psw_state_save(st);
	return psw_api_ok(json_pack("{s:o}", "removed", removed));
}

/* ------------------------------------------------- Kubernetes objects */

/* Did an answer of the store change anything (an action other than "unchanged")? */
static bool
changed_anything(json_t *res)
{
	json_t *result = json_object_get(res, "result"), *list, *o;
	const char *k;
	size_t i;

	json_object_foreach(result, k, list)
		json_array_foreach(list, i, o)
			if (json_is_object(o) &&
			    strcmp(json_string_value(json_object_get(o, "action")) ?: "", "unchanged") != 0)
				return true;
	return !json_is_object(result);      /* an answer of another shape: assume so */
}

/* Stored by the Kubernetes store, then through the pipeline; a failure puts the store back. */
static json_t *
k8s_change(struct psw_state *st, json_t *args,
	   json_t *(*store)(struct psw_state *, json_t *, struct psw_change *))
{
	struct psw_change ch;
	char msg[PSW_ERR_MAX];
	json_t *res;
	int rc;

	psw_change_init(&ch);
	res = store(st, args, &ch);
	if (json_is_true(json_object_get(res, "ok")) && (rc = psw_pipeline_commit(st, &ch, msg, sizeof(msg))) < 0) {
		json_decref(res);
		res = psw_api_error(rc == -ENOMEM || rc == -ENOSPC ? PSW_API_E_NO_RESOURCES : PSW_API_E_INVALID,
				    "%s (nothing was changed)", msg);
	} else if (json_is_true(json_object_get(res, "ok")) && changed_anything(res)) {
		/* in force now; kept for the next start (a Node's heartbeat, trimmed
		 * to what the switch keeps, comes as unchanged: no write) */
		psw_objects_save(st);
	}
	psw_change_fini(&ch);
	return res;
}

static json_t *
op_apply(struct psw_state *st, json_t *args)
{
	return k8s_change(st, args, psw_k8s_apply);
}

static json_t *
op_delete(struct psw_state *st, json_t *args)
{
	return k8s_change(st, args, psw_k8s_delete);
}

static json_t *
op_replace(struct psw_state *st, json_t *args)
{
	return k8s_change(st, args, psw_k8s_replace);
}

/* ------------------------------------------------------------------- dispatch */

struct op {
	const char *name;
	json_t *(*fn)(struct psw_state *st, json_t *args);
};

static const struct op ops[] = {
	{ "version", op_version },
	{ "status", op_status },
	{ "stats", op_stats },
	{ "get", op_get },
	{ "apply", op_apply },
	{ "explain", psw_netpol_explain },
	{ "delete", op_delete },
	{ "replace", op_replace },
	{ "agent.report", op_agent_report },
	{ "cni.add", op_cni_add },
	{ "cni.attach", op_cni_attach },
	{ "cni.del", op_cni_del },
	{ "cni.check", op_cni_check },
	{ "cni.gc", op_cni_gc },
	{ "capture.start", psw_capture_op_start },
	{ "capture.read", psw_capture_op_read },
	{ "capture.stop", psw_capture_op_stop },
	{ "trace.start", psw_trace_op_start },
	{ "trace.poll", psw_trace_op_poll },
	{ "trace.stop", psw_trace_op_stop },
};

json_t *
psw_api_dispatch(struct psw_state *st, const char *op, json_t *args)
{
	unsigned i;

	for (i = 0; i < RTE_DIM(ops); i++)
		if (strcmp(ops[i].name, op) == 0)
			return ops[i].fn(st, args);
	return psw_api_error(PSW_API_E_UNKNOWN_OP, "unknown operation '%s'", op);
}
