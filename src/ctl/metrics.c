/*
 * metrics: the sampler. On a thread of its own, at every multiple of the
 * interval (10 s; nubod.json "metrics"), it reads the counters of each VM
 * this host runs (CPU time and memory from its cgroup, bytes and packets
 * from its taps, bytes and operations of its disks from QMP
 * query-blockstats), turns the difference from the last reading into a
 * sample (model/metrics.c) and writes the samples of all VMs in one
 * transaction. At every multiple of the coarse step it rolls the fine rows
 * of the buckets that are over into coarse ones and prunes both by age.
 * The last reading of each VM stays in memory for GET /metrics.
 *
 * It also carries out idle stop: a VM whose samples stayed idle (below
 * its policy's CPU and network) for the policy's whole window gets a stop
 * operation and an event saying why and what it saves a day; an event
 * warns before. Members of auto-scaling groups are never idle-stopped. The
 * idle clock lives in memory: a restarted nubod starts it again, which
 * can only stop a VM later, never sooner.
 *
 * Being a thread of its own, a slow QMP answer delays samples, never the
 * reconciler; the reconciler's own use of a QMP socket and the sampler's
 * take turns (QEMU serves one client at a time).
 */
#include "ctl/ctl-priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/vmstat.h"
#include "util/log.h"
#include "util/str.h"
#include "util/timeutil.h"

/* How long a disk reading waits for QEMU's answer. */
#define DISK_READ_TIMEOUT_MS 2000
/* Where a sample's wake-up lands after the step's boundary. */
#define WAKE_AFTER_MS 50

struct track {
	char vm_id[ID_MAX];
	char name[NAME_MAX_LEN + 1];
	char type[NAME_MAX_LEN + 1];
	int vcpus;
	struct metric_raw raw;          /* the last reading */
	struct metric_sample last;      /* the last sample */
	bool have_last;
	int64_t idle_since;             /* unix ms: start of the first of the idle samples in a row; 0: not idle */
	bool warned;
	bool seen;
};

struct ctl_metrics {
	pthread_mutex_t mu;   /* t, n: the sampler writes, GET /metrics reads */
	pthread_cond_t cv;
	pthread_t thread;
	bool started, quit;
	struct track *t;
	int n;
	int64_t rolled_to;    /* unix ms: coarse buckets before this are made */
};

static int cmp_track(const void *a, const void *b, void *arg)
{
	const struct ctl_metrics *m = arg;
	return strcmp(m->t[*(const int *)a].vm_id, m->t[*(const int *)b].vm_id);
}

/* The places of m's tracks sorted by VM id, for track_get: a pass over
 * 10,000 VMs looks each up in log time, not by comparing it with every
 * track (50 million comparisons a pass). Under m->mu. */
static int *tracks_by_id(struct ctl_metrics *m)
{
	int *order = xcalloc((size_t)m->n + 1, sizeof(*order));
	for (int i = 0; i < m->n; i++)
		order[i] = i;
	qsort_r(order, (size_t)m->n, sizeof(*order), cmp_track, m);
	return order;
}

/* vm's track, made if new; order[0..n_order) from tracks_by_id. */
static struct track *track_get(struct ctl_metrics *m, const int *order, int n_order, const struct vm *vm)
{
	int lo = 0, hi = n_order;
	while (lo < hi) {
		int mid = lo + (hi - lo) / 2, c = strcmp(m->t[order[mid]].vm_id, vm->id);
		if (c == 0)
			return &m->t[order[mid]];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	m->t = xrealloc(m->t, sizeof(*m->t) * (size_t)(m->n + 1));
	struct track *t = &m->t[m->n++];
	memset(t, 0, sizeof(*t));
	snprintf(t->vm_id, sizeof(t->vm_id), "%s", vm->id);
	return t;
}

/* One reading of vm's counters; a figure that cannot be read is METRIC_NONE. */
static void read_raw(struct ctl *c, const struct vm *vm, struct metric_raw *r)
{
	for (int i = 0; i < METRIC_N; i++)
		r->v[i] = METRIC_NONE;
	r->at = time_mono_ms();
	r->pid = vm->pid;
	r->cpu_epoch = 0;
	struct err e = {0};
	uint64_t usec = 0;
	autofree char *dry = xasprintf("%s/dry-run-cpu", c->state_dir);
	if (c->host->vm_cpu_usec(&c->cgroups, c->prefix, vm->id, dry, &usec, &r->cpu_epoch, &e) == 0)
		r->v[METRIC_CPU] = (int64_t)usec;
	int64_t mem = 0;
	if (c->host->vm_memory_bytes(&c->cgroups, c->prefix, vm->id, &mem, &e) == 0)
		r->v[METRIC_MEM] = mem;
	struct vmstat_net net = {0};
	int rc = vm->n_nics > 0 ? 0 : -1;
	for (int i = 0; rc == 0 && i < vm->n_nics; i++) {
		char tap[16];
		ctl_tap_name(c, vm->id, i, tap);
		rc = c->host->tap_stats(tap, &net, &e);
	}
	if (rc == 0) {
		r->v[METRIC_NET_RX] = net.rx_bytes;
		r->v[METRIC_NET_TX] = net.tx_bytes;
		r->v[METRIC_NET_RX_PACKETS] = net.rx_packets;
		r->v[METRIC_NET_TX_PACKETS] = net.tx_packets;
	}
	struct vmstat_disk d;
	autofree char *dir = ctl_vm_dir(c, vm->id);
	autofree char *qmp = xasprintf("%s/qmp.sock", dir);
	if (c->host->disk_stats(qmp, DISK_READ_TIMEOUT_MS, &d, &e) == 0) {
		r->v[METRIC_DISK_READ] = d.read_bytes;
		r->v[METRIC_DISK_WRITE] = d.write_bytes;
		r->v[METRIC_DISK_READ_OPS] = d.read_ops;
		r->v[METRIC_DISK_WRITE_OPS] = d.write_ops;
	}
}

/* --- idle stop ------------------------------------------------------------------ */

static const struct idle_policy *policy_of(struct ctl *c, const struct idle_row *own, int n_own, const char *vm_id,
					   const char **source)
{
	for (int i = 0; i < n_own; i++)
		if (strcmp(own[i].vm_id, vm_id) == 0) {
			*source = "vm";
			return &own[i].p;
		}
	*source = "default";
	return &c->cfg.idle_stop;
}

static bool group_member(struct ctl *c, const char *vm_id)
{
	struct group_member gm;
	struct err e = {0};
	return store_member_get(c->st, vm_id, &gm, &e) == 0;
}

/* What a VM of type costs a day while it runs. */
static double per_day(struct ctl *c, const char *type)
{
	const struct machine_type *mt = catalog_find(ctl_types(c), type);
	return mt ? mt->price_per_hour * 24.0 : 0;
}

struct idle_why {
	const struct track *t;
	const struct idle_policy *p;
	int64_t idle_for;
	char what[256];
};

/* The event that says why the VM stopped, in the stop's own transaction: a
 * stop is never recorded without its reason, nor a reason without the stop. */
static int idle_why_record(struct ctl *c, const struct vm *vm, const struct operation *op, void *arg,
			   struct err *e)
{
	struct idle_why *w = arg;
	double saves = per_day(c, w->t->type);
	snprintf(w->what, sizeof(w->what),
		 "idle-stopped: below %.3g%% CPU and %lld B/s network for %llds; saves %.2f a day while stopped",
		 (double)w->p->cpu_milli / 1000.0, (long long)w->p->net_bps, (long long)(w->idle_for / 1000), saves);
	json_t *d = json_pack("{s:s, s:I, s:I, s:f, s:I, s:f}", "operation", op->id, "after_ms",
			      (json_int_t)w->p->after_ms, "idle_ms", (json_int_t)w->idle_for, "cpu",
			      (double)w->p->cpu_milli / 1000.0, "net_bps", (json_int_t)w->p->net_bps, "saves_per_day",
			      saves);
	autofree char *detail = json_dumps(d, JSON_COMPACT);
	json_decref(d);
	return store_vm_event(c->st, vm->id, vm->name, w->what, detail, e);
}

static void idle_stop(struct ctl *c, struct track *t, const struct idle_policy *p, int64_t idle_for)
{
	struct vm vm;
	struct operation op;
	bool accepted = false;
	struct err e = {0};
	struct idle_why why = {.t = t, .p = p, .idle_for = idle_for};
	t->idle_since = 0;   /* a stop refused is tried again after a whole window, not at every point */
	t->warned = false;
	if (ctl_vm_act_also(c, t->vm_id, VM_ACTION_STOP, false, idle_why_record, &why, &vm, &op, &accepted, &e) < 0) {
		log_warn("idle stop: VM %s: %s", t->name, e.msg);
		return;
	}
	vm_free_fields(&vm);
	if (accepted)
		log_info("idle stop: VM %s %s", t->name, why.what);
}

/* After t's new sample: the idle clock, its warning and the stop. */
static void idle_check(struct ctl *c, struct track *t, const struct idle_row *own, int n_own)
{
	const char *source;
	const struct idle_policy *p = policy_of(c, own, n_own, t->vm_id, &source);
	int64_t step = c->cfg.metrics.fine_step;
	if (p->after_ms <= 0 || !metrics_sample_idle(p, &t->last, step)) {
		t->idle_since = 0;
		t->warned = false;
		return;
	}
	if (!t->idle_since)
		t->idle_since = t->last.t;
	int64_t idle_for = t->last.t + step - t->idle_since;
	if (idle_for < metrics_idle_warn_at(p) || group_member(c, t->vm_id))
		return;
	if (idle_for >= p->after_ms) {
		idle_stop(c, t, p, idle_for);
		return;
	}
	if (t->warned)
		return;
	t->warned = true;
	char what[256];
	snprintf(what, sizeof(what), "idle: stops in %llds unless busy (below %.3g%% CPU and %lld B/s network for %llds)",
		 (long long)((p->after_ms - idle_for) / 1000), (double)p->cpu_milli / 1000.0, (long long)p->net_bps,
		 (long long)(idle_for / 1000));
	struct err e = {0};
	if (store_vm_event(c->st, t->vm_id, t->name, what, NULL, &e) < 0)
		log_warn("idle stop: VM %s: %s", t->name, e.msg);
}

/* --- a pass ----------------------------------------------------------------------- */

/* Coarse buckets that are over, and pruning by age. */
static void rollup(struct ctl *c, struct ctl_metrics *m, int64_t now)
{
	const struct metrics_policy *p = &c->cfg.metrics;
	int64_t upto = now / p->coarse_step * p->coarse_step;
	if (m->rolled_to >= upto)
		return;
	int64_t from = m->rolled_to ? m->rolled_to : now - p->fine_keep;
	struct err e = {0};
	if (store_metrics_rollup(c->st, p->fine_step, p->coarse_step, from, upto, &e) < 0 ||
	    store_metrics_prune(c->st, p->fine_step, now - p->fine_keep, &e) < 0 ||
	    store_metrics_prune(c->st, p->coarse_step, now - p->coarse_keep, &e) < 0) {
		log_warn("metrics: %s", e.msg);
		return;
	}
	m->rolled_to = upto;
}

/* Whether no figure of s could be read: nothing worth a row. */
static bool sample_empty(const struct metric_sample *s)
{
	for (int i = 0; i < METRIC_N; i++)
		if (s->v[i] >= 0)
			return false;
	return true;
}

/* Reads every running VM of vms, records the samples, and checks idleness. */
static void sample_all(struct ctl *c, struct ctl_metrics *m, const struct vm *vms, int n_vms,
		       const struct idle_row *own, int n_own)
{
	int64_t now = time_now_ms(), step = c->cfg.metrics.fine_step;
	struct metrics_row *rows = xcalloc((size_t)n_vms + 1, sizeof(*rows));
	int n_rows = 0;
	pthread_mutex_lock(&m->mu);
	int n_order = m->n, *order = tracks_by_id(m);   /* tracks made in this pass are new VMs' */
	pthread_mutex_unlock(&m->mu);
	for (int i = 0; i < n_vms; i++) {
		const struct vm *vm = &vms[i];
		if (vm->state != VM_RUNNING)
			continue;
		struct metric_raw cur;
		read_raw(c, vm, &cur);
		pthread_mutex_lock(&m->mu);
		struct track *t = track_get(m, order, n_order, vm);
		t->seen = true;
		snprintf(t->name, sizeof(t->name), "%s", vm->name);
		snprintf(t->type, sizeof(t->type), "%s", vm->type);
		t->vcpus = vm->live_vcpus > 0 ? vm->live_vcpus : vm->vcpus;
		t->have_last = metrics_sample_make(&t->raw, &cur, t->vcpus, now / step * step - step, &t->last);
		t->raw = cur;
		if (t->have_last && !sample_empty(&t->last)) {
			snprintf(rows[n_rows].vm_id, sizeof(rows[n_rows].vm_id), "%s", vm->id);
			rows[n_rows++].s = t->last;
		}
		pthread_mutex_unlock(&m->mu);
	}
	free(order);
	/* VMs no longer running are forgotten: a new run starts from a baseline. */
	pthread_mutex_lock(&m->mu);
	int k = 0;
	for (int i = 0; i < m->n; i++)
		if (m->t[i].seen) {
			m->t[i].seen = false;
			m->t[k++] = m->t[i];
		}
	m->n = k;
	pthread_mutex_unlock(&m->mu);
	struct err e = {0};
	if (store_metrics_add(c->st, rows, n_rows, step, &e) < 0)
		log_warn("metrics: %s", e.msg);
	free(rows);
	/* Idle checks run without the lock: a stop writes to the store. The
	 * tracks are the sampler's own; GET /metrics only reads them. */
	for (int i = 0; i < m->n; i++)
		if (m->t[i].have_last)
			idle_check(c, &m->t[i], own, n_own);
	rollup(c, m, now);
}

static void pass(struct ctl *c, struct ctl_metrics *m)
{
	struct vm *vms = NULL;
	int n_vms = 0, n_own = 0;
	struct idle_row *own = NULL;
	struct err e = {0};
	if (store_vm_list_on(c->st, c->host_name, &vms, &n_vms, &e) < 0 || store_idle_list(c->st, &own, &n_own, &e) < 0)
		log_warn("metrics: no sample this time: %s", e.msg);
	else
		sample_all(c, m, vms, n_vms, own, n_own);
	free(own);
	vm_list_free(vms, n_vms);
}

static void *sampler(void *arg)
{
	struct ctl *c = arg;
	struct ctl_metrics *m = c->metrics;
	int64_t step = c->cfg.metrics.fine_step;
	pthread_mutex_lock(&m->mu);
	while (!m->quit) {
		int64_t now = time_now_ms();
		int64_t next = (now / step + 1) * step + WAKE_AFTER_MS;
		struct timespec ts = {.tv_sec = next / 1000, .tv_nsec = (next % 1000) * 1000000L};
		while (!m->quit && time_now_ms() < next)
			pthread_cond_timedwait(&m->cv, &m->mu, &ts);
		if (m->quit)
			break;
		pthread_mutex_unlock(&m->mu);
		pass(c, m);
		pthread_mutex_lock(&m->mu);
	}
	pthread_mutex_unlock(&m->mu);
	return NULL;
}

void metrics_resume(struct ctl *c)
{
	struct ctl_metrics *m = xcalloc(1, sizeof(*m));
	pthread_mutex_init(&m->mu, NULL);
	pthread_cond_init(&m->cv, NULL);
	c->metrics = m;
	if (pthread_create(&m->thread, NULL, sampler, c) != 0)
		log_error("metrics: cannot start the sampler; no VM is measured and none is idle-stopped");
	else
		m->started = true;
}

void metrics_free(struct ctl *c)
{
	struct ctl_metrics *m = c->metrics;
	if (!m)
		return;
	if (m->started) {
		pthread_mutex_lock(&m->mu);
		m->quit = true;
		pthread_cond_signal(&m->cv);
		pthread_mutex_unlock(&m->mu);
		pthread_join(m->thread, NULL);
	}
	pthread_cond_destroy(&m->cv);
	pthread_mutex_destroy(&m->mu);
	free(m->t);
	free(m);
	c->metrics = NULL;
}

/* --- what the API asks ------------------------------------------------------------- */

int ctl_metrics_now(struct ctl *c, struct ctl_vm_metrics **out, int *n)
{
	struct ctl_metrics *m = c->metrics;
	*out = NULL;
	*n = 0;
	if (!m)
		return 0;
	pthread_mutex_lock(&m->mu);
	*out = xcalloc((size_t)m->n + 1, sizeof(**out));
	for (int i = 0; i < m->n; i++) {
		struct ctl_vm_metrics *v = &(*out)[(*n)++];
		snprintf(v->name, sizeof(v->name), "%s", m->t[i].name);
		v->vcpus = m->t[i].vcpus;
		v->raw = m->t[i].raw;
		v->last = m->t[i].last;
		v->have_last = m->t[i].have_last;
	}
	pthread_mutex_unlock(&m->mu);
	return 0;
}

const struct metrics_policy *ctl_metrics_policy(struct ctl *c)
{
	return &c->cfg.metrics;
}

int ctl_idle_policy(struct ctl *c, const char *vm_id, struct idle_policy *p, const char **source, struct err *e)
{
	if (!vm_id) {
		*p = c->cfg.idle_stop;
		*source = "default";
		return 0;
	}
	struct idle_row *own = NULL;
	int n = 0;
	if (store_idle_list(c->st, &own, &n, e) < 0)
		return -1;
	*p = *policy_of(c, own, n, vm_id, source);
	free(own);
	return 0;
}
