/* Packet capture sessions on the control thread (psw_capture_ctl.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_cycles.h>
#include <rte_lcore.h>
#include <rte_malloc.h>

#include "psw_api.h"
#include "psw_capture.h"
#include "psw_capture_ctl.h"
#include "psw_ctl.h"
#include "psw_port.h"
#include "psw_tables.h"

#define READ_MAX 1024
#define READ_DEFAULT 256

struct session {
	unsigned id;                     /**< 0: slot free */
	struct psw_capture *cap;
	unsigned nb_workers;
	char port_name[PSW_NAME_MAX];
	bool live;                       /**< the workers see it (psw_capture_port) */
	const char *reason;              /**< why it ended; NULL while live */
	uint64_t count;                  /**< packets wanted; 0: no end */
	uint64_t delivered;
	uint64_t discarded;              /**< caught past the count */
	uint64_t ns0, tsc0, hz;          /**< wall clock at tsc0 */
	uint64_t last_read;              /**< CLOCK_MONOTONIC seconds */
};

static struct session sessions[PSW_CAP_MAX];
static unsigned next_id = 1;

static uint64_t
mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec;
}

static void
cap_free(void *arg)
{
	struct psw_capture *c = arg;
	unsigned w;

	for (w = 0; w < PSW_MAX_WORKERS; w++)
		rte_ring_free(c->ring[w]);
	rte_mempool_free(c->pool);
	psw_filter_free(&c->filter);
	rte_free(c);
}

/* The workers stop copying for it; what they queued stays readable. */
static void
end(struct session *s, const char *reason)
{
	if (s->live)
		__atomic_store_n(&psw_capture_port[s->cap->port], NULL, __ATOMIC_RELEASE);
	s->live = false;
	if (s->reason == NULL)
		s->reason = reason;
}

static void
close_session(struct session *s)
{
	end(s, "stopped");
	psw_tables_defer(cap_free, s->cap);       /* a worker may still be in its burst */
	memset(s, 0, sizeof(*s));
}

static struct session *
find(json_t *args, json_t **err)
{
	json_int_t id = json_integer_value(json_object_get(args, "id"));
	unsigned i;

	for (i = 0; i < PSW_CAP_MAX; i++)
		if (sessions[i].id != 0 && sessions[i].id == id)
			return &sessions[i];
	*err = psw_api_error(PSW_API_E_NOT_FOUND, "no capture session %lld (ended, or closed after %u s unread)",
			     (long long)id, PSW_CAP_IDLE_S);
	return NULL;
}

static void
totals(const struct session *s, uint64_t *matched, uint64_t *dropped)
{
	unsigned w;

	*matched = *dropped = 0;
	for (w = 0; w < s->nb_workers; w++) {
		*matched += __atomic_load_n(&s->cap->w[w].matched, __ATOMIC_RELAXED);
		*dropped += __atomic_load_n(&s->cap->w[w].dropped, __ATOMIC_RELAXED);
	}
}

static struct psw_capture *
cap_create(unsigned id, uint16_t port, unsigned nb_workers, uint32_t snaplen, char *err, size_t errlen)
{
	size_t elt = sizeof(struct psw_cap_rec) + snaplen;
	size_t fit = RTE_MAX((size_t)256, PSW_CAP_POOL_BYTES / elt);
	unsigned n = (unsigned)RTE_MIN((size_t)4096, fit);
	struct psw_capture *c = rte_zmalloc("psw_capture", sizeof(*c), RTE_CACHE_LINE_SIZE);
	char name[RTE_MEMPOOL_NAMESIZE];
	unsigned w;

	if (c == NULL) {
		snprintf(err, errlen, "out of memory for a capture session");
		return NULL;
	}
	c->port = port;
	c->snaplen = snaplen;
	snprintf(name, sizeof(name), "pswcap%u", id);
	c->pool = rte_mempool_create(name, n, (unsigned)elt, 0, 0, NULL, NULL, NULL, NULL,
				     (int)rte_socket_id(), 0);
	for (w = 0; c->pool != NULL && w < nb_workers; w++) {
		snprintf(name, sizeof(name), "pswcap%u_w%u", id, w);
		c->ring[w] = rte_ring_create(name, n, (int)rte_socket_id(),
					     RING_F_SP_ENQ | RING_F_SC_DEQ | RING_F_EXACT_SZ);
		if (c->ring[w] == NULL)
			break;
	}
	if (c->pool == NULL || w < nb_workers) {
		snprintf(err, errlen, "no memory for %u capture records of %zu bytes (%s)", n, elt,
			 rte_strerror(rte_errno));
		cap_free(c);
		return NULL;
	}
	return c;
}

static json_t *
bad(const char *what)
{
	return psw_api_error(PSW_API_E_INVALID, "capture: %s", what);
}

json_t *
psw_capture_op_start(struct psw_state *st, json_t *args)
{
	const char *port_name = json_string_value(json_object_get(args, "port"));
	const char *filter = json_string_value(json_object_get(args, "filter"));
	const char *dir = json_string_value(json_object_get(args, "direction"));
	json_t *jsnap = json_object_get(args, "snaplen"), *jcount = json_object_get(args, "count");
	json_int_t snaplen = PSW_CAP_SNAPLEN, count = 0;
	struct session *s = NULL;
	struct psw_capture *c;
	char err[PCAP_ERRBUF_SIZE + 300], mac[18];
	struct timespec ts;
	struct psw_port *p;
	uint8_t dirs;
	unsigned i;
	int idx;

	if (port_name == NULL)
		return bad("'port' (a port name, as in 'get ports') is required");
	idx = psw_port_find(port_name);
	if (idx < 0)
		return psw_api_error(PSW_API_E_NOT_FOUND, "capture: no port '%s' (see 'podswitchctl get ports')",
				     port_name);
	if (jsnap != NULL) {
		if (!json_is_integer(jsnap) || json_integer_value(jsnap) < 64 ||
		    json_integer_value(jsnap) > 65535)
			return bad("'snaplen' must be an integer from 64 to 65535");
		snaplen = json_integer_value(jsnap);
	}
	if (jcount != NULL) {
		if (!json_is_integer(jcount) || json_integer_value(jcount) < 0)
			return bad("'count' must be an integer >= 0 (0: until stopped)");
		count = json_integer_value(jcount);
	}
	if (dir == NULL || strcmp(dir, "both") == 0)
		dirs = PSW_CAP_RX | PSW_CAP_TX;
	else if (strcmp(dir, "rx") == 0)
		dirs = PSW_CAP_RX;
	else if (strcmp(dir, "tx") == 0)
		dirs = PSW_CAP_TX;
	else
		return psw_api_error(PSW_API_E_INVALID, "capture: 'direction' must be rx, tx or both, not '%s'", dir);
	if (json_object_get(args, "filter") != NULL && filter == NULL)
		return bad("'filter' must be a string (a tcpdump expression)");
	for (i = 0; i < PSW_CAP_MAX; i++) {
		if (sessions[i].id != 0 && sessions[i].live && sessions[i].cap->port == idx)
			return psw_api_error(PSW_API_E_EXISTS, "capture: port '%s' is being captured already (session %u)",
					     port_name, sessions[i].id);
		if (sessions[i].id == 0 && s == NULL)
			s = &sessions[i];
	}
	if (s == NULL)
		return psw_api_error(PSW_API_E_NO_RESOURCES, "capture: %u sessions open already (the most)",
				     PSW_CAP_MAX);
	c = cap_create(next_id, (uint16_t)idx, st->nb_workers, (uint32_t)snaplen, err, sizeof(err));
	if (c == NULL)
		return psw_api_error(PSW_API_E_NO_RESOURCES, "capture: %s", err);
	if (psw_filter_compile(&c->filter, filter, (uint32_t)snaplen, err, sizeof(err)) < 0) {
		cap_free(c);
		return bad(err);
	}
	c->dirs = dirs;
	p = &psw_ports[idx];
	s->id = next_id++;
	s->cap = c;
	s->nb_workers = st->nb_workers;
	snprintf(s->port_name, sizeof(s->port_name), "%s", port_name);
	s->count = (uint64_t)count;
	s->hz = rte_get_tsc_hz();
	s->tsc0 = rte_rdtsc();
	clock_gettime(CLOCK_REALTIME, &ts);
	s->ns0 = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	s->last_read = mono_s();
	s->live = true;
	__atomic_store_n(&psw_capture_port[idx], c, __ATOMIC_RELEASE);
	snprintf(mac, sizeof(mac), RTE_ETHER_ADDR_PRT_FMT, RTE_ETHER_ADDR_BYTES(&p->mac));
	return psw_api_ok(json_pack("{s:i, s:s, s:s, s:s, s:i, s:s, s:s, s:I}", "id", s->id,
		"port", port_name, "kind", psw_port_kind_name(p->kind), "mac", mac, "snaplen", (int)snaplen,
		"filter", c->filter.expr, "direction", dir != NULL ? dir : "both", "count", count));
}

static int
by_tsc(const void *a, const void *b)
{
	const struct psw_cap_rec *x = *(const struct psw_cap_rec *const *)a;
	const struct psw_cap_rec *y = *(const struct psw_cap_rec *const *)b;

	return x->tsc < y->tsc ? -1 : x->tsc > y->tsc;
}

static json_t *
rec_json(const struct session *s, const struct psw_cap_rec *r, char *hex)
{
	static const char digits[] = "0123456789abcdef";
	int64_t dt = (int64_t)(r->tsc - s->tsc0);
	uint64_t ns = s->ns0 + (uint64_t)((__int128)dt * 1000000000 / (__int128)s->hz);
	unsigned i;

	for (i = 0; i < r->caplen; i++) {
		hex[2 * i] = digits[r->data[i] >> 4];
		hex[2 * i + 1] = digits[r->data[i] & 15];
	}
	hex[2 * i] = '\0';
	return json_pack("{s:I, s:I, s:s, s:I, s:s}", "sec", (json_int_t)(ns / 1000000000u),
			 "nsec", (json_int_t)(ns % 1000000000u), "dir", r->dir == PSW_CAP_RX ? "rx" : "tx",
			 "len", (json_int_t)r->wirelen, "data", hex);
}

json_t *
psw_capture_op_read(struct psw_state *st, json_t *args)
{
	static struct psw_cap_rec *recs[READ_MAX];
	json_t *err = NULL, *pkts, *jmax = json_object_get(args, "max");
	struct session *s = find(args, &err);
	unsigned max = READ_DEFAULT, n = 0, w, i;
	uint64_t matched, dropped;
	char *hex;

	(void)st;
	if (s == NULL)
		return err;
	if (jmax != NULL) {
		if (!json_is_integer(jmax) || json_integer_value(jmax) < 1 || json_integer_value(jmax) > READ_MAX)
			return bad("'max' must be an integer from 1 to 1024");
		max = (unsigned)json_integer_value(jmax);
	}
	s->last_read = mono_s();
	for (w = 0; w < s->nb_workers && n < max; w++)
		n += rte_ring_sc_dequeue_burst(s->cap->ring[w], (void **)&recs[n], max - n, NULL);
	qsort(recs, n, sizeof(recs[0]), by_tsc);
	hex = malloc(2 * (size_t)s->cap->snaplen + 1);
	pkts = json_array();
	for (i = 0; i < n; i++) {
		if (s->count != 0 && s->delivered >= s->count) {
			s->discarded++;
			continue;
		}
		if (hex != NULL && json_array_append_new(pkts, rec_json(s, recs[i], hex)) == 0)
			s->delivered++;
	}
	free(hex);
	if (n > 0)
		rte_mempool_put_bulk(s->cap->pool, (void **)recs, n);
	if (s->count != 0 && s->delivered >= s->count)
		end(s, "count reached");
	totals(s, &matched, &dropped);
	return psw_api_ok(json_pack("{s:o, s:I, s:I, s:I, s:b, s:s?}", "packets", pkts,
		"matched", (json_int_t)matched, "dropped", (json_int_t)dropped,
		"delivered", (json_int_t)s->delivered,
		"done", !s->live && n == 0, "reason", s->reason));
}

json_t *
psw_capture_op_stop(struct psw_state *st, json_t *args)
{
	json_t *err = NULL, *res;
	struct session *s = find(args, &err);
	uint64_t matched, dropped;

	(void)st;
	if (s == NULL)
		return err;
	totals(s, &matched, &dropped);
	res = json_pack("{s:i, s:I, s:I, s:I}", "id", s->id, "matched", (json_int_t)matched,
			"dropped", (json_int_t)dropped, "delivered", (json_int_t)s->delivered);
	close_session(s);
	return psw_api_ok(res);
}

json_t *
psw_capture_json(void)
{
	json_t *a = json_array();
	uint64_t matched, dropped;
	unsigned i;

	for (i = 0; i < PSW_CAP_MAX; i++) {
		struct session *s = &sessions[i];

		if (s->id == 0)
			continue;
		totals(s, &matched, &dropped);
		json_array_append_new(a, json_pack("{s:i, s:s, s:s, s:b, s:I, s:I, s:I}", "id", s->id,
			"port", s->port_name, "filter", s->cap->filter.expr, "live", s->live,
			"matched", (json_int_t)matched, "dropped", (json_int_t)dropped,
			"delivered", (json_int_t)s->delivered));
	}
	return a;
}

void
psw_capture_tick(void)
{
	uint64_t now = mono_s();
	unsigned i;

	for (i = 0; i < PSW_CAP_MAX; i++)
		if (sessions[i].id != 0 && now - sessions[i].last_read > PSW_CAP_IDLE_S)
			close_session(&sessions[i]);
}

void
psw_capture_port_gone(uint16_t port)
{
	unsigned i;

	for (i = 0; i < PSW_CAP_MAX; i++)
		if (sessions[i].id != 0 && sessions[i].live && sessions[i].cap->port == port)
			end(&sessions[i], "port removed");
}

void
psw_capture_fini(void)
{
	unsigned i;

	for (i = 0; i < PSW_CAP_MAX; i++)
		if (sessions[i].id != 0)
			close_session(&sessions[i]);
}
