/*
 * sqlite-priv: what the files of the SQLite backend share (sqlite.c: the
 * connection, migrations, transactions and these helpers; sqlite_vms.c,
 * sqlite_resources.c, sqlite_net.c: the tables). Nothing outside store/
 * includes this.
 */
#pragma once

#include <pthread.h>
#include <sqlite3.h>

#include "store/store.h"

struct store {
	sqlite3 *db;
	pthread_mutex_t lock;
};

/* Every public function takes the lock around its *_locked body. */
#define LOCKED(st, body)                             \
	do {                                         \
		pthread_mutex_lock(&(st)->lock);     \
		int locked_rc_ = (body);             \
		pthread_mutex_unlock(&(st)->lock);   \
		return locked_rc_;                   \
	} while (0)

/* ERR_INTERNAL "store: WHAT: <sqlite's message>". */
int sq_err(struct store *st, struct err *e, const char *what);
int sq_exec(struct store *st, const char *sql, struct err *e);
sqlite3_stmt *sq_prep(struct store *st, const char *sql, struct err *e);
void sq_bind_text(sqlite3_stmt *s, int i, const char *v);   /* NULL: SQL NULL */
void sq_bind_phases(sqlite3_stmt *s, int i, const struct phases *ph);
void sq_col_copy(sqlite3_stmt *s, int i, char *buf, size_t n);
char *sq_col_dup(sqlite3_stmt *s, int i);
/* Runs a statement that returns no rows; a UNIQUE violation is ERR_CONFLICT "WHAT already exists". */
int sq_step_done(struct store *st, sqlite3_stmt *s, const char *what, struct err *e);
/* Reads the single row s selects into fill(row), or ERR_NOT_FOUND "WHAT "REF" does not exist". */
int sq_get_one(struct store *st, sqlite3_stmt *s, void (*fill)(sqlite3_stmt *, void *), void *out,
	       const char *what, const char *ref, struct err *e);
/* Every row of s into a growing array of elements of size sz. */
int sq_list_all(struct store *st, sqlite3_stmt *s, size_t sz, void (*fill)(sqlite3_stmt *, void *), void **out,
		int *n, struct err *e);
/* Runs sql with ?1 = id. */
int sq_delete_by_id(struct store *st, const char *sql, const char *id, struct err *e);
/* The single integer sql selects, with up to three text parameters (NULL: unbound). */
int sq_count_query(struct store *st, const char *sql, const char *a, const char *b, const char *c, int *n,
		   struct err *e);
/* A multi-statement write runs inside "SAVEPOINT multi", so it is atomic
 * whether or not the caller holds a transaction; this ends it: released
 * when rc is 0, else rolled back. Returns rc. */
int sq_savepoint_end(struct store *st, int rc);
