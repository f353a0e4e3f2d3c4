/* Unit tests for util: the runner's dry-run capture, quoting, errors, buffers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/ids.h"
#include "util/runner.h"
#include "util/str.h"

static void test_runner_captures_in_dry_run(void **state)
{
	(void)state;
	runner_set_dry_run(true);
	const char *argv[] = {"ip", "link", "add", "name", "nb1", "type", "bridge", NULL};
	struct run_result r;
	assert_int_equal(runner_run(argv, NULL, &r, NULL), 0);
	run_result_free(&r);
	const char *argv2[] = {"nft", "-f", "-", NULL};
	struct run_opts o = {.input = "flush ruleset"};
	assert_int_equal(runner_run(argv2, &o, NULL, NULL), 0);
	char *cap = runner_take_capture();
	assert_string_equal(cap, "ip link add name nb1 type bridge\nnft -f -\n<<<flush ruleset>>>\n");
	free(cap);
	runner_set_dry_run(false);
}

static void test_runner_runs_and_reports_failure(void **state)
{
	(void)state;
	const char *ok[] = {"sh", "-c", "cat; echo err >&2", NULL};
	struct run_opts o = {.input = "hello"};
	struct run_result r;
	struct err e = {0};
	assert_int_equal(runner_run(ok, &o, &r, &e), 0);
	assert_string_equal(r.out, "hello");
	assert_string_equal(r.errout, "err\n");
	run_result_free(&r);

	const char *bad[] = {"sh", "-c", "echo 'no such bridge' >&2; exit 3", NULL};
	assert_true(runner_run(bad, NULL, NULL, &e) < 0);
	assert_string_equal(e.msg, "sh failed (exit 3): no such bridge");
}

static void test_runner_timeout(void **state)
{
	(void)state;
	const char *slow[] = {"sleep", "5", NULL};
	struct run_opts o = {.timeout_ms = 200};
	struct err e = {0};
	assert_true(runner_run(slow, &o, NULL, &e) < 0);
	assert_non_null(strstr(e.msg, "did not finish"));
}

static void test_format_argv_quotes(void **state)
{
	(void)state;
	const char *argv[] = {"echo", "a b", "it's", "", "plain", NULL};
	char *s = runner_format_argv(argv);
	assert_string_equal(s, "echo 'a b' 'it'\\''s' '' plain");
	free(s);
}

static void test_err_kinds(void **state)
{
	(void)state;
	struct err e = {0};
	assert_true(err_set(&e, ERR_CONFLICT, "vm \"%s\" exists", "web1") < 0);
	assert_int_equal(err_kind_http_status(e.kind), 409);
	err_prefix(&e, "create");
	assert_string_equal(e.msg, "create: vm \"web1\" exists");
	assert_string_equal(err_kind_code(ERR_CAPACITY), "insufficient_capacity");
	/* a message cut to fit ends between UTF-8 characters ("é" is 2 bytes, cut at an odd offset) */
	char big[2100] = "x";
	for (size_t i = 1; i + 2 < sizeof(big); i += 2)
		memcpy(big + i, "\xc3\xa9", 2);
	big[sizeof(big) - 1] = '\0';
	err_set(&e, ERR_INVALID, "%s", big);
	size_t n = strlen(e.msg);
	assert_true(n == sizeof(e.msg) - 1);
	assert_int_equal((unsigned char)e.msg[n - 1], 0xa9);
	err_set(&e, ERR_INVALID, "a%s", big);
	n = strlen(e.msg);
	assert_true(n == sizeof(e.msg) - 2);
	assert_int_equal((unsigned char)e.msg[n - 1], 0xa9);
	err_prefix(&e, "b");
	assert_int_equal((unsigned char)e.msg[strlen(e.msg) - 1], 0xa9);
	/* bytes that are not UTF-8 (a client's, quoted back) become '?': the message goes into JSON */
	err_set(&e, ERR_INVALID, "name \"%s\" is bad", "a\xff\xc3z\xe2\x82\xed\xa0\x80\xc0\xaf\xf0\x9f\x98\x80");
	assert_string_equal(e.msg, "name \"a??z???????\xf0\x9f\x98\x80\" is bad");
	err_prefix(&e, "x\x80");
	assert_string_equal(e.msg, "x?: name \"a??z???????\xf0\x9f\x98\x80\" is bad");
}

static void test_ids(void **state)
{
	(void)state;
	char a[ID_MAX], b[ID_MAX], mac[18];
	id_new("vm", a);
	id_new("vm", b);
	assert_int_equal(strlen(a), 15);
	assert_true(str_starts_with(a, "vm-"));
	assert_string_not_equal(a, b);
	id_mac_new(mac);
	assert_true(str_starts_with(mac, "52:54:00:"));
	assert_int_equal(strlen(mac), 17);
}

static void test_sbuf(void **state)
{
	(void)state;
	struct sbuf b = {0};
	for (int i = 0; i < 100; i++)
		sbuf_addf(&b, "%d,", i);
	char *s = sbuf_take(&b);
	assert_true(str_starts_with(s, "0,1,2,"));
	assert_true(str_ends_with(s, "98,99,"));
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_runner_captures_in_dry_run),
		cmocka_unit_test(test_runner_runs_and_reports_failure),
		cmocka_unit_test(test_runner_timeout),
		cmocka_unit_test(test_format_argv_quotes),
		cmocka_unit_test(test_err_kinds),
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_sbuf),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
