/*
 * What the policies do, for people (psw_netpol_report.c, control thread):
 * `get networkpolicies` rows and `explain`.
 */
#ifndef PSW_NETPOL_REPORT_H
#define PSW_NETPOL_REPORT_H

#include <jansson.h>

struct psw_state;

/**
 * The per-policy counters and selected pods of the policies of kind
 * ("NetworkPolicy" or "MultiNetworkPolicy"), for `get`. New reference.
 */
json_t *psw_netpol_rows(const struct psw_state *st, const char *kind, const char *ns, const char *name);

struct psw_pol_counts;

/**
 * Every policy of kind held, with its counters: fn(arg, namespace, name,
 * counts) for each (the selected pods are not computed: cheap enough for
 * a metrics scrape with 10,000 policies).
 */
void psw_netpol_each_count(const struct psw_state *st, const char *kind,
			   void (*fn)(void *arg, const char *ns, const char *name, const struct psw_pol_counts *c),
			   void *arg);

/** API "explain": {from, to, proto, port}. New reference (an API answer). */
json_t *psw_netpol_explain(struct psw_state *st, json_t *args);
#endif /* PSW_NETPOL_REPORT_H */
