/*
 * The state file: CNI attachments and their addresses, written atomically
 * (temporary file, fsync, rename, fsync of the directory) after every
 * change, read once at start. A restarted switch reserves every recorded
 * address again and re-creates the recorded ports, so pods keep their
 * addresses and vhost-user / memif pods reconnect. A file it cannot read
 * stops the start (see psw_state_load): never overwritten unread.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "psw_file.h"
#include "psw_ipam.h"
#include "psw_state.h"
#include "psw_state_file.h"
#include "psw_log.h"

#define STATE_VERSION 1

static const char *
kind_str(enum psw_port_kind k)
{
	return psw_port_kind_name(k);
}

static int
kind_from(const char *s, enum psw_port_kind *k)
{
	unsigned i;

	for (i = 0; s != NULL && i < PSW_PORT_KIND_COUNT; i++)
		if (strcmp(s, psw_port_kind_name((enum psw_port_kind)i)) == 0) {
			*k = (enum psw_port_kind)i;
			return 0;
		}
	return -EINVAL;
}

static json_t *
attachment_json(const struct psw_attachment *a)
{
	char ip4[INET_ADDRSTRLEN] = "", ip6[INET6_ADDRSTRLEN] = "", mac[18];

	if (a->has_ip4)
		inet_ntop(AF_INET, a->ip4, ip4, sizeof(ip4));
	if (a->has_ip6)
		inet_ntop(AF_INET6, a->ip6, ip6, sizeof(ip6));
	snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", a->mac[0], a->mac[1],
		 a->mac[2], a->mac[3], a->mac[4], a->mac[5]);
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:I}",
			 "container_id", a->container_id, "ifname", a->ifname, "netns", a->netns,
			 "network", a->network, "network_attachment", a->nad,
			 "pod_namespace", a->pod_namespace, "pod_name", a->pod_name,
			 "kind", kind_str(a->kind), "host_ifname", a->host_ifname,
			 "socket", a->socket, "port", a->port_name, "mac", mac, "ip4", ip4,
			 "ip6", ip6, "ipam_external", a->ipam_external,
			 "created", (json_int_t)a->created);
}

int
psw_state_save(struct psw_state *st)
{
	json_t *root, *list;
	char *text;
	unsigned i;
	int rc;

	if (st->state_file[0] == '\0')
		return 0;
	list = json_array();
	for (i = 0; i < st->nb_atts; i++)
		json_array_append_new(list, attachment_json(&st->atts[i]));
	root = json_pack("{s:i, s:o}", "version", STATE_VERSION, "attachments", list);
	/* one write of the whole text: json_dumpfd writes token by token, a
	 * system call each, which at 1,000 pods made every CNI ADD wait ~100 ms */
	text = json_dumps(root, JSON_COMPACT);
	rc = text == NULL ? -ENOMEM : psw_file_replace(st->state_file, text, strlen(text));
	/* the journal's records are in the file now: only then empty it */
	if (rc == 0 && st->journal_open && (ftruncate(st->journal_fd, 0) < 0 || fsync(st->journal_fd) < 0))
		rc = -errno;
	if (rc == 0)
		st->journal_len = 0;
	if (rc < 0)
		PSW_LOG(ERR, STATE, "cannot write %s: %s", st->state_file, strerror(-rc));
	json_decref(root);
	free(text);
	return rc;
}

static void
journal_path(const struct psw_state *st, char *buf, size_t len)
{
	snprintf(buf, len, "%s.journal", st->state_file);
}

/*
 * Open <state_file>.journal for appends: emptied when a full save was just
 * made (saved), else kept as it was read (its first keep_len bytes, the
 * whole lines, with nb_records records): the file does not hold them.
 */
static void
journal_open(struct psw_state *st, bool saved, off_t keep_len, unsigned nb_records)
{
	char path[sizeof(st->state_file) + 8];
	int fd;

	journal_path(st, path, sizeof(path));
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (saved ? O_TRUNC : 0), 0600);
	/* a torn last line goes: a record appended after it would make it a damaged one */
	if (fd >= 0 && !saved && ftruncate(fd, keep_len) < 0) {
		close(fd);
		fd = -1;
	}
	if (fd < 0 || fsync(fd) < 0 || psw_file_sync_dir(path) < 0) {
		PSW_LOG(WARN, STATE, "cannot open %s: %s; each change rewrites %s", path,
			strerror(errno), st->state_file);
		if (fd >= 0)
			close(fd);
		return;
	}
	st->journal_fd = fd;
	st->journal_open = true;
	st->journal_len = saved ? 0 : nb_records;
}

int
psw_state_log(struct psw_state *st, const struct psw_attachment *a, bool removed)
{
	json_t *rec;
	char *line;
	off_t end;
	size_t n;
	int rc = 0;

	if (st->state_file[0] == '\0')
		return 0;
	if (!st->journal_open)
		return psw_state_save(st);
	/* compaction: the journal never outgrows the file it amends (amortised O(1) a change);
	 * a compaction that fails leaves the journal as it was, and the change goes there */
	if (st->journal_len >= (st->nb_atts > 64 ? st->nb_atts : 64) && psw_state_save(st) == 0)
		return 0;
	rec = removed ? json_pack("{s:{s:s, s:s}}", "del", "container_id", a->container_id,
				  "ifname", a->ifname)
		      : json_pack("{s:o}", "put", attachment_json(a));
	line = rec == NULL ? NULL : json_dumps(rec, JSON_COMPACT);
	json_decref(rec);
	if (line == NULL)
		return psw_state_save(st);
	n = strlen(line);
	line[n] = '\n';                         /* json_dumps leaves room for its NUL */
	end = lseek(st->journal_fd, 0, SEEK_END);
	if (end < 0 || psw_file_write_all(st->journal_fd, line, n + 1) < 0 || fdatasync(st->journal_fd) < 0)
		rc = -errno;
	free(line);
	if (rc < 0) {
		char path[sizeof(st->state_file) + 8];

		/* a part of the line written (the disk full) would be a damaged line
		 * once the next record follows it: it goes */
		if (end >= 0 && ftruncate(st->journal_fd, end) < 0)
			PSW_LOG(WARN, STATE, "cannot cut a partial record off %s", st->state_file);
		journal_path(st, path, sizeof(path));
		PSW_LOG(WARN, STATE, "cannot append to %s: %s; writing %s whole", path,
			strerror(-rc), st->state_file);
		return psw_state_save(st);
	}
	st->journal_len++;
	return 0;
}

static int
copy_str(char *dst, size_t len, json_t *obj, const char *key, bool required)
{
	const char *v = json_string_value(json_object_get(obj, key));

	if (v == NULL)
		return required ? -EINVAL : 0;
	if (strlen(v) >= len)
		return -EINVAL;
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

static int
attachment_from(json_t *o, struct psw_attachment *a)
{
	const char *ip4 = json_string_value(json_object_get(o, "ip4"));
	const char *ip6 = json_string_value(json_object_get(o, "ip6"));
	const char *mac = json_string_value(json_object_get(o, "mac"));

	memset(a, 0, sizeof(*a));
	if (copy_str(a->container_id, sizeof(a->container_id), o, "container_id", true) < 0 ||
	    copy_str(a->ifname, sizeof(a->ifname), o, "ifname", true) < 0 ||
	    copy_str(a->netns, sizeof(a->netns), o, "netns", false) < 0 ||
	    copy_str(a->pod_namespace, sizeof(a->pod_namespace), o, "pod_namespace", false) < 0 ||
	    copy_str(a->pod_name, sizeof(a->pod_name), o, "pod_name", false) < 0 ||
	    copy_str(a->network, sizeof(a->network), o, "network", false) < 0 ||
	    copy_str(a->nad, sizeof(a->nad), o, "network_attachment", false) < 0 ||
	    copy_str(a->host_ifname, sizeof(a->host_ifname), o, "host_ifname", false) < 0 ||
	    copy_str(a->socket, sizeof(a->socket), o, "socket", false) < 0 ||
	    copy_str(a->port_name, sizeof(a->port_name), o, "port", true) < 0 ||
	    kind_from(json_string_value(json_object_get(o, "kind")), &a->kind) < 0 ||
	    mac == NULL || psw_parse_mac(mac, a->mac) < 0)
		return -EINVAL;
	/* it goes into device arguments: as cni.add checks it */
	if (strpbrk(a->host_ifname, "/:,= \t\n") != NULL)
		return -EINVAL;
	a->has_ip4 = ip4 != NULL && ip4[0] != '\0';
	a->has_ip6 = ip6 != NULL && ip6[0] != '\0';
	if ((a->has_ip4 && inet_pton(AF_INET, ip4, a->ip4) != 1) ||
	    (a->has_ip6 && inet_pton(AF_INET6, ip6, a->ip6) != 1))
		return -EINVAL;
	a->ipam_external = json_is_true(json_object_get(o, "ipam_external"));
	a->created = (uint64_t)json_integer_value(json_object_get(o, "created"));
	return 0;
}

static void
release_addresses(struct psw_state *st, const struct psw_attachment *a)
{
	if (a->has_ip4)
		psw_ipam_release(st->ipam, 4, a->ip4);
	if (a->has_ip6)
		psw_ipam_release(st->ipam, 6, a->ip6);
}

/* Index in list of the record for (container_id, ifname), or -1. */
static ssize_t
record_index(json_t *list, const char *cid, const char *ifname)
{
	size_t i;
	json_t *o;

	json_array_foreach(list, i, o)
		if (strcmp(json_string_value(json_object_get(o, "container_id")), cid) == 0 &&
		    strcmp(json_string_value(json_object_get(o, "ifname")), ifname) == 0)
			return (ssize_t)i;
	return -1;
}

/*
 * Replay <state_file>.journal onto list (records already checked): each
 * line {"put": record} replaces or adds the record of its (container_id,
 * ifname), {"del": {container_id, ifname}} removes it; replaying twice
 * gives the same list. A last line without its newline is a write cut short
 * (its change was never acknowledged) and is ignored. Returns the records
 * replayed, or -1 with err filled.
 */
static int
replay_journal(const struct psw_state *st, json_t *list, off_t *good_len, const char *what_to_do,
	       char *err, size_t err_len)
{
	char path[sizeof(st->state_file) + 8];
	struct psw_attachment a;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int nb = 0, lineno = 0;
	FILE *f;

	*good_len = 0;
	journal_path(st, path, sizeof(path));
	f = fopen(path, "re");
	if (f == NULL) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, err_len, "state journal %s cannot be read: %s; %s", path, strerror(errno),
			 what_to_do);
		return -1;
	}
	while ((len = getline(&line, &cap, f)) > 0) {
		json_t *rec, *put, *del;
		const char *cid, *ifname;
		ssize_t i;

		lineno++;
		if (line[len - 1] != '\n')
			break;                           /* torn last write */
		rec = json_loadb(line, (size_t)len, 0, NULL);
		put = json_object_get(rec, "put");
		del = json_object_get(rec, "del");
		cid = json_string_value(json_object_get(put ? put : del, "container_id"));
		ifname = json_string_value(json_object_get(put ? put : del, "ifname"));
		if (rec == NULL || (put == NULL) == (del == NULL) || cid == NULL || ifname == NULL ||
		    (put != NULL && attachment_from(put, &a) < 0)) {
			snprintf(err, err_len, "state journal %s: line %d is not a record of this "
				 "version ({\"put\": attachment} or {\"del\": {container_id, ifname}}); %s",
				 path, lineno, what_to_do);
			json_decref(rec);
			free(line);
			fclose(f);
			return -1;
		}
		i = record_index(list, cid, ifname);
		if (put != NULL && i >= 0)
			json_array_set(list, (size_t)i, put);
		else if (put != NULL)
			json_array_append(list, put);
		else if (i >= 0)
			json_array_remove(list, (size_t)i);
		json_decref(rec);
		nb++;
		*good_len += len;
	}
	free(line);
	fclose(f);
	return nb;
}

/*
 * The records of the state file, or NULL with err filled: a file that
 * exists and cannot be read, is not JSON, is not of this version or holds
 * a malformed record. What to do is said too: starting empty would re-issue
 * the addresses of running pods, so that is the operator's call.
 */
static json_t *
read_records(const struct psw_state *st, off_t *journal_len, int *nb_journal, char *err,
	     size_t err_len)
{
	static const char *const what_to_do = "podswitch does not start without its pods' records; "
		"repair the file, or move it aside to start with no attachments (running pods then "
		"need to be re-created, their addresses may be handed out again)";
	json_error_t je;
	json_t *root, *list, *o;
	struct psw_attachment a;
	size_t i;
	int fd;

	fd = open(st->state_file, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT) {
			/* a first start, or one whose changes are all in the journal */
			list = json_array();
			if ((*nb_journal = replay_journal(st, list, journal_len, what_to_do, err,
							  err_len)) < 0) {
				json_decref(list);
				return NULL;
			}
			return list;
		}
		snprintf(err, err_len, "state file %s cannot be read: %s; %s", st->state_file,
			 strerror(errno), what_to_do);
		return NULL;
	}
	root = json_loadfd(fd, 0, &je);
	close(fd);
	if (root == NULL) {
		snprintf(err, err_len, "state file %s is not valid JSON: %s (line %d); %s", st->state_file,
			 je.text, je.line, what_to_do);
		return NULL;
	}
	list = json_object_get(root, "attachments");
	if (json_integer_value(json_object_get(root, "version")) != STATE_VERSION || !json_is_array(list)) {
		snprintf(err, err_len, "state file %s is not a version %d attachment list "
			 "({\"version\": %d, \"attachments\": [...]}); %s", st->state_file, STATE_VERSION,
			 STATE_VERSION, what_to_do);
		json_decref(root);
		return NULL;
	}
	json_array_foreach(list, i, o) {
		if (attachment_from(o, &a) < 0) {
			snprintf(err, err_len, "state file %s: attachments[%zu] is malformed (a missing, "
				 "too long or invalid field); %s", st->state_file, i, what_to_do);
			json_decref(root);
			return NULL;
		}
	}
	json_incref(list);
	json_decref(root);
	if ((*nb_journal = replay_journal(st, list, journal_len, what_to_do, err, err_len)) < 0) {
		json_decref(list);
		return NULL;
	}
	return list;
}

/* <state_dir>/released, where the CNI plugin records a DEL the switch could not take. */
static void
release_dir(const struct psw_state *st, char *out, size_t len)
{
	char buf[sizeof(st->state_file)];

	snprintf(buf, sizeof(buf), "%s", st->state_file);
	snprintf(out, len, "%s/released", dirname(buf));
}

unsigned
psw_state_take_releases(struct psw_state *st)
{
	char dir[sizeof(st->state_file) + 16], path[sizeof(dir) + 300], err[PSW_ERR_MAX];
	unsigned taken = 0;
	struct dirent *d;
	DIR *dp;

	if (st->state_file[0] == '\0')
		return 0;
	release_dir(st, dir, sizeof(dir));
	dp = opendir(dir);
	if (dp == NULL)
		return 0;                         /* no DEL has been missed */
	while ((d = readdir(dp)) != NULL) {
		json_error_t je;
		json_t *rec;
		const char *cid, *ifn;
		int idx;

		size_t n = strlen(d->d_name);

		/* the plugin writes ".NAME.tmp" first, then renames it to NAME (".json") */
		if (d->d_name[0] == '.' || n < 6 || strcmp(d->d_name + n - 5, ".json") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
		rec = json_load_file(path, 0, &je);
		cid = json_string_value(json_object_get(rec, "container_id"));
		ifn = json_string_value(json_object_get(rec, "ifname"));
		idx = cid != NULL && ifn != NULL ? psw_state_find_attachment(st, cid, ifn) : -1;
		/* an attachment made after the DEL (same IDs, a new ADD) is not the one released */
		if (idx >= 0 && st->atts[idx].created <= (uint64_t)json_integer_value(json_object_get(rec, "time"))) {
			struct psw_attachment a = st->atts[idx];

			if (psw_state_remove_attachment(st, (unsigned)idx, err, sizeof(err)) < 0) {
				PSW_LOG(WARN, STATE, "cannot release pod %s/%s (%s/%s), deleted while "
					"podswitch was away: %s; tried again later", a.pod_namespace,
					a.pod_name, a.container_id, a.ifname, err);
				json_decref(rec);
				continue;
			}
			PSW_LOG(INFO, STATE, "pod %s/%s (%s/%s) was deleted while podswitch was away: "
			       "released%s", a.pod_namespace, a.pod_name, a.container_id, a.ifname,
			       a.attached ? " (addresses and port)" : " (addresses)");
			taken++;
			psw_state_save(st);
		} else if (rec == NULL) {
			PSW_LOG(WARN, STATE, "release record %s is not JSON (%s); removed", path,
				je.text);
		}
		json_decref(rec);
		unlink(path);                     /* done, or about nothing the switch holds */
	}
	closedir(dp);
	if (taken > 0)
		psw_file_sync_dir(path);
	return taken;
}

/*
 * The host end of a kernel pod is gone: its namespace was deleted (and the
 * veth with it) while the switch was down. Nothing to re-attach.
 */
static bool
interface_gone(const struct psw_attachment *a)
{
	return a->kind == PSW_PORT_AFPACKET && a->host_ifname[0] != '\0' &&
	       if_nametoindex(a->host_ifname) == 0;
}

int
psw_state_load(struct psw_state *st, char *errbuf, size_t errbuf_len)
{
	json_t *list, *o;
	off_t journal_len = 0;
	int nb_journal = 0;
	size_t i;
	unsigned k;
	char err[PSW_ERR_MAX];

	if (st->state_file[0] == '\0')
		return 0;
	list = read_records(st, &journal_len, &nb_journal, errbuf, errbuf_len);
	if (list == NULL)
		return -EINVAL;
	/* the records, addresses reserved, no port yet */
	json_array_foreach(list, i, o) {
		struct psw_attachment a;
		int idx, rc4, rc6;

		attachment_from(o, &a);          /* checked by read_records */
		/* delegated (ipam_external) addresses too: the pools must not hand them out */
		rc4 = a.has_ip4 ? psw_ipam_reserve(st->ipam, 4, a.ip4) : 0;
		rc6 = rc4 == 0 && a.has_ip6 ? psw_ipam_reserve(st->ipam, 6, a.ip6) : 0;
		if (rc4 < 0 || rc6 < 0) {
			if (rc4 == 0 && a.has_ip4)
				psw_ipam_release(st->ipam, 4, a.ip4);   /* taken just above */
			PSW_LOG(WARN, STATE, "state file: %s/%s's address is outside the pod CIDR "
				"or taken twice, dropped", a.container_id, a.ifname);
			continue;
		}
		idx = psw_state_add_attachment(st, &a);
		if (idx < 0) {
			PSW_LOG(ERR, STATE, "out of memory restoring %s", a.container_id);
			release_addresses(st, &a);
		}
	}
	json_decref(list);
	/* the DELs the CNI plugin recorded while the switch was down go first */
	psw_state_take_releases(st);
	for (k = 0; k < st->nb_atts;) {
		struct psw_attachment *a = &st->atts[k];

		if (interface_gone(a)) {
			PSW_LOG(INFO, STATE, "pod %s/%s (%s/%s): its interface %s is gone (deleted with the "
			       "pod while podswitch was down): released", a->pod_namespace,
			       a->pod_name, a->container_id, a->ifname, a->host_ifname);
		} else if (psw_state_attach(st, k, err, sizeof(err)) < 0) {
			PSW_LOG(WARN, STATE, "pod %s/%s (%s) not re-attached: %s",
				a->pod_namespace, a->pod_name, a->container_id, err);
		} else {
			k++;
			continue;
		}
		psw_state_remove_attachment(st, k, err, sizeof(err));   /* the last moves to k */
	}
	/* one whole file to start from (the journal folded in, dropped records gone), then a
	 * journal for the changes to come */
	/* a save that failed leaves the journal's records where they are: not in the file */
	journal_open(st, psw_state_save(st) == 0, journal_len, (unsigned)nb_journal);
	PSW_LOG(INFO, STATE, "%u pod attachment(s) restored from %s", st->nb_atts, st->state_file);
	return 0;
}
