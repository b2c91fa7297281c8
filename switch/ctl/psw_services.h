/*
 * Services and EndpointSlices compiled into the service stage's table
 * (psw_services.c, control thread).
 */
#ifndef PSW_SERVICES_H
#define PSW_SERVICES_H

#include <stddef.h>

#include <jansson.h>

struct psw_state;

/** Services compiled aside (opaque). */
struct psw_svc_plan;

/**
 * Compile the Services of scope (["ns/name", "ns/ *" ...], or NULL for all)
 * from the stored objects and the attached pods, without publishing: every
 * entry that changes is built aside. On a conflict (two Services, one
 * address and port) or out of memory, nothing is kept.
 * @return 0 with *plan set (NULL when there is no Service table), or a
 *         negative errno with err filled.
 */
int psw_services_plan(struct psw_state *st, json_t *scope, struct psw_svc_plan **plan,
		      char *err, size_t err_len);

/**
 * Publish a plan: new and changed entries replace the old ones in place
 * (workers see each entry's new version at once), entries a Service lost
 * go, and UDP connections to backends that went away are forgotten.
 * @return 0, or -ENOSPC when the table is full (the entries that fit are in).
 */
int psw_services_plan_publish(struct psw_state *st, struct psw_svc_plan *plan, char *err, size_t err_len);

/** Free a plan (published or not). */
void psw_services_plan_free(struct psw_svc_plan *plan);

/** Forget every compiled Service (at exit). */
void psw_services_clear(struct psw_state *st);

/**
 * Each Service's counters (psw_stage.h, struct psw_svc_counts) summed over
 * the workers since it got its slot: [{namespace, name, connections,
 * rejected, no_local, source_range, packets_to_backends,
 * bytes_to_backends, packets_from_backends, bytes_from_backends}]. A
 * Service holds its slot from its first table entry to its last; the slot
 * is free again once its connections are gone (a grace period, then an
 * expiry pass that finds none), and a new owner starts from zero.
 */
json_t *psw_services_counters_json(const struct psw_state *st);
#endif /* PSW_SERVICES_H */
