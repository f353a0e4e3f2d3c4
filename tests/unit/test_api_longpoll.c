/* Unit tests for long-polling an operation: the wait parameter, the
 * operation's revision, and api/longpoll's held requests with a fake
 * suspend and resume in place of libmicrohttpd's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/longpoll.h"
#include "model/operation.h"
#include "util/timeutil.h"

/* --- wait= ------------------------------------------------------------------ */

static void test_wait_parse_valid(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		int64_t ms;
	} ok[] = {{"0", 0}, {"1", 1000}, {"30", 30000}, {"60", 60000}, {"0.5", 500}, {"1.", 1000},
		  {".25", 250}, {"060", 60000}, {"59.9995", 60000}, {"0.0004", 0}};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct err e = {0};
		int64_t ms = -1;
		if (longpoll_wait_parse("wait", ok[i].text, &ms, &e) < 0)
			fail_msg("wait=\"%s\" refused: %s", ok[i].text, e.msg);
		if (ms != ok[i].ms)
			fail_msg("wait=\"%s\" read as %lld ms, not %lld", ok[i].text, (long long)ms, (long long)ok[i].ms);
	}
}

static void test_wait_parse_invalid(void **state)
{
	(void)state;
	static const char *const bad[] = {"",  "-1",  "61",  "60.001", "abc", "1e3", "0x10", "nan", "inf",
					  " 5", "5 ",  "5s",  "1.2.3", ".",  "+5",  "99999999999999999999999999"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct err e = {0};
		int64_t ms = 1234;
		if (longpoll_wait_parse("wait", bad[i], &ms, &e) == 0)
			fail_msg("wait=\"%s\" was taken as %lld ms", bad[i], (long long)ms);
		assert_int_equal(e.kind, ERR_INVALID);
		assert_int_equal(ms, 1234);   /* left alone */
		char want[128];
		snprintf(want, sizeof(want), "wait \"%s\" must be a number of seconds from 0 to 60", bad[i]);
		if (!strstr(e.msg, want))
			fail_msg("message \"%s\" does not contain \"%s\"", e.msg, want);
	}
	struct err e = {0};
	int64_t ms;
	assert_true(longpoll_wait_parse("wait", NULL, &ms, &e) < 0);
}

/* --- the revision ------------------------------------------------------------ */

static void revision_of(const struct operation *op, char out[OP_REVISION_LEN])
{
	operation_revision(op, out);
	if (!operation_revision_valid(out))
		fail_msg("revision \"%s\" does not have the shape it promises", out);
}

static void test_revision(void **state)
{
	(void)state;
	struct operation op;
	operation_init(&op, "create", "vm-0a1b2c3d4e5f", "web1");
	char r0[OP_REVISION_LEN], r[OP_REVISION_LEN], again[OP_REVISION_LEN];
	revision_of(&op, r0);
	revision_of(&op, again);
	assert_string_equal(r0, again);   /* the same state, the same revision */

	/* Each field a client sees changes it; and undoing the change restores it. */
	phases_mark(&op.phases, "scheduled", op.created_at, op.created_at + 2);
	revision_of(&op, r);
	assert_string_not_equal(r, r0);
	char r1[OP_REVISION_LEN];
	memcpy(r1, r, sizeof(r1));
	op.phases.p[0].at_ms = 3;
	revision_of(&op, r);
	assert_string_not_equal(r, r1);
	op.phases.p[0].at_ms = 2;
	revision_of(&op, r);
	assert_string_equal(r, r1);
	op.progress_done = 100;
	op.progress_total = 1000;
	revision_of(&op, r);
	assert_string_not_equal(r, r1);
	op.progress_done = 0;
	op.progress_total = 0;
	op.state = OP_FAILED;
	revision_of(&op, r);
	assert_string_not_equal(r, r1);
	char failed[OP_REVISION_LEN];
	memcpy(failed, r, sizeof(failed));
	op.error = strdup("boom");
	revision_of(&op, r);
	assert_string_not_equal(r, failed);
	free(op.error);
	op.error = strdup("");   /* an empty error is still an error, not none */
	revision_of(&op, r);
	assert_string_not_equal(r, failed);
	free(op.error);
	op.error = NULL;
	op.finished_at = op.created_at + 5;
	revision_of(&op, r);
	assert_string_not_equal(r, failed);

	/* Phase names are told apart from their neighbours. */
	struct operation a, b;
	operation_init(&a, "create", "vm-0a1b2c3d4e5f", "web1");
	b = a;
	phases_mark(&a.phases, "ab", 0, 0);
	phases_mark(&a.phases, "c", 0, 0);
	phases_mark(&b.phases, "a", 0, 0);
	phases_mark(&b.phases, "bc", 0, 0);
	char ra[OP_REVISION_LEN], rb[OP_REVISION_LEN];
	revision_of(&a, ra);
	revision_of(&b, rb);
	assert_string_not_equal(ra, rb);

	/* The JSON carries it. */
	json_t *j = operation_to_json(&op);
	revision_of(&op, r);
	assert_string_equal(json_string_value(json_object_get(j, "revision")), r);
	json_decref(j);
}

static void test_revision_valid(void **state)
{
	(void)state;
	assert_true(operation_revision_valid("0123456789abcdef"));
	assert_false(operation_revision_valid(NULL));
	assert_false(operation_revision_valid(""));
	assert_false(operation_revision_valid("0123456789abcde"));
	assert_false(operation_revision_valid("0123456789abcdef0"));
	assert_false(operation_revision_valid("0123456789ABCDEF"));
	assert_false(operation_revision_valid("0123456789abcdeg"));
}

/* --- held requests -------------------------------------------------------------- */

/* A fake connection: what longpoll did to it, and when. */
struct fake_conn {
	int suspended, resumed;
	int64_t resumed_at;
};

static pthread_mutex_t fake_mu = PTHREAD_MUTEX_INITIALIZER;

static void fake_suspend(void *conn)
{
	struct fake_conn *f = conn;
	pthread_mutex_lock(&fake_mu);
	f->suspended++;
	pthread_mutex_unlock(&fake_mu);
}

static void fake_resume(void *conn)
{
	struct fake_conn *f = conn;
	pthread_mutex_lock(&fake_mu);
	if (f->resumed >= f->suspended)
		fail_msg("a connection was resumed more often than it was suspended");
	f->resumed++;
	f->resumed_at = time_mono_ms();
	pthread_mutex_unlock(&fake_mu);
}

static int resumed(struct fake_conn *f)
{
	pthread_mutex_lock(&fake_mu);
	int n = f->resumed;
	pthread_mutex_unlock(&fake_mu);
	return n;
}

static void entry_init(struct longpoll_entry *en, struct fake_conn *f, const char *key, int64_t until_ms)
{
	memset(en, 0, sizeof(*en));
	memset(f, 0, sizeof(*f));
	en->conn = f;
	snprintf(en->key, sizeof(en->key), "%s", key);
	en->until_ms = until_ms;
}

static void test_hold_and_notify(void **state)
{
	(void)state;
	struct longpoll *lp = longpoll_new(fake_suspend, fake_resume);
	struct longpoll_entry a, b;
	struct fake_conn fa, fb;
	int64_t far = time_mono_ms() + 60000;
	entry_init(&a, &fa, "op-aaaaaaaaaaaa", far);
	entry_init(&b, &fb, "op-bbbbbbbbbbbb", far);
	assert_int_equal(longpoll_hold(lp, &a, longpoll_seq(lp)), LONGPOLL_HELD);
	assert_int_equal(longpoll_hold(lp, &b, longpoll_seq(lp)), LONGPOLL_HELD);
	assert_int_equal(fa.suspended, 1);
	assert_int_equal(longpoll_count(lp), 2);

	longpoll_notify(lp, "op-cccccccccccc");   /* another operation: nobody moves */
	assert_int_equal(resumed(&fa) + resumed(&fb), 0);
	longpoll_notify(lp, "op-aaaaaaaaaaaa");
	assert_int_equal(resumed(&fa), 1);
	assert_int_equal(resumed(&fb), 0);
	assert_int_equal(longpoll_count(lp), 1);
	longpoll_notify(lp, "op-aaaaaaaaaaaa");   /* no longer held: not resumed twice */
	assert_int_equal(resumed(&fa), 1);

	/* The handler ran again, found no change and holds once more. */
	assert_int_equal(longpoll_hold(lp, &a, longpoll_seq(lp)), LONGPOLL_HELD);
	assert_int_equal(fa.suspended, 2);
	longpoll_notify(lp, "op-aaaaaaaaaaaa");
	assert_int_equal(resumed(&fa), 2);
	longpoll_done(lp, &a);
	longpoll_notify(lp, "op-bbbbbbbbbbbb");
	assert_int_equal(resumed(&fb), 1);
	longpoll_done(lp, &b);
	assert_int_equal(longpoll_count(lp), 0);
	assert_int_equal(longpoll_stop(lp, 0), 0);   /* nothing left open */
	longpoll_free(lp);
}

static void test_change_before_hold(void **state)
{
	(void)state;
	struct longpoll *lp = longpoll_new(fake_suspend, fake_resume);
	struct longpoll_entry a;
	struct fake_conn fa;
	entry_init(&a, &fa, "op-aaaaaaaaaaaa", time_mono_ms() + 60000);
	/* The handler read seq, then the state; a change came in between. */
	uint64_t seq = longpoll_seq(lp);
	longpoll_notify(lp, "op-aaaaaaaaaaaa");
	assert_int_equal(longpoll_hold(lp, &a, seq), LONGPOLL_CHANGED);
	assert_int_equal(fa.suspended, 0);
	assert_int_equal(longpoll_count(lp), 0);
	/* A change to anything counts: the handler just looks again. */
	seq = longpoll_seq(lp);
	longpoll_notify(lp, "op-zzzzzzzzzzzz");
	assert_int_equal(longpoll_hold(lp, &a, seq), LONGPOLL_CHANGED);
	longpoll_done(lp, &a);   /* never held: harmless */
	longpoll_stop(lp, 0);
	longpoll_free(lp);
}

static void test_deadline(void **state)
{
	(void)state;
	struct longpoll *lp = longpoll_new(fake_suspend, fake_resume);
	struct longpoll_entry late, soon;
	struct fake_conn fl, fs;
	int64_t t0 = time_mono_ms();
	entry_init(&late, &fl, "op-aaaaaaaaaaaa", t0 + 60000);
	entry_init(&soon, &fs, "op-bbbbbbbbbbbb", t0 + 300);
	/* The later one first: the timer must notice that a nearer deadline came. */
	assert_int_equal(longpoll_hold(lp, &late, longpoll_seq(lp)), LONGPOLL_HELD);
	assert_int_equal(longpoll_hold(lp, &soon, longpoll_seq(lp)), LONGPOLL_HELD);
	while (!resumed(&fs) && time_mono_ms() < t0 + 10000)
		time_sleep_ms(10);
	assert_int_equal(resumed(&fs), 1);
	if (fs.resumed_at < t0 + 300)
		fail_msg("resumed %lld ms after the hold, before its deadline of 300 ms", (long long)(fs.resumed_at - t0));
	assert_int_equal(resumed(&fl), 0);
	assert_int_equal(longpoll_count(lp), 1);
	longpoll_done(lp, &soon);
	longpoll_stop(lp, 0);   /* resumes the late one */
	assert_int_equal(resumed(&fl), 1);
	longpoll_free(lp);
}

struct done_later {
	struct longpoll *lp;
	struct longpoll_entry *en;
};

static void *finish_later(void *arg)
{
	struct done_later *d = arg;
	time_sleep_ms(100);
	longpoll_done(d->lp, d->en);
	return NULL;
}

static void test_stop(void **state)
{
	(void)state;
	struct longpoll *lp = longpoll_new(fake_suspend, fake_resume);
	struct longpoll_entry a, b, c;
	struct fake_conn fa, fb, fc;
	int64_t far = time_mono_ms() + 60000;
	entry_init(&a, &fa, "op-aaaaaaaaaaaa", far);
	entry_init(&b, &fb, "op-bbbbbbbbbbbb", far);
	entry_init(&c, &fc, "op-cccccccccccc", far);
	assert_int_equal(longpoll_hold(lp, &a, longpoll_seq(lp)), LONGPOLL_HELD);
	assert_int_equal(longpoll_hold(lp, &b, longpoll_seq(lp)), LONGPOLL_HELD);
	longpoll_done(lp, &a);   /* as if a's client had gone (cannot happen while suspended, but safe) */
	assert_int_equal(longpoll_count(lp), 1);
	/* Stop resumes b and waits until it is answered, on another thread here. */
	struct done_later d = {lp, &b};
	pthread_t t;
	pthread_create(&t, NULL, finish_later, &d);
	int64_t t0 = time_mono_ms();
	assert_int_equal(longpoll_stop(lp, 10000), 0);
	if (time_mono_ms() - t0 >= 10000)
		fail_msg("stop waited its whole limit although b was answered");
	pthread_join(t, NULL);
	assert_int_equal(resumed(&fa), 0);
	assert_int_equal(resumed(&fb), 1);
	/* No hold from now on: the handler answers at once. */
	assert_int_equal(longpoll_hold(lp, &c, longpoll_seq(lp)), LONGPOLL_STOPPING);
	assert_int_equal(fc.suspended, 0);
	longpoll_free(lp);

	/* A request that never finishes is counted, not waited for forever. */
	lp = longpoll_new(fake_suspend, fake_resume);
	entry_init(&a, &fa, "op-aaaaaaaaaaaa", far);
	assert_int_equal(longpoll_hold(lp, &a, longpoll_seq(lp)), LONGPOLL_HELD);
	assert_int_equal(longpoll_stop(lp, 50), 1);
	assert_int_equal(resumed(&fa), 1);
	longpoll_done(lp, &a);
	longpoll_free(lp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wait_parse_valid), cmocka_unit_test(test_wait_parse_invalid),
		cmocka_unit_test(test_revision),         cmocka_unit_test(test_revision_valid),
		cmocka_unit_test(test_hold_and_notify),  cmocka_unit_test(test_change_before_hold),
		cmocka_unit_test(test_deadline),         cmocka_unit_test(test_stop),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
