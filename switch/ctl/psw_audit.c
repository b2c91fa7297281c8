/* The policy audit log on the control thread (psw_audit.h): from the workers' records to lines. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_cycles.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "psw_audit.h"
#include "psw_ctl.h"
#include "psw_k8s.h"
#include "psw_netpol.h"
#include "psw_netpol_priv.h"
#include "psw_policy.h"
#include "psw_state.h"

/* The audit log's own state (st->audit), created at the first configuration that has one. */
struct psw_audit {
	struct psw_audit_file file;              /**< fd < 0: no audit log */
	unsigned rate, burst;
	struct psw_audit_bucket buckets[PSW_MAX_PORTS];   /**< by the judging pod's port */
	uint64_t lines, suppressed, write_errors, rotations, dropped_off;
	char last_error[256];
	/* pods by address: now (built at a drain's first line) and the map
	 * before, for the records of a pod removed in between */
	json_t *names, *names_before;
	uint64_t names_ms;                       /**< CLOCK_MONOTONIC when names was built */
};

/* How long the names of pods gone may still be given to their records (ms). */
#define NAMES_KEPT_MS 2000

static struct psw_audit *
audit_of(struct psw_state *st)
{
	if (st->audit == NULL) {
		st->audit = calloc(1, sizeof(*st->audit));
		if (st->audit != NULL)
			st->audit->file.fd = -1;
	}
	return st->audit;
}

unsigned
psw_audit_ns_flags(const struct psw_state *st, const struct psw_config *cfg, const char *ns)
{
	json_t *nso = psw_k8s_find(st, "Namespace", "", ns);
	const char *a = json_string_value(json_object_get(json_object_get(json_object_get(nso, "metadata"),
									  "annotations"), PSW_AUDIT_ANNOTATION));

	if (cfg->audit.file[0] == '\0')
		return 0;
	if (a != NULL && strcmp(a, "deny") == 0)
		return PSW_AUDIT_DENY;
	if (a != NULL && strcmp(a, "all") == 0)
		return PSW_AUDIT_DENY | PSW_AUDIT_ALLOW;
	if (a != NULL && strcmp(a, "off") == 0)
		return 0;
	if (!cfg->audit.all_namespaces)
		return 0;
	return PSW_AUDIT_DENY | (cfg->audit.allowed ? PSW_AUDIT_ALLOW : 0);
}

int
psw_audit_prepare(struct psw_state *st, const struct psw_config *cfg, struct psw_audit_file *next,
		  char *err, size_t err_len)
{
	const struct psw_audit *a = st->audit;

	next->fd = -1;
	if (cfg->audit.file[0] == '\0')
		return 0;
	if (a != NULL && psw_audit_file_is(&a->file, cfg->audit.file))
		return 0;                                /* the same file stays open; moved away, it is opened anew */
	return psw_audit_file_open(next, cfg->audit.file, cfg->audit.max_bytes, cfg->audit.files, err, err_len);
}

void
psw_audit_abort(struct psw_audit_file *next)
{
	psw_audit_file_close(next);
}

void
psw_audit_commit(struct psw_state *st, struct psw_audit_file *next)
{
	const struct psw_config *cfg = &st->cfg;
	struct psw_audit *a;

	psw_audit_drain(st);                             /* what was judged before, as before */
	a = audit_of(st);
	if (a == NULL) {
		psw_audit_file_close(next);
		return;
	}
	if (next->fd >= 0 || cfg->audit.file[0] == '\0') {
		psw_audit_file_close(&a->file);
		if (next->fd >= 0)
			a->file = *next;
		next->fd = -1;
	}
	a->file.max_bytes = cfg->audit.max_bytes;
	a->file.files = cfg->audit.files;
	a->rate = cfg->audit.rate;
	a->burst = cfg->audit.burst;
}

/* ---- naming ---- */

/* "ip" -> ["ns", "name"] of every pod this node knows (local ones first). */
static json_t *
pods_by_ip(const struct psw_state *st)
{
	json_t *map = json_object(), *world = psw_netpol_world_pods(st), *p, *ip;
	struct psw_netpol_here *here;
	char buf[INET6_ADDRSTRLEN];
	unsigned i, nb;
	size_t k, j;

	here = psw_netpol_pods_here(st, &nb);
	for (i = 0; here != NULL && i < nb; i++) {
		json_t *who = json_pack("[s, s]", here[i].ns, here[i].name);

		if (here[i].has4)
			json_object_set(map, inet_ntop(AF_INET, here[i].ip4, buf, sizeof(buf)), who);
		if (here[i].has6)
			json_object_set(map, inet_ntop(AF_INET6, here[i].ip6, buf, sizeof(buf)), who);
		json_decref(who);
	}
	free(here);
	json_array_foreach(world, k, p) {
		json_t *who = json_pack("[O, O]", json_object_get(p, "namespace"), json_object_get(p, "name"));

		json_array_foreach(json_object_get(p, "ips"), j, ip)
			if (json_is_string(ip) && json_object_get(map, json_string_value(ip)) == NULL)
				json_object_set(map, json_string_value(ip), who);
		json_decref(who);
	}
	return map;
}

/*
 * The policies isolating the judging pod in the record's direction: from
 * the pod's object when it still lists the slot the worker recorded (the
 * first isolating one), else that slot alone (the pod went, or its
 * policies changed, between the verdict and now; a policy deleted since
 * is not named).
 */
static unsigned
isolating_names(const struct psw_state *st, const struct psw_audit_rec *r, const char **names, unsigned max)
{
	unsigned port = r->pod_port, dir = r->dir, i, n = 0;
	const struct psw_pol_port *pp = st->pol != NULL && port < PSW_MAX_PORTS && dir < 2 ? st->pol->ports[port] : NULL;
	bool same = false;
	const char *name;

	for (i = 0; pp != NULL && i < pp->nb_isolating[dir]; i++)
		same |= pp->isolating[dir][i] == r->slot;
	for (i = 0; same && i < pp->nb_isolating[dir] && n < max; i++) {
		name = psw_netpol_slot_name(st, pp->isolating[dir][i] + 1u);
		if (name[0] != '\0')
			names[n++] = name;
	}
	if (!same && max > 0 && (name = psw_netpol_slot_name(st, r->slot + 1u))[0] != '\0')
		names[n++] = name;
	return n;
}

static void
write_line(struct psw_audit *a, const struct psw_audit_line *l)
{
	size_t len = 0;
	bool rotated = false;
	char *text = psw_audit_format(l, &len);
	int rc;

	if (text == NULL) {
		a->write_errors++;
		return;
	}
	rc = psw_audit_file_write(&a->file, text, len, &rotated);
	free(text);
	a->rotations += rotated;
	if (rc == 0) {
		a->lines++;
		return;
	}
	a->write_errors++;
	snprintf(a->last_error, sizeof(a->last_error), "%s: %s", a->file.path, strerror(-rc));
}

/*
 * The pod of address ip: as the state says now, else as it said at the
 * previous drain if that was less than NAMES_KEPT_MS ago (a record judged
 * just before its pod went is still named; an address a pod had long ago
 * is not given to that pod).
 */
static json_t *
pod_named(const struct psw_audit *a, const char *ip)
{
	json_t *who = json_object_get(a->names, ip);

	return who != NULL ? who : json_object_get(a->names_before, ip);
}

/* Pods by address, once per drain, the previous map kept a while. */
static void
renew_names(const struct psw_state *st, struct psw_audit *a, uint64_t now_ms)
{
	json_decref(a->names_before);
	a->names_before = a->names != NULL && now_ms - a->names_ms < NAMES_KEPT_MS ? a->names : NULL;
	if (a->names_before == NULL)
		json_decref(a->names);
	a->names = pods_by_ip(st);
	a->names_ms = now_ms;
}

/* One record: limited by its pod's bucket (at the verdict's time), named, written. */
static void
record_line(const struct psw_state *st, struct psw_audit *a, const struct psw_audit_rec *r, bool *named,
	    int64_t now_real_ms, uint64_t now_tsc, uint64_t hz)
{
	char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
	const char *names[64];
	struct psw_audit_line l = { .rule = -1 };
	int af = r->family == 4 ? AF_INET : AF_INET6;
	uint64_t age_ms = now_tsc > r->tsc ? (now_tsc - r->tsc) * 1000 / hz : 0;
	json_t *s, *d;

	if (!psw_audit_bucket_take(&a->buckets[r->pod_port % PSW_MAX_PORTS], r->tsc / (hz / 1000 + 1), a->rate,
				   a->burst)) {
		a->suppressed++;
		return;
	}
	if (!*named) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		renew_names(st, a, (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
		*named = true;
	}
	inet_ntop(af, r->src, src, sizeof(src));
	inet_ntop(af, r->dst, dst, sizeof(dst));
	s = pod_named(a, src);
	d = pod_named(a, dst);
	l.time_ms = now_real_ms - (int64_t)age_ms;
	l.allowed = r->verdict == PSW_AUDIT_V_ALLOW;
	l.egress = r->dir == PSW_POL_EGRESS;
	l.established = r->recheck != 0;
	l.proto = r->proto;
	l.src_ip = src;
	l.dst_ip = dst;
	l.sport = rte_be_to_cpu_16(r->sport);
	l.dport = rte_be_to_cpu_16(r->dport);
	l.src_ns = json_string_value(json_array_get(s, 0));
	l.src_pod = json_string_value(json_array_get(s, 1));
	l.dst_ns = json_string_value(json_array_get(d, 0));
	l.dst_pod = json_string_value(json_array_get(d, 1));
	if (l.allowed) {
		l.policy = psw_netpol_slot_name(st, r->slot + 1u);
		l.rule = r->rule == PSW_AUDIT_NO_RULE ? -1 : r->rule;
	} else {
		l.nb_policies = isolating_names(st, r, names, RTE_DIM(names));
		l.policies = names;
	}
	write_line(a, &l);
}

void
psw_audit_drain(struct psw_state *st)
{
	struct psw_audit_rec recs[32];
	struct psw_audit *a = st->audit;
	uint64_t now_tsc = rte_rdtsc(), hz = rte_get_tsc_hz();
	bool named = false;
	struct timespec ts;
	int64_t now_ms;
	unsigned w, n, i;

	clock_gettime(CLOCK_REALTIME, &ts);
	now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	for (w = 0; w < st->nb_workers; w++) {
		struct rte_ring *ring = st->lcores[w] != NULL ? st->lcores[w]->sc.audit : NULL;
		unsigned taken = 0;

		/* a ring's worth a call: a worker refilling it cannot hold the control thread */
		while (ring != NULL && taken < PSW_AUDIT_RING_SIZE &&
		       (n = rte_ring_sc_dequeue_burst_elem(ring, recs, sizeof(recs[0]), RTE_DIM(recs), NULL)) > 0) {
			taken += n;
			if (a == NULL || a->file.fd < 0) {
				if (a != NULL)
					a->dropped_off += n;
				continue;
			}
			for (i = 0; i < n; i++)
				record_line(st, a, &recs[i], &named, now_ms, now_tsc, hz);
		}
	}
}

json_t *
psw_audit_json(const struct psw_state *st)
{
	const struct psw_audit *a = st->audit;
	uint64_t queued = 0, suppressed = 0, full = 0;
	unsigned w;

	for (w = 0; w < st->nb_workers; w++) {
		if (st->lcores[w] == NULL)
			continue;
		queued += st->lcores[w]->sc.events[PSW_EV_AUDIT_QUEUED];
		suppressed += st->lcores[w]->sc.events[PSW_EV_AUDIT_SUPPRESSED];
		full += st->lcores[w]->sc.events[PSW_EV_AUDIT_RING_FULL];
	}
	return json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s}",
			 "file", a != NULL && a->file.fd >= 0 ? a->file.path : "",
			 "queued", (json_int_t)queued,
			 "lines", (json_int_t)(a != NULL ? a->lines : 0),
			 "suppressed", (json_int_t)(suppressed + (a != NULL ? a->suppressed : 0)),
			 "ring_full", (json_int_t)full,
			 "write_errors", (json_int_t)(a != NULL ? a->write_errors : 0),
			 "rotations", (json_int_t)(a != NULL ? a->rotations : 0),
			 "dropped_off", (json_int_t)(a != NULL ? a->dropped_off : 0),
			 "last_error", a != NULL ? a->last_error : "");
}

void
psw_audit_fini(struct psw_state *st)
{
	if (st->audit == NULL)
		return;
	psw_audit_drain(st);
	psw_audit_file_close(&st->audit->file);
	json_decref(st->audit->names);
	json_decref(st->audit->names_before);
	free(st->audit);
	st->audit = NULL;
}
