/* The audit log's lines, buckets and file (psw_audit_log.h); pure C and jansson. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "psw_audit_log.h"

void
psw_audit_time(int64_t time_ms, char *buf, size_t len)
{
	time_t secs = (time_t)(time_ms / 1000);
	struct tm tm;
	char day[32];

	gmtime_r(&secs, &tm);
	strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%03dZ", day, (int)(time_ms % 1000));
}

static const char *
proto_name(unsigned proto)
{
	switch (proto) {
	case IPPROTO_TCP: return "tcp";
	case IPPROTO_UDP: return "udp";
	case IPPROTO_SCTP: return "sctp";
	case IPPROTO_ICMP: return "icmp";
	case IPPROTO_ICMPV6: return "icmpv6";
	default: return NULL;
	}
}

/* A string jansson accepts whatever its bytes (json_string refuses bad UTF-8). */
static json_t *
str(const char *s)
{
	json_t *v = json_string(s);

	if (v == NULL) {
		char buf[1024];
		size_t i, n = 0;

		for (i = 0; s[i] != '\0' && n + 5 < sizeof(buf); i++)
			n += (size_t)snprintf(buf + n, sizeof(buf) - n, (unsigned char)s[i] < 0x80 ? "%c" : "\\x%02x",
					      (unsigned char)s[i]);
		v = json_string(buf);
	}
	return v;
}

/* {"ip", "port", "namespace", "pod"}: the pod when the address is one */
static json_t *
end(const char *ip, unsigned port, const char *ns, const char *pod)
{
	json_t *o = json_object();

	json_object_set_new(o, "ip", str(ip));
	if (port != 0)
		json_object_set_new(o, "port", json_integer(port));
	if (ns != NULL && pod != NULL) {
		json_object_set_new(o, "namespace", str(ns));
		json_object_set_new(o, "pod", str(pod));
	}
	return o;
}

char *
psw_audit_format(const struct psw_audit_line *l, size_t *len)
{
	json_t *o = json_object(), *list;
	char when[40], *text, *line;
	const char *pn = proto_name(l->proto);
	unsigned i;
	size_t n;

	if (o == NULL)
		return NULL;
	psw_audit_time(l->time_ms, when, sizeof(when));
	json_object_set_new(o, "time", json_string(when));
	json_object_set_new(o, "verdict", json_string(l->allowed ? "allow" : "deny"));
	json_object_set_new(o, "direction", json_string(l->egress ? "egress" : "ingress"));
	json_object_set_new(o, "protocol", pn != NULL ? json_string(pn) : json_integer(l->proto));
	json_object_set_new(o, "src", end(l->src_ip, l->sport, l->src_ns, l->src_pod));
	json_object_set_new(o, "dst", end(l->dst_ip, l->dport, l->dst_ns, l->dst_pod));
	if (l->allowed) {
		json_object_set_new(o, "policy", str(l->policy != NULL ? l->policy : ""));
		json_object_set_new(o, "rule", json_integer(l->rule));
	} else {
		list = json_array();
		for (i = 0; i < l->nb_policies; i++)
			json_array_append_new(list, str(l->policies[i]));
		json_object_set_new(o, "policies", list);
	}
	if (l->established)
		json_object_set_new(o, "established", json_true());
	text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (text == NULL)
		return NULL;
	n = strlen(text);
	line = realloc(text, n + 2);
	if (line == NULL) {
		free(text);
		return NULL;
	}
	line[n] = '\n';
	line[n + 1] = '\0';
	*len = n + 1;
	return line;
}

bool
psw_audit_bucket_take(struct psw_audit_bucket *b, uint64_t now_ms, unsigned rate, unsigned burst)
{
	uint64_t add;

	if (!b->used) {
		b->used = true;
		b->tokens = burst;
		b->last_ms = now_ms;
	}
	if (now_ms > b->last_ms) {
		add = (now_ms - b->last_ms) * rate / 1000;
		if (add > 0) {
			b->tokens = (uint32_t)(b->tokens + add > burst ? burst : b->tokens + add);
			b->last_ms += add * 1000 / rate;
		}
	}
	if (b->tokens > burst)
		b->tokens = burst;           /* the burst was lowered by a reload */
	if (b->tokens == 0)
		return false;
	b->tokens--;
	return true;
}

/* Open for appending, never through a link, only a regular file. */
static int
open_regular(const char *path, char *err, size_t err_len, uint64_t *size)
{
	struct stat sb;
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0640);
	int e;

	if (fd < 0) {
		e = errno;
		if (e == ELOOP)
			snprintf(err, err_len, "audit.file '%s' is a symbolic link; give the file itself", path);
		else if (e == EISDIR)
			snprintf(err, err_len, "audit.file '%s' is a directory; give a file in it", path);
		else if (e == ENXIO)            /* a FIFO without a reader (O_NONBLOCK): never waited on */
			snprintf(err, err_len, "audit.file '%s' is not a regular file (a FIFO, socket or device?); "
				 "give a regular file", path);
		else if (e == ENOENT)
			snprintf(err, err_len, "audit.file '%s': its directory does not exist; create it first",
				 path);
		else
			snprintf(err, err_len, "audit.file '%s' cannot be opened for appending: %s", path,
				 strerror(e));
		return e == ENXIO ? -EINVAL : -e;
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		e = errno != 0 ? errno : EINVAL;
		close(fd);
		snprintf(err, err_len, "audit.file '%s' is not a regular file (a FIFO, socket or device?); "
			 "give a regular file", path);
		return -EINVAL;
	}
	*size = (uint64_t)sb.st_size;
	return fd;
}

int
psw_audit_file_open(struct psw_audit_file *f, const char *path, uint64_t max_bytes, unsigned files,
		    char *err, size_t err_len)
{
	uint64_t size = 0;
	int fd;

	f->fd = -1;
	if (strlen(path) + 5 > sizeof(f->path)) {
		snprintf(err, err_len, "audit.file '%s' is too long (at most %zu bytes)", path, sizeof(f->path) - 5);
		return -ENAMETOOLONG;
	}
	fd = open_regular(path, err, err_len, &size);
	if (fd < 0)
		return fd;
	f->fd = fd;
	f->size = size;
	f->max_bytes = max_bytes;
	f->files = files;
	snprintf(f->path, sizeof(f->path), "%s", path);
	return 0;
}

/* path -> path.1 -> ... -> path.files; a fresh path. */
static int
rotate(struct psw_audit_file *f)
{
	char from[sizeof(f->path) + 8], to[sizeof(f->path) + 8], err[400];
	uint64_t size = 0;
	unsigned i;
	int fd;

	for (i = f->files; i > 1; i--) {
		snprintf(from, sizeof(from), "%s.%u", f->path, i - 1);
		snprintf(to, sizeof(to), "%s.%u", f->path, i);
		if (rename(from, to) < 0 && errno != ENOENT)
			return -errno;
	}
	snprintf(to, sizeof(to), "%s.1", f->path);
	if (rename(f->path, to) < 0 && errno != ENOENT)
		return -errno;
	fd = open_regular(f->path, err, sizeof(err), &size);
	if (fd < 0)
		return fd;              /* e.g. a link planted in between: not followed */
	close(f->fd);
	f->fd = fd;
	f->size = size;
	return 0;
}

int
psw_audit_file_write(struct psw_audit_file *f, const char *line, size_t len, bool *rotated)
{
	ssize_t n;
	int rc;

	*rotated = false;
	if (f->fd < 0)
		return -EBADF;
	if (f->size > 0 && f->size + len > f->max_bytes) {
		rc = rotate(f);
		if (rc < 0)
			return rc;
		*rotated = true;
	}
	n = write(f->fd, line, len);
	if (n == (ssize_t)len) {
		f->size += len;
		return 0;
	}
	rc = n < 0 ? -errno : -ENOSPC;
	if (n > 0 && ftruncate(f->fd, (off_t)f->size) < 0)
		f->size += (uint64_t)n;      /* cut back failed: count what is there */
	return rc;
}

bool
psw_audit_file_is(const struct psw_audit_file *f, const char *path)
{
	struct stat open_sb, path_sb;

	return f->fd >= 0 && strcmp(f->path, path) == 0 && fstat(f->fd, &open_sb) == 0 &&
	       lstat(path, &path_sb) == 0 && open_sb.st_dev == path_sb.st_dev && open_sb.st_ino == path_sb.st_ino;
}

void
psw_audit_file_close(struct psw_audit_file *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
}
