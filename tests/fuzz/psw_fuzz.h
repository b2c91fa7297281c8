/*
 * Helpers shared by the libFuzzer targets in tests/fuzz (header only: each
 * target is one executable).
 */
#ifndef PSW_FUZZ_H
#define PSW_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/** The input as a NUL-terminated string (parsers that take C strings). */
static inline char *
psw_fuzz_text(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (s != NULL) {
		memcpy(s, data, size);
		s[size] = '\0';
	}
	return s;
}

/** A copy of the input with nothing after it, so an over-read is an ASan report. */
static inline uint8_t *
psw_fuzz_copy(const uint8_t *data, size_t size)
{
	uint8_t *p = malloc(size ? size : 1);

	if (p != NULL && size > 0)
		memcpy(p, data, size);
	return p;
}

#endif /* PSW_FUZZ_H */
