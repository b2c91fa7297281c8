/* YAML/JSON manifests -> JSON documents, with libyaml's document loader. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "psw_manifest.h"

#define MAX_DEPTH 64

static bool
is_plain(const yaml_node_t *n)
{
	return n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

/* A plain scalar typed by the YAML 1.2 core schema. */
static json_t *
scalar(const yaml_node_t *n)
{
	const char *s = (const char *)n->data.scalar.value;
	size_t len = n->data.scalar.length;
	char *end;

	if (!is_plain(n))
		return json_stringn(s, len);
	if (len == 0 || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
	    strcmp(s, "NULL") == 0)
		return json_null();
	if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 || strcmp(s, "TRUE") == 0)
		return json_true();
	if (strcmp(s, "false") == 0 || strcmp(s, "False") == 0 || strcmp(s, "FALSE") == 0)
		return json_false();
	if ((s[0] >= '0' && s[0] <= '9') || ((s[0] == '-' || s[0] == '+') && len > 1)) {
		long long v;
		double d;

		errno = 0;
		v = strtoll(s, &end, 10);
		if (*end == '\0' && errno == 0)
			return json_integer(v);
		d = strtod(s, &end);
		if (*end == '\0')
			return json_real(d);
	}
	return json_stringn(s, len);
}

static json_t *
convert(yaml_document_t *doc, yaml_node_t *n, int depth, char *err, size_t err_len)
{
	json_t *out;

	if (n == NULL || depth > MAX_DEPTH) {
		snprintf(err, err_len, "nesting deeper than %d levels", MAX_DEPTH);
		return NULL;
	}
	switch (n->type) {
	case YAML_SCALAR_NODE:
		return scalar(n);
	case YAML_SEQUENCE_NODE: {
		yaml_node_item_t *it;

		out = json_array();
		for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
			json_t *v = convert(doc, yaml_document_get_node(doc, *it), depth + 1, err, err_len);

			if (v == NULL)
				goto fail;
			json_array_append_new(out, v);
		}
		return out;
	}
	case YAML_MAPPING_NODE: {
		yaml_node_pair_t *p;

		out = json_object();
		for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
			yaml_node_t *k = yaml_document_get_node(doc, p->key);
			json_t *v;

			if (k == NULL || k->type != YAML_SCALAR_NODE) {
				snprintf(err, err_len, "line %zu: mapping keys must be scalars",
					 n->start_mark.line + 1);
				goto fail;
			}
			if (json_object_get(out, (const char *)k->data.scalar.value) != NULL) {
				snprintf(err, err_len, "line %zu: duplicate key '%s'",
					 k->start_mark.line + 1, (const char *)k->data.scalar.value);
				goto fail;
			}
			v = convert(doc, yaml_document_get_node(doc, p->value), depth + 1, err, err_len);
			if (v == NULL)
				goto fail;
			json_object_set_new(out, (const char *)k->data.scalar.value, v);
		}
		return out;
	}
	default:
		snprintf(err, err_len, "empty node");
		return NULL;
	}
fail:
	json_decref(out);
	return NULL;
}

json_t *
psw_manifest_parse(const char *text, size_t len, const char *name, char *err, size_t err_len)
{
	yaml_parser_t parser;
	json_t *docs = json_array();
	char msg[256];

	if (!yaml_parser_initialize(&parser)) {
		snprintf(err, err_len, "%s: out of memory", name);
		json_decref(docs);
		return NULL;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	for (;;) {
		yaml_document_t doc;
		yaml_node_t *root;
		json_t *j;

		if (!yaml_parser_load(&parser, &doc)) {
			snprintf(err, err_len, "%s: line %zu column %zu: %s", name,
				 parser.problem_mark.line + 1, parser.problem_mark.column + 1,
				 parser.problem ? parser.problem : "cannot parse");
			goto fail;
		}
		root = yaml_document_get_root_node(&doc);
		if (root == NULL) {               /* end of the stream */
			yaml_document_delete(&doc);
			break;
		}
		if (root->type == YAML_SCALAR_NODE && root->data.scalar.length == 0) {
			yaml_document_delete(&doc);  /* an empty document between --- */
			continue;
		}
		msg[0] = '\0';
		j = convert(&doc, root, 0, msg, sizeof(msg));
		if (j == NULL) {
			snprintf(err, err_len, "%s: document %zu: %s", name, json_array_size(docs) + 1, msg);
			yaml_document_delete(&doc);
			goto fail;
		}
		json_array_append_new(docs, j);
		yaml_document_delete(&doc);
	}
	yaml_parser_delete(&parser);
	return docs;
fail:
	yaml_parser_delete(&parser);
	json_decref(docs);
	return NULL;
}

json_t *
psw_manifest_load(const char *path, char *err, size_t err_len)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	size_t cap = 65536, len = 0, n;
	char *buf;
	json_t *docs;

	if (f == NULL) {
		snprintf(err, err_len, "cannot read '%s': %s", path, strerror(errno));
		return NULL;
	}
	buf = malloc(cap);
	while (buf != NULL && (n = fread(buf + len, 1, cap - len, f)) > 0) {
		len += n;
		if (len == cap) {
			char *b = cap > (64u << 20) ? NULL : realloc(buf, cap * 2);

			if (b == NULL) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = b;
			cap *= 2;
		}
	}
	if (f != stdin)
		fclose(f);
	if (buf == NULL) {
		snprintf(err, err_len, "'%s' is too large (over 128 MiB)", path);
		return NULL;
	}
	docs = psw_manifest_parse(buf, len, strcmp(path, "-") == 0 ? "<stdin>" : path, err, err_len);
	free(buf);
	return docs;
}
