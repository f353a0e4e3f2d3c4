/* sessions: the web console's logged-in browsers (store.h). Plain rows
 * without events: a session is a credential, not a resource anyone follows. */
#include "store/store-priv.h"

#include <string.h>

static int session_insert(struct cx *cx, const struct session *s, struct err *e)
{
	struct q *q = q_prep(cx, "DELETE FROM sessions WHERE expires_at <= ?1", e);
	if (!q)
		return -1;
	q_int(q, 1, s->created_at);
	if (q_done(q, "session", e) < 0)
		return -1;
	q = q_prep(cx,
		   "INSERT INTO sessions (id, hash, csrf, token_id, created_at, expires_at) "
		   "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
		   e);
	if (!q)
		return -1;
	q_text(q, 1, s->id);
	q_text(q, 2, s->hash);
	q_text(q, 3, s->csrf);
	q_text(q, 4, s->token_id);
	q_int(q, 5, s->created_at);
	q_int(q, 6, s->expires_at);
	return q_done(q, "session", e);
}

int store_session_insert(struct store *st, const struct session *s, struct err *e)
{
	RUN(st, CX_WRITE, e, session_insert(cx, s, e));
}

static void session_fill(struct q *q, void *out)
{
	struct session *s = out;
	memset(s, 0, sizeof(*s));
	q_col_copy(q, 0, s->id, sizeof(s->id));
	q_col_copy(q, 1, s->hash, sizeof(s->hash));
	q_col_copy(q, 2, s->csrf, sizeof(s->csrf));
	q_col_copy(q, 3, s->token_id, sizeof(s->token_id));
	s->created_at = q_col_int(q, 4);
	s->expires_at = q_col_int(q, 5);
}

static int session_get(struct cx *cx, const char *hash, int64_t now_ms, struct session *out, struct err *e)
{
	struct q *q = q_prep(cx,
			     "SELECT s.id, s.hash, s.csrf, s.token_id, s.created_at, s.expires_at FROM sessions s "
			     "JOIN tokens t ON t.id = s.token_id WHERE s.hash = ?1 AND s.expires_at > ?2",
			     e);
	if (!q)
		return -1;
	q_text(q, 1, hash);
	q_int(q, 2, now_ms);
	/* the reference in a not-found message is never the hash */
	return q_one(q, session_fill, out, "session", "of this cookie", e);
}

int store_session_get(struct store *st, const char *hash, int64_t now_ms, struct session *out, struct err *e)
{
	RUN(st, CX_READ, e, session_get(cx, hash, now_ms, out, e));
}

int store_session_delete(struct store *st, const char *id, struct err *e)
{
	RUN(st, CX_WRITE, e, cx_exec_id(cx, "DELETE FROM sessions WHERE id = ?1", id, e));
}
