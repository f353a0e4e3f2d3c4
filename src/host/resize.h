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
 *
 * Memory: QEMU boots with -m SIZE,slots=N,maxmem=MAX. nubo grows it by
 * plugging a pc-dimm "dimmK" on a memory-backend-ram "mem-dimmK" of the
 * difference, and shrinks it by unplugging DIMMs it added (the memory
 * present at boot stays). The guest onlines a new DIMM itself (ACPI, then
 * the kernel or udev); on device_del it offlines the DIMM's memory and
 * ejects it, or refuses (pages it cannot move), which it reports through
 * ACPI _OST. What QEMU has is read from query-memory-size-summary and
 * query-memory-devices before every move, never remembered.
 */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "host/qmp.h"
#include "util/err.h"

/* One move chosen from query-hotpluggable-cpus' answer (borrowed) toward
 * want plugged vCPUs. Pure, for tests. *plugged is how many are plugged now.
 * Then exactly one of: *add (new reference: device_add's arguments), del_id
 * (the device to device_del), or neither (nothing to do, or nothing possible:
 * *stuck says why, such as want above the slots or below the boot vCPUs). */
void resize_vcpu_pick(json_t *slots, int want, int *plugged, json_t **add, char del_id[64], const char **stuck);

/* Reads the VM's vCPUs and makes at most one move toward want; *have is the
 * count before the move. A removal completes when the guest lets go: call
 * again until *have == want. */
int resize_vcpus_step(const char *qmp_sock, int want, int *have, struct err *e);

/* Guest memory moves in whole DIMMs of this many MiB: Linux on x86-64 adds
 * and removes memory in blocks of 128 MiB. */
#define RESIZE_MEM_BLOCK_MIB 128
/* DIMM slots a VM with room for more memory boots with (-m ...,slots=). */
#define RESIZE_DIMM_SLOTS 16
/* How long a DIMM's unplug waits for the guest to let it go. */
#define RESIZE_DIMM_WAIT_MS 30000

/* The one memory move chosen from QEMU's answers (resize_memory_pick). */
struct resize_mem_move {
	char del_object[64];   /* a backend left without its DIMM (a cut-off move): object-del it */
	char add_id[64];       /* plug DIMM add_id of add_mib MiB */
	int add_mib;
	char del_dimm[64];     /* unplug this DIMM */
	const char *stuck;     /* nothing possible, and why */
};

/* One move toward want_mib of guest memory, from query-memory-devices
 * (devices), qom-list /objects (objects) and the boot memory (base_mib),
 * all borrowed. Pure, for tests. *have_mib is what the guest has now.
 * A backend without a DIMM goes first; then a DIMM of the difference is
 * added, or a DIMM removed: one of exactly that size if there is one, else
 * the one in the highest slot (a later pass adds back what it took too
 * much). DIMMs nubo did not name dimmK are counted, never removed. */
void resize_memory_pick(json_t *devices, json_t *objects, int base_mib, int want_mib, int *have_mib,
			struct resize_mem_move *m);

/* Reads the VM's memory and makes at most one move toward want_mib; *have_mib
 * is what the guest had before it. A DIMM's removal waits (up to
 * RESIZE_DIMM_WAIT_MS) for QEMU's DEVICE_DELETED. A move that cannot be
 * made — the guest refused to release the DIMM or did not answer, or QEMU
 * cannot plug one — fails with ERR_CONFLICT and a sentence for the user;
 * QMP trouble fails with ERR_INTERNAL (worth another try). Dry-run: records
 * "qmp SOCK memory WANT" and *have_mib = want_mib. */
int resize_memory_step(const char *qmp_sock, int want_mib, int *have_mib, struct err *e);

/* Grows block device `device` of a running QEMU to bytes (block_resize) if
 * it is smaller; never shrinks. */
int resize_disk_live(const char *qmp_sock, const char *device, uint64_t bytes, struct err *e);

/* Grows the qcow2 file of a stopped VM to bytes if it is smaller
 * (qemu-img resize); never shrinks. */
int resize_disk_file(const char *path, uint64_t bytes, struct err *e);
/* The grow alone of each, without asking the size first: what the
 * recording host (hostops.h) runs under the runner's dry-run capture. */
int resize_disk_live_grow(qmp_once_fn *send, const char *qmp_sock, const char *device, uint64_t bytes,
			  struct err *e);
int resize_disk_file_grow(const char *path, uint64_t bytes, struct err *e);
