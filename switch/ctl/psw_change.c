/*
 * What one change touched (psw_change.h): filled by the source that stored
 * it, read by the pipeline (psw_pipeline.c).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "psw_change.h"

void
psw_change_init(struct psw_change *ch)
{
	memset(ch, 0, sizeof(*ch));
	ch->port_gone = -1;
}

void
psw_change_fini(struct psw_change *ch)
{
	json_decref(ch->pol_changed);
	json_decref(ch->pol_pods);
	json_decref(ch->svc_scope);
	json_decref(ch->undo_objects);
	psw_change_init(ch);
}

static void
append(json_t **list, json_t *v)
{
	if (*list == NULL)
		*list = json_array();
	json_array_append_new(*list, v);
}

/* Which Services an object's change can touch: its own, a slice's, a namespace's. */
static void
touch_services(struct psw_change *ch, json_t *obj)
{
	const char *kind = json_string_value(json_object_get(obj, "kind")) ?: "";
	json_t *meta = json_object_get(obj, "metadata");
	const char *ns = json_string_value(json_object_get(meta, "namespace")) ?: "";
	char e[300];

	if (strcmp(kind, "Service") == 0)
		snprintf(e, sizeof(e), "%s/%s", ns, json_string_value(json_object_get(meta, "name")) ?: "");
	else if (strcmp(kind, "EndpointSlice") == 0)
		snprintf(e, sizeof(e), "%s/%s", ns, json_string_value(json_object_get(json_object_get(meta,
			 "labels"), "kubernetes.io/service-name")) ?: "");
	else if (strcmp(kind, "Pod") == 0)
		snprintf(e, sizeof(e), "%s/*", ns);     /* selectors may pick it */
	else
		return;
	ch->services = true;
	append(&ch->svc_scope, json_string(e));
}

/*
 * What a change means for NetworkPolicy: the policies it touches (old and
 * new versions), the Pods it touches (their selectors and peers anywhere
 * may follow: every local pod is recompiled), or every pod when a
 * Namespace changed.
 */
static void
touch_policy(struct psw_change *ch, json_t *obj)
{
	const char *kind = json_string_value(json_object_get(obj, "kind")) ?: "";

	if (strcmp(kind, "NetworkPolicy") == 0 || strcmp(kind, "MultiNetworkPolicy") == 0)
		append(&ch->pol_changed, json_incref(obj));
	else if (strcmp(kind, "Pod") == 0)
		append(&ch->pol_pods, json_incref(obj));
	else if (strcmp(kind, "Namespace") == 0)
		ch->pol_all = true;
	else
		return;
	ch->policy = true;
}

/* A Node: the routes to other nodes' pod CIDRs are rebuilt from the Nodes. */
static void
touch_routes(struct psw_change *ch, json_t *obj)
{
	if (strcmp(json_string_value(json_object_get(obj, "kind")) ?: "", "Node") != 0)
		return;
	ch->forward = true;
	ch->rebuild_routes = true;
}

void
psw_change_touch(struct psw_change *ch, json_t *old, json_t *now)
{
	if (json_is_null(old))
		old = NULL;
	if (json_is_null(now))
		now = NULL;
	if (old != NULL)
		touch_services(ch, old);
	if (now != NULL)
		touch_services(ch, now);
	if (old != NULL && now != NULL && json_equal(old, now))
		return;
	if (old != NULL) {
		touch_policy(ch, old);
		touch_routes(ch, old);
	}
	if (now != NULL) {
		touch_policy(ch, now);
		touch_routes(ch, now);
	}
}
