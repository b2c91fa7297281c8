/*
 * podswitch-cni: the CNI plugin (spec 1.0.0 and 1.1.0). Links no DPDK: it
 * talks to the podswitch daemon over its API socket and does the pod's side
 * itself with netlink.
 *
 *   ADD     kernel: a veth pair, the pod end named CNI_IFNAME in CNI_NETNS with
 *           the pod's MAC, addresses and default routes via the gateway, its
 *           offloads as the switch takes them (TX checksum and TCP/UDP
 *           segmentation, frames of at most PSW_POD_GSO_MAX; or, when the
 *           switch has none, TX checksum offload off); the host end attached to the switch as an
 *           af_packet port. vhost-user / memif: the switch makes a socket for
 *           the pod; the result's interface carries it as socketPath.
 *           Chained after another plugin, its prevResult comes first in the
 *           result. A second ADD for the same container and interface fails.
 *   DEL     idempotent: repeated, without netns, without prevResult, after a
 *           failed ADD; and when the switch cannot be reached, the release is
 *           recorded for it (stateDir/released) and DEL succeeds.
 *   CHECK   the attachment is in the switch, its port exists, and (kernel)
 *           the pod's interface has its MAC, addresses and routes.
 *   STATUS  (1.1.0) the switch answers, is ready and can take a new pod.
 *   GC      (1.1.0) attachments not in cni.dev/valid-attachments (or
 *           cni.dev/attachments) are removed.
 *   VERSION the versions above.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "psw_api.h"
#include "psw_cni.h"
#include "psw_nl.h"

/* Error codes of the CNI specification; plugin-specific ones from 100. */
enum {
	CNI_E_VERSION = 1,
	CNI_E_UNSUPPORTED_FIELD = 2,
	CNI_E_UNKNOWN_CONTAINER = 3,
	CNI_E_INVALID_ENV = 4,
	CNI_E_IO = 5,
	CNI_E_DECODE = 6,
	CNI_E_INVALID_CONFIG = 7,
	CNI_E_TRY_AGAIN = 11,
	CNI_E_NOT_AVAILABLE = 50,
	CNI_E_SWITCH = 100,          /* the switch refused the request */
	CNI_E_CHECK = 101,           /* CHECK found the attachment broken */
	CNI_E_NETLINK = 102,
	CNI_E_IPAM = 103,
	CNI_E_EXISTS = 104,          /* ADD twice for one container and interface, without DEL */
};

static const char *const versions[] = { "1.0.0", "1.1.0", NULL };

static int
cni_error(const struct cni *c, int code, const char *details, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Print the spec's error object on stdout; exit status 1. */
static int
cni_error(const struct cni *c, int code, const char *details, const char *fmt, ...)
{
	char msg[1024];
	json_t *e;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	e = json_pack("{s:s, s:i, s:s}", "cniVersion",
		      c != NULL && c->cni_version != NULL ? c->cni_version : "1.1.0", "code", code,
		      "msg", msg);
	if (details != NULL)
		json_object_set_new(e, "details", json_string(details));
	json_dumpf(e, stdout, JSON_INDENT(2));
	fputc('\n', stdout);
	json_decref(e);
	return 1;
}

static bool
version_supported(const char *v)
{
	unsigned i;

	for (i = 0; versions[i] != NULL; i++)
		if (strcmp(versions[i], v) == 0)
			return true;
	return false;
}

/*
 * CNI_ARGS: "K=V;K=V", in any order; unknown keys ignored. A pair without
 * '=' (or with an empty key) is an error: the runtime meant something.
 * @return 0, or 1 after printing the error.
 */
static int
parse_cni_args(struct cni *c, const char *args)
{
	char buf[2048], *save = NULL, *kv;

	if (args == NULL || args[0] == '\0')
		return 0;
	if (strlen(args) >= sizeof(buf))
		return cni_error(c, CNI_E_INVALID_ENV, NULL, "CNI_ARGS is longer than %zu bytes",
				 sizeof(buf) - 1);
	snprintf(buf, sizeof(buf), "%s", args);
	for (kv = strtok_r(buf, ";", &save); kv != NULL; kv = strtok_r(NULL, ";", &save)) {
		char *eq = strchr(kv, '=');

		if (eq == NULL || eq == kv)
			return cni_error(c, CNI_E_INVALID_ENV, NULL, "CNI_ARGS: '%s' is not a KEY=VALUE "
					 "pair", kv);
		*eq++ = '\0';
		if (strcmp(kv, "K8S_POD_NAMESPACE") == 0)
			snprintf(c->k8s_ns, sizeof(c->k8s_ns), "%s", eq);
		else if (strcmp(kv, "K8S_POD_NAME") == 0)
			snprintf(c->k8s_name, sizeof(c->k8s_name), "%s", eq);
		else if (strcmp(kv, "IP") == 0)
			snprintf(c->ips_arg, sizeof(c->ips_arg), "%s", eq);
		else if (strcmp(kv, "MAC") == 0)
			snprintf(c->mac_arg, sizeof(c->mac_arg), "%s", eq);
		else if (strcmp(kv, "PODSWITCH_INTERFACE") == 0)
			snprintf(c->iface_arg, sizeof(c->iface_arg), "%s", eq);
	}
	return 0;
}

/*
 * The specification's identifier: an alphanumeric first character, then
 * alphanumerics, '_', '.' and '-' (network names and container IDs).
 */
static bool
cni_identifier(const char *s)
{
	size_t i;

	if (s == NULL || !isalnum((unsigned char)s[0]))
		return false;
	for (i = 1; s[i] != '\0'; i++)
		if (!isalnum((unsigned char)s[i]) && strchr("_.-", s[i]) == NULL)
			return false;
	return true;
}

/* A Linux interface name: 1..15 characters, not "." or "..", no '/', ':' or white space. */
static bool
linux_ifname(const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0, i;

	if (n == 0 || n > 15 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return false;
	for (i = 0; i < n; i++)
		if (s[i] == '/' || s[i] == ':' || !isgraph((unsigned char)s[i]))
			return false;
	return true;
}

static char *
read_stdin(void)
{
	size_t cap = 65536, len = 0, n;
	char *buf = malloc(cap);

	while (buf != NULL && (n = fread(buf + len, 1, cap - len - 1, stdin)) > 0) {
		len += n;
		if (len + 1 == cap) {
			char *b = cap >= (16u << 20) ? NULL : realloc(buf, cap * 2);

			if (b == NULL) {
				free(buf);
				return NULL;
			}
			buf = b;
			cap *= 2;
		}
	}
	if (buf != NULL)
		buf[len] = '\0';
	return buf;
}

/* Names tried for a pod's host end before ADD gives up (psw_host_for_add). */
#define HOST_NAME_TRIES 8

/*
 * Host end of the veth: a stable name from the container id and ifname (15
 * chars max); salt 1.. gives the others tried when another pod's veth holds
 * the first (32-bit hashes of two pods can be equal).
 */
static void
host_ifname(const struct cni *c, unsigned salt, char out[16])
{
	uint32_t h = 2166136261u;
	const char *s;

	for (s = c->container_id; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	for (s = c->ifname; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	if (salt != 0)
		h = (h ^ (0x9e3779b9u * salt)) * 16777619u;
	snprintf(out, 16, "psw%08x", h);
}

/*
 * Whose is the interface called host? 1: ours, the veth whose other end is
 * c->ifname in c->netns (left over from an ADD that failed; in CHECK and
 * DEL, the one ADD made); 0: there is none; -1: another's (another pod's
 * veth, or c->netns cannot be entered). Never deleted unless ours.
 */
static int
host_owner(const struct cni *c, const char *host)
{
	int hidx, old, peer;

	if (psw_nl_link_get(host, &hidx, NULL, NULL) < 0)
		return 0;
	if (c->netns == NULL || c->netns[0] == '\0')
		return -1;                       /* (DEL without CNI_NETNS) */
	old = psw_nl_enter_netns(c->netns);
	if (old < 0)
		return -1;
	peer = psw_nl_link_peer(c->ifname);
	psw_nl_leave_netns(old);
	return peer > 0 && peer == hidx ? 1 : -1;
}

/*
 * The host end's name for ADD: the first of the names tried that is free
 * or ours (then deleted: the switch refuses to take an existing
 * interface). 0, or -1 when every one is another's.
 */
static int
host_for_add(const struct cni *c, char host[16])
{
	unsigned salt;
	int who;

	for (salt = 0; salt < HOST_NAME_TRIES; salt++) {
		host_ifname(c, salt, host);
		who = host_owner(c, host);
		if (who == 1)
			psw_nl_link_del(host);
		if (who >= 0)
			return 0;
	}
	return -1;
}

/* The host end of ours (CHECK), into host: true when there is one. */
static bool
host_find_ours(const struct cni *c, char host[16])
{
	unsigned salt;

	for (salt = 0; salt < HOST_NAME_TRIES; salt++) {
		host_ifname(c, salt, host);
		if (host_owner(c, host) == 1)
			return true;
	}
	return false;
}

/* The API call, with errors turned into CNI errors. */
static json_t *
api(const struct cni *c, const char *op, json_t *args, json_t **resp, int *rc)
{
	char err[1024];
	json_t *res;

	*resp = psw_api_call(c->socket, op, args, err, sizeof(err));
	if (*resp == NULL) {
		*rc = cni_error(c, CNI_E_TRY_AGAIN, err, "podswitch is not reachable on %s", c->socket);
		return NULL;
	}
	res = psw_api_result(*resp, err, sizeof(err));
	if (res == NULL)
		*rc = cni_error(c, CNI_E_SWITCH, NULL, "podswitch: %s", err);
	return res;
}

/* ------------------------------------------------------------ delegated IPAM */

/* Run the IPAM plugin of netconf.ipam.type for this command; returns its parsed stdout. */
static json_t *
run_ipam(const struct cni *c, const char *command, int *rc)
{
	const char *type = json_string_value(json_object_get(json_object_get(c->conf, "ipam"), "type"));
	char exe[4096] = "", *save = NULL, *dir, paths[4096];
	int in[2], out[2], status;
	pid_t pid;
	json_t *res;
	json_error_t je;
	char *text;
	size_t len = 0, cap = 65536;
	ssize_t n;

	if (type == NULL || strchr(type, '/') != NULL) {
		*rc = cni_error(c, CNI_E_INVALID_CONFIG, NULL, "ipam.type must be a plugin name");
		return NULL;
	}
	snprintf(paths, sizeof(paths), "%s", c->path != NULL ? c->path : "/opt/cni/bin");
	for (dir = strtok_r(paths, ":", &save); dir != NULL; dir = strtok_r(NULL, ":", &save)) {
		snprintf(exe, sizeof(exe), "%s/%s", dir, type);
		if (access(exe, X_OK) == 0)
			break;
		exe[0] = '\0';
	}
	if (exe[0] == '\0') {
		*rc = cni_error(c, CNI_E_IPAM, NULL, "IPAM plugin '%s' not found in CNI_PATH", type);
		return NULL;
	}
	if (pipe(in) < 0) {
		*rc = cni_error(c, CNI_E_IO, NULL, "pipe: %s", strerror(errno));
		return NULL;
	}
	if (pipe(out) < 0) {
		close(in[0]);
		close(in[1]);
		*rc = cni_error(c, CNI_E_IO, NULL, "pipe: %s", strerror(errno));
		return NULL;
	}
	pid = fork();
	if (pid < 0) {
		close(in[0]);
		close(in[1]);
		close(out[0]);
		close(out[1]);
		*rc = cni_error(c, CNI_E_IO, NULL, "fork: %s", strerror(errno));
		return NULL;
	}
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[1]);
		close(out[0]);
		setenv("CNI_COMMAND", command, 1);
		execl(exe, type, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	if (write(in[1], c->stdin_text, strlen(c->stdin_text)) < 0)
		(void)0;
	close(in[1]);
	text = malloc(cap);
	while (text != NULL && (n = read(out[0], text + len, cap - len - 1)) > 0) {
		len += (size_t)n;
		if (len + 1 == cap) {
			char *t2 = realloc(text, cap *= 2);

			if (t2 == NULL)
				free(text);
			text = t2;
		}
	}
	close(out[0]);
	waitpid(pid, &status, 0);
	if (text == NULL) {
		*rc = cni_error(c, CNI_E_IO, NULL, "out of memory");
		return NULL;
	}
	text[len] = '\0';
	res = len > 0 ? json_loads(text, 0, &je) : json_object();
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		const char *msg = json_string_value(json_object_get(res, "msg"));

		*rc = cni_error(c, CNI_E_IPAM, text, "IPAM plugin %s %s failed: %s", type, command,
				msg ? msg : "no message");
		json_decref(res);
		res = NULL;
	} else if (res == NULL) {
		*rc = cni_error(c, CNI_E_IPAM, text, "IPAM plugin %s returned no JSON", type);
	}
	free(text);
	return res;
}

/* ---------------------------------------------------------------------- ADD */

/* Requested addresses from IP=, runtimeConfig.ips, or a delegated IPAM result. */
static json_t *
requested_ips(const struct cni *c, json_t *ipam_result)
{
	json_t *ips = json_array(), *rc_ips, *v;
	size_t i;

	if (ipam_result != NULL) {
		json_array_foreach(json_object_get(ipam_result, "ips"), i, v)
			json_array_append(ips, json_object_get(v, "address"));
		return ips;
	}
	if (c->ips_arg[0] != '\0') {
		char buf[256], *save = NULL, *ip;

		snprintf(buf, sizeof(buf), "%s", c->ips_arg);
		for (ip = strtok_r(buf, ",", &save); ip != NULL; ip = strtok_r(NULL, ",", &save))
			json_array_append_new(ips, json_string(ip));
		return ips;
	}
	rc_ips = json_object_get(json_object_get(c->conf, "runtimeConfig"), "ips");
	json_array_foreach(rc_ips, i, v)
		json_array_append(ips, v);
	return ips;
}

static int
parse_cidr(const char *s, struct psw_nl_addr *a)
{
	char buf[64], *slash;

	snprintf(buf, sizeof(buf), "%s", s);
	slash = strchr(buf, '/');
	if (slash == NULL)
		return -EINVAL;
	*slash = '\0';
	a->plen = (uint8_t)atoi(slash + 1);
	a->family = strchr(buf, ':') ? AF_INET6 : AF_INET;
	return inet_pton(a->family, buf, a->addr) == 1 ? 0 : -EINVAL;
}

/*
 * With a delegated IPAM plugin its result decides the prefix lengths,
 * gateways and routes (a default route via each family's gateway when it
 * gives none).
 */
static void
use_ipam_addressing(json_t *res, json_t *ipam)
{
	json_t *ips = json_array(), *routes = json_array(), *v;
	bool has4 = false, has6 = false;
	size_t i;

	json_array_foreach(json_object_get(ipam, "ips"), i, v) {
		const char *addr = json_string_value(json_object_get(v, "address"));
		const char *gw = json_string_value(json_object_get(v, "gateway"));

		if (addr == NULL)
			continue;
		json_array_append_new(ips, gw ? json_pack("{s:s, s:s}", "address", addr, "gateway", gw)
					      : json_pack("{s:s}", "address", addr));
		if (gw != NULL && strchr(addr, ':') == NULL && !has4) {
			json_array_append_new(routes, json_pack("{s:s, s:s}", "dst", "0.0.0.0/0", "gw", gw));
			has4 = true;
		} else if (gw != NULL && strchr(addr, ':') != NULL && !has6) {
			json_array_append_new(routes, json_pack("{s:s, s:s}", "dst", "::/0", "gw", gw));
			has6 = true;
		}
	}
	json_object_set_new(res, "ips", ips);
	json_object_set_new(res, "routes", routes);
}

/*
 * Does the pod (its netns entered) route one of the switch's pod CIDRs
 * through a gateway that is not the switch's (a primary network that
 * overlaps podswitch's pods)? The pod's other podswitch interfaces route
 * them through the switch's gateway, or on their link.
 */
static bool
pod_cidr_routed(json_t *res)
{
	struct psw_nl_addr p;
	json_t *v, *ip;
	size_t i, k;

	json_array_foreach(json_object_get(res, "pod_cidrs"), i, v) {
		if (parse_cidr(json_string_value(v), &p) < 0)
			continue;
		json_array_foreach(json_object_get(res, "ips"), k, ip) {
			const char *gw = json_string_value(json_object_get(ip, "gateway"));
			uint8_t g[16];

			if (gw != NULL && inet_pton(p.family, gw, g) == 1 &&
			    psw_nl_has_route_via_other(p.family, p.addr, p.plen, g) == 1)
				return true;
		}
	}
	return false;
}

/*
 * Routes to the pods' prefixes (the switch's pod_cidrs of family fam) via
 * gateway gw on ifindex, in place of a default route: res's routes of that
 * family become those (the result tells the runtime what was done).
 */
static int
pod_routes(json_t *res, int ifindex, int fam, const char *gw, const uint8_t *g)
{
	json_t *routes = json_array(), *v;
	size_t i;
	int err;

	json_array_foreach(json_object_get(res, "routes"), i, v) {
		const char *dst = json_string_value(json_object_get(v, "dst"));

		if (dst == NULL || (strchr(dst, ':') != NULL) != (fam == AF_INET6) ||
		    (strcmp(dst, "0.0.0.0/0") != 0 && strcmp(dst, "::/0") != 0))
			json_array_append(routes, v);
	}
	json_array_foreach(json_object_get(res, "pod_cidrs"), i, v) {
		struct psw_nl_addr p;

		if (parse_cidr(json_string_value(v), &p) < 0 || p.family != fam)
			continue;
		if ((err = psw_nl_route_add(ifindex, fam, p.addr, p.plen, g)) < 0) {
			json_decref(routes);
			return err;
		}
		json_array_append_new(routes, json_pack("{s:O, s:s}", "dst", v, "gw", gw));
	}
	json_object_set_new(res, "routes", routes);
	return 0;
}

/* The pod's side of a kernel attachment: veth, MAC, addresses, routes. */
static int
setup_kernel(const struct cni *c, json_t *res, const char *host, int *rc)
{
	static const char *const pod_features_off[] = {
		"tx-gre-segmentation", "tx-gre-csum-segmentation", "tx-ipxip4-segmentation",
		"tx-ipxip6-segmentation", "tx-udp_tnl-segmentation", "tx-udp_tnl-csum-segmentation",
		"tx-gso-partial", "tx-tunnel-remcsum-segmentation", "tx-sctp-segmentation",
		"tx-esp-segmentation", "tx-gso-list", NULL
	};
	uint8_t mac[6];
	json_t *v;
	size_t i;
	int nsfd, old, ifindex, err;
	json_int_t mtu;
	bool offloads;
	const char *step = "";

	if (sscanf(json_string_value(json_object_get(res, "mac")), "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx",
		   &mac[0], &mac[1], &mac[2], &mac[3], &mac[4], &mac[5]) != 6) {
		*rc = cni_error(c, CNI_E_SWITCH, NULL, "podswitch returned a bad MAC");
		return -1;
	}
	nsfd = open(c->netns, O_RDONLY | O_CLOEXEC);
	if (nsfd < 0) {
		*rc = cni_error(c, CNI_E_UNKNOWN_CONTAINER, NULL, "cannot open netns %s: %s", c->netns,
				strerror(errno));
		return -1;
	}
	/* the switch's MTU for pods (less than the uplinks' under VXLAN); 0: the kernel's */
	mtu = json_integer_value(json_object_get(res, "mtu"));
	/* with offloads, the pod's frames fit the switch's 64 KB buffers */
	offloads = json_is_true(json_object_get(res, "offloads"));
	err = psw_nl_veth_create(host, c->ifname, nsfd, mac,
				 mtu >= 68 && mtu <= 9600 ? (unsigned)mtu : 0, offloads ? PSW_POD_GSO_MAX : 0);
	close(nsfd);
	if (err < 0) {
		*rc = cni_error(c, CNI_E_NETLINK, NULL, "cannot create veth %s/%s: %s", host, c->ifname,
				strerror(-err));
		return -1;
	}
	psw_nl_disable_ipv6(host);
	if ((err = psw_nl_link_up(host)) < 0) {
		step = "bring the host end up";
		goto fail;
	}
	old = psw_nl_enter_netns(c->netns);
	if (old < 0) {
		err = old;
		step = "enter the netns";
		goto fail;
	}
	err = psw_nl_link_get(c->ifname, &ifindex, NULL, NULL);
	/* never take over a route of the pod's other networks (ours would replace it) */
	if (err == 0 && pod_cidr_routed(res)) {
		err = -EEXIST;
		step = "take over the pod's route to podswitch's pod CIDR (its primary network routes "
		       "it through its own gateway: that network overlaps podswitch's pods) for the "
		       "interface";
	}
	if (err == 0 && !offloads && (err = psw_nl_tx_csum_off(c->ifname)) < 0)
		step = "turn TX checksum offload off";
	/* segmentation the switch cannot be told of (tunnels the pod runs, SCTP) done by the pod */
	if (err == 0 && offloads && (err = psw_nl_features_off(c->ifname, pod_features_off)) < 0)
		step = "turn tunnel segmentation offloads off";
	if (err == 0 && (err = psw_nl_link_up(c->ifname)) < 0)
		step = "bring the pod interface up";
	json_array_foreach(json_object_get(res, "ips"), i, v) {
		struct psw_nl_addr a;

		if (err < 0)
			break;
		if (parse_cidr(json_string_value(json_object_get(v, "address")), &a) < 0)
			continue;
		if ((err = psw_nl_addr_add(ifindex, &a)) < 0)
			step = "add an address";
	}
	json_array_foreach(json_object_get(res, "ips"), i, v) {
		const char *gw = json_string_value(json_object_get(v, "gateway"));
		uint8_t g[16];
		int fam;

		if (err < 0)
			break;
		if (gw == NULL)
			continue;
		fam = strchr(gw, ':') ? AF_INET6 : AF_INET;
		if (inet_pton(fam, gw, g) != 1)
			continue;
		if (psw_nl_has_route(0, fam, NULL, 0, NULL) == 1) {
			/* the pod's default route is another network's (podswitch as a
			 * Multus secondary attachment): through us, the pods only */
			if ((err = pod_routes(res, ifindex, fam, gw, g)) < 0)
				step = "add a route to the pods";
		} else if ((err = psw_nl_route_add(ifindex, fam, NULL, 0, g)) < 0) {
			step = "add the default route";
		}
	}
	psw_nl_leave_netns(old);
	if (err == 0)
		return 0;
fail:
	psw_nl_link_del(host);
	*rc = cni_error(c, CNI_E_NETLINK, NULL, "cannot %s of %s in %s: %s", step, c->ifname,
			c->netns, strerror(-err));
	return -1;
}

/* The CNI result from podswitch's answer. */
/* A list of prevResult (deep copy), or an empty one. */
static json_t *
prev_list(json_t *prev, const char *key)
{
	json_t *v = json_object_get(prev, key);

	return json_is_array(v) ? json_deep_copy(v) : json_array();
}

/*
 * The CNI result from podswitch's answer. Chained after another plugin (a
 * prevResult), the earlier interfaces, IPs, routes and DNS come first and
 * ours are added, our IPs' interface indexes counted after the earlier
 * interfaces.
 */
static json_t *
add_result(const struct cni *c, json_t *res, const char *host, bool kernel)
{
	json_t *prev = json_object_get(c->conf, "prevResult");
	json_t *ifaces, *ips, *routes, *dns, *v, *iface;
	size_t i;
	uint8_t hmac[6];
	char hmac_s[18] = "";
	int pod_if;

	if (!json_is_object(prev))
		prev = NULL;
	ifaces = prev_list(prev, "interfaces");
	ips = prev_list(prev, "ips");
	routes = prev_list(prev, "routes");
	dns = json_is_object(json_object_get(prev, "dns")) ? json_deep_copy(json_object_get(prev, "dns"))
							   : json_object();

	if (kernel) {
		if (psw_nl_link_get(host, NULL, hmac, NULL) == 0)
			snprintf(hmac_s, sizeof(hmac_s), "%02x:%02x:%02x:%02x:%02x:%02x", hmac[0], hmac[1],
				 hmac[2], hmac[3], hmac[4], hmac[5]);
		json_array_append_new(ifaces, json_pack("{s:s, s:s}", "name", host, "mac", hmac_s));
	}
	pod_if = (int)json_array_size(ifaces);
	iface = json_pack("{s:s, s:s, s:s}", "name", c->ifname, "mac",
			  json_string_value(json_object_get(res, "mac")), "sandbox", c->netns ? c->netns : "");
	if (json_object_get(res, "socket") != NULL)
		json_object_set(iface, "socketPath", json_object_get(res, "socket"));
	if (json_integer_value(json_object_get(res, "mtu")) > 0)
		json_object_set(iface, "mtu", json_object_get(res, "mtu"));   /* CNI 1.1 */
	json_array_append_new(ifaces, iface);
	json_array_foreach(json_object_get(res, "ips"), i, v) {
		json_t *ip = json_pack("{s:O, s:i}", "address", json_object_get(v, "address"),
				       "interface", pod_if);

		if (json_object_get(v, "gateway") != NULL)
			json_object_set(ip, "gateway", json_object_get(v, "gateway"));
		json_array_append_new(ips, ip);
	}
	json_array_foreach(json_object_get(res, "routes"), i, v)
		json_array_append(routes, v);
	return json_pack("{s:s, s:o, s:o, s:o, s:o}", "cniVersion", c->cni_version,
			 "interfaces", ifaces, "ips", ips, "routes", routes, "dns", dns);
}

/*
 * cni.add, asked again while the switch answers "retry" (the Pod object
 * it waits for is not there) for up to waitForPod; then CNI's "try again
 * later" (11), which a kubelet does. Otherwise as api().
 */
static json_t *
add_waiting(const struct cni *c, json_t *args, json_t **resp, int *rc)
{
	struct timespec t0, now;
	const char *code;
	char err[1024];
	json_t *res;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		*resp = psw_api_call(c->socket, "cni.add", json_incref(args), err, sizeof(err));
		if (*resp == NULL) {
			json_decref(args);
			*rc = cni_error(c, CNI_E_TRY_AGAIN, err, "podswitch is not reachable on %s", c->socket);
			return NULL;
		}
		code = json_string_value(json_object_get(json_object_get(*resp, "error"), "code"));
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (code == NULL || strcmp(code, PSW_API_E_RETRY) != 0 ||
		    (now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000 >= c->wait_pod_ms)
			break;
		json_decref(*resp);
		*resp = NULL;
		usleep(100 * 1000);
	}
	json_decref(args);
	res = psw_api_result(*resp, err, sizeof(err));
	if (res == NULL)
		*rc = cni_error(c, code != NULL && strcmp(code, PSW_API_E_RETRY) == 0 ? CNI_E_TRY_AGAIN : CNI_E_SWITCH,
				NULL, "podswitch: %s%s", err, code != NULL && strcmp(code, PSW_API_E_RETRY) == 0 ?
				" (waited waitForPod)" : "");
	return res;
}

static int
cmd_add(struct cni *c)
{
	json_t *ipam = NULL, *args, *resp = NULL, *resp2 = NULL, *res, *result;
	const char *mac;
	char host[16] = "";
	bool kernel = false;
	int rc = 0;

	if (c->netns == NULL || c->netns[0] == '\0')
		return cni_error(c, CNI_E_INVALID_ENV, NULL, "CNI_NETNS is required for ADD");
	/* a second ADD without DEL: the pod's interface exists; nothing is touched */
	resp = psw_api_call(c->socket, "cni.check", json_pack("{s:s, s:s}", "container_id",
			    c->container_id, "ifname", c->ifname), (char[256]){ 0 }, 256);
	if (json_is_true(json_object_get(resp, "ok"))) {
		json_decref(resp);
		return cni_error(c, CNI_E_EXISTS, NULL, "container %s already has interface %s on "
				 "network %s; DEL it first", c->container_id, c->ifname, c->network);
	}
	json_decref(resp);
	resp = NULL;
	if (json_object_get(c->conf, "ipam") != NULL &&
	    (ipam = run_ipam(c, "ADD", &rc)) == NULL)
		return rc;
	/* the switch may choose a kernel interface (the Pod's annotation): its
	 * host end's name, free or ours (left over from an ADD that failed and
	 * deleted now), never another pod's whose name hashes the same */
	if (host_for_add(c, host) < 0) {
		rc = cni_error(c, CNI_E_NETLINK, NULL, "no name for the host end of %s: the %d tried "
			       "(psw%%08x from the container id and interface) are other interfaces'",
			       c->ifname, HOST_NAME_TRIES);
		goto out_ipam;
	}
	mac = c->mac_arg[0] ? c->mac_arg :
	      json_string_value(json_object_get(json_object_get(c->conf, "runtimeConfig"), "mac"));
	args = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:b, s:s}", "container_id", c->container_id,
			 "ifname", c->ifname, "netns", c->netns, "network", c->network,
			 "pod_namespace", c->pod_namespace, "pod_name", c->pod_name,
			 "default_interface", c->default_interface, "ips",
			 requested_ips(c, ipam), "ipam_external", ipam != NULL, "host_ifname", host);
	if (c->interface != NULL)
		json_object_set_new(args, "interface", json_string(c->interface));
	/* only a pod the runtime named can be waited for */
	if (c->wait_pod_ms > 0 && c->k8s_name[0] != '\0')
		json_object_set_new(args, "wait_for_pod", json_true());
	if (mac != NULL)
		json_object_set_new(args, "mac", json_string(mac));
	res = add_waiting(c, args, &resp, &rc);
	if (res == NULL)
		goto out_ipam;
	kernel = strcmp(json_string_value(json_object_get(res, "interface")) ?: "kernel", "kernel") == 0;
	if (ipam != NULL)
		use_ipam_addressing(res, ipam);
	if (kernel && setup_kernel(c, res, host, &rc) < 0)
		goto out_del;
	if (api(c, "cni.attach", json_pack("{s:s, s:s}", "container_id", c->container_id,
					   "ifname", c->ifname), &resp2, &rc) == NULL)
		goto out_link;
	result = add_result(c, res, host, kernel);
	json_dumpf(result, stdout, JSON_INDENT(2));
	fputc('\n', stdout);
	json_decref(result);
	goto out;

out_link:
	if (kernel)
		psw_nl_link_del(host);
out_del:
	json_decref(psw_api_call(c->socket, "cni.del", json_pack("{s:s, s:s}", "container_id",
			c->container_id, "ifname", c->ifname), (char[256]){ 0 }, 256));
out_ipam:
	if (ipam != NULL) {
		int ignored;

		json_decref(run_ipam(c, "DEL", &ignored));
	}
out:
	json_decref(ipam);
	json_decref(resp);
	json_decref(resp2);
	return rc;
}

/* ---------------------------------------------------------------------- DEL */

/* fsync a directory: a rename or a new file in it is durable only then. */
static int
sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

/*
 * DEL while the switch cannot be reached: record the release durably in
 * <stateDir>/released/<container>.<ifname>.json (written as a hidden
 * temporary, fsync, rename, fsync of the directory). The switch takes it at
 * start, every second while running, and on GC (psw_state_take_releases).
 * @return 0, or a negative errno.
 */
static int
record_release(const struct cni *c)
{
	char dir[PATH_MAX], tmp[PATH_MAX], path[PATH_MAX];
	json_t *rec;
	int fd, rc = 0;

	snprintf(dir, sizeof(dir), "%s/released", c->state_dir);
	if ((mkdir(c->state_dir, 0700) < 0 && errno != EEXIST) || (mkdir(dir, 0700) < 0 && errno != EEXIST))
		return -errno;
	snprintf(path, sizeof(path), "%s/%s.%s.json", dir, c->container_id, c->ifname);
	snprintf(tmp, sizeof(tmp), "%s/.%s.%s.tmp", dir, c->container_id, c->ifname);
	rec = json_pack("{s:s, s:s, s:s, s:I}", "container_id", c->container_id, "ifname", c->ifname,
			"network", c->network, "time", (json_int_t)time(NULL));
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || json_dumpfd(rec, fd, 0) < 0 || fsync(fd) < 0)
		rc = errno ? -errno : -EIO;
	if (fd >= 0)
		close(fd);
	json_decref(rec);
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc == 0)
		rc = sync_dir(dir);
	if (rc < 0)
		unlink(tmp);
	return rc;
}

/*
 * DEL succeeds whenever the pod can go: what lives outside the switch (the
 * host end of the veth, a delegated IPAM's address) is removed here; the
 * switch releases its own part, at once, or, when it cannot be reached
 * (down, restarting), from the record this leaves for it.
 */
static int
cmd_del(struct cni *c)
{
	json_t *resp, *res;
	char host[16], err[1024], recorded[16] = "";
	unsigned salt;
	int rc = 0;

	resp = psw_api_call(c->socket, "cni.del", json_pack("{s:s, s:s}", "container_id",
			    c->container_id, "ifname", c->ifname), err, sizeof(err));
	if (resp == NULL) {
		rc = record_release(c);
		if (rc < 0)
			return cni_error(c, CNI_E_TRY_AGAIN, err, "podswitch is not reachable on %s and "
					 "the release cannot be recorded in %s/released: %s", c->socket,
					 c->state_dir, strerror(-rc));
		fprintf(stderr, "podswitch-cni: podswitch is not reachable on %s (%s); the release of "
			"%s/%s is recorded in %s/released\n", c->socket, err, c->container_id, c->ifname,
			c->state_dir);
	} else if ((res = psw_api_result(resp, err, sizeof(err))) == NULL) {
		rc = cni_error(c, CNI_E_SWITCH, NULL, "podswitch: %s", err);
		json_decref(resp);
		return rc;
	} else {
		snprintf(recorded, sizeof(recorded), "%s", json_string_value(json_object_get(
			 json_object_get(res, "attachment"), "host_ifname")) ?: "");
	}
	json_decref(resp);
	/*
	 * The host end: the name the switch recorded (ADD found it free or
	 * ours), when it is one this attachment's names could be (with or
	 * without CNI_NETNS); and, as the names are derived, so that it goes
	 * even when the switch has no record, each one whose other end is
	 * CNI_IFNAME in CNI_NETNS.
	 */
	for (salt = 0; salt < HOST_NAME_TRIES; salt++) {
		host_ifname(c, salt, host);
		if (strcmp(host, recorded) == 0 || host_owner(c, host) == 1)
			psw_nl_link_del(host);
	}
	if (json_object_get(c->conf, "ipam") != NULL) {
		json_t *r = run_ipam(c, "DEL", &rc);

		if (r == NULL)
			return rc;
		json_decref(r);
	}
	return 0;
}

/* -------------------------------------------------------------------- CHECK */

/*
 * The routes via gw the result lists (a default route, or the pods'
 * prefixes of a secondary attachment) are on ifindex; with none listed, a
 * default route. 0, or 1 after the error.
 */
static int
check_routes(const struct cni *c, json_t *result, int ifindex, int fam, const char *gw, const uint8_t *g)
{
	bool listed = false;
	json_t *v;
	size_t i;

	json_array_foreach(json_object_get(result, "routes"), i, v) {
		const char *dst = json_string_value(json_object_get(v, "dst"));
		const char *rgw = json_string_value(json_object_get(v, "gw"));
		struct psw_nl_addr p;

		if (dst == NULL || rgw == NULL || strcmp(rgw, gw) != 0 || parse_cidr(dst, &p) < 0 || p.family != fam)
			continue;
		listed = true;
		if (psw_nl_has_route(ifindex, fam, p.addr, p.plen, g) != 1)
			return cni_error(c, CNI_E_CHECK, NULL, "no route to %s via %s on %s", dst, gw, c->ifname);
	}
	if (!listed && psw_nl_has_route(ifindex, fam, NULL, 0, g) != 1)
		return cni_error(c, CNI_E_CHECK, NULL, "no default route via %s on %s", gw, c->ifname);
	return 0;
}

static int
check_kernel(const struct cni *c, json_t *att, json_t *result)
{
	struct psw_nl_addr addrs[16];
	uint8_t mac[6], want_mac[6];
	char host[16];
	json_t *v;
	size_t i;
	int old, ifindex, n, rc = 0;
	bool up;

	if (!host_find_ours(c, host))
		return cni_error(c, CNI_E_CHECK, NULL, "the host end of %s's veth is missing (psw%%08x from "
				 "the container id and interface)", c->ifname);
	sscanf(json_string_value(json_object_get(att, "mac")), "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx",
	       &want_mac[0], &want_mac[1], &want_mac[2], &want_mac[3], &want_mac[4], &want_mac[5]);
	old = psw_nl_enter_netns(c->netns);
	if (old < 0)
		return cni_error(c, CNI_E_UNKNOWN_CONTAINER, NULL, "cannot enter netns %s: %s",
				 c->netns, strerror(-old));
	if (psw_nl_link_get(c->ifname, &ifindex, mac, &up) < 0) {
		rc = cni_error(c, CNI_E_CHECK, NULL, "interface %s is missing in %s", c->ifname, c->netns);
		goto out;
	}
	if (memcmp(mac, want_mac, 6) != 0 || !up) {
		rc = cni_error(c, CNI_E_CHECK, NULL, "interface %s is %s or has another MAC than %s",
			       c->ifname, up ? "up" : "down", json_string_value(json_object_get(att, "mac")));
		goto out;
	}
	n = psw_nl_addr_list(ifindex, addrs, 16);
	json_array_foreach(json_object_get(result, "ips"), i, v) {
		struct psw_nl_addr want;
		const char *gw = json_string_value(json_object_get(v, "gateway"));
		bool found = false;
		uint8_t g[16];
		int k;

		if (parse_cidr(json_string_value(json_object_get(v, "address")), &want) < 0)
			continue;
		for (k = 0; k < n; k++)
			found |= addrs[k].family == want.family && addrs[k].plen == want.plen &&
				 memcmp(addrs[k].addr, want.addr, want.family == AF_INET ? 4 : 16) == 0;
		if (!found) {
			rc = cni_error(c, CNI_E_CHECK, NULL, "address %s is missing on %s",
				       json_string_value(json_object_get(v, "address")), c->ifname);
			goto out;
		}
		if (gw != NULL && inet_pton(want.family, gw, g) == 1 &&
		    (rc = check_routes(c, result, ifindex, want.family, gw, g)) != 0)
			goto out;
	}
out:
	psw_nl_leave_netns(old);
	return rc;
}

static int
cmd_check(struct cni *c)
{
	json_t *resp = NULL, *res, *prev = json_object_get(c->conf, "prevResult");
	int rc = 0;

	if (!json_is_object(prev))
		return cni_error(c, CNI_E_INVALID_CONFIG, NULL, "CHECK needs prevResult");
	res = api(c, "cni.check", json_pack("{s:s, s:s}", "container_id", c->container_id, "ifname",
					    c->ifname), &resp, &rc);
	if (res == NULL)
		goto out;
	if (!json_is_true(json_object_get(res, "port_present"))) {
		rc = cni_error(c, CNI_E_CHECK, NULL, "podswitch has no port for %s/%s", c->container_id,
			       c->ifname);
		goto out;
	}
	if (strcmp(json_string_value(json_object_get(res, "interface")), "kernel") == 0) {
		/* addresses and routes as the runtime was told they are */
		rc = check_kernel(c, res, prev);
	} else {
		struct stat sb;
		const char *sock = json_string_value(json_object_get(res, "socket"));

		if (sock == NULL || stat(sock, &sb) < 0 || !S_ISSOCK(sb.st_mode))
			rc = cni_error(c, CNI_E_CHECK, NULL, "the pod's socket %s is missing",
				       sock ? sock : "?");
	}
out:
	json_decref(resp);
	return rc;
}

/* ------------------------------------------------------------ STATUS and GC */

/*
 * Code 50 unless the switch can take a new pod now: it answers, is ready,
 * has a free port and (when it hands out addresses, no delegated IPAM) a
 * free address in each of its pools. ADD and DEL are accepted regardless.
 */
static int
cmd_status(struct cni *c)
{
	char err[1024];
	json_t *resp = psw_api_call(c->socket, "status", NULL, err, sizeof(err)), *res, *cap;
	bool own_ipam = json_object_get(c->conf, "ipam") == NULL;
	int rc = 0;

	if (resp == NULL)
		return cni_error(c, CNI_E_NOT_AVAILABLE, err, "podswitch is not available on %s",
				 c->socket);
	res = psw_api_result(resp, err, sizeof(err));
	cap = json_object_get(res, "pod_capacity");
	if (res == NULL || !json_is_true(json_object_get(res, "ready")))
		rc = cni_error(c, CNI_E_NOT_AVAILABLE, NULL, "podswitch is not ready");
	else if (json_object_get(cap, "pods_free") != NULL &&
		 json_integer_value(json_object_get(cap, "pods_free")) <= 0)
		rc = cni_error(c, CNI_E_NOT_AVAILABLE, NULL, "podswitch cannot take a new pod: it holds "
			       "its maximum of %" JSON_INTEGER_FORMAT " pods (limits.pods)",
			       json_integer_value(json_object_get(json_object_get(json_object_get(res,
				       "limits"), "pods"), "max")));
	else if (json_integer_value(json_object_get(cap, "ports_free")) <= 0)
		rc = cni_error(c, CNI_E_NOT_AVAILABLE, NULL, "podswitch cannot take a new pod: all %"
			       JSON_INTEGER_FORMAT " ports are in use",
			       json_integer_value(json_object_get(res, "max_ports")));
	else if (own_ipam && json_integer_value(json_object_get(cap, "ipv4_free")) == 0)
		rc = cni_error(c, CNI_E_NOT_AVAILABLE, NULL, "podswitch cannot take a new pod: its "
			       "IPv4 address pool is exhausted");
	else if (own_ipam && json_integer_value(json_object_get(cap, "ipv6_free")) == 0)
		rc = cni_error(c, CNI_E_NOT_AVAILABLE, NULL, "podswitch cannot take a new pod: its "
			       "IPv6 address pool is exhausted");
	json_decref(resp);
	return rc;
}

static int
cmd_gc(struct cni *c)
{
	json_t *valid = json_object_get(c->conf, "cni.dev/valid-attachments"), *v, *list, *resp, *res;
	size_t i;
	int rc = 0;

	if (valid == NULL)
		valid = json_object_get(c->conf, "cni.dev/attachments");
	if (valid != NULL && !json_is_array(valid))
		return cni_error(c, CNI_E_INVALID_CONFIG, NULL,
				 "cni.dev/valid-attachments must be a list");
	list = json_array();
	json_array_foreach(valid, i, v) {
		const char *cid = json_string_value(json_object_get(v, "containerID"));
		const char *ifn = json_string_value(json_object_get(v, "ifname"));

		if (cid == NULL || ifn == NULL) {
			json_decref(list);
			return cni_error(c, CNI_E_INVALID_CONFIG, NULL,
					 "valid attachment %zu needs containerID and ifname", i);
		}
		json_array_append_new(list, json_pack("{s:s, s:s}", "container_id", cid, "ifname", ifn));
	}
	res = api(c, "cni.gc", json_pack("{s:o, s:s}", "valid", list, "network", c->network), &resp, &rc);
	if (res != NULL) {
		json_array_foreach(json_object_get(res, "removed"), i, v) {
			const char *host = json_string_value(json_object_get(v, "host_ifname"));

			if (host != NULL && host[0] != '\0')
				psw_nl_link_del(host);
		}
	}
	json_decref(resp);
	return rc;
}

static int
cmd_version(const struct cni *c)
{
	json_t *v = json_pack("{s:s, s:[]}", "cniVersion", "1.1.0", "supportedVersions");
	unsigned i;

	for (i = 0; versions[i] != NULL; i++)
		json_array_append_new(json_object_get(v, "supportedVersions"), json_string(versions[i]));
	json_dumpf(v, stdout, JSON_INDENT(2));
	fputc('\n', stdout);
	json_decref(v);
	return 0;
}

/* ---------------------------------------------------------------------- main */

/*
 * The CNI_* variables a command needs (ADD, CHECK: container, netns,
 * interface; DEL: container and interface), each checked; the error names
 * every one that is missing or malformed, not only the first.
 */
static int
check_env(const struct cni *c)
{
	bool need_netns = strcmp(c->command, "DEL") != 0;
	char bad[512] = "";
	size_t n = 0;

#define BAD(...) (n += (size_t)snprintf(bad + n, n < sizeof(bad) ? sizeof(bad) - n : 0, __VA_ARGS__))
	if (c->container_id == NULL || c->container_id[0] == '\0')
		BAD("%sCNI_CONTAINERID is not set", n ? "; " : "");
	else if (!cni_identifier(c->container_id))
		BAD("%sCNI_CONTAINERID '%.64s' is not a container ID (a letter or digit, then letters, "
		    "digits, '_', '.' or '-')", n ? "; " : "", c->container_id);
	if (c->ifname == NULL || c->ifname[0] == '\0')
		BAD("%sCNI_IFNAME is not set", n ? "; " : "");
	else if (!linux_ifname(c->ifname))
		BAD("%sCNI_IFNAME '%.32s' is not an interface name (1..15 characters, not '.' or '..', "
		    "no '/', ':' or white space)", n ? "; " : "", c->ifname);
	if (need_netns && (c->netns == NULL || c->netns[0] == '\0'))
		BAD("%sCNI_NETNS is not set (%s needs it)", n ? "; " : "", c->command);
	else if (c->netns != NULL && c->netns[0] != '\0' && c->netns[0] != '/')
		BAD("%sCNI_NETNS '%.64s' is not an absolute path", n ? "; " : "", c->netns);
#undef BAD
	if (n == 0)
		return 0;
	return cni_error(c, CNI_E_INVALID_ENV, NULL, "%s", bad);
}

static bool
interface_kind(const char *s)
{
	return strcmp(s, "kernel") == 0 || strcmp(s, "vhost-user") == 0 || strcmp(s, "memif") == 0;
}

/*
 * The interface choices of a request (ctl/psw_podif.h has the order): its
 * own (PODSWITCH_INTERFACE in CNI_ARGS, else args.cni.interface, where
 * Multus puts a pod's cni-args), the default (the configuration's
 * "interface"), and how long to wait for the Pod object (waitForPod).
 */
static int
parse_interface(struct cni *c)
{
	json_t *own = json_object_get(json_object_get(json_object_get(c->conf, "args"), "cni"), "interface");
	json_t *dflt = json_object_get(c->conf, "interface"), *wait = json_object_get(c->conf, "waitForPod");

	if ((own != NULL && !json_is_string(own)) || (dflt != NULL && !json_is_string(dflt)))
		return cni_error(c, CNI_E_INVALID_CONFIG, NULL, "'interface' and 'args.cni.interface' must be "
				 "strings (kernel, vhost-user or memif)");
	c->interface = c->iface_arg[0] ? c->iface_arg : json_string_value(own);
	c->default_interface = dflt != NULL ? json_string_value(dflt) : "kernel";
	if (c->interface != NULL && !interface_kind(c->interface))
		return cni_error(c, CNI_E_INVALID_CONFIG, NULL, "interface '%s' (%s) is not kernel, vhost-user "
				 "or memif", c->interface, c->iface_arg[0] ? "CNI_ARGS PODSWITCH_INTERFACE" :
				 "args.cni.interface");
	if (!interface_kind(c->default_interface))
		return cni_error(c, CNI_E_INVALID_CONFIG, NULL, "interface '%s' is not kernel, vhost-user or "
				 "memif", c->default_interface);
	if (wait != NULL && (!json_is_number(wait) || json_number_value(wait) < 0 ||
			     json_number_value(wait) > 600))
		return cni_error(c, CNI_E_INVALID_CONFIG, NULL, "'waitForPod' must be a number of seconds, "
				 "0 to 600");
	c->wait_pod_ms = wait != NULL ? (unsigned)(json_number_value(wait) * 1000) : 0;
	return 0;
}

/* The request's checks, in the order the specification lists them (psw_cni.h). */
int
psw_cni_parse(struct cni *c)
{
	json_error_t je;
	const char *name;
	int rc;

	c->conf = json_loads(c->stdin_text, 0, &je);
	if (!json_is_object(c->conf))
		return cni_error(NULL, CNI_E_DECODE, NULL, "network configuration is not JSON: %s "
				 "(line %d)", je.text, je.line);
	c->cni_version = json_string_value(json_object_get(c->conf, "cniVersion"));
	if (c->cni_version == NULL)
		return cni_error(NULL, CNI_E_INVALID_CONFIG, NULL, "cniVersion is missing");
	if (!version_supported(c->cni_version))
		return cni_error(c, CNI_E_VERSION, NULL, "cniVersion %s is not supported (1.0.0, 1.1.0)",
				 c->cni_version);
	name = json_string_value(json_object_get(c->conf, "name"));
	if (name == NULL || name[0] == '\0')
		return cni_error(c, CNI_E_INVALID_CONFIG, NULL, "the network configuration has no name");
	if (!cni_identifier(name))
		return cni_error(c, CNI_E_INVALID_CONFIG, NULL, "network name '%s' is not allowed: it "
				 "starts with a letter or digit, then letters, digits, '_', '.' or '-'",
				 name);
	c->network = name;
	c->socket = json_string_value(json_object_get(c->conf, "socket"));
	if (json_object_get(c->conf, "socket") != NULL && c->socket == NULL)
		return cni_error(c, CNI_E_INVALID_CONFIG, NULL, "'socket' must be a path");
	if (c->socket == NULL)
		c->socket = PSW_API_DEFAULT_SOCKET;
	c->state_dir = json_string_value(json_object_get(c->conf, "stateDir"));
	if (json_object_get(c->conf, "stateDir") != NULL && (c->state_dir == NULL || c->state_dir[0] != '/'))
		return cni_error(c, CNI_E_INVALID_CONFIG, NULL, "'stateDir' must be an absolute path");
	if (c->state_dir == NULL)
		c->state_dir = PSW_CNI_DEFAULT_STATE_DIR;
	if (strcmp(c->command, "STATUS") == 0 || strcmp(c->command, "GC") == 0) {
		if (strcmp(c->cni_version, "1.1.0") < 0)
			return cni_error(c, CNI_E_VERSION, NULL, "%s is a CNI 1.1.0 command; the "
					 "configuration says cniVersion %s", c->command, c->cni_version);
		return 0;
	}
	c->container_id = getenv("CNI_CONTAINERID");
	c->netns = getenv("CNI_NETNS");
	c->ifname = getenv("CNI_IFNAME");
	c->path = getenv("CNI_PATH");
	if ((rc = check_env(c)) != 0)
		return rc;
	if ((rc = parse_cni_args(c, getenv("CNI_ARGS"))) != 0)
		return rc;
	c->pod_namespace = c->k8s_ns[0] ? c->k8s_ns : "default";
	c->pod_name = c->k8s_name[0] ? c->k8s_name : c->container_id;
	return parse_interface(c);
}

int
main(void)
{
	struct cni c = { 0 };
	int rc;

	signal(SIGPIPE, SIG_IGN);            /* an IPAM plugin that exits early is an error, not a kill */
	c.command = getenv("CNI_COMMAND");
	if (c.command == NULL || c.command[0] == '\0')
		return cni_error(NULL, CNI_E_INVALID_ENV, NULL, "CNI_COMMAND is not set");
	if (strcmp(c.command, "VERSION") == 0)
		return cmd_version(&c);
	c.stdin_text = read_stdin();
	if (c.stdin_text == NULL)
		return cni_error(NULL, CNI_E_IO, NULL, "cannot read the network configuration");
	rc = psw_cni_parse(&c);
	if (rc != 0)
		;                                /* refused, and said why */
	else if (strcmp(c.command, "STATUS") == 0)
		rc = cmd_status(&c);
	else if (strcmp(c.command, "GC") == 0)
		rc = cmd_gc(&c);
	else if (strcmp(c.command, "ADD") == 0)
		rc = cmd_add(&c);
	else if (strcmp(c.command, "DEL") == 0)
		rc = cmd_del(&c);
	else if (strcmp(c.command, "CHECK") == 0)
		rc = cmd_check(&c);
	else
		rc = cni_error(&c, CNI_E_INVALID_ENV, NULL, "CNI_COMMAND '%s' is not one of ADD, DEL, "
			       "CHECK, STATUS, GC, VERSION", c.command);
	json_decref(c.conf);
	free(c.stdin_text);
	return rc;
}
