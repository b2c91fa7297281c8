/*
 * The daemon's log (switch/ctl/psw_log.c) without EAL: what reaches the
 * lines of odd messages (bytes that are not UTF-8, messages longer than a
 * line), the rate limit's note, and DPDK's lines through its stream.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <jansson.h>
#include <rte_log.h>

#include "psw_log.h"

static FILE *captured;
static int saved_stderr = -1;

static void
configure(bool json, unsigned rate)
{
	struct psw_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.log.level = PSW_LOG_DEBUG;
	memset(cfg.log.subsystem, PSW_LOG_LEVEL_COUNT, sizeof(cfg.log.subsystem));
	cfg.log.json = json;
	cfg.log.rate = rate;
	psw_log_configure(&cfg);
}

/* stderr (the JSON lines, warnings and errors) into a file until taken */
static void
capture(void)
{
	fflush(stderr);
	captured = tmpfile();
	saved_stderr = dup(STDERR_FILENO);
	dup2(fileno(captured), STDERR_FILENO);
}

/* What was written since capture(); malloc'd. */
static char *
taken(void)
{
	long len;
	char *s;

	fflush(stderr);
	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	len = ftell(captured);
	s = calloc(1, (size_t)len + 1);
	rewind(captured);
	if (s != NULL && fread(s, 1, (size_t)len, captured) != (size_t)len)
		s[0] = '\0';
	fclose(captured);
	return s;
}

/* A line that jansson cannot encode (not UTF-8) is written all the same. */
static void
test_json_not_utf8(void)
{
	struct psw_log_site site = { 0 };
	json_t *o;
	char *out;

	configure(true, 0);
	capture();
	psw_log_at(&site, PSW_LOG_ERR, PSW_LOGS_CONFIG, "config line 3 (caf\xc3\xa9): log.level '%s': "
		   "error, warning, info or debug", "\xff\xfe\xc3");
	out = taken();
	o = json_loads(out, 0, NULL);
	free(out);
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	CU_ASSERT_PTR_NOT_NULL(strstr(json_string_value(json_object_get(o, "msg")),
				      "config line 3 (caf\xc3\xa9): log.level '?" "?" "?'"));
	json_decref(o);
}

/* A message cut at the line's size in the middle of a character. */
static void
test_json_cut_in_a_character(void)
{
	struct psw_log_site site = { 0 };
	char big[1100];
	json_t *o;
	char *out;

	memset(big, 'a', sizeof(big));
	memcpy(big + 1022, "\xc3\xa9", 2);           /* the cut at 1023 bytes falls inside it */
	big[sizeof(big) - 1] = '\0';
	configure(true, 0);
	capture();
	psw_log_at(&site, PSW_LOG_WARN, PSW_LOGS_API, "%s", big);
	out = taken();
	o = json_loads(out, 0, NULL);
	free(out);
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	CU_ASSERT_EQUAL(strncmp(json_string_value(json_object_get(o, "msg")), "aaaa", 4), 0);
	json_decref(o);
}

/* A value with a newline (a pod's name from cni.add) makes one text line, not two. */
static void
test_text_one_line(void)
{
	struct psw_log_site site = { 0 };
	char *out;

	configure(false, 0);
	capture();
	psw_log_at(&site, PSW_LOG_WARN, PSW_LOGS_STATE, "pod %s/%s not re-attached", "default",
		   "web\npodswitch: API on /tmp/other.sock\r");
	out = taken();
	CU_ASSERT_STRING_EQUAL(out, "podswitch: pod default/web?podswitch: API on /tmp/other.sock? not re-attached\n");
	free(out);
}

/* The note on messages held back comes with the site's next line, however long. */
static void
test_suppressed_note_on_a_long_line(void)
{
	struct psw_log_site site = { 0 };
	char big[1500], *out;
	unsigned i;

	memset(big, 'x', sizeof(big));
	big[sizeof(big) - 1] = '\0';
	configure(false, 1);
	capture();
	for (i = 0; i < 3; i++)
		psw_log_at(&site, PSW_LOG_WARN, PSW_LOGS_STATE, "cannot open %s", big);
	CU_ASSERT_EQUAL(site.suppressed, 2);
	site.window = 1;                          /* its window is over */
	psw_log_at(&site, PSW_LOG_WARN, PSW_LOGS_STATE, "cannot open %s", big);
	out = taken();
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "(2 similar messages suppressed before this one)\n"));
	CU_ASSERT_EQUAL(site.suppressed, 0);
	free(out);
}

/* DPDK's line longer than the stream's buffer: cut in two lines, no byte lost. */
static void
test_dpdk_long_line(void)
{
	char big[1500], *out, *joined, *line, *save;
	size_t i;

	for (i = 0; i < sizeof(big) - 1; i++)
		big[i] = (char)('a' + i % 26);
	big[sizeof(big) - 1] = '\0';
	configure(false, 0);
	psw_log_take_dpdk();
	capture();
	rte_log(RTE_LOG_ERR, RTE_LOGTYPE_USER3, "%s\n", big);
	out = taken();
	joined = calloc(1, strlen(out) + 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(joined);
	for (line = strtok_r(out, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		CU_ASSERT_EQUAL(strncmp(line, "podswitch: ", 11), 0);
		strcat(joined, line + 11);
	}
	CU_ASSERT_STRING_EQUAL(joined, big);
	free(joined);
	free(out);
}

/* A flood of one kind of DPDK line (vhost-user connections) does not hold back DPDK's others. */
static void
test_dpdk_flood_of_one_kind(void)
{
	unsigned i;
	char *out;

	configure(false, 2);
	psw_log_take_dpdk();
	capture();
	for (i = 0; i < 10; i++)
		rte_log(RTE_LOG_ERR, RTE_LOGTYPE_USER1, "VHOST_CONFIG: (/run/pod%u.sock) vhost peer closed\n", i);
	rte_log(RTE_LOG_ERR, RTE_LOGTYPE_EAL, "EAL: cannot allocate memzone\n");
	out = taken();
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "podswitch: VHOST_CONFIG: (/run/pod1.sock)"));
	CU_ASSERT_PTR_NULL(strstr(out, "podswitch: VHOST_CONFIG: (/run/pod2.sock)"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "podswitch: EAL: cannot allocate memzone\n"));
	free(out);
}

int main(void)
{
	static const struct {
		const char *name;
		CU_TestFunc fn;
	} cases[] = {
		{ "JSON: a message not in UTF-8", test_json_not_utf8 },
		{ "JSON: a long message cut inside a character", test_json_cut_in_a_character },
		{ "text: a message with a newline", test_text_one_line },
		{ "the suppressed note on a long line", test_suppressed_note_on_a_long_line },
		{ "DPDK: a line longer than the buffer", test_dpdk_long_line },
		{ "DPDK: a flood of one kind", test_dpdk_flood_of_one_kind },
	};
	CU_pSuite suite;
	unsigned nb_failures;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	suite = CU_add_suite("log", NULL, NULL);
	for (size_t i = 0; suite != NULL && i < sizeof(cases) / sizeof(cases[0]); i++)
		if (CU_add_test(suite, cases[i].name, cases[i].fn) == NULL)
			suite = NULL;
	if (suite == NULL) {
		CU_cleanup_registry();
		return 2;
	}
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	nb_failures = CU_get_number_of_failures() + CU_get_number_of_suites_failed();
	CU_cleanup_registry();
	return nb_failures == 0 ? 0 : 1;
}
