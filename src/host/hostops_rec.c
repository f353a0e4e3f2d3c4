/*
 * hostops_rec: the recording table (see hostops.h). A small model of a host
 * stands behind it: the QEMUs launched, by VM id, each alive until quit,
 * killed or told to die, and off once its guest powered down. Commands pass
 * on to host/'s command-only halves under the runner's dry-run, which
 * captures their command lines; everything else is answered or noted here.
 *
 * A recorded QEMU has no process: like the dry-run runner's, its pid is 0,
 * which a caller stores as -1 ("launched"), and qemu_pid_from_file answers -1
 * for it. The runner's own dry-run stays what it is, the one place that
 * captures commands instead of running them (libvirt's virCommandSetDryRun);
 * this table is the one place that decides what reaches it.
 */
#include "host/hostops.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/bridge.h"
#include "host/disk.h"
#include "host/nft.h"
#include "host/qmp.h"
#include "host/serial.h"
#include "util/runner.h"
#include "util/str.h"

struct rec_qemu {
	char *vm_id, *qmp_socket;
	bool alive, off;
};

static pthread_mutex_t rec_mu = PTHREAD_MUTEX_INITIALIZER;
static struct rec_qemu *rec_qemus;
static int rec_n;
static bool rec_keep;
static struct sbuf rec_lines;

static void rec_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void rec_line(const char *fmt, ...)
{
	pthread_mutex_lock(&rec_mu);
	if (rec_keep) {
		char *line = NULL;
		va_list ap;
		va_start(ap, fmt);
		if (vasprintf(&line, fmt, ap) < 0)
			abort();   /* out of memory, as xasprintf */
		va_end(ap);
		sbuf_addf(&rec_lines, "%s\n", line);
		free(line);
	}
	pthread_mutex_unlock(&rec_mu);
}

/* Under rec_mu. */
static struct rec_qemu *find_by_vm(const char *vm_id)
{
	for (int i = rec_n; i-- > 0;)
		if (strcmp(rec_qemus[i].vm_id, vm_id) == 0)
			return &rec_qemus[i];
	return NULL;
}

static struct rec_qemu *find_by_socket(const char *sock)
{
	for (int i = rec_n; i-- > 0;)
		if (strcmp(rec_qemus[i].qmp_socket, sock) == 0)
			return &rec_qemus[i];
	return NULL;
}

/* Under rec_mu. A QEMU launched before this nubod started is not in the
 * model: it joins it, running, when first acted on (vm_id "" when only its
 * socket is known), as the dry-run host took every QEMU to run. */
static struct rec_qemu *entry_locked(const char *vm_id, const char *sock)
{
	struct rec_qemu *q = vm_id ? find_by_vm(vm_id) : find_by_socket(sock);
	if (!q) {
		rec_qemus = xrealloc(rec_qemus, sizeof(*rec_qemus) * (size_t)(rec_n + 1));
		q = &rec_qemus[rec_n++];
		*q = (struct rec_qemu){.vm_id = xstrdup(vm_id ? vm_id : ""), .qmp_socket = xstrdup(sock ? sock : ""),
				       .alive = true};
	}
	return q;
}

void hostops_recording_keep(bool on)
{
	pthread_mutex_lock(&rec_mu);
	rec_keep = on;
	pthread_mutex_unlock(&rec_mu);
}

char *hostops_recording_take(void)
{
	pthread_mutex_lock(&rec_mu);
	char *s = sbuf_take(&rec_lines);
	pthread_mutex_unlock(&rec_mu);
	return s ? s : xstrdup("");
}

static void set_vm(const char *vm_id, bool alive, bool off)
{
	pthread_mutex_lock(&rec_mu);
	struct rec_qemu *q = find_by_vm(vm_id);
	if (q) {
		q->alive = q->alive && alive;
		q->off = q->off || off;
	}
	pthread_mutex_unlock(&rec_mu);
}

void hostops_recording_qemu_dies(const char *vm_id)
{
	set_vm(vm_id, false, false);
}

void hostops_recording_guest_off(const char *vm_id)
{
	set_vm(vm_id, true, true);
}

void hostops_recording_reset(void)
{
	pthread_mutex_lock(&rec_mu);
	for (int i = 0; i < rec_n; i++) {
		free(rec_qemus[i].vm_id);
		free(rec_qemus[i].qmp_socket);
	}
	free(rec_qemus);
	rec_qemus = NULL;
	rec_n = 0;
	free(sbuf_take(&rec_lines));
	pthread_mutex_unlock(&rec_mu);
}

/* --- QEMU ------------------------------------------------------------------- */

static int rec_qemu_launch(const struct qemu_config *c, int *pid, struct err *e)
{
	rec_line("qemu launch %s", c->vm_id);
	int rc = qemu_spawn(c, pid, e);   /* captures the command line */
	*pid = 0;
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&rec_mu);
	struct rec_qemu *q = entry_locked(c->vm_id, NULL);
	free(q->qmp_socket);
	q->qmp_socket = xstrdup(c->qmp_socket);
	q->alive = true;
	q->off = false;
	pthread_mutex_unlock(&rec_mu);
	return 0;
}

/* Not in the model: taken to run (entry_locked). */
static bool rec_qemu_alive(int pid, const char *vm_id)
{
	if (pid == 0)
		return false;
	pthread_mutex_lock(&rec_mu);
	struct rec_qemu *q = find_by_vm(vm_id);
	bool alive = !q || q->alive;
	pthread_mutex_unlock(&rec_mu);
	return alive;
}

static int rec_qemu_ready(int pid, const char *vm_id, const char *qmp_socket, const char *stderr_log, struct err *e)
{
	if (rec_qemu_alive(pid, vm_id))
		return 1;
	return err_set(e, ERR_INTERNAL, "QEMU for %s exited before it answered on %s (recorded)", vm_id, qmp_socket);
}

static int rec_qemu_pid_from_file(const char *pidfile, const char *vm_id)
{
	pthread_mutex_lock(&rec_mu);
	struct rec_qemu *q = find_by_vm(vm_id);
	int pid = q && q->alive ? -1 : 0;
	pthread_mutex_unlock(&rec_mu);
	return pid;
}

static int rec_qemu_quit(const char *qmp_socket, struct err *e)
{
	pthread_mutex_lock(&rec_mu);
	struct rec_qemu *q = find_by_socket(qmp_socket);
	char *vm_id = xstrdup(q ? q->vm_id : qmp_socket);
	if (q)
		q->alive = false;
	pthread_mutex_unlock(&rec_mu);
	rec_line("qemu quit %s", vm_id);
	free(vm_id);
	runner_capture_note("qmp %s quit", qmp_socket);
	return 0;
}

static bool rec_qemu_wait_exit(int pid, const char *vm_id, int timeout_ms)
{
	return !rec_qemu_alive(pid, vm_id);
}

static int rec_qemu_kill(int pid, const char *vm_id, int timeout_ms, struct err *e)
{
	rec_line("qemu kill %s", vm_id);
	pthread_mutex_lock(&rec_mu);
	entry_locked(vm_id, NULL)->alive = false;
	pthread_mutex_unlock(&rec_mu);
	runner_capture_note("kill qemu %s", vm_id);
	return 0;
}

static int rec_qemu_powerdown(const char *qmp_socket, struct err *e)
{
	pthread_mutex_lock(&rec_mu);
	struct rec_qemu *q = entry_locked(NULL, qmp_socket);
	char *vm_id = xstrdup(q->vm_id[0] ? q->vm_id : qmp_socket);
	q->off = true;   /* the guest obeys at once */
	pthread_mutex_unlock(&rec_mu);
	rec_line("qemu powerdown %s", vm_id);
	free(vm_id);
	runner_capture_note("qmp %s system_powerdown", qmp_socket);
	return 0;
}

/* "running" until the guest powered off. Asked of every running VM once a
 * second: a QEMU not in the model is not added for it. */
static int rec_qemu_status(const char *qmp_socket, char *status, size_t n, struct err *e)
{
	pthread_mutex_lock(&rec_mu);
	struct rec_qemu *q = find_by_socket(qmp_socket);
	bool alive = !q || q->alive, off = q && q->off;
	pthread_mutex_unlock(&rec_mu);
	if (!alive)
		return err_set(e, ERR_UNAVAILABLE, "QMP %s: no QEMU listens (recorded)", qmp_socket);
	snprintf(status, n, "%s", off ? "shutdown" : "running");
	return 0;
}

static int rec_qemu_volumes(const char *qmp_socket, struct hotplug_view *view, struct err *e)
{
	*view = (struct hotplug_view){0};
	return 1;
}

/* The guest takes every vCPU at once. */
static int rec_qemu_vcpus_step(const char *qmp_socket, int want, int *have, struct err *e)
{
	runner_capture_note("qmp %s vcpus %d", qmp_socket, want);
	*have = want;
	return 0;
}

/* The guest takes the memory at once. */
static int rec_qemu_memory_step(const char *qmp_socket, int want_mib, int *have_mib, struct err *e)
{
	runner_capture_note("qmp %s memory %d", qmp_socket, want_mib);
	*have_mib = want_mib;
	return 0;
}

/* Noted as "qmp SOCK CMD ARGS", in order with the commands; no answer. */
static int rec_qemu_command(const char *sock, const char *cmd, json_t *args, json_t **ret, struct err *e)
{
	char *text = args ? json_dumps(args, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	runner_capture_note("qmp %s %s %s", sock, cmd, text ? text : "");
	free(text);
	json_decref(args);
	if (ret)
		*ret = NULL;
	return 0;
}

/* No size to ask: the grow is captured. */
static int rec_qemu_disk_grow(const char *qmp_socket, const char *device, uint64_t bytes, struct err *e)
{
	return resize_disk_live_grow(rec_qemu_command, qmp_socket, device, bytes, e);
}

static int rec_disk_grow(const char *path, uint64_t bytes, struct err *e)
{
	return resize_disk_file_grow(path, bytes, e);
}

/* Nothing is handed over: the files belong to whoever runs the test. */
static int rec_file_owner(const char *path, uid_t uid, gid_t gid, mode_t mode, struct err *e)
{
	return 0;
}

/* A recorded guest answers SSH at once. */
static enum probe_state rec_ssh_check(struct prober *pr, const char *key, const char *ip, int port,
				      const char *prefix)
{
	return PROBE_READY;
}

static int rec_qemu_user(const char *name, struct qemu_user *u, struct err *e)
{
	memset(u, 0, sizeof(*u));
	snprintf(u->name, sizeof(u->name), "%s", name);
	return 0;
}

/* --- disks, links, DHCP, rules ------------------------------------------------ */

static bool rec_exists(const char *path)
{
	return true;
}

/* The disks' commands are captured as they would run, into PATH.tmp, and
 * no file is made, renamed or removed. */
static int rec_disk_overlay(const char *base, const char *path, uint64_t size_bytes, struct err *e)
{
	rec_line("disk overlay %s", path);
	autofree char *tmp = xasprintf("%s.tmp", path);
	return disk_overlay_write(base, tmp, size_bytes, e);
}

static int rec_disk_empty(const char *path, uint64_t size_bytes, struct err *e)
{
	rec_line("disk empty %s", path);
	return disk_empty_write(path, size_bytes, e);
}

/* qemu-img info of src still runs (it reads). */
static int rec_disk_import(const char *src, const char *dst, struct disk_info *info, struct err *e)
{
	rec_line("disk import %s", dst);
	autofree char *tmp = xasprintf("%s.tmp", dst);
	return disk_import_write(src, tmp, info, e);
}

static int rec_disk_flatten(const char *src, const char *dst, struct err *e)
{
	rec_line("disk flatten %s", dst);
	autofree char *tmp = xasprintf("%s.tmp", dst);
	return disk_flatten_write(src, tmp, e);
}

static int rec_disk_backup(const char *qmp_socket, const char *node, const char *job_id, const char *dst,
			   const struct qemu_user *u, struct err *e)
{
	rec_line("disk backup %s %s", node, dst);
	runner_capture_note("qmp %s drive-backup %s %s.tmp", qmp_socket, node, dst);
	return 0;
}

/* The kernel as the recording host sees it: nothing is looked at, so
 * every `ip` command is issued (and captured); /proc/sys writes are noted. */
static int unseen_has(const char *name, const char *entry)
{
	return -1;
}

static int noted_sysctl_write(const char *path, const char *value, struct err *e)
{
	runner_capture_note("write %s %s", path, value);
	return 0;
}

static void unseen_mac(const char *name, char out[18])
{
	out[0] = '\0';
}

static const struct bridge_kernel unseen_kernel = {.has = unseen_has, .sysctl_write = noted_sysctl_write,
						   .mac = unseen_mac};

/* The seed's files are written; genisoimage is captured. */
static int rec_seed_build(const struct nocloud *s, const char *work_dir, const char *iso_path, struct err *e)
{
	autofree char *tmp = xasprintf("%s.tmp", iso_path);
	return seed_iso_write(s, work_dir, iso_path, tmp, e);
}

/* A freeze of a stopped VM captures the new top's creation; of a running
 * one, the QMP switch it would make. */
static int rec_layer_freeze_stopped(const char *root, const char *layer, const char *snap_id, struct err *e)
{
	autofree char *next = layer_next_path(root, snap_id);
	autofree char *tmp = xasprintf("%s.tmp", next);
	return layer_top_write(layer, tmp, 0, e);
}

static int rec_layer_freeze_running(const char *qmp_socket, const char *root, const char *layer, const char *snap_id,
				    const char *node_name, const struct qemu_user *u, struct err *e)
{
	autofree char *next = layer_next_path(root, snap_id);
	runner_capture_note("qmp %s blockdev-snapshot root -> %s (%s)", qmp_socket, next, layer);
	return 0;
}

static int rec_layer_overlay_new(const char *root, const char *layer, struct err *e)
{
	autofree char *fresh = xasprintf("%s.new", root);
	return layer_top_write(layer, fresh, 0, e);
}

static int rec_bridge_ensure(const char *name, const char *gw_cidr, struct err *e)
{
	rec_line("bridge ensure %s %s", name, gw_cidr);
	return bridge_ensure_on(&unseen_kernel, name, gw_cidr, e);
}

static int rec_bridge_remove(const char *name, struct err *e)
{
	rec_line("bridge remove %s", name);
	return bridge_remove_on(&unseen_kernel, name, e);
}

static int rec_ip_forward(struct err *e)
{
	return ip_forward_enable_on(&unseen_kernel, e);
}

static int rec_tap_ensure(const char *name, const char *bridge, struct err *e)
{
	rec_line("tap ensure %s %s", name, bridge);
	return tap_ensure_on(&unseen_kernel, name, bridge, e);
}

static int rec_tap_remove(const char *name, struct err *e)
{
	rec_line("tap remove %s", name);
	return tap_remove_on(&unseen_kernel, name, e);
}

static int rec_neigh_set(const char *bridge, const char *ip, const char *mac, struct err *e)
{
	rec_line("neigh set %s %s %s", bridge, ip, mac);
	return neigh_set(bridge, ip, mac, e);
}

static int rec_neigh_remove(const char *bridge, const char *ip, struct err *e)
{
	rec_line("neigh remove %s %s", bridge, ip);
	return neigh_remove_on(&unseen_kernel, bridge, ip, e);
}

static int rec_overlay_ensure(const struct overlay *o, struct err *e)
{
	rec_line("overlay ensure %s %s vni %d local %s port %d peers %d routes %d", o->vxlan, o->bridge, o->vni,
		 o->local, o->port, o->n_peers, o->n_routes);
	for (int i = 0; i < o->n_peers; i++)
		rec_line("overlay peer %s %s %s", o->vxlan, o->peers[i].mac, o->peers[i].addr);
	for (int i = 0; i < o->n_routes; i++)
		rec_line("overlay route %s %s %s", o->bridge, o->routes[i].ip, o->routes[i].mac);
	return overlay_ensure_on(&unseen_kernel, o, e);
}

static int rec_overlay_remove(const char *vxlan, struct err *e)
{
	rec_line("overlay remove %s", vxlan);
	return overlay_remove_on(&unseen_kernel, vxlan, e);
}

/* The files are written; with no process to look at, an unchanged
 * configuration is taken to be running, so repeated ensures capture one
 * start. */
static int rec_dnsmasq_ensure(const struct dnsmasq_config *c, struct err *e)
{
	rec_line("dnsmasq ensure %s", c->bridge);
	bool changed = false;
	int rc = dnsmasq_files_write(c, &changed, e);
	return rc < 0 || !changed ? rc : dnsmasq_launch(c->dir, e);
}

static int rec_dnsmasq_hosts(const char *dir, const struct dhcp_host *h, int n, struct err *e)
{
	bool changed = false;
	int rc = dnsmasq_hosts_file_write(dir, h, n, &changed, e);
	if (rc == 0 && changed)
		runner_capture_note("reload dnsmasq %s", dir);
	return rc;
}

/* Nothing runs in dry-run: the dnsmasq it launched counts as running, or
 * every look would launch it again. */
static bool rec_dnsmasq_running(const char *dir)
{
	(void)dir;
	return true;
}

static int rec_dnsmasq_stop(const char *dir, struct err *e)
{
	rec_line("dnsmasq stop %s", dir);
	runner_capture_note("stop dnsmasq %s", dir);
	return 0;
}

/* The whole ruleset follows the line, so that a test can look for a rule
 * in what was applied. */
static int rec_nft_apply(const char *ruleset, struct err *e)
{
	rec_line("nft apply\n%s", ruleset);
	return nft_apply(ruleset, e);
}

static int rec_nft_table_delete(const char *table, struct err *e)
{
	rec_line("nft delete %s", table);
	return nft_table_delete(table, e);
}

/* No cgroup hierarchy: VMs run without limits, nothing is written. */
static void rec_cgroup_probe(const char *root, struct cgroup_host *h, char *why, size_t n)
{
	memset(h, 0, sizeof(*h));
	h->mode = CGROUP_NONE;
	snprintf(why, n, "recording host: %s is not looked at", root);
}

static int rec_vm_cpu_usec(const struct cgroup_host *h, const char *prefix, const char *vm_id, const char *hook_dir,
			   uint64_t *usec, int64_t *epoch_ms, struct err *e)
{
	*epoch_ms = 0;
	return cgroup_cpu_usec_from_file(hook_dir, vm_id, usec, epoch_ms, e);
}

static int rec_vm_memory_bytes(const struct cgroup_host *h, const char *prefix, const char *vm_id, int64_t *bytes,
			       struct err *e)
{
	*bytes = 0;
	return err_set(e, ERR_UNAVAILABLE, "recording host: no memory of VM %s to measure", vm_id);
}

/* No taps and no QEMU to ask. */
static int rec_tap_stats(const char *tap, struct vmstat_net *n, struct err *e)
{
	return err_set(e, ERR_UNAVAILABLE, "recording host: no tap %s to read", tap);
}

static int rec_disk_stats(const char *qmp_socket, int timeout_ms, struct vmstat_disk *d, struct err *e)
{
	return err_set(e, ERR_UNAVAILABLE, "recording host: no QEMU at %s to ask", qmp_socket);
}

/* A listener that binds nothing. */
static int rec_metadata_listen(const char *network, const char *bridge, const char *ip, int port,
			       metadata_handler_fn *fn, void *ctx, struct metadata_listener **out, struct err *e)
{
	runner_capture_note("metadata listen %s:%d %s", ip, port, bridge);
	*out = metadata_listener_new(network, bridge, ip, port, fn, ctx);
	return 0;
}

/* Nothing is dialled; every check passes. */
static void rec_health_run(struct health_check *checks, int n)
{
	for (int i = 0; i < n; i++) {
		checks[i].ok = true;
		snprintf(checks[i].reason, sizeof(checks[i].reason), "dry-run");
	}
}

/* No connections: a dry-run host's conntrack is not the VMs'. */
static char *rec_conntrack_read(void)
{
	return NULL;
}

static int rec_download(const char *url, const char *dest, download_progress_fn progress, void *arg, struct err *e)
{
	runner_capture_note("download %s %s", url, dest);
	return 1;
}

static int rec_recipe_run(const char *const argv[], const struct run_opts *opts, struct run_result *r,
			  struct err *e)
{
	int rc = runner_run(argv, opts, r, e);   /* captured */
	return rc < 0 ? rc : 1;
}

const struct host_ops hostops_recording = {
	.name = "recording",
	.qemu_launch = rec_qemu_launch,
	.qemu_ready = rec_qemu_ready,
	.qemu_alive = rec_qemu_alive,
	.qemu_pid_from_file = rec_qemu_pid_from_file,
	.qemu_quit = rec_qemu_quit,
	.qemu_wait_exit = rec_qemu_wait_exit,
	.qemu_kill = rec_qemu_kill,
	.qemu_powerdown = rec_qemu_powerdown,
	.qemu_status = rec_qemu_status,
	.qemu_command = rec_qemu_command,
	.qemu_user = rec_qemu_user,
	.qemu_volumes = rec_qemu_volumes,
	.qemu_vcpus_step = rec_qemu_vcpus_step,
	.qemu_memory_step = rec_qemu_memory_step,
	.qemu_disk_grow = rec_qemu_disk_grow,
	.disk_grow = rec_disk_grow,
	.file_owner = rec_file_owner,
	.ssh_check = rec_ssh_check,
	.disk_exists = rec_exists,
	.disk_overlay = rec_disk_overlay,
	.disk_empty = rec_disk_empty,
	.disk_info = disk_info,   /* qemu-img info reads; the runner runs it even in dry-run */
	.disk_import = rec_disk_import,
	.disk_flatten = rec_disk_flatten,
	.disk_backup = rec_disk_backup,
	.seed_build = rec_seed_build,
	.layer_freeze_stopped = rec_layer_freeze_stopped,
	.layer_freeze_running = rec_layer_freeze_running,
	.layer_overlay_new = rec_layer_overlay_new,
	.layer_rebase = layer_rebase,   /* qemu-img rebase: the runner captures it */
	.link_exists = rec_exists,
	.bridge_ensure = rec_bridge_ensure,
	.bridge_remove = rec_bridge_remove,
	.ip_forward = rec_ip_forward,
	.tap_ensure = rec_tap_ensure,
	.tap_remove = rec_tap_remove,
	.neigh_set = rec_neigh_set,
	.neigh_remove = rec_neigh_remove,
	.overlay_ensure = rec_overlay_ensure,
	.overlay_remove = rec_overlay_remove,
	/* questions that change nothing: the machine answers them, as it did in dry-run */
	.subnet_in_use = host_subnet_in_use,
	.subnet_conflict = host_subnet_conflict,
	.port_in_use = host_port_in_use,
	.console_tail = serial_log_tail,   /* a file nubod reads; in dry-run none is written: "" */
	.dnsmasq_ensure = rec_dnsmasq_ensure,
	.dnsmasq_stop = rec_dnsmasq_stop,
	.dnsmasq_hosts = rec_dnsmasq_hosts,
	.dnsmasq_release = dnsmasq_release_lease,   /* dhcp_release: the runner captures it */
	.dnsmasq_running = rec_dnsmasq_running,
	.nft_apply = rec_nft_apply,
	.nft_table_delete = rec_nft_table_delete,
	.cgroup_probe = rec_cgroup_probe,
	.vm_cpu_usec = rec_vm_cpu_usec,
	.vm_memory_bytes = rec_vm_memory_bytes,
	.tap_stats = rec_tap_stats,
	.disk_stats = rec_disk_stats,
	.metadata_listen = rec_metadata_listen,
	.health_run = rec_health_run,
	.conntrack_cut = health_conntrack_cut,   /* the runner captures it in dry-run */
	.conntrack_read = rec_conntrack_read,
	.download = rec_download,
	.recipe_run = rec_recipe_run,
};
