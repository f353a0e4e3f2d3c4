/*
 * groups-cpu: the CPU use of a group's VMs, read on the host (each VM's
 * cgroup CPU time; in dry-run, files under STATE/dry-run-cpu/), and target
 * tracking on its average (groups-priv.h). A reading is the difference of
 * two counters at least CPU_SAMPLE_MS apart, so the first look at a VM (or
 * at a new QEMU) is only a baseline.
 *
 * CPU samples live in memory: a restart only costs the first window.
 */
#include "ctl/groups-priv.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/cgroup.h"
#include "util/log.h"
#include "util/str.h"
#include "util/timeutil.h"

/* A VM's CPU is read at most this often; its use is the difference. */
#define CPU_SAMPLE_MS 2000

struct cpu_sample {
	char vm_id[ID_MAX];
	uint64_t usec;      /* the counter at the last reading */
	int64_t epoch;      /* when that counter started, if known */
	int64_t at;         /* monotonic ms of the last reading */
	double pct;         /* the use over the last window, percent of the VM's vCPUs */
	bool have;          /* pct is a reading (not just a baseline) */
	bool seen;
};

static struct cpu_sample *sample_get(struct ctl_groups *gs, const char *vm_id)
{
	for (int i = 0; i < gs->n; i++)
		if (strcmp(gs->s[i].vm_id, vm_id) == 0)
			return &gs->s[i];
	gs->s = xrealloc(gs->s, sizeof(*gs->s) * (size_t)(gs->n + 1));
	struct cpu_sample *s = &gs->s[gs->n++];
	memset(s, 0, sizeof(*s));
	snprintf(s->vm_id, sizeof(s->vm_id), "%s", vm_id);
	return s;
}

/* Reads the VM's counter when its window is over; true when s->pct is a reading. */
static bool sample_read(struct ctl *c, struct cpu_sample *s, const struct vm *vm)
{
	int64_t now = time_mono_ms();
	s->seen = true;
	if (s->at && now - s->at < CPU_SAMPLE_MS)
		return s->have;
	uint64_t usec = 0;
	int64_t epoch = 0;
	struct err e = {0};
	autofree char *dry = xasprintf("%s/dry-run-cpu", c->state_dir);
	if (c->host->vm_cpu_usec(&c->cgroups, c->prefix, vm->id, dry, &usec, &epoch, &e) < 0) {
		s->have = false;
		s->at = 0;
		return false;
	}
	if (s->at && usec >= s->usec && epoch == s->epoch) {
		int vcpus = vm->live_vcpus > 0 ? vm->live_vcpus : (vm->vcpus > 0 ? vm->vcpus : 1);
		s->pct = (double)(usec - s->usec) / ((double)(now - s->at) * 1000.0 * vcpus) * 100.0;
		s->have = true;
	} else {
		s->have = false;   /* a first reading, or a new counter (a new QEMU): a baseline */
	}
	s->usec = usec;
	s->epoch = epoch;
	s->at = now;
	return s->have;
}

void groups_cpu_prune(struct ctl *c)
{
	struct ctl_groups *gs = c->groups;
	pthread_mutex_lock(&gs->mu);
	int k = 0;
	for (int i = 0; i < gs->n; i++)
		if (gs->s[i].seen) {
			gs->s[i].seen = false;
			gs->s[k++] = gs->s[i];
		}
	gs->n = k;
	pthread_mutex_unlock(&gs->mu);
}

bool groups_cpu_last(struct ctl *c, const char *vm_id, double *pct)
{
	bool have = false;
	pthread_mutex_lock(&c->groups->mu);
	for (int k = 0; k < c->groups->n && !have; k++)
		if (strcmp(c->groups->s[k].vm_id, vm_id) == 0 && c->groups->s[k].have) {
			*pct = c->groups->s[k].pct;
			have = true;
		}
	pthread_mutex_unlock(&c->groups->mu);
	return have;
}

/* Target tracking: out at once, in one at a time after the cooldown. */
void groups_cpu_decide(struct ctl *c, const struct scaling_group *g, struct view *vs, int n)
{
	int64_t now = time_now_ms();
	int counted = 0;
	double sum = 0;
	for (int i = 0; i < n; i++) {
		struct view *v = &vs[i];
		if (v->gone || !v->healthy || !v->m.ready_at || now - v->m.ready_at < g->warmup_ms)
			continue;   /* warming VMs are not counted */
		pthread_mutex_lock(&c->groups->mu);
		struct cpu_sample *s = sample_get(c->groups, v->vm->id);
		bool have = sample_read(c, s, v->vm);
		double pct = s->pct;
		pthread_mutex_unlock(&c->groups->mu);
		if (!have)
			continue;
		sum += pct;
		counted++;
	}
	if (counted == 0)
		return;
	/* To a tenth of a percent, as the event shows it: a reading of 90.02 %
	 * is 90 %, and 2 × 90 / 60 asks for 3 VMs, not 4. */
	double avg = round(sum / counted * 10.0) / 10.0;
	if (avg > g->target_cpu) {
		int want = group_scale_out_count(counted, avg, g->target_cpu);
		if (want > g->max_size)
			want = g->max_size;
		if (want > g->desired) {
			char what[256];
			snprintf(what, sizeof(what),
				 "scale-out: desired %d→%d (average CPU %.1f%% of %d VM%s is above the target %d%%: "
				 "ceil(%d × %.1f / %d) = %d, at most max %d)",
				 g->desired, want, avg, counted, counted == 1 ? "" : "s", g->target_cpu, counted, avg,
				 g->target_cpu, group_scale_out_count(counted, avg, g->target_cpu), g->max_size);
			groups_decide(c, g, want, 0, what,
				      json_pack("{s:s,s:f,s:i,s:i,s:i,s:i,s:i}", "decision", "scale-out", "average_cpu", avg,
						"target_cpu", g->target_cpu, "counted", counted, "desired_before",
						g->desired, "desired", want, "max", g->max_size));
		} else if (g->below_since) {
			groups_decide(c, g, g->desired, 0, NULL, NULL);
		}
		return;
	}
	if (avg >= g->target_cpu) {
		if (g->below_since)
			groups_decide(c, g, g->desired, 0, NULL, NULL);
		return;
	}
	if (!g->below_since) {
		groups_decide(c, g, g->desired, now, NULL, NULL);
		return;
	}
	if (now - g->below_since < g->cooldown_ms || g->desired <= g->min_size ||
	    !group_scale_in_fits(counted, avg, g->target_cpu))
		return;
	char what[256];
	snprintf(what, sizeof(what),
		 "scale-in: desired %d→%d (average CPU %.1f%% of %d VM%s stayed below the target %d%% for %.0f s)",
		 g->desired, g->desired - 1, avg, counted, counted == 1 ? "" : "s", g->target_cpu,
		 (double)(now - g->below_since) / 1000.0);
	groups_decide(c, g, g->desired - 1, now, what,
		      json_pack("{s:s,s:f,s:i,s:i,s:i,s:i,s:I}", "decision", "scale-in", "average_cpu", avg, "target_cpu",
				g->target_cpu, "counted", counted, "desired_before", g->desired, "desired", g->desired - 1,
				"below_ms", (json_int_t)(now - g->below_since)));
}
