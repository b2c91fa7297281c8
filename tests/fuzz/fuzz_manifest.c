/*
 * libFuzzer target: Kubernetes manifests as podswitchctl reads them
 * (switch/cli/psw_manifest.c: YAML with several documents, or JSON), then
 * List flattening and the validation and defaulting the daemon applies
 * (switch/ctl/psw_k8s_validate.c) to every document.
 *
 * Invariants checked besides memory safety: a refusal has a message, and
 * an object the validator accepted (and defaulted) is accepted again.
 */
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#include "psw_fuzz.h"
#include "psw_k8s.h"
#include "psw_k8s_validate.h"
#include "psw_manifest.h"

static void
validate_all(json_t *docs)
{
	json_t *flat = psw_k8s_flatten(docs), *obj;
	size_t i;

	if (flat == NULL)
		return;
	json_array_foreach(flat, i, obj) {
		char *err = psw_k8s_validate(obj);

		if (err == NULL) {
			err = psw_k8s_validate(obj);
			if (err != NULL)
				abort();            /* defaulting produced an invalid object */
		}
		free(err);
	}
	json_decref(flat);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *text = psw_fuzz_copy(data, size);
	char err[512];
	json_t *docs;

	if (text == NULL)
		return 0;
	err[0] = '\0';
	docs = psw_manifest_parse((const char *)text, size, "fuzz", err, sizeof(err));
	if (docs == NULL) {
		if (err[0] == '\0')
			abort();
	} else {
		validate_all(docs);
		json_decref(docs);
	}
	free(text);
	return 0;
}
