/*
 * hostops: the host as one table of operations, chosen once at start.
 *
 * ctl's reconcilers reach the machine (QEMU and its QMP socket, bridges,
 * taps, dnsmasq, disks, nftables, cgroups) through a `struct host_ops`, as
 * SQLite reaches files through its VFS and libvirt a hypervisor through its
 * driver table. The reconcilers never ask "am I in dry-run?": the table they
 * were given answers. Two tables:
 *
 *   hostops_real       does it: the functions of host/ as they are. None
 *                      of them asks whether nubod is in dry-run.
 *   hostops_recording  nubod --dry-run and the unit tests of reconcilers:
 *                      each effect is recorded as one line ("qemu launch
 *                      VM", "tap ensure TAP BRIDGE"); its commands are
 *                      handed to the runner, whose dry-run captures them,
 *                      so dry-run.log keeps the command lines, and what is
 *                      not a command (a QMP command, a signal, a /proc
 *                      write) is noted there in order with them. Where a
 *                      step of host/ mixes a command with work on files or
 *                      processes, host/ offers the command alone (the
 *                      *_write and *_grow halves, dnsmasq_launch, the
 *                      bridge_kernel and qmp_once_fn parameters) for this
 *                      table to use. Each question is answered from what
 *                      was recorded (a launched QEMU is alive until it is
 *                      quit or a test says it died; a powered-down guest
 *                      reports "shutdown"); questions that only read the
 *                      machine (subnets, ports, qemu-img info) are asked.
 *
 * The recording table needs the runner in dry-run (runner_set_dry_run):
 * the commands it hands on would otherwise run.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "host/cgroup.h"
#include "host/disk.h"
#include "host/dnsmasq.h"
#include "host/download.h"
#include "host/health.h"
#include "host/hotplug.h"
#include "host/layers.h"
#include "host/metadata.h"
#include "host/overlay.h"
#include "host/probe.h"
#include "host/qemu.h"
#include "host/resize.h"
#include "host/seed.h"
#include "host/vmstat.h"
#include "model/port.h"
#include "util/err.h"
#include "util/runner.h"

struct host_ops {
	const char *name;

	/* QEMU (host/qemu.h, host/qmp.h) */
	int (*qemu_launch)(const struct qemu_config *c, int *pid, struct err *e);
	int (*qemu_ready)(int pid, const char *vm_id, const char *qmp_socket, const char *stderr_log, struct err *e);
	bool (*qemu_alive)(int pid, const char *vm_id);
	int (*qemu_pid_from_file)(const char *pidfile, const char *vm_id);
	int (*qemu_quit)(const char *qmp_socket, struct err *e);
	bool (*qemu_wait_exit)(int pid, const char *vm_id, int timeout_ms);
	int (*qemu_kill)(int pid, const char *vm_id, int timeout_ms, struct err *e);
	int (*qemu_powerdown)(const char *qmp_socket, struct err *e);
	int (*qemu_status)(const char *qmp_socket, char *status, size_t n, struct err *e);
	/* one QMP command that changes the QEMU (host/qmp.h: qmp_once_fn) */
	qmp_once_fn *qemu_command;
	int (*qemu_user)(const char *name, struct qemu_user *u, struct err *e);
	/* What a QEMU has of the volumes (host/hotplug.h); 1: there is no QEMU
	 * to ask (recording), the caller takes the store's word. */
	int (*qemu_volumes)(const char *qmp_socket, struct hotplug_view *view, struct err *e);
	/* vCPU and disk resizes (host/resize.h) */
	int (*qemu_vcpus_step)(const char *qmp_socket, int want, int *have, struct err *e);
	int (*qemu_memory_step)(const char *qmp_socket, int want_mib, int *have_mib, struct err *e);
	int (*qemu_disk_grow)(const char *qmp_socket, const char *device, uint64_t bytes, struct err *e);
	int (*disk_grow)(const char *path, uint64_t bytes, struct err *e);
	/* chown + chmod of a file QEMU reaches after it dropped privileges */
	int (*file_owner)(const char *path, uid_t uid, gid_t gid, mode_t mode, struct err *e);
	/* whether the guest's SSH greeted (host/probe.h) */
	enum probe_state (*ssh_check)(struct prober *pr, const char *key, const char *ip, int port, const char *prefix);

	/* disks (host/disk.h) */
	bool (*disk_exists)(const char *path);
	int (*disk_overlay)(const char *base, const char *path, uint64_t size_bytes, struct err *e);
	int (*disk_empty)(const char *path, uint64_t size_bytes, struct err *e);
	int (*disk_info)(const char *path, struct disk_info *out, struct err *e);   /* a read: both run it */
	int (*disk_import)(const char *src, const char *dst, struct disk_info *info, struct err *e);
	int (*disk_flatten)(const char *src, const char *dst, struct err *e);
	/* a running VM's drive or node copied out through QMP (drive-backup) */
	int (*disk_backup)(const char *qmp_socket, const char *node, const char *job_id, const char *dst,
			   const struct qemu_user *u, struct err *e);

	/* the guest's cidata seed (host/seed.h) */
	int (*seed_build)(const struct nocloud *s, const char *work_dir, const char *iso_path, struct err *e);

	/* snapshot layers of a root disk (host/layers.h) */
	int (*layer_freeze_stopped)(const char *root, const char *layer, const char *snap_id, struct err *e);
	int (*layer_freeze_running)(const char *qmp_socket, const char *root, const char *layer, const char *snap_id,
				    const char *node_name, const struct qemu_user *u, struct err *e);
	int (*layer_overlay_new)(const char *root, const char *layer, struct err *e);
	int (*layer_rebase)(const char *file, const char *new_backing, struct err *e);

	/* links (host/bridge.h) */
	bool (*link_exists)(const char *name);
	int (*bridge_ensure)(const char *name, const char *gw_cidr, struct err *e);
	int (*bridge_remove)(const char *name, struct err *e);
	int (*ip_forward)(struct err *e);   /* NAT needs it */
	int (*tap_ensure)(const char *name, const char *bridge, struct err *e);
	int (*tap_remove)(const char *name, struct err *e);
	int (*neigh_set)(const char *bridge, const char *ip, const char *mac, struct err *e);
	int (*neigh_remove)(const char *bridge, const char *ip, struct err *e);
	/* a network's VXLAN segment between hosts (host/overlay.h) */
	int (*overlay_ensure)(const struct overlay *o, struct err *e);
	int (*overlay_remove)(const char *vxlan, struct err *e);

	/* what the host already uses, for admission (host/bridge.h): asked
	 * through ctl, here in one place; they change nothing */
	int (*subnet_in_use)(const char *cidr, bool *in_use, struct err *e);
	int (*subnet_conflict)(const char *cidr, const char *except_dev, bool *in_use, char *what, size_t what_len,
			       struct err *e);
	int (*port_in_use)(enum proto proto, uint16_t port, bool *in_use, struct err *e);

	/* the console log's tail (host/serial.h) */
	int (*console_tail)(const char *path, size_t max, char **text, size_t *len, struct err *e);

	/* DHCP and DNS (host/dnsmasq.h) */
	int (*dnsmasq_ensure)(const struct dnsmasq_config *c, struct err *e);
	int (*dnsmasq_stop)(const char *dir, struct err *e);
	int (*dnsmasq_hosts)(const char *dir, const struct dhcp_host *h, int n, struct err *e);
	int (*dnsmasq_release)(const char *bridge, const char *ip, const char *mac, struct err *e);
	bool (*dnsmasq_running)(const char *dir);

	/* the ruleset (host/nft.h) */
	int (*nft_apply)(const char *ruleset, struct err *e);
	int (*nft_table_delete)(const char *table, struct err *e);

	/* cgroups (host/cgroup.h) and the counters of a VM (host/vmstat.h);
	 * hook_dir: where the recording host reads a CPU share a test wrote
	 * (cgroup_cpu_usec_from_file), unused by the real one */
	void (*cgroup_probe)(const char *root, struct cgroup_host *h, char *why, size_t n);
	int (*vm_cpu_usec)(const struct cgroup_host *h, const char *prefix, const char *vm_id, const char *hook_dir,
			   uint64_t *usec, int64_t *epoch_ms, struct err *e);
	int (*vm_memory_bytes)(const struct cgroup_host *h, const char *prefix, const char *vm_id, int64_t *bytes,
			       struct err *e);
	int (*tap_stats)(const char *tap, struct vmstat_net *n, struct err *e);
	int (*disk_stats)(const char *qmp_socket, int timeout_ms, struct vmstat_disk *d, struct err *e);

	/* the metadata service's listener on a network's gateway (host/metadata.h) */
	int (*metadata_listen)(const char *network, const char *bridge, const char *ip, int port,
			       metadata_handler_fn *fn, void *ctx, struct metadata_listener **out, struct err *e);
	/* load-balancer health checks (host/health.h) */
	void (*health_run)(struct health_check *checks, int n);
	/* the conntrack table's text, or NULL (host/health.h); caller frees */
	char *(*conntrack_read)(void);
	/* a drained target's connections cut (host/health.h) */
	int (*conntrack_cut)(const struct conntrack_cut *cut, struct err *e);
	/* Images. An image's file from a URL (host/download.h), and an image
	 * recipe run as argv (a command whose output is the image's folder).
	 * Both return 0 once the files are there, or 1 when nothing was made
	 * (the recording host: the download is noted, the recipe's command
	 * captured), so there is nothing to check, convert or read. */
	int (*download)(const char *url, const char *dest, download_progress_fn progress, void *arg, struct err *e);
	int (*recipe_run)(const char *const argv[], const struct run_opts *opts, struct run_result *r, struct err *e);
};

extern const struct host_ops hostops_real;
extern const struct host_ops hostops_recording;

/* The recording table's lines since the last take ("qemu launch VM\n" ...),
 * cleared; caller frees. Lines are kept only after hostops_recording_keep(true)
 * (unit tests): a dry-run nubod keeps none. */
void hostops_recording_keep(bool on);
char *hostops_recording_take(void);
/* Test hooks: the QEMU of vm_id dies (its process is gone), or its guest
 * powers itself off (QMP then reports "shutdown"). */
void hostops_recording_qemu_dies(const char *vm_id);
void hostops_recording_guest_off(const char *vm_id);
/* Forgets every QEMU it launched and every line (between tests). A nubod
 * that restarts keeps the table's QEMUs: like real ones, they outlive it. */
void hostops_recording_reset(void);
