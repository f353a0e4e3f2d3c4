/*
 * usage: GET /v1/usage (what was used and what it cost, over a window,
 * grouped), GET and PUT /v1/budget, and the cost so far of VMs for their
 * JSON. The store keeps the spans; model/usage.c adds them up.
 */
#include <stdlib.h>
#include <string.h>

#include "api/api-priv.h"
#include "api/vmcache.h"
#include "model/operation.h"
#include "util/str.h"
#include "util/timeutil.h"

#define BUDGET_MAX 1e12

/* By VM, then in the order the spans were opened: the order the store
 * gives them in (by id), so that a VM's cost adds up the same way whichever
 * list it came from. */
static int cmp_span_resource(const void *a, const void *b)
{
	const struct usage_span *x = a, *y = b;
	int c = strcmp(x->resource_id, y->resource_id);
	return c ? c : (x->id > y->id) - (x->id < y->id);
}

/* What spans[0..n) (one VM's, in id order) have cost by now: those the
 * store would give for [0, now + USAGE_MIN_RUN_MS), added up. */
static double vm_cost(struct usage_span *spans, int n, int64_t now)
{
	int k = 0;
	for (int i = 0; i < n; i++)
		if (spans[i].started_at < now + USAGE_MIN_RUN_MS && (spans[i].ended_at == 0 || spans[i].ended_at > 0))
			spans[k++] = spans[i];
	return usage_round6(usage_cost_total(spans, k, now));
}

/* The spans of ids[0..n) (any order) sorted by VM and id, and where each
 * VM's begin: at[i] and at[i + 1] for ids[i]. */
static int spans_by_vm(const struct api_req *req, const char *const *ids, int n, struct usage_span **spans,
		       int **at, struct err *e)
{
	int n_spans = 0;
	*spans = NULL;
	*at = NULL;
	if (store_usage_spans(ctl_store(req->ctl), 0, INT64_MAX, ids, n, spans, &n_spans, e) < 0)
		return -1;
	if (n_spans > 1)   /* qsort's base may not be NULL, even for no elements */
		qsort(*spans, (size_t)n_spans, sizeof(**spans), cmp_span_resource);
	*at = xcalloc((size_t)n + 1, sizeof(**at));
	for (int i = 0; i < n; i++) {   /* each id's first span, by binary search */
		int lo = 0, hi = n_spans;
		while (lo < hi) {
			int mid = lo + (hi - lo) / 2;
			if (strcmp((*spans)[mid].resource_id, ids[i]) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		(*at)[i] = lo;
	}
	(*at)[n] = n_spans;
	return 0;
}

/* The span count of ids[i] from spans_by_vm's at. */
static int spans_of(const struct usage_span *spans, const int *at, int n_spans, const char *id, int i)
{
	int k = at[i];
	while (k < n_spans && strcmp(spans[k].resource_id, id) == 0)
		k++;
	return k - at[i];
}

int api_vm_costs(const struct api_req *req, const char *const *ids, int n, double *costs, struct err *e)
{
	for (int i = 0; i < n; i++)
		costs[i] = 0;
	if (n == 0)
		return 0;
	int64_t now = time_now_ms();
	struct usage_span *spans = NULL;
	int *at = NULL;
	if (spans_by_vm(req, ids, n, &spans, &at, e) < 0)
		return -1;
	for (int i = 0; i < n; i++)
		costs[i] = vm_cost(&spans[at[i]], spans_of(spans, at, at[n], ids[i], i), now);
	free(at);
	free(spans);
	return 0;
}

/* A page's VMs: their spans are kept in vmcache per revision (the store
 * changes a VM's revision with its spans), so only VMs that changed since
 * the last page that showed them are read from the store. */
int api_vm_page_costs(const struct api_req *req, const struct vm_rev *revs, int n, double *costs, struct err *e)
{
	int64_t now = time_now_ms();
	const char **missing = xcalloc((size_t)n + 1, sizeof(*missing));
	int *missing_at = xcalloc((size_t)n + 1, sizeof(*missing_at));
	struct usage_span *one = NULL;
	int k = 0;
	for (int i = 0; i < n; i++) {
		int n_one = 0;
		if (vmcache_spans(revs[i].id, revs[i].rev, &one, &n_one)) {
			costs[i] = vm_cost(one, n_one, now);
		} else {
			missing_at[k] = i;
			missing[k++] = revs[i].id;
		}
	}
	free(one);
	int rc = 0;
	if (k) {
		struct usage_span *spans = NULL;
		int *at = NULL;
		rc = spans_by_vm(req, missing, k, &spans, &at, e);
		for (int j = 0; rc == 0 && j < k; j++) {
			/* read after the page: at least this revision's spans */
			const struct vm_rev *r = &revs[missing_at[j]];
			int count = spans_of(spans, at, at[k], r->id, j);
			vmcache_put_spans(r->id, r->rev, &spans[at[j]], count);
			costs[missing_at[j]] = vm_cost(&spans[at[j]], count, now);
		}
		free(at);
		free(spans);
	}
	free(missing_at);
	free(missing);
	return rc;
}

/* The report of [from, to) as of now; to may be in the future (counted up to now). */
static int report(const struct api_req *req, int64_t from, int64_t to, int64_t now, enum usage_by by,
		  struct usage_report *r, struct err *e)
{
	struct usage_span *spans = NULL;
	int n = 0;
	if (store_usage_spans(ctl_store(req->ctl), from, to + USAGE_MIN_RUN_MS, NULL, 0, &spans, &n, e) < 0)
		return -1;
	usage_report_make(spans, n, from, to, now, by, r);
	free(spans);
	return 0;
}

/* GET /v1/usage?from=&to=&by=: from defaults to the start of this month
 * (UTC), to to now, by to vm. */
static void get_usage(const struct api_req *req, struct api_resp *resp)
{
	static const char *const known[] = {"from", "to", "by", NULL};
	if (!api_query_known(req, known, resp))
		return;
	const char *from_text = api_query(req, "from"), *to_text = api_query(req, "to"), *by_text = api_query(req, "by");
	struct err e = {0};
	int64_t now = time_now_ms(), from = usage_month_start(now), to = now;
	enum usage_by by = USAGE_BY_VM;
	if ((from_text && usage_time_parse("from", from_text, &from, &e) < 0) ||
	    (to_text && usage_time_parse("to", to_text, &to, &e) < 0) ||
	    (by_text && usage_by_parse("by", by_text, &by, &e) < 0)) {
		api_error(resp, &e);
		return;
	}
	if (from >= to) {
		char f[32], t[32];
		time_format_rfc3339(from, f);
		time_format_rfc3339(to, t);
		err_set(&e, ERR_INVALID, "from %s must be before to %s", f, t);
		api_error(resp, &e);
		return;
	}
	struct usage_report r;
	if (report(req, from, to, now, by, &r, &e) < 0) {
		api_error(resp, &e);
		return;
	}
	api_json(resp, 200, usage_report_to_json(&r, by, from, to));
	usage_report_free(&r);
}

/* {"monthly", "month", "month_cost", "percent", "level"}: level "none"
 * (no budget), "ok", "warning" (80 % or more) or "exceeded" (100 % or more). */
static int budget_json(const struct api_req *req, json_t **out, struct err *e)
{
	double monthly = 0;
	if (store_budget_get(ctl_store(req->ctl), &monthly, e) < 0)
		return -1;
	int64_t now = time_now_ms(), month = usage_month_start(now);
	struct usage_report r;
	if (report(req, month, now, now, USAGE_BY_TYPE, &r, e) < 0)
		return -1;
	double cost = usage_round6(r.total.cost);
	usage_report_free(&r);
	char month_text[32];
	time_format_rfc3339(month, month_text);
	month_text[7] = '\0';   /* "2026-12" */
	json_t *o = json_pack("{s:s, s:f}", "month", month_text, "month_cost", cost);
	if (monthly > 0) {
		double pct = cost / monthly * 100.0;
		json_object_set_new(o, "monthly", json_real(monthly));
		json_object_set_new(o, "percent", json_real(usage_round6(pct)));
		json_object_set_new(o, "level", json_string(pct >= 100 ? "exceeded" : pct >= 80 ? "warning" : "ok"));
	} else {
		json_object_set_new(o, "monthly", json_null());
		json_object_set_new(o, "percent", json_null());
		json_object_set_new(o, "level", json_string("none"));
	}
	*out = o;
	return 0;
}

static void get_budget(const struct api_req *req, struct api_resp *resp)
{
	static const char *const known[] = {NULL};
	if (!api_query_known(req, known, resp))
		return;
	json_t *o = NULL;
	struct err e = {0};
	if (budget_json(req, &o, &e) < 0)
		api_error(resp, &e);
	else
		api_json(resp, 200, o);
}

/* The "monthly" of a PUT /v1/budget body: a number from 0 to BUDGET_MAX, or null (0). */
static int budget_field(json_t *body, double *monthly, struct err *e)
{
	json_t *v = json_object_get(body, "monthly");
	if (!v)
		return err_set(e, ERR_INVALID, "field \"monthly\" is required: the budget per calendar month (0 removes it)");
	*monthly = json_is_null(v) ? 0 : json_number_value(v);
	if (json_is_null(v) || (json_is_number(v) && *monthly >= 0 && *monthly <= BUDGET_MAX))
		return 0;
	autofree char *shown = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	return err_set(e, ERR_INVALID, "field \"monthly\" %.64s must be a number from 0 (no budget) to %.0f", shown,
		       BUDGET_MAX);
}

/* PUT /v1/budget {"monthly": 50}; 0 or null removes it. */
static void put_budget(const struct api_req *req, struct api_resp *resp)
{
	static const char *const fields[] = {"monthly", NULL};
	json_t *body = api_body_object(req, resp, false);
	if (!body)
		return;
	struct err e = {0};
	double monthly = 0;
	json_t *o = NULL;
	if (!api_check_fields(body, fields, resp)) {
		json_decref(body);
		return;
	}
	if (budget_field(body, &monthly, &e) < 0 || store_budget_set(ctl_store(req->ctl), monthly, &e) < 0 ||
	    budget_json(req, &o, &e) < 0)
		api_error(resp, &e);
	else
		api_json(resp, 200, o);
	json_decref(body);
}

const struct api_route api_usage_routes[] = {
	{"GET", "/v1/usage", get_usage},
	{"GET", "/v1/budget", get_budget},
	{"PUT", "/v1/budget", put_budget},
	{NULL, NULL, NULL},
};
