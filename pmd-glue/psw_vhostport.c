/* vhost-user pods over the vhost library directly, no ethdev (psw_vhostport.h). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <rte_common.h>
#include <rte_vhost.h>

#include "psw_port.h"
#include "psw_vhostport.h"

/*
 * The ports whose sockets are registered, for the callbacks (which know a
 * device by its vid and socket path only). Guarded by lock, as is every
 * write of a registered port's vid.
 */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct psw_port *registered[PSW_MAX_PORTS];
static unsigned nb_registered;
static struct rte_rcu_qsbr *workers_qsbr;

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

/* A driver finished setting the device up: the port's workers may use it. */
static int
new_device(int vid)
{
	char path[PSW_PATH_MAX];
	struct psw_port *p;
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
		fprintf(stderr, "podswitch: vhost-user %s: device %d refused (%s)\n", path, vid,
			p == NULL ? "no port" : "the port already has a driver");
		return -1;
	}
	__atomic_store_n(&p->vq_pairs, (uint16_t)(nvr / 2), __ATOMIC_RELAXED);
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
	/* a disabled virtqueue yields and takes nothing; the bursts need no change */
	RTE_SET_USED(vid);
	RTE_SET_USED(queue_id);
	RTE_SET_USED(enable);
	return 0;
}

static const struct rte_vhost_device_ops vhost_ops = {
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
	struct rte_vhost_vring vr;
	int fl;

	/* one queue per port: the worker's idle state is per port */
	if (p->nb_rxq != 1)
		return -1;
	if (vid < 0)
		return PSW_PORT_WAIT_EVENT;      /* new_device bumps psw_port_events */
	if (queue >= __atomic_load_n(&p->vq_pairs, __ATOMIC_RELAXED))
		return -1;
	if (rte_vhost_get_vhost_vring(vid, vq, &vr) != 0 || vr.kickfd < 0)
		return -1;
	fl = fcntl(vr.kickfd, F_GETFL);
	if (fl < 0 || (!(fl & O_NONBLOCK) && fcntl(vr.kickfd, F_SETFL, fl | O_NONBLOCK) < 0))
		return -1;
	if (rte_vhost_enable_guest_notification(vid, vq, 1) != 0)
		return -1;
	rte_atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (rte_vhost_rx_queue_count(vid, vq) != 0) {
		rte_vhost_enable_guest_notification(vid, vq, 0);
		return -1;
	}
	p->armed_fd = vr.kickfd;
	return vr.kickfd;
}

void
psw_vhostport_disarm(struct psw_port *p, uint16_t queue)
{
	int vid = __atomic_load_n(&p->vid, __ATOMIC_ACQUIRE);
	uint64_t kicks;

	if (vid < 0 || p->armed_fd < 0)
		return;
	/* the worker checked the generation: the fd is still this device's */
	if (read(p->armed_fd, &kicks, sizeof(kicks)) < 0)
		kicks = 0;                       /* EAGAIN: none (the fd is non-blocking) */
	p->armed_fd = -1;
	rte_vhost_enable_guest_notification(vid, PSW_VHOST_VQ_FROM_GUEST(queue), 0);
}

int
psw_vhostport_open(struct psw_port *p, struct rte_rcu_qsbr *qsbr, char *err, size_t err_len)
{
	const struct psw_port_conf *c = &p->conf;
	uint64_t flags = c->client ? RTE_VHOST_USER_CLIENT : 0;
	const char *what;
	int rc;

	if (c->socket[0] == '\0') {
		snprintf(err, err_len, "port '%s' (vhost-user): no socket path", c->name);
		return -EINVAL;
	}
	pthread_mutex_lock(&lock);
	workers_qsbr = qsbr;
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
	if (rte_vhost_driver_register(c->socket, flags) != 0) {
		snprintf(err, err_len, "port '%s' (vhost-user): cannot register socket '%s'",
			 c->name, c->socket);
		return -EIO;
	}
	/*
	 * Before the start: the features are read when a driver connects, so a
	 * guest never sends partial checksums or segmentation offloads the
	 * stages would rewrite incrementally as if whole.
	 */
	what = "turn checksum and segmentation offloads off";
	rc = rte_vhost_driver_disable_features(c->socket, PSW_VHOST_NO_FEATURES);
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

void
psw_vhostport_close(struct psw_port *p)
{
	int old;

	pthread_mutex_lock(&lock);
	unlist(p);
	old = __atomic_exchange_n(&p->vid, -1, __ATOMIC_ACQ_REL);
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
