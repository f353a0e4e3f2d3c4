/*
 * driver_sqlite: the embedded engine (see driver.h). A file in WAL mode, so
 * readers on other connections of the pool never wait for the writer; the
 * store lets one of its own write transactions run at a time, so writers do
 * not spin in SQLite's busy handler either.
 */
#include "store/driver.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/str.h"

struct db_conn {
	sqlite3 *db;
	int code;          /* extended result code of the last failure */
	char msg[512];
};

struct db_stmt {
	struct db_conn *c;
	sqlite3_stmt *s;
	int64_t changes;
};

static void remember(struct db_conn *c)
{
	c->code = sqlite3_extended_errcode(c->db);
	snprintf(c->msg, sizeof(c->msg), "%s", sqlite3_errmsg(c->db));
}

static int sl_open(const char *target, struct db_conn **out, char **why)
{
	struct db_conn *c = xcalloc(1, sizeof(*c));
	if (sqlite3_open_v2(target, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK) {
		*why = xstrdup(c->db ? sqlite3_errmsg(c->db) : "out of memory");
		sqlite3_close(c->db);
		free(c);
		return -1;
	}
	sqlite3_busy_timeout(c->db, 5000);   /* other processes (nubod --destroy, sqlite3 .backup) */
	char *msg = NULL;
	if (sqlite3_exec(c->db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
			 NULL, NULL, &msg) != SQLITE_OK) {
		*why = xstrdup(msg ? msg : "cannot set WAL mode");
		sqlite3_free(msg);
		sqlite3_close(c->db);
		free(c);
		return -1;
	}
	*out = c;
	return 0;
}

static void sl_close(struct db_conn *c)
{
	if (!c)
		return;
	sqlite3_close(c->db);
	free(c);
}

static bool sl_ok(struct db_conn *c)
{
	(void)c;
	return true;
}

static int sl_exec(struct db_conn *c, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(c->db, sql, NULL, NULL, &msg) == SQLITE_OK)
		return 0;
	c->code = sqlite3_extended_errcode(c->db);
	snprintf(c->msg, sizeof(c->msg), "%s", msg ? msg : sqlite3_errmsg(c->db));
	sqlite3_free(msg);
	return -1;
}

static struct db_stmt *sl_prepare(struct db_conn *c, const char *sql)
{
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(c->db, sql, -1, &s, NULL) != SQLITE_OK) {
		remember(c);
		return NULL;
	}
	struct db_stmt *st = xcalloc(1, sizeof(*st));
	st->c = c;
	st->s = s;
	return st;
}

static void sl_bind_text(struct db_stmt *s, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(s->s, i, v, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s->s, i);
}

static void sl_bind_int(struct db_stmt *s, int i, int64_t v)
{
	sqlite3_bind_int64(s->s, i, v);
}

static int sl_step(struct db_stmt *s)
{
	int rc = sqlite3_step(s->s);
	if (rc == SQLITE_ROW)
		return DB_ROW;
	if (rc == SQLITE_DONE) {
		s->changes = sqlite3_changes64(s->c->db);
		return DB_DONE;
	}
	remember(s->c);
	return -1;
}

static const char *sl_column_text(struct db_stmt *s, int i)
{
	return (const char *)sqlite3_column_text(s->s, i);
}

static int64_t sl_column_int(struct db_stmt *s, int i)
{
	return sqlite3_column_int64(s->s, i);
}

static int64_t sl_changes(struct db_stmt *s)
{
	return s->changes;
}

static void sl_finalize(struct db_stmt *s)
{
	if (!s)
		return;
	sqlite3_finalize(s->s);
	free(s);
}

static enum db_code sl_code(struct db_conn *c)
{
	switch (c->code) {
	case SQLITE_OK: return DB_OK;
	case SQLITE_CONSTRAINT_UNIQUE:
	case SQLITE_CONSTRAINT_PRIMARYKEY: return DB_UNIQUE;
	}
	if ((c->code & 0xff) == SQLITE_BUSY || (c->code & 0xff) == SQLITE_LOCKED)
		return DB_BUSY;
	return DB_ERROR;
}

static const char *sl_message(struct db_conn *c)
{
	return c->msg;
}

/* SQLite says "UNIQUE constraint failed: nics.network_id, nics.ip". */
static void sl_unique_key(struct db_conn *c, char *buf, size_t n)
{
	const char *p = strstr(c->msg, "failed: ");
	snprintf(buf, n, "%s", p ? p + strlen("failed: ") : "");
}

/* data_version moves when another connection commits; this connection's
 * own writes are counted by total_changes. */
static int64_t sl_change_count(struct db_conn *c)
{
	sqlite3_stmt *s = NULL;
	int64_t n = -1;
	if (sqlite3_prepare_v2(c->db, "PRAGMA data_version", -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
		n = ((int64_t)sqlite3_column_int64(s, 0) << 32) + sqlite3_total_changes64(c->db);
	sqlite3_finalize(s);
	return n;
}

/* Each step runs in BEGIN IMMEDIATE, which is the lock: no schema lock. */
static int sl_schema_lock(struct db_conn *c, bool lock)
{
	(void)c;
	(void)lock;
	return 0;
}

static int sl_schema_version(struct db_conn *c, int *version)
{
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(c->db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK) {
		remember(c);
		return -1;
	}
	int rc = sqlite3_step(s);
	*version = rc == SQLITE_ROW ? sqlite3_column_int(s, 0) : 0;
	if (rc != SQLITE_ROW)
		remember(c);
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 0 : -1;
}

static int sl_schema_version_set(struct db_conn *c, int version)
{
	char sql[64];
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", version);
	return sl_exec(c, sql);
}

const struct db_driver db_sqlite = {
	.name = "sqlite",
	.dialect = DIALECT_SQLITE,
	.pool_max = 6,
	.one_writer_in_process = true,
	.begin_write = "BEGIN IMMEDIATE",
	.commit_write = "COMMIT",
	.rollback = "ROLLBACK",
	.open = sl_open,
	.close = sl_close,
	.ok = sl_ok,
	.reconnect = sl_ok,
	.exec = sl_exec,
	.prepare = sl_prepare,
	.bind_text = sl_bind_text,
	.bind_int = sl_bind_int,
	.step = sl_step,
	.column_text = sl_column_text,
	.column_int = sl_column_int,
	.changes = sl_changes,
	.finalize = sl_finalize,
	.code = sl_code,
	.message = sl_message,
	.unique_key = sl_unique_key,
	.change_count = sl_change_count,
	.schema_lock = sl_schema_lock,
	.schema_version = sl_schema_version,
	.schema_version_set = sl_schema_version_set,
};
