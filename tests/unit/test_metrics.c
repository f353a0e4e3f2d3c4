/* Unit tests of metrics (model/metrics.c, host/vmstat.c): samples from two
 * readings (a new QEMU or counter gives none), series plans,
 * Prometheus text (escaping), the idle rule, query-blockstats sums, tap
 * counters from a sysfs-shaped folder, and nubod.json's "metrics" and
 * "idle_stop". No store, no clock, no QEMU. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl/config.h"
#include "host/vmstat.h"
#include "model/metrics.h"
#include "util/str.h"

static struct metric_raw raw(int64_t at, int pid, int64_t cpu_usec, int64_t mem, int64_t rx)
{
	struct metric_raw r;
	for (int i = 0; i < METRIC_N; i++)
		r.v[i] = METRIC_NONE;
	r.at = at;
	r.pid = pid;
	r.cpu_epoch = 0;
	r.v[METRIC_CPU] = cpu_usec;
	r.v[METRIC_MEM] = mem;
	r.v[METRIC_NET_RX] = rx;
	return r;
}

static void test_sample_from_readings(void **state)
{
	(void)state;
	struct metric_sample s;
	struct metric_raw none = {0};
	struct metric_raw a = raw(1000, 7, 1000000, 100, 5000);
	assert_false(metrics_sample_make(&none, &a, 1, 0, &s));   /* a first reading: a baseline */
	/* 10 s later, 2.5 s of CPU on 2 vCPUs: 12.5 % */
	struct metric_raw b = raw(11000, 7, 3500000, 300, 9000);
	assert_true(metrics_sample_make(&a, &b, 2, 42, &s));
	assert_int_equal(s.t, 42);
	assert_int_equal(s.v[METRIC_CPU], 12500);
	assert_int_equal(s.v[METRIC_MEM], 300);   /* a gauge: as read */
	assert_int_equal(s.v[METRIC_NET_RX], 4000);
	assert_int_equal(s.v[METRIC_DISK_READ], METRIC_NONE);   /* never read */
	/* another QEMU: no interval */
	struct metric_raw c = raw(21000, 8, 10, 300, 10);
	assert_false(metrics_sample_make(&b, &c, 2, 0, &s));
	/* a counter that went down (a tap made again): that figure is unknown, the rest stand */
	struct metric_raw d = raw(21000, 7, 4500000, 300, 10);
	assert_true(metrics_sample_make(&b, &d, 1, 0, &s));
	assert_int_equal(s.v[METRIC_NET_RX], METRIC_NONE);
	assert_int_equal(s.v[METRIC_CPU], 10000);
	/* a new CPU epoch (the dry-run file rewritten, a new group): no CPU figure */
	d.cpu_epoch = 5;
	assert_true(metrics_sample_make(&b, &d, 1, 0, &s));
	assert_int_equal(s.v[METRIC_CPU], METRIC_NONE);
}

static void test_series_plans(void **state)
{
	(void)state;
	struct err e = {0};
	struct metrics_policy p;
	metrics_policy_default(&p);
	int64_t now = 1000LL * 86400000, step = 0, table = 0;
	assert_int_equal(metrics_series_plan(&p, now, now - 3600000, 0, &step, &table, &e), 0);
	assert_int_equal(table, 10000);
	assert_int_equal(step, 10000);
	assert_int_equal(metrics_series_plan(&p, now, now - 3600000, 60000, &step, &table, &e), 0);
	assert_int_equal(step, 60000);
	assert_int_equal(table, 10000);
	/* a step as coarse as the coarse points: read from those */
	assert_int_equal(metrics_series_plan(&p, now, now - 3600000, 600000, &step, &table, &e), 0);
	assert_int_equal(table, 300000);
	/* beyond the fine points' 24 h: coarse, and a finer step is refused */
	assert_int_equal(metrics_series_plan(&p, now, now - 2 * 86400000LL, 0, &step, &table, &e), 0);
	assert_int_equal(table, 300000);
	assert_true(metrics_series_plan(&p, now, now - 2 * 86400000LL, 60000, &step, &table, &e) < 0);
	assert_non_null(strstr(e.msg, "step \"1m\" must be a multiple of 5m"));
	assert_true(metrics_series_plan(&p, now, now - 3600000, 15000, &step, &table, &e) < 0);
	assert_non_null(strstr(e.msg, "multiple of 10s"));
}

static void test_prometheus_text(void **state)
{
	(void)state;
	struct sbuf b = {0};
	prom_family(&b, "nubo_x_total", "counter", "Things");
	const char *labels[] = {"vm", "a\"b\\c\nd", "host", "h1", NULL};
	prom_value(&b, "nubo_x_total", labels, 3);
	prom_value(&b, "nubo_y", NULL, 0.25);
	autofree char *t = sbuf_take(&b);
	assert_string_equal(t, "# HELP nubo_x_total Things\n# TYPE nubo_x_total counter\n"
			       "nubo_x_total{vm=\"a\\\"b\\\\c\\nd\",host=\"h1\"} 3\n"
			       "nubo_y 0.25\n");
	struct metric_sample s = {.t = 1000};
	for (int i = 0; i < METRIC_N; i++)
		s.v[i] = METRIC_NONE;
	s.v[METRIC_CPU] = 12345;
	json_t *j = metrics_sample_json(&s);
	autofree char *text = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(15));   /* as the API sends it */
	json_decref(j);
	if (!strstr(text, "\"t\":1000,\"cpu_pct\":12.345,\"mem_bytes\":null"))
		fail_msg("%s", text);
}

static void test_idle_rule(void **state)
{
	(void)state;
	struct idle_policy p;
	idle_policy_default(&p);
	p.after_ms = 600000;
	struct metric_sample s = {0};
	for (int i = 0; i < METRIC_N; i++)
		s.v[i] = METRIC_NONE;
	assert_false(metrics_sample_idle(&p, &s, 10000));   /* no CPU figure: not idle */
	s.v[METRIC_CPU] = 4999;
	assert_true(metrics_sample_idle(&p, &s, 10000));    /* no network figure: CPU decides */
	s.v[METRIC_NET_TX] = 10240 * 10;
	assert_true(metrics_sample_idle(&p, &s, 10000));    /* 10 KiB/s over 10 s: at the line */
	s.v[METRIC_NET_TX] = 10240 * 10 + 1;
	assert_false(metrics_sample_idle(&p, &s, 10000));
	s.v[METRIC_NET_TX] = 0;
	s.v[METRIC_CPU] = 5000;
	assert_false(metrics_sample_idle(&p, &s, 10000));   /* 5 % is not below 5 % */
	assert_int_equal(metrics_idle_warn_at(&p), 300000); /* 10 min: halfway */
	p.after_ms = 1800000;
	assert_int_equal(metrics_idle_warn_at(&p), 1500000);   /* 30 min: 5 min before */

	struct err e = {0};
	int64_t m = 0;
	assert_int_equal(metrics_percent_parse("cpu", "2.5%", &m, &e), 0);
	assert_int_equal(m, 2500);
	assert_true(metrics_percent_parse("cpu", "101", &m, &e) < 0);
	assert_true(metrics_percent_parse("cpu", "5%%", &m, &e) < 0);
	assert_true(metrics_percent_parse("cpu", "", &m, &e) < 0);
}

static void test_blockstats_and_taps(void **state)
{
	(void)state;
	json_error_t je;
	json_t *ret = json_loads("[{\"device\":\"root\",\"stats\":{\"rd_bytes\":100,\"wr_bytes\":200,\"rd_operations\":1,"
				 "\"wr_operations\":2}},{\"device\":\"\",\"qdev\":\"v\",\"stats\":{\"rd_bytes\":5,\"wr_bytes\":6,"
				 "\"rd_operations\":7,\"wr_operations\":8}}]",
				 0, &je);
	struct vmstat_disk d;
	struct err e = {0};
	assert_int_equal(vmstat_blockstats_sum(ret, &d, &e), 0);
	assert_int_equal(d.read_bytes, 105);
	assert_int_equal(d.write_bytes, 206);
	assert_int_equal(d.read_ops, 8);
	assert_int_equal(d.write_ops, 10);
	json_decref(ret);
	ret = json_loads("{\"device\":\"root\"}", 0, &je);
	assert_true(vmstat_blockstats_sum(ret, &d, &e) < 0);
	json_decref(ret);

	/* a tap as sysfs shows it: the host's rx is the VM's tx */
	char dir[] = "/tmp/nubo-vmstat-XXXXXX";
	assert_non_null(mkdtemp(dir));
	autofree char *stats = xasprintf("%s/nt1/statistics", dir);
	autofree char *tapdir = xasprintf("%s/nt1", dir);
	assert_int_equal(mkdir(tapdir, 0755), 0);
	assert_int_equal(mkdir(stats, 0755), 0);
	const char *files[][2] = {{"rx_bytes", "1000"}, {"tx_bytes", "3000"}, {"rx_packets", "10"}, {"tx_packets", "30"}};
	for (int i = 0; i < 4; i++) {
		autofree char *f = xasprintf("%s/%s", stats, files[i][0]);
		FILE *fp = fopen(f, "w");
		assert_non_null(fp);
		fprintf(fp, "%s\n", files[i][1]);
		fclose(fp);
	}
	struct vmstat_net n = {0};
	assert_int_equal(vmstat_tap_add(dir, "nt1", &n, &e), 0);
	assert_int_equal(vmstat_tap_add(dir, "nt1", &n, &e), 0);   /* two NICs add up */
	assert_int_equal(n.rx_bytes, 6000);
	assert_int_equal(n.tx_bytes, 2000);
	assert_int_equal(n.rx_packets, 60);
	assert_int_equal(n.tx_packets, 20);
	assert_true(vmstat_tap_add(dir, "nt2", &n, &e) < 0);
	assert_int_equal(e.kind, ERR_UNAVAILABLE);
	for (int i = 0; i < 4; i++) {
		autofree char *f = xasprintf("%s/%s", stats, files[i][0]);
		unlink(f);
	}
	rmdir(stats);
	rmdir(tapdir);
	rmdir(dir);
}

static void test_config(void **state)
{
	(void)state;
	struct config c;
	struct err e = {0};
	config_init_default(&c);
	assert_int_equal(c.metrics.fine_step, 10000);
	assert_int_equal(c.metrics.coarse_keep, 30LL * 86400000);
	assert_int_equal(c.idle_stop.after_ms, 0);
	const char *good = "{\"metrics\": {\"interval\": \"1s\", \"keep\": \"20s\", \"coarse_step\": \"5s\"},"
			   " \"idle_stop\": {\"after\": \"2h\", \"cpu\": 3}}";
	assert_int_equal(config_load_buffer(&c, "t.json", good, strlen(good), &e), 0);
	assert_int_equal(c.metrics.fine_step, 1000);
	assert_int_equal(c.metrics.coarse_step, 5000);
	assert_int_equal(c.idle_stop.after_ms, 7200000);
	assert_int_equal(c.idle_stop.cpu_milli, 3000);
	assert_int_equal(c.idle_stop.net_bps, IDLE_NET_DEFAULT_BPS);
	config_free(&c);
	const char *bad[][2] = {
		{"{\"metrics\": {\"interval\": \"7s\"}}", "\"coarse_step\" 5m must be a multiple of \"interval\" 7s"},
		{"{\"metrics\": {\"interval\": 10}}", "\"interval\" must be a duration as text"},
		{"{\"metrics\": {\"every\": \"10s\"}}", "unknown field \"every\""},
		{"{\"metrics\": {\"keep\": \"1m\"}}", "\"keep\" must be at least \"coarse_step\" 5m"},
		{"{\"idle_stop\": {\"after\": \"1s\"}}", "\"after\" \"1s\" is out of range: 10s to 30d"},
		{"{\"idle_stop\": {\"after\": \"1h\", \"cpu\": \"lots\"}}", "\"cpu\" \"lots\" is not a percentage"},
		{"{\"idle_stop\": {\"after\": \"1h\", \"net_bps\": -1}}", "\"net_bps\" must be a whole number"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		config_init_default(&c);
		assert_true(config_load_buffer(&c, "t.json", bad[i][0], strlen(bad[i][0]), &e) < 0);
		if (!strstr(e.msg, bad[i][1]))
			fail_msg("%s: %s", bad[i][0], e.msg);
		config_free(&c);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sample_from_readings),
		cmocka_unit_test(test_series_plans),
		cmocka_unit_test(test_prometheus_text),
		cmocka_unit_test(test_idle_rule),
		cmocka_unit_test(test_blockstats_and_taps),
		cmocka_unit_test(test_config),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
