/*
 * firewalls: security groups and port forwards as the API asks for them.
 * Like every ctl entry point these only validate and write the store; the
 * ruleset is rendered and applied by the reconciler (rules.c), woken at once
 * so a change is in force within a tick.
 */
#include "ctl/ctl-priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/str.h"
#include "util/timeutil.h"

/* The default firewall: SSH and ping from anywhere, everything from its own members. */
int firewalls_init(struct ctl *c, struct err *e)
{
	struct firewall fw;
	struct err ge = {0};
	if (store_firewall_get(c->st, "default", &fw, &ge) == 0)
		return 0;
	if (ge.kind != ERR_NOT_FOUND)
		return err_set(e, ge.kind, "%s", ge.msg);
	memset(&fw, 0, sizeof(fw));
	id_new("fw", fw.id);
	snprintf(fw.name, sizeof(fw.name), "default");
	snprintf(fw.description, sizeof(fw.description), "SSH and ping from anywhere; all traffic between members");
	fw.created_at = time_now_ms();
	struct fw_rule rules[3] = {0};
	fw_rule_parse("tcp", "22", NULL, NULL, &rules[0], NULL);
	fw_rule_parse("icmp", NULL, NULL, NULL, &rules[1], NULL);
	fw_rule_parse("all", NULL, NULL, "default", &rules[2], NULL);
	snprintf(rules[2].from_firewall_id, sizeof(rules[2].from_firewall_id), "%s", fw.id);
	bool ok = store_tx_begin(c->st, e) == 0;
	if (!ok)
		return -1;
	ok = store_firewall_insert(c->st, &fw, e) == 0;
	for (int i = 0; ok && i < 3; i++) {
		id_new("fwr", rules[i].id);
		snprintf(rules[i].firewall_id, sizeof(rules[i].firewall_id), "%s", fw.id);
		rules[i].created_at = fw.created_at + i;
		ok = store_fw_rule_insert(c->st, &rules[i], e) == 0;
	}
	/* VMs made before firewalls existed join the default one. */
	struct vm *vms = NULL;
	int n = 0;
	if (ok)
		ok = store_vm_list(c->st, &vms, &n, e) == 0;
	struct vm_firewall member = {0};
	snprintf(member.id, sizeof(member.id), "%s", fw.id);
	for (int i = 0; ok && i < n; i++)
		if (vms[i].n_firewalls == 0)
			ok = store_vm_set_firewalls(c->st, vms[i].id, &member, 1, e) == 0;
	vm_list_free(vms, n);
	if (store_tx_end(c->st, ok, ok ? e : NULL) < 0 || !ok)
		return -1;
	log_info("firewall default: created (SSH and ping from anywhere, all between members)");
	return 0;
}

int firewalls_resolve(struct ctl *c, const char *const *refs, int n, const char *field, struct vm_firewall *out,
		      int *n_out, struct err *e)
{
	if (n > VM_FIREWALLS_MAX)
		return err_set(e, ERR_INVALID, "%s has %d firewalls; a VM has at most %d", field, n, VM_FIREWALLS_MAX);
	if (n == 0)
		return err_set(e, ERR_INVALID, "%s is empty; a VM needs at least one firewall (e.g. default)", field);
	for (int i = 0; i < n; i++) {
		struct firewall fw;
		if (!refs[i] || store_firewall_get(c->st, refs[i], &fw, e) < 0) {
			if (!refs[i])
				err_set(e, ERR_INVALID, "%s[%d] must be a firewall name", field, i);
			else
				err_prefix(e, "%s[%d]", field, i);
			return -1;
		}
		for (int j = 0; j < i; j++)
			if (strcmp(out[j].id, fw.id) == 0)
				return err_set(e, ERR_INVALID, "%s[%d] \"%s\" is listed twice", field, i, refs[i]);
		snprintf(out[i].id, sizeof(out[i].id), "%s", fw.id);
		snprintf(out[i].name, sizeof(out[i].name), "%s", fw.name);
	}
	*n_out = n;
	return 0;
}

int ctl_firewall_create(struct ctl *c, const char *name, const char *description, struct firewall *fw,
			struct err *e)
{
	if (vm_name_validate(name, "name", e) < 0)
		return -1;
	if (description && (strlen(description) > FIREWALL_DESCRIPTION_MAX || strchr(description, '\n')))
		return err_set(e, ERR_INVALID, "description must be one line of at most %d bytes",
			       FIREWALL_DESCRIPTION_MAX);
	memset(fw, 0, sizeof(*fw));
	id_new("fw", fw->id);
	snprintf(fw->name, sizeof(fw->name), "%s", name);
	snprintf(fw->description, sizeof(fw->description), "%s", description ? description : "");
	fw->created_at = time_now_ms();
	if (store_firewall_insert(c->st, fw, e) < 0)
		return -1;
	log_info("firewall %s: created", fw->name);
	return 0;
}

int ctl_firewall_delete(struct ctl *c, const char *ref, struct err *e)
{
	struct firewall fw;
	int members = 0, refs = 0;
	if (store_tx_begin(c->st, e) < 0)
		return -1;
	bool ok = store_firewall_get(c->st, ref, &fw, e) == 0;
	if (ok && strcmp(fw.name, "default") == 0)
		ok = err_set(e, ERR_CONFLICT, "the default firewall cannot be deleted: VMs created without --firewall use it") == 0;
	if (ok)
		ok = store_firewall_usage(c->st, fw.id, &members, &refs, e) == 0;
	if (ok && members)
		ok = err_set(e, ERR_CONFLICT, "firewall %s has %d member VM%s; move them to other firewalls first "
			     "(nubo vm set-firewall VM NAMES)", fw.name, members, members == 1 ? "" : "s") == 0;
	if (ok && refs)
		ok = err_set(e, ERR_CONFLICT, "firewall %s is the source of %d rule%s of other firewalls; delete those first",
			     fw.name, refs, refs == 1 ? "" : "s") == 0;
	if (ok)
		ok = store_firewall_delete(c->st, fw.id, e) == 0;
	if (store_tx_end(c->st, ok, ok ? e : NULL) < 0 || !ok)
		return -1;
	log_info("firewall %s: deleted", fw.name);
	ctl_rules_changed_wait(c);
	return 0;
}

int ctl_firewall_rule_add(struct ctl *c, const char *fw_ref, const char *proto, const char *port, const char *from,
			  const char *from_firewall, struct fw_rule *r, struct err *e)
{
	struct firewall fw, src;
	memset(r, 0, sizeof(*r));
	if (store_firewall_get(c->st, fw_ref, &fw, e) < 0)
		return -1;
	if (fw_rule_parse(proto, port, from, from_firewall, r, e) < 0)
		return -1;
	if (from_firewall) {
		if (store_firewall_get(c->st, from_firewall, &src, e) < 0) {
			err_prefix(e, "from_firewall");
			return -1;
		}
		snprintf(r->from_firewall_id, sizeof(r->from_firewall_id), "%s", src.id);
		snprintf(r->from_firewall, sizeof(r->from_firewall), "%s", src.name);
	}
	id_new("fwr", r->id);
	snprintf(r->firewall_id, sizeof(r->firewall_id), "%s", fw.id);
	r->created_at = time_now_ms();
	if (store_fw_rule_insert(c->st, r, e) < 0)
		return -1;
	char what[160];
	fw_rule_describe(r, what, sizeof(what));
	log_info("firewall %s: rule %s added: %s", fw.name, r->id, what);
	ctl_rules_changed_wait(c);
	return 0;
}

int ctl_firewall_rule_delete(struct ctl *c, const char *fw_ref, const char *rule_id, struct err *e)
{
	struct firewall fw;
	if (store_firewall_get(c->st, fw_ref, &fw, e) < 0 || store_fw_rule_delete(c->st, fw.id, rule_id, e) < 0)
		return -1;
	log_info("firewall %s: rule %s deleted", fw.name, rule_id);
	ctl_rules_changed_wait(c);
	return 0;
}

int ctl_vm_set_firewalls(struct ctl *c, const char *vm_ref, const char *const *refs, int n, struct vm *vm,
			 struct err *e)
{
	memset(vm, 0, sizeof(*vm));
	if (store_tx_begin(c->st, e) < 0)
		return -1;
	bool ok = store_vm_get(c->st, vm_ref, vm, e) == 0;
	if (ok && vm->power == POWER_DELETED)
		ok = err_set(e, ERR_CONFLICT, "VM %s is being deleted", vm->name) == 0;
	if (ok)
		ok = firewalls_resolve(c, refs, n, "firewalls", vm->firewalls, &vm->n_firewalls, e) == 0 &&
		     store_vm_set_firewalls(c->st, vm->id, vm->firewalls, vm->n_firewalls, e) == 0;
	if (store_tx_end(c->st, ok, ok ? e : NULL) < 0 || !ok) {
		vm_free_fields(vm);
		return -1;
	}
	log_info("vm %s: firewalls set (%d)", vm->name, vm->n_firewalls);
	ctl_rules_changed_wait(c);
	return 0;
}

struct port_question {
	enum proto proto;
	uint16_t port;
	bool busy;
};

/* On the reconciler thread (ctl_ask): whether a program on the host listens there. */
static int ask_port(struct ctl *c, void *arg, struct err *e)
{
	struct port_question *q = arg;
	return c->host->port_in_use(q->proto, q->port, &q->busy, e);
}

int ctl_vm_expose(struct ctl *c, const char *vm_ref, const char *map, struct forward *f, struct err *e)
{
	struct port_map pm;
	struct vm vm;
	if (port_map_parse(map, "ports", &pm, e) < 0 || store_vm_get(c->st, vm_ref, &vm, e) < 0)
		return -1;
	memset(f, 0, sizeof(*f));
	snprintf(f->vm_id, sizeof(f->vm_id), "%s", vm.id);
	snprintf(f->vm_name, sizeof(f->vm_name), "%s", vm.name);
	bool deleting = vm.power == POWER_DELETED;
	vm_free_fields(&vm);
	if (deleting)
		return err_set(e, ERR_CONFLICT, "VM %s is being deleted", f->vm_name);
	f->proto = pm.proto;
	f->host_port = pm.host;
	f->guest_port = pm.guest;
	f->created_at = time_now_ms();
	struct port_question q = {.proto = pm.proto, .port = pm.host};
	if (ctl_ask(c, ask_port, &q, e) < 0)
		return -1;
	if (q.busy)
		return err_set(e, ERR_CONFLICT, "ports \"%s\": host port %u/%s is in use by a program on the host", map,
			       pm.host, proto_name(pm.proto));
	/* A balancer's host port is its own, whatever the protocol (the VM
	 * chains tell a balancer's connection from a forward's by the port). */
	char who[200];
	if (store_tx_begin(c->st, e) < 0)
		return -1;
	bool ok = store_host_port_owner(c->st, pm.host, NULL, false, who, sizeof(who), e) == 0;
	if (ok && who[0])
		ok = err_set(e, ERR_CONFLICT, "ports \"%s\": host port %u is taken by %s; pick another port", map,
			     pm.host, who) == 0;
	ok = ok && store_forward_insert(c->st, f, e) == 0;
	if (store_tx_end(c->st, ok, ok ? e : NULL) < 0 || !ok)
		return -1;
	log_info("vm %s: host port %u/%s forwarded to port %u", f->vm_name, f->host_port, proto_name(f->proto),
		 f->guest_port);
	ctl_rules_changed_wait(c);
	return 0;
}

int ctl_vm_unexpose(struct ctl *c, const char *vm_ref, const char *host_port, const char *proto, struct err *e)
{
	uint16_t port = 0;
	enum proto p = PROTO_TCP;
	struct vm vm;
	if (port_parse(host_port, "host_port", &port, e) < 0 || (proto && proto_parse(proto, "proto", &p, e) < 0))
		return -1;
	if (store_vm_get(c->st, vm_ref, &vm, e) < 0)
		return -1;
	int rc = store_forward_delete(c->st, vm.id, p, port, e);
	if (rc == 0)
		log_info("vm %s: host port %u/%s no longer forwarded", vm.name, port, proto_name(p));
	vm_free_fields(&vm);
	if (rc == 0)
		ctl_rules_changed_wait(c);
	return rc;
}
