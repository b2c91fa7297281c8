/* DPDK telemetry commands answered by the control thread (psw_telemetry.h). */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <rte_telemetry.h>

#include "psw_build.h"
#include "psw_ctl.h"
#include "psw_state.h"
#include "psw_tables.h"
#include "psw_telemetry.h"

#define WAIT_MS 1000

/* The one request in flight, handed from the telemetry thread to the control thread. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int efd;
	struct psw_state *st;
	bool gone;                       /**< the switch stops: refuse */
	enum { IDLE, ASKED, DONE } state;
	const char *cmd, *params;
	struct rte_tel_data *d;
	int rc;
} tel = { .lock = PTHREAD_MUTEX_INITIALIZER, .efd = -1 };

/* A dict key as telemetry takes it: letters, digits, '_' and '/'. */
static void
key_of(char *out, size_t len, const char *prefix, const char *key)
{
	char *c;

	snprintf(out, len, "%s%s%s", prefix, prefix[0] != '\0' ? "/" : "", key);
	for (c = out; *c != '\0'; c++)
		if (!isalnum((unsigned char)*c) && *c != '_' && *c != '/')
			*c = '_';
}

/* Nested objects and arrays of JSON into one flat dict, keys joined by '/'. */
static void
flatten(struct rte_tel_data *d, const char *prefix, json_t *v, unsigned *n)
{
	char name[RTE_TEL_MAX_STRING_LEN];
	const char *k;
	json_t *e;
	size_t i;

	if (*n >= RTE_TEL_MAX_DICT_ENTRIES)
		return;
	if (json_is_object(v)) {
		json_object_foreach(v, k, e) {
			key_of(name, sizeof(name), prefix, k);
			flatten(d, name, e, n);
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, e) {
			char idx[24];

			snprintf(idx, sizeof(idx), "%zu", i);
			key_of(name, sizeof(name), prefix, idx);
			flatten(d, name, e, n);
		}
	} else if (json_is_integer(v) && json_integer_value(v) >= 0) {
		rte_tel_data_add_dict_u64(d, prefix, (uint64_t)json_integer_value(v));
		(*n)++;
	} else if (json_is_integer(v)) {
		rte_tel_data_add_dict_int(d, prefix, (int)json_integer_value(v));
		(*n)++;
	} else if (json_is_boolean(v)) {
		rte_tel_data_add_dict_u64(d, prefix, json_is_true(v));
		(*n)++;
	} else if (json_is_string(v)) {
		rte_tel_data_add_dict_string(d, prefix, json_string_value(v));
		(*n)++;
	}
}

/* The answer to cmd, written into d (control thread). 0 or -errno. */
static int
answer(struct psw_state *st, const char *cmd, const char *params, struct rte_tel_data *d)
{
	json_t *s = psw_state_stats_json(st), *o = NULL, *p;
	const struct psw_tables *t = psw_tables_current;
	unsigned n = 0;
	size_t i;
	int rc = 0;

	if (s == NULL)
		return -ENOMEM;
	if (strcmp(cmd, "/podswitch/ports") == 0) {
		rte_tel_data_start_array(d, RTE_TEL_STRING_VAL);
		json_array_foreach(json_object_get(s, "ports"), i, p)
			if (i < RTE_TEL_MAX_ARRAY_ENTRIES)
				rte_tel_data_add_array_string(d, json_string_value(json_object_get(p, "name")));
		json_decref(s);
		return 0;
	}
	rte_tel_data_start_dict(d);
	if (strcmp(cmd, "/podswitch/stats") == 0) {
		o = json_pack("{s:O, s:O}", "drop", json_object_get(s, "drops"), "event", json_object_get(s, "events"));
	} else if (strcmp(cmd, "/podswitch/workers") == 0) {
		o = json_incref(json_object_get(s, "workers"));
	} else if (strcmp(cmd, "/podswitch/conntrack") == 0) {
		o = json_incref(json_object_get(s, "conntrack"));
	} else if (strcmp(cmd, "/podswitch/port") == 0) {
		rc = -EINVAL;                    /* no such port */
		json_array_foreach(json_object_get(s, "ports"), i, p)
			if (params != NULL && strcmp(json_string_value(json_object_get(p, "name")) ?: "", params) == 0) {
				o = json_incref(p);
				rc = 0;
			}
	} else {                                 /* /podswitch/status */
		o = json_pack("{s:s, s:s, s:I, s:i, s:I, s:i}", "version", PSW_VERSION, "node", st->cfg.node.name,
			      "tables_version", (json_int_t)(t != NULL ? t->version : 0), "workers", st->nb_workers,
			      "pods", (json_int_t)(t != NULL && t->pods != NULL ? t->pods->nb : 0),
			      "attachments", st->nb_atts);
	}
	flatten(d, "", o, &n);
	json_decref(o);
	json_decref(s);
	return rc;
}

/* A command, on DPDK's telemetry thread: asked of the control thread, waited for. */
static int
ask(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct timespec until;
	uint64_t one = 1;
	int rc = -EAGAIN;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += WAIT_MS / 1000;
	pthread_mutex_lock(&tel.lock);
	while (tel.state != IDLE && !tel.gone)   /* one request at a time */
		if (pthread_cond_timedwait(&tel.cond, &tel.lock, &until) == ETIMEDOUT)
			goto out;
	if (tel.gone)
		goto out;
	tel.cmd = cmd;
	tel.params = params;
	tel.d = d;
	tel.state = ASKED;
	if (write(tel.efd, &one, sizeof(one)) < 0 && errno != EAGAIN) {
		tel.state = IDLE;
		goto out;
	}
	while (tel.state == ASKED && !tel.gone)
		if (pthread_cond_timedwait(&tel.cond, &tel.lock, &until) == ETIMEDOUT)
			break;
	/* not answered in time: taken back (the control thread fills it only while ASKED, under the lock) */
	rc = tel.state == DONE ? tel.rc : -ETIMEDOUT;
	tel.state = IDLE;
	pthread_cond_broadcast(&tel.cond);
out:
	pthread_mutex_unlock(&tel.lock);
	return rc;
}

void
psw_telemetry_serve(void)
{
	uint64_t n;

	if (read(tel.efd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&tel.lock);
	if (tel.state == ASKED) {
		tel.rc = answer(tel.st, tel.cmd, tel.params, tel.d);
		tel.state = DONE;
		pthread_cond_broadcast(&tel.cond);
	}
	pthread_mutex_unlock(&tel.lock);
}

int
psw_telemetry_init(struct psw_state *st)
{
	static const struct {
		const char *cmd, *help;
	} cmds[] = {
		{ "/podswitch/status", "The switch: version, node, tables version, workers, pods, attachments." },
		{ "/podswitch/stats", "Drops by reason and events by kind, as podswitchctl stats." },
		{ "/podswitch/workers", "Per worker: packets, loops, busy loops, parked ports, cycles per packet." },
		{ "/podswitch/conntrack", "The connection table: entries, size, inserts, refusals, expiries." },
		{ "/podswitch/ports", "The names of the switch's ports." },
		{ "/podswitch/port", "One port's counters. Parameters: the port's name." },
	};
	pthread_condattr_t ca;
	unsigned i;

	if (tel.efd >= 0)
		return tel.efd;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&tel.cond, &ca);
	pthread_condattr_destroy(&ca);
	tel.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (tel.efd < 0)
		return -errno;
	tel.st = st;
	for (i = 0; i < RTE_DIM(cmds); i++) {
		int rc = rte_telemetry_register_cmd(cmds[i].cmd, ask, cmds[i].help);

		if (rc < 0)
			return rc;
	}
	return tel.efd;
}

void
psw_telemetry_fini(void)
{
	pthread_mutex_lock(&tel.lock);
	tel.gone = true;
	pthread_cond_broadcast(&tel.cond);
	pthread_mutex_unlock(&tel.lock);
}
