/* The policy audit log's pure parts: lines, the per-pod bucket, the file and its rotation. No EAL. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <jansson.h>

#include "psw_audit_log.h"
#include "psw_ut.h"

static char dir[] = "/tmp/psw_audit_XXXXXX";

static json_t *
parse(const char *line, size_t len)
{
	json_error_t e;

	CU_ASSERT_TRUE(len > 0 && line[len - 1] == '\n');
	CU_ASSERT_PTR_NULL(memchr(line, '\n', len - 1));    /* one line */
	return json_loadb(line, len, 0, &e);
}

static void
test_format_deny(void)
{
	const char *pols[] = { "prod/deny-all", "prod/web" };
	struct psw_audit_line l = {
		.time_ms = 1765067112345, .egress = false, .proto = IPPROTO_TCP,
		.src_ip = "10.244.0.2", .dst_ip = "10.244.0.3", .sport = 40000, .dport = 80,
		.src_ns = "dev", .src_pod = "client", .dst_ns = "prod", .dst_pod = "web",
		.policies = pols, .nb_policies = 2, .rule = -1,
	};
	size_t len = 0;
	char *text = psw_audit_format(&l, &len);
	json_t *o;

	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	o = parse(text, len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "time")), "2025-12-07T00:25:12.345Z");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "verdict")), "deny");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "direction")), "ingress");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "protocol")), "tcp");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_object_get(o, "src"), "pod")), "client");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_object_get(o, "src"), "namespace")), "dev");
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_object_get(o, "src"), "port")), 40000);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_object_get(o, "dst"), "port")), 80);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_object_get(o, "dst"), "ip")), "10.244.0.3");
	CU_ASSERT_EQUAL(json_array_size(json_object_get(o, "policies")), 2);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(json_object_get(o, "policies"), 1)), "prod/web");
	CU_ASSERT_PTR_NULL(json_object_get(o, "policy"));
	CU_ASSERT_PTR_NULL(json_object_get(o, "established"));
	json_decref(o);
	free(text);
}

static void
test_format_allow_and_unknowns(void)
{
	struct psw_audit_line l = {
		.time_ms = 999, .allowed = true, .egress = true, .proto = 132, .established = true,
		.src_ip = "fd00::2", .dst_ip = "203.0.113.9", .policy = "prod/egress", .rule = 3,
	};
	size_t len = 0;
	char *text = psw_audit_format(&l, &len);
	json_t *o = parse(text, len), *src;

	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "time")), "1970-01-01T00:00:00.999Z");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "verdict")), "allow");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "direction")), "egress");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "protocol")), "sctp");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "policy")), "prod/egress");
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(o, "rule")), 3);
	CU_ASSERT_TRUE(json_is_true(json_object_get(o, "established")));
	src = json_object_get(o, "src");
	CU_ASSERT_EQUAL(json_object_size(src), 1);          /* no pod, no port: the address only */
	json_decref(o);
	free(text);
	/* an unnamed protocol is its number */
	l.proto = 47;
	text = psw_audit_format(&l, &len);
	o = parse(text, len);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(o, "protocol")), 47);
	json_decref(o);
	free(text);
}

/* Names an attacker chose: quotes, newlines, bad UTF-8 and 4 kB stay one line of valid JSON. */
static void
test_format_hostile_names(void)
{
	char huge[4097], bad[] = "a\xff\xfe\"\n}{b";
	struct psw_audit_line l = {
		.time_ms = 1, .proto = IPPROTO_UDP, .src_ip = "10.0.0.1", .dst_ip = "10.0.0.2",
		.src_ns = bad, .src_pod = huge, .dst_ns = "x", .dst_pod = "y\n\"z",
	};
	const char *pols[] = { bad };
	size_t len = 0;
	char *text;
	json_t *o;

	memset(huge, 'p', sizeof(huge) - 1);
	huge[sizeof(huge) - 1] = '\0';
	l.policies = pols;
	l.nb_policies = 1;
	text = psw_audit_format(&l, &len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	o = parse(text, len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	CU_ASSERT_EQUAL(strlen(json_string_value(json_object_get(json_object_get(o, "src"), "pod"))), 4096);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_object_get(o, "dst"), "pod")), "y\n\"z");
	CU_ASSERT_PTR_NOT_NULL(strstr(json_string_value(json_object_get(json_object_get(o, "src"), "namespace")),
				      "\\xff"));
	json_decref(o);
	free(text);
}

static void
test_bucket(void)
{
	struct psw_audit_bucket b = { 0 };
	unsigned i, ok = 0;

	for (i = 0; i < 2000; i++)                     /* a flood in one instant: the burst */
		ok += psw_audit_bucket_take(&b, 1000, 10, 50);
	CU_ASSERT_EQUAL(ok, 50);
	ok = 0;
	for (i = 0; i < 2000; i++)                     /* 2 s later: 20 more, no more */
		ok += psw_audit_bucket_take(&b, 3000, 10, 50);
	CU_ASSERT_EQUAL(ok, 20);
	/* spread over 10 s at 1 ms: 10 a second */
	ok = 0;
	for (i = 0; i < 10000; i++)
		ok += psw_audit_bucket_take(&b, 3001 + i, 10, 50);
	CU_ASSERT_TRUE(ok >= 99 && ok <= 101);
	/* time going back (records of two workers) refills nothing */
	ok = 0;
	for (i = 0; i < 100; i++)
		ok += psw_audit_bucket_take(&b, 5, 10, 50);
	CU_ASSERT_TRUE(ok <= 1);
	/* a long idle never gives more than the burst */
	ok = 0;
	for (i = 0; i < 1000; i++)
		ok += psw_audit_bucket_take(&b, 100000000, 10, 50);
	CU_ASSERT_EQUAL(ok, 50);
	/* the burst lowered by a reload is obeyed at once */
	b = (struct psw_audit_bucket){ 0 };
	psw_audit_bucket_take(&b, 1, 10, 50);
	ok = 0;
	for (i = 0; i < 100; i++)
		ok += psw_audit_bucket_take(&b, 1, 10, 5);
	CU_ASSERT_EQUAL(ok, 5);
}

static uint64_t
file_size(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 ? (uint64_t)sb.st_size : UINT64_MAX;
}

static void
test_file_rotation(void)
{
	struct psw_audit_file f;
	char path[300], p[320], line[101], err[400];
	unsigned i, rotations = 0;
	bool rotated;

	snprintf(path, sizeof(path), "%s/audit.log", dir);
	CU_ASSERT_EQUAL_FATAL(psw_audit_file_open(&f, path, 1000, 3, err, sizeof(err)), 0);
	memset(line, 'x', 99);
	line[99] = '\n';
	line[100] = '\0';
	for (i = 0; i < 55; i++) {                     /* 5500 bytes: 10 lines a file */
		CU_ASSERT_EQUAL(psw_audit_file_write(&f, line, 100, &rotated), 0);
		rotations += rotated;
	}
	CU_ASSERT_EQUAL(rotations, 5);
	CU_ASSERT_EQUAL(file_size(path), 500);
	for (i = 1; i <= 3; i++) {
		snprintf(p, sizeof(p), "%s.%u", path, i);
		CU_ASSERT_EQUAL(file_size(p), 1000);
	}
	snprintf(p, sizeof(p), "%s.4", path);
	CU_ASSERT_EQUAL(file_size(p), UINT64_MAX);      /* only files = 3 kept */
	/* reopened, the size is known: the next rotation comes at the same place */
	psw_audit_file_close(&f);
	CU_ASSERT_EQUAL_FATAL(psw_audit_file_open(&f, path, 1000, 3, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(f.size, 500);
	CU_ASSERT_TRUE(psw_audit_file_is(&f, path));
	snprintf(p, sizeof(p), "%s.moved", path);
	CU_ASSERT_EQUAL(rename(path, p), 0);               /* an outside logrotate */
	CU_ASSERT_FALSE(psw_audit_file_is(&f, path));
	CU_ASSERT_EQUAL(rename(p, path), 0);
	CU_ASSERT_TRUE(psw_audit_file_is(&f, path));
	/* up to max_bytes exactly, no rotation */
	for (i = 0; i < 5; i++)
		psw_audit_file_write(&f, line, 100, &rotated);
	CU_ASSERT_EQUAL(file_size(path), 1000);
	psw_audit_file_close(&f);
}

static void
test_file_refused(void)
{
	struct psw_audit_file f;
	char path[300], target[300], err[400];

	snprintf(target, sizeof(target), "%s/target", dir);
	snprintf(path, sizeof(path), "%s/link.log", dir);
	CU_ASSERT_EQUAL_FATAL(symlink(target, path), 0);
	CU_ASSERT_EQUAL(psw_audit_file_open(&f, path, 4096, 1, err, sizeof(err)), -ELOOP);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "symbolic link"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, path));
	CU_ASSERT_EQUAL(f.fd, -1);
	CU_ASSERT_EQUAL(file_size(target), UINT64_MAX);    /* nothing created through it */

	CU_ASSERT_EQUAL(psw_audit_file_open(&f, dir, 4096, 1, err, sizeof(err)), -EISDIR);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "is a directory"));

	snprintf(path, sizeof(path), "%s/fifo", dir);
	CU_ASSERT_EQUAL_FATAL(mkfifo(path, 0600), 0);
	CU_ASSERT_EQUAL(psw_audit_file_open(&f, path, 4096, 1, err, sizeof(err)), -EINVAL);  /* no hang */
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "not a regular file"));

	snprintf(path, sizeof(path), "%s/no/such/dir/audit.log", dir);
	CU_ASSERT_EQUAL(psw_audit_file_open(&f, path, 4096, 1, err, sizeof(err)), -ENOENT);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "directory does not exist"));
}

/* A symbolic link planted in the log's place before a rotation: moved aside, never written through. */
static void
test_rotation_link_planted(void)
{
	struct psw_audit_file f;
	char path[300], target[300], err[400], line[600];
	bool rotated;

	snprintf(path, sizeof(path), "%s/planted.log", dir);
	snprintf(target, sizeof(target), "%s/victim", dir);
	CU_ASSERT_EQUAL_FATAL(psw_audit_file_open(&f, path, 4096, 2, err, sizeof(err)), 0);
	memset(line, 'y', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\n';
	for (int i = 0; i < 6; i++)
		CU_ASSERT_EQUAL(psw_audit_file_write(&f, line, sizeof(line), &rotated), 0);
	/* the attacker moves the file away and puts a link in its place before the next rotation */
	CU_ASSERT_EQUAL(unlink(path), 0);
	CU_ASSERT_EQUAL(symlink(target, path), 0);
	CU_ASSERT_EQUAL(psw_audit_file_write(&f, line, sizeof(line), &rotated), 0);    /* rotates */
	CU_ASSERT_TRUE(rotated);
	CU_ASSERT_EQUAL(file_size(target), UINT64_MAX);          /* nothing written through the link */
	{
		struct stat sb;
		char p1[320];

		snprintf(p1, sizeof(p1), "%s.1", path);
		CU_ASSERT_TRUE(lstat(p1, &sb) == 0 && S_ISLNK(sb.st_mode));   /* the link, renamed */
		CU_ASSERT_TRUE(lstat(path, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size == (off_t)sizeof(line));
	}
	psw_audit_file_close(&f);
}

/* Rotation impossible (file.2 a directory that is not empty): lines fail and are counted by the
 * caller, the file never grows past max_bytes. */
static void
test_rotation_blocked(void)
{
	struct psw_audit_file f;
	char path[300], p[320], err[400], line[1000];
	unsigned i, failed = 0;
	bool rotated;

	snprintf(path, sizeof(path), "%s/blocked.log", dir);
	snprintf(p, sizeof(p), "%s.1", path);
	CU_ASSERT_EQUAL_FATAL(close(open(p, O_CREAT | O_WRONLY, 0600)), 0);   /* file.1 exists: file.1 -> file.2 */
	snprintf(p, sizeof(p), "%s.2", path);
	CU_ASSERT_EQUAL_FATAL(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s.2/x", path);
	CU_ASSERT_EQUAL_FATAL(mkdir(p, 0700), 0);
	CU_ASSERT_EQUAL_FATAL(psw_audit_file_open(&f, path, 4096, 2, err, sizeof(err)), 0);
	memset(line, 'z', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\n';
	for (i = 0; i < 20; i++)
		failed += psw_audit_file_write(&f, line, sizeof(line), &rotated) < 0;
	CU_ASSERT_EQUAL(failed, 16);
	CU_ASSERT_TRUE(file_size(path) <= 4096);
	psw_audit_file_close(&f);
}

static int
cleanup(void)
{
	char cmd[400];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : 0;
}

int
main(void)
{
	CU_pSuite s;
	unsigned failures;

	if (mkdtemp(dir) == NULL)
		return 1;
	CU_initialize_registry();
	s = CU_add_suite("audit", NULL, cleanup);
	CU_add_test(s, "a denial: names, ports, the isolating policies, RFC 3339 time", test_format_deny);
	CU_add_test(s, "an allow: policy and rule; unknown addresses and protocols", test_format_allow_and_unknowns);
	CU_add_test(s, "hostile names stay one valid JSON line", test_format_hostile_names);
	CU_add_test(s, "token bucket: burst, rate, time going back, reload", test_bucket);
	CU_add_test(s, "rotation at max_bytes keeps files = N", test_file_rotation);
	CU_add_test(s, "a link, a directory, a FIFO, a missing directory are refused", test_file_refused);
	CU_add_test(s, "a link planted before a rotation is not followed", test_rotation_link_planted);
	CU_add_test(s, "a rotation that cannot be done never lets the file grow", test_rotation_blocked);
	failures = (unsigned)psw_ut_run();
	return failures ? 1 : 0;
}
