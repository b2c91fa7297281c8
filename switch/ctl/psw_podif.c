/* The interface kind a pod asks for in its annotation (psw_podif.h). */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "psw_podif.h"

/* More entries than a pod has interfaces: each ADD checks every name
 * against those before it, and a 256 KB annotation (thousands of entries)
 * held the control thread for most of a second per ADD. */
#define PODIF_MAX 64

static const char *
known_kind(const char *s)
{
	static const char *const kinds[] = { "kernel", "vhost-user", "memif" };
	unsigned i;

	for (i = 0; s != NULL && i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(s, kinds[i]) == 0)
			return kinds[i];
	return NULL;
}

int
psw_podif_from_pod(const json_t *pod, const char *ifname, const char **kind, char *msg, size_t len)
{
	json_t *ann = json_object_get(json_object_get(json_object_get(pod, "metadata"), "annotations"),
				      PSW_PODIF_ANNOTATION);
	json_t *list, *e, *v;
	json_error_t je;
	const char *key;
	size_t i, j;
	int rc = -1;

	*kind = NULL;
	if (ann == NULL)
		return 0;
	if (!json_is_string(ann)) {
		snprintf(msg, len, "annotation %s is not a string", PSW_PODIF_ANNOTATION);
		return -1;
	}
	list = json_loads(json_string_value(ann), JSON_REJECT_DUPLICATES, &je);
	if (!json_is_array(list)) {
		if (list == NULL)
			snprintf(msg, len, "annotation %s is not JSON: %s", PSW_PODIF_ANNOTATION, je.text);
		else
			snprintf(msg, len, "annotation %s is not a JSON array of {\"name\", \"kind\"}",
				 PSW_PODIF_ANNOTATION);
		goto out;
	}
	if (json_array_size(list) > PODIF_MAX) {
		snprintf(msg, len, "annotation %s lists %zu interfaces; podswitch takes at most %d",
			 PSW_PODIF_ANNOTATION, json_array_size(list), PODIF_MAX);
		goto out;
	}
	/* the whole list is checked, not only the entry asked for: a typo in
	 * another interface's entry is reported at the first ADD */
	json_array_foreach(list, i, e) {
		const char *name = json_string_value(json_object_get(e, "name"));

		if (!json_is_object(e) || name == NULL || name[0] == '\0') {
			snprintf(msg, len, "annotation %s, entry %zu: needs a \"name\" (the pod's interface)",
				 PSW_PODIF_ANNOTATION, i);
			goto out;
		}
		json_object_foreach(e, key, v)
			if (strcmp(key, "name") != 0 && strcmp(key, "kind") != 0) {
				snprintf(msg, len, "annotation %s, entry %s: unknown key \"%.32s\" (name, kind)",
					 PSW_PODIF_ANNOTATION, name, key);
				goto out;
			}
		if (known_kind(json_string_value(json_object_get(e, "kind"))) == NULL) {
			snprintf(msg, len, "annotation %s, entry %s: \"kind\" must be kernel, vhost-user or memif",
				 PSW_PODIF_ANNOTATION, name);
			goto out;
		}
		for (j = 0; j < i; j++)
			if (strcmp(json_string_value(json_object_get(json_array_get(list, j), "name")), name) == 0) {
				snprintf(msg, len, "annotation %s: interface %s is listed twice",
					 PSW_PODIF_ANNOTATION, name);
				goto out;
			}
		if (strcmp(name, ifname) == 0)
			*kind = known_kind(json_string_value(json_object_get(e, "kind")));
	}
	rc = *kind != NULL;
out:
	json_decref(list);
	return rc;
}

/* Copy the first n bytes of s into out (len) as a string; false when it does not fit. */
static bool
copy_n(char *out, size_t len, const char *s, size_t n)
{
	if (n >= len)
		return false;
	memcpy(out, s, n);
	out[n] = '\0';
	return true;
}

/* Without the white space either side (Go's strings.TrimSpace, as Multus trims each part). */
static void
trim(const char **p, size_t *n)
{
	while (*n > 0 && isspace((unsigned char)**p))
		(*p)++, (*n)--;
	while (*n > 0 && isspace((unsigned char)(*p)[*n - 1]))
		(*n)--;
}

/*
 * Entry idx (from 1) of the text form "[ns/]name[@ifname], ...": does it
 * stand for ifname? Then its namespace and name are copied out. As
 * Multus' parsePodNetworkObjectName: the namespace, name and interface
 * each trimmed, an empty interface ("name@") the default netN.
 */
static bool
text_entry(const char *p, size_t n, unsigned idx, const char *ifname, char *ns, char *name, size_t len)
{
	const char *slash, *at, *want = NULL;
	size_t wn = 0;
	char dflt[16];

	trim(&p, &n);
	ns[0] = '\0';
	slash = memchr(p, '/', n);
	if (slash != NULL) {
		const char *q = p;
		size_t qn = (size_t)(slash - p);

		trim(&q, &qn);
		if (!copy_n(ns, len, q, qn))
			return false;
		n -= (size_t)(slash + 1 - p);
		p = slash + 1;
	}
	at = memchr(p, '@', n);
	if (at != NULL) {
		want = at + 1;
		wn = (size_t)(p + n - want);
		n = (size_t)(at - p);
		trim(&want, &wn);
	}
	if (wn == 0) {
		snprintf(dflt, sizeof(dflt), "net%u", idx);
		want = dflt;
		wn = strlen(dflt);
	}
	if (wn != strlen(ifname) || strncmp(want, ifname, wn) != 0)
		return false;
	trim(&p, &n);
	return n > 0 && copy_n(name, len, p, n);
}

/*
 * The entry of the network-selection annotation text for ifname, into ns
 * / name. JSON when it has any of '[', '{', '"', as Multus decides; an
 * empty "interface" is the default name, "interfaceRequest" Multus' old
 * spelling of it.
 */
static bool
selected_network(const char *text, const char *ifname, char *ns, char *name, size_t len)
{
	json_t *list, *e;
	size_t i;
	bool found = false;

	if (strpbrk(text, "[{\"") != NULL) {
		if ((list = json_loads(text, JSON_ALLOW_NUL, NULL)) == NULL)
			return false;
		json_array_foreach(list, i, e) {
			const char *n = json_string_value(json_object_get(e, "name"));
			const char *s = json_string_value(json_object_get(e, "namespace")) ?: "";
			const char *want = json_string_value(json_object_get(e, "interface"));
			char dflt[32];

			if (i >= PODIF_MAX || n == NULL)
				break;
			if (want == NULL || want[0] == '\0')
				want = json_string_value(json_object_get(e, "interfaceRequest"));
			snprintf(dflt, sizeof(dflt), "net%zu", i + 1);
			if (strcmp(want != NULL && want[0] != '\0' ? want : dflt, ifname) != 0)
				continue;
			found = copy_n(ns, len, s, strlen(s)) && copy_n(name, len, n, strlen(n));
			break;
		}
		json_decref(list);
		return found;
	}
	for (i = 1; *text != '\0' && i <= PODIF_MAX; i++) {
		const char *end = strchr(text, ',') ?: text + strlen(text);

		if (text_entry(text, (size_t)(end - text), (unsigned)i, ifname, ns, name, len))
			return true;
		text = *end == ',' ? end + 1 : end;
	}
	return false;
}

void
psw_podif_network(const json_t *pod, const char *pod_ns, const char *ifname, const char *cni_net,
		  char *out, size_t len)
{
	const char *text = json_string_value(json_object_get(json_object_get(json_object_get(pod, "metadata"),
							"annotations"), PSW_PODIF_NETWORKS));
	char ns[PSW_PODIF_NET_MAX], name[PSW_PODIF_NET_MAX];

	/* truncated, two NADs would be one: none has so long a "namespace/name" */
	if (text != NULL && selected_network(text, ifname, ns, name, sizeof(ns)) &&
	    (size_t)snprintf(out, len, "%s/%s", ns[0] != '\0' ? ns : pod_ns, name) < len)
		return;
	snprintf(out, len, "%s/%s", pod_ns, cni_net);
}
