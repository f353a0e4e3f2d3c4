/*
 * snapshots: point-in-time layers of VMs' root disks (see model/snapshot.h).
 *
 * The API records what is asked (a snapshot "creating" or "deleting", a VM's
 * restore_from); this reconciler, on the same thread as the VM reconciler so
 * the two never race over a disk, does it:
 *
 *   create   freeze the VM's root.qcow2 into snapshots/<id>/disk.qcow2 under a
 *            new empty top (live for a running VM); the VM now sits on it
 *   restore  (stopped VM) a new empty top on the snapshot: later changes gone
 *   delete   merge the layer into each layer or VM disk directly on it, then
 *            remove it; refused, with the reason, while a running VM reads it
 */
#include "ctl/ctl-priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host/disk.h"
#include "host/layers.h"
#include "host/qemu.h"
#include "util/crashpoint.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/str.h"
#include "util/timeutil.h"

char *ctl_snapshot_path(struct ctl *c, const char *snap_id)
{
	return xasprintf("%s/snapshots/%s/disk.qcow2", c->state_dir, snap_id);
}

/* The file a layer (snapshot id, or "" for the image) keeps its data in. */
static char *layer_path(struct ctl *c, const char *snap_id, const char *image_id)
{
	if (snap_id[0])
		return ctl_snapshot_path(c, snap_id);
	return xasprintf("%s/images/%s/disk.qcow2", c->state_dir, image_id);
}

static bool vm_up(struct ctl *c, const struct vm *vm)
{
	return vm->pid != 0 && c->host->qemu_alive(vm->pid, vm->id);
}

/* --- what the API asks ---------------------------------------------------- */

/* The most snapshot layers under a VM's disk. Each snapshot adds one to the
 * backing chain QEMU opens at every start; a chain of about 140 no longer
 * boots, so nubo stops well before. Deleting a snapshot merges its layer. */
#define SNAPSHOT_CHAIN_MAX 64

/* How many snapshot layers lie under vm's disk. */
static int chain_depth(struct ctl *c, const struct vm *vm)
{
	struct snapshot *all = NULL;
	int n = 0, depth = 0;
	if (store_snapshot_list(c->st, &all, &n, NULL) < 0)
		return 0;
	const char *cur = vm->base_snapshot;
	while (cur[0] && depth <= n) {
		depth++;
		const char *next = "";
		for (int i = 0; i < n; i++)
			if (strcmp(all[i].id, cur) == 0)
				next = all[i].parent;
		cur = next;
	}
	free(all);
	return depth;
}

int ctl_snapshot_create(struct ctl *c, const char *vm_ref, const char *name, struct snapshot *sn,
			struct operation *op, struct err *e)
{
	memset(sn, 0, sizeof(*sn));
	struct vm vm;
	if (store_vm_get(c->st, vm_ref, &vm, e) < 0)
		return -1;
	int rc = 0;
	if (vm.power == POWER_DELETED || !(vm.state == VM_RUNNING || vm.state == VM_STOPPED))
		rc = err_set(e, ERR_CONFLICT, "VM %s is %s; take a snapshot when it is running or stopped", vm.name,
			     vm_state_name(vm.state));
	int depth = rc == 0 ? chain_depth(c, &vm) : 0;
	if (depth >= SNAPSHOT_CHAIN_MAX)
		rc = err_set(e, ERR_CONFLICT,
			     "VM %s's disk already lies on %d snapshots, the most nubo keeps under one disk; delete "
			     "snapshots it no longer needs (nubo snapshot delete NAME merges each one's layer away)",
			     vm.name, depth);
	id_new("snap", sn->id);
	if (rc == 0 && name)
		rc = vm_name_validate(name, "name", e);
	if (rc == 0) {
		if (name) {
			snprintf(sn->name, sizeof(sn->name), "%s", name);
		} else {
			/* vm name, cut so that "-" and the id's 12 hex digits fit a name */
			snprintf(sn->name, sizeof(sn->name), "%.*s-%s", NAME_MAX_LEN - 13, vm.name, sn->id + 5);
		}
		snprintf(sn->vm_id, sizeof(sn->vm_id), "%s", vm.id);
		snprintf(sn->host, sizeof(sn->host), "%s", vm.host);
		snprintf(sn->vm_name, sizeof(sn->vm_name), "%s", vm.name);
		snprintf(sn->image_id, sizeof(sn->image_id), "%s", vm.image_id);
		snprintf(sn->state, sizeof(sn->state), "creating");
		sn->created_at = time_now_ms();
		operation_init(op, "snapshot-create", sn->id, sn->name);
		snprintf(sn->op_id, sizeof(sn->op_id), "%s", op->id);
		rc = store_tx_begin(c->st, e);
		if (rc == 0) {
			/* In the transaction: a move accepted meanwhile is seen. */
			rc = ctl_vm_moving_refusal(c, vm.id, "a snapshot", e) == 0 &&
					     store_snapshot_insert(c->st, sn, e) == 0 && store_op_insert(c->st, op, e) == 0
				     ? 0
				     : -1;
			if (store_tx_end(c->st, rc == 0, rc == 0 ? e : NULL) < 0)
				rc = -1;
		}
	}
	vm_free_fields(&vm);
	if (rc == 0)
		ctl_kick(c);
	return rc;
}

static int delete_locked(struct ctl *c, const char *ref, struct snapshot *sn, struct operation *op, struct err *e)
{
	if (store_snapshot_get(c->st, ref, sn, e) < 0)
		return -1;
	if (strcmp(sn->state, "ready") != 0)
		return err_set(e, ERR_CONFLICT, "snapshot %s is %s; try again when it is ready", sn->name, sn->state);
	operation_init(op, "snapshot-delete", sn->id, sn->name);
	snprintf(sn->op_id, sizeof(sn->op_id), "%s", op->id);
	snprintf(sn->state, sizeof(sn->state), "deleting");
	if (store_op_insert(c->st, op, e) < 0 || store_snapshot_update(c->st, sn, e) < 0)
		return -1;
	return 0;
}

int ctl_snapshot_create_volume(struct ctl *c, const char *vol_ref, const char *name, struct snapshot *sn,
			       struct operation *op, struct err *e)
{
	memset(sn, 0, sizeof(*sn));
	struct volume v;
	if (store_volume_get(c->st, vol_ref, &v, e) < 0)
		return -1;
	if (v.deleted || !(strcmp(v.state, "available") == 0 || strcmp(v.state, "in-use") == 0))
		return err_set(e, ERR_CONFLICT, "volume %s is %s; take a snapshot when it is available or in use", v.name,
			       v.state);
	if (name && vm_name_validate(name, "name", e) < 0)
		return -1;
	id_new("snap", sn->id);
	if (name)
		snprintf(sn->name, sizeof(sn->name), "%s", name);
	else
		snprintf(sn->name, sizeof(sn->name), "%.*s-%s", NAME_MAX_LEN - 13, v.name, sn->id + 5);
	snprintf(sn->volume_id, sizeof(sn->volume_id), "%s", v.id);
	snprintf(sn->host, sizeof(sn->host), "%s", v.host);
	snprintf(sn->vm_name, sizeof(sn->vm_name), "%s", v.name);
	snprintf(sn->state, sizeof(sn->state), "creating");
	sn->virtual_size = v.size_bytes;
	sn->created_at = time_now_ms();
	operation_init(op, "snapshot-create", sn->id, sn->name);
	snprintf(sn->op_id, sizeof(sn->op_id), "%s", op->id);
	int rc = store_tx_begin(c->st, e);
	if (rc == 0) {
		/* In the transaction, from the volume as it is now: a move of its
		 * VM accepted meanwhile is seen. */
		struct volume now;
		rc = store_volume_get(c->st, v.id, &now, e) == 0 &&
				     ctl_vm_moving_refusal(c, now.attach_to[0] ? now.attach_to : now.attached_vm,
							   "a snapshot of its volume", e) == 0 &&
				     store_snapshot_insert(c->st, sn, e) == 0 && store_op_insert(c->st, op, e) == 0
			     ? 0
			     : -1;
		if (store_tx_end(c->st, rc == 0, rc == 0 ? e : NULL) < 0)
			rc = -1;
	}
	if (rc == 0)
		ctl_kick(c);
	return rc;
}

int ctl_snapshot_delete(struct ctl *c, const char *ref, struct snapshot *sn, struct operation *op, struct err *e)
{
	if (store_tx_begin(c->st, e) < 0)
		return -1;
	int rc = delete_locked(c, ref, sn, op, e);
	if (store_tx_end(c->st, rc == 0, rc == 0 ? e : NULL) < 0)
		rc = -1;
	if (rc == 0)
		ctl_kick(c);
	return rc;
}

/* --- the reconciler ------------------------------------------------------- */

static void set_snapshot_state(struct ctl *c, struct snapshot *sn, const char *state)
{
	snprintf(sn->state, sizeof(sn->state), "%s", state);
	store_snapshot_update(c->st, sn, NULL);
}

/* A volume's snapshot is a standalone copy: live (drive-backup of its node)
 * while a running VM has it, else from its file. */
static void volume_snapshot_step(struct ctl *c, struct snapshot *sn)
{
	struct volume v;
	struct vm vm;
	struct err e = {0};
	if (store_volume_get(c->st, sn->volume_id, &v, &e) < 0) {
		ctl_op_finish(c, sn->op_id, false, "the volume is gone");
		store_snapshot_delete(c->st, sn->id, NULL);
		return;
	}
	if (v.unplugging || strcmp(v.attach_to, v.attached_vm) != 0)
		return;   /* attaching or detaching: look again at the next tick */
	bool live = v.attached_vm[0] && store_vm_get(c->st, v.attached_vm, &vm, NULL) == 0;
	if (live) {
		live = vm_up(c, &vm);
		vm_free_fields(&vm);
	}
	autofree char *layer = ctl_snapshot_path(c, sn->id);
	autofree char *layer_dir = xasprintf("%s/snapshots/%s", c->state_dir, sn->id);
	autofree char *vm_dir = ctl_vm_dir(c, v.attached_vm);
	autofree char *qmp = xasprintf("%s/qmp.sock", vm_dir);
	autofree char *file = ctl_volume_path(c, v.id);
	struct qemu_user user;
	int rc = fs_mkdir_p(layer_dir, 0755, &e);
	if (rc == 0 && live)
		rc = ctl_qemu_user(c, &user, &e);
	if (rc == 0)
		rc = live ? c->host->disk_backup(qmp, v.id, sn->id, layer, &user, &e) : c->host->disk_flatten(file, layer, &e);
	if (rc < 0) {
		fs_rm_rf(layer_dir, NULL);
		store_snapshot_delete(c->st, sn->id, NULL);
		ctl_op_finish(c, sn->op_id, false, e.msg);
		return;
	}
	crashpoint("snapshot.volume-copied");
	set_snapshot_state(c, sn, "ready");
	ctl_op_phase(c, sn->op_id, "copied");
	ctl_op_finish(c, sn->op_id, true, NULL);
	log_info("snapshot %s of volume %s taken (%s)", sn->name, v.name, live ? "live" : "offline");
}

/* Records a taken snapshot: the VM sits on it, and it is ready, in one
 * transaction, so a retry never sees one without the other. */
static int commit_taken(struct ctl *c, struct snapshot *sn, struct vm *vm, struct err *e)
{
	snprintf(sn->parent, sizeof(sn->parent), "%s", vm->base_snapshot);
	sn->virtual_size = vm->disk_size_bytes;
	snprintf(sn->state, sizeof(sn->state), "ready");
	snprintf(vm->base_snapshot, sizeof(vm->base_snapshot), "%s", sn->id);
	if (store_tx_begin(c->st, e) < 0)
		return -1;
	int rc = store_vm_save_status(c->st, vm, NULL, e) == 0 && store_snapshot_update(c->st, sn, e) == 0 ? 0 : -1;
	if (rc == 0) {
		ctl_op_phase(c, sn->op_id, "frozen");
		ctl_op_finish(c, sn->op_id, true, NULL);
	}
	if (store_tx_end(c->st, rc == 0, rc == 0 ? e : NULL) < 0)
		rc = -1;
	return rc;
}

/*
 * One step of taking a VM's snapshot; run again from the top after a crash
 * (layers.h has the states of the files). Live while the VM's QEMU runs,
 * from the files while none does; a VM between states (booting with its QEMU
 * up, stopping) is looked at again at the next tick. A VM whose start was
 * asked waits for the snapshot (snapshots_vm_busy), so it is taken offline.
 */
static void create_step(struct ctl *c, struct snapshot *sn)
{
	if (sn->volume_id[0]) {
		volume_snapshot_step(c, sn);
		return;
	}
	struct vm vm;
	struct err e = {0};
	if (store_vm_get(c->st, sn->vm_id, &vm, &e) < 0) {
		ctl_op_finish(c, sn->op_id, false, "the VM is gone");
		store_snapshot_delete(c->st, sn->id, NULL);
		return;
	}
	bool up = vm_up(c, &vm);
	if (up && vm.state != VM_RUNNING) {
		vm_free_fields(&vm);
		return;
	}
	autofree char *dir = ctl_vm_dir(c, vm.id);
	autofree char *root = xasprintf("%s/root.qcow2", dir);
	autofree char *qmp = xasprintf("%s/qmp.sock", dir);
	autofree char *layer = ctl_snapshot_path(c, sn->id);
	autofree char *layer_dir = xasprintf("%s/snapshots/%s", c->state_dir, sn->id);
	autofree char *next = layer_next_path(root, sn->id);
	char node[48];
	snprintf(node, sizeof(node), "top-%s", sn->id);
	int64_t t0 = time_mono_ms();
	struct qemu_user user;
	int rc = fs_mkdir_p(layer_dir, 0755, &e);
	if (rc == 0)
		rc = ctl_qemu_user(c, &user, &e);
	if (rc == 0)
		rc = up ? c->host->layer_freeze_running(qmp, root, layer, sn->id, node, &user, &e)
			: c->host->layer_freeze_stopped(root, layer, sn->id, &e);
	/* A frozen layer is a read-only base from now on, like an image's: root's,
	 * readable by QEMU's group alone (the running QEMU holds it open).
	 * The snapshot is taken either way: a failure here is only logged. */
	struct err owner_err = {0};
	if (rc == 0 && c->host->file_owner(layer, 0, user.gid, 0640, &owner_err) < 0)
		log_warn("snapshot %s of VM %s: %s", sn->name, vm.name, owner_err.msg);
	if (rc == 0)
		rc = commit_taken(c, sn, &vm, &e);
	if (rc == 0) {
		log_info("snapshot %s of VM %s (%s) taken in %lld ms", sn->name, vm.name, up ? "running" : "stopped",
			 (long long)(time_mono_ms() - t0));
	} else if (fs_exists(layer) || fs_exists(next)) {   /* none on the recording host */
		/* The VM's data may be in the layer or in the new top (a QEMU
		 * that switched to it and died): never undo, try again at the
		 * next tick (layers.h), saying so on the operation and in the
		 * log every 10 s. */
		ctl_op_retrying(c, sn->op_id, e.msg);
		static int64_t said_at;
		if (time_mono_ms() - said_at >= 10000) {
			said_at = time_mono_ms();
			log_error("snapshot %s of VM %s: %s; trying again", sn->name, vm.name, e.msg);
		}
	} else {
		rmdir(layer_dir);   /* empty: nothing was frozen */
		store_snapshot_delete(c->st, sn->id, NULL);
		ctl_op_finish(c, sn->op_id, false, e.msg);
		log_error("snapshot %s of VM %s: %s", sn->name, vm.name, e.msg);
	}
	vm_free_fields(&vm);
}

bool snapshots_vm_busy(struct ctl *c, const char *vm_id)
{
	struct snapshot *all = NULL;
	int n = 0;
	bool busy = false;
	if (store_snapshot_list(c->st, &all, &n, NULL) < 0)
		return true;   /* cannot tell: wait */
	for (int i = 0; i < n && !busy; i++)
		busy = strcmp(all[i].vm_id, vm_id) == 0 && strcmp(all[i].state, "creating") == 0;
	free(all);
	return busy;
}

/* Whether snapshot id is in the chain under vm's disk. */
static bool in_chain(const struct vm *vm, const char *id, const struct snapshot *all, int n)
{
	const char *cur = vm->base_snapshot;
	for (int hops = 0; cur[0] && hops <= n; hops++) {
		if (strcmp(cur, id) == 0)
			return true;
		const char *next = "";
		for (int i = 0; i < n; i++)
			if (strcmp(all[i].id, cur) == 0)
				next = all[i].parent;
		cur = next;
	}
	return false;
}

/* Merges sn into what sits directly on it, or says why it cannot. */
static int merge_away(struct ctl *c, const struct snapshot *sn, struct snapshot *all, int n, struct vm *vms,
		      int nv, struct err *e)
{
	for (int i = 0; i < nv; i++)
		if (vm_up(c, &vms[i]) && in_chain(&vms[i], sn->id, all, n))
			return err_set(e, ERR_CONFLICT,
				       "snapshot %s is part of the disk of VM %s, which is running; stop the VM to "
				       "delete it (its data is then merged into the disk)",
				       sn->name, vms[i].name);
	autofree char *below = layer_path(c, sn->parent, sn->image_id);
	for (int i = 0; i < n; i++) {
		if (strcmp(all[i].parent, sn->id) != 0)
			continue;
		autofree char *file = ctl_snapshot_path(c, all[i].id);
		if (c->host->layer_rebase(file, below, e) < 0)
			return -1;
		crashpoint("merge.layer-rebased");
		snprintf(all[i].parent, sizeof(all[i].parent), "%s", sn->parent);
		store_snapshot_update(c->st, &all[i], NULL);
	}
	for (int i = 0; i < nv; i++) {
		if (strcmp(vms[i].base_snapshot, sn->id) != 0)
			continue;
		autofree char *dir = ctl_vm_dir(c, vms[i].id);
		autofree char *root = xasprintf("%s/root.qcow2", dir);
		if (c->host->disk_exists(root) && c->host->layer_rebase(root, below, e) < 0)
			return -1;
		crashpoint("merge.disk-rebased");
		snprintf(vms[i].base_snapshot, sizeof(vms[i].base_snapshot), "%s", sn->parent);
		store_vm_save_status(c->st, &vms[i], NULL, NULL);
	}
	return 0;
}

static void delete_step(struct ctl *c, struct snapshot *sn, struct snapshot *all, int n)
{
	struct vm *vms = NULL;
	int nv = 0;
	struct err e = {0};
	int rc = store_vm_list(c->st, &vms, &nv, &e);
	if (rc == 0)
		rc = merge_away(c, sn, all, n, vms, nv, &e);
	vm_list_free(vms, nv);
	if (rc < 0) {
		set_snapshot_state(c, sn, "ready");
		ctl_op_finish(c, sn->op_id, false, e.msg);
		return;
	}
	/* The store says nothing sits on the layer any more (merge_away saved
	 * each rebase): only now are its files removed, then its row. */
	autofree char *dir = xasprintf("%s/snapshots/%s", c->state_dir, sn->id);
	fs_rm_rf(dir, NULL);
	crashpoint("merge.layer-removed");
	if (store_tx_begin(c->st, &e) < 0)
		return;   /* the row stays "deleting": the next tick finishes */
	rc = store_snapshot_delete(c->st, sn->id, &e);
	if (rc == 0) {
		ctl_op_phase(c, sn->op_id, "merged");
		ctl_op_finish(c, sn->op_id, true, NULL);
	}
	if (store_tx_end(c->st, rc == 0, rc == 0 ? &e : NULL) == 0 && rc == 0)
		log_info("snapshot %s deleted", sn->name);
}

bool snapshots_reconcile(struct ctl *c)
{
	struct snapshot *all = NULL;
	int n = 0;
	bool busy = false;
	if (store_snapshot_list(c->st, &all, &n, NULL) < 0)
		return false;
	for (int i = 0; i < n; i++) {
		if (strcmp(all[i].host, c->host_name) != 0)   /* its files are on its own host */
			continue;
		if (strcmp(all[i].state, "creating") == 0) {
			create_step(c, &all[i]);
			busy = true;
		} else if (strcmp(all[i].state, "deleting") == 0) {
			delete_step(c, &all[i], all, n);
			busy = true;
			break;   /* the list changed under us */
		}
	}
	free(all);
	return busy;
}

/* A stopped VM rolls back: a new empty top on the snapshot. Called by the VM reconciler. */
void snapshots_restore_vm(struct ctl *c, struct vm *vm)
{
	struct err e = {0};
	autofree char *dir = ctl_vm_dir(c, vm->id);
	autofree char *root = xasprintf("%s/root.qcow2", dir);
	autofree char *layer = ctl_snapshot_path(c, vm->restore_from);
	bool ok = c->host->layer_overlay_new(root, layer, &e) == 0;
	if (ok) {
		crashpoint("restore.top-made");   /* a retry makes the same empty top again */
		log_info("vm %s: disk restored to snapshot %s", vm->name, vm->restore_from);
		snprintf(vm->base_snapshot, sizeof(vm->base_snapshot), "%s", vm->restore_from);
	}
	vm->restore_from[0] = '\0';
	/* The outcome and the operation's end in one transaction. */
	if (store_tx_begin(c->st, NULL) < 0)
		return;
	int rc = store_vm_save_status(c->st, vm, NULL, NULL);
	if (rc == 0 && ok)
		ctl_op_phase(c, vm->op_id, "restored");
	if (rc == 0)
		ctl_op_finish(c, vm->op_id, ok, e.msg);
	store_tx_end(c->st, rc == 0, NULL);
}
