/* healthCheckNodePort answered by the control thread over a stateless TCP exchange (psw_health.h). */
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <rte_byteorder.h>
#include <rte_common.h>
#include <rte_ether.h>
#include <rte_hash_crc.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_random.h>
#include <rte_tcp.h>

#include "psw_ctl.h"
#include "psw_health.h"
#include "psw_k8s.h"
#include "psw_neigh.h"
#include "psw_port.h"

#define HEALTH_WINDOW 65535
#define HEALTH_TTL 64

/* A punted segment, parsed once: everything the answer depends on. */
struct segment {
	/** network order, IPv4 in the first 4 bytes; aligned: rte_hash_crc() loads them in words */
	uint8_t src[16] __rte_aligned(8), dst[16] __rte_aligned(8);
	uint8_t family;                  /**< 4 or 6 */
	const struct rte_tcp_hdr *th;
	unsigned payload;                /**< bytes of data after the TCP header */
};

static inline unsigned
addr_len(uint8_t family)
{
	return family == 4 ? 4 : 16;
}

/*
 * pkt as a TCP segment to the node: untagged IPv4 (options allowed) or
 * IPv6 with TCP directly after its header, whole in one mbuf, its lengths
 * consistent. Anything else is not answered: -1.
 */
static int
parse(const struct rte_mbuf *pkt, struct segment *s)
{
	const struct rte_ether_hdr *eth = rte_pktmbuf_mtod(pkt, const struct rte_ether_hdr *);
	unsigned len = rte_pktmbuf_data_len(pkt), hlen, total, tlen;
	const uint8_t *l3 = (const uint8_t *)(eth + 1);

	/* guard and parse checked it: untagged here (tagged health checks are not answered) */
	if (pkt->nb_segs != 1 || len < sizeof(*eth))
		return -1;
	len -= sizeof(*eth);
	if (eth->ether_type == RTE_BE16(RTE_ETHER_TYPE_IPV4)) {
		const struct rte_ipv4_hdr *ip = (const struct rte_ipv4_hdr *)l3;

		if (len < sizeof(*ip) || ip->next_proto_id != IPPROTO_TCP)
			return -1;
		hlen = rte_ipv4_hdr_len(ip);
		if (hlen < sizeof(*ip))
			return -1;
		total = rte_be_to_cpu_16(ip->total_length);
		s->family = 4;
		memcpy(s->src, &ip->src_addr, 4);
		memcpy(s->dst, &ip->dst_addr, 4);
	} else if (eth->ether_type == RTE_BE16(RTE_ETHER_TYPE_IPV6)) {
		const struct rte_ipv6_hdr *ip = (const struct rte_ipv6_hdr *)l3;

		if (len < sizeof(*ip) || ip->proto != IPPROTO_TCP)
			return -1;
		hlen = sizeof(*ip);
		total = hlen + rte_be_to_cpu_16(ip->payload_len);
		s->family = 6;
		memcpy(s->src, ip->src_addr, 16);
		memcpy(s->dst, ip->dst_addr, 16);
	} else {
		return -1;
	}
	if (total < hlen + sizeof(struct rte_tcp_hdr) || total > len)
		return -1;
	s->th = (const struct rte_tcp_hdr *)(l3 + hlen);
	tlen = (s->th->data_off >> 4) * 4u;
	if (tlen < sizeof(struct rte_tcp_hdr) || hlen + tlen > total)
		return -1;
	s->payload = total - hlen - tlen;
	return 0;
}

/* Our initial sequence number for a connection: keyed, so it cannot be guessed. */
static uint32_t
isn(const struct segment *s)
{
	static uint32_t secret;
	uint32_t h;

	if (secret == 0)
		secret = (uint32_t)rte_rand() | 1;
	h = rte_hash_crc(s->src, addr_len(s->family), secret);
	h = rte_hash_crc(s->dst, addr_len(s->family), h);
	return rte_hash_crc_4byte((uint32_t)s->th->src_port << 16 | s->th->dst_port, h);
}

/* The Service whose healthCheckNodePort is port: "namespace", "name" into ns / name. */
static void
service_of(const struct psw_state *st, uint16_t port, char *ns, size_t ns_len, char *name, size_t name_len)
{
	json_t *objs = psw_k8s_objects(st), *o;
	const char *key;

	snprintf(ns, ns_len, "%s", "");
	snprintf(name, name_len, "%s", "");
	json_object_foreach(objs, key, o) {
		json_t *meta = json_object_get(o, "metadata");

		if (strncmp(key, "Service/", 8) != 0 ||
		    json_integer_value(json_object_get(json_object_get(o, "spec"), "healthCheckNodePort")) != port)
			continue;
		snprintf(ns, ns_len, "%s", json_string_value(json_object_get(meta, "namespace")) ?: "");
		snprintf(name, name_len, "%s", json_string_value(json_object_get(meta, "name")) ?: "");
		return;
	}
}

/* kube-proxy's answer: the local endpoints, 200 with some and 503 without. */
static int
answer_text(const struct psw_state *st, uint16_t port, unsigned endpoints, char *buf, size_t len)
{
	char ns[64], name[256], body[512];
	int n;

	service_of(st, port, ns, sizeof(ns), name, sizeof(name));
	n = snprintf(body, sizeof(body), "{\"service\":{\"namespace\":\"%s\",\"name\":\"%s\"},"
		     "\"localEndpoints\":%u,\"serviceProxyHealthy\":true}\n", ns, name, endpoints);
	return snprintf(buf, len, "HTTP/1.1 %s\r\nContent-Type: application/json\r\n"
			"X-Content-Type-Options: nosniff\r\nX-Load-Balancing-Endpoint-Weight: %u\r\n"
			"Content-Length: %d\r\nConnection: close\r\n\r\n%s",
			endpoints > 0 ? "200 OK" : "503 Service Unavailable", endpoints, n, body);
}

/* The IP header of the answer to s at l3 (addresses swapped, l4_len bytes after it); its length. */
static unsigned
ip_header(const struct segment *s, void *l3, unsigned l4_len)
{
	struct rte_ipv4_hdr *ip4 = l3;
	struct rte_ipv6_hdr *ip6 = l3;

	if (s->family == 4) {
		memset(ip4, 0, sizeof(*ip4));
		ip4->version_ihl = RTE_IPV4_VHL_DEF;
		ip4->total_length = rte_cpu_to_be_16((uint16_t)(sizeof(*ip4) + l4_len));
		ip4->time_to_live = HEALTH_TTL;
		ip4->next_proto_id = IPPROTO_TCP;
		memcpy(&ip4->src_addr, s->dst, 4);
		memcpy(&ip4->dst_addr, s->src, 4);
		ip4->hdr_checksum = rte_ipv4_cksum(ip4);
		return sizeof(*ip4);
	}
	memset(ip6, 0, sizeof(*ip6));
	ip6->vtc_flow = RTE_BE32(6u << 28);
	ip6->payload_len = rte_cpu_to_be_16((uint16_t)l4_len);
	ip6->proto = IPPROTO_TCP;
	ip6->hop_limits = HEALTH_TTL;
	memcpy(ip6->src_addr, s->dst, 16);
	memcpy(ip6->dst_addr, s->src, 16);
	return sizeof(*ip6);
}

/* A segment back to the client of s (which came in req): flags, our sequence and acknowledgement numbers, data. */
static void
reply(struct psw_state *st, const struct rte_mbuf *req, const struct segment *s, uint8_t flags, uint32_t seq,
      uint32_t ack, const char *data, unsigned len)
{
	const struct rte_ether_hdr *qe = rte_pktmbuf_mtod(req, const struct rte_ether_hdr *);
	uint16_t port = req->port;
	struct rte_mempool *mp = psw_port_mempool(psw_ports[port].socket);
	struct rte_mbuf *pkt = mp != NULL ? rte_pktmbuf_alloc(mp) : NULL;
	unsigned l4_len = sizeof(struct rte_tcp_hdr) + len;
	unsigned l3_len = s->family == 4 ? sizeof(struct rte_ipv4_hdr) : sizeof(struct rte_ipv6_hdr);
	struct rte_ether_hdr *eth;
	struct rte_tcp_hdr *th;
	void *l3;

	if (pkt == NULL || rte_pktmbuf_append(pkt, (uint16_t)(sizeof(*eth) + l3_len + l4_len)) == NULL) {
		rte_pktmbuf_free(pkt);
		return;
	}
	eth = rte_pktmbuf_mtod(pkt, struct rte_ether_hdr *);
	eth->dst_addr = qe->src_addr;
	eth->src_addr = psw_ports[port].conf.uplink ? psw_ports[port].mac
						     : *(const struct rte_ether_addr *)st->cfg.node.gateway_mac;
	eth->ether_type = s->family == 4 ? RTE_BE16(RTE_ETHER_TYPE_IPV4) : RTE_BE16(RTE_ETHER_TYPE_IPV6);
	l3 = eth + 1;
	th = (struct rte_tcp_hdr *)((uint8_t *)l3 + ip_header(s, l3, l4_len));
	memset(th, 0, sizeof(*th));
	th->src_port = s->th->dst_port;
	th->dst_port = s->th->src_port;
	th->sent_seq = rte_cpu_to_be_32(seq);
	th->recv_ack = rte_cpu_to_be_32(ack);
	th->data_off = 5 << 4;
	th->tcp_flags = flags;
	th->rx_win = RTE_BE16(HEALTH_WINDOW);
	if (len > 0)
		memcpy(th + 1, data, len);
	th->cksum = s->family == 4 ? rte_ipv4_udptcp_cksum(l3, th) : rte_ipv6_udptcp_cksum(l3, th);
	psw_neigh_send(st, pkt, port);
}

void
psw_health_input(struct psw_state *st, const struct rte_mbuf *pkt)
{
	struct segment s;
	uint32_t seq, ours;
	uint8_t tcpf;
	char text[1024];
	int n;

	if (parse(pkt, &s) < 0)
		return;
	tcpf = s.th->tcp_flags;
	seq = rte_be_to_cpu_32(s.th->sent_seq);
	ours = isn(&s);
	if (tcpf & RTE_TCP_RST_FLAG)
		return;
	if ((tcpf & (RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG)) == RTE_TCP_SYN_FLAG) {
		reply(st, pkt, &s, RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG, ours, seq + 1, NULL, 0);
		return;
	}
	if (!(tcpf & RTE_TCP_ACK_FLAG) || rte_be_to_cpu_32(s.th->recv_ack) - (ours + 1) > 4096)
		return;                          /* not of a connection this side opened */
	n = answer_text(st, rte_be_to_cpu_16(s.th->dst_port), pkt->hash.fdir.lo, text, sizeof(text));
	if (s.payload > 0) {
		/* the request (read or not, it is answered whole), then our FIN */
		reply(st, pkt, &s, RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG | RTE_TCP_FIN_FLAG, ours + 1,
		      seq + s.payload + !!(tcpf & RTE_TCP_FIN_FLAG), text, (unsigned)n);
		return;
	}
	if (tcpf & RTE_TCP_FIN_FLAG)
		reply(st, pkt, &s, RTE_TCP_ACK_FLAG, ours + 1 + (unsigned)n + 1, seq + 1, NULL, 0);
}
