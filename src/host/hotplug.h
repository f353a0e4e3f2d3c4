/*
 * hotplug: volumes plugged into and out of a running VM over QMP.
 *
 * A volume is a qcow2 -blockdev node named after the volume's id, shown to
 * the guest as a virtio-blk device "dev-<id>" on PCIe root port "hp<slot>"
 * (serial = the id, so the guest finds it in /dev/disk/by-id). Unplugging is
 * a request the guest answers: device_del, then wait until the device is
 * gone, then blockdev-del.
 */
#pragma once

#include <stdbool.h>

#include "util/err.h"

int hotplug_volume_add(const char *qmp_sock, const char *vol_id, const char *path, int slot, struct err *e);
/* Asks the guest to release the device (idempotent). */
int hotplug_volume_request_remove(const char *qmp_sock, const char *vol_id, struct err *e);
/* Whether the device is still in the VM. */
int hotplug_volume_present(const char *qmp_sock, const char *vol_id, bool *present, struct err *e);
/* Drops the block node once the device is gone (a node already gone is success). */
int hotplug_volume_release(const char *qmp_sock, const char *vol_id, struct err *e);
