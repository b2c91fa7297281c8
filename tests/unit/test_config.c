/*
 * Unit tests of the configuration parser (config/): every refusal first,
 * each checked for its return value, line and key path; then the defaults,
 * the embedded default text and the example file (the address helpers are
 * in test_addr.c).
 * No DPDK, no EAL. Usage: test_config [PATH/podswitch.conf.example]
 * (PSW_TEST_SHOW=1 prints each refusal's message).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "psw_config.h"

static const char *example_path = "config/podswitch.conf.example";
static struct psw_config cfg;
static char err[PSW_ERR_MAX];

static bool is_zeroed(const struct psw_config *c)
{
	static const struct psw_config zero;

	return memcmp(c, &zero, sizeof(zero)) == 0;
}

/* Parse text as "t.conf"; it must be refused at conf_line naming path (and extra). */
static void check_fail(unsigned line, const char *text, int conf_line, const char *path,
		       const char *extra)
{
	char where[32], cond[1024];
	int rc;
	bool ok;

	memset(&cfg, 0x5a, sizeof(cfg));
	rc = psw_config_parse(text, "t.conf", &cfg, err, sizeof(err));
	snprintf(where, sizeof(where), "t.conf:%d: ", conf_line);
	ok = rc == -EINVAL && strncmp(err, where, strlen(where)) == 0 &&
	     strstr(err, path) != NULL && (extra == NULL || strstr(err, extra) != NULL) &&
	     is_zeroed(&cfg);
	if (getenv("PSW_TEST_SHOW") != NULL)
		printf("\n      %s", err);
	snprintf(cond, sizeof(cond), "refused at \"%s\" naming \"%s\" / \"%s\", cfg zeroed "
		 "(rc %d, message: \"%s\")", where, path, extra ? extra : "", rc, err);
	CU_assertImplementation(ok, line, cond, __FILE__, "", CU_FALSE);
	if (rc == 0)
		psw_config_free(&cfg);
}

#define FAIL(text, conf_line, path) check_fail(__LINE__, text, conf_line, path, NULL)
#define FAIL_MSG(text, conf_line, path, extra) check_fail(__LINE__, text, conf_line, path, extra)

/* Parse text; it must be accepted (caller frees cfg). */
static bool check_ok(unsigned line, const char *text)
{
	char cond[1024];
	int rc = psw_config_parse(text, "t.conf", &cfg, err, sizeof(err));

	snprintf(cond, sizeof(cond), "accepted (rc %d, message: \"%s\")", rc, err);
	CU_assertImplementation(rc == 0, line, cond, __FILE__, "", CU_FALSE);
	return rc == 0;
}

#define OK(text) check_ok(__LINE__, text)

/* A string of n copies of c (static; two buffers to use two at once). */
static const char *repeat(char c, size_t n)
{
	static char bufs[2][600];
	static unsigned which;
	char *b = bufs[which++ % 2];

	memset(b, c, n);
	b[n] = '\0';
	return b;
}

/* Three ports on lines 2..4; what follows starts on line 6. */
#define PORTS \
	"ports = (\n" \
	"{ name = \"a\"; kind = \"vhost-user\"; socket = \"/run/t/a.sock\"; },\n" \
	"{ name = \"b\"; kind = \"memif\"; socket = \"/run/t/b.memif\"; },\n" \
	"{ name = \"c\"; kind = \"kernel\"; ifname = \"tc\"; }\n" \
	");\n"
#define POD_A "{ name = \"pa\"; port = \"a\"; mac = \"02:00:00:00:00:0a\"; ip = \"10.244.0.10\"; }"

/* ---------------------------------------------------------------- refusals */

static void test_syntax_error(void)
{
	FAIL_MSG("node = {\n  name = ;\n};\n", 2, "syntax error", NULL);
	FAIL_MSG("\n\nnode = {\n  name = \"x\";\n", 5, "syntax error", NULL);   /* at the end */
	FAIL_MSG("node = {\n  name = \"a\";\n  name = \"b\";\n};\n", 3, "duplicate setting", NULL);
}

static void test_top_level(void)
{
	FAIL_MSG("\n\nnodes = { };\n", 3, "'nodes'", "known groups are: eal, workers, node");
	FAIL_MSG("node = 5;\n", 1, "node must be a group", NULL);
	FAIL_MSG("eal = ( );\n", 1, "eal must be a group", NULL);
	FAIL_MSG("\nports = { };\n", 2, "ports must be a list", NULL);
	FAIL_MSG("pods = 1;\n", 1, "pods must be a list", NULL);
	FAIL_MSG("routes = \"x\";\n", 1, "routes must be a list", NULL);
}

static void test_unknown_keys(void)
{
	FAIL_MSG("eal = {\n  huge = true;\n};\n", 2, "eal.huge", "keys of eal are: hugepages");
	FAIL_MSG("workers = {\n  core = [ 0 ];\n};\n", 2, "workers.core", "cores, idle_sleep_us");
	FAIL_MSG("node = {\n  podcidr = \"10.0.0.0/8\";\n};\n", 2, "node.podcidr", "pod_cidr");
	FAIL_MSG("api = {\n  path = \"/x\";\n};\n", 2, "api.path", "socket");
	FAIL_MSG("limits = {\n  max_pod = 1;\n};\n", 2, "limits.max_pod", "max_pods");
}

static void test_eal(void)
{
	FAIL("eal = {\n hugepages = \"yes\";\n};", 2, "eal.hugepages must be a boolean");
	FAIL("eal = {\n memory_mb = \"512\";\n};", 2, "eal.memory_mb must be an integer");
	FAIL("eal = {\n memory_mb = 512.0;\n};", 2, "eal.memory_mb must be an integer");
	FAIL("eal = {\n memory_mb = 63;\n};", 2, "eal.memory_mb 63 is out of range");
	FAIL("eal = {\n memory_mb = 65537;\n};", 2, "eal.memory_mb 65537 is out of range");
	FAIL("eal = {\n file_prefix = \"a/b\";\n};", 2, "eal.file_prefix 'a/b'");
	FAIL("eal = {\n file_prefix = \"\";\n};", 2, "eal.file_prefix must not be empty");
	FAIL("eal = {\n file_prefix = 1;\n};", 2, "eal.file_prefix must be a string");
	{
		char text[256];

		snprintf(text, sizeof(text), "eal = {\n file_prefix = \"%s\";\n};",
			 repeat('p', 64));
		FAIL(text, 2, "eal.file_prefix is 64 characters");
	}
	FAIL("eal = {\n main_core = 4096;\n};", 2, "eal.main_core: CPU 4096 is not online");
	FAIL("eal = {\n main_core = -1;\n};", 2, "eal.main_core -1 is out of range");
	FAIL("eal = {\n main_core = \"0\";\n};", 2, "eal.main_core must be an integer");
	FAIL("eal = {\n args = \"--x\";\n};", 2, "eal.args must be a list");
	FAIL("eal = {\n args = [ 1 ];\n};", 2, "eal.args[0] must be a string");
	FAIL("eal = {\n args = ( \"-a\",\n \"\" );\n};", 3, "eal.args[1] must not be empty");
	FAIL("eal = {\n args = [ \"a\", \"a\", \"a\", \"a\", \"a\", \"a\", \"a\", \"a\", \"a\", "
	     "\"a\", \"a\", \"a\", \"a\", \"a\", \"a\", \"a\", \"a\" ];\n};", 2, "eal.args has 17");
	{
		char text[256];

		snprintf(text, sizeof(text), "eal = {\n args = [ \"%s\" ];\n};", repeat('a', 128));
		FAIL(text, 2, "eal.args[0] is 128 characters");
	}
}

static void test_workers(void)
{
	FAIL("workers = {\n cores = [ ];\n};", 2, "workers.cores has 0 entries");
	FAIL("workers = {\n cores = 0;\n};", 2, "workers.cores must be an array");
	FAIL("workers = {\n cores = [ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 ];\n};",
	     2, "workers.cores has 17 entries");
	FAIL_MSG("workers = {\n cores = [ 0,\n 4096 ];\n};", 3, "workers.cores[1]", "CPU 4096");
	FAIL("workers = {\n cores = ( 0, \"1\" );\n};", 2, "workers.cores[1] must be an integer");
	FAIL("workers = {\n cores = [ -1 ];\n};", 2, "workers.cores[0] -1 is out of range");
	FAIL("workers = {\n idle_sleep_us = 100001;\n};", 2, "workers.idle_sleep_us 100001");
	FAIL("workers = {\n idle_sleep_us = -1;\n};", 2, "workers.idle_sleep_us -1");
}

static void test_node_name_and_cidr(void)
{
	char text[256];

	FAIL("node = {\n name = \"\";\n};", 2, "node.name must not be empty");
	FAIL("node = {\n name = 5;\n};", 2, "node.name must be a string");
	snprintf(text, sizeof(text), "node = {\n name = \"%s\";\n};", repeat('n', 64));
	FAIL(text, 2, "node.name is 64 characters");

	FAIL("node = {\n pod_cidr = \"10.244.0.0/33\";\n};", 2,
	     "node.pod_cidr '10.244.0.0/33' is not a valid prefix");
	FAIL("node = {\n pod_cidr = \"10.244.0.0\";\n};", 2, "node.pod_cidr '10.244.0.0' is not a");
	FAIL("node = {\n pod_cidr = \"pods\";\n};", 2, "node.pod_cidr 'pods' is not a valid");
	FAIL("node = {\n pod_cidr = 10;\n};", 2, "node.pod_cidr must be a string");
	FAIL_MSG("node = {\n pod_cidr = \"10.244.0.1/24\";\n};", 2, "node.pod_cidr",
		 "host bits set; did you mean '10.244.0.0/24'");
	FAIL("node = {\n pod_cidr = \"fd00::/64\";\n};", 2, "node.pod_cidr 'fd00::/64' is not an IPv4");
	FAIL("node = {\n pod_cidr = \"10.0.0.0/31\";\n};", 2, "node.pod_cidr '10.0.0.0/31' has length 31");
	FAIL("node = {\n pod_cidr = \"10.0.0.0/7\";\n};", 2, "node.pod_cidr '10.0.0.0/7' has length 7");
}

static void test_node_gateway(void)
{
	FAIL_MSG("node = {\n pod_cidr = \"10.1.0.0/16\";\n gateway = \"10.2.0.1\";\n};", 3,
		 "node.gateway 10.2.0.1 is outside node.pod_cidr 10.1.0.0/16", NULL);
	FAIL_MSG("node = {\n gateway = \"10.1.0.1\";\n};", 2, "node.gateway", "(the default)");
	FAIL("node = {\n gateway = \"10.244.0.0\";\n};", 2, "node.gateway 10.244.0.0 is the network");
	FAIL("node = {\n gateway = \"10.244.0.255\";\n};", 2, "node.gateway 10.244.0.255 is the broadcast");
	FAIL("node = {\n gateway = \"10.244.0.256\";\n};", 2, "node.gateway '10.244.0.256' is not a valid");
	FAIL("node = {\n gateway = \"fd00::1\";\n};", 2, "node.gateway 'fd00::1' is not an IPv4");
	FAIL("node = {\n gateway = 1;\n};", 2, "node.gateway must be a string");
}

static void test_node_ipv6(void)
{
	FAIL("node = {\n pod_cidr6 = \"fd00::/47\";\n};", 2, "node.pod_cidr6 'fd00::/47' has length 47");
	FAIL("node = {\n pod_cidr6 = \"fd00::/121\";\n};", 2, "node.pod_cidr6 'fd00::/121' has length");
	FAIL_MSG("node = {\n pod_cidr6 = \"fd00::1/64\";\n};", 2, "node.pod_cidr6",
		 "host bits set; did you mean 'fd00::/64'");
	FAIL("node = {\n pod_cidr6 = \"10.0.0.0/24\";\n};", 2, "node.pod_cidr6 '10.0.0.0/24' is not an IPv6");
	FAIL("node = {\n pod_cidr6 = \"fd00::/64/1\";\n};", 2, "node.pod_cidr6 'fd00::/64/1' is not a valid");
	FAIL("node = {\n gateway6 = \"fd00:10:245::1\";\n};", 2,
	     "node.gateway6 fd00:10:245::1 is outside node.pod_cidr6");
	FAIL("node = {\n gateway6 = \"fd00:10:244::\";\n};", 2, "node.gateway6 fd00:10:244:: is the subnet-router");
	FAIL("node = {\n gateway6 = \"fd00::g\";\n};", 2, "node.gateway6 'fd00::g' is not a valid");
	FAIL("node = {\n gateway6 = \"10.244.0.1\";\n};", 2, "node.gateway6 '10.244.0.1' is not an IPv6");
	FAIL("node = {\n pod_cidr6 = \"\";\n gateway6 = \"fd00:10:244::1\";\n};", 3,
	     "node.gateway6 is set but IPv6 is disabled");
}

static void test_node_service_cidr(void)
{
	FAIL_MSG("node = {\n pod_cidr = \"10.96.0.0/24\";\n};", 2, "node.service_cidr 10.96.0.0/12 "
		 "overlaps node.pod_cidr 10.96.0.0/24", NULL);
	FAIL("node = {\n\n service_cidr = \"10.0.0.0/8\";\n};", 3,
	     "node.service_cidr 10.0.0.0/8 overlaps node.pod_cidr 10.244.0.0/24");
	FAIL("node = {\n service_cidr = \"10.96.0.1/12\";\n};", 2, "node.service_cidr '10.96.0.1/12' has host bits");
	FAIL("node = {\n service_cidr = \"10.96/12\";\n};", 2, "node.service_cidr '10.96/12' is not a valid");
	FAIL("node = {\n service_cidr = \"fd01::/108\";\n};", 2, "node.service_cidr 'fd01::/108' is not an IPv4");
}

static void test_node_nodeport_range(void)
{
	static const char *const bad_ranges[] = {
		"30000", "a-b", "1 - 2", "-5-10", "1-2-3", "+1-2", "1-", "100000-100001", "",
	};

	for (unsigned i = 0; i < sizeof(bad_ranges) / sizeof(bad_ranges[0]); i++) {
		char text[128];

		snprintf(text, sizeof(text), "node = {\n nodeport_range = \"%s\";\n};", bad_ranges[i]);
		FAIL(text, 2, "is not a port range");
	}
	FAIL("node = {\n nodeport_range = \"0-10\";\n};", 2, "node.nodeport_range '0-10' must satisfy");
	FAIL("node = {\n nodeport_range = \"200-100\";\n};", 2, "node.nodeport_range '200-100' must");
	FAIL("node = {\n nodeport_range = \"1-65536\";\n};", 2, "node.nodeport_range '1-65536' must");
	FAIL("node = {\n nodeport_range = 30000;\n};", 2, "node.nodeport_range must be a string");
}

static void test_node_gateway_mac(void)
{
	FAIL("node = {\n gateway_mac = \"03:00:00:00:00:01\";\n};", 2,
	     "node.gateway_mac '03:00:00:00:00:01' is a multicast");
	FAIL("node = {\n gateway_mac = \"ff:ff:ff:ff:ff:ff\";\n};", 2, "node.gateway_mac 'ff:ff:ff:ff:ff:ff' is a multicast");
	FAIL("node = {\n gateway_mac = \"00:00:00:00:00:00\";\n};", 2, "node.gateway_mac must not be the all-zero");
	FAIL("node = {\n gateway_mac = \"02:00:00:00:00\";\n};", 2, "node.gateway_mac '02:00:00:00:00' is not a MAC");
	FAIL("node = {\n gateway_mac = \"02-00-00-00-00-01\";\n};", 2, "node.gateway_mac '02-00-00-00-00-01' is not");
	FAIL("node = {\n gateway_mac = 2;\n};", 2, "node.gateway_mac must be a string");
}

static void test_api(void)
{
	char text[256];

	FAIL("api = {\n socket = \"run/p.sock\";\n};", 2, "api.socket 'run/p.sock' must be an absolute path");
	FAIL("api = {\n socket = 1;\n};", 2, "api.socket must be a string");
	FAIL("api = {\n socket = \"\";\n};", 2, "api.socket must not be empty");
	snprintf(text, sizeof(text), "api = {\n socket = \"/%s\";\n};", repeat('s', 107));
	FAIL(text, 2, "api.socket is 108 bytes long");
	FAIL("api = {\n group = \"no-such-group-psw\";\n};", 2,
	     "api.group 'no-such-group-psw' is not a group");
	FAIL("api = {\n state_dir = \"var/lib\";\n};", 2, "api.state_dir 'var/lib' must be an absolute path");
	FAIL("api = {\n sockets_dir = \"run\";\n};", 2, "api.sockets_dir 'run' must be an absolute path");
	snprintf(text, sizeof(text), "api = {\n sockets_dir = \"/%s\";\n};", repeat('d', 90));
	FAIL(text, 2, "api.sockets_dir is 91 bytes long");
	if (OK("api = { group = \"root\"; sockets_dir = \"/run/t\"; state_dir = \"/var/t\"; };")) {
		CU_ASSERT_STRING_EQUAL(cfg.api.group, "root");
		CU_ASSERT_STRING_EQUAL(cfg.api.sockets_dir, "/run/t");
		CU_ASSERT_STRING_EQUAL(cfg.api.pods_dir, "/run/t/pods");    /* under the sockets' */
		CU_ASSERT_STRING_EQUAL(cfg.api.state_dir, "/var/t");
		psw_config_free(&cfg);
	}
	FAIL("api = {\n pods_dir = \"pods\";\n};", 2, "api.pods_dir 'pods' must be an absolute path");
	FAIL("api = {\n pods_dir = \"/run/x/../etc\";\n};", 2, "api.pods_dir '/run/x/../etc' must be");
	FAIL("api = {\n pods_dir = \"/run/..\";\n};", 2, "without '..'");
	if (OK("api = { pods_dir = \"\"; };")) {
		CU_ASSERT_STRING_EQUAL(cfg.api.pods_dir, "");
		psw_config_free(&cfg);
	}
	/* never where the socket links are: a namespace "p", or a pod named like a link */
	FAIL("api = {\n sockets_dir = \"/run/t\";\n pods_dir = \"/run/t\";\n};", 3,
	     "api.pods_dir '/run/t' holds, or is in, the socket links' directory /run/t/p");
	FAIL("api = {\n sockets_dir = \"/run/t\";\n pods_dir = \"/run/\";\n};", 3, "links' directory");
	FAIL("api = {\n sockets_dir = \"/run/t\";\n pods_dir = \"/\";\n};", 3, "links' directory");
	FAIL("api = {\n sockets_dir = \"/run/t\";\n pods_dir = \"/run/t/p\";\n};", 3, "links' directory");
	FAIL("api = {\n sockets_dir = \"/run/t\";\n pods_dir = \"/run/t/p/x\";\n};", 3, "links' directory");
	if (OK("api = { sockets_dir = \"/run/t\"; pods_dir = \"/run/t/pods\"; };")) {
		CU_ASSERT_STRING_EQUAL(cfg.api.pods_dir, "/run/t/pods");
		psw_config_free(&cfg);
	}
	if (OK("api = { sockets_dir = \"/run/t\"; pods_dir = \"/run/tp\"; };")) {
		CU_ASSERT_STRING_EQUAL(cfg.api.pods_dir, "/run/tp");
		psw_config_free(&cfg);
	}
	if (OK("api = { pods_dir = \"/srv/pods\"; };")) {
		CU_ASSERT_STRING_EQUAL(cfg.api.pods_dir, "/srv/pods");
		psw_config_free(&cfg);
	}
}

static void test_limits(void)
{
	FAIL("limits = {\n mbufs = 1023;\n};", 2, "limits.mbufs 1023 is out of range");
	FAIL("limits = {\n mbufs = 4194305;\n};", 2, "limits.mbufs 4194305 is out of range");
	FAIL("limits = {\n mbufs = \"1k\";\n};", 2, "limits.mbufs must be an integer");
	FAIL("limits = {\n max_pods = 0;\n};", 2, "limits.max_pods 0 is out of range");
	FAIL("limits = {\n max_pods = 65537;\n};", 2, "limits.max_pods 65537 is out of range");
	/* limits.pods: the name for max_pods; both given must agree */
	FAIL("limits = {\n max_pods = 10;\n pods = 20;\n};", 3, "limits.pods 20 and limits.max_pods 10");
	FAIL("limits = {\n pods = 0;\n};", 2, "limits.pods 0 is out of range");
	if (OK("limits = { pods = 20; };")) {
		CU_ASSERT_EQUAL(cfg.limits.max_pods, 20);
		psw_config_free(&cfg);
	}
	if (OK("limits = { pods = 30; max_pods = 30; };")) {
		CU_ASSERT_EQUAL(cfg.limits.max_pods, 30);
		psw_config_free(&cfg);
	}
	FAIL("limits = {\n max_routes = 0;\n};", 2, "limits.max_routes 0 is out of range");
	FAIL("limits = {\n max_routes = 1000001;\n};", 2, "limits.max_routes 1000001 is out of range");
	FAIL("limits = {\n rx_desc = 100;\n};", 2, "limits.rx_desc 100 must be a power of two");
	FAIL("limits = {\n rx_desc = 32;\n};", 2, "limits.rx_desc 32 is out of range");
	FAIL("limits = {\n rx_desc = 8192;\n};", 2, "limits.rx_desc 8192 is out of range");
	FAIL("limits = {\n tx_desc = 1000;\n};", 2, "limits.tx_desc 1000 must be a power of two");
	FAIL("limits = {\n tx_desc = true;\n};", 2, "limits.tx_desc must be an integer");
}

static void test_port_shape(void)
{
	FAIL("ports = (\n 5\n);", 2, "ports[0] must be a group");
	FAIL("ports = (\n { kind = \"null\"; }\n);", 2, "ports[0].name is required");
	FAIL("ports = (\n { name = \"a b\"; kind = \"null\"; }\n);", 2, "ports[0].name 'a b' may hold only");
	FAIL("ports = (\n { name = 1; kind = \"null\"; }\n);", 2, "ports[0].name must be a string");
	FAIL("ports = (\n { name = \"\"; kind = \"null\"; }\n);", 2, "ports[0].name must not be empty");
	FAIL("ports = (\n { name = \"a\"; }\n);", 2, "ports[0].kind is required");
	FAIL_MSG("ports = (\n { name = \"a\"; kind = \"null\"; },\n { name = \"b\"; kind = \"tap\"; }\n);",
		 3, "ports[1].kind 'tap' is not a port kind", "vhost-user");
	FAIL("ports = (\n { name = \"a\";\n kind = 3; }\n);", 3, "ports[0].kind must be a string");
}

static void test_port_keys(void)
{
	FAIL_MSG("ports = (\n { name = \"a\"; kind = \"null\";\n foo = 1; }\n);", 3,
		 "unknown key ports[0].foo", "pci");
	FAIL_MSG("ports = (\n { name = \"a\"; kind = \"vhost-user\"; socket = \"/s\";\n pci = \"03:00.0\"; }\n);",
		 3, "ports[0].pci: 'pci' is not a key of a 'vhost-user' port", "socket, client, queues");
	FAIL("ports = (\n { name = \"a\"; kind = \"nic\"; pci = \"03:00.0\";\n socket = \"/s\"; }\n);",
	     3, "'socket' is not a key of a 'nic' port");
	FAIL("ports = (\n { name = \"a\"; kind = \"ring\";\n ifname = \"x\"; }\n);", 3,
	     "ports[0].ifname: 'ifname' is not a key of a 'ring' port");
	FAIL("ports = (\n { name = \"a\"; kind = \"null\";\n rx_pcap = \"x\"; }\n);", 3,
	     "'rx_pcap' is not a key of a 'null' port");
	FAIL("ports = (\n { name = \"a\"; kind = \"memif\"; socket = \"/s\";\n queues = 2; }\n);", 3,
	     "'queues' is not a key of a 'memif' port");
	FAIL("ports = (\n { name = \"a\"; kind = \"kernel\"; ifname = \"x\";\n id = 2; }\n);", 3,
	     "'id' is not a key of a 'kernel' port");
}

static void test_port_common_keys(void)
{
	FAIL("ports = (\n { name = \"a\"; kind = \"null\";\n mtu = 67; }\n);", 3, "ports[0].mtu 67 is out of range");
	FAIL("ports = (\n { name = \"a\"; kind = \"null\";\n mtu = 9601; }\n);", 3, "ports[0].mtu 9601");
	FAIL("ports = (\n { name = \"a\"; kind = \"null\";\n mac = \"01:00:5e:00:00:01\"; }\n);", 3,
	     "ports[0].mac '01:00:5e:00:00:01' is a multicast");
	FAIL("ports = (\n { name = \"a\"; kind = \"null\";\n mac = \"00:00:00:00:00:00\"; }\n);", 3,
	     "ports[0].mac must not be the all-zero");
	FAIL("ports = (\n { name = \"a\"; kind = \"null\";\n mac = \"zz:00:00:00:00:01\"; }\n);", 3,
	     "ports[0].mac 'zz:00:00:00:00:01' is not a MAC");
}

static void test_port_nic(void)
{
	static const char *const bad_pci[] = {
		"03:00", "0000:03:20.0", "0000:03:00.8", "00000:03:00.0", "g3:00.0", "0000-03:00.0",
		"03:00.0 ", "3:00.0",
	};

	FAIL("ports = (\n { name = \"a\"; kind = \"nic\"; }\n);", 2, "ports[0].pci is required");
	for (unsigned i = 0; i < sizeof(bad_pci) / sizeof(bad_pci[0]); i++) {
		char text[128];

		snprintf(text, sizeof(text), "ports = (\n { name = \"a\"; kind = \"nic\";\n pci = \"%s\"; }\n);",
			 bad_pci[i]);
		FAIL(text, 3, "ports[0].pci");
	}
	FAIL("ports = (\n { name = \"a\"; kind = \"nic\";\n pci = 3; }\n);", 3, "ports[0].pci must be a string");
	FAIL("ports = (\n { name = \"a\"; kind = \"nic\"; pci = \"03:00.0\";\n rx_queues = 17; }\n);",
	     3, "ports[0].rx_queues 17 is out of range");
	FAIL("ports = (\n { name = \"a\"; kind = \"nic\"; pci = \"03:00.0\";\n rss = \"yes\"; }\n);",
	     3, "ports[0].rss must be a boolean");
}

static void test_port_vhost_memif(void)
{
	char text[256];

	FAIL("ports = (\n { name = \"a\"; kind = \"vhost-user\"; }\n);", 2, "ports[0].socket is required");
	FAIL("ports = (\n { name = \"a\"; kind = \"vhost-user\";\n socket = \"a.sock\"; }\n);", 3,
	     "ports[0].socket 'a.sock' must be an absolute path");
	snprintf(text, sizeof(text), "ports = (\n { name = \"a\"; kind = \"vhost-user\";\n socket = \"/%s\"; }\n);",
		 repeat('x', 107));
	FAIL(text, 3, "ports[0].socket is 108 bytes long");
	FAIL("ports = (\n { name = \"a\"; kind = \"vhost-user\"; socket = \"/s\";\n queues = 0; }\n);", 3,
	     "ports[0].queues 0 is out of range");
	FAIL("ports = (\n { name = \"a\"; kind = \"vhost-user\"; socket = \"/s\";\n queues = 17; }\n);", 3,
	     "ports[0].queues 17 is out of range");
	FAIL("ports = (\n { name = \"a\"; kind = \"vhost-user\"; socket = \"/s\";\n client = 1; }\n);", 3,
	     "ports[0].client must be a boolean");

	FAIL("ports = (\n { name = \"a\"; kind = \"memif\"; }\n);", 2, "ports[0].socket is required");
	FAIL("ports = (\n { name = \"a\"; kind = \"memif\";\n socket = \"m\"; }\n);", 3,
	     "ports[0].socket 'm' must be an absolute path");
	FAIL("ports = (\n { name = \"a\"; kind = \"memif\"; socket = \"/m\";\n id = -1; }\n);", 3,
	     "ports[0].id -1 is out of range");
	FAIL("ports = (\n { name = \"a\"; kind = \"memif\"; socket = \"/m\";\n id = 4294967296L; }\n);", 3,
	     "ports[0].id 4294967296 is out of range");
	FAIL("ports = (\n { name = \"a\"; kind = \"memif\"; socket = \"/m\";\n id = \"0\"; }\n);", 3,
	     "ports[0].id must be an integer");
}

static void test_port_ifname(void)
{
	static const char *const bad_names[] = { "a/b", "a b", "a:b", ".", "..", "a\\tb" };
	char text[256];

	FAIL("ports = (\n { name = \"a\"; kind = \"kernel\"; }\n);", 2, "ports[0].ifname is required");
	FAIL("ports = (\n { name = \"a\"; kind = \"af_packet\"; }\n);", 2, "ports[0].ifname is required");
	for (unsigned i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		snprintf(text, sizeof(text), "ports = (\n { name = \"a\"; kind = \"%s\";\n ifname = \"%s\"; }\n);",
			 i % 2 ? "kernel" : "af_packet", bad_names[i]);
		FAIL(text, 3, "is not a valid interface name");
	}
	FAIL("ports = (\n { name = \"a\"; kind = \"kernel\";\n ifname = \"\"; }\n);", 3,
	     "ports[0].ifname must not be empty");
	snprintf(text, sizeof(text), "ports = (\n { name = \"a\"; kind = \"af_packet\";\n ifname = \"%s\"; }\n);",
		 repeat('i', 16));
	FAIL(text, 3, "ports[0].ifname is 16 characters");
}

static void test_port_pcap(void)
{
	char text[512];

	FAIL("ports = (\n { name = \"a\";\n kind = \"pcap\"; }\n);", 2, "ports[0]: a pcap port needs rx_pcap");
	snprintf(text, sizeof(text), "ports = (\n { name = \"a\"; kind = \"pcap\";\n rx_pcap = \"%s\"; }\n);",
		 repeat('f', 256));
	FAIL(text, 3, "ports[0].rx_pcap is 256 characters");
	FAIL("ports = (\n { name = \"a\"; kind = \"pcap\";\n tx_pcap = 1; }\n);", 3,
	     "ports[0].tx_pcap must be a string");
}

static void test_port_duplicates(void)
{
	FAIL_MSG("ports = (\n { name = \"a\"; kind = \"null\"; },\n { name = \"a\"; kind = \"ring\"; }\n);",
		 3, "ports[1].name 'a' is already used by port 'a'", "(line 2)");
	FAIL("ports = (\n { name = \"a\"; kind = \"nic\"; pci = \"0000:03:00.0\"; },\n"
	     " { name = \"b\"; kind = \"nic\";\n pci = \"03:00.0\"; }\n);", 4,
	     "ports[1].pci '0000:03:00.0' is already used by port 'a'");
	FAIL("ports = (\n { name = \"a\"; kind = \"vhost-user\"; socket = \"/run/x\"; },\n"
	     " { name = \"b\"; kind = \"memif\";\n socket = \"/run/x\"; }\n);", 4,
	     "ports[1].socket '/run/x' is already used by port 'a'");
	/* memif interfaces share a socket with different ids, not with the same one */
	FAIL("ports = (\n { name = \"a\"; kind = \"memif\"; socket = \"/run/x\"; id = 3; },\n"
	     " { name = \"b\"; kind = \"memif\";\n socket = \"/run/x\"; id = 3; }\n);", 4,
	     "ports[1].socket '/run/x' is already used by port 'a'");
	if (OK("ports = (\n { name = \"a\"; kind = \"memif\"; socket = \"/run/x\"; id = 3; },\n"
	       " { name = \"b\"; kind = \"memif\"; socket = \"/run/x\"; id = 4; }\n);"))
		psw_config_free(&cfg);
	FAIL("ports = (\n { name = \"a\"; kind = \"kernel\"; ifname = \"v0\"; },\n"
	     " { name = \"b\"; kind = \"af_packet\";\n ifname = \"v0\"; }\n);", 4,
	     "ports[1].ifname 'v0' is already used by port 'a'");
	FAIL("ports = (\n { name = \"a\"; kind = \"vhost-user\";\n"
	     " socket = \"/run/podswitch/podswitch.sock\"; }\n);", 3, "ports[0].socket '/run/podswitch/"
	     "podswitch.sock' is the API socket");
}

static void test_port_too_many(void)
{
	char text[8192];
	size_t used = 0;

	used += (size_t)snprintf(text + used, sizeof(text) - used, "ports = (\n");
	for (int i = 0; i <= PSW_MAX_CFG_PORTS; i++)
		used += (size_t)snprintf(text + used, sizeof(text) - used,
					 "{ name = \"n%d\"; kind = \"null\"; }%s\n", i,
					 i < PSW_MAX_CFG_PORTS ? "," : "");
	snprintf(text + used, sizeof(text) - used, ");\n");
	FAIL(text, PSW_MAX_CFG_PORTS + 2, "ports[64]: too many ports; at most 64");
}

static void test_pod_shape(void)
{
	FAIL(PORTS "pods = (\n 1\n);", 7, "pods[0] must be a group");
	FAIL_MSG(PORTS "pods = (\n { name = \"p\"; port = \"a\"; mac = \"02:00:00:00:00:01\"; ip = \"10.244.0.9\";\n"
		 " ipv4 = \"10.244.0.9\"; }\n);", 8, "unknown key pods[0].ipv4", "namespace, port, mac, ip, ip6");
	FAIL(PORTS "pods = (\n { port = \"a\"; mac = \"02:00:00:00:00:01\"; ip = \"10.244.0.9\"; }\n);", 7,
	     "pods[0].name is required");
	FAIL(PORTS "pods = (\n { name = \"p/q\"; port = \"a\"; mac = \"02:00:00:00:00:01\"; ip = \"10.244.0.9\"; }\n);",
	     7, "pods[0].name 'p/q' may hold only");
	FAIL(PORTS "pods = (\n { name = \"p\"; namespace = \"\"; port = \"a\"; mac = \"02:00:00:00:00:01\"; }\n);",
	     7, "pods[0].namespace must not be empty");
	FAIL(PORTS "pods = (\n { name = \"p\"; namespace = \"a b\"; port = \"a\"; mac = \"02:00:00:00:00:01\"; }\n);",
	     7, "pods[0].namespace 'a b' may hold only");
	FAIL(PORTS "pods = (\n { name = \"p\"; mac = \"02:00:00:00:00:01\"; ip = \"10.244.0.9\"; }\n);", 7,
	     "pods[0].port is required");
	FAIL_MSG(PORTS "pods = (\n " POD_A ",\n { name = \"q\";\n port = \"zz\"; mac = \"02:00:00:00:00:01\"; }\n);",
		 9, "pods[1].port 'zz' is not a port in `ports`", "known ports: a, b, c");
	FAIL_MSG("pods = (\n { name = \"q\";\n port = \"zz\"; mac = \"02:00:00:00:00:01\"; }\n);",
		 3, "pods[0].port 'zz' is not a port", "there are none");
}

static void test_pod_mac(void)
{
	FAIL(PORTS "pods = (\n { name = \"p\"; port = \"a\"; ip = \"10.244.0.9\"; }\n);", 7,
	     "pods[0].mac is required");
	FAIL(PORTS "pods = (\n { name = \"p\"; port = \"a\"; ip = \"10.244.0.9\";\n mac = \"33:33:00:00:00:01\"; }\n);",
	     8, "pods[0].mac '33:33:00:00:00:01' is a multicast");
	FAIL(PORTS "pods = (\n { name = \"p\"; port = \"a\"; ip = \"10.244.0.9\";\n mac = \"02:50:53:57:00:01\"; }\n);",
	     8, "pods[0].mac is the gateway's MAC");
}

static void test_pod_addresses(void)
{
#define POD_IP(key, value) \
	PORTS "pods = (\n { name = \"p\"; port = \"a\"; mac = \"02:00:00:00:00:01\";\n " key " = \"" value "\"; }\n);"
	FAIL(POD_IP("ip", "10.245.0.9"), 8, "pods[0].ip 10.245.0.9 is outside node.pod_cidr 10.244.0.0/24");
	FAIL(POD_IP("ip", "10.244.0.1"), 8, "pods[0].ip 10.244.0.1 is the node's gateway");
	FAIL(POD_IP("ip", "10.244.0.0"), 8, "pods[0].ip 10.244.0.0 is the network address");
	FAIL(POD_IP("ip", "10.244.0.255"), 8, "pods[0].ip 10.244.0.255 is the broadcast address");
	FAIL(POD_IP("ip", "10.244.0"), 8, "pods[0].ip '10.244.0' is not a valid IP");
	FAIL(POD_IP("ip", "fd00:10:244::9"), 8, "pods[0].ip 'fd00:10:244::9' is not an IPv4");
	FAIL(POD_IP("ip6", "fd00:10:245::9"), 8, "pods[0].ip6 fd00:10:245::9 is outside node.pod_cidr6");
	FAIL(POD_IP("ip6", "fd00:10:244::1"), 8, "pods[0].ip6 fd00:10:244::1 is the node's gateway");
	FAIL(POD_IP("ip6", "fd00:10:244::"), 8, "pods[0].ip6 fd00:10:244:: is the subnet-router");
	FAIL(POD_IP("ip6", "10.244.0.9"), 8, "pods[0].ip6 '10.244.0.9' is not an IPv6");
	FAIL("node = {\n pod_cidr6 = \"\";\n};\n" POD_IP("ip6", "fd00:10:244::9"), 11,
	     "pods[0].ip6 is set but IPv6 is disabled");
	FAIL(PORTS "pods = (\n { name = \"p\"; port = \"a\"; mac = \"02:00:00:00:00:01\"; }\n);", 7,
	     "pods[0] needs an address: set ip, ip6 or both");
	FAIL(PORTS "pods = (\n { name = \"p\"; port = \"a\"; mac = \"02:00:00:00:00:01\";\n ip = 10; }\n);", 8,
	     "pods[0].ip must be a string");
#undef POD_IP
}

static void test_pod_duplicates(void)
{
#define TWO_PODS(second) PORTS "pods = (\n " POD_A ",\n " second "\n);"
	FAIL_MSG(TWO_PODS("{ name = \"pa\"; port = \"b\"; mac = \"02:00:00:00:00:0b\"; ip = \"10.244.0.11\"; }"),
		 8, "pods[1].name is already used by pod default/pa", "(line 7)");
	FAIL(TWO_PODS("{ name = \"pb\"; port = \"a\"; mac = \"02:00:00:00:00:0b\"; ip = \"10.244.0.11\"; }"),
	     8, "pods[1].port is already used by pod default/pa");
	FAIL(TWO_PODS("{ name = \"pb\"; port = \"b\"; mac = \"02:00:00:00:00:0a\"; ip = \"10.244.0.11\"; }"),
	     8, "pods[1].mac is already used by pod default/pa");
	FAIL(TWO_PODS("{ name = \"pb\"; port = \"b\"; mac = \"02:00:00:00:00:0b\"; ip = \"10.244.0.10\"; }"),
	     8, "pods[1].ip is already used by pod default/pa");
	FAIL(PORTS "pods = (\n { name = \"p\"; port = \"a\"; mac = \"02:00:00:00:00:0a\"; ip6 = \"fd00:10:244::a\"; },\n"
	     " { name = \"q\"; port = \"b\"; mac = \"02:00:00:00:00:0b\"; ip6 = \"fd00:10:244:0::a\"; }\n);",
	     8, "pods[1].ip6 is already used by pod default/p");
	/* The same name in another namespace is another pod. */
	if (OK(TWO_PODS("{ name = \"pa\"; namespace = \"other\"; port = \"b\"; mac = \"02:00:00:00:00:0b\"; "
			"ip = \"10.244.0.11\"; }"))) {
		CU_ASSERT_EQUAL(cfg.nb_pods, 2);
		CU_ASSERT_STRING_EQUAL(cfg.pods[1].namespace_, "other");
		psw_config_free(&cfg);
	}
	FAIL("limits = {\n max_pods = 1;\n};\n" TWO_PODS("{ name = \"pb\"; port = \"b\"; "
	     "mac = \"02:00:00:00:00:0b\"; ip = \"10.244.0.11\"; }"), 9,
	     "pods has 2 entries, more than limits.max_pods (1)");
#undef TWO_PODS
}

static void test_routes(void)
{
#define ROUTE(body) PORTS "routes = (\n { prefix = \"10.245.0.0/24\"; port = \"a\";\n " body " }\n);"
	FAIL(PORTS "routes = (\n 1\n);", 7, "routes[0] must be a group");
	FAIL(ROUTE("mac = \"02:00:00:00:00:fe\"; gw = \"x\";"), 8, "unknown key routes[0].gw");
	FAIL(PORTS "routes = (\n { port = \"a\"; mac = \"02:00:00:00:00:fe\"; }\n);", 7, "routes[0].prefix is required");
	FAIL(PORTS "routes = (\n { port = \"a\"; mac = \"02:00:00:00:00:fe\";\n prefix = \"10.245.0.0\"; }\n);",
	     8, "routes[0].prefix '10.245.0.0' is not a valid prefix");
	FAIL(PORTS "routes = (\n { port = \"a\"; mac = \"02:00:00:00:00:fe\";\n prefix = \"10.245.0.1/24\"; }\n);",
	     8, "routes[0].prefix '10.245.0.1/24' has host bits set");
	FAIL(PORTS "routes = (\n { port = \"a\"; mac = \"02:00:00:00:00:fe\";\n prefix = \"fd01::1/64\"; }\n);",
	     8, "routes[0].prefix 'fd01::1/64' has host bits set");
	FAIL(PORTS "routes = (\n { prefix = \"10.245.0.0/24\"; mac = \"02:00:00:00:00:fe\"; }\n);", 7,
	     "routes[0].port is required");
	FAIL(PORTS "routes = (\n { prefix = \"10.245.0.0/24\"; mac = \"02:00:00:00:00:fe\";\n port = \"up\"; }\n);",
	     8, "routes[0].port 'up' is not a port");
	FAIL(ROUTE(""), 7, "routes[0].mac is required");
	FAIL(ROUTE("mac = \"01:00:00:00:00:fe\";"), 8, "routes[0].mac '01:00:00:00:00:fe' is a multicast");
	FAIL(PORTS "routes = (\n { prefix = \"10.245.0.0/24\"; port = \"a\"; mac = \"02:00:00:00:00:fe\"; },\n"
	     " { prefix = \"10.245.0.0/24\"; port = \"b\"; mac = \"02:00:00:00:00:fd\"; }\n);", 8,
	     "routes[1].prefix 10.245.0.0/24 is already routed by the route at line 7");
	FAIL(PORTS "routes = (\n { prefix = \"fd01::/64\"; port = \"a\"; mac = \"02:00:00:00:00:fe\"; },\n"
	     " { prefix = \"fd01:0::/64\"; port = \"b\"; mac = \"02:00:00:00:00:fd\"; }\n);", 8,
	     "routes[1].prefix fd01::/64 is already routed");
	FAIL("limits = {\n max_routes = 1;\n};\n" PORTS "routes = (\n"
	     " { prefix = \"10.245.0.0/24\"; port = \"a\"; mac = \"02:00:00:00:00:fe\"; },\n"
	     " { prefix = \"10.246.0.0/24\"; port = \"a\"; mac = \"02:00:00:00:00:fe\"; }\n);", 9,
	     "routes has 2 entries, more than limits.max_routes (1)");
#undef ROUTE
}

/* Uplinks, node addresses of both families, the cluster group, routes via an address. */
#define UPLINK "ports = (\n{ name = \"up\"; kind = \"af_packet\"; ifname = \"u0\"; uplink = true; }\n);\n"
static void test_uplinks_and_cluster(void)
{
	FAIL(UPLINK, 2, "ports[0] 'up' is an uplink: set node.addresses");
	FAIL("node = { addresses = [ \"192.168.5.1\" ]; addresses_from_node = true; };", 1,
	     "node.addresses_from_node: the addresses come from the Node object named node.name; give either");
	FAIL("node = { addresses_from_node = 1; };", 1, "node.addresses_from_node");
	if (OK("node = { name = \"n1\"; addresses_from_node = true; };\n" UPLINK)) {
		/* an uplink without addresses: they come with the Node */
		CU_ASSERT_TRUE(cfg.node.addresses_from_node);
		CU_ASSERT_EQUAL(cfg.node.nb_addresses, 0);
		CU_ASSERT_TRUE(cfg.ports[0].uplink);
		psw_config_free(&cfg);
	}
	FAIL("ports = (\n{ name = \"m\"; kind = \"memif\"; socket = \"/run/t/m\"; uplink = true; }\n);",
	     2, "ports[0]: a memif port cannot be an uplink");
	FAIL("ports = (\n{ name = \"v\"; kind = \"vhost-user\"; socket = \"/run/t/v\"; uplink = true; }\n);",
	     2, "ports[0]: a vhost-user uplink needs its own mac");
	if (OK("node = { addresses = [ \"192.168.5.1/24\" ]; };\nports = (\n{ name = \"v\"; kind = \"vhost-user\"; "
	       "socket = \"/run/t/v\"; uplink = true; mac = \"02:00:00:00:0e:01\"; }\n);")) {
		/* a vhost-user uplink (a virtio-user underlay: the end-to-end VXLAN benchmark's) */
		CU_ASSERT_TRUE(cfg.ports[0].uplink);
		psw_config_free(&cfg);
	}
	FAIL("ports = (\n{ name = \"n\"; kind = \"kernel\"; ifname = \"n0\"; uplink = true; node = true; }\n);",
	     2, "ports[0]: a port is the node's own stack (node = true) or an uplink, not both");
	FAIL("node = { addresses = [ \"192.168.5.1\", \"192.168.5.1\" ]; };", 1,
	     "node.addresses[1] '192.168.5.1' is listed twice");
	FAIL("node = { addresses = [ \"192.168.5.1/33\" ]; };", 1,
	     "node.addresses[0] '192.168.5.1/33' must be an IPv4 or IPv6 address, optionally with its subnet's length");
	FAIL("node = { addresses = [ \"192.168.5.1/\" ]; };", 1, "node.addresses[0] '192.168.5.1/'");
	FAIL("node = { addresses = [ \"192.168.5.1/+24\" ]; };", 1, "node.addresses[0] '192.168.5.1/+24'");
	FAIL("node = { addresses = [ \"fd00:10:244::9\" ]; };", 1,
	     "node.addresses[0] 'fd00:10:244::9' lies in the pod or service CIDR");
	FAIL("metrics = { listen = \"127.0.0.1\"; };", 1, "metrics.listen '127.0.0.1': give ADDRESS:PORT");
	FAIL("metrics = { port = 9464; };", 1, "unknown key metrics.port");
	if (OK("metrics = { listen = \"[::1]:9464\"; };")) {
		CU_ASSERT_STRING_EQUAL(cfg.metrics.listen, "[::1]:9464");
		psw_config_free(&cfg);
	}
	/* log: levels, format, rate, per-subsystem levels */
	FAIL("log = { level = \"loud\"; };", 1, "log.level 'loud': error, warning, info or debug");
	FAIL("log = { format = \"xml\"; };", 1, "log.format 'xml': text or json");
	FAIL("log = { rate = -1; };", 1, "log.rate -1 is out of range");
	FAIL("log = {\n subsystems = { neighbours = \"debug\"; };\n};", 2,
	     "log.subsystems.neighbours: no such subsystem");
	FAIL("log = { subsystems = { api = \"verbose\"; }; };", 1, "log.subsystems.api: give");
	FAIL("log = { subsystems = { api = 3; }; };", 1, "log.subsystems.api: give");
	FAIL("log = { subsystems = [ \"api\" ]; };", 1, "log.subsystems: a group");
	FAIL("log = { colour = true; };", 1, "unknown key log.colour");
	if (OK("")) {
		CU_ASSERT_EQUAL(cfg.log.level, PSW_LOG_INFO);
		CU_ASSERT_FALSE(cfg.log.json);
		CU_ASSERT_EQUAL(cfg.log.rate, 20);
		CU_ASSERT_EQUAL(cfg.log.subsystem[PSW_LOGS_API], PSW_LOG_LEVEL_COUNT);
		psw_config_free(&cfg);
	}
	if (OK("log = { level = \"warning\"; format = \"json\"; rate = 0;\n"
	       "        subsystems = { api = \"debug\"; dpdk = \"error\"; }; };")) {
		CU_ASSERT_EQUAL(cfg.log.level, PSW_LOG_WARN);
		CU_ASSERT_TRUE(cfg.log.json);
		CU_ASSERT_EQUAL(cfg.log.rate, 0);
		CU_ASSERT_EQUAL(cfg.log.subsystem[PSW_LOGS_API], PSW_LOG_DEBUG);
		CU_ASSERT_EQUAL(cfg.log.subsystem[PSW_LOGS_DPDK], PSW_LOG_ERR);
		CU_ASSERT_EQUAL(cfg.log.subsystem[PSW_LOGS_STATE], PSW_LOG_LEVEL_COUNT);
		psw_config_free(&cfg);
	}
	/* the policy audit log: values only here (the file is opened by the switch) */
	FAIL("audit = { file = \"audit.log\"; };", 1, "audit.file 'audit.log' must be an absolute path");
	FAIL("audit = { file = \"/var/log/\"; };", 1, "audit.file '/var/log/' must name a file");
	FAIL("audit = { file = \"/var/log/../etc/x\"; };", 1, "must name a file (no trailing '/', no '..')");
	FAIL("audit = {\n file = \"/tmp/a\";\n rate = 0; };", 3, "audit.rate 0 is out of range; it must be 1..100000");
	FAIL("audit = { burst = 0; };", 1, "audit.burst 0 is out of range");
	FAIL("audit = { files = 101; };", 1, "audit.files 101 is out of range; it must be 1..100");
	FAIL("audit = { max_bytes = 4095; };", 1, "audit.max_bytes 4095 is out of range");
	FAIL("audit = { allowed = 1; };", 1, "audit.allowed must be a boolean");
	FAIL("audit = { path = \"/x\"; };", 1, "unknown key audit.path");
	if (OK("")) {
		CU_ASSERT_STRING_EQUAL(cfg.audit.file, "");       /* off by default */
		CU_ASSERT_FALSE(cfg.audit.all_namespaces);
		CU_ASSERT_FALSE(cfg.audit.allowed);
		CU_ASSERT_EQUAL(cfg.audit.max_bytes, 10u << 20);
		CU_ASSERT_EQUAL(cfg.audit.files, 5);
		CU_ASSERT_EQUAL(cfg.audit.rate, 10);
		CU_ASSERT_EQUAL(cfg.audit.burst, 50);
		psw_config_free(&cfg);
	}
	if (OK("audit = { file = \"/var/log/psw/audit.log\"; all_namespaces = true; allowed = true; "
	       "max_bytes = 1099511627776L; files = 100; rate = 100000; burst = 1000000; };")) {
		CU_ASSERT_STRING_EQUAL(cfg.audit.file, "/var/log/psw/audit.log");
		CU_ASSERT_TRUE(cfg.audit.all_namespaces && cfg.audit.allowed);
		CU_ASSERT_EQUAL(cfg.audit.max_bytes, 1ull << 40);
		CU_ASSERT_EQUAL(cfg.audit.files, 100);
		CU_ASSERT_EQUAL(cfg.audit.burst, 1000000);
		psw_config_free(&cfg);
	}
	FAIL("node = { service_cidr6 = \"fd00:10:244::/112\"; };", 1,
	     "node.service_cidr6 fd00:10:244::/112 overlaps node.pod_cidr6 fd00:10:244::/64");
	FAIL("node = { service_cidr6 = \"fd00:96::/48\"; };", 1, "node.service_cidr6");
	FAIL("node = { service_cidr6 = \"10.96.0.0/12\"; };", 1, "node.service_cidr6");
	FAIL("node = { service_cidr6 = \"fd00:96::/112\"; addresses = [ \"fd00:96::5\" ]; };", 1,
	     "node.addresses[0] 'fd00:96::5' lies in the pod or service CIDR");
	FAIL("node = { service_cidr6 = \"fd00:96::/112\"; };\ncluster = { pod_cidr6 = \"fd00::/8\"; };", 2,
	     "cluster.pod_cidr fd00::/8 overlaps node.service_cidr6 fd00:96::/112");
	if (OK("node = { service_cidr6 = \"fd00:96::/112\"; };")) {
		CU_ASSERT_EQUAL(cfg.node.service_cidr6.family, 6);
		CU_ASSERT_EQUAL(cfg.node.service_cidr6.len, 112);
		psw_config_free(&cfg);
	}
	if (OK("node = { name = \"x\"; };")) {
		CU_ASSERT_EQUAL(cfg.node.service_cidr6.family, 0);     /* none by default */
		psw_config_free(&cfg);
	}
	FAIL("cluster = { encapsulation = \"gre\"; };", 1,
	     "cluster.encapsulation 'gre' is not one of \"none\" (native routing), \"vxlan\" or \"geneve\"");
	FAIL("cluster = { pod_cidr = \"10.245.0.0/16\"; };", 1,
	     "node.pod_cidr 10.244.0.0/24 is not inside cluster.pod_cidr 10.245.0.0/16");
	FAIL("cluster = { pod_cidr = [ \"10.244.0.0/16\", \"10.0.0.0/8\" ]; };", 1,
	     "cluster.pod_cidr[1]: a second IPv4 prefix");
	FAIL("cluster = { vni = 16777216; };", 1, "cluster.vni");
	FAIL("cluster = { mtu = 1; };", 1, "unknown key cluster.mtu");
	FAIL("node = { addresses = [ \"192.168.5.1\" ]; };\n" UPLINK
	     "routes = (\n{ prefix = \"0.0.0.0/0\"; via = \"192.168.5.254\"; mac = \"02:00:00:00:00:01\"; }\n);",
	     6, "routes[0]: give the next hop's mac or its address (via), not both");
	FAIL("node = { addresses = [ \"192.168.5.1\" ]; };\n" UPLINK
	     "routes = (\n{ prefix = \"0.0.0.0/0\"; via = \"fd00::1\"; }\n);", 6,
	     "routes[0].via fd00::1 is not of the prefix's family (IPv4)");
	FAIL("node = { addresses = [ \"192.168.5.1\" ]; };\n" UPLINK
	     "routes = (\n{ prefix = \"0.0.0.0/0\"; via = \"192.168.5.1\"; }\n);", 6,
	     "routes[0].via 192.168.5.1 is the node's own");
	FAIL("node = { addresses = [ \"192.168.5.1\" ]; };\n" UPLINK
	     "routes = (\n{ prefix = \"::/0\"; via = \"ff02::2\"; }\n);", 6,
	     "routes[0].via ff02::2 is not a unicast address");
	FAIL("node = { addresses = [ \"192.168.5.1\" ]; };\n" UPLINK
	     "routes = (\n{ prefix = \"::/0\"; via = \"fd00:10:244::7\"; }\n);", 6,
	     "routes[0].via fd00:10:244::7 is the node's own or a local pod's address");
	if (OK("node = { addresses = [ \"192.168.5.1\", \"fd00:5::1/64\" ]; };\n" UPLINK
	       "routes = (\n{ prefix = \"::/0\"; via = \"fe80::1\"; port = \"up\"; },\n"
	       "{ prefix = \"fd00:99::/64\"; via = \"fd00:5::fe\"; }\n);")) {
		CU_ASSERT_EQUAL(cfg.routes[0].via_family, 6);
		CU_ASSERT_EQUAL(cfg.routes[0].via[0], 0xfe);
		CU_ASSERT_EQUAL(cfg.routes[1].via[15], 0xfe);
		psw_config_free(&cfg);
	}
	FAIL(PORTS "routes = (\n{ prefix = \"0.0.0.0/0\"; via = \"192.168.5.254\"; port = \"c\"; }\n);", 7,
	     "routes[0].via: port 'c' is not an uplink; next hops are resolved (ARP, ND) on uplinks only");
	FAIL(PORTS "routes = (\n{ prefix = \"0.0.0.0/0\"; via = \"192.168.5.254\"; }\n);", 7,
	     "routes[0]: via without a port is resolved on the uplinks, and no port has uplink = true");
	if (OK("node = { addresses = [ \"192.168.5.1\", \"fd00:5::1/64\", \"192.168.6.1/24\" ]; };\n"
	       "cluster = { pod_cidr = [ \"10.244.0.0/16\", \"fd00:10:244::/56\" ]; encapsulation = \"vxlan\"; "
	       "vni = 7; vxlan_port = 8472; };\n" UPLINK
	       "routes = (\n{ prefix = \"0.0.0.0/0\"; via = \"192.168.5.254\"; }\n);")) {
		CU_ASSERT_EQUAL(cfg.node.nb_addresses, 2);
		CU_ASSERT_EQUAL(cfg.node.nb_addresses6, 1);
		CU_ASSERT_EQUAL(cfg.node.addresses[1][2], 6);
		CU_ASSERT_EQUAL(cfg.node.addresses6[0][3], 5);
		CU_ASSERT_EQUAL(cfg.node.address_len[0], 32);
		CU_ASSERT_EQUAL(cfg.node.address_len[1], 24);
		CU_ASSERT_EQUAL(cfg.node.address6_len[0], 64);
		CU_ASSERT_TRUE(cfg.ports[0].uplink);
		CU_ASSERT_EQUAL(cfg.cluster.pod_cidr.len, 16);
		CU_ASSERT_EQUAL(cfg.cluster.pod_cidr6.len, 56);
		CU_ASSERT_EQUAL(cfg.cluster.encap, PSW_ENCAP_VXLAN);
		CU_ASSERT_EQUAL(cfg.cluster.vni, 7);
		CU_ASSERT_EQUAL(cfg.cluster.vxlan_port, 8472);
		CU_ASSERT_EQUAL(cfg.routes[0].via_family, 4);
		CU_ASSERT_EQUAL(cfg.routes[0].via[3], 254);
		CU_ASSERT_STRING_EQUAL(cfg.routes[0].port, "");
		psw_config_free(&cfg);
	}
	if (OK("cluster = { pod_cidr = \"10.244.0.0/16\"; };")) {
		CU_ASSERT_EQUAL(cfg.cluster.pod_cidr.family, 4);
		CU_ASSERT_EQUAL(cfg.cluster.pod_cidr6.family, 0);
		CU_ASSERT_EQUAL(cfg.cluster.encap, PSW_ENCAP_NONE);
		CU_ASSERT_EQUAL(cfg.cluster.vxlan_port, 4789);
		CU_ASSERT_EQUAL(cfg.cluster.geneve_port, 6081);
		CU_ASSERT_EQUAL(cfg.cluster.vni, 1);
		psw_config_free(&cfg);
	}
	if (OK("node = { addresses = [ \"192.168.5.1\" ]; };\n"
	       "cluster = { pod_cidr = \"10.244.0.0/16\"; encapsulation = \"geneve\"; geneve_port = 6082; };\n"
	       UPLINK)) {
		CU_ASSERT_EQUAL(cfg.cluster.encap, PSW_ENCAP_GENEVE);
		CU_ASSERT_EQUAL(cfg.cluster.geneve_port, 6082);
		CU_ASSERT_EQUAL(psw_config_pod_mtu(&cfg), psw_config_uplink_mtu(&cfg) - 50);
		psw_config_free(&cfg);
	}
	/* no_masquerade: prefixes of either family, no host bits, at most 16 */
	if (OK("cluster = { pod_cidr = \"10.244.0.0/16\"; no_masquerade = [ \"192.168.0.0/16\", "
	       "\"2001:db8:5::/48\" ]; };")) {
		CU_ASSERT_EQUAL(cfg.cluster.nb_no_masquerade, 2);
		CU_ASSERT_EQUAL(cfg.cluster.no_masquerade[0].family, 4);
		CU_ASSERT_EQUAL(cfg.cluster.no_masquerade[1].family, 6);
		CU_ASSERT_EQUAL(cfg.cluster.no_masquerade[1].len, 48);
		CU_ASSERT_EQUAL(cfg.cluster.no_masquerade[1].addr[5], 5);
		psw_config_free(&cfg);
	}
	FAIL("cluster = { no_masquerade = [ \"2001:db8::1/32\" ]; };", 1,
	     "cluster.no_masquerade[0] must be an IPv4 or IPv6 prefix with no host bits");
	FAIL("cluster = { no_masquerade = \"10.0.0.0/8\"; };", 1,
	     "cluster.no_masquerade must be a list of IPv4 or IPv6 prefixes");
}
#undef UPLINK

/* ------------------------------------------------------------ files */

static char tmp_dir[64];

static void write_file(const char *name, const char *text)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmp_dir, name);
	f = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs(text, f);
	fclose(f);
}

static void test_load_file_errors(void)
{
	char path[128], expected[256];
	int rc;

	rc = psw_config_load_file("/nonexistent/podswitch.conf", &cfg, err, sizeof(err));
	CU_ASSERT_EQUAL(rc, -ENOENT);
	CU_ASSERT_STRING_EQUAL(err, "cannot read '/nonexistent/podswitch.conf': No such file or directory");
	CU_ASSERT_TRUE(is_zeroed(&cfg));

	rc = psw_config_load_file(tmp_dir, &cfg, err, sizeof(err));
	CU_ASSERT_EQUAL(rc, -EISDIR);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "cannot read '"));
	CU_ASSERT_TRUE(is_zeroed(&cfg));

	write_file("syntax.conf", "node = {\n\n  pod_cidr = \"10.0.0.0/8\"\n  gateway = ;\n};\n");
	snprintf(path, sizeof(path), "%s/syntax.conf", tmp_dir);
	rc = psw_config_load_file(path, &cfg, err, sizeof(err));
	CU_ASSERT_EQUAL(rc, -EINVAL);
	snprintf(expected, sizeof(expected), "%s:4: syntax error", path);
	CU_ASSERT_STRING_EQUAL(err, expected);
	CU_ASSERT_TRUE(is_zeroed(&cfg));

	write_file("bad.conf", "# comment\nlimits = {\n  mbufs = 10;\n};\n");
	snprintf(path, sizeof(path), "%s/bad.conf", tmp_dir);
	rc = psw_config_load_file(path, &cfg, err, sizeof(err));
	CU_ASSERT_EQUAL(rc, -EINVAL);
	snprintf(expected, sizeof(expected), "%s:3: limits.mbufs 10 is out of range", path);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, expected));

	/* An @include'd file is found next to the including one and named in messages. */
	write_file("inc-bad.conf", "node = {\n  name = 7;\n};\n");
	write_file("main-bad.conf", "@include \"inc-bad.conf\"\n");
	snprintf(path, sizeof(path), "%s/main-bad.conf", tmp_dir);
	rc = psw_config_load_file(path, &cfg, err, sizeof(err));
	CU_ASSERT_EQUAL(rc, -EINVAL);
	snprintf(expected, sizeof(expected), "inc-bad.conf:2: node.name must be a string");
	CU_ASSERT_PTR_NOT_NULL(strstr(err, expected));

	CU_ASSERT_EQUAL(psw_config_load_file(NULL, &cfg, err, sizeof(err)), -EINVAL);
	CU_ASSERT_EQUAL(psw_config_parse("", "t.conf", NULL, err, sizeof(err)), -EINVAL);
	/* No room for a message is no reason to crash. */
	CU_ASSERT_EQUAL(psw_config_parse("node = 1;", "t.conf", &cfg, NULL, 0), -EINVAL);
	CU_ASSERT_TRUE(is_zeroed(&cfg));
}

static void test_load_file(void)
{
	char path[128];
	int rc;

	write_file("inc.conf", "node = {\n  name = \"included\";\n};\n");
	write_file("main.conf", "@include \"inc.conf\"\napi = { socket = \"/tmp/t.sock\"; };\n");
	snprintf(path, sizeof(path), "%s/main.conf", tmp_dir);
	rc = psw_config_load_file(path, &cfg, err, sizeof(err));
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	CU_ASSERT_STRING_EQUAL(cfg.source, path);
	CU_ASSERT_STRING_EQUAL(cfg.node.name, "included");
	CU_ASSERT_STRING_EQUAL(cfg.api.socket, "/tmp/t.sock");
	psw_config_free(&cfg);
}

/* ------------------------------------------------------------ function */

static unsigned usable_cpus(cpu_set_t *set)
{
	CPU_ZERO(set);
	if (sched_getaffinity(0, sizeof(*set), set) != 0)
		return 0;
	return (unsigned)CPU_COUNT(set);
}

static void check_defaults(const struct psw_config *c)
{
	uint8_t gw6[16] = { 0xfd, 0x00, 0x00, 0x10, 0x02, 0x44 };
	char host[256] = "", buf[64];
	cpu_set_t set;
	unsigned nb_cpus = usable_cpus(&set);

	gw6[15] = 1;
	CU_ASSERT_FALSE(c->eal.hugepages);
	CU_ASSERT_EQUAL(c->eal.memory_mb, 512);
	CU_ASSERT_STRING_EQUAL(c->eal.file_prefix, "podswitch");
	CU_ASSERT_TRUE(CPU_ISSET(c->eal.main_core, &set));
	if (CPU_ISSET(0, &set))
		CU_ASSERT_EQUAL(c->eal.main_core, 0);
	CU_ASSERT_EQUAL(c->eal.nb_args, 0);
	CU_ASSERT_EQUAL(c->workers.nb, 1);
	CU_ASSERT_TRUE(CPU_ISSET(c->workers.cores[0], &set));
	if (nb_cpus >= 2)
		CU_ASSERT_NOT_EQUAL(c->workers.cores[0], c->eal.main_core);
	if (nb_cpus >= 2 && CPU_ISSET(0, &set) && CPU_ISSET(1, &set))
		CU_ASSERT_EQUAL(c->workers.cores[0], 1);
	if (nb_cpus == 1)
		CU_ASSERT_EQUAL(c->workers.cores[0], c->eal.main_core);
	CU_ASSERT_EQUAL(c->workers.idle_sleep_us, 200);

	gethostname(host, sizeof(host) - 1);
	CU_ASSERT_EQUAL(strncmp(c->node.name, host, PSW_NAME_MAX - 1), 0);
	CU_ASSERT_STRING_EQUAL(psw_prefix_str(&c->node.pod_cidr, buf, sizeof(buf)), "10.244.0.0/24");
	CU_ASSERT_EQUAL(memcmp(c->node.gateway, "\x0a\xf4\x00\x01", 4), 0);
	CU_ASSERT_STRING_EQUAL(psw_prefix_str(&c->node.pod_cidr6, buf, sizeof(buf)), "fd00:10:244::/64");
	CU_ASSERT_EQUAL(memcmp(c->node.gateway6, gw6, 16), 0);
	CU_ASSERT_STRING_EQUAL(psw_prefix_str(&c->node.service_cidr, buf, sizeof(buf)), "10.96.0.0/12");
	CU_ASSERT_EQUAL(c->node.nodeport_min, 30000);
	CU_ASSERT_EQUAL(c->node.nodeport_max, 32767);
	CU_ASSERT_EQUAL(memcmp(c->node.gateway_mac, "\x02\x50\x53\x57\x00\x01", 6), 0);
	CU_ASSERT_STRING_EQUAL(c->api.socket, "/run/podswitch/podswitch.sock");
	CU_ASSERT_EQUAL(c->limits.mbufs, 16384);
	CU_ASSERT_EQUAL(c->limits.max_pods, 1024);
	CU_ASSERT_EQUAL(c->limits.max_routes, 1024);
	CU_ASSERT_EQUAL(c->limits.rx_desc, 1024);
	CU_ASSERT_EQUAL(c->limits.tx_desc, 1024);
	CU_ASSERT_EQUAL(c->nb_ports, 0);
	CU_ASSERT_EQUAL(c->nb_pods, 0);
	CU_ASSERT_PTR_NULL(c->pods);
	CU_ASSERT_EQUAL(c->nb_routes, 0);
	CU_ASSERT_PTR_NULL(c->routes);
}

static void test_defaults_from_empty_text(void)
{
	if (!OK(""))
		return;
	CU_ASSERT_STRING_EQUAL(cfg.source, "t.conf");
	check_defaults(&cfg);
	psw_config_free(&cfg);

	/* Empty groups are the same as absent ones. */
	if (!OK("eal = { };\nworkers = { };\nnode = { };\napi = { };\nlimits = { };\n"
		"ports = ( );\npods = [ ];\nroutes = ( );\n"))
		return;
	check_defaults(&cfg);
	psw_config_free(&cfg);
}

static void test_default_text(void)
{
	struct psw_config empty;
	int rc;

	CU_ASSERT_PTR_NOT_NULL_FATAL(psw_config_default_text());
	rc = psw_config_parse(psw_config_default_text(), "<default>", &cfg, err, sizeof(err));
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	check_defaults(&cfg);
	/* The text is exactly the defaults of an empty file. */
	CU_ASSERT_EQUAL_FATAL(psw_config_parse("", "<default>", &empty, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(memcmp(&cfg, &empty, sizeof(cfg)), 0);
	psw_config_free(&cfg);
	psw_config_free(&empty);

	/* NULL text is the embedded default. */
	rc = psw_config_parse(NULL, NULL, &cfg, err, sizeof(err));
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	CU_ASSERT_STRING_EQUAL(cfg.source, "<default>");
	check_defaults(&cfg);
	psw_config_free(&cfg);
}

static void test_partial_node(void)
{
	char buf[64];

	/* CONTRACT §2: a node group with pod_cidr and gateway is complete. */
	if (!OK("node = { pod_cidr = \"10.1.0.0/16\"; gateway = \"10.1.0.1\"; };"))
		return;
	CU_ASSERT_STRING_EQUAL(psw_prefix_str(&cfg.node.pod_cidr, buf, sizeof(buf)), "10.1.0.0/16");
	CU_ASSERT_EQUAL(memcmp(cfg.node.gateway, "\x0a\x01\x00\x01", 4), 0);
	CU_ASSERT_STRING_EQUAL(psw_prefix_str(&cfg.node.service_cidr, buf, sizeof(buf)), "10.96.0.0/12");
	CU_ASSERT_STRING_EQUAL(cfg.api.socket, "/run/podswitch/podswitch.sock");
	CU_ASSERT_EQUAL(cfg.limits.mbufs, 16384);
	psw_config_free(&cfg);

	/* The default gateway follows the given pod_cidr. */
	if (!OK("node = { pod_cidr = \"192.168.8.0/22\"; pod_cidr6 = \"fd12:3456::/48\"; };"))
		return;
	CU_ASSERT_EQUAL(memcmp(cfg.node.gateway, "\xc0\xa8\x08\x01", 4), 0);
	CU_ASSERT_EQUAL(memcmp(cfg.node.gateway6, "\xfd\x12\x34\x56\0\0\0\0\0\0\0\0\0\0\0\x01", 16), 0);
	psw_config_free(&cfg);

	/* IPv6 off: no prefix, no gateway; an empty gateway6 is allowed. */
	if (!OK("node = { pod_cidr6 = \"\"; gateway6 = \"\"; };"))
		return;
	CU_ASSERT_EQUAL(cfg.node.pod_cidr6.family, 0);
	CU_ASSERT_EQUAL(memcmp(cfg.node.gateway6, (uint8_t[16]){ 0 }, 16), 0);
	psw_config_free(&cfg);
}

static void test_int64_and_hex_integers(void)
{
	if (!OK("eal = { memory_mb = 1024L; main_core = 0L; };\nworkers = { cores = [ 0L, 0L ]; "
		"idle_sleep_us = 0; };\nlimits = { mbufs = 0x8000; rx_desc = 64L; tx_desc = 4096; };"))
		return;
	CU_ASSERT_EQUAL(cfg.eal.memory_mb, 1024);
	CU_ASSERT_EQUAL(cfg.workers.nb, 2);
	CU_ASSERT_EQUAL(cfg.workers.cores[1], 0);
	CU_ASSERT_EQUAL(cfg.workers.idle_sleep_us, 0);
	CU_ASSERT_EQUAL(cfg.limits.mbufs, 32768);
	CU_ASSERT_EQUAL(cfg.limits.rx_desc, 64);
	CU_ASSERT_EQUAL(cfg.limits.tx_desc, 4096);
	psw_config_free(&cfg);
}

static void test_full_config(void)
{
	static const char text[] =
		"eal = { hugepages = true; memory_mb = 2048; file_prefix = \"node-2_a\"; main_core = 0;\n"
		"  args = ( \"--log-level=debug\", \"--no-telemetry\" ); };\n"
		"workers = { cores = [ 0, 0, 0 ]; idle_sleep_us = 100000; };\n"
		"node = { name = \"worker-1\"; pod_cidr = \"10.20.0.0/23\"; gateway = \"10.20.1.254\";\n"
		"  pod_cidr6 = \"fd00:20::/56\"; gateway6 = \"fd00:20::fe\"; service_cidr = \"10.21.0.0/16\";\n"
		"  nodeport_range = \"80-80\"; gateway_mac = \"0A:BB:cc:DD:ee:FF\"; };\n"
		"api = { socket = \"/tmp/psw/api.sock\"; };\n"
		"limits = { mbufs = 4194304; max_pods = 2; max_routes = 1000000; rx_desc = 512; tx_desc = 256; };\n"
		"ports = (\n"
		"  { name = \"up0\"; kind = \"nic\"; pci = \"0000:0A:1f.7\"; rx_queues = 4; rss = false; mtu = 9000; },\n"
		"  { name = \"up1\"; kind = \"nic\"; pci = \"03:00.0\"; mac = \"02:00:00:00:01:00\"; },\n"
		"  { name = \"v\"; kind = \"vhost-user\"; socket = \"/tmp/psw/v.sock\"; client = true; queues = 16; },\n"
		"  { name = \"v2\"; kind = \"vhost-user\"; socket = \"/tmp/psw/v2.sock\"; },\n"
		"  { name = \"m\"; kind = \"memif\"; socket = \"/tmp/psw/m.memif\"; id = 4294967295L; },\n"
		"  { name = \"k\"; kind = \"kernel\"; ifname = \"psw-k\"; mac = \"02:00:00:00:00:0c\"; mtu = 68; },\n"
		"  { name = \"af.0\"; kind = \"af_packet\"; ifname = \"veth0\"; },\n"
		"  { name = \"r\"; kind = \"ring\"; },\n"
		"  { name = \"p\"; kind = \"pcap\"; tx_pcap = \"out.pcap\"; },\n"
		"  { name = \"n\"; kind = \"null\"; }\n"
		");\n"
		"pods = (\n"
		"  { name = \"a\"; port = \"v\"; mac = \"02:00:00:00:00:0a\"; ip = \"10.20.0.10\"; ip6 = \"fd00:20::a\"; },\n"
		"  { name = \"b\"; namespace = \"kube-system\"; port = \"k\"; mac = \"02:00:00:00:00:0b\";\n"
		"    ip = \"10.20.1.0\"; }\n"
		");\n"
		"routes = (\n"
		"  { prefix = \"0.0.0.0/0\"; port = \"up0\"; mac = \"02:00:00:00:00:fe\"; },\n"
		"  { prefix = \"fd00:30::/48\"; port = \"up1\"; mac = \"02:00:00:00:00:fd\"; }\n"
		");\n";
	const struct psw_port_conf *p;
	char buf[64];

	if (!OK(text))
		return;
	CU_ASSERT_TRUE(cfg.eal.hugepages);
	CU_ASSERT_EQUAL(cfg.eal.memory_mb, 2048);
	CU_ASSERT_STRING_EQUAL(cfg.eal.file_prefix, "node-2_a");
	CU_ASSERT_EQUAL(cfg.eal.nb_args, 2);
	CU_ASSERT_STRING_EQUAL(cfg.eal.args[1], "--no-telemetry");
	CU_ASSERT_EQUAL(cfg.workers.nb, 3);
	CU_ASSERT_EQUAL(cfg.workers.idle_sleep_us, 100000);
	CU_ASSERT_STRING_EQUAL(cfg.node.name, "worker-1");
	CU_ASSERT_EQUAL(memcmp(cfg.node.gateway, "\x0a\x14\x01\xfe", 4), 0);
	CU_ASSERT_STRING_EQUAL(psw_prefix_str(&cfg.node.pod_cidr6, buf, sizeof(buf)), "fd00:20::/56");
	CU_ASSERT_EQUAL(cfg.node.gateway6[15], 0xfe);
	CU_ASSERT_EQUAL(cfg.node.nodeport_min, 80);
	CU_ASSERT_EQUAL(cfg.node.nodeport_max, 80);
	CU_ASSERT_EQUAL(memcmp(cfg.node.gateway_mac, "\x0a\xbb\xcc\xdd\xee\xff", 6), 0);
	CU_ASSERT_STRING_EQUAL(cfg.api.socket, "/tmp/psw/api.sock");
	CU_ASSERT_EQUAL(cfg.limits.mbufs, 4194304);
	CU_ASSERT_EQUAL(cfg.limits.max_routes, 1000000);
	CU_ASSERT_EQUAL(cfg.limits.rx_desc, 512);
	CU_ASSERT_EQUAL(cfg.limits.tx_desc, 256);

	CU_ASSERT_EQUAL_FATAL(cfg.nb_ports, 10);
	p = &cfg.ports[0];
	CU_ASSERT_EQUAL(p->kind, PSW_PORT_NIC);
	CU_ASSERT_STRING_EQUAL(p->pci, "0000:0a:1f.7");
	CU_ASSERT_EQUAL(p->nb_rx_queues, 4);
	CU_ASSERT_FALSE(p->rss);
	CU_ASSERT_EQUAL(p->mtu, 9000);
	CU_ASSERT_FALSE(p->has_mac);
	CU_ASSERT_EQUAL(p->line, 10);
	p = &cfg.ports[1];
	CU_ASSERT_STRING_EQUAL(p->pci, "0000:03:00.0");
	CU_ASSERT_EQUAL(p->nb_rx_queues, 0);
	CU_ASSERT_TRUE(p->rss);
	CU_ASSERT_EQUAL(p->mtu, 0);
	CU_ASSERT_TRUE(p->has_mac);
	CU_ASSERT_EQUAL(p->mac[4], 0x01);
	p = &cfg.ports[2];
	CU_ASSERT_EQUAL(p->kind, PSW_PORT_VHOST);
	CU_ASSERT_STRING_EQUAL(p->socket, "/tmp/psw/v.sock");
	CU_ASSERT_TRUE(p->client);
	CU_ASSERT_EQUAL(p->queues, 16);
	p = &cfg.ports[3];
	CU_ASSERT_FALSE(p->client);
	CU_ASSERT_EQUAL(p->queues, 1);
	p = &cfg.ports[4];
	CU_ASSERT_EQUAL(p->kind, PSW_PORT_MEMIF);
	CU_ASSERT_EQUAL(p->memif_id, 4294967295u);
	CU_ASSERT_EQUAL(p->queues, 0);
	p = &cfg.ports[5];
	CU_ASSERT_EQUAL(p->kind, PSW_PORT_KERNEL);
	CU_ASSERT_STRING_EQUAL(p->ifname, "psw-k");
	CU_ASSERT_EQUAL(p->mtu, 68);
	CU_ASSERT_EQUAL(cfg.ports[6].kind, PSW_PORT_AFPACKET);
	CU_ASSERT_STRING_EQUAL(cfg.ports[6].ifname, "veth0");
	CU_ASSERT_EQUAL(cfg.ports[7].kind, PSW_PORT_RING);
	CU_ASSERT_EQUAL(cfg.ports[8].kind, PSW_PORT_PCAP);
	CU_ASSERT_STRING_EQUAL(cfg.ports[8].rx_pcap, "");
	CU_ASSERT_STRING_EQUAL(cfg.ports[8].tx_pcap, "out.pcap");
	CU_ASSERT_EQUAL(cfg.ports[9].kind, PSW_PORT_NULL);

	CU_ASSERT_EQUAL_FATAL(cfg.nb_pods, 2);
	CU_ASSERT_STRING_EQUAL(cfg.pods[0].namespace_, "default");
	CU_ASSERT_STRING_EQUAL(cfg.pods[0].port, "v");
	CU_ASSERT_TRUE(cfg.pods[0].has_ip4 && cfg.pods[0].has_ip6);
	CU_ASSERT_EQUAL(cfg.pods[0].ip6[15], 0x0a);
	CU_ASSERT_EQUAL(cfg.pods[0].line, 22);
	CU_ASSERT_STRING_EQUAL(cfg.pods[1].namespace_, "kube-system");
	CU_ASSERT_TRUE(cfg.pods[1].has_ip4);
	CU_ASSERT_FALSE(cfg.pods[1].has_ip6);
	CU_ASSERT_EQUAL(memcmp(cfg.pods[1].ip4, "\x0a\x14\x01\x00", 4), 0);

	CU_ASSERT_EQUAL_FATAL(cfg.nb_routes, 2);
	CU_ASSERT_STRING_EQUAL(psw_prefix_str(&cfg.routes[0].prefix, buf, sizeof(buf)), "0.0.0.0/0");
	CU_ASSERT_STRING_EQUAL(cfg.routes[0].port, "up0");
	CU_ASSERT_STRING_EQUAL(psw_prefix_str(&cfg.routes[1].prefix, buf, sizeof(buf)), "fd00:30::/48");
	CU_ASSERT_EQUAL(cfg.routes[1].mac[5], 0xfd);
	CU_ASSERT_EQUAL(cfg.routes[1].line, 28);
	psw_config_free(&cfg);
}

/* key appears in text as a word (not inside a longer name). */
static bool mentions(const char *text, const char *key)
{
	size_t len = strlen(key);

	for (const char *p = strstr(text, key); p != NULL; p = strstr(p + 1, key)) {
		char before = p == text ? ' ' : p[-1], after = p[len];

		if (before != '_' && before != '.' && !(before >= 'a' && before <= 'z') &&
		    after != '_' && !(after >= 'a' && after <= 'z') && !(after >= '0' && after <= '9'))
			return true;
	}
	return false;
}

static void test_example_file(void)
{
	static const char *const keys[] = {
		"eal", "hugepages", "memory_mb", "file_prefix", "main_core", "args",
		"workers", "cores", "idle_sleep_us",
		"node", "name", "pod_cidr", "gateway", "pod_cidr6", "gateway6", "service_cidr",
		"nodeport_range", "gateway_mac",
		"api", "socket", "limits", "mbufs", "max_pods", "max_routes", "rx_desc", "tx_desc",
		"ports", "kind", "mac", "mtu", "pci", "rx_queues", "rss", "client", "queues", "id",
		"ifname", "rx_pcap", "tx_pcap", "pods", "namespace", "port", "ip", "ip6",
		"routes", "prefix", "via", "uplink", "addresses", "cluster", "encapsulation",
		"vxlan_port", "geneve_port", "vni",
		"\"nic\"", "\"vhost-user\"", "\"memif\"", "\"kernel\"", "\"af_packet\"", "\"ring\"",
		"\"pcap\"", "\"null\"",
	};
	char text[65536];
	size_t len;
	FILE *f;
	int rc;

	rc = psw_config_load_file(example_path, &cfg, err, sizeof(err));
	if (rc != 0)
		fprintf(stderr, "\n  %s\n", err);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	CU_ASSERT_STRING_EQUAL(cfg.source, example_path);
	CU_ASSERT_TRUE(cfg.nb_ports >= 4);
	CU_ASSERT_TRUE(cfg.nb_pods >= 1);
	CU_ASSERT_TRUE(cfg.nb_routes >= 1);
	psw_config_free(&cfg);

	/* It documents every key. */
	f = fopen(example_path, "r");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	len = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[len] = '\0';
	for (unsigned i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		char cond[128];

		snprintf(cond, sizeof(cond), "the example documents %s", keys[i]);
		CU_assertImplementation(mentions(text, keys[i]), __LINE__, cond, __FILE__, "", CU_FALSE);
	}
}

static void test_free(void)
{
	struct psw_config zero;

	memset(&zero, 0, sizeof(zero));
	psw_config_free(NULL);
	psw_config_free(&zero);
	CU_ASSERT_TRUE(is_zeroed(&zero));
	if (!OK(PORTS "pods = ( " POD_A " );\nroutes = ( { prefix = \"fd01::/64\"; port = \"b\"; "
		"mac = \"02:00:00:00:00:fe\"; } );"))
		return;
	CU_ASSERT_PTR_NOT_NULL(cfg.pods);
	CU_ASSERT_PTR_NOT_NULL(cfg.routes);
	psw_config_free(&cfg);
	CU_ASSERT_PTR_NULL(cfg.pods);
	CU_ASSERT_PTR_NULL(cfg.routes);
	CU_ASSERT_EQUAL(cfg.nb_pods, 0);
	CU_ASSERT_EQUAL(cfg.nb_routes, 0);
	psw_config_free(&cfg);   /* twice is harmless */
}

static void test_port_kind_name(void)
{
	static const char *const names[PSW_PORT_KIND_COUNT] = {
		"nic", "vhost-user", "memif", "kernel", "af_packet", "ring", "pcap", "null"
	};

	CU_ASSERT_PTR_NULL(psw_port_kind_name(PSW_PORT_KIND_COUNT));
	CU_ASSERT_PTR_NULL(psw_port_kind_name((enum psw_port_kind)-1));
	for (int k = 0; k < PSW_PORT_KIND_COUNT; k++)
		CU_ASSERT_STRING_EQUAL(psw_port_kind_name((enum psw_port_kind)k), names[k]);
}

/* ------------------------------------------------------------ main */

struct test_case {
	const char *name;
	CU_TestFunc fn;
};

static const struct test_case refusals[] = {
	{ "syntax errors carry their line", test_syntax_error },
	{ "unknown and mistyped top-level groups", test_top_level },
	{ "unknown keys name the known ones", test_unknown_keys },
	{ "eal", test_eal },
	{ "workers", test_workers },
	{ "node.name and node.pod_cidr", test_node_name_and_cidr },
	{ "node.gateway", test_node_gateway },
	{ "node.pod_cidr6 and node.gateway6", test_node_ipv6 },
	{ "node.service_cidr", test_node_service_cidr },
	{ "node.nodeport_range", test_node_nodeport_range },
	{ "node.gateway_mac", test_node_gateway_mac },
	{ "api", test_api },
	{ "limits", test_limits },
	{ "ports: shape, name, kind", test_port_shape },
	{ "ports: keys of other kinds", test_port_keys },
	{ "ports: mac and mtu", test_port_common_keys },
	{ "ports: nic", test_port_nic },
	{ "ports: vhost-user and memif", test_port_vhost_memif },
	{ "ports: kernel and af_packet", test_port_ifname },
	{ "ports: pcap", test_port_pcap },
	{ "ports: duplicates", test_port_duplicates },
	{ "ports: too many", test_port_too_many },
	{ "pods: shape and port", test_pod_shape },
	{ "pods: mac", test_pod_mac },
	{ "pods: addresses", test_pod_addresses },
	{ "pods: duplicates and limit", test_pod_duplicates },
	{ "routes", test_routes },
	{ "uplinks, node addresses, cluster, routes via", test_uplinks_and_cluster },
	{ "files that cannot be read or are bad", test_load_file_errors },
};

static const struct test_case functions[] = {
	{ "defaults of an empty text", test_defaults_from_empty_text },
	{ "the embedded default text", test_default_text },
	{ "a partial node group (CONTRACT)", test_partial_node },
	{ "64-bit and hex integers", test_int64_and_hex_integers },
	{ "every key of every kind", test_full_config },
	{ "load a file with @include", test_load_file },
	{ "the example file parses and documents every key", test_example_file },
	{ "psw_config_free", test_free },
	{ "psw_port_kind_name", test_port_kind_name },
};

static int make_tmp_dir(void)
{
	snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/psw-test-config-XXXXXX");
	return mkdtemp(tmp_dir) != NULL ? 0 : -1;
}

static int remove_tmp_dir(void)
{
	static const char *const files[] = {
		"syntax.conf", "bad.conf", "inc-bad.conf", "main-bad.conf", "inc.conf", "main.conf",
	};
	char path[128];

	for (unsigned i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", tmp_dir, files[i]);
		unlink(path);
	}
	return rmdir(tmp_dir) == 0 || errno == ENOENT ? 0 : -1;
}

static int add_suite(const char *name, const struct test_case *cases, size_t nb,
		     CU_InitializeFunc init, CU_CleanupFunc cleanup)
{
	CU_pSuite suite = CU_add_suite(name, init, cleanup);

	if (suite == NULL)
		return -1;
	for (size_t i = 0; i < nb; i++)
		if (CU_add_test(suite, cases[i].name, cases[i].fn) == NULL)
			return -1;
	return 0;
}

int main(int argc, char **argv)
{
	unsigned nb_failures;

	if (argc > 1)
		example_path = argv[1];
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	if (add_suite("config: refusals", refusals, sizeof(refusals) / sizeof(refusals[0]),
		      make_tmp_dir, NULL) < 0 ||
	    add_suite("config: function", functions, sizeof(functions) / sizeof(functions[0]),
		      NULL, remove_tmp_dir) < 0) {
		CU_cleanup_registry();
		return 2;
	}
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	nb_failures = CU_get_number_of_failures() + CU_get_number_of_suites_failed();
	CU_cleanup_registry();
	return nb_failures == 0 ? 0 : 1;
}
