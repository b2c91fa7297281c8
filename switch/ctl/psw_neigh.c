/* The neighbour table: next hops' MACs by ARP and ND on the uplinks (psw_neigh.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <rte_arp.h>
#include <rte_byteorder.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_ip.h>
#include <rte_lcore.h>
#include <rte_errno.h>
#include <rte_ether.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "psw_csum.h"
#include "psw_ctl.h"
#include "psw_health.h"
#include "psw_neigh.h"
#include "psw_port.h"
#include "psw_tables.h"

enum neigh_state {
	N_FREE = 0,
	N_INCOMPLETE,
	N_REACHABLE,
	N_PROBE,
	N_FAILED,
};

static const char *const state_names[] = {
	[N_FREE] = "free", [N_INCOMPLETE] = "incomplete", [N_REACHABLE] = "reachable",
	[N_PROBE] = "probe", [N_FAILED] = "failed",
};

struct neigh {
	uint8_t state;
	uint8_t marked;
	uint8_t glean;           /**< a destination on an uplink's subnet (in hosts4), not a route's next hop */
	uint8_t family;          /**< 4 or 6 */
	uint16_t gen;            /**< bumped when the slot is freed: stale cookies miss */
	uint8_t ip[16] __rte_aligned(8); /**< network order; IPv4 in the first 4 bytes (a hash key: aligned for rte_hash_crc) */
	uint16_t port;           /**< asked on; PSW_PORT_NONE: every uplink */
	uint16_t at_port;        /**< where it answered */
	uint32_t at_gen;         /**< that port slot's generation then: a port gone is a port gone */
	struct rte_ether_addr mac;
	uint64_t confirmed_ms;
	uint64_t next_ms;        /**< next request (INCOMPLETE, PROBE) or retry (FAILED) */
	unsigned tries;
	unsigned nb_held;
	struct rte_mbuf *held[PSW_NEIGH_HOLD];
};

/* Counters, by name in `status` (psw_neigh_json). */
#define NEIGH_COUNTERS(_)                                                          \
	_(requests,     "ARP requests sent (broadcast and unicast probes)")          \
	_(solicits,     "neighbour solicitations sent (multicast and unicast probes)") \
	_(announces,    "gratuitous ARPs and unsolicited advertisements sent for the node's addresses") \
	_(learned,      "answers that gave or changed an entry's MAC")                 \
	_(confirmed,    "answers that confirmed a known MAC")                         \
	_(unsolicited,  "ARPs and advertisements about addresses nobody asked for (ignored)") \
	_(nd_bad,       "advertisements refused: malformed, bad checksum, hop limit not 255") \
	_(held,         "packets held while their next hop was resolved")             \
	_(sent,         "held packets sent once resolved")                            \
	_(drop_hold,    "packets dropped: the next hop's hold queue was full")        \
	_(drop_failed,  "packets dropped: their next hop did not answer")             \
	_(drop_gone,    "packets dropped: their next hop left the table")             \
	_(drop_inject,  "frames dropped: the worker's inject ring was full")          \
	_(drop_nombuf,  "requests not sent: no mbuf")                                 \
	_(drop_full,    "packets or next hops without an entry: the table was full") \
	_(hosts_full,   "destinations on a subnet the workers' hash had no room for (their packets come here)") \
	_(evicted,      "destinations on a subnet forgotten to make room for a new one")

struct psw_neigh_table {
	bool dirty;
	unsigned nb;             /**< slots used at least once (high-water mark) */
	unsigned nb_glean;
	struct rte_hash *hosts4; /**< resolved IPv4 glean entries, read by workers (psw_tables.hosts4) */
	struct rte_hash *hosts6; /**< ... IPv6 (psw_tables.hosts6) */
	uint32_t announced[PSW_MAX_PORTS]; /**< uplink port generation + 1 announced */
#define _(name, help) uint64_t name;
	NEIGH_COUNTERS(_)
#undef _
	struct neigh e[PSW_NEIGH_MAX];
};

/* An entry's cookie: its index + 1 (0: none, resolve the destination) and generation. */
static uint32_t
cookie(const struct psw_neigh_table *nt, const struct neigh *n)
{
	return (uint32_t)(n - nt->e + 1) | (uint32_t)n->gen << 16;
}

static struct neigh *
by_cookie(struct psw_neigh_table *nt, uint32_t c)
{
	struct neigh *n;

	if ((c & 0xffff) == 0 || (c & 0xffff) > nt->nb)
		return NULL;
	n = &nt->e[(c & 0xffff) - 1];
	return n->state != N_FREE && n->gen == (uint16_t)(c >> 16) ? n : NULL;
}

static inline unsigned
alen(uint8_t family)
{
	return family == 4 ? 4 : 16;
}

static struct neigh *
by_ip(struct psw_neigh_table *nt, uint8_t family, const uint8_t *ip)
{
	unsigned i;

	for (i = 0; i < nt->nb; i++)
		if (nt->e[i].state != N_FREE && nt->e[i].family == family &&
		    memcmp(nt->e[i].ip, ip, alen(family)) == 0)
			return &nt->e[i];
	return NULL;
}

static struct rte_hash *
hosts_of(const struct psw_neigh_table *nt, uint8_t family)
{
	return family == 4 ? nt->hosts4 : nt->hosts6;
}

struct psw_neigh_table *
psw_neigh_create(void)
{
	static unsigned instance;
	char name[RTE_HASH_NAMESIZE];
	struct rte_hash_parameters hp = {
		.name = name,
		.entries = PSW_NEIGH_GLEAN_MAX,
		.key_len = 4,
		.hash_func = rte_hash_crc,
		.socket_id = (int)rte_socket_id(),
		.extra_flag = RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF | RTE_HASH_EXTRA_FLAGS_EXT_TABLE,
	};
	struct psw_neigh_table *nt = calloc(1, sizeof(*nt));

	if (nt == NULL) {
		rte_errno = ENOMEM;
		return NULL;
	}
	snprintf(name, sizeof(name), "psw_hosts%u", instance);
	nt->hosts4 = rte_hash_create(&hp);
	snprintf(name, sizeof(name), "psw_hosts6_%u", instance++);
	hp.key_len = 16;
	nt->hosts6 = nt->hosts4 != NULL ? rte_hash_create(&hp) : NULL;
	if (nt->hosts6 == NULL) {
		rte_hash_free(nt->hosts4);
		free(nt);
		rte_errno = ENOMEM;
		return NULL;
	}
	return nt;
}

struct rte_hash *
psw_neigh_hosts4(const struct psw_neigh_table *nt)
{
	return nt != NULL ? nt->hosts4 : NULL;
}

struct rte_hash *
psw_neigh_hosts6(const struct psw_neigh_table *nt)
{
	return nt != NULL ? nt->hosts6 : NULL;
}

struct hosts_del {
	struct rte_hash *h;
	int32_t pos;
};

static void
free_host_key(void *arg)
{
	struct hosts_del *d = arg;

	rte_hash_free_key_with_position(d->h, d->pos);
	free(d);
}

/* Take a glean entry's address out of hosts4/6 (its key slot freed after a grace period). */
static void
hosts_del(struct psw_neigh_table *nt, const struct neigh *n)
{
	struct rte_hash *h = hosts_of(nt, n->family);
	int32_t pos = rte_hash_del_key(h, n->ip);
	struct hosts_del *d;

	if (pos < 0)
		return;
	d = malloc(sizeof(*d));
	if (d == NULL) {
		psw_tables_sync();
		rte_hash_free_key_with_position(h, pos);
		return;
	}
	*d = (struct hosts_del){ .h = h, .pos = pos };
	psw_tables_defer(free_host_key, d);
}

static void
drop_held(struct neigh *n, uint64_t *counter);

/* An entry goes: its packets dropped, its slot free, its cookies stale. */
static void
release(struct psw_neigh_table *nt, struct neigh *n, uint64_t *counter)
{
	drop_held(n, counter);
	if (n->glean) {
		hosts_del(nt, n);
		nt->nb_glean--;
	}
	n->state = N_FREE;
	n->glean = 0;
	n->gen++;
}

static void
drop_held(struct neigh *n, uint64_t *counter)
{
	if (n->nb_held > 0)
		rte_pktmbuf_free_bulk(n->held, n->nb_held);
	*counter += n->nb_held;
	n->nb_held = 0;
}

void
psw_neigh_free(struct psw_neigh_table *nt)
{
	unsigned i;

	if (nt == NULL)
		return;
	for (i = 0; i < nt->nb; i++)
		drop_held(&nt->e[i], &nt->drop_gone);
	rte_hash_free(nt->hosts4);              /* workers stopped */
	rte_hash_free(nt->hosts6);
	free(nt);
}

void
psw_neigh_mark(struct psw_neigh_table *nt)
{
	unsigned i;

	for (i = 0; i < nt->nb; i++)
		nt->e[i].marked = 0;
}

/* A new entry for ip, to be asked at the next tick; NULL when the table is full. */
static struct neigh *
new_entry(struct psw_neigh_table *nt, uint8_t family, const uint8_t *ip, uint16_t port)
{
	struct neigh *n;
	unsigned i;

	for (i = 0; i < nt->nb && nt->e[i].state != N_FREE; i++)
		;
	if (i == PSW_NEIGH_MAX)
		return NULL;                     /* the caller counts it */
	if (i == nt->nb)
		nt->nb++;
	n = &nt->e[i];
	n->state = N_INCOMPLETE;
	n->glean = 0;
	n->family = family;
	memset(n->ip, 0, sizeof(n->ip));
	memcpy(n->ip, ip, alen(family));
	n->port = port;
	n->at_port = PSW_PORT_NONE;
	n->tries = 0;
	n->next_ms = 0;
	n->nb_held = 0;
	n->confirmed_ms = 0;
	return n;
}

/*
 * Is the port an entry answered on still that port (not removed, its slot
 * not taken by another)? If not, the entry is asked for anew.
 */
static bool
port_alive(struct psw_neigh_table *nt, struct neigh *n)
{
	if (n->state != N_REACHABLE && n->state != N_PROBE)
		return true;
	if (n->at_port < PSW_MAX_PORTS && psw_ports[n->at_port].in_use && psw_ports[n->at_port].conf.uplink &&
	    __atomic_load_n(&psw_ports[n->at_port].gen, __ATOMIC_RELAXED) == n->at_gen)
		return true;
	if (n->glean)
		hosts_del(nt, n);
	n->state = N_INCOMPLETE;
	n->at_port = PSW_PORT_NONE;
	n->tries = 0;
	n->next_ms = 0;
	nt->dirty = true;
	return false;
}

int
psw_neigh_nh(struct psw_neigh_table *nt, uint8_t family, const uint8_t *ip, uint16_t port,
	     struct psw_nh *nh)
{
	struct neigh *n = by_ip(nt, family, ip);

	memset(nh, 0, sizeof(*nh));
	nh->port = PSW_PORT_NONE;
	if (n == NULL && (n = new_entry(nt, family, ip, port)) == NULL) {
		nt->drop_full++;
		return -ENOSPC;
	}
	if (n->glean) {
		/* a destination that became a route's next hop: the route keeps it */
		hosts_del(nt, n);
		nt->nb_glean--;
		n->glean = 0;
	}
	n->marked = 1;
	port_alive(nt, n);
	if (n->port != port && port != PSW_PORT_NONE)
		n->port = port;          /* a route that names its port wins */
	nh->neigh = cookie(nt, n);
	if (n->state == N_REACHABLE || n->state == N_PROBE) {
		nh->mac = n->mac;
		nh->port = n->at_port;
	} else {
		nh->flags = PSW_NH_F_RESOLVE;
		nh->port = n->port;
	}
	return 0;
}

void
psw_neigh_sweep(struct psw_neigh_table *nt, const struct psw_prefix *subnets, unsigned nb_subnets)
{
	unsigned i, s;

	for (i = 0; i < nt->nb; i++) {
		struct neigh *n = &nt->e[i];

		if (n->state == N_FREE || n->marked)
			continue;
		if (n->glean) {
			/* kept while its subnet is one of the uplinks' */
			for (s = 0; s < nb_subnets; s++)
				if (subnets[s].family == n->family && psw_prefix_contains(&subnets[s], n->ip))
					break;
			if (s < nb_subnets)
				continue;
		}
		release(nt, n, &nt->drop_gone);
	}
	while (nt->nb > 0 && nt->e[nt->nb - 1].state == N_FREE)
		nt->nb--;
}

void
psw_neigh_port_gone(struct psw_neigh_table *nt, uint16_t port)
{
	unsigned i;

	for (i = 0; nt != NULL && i < nt->nb; i++) {
		struct neigh *n = &nt->e[i];

		if ((n->state == N_REACHABLE || n->state == N_PROBE) && n->at_port == port) {
			n->at_gen = ~n->at_gen;  /* port_alive() will not take it for alive */
			port_alive(nt, n);
		}
	}
}

void
psw_neigh_set_dirty(struct psw_neigh_table *nt)
{
	if (nt != NULL)
		nt->dirty = true;
}

bool
psw_neigh_is_dirty(const struct psw_neigh_table *nt)
{
	return nt != NULL && nt->dirty;
}

bool
psw_neigh_dirty(struct psw_neigh_table *nt)
{
	bool d = nt->dirty;

	nt->dirty = false;
	return d;
}

/* Worker 0 sends it on port. */
void
psw_neigh_send(struct psw_state *st, struct rte_mbuf *pkt, uint16_t port)
{
	struct rte_ring *r = st->nb_workers > 0 ? st->lcores[0]->inject : NULL;

	pkt->port = port;
	if (r == NULL || rte_ring_enqueue(r, pkt) != 0) {
		rte_pktmbuf_free(pkt);
		st->neigh->drop_inject++;
	}
}

static bool
usable_uplink(unsigned p)
{
	return p < PSW_MAX_PORTS && psw_ports[p].in_use && psw_ports[p].conf.uplink;
}

/* An ARP request (op REQUEST) from the node's first address, to dst (broadcast or a MAC). */
static void
send_arp(struct psw_state *st, uint16_t port, const struct rte_ether_addr *dst, uint32_t sip,
	 uint32_t tip)
{
	struct rte_mempool *mp = psw_port_mempool(psw_ports[port].socket);
	struct rte_mbuf *pkt = mp != NULL ? rte_pktmbuf_alloc(mp) : NULL;
	struct rte_ether_hdr *eth;
	struct rte_arp_hdr *arp;
	const unsigned len = RTE_ETHER_MIN_LEN - RTE_ETHER_CRC_LEN;

	if (pkt == NULL || rte_pktmbuf_append(pkt, len) == NULL) {
		rte_pktmbuf_free(pkt);
		st->neigh->drop_nombuf++;
		return;
	}
	eth = rte_pktmbuf_mtod(pkt, struct rte_ether_hdr *);
	memset(eth, 0, len);
	eth->dst_addr = *dst;
	eth->src_addr = psw_ports[port].mac;
	eth->ether_type = RTE_BE16(RTE_ETHER_TYPE_ARP);
	arp = (struct rte_arp_hdr *)(eth + 1);
	arp->arp_hardware = RTE_BE16(RTE_ARP_HRD_ETHER);
	arp->arp_protocol = RTE_BE16(RTE_ETHER_TYPE_IPV4);
	arp->arp_hlen = RTE_ETHER_ADDR_LEN;
	arp->arp_plen = 4;
	arp->arp_opcode = RTE_BE16(RTE_ARP_OP_REQUEST);
	arp->arp_data.arp_sha = psw_ports[port].mac;
	arp->arp_data.arp_sip = sip;
	arp->arp_data.arp_tip = tip;
	psw_neigh_send(st, pkt, port);
}

#define ND_SOLICIT      135
#define ND_ADVERT       136
#define ND_OPT_SRC_LL   1
#define ND_OPT_TGT_LL   2
#define ND_NA_ROUTER    0x80
#define ND_NA_SOLICITED 0x40
#define ND_NA_OVERRIDE  0x20
#define ND_LEN          24               /* type .. target */

/*
 * A neighbour solicitation (type ND_SOLICIT) or advertisement (ND_ADVERT,
 * with flags) about target, from src to dst, with the port's MAC as the
 * source or target link-layer option.
 */
static void
send_nd(struct psw_state *st, uint16_t port, const struct rte_ether_addr *dmac, const uint8_t *src,
	const uint8_t *dst, uint8_t type, uint8_t flags, const uint8_t *target)
{
	struct rte_mempool *mp = psw_port_mempool(psw_ports[port].socket);
	struct rte_mbuf *pkt = mp != NULL ? rte_pktmbuf_alloc(mp) : NULL;
	const unsigned icmp_len = ND_LEN + 8;
	const unsigned len = sizeof(struct rte_ether_hdr) + sizeof(struct rte_ipv6_hdr) + icmp_len;
	struct rte_ether_hdr *eth;
	struct rte_ipv6_hdr *ip;
	uint8_t *icmp;
	uint16_t csum;

	if (pkt == NULL || rte_pktmbuf_append(pkt, len) == NULL) {
		rte_pktmbuf_free(pkt);
		st->neigh->drop_nombuf++;
		return;
	}
	eth = rte_pktmbuf_mtod(pkt, struct rte_ether_hdr *);
	memset(eth, 0, len);
	eth->dst_addr = *dmac;
	eth->src_addr = psw_ports[port].mac;
	eth->ether_type = RTE_BE16(RTE_ETHER_TYPE_IPV6);
	ip = (struct rte_ipv6_hdr *)(eth + 1);
	ip->vtc_flow = RTE_BE32(6u << 28);
	ip->payload_len = rte_cpu_to_be_16((uint16_t)icmp_len);
	ip->proto = IPPROTO_ICMPV6;
	ip->hop_limits = 255;                    /* RFC 4861: anything else is refused */
	memcpy(ip->src_addr, src, 16);
	memcpy(ip->dst_addr, dst, 16);
	icmp = (uint8_t *)(ip + 1);
	icmp[0] = type;
	icmp[4] = flags;
	memcpy(icmp + 8, target, 16);
	icmp[ND_LEN] = type == ND_SOLICIT ? ND_OPT_SRC_LL : ND_OPT_TGT_LL;
	icmp[ND_LEN + 1] = 1;                    /* 8 bytes */
	memcpy(icmp + ND_LEN + 2, &psw_ports[port].mac, 6);
	csum = rte_ipv6_udptcp_cksum(ip, icmp);
	memcpy(icmp + 2, &csum, 2);
	psw_neigh_send(st, pkt, port);
}

/* The port's link-local address (EUI-64 from its MAC): the source when the node has no IPv6 address. */
static void
link_local(uint16_t port, uint8_t a[16])
{
	const uint8_t *m = psw_ports[port].mac.addr_bytes;

	memset(a, 0, 16);
	a[0] = 0xfe;
	a[1] = 0x80;
	a[8] = m[0] ^ 0x02;
	a[9] = m[1];
	a[10] = m[2];
	a[11] = 0xff;
	a[12] = 0xfe;
	a[13] = m[3];
	a[14] = m[4];
	a[15] = m[5];
}

/* The node address to ask for target from: the one whose subnet holds it, else the first. */
static void
node_ip(const struct psw_state *st, const struct neigh *n, uint16_t port, uint8_t *a)
{
	const struct psw_config *c = &st->cfg;
	unsigned i, nb = n->family == 4 ? c->node.nb_addresses : c->node.nb_addresses6;

	memset(a, 0, 16);
	for (i = 0; i < nb; i++) {
		struct psw_prefix p = { .family = n->family };

		p.len = n->family == 4 ? c->node.address_len[i] : c->node.address6_len[i];
		memcpy(p.addr, n->family == 4 ? c->node.addresses[i] : c->node.addresses6[i], alen(n->family));
		if (p.len < 8 * alen(n->family) && psw_prefix_contains(&p, n->ip)) {
			memcpy(a, p.addr, alen(n->family));
			return;
		}
	}
	if (nb > 0)
		memcpy(a, n->family == 4 ? c->node.addresses[0] : c->node.addresses6[0], alen(n->family));
	else if (n->family == 6)
		link_local(port, a);
}

/* Ask for n on port: an ARP request or a neighbour solicitation, broadcast (multicast) or to mac. */
static void
ask_on(struct psw_state *st, struct neigh *n, uint16_t port, const struct rte_ether_addr *mac)
{
	static const struct rte_ether_addr bcast = { .addr_bytes = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff } };
	uint8_t src[16], dst[16];
	struct rte_ether_addr dmac;
	uint32_t sip, tip;

	node_ip(st, n, port, src);
	if (n->family == 4) {
		memcpy(&sip, src, 4);
		memcpy(&tip, n->ip, 4);
		send_arp(st, port, mac != NULL ? mac : &bcast, sip, tip);
		st->neigh->requests++;
		return;
	}
	if (mac != NULL) {
		dmac = *mac;
		memcpy(dst, n->ip, 16);
	} else {
		/* the target's solicited-node group, ff02::1:ffXX:XXXX */
		static const uint8_t sn[13] = { 0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff };

		memcpy(dst, sn, 13);
		memcpy(dst + 13, n->ip + 13, 3);
		dmac = (struct rte_ether_addr){ .addr_bytes = { 0x33, 0x33, dst[12], dst[13], dst[14], dst[15] } };
	}
	send_nd(st, port, &dmac, src, dst, ND_SOLICIT, 0, n->ip);
	st->neigh->solicits++;
}

/* Ask for n: broadcast, or unicast to the MAC it had (a probe). */
static void
ask(struct psw_state *st, struct neigh *n, bool unicast)
{
	unsigned p;

	if (unicast && usable_uplink(n->at_port)) {
		ask_on(st, n, n->at_port, &n->mac);
		return;
	}
	if (n->port != PSW_PORT_NONE) {
		if (n->port < PSW_MAX_PORTS && psw_ports[n->port].in_use)
			ask_on(st, n, n->port, NULL);
		return;
	}
	for (p = 0; p < PSW_MAX_PORTS; p++)
		if (usable_uplink(p))
			ask_on(st, n, (uint16_t)p, NULL);
}

/* Send a routed packet to the neighbour's MAC on the port it answered on. */
static void
send_to(struct psw_state *st, struct neigh *n, struct rte_mbuf *pkt)
{
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(pkt, struct rte_ether_hdr *);

	eth->dst_addr = n->mac;
	eth->src_addr = psw_ports[n->at_port].mac;
	psw_neigh_send(st, pkt, n->at_port);
}

static void
release_held(struct psw_state *st, struct neigh *n)
{
	unsigned i;

	for (i = 0; i < n->nb_held; i++)
		send_to(st, n, n->held[i]);
	st->neigh->sent += n->nb_held;
	n->nb_held = 0;
}

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* One of the switch's own MACs (a port's, the gateway's): never a neighbour's. */
static bool
own_mac(const struct psw_state *st, const struct rte_ether_addr *mac)
{
	unsigned p;

	if (memcmp(mac, st->cfg.node.gateway_mac, 6) == 0)
		return true;
	for (p = 0; p < PSW_MAX_PORTS; p++)
		if (psw_ports[p].in_use && rte_is_same_ether_addr(&psw_ports[p].mac, mac))
			return true;
	return false;
}

/*
 * A neighbour's MAC heard on pkt's port, for an entry the switch asked
 * about: learned, changed or confirmed; its held packets leave. override
 * false (an advertisement without O): a known MAC is not replaced.
 */
static void
heard(struct psw_state *st, struct neigh *n, const struct rte_ether_addr *mac, const struct rte_mbuf *pkt,
      bool override)
{
	struct psw_neigh_table *nt = st->neigh;

	if (n == NULL || !rte_is_valid_assigned_ether_addr(mac) || own_mac(st, mac) ||
	    (n->port != PSW_PORT_NONE && n->port != pkt->port)) {
		nt->unsolicited++;
		return;
	}
	if (n->state == N_REACHABLE || n->state == N_PROBE) {
		if (rte_is_same_ether_addr(&n->mac, mac) && n->at_port == pkt->port) {
			nt->confirmed++;
		} else if (!override) {
			nt->unsolicited++;
			return;
		} else {
			nt->learned++;
			nt->dirty = true;
		}
	} else {
		nt->learned++;
		nt->dirty = true;
	}
	n->mac = *mac;
	n->at_port = pkt->port;
	n->at_gen = __atomic_load_n(&psw_ports[pkt->port].gen, __ATOMIC_RELAXED);
	n->state = N_REACHABLE;
	n->tries = 0;
	n->confirmed_ms = now_ms();
	if (n->glean && rte_hash_add_key_data(hosts_of(nt, n->family), n->ip,
					      psw_host_nh_encode(&n->mac, n->at_port)) < 0)
		nt->hosts_full++;                /* not in hosts4/6: its packets keep coming here */
	release_held(st, n);
}

/* An ARP from an uplink: an answer, or a neighbour announcing itself. */
static void
learn(struct psw_state *st, struct rte_mbuf *pkt)
{
	struct psw_neigh_table *nt = st->neigh;
	const struct rte_ether_hdr *eth = rte_pktmbuf_mtod(pkt, const struct rte_ether_hdr *);
	const struct rte_arp_hdr *arp;

	/* the switch speaks untagged on uplinks: a tagged ARP is about another network */
	if (eth->ether_type != RTE_BE16(RTE_ETHER_TYPE_ARP) ||
	    sizeof(*eth) + sizeof(*arp) > rte_pktmbuf_data_len(pkt)) {
		nt->unsolicited++;
		return;
	}
	arp = (const struct rte_arp_hdr *)(eth + 1);
	heard(st, by_ip(nt, 4, (const uint8_t *)&arp->arp_data.arp_sip), &arp->arp_data.arp_sha, pkt, true);
}

/*
 * A neighbour advertisement from an uplink (RFC 4861 7.1.2 checks: hop
 * limit 255, code 0, length, checksum, a unicast target, the solicited
 * flag clear when sent to a multicast address, options of non-zero
 * length): the target's MAC from its target link-layer option,
 * else the frame's source.
 */
static void
learn_nd(struct psw_state *st, struct rte_mbuf *pkt)
{
	struct psw_neigh_table *nt = st->neigh;
	const struct rte_ether_hdr *eth = rte_pktmbuf_mtod(pkt, const struct rte_ether_hdr *);
	const unsigned hdrs = sizeof(*eth) + sizeof(struct rte_ipv6_hdr);
	const struct rte_ipv6_hdr *ip = (const struct rte_ipv6_hdr *)(eth + 1);
	const uint8_t *icmp = (const uint8_t *)(ip + 1);
	struct rte_ether_addr mac = eth->src_addr;
	unsigned len, off;

	if (eth->ether_type != RTE_BE16(RTE_ETHER_TYPE_IPV6) || pkt->nb_segs != 1 ||
	    rte_pktmbuf_data_len(pkt) < hdrs + ND_LEN) {
		nt->nd_bad++;
		return;
	}
	len = rte_be_to_cpu_16(ip->payload_len);
	if (ip->proto != IPPROTO_ICMPV6 || ip->hop_limits != 255 || len < ND_LEN ||
	    len > rte_pktmbuf_data_len(pkt) - hdrs || icmp[0] != ND_ADVERT || icmp[1] != 0 ||
	    !psw_ip6_l4_csum_ok(ip, icmp) || icmp[8] == 0xff ||
	    /* to a multicast address, not solicited */
	    (ip->dst_addr[0] == 0xff && (icmp[4] & ND_NA_SOLICITED))) {
		nt->nd_bad++;
		return;
	}
	for (off = ND_LEN; off + 2 <= len; off += icmp[off + 1] * 8u) {
		if (icmp[off + 1] == 0 || off + icmp[off + 1] * 8u > len) {
			nt->nd_bad++;
			return;
		}
		if (icmp[off] == ND_OPT_TGT_LL && icmp[off + 1] == 1)
			memcpy(&mac, icmp + off + 2, 6);
	}
	heard(st, by_ip(nt, 6, icmp + 8), &mac, pkt, (icmp[4] & ND_NA_OVERRIDE) != 0);
}

/*
 * The glean table is full: forget the destination confirmed longest ago
 * (one not answering first), so a new one can be asked for.
 */
static bool
evict_glean(struct psw_neigh_table *nt)
{
	struct neigh *oldest = NULL;
	unsigned i;

	for (i = 0; i < nt->nb; i++) {
		struct neigh *n = &nt->e[i];

		if (n->state == N_FREE || !n->glean || n->nb_held > 0)
			continue;
		if (oldest == NULL || (n->state != N_REACHABLE && oldest->state == N_REACHABLE) ||
		    (n->state == oldest->state && n->confirmed_ms < oldest->confirmed_ms))
			oldest = n;
	}
	if (oldest == NULL)
		return false;
	release(nt, oldest, &nt->drop_gone);    /* out of hosts4: no route names it */
	nt->evicted++;
	return true;
}

/* The entry of a packet routed to an uplink's subnet: its destination's, made if need be. */
static struct neigh *
glean_entry(struct psw_neigh_table *nt, struct rte_mbuf *pkt)
{
	const struct rte_ether_hdr *eth = rte_pktmbuf_mtod(pkt, const struct rte_ether_hdr *);
	const uint8_t *dst;
	struct neigh *n;
	uint8_t family;

	/* forward left it untagged */
	if (eth->ether_type == RTE_BE16(RTE_ETHER_TYPE_IPV4) &&
	    rte_pktmbuf_data_len(pkt) >= sizeof(*eth) + sizeof(struct rte_ipv4_hdr)) {
		family = 4;
		dst = (const uint8_t *)&((const struct rte_ipv4_hdr *)(eth + 1))->dst_addr;
	} else if (eth->ether_type == RTE_BE16(RTE_ETHER_TYPE_IPV6) &&
		   rte_pktmbuf_data_len(pkt) >= sizeof(*eth) + sizeof(struct rte_ipv6_hdr)) {
		family = 6;
		dst = ((const struct rte_ipv6_hdr *)(eth + 1))->dst_addr;
	} else {
		return NULL;
	}
	if ((n = by_ip(nt, family, dst)) != NULL)
		return n;
	if (nt->nb_glean >= PSW_NEIGH_GLEAN_MAX && !evict_glean(nt))
		return NULL;
	if ((n = new_entry(nt, family, dst, PSW_PORT_NONE)) == NULL)
		return NULL;
	n->glean = 1;
	nt->nb_glean++;
	return n;
}

static void
hold(struct psw_state *st, struct rte_mbuf *pkt)
{
	struct psw_neigh_table *nt = st->neigh;
	struct neigh *n = pkt->hash.fdir.lo == 0 ? glean_entry(nt, pkt) : by_cookie(nt, pkt->hash.fdir.lo);

	if (n == NULL) {
		/* its next hop left the table, or there was no room for a destination */
		if (pkt->hash.fdir.lo == 0)
			nt->drop_full++;
		else
			nt->drop_gone++;
		rte_pktmbuf_free(pkt);
		return;
	}
	port_alive(nt, n);
	switch (n->state) {
	case N_REACHABLE:
	case N_PROBE:
		/* resolved since the worker's tables were published */
		send_to(st, n, pkt);
		nt->sent++;
		return;
	case N_FAILED:
		if (now_ms() < n->next_ms) {
			rte_pktmbuf_free(pkt);
			nt->drop_failed++;
			return;
		}
		n->state = N_INCOMPLETE;
		n->tries = 0;
		n->next_ms = 0;
		break;
	default:
		break;
	}
	if (n->nb_held == PSW_NEIGH_HOLD) {
		/* the newest wait: the oldest is the most likely to have been retried */
		rte_pktmbuf_free(n->held[0]);
		memmove(n->held, n->held + 1, (PSW_NEIGH_HOLD - 1) * sizeof(n->held[0]));
		n->nb_held--;
		nt->drop_hold++;
	}
	n->held[n->nb_held++] = pkt;
	nt->held++;
	if (n->next_ms == 0)
		psw_neigh_tick(st, now_ms());   /* ask now, not at the next tick */
}

void
psw_neigh_input(struct psw_state *st, struct rte_mbuf *pkt)
{
	uint32_t reason = pkt->hash.fdir.hi & 0xffff;

	if (st->neigh == NULL) {
		rte_pktmbuf_free(pkt);
		return;
	}
	if (reason == PSW_PUNT_RESOLVE) {
		hold(st, pkt);
		return;
	}
	if (reason == PSW_PUNT_ARP)
		learn(st, pkt);
	else if (reason == PSW_PUNT_ND)
		learn_nd(st, pkt);
	else if (reason == PSW_PUNT_HEALTH)
		psw_health_input(st, pkt);
	rte_pktmbuf_free(pkt);
}

/*
 * Gratuitous ARP for each IPv4 node address, an unsolicited advertisement
 * (override) to all nodes for each IPv6 one, on every uplink that is new
 * (or new again).
 */
static void
announce(struct psw_state *st)
{
	static const struct rte_ether_addr bcast = { .addr_bytes = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff } };
	static const struct rte_ether_addr all_mac = { .addr_bytes = { 0x33, 0x33, 0, 0, 0, 1 } };
	static const uint8_t all_nodes[16] = { 0xff, 0x02, [15] = 1 };
	unsigned p, i;

	for (p = 0; p < PSW_MAX_PORTS; p++) {
		uint32_t gen;

		if (!usable_uplink(p))
			continue;
		gen = __atomic_load_n(&psw_ports[p].gen, __ATOMIC_RELAXED) + 1;
		if (st->neigh->announced[p] == gen)
			continue;
		st->neigh->announced[p] = gen;
		for (i = 0; i < st->cfg.node.nb_addresses; i++) {
			uint32_t a;

			memcpy(&a, st->cfg.node.addresses[i], 4);
			send_arp(st, (uint16_t)p, &bcast, a, a);
			st->neigh->announces++;
		}
		for (i = 0; i < st->cfg.node.nb_addresses6; i++) {
			const uint8_t *a = st->cfg.node.addresses6[i];

			send_nd(st, (uint16_t)p, &all_mac, a, all_nodes, ND_ADVERT, ND_NA_OVERRIDE, a);
			st->neigh->announces++;
		}
	}
}

void
psw_neigh_reannounce(struct psw_neigh_table *nt)
{
	if (nt != NULL)
		memset(nt->announced, 0, sizeof(nt->announced));
}

void
psw_neigh_tick(struct psw_state *st, uint64_t now)
{
	struct psw_neigh_table *nt = st->neigh;
	unsigned i;

	if (nt == NULL)
		return;
	announce(st);
	for (i = 0; i < nt->nb; i++) {
		struct neigh *n = &nt->e[i];

		if (n->state != N_FREE)
			port_alive(nt, n);           /* its port removed: asked anew now */
		switch (n->state) {
		case N_INCOMPLETE:
			if (now < n->next_ms)
				break;
			if (n->tries >= PSW_NEIGH_TRIES) {
				n->state = N_FAILED;
				n->next_ms = now + PSW_NEIGH_RETRY_MS;
				drop_held(n, &nt->drop_failed);
				break;
			}
			ask(st, n, false);
			n->tries++;
			n->next_ms = now + PSW_NEIGH_RETRANS_MS;
			break;
		case N_REACHABLE:
			if (now - n->confirmed_ms < PSW_NEIGH_REACHABLE_MS)
				break;
			n->state = N_PROBE;
			n->tries = 0;
			n->next_ms = now;
			/* fall through */
		case N_PROBE:
			if (now < n->next_ms)
				break;
			if (n->tries >= PSW_NEIGH_TRIES && n->glean) {
				/* a destination gone quiet: forgotten */
				release(nt, n, &nt->drop_gone);
				break;
			}
			if (n->tries >= PSW_NEIGH_TRIES) {
				/* gone quiet: forget the MAC, ask anew by broadcast */
				n->state = N_INCOMPLETE;
				n->tries = 0;
				n->next_ms = now;
				n->at_port = PSW_PORT_NONE;
				nt->dirty = true;
				break;
			}
			ask(st, n, true);
			n->tries++;
			n->next_ms = now + PSW_NEIGH_RETRANS_MS;
			break;
		case N_FAILED:
			if (now >= n->next_ms && n->glean) {
				release(nt, n, &nt->drop_gone);   /* asked again when a packet comes */
			} else if (now >= n->next_ms) {
				n->state = N_INCOMPLETE;
				n->tries = 0;
				n->next_ms = now;
			}
			break;
		default:
			break;
		}
	}
}

json_t *
psw_neigh_json(const struct psw_neigh_table *nt)
{
	json_t *o = json_object(), *list, *c;
	uint64_t now = now_ms();
	unsigned i;

	if (nt == NULL)
		return o;
	list = json_array();
	c = json_object();
	for (i = 0; i < nt->nb; i++) {
		const struct neigh *n = &nt->e[i];
		char ip[INET6_ADDRSTRLEN], mac[RTE_ETHER_ADDR_FMT_SIZE] = "";

		if (n->state == N_FREE)
			continue;
		inet_ntop(n->family == 4 ? AF_INET : AF_INET6, n->ip, ip, sizeof(ip));
		if (n->state == N_REACHABLE || n->state == N_PROBE)
			snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", n->mac.addr_bytes[0],
				 n->mac.addr_bytes[1], n->mac.addr_bytes[2], n->mac.addr_bytes[3],
				 n->mac.addr_bytes[4], n->mac.addr_bytes[5]);
		json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s, s:s*, s:I, s:i}",
			"address", ip, "kind", n->glean ? "host" : "next-hop",
			"state", state_names[n->state], "mac", mac,
			"port", n->at_port < PSW_MAX_PORTS && psw_ports[n->at_port].in_use ?
				psw_ports[n->at_port].name : NULL,
			"confirmed_ms_ago", n->confirmed_ms ? (json_int_t)(now - n->confirmed_ms) : (json_int_t)-1,
			"held", (int)n->nb_held));
	}
#define _(name, help) json_object_set_new(c, #name, json_integer((json_int_t)nt->name));
	NEIGH_COUNTERS(_)
#undef _
	json_object_set_new(o, "entries", list);
	json_object_set_new(o, "counters", c);
	return o;
}
