/*
 * The policy audit log's pure parts (psw_audit_log.c): one verdict as a
 * JSON line, the per-pod token bucket, and the file with size-based
 * rotation. No DPDK, no control state: unit-tested alone
 * (tests/unit/test_audit.c). psw_audit.c drains the workers' records and
 * uses these. Not thread-safe: the control thread's.
 */
#ifndef PSW_AUDIT_LOG_H
#define PSW_AUDIT_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** One verdict, named: what a line says (docs/observability.md, audit log). */
struct psw_audit_line {
	int64_t time_ms;                 /**< CLOCK_REALTIME, milliseconds */
	bool allowed;                    /**< verdict: allow or deny */
	bool egress;                     /**< direction: the source pod's egress, or the destination's ingress */
	bool established;                /**< an established connection judged again after a change */
	unsigned proto;                  /**< IPPROTO_* */
	const char *src_ip, *dst_ip;
	unsigned sport, dport;           /**< host order; 0 = no ports (not written) */
	const char *src_ns, *src_pod;    /**< NULL when the address is no known pod */
	const char *dst_ns, *dst_pod;
	const char *policy;              /**< allow: "ns/name" of the policy whose rule allowed */
	int rule;                        /**< allow: index in its ingress / egress list */
	const char *const *policies;     /**< deny: "ns/name" of the policies isolating the pod */
	unsigned nb_policies;
};

/**
 * The line, with its newline, NUL-terminated (free()). RFC 3339 UTC time
 * with milliseconds. Strings are JSON-escaped by jansson; a string that is
 * not valid UTF-8 is written as its bytes' \u escapes (never dropped).
 * @return NULL when out of memory.
 */
char *psw_audit_format(const struct psw_audit_line *l, size_t *len);

/** "2026-12-07T00:45:12.345Z" into buf (at least 25 bytes). */
void psw_audit_time(int64_t time_ms, char *buf, size_t len);

/** A token bucket (lines of one pod). Zeroed = full at its first use. */
struct psw_audit_bucket {
	uint64_t last_ms;                /**< of the last refill */
	uint32_t tokens;
	bool used;
};

/**
 * Take a line's token at now_ms (monotonic; a time before the last refill
 * refills nothing). rate tokens a second, at most burst.
 */
bool psw_audit_bucket_take(struct psw_audit_bucket *b, uint64_t now_ms, unsigned rate, unsigned burst);

/** The log file: appended, rotated by size. fd < 0 = closed. */
struct psw_audit_file {
	int fd;
	uint64_t size;                   /**< bytes in the current file */
	uint64_t max_bytes;
	unsigned files;                  /**< rotated files kept */
	char path[256];
};

/**
 * Open path for appending (created 0640 when absent). Refused, with err
 * naming the file and why: a symbolic link (not followed), a directory or
 * anything but a regular file, a missing directory, no permission.
 * @return 0, or -errno (f->fd stays -1).
 */
int psw_audit_file_open(struct psw_audit_file *f, const char *path, uint64_t max_bytes, unsigned files,
			char *err, size_t err_len);

/**
 * Append one line; first rotate (path -> path.1 -> ... -> path.N, the
 * oldest dropped) when it would take the file past max_bytes. *rotated
 * is set when it did. A line is written whole or not at all (a short
 * write is cut back).
 * @return 0 or -errno (the line is lost; the file stays usable when it can).
 */
int psw_audit_file_write(struct psw_audit_file *f, const char *line, size_t len, bool *rotated);

/**
 * Is f open on what path names now (same file, not moved away or replaced,
 * e.g. by an outside logrotate)?
 */
bool psw_audit_file_is(const struct psw_audit_file *f, const char *path);

/** Close (fd < 0 accepted). */
void psw_audit_file_close(struct psw_audit_file *f);

#endif /* PSW_AUDIT_LOG_H */
