/*
 * The list sections of the configuration: `ports` (per-kind keys), static
 * `pods` and static `routes`, with the checks that relate entries to each
 * other and to the node section parsed before them (psw_config.c).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "psw_config_priv.h"

static const char *const port_keys[] = {
	"name", "kind", "mac", "mtu", "node", "pci", "rx_queues", "rss", "socket", "client",
	"queues", "id", "ifname", "rx_pcap", "tx_pcap", "uplink", NULL
};

/* Keys every kind has, then those of each kind. */
static const char *const common_keys[] = { "name", "kind", "mac", "mtu", "node", "uplink", NULL };
static const char *const *const kind_keys[PSW_PORT_KIND_COUNT] = {
	[PSW_PORT_NIC] = (const char *const[]){ "pci", "rx_queues", "rss", NULL },
	[PSW_PORT_VHOST] = (const char *const[]){ "socket", "client", "queues", NULL },
	[PSW_PORT_MEMIF] = (const char *const[]){ "socket", "id", NULL },
	[PSW_PORT_KERNEL] = (const char *const[]){ "ifname", NULL },
	[PSW_PORT_AFPACKET] = (const char *const[]){ "ifname", NULL },
	[PSW_PORT_RING] = (const char *const[]){ NULL },
	[PSW_PORT_PCAP] = (const char *const[]){ "rx_pcap", "tx_pcap", NULL },
	[PSW_PORT_NULL] = (const char *const[]){ NULL },
};

static const char *const pod_keys[] = { "name", "namespace", "port", "mac", "ip", "ip6", NULL };
static const char *const route_keys[] = { "prefix", "port", "mac", "via", NULL };

static bool in_list(const char *const *list, const char *name)
{
	for (; *list != NULL; list++)
		if (strcmp(*list, name) == 0)
			return true;
	return false;
}

/* 1..63 characters of [A-Za-z0-9._-]. */
static bool valid_name(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len >= PSW_NAME_MAX)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '.' || *s == '_' || *s == '-'))
			return false;
	return true;
}

/* A required name-like member (name, namespace, port) into out. */
static int get_name(struct psw_cfg_ctx *ctx, const config_setting_t *grp, const char *gpath,
		    const char *key, bool required, char out[PSW_NAME_MAX])
{
	char path[PSW_CFG_PATH_MAX];
	const char *v;
	int rc;

	if (required && psw_cfg_require(ctx, grp, gpath, key, NULL) < 0)
		return -EINVAL;
	rc = psw_cfg_opt_str(ctx, grp, gpath, key, 1, PSW_NAME_MAX - 1, &v);
	if (rc <= 0)
		return rc;
	psw_cfg_path(path, sizeof(path), gpath, key);
	if (!valid_name(v))
		return psw_cfg_fail(ctx, psw_cfg_member(grp, key), "%s '%s' may hold only letters, "
				    "digits, '.', '_' and '-'", path, v);
	psw_cfg_copy(out, PSW_NAME_MAX, v);
	return 1;
}

/* Exactly n hex digits at *p, advancing it. */
static bool hex_field(const char **p, unsigned n, unsigned *out)
{
	unsigned v = 0;

	for (unsigned i = 0; i < n; i++, (*p)++) {
		char c = **p;

		if (c >= '0' && c <= '9')
			v = v * 16 + (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v * 16 + (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v = v * 16 + (unsigned)(c - 'A' + 10);
		else
			return false;
	}
	*out = v;
	return true;
}

/* "DDDD:BB:DD.F" or "BB:DD.F" into the full, lower-case form. */
static int parse_pci(const char *s, char out[32])
{
	unsigned domain = 0, bus, dev, fn;
	const char *p = s;

	if (strlen(s) == 12) {
		if (!hex_field(&p, 4, &domain) || *p++ != ':')
			return -EINVAL;
	} else if (strlen(s) != 7) {
		return -EINVAL;
	}
	if (!hex_field(&p, 2, &bus) || *p++ != ':' || !hex_field(&p, 2, &dev) ||
	    *p++ != '.' || !hex_field(&p, 1, &fn) || *p != '\0' || dev > 0x1f || fn > 7)
		return -EINVAL;
	snprintf(out, 32, "%04x:%02x:%02x.%x", domain, bus, dev, fn);
	return 0;
}

/* The port's kind; its keys must all belong to it. */
static int port_kind(struct psw_cfg_ctx *ctx, const config_setting_t *s, const char *path,
		     enum psw_port_kind *kind)
{
	const config_setting_t *k = psw_cfg_member(s, "kind");
	char kpath[PSW_CFG_PATH_MAX];
	unsigned i;
	const char *v;
	int nb;

	if (psw_cfg_require(ctx, s, path, "kind", "one of nic, vhost-user, memif, kernel, "
			    "af_packet, ring, pcap, null") < 0)
		return -EINVAL;
	psw_cfg_path(kpath, sizeof(kpath), path, "kind");
	if (psw_cfg_str(ctx, k, kpath, 0, PSW_CFG_TEXT_MAX, &v) < 0)
		return -EINVAL;
	for (i = 0; i < PSW_PORT_KIND_COUNT; i++)
		if (strcmp(v, psw_port_kind_name((enum psw_port_kind)i)) == 0)
			break;
	if (i == PSW_PORT_KIND_COUNT)
		return psw_cfg_fail(ctx, k, "%s '%s' is not a port kind; use one of nic, "
				    "vhost-user, memif, kernel, af_packet, ring, pcap, null", kpath, v);
	*kind = (enum psw_port_kind)i;

	nb = config_setting_length(s);
	for (int m = 0; m < nb; m++) {
		const config_setting_t *member = config_setting_get_elem(s, (unsigned)m);
		const char *name = config_setting_name(member);
		char list[128] = "";
		size_t used = 0;

		if (in_list(common_keys, name) || in_list(kind_keys[i], name))
			continue;
		for (const char *const *key = common_keys; *key; key++)
			used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s",
						 used ? ", " : "", *key);
		for (const char *const *key = kind_keys[i]; *key && used < sizeof(list); key++)
			used += (size_t)snprintf(list + used, sizeof(list) - used, ", %s", *key);
		return psw_cfg_fail(ctx, member, "%s.%s: '%s' is not a key of a '%s' port; "
				    "its keys are: %s", path, name, name, v, list);
	}
	return 0;
}

static int port_ifname(struct psw_cfg_ctx *ctx, const config_setting_t *s, const char *path,
		       struct psw_port_conf *port)
{
	char ipath[PSW_CFG_PATH_MAX];
	const char *v;

	if (psw_cfg_require(ctx, s, path, "ifname", "the Linux interface name") < 0 ||
	    psw_cfg_opt_str(ctx, s, path, "ifname", 1, PSW_IFNAME_MAX - 1, &v) < 0)
		return -EINVAL;
	psw_cfg_path(ipath, sizeof(ipath), path, "ifname");
	if (strcmp(v, ".") == 0 || strcmp(v, "..") == 0 || strpbrk(v, "/: \t\n\r\v\f") != NULL)
		return psw_cfg_fail(ctx, psw_cfg_member(s, "ifname"), "%s '%s' is not a valid "
				    "interface name (no '/', ':' or spaces; not '.' or '..')",
				    ipath, v);
	psw_cfg_copy(port->ifname, sizeof(port->ifname), v);
	return 0;
}

/* The keys that only some kinds have. */
static int port_kind_keys(struct psw_cfg_ctx *ctx, const config_setting_t *s, const char *path,
			  struct psw_port_conf *port)
{
	const char *v = NULL, *tx = NULL;
	long long n;
	int rc;

	switch (port->kind) {
	case PSW_PORT_NIC:
		if (psw_cfg_require(ctx, s, path, "pci", "its PCI address, e.g. 0000:03:00.0") < 0 ||
		    psw_cfg_opt_str(ctx, s, path, "pci", 0, PSW_CFG_TEXT_MAX, &v) < 0)
			return -EINVAL;
		if (parse_pci(v, port->pci) < 0)
			return psw_cfg_fail(ctx, psw_cfg_member(s, "pci"), "%s.pci '%s' is not a PCI "
					    "address; write DDDD:BB:DD.F or BB:DD.F in hex, e.g. "
					    "0000:03:00.0", path, v);
		n = 0;
		if (psw_cfg_opt_int(ctx, s, path, "rx_queues", 0, 16, &n) < 0)
			return -EINVAL;
		port->nb_rx_queues = (uint16_t)n;
		port->rss = true;
		return psw_cfg_opt_bool(ctx, s, path, "rss", &port->rss) < 0 ? -EINVAL : 0;
	case PSW_PORT_VHOST:
	case PSW_PORT_MEMIF:
		if (psw_cfg_require(ctx, s, path, "socket", "an absolute path for its Unix "
				    "socket") < 0 ||
		    psw_cfg_opt_socket(ctx, s, path, "socket", &v) < 0)
			return -EINVAL;
		psw_cfg_copy(port->socket, sizeof(port->socket), v);
		if (port->kind == PSW_PORT_MEMIF) {
			n = 0;
			rc = psw_cfg_opt_int(ctx, s, path, "id", 0, UINT32_MAX, &n);
			port->memif_id = (uint32_t)n;
			return rc < 0 ? -EINVAL : 0;
		}
		n = 1;
		if (psw_cfg_opt_bool(ctx, s, path, "client", &port->client) < 0 ||
		    psw_cfg_opt_int(ctx, s, path, "queues", 1, 16, &n) < 0)
			return -EINVAL;
		port->queues = (uint16_t)n;
		return 0;
	case PSW_PORT_KERNEL:
	case PSW_PORT_AFPACKET:
		return port_ifname(ctx, s, path, port);
	case PSW_PORT_PCAP:
		if (psw_cfg_opt_str(ctx, s, path, "rx_pcap", 1, sizeof(port->rx_pcap) - 1, &v) < 0 ||
		    psw_cfg_opt_str(ctx, s, path, "tx_pcap", 1, sizeof(port->tx_pcap) - 1, &tx) < 0)
			return -EINVAL;
		if (v == NULL && tx == NULL)
			return psw_cfg_fail(ctx, s, "%s: a pcap port needs rx_pcap, tx_pcap or both",
					    path);
		if (v != NULL)
			psw_cfg_copy(port->rx_pcap, sizeof(port->rx_pcap), v);
		if (tx != NULL)
			psw_cfg_copy(port->tx_pcap, sizeof(port->tx_pcap), tx);
		return 0;
	default:
		return 0;
	}
}

/* The key whose value port b shares with port a (value set), or NULL. */
static const char *port_clash(const struct psw_port_conf *a, const struct psw_port_conf *b,
			      const char **value)
{
	static const struct {
		const char *key;
		size_t offset;
	} keys[] = {
		{ "name", offsetof(struct psw_port_conf, name) },
		{ "pci", offsetof(struct psw_port_conf, pci) },
		{ "socket", offsetof(struct psw_port_conf, socket) },
		{ "ifname", offsetof(struct psw_port_conf, ifname) },
	};

	for (unsigned i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *va = (const char *)a + keys[i].offset;
		const char *vb = (const char *)b + keys[i].offset;

		if (vb[0] != '\0' && strcmp(va, vb) == 0) {
			/* memif interfaces share a socket; the id tells them apart */
			if (strcmp(keys[i].key, "socket") == 0 && a->kind == PSW_PORT_MEMIF &&
			    b->kind == PSW_PORT_MEMIF && a->memif_id != b->memif_id)
				continue;
			*value = vb;
			return keys[i].key;
		}
	}
	return NULL;
}

/* Names, PCI addresses, sockets (memif: socket and id) and interface names are each used once. */
static int port_unique(struct psw_cfg_ctx *ctx, const config_setting_t *s, const char *path,
		       const struct psw_port_conf *port)
{
	const struct psw_config *cfg = ctx->cfg;

	if (port->socket[0] && strcmp(port->socket, cfg->api.socket) == 0)
		return psw_cfg_fail(ctx, psw_cfg_member(s, "socket"), "%s.socket '%s' is the API "
				    "socket (api.socket); give the port its own", path, port->socket);
	for (const struct psw_port_conf *o = cfg->ports; o < port; o++) {
		const char *value, *key = port_clash(o, port, &value);

		if (key != NULL)
			return psw_cfg_fail(ctx, psw_cfg_member(s, key), "%s.%s '%s' is already used "
					    "by port '%s' (line %d)", path, key, value, o->name,
					    o->line);
	}
	return 0;
}

static int parse_port(struct psw_cfg_ctx *ctx, const config_setting_t *s, const char *path,
		      struct psw_port_conf *port)
{
	long long mtu = 0;
	int rc;

	if (psw_cfg_check_keys(ctx, s, path, port_keys) < 0 ||
	    get_name(ctx, s, path, "name", true, port->name) < 0 ||
	    port_kind(ctx, s, path, &port->kind) < 0)
		return -EINVAL;
	port->line = (int)config_setting_source_line(s);
	rc = psw_cfg_opt_mac(ctx, s, path, "mac", port->mac);
	if (rc < 0)
		return rc;
	port->has_mac = rc > 0;
	if (psw_cfg_opt_int(ctx, s, path, "mtu", 68, 9600, &mtu) < 0)
		return -EINVAL;
	port->mtu = (uint16_t)mtu;
	if (psw_cfg_opt_bool(ctx, s, path, "node", &port->node) < 0 ||
	    psw_cfg_opt_bool(ctx, s, path, "uplink", &port->uplink) < 0)
		return -EINVAL;
	if (port->uplink && port->kind == PSW_PORT_MEMIF)
		return psw_cfg_fail(ctx, psw_cfg_member(s, "uplink"), "%s: a %s port cannot be an "
				    "uplink; an uplink is a nic, af_packet, kernel or vhost-user port", path,
				    psw_port_kind_name(port->kind));
	/* a vhost-user port has no MAC of its own: the one made from its slot
	 * would be the same on every node of a segment */
	if (port->uplink && port->kind == PSW_PORT_VHOST && !port->has_mac)
		return psw_cfg_fail(ctx, psw_cfg_member(s, "uplink"), "%s: a vhost-user uplink needs "
				    "its own mac (the node's on that link)", path);
	if (port->uplink && port->node)
		return psw_cfg_fail(ctx, psw_cfg_member(s, "uplink"), "%s: a port is the node's own "
				    "stack (node = true) or an uplink, not both", path);
	if (port_kind_keys(ctx, s, path, port) < 0)
		return -EINVAL;
	return port_unique(ctx, s, path, port);
}

/* A list of groups: `NAME = ( { ... }, ... );`, or empty. */
static int check_list(struct psw_cfg_ctx *ctx, const config_setting_t *list, const char *name)
{
	if (config_setting_is_list(list) ||
	    (config_setting_is_array(list) && config_setting_length(list) == 0))
		return 0;
	return psw_cfg_fail(ctx, list, "%s must be a list of groups: %s = ( { ... }, { ... } );",
			    name, name);
}

int psw_cfg_parse_ports(struct psw_cfg_ctx *ctx, const config_setting_t *list)
{
	struct psw_config *cfg = ctx->cfg;
	char path[PSW_CFG_PATH_MAX];
	int nb;

	if (list == NULL)
		return 0;
	if (check_list(ctx, list, "ports") < 0)
		return -EINVAL;
	nb = config_setting_length(list);
	for (int i = 0; i < nb; i++) {
		const config_setting_t *s = config_setting_get_elem(list, (unsigned)i);

		psw_cfg_path_index(path, sizeof(path), "ports", (unsigned)i);
		if (i >= PSW_MAX_CFG_PORTS)
			return psw_cfg_fail(ctx, s, "%s: too many ports; at most %d are supported",
					    path, PSW_MAX_CFG_PORTS);
		if (parse_port(ctx, s, path, &cfg->ports[i]) < 0)
			return -EINVAL;
		cfg->nb_ports = (unsigned)i + 1;
	}
	return 0;
}

static const struct psw_port_conf *find_port(const struct psw_config *cfg, const char *name)
{
	for (unsigned i = 0; i < cfg->nb_ports; i++)
		if (strcmp(cfg->ports[i].name, name) == 0)
			return &cfg->ports[i];
	return NULL;
}

/* The required `port` member naming a configured port. */
static int ref_port(struct psw_cfg_ctx *ctx, const config_setting_t *s, const char *path,
		    char out[PSW_NAME_MAX])
{
	const struct psw_config *cfg = ctx->cfg;
	char list[256] = "";
	size_t used = 0;

	if (get_name(ctx, s, path, "port", true, out) < 0)
		return -EINVAL;
	if (find_port(cfg, out) != NULL)
		return 0;
	for (unsigned i = 0; i < cfg->nb_ports && used < sizeof(list); i++)
		used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s",
					 i ? ", " : "", cfg->ports[i].name);
	return psw_cfg_fail(ctx, psw_cfg_member(s, "port"), "%s.port '%s' is not a port in "
			    "`ports` (%s%s)", path, out, cfg->nb_ports ? "known ports: " :
			    "there are none", list);
}

static int pod_ip4(struct psw_cfg_ctx *ctx, const config_setting_t *s, const char *path,
		   struct psw_pod_conf *pod)
{
	const struct psw_prefix *cidr = &ctx->cfg->node.pod_cidr;
	const config_setting_t *at = psw_cfg_member(s, "ip");
	char ip[64], text[64];
	uint8_t addr[16];
	const char *why = NULL;
	int rc;

	rc = psw_cfg_opt_ip(ctx, s, path, "ip", 4, addr);
	if (rc <= 0)
		return rc;
	psw_cfg_ip_str(4, addr, ip, sizeof(ip));
	psw_prefix_str(cidr, text, sizeof(text));
	if (!psw_prefix_contains(cidr, addr))
		why = "is outside node.pod_cidr";
	else if (memcmp(addr, ctx->cfg->node.gateway, 4) == 0)
		why = "is the node's gateway (node.gateway) in";
	else if (psw_cfg_host_bits_all(cidr, addr, false))
		why = "is the network address of";
	else if (psw_cfg_host_bits_all(cidr, addr, true))
		why = "is the broadcast address of";
	if (why != NULL)
		return psw_cfg_fail(ctx, at, "%s.ip %s %s %s", path, ip, why, text);
	pod->has_ip4 = true;
	memcpy(pod->ip4, addr, 4);
	return 0;
}

static int pod_ip6(struct psw_cfg_ctx *ctx, const config_setting_t *s, const char *path,
		   struct psw_pod_conf *pod)
{
	const struct psw_prefix *cidr = &ctx->cfg->node.pod_cidr6;
	const config_setting_t *at = psw_cfg_member(s, "ip6");
	char ip[64], text[64];
	uint8_t addr[16];
	const char *why = NULL;
	int rc;

	if (at != NULL && cidr->family == 0)
		return psw_cfg_fail(ctx, at, "%s.ip6 is set but IPv6 is disabled (node.pod_cidr6 "
				    "is \"\"); remove it or set node.pod_cidr6", path);
	rc = psw_cfg_opt_ip(ctx, s, path, "ip6", 6, addr);
	if (rc <= 0)
		return rc;
	psw_cfg_ip_str(6, addr, ip, sizeof(ip));
	psw_prefix_str(cidr, text, sizeof(text));
	if (!psw_prefix_contains(cidr, addr))
		why = "is outside node.pod_cidr6";
	else if (memcmp(addr, ctx->cfg->node.gateway6, 16) == 0)
		why = "is the node's gateway (node.gateway6) in";
	else if (psw_cfg_host_bits_all(cidr, addr, false))
		why = "is the subnet-router anycast address of";
	if (why != NULL)
		return psw_cfg_fail(ctx, at, "%s.ip6 %s %s %s", path, ip, why, text);
	pod->has_ip6 = true;
	memcpy(pod->ip6, addr, 16);
	return 0;
}

/* Names, ports, MACs and addresses belong to one pod each. */
static int pod_unique(struct psw_cfg_ctx *ctx, const config_setting_t *s, const char *path,
		      const struct psw_pod_conf *pod)
{
	const struct psw_config *cfg = ctx->cfg;

	if (memcmp(pod->mac, cfg->node.gateway_mac, 6) == 0)
		return psw_cfg_fail(ctx, psw_cfg_member(s, "mac"), "%s.mac is the gateway's MAC "
				    "(node.gateway_mac); give the pod its own", path);
	for (const struct psw_pod_conf *o = cfg->pods; o < pod; o++) {
		const char *key = NULL;

		if (strcmp(o->name, pod->name) == 0 && strcmp(o->namespace_, pod->namespace_) == 0)
			key = "name";
		else if (strcmp(o->port, pod->port) == 0)
			key = "port";
		else if (memcmp(o->mac, pod->mac, 6) == 0)
			key = "mac";
		else if (pod->has_ip4 && o->has_ip4 && memcmp(o->ip4, pod->ip4, 4) == 0)
			key = "ip";
		else if (pod->has_ip6 && o->has_ip6 && memcmp(o->ip6, pod->ip6, 16) == 0)
			key = "ip6";
		if (key != NULL)
			return psw_cfg_fail(ctx, psw_cfg_member(s, key), "%s.%s is already used by "
					    "pod %s/%s (line %d)%s", path, key, o->namespace_,
					    o->name, o->line, strcmp(key, "port") == 0 ?
					    "; a port carries one pod" : "");
	}
	return 0;
}

static int parse_pod(struct psw_cfg_ctx *ctx, const config_setting_t *s, const char *path,
		     struct psw_pod_conf *pod)
{
	int rc;

	if (psw_cfg_check_keys(ctx, s, path, pod_keys) < 0 ||
	    get_name(ctx, s, path, "name", true, pod->name) < 0)
		return -EINVAL;
	pod->line = (int)config_setting_source_line(s);
	psw_cfg_copy(pod->namespace_, sizeof(pod->namespace_), "default");
	if (get_name(ctx, s, path, "namespace", false, pod->namespace_) < 0 ||
	    ref_port(ctx, s, path, pod->port) < 0 ||
	    psw_cfg_require(ctx, s, path, "mac", "the pod's unicast MAC") < 0)
		return -EINVAL;
	rc = psw_cfg_opt_mac(ctx, s, path, "mac", pod->mac);
	if (rc < 0 || pod_ip4(ctx, s, path, pod) < 0 || pod_ip6(ctx, s, path, pod) < 0)
		return -EINVAL;
	if (!pod->has_ip4 && !pod->has_ip6)
		return psw_cfg_fail(ctx, s, "%s needs an address: set ip, ip6 or both", path);
	return pod_unique(ctx, s, path, pod);
}

int psw_cfg_parse_pods(struct psw_cfg_ctx *ctx, const config_setting_t *list)
{
	struct psw_config *cfg = ctx->cfg;
	char path[PSW_CFG_PATH_MAX];
	int nb;

	if (list == NULL)
		return 0;
	if (check_list(ctx, list, "pods") < 0)
		return -EINVAL;
	nb = config_setting_length(list);
	if (nb == 0)
		return 0;
	if ((unsigned)nb > cfg->limits.max_pods)
		return psw_cfg_fail(ctx, list, "pods has %d entries, more than limits.max_pods (%u)",
				    nb, cfg->limits.max_pods);
	cfg->pods = calloc((size_t)nb, sizeof(*cfg->pods));
	if (cfg->pods == NULL) {
		psw_cfg_fail(ctx, list, "out of memory");
		return -ENOMEM;
	}
	for (int i = 0; i < nb; i++) {
		psw_cfg_path_index(path, sizeof(path), "pods", (unsigned)i);
		if (parse_pod(ctx, config_setting_get_elem(list, (unsigned)i), path,
			      &cfg->pods[i]) < 0)
			return -EINVAL;
		cfg->nb_pods = (unsigned)i + 1;
	}
	return 0;
}

/* routes[].port and mac, or via (an address to resolve) and an optional port. */
static int route_next_hop(struct psw_cfg_ctx *ctx, const config_setting_t *s, const char *path,
			  struct psw_route_conf *route)
{
	const config_setting_t *via = psw_cfg_member(s, "via");
	const char *v;

	if (via == NULL)
		return ref_port(ctx, s, path, route->port) < 0 ||
		       psw_cfg_require(ctx, s, path, "mac", "the next hop's MAC, or `via` its address") < 0 ||
		       psw_cfg_opt_mac(ctx, s, path, "mac", route->mac) < 0 ? -EINVAL : 0;
	if (psw_cfg_member(s, "mac") != NULL)
		return psw_cfg_fail(ctx, psw_cfg_member(s, "mac"), "%s: give the next hop's mac or "
				    "its address (via), not both", path);
	if (psw_cfg_member(s, "port") != NULL && ref_port(ctx, s, path, route->port) < 0)
		return -EINVAL;
	v = config_setting_get_string(via);
	if (v == NULL || psw_parse_ip(v, &route->via_family, route->via) < 0)
		return psw_cfg_fail(ctx, via, "%s.via must be the next hop's IPv4 or IPv6 address", path);
	if (route->via_family != route->prefix.family)
		return psw_cfg_fail(ctx, via, "%s.via %s is not of the prefix's family (IPv%u)", path, v,
				    route->prefix.family);
	if (route->via_family == 6 && (route->via[0] == 0xff || memcmp(route->via, (uint8_t[16]){ 0 }, 16) == 0))
		return psw_cfg_fail(ctx, via, "%s.via %s is not a unicast address", path, v);
	if (psw_config_node_addr(ctx->cfg, route->via_family, route->via) ||
	    (route->via_family == 4 && psw_prefix_contains(&ctx->cfg->node.pod_cidr, route->via)) ||
	    (route->via_family == 6 && psw_prefix_contains(&ctx->cfg->node.pod_cidr6, route->via)))
		return psw_cfg_fail(ctx, via, "%s.via %s is the node's own or a local pod's address; "
				    "give the next hop's", path, v);
	return 0;
}

static int parse_route(struct psw_cfg_ctx *ctx, const config_setting_t *s, const char *path,
		       struct psw_route_conf *route)
{
	const struct psw_config *cfg = ctx->cfg;
	char text[64];

	if (psw_cfg_check_keys(ctx, s, path, route_keys) < 0 ||
	    psw_cfg_require(ctx, s, path, "prefix", "e.g. \"10.245.0.0/24\"") < 0 ||
	    psw_cfg_opt_prefix(ctx, s, path, "prefix", 0, 0, 128, false, &route->prefix) < 0 ||
	    route_next_hop(ctx, s, path, route) < 0)
		return -EINVAL;
	route->line = (int)config_setting_source_line(s);
	for (const struct psw_route_conf *o = cfg->routes; o < route; o++)
		if (o->prefix.family == route->prefix.family && o->prefix.len == route->prefix.len &&
		    memcmp(o->prefix.addr, route->prefix.addr, 16) == 0)
			return psw_cfg_fail(ctx, psw_cfg_member(s, "prefix"), "%s.prefix %s is "
					    "already routed by the route at line %d", path,
					    psw_prefix_str(&route->prefix, text, sizeof(text)),
					    o->line);
	return 0;
}

/*
 * An uplink speaks for the node: it needs a node address to ask ARP from.
 * A route through an address with no port is resolved on the uplinks: there
 * must be one.
 */
int psw_cfg_check_uplinks(struct psw_cfg_ctx *ctx, const config_setting_t *ports,
			  const config_setting_t *routes)
{
	const struct psw_config *cfg = ctx->cfg;
	bool uplinks = false;
	unsigned i;

	for (i = 0; i < cfg->nb_ports; i++) {
		if (!cfg->ports[i].uplink)
			continue;
		uplinks = true;
		if (cfg->node.nb_addresses == 0 && !cfg->node.addresses_from_node)
			return psw_cfg_fail(ctx, config_setting_get_elem(ports, i), "ports[%u] '%s' is an "
					    "uplink: set node.addresses to the node's IPv4 address on it "
					    "(ARP asks from it), or node.addresses_from_node = true", i,
					    cfg->ports[i].name);
	}
	for (i = 0; i < cfg->nb_routes; i++) {
		const struct psw_route_conf *r = &cfg->routes[i];
		const struct psw_port_conf *port = find_port(cfg, r->port);

		if (r->via_family != 0 && r->port[0] == '\0' && !uplinks)
			return psw_cfg_fail(ctx, config_setting_get_elem(routes, i), "routes[%u]: via "
					    "without a port is resolved on the uplinks, and no port has "
					    "uplink = true; give its port", i);
		if (r->via_family != 0 && port != NULL && !port->uplink)
			return psw_cfg_fail(ctx, config_setting_get_elem(routes, i), "routes[%u].via: port "
					    "'%s' is not an uplink; next hops are resolved (ARP, ND) on uplinks "
					    "only: set uplink = true on it, or give the next hop's mac", i,
					    r->port);
	}
	return 0;
}

int psw_cfg_parse_routes(struct psw_cfg_ctx *ctx, const config_setting_t *list)
{
	struct psw_config *cfg = ctx->cfg;
	char path[PSW_CFG_PATH_MAX];
	int nb;

	if (list == NULL)
		return 0;
	if (check_list(ctx, list, "routes") < 0)
		return -EINVAL;
	nb = config_setting_length(list);
	if (nb == 0)
		return 0;
	if ((unsigned)nb > cfg->limits.max_routes)
		return psw_cfg_fail(ctx, list, "routes has %d entries, more than limits.max_routes "
				    "(%u)", nb, cfg->limits.max_routes);
	cfg->routes = calloc((size_t)nb, sizeof(*cfg->routes));
	if (cfg->routes == NULL) {
		psw_cfg_fail(ctx, list, "out of memory");
		return -ENOMEM;
	}
	for (int i = 0; i < nb; i++) {
		psw_cfg_path_index(path, sizeof(path), "routes", (unsigned)i);
		if (parse_route(ctx, config_setting_get_elem(list, (unsigned)i), path,
				&cfg->routes[i]) < 0)
			return -EINVAL;
		cfg->nb_routes = (unsigned)i + 1;
	}
	return 0;
}
