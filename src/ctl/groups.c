/*
 * groups: auto-scaling groups. The API's calls write a group's spec; the
 * reconciler (a row of ctl.c's table) keeps, at each tick and for each
 * group, as many live members as the group wants, each a VM named
 * "<group>-<suffix>":
 *
 *   - a member whose VM is gone, in error, stopped, or unhealthy on the
 *     balancer after the grace period is replaced;
 *   - a ready VM (SSH answered) joins the group's balancer; a VM that goes
 *     leaves it first and drains for the drain time;
 *   - with a CPU target, the desired count follows the average CPU of the
 *     VMs that are ready and warmed up (target tracking, see decide_cpu);
 *   - after `group update`, one VM of the new template is added at a time
 *     and an old one removed once the new one is healthy (rolling).
 *
 * The one idea that makes a crash harmless: every decision is written
 * before it is acted on. A new desired count is stored with its event in one
 * transaction; a new member is stored (state creating, with its VM's name)
 * before the VM is made, so a restarted nubod finds either the VM (and
 * adopts it) or nothing (and makes it): the count never doubles. Members in
 * creating count toward the live ones like made ones.
 *
 * CPU samples live in memory: a restart only costs the first window.
 */
#include "ctl/ctl-priv.h"

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
/* A member whose VM could not be made is tried again after this long. */
#define CREATE_RETRY_MS 10000

struct cpu_sample {
	char vm_id[ID_MAX];
	uint64_t usec;      /* the counter at the last reading */
	int64_t epoch;      /* when that counter started, if known */
	int64_t at;         /* monotonic ms of the last reading */
	double pct;         /* the use over the last window, percent of the VM's vCPUs */
	bool have;          /* pct is a reading (not just a baseline) */
	bool seen;
};

struct ctl_groups {
	pthread_mutex_t mu;       /* s and n: the reconciler writes, `group show` reads */
	struct cpu_sample *s;
	int n;
	/* With no group, the store is looked at again only when it changed
	 * (store_change_count) or after IDLE_LOOK_MS: no query per tick. */
	bool none;
	int64_t none_changes, none_at;
};

#define IDLE_LOOK_MS 5000

/* --- what a tick reads --------------------------------------------------------- */

struct world {
	struct vm *vms;
	int n_vms;
	struct lb *lbs;
	int n_lbs;
	struct lb_target *ts;
	int n_ts;
};

static void world_free(struct world *w)
{
	vm_list_free(w->vms, w->n_vms);
	free(w->lbs);
	free(w->ts);
	memset(w, 0, sizeof(*w));
}

static const struct vm *find_vm(const struct world *w, const char *name)
{
	for (int i = 0; i < w->n_vms; i++)
		if (strcmp(w->vms[i].name, name) == 0)
			return &w->vms[i];
	return NULL;
}

static const struct lb_target *find_target(const struct world *w, const char *id)
{
	for (int i = 0; id[0] && i < w->n_ts; i++)
		if (strcmp(w->ts[i].id, id) == 0)
			return &w->ts[i];
	return NULL;
}

static bool lb_exists(const struct world *w, const char *name)
{
	for (int i = 0; i < w->n_lbs; i++)
		if (strcmp(w->lbs[i].name, name) == 0)
			return true;
	return false;
}

/* A member as this tick sees it. */
struct view {
	struct group_member m;
	const struct vm *vm;           /* NULL: none (yet, or any more) */
	const struct lb_target *t;     /* its balancer target, if in */
	bool ready;                    /* the VM runs and SSH answered */
	bool healthy;                  /* ready, and healthy on the balancer if the group has one */
	bool gone;                     /* the row was removed this tick */
};

static bool vm_ready(const struct vm *vm)
{
	return vm && vm->state == VM_RUNNING && vm->power == POWER_RUNNING && phases_has(&vm->boot, "ssh-ready");
}

static void view_fill(const struct scaling_group *g, const struct world *w, struct view *v)
{
	v->vm = find_vm(w, v->m.name);
	v->t = find_target(w, v->m.target_id);
	v->ready = v->m.state == MEMBER_ACTIVE && vm_ready(v->vm);
	v->healthy = v->ready;
	if (v->healthy && g->lb[0] && lb_exists(w, g->lb))
		v->healthy = v->t && v->t->health == LB_HEALTHY;
}

/* --- writes that keep the other side's fields --------------------------------- */

/* Writes the reconciler's fields of m over the stored row: whether the VM
 * is protected stays as the user last set it. */
static int member_save(struct ctl *c, struct group_member *m, struct err *e)
{
	if (store_tx_begin(c->st, e) < 0)
		return -1;
	struct group_member now;
	int rc = store_member_get(c->st, m->id, &now, e);
	if (rc == 0) {
		m->protected_ = now.protected_;
		rc = store_member_update(c->st, m, e);
	}
	if (store_tx_end(c->st, rc == 0, rc == 0 ? e : NULL) < 0)
		return -1;
	return rc;
}

/* Stores a new desired count (and below_since) with its event, unless the
 * group changed since the decision was made from it (another decision, or
 * the user): then nothing, and the next tick decides again. */
static void group_decide(struct ctl *c, const struct scaling_group *seen, int desired, int64_t below_since, const char *what,
			 json_t *detail)
{
	struct err e = {0};
	autofree char *text = detail ? json_dumps(detail, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(detail);
	if (store_tx_begin(c->st, &e) < 0) {
		log_warn("group %s: %s", seen->name, e.msg);
		return;
	}
	struct scaling_group now;
	int rc = store_group_get(c->st, seen->id, &now, &e);
	bool got = rc == 0;
	bool same = got && now.desired == seen->desired && now.min_size == seen->min_size &&
		    now.max_size == seen->max_size && !now.deleted;
	if (same) {
		now.desired = desired;
		now.below_since = below_since;
		rc = what ? store_group_decide(c->st, &now, what, text, &e) : store_group_update(c->st, &now, &e);
	}
	if (got)
		group_free_fields(&now);
	if (store_tx_end(c->st, rc == 0 && same, rc == 0 ? &e : NULL) < 0 || rc < 0)
		log_warn("group %s: %s", seen->name, e.msg);
	else if (same && what)
		log_info("group %s: %s", seen->name, what);
}

static void group_note(struct ctl *c, const struct scaling_group *g, const char *what, json_t *detail)
{
	struct err e = {0};
	autofree char *text = detail ? json_dumps(detail, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(detail);
	if (store_group_event(c->st, g->id, g->name, what, text, &e) < 0)
		log_warn("group %s: %s", g->name, e.msg);
	else
		log_info("group %s: %s", g->name, what);
}

/* Copies text into a fixed field, cut to fit. */
static void set_text(char *dst, size_t n, const char *text)
{
	size_t len = strlen(text);
	if (len >= n)
		len = n - 1;
	memcpy(dst, text, len);
	dst[len] = 0;
}

/* --- members' moves ------------------------------------------------------------- */

static int split(const char *text, const char *sep, char ***out)
{
	int n = 0;
	char **v = NULL;
	autofree char *copy = xstrdup(text ? text : "");
	char *save = NULL;
	for (char *w = strtok_r(copy, sep, &save); w; w = strtok_r(NULL, sep, &save)) {
		v = xrealloc(v, sizeof(*v) * (size_t)(n + 1));
		v[n++] = xstrdup(w);
	}
	*out = v;
	return n;
}

static void split_free(char **v, int n)
{
	for (int i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Makes the member's VM from the group's template (the member was stored first). */
static int make_vm(struct ctl *c, const struct scaling_group *g, struct group_member *m, struct err *e)
{
	char **fws = NULL, **keys = NULL;
	int n_fws = split(g->firewalls, ",", &fws), n_keys = split(g->ssh_keys, "\n", &keys);
	struct vm_nic_request nic = {.network = g->network};
	struct vm_request r = {.name = m->name,
			       .type = g->type,
			       .image = g->image,
			       .nics = &nic,
			       .n_nics = 1,
			       .firewalls = (const char *const *)fws,
			       .n_firewalls = n_fws,
			       .ssh_keys = (const char *const *)keys,
			       .n_ssh_keys = n_keys,
			       .ssh_key_file = g->ssh_key_file,
			       .user_data = g->user_data};
	struct vm vm;
	struct operation op;
	int rc = ctl_vm_create(c, &r, &vm, &op, e);
	split_free(fws, n_fws);
	split_free(keys, n_keys);
	if (rc < 0)
		return -1;
	snprintf(m->vm_id, sizeof(m->vm_id), "%s", vm.id);
	m->template_gen = g->template_gen;
	snprintf(m->image, sizeof(m->image), "%s", g->image);
	vm_free_fields(&vm);
	operation_free_fields(&op);
	return 0;
}

/* Takes the member out of its balancer, if in. */
static void leave_lb(struct ctl *c, struct group_member *m)
{
	if (!m->target_id[0])
		return;
	struct err e = {0};
	if (lbs_target_leave(c, m->target_id, &e) < 0 && e.kind != ERR_NOT_FOUND) {
		log_warn("group member %s: leaving the balancer: %s", m->name, e.msg);
		return;
	}
	m->target_id[0] = 0;
}

/* Sends the member on its way out: draining when it is in a balancer and
 * the group drains, else straight to removal. */
static void member_retire(struct ctl *c, const struct scaling_group *g, struct view *v, const char *reason)
{
	struct err e = {0};
	bool drain = v->m.target_id[0] && g->drain_ms > 0 && v->m.state == MEMBER_ACTIVE && v->ready;
	leave_lb(c, &v->m);
	v->m.state = drain ? MEMBER_DRAINING : MEMBER_REMOVING;
	v->m.until = drain ? time_now_ms() + g->drain_ms : 0;
	set_text(v->m.reason, sizeof(v->m.reason), reason);
	if (member_save(c, &v->m, &e) < 0)
		log_warn("group member %s: %s", v->m.name, e.msg);
}

/* One step of one member (v->gone is set when its row was removed). */
static void member_step(struct ctl *c, const struct scaling_group *g, const struct world *w, struct view *v)
{
	struct group_member *m = &v->m;
	struct err e = {0};
	int64_t now = time_now_ms();
	switch (m->state) {
	case MEMBER_CREATING:
		if (v->vm) {
			/* made before a crash cut the record short: adopt it */
			snprintf(m->vm_id, sizeof(m->vm_id), "%s", v->vm->id);
			m->state = MEMBER_ACTIVE;
			m->reason[0] = 0;
			if (member_save(c, m, &e) < 0)
				log_warn("group member %s: %s", m->name, e.msg);
			return;
		}
		if (now < m->until)
			return;
		if (make_vm(c, g, m, &e) < 0) {
			autofree char *what = xasprintf("cannot create %s: %s", m->name, e.msg);
			set_text(m->reason, sizeof(m->reason), e.msg);
			m->until = now + CREATE_RETRY_MS;
			struct err se = {0};
			member_save(c, m, &se);
			group_note(c, g, what, json_pack("{s:s,s:s}", "vm", m->name, "error", e.msg));
			return;
		}
		m->state = MEMBER_ACTIVE;
		m->reason[0] = 0;
		m->until = 0;
		if (member_save(c, m, &e) < 0)
			log_warn("group member %s: %s", m->name, e.msg);
		return;
	case MEMBER_ACTIVE: {
		const char *why = NULL;
		autofree char *buf = NULL;
		if (!v->vm || v->vm->power == POWER_DELETED) {
			why = "its VM is gone";
		} else if (v->vm->state == VM_ERROR) {
			buf = xasprintf("its VM is in error: %s", v->vm->reason ? v->vm->reason : "no reason");
			why = buf;
		} else if (v->vm->power == POWER_STOPPED || v->vm->state == VM_STOPPED) {
			why = "its VM was stopped";
		} else if (v->t && v->t->health == LB_UNHEALTHY && now - v->vm->created_at > g->grace_ms) {
			buf = xasprintf("unhealthy on lb %s past the grace period: %s", g->lb, v->t->reason);
			why = buf;
		} else if (!v->ready && v->vm->state == VM_RUNNING && v->vm->deadline == 0 &&
			   !phases_has(&v->vm->boot, "ssh-ready") && now - v->vm->created_at > g->grace_ms) {
			why = "SSH never answered";
		}
		if (why) {
			autofree char *what = xasprintf("replace %s: %s", m->name, why);
			group_note(c, g, what, json_pack("{s:s,s:s}", "vm", m->name, "reason", why));
			leave_lb(c, m);
			m->state = MEMBER_REMOVING;
			set_text(m->reason, sizeof(m->reason), why);
			if (member_save(c, m, &e) < 0)
				log_warn("group member %s: %s", m->name, e.msg);
			return;
		}
		bool changed = false;
		if (v->ready && !m->ready_at) {
			m->ready_at = now;
			changed = true;
		}
		if (v->ready && g->lb[0] && !m->target_id[0] && lb_exists(w, g->lb)) {
			struct lb_target t;
			if (lbs_target_join(c, g->lb, m->name, g->lb_port, &t, &e) == 0) {
				snprintf(m->target_id, sizeof(m->target_id), "%s", t.id);
				changed = true;
			} else {
				log_warn("group member %s: joining lb %s: %s", m->name, g->lb, e.msg);
			}
		}
		if (changed && member_save(c, m, &e) < 0)
			log_warn("group member %s: %s", m->name, e.msg);
		return;
	}
	case MEMBER_DRAINING:
		leave_lb(c, m);
		if (now >= m->until) {
			m->state = MEMBER_REMOVING;
			if (member_save(c, m, &e) < 0)
				log_warn("group member %s: %s", m->name, e.msg);
		}
		return;
	case MEMBER_REMOVING:
		if (m->target_id[0]) {
			leave_lb(c, m);
			if (member_save(c, m, &e) < 0)
				log_warn("group member %s: %s", m->name, e.msg);
		}
		if (v->vm && v->vm->power != POWER_DELETED) {
			struct vm vm;
			struct operation op;
			bool accepted = false;
			if (ctl_vm_act(c, v->vm->id, VM_ACTION_DELETE, true, &vm, &op, &accepted, &e) < 0) {
				log_warn("group member %s: deleting its VM: %s", m->name, e.msg);
				return;
			}
			vm_free_fields(&vm);
			operation_free_fields(&op);
			return;
		}
		if (!v->vm) {
			if (store_member_delete(c->st, m->id, &e) < 0)
				log_warn("group member %s: %s", m->name, e.msg);
			else
				v->gone = true;
		}
		return;
	}
}

/* --- CPU ------------------------------------------------------------------------ */

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
	if (cgroup_cpu_usec(&c->cgroups, c->prefix, vm->id, dry, &usec, &epoch, &e) < 0) {
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

static void samples_prune(struct ctl_groups *gs)
{
	int k = 0;
	for (int i = 0; i < gs->n; i++)
		if (gs->s[i].seen) {
			gs->s[i].seen = false;
			gs->s[k++] = gs->s[i];
		}
	gs->n = k;
}

/* Target tracking: out at once, in one at a time after the cooldown. */
static void decide_cpu(struct ctl *c, const struct scaling_group *g, struct view *vs, int n)
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
			group_decide(c, g, want, 0, what,
				     json_pack("{s:s,s:f,s:i,s:i,s:i,s:i,s:i}", "decision", "scale-out", "average_cpu", avg,
					       "target_cpu", g->target_cpu, "counted", counted, "desired_before",
					       g->desired, "desired", want, "max", g->max_size));
		} else if (g->below_since) {
			group_decide(c, g, g->desired, 0, NULL, NULL);
		}
		return;
	}
	if (avg >= g->target_cpu) {
		if (g->below_since)
			group_decide(c, g, g->desired, 0, NULL, NULL);
		return;
	}
	if (!g->below_since) {
		group_decide(c, g, g->desired, now, NULL, NULL);
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
	group_decide(c, g, g->desired - 1, now, what,
		     json_pack("{s:s,s:f,s:i,s:i,s:i,s:i,s:I}", "decision", "scale-in", "average_cpu", avg, "target_cpu",
			       g->target_cpu, "counted", counted, "desired_before", g->desired, "desired", g->desired - 1,
			       "below_ms", (json_int_t)(now - g->below_since)));
}

/* --- the count ------------------------------------------------------------------- */

static bool is_live(const struct view *v)
{
	return !v->gone && (v->m.state == MEMBER_CREATING || v->m.state == MEMBER_ACTIVE);
}

static struct member_rank rank_of(const struct view *v)
{
	return (struct member_rank){v->healthy, v->m.template_gen, v->m.created_at};
}

/* The live member that goes first (see group_member_rank_cmp), among those
 * of an older template only when outdated_only; protected ones never unless
 * the group is being deleted. -1: none. */
static int pick_victim(const struct scaling_group *g, const struct view *vs, int n, bool outdated_only)
{
	int best = -1;
	for (int i = 0; i < n; i++) {
		if (!is_live(&vs[i]) || (vs[i].m.protected_ && !g->deleted))
			continue;
		if (outdated_only && vs[i].m.template_gen >= g->template_gen)
			continue;
		struct member_rank a = rank_of(&vs[i]), b = best >= 0 ? rank_of(&vs[best]) : a;
		if (best < 0 || group_member_rank_cmp(&a, &b) < 0)
			best = i;
	}
	return best;
}

/* A new member, stored before its VM is made. */
static int add_member(struct ctl *c, const struct scaling_group *g, struct group_member *m, struct err *e)
{
	for (int tries = 0; tries < 5; tries++) {
		memset(m, 0, sizeof(*m));
		id_new("gm", m->id);
		snprintf(m->group_id, sizeof(m->group_id), "%s", g->id);
		char rnd[ID_MAX];
		id_new("x", rnd);
		autofree char *name = xasprintf("%s-%.*s", g->name, GROUP_SUFFIX_LEN, rnd + 2);
		set_text(m->name, sizeof(m->name), name);
		m->template_gen = g->template_gen;
		snprintf(m->image, sizeof(m->image), "%s", g->image);
		m->state = MEMBER_CREATING;
		m->created_at = time_now_ms();
		struct vm clash;
		if (store_vm_get(c->st, m->name, &clash, NULL) == 0) {
			vm_free_fields(&clash);   /* a VM of that name that is not ours: another suffix */
			continue;
		}
		if (store_member_insert(c->st, m, e) == 0)
			return 0;
		if (e->kind != ERR_CONFLICT)
			return -1;
	}
	return err_set(e, ERR_CONFLICT, "no free name for a VM of group %s", g->name);
}

static void count_step(struct ctl *c, const struct scaling_group *g, struct view *vs, int n)
{
	int live = 0, outdated = 0, healthy = 0, fresh_unhealthy = 0;
	for (int i = 0; i < n; i++) {
		if (!is_live(&vs[i]))
			continue;
		live++;
		healthy += vs[i].healthy;
		if (vs[i].m.template_gen < g->template_gen && !vs[i].m.protected_)
			outdated++;
		else if (!vs[i].healthy)
			fresh_unhealthy++;
	}
	int want = g->deleted ? 0 : g->desired + (outdated > 0 && g->desired > 0 ? 1 : 0);
	struct err e = {0};
	for (int k = live; k < want; k++) {
		struct group_member m;
		if (add_member(c, g, &m, &e) < 0) {
			log_warn("group %s: %s", g->name, e.msg);
			return;
		}
		autofree char *what = xasprintf("add %s: %d of %d%s", m.name, k + 1, want,
						outdated ? " (rolling update: one VM of the new template)" : "");
		group_note(c, g, what, json_pack("{s:s,s:i,s:i,s:i}", "vm", m.name, "live", k + 1, "want", want,
						 "template", g->template_gen));
		struct view nv = {.m = m};
		struct world none = {0};
		member_step(c, g, &none, &nv);   /* make its VM now */
	}
	for (int k = want; k < live; k++) {
		int i = pick_victim(g, vs, n, false);
		if (i < 0)
			return;   /* only protected ones are left */
		autofree char *what = xasprintf("%s %s: %d live, %d wanted (%s, template %d)",
			 g->deleted ? "delete" : "scale-in", vs[i].m.name, live, want,
			 vs[i].healthy ? "healthy" : "not healthy", vs[i].m.template_gen);
		group_note(c, g, what, json_pack("{s:s,s:i,s:i,s:b,s:i}", "vm", vs[i].m.name, "live", live, "want", want,
						 "healthy", vs[i].healthy, "template", vs[i].m.template_gen));
		member_retire(c, g, &vs[i], g->deleted ? "the group is deleted" : "scale-in");
		healthy -= vs[i].healthy;
	}
	/* Rolling: once every VM of the new template is healthy (and we are at
	 * the surge), one old VM goes, never taking the healthy below min. */
	if (!g->deleted && outdated > 0 && live == want && fresh_unhealthy == 0) {
		int i = pick_victim(g, vs, n, true);
		if (i < 0 || healthy - (vs[i].healthy ? 1 : 0) < g->min_size)
			return;
		autofree char *what = xasprintf("rolling update: %s (template %d) goes, %d healthy left of min %d",
			 vs[i].m.name, vs[i].m.template_gen, healthy - (vs[i].healthy ? 1 : 0), g->min_size);
		group_note(c, g, what, json_pack("{s:s,s:i,s:i,s:i}", "vm", vs[i].m.name, "template",
						 vs[i].m.template_gen, "healthy_left", healthy - (vs[i].healthy ? 1 : 0),
						 "min", g->min_size));
		member_retire(c, g, &vs[i], "rolling update");
	}
}

/* --- the reconciler ------------------------------------------------------------ */

/* One pass over one group; true while something is between states. */
static bool group_step(struct ctl *c, const struct scaling_group *g, const struct world *w)
{
	struct group_member *ms = NULL;
	int n = 0;
	struct err e = {0};
	if (store_member_list(c->st, g->id, &ms, &n, &e) < 0) {
		log_warn("group %s: %s", g->name, e.msg);
		return false;
	}
	struct view *vs = xcalloc((size_t)n + 1, sizeof(*vs));
	for (int i = 0; i < n; i++) {
		vs[i].m = ms[i];
		view_fill(g, w, &vs[i]);
	}
	free(ms);
	for (int i = 0; i < n; i++) {
		member_step(c, g, w, &vs[i]);
		if (!vs[i].gone)
			view_fill(g, w, &vs[i]);
	}
	if (g->target_cpu > 0 && !g->deleted)
		decide_cpu(c, g, vs, n);
	/* hurry while VMs are made, boot or go; not while a balancer's checks
	 * decide (they come at its interval, whatever this loop does) */
	bool busy = false;
	for (int i = 0; i < n; i++)
		busy = busy || (!vs[i].gone && (vs[i].m.state != MEMBER_ACTIVE || !vs[i].ready));
	/* the decision above may have changed desired: count from the store's */
	struct scaling_group now;
	if (store_group_get(c->st, g->id, &now, &e) == 0) {
		count_step(c, &now, vs, n);
		int left = 0;
		for (int i = 0; i < n; i++)
			left += !vs[i].gone;
		if (now.deleted && left == 0) {
			if (store_group_delete(c->st, now.id, &e) < 0)
				log_warn("group %s: %s", now.name, e.msg);
			else
				log_info("group %s: deleted", now.name);
		}
		group_free_fields(&now);
	}
	free(vs);
	return busy;
}

bool groups_reconcile(struct ctl *c)
{
	struct scaling_group *gs = NULL;
	int n = 0;
	struct err e = {0};
	struct ctl_groups *cg = c->groups;
	int64_t changes = store_change_count(c->st), now = time_mono_ms();
	if (cg->none && changes == cg->none_changes && now - cg->none_at < IDLE_LOOK_MS)
		return false;
	if (store_group_list(c->st, &gs, &n, &e) < 0) {
		log_debug("groups: %s", e.msg);   /* the store says it once; no line per tick */
		return false;
	}
	cg->none = n == 0;
	cg->none_changes = changes;
	cg->none_at = now;
	if (n == 0) {
		free(gs);
		return false;
	}
	struct world w = {0};
	bool busy = false;
	if (store_vm_list(c->st, &w.vms, &w.n_vms, &e) < 0 || store_lb_list(c->st, &w.lbs, &w.n_lbs, &e) < 0 ||
	    store_lb_target_list(c->st, NULL, &w.ts, &w.n_ts, &e) < 0)
		log_warn("groups: %s", e.msg);
	else
		for (int i = 0; i < n; i++)
			busy = group_step(c, &gs[i], &w) || busy;
	world_free(&w);
	group_list_free(gs, n);
	pthread_mutex_lock(&cg->mu);
	samples_prune(cg);
	pthread_mutex_unlock(&cg->mu);
	return busy;
}

int groups_init(struct ctl *c, struct err *e)
{
	(void)e;
	c->groups = xcalloc(1, sizeof(*c->groups));
	pthread_mutex_init(&c->groups->mu, NULL);
	return 0;
}

void groups_free(struct ctl *c)
{
	if (!c->groups)
		return;
	pthread_mutex_destroy(&c->groups->mu);
	free(c->groups->s);
	free(c->groups);
	c->groups = NULL;
}

/* --- the API's calls ----------------------------------------------------------- */

static int check_keys(const struct ctl_group_request *r, struct err *e)
{
	if (r->n_ssh_keys > VM_SSH_KEYS_MAX)
		return err_set(e, ERR_INVALID, "ssh_keys has %d keys; the limit is %d", r->n_ssh_keys, VM_SSH_KEYS_MAX);
	for (int i = 0; i < r->n_ssh_keys; i++) {
		const char *k = r->ssh_keys[i];
		if (!k || strchr(k, '\n') || strlen(k) > 16384 ||
		    !(str_starts_with(k, "ssh-") || str_starts_with(k, "ecdsa-") || str_starts_with(k, "sk-")))
			return err_set(e, ERR_INVALID,
				       "ssh_keys[%d] is not an OpenSSH public key (one line starting with ssh-, ecdsa- or "
				       "sk-)",
				       i);
	}
	if (r->user_data && strlen(r->user_data) > VM_USER_DATA_MAX)
		return err_set(e, ERR_INVALID, "user_data is %zu bytes; the limit is %d", strlen(r->user_data),
			       VM_USER_DATA_MAX);
	return 0;
}

static int check_type(struct ctl *c, const char *name, struct err *e)
{
	if (catalog_find(&c->cfg.types, name))
		return 0;
	autofree char *names = catalog_names(&c->cfg.types);
	return err_set(e, ERR_UNPROCESSABLE, "type \"%s\" does not exist; valid types: %s", name, names);
}

static int check_image(struct ctl *c, const char *name, struct err *e)
{
	struct image img;
	if (store_image_get(c->st, name, &img, e) < 0) {
		if (e->kind == ERR_NOT_FOUND)
			return err_set(e, ERR_UNPROCESSABLE, "image \"%s\" does not exist (nubo image list)", name);
		return -1;
	}
	int rc = strcmp(img.state, "ready") == 0
			 ? 0
			 : err_set(e, ERR_UNPROCESSABLE, "image \"%s\" is %s, not ready", img.name, img.state);
	image_free_fields(&img);
	return rc;
}

int ctl_group_create(struct ctl *c, const struct ctl_group_request *r, struct scaling_group *g, struct err *e)
{
	memset(g, 0, sizeof(*g));
	group_defaults(g);
	if (group_name_validate(r->name, e) < 0)
		return -1;
	snprintf(g->name, sizeof(g->name), "%s", r->name);
	id_new("grp", g->id);
	int desired = r->desired >= 0 ? r->desired : r->min_size;
	if (group_sizes_validate(r->min_size, r->max_size, desired, e) < 0)
		return -1;
	g->min_size = r->min_size;
	g->max_size = r->max_size;
	g->desired = desired;
	if (r->target_cpu < 0 || r->target_cpu > 100)
		return err_set(e, ERR_INVALID, "target_cpu %d is out of range: 1 to 100 (percent of a VM's vCPUs), or 0 for none",
			       r->target_cpu);
	g->target_cpu = r->target_cpu;
	if ((r->grace && group_duration_parse(r->grace, "grace", &g->grace_ms, e) < 0) ||
	    (r->warmup && group_duration_parse(r->warmup, "warmup", &g->warmup_ms, e) < 0) ||
	    (r->cooldown && group_duration_parse(r->cooldown, "cooldown", &g->cooldown_ms, e) < 0) ||
	    (r->drain && group_duration_parse(r->drain, "drain", &g->drain_ms, e) < 0))
		return -1;
	if (check_keys(r, e) < 0)
		return -1;
	const char *type = r->type ? r->type : "small", *image = r->image ? r->image : "tiny";
	if (check_type(c, type, e) < 0 || check_image(c, image, e) < 0)
		return -1;
	snprintf(g->type, sizeof(g->type), "%s", type);
	snprintf(g->image, sizeof(g->image), "%s", image);
	struct network net;
	const char *net_ref = r->network ? r->network : "default";
	if (store_network_get(c->st, net_ref, &net, e) < 0) {
		if (e->kind == ERR_NOT_FOUND)
			err_prefix(e, "network \"%s\"", net_ref);
		return -1;
	}
	snprintf(g->network, sizeof(g->network), "%s", net.name);
	struct vm_firewall fws[VM_FIREWALLS_MAX];
	int n_fws = 0;
	const char *dflt[] = {"default"};
	if (firewalls_resolve(c, r->n_firewalls ? r->firewalls : dflt, r->n_firewalls ? r->n_firewalls : 1, "firewalls",
			      fws, &n_fws, e) < 0)
		return -1;
	struct sbuf fwb = {0};
	for (int i = 0; i < n_fws; i++)
		sbuf_addf(&fwb, "%s%s", i ? "," : "", fws[i].name);
	autofree char *fwtext = sbuf_take(&fwb);
	if (strlen(fwtext) >= sizeof(g->firewalls))
		return err_set(e, ERR_INVALID, "firewalls \"%s\" is too long: at most %zu characters in all", fwtext,
			       sizeof(g->firewalls) - 1);
	snprintf(g->firewalls, sizeof(g->firewalls), "%s", fwtext);
	if (r->lb) {
		if (group_lb_parse(r->lb, "lb", g->lb, &g->lb_port, e) < 0)
			return -1;
		struct lb lb;
		if (store_lb_get(c->st, g->lb, &lb, e) < 0) {
			if (e->kind == ERR_NOT_FOUND)
				err_prefix(e, "lb \"%s\"", r->lb);
			return -1;
		}
		if (strcmp(lb.network_id, net.id) != 0)
			return err_set(e, ERR_UNPROCESSABLE,
				       "lb \"%s\" is on network %s, and the group's VMs would be on %s: give --network %s",
				       r->lb, lb.network, net.name, lb.network);
	}
	struct sbuf keys = {0};
	for (int i = 0; i < r->n_ssh_keys; i++)
		sbuf_addf(&keys, "%s%s", i ? "\n" : "", r->ssh_keys[i]);
	g->ssh_keys = sbuf_take(&keys);
	g->ssh_key_file = r->ssh_key_file ? xstrdup(r->ssh_key_file) : NULL;
	g->user_data = r->user_data ? xstrdup(r->user_data) : NULL;
	g->created_at = time_now_ms();
	if (store_group_insert(c->st, g, e) < 0) {
		group_free_fields(g);
		return -1;
	}
	log_info("group %s: created, %d VMs of %s (%s) wanted", g->name, g->desired, g->image, g->type);
	ctl_kick(c);
	return 0;
}

/* Reads the group in a write transaction, lets change() alter it, writes it. */
static int group_change(struct ctl *c, const char *ref, int (*change)(struct ctl *c, struct scaling_group *g, void *arg,
								       struct err *e),
			void *arg, struct scaling_group *out, struct err *e)
{
	memset(out, 0, sizeof(*out));
	if (store_tx_begin(c->st, e) < 0)
		return -1;
	int rc = store_group_get(c->st, ref, out, e);
	if (rc == 0 && out->deleted)
		rc = err_set(e, ERR_CONFLICT, "group %s is being deleted", out->name);
	if (rc == 0)
		rc = change(c, out, arg, e);
	if (rc == 0)
		rc = store_group_update(c->st, out, e);
	if (store_tx_end(c->st, rc == 0, rc == 0 ? e : NULL) < 0 || rc < 0) {
		group_free_fields(out);
		return -1;
	}
	ctl_kick(c);
	return 0;
}

struct sizes {
	int min_size, max_size, desired, target_cpu;
};

static int change_sizes(struct ctl *c, struct scaling_group *g, void *arg, struct err *e)
{
	(void)c;
	const struct sizes *s = arg;
	int min_size = s->min_size >= 0 ? s->min_size : g->min_size;
	int max_size = s->max_size >= 0 ? s->max_size : g->max_size;
	int desired = s->desired;
	if (desired < 0) {   /* kept, but within the new bounds */
		desired = g->desired < min_size ? min_size : g->desired;
		desired = desired > max_size ? max_size : desired;
	}
	if (group_sizes_validate(min_size, max_size, desired, e) < 0)
		return -1;
	if (s->target_cpu > 100)
		return err_set(e, ERR_INVALID, "target_cpu %d is out of range: 1 to 100 (percent of a VM's vCPUs), or 0 for none",
			       s->target_cpu);
	g->min_size = min_size;
	g->max_size = max_size;
	if (desired != g->desired)
		g->below_since = 0;
	g->desired = desired;
	if (s->target_cpu >= 0)
		g->target_cpu = s->target_cpu;
	return 0;
}

int ctl_group_set(struct ctl *c, const char *ref, int min_size, int max_size, int desired, int target_cpu,
		  struct scaling_group *out, struct err *e)
{
	struct sizes s = {min_size, max_size, desired, target_cpu};
	if (group_change(c, ref, change_sizes, &s, out, e) < 0)
		return -1;
	log_info("group %s: min %d, max %d, desired %d", out->name, out->min_size, out->max_size, out->desired);
	return 0;
}

struct tmpl {
	const char *image, *type;
};

static int change_template(struct ctl *c, struct scaling_group *g, void *arg, struct err *e)
{
	const struct tmpl *t = arg;
	if (!t->image && !t->type)
		return err_set(e, ERR_INVALID, "give image or type: what the group's new VMs are made from");
	if ((t->type && check_type(c, t->type, e) < 0) || (t->image && check_image(c, t->image, e) < 0))
		return -1;
	bool same = (!t->image || strcmp(t->image, g->image) == 0) && (!t->type || strcmp(t->type, g->type) == 0);
	if (same)
		return 0;   /* nothing new: no refresh */
	if (t->image)
		snprintf(g->image, sizeof(g->image), "%s", t->image);
	if (t->type)
		snprintf(g->type, sizeof(g->type), "%s", t->type);
	g->template_gen++;
	return 0;
}

int ctl_group_update(struct ctl *c, const char *ref, const char *image, const char *type, struct scaling_group *out,
		     struct err *e)
{
	struct tmpl t = {image, type};
	if (group_change(c, ref, change_template, &t, out, e) < 0)
		return -1;
	log_info("group %s: template %d (%s, %s)", out->name, out->template_gen, out->image, out->type);
	return 0;
}

static int change_deleted(struct ctl *c, struct scaling_group *g, void *arg, struct err *e)
{
	(void)c, (void)arg, (void)e;
	g->deleted = true;
	return 0;
}

int ctl_group_delete(struct ctl *c, const char *ref, struct scaling_group *out, struct err *e)
{
	struct scaling_group g;
	if (store_group_get(c->st, ref, &g, e) < 0)
		return -1;
	bool already = g.deleted;
	if (already) {
		*out = g;
		return 0;
	}
	group_free_fields(&g);
	if (group_change(c, ref, change_deleted, NULL, out, e) < 0)
		return -1;
	log_info("group %s: delete accepted", out->name);
	return 0;
}

static json_t *show_json(struct ctl *c, const struct scaling_group *g, struct err *e)
{
	struct group_member *ms = NULL;
	int n = 0;
	if (store_member_list(c->st, g->id, &ms, &n, e) < 0)
		return NULL;
	struct world w = {0};
	if (store_vm_list(c->st, &w.vms, &w.n_vms, e) < 0 || store_lb_list(c->st, &w.lbs, &w.n_lbs, e) < 0 ||
	    store_lb_target_list(c->st, NULL, &w.ts, &w.n_ts, e) < 0) {
		world_free(&w);
		free(ms);
		return NULL;
	}
	json_t *j = group_to_json(g), *arr = json_array();
	int healthy = 0, live = 0;
	for (int i = 0; i < n; i++) {
		struct view v = {.m = ms[i]};
		view_fill(g, &w, &v);
		json_t *mj = group_member_to_json(&ms[i]);
		json_object_set_new(mj, "vm_state", json_string(v.vm ? vm_state_name(v.vm->state) : "none"));
		json_object_set_new(mj, "ip", json_string(v.vm ? vm_ip(v.vm) : ""));
		json_object_set_new(mj, "healthy", json_boolean(v.healthy));
		if (v.t)
			json_object_set_new(mj, "lb_health", json_string(lb_health_name(v.t->health)));
		/* the last CPU reading of a VM that counts toward the target */
		pthread_mutex_lock(&c->groups->mu);
		for (int k = 0; v.vm && k < c->groups->n; k++)
			if (strcmp(c->groups->s[k].vm_id, v.vm->id) == 0 && c->groups->s[k].have)
				json_object_set_new(mj, "cpu", json_real(c->groups->s[k].pct));
		pthread_mutex_unlock(&c->groups->mu);
		json_array_append_new(arr, mj);
		healthy += v.healthy;
		live += is_live(&v);
	}
	json_object_set_new(j, "members", arr);
	json_object_set_new(j, "live", json_integer(live));
	json_object_set_new(j, "healthy", json_integer(healthy));
	world_free(&w);
	free(ms);
	return j;
}

int ctl_group_show(struct ctl *c, const char *ref, json_t **out, struct err *e)
{
	struct scaling_group g;
	if (store_group_get(c->st, ref, &g, e) < 0)
		return -1;
	*out = show_json(c, &g, e);
	group_free_fields(&g);
	return *out ? 0 : -1;
}

int ctl_group_list(struct ctl *c, json_t **out, struct err *e)
{
	struct scaling_group *gs = NULL;
	int n = 0;
	if (store_group_list(c->st, &gs, &n, e) < 0)
		return -1;
	json_t *arr = json_array();
	int rc = 0;
	for (int i = 0; i < n && rc == 0; i++) {
		json_t *j = show_json(c, &gs[i], e);
		if (!j)
			rc = -1;
		else
			json_array_append_new(arr, j);
	}
	group_list_free(gs, n);
	if (rc < 0) {
		json_decref(arr);
		return -1;
	}
	*out = json_pack("{s:o}", "groups", arr);
	return 0;
}

int ctl_vm_protect(struct ctl *c, const char *vm_ref, bool on, struct group_member *out, struct err *e)
{
	if (store_tx_begin(c->st, e) < 0)
		return -1;
	struct vm vm;
	int rc = store_vm_get(c->st, vm_ref, &vm, e);
	if (rc == 0) {
		rc = store_member_get(c->st, vm.name, out, e);
		if (rc < 0 && e->kind == ERR_NOT_FOUND)
			err_set(e, ERR_UNPROCESSABLE,
				"VM %s belongs to no group: protection only exempts a group's VM from scale-in", vm.name);
		vm_free_fields(&vm);
	}
	if (rc == 0 && out->protected_ != on) {
		out->protected_ = on;
		rc = store_member_update(c->st, out, e);
	}
	if (store_tx_end(c->st, rc == 0, rc == 0 ? e : NULL) < 0 || rc < 0)
		return -1;
	log_info("vm %s: %s", out->name, on ? "protected from scale-in" : "no longer protected from scale-in");
	return 0;
}
