/*
 * instances: the VM reconciler. Each tick it reads every VM and takes at most
 * one idempotent step toward its spec:
 *
 *   power=running, no QEMU      → network, disk, seed, tap, QEMU     (pending → running)
 *   power=running, QEMU up      → wait for SSH; notice a guest power-off or a QEMU that died
 *   power=stopped, QEMU up      → ACPI power-down (or quit if forced), then quit at the
 *                                 deadline                           (running → stopping → stopped)
 *   reboot asked                → the stop path, then the start path under the same operation
 *   power=deleted               → quit, remove tap, files and row    (shutting-down → gone)
 *
 * QEMU runs with -no-shutdown, so a guest that powers off leaves QEMU up with
 * QMP status "shutdown": that is a clean stop. A QEMU that vanishes without
 * it crashed or was killed: the VM goes to error with a reason.
 */
#include "ctl/ctl-priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host/nft.h"
#include "host/probe.h"
#include "host/qemu.h"
#include "host/resize.h"
#include "host/seed.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/str.h"
#include "util/timeutil.h"

/* How long a launched QEMU may take to answer on QMP (it sets up the machine
 * first; a few hundred ms under TCG). */
#define QEMU_SETUP_MS 60000

struct vm_paths {
	char *dir, *root, *seed, *ephemeral, *console, *console_sock, *qmp, *pid, *qemu_log;
};

/* dir/name, without printf: the paths are made for every running VM at
 * every pass of the reconciler (a third of an idle nubod's work with
 * 10,000 VMs when each went through xasprintf). */
static char *in_dir(const char *dir, size_t dir_len, const char *name)
{
	size_t len = strlen(name);
	char *path = xcalloc(dir_len + len + 2, 1);
	memcpy(path, dir, dir_len);
	path[dir_len] = '/';
	memcpy(path + dir_len + 1, name, len);
	return path;
}

static void paths_init(struct ctl *c, const struct vm *vm, struct vm_paths *p)
{
	p->dir = ctl_vm_dir(c, vm->id);
	size_t n = strlen(p->dir);
	p->root = in_dir(p->dir, n, "root.qcow2");
	p->seed = in_dir(p->dir, n, "seed.iso");
	p->ephemeral = in_dir(p->dir, n, "ephemeral.qcow2");
	p->console = in_dir(p->dir, n, "console.log");
	p->console_sock = in_dir(p->dir, n, CTL_CONSOLE_SOCKET);
	p->qmp = in_dir(p->dir, n, "qmp.sock");
	p->pid = in_dir(p->dir, n, "qemu.pid");
	p->qemu_log = in_dir(p->dir, n, "qemu.log");
}

static void paths_free(struct vm_paths *p)
{
	free(p->dir);
	free(p->root);
	free(p->seed);
	free(p->ephemeral);
	free(p->console);
	free(p->console_sock);
	free(p->qmp);
	free(p->pid);
	free(p->qemu_log);
}

/* A VM whose QEMU the host launched without a pid (the recording host's)
 * carries pid -1 until it is quit. */
static bool vm_alive(struct ctl *c, const struct vm *vm)
{
	if (vm->pid == 0)
		return false;
	return c->host->qemu_alive(vm->pid, vm->id);
}

static void set_state(struct vm *vm, enum vm_state s, const char *reason)
{
	if (vm->state != s)
		vm->state_since = time_now_ms();
	vm->state = s;
	free(vm->reason);
	vm->reason = xstrdup(reason);
}

/* Saves what the reconciler observed. The user may have changed the spec
 * since this pass read it: then only the status is written, and the next
 * pass acts on the new spec. */
static void save(struct ctl *c, struct vm *vm)
{
	struct err e = {0};
	bool spec_saved = true;
	if (store_vm_save_status(c->st, vm, &spec_saved, &e) < 0)
		log_error("vm %s: cannot save its state: %s", vm->name, e.msg);
	else if (!spec_saved)
		log_debug("vm %s: its spec changed during reconciliation; looking again", vm->name);
}

/* Saves the VM and ends its operation in one transaction: a client that
 * sees the operation end (stop --wait) reads the VM as it ended, and a
 * crash between the two writes cannot leave one without the other. */
static void save_finishing(struct ctl *c, struct vm *vm, bool ok, const char *error)
{
	struct err e = {0};
	bool tx = store_tx_begin(c->st, &e) == 0;
	if (!tx)
		log_warn("vm %s: %s; saving it and ending its operation apart", vm->name, e.msg);
	save(c, vm);
	ctl_op_finish(c, vm->op_id, ok, error);
	if (tx && store_tx_end(c->st, true, &e) < 0)
		log_error("vm %s: cannot save its state and end its operation: %s", vm->name, e.msg);
}

/* Marks a phase on the operation and, for starts, on the VM's boot timings. */
static void phase(struct ctl *c, struct vm *vm, const char *name, bool boot)
{
	ctl_op_phase(c, vm->op_id, name);
	if (boot) {
		struct operation op;
		if (store_op_get(c->st, vm->op_id, &op, NULL) == 0) {
			if (op.state == OP_RUNNING)
				vm->boot = op.phases;
			operation_free_fields(&op);
		}
	}
}

/* Ends QEMU: quit over QMP, then SIGTERM/SIGKILL if it does not go. */
static void kill_qemu(struct ctl *c, struct vm *vm, const struct vm_paths *p)
{
	if (!vm_alive(c, vm)) {
		vm->pid = 0;
		return;
	}
	struct err e = {0};
	if (c->host->qemu_quit(p->qmp, &e) < 0)
		log_warn("vm %s: QMP quit failed (%s); signalling QEMU", vm->name, e.msg);
	if (!c->host->qemu_wait_exit(vm->pid, vm->id, 3000) && c->host->qemu_kill(vm->pid, vm->id, 3000, &e) < 0)
		log_error("vm %s: cannot stop QEMU pid %d: %s", vm->name, vm->pid, e.msg);
	vm->pid = 0;
}

/* QEMU is gone: its pid file and QMP socket go too, so that the VM's folder
 * says what runs (nothing) and a later look never takes them for a live
 * QEMU's. Kept when the pid file still names a live QEMU of this VM (a quit
 * that failed): that is how it is found again. */
static void forget_qemu_files(struct ctl *c, const struct vm *vm, const struct vm_paths *p)
{
	if (c->host->qemu_pid_from_file(p->pid, vm->id) != 0)
		return;
	unlink(p->pid);
	unlink(p->qmp);
}

/* --- SSH-ready probes ---------------------------------------------------------- */

/* The prober saw a banner: run the reconciler now so ssh-ready is recorded
 * within milliseconds, not at the next tick. */
static void ssh_ready_kick(void *arg)
{
	ctl_kick(arg);
}

int instances_start(struct ctl *c, struct err *e)
{
	/* Marked as management traffic, which the VMs' chains let through to
	 * tcp/22 (host/nft.h): waiting for SSH waits for the guest, not for
	 * firewalls that keep the host out. */
	return prober_start(ssh_ready_kick, c, NFT_PROBE_MARK, &c->prober, e);
}

void instances_free(struct ctl *c)
{
	vm_list_free(c->vm_cache.vms, c->vm_cache.n);
	free(c->vm_cache.revs);
	c->vm_cache = (struct vm_cache){0};
	prober_stop(c->prober);
	c->prober = NULL;
}

static void release_taps(struct ctl *c, struct vm *vm)
{
	prober_drop(c->prober, vm->id);   /* whatever ends a VM's run ends its probe */
	for (int i = 0; i < vm->n_nics; i++) {
		char tap[16];
		struct err e = {0};
		struct network net;
		ctl_tap_name(c, vm->id, i, tap);
		if (c->host->tap_remove(tap, &e) < 0 ||
		    (ctl_network_get(c, vm->nics[i].network_id, &net, NULL) == 0 &&
		     c->host->neigh_remove(net.bridge, vm->nics[i].ip, &e) < 0))
			log_warn("vm %s: %s", vm->name, e.msg);
	}
}

/* Every network the VM has a NIC on is up, its tap is on the bridge and its
 * DHCP reservation is in place; nics[] gets what QEMU needs. */
static int plug_nics(struct ctl *c, struct vm *vm, char taps[][16], struct qemu_nic *nics, struct err *e)
{
	for (int i = 0; i < vm->n_nics; i++) {
		struct network net;
		const char *ref = vm->nics[i].network_id;
		if (ctl_network_get(c, ref, &net, e) < 0 || network_ensure_host(c, ref, e) < 0)
			return -1;
		ctl_tap_name(c, vm->id, i, taps[i]);
		if (c->host->tap_ensure(taps[i], net.bridge, e) < 0 ||
		    c->host->neigh_set(net.bridge, vm->nics[i].ip, vm->nics[i].mac, e) < 0 ||
		    network_sync_reservations(c, ref, e) < 0)
			return -1;
		nics[i] = (struct qemu_nic){.tap = taps[i], .mac = vm->nics[i].mac};
	}
	return 0;
}

int ctl_qemu_user(struct ctl *c, struct qemu_user *u, struct err *e)
{
	return c->host->qemu_user(c->cfg.qemu_user, u, e);
}

/* QEMU is gone: so is its cgroup. */
static void release_cgroup(struct ctl *c, const struct vm *vm)
{
	struct err e = {0};
	if (cgroup_vm_remove(&c->cgroups, c->prefix, vm->id, &e) < 0)
		log_warn("vm %s: %s", vm->name, e.msg);
}

/* QEMU drops to its user before the guest runs and then reopens some of its
 * files (a disk reopened read-only under a snapshot), so they are handed to
 * that user: the directory readable by its group, disks writable by it. */
static int grant_files(struct ctl *c, const struct qemu_user *u, const struct vm *vm, const struct vm_paths *p,
		       char **vol_paths, int n_vols, struct err *e)
{
	int rc = c->host->file_owner(p->dir, 0, u->gid, 0750, e);
	if (rc == 0)
		rc = c->host->file_owner(p->root, u->uid, u->gid, 0600, e);
	if (rc == 0 && !vm->no_seed)
		rc = c->host->file_owner(p->seed, 0, u->gid, 0640, e);
	if (rc == 0 && vm->ephemeral_bytes)
		rc = c->host->file_owner(p->ephemeral, u->uid, u->gid, 0600, e);
	for (int i = 0; rc == 0 && i < n_vols; i++)
		rc = c->host->file_owner(vol_paths[i], u->uid, u->gid, 0600, e);
	return rc;
}

/* The VM's cgroup, made and limited before QEMU exists; *plan's procs are
 * what QEMU joins. Mode none: no group, no error. */
static int make_cgroup(struct ctl *c, const struct vm *vm, int vcpus, int memory_mib, struct cgroup_plan *plan,
		       struct err *e)
{
	int64_t mib = (int64_t)memory_mib + qemu_memory_overhead_mib(c->accel);
	if (cgroup_plan_build(&c->cgroups, c->prefix, vm->id, vcpus, mib * 1024 * 1024, plan) < 0)
		return 0;
	return cgroup_apply(plan, e);
}

int instances_cgroup_limit(struct ctl *c, const struct vm *vm, int vcpus, int memory_mib, struct err *e)
{
	struct cgroup_plan plan = {0};
	int rc = make_cgroup(c, vm, vcpus, memory_mib, &plan, e);
	cgroup_plan_free(&plan);
	return rc;
}

/* The start failed at some step: nothing keeps running, the user sees why. */
static void start_failed(struct ctl *c, struct vm *vm, const struct vm_paths *p, const char *step,
			 const struct err *e)
{
	char reason[1200];
	snprintf(reason, sizeof(reason), "start failed at %s: %s", step, e->msg);
	log_error("vm %s: %s", vm->name, reason);
	kill_qemu(c, vm, p);
	forget_qemu_files(c, vm, p);
	release_taps(c, vm);
	release_cgroup(c, vm);
	set_state(vm, VM_ERROR, reason);
	vm->power = POWER_STOPPED;
	ctl_op_finish(c, vm->op_id, false, reason);
	save(c, vm);
}

static int build_seed(struct ctl *c, const struct vm *vm, const struct vm_paths *p, struct err *e)
{
	if (vm->no_seed || fs_exists(p->seed))
		return 0;
	const char *keys[VM_SSH_KEYS_MAX];
	int n = 0;
	autofree char *all = xstrdup(vm->ssh_keys ? vm->ssh_keys : "");
	char *save_ptr = NULL;
	for (char *k = strtok_r(all, "\n", &save_ptr); k && n < VM_SSH_KEYS_MAX; k = strtok_r(NULL, "\n", &save_ptr))
		keys[n++] = k;
	const char *macs[VM_NICS_MAX];
	for (int i = 0; i < vm->n_nics; i++)
		macs[i] = vm->nics[i].mac;
	char ipv4[24] = "", gateway[16] = "";
	struct network net;
	struct cidr cidr;
	if (vm->n_nics && ctl_network_get(c, vm->nics[0].network_id, &net, NULL) == 0 &&
	    cidr4_parse(net.cidr, "cidr", &cidr, NULL) == 0) {
		snprintf(ipv4, sizeof(ipv4), "%s/%d", vm->nics[0].ip, cidr.prefix);
		network_gateway(&cidr, gateway);
	}
	struct nocloud s = {.instance_id = vm->id, .hostname = vm->name, .ssh_keys = keys, .n_keys = n,
			 .user_data = vm->user_data, .macs = macs, .n_macs = vm->n_nics,
			 .ipv4 = ipv4[0] ? ipv4 : NULL, .gateway = gateway[0] ? gateway : NULL,
			 .mtu = overlay_on(c) ? OVERLAY_MTU : 0};
	return c->host->seed_build(&s, p->dir, p->seed, e);
}

/* The steps of a start; each is idempotent, so a start cut off by a crash is
 * simply run again. Returns 0, or fills step and e. */
static int start_steps(struct ctl *c, struct vm *vm, const struct vm_paths *p, bool rebooting,
		       const char **step, struct err *e)
{
	struct image img;
	*step = "image";
	if (store_image_get(c->st, vm->image_id, &img, e) < 0)
		return -1;
	char *img_dir = ctl_image_dir(c, img.id);
	/* A VM made from a snapshot starts on the snapshot's layer, not the image. */
	char *base = vm->base_snapshot[0] ? ctl_snapshot_path(c, vm->base_snapshot) : xasprintf("%s/disk.qcow2", img_dir);
	char *kernel = xasprintf("%s/vmlinuz", img_dir);
	/* The image directory is the truth: an initrd only if the image has one. */
	char *initrd = xasprintf("%s/initrd.img", img_dir);
	if (!fs_exists(initrd)) {
		free(initrd);
		initrd = NULL;
	}
	char taps[VM_NICS_MAX][16];
	struct qemu_nic nics[VM_NICS_MAX];
	struct qemu_volume *vols = NULL;
	char **vol_paths = NULL;
	int n_vols = 0;
	struct qemu_user user = {0};
	struct cgroup_plan cg = {0};
	int rc;
	*step = "disk";
	rc = fs_mkdir_p(p->dir, 0750, e);
	if (rc == 0)
		rc = c->host->disk_overlay(base, p->root, vm->disk_size_bytes, e);
	/* Grown while stopped (vm resize --disk-size): the file follows now. */
	if (rc == 0 && vm->disk_size_bytes > vm->live_disk_bytes) {
		rc = c->host->disk_grow(p->root, vm->disk_size_bytes, e);
		if (rc == 0)
			vm->live_disk_bytes = vm->disk_size_bytes;
	}
	if (rc == 0)
		rc = build_seed(c, vm, p, e);
	/* Instance storage starts empty at every boot. */
	if (rc == 0 && vm->ephemeral_bytes)
		rc = c->host->disk_empty(p->ephemeral, vm->ephemeral_bytes, e);
	if (rc == 0 && !rebooting)
		phase(c, vm, "disk", true);
	if (rc == 0) {
		*step = "network";
		rc = plug_nics(c, vm, taps, nics, e);
	}
	if (rc == 0) {
		*step = "volumes";
		rc = volumes_for_vm(c, vm->id, &vols, &vol_paths, &n_vols, e);
	}
	if (rc == 0) {
		*step = "QEMU user";
		rc = ctl_qemu_user(c, &user, e);
		if (rc == 0)
			rc = grant_files(c, &user, vm, p, vol_paths, n_vols, e);
	}
	if (rc == 0) {
		*step = "cgroup";
		rc = make_cgroup(c, vm, vm->vcpus, vm->memory_mib, &cg, e);
	}
	/* Without a seed disk, the SMBIOS serial is how a stock cloud-init
	 * (ds-identify) recognises its platform and finds the metadata
	 * service's NoCloud tree; with one, the disk does that. */
	char *serial = NULL;
	if (rc == 0 && vm->no_seed) {
		*step = "metadata";
		rc = metadata_nocloud_serial(c, vm->id, &serial, e);
	}
	if (rc == 0) {
		bool direct = strcmp(img.boot, "direct") == 0;
		struct qemu_config qc = {
			.vm_id = vm->id,
			.smbios_serial = serial,
			.accel = c->accel,
			.vcpus = vm->vcpus,
			.memory_mib = vm->memory_mib,
			.max_vcpus = vm->max_vcpus,
			.max_memory_mib = vm->max_memory_mib,
			.kernel = direct ? kernel : NULL,
			.initrd = direct ? initrd : NULL,
			.cmdline = direct ? img.cmdline : NULL,
			/* qboot loads -kernel only; a disk's bootloader needs SeaBIOS. */
			.firmware = direct && c->cfg.qboot[0] ? c->cfg.qboot : NULL,
			.root_disk = p->root,
			.seed_iso = vm->no_seed ? NULL : p->seed,
			.ephemeral_disk = vm->ephemeral_bytes ? p->ephemeral : NULL,
			.nics = nics,
			.n_nics = vm->n_nics,
			.hotplug_slots = VOLUME_SLOTS,
			.volumes = vols,
			.n_volumes = n_vols,
			.console_log = p->console,
			/* interactive through nubod (ctl_console_attach), logged as before */
			.console_socket = p->console_sock,
			.qmp_socket = p->qmp,
			.pidfile = p->pid,
			.stderr_log = p->qemu_log,
			.run_as = c->cfg.qemu_user,
			.cgroup_procs = cg.n_dirs ? (const char *const *)cg.procs : NULL,
		};
		int pid = 0;
		*step = "QEMU";
		rc = c->host->qemu_launch(&qc, &pid, e);
		vm->pid = pid ? pid : -1;
	}
	volumes_for_vm_free(vols, vol_paths, n_vols);
	cgroup_plan_free(&cg);
	free(serial);
	free(img_dir);
	free(base);
	free(kernel);
	free(initrd);
	image_free_fields(&img);
	return rc;
}

/* A launched QEMU answers on QMP: the VM runs, and SSH is waited for. Until
 * then the VM stays pending with its pid; a QEMU that exits or does not
 * answer by vm->deadline fails the start. */
static void launched_step(struct ctl *c, struct vm *vm)
{
	struct vm_paths p;
	struct err e = {0};
	paths_init(c, vm, &p);
	int ready = c->host->qemu_ready(vm->pid, vm->id, p.qmp, p.qemu_log, &e);
	if (ready == 0 && vm->deadline == 0) {
		/* Adopted mid-start after a nubod restart: the clock starts now
		 * (saved: the reconciler re-reads pending VMs every tick). */
		vm->deadline = time_mono_ms() + QEMU_SETUP_MS;
		save(c, vm);
	} else if (ready == 0 && time_mono_ms() >= vm->deadline) {
		err_set(&e, ERR_INTERNAL, "QEMU for %s did not answer on %s within %d s", vm->id, p.qmp,
			QEMU_SETUP_MS / 1000);
		start_failed(c, vm, &p, "QEMU", &e);
	} else if (ready < 0) {
		vm->pid = 0;   /* gone: nothing to kill */
		start_failed(c, vm, &p, "QEMU", &e);
	} else if (ready > 0) {
		snprintf(vm->accel, sizeof(vm->accel), "%s", accel_name(c->accel));
		vm->started_at = time_now_ms();
		vm->live_vcpus = vm->vcpus;   /* QEMU booted with the spec's vCPUs */
		vm->live_memory_mib = vm->memory_mib;   /* and memory */
		vm->deadline = time_mono_ms() + (int64_t)c->cfg.ssh_wait_s * 1000;
		set_state(vm, VM_RUNNING, NULL);
		phase(c, vm, "boot", true);
		log_info("vm %s: QEMU started (pid %d, %s, %d vCPU, %d MiB, ip %s)", vm->name, vm->pid, vm->accel,
			 vm->vcpus, vm->memory_mib, vm_ip(vm));
		save(c, vm);
	}
	paths_free(&p);
}

/* Prepares and launches a VM's QEMU without waiting for it to set up (which
 * takes a few hundred ms under TCG): launched_step follows it, so that the
 * reconciler launches many VMs at once rather than one after another. */
static void start_vm(struct ctl *c, struct vm *vm, bool rebooting)
{
	struct vm_paths p;
	struct err e = {0};
	const char *step = "";
	paths_init(c, vm, &p);
	if (vm->state != VM_PENDING) {
		set_state(vm, VM_PENDING, NULL);
		save(c, vm);
	}
	/* A snapshot being taken holds the disk: its files may be mid-way
	 * (layers.h), and a QEMU started now would miss the new top. The
	 * snapshot is taken offline first; the start goes on after it. */
	if (snapshots_vm_busy(c, vm->id)) {
		paths_free(&p);
		return;
	}
	/* An image built on another host: its files are fetched first, the VM
	 * waiting in pending with what it waits for as its reason. */
	struct image img;
	int fetching = 0;
	if (store_image_get(c->st, vm->image_id, &img, &e) == 0) {
		fetching = peer_image_local(c, &img, vm->op_id, &e);
		image_free_fields(&img);
	}
	if (!fetching)
		e = (struct err){0};   /* an image gone is start_steps' to report */
	if (fetching) {
		if (!vm->reason || strcmp(vm->reason, e.msg) != 0) {
			set_state(vm, VM_PENDING, e.msg);
			save(c, vm);
		}
	} else if (vm->started_at && !c->host->disk_exists(p.root)) {
		/* Never an empty disk in place of one that existed. */
		err_set(&e, ERR_INTERNAL, "the VM's disk %s is missing; nubo does not replace it with an empty one",
			p.root);
		start_failed(c, vm, &p, "disk", &e);
	} else if (start_steps(c, vm, &p, rebooting, &step, &e) < 0) {
		start_failed(c, vm, &p, step, &e);
	} else {
		vm->deadline = time_mono_ms() + QEMU_SETUP_MS;
		save(c, vm);
		launched_step(c, vm);   /* at once: an adopted or quick QEMU needs no second pass */
	}
	paths_free(&p);
}

/* QEMU is gone (or was quit): the VM is stopped. A reboot goes on to start. */
static void finish_stop(struct ctl *c, struct vm *vm, const char *reason)
{
	vm->pid = 0;
	release_taps(c, vm);
	release_cgroup(c, vm);
	struct vm_paths p;
	paths_init(c, vm, &p);
	unlink(p.ephemeral);   /* instance storage does not outlive the instance's run */
	forget_qemu_files(c, vm, &p);
	paths_free(&p);
	vm->force_stop = false;
	vm->deadline = 0;
	set_state(vm, VM_STOPPED, reason);
	phase(c, vm, "stopped", false);
	if (vm->reboot) {
		vm->reboot = false;
		save(c, vm);
		log_info("vm %s: stopped for reboot; starting", vm->name);
		start_vm(c, vm, true);
		return;
	}
	if (vm->power == POWER_RUNNING)
		vm->power = POWER_STOPPED;  /* the guest powered itself off */
	save_finishing(c, vm, true, NULL);
	log_info("vm %s: stopped%s%s", vm->name, reason ? ": " : "", reason ? reason : "");
}

static void stop_step(struct ctl *c, struct vm *vm)
{
	struct vm_paths p;
	paths_init(c, vm, &p);
	struct err e = {0};
	char status[32] = "";
	if (!vm_alive(c, vm)) {
		finish_stop(c, vm, NULL);
		goto out;
	}
	if (vm->state != VM_STOPPING) {
		set_state(vm, VM_STOPPING, NULL);
		vm->deadline = time_mono_ms() + (int64_t)c->cfg.stop_timeout_s * 1000;
		if (vm->force_stop) {
			kill_qemu(c, vm, &p);
		} else if (c->host->qemu_powerdown(p.qmp, &e) < 0) {
			log_warn("vm %s: ACPI power-down failed (%s); forcing", vm->name, e.msg);
			kill_qemu(c, vm, &p);
		}
		phase(c, vm, "powerdown", false);
		if (vm->pid == 0)
			finish_stop(c, vm, NULL);
		else
			save(c, vm);
		goto out;
	}
	if (c->host->qemu_status(p.qmp, status, sizeof(status), &e) < 0)
		log_debug("vm %s: query-status: %s", vm->name, e.msg);
	if (strcmp(status, "shutdown") == 0) {
		kill_qemu(c, vm, &p);
		finish_stop(c, vm, NULL);
	} else if (time_mono_ms() >= vm->deadline) {
		log_warn("vm %s: the guest did not power off within %d s; forcing", vm->name, c->cfg.stop_timeout_s);
		kill_qemu(c, vm, &p);
		finish_stop(c, vm, "forced off after the power-down timeout");
	}
out:
	paths_free(&p);
}

static void running_step(struct ctl *c, struct vm *vm)
{
	struct vm_paths p;
	paths_init(c, vm, &p);
	if (!vm_alive(c, vm)) {
		char reason[256];
		snprintf(reason, sizeof(reason),
			 "QEMU (pid %d) exited unexpectedly; see `nubo vm console %s` for the guest's last words",
			 vm->pid, vm->name);
		log_error("vm %s: %s", vm->name, reason);
		vm->pid = 0;
		forget_qemu_files(c, vm, &p);
		release_taps(c, vm);
		release_cgroup(c, vm);
		set_state(vm, VM_ERROR, reason);
		vm->power = POWER_STOPPED;
		ctl_op_finish(c, vm->op_id, false, reason);
		save(c, vm);
		goto out;
	}
	/* A guest that powers itself off leaves its QEMU in "shutdown"
	 * (-no-shutdown). Asking every running QEMU at every busy tick cost each
	 * one a QMP session ten times a second: once a second is soon enough to
	 * notice, except while a stop waits for it. */
	if (c->vm_cache.status_due || vm->state == VM_STOPPING) {
		char status[32] = "";
		if (c->host->qemu_status(p.qmp, status, sizeof(status), NULL) == 0 && strcmp(status, "shutdown") == 0) {
			kill_qemu(c, vm, &p);
			finish_stop(c, vm, "the guest powered itself off");
			goto out;
		}
	}
	if (vm_resize_due(vm) && vm->deadline == 0) {
		/* After boot (the API refuses a resize before SSH is ready):
		 * one live move per pass, each saved before the next. */
		if (resize_live_step(c, vm, p.qmp))
			save(c, vm);
		if (!vm_resize_due(vm))
			resize_live_done(c, vm);
		goto out;
	}
	if (!phases_has(&vm->boot, "ssh-ready") && vm->deadline) {
		/* The prober (its own thread) watches the guest's port 22 from
		 * the first look on and kicks the reconciler when sshd greets. */
		if (c->host->ssh_check(c->prober, vm->id, vm_ip(vm), 22, "SSH-") == PROBE_READY) {
			prober_drop(c->prober, vm->id);
			phase(c, vm, "ssh-ready", true);
			vm->deadline = 0;
			save_finishing(c, vm, true, NULL);
		} else if (time_mono_ms() >= vm->deadline) {
			prober_drop(c->prober, vm->id);
			char why[256];
			snprintf(why, sizeof(why), "SSH on %s did not answer within %d s; see `nubo vm console %s`",
				 vm_ip(vm), c->cfg.ssh_wait_s, vm->name);
			vm->deadline = 0;
			save_finishing(c, vm, false, why);
		}
	}
out:
	paths_free(&p);
}

/* One step of a VM's delete; true once it is gone. drain: a running VM that
 * is a balancer's target drains first (false when the whole host is torn
 * down: the balancers' rules go with it, so there is nothing to drain for). */
static bool delete_step(struct ctl *c, struct vm *vm, bool drain)
{
	bool done = false;
	struct vm_paths p;
	paths_init(c, vm, &p);
	struct err e = {0};
	if (vm->state != VM_SHUTTING_DOWN) {
		set_state(vm, VM_SHUTTING_DOWN, NULL);
		save(c, vm);
	}
	/* A running VM that is a balancer's target drains first: out of the
	 * rotation at once, its open connections served until the drain time
	 * is over (the checker then cuts them and deletes the target). A VM
	 * that does not run has no connection to keep. */
	if (drain && vm_alive(c, vm)) {
		int started = 0, left = 0;
		if (store_lb_targets_drain_vm(c->st, vm->id, time_now_ms(), &started, &left, &e) < 0) {
			log_error("vm %s: %s", vm->name, e.msg);
			goto out;
		}
		if (started) {
			log_info("vm %s: draining from %d load balancer%s before it stops", vm->name, started,
				 started == 1 ? "" : "s");
			ctl_rules_changed(c);
			lbs_kick(c);
		}
		if (left)
			goto out;
	}
	kill_qemu(c, vm, &p);
	phase(c, vm, "stopped", false);
	release_taps(c, vm);
	release_cgroup(c, vm);
	if (fs_rm_rf(p.dir, &e) < 0) {
		log_error("vm %s: %s", vm->name, e.msg);
		goto out;
	}
	volumes_forget_vm(c, vm->id);
	if (store_vm_delete(c->st, vm->id, &e) < 0) {
		log_error("vm %s: %s", vm->name, e.msg);
		goto out;
	}
	ctl_rules_changed(c);
	if (network_release_vm(c, vm, &e) < 0)
		log_warn("vm %s: %s", vm->name, e.msg);
	phase(c, vm, "cleaned", false);
	ctl_op_finish(c, vm->op_id, true, NULL);
	log_info("vm %s (%s): deleted", vm->name, vm->id);
	done = true;
out:
	paths_free(&p);
	return done;
}

/* Whether a VM is between states, so the reconciler should look again soon. */
static bool in_flight(const struct vm *vm)
{
	if (vm->power == POWER_DELETED || vm->reboot || vm->restore_from[0])
		return true;
	if (vm->state == VM_PENDING || vm->state == VM_STOPPING || vm->state == VM_SHUTTING_DOWN)
		return true;
	if (vm_resize_due(vm))
		return true;
	return vm->state == VM_RUNNING && vm->deadline != 0;  /* waiting for SSH */
}

static void reconcile_one(struct ctl *c, struct vm *vm)
{
	switch (vm->power) {
	case POWER_DELETED:
		delete_step(c, vm, true);
		return;
	case POWER_STOPPED:
		if (vm->state == VM_STOPPED && vm->restore_from[0] && !vm_alive(c, vm)) {
			snapshots_restore_vm(c, vm);
			return;
		}
		if (vm->state == VM_ERROR && !vm_alive(c, vm))
			return;
		if (vm->state != VM_STOPPED || vm_alive(c, vm))
			stop_step(c, vm);
		return;
	case POWER_RUNNING:
		if (vm->reboot) {
			stop_step(c, vm);
		} else if (vm->state == VM_RUNNING || vm->state == VM_STOPPING) {
			running_step(c, vm);
		} else if (vm->state == VM_PENDING && vm->pid != 0) {
			launched_step(c, vm);
		} else if (vm->state != VM_ERROR || vm->pid == 0) {
			start_vm(c, vm, false);
		}
		return;
	}
}

/*
 * Reading every VM row twice a second costs a core's fifth at 10,000 VMs,
 * so the VMs are looked at again only when the store changed (anything
 * written, by the API or by this loop) or while one is between states; and
 * then only the ids and revisions are read, and whole rows only for the VMs
 * whose revision moved (the store's triggers move it with anything in the
 * row, its NICs or its firewalls) or that are between states. Every
 * RELOAD_MS every row is read again, as a safety net. In between, the
 * copies from the last read, which reconcile_one keeps up to date as it
 * saves them, are checked again: a steady VM only needs its QEMU looked at.
 */
#define RELOAD_MS 10000
#define STATUS_EVERY_MS 1000
#define REREAD_CHUNK 256   /* ids per query: well under the engines' parameter limits */

static int cmp_rev_by_id(const void *a, const void *b)
{
	return strcmp(((const struct vm_rev *)a)->id, ((const struct vm_rev *)b)->id);
}

static void cache_clear(struct vm_cache *vc)
{
	vm_list_free(vc->vms, vc->n);
	free(vc->revs);
	vc->vms = NULL;
	vc->revs = NULL;
	vc->n = 0;
	vc->valid = false;
}

/* Every row again (revisions first, so that a VM written in between is
 * read once more at the next look, never kept stale). */
static int cache_load(struct ctl *c, struct vm_cache *vc, struct err *e)
{
	struct vm_rev *revs = NULL;
	int nr = 0;
	cache_clear(vc);
	if (store_vm_revs_on(c->st, c->host_name, &revs, &nr, e) < 0)
		return -1;
	if (store_vm_list_on(c->st, c->host_name, &vc->vms, &vc->n, e) < 0) {
		free(revs);
		return -1;
	}
	if (nr > 1)
		qsort(revs, (size_t)nr, sizeof(*revs), cmp_rev_by_id);
	if (vc->n > 1)
		qsort(vc->vms, (size_t)vc->n, sizeof(*vc->vms), vm_cmp_id);
	vc->revs = xcalloc((size_t)vc->n + 1, sizeof(*vc->revs));
	for (int i = 0; i < vc->n; i++) {
		struct vm_rev key = {0}, *r;
		snprintf(key.id, sizeof(key.id), "%s", vc->vms[i].id);
		r = nr ? bsearch(&key, revs, (size_t)nr, sizeof(*revs), cmp_rev_by_id) : NULL;
		vc->revs[i] = r ? r->rev : -1;   /* -1: new since the revisions: read again next time */
	}
	free(revs);
	vc->valid = true;
	return 0;
}

/* Only the VMs whose revision moved or that are between states, the new
 * ones, and none that left. */
static int cache_refresh(struct ctl *c, struct vm_cache *vc, struct err *e)
{
	struct vm_rev *revs = NULL;
	struct vm *fresh = NULL, *vms = NULL;
	int64_t *vrevs = NULL;
	bool *taken = NULL;
	int nr = 0, n_stale = 0, n_fresh = 0, n = 0, rc = -1;
	if (store_vm_revs_on(c->st, c->host_name, &revs, &nr, e) < 0)
		return -1;
	if (nr > 1)
		qsort(revs, (size_t)nr, sizeof(*revs), cmp_rev_by_id);
	/* keep[i]: the index in the cache of revs[i]'s VM if it did not move, else -1 */
	int *keep = xcalloc((size_t)nr + 1, sizeof(int));
	const char **stale = xcalloc((size_t)nr + 1, sizeof(char *));
	for (int i = 0, j = 0; i < nr; i++) {
		while (j < vc->n && strcmp(vc->vms[j].id, revs[i].id) < 0)
			j++;
		/* A VM between states is read again whatever its revision: if
		 * this loop's last save of it failed, the store still has what
		 * it had, and the next step must start from that. */
		bool same = j < vc->n && strcmp(vc->vms[j].id, revs[i].id) == 0 && vc->revs[j] == revs[i].rev &&
			    !in_flight(&vc->vms[j]);
		keep[i] = same ? j : -1;
		if (!same)
			stale[n_stale++] = revs[i].id;
	}
	for (int k = 0; k < n_stale; k += REREAD_CHUNK) {
		struct vm *part = NULL;
		int n_part = 0;
		int take = n_stale - k < REREAD_CHUNK ? n_stale - k : REREAD_CHUNK;
		if (store_vm_get_many(c->st, stale + k, take, &part, &n_part, e) < 0)
			goto out;
		fresh = xrealloc(fresh, sizeof(*fresh) * (size_t)(n_fresh + n_part + 1));
		memcpy(fresh + n_fresh, part, sizeof(*part) * (size_t)n_part);
		n_fresh += n_part;
		free(part);   /* the structs moved into fresh, their fields with them */
	}
	if (n_fresh > 1)
		qsort(fresh, (size_t)n_fresh, sizeof(*fresh), vm_cmp_id);
	vms = xcalloc((size_t)nr + 1, sizeof(*vms));
	vrevs = xcalloc((size_t)nr + 1, sizeof(*vrevs));
	taken = xcalloc((size_t)vc->n + 1, sizeof(bool));
	for (int i = 0, f = 0; i < nr; i++) {
		if (keep[i] >= 0) {
			vms[n] = vc->vms[keep[i]];
			taken[keep[i]] = true;
		} else {
			while (f < n_fresh && strcmp(fresh[f].id, revs[i].id) < 0)
				vm_free_fields(&fresh[f++]);   /* cannot happen: fresh ⊆ stale, both by id */
			if (f >= n_fresh || strcmp(fresh[f].id, revs[i].id) != 0)
				continue;   /* gone between the two reads */
			vms[n] = fresh[f++];
		}
		vrevs[n++] = revs[i].rev;
	}
	for (int j = 0; j < vc->n; j++)   /* the VMs that left this host or the store */
		if (!taken[j])
			vm_free_fields(&vc->vms[j]);
	free(taken);
	free(vc->vms);
	free(vc->revs);
	vc->vms = vms;
	vc->revs = vrevs;
	vc->n = n;
	free(fresh);
	fresh = NULL;
	n_fresh = 0;
	rc = 0;
out:
	vm_list_free(fresh, n_fresh);   /* what a failed read left */
	free(stale);
	free(keep);
	free(revs);
	return rc;
}

bool instances_reconcile(struct ctl *c)
{
	struct vm_cache *vc = &c->vm_cache;
	int64_t changes = store_change_count(c->st), now = time_mono_ms();
	bool whole = !vc->valid || now - vc->loaded_at >= RELOAD_MS;
	if (whole || vc->busy || changes != vc->changes) {
		struct err e = {0};
		if ((whole ? cache_load(c, vc, &e) : cache_refresh(c, vc, &e)) < 0) {
			log_error("reconcile: %s", e.msg);
			cache_clear(vc);
			return false;
		}
		vc->changes = changes;
		if (whole)
			vc->loaded_at = now;
	}
	vc->status_due = now - vc->status_at >= STATUS_EVERY_MS;
	if (vc->status_due)
		vc->status_at = now;
	bool busy = false;
	for (int i = 0; i < vc->n; i++) {
		reconcile_one(c, &vc->vms[i]);
		busy = busy || in_flight(&vc->vms[i]);
	}
	vc->busy = busy;
	vc->passed_at = now;
	return busy;
}

/* An adopted VM's taps, set up again as plug_nics would (each step is
 * idempotent): a tap an earlier nubo made as an isolated port loses that,
 * so the hairpin through a load balancer reaches it without a restart. */
static void replug_taps(struct ctl *c, const struct vm *vm)
{
	for (int i = 0; i < vm->n_nics; i++) {
		struct network net;
		char tap[16];
		struct err e = {0};
		ctl_tap_name(c, vm->id, i, tap);
		if (store_network_get(c->st, vm->nics[i].network_id, &net, &e) < 0 ||
		    c->host->tap_ensure(tap, net.bridge, &e) < 0)
			log_warn("vm %s: tap %s: %s", vm->name, tap, e.msg);
	}
}

/* After a nubod restart: recognise the QEMUs that kept running. A QEMU
 * launched just before a crash, whose pid never reached the store, is found
 * through its pidfile. */
void instances_adopt(struct ctl *c)
{
	struct vm *vms = NULL;
	int n = 0, adopted = 0;
	if (store_vm_list_on(c->st, c->host_name, &vms, &n, NULL) < 0)
		return;
	for (int i = 0; i < n; i++) {
		struct vm *vm = &vms[i];
		struct vm_paths p;
		paths_init(c, vm, &p);
		int pid = c->host->qemu_pid_from_file(p.pid, vm->id);
		if (pid != 0) {
			if (vm->pid != pid) {
				vm->pid = pid;
				save(c, vm);
			}
			adopted++;
			log_info("vm %s: adopted running QEMU pid %d", vm->name, pid);
			replug_taps(c, vm);
		}
		paths_free(&p);
	}
	if (n)
		log_info("adopted %d running VM(s) of %d", adopted, n);
	vm_list_free(vms, n);
}

int instances_destroy_all(struct ctl *c, struct err *e)
{
	struct vm *vms = NULL;
	int n = 0;
	instances_adopt(c);
	if (store_vm_list_on(c->st, c->host_name, &vms, &n, e) < 0)
		return -1;
	int left = 0;
	for (int i = 0; i < n; i++) {
		vms[i].power = POWER_DELETED;
		if (!delete_step(c, &vms[i], false))
			left++;
	}
	vm_list_free(vms, n);
	if (left)
		return err_set(e, ERR_INTERNAL, "%d of %d VM%s could not be removed (see the log above); nothing else "
			       "was removed, so --destroy can run again", left, n, n == 1 ? "" : "s");
	return 0;
}
