/*
 * volumes: persistent disks, attached to at most one VM at a time.
 *
 * The API sets the spec (attach_to, deleted); the reconciler brings the
 * status (attached_vm, slot) to it: to a running VM by hot-plug, to a
 * stopped one by recording the slot it gets at its next start. Detaching
 * from a running VM asks the guest to release the device and waits for it.
 */
#include "ctl/ctl-priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host/disk.h"
#include "host/hotplug.h"
#include "host/qemu.h"
#include "model/size.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/runner.h"
#include "util/str.h"
#include "util/timeutil.h"

#define VOLUME_MIN (1ull << 20)
#define UNPLUG_PATIENCE_MS (60 * 1000)

char *ctl_volume_path(struct ctl *c, const char *vol_id)
{
	return xasprintf("%s/volumes/%s.qcow2", c->state_dir, vol_id);
}

/* --- what the API asks ---------------------------------------------------- */

static int record(struct ctl *c, struct volume *v, const char *kind, struct operation *op, bool insert,
		  struct err *e)
{
	operation_init(op, kind, v->id, v->name);
	if (v->op_id[0])
		ctl_op_finish(c, v->op_id, false, "superseded by a newer action on the volume");
	snprintf(v->op_id, sizeof(v->op_id), "%s", op->id);
	int rc = store_op_insert(c->st, op, e);
	if (rc == 0)
		rc = insert ? store_volume_insert(c->st, v, e) : store_volume_update(c->st, v, e);
	return rc;
}

/* Runs fn inside a store transaction and kicks the reconciler on success. */
#define IN_TX(c, e, body)                                              \
	do {                                                           \
		if (store_tx_begin((c)->st, (e)) < 0)                  \
			return -1;                                     \
		int tx_rc_ = (body);                                   \
		if (store_tx_end((c)->st, tx_rc_ == 0, tx_rc_ == 0 ? (e) : NULL) < 0) \
			tx_rc_ = -1;                                   \
		if (tx_rc_ == 0)                                       \
			ctl_kick(c);                                   \
		return tx_rc_;                                         \
	} while (0)

int ctl_volume_create(struct ctl *c, const char *name, const char *size, const char *from_snapshot, struct volume *v,
		      struct operation *op, struct err *e)
{
	memset(v, 0, sizeof(*v));
	if (vm_name_validate(name, "name", e) < 0)
		return -1;
	if (from_snapshot) {
		struct snapshot sn;
		if (size)
			return err_set(e, ERR_INVALID, "give size or from_snapshot, not both: a copy is as large as its snapshot");
		if (store_snapshot_get(c->st, from_snapshot, &sn, e) < 0) {
			e->kind = ERR_UNPROCESSABLE;
			return -1;
		}
		if (!sn.volume_id[0] || strcmp(sn.state, "ready") != 0)
			return err_set(e, ERR_UNPROCESSABLE, "snapshot %s is not a ready snapshot of a volume", sn.name);
		snprintf(v->from_snapshot, sizeof(v->from_snapshot), "%s", sn.id);
		v->size_bytes = sn.virtual_size;
	} else if (size_parse(size, "size", &v->size_bytes, e) < 0) {
		return -1;
	}
	if (v->size_bytes < VOLUME_MIN || v->size_bytes > VM_DISK_MAX)
		return err_set(e, ERR_INVALID, "size %s must be between 1M and 16T", size);
	id_new("vol", v->id);
	snprintf(v->name, sizeof(v->name), "%s", name);
	snprintf(v->state, sizeof(v->state), "creating");
	v->slot = -1;
	v->created_at = time_now_ms();
	IN_TX(c, e, record(c, v, "volume-create", op, true, e));
}

static int attach_locked(struct ctl *c, const char *ref, const char *vm_ref, struct volume *v, struct operation *op,
			 bool *accepted, struct err *e)
{
	struct vm vm;
	if (store_volume_get(c->st, ref, v, e) < 0)
		return -1;
	if (v->deleted || strcmp(v->state, "creating") == 0)
		return err_set(e, ERR_CONFLICT, "volume %s is %s; try again when it is available", v->name, v->state);
	if (store_vm_get(c->st, vm_ref, &vm, e) < 0)
		return -1;
	int rc = 0;
	if (vm.power == POWER_DELETED) {
		rc = err_set(e, ERR_CONFLICT, "VM %s is being deleted", vm.name);
	} else if (strcmp(v->attach_to, vm.id) == 0) {
		*accepted = false;
		rc = ctl_op_record_done(c, "volume-attach", v->id, v->name, op, e);
	} else if (v->attach_to[0]) {
		rc = err_set(e, ERR_CONFLICT, "volume %s is attached to another VM (%s); detach it first", v->name,
			     v->attach_to);
	} else {
		struct volume *all = NULL;
		int n = 0, used = 0;
		rc = store_volume_list(c->st, &all, &n, e);
		for (int i = 0; rc == 0 && i < n; i++)
			used += strcmp(all[i].attach_to, vm.id) == 0 || strcmp(all[i].attached_vm, vm.id) == 0;
		volume_list_free(all, n);
		if (rc == 0 && used >= VOLUME_SLOTS)
			rc = err_set(e, ERR_CONFLICT, "VM %s already has %d volumes, the most it can take", vm.name,
				     VOLUME_SLOTS);
		if (rc == 0) {
			*accepted = true;
			snprintf(v->attach_to, sizeof(v->attach_to), "%s", vm.id);
			rc = record(c, v, "volume-attach", op, false, e);
		}
	}
	vm_free_fields(&vm);
	return rc;
}

int ctl_volume_attach(struct ctl *c, const char *ref, const char *vm_ref, struct volume *v, struct operation *op,
		      bool *accepted, struct err *e)
{
	IN_TX(c, e, attach_locked(c, ref, vm_ref, v, op, accepted, e));
}

static int detach_locked(struct ctl *c, const char *ref, struct volume *v, struct operation *op, bool *accepted,
			 struct err *e)
{
	if (store_volume_get(c->st, ref, v, e) < 0)
		return -1;
	if (!v->attach_to[0]) {
		*accepted = false;
		return ctl_op_record_done(c, "volume-detach", v->id, v->name, op, e);
	}
	*accepted = true;
	v->attach_to[0] = '\0';
	return record(c, v, "volume-detach", op, false, e);
}

int ctl_volume_detach(struct ctl *c, const char *ref, struct volume *v, struct operation *op, bool *accepted,
		      struct err *e)
{
	IN_TX(c, e, detach_locked(c, ref, v, op, accepted, e));
}

static int delete_locked(struct ctl *c, const char *ref, struct volume *v, struct operation *op, struct err *e)
{
	if (store_volume_get(c->st, ref, v, e) < 0)
		return -1;
	if (v->attach_to[0] || v->attached_vm[0])
		return err_set(e, ERR_CONFLICT, "volume %s is attached to a VM; detach it first", v->name);
	v->deleted = true;
	snprintf(v->state, sizeof(v->state), "deleting");
	return record(c, v, "volume-delete", op, false, e);
}

int ctl_volume_delete(struct ctl *c, const char *ref, struct volume *v, struct operation *op, struct err *e)
{
	IN_TX(c, e, delete_locked(c, ref, v, op, e));
}

/* Called with the store's transaction held when a VM is deleted: its volumes stay, detached. */
int volumes_release_vm(struct ctl *c, const char *vm_id, struct err *e)
{
	struct volume *all = NULL;
	int n = 0;
	if (store_volume_list(c->st, &all, &n, e) < 0)
		return -1;
	int rc = 0;
	for (int i = 0; i < n && rc == 0; i++) {
		if (strcmp(all[i].attach_to, vm_id) != 0)
			continue;
		all[i].attach_to[0] = '\0';
		rc = store_volume_update(c->st, &all[i], e);
	}
	volume_list_free(all, n);
	return rc;
}

static void save_volume(struct ctl *c, struct volume *v);

/* The VM is gone: whatever was plugged into it is free now. */
void volumes_forget_vm(struct ctl *c, const char *vm_id)
{
	struct volume *all = NULL;
	int n = 0;
	if (store_volume_list(c->st, &all, &n, NULL) < 0)
		return;
	for (int i = 0; i < n; i++) {
		struct volume *v = &all[i];
		if (strcmp(v->attached_vm, vm_id) != 0)
			continue;
		v->attached_vm[0] = '\0';
		v->slot = -1;
		v->unplugging = false;
		if (!v->attach_to[0] && !v->deleted)
			snprintf(v->state, sizeof(v->state), "available");
		save_volume(c, v);
	}
	volume_list_free(all, n);
}

/* --- the reconciler ------------------------------------------------------- */

/* Volumes plugged into vm_id, as QEMU wants them at its start; caller frees *out. */
int volumes_for_vm(struct ctl *c, const char *vm_id, struct qemu_volume **out, char ***paths, int *n,
		   struct err *e)
{
	struct volume *all = NULL;
	int count = 0;
	*out = NULL;
	*paths = NULL;
	*n = 0;
	if (store_volume_list(c->st, &all, &count, e) < 0)
		return -1;
	*out = xcalloc((size_t)count, sizeof(**out));
	*paths = xcalloc((size_t)count + 1, sizeof(char *));
	for (int i = 0; i < count; i++) {
		if (strcmp(all[i].attached_vm, vm_id) != 0 || all[i].slot < 0)
			continue;
		(*paths)[*n] = ctl_volume_path(c, all[i].id);
		(*out)[*n] = (struct qemu_volume){.id = xstrdup(all[i].id), .path = (*paths)[*n], .slot = all[i].slot};
		(*n)++;
	}
	volume_list_free(all, count);
	return 0;
}

void volumes_for_vm_free(struct qemu_volume *v, char **paths, int n)
{
	for (int i = 0; i < n; i++) {
		free((char *)v[i].id);
		free(paths[i]);
	}
	free(v);
	free(paths);
}

static int free_slot(const struct volume *all, int n, const char *vm_id)
{
	for (int s = 0; s < VOLUME_SLOTS; s++) {
		bool used = false;
		for (int i = 0; i < n && !used; i++)
			used = strcmp(all[i].attached_vm, vm_id) == 0 && all[i].slot == s;
		if (!used)
			return s;
	}
	return -1;
}

static bool vm_running(struct ctl *c, const char *vm_id, struct vm *vm)
{
	if (store_vm_get(c->st, vm_id, vm, NULL) < 0)
		return false;
	bool up = vm->state == VM_RUNNING && vm->pid != 0 && (runner_dry_run() || qemu_alive(vm->pid, vm->id));
	if (!up)
		vm_free_fields(vm);
	return up;
}

static void save_volume(struct ctl *c, struct volume *v)
{
	struct err e = {0};
	/* Only the status is the reconciler's: re-read the spec so a concurrent change is kept. */
	struct volume now;
	if (store_volume_get(c->st, v->id, &now, &e) < 0)
		return;
	snprintf(now.state, sizeof(now.state), "%s", v->state);
	snprintf(now.attached_vm, sizeof(now.attached_vm), "%s", v->attached_vm);
	now.slot = v->slot;
	now.unplugging = v->unplugging;
	if (store_volume_update(c->st, &now, &e) < 0)
		log_error("volume %s: cannot save: %s", v->name, e.msg);
}

static void unplug_step(struct ctl *c, struct volume *v, struct volume *all, int n)
{
	(void)all;
	(void)n;
	struct vm vm;
	struct err e = {0};
	if (!vm_running(c, v->attached_vm, &vm)) {
		v->attached_vm[0] = '\0';
		v->slot = -1;
		v->unplugging = false;
		return;
	}
	autofree char *dir = ctl_vm_dir(c, vm.id);
	autofree char *qmp = xasprintf("%s/qmp.sock", dir);
	bool present = true;
	if (!v->unplugging) {
		if (hotplug_volume_request_remove(qmp, v->id, &e) < 0)
			log_warn("volume %s: %s", v->name, e.msg);
		else
			v->unplugging = true;
		ctl_op_phase(c, v->op_id, "unplug-requested");
	} else if (hotplug_volume_present(qmp, v->id, &present, &e) == 0 && !present) {
		if (hotplug_volume_release(qmp, v->id, &e) < 0)
			log_warn("volume %s: %s", v->name, e.msg);
		log_info("volume %s: detached from VM %s", v->name, vm.name);
		v->attached_vm[0] = '\0';
		v->slot = -1;
		v->unplugging = false;
	}
	vm_free_fields(&vm);
}

static void plug_step(struct ctl *c, struct volume *v, struct volume *all, int n)
{
	struct vm vm;
	struct err e = {0};
	int slot = free_slot(all, n, v->attach_to);
	if (slot < 0) {
		ctl_op_finish(c, v->op_id, false, "the VM has no free slot for another volume");
		return;
	}
	if (vm_running(c, v->attach_to, &vm)) {
		autofree char *dir = ctl_vm_dir(c, vm.id);
		autofree char *qmp = xasprintf("%s/qmp.sock", dir);
		autofree char *path = ctl_volume_path(c, v->id);
		struct qemu_user user;
		/* QEMU opens the volume after it dropped to its user. */
		if (ctl_qemu_user(c, &user, &e) < 0 || qemu_file_owner(path, user.uid, user.gid, 0600, &e) < 0 ||
		    hotplug_volume_add(qmp, v->id, path, slot, &e) < 0) {
			ctl_op_finish(c, v->op_id, false, e.msg);
			log_error("volume %s: %s", v->name, e.msg);
			vm_free_fields(&vm);
			return;
		}
		log_info("volume %s: hot-plugged into VM %s (slot %d)", v->name, vm.name, slot);
		vm_free_fields(&vm);
	}
	/* A stopped VM gets it at its next start. */
	snprintf(v->attached_vm, sizeof(v->attached_vm), "%s", v->attach_to);
	v->slot = slot;
}

static bool reconcile_volume(struct ctl *c, struct volume *v, struct volume *all, int n)
{
	struct err e = {0};
	autofree char *path = ctl_volume_path(c, v->id);
	if (strcmp(v->state, "creating") == 0) {
		autofree char *size = xasprintf("%llu", (unsigned long long)v->size_bytes);
		autofree char *snap = v->from_snapshot[0] ? ctl_snapshot_path(c, v->from_snapshot) : NULL;
		const char *argv[] = {"qemu-img", "create", "-q", "-f", "qcow2", path, size, NULL};
		int rc = snap ? disk_flatten(snap, path, &e) : runner_run(argv, NULL, NULL, &e);
		/* Guest data: root's alone until a QEMU is given it (plug_step, start). */
		if (rc == 0)
			rc = qemu_file_owner(path, 0, 0, 0600, &e);
		if (rc < 0) {
			ctl_op_finish(c, v->op_id, false, e.msg);
			store_volume_delete(c->st, v->id, NULL);
			unlink(path);
			return false;
		}
		snprintf(v->state, sizeof(v->state), "available");
		save_volume(c, v);
		ctl_op_phase(c, v->op_id, "created");
		ctl_op_finish(c, v->op_id, true, NULL);
		log_info("volume %s: created (%llu bytes)", v->name, (unsigned long long)v->size_bytes);
		return false;
	}
	if (v->deleted && !v->attached_vm[0]) {
		if (fs_rm_rf(path, &e) < 0) {
			log_error("volume %s: %s", v->name, e.msg);
			return false;
		}
		store_volume_delete(c->st, v->id, NULL);
		ctl_op_phase(c, v->op_id, "deleted");
		ctl_op_finish(c, v->op_id, true, NULL);
		log_info("volume %s: deleted", v->name);
		return false;
	}
	if (strcmp(v->attach_to, v->attached_vm) == 0) {
		const char *want = v->attached_vm[0] ? "in-use" : "available";
		if (strcmp(v->state, want) != 0) {
			snprintf(v->state, sizeof(v->state), "%s", want);
			save_volume(c, v);
			ctl_op_phase(c, v->op_id, v->attached_vm[0] ? "attached" : "detached");
			ctl_op_finish(c, v->op_id, true, NULL);
		}
		return false;
	}
	if (v->attached_vm[0])
		unplug_step(c, v, all, n);
	else
		plug_step(c, v, all, n);
	save_volume(c, v);
	return true;
}

bool volumes_reconcile(struct ctl *c)
{
	struct volume *all = NULL;
	int n = 0;
	struct err e = {0};
	bool busy = false;
	if (store_volume_list(c->st, &all, &n, &e) < 0) {
		log_error("reconcile volumes: %s", e.msg);
		return false;
	}
	for (int i = 0; i < n; i++)
		busy = reconcile_volume(c, &all[i], all, n) || busy;
	volume_list_free(all, n);
	return busy;
}
