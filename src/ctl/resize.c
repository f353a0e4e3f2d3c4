/*
 * resize: a VM's type (vCPUs, memory) and root disk, changed on request.
 *
 * The API side (ctl_vm_resize) decides in one store transaction whether the
 * change is possible and how, admits the new capacity, and writes the spec;
 * it never touches the host. Then:
 *
 *   VM stopped              → the spec is all: the next start boots the new size
 *   running, fits live      → resize_live_step (this reconciler's part) plugs
 *                             memory DIMMs and vCPUs in or out and grows the
 *                             disk while the guest runs
 *   running, --restart      → the reboot path: stop, start with the new spec
 *   running, no --restart   → 409 saying why it cannot be live
 *
 * Live is possible when the vCPUs and memory stay within the ceilings fixed
 * at create (QEMU's maxcpus and maxmem) and memory moves by whole 128 MiB
 * blocks; under TCG vCPUs are only ever added live, never removed (see
 * resize_plan and host/qemu.c). An offline resize raises the ceilings to
 * the new type if it is larger. A guest that refuses to give memory back
 * (pages it cannot move) undoes the resize's type change and fails the
 * operation with its reason.
 *
 * Crash safety: the spec is written first; the live step reads what QEMU has
 * before every move (resize.h in host/) and records live_memory_mib,
 * live_vcpus and live_disk_bytes only once QEMU matches, so a nubod killed
 * between moves resumes from what QEMU really has.
 */
#include "ctl/ctl-priv.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/resize.h"
#include "model/size.h"
#include "util/crashpoint.h"
#include "util/log.h"
#include "util/str.h"
#include "util/timeutil.h"

/* The root disk's size as the guest sees it now (the spec's, or its base's). */
static int current_disk_bytes(struct ctl *c, const struct vm *vm, uint64_t *bytes, struct err *e)
{
	*bytes = vm->disk_size_bytes;
	if (*bytes)
		return 0;
	if (vm->base_snapshot[0]) {
		struct snapshot sn;
		if (store_snapshot_get(c->st, vm->base_snapshot, &sn, e) < 0)
			return -1;
		*bytes = (uint64_t)sn.virtual_size;
		return 0;
	}
	struct image img;
	if (store_image_get(c->st, vm->image_id, &img, e) < 0)
		return -1;
	*bytes = (uint64_t)img.virtual_size_bytes;
	image_free_fields(&img);
	return 0;
}

int resize_check_disk(uint64_t now, const char *want_text, uint64_t *want, struct err *e)
{
	if (size_parse(want_text, "disk_size", want, e) < 0)
		return -1;
	char have[32], max[32];
	size_format(now, have);
	size_format(VM_DISK_MAX, max);
	if (*want < now)
		return err_set(e, ERR_UNPROCESSABLE,
			       "disk_size %s is smaller than the disk's %s: nubo never shrinks a disk, because the "
			       "file system and data at its end would be cut off; copy what you need to a smaller "
			       "disk instead",
			       want_text, have);
	if (*want > VM_DISK_MAX)
		return err_set(e, ERR_INVALID, "disk_size %s is above the largest disk, %s", want_text, max);
	return 0;
}

int resize_plan(const struct vm *vm, const struct machine_type *t, bool can_unplug, bool restart,
		enum resize_mode *mode, struct err *e)
{
	bool runs = vm->power == POWER_RUNNING;
	if (!runs) {
		*mode = RESIZE_OFFLINE;
		return 0;
	}
	const char *why = NULL;
	char text[320];
	int max_memory = vm->max_memory_mib > vm->memory_mib ? vm->max_memory_mib : vm->memory_mib;
	if (t && t->memory_mib > max_memory) {
		snprintf(text, sizeof(text),
			 "type %s has %d MiB of memory, above the VM's ceiling of %d MiB fixed at create (max_type %s)",
			 t->name, t->memory_mib, max_memory, vm->max_type);
		why = text;
	} else if (t && (t->memory_mib - vm->memory_mib) % RESIZE_MEM_BLOCK_MIB != 0) {
		snprintf(text, sizeof(text),
			 "type %s has %d MiB of memory and the VM has %d MiB; running, memory moves in whole blocks of "
			 "%d MiB (the guest kernel's unit)",
			 t->name, t->memory_mib, vm->memory_mib, RESIZE_MEM_BLOCK_MIB);
		why = text;
	} else if (t && t->vcpus > vm->max_vcpus) {
		snprintf(text, sizeof(text),
			 "type %s has %d vCPUs, above the VM's ceiling of %d fixed at create (max_type %s)", t->name,
			 t->vcpus, vm->max_vcpus, vm->max_type);
		why = text;
	} else if (t && t->vcpus < vm->vcpus && !can_unplug) {
		snprintf(text, sizeof(text),
			 "type %s has %d vCPUs and the VM has %d; under TCG emulation vCPUs can be added live but "
			 "not removed (QEMU 7.2 stops the VM when the guest lets a vCPU go; under KVM it is live)",
			 t->name, t->vcpus, vm->vcpus);
		why = text;
	}
	if (!why) {
		*mode = RESIZE_LIVE;
		return 0;
	}
	if (restart) {
		*mode = RESIZE_RESTART;
		return 0;
	}
	return err_set(e, ERR_CONFLICT,
		       "cannot resize VM %s while it runs: %s. Add --restart (\"restart\": true) to stop it, resize it "
		       "and start it again, keeping its address and disks",
		       vm->name, why);
}

static int resize_locked(struct ctl *c, struct vm *vm, const struct vm_resize_request *r, struct operation *op,
			 bool *accepted, struct err *e)
{
	const struct machine_type *t = NULL;
	if (r->type) {
		t = catalog_find(&c->cfg.types, r->type);
		if (!t) {
			autofree char *names = catalog_names(&c->cfg.types);
			return err_set(e, ERR_UNPROCESSABLE, "type \"%s\" does not exist; valid types: %s", r->type, names);
		}
	}
	if (vm->power == POWER_DELETED || vm->reboot || vm->restore_from[0] || vm->state == VM_PENDING ||
	    vm->state == VM_STOPPING || vm->state == VM_SHUTTING_DOWN ||
	    (vm->state == VM_RUNNING && (vm->deadline != 0 || vm_resize_due(vm))))
		return err_set(e, ERR_CONFLICT, "cannot resize VM %s while it is %s%s; try again when it has settled",
			       vm->name, vm_state_name(vm->state),
			       vm->state == VM_RUNNING ? " and busy (booting, or an earlier resize)" : "");
	uint64_t disk_now = 0, disk_want = 0;
	if (r->disk_size && (current_disk_bytes(c, vm, &disk_now, e) < 0 ||
			     resize_check_disk(disk_now, r->disk_size, &disk_want, e) < 0))
		return -1;
	bool type_changes = t && strcmp(t->name, vm->type) != 0;
	bool disk_changes = r->disk_size && disk_want > disk_now;
	if (!type_changes && !disk_changes) {
		*accepted = false;
		return ctl_op_record_done(c, "resize", vm->id, vm->name, op, e);
	}
	enum resize_mode mode = RESIZE_OFFLINE;
	if (resize_plan(vm, type_changes ? t : NULL, c->accel == ACCEL_KVM, r->restart, &mode, e) < 0)
		return -1;
	*accepted = true;
	operation_init(op, "resize", vm->id, vm->name);
	if (type_changes) {
		snprintf(vm->type, sizeof(vm->type), "%s", t->name);
		vm->vcpus = t->vcpus;
		vm->memory_mib = t->memory_mib;
		/* Offline the next boot takes new ceilings: never below the type. */
		if (mode != RESIZE_LIVE && (t->vcpus > vm->max_vcpus || t->memory_mib > vm->max_memory_mib)) {
			/* max_type names the ceiling while one type holds both
			 * numbers; max_vcpus and max_memory_mib are the truth. */
			if (t->vcpus >= vm->max_vcpus && t->memory_mib >= vm->max_memory_mib)
				snprintf(vm->max_type, sizeof(vm->max_type), "%s", t->name);
			vm->max_vcpus = t->vcpus > vm->max_vcpus ? t->vcpus : vm->max_vcpus;
			vm->max_memory_mib = t->memory_mib > vm->max_memory_mib ? t->memory_mib : vm->max_memory_mib;
		}
		if (vm_holds_capacity(vm) && sched_admit(c, vm, e) < 0) {
			/* The VM keeps running at its old size: a conflict with
			 * what else runs, not a failure of the host. */
			e->kind = ERR_CONFLICT;
			return -1;
		}
	}
	if (disk_changes)
		vm->disk_size_bytes = disk_want;
	if (mode == RESIZE_RESTART) {
		vm->reboot = true;
		vm->force_stop = false;
		vm->deadline = 0;
	}
	phases_mark(&op->phases, "scheduled", op->created_at, time_now_ms());
	if (vm->op_id[0]) {
		char why[128];
		snprintf(why, sizeof(why), "superseded by resize (%s)", op->id);
		ctl_op_finish(c, vm->op_id, false, why);
	}
	snprintf(vm->op_id, sizeof(vm->op_id), "%s", op->id);
	vm->generation++;
	if (store_op_insert(c->st, op, e) < 0 || store_vm_update(c->st, vm, e) < 0)
		return -1;
	if (mode == RESIZE_OFFLINE) {
		/* Nothing runs that must change: the spec is the whole resize. */
		operation_free_fields(op);
		ctl_op_finish(c, vm->op_id, true, NULL);
		if (store_op_get(c->st, vm->op_id, op, e) < 0)
			return -1;
	}
	log_info("vm %s (%s): resize accepted (%s): type %s, %d vCPU, %d MiB, disk %" PRIu64 " bytes", vm->name,
		 vm->id, mode == RESIZE_LIVE ? "live" : mode == RESIZE_RESTART ? "restart" : "offline", vm->type, vm->vcpus,
		 vm->memory_mib, vm->disk_size_bytes);
	return 0;
}

int ctl_vm_resize(struct ctl *c, const char *ref, const struct vm_resize_request *r, struct vm *vm,
		  struct operation *op, bool *accepted, struct err *e)
{
	memset(vm, 0, sizeof(*vm));
	memset(op, 0, sizeof(*op));
	*accepted = false;
	if (!r->type && !r->disk_size)
		return err_set(e, ERR_INVALID, "give type, disk_size or both: nothing to resize");
	if (store_tx_begin(c->st, e) < 0)
		return -1;
	int rc = store_vm_get(c->st, ref, vm, e);
	if (rc == 0)
		rc = resize_locked(c, vm, r, op, accepted, e);
	if (store_tx_end(c->st, rc == 0, rc == 0 ? e : NULL) < 0)
		rc = -1;
	if (rc < 0) {
		vm_free_fields(vm);
		operation_free_fields(op);
	} else if (*accepted) {
		ctl_kick(c);
	}
	return rc;
}

/* --- the reconciler's part ------------------------------------------------- */

/* The guest would not give memory back: the resize's type change is undone
 * (to the type that has what the VM runs with, if the catalog still has
 * one; else only the memory), and its operation fails with the reason. */
static void memory_refused(struct ctl *c, struct vm *vm, int have_mib, const char *why)
{
	int vcpus = vm->live_vcpus > 0 ? vm->live_vcpus : vm->vcpus;
	const struct machine_type *old = NULL;
	for (int i = 0; i < c->cfg.types.n && !old; i++)
		if (c->cfg.types.types[i].vcpus == vcpus && c->cfg.types.types[i].memory_mib == have_mib)
			old = &c->cfg.types.types[i];
	autofree char *text = xasprintf("%s; the VM stays at %s (%d MiB): resize it with --restart to have %d MiB", why,
					old ? old->name : vm->type, have_mib, vm->memory_mib);
	log_warn("vm %s: live memory resize refused: %s", vm->name, text);
	if (old) {
		snprintf(vm->type, sizeof(vm->type), "%s", old->name);
		vm->vcpus = old->vcpus;
	}
	vm->memory_mib = have_mib;
	vm->live_memory_mib = have_mib;
	struct err e = {0};
	if (instances_cgroup_limit(c, vm, vcpus, have_mib, &e) < 0)
		log_warn("vm %s: %s", vm->name, e.msg);
	ctl_op_finish(c, vm->op_id, false, text);
}

/* One move of memory toward the spec: DIMMs in or out. The cgroup's memory
 * limit covers the larger size while memory moves. */
static bool memory_step(struct ctl *c, struct vm *vm, const char *qmp_sock)
{
	struct err e = {0};
	int vcpus = vm->live_vcpus > 0 ? vm->live_vcpus : vm->vcpus;
	int most = vm->memory_mib > vm->live_memory_mib ? vm->memory_mib : vm->live_memory_mib;
	if (instances_cgroup_limit(c, vm, vcpus, most, &e) < 0) {
		log_warn("vm %s: %s; trying again", vm->name, e.msg);
		return false;
	}
	crashpoint("resize.memory-limit-raised");
	int have = 0;
	if (c->host->qemu_memory_step(qmp_sock, vm->memory_mib, &have, &e) < 0) {
		if (e.kind == ERR_CONFLICT && have > 0) {
			memory_refused(c, vm, have, e.msg);
			return true;
		}
		log_warn("vm %s: live resize to %d MiB: %s; trying again", vm->name, vm->memory_mib, e.msg);
		return false;
	}
	crashpoint("resize.memory-moved");
	if (have != vm->memory_mib)
		return false;   /* a move was made: look again next pass */
	if (instances_cgroup_limit(c, vm, vcpus, vm->memory_mib, &e) < 0) {
		log_warn("vm %s: %s; trying again", vm->name, e.msg);
		return false;
	}
	vm->live_memory_mib = vm->memory_mib;
	ctl_op_phase(c, vm->op_id, "memory");
	log_info("vm %s: runs with %d MiB", vm->name, vm->memory_mib);
	return true;
}

/* One move of vCPUs toward the spec. The CPU quota covers the larger count
 * while vCPUs move: a vCPU added is never throttled to the old share. */
static bool cpu_step(struct ctl *c, struct vm *vm, const char *qmp_sock)
{
	struct err e = {0};
	int have = 0;
	int most = vm->vcpus > vm->live_vcpus ? vm->vcpus : vm->live_vcpus;
	if (instances_cgroup_limit(c, vm, most, vm->memory_mib, &e) < 0) {
		log_warn("vm %s: %s; trying again", vm->name, e.msg);
		return false;
	}
	crashpoint("resize.cpu-quota-raised");
	if (c->host->qemu_vcpus_step(qmp_sock, vm->vcpus, &have, &e) < 0) {
		/* QEMU busy or slow (TCG on a loaded host): the VM keeps
		 * what it has and the next pass tries again. The API
		 * admits only sizes within the ceiling, so this is not
		 * a request that can never succeed. */
		log_warn("vm %s: live resize to %d vCPUs: %s; trying again", vm->name, vm->vcpus, e.msg);
		return false;
	}
	crashpoint("resize.cpu-moved");
	if (have != vm->vcpus)
		return false;   /* a move was made or is under way: look again next pass */
	if (instances_cgroup_limit(c, vm, vm->vcpus, vm->memory_mib, &e) < 0) {
		log_warn("vm %s: %s; trying again", vm->name, e.msg);
		return false;
	}
	vm->live_vcpus = vm->vcpus;
	ctl_op_phase(c, vm->op_id, "cpus");
	log_info("vm %s: runs with %d vCPU", vm->name, vm->vcpus);
	return true;
}

static bool disk_step(struct ctl *c, struct vm *vm, const char *qmp_sock)
{
	struct err e = {0};
	if (c->host->qemu_disk_grow(qmp_sock, "root", vm->disk_size_bytes, &e) < 0) {
		log_warn("vm %s: %s; trying again", vm->name, e.msg);
		return false;
	}
	crashpoint("resize.disk-grown");
	vm->live_disk_bytes = vm->disk_size_bytes;
	ctl_op_phase(c, vm->op_id, "disk");
	log_info("vm %s: root disk grown to %" PRIu64 " bytes", vm->name, vm->disk_size_bytes);
	return true;
}

/* Memory first: if the guest refuses to give it back, nothing else of the
 * resize has happened yet and the type change is undone whole. */
bool resize_live_step(struct ctl *c, struct vm *vm, const char *qmp_sock)
{
	if (vm->live_memory_mib != vm->memory_mib)
		return memory_step(c, vm, qmp_sock);
	if (vm->live_vcpus != vm->vcpus)
		return cpu_step(c, vm, qmp_sock);
	if (vm->disk_size_bytes > vm->live_disk_bytes)
		return disk_step(c, vm, qmp_sock);
	return false;
}

/* Called when nothing is left to do: the resize operation (if it is the VM's
 * current one and still running) has succeeded. */
void resize_live_done(struct ctl *c, struct vm *vm)
{
	struct operation op;
	if (!vm->op_id[0] || store_op_get(c->st, vm->op_id, &op, NULL) < 0)
		return;
	if (op.state == OP_RUNNING && strcmp(op.kind, "resize") == 0)
		ctl_op_finish(c, vm->op_id, true, NULL);
	operation_free_fields(&op);
}
