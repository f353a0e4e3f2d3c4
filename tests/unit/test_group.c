/* Unit tests for auto-scaling groups' pure model: the scale-out count, the
 * scale-in fit, the scale-in order, the parsers and size checks, and the
 * dry-run CPU hook of host/cgroup.c (a percent written by a test becomes a
 * counter that grows at that rate, with the file's mtime as its epoch). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host/cgroup.h"
#include "host/hostops.h"
#include "model/group.h"
#include "util/fs.h"
#include "util/runner.h"
#include "util/str.h"
#include "util/timeutil.h"

static void test_scale_out_count(void **state)
{
	(void)state;
	assert_int_equal(group_scale_out_count(2, 90.0, 60), 3);    /* ceil(180 / 60) */
	assert_int_equal(group_scale_out_count(2, 90.1, 60), 4);    /* a hair above: one more */
	assert_int_equal(group_scale_out_count(3, 61.0, 60), 4);
	assert_int_equal(group_scale_out_count(1, 100.0, 10), 10);
	assert_int_equal(group_scale_out_count(4, 30.0, 60), 2);    /* below target: fewer */
	assert_int_equal(group_scale_out_count(4, 0.0, 60), 1);     /* never 0 */
	assert_int_equal(group_scale_out_count(0, 90.0, 60), 1);
}

static void test_scale_in_fits(void **state)
{
	(void)state;
	assert_true(group_scale_in_fits(3, 10.0, 60));     /* 3 × 10 / 2 = 15 */
	assert_true(group_scale_in_fits(2, 30.0, 60));     /* 2 × 30 / 1 = 60: at target */
	assert_false(group_scale_in_fits(2, 31.0, 60));    /* the one left would pass it */
	assert_false(group_scale_in_fits(1, 1.0, 60));     /* never to none */
}

static void test_rank(void **state)
{
	(void)state;
	struct member_rank sick = {false, 2, 300}, old_tmpl = {true, 1, 200}, old_vm = {true, 2, 100},
			   young = {true, 2, 200};
	assert_true(group_member_rank_cmp(&sick, &old_tmpl) < 0);   /* unhealthy first */
	assert_true(group_member_rank_cmp(&old_tmpl, &old_vm) < 0); /* then the oldest template */
	assert_true(group_member_rank_cmp(&old_vm, &young) < 0);    /* then the oldest VM */
	assert_true(group_member_rank_cmp(&young, &sick) > 0);
	assert_int_equal(group_member_rank_cmp(&young, &young), 0);
}

static void test_parsers(void **state)
{
	(void)state;
	struct err e = {0};
	int64_t ms = -1;
	assert_int_equal(group_duration_parse("0s", "grace", &ms, &e), 0);
	assert_int_equal(ms, 0);
	assert_int_equal(group_duration_parse("2m", "cooldown", &ms, &e), 0);
	assert_int_equal(ms, 120000);
	assert_true(group_duration_parse("5", "grace", &ms, &e) < 0);
	assert_non_null(strstr(e.msg, "grace \"5\" is not a duration"));
	assert_true(group_duration_parse("25h", "warmup", &ms, &e) < 0);
	assert_non_null(strstr(e.msg, "warmup \"25h\" is out of range"));
	char lb[NAME_MAX_LEN + 1];
	int port = -1;
	assert_int_equal(group_lb_parse("web:8080", "lb", lb, &port, &e), 0);
	assert_string_equal(lb, "web");
	assert_int_equal(port, 8080);
	assert_int_equal(group_lb_parse("web", "lb", lb, &port, &e), 0);
	assert_int_equal(port, 0);
	assert_true(group_lb_parse("web:0", "lb", lb, &port, &e) < 0);
	assert_int_equal(group_sizes_validate(2, 8, 3, &e), 0);
	assert_true(group_sizes_validate(3, 2, 2, &e) < 0);
	assert_string_equal(e.msg, "min 3 is above max 2");
	assert_true(group_sizes_validate(1, 2, 3, &e) < 0);
	assert_string_equal(e.msg, "desired 3 is outside min 1 and max 2");
	assert_int_equal(group_name_validate("web", &e), 0);
	char long_name[60];
	memset(long_name, 'a', 58);
	long_name[58] = 0;
	assert_true(group_name_validate(long_name, &e) < 0);
	assert_non_null(strstr(e.msg, "at most 57"));
}

static void test_recorded_cpu(void **state)
{
	(void)state;
	char dir[] = "/tmp/nubo-test-group-XXXXXX";
	assert_non_null(mkdtemp(dir));
	runner_set_dry_run(true);
	struct cgroup_host h = {0};
	uint64_t usec = 0;
	int64_t epoch = 0;
	struct err e = {0};
	assert_true(hostops_recording.vm_cpu_usec(&h, "ab12", "vm-000000000001", dir, &usec, &epoch, &e) < 0);
	assert_int_equal(e.kind, ERR_UNAVAILABLE);   /* no file: no reading */
	autofree char *all = xasprintf("%s/all", dir);
	struct err we = {0};
	assert_int_equal(fs_write_atomic(all, "50\n", 3, 0644, &we), 0);
	int64_t t0 = time_now_ms();
	time_sleep_ms(300);
	assert_int_equal(hostops_recording.vm_cpu_usec(&h, "ab12", "vm-000000000001", dir, &usec, &epoch, &e), 0);
	/* half a CPU for ~300 ms: ~150,000 µs */
	assert_true(usec >= 140000 && usec <= 200000);
	assert_true(epoch >= t0 - 1000 && epoch <= t0 + 10);
	autofree char *mine = xasprintf("%s/vm-000000000001", dir);
	assert_int_equal(fs_write_atomic(mine, "x", 1, 0644, &we), 0);
	assert_true(hostops_recording.vm_cpu_usec(&h, "ab12", "vm-000000000001", dir, &usec, &epoch, &e) < 0);
	assert_int_equal(e.kind, ERR_INVALID);   /* its own file wins, and must hold a number */
	unlink(mine);
	unlink(all);
	rmdir(dir);
	runner_set_dry_run(false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scale_out_count), cmocka_unit_test(test_scale_in_fits), cmocka_unit_test(test_rank),
		cmocka_unit_test(test_parsers),		cmocka_unit_test(test_recorded_cpu),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
