/* Policy stage: NetworkPolicy verdicts for the first packet of a connection. */
#include <netinet/in.h>
#include <string.h>

#include <rte_acl.h>
#include <rte_cycles.h>
#include <rte_ring.h>
#include <rte_tcp.h>

#include "psw_ct.h"
#include "psw_policy.h"

/* One packet waiting for its verdict. */
struct cand {
	uint8_t idx;                         /* in the burst */
	uint8_t family;
	uint8_t track;                       /* open a connection entry when allowed */
	uint8_t flip;                        /* TCP picked up mid-stream from the server's side */
	uint8_t companion;                   /* only a verdict for the next candidate (same packet) */
	const struct psw_pol_port *pp[2];    /* by direction; NULL = not isolated that way */
	uint32_t res[2];                     /* rte_acl userdata, 0 = no rule allows */
	uint8_t in[2][24] __rte_aligned(8);  /* ACL input by direction (psw_policy.h) */
};

static inline const struct psw_pol_port *
port_policy(const struct psw_pol_table *pt, uint16_t port)
{
	return port < PSW_MAX_PORTS ? __atomic_load_n(&pt->ports[port], __ATOMIC_ACQUIRE) : NULL;
}

/* The port of the local pod with this address (network order), or PSW_PORT_NONE. */
static uint16_t
pod_port(const struct psw_tables *t, unsigned family, const uint8_t *addr)
{
	int32_t p;

	if (t->pods == NULL)
		return PSW_PORT_NONE;
	if (family == 4) {
		uint32_t a;

		memcpy(&a, addr, 4);
		p = psw_pod_find4(t->pods, a, psw_pod_hash4(a));
	} else {
		p = psw_pod_find6(t->pods, addr, psw_pod_hash6(addr));
	}
	return p < 0 ? PSW_PORT_NONE : t->pods->pods[p].nh.port;
}

static void
fill_input(uint8_t in[24], uint8_t proto, const uint8_t *peer, unsigned alen, uint16_t port)
{
	memset(in, 0, 24);
	in[0] = proto;
	memcpy(in + 4, peer, alen);
	memcpy(in + 4 + alen, &port, 2);
}

/* rte_acl_classify once per context over the candidates using it in direction d. */
static void
classify_dir(struct cand *c, unsigned n, unsigned d)
{
	const uint8_t *data[2 * PSW_BURST_MAX];
	uint32_t res[2 * PSW_BURST_MAX];
	uint8_t who[2 * PSW_BURST_MAX];
	uint64_t done = 0;
	unsigned i, j;

	for (i = 0; i < n; i++) {
		const struct rte_acl_ctx *ctx;
		unsigned k = 0;

		if (c[i].pp[d] == NULL || ((done >> i) & 1))
			continue;
		ctx = c[i].pp[d]->acl[d][c[i].family == 4 ? 0 : 1];
		for (j = i; j < n; j++) {
			if (((done >> j) & 1) || c[j].pp[d] == NULL ||
			    c[j].pp[d]->acl[d][c[j].family == 4 ? 0 : 1] != ctx)
				continue;
			done |= 1ull << j;
			data[k] = c[j].in[d];
			who[k++] = (uint8_t)j;
		}
		if (ctx == NULL) {
			for (j = 0; j < k; j++)
				c[who[j]].res[d] = 0;      /* isolated, nothing allowed */
			continue;
		}
		rte_acl_classify(ctx, data, res, k, 1);
		for (j = 0; j < k; j++)
			c[who[j]].res[d] = res[j];
	}
}

static void
count_allow(struct psw_stage_ctx *sc, const struct psw_pol_port *pp, uint32_t res)
{
	if (sc->pol != NULL && pp != NULL && res != 0)
		sc->pol[pp->refs[res - 1].slot].allowed++;
}

static void
count_deny(struct psw_stage_ctx *sc, const struct psw_pol_port *pp, unsigned d)
{
	unsigned i;

	if (sc->pol == NULL)
		return;
	for (i = 0; i < pp->nb_isolating[d]; i++)
		sc->pol[pp->isolating[d][i]].denied++;
}

/*
 * The client's port of what candidate c judged (network order), found as
 * judge_what() found its addresses: from the connection entry (the
 * original client's when masqueraded), else from the packet (its
 * destination's when flipped). Audit only: judge_what() does not keep it.
 */
static uint16_t
client_port(const struct psw_tables *t, const struct psw_meta *m, const struct cand *c)
{
	const struct psw_ct_entry *e;

	if (m->ct == 0)
		return c->flip ? m->dport : m->sport;
	e = psw_ct_entry(t->ct, m->ct - 1);
	return (e->flags & PSW_CT_F_SNAT) ? e->orig.sport : e->reply.dport;
}

/*
 * A verdict for the audit log (psw_policy.h): what candidate c judged, in
 * direction d, by pp's policy (res: the allowing rule + 1). Only reached
 * when pp asks for it; never waits.
 */
static __rte_noinline void
audit(struct psw_stage_ctx *sc, const struct psw_tables *t, const struct psw_meta *m, const struct cand *c,
      const struct psw_pol_port *pp, unsigned d, unsigned verdict, uint32_t res)
{
	struct psw_audit_rec r;
	unsigned alen = c->family == 4 ? 4 : 16;

	if (sc->audit == NULL || pp->port >= PSW_MAX_PORTS)
		return;
	if (!psw_bucket_take(&sc->audit_bucket[pp->port], PSW_AUDIT_WORKER_RATE, PSW_AUDIT_WORKER_BURST)) {
		sc->events[PSW_EV_AUDIT_SUPPRESSED]++;
		return;
	}
	memset(&r, 0, sizeof(r));
	r.tsc = rte_rdtsc();
	memcpy(r.src, c->in[PSW_POL_INGRESS] + 4, alen);  /* the ingress input's peer: the source */
	memcpy(r.dst, c->in[PSW_POL_EGRESS] + 4, alen);
	memcpy(&r.dport, c->in[PSW_POL_EGRESS] + 4 + alen, 2);
	r.sport = r.dport != 0 ? client_port(t, m, c) : 0;   /* no ports (ICMP: an identifier, not a port) */
	r.in_port = m->in_port;
	r.pod_port = pp->port;
	/* allow: the rule's policy; deny: the first policy isolating the pod (the rest are named
	 * from the pod's object when the record is written, if it is still the one) */
	r.slot = res != 0 ? pp->refs[res - 1].slot : pp->nb_isolating[d] > 0 ? pp->isolating[d][0] : 0;
	r.rule = res != 0 ? pp->refs[res - 1].rule : PSW_AUDIT_NO_RULE;
	r.family = c->family;
	r.proto = c->in[PSW_POL_EGRESS][0];
	r.dir = (uint8_t)d;
	r.verdict = (uint8_t)verdict;
	r.recheck = m->ct != 0 && !(m->flags & PSW_F_CT_NEW);
	if (rte_ring_sp_enqueue_elem(sc->audit, &r, sizeof(r)) != 0)
		sc->events[PSW_EV_AUDIT_RING_FULL]++;
	else
		sc->events[PSW_EV_AUDIT_QUEUED]++;
}

/* An allowed new connection: a line for each direction whose pod asks for allowed ones. */
static __rte_noinline void
audit_allowed(struct psw_stage_ctx *sc, const struct psw_tables *t, const struct psw_meta *m,
	      const struct cand *c)
{
	const struct psw_pol_port *eg = c->pp[PSW_POL_EGRESS], *in = c->pp[PSW_POL_INGRESS];

	if (eg != NULL && (eg->audit & PSW_AUDIT_ALLOW))
		audit(sc, t, m, c, eg, PSW_POL_EGRESS, PSW_AUDIT_V_ALLOW, c->res[PSW_POL_EGRESS]);
	if (in != NULL && (in->audit & PSW_AUDIT_ALLOW))
		audit(sc, t, m, c, in, PSW_POL_INGRESS, PSW_AUDIT_V_ALLOW, c->res[PSW_POL_INGRESS]);
}

/* The direction whose isolation denies the candidate, or 2 when allowed. */
static unsigned
denied_dir(const struct cand *c)
{
	if (c->pp[PSW_POL_EGRESS] != NULL && c->res[PSW_POL_EGRESS] == 0)
		return PSW_POL_EGRESS;
	if (c->pp[PSW_POL_INGRESS] != NULL && c->res[PSW_POL_INGRESS] == 0)
		return PSW_POL_INGRESS;
	return 2;
}

/* Remember in the connection which policy allowed each direction (slot + 1, 0 = none needed). */
static void
set_verdict(struct psw_ct_entry *e, const struct cand *c, uint32_t gen)
{
	unsigned d;

	for (d = 0; d < 2; d++)
		e->pol[d] = c != NULL && c->pp[d] != NULL && c->res[d] != 0 ?
			    (uint16_t)(c->pp[d]->refs[c->res[d] - 1].slot + 1) : 0;
	e->pol_gen = gen;
}

/* An allowed pod-to-pod flow: record it so replies pass both ways. */
static void
open_flow(struct psw_stage_ctx *sc, const struct psw_tables *t, struct rte_mbuf *pkt, struct psw_meta *m,
	  const struct cand *c, uint32_t gen, uint64_t now)
{
	struct psw_ct_key k, r;
	const struct rte_tcp_hdr *th = NULL;
	unsigned seg_len = 0;
	uint8_t flags = PSW_CT_F_POLICY;
	int rc;

	if (!psw_ct_key_of(m, &k) || psw_ct_key_echo_reply(&k))
		return;                              /* an echo reply opens nothing: its reverse is a request */
	th = psw_tcp_hdr(pkt, m, &seg_len);
	if (th != NULL && (th->tcp_flags & (RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG)) != RTE_TCP_SYN_FLAG)
		flags |= PSW_CT_F_LOOSE;             /* picked up mid-stream: no handshake to learn windows */
	psw_ct_key_reverse(&k, &r);
	/* flipped: the connection is the client's (r); this packet is its reply */
	rc = c->flip ? psw_ct_open(sc, t->ct, pkt, m, &r, &k, 0, 0, flags,
				   flags & PSW_CT_F_LOOSE ? PSW_CT_ESTABLISHED : PSW_CT_NEW, PSW_CT_DIR_REPLY, now)
		     : psw_ct_open(sc, t->ct, pkt, m, &k, &r, 0, 0, flags,
				   flags & PSW_CT_F_LOOSE ? PSW_CT_ESTABLISHED : PSW_CT_NEW, PSW_CT_DIR_ORIG, now);
	if (rc < 0)
		return;          /* another worker opened it first (-EEXIST), or refused and dropped */
	set_verdict(psw_ct_entry(t->ct, (uint32_t)rc), c, gen);
}

/*
 * What the policy judges for packet i: the connection's original direction
 * as its destination sees it (after DNAT and any masquerade). A new
 * connection is read from the packet; a connection judged again, from its
 * entry (the packet may be a reply). Returns false when neither end has a
 * policy (nothing to judge, nothing to track).
 */
static bool
judge_what(const struct psw_tables *t, const struct psw_pol_table *pt, const struct psw_meta *m,
	   const struct psw_ct_entry *e, bool flip, struct cand *c)
{
	const uint8_t *src, *dst, *client;
	unsigned family, alen;
	uint16_t port, sp, dp;
	bool from_node = false, self = false;
	uint8_t proto;

	if (flip) {
		/* the packet is the server's: judge the client (its destination) to the server */
		family = m->l3 == PSW_L3_IPV4 ? 4 : 6;
		proto = m->l4_proto;
		src = family == 4 ? (const uint8_t *)&m->dst4 : m->dst6;
		dst = family == 4 ? (const uint8_t *)&m->src4 : m->src6;
		port = m->sport;
		sp = pod_port(t, family, src);
	} else if (e == NULL) {
		family = m->l3 == PSW_L3_IPV4 ? 4 : 6;
		proto = m->l4_proto;
		src = family == 4 ? (const uint8_t *)&m->src4 : m->src6;
		dst = family == 4 ? (const uint8_t *)&m->dst4 : m->dst6;
		port = (m->flags & PSW_F_L4) && proto != IPPROTO_ICMP && proto != IPPROTO_ICMPV6 ? m->dport : 0;
		sp = t->ports[m->in_port].is_pod ? m->in_port : PSW_PORT_NONE;
		/* the node's own traffic: from the node's port, with a node address */
		from_node = t->ports[m->in_port].is_node && psw_node_addr(&t->node, family, src);
	} else {
		family = e->orig.family;
		proto = e->orig.proto;
		alen = family == 4 ? 4 : 16;
		client = e->orig.src;
		dst = e->reply.src;              /* the backend */
		/*
		 * The client as the backend sees it, unless masqueraded (a NodePort
		 * with policy Cluster, a hairpin): then the original client, which
		 * only the connection knows. A pod reaching itself through a Service
		 * is not judged by its own ingress.
		 */
		src = (e->flags & PSW_CT_F_SNAT) ? client : e->reply.dst;
		self = (e->flags & PSW_CT_F_SNAT) && memcmp(client, dst, alen) == 0;
		port = proto != IPPROTO_ICMP && proto != IPPROTO_ICMPV6 ? e->reply.sport : 0;
		sp = pod_port(t, family, client);
		from_node = e->zone < PSW_MAX_PORTS && t->ports[e->zone].is_node &&
			    psw_node_addr(&t->node, family, client);
	}
	alen = family == 4 ? 4 : 16;
	dp = pod_port(t, family, dst);
	/*
	 * Either end with a policy at all is judged, and an allowed flow is
	 * tracked: its replies may enter an ingress-isolated client or leave an
	 * egress-isolated server.
	 */
	c->pp[PSW_POL_EGRESS] = sp != PSW_PORT_NONE ? port_policy(pt, sp) : NULL;
	c->pp[PSW_POL_INGRESS] = dp != PSW_PORT_NONE ? port_policy(pt, dp) : NULL;
	if (c->pp[PSW_POL_EGRESS] == NULL && c->pp[PSW_POL_INGRESS] == NULL)
		return false;
	if (c->pp[PSW_POL_EGRESS] != NULL && !c->pp[PSW_POL_EGRESS]->isolated[PSW_POL_EGRESS])
		c->pp[PSW_POL_EGRESS] = NULL;
	if (c->pp[PSW_POL_INGRESS] != NULL &&
	    (!c->pp[PSW_POL_INGRESS]->isolated[PSW_POL_INGRESS] || from_node || self))
		c->pp[PSW_POL_INGRESS] = NULL;      /* the node (and a pod to itself): always allowed in */
	c->family = (uint8_t)family;
	c->res[0] = c->res[1] = 0;
	fill_input(c->in[PSW_POL_EGRESS], proto, dst, alen, port);
	fill_input(c->in[PSW_POL_INGRESS], proto, src, alen, port);
	return true;
}

void
psw_policy_run(struct psw_stage_ctx *sc, const struct psw_tables *t, struct psw_burst *b)
{
	const struct psw_pol_table *pt = t->pol;
	struct cand c[2 * PSW_BURST_MAX];
	unsigned i, n = 0;
	uint32_t gen = psw_pol_gen(pt);
	bool auditing;
	uint64_t now;

	if (gen == 0)
		return;                              /* no policy in force */
	/* any pod audited? (psw_pol_table_set counts them); else no audit code at all */
	auditing = __atomic_load_n(&pt->nb_audited, __ATOMIC_RELAXED) != 0;
	for (i = 0; i < b->nb; i++) {
		struct psw_meta *m = &b->meta[i];
		struct psw_ct_entry *e = NULL;
		bool flip;

		if (m->verdict != PSW_V_CONTINUE || (m->l3 != PSW_L3_IPV4 && m->l3 != PSW_L3_IPV6))
			continue;
		if (m->ct != 0) {
			if (!(m->flags & (PSW_F_CT_NEW | PSW_F_CT_RECHECK)))
				continue;            /* its verdict is current */
			e = psw_ct_entry(t->ct, m->ct - 1);
		} else if ((m->flags & PSW_F_CT_RELATED) && psw_is_icmp_error(m)) {
			continue;                    /* an error about a known connection goes with it */
		}
		/* a new Service connection is judged on its packet, as the backend sees it */
		/*
		 * TCP with no connection and no SYN: a connection opened before any
		 * policy concerned it, direction unknown. When the packet comes from
		 * the lower port (likely the server's), it must be allowed both as
		 * what it is and as the client's connection to that server; it is
		 * then recorded as the latter. So a new deny into the server cuts it,
		 * and a reply-looking packet never opens more than its own direction
		 * allows.
		 */
		flip = false;
		if (m->ct == 0 && (m->flags & PSW_F_CT_MISS) && m->l4_proto == IPPROTO_TCP &&
		    rte_be_to_cpu_16(m->sport) < rte_be_to_cpu_16(m->dport)) {
			const struct rte_tcp_hdr *th = rte_pktmbuf_mtod_offset(b->pkts[i],
						const struct rte_tcp_hdr *, m->l4_off);

			flip = !(th->tcp_flags & RTE_TCP_SYN_FLAG);
		}
		if (flip) {
			/* its own direction first, as a companion verdict */
			if (!judge_what(t, pt, m, NULL, false, &c[n]))
				continue;            /* neither end has a policy either way */
			c[n].idx = (uint8_t)i;
			c[n].track = 0;
			c[n].flip = 0;
			c[n].companion = 1;
			n++;
		}
		/* a connection (new through a Service, or judged again) is judged from its entry */
		if (!judge_what(t, pt, m, e, flip, &c[n])) {
			if (flip)
				n--;                 /* no verdict to pair the companion with */
			if (e != NULL)
				set_verdict(e, NULL, gen);   /* nothing isolates it now */
			continue;
		}
		if ((m->flags & PSW_F_FRAG_LATER) && e == NULL) {
			/* no ports to judge by, no connection: a later fragment into an
			 * ingress-isolated pod, or out of an egress-isolated one, is
			 * dropped; others pass (one that followed its first fragment is
			 * judged as its connection) */
			if (c[n].pp[PSW_POL_INGRESS] != NULL || c[n].pp[PSW_POL_EGRESS] != NULL)
				psw_set_drop(m, c[n].pp[PSW_POL_INGRESS] != NULL ? PSW_DROP_POLICY_INGRESS
										  : PSW_DROP_POLICY_EGRESS);
			continue;
		}
		c[n].idx = (uint8_t)i;
		c[n].track = m->ct == 0 && (m->flags & PSW_F_CT_MISS);
		c[n].flip = flip;
		c[n].companion = 0;
		n++;
	}
	if (n == 0)
		return;
	classify_dir(c, n, PSW_POL_EGRESS);
	classify_dir(c, n, PSW_POL_INGRESS);
	now = rte_rdtsc();
	for (i = 0; i < n; i++) {
		struct psw_meta *m = &b->meta[c[i].idx];
		const struct psw_pol_port *eg = c[i].pp[PSW_POL_EGRESS], *in = c[i].pp[PSW_POL_INGRESS];
		bool fresh = m->ct == 0 || (m->flags & PSW_F_CT_NEW);
		const struct cand *why = &c[i];
		unsigned d;

		d = denied_dir(&c[i]);
		if (c[i].companion) {
			/* the packet's own direction; the flipped verdict follows */
			unsigned d2 = denied_dir(&c[i + 1]);

			i++;
			why = d < 2 ? &c[i - 1] : &c[i];
			d = d < 2 ? d : d2;
			eg = c[i].pp[PSW_POL_EGRESS];
			in = c[i].pp[PSW_POL_INGRESS];
		}
		if (d < 2) {
			count_deny(sc, why->pp[d], d);      /* new, or cut by a change */
			if (unlikely(auditing) && (why->pp[d]->audit & PSW_AUDIT_DENY))
				audit(sc, t, m, why, why->pp[d], d, PSW_AUDIT_V_DENY, 0);
			psw_set_drop(m, d == PSW_POL_EGRESS ? PSW_DROP_POLICY_EGRESS : PSW_DROP_POLICY_INGRESS);
			if (m->ct != 0)                  /* its connection goes */
				psw_ct_deny(t->ct, m->ct - 1, d);
			psw_ct_uncount_svc(sc, m);       /* it never reaches the other side */
			continue;
		}
		if (fresh) {
			count_allow(sc, eg, c[i].res[PSW_POL_EGRESS]);
			count_allow(sc, in, c[i].res[PSW_POL_INGRESS]);
			if (unlikely(auditing))
				audit_allowed(sc, t, m, &c[i]);
		}
		if (c[i].track)
			open_flow(sc, t, b->pkts[c[i].idx], m, &c[i], gen, now);
		else if (m->ct != 0)
			set_verdict(psw_ct_entry(t->ct, m->ct - 1), &c[i], gen);
	}
}

/* ------------------------------------------------------------ trace (slow path) */

/* The ACL result of one candidate in direction d, as classify_dir gives it. */
static void
classify_one(struct cand *c, unsigned d)
{
	const struct rte_acl_ctx *ctx;
	const uint8_t *data = c->in[d];

	c->res[d] = 0;
	if (c->pp[d] == NULL)
		return;
	ctx = c->pp[d]->acl[d][c->family == 4 ? 0 : 1];
	if (ctx != NULL)
		rte_acl_classify(ctx, &data, &c->res[d], 1, 1);
}

static void
why_dir(struct psw_pol_why_dir *wd, const struct cand *c, unsigned d)
{
	const struct psw_pol_port *pp = c->pp[d];
	unsigned i;

	memset(wd, 0, sizeof(*wd));
	if (pp == NULL)
		return;
	wd->isolated = 1;
	wd->nb_isolating = pp->nb_isolating[d];
	for (i = 0; i < pp->nb_isolating[d] && i < PSW_POL_WHY_MAX_ISOLATING; i++)
		wd->isolating[i] = pp->isolating[d][i];
	if (c->res[d] != 0 && c->res[d] <= pp->nb_refs) {
		wd->allowed = 1;
		wd->ref = pp->refs[c->res[d] - 1];
	}
}

void
psw_policy_why(const struct psw_tables *t, const struct rte_mbuf *pkt, const struct psw_meta *m,
	       struct psw_pol_why *w)
{
	const struct psw_pol_table *pt = t->pol;
	const struct psw_ct_entry *e = NULL;
	struct cand c[2];
	const struct cand *why;
	bool flip = false;

	memset(w, 0, sizeof(*w));
	if (psw_pol_gen(pt) == 0)
		return;                              /* PSW_POL_WHY_OFF */
	w->kind = PSW_POL_WHY_SKIPPED;
	if (m->verdict != PSW_V_CONTINUE || (m->l3 != PSW_L3_IPV4 && m->l3 != PSW_L3_IPV6))
		return;
	if (m->ct != 0) {
		w->kind = PSW_POL_WHY_CURRENT;
		if (!(m->flags & (PSW_F_CT_NEW | PSW_F_CT_RECHECK)))
			return;
		e = psw_ct_entry(t->ct, m->ct - 1);
		w->recheck = !!(m->flags & PSW_F_CT_RECHECK);
	} else if ((m->flags & PSW_F_CT_RELATED) && psw_is_icmp_error(m)) {
		w->kind = PSW_POL_WHY_RELATED;
		return;
	}
	if (m->ct == 0 && (m->flags & PSW_F_CT_MISS) && m->l4_proto == IPPROTO_TCP &&
	    rte_be_to_cpu_16(m->sport) < rte_be_to_cpu_16(m->dport)) {
		const struct rte_tcp_hdr *th = rte_pktmbuf_mtod_offset(pkt, const struct rte_tcp_hdr *, m->l4_off);

		flip = !(th->tcp_flags & RTE_TCP_SYN_FLAG);
	}
	w->kind = PSW_POL_WHY_NONE;
	memset(c, 0, sizeof(c));
	if (flip && !judge_what(t, pt, m, NULL, false, &c[0]))
		return;
	if (!judge_what(t, pt, m, e, flip, &c[1]))
		return;
	w->flip = flip;
	if ((m->flags & PSW_F_FRAG_LATER) && e == NULL) {
		w->kind = PSW_POL_WHY_FRAGMENT;
		why_dir(&w->dir[PSW_POL_INGRESS], &c[1], PSW_POL_INGRESS);
		why_dir(&w->dir[PSW_POL_EGRESS], &c[1], PSW_POL_EGRESS);
		return;
	}
	w->kind = PSW_POL_WHY_JUDGED;
	classify_one(&c[1], PSW_POL_EGRESS);
	classify_one(&c[1], PSW_POL_INGRESS);
	why = &c[1];
	if (flip) {
		classify_one(&c[0], PSW_POL_EGRESS);
		classify_one(&c[0], PSW_POL_INGRESS);
		if (denied_dir(&c[0]) < 2)
			why = &c[0];                 /* its own direction is what denies it */
	}
	why_dir(&w->dir[PSW_POL_INGRESS], why, PSW_POL_INGRESS);
	why_dir(&w->dir[PSW_POL_EGRESS], why, PSW_POL_EGRESS);
}
