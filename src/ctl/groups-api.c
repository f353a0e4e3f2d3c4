/*
 * groups-api: the API's calls on groups (create, set, update, delete, show,
 * list, and protecting a member). They write the group's spec in the store,
 * each change in one transaction, and kick the reconciler (groups.c), which
 * does the rest.
 */
#include "ctl/groups-priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/str.h"
#include "util/timeutil.h"

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
		if (lb.deleted)
			return err_set(e, ERR_CONFLICT, "lb \"%s\": load balancer %s is being deleted", r->lb, lb.name);
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
	if (groups_world_load(c, &w, e) < 0) {
		free(ms);
		return NULL;
	}
	json_t *j = group_to_json(g), *arr = json_array();
	int healthy = 0, live = 0;
	for (int i = 0; i < n; i++) {
		struct view v = {.m = ms[i]};
		groups_view_fill(g, &w, &v);
		json_t *mj = group_member_to_json(&ms[i]);
		json_object_set_new(mj, "vm_state", json_string(v.vm ? vm_state_name(v.vm->state) : "none"));
		json_object_set_new(mj, "ip", json_string(v.vm ? vm_ip(v.vm) : ""));
		json_object_set_new(mj, "healthy", json_boolean(v.healthy));
		if (v.t)
			json_object_set_new(mj, "lb_health", json_string(lb_health_name(v.t->health)));
		/* the last CPU reading of a VM that counts toward the target */
		double pct;
		if (v.vm && groups_cpu_last(c, v.vm->id, &pct))
			json_object_set_new(mj, "cpu", json_real(pct));
		json_array_append_new(arr, mj);
		healthy += v.healthy;
		live += groups_view_live(&v);
	}
	json_object_set_new(j, "members", arr);
	json_object_set_new(j, "live", json_integer(live));
	json_object_set_new(j, "healthy", json_integer(healthy));
	groups_world_free(&w);
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
