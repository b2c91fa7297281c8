/*
 * libFuzzer target: a burst through every stage of the worker
 * (psw_worker_process: parse -> guard -> conntrack -> service -> policy ->
 * forward), then psw_worker_dispatch and psw_worker_flush, as the worker
 * loop runs them, on tables that hold pods, routes, Services and
 * NetworkPolicies; the connection table is kept from one input to the next.
 *
 * Input: one byte of options, then up to 128 frames, each
 *   [port] [length: 2 bytes, big endian] [frame]
 * run as the worker loop would receive them: in bursts of 32 (of 1 with
 * options bit 5, of 4 with bit 6), each burst followed by the fragment hold's turn (held
 * later fragments whose first came run through the stages again).
 * port & 3 is the input port (0: pod V, 1: pod W, 2: uplink, 3: the node's
 * stack); with port & 0x40 the frame's first 8 bytes are a kernel pod's
 * offload request instead (stage/psw_gso.h; what the af_packet port can
 * make of a virtio-net header): [csum_start: 2 bytes] [csum_offset]
 * [kind: bits 0-1 the partial checksum TCP, UDP or SCTP, bit 2 a
 * segmentation, bit 3 by UDP rather than TCP] [segment size: 2 bytes]
 * [a VLAN tag put back: bit 0] [unused]; with port & 0x80 the frame is copied into an ordinary mbuf (room
 * to grow, as ND answers and ICMP errors need), otherwise into a buffer
 * that ends where an unreadable page starts (an external mbuf buffer), so
 * that a stage reading past the frame faults at once (or, for the last
 * bytes before an 8-byte aligned start, meets ASan poison). A length beyond the
 * input takes what is left. Options: bits 0-1 choose the policy table
 * (none, V may talk to W only, W admits the uplink's /24 on TCP 8080 too,
 * none); bit 2 runs a connection-table expiry pass first; bit 3 turns
 * VXLAN on (port 4789, VNI 1: the tunnel stage decapsulates on the uplink);
 * bit 4 turns egress masquerade on, both families (cluster pods
 * 10.244.0.0/16 and fd00::/48, no_masquerade 172.31.98.0/24 and
 * 2001:db8:98::/48, tables from psw_svc_masq_fill as the control thread
 * builds them); bit 5 runs the frames one at a time, each a burst of its
 * own (so that a reply meets the connection its request opened; in one
 * burst, conntrack looks every frame up before any is opened); bit 6 makes
 * bursts of 4 frames; bit 7 lets the fragments still held at the end
 * expire (frag_no_first) rather than the worker stop (frag_hold_gone).
 *
 * The uplink is an uplink (its own MAC 02:00:00:00:00:0c). Routes: the
 * default to an external MAC there; 10.245.0.0/24 to node 192.168.50.2 in
 * VXLAN, and fd00:245::/64 the same way; 10.246.0.0/24 through a next hop
 * not resolved yet, 192.168.50.0/24 and fd00:50::/64 the uplink's subnets
 * (nothing resolved there): their packets are punted, as are neighbour
 * advertisements on the uplink (the punt ring is emptied, and its mbufs
 * freed, after each input). The node's IPv6 address is fd00:50::1.
 *
 * Checked besides ASan/UBSan: every mbuf returns to the pool (no leak, no
 * double free) once the fragment hold is emptied at the end of the input,
 * the hold never holds more than PSW_FRAG_HOLD_MAX, every verdict is TX to
 * a present port, a punt, a hold or a named drop.
 *
 * Addresses as in tests/unit/test_trust.c: V 10.244.0.10 / fd00::a, W
 * 10.244.0.11 / fd00::b, gateway 10.244.0.1 / fd00::1, node 192.168.50.1
 * and 2001:db8:50::1; Services 10.96.0.16 UDP 53 -> W:5353, TCP 80 ->
 * V:8080 and W:8080 (session affinity), TCP 81 without endpoints
 * (reject), NodePort TCP 30080 on the node's addresses -> W:8080
 * (masquerade), [fd00::1010] UDP 53 -> W.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <sanitizer/asan_interface.h>

#include <rte_eal.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "psw_ct.h"
#include "psw_ct_ctl.h"
#include "psw_forward_ctl.h"
#include "psw_tunnel.h"
#include "psw_fuzz.h"
#include "psw_fuzz_eal.h"
#include "psw_policy.h"
#include "psw_policy_ctl.h"
#include "psw_service.h"
#include "psw_service_ctl.h"
#include "psw_worker.h"

#define V 0x0af4000au
#define W 0x0af4000bu
#define GW 0x0af40001u
#define NODE 0xc0a83201u
#define VIP 0x0a600010u
#define P_V 0
#define P_W 1
#define P_UPLINK 2
#define P_NODE 3
#define NB_PORTS 4
#define CT_SIZE 1024
#define CT_FLUSH_AT (CT_SIZE / 2)   /* bound: forget every connection beyond this */
#define FRAME_MAX 2048
#define FRAMES_MAX (4 * PSW_BURST_MAX)

static struct rte_mempool *mp;
static struct psw_tables *t;
static struct psw_lcore *lc;
static struct psw_pol_table *pol_tables[4];
static unsigned mp_baseline;
static bool verbose;                 /* PSW_FUZZ_VERBOSE set: print every verdict */

/* One page of frame followed by one unreadable page, per frame of an input (a held one outlives its burst). */
static uint8_t *guarded;
static size_t page;
static struct rte_mbuf_ext_shared_info shinfo[FRAMES_MAX];

static const uint8_t gw_mac[6] = { 0x02, 0x50, 0x53, 0x57, 0x00, 0x01 };
static const uint8_t mac_v[6] = { 2, 0, 0, 0, 0, 0x0a }, mac_w[6] = { 2, 0, 0, 0, 0, 0x0b };
static const uint8_t mac_ext[6] = { 2, 0, 0, 0, 0, 0xee };
static const uint8_t mac_up[6] = { 2, 0, 0, 0, 0, 0x0c };
static const uint8_t v6[16] = { 0xfd, [15] = 0x0a }, w6[16] = { 0xfd, [15] = 0x0b };
static const uint8_t gw6[16] = { 0xfd, [15] = 0x01 };
static const uint8_t vip6[16] = { 0xfd, [14] = 0x10, [15] = 0x10 };
static const uint8_t node6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0x50, [15] = 1 };
static uint8_t masq4, masq6;         /* egress masquerade as configured, on with option bit 4 */

static void
put4(uint8_t *dst, uint32_t host)
{
	uint32_t n = rte_cpu_to_be_32(host);

	memcpy(dst, &n, 4);
}

static void
die(const char *what)
{
	fprintf(stderr, "fuzz_stages: set-up failed: %s\n", what);
	exit(1);
}

static struct psw_svc_backend
backend4(uint32_t addr, uint16_t port)
{
	struct psw_svc_backend b = { .family = 4, .local = 1, .port = rte_cpu_to_be_16(port) };

	put4(b.addr, addr);
	return b;
}

static void
add_service(unsigned family, const void *addr, uint8_t proto, uint16_t port, uint8_t flags,
	    struct psw_svc_backend *backends, unsigned nb)
{
	struct psw_svc_spec spec;

	memset(&spec, 0, sizeof(spec));
	spec.key.family = (uint8_t)family;
	spec.key.proto = proto;
	spec.key.port = rte_cpu_to_be_16(port);
	memcpy(spec.key.addr, addr, family == 4 ? 4 : 16);
	spec.flags = flags;
	spec.affinity_s = (flags & PSW_SVC_F_AFFINITY) ? 10800 : 0;
	spec.nb_backends = nb;
	spec.backends = backends;
	if (psw_svc_table_set(t->svcs, psw_svc_port_build(&spec, 0, SOCKET_ID_ANY)) < 0)
		die("Service");
}

static void
build_services(void)
{
	struct psw_svc_backend udp = backend4(W, 5353), web[2] = { backend4(V, 8080), backend4(W, 8080) };
	struct psw_svc_backend np = backend4(W, 8080);
	struct psw_svc_backend udp6 = { .family = 6, .local = 1, .port = rte_cpu_to_be_16(5353) };
	struct psw_svc_backend np6 = { .family = 6, .local = 1, .port = rte_cpu_to_be_16(8080) };
	uint8_t a[4];

	memcpy(udp6.addr, w6, 16);
	memcpy(np6.addr, w6, 16);
	t->svcs = psw_svc_table_create(64, SOCKET_ID_ANY);
	if (t->svcs == NULL)
		die("Service table");
	put4(a, VIP);
	add_service(4, a, IPPROTO_UDP, 53, 0, &udp, 1);
	add_service(4, a, IPPROTO_TCP, 80, PSW_SVC_F_AFFINITY, web, 2);
	add_service(4, a, IPPROTO_TCP, 81, PSW_SVC_F_REJECT, NULL, 0);
	put4(a, NODE);
	add_service(4, a, IPPROTO_TCP, 30080, PSW_SVC_F_MASQ, &np, 1);
	add_service(6, vip6, IPPROTO_UDP, 53, 0, &udp6, 1);
	add_service(6, node6, IPPROTO_TCP, 30080, PSW_SVC_F_MASQ, &np6, 1);
}

/* Egress masquerade's tables from a configuration, as the control thread fills them. */
static void
build_masquerade(void)
{
	static const char *const prefixes[] = { "10.244.0.0/16", "fd00::/48", "10.244.0.0/24", "fd00::/64",
						"10.96.0.0/12", "172.31.98.0/24", "2001:db8:98::/48" };
	struct psw_prefix p[RTE_DIM(prefixes)];
	struct psw_config c;
	unsigned i;

	for (i = 0; i < RTE_DIM(prefixes); i++)
		if (psw_parse_prefix(prefixes[i], &p[i]) < 0)
			die("masquerade prefixes");
	memset(&c, 0, sizeof(c));
	c.cluster.pod_cidr = p[0];
	c.cluster.pod_cidr6 = p[1];
	c.node.pod_cidr = p[2];
	c.node.pod_cidr6 = p[3];
	c.node.service_cidr = p[4];
	c.cluster.no_masquerade[0] = p[5];
	c.cluster.no_masquerade[1] = p[6];
	c.cluster.nb_no_masquerade = 2;
	c.node.nb_addresses = 1;
	c.node.nb_addresses6 = 1;
	psw_svc_masq_fill(&t->node, &c);
	masq4 = t->node.masq;
	masq6 = t->node.masq6;
	if (!masq4 || !masq6)
		die("masquerade");
}

static struct psw_pol_rule
rule(unsigned dir, unsigned family, const void *addr, unsigned plen, uint8_t proto, uint16_t lo,
     uint16_t hi, uint16_t slot, uint16_t index)
{
	struct psw_pol_rule r;

	memset(&r, 0, sizeof(r));
	r.dir = (uint8_t)dir;
	r.family = (uint8_t)family;
	memcpy(r.addr, addr, family == 4 ? 4 : 16);
	r.plen = (uint8_t)plen;
	r.proto = proto;
	r.port_lo = lo;
	r.port_hi = hi;
	r.ref.slot = slot;
	r.ref.rule = index;
	return r;
}

/* V: isolated both ways, talks to W only. W: isolated for ingress, admits V (and the uplink's /24 on 8080). */
static struct psw_pol_table *
make_policies(bool admit_ext, uint32_t gen)
{
	struct psw_pol_table *pt = calloc(1, sizeof(*pt));
	struct psw_pol_rule rv[2], rw[3];
	uint8_t a_v[4], a_w[4], a_ext[4];
	uint16_t slot_v[1] = { 0 }, slot_w[1] = { 1 };
	const uint16_t *iso_v[2] = { slot_v, slot_v }, *iso_w[2] = { slot_w, slot_w };
	unsigned nb_iso_v[2] = { 1, 1 }, nb_iso_w[2] = { 1, 0 };
	bool both[2] = { true, true }, in_only[2] = { true, false };

	if (pt == NULL)
		die("policy table");
	put4(a_v, V);
	put4(a_w, W);
	put4(a_ext, 0xc0a83200);
	rv[0] = rule(PSW_POL_EGRESS, 4, a_w, 32, 0, 0, UINT16_MAX, 0, 0);
	rv[1] = rule(PSW_POL_EGRESS, 6, w6, 128, 0, 0, UINT16_MAX, 0, 1);
	rw[0] = rule(PSW_POL_INGRESS, 4, a_v, 32, 0, 0, UINT16_MAX, 1, 0);
	rw[1] = rule(PSW_POL_INGRESS, 6, v6, 128, 0, 0, UINT16_MAX, 1, 1);
	rw[2] = rule(PSW_POL_INGRESS, 4, a_ext, 24, IPPROTO_TCP, 8080, 8080, 1, 2);
	pt->ports[P_V] = psw_pol_port_build(both, rv, 2, iso_v, nb_iso_v, SOCKET_ID_ANY);
	pt->ports[P_W] = psw_pol_port_build(in_only, rw, admit_ext ? 3 : 2, iso_w, nb_iso_w, SOCKET_ID_ANY);
	if (pt->ports[P_V] == NULL || pt->ports[P_W] == NULL)
		die("policies");
	pt->nb_isolated = 2;
	pt->gen = gen;
	return pt;
}

static void
build_pods_and_routes(void)
{
	struct psw_pod pods[2];
	struct psw_route_spec routes[7];
	unsigned i;

	memset(pods, 0, sizeof(pods));
	memcpy(&pods[0].nh.mac, mac_v, 6);
	pods[0].nh.port = P_V;
	pods[0].has_ip4 = pods[0].has_ip6 = 1;
	pods[0].ip4 = rte_cpu_to_be_32(V);
	memcpy(pods[0].ip6, v6, 16);
	memcpy(&pods[1].nh.mac, mac_w, 6);
	pods[1].nh.port = P_W;
	pods[1].has_ip4 = pods[1].has_ip6 = 1;
	pods[1].ip4 = rte_cpu_to_be_32(W);
	memcpy(pods[1].ip6, w6, 16);
	t->pods = psw_pod_table_build(pods, 2, SOCKET_ID_ANY);
	memset(routes, 0, sizeof(routes));
	for (i = 0; i < 2; i++) {
		routes[i].prefix.family = i == 0 ? 4 : 6;
		memcpy(&routes[i].nh.mac, mac_ext, 6);
		routes[i].nh.port = P_UPLINK;
	}
	/* another node's pods, in VXLAN to 192.168.50.2 */
	routes[2].prefix.family = 4;
	routes[2].prefix.len = 24;
	memcpy(routes[2].prefix.addr, (const uint8_t[]){ 10, 245, 0, 0 }, 4);
	memcpy(&routes[2].nh.mac, mac_ext, 6);
	routes[2].nh.port = P_UPLINK;
	routes[2].nh.flags = PSW_NH_F_TUNNEL;
	routes[2].nh.tunnel_dst = rte_cpu_to_be_32(0xc0a83202u);
	/* a next hop whose MAC is not known yet */
	routes[3].prefix.family = 4;
	routes[3].prefix.len = 24;
	memcpy(routes[3].prefix.addr, (const uint8_t[]){ 10, 246, 0, 0 }, 4);
	routes[3].nh.port = PSW_PORT_NONE;
	routes[3].nh.flags = PSW_NH_F_RESOLVE;
	routes[3].nh.neigh = 1;
	/* the uplink's subnet: each destination its own next hop (hosts4 empty: punted) */
	routes[4].prefix.family = 4;
	routes[4].prefix.len = 24;
	memcpy(routes[4].prefix.addr, (const uint8_t[]){ 192, 168, 50, 0 }, 4);
	routes[4].nh.port = PSW_PORT_NONE;
	routes[4].nh.flags = PSW_NH_F_GLEAN;
	/* another node's IPv6 pods, in VXLAN over IPv4 */
	routes[5].prefix.family = 6;
	routes[5].prefix.len = 64;
	memcpy(routes[5].prefix.addr, (const uint8_t[]){ 0xfd, 0, 2, 0x45 }, 4);
	routes[5].nh = routes[2].nh;
	/* the uplink's IPv6 subnet fd00:50::/64 (hosts6 empty: punted) */
	routes[6].prefix.family = 6;
	routes[6].prefix.len = 64;
	memcpy(routes[6].prefix.addr, (const uint8_t[]){ 0xfd, 0, 0, 0x50 }, 4);
	routes[6].nh.port = PSW_PORT_NONE;
	routes[6].nh.flags = PSW_NH_F_GLEAN;
	t->routes = psw_route_table_build(routes, 7, SOCKET_ID_ANY);
	if (t->pods == NULL || t->routes == NULL)
		die("pods and routes");
}

static void
build_tables(void)
{
	unsigned i;

	if (psw_tables_init(1) < 0 || (t = psw_tables_alloc()) == NULL)
		die("tables");
	t->node.gw4 = rte_cpu_to_be_32(GW);
	memcpy(t->node.gw6, gw6, 16);
	t->node.has_ip6 = 1;
	memcpy(&t->node.gw_mac, gw_mac, 6);
	t->node.pod_net4 = rte_cpu_to_be_32(0x0af40000);
	t->node.pod_mask4 = rte_cpu_to_be_32(0xffffff00);
	t->node.nb_addrs = 1;
	t->node.nb_addrs6 = 1;
	memcpy(t->node.addrs6[0], (const uint8_t[]){ 0xfd, 0, 0, 0x50, [15] = 1 }, 16);
	t->node.addrs4[0] = rte_cpu_to_be_32(NODE);
	t->node.nb_addrs6 = 1;
	memcpy(t->node.addrs6[0], node6, 16);
	for (i = 0; i < NB_PORTS; i++)
		t->ports[i].present = 1;
	t->ports[P_V] = (struct psw_port_info){ .present = 1, .is_pod = 1, .pod = 0 };
	t->ports[P_W] = (struct psw_port_info){ .present = 1, .is_pod = 1, .pod = 1 };
	t->ports[P_NODE].is_node = 1;
	for (i = 0; i < NB_PORTS; i++)
		t->ports[i].mtu = 1500;          /* longer frames are answered or dropped (too_big) */
	t->node.uplink_mtu = 1500;
	t->ports[P_UPLINK].is_uplink = 1;
	memcpy(&t->ports[P_UPLINK].mac, mac_up, 6);
	t->node.tunnel_port = rte_cpu_to_be_16(4789);
	t->node.vni = 1;
	build_pods_and_routes();
	build_services();
	build_masquerade();
	t->ct = psw_ct_create(CT_SIZE, SOCKET_ID_ANY, psw_tables_qsbr());
	if (t->ct == NULL)
		die("connection table");
	pol_tables[1] = make_policies(false, 1);
	pol_tables[2] = make_policies(true, 2);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	unsigned i;

	verbose = getenv("PSW_FUZZ_VERBOSE") != NULL;
	psw_fuzz_eal_init((*argv)[0], "stages");
	mp = rte_pktmbuf_pool_create("fuzz_pool", 256, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
	lc = rte_zmalloc("fuzz_lcore", sizeof(*lc), RTE_CACHE_LINE_SIZE);
	if (lc != NULL)
		psw_lcore_init(lc);
	if (mp == NULL || lc == NULL)
		die("mbufs");
	lc->punt = rte_ring_create("fuzz_punt", 64, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
	if (lc->punt == NULL)
		die("punt ring");
	lc->sc.pol = rte_zmalloc("fuzz_pol", PSW_POL_MAX_SLOTS * sizeof(*lc->sc.pol), RTE_CACHE_LINE_SIZE);
	if (lc->sc.pol == NULL)
		die("policy counters");
	build_tables();
	page = (size_t)sysconf(_SC_PAGESIZE);
	guarded = mmap(NULL, 2 * page * FRAMES_MAX, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (guarded == MAP_FAILED)
		die("mmap");
	for (i = 0; i < FRAMES_MAX; i++)
		if (mprotect(guarded + (2 * i + 1) * page, page, PROT_NONE) != 0)
			die("mprotect");
	mp_baseline = rte_mempool_in_use_count(mp);
	return 0;
}

static void
no_free(void *addr, void *opaque)
{
}

/*
 * A frame in slot i's page, ending where the unreadable page starts. The
 * frame starts 8-byte aligned, as received frames do (the stages may read
 * headers in place); the buffer ends with the frame (no tailroom) and the
 * up to 7 bytes between its end and the page end are poisoned for ASan,
 * so every access past the frame is caught.
 */
static struct rte_mbuf *
guarded_frame(unsigned i, const uint8_t *frame, uint16_t len)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(mp);
	uint8_t *base = guarded + 2 * i * page;
	size_t start = (page - len) & ~(size_t)7;

	if (m == NULL)
		abort();
	ASAN_UNPOISON_MEMORY_REGION(base, page);
	memcpy(base + start, frame, len);
	ASAN_POISON_MEMORY_REGION(base + start + len, page - start - len);
	shinfo[i].free_cb = no_free;
	shinfo[i].fcb_opaque = NULL;
	rte_mbuf_ext_refcnt_set(&shinfo[i], 1);
	rte_pktmbuf_attach_extbuf(m, base, (rte_iova_t)(uintptr_t)base, (uint16_t)(start + len), &shinfo[i]);
	m->data_off = (uint16_t)start;
	m->data_len = len;
	m->pkt_len = len;
	return m;
}

static struct rte_mbuf *
plain_frame(const uint8_t *frame, uint16_t len)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(mp);
	char *d;

	if (m == NULL || (d = rte_pktmbuf_append(m, len)) == NULL)
		abort();
	memcpy(d, frame, len);
	return m;
}

/*
 * The request as the af_packet port leaves it on an mbuf (psw_sockport.c,
 * offloads_in): a partial checksum always, its start split into l2_len
 * (14, or 18 with a tag put back) and l3_len (at most 511), its offset in
 * l4_len; a segmentation only with it.
 */
static void
offload_request(struct rte_mbuf *m, const uint8_t *r)
{
	static const uint64_t csum[4] = { RTE_MBUF_F_TX_TCP_CKSUM, RTE_MBUF_F_TX_UDP_CKSUM,
					  RTE_MBUF_F_TX_SCTP_CKSUM, RTE_MBUF_F_TX_TCP_CKSUM };
	unsigned start = (unsigned)r[0] << 8 | r[1], l2 = (r[6] & 1) ? 18 : 14;

	if (start < l2 || start - l2 > 511)
		return;                  /* the port finishes such a checksum itself */
	m->l2_len = l2;
	m->l3_len = start - l2;
	m->l4_len = r[2];
	m->ol_flags |= csum[r[3] & 3];
	if (r[3] & 4) {
		m->ol_flags |= ((r[3] & 8) ? RTE_MBUF_F_TX_UDP_SEG : RTE_MBUF_F_TX_TCP_SEG) | RTE_MBUF_F_TX_IPV4;
		m->tso_segsz = (uint16_t)(r[4] << 8 | r[5]);
	}
}

/*
 * The next burst of the input from *off (at most max frames; frame numbers
 * from *nb_frames on pick their guarded pages). Returns its size.
 */
static unsigned
make_burst(const uint8_t *data, size_t size, size_t *off, unsigned *nb_frames, unsigned max,
	   struct psw_burst *b)
{
	b->nb = 0;
	while (*off + 3 <= size && b->nb < max && *nb_frames < FRAMES_MAX) {
		unsigned port = data[*off];
		size_t len = (size_t)data[*off + 1] << 8 | data[*off + 2];
		unsigned i = b->nb;

		const uint8_t *req = NULL;

		*off += 3;
		if (len > size - *off)
			len = size - *off;
		if ((port & 0x40) && len >= 8) {
			req = data + *off;
			*off += 8;
			len -= 8;
		}
		if (len > FRAME_MAX)
			len = FRAME_MAX;
		b->pkts[i] = (port & 0x80) ? plain_frame(data + *off, (uint16_t)len)
					   : guarded_frame((*nb_frames)++, data + *off, (uint16_t)len);
		if (req != NULL)
			offload_request(b->pkts[i], req);
		memset(&b->meta[i], 0, sizeof(b->meta[i]));
		b->meta[i].in_port = (uint16_t)(port & 3);
		b->nb++;
		*off += len;
	}
	return b->nb;
}

static void
check_verdicts(const struct psw_burst *b)
{
	unsigned i;

	for (i = 0; i < b->nb; i++) {
		const struct psw_meta *m = &b->meta[i];

		if (m->verdict == PSW_V_TX && (m->out_port >= NB_PORTS || !t->ports[m->out_port].present))
			abort();            /* sent to a port that does not exist */
		if (m->verdict == PSW_V_DROP && (m->drop_reason == PSW_DROP_NONE || m->drop_reason >= PSW_DROP_COUNT))
			abort();            /* a drop without a named reason */
		if (m->verdict > PSW_V_HOLD)
			abort();
		if (verbose)
			fprintf(stderr, "frame %u: in %u, %u bytes -> %s %s\n", i, m->in_port,
				rte_pktmbuf_data_len(b->pkts[i]),
				m->verdict == PSW_V_TX ? "tx" : m->verdict == PSW_V_DROP ? "drop" :
				m->verdict == PSW_V_PUNT ? "punt" : m->verdict == PSW_V_HOLD ? "hold" : "continue",
				m->verdict == PSW_V_DROP ? psw_drop_name(m->drop_reason) :
				m->verdict == PSW_V_TX ? (m->out_port == P_V ? "V" : m->out_port == P_W ? "W" :
							  m->out_port == P_UPLINK ? "uplink" : "node") : "");
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct psw_burst b;
	unsigned options = size > 0 ? data[0] : 0, nb_frames = 0;
	size_t off = 1;

	t->pol = pol_tables[options & 3];
	t->node.overlay = !!(options & 8);
	/* options 8 and 128: the overlay is Geneve (port 6081), 8 alone VXLAN (4789) */
	t->node.geneve = (options & 8) && (options & 128);
	t->node.tunnel_port = t->node.geneve ? RTE_BE16(6081) : RTE_BE16(4789);
	psw_tunnel_prepare(&t->node);
	t->node.masq = (options & 16) ? masq4 : 0;
	t->node.masq6 = (options & 16) ? masq6 : 0;
	if (options & 4)
		psw_ct_expire(t->ct, 64, false);
	while (make_burst(data, size, &off, &nb_frames, (options & 32) ? 1 : (options & 64) ? 4 : PSW_BURST_MAX,
			  &b) > 0) {
		psw_worker_process(lc, t, &b);
		check_verdicts(&b);
		psw_worker_dispatch(lc, &b);
		psw_worker_frag_run(lc, t, &b, rte_rdtsc());
		psw_worker_flush(lc);        /* no port is in use: every TX is freed as refused */
		if (lc->frag_cache.hold.nb > PSW_FRAG_HOLD_MAX || lc->frag_cache.hold.nb_ready != 0)
			abort();             /* the hold is bounded, and empty of ready packets after its turn */
	}
	/* nothing stays held from one input to the next (their pages are reused) */
	if (options & 128)
		psw_worker_frag_run(lc, t, &b, rte_rdtsc() + rte_get_tsc_hz() / 1000 * (PSW_FRAG_HOLD_MS + 1));
	else
		psw_worker_frag_flush(lc);
	if (lc->frag_cache.hold.nb != 0)
		abort();
	psw_worker_flush(lc);
	{
		struct rte_mbuf *punted[PSW_BURST_MAX];
		unsigned n;

		while ((n = rte_ring_dequeue_burst(lc->punt, (void **)punted, PSW_BURST_MAX, NULL)) > 0)
			rte_pktmbuf_free_bulk(punted, n);
	}
	if (rte_mempool_in_use_count(mp) != mp_baseline) {
		fprintf(stderr, "fuzz_stages: %u mbufs not returned\n", rte_mempool_in_use_count(mp) - mp_baseline);
		abort();
	}
	/* Keep connections across inputs, but bounded: forget them all now and then. */
	if (psw_ct_count(t->ct) > CT_FLUSH_AT) {
		psw_ct_expire(t->ct, t->ct->size, true);
		psw_ct_expire(t->ct, t->ct->size, true);   /* frees what the first pass retired */
		/* lc->ct_cache is kept: its ways now name freed entries, which it must refuse */
	}
	return 0;
}
