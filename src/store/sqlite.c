/*
 * sqlite: the embedded store backend (see store.h).
 *
 * One connection in WAL mode, serialised by a recursive lock so that a
 * transaction opened with store_tx_begin() can call the other functions.
 * Column lists are written once per table and shared by the insert, update
 * and select statements, so a new column is added in one place.
 */
#include "store/sqlite-priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/migrations.h"
#include "util/log.h"
#include "util/str.h"

int sq_err(struct store *st, struct err *e, const char *what)
{
	return err_set(e, ERR_INTERNAL, "store: %s: %s", what, sqlite3_errmsg(st->db));
}

int sq_exec(struct store *st, const char *sql, struct err *e)
{
	char *msg = NULL;
	if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		int rc = err_set(e, ERR_INTERNAL, "store: %s", msg ? msg : "unknown error");
		sqlite3_free(msg);
		return rc;
	}
	return 0;
}

static int migrate(struct store *st, struct err *e)
{
	sqlite3_stmt *s;
	int version = 0;
	if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK)
		return sq_err(st, e, "reading schema version");
	if (sqlite3_step(s) == SQLITE_ROW)
		version = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	for (int i = 0; i < store_migrations_count; i++) {
		const struct migration *m = &store_migrations[i];
		if (m->version <= version)
			continue;
		char pragma[64];
		snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d;", m->version);
		if (sq_exec(st, "BEGIN IMMEDIATE", e) < 0)
			return -1;
		if (sq_exec(st, m->sql, e) < 0 || sq_exec(st, pragma, e) < 0) {
			sq_exec(st, "ROLLBACK", NULL);
			err_prefix(e, "migration %d", m->version);
			return -1;
		}
		if (sq_exec(st, "COMMIT", e) < 0)
			return -1;
		log_info("store: schema migrated to version %d", m->version);
	}
	return 0;
}

int store_open(const char *path, struct store **out, struct err *e)
{
	struct store *st = xcalloc(1, sizeof(*st));
	pthread_mutexattr_t attr;
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&st->lock, &attr);
	pthread_mutexattr_destroy(&attr);
	if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
			    NULL) != SQLITE_OK) {
		int rc = err_set(e, ERR_INTERNAL, "cannot open store %s: %s", path,
				 st->db ? sqlite3_errmsg(st->db) : "out of memory");
		store_close(st);
		return rc;
	}
	sqlite3_busy_timeout(st->db, 5000);
	if (sq_exec(st, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
		     e) < 0 ||
	    migrate(st, e) < 0) {
		err_prefix(e, "store %s", path);
		store_close(st);
		return -1;
	}
	*out = st;
	return 0;
}

void store_close(struct store *st)
{
	if (!st)
		return;
	sqlite3_close(st->db);
	pthread_mutex_destroy(&st->lock);
	free(st);
}

int64_t store_change_count(struct store *st)
{
	pthread_mutex_lock(&st->lock);
	int64_t n = sqlite3_total_changes64(st->db);
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(st->db, "PRAGMA data_version", -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
		n += (int64_t)sqlite3_column_int64(s, 0) << 32;   /* other connections' commits */
	sqlite3_finalize(s);
	pthread_mutex_unlock(&st->lock);
	return n;
}

int store_tx_begin(struct store *st, struct err *e)
{
	pthread_mutex_lock(&st->lock);
	if (sq_exec(st, "BEGIN IMMEDIATE", e) < 0) {
		pthread_mutex_unlock(&st->lock);
		return -1;
	}
	return 0;
}

int store_tx_end(struct store *st, bool ok, struct err *e)
{
	int rc = sq_exec(st, ok ? "COMMIT" : "ROLLBACK", e);
	if (rc < 0 && ok)
		sq_exec(st, "ROLLBACK", NULL);
	pthread_mutex_unlock(&st->lock);
	return rc;
}

/* --- statement helpers ---------------------------------------------------- */

sqlite3_stmt *sq_prep(struct store *st, const char *sql, struct err *e)
{
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
		sq_err(st, e, "preparing a statement");
		return NULL;
	}
	return s;
}

void sq_bind_text(sqlite3_stmt *s, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, i);
}

void sq_bind_phases(sqlite3_stmt *s, int i, const struct phases *ph)
{
	json_t *j = phases_to_json(ph);
	char *text = json_dumps(j, JSON_COMPACT);
	sqlite3_bind_text(s, i, text, -1, SQLITE_TRANSIENT);
	free(text);
	json_decref(j);
}

void sq_col_copy(sqlite3_stmt *s, int i, char *buf, size_t n)
{
	const char *v = (const char *)sqlite3_column_text(s, i);
	snprintf(buf, n, "%s", v ? v : "");
}

char *sq_col_dup(sqlite3_stmt *s, int i)
{
	const char *v = (const char *)sqlite3_column_text(s, i);
	return v ? xstrdup(v) : NULL;
}

/* Runs a statement that returns no rows; maps a UNIQUE violation to ERR_CONFLICT with what. */
int sq_step_done(struct store *st, sqlite3_stmt *s, const char *what, struct err *e)
{
	int rc = sqlite3_step(s);
	int ext = sqlite3_extended_errcode(st->db);
	int out = 0;
	if (rc != SQLITE_DONE) {
		if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY)
			out = err_set(e, ERR_CONFLICT, "%s already exists", what);
		else
			out = sq_err(st, e, what);
	}
	sqlite3_finalize(s);
	return out;
}

/* Reads the single row a statement selects into fill(row) or reports not_found. */
int sq_get_one(struct store *st, sqlite3_stmt *s, void (*fill)(sqlite3_stmt *, void *), void *out,
		   const char *what, const char *ref, struct err *e)
{
	int rc = sqlite3_step(s);
	int result = 0;
	if (rc == SQLITE_ROW)
		fill(s, out);
	else if (rc == SQLITE_DONE)
		result = err_set(e, ERR_NOT_FOUND, "%s \"%s\" does not exist", what, ref);
	else
		result = sq_err(st, e, what);
	sqlite3_finalize(s);
	return result;
}

/* Collects every row of s into a growing array of elements of size sz. */
int sq_list_all(struct store *st, sqlite3_stmt *s, size_t sz, void (*fill)(sqlite3_stmt *, void *),
		    void **out, int *n, struct err *e)
{
	char *arr = NULL;
	int count = 0, cap = 0, rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (count == cap) {
			cap = cap ? cap * 2 : 16;
			arr = xrealloc(arr, sz * (size_t)cap);
		}
		fill(s, arr + sz * (size_t)count);
		count++;
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		free(arr);
		return sq_err(st, e, "listing");
	}
	*out = arr;
	*n = count;
	return 0;
}

int sq_delete_by_id(struct store *st, const char *sql, const char *id, struct err *e)
{
	sqlite3_stmt *s = sq_prep(st, sql, e);
	if (!s)
		return -1;
	sq_bind_text(s, 1, id);
	return sq_step_done(st, s, "deleting", e);
}

int sq_count_query(struct store *st, const char *sql, const char *a, const char *b, const char *c,
		       int *n, struct err *e)
{
	sqlite3_stmt *s = sq_prep(st, sql, e);
	if (!s)
		return -1;
	sq_bind_text(s, 1, a);
	if (b)
		sq_bind_text(s, 2, b);
	if (c)
		sq_bind_text(s, 3, c);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*n = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 0 : sq_err(st, e, "counting");
}

int sq_savepoint_end(struct store *st, int rc)
{
	sq_exec(st, rc == 0 ? "RELEASE multi" : "ROLLBACK TO multi; RELEASE multi", NULL);
	return rc;
}

/* --- operations --------------------------------------------------------- */

#define OP_COLS                                                                              \
	"id, kind, target, target_name, state, error, phases, created_at, finished_at, progress_done, " \
	"progress_total"
#define OP_PARAMS "?,?,?,?,?,?,?,?,?,?,?"

static void op_bind(sqlite3_stmt *s, const struct operation *op)
{
	sq_bind_text(s, 1, op->id);
	sq_bind_text(s, 2, op->kind);
	sq_bind_text(s, 3, op->target);
	sq_bind_text(s, 4, op->target_name);
	sq_bind_text(s, 5, op_state_name(op->state));
	sq_bind_text(s, 6, op->error);
	sq_bind_phases(s, 7, &op->phases);
	sqlite3_bind_int64(s, 8, op->created_at);
	sqlite3_bind_int64(s, 9, op->finished_at);
	sqlite3_bind_int64(s, 10, op->progress_done);
	sqlite3_bind_int64(s, 11, op->progress_total);
}

static void op_fill(sqlite3_stmt *s, void *out)
{
	struct operation *op = out;
	memset(op, 0, sizeof(*op));
	sq_col_copy(s, 0, op->id, sizeof(op->id));
	sq_col_copy(s, 1, op->kind, sizeof(op->kind));
	sq_col_copy(s, 2, op->target, sizeof(op->target));
	sq_col_copy(s, 3, op->target_name, sizeof(op->target_name));
	op_state_parse((const char *)sqlite3_column_text(s, 4), &op->state);
	op->error = sq_col_dup(s, 5);
	phases_from_json_text(&op->phases, (const char *)sqlite3_column_text(s, 6));
	op->created_at = sqlite3_column_int64(s, 7);
	op->finished_at = sqlite3_column_int64(s, 8);
	op->progress_done = sqlite3_column_int64(s, 9);
	op->progress_total = sqlite3_column_int64(s, 10);
}

static int op_write_locked(struct store *st, const struct operation *op, bool insert, struct err *e)
{
	sqlite3_stmt *s = sq_prep(st,
			       insert ? "INSERT INTO operations (" OP_COLS ") VALUES (" OP_PARAMS ")"
				      : "UPDATE operations SET (" OP_COLS ") = (" OP_PARAMS ") WHERE id = ?1",
			       e);
	if (!s)
		return -1;
	op_bind(s, op);
	return sq_step_done(st, s, "operation", e);
}

int store_op_insert(struct store *st, const struct operation *op, struct err *e)
{
	LOCKED(st, op_write_locked(st, op, true, e));
}

int store_op_update(struct store *st, const struct operation *op, struct err *e)
{
	LOCKED(st, op_write_locked(st, op, false, e));
}

static int op_get_locked(struct store *st, const char *id, struct operation *out, struct err *e)
{
	sqlite3_stmt *s = sq_prep(st, "SELECT " OP_COLS " FROM operations WHERE id = ?1", e);
	if (!s)
		return -1;
	sq_bind_text(s, 1, id);
	return sq_get_one(st, s, op_fill, out, "operation", id, e);
}

int store_op_get(struct store *st, const char *id, struct operation *out, struct err *e)
{
	LOCKED(st, op_get_locked(st, id, out, e));
}

/* --- meta --------------------------------------------------------------- */

static int meta_get_locked(struct store *st, const char *key, char **value, struct err *e)
{
	sqlite3_stmt *s = sq_prep(st, "SELECT value FROM meta WHERE key = ?1", e);
	if (!s)
		return -1;
	sq_bind_text(s, 1, key);
	int rc = sqlite3_step(s);
	*value = rc == SQLITE_ROW ? sq_col_dup(s, 0) : NULL;
	sqlite3_finalize(s);
	return (rc == SQLITE_ROW || rc == SQLITE_DONE) ? 0 : sq_err(st, e, "reading meta");
}

int store_meta_get(struct store *st, const char *key, char **value, struct err *e)
{
	LOCKED(st, meta_get_locked(st, key, value, e));
}

static int meta_set_locked(struct store *st, const char *key, const char *value, struct err *e)
{
	sqlite3_stmt *s = sq_prep(st, "INSERT INTO meta (key, value) VALUES (?1, ?2) "
				   "ON CONFLICT (key) DO UPDATE SET value = excluded.value", e);
	if (!s)
		return -1;
	sq_bind_text(s, 1, key);
	sq_bind_text(s, 2, value);
	return sq_step_done(st, s, "meta", e);
}

int store_meta_set(struct store *st, const char *key, const char *value, struct err *e)
{
	LOCKED(st, meta_set_locked(st, key, value, e));
}
