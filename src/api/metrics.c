/*
 * metrics: a VM's sampled history (GET /v1/vms/NAME/stats), its idle stop
 * policy (/v1/vms/NAME/idle-stop), and GET /metrics, the Prometheus text of
 * this host's VMs and of nubod itself (its API latency and its
 * reconcilers' timings). The samples come from ctl/metrics.c; the
 * arithmetic and the text from model/metrics.c.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api-priv.h"
#include "model/usage.h"
#include "util/str.h"
#include "util/timeutil.h"

/* GET /v1/vms/NAME/stats?since=1h|RFC3339&step=1m */
#define STATS_SINCE_DEFAULT_MS 3600000LL

static int since_parse(const struct metrics_policy *p, const char *text, int64_t now, int64_t *since, struct err *e)
{
	if (!text) {
		*since = now - STATS_SINCE_DEFAULT_MS;
		return 0;
	}
	int64_t ago = 0;
	if (text[0] < '0' || text[0] > '9' || strchr(text, '-'))
		return usage_time_parse("since", text, since, e);   /* a day or a moment */
	if (time_duration_parse(text, "since", 1000, p->coarse_keep, &ago, e) < 0)
		return -1;
	*since = now - ago;
	return 0;
}

static void get_stats(const struct api_req *req, struct api_resp *resp)
{
	static const char *const known[] = {"since", "step", NULL};
	if (!api_query_known(req, known, resp))
		return;
	const struct metrics_policy *p = ctl_metrics_policy(req->ctl);
	struct err e = {0};
	struct vm vm;
	int64_t now = time_now_ms(), since = 0, want_step = 0, step = 0, table_step = 0;
	const char *step_text = api_query(req, "step");
	if (since_parse(p, api_query(req, "since"), now, &since, &e) < 0 ||
	    (step_text && time_duration_parse(step_text, "step", p->fine_step, 7LL * 86400000, &want_step, &e) < 0) ||
	    metrics_series_plan(p, now, since, want_step, &step, &table_step, &e) < 0) {
		api_error(resp, &e);
		return;
	}
	if (store_vm_get(ctl_store(req->ctl), req->args[0], &vm, &e) < 0) {
		api_error(resp, &e);
		return;
	}
	struct metric_sample *s = NULL;
	int n = 0;
	if (store_metrics_series(ctl_store(req->ctl), vm.id, table_step, step, since, &s, &n, &e) < 0) {
		api_error(resp, &e);
		vm_free_fields(&vm);
		return;
	}
	json_t *list = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(list, metrics_sample_json(&s[i]));
	api_json(resp, 200,
		 json_pack("{s:s, s:I, s:I, s:I, s:o}", "vm", vm.name, "since", (json_int_t)(since / step * step), "step",
			   (json_int_t)step, "resolution", (json_int_t)table_step, "samples", list));
	free(s);
	vm_free_fields(&vm);
}

/* --- idle stop ------------------------------------------------------------------- */

static void answer_policy(const struct api_req *req, struct api_resp *resp, const struct vm *vm)
{
	struct idle_policy p;
	const char *source = "default";
	struct err e = {0};
	if (ctl_idle_policy(req->ctl, vm->id, &p, &source, &e) < 0) {
		api_error(resp, &e);
		return;
	}
	json_t *o = idle_policy_json(&p, source);
	json_object_set_new(o, "vm", json_string(vm->name));
	api_json(resp, 200, o);
}

static void get_idle(const struct api_req *req, struct api_resp *resp)
{
	static const char *const known[] = {NULL};
	struct vm vm;
	struct err e = {0};
	if (!api_query_known(req, known, resp))
		return;
	if (store_vm_get(ctl_store(req->ctl), req->args[0], &vm, &e) < 0) {
		api_error(resp, &e);
		return;
	}
	answer_policy(req, resp, &vm);
	vm_free_fields(&vm);
}

/* PUT {"after": "30m", "cpu": "5%", "net_bps": 10240}: what is left out is
 * the default's (nubod.json "idle_stop"); "after" is required. */
static void put_idle(const struct api_req *req, struct api_resp *resp)
{
	json_t *body = api_body_object(req, resp, false);
	if (!body)
		return;
	struct vm vm;
	struct idle_policy p;
	const char *source;
	struct err e = {0};
	int rc = ctl_idle_policy(req->ctl, NULL, &p, &source, &e);
	if (rc == 0 && !json_object_get(body, "after"))
		rc = err_set(&e, ERR_INVALID, "field \"after\" is required: how long the VM must idle before it is "
			     "stopped, e.g. \"30m\" (\"off\": never)");
	if (rc == 0)
		rc = idle_policy_from_json(body, "field ", &p, &e);
	if (rc == 0)
		rc = store_vm_get(ctl_store(req->ctl), req->args[0], &vm, &e);
	if (rc == 0) {
		if (store_idle_set(ctl_store(req->ctl), vm.id, vm.name, &p, &e) < 0)
			api_error(resp, &e);
		else
			answer_policy(req, resp, &vm);
		vm_free_fields(&vm);
	} else {
		api_error(resp, &e);
	}
	json_decref(body);
}

/* DELETE: back to the default policy. */
static void delete_idle(const struct api_req *req, struct api_resp *resp)
{
	struct vm vm;
	struct err e = {0};
	if (store_vm_get(ctl_store(req->ctl), req->args[0], &vm, &e) < 0) {
		api_error(resp, &e);
		return;
	}
	if (store_idle_set(ctl_store(req->ctl), vm.id, vm.name, NULL, &e) < 0)
		api_error(resp, &e);
	else
		answer_policy(req, resp, &vm);
	vm_free_fields(&vm);
}

/* --- Prometheus ---------------------------------------------------------------------- */

/* The API's latency: upper bounds in seconds, and counts per bucket. */
static const double latency_le[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
#define N_LE (sizeof(latency_le) / sizeof(latency_le[0]))
static _Atomic uint64_t latency_count[N_LE + 1];   /* the last: above every bound */
static _Atomic uint64_t latency_sum_us;

void api_metrics_observe(int64_t us)
{
	size_t i = 0;
	while (i < N_LE && (double)us / 1e6 > latency_le[i])
		i++;
	atomic_fetch_add(&latency_count[i], 1);
	atomic_fetch_add(&latency_sum_us, (uint64_t)(us > 0 ? us : 0));
}

static void prom_latency(struct sbuf *b, const char *host)
{
	const char *name = "nubo_api_request_duration_seconds";
	prom_family(b, name, "histogram", "Time nubod took to answer API requests");
	uint64_t cum = 0;
	char le[32];
	for (size_t i = 0; i <= N_LE; i++) {
		cum += atomic_load(&latency_count[i]);
		if (i < N_LE)
			snprintf(le, sizeof(le), "%g", latency_le[i]);
		else
			snprintf(le, sizeof(le), "+Inf");
		const char *labels[] = {"host", host, "le", le, NULL};
		prom_value(b, "nubo_api_request_duration_seconds_bucket", labels, (double)cum);
	}
	const char *labels[] = {"host", host, NULL};
	prom_value(b, "nubo_api_request_duration_seconds_sum", labels, (double)atomic_load(&latency_sum_us) / 1e6);
	prom_value(b, "nubo_api_request_duration_seconds_count", labels, (double)cum);
}

static void prom_reconcilers(struct sbuf *b, struct ctl *c, const char *host)
{
	struct ctl_reconciler_timing t[32];
	int n = ctl_reconciler_timings(c, t, 32);
	prom_family(b, "nubo_reconciler_seconds_total", "counter", "Time each reconciler spent in its passes");
	for (int i = 0; i < n; i++) {
		const char *labels[] = {"host", host, "reconciler", t[i].name, NULL};
		prom_value(b, "nubo_reconciler_seconds_total", labels, (double)t[i].total_us / 1e6);
	}
	prom_family(b, "nubo_reconciler_passes_total", "counter", "Passes each reconciler made");
	for (int i = 0; i < n; i++) {
		const char *labels[] = {"host", host, "reconciler", t[i].name, NULL};
		prom_value(b, "nubo_reconciler_passes_total", labels, (double)t[i].passes);
	}
	prom_family(b, "nubo_reconciler_last_seconds", "gauge", "How long each reconciler's last pass took");
	for (int i = 0; i < n; i++) {
		const char *labels[] = {"host", host, "reconciler", t[i].name, NULL};
		prom_value(b, "nubo_reconciler_last_seconds", labels, (double)t[i].last_us / 1e6);
	}
}

/* One family per figure of metric_defs, each VM a line where it is known. */
static void prom_vms(struct sbuf *b, const struct ctl_vm_metrics *v, int n, const char *host)
{
	for (int f = 0; f < METRIC_N; f++) {
		const struct metric_def *d = &metric_defs[f];
		prom_family(b, d->prom, d->gauge && f != METRIC_CPU ? "gauge" : "counter", d->help);
		for (int i = 0; i < n; i++) {
			if (v[i].raw.v[f] < 0)
				continue;
			const char *labels[] = {"vm", v[i].name, "host", host, NULL};
			prom_value(b, d->prom, labels, f == METRIC_CPU ? (double)v[i].raw.v[f] / 1e6 : (double)v[i].raw.v[f]);
		}
	}
	prom_family(b, "nubo_vm_cpu_percent", "gauge", "CPU use over the last interval, percent of the VM's vCPUs");
	for (int i = 0; i < n; i++)
		if (v[i].have_last && v[i].last.v[METRIC_CPU] >= 0) {
			const char *labels[] = {"vm", v[i].name, "host", host, NULL};
			prom_value(b, "nubo_vm_cpu_percent", labels, (double)v[i].last.v[METRIC_CPU] / 1000.0);
		}
	prom_family(b, "nubo_vm_vcpus", "gauge", "vCPUs the VM runs with");
	for (int i = 0; i < n; i++) {
		const char *labels[] = {"vm", v[i].name, "host", host, NULL};
		prom_value(b, "nubo_vm_vcpus", labels, v[i].vcpus);
	}
}

static void get_prometheus(const struct api_req *req, struct api_resp *resp)
{
	static const char *const known[] = {NULL};
	if (!api_query_known(req, known, resp))
		return;
	struct ctl_vm_metrics *v = NULL;
	int n = 0;
	ctl_metrics_now(req->ctl, &v, &n);
	const char *host = ctl_host_name(req->ctl);
	struct sbuf b = {0};
	prom_family(&b, "nubo_host_vms_running", "gauge", "VMs running on this host, as the sampler last saw them");
	const char *labels[] = {"host", host, NULL};
	prom_value(&b, "nubo_host_vms_running", labels, n);
	prom_vms(&b, v, n, host);
	prom_latency(&b, host);
	prom_reconcilers(&b, req->ctl, host);
	free(v);
	resp->status = 200;
	resp->text_len = b.len;
	resp->text = sbuf_take(&b);
}

const struct api_route api_metrics_routes[] = {
	{"GET", "/v1/vms/{}/stats", get_stats},
	{"GET", "/v1/vms/{}/idle-stop", get_idle},
	{"PUT", "/v1/vms/{}/idle-stop", put_idle},
	{"DELETE", "/v1/vms/{}/idle-stop", delete_idle},
	{"GET", "/metrics", get_prometheus},
	{NULL, NULL, NULL},
};
