/*
 * moves: a stopped VM moved to another host (nubo vm move VM --to H). Its
 * id, name, MAC, IP and firewalls are rows and stay as they are; what moves
 * is its root disk (root.qcow2, an overlay on the image, which the new host
 * holds or fetches as for any VM, ctl/peer.c) and the file of each volume
 * attached to it (volumes/VOLUME_ID.qcow2, a standalone qcow2). The seed is
 * rebuilt from the spec at the first start there, as it is whenever it is
 * missing. A VM with snapshots, or with a volume that has some, is refused:
 * a snapshot's layer is a link in a disk chain on its host.
 *
 * The host the VM is on stays its one owner until the very end; the copy
 * is made beside, and the switch is one write:
 *
 *   API          move_to = H, op "move" (only a stopped VM; a start, an
 *                attach, a detach or a snapshot of it is refused meanwhile)
 *   old host     records the size and SHA-256 of root.qcow2 and of each
 *                attached volume's file (move_files)
 *   H            marks vms/ID.move/ as this move's copy, fetches the files
 *                into it (Range after a cut-off, checked), points the disk
 *                at its own copy of the image, renames it to vms/ID
 *   H            (reconciler thread) in one write: host = H for the VM and
 *                its volumes, move_to = ""; then renames each volume's copy
 *                from vms/ID/ to volumes/ (again at the next start, after
 *                a kill in between, before anything can start the VM)
 *   old host     removes its vms/ID and its volumes' files, now another
 *                host's
 *
 * A kill of either nubod at any point leaves the VM and its volumes on
 * exactly one host (the rows') with whole files there: until the switch the
 * old host's files are theirs and H's are a copy in progress; after it, H's
 * are whole and the old host's are left over, removed at its next pass.
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
#include "util/crashpoint.h"
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

static bool attached_to(const struct volume *v, const char *vm_id)
{
	return strcmp(v->attached_vm, vm_id) == 0 || strcmp(v->attach_to, vm_id) == 0;
}

/* The names of the snapshots of the VM vm_id or of the volume vol_id, as
 * "a, b" (caller frees), or NULL when there are none. */
static char *snapshots_of(const struct snapshot *snaps, int n, const char *vm_id, const char *vol_id)
{
	struct sbuf b = {0};
	for (int i = 0; i < n; i++)
		if ((vm_id && strcmp(snaps[i].vm_id, vm_id) == 0) || (vol_id && strcmp(snaps[i].volume_id, vol_id) == 0))
			sbuf_addf(&b, "%s%s", b.len ? ", " : "", snaps[i].name);
	if (!b.len) {
		free(sbuf_take(&b));
		return NULL;
	}
	return sbuf_take(&b);
}

/* What keeps vm (or its volumes) from moving, in e: a volume attaching,
 * detaching or not yet made, and snapshots. A snapshot's layer is a link
 * in its VM's disk chain on its host (or, for a volume's, a copy there);
 * they stay where they are, so a VM with any is refused, with their names. */
static int volumes_movable(struct ctl *c, const struct vm *vm, struct err *e)
{
	struct volume *vols = NULL;
	struct snapshot *snaps = NULL;
	int n_vols = 0, n_snaps = 0, rc = 0;
	if (store_volume_list(c->st, &vols, &n_vols, e) < 0)
		return -1;
	if (store_snapshot_list(c->st, &snaps, &n_snaps, e) < 0) {
		volume_list_free(vols, n_vols);
		return -1;
	}
	autofree char *taken = snapshots_of(snaps, n_snaps, vm->id, NULL);
	if (taken)
		rc = err_set(e, ERR_CONFLICT, "VM %s has snapshots (%s); snapshot layers live on their host and are "
					      "not moved: delete them first (nubo snapshot delete NAME), or keep the VM "
					      "where it is", vm->name, taken);
	else if (vm->base_snapshot[0])
		rc = err_set(e, ERR_CONFLICT, "VM %s starts from a snapshot's layer, which lives on its host and is not "
					      "moved: keep the VM where it is", vm->name);
	for (int i = 0; i < n_vols && rc == 0; i++) {
		const struct volume *v = &vols[i];
		if (!attached_to(v, vm->id))
			continue;
		autofree char *vsnaps = snapshots_of(snaps, n_snaps, NULL, v->id);
		if (strcmp(v->attach_to, v->attached_vm) != 0 || v->unplugging || v->deleted ||
		    strcmp(v->state, "creating") == 0)
			rc = err_set(e, ERR_CONFLICT, "volume %s of VM %s is %s; move the VM once that is done", v->name,
				     vm->name, strcmp(v->state, "creating") == 0 ? "still being made"
					       : v->unplugging || !v->attach_to[0] ? "being detached"
										     : "being attached");
		else if (vsnaps)
			rc = err_set(e, ERR_CONFLICT, "volume %s of VM %s has snapshots (%s); a volume's snapshots live on "
						      "its host and are not moved: delete them first (nubo snapshot "
						      "delete NAME), or detach the volume", v->name, vm->name, vsnaps);
		else if (strcmp(v->host, vm->host) != 0)
			rc = err_set(e, ERR_CONFLICT, "volume %s of VM %s is on host %s, not on the VM's host %s", v->name,
				     vm->name, v->host, vm->host);
	}
	free(snaps);
	volume_list_free(vols, n_vols);
	return rc;
}

int ctl_vm_moving_refusal(struct ctl *c, const char *vm_id, const char *what, struct err *e)
{
	struct vm vm;
	if (!vm_id || !vm_id[0] || store_vm_get(c->st, vm_id, &vm, NULL) < 0)
		return 0;
	int rc = vm.move_to[0] ? err_set(e, ERR_CONFLICT, "VM %s is moving to host %s: %s waits until the move has "
							  "ended (nubo operation wait %s)",
					 vm.name, vm.move_to, what, vm.op_id)
			       : 0;
	vm_free_fields(&vm);
	return rc;
}

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
	if (volumes_movable(c, vm, e) < 0)
		return -1;
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
	json_t *entry = NULL;
	size_t i;
	json_t *f;
	json_array_foreach(files, i, f)
		if (!entry && json_string_value(json_object_get(f, "name")) &&
		    strcmp(json_string_value(json_object_get(f, "name")), file) == 0)
			entry = f;
	/* A volume's file is where the volume's host keeps it; a VM's, in its folder. */
	const char *vol_id = json_string_value(json_object_get(entry, "volume"));
	autofree char *dir = ctl_vm_dir(c, vm.id);
	autofree char *path = vol_id ? ctl_volume_path(c, vol_id) : xasprintf("%s/%s", dir, file);
	json_decref(files);
	int rc = 0;
	if (!entry || !ctl_vm_is_mine(c, &vm)) {
		rc = err_set(e, ERR_NOT_FOUND, "VM %s has no file \"%s\" moving from host %s", vm.name, file, c->host_name);
	} else {
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

/* Adds path's entry (name, size, SHA-256, and the volume it is the file
 * of, if any) to files; nothing if there is no such file. */
static int record_file(json_t *files, const char *path, const char *name, const char *vol_id, struct err *e)
{
	struct stat st;
	char sum[65];
	if (stat(path, &st) < 0)
		return 0;   /* never started (or dry-run): nothing to copy */
	if (download_sha256(path, sum, e) < 0)
		return -1;
	json_t *f = json_pack("{s:s, s:I, s:s}", "name", name, "size", (json_int_t)st.st_size, "sha256", sum);
	if (vol_id)
		json_object_set_new(f, "volume", json_string(vol_id));
	json_array_append_new(files, f);
	return 0;
}

/* The old host: what the new one must fetch, with checksums: the VM's
 * disk and the file of each volume attached to it (VOLUME_ID.qcow2). */
static void record_files(struct ctl *c, struct vm *vm)
{
	autofree char *dir = ctl_vm_dir(c, vm->id);
	json_t *files = json_array();
	struct err e = {0};
	int rc = 0;
	for (int i = 0; vm_files[i] && rc == 0; i++) {
		autofree char *path = xasprintf("%s/%s", dir, vm_files[i]);
		rc = record_file(files, path, vm_files[i], NULL, &e);
	}
	struct volume *vols = NULL;
	int n_vols = 0;
	if (rc == 0)
		rc = store_volume_list(c->st, &vols, &n_vols, &e);
	for (int i = 0; i < n_vols && rc == 0; i++) {
		if (!attached_to(&vols[i], vm->id))
			continue;
		autofree char *path = ctl_volume_path(c, vols[i].id);
		autofree char *name = xasprintf("%s.qcow2", vols[i].id);
		rc = record_file(files, path, name, vols[i].id, &e);
	}
	volume_list_free(vols, n_vols);
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

/* Whether the folder dir is the copy of the move op_id: its mark
 * (MOVE_MARK, written when the copy starts) names it. A folder of the VM
 * from an earlier stay here, or the copy of an earlier move, is not. */
#define MOVE_MARK ".move-op"
static bool marked(const char *dir, const char *op_id)
{
	autofree char *path = xasprintf("%s/" MOVE_MARK, dir);
	char *got = NULL;
	size_t len = 0;
	bool same = fs_read_file(path, 64, &got, &len, NULL) == 0 && strlen(op_id) == len && memcmp(got, op_id, len) == 0;
	free(got);
	return same;
}

/* A copy left by another move: its whole files go (they are taken as
 * checked), its .part files stay (the checksum at their end tells). */
static int unmark(const char *tmp, struct err *e)
{
	DIR *d = opendir(tmp);
	struct dirent *de;
	int rc = 0;
	while (d && (de = readdir(d)) && rc == 0) {
		size_t len = strlen(de->d_name);
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
		    (len > 5 && strcmp(de->d_name + len - 5, ".part") == 0))
			continue;
		autofree char *path = xasprintf("%s/%s", tmp, de->d_name);
		rc = fs_rm_rf(path, e);
	}
	if (d)
		closedir(d);
	return rc;
}

/* The new host: the files into vms/ID.move, checked, pointed at this host's
 * image, renamed into place. Returns 1 while the image is still on its way. */
static int fetch_disk(struct ctl *c, struct vm *vm, struct err *e)
{
	autofree char *dir = ctl_vm_dir(c, vm->id);
	autofree char *tmp = xasprintf("%s.move", dir);
	autofree char *mark = xasprintf("%s/" MOVE_MARK, tmp);
	if (marked(dir, vm->op_id))
		return 0;   /* renamed before a kill: whole and checked */
	/* Not this VM's (it is not this host's yet): left from an earlier
	 * stay or move, which a whole file there must not pass for. */
	if ((fs_exists(dir) && fs_rm_rf(dir, e) < 0) || (fs_exists(tmp) && !marked(tmp, vm->op_id) && unmark(tmp, e) < 0))
		return -1;
	if (fs_mkdir_p(tmp, 0750, e) < 0 ||
	    (!fs_exists(mark) && fs_write_atomic(mark, vm->op_id, strlen(vm->op_id), 0600, e) < 0))
		return -1;
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
	rc = peer_fetch_files(c, files, &from, base, tmp, vm->op_id, what, point_at_image, img_dir, e);
	json_decref(files);
	if (rc == 0 && rename(tmp, dir) < 0)
		rc = err_set(e, ERR_INTERNAL, "cannot rename %s to %s: %s", tmp, dir, strerror(errno));
	if (rc == 0)
		crashpoint("move.copied");
	return rc;
}

/* The switch, in one write: the VM, and the volumes attached to it, are
 * this host's from now on, and the move's operation has succeeded. */
static int move_done(struct ctl *c, const char *vm_id, struct err *e)
{
	struct vm vm;
	struct volume *vols = NULL;
	int n_vols = 0;
	memset(&vm, 0, sizeof(vm));
	if (store_tx_begin(c->st, e) < 0)
		return -1;
	int rc = store_vm_get(c->st, vm_id, &vm, e);
	if (rc == 0 && strcmp(vm.move_to, c->host_name) != 0)
		rc = err_set(e, ERR_CONFLICT, "VM %s is no longer moving here", vm.name);
	if (rc == 0 && vm.power == POWER_DELETED)   /* its old host deletes it, and its files there */
		rc = err_set(e, ERR_CONFLICT, "VM %s is being deleted", vm.name);
	if (rc == 0)
		rc = store_volume_list(c->st, &vols, &n_vols, e);
	for (int i = 0; i < n_vols && rc == 0; i++)
		if (attached_to(&vols[i], vm.id)) {
			snprintf(vols[i].host, sizeof(vols[i].host), "%s", c->host_name);
			rc = store_volume_update(c->st, &vols[i], e);
		}
	if (rc == 0) {
		snprintf(vm.host, sizeof(vm.host), "%s", c->host_name);
		vm.move_to[0] = '\0';
		free(vm.move_files);
		vm.move_files = NULL;
		rc = store_vm_update(c->st, &vm, e);
	}
	/* The operation ends with the switch, in the same write: a nubod
	 * killed right after it would find nothing moving any more, and
	 * nothing else would end it. */
	if (rc == 0) {
		ctl_op_phase(c, vm.op_id, "moved");
		ctl_op_finish(c, vm.op_id, true, NULL);
	}
	if (store_tx_end(c->st, rc == 0, rc == 0 ? e : NULL) < 0)
		rc = -1;
	volume_list_free(vols, n_vols);
	vm_free_fields(&vm);
	return rc;
}

/* The copies of a VM's volumes came in its folder (vms/ID/VOLUME_ID.qcow2,
 * renamed with it); once the store names this host as the volumes' (the
 * switch), each goes to volumes/, root's alone as a made volume is. Run
 * right after the switch, and at start (a kill in between), on the
 * reconciler thread: before anything can start the VM or delete its
 * folder. A rename that fails (it stays in one file system) is logged and
 * tried again at the next start. */
static void place_volumes(struct ctl *c, const struct vm *vm)
{
	autofree char *dir = ctl_vm_dir(c, vm->id);
	DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		size_t len = strlen(de->d_name);
		if (!str_starts_with(de->d_name, "vol-") || len < 7 || strcmp(de->d_name + len - 6, ".qcow2") != 0)
			continue;
		char id[ID_MAX];
		struct volume v;
		struct err e = {0};
		snprintf(id, sizeof(id), "%.*s", (int)(len - 6), de->d_name);
		if (store_volume_get(c->st, id, &v, NULL) < 0 || strcmp(v.host, c->host_name) != 0)
			continue;   /* not (yet) this host's: the switch has not happened */
		autofree char *from = xasprintf("%s/%s", dir, de->d_name);
		autofree char *to = ctl_volume_path(c, id);
		if (c->host->file_owner(from, 0, 0, 0600, &e) < 0 || rename(from, to) < 0)
			log_error("volume %s: cannot put its copy in place (%s to %s): %s", v.name, from, to,
				  e.msg[0] ? e.msg : strerror(errno));
		else
			log_info("volume %s: moved here with VM %s", v.name, vm->name);
	}
	if (d)
		closedir(d);
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
		vm_free_fields(&vm);
	}
	ctl_builds_track(c, job->vm_id, false);
	ctl_kick(c);   /* the switch is the reconciler's (finish) */
	free(job);
	return NULL;
}

/* The copy is whole and in place (vms/ID): the switch, then the volumes'
 * files to their place. On the reconciler thread, so nothing else acts on
 * the VM or its folder in between. */
static void finish(struct ctl *c, struct vm *vm)
{
	struct err e = {0};
	if (move_done(c, vm->id, &e) < 0) {
		log_error("vm %s: recording the move: %s; trying again", vm->name, e.msg);
		return;
	}
	log_info("vm %s: moved here from host %s", vm->name, vm->host);
	crashpoint("move.switched");
	snprintf(vm->host, sizeof(vm->host), "%s", c->host_name);
	place_volumes(c, vm);
	ctl_rules_changed(c);
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
static void sweep(struct ctl *c, const struct vm *vms, int n)   /* vms by id */
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
		struct vm key = {0};
		snprintf(key.id, sizeof(key.id), "%s", id);
		const struct vm *vm = n ? bsearch(&key, vms, (size_t)n, sizeof(*vms), vm_cmp_id) : NULL;
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

/* This host's files of volumes that moved away with their VM: a volume's
 * file is only ever put in volumes/ by the host the store names as the
 * volume's (made there, or placed after the switch), so one whose row now
 * names another host is what is left of a move. */
static void sweep_volumes(struct ctl *c)
{
	struct volume *vols = NULL;
	int n = 0;
	if (store_volume_list(c->st, &vols, &n, NULL) < 0)
		return;
	for (int i = 0; i < n; i++) {
		if (!vols[i].host[0] || strcmp(vols[i].host, c->host_name) == 0)
			continue;
		autofree char *path = ctl_volume_path(c, vols[i].id);
		struct err e = {0};
		if (!fs_exists(path))
			continue;
		if (fs_rm_rf(path, &e) < 0)
			log_warn("volume %s: removing its file here (it is on host %s now): %s", vols[i].name, vols[i].host,
				 e.msg);
		else
			log_info("volume %s: its file here is removed (it is on host %s now)", vols[i].name, vols[i].host);
	}
	volume_list_free(vols, n);
}

void moves_resume(struct ctl *c)
{
	struct vm *vms = NULL;
	int n = 0;
	if (store_vm_list_on(c->st, c->host_name, &vms, &n, NULL) < 0)
		return;
	for (int i = 0; i < n; i++)
		place_volumes(c, &vms[i]);
	vm_list_free(vms, n);
}

bool moves_reconcile(struct ctl *c)
{
	struct vm *vms = NULL;
	int n = 0;
	int64_t now = time_mono_ms();
	if (now - c->moves_pass_at < MOVES_PASS_MS || now < c->moves_retry_at)
		return false;
	c->moves_pass_at = now;
	/* Where every VM is and goes, and the whole rows of the few moving:
	 * whole rows of every VM each second cost a core's tenth at 10,000. */
	if (store_vm_list_places(c->st, &vms, &n, NULL) < 0)
		return false;
	bool busy = false;
	for (int i = 0; i < n; i++) {
		if (!vms[i].move_to[0])
			continue;
		busy = true;
		struct vm whole, *vm = &whole;
		if (store_vm_get(c->st, vms[i].id, &whole, NULL) < 0)
			continue;   /* deleted meanwhile, or the store is away: the next pass */
		autofree char *dir = ctl_vm_dir(c, vm->id);
		if (ctl_vm_is_mine(c, vm) && !vm->move_files)
			record_files(c, vm);
		else if (strcmp(vm->move_to, c->host_name) == 0 && vm->move_files && !ctl_builds_has(c, vm->id) &&
			 marked(dir, vm->op_id))
			finish(c, vm);
		else if (strcmp(vm->move_to, c->host_name) == 0 && vm->move_files)
			start_fetch(c, vm);
		vm_free_fields(&whole);
	}
	sweep(c, vms, n);
	sweep_volumes(c);
	vm_list_free(vms, n);
	if (busy)
		c->moves_pass_at = 0;   /* look again at the next tick */
	return busy;
}
