/*
 * Kernel pods without an ethdev: the switch's own AF_PACKET socket on the
 * host end of the pod's veth, with PACKET_MMAP rings (TPACKET_V2, one frame
 * per slot, so a frame is handed over as soon as it arrives; TPACKET_V3
 * hands over whole blocks, a block timer later when traffic is light).
 * Frames are copied between the rings and mbufs. No DPDK device, so these
 * ports do not count against RTE_MAX_ETHPORTS.
 *
 * Thread-safety: open/close on the control thread; rx by the one worker
 * that polls the port; tx under the port's TX lock (psw_port_tx); counters
 * read racily by the control thread.
 */
#ifndef PSW_SOCKPORT_H
#define PSW_SOCKPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <rte_mbuf.h>

struct psw_sockport {
	int fd;
	int large_fd;                    /**< offloads: the socket of frames longer than SMALL_MAX, RX (64 KB slots) and TX (sendmsg); -1: none */
	int efd;                         /**< offloads: an epoll set of both sockets, what the worker waits on; -1: none */
	uint8_t *lmap;                   /**< offloads: large_fd's RX ring */
	size_t lmap_len;
	unsigned lrx_next;
	int ifindex;
	uint8_t *map;                    /**< RX ring, then TX ring */
	size_t map_len;
	unsigned frame_size;             /**< a TX slot's */
	unsigned rx_frame_size;          /**< an RX slot's */
	unsigned rx_frames, tx_frames;
	struct rte_mempool *large;       /**< offloads (PACKET_VNET_HDR): 64 KB mbufs for large frames; NULL: none */
	unsigned rx_next, tx_next;       /**< the slot to look at next */
	uint64_t rx_nombuf;              /**< frames left in the ring for want of an mbuf */
	uint64_t rx_toolong;             /**< frames longer than an mbuf (tag put back included): dropped */
	uint64_t tx_oversize;            /**< frames too large for a TX slot (or, with offloads, refused by sendmsg), dropped */
	uint64_t rx_gso_bad;             /**< offload requests that cannot be carried (a segmentation not TCP or UDP), dropped */
	uint64_t kernel_drops;           /**< RX ring full (PACKET_STATISTICS, summed) */
	uint8_t mac[6];                  /**< the interface's */
};

/**
 * Open the socket on ifname (which must exist and be up): rings mapped,
 * promiscuous, outgoing frames not looped back, qdisc bypassed. With
 * large (a pool of 64 KB mbufs), offloads: each frame carries a
 * virtio-net header both ways (PACKET_VNET_HDR), so the pod's kernel may
 * leave checksums partial and hand over up to 64 KB of TCP in one frame
 * (psw_gso.h has what the mbuf then carries): frames longer than 1,900
 * bytes come and go through a second socket whose 16 RX slots are 64 KB
 * (a length filter on each socket), the rings read in arrival order;
 * efd is an epoll set of both.
 * @return the port, or NULL with err filled.
 */
struct psw_sockport *psw_sockport_open(const char *ifname, struct rte_mempool *large, char *err,
				       size_t err_len);

/** Close the socket and unmap its rings (no worker uses it any more). NULL accepted. */
void psw_sockport_close(struct psw_sockport *sp);

/** Up to n frames from the RX ring into mbufs of mp. */
uint16_t psw_sockport_rx(struct psw_sockport *sp, struct rte_mempool *mp, struct rte_mbuf **pkts,
			 uint16_t n);

/** Copy up to n frames into the TX ring, kick the kernel; the copied mbufs are freed. */
uint16_t psw_sockport_tx(struct psw_sockport *sp, struct rte_mbuf **pkts, uint16_t n);

/** Frames the kernel dropped because the RX ring was full (since the last call: it resets). */
uint64_t psw_sockport_drops(struct psw_sockport *sp);

/** The interface is up and running. */
bool psw_sockport_link_up(const struct psw_sockport *sp);

#endif /* PSW_SOCKPORT_H */
