/*
 * vms: what the API asks of VMs, turned into specs. Nothing here touches the
 * host: each function validates, writes the spec and an operation in one
 * transaction, and kicks the reconciler that will act on it.
 */
#include "ctl/ctl-priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/serial.h"
#include "model/size.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/str.h"
#include "util/timeutil.h"

static int check_request(struct ctl *c, const struct vm_request *r, const struct machine_type **type,
			 const struct machine_type **max_type, struct image *img, struct err *e)
{
	if (vm_name_validate(r->name, "name", e) < 0)
		return -1;
	const char *type_name = r->type ? r->type : "small";
	*type = catalog_find(&c->cfg.types, type_name);
	if (!*type) {
		autofree char *names = catalog_names(&c->cfg.types);
		return err_set(e, ERR_UNPROCESSABLE, "type \"%s\" does not exist; valid types: %s", type_name, names);
	}
	/* The ceiling a live resize may grow to; by default the VM's own type
	 * (no room: QEMU costs nothing extra and the VM is what was asked). */
	*max_type = r->max_type ? catalog_find(&c->cfg.types, r->max_type) : *type;
	if (!*max_type) {
		autofree char *names = catalog_names(&c->cfg.types);
		return err_set(e, ERR_UNPROCESSABLE, "max_type \"%s\" does not exist; valid types: %s", r->max_type,
			       names);
	}
	if ((*max_type)->vcpus < (*type)->vcpus || (*max_type)->memory_mib < (*type)->memory_mib)
		return err_set(e, ERR_INVALID,
			       "max_type \"%s\" (%d vCPU, %d MiB) is smaller than type \"%s\" (%d vCPU, %d MiB); the "
			       "ceiling must hold the VM",
			       (*max_type)->name, (*max_type)->vcpus, (*max_type)->memory_mib, (*type)->name,
			       (*type)->vcpus, (*type)->memory_mib);
	if (r->spread_group && vm_name_validate(r->spread_group, "spread_group", e) < 0)
		return -1;
	const char *image_name = r->image ? r->image : "tiny";
	struct snapshot sn;
	if (r->from_snapshot) {
		if (r->image)
			return err_set(e, ERR_INVALID, "give image or from_snapshot, not both: a snapshot boots like its VM's image");
		if (store_snapshot_get(c->st, r->from_snapshot, &sn, e) < 0) {
			e->kind = ERR_UNPROCESSABLE;
			return -1;
		}
		if (sn.volume_id[0])
			return err_set(e, ERR_UNPROCESSABLE,
				       "snapshot %s is of volume %s; make a volume from it: nubo volume create NAME --from-snapshot %s",
				       sn.name, sn.vm_name, sn.name);
		if (strcmp(sn.state, "ready") != 0)
			return err_set(e, ERR_UNPROCESSABLE, "snapshot %s is %s, not ready", sn.name, sn.state);
		image_name = sn.image_id;
	}
	struct err ie = {0};
	if (store_image_get(c->st, image_name, img, &ie) < 0) {
		if (ie.kind != ERR_NOT_FOUND)
			return err_set(e, ie.kind, "%s", ie.msg);
		struct image *imgs = NULL;
		int n = 0;
		struct sbuf names = {0};
		if (store_image_list(c->st, &imgs, &n, NULL) == 0)
			for (int i = 0; i < n; i++)
				sbuf_addf(&names, "%s%s", i ? ", " : "", imgs[i].name);
		image_list_free(imgs, n);
		autofree char *list = sbuf_take(&names);
		return err_set(e, ERR_UNPROCESSABLE, "image \"%s\" does not exist; available images: %s%s",
			       image_name, *list ? list : "none",
			       strcmp(image_name, "tiny") == 0 ? " (build it with: nubo image build tiny)" : "");
	}
	if (strcmp(img->state, "ready") != 0)
		return err_set(e, ERR_UNPROCESSABLE, "image \"%s\" is %s, not ready", img->name, img->state);
	if (r->n_ssh_keys > VM_SSH_KEYS_MAX)
		return err_set(e, ERR_INVALID, "ssh_keys has %d keys; the limit is %d", r->n_ssh_keys,
			       VM_SSH_KEYS_MAX);
	for (int i = 0; i < r->n_ssh_keys; i++) {
		const char *k = r->ssh_keys[i];
		if (!k || strchr(k, '\n') || strlen(k) > 16384 ||
		    !(str_starts_with(k, "ssh-") || str_starts_with(k, "ecdsa-") || str_starts_with(k, "sk-")))
			return err_set(e, ERR_INVALID,
				       "ssh_keys[%d] is not an OpenSSH public key (one line starting with ssh-, "
				       "ecdsa- or sk-)",
				       i);
	}
	if (r->disk_size) {
		uint64_t want = 0;
		char have[32], max[32];
		if (size_parse(r->disk_size, "disk_size", &want, e) < 0)
			return -1;
		size_format((uint64_t)img->virtual_size_bytes, have);
		size_format(VM_DISK_MAX, max);
		if (want < (uint64_t)img->virtual_size_bytes || want > VM_DISK_MAX)
			return err_set(e, ERR_INVALID, "disk_size %s is outside what image %s allows: from %s to %s",
				       r->disk_size, img->name, have, max);
	}
	if (r->ephemeral) {
		uint64_t eph = 0;
		if (size_parse(r->ephemeral, "ephemeral", &eph, e) < 0)
			return -1;
		if (eph < (1ull << 20) || eph > VM_DISK_MAX)
			return err_set(e, ERR_INVALID, "ephemeral %s must be between 1M and 16T", r->ephemeral);
	}
	if (r->user_data && strlen(r->user_data) > VM_USER_DATA_MAX)
		return err_set(e, ERR_INVALID, "user_data is %zu bytes; the limit is %d", strlen(r->user_data),
			       VM_USER_DATA_MAX);
	return 0;
}

/* One NIC per requested network, each with its address (asked for, or the
 * next free one) and a MAC no other NIC has. In the create transaction. */
static int place_nics(struct ctl *c, const struct vm_request *r, struct vm *vm, struct err *e)
{
	static const struct vm_nic_request default_nic = {.network = "default"};
	const struct vm_nic_request *req = r->n_nics ? r->nics : &default_nic;
	int n = r->n_nics ? r->n_nics : 1;
	if (n > VM_NICS_MAX)
		return err_set(e, ERR_INVALID, "nics has %d entries; a VM has at most %d", n, VM_NICS_MAX);
	for (int i = 0; i < n; i++) {
		struct network net;
		struct vm_nic *nic = &vm->nics[i];
		if (!req[i].network)
			return err_set(e, ERR_INVALID, "nics[%d].network is missing", i);
		if (store_network_get(c->st, req[i].network, &net, e) < 0) {
			err_prefix(e, "nics[%d].network", i);
			return -1;
		}
		if (net.deleted)
			return err_set(e, ERR_CONFLICT, "nics[%d].network \"%s\" is being deleted", i, net.name);
		for (int j = 0; j < i; j++)
			if (strcmp(vm->nics[j].network_id, net.id) == 0)
				return err_set(e, ERR_INVALID, "nics[%d].network \"%s\": a VM has one NIC per network", i,
					       req[i].network);
		snprintf(nic->network, sizeof(nic->network), "%s", net.name);
		snprintf(nic->network_id, sizeof(nic->network_id), "%s", net.id);
		char field[32];
		snprintf(field, sizeof(field), "nics[%d].ip", i);
		if (req[i].ip ? sched_claim_ip(c, &net, req[i].ip, field, nic->ip, e) < 0
			      : sched_pick_ip(c, &net, nic->ip, e) < 0)
			return -1;
		if (sched_pick_mac(c, nic->mac, e) < 0)
			return -1;
		vm->n_nics = i + 1;
	}
	return 0;
}

static int join_firewalls(struct ctl *c, const struct vm_request *r, struct vm *vm, struct err *e)
{
	static const char *const default_fw[] = {"default"};
	const char *const *names = r->n_firewalls ? r->firewalls : default_fw;
	int n = r->n_firewalls ? r->n_firewalls : 1;
	return firewalls_resolve(c, names, n, "firewalls", vm->firewalls, &vm->n_firewalls, e);
}

int ctl_vm_create(struct ctl *c, const struct vm_request *r, struct vm *vm, struct operation *op,
		  struct err *e)
{
	const struct machine_type *type = NULL, *max_type = NULL;
	struct image img;
	memset(vm, 0, sizeof(*vm));
	memset(&img, 0, sizeof(img));
	if (check_request(c, r, &type, &max_type, &img, e) < 0) {
		image_free_fields(&img);
		return -1;
	}
	id_new("vm", vm->id);
	snprintf(vm->name, sizeof(vm->name), "%s", r->name);
	snprintf(vm->type, sizeof(vm->type), "%s", type->name);
	vm->vcpus = type->vcpus;
	vm->memory_mib = type->memory_mib;
	snprintf(vm->max_type, sizeof(vm->max_type), "%s", max_type->name);
	vm->max_vcpus = max_type->vcpus;
	vm->max_memory_mib = max_type->memory_mib;
	snprintf(vm->image, sizeof(vm->image), "%s", img.name);
	snprintf(vm->image_id, sizeof(vm->image_id), "%s", img.id);
	snprintf(vm->ssh_user, sizeof(vm->ssh_user), "%s", img.user[0] ? img.user : "root");
	if (r->disk_size)
		size_parse(r->disk_size, "disk_size", &vm->disk_size_bytes, NULL);
	vm->live_disk_bytes = vm->disk_size_bytes;   /* the disk is made at this size */
	if (r->ephemeral)
		size_parse(r->ephemeral, "ephemeral", &vm->ephemeral_bytes, NULL);
	struct snapshot from;
	if (r->from_snapshot && store_snapshot_get(c->st, r->from_snapshot, &from, NULL) == 0)
		snprintf(vm->base_snapshot, sizeof(vm->base_snapshot), "%s", from.id);
	image_free_fields(&img);
	struct sbuf keys = {0};
	for (int i = 0; i < r->n_ssh_keys; i++)
		sbuf_addf(&keys, "%s%s", i ? "\n" : "", r->ssh_keys[i]);
	vm->ssh_keys = sbuf_take(&keys);
	vm->ssh_key_file = xstrdup(r->ssh_key_file);
	vm->user_data = xstrdup(r->user_data);
	vm->no_seed = r->no_seed;
	snprintf(vm->spread_group, sizeof(vm->spread_group), "%s", r->spread_group ? r->spread_group : "");
	vm->power = POWER_RUNNING;
	vm->state = VM_PENDING;
	vm->created_at = vm->state_since = time_now_ms();
	operation_init(op, "create", vm->id, vm->name);
	snprintf(vm->op_id, sizeof(vm->op_id), "%s", op->id);

	bool ok = store_tx_begin(c->st, e) == 0;
	if (!ok)
		goto fail;
	ok = sched_place(c, vm, r->host, e) == 0 && place_nics(c, r, vm, e) == 0 && join_firewalls(c, r, vm, e) == 0;
	if (ok) {
		phases_mark(&op->phases, "scheduled", op->created_at, time_now_ms());
		vm->boot = op->phases;
		ok = store_vm_insert(c->st, vm, e) == 0 && store_op_insert(c->st, op, e) == 0;
	}
	if (store_tx_end(c->st, ok, ok ? e : NULL) < 0 || !ok)
		goto fail;
	log_info("vm %s (%s): create accepted, type %s, image %s, ip %s, host %s", vm->name, vm->id, vm->type,
		 vm->image, vm_ip(vm), vm->host);
	ctl_rules_changed(c);
	return 0;
fail:
	vm_free_fields(vm);
	return -1;
}

/* Marks the VM's previous operation failed when a new one takes over. */
void ctl_vm_supersede(struct ctl *c, const struct vm *vm, const struct operation *next)
{
	if (!vm->op_id[0])
		return;
	char why[128];
	snprintf(why, sizeof(why), "superseded by %s (%s)", next->kind, next->id);
	ctl_op_finish(c, vm->op_id, false, why);
}

static int act_locked(struct ctl *c, struct vm *vm, enum vm_action a, bool force, struct operation *op,
		      bool *accepted, struct err *e)
{
	if (vm->move_to[0] && a == VM_ACTION_START)
		return err_set(e, ERR_CONFLICT, "VM %s is moving to host %s; start it when the move has ended (nubo "
						"operation wait %s)", vm->name, vm->move_to, vm->op_id);
	enum vm_verdict v = vm_action_verdict(vm->state, vm->power, a);
	if (v == VM_REFUSE)
		return err_set(e, ERR_CONFLICT, "cannot %s VM %s while it is %s%s", vm_action_name(a), vm->name,
			       vm_state_name(vm->state),
			       a == VM_ACTION_REBOOT ? "; only a running VM can be rebooted" : "; try again shortly");
	if (v == VM_NOOP) {
		*accepted = false;
		/* Already on its way: hand back the operation in progress, if any. */
		if (vm->op_id[0] && store_op_get(c->st, vm->op_id, op, NULL) == 0) {
			if (op->state == OP_RUNNING)
				return 0;
			operation_free_fields(op);
		}
		return ctl_op_record_done(c, vm_action_name(a), vm->id, vm->name, op, e);
	}
	*accepted = true;
	operation_init(op, vm_action_name(a), vm->id, vm->name);
	switch (a) {
	case VM_ACTION_START:
		vm->power = POWER_RUNNING;
		if (sched_admit(c, vm, e) < 0)
			return -1;
		phases_mark(&op->phases, "scheduled", op->created_at, time_now_ms());
		vm->boot = op->phases;
		free(vm->reason);
		vm->reason = NULL;
		break;
	case VM_ACTION_STOP:
		vm->power = POWER_STOPPED;
		vm->force_stop = force;
		vm->deadline = 0;
		break;
	case VM_ACTION_REBOOT:
		vm->reboot = true;
		vm->force_stop = force;
		vm->deadline = 0;
		break;
	case VM_ACTION_DELETE:
		vm->power = POWER_DELETED;
		vm->force_stop = true;
		if (volumes_release_vm(c, vm->id, e) < 0)   /* volumes outlive the VM */
			return -1;
		break;
	}
	ctl_vm_supersede(c, vm, op);
	snprintf(vm->op_id, sizeof(vm->op_id), "%s", op->id);
	vm->generation++;   /* a reconciler holding the old spec must not write it back */
	if (store_op_insert(c->st, op, e) < 0 || store_vm_update(c->st, vm, e) < 0)
		return -1;
	log_info("vm %s (%s): %s accepted%s", vm->name, vm->id, vm_action_name(a), force ? " (forced)" : "");
	return 0;
}

int ctl_vm_act_also(struct ctl *c, const char *ref, enum vm_action a, bool force, ctl_act_also also, void *arg,
		    struct vm *vm, struct operation *op, bool *accepted, struct err *e)
{
	memset(op, 0, sizeof(*op));
	if (store_tx_begin(c->st, e) < 0)
		return -1;
	int rc = store_vm_get(c->st, ref, vm, e);
	if (rc == 0) {
		rc = act_locked(c, vm, a, force, op, accepted, e);
		if (rc == 0 && *accepted && also)
			rc = also(c, vm, op, arg, e);
		if (rc < 0)
			vm_free_fields(vm);
	}
	if (store_tx_end(c->st, rc == 0, rc == 0 ? e : NULL) < 0 && rc == 0) {
		vm_free_fields(vm);
		rc = -1;
	}
	if (rc == 0 && *accepted)
		ctl_kick(c);
	return rc;
}

int ctl_vm_act(struct ctl *c, const char *ref, enum vm_action a, bool force, struct vm *vm,
	       struct operation *op, bool *accepted, struct err *e)
{
	return ctl_vm_act_also(c, ref, a, force, NULL, NULL, vm, op, accepted, e);
}

#define CONSOLE_TAIL (256 * 1024)

struct console_question {
	const char *path;
	char **text;
	size_t *len;
};

/* On the reconciler thread (ctl_ask): the log is a file on this host. */
static int ask_console(struct ctl *c, void *arg, struct err *e)
{
	struct console_question *q = arg;
	return c->host->console_tail(q->path, CONSOLE_TAIL, q->text, q->len, e);
}

int ctl_vm_console(struct ctl *c, const char *ref, char **text, size_t *len, struct err *e)
{
	struct vm vm;
	if (store_vm_get(c->st, ref, &vm, e) < 0)
		return -1;
	if (!ctl_vm_is_mine(c, &vm)) {   /* the log is a file on the VM's own host */
		err_set(e, ERR_CONFLICT, "VM %s runs on host %s; its console log is there: ask that host's API "
			"(nubo --url https://HOST:PORT vm console %s)", vm.name, vm.host, vm.name);
		vm_free_fields(&vm);
		return -1;
	}
	autofree char *dir = ctl_vm_dir(c, vm.id);
	autofree char *path = xasprintf("%s/console.log", dir);
	vm_free_fields(&vm);
	struct console_question q = {.path = path, .text = text, .len = len};
	return ctl_ask(c, ask_console, &q, e);
}

static int restore_locked(struct ctl *c, const char *vm_ref, const char *snap_ref, struct vm *vm,
			  struct operation *op, struct err *e)
{
	struct snapshot sn;
	if (store_vm_get(c->st, vm_ref, vm, e) < 0)
		return -1;
	if (store_snapshot_get(c->st, snap_ref, &sn, e) < 0)
		return -1;
	if (vm->state != VM_STOPPED || vm->power != POWER_STOPPED)
		return err_set(e, ERR_CONFLICT, "VM %s is %s; stop it before restoring a snapshot (nubo vm stop %s --wait)",
			       vm->name, vm_state_name(vm->state), vm->name);
	if (strcmp(sn.vm_id, vm->id) != 0)
		return err_set(e, ERR_CONFLICT,
			       "snapshot %s is of VM %s, not of %s; make a new VM from it with --from-snapshot", sn.name,
			       sn.vm_name, vm->name);
	if (strcmp(sn.state, "ready") != 0)
		return err_set(e, ERR_CONFLICT, "snapshot %s is %s, not ready", sn.name, sn.state);
	operation_init(op, "restore", vm->id, vm->name);
	ctl_vm_supersede(c, vm, op);
	snprintf(vm->op_id, sizeof(vm->op_id), "%s", op->id);
	snprintf(vm->restore_from, sizeof(vm->restore_from), "%s", sn.id);
	vm->generation++;
	if (store_op_insert(c->st, op, e) < 0 || store_vm_update(c->st, vm, e) < 0)
		return -1;
	log_info("vm %s (%s): restore to snapshot %s accepted", vm->name, vm->id, sn.name);
	return 0;
}

int ctl_vm_restore(struct ctl *c, const char *vm_ref, const char *snap_ref, struct vm *vm, struct operation *op,
		   struct err *e)
{
	memset(vm, 0, sizeof(*vm));
	memset(op, 0, sizeof(*op));
	if (store_tx_begin(c->st, e) < 0)
		return -1;
	int rc = restore_locked(c, vm_ref, snap_ref, vm, op, e);
	if (store_tx_end(c->st, rc == 0, rc == 0 ? e : NULL) < 0)
		rc = -1;
	if (rc < 0)
		vm_free_fields(vm);
	else
		ctl_kick(c);
	return rc;
}

/* --- the interactive serial console (host/serial.h) --------------------------------- */

/* The checks of an attach that need no connection: the VM runs, and its
 * QEMU has a console socket. *vm is filled (caller frees its fields). */
static int console_ready(struct ctl *c, const char *ref, struct vm *vm, char **sock, struct err *e)
{
	if (store_vm_get(c->st, ref, vm, e) < 0)
		return -1;
	int rc = 0;
	if (vm->state != VM_RUNNING && vm->state != VM_PENDING)
		rc = err_set(e, ERR_CONFLICT, "VM %s is %s: its serial console is there only while it runs (the log "
			     "of its last run: GET /v1/vms/%s/console)", vm->name, vm_state_name(vm->state), vm->name);
	autofree char *dir = ctl_vm_dir(c, vm->id);
	*sock = xasprintf("%s/" CTL_CONSOLE_SOCKET, dir);
	if (rc == 0 && !fs_exists(*sock))
		rc = err_set(e, ERR_CONFLICT,
			     "VM %s has no interactive serial console: it was started by a nubod without them; stop and "
			     "start it to get one (its log: GET /v1/vms/%s/console)", vm->name, vm->name);
	if (rc < 0) {
		vm_free_fields(vm);
		free(*sock);
		*sock = NULL;
	}
	return rc;
}

int ctl_console_check(struct ctl *c, const char *ref, struct err *e)
{
	struct vm vm;
	char *sock = NULL;
	if (console_ready(c, ref, &vm, &sock, e) < 0)
		return -1;
	vm_free_fields(&vm);
	free(sock);
	return 0;
}

int ctl_console_attach(struct ctl *c, const char *ref, void (*out)(void *arg, const char *data, size_t n), void *arg,
		       struct serial_viewer **v, char vm_id[ID_MAX], struct err *e)
{
	struct vm vm;
	char *sock = NULL;
	if (console_ready(c, ref, &vm, &sock, e) < 0)
		return -1;
	autofree char *dir = ctl_vm_dir(c, vm.id);
	autofree char *log = xasprintf("%s/console.log", dir);
	int rc = serial_attach(sock, log, out, arg, v, e);
	if (rc < 0)
		err_prefix(e, "VM %s", vm.name);
	else
		snprintf(vm_id, ID_MAX, "%s", vm.id);
	free(sock);
	vm_free_fields(&vm);
	return rc;
}

int ctl_console_write(struct serial_viewer *v, const char *data, size_t n, struct err *e)
{
	return serial_write(v, data, n, e);
}

void ctl_console_detach(struct serial_viewer *v)
{
	serial_detach(v);
}
