/* Per-pod directories: sockets and interfaces.json where the pod finds them (psw_poddir.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "psw_file.h"
#include "psw_k8s_validate.h"
#include "psw_log.h"
#include "psw_poddir.h"

/* Where a pod mounts its directory: the --vdev strings of interfaces.json assume it. */
#define POD_MOUNT "/run/podswitch"

/*
 * Could the attachment's pod have a directory (its kernel interfaces are
 * listed there too)? Not one the runtime did not name: the CNI plugin
 * names it by its container id then (no K8S_POD_NAME), no Kubernetes pod.
 */
static bool
pod_named(const struct psw_state *st, const struct psw_attachment *a)
{
	return st->cfg.api.pods_dir[0] != '\0' && psw_k8s_dns_label(a->pod_namespace, 63) &&
	       psw_k8s_dns_subdomain(a->pod_name) && strcmp(a->pod_name, a->container_id) != 0;
}

bool
psw_poddir_wanted(const struct psw_state *st, const struct psw_attachment *a)
{
	return (a->kind == PSW_PORT_VHOST || a->kind == PSW_PORT_MEMIF) && pod_named(st, a);
}

/* FNV-1a, 64 bits, of "namespace/pod": the short link's name. */
static uint64_t
pod_hash(const struct psw_attachment *a)
{
	uint64_t h = 0xcbf29ce484222325ull;
	const char *parts[3] = { a->pod_namespace, "/", a->pod_name }, *p;
	unsigned i;

	for (i = 0; i < 3; i++)
		for (p = parts[i]; *p != '\0'; p++)
			h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
	return h;
}

static void
link_path(const struct psw_state *st, const struct psw_attachment *a, char *buf, size_t len)
{
	snprintf(buf, len, "%s/p/%016llx", st->cfg.api.sockets_dir, (unsigned long long)pod_hash(a));
}

static int
pod_path(const struct psw_state *st, const struct psw_attachment *a, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s/%s", st->cfg.api.pods_dir, a->pod_namespace, a->pod_name);

	return n < 0 || (size_t)n >= len ? -1 : 0;
}

static const char *
socket_suffix(const struct psw_attachment *a)
{
	return a->kind == PSW_PORT_VHOST ? "sock" : "memif";
}

int
psw_poddir_socket(const struct psw_state *st, struct psw_attachment *a, char *err, size_t len)
{
	char link[PSW_PATH_MAX];
	int n;

	link_path(st, a, link, sizeof(link));
	n = snprintf(a->socket, sizeof(a->socket), "%s/%s.%s", link, a->ifname, socket_suffix(a));
	if (n < 0 || (size_t)n >= sizeof(a->socket)) {
		snprintf(err, len, "socket path %s/%s.%s is longer than a Unix socket path allows: shorten "
			 "api.sockets_dir", link, a->ifname, socket_suffix(a));
		return -1;
	}
	return 0;
}

static bool
same_pod(const struct psw_attachment *a, const struct psw_attachment *b)
{
	return strcmp(a->pod_namespace, b->pod_namespace) == 0 && strcmp(a->pod_name, b->pod_name) == 0;
}

int
psw_poddir_prepare(const struct psw_state *st, const struct psw_attachment *a, char *err, size_t len)
{
	char link[PSW_PATH_MAX], links[PSW_PATH_MAX], dir[PATH_MAX], was[PATH_MAX];
	uint64_t h = pod_hash(a);
	unsigned i;
	ssize_t n;
	int rc;

	for (i = 0; i < st->nb_atts; i++) {
		const struct psw_attachment *o = &st->atts[i];

		if (o != a && psw_poddir_wanted(st, o) && !same_pod(o, a) && pod_hash(o) == h) {
			snprintf(err, len, "pod %s/%s: its socket link would be pod %s/%s's (their names hash "
				 "alike); rename one", a->pod_namespace, a->pod_name, o->pod_namespace,
				 o->pod_name);
			return -1;
		}
	}
	if (pod_path(st, a, dir, sizeof(dir)) < 0) {
		snprintf(err, len, "pod directory for %s/%s: path too long", a->pod_namespace, a->pod_name);
		return -1;
	}
	link_path(st, a, link, sizeof(link));
	snprintf(links, sizeof(links), "%s/p", st->cfg.api.sockets_dir);
	if ((rc = psw_file_mkdirs(dir)) < 0 || (rc = psw_file_mkdirs(links)) < 0) {
		snprintf(err, len, "pod directory %s or %s: %s", dir, links, strerror(-rc));
		return -1;
	}
	n = readlink(link, was, sizeof(was) - 1);
	if (n >= 0) {
		was[n] = '\0';
		if (strcmp(was, dir) == 0)
			return 0;
	}
	/* missing, or left from a pod gone (its names hash alike: checked above) */
	if ((n >= 0 || errno != ENOENT) && unlink(link) < 0 && errno != ENOENT) {
		snprintf(err, len, "socket link %s: %s", link, strerror(errno));
		return -1;
	}
	if (symlink(dir, link) < 0) {
		snprintf(err, len, "socket link %s -> %s: %s", link, dir, strerror(errno));
		return -1;
	}
	return 0;
}

/* One interface of the pod, as interfaces.json lists it. */
static json_t *
interface_json(const struct psw_state *st, const struct psw_attachment *a)
{
	char ip[INET6_ADDRSTRLEN + 8], gw[INET6_ADDRSTRLEN], mac[18], vdev[512], sock[64] = "";
	json_t *ips = json_array(), *o;
	const char *kind = a->kind == PSW_PORT_VHOST ? "vhost-user" : a->kind == PSW_PORT_MEMIF ? "memif" : "kernel";

	snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", a->mac[0], a->mac[1], a->mac[2], a->mac[3],
		 a->mac[4], a->mac[5]);
	if (a->has_ip4) {
		inet_ntop(AF_INET, a->ip4, ip, sizeof(ip));
		snprintf(ip + strlen(ip), 8, "/%u", a->ipam_external ? 32 : st->cfg.node.pod_cidr.len);
		json_array_append_new(ips, json_string(ip));
	}
	if (a->has_ip6) {
		inet_ntop(AF_INET6, a->ip6, ip, sizeof(ip));
		snprintf(ip + strlen(ip), 8, "/%u", a->ipam_external ? 128 : st->cfg.node.pod_cidr6.len);
		json_array_append_new(ips, json_string(ip));
	}
	o = json_pack("{s:s, s:s, s:s, s:o, s:i, s:i}", "name", a->ifname, "kind", kind, "mac", mac,
		      "ips", ips, "mtu", (int)psw_config_pod_mtu(&st->cfg), "queues", 1);
	if (a->has_ip4)
		json_object_set_new(o, "gateway", json_string(inet_ntop(AF_INET, &st->cfg.node.gateway, gw,
									  sizeof(gw))));
	if (a->has_ip6 && st->cfg.node.pod_cidr6.family == 6)
		json_object_set_new(o, "gateway6", json_string(inet_ntop(AF_INET6, st->cfg.node.gateway6, gw,
									   sizeof(gw))));
	if (a->kind == PSW_PORT_KERNEL || a->kind == PSW_PORT_AFPACKET)
		return o;
	snprintf(sock, sizeof(sock), "%s.%s", a->ifname, socket_suffix(a));
	/* the application's end: virtio-user to the switch's vhost-user server, a
	 * memif slave to its master; the path as the pod sees it at POD_MOUNT */
	if (a->kind == PSW_PORT_VHOST)
		snprintf(vdev, sizeof(vdev), "net_virtio_user_%s,path=" POD_MOUNT "/%s,mac=%s,queues=1",
			 a->ifname, sock, mac);
	else
		snprintf(vdev, sizeof(vdev), "net_memif_%s,role=client,socket=" POD_MOUNT "/%s,"
			 "socket-abstract=no,mac=%s", a->ifname, sock, mac);
	json_object_set_new(o, "socket", json_string(sock));
	json_object_set_new(o, "vdev", json_string(vdev));
	return o;
}

/* interfaces.json's temporary, before its rename */
static const char tmp[] = ".interfaces.json.tmp";

/* Write interfaces.json into the directory dfd: a temporary file (never through a link), renamed. */
static int
write_file(int dfd, json_t *doc)
{
	char *text = json_dumps(doc, JSON_INDENT(2));
	struct stat sb;
	int fd, rc = 0;

	if (text == NULL)
		return -ENOMEM;
	unlinkat(dfd, tmp, 0);
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644);
	if (fd < 0)
		rc = -errno;
	else if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode))
		rc = -EINVAL;
	else if ((rc = psw_file_write_all(fd, text, strlen(text))) == 0 &&
		 (psw_file_write_all(fd, "\n", 1) < 0 || renameat(dfd, tmp, dfd, "interfaces.json") < 0))
		rc = -errno;
	if (fd >= 0)
		close(fd);
	if (rc < 0)
		unlinkat(dfd, tmp, 0);
	free(text);
	return rc;
}

/* No DPDK interface left: the file, the link, the directory and, when empty, the namespace's. */
static void
remove_dir(const struct psw_state *st, const struct psw_attachment *a, int dfd, const char *link)
{
	char dir[PATH_MAX];

	unlinkat(dfd, "interfaces.json", 0);
	unlinkat(dfd, tmp, 0);                   /* left by a switch killed while writing */
	if (pod_path(st, a, dir, sizeof(dir)) < 0)
		return;
	unlink(link);
	if (rmdir(dir) < 0 && errno != ENOENT)
		PSW_LOG(WARN, STATE, "pod directory %s kept: %s (the pod left something there)", dir,
			strerror(errno));
	*strrchr(dir, '/') = '\0';
	rmdir(dir);                              /* the namespace's, when it was the last pod */
}

void
psw_poddir_publish(const struct psw_state *st, const struct psw_attachment *a)
{
	char link[PSW_PATH_MAX], dir[PATH_MAX], was[PATH_MAX], sock[64];
	json_t *list, *doc;
	bool dpdk = false;
	unsigned i;
	ssize_t n;
	int dfd, rc;

	if (!pod_named(st, a) || pod_path(st, a, dir, sizeof(dir)) < 0)
		return;
	/* only through a link to its own directory: a pod refused because its
	 * names hash like another's has that other pod's link (its DEL must not
	 * take the other's files), and one without a DPDK interface none */
	link_path(st, a, link, sizeof(link));
	n = readlink(link, was, sizeof(was) - 1);
	if (n < 0)
		return;
	was[n] = '\0';
	if (strcmp(was, dir) != 0)
		return;
	dfd = open(link, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return;
	/* a is going (detached): its socket's name too, which a switch that died
	 * left behind for a DEL taken at the restart (no port of ours unlinks it) */
	if (!a->attached && psw_poddir_wanted(st, a)) {
		snprintf(sock, sizeof(sock), "%s.%s", a->ifname, socket_suffix(a));
		unlinkat(dfd, sock, 0);
	}
	list = json_array();
	for (i = 0; i < st->nb_atts; i++) {
		const struct psw_attachment *o = &st->atts[i];

		if (!same_pod(o, a) || (!o->attached && o == a))
			continue;
		/* one restored at a start but not attached yet keeps the directory
		 * too: the running pod has it mounted, and would not see a new one */
		dpdk |= psw_poddir_wanted(st, o);
		if (o->attached)
			json_array_append_new(list, interface_json(st, o));
	}
	if (!dpdk) {
		json_decref(list);
		remove_dir(st, a, dfd, link);
		close(dfd);
		return;
	}
	doc = json_pack("{s:s, s:s, s:o}", "namespace", a->pod_namespace, "name", a->pod_name, "interfaces", list);
	rc = write_file(dfd, doc);
	if (rc < 0)
		PSW_LOG(WARN, STATE, "interfaces.json of pod %s/%s not written: %s", a->pod_namespace, a->pod_name,
			strerror(-rc));
	json_decref(doc);
	close(dfd);
}
