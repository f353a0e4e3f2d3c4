/*
 * driver_pg: PostgreSQL through libpq (see driver.h for what differs from
 * SQLite). A statement is PQexecParams with every parameter sent as text
 * and typed (text or bigint), so the server never has to guess a type; its
 * whole result is fetched at the first step and walked by the next ones.
 *
 * Write transactions take one advisory transaction lock, so writers run one
 * at a time across every nubod on the database, as BEGIN IMMEDIATE does on
 * SQLite: admission (capacity, names, addresses) reads and writes in one
 * transaction and no other writer interleaves, whatever the isolation level.
 * Each one bumps the row of nubo_changes as its last statement before COMMIT,
 * the counter store_change_count() reads (last, so that no writer waits for
 * that row while holding others).
 */
#include "store/driver.h"

#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/str.h"

#define TEXTOID 25
#define INT8OID 20

/* Advisory lock keys ("nubo" and a number); scoped to the database. */
#define LOCK_WRITE "1853187695001"
#define LOCK_SCHEMA "1853187695002"

struct db_conn {
	PGconn *pg;
	char state[6];     /* SQLSTATE of the last failure, "" if the link failed */
	char msg[512];
	char key[256];     /* the unique key of the last DB_UNIQUE */
};

struct db_stmt {
	struct db_conn *c;
	char *sql;
	int n;             /* parameters */
	char **values;
	Oid *types;
	PGresult *res;
	int row, rows;
	int64_t changes;
};

bool db_target_is_pg(const char *target)
{
	return target && (strncmp(target, "postgres://", 11) == 0 || strncmp(target, "postgresql://", 13) == 0);
}

/* Adds the items of list (separated by sep) that are not password=…, each
 * after sep (the first after first). */
static void add_but_password(struct sbuf *b, const char *list, size_t len, char sep, const char *first)
{
	bool any = false;
	const char *p = list, *end = list + len;
	while (p < end) {
		const char *q = memchr(p, sep, (size_t)(end - p));
		size_t n = q ? (size_t)(q - p) : (size_t)(end - p);
		if (n && strncmp(p, "password=", 9) != 0) {
			sbuf_addf(b, "%s%.*s", any ? (char[]){sep, 0} : first, (int)n, p);
			any = true;
		}
		p += n + 1;
	}
}

/* Drops ":password" from the user part of a URI and every password=… item. */
char *db_target_redact(const char *target)
{
	struct sbuf b = {0};
	const char *scheme = strstr(target, "://");
	if (!scheme) {   /* "host=… user=… password=…" */
		add_but_password(&b, target, strlen(target), ' ', "");
	} else {
		const char *auth = scheme + 3;
		size_t auth_len = strcspn(auth, "/?");
		const char *at = NULL;
		for (const char *p = auth; p < auth + auth_len; p++)
			if (*p == '@')
				at = p;
		sbuf_addf(&b, "%.*s", (int)(auth - target), target);
		const char *host = auth;
		if (at) {
			size_t user_len = strcspn(auth, ":@");
			sbuf_addf(&b, "%.*s@", (int)user_len, auth);
			host = at + 1;
		}
		const char *rest = auth + auth_len;
		size_t path_len = strcspn(rest, "?");
		sbuf_addf(&b, "%.*s%.*s", (int)(rest - host), host, (int)path_len, rest);
		if (rest[path_len] == '?')
			add_but_password(&b, rest + path_len + 1, strlen(rest + path_len + 1), '&', "?");
	}
	char *out = sbuf_take(&b);
	return out ? out : xstrdup("");
}

char *db_pg_placeholders(const char *sql)
{
	struct sbuf b = {0};
	int highest = 0;
	char quote = 0;
	for (const char *p = sql; *p; p++) {
		if (quote) {
			sbuf_addn(&b, p, 1);
			if (*p == quote)
				quote = 0;
			continue;
		}
		if (*p == '\'' || *p == '"') {
			quote = *p;
			sbuf_addn(&b, p, 1);
			continue;
		}
		if (*p != '?') {
			sbuf_addn(&b, p, 1);
			continue;
		}
		int n = 0;
		while (p[1] >= '0' && p[1] <= '9')
			n = n * 10 + (*++p - '0');
		if (n == 0)
			n = highest + 1;
		if (n > highest)
			highest = n;
		sbuf_addf(&b, "$%d", n);
	}
	char *out = sbuf_take(&b);
	return out ? out : xstrdup("");
}

static void remember_conn(struct db_conn *c)
{
	c->state[0] = '\0';
	snprintf(c->msg, sizeof(c->msg), "%s", PQerrorMessage(c->pg));
	c->msg[strcspn(c->msg, "\n")] = '\0';
}

/* "Key (network_id, ip)=(…) already exists." on table nics: "nics.network_id, nics.ip". */
static void remember_key(struct db_conn *c, const PGresult *r)
{
	const char *table = PQresultErrorField(r, PG_DIAG_TABLE_NAME);
	const char *detail = PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL);
	c->key[0] = '\0';
	if (!table || !detail || strncmp(detail, "Key (", 5) != 0)
		return;
	struct sbuf b = {0};
	const char *p = detail + 5;
	while (*p && *p != ')') {
		size_t len = strcspn(p, ",)");
		sbuf_addf(&b, "%s%s.%.*s", b.len ? ", " : "", table, (int)len, p);
		p += len;
		while (*p == ',' || *p == ' ')
			p++;
	}
	char *k = sbuf_take(&b);
	snprintf(c->key, sizeof(c->key), "%s", k ? k : "");
	free(k);
}

static void remember(struct db_conn *c, const PGresult *r)
{
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	const char *primary = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	if (!state || PQstatus(c->pg) != CONNECTION_OK) {
		remember_conn(c);
		return;
	}
	snprintf(c->state, sizeof(c->state), "%s", state);
	snprintf(c->msg, sizeof(c->msg), "%s", primary ? primary : PQresultErrorMessage(r));
	if (strcmp(state, "23505") == 0)
		remember_key(c, r);
}

static void quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message;   /* NOTICEs ("relation already exists, skipping") are not for nubod's log */
}

static int pg_open(const char *target, struct db_conn **out, char **why)
{
	struct db_conn *c = xcalloc(1, sizeof(*c));
	c->pg = PQconnectdb(target);
	if (!c->pg || PQstatus(c->pg) != CONNECTION_OK) {
		const char *m = c->pg ? PQerrorMessage(c->pg) : "out of memory";
		*why = xstrdup(m);
		(*why)[strcspn(*why, "\n")] = '\0';
		PQfinish(c->pg);
		free(c);
		return -1;
	}
	PQsetNoticeProcessor(c->pg, quiet, NULL);
	*out = c;
	return 0;
}

static void pg_close(struct db_conn *c)
{
	if (!c)
		return;
	PQfinish(c->pg);
	free(c);
}

/* PQconsumeInput reads what the server sent meanwhile without waiting, so
 * a connection the server closed (a restart) is seen as broken here, before
 * a call fails on it. */
/* An idle connection whose server went away holds the server's last words
 * (a FATAL message) and then the end of the stream: one read takes the
 * words and leaves the status OK, and only a second meets the end. So it
 * reads twice; on a live idle connection the second finds nothing. */
static bool pg_ok(struct db_conn *c)
{
	return PQconsumeInput(c->pg) && PQconsumeInput(c->pg) && PQstatus(c->pg) == CONNECTION_OK;
}

static bool pg_reconnect(struct db_conn *c)
{
	PQreset(c->pg);
	if (PQstatus(c->pg) == CONNECTION_OK)
		return true;
	remember_conn(c);
	return false;
}

static int pg_exec(struct db_conn *c, const char *sql)
{
	PGresult *r = PQexec(c->pg, sql);
	ExecStatusType st = PQresultStatus(r);
	int rc = (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) ? 0 : -1;
	if (rc < 0)
		remember(c, r);
	PQclear(r);
	return rc;
}

static struct db_stmt *pg_prepare(struct db_conn *c, const char *sql)
{
	struct db_stmt *s = xcalloc(1, sizeof(*s));
	s->c = c;
	s->sql = db_pg_placeholders(sql);
	return s;
}

static void grow(struct db_stmt *s, int i)
{
	if (i <= s->n)
		return;
	s->values = xrealloc(s->values, sizeof(*s->values) * (size_t)i);
	s->types = xrealloc(s->types, sizeof(*s->types) * (size_t)i);
	for (int k = s->n; k < i; k++) {
		s->values[k] = NULL;
		s->types[k] = TEXTOID;
	}
	s->n = i;
}

static void pg_bind_text(struct db_stmt *s, int i, const char *v)
{
	grow(s, i);
	free(s->values[i - 1]);
	s->values[i - 1] = v ? xstrdup(v) : NULL;
	s->types[i - 1] = TEXTOID;
}

static void pg_bind_int(struct db_stmt *s, int i, int64_t v)
{
	grow(s, i);
	free(s->values[i - 1]);
	s->values[i - 1] = xasprintf("%lld", (long long)v);
	s->types[i - 1] = INT8OID;
}

static int pg_step(struct db_stmt *s)
{
	if (s->res)
		return ++s->row < s->rows ? DB_ROW : DB_DONE;
	s->res = PQexecParams(s->c->pg, s->sql, s->n, s->types, (const char *const *)s->values, NULL, NULL, 0);
	switch (PQresultStatus(s->res)) {
	case PGRES_TUPLES_OK:
		s->rows = PQntuples(s->res);
		s->row = 0;
		return s->rows > 0 ? DB_ROW : DB_DONE;
	case PGRES_COMMAND_OK:
		s->changes = strtoll(PQcmdTuples(s->res), NULL, 10);
		return DB_DONE;
	default:
		remember(s->c, s->res);
		return -1;
	}
}

static const char *pg_column_text(struct db_stmt *s, int i)
{
	if (!s->res || s->row >= s->rows || PQgetisnull(s->res, s->row, i))
		return NULL;
	return PQgetvalue(s->res, s->row, i);
}

static int64_t pg_column_int(struct db_stmt *s, int i)
{
	const char *v = pg_column_text(s, i);
	return v ? strtoll(v, NULL, 10) : 0;
}

static int64_t pg_changes(struct db_stmt *s)
{
	return s->changes;
}

static void pg_finalize(struct db_stmt *s)
{
	if (!s)
		return;
	for (int i = 0; i < s->n; i++)
		free(s->values[i]);
	free(s->values);
	free(s->types);
	PQclear(s->res);
	free(s->sql);
	free(s);
}

static enum db_code pg_code(struct db_conn *c)
{
	if (PQstatus(c->pg) != CONNECTION_OK || !c->state[0] || strncmp(c->state, "08", 2) == 0 ||
	    strcmp(c->state, "57P01") == 0 || strcmp(c->state, "57P03") == 0)
		return DB_UNAVAILABLE;   /* link down, admin shutdown, still starting */
	if (strcmp(c->state, "23505") == 0)
		return DB_UNIQUE;
	if (strcmp(c->state, "40001") == 0 || strcmp(c->state, "40P01") == 0 || strcmp(c->state, "55P03") == 0)
		return DB_BUSY;
	return DB_ERROR;
}

static const char *pg_message(struct db_conn *c)
{
	return c->msg;
}

static void pg_unique_key(struct db_conn *c, char *buf, size_t n)
{
	snprintf(buf, n, "%s", c->key);
}

static int64_t pg_change_count(struct db_conn *c)
{
	PGresult *r = PQexec(c->pg, "SELECT n FROM nubo_changes");
	int64_t n = -1;
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	else
		remember(c, r);
	PQclear(r);
	return n;
}

static int pg_listen(struct db_conn *c, const char *channel)
{
	char sql[96];
	snprintf(sql, sizeof(sql), "LISTEN %s", channel);
	return pg_exec(c, sql);
}

/* Waits on the connection's socket; what arrives is consumed, and any
 * notification among it counts once. */
static int pg_wait_notify(struct db_conn *c, int timeout_ms)
{
	int fd = PQsocket(c->pg);
	if (fd < 0 || PQstatus(c->pg) != CONNECTION_OK) {
		remember_conn(c);
		return -1;
	}
	struct pollfd p = {.fd = fd, .events = POLLIN};
	int r = poll(&p, 1, timeout_ms);
	if (r < 0)
		return errno == EINTR ? 0 : -1;
	if (r > 0 && !PQconsumeInput(c->pg)) {
		remember_conn(c);
		return -1;
	}
	int got = 0;
	PGnotify *n;
	while ((n = PQnotifies(c->pg)) != NULL) {
		got = 1;
		PQfreemem(n);
	}
	if (PQstatus(c->pg) != CONNECTION_OK) {
		remember_conn(c);
		return -1;
	}
	return got;
}

/* A session lock: whichever nubod gets it first migrates, the others wait
 * here and then find nothing left to do. */
static int pg_schema_lock(struct db_conn *c, bool lock)
{
	return pg_exec(c, lock ? "SELECT pg_advisory_lock(" LOCK_SCHEMA ")" : "SELECT pg_advisory_unlock(" LOCK_SCHEMA ")");
}

static int pg_schema_version(struct db_conn *c, int *version)
{
	if (pg_exec(c, "CREATE TABLE IF NOT EXISTS nubo_schema (version INTEGER NOT NULL);"
		       "INSERT INTO nubo_schema (version) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM nubo_schema)") < 0)
		return -1;
	PGresult *r = PQexec(c->pg, "SELECT version FROM nubo_schema");
	int rc = -1;
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
		*version = atoi(PQgetvalue(r, 0, 0));
		rc = 0;
	} else {
		remember(c, r);
	}
	PQclear(r);
	return rc;
}

static int pg_schema_version_set(struct db_conn *c, int version)
{
	char sql[64];
	snprintf(sql, sizeof(sql), "UPDATE nubo_schema SET version = %d", version);
	return pg_exec(c, sql);
}

const struct db_driver db_pg = {
	.name = "postgresql",
	.dialect = DIALECT_PG,
	.pool_max = 8,
	.one_writer_in_process = false,   /* the advisory lock does it for every process */
	.begin_write = "BEGIN; SELECT pg_advisory_xact_lock(" LOCK_WRITE ")",
	.commit_write = "UPDATE nubo_changes SET n = n + 1; COMMIT",
	.rollback = "ROLLBACK",
	.open = pg_open,
	.close = pg_close,
	.ok = pg_ok,
	.reconnect = pg_reconnect,
	.exec = pg_exec,
	.prepare = pg_prepare,
	.bind_text = pg_bind_text,
	.bind_int = pg_bind_int,
	.step = pg_step,
	.column_text = pg_column_text,
	.column_int = pg_column_int,
	.changes = pg_changes,
	.finalize = pg_finalize,
	.code = pg_code,
	.message = pg_message,
	.unique_key = pg_unique_key,
	.notify = "NOTIFY nubo_events",
	.listen = pg_listen,
	.wait_notify = pg_wait_notify,
	.change_count = pg_change_count,
	.schema_lock = pg_schema_lock,
	.schema_version = pg_schema_version,
	.schema_version_set = pg_schema_version_set,
};
