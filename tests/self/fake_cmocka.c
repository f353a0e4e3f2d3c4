/* fake_cmocka: a cmocka program of four tests for tests/self/runner.sh, which
 * points tests/run.sh at it. FAKE_CMOCKA picks what its third test does:
 * "abort" aborts the process (as a sanitizer report does under
 * abort_on_error=1), "skip" skips, anything else passes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void test_passes(void **state)
{
	(void)state;
	assert_int_equal(1 + 1, 2);
}

static void test_third(void **state)
{
	(void)state;
	const char *mode = getenv("FAKE_CMOCKA");
	if (mode && strcmp(mode, "abort") == 0)
		abort();
	if (mode && strcmp(mode, "skip") == 0)
		skip();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_passes),
		cmocka_unit_test(test_passes),
		cmocka_unit_test(test_third),
		cmocka_unit_test(test_passes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
