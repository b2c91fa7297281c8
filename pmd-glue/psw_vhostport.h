/*
 * vhost-user pods without an ethdev: the switch registers the pod's socket
 * with the vhost library itself (rte_vhost_driver_register, as server or as
 * reconnecting client), follows the library's new_device / destroy_device
 * callbacks, and its workers enqueue and dequeue bursts on the device. No
 * DPDK port is made, so these ports do not count against RTE_MAX_ETHPORTS.
 *
 * Threads: open/close on the control thread; the callbacks on the vhost
 * library's event thread ("vhost-events"); bursts on the workers. The
 * device id (psw_port.vid) is written under one mutex by the callbacks and
 * by close, read atomically by the workers. A device that goes is cleared
 * first, then the callback waits for an RCU grace period of the workers
 * before it returns to the library, so no worker is inside the library with
 * that device when the library takes it down (what rte_vhost asks of
 * destroy_device). close clears the device and waits the same way before
 * unregistering the socket, and never holds the mutex while the library
 * runs a callback.
 */
#ifndef PSW_VHOSTPORT_H
#define PSW_VHOSTPORT_H

#include <stddef.h>

#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>

struct psw_port;

/*
 * virtio-net features (bits from the virtio spec). A guest is offered
 * checksum and TCP segmentation offloads both ways when the port has 64 KB
 * mbufs for its large frames (p->large: limits.large_mbufs, not an
 * uplink): CSUM 0 and HOST_TSO4/6 11/12 (it may send partial checksums and
 * 64 KB TCP frames), GUEST_CSUM 1 and GUEST_TSO4/6 7/8 (it takes them).
 * Never offered: ECN 9/13 and UFO 10/14 (the library would hand a UDP
 * frame over for IP fragmentation, which is not what the stages segment).
 * Without the pool, no offload: every frame crosses with whole checksums.
 */
#define PSW_VHOST_F_CSUM (1ULL << 0 | 1ULL << 11 | 1ULL << 12)
#define PSW_VHOST_F_GUEST_OL (1ULL << 1 | 1ULL << 7 | 1ULL << 8)
#define PSW_VHOST_NO_FEATURES (1ULL << 9 | 1ULL << 10 | 1ULL << 13 | 1ULL << 14)
#define PSW_VHOST_OL_FEATURES (PSW_VHOST_F_CSUM | PSW_VHOST_F_GUEST_OL)

/* virtqueues of a vhost-user queue pair: the guest's RX (we send), its TX (we receive) */
#define PSW_VHOST_VQ_TO_GUEST(q) ((uint16_t)((q) * 2))
#define PSW_VHOST_VQ_FROM_GUEST(q) ((uint16_t)((q) * 2 + 1))

/**
 * Register p->conf.socket with the vhost library (server: the caller has
 * prepared the path; client: the library connects and reconnects), offloads
 * offered only with p->large, and start it. p->vid becomes >= 0 when a driver is connected.
 * qsbr: the workers' RCU variable (NULL before workers exist).
 * @return 0, or a negative errno with err filled (nothing left registered).
 */
int psw_vhostport_open(struct psw_port *p, struct rte_rcu_qsbr *qsbr, char *err, size_t err_len);

/** psw_port_arm / psw_port_disarm for a vhost-user port. */
int psw_vhostport_arm(struct psw_port *p, uint16_t queue);
void psw_vhostport_disarm(struct psw_port *p, uint16_t queue);

/* Frames of one RX queue held for the next burst (one large frame a burst, psw_gso.h) */
#define PSW_VHOST_HELD_MAX 32
struct psw_vhost_held {
	uint16_t first;
	uint16_t n;
	struct rte_mbuf *pkts[PSW_VHOST_HELD_MAX];
};

/**
 * psw_port_rx for a port with offloads (p->large): frames held from the
 * last burst first, else a burst from the guest. A guest's offload
 * requests (the library's flags: a partial TCP, UDP or SCTP checksum at
 * l2_len + l3_len, TCP or UDP segmentation) are made what psw_gso.h has:
 * l4_len the checksum's offset, the frame in one piece (the library's
 * external buffer, or a 64 KB mbuf it is copied into when the library
 * chained it). A request that cannot be carried (segmentation without a
 * partial checksum, a frame over 64 KB, no 64 KB mbuf) and a frame in an
 * external buffer past psw_vhost_extbuf_max drop their frame, counted in
 * p->rx_ol_bad. The frames from the first whose segments or fragments
 * may not fit what is left of the stages' room for the burst
 * (PSW_EXTRA_MAX: a frame asking for segmentation takes it all) are held
 * for the next call, as a kernel pod's large frames are.
 */
uint16_t psw_vhostport_rx(struct psw_port *p, int vid, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);

/**
 * Guests' frames in the library's external buffers that may be in the
 * switch at once (limits.large_mbufs; set before the first port), and how
 * many are (atomic).
 */
extern unsigned psw_vhost_extbuf_max;
unsigned psw_vhostport_extbufs(void);

/** Free the frames RX queue q holds (its driver is gone; the worker polling it). */
void psw_vhostport_free_held_queue(struct psw_port *p, uint16_t q);

/** Free the frames a port's queues hold (the port is going: no worker polls it). */
void psw_vhostport_free_held(struct psw_port *p);

/**
 * Before the library writes a frame's virtio-net header from its requests
 * (to a guest that took them; the worker decides): l4_len the TCP
 * header's length, which the header's hdr_len is made from.
 */
void psw_vhostport_tx_offload(struct rte_mbuf *m);

/** Close the kick fd copies replaced since the last call, after a grace period (control thread). */
void psw_vhostport_reap(void);

/** Disconnect the driver, wait for the workers, unregister the socket. */
void psw_vhostport_close(struct psw_port *p);

#endif /* PSW_VHOSTPORT_H */
