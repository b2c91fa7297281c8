/*
 * AF_PACKET port of bench_sockets: an RX ring read by busy polling (no
 * syscall per burst) and transmission through a TX ring with one sendto()
 * kick per burst, or by sendmmsg() of the buffers. TPACKET_V3 (RX in
 * blocks the kernel hands over when full or after a timeout) or
 * TPACKET_V2 (one status word per frame: what DPDK's net_af_packet, the
 * switch's af_packet ports of today, uses).
 */
#include <errno.h>
#include <net/if.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "bench_sockets.h"

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

/* RX: 16 blocks of 64 KiB (about 8,000 small frames); TX: 256 slots. */
#define RX_BLOCK_SIZE (1u << 16)
#define RX_NB_BLOCKS 16
#define TX_BLOCK_SIZE (1u << 16)
#define TX_NB_BLOCKS 8
#define TX_FRAMES_PER_BLOCK (TX_BLOCK_SIZE / BS_FRAME_SIZE)
#define TX_NB_FRAMES (TX_NB_BLOCKS * TX_FRAMES_PER_BLOCK)
/* Where the frame starts in a TX slot (no PACKET_TX_HAS_OFF). */
#define TX_DATA_OFFSET TPACKET_ALIGN(sizeof(struct tpacket3_hdr))
#define TX_DATA_OFFSET_V2 TPACKET_ALIGN(sizeof(struct tpacket2_hdr))
#define RX_NB_FRAMES_V2 (RX_BLOCK_SIZE / BS_FRAME_SIZE * RX_NB_BLOCKS)

struct afp_port {
	struct bs_port port;
	uint8_t *map;
	size_t map_len;
	/* RX ring: the block being read, the next frame in it, frames left */
	uint8_t *rx_ring;
	unsigned int rx_block;
	bool rx_in_block;
	struct tpacket3_hdr *rx_frame;
	uint32_t rx_left;
	unsigned int rx_head;    /* V2: next frame */
	/* TX ring (NULL when sending with sendmmsg) */
	uint8_t *tx_ring;
	unsigned int tx_head;
	struct mmsghdr msgs[BS_BURST_MAX];
	struct iovec iovs[BS_BURST_MAX];
};

static struct tpacket_block_desc *
rx_block_desc(struct afp_port *ap, unsigned int i)
{
	return (struct tpacket_block_desc *)(ap->rx_ring + (size_t)i * RX_BLOCK_SIZE);
}

static uint16_t
afp_rx(struct bs_port *port, struct bs_buf **bufs, uint16_t n)
{
	struct afp_port *ap = (struct afp_port *)port;
	uint16_t nb = 0;

	while (nb < n) {
		struct tpacket_block_desc *bd = rx_block_desc(ap, ap->rx_block);

		if (!ap->rx_in_block) {
			if (!(__atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE) &
			      TP_STATUS_USER))
				break;
			ap->rx_in_block = true;
			ap->rx_left = bd->hdr.bh1.num_pkts;
			ap->rx_frame = (struct tpacket3_hdr *)((uint8_t *)bd +
							       bd->hdr.bh1.offset_to_first_pkt);
		}
		while (nb < n && ap->rx_left > 0) {
			struct tpacket3_hdr *h = ap->rx_frame;
			uint32_t len = h->tp_snaplen;

			if (len > sizeof(bufs[nb]->data))
				len = sizeof(bufs[nb]->data);
			memcpy(bufs[nb]->data, (uint8_t *)h + h->tp_mac, len);
			bufs[nb]->len = len;
			nb++;
			ap->rx_frame = (struct tpacket3_hdr *)((uint8_t *)h + h->tp_next_offset);
			ap->rx_left--;
		}
		if (ap->rx_left > 0)
			break;
		/* block done: back to the kernel */
		__atomic_store_n(&bd->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
		ap->rx_in_block = false;
		ap->rx_block = (ap->rx_block + 1) % RX_NB_BLOCKS;
	}
	return nb;
}

static uint16_t
afp_rx_v2(struct bs_port *port, struct bs_buf **bufs, uint16_t n)
{
	struct afp_port *ap = (struct afp_port *)port;
	uint16_t nb;

	for (nb = 0; nb < n; nb++) {
		struct tpacket2_hdr *h = (struct tpacket2_hdr *)
			(ap->rx_ring + (size_t)ap->rx_head * BS_FRAME_SIZE);
		uint32_t len;

		if (!(__atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER))
			break;
		len = h->tp_snaplen;
		if (len > sizeof(bufs[nb]->data))
			len = sizeof(bufs[nb]->data);
		memcpy(bufs[nb]->data, (uint8_t *)h + h->tp_mac, len);
		bufs[nb]->len = len;
		__atomic_store_n(&h->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
		ap->rx_head = (ap->rx_head + 1) % RX_NB_FRAMES_V2;
	}
	return nb;
}

static void
kick(struct afp_port *ap)
{
	ap->port.nb_kicks++;
	if (sendto(ap->port.fd, NULL, 0, MSG_DONTWAIT, NULL, 0) < 0)
		ap->port.nb_kick_errors++;
}

static uint16_t
afp_tx_ring(struct bs_port *port, struct bs_buf **bufs, uint16_t n)
{
	struct afp_port *ap = (struct afp_port *)port;
	uint16_t nb;

	for (nb = 0; nb < n; nb++) {
		struct tpacket3_hdr *h = (struct tpacket3_hdr *)
			(ap->tx_ring + (size_t)ap->tx_head * BS_FRAME_SIZE);
		uint32_t status = __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE);

		if (status != TP_STATUS_AVAILABLE && status != TP_STATUS_WRONG_FORMAT)
			break; /* still owned by the kernel: ring full */
		memcpy((uint8_t *)h + TX_DATA_OFFSET, bufs[nb]->data, bufs[nb]->len);
		h->tp_len = bufs[nb]->len;
		h->tp_snaplen = bufs[nb]->len;
		h->tp_next_offset = 0;
		__atomic_store_n(&h->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
		ap->tx_head = (ap->tx_head + 1) % TX_NB_FRAMES;
	}
	port->nb_tx_full += n - nb;
	if (nb > 0)
		kick(ap);
	return nb;
}

static uint16_t
afp_tx_ring_v2(struct bs_port *port, struct bs_buf **bufs, uint16_t n)
{
	struct afp_port *ap = (struct afp_port *)port;
	uint16_t nb;

	for (nb = 0; nb < n; nb++) {
		struct tpacket2_hdr *h = (struct tpacket2_hdr *)
			(ap->tx_ring + (size_t)ap->tx_head * BS_FRAME_SIZE);
		uint32_t status = __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE);

		if (status != TP_STATUS_AVAILABLE && status != TP_STATUS_WRONG_FORMAT)
			break;
		memcpy((uint8_t *)h + TX_DATA_OFFSET_V2, bufs[nb]->data, bufs[nb]->len);
		h->tp_len = bufs[nb]->len;
		h->tp_snaplen = bufs[nb]->len;
		__atomic_store_n(&h->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
		ap->tx_head = (ap->tx_head + 1) % TX_NB_FRAMES;
	}
	port->nb_tx_full += n - nb;
	if (nb > 0)
		kick(ap);
	return nb;
}

static uint16_t
afp_tx_mmsg(struct bs_port *port, struct bs_buf **bufs, uint16_t n)
{
	struct afp_port *ap = (struct afp_port *)port;
	int sent;

	for (uint16_t i = 0; i < n; i++) {
		ap->iovs[i].iov_base = bufs[i]->data;
		ap->iovs[i].iov_len = bufs[i]->len;
	}
	port->nb_kicks++;
	sent = sendmmsg(port->fd, ap->msgs, n, MSG_DONTWAIT);
	if (sent < 0) {
		port->nb_kick_errors++;
		sent = 0;
	}
	port->nb_tx_full += n - sent;
	return (uint16_t)sent;
}

static uint64_t
afp_kernel_drops(struct bs_port *port)
{
	struct tpacket_stats_v3 st;
	socklen_t len = sizeof(st);

	/* reading resets the kernel's counters */
	if (getsockopt(port->fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) < 0)
		return 0;
	return st.tp_drops;
}

static void
afp_close(struct bs_port *port)
{
	struct afp_port *ap = (struct afp_port *)port;

	if (ap == NULL)
		return;
	if (ap->map != NULL)
		munmap(ap->map, ap->map_len);
	if (port->fd >= 0)
		close(port->fd);
	free(ap);
}

static const struct bs_port_ops afp_ring_ops = {
	.rx = afp_rx, .tx = afp_tx_ring, .kernel_drops = afp_kernel_drops, .close = afp_close,
};
static const struct bs_port_ops afp_mmsg_ops = {
	.rx = afp_rx, .tx = afp_tx_mmsg, .kernel_drops = afp_kernel_drops, .close = afp_close,
};
static const struct bs_port_ops afp_v2_ops = {
	.rx = afp_rx_v2, .tx = afp_tx_ring_v2, .kernel_drops = afp_kernel_drops, .close = afp_close,
};
static const struct bs_port_ops afp_v2_mmsg_ops = {
	.rx = afp_rx_v2, .tx = afp_tx_mmsg, .kernel_drops = afp_kernel_drops, .close = afp_close,
};

static int
set_int(int fd, int level, int name, int value)
{
	return setsockopt(fd, level, name, &value, sizeof(value));
}

struct bs_port *
bs_afp_open(const char *ifname, enum bs_afp_kind kind, unsigned int block_timeout_ms,
	    char *err, size_t err_len)
{
	bool tx_ring = kind == BS_AFP_V3_RING || kind == BS_AFP_V2;
	bool v2 = kind == BS_AFP_V2 || kind == BS_AFP_V2_MMSG;
	struct tpacket_req3 rx_req = {
		.tp_block_size = RX_BLOCK_SIZE, .tp_block_nr = RX_NB_BLOCKS,
		.tp_frame_size = BS_FRAME_SIZE,
		.tp_frame_nr = RX_BLOCK_SIZE / BS_FRAME_SIZE * RX_NB_BLOCKS,
		.tp_retire_blk_tov = block_timeout_ms,
	};
	struct tpacket_req3 tx_req = {
		.tp_block_size = TX_BLOCK_SIZE, .tp_block_nr = TX_NB_BLOCKS,
		.tp_frame_size = BS_FRAME_SIZE, .tp_frame_nr = TX_NB_FRAMES,
	};
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL) };
	struct afp_port *ap;
	const char *step;

	ap = calloc(1, sizeof(*ap));
	if (ap == NULL) {
		snprintf(err, err_len, "out of memory");
		return NULL;
	}
	ap->port.ops = v2 ? (tx_ring ? &afp_v2_ops : &afp_v2_mmsg_ops)
		     : tx_ring ? &afp_ring_ops : &afp_mmsg_ops;
	ap->port.mode = v2 ? (tx_ring ? "TPACKET_V2 RX ring, TPACKET_V2 TX ring + sendto"
				      : "TPACKET_V2 RX ring, sendmmsg")
		      : tx_ring ? "TPACKET_V3 RX ring (blocks), TPACKET_V3 TX ring + sendto"
		      : "TPACKET_V3 RX ring (blocks), sendmmsg";
	if (v2) {
		/* V2 rings: same memory, fixed frames, no timer */
		rx_req.tp_retire_blk_tov = 0;
	}
	sll.sll_ifindex = (int)if_nametoindex(ifname);
	/* protocol 0 until bound: nothing queued before the ring exists */
	ap->port.fd = socket(AF_PACKET, SOCK_RAW, 0);
	step = "socket(AF_PACKET)";
	if (ap->port.fd < 0 || sll.sll_ifindex == 0)
		goto fail;
	step = "PACKET_VERSION";
	if (set_int(ap->port.fd, SOL_PACKET, PACKET_VERSION, v2 ? TPACKET_V2 : TPACKET_V3) < 0)
		goto fail;
	step = "PACKET_RX_RING";
	/* V2 takes the first four fields (struct tpacket_req) */
	if (setsockopt(ap->port.fd, SOL_PACKET, PACKET_RX_RING, &rx_req,
		       v2 ? sizeof(struct tpacket_req) : sizeof(rx_req)) < 0)
		goto fail;
	ap->map_len = (size_t)RX_BLOCK_SIZE * RX_NB_BLOCKS;
	step = "PACKET_TX_RING";
	if (tx_ring) {
		if (setsockopt(ap->port.fd, SOL_PACKET, PACKET_TX_RING, &tx_req,
			       v2 ? sizeof(struct tpacket_req) : sizeof(tx_req)) < 0)
			goto fail;
		ap->map_len += (size_t)TX_BLOCK_SIZE * TX_NB_BLOCKS;
	}
	/* a switch's own transmissions are not input; the qdisc is not used */
	step = "PACKET_IGNORE_OUTGOING / PACKET_QDISC_BYPASS";
	if (set_int(ap->port.fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, 1) < 0 ||
	    set_int(ap->port.fd, SOL_PACKET, PACKET_QDISC_BYPASS, 1) < 0)
		goto fail;
	step = "mmap of the rings";
	ap->map = mmap(NULL, ap->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
		       ap->port.fd, 0);
	if (ap->map == MAP_FAILED) {
		ap->map = NULL;
		goto fail;
	}
	ap->rx_ring = ap->map;
	if (tx_ring)
		ap->tx_ring = ap->map + (size_t)RX_BLOCK_SIZE * RX_NB_BLOCKS;
	for (int i = 0; i < BS_BURST_MAX; i++) {
		ap->msgs[i].msg_hdr.msg_iov = &ap->iovs[i];
		ap->msgs[i].msg_hdr.msg_iovlen = 1;
	}
	step = "bind";
	if (bind(ap->port.fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		goto fail;
	ap->port.mem_bytes = ap->map_len;
	return &ap->port;
fail:
	snprintf(err, err_len, "AF_PACKET on %s: %s failed: %s", ifname, step,
		 sll.sll_ifindex == 0 ? "no such interface" : strerror(errno));
	afp_close(&ap->port);
	return NULL;
}
