/* hostops: the real table, the functions of host/ as they are (see hostops.h). */
#include "host/hostops.h"

#include "host/bridge.h"
#include "host/cgroup.h"
#include "host/disk.h"
#include "host/nft.h"
#include "host/overlay.h"
#include "host/qmp.h"
#include "host/serial.h"
#include "util/fs.h"

static int real_vm_cpu_usec(const struct cgroup_host *h, const char *prefix, const char *vm_id, const char *hook_dir,
			    uint64_t *usec, int64_t *epoch_ms, struct err *e)
{
	(void)hook_dir;
	return cgroup_cpu_usec(h, prefix, vm_id, usec, epoch_ms, e);
}

static int real_recipe_run(const char *const argv[], const struct run_opts *opts, struct run_result *r,
			   struct err *e)
{
	return runner_run(argv, opts, r, e);
}

static int real_tap_stats(const char *tap, struct vmstat_net *n, struct err *e)
{
	return vmstat_tap_add("/sys/class/net", tap, n, e);
}

const struct host_ops hostops_real = {
	.name = "real",
	.qemu_launch = qemu_launch,
	.qemu_ready = qemu_ready,
	.qemu_alive = qemu_alive,
	.qemu_pid_from_file = qemu_pid_from_file,
	.qemu_quit = qmp_quit,
	.qemu_wait_exit = qemu_wait_exit,
	.qemu_kill = qemu_kill,
	.qemu_powerdown = qmp_system_powerdown,
	.qemu_status = qmp_query_status,
	.qemu_command = qmp_run_once,
	.qemu_user = qemu_user_lookup,
	.qemu_volumes = hotplug_view_read,
	.qemu_vcpus_step = resize_vcpus_step,
	.qemu_memory_step = resize_memory_step,
	.qemu_disk_grow = resize_disk_live,
	.disk_grow = resize_disk_file,
	.file_owner = qemu_file_owner,
	.ssh_check = prober_check,
	.disk_exists = fs_exists,
	.disk_overlay = disk_overlay_create_sized,
	.disk_empty = disk_create_empty,
	.disk_info = disk_info,
	.disk_import = disk_import,
	.disk_flatten = disk_flatten,
	.disk_backup = disk_backup_node,
	.seed_build = seed_iso_build,
	.layer_freeze_stopped = layer_freeze_stopped,
	.layer_freeze_running = layer_freeze_running,
	.layer_overlay_new = layer_overlay_new,
	.layer_rebase = layer_rebase,
	.link_exists = link_exists,
	.bridge_ensure = bridge_ensure,
	.bridge_remove = bridge_remove,
	.ip_forward = ip_forward_enable,
	.tap_ensure = tap_ensure,
	.tap_remove = tap_remove,
	.neigh_set = neigh_set,
	.neigh_remove = neigh_remove,
	.overlay_ensure = overlay_ensure,
	.overlay_remove = overlay_remove,
	.subnet_in_use = host_subnet_in_use,
	.subnet_conflict = host_subnet_conflict,
	.port_in_use = host_port_in_use,
	.console_tail = serial_log_tail,
	.dnsmasq_ensure = dnsmasq_ensure,
	.dnsmasq_stop = dnsmasq_stop,
	.dnsmasq_hosts = dnsmasq_hosts_write,
	.dnsmasq_release = dnsmasq_release_lease,
	.dnsmasq_running = dnsmasq_running,
	.nft_apply = nft_apply,
	.nft_table_delete = nft_table_delete,
	.cgroup_probe = cgroup_probe,
	.vm_cpu_usec = real_vm_cpu_usec,
	.vm_memory_bytes = cgroup_memory_bytes,
	.tap_stats = real_tap_stats,
	.disk_stats = vmstat_disk_read,
	.metadata_listen = metadata_listen,
	.health_run = health_run,
	.conntrack_cut = health_conntrack_cut,   /* the runner captures it in dry-run */
	.conntrack_read = health_conntrack,
	.download = download_file,
	.recipe_run = real_recipe_run,
};
