/*
 * usage: the meters. Each table whose rows cost money (VMs, volumes,
 * snapshots, images) has one, run in the transaction of every change of a
 * row (columns.c, vms.c). It reads the row as it now is, says what it
 * bills (a VM that runs: its type per hour; a VM's root disk, a volume, a
 * ready snapshot or image: its size per GiB-hour) and makes the row's open
 * spans say exactly that: a span that no longer matches (the VM stopped,
 * changed type, the disk grew, the price changed) is closed, and one is
 * opened for what is billed now. So a span can never outlive or miss a
 * change: the change and its span commit together or not at all.
 *
 * A VM that stops being seen: its QEMU was killed or crashed while nubod
 * watched (the reconciler notices within a tick and moves it to error, and
 * the run ends then), or while nubod itself was down. For the second case
 * the reconciler marks every open run "seen" every USAGE_SEEN_EVERY_MS
 * (store_usage_seen), and a run closed more than USAGE_STALE_MS after its
 * mark ends at the mark, not at the moment a restarted nubod found it gone.
 */
#include "store/store-priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/str.h"
#include "util/timeutil.h"

/* What a row bills from now on. */
struct item {
	enum usage_kind kind;
	char name[NAME_MAX_LEN + 1], type[NAME_MAX_LEN + 1], image[NAME_MAX_LEN + 1];
	int64_t bytes, rate_nano;
	bool open;   /* an open span already bills it */
	bool goes_on_only;   /* billed only if already billed: a run through a reboot */
};

#define SPAN_COLS "id, resource_id, kind, name, type, image, bytes, rate_nano, started_at, ended_at, seen_at, run_at"

static void span_fill(struct q *q, void *out)
{
	struct usage_span *s = out;
	memset(s, 0, sizeof(*s));
	s->id = q_col_int(q, 0);
	q_col_copy(q, 1, s->resource_id, sizeof(s->resource_id));
	if (usage_kind_parse(q_col(q, 2), &s->kind) < 0)
		s->kind = USAGE_DISK;
	q_col_copy(q, 3, s->name, sizeof(s->name));
	q_col_copy(q, 4, s->type, sizeof(s->type));
	q_col_copy(q, 5, s->image, sizeof(s->image));
	s->bytes = q_col_int(q, 6);
	s->rate_nano = q_col_int(q, 7);
	s->started_at = q_col_int(q, 8);
	s->ended_at = q_col_int(q, 9);
	s->seen_at = q_col_int(q, 10);
	s->run_at = q_col_int(q, 11);
}

/* --- prices ------------------------------------------------------------------------ */

void store_usage_set_prices(struct store *st, const struct usage_prices *p, const struct type_catalog *types)
{
	pthread_mutex_lock(&st->usage_lock);
	st->usage_prices = *p;
	free(st->usage_types);
	st->n_usage_types = types ? types->n : 0;
	st->usage_types = xcalloc((size_t)st->n_usage_types + 1, sizeof(*st->usage_types));
	if (st->n_usage_types)
		memcpy(st->usage_types, types->types, sizeof(*st->usage_types) * (size_t)st->n_usage_types);
	pthread_mutex_unlock(&st->usage_lock);
}

/* The rate of an item: its type's price per hour (a type no longer in the
 * catalog costs nothing), or its kind's per GiB-hour. */
static int64_t item_rate(struct store *st, const struct item *it)
{
	double price = 0;
	pthread_mutex_lock(&st->usage_lock);
	if (it->kind != USAGE_VM)
		price = st->usage_prices.gib_hour[it->kind];
	for (int i = 0; it->kind == USAGE_VM && i < st->n_usage_types; i++)
		if (strcmp(st->usage_types[i].name, it->type) == 0)
			price = st->usage_types[i].price_per_hour;
	pthread_mutex_unlock(&st->usage_lock);
	return usage_rate_nano(price);
}

/* --- keeping spans in line with a row ----------------------------------------------- */

static int64_t close_time(const struct usage_span *s, int64_t now)
{
	int64_t end = now;
	if (s->kind == USAGE_VM && s->seen_at && now - s->seen_at > USAGE_STALE_MS)
		end = s->seen_at;
	return end > s->started_at ? end : s->started_at;
}

static bool matches(const struct usage_span *s, const struct item *it)
{
	return !it->open && s->kind == it->kind && s->bytes == it->bytes && s->rate_nano == it->rate_nano &&
	       strcmp(s->type, it->type) == 0 && strcmp(s->image, it->image) == 0 && strcmp(s->name, it->name) == 0;
}

/* Whether an item not yet billed by another open span is what s bills (it is then marked so). */
static bool match(const struct usage_span *s, struct item *items, int n)
{
	for (int j = 0; j < n; j++)
		if (matches(s, &items[j])) {
			items[j].open = true;
			return true;
		}
	return false;
}

/* Whether the open spans open[0..n_open) of a resource bill exactly
 * items[0..n) (rates set): spans_align would change nothing. */
static bool aligned(const struct usage_span *open, int n_open, struct item *items, int n)
{
	for (int i = 0; i < n_open; i++)
		if (!match(&open[i], items, n))
			return false;
	for (int j = 0; j < n; j++)
		if (!items[j].open && !items[j].goes_on_only)
			return false;
	return true;
}

static int span_close(struct cx *cx, int64_t span_id, int64_t end, struct err *e)
{
	struct q *q = q_prep(cx, "UPDATE usage_spans SET ended_at = ?2 WHERE id = ?1", e);
	if (!q)
		return -1;
	q_int(q, 1, span_id);
	q_int(q, 2, end);
	return q_done(q, "closing a usage span", e);
}

static int span_open(struct cx *cx, const char *id, const struct item *it, int64_t at, int64_t run_at, struct err *e)
{
	struct q *q = q_prep(cx,
			     "INSERT INTO usage_spans (resource_id, kind, name, type, image, bytes, rate_nano, started_at, "
			     "ended_at, seen_at, run_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, ?8, ?9)",
			     e);
	if (!q)
		return -1;
	q_text(q, 1, id);
	q_text(q, 2, usage_kind_name(it->kind));
	q_text(q, 3, it->name);
	q_text(q, 4, it->type);
	q_text(q, 5, it->image);
	q_int(q, 6, it->bytes);
	q_int(q, 7, it->rate_nano);
	q_int(q, 8, at);
	q_int(q, 9, it->kind == USAGE_VM ? run_at : 0);
	return q_done(q, "opening a usage span", e);
}

/* Makes the open spans of resource id bill exactly items[0..n). A VM's run
 * that only changes rate or type goes on as the same run (its start's
 * minimum is not billed again); a new run starts at now. */
static int spans_align(struct cx *cx, const char *id, struct item *items, int n, int *changed, struct err *e)
{
	for (int i = 0; i < n; i++)
		items[i].rate_nano = item_rate(cx->st, &items[i]);
	struct q *q = q_prep(cx, "SELECT " SPAN_COLS " FROM usage_spans WHERE ended_at = 0 AND resource_id = ?1", e);
	if (!q)
		return -1;
	q_text(q, 1, id);
	struct usage_span *open = NULL;
	int n_open = 0;
	if (q_all(q, sizeof(*open), span_fill, (void **)&open, &n_open, e) < 0)
		return -1;
	int64_t now = time_now_ms(), run_at = 0, run_from = 0;
	int rc = 0;
	for (int i = 0; rc == 0 && i < n_open; i++) {
		if (match(&open[i], items, n))
			continue;
		int64_t end = close_time(&open[i], now);
		rc = span_close(cx, open[i].id, end, e);
		if (changed)
			++*changed;
		if (open[i].kind == USAGE_VM) {
			run_at = open[i].run_at ? open[i].run_at : open[i].started_at;
			run_from = end;
		}
	}
	for (int i = 0; rc == 0 && i < n; i++) {
		if (items[i].open || items[i].goes_on_only)
			continue;
		bool goes_on = items[i].kind == USAGE_VM && run_at;
		rc = span_open(cx, id, &items[i], goes_on ? run_from : now, goes_on ? run_at : now, e);
		if (changed)
			++*changed;
	}
	free(open);
	return rc;
}

static void item_set(struct item *it, enum usage_kind kind, const char *name, const char *type, const char *image,
		     int64_t bytes)
{
	memset(it, 0, sizeof(*it));
	it->kind = kind;
	snprintf(it->name, sizeof(it->name), "%s", name ? name : "");
	snprintf(it->type, sizeof(it->type), "%s", type ? type : "");
	snprintf(it->image, sizeof(it->image), "%s", image ? image : "");
	it->bytes = bytes;
}

/* Reads the one row sql selects for id (none: *found false) and hands it to fill. */
static int read_row(struct cx *cx, const char *sql, const char *id, bool *found,
		    void (*fill)(struct q *q, struct item *items, int *n), struct item *items, int *n, struct err *e)
{
	struct q *q = q_prep(cx, sql, e);
	if (!q)
		return -1;
	q_text(q, 1, id);
	int rc = q_step(q);
	*found = rc == DB_ROW;
	if (rc == DB_ROW)
		fill(q, items, n);
	rc = rc == DB_ROW || rc == DB_DONE ? 0 : cx_fail(cx, e, "reading what a resource bills");
	q_free(q);
	return rc;
}

/* name, type, image, state, disk_size_bytes, the image's size, power. A
 * VM runs from "running" until it leaves it, except on its way through a
 * reboot (stopping, stopped and pending while asked to run): a reboot
 * neither ends the run nor starts a new minute, as on EC2. */
static void vm_items(struct q *q, struct item *items, int *n)
{
	const char *state = q_col(q, 3), *power = q_col(q, 6);
	int64_t disk = q_col_int(q, 4);
	if (disk <= 0)
		disk = q_col_int(q, 5);
	bool running = state && strcmp(state, "running") == 0;
	bool between = state && power && strcmp(power, "running") == 0 &&
		       (strcmp(state, "stopping") == 0 || strcmp(state, "stopped") == 0 || strcmp(state, "pending") == 0);
	if (running || between) {
		item_set(&items[*n], USAGE_VM, q_col(q, 0), q_col(q, 1), q_col(q, 2), 0);
		items[(*n)++].goes_on_only = !running;
	}
	item_set(&items[(*n)++], USAGE_DISK, q_col(q, 0), "", q_col(q, 2), disk);
}

static int meter(struct cx *cx, const char *id, const char *sql, void (*fill)(struct q *, struct item *, int *),
		 int *changed, struct err *e)
{
	struct item items[2];
	int n = 0;
	bool found = false;   /* a row that is gone bills nothing: n stays 0 */
	if (read_row(cx, sql, id, &found, fill, items, &n, e) < 0)
		return -1;
	return spans_align(cx, id, items, n, changed, e);
}

/* A VM whose spans change gets a new revision with them, also when its row
 * did not change (prices that changed, a host with other prices): the list
 * keeps each VM's spans per revision to show its cost (api/vmcache.c). */
int meter_vm(struct cx *cx, const char *id, struct err *e)
{
	int changed = 0;
	if (meter(cx, id,
		  "SELECT v.name, v.type, v.image, v.state, v.disk_size_bytes, COALESCE(i.virtual_size_bytes, 0), v.power "
		  "FROM vms v LEFT JOIN images i ON i.id = v.image_id WHERE v.id = ?1",
		  vm_items, &changed, e) < 0)
		return -1;
	return changed ? cx_exec_id(cx, "UPDATE vms SET rev = rev + 1 WHERE id = ?1", id, e) : 0;
}

/* name, size: billed from creation to deletion, whatever it is attached to */
static void volume_items(struct q *q, struct item *items, int *n)
{
	item_set(&items[(*n)++], USAGE_VOLUME, q_col(q, 0), "", "", q_col_int(q, 1));
}

int meter_volume(struct cx *cx, const char *id, struct err *e)
{
	return meter(cx, id, "SELECT name, size_bytes FROM volumes WHERE id = ?1", volume_items, NULL, e);
}

/* name, size, state: billed once taken, until gone */
static void snapshot_items(struct q *q, struct item *items, int *n)
{
	const char *state = q_col(q, 2);
	if (state && strcmp(state, "creating") != 0)
		item_set(&items[(*n)++], USAGE_SNAPSHOT, q_col(q, 0), "", "", q_col_int(q, 1));
}

int meter_snapshot(struct cx *cx, const char *id, struct err *e)
{
	return meter(cx, id, "SELECT name, virtual_size, state FROM snapshots WHERE id = ?1", snapshot_items, NULL, e);
}

/* name, virtual size, file size, state: billed while ready */
static void image_items(struct q *q, struct item *items, int *n)
{
	const char *state = q_col(q, 3);
	int64_t bytes = q_col_int(q, 1);
	if (bytes <= 0)
		bytes = q_col_int(q, 2);
	if (state && strcmp(state, "ready") == 0)
		item_set(&items[(*n)++], USAGE_IMAGE, q_col(q, 0), "", q_col(q, 0), bytes);
}

int meter_image(struct cx *cx, const char *id, struct err *e)
{
	return meter(cx, id, "SELECT name, virtual_size_bytes, size_bytes, state FROM images WHERE id = ?1", image_items,
		     NULL, e);
}

meter_fn table_meter(const struct table *t)
{
	static const struct {
		const char *table;
		meter_fn meter;
	} meters[] = {{"vms", meter_vm}, {"volumes", meter_volume}, {"snapshots", meter_snapshot}, {"images", meter_image}};
	for (size_t i = 0; i < sizeof(meters) / sizeof(meters[0]); i++)
		if (strcmp(t->name, meters[i].table) == 0)
			return meters[i].meter;
	return NULL;
}

/* --- the whole store at once --------------------------------------------------------- */

static int ids_of(struct cx *cx, const char *sql, char ***out, int *n, struct err *e)
{
	struct q *q = q_prep(cx, sql, e);
	if (!q)
		return -1;
	int rc;
	while ((rc = q_step(q)) == DB_ROW) {
		*out = xrealloc(*out, sizeof(**out) * (size_t)(*n + 1));
		(*out)[(*n)++] = q_col_dup(q, 0);
	}
	rc = rc == DB_DONE ? 0 : cx_fail(cx, e, "listing what is metered");
	q_free(q);
	return rc;
}

static int cmp_span_resource(const void *a, const void *b)
{
	return strcmp(((const struct usage_span *)a)->resource_id, ((const struct usage_span *)b)->resource_id);
}

/* Where the spans of resource id begin in spans[0..n) (sorted by resource). */
static int spans_from(const struct usage_span *spans, int n, const char *id)
{
	int lo = 0, hi = n;
	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;
		if (strcmp(spans[mid].resource_id, id) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The VMs whose open spans do not bill what their rows say, and the
 * resources of open VM spans without a row: those meter_vm has to align.
 * Two queries, whatever the number of VMs: a start-up (or a price change)
 * meters only what differs, not every VM at three statements each. */
static int vms_unaligned(struct cx *cx, char ***out, int *n_out, struct err *e)
{
	struct q *q = q_prep(cx, "SELECT " SPAN_COLS " FROM usage_spans WHERE ended_at = 0 AND kind IN ('vm','disk')", e);
	struct usage_span *open = NULL;
	int n_open = 0;
	if (!q || q_all(q, sizeof(*open), span_fill, (void **)&open, &n_open, e) < 0)
		return -1;
	if (n_open)   /* qsort's base may not be NULL, even for no elements */
		qsort(open, (size_t)n_open, sizeof(*open), cmp_span_resource);
	bool *claimed = xcalloc((size_t)n_open + 1, sizeof(*claimed));
	q = q_prep(cx,
		   "SELECT v.name, v.type, v.image, v.state, v.disk_size_bytes, COALESCE(i.virtual_size_bytes, 0), v.power, "
		   "v.id FROM vms v LEFT JOIN images i ON i.id = v.image_id",
		   e);
	int rc = -1;
	while (q && (rc = q_step(q)) == DB_ROW) {
		struct item items[2];
		int n = 0;
		vm_items(q, items, &n);
		for (int j = 0; j < n; j++)
			items[j].rate_nano = item_rate(cx->st, &items[j]);
		const char *id = q_col(q, 7);
		int at = spans_from(open, n_open, id), k = at;
		while (k < n_open && strcmp(open[k].resource_id, id) == 0)
			claimed[k++] = true;
		if (!aligned(&open[at], k - at, items, n)) {
			*out = xrealloc(*out, sizeof(**out) * (size_t)(*n_out + 1));
			(*out)[(*n_out)++] = xstrdup(id);
		}
	}
	if (q) {
		rc = rc == DB_DONE ? 0 : cx_fail(cx, e, "listing what VMs bill");
		q_free(q);
	}
	for (int i = 0; rc == 0 && i < n_open; i++)   /* a VM row gone: its spans get closed */
		if (!claimed[i] && (i == 0 || claimed[i - 1] || strcmp(open[i].resource_id, open[i - 1].resource_id))) {
			*out = xrealloc(*out, sizeof(**out) * (size_t)(*n_out + 1));
			(*out)[(*n_out)++] = xstrdup(open[i].resource_id);
		}
	free(claimed);
	free(open);
	return rc;
}

/* Every metered row, and every resource with an open span (gone ones get closed). */
static int sync_all(struct cx *cx, struct err *e)
{
	static const struct {
		const char *sql;   /* NULL: the VMs, from vms_unaligned */
		int (*meter)(struct cx *, const char *, struct err *);
	} kinds[] = {
		{NULL, meter_vm},
		{"SELECT id FROM volumes UNION SELECT resource_id FROM usage_spans WHERE ended_at = 0 AND kind = 'volume'",
		 meter_volume},
		{"SELECT id FROM snapshots UNION SELECT resource_id FROM usage_spans WHERE ended_at = 0 AND kind = 'snapshot'",
		 meter_snapshot},
		{"SELECT id FROM images UNION SELECT resource_id FROM usage_spans WHERE ended_at = 0 AND kind = 'image'",
		 meter_image},
	};
	int rc = 0;
	for (size_t k = 0; rc == 0 && k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		char **ids = NULL;
		int n = 0;
		rc = kinds[k].sql ? ids_of(cx, kinds[k].sql, &ids, &n, e) : vms_unaligned(cx, &ids, &n, e);
		for (int i = 0; rc == 0 && i < n; i++)
			rc = kinds[k].meter(cx, ids[i], e);
		for (int i = 0; i < n; i++)
			free(ids[i]);
		free(ids);
	}
	return rc;
}

int store_usage_sync(struct store *st, struct err *e)
{
	RUN(st, CX_WRITE, e, sync_all(cx, e));
}

static int seen(struct cx *cx, int64_t now, const char *host, struct err *e)
{
	struct q *q = q_prep(cx,
			     "UPDATE usage_spans SET seen_at = ?1 WHERE ended_at = 0 AND kind = 'vm' AND resource_id IN "
			     "(SELECT id FROM vms WHERE state = 'running' AND host = ?2)",
			     e);
	if (!q)
		return -1;
	q_int(q, 1, now);
	q_text(q, 2, host);
	return q_done(q, "marking running VMs as seen", e);
}

int store_usage_seen(struct store *st, int64_t now, const char *host, struct err *e)
{
	RUN(st, CX_WRITE, e, seen(cx, now, host, e));
}

static int spans_list(struct cx *cx, int64_t from, int64_t to, const char *const *ids, int n_ids,
		      struct usage_span **out, int *n, struct err *e)
{
	struct sbuf b = {0};
	sbuf_add(&b, "SELECT " SPAN_COLS " FROM usage_spans WHERE started_at < ?1 AND (ended_at = 0 OR ended_at > ?2)");
	if (ids) {
		sbuf_add(&b, " AND resource_id IN (");
		for (int i = 0; i < n_ids; i++)
			sbuf_addf(&b, "%s?%d", i ? "," : "", i + 3);
		if (n_ids == 0)
			sbuf_add(&b, "NULL");
		sbuf_add(&b, ")");
	}
	sbuf_add(&b, " ORDER BY id");
	autofree char *sql = sbuf_take(&b);
	struct q *q = q_prep(cx, sql, e);
	if (!q)
		return -1;
	q_int(q, 1, to);
	q_int(q, 2, from);
	for (int i = 0; ids && i < n_ids; i++)
		q_text(q, i + 3, ids[i]);
	return q_all(q, sizeof(**out), span_fill, (void **)out, n, e);
}

int store_usage_spans(struct store *st, int64_t from, int64_t to, const char *const *ids, int n_ids,
		      struct usage_span **out, int *n, struct err *e)
{
	*out = NULL;
	*n = 0;
	RUN(st, CX_READ, e, spans_list(cx, from, to, ids, n_ids, out, n, e));
}

/* --- the budget ------------------------------------------------------------------------ */

#define BUDGET_KEY "budget_monthly"

static int budget_read(struct cx *cx, double *monthly, struct err *e)
{
	struct q *q = q_prep(cx, "SELECT value FROM meta WHERE key = ?1", e);
	if (!q)
		return -1;
	q_text(q, 1, BUDGET_KEY);
	int rc = q_step(q);
	*monthly = rc == DB_ROW && q_col(q, 0) ? strtod(q_col(q, 0), NULL) : 0;
	rc = rc == DB_ROW || rc == DB_DONE ? 0 : cx_fail(cx, e, "reading the budget");
	q_free(q);
	return rc;
}

int store_budget_get(struct store *st, double *monthly, struct err *e)
{
	RUN(st, CX_READ, e, budget_read(cx, monthly, e));
}

static int budget_write(struct cx *cx, double monthly, struct err *e)
{
	double before = 0;
	if (budget_read(cx, &before, e) < 0)
		return -1;
	char was[32] = "none", now[32] = "none";
	if (before > 0)
		snprintf(was, sizeof(was), "%.2f", before);
	if (monthly > 0)
		snprintf(now, sizeof(now), "%.2f", monthly);
	struct q *q;
	if (monthly > 0) {
		q = q_prep(cx, "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = "
			       "excluded.value",
			   e);
		if (!q)
			return -1;
		char value[32];
		snprintf(value, sizeof(value), "%.17g", monthly);
		q_text(q, 2, value);
	} else {
		q = q_prep(cx, "DELETE FROM meta WHERE key = ?1", e);
		if (!q)
			return -1;
	}
	q_text(q, 1, BUDGET_KEY);
	if (q_done(q, "setting the budget", e) < 0)
		return -1;
	if (before == monthly)
		return 0;
	autofree char *what = xasprintf("monthly: %s→%s", was, now);
	json_t *d = json_pack("{s:f, s:f}", "monthly", monthly, "was", before);
	autofree char *detail = json_dumps(d, JSON_COMPACT);
	json_decref(d);
	return ev_add(cx, "budget", "", "budget", what, detail, e);
}

int store_budget_set(struct store *st, double monthly, struct err *e)
{
	RUN(st, CX_WRITE, e, budget_write(cx, monthly, e));
}
