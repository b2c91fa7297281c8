/* service stage: backend choice for new connections to Services, DNAT, reject. */
#include <netinet/in.h>
#include <string.h>

#include <rte_prefetch.h>
#include <rte_cycles.h>
#include <rte_ether.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_ip.h>
#include <rte_tcp.h>

#include "psw_answer.h"
#include "psw_frag.h"
#include "psw_nat.h"
#include "psw_policy.h"
#include "psw_service.h"
#include "psw_tunnel.h"

#define ICMP_UNREACH 3
#define ICMP_UNREACH_PORT 3
#define ICMP6_UNREACH 1
#define ICMP6_UNREACH_PORT 4

static inline bool
is_icmp(uint8_t proto)
{
	return proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6;
}

/* Outside the cluster (not where pods' traffic goes unmasqueraded)? */
static inline bool
outside(const struct psw_tables *t, uint32_t a)
{
	unsigned i;

	for (i = 0; i < t->node.nb_nomasq; i++)
		if ((a & t->node.nomasq[i].mask) == t->node.nomasq[i].net)
			return false;
	return true;
}

/* The same for an IPv6 address (any alignment). */
static inline bool
outside6(const struct psw_tables *t, const uint8_t *addr)
{
	uint64_t a[2];
	unsigned i;

	memcpy(a, addr, 16);
	for (i = 0; i < t->node.nb_nomasq6; i++)
		if ((a[0] & t->node.nomasq6[i].mask[0]) == t->node.nomasq6[i].net[0] &&
		    (a[1] & t->node.nomasq6[i].mask[1]) == t->node.nomasq6[i].net[1])
			return false;
	return true;
}

/*
 * The node's address a pod's connection to addr (of the packet's family)
 * is masqueraded to, or NULL: masquerade is off for that family, or addr
 * is inside the cluster (or the node's own).
 */
static inline const uint8_t *
masq_source(const struct psw_tables *t, const struct psw_meta *m, const uint8_t *addr)
{
	if (m->l3 == PSW_L3_IPV4) {
		uint32_t a;

		memcpy(&a, addr, 4);
		return t->node.masq && outside(t, a) && !psw_node_addr(&t->node, 4, addr)
		       ? (const uint8_t *)&t->node.addrs4[0] : NULL;
	}
	return t->node.masq6 && outside6(t, addr) && !psw_node_addr(&t->node, 6, addr)
	       ? t->node.addrs6[0] : NULL;
}

static void
reject(struct psw_stage_ctx *sc, const struct psw_tables *t, struct rte_mbuf *pkt, struct psw_meta *m)
{
	int rc;

	/* out of the overlay to an address that is also a pod's: its header checked first (psw_tunnel.h) */
	if (!psw_tunnel_csum_ok(pkt, m))
		return;
	if (!psw_punt_allow(sc, m->in_port)) {
		psw_set_drop(m, PSW_DROP_PUNT_LIMIT);
		return;
	}
	rc = m->l4_proto == IPPROTO_TCP ? psw_answer_tcp_rst(t, pkt, m)
	     : psw_icmp_error(t, pkt, m, ICMP_UNREACH, ICMP_UNREACH_PORT, ICMP6_UNREACH,
			      ICMP6_UNREACH_PORT);

	if (rc == 0) {
		psw_count_event(sc, PSW_EV_SVC_REJECT);
		sc->drops[PSW_DROP_SVC_NO_ENDPOINT]++;   /* the request itself went nowhere */
	} else {
		psw_set_drop(m, PSW_DROP_SVC_NO_ENDPOINT);
	}
}

/* The index of the backend an affinity record names, or UINT32_MAX: no longer a backend. */
static unsigned
affinity_recorded(const struct psw_svc_port *sp, const struct psw_ct_entry *e)
{
	unsigned i;

	for (i = 0; i < sp->nb_backends; i++)
		if (sp->backends[i].port == e->reply.sport &&
		    memcmp(sp->backends[i].addr, e->reply.src, 16) == 0)
			return i;
	return UINT32_MAX;
}

/*
 * Session affinity: the backend this client was given by this Service port
 * while the record is fresh, refreshed by every new connection; else pick
 * bi and record it. Fresh means idle less than the Service's timeoutSeconds
 * as it is now (kube-proxy checks against its rule's current --seconds): a
 * record carries the timeout it was made with, set to the Service's here.
 * A record idle past it is gone, whatever the expiry sweep has reached: the
 * client is balanced afresh, and the insert of its new record removes the
 * old one. A record naming a backend that left is removed, and the client
 * pinned to its next pick at once (as kube-proxy's recent lists and IPVS
 * persistence do), not balanced per connection until the record times out.
 */
static unsigned
affinity_backend(struct psw_stage_ctx *sc, const struct psw_tables *t, const struct psw_svc_port *sp,
		 const struct psw_ct_key *orig, unsigned bi, uint64_t now)
{
	const struct psw_svc_backend *be;
	struct psw_ct_key k, r;
	const struct psw_ct_key *kp = &k;
	struct psw_ct_entry *e;
	uint32_t hit;
	unsigned i;
	int rc;

	memset(&k, 0, sizeof(k));
	k.family = orig->family;
	k.proto = PSW_CT_PROTO_AFFINITY;
	k.sport = (uint16_t)sp->id;
	k.dport = (uint16_t)(sp->id >> 16);
	memcpy(k.src, orig->src, 16);
	memcpy(k.dst, sp->key.addr, 16);
	psw_ct_lookup(t->ct, &kp, 1, &hit);
	if (hit != UINT32_MAX) {
		e = psw_ct_entry(t->ct, hit);
		if (unlikely(__atomic_load_n(&e->timeout_s, __ATOMIC_RELAXED) != sp->affinity_s))
			__atomic_store_n(&e->timeout_s, sp->affinity_s, __ATOMIC_RELAXED);
		if (psw_ct_expired(t->ct, e, now)) {
			psw_count_event(sc, PSW_EV_CT_STALE);
		} else if ((i = affinity_recorded(sp, e)) != UINT32_MAX) {
			__atomic_store_n(&e->last_seen, now, __ATOMIC_RELAXED);
			return i;
		} else {
			psw_ct_remove(t->ct, hit);       /* its backend left */
		}
	}
	be = &sp->backends[bi];
	r = k;
	r.pad = 1;               /* the reply key only has to be unique */
	r.sport = be->port;
	memcpy(r.src, be->addr, 16);
	memcpy(r.dst, orig->src, 16);
	rc = psw_ct_insert(t->ct, &k, &r, sp->id, bi, 0, now);
	if (rc >= 0) {
		psw_ct_set_timeout(t->ct, (uint32_t)rc, sp->affinity_s);
	} else if (rc == -EEXIST) {
		/* another worker recorded this client's pick first: follow it */
		psw_ct_lookup(t->ct, &kp, 1, &hit);
		if (hit != UINT32_MAX && (i = affinity_recorded(sp, psw_ct_entry(t->ct, hit))) != UINT32_MAX)
			return i;
	}
	return bi;
}

/*
 * The connection was opened by an earlier packet of this burst, or by
 * another worker, since the conntrack stage looked: use it.
 */
static void
follow_existing(struct psw_stage_ctx *sc, const struct psw_tables *t, struct rte_mbuf *pkt,
		struct psw_meta *m, const struct psw_ct_key *orig, const struct rte_tcp_hdr *th,
		unsigned seg_len, uint64_t now)
{
	const struct psw_ct_key *kp = orig;
	struct psw_ct_entry *e;
	uint32_t hit;

	psw_ct_lookup(t->ct, &kp, 1, &hit);
	if (hit == UINT32_MAX || (hit & 1) != PSW_CT_DIR_ORIG) {
		psw_set_drop(m, PSW_DROP_CT_CLASH);
		return;
	}
	e = psw_ct_entry(t->ct, hit);
	if (psw_ct_denied(e) != PSW_DROP_NONE) {
		psw_set_drop(m, psw_ct_denied(e));
		return;
	}
	psw_ct_update(t->ct, e, PSW_CT_DIR_ORIG, th, seg_len, now);
	psw_nat_apply_entry(pkt, m, e, PSW_CT_DIR_ORIG);
	psw_ct_count_svc(sc, e, PSW_CT_DIR_ORIG, m);
	m->ct = hit + 1;
	m->flags &= (uint16_t)~PSW_F_TO_GW;      /* a NodePort: no longer for the node */
	/* its verdict may still be pending in this burst: judge it too */
	m->flags |= PSW_F_CT_NEW;
	psw_count_event(sc, PSW_EV_CT_HIT);
}

/* Is the client in one of a load balancer's loadBalancerSourceRanges? */
static bool
source_allowed(const struct psw_svc_port *sp, const struct psw_meta *m)
{
	const uint8_t *src = m->l3 == PSW_L3_IPV4 ? (const uint8_t *)&m->src4 : m->src6;
	unsigned family = m->l3 == PSW_L3_IPV4 ? 4 : 6, i, b;

	for (i = 0; i < sp->nb_src; i++) {
		const struct psw_prefix *p = &sp->src[i];

		if (p->family != family)
			continue;
		for (b = 0; b < p->len / 8u; b++)
			if (src[b] != p->addr[b])
				break;
		if (b < p->len / 8u)
			continue;
		if (p->len % 8 == 0 || ((src[b] ^ p->addr[b]) & (uint8_t)(0xff << (8 - p->len % 8))) == 0)
			return true;
	}
	return false;
}

/* The source a Service port with policy Cluster masquerades its clients to. */
static inline const uint8_t *
masq_address(const struct psw_tables *t, const struct psw_svc_port *sp)
{
	if (psw_node_addr(&t->node, sp->key.family, sp->key.addr))
		return sp->key.addr;             /* a NodePort: the address reached */
	if (sp->key.family == 4)
		return (const uint8_t *)(t->node.nb_addrs > 0 ? &t->node.addrs4[0] : &t->node.gw4);
	return t->node.nb_addrs6 > 0 ? t->node.addrs6[0] : t->node.gw6;
}

/* A new connection to Service port sp: pick, record, rewrite. */
static void
svc_connect(struct psw_stage_ctx *sc, const struct psw_tables *t, struct rte_mbuf *pkt, struct psw_meta *m,
	const struct psw_svc_port *sp, uint64_t now)
{
	unsigned alen = m->l3 == PSW_L3_IPV4 ? 4 : 16, bi, seg_len = 0;
	const struct rte_tcp_hdr *th = psw_tcp_hdr(pkt, m, &seg_len);
	uint8_t flags = PSW_CT_F_DNAT, tcpf = th != NULL ? th->tcp_flags : 0;
	const struct psw_svc_backend *be;
	struct psw_ct_key orig, reply;
	struct psw_ct_entry *e;
	const uint8_t *src;
	bool hairpin;
	int rc;

	if (unlikely(sp->flags & PSW_SVC_F_HEALTH)) {
		/* a load balancer's health check: the control thread answers it */
		if (!psw_punt_allow(sc, m->in_port))
			psw_set_drop(m, PSW_DROP_PUNT_LIMIT);
		else
			psw_set_punt(pkt, m, PSW_PUNT_HEALTH, sp->nb_backends);
		return;
	}
	if (m->l4_proto == IPPROTO_TCP && (!(tcpf & RTE_TCP_SYN_FLAG) || (tcpf & RTE_TCP_ACK_FLAG))) {
		/* not the start of a connection, and none is known: never forward it un-NAT-ed */
		psw_set_drop(m, PSW_DROP_CT_INVALID);
		return;
	}
	if (unlikely(sp->nb_src > 0) && !source_allowed(sp, m)) {
		psw_set_drop(m, PSW_DROP_SVC_SOURCE_RANGE);
		if (sc->svc != NULL)
			sc->svc[sp->cslot].source_range++;
		return;
	}
	/* a pod of this node, or the node's own stack, to an external address of
	 * policy Local: every endpoint, its address kept, as if it had gone out
	 * and come back in (the node's source is a node address: replies return) */
	if (unlikely(sp->pods != NULL) && (t->ports[m->in_port].is_pod || t->ports[m->in_port].is_node))
		sp = sp->pods;
	if (sp->nb_backends == 0) {
		if (sp->flags & PSW_SVC_F_REJECT)
			reject(sc, t, pkt, m);
		else
			psw_set_drop(m, PSW_DROP_SVC_NO_LOCAL);   /* kube-proxy drops these */
		if (sc->svc == NULL)
			return;
		if (sp->flags & PSW_SVC_F_REJECT)
			sc->svc[sp->cslot].rejected++;
		else
			sc->svc[sp->cslot].no_local++;
		return;
	}
	if (!psw_ct_key_of(m, &orig)) {
		psw_set_drop(m, PSW_DROP_SVC_INVALID);
		return;
	}
	bi = sp->maglev[rte_hash_crc(&orig, sizeof(orig), 0) % sp->maglev_size];
	if (sp->flags & PSW_SVC_F_AFFINITY)
		bi = affinity_backend(sc, t, sp, &orig, bi, now);
	be = &sp->backends[bi];
	hairpin = memcmp(be->addr, orig.src, alen) == 0;
	memset(&reply, 0, sizeof(reply));
	reply.family = orig.family;
	reply.proto = orig.proto;
	memcpy(reply.src, be->addr, alen);
	if (is_icmp(orig.proto)) {
		reply.sport = orig.sport;
		reply.dport = psw_ct_echo_reverse(orig.dport);
	} else {
		reply.sport = be->port;
		reply.dport = orig.sport;
	}
	if (sp->flags & PSW_SVC_F_MASQ) {
		/* policy Cluster (a NodePort, an external IP): the reply comes back to
		 * this node's address, the one reached or the first */
		memcpy(reply.dst, masq_address(t, sp), alen);
		flags |= PSW_CT_F_SNAT;
	} else if (hairpin) {
		/* the backend is the client: make the reply come back through the switch */
		memcpy(reply.dst, m->l3 == PSW_L3_IPV4 ? (const uint8_t *)&t->node.gw4 : t->node.gw6, alen);
		flags |= PSW_CT_F_SNAT;
		psw_count_event(sc, PSW_EV_SVC_HAIRPIN);
	} else if (t->ports[m->in_port].is_pod && (src = masq_source(t, m, be->addr)) != NULL) {
		/* a pod to an endpoint outside the cluster (a Service without
		 * selector): masqueraded as any connection leaving it */
		memcpy(reply.dst, src, alen);
		flags |= PSW_CT_F_SNAT;
	} else {
		memcpy(reply.dst, orig.src, alen);
	}
	/* the client's own address kept, its port too unless that reply is taken */
	rc = psw_ct_open_snat(sc, t->ct, pkt, m, &orig, &reply, sp->id, bi, flags, now);
	if (rc == -EEXIST) {
		follow_existing(sc, t, pkt, m, &orig, th, seg_len, now);
		return;
	}
	if (rc < 0)
		return;                          /* refused, and dropped as such */
	e = psw_ct_entry(t->ct, (uint32_t)rc);
	psw_ct_set_cslot(e, sp->cslot);
	psw_nat_apply_entry(pkt, m, e, PSW_CT_DIR_ORIG);
	psw_ct_count_svc(sc, e, PSW_CT_DIR_ORIG, m);
	/* to a node address (a NodePort): DNAT-ed to a backend, no longer for the node */
	m->flags &= (uint16_t)~PSW_F_TO_GW;
	m->flags |= PSW_F_CT_NEW;                /* the policy stage decides on it */
	psw_count_event(sc, PSW_EV_SVC_DNAT);
	if (sc->svc != NULL)
		sc->svc[sp->cslot].connections++;
}

/*
 * A pod's packet to outside the cluster, of a family masqueraded: the
 * node's address it leaves with, else NULL.
 */
static inline const uint8_t *
leaves_cluster(const struct psw_tables *t, const struct psw_meta *m)
{
	if (!t->ports[m->in_port].is_pod)
		return NULL;
	return masq_source(t, m, m->l3 == PSW_L3_IPV4 ? (const uint8_t *)&m->dst4 : m->dst6);
}

/* From outside the cluster to a local pod (routed to it, not through a Service)? */
static inline bool
enters_from_outside(const struct psw_tables *t, const struct psw_meta *m)
{
	if (t->ports[m->in_port].is_pod || t->pods == NULL)
		return false;
	if (m->l3 == PSW_L3_IPV4)
		return t->node.masq && outside(t, m->src4) &&
		       psw_pod_find4(t->pods, m->dst4, psw_pod_hash4(m->dst4)) >= 0;
	return t->node.masq6 && outside6(t, m->src6) &&
	       psw_pod_find6(t->pods, m->dst6, psw_pod_hash6(m->dst6)) >= 0;
}

/*
 * Track a connection from outside the cluster to a pod: its replies are
 * then known, and leave unmasqueraded (as Linux's conntrack sees the
 * inbound SYN first). Picked up mid-stream, TCP is tracked loosely.
 */
static void
track_inbound(struct psw_stage_ctx *sc, const struct psw_tables *t, struct rte_mbuf *pkt,
	      struct psw_meta *m, uint64_t now)
{
	unsigned seg_len = 0;
	const struct rte_tcp_hdr *th = psw_tcp_hdr(pkt, m, &seg_len);
	struct psw_ct_key orig, reply;
	uint8_t flags = 0;
	int rc;

	if (!psw_ct_key_of(m, &orig) || psw_ct_key_echo_reply(&orig))
		return;                          /* an echo reply opens nothing */
	if (th != NULL && (th->tcp_flags & (RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG)) != RTE_TCP_SYN_FLAG)
		flags |= PSW_CT_F_LOOSE;
	psw_ct_key_reverse(&orig, &reply);
	rc = psw_ct_open(sc, t->ct, pkt, m, &orig, &reply, 0, 0, flags,
			 flags & PSW_CT_F_LOOSE ? PSW_CT_ESTABLISHED : PSW_CT_NEW, PSW_CT_DIR_ORIG, now);
	if (rc == -EEXIST) {
		follow_existing(sc, t, pkt, m, &orig, th, seg_len, now);
		return;
	}
	if (rc >= 0)
		m->flags |= PSW_F_CT_NEW;        /* the policy stage decides on it */
}

/* A new connection from a pod to outside the cluster: its source becomes the node's (src). */
static void
masq_connect(struct psw_stage_ctx *sc, const struct psw_tables *t, struct rte_mbuf *pkt,
	     struct psw_meta *m, const uint8_t *src, uint64_t now)
{
	unsigned seg_len = 0;
	const struct rte_tcp_hdr *th = psw_tcp_hdr(pkt, m, &seg_len);
	struct psw_ct_key orig, reply;
	int rc;

	if (th != NULL && (!(th->tcp_flags & RTE_TCP_SYN_FLAG) || (th->tcp_flags & RTE_TCP_ACK_FLAG))) {
		/* not the start of a connection, and none is known: never let the pod's address out */
		psw_set_drop(m, PSW_DROP_CT_INVALID);
		return;
	}
	if (!psw_ct_key_of(m, &orig) || psw_ct_key_echo_reply(&orig)) {
		/* an echo reply answers nothing known: it opens nothing (its reverse,
		 * an echo request to the node, would be handed to the pod) */
		psw_set_drop(m, PSW_DROP_MASQ_UNTRACKED);
		return;
	}
	psw_ct_key_reverse(&orig, &reply);
	memcpy(reply.dst, src, m->l3 == PSW_L3_IPV4 ? 4 : 16);
	rc = psw_ct_open_snat(sc, t->ct, pkt, m, &orig, &reply, 0, 0, PSW_CT_F_SNAT, now);
	if (rc == -EEXIST) {
		follow_existing(sc, t, pkt, m, &orig, th, seg_len, now);
		return;
	}
	if (rc < 0)
		return;                          /* refused, and dropped as such */
	psw_nat_apply_entry(pkt, m, psw_ct_entry(t->ct, (uint32_t)rc), PSW_CT_DIR_ORIG);
	m->flags |= PSW_F_CT_NEW;                /* the policy stage decides on it */
	psw_count_event(sc, PSW_EV_MASQ);
}

/*
 * After the connections of this burst are open: the first fragments of
 * those opened now are noted, and later fragments that came with them get
 * their connection (judged by the policy stage with it); one whose first
 * has not come is held for it where only a translation takes it on
 * (psw_frag.h). What is left untracked (another protocol) and would leave
 * the cluster with a pod's address is dropped.
 */
static void
untracked(struct psw_stage_ctx *sc, const struct psw_tables *t, struct psw_burst *b, bool masq)
{
	unsigned i;

	for (i = 0; i < b->nb; i++) {
		struct psw_meta *m = &b->meta[i];

		if (m->verdict == PSW_V_CONTINUE && (m->flags & (PSW_F_FRAG | PSW_F_FRAG_LATER)) == PSW_F_FRAG &&
		    m->ct != 0)
			psw_frag_note(sc, t, b->pkts[i], m);
	}
	for (i = 0; i < b->nb; i++) {
		struct psw_meta *m = &b->meta[i];

		if (m->verdict != PSW_V_CONTINUE || m->ct != 0 || (m->l3 != PSW_L3_IPV4 && m->l3 != PSW_L3_IPV6))
			continue;
		if (m->flags & PSW_F_FRAG_LATER) {
			if (psw_frag_follow(sc, t, b->pkts[i], m)) {
				m->flags |= PSW_F_CT_NEW;        /* its connection's verdict may be pending */
				continue;
			}
			if (psw_frag_wait(sc, t, m, masq && leaves_cluster(t, m)))
				continue;                /* before its first fragment: held for it */
		}
		/* (an ICMP error about a tracked connection goes with it) */
		if (masq && !(m->flags & (PSW_F_CT_MISS | PSW_F_CT_RELATED)) && leaves_cluster(t, m) != NULL)
			psw_set_drop(m, PSW_DROP_MASQ_UNTRACKED);
	}
}

void
psw_service_run(struct psw_stage_ctx *sc, const struct psw_tables *t, struct psw_burst *b)
{
	struct psw_svc_key keys[PSW_BURST_MAX];
	const void *kp[PSW_BURST_MAX];
	void *data[PSW_BURST_MAX];
	uint8_t idx[PSW_BURST_MAX];
	const struct psw_svc_table *s = t->svcs;
	uint64_t mask = 0, now;
	unsigned i, n = 0;

	bool svcs = s != NULL && __atomic_load_n(&s->nb_ports, __ATOMIC_RELAXED) > 0;
	bool masq = t->node.masq || t->node.masq6;
	const uint8_t *src;
	uint16_t frags = 0;

	if ((!svcs && !masq) || t->ct == NULL)
		return;
	for (i = 0; i < b->nb; i++) {
		struct psw_meta *m = &b->meta[i];
		struct psw_svc_key *k = &keys[n];

		if (m->verdict != PSW_V_CONTINUE)
			continue;
		frags |= m->flags & PSW_F_FRAG;
		if (!(m->flags & PSW_F_CT_MISS))
			continue;
		memset(k, 0, sizeof(*k));
		k->proto = m->l4_proto;
		k->port = is_icmp(m->l4_proto) ? 0 : m->dport;
		if (m->l3 == PSW_L3_IPV4) {
			k->family = 4;
			memcpy(k->addr, &m->dst4, 4);
		} else {
			k->family = 6;
			memcpy(k->addr, m->dst6, 16);
		}
		kp[n] = k;
		idx[n++] = (uint8_t)i;
	}
	if (n > 0 && svcs)
		rte_hash_lookup_bulk_data(s->vips, kp, n, &mask, data);
	if (mask != 0 || masq) {
		now = rte_rdtsc();
		for (i = 0; i < n; i++) {
			struct psw_meta *m = &b->meta[idx[i]];

			if ((mask >> i) & 1)
				svc_connect(sc, t, b->pkts[idx[i]], m, (const struct psw_svc_port *)data[i], now);
			else if (masq && (src = leaves_cluster(t, m)) != NULL)
				masq_connect(sc, t, b->pkts[idx[i]], m, src, now);
			else if (masq && enters_from_outside(t, m))
				track_inbound(sc, t, b->pkts[idx[i]], m, now);
		}
	}
	if (unlikely(frags) || masq)
		untracked(sc, t, b, masq);
}
