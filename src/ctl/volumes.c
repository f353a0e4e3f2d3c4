/*
 * volumes: persistent disks, attached to at most one VM at a time.
 *
 * The API sets the spec (attach_to, deleted); the reconciler brings the
 * status (attached_vm, slot, unplugging) to it: to a running VM by hot-plug,
 * to a stopped one by recording the slot it gets at its next start.
 *
 * The one idea: the store records an outcome only after QEMU has it, and
 * before every move the reconciler reads what QEMU really has (a
 * hotplug_view) instead of trusting the store. A move cut off by a crash is
 * then found done and recorded, or carried on from where QEMU is; it is never
 * replayed blindly. In brackets, the crash point passed after each move
 * (crashpoint.h); a crash there leaves QEMU in the next row and the store in
 * this one, which is exactly what the next pass expects.
 *
 * Hot-plug into running VM X (spec attach_to = X):
 *
 *   store: attached_vm   QEMU of X          the pass does
 *   ------------------   ----------------   ---------------------------------------
 *   ""                   nothing            blockdev-add      [volume.attach.node-added]
 *   ""                   node               device_add        [volume.attach.device-added]
 *   ""                   node + device      record X, slot    [volume.attach.recorded]
 *   X                    node + device      state in-use, operation succeeded
 *
 * Hot-unplug from X (spec attach_to = ""):
 *
 *   X                    node + device      device_del        [volume.detach.unplug-requested]
 *   X, unplugging        node + device      wait for the guest (UNPLUG_PATIENCE_MS at most)
 *   X                    node               [volume.detach.device-gone] blockdev-del
 *                                                             [volume.detach.node-deleted]
 *   X                    nothing            record ""         [volume.detach.recorded]
 *   ""                   nothing            state available, operation succeeded
 *
 * At start-up volumes_resume() reads every running QEMU once and puts right
 * what a crash left behind in the store: a device QEMU has is recorded where
 * it is; a node nobody wants any more is closed. So a detach or a delete that
 * comes after a crash sees the truth.
 *
 * Nothing is retried forever: a plug that fails ends its operation with
 * QEMU's reason and leaves the volume detached (the node it opened closed
 * again); an unplug the guest does not answer within UNPLUG_PATIENCE_MS ends
 * its operation and leaves the volume attached. A volume file is removed
 * only after every running QEMU was asked and none holds it open; if one
 * does, the delete fails and the store records where the volume is.
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
#include "util/crashpoint.h"
#include "util/fs.h"
#include "util/log.h"
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
		snprintf(v->host, sizeof(v->host), "%s", sn.host);   /* copied where the snapshot's file is */
		v->size_bytes = sn.virtual_size;
	} else if (size_parse(size, "size", &v->size_bytes, e) < 0) {
		return -1;
	}
	if (v->size_bytes < VOLUME_MIN || v->size_bytes > VM_DISK_MAX)
		return err_set(e, ERR_INVALID, "size %s must be between 1M and 16T", size);
	id_new("vol", v->id);
	snprintf(v->name, sizeof(v->name), "%s", name);
	snprintf(v->state, sizeof(v->state), "creating");
	if (!v->host[0])   /* made on the host whose API was asked */
		snprintf(v->host, sizeof(v->host), "%s", c->host_name);
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
	} else if (ctl_vm_moving_refusal(c, vm.id, "an attach", e) < 0) {
		rc = -1;
	} else if (strcmp(v->attach_to, vm.id) == 0) {
		*accepted = false;
		rc = ctl_op_record_done(c, "volume-attach", v->id, v->name, op, e);
	} else if (v->attach_to[0]) {
		rc = err_set(e, ERR_CONFLICT, "volume %s is attached to another VM (%s); detach it first", v->name,
			     v->attach_to);
	} else if (strcmp(v->host, vm.host) != 0) {
		rc = err_set(e, ERR_CONFLICT,
			     "volume %s is on host %s and VM %s on host %s; a volume attaches to VMs of its own host "
			     "(a volume moves only with the VM it is attached to: nubo vm move)",
			     v->name, v->host, vm.name, vm.host);
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
	if (ctl_vm_moving_refusal(c, v->attach_to, "a detach", e) < 0)
		return -1;
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

static char *vm_qmp(struct ctl *c, const char *vm_id)
{
	autofree char *dir = ctl_vm_dir(c, vm_id);
	return xasprintf("%s/qmp.sock", dir);
}

/* What vm_id's QEMU has of every volume. On the recording host, where no
 * QEMU runs, the view is what the store says, so the dry-run log shows the
 * moves a real run makes. Freed with hotplug_view_free. */
static int read_view(struct ctl *c, const char *vm_id, const struct volume *all, int n, struct hotplug_view *view,
		     struct err *e)
{
	autofree char *qmp = vm_qmp(c, vm_id);
	int rc = c->host->qemu_volumes(qmp, view, e);
	if (rc <= 0)
		return rc;
	for (int i = 0; i < n; i++) {
		if (strcmp(all[i].attached_vm, vm_id) != 0 || all[i].slot < 0)
			continue;
		view->items = xrealloc(view->items, (size_t)(view->n + 1) * sizeof(*view->items));
		view->items[view->n++] = (struct hotplug_item){.id = xstrdup(all[i].id), .node = true,
							       .device = !all[i].unplugging, .slot = all[i].slot};
	}
	return 0;
}

/* A slot of vm_id that neither the store nor its QEMU (view, may be NULL) uses; -1 if none. */
static int free_slot(const struct volume *all, int n, const char *vm_id, const struct hotplug_view *view)
{
	for (int s = 0; s < VOLUME_SLOTS; s++) {
		bool used = hotplug_view_slot_used(view, s);
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
	bool up = vm->state == VM_RUNNING && vm->pid != 0 && c->host->qemu_alive(vm->pid, vm->id);
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

/* Ends v's operation as failed and puts the spec back to what is real
 * (attach_to, and deleted cleared), unless the user asked something newer
 * meanwhile (another operation). The reconciler then rests instead of trying
 * the same move again at every pass. */
static void give_up(struct ctl *c, struct volume *v, const char *attach_to, const char *why)
{
	struct err e = {0};
	struct volume now;
	ctl_op_finish(c, v->op_id, false, why);
	log_error("volume %s: %s", v->name, why);
	snprintf(v->attach_to, sizeof(v->attach_to), "%s", attach_to);
	v->deleted = false;
	int rc = store_tx_begin(c->st, &e);
	if (rc < 0)
		goto out;
	rc = store_volume_get(c->st, v->id, &now, &e);
	if (rc == 0 && strcmp(now.op_id, v->op_id) == 0) {
		snprintf(now.attach_to, sizeof(now.attach_to), "%s", attach_to);
		now.deleted = false;
		rc = store_volume_update(c->st, &now, &e);
	}
	if (store_tx_end(c->st, rc == 0, rc == 0 ? &e : NULL) < 0)
		rc = -1;
out:
	if (rc < 0)
		log_error("volume %s: cannot save: %s", v->name, e.msg);
}

/* Whether the guest has had UNPLUG_PATIENCE_MS to release the volume since its detach was asked. */
static bool unplug_overdue(struct ctl *c, const struct volume *v)
{
	struct operation op;
	if (!v->op_id[0] || store_op_get(c->st, v->op_id, &op, NULL) < 0)
		return false;
	bool overdue = op.state == OP_RUNNING && time_now_ms() - op.created_at > UNPLUG_PATIENCE_MS;
	operation_free_fields(&op);
	return overdue;
}

static void unplug_wait(struct ctl *c, struct volume *v, const struct vm *vm, const char *problem)
{
	if (problem)
		log_warn("volume %s: %s", v->name, problem);
	if (!unplug_overdue(c, v))
		return;
	autofree char *why = xasprintf("volume %s was not detached: %s within %d s; it stays attached to VM %s "
				       "(unmount it in the guest, then detach it again)", v->name,
				       problem ? problem : "the guest did not release the device",
				       UNPLUG_PATIENCE_MS / 1000, vm->name);
	/* A request the guest never answered is asked afresh by the next detach. */
	v->unplugging = false;
	give_up(c, v, v->attached_vm, why);
}

static void unplug_step(struct ctl *c, struct volume *v, struct volume *all, int n)
{
	struct vm vm;
	struct err e = {0};
	struct hotplug_view view = {0};
	const struct hotplug_item *it = NULL;
	if (!vm_running(c, v->attached_vm, &vm)) {
		/* A stopped VM has nothing plugged; its next start does without it. */
		v->attached_vm[0] = '\0';
		v->slot = -1;
		v->unplugging = false;
		save_volume(c, v);
		return;
	}
	autofree char *qmp = vm_qmp(c, vm.id);
	if (read_view(c, vm.id, all, n, &view, &e) < 0) {
		unplug_wait(c, v, &vm, e.msg);
		goto out;
	}
	it = hotplug_view_find(&view, v->id);
	if (it && it->device) {
		if (v->unplugging) {
			unplug_wait(c, v, &vm, NULL);
		} else if (hotplug_device_del(c->host->qemu_command, qmp, v->id, &e) < 0) {
			unplug_wait(c, v, &vm, e.msg);
		} else {
			crashpoint("volume.detach.unplug-requested");
			v->unplugging = true;
			save_volume(c, v);
			ctl_op_phase(c, v->op_id, "unplug-requested");
		}
		goto out;
	}
	crashpoint("volume.detach.device-gone");
	if (it && it->node) {
		if (hotplug_node_del(c->host->qemu_command, qmp, v->id, &e) < 0) {
			unplug_wait(c, v, &vm, e.msg);
			goto out;
		}
		crashpoint("volume.detach.node-deleted");
	}
	log_info("volume %s: detached from VM %s", v->name, vm.name);
	v->attached_vm[0] = '\0';
	v->slot = -1;
	v->unplugging = false;
	save_volume(c, v);
	crashpoint("volume.detach.recorded");
out:
	hotplug_view_free(&view);
	vm_free_fields(&vm);
}

/* A plug into a running VM failed: the node this pass opened (or found
 * without a device) is closed again, and the volume stays detached. */
static void plug_failed(struct ctl *c, struct volume *v, const struct vm *vm, const char *qmp, bool node,
			const char *problem)
{
	struct err e = {0};
	if (node && hotplug_node_del(c->host->qemu_command, qmp, v->id, &e) < 0)
		log_warn("volume %s: %s", v->name, e.msg);
	autofree char *why = xasprintf("volume %s was not attached to VM %s: %s", v->name, vm->name, problem);
	give_up(c, v, "", why);
}

static void plug_step(struct ctl *c, struct volume *v, struct volume *all, int n)
{
	struct vm vm;
	struct err e = {0};
	struct hotplug_view view = {0};
	const struct hotplug_item *it = NULL;
	int slot = -1;
	if (!vm_running(c, v->attach_to, &vm)) {
		/* A stopped VM gets it at its next start. */
		slot = free_slot(all, n, v->attach_to, NULL);
		if (slot < 0) {
			give_up(c, v, "", "the VM has no free slot for another volume");
			return;
		}
		snprintf(v->attached_vm, sizeof(v->attached_vm), "%s", v->attach_to);
		v->slot = slot;
		save_volume(c, v);
		return;
	}
	autofree char *qmp = vm_qmp(c, vm.id);
	autofree char *path = ctl_volume_path(c, v->id);
	if (read_view(c, vm.id, all, n, &view, &e) < 0) {
		plug_failed(c, v, &vm, qmp, false, e.msg);
		goto out;
	}
	it = hotplug_view_find(&view, v->id);
	if (it && it->device) {
		/* Plugged by a nubod that was cut off before it could record it. */
		slot = it->slot;
		log_info("volume %s: VM %s already has it (slot %d); recording it", v->name, vm.name, slot);
	} else {
		bool node = it && it->node;
		slot = free_slot(all, n, vm.id, &view);
		if (slot < 0) {
			plug_failed(c, v, &vm, qmp, node, "the VM has no free slot for another volume");
			goto out;
		}
		struct qemu_user user;
		/* QEMU opens the volume after it dropped to its user. */
		if (!node && (ctl_qemu_user(c, &user, &e) < 0 || c->host->file_owner(path, user.uid, user.gid, 0600, &e) < 0 ||
			      hotplug_node_add(c->host->qemu_command, qmp, v->id, path, &e) < 0)) {
			plug_failed(c, v, &vm, qmp, false, e.msg);
			goto out;
		}
		if (!node)
			crashpoint("volume.attach.node-added");
		if (hotplug_device_add(c->host->qemu_command, qmp, v->id, slot, &e) < 0) {
			plug_failed(c, v, &vm, qmp, true, e.msg);
			goto out;
		}
		crashpoint("volume.attach.device-added");
		log_info("volume %s: hot-plugged into VM %s (slot %d)", v->name, vm.name, slot);
	}
	snprintf(v->attached_vm, sizeof(v->attached_vm), "%s", vm.id);
	v->slot = slot;
	save_volume(c, v);
	crashpoint("volume.attach.recorded");
out:
	hotplug_view_free(&view);
	vm_free_fields(&vm);
}

/* The VMs whose QEMU runs (in any state: a QEMU holds its volumes open
 * whatever the store says of it); caller frees with vm_list_free. */
static int vms_with_qemu(struct ctl *c, struct vm **out, int *n, struct err *e)
{
	struct vm *vms = NULL;
	int count = 0, k = 0;
	if (store_vm_list_on(c->st, c->host_name, &vms, &count, e) < 0)
		return -1;
	for (int i = 0; i < count; i++) {
		if (vms[i].pid > 0 && c->host->qemu_alive(vms[i].pid, vms[i].id)) {
			if (k != i) {
				struct vm tmp = vms[k];
				vms[k] = vms[i];
				vms[i] = tmp;
			}
			k++;
		}
	}
	*out = vms;
	*n = count;
	return k;
}

/* Before a volume's file is removed: asks every running QEMU whether it
 * holds the volume open. A node without a device (left by a crash) is closed;
 * a device means the volume is plugged in after all: the delete fails and the
 * store records where it is. Returns true when the file may go. */
static bool delete_allowed(struct ctl *c, struct volume *v, struct volume *all, int n)
{
	struct vm *vms = NULL;
	int count = 0;
	struct err e = {0};
	int running = vms_with_qemu(c, &vms, &count, &e);
	bool allowed = running >= 0;
	if (running < 0)
		give_up(c, v, "", e.msg);
	for (int i = 0; allowed && i < running; i++) {
		struct hotplug_view view = {0};
		autofree char *qmp = vm_qmp(c, vms[i].id);
		const struct hotplug_item *it = NULL;
		if (read_view(c, vms[i].id, all, n, &view, &e) < 0) {
			autofree char *why = xasprintf("volume %s was not deleted: cannot tell whether VM %s holds it "
						       "open: %s", v->name, vms[i].name, e.msg);
			give_up(c, v, "", why);
			allowed = false;
		} else if ((it = hotplug_view_find(&view, v->id)) && it->device) {
			autofree char *why = xasprintf("volume %s was not deleted: VM %s has it plugged in (slot %d), "
						       "so it is recorded as attached there; detach it, then delete it",
						       v->name, vms[i].name, it->slot);
			snprintf(v->attached_vm, sizeof(v->attached_vm), "%s", vms[i].id);
			v->slot = it->slot;
			snprintf(v->state, sizeof(v->state), "in-use");
			save_volume(c, v);
			give_up(c, v, vms[i].id, why);
			allowed = false;
		} else if (it && it->node && hotplug_node_del(c->host->qemu_command, qmp, v->id, &e) < 0) {
			autofree char *why = xasprintf("volume %s was not deleted: VM %s holds it open: %s", v->name,
						       vms[i].name, e.msg);
			give_up(c, v, "", why);
			allowed = false;
		} else if (it && it->node) {
			log_info("volume %s: closed in VM %s, which held it open without a device", v->name, vms[i].name);
		}
		hotplug_view_free(&view);
	}
	vm_list_free(vms, count);
	if (!allowed && strcmp(v->state, "in-use") != 0) {
		snprintf(v->state, sizeof(v->state), "available");
		save_volume(c, v);
	}
	return allowed;
}

/* Once, before the first pass: what every running QEMU has of every volume,
 * recorded where a crash left the store behind (see the file's header). */
void volumes_resume(struct ctl *c)
{
	struct vm *vms = NULL;
	struct volume *all = NULL;
	int n_vms = 0, n = 0;
	struct err e = {0};
	int running = vms_with_qemu(c, &vms, &n_vms, &e);
	if (running < 0 || store_volume_list(c->st, &all, &n, &e) < 0) {
		log_error("resume volumes: %s", e.msg);
		goto out;
	}
	for (int i = 0; i < running; i++) {
		struct vm *vm = &vms[i];
		struct hotplug_view view = {0};
		autofree char *qmp = vm_qmp(c, vm->id);
		if (read_view(c, vm->id, all, n, &view, &e) < 0) {
			log_warn("resume volumes of VM %s: %s", vm->name, e.msg);
			continue;
		}
		for (int j = 0; j < n; j++) {
			struct volume *v = &all[j];
			const struct hotplug_item *it = hotplug_view_find(&view, v->id);
			bool here = strcmp(v->attached_vm, vm->id) == 0, wanted = strcmp(v->attach_to, vm->id) == 0;
			if (it && it->device) {
				if (here && v->slot == it->slot)
					continue;
				log_warn("volume %s: VM %s has it plugged in (slot %d), which the store did not record "
					 "(nubod was cut off); recording it", v->name, vm->name, it->slot);
				snprintf(v->attached_vm, sizeof(v->attached_vm), "%s", vm->id);
				v->slot = it->slot;
			} else if (it && it->node) {
				if (here && v->unplugging)
					continue;   /* the guest released it: the unplug closes the node */
				if (!wanted) {
					log_warn("volume %s: VM %s holds it open with no device and nobody wants it "
						 "there (nubod was cut off); closing it", v->name, vm->name);
					if (hotplug_node_del(c->host->qemu_command, qmp, v->id, &e) < 0)
						log_warn("volume %s: %s", v->name, e.msg);
					continue;
				}
				if (!here)
					continue;   /* the attach carries on with the node it has */
				/* Recorded as plugged, but the device is gone: plug it again. */
				v->attached_vm[0] = '\0';
				v->slot = -1;
			} else if (here) {
				if (!v->unplugging)
					log_warn("volume %s: recorded in VM %s, which does not have it; recording that",
						 v->name, vm->name);
				v->attached_vm[0] = '\0';
				v->slot = -1;
				v->unplugging = false;
			} else {
				continue;
			}
			save_volume(c, v);
		}
		hotplug_view_free(&view);
	}
out:
	volume_list_free(all, n);
	vm_list_free(vms, n_vms);
}

/* The operation of a volume whose status reached its spec is over. Also
 * when the state did not change: a detach asked of a volume the store
 * wrongly showed as available must still finish. */
static void settle(struct ctl *c, struct volume *v)
{
	const char *want = v->attached_vm[0] ? "in-use" : "available";
	if (strcmp(v->state, want) != 0) {
		snprintf(v->state, sizeof(v->state), "%s", want);
		save_volume(c, v);
	}
	struct operation op;
	if (!v->op_id[0] || store_op_get(c->st, v->op_id, &op, NULL) < 0)
		return;
	bool running = op.state == OP_RUNNING;
	operation_free_fields(&op);
	if (!running)
		return;
	ctl_op_phase(c, v->op_id, v->attached_vm[0] ? "attached" : "detached");
	ctl_op_finish(c, v->op_id, true, NULL);
}

static bool reconcile_volume(struct ctl *c, struct volume *v, struct volume *all, int n)
{
	struct err e = {0};
	autofree char *path = ctl_volume_path(c, v->id);
	if (strcmp(v->state, "creating") == 0) {
		autofree char *snap = v->from_snapshot[0] ? ctl_snapshot_path(c, v->from_snapshot) : NULL;
		int rc = snap ? c->host->disk_flatten(snap, path, &e) : c->host->disk_empty(path, v->size_bytes, &e);
		/* Guest data: root's alone until a QEMU is given it (plug_step, start). */
		if (rc == 0)
			rc = c->host->file_owner(path, 0, 0, 0600, &e);
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
		if (!delete_allowed(c, v, all, n))
			return true;
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
		settle(c, v);
		return false;
	}
	if (v->attached_vm[0])
		unplug_step(c, v, all, n);
	else
		plug_step(c, v, all, n);
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
		if (strcmp(all[i].host, c->host_name) == 0)   /* its file is on its own host */
			busy = reconcile_volume(c, &all[i], all, n) || busy;
	volume_list_free(all, n);
	return busy;
}
