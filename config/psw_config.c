/*
 * The startup configuration: reads libconfig text, fills in the defaults and
 * validates the scalar sections (eal, workers, node, api, limits) here; the
 * ports, pods and routes lists are in psw_config_ports.c, the typed accessors
 * in psw_config_value.c, the address helpers in psw_config_net.c.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "psw_config.h"
#include "psw_config_priv.h"

#define MAX_FILE_SIZE (16u << 20)

static const char *const kind_names[PSW_PORT_KIND_COUNT] = {
	[PSW_PORT_NIC] = "nic",
	[PSW_PORT_VHOST] = "vhost-user",
	[PSW_PORT_MEMIF] = "memif",
	[PSW_PORT_KERNEL] = "kernel",
	[PSW_PORT_AFPACKET] = "af_packet",
	[PSW_PORT_RING] = "ring",
	[PSW_PORT_PCAP] = "pcap",
	[PSW_PORT_NULL] = "null",
};

const char *psw_port_kind_name(enum psw_port_kind kind)
{
	if ((unsigned)kind >= PSW_PORT_KIND_COUNT)
		return NULL;
	return kind_names[kind];
}

/* ---- CPUs ---- */

/*
 * The CPUs this process may use, read once: the first configuration is
 * loaded before DPDK pins the control thread to one CPU, and a reload later
 * must judge worker CPUs against the process's mask, not that pinned one.
 */
static void load_cpus(struct psw_cfg_ctx *ctx)
{
	static cpu_set_t process_cpus;
	static bool have_process_cpus;

	if (!have_process_cpus) {
		CPU_ZERO(&process_cpus);
		if (sched_getaffinity(0, sizeof(process_cpus), &process_cpus) != 0) {
			long n = sysconf(_SC_NPROCESSORS_ONLN);

			for (long i = 0; i < n && i < CPU_SETSIZE; i++)
				CPU_SET((int)i, &process_cpus);
		}
		have_process_cpus = true;
	}
	ctx->cpus = process_cpus;
	ctx->nb_cpus = (unsigned)CPU_COUNT(&ctx->cpus);
}

static bool cpu_usable(const struct psw_cfg_ctx *ctx, long long cpu)
{
	return cpu >= 0 && cpu < CPU_SETSIZE && CPU_ISSET((int)cpu, &ctx->cpus);
}

/* The usable CPUs as "0-3,6". */
static const char *cpus_str(const struct psw_cfg_ctx *ctx, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (int cpu = 0; cpu < CPU_SETSIZE && used < len; cpu++) {
		int last = cpu;

		if (!cpu_usable(ctx, cpu))
			continue;
		while (cpu_usable(ctx, last + 1))
			last++;
		if (last == cpu)
			used += (size_t)snprintf(buf + used, len - used, "%s%d", used ? "," : "", cpu);
		else
			used += (size_t)snprintf(buf + used, len - used, "%s%d-%d", used ? "," : "",
						 cpu, last);
		cpu = last;
	}
	return buf;
}

static int parse_cpu(struct psw_cfg_ctx *ctx, const config_setting_t *s, const char *path,
		     int *out)
{
	char list[128];
	long long v;

	if (psw_cfg_int(ctx, s, path, 0, INT_MAX, &v) < 0)
		return -EINVAL;
	if (!cpu_usable(ctx, v))
		return psw_cfg_fail(ctx, s, "%s: CPU %lld is not online or not in this process's "
				    "CPU affinity; usable CPUs: %s", path, v,
				    cpus_str(ctx, list, sizeof(list)));
	*out = (int)v;
	return 0;
}

static int first_usable_cpu(const struct psw_cfg_ctx *ctx, int except)
{
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
		if (cpu != except && cpu_usable(ctx, cpu))
			return cpu;
	return -1;
}

/* ---- defaults ---- */

static void set_defaults(struct psw_cfg_ctx *ctx)
{
	struct psw_config *cfg = ctx->cfg;
	char host[256] = "";

	cfg->eal.hugepages = false;
	cfg->eal.memory_mb = 512;
	psw_cfg_copy(cfg->eal.file_prefix, sizeof(cfg->eal.file_prefix), "podswitch");
	/* CPU 0, unless the process may not run there (taskset). */
	cfg->eal.main_core = cpu_usable(ctx, 0) ? 0 : first_usable_cpu(ctx, -1);
	if (cfg->eal.main_core < 0)
		cfg->eal.main_core = 0;

	cfg->workers.idle_sleep_us = 200;

	if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0')
		snprintf(host, sizeof(host), "podswitch");
	psw_cfg_copy(cfg->node.name, sizeof(cfg->node.name), host);
	psw_parse_prefix("10.244.0.0/24", &cfg->node.pod_cidr);
	psw_parse_prefix("fd00:10:244::/64", &cfg->node.pod_cidr6);
	psw_parse_prefix("10.96.0.0/12", &cfg->node.service_cidr);
	cfg->node.nodeport_min = 30000;
	cfg->node.nodeport_max = 32767;
	psw_parse_mac("02:50:53:57:00:01", cfg->node.gateway_mac);

	psw_cfg_copy(cfg->api.socket, sizeof(cfg->api.socket), "/run/podswitch/podswitch.sock");
	psw_cfg_copy(cfg->api.sockets_dir, sizeof(cfg->api.sockets_dir), "/run/podswitch");
	psw_cfg_copy(cfg->api.state_dir, sizeof(cfg->api.state_dir), "/var/lib/podswitch");

	cfg->limits.mbufs = 16384;
	cfg->limits.large_mbufs = 256;
	cfg->limits.max_pods = 1024;
	cfg->limits.max_routes = 1024;
	cfg->limits.conntrack = 262144;
	cfg->limits.conntrack_per_port = 262144 / 4;
	cfg->limits.rx_desc = 1024;
	cfg->limits.tx_desc = 1024;

	cfg->audit.max_bytes = 10u << 20;
	cfg->audit.files = 5;
	cfg->audit.rate = 10;
	cfg->audit.burst = 50;
}

/* One worker on a CPU other than the control thread's when there are two. */
static void default_workers(struct psw_cfg_ctx *ctx)
{
	struct psw_config *cfg = ctx->cfg;
	int cpu = cfg->eal.main_core;

	if (ctx->nb_cpus >= 2)
		cpu = cfg->eal.main_core != 1 && cpu_usable(ctx, 1) ? 1 :
		      first_usable_cpu(ctx, cfg->eal.main_core);
	cfg->workers.nb = 1;
	cfg->workers.cores[0] = cpu;
}

/* ---- sections ---- */

static bool is_prefix_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-';
}

static int parse_eal_args(struct psw_cfg_ctx *ctx, const config_setting_t *s)
{
	struct psw_config *cfg = ctx->cfg;
	char path[PSW_CFG_PATH_MAX];
	int nb = config_setting_length(s);

	if (!config_setting_is_list(s) && !config_setting_is_array(s))
		return psw_cfg_fail(ctx, s, "eal.args must be a list of strings, e.g. "
				    "args = [ \"--log-level=notice\" ];");
	if (nb > PSW_MAX_EAL_ARGS)
		return psw_cfg_fail(ctx, s, "eal.args has %d entries; at most %d are allowed",
				    nb, PSW_MAX_EAL_ARGS);
	for (int i = 0; i < nb; i++) {
		const config_setting_t *arg = config_setting_get_elem(s, (unsigned)i);
		const char *v;

		psw_cfg_path_index(path, sizeof(path), "eal.args", (unsigned)i);
		if (psw_cfg_str(ctx, arg, path, 1, sizeof(cfg->eal.args[0]) - 1, &v) < 0)
			return -EINVAL;
		psw_cfg_copy(cfg->eal.args[i], sizeof(cfg->eal.args[i]), v);
	}
	cfg->eal.nb_args = (unsigned)nb;
	return 0;
}

static int parse_eal(struct psw_cfg_ctx *ctx, const config_setting_t *eal)
{
	struct psw_config *cfg = ctx->cfg;
	const config_setting_t *s;
	const char *str;
	long long v;
	int rc;

	if (psw_cfg_opt_bool(ctx, eal, "eal", "hugepages", &cfg->eal.hugepages) < 0)
		return -EINVAL;
	rc = psw_cfg_opt_int(ctx, eal, "eal", "memory_mb", 64, 65536, &v);
	if (rc < 0)
		return rc;
	if (rc > 0)
		cfg->eal.memory_mb = (unsigned)v;

	rc = psw_cfg_opt_str(ctx, eal, "eal", "file_prefix", 1, PSW_NAME_MAX - 1, &str);
	if (rc < 0)
		return rc;
	if (rc > 0) {
		for (const char *c = str; *c; c++)
			if (!is_prefix_char(*c))
				return psw_cfg_fail(ctx, psw_cfg_member(eal, "file_prefix"),
						    "eal.file_prefix '%s' may hold only letters, digits, "
						    "'_' and '-'", str);
		psw_cfg_copy(cfg->eal.file_prefix, sizeof(cfg->eal.file_prefix), str);
	}

	s = psw_cfg_member(eal, "main_core");
	if (s != NULL && parse_cpu(ctx, s, "eal.main_core", &cfg->eal.main_core) < 0)
		return -EINVAL;
	s = psw_cfg_member(eal, "args");
	if (s != NULL && parse_eal_args(ctx, s) < 0)
		return -EINVAL;
	return 0;
}

static int parse_workers(struct psw_cfg_ctx *ctx, const config_setting_t *workers)
{
	struct psw_config *cfg = ctx->cfg;
	const config_setting_t *cores;
	char path[PSW_CFG_PATH_MAX];
	long long v;
	int rc, nb;

	rc = psw_cfg_opt_int(ctx, workers, "workers", "idle_sleep_us", 0, 100000, &v);
	if (rc < 0)
		return rc;
	if (rc > 0)
		cfg->workers.idle_sleep_us = (unsigned)v;

	cores = psw_cfg_member(workers, "cores");
	if (cores == NULL) {
		default_workers(ctx);
		return 0;
	}
	if (!config_setting_is_array(cores) && !config_setting_is_list(cores))
		return psw_cfg_fail(ctx, cores, "workers.cores must be an array of CPU numbers, "
				    "e.g. cores = [ 1 ];");
	nb = config_setting_length(cores);
	if (nb < 1 || nb > PSW_MAX_WORKERS)
		return psw_cfg_fail(ctx, cores, "workers.cores has %d entries; it must list 1..%d "
				    "CPUs", nb, PSW_MAX_WORKERS);
	for (int i = 0; i < nb; i++) {
		psw_cfg_path_index(path, sizeof(path), "workers.cores", (unsigned)i);
		if (parse_cpu(ctx, config_setting_get_elem(cores, (unsigned)i), path,
			      &cfg->workers.cores[i]) < 0)
			return -EINVAL;
	}
	cfg->workers.nb = (unsigned)nb;
	return 0;
}

/* 1..5 decimal digits at *p, advancing it. */
static bool parse_port_number(const char **p, unsigned long *out)
{
	unsigned long v = 0;
	unsigned n = 0;

	while (**p >= '0' && **p <= '9' && n <= 5) {
		v = v * 10 + (unsigned long)(**p - '0');
		(*p)++;
		n++;
	}
	*out = v;
	return n >= 1 && n <= 5;
}

static int parse_nodeport_range(struct psw_cfg_ctx *ctx, const config_setting_t *node)
{
	const config_setting_t *s = psw_cfg_member(node, "nodeport_range");
	unsigned long first, last;
	const char *v, *p;

	if (s == NULL)
		return 0;
	if (psw_cfg_str(ctx, s, "node.nodeport_range", 0, PSW_CFG_TEXT_MAX, &v) < 0)
		return -EINVAL;
	p = v;
	if (!parse_port_number(&p, &first) || *p++ != '-' || !parse_port_number(&p, &last) ||
	    *p != '\0')
		return psw_cfg_fail(ctx, s, "node.nodeport_range '%s' is not a port range; write "
				    "FIRST-LAST, e.g. 30000-32767", v);
	if (first < 1 || first > last || last > 65535)
		return psw_cfg_fail(ctx, s, "node.nodeport_range '%s' must satisfy "
				    "1 <= FIRST <= LAST <= 65535", v);
	ctx->cfg->node.nodeport_min = (uint16_t)first;
	ctx->cfg->node.nodeport_max = (uint16_t)last;
	return 0;
}

/* The node's IPv4 gateway: given, or the first host of pod_cidr. */
static int check_gateway(struct psw_cfg_ctx *ctx, const config_setting_t *node)
{
	struct psw_config *cfg = ctx->cfg;
	const struct psw_prefix *cidr = &cfg->node.pod_cidr;
	uint8_t addr[16] = { 0 };
	const config_setting_t *s;
	char cidr_text[64], ip[64];
	int rc;

	rc = psw_cfg_opt_ip(ctx, node, "node", "gateway", 4, addr);
	if (rc < 0)
		return rc;
	if (rc == 0) {
		memcpy(cfg->node.gateway, cidr->addr, 4);
		cfg->node.gateway[3] |= 1;
		return 0;
	}
	s = psw_cfg_member(node, "gateway");
	psw_prefix_str(cidr, cidr_text, sizeof(cidr_text));
	psw_cfg_ip_str(4, addr, ip, sizeof(ip));
	if (!psw_prefix_contains(cidr, addr))
		return psw_cfg_fail(ctx, s, "node.gateway %s is outside node.pod_cidr %s%s", ip,
				    cidr_text, psw_cfg_member(node, "pod_cidr") ? "" :
				    " (the default); set node.pod_cidr too");
	if (psw_cfg_host_bits_all(cidr, addr, false))
		return psw_cfg_fail(ctx, s, "node.gateway %s is the network address of %s; use a "
				    "host address such as the first one", ip, cidr_text);
	if (psw_cfg_host_bits_all(cidr, addr, true))
		return psw_cfg_fail(ctx, s, "node.gateway %s is the broadcast address of %s; use a "
				    "host address such as the first one", ip, cidr_text);
	memcpy(cfg->node.gateway, addr, 4);
	return 0;
}

/* The node's IPv6 gateway: given, or prefix + 1; none when IPv6 is off. */
static int check_gateway6(struct psw_cfg_ctx *ctx, const config_setting_t *node)
{
	struct psw_config *cfg = ctx->cfg;
	const struct psw_prefix *cidr = &cfg->node.pod_cidr6;
	const config_setting_t *s = psw_cfg_member(node, "gateway6");
	char cidr_text[64], ip[64];
	uint8_t addr[16];
	int rc;

	if (cidr->family == 0) {
		const char *v;

		if (s != NULL && (psw_cfg_str(ctx, s, "node.gateway6", 0, PSW_CFG_TEXT_MAX, &v) < 0 || v[0]))
			return psw_cfg_fail(ctx, s, "node.gateway6 is set but IPv6 is disabled "
					    "(node.pod_cidr6 is \"\"); remove it or set node.pod_cidr6");
		return 0;
	}
	rc = psw_cfg_opt_ip(ctx, node, "node", "gateway6", 6, addr);
	if (rc < 0)
		return rc;
	if (rc == 0) {
		memcpy(cfg->node.gateway6, cidr->addr, 16);
		cfg->node.gateway6[15] |= 1;
		return 0;
	}
	psw_prefix_str(cidr, cidr_text, sizeof(cidr_text));
	psw_cfg_ip_str(6, addr, ip, sizeof(ip));
	if (!psw_prefix_contains(cidr, addr))
		return psw_cfg_fail(ctx, s, "node.gateway6 %s is outside node.pod_cidr6 %s%s", ip,
				    cidr_text, psw_cfg_member(node, "pod_cidr6") ? "" :
				    " (the default); set node.pod_cidr6 too");
	if (psw_cfg_host_bits_all(cidr, addr, false))
		return psw_cfg_fail(ctx, s, "node.gateway6 %s is the subnet-router anycast address "
				    "of %s; use a host address such as the first one", ip, cidr_text);
	memcpy(cfg->node.gateway6, addr, 16);
	return 0;
}

/*
 * node.addresses: up to 4 IPv4 and 4 IPv6 addresses the node owns on its
 * uplinks, each with the length of its subnet there ("192.168.50.1/24":
 * the rest of the subnet is reached on the uplinks directly).
 */
static int parse_node_addresses(struct psw_cfg_ctx *ctx, const config_setting_t *node)
{
	const config_setting_t *list = psw_cfg_member(node, "addresses");
	struct psw_config *cfg = ctx->cfg;
	unsigned i, n;

	if (list == NULL)
		return 0;
	if (!config_setting_is_aggregate(list) || config_setting_is_group(list))
		return psw_cfg_fail(ctx, list, "node.addresses must be a list of IPv4 or IPv6 "
				    "addresses, e.g. [ \"192.168.50.1/24\", \"fd00:50::1\" ]");
	n = (unsigned)config_setting_length(list);
	for (i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(list, i);
		const char *v = config_setting_get_string(e);
		char text[64];
		const char *slash = v != NULL ? strchr(v, '/') : NULL;
		unsigned long len = 0;
		uint8_t fam, addr[16];
		char *end;

		if (v == NULL || strlen(v) >= sizeof(text))
			return psw_cfg_fail(ctx, e, "node.addresses[%u] must be an IPv4 or IPv6 address, "
					    "optionally with its subnet's length (\"192.168.50.1/24\")", i);
		snprintf(text, sizeof(text), "%.*s", slash != NULL ? (int)(slash - v) : (int)strlen(v), v);
		if (psw_parse_ip(text, &fam, addr) < 0 ||
		    (slash != NULL && ((len = strtoul(slash + 1, &end, 10)) == 0 || *end != '\0' ||
				       slash[1] < '0' || slash[1] > '9' ||
				       len < (fam == 4 ? 8u : 64u) || len > (fam == 4 ? 32u : 128u))))
			return psw_cfg_fail(ctx, e, "node.addresses[%u] '%s' must be an IPv4 or IPv6 address, "
					    "optionally with its subnet's length (IPv4 8..32, IPv6 64..128), "
					    "e.g. \"192.168.50.1/24\"", i, v);
		if (slash == NULL)
			len = fam == 4 ? 32 : 128;
		if (psw_prefix_contains(&cfg->node.pod_cidr, addr) ||
		    psw_prefix_contains(&cfg->node.pod_cidr6, addr) ||
		    psw_prefix_contains(&cfg->node.service_cidr, addr) ||
		    psw_prefix_contains(&cfg->node.service_cidr6, addr))
			return psw_cfg_fail(ctx, e, "node.addresses[%u] '%s' lies in the pod or service "
					    "CIDR; give the node's own uplink address", i, v);
		if (psw_config_node_addr(cfg, fam, addr))
			return psw_cfg_fail(ctx, e, "node.addresses[%u] '%s' is listed twice", i, v);
		if (fam == 4) {
			if (cfg->node.nb_addresses == 4)
				return psw_cfg_fail(ctx, e, "node.addresses: at most 4 IPv4 addresses");
			cfg->node.address_len[cfg->node.nb_addresses] = (uint8_t)len;
			memcpy(cfg->node.addresses[cfg->node.nb_addresses++], addr, 4);
		} else {
			if (cfg->node.nb_addresses6 == 4)
				return psw_cfg_fail(ctx, e, "node.addresses: at most 4 IPv6 addresses");
			cfg->node.address6_len[cfg->node.nb_addresses6] = (uint8_t)len;
			memcpy(cfg->node.addresses6[cfg->node.nb_addresses6++], addr, 16);
		}
	}
	return 0;
}

unsigned psw_config_uplink_mtu(const struct psw_config *cfg)
{
	unsigned i, mtu = 0;

	for (i = 0; i < cfg->nb_ports; i++)
		if (cfg->ports[i].uplink) {
			unsigned m = cfg->ports[i].mtu ? cfg->ports[i].mtu : 1500;

			mtu = mtu == 0 || m < mtu ? m : mtu;
		}
	return mtu ? mtu : 1500;
}

unsigned psw_config_pod_mtu(const struct psw_config *cfg)
{
	unsigned mtu = psw_config_uplink_mtu(cfg);

	/* outer IPv4 (20), UDP (8), VXLAN or Geneve without options (8) and the inner Ethernet header (14) */
	return cfg->cluster.encap != PSW_ENCAP_NONE && mtu > 68 + 50 ? mtu - 50 : mtu;
}

bool psw_config_node_addr(const struct psw_config *cfg, uint8_t family, const uint8_t *addr)
{
	unsigned i;

	for (i = 0; family == 4 && i < cfg->node.nb_addresses; i++)
		if (memcmp(cfg->node.addresses[i], addr, 4) == 0)
			return true;
	for (i = 0; family == 6 && i < cfg->node.nb_addresses6; i++)
		if (memcmp(cfg->node.addresses6[i], addr, 16) == 0)
			return true;
	return false;
}

/* cluster.pod_cidr: one prefix, or a list of one per family. */
static int parse_cluster_cidrs(struct psw_cfg_ctx *ctx, const config_setting_t *cl)
{
	const config_setting_t *s = psw_cfg_member(cl, "pod_cidr");
	struct psw_config *cfg = ctx->cfg;
	char a[64], b[64];
	unsigned i, n;

	if (s != NULL && config_setting_is_aggregate(s) && !config_setting_is_group(s)) {
		n = (unsigned)config_setting_length(s);
		if (n == 0 || n > 2)
			return psw_cfg_fail(ctx, s, "cluster.pod_cidr lists %u prefixes; give one per "
					    "family (IPv4, IPv6)", n);
		for (i = 0; i < n; i++) {
			const config_setting_t *e = config_setting_get_elem(s, i);
			const char *v = config_setting_get_string(e);
			struct psw_prefix p;

			if (v == NULL || psw_parse_prefix(v, &p) < 0)
				return psw_cfg_fail(ctx, e, "cluster.pod_cidr[%u] must be a prefix with no "
						    "host bits, e.g. \"10.244.0.0/16\"", i);
			if ((p.family == 4 ? cfg->cluster.pod_cidr : cfg->cluster.pod_cidr6).family != 0)
				return psw_cfg_fail(ctx, e, "cluster.pod_cidr[%u]: a second IPv%u prefix; "
						    "give one per family", i, p.family);
			if (p.family == 4)
				cfg->cluster.pod_cidr = p;
			else
				cfg->cluster.pod_cidr6 = p;
		}
	} else if (psw_cfg_opt_prefix(ctx, cl, "cluster", "pod_cidr", 0, 0, 128, false,
				      &cfg->cluster.pod_cidr) < 0) {
		return -EINVAL;
	} else if (cfg->cluster.pod_cidr.family == 6) {
		cfg->cluster.pod_cidr6 = cfg->cluster.pod_cidr;
		memset(&cfg->cluster.pod_cidr, 0, sizeof(cfg->cluster.pod_cidr));
	}
	if (psw_cfg_opt_prefix(ctx, cl, "cluster", "pod_cidr6", 6, 0, 128, false,
			       &cfg->cluster.pod_cidr6) < 0)
		return -EINVAL;
	/* the node's own pods are part of the cluster's */
	if (cfg->cluster.pod_cidr.family == 4 &&
	    (cfg->node.pod_cidr.len < cfg->cluster.pod_cidr.len ||
	     !psw_prefix_contains(&cfg->cluster.pod_cidr, cfg->node.pod_cidr.addr)))
		return psw_cfg_fail(ctx, s, "node.pod_cidr %s is not inside cluster.pod_cidr %s",
				    psw_prefix_str(&cfg->node.pod_cidr, a, sizeof(a)),
				    psw_prefix_str(&cfg->cluster.pod_cidr, b, sizeof(b)));
	if (cfg->cluster.pod_cidr6.family == 6 && cfg->node.pod_cidr6.family == 6 &&
	    (cfg->node.pod_cidr6.len < cfg->cluster.pod_cidr6.len ||
	     !psw_prefix_contains(&cfg->cluster.pod_cidr6, cfg->node.pod_cidr6.addr)))
		return psw_cfg_fail(ctx, s, "node.pod_cidr6 %s is not inside cluster.pod_cidr %s",
				    psw_prefix_str(&cfg->node.pod_cidr6, a, sizeof(a)),
				    psw_prefix_str(&cfg->cluster.pod_cidr6, b, sizeof(b)));
	if (psw_prefix_overlap(&cfg->cluster.pod_cidr6, &cfg->node.service_cidr6))
		return psw_cfg_fail(ctx, psw_cfg_member(cl, "pod_cidr6") ?: s, "cluster.pod_cidr %s overlaps node.service_cidr6 %s; they must be disjoint",
				    psw_prefix_str(&cfg->cluster.pod_cidr6, a, sizeof(a)),
				    psw_prefix_str(&cfg->node.service_cidr6, b, sizeof(b)));
	return 0;
}

/* cluster.no_masquerade: up to 16 IPv4 and IPv6 prefixes pods reach with their own address. */
static int parse_no_masquerade(struct psw_cfg_ctx *ctx, const config_setting_t *cl)
{
	const config_setting_t *list = psw_cfg_member(cl, "no_masquerade");
	struct psw_config *cfg = ctx->cfg;
	unsigned i, n;

	if (list == NULL)
		return 0;
	if (!config_setting_is_aggregate(list) || config_setting_is_group(list))
		return psw_cfg_fail(ctx, list, "cluster.no_masquerade must be a list of IPv4 or IPv6 "
				    "prefixes, e.g. [ \"192.168.0.0/16\", \"2001:db8::/32\" ]");
	n = (unsigned)config_setting_length(list);
	if (n > 16)
		return psw_cfg_fail(ctx, list, "cluster.no_masquerade holds %u prefixes; at most 16", n);
	for (i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(list, i);
		const char *v = config_setting_get_string(e);

		if (v == NULL || psw_parse_prefix(v, &cfg->cluster.no_masquerade[i]) < 0)
			return psw_cfg_fail(ctx, e, "cluster.no_masquerade[%u] must be an IPv4 or IPv6 prefix "
					    "with no host bits, e.g. \"192.168.0.0/16\" or \"2001:db8::/32\"", i);
	}
	cfg->cluster.nb_no_masquerade = n;
	return 0;
}

/* cluster: the pods of the whole cluster and how they reach each other. */
static int parse_cluster(struct psw_cfg_ctx *ctx, const config_setting_t *cl)
{
	struct psw_config *cfg = ctx->cfg;
	long long port = 4789, gport = 6081, vni = 1;
	const char *v = NULL;

	if (parse_cluster_cidrs(ctx, cl) < 0 ||
	    psw_cfg_opt_str(ctx, cl, "cluster", "encapsulation", 1, 16, &v) < 0 ||
	    psw_cfg_opt_int(ctx, cl, "cluster", "vxlan_port", 1, 65535, &port) < 0 ||
	    psw_cfg_opt_int(ctx, cl, "cluster", "geneve_port", 1, 65535, &gport) < 0 ||
	    psw_cfg_opt_int(ctx, cl, "cluster", "vni", 0, (1 << 24) - 1, &vni) < 0)
		return -EINVAL;
	cfg->cluster.encap = PSW_ENCAP_NONE;
	if (v != NULL && strcmp(v, "vxlan") == 0)
		cfg->cluster.encap = PSW_ENCAP_VXLAN;
	else if (v != NULL && strcmp(v, "geneve") == 0)
		cfg->cluster.encap = PSW_ENCAP_GENEVE;
	else if (v != NULL && strcmp(v, "none") != 0)
		return psw_cfg_fail(ctx, psw_cfg_member(cl, "encapsulation"), "cluster.encapsulation "
				    "'%s' is not one of \"none\" (native routing), \"vxlan\" or \"geneve\"", v);
	cfg->cluster.vxlan_port = (uint16_t)port;
	cfg->cluster.geneve_port = (uint16_t)gport;
	cfg->cluster.vni = (uint32_t)vni;
	return parse_no_masquerade(ctx, cl);
}

static int parse_node(struct psw_cfg_ctx *ctx, const config_setting_t *node)
{
	struct psw_config *cfg = ctx->cfg;
	char a[64], b[64];
	const char *str;
	int rc;

	rc = psw_cfg_opt_str(ctx, node, "node", "name", 1, PSW_NAME_MAX - 1, &str);
	if (rc < 0)
		return rc;
	if (rc > 0)
		psw_cfg_copy(cfg->node.name, sizeof(cfg->node.name), str);
	if (psw_cfg_opt_prefix(ctx, node, "node", "pod_cidr", 4, 8, 30, false,
			       &cfg->node.pod_cidr) < 0 ||
	    psw_cfg_opt_prefix(ctx, node, "node", "pod_cidr6", 6, 48, 120, true,
			       &cfg->node.pod_cidr6) < 0 ||
	    psw_cfg_opt_prefix(ctx, node, "node", "service_cidr", 4, 0, 32, false,
			       &cfg->node.service_cidr) < 0 ||
	    psw_cfg_opt_prefix(ctx, node, "node", "service_cidr6", 6, 64, 128, true,
			       &cfg->node.service_cidr6) < 0)
		return -EINVAL;
	if (check_gateway(ctx, node) < 0 || check_gateway6(ctx, node) < 0)
		return -EINVAL;
	if (psw_prefix_overlap(&cfg->node.pod_cidr, &cfg->node.service_cidr)) {
		const config_setting_t *at = psw_cfg_member(node, "service_cidr");

		if (at == NULL)
			at = psw_cfg_member(node, "pod_cidr");
		return psw_cfg_fail(ctx, at, "node.service_cidr %s overlaps node.pod_cidr %s; "
				    "they must be disjoint",
				    psw_prefix_str(&cfg->node.service_cidr, a, sizeof(a)),
				    psw_prefix_str(&cfg->node.pod_cidr, b, sizeof(b)));
	}
	if (psw_prefix_overlap(&cfg->node.pod_cidr6, &cfg->node.service_cidr6))
		return psw_cfg_fail(ctx, psw_cfg_member(node, "service_cidr6"), "node.service_cidr6 %s overlaps "
				    "node.pod_cidr6 %s; they must be disjoint",
				    psw_prefix_str(&cfg->node.service_cidr6, a, sizeof(a)),
				    psw_prefix_str(&cfg->node.pod_cidr6, b, sizeof(b)));
	if (parse_nodeport_range(ctx, node) < 0)
		return -EINVAL;
	if (psw_cfg_opt_mac(ctx, node, "node", "gateway_mac", cfg->node.gateway_mac) < 0)
		return -EINVAL;
	if (psw_cfg_opt_bool(ctx, node, "node", "addresses_from_node", &cfg->node.addresses_from_node) < 0)
		return -EINVAL;
	if (cfg->node.addresses_from_node && psw_cfg_member(node, "addresses") != NULL)
		return psw_cfg_fail(ctx, psw_cfg_member(node, "addresses_from_node"),
				    "node.addresses_from_node: the addresses come from the Node object named "
				    "node.name; give either that or node.addresses, not both");
	return parse_node_addresses(ctx, node);
}

/* Is path dir itself or below it, by name ("/a/b" is within "/a", "/ab" is not)? */
static bool path_within(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	while (n > 1 && dir[n - 1] == '/')
		n--;
	return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/' || strcmp(dir, "/") == 0);
}

/* api.group, api.sockets_dir, api.state_dir */
static int parse_api_dirs(struct psw_cfg_ctx *ctx, const config_setting_t *g)
{
	char links[sizeof(ctx->cfg->api.sockets_dir) + 2];
	const config_setting_t *s;
	const char *v;
	int rc;

	rc = psw_cfg_opt_str(ctx, g, "api", "group", 1, PSW_NAME_MAX - 1, &v);
	if (rc < 0)
		return rc;
	if (rc > 0) {
		if (getgrnam(v) == NULL)
			return psw_cfg_fail(ctx, psw_cfg_member(g, "group"),
					    "api.group '%s' is not a group on this machine", v);
		psw_cfg_copy(ctx->cfg->api.group, sizeof(ctx->cfg->api.group), v);
	}
	rc = psw_cfg_opt_socket(ctx, g, "api", "sockets_dir", &v);
	if (rc < 0)
		return rc;
	s = psw_cfg_member(g, "sockets_dir");
	if (rc > 0 && strlen(v) >= sizeof(ctx->cfg->api.sockets_dir))
		return psw_cfg_fail(ctx, s, "api.sockets_dir is %zu bytes long; keep it under %zu so "
				    "pod socket names fit in a Unix socket path", strlen(v),
				    sizeof(ctx->cfg->api.sockets_dir));
	if (rc > 0)
		psw_cfg_copy(ctx->cfg->api.sockets_dir, sizeof(ctx->cfg->api.sockets_dir), v);
	/* pods' directories: under the sockets' unless said (two switches on a host differ by it) */
	snprintf(ctx->cfg->api.pods_dir, sizeof(ctx->cfg->api.pods_dir), "%s/pods", ctx->cfg->api.sockets_dir);
	rc = psw_cfg_opt_str(ctx, g, "api", "pods_dir", 0, sizeof(ctx->cfg->api.pods_dir) - 1, &v);
	if (rc < 0)
		return rc;
	if (rc > 0 && v[0] != '\0' && (v[0] != '/' || strstr(v, "/../") != NULL ||
					 (strlen(v) >= 3 && strcmp(v + strlen(v) - 3, "/..") == 0)))
		return psw_cfg_fail(ctx, psw_cfg_member(g, "pods_dir"), "api.pods_dir '%s' must be an "
				    "absolute path without '..' (or \"\": no per-pod directories)", v);
	if (rc > 0)
		psw_cfg_copy(ctx->cfg->api.pods_dir, sizeof(ctx->cfg->api.pods_dir), v);
	/* the socket links (<sockets_dir>/p/<16 hex digits>) apart from the pods'
	 * directories: a namespace or pod named "p" or like a link must not be one */
	snprintf(links, sizeof(links), "%s/p", ctx->cfg->api.sockets_dir);
	if (ctx->cfg->api.pods_dir[0] != '\0' &&
	    (path_within(links, ctx->cfg->api.pods_dir) || path_within(ctx->cfg->api.pods_dir, links)))
		return psw_cfg_fail(ctx, psw_cfg_member(g, "pods_dir"), "api.pods_dir '%s' holds, or is in, "
				    "the socket links' directory %s (a namespace or pod there could be named like "
				    "a link); give another", ctx->cfg->api.pods_dir, links);
	rc = psw_cfg_opt_str(ctx, g, "api", "state_dir", 1, sizeof(ctx->cfg->api.state_dir) - 1, &v);
	if (rc < 0)
		return rc;
	if (rc > 0 && v[0] != '/')
		return psw_cfg_fail(ctx, psw_cfg_member(g, "state_dir"),
				    "api.state_dir '%s' must be an absolute path (start with '/')", v);
	if (rc > 0)
		psw_cfg_copy(ctx->cfg->api.state_dir, sizeof(ctx->cfg->api.state_dir), v);
	return 0;
}

/* metrics.listen: where Prometheus scrapes /metrics ("" or absent: no endpoint). */
static int parse_metrics(struct psw_cfg_ctx *ctx, const config_setting_t *g)
{
	struct sockaddr_storage ss;
	const char *v;
	int rc;

	rc = psw_cfg_opt_str(ctx, g, "metrics", "listen", 0, sizeof(ctx->cfg->metrics.listen) - 1, &v);
	if (rc <= 0)
		return rc;
	if (v[0] != '\0' && psw_parse_listen(v, &ss) < 0)
		return psw_cfg_fail(ctx, psw_cfg_member(g, "listen"), "metrics.listen '%s': give ADDRESS:PORT, "
				    "e.g. \"127.0.0.1:9464\" or \"[::1]:9464\" (\"\": no endpoint)", v);
	psw_cfg_copy(ctx->cfg->metrics.listen, sizeof(ctx->cfg->metrics.listen), v);
	return 0;
}

static int log_level_of(const char *v)
{
	static const char *const names[] = {
#define _(sym, name) name,
		PSW_LOG_LEVELS(_)
#undef _
	};

	for (unsigned i = 0; i < PSW_LOG_LEVEL_COUNT; i++)
		if (strcmp(v, names[i]) == 0)
			return (int)i;
	return -1;
}

/* log.level, log.format, log.rate, log.subsystems = { NAME = "LEVEL"; ... }. */
static int parse_log(struct psw_cfg_ctx *ctx, const config_setting_t *g)
{
	static const char *const subs[] = {
#define _(sym, name) name,
		PSW_LOG_SUBSYSTEMS(_)
#undef _
	};
	struct psw_config *cfg = ctx->cfg;
	const config_setting_t *m;
	long long rate = 20;
	const char *v;
	int rc, lv;

	cfg->log.level = PSW_LOG_INFO;
	cfg->log.rate = 20;
	memset(cfg->log.subsystem, PSW_LOG_LEVEL_COUNT, sizeof(cfg->log.subsystem));
	rc = psw_cfg_opt_str(ctx, g, "log", "level", 1, 16, &v);
	if (rc < 0)
		return rc;
	if (rc > 0) {
		if ((lv = log_level_of(v)) < 0)
			return psw_cfg_fail(ctx, psw_cfg_member(g, "level"),
					    "log.level '%s': error, warning, info or debug", v);
		cfg->log.level = (uint8_t)lv;
	}
	rc = psw_cfg_opt_str(ctx, g, "log", "format", 1, 16, &v);
	if (rc < 0)
		return rc;
	if (rc > 0 && strcmp(v, "json") != 0 && strcmp(v, "text") != 0)
		return psw_cfg_fail(ctx, psw_cfg_member(g, "format"), "log.format '%s': text or json", v);
	cfg->log.json = rc > 0 && strcmp(v, "json") == 0;
	if (psw_cfg_opt_int(ctx, g, "log", "rate", 0, 100000, &rate) < 0)
		return -EINVAL;
	cfg->log.rate = (unsigned)rate;
	m = psw_cfg_member(g, "subsystems");
	if (m == NULL)
		return 0;
	if (!config_setting_is_group(m))
		return psw_cfg_fail(ctx, m, "log.subsystems: a group of NAME = \"LEVEL\"; settings");
	for (int i = 0; i < config_setting_length(m); i++) {
		const config_setting_t *e = config_setting_get_elem(m, (unsigned)i);
		const char *name = config_setting_name(e), *level = config_setting_get_string(e);
		unsigned k;

		for (k = 0; k < PSW_LOGS_COUNT; k++)
			if (strcmp(name, subs[k]) == 0)
				break;
		if (k == PSW_LOGS_COUNT)
			return psw_cfg_fail(ctx, e, "log.subsystems.%s: no such subsystem (main, config, api, "
					    "state, port, vhost, metrics, capture, dpdk)", name);
		if (level == NULL || (lv = log_level_of(level)) < 0)
			return psw_cfg_fail(ctx, e, "log.subsystems.%s: give \"error\", \"warning\", "
					    "\"info\" or \"debug\"", name);
		cfg->log.subsystem[k] = (uint8_t)lv;
	}
	return 0;
}

static int parse_limits(struct psw_cfg_ctx *ctx, const config_setting_t *limits)
{
	static const struct {
		const char *name;
		long long min, max;
		bool power_of_two;
	} keys[] = {
		{ "mbufs", 1024, 4194304, false },
		{ "max_pods", 1, 65536, false },
		{ "max_routes", 1, 1000000, false },
		{ "rx_desc", 64, 4096, true },
		{ "tx_desc", 64, 4096, true },
		{ "conntrack", 1024, 16777216, false },
		{ "conntrack_per_port", 0, 16777216, false },
		{ "pods", 1, 65536, false },
		{ "large_mbufs", 0, 65536, false },
	};
	struct psw_config *cfg = ctx->cfg;
	long long values[9];

	values[0] = cfg->limits.mbufs;
	values[1] = cfg->limits.max_pods;
	values[2] = cfg->limits.max_routes;
	values[3] = cfg->limits.rx_desc;
	values[4] = cfg->limits.tx_desc;
	values[5] = cfg->limits.conntrack;
	values[6] = -1;                          /* unset: a quarter of conntrack */
	values[7] = -1;                          /* pods: max_pods's name in issue 14; unset: max_pods */
	values[8] = cfg->limits.large_mbufs;
	for (unsigned i = 0; i < 9; i++) {
		int rc = psw_cfg_opt_int(ctx, limits, "limits", keys[i].name, keys[i].min,
					 keys[i].max, &values[i]);

		if (rc < 0)
			return rc;
		if (keys[i].power_of_two && (values[i] & (values[i] - 1)) != 0)
			return psw_cfg_fail(ctx, psw_cfg_member(limits, keys[i].name),
					    "limits.%s %lld must be a power of two (64..4096)",
					    keys[i].name, values[i]);
	}
	if (values[7] >= 0 && psw_cfg_member(limits, "max_pods") != NULL && values[7] != values[1])
		return psw_cfg_fail(ctx, psw_cfg_member(limits, "pods"),
				    "limits.pods %lld and limits.max_pods %lld (the same limit, its older "
				    "name) differ; give one of them", values[7], values[1]);
	if (values[7] >= 0)
		values[1] = values[7];
	cfg->limits.mbufs = (unsigned)values[0];
	cfg->limits.large_mbufs = (unsigned)values[8];
	cfg->limits.max_pods = (unsigned)values[1];
	cfg->limits.max_routes = (unsigned)values[2];
	cfg->limits.rx_desc = (uint16_t)values[3];
	cfg->limits.tx_desc = (uint16_t)values[4];
	cfg->limits.conntrack = (unsigned)values[5];
	cfg->limits.conntrack_per_port = values[6] < 0 ? cfg->limits.conntrack / 4 : (unsigned)values[6];
	return 0;
}

/* Known keys of the top level and of each group of single settings. */
static const char *const top_keys[] = {
	"eal", "workers", "node", "cluster", "api", "limits", "metrics", "log", "audit", "ports", "pods",
	"routes", NULL
};
static const char *const eal_keys[] = {
	"hugepages", "memory_mb", "file_prefix", "main_core", "args", NULL
};
static const char *const workers_keys[] = { "cores", "idle_sleep_us", NULL };
static const char *const node_keys[] = {
	"name", "pod_cidr", "gateway", "pod_cidr6", "gateway6", "service_cidr", "service_cidr6",
	"nodeport_range", "gateway_mac", "addresses", "addresses_from_node", NULL
};
static const char *const cluster_keys[] = {
	"pod_cidr", "pod_cidr6", "encapsulation", "vxlan_port", "geneve_port", "vni", "no_masquerade", NULL
};
static const char *const api_keys[] = { "socket", "group", "sockets_dir", "pods_dir", "state_dir", NULL };
static const char *const metrics_keys[] = { "listen", NULL };
static const char *const log_keys[] = { "level", "format", "rate", "subsystems", NULL };
static const char *const audit_keys[] = {
	"file", "all_namespaces", "allowed", "max_bytes", "files", "rate", "burst", NULL
};
static const char *const limits_keys[] = {
	"mbufs", "pods", "max_pods", "max_routes", "rx_desc", "tx_desc", "conntrack", "conntrack_per_port",
	"large_mbufs", NULL
};

static int parse_root(struct psw_cfg_ctx *ctx, const config_setting_t *root)
{
	static const struct {
		const char *name;
		const char *const *keys;
	} groups[] = {
		{ "eal", eal_keys }, { "workers", workers_keys }, { "node", node_keys },
		{ "api", api_keys }, { "limits", limits_keys }, { "cluster", cluster_keys },
		{ "metrics", metrics_keys }, { "log", log_keys }, { "audit", audit_keys },
	};
	const config_setting_t *g[sizeof(groups) / sizeof(groups[0])];
	const char *str;
	int rc;

	if (psw_cfg_check_keys(ctx, root, "", top_keys) < 0)
		return -EINVAL;
	for (unsigned i = 0; i < sizeof(groups) / sizeof(groups[0]); i++) {
		g[i] = psw_cfg_member(root, groups[i].name);
		if (g[i] != NULL && psw_cfg_check_keys(ctx, g[i], groups[i].name, groups[i].keys) < 0)
			return -EINVAL;
	}
	/* Absent groups (NULL) still run: their defaults may depend on other keys. */
	if (parse_eal(ctx, g[0]) < 0 || parse_workers(ctx, g[1]) < 0 ||
	    parse_node(ctx, g[2]) < 0 || parse_cluster(ctx, g[5]) < 0)
		return -EINVAL;
	rc = psw_cfg_opt_socket(ctx, g[3], "api", "socket", &str);
	if (rc < 0)
		return rc;
	if (rc > 0)
		psw_cfg_copy(ctx->cfg->api.socket, sizeof(ctx->cfg->api.socket), str);
	if (parse_api_dirs(ctx, g[3]) < 0)
		return -EINVAL;
	if (parse_limits(ctx, g[4]) < 0 || parse_metrics(ctx, g[6]) < 0 || parse_log(ctx, g[7]) < 0 ||
	    psw_cfg_parse_audit(ctx, g[8]) < 0)
		return -EINVAL;

	rc = psw_cfg_parse_ports(ctx, psw_cfg_member(root, "ports"));
	if (rc == 0)
		rc = psw_cfg_parse_pods(ctx, psw_cfg_member(root, "pods"));
	if (rc == 0)
		rc = psw_cfg_parse_routes(ctx, psw_cfg_member(root, "routes"));
	if (rc == 0)
		rc = psw_cfg_check_uplinks(ctx, psw_cfg_member(root, "ports"),
					   psw_cfg_member(root, "routes"));
	return rc;
}

static int parse_text(const char *text, const char *source, const char *include_dir,
		      struct psw_config *cfg, char *err, size_t errlen)
{
	struct psw_cfg_ctx ctx = { .err = err, .errlen = errlen };
	struct psw_config *tmp;
	config_t lc;
	int rc = 0;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (source == NULL)
		source = text == NULL ? "<default>" : "<config>";
	ctx.source = source;
	if (cfg == NULL)
		return psw_cfg_fail(&ctx, NULL, "no configuration to fill");
	memset(cfg, 0, sizeof(*cfg));
	if (text == NULL)
		text = psw_config_default_text();

	tmp = calloc(1, sizeof(*tmp));
	if (tmp == NULL) {
		psw_cfg_fail(&ctx, NULL, "out of memory");
		return -ENOMEM;
	}
	ctx.cfg = tmp;
	load_cpus(&ctx);
	set_defaults(&ctx);
	psw_cfg_copy(tmp->source, sizeof(tmp->source), source);

	config_init(&lc);
	config_set_options(&lc, config_get_options(&lc) & ~CONFIG_OPTION_AUTOCONVERT);
	if (include_dir != NULL)
		config_set_include_dir(&lc, include_dir);
	if (config_read_string(&lc, text) != CONFIG_TRUE) {
		const char *file = config_error_file(&lc) ? config_error_file(&lc) : source;
		const char *what = config_error_text(&lc) ? config_error_text(&lc) : "error";

		if (err != NULL && errlen > 0 && config_error_line(&lc) > 0)
			snprintf(err, errlen, "%s:%d: %s", file, config_error_line(&lc), what);
		else if (err != NULL && errlen > 0)
			snprintf(err, errlen, "%s: %s", file, what);
		rc = -EINVAL;
	} else {
		rc = parse_root(&ctx, config_root_setting(&lc));
	}
	config_destroy(&lc);

	if (rc < 0)
		psw_config_free(tmp);
	else
		*cfg = *tmp;
	free(tmp);
	return rc;
}

int psw_config_parse(const char *text, const char *source, struct psw_config *cfg,
		     char *err, size_t errlen)
{
	return parse_text(text, source, NULL, cfg, err, errlen);
}

/* All of FILE into a NUL-terminated buffer; -errno. */
static int read_file(FILE *f, char **out, size_t *out_len)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);

	if (buf == NULL)
		return -ENOMEM;
	for (;;) {
		size_t n = fread(buf + len, 1, cap - len - 1, f);

		len += n;
		if (n == 0)
			break;
		if (len + 1 == cap) {
			char *bigger;

			if (cap >= MAX_FILE_SIZE) {
				free(buf);
				return -EFBIG;
			}
			bigger = realloc(buf, cap * 2);
			if (bigger == NULL) {
				free(buf);
				return -ENOMEM;
			}
			buf = bigger;
			cap *= 2;
		}
	}
	if (ferror(f)) {
		int rc = errno ? -errno : -EIO;

		free(buf);
		return rc;
	}
	buf[len] = '\0';
	*out = buf;
	*out_len = len;
	return 0;
}

int psw_config_load_file(const char *path, struct psw_config *cfg, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	bool has_dir = false;
	const char *slash;
	char *text = NULL;
	size_t len = 0;
	FILE *f;
	int rc;

	if (cfg != NULL)
		memset(cfg, 0, sizeof(*cfg));
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (path == NULL || cfg == NULL) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "no configuration file given");
		return -EINVAL;
	}
	f = fopen(path, "re");
	if (f == NULL) {
		rc = -errno;
		goto out_fail;
	}
	errno = 0;
	rc = read_file(f, &text, &len);
	fclose(f);
	if (rc < 0)
		goto out_fail;
	if (memchr(text, '\0', len) != NULL) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "%s: contains a NUL byte; it is not a text file", path);
		free(text);
		return -EINVAL;
	}

	/* @include "x.conf" is relative to the including file's directory. */
	slash = strrchr(path, '/');
	if (slash != NULL && (size_t)(slash - path) < sizeof(dir)) {
		size_t n = slash == path ? 1 : (size_t)(slash - path);

		memcpy(dir, path, n);
		dir[n] = '\0';
		has_dir = true;
	}
	rc = parse_text(text, path, has_dir ? dir : NULL, cfg, err, errlen);
	free(text);
	return rc;

out_fail:
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "cannot read '%s': %s", path, strerror(-rc));
	return rc;
}

void psw_config_free(struct psw_config *cfg)
{
	if (cfg == NULL)
		return;
	free(cfg->pods);
	free(cfg->routes);
	cfg->pods = NULL;
	cfg->routes = NULL;
	cfg->nb_pods = 0;
	cfg->nb_routes = 0;
}
