/* The daemon's log (psw_log.h). */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <rte_log.h>

#include "psw_log.h"

#define WINDOW_S 10

static const char *const level_names[] = {
#define _(sym, name) name,
	PSW_LOG_LEVELS(_)
#undef _
};
static const char *const sub_names[] = {
#define _(sym, name) name,
	PSW_LOG_SUBSYSTEMS(_)
#undef _
};

static struct {
	pthread_mutex_t lock;
	uint8_t level[PSW_LOGS_COUNT];
	unsigned rate;
	int json;
	uint64_t written[PSW_LOG_LEVEL_COUNT];
	uint64_t suppressed;
} lg = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.level = { [0 ... PSW_LOGS_COUNT - 1] = PSW_LOG_INFO },
	.rate = 20,
};

void
psw_log_configure(const struct psw_config *cfg)
{
	unsigned i;

	pthread_mutex_lock(&lg.lock);
	for (i = 0; i < PSW_LOGS_COUNT; i++)
		lg.level[i] = cfg->log.subsystem[i] < PSW_LOG_LEVEL_COUNT ? cfg->log.subsystem[i] : cfg->log.level;
	lg.rate = cfg->log.rate;
	lg.json = cfg->log.json;
	pthread_mutex_unlock(&lg.lock);
}

int
psw_log_enabled(enum psw_log_level level, enum psw_log_subsys sub)
{
	return (unsigned)level <= __atomic_load_n(&lg.level[sub], __ATOMIC_RELAXED);
}

static void
emit(enum psw_log_level level, enum psw_log_subsys sub, const char *msg)
{
	FILE *out = level <= PSW_LOG_WARN || lg.json ? stderr : stdout;
	struct timespec ts;
	struct tm tm;
	char when[40];
	json_t *o;
	char *line;

	lg.written[level]++;
	if (!lg.json) {
		fprintf(out, "podswitch: %s\n", msg);
		fflush(out);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(when + strlen(when), sizeof(when) - strlen(when), ".%03ldZ", ts.tv_nsec / 1000000);
	o = json_pack("{s:s, s:s, s:s, s:s}", "time", when, "level", level_names[level],
		      "subsystem", sub_names[sub], "msg", msg);
	line = o != NULL ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII) : NULL;
	if (line != NULL) {
		fprintf(out, "%s\n", line);
		fflush(out);
	}
	free(line);
	json_decref(o);
}

void
psw_log_at(struct psw_log_site *site, enum psw_log_level level, enum psw_log_subsys sub,
	   const char *fmt, ...)
{
	struct timespec now;
	char msg[1024], note[96];
	uint64_t window;
	va_list ap;

	clock_gettime(CLOCK_MONOTONIC, &now);
	window = (uint64_t)now.tv_sec + 1;       /* 0: the site never wrote */
	pthread_mutex_lock(&lg.lock);
	if (site->window == 0 || window - site->window >= WINDOW_S) {
		site->window = window;           /* a window opens with the first line after the last */
		site->lines = 0;
	}
	if (lg.rate > 0 && site->lines >= lg.rate) {
		site->suppressed++;
		lg.suppressed++;
		pthread_mutex_unlock(&lg.lock);
		return;
	}
	site->lines++;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (site->suppressed > 0) {
		snprintf(note, sizeof(note), " (%u similar messages suppressed before this one)", site->suppressed);
		if (strlen(msg) + strlen(note) < sizeof(msg))
			strcat(msg, note);
		site->suppressed = 0;
	}
	emit(level, sub, msg);
	pthread_mutex_unlock(&lg.lock);
}

void
psw_log_counts(uint64_t written[PSW_LOG_LEVEL_COUNT], uint64_t *suppressed)
{
	pthread_mutex_lock(&lg.lock);
	memcpy(written, lg.written, sizeof(lg.written));
	*suppressed = lg.suppressed;
	pthread_mutex_unlock(&lg.lock);
}

/*
 * DPDK's log: a stream whose writes become lines of subsystem dpdk, at the
 * level rte_log gave the message. Lines are cut at '\n'; a message written
 * in pieces is gathered first.
 */
static pthread_mutex_t dpdk_lock = PTHREAD_MUTEX_INITIALIZER;
static char dpdk_buf[1024];
static size_t dpdk_len;
static struct psw_log_site dpdk_site;

static enum psw_log_level
dpdk_level(void)
{
	int l = rte_log_cur_msg_loglevel();

	return l <= (int)RTE_LOG_ERR ? PSW_LOG_ERR : l == (int)RTE_LOG_WARNING ? PSW_LOG_WARN
	       : l <= (int)RTE_LOG_INFO ? PSW_LOG_INFO : PSW_LOG_DEBUG;
}

static ssize_t
dpdk_write(void *cookie, const char *buf, size_t size)
{
	size_t i;

	(void)cookie;
	pthread_mutex_lock(&dpdk_lock);
	for (i = 0; i < size; i++) {
		if (buf[i] != '\n' && dpdk_len < sizeof(dpdk_buf) - 1) {
			dpdk_buf[dpdk_len++] = buf[i];
			continue;
		}
		dpdk_buf[dpdk_len] = '\0';
		if (dpdk_len > 0 && psw_log_enabled(dpdk_level(), PSW_LOGS_DPDK))
			psw_log_at(&dpdk_site, dpdk_level(), PSW_LOGS_DPDK, "%s", dpdk_buf);
		dpdk_len = 0;
	}
	pthread_mutex_unlock(&dpdk_lock);
	return (ssize_t)size;
}

void
psw_log_take_dpdk(void)
{
	static cookie_io_functions_t io = { .write = dpdk_write };
	FILE *f = fopencookie(NULL, "w", io);

	if (f == NULL)
		return;
	setvbuf(f, NULL, _IONBF, 0);
	if (rte_openlog_stream(f) != 0)
		fclose(f);
}
