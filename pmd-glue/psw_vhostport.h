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

#include <rte_rcu_qsbr.h>

struct psw_port;

/*
 * virtio-net features a vhost-user guest is not offered: checksum and
 * segmentation offloads both ways (bits from the virtio spec: CSUM 0,
 * GUEST_CSUM 1, GUEST_TSO4 7, GUEST_TSO6 8, GUEST_ECN 9, GUEST_UFO 10,
 * HOST_TSO4 11, HOST_TSO6 12, HOST_ECN 13, HOST_UFO 14). Every frame
 * crosses the port with whole checksums, as the stages expect.
 */
#define PSW_VHOST_NO_FEATURES (1ULL << 0 | 1ULL << 1 | 1ULL << 7 | 1ULL << 8 | 1ULL << 9 | \
			       1ULL << 10 | 1ULL << 11 | 1ULL << 12 | 1ULL << 13 | 1ULL << 14)

/* virtqueues of a vhost-user queue pair: the guest's RX (we send), its TX (we receive) */
#define PSW_VHOST_VQ_TO_GUEST(q) ((uint16_t)((q) * 2))
#define PSW_VHOST_VQ_FROM_GUEST(q) ((uint16_t)((q) * 2 + 1))

/**
 * Register p->conf.socket with the vhost library (server: the caller has
 * prepared the path; client: the library connects and reconnects), offloads
 * off, and start it. p->vid becomes >= 0 when a driver is connected.
 * qsbr: the workers' RCU variable (NULL before workers exist).
 * @return 0, or a negative errno with err filled (nothing left registered).
 */
int psw_vhostport_open(struct psw_port *p, struct rte_rcu_qsbr *qsbr, char *err, size_t err_len);

/** psw_port_arm / psw_port_disarm for a vhost-user port. */
int psw_vhostport_arm(struct psw_port *p, uint16_t queue);
void psw_vhostport_disarm(struct psw_port *p, uint16_t queue);

/** Close the kick fd copies replaced since the last call, after a grace period (control thread). */
void psw_vhostport_reap(void);

/** Disconnect the driver, wait for the workers, unregister the socket. */
void psw_vhostport_close(struct psw_port *p);

#endif /* PSW_VHOSTPORT_H */
