/*
 * columns: a table is a list of column descriptors (name, kind, where the
 * field sits in its struct), and its insert, update, get and list are
 * written once here. A new column is one line in its table's descriptor; a
 * new table is a descriptor and the queries only it has.
 */
#include "store/store-priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/str.h"

char *table_cols(const struct table *t, const char *prefix)
{
	struct sbuf b = {0};
	for (int i = 0; i < t->n_cols; i++)
		sbuf_addf(&b, "%s%s%s", i ? ", " : "", prefix, t->cols[i].name);
	return sbuf_take(&b);
}

void table_bind(struct q *q, const struct table *t, const void *obj, int first)
{
	for (int i = 0; i < t->n_cols; i++) {
		const struct col *c = &t->cols[i];
		const void *f = (const char *)obj + c->off;
		int at = first + i;
		switch (c->kind) {
		case COL_TEXT: q_text(q, at, f); break;
		case COL_TEXT_NULL: q_text(q, at, *(const char *)f ? f : NULL); break;
		case COL_STR: q_text(q, at, *(char *const *)f); break;
		case COL_INT: q_int(q, at, *(const int *)f); break;
		case COL_BOOL: q_int(q, at, *(const bool *)f); break;
		case COL_U16: q_int(q, at, *(const uint16_t *)f); break;
		case COL_I64: q_int(q, at, *(const int64_t *)f); break;
		case COL_U64: q_int(q, at, (int64_t) * (const uint64_t *)f); break;
		case COL_CUSTOM: {
			char *text = c->to_text(f);
			q_text(q, at, text);
			free(text);
			break;
		}
		}
	}
}

void table_read(struct q *q, const struct table *t, void *obj, int first)
{
	memset(obj, 0, t->size);
	for (int i = 0; i < t->n_cols; i++) {
		const struct col *c = &t->cols[i];
		void *f = (char *)obj + c->off;
		int at = first + i;
		switch (c->kind) {
		case COL_TEXT:
		case COL_TEXT_NULL: q_col_copy(q, at, f, c->size); break;
		case COL_STR: *(char **)f = q_col_dup(q, at); break;
		case COL_INT: *(int *)f = (int)q_col_int(q, at); break;
		case COL_BOOL: *(bool *)f = q_col_int(q, at) != 0; break;
		case COL_U16: *(uint16_t *)f = (uint16_t)q_col_int(q, at); break;
		case COL_I64: *(int64_t *)f = q_col_int(q, at); break;
		case COL_U64: *(uint64_t *)f = (uint64_t)q_col_int(q, at); break;
		case COL_CUSTOM: c->from_text(q_col(q, at), f); break;
		}
	}
}

/* The meter of t, if it has one, for obj's row as it now is. */
static int meter_after(struct cx *cx, const struct table *t, const void *obj, struct err *e)
{
	meter_fn meter = table_meter(t);
	if (!meter)
		return 0;
	autofree char *id = col_render(&t->cols[0], obj);
	return meter(cx, id, e);
}

int table_insert(struct cx *cx, const struct table *t, const void *obj, const char *name, struct err *e)
{
	autofree char *cols = table_cols(t, "");
	struct sbuf b = {0};
	sbuf_addf(&b, "INSERT INTO %s (%s) VALUES (", t->name, cols);
	for (int i = 0; i < t->n_cols; i++)
		sbuf_add(&b, i ? ",?" : "?");
	sbuf_add(&b, ")");
	autofree char *sql = sbuf_take(&b);
	struct q *q = q_prep(cx, sql, e);
	if (!q)
		return -1;
	table_bind(q, t, obj, 1);
	autofree char *what = xasprintf("a%s %s named \"%s\"", strchr("aeiouAEIOU", t->what[0]) ? "n" : "", t->what,
					name);
	if (q_done(q, what, e) < 0)
		return -1;
	if (t->ev_kind && ev_created(cx, t, obj, e) < 0)
		return -1;
	return meter_after(cx, t, obj, e);
}

static int update_row(struct cx *cx, const struct table *t, const void *obj, struct err *e)
{
	struct sbuf b = {0};
	sbuf_addf(&b, "UPDATE %s SET ", t->name);
	for (int i = 1; i < t->n_cols; i++)
		sbuf_addf(&b, "%s%s = ?%d", i > 1 ? ", " : "", t->cols[i].name, i + 1);
	sbuf_addf(&b, " WHERE %s = ?1", t->cols[0].name);
	autofree char *sql = sbuf_take(&b);
	struct q *q = q_prep(cx, sql, e);
	if (!q)
		return -1;
	table_bind(q, t, obj, 1);
	autofree char *what = xasprintf("updating %s", t->what);
	return q_done(q, what, e);
}

int table_update(struct cx *cx, const struct table *t, const void *obj, struct err *e)
{
	if (!t->ev_kind)
		return update_row(cx, t, obj, e) < 0 ? -1 : meter_after(cx, t, obj, e);
	autofree char *id = col_render(&t->cols[0], obj);
	struct row before = {0}, after = {0};
	/* read back rather than rendered from obj: what an event compares is what the store holds */
	int rc = row_read(cx, t, id, &before, e) == 0 && update_row(cx, t, obj, e) == 0 &&
			 row_read(cx, t, id, &after, e) == 0 && ev_row_changed(cx, &before, &after, e) == 0
		 ? 0
		 : -1;
	row_free(&after);
	row_free(&before);
	return rc < 0 ? -1 : meter_after(cx, t, obj, e);
}

int table_delete(struct cx *cx, const struct table *t, const char *id, struct err *e)
{
	autofree char *sql = xasprintf("DELETE FROM %s WHERE %s = ?1", t->name, t->cols[0].name);
	meter_fn meter = table_meter(t);
	if (!t->ev_kind)
		return cx_exec_id(cx, sql, id, e) < 0 ? -1 : meter ? meter(cx, id, e) : 0;
	struct row before = {0};
	int rc = row_read(cx, t, id, &before, e) == 0 && cx_exec_id(cx, sql, id, e) == 0 ? 0 : -1;
	if (rc == 0 && before.found)
		rc = ev_add(cx, t->ev_kind, id, row_get(&before, t->ev_name ? t->ev_name : "name"), "deleted", NULL, e);
	row_free(&before);
	if (rc == 0 && meter)   /* the row is gone: its meter closes what it billed */
		rc = meter(cx, id, e);
	return rc;
}

char *col_render(const struct col *c, const void *obj)
{
	const void *f = (const char *)obj + c->off;
	switch (c->kind) {
	case COL_TEXT: return xstrdup(f);
	case COL_TEXT_NULL: return *(const char *)f ? xstrdup(f) : NULL;
	case COL_STR: return *(char *const *)f ? xstrdup(*(char *const *)f) : NULL;
	case COL_INT: return xasprintf("%d", *(const int *)f);
	case COL_BOOL: return xasprintf("%d", *(const bool *)f ? 1 : 0);
	case COL_U16: return xasprintf("%u", (unsigned)*(const uint16_t *)f);
	case COL_I64: return xasprintf("%lld", (long long)*(const int64_t *)f);
	case COL_U64: return xasprintf("%lld", (long long)*(const uint64_t *)f);
	case COL_CUSTOM: return c->to_text(f);
	}
	return NULL;
}

void table_fill(struct q *q, void *out)
{
	table_read(q, q->table, out, 0);
}

int table_get(struct cx *cx, const struct table *t, const char *ref, void *out, struct err *e)
{
	autofree char *cols = table_cols(t, "");
	autofree char *sql = xasprintf("SELECT %s FROM %s WHERE name = ?1 OR id = ?1", cols, t->name);
	struct q *q = q_prep(cx, sql, e);
	if (!q)
		return -1;
	q_text(q, 1, ref);
	q->table = t;
	return q_one(q, table_fill, out, t->what, ref, e);
}

int table_list(struct cx *cx, const struct table *t, const char *order, void **out, int *n, struct err *e)
{
	autofree char *cols = table_cols(t, "");
	autofree char *sql = xasprintf("SELECT %s FROM %s ORDER BY %s", cols, t->name, order);
	struct q *q = q_prep(cx, sql, e);
	if (!q)
		return -1;
	q->table = t;
	return q_all(q, t->size, table_fill, out, n, e);
}

char *col_phases_text(const void *field)
{
	json_t *j = phases_to_json(field);
	char *text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return text;
}

void col_phases_from(const char *text, void *field)
{
	phases_from_json_text(field, text);
}
