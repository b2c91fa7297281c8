/* The switch's own memif master (psw_memifport.h): control protocol, mapping, datapath. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <rte_branch_prediction.h>
#include <rte_common.h>
#include <rte_mbuf.h>
#include <rte_memcpy.h>
#include <rte_rcu_qsbr.h>

#include "psw_config.h"
#include "psw_ctl_loop.h"
#include "psw_memifport.h"
#include "psw_tables.h"

_Static_assert(sizeof(struct psw_memif_msg) == PSW_MEMIF_MSG_SIZE, "memif message is 128 bytes");
_Static_assert(sizeof(struct psw_memif_desc) == 16, "memif descriptor is 16 bytes");
_Static_assert(offsetof(struct psw_memif_ring, tail) == 64, "memif ring tail on its own line");
_Static_assert(offsetof(struct psw_memif_ring, desc) == 128, "memif descriptors at byte 128");
_Static_assert(sizeof(struct psw_memif_init) == 63, "memif INIT body");
_Static_assert(sizeof(struct psw_memif_add_ring) == 13, "memif ADD_RING body");

/* Channels that have not named an interface yet, per listener: a slow or
 * idle slave cannot hold more than this many descriptors of the switch, and
 * a pod can fill only its own socket's share. */
#define PENDING_MAX 16
#define PSW_MEMIF_BURST_MAX 64   /* frames per receive call (the worker asks for 32) */

enum conn_state { CONN_FREE, CONN_WAIT_INIT, CONN_SETUP, CONN_UP };

struct psw_memif_conn {
	enum conn_state state;
	int fd;
	struct psw_event_src src;            /* on the control loop; this slot is never freed */
	struct psw_memif_listener *ln;
	struct psw_memifport *mf;            /* named by INIT */
	/* what the slave has sent so far; moved into mf at CONNECT */
	uint16_t nb_regions;
	struct psw_memif_region regions[PSW_MEMIF_MAX_REGIONS];
	struct psw_memif_add_ring rings[2];  /* [0]: S2M, [1]: M2S */
	int ring_fds[2];
	struct psw_memif_conn *next;         /* on its listener's pending list, or on the free list */
};

struct psw_memif_listener {
	bool in_use;
	int fd;
	struct psw_event_src src;
	char path[PSW_PATH_MAX];
	struct psw_memifport *ifaces;
	struct psw_memif_conn *pending;      /* channels before INIT */
	unsigned nb_pending;
};

/* Closed channels are kept for the next one, never freed: an epoll event of
 * the batch that closed one still points at live memory. */
static struct psw_memif_conn *free_conns;
static struct psw_memif_listener listeners[PSW_MAX_PORTS];
static int ctl_epfd = -1;
static struct rte_rcu_qsbr *memif_qsbr;
static struct psw_memif_usage usage;

/* ------------------------------------------------------------ pure checks */

static int
refuse(char *reason, size_t len, const char *f, ...) __rte_format_printf(3, 4);

static int
refuse(char *reason, size_t len, const char *f, ...)
{
	va_list ap;

	va_start(ap, f);
	vsnprintf(reason, len, f, ap);
	va_end(ap);
	return -EINVAL;
}

int
psw_memif_check_init(const struct psw_memif_init *in, char *reason, size_t reason_len)
{
	unsigned i;

	if (in->version != PSW_MEMIF_VERSION)
		return refuse(reason, reason_len, "memif version %u.%u not supported (2.0 only)",
			      in->version >> 8, in->version & 0xff);
	if (in->mode != PSW_MEMIF_MODE_ETHERNET)
		return refuse(reason, reason_len, "mode %u not supported (ethernet only)", in->mode);
	for (i = 0; i < PSW_MEMIF_SECRET_LEN; i++)
		if (in->secret[i] != 0)
			return refuse(reason, reason_len, "a secret was given; the interface has none");
	return 0;
}

int
psw_memif_check_region(const struct psw_memif_add_region *ar, unsigned nb_regions,
		       uint64_t file_size, bool sealed, char *reason, size_t reason_len)
{
	if (ar->index != nb_regions)
		return refuse(reason, reason_len, "region %u out of order (expected %u)", ar->index,
			      nb_regions);
	if (ar->index >= PSW_MEMIF_MAX_REGIONS)
		return refuse(reason, reason_len, "too many regions (at most %u)", PSW_MEMIF_MAX_REGIONS);
	if (ar->size == 0 || ar->size > PSW_MEMIF_MAX_REGION_SIZE)
		return refuse(reason, reason_len, "region %u: size %" PRIu64 " not in 1..%llu", ar->index,
			      ar->size, PSW_MEMIF_MAX_REGION_SIZE);
	if (ar->size > file_size)
		return refuse(reason, reason_len, "region %u: size %" PRIu64 " larger than its file (%" PRIu64 ")",
			      ar->index, ar->size, file_size);
	if (!sealed)
		return refuse(reason, reason_len, "region %u: the file is not sealed against shrinking "
			      "(F_SEAL_SHRINK)", ar->index);
	return 0;
}

int
psw_memif_check_ring(const struct psw_memif_add_ring *ar, const struct psw_memif_region *regions,
		     unsigned nb_regions, char *reason, size_t reason_len)
{
	const char *dir = ar->flags & PSW_MEMIF_RING_FLAG_S2M ? "s2m" : "m2s";

	if ((ar->flags & ~PSW_MEMIF_RING_FLAG_S2M) != 0)
		return refuse(reason, reason_len, "ring flags 0x%x not known", ar->flags);
	if (ar->index != 0)
		return refuse(reason, reason_len, "%s ring %u: one queue pair only", dir, ar->index);
	if (ar->region >= nb_regions)
		return refuse(reason, reason_len, "%s ring: region %u not added", dir, ar->region);
	if (ar->log2_ring_size < PSW_MEMIF_MIN_LOG2_RING || ar->log2_ring_size > PSW_MEMIF_MAX_LOG2_RING)
		return refuse(reason, reason_len, "%s ring: log2 ring size %u not in %u..%u", dir,
			      ar->log2_ring_size, PSW_MEMIF_MIN_LOG2_RING, PSW_MEMIF_MAX_LOG2_RING);
	if (ar->private_hdr_size != 0)
		return refuse(reason, reason_len, "%s ring: private headers not supported", dir);
	if (ar->offset % 8 != 0)
		return refuse(reason, reason_len, "%s ring: offset %u not 8-byte aligned", dir, ar->offset);
	if ((uint64_t)ar->offset + psw_memif_ring_bytes(ar->log2_ring_size) > regions[ar->region].size)
		return refuse(reason, reason_len, "%s ring: offset %u + %" PRIu64 " bytes past region %u (%" PRIu64 ")",
			      dir, ar->offset, psw_memif_ring_bytes(ar->log2_ring_size), ar->region,
			      regions[ar->region].size);
	return 0;
}

/* ------------------------------------------------------------ descriptors and regions */

static void
close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		usage.fds--;
	}
	*fd = -1;
}

static void
regions_release(struct psw_memif_region *r, uint16_t *nb)
{
	unsigned i;

	for (i = 0; i < *nb; i++) {
		if (r[i].addr != NULL) {
			munmap(r[i].addr, r[i].size);
			usage.mapped_bytes -= r[i].size;
		}
		r[i].addr = NULL;
		close_fd(&r[i].fd);
		r[i].size = 0;
	}
	*nb = 0;
}

/* Close every descriptor in a received control message but the first, which is returned. */
static int
take_fds(struct msghdr *mh)
{
	struct cmsghdr *c;
	int fd = -1;

	for (c = CMSG_FIRSTHDR(mh); c != NULL; c = CMSG_NXTHDR(mh, c)) {
		size_t n, i;
		int *fds;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		fds = (int *)CMSG_DATA(c);
		for (i = 0; i < n; i++) {
			int f;

			memcpy(&f, &fds[i], sizeof(f));
			if (fd < 0) {
				fd = f;
				usage.fds++;
			} else {
				close(f);
			}
		}
	}
	return fd;
}

/* ------------------------------------------------------------ the control channel */

static int
conn_send(struct psw_memif_conn *cc, const struct psw_memif_msg *m)
{
	ssize_t n = send(cc->fd, m, sizeof(*m), MSG_DONTWAIT | MSG_NOSIGNAL);

	return n == (ssize_t)sizeof(*m) ? 0 : -EIO;
}

static int
send_type(struct psw_memif_conn *cc, uint16_t type)
{
	struct psw_memif_msg m;

	memset(&m, 0, sizeof(m));
	m.type = type;
	return conn_send(cc, &m);
}

static void
pending_unlink(struct psw_memif_conn *cc)
{
	struct psw_memif_conn **link;

	for (link = &cc->ln->pending; *link != NULL && *link != cc; link = &(*link)->next)
		;
	if (*link != NULL)
		*link = cc->next;
	cc->next = NULL;
	cc->ln->nb_pending--;
}

/*
 * The slave's connection goes: workers told first, a grace period, then the
 * memory and the descriptors. reason (NULL: none) is sent as DISCONNECT.
 */
static void
conn_close(struct psw_memif_conn *cc, const char *reason)
{
	struct psw_memifport *mf = cc->mf;

	if (cc->state == CONN_FREE)
		return;
	if (reason != NULL) {
		struct psw_memif_msg m;

		memset(&m, 0, sizeof(m));
		m.type = PSW_MEMIF_MSG_DISCONNECT;
		snprintf((char *)m.disconnect.reason, sizeof(m.disconnect.reason), "%s", reason);
		(void)conn_send(cc, &m);
	}
	if (mf != NULL) {
		if (__atomic_load_n(&mf->connected, __ATOMIC_RELAXED)) {
			__atomic_store_n(&mf->connected, false, __ATOMIC_RELEASE);
			usage.connected--;
			if (memif_qsbr != NULL)
				rte_rcu_qsbr_synchronize(memif_qsbr, RTE_QSBR_THRID_INVALID);
			if (mf->rx.intr_fd >= 0)
				epoll_ctl(mf->epfd, EPOLL_CTL_DEL, mf->rx.intr_fd, NULL);
		}
		regions_release(mf->regions, &mf->nb_regions);
		close_fd(&mf->rx.intr_fd);
		close_fd(&mf->tx.intr_fd);
		mf->rx.ring = mf->tx.ring = NULL;
		mf->conn = NULL;
	} else if (cc->ln != NULL) {
		pending_unlink(cc);
	}
	regions_release(cc->regions, &cc->nb_regions);
	close_fd(&cc->ring_fds[0]);
	close_fd(&cc->ring_fds[1]);
	psw_ctl_unwatch(ctl_epfd, &cc->src);
	close_fd(&cc->fd);
	cc->src.fd = -1;
	cc->mf = NULL;
	cc->ln = NULL;
	cc->state = CONN_FREE;
	cc->next = free_conns;
	free_conns = cc;
	usage.channels--;
}

static int
on_init(struct psw_memif_conn *cc, const struct psw_memif_init *in, char *reason, size_t len)
{
	struct psw_memifport *mf;
	int rc;

	rc = psw_memif_check_init(in, reason, len);
	if (rc < 0)
		return rc;
	for (mf = cc->ln->ifaces; mf != NULL && mf->id != in->id; mf = mf->next)
		;
	if (mf == NULL)
		return refuse(reason, len, "no such interface (id %u)", in->id);
	if (mf->conn != NULL)
		return refuse(reason, len, "interface %u is already connected", in->id);
	pending_unlink(cc);
	cc->mf = mf;
	mf->conn = cc;
	cc->state = CONN_SETUP;
	return 0;
}

static int
on_add_region(struct psw_memif_conn *cc, const struct psw_memif_add_region *ar, int *fd,
	      char *reason, size_t len)
{
	struct stat sb;
	int seals, rc;

	if (*fd < 0)
		return refuse(reason, len, "ADD_REGION without a file descriptor");
	if (fstat(*fd, &sb) < 0 || !S_ISREG(sb.st_mode))
		return refuse(reason, len, "region %u: not a regular file (a memfd)", ar->index);
	seals = fcntl(*fd, F_GET_SEALS);
	rc = psw_memif_check_region(ar, cc->nb_regions, (uint64_t)sb.st_size,
				    seals >= 0 && (seals & F_SEAL_SHRINK), reason, len);
	if (rc < 0)
		return rc;
	cc->regions[cc->nb_regions].fd = *fd;
	cc->regions[cc->nb_regions].size = ar->size;
	cc->regions[cc->nb_regions].addr = NULL;
	cc->nb_regions++;
	*fd = -1;
	return 0;
}

static int
on_add_ring(struct psw_memif_conn *cc, const struct psw_memif_add_ring *ar, int *fd,
	    char *reason, size_t len)
{
	int rc, dir = ar->flags & PSW_MEMIF_RING_FLAG_S2M ? 0 : 1;

	if (*fd < 0)
		return refuse(reason, len, "ADD_RING without an interrupt file descriptor");
	rc = psw_memif_check_ring(ar, cc->regions, cc->nb_regions, reason, len);
	if (rc < 0)
		return rc;
	if (cc->ring_fds[dir] >= 0)
		return refuse(reason, len, "%s ring added twice", dir == 0 ? "s2m" : "m2s");
	cc->rings[dir] = *ar;
	cc->ring_fds[dir] = *fd;
	*fd = -1;
	return 0;
}

static struct psw_memif_ring *
ring_at(const struct psw_memif_region *regions, const struct psw_memif_add_ring *ar)
{
	return (struct psw_memif_ring *)(regions[ar->region].addr + ar->offset);
}

/* CONNECT: map the regions, check the rings, hand everything to the port, publish. */
static int
on_connect(struct psw_memif_conn *cc, char *reason, size_t len)
{
	struct psw_memifport *mf = cc->mf;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET };
	unsigned i, d;

	if (cc->nb_regions == 0 || cc->ring_fds[0] < 0 || cc->ring_fds[1] < 0)
		return refuse(reason, len, "CONNECT before a region and both rings were added");
	for (i = 0; i < cc->nb_regions; i++) {
		struct psw_memif_region *r = &cc->regions[i];
		void *a = mmap(NULL, r->size, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);

		if (a == MAP_FAILED)
			return refuse(reason, len, "region %u: cannot map %" PRIu64 " bytes: %s", i, r->size,
				      strerror(errno));
		r->addr = a;
		usage.mapped_bytes += r->size;
	}
	for (d = 0; d < 2; d++)
		if (__atomic_load_n(&ring_at(cc->regions, &cc->rings[d])->cookie, __ATOMIC_RELAXED) !=
		    PSW_MEMIF_COOKIE)
			return refuse(reason, len, "%s ring: bad cookie", d == 0 ? "s2m" : "m2s");
	/* the port takes the memory and the descriptors */
	memcpy(mf->regions, cc->regions, sizeof(mf->regions));
	mf->nb_regions = cc->nb_regions;
	cc->nb_regions = 0;
	for (d = 0; d < 2; d++) {
		struct psw_memif_queue *q = d == 0 ? &mf->rx : &mf->tx;

		q->ring = ring_at(mf->regions, &cc->rings[d]);
		q->mask = (uint16_t)((1u << cc->rings[d].log2_ring_size) - 1);
		q->next = 0;
		q->intr_fd = cc->ring_fds[d];
		cc->ring_fds[d] = -1;
	}
	/* a new slave signals until a worker has seen its first frame */
	__atomic_store_n(&mf->rx.ring->flags, 0, __ATOMIC_RELAXED);
	mf->rx_armed = true;
	ev.data.fd = mf->rx.intr_fd;
	(void)epoll_ctl(mf->epfd, EPOLL_CTL_ADD, mf->rx.intr_fd, &ev);
	cc->state = CONN_UP;
	mf->connects++;
	usage.connected++;
	__atomic_store_n(&mf->connected, true, __ATOMIC_RELEASE);
	return 0;
}

static void
conn_event(struct psw_event_src *src, uint32_t events)
{
	struct psw_memif_conn *cc = src->ctx;
	char cbuf[CMSG_SPACE(4 * sizeof(int))];
	struct psw_memif_msg m;
	struct iovec iov = { .iov_base = &m, .iov_len = sizeof(m) };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	char reason[PSW_MEMIF_REASON_LEN];
	ssize_t n;
	int fd, rc = 0;

	RTE_SET_USED(events);
	if (cc->state == CONN_FREE || cc->fd < 0)
		return;                          /* a late event for a closed channel */
	memset(&m, 0, sizeof(m));
	n = recvmsg(cc->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0)
		mh.msg_controllen = 0;
	fd = take_fds(&mh);
	if (n <= 0) {                            /* the slave went */
		close_fd(&fd);
		conn_close(cc, NULL);
		return;
	}
	reason[0] = '\0';
	if (n != (ssize_t)sizeof(m) || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
		rc = refuse(reason, sizeof(reason), "message of %zd bytes (128 expected)", n);
	} else if (cc->state == CONN_WAIT_INIT && m.type != PSW_MEMIF_MSG_INIT &&
		   m.type != PSW_MEMIF_MSG_DISCONNECT) {
		rc = refuse(reason, sizeof(reason), "message %u before INIT", m.type);
	} else {
		switch (m.type) {
		case PSW_MEMIF_MSG_INIT:
			if (cc->state != CONN_WAIT_INIT)
				rc = refuse(reason, sizeof(reason), "INIT sent twice");
			else
				rc = on_init(cc, &m.init, reason, sizeof(reason));
			if (rc == 0)
				rc = send_type(cc, PSW_MEMIF_MSG_ACK);
			break;
		case PSW_MEMIF_MSG_ADD_REGION:
			if (cc->state != CONN_SETUP)
				rc = refuse(reason, sizeof(reason), "ADD_REGION after CONNECT");
			else
				rc = on_add_region(cc, &m.add_region, &fd, reason, sizeof(reason));
			if (rc == 0)
				rc = send_type(cc, PSW_MEMIF_MSG_ACK);
			break;
		case PSW_MEMIF_MSG_ADD_RING:
			if (cc->state != CONN_SETUP)
				rc = refuse(reason, sizeof(reason), "ADD_RING after CONNECT");
			else
				rc = on_add_ring(cc, &m.add_ring, &fd, reason, sizeof(reason));
			if (rc == 0)
				rc = send_type(cc, PSW_MEMIF_MSG_ACK);
			break;
		case PSW_MEMIF_MSG_CONNECT:
			if (cc->state != CONN_SETUP) {
				rc = refuse(reason, sizeof(reason), "CONNECT sent twice");
			} else {
				struct psw_memif_msg r;

				rc = on_connect(cc, reason, sizeof(reason));
				memset(&r, 0, sizeof(r));
				r.type = PSW_MEMIF_MSG_CONNECTED;
				snprintf((char *)r.connected.if_name, sizeof(r.connected.if_name), "%s",
					 cc->mf->name);
				if (rc == 0)
					rc = conn_send(cc, &r);
			}
			break;
		case PSW_MEMIF_MSG_DISCONNECT:
			close_fd(&fd);
			conn_close(cc, NULL);
			return;
		case PSW_MEMIF_MSG_ACK:
			break;
		default:
			rc = refuse(reason, sizeof(reason), "message type %u not expected", m.type);
			break;
		}
	}
	close_fd(&fd);                           /* a descriptor the message did not need */
	if (rc < 0)
		conn_close(cc, reason[0] != '\0' ? reason : NULL);
}

static struct psw_memif_conn *
conn_alloc(void)
{
	struct psw_memif_conn *cc = free_conns;

	if (cc != NULL)
		free_conns = cc->next;
	else
		cc = calloc(1, sizeof(*cc));
	return cc;
}

static void
listener_event(struct psw_event_src *src, uint32_t events)
{
	struct psw_memif_listener *ln = src->ctx;
	struct psw_memif_conn *cc;
	struct psw_memif_msg hello;
	int fd;

	RTE_SET_USED(events);
	if (!ln->in_use || ln->fd < 0)
		return;
	fd = accept4(ln->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	usage.fds++;
	if (ln->nb_pending >= PENDING_MAX || (cc = conn_alloc()) == NULL) {
		close_fd(&fd);                   /* the slave sees the channel close, and retries later */
		return;
	}
	memset(cc, 0, sizeof(*cc));
	cc->fd = fd;
	cc->ring_fds[0] = cc->ring_fds[1] = -1;
	cc->ln = ln;
	cc->src = (struct psw_event_src){ .fd = fd, .fn = conn_event, .ctx = cc };
	if (psw_ctl_watch(ctl_epfd, &cc->src, EPOLLIN, 0) < 0) {
		close_fd(&fd);
		cc->state = CONN_FREE;
		cc->next = free_conns;
		free_conns = cc;
		return;
	}
	cc->state = CONN_WAIT_INIT;
	cc->next = ln->pending;
	ln->pending = cc;
	ln->nb_pending++;
	usage.channels++;
	memset(&hello, 0, sizeof(hello));
	hello.type = PSW_MEMIF_MSG_HELLO;
	snprintf((char *)hello.hello.name, sizeof(hello.hello.name), "podswitch");
	hello.hello.min_version = PSW_MEMIF_VERSION;
	hello.hello.max_version = PSW_MEMIF_VERSION;
	hello.hello.max_region = PSW_MEMIF_MAX_REGIONS - 1;
	hello.hello.max_m2s_ring = 0;
	hello.hello.max_s2m_ring = 0;
	hello.hello.max_log2_ring_size = PSW_MEMIF_MAX_LOG2_RING;
	if (conn_send(cc, &hello) < 0)
		conn_close(cc, NULL);
}

/* ------------------------------------------------------------ listeners and ports */

void
psw_memif_layer_init(int epfd, struct rte_rcu_qsbr *qsbr)
{
	ctl_epfd = epfd;
	memif_qsbr = qsbr;
}

static struct psw_memif_listener *
listener_find(const char *path)
{
	unsigned i;

	for (i = 0; i < RTE_DIM(listeners); i++)
		if (listeners[i].in_use && strcmp(listeners[i].path, path) == 0)
			return &listeners[i];
	return NULL;
}

bool
psw_memif_socket_listening(const char *path)
{
	return listener_find(path) != NULL;
}

static struct psw_memif_listener *
listener_open(const char *path, char *err, size_t err_len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct psw_memif_listener *ln = NULL;
	unsigned i;
	int fd;

	for (i = 0; i < RTE_DIM(listeners) && ln == NULL; i++)
		if (!listeners[i].in_use)
			ln = &listeners[i];
	if (ln == NULL || strlen(path) >= sizeof(sa.sun_path) || strlen(path) >= sizeof(ln->path)) {
		snprintf(err, err_len, "memif socket '%s': %s", path,
			 ln == NULL ? "no listener slot left" : "path too long for a unix socket");
		return NULL;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0) {
		snprintf(err, err_len, "memif socket '%s': cannot listen: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	memset(ln, 0, sizeof(*ln));
	ln->fd = fd;
	snprintf(ln->path, sizeof(ln->path), "%s", path);
	ln->src = (struct psw_event_src){ .fd = fd, .fn = listener_event, .ctx = ln };
	if (ctl_epfd < 0 || psw_ctl_watch(ctl_epfd, &ln->src, EPOLLIN, 0) < 0) {
		snprintf(err, err_len, "memif socket '%s': no control loop to serve it on", path);
		close(fd);
		unlink(path);
		return NULL;
	}
	ln->in_use = true;
	usage.fds++;
	usage.listeners++;
	return ln;
}

static void
listener_close(struct psw_memif_listener *ln)
{
	while (ln->pending != NULL)
		conn_close(ln->pending, "the switch stops serving this socket");
	psw_ctl_unwatch(ctl_epfd, &ln->src);
	close_fd(&ln->fd);
	ln->src.fd = -1;
	unlink(ln->path);
	ln->in_use = false;
	usage.listeners--;
}

struct psw_memifport *
psw_memifport_create(const char *name, const char *path, uint32_t id, char *err, size_t err_len)
{
	struct psw_memif_listener *ln = listener_find(path);
	struct psw_memifport *mf;

	if (ln != NULL) {
		for (mf = ln->ifaces; mf != NULL; mf = mf->next)
			if (mf->id == id) {
				snprintf(err, err_len, "port '%s': memif id %u on '%s' is port '%s''s already",
					 name, id, path, mf->name);
				return NULL;
			}
	}
	mf = calloc(1, sizeof(*mf));
	if (mf == NULL) {
		snprintf(err, err_len, "port '%s': out of memory", name);
		return NULL;
	}
	mf->id = id;
	mf->rx.intr_fd = mf->tx.intr_fd = -1;
	snprintf(mf->name, sizeof(mf->name), "%s", name);
	mf->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (mf->epfd < 0) {
		snprintf(err, err_len, "port '%s': epoll set: %s", name, strerror(errno));
		free(mf);
		return NULL;
	}
	usage.fds++;
	if (ln == NULL) {
		ln = listener_open(path, err, err_len);
		if (ln == NULL) {
			close_fd(&mf->epfd);
			free(mf);
			return NULL;
		}
	}
	mf->ln = ln;
	mf->next = ln->ifaces;
	ln->ifaces = mf;
	usage.interfaces++;
	return mf;
}

void
psw_memifport_destroy(struct psw_memifport *mf)
{
	struct psw_memif_listener *ln;
	struct psw_memifport **link;

	if (mf == NULL)
		return;
	if (mf->conn != NULL)
		conn_close(mf->conn, "interface removed");
	ln = mf->ln;
	for (link = &ln->ifaces; *link != NULL && *link != mf; link = &(*link)->next)
		;
	if (*link != NULL)
		*link = mf->next;
	if (ln->ifaces == NULL)
		listener_close(ln);
	/* a worker woken from a park on this port may be disarming it */
	if (memif_qsbr != NULL)
		rte_rcu_qsbr_synchronize(memif_qsbr, RTE_QSBR_THRID_INVALID);
	close_fd(&mf->epfd);
	free(mf);
	usage.interfaces--;
}

void
psw_memif_usage(struct psw_memif_usage *u)
{
	*u = usage;
}

/* ------------------------------------------------------------ datapath */

static inline void
desc_read(const struct psw_memif_desc *d, struct psw_memif_desc *copy)
{
	/* once: the slave may change it under us */
	copy->flags = __atomic_load_n(&d->flags, __ATOMIC_RELAXED);
	copy->region = __atomic_load_n(&d->region, __ATOMIC_RELAXED);
	copy->length = __atomic_load_n(&d->length, __ATOMIC_RELAXED);
	copy->offset = __atomic_load_n(&d->offset, __ATOMIC_RELAXED);
}

/* The first receive after a park: polling again, the slave need not signal; empty the set. */
static void
rx_disarm(struct psw_memifport *mf)
{
	struct epoll_event ev;

	__atomic_store_n(&mf->rx.ring->flags, PSW_MEMIF_RING_MASK_INT, __ATOMIC_RELAXED);
	mf->rx_armed = false;
	(void)epoll_wait(mf->epfd, &ev, 1, 0);
}

void
psw_memifport_disarm(struct psw_memifport *mf)
{
	/* no slave: nothing to mask (the next one starts unmasked and armed) */
	if (mf->rx_armed && __atomic_load_n(&mf->connected, __ATOMIC_ACQUIRE))
		rx_disarm(mf);
}

bool
psw_memifport_arm(struct psw_memifport *mf)
{
	struct psw_memif_ring *ring;

	if (!__atomic_load_n(&mf->connected, __ATOMIC_ACQUIRE))
		return true;                     /* a new slave starts unmasked */
	ring = mf->rx.ring;
	__atomic_store_n(&ring->flags, 0, __ATOMIC_RELAXED);
	mf->rx_armed = true;
	/* the slave reads the flags after publishing head: see its head after ours is seen */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return __atomic_load_n(&ring->head, __ATOMIC_ACQUIRE) == mf->rx.next;
}

uint16_t
psw_memifport_rx(struct psw_memifport *mf, struct rte_mempool *mp, struct rte_mbuf **pkts, uint16_t n)
{
	struct rte_mbuf *mbufs[PSW_MEMIF_BURST_MAX];
	struct psw_memif_ring *ring;
	uint16_t cur, avail, nb, got = 0;
	uint32_t room;

	if (!__atomic_load_n(&mf->connected, __ATOMIC_ACQUIRE))
		return 0;
	if (n > PSW_MEMIF_BURST_MAX)
		n = PSW_MEMIF_BURST_MAX;
	if (unlikely(mf->rx_armed))
		rx_disarm(mf);
	ring = mf->rx.ring;
	cur = mf->rx.next;
	avail = (uint16_t)(__atomic_load_n(&ring->head, __ATOMIC_ACQUIRE) - cur);
	if (unlikely(avail > (uint32_t)mf->rx.mask + 1)) {
		mf->rx_bad_head++;
		return 0;
	}
	if (avail == 0)
		return 0;
	/* one mbuf per frame at most, taken in one go; a dropped frame's is reused */
	nb = RTE_MIN(avail, n);
	if (unlikely(rte_pktmbuf_alloc_bulk(mp, mbufs, nb) != 0)) {
		nb = 1;
		if (rte_pktmbuf_alloc_bulk(mp, mbufs, 1) != 0) {
			mf->rx_nombuf++;         /* left in the ring */
			return 0;
		}
	}
	room = rte_pktmbuf_tailroom(mbufs[0]);
	while (avail > 0 && got < nb) {
		struct rte_mbuf *m = mbufs[got];
		uint8_t *dst = rte_pktmbuf_mtod(m, uint8_t *);
		struct psw_memif_desc d;
		bool bad = false, oversize = false;
		uint64_t len = 0;

		do {
			desc_read(&ring->desc[cur & mf->rx.mask], &d);
			cur++;
			avail--;
			if (!psw_memif_buffer_ok(mf->regions, mf->nb_regions, d.region, d.offset, d.length))
				bad = true;
			else if (!bad && !oversize && len + d.length <= room)
				rte_memcpy(dst + len, mf->regions[d.region].addr + d.offset, d.length);
			else
				oversize = true;
			len += d.length;
		} while ((d.flags & PSW_MEMIF_DESC_NEXT) && avail > 0);
		if (unlikely(d.flags & PSW_MEMIF_DESC_NEXT))
			bad = true;              /* a chain that runs past what was published */
		if (unlikely(bad || oversize || len == 0)) {
			if (bad || len == 0)
				mf->rx_bad++;
			else
				mf->rx_oversize++;
			continue;                /* its mbuf takes the next frame */
		}
		m->data_len = (uint16_t)len;
		m->pkt_len = (uint32_t)len;
		pkts[got++] = m;
	}
	if (got < nb)
		rte_pktmbuf_free_bulk(&mbufs[got], nb - got);
	mf->rx.next = cur;
	__atomic_store_n(&ring->tail, cur, __ATOMIC_RELEASE);
	return got;
}

uint16_t
psw_memifport_tx(struct psw_memifport *mf, struct rte_mbuf **pkts, uint16_t n)
{
	struct psw_memif_ring *ring;
	uint16_t slot, nfree, sent = 0;

	if (!__atomic_load_n(&mf->connected, __ATOMIC_ACQUIRE))
		return 0;
	ring = mf->tx.ring;
	slot = mf->tx.next;
	/* the slave hands buffers over by moving head */
	nfree = (uint16_t)(__atomic_load_n(&ring->head, __ATOMIC_ACQUIRE) - slot);
	if (unlikely(nfree > (uint32_t)mf->tx.mask + 1)) {
		mf->tx_bad_head++;
		return 0;
	}
	while (sent < n && nfree > 0) {
		struct rte_mbuf *m = pkts[sent];
		uint32_t len = m->pkt_len, done = 0;
		uint16_t s = slot, left = nfree;

		for (;;) {
			struct psw_memif_desc *dp = &ring->desc[s & mf->tx.mask], d;
			uint32_t chunk;
			uint8_t *dst;
			const void *src;

			desc_read(dp, &d);
			if (unlikely(d.length == 0 ||
				     !psw_memif_buffer_ok(mf->regions, mf->nb_regions, d.region, d.offset,
							  d.length))) {
				mf->tx_bad++;
				goto out;        /* the ring is the slave's to mend */
			}
			chunk = RTE_MIN(d.length, len - done);
			dst = mf->regions[d.region].addr + d.offset;
			src = rte_pktmbuf_read(m, done, chunk, dst);   /* copies only from chains */
			if (src != dst)
				rte_memcpy(dst, src, chunk);
			done += chunk;
			s++;
			left--;
			__atomic_store_n(&dp->length, chunk, __ATOMIC_RELAXED);
			if (done == len) {
				__atomic_store_n(&dp->flags, 0, __ATOMIC_RELAXED);
				break;
			}
			__atomic_store_n(&dp->flags, PSW_MEMIF_DESC_NEXT, __ATOMIC_RELAXED);
			if (left == 0)
				goto out;        /* not enough buffers for the rest: the frame waits */
		}
		slot = s;
		nfree = left;
		sent++;
	}
out:
	if (sent > 0) {
		mf->tx.next = slot;
		__atomic_store_n(&ring->tail, slot, __ATOMIC_RELEASE);
		rte_pktmbuf_free_bulk(pkts, sent);       /* copied into the slave's buffers */
	}
	return sent;
}
