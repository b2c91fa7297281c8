/*
 * libFuzzer target: the startup configuration parser (config/psw_config.c)
 * on arbitrary libconfig text. A refusal must come with a message; an
 * accepted configuration must free cleanly (ASan, LeakSanitizer). Inputs
 * with libconfig's @include directive are skipped.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "psw_config.h"
#include "psw_fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct psw_config cfg;
	char err[512];
	char *text = psw_fuzz_text(data, size);

	if (text == NULL)
		return 0;
	/* @include reads files of this machine (/dev/stdin would hang): not the parser's input */
	if (strstr(text, "@include") != NULL) {
		free(text);
		return 0;
	}
	memset(&cfg, 0, sizeof(cfg));
	err[0] = '\0';
	if (psw_config_parse(text, "fuzz", &cfg, err, sizeof(err)) == 0)
		psw_config_free(&cfg);
	else if (err[0] == '\0')
		abort();                    /* a refusal must say what is wrong */
	free(text);
	return 0;
}
