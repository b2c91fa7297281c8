/* Maglev: even distribution, and minimal disruption when a backend goes. No EAL. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "psw_maglev.h"
#include "psw_ut.h"

static uint16_t table[PSW_MAGLEV_SIZE], table2[PSW_MAGLEV_SIZE];

static void
test_bad(void)
{
	uint64_t keys[4] = { 1, 2, 3, 4 };

	CU_ASSERT_EQUAL(psw_maglev_build(keys, 4, table, 3), -EINVAL);     /* size <= nb */
	CU_ASSERT_EQUAL(psw_maglev_build(keys, 0, table, 7), 0);
	for (int i = 0; i < 7; i++)
		CU_ASSERT_EQUAL(table[i], PSW_MAGLEV_NONE);
}

static void
test_even(void)
{
	uint64_t keys[10];
	unsigned count[10] = { 0 }, i, min = ~0u, max = 0;

	for (i = 0; i < 10; i++)
		keys[i] = 0x0af40000u + i * 7919u;
	CU_ASSERT_EQUAL_FATAL(psw_maglev_build(keys, 10, table, PSW_MAGLEV_SIZE), 0);
	for (i = 0; i < PSW_MAGLEV_SIZE; i++) {
		CU_ASSERT_FATAL(table[i] < 10);
		count[table[i]]++;
	}
	for (i = 0; i < 10; i++) {
		min = count[i] < min ? count[i] : min;
		max = count[i] > max ? count[i] : max;
	}
	/* every backend owns its share to within one slot */
	CU_ASSERT(max - min <= 1);
}

static void
test_minimal_disruption(void)
{
	uint64_t keys[10], fewer[9];
	unsigned i, moved = 0, lost = 0;

	for (i = 0; i < 10; i++)
		keys[i] = 0x0af40000u + i * 7919u;
	CU_ASSERT_EQUAL_FATAL(psw_maglev_build(keys, 10, table, PSW_MAGLEV_SIZE), 0);
	/* remove backend 3; the others keep their keys (indices shift down after 3) */
	for (i = 0; i < 9; i++)
		fewer[i] = keys[i < 3 ? i : i + 1];
	CU_ASSERT_EQUAL_FATAL(psw_maglev_build(fewer, 9, table2, PSW_MAGLEV_SIZE), 0);
	for (i = 0; i < PSW_MAGLEV_SIZE; i++) {
		uint64_t before = keys[table[i]], after = fewer[table2[i]];

		if (table[i] == 3)
			lost++;
		else if (before != after)
			moved++;
	}
	printf("\n  remove 1 of 10 backends: %u of %u slots were the removed one's, %u others moved (%.1f%%)\n",
	       lost, PSW_MAGLEV_SIZE, moved, 100.0 * moved / PSW_MAGLEV_SIZE);
	/* the removed backend held its tenth, to within a slot; flows of surviving
	 * backends barely move: far less than a modulo hash's ~90% */
	CU_ASSERT(lost >= PSW_MAGLEV_SIZE / 10 - 1 && lost <= PSW_MAGLEV_SIZE / 10 + 1);
	CU_ASSERT(moved < PSW_MAGLEV_SIZE / 20);
}

int
main(void)
{
	CU_pSuite s;
	unsigned failures;

	CU_initialize_registry();
	s = CU_add_suite("maglev", NULL, NULL);
	CU_add_test(s, "bad sizes; no backends", test_bad);
	CU_add_test(s, "10 backends share 4093 slots evenly", test_even);
	CU_add_test(s, "removing one backend moves few other flows", test_minimal_disruption);
	failures = (unsigned)psw_ut_run();
	return failures ? 1 : 0;
}
