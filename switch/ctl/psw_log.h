/*
 * The daemon's log: one call for every message, with a level and a
 * subsystem (config/psw_config.h lists both), written as
 * "podswitch: MESSAGE" (info and debug on stdout, warnings and errors on
 * stderr, as before this module) or, with log.format = "json", as one JSON
 * object a line on stderr: {"time", "level", "subsystem", "msg"}.
 *
 * Every call site is rate-limited on its own: at most log.rate lines in
 * 10 seconds (default 20), the rest counted and announced with the site's
 * next line ("N similar messages suppressed"). A message below its
 * subsystem's level costs a comparison. DPDK's own log (rte_log) goes
 * through it as subsystem "dpdk". Any thread may log (vhost-user
 * callbacks do); workers do not.
 */
#ifndef PSW_LOG_H
#define PSW_LOG_H

#include <stdint.h>

#include "psw_config.h"

/* One call site's rate limit (PSW_LOG keeps one per call). */
struct psw_log_site {
	uint64_t window;                 /**< start of its 10-second window (monotonic s + 1; 0: none) */
	uint32_t lines;                  /**< written in it */
	uint32_t suppressed;             /**< not written since the last line */
};

/** Take the levels, format and rate of cfg (start, reload). */
void psw_log_configure(const struct psw_config *cfg);

/** Route DPDK's log through psw_log (after rte_eal_init). */
void psw_log_take_dpdk(void);

/** Would a message of level for sub be written? */
int psw_log_enabled(enum psw_log_level level, enum psw_log_subsys sub);

void psw_log_at(struct psw_log_site *site, enum psw_log_level level, enum psw_log_subsys sub,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/** Lines written by level, and suppressed by the rate limit (for /metrics). */
void psw_log_counts(uint64_t written[PSW_LOG_LEVEL_COUNT], uint64_t *suppressed);

#define PSW_LOG(level, sub, ...)                                                   \
	do {                                                                       \
		static struct psw_log_site psw_log_site_;                          \
		if (psw_log_enabled(PSW_LOG_##level, PSW_LOGS_##sub))              \
			psw_log_at(&psw_log_site_, PSW_LOG_##level, PSW_LOGS_##sub, __VA_ARGS__); \
	} while (0)

#endif /* PSW_LOG_H */
