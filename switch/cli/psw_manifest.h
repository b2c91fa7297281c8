/*
 * Reading Kubernetes manifests: YAML (several documents per file) or JSON,
 * into a JSON array of the documents, with YAML 1.2 core-schema scalars
 * (true/false, null/~, integers, floats; everything else, and anything
 * quoted, a string). Used by podswitchctl; no DPDK.
 */
#ifndef PSW_MANIFEST_H
#define PSW_MANIFEST_H

#include <stddef.h>

#include <jansson.h>

/**
 * Parse text (name is used in messages, e.g. a file name or "-").
 * @return an array of documents (empty documents skipped), or NULL with err
 *         set to "NAME: line L column C: what is wrong".
 */
json_t *psw_manifest_parse(const char *text, size_t len, const char *name, char *err,
			   size_t err_len);

/** Read a file ("-" = standard input) and parse it. */
json_t *psw_manifest_load(const char *path, char *err, size_t err_len);

#endif /* PSW_MANIFEST_H */
