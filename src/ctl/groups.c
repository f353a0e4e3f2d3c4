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
 *     VMs that are ready and warmed up (target tracking);
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
 * Several nubods on one database all run this reconciler, and each group
 * is acted on by one of them at a time: the holder of the group's lease
 * (store_group_lease, a row of the store taken and renewed in write
 * transactions). A lease lasts host_down_after_s and is renewed once a third
 * of it is gone; a nubod that could not renew stops acting when two thirds
 * are gone, a third before any other may take it. A nubod that stops gives
 * its leases up; one that dies loses them when they lapse. Adding a member,
 * the one step that could make a VM too many, also renews the lease in its
 * own transaction and is refused without it, so even clocks that disagree
 * by more than a third of a lease cannot double a group.
 *
 * The CPU samples and target tracking are in groups-cpu.c, the API's calls
 * in groups-api.c.
 */
#include "ctl/groups-priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/str.h"
#include "util/timeutil.h"

/* A member whose VM could not be made is tried again after this long. */
#define CREATE_RETRY_MS 10000
/* With no group, how long the store is not asked again unless it changed. */
#define IDLE_LOOK_MS 5000

/* --- the lease ------------------------------------------------------------------ */

struct lease_seen {
	char group_id[ID_MAX];
	char holder[NAME_MAX_LEN + 1];   /* as last seen: this host or another ("": none) */
	int64_t until;                   /* wall ms: the holder's lease runs until then */
	int64_t look_at;                 /* wall ms: when to ask the store again */
	bool seen;                       /* the group was listed this tick */
};

static int64_t lease_ms(struct ctl *c)
{
	return (int64_t)(c->cfg.host_down_after_s > 0 ? c->cfg.host_down_after_s : 30) * 1000;
}

static struct lease_seen *lease_find(struct ctl_groups *cg, const char *group_id)
{
	for (int i = 0; i < cg->n_leases; i++)
		if (strcmp(cg->leases[i].group_id, group_id) == 0)
			return &cg->leases[i];
	cg->leases = xrealloc(cg->leases, sizeof(*cg->leases) * (size_t)(cg->n_leases + 1));
	struct lease_seen *l = &cg->leases[cg->n_leases++];
	memset(l, 0, sizeof(*l));
	snprintf(l->group_id, sizeof(l->group_id), "%s", group_id);
	return l;
}

/* Takes or renews g's lease now (in the caller's transaction, if any), and
 * records what the store says. */
static int lease_take(struct ctl *c, const struct scaling_group *g, struct lease_seen *l, struct err *e)
{
	int64_t now = time_now_ms(), span = lease_ms(c);
	struct group_lease gl;
	if (store_group_lease(c->st, g->id, c->host_name, now, now + span, &gl, e) < 0)
		return -1;
	if (strcmp(gl.host, l->holder) != 0) {
		if (gl.held)
			log_info("group %s: this host acts on it now (its lease, renewed every %lld s)", g->name,
				 (long long)(span / 3000));
		else
			log_info("group %s: host %s acts on it", g->name, gl.host[0] ? gl.host : "(none)");
	}
	snprintf(l->holder, sizeof(l->holder), "%s", gl.host);
	l->until = gl.until;
	/* Ours: renewed once a third is gone. Another's: asked again when it
	 * would lapse, or after a third of a lease if that is sooner. */
	l->look_at = gl.held ? gl.until - span * 2 / 3 : (gl.until - now < span / 3 ? gl.until : now + span / 3);
	return 0;
}

static bool lease_ours(struct ctl *c, const struct lease_seen *l)
{
	return strcmp(l->holder, c->host_name) == 0 && l->until - time_now_ms() > lease_ms(c) / 3;
}

/* Whether this nubod acts on g this tick: it holds g's lease, renewed when due. */
static bool lease_held(struct ctl *c, const struct scaling_group *g)
{
	struct lease_seen *l = lease_find(c->groups, g->id);
	l->seen = true;
	struct err e = {0};
	if (time_now_ms() >= l->look_at && lease_take(c, g, l, &e) < 0)
		log_warn("group %s: its lease: %s", g->name, e.msg);
	return lease_ours(c, l);
}

static void leases_prune(struct ctl_groups *cg)
{
	int k = 0;
	for (int i = 0; i < cg->n_leases; i++)
		if (cg->leases[i].seen) {
			cg->leases[i].seen = false;
			cg->leases[k++] = cg->leases[i];
		}
	cg->n_leases = k;
}

/* --- what a tick reads --------------------------------------------------------- */

int groups_world_load(struct ctl *c, struct world *w, struct err *e)
{
	memset(w, 0, sizeof(*w));
	if (store_vm_list(c->st, &w->vms, &w->n_vms, e) < 0 || store_lb_list(c->st, &w->lbs, &w->n_lbs, e) < 0 ||
	    store_lb_target_list(c->st, NULL, &w->ts, &w->n_ts, e) < 0) {
		groups_world_free(w);
		return -1;
	}
	return 0;
}

void groups_world_free(struct world *w)
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

/* A balancer being deleted takes no new target, and its health says nothing. */
static bool lb_exists(const struct world *w, const char *name)
{
	for (int i = 0; i < w->n_lbs; i++)
		if (strcmp(w->lbs[i].name, name) == 0)
			return !w->lbs[i].deleted;
	return false;
}

static bool vm_ready(const struct vm *vm)
{
	return vm && vm->state == VM_RUNNING && vm->power == POWER_RUNNING && phases_has(&vm->boot, "ssh-ready");
}

void groups_view_fill(const struct scaling_group *g, const struct world *w, struct view *v)
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

void groups_decide(struct ctl *c, const struct scaling_group *seen, int desired, int64_t below_since, const char *what,
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

/* --- the count ------------------------------------------------------------------- */

bool groups_view_live(const struct view *v)
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
		if (!groups_view_live(&vs[i]) || (vs[i].m.protected_ && !g->deleted))
			continue;
		if (outdated_only && vs[i].m.template_gen >= g->template_gen)
			continue;
		struct member_rank a = rank_of(&vs[i]), b = best >= 0 ? rank_of(&vs[best]) : a;
		if (best < 0 || group_member_rank_cmp(&a, &b) < 0)
			best = i;
	}
	return best;
}

/* A new member, stored before its VM is made, in the transaction that
 * renews the group's lease: refused unless this nubod holds it. */
static int insert_member(struct ctl *c, const struct scaling_group *g, const struct group_member *m, struct err *e)
{
	if (store_tx_begin(c->st, e) < 0)
		return -1;
	struct lease_seen *l = lease_find(c->groups, g->id);
	int rc = lease_take(c, g, l, e);
	if (rc == 0 && !lease_ours(c, l))
		rc = err_set(e, ERR_CONFLICT, "host %s holds the group's lease now; it adds the VMs",
			     l->holder[0] ? l->holder : "(none)");
	if (rc == 0)
		rc = store_member_insert(c->st, m, e);
	if (store_tx_end(c->st, rc == 0, rc == 0 ? e : NULL) < 0)
		return -1;
	return rc;
}

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
		if (insert_member(c, g, m, e) == 0)
			return 0;
		if (e->kind != ERR_CONFLICT || !lease_ours(c, lease_find(c->groups, g->id)))
			return -1;
	}
	return err_set(e, ERR_CONFLICT, "no free name for a VM of group %s", g->name);
}

static void count_step(struct ctl *c, const struct scaling_group *g, struct view *vs, int n)
{
	int live = 0, outdated = 0, healthy = 0, fresh_unhealthy = 0;
	for (int i = 0; i < n; i++) {
		if (!groups_view_live(&vs[i]))
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
		groups_view_fill(g, w, &vs[i]);
	}
	free(ms);
	for (int i = 0; i < n; i++) {
		member_step(c, g, w, &vs[i]);
		if (!vs[i].gone)
			groups_view_fill(g, w, &vs[i]);
	}
	if (g->target_cpu > 0 && !g->deleted)
		groups_cpu_decide(c, g, vs, n);
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
	/* Only the groups whose lease this nubod holds. */
	int mine = 0;
	for (int i = 0; i < n; i++)
		if (lease_held(c, &gs[i]))
			gs[mine++] = gs[i];
		else
			group_free_fields(&gs[i]);
	leases_prune(cg);
	struct world w = {0};
	bool busy = false;
	if (mine > 0 && groups_world_load(c, &w, &e) < 0)
		log_warn("groups: %s", e.msg);
	else
		for (int i = 0; i < mine; i++)
			busy = group_step(c, &gs[i], &w) || busy;
	groups_world_free(&w);
	group_list_free(gs, mine);
	groups_cpu_prune(c);
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
	/* Another nubod takes over at its next look, not when the leases lapse. */
	struct err e = {0};
	for (int i = 0; i < c->groups->n_leases; i++)
		if (strcmp(c->groups->leases[i].holder, c->host_name) == 0) {
			if (store_group_lease_release(c->st, c->host_name, &e) < 0)
				log_warn("groups: giving up their leases: %s", e.msg);
			break;
		}
	pthread_mutex_destroy(&c->groups->mu);
	free(c->groups->leases);
	free(c->groups->s);
	free(c->groups);
	c->groups = NULL;
}

