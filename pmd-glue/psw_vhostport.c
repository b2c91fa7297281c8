/* vhost-user pods over the vhost library directly, no ethdev (psw_vhostport.h). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <rte_common.h>
#include <rte_malloc.h>
#include <rte_vhost.h>

#include "psw_gso.h"
#include "psw_port.h"
#include "psw_stage.h"
#include "psw_vhostport.h"
#include "psw_log.h"

/*
 * The ports whose sockets are registered, for the callbacks (which know a
 * device by its vid and socket path only). Guarded by lock, as is every
 * write of a registered port's vid.
 */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct psw_port *registered[PSW_MAX_PORTS];
static unsigned nb_registered;
static struct rte_rcu_qsbr *workers_qsbr;
static unsigned conns[PSW_MAX_PORTS];     /* connections per registered port (by slot) */
/*
 * Kick fds the workers may still hold: copies (dup) the workers wait on and
 * drain, replaced when the ring's fd changes; the old copies are closed by
 * the control thread after a grace period (psw_vhostport_reap), never by
 * the library's thread, so a worker never touches a number reused by
 * another descriptor.
 */
#define KICKS_PENDING_MAX 4               /* per port: a driver replacing its fd faster only hurts itself */
static struct { int fd; uint16_t port; } graveyard[(KICKS_PENDING_MAX + 1) * PSW_MAX_PORTS];
static unsigned nb_graveyard;
static uint8_t pending[PSW_MAX_PORTS];

static struct psw_port *
by_path(const char *path)
{
	unsigned i;

	for (i = 0; i < nb_registered; i++)
		if (strcmp(registered[i]->conf.socket, path) == 0)
			return registered[i];
	return NULL;
}

static struct psw_port *
by_vid(int vid)
{
	unsigned i;

	for (i = 0; i < nb_registered; i++)
		if (__atomic_load_n(&registered[i]->vid, __ATOMIC_RELAXED) == vid)
			return registered[i];
	return NULL;
}

static void
unlist(struct psw_port *p)
{
	unsigned i;

	for (i = 0; i < nb_registered; i++)
		if (registered[i] == p) {
			registered[i] = registered[--nb_registered];
			registered[nb_registered] = NULL;
			return;
		}
}

/* No worker is in the library with a device cleared before this call once it returns. */
static void
wait_for_workers(void)
{
	if (workers_qsbr != NULL)
		rte_rcu_qsbr_synchronize(workers_qsbr, RTE_QSBR_THRID_INVALID);
}

/*
 * The port's copy of the guest's kick fd (queue pair 0, its TX ring) as the
 * device has it now; the old copy goes to the graveyard. Under lock.
 */
static void
refresh_kick(struct psw_port *p, int vid)
{
	uint16_t slot = (uint16_t)(p - psw_ports);
	struct rte_vhost_vring vr;
	int fd = -1, old, fl;

	if (vid >= 0 && pending[slot] >= KICKS_PENDING_MAX) {
		/* faster than the reaper: this port keeps its old copy (it is polled
		 * after every state change, so at worst its own frames wait) */
		PSW_LOG(WARN, VHOST, "vhost-user %s: kick fd replaced too often; not followed",
			p->conf.socket);
		return;
	}
	if (vid >= 0 && rte_vhost_get_vhost_vring(vid, PSW_VHOST_VQ_FROM_GUEST(0), &vr) == 0 &&
	    vr.kickfd >= 0) {
		fd = fcntl(vr.kickfd, F_DUPFD_CLOEXEC, 0);
		if (fd >= 0 && ((fl = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)) {
			close(fd);
			fd = -1;
		}
	}
	old = __atomic_exchange_n(&p->kick_fd, fd, __ATOMIC_ACQ_REL);
	if (old >= 0) {
		/* room is certain: per port KICKS_PENDING_MAX copies and the last one (device gone) */
		graveyard[nb_graveyard].fd = old;
		graveyard[nb_graveyard].port = slot;
		nb_graveyard++;
		pending[slot]++;
	}
}

/* A driver finished setting the device up: the port's workers may use it. */
static int
new_device(int vid)
{
	char path[PSW_PATH_MAX];
	struct psw_port *p;
	uint64_t features;
	uint16_t i, nvr;

	if (rte_vhost_get_ifname(vid, path, sizeof(path)) < 0)
		return -1;
	nvr = rte_vhost_get_vring_num(vid);
	/* the workers poll: the guest need not kick us after every burst */
	for (i = 0; i < nvr; i++)
		rte_vhost_enable_guest_notification(vid, i, 0);
	pthread_mutex_lock(&lock);
	p = by_path(path);
	if (p == NULL || __atomic_load_n(&p->vid, __ATOMIC_RELAXED) >= 0) {
		/* unknown socket, or a second driver on a port that has one */
		pthread_mutex_unlock(&lock);
		PSW_LOG(WARN, VHOST, "vhost-user %s: device %d refused (%s)", path, vid,
			p == NULL ? "no port" : "the port already has a driver");
		return -1;
	}
	__atomic_store_n(&p->vq_pairs, (uint16_t)(nvr / 2), __ATOMIC_RELAXED);
	/* frames with offload requests go whole only to a guest that takes both checksum and TSO */
	__atomic_store_n(&p->offloads, p->large != NULL && rte_vhost_get_negotiated_features(vid, &features) == 0 &&
			 (features & PSW_VHOST_F_GUEST_OL) == PSW_VHOST_F_GUEST_OL, __ATOMIC_RELAXED);
	refresh_kick(p, vid);
	/* a worker that parked the port without a device polls it afresh */
	__atomic_fetch_add(&p->gen, 1, __ATOMIC_RELEASE);
	__atomic_store_n(&p->vid, vid, __ATOMIC_RELEASE);
	__atomic_fetch_add(&psw_port_events, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&lock);
	return 0;
}

/* The driver went (or the library is taking the device down): workers first. */
static void
destroy_device(int vid)
{
	struct psw_port *p;

	pthread_mutex_lock(&lock);
	p = by_vid(vid);
	if (p != NULL) {
		__atomic_store_n(&p->vid, -1, __ATOMIC_RELEASE);
		__atomic_store_n(&p->offloads, false, __ATOMIC_RELAXED);
		refresh_kick(p, -1);
		/* before the grace period: a worker woken after it ignores the old kick fd */
		__atomic_fetch_add(&p->gen, 1, __ATOMIC_RELEASE);
		__atomic_fetch_add(&psw_port_events, 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&lock);
	if (p != NULL)
		wait_for_workers();
}

static int
vring_state_changed(int vid, uint16_t queue_id, int enable)
{
	struct psw_port *p;

	RTE_SET_USED(queue_id);
	RTE_SET_USED(enable);
	/*
	 * The ring's kick fd or state changed (SET_VRING_KICK, SET_VRING_ENABLE),
	 * or the driver set up more queue pairs: a worker that parked the port
	 * on the old state polls it afresh. The library holds the device's
	 * queue locks here: no waiting for the workers (one may spin on them).
	 */
	pthread_mutex_lock(&lock);
	p = by_vid(vid);
	if (p != NULL) {
		__atomic_store_n(&p->vq_pairs, (uint16_t)(rte_vhost_get_vring_num(vid) / 2), __ATOMIC_RELAXED);
		refresh_kick(p, vid);
		__atomic_fetch_add(&p->gen, 1, __ATOMIC_RELEASE);
		__atomic_fetch_add(&psw_port_events, 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&lock);
	return 0;
}

/* One connection per socket: a second one (or the 1000th) is closed at once. */
static int
new_connection(int vid)
{
	char path[PSW_PATH_MAX];
	struct psw_port *p;
	int rc = 0;

	if (rte_vhost_get_ifname(vid, path, sizeof(path)) < 0)
		return -1;
	pthread_mutex_lock(&lock);
	p = by_path(path);
	if (p == NULL || conns[p - psw_ports] > 0)
		rc = -1;
	else
		conns[p - psw_ports]++;
	pthread_mutex_unlock(&lock);
	if (rc < 0)
		PSW_LOG(WARN, VHOST, "vhost-user %s: connection refused (%s)", path,
			p == NULL ? "no port" : "the port already has a driver");
	return rc;
}

static void
destroy_connection(int vid)
{
	char path[PSW_PATH_MAX];
	struct psw_port *p;

	if (rte_vhost_get_ifname(vid, path, sizeof(path)) < 0)
		return;
	pthread_mutex_lock(&lock);
	p = by_path(path);
	if (p != NULL && conns[p - psw_ports] > 0)
		conns[p - psw_ports]--;
	pthread_mutex_unlock(&lock);
}

static const struct rte_vhost_device_ops vhost_ops = {
	.new_connection = new_connection,
	.destroy_connection = destroy_connection,
	.new_device = new_device,
	.destroy_device = destroy_device,
	.vring_state_changed = vring_state_changed,
};

/*
 * Readiness of an idle port: the guest kicks (writes its kick eventfd)
 * after adding buffers only while notifications are on. Turned on, then
 * the ring looked at again, so buffers added before they took effect are
 * seen here rather than stranded. The worker is online (RCU) throughout,
 * so the device and its descriptors outlive these calls.
 */
int
psw_vhostport_arm(struct psw_port *p, uint16_t queue)
{
	int vid = __atomic_load_n(&p->vid, __ATOMIC_ACQUIRE);
	uint16_t vq = PSW_VHOST_VQ_FROM_GUEST(queue);
	uint64_t features;
	int fd;

	/* one queue per port: the worker's idle state is per port; frames held are read at once */
	if (p->nb_rxq != 1 || (p->held != NULL && p->held[queue].n > 0))
		return -1;
	if (vid < 0)
		return PSW_PORT_WAIT_EVENT;      /* new_device bumps psw_port_events */
	if (queue >= __atomic_load_n(&p->vq_pairs, __ATOMIC_RELAXED))
		return -1;
	/*
	 * Packed rings are polled: rte_vhost_rx_queue_count reads a split
	 * ring's avail index, so the look after turning notifications on would
	 * look at the wrong memory and a frame could be stranded.
	 */
	if (rte_vhost_get_negotiated_features(vid, &features) != 0 || (features & 1ULL << 34))
		return -1;
	fd = __atomic_load_n(&p->kick_fd, __ATOMIC_ACQUIRE);
	if (fd < 0 || rte_vhost_enable_guest_notification(vid, vq, 1) != 0)
		return -1;
	rte_atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (rte_vhost_rx_queue_count(vid, vq) != 0) {
		rte_vhost_enable_guest_notification(vid, vq, 0);
		return -1;
	}
	p->armed_fd = fd;
	return fd;
}

void
psw_vhostport_disarm(struct psw_port *p, uint16_t queue)
{
	int vid = __atomic_load_n(&p->vid, __ATOMIC_ACQUIRE);
	uint64_t kicks;

	if (vid < 0 || p->armed_fd < 0)
		return;
	/*
	 * The worker checked the generation: the copy is still this ring's, and
	 * it is closed only after a grace period (the worker is online).
	 */
	if (read(p->armed_fd, &kicks, sizeof(kicks)) < 0)
		kicks = 0;                       /* EAGAIN: none (the copy is non-blocking) */
	p->armed_fd = -1;
	rte_vhost_enable_guest_notification(vid, PSW_VHOST_VQ_FROM_GUEST(queue), 0);
}

void
psw_vhostport_reap(void)
{
	static int fds[RTE_DIM(graveyard)];
	unsigned n, i;

	pthread_mutex_lock(&lock);
	n = nb_graveyard;
	for (i = 0; i < n; i++)
		fds[i] = graveyard[i].fd;
	pthread_mutex_unlock(&lock);
	if (n == 0)
		return;
	wait_for_workers();
	for (i = 0; i < n; i++)
		close(fds[i]);
	/* entries added meanwhile stay for the next call */
	pthread_mutex_lock(&lock);
	for (i = 0; i < n; i++)
		pending[graveyard[i].port]--;
	memmove(graveyard, graveyard + n, (nb_graveyard - n) * sizeof(graveyard[0]));
	nb_graveyard -= n;
	pthread_mutex_unlock(&lock);
}

int
psw_vhostport_open(struct psw_port *p, struct rte_rcu_qsbr *qsbr, char *err, size_t err_len)
{
	const struct psw_port_conf *c = &p->conf;
	/*
	 * With offloads, a guest's large frame comes in one buffer the library
	 * allocates for it (an external buffer on an ordinary mbuf), not in a
	 * chain of 2 KB mbufs to be copied again into one.
	 */
	uint64_t flags = (c->client ? RTE_VHOST_USER_CLIENT : 0) |
			 (p->large != NULL ? RTE_VHOST_USER_EXTBUF_SUPPORT : 0);
	const char *what;
	int rc;

	if (c->socket[0] == '\0') {
		snprintf(err, err_len, "port '%s' (vhost-user): no socket path", c->name);
		return -EINVAL;
	}
	pthread_mutex_lock(&lock);
	workers_qsbr = qsbr;
	conns[p - psw_ports] = 0;
	if (by_path(c->socket) != NULL) {
		snprintf(err, err_len, "port '%s' (vhost-user): socket '%s' is already port '%s''s",
			 c->name, c->socket, by_path(c->socket)->conf.name);
		pthread_mutex_unlock(&lock);
		return -EEXIST;
	}
	pthread_mutex_unlock(&lock);
	p->vid = -1;
	p->vq_pairs = 0;
	p->armed_fd = -1;
	p->kick_fd = -1;
	if (rte_vhost_driver_register(c->socket, flags) != 0) {
		snprintf(err, err_len, "port '%s' (vhost-user): cannot register socket '%s'",
			 c->name, c->socket);
		return -EIO;
	}
	/*
	 * Before the start: the features are read when a driver connects.
	 * Without 64 KB mbufs a guest never sends partial checksums or large
	 * frames; with them, what it sends is made what the stages expect
	 * (psw_vhostport_rx).
	 */
	what = "choose the offloads";
	rc = rte_vhost_driver_disable_features(c->socket, PSW_VHOST_NO_FEATURES |
					       (p->large != NULL ? 0 : PSW_VHOST_OL_FEATURES) |
					       (c->queues > 1 ? 0 : 1ULL << 22 /* VIRTIO_NET_F_MQ */));
	if (rc == 0) {
		what = "register the device callbacks";
		rc = rte_vhost_driver_callback_register(c->socket, &vhost_ops);
	}
	if (rc == 0) {
		pthread_mutex_lock(&lock);
		registered[nb_registered++] = p;
		pthread_mutex_unlock(&lock);
		what = c->client ? "start connecting" : "listen";
		rc = rte_vhost_driver_start(c->socket);
		if (rc != 0) {
			pthread_mutex_lock(&lock);
			unlist(p);
			pthread_mutex_unlock(&lock);
		}
	}
	if (rc != 0) {
		snprintf(err, err_len, "port '%s' (vhost-user): cannot %s on socket '%s'", c->name,
			 what, c->socket);
		rte_vhost_driver_unregister(c->socket);
		return -EIO;
	}
	return 0;
}

unsigned psw_vhost_extbuf_max;
static unsigned extbufs;

unsigned
psw_vhostport_extbufs(void)
{
	return __atomic_load_n(&extbufs, __ATOMIC_RELAXED);
}

/* The library's own free callback does this, but for the count. */
static void
extbuf_free(void *addr __rte_unused, void *opaque)
{
	__atomic_fetch_sub(&extbufs, 1, __ATOMIC_RELAXED);
	rte_free(opaque);
}

/*
 * A frame in an external buffer the library allocated for it (one
 * reference: its mbuf's): counted against the budget, and uncounted when
 * its mbuf lets it go. False: over the budget (its mbuf to be freed).
 */
static bool
extbuf_take(struct rte_mbuf *m)
{
	if (m->shinfo->free_cb == extbuf_free)
		return true;                     /* held from the last burst: taken then */
	if (__atomic_fetch_add(&extbufs, 1, __ATOMIC_RELAXED) >= psw_vhost_extbuf_max) {
		__atomic_fetch_sub(&extbufs, 1, __ATOMIC_RELAXED);
		return false;
	}
	m->shinfo->free_cb = extbuf_free;
	return true;
}

/* One frame's requests as psw_gso.h has them, in one mbuf (*mp replaced); false: not carried. */
static bool
offloads_in(struct psw_port *p, struct rte_mbuf **mp)
{
	struct rte_mbuf *m = *mp, *big, *seg;
	uint64_t l4 = m->ol_flags & RTE_MBUF_F_TX_L4_MASK;
	uint8_t *d;

	/* a partial checksum comes with every request a Linux guest makes (parse looks for it) */
	if (l4 == 0)
		return false;
	m->l4_len = l4 == RTE_MBUF_F_TX_TCP_CKSUM ? 16 : l4 == RTE_MBUF_F_TX_UDP_CKSUM ? 6 : 8;
	if (m->nb_segs == 1)
		return true;
	/* in chained mbufs from the library: one piece, with what headroom the 64 KB buffer leaves */
	if (m->pkt_len > UINT16_MAX || (big = rte_pktmbuf_alloc(p->large)) == NULL)
		return false;
	if (m->pkt_len > (uint32_t)big->buf_len) {
		rte_pktmbuf_free(big);
		return false;
	}
	/* (aligned as an ordinary frame's: buf_len is odd, and the headers are read in place) */
	big->data_off = (uint16_t)RTE_MIN((uint32_t)RTE_PKTMBUF_HEADROOM,
					  RTE_ALIGN_FLOOR(big->buf_len - m->pkt_len, 8u));
	d = rte_pktmbuf_mtod(big, uint8_t *);
	for (seg = m; seg != NULL; seg = seg->next) {
		memcpy(d, rte_pktmbuf_mtod(seg, const uint8_t *), seg->data_len);
		d += seg->data_len;
	}
	big->data_len = (uint16_t)m->pkt_len;
	big->pkt_len = m->pkt_len;
	big->ol_flags = m->ol_flags;
	big->tx_offload = m->tx_offload;
	big->packet_type = m->packet_type;
	big->port = m->port;
	rte_pktmbuf_free(m);
	*mp = big;
	return true;
}

/*
 * What forward may add for m after the burst (PSW_EXTRA_MAX at most): a
 * frame asking for segmentation, as many segments as there may be; one
 * longer than a default mbuf, its IPv4 fragments for an MTU of 1,280 (a
 * smaller MTU, which takes more, may find no room: frag_no_room).
 */
static inline unsigned
extra_for(const struct rte_mbuf *m)
{
	return (m->ol_flags & PSW_OL_SEG) ? PSW_EXTRA_MAX : rte_pktmbuf_pkt_len(m) / 1280u;
}

uint16_t
psw_vhostport_rx(struct psw_port *p, int vid, uint16_t queue, struct rte_mbuf **pkts, uint16_t n)
{
	struct psw_vhost_held *h = &p->held[queue];
	bool from_held = h->n > 0;
	unsigned room = PSW_EXTRA_MAX;
	uint16_t got, i, k;

	if (from_held) {
		got = RTE_MIN(n, h->n);
		memcpy(pkts, &h->pkts[h->first], got * sizeof(pkts[0]));
		h->first = (uint16_t)(h->first + got);
		h->n = (uint16_t)(h->n - got);
	} else {
		got = rte_vhost_dequeue_burst(vid, PSW_VHOST_VQ_FROM_GUEST(queue), p->mp, pkts,
					      RTE_MIN(n, PSW_VHOST_HELD_MAX));
	}
	for (i = 0, k = 0; i < got; i++) {
		struct rte_mbuf *m = pkts[i];

		if (likely(!(m->ol_flags & (PSW_OL_ANY | RTE_MBUF_F_EXTERNAL)))) {
			pkts[k++] = m;
			continue;
		}
		/* (a held frame may be so already: both leave it as it is) */
		if (((m->ol_flags & RTE_MBUF_F_EXTERNAL) && !extbuf_take(m)) ||
		    ((m->ol_flags & PSW_OL_ANY) && !offloads_in(p, &m))) {
			rte_pktmbuf_free(m);
			__atomic_fetch_add(&p->rx_ol_bad, 1, __ATOMIC_RELAXED);
			continue;
		}
		if (extra_for(m) > room) {
			/* no room for what it may add: it and what follows wait, in order, in front of what is held */
			if (from_held) {
				h->first = (uint16_t)(h->first - (got - i));
				h->pkts[h->first] = m;
			} else {
				pkts[i] = m;
				memcpy(h->pkts, &pkts[i], (got - i) * sizeof(pkts[0]));
				h->first = 0;
			}
			h->n = (uint16_t)(h->n + got - i);
			return k;
		}
		room -= extra_for(m);
		pkts[k++] = m;
	}
	return k;
}

void
psw_vhostport_free_held_queue(struct psw_port *p, uint16_t q)
{
	rte_pktmbuf_free_bulk(&p->held[q].pkts[p->held[q].first], p->held[q].n);
	p->held[q].n = 0;
}

void
psw_vhostport_free_held(struct psw_port *p)
{
	uint16_t q;

	for (q = 0; p->held != NULL && q < p->nb_rxq; q++)
		psw_vhostport_free_held_queue(p, q);
}

void
psw_vhostport_tx_offload(struct rte_mbuf *m)
{
	/* psw_gso_check saw TCP's 20 bytes at l2_len + l3_len, in one piece */
	if (m->ol_flags & RTE_MBUF_F_TX_TCP_SEG)
		m->l4_len = (uint64_t)(rte_pktmbuf_mtod_offset(m, const uint8_t *,
							       m->l2_len + m->l3_len + 12)[0] >> 4) * 4;
}

void
psw_vhostport_close(struct psw_port *p)
{
	int old;

	pthread_mutex_lock(&lock);
	unlist(p);
	old = __atomic_exchange_n(&p->vid, -1, __ATOMIC_ACQ_REL);
	refresh_kick(p, -1);
	__atomic_fetch_add(&p->gen, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&lock);
	if (old >= 0)
		wait_for_workers();
	/*
	 * Takes a connected device down (its destroy_device no longer finds the
	 * port) and, for a server, removes the socket file. May wait for a
	 * callback in progress, so the mutex is not held.
	 */
	rte_vhost_driver_unregister(p->conf.socket);
}
