/* healthCheckNodePort answered by the control thread over a stateless TCP exchange (psw_health.h). */
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include <rte_byteorder.h>
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

/* Our initial sequence number for a connection: keyed, so it cannot be guessed. */
static uint32_t
isn(const struct rte_ipv4_hdr *ip, const struct rte_tcp_hdr *th)
{
	static uint32_t secret;
	uint32_t h;

	if (secret == 0)
		secret = (uint32_t)rte_rand() | 1;
	h = rte_hash_crc_4byte(ip->src_addr, secret);
	h = rte_hash_crc_4byte(ip->dst_addr, h);
	return rte_hash_crc_4byte((uint32_t)th->src_port << 16 | th->dst_port, h);
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

/* A segment back to the client: flags, our sequence and acknowledgement numbers, data. */
static void
reply(struct psw_state *st, const struct rte_mbuf *req, uint8_t flags, uint32_t seq, uint32_t ack,
      const char *data, unsigned len)
{
	const struct rte_ether_hdr *qe = rte_pktmbuf_mtod(req, const struct rte_ether_hdr *);
	const struct rte_ipv4_hdr *qi = (const struct rte_ipv4_hdr *)(qe + 1);
	const struct rte_tcp_hdr *qt = (const struct rte_tcp_hdr *)((const uint8_t *)qi + rte_ipv4_hdr_len(qi));
	uint16_t port = req->port;
	struct rte_mempool *mp = psw_port_mempool(psw_ports[port].socket);
	struct rte_mbuf *pkt = mp != NULL ? rte_pktmbuf_alloc(mp) : NULL;
	unsigned total = sizeof(struct rte_ether_hdr) + sizeof(struct rte_ipv4_hdr) + sizeof(struct rte_tcp_hdr) + len;
	struct rte_ether_hdr *eth;
	struct rte_ipv4_hdr *ip;
	struct rte_tcp_hdr *th;

	if (pkt == NULL || rte_pktmbuf_append(pkt, (uint16_t)total) == NULL) {
		rte_pktmbuf_free(pkt);
		return;
	}
	eth = rte_pktmbuf_mtod(pkt, struct rte_ether_hdr *);
	eth->dst_addr = qe->src_addr;
	eth->src_addr = psw_ports[port].conf.uplink ? psw_ports[port].mac
						     : *(const struct rte_ether_addr *)st->cfg.node.gateway_mac;
	eth->ether_type = RTE_BE16(RTE_ETHER_TYPE_IPV4);
	ip = (struct rte_ipv4_hdr *)(eth + 1);
	memset(ip, 0, sizeof(*ip));
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->total_length = rte_cpu_to_be_16((uint16_t)(total - sizeof(*eth)));
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_TCP;
	ip->src_addr = qi->dst_addr;
	ip->dst_addr = qi->src_addr;
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	th = (struct rte_tcp_hdr *)(ip + 1);
	memset(th, 0, sizeof(*th));
	th->src_port = qt->dst_port;
	th->dst_port = qt->src_port;
	th->sent_seq = rte_cpu_to_be_32(seq);
	th->recv_ack = rte_cpu_to_be_32(ack);
	th->data_off = 5 << 4;
	th->tcp_flags = flags;
	th->rx_win = RTE_BE16(HEALTH_WINDOW);
	if (len > 0)
		memcpy(th + 1, data, len);
	th->cksum = rte_ipv4_udptcp_cksum(ip, th);
	psw_neigh_send(st, pkt, port);
}

void
psw_health_input(struct psw_state *st, const struct rte_mbuf *pkt)
{
	const struct rte_ether_hdr *eth = rte_pktmbuf_mtod(pkt, const struct rte_ether_hdr *);
	const struct rte_ipv4_hdr *ip = (const struct rte_ipv4_hdr *)(eth + 1);
	const struct rte_tcp_hdr *th;
	unsigned hlen, tlen, total, payload;
	uint32_t seq, ours;
	char text[1024];
	int n;

	/* guard and parse checked it: untagged here (tagged health checks are not answered) */
	if (pkt->nb_segs != 1 || eth->ether_type != RTE_BE16(RTE_ETHER_TYPE_IPV4) ||
	    rte_pktmbuf_data_len(pkt) < sizeof(*eth) + sizeof(*ip))
		return;
	hlen = rte_ipv4_hdr_len(ip);
	total = rte_be_to_cpu_16(ip->total_length);
	if (total < hlen + sizeof(*th) || sizeof(*eth) + total > rte_pktmbuf_data_len(pkt))
		return;
	th = (const struct rte_tcp_hdr *)((const uint8_t *)ip + hlen);
	tlen = (th->data_off >> 4) * 4u;
	if (tlen < sizeof(*th) || hlen + tlen > total)
		return;
	payload = total - hlen - tlen;
	seq = rte_be_to_cpu_32(th->sent_seq);
	ours = isn(ip, th);
	if (th->tcp_flags & RTE_TCP_RST_FLAG)
		return;
	if ((th->tcp_flags & (RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG)) == RTE_TCP_SYN_FLAG) {
		reply(st, pkt, RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG, ours, seq + 1, NULL, 0);
		return;
	}
	if (!(th->tcp_flags & RTE_TCP_ACK_FLAG) || rte_be_to_cpu_32(th->recv_ack) - (ours + 1) > 4096)
		return;                          /* not of a connection this side opened */
	n = answer_text(st, rte_be_to_cpu_16(th->dst_port), pkt->hash.fdir.lo, text, sizeof(text));
	if (payload > 0) {
		/* the request (read or not, it is answered whole), then our FIN */
		reply(st, pkt, RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG | RTE_TCP_FIN_FLAG, ours + 1,
		      seq + payload + !!(th->tcp_flags & RTE_TCP_FIN_FLAG), text, (unsigned)n);
		return;
	}
	if (th->tcp_flags & RTE_TCP_FIN_FLAG)
		reply(st, pkt, RTE_TCP_ACK_FLAG, ours + 1 + (unsigned)n + 1, seq + 1, NULL, 0);
}
