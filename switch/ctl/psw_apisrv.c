/* API server: listening socket, client connections, line framing. */
#include <errno.h>
#include <grp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "psw_api.h"
#include "psw_apiops.h"
#include "psw_apisrv.h"
#include "psw_file.h"
#include "psw_ctl_loop.h"

#define MAX_CLIENTS 256
#define READ_CHUNK 65536
#define MAX_PENDING_OUT (64u << 20)

struct client {
	struct psw_event_src src;
	struct psw_apisrv *srv;
	char *in;
	size_t in_len, in_cap;
	char *out;
	size_t out_len, out_off;
	bool closing;            /* peer half-closed: finish sending, then close */
	struct client *next;
};

struct psw_apisrv {
	struct psw_event_src src;
	int epfd;
	char path[108];
	struct psw_state *st;
	struct client *clients;
	unsigned nb_clients;
};

static void
client_close(struct client *c)
{
	struct psw_apisrv *srv = c->srv;
	struct client **pp;

	for (pp = &srv->clients; *pp != NULL; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	psw_ctl_unwatch(srv->epfd, &c->src);
	close(c->src.fd);
	free(c->in);
	free(c->out);
	free(c);
	srv->nb_clients--;
}

/* Try to send what is queued; watch for writability while some is left. */
static int
client_flush(struct client *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->src.fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return psw_ctl_watch(c->srv->epfd, &c->src, EPOLLIN | EPOLLOUT, 1);
		if (n < 0)
			return -errno;
		c->out_off += (size_t)n;
	}
	c->out_len = c->out_off = 0;
	if (c->closing)
		return -ECONNRESET;              /* all answered: the caller closes */
	return psw_ctl_watch(c->srv->epfd, &c->src, EPOLLIN, 1);
}

static int
client_queue(struct client *c, json_t *resp)
{
	size_t len;
	char *line = psw_api_encode(resp, &len);
	char *buf;

	json_decref(resp);
	if (line == NULL)
		return -ENOMEM;
	if (c->out_len - c->out_off + len > MAX_PENDING_OUT) {
		free(line);
		return -ENOBUFS;                 /* a client that never reads */
	}
	if (c->out_off > 0) {                    /* drop what was sent already */
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
	}
	buf = realloc(c->out, c->out_len + len);
	if (buf == NULL) {
		free(line);
		return -ENOMEM;
	}
	memcpy(buf + c->out_len, line, len);
	c->out = buf;
	c->out_len += len;
	free(line);
	return client_flush(c);
}

static json_t *
handle_line(struct psw_apisrv *srv, const char *line, size_t len)
{
	const char *op;
	json_t *args, *err, *req, *resp;

	req = psw_api_parse_request(line, len, &op, &args, &err);
	if (req == NULL)
		return err;
	resp = psw_api_dispatch(srv->st, op, args);
	json_decref(req);
	return resp;
}

static void
client_event(struct psw_event_src *src, uint32_t events)
{
	struct client *c = src->ctx;

	if (events & EPOLLOUT) {
		if (client_flush(c) < 0) {
			client_close(c);
			return;
		}
	}
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	for (;;) {
		ssize_t n;
		char *nl;

		if (c->in_cap - c->in_len < READ_CHUNK) {
			size_t cap = c->in_cap + READ_CHUNK * 2;
			char *b = realloc(c->in, cap);

			if (b == NULL) {
				client_close(c);
				return;
			}
			c->in = b;
			c->in_cap = cap;
		}
		n = recv(c->src.fd, c->in + c->in_len, c->in_cap - c->in_len, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {                    /* closed, possibly mid-request */
			if (n == 0 && c->out_len > c->out_off) {
				/* half-closed with answers pending: send them first */
				c->closing = true;
				if (psw_ctl_watch(c->srv->epfd, &c->src, EPOLLOUT, 1) < 0)
					client_close(c);
				return;
			}
			client_close(c);
			return;
		}
		c->in_len += (size_t)n;
		while ((nl = memchr(c->in, '\n', c->in_len)) != NULL) {
			size_t len = (size_t)(nl - c->in);
			json_t *resp = handle_line(c->srv, c->in, len);

			memmove(c->in, nl + 1, c->in_len - len - 1);
			c->in_len -= len + 1;
			if (client_queue(c, resp) < 0) {
				client_close(c);
				return;
			}
		}
		if (c->in_len > PSW_API_MAX_MSG) {
			client_queue(c, psw_api_error(PSW_API_E_TOO_LARGE,
						      "request longer than %u bytes; closing",
						      PSW_API_MAX_MSG));
			client_close(c);
			return;
		}
	}
}

static void
accept_event(struct psw_event_src *src, uint32_t events)
{
	struct psw_apisrv *srv = src->ctx;

	for (;;) {
		int fd = accept4(srv->src.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct client *c;

		if (fd < 0)
			return;
		if (srv->nb_clients >= MAX_CLIENTS || (c = calloc(1, sizeof(*c))) == NULL) {
			close(fd);
			continue;
		}
		c->src = (struct psw_event_src){ .fd = fd, .fn = client_event, .ctx = c };
		c->srv = srv;
		if (psw_ctl_watch(srv->epfd, &c->src, EPOLLIN, 0) < 0) {
			close(fd);
			free(c);
			continue;
		}
		c->next = srv->clients;
		srv->clients = c;
		srv->nb_clients++;
	}
}

/* The directories above path. */
static int
make_dirs(const char *path)
{
	char dir[108];
	char *p;

	snprintf(dir, sizeof(dir), "%s", path);
	p = strrchr(dir, '/');
	if (p == NULL || p == dir)
		return 0;
	*p = '\0';
	return psw_file_mkdirs(dir);
}

struct psw_apisrv *
psw_apisrv_create(const char *path, const char *group, int epfd, struct psw_state *st,
		  char *err, size_t err_len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct psw_apisrv *srv = calloc(1, sizeof(*srv));
	int fd = -1, probe, rc;

	if (srv == NULL)
		return NULL;
	snprintf(srv->path, sizeof(srv->path), "%s", path);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	srv->epfd = epfd;
	srv->st = st;
	rc = make_dirs(path);
	if (rc < 0) {
		snprintf(err, err_len, "api.socket '%s': cannot create its directory: %s", path,
			 strerror(-rc));
		goto out_free;
	}
	/* A socket someone answers on belongs to another switch; a dead one is ours to replace. */
	probe = psw_api_connect(path);
	if (probe >= 0) {
		close(probe);
		snprintf(err, err_len, "api.socket '%s' is in use by another podswitch", path);
		goto out_free;
	}
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, SOMAXCONN) < 0) {
		snprintf(err, err_len, "api.socket '%s': %s", path, strerror(errno));
		goto out_free;
	}
	if (group != NULL && group[0] != '\0') {
		struct group *g = getgrnam(group);

		if (g == NULL || chown(path, 0, g->gr_gid) < 0 || chmod(path, 0660) < 0) {
			snprintf(err, err_len, "api.socket '%s': cannot give it to group '%s'", path, group);
			goto out_free;
		}
	} else if (chmod(path, 0600) < 0) {
		snprintf(err, err_len, "api.socket '%s': %s", path, strerror(errno));
		goto out_free;
	}
	psw_api_started();
	srv->src = (struct psw_event_src){ .fd = fd, .fn = accept_event, .ctx = srv };
	if (psw_ctl_watch(epfd, &srv->src, EPOLLIN, 0) < 0) {
		snprintf(err, err_len, "api.socket '%s': epoll: %s", path, strerror(errno));
		goto out_free;
	}
	return srv;

out_free:
	if (fd >= 0) {
		close(fd);
		unlink(path);
	}
	free(srv);
	return NULL;
}

void
psw_apisrv_destroy(struct psw_apisrv *srv)
{
	if (srv == NULL)
		return;
	while (srv->clients != NULL)
		client_close(srv->clients);
	psw_ctl_unwatch(srv->epfd, &srv->src);
	close(srv->src.fd);
	unlink(srv->path);
	free(srv);
}
