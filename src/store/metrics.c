/*
 * metrics: the VMs' sampled history and their idle stop policies.
 *
 * Rows of vm_metrics hold one interval of one VM at one resolution (step).
 * The sampler writes the fine ones; the coarse ones are made from them in
 * SQL (store_metrics_rollup), an upsert over whole buckets, so making a
 * bucket again (after a crash, or a bucket that was still filling) gives
 * the same row. Gauges are averaged, intervals added up; NULL figures are
 * left out of both, as SQL's AVG and SUM do. The columns, and how each is
 * merged, come from model/metrics.c's table.
 */
#include "store/store-priv.h"

#include <stdio.h>
#include <string.h>

#include "util/str.h"
#include "util/timeutil.h"

/* ", cpu_milli, mem_bytes, …" */
static void columns(struct sbuf *b)
{
	for (int i = 0; i < METRIC_N; i++)
		sbuf_addf(b, ", %s", metric_defs[i].column);
}

/* ", CAST(AVG(cpu_milli) AS BIGINT), …, SUM(net_rx_bytes), …": a bucket of rows as one. */
static void merged(struct sbuf *b)
{
	for (int i = 0; i < METRIC_N; i++)
		sbuf_addf(b, metric_defs[i].gauge ? ", CAST(AVG(%s) AS BIGINT)" : ", SUM(%s)", metric_defs[i].column);
}

static int add_rows(struct cx *cx, const struct metrics_row *rows, int n, int64_t step, struct err *e)
{
	struct sbuf b = {0};
	sbuf_add(&b, "INSERT INTO vm_metrics (vm_id, step, t");
	columns(&b);
	sbuf_add(&b, ") VALUES (?1, ?2, ?3");
	/* CAST: a figure not read is bound as NULL, which PostgreSQL would take as text */
	for (int i = 0; i < METRIC_N; i++)
		sbuf_addf(&b, ", CAST(?%d AS BIGINT)", i + 4);
	sbuf_add(&b, ") ON CONFLICT (vm_id, step, t) DO UPDATE SET ");
	for (int i = 0; i < METRIC_N; i++)
		sbuf_addf(&b, "%s%s = excluded.%s", i ? ", " : "", metric_defs[i].column, metric_defs[i].column);
	autofree char *sql = sbuf_take(&b);
	for (int r = 0; r < n; r++) {
		struct q *q = q_prep(cx, sql, e);
		if (!q)
			return -1;
		q_text(q, 1, rows[r].vm_id);
		q_int(q, 2, step);
		q_int(q, 3, rows[r].s.t);
		for (int i = 0; i < METRIC_N; i++)
			if (rows[r].s.v[i] >= 0)
				q_int(q, i + 4, rows[r].s.v[i]);
			else
				q_text(q, i + 4, NULL);
		if (q_done(q, "recording a VM's metrics", e) < 0)
			return -1;
	}
	return 0;
}

int store_metrics_add(struct store *st, const struct metrics_row *rows, int n, int64_t step, struct err *e)
{
	if (n == 0)
		return 0;
	RUN(st, CX_WRITE, e, add_rows(cx, rows, n, step, e));
}

static int rollup(struct cx *cx, int64_t fine, int64_t coarse, int64_t from, int64_t to, struct err *e)
{
	struct sbuf b = {0};
	sbuf_add(&b, "INSERT INTO vm_metrics (vm_id, step, t");
	columns(&b);
	sbuf_add(&b, ") SELECT vm_id, CAST(?2 AS BIGINT), (t / ?2) * ?2");
	merged(&b);
	sbuf_add(&b, " FROM vm_metrics WHERE step = ?1 AND t >= ?3 AND t < ?4 GROUP BY 1, 3"
		     " ON CONFLICT (vm_id, step, t) DO UPDATE SET ");
	for (int i = 0; i < METRIC_N; i++)
		sbuf_addf(&b, "%s%s = excluded.%s", i ? ", " : "", metric_defs[i].column, metric_defs[i].column);
	autofree char *sql = sbuf_take(&b);
	struct q *q = q_prep(cx, sql, e);
	if (!q)
		return -1;
	q_int(q, 1, fine);
	q_int(q, 2, coarse);
	q_int(q, 3, from / coarse * coarse);
	q_int(q, 4, to / coarse * coarse);
	return q_done(q, "rolling fine metrics up into coarse ones", e);
}

int store_metrics_rollup(struct store *st, int64_t fine_step, int64_t coarse_step, int64_t from, int64_t to,
			 struct err *e)
{
	RUN(st, CX_WRITE, e, rollup(cx, fine_step, coarse_step, from, to, e));
}

static int prune(struct cx *cx, int64_t step, int64_t before, struct err *e)
{
	struct q *q = q_prep(cx, "DELETE FROM vm_metrics WHERE step = ?1 AND t < ?2", e);
	if (!q)
		return -1;
	q_int(q, 1, step);
	q_int(q, 2, before);
	if (q_done(q, "pruning old metrics", e) < 0)
		return -1;
	return cx_exec(cx, "DELETE FROM idle_policies WHERE vm_id NOT IN (SELECT id FROM vms)", e);
}

int store_metrics_prune(struct store *st, int64_t step, int64_t before, struct err *e)
{
	RUN(st, CX_WRITE, e, prune(cx, step, before, e));
}

static void sample_fill(struct q *q, void *out)
{
	struct metric_sample *s = out;
	s->t = q_col_int(q, 0);
	for (int i = 0; i < METRIC_N; i++)
		s->v[i] = q_col(q, i + 1) ? q_col_int(q, i + 1) : METRIC_NONE;
}

static int series(struct cx *cx, const char *vm_id, int64_t table_step, int64_t step, int64_t since,
		  struct metric_sample **out, int *n, struct err *e)
{
	struct sbuf b = {0};
	sbuf_add(&b, "SELECT (t / ?3) * ?3");
	merged(&b);
	sbuf_add(&b, " FROM vm_metrics WHERE vm_id = ?1 AND step = ?2 AND t >= ?4 GROUP BY 1 ORDER BY 1");
	autofree char *sql = sbuf_take(&b);
	struct q *q = q_prep(cx, sql, e);
	if (!q)
		return -1;
	q_text(q, 1, vm_id);
	q_int(q, 2, table_step);
	q_int(q, 3, step);
	q_int(q, 4, since / step * step);
	return q_all(q, sizeof(**out), sample_fill, (void **)out, n, e);
}

int store_metrics_series(struct store *st, const char *vm_id, int64_t table_step, int64_t step, int64_t since,
			 struct metric_sample **out, int *n, struct err *e)
{
	*out = NULL;
	*n = 0;
	RUN(st, CX_READ, e, series(cx, vm_id, table_step, step, since, out, n, e));
}

/* --- idle stop policies ----------------------------------------------------------- */

static void policy_fill(struct q *q, void *out)
{
	struct idle_row *r = out;
	memset(r, 0, sizeof(*r));
	q_col_copy(q, 0, r->vm_id, sizeof(r->vm_id));
	r->p.after_ms = q_col_int(q, 1);
	r->p.cpu_milli = q_col_int(q, 2);
	r->p.net_bps = q_col_int(q, 3);
}

static int idle_list(struct cx *cx, struct idle_row **out, int *n, struct err *e)
{
	struct q *q = q_prep(cx, "SELECT vm_id, after_ms, cpu_milli, net_bps FROM idle_policies ORDER BY vm_id", e);
	return q ? q_all(q, sizeof(**out), policy_fill, (void **)out, n, e) : -1;
}

int store_idle_list(struct store *st, struct idle_row **out, int *n, struct err *e)
{
	*out = NULL;
	*n = 0;
	RUN(st, CX_READ, e, idle_list(cx, out, n, e));
}

static int idle_set(struct cx *cx, const char *vm_id, const char *vm_name, const struct idle_policy *p,
		    struct err *e)
{
	struct q *q;
	if (p) {
		q = q_prep(cx,
			   "INSERT INTO idle_policies (vm_id, after_ms, cpu_milli, net_bps, created_at) VALUES (?1, ?2, ?3, ?4, ?5)"
			   " ON CONFLICT (vm_id) DO UPDATE SET after_ms = excluded.after_ms, cpu_milli = excluded.cpu_milli,"
			   " net_bps = excluded.net_bps",
			   e);
		if (!q)
			return -1;
		q_int(q, 2, p->after_ms);
		q_int(q, 3, p->cpu_milli);
		q_int(q, 4, p->net_bps);
		q_int(q, 5, time_now_ms());
	} else {
		q = q_prep(cx, "DELETE FROM idle_policies WHERE vm_id = ?1", e);
		if (!q)
			return -1;
	}
	q_text(q, 1, vm_id);
	if (q_done(q, "setting an idle stop policy", e) < 0)
		return -1;
	char what[128];
	if (p)
		snprintf(what, sizeof(what), "idle stop: after %llds below %.3g%% CPU and %lld B/s network",
			 (long long)(p->after_ms / 1000), (double)p->cpu_milli / 1000.0, (long long)p->net_bps);
	else
		snprintf(what, sizeof(what), "idle stop: off");
	return ev_add(cx, "vm", vm_id, vm_name, what, NULL, e);
}

int store_idle_set(struct store *st, const char *vm_id, const char *vm_name, const struct idle_policy *p,
		   struct err *e)
{
	RUN(st, CX_WRITE, e, idle_set(cx, vm_id, vm_name, p, e));
}

int store_vm_event(struct store *st, const char *vm_id, const char *vm_name, const char *what, const char *detail,
		   struct err *e)
{
	RUN(st, CX_WRITE, e, ev_add(cx, "vm", vm_id, vm_name, what, detail, e));
}
