/*
 * psw-gen: an open-loop traffic generator for the end-to-end benchmark
 * (pktgen-style, on the DPDK ports given with --vdev, e.g. virtio_user
 * servers that a switch connects to).
 *
 * One lcore sends UDP frames out of port 0 — N flows (source ports
 * 1024..1024+N-1; above 64,000 flows, the next destination ports too), a
 * given frame size, at a given rate or as fast as it can —
 * and receives on port 1, counting what comes back. Every frame carries its
 * TSC send time; received frames give the latency (the generator reads the
 * TSC it wrote, one clock, no synchronisation). Prints one JSON line:
 * offered and received rates, loss, latency min / median / p99.
 *
 *   psw-gen [EAL args] -- --frame 64 --flows 1 --seconds 5 [--rate PPS] [--burst N]
 *           --src-mac M --dst-mac M --src-ip A --dst-ip A --dport P [--warmup S]
 *
 * At a fixed rate, small bursts (--burst 1..4) keep the latency figure about
 * the switch rather than about the frames queued behind each other.
 *
 * For a switch's overlay (VXLAN, RFC 7348):
 *   --arp-ip A       answer ARP requests for A on either port, with that
 *                    port's MAC (the other node's tunnel endpoint, whose MAC
 *                    the switch asks for)
 *   --outer-src-mac M --outer-dst-mac M --outer-src-ip A --outer-dst-ip A [--vni N]
 *                    send every frame inside VXLAN (UDP --vxlan-port, 4789;
 *                    source port from the flow, checksum 0): --frame is the
 *                    inner frame's size, 50 bytes less than what is sent
 * A received frame is counted when it carries a stamp, as it is or inside
 * VXLAN to --vxlan-port ("received_vxlan": those of the window that came in
 * VXLAN); "rx_first" is the first 96 bytes of the window's first one, in
 * hex, for the caller to check what the switch sent (outer and inner
 * headers); "arp_answers" counts the ARP requests answered.
 *
 * For offloads (a guest's TCP segmentation through a switch):
 *   --tso MSS        send TCP instead of UDP, each --frame (up to 65,000
 *                    bytes) one large frame with a segmentation request of
 *                    MSS bytes a segment (TCP_TSO on port 0: the virtio-net
 *                    header's GSO_TCPV4); frames of the flows carry ACK|PSH
 *                    and consecutive sequence numbers
 *   --lro            port 1 takes large frames (TCP_LRO: GUEST_TSO4/6 and
 *                    GUEST_CSUM offered to the switch), else it gets segments
 * Every TCP frame to --dport received on port 1 counts, stamp or not (a
 * switch that segments stamps the first segment only): "rx_payload_bps" is
 * the TCP payload received in the window, in bits a second.
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_arp.h>
#include <rte_byteorder.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#define BURST 32
#define MAGIC 0x70737767656e2121ull    /* "pswgen!!" */
#define MAX_SAMPLES (1u << 20)
#define FLOWS_PER_DPORT 64000u    /* source ports per destination port */
#define VXLAN_LEN 50u             /* outer Ethernet, IPv4, UDP and VXLAN headers */
#define RX_FIRST_LEN 96u
#define TSO_FRAME_MAX 65000u      /* --tso: a frame in one mbuf of the large pool */

struct stamp {
	uint64_t magic;
	uint64_t tsc;
};

static struct {
	unsigned frame, flows, burst;
	double seconds, warmup;
	uint64_t rate;
	struct rte_ether_addr src_mac, dst_mac;
	uint32_t src_ip, dst_ip;
	uint16_t dport;
	uint32_t arp_ip;                          /* 0: answer no ARP */
	unsigned encap;                           /* VXLAN_LEN when sending in VXLAN, else 0 */
	struct rte_ether_addr outer_src_mac, outer_dst_mac;
	uint32_t outer_src_ip, outer_dst_ip, vni;
	uint16_t vxlan_port;
	unsigned tso;                             /* MSS; 0: UDP frames */
	bool lro;
} opt = { .frame = 64, .flows = 1, .seconds = 5, .warmup = 1, .burst = BURST, .vni = 1, .vxlan_port = 4789 };

static uint64_t samples[MAX_SAMPLES];
static unsigned nb_samples;
static uint64_t nb_arp_answers;

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void
usage(void)
{
	fprintf(stderr, "usage: psw-gen [EAL] -- --frame N --flows N --seconds S [--warmup S] [--rate PPS] "
		"--src-mac M --dst-mac M --src-ip A --dst-ip A --dport P [--arp-ip A] [--vxlan-port P]\n"
		"  [--outer-src-mac M --outer-dst-mac M --outer-src-ip A --outer-dst-ip A [--vni N]]\n"
		"  [--tso MSS [--lro]]\n");
	exit(2);
}

static void
parse(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "frame", 1, 0, 'f' }, { "flows", 1, 0, 'n' }, { "seconds", 1, 0, 's' },
		{ "warmup", 1, 0, 'w' }, { "rate", 1, 0, 'r' }, { "src-mac", 1, 0, 'a' },
		{ "dst-mac", 1, 0, 'b' }, { "src-ip", 1, 0, 'c' }, { "dst-ip", 1, 0, 'd' },
		{ "dport", 1, 0, 'p' }, { "burst", 1, 0, 'u' }, { "arp-ip", 1, 0, 'A' },
		{ "outer-src-mac", 1, 0, 'M' }, { "outer-dst-mac", 1, 0, 'N' }, { "outer-src-ip", 1, 0, 'S' },
		{ "outer-dst-ip", 1, 0, 'D' }, { "vni", 1, 0, 'V' }, { "vxlan-port", 1, 0, 'X' }, { "tso", 1, 0, 'T' },
		{ "lro", 0, 0, 'L' }, { 0, 0, 0, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'f': opt.frame = (unsigned)atoi(optarg); break;
		case 'n': opt.flows = (unsigned)atoi(optarg); break;
		case 's': opt.seconds = atof(optarg); break;
		case 'w': opt.warmup = atof(optarg); break;
		case 'r': opt.rate = strtoull(optarg, NULL, 10); break;
		case 'a': if (rte_ether_unformat_addr(optarg, &opt.src_mac) < 0) usage(); break;
		case 'b': if (rte_ether_unformat_addr(optarg, &opt.dst_mac) < 0) usage(); break;
		case 'c': if (inet_pton(AF_INET, optarg, &opt.src_ip) != 1) usage(); break;
		case 'd': if (inet_pton(AF_INET, optarg, &opt.dst_ip) != 1) usage(); break;
		case 'p': opt.dport = (uint16_t)atoi(optarg); break;
		case 'u': opt.burst = (unsigned)atoi(optarg); break;
		case 'A': if (inet_pton(AF_INET, optarg, &opt.arp_ip) != 1) usage(); break;
		case 'M': if (rte_ether_unformat_addr(optarg, &opt.outer_src_mac) < 0) usage(); break;
		case 'N': if (rte_ether_unformat_addr(optarg, &opt.outer_dst_mac) < 0) usage(); break;
		case 'S': if (inet_pton(AF_INET, optarg, &opt.outer_src_ip) != 1) usage(); break;
		case 'D': if (inet_pton(AF_INET, optarg, &opt.outer_dst_ip) != 1) usage();
			  opt.encap = VXLAN_LEN; break;
		case 'V': opt.vni = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'X': opt.vxlan_port = (uint16_t)atoi(optarg); break;
		case 'T': opt.tso = (unsigned)atoi(optarg); break;
		case 'L': opt.lro = true; break;
		default: usage();
		}
	}
	if (opt.frame < 64 || opt.frame + opt.encap > (opt.tso ? TSO_FRAME_MAX : 1518) || opt.flows == 0 ||
	    (opt.tso && (opt.encap || opt.tso < 64 || opt.tso > 9000)) || opt.flows > 64 * FLOWS_PER_DPORT ||
	    opt.vni > 0xffffff || (opt.encap && opt.outer_src_ip == 0) ||
	    opt.dport + (opt.flows - 1) / FLOWS_PER_DPORT > 65535 || opt.seconds <= 0 ||
	    opt.burst == 0 || opt.burst > BURST)
		usage();
}

#define HDR_LEN (sizeof(struct rte_ether_hdr) + sizeof(struct rte_ipv4_hdr) + sizeof(struct rte_udp_hdr))
#define TCP_HDR_LEN (HDR_LEN - sizeof(struct rte_udp_hdr) + sizeof(struct rte_tcp_hdr))

/*
 * The headers of every frame: with --outer-dst-ip, the outer Ethernet, IPv4,
 * UDP and VXLAN headers first; then Ethernet, IPv4 and UDP (TCP with
 * --tso). The ports (and the outer UDP source port) are set per flow.
 */
static uint8_t hdr_tmpl[VXLAN_LEN + TCP_HDR_LEN];
static unsigned hdr_len = HDR_LEN;               /* of the frame inside: UDP, or TCP with --tso */

static void
build_headers(uint8_t *p, const struct rte_ether_addr *src_mac, const struct rte_ether_addr *dst_mac,
	      uint32_t src_ip, uint32_t dst_ip, unsigned len, bool tcp)
{
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)p;
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(ip + 1);
	struct rte_tcp_hdr *th = (struct rte_tcp_hdr *)(ip + 1);

	eth->src_addr = *src_mac;
	eth->dst_addr = *dst_mac;
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->total_length = rte_cpu_to_be_16((uint16_t)(len - sizeof(*eth)));
	ip->time_to_live = 64;
	ip->next_proto_id = tcp ? IPPROTO_TCP : IPPROTO_UDP;
	ip->src_addr = src_ip;
	ip->dst_addr = dst_ip;
	ip->hdr_checksum = rte_ipv4_cksum(ip);      /* the ports are not in it */
	if (!tcp) {
		udp->dgram_len = rte_cpu_to_be_16((uint16_t)(len - sizeof(*eth) - sizeof(*ip)));
		return;
	}
	th->data_off = sizeof(*th) << 2;
	th->tcp_flags = RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG;
	th->rx_win = RTE_BE16(65535);
	th->cksum = rte_ipv4_phdr_cksum(ip, RTE_MBUF_F_TX_TCP_SEG);   /* the seed TSO wants: no length */
}

static void
build_template(void)
{
	unsigned len = opt.frame - RTE_ETHER_CRC_LEN;

	memset(hdr_tmpl, 0, sizeof(hdr_tmpl));
	if (opt.encap) {
		struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(hdr_tmpl + HDR_LEN - sizeof(*udp));
		uint8_t *vxlan = hdr_tmpl + HDR_LEN;

		build_headers(hdr_tmpl, &opt.outer_src_mac, &opt.outer_dst_mac, opt.outer_src_ip,
			      opt.outer_dst_ip, len + VXLAN_LEN, false);
		udp->dst_port = rte_cpu_to_be_16(opt.vxlan_port);
		vxlan[0] = 0x08;                            /* I: the VNI is valid */
		vxlan[4] = (uint8_t)(opt.vni >> 16);
		vxlan[5] = (uint8_t)(opt.vni >> 8);
		vxlan[6] = (uint8_t)opt.vni;
	}
	if (opt.tso)
		hdr_len = TCP_HDR_LEN;
	build_headers(hdr_tmpl + opt.encap, &opt.src_mac, &opt.dst_mac, opt.src_ip, opt.dst_ip, len, opt.tso != 0);
}

/*
 * A frame of flow f (frame = on-the-wire size with CRC, of the inner frame
 * under VXLAN): the headers from the template, source port 1024 + f mod
 * 64,000 and destination port dport + f / 64,000 (so more than 64,000 flows
 * use the next ports), then the stamp; the rest of the frame is whatever the
 * buffer held (padding). Under VXLAN the outer source port varies with the
 * flow, as a node's does. Only the headers are written: a pktgen-style
 * generator must cost less than the switch it measures. With --tso, a TCP
 * frame with its segmentation request.
 */
static void
fill(struct rte_mbuf *m, unsigned f)
{
	static uint32_t seq;
	uint8_t *p = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)(opt.frame - RTE_ETHER_CRC_LEN + opt.encap));
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(p + opt.encap + HDR_LEN - sizeof(*udp));

	memcpy(p, hdr_tmpl, opt.encap + hdr_len);
	/* (TCP's ports are where UDP's are) */
	udp->src_port = rte_cpu_to_be_16((uint16_t)(1024 + f % FLOWS_PER_DPORT));
	udp->dst_port = rte_cpu_to_be_16((uint16_t)(opt.dport + f / FLOWS_PER_DPORT));
	if (opt.encap) {
		struct rte_udp_hdr *outer = (struct rte_udp_hdr *)(p + HDR_LEN - sizeof(*udp));

		outer->src_port = rte_cpu_to_be_16((uint16_t)(49152 + f % 16384));
	}
	if (opt.tso) {
		struct rte_tcp_hdr *th = (struct rte_tcp_hdr *)udp;

		th->sent_seq = rte_cpu_to_be_32(seq);
		seq += opt.frame - RTE_ETHER_CRC_LEN - TCP_HDR_LEN;
		m->ol_flags = RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_TCP_CKSUM | RTE_MBUF_F_TX_TCP_SEG;
		m->l2_len = sizeof(struct rte_ether_hdr);
		m->l3_len = sizeof(struct rte_ipv4_hdr);
		m->l4_len = sizeof(struct rte_tcp_hdr);
		m->tso_segsz = (uint16_t)opt.tso;
	}
}

/* With --tso: a TCP frame (or segment) to --dport, IPv4 without options: its payload's length; else 0. */
static unsigned
tcp_payload(const struct rte_mbuf *m)
{
	const uint8_t *p = rte_pktmbuf_mtod(m, const uint8_t *);

	if (rte_pktmbuf_data_len(m) < TCP_HDR_LEN || p[12] != 0x08 || p[13] != 0x00 || p[14] != 0x45 ||
	    p[23] != IPPROTO_TCP || ((unsigned)p[36] << 8 | p[37]) != opt.dport || rte_pktmbuf_pkt_len(m) < TCP_HDR_LEN)
		return 0;
	return ((unsigned)p[16] << 8 | p[17]) - 20u - (p[46] >> 4) * 4u;
}

/*
 * The stamp a received frame carries: after its UDP header, or after the
 * UDP header of the frame inside VXLAN to --vxlan-port (*vxlan set). NULL:
 * not one of ours.
 */
static const struct stamp *
stamp_of(const struct rte_mbuf *m, bool *vxlan)
{
	const uint8_t *p = rte_pktmbuf_mtod(m, const uint8_t *);
	unsigned len = rte_pktmbuf_data_len(m);
	const struct stamp *s;

	*vxlan = false;
	if (len >= hdr_len + sizeof(*s)) {
		s = (const struct stamp *)(p + hdr_len);
		if (s->magic == MAGIC)
			return s;
	}
	/* IPv4 without options, UDP to the VXLAN port */
	if (len < VXLAN_LEN + HDR_LEN + sizeof(*s) || p[12] != 0x08 || p[13] != 0x00 || p[14] != 0x45 ||
	    p[23] != IPPROTO_UDP || ((unsigned)p[36] << 8 | p[37]) != opt.vxlan_port)
		return NULL;
	s = (const struct stamp *)(p + VXLAN_LEN + HDR_LEN);
	if (s->magic != MAGIC)
		return NULL;
	*vxlan = true;
	return s;
}

/*
 * An ARP request for --arp-ip received on port: turned into the answer, with
 * the port's MAC, and sent back. True when m was taken (sent or freed).
 */
static bool
arp_answer(uint16_t port, struct rte_mbuf *m)
{
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_arp_hdr *arp = (struct rte_arp_hdr *)(eth + 1);
	struct rte_ether_addr mac;
	uint32_t sip;

	if (opt.arp_ip == 0 || rte_pktmbuf_data_len(m) < sizeof(*eth) + sizeof(*arp) ||
	    eth->ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP) ||
	    arp->arp_opcode != rte_cpu_to_be_16(RTE_ARP_OP_REQUEST) || arp->arp_data.arp_tip != opt.arp_ip)
		return false;
	rte_eth_macaddr_get(port, &mac);
	eth->dst_addr = arp->arp_data.arp_sha;
	eth->src_addr = mac;
	arp->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REPLY);
	sip = arp->arp_data.arp_sip;
	arp->arp_data.arp_tha = arp->arp_data.arp_sha;
	arp->arp_data.arp_tip = sip;
	arp->arp_data.arp_sha = mac;
	arp->arp_data.arp_sip = opt.arp_ip;
	if (rte_eth_tx_burst(port, 0, &m, 1) == 0)
		rte_pktmbuf_free(m);
	else
		nb_arp_answers++;
	return true;
}

/* The frames received on port that arp_answer() did not take, freed. */
static void
free_rest(uint16_t port, struct rte_mbuf **pkts, uint16_t nb)
{
	uint16_t i, n = 0;

	if (opt.arp_ip != 0) {
		for (i = 0; i < nb; i++)
			if (!arp_answer(port, pkts[i]))
				pkts[n++] = pkts[i];
		nb = n;
	}
	if (nb)
		rte_pktmbuf_free_bulk(pkts, nb);
}

int
main(int argc, char **argv)
{
	struct rte_eth_conf conf = { 0 };
	struct rte_mempool *mp, *rx_mp;
	struct rte_mbuf *tx[BURST], *rx[BURST];
	uint64_t hz, start, end, measure_from, next, gap, sent = 0, got = 0, sent_w = 0, got_w = 0;
	uint64_t t_meas = 0, got_vxlan_w = 0, payload_w = 0;
	unsigned flow = 0, tx_stamp_off, first_len = 0;
	uint8_t first[RX_FIRST_LEN];
	char first_hex[2 * RX_FIRST_LEN + 1] = "";
	uint16_t port;
	int n;

	n = rte_eal_init(argc, argv);
	if (n < 0)
		return 1;
	parse(argc - n, argv + n);
	build_template();
	tx_stamp_off = opt.encap + hdr_len;
	if (rte_eth_dev_count_avail() < 2) {
		fprintf(stderr, "psw-gen: needs two ports (--vdev)\n");
		return 1;
	}
	/* with --tso, frames of up to 64 KB sent in one mbuf each; received ones in chains */
	rx_mp = rte_pktmbuf_pool_create("gen", 8192, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, (int)rte_socket_id());
	mp = !opt.tso ? rx_mp : rte_pktmbuf_pool_create("gen_large", 1536, 64, 0, UINT16_MAX, (int)rte_socket_id());
	if (mp == NULL || rx_mp == NULL)
		return 1;
	for (port = 0; port < 2; port++) {
		struct rte_eth_dev_info info;

		memset(&conf, 0, sizeof(conf));
		if (opt.tso && port == 0)
			conf.txmode.offloads = RTE_ETH_TX_OFFLOAD_TCP_TSO | RTE_ETH_TX_OFFLOAD_TCP_CKSUM;
		if (opt.lro && port == 1)
			conf.rxmode.offloads = RTE_ETH_RX_OFFLOAD_TCP_LRO | RTE_ETH_RX_OFFLOAD_TCP_CKSUM;
		if (rte_eth_dev_info_get(port, &info) < 0 ||
		    (info.tx_offload_capa & conf.txmode.offloads) != conf.txmode.offloads ||
		    (info.rx_offload_capa & conf.rxmode.offloads) != conf.rxmode.offloads) {
			fprintf(stderr, "psw-gen: port %u cannot take the offloads asked\n", port);
			return 1;
		}
		if (rte_eth_dev_configure(port, 1, 1, &conf) < 0 ||
		    rte_eth_rx_queue_setup(port, 0, 1024, (unsigned)rte_socket_id(), NULL, rx_mp) < 0 ||
		    rte_eth_tx_queue_setup(port, 0, 1024, (unsigned)rte_socket_id(), NULL) < 0 ||
		    rte_eth_dev_start(port) < 0) {
			fprintf(stderr, "psw-gen: port %u does not start\n", port);
			return 1;
		}
	}
	/* wait for both links (the switch connects to our sockets) */
	hz = rte_get_tsc_hz();
	end = rte_rdtsc() + 30 * hz;
	for (;;) {
		struct rte_eth_link l0, l1;

		rte_eth_link_get_nowait(0, &l0);
		rte_eth_link_get_nowait(1, &l1);
		if (l0.link_status && l1.link_status)
			break;
		if (rte_rdtsc() > end) {
			fprintf(stderr, "psw-gen: links not up\n");
			return 1;
		}
		rte_delay_ms(50);
	}
	rte_delay_ms(200);
	gap = opt.rate ? hz * opt.burst / opt.rate : 0;
	start = rte_rdtsc();
	measure_from = start + (uint64_t)(opt.warmup * (double)hz);
	end = measure_from + (uint64_t)(opt.seconds * (double)hz);
	next = start;
	for (;;) {
		uint64_t now = rte_rdtsc();
		uint16_t nb, i;

		if (now >= end)
			break;
		if (gap == 0 || now >= next) {
			if (rte_pktmbuf_alloc_bulk(mp, tx, opt.burst) == 0) {
				for (i = 0; i < opt.burst; i++) {
					struct stamp *s;

					fill(tx[i], flow);
					flow = flow + 1 == opt.flows ? 0 : flow + 1;
					s = rte_pktmbuf_mtod_offset(tx[i], struct stamp *, tx_stamp_off);
					s->magic = MAGIC;
					s->tsc = now;
				}
				nb = rte_eth_tx_burst(0, 0, tx, (uint16_t)opt.burst);
				if (nb < opt.burst)
					rte_pktmbuf_free_bulk(&tx[nb], opt.burst - nb);
				sent += nb;
				if (now >= measure_from)
					sent_w += nb;
			}
			next += gap;
			if (gap && next + 64 * gap < now)
				next = now;          /* fell behind: do not burst to catch up */
		}
		nb = rte_eth_rx_burst(1, 0, rx, BURST);
		now = rte_rdtsc();
		for (i = 0; i < nb; i++) {
			bool vxlan;
			const struct stamp *s;

			if (opt.tso && now >= measure_from)
				payload_w += tcp_payload(rx[i]);
			s = stamp_of(rx[i], &vxlan);
			if (s == NULL)
				continue;
			got++;
			if (s->tsc >= measure_from) {
				got_w++;
				got_vxlan_w += vxlan;
				if (first_len == 0) {
					first_len = RTE_MIN(RX_FIRST_LEN, rte_pktmbuf_data_len(rx[i]));
					memcpy(first, rte_pktmbuf_mtod(rx[i], const uint8_t *), first_len);
				}
				if (nb_samples < MAX_SAMPLES && (opt.rate || (got_w & 15) == 0))
					samples[nb_samples++] = now - s->tsc;
			}
		}
		free_rest(1, rx, nb);
		/* drain what the switch sends back on port 0 (ARP, errors) */
		nb = rte_eth_rx_burst(0, 0, rx, BURST);
		free_rest(0, rx, nb);
	}
	t_meas = end - measure_from;
	/* frames still in flight when the window closed are counted as received if they arrive soon */
	end = rte_rdtsc() + hz / 20;
	while (rte_rdtsc() < end) {
		uint16_t nb = rte_eth_rx_burst(1, 0, rx, BURST), i;

		for (i = 0; i < nb; i++) {
			bool vxlan;
			const struct stamp *s = stamp_of(rx[i], &vxlan);

			if (s != NULL && s->tsc >= measure_from && s->tsc < measure_from + t_meas) {
				got_w++;
				got_vxlan_w += vxlan;
			}
		}
		free_rest(1, rx, nb);
	}
	qsort(samples, nb_samples, sizeof(samples[0]), cmp_u64);
	for (n = 0; n < (int)first_len; n++)
		snprintf(first_hex + 2 * n, 3, "%02x", first[n]);
	printf("{\"tx_pps\": %.0f, \"rx_pps\": %.0f, \"loss\": %.6f, \"sent\": %" PRIu64 ", \"received\": %"
	       PRIu64 ", \"received_vxlan\": %" PRIu64 ", \"rx_first\": \"%s\", \"arp_answers\": %" PRIu64 ", "
	       "\"rx_payload_bps\": %.0f, \"lat_min_ns\": %.0f, "
	       "\"lat_median_ns\": %.0f, \"lat_p99_ns\": %.0f, \"samples\": %u}\n",
	       (double)sent_w * (double)hz / (double)t_meas, (double)got_w * (double)hz / (double)t_meas,
	       sent_w ? 1.0 - (double)got_w / (double)sent_w : 0.0, sent, got, got_vxlan_w, first_hex, nb_arp_answers,
	       (double)payload_w * 8 * (double)hz / (double)t_meas,
	       nb_samples ? (double)samples[0] * 1e9 / (double)hz : 0,
	       nb_samples ? (double)samples[nb_samples / 2] * 1e9 / (double)hz : 0,
	       nb_samples ? (double)samples[nb_samples * 99 / 100] * 1e9 / (double)hz : 0, nb_samples);
	fflush(stdout);
	for (port = 0; port < 2; port++)
		rte_eth_dev_stop(port);
	rte_eal_cleanup();
	return 0;
}
