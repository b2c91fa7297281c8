/*
 * Socket ports of bench_sockets (issue 14): a kernel pod reached through a
 * socket the switch owns on the host end of the pod's veth, instead of a
 * DPDK ethdev. Two backends, AF_PACKET rings (bench_sockets_afp.c) and
 * AF_XDP through libxdp (bench_sockets_xdp.c); bench_sockets.c moves
 * frames between two of them as a worker would.
 *
 * Thread-safety: a port is used by one thread at a time.
 */
#ifndef BENCH_SOCKETS_H
#define BENCH_SOCKETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BS_BURST_MAX 32          /* frames per receive or transmit call */
#define BS_FRAME_SIZE 2048       /* ring slot / umem frame / buffer size */

/* A buffer as a DPDK mbuf would hold a frame: the frame is copied in. */
struct bs_buf {
	uint32_t len;
	uint8_t data[BS_FRAME_SIZE - 64] __attribute__((aligned(64)));
};

struct bs_port;

struct bs_port_ops {
	/*
	 * Receive up to @n frames, each copied into bufs[i] (len set).
	 * @return the number received; never blocks.
	 */
	uint16_t (*rx)(struct bs_port *port, struct bs_buf **bufs, uint16_t n);
	/*
	 * Transmit bufs[0..n-1] (copied out; the buffers stay the caller's)
	 * and kick the kernel once. @return how many were queued; the rest
	 * found the ring full.
	 */
	uint16_t (*tx)(struct bs_port *port, struct bs_buf **bufs, uint16_t n);
	/* Frames the kernel dropped on receive since the last call. */
	uint64_t (*kernel_drops)(struct bs_port *port);
	void (*close)(struct bs_port *port);
};

/* What every backend's port starts with. */
struct bs_port {
	const struct bs_port_ops *ops;
	int fd;                  /* for poll()/epoll readiness */
	const char *mode;        /* how it runs, e.g. "native XDP, copy" */
	size_t mem_bytes;        /* ring / umem memory of this port */
	uint64_t nb_kicks;       /* transmit syscalls */
	uint64_t nb_kick_errors; /* transmit syscalls that failed (EAGAIN, ENOBUFS...) */
	uint64_t nb_tx_full;     /* frames refused: no free TX slot */
};

enum bs_afp_kind {
	BS_AFP_V3_RING,  /* TPACKET_V3 RX ring, TPACKET_V3 TX ring kicked by sendto() */
	BS_AFP_V3_MMSG,  /* TPACKET_V3 RX ring, sendmmsg() of the buffers */
	BS_AFP_V2,       /* TPACKET_V2 RX and TX rings (as DPDK's net_af_packet) */
	BS_AFP_V2_MMSG,  /* TPACKET_V2 RX ring, sendmmsg() of the buffers */
};

/*
 * AF_PACKET on @ifname, rings as @kind says; a V3 RX ring hands a block
 * over when it is full or @block_timeout_ms after its first frame.
 * @return the port, or NULL with a message in @err.
 */
struct bs_port *bs_afp_open(const char *ifname, enum bs_afp_kind kind,
			    unsigned int block_timeout_ms, char *err, size_t err_len);

/* Whether this build has AF_XDP (libxdp and libbpf were found). */
bool bs_xdp_available(void);

/*
 * AF_XDP on queue 0 of @ifname through libxdp's default program (XDP
 * redirect to the socket): native (driver) mode first, generic (SKB)
 * mode if the driver refuses; copy mode either way (veth has no zero
 * copy). Each port has its own umem.
 * @return the port, or NULL with a message in @err.
 */
struct bs_port *bs_xdp_open(const char *ifname, char *err, size_t err_len);

#endif /* BENCH_SOCKETS_H */
