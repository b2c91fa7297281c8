/*
 * podswitchctl trace: arm a trace (API trace.start), print each traced
 * packet's block as its record comes (trace.poll, every 100 ms), and
 * disarm (trace.stop) when they are all in, at the timeout, or on
 * SIGINT / SIGTERM / SIGHUP. A client killed outright leaves the trace
 * armed until its timeout, when the switch disarms it.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "psw_api.h"
#include "psw_trace_cli.h"

#define POLL_MS 100

static volatile sig_atomic_t interrupted;

static void
on_signal(int sig)
{
	interrupted = sig;
}

static int __attribute__((format(printf, 1, 2)))
fail(const char *fmt, ...)
{
	va_list ap;

	fputs("podswitchctl: trace: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

/* One call; the result (owned by *resp) or NULL with the message in err. */
static json_t *
call(const char *sock, const char *op, json_t *args, json_t **resp, char *err, size_t len)
{
	*resp = psw_api_call(sock, op, args, err, len);
	if (*resp == NULL)
		return NULL;
	return psw_api_result(*resp, err, len);
}

static const char *
s_of(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key)) ?: "";
}

static void
print_record(json_t *r, json_int_t count)
{
	json_t *stages = json_object_get(r, "stages"), *s;
	size_t i;

	printf("Packet %" JSON_INTEGER_FORMAT " of %" JSON_INTEGER_FORMAT "%s, received on %s (worker %"
	       JSON_INTEGER_FORMAT ")", json_integer_value(json_object_get(r, "packet")), count,
	       json_is_true(json_object_get(r, "released")) ? " (again)" : "", s_of(r, "in_port"),
	       json_integer_value(json_object_get(r, "worker")));
	if (json_is_real(json_object_get(r, "time_s")))
		printf(", %.3f s after arming", json_real_value(json_object_get(r, "time_s")));
	printf("\n");
	json_array_foreach(stages, i, s) {
		const char *stage = s_of(s, "stage");

		if (strcmp(stage, "rx") == 0) {
			printf("  %-10s %s\n", stage, s_of(s, "headers"));
			if (strstr(s_of(s, "decision"), "released") != NULL)
				printf("  %-10s %s\n", "", s_of(s, "decision"));
			continue;
		}
		printf("  %-10s %s\n", stage, s_of(s, "decision"));
		if (json_object_get(s, "headers_before") != NULL) {
			printf("  %-10s before: %s\n", "", s_of(s, "headers_before"));
			printf("  %-10s after:  %s\n", "", s_of(s, "headers"));
		}
	}
	printf("  %-10s %s\n\n", "verdict", s_of(json_object_get(r, "verdict"), "text"));
	fflush(stdout);
}

static void
usage_trace(FILE *out)
{
	fprintf(out, "usage: podswitchctl trace [--filter EXPR] [-c N] [--port NAME] [--timeout S] [--json]\n");
}

int
psw_cli_trace(const char *sock, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "filter", required_argument, NULL, 'f' },
		{ "count", required_argument, NULL, 'c' },
		{ "port", required_argument, NULL, 'p' },
		{ "timeout", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *filter = NULL, *port = NULL;
	long count = 1;
	double timeout = 10;
	bool as_json = false;
	json_t *args, *resp = NULL, *res, *all = json_array();
	json_int_t id, from = 0, traced = 0, lost = 0;
	struct timespec start, now, nap = { 0, POLL_MS * 1000000L };
	struct sigaction sa = { .sa_handler = on_signal };
	char err[1024], *end;
	bool done = false, expired = false;
	int c, rc = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "f:c:p:t:jh", opts, NULL)) != -1) {
		switch (c) {
		case 'f': filter = optarg; break;
		case 'p': port = optarg; break;
		case 'j': as_json = true; break;
		case 'c':
			errno = 0;
			count = strtol(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0')
				return fail("-c '%s' is not a number (packets to trace, 1 to 64)", optarg);
			break;
		case 't':
			errno = 0;
			timeout = strtod(optarg, &end);
			if (errno != 0 || end == optarg || *end != '\0')
				return fail("--timeout '%s' is not a number of seconds", optarg);
			break;
		case 'h':
			usage_trace(stdout);
			return 0;
		default:
			usage_trace(stderr);
			return 2;
		}
	}
	if (optind < argc)
		return fail("unexpected '%s' (give the filter with --filter '%s')", argv[optind], argv[optind]);
	args = json_pack("{s:I, s:f}", "count", (json_int_t)count, "timeout", timeout);
	if (filter != NULL)
		json_object_set_new(args, "filter", json_string(filter));
	if (port != NULL)
		json_object_set_new(args, "port", json_string(port));
	/* from before the trace is armed: a signal always ends in trace.stop */
	sa.sa_flags = SA_RESTART;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	res = call(sock, "trace.start", args, &resp, err, sizeof(err));
	if (res == NULL) {
		json_decref(resp);
		return fail("%s", err);
	}
	id = json_integer_value(json_object_get(res, "id"));
	json_decref(resp);
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		const char *op;
		json_t *recs, *r;
		size_t i;

		clock_gettime(CLOCK_MONOTONIC, &now);
		/* the last call disarms: all in, timed out, or interrupted */
		if ((double)(now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) / 1e9 >= timeout)
			expired = true;
		op = done || interrupted || expired ? "trace.stop" : "trace.poll";
		res = call(sock, op, json_pack("{s:I, s:I}", "id", id, "from", from), &resp, err, sizeof(err));
		if (res == NULL) {
			json_decref(resp);
			json_decref(all);
			return fail("%s", err);
		}
		recs = json_object_get(res, "records");
		json_array_foreach(recs, i, r) {
			if (as_json)
				json_array_append(all, r);
			else
				print_record(r, count);
		}
		from += (json_int_t)json_array_size(recs);
		traced = json_integer_value(json_object_get(res, "traced"));
		lost = json_integer_value(json_object_get(res, "lost"));
		expired |= json_is_true(json_object_get(res, "expired"));
		done = json_is_true(json_object_get(res, "done")) || !json_is_true(json_object_get(res, "armed"));
		json_decref(resp);
		if (strcmp(op, "trace.stop") == 0)
			break;
		if (!done)
			nanosleep(&nap, NULL);
	}
	if (as_json) {
		json_t *o = json_pack("{s:I, s:I, s:I, s:I, s:b, s:o}", "id", id, "count", (json_int_t)count,
				      "traced", traced, "lost", lost, "complete", traced >= count, "records", all);
		char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

		if (text != NULL)
			puts(text);
		free(text);
		json_decref(o);
	} else {
		json_decref(all);
	}
	if (lost > 0)
		fprintf(stderr, "podswitchctl: trace: %" JSON_INTEGER_FORMAT " records lost (a worker's trace "
			"ring was full)\n", lost);
	if (traced < count) {
		fail("%s: %" JSON_INTEGER_FORMAT " of %ld packets matched %s%s%s%s%s within %g s; the trace is disarmed",
		     interrupted ? "interrupted" : expired ? "timed out" : "stopped", traced, count,
		     filter != NULL ? "the filter '" : "(no filter: any packet)", filter ?: "",
		     filter != NULL ? "'" : "", port != NULL ? " on port " : "", port ?: "", timeout);
		rc = 1;
	}
	return rc;
}
