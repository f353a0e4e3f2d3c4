/*
 * moves: a stopped VM moved to another host (nubo vm move VM --to H). Its
 * id, name, MAC, IP and firewalls are rows and stay as they are; what moves
 * is its root disk (root.qcow2, an overlay on the image, which the new host
 * holds or fetches as for any VM, ctl/peer.c). The seed is rebuilt from the
 * spec at the first start there, as it is whenever it is missing. A VM with
 * volumes or snapshots is refused: their files are their host's.
 *
 * The host the VM is on stays its one owner until the very end; the copy
 * is made beside, and the switch is one write:
 *
 *   API          move_to = H, op "move" (only a stopped VM; start refused meanwhile)
 *   old host     records root.qcow2's size and SHA-256 (move_files)
 *   H            fetches it into vms/ID.move/ (Range after a cut-off, checked),
 *                points it at its own copy of the image, renames vms/ID.move
 *                to vms/ID, then in one write: host = H, move_to = ""
 *   old host     removes its vms/ID once the VM is another host's
 *
 * A kill of either nubod at any point leaves the VM on exactly one host
 * (the row's) with whole disks there: until the switch the old host's files
 * are the VM's and H's are a copy in progress; after it, H's are whole and
 * the old host's are left over, removed at its next pass.
 */
#include "ctl/ctl-priv.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/download.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/runner.h"
#include "util/str.h"
#include "util/thread.h"
#include "util/timeutil.h"

/* How often the reconciler looks for moves (and leftovers) by itself. */
#define MOVES_PASS_MS 1000
/* How long after a failed copy the next try starts. */
#define MOVES_RETRY_MS 3000

/* The disks of a VM that move (the seed is rebuilt from the spec). */
static const char *const vm_files[] = {"root.qcow2", NULL};

static int move_locked(struct ctl *c, const char *ref, const char *to, struct vm *vm, struct operation *op,
		       struct err *e)
{
	if (store_vm_get(c->st, ref, vm, e) < 0)
		return -1;
	if (vm->move_to[0])
		return err_set(e, ERR_CONFLICT, "VM %s is already moving to host %s", vm->name, vm->move_to);
	if (vm->state != VM_STOPPED || vm->power != POWER_STOPPED)
		return err_set(e, ERR_CONFLICT, "VM %s is %s; only a stopped VM moves (nubo vm stop %s --wait)", vm->name,
			       vm->host_down[0] ? "on a host that is down" : vm_state_name(vm->state), vm->name);
	struct host h;
	struct err he = {0};
	if (store_host_get(c->st, to, &h, &he) < 0) {
		if (he.kind != ERR_NOT_FOUND) {
			*e = he;
			return -1;
		}
		return err_set(e, ERR_UNPROCESSABLE, "host \"%s\" does not exist (see nubo host list)", to);
	}
	if (strcmp(h.name, vm->host) == 0)
		return err_set(e, ERR_CONFLICT, "VM %s is already on host %s", vm->name, h.name);
	const char *state = host_state_at(&h, time_now_ms(), (int64_t)c->cfg.host_down_after_s * 1000);
	if (strcmp(state, "up") != 0)
		return err_set(e, ERR_CONFLICT, "host %s is %s: it takes no VMs%s", h.name, state,
			       strcmp(state, "draining") == 0 ? " (nubo host undrain lets it)" : " until its nubod beats again");
	struct host from;
	if (store_host_get(c->st, vm->host, &from, NULL) == 0 &&
	    strcmp(host_state_at(&from, time_now_ms(), (int64_t)c->cfg.host_down_after_s * 1000), "down") == 0)
		return err_set(e, ERR_CONFLICT, "host %s, where VM %s's disk is, is down: nothing can be copied from it",
			       from.name, vm->name);
	struct volume *vols = NULL;
	int n_vols = 0, attached = 0;
	if (store_volume_list(c->st, &vols, &n_vols, e) < 0)
		return -1;
	for (int i = 0; i < n_vols; i++)
		attached += strcmp(vols[i].attached_vm, vm->id) == 0 || strcmp(vols[i].attach_to, vm->id) == 0;
	volume_list_free(vols, n_vols);
	if (attached)
		return err_set(e, ERR_CONFLICT, "VM %s has %d volume(s) attached; a volume lives on its host: detach "
						"them first (nubo volume detach NAME), or keep the VM where it is",
			       vm->name, attached);
	struct snapshot *snaps = NULL;
	int n_snaps = 0, taken = 0;
	if (store_snapshot_list(c->st, &snaps, &n_snaps, e) < 0)
		return -1;
	for (int i = 0; i < n_snaps; i++)
		taken += strcmp(snaps[i].vm_id, vm->id) == 0;
	free(snaps);
	if (taken || vm->base_snapshot[0])
		return err_set(e, ERR_CONFLICT, "VM %s %s; snapshot layers live on their host and are not moved: delete "
						"them first, or keep the VM where it is",
			       vm->name, taken ? "has snapshots" : "starts from a snapshot's layer");
	operation_init(op, "move", vm->id, vm->name);
	ctl_vm_supersede(c, vm, op);
	snprintf(vm->op_id, sizeof(vm->op_id), "%s", op->id);
	snprintf(vm->move_to, sizeof(vm->move_to), "%s", h.name);
	free(vm->move_files);
	vm->move_files = NULL;
	vm->generation++;
	if (store_op_insert(c->st, op, e) < 0 || store_vm_update(c->st, vm, e) < 0)
		return -1;
	log_info("vm %s (%s): move from host %s to host %s accepted", vm->name, vm->id, vm->host, h.name);
	return 0;
}

int ctl_vm_move(struct ctl *c, const char *ref, const char *to, struct vm *vm, struct operation *op, struct err *e)
{
	memset(vm, 0, sizeof(*vm));
	memset(op, 0, sizeof(*op));
	if (!to || !*to)
		return err_set(e, ERR_INVALID, "give \"to\": the host to move the VM to");
	if (store_tx_begin(c->st, e) < 0)
		return -1;
	int rc = move_locked(c, ref, to, vm, op, e);
	if (store_tx_end(c->st, rc == 0, rc == 0 ? e : NULL) < 0)
		rc = -1;
	if (rc < 0) {
		vm_free_fields(vm);
		operation_free_fields(op);
	} else {
		ctl_kick(c);
	}
	return rc;
}

int ctl_peer_vm_open(struct ctl *c, const char *vm_id, const char *file, int *fd, int64_t *size, struct err *e)
{
	struct vm vm;
	if (store_vm_get(c->st, vm_id, &vm, e) < 0)
		return -1;
	json_t *files = vm.move_files ? json_loads(vm.move_files, 0, NULL) : NULL;
	bool listed = false;
	size_t i;
	json_t *f;
	json_array_foreach(files, i, f)
		listed = listed || (json_string_value(json_object_get(f, "name")) &&
				    strcmp(json_string_value(json_object_get(f, "name")), file) == 0);
	json_decref(files);
	int rc = 0;
	if (!listed || !ctl_vm_is_mine(c, &vm)) {
		rc = err_set(e, ERR_NOT_FOUND, "VM %s has no file \"%s\" moving from host %s", vm.name, file, c->host_name);
	} else {
		autofree char *dir = ctl_vm_dir(c, vm.id);
		autofree char *path = xasprintf("%s/%s", dir, file);
		struct stat st;
		*fd = open(path, O_RDONLY | O_CLOEXEC);
		if (*fd < 0 || fstat(*fd, &st) < 0) {
			rc = err_set(e, ERR_NOT_FOUND, "cannot read %s: %s", path, strerror(errno));
			if (*fd >= 0)
				close(*fd);
			*fd = -1;
		} else {
			*size = (int64_t)st.st_size;
		}
	}
	vm_free_fields(&vm);
	return rc;
}

/* Where placement would put vm now (its own host is draining, so not
 * there): the admission transaction's choice, read only. */
static int pick_target(struct ctl *c, const struct vm *vm, char to[NAME_MAX_LEN + 1], struct err *e)
{
	struct vm probe = *vm;
	probe.host[0] = '\0';
	if (store_tx_begin(c->st, e) < 0)
		return -1;
	int rc = sched_place(c, &probe, NULL, e);
	store_tx_end(c->st, false, NULL);
	if (rc == 0)
		snprintf(to, NAME_MAX_LEN + 1, "%s", probe.host);
	return rc;
}

int ctl_host_drain_move(struct ctl *c, const char *ref, json_t **out, struct err *e)
{
	if (ctl_host_drain(c, ref, true, out, e) < 0)
		return -1;
	const char *name = json_string_value(json_object_get(*out, "name"));
	struct vm *vms = NULL;
	int n = 0;
	if (store_vm_list_on(c->st, name ? name : ref, &vms, &n, e) < 0) {
		json_decref(*out);
		*out = NULL;
		return -1;
	}
	json_t *moved = json_array(), *kept = json_array();
	for (int i = 0; i < n; i++) {
		struct vm *vm = &vms[i], after;
		struct operation op;
		struct err me = {0};
		char to[NAME_MAX_LEN + 1] = "";
		if (vm->move_to[0]) {
			json_array_append_new(moved, json_pack("{s:s, s:s, s:s}", "vm", vm->name, "to", vm->move_to,
							       "operation", vm->op_id));
			continue;
		}
		if (vm->state != VM_STOPPED || vm->power != POWER_STOPPED) {
			err_set(&me, ERR_CONFLICT, "it is %s: a VM moves only while stopped (nubo vm stop %s, then nubo "
						   "host drain %s --move again)", vm_state_name(vm->state), vm->name, name);
		} else if (pick_target(c, vm, to, &me) == 0 && ctl_vm_move(c, vm->id, to, &after, &op, &me) == 0) {
			json_array_append_new(moved, json_pack("{s:s, s:s, s:s}", "vm", vm->name, "to", to, "operation",
							       op.id));
			vm_free_fields(&after);
			operation_free_fields(&op);
			continue;
		}
		json_array_append_new(kept, json_pack("{s:s, s:s}", "vm", vm->name, "why", me.msg));
	}
	vm_list_free(vms, n);
	json_object_set_new(*out, "moves", moved);
	json_object_set_new(*out, "not_moved", kept);
	return 0;
}

/* --- the reconciler ----------------------------------------------------------- */

/* The old host: what the new one must fetch, with checksums. */
static void record_files(struct ctl *c, struct vm *vm)
{
	autofree char *dir = ctl_vm_dir(c, vm->id);
	json_t *files = json_array();
	struct err e = {0};
	int rc = 0;
	for (int i = 0; vm_files[i] && rc == 0; i++) {
		autofree char *path = xasprintf("%s/%s", dir, vm_files[i]);
		struct stat st;
		char sum[65];
		if (stat(path, &st) < 0)
			continue;   /* never started (or dry-run): nothing to copy */
		rc = download_sha256(path, sum, &e);
		if (rc == 0)
			json_array_append_new(files, json_pack("{s:s, s:I, s:s}", "name", vm_files[i], "size",
							       (json_int_t)st.st_size, "sha256", sum));
	}
	if (rc == 0) {
		vm->move_files = json_dumps(files, JSON_COMPACT);
		rc = store_vm_move_files_set(c->st, vm->id, vm->move_to, vm->move_files, &e);
	}
	json_decref(files);
	if (rc < 0)
		log_warn("vm %s: recording its disk for the move to %s: %s", vm->name, vm->move_to, e.msg);
	else
		ctl_op_phase(c, vm->op_id, "checksummed");
}

struct move_job {
	struct ctl *c;
	char vm_id[ID_MAX];
};

/* The overlay names its base by path: this host's copy of the image. */
static int point_at_image(const char *name, const char *path, void *img_dir, struct err *e)
{
	if (strcmp(name, "root.qcow2") != 0)
		return 0;
	autofree char *base = xasprintf("%s/disk.qcow2", (const char *)img_dir);
	const char *argv[] = {"qemu-img", "rebase", "-u", "-F", "qcow2", "-b", base, path, NULL};
	return runner_run(argv, NULL, NULL, e);
}

/* The new host: the files into vms/ID.move, checked, pointed at this host's
 * image, renamed into place. Returns 1 while the image is still on its way. */
static int fetch_disk(struct ctl *c, struct vm *vm, struct err *e)
{
	autofree char *dir = ctl_vm_dir(c, vm->id);
	autofree char *tmp = xasprintf("%s.move", dir);
	if (fs_exists(dir))
		return 0;   /* renamed before a kill: whole and checked */
	struct image img;
	if (store_image_get(c->st, vm->image_id, &img, e) < 0)
		return -1;
	int rc = peer_image_local(c, &img, vm->op_id, e);
	autofree char *img_dir = ctl_image_dir(c, img.id);
	image_free_fields(&img);
	if (rc != 0)
		return rc;
	struct host from;
	if (store_host_get(c->st, vm->host, &from, e) < 0)
		return -1;
	json_t *files = json_loads(vm->move_files, 0, NULL);
	if (json_array_size(files) && !from.peer_url[0]) {   /* none (dry-run): nothing to fetch, from nobody */
		json_decref(files);
		return err_set(e, ERR_UNAVAILABLE, "host %s serves no files to other hosts (it needs --listen or "
						    "--listen-http)", from.name);
	}
	autofree char *base = xasprintf("%s/v1/peer/vms/%s", from.peer_url, vm->id);
	autofree char *what = xasprintf("VM %s's moving disk", vm->name);
	rc = peer_fetch_files(c, files, base, tmp, vm->op_id, what, point_at_image, img_dir, e);
	json_decref(files);
	if (rc == 0 && rename(tmp, dir) < 0)
		rc = err_set(e, ERR_INTERNAL, "cannot rename %s to %s: %s", tmp, dir, strerror(errno));
	return rc;
}

/* The switch, in one write: the VM is this host's from now on. */
static int move_done(struct ctl *c, const char *vm_id, struct err *e)
{
	struct vm vm;
	memset(&vm, 0, sizeof(vm));
	if (store_tx_begin(c->st, e) < 0)
		return -1;
	int rc = store_vm_get(c->st, vm_id, &vm, e);
	if (rc == 0 && strcmp(vm.move_to, c->host_name) != 0)
		rc = err_set(e, ERR_CONFLICT, "VM %s is no longer moving here", vm.name);
	if (rc == 0) {
		snprintf(vm.host, sizeof(vm.host), "%s", c->host_name);
		vm.move_to[0] = '\0';
		free(vm.move_files);
		vm.move_files = NULL;
		rc = store_vm_update(c->st, &vm, e);
	}
	if (store_tx_end(c->st, rc == 0, rc == 0 ? e : NULL) < 0)
		rc = -1;
	vm_free_fields(&vm);
	return rc;
}

static void *move_thread(void *arg)
{
	struct move_job *job = arg;
	struct ctl *c = job->c;
	struct vm vm;
	struct err e = {0};
	if (store_vm_get(c->st, job->vm_id, &vm, &e) == 0) {
		int rc = strcmp(vm.move_to, c->host_name) == 0 && vm.move_files ? fetch_disk(c, &vm, &e) : 1;
		if (rc < 0) {
			log_error("vm %s: moving here from host %s: %s; trying again", vm.name, vm.host, e.msg);
			c->moves_retry_at = time_mono_ms() + MOVES_RETRY_MS;
		}
		if (rc == 0 && move_done(c, vm.id, &e) == 0) {
			log_info("vm %s: moved here from host %s", vm.name, vm.host);
			ctl_op_phase(c, vm.op_id, "moved");
			ctl_op_finish(c, vm.op_id, true, NULL);
			ctl_rules_changed(c);
		} else if (rc == 0) {
			log_error("vm %s: recording the move: %s; trying again", vm.name, e.msg);
		}
		vm_free_fields(&vm);
	}
	ctl_builds_track(c, job->vm_id, false);
	free(job);
	return NULL;
}

static void start_fetch(struct ctl *c, const struct vm *vm)
{
	if (ctl_builds_has(c, vm->id))
		return;
	struct move_job *job = xcalloc(1, sizeof(*job));
	job->c = c;
	snprintf(job->vm_id, sizeof(job->vm_id), "%s", vm->id);
	ctl_builds_track(c, vm->id, true);
	if (thread_start_detached(move_thread, job) != 0) {
		ctl_builds_track(c, vm->id, false);
		free(job);
	}
}

/* This host's folders of VMs that are not its own: one moved away (once
 * the row names its new host), or the copy of a VM since deleted. */
static void sweep(struct ctl *c, const struct vm *vms, int n)
{
	autofree char *root = xasprintf("%s/vms", c->state_dir);
	DIR *d = opendir(root);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		char id[ID_MAX];
		size_t len = strcspn(de->d_name, ".");
		if (len == 0 || len >= sizeof(id) || de->d_name[0] == '.')
			continue;
		snprintf(id, sizeof(id), "%.*s", (int)len, de->d_name);
		bool moving_copy = de->d_name[len] == '.';
		const struct vm *vm = NULL;
		for (int i = 0; i < n && !vm; i++)
			if (strcmp(vms[i].id, id) == 0)
				vm = &vms[i];
		/* A copy whose VM still exists is kept: a move here may come
		 * (again), and the checksum tells a stale part from a good one. */
		bool gone = moving_copy ? !vm
					: vm && vm->host[0] && strcmp(vm->host, c->host_name) != 0 &&
						  strcmp(vm->move_to, c->host_name) != 0;
		if (!gone || ctl_builds_has(c, id))
			continue;
		autofree char *path = xasprintf("%s/%s", root, de->d_name);
		struct err e = {0};
		if (fs_rm_rf(path, &e) < 0)
			log_warn("vm %s: removing files of a VM that is not this host's: %s", id, e.msg);
		else
			log_info("vm %s: its files here are removed (%s)", vm ? vm->name : id,
				 moving_copy ? "the copy of a deleted VM" : "it is on another host now");
	}
	if (d)
		closedir(d);
}

bool moves_reconcile(struct ctl *c)
{
	struct vm *vms = NULL;
	int n = 0;
	int64_t now = time_mono_ms();
	if (now - c->moves_pass_at < MOVES_PASS_MS || now < c->moves_retry_at)
		return false;
	c->moves_pass_at = now;
	if (store_vm_list(c->st, &vms, &n, NULL) < 0)
		return false;
	bool busy = false;
	for (int i = 0; i < n; i++) {
		struct vm *vm = &vms[i];
		if (!vm->move_to[0])
			continue;
		busy = true;
		if (ctl_vm_is_mine(c, vm) && !vm->move_files)
			record_files(c, vm);
		else if (strcmp(vm->move_to, c->host_name) == 0 && vm->move_files)
			start_fetch(c, vm);
	}
	sweep(c, vms, n);
	vm_list_free(vms, n);
	if (busy)
		c->moves_pass_at = 0;   /* look again at the next tick */
	return busy;
}
