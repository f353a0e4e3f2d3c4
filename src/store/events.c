/*
 * events: the event log, written in the same transaction as the change it
 * tells of (see store.h).
 *
 * Sequence numbers are handed out inside write transactions, and write
 * transactions run one at a time (BEGIN IMMEDIATE on SQLite, one advisory
 * lock for every nubod on PostgreSQL), so events commit in the order of
 * their numbers: a reader that has seen N has seen everything before N, and
 * "after the last number I saw" never skips a row that commits later.
 *
 * Wake-ups: when a transaction that recorded events commits, this process's
 * hook is told at once; on PostgreSQL the transaction also sends NOTIFY
 * nubo_events, and a thread of every nubod LISTENs for it on a connection of
 * its own, so a change made through any nubod wakes all of them. A
 * notification is only a wake-up: whoever hears it reads the log on from the
 * last number it saw, and after the listening connection was lost and comes
 * back the hook is told too, since notifications may have been missed.
 */
#include "store/store-priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/str.h"
#include "util/timeutil.h"

#define N_COLS(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define LISTEN_CHANNEL "nubo_events"
#define LISTEN_POLL_MS 250
#define LISTEN_BACKOFF_MAX_MS 8000

static const struct col ev_cols[] = {
	COL(struct event, seq, COL_I64),
	COL(struct event, at, COL_I64),
	COL(struct event, kind, COL_TEXT),
	COL_AS("resource_id", struct event, id, COL_TEXT),
	COL(struct event, name, COL_TEXT),
	COL(struct event, what, COL_STR),
	COL(struct event, detail, COL_STR),
};
static const struct table ev_table = {"events", "event", sizeof(struct event), ev_cols, N_COLS(ev_cols), NULL, NULL,
				      NULL};

/* --- rows as text ----------------------------------------------------------------- */

int row_read(struct cx *cx, const struct table *t, const char *id, struct row *r, struct err *e)
{
	memset(r, 0, sizeof(*r));
	r->t = t;
	autofree char *cols = table_cols(t, "");
	autofree char *sql = xasprintf("SELECT %s FROM %s WHERE %s = ?1", cols, t->name, t->cols[0].name);
	struct q *q = q_prep(cx, sql, e);
	if (!q)
		return -1;
	q_text(q, 1, id);
	int rc = q_step(q);
	if (rc == DB_ROW) {
		r->found = true;
		r->v = xcalloc((size_t)t->n_cols, sizeof(*r->v));
		for (int i = 0; i < t->n_cols; i++)
			r->v[i] = q_col_dup(q, i);
	}
	rc = rc == DB_ROW || rc == DB_DONE ? 0 : cx_fail(cx, e, "reading a row");
	q_free(q);
	return rc;
}

void row_free(struct row *r)
{
	if (r->v)
		for (int i = 0; i < r->t->n_cols; i++)
			free(r->v[i]);
	free(r->v);
	r->v = NULL;
	r->found = false;
}

const char *row_get(const struct row *r, const char *name)
{
	for (int i = 0; r->found && i < r->t->n_cols; i++)
		if (strcmp(r->t->cols[i].name, name) == 0)
			return r->v[i];
	return NULL;
}

/* A column's name as people read it: without SQL's quotes. */
static void col_plain(const struct col *c, char *buf, size_t n)
{
	snprintf(buf, n, "%s", c->name[0] == '"' ? c->name + 1 : c->name);
	buf[strcspn(buf, "\"")] = '\0';
}

/* --- writing events --------------------------------------------------------------- */

int ev_add(struct cx *cx, const char *kind, const char *id, const char *name, const char *what, const char *detail,
	   struct err *e)
{
	struct q *q = q_prep(cx, "INSERT INTO events (at, kind, resource_id, name, what, detail) VALUES (?,?,?,?,?,?)", e);
	if (!q)
		return -1;
	q_int(q, 1, time_now_ms());
	q_text(q, 2, kind);
	q_text(q, 3, id ? id : "");
	q_text(q, 4, name ? name : "");
	q_text(q, 5, what);
	q_text(q, 6, detail);
	if (q_done(q, "recording an event", e) < 0)
		return -1;
	/* NOTIFY is sent at COMMIT, once however often a transaction says it */
	if (cx->st->drv->notify && cx_exec(cx, cx->st->drv->notify, e) < 0)
		return -1;
	cx->evented = true;
	return 0;
}

int ev_created(struct cx *cx, const struct table *t, const void *obj, struct err *e)
{
	autofree char *id = col_render(&t->cols[0], obj);
	autofree char *name = NULL, *label = NULL;
	for (int i = 0; i < t->n_cols; i++) {
		if (strcmp(t->cols[i].name, t->ev_name ? t->ev_name : "name") == 0)
			name = col_render(&t->cols[i], obj);
		if (t->ev_label && strcmp(t->cols[i].name, t->ev_label) == 0)
			label = col_render(&t->cols[i], obj);
	}
	autofree char *what = label ? xasprintf("created (%s)", label) : xstrdup("created");
	return ev_add(cx, t->ev_kind, id, name, what, NULL, e);
}

static bool same(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;   /* NULL and "" are both "not set" */
}

/* "phase: disk, phase: boot" for each phase in now that was not in old. */
static void phases_added(struct sbuf *b, const char *old, const char *now)
{
	struct phases po, pn;
	phases_from_json_text(&po, old);
	phases_from_json_text(&pn, now);
	for (int i = 0; i < pn.n; i++)
		if (!phases_has(&po, pn.p[i].name))
			sbuf_addf(b, "%sphase: %s", b->len ? ", " : "", pn.p[i].name);
}

int ev_row_changed(struct cx *cx, const struct row *before, const struct row *after, struct err *e)
{
	const struct table *t = after->t;
	if (!before->found || !after->found || !t->ev_kind)
		return 0;
	struct sbuf what = {0};
	const char *named[64];
	int n_named = 0;
	json_t *changed = json_array();
	for (int i = 1; i < t->n_cols; i++) {
		const struct col *c = &t->cols[i];
		if (same(before->v[i], after->v[i]) || (c->ev & EV_QUIET))
			continue;
		char plain[64];
		col_plain(c, plain, sizeof(plain));
		json_array_append_new(changed, json_string(plain));
		if (c->ev & EV_SHOW)
			event_text_change(&what, plain, before->v[i], after->v[i]);
		else if (c->ev & EV_PHASES)
			phases_added(&what, before->v[i], after->v[i]);
		else if ((c->ev & EV_DELETING) && same(after->v[i], "1"))
			sbuf_addf(&what, "%sdeleting", what.len ? ", " : "");
		else if (n_named < (int)(sizeof(named) / sizeof(named[0])))
			named[n_named++] = c->name;
	}
	event_text_updated(&what, named, n_named);
	int rc = 0;
	if (what.len) {
		json_t *d = json_pack("{s:o}", "changed", changed);
		changed = NULL;
		autofree char *detail = json_dumps(d, JSON_COMPACT);
		json_decref(d);
		autofree char *text = sbuf_take(&what);
		rc = ev_add(cx, t->ev_kind, after->v[0], row_get(after, t->ev_name ? t->ev_name : "name"), text, detail, e);
	}
	json_decref(changed);
	sbuf_free(&what);
	return rc;
}

/* --- reading and pruning ----------------------------------------------------------- */

static int head_seq(struct cx *cx, int64_t *seq, struct err *e)
{
	struct q *q = q_prep(cx, "SELECT COALESCE(MAX(seq), 0) FROM events", e);
	if (!q)
		return -1;
	int rc = q_step(q);
	if (rc == DB_ROW)
		*seq = q_col_int(q, 0);
	rc = rc == DB_ROW ? 0 : cx_fail(cx, e, "reading the event log");
	q_free(q);
	return rc;
}

static int ev_seen(struct cx *cx, const char *kind, const char *id, const char *what, bool *seen, struct err *e)
{
	int n = 0;
	if (cx_count(cx, "SELECT COUNT(*) FROM events WHERE kind = ?1 AND resource_id = ?2 AND what = ?3", kind, id,
		     what, &n, e) < 0)
		return -1;
	*seen = n > 0;
	return 0;
}

int store_event_seen(struct store *st, const char *kind, const char *id, const char *what, bool *seen, struct err *e)
{
	RUN(st, CX_READ, e, ev_seen(cx, kind, id, what, seen, e));
}

int store_events_last_seq(struct store *st, int64_t *seq, struct err *e)
{
	RUN(st, CX_READ, e, head_seq(cx, seq, e));
}

/* The head is read first and the rows up to it: whatever commits between
 * the two reads has a higher number and is left for the next call, so
 * *last_seq never passes an event the caller was not given. */
static int ev_list(struct cx *cx, const struct event_query *eq, struct event **out, int *n, int64_t *last_seq,
		   struct err *e)
{
	int64_t head = 0;
	if (head_seq(cx, &head, e) < 0)
		return -1;
	autofree char *cols = table_cols(&ev_table, "");
	autofree char *sql = xasprintf("SELECT %s FROM events WHERE seq > ?1 AND seq <= ?2 AND (?3 IS NULL OR kind = ?3) "
				       "AND (?4 IS NULL OR name = ?4) ORDER BY seq LIMIT ?5",
				       cols);
	struct q *q = q_prep(cx, sql, e);
	if (!q)
		return -1;
	q_int(q, 1, eq->after);
	q_int(q, 2, head);
	q_text(q, 3, eq->kind);
	q_text(q, 4, eq->name);
	q_int(q, 5, eq->limit);
	q->table = &ev_table;
	if (q_all(q, sizeof(struct event), table_fill, (void **)out, n, e) < 0)
		return -1;
	if (*n == eq->limit)   /* more may match: go on from the last one given */
		*last_seq = (*out)[*n - 1].seq;
	else
		*last_seq = head > eq->after ? head : eq->after;
	return 0;
}

int store_events_list(struct store *st, const struct event_query *q, struct event **out, int *n, int64_t *last_seq,
		      struct err *e)
{
	*out = NULL;
	*n = 0;
	RUN(st, CX_READ, e, ev_list(cx, q, out, n, last_seq, e));
}

static int prune(struct cx *cx, const char *sql, int64_t before_ms, int *n, struct err *e)
{
	struct q *q = q_prep(cx, sql, e);
	if (!q)
		return -1;
	q_int(q, 1, before_ms);
	int rc = q_step(q);
	if (rc == DB_DONE && n)
		*n = (int)q_changes(q);
	rc = rc == DB_DONE ? 0 : cx_fail(cx, e, "pruning");
	q_free(q);
	return rc;
}

int store_events_prune(struct store *st, int64_t before_ms, int *n, struct err *e)
{
	RUN(st, CX_WRITE, e, prune(cx, "DELETE FROM events WHERE at < ?1", before_ms, n, e));
}

/* The targets operations have: VMs, images, volumes and snapshots. */
int store_ops_prune(struct store *st, int64_t finished_before_ms, int *n, struct err *e)
{
	RUN(st, CX_WRITE, e,
	    prune(cx,
		  "DELETE FROM operations WHERE state <> 'running' AND finished_at > 0 AND finished_at < ?1 "
		  "AND NOT EXISTS (SELECT 1 FROM vms WHERE id = operations.target) "
		  "AND NOT EXISTS (SELECT 1 FROM images WHERE id = operations.target) "
		  "AND NOT EXISTS (SELECT 1 FROM volumes WHERE id = operations.target) "
		  "AND NOT EXISTS (SELECT 1 FROM snapshots WHERE id = operations.target)",
		  finished_before_ms, n, e));
}

/* --- wake-ups ---------------------------------------------------------------------- */

static void tell_hook(struct store *st)
{
	pthread_mutex_lock(&st->hook_lock);
	if (st->hook)
		st->hook(st->hook_arg);
	pthread_mutex_unlock(&st->hook_lock);
}

void ev_committed(struct store *st)
{
	tell_hook(st);
}

static bool listener_quitting(struct store *st)
{
	pthread_mutex_lock(&st->hook_lock);
	bool q = st->listener_quit;
	pthread_mutex_unlock(&st->hook_lock);
	return q;
}

/* Sleeps ms in steps short enough to notice store_close. */
static void listener_sleep(struct store *st, int64_t ms)
{
	for (int64_t slept = 0; slept < ms && !listener_quitting(st); slept += LISTEN_POLL_MS)
		time_sleep_ms(LISTEN_POLL_MS);
}

static void *listener_main(void *arg)
{
	struct store *st = arg;
	const struct db_driver *d = st->drv;
	struct db_conn *c = NULL;
	int64_t backoff = 0;
	while (!listener_quitting(st)) {
		if (!c) {
			char *why = NULL;
			if (d->open(st->target, &c, &why) < 0 || d->listen(c, LISTEN_CHANNEL) < 0) {
				if (!backoff)
					log_warn("store: cannot listen for other nubods' changes at %s: %s; retrying",
						 st->shown, why ? why : d->message(c));
				free(why);
				d->close(c);
				c = NULL;
				backoff = backoff ? backoff * 2 : 250;
				if (backoff > LISTEN_BACKOFF_MAX_MS)
					backoff = LISTEN_BACKOFF_MAX_MS;
				listener_sleep(st, backoff);
				continue;
			}
			if (backoff)
				log_info("store: listening for other nubods' changes again");
			backoff = 0;
			tell_hook(st);   /* whatever was sent while nobody listened is read now */
		}
		int r = d->wait_notify(c, LISTEN_POLL_MS);
		if (r > 0) {
			log_debug("store: woken by NOTIFY " LISTEN_CHANNEL);
			tell_hook(st);
		}
		if (r < 0) {
			log_warn("store: lost the connection that listens for other nubods' changes: %s", d->message(c));
			d->close(c);
			c = NULL;
			backoff = 250;
			listener_sleep(st, backoff);
		}
	}
	d->close(c);
	return NULL;
}

void store_set_event_hook(struct store *st, void (*fn)(void *arg), void *arg)
{
	pthread_mutex_lock(&st->hook_lock);
	st->hook = fn;
	st->hook_arg = arg;
	bool start = fn && st->drv->listen && !st->listening;
	if (start)
		st->listening = pthread_create(&st->listener, NULL, listener_main, st) == 0;
	pthread_mutex_unlock(&st->hook_lock);
}

void ev_listener_stop(struct store *st)
{
	pthread_mutex_lock(&st->hook_lock);
	st->listener_quit = true;
	bool joining = st->listening;
	st->listening = false;
	pthread_mutex_unlock(&st->hook_lock);
	if (joining)
		pthread_join(st->listener, NULL);
}
