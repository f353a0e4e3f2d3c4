/*
 * resize: what a live resize does to a running QEMU — vCPUs plugged in and
 * out over QMP, and the root disk grown with block_resize — plus growing a
 * stopped VM's root disk file.
 *
 * The one idea: every call first reads what QEMU has (query-hotpluggable-cpus,
 * query-block) and makes at most one move toward the target, so a caller cut
 * off at any instant (kill -9 of nubod) and run again never adds a second
 * vCPU for one asked, never shrinks a disk, and converges.
 *
 * vCPUs: QEMU boots with -smp N,maxcpus=M; query-hotpluggable-cpus lists M
 * slots, those with a "qom-path" are plugged. Boot vCPUs cannot be removed;
 * hot-added ones are devices "vcpu-s<socket>-c<core>-t<thread>" that
 * device_del asks the guest to release (ACPI eject: the guest kernel takes
 * the CPU offline itself; the device is gone when it has).
 */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "util/err.h"

/* One move chosen from query-hotpluggable-cpus' answer (borrowed) toward
 * want plugged vCPUs. Pure, for tests. *plugged is how many are plugged now.
 * Then exactly one of: *add (new reference: device_add's arguments), del_id
 * (the device to device_del), or neither (nothing to do, or nothing possible:
 * *stuck says why, such as want above the slots or below the boot vCPUs). */
void resize_vcpu_pick(json_t *slots, int want, int *plugged, json_t **add, char del_id[64], const char **stuck);

/* Reads the VM's vCPUs and makes at most one move toward want; *have is the
 * count before the move. A removal completes when the guest lets go: call
 * again until *have == want. Dry-run: records "qmp SOCK vcpus WANT" and
 * *have = want. */
int resize_vcpus_step(const char *qmp_sock, int want, int *have, struct err *e);

/* Grows block device `device` of a running QEMU to bytes (block_resize) if
 * it is smaller; never shrinks. Dry-run: records the command. */
int resize_disk_live(const char *qmp_sock, const char *device, uint64_t bytes, struct err *e);

/* Grows the qcow2 file of a stopped VM to bytes if it is smaller
 * (qemu-img resize); never shrinks. Dry-run: records the command. */
int resize_disk_file(const char *path, uint64_t bytes, struct err *e);
