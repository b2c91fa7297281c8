/*
 * DPDK pods over memif without an ethdev: the switch is the memif master
 * ("server") itself, as VPP is. It listens on each socket path named by a
 * memif port (one listener per path, however many interfaces share it; an
 * interface is told from the others by its memif id), speaks the memif
 * control protocol (version 2.0) with the pod, which is the slave
 * ("client": DPDK's net_memif role=client, libmemif), maps the shared
 * memory regions the slave creates, and moves frames between the slave's
 * rings and mbufs from the worker. No DPDK device: memif ports do not count
 * against RTE_MAX_ETHPORTS.
 *
 * Protocol (SOCK_SEQPACKET, one 128-byte message per packet): on accept the
 * master sends HELLO (its limits); the slave answers INIT (version, id,
 * mode, secret), ADD_REGION (the region's memfd passed with SCM_RIGHTS),
 * ADD_RING (ring placement; the ring's interrupt eventfd passed), each
 * ACKed, then CONNECT, answered CONNECTED. Either side may send DISCONNECT
 * with a reason. Anything the master does not accept (version, unknown id,
 * an id already connected, a secret, a mode other than ethernet, a region
 * or ring out of bounds, a region not sealed against shrinking) is answered
 * with DISCONNECT and a reason saying what, and the channel is closed.
 *
 * Rings: one S2M ring (slave to master: the master receives) and one M2S
 * ring (master to slave). The master never trusts the shared memory: each
 * descriptor is read once into a local copy, its region index, offset and
 * length are checked against the mapped region before any byte is copied,
 * head values that claim more than a ring's worth are refused, and regions
 * must carry F_SEAL_SHRINK so that the slave cannot shrink a mapped file
 * under a worker (SIGBUS). Bad descriptors are counted, never followed.
 *
 * Threads: the control protocol runs on the switch's control thread, in its
 * epoll loop (psw_memif_layer_init() gives the set), so that it serialises
 * with port creation and removal without a lock. Listeners are slots of a
 * static pool, and closed control channels are kept for reuse, never
 * freed: an epoll event that arrives for one closed earlier in the same
 * batch only finds a non-blocking socket with nothing to read (or no
 * socket). A socket holds at most 16 channels that have not named an
 * interface yet, so one pod cannot use up the channels of others.
 *
 * Thread-safety: psw_memifport_create / destroy and every control handler
 * run on the control thread only. psw_memifport_rx and psw_memifport_arm
 * are called by the one worker polling the port; psw_memifport_tx by
 * workers under the port's TX lock (psw_port_tx). The connection is
 * published with a release store of `connected` after the regions are
 * mapped; workers load it (acquire) at the start of each burst. Teardown
 * order: `connected` cleared, an RCU grace period of the workers
 * (rte_rcu_qsbr_synchronize on the control thread), then regions unmapped
 * and descriptors closed. Counters are written by workers and read racily
 * by the control thread.
 *
 * Readiness: psw_memifport_fd() is an epoll set of the port's own, stable
 * for the port's life, that holds the S2M ring's interrupt eventfd while a
 * slave is connected (edge-triggered). A worker parks on it; the slave
 * writes the eventfd when it fills the ring and the master has not set
 * MASK_INT in the ring's flags. psw_memifport_arm clears MASK_INT before a
 * park; psw_memifport_disarm (at the wake), or else the first receive after
 * it, sets MASK_INT again and empties the set
 * (epoll_wait with no timeout: the eventfd itself, shared with the slave,
 * is never read or written by a worker, so no slave can make a worker
 * block). A new connection starts unmasked, so a port parked while no
 * slave was connected is woken by the new slave's first frame.
 * The master does not signal the slave (M2S interrupts): the slave polls
 * its receive ring, as DPDK's net_memif does.
 */
#ifndef PSW_MEMIFPORT_H
#define PSW_MEMIFPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <rte_common.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>

/* ------------------------------------------------------------ the wire format */

#define PSW_MEMIF_COOKIE 0x3E31F20u
#define PSW_MEMIF_VERSION 0x0200u            /**< 2.0: major << 8 | minor */
#define PSW_MEMIF_NAME_LEN 32
#define PSW_MEMIF_SECRET_LEN 24
#define PSW_MEMIF_REASON_LEN 96
#define PSW_MEMIF_MSG_SIZE 128

enum psw_memif_msg_type {
	PSW_MEMIF_MSG_NONE,
	PSW_MEMIF_MSG_ACK,
	PSW_MEMIF_MSG_HELLO,
	PSW_MEMIF_MSG_INIT,
	PSW_MEMIF_MSG_ADD_REGION,
	PSW_MEMIF_MSG_ADD_RING,
	PSW_MEMIF_MSG_CONNECT,
	PSW_MEMIF_MSG_CONNECTED,
	PSW_MEMIF_MSG_DISCONNECT,
};

#define PSW_MEMIF_MODE_ETHERNET 0
#define PSW_MEMIF_RING_FLAG_S2M 1            /**< ADD_RING: the ring goes slave to master */
#define PSW_MEMIF_RING_MASK_INT 1            /**< ring flags: the reader polls, do not signal */
#define PSW_MEMIF_DESC_NEXT 1                /**< descriptor flags: the frame goes on in the next */

struct psw_memif_hello {
	uint8_t name[PSW_MEMIF_NAME_LEN];
	uint16_t min_version;
	uint16_t max_version;
	uint16_t max_region;                 /**< highest region index */
	uint16_t max_m2s_ring;               /**< highest ring index, master to slave */
	uint16_t max_s2m_ring;               /**< highest ring index, slave to master */
	uint8_t max_log2_ring_size;
} __rte_packed;

struct psw_memif_init {
	uint16_t version;
	uint32_t id;
	uint8_t mode;
	uint8_t secret[PSW_MEMIF_SECRET_LEN];
	uint8_t name[PSW_MEMIF_NAME_LEN];
} __rte_packed;

struct psw_memif_add_region {
	uint16_t index;
	uint64_t size;
} __rte_packed;

struct psw_memif_add_ring {
	uint16_t flags;                      /**< PSW_MEMIF_RING_FLAG_S2M */
	uint16_t index;
	uint16_t region;
	uint32_t offset;                     /**< of the ring in its region */
	uint8_t log2_ring_size;
	uint16_t private_hdr_size;
} __rte_packed;

struct psw_memif_connect {
	uint8_t if_name[PSW_MEMIF_NAME_LEN];
} __rte_packed;

struct psw_memif_disconnect {
	uint32_t code;
	uint8_t reason[PSW_MEMIF_REASON_LEN];
} __rte_packed;

/** One control message: a type, then its body, in 128 bytes. */
struct psw_memif_msg {
	uint16_t type;
	union {
		struct psw_memif_hello hello;
		struct psw_memif_init init;
		struct psw_memif_add_region add_region;
		struct psw_memif_add_ring add_ring;
		struct psw_memif_connect connect;
		struct psw_memif_connect connected;
		struct psw_memif_disconnect disconnect;
		uint8_t raw[PSW_MEMIF_MSG_SIZE - 2];
	};
} __rte_packed;

/** A buffer descriptor in a ring. */
struct psw_memif_desc {
	uint16_t flags;
	uint16_t region;
	uint32_t length;                     /**< the buffer's capacity, or the bytes in it */
	uint32_t offset;                     /**< of the buffer in its region */
	uint32_t metadata;
};                                           /* natural layout is the wire's: no packing, aligned atomics */

/** A ring in shared memory: header, then 2^log2 descriptors at byte 128. */
struct psw_memif_ring {
	uint32_t cookie;
	uint16_t flags;
	uint16_t head;                       /**< written by the producer of descriptors */
	uint8_t pad0[56];
	uint16_t tail;                       /**< written by their consumer */
	uint8_t pad1[62];
	struct psw_memif_desc desc[];
};

/* What the master accepts (HELLO says so). */
#define PSW_MEMIF_MAX_REGIONS 4
#define PSW_MEMIF_MIN_LOG2_RING 1
#define PSW_MEMIF_MAX_LOG2_RING 14
#define PSW_MEMIF_MAX_REGION_SIZE (256ull << 20)
/** The most one slave may have the switch map. */
#define PSW_MEMIF_MAX_MAPPED (PSW_MEMIF_MAX_REGIONS * PSW_MEMIF_MAX_REGION_SIZE)

/* ------------------------------------------------------------ checks (pure) */

/** A region as the master has it. */
struct psw_memif_region {
	uint8_t *addr;                       /**< mapped, NULL before CONNECT */
	uint64_t size;
	int fd;
};

/**
 * Check an INIT against the protocol and the master's settings (no secret,
 * ethernet mode). Does not look the id up.
 * @return 0, or -EINVAL with reason filled (sent to the slave in DISCONNECT).
 */
int psw_memif_check_init(const struct psw_memif_init *in, char *reason, size_t reason_len);

/**
 * Check an ADD_REGION: the next index in order, within the limit, a size
 * that is not zero and not above PSW_MEMIF_MAX_REGION_SIZE, and no larger
 * than the file (file_size), which must be sealed against shrinking.
 * @return 0, or -EINVAL with reason filled.
 */
int psw_memif_check_region(const struct psw_memif_add_region *ar, unsigned nb_regions,
			   uint64_t file_size, bool sealed, char *reason, size_t reason_len);

/**
 * Check an ADD_RING against the regions added so far: ring index 0 in each
 * direction (one queue pair), a region that exists, a ring size within the
 * limits, no private header, the whole ring (header and descriptors) inside
 * the region, 8-byte alignment.
 * @return 0, or -EINVAL with reason filled.
 */
int psw_memif_check_ring(const struct psw_memif_add_ring *ar, const struct psw_memif_region *regions,
			 unsigned nb_regions, char *reason, size_t reason_len);

/** Bytes a ring of 2^log2 descriptors takes (header and descriptors). */
static inline uint64_t
psw_memif_ring_bytes(unsigned log2)
{
	return sizeof(struct psw_memif_ring) + ((uint64_t)sizeof(struct psw_memif_desc) << log2);
}

/**
 * A buffer the slave names lies inside a region the master has: region
 * index, offset and length checked in 64-bit arithmetic (no wrap).
 */
static inline bool
psw_memif_buffer_ok(const struct psw_memif_region *regions, unsigned nb_regions, uint16_t region,
		    uint32_t offset, uint32_t length)
{
	return region < nb_regions && (uint64_t)offset + length <= regions[region].size;
}

/* ------------------------------------------------------------ the port */

struct psw_memif_queue {
	struct psw_memif_ring *ring;
	uint16_t mask;                       /**< ring size - 1 */
	uint16_t next;                       /**< the master's own index: S2M next to read, M2S next to fill */
	int intr_fd;                         /**< the ring's eventfd (the slave's) */
};

struct psw_memif_conn;
struct psw_memif_listener;

struct psw_memifport {
	bool connected;                      /**< workers may use the rings (atomic) */
	bool rx_armed;                       /**< MASK_INT cleared for a park (worker) */
	uint16_t nb_regions;
	struct psw_memif_region regions[PSW_MEMIF_MAX_REGIONS];
	struct psw_memif_queue rx;           /**< S2M */
	struct psw_memif_queue tx;           /**< M2S */
	int epfd;                            /**< readiness (psw_memifport_fd) */
	/* counters (workers) */
	uint64_t rx_nombuf;                  /**< frames left in the ring for want of an mbuf */
	uint64_t rx_oversize;                /**< chained frames larger than an mbuf, dropped */
	uint64_t rx_bad;                     /**< frames with a descriptor outside the regions, dropped */
	uint64_t tx_bad;                     /**< bursts stopped at a descriptor outside the regions */
	uint64_t rx_bad_head;                /**< S2M heads claiming more than a ring's worth (rx) */
	uint64_t tx_bad_head;                /**< M2S heads the same (tx, under the TX lock) */
	/* control thread */
	uint32_t id;
	uint64_t connects;                   /**< connections made */
	char name[64];
	struct psw_memif_conn *conn;         /**< the slave's channel, NULL when none */
	struct psw_memif_listener *ln;
	struct psw_memifport *next;          /**< on the listener */
};

/**
 * The switch's control loop and the workers' RCU variable. Call before the
 * first memif port (the qsbr may come later, before workers start; NULL:
 * no grace period is waited for, as in tests without workers).
 */
void psw_memif_layer_init(int ctl_epfd, struct rte_rcu_qsbr *qsbr);

/** A listener of this switch serves this socket path already. */
bool psw_memif_socket_listening(const char *path);

/**
 * Add an interface with memif id on the socket path (the listener is
 * created with the first interface of a path; the caller has removed a
 * stale socket file first). Refused: an id already on that path.
 * @return the port, or NULL with err filled.
 */
struct psw_memifport *psw_memifport_create(const char *name, const char *path, uint32_t id,
					   char *err, size_t err_len);

/**
 * Remove an interface: a connected slave is sent DISCONNECT and its memory
 * unmapped after a grace period; the listener goes (socket file unlinked)
 * with the last interface of its path; mf itself is freed after a grace
 * period of its own (a worker waking from a park may still disarm it: the
 * caller has made it unreachable first). NULL accepted.
 */
void psw_memifport_destroy(struct psw_memifport *mf);

/** Frames from the S2M ring into mbufs of mp (one worker). */
uint16_t psw_memifport_rx(struct psw_memifport *mf, struct rte_mempool *mp, struct rte_mbuf **pkts,
			  uint16_t n);

/** Copy frames into the slave's M2S buffers (chained when larger than one); frees what it sent. */
uint16_t psw_memifport_tx(struct psw_memifport *mf, struct rte_mbuf **pkts, uint16_t n);

/** The readiness descriptor (see above); stable for the port's life. */
static inline int
psw_memifport_fd(const struct psw_memifport *mf)
{
	return mf->epfd;
}

/**
 * Before a worker parks the port: ask the slave to signal (clear MASK_INT).
 * @return false when a frame is waiting already (poll on instead).
 */
bool psw_memifport_arm(struct psw_memifport *mf);

/**
 * The port is polled again (woken, or its park failed): the slave need not
 * signal (MASK_INT set), the readiness set emptied. The worker that armed
 * it, online. (psw_memifport_rx does the same on its first burst after an
 * arm, so a port armed but never parked is disarmed too.)
 */
void psw_memifport_disarm(struct psw_memifport *mf);

/** A slave is connected. */
static inline bool
psw_memifport_link_up(const struct psw_memifport *mf)
{
	return __atomic_load_n(&mf->connected, __ATOMIC_ACQUIRE);
}

/** Resources the memif master holds, for `status`. */
struct psw_memif_usage {
	unsigned interfaces;                 /**< memif ports */
	unsigned listeners;
	unsigned channels;                   /**< control channels, connected or not */
	unsigned connected;
	uint64_t mapped_bytes;               /**< shared memory mapped from slaves */
	unsigned fds;                        /**< descriptors held: listeners, channels, regions, eventfds, epoll sets */
};

void psw_memif_usage(struct psw_memif_usage *u);

#endif /* PSW_MEMIFPORT_H */
