/* groups: auto-scaling groups and their members (see store.h). Every change
 * of a group's size is an event ("group" kind, named by the group), and so
 * is every member's move ("state: active→draining", named by its VM). */
#include "store/store-priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/str.h"

#define N_COLS(a) ((int)(sizeof(a) / sizeof((a)[0])))

static char *mstate_text(const void *f)
{
	return xstrdup(member_state_name(*(const enum member_state *)f));
}

static void mstate_from(const char *text, void *f)
{
	if (member_state_parse(text, f) < 0)
		*(enum member_state *)f = MEMBER_REMOVING;   /* unknown: let it go rather than keep it forever */
}

static const struct col group_cols[] = {
	COL(struct scaling_group, id, COL_TEXT),
	COL(struct scaling_group, name, COL_TEXT),
	COL_EV(struct scaling_group, image, COL_TEXT, EV_SHOW),
	COL_EV(struct scaling_group, type, COL_TEXT, EV_SHOW),
	COL(struct scaling_group, network, COL_TEXT),
	COL(struct scaling_group, firewalls, COL_TEXT),
	COL(struct scaling_group, ssh_keys, COL_STR),
	COL(struct scaling_group, ssh_key_file, COL_STR),
	COL(struct scaling_group, user_data, COL_STR),
	COL_EV(struct scaling_group, template_gen, COL_INT, EV_SHOW),
	COL_EV(struct scaling_group, min_size, COL_INT, EV_SHOW),
	COL_EV(struct scaling_group, max_size, COL_INT, EV_SHOW),
	COL_EV(struct scaling_group, desired, COL_INT, EV_SHOW),
	COL(struct scaling_group, lb, COL_TEXT),
	COL(struct scaling_group, lb_port, COL_INT),
	COL_EV(struct scaling_group, target_cpu, COL_INT, EV_SHOW),
	COL(struct scaling_group, grace_ms, COL_I64),
	COL(struct scaling_group, warmup_ms, COL_I64),
	COL(struct scaling_group, cooldown_ms, COL_I64),
	COL(struct scaling_group, drain_ms, COL_I64),
	COL_EV(struct scaling_group, below_since, COL_I64, EV_QUIET),
	COL_EV(struct scaling_group, deleted, COL_BOOL, EV_DELETING),
	COL(struct scaling_group, created_at, COL_I64),
};
static const struct table group_table = {"scaling_groups", "group", sizeof(struct scaling_group), group_cols,
					 N_COLS(group_cols), "group", NULL, NULL};

static const struct col member_cols[] = {
	COL(struct group_member, id, COL_TEXT),
	COL(struct group_member, group_id, COL_TEXT),
	COL(struct group_member, name, COL_TEXT),
	COL_EV(struct group_member, vm_id, COL_TEXT, EV_QUIET),
	COL(struct group_member, template_gen, COL_INT),
	COL(struct group_member, image, COL_TEXT),
	COL_FN("state", struct group_member, state, mstate_text, mstate_from, EV_SHOW),
	{"protected", COL_BOOL, offsetof(struct group_member, protected_), sizeof(bool), NULL, NULL, EV_SHOW},
	COL_EV(struct group_member, target_id, COL_TEXT, EV_QUIET),
	COL_EV(struct group_member, reason, COL_TEXT, EV_QUIET),
	COL_EV(struct group_member, ready_at, COL_I64, EV_QUIET),
	{"until_ms", COL_I64, offsetof(struct group_member, until), sizeof(int64_t), NULL, NULL, EV_QUIET},
	COL(struct group_member, created_at, COL_I64),
};
/* A member's events are its group's kind, named by its VM. */
static const struct table member_table = {"group_members", "group member", sizeof(struct group_member),
					  member_cols, N_COLS(member_cols), "group", NULL, "state"};

int store_group_insert(struct store *st, const struct scaling_group *g, struct err *e)
{
	RUN(st, CX_WRITE, e, table_insert(cx, &group_table, g, g->name, e));
}

int store_group_get(struct store *st, const char *ref, struct scaling_group *out, struct err *e)
{
	RUN(st, CX_READ, e, table_get(cx, &group_table, ref, out, e));
}

int store_group_list(struct store *st, struct scaling_group **out, int *n, struct err *e)
{
	*out = NULL;
	*n = 0;
	RUN(st, CX_READ, e, table_list(cx, &group_table, "name", (void **)out, n, e));
}

int store_group_update(struct store *st, const struct scaling_group *g, struct err *e)
{
	RUN(st, CX_WRITE, e, table_update(cx, &group_table, g, e));
}

static int decide(struct cx *cx, const struct scaling_group *g, const char *what, const char *detail, struct err *e)
{
	if (table_update(cx, &group_table, g, e) < 0)
		return -1;
	return ev_add(cx, "group", g->id, g->name, what, detail, e);
}

int store_group_decide(struct store *st, const struct scaling_group *g, const char *what, const char *detail, struct err *e)
{
	RUN(st, CX_WRITE, e, decide(cx, g, what, detail, e));
}

int store_group_event(struct store *st, const char *id, const char *name, const char *what, const char *detail,
		      struct err *e)
{
	RUN(st, CX_WRITE, e, ev_add(cx, "group", id, name, what, detail, e));
}

static int group_delete(struct cx *cx, const char *id, struct err *e)
{
	int n = 0;
	if (cx_count(cx, "SELECT COUNT(*) FROM group_members WHERE group_id = ?1", id, NULL, NULL, &n, e) < 0)
		return -1;
	if (n > 0)
		return err_set(e, ERR_CONFLICT, "the group still has %d member%s", n, n == 1 ? "" : "s");
	return table_delete(cx, &group_table, id, e);
}

int store_group_delete(struct store *st, const char *id, struct err *e)
{
	RUN(st, CX_WRITE, e, group_delete(cx, id, e));
}

/* The lease's columns are not among group_cols: no table_update of a group
 * (a decision, a change through the API) ever writes them back. */
static void lease_fill(struct q *q, void *out)
{
	struct group_lease *l = out;
	q_col_copy(q, 0, l->host, sizeof(l->host));
	l->until = q_col_int(q, 1);
}

static int lease(struct cx *cx, const char *group_id, const char *host, int64_t now_ms, int64_t until_ms,
		 struct group_lease *out, struct err *e)
{
	memset(out, 0, sizeof(*out));
	struct q *q = q_prep(cx, "UPDATE scaling_groups SET lease_host = ?2, lease_until = ?3"
				 " WHERE id = ?1 AND (lease_host = ?2 OR lease_host = '' OR lease_until <= ?4)", e);
	if (!q)
		return -1;
	q_text(q, 1, group_id);
	q_text(q, 2, host);
	q_int(q, 3, until_ms);
	q_int(q, 4, now_ms);
	if (q_done(q, "taking a group's lease", e) < 0)
		return -1;
	q = q_prep(cx, "SELECT lease_host, lease_until FROM scaling_groups WHERE id = ?1", e);
	if (!q)
		return -1;
	q_text(q, 1, group_id);
	if (q_one(q, lease_fill, out, "group", group_id, e) < 0)
		return -1;
	out->held = strcmp(out->host, host) == 0 && out->until == until_ms;
	return 0;
}

int store_group_lease(struct store *st, const char *group_id, const char *host, int64_t now_ms, int64_t until_ms,
		      struct group_lease *out, struct err *e)
{
	RUN(st, CX_WRITE, e, lease(cx, group_id, host, now_ms, until_ms, out, e));
}

int store_group_lease_release(struct store *st, const char *host, struct err *e)
{
	RUN(st, CX_WRITE, e,
	    cx_exec_id(cx, "UPDATE scaling_groups SET lease_host = '', lease_until = 0 WHERE lease_host = ?1", host, e));
}

int store_member_insert(struct store *st, const struct group_member *m, struct err *e)
{
	RUN(st, CX_WRITE, e, table_insert(cx, &member_table, m, m->name, e));
}

int store_member_update(struct store *st, const struct group_member *m, struct err *e)
{
	RUN(st, CX_WRITE, e, table_update(cx, &member_table, m, e));
}

int store_member_delete(struct store *st, const char *id, struct err *e)
{
	RUN(st, CX_WRITE, e, table_delete(cx, &member_table, id, e));
}

static int members_of(struct cx *cx, const char *group_id, struct group_member **out, int *n, struct err *e)
{
	autofree char *cols = table_cols(&member_table, "");
	autofree char *sql = xasprintf("SELECT %s FROM group_members %s ORDER BY created_at, name", cols,
				       group_id ? "WHERE group_id = ?1" : "");
	struct q *q = q_prep(cx, sql, e);
	if (!q)
		return -1;
	if (group_id)
		q_text(q, 1, group_id);
	q->table = &member_table;
	return q_all(q, sizeof(**out), table_fill, (void **)out, n, e);
}

int store_member_list(struct store *st, const char *group_id, struct group_member **out, int *n, struct err *e)
{
	*out = NULL;
	*n = 0;
	RUN(st, CX_READ, e, members_of(cx, group_id, out, n, e));
}

static int member_by_name(struct cx *cx, const char *name, struct group_member *out, struct err *e)
{
	autofree char *cols = table_cols(&member_table, "");
	autofree char *sql = xasprintf("SELECT %s FROM group_members WHERE id = ?1 OR name = ?1 OR vm_id = ?1", cols);
	struct q *q = q_prep(cx, sql, e);
	if (!q)
		return -1;
	q_text(q, 1, name);
	q->table = &member_table;
	return q_one(q, table_fill, out, "group member", name, e);
}

int store_member_get(struct store *st, const char *vm_ref, struct group_member *out, struct err *e)
{
	RUN(st, CX_READ, e, member_by_name(cx, vm_ref, out, e));
}
