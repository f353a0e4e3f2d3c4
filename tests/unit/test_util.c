/* Unit tests for util: the runner's dry-run capture, quoting, errors, buffers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/err.h"
#include "util/ids.h"
#include "util/runner.h"
#include "util/str.h"
#include "util/timeutil.h"

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

/* on_line hears each stdout line while the program runs, the last one
 * without a newline too, and never stderr; the capture is unchanged. The
 * program goes on only once the first line was heard (a file the callback
 * makes), so lines handed over only at the end would fail by the timeout. */
struct heard {
	struct sbuf lines;
	const char *flag;
};

static void hear(void *arg, const char *line)
{
	struct heard *h = arg;
	sbuf_addf(&h->lines, "[%s]", line);
	FILE *f = fopen(h->flag, "w");
	if (f)
		fclose(f);
}

static void test_runner_reports_lines_as_they_come(void **state)
{
	(void)state;
	char dir[] = "/tmp/nubo-test-lines-XXXXXX";
	assert_non_null(mkdtemp(dir));
	autofree char *flag = xasprintf("%s/heard", dir);
	autofree char *script = xasprintf("echo '==> one'; echo err >&2; while [ ! -e %s ]; do sleep 0.02; done; "
					  "printf 'two\\nthree'", flag);
	struct heard h = {.flag = flag};
	const char *argv[] = {"sh", "-c", script, NULL};
	struct run_opts o = {.dry_ok = true, .on_line = hear, .line_arg = &h, .timeout_ms = 10000};
	struct run_result r;
	struct err e = {0};
	assert_int_equal(runner_run(argv, &o, &r, &e), 0);
	assert_string_equal(h.lines.data, "[==> one][two][three]");
	assert_string_equal(r.out, "==> one\ntwo\nthree");
	run_result_free(&r);
	sbuf_free(&h.lines);
	unlink(flag);
	rmdir(dir);
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

/* Polls for up to 5 s until path holds want. */
static bool file_has_line(const char *path, const char *want)
{
	for (int i = 0; i < 100; i++) {
		char buf[256] = "";
		FILE *f = fopen(path, "r");
		if (f) {
			size_t n = fread(buf, 1, sizeof(buf) - 1, f);
			buf[n] = '\0';
			fclose(f);
		}
		if (strstr(buf, want))
			return true;
		usleep(50000);
	}
	return false;
}

static void test_runner_spawn_detaches_and_joins(void **state)
{
	(void)state;
	char dir[] = "/tmp/nubo-test-spawn-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char join[128], out[128], script[512];
	snprintf(join, sizeof(join), "%s/procs", dir);
	snprintf(out, sizeof(out), "%s/out", dir);
	FILE *f = fopen(join, "w");
	fclose(f);
	/* The program reports its session and parent once its starter is gone. */
	snprintf(script, sizeof(script), "sleep 0.2; echo \"sid=$(cut -d' ' -f6 /proc/$$/stat) ppid=$(cut -d' ' -f4 /proc/$$/stat).\"; sleep 0.5");
	const char *argv[] = {"sh", "-c", script, NULL};
	const char *const files[] = {join, NULL};
	struct run_opts o = {.join_files = files, .output_file = out};
	int pid = 0;
	struct err e = {0};
	assert_int_equal(runner_spawn(argv, &o, &pid, &e), 0);
	assert_true(pid > 0);
	char want[128];
	/* It wrote its pid into the join file before exec. */
	snprintf(want, sizeof(want), "%d", pid);
	assert_true(file_has_line(join, want));
	/* It runs in a session that is not ours, and is not our child: it
	 * outlives nubod. */
	assert_true(file_has_line(out, "."));
	int sid = 0, ppid = 0;
	f = fopen(out, "r");
	assert_non_null(f);
	assert_int_equal(fscanf(f, "sid=%d ppid=%d.", &sid, &ppid), 2);
	fclose(f);
	assert_true(sid > 0 && sid != (int)getsid(0));
	assert_true(ppid > 0 && ppid != (int)getpid());
	usleep(700000);
	unlink(join);
	unlink(out);
	rmdir(dir);
}

static void test_runner_spawn_failures_are_errors(void **state)
{
	(void)state;
	const char *argv[] = {"sh", "-c", "exit 0", NULL};
	const char *const files[] = {"/nonexistent/nubo/cgroup.procs", NULL};
	struct run_opts o = {.join_files = files};
	int pid = -1;
	struct err e = {0};
	assert_true(runner_spawn(argv, &o, &pid, &e) < 0);
	assert_int_equal(pid, 0);
	assert_string_equal(e.msg, "cannot run sh: cannot move it into /nonexistent/nubo/cgroup.procs: No such file or directory");
	const char *missing[] = {"/nonexistent/qemu", NULL};
	assert_true(runner_spawn(missing, NULL, &pid, &e) < 0);
	assert_string_equal(e.msg, "cannot run /nonexistent/qemu: exec: No such file or directory");
	runner_set_dry_run(true);
	free(runner_take_capture());
	assert_int_equal(runner_spawn(missing, NULL, &pid, &e), 0);
	char *cap = runner_take_capture();
	assert_string_equal(cap, "/nonexistent/qemu\n");
	free(cap);
	runner_set_dry_run(false);
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

static void test_duration(void **state)
{
	(void)state;
	struct err e = {0};
	int64_t ms = -1;
	static const struct {
		const char *text;
		int64_t ms;
	} good[] = {{"0ms", 0}, {"500ms", 500}, {"5s", 5000}, {"2m", 120000}, {"1h", 3600000}, {"24h", 86400000}};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(time_duration_parse(good[i].text, "d", 0, 86400000, &ms, &e), 0);
		assert_int_equal(ms, good[i].ms);
	}
	static const char *const bad[] = {"", "5", "s", "-5s", "5 s", "5S", "1.5s", "0x10s", "5sec", "99999999999s"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ms = -1;
		assert_true(time_duration_parse(bad[i], "d", 0, 86400000, &ms, &e) < 0);
		assert_int_equal(ms, -1);
		assert_non_null(strstr(e.msg, "d \""));
	}
	assert_true(time_duration_parse(NULL, "interval", 0, 1000, &ms, &e) < 0);
	assert_string_equal(e.msg, "interval \"\" is not a duration: write e.g. 500ms, 5s, 2m or 1h");
	assert_true(time_duration_parse("25h", "warmup", 0, 86400000, &ms, &e) < 0);
	assert_string_equal(e.msg, "warmup \"25h\" is out of range: 0s to 24h");
	assert_true(time_duration_parse("50ms", "interval", 100, 3600000, &ms, &e) < 0);
	assert_string_equal(e.msg, "interval \"50ms\" is out of range: 100ms to 1h");
	char out[24];
	time_duration_format(90000, out);
	assert_string_equal(out, "90s");
	time_duration_format(1500, out);
	assert_string_equal(out, "1500ms");
	assert_int_equal(time_duration_parse("30d", "keep", 0, 31 * 86400000LL, &ms, &e), 0);
	assert_int_equal(ms, 30 * 86400000LL);
	time_duration_format(30 * 86400000LL, out);
	assert_string_equal(out, "30d");
	time_duration_format(86400000, out);
	assert_string_equal(out, "24h");
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
		cmocka_unit_test(test_runner_reports_lines_as_they_come),
		cmocka_unit_test(test_runner_timeout),
		cmocka_unit_test(test_runner_spawn_detaches_and_joins),
		cmocka_unit_test(test_runner_spawn_failures_are_errors),
		cmocka_unit_test(test_format_argv_quotes),
		cmocka_unit_test(test_err_kinds),
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_sbuf),
		cmocka_unit_test(test_duration),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
