/* hostops: the real table, the functions of host/ as they are (see hostops.h). */
#include "host/hostops.h"

#include "host/bridge.h"
#include "host/disk.h"
#include "host/nft.h"
#include "host/overlay.h"
#include "host/qmp.h"
#include "host/serial.h"
#include "util/fs.h"

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
	.qemu_user = qemu_user_lookup,
	.qemu_volumes = hotplug_view_read,
	.disk_exists = fs_exists,
	.disk_overlay = disk_overlay_create_sized,
	.disk_empty = disk_create_empty,
	.link_exists = link_exists,
	.bridge_ensure = bridge_ensure,
	.bridge_remove = bridge_remove,
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
	.nft_apply = nft_apply,
	.nft_table_delete = nft_table_delete,
	.cgroup_probe = cgroup_probe,
};
