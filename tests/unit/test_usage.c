/* Unit tests for the arithmetic of the bill (model/usage.c): prorating,
 * the minute per start, a run across a price or type change, windows, days
 * and months, groupings and totals; the dates the API takes; and the
 * "prices" of nubod.json. No store, no clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ctl/config.h"
#include "model/usage.h"

#define H 3600000LL
#define GIB (1LL << 30)
/* 2025-03-10T10:00:00Z, 2025-03-31T22:00:00Z, 2025-04-01T00:00:00Z */
#define T10 1741600800000LL
#define MAR31_22 1743458400000LL
#define APR1 1743465600000LL
#define MAR1 1740787200000LL

static struct usage_span run(const char *id, const char *type, double price, int64_t start, int64_t end,
			     int64_t run_at)
{
	struct usage_span s = {0};
	snprintf(s.resource_id, sizeof(s.resource_id), "%s", id);
	snprintf(s.name, sizeof(s.name), "%s", id);
	snprintf(s.type, sizeof(s.type), "%s", type);
	snprintf(s.image, sizeof(s.image), "tiny");
	s.kind = USAGE_VM;
	s.rate_nano = usage_rate_nano(price);
	s.started_at = start;
	s.ended_at = end;
	s.seen_at = start;
	s.run_at = run_at;
	return s;
}

static struct usage_span store(enum usage_kind kind, const char *id, int64_t bytes, double price, int64_t start,
			       int64_t end)
{
	struct usage_span s = {0};
	snprintf(s.resource_id, sizeof(s.resource_id), "%s", id);
	snprintf(s.name, sizeof(s.name), "%s", id);
	s.kind = kind;
	s.bytes = bytes;
	s.rate_nano = usage_rate_nano(price);
	s.started_at = start;
	s.ended_at = end;
	return s;
}

static const struct usage_row *find(const struct usage_report *r, const char *key)
{
	for (int i = 0; i < r->n; i++)
		if (strcmp(r->rows[i].key, key) == 0)
			return &r->rows[i];
	fail_msg("no row %s", key);
	return NULL;
}

static void test_prorated_by_the_second(void **state)
{
	(void)state;
	struct usage_span s[] = {run("a", "c1", 1.0, T10, T10 + H / 2, T10),
				 store(USAGE_DISK, "a", 10 * GIB, 0.001, T10, T10 + 5 * H)};
	struct usage_report r;
	usage_report_make(s, 2, MAR1, APR1, APR1, USAGE_BY_VM, &r);
	assert_int_equal(r.n, 1);   /* the disk is on its VM's row */
	assert_int_equal(r.rows[0].run_ms, H / 2);
	assert_float_equal(r.rows[0].gib_hours, 50.0, 1e-9);
	assert_float_equal(r.rows[0].cost, 0.5 + 0.05, 1e-9);
	assert_string_equal(r.rows[0].kind, "vm");
	usage_report_free(&r);
	/* 1 s of a 0.0168/h type */
	struct usage_span one = run("b", "small", 0.0168, T10, T10 + 61000, T10);
	usage_report_make(&one, 1, MAR1, APR1, APR1, USAGE_BY_VM, &r);
	assert_float_equal(r.total.cost, 0.0168 * 61 / 3600, 1e-12);
	usage_report_free(&r);
}

static void test_minimum_per_start(void **state)
{
	(void)state;
	struct usage_span s[] = {
		run("a", "c2", 2.0, T10, T10 + 20000, T10),                 /* 20 s: a minute */
		run("a", "c2", 2.0, T10 + H, T10 + H + 90000, T10 + H),     /* 90 s: 90 s */
		run("a", "c2", 2.0, T10 + 2 * H, T10 + 2 * H, T10 + 2 * H), /* nothing: a minute still */
	};
	struct usage_report r;
	usage_report_make(s, 3, MAR1, APR1, APR1, USAGE_BY_VM, &r);
	assert_int_equal(r.total.run_ms, 60000 + 90000 + 60000);
	assert_float_equal(r.total.cost, 2.0 * 210 / 3600, 1e-12);
	usage_report_free(&r);
	/* a VM still running 10 s after its start already owes its minute */
	struct usage_span open = run("b", "c1", 1.0, T10, 0, T10);
	usage_report_make(&open, 1, MAR1, APR1, T10 + 10000, USAGE_BY_VM, &r);
	assert_int_equal(r.total.run_ms, 60000);
	usage_report_free(&r);
	usage_report_make(&open, 1, MAR1, APR1, T10 + 100000, USAGE_BY_VM, &r);
	assert_int_equal(r.total.run_ms, 100000);
	usage_report_free(&r);
}

static void test_run_across_price_and_type_changes(void **state)
{
	(void)state;
	/* one run, repriced after 30 min: one minimum, each half at its price */
	struct usage_span s[] = {run("a", "c1", 1.0, T10, T10 + H / 2, T10), run("a", "c1", 3.0, T10 + H / 2, T10 + H, T10)};
	struct usage_report r;
	usage_report_make(s, 2, MAR1, APR1, APR1, USAGE_BY_VM, &r);
	assert_int_equal(r.total.run_ms, H);
	assert_float_equal(r.total.cost, 2.0, 1e-12);
	usage_report_free(&r);
	/* resized after 10 s, stopped 20 s later: 30 s more at the first rate */
	struct usage_span t[] = {run("b", "c1", 1.0, T10, T10 + 10000, T10),
				 run("b", "c2", 2.0, T10 + 10000, T10 + 30000, T10)};
	usage_report_make(t, 2, MAR1, APR1, APR1, USAGE_BY_TYPE, &r);
	assert_int_equal(r.n, 2);
	assert_int_equal(find(&r, "c1")->run_ms, 40000);
	assert_int_equal(find(&r, "c2")->run_ms, 20000);
	assert_float_equal(r.total.cost, (10 + 40 + 30) / 3600.0, 1e-12);
	usage_report_free(&r);
}

static void test_windows_days_and_months(void **state)
{
	(void)state;
	struct usage_span v = store(USAGE_VOLUME, "v1", 100 * GIB, 0.002, MAR31_22, APR1 + 2 * H);
	struct usage_report r;
	usage_report_make(&v, 1, MAR1, APR1, APR1 + 10 * H, USAGE_BY_VM, &r);
	assert_float_equal(r.total.gib_hours, 200, 1e-9);
	assert_float_equal(r.total.cost, 0.4, 1e-9);
	assert_string_equal(r.rows[0].kind, "volume");
	usage_report_free(&r);
	usage_report_make(&v, 1, APR1, APR1 + 30 * 24 * H, APR1 + 10 * H, USAGE_BY_VM, &r);
	assert_float_equal(r.total.gib_hours, 200, 1e-9);
	usage_report_free(&r);
	usage_report_make(&v, 1, MAR1, APR1 + 30 * 24 * H, APR1 + 10 * H, USAGE_BY_DAY, &r);
	assert_int_equal(r.n, 2);
	assert_string_equal(r.rows[0].key, "2025-03-31");
	assert_string_equal(r.rows[1].key, "2025-04-01");
	assert_float_equal(r.rows[0].gib_hours, 200, 1e-9);
	assert_float_equal(r.rows[1].gib_hours, 200, 1e-9);
	usage_report_free(&r);
	/* an open span counts up to now, not up to a window's end beyond it */
	struct usage_span open = store(USAGE_VOLUME, "v2", GIB, 1.0, APR1, 0);
	usage_report_make(&open, 1, MAR1, APR1 + 30 * 24 * H, APR1 + H, USAGE_BY_VM, &r);
	assert_float_equal(r.total.gib_hours, 1, 1e-9);
	usage_report_free(&r);
	/* a run's minimum is billed in the window that holds its start */
	struct usage_span brief = run("a", "c1", 3.6, APR1 - 20000, APR1 + 10000, APR1 - 20000);
	usage_report_make(&brief, 1, MAR1, APR1, APR1 + H, USAGE_BY_VM, &r);
	assert_int_equal(r.total.run_ms, 20000 + 30000);
	usage_report_free(&r);
	usage_report_make(&brief, 1, APR1, APR1 + H, APR1 + H, USAGE_BY_VM, &r);
	assert_int_equal(r.total.run_ms, 10000);
	usage_report_free(&r);
	assert_int_equal(usage_month_start(APR1 + 5 * 24 * H + 123), APR1);
	assert_int_equal(usage_month_start(APR1 - 1), MAR1);
	assert_int_equal(usage_day_start(MAR31_22), APR1 - 24 * H);
}

static void test_groupings_and_totals(void **state)
{
	(void)state;
	struct usage_span s[] = {
		run("web", "c1", 1.0, T10, T10 + H, T10),
		store(USAGE_DISK, "web", GIB, 1.0, T10, T10 + H),
		store(USAGE_SNAPSHOT, "snap", 2 * GIB, 1.0, T10, T10 + H),
		store(USAGE_IMAGE, "tiny", 4 * GIB, 1.0, T10, T10 + H),
	};
	snprintf(s[1].image, sizeof(s[1].image), "tiny");
	snprintf(s[3].image, sizeof(s[3].image), "tiny");
	struct usage_report r;
	usage_report_make(s, 4, MAR1, APR1, APR1, USAGE_BY_VM, &r);
	assert_int_equal(r.n, 3);
	assert_string_equal(r.rows[0].key, "snap");
	assert_string_equal(r.rows[1].key, "tiny");
	assert_string_equal(r.rows[2].key, "web");
	assert_float_equal(r.rows[2].cost, 2.0, 1e-12);
	assert_float_equal(r.total.cost, 1 + 1 + 2 + 4, 1e-12);
	usage_report_free(&r);
	usage_report_make(s, 4, MAR1, APR1, APR1, USAGE_BY_TYPE, &r);
	assert_int_equal(r.n, 4);
	assert_float_equal(find(&r, "c1")->cost, 1, 1e-12);
	assert_float_equal(find(&r, "disk")->gib_hours, 1, 1e-12);
	assert_float_equal(find(&r, "snapshot")->gib_hours, 2, 1e-12);
	assert_float_equal(find(&r, "image")->gib_hours, 4, 1e-12);
	assert_float_equal(r.total.cost, 8, 1e-12);
	usage_report_free(&r);
	usage_report_make(s, 4, MAR1, APR1, APR1, USAGE_BY_IMAGE, &r);
	assert_int_equal(r.n, 2);
	assert_float_equal(find(&r, "tiny")->cost, 1 + 1 + 4, 1e-12);
	assert_float_equal(find(&r, "-")->cost, 2, 1e-12);
	usage_report_free(&r);
	assert_float_equal(usage_cost_total(s, 2, APR1), 2.0, 1e-12);
	json_t *j = NULL;
	usage_report_make(s, 4, MAR1, APR1, APR1, USAGE_BY_DAY, &r);
	j = usage_report_to_json(&r, USAGE_BY_DAY, MAR1, APR1);
	assert_string_equal(json_string_value(json_object_get(j, "by")), "day");
	assert_int_equal(json_array_size(json_object_get(j, "rows")), 1);
	assert_float_equal(json_real_value(json_object_get(json_object_get(j, "total"), "cost")), 8, 1e-12);
	json_decref(j);
	usage_report_free(&r);
}

static void test_dates_and_groupings_parse(void **state)
{
	(void)state;
	int64_t t = 0;
	struct err e = {0};
	assert_int_equal(usage_time_parse("from", "2025-04-01", &t, &e), 0);
	assert_int_equal(t, APR1);
	assert_int_equal(usage_time_parse("to", "2025-03-10T10:00:00Z", &t, &e), 0);
	assert_int_equal(t, T10);
	const char *bad[] = {"2025-02-29", "2025-13-01", "2025-3-01", "2025-03-01T24:00:00Z", "2025-03-01 ", "+025-03-01",
			     "2025-03-01T10:00:00", "", "1969-12-31", "x"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&e, 0, sizeof(e));
		assert_true(usage_time_parse("from", bad[i], &t, &e) < 0);
		assert_int_equal(e.kind, ERR_INVALID);
		assert_non_null(strstr(e.msg, "from \""));
	}
	enum usage_by by;
	assert_int_equal(usage_by_parse("by", "image", &by, &e), 0);
	assert_int_equal(by, USAGE_BY_IMAGE);
	memset(&e, 0, sizeof(e));
	assert_true(usage_by_parse("by", "week", &by, &e) < 0);
	assert_string_equal(e.msg, "by \"week\" is not a grouping; use vm, type, day or image");
	assert_int_equal(usage_rate_nano(0.0042), 4200000);
}

static void test_config_prices(void **state)
{
	(void)state;
	struct config c;
	struct err e = {0};
	config_init_default(&c);
	assert_float_equal(c.prices.gib_hour[USAGE_DISK], USAGE_PRICE_DISK, 1e-15);
	const char *good = "{\"prices\": {\"volume_gib_hour\": 0.5, \"types\": {\"c9\": 7, \"small\": 0.02}},"
			   " \"types\": [{\"name\": \"c9\", \"vcpus\": 1, \"memory_mib\": 256}]}";
	assert_int_equal(config_load_buffer(&c, "t.json", good, strlen(good), &e), 0);
	assert_float_equal(c.prices.gib_hour[USAGE_VOLUME], 0.5, 1e-15);
	assert_float_equal(catalog_find(&c.types, "c9")->price_per_hour, 7, 1e-15);
	assert_float_equal(catalog_find(&c.types, "small")->price_per_hour, 0.02, 1e-15);
	config_free(&c);
	const char *const bad[][2] = {
		{"{\"prices\": {\"disk_gib_hour\": -1}}", "\"prices.disk_gib_hour\" must be a number"},
		{"{\"prices\": {\"ram_gib_hour\": 1}}", "unknown price \"ram_gib_hour\""},
		{"{\"prices\": {\"types\": {\"huge\": 1}}}", "type \"huge\" does not exist"},
		{"{\"prices\": {\"types\": {\"small\": \"x\"}}}", "\"prices.types.small\" must be a number"},
		{"{\"prices\": 3}", "\"prices\" must be an object"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		config_init_default(&c);
		memset(&e, 0, sizeof(e));
		assert_true(config_load_buffer(&c, "t.json", bad[i][0], strlen(bad[i][0]), &e) < 0);
		if (!strstr(e.msg, bad[i][1]))
			fail_msg("%s: %s", bad[i][0], e.msg);
		config_free(&c);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prorated_by_the_second),
		cmocka_unit_test(test_minimum_per_start),
		cmocka_unit_test(test_run_across_price_and_type_changes),
		cmocka_unit_test(test_windows_days_and_months),
		cmocka_unit_test(test_groupings_and_totals),
		cmocka_unit_test(test_dates_and_groupings_parse),
		cmocka_unit_test(test_config_prices),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
