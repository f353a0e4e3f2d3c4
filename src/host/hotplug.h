/*
 * hotplug: volumes plugged into and out of a running VM over QMP.
 *
 * A volume is a qcow2 -blockdev node named after the volume's id, shown to
 * the guest as a virtio-blk device "dev-<id>" on PCIe root port "hp<slot>"
 * (serial = the id, so the guest finds it in /dev/disk/by-id). Plugging is
 * two moves, node then device; unplugging is a request the guest answers:
 * device_del, then wait until the device is gone, then drop the node.
 *
 * Each move is its own function so the caller can record progress between
 * them, and hotplug_view_read() says what QEMU really has, so a caller cut
 * off between two moves (nubod killed) carries on from QEMU's state instead
 * of replaying blindly. Each move sends its command through send
 * (qmp_run_once, or the recording host's, which notes it).
 */
#pragma once

#include <stdbool.h>

#include "host/qmp.h"
#include "util/err.h"

/* What one QEMU has of one volume. */
struct hotplug_item {
	char *id;     /* the volume's id: the node's name, or the device's id without "dev-" */
	bool node;    /* the block node exists: QEMU holds the file open */
	bool device;  /* the guest device exists (maybe with an unplug request pending) */
	int slot;     /* the root port hp<slot> the device is on; -1 if no device */
};

/* Every volume node and volume device of one QEMU. */
struct hotplug_view {
	struct hotplug_item *items;
	int n;
};

/* Reads the view (query-named-block-nodes, qom-list /machine/peripheral and
 * each device's parent_bus) over one connection. out is freed with
 * hotplug_view_free, also after a failure. */
int hotplug_view_read(const char *qmp_sock, struct hotplug_view *out, struct err *e);
/* The item of vol_id, or NULL if QEMU has neither its node nor its device. */
const struct hotplug_item *hotplug_view_find(const struct hotplug_view *v, const char *vol_id);
/* Whether a volume device sits on hp<slot>. */
bool hotplug_view_slot_used(const struct hotplug_view *v, int slot);
void hotplug_view_free(struct hotplug_view *v);   /* NULL safe */

/* blockdev-add of the volume's qcow2 as node vol_id: QEMU opens the file. */
int hotplug_node_add(qmp_once_fn *send, const char *qmp_sock, const char *vol_id, const char *path, struct err *e);
/* device_add of dev-<vol_id> on hp<slot>, backed by the node: the guest sees it. */
int hotplug_device_add(qmp_once_fn *send, const char *qmp_sock, const char *vol_id, int slot, struct err *e);
/* device_del: asks the guest to release the device. A request already
 * pending in QEMU counts as made. */
int hotplug_device_del(qmp_once_fn *send, const char *qmp_sock, const char *vol_id, struct err *e);
/* blockdev-del of the node, once no device uses it: QEMU closes the file. */
int hotplug_node_del(qmp_once_fn *send, const char *qmp_sock, const char *vol_id, struct err *e);
