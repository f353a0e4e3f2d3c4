/* stacks: the stacks table and the resources each stack owns (see store.h). */
#include "store/store-priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/str.h"

#define N_COLS(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* No events of their own (ev_kind NULL): the resources a stack makes and
 * deletes record theirs, and a lease renewed at every step is bookkeeping. */

static const struct col stack_cols[] = {
	COL(struct stack_state, name, COL_TEXT),
	COL(struct stack_state, serial, COL_I64),
	COL(struct stack_state, lease, COL_TEXT),
	COL(struct stack_state, lease_until, COL_I64),
	COL(struct stack_state, created_at, COL_I64),
	COL(struct stack_state, applied_at, COL_I64),
};
static const struct table stack_table = {"stacks", "stack", sizeof(struct stack_state), stack_cols,
					  N_COLS(stack_cols), NULL, NULL, NULL};

static const struct col owned_cols[] = {
	COL(struct stack_owned, kind, COL_TEXT),
	COL(struct stack_owned, name, COL_TEXT),
	COL(struct stack_owned, stack, COL_TEXT),
	COL(struct stack_owned, id, COL_TEXT),
	COL(struct stack_owned, spec, COL_STR),
	COL(struct stack_owned, state, COL_TEXT),
};
static const struct table owned_table = {"stack_resources", "stack resource", sizeof(struct stack_owned),
					  owned_cols, N_COLS(owned_cols), NULL, NULL, NULL};

void stack_owned_list_free(struct stack_owned *r, int n)
{
	for (int i = 0; r && i < n; i++)
		free(r[i].spec);
	free(r);
}

static int stack_get(struct cx *cx, const char *name, struct stack_state *out, struct err *e)
{
	autofree char *cols = table_cols(&stack_table, "");
	autofree char *sql = xasprintf("SELECT %s FROM stacks WHERE name = ?1", cols);
	struct q *q = q_prep(cx, sql, e);
	if (!q)
		return -1;
	q_text(q, 1, name);
	q->table = &stack_table;
	return q_one(q, table_fill, out, "stack", name, e);
}

int store_stack_get(struct store *st, const char *name, struct stack_state *out, struct err *e)
{
	RUN(st, CX_READ, e, stack_get(cx, name, out, e));
}

int store_stack_list(struct store *st, struct stack_state **out, int *n, struct err *e)
{
	RUN(st, CX_READ, e, table_list(cx, &stack_table, "name", (void **)out, n, e));
}

int store_stack_insert(struct store *st, const struct stack_state *s, struct err *e)
{
	RUN(st, CX_WRITE, e, table_insert(cx, &stack_table, s, s->name, e));
}

int store_stack_update(struct store *st, const struct stack_state *s, struct err *e)
{
	RUN(st, CX_WRITE, e, table_update(cx, &stack_table, s, e));
}

int store_stack_delete(struct store *st, const char *name, struct err *e)
{
	RUN(st, CX_WRITE, e, cx_exec_id(cx, "DELETE FROM stacks WHERE name = ?1", name, e));
}

static int owned_list(struct cx *cx, const char *stack, struct stack_owned **out, int *n, struct err *e)
{
	autofree char *cols = table_cols(&owned_table, "");
	autofree char *sql = xasprintf("SELECT %s FROM stack_resources %s ORDER BY kind, name", cols,
				       stack ? "WHERE stack = ?1" : "");
	struct q *q = q_prep(cx, sql, e);
	if (!q)
		return -1;
	if (stack)
		q_text(q, 1, stack);
	q->table = &owned_table;
	return q_all(q, sizeof(struct stack_owned), table_fill, (void **)out, n, e);
}

int store_owned_list(struct store *st, const char *stack, struct stack_owned **out, int *n, struct err *e)
{
	RUN(st, CX_READ, e, owned_list(cx, stack, out, n, e));
}

static int owned_get(struct cx *cx, const char *kind, const char *name, struct stack_owned *out, struct err *e)
{
	autofree char *cols = table_cols(&owned_table, "");
	autofree char *sql = xasprintf("SELECT %s FROM stack_resources WHERE kind = ?1 AND name = ?2", cols);
	struct q *q = q_prep(cx, sql, e);
	if (!q)
		return -1;
	q_text(q, 1, kind);
	q_text(q, 2, name);
	q->table = &owned_table;
	autofree char *ref = xasprintf("%s/%s", kind, name);
	return q_one(q, table_fill, out, "stack resource", ref, e);
}

int store_owned_get(struct store *st, const char *kind, const char *name, struct stack_owned *out, struct err *e)
{
	RUN(st, CX_READ, e, owned_get(cx, kind, name, out, e));
}

/* An upsert both engines spell the same way. */
static int owned_put(struct cx *cx, const struct stack_owned *r, struct err *e)
{
	autofree char *cols = table_cols(&owned_table, "");
	autofree char *sql = xasprintf("INSERT INTO stack_resources (%s) VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
				       "ON CONFLICT (kind, name) DO UPDATE SET stack = excluded.stack, id = excluded.id, "
				       "spec = excluded.spec, state = excluded.state",
				       cols);
	struct q *q = q_prep(cx, sql, e);
	if (!q)
		return -1;
	table_bind(q, &owned_table, r, 1);
	return q_done(q, "stack resource", e);
}

int store_owned_put(struct store *st, const struct stack_owned *r, struct err *e)
{
	RUN(st, CX_WRITE, e, owned_put(cx, r, e));
}

static int owned_delete(struct cx *cx, const char *kind, const char *name, struct err *e)
{
	struct q *q = q_prep(cx, "DELETE FROM stack_resources WHERE kind = ?1 AND name = ?2", e);
	if (!q)
		return -1;
	q_text(q, 1, kind);
	q_text(q, 2, name);
	return q_done(q, "stack resource", e);
}

int store_owned_delete(struct store *st, const char *kind, const char *name, struct err *e)
{
	RUN(st, CX_WRITE, e, owned_delete(cx, kind, name, e));
}
