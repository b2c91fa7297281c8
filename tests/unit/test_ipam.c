/* IPAM: pools from pod CIDRs, reserved addresses, exhaustion, release, IPv6. No EAL. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "psw_ipam.h"
#include "psw_ut.h"

static struct psw_ipam *
make(const char *v4, const char *gw4, const char *v6, const char *gw6)
{
	struct psw_prefix p4, p6 = { 0 };
	uint8_t g4[4], g6[16] = { 0 };

	psw_parse_prefix(v4, &p4);
	inet_pton(AF_INET, gw4, g4);
	if (v6 != NULL) {
		psw_parse_prefix(v6, &p6);
		inet_pton(AF_INET6, gw6, g6);
	}
	return psw_ipam_create(&p4, g4, &p6, g6);
}

static const char *
str4(const uint8_t *a)
{
	static char buf[INET_ADDRSTRLEN];

	return inet_ntop(AF_INET, a, buf, sizeof(buf));
}

static void
test_reserve_refusals(void)
{
	struct psw_ipam *ipam = make("10.244.0.0/24", "10.244.0.1", NULL, NULL);
	uint8_t a[16];

	inet_pton(AF_INET, "10.244.0.0", a);
	CU_ASSERT_EQUAL(psw_ipam_reserve(ipam, 4, a), -EINVAL);       /* network */
	inet_pton(AF_INET, "10.244.0.255", a);
	CU_ASSERT_EQUAL(psw_ipam_reserve(ipam, 4, a), -EINVAL);       /* broadcast */
	inet_pton(AF_INET, "10.244.0.1", a);
	CU_ASSERT_EQUAL(psw_ipam_reserve(ipam, 4, a), -EINVAL);       /* gateway */
	inet_pton(AF_INET, "10.245.0.7", a);
	CU_ASSERT_EQUAL(psw_ipam_reserve(ipam, 4, a), -EINVAL);       /* outside */
	CU_ASSERT_EQUAL(psw_ipam_reserve(ipam, 6, a), -EAFNOSUPPORT); /* no v6 pool */
	CU_ASSERT_EQUAL(psw_ipam_allocate(ipam, 6, a), -EAFNOSUPPORT);
	inet_pton(AF_INET, "10.244.0.7", a);
	CU_ASSERT_EQUAL(psw_ipam_reserve(ipam, 4, a), 0);
	CU_ASSERT_EQUAL(psw_ipam_reserve(ipam, 4, a), -EEXIST);
	CU_ASSERT(psw_ipam_is_taken(ipam, 4, a));
	CU_ASSERT_EQUAL(psw_ipam_used(ipam, 4), 1);
	psw_ipam_destroy(ipam);
	psw_ipam_destroy(NULL);
}

static void
test_allocate_until_full(void)
{
	struct psw_ipam *ipam = make("10.244.0.0/29", "10.244.0.1", NULL, NULL);
	uint8_t a[16], seen[8] = { 0 };
	int i;

	/* /29: .0 network, .1 gateway, .7 broadcast -> .2 .. .6 */
	CU_ASSERT_EQUAL(psw_ipam_capacity(ipam, 4), 5);
	for (i = 0; i < 5; i++) {
		CU_ASSERT_EQUAL_FATAL(psw_ipam_allocate(ipam, 4, a), 0);
		CU_ASSERT(a[3] >= 2 && a[3] <= 6);
		CU_ASSERT_EQUAL(seen[a[3]], 0);
		seen[a[3]] = 1;
	}
	CU_ASSERT_EQUAL(psw_ipam_allocate(ipam, 4, a), -ENOSPC);
	/* release one: it is the only one free, so it comes back */
	inet_pton(AF_INET, "10.244.0.4", a);
	psw_ipam_release(ipam, 4, a);
	psw_ipam_release(ipam, 4, a);                  /* twice: harmless */
	CU_ASSERT_EQUAL(psw_ipam_used(ipam, 4), 4);
	CU_ASSERT_EQUAL(psw_ipam_allocate(ipam, 4, a), 0);
	CU_ASSERT_STRING_EQUAL(str4(a), "10.244.0.4");
	psw_ipam_destroy(ipam);
}

static void
test_round_robin(void)
{
	struct psw_ipam *ipam = make("10.244.0.0/24", "10.244.0.1", NULL, NULL);
	uint8_t a[16], b[16];

	CU_ASSERT_EQUAL(psw_ipam_allocate(ipam, 4, a), 0);
	CU_ASSERT_STRING_EQUAL(str4(a), "10.244.0.2");
	psw_ipam_release(ipam, 4, a);
	/* a released address is not handed out again at once */
	CU_ASSERT_EQUAL(psw_ipam_allocate(ipam, 4, b), 0);
	CU_ASSERT_STRING_EQUAL(str4(b), "10.244.0.3");
	psw_ipam_destroy(ipam);
}

static void
test_ipv6(void)
{
	struct psw_ipam *ipam = make("10.244.0.0/24", "10.244.0.1", "fd00:10:244::/64",
				     "fd00:10:244::1");
	uint8_t a[16], want[16];
	char buf[INET6_ADDRSTRLEN];

	CU_ASSERT(psw_ipam_has(ipam, 6));
	CU_ASSERT_EQUAL(psw_ipam_allocate(ipam, 6, a), 0);
	CU_ASSERT_STRING_EQUAL(inet_ntop(AF_INET6, a, buf, sizeof(buf)), "fd00:10:244::2");
	inet_pton(AF_INET6, "fd00:10:244::1", want);
	CU_ASSERT_EQUAL(psw_ipam_reserve(ipam, 6, want), -EINVAL);   /* gateway */
	inet_pton(AF_INET6, "fd00:10:244::", want);
	CU_ASSERT_EQUAL(psw_ipam_reserve(ipam, 6, want), -EINVAL);   /* subnet router */
	inet_pton(AF_INET6, "fd00:10:244::abcd", want);
	CU_ASSERT_EQUAL(psw_ipam_reserve(ipam, 6, want), 0);
	/* beyond the 2^32 addresses a /64 pool hands out */
	inet_pton(AF_INET6, "fd00:10:244:0:1::5", want);
	CU_ASSERT_EQUAL(psw_ipam_reserve(ipam, 6, want), -EINVAL);
	inet_pton(AF_INET6, "fd00:10:245::5", want);
	CU_ASSERT_EQUAL(psw_ipam_reserve(ipam, 6, want), -EINVAL);
	CU_ASSERT_EQUAL(psw_ipam_used(ipam, 6), 2);
	psw_ipam_destroy(ipam);
}

static void
test_large_pool(void)
{
	struct psw_ipam *ipam = make("10.0.0.0/16", "10.0.0.1", NULL, NULL);
	uint8_t a[16];
	int i;

	for (i = 0; i < 5000; i++)
		CU_ASSERT_EQUAL_FATAL(psw_ipam_allocate(ipam, 4, a), 0);
	CU_ASSERT_EQUAL(psw_ipam_used(ipam, 4), 5000);
	CU_ASSERT_STRING_EQUAL(str4(a), "10.0.19.137");             /* offset 5001 */
	psw_ipam_destroy(ipam);
}

/* MACs "in use" for psw_mac_pick: the first nb_taken candidates it would try, counting calls. */
struct mac_world {
	unsigned nb_calls, nb_taken;
	uint8_t taken[8192][6];
};

static bool
world_has(const uint8_t mac[6], void *ctx)
{
	struct mac_world *w = ctx;
	unsigned i;

	w->nb_calls++;
	for (i = 0; i < w->nb_taken; i++)
		if (memcmp(w->taken[i], mac, 6) == 0)
			return true;
	return false;
}

static bool
everything_taken(const uint8_t mac[6], void *ctx)
{
	(void)mac;
	((struct mac_world *)ctx)->nb_calls++;
	return true;
}

/* The derived MAC and its 255 successors taken once looped forever. */
static void
test_mac_pick(void)
{
	static struct mac_world w;
	const uint8_t derived[6] = { 0x02, 0x50, 10, 244, 0, 7 };
	uint8_t mac[6];
	unsigned i;

	memset(&w, 0, sizeof(w));
	CU_ASSERT_EQUAL(psw_mac_pick(derived, "c1/eth0", world_has, &w, mac), 0);
	CU_ASSERT_EQUAL(memcmp(mac, derived, 6), 0);
	/* the derived MAC and every 02:xx successor taken: a hashed one, free, unicast, local */
	for (i = 0; i < 256; i++) {
		memcpy(w.taken[i], derived, 6);
		w.taken[i][1] = (uint8_t)i;
	}
	w.nb_taken = 256;
	w.nb_calls = 0;
	CU_ASSERT_EQUAL(psw_mac_pick(derived, "c1/eth0", world_has, &w, mac), 0);
	CU_ASSERT_EQUAL(w.nb_calls, 257);
	CU_ASSERT_FALSE(world_has(mac, &w));
	CU_ASSERT_EQUAL(mac[0] & 3, 2);
	/* the same attachment gets the same answer; another one most likely not */
	memcpy(w.taken[w.nb_taken], mac, 6);
	CU_ASSERT_EQUAL(psw_mac_pick(derived, "c1/eth0", world_has, &w, mac), 0);
	CU_ASSERT_EQUAL(memcmp(mac, w.taken[w.nb_taken], 6), 0);
	CU_ASSERT_EQUAL(psw_mac_pick(derived, "c2/eth0", world_has, &w, mac), 0);
	CU_ASSERT_NOT_EQUAL(memcmp(mac, w.taken[w.nb_taken], 6), 0);
	/* nothing free: a bounded search and -ENOSPC */
	w.nb_calls = 0;
	CU_ASSERT_EQUAL(psw_mac_pick(derived, "c1/eth0", everything_taken, &w, mac), -ENOSPC);
	CU_ASSERT_EQUAL(w.nb_calls, PSW_MAC_TRIES);
}

int
main(void)
{
	CU_pSuite s;
	unsigned failures;

	CU_initialize_registry();
	s = CU_add_suite("ipam", NULL, NULL);
	CU_add_test(s, "reserve: network, broadcast, gateway, outside, taken", test_reserve_refusals);
	CU_add_test(s, "allocate until full, release, reuse", test_allocate_until_full);
	CU_add_test(s, "released addresses are not reused at once", test_round_robin);
	CU_add_test(s, "IPv6 pool", test_ipv6);
	CU_add_test(s, "5000 allocations in a /16", test_large_pool);
	CU_add_test(s, "MAC picking: derived, then hashed, bounded", test_mac_pick);
	failures = (unsigned)psw_ut_run();
	return failures ? 1 : 0;
}
