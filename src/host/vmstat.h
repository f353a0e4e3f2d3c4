/*
 * vmstat: the counters a running VM leaves on the host beside its cgroup:
 * its taps' bytes and packets, and its disks' bytes and operations as QEMU
 * counts them (QMP query-blockstats). Both only grow while the QEMU and its
 * taps live.
 *
 * A tap is seen from the host: what the host receives on it is what the
 * guest sent. vmstat turns that around, so rx is always the VM's.
 */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "util/err.h"

struct vmstat_net {
	int64_t rx_bytes, tx_bytes, rx_packets, tx_packets;   /* the VM's */
};

struct vmstat_disk {
	int64_t read_bytes, write_bytes, read_ops, write_ops;
};

/* Adds tap's counters (from sysfs_net, "/sys/class/net") to *n.
 * ERR_UNAVAILABLE when the tap is not there. */
int vmstat_tap_add(const char *sysfs_net, const char *tap, struct vmstat_net *n, struct err *e);

/* The sum over every device of a query-blockstats answer (borrowed).
 * ERR_INTERNAL when it is not a list of devices with stats. */
int vmstat_blockstats_sum(const json_t *ret, struct vmstat_disk *d, struct err *e);

/* Asks the QEMU at qmp_sock (timeout_ms for the answer) and sums as above. */
int vmstat_disk_read(const char *qmp_sock, int timeout_ms, struct vmstat_disk *d, struct err *e);
