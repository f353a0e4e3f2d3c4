/*
 * stacklb: a stack's load balancers and groups as the store holds them
 * (their live specs, normalized as model/stack.h says), and the moves that
 * make and change them, through the same ctl_* calls `nubo lb` and
 * `nubo group` reach.
 *
 * A balancer's targets are the stack's to keep, save two kinds: those a
 * group put there (its members come and go on their own, so they are never
 * in the live spec) and those whose VM is gone or was made again under the
 * same name (a target follows a VM's id, not its name). The latter show as
 * "web2 (VM gone)", so the plan changes the targets in place and the update
 * drops them by their id.
 */
#include "ctl/stackplan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/str.h"
#include "util/timeutil.h"

/* --- balancers ------------------------------------------------------------------- */

static bool in_list(char (*ids)[ID_MAX], int n, const char *id)
{
	for (int i = 0; i < n; i++)
		if (id[0] && strcmp(ids[i], id) == 0)
			return true;
	return false;
}

/* The VMs of groups' members, whose targets the stack leaves alone. By VM,
 * not by the member's recorded target: a group joins its VM to the
 * balancer first and records the target after, and a plan read in between
 * saw the target as the stack's, a change to undo. */
static int group_targets(struct ctl *c, char (**ids)[ID_MAX], int *n, struct err *e)
{
	struct group_member *m = NULL;
	int nm = 0;
	*ids = NULL;
	*n = 0;
	if (store_member_list(c->st, NULL, &m, &nm, e) < 0)
		return -1;
	*ids = xcalloc((size_t)nm + 1, sizeof(**ids));
	for (int i = 0; i < nm; i++)
		if (m[i].vm_id[0])
			snprintf((*ids)[(*n)++], ID_MAX, "%s", m[i].vm_id);
	free(m);
	return 0;
}

/* A target as the spec writes it ("web1", "web1:8080"), with " (VM gone)"
 * when its VM is no longer the one of that name. Caller frees. */
static char *target_text(struct ctl *c, const struct lb_target *t)
{
	struct vm vm;
	bool same = false;
	if (store_vm_get(c->st, t->vm_id, &vm, NULL) == 0) {
		same = vm.power != POWER_DELETED && strcmp(vm.name, t->vm_name) == 0;
		vm_free_fields(&vm);
	}
	autofree char *base = t->port ? xasprintf("%s:%u", t->vm_name, t->port) : xstrdup(t->vm_name);
	return same ? xstrdup(base) : xasprintf("%s (VM gone)", base);
}

int stack_live_lb(struct ctl *c, const char *name, struct stack_live *l, struct err *e)
{
	struct lb lb;
	struct lb_listener *ls = NULL;
	struct lb_target *ts = NULL;
	char (*skip)[ID_MAX] = NULL;
	int n_ls = 0, n_ts = 0, n_skip = 0;
	if (store_lb_get(c->st, name, &lb, e) < 0 || store_lb_listener_list(c->st, lb.id, &ls, &n_ls, e) < 0 ||
	    store_lb_target_list(c->st, lb.id, &ts, &n_ts, e) < 0 || group_targets(c, &skip, &n_skip, e) < 0) {
		free(ts);
		free(ls);
		return -1;
	}
	json_t *listen = json_array(), *targets = json_array();
	for (int i = 0; i < n_ls; i++) {
		char s[16];
		stack_listener_format(ls[i].port, ls[i].target_port, s);
		json_array_append_new(listen, json_string(s));
	}
	/* a draining target is on its way out: not the stack's any more */
	for (int i = 0; i < n_ts; i++)
		if (!in_list(skip, n_skip, ts[i].vm_id) && ts[i].state == LB_ACTIVE) {
			char *s = target_text(c, &ts[i]);
			json_array_append_new(targets, json_string(s));
			free(s);
		}
	char interval[24], timeout[24], drain[24];
	time_duration_format(lb.interval_ms, interval);
	time_duration_format(lb.timeout_ms, timeout);
	time_duration_format(lb.drain_ms, drain);
	autofree char *check = lb.check == LB_CHECK_HTTP ? xasprintf("http:%s", lb.check_path) : xstrdup("tcp");
	l->spec = json_pack("{s:s, s:o, s:o, s:s, s:s, s:s, s:i, s:i, s:s}", "network", lb.network, "listen", listen,
			    "targets", targets, "check", check, "interval", interval, "timeout", timeout, "rise", lb.rise,
			    "fall", lb.fall, "algorithm", lb_algorithm_name(lb.algorithm));
	json_object_set_new(l->spec, "drain", json_string(drain));
	json_object_set_new(l->spec, "host_port", json_boolean(lb.host_port));
	snprintf(l->id, sizeof(l->id), "%s", lb.id);
	l->going = lb.deleted;   /* its name is free once its connections are cut */
	free(skip);
	free(ts);
	free(ls);
	return 0;
}

/* A list of strings of a spec as the C array a ctl request takes (the
 * strings stay the spec's). Caller frees the array. */
static const char **strings(const json_t *list, int *n)
{
	*n = (int)json_array_size(list);
	const char **out = xcalloc((size_t)*n + 1, sizeof(char *));
	for (int i = 0; i < *n; i++)
		out[i] = json_string_value(json_array_get(list, (size_t)i));
	return out;
}

static const char *text(const json_t *spec, const char *key)
{
	return json_string_value(json_object_get(spec, key));
}

int stack_lb_create(struct ctl *c, const struct stack_change *ch, char id[ID_MAX], struct err *e)
{
	const json_t *w = ch->want;
	struct ctl_lb_request r = {.name = ch->name,
				   .network = text(w, "network"),
				   .check = text(w, "check"),
				   .interval = text(w, "interval"),
				   .timeout = text(w, "timeout"),
				   .algorithm = text(w, "algorithm"),
				   .drain = text(w, "drain"),
				   .host_port = json_is_true(json_object_get(w, "host_port")),
				   .rise = (int)json_integer_value(json_object_get(w, "rise")),
				   .fall = (int)json_integer_value(json_object_get(w, "fall"))};
	const char **listen = strings(json_object_get(w, "listen"), &r.n_listen);
	const char **targets = strings(json_object_get(w, "targets"), &r.n_targets);
	r.listen = listen;
	r.targets = targets;
	struct lb lb;
	int rc = ctl_lb_create(c, &r, &lb, e);
	if (rc == 0)
		snprintf(id, ID_MAX, "%s", lb.id);
	free(listen);
	free(targets);
	return rc;
}

static bool listed(const json_t *list, const char *s)
{
	for (size_t i = 0; i < json_array_size(list); i++)
		if (strcmp(json_string_value(json_array_get(list, i)), s) == 0)
			return true;
	return false;
}

/* The drain time, and targets: drop those the document no longer has (and
 * those of a VM gone: they drain), add the new ones. Group members'
 * targets stay. */
int stack_lb_update(struct ctl *c, const struct stack_change *ch, struct err *e)
{
	const json_t *want = json_object_get(ch->want, "targets");
	struct lb_target *ts = NULL;
	char (*skip)[ID_MAX] = NULL;
	int n_ts = 0, n_skip = 0, rc = 0;
	json_t *have = json_array();
	const char *drain = text(ch->want, "drain");
	struct lb lb;
	if (drain && !json_equal(json_object_get(ch->want, "drain"), json_object_get(ch->live.spec, "drain")) &&
	    ctl_lb_set(c, ch->name, drain, &lb, e) < 0)
		rc = -1;
	if (rc == 0 &&
	    (store_lb_target_list(c->st, ch->live.id, &ts, &n_ts, e) < 0 || group_targets(c, &skip, &n_skip, e) < 0))
		rc = -1;
	bool dropped = false;
	for (int i = 0; rc == 0 && i < n_ts; i++) {
		if (in_list(skip, n_skip, ts[i].vm_id) || ts[i].state == LB_DRAINING)
			continue;
		char *s = target_text(c, &ts[i]);
		if (listed(want, s))
			json_array_append_new(have, json_string(s));
		else if ((rc = lbs_target_leave(c, ts[i].id, e)) == 0)
			dropped = true;
		free(s);
	}
	for (size_t k = 0; rc == 0 && k < json_array_size(want); k++) {
		const char *w = json_string_value(json_array_get(want, k));
		struct lb_target t;
		if (!listed(have, w))
			rc = ctl_lb_target_add(c, ch->name, w, &t, e);
	}
	if (rc == 0 && dropped)
		ctl_rules_changed_wait(c);
	json_decref(have);
	free(skip);
	free(ts);
	return rc;
}

/* --- groups ---------------------------------------------------------------------- */

/* "a,b" or "a\nb" as a list of strings. */
static json_t *split(const char *s, char sep)
{
	json_t *out = json_array();
	for (const char *p = s; p && *p;) {
		const char *end = strchr(p, sep);
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len)
			json_array_append_new(out, json_stringn(p, len));
		p = end ? end + 1 : NULL;
	}
	return out;
}

int stack_live_group(struct ctl *c, const char *name, struct stack_live *l, struct err *e)
{
	struct scaling_group g;
	if (store_group_get(c->st, name, &g, e) < 0)
		return -1;
	char grace[24], warmup[24], cooldown[24], drain[24];
	time_duration_format(g.grace_ms, grace);
	time_duration_format(g.warmup_ms, warmup);
	time_duration_format(g.cooldown_ms, cooldown);
	time_duration_format(g.drain_ms, drain);
	json_t *fws = split(g.firewalls, ',');
	if (json_array_size(fws) == 0)
		json_array_append_new(fws, json_string("default"));
	l->spec = json_pack("{s:s, s:s, s:s, s:o, s:o, s:i, s:i, s:i, s:i, s:s, s:s, s:s, s:s}", "image", g.image, "type",
			    g.type, "network", g.network, "firewalls", fws, "ssh_keys", split(g.ssh_keys, '\n'), "min",
			    g.min_size, "max", g.max_size, "desired", g.desired, "target_cpu", g.target_cpu, "grace", grace,
			    "warmup", warmup, "cooldown", cooldown, "drain", drain);
	if (g.user_data && *g.user_data)
		json_object_set_new(l->spec, "user_data", json_string(g.user_data));
	if (g.lb[0]) {
		autofree char *lb = g.lb_port ? xasprintf("%s:%d", g.lb, g.lb_port) : xstrdup(g.lb);
		json_object_set_new(l->spec, "lb", json_string(lb));
	}
	snprintf(l->id, sizeof(l->id), "%s", g.id);
	snprintf(l->type, sizeof(l->type), "%s", g.type);
	l->count = g.desired;
	l->disk_bytes = stack_image_bytes(c, g.image);
	l->going = g.deleted;
	group_free_fields(&g);
	return 0;
}

int stack_group_create(struct ctl *c, const struct stack_change *ch, char id[ID_MAX], struct err *e)
{
	const json_t *w = ch->want;
	if (ch->unknown)
		return err_set(e, ERR_CONFLICT, "group %s: its user_data refers to a VM that is not made yet", ch->name);
	const json_t *desired = json_object_get(w, "desired");
	struct ctl_group_request r = {.name = ch->name,
				      .image = text(w, "image"),
				      .type = text(w, "type"),
				      .network = text(w, "network"),
				      .user_data = text(w, "user_data"),
				      .min_size = (int)json_integer_value(json_object_get(w, "min")),
				      .max_size = (int)json_integer_value(json_object_get(w, "max")),
				      .desired = desired ? (int)json_integer_value(desired) : -1,
				      .lb = text(w, "lb"),
				      .target_cpu = (int)json_integer_value(json_object_get(w, "target_cpu")),
				      .grace = text(w, "grace"),
				      .warmup = text(w, "warmup"),
				      .cooldown = text(w, "cooldown"),
				      .drain = text(w, "drain")};
	const char **fws = strings(json_object_get(w, "firewalls"), &r.n_firewalls);
	const char **keys = strings(json_object_get(w, "ssh_keys"), &r.n_ssh_keys);
	r.firewalls = fws;
	r.ssh_keys = keys;
	struct scaling_group g;
	int rc = ctl_group_create(c, &r, &g, e);
	if (rc == 0) {
		snprintf(id, ID_MAX, "%s", g.id);
		group_free_fields(&g);
	}
	free(fws);
	free(keys);
	return rc;
}

static bool differs(const struct stack_change *ch, const char *key)
{
	const json_t *w = json_object_get(ch->want, key);
	return w && !json_equal(w, json_object_get(ch->live.spec, key));
}

/* Sizes and target tracking through `group set`; a new image or type
 * through `group update`, which replaces the VMs one at a time. */
int stack_group_update(struct ctl *c, const struct stack_change *ch, struct err *e)
{
	const json_t *w = ch->want;
	struct scaling_group g;
	bool tracking = json_integer_value(json_object_get(w, "target_cpu")) > 0;
	if (differs(ch, "min") || differs(ch, "max") || (!tracking && differs(ch, "desired")) ||
	    differs(ch, "target_cpu")) {
		const json_t *d = json_object_get(w, "desired");
		if (ctl_group_set(c, ch->name, (int)json_integer_value(json_object_get(w, "min")),
				  (int)json_integer_value(json_object_get(w, "max")),
				  d && !tracking ? (int)json_integer_value(d) : -1,
				  (int)json_integer_value(json_object_get(w, "target_cpu")), &g, e) < 0)
			return -1;
		group_free_fields(&g);
	}
	if (differs(ch, "image") || differs(ch, "type")) {
		if (ctl_group_update(c, ch->name, differs(ch, "image") ? text(w, "image") : NULL,
				     differs(ch, "type") ? text(w, "type") : NULL, &g, e) < 0)
			return -1;
		group_free_fields(&g);
	}
	return 0;
}
