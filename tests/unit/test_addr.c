/*
 * Unit tests of the configuration's address helpers (config/): IP, prefix
 * and MAC parsing, prefix containment, overlap and printing. No DPDK.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "psw_config.h"

static void test_parse_ip(void)
{
	static const char *const bad[] = {
		"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", " 1.2.3.4", "1.2.3.4 ",
		"fd00::g", "fd00:::1", "1:2:3:4:5:6:7:8:9", "localhost", "10.0.0.0/8",
	};
	uint8_t family = 9, addr[16], expect6[16] = { 0xfd, 0x00 };

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CU_ASSERT_EQUAL(psw_parse_ip(bad[i], &family, addr), -EINVAL);
	CU_ASSERT_EQUAL(psw_parse_ip(NULL, &family, addr), -EINVAL);
	CU_ASSERT_EQUAL(family, 9);

	memset(addr, 0xff, sizeof(addr));
	CU_ASSERT_EQUAL(psw_parse_ip("10.244.0.1", &family, addr), 0);
	CU_ASSERT_EQUAL(family, 4);
	CU_ASSERT_EQUAL(memcmp(addr, "\x0a\xf4\x00\x01", 4), 0);
	CU_ASSERT_EQUAL(addr[4], 0);
	CU_ASSERT_EQUAL(psw_parse_ip("fd00::1", &family, addr), 0);
	CU_ASSERT_EQUAL(family, 6);
	expect6[15] = 1;
	CU_ASSERT_EQUAL(memcmp(addr, expect6, 16), 0);
	CU_ASSERT_EQUAL(psw_parse_ip("::ffff:10.0.0.1", &family, addr), 0);
	CU_ASSERT_EQUAL(family, 6);
}

static void test_parse_prefix(void)
{
	static const char *const bad[] = {
		"", "10.0.0.0", "10.0.0.0/", "/8", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/+8",
		"10.0.0.0/08", "10.0.0.0/8 ", "10.0.0.1/8", "fd00::/129", "fd00::1/64", "x/8",
		"10.0.0.0//8", "10.0.0.0/1000",
	};
	struct psw_prefix p;

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CU_ASSERT_EQUAL(psw_parse_prefix(bad[i], &p), -EINVAL);
	CU_ASSERT_EQUAL(psw_parse_prefix(NULL, &p), -EINVAL);
	CU_ASSERT_EQUAL(psw_parse_prefix("10.0.0.0/8", NULL), -EINVAL);

	CU_ASSERT_EQUAL(psw_parse_prefix("10.244.0.0/24", &p), 0);
	CU_ASSERT_EQUAL(p.family, 4);
	CU_ASSERT_EQUAL(p.len, 24);
	CU_ASSERT_EQUAL(memcmp(p.addr, "\x0a\xf4\x00\x00", 4), 0);
	CU_ASSERT_EQUAL(psw_parse_prefix("0.0.0.0/0", &p), 0);
	CU_ASSERT_EQUAL(p.len, 0);
	CU_ASSERT_EQUAL(psw_parse_prefix("10.0.0.1/32", &p), 0);
	CU_ASSERT_EQUAL(psw_parse_prefix("10.0.2.0/23", &p), 0);
	CU_ASSERT_EQUAL(psw_parse_prefix("10.0.1.0/23", &p), -EINVAL);
	CU_ASSERT_EQUAL(psw_parse_prefix("fd00:10:244::/64", &p), 0);
	CU_ASSERT_EQUAL(p.family, 6);
	CU_ASSERT_EQUAL(p.len, 64);
	CU_ASSERT_EQUAL(psw_parse_prefix("::/0", &p), 0);
	CU_ASSERT_EQUAL(psw_parse_prefix("fd00::1/128", &p), 0);
	CU_ASSERT_EQUAL(p.len, 128);
}

static void test_parse_mac(void)
{
	static const char *const bad[] = {
		"", "02:00:00:00:00", "02:00:00:00:00:0g", "2:0:0:0:0:0", "02:00:00:00:00:001",
		"02-00-00-00-00-01", "0200.0000.0001", "02:00:00:00:00:01 ", " 02:00:00:00:00:01",
		"02:00:00:00:00:01:", "020:00:00:00:00:1",
	};
	uint8_t mac[6] = { 9, 9, 9, 9, 9, 9 };

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CU_ASSERT_EQUAL(psw_parse_mac(bad[i], mac), -EINVAL);
	CU_ASSERT_EQUAL(psw_parse_mac(NULL, mac), -EINVAL);
	CU_ASSERT_EQUAL(mac[0], 9);
	CU_ASSERT_EQUAL(psw_parse_mac("02:50:53:57:00:01", mac), 0);
	CU_ASSERT_EQUAL(memcmp(mac, "\x02\x50\x53\x57\x00\x01", 6), 0);
	CU_ASSERT_EQUAL(psw_parse_mac("Ab:cD:EF:01:ff:00", mac), 0);
	CU_ASSERT_EQUAL(memcmp(mac, "\xab\xcd\xef\x01\xff\x00", 6), 0);
	/* Parsing does not judge: multicast and zero MACs are addresses too. */
	CU_ASSERT_EQUAL(psw_parse_mac("ff:ff:ff:ff:ff:ff", mac), 0);
	CU_ASSERT_EQUAL(psw_parse_mac("00:00:00:00:00:00", mac), 0);
}

static struct psw_prefix prefix(const char *s)
{
	struct psw_prefix p;

	CU_ASSERT_EQUAL(psw_parse_prefix(s, &p), 0);
	return p;
}

static bool contains(const char *pfx, const char *ip)
{
	struct psw_prefix p = prefix(pfx);
	uint8_t family, addr[16];

	CU_ASSERT_EQUAL(psw_parse_ip(ip, &family, addr), 0);
	return psw_prefix_contains(&p, addr);
}

static void test_prefix_contains(void)
{
	struct psw_prefix unset = { 0 };
	uint8_t addr[16] = { 0 };

	CU_ASSERT_FALSE(psw_prefix_contains(&unset, addr));
	CU_ASSERT_FALSE(psw_prefix_contains(NULL, addr));
	CU_ASSERT_FALSE(contains("10.244.0.0/24", "10.244.1.0"));
	CU_ASSERT_FALSE(contains("10.244.0.0/24", "10.243.255.255"));
	CU_ASSERT_FALSE(contains("10.0.2.0/23", "10.0.4.0"));
	CU_ASSERT_FALSE(contains("10.0.0.8/29", "10.0.0.16"));
	CU_ASSERT_FALSE(contains("10.0.0.1/32", "10.0.0.2"));
	CU_ASSERT_FALSE(contains("fd00:10:244::/64", "fd00:10:244:1::1"));
	CU_ASSERT_FALSE(contains("fd00::/16", "fe00::1"));
	CU_ASSERT_FALSE(contains("fd00::1/128", "fd00::2"));

	CU_ASSERT_TRUE(contains("10.244.0.0/24", "10.244.0.0"));
	CU_ASSERT_TRUE(contains("10.244.0.0/24", "10.244.0.255"));
	CU_ASSERT_TRUE(contains("10.0.2.0/23", "10.0.3.255"));
	CU_ASSERT_TRUE(contains("10.0.0.8/29", "10.0.0.15"));
	CU_ASSERT_TRUE(contains("0.0.0.0/0", "255.255.255.255"));
	CU_ASSERT_TRUE(contains("10.0.0.1/32", "10.0.0.1"));
	CU_ASSERT_TRUE(contains("fd00:10:244::/64", "fd00:10:244::ffff:1"));
	CU_ASSERT_TRUE(contains("fc00::/7", "fdff::1"));
	CU_ASSERT_TRUE(contains("::/0", "2001:db8::1"));
	CU_ASSERT_TRUE(contains("fd00::1/128", "fd00::1"));
}

static bool overlap(const char *a, const char *b)
{
	struct psw_prefix pa = prefix(a), pb = prefix(b);

	return psw_prefix_overlap(&pa, &pb);
}

static void test_prefix_overlap(void)
{
	CU_ASSERT_FALSE(psw_prefix_overlap(NULL, NULL));
	CU_ASSERT_FALSE(overlap("10.244.0.0/24", "10.96.0.0/12"));
	CU_ASSERT_FALSE(overlap("10.0.0.0/24", "10.0.1.0/24"));
	CU_ASSERT_FALSE(overlap("0.0.0.0/0", "::/0"));   /* families never overlap */
	CU_ASSERT_FALSE(overlap("fd00:1::/64", "fd00:2::/64"));
	CU_ASSERT_TRUE(overlap("10.0.0.0/8", "10.244.0.0/24"));
	CU_ASSERT_TRUE(overlap("10.244.0.0/24", "10.0.0.0/8"));
	CU_ASSERT_TRUE(overlap("10.0.0.0/24", "10.0.0.0/24"));
	CU_ASSERT_TRUE(overlap("0.0.0.0/0", "192.168.0.0/16"));
	CU_ASSERT_TRUE(overlap("fd00::/16", "fd00:10:244::/64"));
}

static void test_prefix_str(void)
{
	struct psw_prefix unset = { 0 }, p;
	char buf[64], tiny[6];

	CU_ASSERT_PTR_NULL(psw_prefix_str(&unset, NULL, 0));
	CU_ASSERT_STRING_EQUAL(psw_prefix_str(&unset, buf, sizeof(buf)), "");
	CU_ASSERT_STRING_EQUAL(psw_prefix_str(NULL, buf, sizeof(buf)), "");
	p = prefix("10.244.0.0/24");
	CU_ASSERT_PTR_EQUAL(psw_prefix_str(&p, tiny, sizeof(tiny)), tiny);
	CU_ASSERT_STRING_EQUAL(tiny, "10.24");
	CU_ASSERT_STRING_EQUAL(psw_prefix_str(&p, buf, sizeof(buf)), "10.244.0.0/24");
	p = prefix("FD00:10:244:0::/64");
	CU_ASSERT_STRING_EQUAL(psw_prefix_str(&p, buf, sizeof(buf)), "fd00:10:244::/64");
	p = prefix("::/0");
	CU_ASSERT_STRING_EQUAL(psw_prefix_str(&p, buf, sizeof(buf)), "::/0");
}

int main(void)
{
	static const struct {
		const char *name;
		CU_TestFunc fn;
	} cases[] = {
		{ "psw_parse_ip", test_parse_ip },
		{ "psw_parse_prefix", test_parse_prefix },
		{ "psw_parse_mac", test_parse_mac },
		{ "psw_prefix_contains", test_prefix_contains },
		{ "psw_prefix_overlap", test_prefix_overlap },
		{ "psw_prefix_str", test_prefix_str },
	};
	CU_pSuite suite;
	unsigned nb_failures;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	suite = CU_add_suite("config: address helpers", NULL, NULL);
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
