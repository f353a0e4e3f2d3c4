/* lbs: load balancers, their listeners and targets (see store.h). A
 * balancer and its children are written and deleted in one transaction. */
#include "store/store-priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/str.h"

#define N_COLS(a) ((int)(sizeof(a) / sizeof((a)[0])))

static char *algo_text(const void *f)
{
	return xstrdup(lb_algorithm_name(*(const enum lb_algorithm *)f));
}

static void algo_from(const char *text, void *f)
{
	if (lb_algorithm_parse(text, "algorithm", f, NULL) < 0)
		*(enum lb_algorithm *)f = LB_ROUND_ROBIN;
}

static char *check_text(const void *f)
{
	return xstrdup(*(const enum lb_check *)f == LB_CHECK_HTTP ? "http" : "tcp");
}

static void check_from(const char *text, void *f)
{
	*(enum lb_check *)f = text && strcmp(text, "http") == 0 ? LB_CHECK_HTTP : LB_CHECK_TCP;
}

static char *health_text(const void *f)
{
	return xstrdup(lb_health_name(*(const enum lb_health *)f));
}

static void health_from(const char *text, void *f)
{
	lb_health_parse(text, f);
}

static char *state_text(const void *f)
{
	return xstrdup(lb_target_state_name(*(const enum lb_target_state *)f));
}

static void state_from(const char *text, void *f)
{
	lb_target_state_parse(text, f);
}

static const struct col lb_cols[] = {
	COL(struct lb, id, COL_TEXT),
	COL(struct lb, name, COL_TEXT),
	COL(struct lb, network_id, COL_TEXT),
	COL(struct lb, network, COL_TEXT),
	COL(struct lb, vip, COL_TEXT),
	COL_FN("algorithm", struct lb, algorithm, algo_text, algo_from, EV_SHOW),
	COL_FN("check_kind", struct lb, check, check_text, check_from, EV_SHOW),
	COL(struct lb, check_path, COL_TEXT),
	COL(struct lb, interval_ms, COL_INT),
	COL(struct lb, timeout_ms, COL_INT),
	COL(struct lb, rise, COL_INT),
	COL(struct lb, fall, COL_INT),
	/* "failing_open: 0→1" is the event that says no target is healthy */
	COL_EV(struct lb, failing_open, COL_BOOL, EV_SHOW),
	COL(struct lb, created_at, COL_I64),
	COL_EV(struct lb, drain_ms, COL_INT, EV_SHOW),
	COL(struct lb, host_port, COL_BOOL),
	/* "deleting" when the delete begins; "deleted" once its connections are cut */
	COL_EV(struct lb, deleted, COL_BOOL, EV_DELETING),
};
static const struct table lb_table = {"load_balancers", "load balancer", sizeof(struct lb), lb_cols,
				      N_COLS(lb_cols), "lb", NULL, NULL};

static const struct col target_cols[] = {
	COL(struct lb_target, id, COL_TEXT),
	COL(struct lb_target, lb_id, COL_TEXT),
	COL(struct lb_target, name, COL_TEXT),
	COL(struct lb_target, vm_id, COL_TEXT),
	COL(struct lb_target, vm_name, COL_TEXT),
	COL(struct lb_target, port, COL_U16),
	COL_FN("health", struct lb_target, health, health_text, health_from, EV_SHOW),
	COL_EV(struct lb_target, health_since, COL_I64, EV_QUIET),
	COL_EV(struct lb_target, reason, COL_TEXT, EV_QUIET),
	COL(struct lb_target, created_at, COL_I64),
	/* "state: active→draining", then "deleted" once its connections are cut */
	COL_FN("state", struct lb_target, state, state_text, state_from, EV_SHOW),
	COL_EV(struct lb_target, drain_until, COL_I64, EV_QUIET),
};
/* A target's events are the balancer's ("lb"), named "web/web1:8080". */
static const struct table target_table = {"lb_targets", "load balancer target", sizeof(struct lb_target),
					  target_cols, N_COLS(target_cols), "lb", NULL, NULL};

static const struct col listener_cols[] = {
	COL(struct lb_listener, lb_id, COL_TEXT),
	COL(struct lb_listener, port, COL_U16),
	COL(struct lb_listener, target_port, COL_U16),
};
static const struct table listener_table = {"lb_listeners", "listener", sizeof(struct lb_listener), listener_cols,
					    N_COLS(listener_cols), NULL, NULL, NULL};

static int lb_insert(struct cx *cx, const struct lb *lb, const struct lb_listener *ls, int n_ls,
		     const struct lb_target *ts, int n_ts, struct err *e)
{
	if (table_insert(cx, &lb_table, lb, lb->name, e) < 0)
		return -1;
	for (int i = 0; i < n_ls; i++) {
		autofree char *what = xasprintf("%u", ls[i].port);
		if (table_insert(cx, &listener_table, &ls[i], what, e) < 0)
			return -1;
	}
	for (int i = 0; i < n_ts; i++)
		if (table_insert(cx, &target_table, &ts[i], ts[i].name, e) < 0)
			return -1;
	return 0;
}

int store_lb_insert(struct store *st, const struct lb *lb, const struct lb_listener *ls, int n_ls,
		    const struct lb_target *ts, int n_ts, struct err *e)
{
	RUN(st, CX_WRITE, e, lb_insert(cx, lb, ls, n_ls, ts, n_ts, e));
}

int store_lb_get(struct store *st, const char *ref, struct lb *out, struct err *e)
{
	RUN(st, CX_READ, e, table_get(cx, &lb_table, ref, out, e));
}

int store_lb_list(struct store *st, struct lb **out, int *n, struct err *e)
{
	RUN(st, CX_READ, e, table_list(cx, &lb_table, "name", (void **)out, n, e));
}

int store_lb_update(struct store *st, const struct lb *lb, struct err *e)
{
	RUN(st, CX_WRITE, e, table_update(cx, &lb_table, lb, e));
}

/* The checker's field (failing_open) or the user's (drain_ms) written over
 * the row as it is now, so neither undoes the other's concurrent write. */
static int lb_merge(struct cx *cx, const struct lb *lb, bool failing, struct lb *out, struct err *e)
{
	if (table_get(cx, &lb_table, lb->id, out, e) < 0)
		return -1;
	if (failing)
		out->failing_open = lb->failing_open;
	else
		out->drain_ms = lb->drain_ms;
	return table_update(cx, &lb_table, out, e);
}

int store_lb_set_failing_open(struct store *st, const struct lb *lb, struct err *e)
{
	struct lb now;
	RUN(st, CX_WRITE, e, lb_merge(cx, lb, true, &now, e));
}

int store_lb_set_drain(struct store *st, struct lb *lb, struct err *e)
{
	struct lb want = *lb;
	RUN(st, CX_WRITE, e, lb_merge(cx, &want, false, lb, e));
}

/* The targets whose column col ("lb_id" or "vm_id") is id, into *out
 * (caller frees, on failure too). */
static int targets_where(struct cx *cx, const char *col, const char *id, struct lb_target **out, int *n,
			 struct err *e)
{
	*out = NULL;
	*n = 0;
	autofree char *cols = table_cols(&target_table, "");
	autofree char *sql = xasprintf("SELECT %s FROM lb_targets WHERE %s = ?1", cols, col);
	struct q *q = q_prep(cx, sql, e);
	if (!q)
		return -1;
	q_text(q, 1, id);
	q->table = &target_table;
	return q_all(q, sizeof(**out), table_fill, (void **)out, n, e);
}

/* Deletes the targets whose column col ("lb_id" or "vm_id") is id one by
 * one, so each removal is in the balancer's events too. */
static int targets_delete(struct cx *cx, const char *col, const char *id, struct err *e)
{
	struct lb_target *ts = NULL;
	int n = 0;
	int rc = targets_where(cx, col, id, &ts, &n, e);
	for (int i = 0; rc == 0 && i < n; i++)
		rc = table_delete(cx, &target_table, ts[i].id, e);
	free(ts);
	return rc;
}

int lb_targets_drop_vm(struct cx *cx, const char *vm_id, struct err *e)
{
	return targets_delete(cx, "vm_id", vm_id, e);
}

static int lb_delete(struct cx *cx, const char *id, struct err *e)
{
	if (cx_exec_id(cx, "DELETE FROM lb_listeners WHERE lb_id = ?1", id, e) < 0 ||
	    targets_delete(cx, "lb_id", id, e) < 0)
		return -1;
	return table_delete(cx, &lb_table, id, e);
}

int store_lb_delete(struct store *st, const char *id, struct err *e)
{
	RUN(st, CX_WRITE, e, lb_delete(cx, id, e));
}

/* The first step of a delete: the balancer marked deleted and every
 * target draining with a deadline of now at the latest (one that drains
 * already keeps an earlier deadline). Without targets there is nothing to
 * cut: the rows go at once. */
static int lb_mark_deleted(struct cx *cx, const char *id, int64_t now, bool *gone, struct err *e)
{
	struct lb lb;
	struct lb_target *ts = NULL;
	int n = 0;
	if (table_get(cx, &lb_table, id, &lb, e) < 0)
		return -1;
	int rc = targets_where(cx, "lb_id", id, &ts, &n, e);
	*gone = rc == 0 && n == 0;
	if (rc == 0 && *gone)
		rc = lb_delete(cx, id, e);
	else if (rc == 0 && !lb.deleted) {
		lb.deleted = true;
		rc = table_update(cx, &lb_table, &lb, e);
	}
	for (int i = 0; rc == 0 && i < n; i++) {
		if (ts[i].state == LB_DRAINING && ts[i].drain_until <= now)
			continue;
		ts[i].state = LB_DRAINING;
		ts[i].drain_until = now;
		rc = table_update(cx, &target_table, &ts[i], e);
	}
	free(ts);
	return rc;
}

int store_lb_mark_deleted(struct store *st, const char *id, int64_t now, bool *gone, struct err *e)
{
	RUN(st, CX_WRITE, e, lb_mark_deleted(cx, id, now, gone, e));
}

static int by_lb(struct cx *cx, const struct table *t, const char *lb_id, const char *order, void **out, int *n,
		 struct err *e)
{
	autofree char *cols = table_cols(t, "");
	autofree char *sql = xasprintf("SELECT %s FROM %s %s ORDER BY %s", cols, t->name, lb_id ? "WHERE lb_id = ?1" : "",
				       order);
	struct q *q = q_prep(cx, sql, e);
	if (!q)
		return -1;
	if (lb_id)
		q_text(q, 1, lb_id);
	q->table = t;
	return q_all(q, t->size, table_fill, out, n, e);
}

int store_lb_listener_list(struct store *st, const char *lb_id, struct lb_listener **out, int *n, struct err *e)
{
	RUN(st, CX_READ, e, by_lb(cx, &listener_table, lb_id, "lb_id, port", (void **)out, n, e));
}

int store_lb_target_list(struct store *st, const char *lb_id, struct lb_target **out, int *n, struct err *e)
{
	RUN(st, CX_READ, e, by_lb(cx, &target_table, lb_id, "lb_id, name", (void **)out, n, e));
}

int store_lb_target_insert(struct store *st, const struct lb_target *t, struct err *e)
{
	RUN(st, CX_WRITE, e, table_insert(cx, &target_table, t, t->name, e));
}

int store_lb_target_update(struct store *st, const struct lb_target *t, struct err *e)
{
	RUN(st, CX_WRITE, e, table_update(cx, &target_table, t, e));
}

/* One half of a target's row written over the row as it is now: the
 * checker's (health, since when, the last check's outcome) or a removal's
 * (state, drain deadline), so that neither undoes what the other wrote
 * meanwhile from a copy read before. */
static int target_merge(struct cx *cx, const struct lb_target *t, bool health, struct err *e)
{
	struct lb_target now;
	if (table_get(cx, &target_table, t->id, &now, e) < 0)
		return -1;
	if (health) {
		now.health = t->health;
		now.health_since = t->health_since;
		snprintf(now.reason, sizeof(now.reason), "%s", t->reason);
	} else {
		now.state = t->state;
		now.drain_until = t->drain_until;
	}
	return table_update(cx, &target_table, &now, e);
}

int store_lb_target_set_health(struct store *st, const struct lb_target *t, struct err *e)
{
	RUN(st, CX_WRITE, e, target_merge(cx, t, true, e));
}

int store_lb_target_set_state(struct store *st, const struct lb_target *t, struct err *e)
{
	RUN(st, CX_WRITE, e, target_merge(cx, t, false, e));
}

int store_lb_target_delete(struct store *st, const char *id, struct err *e)
{
	RUN(st, CX_WRITE, e, table_delete(cx, &target_table, id, e));
}

static int count_on_network(struct cx *cx, const char *network_id, int *n, int *deleting, struct err *e)
{
	if (cx_count(cx, "SELECT COUNT(*) FROM load_balancers WHERE network_id = ?1", network_id, NULL, NULL, n, e) < 0)
		return -1;
	return cx_count(cx, "SELECT COUNT(*) FROM load_balancers WHERE network_id = ?1 AND deleted = 1", network_id, NULL,
			NULL, deleting, e);
}

int store_lb_count_on_network(struct store *st, const char *network_id, int *n, int *deleting, struct err *e)
{
	RUN(st, CX_READ, e, count_on_network(cx, network_id, n, deleting, e));
}

/* The first row's columns 0 and 1 of sql (?1 = port, ?2 = arg2) into c0
 * and c1, left "" when there is none. */
static int port_holder(struct cx *cx, const char *sql, uint16_t port, const char *arg2, char c0[64], char c1[64],
		       struct err *e)
{
	c0[0] = c1[0] = 0;
	struct q *q = q_prep(cx, sql, e);
	if (!q)
		return -1;
	q_int(q, 1, port);
	if (arg2)
		q_text(q, 2, arg2);
	int rc = q_step(q);
	if (rc == DB_ROW) {
		q_col_copy(q, 0, c0, 64);
		q_col_copy(q, 1, c1, 64);
	}
	q_free(q);
	return rc < 0 ? cx_fail(cx, e, "reading the host's ports") : 0;
}

static int host_port_owner(struct cx *cx, uint16_t port, const char *except_lb, bool forwards, char *out, size_t n,
			   struct err *e)
{
	char c0[64], c1[64];
	out[0] = 0;
	if (forwards && port_holder(cx,
			"SELECT v.name, f.proto FROM forwards f JOIN vms v ON v.id = f.vm_id WHERE f.host_port = ?1",
			port, NULL, c0, c1, e) < 0)
		return -1;
	if (c0[0]) {
		snprintf(out, n, "a port forward to VM %s (%s, nubo vm expose)", c0, c1);
		return 0;
	}
	if (port_holder(cx,
			"SELECT b.name, b.deleted FROM lb_listeners l JOIN load_balancers b ON b.id = l.lb_id"
			" WHERE b.host_port = 1 AND l.port = ?1 AND b.id != ?2",
			port, except_lb ? except_lb : "", c0, c1, e) < 0)
		return -1;
	/* one being deleted holds its port until its connections are cut: seconds */
	if (c0[0])
		snprintf(out, n, "load balancer %s%s", c0,
			 strcmp(c1, "1") == 0 ? " (being deleted: free once it is gone)" : "");
	return 0;
}

int store_host_port_owner(struct store *st, uint16_t port, const char *except_lb, bool forwards, char *out, size_t n,
			  struct err *e)
{
	RUN(st, CX_READ, e, host_port_owner(cx, port, except_lb, forwards, out, n, e));
}

/* Starts the drain of every active target of the VM that is not draining
 * yet (each balancer's own drain time from now), and counts the ones
 * still draining. */
static int targets_drain_vm(struct cx *cx, const char *vm_id, int64_t now, int *started, int *left, struct err *e)
{
	struct lb_target *ts = NULL;
	int n = 0;
	*left = *started = 0;
	int rc = targets_where(cx, "vm_id", vm_id, &ts, &n, e);
	for (int i = 0; rc == 0 && i < n; i++) {
		if (ts[i].state == LB_ACTIVE) {
			struct lb lb;
			if ((rc = table_get(cx, &lb_table, ts[i].lb_id, &lb, e)) < 0)
				break;
			ts[i].state = LB_DRAINING;
			ts[i].drain_until = now + lb.drain_ms;
			rc = table_update(cx, &target_table, &ts[i], e);
			(*started)++;
		}
		(*left)++;
	}
	free(ts);
	return rc;
}

int store_lb_targets_drain_vm(struct store *st, const char *vm_id, int64_t now, int *started, int *left,
			      struct err *e)
{
	RUN(st, CX_WRITE, e, targets_drain_vm(cx, vm_id, now, started, left, e));
}
