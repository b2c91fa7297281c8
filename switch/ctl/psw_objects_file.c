/* The Kubernetes objects on disk (psw_objects_file.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "psw_change.h"
#include "psw_file.h"
#include "psw_k8s.h"
#include "psw_objects_file.h"
#include "psw_pipeline.h"
#include "psw_state.h"
#include "psw_log.h"

/* The order objects are written and applied in: what others refer to first. */
static const char *const kind_order[] = {
	"Namespace/", "Node/", "Pod/", "Service/", "EndpointSlice/", "NetworkPolicy/", "MultiNetworkPolicy/", "",
};

int
psw_objects_save(struct psw_state *st)
{
	json_t *objects = psw_k8s_objects(st), *list, *root, *o;
	const char *key;
	char *text;
	unsigned k;
	int rc;

	if (st->objects_file[0] == '\0')
		return 0;
	list = json_array();
	for (k = 0; k < sizeof(kind_order) / sizeof(kind_order[0]); k++) {
		json_object_foreach(objects, key, o) {
			unsigned m;

			/* the first prefix in the order that the key has */
			for (m = 0; m < sizeof(kind_order) / sizeof(kind_order[0]); m++)
				if (strncmp(key, kind_order[m], strlen(kind_order[m])) == 0)
					break;
			if (m == k)
				json_array_append(list, o);
		}
	}
	root = json_pack("{s:s, s:i, s:o}", "format", PSW_OBJECTS_FORMAT, "version",
			 PSW_OBJECTS_VERSION, "objects", list);
	text = root != NULL ? json_dumps(root, JSON_COMPACT) : NULL;
	rc = text == NULL ? -ENOMEM : psw_file_replace(st->objects_file, text, strlen(text));
	if (rc < 0)
		PSW_LOG(ERR, STATE, "cannot write %s: %s (the objects applied are in force, but "
			"a restart would lose them)", st->objects_file, strerror(-rc));
	json_decref(root);
	free(text);
	return rc;
}

/* The file is not used: moved aside, msg says why. */
static int
refuse(const struct psw_state *st, char *msg, size_t msg_len, const char *why)
{
	char aside[sizeof(st->objects_file) + 16];

	snprintf(aside, sizeof(aside), "%s.refused", st->objects_file);
	if (rename(st->objects_file, aside) < 0)
		snprintf(aside, sizeof(aside), "left in place: %s", strerror(errno));
	snprintf(msg, msg_len, "%s: %s; starting without Kubernetes objects (the file is now %s)",
		 st->objects_file, why, aside);
	return -EINVAL;
}

int
psw_objects_restore(struct psw_state *st, char *msg, size_t msg_len)
{
	json_t *root, *objects, *args, *res;
	const char *format;
	struct psw_change ch;
	char why[PSW_ERR_MAX];
	json_error_t jerr;
	json_int_t version;
	size_t n;
	int rc;

	msg[0] = '\0';
	if (st->objects_file[0] == '\0')
		return 0;
	root = json_load_file(st->objects_file, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		if (json_error_code(&jerr) == json_error_cannot_open_file && errno == ENOENT)
			return 0;
		snprintf(why, sizeof(why), "not readable JSON (line %d: %s)", jerr.line, jerr.text);
		return refuse(st, msg, msg_len, why);
	}
	format = json_string_value(json_object_get(root, "format"));
	version = json_integer_value(json_object_get(root, "version"));
	objects = json_object_get(root, "objects");
	if (format == NULL || strcmp(format, PSW_OBJECTS_FORMAT) != 0 || !json_is_integer(json_object_get(root, "version"))) {
		json_decref(root);
		return refuse(st, msg, msg_len, "not a podswitch objects file (no \"format\": \""
			      PSW_OBJECTS_FORMAT "\" and \"version\")");
	}
	if (version > PSW_OBJECTS_VERSION || version < 1) {
		snprintf(why, sizeof(why), "format version %lld, this podswitch reads version %d%s",
			 (long long)version, PSW_OBJECTS_VERSION,
			 version > PSW_OBJECTS_VERSION ? " (written by a newer podswitch)" : "");
		json_decref(root);
		return refuse(st, msg, msg_len, why);
	}
	if (!json_is_array(objects)) {
		json_decref(root);
		return refuse(st, msg, msg_len, "\"objects\" is not a list");
	}
	n = json_array_size(objects);
	if (n == 0) {
		json_decref(root);
		return 0;
	}
	args = json_pack("{s:O}", "objects", objects);
	json_decref(root);
	psw_change_init(&ch);
	res = psw_k8s_apply(st, args, &ch);
	json_decref(args);
	rc = 0;
	if (!json_is_true(json_object_get(res, "ok"))) {
		snprintf(why, sizeof(why), "an object is refused: %s",
			 json_string_value(json_object_get(json_object_get(res, "error"), "message")) ?: "?");
		rc = -EINVAL;
	} else if (psw_pipeline_commit(st, &ch, why, sizeof(why)) < 0) {
		rc = -EINVAL;
	}
	psw_change_fini(&ch);
	json_decref(res);
	if (rc < 0)
		return refuse(st, msg, msg_len, why);
	snprintf(msg, msg_len, "%zu Kubernetes objects restored from %s", n, st->objects_file);
	return (int)n;
}
