/*
 * lbs: load balancers. The API's calls write specs (a balancer, its
 * listeners and targets) and wait for the ruleset that carries them
 * (rules.c renders the DNAT); the health checker runs on a thread of its
 * own and writes each target's health, which moves it in or out of the
 * rotation at the next apply.
 *
 * The checker's one idea: every due check of every balancer runs in one
 * batch (host/health.c: non-blocking sockets, one poll()), then the thread
 * sleeps until the next check is due. Streaks (successes or failures in a
 * row) live in memory only; a restarted nubod starts counting again from the
 * stored health, so a restart never flaps a target.
 *
 * Draining: a removed target (by the API, a group, or its VM's delete) is
 * first written draining with its deadline, which takes it out of the
 * rotation at the next apply; the checker thread, at the deadline, cuts its
 * connections in the host's conntrack table and only then deletes the row.
 * Both steps run again harmlessly after a crash between them, and the
 * deadline is in the store, so a restarted nubod cuts on time.
 *
 * Deleting a balancer reuses the drain: one transaction marks it deleted
 * (the rules drop it) and drains every target with a deadline of now; the
 * checkers cut them and delete their rows as above, and the balancer's row
 * goes once it has no target left. Every step starts from what the store
 * says, so a nubod killed between any two finishes after its restart.
 */
#include "ctl/ctl-priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/health.h"
#include "util/crashpoint.h"
#include "util/log.h"
#include "util/str.h"
#include "util/timeutil.h"

/* The checker sleeps at most this long, so a new balancer is checked soon. */
#define LB_IDLE_MS 1000

struct lb_track {
	char target_id[ID_MAX];
	struct lb_streak streak;
	int64_t next_at;       /* monotonic ms */
	bool seen;             /* still a target at the last look */
	bool cut;              /* draining: its connections are cut on this host */
};

struct lb_count {
	char target_id[ID_MAX];
	int n;
};

struct ctl_lbs {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool quit, started, kicked;
	struct lb_count *counts;  /* under mu: the last pass's connection counts */
	int n_counts;
	int64_t counted_at;       /* checker thread only: monotonic ms */
	struct lb_track *track;   /* checker thread only */
	int n_track;
};

/* --- the API's calls ------------------------------------------------------- */

/* The VM's NIC on the network, or ERR_UNPROCESSABLE naming the target. */
static int target_resolve(struct ctl *c, const struct lb *lb, const char *spec, const char *field,
			  struct lb_target *out, struct err *e)
{
	char vm_name[NAME_MAX_LEN + 1];
	uint16_t port = 0;
	if (lb_target_parse(spec, field, vm_name, &port, e) < 0)
		return -1;
	struct vm vm = {0};
	if (store_vm_get(c->st, vm_name, &vm, e) < 0) {
		if (e->kind == ERR_NOT_FOUND)
			err_prefix(e, "%s \"%s\"", field, spec);
		return -1;
	}
	bool on = false;
	for (int k = 0; k < vm.n_nics; k++)
		on = on || strcmp(vm.nics[k].network_id, lb->network_id) == 0;
	int rc = 0;
	if (!on || vm.power == POWER_DELETED)
		rc = err_set(e, ERR_UNPROCESSABLE, "%s \"%s\": VM %s has no address on network %s, where the balancer is",
			     field, spec, vm.name, lb->network);
	if (rc == 0) {
		memset(out, 0, sizeof(*out));
		id_new("lbt", out->id);
		snprintf(out->lb_id, sizeof(out->lb_id), "%s", lb->id);
		snprintf(out->vm_id, sizeof(out->vm_id), "%s", vm.id);
		snprintf(out->vm_name, sizeof(out->vm_name), "%s", vm.name);
		out->port = port;
		if (port)
			snprintf(out->name, sizeof(out->name), "%s/%s:%u", lb->name, vm.name, port);
		else
			snprintf(out->name, sizeof(out->name), "%s/%s", lb->name, vm.name);
		out->health = LB_UNKNOWN;
		out->created_at = time_now_ms();
	}
	vm_free_fields(&vm);
	return rc;
}

static bool same_target(const struct lb_target *a, const struct lb_target *b)
{
	return strcmp(a->vm_id, b->vm_id) == 0 && a->port == b->port;
}

struct port_question {
	uint16_t port;
	bool busy;
};

/* On the reconciler thread (ctl_ask): whether a program on the host listens there. */
static int ask_port(struct ctl *c, void *arg, struct err *e)
{
	struct port_question *q = arg;
	return c->host->port_in_use(PROTO_TCP, q->port, &q->busy, e);
}

/* A host port for listener i: no program of the host listens on it. */
static int host_port_free_on_host(struct ctl *c, uint16_t port, const char *spec, int i, struct err *e)
{
	struct port_question q = {.port = port};
	if (ctl_ask(c, ask_port, &q, e) < 0)
		return -1;
	if (q.busy)
		return err_set(e, ERR_CONFLICT,
			       "listen[%d] \"%s\": host port %u/tcp is in use by a program on the host; pick another port",
			       i, spec, port);
	return 0;
}

/* A host port for listener i: neither forwarded (nubo vm expose) nor a
 * listener of another balancer on the host's ports. In the caller's
 * transaction, which then writes the balancer. */
static int host_port_not_held(struct ctl *c, uint16_t port, const char *spec, int i, const char *except_lb,
			      struct err *e)
{
	char who[200];
	if (store_host_port_owner(c->st, port, except_lb, true, who, sizeof(who), e) < 0)
		return -1;
	if (who[0])
		return err_set(e, ERR_CONFLICT, "listen[%d] \"%s\": host port %u is taken by %s; pick another port", i,
			       spec, port, who);
	return 0;
}

static int spec_fill(struct ctl *c, const struct ctl_lb_request *r, struct lb *lb, struct err *e)
{
	memset(lb, 0, sizeof(*lb));
	lb_defaults(lb);
	if (vm_name_validate(r->name, "name", e) < 0)
		return -1;
	snprintf(lb->name, sizeof(lb->name), "%s", r->name);
	id_new("lb", lb->id);
	if ((r->check && lb_check_parse(r->check, "check", lb, e) < 0) ||
	    (r->algorithm && lb_algorithm_parse(r->algorithm, "algorithm", &lb->algorithm, e) < 0) ||
	    (r->interval && lb_duration_parse(r->interval, "interval", &lb->interval_ms, e) < 0) ||
	    (r->timeout && lb_duration_parse(r->timeout, "timeout", &lb->timeout_ms, e) < 0))
		return -1;
	if (r->drain && lb_drain_parse(r->drain, "drain", &lb->drain_ms, e) < 0)
		return -1;
	lb->host_port = r->host_port;
	if (r->rise >= 0)
		lb->rise = r->rise;
	if (r->fall >= 0)
		lb->fall = r->fall;
	if (lb_validate(lb, e) < 0)
		return -1;
	if (r->n_listen < 1 || r->n_listen > LB_LISTENERS_MAX)
		return err_set(e, ERR_INVALID, "listen has %d ports: give 1 to %d (PORT or PORT:TARGET_PORT)", r->n_listen,
			       LB_LISTENERS_MAX);
	if (r->n_targets > LB_TARGETS_MAX)
		return err_set(e, ERR_INVALID, "targets has %d entries: at most %d", r->n_targets, LB_TARGETS_MAX);
	struct network net;
	const char *net_ref = r->network ? r->network : "default";
	if (store_network_get(c->st, net_ref, &net, e) < 0) {
		if (e->kind == ERR_NOT_FOUND)
			err_prefix(e, "network \"%s\"", net_ref);
		return -1;
	}
	if (net.deleted)
		return err_set(e, ERR_NOT_FOUND, "network \"%s\" is being deleted", net_ref);
	snprintf(lb->network_id, sizeof(lb->network_id), "%s", net.id);
	snprintf(lb->network, sizeof(lb->network), "%s", net.name);
	lb->created_at = time_now_ms();
	return 0;
}

int ctl_lb_create(struct ctl *c, const struct ctl_lb_request *r, struct lb *out, struct err *e)
{
	struct lb_listener ls[LB_LISTENERS_MAX];
	struct lb_target *ts = NULL;
	int rc = spec_fill(c, r, out, e);
	for (int i = 0; rc == 0 && i < r->n_listen; i++) {
		char field[32];
		snprintf(field, sizeof(field), "listen[%d]", i);
		rc = lb_listener_parse(r->listen[i], field, &ls[i], e);
		snprintf(ls[i].lb_id, sizeof(ls[i].lb_id), "%s", out->id);
		for (int k = 0; rc == 0 && k < i; k++)
			if (ls[k].port == ls[i].port)
				rc = err_set(e, ERR_INVALID, "%s \"%s\": port %u is already a listener", field, r->listen[i],
					     ls[i].port);
	}
	ts = xcalloc((size_t)r->n_targets + 1, sizeof(*ts));
	for (int i = 0; rc == 0 && i < r->n_targets; i++) {
		char field[32];
		snprintf(field, sizeof(field), "targets[%d]", i);
		rc = target_resolve(c, out, r->targets[i], field, &ts[i], e);
		for (int k = 0; rc == 0 && k < i; k++)
			if (same_target(&ts[k], &ts[i]))
				rc = err_set(e, ERR_INVALID, "%s \"%s\" is given twice", field, r->targets[i]);
	}
	for (int i = 0; rc == 0 && out->host_port && i < r->n_listen; i++)
		rc = host_port_free_on_host(c, ls[i].port, r->listen[i], i, e);
	/* The VIP is admitted like a VM's address: picked and written in one
	 * transaction, so no VM (or other balancer) can take it meanwhile; so
	 * are host ports, against port forwards and other balancers. */
	if (rc == 0 && (rc = store_tx_begin(c->st, e)) == 0) {
		struct network net;
		bool ok = true;
		struct lb going;
		struct err ignored = {0};
		if (store_lb_get(c->st, out->name, &going, &ignored) == 0 && going.deleted)
			ok = err_set(e, ERR_CONFLICT,
				     "load balancer %s is being deleted: its connections are being cut; create it again "
				     "once it is gone (nubo lb show %s)",
				     going.name, going.name) == 0;
		for (int i = 0; ok && out->host_port && i < r->n_listen; i++)
			ok = host_port_not_held(c, ls[i].port, r->listen[i], i, NULL, e) == 0;
		ok = ok && store_network_get(c->st, out->network_id, &net, e) == 0 &&
		     sched_pick_ip(c, &net, out->vip, e) == 0 &&
		     store_lb_insert(c->st, out, ls, r->n_listen, ts, r->n_targets, e) == 0;
		rc = store_tx_end(c->st, ok, ok ? e : NULL) < 0 || !ok ? -1 : 0;
	}
	free(ts);
	if (rc < 0)
		return -1;
	log_info("lb %s: created on %s at %s", out->name, out->network, out->vip);
	ctl_rules_changed_wait(c);
	return 0;
}

int ctl_lb_delete(struct ctl *c, const char *ref, struct lb *out, bool *gone, struct err *e)
{
	*gone = false;
	if (store_lb_get(c->st, ref, out, e) < 0 || store_lb_mark_deleted(c->st, out->id, time_now_ms(), gone, e) < 0)
		return -1;
	out->deleted = true;
	if (*gone)
		log_info("lb %s: deleted (it had no target)", out->name);
	else
		log_info("lb %s: deleting: out of the rules; its targets' connections are cut next", out->name);
	crashpoint("lb.delete.marked");
	ctl_rules_changed_wait(c);
	lbs_kick(c);
	return 0;
}

/* The balancer ref, or ERR_CONFLICT if it is being deleted. */
static int lb_get_live(struct ctl *c, const char *ref, struct lb *out, struct err *e)
{
	if (store_lb_get(c->st, ref, out, e) < 0)
		return -1;
	if (out->deleted)
		return err_set(e, ERR_CONFLICT, "load balancer %s is being deleted", out->name);
	return 0;
}

/* A draining target back in service. */
static int target_activate(struct ctl *c, struct lb_target *t, struct err *e)
{
	t->state = LB_ACTIVE;
	t->drain_until = 0;
	return store_lb_target_set_state(c->st, t, e);
}

void lbs_kick(struct ctl *c)
{
	struct ctl_lbs *l = c->lbs;
	if (!l)
		return;
	pthread_mutex_lock(&l->mu);
	l->kicked = true;
	pthread_cond_signal(&l->cv);
	pthread_mutex_unlock(&l->mu);
}

/* Takes the target out of the rotation and starts its drain: written
 * before anything acts on it, so the ruleset drops it at the next apply
 * and the checker cuts its connections at the deadline, across restarts. */
static int target_drain(struct ctl *c, const struct lb *lb, struct lb_target *t, struct err *e)
{
	if (t->state == LB_DRAINING)
		return 0;
	t->state = LB_DRAINING;
	t->drain_until = time_now_ms() + lb->drain_ms;
	if (store_lb_target_set_state(c->st, t, e) < 0)
		return -1;
	log_info("lb %s: target %s drains for %d ms", lb->name, t->name, lb->drain_ms);
	return 0;
}

int ctl_lb_set(struct ctl *c, const char *ref, const char *drain, struct lb *out, struct err *e)
{
	if (lb_get_live(c, ref, out, e) < 0)
		return -1;
	if (drain && lb_drain_parse(drain, "drain", &out->drain_ms, e) < 0)
		return -1;
	if (store_lb_set_drain(c->st, out, e) < 0)
		return -1;
	log_info("lb %s: drain time %d ms", out->name, out->drain_ms);
	return 0;
}

int ctl_lb_target_add(struct ctl *c, const char *ref, const char *target, struct lb_target *out, struct err *e)
{
	struct lb lb;
	struct lb_target *ts = NULL;
	int n = 0;
	if (lb_get_live(c, ref, &lb, e) < 0 || target_resolve(c, &lb, target, "target", out, e) < 0 ||
	    store_lb_target_list(c->st, lb.id, &ts, &n, e) < 0)
		return -1;
	int rc = n >= LB_TARGETS_MAX ? err_set(e, ERR_CONFLICT, "lb %s has %d targets already: the most it takes",
					       lb.name, n)
				     : 0;
	int draining = -1;
	for (int i = 0; rc == 0 && i < n; i++)
		if (same_target(&ts[i], out) && ts[i].state == LB_DRAINING)
			draining = i;
		else if (same_target(&ts[i], out))
			rc = err_set(e, ERR_CONFLICT, "target \"%s\" is already a target of lb %s", target, lb.name);
	if (rc == 0 && draining >= 0) {
		/* back before its drain ended: it keeps its connections and health */
		*out = ts[draining];
		rc = target_activate(c, out, e);
	}
	free(ts);
	if (rc < 0 || (draining < 0 && store_lb_target_insert(c->st, out, e) < 0))
		return -1;
	log_info("lb %s: target %s added", lb.name, out->name);
	ctl_rules_changed_wait(c);
	return 0;
}

int ctl_lb_target_remove(struct ctl *c, const char *ref, const char *target, struct err *e)
{
	struct lb lb;
	struct lb_target *ts = NULL, want;
	int n = 0;
	if (lb_get_live(c, ref, &lb, e) < 0 || target_resolve(c, &lb, target, "target", &want, e) < 0 ||
	    store_lb_target_list(c->st, lb.id, &ts, &n, e) < 0)
		return -1;
	int found = -1;
	for (int i = 0; i < n && found < 0; i++)
		if (same_target(&ts[i], &want) && ts[i].state == LB_ACTIVE)
			found = i;
	int rc = found < 0 ? err_set(e, ERR_NOT_FOUND, "target \"%s\" is not a target of lb %s%s", target, lb.name,
				     n ? " (or it is draining already)" : "")
			   : target_drain(c, &lb, &ts[found], e);
	free(ts);
	if (rc < 0)
		return -1;
	log_info("lb %s: target %s removed", lb.name, want.name);
	ctl_rules_changed_wait(c);
	lbs_kick(c);
	return 0;
}

/* --- for groups: targets that come and go without a caller waiting --------- */

int lbs_target_join(struct ctl *c, const char *lb_ref, const char *vm_name, int port, struct lb_target *out,
		    struct err *e)
{
	struct lb lb;
	struct lb_target *ts = NULL;
	int n = 0;
	char spec[NAME_MAX_LEN + 8];
	if (port)
		snprintf(spec, sizeof(spec), "%s:%d", vm_name, port);
	else
		snprintf(spec, sizeof(spec), "%s", vm_name);
	if (lb_get_live(c, lb_ref, &lb, e) < 0 || target_resolve(c, &lb, spec, "target", out, e) < 0 ||
	    store_lb_target_list(c->st, lb.id, &ts, &n, e) < 0)
		return -1;
	/* there already (a join cut off before the caller recorded it): that one */
	int found = -1;
	for (int i = 0; i < n && found < 0; i++)
		if (same_target(&ts[i], out))
			found = i;
	if (found >= 0)
		*out = ts[found];
	free(ts);
	if (found >= 0 && out->state == LB_DRAINING && target_activate(c, out, e) < 0)
		return -1;
	if (found < 0 && n >= LB_TARGETS_MAX)
		return err_set(e, ERR_CONFLICT, "lb %s has %d targets already: the most it takes", lb.name, n);
	if (found < 0 && store_lb_target_insert(c->st, out, e) < 0)
		return -1;
	if (found < 0)
		log_info("lb %s: target %s joined", lb.name, out->name);
	ctl_rules_changed(c);
	return 0;
}

int lbs_target_leave(struct ctl *c, const char *target_id, struct err *e)
{
	struct lb_target *ts = NULL;
	int n = 0, rc = -1;
	if (store_lb_target_list(c->st, NULL, &ts, &n, e) < 0)
		return -1;
	for (int i = 0; i < n && rc < 0; i++) {
		struct lb lb;
		if (strcmp(ts[i].id, target_id) != 0)
			continue;
		if (store_lb_get(c->st, ts[i].lb_id, &lb, e) < 0 || target_drain(c, &lb, &ts[i], e) < 0)
			break;
		rc = 0;
	}
	if (rc < 0 && !e->msg[0])
		err_set(e, ERR_NOT_FOUND, "load balancer target %s does not exist", target_id);
	free(ts);
	if (rc < 0)
		return -1;
	ctl_rules_changed(c);
	lbs_kick(c);
	return 0;
}

/* --- the health checker ------------------------------------------------------ */

static struct lb_track *track_get(struct ctl_lbs *l, const char *target_id, int64_t now)
{
	for (int i = 0; i < l->n_track; i++)
		if (strcmp(l->track[i].target_id, target_id) == 0)
			return &l->track[i];
	l->track = xrealloc(l->track, (size_t)(l->n_track + 1) * sizeof(*l->track));
	struct lb_track *t = &l->track[l->n_track++];
	*t = (struct lb_track){.next_at = now};
	snprintf(t->target_id, sizeof(t->target_id), "%s", target_id);
	return t;
}

/* Forgets targets that are gone. */
static void track_prune(struct ctl_lbs *l)
{
	int k = 0;
	for (int i = 0; i < l->n_track; i++)
		if (l->track[i].seen)
			l->track[k++] = l->track[i];
	l->n_track = k;
}

/* The address of the VM's NIC on the network, if the VM is running. */
static const char *target_ip(const struct vm *vms, int n_vms, const struct lb_target *t, const char *net_id,
			     bool *running)
{
	for (int v = 0; v < n_vms; v++) {
		if (strcmp(vms[v].id, t->vm_id) != 0)
			continue;
		*running = vms[v].state == VM_RUNNING;
		for (int k = 0; k < vms[v].n_nics; k++)
			if (strcmp(vms[v].nics[k].network_id, net_id) == 0)
				return vms[v].nics[k].ip;
	}
	*running = false;
	return NULL;
}

/* Each host checks the targets whose VM runs on it (and any whose VM is
 * gone): two hosts never race to record one target's health. */
static bool target_is_mine(struct ctl *c, const struct vm *vms, int n_vms, const struct lb_target *t)
{
	for (int v = 0; v < n_vms; v++)
		if (strcmp(vms[v].id, t->vm_id) == 0)
			return ctl_vm_is_mine(c, &vms[v]);
	return true;
}

static uint16_t check_port(const struct lb_target *t, const struct lb_listener *ls, int n_ls, const char *lb_id)
{
	if (t->port)
		return t->port;
	for (int i = 0; i < n_ls; i++)
		if (strcmp(ls[i].lb_id, lb_id) == 0)
			return ls[i].target_port;   /* the first listener's (by port) */
	return 0;
}

/* Whether a stored row changed; writes it. */
static bool target_record(struct ctl *c, const struct lb *lb, struct lb_target *t, enum lb_health now_health,
			  const char *reason)
{
	if (now_health == t->health && strcmp(reason, t->reason) == 0)
		return false;
	bool moved = now_health != t->health;
	if (moved) {
		log_info("lb %s: target %s is %s (%s)", lb->name, t->name, lb_health_name(now_health), reason);
		t->health_since = time_now_ms();
	}
	t->health = now_health;
	snprintf(t->reason, sizeof(t->reason), "%s", reason);
	struct err e = {0};
	/* over the row as it is now: a removal meanwhile stays (gone: nothing to write) */
	if (store_lb_target_set_health(c->st, t, &e) < 0 && e.kind != ERR_NOT_FOUND)
		log_warn("lb %s: target %s: %s", lb->name, t->name, e.msg);
	return moved;
}

/* What one pass reads from the store. */
struct pass {
	struct lb *lbs;
	struct lb_listener *ls;
	struct lb_target *ts;
	struct vm *vms;
	int n_lbs, n_ls, n_ts, n_vms;
};

/* Runs the checks that are due and records what they found; *next: when
 * the next one is due (monotonic ms). */
static void check_due(struct ctl *c, struct ctl_lbs *l, struct pass *p, int64_t now, int64_t *next_out)
{
	struct lb *lbs = p->lbs;
	struct lb_listener *ls = p->ls;
	struct lb_target *ts = p->ts;
	struct vm *vms = p->vms;
	int n_lbs = p->n_lbs, n_ls = p->n_ls, n_ts = p->n_ts, n_vms = p->n_vms;
	int64_t next = *next_out;
	struct err e = {0};
	struct health_check *checks = xcalloc((size_t)n_ts + 1, sizeof(*checks));
	int *which = xcalloc((size_t)n_ts + 1, sizeof(*which));
	const struct lb **owner = xcalloc((size_t)n_ts + 1, sizeof(*owner));
	int n = 0;
	bool moved = false;
	for (int b = 0; b < n_lbs; b++)
		for (int i = 0; i < n_ts; i++) {
			struct lb_target *t = &ts[i];
			if (strcmp(t->lb_id, lbs[b].id) != 0 || !target_is_mine(c, vms, n_vms, t))
				continue;
			struct lb_track *tr = track_get(l, t->id, now);
			tr->seen = true;
			if (t->state == LB_DRAINING)   /* out of the rotation: its health no longer matters */
				continue;
			tr->cut = false;
			if (tr->next_at > now) {
				if (tr->next_at < next)
					next = tr->next_at;
				continue;
			}
			tr->next_at = now + lbs[b].interval_ms;
			if (tr->next_at < next)
				next = tr->next_at;
			bool running = false;
			const char *ip = target_ip(vms, n_vms, t, lbs[b].network_id, &running);
			if (!ip || !running) {
				/* nothing to dial: a failed check without the wait */
				enum lb_health h = lb_health_step(t->health, &tr->streak, false, lbs[b].rise, lbs[b].fall);
				moved |= target_record(c, &lbs[b], t, h, ip ? "the VM is not running" : "the VM is gone");
				continue;
			}
			checks[n] = (struct health_check){.ip = ip,
							  .port = check_port(t, ls, n_ls, lbs[b].id),
							  .http_path = lbs[b].check == LB_CHECK_HTTP ? lbs[b].check_path
												     : NULL,
							  .timeout_ms = lbs[b].timeout_ms};
			which[n] = i;
			owner[n++] = &lbs[b];
		}
	c->host->health_run(checks, n);
	for (int k = 0; k < n; k++) {
		struct lb_target *t = &ts[which[k]];
		struct lb_track *tr = track_get(l, t->id, now);
		enum lb_health h = lb_health_step(t->health, &tr->streak, checks[k].ok, owner[k]->rise, owner[k]->fall);
		moved |= target_record(c, owner[k], t, h, checks[k].reason);
	}
	/* Fail open: recorded on the balancer, so the event log says when no
	 * target was healthy and when one came back. */
	for (int b = 0; b < n_lbs; b++) {
		if (lbs[b].deleted)   /* out of the rules: nothing to fail open to */
			continue;
		struct lb_target *mine = xcalloc((size_t)n_ts + 1, sizeof(*mine));
		bool *in = xcalloc((size_t)n_ts + 1, sizeof(*in));
		int m = 0;
		for (int i = 0; i < n_ts; i++)
			if (strcmp(ts[i].lb_id, lbs[b].id) == 0)
				mine[m++] = ts[i];
		bool open = false;
		lb_rotation(mine, m, in, &open);
		/* Unknown targets are new, not failed: no alarm until one was checked. */
		bool checked = false;
		for (int i = 0; i < m; i++)
			checked = checked || mine[i].health != LB_UNKNOWN;
		open = open && checked;
		if (open != lbs[b].failing_open) {
			lbs[b].failing_open = open;
			if (open)
				log_warn("lb %s: no target is healthy; failing open to all %d", lbs[b].name, m);
			if (store_lb_set_failing_open(c->st, &lbs[b], &e) < 0 && e.kind != ERR_NOT_FOUND)
				log_warn("lb %s: %s", lbs[b].name, e.msg);
		}
		free(in);
		free(mine);
	}
	if (moved)
		ctl_rules_changed(c);
	free(owner);
	free(which);
	free(checks);
	*next_out = next;
}

/* In a cluster each host cuts the connections that came in through it, and
 * the target's own host deletes the row this long after the deadline, once
 * every host has had a pass to see it. */
#define LB_CUT_GRACE_MS (3 * LB_IDLE_MS)

/* Cuts the drains that are due: the connections first (on this host), then
 * the row, so a crash in between cuts again (nothing left: success) and
 * deletes. *next: when the next deadline is (monotonic ms), if sooner. */
static void drains_due(struct ctl *c, struct ctl_lbs *l, const struct pass *p, int64_t now, int64_t *next)
{
	int64_t wall = time_now_ms();
	int64_t grace = overlay_on(c) ? LB_CUT_GRACE_MS : 0;
	bool gone = false;
	for (int i = 0; i < p->n_ts; i++) {
		const struct lb_target *t = &p->ts[i];
		if (t->state != LB_DRAINING)
			continue;
		if (t->drain_until > wall) {
			if (now + (t->drain_until - wall) < *next)
				*next = now + (t->drain_until - wall);
			continue;
		}
		const struct lb *lb = NULL;
		for (int b = 0; b < p->n_lbs && !lb; b++)
			if (strcmp(p->lbs[b].id, t->lb_id) == 0)
				lb = &p->lbs[b];
		struct lb_track *tr = track_get(l, t->id, now);
		tr->seen = true;
		bool running;
		const char *ip = lb ? target_ip(p->vms, p->n_vms, t, lb->network_id, &running) : NULL;
		if (!tr->cut && ip) {
			uint16_t hp[LB_LISTENERS_MAX], tp[LB_LISTENERS_MAX];
			int n_hp = 0;
			for (int k = 0; lb->host_port && k < p->n_ls && n_hp < LB_LISTENERS_MAX; k++)
				if (strcmp(p->ls[k].lb_id, lb->id) == 0) {
					hp[n_hp] = p->ls[k].port;
					tp[n_hp++] = t->port ? t->port : p->ls[k].target_port;
				}
			struct conntrack_cut cut = {
				.vip = lb->vip, .ip = ip, .host_ports = hp, .target_ports = tp, .n_host_ports = n_hp};
			struct err e = {0};
			/* The rules took it out of the rotation when it began to drain;
			 * a failed cut leaves its connections to end on their own. */
			if (c->host->conntrack_cut(&cut, &e) < 0)
				log_error("lb %s: target %s: its connections were not cut and live on until they end: %s",
					  lb->name, t->name, e.msg);
			else
				log_info("lb %s: target %s drained: its connections are cut", lb->name, t->name);
		}
		tr->cut = true;
		if (!target_is_mine(c, p->vms, p->n_vms, t) || wall < t->drain_until + grace)
			continue;
		crashpoint("lb.drain.cut");
		struct err e = {0};
		if (store_lb_target_delete(c->st, t->id, &e) < 0)
			log_warn("lb: target %s: %s", t->name, e.msg);
		else
			gone = true;
	}
	if (gone)
		ctl_rules_changed(c);
}

/* The last step of a balancer's delete: once its targets are cut and gone
 * (drains_due), its row. A target made active meanwhile (a join that read
 * the balancer before the delete) drains too, so the delete always ends. */
static void deletes_due(struct ctl *c, const struct pass *p)
{
	bool gone = false;
	for (int b = 0; b < p->n_lbs; b++) {
		const struct lb *lb = &p->lbs[b];
		if (!lb->deleted)
			continue;
		int left = 0;
		for (int i = 0; i < p->n_ts; i++) {
			struct lb_target t = p->ts[i];
			if (strcmp(t.lb_id, lb->id) != 0)
				continue;
			left++;
			struct err e = {0};
			if (t.state == LB_ACTIVE) {
				t.state = LB_DRAINING;
				t.drain_until = time_now_ms();
				if (store_lb_target_set_state(c->st, &t, &e) < 0 && e.kind != ERR_NOT_FOUND)
					log_warn("lb %s: target %s: %s", lb->name, t.name, e.msg);
			}
		}
		if (left)
			continue;
		crashpoint("lb.delete.targets-gone");
		struct err e = {0};
		if (store_lb_delete(c->st, lb->id, &e) < 0) {
			log_warn("lb %s: %s", lb->name, e.msg);
			continue;
		}
		log_info("lb %s: deleted: the connections made through it are cut", lb->name);
		gone = true;
	}
	if (gone)
		ctl_rules_changed(c);
}

/* Each target's open connections through its balancer's VIP, counted on
 * this thread (a read of the whole conntrack table) and handed to the API
 * under mu. */
static void count_connections(struct ctl *c, struct ctl_lbs *l, const struct pass *p)
{
	autofree char *table = c->host->conntrack_read();
	struct lb_count *counts = xcalloc((size_t)p->n_ts + 1, sizeof(*counts));
	for (int i = 0; i < p->n_ts; i++) {
		const struct lb_target *t = &p->ts[i];
		snprintf(counts[i].target_id, sizeof(counts[i].target_id), "%s", t->id);
		const struct lb *lb = NULL;
		for (int b = 0; b < p->n_lbs && !lb; b++)
			if (strcmp(p->lbs[b].id, t->lb_id) == 0)
				lb = &p->lbs[b];
		bool running;
		const char *ip = lb ? target_ip(p->vms, p->n_vms, t, lb->network_id, &running) : NULL;
		counts[i].n = table && ip ? lb_conntrack_count(table, lb->vip, ip) : 0;
	}
	pthread_mutex_lock(&l->mu);
	free(l->counts);
	l->counts = counts;
	l->n_counts = p->n_ts;
	pthread_mutex_unlock(&l->mu);
}

void ctl_lb_connections(struct ctl *c, struct lb_target *ts, int n)
{
	struct ctl_lbs *l = c->lbs;
	if (!l)
		return;
	pthread_mutex_lock(&l->mu);
	for (int i = 0; i < n; i++)
		for (int k = 0; k < l->n_counts; k++)
			if (strcmp(l->counts[k].target_id, ts[i].id) == 0)
				ts[i].connections = l->counts[k].n;
	pthread_mutex_unlock(&l->mu);
}

/* One pass; returns when the next check is due (monotonic ms). */
static int64_t check_pass(struct ctl *c, struct ctl_lbs *l)
{
	int64_t now = time_mono_ms(), next = now + LB_IDLE_MS;
	struct pass p = {0};
	struct err e = {0};
	/* The VMs only say which targets are this host's: without targets
	 * there is nothing to read them for (a list of every VM each second
	 * held the store for a third of a core with 10,000 VMs). */
	if (store_lb_list(c->st, &p.lbs, &p.n_lbs, &e) < 0 || store_lb_listener_list(c->st, NULL, &p.ls, &p.n_ls, &e) < 0 ||
	    store_lb_target_list(c->st, NULL, &p.ts, &p.n_ts, &e) < 0 ||
	    (p.n_ts > 0 && store_vm_list(c->st, &p.vms, &p.n_vms, &e) < 0))
		log_warn("lb: health checks wait for the store: %s", e.msg);
	else {
		/* A track is kept while check_due or drains_due sees its target: a
		 * draining target on another host's VM is only seen by the latter,
		 * and its cut must be remembered until its row goes. */
		for (int i = 0; i < l->n_track; i++)
			l->track[i].seen = false;
		check_due(c, l, &p, now, &next);
		drains_due(c, l, &p, now, &next);
		track_prune(l);
		deletes_due(c, &p);
		if (now - l->counted_at >= LB_IDLE_MS) {   /* a read of the whole table: once a second at most */
			count_connections(c, l, &p);
			l->counted_at = now;
		}
	}
	vm_list_free(p.vms, p.n_vms);
	free(p.ts);
	free(p.ls);
	free(p.lbs);
	return next;
}

static void *checker(void *arg)
{
	struct ctl *c = arg;
	struct ctl_lbs *l = c->lbs;
	pthread_mutex_lock(&l->mu);
	while (!l->quit) {
		l->kicked = false;
		pthread_mutex_unlock(&l->mu);
		int64_t next = check_pass(c, l);
		pthread_mutex_lock(&l->mu);
		int64_t wait = next - time_mono_ms();
		if (l->quit || l->kicked || wait <= 0)
			continue;
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += (wait % 1000) * 1000000L;
		ts.tv_sec += wait / 1000 + ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&l->cv, &l->mu, &ts);
	}
	pthread_mutex_unlock(&l->mu);
	return NULL;
}

void lbs_resume(struct ctl *c)
{
	struct ctl_lbs *l = xcalloc(1, sizeof(*l));
	pthread_mutex_init(&l->mu, NULL);
	pthread_cond_init(&l->cv, NULL);
	c->lbs = l;
	if (pthread_create(&l->thread, NULL, checker, c) != 0)
		log_error("lb: cannot start the health checker; targets keep their last health");
	else
		l->started = true;
}

void lbs_free(struct ctl *c)
{
	struct ctl_lbs *l = c->lbs;
	if (!l)
		return;
	if (l->started) {
		pthread_mutex_lock(&l->mu);
		l->quit = true;
		pthread_cond_signal(&l->cv);
		pthread_mutex_unlock(&l->mu);
		pthread_join(l->thread, NULL);
	}
	pthread_cond_destroy(&l->cv);
	pthread_mutex_destroy(&l->mu);
	free(l->track);
	free(l->counts);
	free(l);
	c->lbs = NULL;
}
