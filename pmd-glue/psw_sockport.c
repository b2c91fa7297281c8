/* Kernel pods over the switch's own AF_PACKET socket (psw_sockport.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <linux/virtio_net.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <rte_branch_prediction.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>

#include "psw_csum.h"
#include "psw_sockport.h"

#define FRAME_SIZE 2048u        /* a 1500-byte frame and the ring's header fit */
#define BLOCK_SIZE 4096u        /* a page: two frames */
#define RX_FRAMES 256u
#define TX_FRAMES 256u

/*
 * With offloads, frames longer than SMALL_MAX (Ethernet header included)
 * go to a second socket of the port's whose RX slots take the largest
 * frame a pod's kernel hands over in one piece (its interface's
 * gso_max_size, which the CNI plugin sets to PSW_POD_GSO_MAX, with
 * Ethernet, a tag and the ring's headers): 64 KB, so few of them; a
 * socket filter on the frame's length on each socket sends every frame to
 * one. The small ring keeps its 256 slots for bursts of small frames.
 * That socket also sends the frames longer than a TX slot (sendmsg(): it
 * has no TX ring).
 */
#define LARGE_FRAME_SIZE 65536u
#define LARGE_RX_FRAMES 16u
#define SMALL_MAX 1900u

/* Where a TX slot's frame starts (as the kernel reads it with TPACKET_V2). */
#define TX_DATA_OFFSET (TPACKET2_HDRLEN - sizeof(struct sockaddr_ll))
#define VNET_LEN sizeof(struct virtio_net_hdr)
#ifndef VIRTIO_NET_HDR_GSO_UDP_L4
#define VIRTIO_NET_HDR_GSO_UDP_L4 5     /* UDP segmentation (Linux 4.18), newer than these headers */
#endif

/* Take only frames longer than SMALL_MAX (large) or only the others. */
static int
len_filter(int fd, bool large)
{
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0),
		BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, SMALL_MAX, large ? 1 : 0, large ? 0 : 1),
		BPF_STMT(BPF_RET | BPF_K, 0),
		BPF_STMT(BPF_RET | BPF_K, 0xffffffffu),
	};
	struct sock_fprog prog = { .len = RTE_DIM(code), .filter = code };

	return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog));
}

static int
fail(char *err, size_t err_len, const char *ifname, const char *what)
{
	int e = errno;

	snprintf(err, err_len, "af_packet socket on '%s': %s: %s", ifname, what, strerror(e));
	return -e;
}

/*
 * The socket of large frames: its 64 KB RX slots, bound like the first,
 * and an epoll set of both that the worker waits on for the port.
 */
static int
large_open(struct psw_sockport *sp)
{
	struct tpacket_req req = {
		.tp_block_size = LARGE_FRAME_SIZE,
		.tp_frame_size = LARGE_FRAME_SIZE,
		.tp_block_nr = LARGE_RX_FRAMES,
		.tp_frame_nr = LARGE_RX_FRAMES,
	};
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL),
				   .sll_ifindex = sp->ifindex };
	struct epoll_event ev = { .events = EPOLLIN };
	int version = TPACKET_V2, one = 1, sndbuf = 4 << 20;   /* large frames in flight to the pod */
	int fd;

	fd = sp->large_fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, htons(ETH_P_ALL));
	if (fd < 0 || len_filter(fd, true) < 0 ||
	    setsockopt(fd, SOL_PACKET, PACKET_VERSION, &version, sizeof(version)) < 0 ||
	    setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_PACKET, PACKET_LOSS, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)) < 0)
		return -1;
	(void)setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	sp->lmap_len = (size_t)LARGE_RX_FRAMES * LARGE_FRAME_SIZE;
	sp->lmap = mmap(NULL, sp->lmap_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_LOCKED | MAP_POPULATE, fd, 0);
	if (sp->lmap == MAP_FAILED)
		sp->lmap = mmap(NULL, sp->lmap_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (sp->lmap == MAP_FAILED) {
		sp->lmap = NULL;
		return -1;
	}
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		return -1;
	sp->efd = epoll_create1(EPOLL_CLOEXEC);
	if (sp->efd < 0 || epoll_ctl(sp->efd, EPOLL_CTL_ADD, sp->fd, &ev) < 0 ||
	    epoll_ctl(sp->efd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -1;
	return 0;
}

struct psw_sockport *
psw_sockport_open(const char *ifname, struct rte_mempool *large, char *err, size_t err_len)
{
	struct tpacket_req req = {
		.tp_block_size = BLOCK_SIZE,
		.tp_frame_size = FRAME_SIZE,
	};
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL) };
	struct packet_mreq mr = { .mr_type = PACKET_MR_PROMISC };
	int version = TPACKET_V2, one = 1;
	struct psw_sockport *sp;
	struct ifreq ifr;

	sp = calloc(1, sizeof(*sp));
	if (sp == NULL) {
		snprintf(err, err_len, "af_packet socket on '%s': out of memory", ifname);
		return NULL;
	}
	sp->fd = -1;
	sp->large_fd = -1;
	sp->efd = -1;
	sp->ifindex = (int)if_nametoindex(ifname);
	if (sp->ifindex == 0) {
		fail(err, err_len, ifname, "no such interface");
		goto out;
	}
	sp->fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, htons(ETH_P_ALL));
	if (sp->fd < 0) {
		fail(err, err_len, ifname, "socket");
		goto out;
	}
	if (setsockopt(sp->fd, SOL_PACKET, PACKET_VERSION, &version, sizeof(version)) < 0) {
		fail(err, err_len, ifname, "PACKET_VERSION 2");
		goto out;
	}
	/* the kernel's own frames on the veth (and ours) are not the pod's */
	if (setsockopt(sp->fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one)) < 0) {
		fail(err, err_len, ifname, "PACKET_IGNORE_OUTGOING");
		goto out;
	}
	(void)setsockopt(sp->fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
	/*
	 * A frame the kernel refuses (longer than the interface's MTU) is
	 * skipped, not left as TP_STATUS_WRONG_FORMAT: without this the kernel
	 * stops at that slot and every later frame waits behind it until the
	 * ring comes round to it again, 255 frames later.
	 */
	if (setsockopt(sp->fd, SOL_PACKET, PACKET_LOSS, &one, sizeof(one)) < 0) {
		fail(err, err_len, ifname, "PACKET_LOSS");
		goto out;
	}
	/* offloads: a virtio-net header before every frame, both ways (psw_gso.h) */
	if (large != NULL) {
		if (setsockopt(sp->fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)) < 0) {
			fail(err, err_len, ifname, "PACKET_VNET_HDR");
			goto out;
		}
		if (len_filter(sp->fd, false) < 0) {
			fail(err, err_len, ifname, "socket filter");
			goto out;
		}
		if (large_open(sp) < 0) {
			fail(err, err_len, ifname, "socket for large frames");
			goto out;
		}
		sp->large = large;
	}
	sp->rx_frame_size = FRAME_SIZE;
	sp->frame_size = FRAME_SIZE;
	sp->rx_frames = RX_FRAMES;
	sp->tx_frames = TX_FRAMES;
	req.tp_block_size = BLOCK_SIZE;
	req.tp_frame_size = FRAME_SIZE;
	req.tp_frame_nr = RX_FRAMES;
	req.tp_block_nr = RX_FRAMES * FRAME_SIZE / BLOCK_SIZE;
	if (setsockopt(sp->fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)) < 0) {
		fail(err, err_len, ifname, "PACKET_RX_RING");
		goto out;
	}
	req.tp_block_size = BLOCK_SIZE;
	req.tp_frame_size = FRAME_SIZE;
	req.tp_block_nr = TX_FRAMES * FRAME_SIZE / BLOCK_SIZE;
	req.tp_frame_nr = TX_FRAMES;
	if (setsockopt(sp->fd, SOL_PACKET, PACKET_TX_RING, &req, sizeof(req)) < 0) {
		fail(err, err_len, ifname, "PACKET_TX_RING");
		goto out;
	}
	sp->map_len = (size_t)(RX_FRAMES + TX_FRAMES) * FRAME_SIZE;
	sp->map = mmap(NULL, sp->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_LOCKED | MAP_POPULATE,
		       sp->fd, 0);
	if (sp->map == MAP_FAILED) {
		sp->map = mmap(NULL, sp->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, sp->fd, 0);
		if (sp->map == MAP_FAILED) {
			sp->map = NULL;
			fail(err, err_len, ifname, "mmap of the rings");
			goto out;
		}
	}
	sll.sll_ifindex = sp->ifindex;
	if (bind(sp->fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		fail(err, err_len, ifname, "bind");
		goto out;
	}
	/* the switch routes: frames for the gateway MAC are not the veth's */
	mr.mr_ifindex = sp->ifindex;
	if (setsockopt(sp->fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)) < 0) {
		fail(err, err_len, ifname, "promiscuous mode");
		goto out;
	}
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(sp->fd, SIOCGIFHWADDR, &ifr) == 0)
		memcpy(sp->mac, ifr.ifr_hwaddr.sa_data, 6);
	return sp;

out:
	psw_sockport_close(sp);
	return NULL;
}

void
psw_sockport_close(struct psw_sockport *sp)
{
	if (sp == NULL)
		return;
	if (sp->map != NULL)
		munmap(sp->map, sp->map_len);
	if (sp->fd >= 0)
		close(sp->fd);
	if (sp->lmap != NULL)
		munmap(sp->lmap, sp->lmap_len);
	if (sp->large_fd >= 0)
		close(sp->large_fd);
	if (sp->efd >= 0)
		close(sp->efd);
	free(sp);
}

static inline struct tpacket2_hdr *
rx_slot(const struct psw_sockport *sp, unsigned i)
{
	return (struct tpacket2_hdr *)(sp->map + (size_t)i * FRAME_SIZE);
}

static inline struct tpacket2_hdr *
lrx_slot(const struct psw_sockport *sp, unsigned i)
{
	return (struct tpacket2_hdr *)(sp->lmap + (size_t)i * LARGE_FRAME_SIZE);
}

static inline struct tpacket2_hdr *
tx_slot(const struct psw_sockport *sp, unsigned i)
{
	return (struct tpacket2_hdr *)(sp->map + (size_t)(RX_FRAMES + i) * FRAME_SIZE);
}

/*
 * The offload requests of a frame from the pod's kernel (its virtio-net
 * header) onto its mbuf, as psw_gso.h has them; tag: the 802.1Q tag put
 * back in front of the checksum's start. False: a request that cannot be
 * carried (an offset past what an mbuf's fields hold, a segmentation
 * other than TCP or UDP), finished or refused here instead.
 */
static bool
offloads_in(struct rte_mbuf *m, const struct virtio_net_hdr *vh, unsigned tag)
{
	unsigned start = vh->csum_start + tag, off = vh->csum_offset;

	if (vh->gso_type == VIRTIO_NET_HDR_GSO_NONE && !(vh->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM))
		return true;
	if (!(vh->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) || start < RTE_ETHER_HDR_LEN + tag ||
	    start - RTE_ETHER_HDR_LEN - tag > 511 || off > 255 || start + off + 2 > m->data_len)
		return false;
	m->l2_len = RTE_ETHER_HDR_LEN + tag;
	m->l3_len = start - m->l2_len;
	m->l4_len = off;
	m->ol_flags |= off == 16 ? RTE_MBUF_F_TX_TCP_CKSUM : off == 6 ? RTE_MBUF_F_TX_UDP_CKSUM
				 : off == 8 ? RTE_MBUF_F_TX_SCTP_CKSUM : 0;
	if (!(m->ol_flags & RTE_MBUF_F_TX_L4_MASK))
		return false;
	switch (vh->gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN) {
	case VIRTIO_NET_HDR_GSO_NONE:
		return true;
	case VIRTIO_NET_HDR_GSO_TCPV4:
	case VIRTIO_NET_HDR_GSO_TCPV6:
		m->ol_flags |= RTE_MBUF_F_TX_TCP_SEG;
		break;
	case VIRTIO_NET_HDR_GSO_UDP_L4:
		m->ol_flags |= RTE_MBUF_F_TX_UDP_SEG;
		break;
	default:
		return false;
	}
	m->ol_flags |= (vh->gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN) == VIRTIO_NET_HDR_GSO_TCPV6
			       ? RTE_MBUF_F_TX_IPV6 : RTE_MBUF_F_TX_IPV4;
	m->tso_segsz = vh->gso_size;
	return true;
}

/* A checksum the kernel left partial at an offset no mbuf field holds: finished here. */
static bool
finish_raw(struct rte_mbuf *m, const struct virtio_net_hdr *vh, unsigned tag)
{
	unsigned start = vh->csum_start + tag, off = vh->csum_offset;

	m->ol_flags = 0;
	m->l2_len = m->l3_len = m->l4_len = 0;
	m->tso_segsz = 0;
	if (vh->gso_type != VIRTIO_NET_HDR_GSO_NONE || !(vh->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) ||
	    start >= m->data_len || start + off + 2 > m->data_len)
		return false;
	(void)psw_csum_finish(rte_pktmbuf_mtod(m, uint8_t *), start, off, m->data_len);
	return true;
}

uint16_t
psw_sockport_rx(struct psw_sockport *sp, struct rte_mempool *mp, struct rte_mbuf **pkts, uint16_t n)
{
	unsigned room = (unsigned)rte_pktmbuf_data_room_size(mp) - RTE_PKTMBUF_HEADROOM;
	bool large_taken = false;
	uint16_t got = 0;

	while (got < n) {
		struct tpacket2_hdr *h = rx_slot(sp, sp->rx_next);
		unsigned len, tag, status;
		bool from_large = false;
		struct rte_mbuf *m;
		uint8_t *d;

		status = __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE);
		if (sp->lmap != NULL) {
			/* the two rings in the order their frames came (their stamps) */
			struct tpacket2_hdr *lh = lrx_slot(sp, sp->lrx_next);
			unsigned lstatus = __atomic_load_n(&lh->tp_status, __ATOMIC_ACQUIRE);

			if ((lstatus & TP_STATUS_USER) &&
			    (!(status & TP_STATUS_USER) || lh->tp_sec < h->tp_sec ||
			     (lh->tp_sec == h->tp_sec && lh->tp_nsec < h->tp_nsec))) {
				h = lh;
				status = lstatus;
				from_large = true;
			}
		}
		if (!(status & TP_STATUS_USER))
			break;
		len = h->tp_snaplen;
		/* the kernel took the 802.1Q tag off (VLAN offload): it is put back, so
		 * a tagged frame is not taken for an untagged one */
		tag = (status & TP_STATUS_VLAN_VALID) ? 4 : 0;
		m = NULL;
		if (len + tag <= room) {
			m = rte_pktmbuf_alloc(mp);
		} else if (sp->large != NULL && len == h->tp_len && len >= 12 &&
			   len + tag <= (unsigned)rte_pktmbuf_data_room_size(sp->large) - RTE_PKTMBUF_HEADROOM) {
			/* one large frame a burst: its segments fit the stages' room (psw_gso.h) */
			if (large_taken)
				break;
			large_taken = true;
			m = rte_pktmbuf_alloc(sp->large);
		} else {
			/* larger than an mbuf, or than a slot (cut short): counted, not taken */
			sp->rx_toolong++;
			goto next;
		}
		if (unlikely(m == NULL)) {
			sp->rx_nombuf++;         /* left in the ring: the kernel drops when it is full */
			break;
		}
		d = rte_pktmbuf_mtod(m, uint8_t *);
		if (unlikely(tag != 0) && len >= 12) {
			uint16_t tpid = (status & TP_STATUS_VLAN_TPID_VALID) && h->tp_vlan_tpid
					? h->tp_vlan_tpid : 0x8100;   /* 802.1Q */

			memcpy(d, (uint8_t *)h + h->tp_mac, 12);
			d[12] = (uint8_t)(tpid >> 8);
			d[13] = (uint8_t)tpid;
			d[14] = (uint8_t)(h->tp_vlan_tci >> 8);
			d[15] = (uint8_t)h->tp_vlan_tci;
			memcpy(d + 16, (uint8_t *)h + h->tp_mac + 12, len - 12);
		} else if (likely(tag == 0)) {
			memcpy(d, (uint8_t *)h + h->tp_mac, len);
		} else {
			rte_pktmbuf_free(m);
			sp->rx_toolong++;
			goto next;
		}
		m->data_len = (uint16_t)(len + tag);
		m->pkt_len = len + tag;
		if (sp->large != NULL) {
			const struct virtio_net_hdr *vh =
				(const struct virtio_net_hdr *)((uint8_t *)h + h->tp_mac - VNET_LEN);

			if (unlikely(vh->flags != 0 || vh->gso_type != 0) && !offloads_in(m, vh, tag) &&
			    !finish_raw(m, vh, tag)) {
				rte_pktmbuf_free(m);
				sp->rx_gso_bad++;
				goto next;
			}
		}
		pkts[got++] = m;
next:
		__atomic_store_n(&h->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
		if (from_large)
			sp->lrx_next = sp->lrx_next + 1 == LARGE_RX_FRAMES ? 0 : sp->lrx_next + 1;
		else
			sp->rx_next = sp->rx_next + 1 == sp->rx_frames ? 0 : sp->rx_next + 1;
	}
	return got;
}

/*
 * Have the kernel send what waits in the TX ring. An interface that went
 * down left ENETDOWN pending on the socket (sk_err), and the first send
 * after it came back up reports that and sends nothing: the frames would
 * wait for the next frame to this pod. So an ENETDOWN is asked once more;
 * a second one is an interface that is down now.
 */
static inline void
tx_kick(struct psw_sockport *sp)
{
	if (sendto(sp->fd, NULL, 0, MSG_DONTWAIT, NULL, 0) < 0 && errno == ENETDOWN)
		(void)sendto(sp->fd, NULL, 0, MSG_DONTWAIT, NULL, 0);
}

/*
 * The virtio-net header that carries a frame's offload requests (as
 * psw_gso.h has them) to the pod's kernel: a partial checksum at its
 * start and offset, segmentation by TCP or UDP of the frame's IP version.
 */
static void
offloads_out(const struct rte_mbuf *m, struct virtio_net_hdr *vh)
{
	const uint8_t *d = rte_pktmbuf_mtod(m, const uint8_t *);
	uint64_t l4 = m->ol_flags & RTE_MBUF_F_TX_L4_MASK;
	unsigned start = (unsigned)m->l2_len + m->l3_len;

	memset(vh, 0, sizeof(*vh));
	/* the L4 header must be there: TCP's 20 bytes (its data offset is read), UDP's 8, SCTP's 12 */
	if (l4 == 0 || start + (l4 == RTE_MBUF_F_TX_TCP_CKSUM ? 20u : l4 == RTE_MBUF_F_TX_UDP_CKSUM ? 8u : 12u) >
			       rte_pktmbuf_data_len(m))
		return;
	vh->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	vh->csum_start = (uint16_t)start;
	vh->csum_offset = l4 == RTE_MBUF_F_TX_TCP_CKSUM ? 16 : l4 == RTE_MBUF_F_TX_UDP_CKSUM ? 6 : 8;
	if (m->ol_flags & RTE_MBUF_F_TX_TCP_SEG) {
		vh->gso_type = (d[m->l2_len] >> 4) == 6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
		vh->hdr_len = (uint16_t)(start + (unsigned)(d[start + 12] >> 4) * 4u);
		vh->gso_size = m->tso_segsz;
	} else if (m->ol_flags & RTE_MBUF_F_TX_UDP_SEG) {
		vh->gso_type = VIRTIO_NET_HDR_GSO_UDP_L4;
		vh->hdr_len = (uint16_t)(start + 8);
		vh->gso_size = m->tso_segsz;
	}
}

/* A frame longer than a TX slot, straight from its mbuf(s), with its header. */
static bool
send_large(struct psw_sockport *sp, const struct rte_mbuf *m)
{
	struct virtio_net_hdr vh;
	struct iovec iov[1 + 16];
	struct msghdr msg = { .msg_iov = iov };
	const struct rte_mbuf *seg;
	unsigned k = 1;

	offloads_out(m, &vh);
	iov[0].iov_base = &vh;
	iov[0].iov_len = VNET_LEN;
	for (seg = m; seg != NULL && k < RTE_DIM(iov); seg = seg->next, k++) {
		iov[k].iov_base = rte_pktmbuf_mtod(seg, void *);
		iov[k].iov_len = rte_pktmbuf_data_len(seg);
	}
	if (seg != NULL)
		return false;
	msg.msg_iovlen = k;
	return sendmsg(sp->large_fd, &msg, MSG_DONTWAIT) == (ssize_t)(m->pkt_len + VNET_LEN);
}

uint16_t
psw_sockport_tx(struct psw_sockport *sp, struct rte_mbuf **pkts, uint16_t n)
{
	unsigned hdr = sp->large != NULL ? VNET_LEN : 0;
	uint16_t sent = 0, queued = 0;
	bool kicked = false;

	while (sent < n) {
		struct tpacket2_hdr *h = tx_slot(sp, sp->tx_next);
		struct rte_mbuf *m = pkts[sent];
		unsigned status = __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE);

		if (unlikely(m->pkt_len + hdr > sp->frame_size - TX_DATA_OFFSET)) {
			/* the ring's frames go first, then this one by itself */
			if (queued > 0)
				tx_kick(sp);
			queued = 0;
			if (sp->large == NULL || !send_large(sp, m))
				sp->tx_oversize++;
			rte_pktmbuf_free(m);
			sent++;
			continue;
		}
		if (status != TP_STATUS_AVAILABLE && status != TP_STATUS_WRONG_FORMAT) {
			/*
			 * The ring is full: the kernel has not sent yet. Frames
			 * a kick could not send (the interface was down: ENETDOWN)
			 * wait here, and only a kick sends them: kick once, and
			 * look again, or a full ring would stay full for good.
			 */
			if (kicked)
				break;
			tx_kick(sp);
			kicked = true;
			queued = 0;
			continue;
		}
		{
			uint8_t *dst = (uint8_t *)h + TX_DATA_OFFSET + hdr;
			const void *d = rte_pktmbuf_read(m, 0, m->pkt_len, dst);   /* copies only chains */

			if (d != dst)
				memcpy(dst, d, m->pkt_len);
			if (hdr != 0)
				offloads_out(m, (struct virtio_net_hdr *)((uint8_t *)h + TX_DATA_OFFSET));
		}
		h->tp_len = m->pkt_len + hdr;
		h->tp_snaplen = m->pkt_len + hdr;
		__atomic_store_n(&h->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
		sp->tx_next = sp->tx_next + 1 == sp->tx_frames ? 0 : sp->tx_next + 1;
		rte_pktmbuf_free(m);
		sent++;
		queued++;
	}
	if (queued > 0)
		tx_kick(sp);
	return sent;
}

uint64_t
psw_sockport_drops(struct psw_sockport *sp)
{
	struct tpacket_stats st;
	socklen_t len = sizeof(st);

	if (getsockopt(sp->fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0)
		sp->kernel_drops += st.tp_drops;
	len = sizeof(st);
	if (sp->lmap != NULL && getsockopt(sp->large_fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0)
		sp->kernel_drops += st.tp_drops;
	return sp->kernel_drops;
}

bool
psw_sockport_link_up(const struct psw_sockport *sp)
{
	struct ifreq ifr;
	char name[IF_NAMESIZE];

	memset(&ifr, 0, sizeof(ifr));
	if (if_indextoname((unsigned)sp->ifindex, name) == NULL)
		return false;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	return ioctl(sp->fd, SIOCGIFFLAGS, &ifr) == 0 && (ifr.ifr_flags & IFF_RUNNING);
}
