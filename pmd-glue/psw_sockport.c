/* Kernel pods over the switch's own AF_PACKET socket (psw_sockport.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <rte_branch_prediction.h>
#include <rte_mbuf.h>

#include "psw_sockport.h"

#define FRAME_SIZE 2048u        /* a 1500-byte frame and the ring's header fit */
#define BLOCK_SIZE 4096u        /* a page: two frames */
#define RX_FRAMES 256u
#define TX_FRAMES 256u

/* Where a TX slot's frame starts (as the kernel reads it with TPACKET_V2). */
#define TX_DATA_OFFSET (TPACKET2_HDRLEN - sizeof(struct sockaddr_ll))

static int
fail(char *err, size_t err_len, const char *ifname, const char *what)
{
	int e = errno;

	snprintf(err, err_len, "af_packet socket on '%s': %s: %s", ifname, what, strerror(e));
	return -e;
}

struct psw_sockport *
psw_sockport_open(const char *ifname, char *err, size_t err_len)
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
	sp->frame_size = FRAME_SIZE;
	sp->rx_frames = RX_FRAMES;
	sp->tx_frames = TX_FRAMES;
	req.tp_block_nr = RX_FRAMES * FRAME_SIZE / BLOCK_SIZE;
	req.tp_frame_nr = RX_FRAMES;
	if (setsockopt(sp->fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)) < 0) {
		fail(err, err_len, ifname, "PACKET_RX_RING");
		goto out;
	}
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
	free(sp);
}

static inline struct tpacket2_hdr *
rx_slot(const struct psw_sockport *sp, unsigned i)
{
	return (struct tpacket2_hdr *)(sp->map + (size_t)i * sp->frame_size);
}

static inline struct tpacket2_hdr *
tx_slot(const struct psw_sockport *sp, unsigned i)
{
	return (struct tpacket2_hdr *)(sp->map + (size_t)(sp->rx_frames + i) * sp->frame_size);
}

uint16_t
psw_sockport_rx(struct psw_sockport *sp, struct rte_mempool *mp, struct rte_mbuf **pkts, uint16_t n)
{
	uint16_t got = 0;

	while (got < n) {
		struct tpacket2_hdr *h = rx_slot(sp, sp->rx_next);
		struct rte_mbuf *m;
		unsigned len;

		if (!(__atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER))
			break;
		len = h->tp_snaplen;
		m = rte_pktmbuf_alloc(mp);
		if (unlikely(m == NULL)) {
			sp->rx_nombuf++;         /* left in the ring: the kernel drops when it is full */
			break;
		}
		if (unlikely(h->tp_status & TP_STATUS_VLAN_VALID) && len >= 12 &&
		    len + 4 <= rte_pktmbuf_tailroom(m)) {
			/* the kernel took the 802.1Q tag off (VLAN offload): put it back, so
			 * a tagged frame is not taken for an untagged one */
			uint8_t *d = rte_pktmbuf_mtod(m, uint8_t *);
			uint16_t tpid = (h->tp_status & TP_STATUS_VLAN_TPID_VALID) && h->tp_vlan_tpid
					? h->tp_vlan_tpid : 0x8100;   /* 802.1Q */

			memcpy(d, (uint8_t *)h + h->tp_mac, 12);
			d[12] = (uint8_t)(tpid >> 8);
			d[13] = (uint8_t)tpid;
			d[14] = (uint8_t)(h->tp_vlan_tci >> 8);
			d[15] = (uint8_t)h->tp_vlan_tci;
			memcpy(d + 16, (uint8_t *)h + h->tp_mac + 12, len - 12);
			m->data_len = (uint16_t)(len + 4);
			m->pkt_len = len + 4;
			pkts[got++] = m;
		} else if (likely(len <= rte_pktmbuf_tailroom(m) && !(h->tp_status & TP_STATUS_VLAN_VALID))) {
			memcpy(rte_pktmbuf_mtod(m, uint8_t *), (uint8_t *)h + h->tp_mac, len);
			m->data_len = (uint16_t)len;
			m->pkt_len = len;
			pkts[got++] = m;
		} else {
			/* larger than an mbuf (with its tag put back): counted, not taken */
			rte_pktmbuf_free(m);
			sp->rx_toolong++;
		}
		__atomic_store_n(&h->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
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

uint16_t
psw_sockport_tx(struct psw_sockport *sp, struct rte_mbuf **pkts, uint16_t n)
{
	uint16_t sent = 0;
	bool kicked = false;

	while (sent < n) {
		struct tpacket2_hdr *h = tx_slot(sp, sp->tx_next);
		struct rte_mbuf *m = pkts[sent];
		unsigned status = __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE);

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
			continue;
		}
		if (unlikely(m->pkt_len > sp->frame_size - TX_DATA_OFFSET)) {
			sp->tx_oversize++;
			rte_pktmbuf_free(m);
			sent++;
			continue;
		}
		{
			uint8_t *dst = (uint8_t *)h + TX_DATA_OFFSET;
			const void *d = rte_pktmbuf_read(m, 0, m->pkt_len, dst);   /* copies only chains */

			if (d != dst)
				memcpy(dst, d, m->pkt_len);
		}
		h->tp_len = m->pkt_len;
		h->tp_snaplen = m->pkt_len;
		__atomic_store_n(&h->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
		sp->tx_next = sp->tx_next + 1 == sp->tx_frames ? 0 : sp->tx_next + 1;
		rte_pktmbuf_free(m);
		sent++;
	}
	if (sent > 0)
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
