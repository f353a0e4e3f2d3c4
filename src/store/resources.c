/* resources: operations, images, volumes, snapshots, API tokens and meta (see store.h). */
#include "store/store-priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/str.h"

#define N_COLS(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* --- operations --------------------------------------------------------- */

static char *op_state_text(const void *f)
{
	return xstrdup(op_state_name(*(const enum op_state *)f));
}

static void op_state_from(const char *text, void *f)
{
	op_state_parse(text, f);
}

static const struct col op_cols[] = {
	COL(struct operation, id, COL_TEXT),
	COL(struct operation, kind, COL_TEXT),
	COL(struct operation, target, COL_TEXT),
	COL(struct operation, target_name, COL_TEXT),
	COL_FN("state", struct operation, state, op_state_text, op_state_from, EV_SHOW),
	COL(struct operation, error, COL_STR),
	COL_FN("phases", struct operation, phases, col_phases_text, col_phases_from, EV_PHASES),
	COL(struct operation, created_at, COL_I64),
	COL_EV(struct operation, finished_at, COL_I64, EV_QUIET),
	COL_EV(struct operation, progress_done, COL_I64, EV_QUIET),   /* many a second while bytes flow */
	COL_EV(struct operation, progress_total, COL_I64, EV_QUIET),
};
/* An operation's events carry its target's name, so that following a VM by
 * name shows its operations too. */
static const struct table op_table = {"operations", "operation", sizeof(struct operation), op_cols, N_COLS(op_cols),
				      "operation", "target_name", "kind"};

int store_op_insert(struct store *st, const struct operation *op, struct err *e)
{
	RUN(st, CX_WRITE, e, table_insert(cx, &op_table, op, op->id, e));
}

int store_op_update(struct store *st, const struct operation *op, struct err *e)
{
	RUN(st, CX_WRITE, e, table_update(cx, &op_table, op, e));
}

static int op_get(struct cx *cx, const char *id, struct operation *out, struct err *e)
{
	autofree char *cols = table_cols(&op_table, "");
	autofree char *sql = xasprintf("SELECT %s FROM operations WHERE id = ?1", cols);
	struct q *q = q_prep(cx, sql, e);
	if (!q)
		return -1;
	q_text(q, 1, id);
	q->table = &op_table;
	return q_one(q, table_fill, out, "operation", id, e);
}

int store_op_get(struct store *st, const char *id, struct operation *out, struct err *e)
{
	RUN(st, CX_READ, e, op_get(cx, id, out, e));
}

/* --- images ------------------------------------------------------------- */

static const struct col img_cols[] = {
	COL(struct image, id, COL_TEXT),
	COL(struct image, name, COL_TEXT),
	COL(struct image, recipe, COL_TEXT),
	COL_EV(struct image, state, COL_TEXT, EV_SHOW),
	COL(struct image, boot, COL_TEXT),
	COL_AS("\"user\"", struct image, user, COL_TEXT),   /* a reserved word on PostgreSQL */
	COL(struct image, cmdline, COL_STR),
	COL(struct image, os, COL_STR),
	COL(struct image, error, COL_STR),
	COL_EV(struct image, size_bytes, COL_I64, EV_QUIET),
	COL(struct image, created_at, COL_I64),
	COL_EV(struct image, op_id, COL_TEXT_NULL, EV_QUIET),
	COL_EV(struct image, virtual_size_bytes, COL_I64, EV_QUIET),
	COL(struct image, source, COL_STR),
	COL(struct image, sha256, COL_TEXT_NULL),
	COL(struct image, kernel_source, COL_STR),
	COL(struct image, initrd_source, COL_STR),
	COL(struct image, host, COL_TEXT),
	COL(struct image, files, COL_STR),
};
static const struct table img_table = {"images", "image", sizeof(struct image), img_cols, N_COLS(img_cols), "image",
				       NULL, NULL};

int store_image_insert(struct store *st, const struct image *img, struct err *e)
{
	RUN(st, CX_WRITE, e, table_insert(cx, &img_table, img, img->name, e));
}

int store_image_update(struct store *st, const struct image *img, struct err *e)
{
	RUN(st, CX_WRITE, e, table_update(cx, &img_table, img, e));
}

int store_image_get(struct store *st, const char *ref, struct image *out, struct err *e)
{
	RUN(st, CX_READ, e, table_get(cx, &img_table, ref, out, e));
}

int store_image_list(struct store *st, struct image **out, int *n, struct err *e)
{
	RUN(st, CX_READ, e, table_list(cx, &img_table, "name", (void **)out, n, e));
}

static int image_delete(struct cx *cx, const char *id, struct err *e)
{
	/* its copies' rows with it: each host then removes its own files */
	if (cx_exec_id(cx, "DELETE FROM image_copies WHERE image_id = ?1", id, e) < 0)
		return -1;
	return table_delete(cx, &img_table, id, e);
}

int store_image_delete(struct store *st, const char *id, struct err *e)
{
	RUN(st, CX_WRITE, e, image_delete(cx, id, e));
}

/* --- volumes ------------------------------------------------------------ */

static const struct col vol_cols[] = {
	COL(struct volume, id, COL_TEXT),
	COL(struct volume, name, COL_TEXT),
	COL(struct volume, size_bytes, COL_U64),
	COL_EV(struct volume, state, COL_TEXT, EV_SHOW),
	COL(struct volume, attach_to, COL_TEXT),
	COL_EV(struct volume, deleted, COL_BOOL, EV_DELETING),
	COL_EV(struct volume, attached_vm, COL_TEXT, EV_SHOW),
	COL_EV(struct volume, slot, COL_INT, EV_QUIET),
	COL_EV(struct volume, unplugging, COL_BOOL, EV_QUIET),
	COL(struct volume, created_at, COL_I64),
	COL_EV(struct volume, op_id, COL_TEXT_NULL, EV_QUIET),
	COL(struct volume, from_snapshot, COL_TEXT),
	COL(struct volume, host, COL_TEXT),
};
static const struct table vol_table = {"volumes", "volume", sizeof(struct volume), vol_cols, N_COLS(vol_cols), "volume",
				       NULL, NULL};

int store_volume_insert(struct store *st, const struct volume *v, struct err *e)
{
	RUN(st, CX_WRITE, e, table_insert(cx, &vol_table, v, v->name, e));
}

int store_volume_update(struct store *st, const struct volume *v, struct err *e)
{
	RUN(st, CX_WRITE, e, table_update(cx, &vol_table, v, e));
}

int store_volume_get(struct store *st, const char *ref, struct volume *out, struct err *e)
{
	RUN(st, CX_READ, e, table_get(cx, &vol_table, ref, out, e));
}

int store_volume_list(struct store *st, struct volume **out, int *n, struct err *e)
{
	RUN(st, CX_READ, e, table_list(cx, &vol_table, "name", (void **)out, n, e));
}

int store_volume_delete(struct store *st, const char *id, struct err *e)
{
	RUN(st, CX_WRITE, e, table_delete(cx, &vol_table, id, e));
}

/* --- snapshots ---------------------------------------------------------- */

static const struct col snap_cols[] = {
	COL(struct snapshot, id, COL_TEXT),
	COL(struct snapshot, name, COL_TEXT),
	COL(struct snapshot, vm_id, COL_TEXT),
	COL(struct snapshot, vm_name, COL_TEXT),
	COL(struct snapshot, image_id, COL_TEXT),
	COL(struct snapshot, parent, COL_TEXT),
	COL_EV(struct snapshot, state, COL_TEXT, EV_SHOW),
	COL_EV(struct snapshot, virtual_size, COL_U64, EV_QUIET),
	COL(struct snapshot, created_at, COL_I64),
	COL_EV(struct snapshot, op_id, COL_TEXT_NULL, EV_QUIET),
	COL(struct snapshot, volume_id, COL_TEXT),
	COL(struct snapshot, host, COL_TEXT),
};
static const struct table snap_table = {"snapshots", "snapshot", sizeof(struct snapshot), snap_cols,
					 N_COLS(snap_cols), "snapshot", NULL, NULL};

int store_snapshot_insert(struct store *st, const struct snapshot *sn, struct err *e)
{
	RUN(st, CX_WRITE, e, table_insert(cx, &snap_table, sn, sn->name, e));
}

int store_snapshot_update(struct store *st, const struct snapshot *sn, struct err *e)
{
	RUN(st, CX_WRITE, e, table_update(cx, &snap_table, sn, e));
}

int store_snapshot_get(struct store *st, const char *ref, struct snapshot *out, struct err *e)
{
	RUN(st, CX_READ, e, table_get(cx, &snap_table, ref, out, e));
}

int store_snapshot_list(struct store *st, struct snapshot **out, int *n, struct err *e)
{
	RUN(st, CX_READ, e, table_list(cx, &snap_table, "created_at, id", (void **)out, n, e));
}

int store_snapshot_delete(struct store *st, const char *id, struct err *e)
{
	RUN(st, CX_WRITE, e, table_delete(cx, &snap_table, id, e));
}

/* --- tokens ------------------------------------------------------------- */

static const struct col tok_cols[] = {
	COL(struct token, id, COL_TEXT),
	COL(struct token, name, COL_TEXT),
	COL_EV(struct token, hash, COL_TEXT, EV_QUIET),   /* never in an event */
	COL(struct token, created_at, COL_I64),
	COL_EV(struct token, last_used_at, COL_I64, EV_QUIET),
};
static const struct table tok_table = {"tokens", "token", sizeof(struct token), tok_cols, N_COLS(tok_cols), "token",
				       NULL, NULL};

int store_token_insert(struct store *st, const struct token *t, struct err *e)
{
	RUN(st, CX_WRITE, e, table_insert(cx, &tok_table, t, t->name, e));
}

int store_token_get(struct store *st, const char *ref, struct token *out, struct err *e)
{
	RUN(st, CX_READ, e, table_get(cx, &tok_table, ref, out, e));
}

int store_token_list(struct store *st, struct token **out, int *n, struct err *e)
{
	RUN(st, CX_READ, e, table_list(cx, &tok_table, "name", (void **)out, n, e));
}

int store_token_delete(struct store *st, const char *id, struct err *e)
{
	RUN(st, CX_WRITE, e, table_delete(cx, &tok_table, id, e));
}

static int tok_touch(struct cx *cx, const char *id, int64_t when_ms, struct err *e)
{
	struct q *q = q_prep(cx, "UPDATE tokens SET last_used_at = ?2 WHERE id = ?1", e);
	if (!q)
		return -1;
	q_text(q, 1, id);
	q_int(q, 2, when_ms);
	return q_done(q, "token", e);
}

int store_token_touch(struct store *st, const char *id, int64_t when_ms, struct err *e)
{
	RUN(st, CX_WRITE, e, tok_touch(cx, id, when_ms, e));
}

/* --- meta --------------------------------------------------------------- */

static int meta_get(struct cx *cx, const char *key, char **value, struct err *e)
{
	struct q *q = q_prep(cx, "SELECT value FROM meta WHERE key = ?1", e);
	if (!q)
		return -1;
	q_text(q, 1, key);
	int rc = q_step(q);
	*value = rc == DB_ROW ? q_col_dup(q, 0) : NULL;
	rc = (rc == DB_ROW || rc == DB_DONE) ? 0 : cx_fail(cx, e, "reading meta");
	q_free(q);
	return rc;
}

int store_meta_get(struct store *st, const char *key, char **value, struct err *e)
{
	RUN(st, CX_READ, e, meta_get(cx, key, value, e));
}

/* An upsert both engines spell the same way. */
static int meta_set(struct cx *cx, const char *key, const char *value, struct err *e)
{
	struct q *q = q_prep(cx, "INSERT INTO meta (key, value) VALUES (?1, ?2) "
				 "ON CONFLICT (key) DO UPDATE SET value = excluded.value", e);
	if (!q)
		return -1;
	q_text(q, 1, key);
	q_text(q, 2, value);
	return q_done(q, "meta", e);
}

int store_meta_set(struct store *st, const char *key, const char *value, struct err *e)
{
	RUN(st, CX_WRITE, e, meta_set(cx, key, value, e));
}
