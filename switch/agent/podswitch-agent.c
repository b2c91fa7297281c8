/*
 * podswitch-agent: keeps a node's switch in step with the Kubernetes API
 * server. One thread per kind lists the kind (paginated), hands the whole
 * list to the switch in one `replace` (so objects deleted while nobody
 * watched go too, and there is no window without them), then watches from
 * the list's resourceVersion with bookmarks, passing each event on as an
 * `apply` or a `delete`. A watch that ends is resumed from the last
 * resourceVersion seen; an expired one (410) is relisted. Failures back off
 * exponentially with jitter, and a Retry-After is honoured. When the
 * switch cannot be reached the agent keeps the last state it read, waits,
 * and resyncs every kind in full once the switch is back.
 *
 * Threads: the watchers; libmicrohttpd's for the probes; main, which
 * reports the sync state to the switch (`agent.report`) every few seconds.
 * Counters are per kind, written by its watcher, read racily by the others.
 *
 * Lag, per kind: from the moment a watch event's line is complete to the
 * switch's answer to the apply or delete it became (the API gives no
 * reliable time of the change itself, so the time the object spent in the
 * API server and on the wire is not in it).
 */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>

#include "psw_api.h"
#include "psw_kube.h"

#define DEFAULT_SWITCH "/run/podswitch/podswitch.sock"
#define DEFAULT_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"
#define LIST_PAGE 500
#define BACKOFF_MIN_S 0.5
#define BACKOFF_MAX_S 30.0
#define REPORT_EVERY_S 5
#define ABSENT_RECHECK_S 60

struct kind {
	const char *kind, *api_version, *path;
	int optional;                  /**< a custom resource the cluster may not have (404: none) */
	volatile int absent;           /**< optional, and the API server has no such resource */
	pthread_t thread;
	char rv[64];                   /**< resourceVersion to watch from */
	/* counters (this kind's watcher writes; others read) */
	volatile int synced;           /**< listed and handed to the switch since the last loss */
	volatile long lists, events, refused, reconnects, expired;
	volatile time_t last_sync, last_event;
	volatile double lag_last_ms, lag_max_ms; /**< event line complete -> switch answered */
};

static struct kind kinds[] = {
	{ .kind = "Namespace", .api_version = "v1", .path = "/api/v1/namespaces" },
	{ .kind = "Pod", .api_version = "v1", .path = "/api/v1/pods" },
	{ .kind = "Service", .api_version = "v1", .path = "/api/v1/services" },
	{ .kind = "EndpointSlice", .api_version = "discovery.k8s.io/v1",
	  .path = "/apis/discovery.k8s.io/v1/endpointslices" },
	{ .kind = "NetworkPolicy", .api_version = "networking.k8s.io/v1",
	  .path = "/apis/networking.k8s.io/v1/networkpolicies" },
	{ .kind = "Node", .api_version = "v1", .path = "/api/v1/nodes" },
	/* Multus' CRD: in a cluster without it the kind is simply absent (checked again every minute) */
	{ .kind = "MultiNetworkPolicy", .api_version = "k8s.cni.cncf.io/v1beta1",
	  .path = "/apis/k8s.cni.cncf.io/v1beta1/multi-networkpolicies", .optional = 1 },
};
#define NB_KINDS (sizeof(kinds) / sizeof(kinds[0]))

static struct {
	struct psw_kube kube;
	const char *switch_sock;
	long watch_timeout;            /**< a watch lasts [t, 2t) seconds */
	pthread_mutex_t switch_lock;   /**< one request to the switch at a time */
	volatile int switch_up;
	volatile int stop;
	time_t started;
} ag = { .switch_sock = DEFAULT_SWITCH, .watch_timeout = 300 };

/* ------------------------------------------------------------- helpers */

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void
sleep_s(double s)
{
	struct timespec ts;

	/* in slices, so a shutdown is not kept waiting */
	while (s > 0 && !ag.stop) {
		double step = s > 0.2 ? 0.2 : s;

		ts.tv_sec = (time_t)step;
		ts.tv_nsec = (long)((step - (double)ts.tv_sec) * 1e9);
		nanosleep(&ts, NULL);
		s -= step;
	}
}

/* Exponential, jittered (±25%); a server's Retry-After is a floor. */
static void
backoff(double *cur, long retry_after)
{
	double s = *cur * (0.75 + 0.5 * (double)rand() / RAND_MAX);

	if (retry_after > 0 && (double)retry_after > s)
		s = (double)retry_after;
	sleep_s(s);
	*cur = *cur * 2 > BACKOFF_MAX_S ? BACKOFF_MAX_S : *cur * 2;
}

/*
 * A request to the switch. NULL when the switch could not be reached
 * (switch_up cleared); otherwise the answer, ok or not.
 */
static json_t *
switch_call(const char *op, json_t *args)
{
	char err[512];
	json_t *resp;

	pthread_mutex_lock(&ag.switch_lock);
	resp = psw_api_call(ag.switch_sock, op, args, err, sizeof(err));
	pthread_mutex_unlock(&ag.switch_lock);
	if (resp == NULL && ag.switch_up) {
		fprintf(stderr, "podswitch-agent: switch %s: %s; keeping the last state, resyncing when it is "
			"back\n", ag.switch_sock, err);
		ag.switch_up = 0;
	}
	return resp;
}

static const char *
api_message(json_t *resp)
{
	return json_string_value(json_object_get(json_object_get(resp, "error"), "message")) ?: "?";
}

/* ------------------------------------------------------------- objects */

/* Keep of map only the keys listed (NULL-terminated). */
static void
keep_only(json_t *map, const char *const *keys)
{
	const char *k;
	json_t *v;
	void *tmp;

	json_object_foreach_safe(map, tmp, k, v) {
		const char *const *w;

		for (w = keys; *w != NULL && strcmp(*w, k) != 0; w++)
			;
		if (*w == NULL)
			json_object_del(map, k);
	}
}

/*
 * What the switch reads of an object, nothing more: no managedFields,
 * uid, resourceVersion or other bookkeeping, no status but the addresses
 * it uses. kind and apiVersion are set (list items come without them).
 * A Node keeps only its name, labels, spec.podCIDR(s) and
 * status.addresses: the rest (images, conditions) changes with heartbeats.
 */
static json_t *
trimmed(const struct kind *kd, json_t *obj)
{
	static const char *const meta_keys[] = { "name", "namespace", "labels", "annotations", NULL };
	static const char *const pod_spec[] = { "containers", "nodeName", "hostNetwork", NULL };
	static const char *const pod_status[] = { "podIP", "podIPs", "phase", NULL };
	static const char *const svc_status[] = { "loadBalancer", NULL };
	static const char *const node_meta[] = { "name", "labels", NULL };
	static const char *const node_spec[] = { "podCIDR", "podCIDRs", NULL };
	static const char *const node_status[] = { "addresses", NULL };
	static const char *const slice_keys[] = { "apiVersion", "kind", "metadata", "addressType",
						  "endpoints", "ports", NULL };
	static const char *const top_keys[] = { "apiVersion", "kind", "metadata", "spec", "status", NULL };
	json_t *o = json_deep_copy(obj), *meta, *ann;

	if (o == NULL)
		return NULL;
	json_object_set_new(o, "kind", json_string(kd->kind));
	json_object_set_new(o, "apiVersion", json_string(kd->api_version));
	keep_only(o, strcmp(kd->kind, "EndpointSlice") == 0 ? slice_keys : top_keys);
	meta = json_object_get(o, "metadata");
	keep_only(meta, meta_keys);
	ann = json_object_get(meta, "annotations");
	json_object_del(ann, "kubectl.kubernetes.io/last-applied-configuration");
	if (json_object_size(ann) == 0)
		json_object_del(meta, "annotations");
	if (strcmp(kd->kind, "Pod") == 0) {
		keep_only(json_object_get(o, "spec"), pod_spec);
		keep_only(json_object_get(o, "status"), pod_status);
	} else if (strcmp(kd->kind, "Service") == 0) {
		keep_only(json_object_get(o, "status"), svc_status);
	} else if (strcmp(kd->kind, "Node") == 0) {
		keep_only(meta, node_meta);
		keep_only(json_object_get(o, "spec"), node_spec);
		keep_only(json_object_get(o, "status"), node_status);
	} else {
		json_object_del(o, "status");
		if (strcmp(kd->kind, "Namespace") == 0)
			json_object_del(o, "spec");
	}
	return o;
}

/* "document N: ..." of a refusal: the 1-based index of the object refused, or 0. */
static size_t
refused_document(const char *msg)
{
	const char *d = strstr(msg, "document ");

	return d != NULL ? (size_t)strtoul(d + 9, NULL, 10) : 0;
}

/* ------------------------------------------------------------ list, sync */

/*
 * The whole list of a kind (pages of LIST_PAGE), trimmed; rv set to the
 * list's resourceVersion. NULL on failure (resp says why).
 */
static json_t *
list_kind(struct kind *kd, CURL *curl, struct psw_kube_resp *resp)
{
	json_t *all = json_array(), *page, *it;
	char path[4096], cont[2048] = "";
	size_t i;

	for (;;) {
		snprintf(path, sizeof(path), "%s?limit=%d%s%s", kd->path, LIST_PAGE, cont[0] ? "&continue=" : "",
			 cont);
		page = psw_kube_get(&ag.kube, curl, path, resp);
		if (page == NULL) {
			json_decref(all);
			return NULL;
		}
		json_array_foreach(json_object_get(page, "items"), i, it)
			json_array_append_new(all, trimmed(kd, it));
		snprintf(kd->rv, sizeof(kd->rv), "%s",
			 json_string_value(json_object_get(json_object_get(page, "metadata"), "resourceVersion")) ?: "");
		snprintf(cont, sizeof(cont), "%s",
			 json_string_value(json_object_get(json_object_get(page, "metadata"), "continue")) ?: "");
		json_decref(page);
		if (cont[0] == '\0')
			return all;
		/* an opaque token; percent-encode what a query cannot hold */
		{
			char *e = curl_easy_escape(curl, cont, 0);

			snprintf(cont, sizeof(cont), "%s", e ? e : "");
			curl_free(e);
		}
	}
}

/*
 * Hand a kind's whole list to the switch (replace). An object the switch
 * refuses is dropped from the list (counted, logged) and the rest sent
 * again, so one bad object does not keep a kind out of sync.
 * @return 0, or -1 when the switch could not be reached.
 */
static int
sync_kind(struct kind *kd, json_t *objs)
{
	json_t *resp;
	int tries;

	for (tries = 0; tries < 1000; tries++) {
		json_t *args = json_pack("{s:[s], s:O}", "kinds", kd->kind, "objects", objs);
		size_t bad;

		resp = switch_call("replace", args);     /* takes args */
		if (resp == NULL)
			return -1;
		if (json_is_true(json_object_get(resp, "ok"))) {
			json_decref(resp);
			return 0;
		}
		bad = refused_document(api_message(resp));
		fprintf(stderr, "podswitch-agent: %s: the switch refused the list: %s%s\n", kd->kind,
			api_message(resp), bad ? " (that object is left out)" : "");
		json_decref(resp);
		kd->refused++;
		if (bad == 0 || bad > json_array_size(objs))
			return 0;                /* nothing to leave out: the next relist tries again */
		json_array_remove(objs, bad - 1);
	}
	return 0;
}

/* ------------------------------------------------------------------ watch */

struct watch {
	struct kind *kd;
	int expired;                   /**< 410: relist */
	int lost;                      /**< the switch went: relist once it is back */
};

static int
on_event(void *arg, const char *text, size_t len)
{
	struct watch *w = arg;
	struct kind *kd = w->kd;
	double received = now_ms();      /* the line is complete now */
	json_t *ev = json_loadb(text, len, 0, NULL), *obj, *resp = NULL, *o;
	const char *type, *rv;

	if (ev == NULL) {
		fprintf(stderr, "podswitch-agent: %s: a watch line that is not JSON (%zu bytes) skipped\n",
			kd->kind, len);
		return 0;
	}
	type = json_string_value(json_object_get(ev, "type"));
	obj = json_object_get(ev, "object");
	if (type == NULL || !json_is_object(obj)) {
		json_decref(ev);                 /* a Status without an event: the stream ends by itself */
		return 0;
	}
	if (strcmp(type, "ERROR") == 0) {
		json_int_t code = json_integer_value(json_object_get(obj, "code"));

		if (code == 410)
			w->expired = 1;
		else
			fprintf(stderr, "podswitch-agent: %s: watch error %lld: %s\n", kd->kind,
				(long long)code, json_string_value(json_object_get(obj, "message")) ?: "");
		json_decref(ev);
		return 1;
	}
	rv = json_string_value(json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
	if (strcmp(type, "ADDED") == 0 || strcmp(type, "MODIFIED") == 0) {
		o = trimmed(kd, obj);
		resp = switch_call("apply", json_pack("{s:[o]}", "objects", o));
	} else if (strcmp(type, "DELETED") == 0) {
		o = trimmed(kd, obj);
		resp = switch_call("delete", json_pack("{s:[o]}", "objects", o));
		/* already gone (a delete that raced a relist) is what was wanted */
		if (resp != NULL && strcmp(json_string_value(json_object_get(json_object_get(resp, "error"),
									    "code")) ?: "", "not_found") == 0) {
			json_decref(resp);
			resp = json_pack("{s:b}", "ok", 1);
		}
	} else if (strcmp(type, "BOOKMARK") == 0) {
		resp = json_pack("{s:b}", "ok", 1);
	} else {
		json_decref(ev);
		return 0;
	}
	if (resp == NULL) {
		json_decref(ev);
		w->lost = 1;
		return 1;
	}
	if (!json_is_true(json_object_get(resp, "ok"))) {
		kd->refused++;
		fprintf(stderr, "podswitch-agent: %s %s refused by the switch: %s\n", kd->kind, type,
			api_message(resp));
	}
	json_decref(resp);
	if (rv != NULL)
		snprintf(kd->rv, sizeof(kd->rv), "%s", rv);
	if (strcmp(type, "BOOKMARK") != 0) {
		double lag = now_ms() - received;

		kd->lag_last_ms = lag;
		if (lag > kd->lag_max_ms)
			kd->lag_max_ms = lag;
		kd->events++;
		kd->last_event = time(NULL);
	}
	json_decref(ev);
	return 0;
}

/* Wait until the switch answers again. */
static void
wait_for_switch(void)
{
	json_t *resp;

	while (!ag.stop) {
		resp = switch_call("version", json_object());
		if (resp != NULL) {
			json_decref(resp);
			ag.switch_up = 1;
			fprintf(stderr, "podswitch-agent: switch %s is back: resyncing\n", ag.switch_sock);
			return;
		}
		sleep_s(1);
	}
}

static void *
watcher(void *arg)
{
	struct kind *kd = arg;
	CURL *curl = curl_easy_init();
	double delay = BACKOFF_MIN_S;
	struct psw_kube_resp resp;

	while (!ag.stop && curl != NULL) {
		json_t *objs;

		if (!ag.switch_up)
			wait_for_switch();
		kd->synced = 0;
		objs = list_kind(kd, curl, &resp);
		if (objs == NULL && kd->optional && resp.status == 404) {
			/* the cluster has no such resource: none of its objects (the
			 * switch's are dropped), synced as such; ask again later */
			if (!kd->absent)
				fprintf(stderr, "podswitch-agent: %s: the API server has no such resource (%s); "
					"asking again every %d s\n", kd->kind, kd->path, ABSENT_RECHECK_S);
			kd->absent = 1;
			objs = json_array();
			if (sync_kind(kd, objs) < 0) {
				json_decref(objs);
				continue;
			}
			json_decref(objs);
			kd->synced = 1;
			kd->last_sync = time(NULL);
			sleep_s(ABSENT_RECHECK_S);
			continue;
		}
		kd->absent = 0;
		if (objs == NULL) {
			fprintf(stderr, "podswitch-agent: %s: list: %s\n", kd->kind,
				resp.error[0] ? resp.error : "no answer");
			kd->reconnects++;
			backoff(&delay, resp.retry_after);
			continue;
		}
		kd->lists++;
		if (sync_kind(kd, objs) < 0) {
			json_decref(objs);
			continue;                /* wait for the switch, then list again */
		}
		json_decref(objs);
		kd->synced = 1;
		kd->last_sync = time(NULL);
		delay = BACKOFF_MIN_S;
		while (!ag.stop) {
			struct watch w = { .kd = kd };
			long t = ag.watch_timeout + rand() % (ag.watch_timeout > 0 ? ag.watch_timeout : 1);
			char path[4096];
			int rc;

			snprintf(path, sizeof(path), "%s?watch=1&allowWatchBookmarks=true&resourceVersion=%s"
				 "&timeoutSeconds=%ld", kd->path, kd->rv, t);
			rc = psw_kube_stream(&ag.kube, curl, path, t + 30, on_event, &w, &resp);
			if (w.lost || !ag.switch_up)
				break;
			if (w.expired || resp.status == 410) {
				kd->expired++;
				break;
			}
			if (rc < 0) {
				if (!ag.stop)
					fprintf(stderr, "podswitch-agent: %s: watch: %s\n", kd->kind, resp.error);
				kd->reconnects++;
				backoff(&delay, resp.retry_after);
				if (resp.status == 401 || resp.status == 403)
					break;           /* credentials may have changed: start over */
				continue;
			}
			delay = BACKOFF_MIN_S;   /* ended in time: resume from kd->rv */
		}
	}
	curl_easy_cleanup(curl);
	return NULL;
}

/* ----------------------------------------------------------------- state */

/* Milliseconds rounded to the microsecond (no digits that mean nothing). */
static double
to_us(double ms)
{
	return (double)(long long)(ms * 1000.0 + 0.5) / 1000.0;
}

static json_t *
status_json(void)
{
	json_t *ks = json_object();
	time_t now = time(NULL);
	int ready = ag.switch_up;
	size_t i;

	for (i = 0; i < NB_KINDS; i++) {
		struct kind *kd = &kinds[i];

		ready = ready && kd->synced;
		json_object_set_new(ks, kd->kind, json_pack("{s:b, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
			"s:f, s:f}",
			"synced", kd->synced, "resource_version", kd->rv, "lists", (json_int_t)kd->lists,
			"relists", (json_int_t)(kd->lists > 0 ? kd->lists - 1 : 0),
			"events", (json_int_t)kd->events, "refused", (json_int_t)kd->refused,
			"reconnects", (json_int_t)kd->reconnects, "expired", (json_int_t)kd->expired,
			"last_sync_s_ago", (json_int_t)(kd->last_sync ? now - kd->last_sync : -1),
			"lag_last_ms", to_us(kd->lag_last_ms), "lag_max_ms", to_us(kd->lag_max_ms)));
		if (kd->optional)
			json_object_set_new(json_object_get(ks, kd->kind), "absent", json_boolean(kd->absent));
	}
	return json_pack("{s:b, s:b, s:s, s:I, s:o}", "ready", ready, "switch_up", ag.switch_up,
			 "server", ag.kube.server, "uptime_s", (json_int_t)(now - ag.started), "kinds", ks);
}

static enum MHD_Result
answer(struct MHD_Connection *c, unsigned code, const char *type, char *body)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	enum MHD_Result rc;

	MHD_add_response_header(r, "Content-Type", type);
	rc = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return rc;
}

/* /healthz: alive. /readyz: every kind synced and the switch reachable. /status: the counters. */
static enum MHD_Result
on_http(void *cls, struct MHD_Connection *c, const char *url, const char *method, const char *version,
	const char *data, size_t *data_len, void **state)
{
	json_t *st;
	char *text;
	int ready;

	(void)cls;
	(void)version;
	(void)data;
	(void)data_len;
	(void)state;
	if (strcmp(method, "GET") != 0)
		return answer(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", strdup("GET only\n"));
	if (strcmp(url, "/healthz") == 0)
		return answer(c, MHD_HTTP_OK, "text/plain", strdup("ok\n"));
	st = status_json();
	ready = json_is_true(json_object_get(st, "ready"));
	if (strcmp(url, "/readyz") == 0) {
		json_decref(st);
		return answer(c, ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain",
			      strdup(ready ? "ready\n" : "not synced\n"));
	}
	if (strcmp(url, "/status") == 0) {
		text = json_dumps(st, JSON_INDENT(2));
		json_decref(st);
		return answer(c, MHD_HTTP_OK, "application/json", text);
	}
	json_decref(st);
	return answer(c, MHD_HTTP_NOT_FOUND, "text/plain", strdup("/healthz, /readyz, /status\n"));
}

static struct MHD_Daemon *
start_probes(const char *addr, char *err, size_t err_len)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	char host[64];
	const char *colon = strrchr(addr, ':');
	long port = colon ? strtol(colon + 1, NULL, 10) : 0;
	struct MHD_Daemon *d;

	if (colon == NULL || port <= 0 || port > 65535 || (size_t)(colon - addr) >= sizeof(host)) {
		snprintf(err, err_len, "--health '%s': give ADDRESS:PORT (e.g. 127.0.0.1:9477) or 'off'", addr);
		return NULL;
	}
	snprintf(host, sizeof(host), "%.*s", (int)(colon - addr), addr);
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		snprintf(err, err_len, "--health '%s': '%s' is not an IPv4 address", addr, host);
		return NULL;
	}
	sa.sin_port = htons((uint16_t)port);
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, (uint16_t)port, NULL, NULL, on_http, NULL,
			     MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_END);
	if (d == NULL)
		snprintf(err, err_len, "--health %s: cannot listen there (in use?)", addr);
	return d;
}

static void
on_signal(int sig)
{
	(void)sig;
	ag.stop = 1;
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: podswitch-agent [--kubeconfig FILE | --sa-dir DIR] [--switch SOCKET]\n"
		"                       [--health ADDR:PORT|off] [--watch-timeout SECONDS]\n"
		"Keeps the switch on SOCKET (default %s) in step with the Kubernetes API server:\n"
		"Namespaces, Pods, Services, EndpointSlices, NetworkPolicies and Nodes. In a pod it uses the\n"
		"service account (DIR, default %s); outside one, a kubeconfig file.\n"
		"Probes on ADDR:PORT (default 127.0.0.1:9477): /healthz, /readyz, /status.\n",
		DEFAULT_SWITCH, DEFAULT_SA_DIR);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "kubeconfig", required_argument, NULL, 'k' },
		{ "sa-dir", required_argument, NULL, 'a' },
		{ "switch", required_argument, NULL, 's' },
		{ "health", required_argument, NULL, 'H' },
		{ "watch-timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *kubeconfig = NULL, *sa_dir = DEFAULT_SA_DIR, *health = "127.0.0.1:9477";
	struct MHD_Daemon *probes = NULL;
	struct sigaction sa = { .sa_handler = on_signal };
	char err[1024];
	json_t *resp;
	size_t i;
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'k':
			kubeconfig = optarg;
			break;
		case 'a':
			sa_dir = optarg;
			break;
		case 's':
			ag.switch_sock = optarg;
			break;
		case 'H':
			health = optarg;
			break;
		case 't':
			ag.watch_timeout = strtol(optarg, NULL, 10);
			if (ag.watch_timeout < 1 || ag.watch_timeout > 3600) {
				fprintf(stderr, "podswitch-agent: --watch-timeout %s: give 1 to 3600 seconds\n",
					optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "podswitch-agent: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if ((kubeconfig != NULL ? psw_kube_from_kubeconfig(&ag.kube, kubeconfig, err, sizeof(err))
				: psw_kube_in_cluster(&ag.kube, sa_dir, err, sizeof(err))) < 0) {
		fprintf(stderr, "podswitch-agent: %s\n", err);
		return 2;
	}
	ag.kube.stop = &ag.stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	curl_global_init(CURL_GLOBAL_DEFAULT);
	pthread_mutex_init(&ag.switch_lock, NULL);
	ag.started = time(NULL);
	if (strcmp(health, "off") != 0 && (probes = start_probes(health, err, sizeof(err))) == NULL) {
		fprintf(stderr, "podswitch-agent: %s\n", err);
		return 2;
	}
	printf("podswitch-agent: API server %s, switch %s\n", ag.kube.server, ag.switch_sock);
	fflush(stdout);
	ag.switch_up = 0;
	for (i = 0; i < NB_KINDS; i++)
		pthread_create(&kinds[i].thread, NULL, watcher, &kinds[i]);
	while (!ag.stop) {
		sleep_s(REPORT_EVERY_S);
		if (ag.switch_up && !ag.stop) {
			resp = switch_call("agent.report", status_json());
			json_decref(resp);
		}
	}
	for (i = 0; i < NB_KINDS; i++)
		pthread_join(kinds[i].thread, NULL);
	if (probes != NULL)
		MHD_stop_daemon(probes);
	psw_kube_fini(&ag.kube);
	curl_global_cleanup();
	printf("podswitch-agent: stopped\n");
	return 0;
}
