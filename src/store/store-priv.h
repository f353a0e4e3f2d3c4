/*
 * store-priv: what the files of the store share. store.c: the pool of
 * connections, transactions and the statement helpers; columns.c: tables as
 * column descriptors; vms.c, networks.c, resources.c: the tables' queries,
 * written once for every driver. Nothing outside store/ (and its tests)
 * includes this.
 */
#pragma once

#include <pthread.h>
#include <stddef.h>

#include "store/driver.h"
#include "store/store.h"

#define STORE_POOL_MAX 8

/* One connection of the pool, used by one thread at a time. */
struct cx {
	struct store *st;
	struct db_conn *db;
	bool busy;          /* lent to a thread */
	bool tx;            /* an explicit transaction (store_tx_begin) is open */
	bool wrote;         /* a write transaction is open (explicit or for one call) */
	bool savepoint;     /* the current call runs under a savepoint */
	bool evented;       /* the open write transaction recorded events (events.c) */
	unsigned epoch;     /* the store's loss count when this connection last worked */
	struct after_commit *after;   /* store_after_commit() calls waiting for the commit */
	int n_after;
};

struct after_commit {
	void (*fn)(void *arg, const char *key);
	void *arg;
	char *key;
};

struct store {
	const struct db_driver *drv;
	char *target;              /* path or connection string */
	char *shown;               /* target without a password, for messages */
	pthread_mutex_t lock;      /* the pool and the reconnect backoff */
	pthread_cond_t freed;
	struct cx pool[STORE_POOL_MAX];
	int n_pool, pool_max;
	int64_t retry_at_ms, backoff_ms;   /* after a failed reconnect, when to try again */
	unsigned epoch;            /* times a connection was found lost (under lock) */
	pthread_mutex_t write_lock;        /* drv->one_writer_in_process */
	pthread_mutex_t watch_lock;
	struct db_conn *watch;             /* store_change_count()'s own connection */
	int64_t watch_failures;
	/* Who hears that events were appended (store_set_event_hook), and the
	 * thread that LISTENs for other nubods' on PostgreSQL (events.c). */
	pthread_mutex_t hook_lock;
	void (*hook)(void *arg);
	void *hook_arg;
	pthread_t listener;
	bool listening, listener_quit;
	/* What the meters charge (usage.c), set by store_usage_set_prices. */
	pthread_mutex_t usage_lock;
	struct usage_prices usage_prices;
	struct machine_type *usage_types;
	int n_usage_types;
};

/* How a call uses its connection. */
enum cx_mode {
	CX_READ,    /* reads only */
	CX_WRITE,   /* writes: in a write transaction of its own, or under a savepoint in the caller's */
};

/* Lends the calling thread a connection for one call: the thread's own if it
 * holds a transaction, else one of the pool. A write call gets a write
 * transaction (or, in the caller's, a savepoint where the driver needs one). */
int cx_enter(struct store *st, enum cx_mode mode, struct cx **out, struct err *e);
/* Ends what cx_enter began: commits or releases when rc is 0, else rolls back.
 * Returns rc, or -1 if the commit failed (e says why). */
int cx_leave(struct cx *cx, int rc, struct err *e);

/* Every public function is one call: RUN(st, CX_READ, e, body using cx). */
#define RUN(st, mode, e, body)                                  \
	do {                                                    \
		struct cx *cx;                                  \
		if (cx_enter((st), (mode), &cx, (e)) < 0)       \
			return -1;                              \
		return cx_leave(cx, (body), (e));               \
	} while (0)

/* A statement on a connection. */
struct q {
	struct cx *cx;
	struct db_stmt *s;
	const struct table *table;   /* whose rows it reads, for table_get/table_list */
};

/* Fills e from the connection's last failure: ERR_UNAVAILABLE "the database
 * at … is unreachable: …", ERR_CONFLICT "WHAT already exists" for a unique
 * key, else ERR_INTERNAL "store: WHAT: …". Returns -1. */
int cx_fail(struct cx *cx, struct err *e, const char *what);
int cx_exec(struct cx *cx, const char *sql, struct err *e);
/* The key the last unique violation was on, "table.col, table.col". */
void cx_unique_key(struct cx *cx, char *buf, size_t n);

struct q *q_prep(struct cx *cx, const char *sql, struct err *e);   /* NULL on failure */
void q_text(struct q *q, int i, const char *v);                      /* NULL: SQL NULL */
void q_int(struct q *q, int i, int64_t v);
void q_phases(struct q *q, int i, const struct phases *ph);
int q_step(struct q *q);                                             /* DB_ROW, DB_DONE, -1 */
const char *q_col(struct q *q, int i);                               /* NULL: SQL NULL */
int64_t q_col_int(struct q *q, int i);
void q_col_copy(struct q *q, int i, char *buf, size_t n);
char *q_col_dup(struct q *q, int i);
int64_t q_changes(struct q *q);
void q_free(struct q *q);
/* Runs a statement that returns no rows and frees it; a unique violation is ERR_CONFLICT "WHAT already exists". */
int q_done(struct q *q, const char *what, struct err *e);
/* Reads the single row q selects into fill(row), or ERR_NOT_FOUND "WHAT "REF" does not exist"; frees q. */
int q_one(struct q *q, void (*fill)(struct q *, void *), void *out, const char *what, const char *ref,
	  struct err *e);
/* Every row of q into a growing array of elements of size sz; frees q. */
int q_all(struct q *q, size_t sz, void (*fill)(struct q *, void *), void **out, int *n, struct err *e);
/* Runs sql with ?1 = id. */
int cx_exec_id(struct cx *cx, const char *sql, const char *id, struct err *e);
/* The single integer sql selects, with up to three text parameters (NULL: unbound). */
int cx_count(struct cx *cx, const char *sql, const char *a, const char *b, const char *c, int *n, struct err *e);

/* --- tables as column descriptors (columns.c) ------------------------------ */

enum col_kind {
	COL_TEXT,        /* char[size]; "" and NULL read back as "" */
	COL_TEXT_NULL,   /* char[size]; "" is stored as NULL */
	COL_STR,         /* char *, may be NULL; read back malloc'd */
	COL_INT,         /* int */
	COL_BOOL,        /* bool, stored as 0/1 */
	COL_U16,         /* uint16_t */
	COL_I64,         /* int64_t: milliseconds, bytes, counters (BIGINT on PostgreSQL) */
	COL_U64,         /* uint64_t bytes, stored as a signed 64-bit integer */
	COL_CUSTOM,      /* to_text/from_text: enums, phases */
};

/* How a change of a column reads in the event log (events.c). By default
 * a change is named: "updated: vcpus, memory_mib". */
enum col_event {
	EV_NAMED = 0,
	EV_QUIET = 1,      /* bookkeeping (deadlines, pids, progress): no event of its own, not named */
	EV_SHOW = 2,       /* short values worth reading: "state: pending→running" */
	EV_PHASES = 4,     /* an operation's phases: "phase: boot" for each new one */
	EV_DELETING = 8,   /* a "deleted" flag: "deleting" when it is set */
};

struct col {
	const char *name;     /* as SQL spells it (quoted if a reserved word) */
	enum col_kind kind;
	size_t off, size;     /* of the field in the struct */
	char *(*to_text)(const void *field);             /* COL_CUSTOM: malloc'd, or NULL */
	void (*from_text)(const char *text, void *field); /* COL_CUSTOM; text may be NULL */
	enum col_event ev;
};

#define COL(type, field, kind) {#field, kind, offsetof(type, field), sizeof(((type *)0)->field), NULL, NULL, EV_NAMED}
#define COL_EV(type, field, kind, ev) {#field, kind, offsetof(type, field), sizeof(((type *)0)->field), NULL, NULL, ev}
#define COL_AS(name, type, field, kind) \
	{name, kind, offsetof(type, field), sizeof(((type *)0)->field), NULL, NULL, EV_NAMED}
#define COL_FN(name, type, field, to, from, ev) \
	{name, COL_CUSTOM, offsetof(type, field), sizeof(((type *)0)->field), to, from, ev}

/* A table: its columns in the order of its struct's SELECT. The first
 * column is the key ("id") that updates and deletes go by. */
struct table {
	const char *name;
	const char *what;        /* for messages: "VM", "image" */
	size_t size;             /* of the struct */
	const struct col *cols;
	int n_cols;
	/* The event log: the kind its rows' events have (NULL: none are
	 * recorded by table_insert/update/delete), the column that names a
	 * row in them (NULL: "name"), and one whose value says what was
	 * created ("created (start)"), or NULL. */
	const char *ev_kind, *ev_name, *ev_label;
};

/* COL_CUSTOM for a struct phases, kept as JSON text. */
char *col_phases_text(const void *field);
void col_phases_from(const char *text, void *field);

/* "c1, c2, …" (each after prefix, e.g. "v."). Caller frees. */
char *table_cols(const struct table *t, const char *prefix);
/* Binds every column of obj at parameters first, first+1, … */
void table_bind(struct q *q, const struct table *t, const void *obj, int first);
/* Zeroes obj and reads every column from result columns first, first+1, … */
void table_read(struct q *q, const struct table *t, void *obj, int first);
/* For q_one and q_all: table_read of q->table from column 0. */
void table_fill(struct q *q, void *out);
/* INSERT of every column; a unique violation is ERR_CONFLICT "a WHAT named "NAME" already exists". */
int table_insert(struct cx *cx, const struct table *t, const void *obj, const char *name, struct err *e);
/* UPDATE of every column by the first. */
int table_update(struct cx *cx, const struct table *t, const void *obj, struct err *e);
/* DELETE of the row whose first column is id (none: success). */
int table_delete(struct cx *cx, const struct table *t, const char *id, struct err *e);
/* A column's value as the store writes it, as text (malloc'd; NULL: SQL NULL). */
char *col_render(const struct col *c, const void *obj);

/* --- the event log (events.c) ---------------------------------------------------- */

/* A row as text, one value per column of its table (NULL: SQL NULL); found
 * false if there is no such row. */
struct row {
	const struct table *t;
	char **v;
	bool found;
};
/* Reads the row of t whose first column is id. */
int row_read(struct cx *cx, const struct table *t, const char *id, struct row *r, struct err *e);
void row_free(struct row *r);
/* The value of column name in r, or NULL. */
const char *row_get(const struct row *r, const char *name);

/* Appends an event to cx's write transaction (and, on PostgreSQL, a NOTIFY
 * that is sent when it commits). detail: a JSON object as text, or NULL. */
int ev_add(struct cx *cx, const char *kind, const char *id, const char *name, const char *what, const char *detail,
	   struct err *e);
/* The event of a row's change from before to after (t->ev_kind), if any
 * column that matters changed; an update that changed nothing records nothing. */
int ev_row_changed(struct cx *cx, const struct row *before, const struct row *after, struct err *e);
/* "created" (with t->ev_label's value: "created (start)") for obj, just inserted into t. */
int ev_created(struct cx *cx, const struct table *t, const void *obj, struct err *e);
/* After a write transaction that recorded events committed: tells the hook. */
void ev_committed(struct store *st);
/* Stops the listener thread (store_close). */
void ev_listener_stop(struct store *st);
/* The row whose name or id is ref (ERR_NOT_FOUND). */
int table_get(struct cx *cx, const struct table *t, const char *ref, void *out, struct err *e);
/* Every row, ordered by order (SQL). */
int table_list(struct cx *cx, const struct table *t, const char *order, void **out, int *n, struct err *e);

/* --- usage (usage.c) -------------------------------------------------------------- */

/* The meters of the tables whose rows cost money: each reads the row of id
 * (gone: nothing is billed any more) and opens and closes spans so that
 * exactly what the row is now is billed from now on. */
int meter_vm(struct cx *cx, const char *id, struct err *e);
int meter_volume(struct cx *cx, const char *id, struct err *e);
int meter_snapshot(struct cx *cx, const char *id, struct err *e);
int meter_image(struct cx *cx, const char *id, struct err *e);
/* The meter of table t (by its name), or NULL: table_insert, table_update
 * and table_delete run it after every change of a row. */
typedef int (*meter_fn)(struct cx *cx, const char *id, struct err *e);
meter_fn table_meter(const struct table *t);

/* lbs.c: a deleted VM's targets leave their balancers (one event each, on
 * the balancer), in the transaction that deletes the VM. */
int lb_targets_drop_vm(struct cx *cx, const char *vm_id, struct err *e);

/* migrations.c: brings the schema to the newest version. */
int migrations_run(struct cx *cx, struct err *e);
