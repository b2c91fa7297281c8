/* Packet trace, control side: arm, collect the workers' records, render them in names. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_cycles.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "psw_api.h"
#include "psw_ct.h"
#include "psw_ctl.h"
#include "psw_netpol.h"
#include "psw_port.h"
#include "psw_trace.h"
#include "psw_trace_ctl.h"

#define TIMEOUT_DEFAULT_S 10
#define TIMEOUT_MAX_S     3600

static struct {
	struct psw_trace_arm *arm;       /* published to the workers, NULL: none armed */
	bool active;                     /* armed and not finished */
	bool expired;                    /* finished by its timeout */
	uint32_t id, last_id;
	uint16_t count;
	unsigned nb_packets;             /* records of packets (not of a held fragment's release) */
	uint64_t start_tsc;
	struct timespec deadline;
	uint64_t lost_base[PSW_MAX_WORKERS];
	unsigned nb_workers;
	json_t *records;                 /* rendered, in the order they came */
	char filter[sizeof(((struct psw_filter *)0)->expr)];
	char port[PSW_NAME_MAX];
} tr;

static struct psw_trace_rec rec;         /* one record out of a ring (2 kB: not on the stack) */

int
psw_trace_ctl_init(unsigned nb_workers)
{
	tr.nb_workers = nb_workers;
	return psw_trace_init(nb_workers);
}

/* ---------------------------------------------------------------- rendering */

static const char *
port_name(uint16_t port, char *buf, size_t len)
{
	if (port < PSW_MAX_PORTS && psw_ports[port].in_use)
		return psw_ports[port].name;
	snprintf(buf, len, "port %u (removed)", port);
	return buf;
}

static void
ip_str(unsigned family, const void *a, char *buf, size_t len)
{
	if (inet_ntop(family == 4 ? AF_INET : AF_INET6, a, buf, (socklen_t)len) == NULL)
		snprintf(buf, len, "?");
}

/* The overlay's name (the configuration's word when lower); st may be NULL (tests). */
static const char *
tunnel_name(const struct psw_state *st, bool lower)
{
	if (st != NULL && st->cfg.cluster.encap == PSW_ENCAP_GENEVE)
		return lower ? "geneve" : "Geneve";
	return lower ? "vxlan" : "VXLAN";
}

static const char *
proto_name(uint8_t p)
{
	switch (p) {
	case IPPROTO_TCP: return "TCP";
	case IPPROTO_UDP: return "UDP";
	case IPPROTO_SCTP: return "SCTP";
	case IPPROTO_ICMP: return "ICMP";
	case IPPROTO_ICMPV6: return "ICMPv6";
	default: return "IP";
	}
}

/* Append to buf (always terminated). */
static void __attribute__((format(printf, 3, 4)))
cat(char *buf, size_t len, const char *fmt, ...)
{
	size_t used = strnlen(buf, len);
	va_list ap;

	if (used + 1 >= len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + used, len - used, fmt, ap);
	va_end(ap);
}

static void
mac_cat(char *buf, size_t len, const uint8_t *m)
{
	cat(buf, len, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

static void l2_summary(const uint8_t *h, unsigned len, char *out, size_t outlen, unsigned depth);

/* L4 after an IP header: ports, TCP flags, ICMP type; VXLAN's inner frame. */
static void
l4_summary(const uint8_t *h, unsigned len, uint8_t proto, const char *src, const char *dst, char *out,
	   size_t outlen, unsigned depth)
{
	if ((proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP) && len >= 4) {
		unsigned sp = (unsigned)h[0] << 8 | h[1], dp = (unsigned)h[2] << 8 | h[3];

		cat(out, outlen, "%s %s:%u > %s:%u", proto_name(proto), src, sp, dst, dp);
		if (proto == IPPROTO_TCP && len >= 14) {
			static const char names[] = "FSRPAU";
			unsigned i;

			cat(out, outlen, " [");
			for (i = 0; i < 6; i++)
				if (h[13] & (1u << i))
					cat(out, outlen, "%c", names[i]);
			cat(out, outlen, "]");
		}
		if (proto == IPPROTO_UDP && dp == 4789 && len >= 16 && depth == 0) {
			cat(out, outlen, " VXLAN vni %u: ", (unsigned)h[12] << 16 | (unsigned)h[13] << 8 | h[14]);
			l2_summary(h + 16, len - 16, out, outlen, depth + 1);
		} else if (proto == IPPROTO_UDP && dp == 6081 && len >= 16 && depth == 0) {
			unsigned inner = 16 + (h[8] & 0x3fu) * 4;

			cat(out, outlen, " Geneve vni %u: ", (unsigned)h[12] << 16 | (unsigned)h[13] << 8 | h[14]);
			if (inner < len)
				l2_summary(h + inner, len - inner, out, outlen, depth + 1);
		}
		return;
	}
	cat(out, outlen, "%s %s > %s", proto_name(proto), src, dst);
	if ((proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6) && len >= 2)
		cat(out, outlen, " type %u code %u", h[0], h[1]);
}

/* One line for a frame's headers (as far as the bytes kept go). */
static void
l2_summary(const uint8_t *h, unsigned len, char *out, size_t outlen, unsigned depth)
{
	char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
	unsigned off = 14, type;

	if (len < 14) {
		cat(out, outlen, "(%u bytes)", len);
		return;
	}
	mac_cat(out, outlen, h + 6);
	cat(out, outlen, " > ");
	mac_cat(out, outlen, h);
	type = (unsigned)h[12] << 8 | h[13];
	while ((type == 0x8100 || type == 0x88a8) && len >= off + 4) {
		cat(out, outlen, " vlan %u", ((unsigned)h[off] << 8 | h[off + 1]) & 0xfff);
		type = (unsigned)h[off + 2] << 8 | h[off + 3];
		off += 4;
	}
	cat(out, outlen, ", ");
	if (type == 0x0806 && len >= off + 28) {
		ip_str(4, h + off + 14, src, sizeof(src));
		ip_str(4, h + off + 24, dst, sizeof(dst));
		if (h[off + 7] == 1)
			cat(out, outlen, "ARP who-has %s tell %s", dst, src);
		else
			cat(out, outlen, "ARP reply %s is-at %02x:%02x:%02x:%02x:%02x:%02x", src, h[off + 8],
			    h[off + 9], h[off + 10], h[off + 11], h[off + 12], h[off + 13]);
	} else if (type == 0x0800 && len >= off + 20) {
		unsigned ihl = (h[off] & 0xf) * 4u, frag = ((unsigned)h[off + 6] << 8 | h[off + 7]);

		ip_str(4, h + off + 12, src, sizeof(src));
		ip_str(4, h + off + 16, dst, sizeof(dst));
		if (frag & 0x1fff)
			cat(out, outlen, "IPv4 %s > %s fragment offset %u%s", src, dst, (frag & 0x1fff) * 8,
			    frag & 0x2000 ? " (more)" : "");
		else if (len >= off + ihl)
			l4_summary(h + off + ihl, len - off - ihl, h[off + 9], src, dst, out, outlen, depth);
		else
			cat(out, outlen, "IPv4 %s > %s", src, dst);
		cat(out, outlen, ", ttl %u", h[off + 8]);
	} else if (type == 0x86dd && len >= off + 40) {
		ip_str(6, h + off + 8, src, sizeof(src));
		ip_str(6, h + off + 24, dst, sizeof(dst));
		if (h[off + 6] == 44)
			cat(out, outlen, "IPv6 %s > %s fragment", src, dst);
		else
			l4_summary(h + off + 40, len - off - 40, h[off + 6], src, dst, out, outlen, depth);
		cat(out, outlen, ", hlim %u", h[off + 7]);
	} else {
		cat(out, outlen, "ethertype 0x%04x", type);
	}
}

static void
headers(const struct psw_trace_step *s, char *out, size_t len)
{
	out[0] = '\0';
	l2_summary(s->hdr, RTE_MIN(s->hdr_len, (uint16_t)PSW_TRACE_HDR), out, len, 0);
	cat(out, len, ", %u bytes", s->pkt_len);
}

static bool
has_event(const struct psw_trace_step *s, enum psw_event ev)
{
	unsigned i;

	for (i = 0; i < s->nb_events && i < PSW_TRACE_EVENTS; i++)
		if (s->events[i] == ev)
			return true;
	return false;
}

static const char *
verdict_name(uint8_t v)
{
	static const char *const names[] = { "continue", "tx", "drop", "punt", "hold" };

	return v < RTE_DIM(names) ? names[v] : "?";
}

static const char *
punt_text(uint32_t reason)
{
	switch (reason & 0xffff) {
	case PSW_PUNT_ARP: return "arp (an ARP on an uplink: the neighbour table learns from it)";
	case PSW_PUNT_RESOLVE: return "resolve (its next hop's MAC is not known yet: held, asked for, then sent)";
	case PSW_PUNT_HEALTH: return "health (a Service's healthCheckNodePort, answered by the control thread)";
	case PSW_PUNT_ND: return "nd (a neighbour advertisement on an uplink)";
	default: return "?";
	}
}

static const char *
ct_state_name(uint8_t s)
{
	static const char *const names[] = { "new", "syn_recv", "established", "fin_wait", "closing",
					     "closed" };

	return s < RTE_DIM(names) ? names[s] : "?";
}

/* What the packet's verdict says, when a stage decided it. */
static void
verdict_text(const struct psw_trace_step *s, char *out, size_t len)
{
	char pb[40];

	switch (s->meta.verdict) {
	case PSW_V_TX:
		cat(out, len, "sent on %s", port_name(s->meta.out_port, pb, sizeof(pb)));
		break;
	case PSW_V_DROP:
		cat(out, len, "dropped: %s (%s)", psw_drop_name(s->meta.drop_reason),
		    psw_drop_help(s->meta.drop_reason));
		break;
	case PSW_V_PUNT:
		cat(out, len, "punted to the control thread: %s", punt_text(s->punt_reason));
		break;
	case PSW_V_HOLD:
		cat(out, len, "held: a later fragment that came before its first one, kept in the worker's "
		    "fragment hold until it comes");
		break;
	default:
		break;
	}
}

static void
parse_text(const struct psw_trace_step *s, char *out, size_t len)
{
	const struct psw_meta *m = &s->meta;
	char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
	static const struct { uint16_t flag; const char *name; } flags[] = {
		{ PSW_F_VLAN, "vlan" }, { PSW_F_FRAG, "fragment" }, { PSW_F_FRAG_LATER, "later fragment" },
		{ PSW_F_IP_OPTS, "ip options" }, { PSW_F_L2_MCAST, "l2 multicast" },
	};
	unsigned i, n = 0;

	if (m->l3 == PSW_L3_ARP)
		cat(out, len, "ARP");
	if (m->l3 == PSW_L3_IPV4 || m->l3 == PSW_L3_IPV6) {
		unsigned fam = m->l3 == PSW_L3_IPV4 ? 4 : 6;

		ip_str(fam, fam == 4 ? (const void *)&m->src4 : m->src6, src, sizeof(src));
		ip_str(fam, fam == 4 ? (const void *)&m->dst4 : m->dst6, dst, sizeof(dst));
		cat(out, len, "IPv%u %s %s", fam, proto_name(m->l4_proto), src);
		if ((m->flags & PSW_F_L4) && m->l4_proto != IPPROTO_ICMP && m->l4_proto != IPPROTO_ICMPV6)
			cat(out, len, ":%u -> %s:%u", rte_be_to_cpu_16(m->sport), dst, rte_be_to_cpu_16(m->dport));
		else
			cat(out, len, " -> %s", dst);
		if ((m->flags & PSW_F_L4) && (m->l4_proto == IPPROTO_ICMP || m->l4_proto == IPPROTO_ICMPV6))
			cat(out, len, " type %u code %u", m->dport >> 8, m->dport & 0xff);
	}
	for (i = 0; i < RTE_DIM(flags); i++)
		if (m->flags & flags[i].flag)
			cat(out, len, "%s%s", n++ ? ", " : " (", flags[i].name);
	if (n)
		cat(out, len, ")");
}

/* The Service whose address and port the packet was sent to (before the service stage). */
static void
service_name(const struct psw_state *st, const struct psw_meta *m, char *out, size_t len)
{
	struct psw_svc_key k;
	const uint8_t *b = (const uint8_t *)&k;
	char hex[2 * sizeof(k) + 1];
	const char *owner;
	json_t *keys, *v;
	size_t i;

	memset(&k, 0, sizeof(k));
	k.proto = m->l4_proto;
	k.port = m->l4_proto == IPPROTO_ICMP || m->l4_proto == IPPROTO_ICMPV6 ? 0 : m->dport;
	k.family = m->l3 == PSW_L3_IPV4 ? 4 : 6;
	memcpy(k.addr, k.family == 4 ? (const void *)&m->dst4 : m->dst6, k.family == 4 ? 4 : 16);
	for (i = 0; i < sizeof(k); i++)
		snprintf(hex + 2 * i, 3, "%02x", b[i]);
	if (st != NULL && st->svc_owners != NULL)
		json_object_foreach(st->svc_owners, owner, keys)
			json_array_foreach(keys, i, v)
				if (strcmp(json_string_value(v) ?: "", hex) == 0) {
					snprintf(out, len, "%s", owner);
					return;
				}
	snprintf(out, len, "(a Service no longer held)");
}

static void
policy_name(const struct psw_state *st, uint16_t slot, char *out, size_t len)
{
	const char *n = st != NULL && st->np != NULL ? psw_netpol_slot_name(st, slot + 1u) : "";

	if (n[0] != '\0')
		snprintf(out, len, "%s", n);
	else
		snprintf(out, len, "policy slot %u", slot);
}

static json_t *
policy_dir_json(const struct psw_state *st, const struct psw_pol_why_dir *d, const char *dir, char *text,
		size_t len)
{
	json_t *o = json_pack("{s:b}", "isolated", d->isolated), *iso;
	char name[300];
	unsigned i;

	if (!d->isolated) {
		cat(text, len, "%s not isolated", dir);
		return o;
	}
	iso = json_array();
	for (i = 0; i < d->nb_isolating && i < PSW_POL_WHY_MAX_ISOLATING; i++) {
		policy_name(st, d->isolating[i], name, sizeof(name));
		json_array_append_new(iso, json_string(name));
	}
	json_object_set_new(o, "isolated_by", iso);
	json_object_set_new(o, "allowed", json_boolean(d->allowed));
	if (d->allowed) {
		policy_name(st, d->ref.slot, name, sizeof(name));
		json_object_set_new(o, "policy", json_string(name));
		json_object_set_new(o, "rule", json_integer(d->ref.rule));
		cat(text, len, "%s allowed by %s %s rule %u", dir, name, dir, d->ref.rule);
	} else {
		cat(text, len, "%s isolated by", dir);
		for (i = 0; i < json_array_size(iso); i++)
			cat(text, len, "%s %s", i ? "," : "", json_string_value(json_array_get(iso, i)));
		cat(text, len, "; no rule allows it");
	}
	return o;
}

static json_t *
policy_text(const struct psw_state *st, const struct psw_pol_why *w, char *out, size_t len)
{
	static const char *const kinds[] = {
		[PSW_POL_WHY_OFF] = "no NetworkPolicy in force",
		[PSW_POL_WHY_SKIPPED] = "not judged",
		[PSW_POL_WHY_CURRENT] = "its connection's verdict stands (judged at its first packet)",
		[PSW_POL_WHY_RELATED] = "an ICMP error about a known connection: goes with it",
		[PSW_POL_WHY_NONE] = "neither end is a pod of this node with a NetworkPolicy",
		[PSW_POL_WHY_FRAGMENT] = "a later fragment without its connection: isolation alone decides",
		[PSW_POL_WHY_JUDGED] = "judged",
	};
	json_t *o = json_pack("{s:s}", "judgement", w->kind < RTE_DIM(kinds) ? kinds[w->kind] : "?");

	if (w->kind != PSW_POL_WHY_JUDGED && w->kind != PSW_POL_WHY_FRAGMENT) {
		cat(out, len, "%s", kinds[w->kind < RTE_DIM(kinds) ? w->kind : 0]);
		return o;
	}
	if (w->recheck)
		cat(out, len, "judged again (the policies changed since its connection was): ");
	if (w->flip)
		cat(out, len, "TCP picked up mid-stream, judged as the client's connection: ");
	json_object_set_new(o, "egress", policy_dir_json(st, &w->dir[PSW_POL_EGRESS], "egress", out, len));
	cat(out, len, "; ");
	json_object_set_new(o, "ingress", policy_dir_json(st, &w->dir[PSW_POL_INGRESS], "ingress", out, len));
	return o;
}

/* What stage s decided, in words, and its particulars into o. */
static void
stage_text(const struct psw_state *st, const struct psw_trace_rec *r, unsigned i, json_t *o, char *out,
	   size_t len)
{
	const struct psw_trace_step *s = &r->steps[i], *prev = &r->steps[i ? i - 1 : 0];
	unsigned point = 0, p;
	char before[400], pb[40];
	bool rewritten = prev->hdr_len != s->hdr_len ||
			 memcmp(prev->hdr, s->hdr, RTE_MIN(s->hdr_len, (uint16_t)PSW_TRACE_HDR)) != 0;

	for (p = 0; p < PSW_TS_COUNT; p++)
		if (r->stage_of[p] == i + 1)
			point = p;
	out[0] = '\0';
	switch (point) {
	case PSW_TS_RX:
		cat(out, len, "received on %s (worker %u)", port_name(s->meta.in_port, pb, sizeof(pb)), r->worker);
		if (r->released)
			cat(out, len, ", released from the fragment hold by its first fragment");
		return;
	case PSW_TS_PARSE:
		if (s->meta.verdict == PSW_V_CONTINUE)
			parse_text(s, out, len);
		break;
	case PSW_TS_TUNNEL:
		if (has_event(s, PSW_EV_VXLAN_DECAP))
			cat(out, len, "%s from another node: outer headers removed", tunnel_name(st, false));
		else if (s->meta.verdict == PSW_V_CONTINUE)
			cat(out, len, "not %s to this node: nothing to do", tunnel_name(st, false));
		break;
	case PSW_TS_GUARD:
		if (has_event(s, PSW_EV_ARP_REPLY) || has_event(s, PSW_EV_ND_REPLY) || has_event(s, PSW_EV_ECHO_REPLY))
			cat(out, len, "answered by the switch (%s), ",
			    psw_event_name(has_event(s, PSW_EV_ARP_REPLY) ? PSW_EV_ARP_REPLY :
					   has_event(s, PSW_EV_ND_REPLY) ? PSW_EV_ND_REPLY : PSW_EV_ECHO_REPLY));
		else if (s->meta.verdict == PSW_V_CONTINUE)
			cat(out, len, "passed (source allowed on its port)%s",
			    s->meta.flags & PSW_F_TO_GW ? ", addressed to the gateway" : "");
		break;
	case PSW_TS_CONNTRACK:
		if (s->meta.ct != 0) {
			const char *dir = ((s->meta.ct - 1) & 1) == PSW_CT_DIR_ORIG ? "original" : "reply";

			cat(out, len, "hit: connection %u, %s direction, state %s", (s->meta.ct - 1) >> 1, dir,
			    ct_state_name(s->ct_state));
			json_object_set_new(o, "connection", json_pack("{s:i, s:s, s:s}", "entry",
					    (json_int_t)((s->meta.ct - 1) >> 1), "direction", dir,
					    "state", ct_state_name(s->ct_state)));
			if (s->meta.flags & PSW_F_CT_RECHECK)
				cat(out, len, ", judged before the last policy change");
		} else if (s->meta.flags & PSW_F_CT_RELATED) {
			cat(out, len, "an ICMP error about a known connection");
		} else if (s->meta.flags & PSW_F_CT_MISS) {
			cat(out, len, "miss: no connection (new)");
		} else if (s->meta.verdict == PSW_V_CONTINUE) {
			cat(out, len, "not tracked");
		}
		if (has_event(s, PSW_EV_CT_STALE))
			cat(out, len, " (an entry idle past its timeout counted as gone)");
		if (has_event(s, PSW_EV_FRAG_FOLLOWED))
			cat(out, len, ", a later fragment following its first one");
		break;
	case PSW_TS_SERVICE:
		if (has_event(s, PSW_EV_SVC_DNAT) || has_event(s, PSW_EV_SVC_REJECT)) {
			const struct psw_meta *m = &s->meta, *pm = &prev->meta;
			char name[300], vip[INET6_ADDRSTRLEN], be[INET6_ADDRSTRLEN];
			unsigned fam = pm->l3 == PSW_L3_IPV4 ? 4 : 6;

			service_name(st, pm, name, sizeof(name));
			ip_str(fam, fam == 4 ? (const void *)&pm->dst4 : pm->dst6, vip, sizeof(vip));
			if (has_event(s, PSW_EV_SVC_REJECT)) {
				cat(out, len, "Service %s (%s:%u %s) has no endpoint: rejected, ", name, vip,
				    rte_be_to_cpu_16(pm->dport), proto_name(pm->l4_proto));
				json_object_set_new(o, "service", json_pack("{s:s, s:s, s:i}", "name", name,
						    "address", vip, "port", rte_be_to_cpu_16(pm->dport)));
				break;
			}
			ip_str(fam, fam == 4 ? (const void *)&m->dst4 : m->dst6, be, sizeof(be));
			cat(out, len, "Service %s (%s:%u %s): backend %s:%u, DNAT", name, vip,
			    rte_be_to_cpu_16(pm->dport), proto_name(pm->l4_proto), be, rte_be_to_cpu_16(m->dport));
			json_object_set_new(o, "service", json_pack("{s:s, s:s, s:i, s:{s:s, s:i}}", "name", name,
					    "address", vip, "port", rte_be_to_cpu_16(pm->dport), "backend",
					    "address", be, "port", rte_be_to_cpu_16(m->dport)));
			if (has_event(s, PSW_EV_SVC_HAIRPIN))
				cat(out, len, ", masqueraded (the pod reaches itself)");
		} else if (has_event(s, PSW_EV_MASQ)) {
			cat(out, len, "leaves the cluster: masqueraded to the node's address");
		} else if (s->meta.verdict == PSW_V_CONTINUE) {
			cat(out, len, prev->meta.flags & PSW_F_CT_MISS ? "not to a Service address" :
				      "nothing to do (not a new connection)");
		}
		break;
	case PSW_TS_POLICY:
		json_object_set_new(o, "policy", policy_text(st, &r->why, out, len));
		break;
	case PSW_TS_FORWARD:
		if (s->meta.verdict == PSW_V_TX && s->hdr_len >= 6) {
			char mac[20] = "";

			mac_cat(mac, sizeof(mac), s->hdr);
			cat(out, len, "to %s, next hop %s", port_name(s->meta.out_port, pb, sizeof(pb)), mac);
			if (has_event(s, PSW_EV_VXLAN_ENCAP) && s->hdr_len >= 34 && s->hdr[12] == 0x08 &&
			    s->hdr[13] == 0x00) {
				char vtep[INET_ADDRSTRLEN];

				ip_str(4, s->hdr + 30, vtep, sizeof(vtep));
				cat(out, len, ", encapsulated in %s to %s", tunnel_name(st, false), vtep);
			}
			if (has_event(s, PSW_EV_ICMP_TIME_EXCEEDED))
				cat(out, len, " (TTL expired: ICMP time-exceeded sent back)");
			if (has_event(s, PSW_EV_ICMP_TOO_BIG))
				cat(out, len, " (too big: ICMP sent back)");
			json_object_set_new(o, "next_hop", json_string(mac));
			json_object_set_new(o, "encapsulation", json_string(has_event(s, PSW_EV_VXLAN_ENCAP) ?
									  tunnel_name(st, true) : "none"));
			return;
		}
		break;
	default:
		break;
	}
	if (s->meta.verdict != PSW_V_CONTINUE) {
		size_t n = strlen(out);

		if (n > 0 && (n < 2 || strcmp(out + n - 2, ", ") != 0))
			cat(out, len, ": ");
		verdict_text(s, out, len);
	}
	if (rewritten && point != PSW_TS_PARSE && point != PSW_TS_RX) {
		headers(prev, before, sizeof(before));
		json_object_set_new(o, "headers_before", json_string(before));
	}
}

json_t *
psw_trace_render(const struct psw_state *st, const struct psw_trace_rec *r, uint64_t start_tsc)
{
	json_t *o, *stages = json_array(), *v;
	unsigned nb_steps = RTE_MIN(r->nb_steps, (uint8_t)PSW_TS_COUNT);
	const struct psw_trace_step *last = &r->steps[nb_steps ? nb_steps - 1 : 0];
	char text[1024], hdr[400], fin[600] = "", pb[40];
	unsigned i, p;

	o = json_pack("{s:i, s:i, s:s, s:b}", "packet", r->seq + 1, "worker", r->worker, "in_port",
		      port_name(r->steps[0].meta.in_port, pb, sizeof(pb)), "released", r->released);
	if (start_tsc != 0 && r->tsc >= start_tsc)
		json_object_set_new(o, "time_s", json_real((double)(r->tsc - start_tsc) / rte_get_tsc_hz()));
	for (i = 0; i < nb_steps; i++) {
		const struct psw_trace_step *s = &r->steps[i];
		json_t *so, *ev;
		unsigned e, point = 0;

		for (p = 0; p < PSW_TS_COUNT; p++)
			if (r->stage_of[p] == i + 1)
				point = p;
		/* the tunnel stage is only shown when it did something (VXLAN to this node) */
		if (point == PSW_TS_TUNNEL && i > 0 && s->nb_events == 0 && s->meta.verdict == PSW_V_CONTINUE &&
		    s->hdr_len == r->steps[i - 1].hdr_len &&
		    memcmp(s->hdr, r->steps[i - 1].hdr, RTE_MIN(s->hdr_len, (uint16_t)PSW_TRACE_HDR)) == 0)
			continue;
		so = json_object();
		ev = json_array();
		json_object_set_new(so, "stage", json_string(psw_trace_stage_name(point)));
		json_object_set_new(so, "verdict", json_string(verdict_name(s->meta.verdict)));
		if (s->meta.verdict == PSW_V_DROP)
			json_object_set_new(so, "drop_reason", json_string(psw_drop_name(s->meta.drop_reason)));
		stage_text(st, r, i, so, text, sizeof(text));
		json_object_set_new(so, "decision", json_string(text));
		headers(s, hdr, sizeof(hdr));
		json_object_set_new(so, "headers", json_string(hdr));
		for (e = 0; e < s->nb_events && e < PSW_TRACE_EVENTS; e++)
			json_array_append_new(ev, json_string(psw_event_name(s->events[e])));
		json_object_set_new(so, "events", ev);
		/* the Service and policy particulars also at the top, for scripts */
		if ((v = json_object_get(so, "service")) != NULL)
			json_object_set(o, "service", v);
		if ((v = json_object_get(so, "policy")) != NULL)
			json_object_set(o, "policy", v);
		json_array_append_new(stages, so);
	}
	json_object_set_new(o, "stages", stages);
	verdict_text(last, fin, sizeof(fin));
	if (last->meta.verdict == PSW_V_CONTINUE)
		snprintf(fin, sizeof(fin), "dropped: unhandled (no stage took it)");
	v = json_pack("{s:s, s:s}", "action", last->meta.verdict == PSW_V_CONTINUE ? "drop" :
		      verdict_name(last->meta.verdict), "text", fin);
	if (last->meta.verdict == PSW_V_TX)
		json_object_set_new(v, "port", json_string(port_name(last->meta.out_port, pb, sizeof(pb))));
	if (last->meta.verdict == PSW_V_DROP)
		json_object_set_new(v, "reason", json_string(psw_drop_name(last->meta.drop_reason)));
	if (last->meta.verdict == PSW_V_PUNT)
		json_object_set_new(v, "punt", json_string(punt_text(last->punt_reason)));
	json_object_set_new(o, "verdict", v);
	return o;
}

/* --------------------------------------------------------------- arm, collect */

static void
free_arm(void *arg)
{
	struct psw_trace_arm *a = arg;

	psw_filter_free(&a->filter);
	free(a);
}

static uint64_t
lost_now(unsigned w)
{
	struct psw_trace_worker *tw = psw_trace_worker(w);

	return tw != NULL ? __atomic_load_n(&tw->lost, __ATOMIC_RELAXED) : 0;
}

/* Take every record the workers sent; keep those of the trace in force. */
static void
collect(const struct psw_state *st)
{
	unsigned w;

	for (w = 0; w < tr.nb_workers; w++) {
		struct psw_trace_worker *tw = psw_trace_worker(w);

		while (tw != NULL && rte_ring_sc_dequeue_elem(tw->ring, &rec, sizeof(rec)) == 0) {
			if (rec.id != tr.id || tr.records == NULL ||
			    json_array_size(tr.records) >= 2u * PSW_TRACE_MAX)
				continue;            /* an older trace's, or too many releases */
			json_array_append_new(tr.records, psw_trace_render(st, &rec, tr.start_tsc));
			if (!rec.released)
				tr.nb_packets++;
		}
	}
}

/* Disarm: the workers stop marking; the arm is freed once none can be using it. */
static void
finish(const struct psw_state *st, bool expired)
{
	struct psw_trace_arm *a = tr.arm;

	if (!tr.active)
		return;
	__atomic_store_n(&psw_trace_armed, NULL, __ATOMIC_RELEASE);
	tr.arm = NULL;
	tr.active = false;
	tr.expired = expired;
	collect(st);
	if (a != NULL)
		psw_tables_defer(free_arm, a);
}

static bool
past(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > t->tv_sec || (now.tv_sec == t->tv_sec && now.tv_nsec >= t->tv_nsec);
}

/* Every packet traced, and no traced fragment still waiting in a hold to be traced again. */
static bool
complete(void)
{
	return tr.nb_packets >= tr.count &&
	       (tr.arm == NULL || __atomic_load_n(&tr.arm->held, __ATOMIC_ACQUIRE) <= 0);
}

void
psw_trace_tick(struct psw_state *st)
{
	if (!tr.active)
		return;
	collect(st);
	if (complete())
		finish(st, false);
	else if (past(&tr.deadline))
		finish(st, true);
}

void
psw_trace_ctl_fini(void)
{
	finish(NULL, false);
	psw_tables_sync();
	json_decref(tr.records);
	tr.records = NULL;
	psw_trace_fini();
}

static json_t *
status(const struct psw_state *st, json_t *args)
{
	json_int_t from = json_integer_value(json_object_get(args, "from"));
	json_t *recs = json_array();
	uint64_t lost = 0;
	size_t i;
	unsigned w;

	for (w = 0; w < tr.nb_workers; w++)
		lost += lost_now(w) - tr.lost_base[w];
	for (i = from > 0 ? (size_t)from : 0; i < json_array_size(tr.records); i++)
		json_array_append(recs, json_array_get(tr.records, i));
	return psw_api_ok(json_pack("{s:i, s:b, s:b, s:b, s:i, s:i, s:I, s:s, s:s, s:o}", "id", tr.id,
				    "armed", tr.active, "done", complete(), "expired", tr.expired,
				    "count", tr.count, "traced", tr.nb_packets, "lost", (json_int_t)lost,
				    "filter", tr.filter, "port", tr.port, "records", recs));
}

json_t *
psw_trace_op_start(struct psw_state *st, json_t *args)
{
	json_t *jc = json_object_get(args, "count"), *jt = json_object_get(args, "timeout");
	json_t *jf = json_object_get(args, "filter"), *jp = json_object_get(args, "port");
	const char *filter = json_string_value(jf) ?: "", *port = json_string_value(jp);
	json_int_t count = 1;
	double timeout = TIMEOUT_DEFAULT_S;
	char err[PCAP_ERRBUF_SIZE + 300];
	struct psw_trace_arm *a;
	int port_idx = PSW_PORT_NONE;
	unsigned w;

	psw_trace_tick(st);                      /* a trace past its timeout makes room */
	if (tr.active)
		return psw_api_error(PSW_API_E_EXISTS, "a trace is already running (id %u, %u of %u packets, "
				     "filter '%s'): one at a time; it ends with its packets or its timeout",
				     tr.id, tr.nb_packets, tr.count, tr.filter);
	if (jc != NULL && (!json_is_integer(jc) || (count = json_integer_value(jc)) < 1 ||
			   count > PSW_TRACE_MAX))
		return psw_api_error(PSW_API_E_INVALID, "count must be a number from 1 to %d", PSW_TRACE_MAX);
	if (jt != NULL && (!json_is_number(jt) || (timeout = json_number_value(jt)) < 1 ||
			   timeout > TIMEOUT_MAX_S))
		return psw_api_error(PSW_API_E_INVALID, "timeout must be from 1 to %d seconds", TIMEOUT_MAX_S);
	if (jf != NULL && !json_is_string(jf))
		return psw_api_error(PSW_API_E_INVALID, "filter must be a string (a tcpdump expression)");
	if (strlen(filter) >= sizeof(tr.filter))
		return psw_api_error(PSW_API_E_INVALID, "filter is longer than %zu characters",
				     sizeof(tr.filter) - 1);
	if (jp != NULL && (port == NULL || (port_idx = psw_port_find(port)) < 0))
		return psw_api_error(PSW_API_E_NOT_FOUND, "unknown port '%s' (podswitchctl get ports lists them)",
				     port ?: "(not a string)");
	a = calloc(1, sizeof(*a));
	if (a == NULL)
		return psw_api_error(PSW_API_E_NO_RESOURCES, "out of memory for a trace");
	if (psw_filter_compile(&a->filter, filter, 65535, err, sizeof(err)) < 0) {
		free(a);
		return psw_api_error(PSW_API_E_INVALID, "filter '%s': %s", filter, err);
	}
	if (tr.records == NULL && (tr.records = json_array()) == NULL) {
		free_arm(a);
		return psw_api_error(PSW_API_E_NO_RESOURCES, "out of memory for a trace");
	}
	collect(st);                             /* a finished trace's stragglers go */
	json_array_clear(tr.records);
	if (++tr.last_id == 0)
		tr.last_id = 1;
	a->id = tr.id = tr.last_id;
	a->port = (uint16_t)port_idx;
	a->count = tr.count = (uint16_t)count;
	a->left = (int32_t)count;
	tr.nb_packets = 0;
	tr.expired = false;
	snprintf(tr.filter, sizeof(tr.filter), "%s", filter);
	snprintf(tr.port, sizeof(tr.port), "%s", port ?: "");
	for (w = 0; w < tr.nb_workers; w++)
		tr.lost_base[w] = lost_now(w);
	clock_gettime(CLOCK_MONOTONIC, &tr.deadline);
	tr.deadline.tv_sec += (time_t)timeout;
	tr.deadline.tv_nsec += (long)((timeout - (double)(time_t)timeout) * 1e9);
	if (tr.deadline.tv_nsec >= 1000000000L) {
		tr.deadline.tv_sec++;
		tr.deadline.tv_nsec -= 1000000000L;
	}
	tr.start_tsc = rte_rdtsc();
	tr.arm = a;
	tr.active = true;
	__atomic_store_n(&psw_trace_armed, a, __ATOMIC_RELEASE);
	return psw_api_ok(json_pack("{s:i, s:i, s:f, s:s, s:s}", "id", tr.id, "count", tr.count, "timeout",
				    timeout, "filter", tr.filter, "port", tr.port));
}

static json_t *
check_id(json_t *args)
{
	json_t *jid = json_object_get(args, "id");

	if (!json_is_integer(jid))
		return psw_api_error(PSW_API_E_INVALID, "id must be the number trace.start answered");
	if (tr.id == 0 || json_integer_value(jid) != (json_int_t)tr.id)
		return psw_api_error(PSW_API_E_NOT_FOUND, "no trace %" JSON_INTEGER_FORMAT " (the last one is %u)",
				     json_integer_value(jid), tr.id);
	return NULL;
}

json_t *
psw_trace_op_poll(struct psw_state *st, json_t *args)
{
	json_t *err = json_object_get(args, "id") == NULL && tr.id != 0 ? NULL : check_id(args);

	if (err != NULL)
		return err;
	psw_trace_tick(st);
	return status(st, args);
}

json_t *
psw_trace_op_stop(struct psw_state *st, json_t *args)
{
	json_t *err = check_id(args);

	if (err != NULL)
		return err;
	psw_trace_tick(st);
	finish(st, false);
	return status(st, args);
}
