/*
 * stacks: applying a stack document, one resource at a time, through the
 * same ctl_* functions the API handlers call (so every check they make is
 * made once, there).
 *
 * An apply is a lease on the stack (two applies of one stack never run at
 * once; a lease of an apply that died lapses after STACK_LEASE_MS), then
 * steps, then the lease's release. A step recomputes the plan from the store
 * and makes one move for one resource: delete it, create it, or change it in
 * place. Every move is one ctl_* call, itself one transaction, and the
 * stack's record of what it owns is written around it the way the
 * reconcilers write theirs: intent first (the row, state "creating"), then
 * the call, then the outcome (its id, state "ready", the spec applied). So
 * whatever stops an apply (nubod killed, the CLI interrupted, a refusal), each
 * resource is either done or untouched, and the next apply's plan starts from
 * exactly there.
 */
#include "ctl/stackplan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/str.h"
#include "util/timeutil.h"

int ctl_stack_plan(struct ctl *c, const char *name, const json_t *doc, json_t **plan, struct err *e)
{
	struct stack_plan p;
	if (stackplan_make(c, name, doc, &p, e) < 0)
		return -1;
	*plan = stackplan_to_json(&p);
	stackplan_free(&p);
	return 0;
}

/* --- the lease ------------------------------------------------------------------- */

static int lock_locked(struct ctl *c, const char *name, const json_t *doc, const json_t *saved, char lease[ID_MAX],
		       json_t **plan, struct err *e)
{
	struct stack_plan p;
	if (stackplan_make(c, name, doc, &p, e) < 0)
		return -1;
	int64_t now = time_now_ms();
	int rc = 0;
	json_int_t serial = 0;
	struct stack_state s = p.state;
	if (p.has_state && p.state.lease[0] && p.state.lease_until > now) {
		char until[32];
		time_format_rfc3339(p.state.lease_until, until);
		rc = err_set(e, ERR_CONFLICT,
			     "stack %s is being applied by another apply (lease %s, held until %s at the latest); "
			     "wait for it to finish",
			     name, p.state.lease, until);
		goto out;
	}
	*plan = stackplan_to_json(&p);
	if (saved) {
		serial = json_integer_value(json_object_get(saved, "serial"));
		if (serial != (json_int_t)p.state.serial ||
		    !json_equal(json_object_get(saved, "changes"), json_object_get(*plan, "changes"))) {
			json_decref(*plan);
			*plan = NULL;
			rc = err_set(e, ERR_CONFLICT,
				     "the saved plan is stale: stack %s or what it owns changed since it was made; "
				     "run nubo plan again",
				     name);
			goto out;
		}
	}
	id_new("lse", lease);
	if (!p.has_state) {
		memset(&s, 0, sizeof(s));
		snprintf(s.name, sizeof(s.name), "%s", name);
		s.created_at = now;
	}
	snprintf(s.lease, sizeof(s.lease), "%s", lease);
	s.lease_until = now + STACK_LEASE_MS;
	rc = p.has_state ? store_stack_update(c->st, &s, e) : store_stack_insert(c->st, &s, e);
	if (rc < 0) {
		json_decref(*plan);
		*plan = NULL;
	}
out:
	stackplan_free(&p);
	return rc;
}

int ctl_stack_lock(struct ctl *c, const char *name, const json_t *doc, const json_t *saved, char lease[ID_MAX],
		   json_t **plan, struct err *e)
{
	*plan = NULL;
	if (store_tx_begin(c->st, e) < 0)
		return -1;
	int rc = lock_locked(c, name, doc, saved, lease, plan, e);
	if (store_tx_end(c->st, rc == 0, rc == 0 ? e : NULL) < 0 && rc == 0) {
		json_decref(*plan);
		*plan = NULL;
		rc = -1;
	}
	if (rc == 0)
		log_info("stack %s: apply %s began", name, lease);
	return rc;
}

/* The lease must be the stack's and current; it is renewed. changed: the
 * step changed what the stack owns (the serial moves, so saved plans go stale). */
static int lease_check(struct ctl *c, const char *name, const char *lease, bool changed, struct err *e)
{
	if (store_tx_begin(c->st, e) < 0)
		return -1;
	struct stack_state s;
	int64_t now = time_now_ms();
	int rc = store_stack_get(c->st, name, &s, e);
	if (rc == 0 && (strcmp(s.lease, lease) != 0 || s.lease_until <= now))
		rc = err_set(e, ERR_CONFLICT, "the lease %s on stack %s is not held (it lapsed, or another apply took it); "
			     "run apply again", lease, name);
	if (rc == 0) {
		s.lease_until = now + STACK_LEASE_MS;
		if (changed) {
			s.serial++;
			s.applied_at = now;
		}
		rc = store_stack_update(c->st, &s, e);
	}
	if (store_tx_end(c->st, rc == 0, rc == 0 ? e : NULL) < 0)
		rc = -1;
	return rc;
}

int ctl_stack_unlock(struct ctl *c, const char *name, const char *lease, struct err *e)
{
	if (store_tx_begin(c->st, e) < 0)
		return -1;
	struct stack_state s;
	struct stack_owned *o = NULL;
	int n = 0;
	int rc = store_stack_get(c->st, name, &s, e);
	if (rc == 0 && strcmp(s.lease, lease) != 0)
		rc = err_set(e, ERR_CONFLICT, "the lease %s on stack %s is not held", lease, name);
	if (rc == 0)
		rc = store_owned_list(c->st, name, &o, &n, e);
	if (rc == 0 && n == 0) {   /* destroyed: nothing is left of it */
		rc = store_stack_delete(c->st, name, e);
	} else if (rc == 0) {
		s.lease[0] = '\0';
		s.lease_until = 0;
		rc = store_stack_update(c->st, &s, e);
	}
	stack_owned_list_free(o, n);
	if (store_tx_end(c->st, rc == 0, rc == 0 ? e : NULL) < 0)
		rc = -1;
	if (rc == 0)
		log_info("stack %s: apply %s ended", name, lease);
	return rc;
}

/* --- one move ---------------------------------------------------------------------- */

static int owned_put(struct ctl *c, const char *stack, const struct stack_change *ch, const char *id, const char *state,
		     struct err *e)
{
	struct stack_owned o = {0};
	snprintf(o.kind, sizeof(o.kind), "%s", stack_kind_name(ch->kind));
	snprintf(o.name, sizeof(o.name), "%s", ch->name);
	snprintf(o.stack, sizeof(o.stack), "%s", stack);
	snprintf(o.id, sizeof(o.id), "%s", id ? id : "");
	snprintf(o.state, sizeof(o.state), "%s", state);
	o.spec = json_dumps(ch->want, JSON_COMPACT | JSON_SORT_KEYS);
	int rc = store_owned_put(c->st, &o, e);
	free(o.spec);
	return rc;
}

struct move {
	json_t *op;       /* an operation to follow, or NULL */
	char did[128];
	bool again;       /* more moves are needed for this resource */
};

static void op_json(struct move *m, const struct operation *op)
{
	m->op = operation_to_json(op);
}

static int delete_live(struct ctl *c, const struct stack_change *ch, struct move *m, struct err *e)
{
	struct operation op = {0};
	int rc = 0;
	switch (ch->kind) {
	case STACK_VM: {
		struct vm vm;
		bool accepted;
		rc = ctl_vm_act(c, ch->name, VM_ACTION_DELETE, true, &vm, &op, &accepted, e);
		if (rc == 0) {
			vm_free_fields(&vm);
			op_json(m, &op);
			operation_free_fields(&op);
		}
		break;
	}
	case STACK_VOLUME: {
		struct volume v;
		rc = ctl_volume_delete(c, ch->name, &v, &op, e);
		if (rc == 0) {
			op_json(m, &op);
			operation_free_fields(&op);
		}
		break;
	}
	case STACK_NETWORK: {
		struct network net;
		rc = ctl_network_delete(c, ch->name, &net, e);
		break;
	}
	case STACK_FIREWALL: rc = ctl_firewall_delete(c, ch->name, e); break;
	case STACK_LB: {   /* the step waits until its connections are cut and it is gone */
		struct lb lb;
		bool gone;
		rc = ctl_lb_delete(c, ch->name, &lb, &gone, e);
		break;
	}
	case STACK_GROUP: {   /* its VMs go first, then the group: the step waits for that */
		struct scaling_group g;
		rc = ctl_group_delete(c, ch->name, &g, e);
		if (rc == 0)
			group_free_fields(&g);
		break;
	}
	default: break;
	}
	if (rc == 0)
		snprintf(m->did, sizeof(m->did), "deleting");
	return rc;
}

static int create_vm(struct ctl *c, const struct stack_change *ch, struct move *m, struct err *e)
{
	const json_t *w = ch->want;
	if (ch->unknown)
		return err_set(e, ERR_CONFLICT, "vm %s: its user_data refers to a VM that is not made yet", ch->name);
	struct vm_request r = {0};
	size_t nn = json_array_size(json_object_get(w, "networks"));
	size_t nf = json_array_size(json_object_get(w, "firewalls"));
	size_t nk = json_array_size(json_object_get(w, "ssh_keys"));
	struct vm_nic_request *nics = xcalloc(nn + 1, sizeof(*nics));
	const char **fws = xcalloc(nf + 1, sizeof(char *)), **keys = xcalloc(nk + 1, sizeof(char *));
	for (size_t i = 0; i < nn; i++) {
		const json_t *n = json_array_get(json_object_get(w, "networks"), i);
		nics[i].network = json_string_value(json_object_get(n, "network"));
		nics[i].ip = json_string_value(json_object_get(n, "ip"));
	}
	for (size_t i = 0; i < nf; i++)
		fws[i] = json_string_value(json_array_get(json_object_get(w, "firewalls"), i));
	for (size_t i = 0; i < nk; i++)
		keys[i] = json_string_value(json_array_get(json_object_get(w, "ssh_keys"), i));
	r.name = ch->name;
	r.type = json_string_value(json_object_get(w, "type"));
	r.image = json_string_value(json_object_get(w, "image"));
	r.nics = nics;
	r.n_nics = (int)nn;
	r.firewalls = fws;
	r.n_firewalls = (int)nf;
	r.ssh_keys = keys;
	r.n_ssh_keys = (int)nk;
	r.user_data = json_string_value(json_object_get(w, "user_data"));
	r.disk_size = json_string_value(json_object_get(w, "disk_size"));
	struct vm vm;
	struct operation op;
	int rc = ctl_vm_create(c, &r, &vm, &op, e);
	if (rc == 0) {
		op_json(m, &op);
		snprintf(m->did, sizeof(m->did), "creating, %s", vm_ip(&vm));
		vm_free_fields(&vm);
		operation_free_fields(&op);
		/* forwards are made in place once it exists */
		m->again = json_array_size(json_object_get(w, "forwards")) > 0;
	}
	free(nics);
	free(fws);
	free(keys);
	return rc;
}

static int create_live(struct ctl *c, const struct stack_change *ch, struct move *m, char id[ID_MAX], struct err *e)
{
	const json_t *w = ch->want;
	switch (ch->kind) {
	case STACK_NETWORK: {
		struct network net;
		if (ctl_network_create(c, ch->name, json_string_value(json_object_get(w, "cidr")),
				       json_is_true(json_object_get(w, "nat")), &net, e) < 0)
			return -1;
		snprintf(id, ID_MAX, "%s", net.id);
		snprintf(m->did, sizeof(m->did), "created");
		return 0;
	}
	case STACK_FIREWALL: {
		struct firewall fw;
		if (ctl_firewall_create(c, ch->name, NULL, &fw, e) < 0)
			return -1;
		snprintf(id, ID_MAX, "%s", fw.id);
		snprintf(m->did, sizeof(m->did), "created");
		m->again = json_array_size(json_object_get(w, "rules")) > 0;   /* its rules come next */
		return 0;
	}
	case STACK_VOLUME: {
		struct volume v;
		struct operation op;
		if (ctl_volume_create(c, ch->name, json_string_value(json_object_get(w, "size")), NULL, &v, &op, e) < 0)
			return -1;
		snprintf(id, ID_MAX, "%s", v.id);
		op_json(m, &op);
		operation_free_fields(&op);
		snprintf(m->did, sizeof(m->did), "creating");
		m->again = json_object_get(w, "vm") != NULL;   /* attached next */
		return 0;
	}
	case STACK_VM: {
		if (create_vm(c, ch, m, e) < 0)
			return -1;
		struct stack_live l;
		if (stack_live_get(c, STACK_VM, ch->name, &l, NULL) == 0) {
			snprintf(id, ID_MAX, "%s", l.id);
			json_decref(l.spec);
		}
		return 0;
	}
	case STACK_LB:
		if (stack_lb_create(c, ch, id, e) < 0)
			return -1;
		snprintf(m->did, sizeof(m->did), "created");
		return 0;
	case STACK_GROUP:
		if (stack_group_create(c, ch, id, e) < 0)
			return -1;
		snprintf(m->did, sizeof(m->did), "created, its VMs on the way");
		return 0;
	default: return err_set(e, ERR_INTERNAL, "unknown kind");
	}
}

/* Firewall rules: drop those the document no longer has, add the new ones. */
static int update_rules(struct ctl *c, const struct stack_change *ch, struct err *e)
{
	const json_t *want = json_object_get(ch->want, "rules");
	const json_t *have = json_object_get(ch->live.spec, "rules");
	struct fw_rule *r = NULL;
	int n = 0;
	if (store_fw_rule_list(c->st, ch->live.id, &r, &n, e) < 0)
		return -1;
	int rc = 0;
	for (int i = 0; rc == 0 && i < n && (size_t)i < json_array_size(have); i++) {
		bool keep = false;
		for (size_t k = 0; k < json_array_size(want) && !keep; k++)
			keep = json_equal(json_array_get(have, (size_t)i), json_array_get(want, k));
		if (!keep)
			rc = ctl_firewall_rule_delete(c, ch->name, r[i].id, e);
	}
	free(r);
	for (size_t k = 0; rc == 0 && k < json_array_size(want); k++) {
		const json_t *w = json_array_get(want, k);
		bool present = false;
		for (size_t i = 0; i < json_array_size(have) && !present; i++)
			present = json_equal(json_array_get(have, i), w);
		struct fw_rule nr;
		if (!present)
			rc = ctl_firewall_rule_add(c, ch->name, json_string_value(json_object_get(w, "proto")),
						   json_string_value(json_object_get(w, "port")),
						   json_string_value(json_object_get(w, "from")),
						   json_string_value(json_object_get(w, "from_firewall")), &nr, e);
	}
	return rc;
}

/* A new type or a larger root disk: a resize, live where it can be, else
 * with a restart (the VM keeps its id, addresses and disks). */
static int resize_vm(struct ctl *c, const struct stack_change *ch, struct move *m, struct err *e)
{
	const json_t *wt = json_object_get(ch->want, "type"), *wd = json_object_get(ch->want, "disk_size");
	struct vm_resize_request r = {.restart = true};
	if (!json_equal(wt, json_object_get(ch->live.spec, "type")))
		r.type = json_string_value(wt);
	if (wd && !json_equal(wd, json_object_get(ch->live.spec, "disk_size")))
		r.disk_size = json_string_value(wd);
	if (!r.type && !r.disk_size)
		return 0;
	struct vm vm;
	struct operation op;
	bool accepted;
	if (ctl_vm_resize(c, ch->name, &r, &vm, &op, &accepted, e) < 0)
		return -1;
	op_json(m, &op);
	snprintf(m->did, sizeof(m->did), "resizing%s%s%s%s", r.type ? " to " : "", r.type ? r.type : "",
		 r.disk_size ? ", disk " : "", r.disk_size ? r.disk_size : "");
	vm_free_fields(&vm);
	operation_free_fields(&op);
	return 0;
}

static int update_vm(struct ctl *c, const struct stack_change *ch, struct move *m, struct err *e)
{
	const json_t *wf = json_object_get(ch->want, "firewalls");
	if (!json_equal(wf, json_object_get(ch->live.spec, "firewalls"))) {
		size_t n = json_array_size(wf);
		const char **names = xcalloc(n + 1, sizeof(char *));
		for (size_t i = 0; i < n; i++)
			names[i] = json_string_value(json_array_get(wf, i));
		struct vm vm;
		int rc = ctl_vm_set_firewalls(c, ch->name, names, (int)n, &vm, e);
		free(names);
		if (rc < 0)
			return -1;
		vm_free_fields(&vm);
	}
	const json_t *want = json_object_get(ch->want, "forwards"), *have = json_object_get(ch->live.spec, "forwards");
	for (size_t i = 0; i < json_array_size(have); i++) {
		const json_t *h = json_array_get(have, i);
		bool keep = false;
		for (size_t k = 0; k < json_array_size(want) && !keep; k++)
			keep = json_equal(h, json_array_get(want, k));
		unsigned hp = 0, gp = 0;
		char proto[8] = "tcp";
		if (keep || sscanf(json_string_value(h), "%u:%u/%7s", &hp, &gp, proto) < 2)
			continue;
		char port[8];
		snprintf(port, sizeof(port), "%u", hp);
		if (ctl_vm_unexpose(c, ch->name, port, proto, e) < 0)
			return -1;
	}
	for (size_t k = 0; k < json_array_size(want); k++) {
		const json_t *w = json_array_get(want, k);
		bool present = false;
		for (size_t i = 0; i < json_array_size(have) && !present; i++)
			present = json_equal(json_array_get(have, i), w);
		struct forward f;
		if (!present && ctl_vm_expose(c, ch->name, json_string_value(w), &f, e) < 0)
			return -1;
	}
	return resize_vm(c, ch, m, e);
}

/* A volume moves between VMs in two operations: detach, then attach. */
static int update_volume(struct ctl *c, const struct stack_change *ch, struct move *m, struct err *e)
{
	const char *want = json_string_value(json_object_get(ch->want, "vm"));
	const char *have = json_string_value(json_object_get(ch->live.spec, "vm"));
	struct volume v;
	struct operation op = {0};
	bool accepted = false;
	int rc;
	if (have) {
		rc = ctl_volume_detach(c, ch->name, &v, &op, &accepted, e);
		m->again = want != NULL;
		snprintf(m->did, sizeof(m->did), "detaching from %s", have);
	} else {
		rc = ctl_volume_attach(c, ch->name, want, &v, &op, &accepted, e);
		snprintf(m->did, sizeof(m->did), "attaching to %s", want);
	}
	if (rc == 0) {
		op_json(m, &op);
		operation_free_fields(&op);
	}
	return rc;
}

static int move_create(struct ctl *c, const char *stack, struct stack_change *ch, struct move *m, struct err *e)
{
	if (ch->live.going) {   /* a delete is under way: its name is free once it is gone */
		m->again = true;
		return 0;
	}
	if (!ch->live.exists) {
		char id[ID_MAX] = "";
		if (owned_put(c, stack, ch, NULL, "creating", e) < 0)
			return -1;
		if (create_live(c, ch, m, id, e) < 0)
			return -1;
		return owned_put(c, stack, ch, id, "ready", e);
	}
	json_t *fields = json_array();
	bool replace = false;
	int n = stack_diff(ch->kind, ch->want, ch->live.spec, fields, &replace);
	json_decref(fields);
	if (replace || ch->action == STACK_REPLACE)
		return err_set(e, ERR_CONFLICT, "%s %s must be replaced: it was not deleted first; run apply again",
			       stack_kind_name(ch->kind), ch->name);
	int rc = 0;
	if (n > 0) {
		switch (ch->kind) {
		case STACK_FIREWALL: rc = update_rules(c, ch, e); break;
		case STACK_VM: rc = update_vm(c, ch, m, e); break;
		case STACK_VOLUME: rc = update_volume(c, ch, m, e); break;
		case STACK_LB: rc = stack_lb_update(c, ch, e); break;
		case STACK_GROUP: rc = stack_group_update(c, ch, e); break;
		default: break;
		}
		if (rc == 0 && !m->did[0])
			snprintf(m->did, sizeof(m->did), "updated");
	}
	/* done (or one move of several): record what it now has */
	if (rc == 0 && !m->again)
		rc = owned_put(c, stack, ch, ch->live.id, "ready", e);
	return rc;
}

static int move_delete(struct ctl *c, struct stack_change *ch, struct move *m, struct err *e)
{
	if (ch->live.going) {
		m->again = true;
		return 0;
	}
	if (ch->live.exists) {
		if (delete_live(c, ch, m, e) < 0)
			return -1;
		m->again = true;   /* until it is gone */
		return 0;
	}
	/* gone: a dropped resource leaves the stack; a replaced one is made again in the create phase */
	if (ch->action == STACK_DELETE)
		return store_owned_delete(c->st, stack_kind_name(ch->kind), ch->name, e);
	return 0;
}

int ctl_stack_step(struct ctl *c, const char *name, const char *lease, const json_t *doc, const char *resource,
		   const char *phase, json_t **result, struct err *e)
{
	char kind_name[16];
	const char *slash = resource ? strchr(resource, '/') : NULL;
	enum stack_kind kind;
	bool create = phase && strcmp(phase, "create") == 0;
	if (!slash || (size_t)(slash - resource) >= sizeof(kind_name))
		return err_set(e, ERR_INVALID, "resource \"%s\" must be KIND/NAME, e.g. vm/web", resource ? resource : "");
	snprintf(kind_name, sizeof(kind_name), "%.*s", (int)(slash - resource), resource);
	if (!stack_kind_parse(kind_name, &kind))
		return err_set(e, ERR_INVALID, "resource \"%s\": kinds are network, firewall, volume, vm, lb and group", resource);
	if (!create && (!phase || strcmp(phase, "delete") != 0))
		return err_set(e, ERR_INVALID, "phase \"%s\" must be create or delete", phase ? phase : "");
	if (lease_check(c, name, lease, false, e) < 0)
		return -1;
	struct stack_plan p;
	if (stackplan_make(c, name, doc, &p, e) < 0)
		return -1;
	struct stack_change *ch = stackplan_find(&p, kind, slash + 1);
	struct move m = {0};
	int rc = 0;
	if (!ch)
		rc = err_set(e, ERR_NOT_FOUND, "stack %s has no resource %s", name, resource);
	else if (create && ch->res < 0)
		rc = err_set(e, ERR_INVALID, "%s is not in the document: it can only be deleted", resource);
	else if (ch->action != STACK_NONE || (!create && ch->res < 0))
		rc = create ? move_create(c, name, ch, &m, e) : move_delete(c, ch, &m, e);
	else if (create)   /* nothing to do; make sure the stack's record says so */
		rc = owned_put(c, name, ch, ch->live.id, "ready", e);
	if (rc == 0 && (m.did[0] || !m.again))
		rc = lease_check(c, name, lease, m.did[0] != '\0', e);
	if (rc == 0) {
		*result = json_pack("{s:b, s:s}", "done", !m.again, "did", m.did);
		if (m.op)
			json_object_set(*result, "operation", m.op);
		if (m.did[0])
			log_info("stack %s: %s: %s", name, resource, m.did);
	} else if (ch) {
		err_prefix(e, "%s", resource);
	}
	json_decref(m.op);
	stackplan_free(&p);
	return rc;
}

/* --- adopt, show, list ---------------------------------------------------------------- */

int ctl_stack_adopt(struct ctl *c, const char *name, const char *resource, struct err *e)
{
	char kind_name[16];
	const char *slash = resource ? strchr(resource, '/') : NULL;
	enum stack_kind kind;
	if (vm_name_validate(name, "stack", e) < 0)
		return -1;
	if (!slash || (size_t)(slash - resource) >= sizeof(kind_name))
		return err_set(e, ERR_INVALID, "resource \"%s\" must be KIND/NAME, e.g. vm/web", resource ? resource : "");
	snprintf(kind_name, sizeof(kind_name), "%.*s", (int)(slash - resource), resource);
	if (!stack_kind_parse(kind_name, &kind))
		return err_set(e, ERR_INVALID, "resource \"%s\": kinds are network, firewall, volume, vm, lb and group", resource);
	if (store_tx_begin(c->st, e) < 0)
		return -1;
	struct stack_live l;
	struct stack_owned o;
	struct stack_state s;
	struct err ge = {0};
	int rc = stack_live_get(c, kind, slash + 1, &l, e);
	if (rc == 0 && !l.exists)
		rc = err_set(e, ERR_NOT_FOUND, "%s %s does not exist", kind_name, slash + 1);
	if (rc == 0 && store_owned_get(c->st, kind_name, slash + 1, &o, &ge) == 0) {
		rc = err_set(e, ERR_CONFLICT, "%s already belongs to stack %s", resource, o.stack);
		free(o.spec);
	}
	if (rc == 0 && store_stack_get(c->st, name, &s, &ge) < 0) {
		memset(&s, 0, sizeof(s));
		snprintf(s.name, sizeof(s.name), "%s", name);
		s.created_at = time_now_ms();
		rc = store_stack_insert(c->st, &s, e);
	}
	if (rc == 0) {
		struct stack_change ch = {.kind = kind, .want = l.spec};
		snprintf(ch.name, sizeof(ch.name), "%s", slash + 1);
		rc = owned_put(c, name, &ch, l.id, "ready", e);
	}
	if (rc == 0) {   /* saved plans of the stack no longer hold */
		rc = store_stack_get(c->st, name, &s, e);
		s.serial++;
		if (rc == 0)
			rc = store_stack_update(c->st, &s, e);
	}
	json_decref(l.spec);
	if (store_tx_end(c->st, rc == 0, rc == 0 ? e : NULL) < 0)
		rc = -1;
	if (rc == 0)
		log_info("stack %s: adopted %s", name, resource);
	return rc;
}

static json_t *state_json(const struct stack_state *s, int n_res)
{
	char applied[32] = "";
	if (s->applied_at)
		time_format_rfc3339(s->applied_at, applied);
	json_t *o = json_pack("{s:s, s:I, s:b, s:i}", "name", s->name, "serial", (json_int_t)s->serial, "locked",
			      s->lease[0] && s->lease_until > time_now_ms(), "resources_count", n_res);
	json_object_set_new(o, "applied_at", s->applied_at ? json_string(applied) : json_null());
	return o;
}

int ctl_stack_show(struct ctl *c, const char *name, json_t **out, struct err *e)
{
	struct stack_state s;
	struct stack_owned *o = NULL;
	int n = 0;
	if (store_stack_get(c->st, name, &s, e) < 0 || store_owned_list(c->st, name, &o, &n, e) < 0)
		return -1;
	json_t *res = json_array();
	for (int i = 0; i < n; i++) {
		enum stack_kind k;
		struct stack_live l = {0};
		if (stack_kind_parse(o[i].kind, &k))
			stack_live_get(c, k, o[i].name, &l, NULL);
		json_t *spec = json_loads(o[i].spec, 0, NULL);
		json_t *r = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}", "kind", o[i].kind, "name", o[i].name, "id",
				      l.exists ? l.id : o[i].id, "state", o[i].state, "live",
				      !l.exists ? "missing" : l.going ? "deleting" : "present", "spec",
				      spec ? spec : json_null());
		json_array_append_new(res, r);
		json_decref(l.spec);
	}
	*out = state_json(&s, n);
	json_object_set_new(*out, "resources", res);
	stack_owned_list_free(o, n);
	return 0;
}

int ctl_stack_list(struct ctl *c, json_t **out, struct err *e)
{
	struct stack_state *s = NULL;
	struct stack_owned *o = NULL;
	int n = 0, n_o = 0;
	if (store_stack_list(c->st, &s, &n, e) < 0)
		return -1;
	if (store_owned_list(c->st, NULL, &o, &n_o, e) < 0) {
		free(s);
		return -1;
	}
	json_t *arr = json_array();
	for (int i = 0; i < n; i++) {
		int count = 0;
		for (int k = 0; k < n_o; k++)
			count += strcmp(o[k].stack, s[i].name) == 0;
		json_array_append_new(arr, state_json(&s[i], count));
	}
	*out = json_pack("{s:o}", "stacks", arr);
	free(s);
	stack_owned_list_free(o, n_o);
	return 0;
}
