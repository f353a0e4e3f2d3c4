/* usage: the arithmetic of the bill (see usage.h). */
#include "model/usage.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/operation.h"
#include "util/str.h"

static const char *const kind_names[USAGE_KINDS] = {"vm", "disk", "volume", "snapshot", "image"};
static const char *const by_names[] = {"vm", "type", "day", "image"};

const char *usage_kind_name(enum usage_kind k)
{
	return k >= 0 && k < USAGE_KINDS ? kind_names[k] : "?";
}

int usage_kind_parse(const char *s, enum usage_kind *out)
{
	for (int i = 0; s && i < USAGE_KINDS; i++)
		if (strcmp(s, kind_names[i]) == 0) {
			*out = (enum usage_kind)i;
			return 0;
		}
	return -1;
}

const char *usage_by_name(enum usage_by b)
{
	return by_names[b];
}

int usage_by_parse(const char *param, const char *text, enum usage_by *out, struct err *e)
{
	for (size_t i = 0; text && i < sizeof(by_names) / sizeof(by_names[0]); i++)
		if (strcmp(text, by_names[i]) == 0) {
			*out = (enum usage_by)i;
			return 0;
		}
	return err_set(e, ERR_INVALID, "%s \"%.64s\" is not a grouping; use vm, type, day or image", param,
		       text ? text : "");
}

void usage_prices_default(struct usage_prices *p)
{
	memset(p, 0, sizeof(*p));
	p->gib_hour[USAGE_DISK] = USAGE_PRICE_DISK;
	p->gib_hour[USAGE_VOLUME] = USAGE_PRICE_VOLUME;
	p->gib_hour[USAGE_SNAPSHOT] = USAGE_PRICE_SNAPSHOT;
	p->gib_hour[USAGE_IMAGE] = USAGE_PRICE_IMAGE;
}

int64_t usage_rate_nano(double price)
{
	return (int64_t)llround(price * USAGE_NANO);
}

int64_t usage_overlap(int64_t a, int64_t b, int64_t from, int64_t to)
{
	int64_t lo = a > from ? a : from, hi = b < to ? b : to;
	return hi > lo ? hi - lo : 0;
}

int64_t usage_day_start(int64_t ms)
{
	int64_t d = ms / USAGE_DAY_MS;
	if (ms < 0 && ms % USAGE_DAY_MS)
		d--;
	return d * USAGE_DAY_MS;
}

int64_t usage_month_start(int64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	tm.tm_mday = 1;
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	return (int64_t)timegm(&tm) * 1000;
}

int usage_time_parse(const char *param, const char *text, int64_t *out, struct err *e)
{
	struct tm tm = {0};
	int n = -1, len = text ? (int)strlen(text) : 0;
	bool ok = false;
	if (text && len == 10 && sscanf(text, "%4d-%2d-%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &n) == 3 && n == 10)
		ok = true;
	else if (text && len == 20 &&
		 sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
			&tm.tm_sec, &n) == 6 && n == 20)
		ok = true;
	for (int i = 0; ok && i < len; i++)   /* digits where digits go: no signs, no blanks */
		ok = (i == 4 || i == 7) ? text[i] == '-'
		     : i == 10	       ? text[i] == 'T'
		     : (i == 13 || i == 16) ? text[i] == ':'
		     : i == 19		    ? text[i] == 'Z'
					    : (text[i] >= '0' && text[i] <= '9');
	if (ok) {
		struct tm want = tm;
		tm.tm_year -= 1900;
		tm.tm_mon -= 1;
		time_t t = timegm(&tm);
		/* timegm normalises 2026-02-30 into March: a date that moved did not exist */
		ok = want.tm_year >= 1970 && want.tm_year < 10000 && tm.tm_year == want.tm_year - 1900 &&
		     tm.tm_mon == want.tm_mon - 1 && tm.tm_mday == want.tm_mday && tm.tm_hour == want.tm_hour &&
		     tm.tm_min == want.tm_min && tm.tm_sec == want.tm_sec;
		if (ok)
			*out = (int64_t)t * 1000;
	}
	if (!ok)
		return err_set(e, ERR_INVALID,
			       "%s \"%.64s\" is not a date: use YYYY-MM-DD (midnight UTC) or YYYY-MM-DDTHH:MM:SSZ", param,
			       text ? text : "");
	return 0;
}

double usage_round6(double v)
{
	double r = round(v * 1e6) / 1e6;
	return r == 0 ? 0 : r;   /* never -0 */
}

/* --- adding up ------------------------------------------------------------------ */

static double span_cost(const struct usage_span *s, int64_t ms)
{
	double hours = (double)ms / USAGE_MS_PER_HOUR, rate = (double)s->rate_nano / USAGE_NANO;
	if (s->kind == USAGE_VM)
		return hours * rate;
	return hours * ((double)s->bytes / USAGE_GIB) * rate;
}

static int64_t span_end(const struct usage_span *s, int64_t now)
{
	int64_t end = s->ended_at ? s->ended_at : now;
	return end > s->started_at ? end : s->started_at;
}

static void day_key(int64_t ms, char out[NAME_MAX_LEN + 1])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	snprintf(out, NAME_MAX_LEN + 1, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

/* The row a span's time at moment at belongs to, made if new. */
static struct usage_row *row_for(struct usage_report *r, const struct usage_span *s, enum usage_by by, int64_t at)
{
	char key[NAME_MAX_LEN + 1] = "", kind[16] = "";
	switch (by) {
	case USAGE_BY_VM:
		snprintf(key, sizeof(key), "%s", s->name);
		snprintf(kind, sizeof(kind), "%s", s->kind == USAGE_DISK ? "vm" : usage_kind_name(s->kind));
		break;
	case USAGE_BY_TYPE:
		snprintf(key, sizeof(key), "%s", s->kind == USAGE_VM ? s->type : usage_kind_name(s->kind));
		break;
	case USAGE_BY_DAY:
		day_key(at, key);
		break;
	case USAGE_BY_IMAGE:
		snprintf(key, sizeof(key), "%s", s->image[0] ? s->image : "-");
		break;
	}
	for (int i = 0; i < r->n; i++)
		if (strcmp(r->rows[i].key, key) == 0 && strcmp(r->rows[i].kind, kind) == 0)
			return &r->rows[i];
	r->rows = xrealloc(r->rows, sizeof(*r->rows) * (size_t)(r->n + 1));
	struct usage_row *row = &r->rows[r->n++];
	memset(row, 0, sizeof(*row));
	snprintf(row->key, sizeof(row->key), "%s", key);
	snprintf(row->kind, sizeof(row->kind), "%s", kind);
	return row;
}

/* A report of the total only, without rows (usage_cost_total): the list
 * of VMs works out a cost per VM for every page it shows. */
#define BY_TOTAL_ONLY ((enum usage_by)-1)

static void add(struct usage_report *r, const struct usage_span *s, enum usage_by by, int64_t at, int64_t ms)
{
	if (ms <= 0)
		return;
	struct usage_row *row = by == BY_TOTAL_ONLY ? NULL : row_for(r, s, by, at);
	double cost = span_cost(s, ms);
	r->total.cost += cost;
	if (s->kind == USAGE_VM)
		r->total.run_ms += ms;
	else
		r->total.gib_hours += (double)ms / USAGE_MS_PER_HOUR * ((double)s->bytes / USAGE_GIB);
	if (!row)
		return;
	row->cost += cost;
	if (s->kind == USAGE_VM)
		row->run_ms += ms;
	else
		row->gib_hours += (double)ms / USAGE_MS_PER_HOUR * ((double)s->bytes / USAGE_GIB);
}

/* [a, b) of s, cut at each midnight when by day. */
static void add_interval(struct usage_report *r, const struct usage_span *s, enum usage_by by, int64_t a, int64_t b)
{
	if (by != USAGE_BY_DAY) {
		add(r, s, by, a, b - a);
		return;
	}
	for (int64_t d = usage_day_start(a); d < b; d += USAGE_DAY_MS)
		add(r, s, by, d > a ? d : a, usage_overlap(a, b, d, d + USAGE_DAY_MS));
}

static int cmp_run(const void *x, const void *y)
{
	const struct usage_span *a = *(const struct usage_span *const *)x, *b = *(const struct usage_span *const *)y;
	int c = strcmp(a->resource_id, b->resource_id);
	if (c)
		return c;
	if (a->run_at != b->run_at)
		return a->run_at < b->run_at ? -1 : 1;
	return a->started_at < b->started_at ? -1 : a->started_at > b->started_at;
}

/* The minimum of each run that started in [from, to): billed at its start. */
static void add_minimums(struct usage_report *r, const struct usage_span *spans, int n, int64_t from, int64_t to,
			 int64_t now, enum usage_by by)
{
	const struct usage_span **runs = xcalloc((size_t)n + 1, sizeof(*runs));
	int k = 0;
	for (int i = 0; i < n; i++)
		if (spans[i].kind == USAGE_VM && spans[i].run_at >= from && spans[i].run_at < to)
			runs[k++] = &spans[i];
	if (k > 1)
		qsort(runs, (size_t)k, sizeof(*runs), cmp_run);
	for (int i = 0; i < k;) {
		const struct usage_span *first = runs[i];
		int64_t covered = 0;
		int j = i;
		for (; j < k && strcmp(runs[j]->resource_id, first->resource_id) == 0 && runs[j]->run_at == first->run_at;
		     j++)
			covered += usage_overlap(runs[j]->started_at, span_end(runs[j], now), first->run_at,
						 first->run_at + USAGE_MIN_RUN_MS);
		if (covered < USAGE_MIN_RUN_MS)
			add(r, first, by, first->run_at, USAGE_MIN_RUN_MS - covered);
		i = j;
	}
	free(runs);
}

static int cmp_row(const void *x, const void *y)
{
	const struct usage_row *a = x, *b = y;
	int c = strcmp(a->key, b->key);
	return c ? c : strcmp(a->kind, b->kind);
}

void usage_report_make(const struct usage_span *spans, int n, int64_t from, int64_t to, int64_t now,
		       enum usage_by by, struct usage_report *out)
{
	memset(out, 0, sizeof(*out));
	int64_t upto = to < now ? to : now;
	for (int i = 0; i < n; i++) {
		const struct usage_span *s = &spans[i];
		int64_t a = s->started_at > from ? s->started_at : from, b = span_end(s, now);
		if (b > upto)
			b = upto;
		if (b > a)
			add_interval(out, s, by, a, b);
	}
	add_minimums(out, spans, n, from, to, now, by);
	if (out->n > 1)
		qsort(out->rows, (size_t)out->n, sizeof(*out->rows), cmp_row);
}

void usage_report_free(struct usage_report *r)
{
	free(r->rows);
	r->rows = NULL;
	r->n = 0;
}

double usage_cost_total(const struct usage_span *spans, int n, int64_t now)
{
	struct usage_report r;
	usage_report_make(spans, n, INT64_MIN / 2, now, now, BY_TOTAL_ONLY, &r);
	double cost = r.total.cost;
	usage_report_free(&r);
	return cost;
}

static json_t *row_json(const struct usage_row *row, bool with_key, bool with_kind)
{
	json_t *o = json_pack("{s:f, s:f, s:f}", "seconds", (double)row->run_ms / 1000.0, "gib_hours",
			      usage_round6(row->gib_hours), "cost", usage_round6(row->cost));
	if (with_key)
		json_object_set_new(o, "key", json_string(row->key));
	if (with_kind)
		json_object_set_new(o, "kind", json_string(row->kind));
	return o;
}

json_t *usage_report_to_json(const struct usage_report *r, enum usage_by by, int64_t from, int64_t to)
{
	json_t *rows = json_array();
	for (int i = 0; i < r->n; i++)
		json_array_append_new(rows, row_json(&r->rows[i], true, by == USAGE_BY_VM));
	return json_pack("{s:o, s:o, s:s, s:o, s:o}", "from", time_ms_json(from), "to", time_ms_json(to), "by",
			 usage_by_name(by), "rows", rows, "total", row_json(&r->total, false, false));
}
