/*
 * Ports: one abstraction over DPDK ethdev for every kind of port (NIC,
 * vhost-user, memif, kernel tap, af_packet, ring, pcap, null). The switch
 * names ports by its own index (0..PSW_MAX_PORTS-1), not by ethdev port id,
 * so that backends other than ethdev can be added without touching stages.
 *
 * Thread-safety: psw_port_create/destroy and the queue planner run on the
 * control thread only. Workers use psw_port_rx/psw_port_tx on ports present
 * in their current table snapshot; a port is destroyed only after a grace
 * period in which no snapshot refers to it (see psw_tables_sync()).
 * TX queues: a port with at least one TX queue per worker gives each worker
 * its own queue; otherwise workers share queues under a per-queue spinlock
 * (single-queue vhost-user, memif, tap and af_packet ports).
 *
 * af_packet ports (kernel pods, the host end of a veth) are not ethdevs:
 * the switch owns an AF_PACKET socket with mmap'd rings (psw_sockport.h),
 * so they do not count against DPDK's RTE_MAX_ETHPORTS.
 *
 * vhost-user ports are not ethdevs either: the switch registers the pod's
 * socket with the vhost library and its workers enqueue and dequeue bursts
 * on the device directly (psw_vhostport.h), as Open vSwitch does.
 *
 * memif ports are not ethdevs either: the switch is the memif master
 * itself (psw_memifport.h), many interfaces per socket, no PMD.
 */
#ifndef PSW_PORT_H
#define PSW_PORT_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_rcu_qsbr.h>
#include <rte_spinlock.h>
#include <rte_vhost.h>

#include "psw_config.h"
#include "psw_memifport.h"
#include "psw_sockport.h"
#include "psw_tables.h"
#include "psw_vhostport.h"

struct psw_port {
	bool in_use;
	enum psw_port_kind kind;
	char name[PSW_NAME_MAX];
	char devname[RTE_DEV_NAME_MAX_LEN];  /**< vdev name, or PCI address */
	uint16_t eth_port;                   /**< ethdev port id */
	uint16_t nb_rxq;
	uint16_t nb_txq;
	bool txq_shared;                     /**< fewer TX queues than workers */
	int socket;                          /**< NUMA socket of the device */
	struct rte_ether_addr mac;
	struct psw_port_conf conf;           /**< what it was created from */
	struct rte_ring *rings[2];           /**< ring kind: rx, tx */
	int vid;                             /**< vhost-user: the device, -1 = none (atomic) */
	uint16_t vq_pairs;                   /**< vhost-user: queue pairs the driver set up */
	struct rte_mempool *mp;              /**< vhost-user, af_packet: RX buffers */
	struct psw_sockport *sk;             /**< af_packet: the switch's own socket (no ethdev) */
	bool offloads;                       /**< takes frames with offload requests (psw_gso.h): a kernel pod's
					      *  with them, a vhost-user guest that took GUEST_CSUM and TSO (atomic) */
	struct rte_mempool *large;           /**< vhost-user: 64 KB mbufs for a guest's large frames; NULL: no offloads */
	struct psw_vhost_held *held;         /**< vhost-user with large: per RX queue, frames for the next burst */
	uint64_t rx_ol_bad;                  /**< vhost-user: frames with offload requests not carried (atomic) */
	struct psw_memifport *mf;            /**< memif: the switch's own master (no ethdev) */
	uint32_t gen;                        /**< bumped (atomic) when the slot takes a port, and when a
					      *  vhost-user device comes or goes: workers' idle state */
	int armed_fd;                        /**< vhost-user: the kick eventfd of psw_port_arm (worker's) */
	int kick_fd;                         /**< vhost-user: the switch's copy of the guest's kick fd (atomic) */
	rte_spinlock_t txq_lock[PSW_MAX_WORKERS];
} __rte_cache_aligned;

extern struct psw_port psw_ports[PSW_MAX_PORTS];

/** Resource limits the port layer needs from the configuration. */
struct psw_port_env {
	unsigned nb_workers;
	uint16_t rx_desc;
	uint16_t tx_desc;
	unsigned mbufs;                      /**< per NUMA socket mempool size */
	unsigned large_mbufs;                /**< 64 KB mbufs per NUMA socket for pods' offloads; 0: no offloads */
	struct rte_rcu_qsbr *qsbr;           /**< the workers' RCU variable (vhost-user device removal) */
};

/** Set up the port layer (mempools are created on demand per socket). */
void psw_port_layer_init(const struct psw_port_env *env);

/** The workers' RCU variable, once it exists (before the first vhost-user port). */
void psw_port_layer_set_qsbr(struct rte_rcu_qsbr *qsbr);

/**
 * Devargs for a virtual port: driver instance name and argument string.
 * Pure function (no DPDK state), tested without a device.
 * @return 0, -EINVAL for a kind that is not a vdev (nic) or missing fields,
 *         -ENAMETOOLONG when a buffer is too small.
 */
int psw_port_vdev_args(const struct psw_port_conf *c, unsigned index,
		       char *name, size_t name_len, char *args, size_t args_len);

/** Queue plan of one port, computed from what the device can do. */
struct psw_queue_plan {
	uint16_t nb_rxq;
	uint16_t nb_txq;
	bool rss;                            /**< RSS enabled (nb_rxq > 1) */
	uint64_t rss_hf;                     /**< hash functions requested */
	uint64_t rx_offloads;
	uint64_t tx_offloads;
};

/**
 * Decide queues, RSS and offloads for a port from the configuration, the
 * number of workers and the device's capabilities. Pure function.
 * @return 0, or -EINVAL when the device cannot do what the configuration
 *         asks (err names it).
 */
int psw_port_plan_queues(const struct psw_port_conf *c, unsigned nb_workers,
			 const struct rte_eth_dev_info *info, struct psw_queue_plan *plan,
			 char *err, size_t err_len);

/**
 * Create, configure and start a port; hot-plugs vdevs with rte_dev_probe().
 * @return the port index (>= 0), or a negative errno with err filled in.
 */
int psw_port_create(const struct psw_port_conf *c, char *err, size_t err_len);

/** Stop, close and unplug a port. The caller has ensured no worker uses it. */
void psw_port_destroy(uint16_t index);

/** Stop, close and unplug every port; the switch's own sockets closed in parallel (at exit). */
void psw_port_destroy_all(void);

/** Index of the port with this name, or -ENOENT. */
int psw_port_find(const char *name);

/** Mempool for a NUMA socket (created on first use). NULL + rte_errno. */
struct rte_mempool *psw_port_mempool(int socket);

/** The pool of 64 KB mbufs for kernel pods' large frames on that socket; NULL: offloads off (or no memory). */
struct rte_mempool *psw_port_large_mempool(int socket);

/**
 * Where the pool of 64 KB mbufs for that socket is once psw_port_large_mempool
 * has made it (NULL until then; it lasts until psw_port_layer_fini): for the
 * workers, which take pieces of large frames from it.
 */
struct rte_mempool *const *psw_port_large_mempool_slot(int socket);

/** mbufs taken out of every pool (in queues, in flight, in per-lcore caches). */
unsigned psw_port_mbufs_in_use(void);

/**
 * 64 KB mbufs (pods' large frames) taken from the pools, all sockets, and
 * guests' large frames in the vhost library's external buffers.
 */
unsigned psw_port_large_mbufs_in_use(void);

/** Frames a port's device dropped (RX queue full) and left for want of an mbuf. */
void psw_port_drops(struct psw_port *p, uint64_t *missed, uint64_t *nombuf);

/** The port's link is up. */
bool psw_port_link_up(const struct psw_port *p);

/** Free every mempool (at exit, ports destroyed). */
void psw_port_layer_fini(void);

/**
 * Ready an idle RX queue for waiting instead of polling (a worker that has
 * had nothing from it for a while): returns the descriptor to wait on
 * (epoll: readable when a frame may wait), or -1 when the queue can only
 * be polled or a frame already waits. af_packet: the socket. vhost-user
 * (one queue pair, a driver connected): the guest's kick eventfd, with
 * guest notifications turned on. memif: the port's own epoll set (the
 * slave's S2M eventfd in it while connected), the slave asked to signal.
 * PSW_PORT_WAIT_EVENT: nothing to wait
 * on, but nothing can come before psw_port_events moves (a vhost-user port
 * without a device). Worker that polls the queue only.
 */
int psw_port_arm(struct psw_port *p, uint16_t queue);

#define PSW_PORT_WAIT_EVENT (-2)

/**
 * Bumped (after the port's gen) whenever a vhost-user device comes or goes:
 * workers then look at the generations of the ports they parked.
 */
extern uint32_t psw_port_events;

/** The queue is polled again (woken, or arming it failed): undo psw_port_arm. */
void psw_port_disarm(struct psw_port *p, uint16_t queue);

static inline uint16_t
psw_port_rx(struct psw_port *p, uint16_t queue, struct rte_mbuf **pkts, uint16_t n)
{
	if (p->sk != NULL)
		return psw_sockport_rx(p->sk, p->mp, pkts, n);
	if (p->mf != NULL)
		return psw_memifport_rx(p->mf, p->mp, pkts, n);
	if (p->kind == PSW_PORT_VHOST) {
		int vid = __atomic_load_n(&p->vid, __ATOMIC_ACQUIRE);

		if (vid < 0 || queue >= __atomic_load_n(&p->vq_pairs, __ATOMIC_RELAXED)) {
			/* frames a gone driver left held: back to their pools (this worker's queue) */
			if (unlikely(p->held != NULL && p->held[queue].n > 0))
				psw_vhostport_free_held_queue(p, queue);
			return 0;
		}
		if (p->large != NULL)
			return psw_vhostport_rx(p, vid, queue, pkts, n);
		return rte_vhost_dequeue_burst(vid, PSW_VHOST_VQ_FROM_GUEST(queue), p->mp, pkts, n);
	}
	return rte_eth_rx_burst(p->eth_port, queue, pkts, n);
}

static inline uint16_t
port_tx_burst(struct psw_port *p, uint16_t q, struct rte_mbuf **pkts, uint16_t n)
{
	if (p->sk != NULL)
		return psw_sockport_tx(p->sk, pkts, n);
	if (p->mf != NULL)
		return psw_memifport_tx(p->mf, pkts, n);
	if (p->kind == PSW_PORT_VHOST) {
		int vid = __atomic_load_n(&p->vid, __ATOMIC_ACQUIRE);
		uint16_t sent, pairs = __atomic_load_n(&p->vq_pairs, __ATOMIC_RELAXED);

		if (vid < 0 || pairs == 0)
			return 0;
		/* a driver with fewer queue pairs than the port: the library locks each virtqueue */
		if (unlikely(q >= pairs))
			q = (uint16_t)(q % pairs);
		sent = rte_vhost_enqueue_burst(vid, PSW_VHOST_VQ_TO_GUEST(q), pkts, n);
		rte_pktmbuf_free_bulk(pkts, sent);       /* copied into the guest's buffers */
		return sent;
	}
	return rte_eth_tx_burst(p->eth_port, q, pkts, n);
}

static inline uint16_t
psw_port_tx(struct psw_port *p, unsigned worker, struct rte_mbuf **pkts, uint16_t n)
{
	uint16_t q = (uint16_t)(worker % p->nb_txq), sent;

	if (!p->txq_shared)
		return port_tx_burst(p, q, pkts, n);
	rte_spinlock_lock(&p->txq_lock[q]);
	sent = port_tx_burst(p, q, pkts, n);
	rte_spinlock_unlock(&p->txq_lock[q]);
	return sent;
}

#endif /* PSW_PORT_H */
