/*
 * driver: what the store needs from a database engine, as one struct of
 * function pointers chosen at store_open() (SQLite's VFS is the model).
 *
 * The store's queries are written once, in the SQL both engines accept, with
 * `?`/`?N` placeholders. Everything the engines do differently is answered
 * here, in one place per driver:
 *
 *                     SQLite (driver_sqlite.c)      PostgreSQL (driver_pg.c)
 *   placeholders      ?, ?N as written              rewritten to $N
 *   integers          INTEGER is 64-bit             INTEGER 32, BIGINT 64 (ms, bytes)
 *   a write tx        BEGIN IMMEDIATE, plus one     BEGIN + pg_advisory_xact_lock:
 *                     in-process writer at a time   one writer in the whole cluster
 *   change counter    PRAGMA data_version           a row bumped by every write tx
 *   wake-up on a new  in-process hook               NOTIFY nubo_events in the tx, and
 *   event                                           a LISTENing connection per nubod
 *   error after an    the tx goes on                the tx is aborted (so the store
 *   error in a tx                                   runs a write call in a tx under a savepoint)
 *   unique violation  SQLITE_CONSTRAINT_UNIQUE      SQLSTATE 23505
 *   unreachable       never                         class 08, or the link is down
 *   schema version    PRAGMA user_version           table nubo_schema, under
 *                                                   pg_advisory_lock
 *   upsert            INSERT … ON CONFLICT (k) DO UPDATE SET c = excluded.c: both
 *
 * A connection is used by one thread at a time (the store's pool sees to it).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct db_conn;
struct db_stmt;

/* What the last failure on a connection was, as the store acts on it. */
enum db_code {
	DB_OK = 0,
	DB_UNIQUE,       /* a UNIQUE or PRIMARY KEY constraint */
	DB_BUSY,         /* lock timeout, serialisation failure, deadlock: try again */
	DB_UNAVAILABLE,  /* the server cannot be reached */
	DB_ERROR,        /* anything else */
};

enum db_dialect { DIALECT_SQLITE, DIALECT_PG };

/* step() results */
#define DB_DONE 0
#define DB_ROW 1

struct db_driver {
	const char *name;
	enum db_dialect dialect;
	int pool_max;               /* connections a store may open (the change watcher aside) */
	bool one_writer_in_process; /* the store serialises its own write transactions with a mutex */

	/* Statements of a write transaction (several statements each are fine). */
	const char *begin_write, *commit_write, *rollback;

	/* Opens a connection to target; on failure *why (malloc'd, caller frees) says why. */
	int (*open)(const char *target, struct db_conn **out, char **why);
	void (*close)(struct db_conn *c);
	/* Whether the connection still works; broken ones are reset with reconnect(). */
	bool (*ok)(struct db_conn *c);
	bool (*reconnect)(struct db_conn *c);

	/* Runs sql (one or more statements, no parameters, rows ignored). 0 or -1. */
	int (*exec)(struct db_conn *c, const char *sql);
	/* NULL on failure (see code/message). Placeholders are ?N or ?. */
	struct db_stmt *(*prepare)(struct db_conn *c, const char *sql);
	void (*bind_text)(struct db_stmt *s, int i, const char *v);   /* 1-based; NULL: SQL NULL */
	void (*bind_int)(struct db_stmt *s, int i, int64_t v);
	int (*step)(struct db_stmt *s);                               /* DB_ROW, DB_DONE or -1 */
	const char *(*column_text)(struct db_stmt *s, int i);         /* 0-based; NULL: SQL NULL */
	int64_t (*column_int)(struct db_stmt *s, int i);
	int64_t (*changes)(struct db_stmt *s);                        /* rows the statement changed */
	void (*finalize)(struct db_stmt *s);

	enum db_code (*code)(struct db_conn *c);
	const char *(*message)(struct db_conn *c);
	/* The key the last DB_UNIQUE violated, as "table.col, table.col". */
	void (*unique_key)(struct db_conn *c, char *buf, size_t n);

	/* Said in a write transaction that recorded events; NULL: nothing to say
	 * (SQLite: one process, told in-process). */
	const char *notify;
	/* PostgreSQL only (NULL on SQLite): LISTEN on channel, then wait up to
	 * timeout_ms for a notification: 1 one came (all pending are consumed),
	 * 0 none, -1 the connection failed. */
	int (*listen)(struct db_conn *c, const char *channel);
	int (*wait_notify)(struct db_conn *c, int timeout_ms);

	/* A number that changes with every committed write transaction, or -1. */
	int64_t (*change_count)(struct db_conn *c);

	/* Migrations: held around reading and advancing the version, so that
	 * one nubod migrates and the others wait. */
	int (*schema_lock)(struct db_conn *c, bool lock);
	int (*schema_version)(struct db_conn *c, int *version);
	int (*schema_version_set)(struct db_conn *c, int version);   /* inside the step's transaction */
};

extern const struct db_driver db_sqlite;
extern const struct db_driver db_pg;

/* Whether target names a PostgreSQL database (postgres:// or postgresql://). */
bool db_target_is_pg(const char *target);
/* target as it may be shown in messages and logs: without a password. Caller frees. */
char *db_target_redact(const char *target);
/* sql with ?N and ? placeholders rewritten to PostgreSQL's $N, outside quotes
 * (a bare ? is one more than the highest number so far, as SQLite counts). Caller frees. */
char *db_pg_placeholders(const char *sql);
