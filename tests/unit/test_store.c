/* Unit tests for the store: PostgreSQL's placeholder rewrite, connection
 * strings without passwords, the column descriptors (every kind written and
 * read back through SQLite), a database made by an older nubo (schema
 * version 11) that opens and migrates with its rows intact, a group's
 * lease, and a VM's revision moving with its usage spans. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/driver.h"
#include "store/migrations.h"
#include "store/store-priv.h"
#include "util/str.h"

static void rewrites_to(const char *sql, const char *want)
{
	char *got = db_pg_placeholders(sql);
	assert_string_equal(got, want);
	free(got);
}

static void test_pg_placeholders(void **state)
{
	(void)state;
	rewrites_to("SELECT 1", "SELECT 1");
	rewrites_to("INSERT INTO t (a, b, c) VALUES (?,?,?)", "INSERT INTO t (a, b, c) VALUES ($1,$2,$3)");
	rewrites_to("UPDATE t SET a = ?2, b = ?10 WHERE id = ?1", "UPDATE t SET a = $2, b = $10 WHERE id = $1");
	rewrites_to("WHERE name = ?1 OR id = ?1", "WHERE name = $1 OR id = $1");
	/* a bare ? after ?N is one more than the highest so far, as SQLite counts */
	rewrites_to("a = ?3 AND b = ?", "a = $3 AND b = $4");
	/* never inside quotes */
	rewrites_to("SELECT '?', \"a?b\" FROM t WHERE x = ?", "SELECT '?', \"a?b\" FROM t WHERE x = $1");
	rewrites_to("WHERE s = 'it''s ?' AND t = ?", "WHERE s = 'it''s ?' AND t = $1");
}

static void redacts_to(const char *target, const char *want)
{
	char *got = db_target_redact(target);
	assert_string_equal(got, want);
	free(got);
}

static void test_target_redact(void **state)
{
	(void)state;
	redacts_to("postgres://nubo@db/nubo", "postgres://nubo@db/nubo");
	redacts_to("postgres://nubo:s3cret@db:5432/nubo", "postgres://nubo@db:5432/nubo");
	redacts_to("postgresql://u:p%40ss@h/d?sslmode=require", "postgresql://u@h/d?sslmode=require");
	redacts_to("postgres://u@/d?host=/tmp/x&password=pw&port=5", "postgres://u@/d?host=/tmp/x&port=5");
	redacts_to("postgres://u@h/d?password=pw", "postgres://u@h/d");
	redacts_to("host=db user=nubo password=pw dbname=nubo", "host=db user=nubo dbname=nubo");
	redacts_to("/var/lib/nubo/nubo.db", "/var/lib/nubo/nubo.db");
	assert_true(db_target_is_pg("postgres://x/y"));
	assert_true(db_target_is_pg("postgresql://x/y"));
	assert_false(db_target_is_pg("/var/lib/nubo/nubo.db"));
}

/* --- through SQLite ------------------------------------------------------- */

struct sample {
	char id[16];
	char name[16];
	char opt[16];
	char *note;
	int n;
	bool flag;
	uint16_t port;
	int64_t when_ms;
	uint64_t bytes;
	int color;
};

static const char *const colors[] = {"red", "green"};

static char *color_text(const void *f)
{
	return xstrdup(colors[*(const int *)f]);
}

static void color_from(const char *text, void *f)
{
	*(int *)f = text && strcmp(text, "green") == 0;
}

static const struct col sample_cols[] = {
	COL(struct sample, id, COL_TEXT),
	COL(struct sample, name, COL_TEXT),
	COL(struct sample, opt, COL_TEXT_NULL),
	COL(struct sample, note, COL_STR),
	COL(struct sample, n, COL_INT),
	COL(struct sample, flag, COL_BOOL),
	COL(struct sample, port, COL_U16),
	COL_EV(struct sample, when_ms, COL_I64, EV_QUIET),
	COL(struct sample, bytes, COL_U64),
	COL_FN("color", struct sample, color, color_text, color_from, EV_SHOW),
};
static const struct table sample_table = {"samples", "sample", sizeof(struct sample), sample_cols,
					   sizeof(sample_cols) / sizeof(sample_cols[0]), "sample", NULL, NULL};

static char *temp_db(void)
{
	char *dir = xstrdup("/tmp/nubo-unit-store.XXXXXX");
	assert_non_null(mkdtemp(dir));
	char *path = xasprintf("%s/nubo.db", dir);
	free(dir);
	return path;
}

static void remove_db(char *path)
{
	char *dir = xstrdup(path);
	*strrchr(dir, '/') = '\0';
	const char *const tails[] = {"", "-wal", "-shm"};
	for (int i = 0; i < 3; i++) {
		char *f = xasprintf("%s%s", path, tails[i]);
		unlink(f);
		free(f);
	}
	rmdir(dir);
	free(dir);
	free(path);
}

static int sample_roundtrip(struct cx *cx, struct err *e)
{
	if (cx_exec(cx, "CREATE TABLE samples (id TEXT PRIMARY KEY, name TEXT UNIQUE, opt TEXT, note TEXT, n INTEGER,"
			" flag INTEGER, port INTEGER, when_ms BIGINT, bytes BIGINT, color TEXT)", e) < 0)
		return -1;
	struct sample a = {.id = "s-1", .name = "one", .opt = "", .note = NULL, .n = -7, .flag = true, .port = 65535,
			   .when_ms = INT64_C(1) << 42, .bytes = UINT64_C(5) << 40, .color = 1};
	if (table_insert(cx, &sample_table, &a, a.name, e) < 0)
		return -1;
	struct sample b;
	if (table_get(cx, &sample_table, "one", &b, e) < 0)
		return -1;
	assert_string_equal(b.id, "s-1");
	assert_string_equal(b.opt, "");
	assert_null(b.note);
	assert_int_equal(b.n, -7);
	assert_true(b.flag);
	assert_int_equal(b.port, 65535);
	assert_true(b.when_ms == (INT64_C(1) << 42));   /* 64-bit, not cut to 32 */
	assert_true(b.bytes == (UINT64_C(5) << 40));
	assert_int_equal(b.color, 1);
	/* "" in a COL_TEXT_NULL is NULL in the row */
	int nulls = 0;
	if (cx_count(cx, "SELECT COUNT(*) FROM samples WHERE opt IS NULL AND id = ?1", "s-1", NULL, NULL, &nulls, e) < 0)
		return -1;
	assert_int_equal(nulls, 1);
	a.note = "a note";
	snprintf(a.opt, sizeof(a.opt), "x");
	a.flag = false;
	if (table_update(cx, &sample_table, &a, e) < 0)
		return -1;
	struct sample *all = NULL;
	int n = 0;
	if (table_list(cx, &sample_table, "name", (void **)&all, &n, e) < 0)
		return -1;
	assert_int_equal(n, 1);
	assert_string_equal(all[0].note, "a note");
	assert_string_equal(all[0].opt, "x");
	assert_false(all[0].flag);
	free(all[0].note);
	free(all);
	/* a second row with the same name: a conflict that names it */
	struct sample c = a;
	snprintf(c.id, sizeof(c.id), "s-2");
	struct err ce = {0};
	assert_true(table_insert(cx, &sample_table, &c, c.name, &ce) < 0);
	assert_int_equal(ce.kind, ERR_CONFLICT);
	assert_string_equal(ce.msg, "a sample named \"one\" already exists");
	char key[64];
	cx_unique_key(cx, key, sizeof(key));
	assert_string_equal(key, "samples.name");
	return 0;
}

static void test_columns_roundtrip(void **state)
{
	(void)state;
	char *path = temp_db();
	struct store *st = NULL;
	struct err e = {0};
	assert_int_equal(store_open(path, &st, &e), 0);
	struct cx *cx;
	assert_int_equal(cx_enter(st, CX_WRITE, &cx, &e), 0);
	int rc = sample_roundtrip(cx, &e);
	if (rc < 0)
		fail_msg("%s", e.msg);
	assert_int_equal(cx_leave(cx, rc, &e), 0);
	store_close(st);
	remove_db(path);
}

/* A database as nubo made it at schema version 11, with a VM and its NIC. */
static void test_old_sqlite_database_migrates(void **state)
{
	(void)state;
	char *path = temp_db();
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	for (int i = 0; i < store_migrations_count && store_migrations[i].version <= 11; i++)
		assert_int_equal(sqlite3_exec(db, store_migrations[i].sql, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
				      "PRAGMA user_version = 11;"
				      "INSERT INTO networks (id, name, cidr, bridge, nat, created_at) "
				      "  VALUES ('net-1', 'default', '10.9.0.0/24', 'nbx0', 1, 1);"
				      "INSERT INTO vms (id, name, type, vcpus, memory_mib, image, image_id, ssh_user, power, "
				      "  state, created_at, disk_size_bytes) VALUES ('vm-1', 'old1', 'small', 1, 512, 'tiny', "
				      "  'img-1', 'root', 'running', 'running', 1700000000000, 10737418240);"
				      "INSERT INTO nics (vm_id, idx, network_id, ip, mac) "
				      "  VALUES ('vm-1', 0, 'net-1', '10.9.0.2', '52:54:00:00:00:01');",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);

	struct store *st = NULL;
	struct err e = {0};
	if (store_open(path, &st, &e) < 0)
		fail_msg("%s", e.msg);
	struct vm vm;
	assert_int_equal(store_vm_get(st, "old1", &vm, &e), 0);
	assert_string_equal(vm.id, "vm-1");
	assert_true(vm.created_at == INT64_C(1700000000000));
	assert_true(vm.disk_size_bytes == UINT64_C(10737418240));
	assert_int_equal(vm.n_nics, 1);
	assert_string_equal(vm.nics[0].ip, "10.9.0.2");
	assert_string_equal(vm.nics[0].network, "default");
	vm_free_fields(&vm);
	/* step 12's triggers work on it: the revision moves with a change */
	struct vm_rev *revs = NULL;
	int n = 0;
	bool more = false;
	assert_int_equal(store_vm_page_revs(st, NULL, 10, &revs, &n, &more, &e), 0);
	assert_int_equal(n, 1);
	int64_t rev = revs[0].rev;
	free(revs);
	assert_int_equal(store_vm_set_firewalls(st, "vm-1", NULL, 0, &e), 0);
	struct vm_firewall fw = {.id = "fw-1"};
	assert_int_equal(store_vm_set_firewalls(st, "vm-1", &fw, 1, &e), 0);
	assert_int_equal(store_vm_page_revs(st, NULL, 10, &revs, &n, &more, &e), 0);
	assert_true(revs[0].rev > rev);
	free(revs);
	store_close(st);
	remove_db(path);
}

/* The events table functions recorded, "what|name|detail" per row, oldest first; caller frees. */
static char *events_text(struct store *st)
{
	struct event_query q = {.after = 0, .limit = 100};
	struct event *evs = NULL;
	int n = 0;
	int64_t last = 0;
	struct err e = {0};
	if (store_events_list(st, &q, &evs, &n, &last, &e) < 0)
		fail_msg("%s", e.msg);
	struct sbuf b = {0};
	for (int i = 0; i < n; i++)
		if (strcmp(evs[i].kind, "sample") == 0)
			sbuf_addf(&b, "%s|%s|%s\n", evs[i].what, evs[i].name, evs[i].detail ? evs[i].detail : "-");
	event_list_free(evs, n);
	return sbuf_take(&b);
}

static int sample_changes(struct cx *cx, struct sample *a, struct err *e)
{
	if (cx_exec(cx, "CREATE TABLE samples (id TEXT PRIMARY KEY, name TEXT UNIQUE, opt TEXT, note TEXT, n INTEGER,"
			" flag INTEGER, port INTEGER, when_ms BIGINT, bytes BIGINT, color TEXT)", e) < 0)
		return -1;
	if (table_insert(cx, &sample_table, a, a->name, e) < 0)
		return -1;
	if (table_update(cx, &sample_table, a, e) < 0)   /* the same row again: no event */
		return -1;
	a->when_ms += 1000;                                /* a quiet column only: no event */
	if (table_update(cx, &sample_table, a, e) < 0)
		return -1;
	a->color = 1;                                      /* shown with its values */
	if (table_update(cx, &sample_table, a, e) < 0)
		return -1;
	a->n = 8;                                          /* named */
	a->note = "x";
	a->when_ms += 1000;
	if (table_update(cx, &sample_table, a, e) < 0)
		return -1;
	if (table_delete(cx, &sample_table, "s-9", e) < 0)   /* no such row: no event */
		return -1;
	return table_delete(cx, &sample_table, a->id, e);
}

static void test_table_events(void **state)
{
	(void)state;
	char *path = temp_db();
	struct store *st = NULL;
	struct err e = {0};
	assert_int_equal(store_open(path, &st, &e), 0);
	struct cx *cx;
	assert_int_equal(cx_enter(st, CX_WRITE, &cx, &e), 0);
	struct sample a = {.id = "s-1", .name = "one", .n = 7, .color = 0};
	int rc = sample_changes(cx, &a, &e);
	if (rc < 0)
		fail_msg("%s", e.msg);
	assert_int_equal(cx_leave(cx, rc, &e), 0);
	char *got = events_text(st);
	assert_string_equal(got, "created|one|-\n"
				 "color: red→green|one|{\"changed\":[\"color\"]}\n"
				 "updated: note, n|one|{\"changed\":[\"note\",\"n\"]}\n"
				 "deleted|one|-\n");
	free(got);
	/* a transaction rolled back leaves no event behind */
	assert_int_equal(cx_enter(st, CX_WRITE, &cx, &e), 0);
	struct sample b = {.id = "s-2", .name = "two"};
	assert_int_equal(table_insert(cx, &sample_table, &b, b.name, &e), 0);
	assert_int_equal(cx_leave(cx, -1, &e), -1);
	got = events_text(st);
	assert_null(strstr(got, "two"));
	free(got);
	int64_t seq = 0;
	assert_int_equal(store_events_last_seq(st, &seq, &e), 0);
	assert_true(seq >= 4);
	store_close(st);
	remove_db(path);
}

/* A downgrade: a store whose schema is newer than this nubod's steps is
 * refused with a sentence naming both versions, and left as it was. */
static void test_newer_schema_is_refused(void **state)
{
	(void)state;
	char *path = temp_db();
	struct store *st = NULL;
	struct err e = {0};
	if (store_open(path, &st, &e) < 0)
		fail_msg("%s", e.msg);
	store_close(st);
	st = NULL;
	int newest = store_migrations[store_migrations_count - 1].version;
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	char sql[64];
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", newest + 1);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);

	assert_true(store_open(path, &st, &e) < 0);
	assert_null(st);
	char want[128];
	snprintf(want, sizeof(want), "schema is at version %d, newer than this nubod", newest + 1);
	if (!strstr(e.msg, want) || !strstr(e.msg, "cannot be downgraded"))
		fail_msg("got \"%s\"", e.msg);

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_stmt *q = NULL;
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(q, 0), newest + 1);
	sqlite3_finalize(q);
	sqlite3_close(db);
	remove_db(path);
}

/* A group's lease: one host at a time; renewed by its holder; taken by
 * another once it lapsed; given up by a stopping host; never written back by
 * a change of the group itself. */
static void test_group_lease(void **state)
{
	(void)state;
	char *path = temp_db();
	struct store *st = NULL;
	struct err e = {0};
	if (store_open(path, &st, &e) < 0)
		fail_msg("%s", e.msg);
	struct scaling_group g = {0};
	group_defaults(&g);
	snprintf(g.id, sizeof(g.id), "grp-1");
	snprintf(g.name, sizeof(g.name), "web");
	snprintf(g.image, sizeof(g.image), "tiny");
	snprintf(g.type, sizeof(g.type), "small");
	snprintf(g.network, sizeof(g.network), "default");
	g.min_size = g.max_size = g.desired = 1;
	assert_int_equal(store_group_insert(st, &g, &e), 0);
	struct group_lease l;
	assert_int_equal(store_group_lease(st, "grp-1", "h1", 1000, 31000, &l, &e), 0);
	assert_true(l.held);
	assert_string_equal(l.host, "h1");
	assert_true(l.until == 31000);
	assert_int_equal(store_group_lease(st, "grp-1", "h2", 2000, 32000, &l, &e), 0);
	assert_false(l.held);   /* h1 holds it: h2 learns who, and until when */
	assert_string_equal(l.host, "h1");
	assert_true(l.until == 31000);
	assert_int_equal(store_group_lease(st, "grp-1", "h1", 11000, 41000, &l, &e), 0);
	assert_true(l.held && l.until == 41000);   /* renewed */
	/* a change of the group (a decision, the API) keeps the lease */
	g.desired = 1;
	assert_int_equal(store_group_update(st, &g, &e), 0);
	assert_int_equal(store_group_lease(st, "grp-1", "h2", 40999, 70999, &l, &e), 0);
	assert_false(l.held);
	assert_true(l.until == 41000);
	assert_int_equal(store_group_lease(st, "grp-1", "h2", 41000, 71000, &l, &e), 0);
	assert_true(l.held);   /* lapsed: h2 takes it */
	assert_int_equal(store_group_lease(st, "grp-1", "h1", 42000, 72000, &l, &e), 0);
	assert_false(l.held);
	assert_string_equal(l.host, "h2");
	assert_int_equal(store_group_lease_release(st, "h1", &e), 0);   /* not h1's: nothing */
	assert_int_equal(store_group_lease(st, "grp-1", "h1", 43000, 73000, &l, &e), 0);
	assert_false(l.held);
	assert_int_equal(store_group_lease_release(st, "h2", &e), 0);
	assert_int_equal(store_group_lease(st, "grp-1", "h1", 44000, 74000, &l, &e), 0);
	assert_true(l.held);   /* given up: taken at once */
	assert_int_equal(store_group_lease(st, "grp-9", "h1", 44000, 74000, &l, &e), -1);
	assert_int_equal(e.kind, ERR_NOT_FOUND);
	group_free_fields(&g);
	store_close(st);
	remove_db(path);
}

/* The revision of the only VM of st. */
static int64_t only_rev(struct store *st)
{
	struct vm_rev *revs = NULL;
	int n = 0;
	bool more = false;
	struct err e = {0};
	if (store_vm_page_revs(st, NULL, 10, &revs, &n, &more, &e) < 0)
		fail_msg("%s", e.msg);
	assert_int_equal(n, 1);
	int64_t rev = revs[0].rev;
	free(revs);
	return rev;
}

/* A VM's revision changes with its usage spans, also when its row does
 * not (the list keeps each VM's spans per revision for its cost): a meter
 * run that changes nothing keeps it, a new disk price moves it once. */
static void test_usage_moves_vm_revision(void **state)
{
	(void)state;
	char *path = temp_db();
	struct store *st = NULL;
	struct err e = {0};
	if (store_open(path, &st, &e) < 0)
		fail_msg("%s", e.msg);
	struct vm vm = {0};
	snprintf(vm.id, sizeof(vm.id), "vm-1");
	snprintf(vm.name, sizeof(vm.name), "web");
	snprintf(vm.type, sizeof(vm.type), "small");
	vm.vcpus = vm.live_vcpus = 1;
	vm.memory_mib = 512;
	snprintf(vm.image, sizeof(vm.image), "tiny");
	snprintf(vm.image_id, sizeof(vm.image_id), "img-1");
	snprintf(vm.ssh_user, sizeof(vm.ssh_user), "root");
	vm.power = POWER_RUNNING;
	vm.state = VM_RUNNING;
	vm.disk_size_bytes = UINT64_C(10737418240);
	vm.created_at = 1700000000000;
	if (store_vm_insert(st, &vm, &e) < 0)
		fail_msg("%s", e.msg);
	int64_t rev = only_rev(st);
	assert_int_equal(store_usage_sync(st, &e), 0);
	assert_true(only_rev(st) == rev);
	struct usage_prices p;
	usage_prices_default(&p);
	p.gib_hour[USAGE_DISK] *= 2;
	struct type_catalog types;
	catalog_init_default(&types);
	store_usage_set_prices(st, &p, &types);
	assert_int_equal(store_usage_sync(st, &e), 0);
	int64_t moved = only_rev(st);
	assert_true(moved > rev);
	assert_int_equal(store_usage_sync(st, &e), 0);
	assert_true(only_rev(st) == moved);
	catalog_free(&types);
	store_close(st);
	remove_db(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pg_placeholders),
		cmocka_unit_test(test_target_redact),
		cmocka_unit_test(test_columns_roundtrip),
		cmocka_unit_test(test_old_sqlite_database_migrates),
		cmocka_unit_test(test_table_events),
		cmocka_unit_test(test_newer_schema_is_refused),
		cmocka_unit_test(test_group_lease),
		cmocka_unit_test(test_usage_moves_vm_revision),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
