/*
 * One change to the desired state, whatever its source (API apply and
 * delete, CNI attach and detach, a configuration reload; later a watcher).
 * The source validates its input and stores it in the control state, then
 * says in a struct psw_change what it touched and how to put the store
 * back; psw_pipeline_commit() (psw_pipeline.h) does the rest. Knows no
 * compiler and no store. Control thread only.
 */
#ifndef PSW_CHANGE_H
#define PSW_CHANGE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

struct psw_state;

/** What one change touches and how to undo its store; see psw_change_init(). */
struct psw_change {
	/* NetworkPolicy: the policies changed (old and new versions), the Pods
	 * changed (old and new), or, when both are NULL, every local pod */
	bool policy, pol_all;
	json_t *pol_changed, *pol_pods;
	/* Services: ["ns/name", "ns/ *"], or NULL for every Service */
	bool services;
	json_t *svc_scope;
	/* the forwarding snapshot (pods, ports, routes) */
	bool forward;
	const bool *removed;      /**< ports it must not list; NULL: the ones nothing wants */
	bool rebuild_routes;
	/* a pod goes away: publication in reverse, policy after a grace period */
	bool withdraw;
	/* a pod comes (or goes, withdraw): undone, it goes (comes), published so */
	bool pod_moves;
	int port_gone;            /**< port to destroy after the grace period, or -1 */
	/* puts the store back as it was before the change (may be NULL) */
	void (*undo)(struct psw_state *st, struct psw_change *ch);
	json_t *undo_objects;     /**< for the Kubernetes store: key -> old object or null */
	void *undo_arg;
};

/** An empty change (touches nothing). */
void psw_change_init(struct psw_change *ch);

/** Release what a change holds (scopes, undo records). */
void psw_change_fini(struct psw_change *ch);

/**
 * A Kubernetes object goes from old to now (either may be NULL): add what
 * it touches to the change. Services: its own, an EndpointSlice's, every
 * Service of a Pod's namespace. NetworkPolicy (only when the object really
 * changed): the policy, the Pod, or every pod for a Namespace. A Node that
 * really changed: the forwarding snapshot with its routes rebuilt
 * (forward, rebuild_routes), nothing else.
 */
void psw_change_touch(struct psw_change *ch, json_t *old, json_t *now);

#endif /* PSW_CHANGE_H */
