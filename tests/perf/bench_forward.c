/*
 * Forwarding benchmark (never a test): cycles per packet of the pipeline
 * (parse -> guard -> forward) called in process on 32-packet bursts, and
 * packets per second through a real worker lcore between two ring ports.
 * Prints a table and, with -j FILE, one JSON object per scenario.
 *
 *   bench_forward [-r RUNS] [-j FILE]
 *
 * The generator runs on EAL lcore 0 (CPU 0) and the worker on lcore 1
 * (CPU 1 when the machine has it): one core each.
 */
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_launch.h>
#include <rte_malloc.h>
#include <rte_ring.h>
#include <valgrind/callgrind.h>

#include "../unit/pkt_build.h"
#include "psw_capture.h"
#include "psw_capture_ctl.h"
#include "psw_ct.h"
#include "psw_ct_ctl.h"
#include "psw_forward_ctl.h"
#include "psw_tunnel.h"
#include "psw_policy.h"
#include "psw_policy_ctl.h"
#include "psw_service.h"
#include "psw_port.h"
#include "psw_service_ctl.h"
#include "psw_state.h"
#include "psw_trace.h"
#include "psw_worker.h"

#define MAX_RUNS 15
#define POOL_PKTS 4096
#define GW_MAC { 0x02, 0x50, 0x53, 0x57, 0x00, 0x01 }

struct result {
	const char *name;
	double values[MAX_RUNS];
	unsigned nb;
};

static unsigned nb_runs = 7;
static const char *only;      /* -s: run only scenarios whose name has this */

static bool
selected(const char *name)
{
	return only == NULL || strstr(name, only) != NULL;
}
static FILE *json;
static struct rte_mempool *mp;

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
median(struct result *r)
{
	qsort(r->values, r->nb, sizeof(double), cmp_double);
	return r->nb % 2 ? r->values[r->nb / 2]
			 : (r->values[r->nb / 2 - 1] + r->values[r->nb / 2]) / 2;
}

static const char *scenario_suffix = "";   /* " [2M pages]" with -H */

static void
report(const char *scenario, const char *unit, struct result *r, const char *note)
{
	double med = median(r);

	char name[96];

	snprintf(name, sizeof(name), "%s%s", scenario, scenario_suffix);
	printf("%-52s %10.1f %-12s (min %.1f, max %.1f, %u runs) %s\n", name, med, unit,
	       r->values[0], r->values[r->nb - 1], r->nb, note);
	if (json != NULL)
		fprintf(json, "{\"scenario\": \"%s\", \"unit\": \"%s\", \"median\": %.2f, "
			"\"min\": %.2f, \"max\": %.2f, \"runs\": %u, \"note\": \"%s\"}\n",
			name, unit, med, r->values[0], r->values[r->nb - 1], r->nb, note);
}

/*
 * Under callgrind (scripts/bench runs it so): only the timed calls are
 * collected, and each scenario ends with a dump named "psw|scenario|packets"
 * from which the script derives instructions per packet.
 */
static void
count_end(const char *name, uint64_t packets)
{
	char desc[160];

	if (!RUNNING_ON_VALGRIND)
		return;
	snprintf(desc, sizeof(desc), "psw|%s|%" PRIu64, name, packets);
	CALLGRIND_DUMP_STATS_AT(desc);
}

/* Tables with pod a on port 0 and nb_pods more pods on port 1. */
static struct psw_tables *
make_tables(unsigned nb_pods)
{
	static const uint8_t gw_mac[6] = GW_MAC;
	struct psw_tables *t = psw_tables_alloc();
	struct psw_pod *pods = calloc(nb_pods + 1, sizeof(*pods));
	unsigned i;

	t->node.gw4 = rte_cpu_to_be_32(0x0af40001);
	t->node.gw6[0] = 0xfd;
	t->node.gw6[15] = 1;
	t->node.has_ip6 = 1;
	memcpy(&t->node.gw_mac, gw_mac, 6);
	t->node.pod_net4 = rte_cpu_to_be_32(0x0af40000);
	t->node.pod_mask4 = rte_cpu_to_be_32(0xfffc0000);
	t->ports[0] = (struct psw_port_info){ .present = 1, .is_pod = 1, .pod = 0 };
	t->ports[1] = (struct psw_port_info){ .present = 1, .is_pod = 1, .pod = 1 };
	for (i = 0; i <= nb_pods; i++) {
		pods[i].nh.port = i == 0 ? 0 : 1;
		pods[i].nh.mac.addr_bytes[0] = 2;
		pods[i].nh.mac.addr_bytes[4] = (uint8_t)(i >> 8);
		pods[i].nh.mac.addr_bytes[5] = (uint8_t)i;
		pods[i].has_ip4 = pods[i].has_ip6 = 1;
		pods[i].ip4 = rte_cpu_to_be_32(0x0af40000 + 10 + i);
		pods[i].ip6[0] = 0xfd;
		pods[i].ip6[13] = (uint8_t)(i >> 16);
		pods[i].ip6[14] = (uint8_t)(i >> 8);
		pods[i].ip6[15] = (uint8_t)(10 + i);
	}
	t->pods = psw_pod_table_build(pods, nb_pods + 1, SOCKET_ID_ANY);
	t->routes = psw_route_table_build(NULL, 0, SOCKET_ID_ANY);
	free(pods);
	return t;
}

/* Template frame i of a flow set: pod a to one of nb_dst pods, UDP, 64 bytes. */
static void
template(struct tpkt *p, unsigned i, unsigned nb_dst, int ip6)
{
	unsigned dst = 1 + i % nb_dst;

	tpkt_defaults(p);
	p->ip6 = ip6;
	p->src_mac[0] = 2;
	p->src_mac[5] = 0;
	memcpy(p->dst_mac, (uint8_t[])GW_MAC, 6);
	p->src4 = 0x0af4000a;
	p->dst4 = 0x0af4000a + dst;
	p->src6[0] = 0xfd;
	p->src6[15] = 10;
	p->dst6[0] = 0xfd;
	p->dst6[13] = (uint8_t)(dst >> 16);
	p->dst6[14] = (uint8_t)(dst >> 8);
	p->dst6[15] = (uint8_t)(10 + dst);
	p->sport = (uint16_t)(1024 + i);
	p->payload = ip6 ? 0 : 18;   /* 64-byte IPv4 frame; 62+ for IPv6 */
}

/*
 * Time the pipeline on POOL_PKTS frames (their bytes in copies, restored
 * before each burst, untimed, headers prepended or cut included): cycles per
 * packet of 32-packet bursts from in_port, each checked to leave on
 * want_port. Frees the frames.
 */
static void
time_pipeline(const char *name, const struct psw_tables *t, struct rte_mbuf **frames, uint8_t (*copies)[128],
	      const uint16_t *lens, uint16_t in_port, uint16_t want_port, const char *note)
{
	const unsigned bursts = 20000;
	struct result r = { .name = name };
	struct psw_lcore *lc = rte_zmalloc("lc", sizeof(*lc), RTE_CACHE_LINE_SIZE);
	struct psw_burst b;
	unsigned i, run;

	if (lc == NULL)
		exit(1);
	psw_lcore_init(lc);
	for (run = 0; run < nb_runs; run++) {
		uint64_t cycles = 0;
		unsigned k = 0;

		for (i = 0; i < bursts; i++) {
			uint64_t t0;
			unsigned j;

			for (j = 0; j < PSW_BURST_MAX; j++, k = (k + 1) % POOL_PKTS) {
				struct rte_mbuf *m = frames[k];

				m->data_off = RTE_PKTMBUF_HEADROOM;
				m->data_len = lens[k];
				m->pkt_len = lens[k];
				memcpy(rte_pktmbuf_mtod(m, void *), copies[k], lens[k]);
				b.pkts[j] = m;
				b.meta[j].in_port = in_port;
			}
			b.nb = PSW_BURST_MAX;
			CALLGRIND_TOGGLE_COLLECT;       /* under callgrind: count only this */
			t0 = rte_rdtsc_precise();
			psw_worker_process(lc, t, &b);
			cycles += rte_rdtsc_precise() - t0;
			CALLGRIND_TOGGLE_COLLECT;
			if (b.meta[0].verdict != PSW_V_TX || b.meta[0].out_port != want_port) {
				fprintf(stderr, "%s: packet not forwarded (verdict %u reason %s)\n", name,
					b.meta[0].verdict, psw_drop_name(b.meta[0].drop_reason));
				exit(1);
			}
		}
		r.values[r.nb++] = (double)cycles / ((double)bursts * PSW_BURST_MAX);
	}
	report(name, "cycles/pkt", &r, note);
	count_end(name, (uint64_t)nb_runs * bursts * PSW_BURST_MAX);
	for (i = 0; i < POOL_PKTS; i++)
		rte_pktmbuf_free(frames[i]);
	rte_free(lc);
}

/* Pipeline cycles per packet, in process, one core. */
static void
bench_pipeline(const char *name, unsigned nb_dst, int ip6)
{
	static struct rte_mbuf *frames[POOL_PKTS];
	static uint8_t copies[POOL_PKTS][128];
	static uint16_t lens[POOL_PKTS];
	struct psw_tables *t;
	unsigned i;

	if (!selected(name))
		return;
	t = make_tables(nb_dst);
	for (i = 0; i < POOL_PKTS; i++) {
		struct tpkt p;

		template(&p, i, nb_dst, ip6);
		frames[i] = tpkt_build(mp, &p);
		lens[i] = rte_pktmbuf_data_len(frames[i]);
		memcpy(copies[i], rte_pktmbuf_mtod(frames[i], void *), lens[i]);
	}
	time_pipeline(name, t, frames, copies, lens, 0, 1, "parse+guard+forward, 32-packet bursts, 1 core");
	psw_pod_table_put(t->pods);
	psw_route_table_put(t->routes);
	rte_free(t);
}

/*
 * What a trace costs while it is armed and matches nothing (its filter run
 * over every packet, issue 18); off, it is "pipeline IPv4 pod->pod, 2 pods".
 */
static void
bench_trace_armed(const char *name, const char *filter)
{
	struct psw_trace_arm *a;
	char err[PCAP_ERRBUF_SIZE];
	const char *saved;

	if (!selected(name))
		return;
	a = calloc(1, sizeof(*a));
	if (a == NULL || psw_trace_init(1) < 0 || psw_filter_compile(&a->filter, filter, 65535, err, sizeof(err)) < 0)
		exit(1);
	a->id = 1;
	a->port = PSW_PORT_NONE;
	a->count = a->left = 1;
	__atomic_store_n(&psw_trace_armed, a, __ATOMIC_RELEASE);
	saved = only;
	only = NULL;                             /* selected already: bench_pipeline runs it under this name */
	bench_pipeline(name, 1, 0);
	only = saved;
	__atomic_store_n(&psw_trace_armed, NULL, __ATOMIC_RELEASE);
	psw_filter_free(&a->filter);
	free(a);
	psw_trace_fini();
}

/*
 * Across nodes (issue 16): the pipeline for a pod's packet to a pod of
 * another node, routed natively (out of the uplink to the other node's MAC)
 * or encapsulated in VXLAN, and for the other node's pod's packet to a pod
 * of this one, routed natively (in from the uplink) or in VXLAN
 * (decapsulated, checked against its sender, forwarded). Encap against
 * native out, decap against native in, is what the overlay adds to the
 * routed path; against "pipeline IPv4 pod->pod, 2 pods", what it adds to
 * the L3 path between two pods.
 */
enum overlay_mode { OV_NATIVE, OV_ENCAP, OV_DECAP, OV_NATIVE_IN };

#define OV_UPLINK 2
#define OV_NODE   0xc0a85801u            /* 192.168.88.1, this node */
#define OV_OTHER  0xc0a85802u            /* 192.168.88.2, the other node */
#define OV_VNI    1

static const uint8_t ov_up_mac[6] = { 0x02, 0x50, 0x53, 0x57, 0x00, 0x02 };
static const uint8_t ov_other_mac[6] = { 0x02, 0x00, 0x00, 0x00, 0x88, 0x02 };

/* Pod a (10.244.0.10) on port 0, an uplink, and the other node's 10.245.0.0/16 behind it. */
static struct psw_tables *
overlay_tables(bool vxlan)
{
	struct psw_tables *t = make_tables(1);
	struct psw_route_spec r = { .prefix = { .family = 4, .len = 16 } };
	uint32_t net = rte_cpu_to_be_32(0x0af50000);

	t->node.nb_addrs = 1;
	t->node.addrs4[0] = rte_cpu_to_be_32(OV_NODE);
	t->node.uplink_mtu = 1500;
	t->node.overlay = vxlan;
	t->node.tunnel_port = RTE_BE16(4789);
	t->node.vni = OV_VNI;
	psw_tunnel_prepare(&t->node);
	t->ports[0].mtu = t->ports[1].mtu = 1500;
	t->ports[OV_UPLINK] = (struct psw_port_info){ .present = 1, .is_uplink = 1, .mtu = 1500 };
	memcpy(&t->ports[OV_UPLINK].mac, ov_up_mac, 6);
	memcpy(r.prefix.addr, &net, 4);
	r.nh.port = OV_UPLINK;
	memcpy(&r.nh.mac, ov_other_mac, 6);
	if (vxlan) {
		r.nh.flags = PSW_NH_F_TUNNEL;
		r.nh.tunnel_dst = rte_cpu_to_be_32(OV_OTHER);
	}
	psw_route_table_put(t->routes);
	t->routes = psw_route_table_build(&r, 1, SOCKET_ID_ANY);
	if (t->routes == NULL) {
		fprintf(stderr, "overlay: route table: %s\n", rte_strerror(rte_errno));
		exit(1);
	}
	return t;
}

/*
 * Frame i: pod a to remote pods (native, encap), or a remote pod to pod a,
 * routed natively (native in) or in VXLAN (decap).
 */
static struct rte_mbuf *
overlay_frame(unsigned i, enum overlay_mode mode)
{
	struct tpkt p;
	struct rte_mbuf *m;
	struct rte_ipv4_hdr *ip;
	struct rte_udp_hdr *udp;
	uint8_t *d;

	tpkt_defaults(&p);
	p.sport = (uint16_t)(1024 + i);
	p.payload = 18;                          /* 64-byte inner frame */
	if (mode == OV_NATIVE || mode == OV_ENCAP) {
		p.src_mac[0] = 2;
		memcpy(p.dst_mac, (uint8_t[])GW_MAC, 6);
		p.src4 = 0x0af4000a;
		p.dst4 = 0x0af50000 + 10 + i % 64;
		return tpkt_build(mp, &p);
	}
	memcpy(p.src_mac, ov_other_mac, 6);
	memcpy(p.dst_mac, ov_up_mac, 6);
	p.src4 = 0x0af50000 + 10 + i % 64;
	p.dst4 = 0x0af4000a;
	m = tpkt_build(mp, &p);
	if (mode == OV_NATIVE_IN)
		return m;
	d = m != NULL ? (uint8_t *)rte_pktmbuf_prepend(m, 50) : NULL;
	if (d == NULL) {
		fprintf(stderr, "overlay: no mbuf or headroom\n");
		exit(1);
	}
	memset(d, 0, 50);
	memcpy(d, ov_up_mac, 6);
	memcpy(d + 6, ov_other_mac, 6);
	*(uint16_t *)(d + 12) = RTE_BE16(RTE_ETHER_TYPE_IPV4);
	ip = (struct rte_ipv4_hdr *)(d + 14);
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->total_length = rte_cpu_to_be_16((uint16_t)(rte_pktmbuf_data_len(m) - 14));
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_UDP;
	ip->src_addr = rte_cpu_to_be_32(OV_OTHER);
	ip->dst_addr = rte_cpu_to_be_32(OV_NODE);
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	udp = (struct rte_udp_hdr *)(ip + 1);
	udp->src_port = rte_cpu_to_be_16((uint16_t)(49152 + i % 1024));
	udp->dst_port = RTE_BE16(4789);
	udp->dgram_len = rte_cpu_to_be_16((uint16_t)(rte_pktmbuf_data_len(m) - 34));
	d[42] = 0x08;                            /* flags: VNI present */
	d[46] = OV_VNI >> 16 & 0xff;             /* VNI, 24 bits, network order */
	d[47] = OV_VNI >> 8 & 0xff;
	d[48] = OV_VNI & 0xff;
	return m;
}

static void
bench_overlay(const char *name, enum overlay_mode mode)
{
	static struct rte_mbuf *frames[POOL_PKTS];
	static uint8_t copies[POOL_PKTS][128];
	static uint16_t lens[POOL_PKTS];
	struct psw_tables *t;
	unsigned i;
	bool in;

	if (!selected(name))
		return;
	t = overlay_tables(mode == OV_ENCAP || mode == OV_DECAP);
	for (i = 0; i < POOL_PKTS; i++) {
		frames[i] = overlay_frame(i, mode);
		lens[i] = rte_pktmbuf_data_len(frames[i]);
		memcpy(copies[i], rte_pktmbuf_mtod(frames[i], void *), lens[i]);
	}
	in = mode == OV_DECAP || mode == OV_NATIVE_IN;
	time_pipeline(name, t, frames, copies, lens, in ? OV_UPLINK : 0, in ? 0 : OV_UPLINK,
		      mode == OV_NATIVE	    ? "parse+guard+forward to the other node's MAC on the uplink"
		      : mode == OV_ENCAP    ? "parse+guard+forward+VXLAN encapsulation"
		      : mode == OV_NATIVE_IN ? "parse+guard+forward from the uplink to a local pod"
					    : "parse+VXLAN decapsulation+checks+guard+forward to a local pod");
	psw_pod_table_put(t->pods);
	psw_route_table_put(t->routes);
	rte_free(t);
}

/*
 * What the Service scenarios send: a client pod to a ClusterIP; a client
 * outside the cluster, on the uplink, to a NodePort of policy Cluster (its
 * source masqueraded to the node's address); a pod to an address outside
 * the cluster (egress, masqueraded; no Service).
 */
enum svc_mode { SVC_CLUSTERIP, SVC_NODEPORT, SVC_EGRESS };

#define EDGE_CLIENT 0xc0a85832u          /* 192.168.88.50, outside the cluster, on the uplink */
#define EDGE_SERVER 0xc0a86301u          /* 192.168.99.1, outside, behind the uplink's router */
#define EDGE_NODEPORT 30080

/* TCP packet of flow f (port 80 + f / 60000 of the Service, or of the NodePort, or of the server). */
static void
flow_tpkt(struct tpkt *p, uint64_t f, enum svc_mode mode)
{
	tpkt_defaults(p);
	p->proto = IPPROTO_TCP;
	p->src_mac[0] = 2;
	memcpy(p->dst_mac, (uint8_t[])GW_MAC, 6);
	p->src4 = 0x0af4000a;
	p->dst4 = 0x0a600010;
	p->sport = (uint16_t)(1024 + f % 60000);
	p->dport = (uint16_t)(80 + f / 60000);
	p->payload = 6;
	if (mode == SVC_NODEPORT) {
		memcpy(p->src_mac, ov_other_mac, 6);
		memcpy(p->dst_mac, ov_up_mac, 6);
		p->src4 = EDGE_CLIENT;
		p->dst4 = OV_NODE;
		p->dport = (uint16_t)(EDGE_NODEPORT + f / 60000);
	} else if (mode == SVC_EGRESS) {
		p->dst4 = EDGE_SERVER;
		p->dport = (uint16_t)(443 + f / 60000);
	}
}

/*
 * The node's side of the edge scenarios: its address on an uplink (port
 * OV_UPLINK), a default route out of it to a router's MAC, and pods' IPv4
 * to outside the pod and Service ranges masqueraded.
 */
static void
edge_tables(struct psw_tables *t)
{
	struct psw_route_spec r = { .prefix = { .family = 4, .len = 0 } };

	t->node.nb_addrs = 1;
	t->node.addrs4[0] = rte_cpu_to_be_32(OV_NODE);
	t->node.uplink_mtu = 1500;
	t->node.masq = 1;
	t->node.nomasq[0].net = rte_cpu_to_be_32(0x0af40000);        /* 10.244.0.0/14, the pods */
	t->node.nomasq[0].mask = rte_cpu_to_be_32(0xfffc0000);
	t->node.nomasq[1].net = rte_cpu_to_be_32(0x0a600000);        /* 10.96.0.0/12, the Services */
	t->node.nomasq[1].mask = rte_cpu_to_be_32(0xfff00000);
	t->node.nb_nomasq = 2;
	t->ports[OV_UPLINK] = (struct psw_port_info){ .present = 1, .is_uplink = 1, .mtu = 1500 };
	memcpy(&t->ports[OV_UPLINK].mac, ov_up_mac, 6);
	r.nh.port = OV_UPLINK;
	memcpy(&r.nh.mac, ov_other_mac, 6);
	psw_route_table_put(t->routes);
	t->routes = psw_route_table_build(&r, 1, SOCKET_ID_ANY);
	if (t->routes == NULL) {
		fprintf(stderr, "edge: route table: %s\n", rte_strerror(rte_errno));
		exit(1);
	}
}

/*
 * Service pipeline (parse, guard, conntrack, service, forward) in process:
 * a client pod to a ClusterIP with 10 backends. Established: every packet
 * belongs to one of nb_flows known connections (TCP ACKs, DNAT on each);
 * one client has 60000 source ports, so more flows use more Service ports
 * (flow f: port 80 + f / 60000). The connections are opened once, untimed,
 * and the timed packets walk through all of them in turn across the runs.
 * New: every packet is a new connection (TCP SYN: service pick, Maglev,
 * conntrack insert, DNAT).
 */
/*
 * A NetworkPolicy load for the Service scenarios: the backends' port
 * isolated for ingress by nb_rules rules (nb_rules - 1 that do not match
 * the client: other /32 sources on other ports, and one that allows the
 * client's pod range to the backends' ports), the client's port isolated
 * for egress by one rule (to the pod range).
 */
static struct psw_pol_table *
make_policy(unsigned nb_rules)
{
	struct psw_pol_table *pt = calloc(1, sizeof(*pt));
	struct psw_pol_rule *rules = calloc(nb_rules + 1, sizeof(*rules));
	uint16_t slots[1] = { 0 };
	const uint16_t *iso[2] = { slots, slots };
	unsigned i, nb_iso[2] = { 1, 0 };
	bool in_only[2] = { true, false }, out_only[2] = { false, true };
	uint32_t a;

	for (i = 0; i + 1 < nb_rules; i++) {
		rules[i].family = 4;
		rules[i].proto = IPPROTO_TCP;
		rules[i].plen = 32;
		rules[i].dir = PSW_POL_INGRESS;
		rules[i].port_lo = rules[i].port_hi = (uint16_t)(1000 + i % 5000);
		a = rte_cpu_to_be_32(0xc0a80000 + i);          /* 192.168.x.y */
		memcpy(rules[i].addr, &a, 4);
		rules[i].ref.rule = (uint16_t)i;
	}
	rules[i].family = 4;
	rules[i].proto = IPPROTO_TCP;
	rules[i].plen = 14;
	rules[i].dir = PSW_POL_INGRESS;
	rules[i].port_lo = 8080;
	rules[i].port_hi = 8180;
	a = rte_cpu_to_be_32(0x0af40000);
	memcpy(rules[i].addr, &a, 4);
	pt->ports[1] = psw_pol_port_build(in_only, rules, nb_rules, iso, nb_iso, SOCKET_ID_ANY);
	memset(&rules[0], 0, sizeof(rules[0]));
	rules[0].family = 4;
	rules[0].plen = 14;
	rules[0].dir = PSW_POL_EGRESS;
	rules[0].port_hi = UINT16_MAX;
	memcpy(rules[0].addr, &a, 4);
	nb_iso[0] = 0;
	nb_iso[1] = 1;
	pt->ports[0] = psw_pol_port_build(out_only, rules, 1, iso, nb_iso, SOCKET_ID_ANY);
	if (pt->ports[0] == NULL || pt->ports[1] == NULL) {
		fprintf(stderr, "policy with %u rules not built: %s\n", nb_rules, rte_strerror(rte_errno));
		exit(1);
	}
	pt->nb_isolated = 2;
	pt->gen = 1;
	free(rules);
	return pt;
}

static void
free_policy(struct psw_pol_table *pt)
{
	if (pt == NULL)
		return;
	psw_pol_port_free(pt->ports[0]);
	psw_pol_port_free(pt->ports[1]);
	free(pt);
}

/* The first packet of the burst left translated: to a backend pod from the node (NodePort), or from the node (egress). */
static bool
edge_translated(struct psw_burst *b, enum svc_mode mode)
{
	const struct rte_ipv4_hdr *ip = rte_pktmbuf_mtod_offset(b->pkts[0], const struct rte_ipv4_hdr *, 14);

	if (mode == SVC_NODEPORT)
		return b->meta[0].out_port == 1 && ip->src_addr == rte_cpu_to_be_32(OV_NODE) &&
		       ip->dst_addr != rte_cpu_to_be_32(OV_NODE);
	return b->meta[0].out_port == OV_UPLINK && ip->src_addr == rte_cpu_to_be_32(OV_NODE) &&
	       ip->dst_addr == rte_cpu_to_be_32(EDGE_SERVER);
}

static void
bench_service(const char *name, unsigned nb_flows, bool established, unsigned nb_rules, enum svc_mode mode)
{
	/* new connections: 1500 x 32 = 48000 distinct source ports per run */
	const unsigned nb_backends = 10, bursts = established ? 20000 : 1500;
	struct psw_tables *t;
	struct psw_lcore *lc;
	struct psw_svc_backend be[10];
	/* counted to a Service's slot, as in the switch */
	struct psw_svc_spec spec = { .nb_backends = nb_backends, .backends = be, .cslot = 1 };
	const unsigned nb_ports = established ? (nb_flows + 59999) / 60000 : 1;
	struct rte_mbuf *frames[PSW_BURST_MAX];
	uint8_t tmpl[PSW_BURST_MAX][128];
	uint16_t len = 0;
	struct result r = { .name = name };
	struct psw_burst b;
	unsigned i, j, run;
	uint32_t vip = rte_cpu_to_be_32(mode == SVC_NODEPORT ? OV_NODE : 0x0a600010);
	uint16_t in_port = mode == SVC_NODEPORT ? OV_UPLINK : 0;

	if (!selected(name))
		return;
	t = make_tables(nb_backends);
	if (mode != SVC_CLUSTERIP)
		edge_tables(t);
	lc = rte_zmalloc("lc", sizeof(*lc), RTE_CACHE_LINE_SIZE);
	if (lc != NULL)
		psw_lcore_init(lc);
	memset(&spec.key, 0, sizeof(spec.key));
	spec.key.family = 4;
	spec.key.proto = IPPROTO_TCP;
	spec.key.port = rte_cpu_to_be_16(80);
	memcpy(spec.key.addr, &vip, 4);
	if (mode == SVC_NODEPORT)
		spec.flags = PSW_SVC_F_MASQ;     /* externalTrafficPolicy Cluster */
	for (i = 0; i < nb_backends; i++) {
		memset(&be[i], 0, sizeof(be[i]));
		be[i].family = 4;
		be[i].port = rte_cpu_to_be_16(8080);
		memcpy(be[i].addr, &t->pods->pods[1 + i].ip4, 4);
	}
	t->svcs = psw_svc_table_create(1024, SOCKET_ID_ANY);
	for (i = 0; t->svcs != NULL && mode != SVC_EGRESS && i < nb_ports; i++) {
		spec.key.port = rte_cpu_to_be_16((uint16_t)((mode == SVC_NODEPORT ? EDGE_NODEPORT : 80) + i));
		for (j = 0; j < nb_backends; j++)      /* distinct targets: no reply-tuple clash */
			be[j].port = rte_cpu_to_be_16((uint16_t)(8080 + i));
		if (psw_svc_table_set(t->svcs, psw_svc_port_build(&spec, 0, SOCKET_ID_ANY)) < 0) {
			fprintf(stderr, "%s: Service port %u not built\n", name, 80 + i);
			exit(1);
		}
	}
	t->ct = psw_ct_create(1u << 20, SOCKET_ID_ANY, psw_tables_qsbr());
	lc->sc.svc = rte_zmalloc("svc", PSW_SVC_MAX_SLOTS * sizeof(*lc->sc.svc), 0);
	if (nb_rules > 0) {
		t->pol = make_policy(nb_rules);
		lc->sc.pol = rte_zmalloc("pol", PSW_POL_MAX_SLOTS * sizeof(*lc->sc.pol), 0);
	}
	if (t->svcs == NULL || t->ct == NULL) {
		fprintf(stderr, "%s: no memory\n", name);
		exit(1);
	}
	for (j = 0; j < PSW_BURST_MAX; j++)
		frames[j] = rte_pktmbuf_alloc(mp);
	for (run = 0; run < nb_runs; run++) {
		static uint64_t flow;     /* established: continues across runs */
		uint64_t cycles = 0, sport = 0;

		if (!established || run == 0) {
			psw_ct_expire(t->ct, t->ct->size, true);
			flow = 0;
		}
		if (established && run == 0) {
			/* open the connections first (SYNs, not timed) */
			for (sport = 0; sport < nb_flows; sport++) {
				struct tpkt p;
				struct rte_mbuf *m;

				flow_tpkt(&p, sport, mode);
				m = tpkt_build(mp, &p);
				b.nb = 1;
				b.pkts[0] = m;
				b.meta[0].in_port = in_port;
				psw_worker_process(lc, t, &b);
				rte_pktmbuf_free(m);
			}
			if (psw_ct_count(t->ct) != nb_flows) {
				fprintf(stderr, "%s: %u of %u connections opened\n", name,
					psw_ct_count(t->ct), nb_flows);
				exit(1);
			}
		}
		for (i = 0; i < bursts; i++) {
			uint64_t t0;

			for (j = 0; j < PSW_BURST_MAX; j++, sport++) {
				uint64_t f = established ? flow++ % nb_flows : sport;
				struct tpkt p;
				struct rte_mbuf *m = frames[j];

				flow_tpkt(&p, f, mode);
				rte_pktmbuf_reset(m);
				{
					struct rte_mbuf *x = tpkt_build(mp, &p);

					len = rte_pktmbuf_data_len(x);
					memcpy(tmpl[j], rte_pktmbuf_mtod(x, void *), len);
					rte_pktmbuf_free(x);
				}
				memcpy(rte_pktmbuf_append(m, len), tmpl[j], len);
				if (established)   /* an ACK of the open connection */
					rte_pktmbuf_mtod_offset(m, struct rte_tcp_hdr *, 34)->tcp_flags = RTE_TCP_ACK_FLAG;
				b.pkts[j] = m;
				b.meta[j].in_port = in_port;
			}
			b.nb = PSW_BURST_MAX;
			CALLGRIND_TOGGLE_COLLECT;       /* under callgrind: count only this */
			t0 = rte_rdtsc_precise();
			psw_worker_process(lc, t, &b);
			cycles += rte_rdtsc_precise() - t0;
			CALLGRIND_TOGGLE_COLLECT;
			if (b.meta[0].verdict != PSW_V_TX) {
				fprintf(stderr, "%s: packet not forwarded (reason %s)\n", name,
					psw_drop_name(b.meta[0].drop_reason));
				exit(1);
			}
			if (mode != SVC_CLUSTERIP && i == 0 && !edge_translated(&b, mode)) {
				fprintf(stderr, "%s: not masqueraded / DNAT-ed as expected\n", name);
				exit(1);
			}
		}
		r.values[r.nb++] = (double)cycles / ((double)bursts * PSW_BURST_MAX);
	}
	count_end(name, (uint64_t)nb_runs * bursts * PSW_BURST_MAX);
	report(name, "cycles/pkt", &r, mode == SVC_NODEPORT ?
	       (established ? "uplink to a NodePort: conntrack hit+DNAT+SNAT to the node address+forward to a pod" :
			      "uplink to a NodePort, new: Maglev+masquerade port+conntrack insert+DNAT+SNAT") :
	       mode == SVC_EGRESS ?
	       (established ? "pod to outside: conntrack hit+SNAT to the node address+forward out of the uplink" :
			      "pod to outside, new: masquerade port+conntrack insert+SNAT") :
	       established ?
	       (nb_rules ? "conntrack hit (verdict kept)+DNAT+forward, policy in force" :
			   "parse+guard+conntrack hit+DNAT+forward, TCP, 1 core") :
	       (nb_rules ? "new connection + egress and ingress rte_acl classify" :
			   "new connection: service pick (Maglev)+conntrack insert+DNAT+forward"));
	if (mode != SVC_EGRESS && lc->sc.svc != NULL && lc->sc.svc[1].packets[0] == 0) {
		fprintf(stderr, "%s: the Service counted no packets\n", name);
		exit(1);
	}
	free_policy(t->pol);
	rte_free(lc->sc.pol);
	rte_free(lc->sc.svc);
	for (j = 0; j < PSW_BURST_MAX; j++)
		rte_pktmbuf_free(frames[j]);
	psw_ct_destroy(t->ct);
	psw_svc_table_destroy(t->svcs);
	psw_pod_table_put(t->pods);
	psw_route_table_put(t->routes);
	rte_free(t);
	rte_free(lc);
}

#define LAT_RATE_PPS 1000000u     /* offered rate of the latency scenario */
#define LAT_SAMPLES (1u << 18)
#define LAT_STAMP_OFF 50          /* TSC at send, in the UDP payload */

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Latency through the running worker at a fixed rate well below its
 * maximum: the generator sends bursts of 8 stamped frames at rate pps and
 * timestamps each frame that comes back. Min / median / p99 per run; the
 * report gives the median of each over the runs, in nanoseconds.
 */
static void
ring_latency(struct rte_ring *in, struct rte_ring *out, const uint8_t *tmpl, unsigned rate)
{
	const unsigned burst = 8;
	const uint64_t hz = rte_get_tsc_hz(), gap = hz * burst / rate;
	struct result lmin = { 0 }, lmed = { 0 }, lp99 = { 0 };
	uint64_t *lat = malloc(LAT_SAMPLES * sizeof(*lat));
	struct rte_mbuf *free_m[256], *pkts[64], *m = NULL;
	unsigned nb_free = 0, run, i;
	char name[96];

	/* stop feeding the saturation frames; keep 256 for pacing, drop the rest */
	while (rte_ring_dequeue(in, (void **)&m) == 0)
		rte_pktmbuf_free(m);
	for (uint64_t t = rte_rdtsc(); rte_rdtsc() - t < hz / 20;) {
		unsigned n = rte_ring_dequeue_burst(out, (void **)pkts, 64, NULL);

		for (i = 0; i < n; i++) {
			if (nb_free < RTE_DIM(free_m))
				free_m[nb_free++] = pkts[i];
			else
				rte_pktmbuf_free(pkts[i]);
		}
	}
	if (lat == NULL || nb_free < burst * 4) {
		fprintf(stderr, "latency: no frames (%u)\n", nb_free);
		exit(1);
	}
	for (run = 0; run < nb_runs; run++) {
		uint64_t next = rte_rdtsc(), end = next + hz / 5;
		unsigned nb = 0, in_flight = 0;

		while (rte_rdtsc() < end || in_flight > 0) {
			uint64_t now = rte_rdtsc();
			unsigned n;

			if (now >= next && now < end && nb_free >= burst) {
				for (i = 0; i < burst; i++) {
					m = free_m[--nb_free];
					memcpy(rte_pktmbuf_mtod(m, void *), tmpl, 64);
					now = rte_rdtsc();
					memcpy(rte_pktmbuf_mtod_offset(m, uint8_t *, LAT_STAMP_OFF), &now, 8);
					pkts[i] = m;
				}
				n = rte_ring_enqueue_burst(in, (void **)pkts, burst, NULL);
				while (n < burst)
					free_m[nb_free++] = pkts[n++];
				in_flight += burst;
				next += gap;
			}
			n = rte_ring_dequeue_burst(out, (void **)pkts, 64, NULL);
			now = rte_rdtsc();
			for (i = 0; i < n; i++) {
				uint64_t sent;

				memcpy(&sent, rte_pktmbuf_mtod_offset(pkts[i], uint8_t *, LAT_STAMP_OFF), 8);
				if (nb < LAT_SAMPLES)
					lat[nb++] = now - sent;
				free_m[nb_free++] = pkts[i];
			}
			in_flight -= RTE_MIN(in_flight, n);
			if (rte_rdtsc() > end + hz)     /* frames lost: do not wait forever */
				break;
		}
		if (nb == 0) {
			fprintf(stderr, "latency: nothing came back\n");
			exit(1);
		}
		qsort(lat, nb, sizeof(*lat), cmp_u64);
		lmin.values[lmin.nb++] = (double)lat[0] * 1e9 / hz;
		lmed.values[lmed.nb++] = (double)lat[nb / 2] * 1e9 / hz;
		lp99.values[lp99.nb++] = (double)lat[nb * 99 / 100] * 1e9 / hz;
	}
	snprintf(name, sizeof(name), "worker between ring ports: latency min, %.1f Mpps", rate / 1e6);
	report(name, "ns", &lmin, "generator stamps, worker forwards, generator reads; 8-frame bursts");
	snprintf(name, sizeof(name), "worker between ring ports: latency median, %.1f Mpps", rate / 1e6);
	report(name, "ns", &lmed, "generator stamps, worker forwards, generator reads; 8-frame bursts");
	snprintf(name, sizeof(name), "worker between ring ports: latency p99, %.1f Mpps", rate / 1e6);
	report(name, "ns", &lp99, "generator stamps, worker forwards, generator reads; 8-frame bursts");
	for (i = 0; i < nb_free; i++)
		rte_pktmbuf_free(free_m[i]);
	free(lat);
}

/*
 * The generator's loop against a running worker for nb_runs half seconds:
 * frames back from out are refilled and sent in again. With cap, it also
 * drains the capture's ring as the control thread would (on this core).
 */
static void
ring_throughput(struct psw_lcore *lc, struct rte_ring *in, struct rte_ring *out, const uint8_t *tmpl,
		struct psw_capture *cap, const char *label)
{
	struct result mpps = { 0 }, cpp = { 0 };
	char name[160];
	unsigned run, i;

	for (run = 0; run < nb_runs; run++) {
		struct psw_lcore_stats *s = &lc->stats;
		uint64_t rx0 = s->rx, cyc0 = s->busy_cycles, t0 = rte_rdtsc(), dt;
		struct rte_mbuf *pkts[64];
		void *recs[256];

		while ((dt = rte_rdtsc() - t0) < rte_get_tsc_hz() / 2) {
			unsigned n = rte_ring_dequeue_burst(out, (void **)pkts, 64, NULL);

			for (i = 0; i < n; i++)
				memcpy(rte_pktmbuf_mtod(pkts[i], void *), tmpl, 64);
			if (n > 0)
				rte_ring_enqueue_burst(in, (void **)pkts, n, NULL);
			if (cap != NULL && (n = rte_ring_sc_dequeue_burst(cap->ring[0], recs, 256, NULL)) > 0)
				rte_mempool_put_bulk(cap->pool, recs, n);
		}
		mpps.values[mpps.nb++] = (double)(s->rx - rx0) * rte_get_tsc_hz() / dt / 1e6;
		cpp.values[cpp.nb++] = (double)(s->busy_cycles - cyc0) / (double)(s->rx - rx0);
	}
	snprintf(name, sizeof(name), "%s: throughput", label);
	report(name, "Mpps", &mpps, "one worker core, generator on the other core");
	snprintf(name, sizeof(name), "%s: worker cost", label);
	report(name, "cycles/pkt", &cpp, "busy TSC cycles of the worker loop incl. ring rx/tx");
}

/* The same with a capture session on rb's transmit side (the control thread's half here). */
static void
ring_capture(struct psw_state *st, struct rte_ring *in, struct rte_ring *out, const uint8_t *tmpl,
	     const char *filter, const char *label)
{
	json_t *r = psw_capture_op_start(st, json_pack("{s:s, s:s, s:s, s:i}", "port", "rb",
					 "filter", filter, "direction", "tx", "snaplen", 128));
	json_t *id = json_object_get(json_object_get(r, "result"), "id");
	struct psw_capture *cap = psw_capture_port[psw_port_find("rb")];
	uint64_t matched = 0, dropped = 0;

	if (cap == NULL) {
		fprintf(stderr, "bench: capture did not start\n");
		exit(1);
	}
	ring_throughput(st->lcores[0], in, out, tmpl, cap, label);
	matched = cap->w[0].matched;
	dropped = cap->w[0].dropped;
	json_decref(psw_capture_op_stop(st, json_pack("{s:O}", "id", id)));
	json_decref(r);
	psw_tables_sync();
	if (filter[0] == '\0' && (matched == 0 || dropped * 10 > matched))
		fprintf(stderr, "bench: the capture took %" PRIu64 " packets, dropped %" PRIu64 "\n",
			matched, dropped);
}

/* A real worker lcore between two ring ports; the generator recycles frames. */
static void
bench_rings(void)
{
	static const char *text =
		"ports = ( { name = \"ra\"; kind = \"ring\"; }, { name = \"rb\"; kind = \"ring\"; } );\n"
		"pods = ( { name = \"a\"; port = \"ra\"; mac = \"02:00:00:00:00:0a\"; ip = \"10.244.0.10\"; },\n"
		"         { name = \"b\"; port = \"rb\"; mac = \"02:00:00:00:00:0b\"; ip = \"10.244.0.11\"; } );\n"
		"workers = { cores = [ 0 ]; idle_sleep_us = 0; };\n";
	struct psw_state st = { .nb_workers = 1 };
	struct psw_config cfg;
	char err[PSW_ERR_MAX];
	uint8_t tmpl[64];
	struct tpkt p;
	struct rte_ring *in, *out;
	unsigned lcore, i;
	struct rte_mbuf *m;

	st.lcores[0] = rte_zmalloc("lc", sizeof(struct psw_lcore), RTE_CACHE_LINE_SIZE);
	if (st.lcores[0] != NULL)
		psw_lcore_init(st.lcores[0]);
	if (psw_config_parse(text, "<bench>", &cfg, err, sizeof(err)) < 0 ||
	    psw_state_apply(&st, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "bench: %s\n", err);
		exit(1);
	}
	in = psw_ports[psw_port_find("ra")].rings[0];
	out = psw_ports[psw_port_find("rb")].rings[1];
	tpkt_defaults(&p);
	p.src_mac[0] = 2;
	p.src_mac[5] = 0x0a;
	memcpy(p.dst_mac, (uint8_t[])GW_MAC, 6);
	p.src4 = 0x0af4000a;
	p.dst4 = 0x0af4000b;
	m = tpkt_build(mp, &p);
	memcpy(tmpl, rte_pktmbuf_mtod(m, void *), 64);
	rte_pktmbuf_free(m);
	/* fill the input ring: the worker never starves while the generator refills */
	for (i = 0; i < 1000; i++) {
		m = rte_pktmbuf_alloc(mp);
		memcpy(rte_pktmbuf_append(m, 64), tmpl, 64);
		rte_ring_enqueue(in, m);
	}
	lcore = rte_get_next_lcore(-1, 1, 0);
	rte_eal_remote_launch(psw_worker_main, st.lcores[0], lcore);
	ring_throughput(st.lcores[0], in, out, tmpl, NULL, "worker between ring ports");
	ring_capture(&st, in, out, tmpl, "", "worker between ring ports, capture on (tx of rb, every packet)");
	ring_capture(&st, in, out, tmpl, "tcp port 1",
		     "worker between ring ports, capture on (tx of rb, filter matching nothing)");
	ring_latency(in, out, tmpl, LAT_RATE_PPS);
	st.lcores[0]->stop = true;
	rte_eal_wait_lcore(lcore);
	while (rte_ring_dequeue(in, (void **)&m) == 0)
		rte_pktmbuf_free(m);
	while (rte_ring_dequeue(out, (void **)&m) == 0)
		rte_pktmbuf_free(m);
	psw_state_fini(&st);
}

int
main(int argc, char **argv)
{
	char prefix[64], lcores[32];
	char *eal_argv[] = { argv[0], "--no-huge", "--no-pci", "-m", "512", lcores,
			     "--log-level=*:error", prefix, NULL, NULL };
	int c, eal_argc = (int)RTE_DIM(eal_argv) - 2;

	while ((c = getopt(argc, argv, "r:j:H:s:")) != -1) {
		if (c == 'r') {
			nb_runs = RTE_MIN((unsigned)atoi(optarg), (unsigned)MAX_RUNS);
		} else if (c == 'j') {
			if ((json = fopen(optarg, "a")) == NULL)
				return 1;
		} else if (c == 's') {
			only = optarg;
		} else if (c == 'H') {
			/* memory from 2 MB pages mounted at optarg instead of --no-huge */
			static char huge_dir[PATH_MAX];

			snprintf(huge_dir, sizeof(huge_dir), "--huge-dir=%s", optarg);
			eal_argv[1] = huge_dir;
			eal_argv[4] = "1024";
			scenario_suffix = " [2M pages]";
		} else {
			fprintf(stderr, "usage: %s [-r runs] [-j results.jsonl] [-H hugetlbfs-dir] [-s name-part]\n", argv[0]);
			return 2;
		}
	}
	snprintf(prefix, sizeof(prefix), "--file-prefix=psw_bench%d", getpid());
	snprintf(lcores, sizeof(lcores), "--lcores=0@0,1@%d", sysconf(_SC_NPROCESSORS_ONLN) > 1);
	if (rte_eal_init(eal_argc, eal_argv) < 0)
		return 1;
	if (nb_runs == 0)
		nb_runs = 1;
	mp = rte_pktmbuf_pool_create("bench", 16384, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
				     SOCKET_ID_ANY);
	psw_port_layer_init(&(struct psw_port_env){ .nb_workers = 1, .rx_desc = 1024,
						    .tx_desc = 1024, .mbufs = 2048 });
	if (mp == NULL || psw_tables_init(1) < 0)
		return 1;
	printf("TSC %.2f GHz; generator on CPU 0, worker on CPU %d\n",
	       rte_get_tsc_hz() / 1e9, sysconf(_SC_NPROCESSORS_ONLN) > 1);
	bench_pipeline("pipeline IPv4 pod->pod, 2 pods", 1, 0);
	bench_pipeline("pipeline IPv4 pod->pod, 10k pods", 10000, 0);
	bench_pipeline("pipeline IPv6 pod->pod, 2 pods", 1, 1);
	bench_pipeline("pipeline IPv6 pod->pod, 10k pods", 10000, 1);
	bench_trace_armed("trace armed, no match (udp port 9): IPv4 pod->pod, 2 pods", "udp port 9");
	bench_overlay("pipeline IPv4 pod->other node, native routing", OV_NATIVE);
	bench_overlay("pipeline IPv4 pod->other node, VXLAN encap", OV_ENCAP);
	bench_overlay("pipeline IPv4 other node->pod, native routing", OV_NATIVE_IN);
	bench_overlay("pipeline IPv4 other node->pod, VXLAN decap", OV_DECAP);
	bench_service("ClusterIP, established, 1 flow", 1, true, 0, SVC_CLUSTERIP);
	bench_service("ClusterIP, established, 10k flows", 10000, true, 0, SVC_CLUSTERIP);
	bench_service("ClusterIP, established, 1M flows", 1000000, true, 0, SVC_CLUSTERIP);
	bench_service("ClusterIP, new connection", 0, false, 0, SVC_CLUSTERIP);
	bench_service("ClusterIP + 1k policy rules, established, 10k flows", 10000, true, 1000, SVC_CLUSTERIP);
	bench_service("ClusterIP + 1k policy rules, new connection", 0, false, 1000, SVC_CLUSTERIP);
	bench_service("ClusterIP + 10k policy rules, new connection", 0, false, 10000, SVC_CLUSTERIP);
	bench_service("NodePort from outside, policy Cluster, established, 10k flows", 10000, true, 0, SVC_NODEPORT);
	bench_service("NodePort from outside, policy Cluster, new connection", 0, false, 0, SVC_NODEPORT);
	bench_service("egress to outside, masqueraded, established, 10k flows", 10000, true, 0, SVC_EGRESS);
	bench_service("egress to outside, masqueraded, new connection", 0, false, 0, SVC_EGRESS);
	if (!RUNNING_ON_VALGRIND && selected("worker between ring ports"))
		bench_rings();      /* two cores in lockstep: meaningless under valgrind */
	if (json != NULL)
		fclose(json);
	psw_tables_fini();
	rte_eal_cleanup();
	return 0;
}
