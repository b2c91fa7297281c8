/*
 * The policy audit log, control side (psw_audit.c): which pods are
 * audited (the audit group of the configuration and the namespaces'
 * podswitch.io/policy-audit annotation), draining the workers' audit rings
 * (records put there by the policy stage, psw_policy.h), naming pods and
 * policies, limiting lines per pod, and writing them (psw_audit_log.h).
 * Counters for stats and /metrics. Control thread only.
 */
#ifndef PSW_AUDIT_H
#define PSW_AUDIT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "psw_audit_log.h"

struct psw_state;
struct psw_config;

/** The Namespace annotation that opts a namespace in ("deny", "all") or out ("off"). */
#define PSW_AUDIT_ANNOTATION "podswitch.io/policy-audit"

/**
 * What the audit log wants of namespace ns's verdicts under cfg and the
 * stored Namespace objects: PSW_AUDIT_DENY | PSW_AUDIT_ALLOW, or 0 (no
 * audit file, or neither the annotation nor audit.all_namespaces asks).
 */
unsigned psw_audit_ns_flags(const struct psw_state *st, const struct psw_config *cfg, const char *ns);

/**
 * First half of applying cfg's audit group: open the file it names when
 * it is not the one open now (another path, or the same path after the
 * file was moved away: a reload after an outside logrotate reopens it),
 * into *next (fd -1 when nothing to open).
 * Nothing running changes.
 * @return 0, or -errno with err naming the file and what is wrong with it.
 */
int psw_audit_prepare(struct psw_state *st, const struct psw_config *cfg, struct psw_audit_file *next,
		      char *err, size_t err_len);

/**
 * Second half, once cfg is in force: the records waiting are written
 * under the old settings, then the new file (or the same one, or none)
 * and limits take over. Counters carry on.
 */
void psw_audit_commit(struct psw_state *st, struct psw_audit_file *next);

/** The change was refused: close what psw_audit_prepare() opened. */
void psw_audit_abort(struct psw_audit_file *next);

/**
 * Take the workers' audit records (at most a ring's worth per worker and
 * call) and write their lines. Records left when the audit is off are
 * dropped. Called on the control thread's timer and before each change
 * (so a record is named against the objects it was judged by).
 */
void psw_audit_drain(struct psw_state *st);

/** The counters and the file, for stats: { file, lines, suppressed, ring_full, ... }. */
json_t *psw_audit_json(const struct psw_state *st);

/** Drain what is left and close the file (workers stopped). */
void psw_audit_fini(struct psw_state *st);

#endif /* PSW_AUDIT_H */
