/*
 * store: the pool of connections, transactions and statement helpers that
 * every table's queries run on, whatever the engine (see driver.h).
 *
 * A thread borrows a connection for one call and gives it back; a thread
 * that opens a transaction (store_tx_begin) keeps its connection until
 * store_tx_end, and every store call it makes meanwhile runs on it (found
 * through a thread-local pointer). So API threads and the reconciler read
 * side by side, each on its own connection, while writes are transactions:
 * a call that writes outside the caller's transaction gets one of its own,
 * and inside it runs under a savepoint, so that a failed call leaves no half
 * of itself behind and, on PostgreSQL, does not spoil the caller's
 * transaction.
 *
 * A connection that lost its server is reset when next borrowed, at most
 * once per backoff period (250 ms doubling to 8 s); until then calls fail at
 * once with ERR_UNAVAILABLE, which the API answers with 503.
 */
#include "store/store-priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/str.h"
#include "util/timeutil.h"

#define BACKOFF_FIRST_MS 250
#define BACKOFF_MAX_MS 8000

/* The connection of the transaction this thread holds, if any. */
static _Thread_local struct cx *tls_tx;

int cx_fail(struct cx *cx, struct err *e, const char *what)
{
	const struct db_driver *d = cx->st->drv;
	switch (d->code(cx->db)) {
	case DB_UNAVAILABLE:
		/* Every other idle connection of the pool may be as dead and not
		 * know it yet: each is tried with a round trip before its next use. */
		pthread_mutex_lock(&cx->st->lock);
		cx->st->epoch++;
		pthread_mutex_unlock(&cx->st->lock);
		return err_set(e, ERR_UNAVAILABLE, "the database at %s is unreachable: %s", cx->st->shown,
			       d->message(cx->db));
	case DB_UNIQUE:
		return err_set(e, ERR_CONFLICT, "%s already exists", what);
	default:
		return err_set(e, ERR_INTERNAL, "store: %s: %s", what, d->message(cx->db));
	}
}

int cx_exec(struct cx *cx, const char *sql, struct err *e)
{
	if (cx->st->drv->exec(cx->db, sql) < 0)
		return cx_fail(cx, e, "running a statement");
	return 0;
}

void cx_unique_key(struct cx *cx, char *buf, size_t n)
{
	cx->st->drv->unique_key(cx->db, buf, n);
}

/* --- the pool ---------------------------------------------------------------- */

static int unreachable(struct store *st, const char *why, struct err *e)
{
	return err_set(e, ERR_UNAVAILABLE, "the database at %s is unreachable: %s", st->shown, why);
}

/* Resets a connection that lost its server, unless the last try was too recent. */
static int revive(struct cx *cx, struct err *e)
{
	struct store *st = cx->st;
	pthread_mutex_lock(&st->lock);
	unsigned epoch = st->epoch;
	pthread_mutex_unlock(&st->lock);
	/* A connection idle since another was found lost proves itself first:
	 * a server that restarted meanwhile left it open-looking but dead. */
	if (st->drv->ok(cx->db) && (cx->epoch == epoch || st->drv->exec(cx->db, "SELECT 1") == 0)) {
		cx->epoch = epoch;
		return 0;
	}
	pthread_mutex_lock(&st->lock);
	int64_t now = time_mono_ms();
	/* While the last reconnect worked (no backoff), every broken
	 * connection tries its own at once: the server is back, and a thread
	 * must not be refused because another is reconnecting just then. */
	bool try = st->backoff_ms == 0 || now >= st->retry_at_ms;
	if (try && st->backoff_ms)   /* the threads that come meanwhile fail at once */
		st->retry_at_ms = now + st->backoff_ms;
	pthread_mutex_unlock(&st->lock);
	if (try && st->drv->reconnect(cx->db)) {
		cx->epoch = epoch;
		pthread_mutex_lock(&st->lock);
		bool was_down = st->backoff_ms > 0;
		st->backoff_ms = st->retry_at_ms = 0;
		pthread_mutex_unlock(&st->lock);
		if (was_down)
			log_info("store: the database at %s is reachable again", st->shown);
		return 0;
	}
	if (try) {
		pthread_mutex_lock(&st->lock);
		if (!st->backoff_ms)
			log_warn("store: the database at %s is unreachable: %s; retrying with backoff", st->shown,
				 st->drv->message(cx->db));
		st->backoff_ms = st->backoff_ms ? st->backoff_ms * 2 : BACKOFF_FIRST_MS;
		if (st->backoff_ms > BACKOFF_MAX_MS)
			st->backoff_ms = BACKOFF_MAX_MS;
		st->retry_at_ms = now + st->backoff_ms;
		pthread_mutex_unlock(&st->lock);
	}
	return unreachable(st, st->drv->message(cx->db), e);
}

static void release(struct cx *cx)
{
	struct store *st = cx->st;
	pthread_mutex_lock(&st->lock);
	cx->busy = false;
	pthread_cond_signal(&st->freed);
	pthread_mutex_unlock(&st->lock);
}

static int acquire(struct store *st, struct cx **out, struct err *e)
{
	pthread_mutex_lock(&st->lock);
	struct cx *cx = NULL;
	while (!cx) {
		for (int i = 0; i < st->n_pool && !cx; i++)
			if (!st->pool[i].busy)
				cx = &st->pool[i];
		if (cx || st->n_pool < st->pool_max)
			break;
		pthread_cond_wait(&st->freed, &st->lock);
	}
	if (!cx) {   /* grow the pool */
		char *why = NULL;
		struct db_conn *db = NULL;
		if (st->drv->open(st->target, &db, &why) < 0) {
			pthread_mutex_unlock(&st->lock);
			int rc = st->drv->dialect == DIALECT_PG ? unreachable(st, why, e)
								: err_set(e, ERR_INTERNAL, "cannot open store %s: %s",
									  st->shown, why);
			free(why);
			return rc;
		}
		cx = &st->pool[st->n_pool++];
		cx->st = st;
		cx->db = db;
	}
	cx->busy = true;
	pthread_mutex_unlock(&st->lock);
	if (revive(cx, e) < 0) {
		release(cx);
		return -1;
	}
	*out = cx;
	return 0;
}

/* --- transactions ---------------------------------------------------------------- */

static int begin_write(struct cx *cx, struct err *e)
{
	struct store *st = cx->st;
	if (st->drv->one_writer_in_process)
		pthread_mutex_lock(&st->write_lock);
	if (st->drv->exec(cx->db, st->drv->begin_write) < 0) {
		int rc = cx_fail(cx, e, "beginning a transaction");
		st->drv->exec(cx->db, st->drv->rollback);
		if (st->drv->one_writer_in_process)
			pthread_mutex_unlock(&st->write_lock);
		return rc;
	}
	cx->wrote = true;
	return 0;
}

/* Commits when rc is 0, else rolls back; returns rc, or the commit's failure. */
static int end_write(struct cx *cx, int rc, struct err *e)
{
	struct store *st = cx->st;
	if (rc == 0 && st->drv->exec(cx->db, st->drv->commit_write) < 0) {
		rc = cx_fail(cx, e, "committing");
		st->drv->exec(cx->db, st->drv->rollback);
	} else if (rc != 0) {
		st->drv->exec(cx->db, st->drv->rollback);
	}
	cx->wrote = false;
	bool evented = cx->evented;
	cx->evented = false;
	if (st->drv->one_writer_in_process)
		pthread_mutex_unlock(&st->write_lock);
	if (rc == 0 && evented)
		ev_committed(st);
	return rc;
}

int cx_enter(struct store *st, enum cx_mode mode, struct cx **out, struct err *e)
{
	struct cx *cx = tls_tx && tls_tx->st == st ? tls_tx : NULL;
	if (cx) {
		if (mode == CX_WRITE) {
			if (cx_exec(cx, "SAVEPOINT nubo_call", e) < 0)
				return -1;
			cx->savepoint = true;
		}
		*out = cx;
		return 0;
	}
	if (acquire(st, &cx, e) < 0)
		return -1;
	if (mode == CX_WRITE && begin_write(cx, e) < 0) {
		release(cx);
		return -1;
	}
	*out = cx;
	return 0;
}

int cx_leave(struct cx *cx, int rc, struct err *e)
{
	if (cx->tx) {
		if (cx->savepoint) {
			cx->savepoint = false;
			if (rc == 0 && cx_exec(cx, "RELEASE nubo_call", e) < 0)
				rc = -1;
			else if (rc != 0)
				cx->st->drv->exec(cx->db, "ROLLBACK TO nubo_call; RELEASE nubo_call");
		}
		return rc;
	}
	if (cx->wrote)
		rc = end_write(cx, rc, e);
	release(cx);
	return rc;
}

int store_tx_begin(struct store *st, struct err *e)
{
	if (tls_tx && tls_tx->st == st)
		return err_set(e, ERR_INTERNAL, "store: a transaction is already open on this thread");
	struct cx *cx;
	if (acquire(st, &cx, e) < 0)
		return -1;
	if (begin_write(cx, e) < 0) {
		release(cx);
		return -1;
	}
	cx->tx = true;
	tls_tx = cx;
	return 0;
}

void store_after_commit(struct store *st, void (*fn)(void *arg, const char *key), void *arg, const char *key)
{
	struct cx *cx = tls_tx && tls_tx->st == st ? tls_tx : NULL;
	if (!cx) {
		fn(arg, key);
		return;
	}
	cx->after = xrealloc(cx->after, sizeof(*cx->after) * (size_t)(cx->n_after + 1));
	cx->after[cx->n_after++] = (struct after_commit){fn, arg, xstrdup(key)};
}

int store_tx_end(struct store *st, bool ok, struct err *e)
{
	struct cx *cx = tls_tx;
	if (!cx || cx->st != st)
		return err_set(e, ERR_INTERNAL, "store: no transaction is open on this thread");
	tls_tx = NULL;
	cx->tx = false;
	int rc = end_write(cx, ok ? 0 : -1, e);
	struct after_commit *after = cx->after;
	int n_after = cx->n_after;
	cx->after = NULL;
	cx->n_after = 0;
	release(cx);
	for (int i = 0; i < n_after; i++) {
		if (ok && rc == 0)
			after[i].fn(after[i].arg, after[i].key);
		free(after[i].key);
	}
	free(after);
	return ok ? rc : 0;
}

/* --- open, close, changes ---------------------------------------------------------- */

int store_open(const char *target, struct store **out, struct err *e)
{
	struct store *st = xcalloc(1, sizeof(*st));
	st->drv = db_target_is_pg(target) ? &db_pg : &db_sqlite;
	st->target = xstrdup(target);
	st->shown = db_target_redact(target);
	st->pool_max = st->drv->pool_max < STORE_POOL_MAX ? st->drv->pool_max : STORE_POOL_MAX;
	pthread_mutex_init(&st->lock, NULL);
	pthread_cond_init(&st->freed, NULL);
	pthread_mutex_init(&st->write_lock, NULL);
	pthread_mutex_init(&st->watch_lock, NULL);
	pthread_mutex_init(&st->hook_lock, NULL);
	pthread_mutex_init(&st->usage_lock, NULL);
	usage_prices_default(&st->usage_prices);
	struct cx *cx;
	if (acquire(st, &cx, e) < 0) {
		store_close(st);
		return -1;
	}
	int rc = migrations_run(cx, e);
	release(cx);
	if (rc < 0) {
		err_prefix(e, "store %s", st->shown);
		store_close(st);
		return -1;
	}
	if (st->drv->dialect == DIALECT_PG)
		log_info("store: PostgreSQL at %s", st->shown);
	*out = st;
	return 0;
}

void store_close(struct store *st)
{
	if (!st)
		return;
	ev_listener_stop(st);
	for (int i = 0; i < st->n_pool; i++)
		st->drv->close(st->pool[i].db);
	if (st->watch)
		st->drv->close(st->watch);
	pthread_mutex_destroy(&st->usage_lock);
	free(st->usage_types);
	pthread_mutex_destroy(&st->hook_lock);
	pthread_mutex_destroy(&st->watch_lock);
	pthread_mutex_destroy(&st->write_lock);
	pthread_cond_destroy(&st->freed);
	pthread_mutex_destroy(&st->lock);
	free(st->shown);
	free(st->target);
	free(st);
}

bool store_target_is_pg(const char *target)
{
	return db_target_is_pg(target);
}

const char *store_engine(const struct store *st)
{
	return st->drv->name;
}

const char *store_target_shown(const struct store *st)
{
	return st->shown;
}

/* On its own connection, which never writes: on SQLite its data_version
 * then counts every other connection's commits. When the database cannot
 * say, a number never returned before, so that callers do their work. */
int64_t store_change_count(struct store *st)
{
	pthread_mutex_lock(&st->watch_lock);
	int64_t n = -1;
	char *why = NULL;
	if (!st->watch && st->drv->open(st->target, &st->watch, &why) < 0)
		st->watch = NULL;
	free(why);
	if (st->watch && (st->drv->ok(st->watch) || st->drv->reconnect(st->watch)))
		n = st->drv->change_count(st->watch);
	if (n < 0)
		n = INT64_MIN + ++st->watch_failures;
	pthread_mutex_unlock(&st->watch_lock);
	return n;
}

/* --- statements ------------------------------------------------------------------- */

struct q *q_prep(struct cx *cx, const char *sql, struct err *e)
{
	struct db_stmt *s = cx->st->drv->prepare(cx->db, sql);
	if (!s) {
		cx_fail(cx, e, "preparing a statement");
		return NULL;
	}
	struct q *q = xcalloc(1, sizeof(*q));
	q->cx = cx;
	q->s = s;
	return q;
}

void q_text(struct q *q, int i, const char *v)
{
	q->cx->st->drv->bind_text(q->s, i, v);
}

void q_int(struct q *q, int i, int64_t v)
{
	q->cx->st->drv->bind_int(q->s, i, v);
}

void q_phases(struct q *q, int i, const struct phases *ph)
{
	json_t *j = phases_to_json(ph);
	char *text = json_dumps(j, JSON_COMPACT);
	q_text(q, i, text);
	free(text);
	json_decref(j);
}

int q_step(struct q *q)
{
	return q->cx->st->drv->step(q->s);
}

const char *q_col(struct q *q, int i)
{
	return q->cx->st->drv->column_text(q->s, i);
}

int64_t q_col_int(struct q *q, int i)
{
	return q->cx->st->drv->column_int(q->s, i);
}

void q_col_copy(struct q *q, int i, char *buf, size_t n)
{
	const char *v = q_col(q, i);
	if (!n)
		return;
	size_t len = v ? strnlen(v, n - 1) : 0;   /* cut to fit, as snprintf would, at a fraction of its cost */
	memcpy(buf, v ? v : "", len);
	buf[len] = '\0';
}

char *q_col_dup(struct q *q, int i)
{
	const char *v = q_col(q, i);
	return v ? xstrdup(v) : NULL;
}

int64_t q_changes(struct q *q)
{
	return q->cx->st->drv->changes(q->s);
}

void q_free(struct q *q)
{
	if (!q)
		return;
	q->cx->st->drv->finalize(q->s);
	free(q);
}

int q_done(struct q *q, const char *what, struct err *e)
{
	int rc = q_step(q) == DB_DONE ? 0 : cx_fail(q->cx, e, what);
	q_free(q);
	return rc;
}

int q_one(struct q *q, void (*fill)(struct q *, void *), void *out, const char *what, const char *ref,
	  struct err *e)
{
	int rc = q_step(q), result = 0;
	if (rc == DB_ROW)
		fill(q, out);
	else if (rc == DB_DONE)
		result = err_set(e, ERR_NOT_FOUND, "%s \"%s\" does not exist", what, ref);
	else
		result = cx_fail(q->cx, e, what);
	q_free(q);
	return result;
}

int q_all(struct q *q, size_t sz, void (*fill)(struct q *, void *), void **out, int *n, struct err *e)
{
	char *arr = NULL;
	int count = 0, cap = 0, rc;
	while ((rc = q_step(q)) == DB_ROW) {
		if (count == cap) {
			cap = cap ? cap * 2 : 16;
			arr = xrealloc(arr, sz * (size_t)cap);
		}
		fill(q, arr + sz * (size_t)count);
		count++;
	}
	if (rc != DB_DONE) {
		/* rows read so far may own memory: the fill functions' callers free whole lists only */
		free(arr);
		rc = cx_fail(q->cx, e, "listing");
		q_free(q);
		return rc;
	}
	q_free(q);
	*out = arr;
	*n = count;
	return 0;
}

int cx_exec_id(struct cx *cx, const char *sql, const char *id, struct err *e)
{
	struct q *q = q_prep(cx, sql, e);
	if (!q)
		return -1;
	q_text(q, 1, id);
	return q_done(q, "deleting", e);
}

int cx_count(struct cx *cx, const char *sql, const char *a, const char *b, const char *c, int *n, struct err *e)
{
	struct q *q = q_prep(cx, sql, e);
	if (!q)
		return -1;
	q_text(q, 1, a);
	if (b)
		q_text(q, 2, b);
	if (c)
		q_text(q, 3, c);
	int rc = q_step(q);
	if (rc == DB_ROW)
		*n = (int)q_col_int(q, 0);
	rc = rc == DB_ROW ? 0 : cx_fail(q->cx, e, "counting");
	q_free(q);
	return rc;
}
