/*
 * stackplan: what applying a stack document would do, computed in nubod
 * where the truth is: the document's wants, what the stack last applied (its
 * owned rows) and what the store holds now (live).
 *
 *   desired  ── compared with ──► live      gives the action:
 *                                           create | update (in place) | replace | delete
 *   applied  ── compared with ──► live      gives drift (changed outside the stack)
 *
 * Both comparisons use the same normalized specs (model/stack.h), built here
 * for live resources from the store, so fields nubod computes (ids, MACs, an
 * address or disk size the file leaves out, timestamps, state) are never in
 * them and never show as changes. The plan is recomputed at every apply step,
 * so each step acts on what is true at that moment.
 */
#include "ctl/stackplan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/size.h"
#include "model/stackgraph.h"
#include "util/str.h"

#define HOURS_PER_MONTH 730.0

const char *stack_action_name(enum stack_action a)
{
	static const char *const names[] = {"none", "create", "update", "replace", "delete"};
	return names[a];
}

/* --- live specs from the store --------------------------------------------------- */

static void rule_port(const struct fw_rule *r, char out[16])
{
	out[0] = '\0';
	if (r->port_lo && r->port_lo == r->port_hi)
		snprintf(out, 16, "%u", r->port_lo);
	else if (r->port_lo)
		snprintf(out, 16, "%u-%u", r->port_lo, r->port_hi);
}

static int live_vm(struct ctl *c, const char *name, struct stack_live *l, struct err *e)
{
	struct vm vm;
	if (store_vm_get(c->st, name, &vm, e) < 0)
		return -1;
	json_t *nics = json_array(), *fws = json_array(), *keys = json_array(), *fwd = json_array();
	for (int i = 0; i < vm.n_nics; i++)
		json_array_append_new(nics, json_pack("{s:s, s:s}", "network", vm.nics[i].network, "ip", vm.nics[i].ip));
	for (int i = 0; i < vm.n_firewalls; i++)
		json_array_append_new(fws, json_string(vm.firewalls[i].name));
	for (char *k = vm.ssh_keys, *nl; k && *k; k = nl ? nl + 1 : NULL) {
		nl = strchr(k, '\n');
		json_array_append_new(keys, nl ? json_stringn(k, (size_t)(nl - k)) : json_string(k));
		if (!nl)
			break;
	}
	struct forward *f = NULL;
	int nf = 0;
	if (store_forward_list(c->st, vm.id, &f, &nf, NULL) == 0)
		for (int i = 0; i < nf; i++) {
			autofree char *s = xasprintf("%u:%u/%s", f[i].host_port, f[i].guest_port, proto_name(f[i].proto));
			json_array_append_new(fwd, json_string(s));
		}
	free(f);
	l->spec = json_pack("{s:s, s:s, s:o, s:o, s:o, s:o}", "type", vm.type, "image", vm.image, "networks", nics,
			    "firewalls", fws, "ssh_keys", keys, "forwards", fwd);
	if (vm.user_data && *vm.user_data)
		json_object_set_new(l->spec, "user_data", json_string(vm.user_data));
	/* the disk's size even when the image gave it: a file's disk_size compares
	 * with it (and only a larger one is a resize); a file without one never does */
	l->disk_bytes = vm.disk_size_bytes ? vm.disk_size_bytes : stack_image_bytes(c, vm.image);
	if (l->disk_bytes) {
		char d[32];
		size_format(l->disk_bytes, d);
		json_object_set_new(l->spec, "disk_size", json_string(d));
	}
	snprintf(l->id, sizeof(l->id), "%s", vm.id);
	snprintf(l->ip, sizeof(l->ip), "%s", vm_ip(&vm));
	snprintf(l->type, sizeof(l->type), "%s", vm.type);
	l->going = vm.power == POWER_DELETED;
	vm_free_fields(&vm);
	return 0;
}

static int live_firewall(struct ctl *c, const char *name, struct stack_live *l, struct err *e)
{
	struct firewall fw;
	struct fw_rule *r = NULL;
	int n = 0;
	if (store_firewall_get(c->st, name, &fw, e) < 0 || store_fw_rule_list(c->st, fw.id, &r, &n, e) < 0)
		return -1;
	json_t *rules = json_array();
	for (int i = 0; i < n; i++) {
		char port[16];
		rule_port(&r[i], port);
		json_array_append_new(rules, stack_rule_json(proto_name(r[i].proto), port, r[i].from_cidr,
							     r[i].from_cidr[0] ? NULL : r[i].from_firewall));
	}
	free(r);
	l->spec = json_pack("{s:o}", "rules", rules);
	snprintf(l->id, sizeof(l->id), "%s", fw.id);
	return 0;
}

static int live_volume(struct ctl *c, const char *name, struct stack_live *l, struct err *e)
{
	struct volume v;
	if (store_volume_get(c->st, name, &v, e) < 0)
		return -1;
	char size[32];
	size_format(v.size_bytes, size);
	l->spec = json_pack("{s:s}", "size", size);
	if (v.attach_to[0]) {
		struct vm vm;
		if (store_vm_get(c->st, v.attach_to, &vm, NULL) == 0) {
			json_object_set_new(l->spec, "vm", json_string(vm.name));
			vm_free_fields(&vm);
		}
	}
	snprintf(l->id, sizeof(l->id), "%s", v.id);
	l->disk_bytes = v.size_bytes;
	l->going = v.deleted;
	return 0;
}

static int live_network(struct ctl *c, const char *name, struct stack_live *l, struct err *e)
{
	struct network net;
	if (store_network_get(c->st, name, &net, e) < 0)
		return -1;
	l->spec = json_pack("{s:s, s:b}", "cidr", net.cidr, "nat", net.nat);
	snprintf(l->id, sizeof(l->id), "%s", net.id);
	l->going = net.deleted;
	return 0;
}

int stack_live_get(struct ctl *c, enum stack_kind k, const char *name, struct stack_live *l, struct err *e)
{
	memset(l, 0, sizeof(*l));
	struct err ge = {0};
	int rc = -1;
	switch (k) {
	case STACK_VM: rc = live_vm(c, name, l, &ge); break;
	case STACK_FIREWALL: rc = live_firewall(c, name, l, &ge); break;
	case STACK_VOLUME: rc = live_volume(c, name, l, &ge); break;
	case STACK_NETWORK: rc = live_network(c, name, l, &ge); break;
	case STACK_LB: rc = stack_live_lb(c, name, l, &ge); break;
	case STACK_GROUP: rc = stack_live_group(c, name, l, &ge); break;
	default: break;
	}
	if (rc == 0) {
		l->exists = true;
		return 0;
	}
	if (ge.kind == ERR_NOT_FOUND)
		return 0;
	return err_set(e, ge.kind, "%s", ge.msg);
}

/* --- comparing specs ----------------------------------------------------------------- */

/* Whether a root disk of size want (text) is larger than one of size have
 * (NULL: an image whose size nubod does not know; the resize checks). */
static bool grows(const json_t *want, const json_t *have)
{
	uint64_t w = 0, h = 0;
	return json_string_value(want) && size_parse(json_string_value(want), "disk_size", &w, NULL) == 0 &&
	       (!have || (size_parse(json_string_value(have), "disk_size", &h, NULL) == 0 && w > h));
}

/* Whether a field, when it differs (from have to want), can be changed in
 * place: a VM's type and a larger root disk through a resize. */
static bool in_place(enum stack_kind k, const char *field, const json_t *want, const json_t *have)
{
	switch (k) {
	case STACK_FIREWALL: return strcmp(field, "rules") == 0;
	case STACK_VOLUME: return strcmp(field, "vm") == 0;
	case STACK_VM:
		return strcmp(field, "firewalls") == 0 || strcmp(field, "forwards") == 0 || strcmp(field, "type") == 0 ||
		       (strcmp(field, "disk_size") == 0 && grows(want, have));
	case STACK_LB: return strcmp(field, "targets") == 0 || strcmp(field, "drain") == 0;
	case STACK_GROUP: {
		static const char *const fields[] = {"min", "max", "desired", "target_cpu", "image", "type", NULL};
		for (int i = 0; fields[i]; i++)
			if (strcmp(field, fields[i]) == 0)
				return true;
		return false;
	}
	default: return false;
	}
}

/* Networks match when the names do, in order, and every address the wanted
 * side fixes is the address the other has. */
static bool nics_match(const json_t *want, const json_t *have)
{
	if (json_array_size(want) != json_array_size(have))
		return false;
	for (size_t i = 0; i < json_array_size(want); i++) {
		const json_t *w = json_array_get(want, i), *h = json_array_get(have, i);
		if (!json_equal(json_object_get(w, "network"), json_object_get(h, "network")))
			return false;
		const json_t *ip = json_object_get(w, "ip");
		if (ip && !json_equal(ip, json_object_get(h, "ip")))
			return false;
	}
	return true;
}

/* Lists whose order does not matter (rules, forwards). */
static bool same_set(const json_t *a, const json_t *b)
{
	if (json_array_size(a) != json_array_size(b))
		return false;
	for (size_t i = 0; i < json_array_size(a); i++) {
		bool found = false;
		for (size_t k = 0; k < json_array_size(b) && !found; k++)
			found = json_equal(json_array_get(a, i), json_array_get(b, k));
		if (!found)
			return false;
	}
	return true;
}

/* What the user sees of a network list: names, with the addresses fixed on the wanted side. */
static json_t *nics_shown(const json_t *nics, const json_t *want)
{
	json_t *out = json_array();
	for (size_t i = 0; i < json_array_size(nics); i++) {
		const json_t *n = json_array_get(nics, i);
		const json_t *w = json_array_get(want, i);
		const char *net = json_string_value(json_object_get(n, "network"));
		const char *ip = json_string_value(json_object_get(n, "ip"));
		bool show_ip = ip && (n == w || json_object_get(w, "ip"));
		autofree char *s = show_ip ? xasprintf("%s (%s)", net, ip) : xstrdup(net);
		json_array_append_new(out, json_string(s));
	}
	return out;
}

int stack_diff(enum stack_kind k, const json_t *want, const json_t *have, json_t *fields, bool *replace)
{
	static const char *const vm_fields[] = {"type", "image", "networks", "disk_size", "ssh_keys",
						"user_data", "firewalls", "forwards", NULL};
	static const char *const fw_fields[] = {"rules", NULL};
	static const char *const vol_fields[] = {"size", "vm", NULL};
	static const char *const net_fields[] = {"cidr", "nat", NULL};
	static const char *const lb_fields[] = {"network", "listen", "host_port", "check", "interval", "timeout",
						"rise",	   "fall",   "algorithm", "drain", "targets", NULL};
	static const char *const group_fields[] = {"network", "firewalls", "ssh_keys", "user_data", "lb",
						   "grace", "warmup", "cooldown", "drain", "image", "type",
						   "min", "max", "desired", "target_cpu", NULL};
	static const char *const *const lists[STACK_KINDS] = {
		[STACK_NETWORK] = net_fields, [STACK_FIREWALL] = fw_fields, [STACK_VOLUME] = vol_fields,
		[STACK_VM] = vm_fields,	      [STACK_LB] = lb_fields,	    [STACK_GROUP] = group_fields};
	const char *const *list = lists[k];
	/* a group's desired count is the group's to move while it tracks a CPU target */
	bool tracking = k == STACK_GROUP && json_integer_value(json_object_get(want, "target_cpu")) > 0;
	int n = 0;
	*replace = false;
	for (int i = 0; list[i]; i++) {
		const char *f = list[i];
		const json_t *w = json_object_get(want, f), *h = json_object_get(have, f);
		bool same;
		if (strcmp(f, "networks") == 0)
			same = nics_match(w, h);
		else if (strcmp(f, "disk_size") == 0)
			same = !w || json_equal(w, h);   /* left out: the image's size, nubod's choice */
		else if (strcmp(f, "rules") == 0 || strcmp(f, "forwards") == 0 || strcmp(f, "listen") == 0 ||
			 strcmp(f, "targets") == 0)
			same = same_set(w, h);
		else if (strcmp(f, "desired") == 0)
			same = !w || tracking || json_equal(w, h);   /* left out: the group's own count */
		else if (!w || !h)
			same = !w && !h;
		else
			same = json_equal(w, h);
		if (same)
			continue;
		n++;
		json_t *old = strcmp(f, "networks") == 0 ? nics_shown(h, w) : json_incref((json_t *)h);
		json_t *new = strcmp(f, "networks") == 0 ? nics_shown(w, w) : json_incref((json_t *)w);
		bool fix = in_place(k, f, w, h);
		json_array_append_new(fields, json_pack("{s:s, s:o, s:o, s:b}", "field", f, "old", old ? old : json_null(),
							"new", new ? new : json_null(), "forces_replace", !fix));
		if (!fix)
			*replace = true;
	}
	return n;
}

/* --- the plan ------------------------------------------------------------------------ */

void stackplan_free(struct stack_plan *p)
{
	if (!p)
		return;
	for (int i = 0; i < p->n; i++) {
		struct stack_change *ch = &p->ch[i];
		json_decref(ch->want);
		json_decref(ch->applied);
		json_decref(ch->fields);
		json_decref(ch->drift);
		json_decref(ch->live.spec);
	}
	free(p->ch);
	stack_free(&p->stack);
	memset(p, 0, sizeof(*p));
}

/* The address ${vm.NAME.ip} stands for: the VM's, if it exists and stays. */
static const char *ip_of(void *arg, const char *vm)
{
	struct stack_plan *p = arg;
	for (int i = 0; i < p->n; i++) {
		struct stack_change *ch = &p->ch[i];
		if (ch->kind == STACK_VM && strcmp(ch->name, vm) == 0)
			return ch->live.exists && !ch->live.going && ch->action != STACK_REPLACE && ch->live.ip[0]
				       ? ch->live.ip
				       : NULL;
	}
	return NULL;
}

static struct stack_change *add_change(struct stack_plan *p, enum stack_kind k, const char *name, int res)
{
	p->ch = xrealloc(p->ch, sizeof(*p->ch) * (size_t)(p->n + 1));
	struct stack_change *ch = &p->ch[p->n++];
	memset(ch, 0, sizeof(*ch));
	ch->kind = k;
	ch->res = res;
	snprintf(ch->name, sizeof(ch->name), "%s", name);
	return ch;
}

static const struct stack_owned *owned_find(const struct stack_owned *o, int n, enum stack_kind k, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(o[i].kind, stack_kind_name(k)) == 0 && strcmp(o[i].name, name) == 0)
			return &o[i];
	return NULL;
}

/* A name the document refers to outside the stack must exist. */
static int check_outside(struct ctl *c, const struct stack *s, enum stack_kind k, const char *name, const char *path,
			 struct err *e)
{
	if (stack_find(s, k, name))
		return 0;
	struct stack_live l;
	if (stack_live_get(c, k, name, &l, e) < 0)
		return -1;
	json_decref(l.spec);
	if (!l.exists)
		return err_set(e, ERR_UNPROCESSABLE, "%s: %s \"%s\" is neither in this stack nor in nubo", path,
			       stack_kind_name(k), name);
	return 0;
}

/* A VM's or a group's machine type and image. */
static int check_template(struct ctl *c, const struct stack_res *r, struct err *e)
{
	const char *type = json_string_value(json_object_get(r->spec, "type"));
	if (!catalog_find(&c->cfg.types, type)) {
		autofree char *names = catalog_names(&c->cfg.types);
		return err_set(e, ERR_UNPROCESSABLE, "%s.type: unknown machine type \"%s\"; types: %s", r->path, type,
			       names);
	}
	const char *image = json_string_value(json_object_get(r->spec, "image"));
	struct image img;
	struct err ie = {0};
	if (store_image_get(c->st, image, &img, &ie) < 0) {
		if (ie.kind != ERR_NOT_FOUND)
			return err_set(e, ie.kind, "%s", ie.msg);
		return err_set(e, ERR_UNPROCESSABLE, "%s.image: image \"%s\" does not exist (nubo image list shows the images)",
			       r->path, image);
	}
	image_free_fields(&img);
	return 0;
}

/* A balancer's network and targets, a group's network, firewalls and balancer. */
static int check_lb_group(struct ctl *c, const struct stack *s, const struct stack_res *r, struct err *e)
{
	size_t k;
	json_t *v;
	autofree char *np = xasprintf("%s.network", r->path);
	if (check_outside(c, s, STACK_NETWORK, json_string_value(json_object_get(r->spec, "network")), np, e) < 0)
		return -1;
	if (r->kind == STACK_LB) {
		json_array_foreach(json_object_get(r->spec, "targets"), k, v) {
			autofree char *p = xasprintf("%s.targets[%zu]", r->path, k);
			autofree char *vm = xstrndup(json_string_value(v), strcspn(json_string_value(v), ":"));
			if (check_outside(c, s, STACK_VM, vm, p, e) < 0)
				return -1;
		}
		return 0;
	}
	if (check_template(c, r, e) < 0)
		return -1;
	json_array_foreach(json_object_get(r->spec, "firewalls"), k, v) {
		autofree char *p = xasprintf("%s.firewalls[%zu]", r->path, k);
		if (check_outside(c, s, STACK_FIREWALL, json_string_value(v), p, e) < 0)
			return -1;
	}
	const char *lb = json_string_value(json_object_get(r->spec, "lb"));
	autofree char *lb_name = lb ? xstrndup(lb, strcspn(lb, ":")) : NULL;
	autofree char *lp = xasprintf("%s.lb", r->path);
	return lb ? check_outside(c, s, STACK_LB, lb_name, lp, e) : 0;
}

/* What the file asks for that only nubod can check: machine types, images,
 * and the networks, firewalls, VMs and balancers it names outside the stack. */
static int check_refs(struct ctl *c, const struct stack *s, struct err *e)
{
	for (int i = 0; i < s->n; i++) {
		const struct stack_res *r = &s->res[i];
		size_t k;
		json_t *v;
		if (r->kind == STACK_FIREWALL) {
			json_array_foreach(json_object_get(r->spec, "rules"), k, v) {
				const char *src = json_string_value(json_object_get(v, "from_firewall"));
				autofree char *p = xasprintf("%s.rules[%zu].from_firewall", r->path, k);
				if (src && check_outside(c, s, STACK_FIREWALL, src, p, e) < 0)
					return -1;
			}
		}
		if ((r->kind == STACK_LB || r->kind == STACK_GROUP) && check_lb_group(c, s, r, e) < 0)
			return -1;
		if (r->kind != STACK_VM)
			continue;
		if (check_template(c, r, e) < 0)
			return -1;
		json_array_foreach(json_object_get(r->spec, "networks"), k, v) {
			autofree char *p = xasprintf("%s.networks[%zu]", r->path, k);
			if (check_outside(c, s, STACK_NETWORK, json_string_value(json_object_get(v, "network")), p, e) < 0)
				return -1;
		}
		json_array_foreach(json_object_get(r->spec, "firewalls"), k, v) {
			autofree char *p = xasprintf("%s.firewalls[%zu]", r->path, k);
			if (check_outside(c, s, STACK_FIREWALL, json_string_value(v), p, e) < 0)
				return -1;
		}
	}
	return 0;
}

/* Whether the resource kind/name (before ":PORT") is replaced by this plan. */
static bool replaced(const struct stack_plan *p, enum stack_kind k, const char *ref)
{
	size_t len = ref ? strcspn(ref, ":") : 0;
	for (int i = 0; ref && i < p->n; i++)
		if (p->ch[i].kind == k && strlen(p->ch[i].name) == len && strncmp(p->ch[i].name, ref, len) == 0)
			return p->ch[i].action == STACK_REPLACE;
	return false;
}

/* What a replaced resource takes along, as the field that says so (NULL:
 * nothing): a VM, balancer or group on a network that is replaced goes with
 * it, and so does a group whose balancer is; a balancer whose target VM is
 * made again changes its targets in place (*in_place). */
static const char *forced_by(const struct stack_plan *p, const struct stack_change *ch, bool *in_place)
{
	size_t k;
	json_t *v;
	*in_place = false;
	switch (ch->kind) {
	case STACK_VM:
		json_array_foreach(json_object_get(ch->want, "networks"), k, v)
			if (replaced(p, STACK_NETWORK, json_string_value(json_object_get(v, "network"))))
				return "networks";
		return NULL;
	case STACK_LB:
		if (replaced(p, STACK_NETWORK, json_string_value(json_object_get(ch->want, "network"))))
			return "network";
		*in_place = true;
		json_array_foreach(json_object_get(ch->want, "targets"), k, v)
			if (replaced(p, STACK_VM, json_string_value(v)))
				return "targets";
		return NULL;
	case STACK_GROUP:
		if (replaced(p, STACK_NETWORK, json_string_value(json_object_get(ch->want, "network"))))
			return "network";
		return replaced(p, STACK_LB, json_string_value(json_object_get(ch->want, "lb"))) ? "lb" : NULL;
	default: return NULL;
	}
}

static bool has_field(const json_t *fields, const char *f)
{
	size_t k;
	json_t *v;
	json_array_foreach(fields, k, v)
		if (strcmp(json_string_value(json_object_get(v, "field")), f) == 0)
			return true;
	return false;
}

static int plan_resource(struct ctl *c, struct stack_plan *p, int res, const struct stack_owned *owned, int n_owned,
			 struct err *e)
{
	const struct stack_res *r = &p->stack.res[res];
	struct stack_change *ch = add_change(p, r->kind, r->name, res);
	if (stack_live_get(c, r->kind, r->name, &ch->live, e) < 0)
		return -1;
	const struct stack_owned *o = owned_find(owned, n_owned, r->kind, r->name);
	if (o && strcmp(o->stack, p->stack.name) != 0)
		return err_set(e, ERR_CONFLICT, "%s: %s %s belongs to stack %s, not to %s", r->path, stack_kind_name(r->kind),
			       r->name, o->stack, p->stack.name);
	if (!o && ch->live.exists)
		return err_set(e, ERR_CONFLICT,
			       "%s: %s %s exists and is not part of stack %s; adopt it with: nubo stack adopt %s %s/%s",
			       r->path, stack_kind_name(r->kind), r->name, p->stack.name, p->stack.name,
			       stack_kind_name(r->kind), r->name);
	ch->owned = o != NULL;
	ch->want = json_deep_copy(r->spec);
	if ((r->kind == STACK_VM || r->kind == STACK_GROUP) && json_object_get(ch->want, "user_data")) {
		bool unknown;
		char *ud = stack_interpolate(json_string_value(json_object_get(ch->want, "user_data")), ip_of, p, &unknown);
		json_object_set_new(ch->want, "user_data", json_string(ud));
		free(ud);
		ch->unknown = unknown;
	}
	ch->fields = json_array();
	if (o && strcmp(o->state, "ready") == 0) {
		ch->applied = json_loads(o->spec, 0, NULL);
		if (!ch->live.exists) {
			ch->drift = json_pack("{s:s}", "what", "deleted");
		} else if (ch->applied) {
			json_t *df = json_array();
			bool rep;
			if (stack_diff(r->kind, ch->applied, ch->live.spec, df, &rep) > 0)
				ch->drift = json_pack("{s:s, s:o}", "what", "changed", "fields", df);
			else
				json_decref(df);
		}
	}
	if (!ch->live.exists) {
		ch->action = STACK_CREATE;
		return 0;
	}
	bool replace = false;
	int n = stack_diff(r->kind, ch->want, ch->live.spec, ch->fields, &replace);
	bool fix;
	const char *forced = forced_by(p, ch, &fix);
	if (forced && !has_field(ch->fields, forced)) {
		replace = replace || !fix;
		json_array_append_new(ch->fields, json_pack("{s:s, s:s, s:s, s:b}", "field", forced, "old", "(replaced)",
							    "new", "(replaced)", "forces_replace", !fix));
		n++;
	}
	ch->action = n == 0 && !ch->live.going ? STACK_NONE : replace || ch->live.going ? STACK_REPLACE : STACK_UPDATE;
	return 0;
}

uint64_t stack_image_bytes(struct ctl *c, const char *name)
{
	struct image img;
	if (!name || store_image_get(c->st, name, &img, NULL) < 0)
		return 0;
	uint64_t bytes = img.virtual_size_bytes > 0 ? (uint64_t)img.virtual_size_bytes : 0;
	image_free_fields(&img);
	return bytes;
}

/* What count VMs of type with a disk of disk_bytes each (or a volume of
 * that size) cost an hour: their type's price and their storage's. */
static double hourly(struct ctl *c, enum stack_kind k, const char *type, uint64_t disk_bytes, int count)
{
	const struct machine_type *t = type ? catalog_find(&c->cfg.types, type) : NULL;
	double gib = (double)disk_bytes / (1024.0 * 1024 * 1024);
	double storage = gib * c->cfg.prices.gib_hour[k == STACK_VOLUME ? USAGE_VOLUME : USAGE_DISK];
	return count * ((t ? t->price_per_hour : 0) + storage);
}

/* The disk a VM or group's VMs will have after apply, or a volume's size. */
static uint64_t want_disk(struct ctl *c, const struct stack_change *ch)
{
	const char *size = json_string_value(json_object_get(ch->want, ch->kind == STACK_VOLUME ? "size" : "disk_size"));
	uint64_t bytes = 0;
	if (size && size_parse(size, "size", &bytes, NULL) == 0)
		return bytes;
	return ch->kind == STACK_VOLUME ? 0 : stack_image_bytes(c, json_string_value(json_object_get(ch->want, "image")));
}

/* The VMs a group will have after apply: what the file says, else what it
 * has (a new group starts at min), kept within the file's min and max. */
static int group_count(const struct stack_change *ch)
{
	const json_t *w = ch->want;
	int min = (int)json_integer_value(json_object_get(w, "min")), max = (int)json_integer_value(json_object_get(w, "max"));
	const json_t *d = json_object_get(w, "desired");
	bool tracking = json_integer_value(json_object_get(w, "target_cpu")) > 0;
	int n = ch->live.exists && !ch->live.going && ch->action != STACK_REPLACE ? ch->live.count : min;
	if (d && !(tracking && ch->live.exists && ch->action != STACK_REPLACE))
		n = (int)json_integer_value(d);
	return n < min ? min : n > max ? max : n;
}

int stackplan_make(struct ctl *c, const char *name, const json_t *doc, struct stack_plan *p, struct err *e)
{
	memset(p, 0, sizeof(*p));
	struct stack_owned *owned = NULL;
	int n_owned = 0, rc = -1;
	struct err ge = {0};
	if (stack_parse(doc, &p->stack, e) < 0)
		return -1;
	if (strcmp(p->stack.name, name) != 0) {
		err_set(e, ERR_INVALID, "stack: the document is stack \"%s\", not \"%s\"", p->stack.name, name);
		goto out;
	}
	if (store_stack_get(c->st, name, &p->state, &ge) == 0)
		p->has_state = true;
	else if (ge.kind != ERR_NOT_FOUND) {
		err_set(e, ge.kind, "%s", ge.msg);
		goto out;
	}
	if (check_refs(c, &p->stack, e) < 0 || store_owned_list(c->st, NULL, &owned, &n_owned, e) < 0)
		goto out;
	for (int i = 0; i < p->stack.n; i++)
		if (plan_resource(c, p, i, owned, n_owned, e) < 0)
			goto out;
	/* What the stack owns and the document no longer names goes. */
	for (int i = 0; i < n_owned; i++) {
		enum stack_kind k;
		if (strcmp(owned[i].stack, name) != 0 || !stack_kind_parse(owned[i].kind, &k) ||
		    stack_find(&p->stack, k, owned[i].name))
			continue;
		struct stack_change *ch = add_change(p, k, owned[i].name, -1);
		ch->owned = true;
		ch->applied = json_loads(owned[i].spec, 0, NULL);
		ch->fields = json_array();
		if (stack_live_get(c, k, owned[i].name, &ch->live, e) < 0)
			goto out;
		ch->action = STACK_DELETE;   /* even when it is gone already: the row goes */
	}
	for (int i = 0; i < p->n; i++) {
		struct stack_change *ch = &p->ch[i];
		if (ch->kind != STACK_VM && ch->kind != STACK_GROUP && ch->kind != STACK_VOLUME)
			continue;
		/* a group costs its desired count of VMs */
		int before = ch->kind == STACK_GROUP ? ch->live.count : 1, after = 1;
		if (ch->kind == STACK_GROUP && ch->action != STACK_DELETE)
			after = group_count(ch);
		if (ch->live.exists && !ch->live.going)
			p->hourly_before += hourly(c, ch->kind, ch->live.type, ch->live.disk_bytes, before);
		if (ch->action != STACK_DELETE)
			p->hourly_after += hourly(c, ch->kind, json_string_value(json_object_get(ch->want, "type")),
						  want_disk(c, ch), after);
	}
	rc = 0;
out:
	stack_owned_list_free(owned, n_owned);
	if (rc < 0)
		stackplan_free(p);
	return rc;
}

struct stack_change *stackplan_find(struct stack_plan *p, enum stack_kind k, const char *name)
{
	for (int i = 0; i < p->n; i++)
		if (p->ch[i].kind == k && strcmp(p->ch[i].name, name) == 0)
			return &p->ch[i];
	return NULL;
}

static char *res_name(enum stack_kind k, const char *name)
{
	return xasprintf("%s/%s", stack_kind_name(k), name);
}

/* ref of kind k, with any ":PORT" (or a target's " (VM gone)") left out, as
 * a resource of the graph. */
static void ref_named(struct stackgraph *g, int i, enum stack_kind k, const char *ref)
{
	if (!ref)
		return;
	autofree char *name = xstrndup(ref, strcspn(ref, ": "));
	autofree char *r = res_name(k, name);
	stackgraph_ref(g, i, r);
}

/* The resources a spec of kind k names: a VM its networks and firewalls, a
 * volume its VM, a firewall those its rules admit from, a balancer its
 * network and target VMs, a group its network, firewalls and balancer. */
static void add_refs(struct stackgraph *g, int i, enum stack_kind k, const char *self, const json_t *spec)
{
	size_t n;
	const json_t *v;
	switch (k) {
	case STACK_VM:
		json_array_foreach(json_object_get(spec, "networks"), n, v) {
			autofree char *r = res_name(STACK_NETWORK, json_string_value(json_object_get(v, "network")));
			stackgraph_ref(g, i, r);
		}
		json_array_foreach(json_object_get(spec, "firewalls"), n, v) {
			autofree char *r = res_name(STACK_FIREWALL, json_string_value(v));
			stackgraph_ref(g, i, r);
		}
		break;
	case STACK_VOLUME:
		if (json_string_value(json_object_get(spec, "vm"))) {
			autofree char *r = res_name(STACK_VM, json_string_value(json_object_get(spec, "vm")));
			stackgraph_ref(g, i, r);
		}
		break;
	case STACK_FIREWALL:
		json_array_foreach(json_object_get(spec, "rules"), n, v) {
			const char *src = json_string_value(json_object_get(v, "from_firewall"));
			autofree char *r = src && strcmp(src, self) != 0 ? res_name(STACK_FIREWALL, src) : NULL;
			stackgraph_ref(g, i, r);
		}
		break;
	case STACK_LB:
	case STACK_GROUP:
		ref_named(g, i, STACK_NETWORK, json_string_value(json_object_get(spec, "network")));
		ref_named(g, i, STACK_LB, json_string_value(json_object_get(spec, "lb")));
		json_array_foreach(json_object_get(spec, "targets"), n, v)
			ref_named(g, i, STACK_VM, json_string_value(v));
		json_array_foreach(json_object_get(spec, "firewalls"), n, v)
			ref_named(g, i, STACK_FIREWALL, json_string_value(v));
		break;
	default: break;
	}
}

static void add_step(struct stackgraph *g, const struct stack_plan *p, const struct stack_change *ch, bool del)
{
	autofree char *res = res_name(ch->kind, ch->name);
	bool makes = ch->action == STACK_CREATE || ch->action == STACK_REPLACE;
	int i = stackgraph_add(g, res, del, makes);
	add_refs(g, i, ch->kind, ch->name, ch->want);
	add_refs(g, i, ch->kind, ch->name, ch->live.spec);
	add_refs(g, i, ch->kind, ch->name, ch->applied);
	if (ch->res < 0)
		return;
	const struct stack_res *r = &p->stack.res[ch->res];
	for (int d = 0; d < r->n_deps; d++) {
		autofree char *dep = res_name(p->stack.res[r->deps[d]].kind, p->stack.res[r->deps[d]].name);
		stackgraph_need(g, i, dep);
		stackgraph_ref(g, i, dep);   /* ${vm.db.ip}: web goes before db, too */
	}
}

/* The steps apply runs, each with the earlier steps it waits for
 * (model/stackgraph.h). Laid out in an order safe to run one at a time:
 * first what must go before anything is made (groups and balancers the file
 * dropped, which stand in front of VMs; VMs the file dropped, which
 * may sit on a network being replaced; replaced resources in reverse
 * dependency order, so a VM goes before the network it sits on; volumes the
 * file dropped, once their VMs let go of them); then every create and
 * update in dependency order; last the firewalls and networks the file
 * dropped, once no VM of the stack uses them. */
static json_t *steps_json(const struct stack_plan *p)
{
	struct stackgraph g = {0};
	static const enum stack_kind early[] = {STACK_GROUP, STACK_LB, STACK_VM};
	for (int k = 0; k < 3; k++)
		for (int i = 0; i < p->n; i++)
			if (p->ch[i].res < 0 && p->ch[i].kind == early[k])
				add_step(&g, p, &p->ch[i], true);
	for (int i = p->n - 1; i >= 0; i--)
		if (p->ch[i].res >= 0 && p->ch[i].action == STACK_REPLACE && p->ch[i].kind != STACK_FIREWALL)
			add_step(&g, p, &p->ch[i], true);
	for (int i = 0; i < p->n; i++)
		if (p->ch[i].res < 0 && p->ch[i].kind == STACK_VOLUME)
			add_step(&g, p, &p->ch[i], true);
	for (int i = 0; i < p->n; i++)
		if (p->ch[i].res >= 0 && p->ch[i].action != STACK_NONE)
			add_step(&g, p, &p->ch[i], false);
	static const enum stack_kind late[] = {STACK_FIREWALL, STACK_NETWORK};
	for (int k = 0; k < 2; k++)
		for (int i = 0; i < p->n; i++)
			if (p->ch[i].res < 0 && p->ch[i].kind == late[k])
				add_step(&g, p, &p->ch[i], true);
	stackgraph_link(&g);
	json_t *steps = stackgraph_to_json(&g);
	stackgraph_free(&g);
	return steps;
}

json_t *stackplan_to_json(const struct stack_plan *p)
{
	json_t *changes = json_array(), *drift = json_array();
	int count[5] = {0};
	for (int i = 0; i < p->n; i++) {
		const struct stack_change *ch = &p->ch[i];
		autofree char *res = xasprintf("%s/%s", stack_kind_name(ch->kind), ch->name);
		if (ch->drift) {
			json_t *d = json_deep_copy(ch->drift);
			json_object_set_new(d, "resource", json_string(res));
			json_array_append_new(drift, d);
		}
		count[ch->action]++;
		if (ch->action == STACK_NONE)
			continue;
		json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "resource", res, "kind", stack_kind_name(ch->kind), "name",
				      ch->name, "action", stack_action_name(ch->action));
		if (ch->action == STACK_CREATE)
			json_object_set(o, "spec", ch->want);
		if (ch->action == STACK_UPDATE || ch->action == STACK_REPLACE)
			json_object_set(o, "fields", ch->fields);
		if (ch->action == STACK_REPLACE && ch->live.going)
			json_object_set_new(o, "note", json_string("being deleted; made again once it is gone"));
		if (ch->unknown)
			json_object_set_new(o, "user_data_known_after_apply", json_true());
		json_array_append_new(changes, o);
	}
	json_t *summary = json_pack("{s:i, s:i, s:i, s:i, s:i}", "create", count[STACK_CREATE], "update",
				    count[STACK_UPDATE], "replace", count[STACK_REPLACE], "delete", count[STACK_DELETE],
				    "unchanged", count[STACK_NONE]);
	double delta = p->hourly_after - p->hourly_before;
	json_t *cost = json_pack("{s:f, s:f, s:f, s:f, s:f}", "hourly_before", p->hourly_before, "hourly_after",
				 p->hourly_after, "hourly_change", delta, "monthly_change", delta * HOURS_PER_MONTH,
				 "monthly_after", p->hourly_after * HOURS_PER_MONTH);
	return json_pack("{s:s, s:I, s:o, s:o, s:o, s:o, s:o, s:b}", "stack", p->stack.name,
			 "serial", (json_int_t)p->state.serial, "changes", changes, "drift", drift, "steps", steps_json(p),
			 "summary", summary, "cost", cost, "changed",
			 count[STACK_CREATE] + count[STACK_UPDATE] + count[STACK_REPLACE] + count[STACK_DELETE] > 0);
}
