/*
 * copies: which hosts hold a whole copy of an image's files, and the
 * cluster's secret that hosts show each other when one fetches files from
 * another (ctl/peer.c). A copy row is written by its own host once the
 * files are in place (after the rename), so a row always means whole files;
 * deleting the image deletes its rows in the same transaction, and each
 * host then removes its own files (ctl/images.c).
 */
#include "store/store-priv.h"

#include <stdlib.h>
#include <string.h>

#include "util/str.h"

static int meta_init(struct cx *cx, const char *key, const char *value, char **out, struct err *e)
{
	struct q *q = q_prep(cx, "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING", e);
	if (!q)
		return -1;
	q_text(q, 1, key);
	q_text(q, 2, value);
	if (q_done(q, "meta", e) < 0)
		return -1;
	q = q_prep(cx, "SELECT value FROM meta WHERE key = ?1", e);
	if (!q)
		return -1;
	q_text(q, 1, key);
	int rc = q_step(q);
	if (rc == DB_ROW)
		*out = q_col_dup(q, 0);
	rc = rc == DB_ROW ? 0 : cx_fail(cx, e, "reading meta");
	q_free(q);
	return rc;
}

int store_meta_init(struct store *st, const char *key, const char *value, char **out, struct err *e)
{
	*out = NULL;
	RUN(st, CX_WRITE, e, meta_init(cx, key, value, out, e));
}

static int copy_set(struct cx *cx, const char *image_id, const char *host, bool have, struct err *e)
{
	struct q *q = q_prep(cx, have ? "INSERT INTO image_copies (image_id, host) VALUES (?1, ?2) "
					"ON CONFLICT (image_id, host) DO NOTHING"
				      : "DELETE FROM image_copies WHERE image_id = ?1 AND host = ?2",
			     e);
	if (!q)
		return -1;
	q_text(q, 1, image_id);
	q_text(q, 2, host);
	return q_done(q, "image copy", e);
}

int store_image_copy_set(struct store *st, const char *image_id, const char *host, bool have, struct err *e)
{
	RUN(st, CX_WRITE, e, copy_set(cx, image_id, host, have, e));
}

static int copies(struct cx *cx, const char *image_id, char ***out, int *n, struct err *e)
{
	struct q *q = q_prep(cx, "SELECT host FROM image_copies WHERE image_id = ?1 ORDER BY host", e);
	if (!q)
		return -1;
	q_text(q, 1, image_id);
	int rc;
	while ((rc = q_step(q)) == DB_ROW) {
		*out = xrealloc(*out, sizeof(char *) * (size_t)(*n + 2));
		(*out)[(*n)++] = q_col_dup(q, 0);
		(*out)[*n] = NULL;
	}
	rc = rc == DB_DONE ? 0 : cx_fail(cx, e, "listing an image's copies");
	q_free(q);
	return rc;
}

int store_image_copies(struct store *st, const char *image_id, char ***hosts, int *n, struct err *e)
{
	*hosts = NULL;
	*n = 0;
	RUN(st, CX_READ, e, copies(cx, image_id, hosts, n, e));
}

void store_strv_free(char **v)
{
	for (int i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}
