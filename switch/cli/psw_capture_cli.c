/*
 * podswitchctl capture PORT [-f EXPR | EXPR...] [-c N] [-s SNAPLEN]
 *                      [-Q rx|tx|both] [-G SECONDS] -w FILE|-
 *
 * Opens a capture session on the switch (capture.start), reads what it
 * caught every few milliseconds (capture.read) and writes it as pcapng,
 * flushed after each read so that `-w - | wireshark -k -i -` shows
 * packets as they come. Ends at N packets, after SECONDS, when the port
 * goes, or on SIGINT / SIGTERM / a closed pipe; then stops the session
 * and appends the interface statistics (packets the filter took, those the
 * switch could not keep). A summary goes to stderr, as tcpdump's does.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "psw_api.h"
#include "psw_capture_cli.h"
#include "psw_pcapng.h"

#define READ_BATCH 256
#define POLL_NS (20 * 1000 * 1000)

static volatile sig_atomic_t stopping;

static void
on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static int
fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
fail(const char *fmt, ...)
{
	va_list ap;

	fputs("podswitchctl: capture: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

static uint64_t
now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Call op; the result (in *resp), or NULL with the reason in err. */
static json_t *
call(const char *sock, const char *op, json_t *args, json_t **resp, char *err, size_t errlen)
{
	*resp = psw_api_call(sock, op, args, err, errlen);
	return *resp != NULL ? psw_api_result(*resp, err, errlen) : NULL;
}

static int
unhex(const char *s, uint8_t *out, size_t max, uint32_t *len)
{
	size_t n = strlen(s), i;

	if (n % 2 != 0 || n / 2 > max)
		return -1;
	for (i = 0; i < n / 2; i++) {
		unsigned v;

		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (uint8_t)v;
	}
	*len = (uint32_t)(n / 2);
	return 0;
}

/* Write a read's packets; -1 when the output refused them (a closed pipe). */
static int
write_packets(FILE *out, json_t *pkts, uint64_t *written, uint64_t limit)
{
	static uint8_t data[65536];
	json_t *p;
	size_t i;

	json_array_foreach(pkts, i, p) {
		uint64_t ns = (uint64_t)json_integer_value(json_object_get(p, "sec")) * 1000000000u +
			      (uint64_t)json_integer_value(json_object_get(p, "nsec"));
		const char *hex = json_string_value(json_object_get(p, "data"));
		const char *dir = json_string_value(json_object_get(p, "dir"));
		uint32_t caplen;

		if (limit != 0 && *written >= limit)
			break;
		if (hex == NULL || dir == NULL || unhex(hex, data, sizeof(data), &caplen) < 0)
			continue;                    /* not from this version of the switch */
		if (psw_pcapng_packet(out, 0, ns, strcmp(dir, "rx") == 0, data, caplen,
				      (uint32_t)json_integer_value(json_object_get(p, "len"))) < 0)
			return -1;
		(*written)++;
	}
	return fflush(out) == 0 ? 0 : -1;
}

static void
usage(void)
{
	fprintf(stderr, "usage: podswitchctl capture PORT [-f EXPR | EXPR...] [-c COUNT] [-s SNAPLEN]\n"
			"                    [-Q rx|tx|both] [-G SECONDS] -w FILE|-\n");
}

int
psw_cli_capture(const char *sock, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "filter", required_argument, NULL, 'f' },
		{ "count", required_argument, NULL, 'c' },
		{ "snaplen", required_argument, NULL, 's' },
		{ "direction", required_argument, NULL, 'Q' },
		{ "duration", required_argument, NULL, 'G' },
		{ "write", required_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 },
	};
	const char *port = NULL, *file = NULL, *dir = "both";
	char filter[1024] = "", err[1024], descr[256], *end;
	long long count = 0, snaplen = 0, duration = 0, num;
	uint64_t written = 0, start_ns = now_ns(CLOCK_REALTIME), deadline = 0;
	json_t *resp = NULL, *res, *args, *jid;
	struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESTART };
	FILE *out = NULL;
	int c, rc = 0;

	optind = 0;                              /* glibc: scan afresh, options anywhere */
	while ((c = getopt_long(argc, argv, "f:c:s:Q:G:w:", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			snprintf(filter, sizeof(filter), "%s", optarg);
			break;
		case 'c':
		case 's':
		case 'G':
			errno = 0;
			num = strtoll(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || end == optarg || num < 0) {
				usage();
				return fail("'%s' is not a number >= 0", optarg);
			}
			*(c == 'c' ? &count : c == 's' ? &snaplen : &duration) = num;
			break;
		case 'Q':
			dir = strcmp(optarg, "in") == 0 ? "rx" : strcmp(optarg, "out") == 0 ? "tx" :
			      strcmp(optarg, "inout") == 0 ? "both" : optarg;
			break;
		case 'w':
			file = optarg;
			break;
		default:
			usage();
			return 2;
		}
	}
	/* what is left: the port, then a filter in words, as tcpdump takes it */
	if (optind < argc)
		port = argv[optind++];
	if (optind < argc && filter[0] != '\0') {
		usage();
		return fail("%s", "a filter either with -f or as words, not both");
	}
	for (; optind < argc; optind++) {
		size_t l = strlen(filter);

		snprintf(filter + l, sizeof(filter) - l, "%s%s", l > 0 ? " " : "", argv[optind]);
	}
	if (port == NULL || file == NULL) {
		usage();
		return fail("%s", port == NULL ? "a PORT is required (see 'podswitchctl get ports')"
					       : "-w FILE (or -w - for standard output) is required");
	}

	/* from before the session opens: a signal always ends in capture.stop */
	signal(SIGPIPE, SIG_IGN);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	args = json_pack("{s:s, s:s, s:s, s:I}", "port", port, "filter", filter, "direction", dir,
			 "count", (json_int_t)count);
	if (snaplen > 0)
		json_object_set_new(args, "snaplen", json_integer(snaplen));
	res = call(sock, "capture.start", args, &resp, err, sizeof(err));
	if (res == NULL) {
		json_decref(resp);
		fprintf(stderr, "podswitchctl: %s\n", err);
		return 1;
	}
	jid = json_incref(json_object_get(res, "id"));
	out = strcmp(file, "-") == 0 ? stdout : fopen(file, "wb");
	if (out == NULL) {
		rc = fail("cannot write '%s'", file);
		goto stop;
	}
	snprintf(descr, sizeof(descr), "podswitch %s port, MAC %s", json_string_value(json_object_get(res, "kind")),
		 json_string_value(json_object_get(res, "mac")));
	if (psw_pcapng_section(out, "podswitchctl capture") < 0 ||
	    psw_pcapng_interface(out, port, descr, (uint32_t)json_integer_value(json_object_get(res, "snaplen"))) < 0 ||
	    fflush(out) != 0) {
		rc = fail("cannot write '%s'", file);
		goto stop;
	}
	json_decref(resp);
	resp = NULL;
	fprintf(stderr, "podswitchctl: capturing on %s%s%s, %s\n", port, filter[0] ? ", filter " : "", filter,
		dir);

	start_ns = now_ns(CLOCK_REALTIME);
	if (duration > 0)
		deadline = now_ns(CLOCK_MONOTONIC) + (uint64_t)duration * 1000000000u;
	while (!stopping) {
		struct timespec pause = { 0, POLL_NS };
		json_t *pkts;

		res = call(sock, "capture.read", json_pack("{s:O, s:i}", "id", jid, "max", READ_BATCH),
			   &resp, err, sizeof(err));
		if (res == NULL) {
			fprintf(stderr, "podswitchctl: %s\n", err);
			rc = 1;
			break;
		}
		pkts = json_object_get(res, "packets");
		if (write_packets(out, pkts, &written, (uint64_t)count) < 0) {
			if (errno != EPIPE)
				rc = fail("writing: %s", strerror(errno));
			break;
		}
		if (json_is_true(json_object_get(res, "done"))) {
			const char *why = json_string_value(json_object_get(res, "reason"));

			if (why != NULL && strcmp(why, "count reached") != 0)
				fprintf(stderr, "podswitchctl: capture ended: %s\n", why);
			break;
		}
		if ((count > 0 && written >= (uint64_t)count) ||
		    (deadline != 0 && now_ns(CLOCK_MONOTONIC) >= deadline))
			break;
		if (json_array_size(pkts) < READ_BATCH / 4)
			nanosleep(&pause, NULL);
		json_decref(resp);
		resp = NULL;
	}
	json_decref(resp);
	resp = NULL;
stop:
	res = call(sock, "capture.stop", json_pack("{s:O}", "id", jid), &resp, err, sizeof(err));
	if (res != NULL && out != NULL) {
		uint64_t matched = (uint64_t)json_integer_value(json_object_get(res, "matched"));
		uint64_t dropped = (uint64_t)json_integer_value(json_object_get(res, "dropped"));

		psw_pcapng_stats(out, 0, start_ns, now_ns(CLOCK_REALTIME), matched, dropped, written);
		fprintf(stderr, "%llu packets captured\n%llu packets matched the filter\n"
			"%llu packets dropped by the switch's capture (its ring full)\n",
			(unsigned long long)written, (unsigned long long)matched, (unsigned long long)dropped);
	} else if (res == NULL && rc == 0) {
		fprintf(stderr, "podswitchctl: %s\n", err);
		rc = 1;
	}
	if (out != NULL && out != stdout && fclose(out) != 0 && rc == 0)
		rc = fail("writing '%s' failed", file);
	json_decref(resp);
	json_decref(jid);
	return rc;
}
