/* Prometheus metrics on the control thread's loop (psw_metrics.h). */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <jansson.h>
#include <rte_cycles.h>
#include <microhttpd.h>

#include "psw_build.h"
#include "psw_ctl.h"
#include "psw_metrics.h"
#include "psw_neigh.h"
#include "psw_netpol_report.h"
#include "psw_policy.h"
#include "psw_port.h"
#include "psw_state.h"
#include "psw_log.h"

/* libmicrohttpd's messages printed a minute: a client can cause one per connection */
#define LOG_PER_MINUTE 10

struct psw_metrics {
	struct MHD_Daemon *d;
	struct psw_state *st;
	time_t log_minute;                      /**< start of the minute the messages count in */
	unsigned nb_logged, nb_suppressed;      /**< in that minute */
};

static time_t started;

/* A label value as the exposition format wants it: \, " and newline escaped. */
static void
label(FILE *f, const char *v)
{
	fputc('"', f);
	for (; *v != '\0'; v++) {
		if (*v == '\\' || *v == '"')
			fputc('\\', f);
		if (*v == '\n') {
			fputs("\\n", f);
			continue;
		}
		fputc(*v, f);
	}
	fputc('"', f);
}

static void
family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label and the JSON member its value comes from. */
struct lbl {
	const char *name, *key;
};

/* One sample per element of list (an array of objects): the value of key, with their labels. */
static void
per_item(FILE *f, json_t *list, const char *name, const char *type, const char *help, const char *key,
	 const struct lbl *labels)
{
	json_t *o;
	size_t i;

	family(f, name, type, help);
	json_array_foreach(list, i, o) {
		unsigned k;

		fputs(name, f);
		for (k = 0; labels[k].name != NULL; k++) {
			json_t *v = json_object_get(o, labels[k].key);

			fprintf(f, "%c%s=", k == 0 ? '{' : ',', labels[k].name);
			if (json_is_string(v))
				label(f, json_string_value(v));
			else
				fprintf(f, "\"%lld\"", (long long)json_integer_value(v));
		}
		fprintf(f, "%s %lld\n", k > 0 ? "}" : "", (long long)json_integer_value(json_object_get(o, key)));
	}
}

/* A Service's packets or bytes (stats keys "<what>_to_backends" and "_from_backends"), by direction. */
static void
svc_directions(FILE *f, json_t *list, const char *name, const char *help, const char *what)
{
	static const char *const dir[2] = { "to_backends", "from_backends" };
	char key[64];
	json_t *o;
	size_t i;
	unsigned d;

	family(f, name, "counter", help);
	json_array_foreach(list, i, o)
		for (d = 0; d < 2; d++) {
			snprintf(key, sizeof(key), "%s_%s", what, dir[d]);
			fprintf(f, "%s{namespace=", name);
			label(f, json_string_value(json_object_get(o, "namespace")));
			fputs(",name=", f);
			label(f, json_string_value(json_object_get(o, "name")));
			fprintf(f, ",direction=\"%s\"} %lld\n", dir[d],
				(long long)json_integer_value(json_object_get(o, key)));
		}
}

/* One sample per member of an object of counters, labelled lname="member". */
static void
per_member(FILE *f, json_t *obj, const char *name, const char *type, const char *help, const char *lname)
{
	const char *k;
	json_t *v;

	family(f, name, type, help);
	json_object_foreach(obj, k, v) {
		fprintf(f, "%s{%s=", name, lname);
		label(f, k);
		fprintf(f, "} %lld\n", (long long)json_integer_value(v));
	}
}

static void
scalar(FILE *f, const char *name, const char *type, const char *help, long long v)
{
	family(f, name, type, help);
	fprintf(f, "%s %lld\n", name, v);
}

/* The Kubernetes objects held, by kind ("Kind/ns/name" keys). */
static void
objects(FILE *f, const struct psw_state *st)
{
	json_t *kinds = json_object(), *v;
	const char *key;

	json_object_foreach(st->k8s.objects, key, v) {
		const char *slash = strchr(key, '/');
		char kind[64];

		snprintf(kind, sizeof(kind), "%.*s", slash != NULL ? (int)(slash - key) : (int)strlen(key), key);
		json_object_set_new(kinds, kind, json_integer(json_integer_value(json_object_get(kinds, kind)) + 1));
	}
	per_member(f, kinds, "podswitch_objects", "gauge", "Kubernetes objects held by the switch, by kind.", "kind");
	json_decref(kinds);
}

/* The samples of the two counters of a policy kind, written apart and joined. */
struct pol_out {
	FILE *allowed, *denied;
	const char *family;              /* "podswitch_networkpolicy" or "podswitch_multinetworkpolicy" */
};

static void
pol_sample(void *arg, const char *ns, const char *name, const struct psw_pol_counts *c)
{
	struct pol_out *o = arg;

	fprintf(o->allowed, "%s_allowed_total{namespace=", o->family);
	label(o->allowed, ns);
	fputs(",name=", o->allowed);
	label(o->allowed, name);
	fprintf(o->allowed, "} %llu\n", (unsigned long long)c->allowed);
	fprintf(o->denied, "%s_denied_total{namespace=", o->family);
	label(o->denied, ns);
	fputs(",name=", o->denied);
	label(o->denied, name);
	fprintf(o->denied, "} %llu\n", (unsigned long long)c->denied);
}

/* Connections each policy of kind allowed and denied (docs/policy.md, counters). */
static void
policies_of(FILE *f, const struct psw_state *st, const char *kind, const char *fam)
{
	char *a = NULL, *d = NULL, name[80], help[160];
	size_t na = 0, nd = 0;
	struct pol_out o = { open_memstream(&a, &na), open_memstream(&d, &nd), fam };

	if (o.allowed != NULL && o.denied != NULL)
		psw_netpol_each_count(st, kind, pol_sample, &o);
	if (o.allowed != NULL)
		fclose(o.allowed);
	if (o.denied != NULL)
		fclose(o.denied);
	snprintf(name, sizeof(name), "%s_allowed_total", fam);
	snprintf(help, sizeof(help), "First packets of connections a %s's rules let through.", kind);
	family(f, name, "counter", help);
	if (a != NULL)
		fwrite(a, 1, na, f);
	snprintf(name, sizeof(name), "%s_denied_total", fam);
	snprintf(help, sizeof(help), "Connection attempts refused while a %s isolated the pod.", kind);
	family(f, name, "counter", help);
	if (d != NULL)
		fwrite(d, 1, nd, f);
	free(a);
	free(d);
}

static void
policies(FILE *f, const struct psw_state *st)
{
	policies_of(f, st, "NetworkPolicy", "podswitch_networkpolicy");
	policies_of(f, st, "MultiNetworkPolicy", "podswitch_multinetworkpolicy");
}

/* The log's lines by level, and those its rate limit held back. */
static void
log_counts(FILE *f)
{
	static const char *const names[] = {
#define _(sym, name) name,
		PSW_LOG_LEVELS(_)
#undef _
	};
	uint64_t written[PSW_LOG_LEVEL_COUNT], suppressed;
	unsigned i;

	psw_log_counts(written, &suppressed);
	family(f, "podswitch_log_lines_total", "counter", "Lines the switch logged, by level.");
	for (i = 0; i < PSW_LOG_LEVEL_COUNT; i++)
		fprintf(f, "podswitch_log_lines_total{level=\"%s\"} %llu\n", names[i],
			(unsigned long long)written[i]);
	scalar(f, "podswitch_log_suppressed_total", "counter",
	       "Lines not written: their call site was over log.rate in 10 s.", (long long)suppressed);
}

/* The policy audit log's counters (observability.md, audit log). */
static void
audit(FILE *f, json_t *a)
{
	static const struct {
		const char *name, *key, *help;
	} m[] = {
		{ "podswitch_audit_lines_total", "lines", "Lines written to the policy audit log." },
		{ "podswitch_audit_suppressed_total", "suppressed",
		  "Audited verdicts not written: over their pod's rate (audit.rate, audit.burst)." },
		{ "podswitch_audit_ring_full_total", "ring_full",
		  "Audited verdicts lost: a worker's audit ring was full." },
		{ "podswitch_audit_write_errors_total", "write_errors",
		  "Audit lines that could not be written (disk full, file gone)." },
		{ "podswitch_audit_rotations_total", "rotations", "Rotations of the audit log file." },
	};
	unsigned i;

	for (i = 0; i < sizeof(m) / sizeof(m[0]); i++)
		scalar(f, m[i].name, "counter", m[i].help, json_integer_value(json_object_get(a, m[i].key)));
	scalar(f, "podswitch_audit_enabled", "gauge", "1 while the policy audit log has a file open.",
	       json_string_value(json_object_get(a, "file")) != NULL &&
		       json_string_value(json_object_get(a, "file"))[0] != '\0');
}

char *
psw_metrics_text(const struct psw_state *st, size_t *len)
{
	static const struct lbl port_labels[] = { { "port", "name" }, { "kind", "kind" }, { NULL, NULL } };
	static const struct lbl worker_labels[] = { { "worker", "worker" }, { "lcore", "lcore" }, { NULL, NULL } };
	static const struct lbl svc_labels[] = { { "namespace", "namespace" }, { "name", "name" }, { NULL, NULL } };
	json_t *s = psw_state_stats_json(st), *ct, *neigh = psw_neigh_json(st->neigh);
	const struct psw_tables *t = psw_tables_current;
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);
	unsigned w;

	if (f == NULL || s == NULL) {
		if (f != NULL)
			fclose(f);
		free(buf);
		json_decref(s);
		json_decref(neigh);
		return NULL;
	}
	scalar(f, "podswitch_up", "gauge", "1 while the switch serves its tables.", t != NULL);
	family(f, "podswitch_build_info", "gauge", "The running version.");
	fprintf(f, "podswitch_build_info{version=\"%s\"} 1\n", PSW_VERSION);
	scalar(f, "podswitch_uptime_seconds", "gauge", "Seconds since the switch started.",
	       (long long)(time(NULL) - started));

	per_item(f, json_object_get(s, "ports"), "podswitch_port_rx_packets_total", "counter",
		 "Packets received on a port.", "rx", port_labels);
	per_item(f, json_object_get(s, "ports"), "podswitch_port_tx_packets_total", "counter",
		 "Packets sent on a port.", "tx", port_labels);
	per_item(f, json_object_get(s, "ports"), "podswitch_port_rx_bytes_total", "counter",
		 "Bytes of the frames received on a port (Ethernet header on, no FCS).", "rx_bytes",
		 port_labels);
	per_item(f, json_object_get(s, "ports"), "podswitch_port_tx_bytes_total", "counter",
		 "Bytes of the frames a port took to send.", "tx_bytes", port_labels);
	per_item(f, json_object_get(s, "ports"), "podswitch_port_tx_dropped_total", "counter",
		 "Packets a port's transmit queue did not take (queue full).", "tx_drop", port_labels);
	per_item(f, json_object_get(s, "ports"), "podswitch_port_rx_missed_total", "counter",
		 "Packets the device dropped before the switch read them.", "rx_missed", port_labels);
	per_item(f, json_object_get(s, "ports"), "podswitch_port_rx_nombuf_total", "counter",
		 "Packets the device dropped for want of an mbuf.", "rx_nombuf", port_labels);

	per_item(f, json_object_get(s, "workers"), "podswitch_worker_rx_packets_total", "counter",
		 "Packets a worker received.", "rx", worker_labels);
	per_item(f, json_object_get(s, "workers"), "podswitch_worker_tx_packets_total", "counter",
		 "Packets a worker sent.", "tx", worker_labels);
	per_item(f, json_object_get(s, "workers"), "podswitch_worker_loops_total", "counter",
		 "Iterations of a worker's loop.", "loops", worker_labels);
	per_item(f, json_object_get(s, "workers"), "podswitch_worker_busy_loops_total", "counter",
		 "Iterations of a worker's loop that moved packets.", "busy_loops", worker_labels);
	per_item(f, json_object_get(s, "workers"), "podswitch_worker_ports_parked", "gauge",
		 "Idle ports a worker waits on instead of polling.", "ports_parked", worker_labels);
	/* busy cycles, raw: rate(busy_cycles) / rate(rx) is the cost per packet over any window */
	family(f, "podswitch_worker_busy_cycles_total", "counter",
	       "TSC cycles of a worker's iterations that moved packets.");
	for (w = 0; w < st->nb_workers; w++)
		fprintf(f, "podswitch_worker_busy_cycles_total{worker=\"%u\",lcore=\"%u\"} %llu\n", w,
			st->lcores[w]->lcore_id,
			(unsigned long long)__atomic_load_n(&st->lcores[w]->stats.busy_cycles, __ATOMIC_RELAXED));
	/* idle: since the loop started, less busy (waiting, polling empty queues, asleep) */
	family(f, "podswitch_worker_idle_cycles_total", "counter",
	       "TSC cycles of a worker's time that moved no packets (empty polls and sleep).");
	for (w = 0; w < st->nb_workers; w++) {
		uint64_t t0 = __atomic_load_n(&st->lcores[w]->stats.started, __ATOMIC_RELAXED);
		uint64_t busy = __atomic_load_n(&st->lcores[w]->stats.busy_cycles, __ATOMIC_RELAXED);
		uint64_t all = t0 != 0 ? rte_rdtsc() - t0 : 0;

		fprintf(f, "podswitch_worker_idle_cycles_total{worker=\"%u\",lcore=\"%u\"} %llu\n", w,
			st->lcores[w]->lcore_id, (unsigned long long)(all > busy ? all - busy : 0));
	}

	per_member(f, json_object_get(s, "drops"), "podswitch_drops_total", "counter",
		   "Packets dropped, by reason (podswitchctl stats names them).", "reason");
	per_member(f, json_object_get(s, "events"), "podswitch_events_total", "counter",
		   "Things the stages did, by kind (podswitchctl stats names them).", "event");

	ct = json_object_get(s, "conntrack");
	if (json_object_size(ct) > 0) {
		scalar(f, "podswitch_conntrack_entries", "gauge", "Connections tracked now.",
		       json_integer_value(json_object_get(ct, "entries")));
		scalar(f, "podswitch_conntrack_size", "gauge", "Connections the table can hold.",
		       json_integer_value(json_object_get(ct, "size")));
		scalar(f, "podswitch_conntrack_inserts_total", "counter", "Connections entered.",
		       json_integer_value(json_object_get(ct, "inserts")));
		scalar(f, "podswitch_conntrack_table_full_total", "counter",
		       "New connections refused: the table was full.",
		       json_integer_value(json_object_get(ct, "refused_full")));
		scalar(f, "podswitch_conntrack_port_limit_total", "counter",
		       "New connections refused: their port had its share.",
		       json_integer_value(json_object_get(ct, "refused_port_limit")));
		scalar(f, "podswitch_conntrack_clashes_total", "counter",
		       "New connections whose reply tuple another one had.",
		       json_integer_value(json_object_get(ct, "clashes")));
		scalar(f, "podswitch_conntrack_evictions_total", "counter",
		       "Connections removed before their time to make room.",
		       json_integer_value(json_object_get(ct, "expired_early")));
		scalar(f, "podswitch_conntrack_expired_total", "counter", "Connections that timed out.",
		       json_integer_value(json_object_get(ct, "expired")) +
			       json_integer_value(json_object_get(ct, "expired_on_lookup")));
	}
	per_member(f, json_object_get(neigh, "counters"), "podswitch_neighbour_events_total", "counter",
		   "The neighbour table's ARP / ND work and drops, by kind.", "event");
	scalar(f, "podswitch_neighbour_entries", "gauge", "Entries in the neighbour table.",
	       (long long)json_array_size(json_object_get(neigh, "entries")));

	scalar(f, "podswitch_tables_version", "gauge", "Version of the forwarding snapshot the workers use.",
	       t != NULL ? (long long)t->version : 0);
	scalar(f, "podswitch_pods", "gauge", "Pods the switch forwards to.",
	       t != NULL && t->pods != NULL ? (long long)t->pods->nb : 0);
	scalar(f, "podswitch_pods_max", "gauge", "limits.pods.", (long long)st->cfg.limits.max_pods);
	scalar(f, "podswitch_mbufs_in_use", "gauge", "Packet buffers taken from the pools (of limits.mbufs).",
	       (long long)psw_port_mbufs_in_use());
	scalar(f, "podswitch_large_mbufs_in_use", "gauge",
	       "64 KB buffers of pods' large frames taken (of limits.large_mbufs), and guests' in vhost buffers.",
	       (long long)psw_port_large_mbufs_in_use());
	scalar(f, "podswitch_attachments", "gauge", "CNI attachments.", (long long)st->nb_atts);
	per_item(f, json_object_get(s, "services"), "podswitch_service_connections_total", "counter",
		 "New connections to a Service load-balanced to one of its endpoints.", "connections", svc_labels);
	per_item(f, json_object_get(s, "services"), "podswitch_service_rejected_total", "counter",
		 "Connection attempts to a Service without endpoints (answered with RST / unreachable).",
		 "rejected", svc_labels);
	per_item(f, json_object_get(s, "services"), "podswitch_service_no_local_endpoint_total", "counter",
		 "Connection attempts dropped: traffic policy Local, no endpoint on this node.", "no_local",
		 svc_labels);
	per_item(f, json_object_get(s, "services"), "podswitch_service_source_range_dropped_total", "counter",
		 "Connection attempts dropped: the client is not in loadBalancerSourceRanges.", "source_range",
		 svc_labels);
	svc_directions(f, json_object_get(s, "services"), "podswitch_service_packets_total",
		       "Packets of a Service's connections NAT-ed by the switch, to its endpoints or back from them.",
		       "packets");
	svc_directions(f, json_object_get(s, "services"), "podswitch_service_bytes_total",
		       "Bytes (IP length) of a Service's connections NAT-ed by the switch, to its endpoints or back.",
		       "bytes");
	log_counts(f);
	family(f, "podswitch_changes_total", "counter",
	       "Changes to the desired state compiled and published (apply, delete, CNI, reload), by result.");
	fprintf(f, "podswitch_changes_total{result=\"ok\"} %llu\n", (unsigned long long)st->pipe.ok);
	fprintf(f, "podswitch_changes_total{result=\"failed\"} %llu\n", (unsigned long long)st->pipe.failed);
	family(f, "podswitch_change_duration_seconds", "summary",
	       "Time from a stored change to its tables in force (compile, publish, grace period, reclaim).");
	fprintf(f, "podswitch_change_duration_seconds_sum %.9f\n", (double)st->pipe.ns_sum / 1e9);
	fprintf(f, "podswitch_change_duration_seconds_count %llu\n",
		(unsigned long long)(st->pipe.ok + st->pipe.failed));
	family(f, "podswitch_change_last_duration_seconds", "gauge", "How long the last change took.");
	fprintf(f, "podswitch_change_last_duration_seconds %.9f\n", (double)st->pipe.last_ns / 1e9);
	family(f, "podswitch_change_max_duration_seconds", "gauge", "The longest change since the start.");
	fprintf(f, "podswitch_change_max_duration_seconds %.9f\n", (double)st->pipe.max_ns / 1e9);
	scalar(f, "podswitch_last_change_timestamp_seconds", "gauge",
	       "When the last change was put in force (Unix time; 0: none yet).", (long long)st->pipe.last_at);
	objects(f, st);
	policies(f, st);
	audit(f, json_object_get(s, "audit"));
	if (fclose(f) != 0) {
		free(buf);
		buf = NULL;
	}
	json_decref(s);
	json_decref(neigh);
	*len = n;
	return buf;
}

static enum MHD_Result
answer(struct MHD_Connection *c, unsigned code, const char *type, char *body, size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	enum MHD_Result rc;

	if (r == NULL) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", type);
	rc = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result
on_http(void *cls, struct MHD_Connection *c, const char *url, const char *method, const char *version,
	const char *data, size_t *data_len, void **state)
{
	struct psw_metrics *m = cls;
	size_t len;
	char *text;

	(void)version;
	(void)data;
	(void)data_len;
	(void)state;
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return answer(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", strdup("GET /metrics\n"), 13);
	if (strcmp(url, "/metrics") != 0)
		return answer(c, MHD_HTTP_NOT_FOUND, "text/plain", strdup("GET /metrics\n"), 13);
	text = psw_metrics_text(m->st, &len);
	if (text == NULL)
		return answer(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain", strdup("out of memory\n"), 14);
	return answer(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", text, len);
}

/* libmicrohttpd's messages to stderr, LOG_PER_MINUTE at most, then how many were not printed. */
static void
log_message(void *cls, const char *fmt, va_list ap)
{
	struct psw_metrics *m = cls;
	time_t now = time(NULL);
	char msg[512];

	if (now - m->log_minute >= 60) {
		if (m->nb_suppressed > 0)
			PSW_LOG(WARN, METRICS, "metrics: %u more libmicrohttpd messages not shown",
				m->nb_suppressed);
		m->log_minute = now;
		m->nb_logged = 0;
		m->nb_suppressed = 0;
	}
	if (m->nb_logged >= LOG_PER_MINUTE) {
		m->nb_suppressed++;
		return;
	}
	m->nb_logged++;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	PSW_LOG(WARN, METRICS, "metrics: %s", msg);
}

struct psw_metrics *
psw_metrics_start(struct psw_state *st, const char *listen, char *err, size_t err_len)
{
	struct psw_metrics *m;
	struct sockaddr_storage ss;
	unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;

	if (started == 0)
		started = time(NULL);
	if (psw_parse_listen(listen, &ss) < 0) {
		snprintf(err, err_len, "metrics.listen '%s': give ADDRESS:PORT, e.g. \"127.0.0.1:9464\"", listen);
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (m == NULL) {
		snprintf(err, err_len, "metrics: out of memory");
		return NULL;
	}
	m->st = st;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	/* no thread of its own: the control loop runs it (MHD_run on its epoll fd) */
	m->d = MHD_start_daemon(flags, 0, NULL, NULL, on_http, m, MHD_OPTION_EXTERNAL_LOGGER, log_message, m,
				MHD_OPTION_SOCK_ADDR, &ss, MHD_OPTION_CONNECTION_LIMIT, 16u, MHD_OPTION_PER_IP_CONNECTION_LIMIT, 8u,
				MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
	if (m->d == NULL) {
		snprintf(err, err_len, "metrics.listen '%s': cannot listen there (%s)", listen,
			 errno != 0 ? strerror(errno) : "in use, or not this machine's address");
		free(m);
		return NULL;
	}
	return m;
}

int
psw_metrics_fd(const struct psw_metrics *m)
{
	const union MHD_DaemonInfo *i = MHD_get_daemon_info(m->d, MHD_DAEMON_INFO_EPOLL_FD);

	return i != NULL ? i->epoll_fd : -1;
}

void
psw_metrics_run(struct psw_metrics *m)
{
	if (m != NULL)
		MHD_run(m->d);
}

int
psw_metrics_timeout(struct psw_metrics *m)
{
	MHD_UNSIGNED_LONG_LONG ms;

	if (m == NULL || MHD_get_timeout(m->d, &ms) != MHD_YES)
		return -1;
	return ms < INT_MAX ? (int)ms : INT_MAX;
}

void
psw_metrics_stop(struct psw_metrics *m)
{
	if (m == NULL)
		return;
	MHD_stop_daemon(m->d);
	free(m);
}
