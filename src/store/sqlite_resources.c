/* sqlite_resources: images, volumes, snapshots and API tokens (see store.h). */
#include "store/sqlite-priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/str.h"

/* --- images ------------------------------------------------------------- */

#define IMG_COLS                                                                          \
	"id, name, recipe, state, boot, user, cmdline, os, error, size_bytes, created_at, op_id, " \
	"virtual_size_bytes, source, sha256, kernel_source, initrd_source"
#define IMG_PARAMS "?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?"

static void img_bind(sqlite3_stmt *s, const struct image *img)
{
	sq_bind_text(s, 1, img->id);
	sq_bind_text(s, 2, img->name);
	sq_bind_text(s, 3, img->recipe);
	sq_bind_text(s, 4, img->state);
	sq_bind_text(s, 5, img->boot);
	sq_bind_text(s, 6, img->user);
	sq_bind_text(s, 7, img->cmdline);
	sq_bind_text(s, 8, img->os);
	sq_bind_text(s, 9, img->error);
	sqlite3_bind_int64(s, 10, img->size_bytes);
	sqlite3_bind_int64(s, 11, img->created_at);
	sq_bind_text(s, 12, img->op_id[0] ? img->op_id : NULL);
	sqlite3_bind_int64(s, 13, img->virtual_size_bytes);
	sq_bind_text(s, 14, img->source);
	sq_bind_text(s, 15, img->sha256[0] ? img->sha256 : NULL);
	sq_bind_text(s, 16, img->kernel_source);
	sq_bind_text(s, 17, img->initrd_source);
}

static void img_fill(sqlite3_stmt *s, void *out)
{
	struct image *img = out;
	memset(img, 0, sizeof(*img));
	sq_col_copy(s, 0, img->id, sizeof(img->id));
	sq_col_copy(s, 1, img->name, sizeof(img->name));
	sq_col_copy(s, 2, img->recipe, sizeof(img->recipe));
	sq_col_copy(s, 3, img->state, sizeof(img->state));
	sq_col_copy(s, 4, img->boot, sizeof(img->boot));
	sq_col_copy(s, 5, img->user, sizeof(img->user));
	img->cmdline = sq_col_dup(s, 6);
	img->os = sq_col_dup(s, 7);
	img->error = sq_col_dup(s, 8);
	img->size_bytes = sqlite3_column_int64(s, 9);
	img->created_at = sqlite3_column_int64(s, 10);
	sq_col_copy(s, 11, img->op_id, sizeof(img->op_id));
	img->virtual_size_bytes = sqlite3_column_int64(s, 12);
	img->source = sq_col_dup(s, 13);
	sq_col_copy(s, 14, img->sha256, sizeof(img->sha256));
	img->kernel_source = sq_col_dup(s, 15);
	img->initrd_source = sq_col_dup(s, 16);
}

static int img_write_locked(struct store *st, const struct image *img, bool insert, struct err *e)
{
	sqlite3_stmt *s = sq_prep(st,
			       insert ? "INSERT INTO images (" IMG_COLS ") VALUES (" IMG_PARAMS ")"
				      : "UPDATE images SET (" IMG_COLS ") = (" IMG_PARAMS ") WHERE id = ?1",
			       e);
	if (!s)
		return -1;
	img_bind(s, img);
	int rc = sq_step_done(st, s, "image", e);
	if (rc < 0 && e && e->kind == ERR_CONFLICT)
		err_set(e, ERR_CONFLICT, "an image named \"%s\" already exists", img->name);
	return rc;
}

int store_image_insert(struct store *st, const struct image *img, struct err *e)
{
	LOCKED(st, img_write_locked(st, img, true, e));
}

int store_image_update(struct store *st, const struct image *img, struct err *e)
{
	LOCKED(st, img_write_locked(st, img, false, e));
}

static int img_get_locked(struct store *st, const char *ref, struct image *out, struct err *e)
{
	sqlite3_stmt *s = sq_prep(st, "SELECT " IMG_COLS " FROM images WHERE name = ?1 OR id = ?1", e);
	if (!s)
		return -1;
	sq_bind_text(s, 1, ref);
	return sq_get_one(st, s, img_fill, out, "image", ref, e);
}

int store_image_get(struct store *st, const char *ref, struct image *out, struct err *e)
{
	LOCKED(st, img_get_locked(st, ref, out, e));
}

static int img_list_locked(struct store *st, struct image **out, int *n, struct err *e)
{
	sqlite3_stmt *s = sq_prep(st, "SELECT " IMG_COLS " FROM images ORDER BY name", e);
	if (!s)
		return -1;
	return sq_list_all(st, s, sizeof(struct image), img_fill, (void **)out, n, e);
}

int store_image_list(struct store *st, struct image **out, int *n, struct err *e)
{
	LOCKED(st, img_list_locked(st, out, n, e));
}

int store_image_delete(struct store *st, const char *id, struct err *e)
{
	LOCKED(st, sq_delete_by_id(st, "DELETE FROM images WHERE id = ?1", id, e));
}

/* --- volumes ------------------------------------------------------------ */

#define VOL_COLS                                                                                      \
	"id, name, size_bytes, state, attach_to, deleted, attached_vm, slot, unplugging, created_at, op_id, " \
	"from_snapshot"
#define VOL_PARAMS "?,?,?,?,?,?,?,?,?,?,?,?"

static void vol_bind(sqlite3_stmt *s, const struct volume *v)
{
	sq_bind_text(s, 1, v->id);
	sq_bind_text(s, 2, v->name);
	sqlite3_bind_int64(s, 3, (sqlite3_int64)v->size_bytes);
	sq_bind_text(s, 4, v->state);
	sq_bind_text(s, 5, v->attach_to);
	sqlite3_bind_int(s, 6, v->deleted);
	sq_bind_text(s, 7, v->attached_vm);
	sqlite3_bind_int(s, 8, v->slot);
	sqlite3_bind_int(s, 9, v->unplugging);
	sqlite3_bind_int64(s, 10, v->created_at);
	sq_bind_text(s, 11, v->op_id[0] ? v->op_id : NULL);
	sq_bind_text(s, 12, v->from_snapshot);
}

static void vol_fill(sqlite3_stmt *s, void *out)
{
	struct volume *v = out;
	memset(v, 0, sizeof(*v));
	sq_col_copy(s, 0, v->id, sizeof(v->id));
	sq_col_copy(s, 1, v->name, sizeof(v->name));
	v->size_bytes = (uint64_t)sqlite3_column_int64(s, 2);
	sq_col_copy(s, 3, v->state, sizeof(v->state));
	sq_col_copy(s, 4, v->attach_to, sizeof(v->attach_to));
	v->deleted = sqlite3_column_int(s, 5);
	sq_col_copy(s, 6, v->attached_vm, sizeof(v->attached_vm));
	v->slot = sqlite3_column_int(s, 7);
	v->unplugging = sqlite3_column_int(s, 8);
	v->created_at = sqlite3_column_int64(s, 9);
	sq_col_copy(s, 10, v->op_id, sizeof(v->op_id));
	sq_col_copy(s, 11, v->from_snapshot, sizeof(v->from_snapshot));
}

static int vol_write_locked(struct store *st, const struct volume *v, bool insert, struct err *e)
{
	sqlite3_stmt *s = sq_prep(st,
			       insert ? "INSERT INTO volumes (" VOL_COLS ") VALUES (" VOL_PARAMS ")"
				      : "UPDATE volumes SET (" VOL_COLS ") = (" VOL_PARAMS ") WHERE id = ?1",
			       e);
	if (!s)
		return -1;
	vol_bind(s, v);
	int rc = sq_step_done(st, s, "volume", e);
	if (rc < 0 && e && e->kind == ERR_CONFLICT)
		err_set(e, ERR_CONFLICT, "a volume named \"%s\" already exists", v->name);
	return rc;
}

int store_volume_insert(struct store *st, const struct volume *v, struct err *e)
{
	LOCKED(st, vol_write_locked(st, v, true, e));
}

int store_volume_update(struct store *st, const struct volume *v, struct err *e)
{
	LOCKED(st, vol_write_locked(st, v, false, e));
}

static int vol_get_locked(struct store *st, const char *ref, struct volume *out, struct err *e)
{
	sqlite3_stmt *s = sq_prep(st, "SELECT " VOL_COLS " FROM volumes WHERE name = ?1 OR id = ?1", e);
	if (!s)
		return -1;
	sq_bind_text(s, 1, ref);
	return sq_get_one(st, s, vol_fill, out, "volume", ref, e);
}

int store_volume_get(struct store *st, const char *ref, struct volume *out, struct err *e)
{
	LOCKED(st, vol_get_locked(st, ref, out, e));
}

static int vol_list_locked(struct store *st, struct volume **out, int *n, struct err *e)
{
	sqlite3_stmt *s = sq_prep(st, "SELECT " VOL_COLS " FROM volumes ORDER BY name", e);
	if (!s)
		return -1;
	return sq_list_all(st, s, sizeof(struct volume), vol_fill, (void **)out, n, e);
}

int store_volume_list(struct store *st, struct volume **out, int *n, struct err *e)
{
	LOCKED(st, vol_list_locked(st, out, n, e));
}

int store_volume_delete(struct store *st, const char *id, struct err *e)
{
	LOCKED(st, sq_delete_by_id(st, "DELETE FROM volumes WHERE id = ?1", id, e));
}

/* --- snapshots ---------------------------------------------------------- */

#define SNAP_COLS "id, name, vm_id, vm_name, image_id, parent, state, virtual_size, created_at, op_id, volume_id"
#define SNAP_PARAMS "?,?,?,?,?,?,?,?,?,?,?"

static void snap_bind(sqlite3_stmt *s, const struct snapshot *sn)
{
	sq_bind_text(s, 1, sn->id);
	sq_bind_text(s, 2, sn->name);
	sq_bind_text(s, 3, sn->vm_id);
	sq_bind_text(s, 4, sn->vm_name);
	sq_bind_text(s, 5, sn->image_id);
	sq_bind_text(s, 6, sn->parent);
	sq_bind_text(s, 7, sn->state);
	sqlite3_bind_int64(s, 8, (sqlite3_int64)sn->virtual_size);
	sqlite3_bind_int64(s, 9, sn->created_at);
	sq_bind_text(s, 10, sn->op_id[0] ? sn->op_id : NULL);
	sq_bind_text(s, 11, sn->volume_id);
}

static void snap_fill(sqlite3_stmt *s, void *out)
{
	struct snapshot *sn = out;
	memset(sn, 0, sizeof(*sn));
	sq_col_copy(s, 0, sn->id, sizeof(sn->id));
	sq_col_copy(s, 1, sn->name, sizeof(sn->name));
	sq_col_copy(s, 2, sn->vm_id, sizeof(sn->vm_id));
	sq_col_copy(s, 3, sn->vm_name, sizeof(sn->vm_name));
	sq_col_copy(s, 4, sn->image_id, sizeof(sn->image_id));
	sq_col_copy(s, 5, sn->parent, sizeof(sn->parent));
	sq_col_copy(s, 6, sn->state, sizeof(sn->state));
	sn->virtual_size = (uint64_t)sqlite3_column_int64(s, 7);
	sn->created_at = sqlite3_column_int64(s, 8);
	sq_col_copy(s, 9, sn->op_id, sizeof(sn->op_id));
	sq_col_copy(s, 10, sn->volume_id, sizeof(sn->volume_id));
}

static int snap_write_locked(struct store *st, const struct snapshot *sn, bool insert, struct err *e)
{
	sqlite3_stmt *s = sq_prep(st,
			       insert ? "INSERT INTO snapshots (" SNAP_COLS ") VALUES (" SNAP_PARAMS ")"
				      : "UPDATE snapshots SET (" SNAP_COLS ") = (" SNAP_PARAMS ") WHERE id = ?1",
			       e);
	if (!s)
		return -1;
	snap_bind(s, sn);
	int rc = sq_step_done(st, s, "snapshot", e);
	if (rc < 0 && e && e->kind == ERR_CONFLICT)
		err_set(e, ERR_CONFLICT, "a snapshot named \"%s\" already exists", sn->name);
	return rc;
}

int store_snapshot_insert(struct store *st, const struct snapshot *sn, struct err *e)
{
	LOCKED(st, snap_write_locked(st, sn, true, e));
}

int store_snapshot_update(struct store *st, const struct snapshot *sn, struct err *e)
{
	LOCKED(st, snap_write_locked(st, sn, false, e));
}

static int snap_get_locked(struct store *st, const char *ref, struct snapshot *out, struct err *e)
{
	sqlite3_stmt *s = sq_prep(st, "SELECT " SNAP_COLS " FROM snapshots WHERE name = ?1 OR id = ?1", e);
	if (!s)
		return -1;
	sq_bind_text(s, 1, ref);
	return sq_get_one(st, s, snap_fill, out, "snapshot", ref, e);
}

int store_snapshot_get(struct store *st, const char *ref, struct snapshot *out, struct err *e)
{
	LOCKED(st, snap_get_locked(st, ref, out, e));
}

static int snap_list_locked(struct store *st, struct snapshot **out, int *n, struct err *e)
{
	sqlite3_stmt *s = sq_prep(st, "SELECT " SNAP_COLS " FROM snapshots ORDER BY created_at", e);
	if (!s)
		return -1;
	return sq_list_all(st, s, sizeof(struct snapshot), snap_fill, (void **)out, n, e);
}

int store_snapshot_list(struct store *st, struct snapshot **out, int *n, struct err *e)
{
	LOCKED(st, snap_list_locked(st, out, n, e));
}

int store_snapshot_delete(struct store *st, const char *id, struct err *e)
{
	LOCKED(st, sq_delete_by_id(st, "DELETE FROM snapshots WHERE id = ?1", id, e));
}

/* --- tokens ------------------------------------------------------------- */

#define TOK_COLS "id, name, hash, created_at, last_used_at"

static void tok_fill(sqlite3_stmt *s, void *out)
{
	struct token *t = out;
	memset(t, 0, sizeof(*t));
	sq_col_copy(s, 0, t->id, sizeof(t->id));
	sq_col_copy(s, 1, t->name, sizeof(t->name));
	sq_col_copy(s, 2, t->hash, sizeof(t->hash));
	t->created_at = sqlite3_column_int64(s, 3);
	t->last_used_at = sqlite3_column_int64(s, 4);
}

static int tok_insert_locked(struct store *st, const struct token *t, struct err *e)
{
	sqlite3_stmt *s = sq_prep(st, "INSERT INTO tokens (" TOK_COLS ") VALUES (?,?,?,?,?)", e);
	if (!s)
		return -1;
	sq_bind_text(s, 1, t->id);
	sq_bind_text(s, 2, t->name);
	sq_bind_text(s, 3, t->hash);
	sqlite3_bind_int64(s, 4, t->created_at);
	sqlite3_bind_int64(s, 5, t->last_used_at);
	int rc = sq_step_done(st, s, "token", e);
	if (rc < 0 && e && e->kind == ERR_CONFLICT)
		err_set(e, ERR_CONFLICT, "a token named \"%s\" already exists", t->name);
	return rc;
}

int store_token_insert(struct store *st, const struct token *t, struct err *e)
{
	LOCKED(st, tok_insert_locked(st, t, e));
}

static int tok_get_locked(struct store *st, const char *ref, struct token *out, struct err *e)
{
	sqlite3_stmt *s = sq_prep(st, "SELECT " TOK_COLS " FROM tokens WHERE name = ?1 OR id = ?1", e);
	if (!s)
		return -1;
	sq_bind_text(s, 1, ref);
	return sq_get_one(st, s, tok_fill, out, "token", ref, e);
}

int store_token_get(struct store *st, const char *ref, struct token *out, struct err *e)
{
	LOCKED(st, tok_get_locked(st, ref, out, e));
}

static int tok_list_locked(struct store *st, struct token **out, int *n, struct err *e)
{
	sqlite3_stmt *s = sq_prep(st, "SELECT " TOK_COLS " FROM tokens ORDER BY name", e);
	if (!s)
		return -1;
	return sq_list_all(st, s, sizeof(struct token), tok_fill, (void **)out, n, e);
}

int store_token_list(struct store *st, struct token **out, int *n, struct err *e)
{
	LOCKED(st, tok_list_locked(st, out, n, e));
}

int store_token_delete(struct store *st, const char *id, struct err *e)
{
	LOCKED(st, sq_delete_by_id(st, "DELETE FROM tokens WHERE id = ?1", id, e));
}

static int tok_touch_locked(struct store *st, const char *id, int64_t when_ms, struct err *e)
{
	sqlite3_stmt *s = sq_prep(st, "UPDATE tokens SET last_used_at = ?2 WHERE id = ?1", e);
	if (!s)
		return -1;
	sq_bind_text(s, 1, id);
	sqlite3_bind_int64(s, 2, when_ms);
	return sq_step_done(st, s, "token", e);
}

int store_token_touch(struct store *st, const char *id, int64_t when_ms, struct err *e)
{
	LOCKED(st, tok_touch_locked(st, id, when_ms, e));
}
