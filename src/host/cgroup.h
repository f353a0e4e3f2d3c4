/*
 * cgroup: one control group per QEMU, so that a VM gets the CPU and memory
 * its type promises and no more, whatever its guest does.
 *
 * The one idea: the group is made and limited before QEMU exists, and the
 * process that becomes QEMU writes its own pid into the group's cgroup.procs
 * between fork and exec (runner's join_files), so not one guest instruction
 * runs outside it. Groups live under a per-daemon parent,
 * "nubo-<prefix>/vm-<id>", in the unified hierarchy (cgroup v2) where
 * /sys/fs/cgroup is one, else in the v1 "cpu" and "memory" hierarchies.
 * Paths and limit values are computed by pure functions (unit tested); the
 * rest only makes directories and writes those values.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

enum cgroup_mode { CGROUP_NONE, CGROUP_V1, CGROUP_V2 };

struct cgroup_host {
	enum cgroup_mode mode;
	char root[256];   /* "/sys/fs/cgroup" */
};

/* CFS period. The quota is the VM's vCPUs times this, plus half of it for
 * QEMU's own threads (the main loop doing the VM's disk, network and
 * console I/O, RCU, timers): capped at exactly its vCPUs, a booting guest
 * was throttled whenever QEMU worked beside its vCPU (13% slower to SSH
 * under TCG, benchmark 1), which a cloud's hypervisor threads never cost
 * the guest. */
#define CGROUP_CPU_PERIOD_US 100000
#define CGROUP_EMULATOR_US (CGROUP_CPU_PERIOD_US / 2)

/* At most this many directories (v1: one per controller) and settings per VM. */
#define CGROUP_MAX_DIRS 2
#define CGROUP_MAX_SETTINGS 6

struct cgroup_setting {
	char *path;    /* file to write */
	char *value;   /* what to write into it */
};

/* What a VM's group is: its directories (parents first, made in this order),
 * the settings written after they exist (in order), and the cgroup.procs
 * files QEMU joins. All strings are owned; free with cgroup_plan_free. */
struct cgroup_plan {
	char *dirs[2 * CGROUP_MAX_DIRS];
	int n_dirs;
	struct cgroup_setting settings[CGROUP_MAX_SETTINGS];
	int n_settings;
	char *procs[CGROUP_MAX_DIRS + 1];   /* NULL-terminated */
};

/* Looks at root ("/sys/fs/cgroup"): v2 when it is a cgroup2 mount that
 * offers the cpu and memory controllers, v1 when root/cpu and root/memory
 * are v1 hierarchies, else none, with why saying what is missing. */
void cgroup_probe(const char *root, struct cgroup_host *h, char *why, size_t n);

/* The name of a daemon's parent group ("nubo-<prefix>") and of a VM's group
 * below it ("vm-<id>" is the VM id itself). Pure. */
void cgroup_parent_name(const char *prefix, char out[32]);

/* The plan of the group of vm_id with vcpus CPUs of quota and memory_bytes
 * of memory (guest memory plus QEMU's own), for h's mode. Pure: no I/O.
 * Returns -1 (nothing to free) when h->mode is CGROUP_NONE. */
int cgroup_plan_build(const struct cgroup_host *h, const char *prefix, const char *vm_id, int vcpus,
		      int64_t memory_bytes, struct cgroup_plan *p);
void cgroup_plan_free(struct cgroup_plan *p);

/* Makes the group and sets its limits; idempotent (an existing group gets
 * its limits again). On failure nothing of the VM's group is left. */
int cgroup_apply(const struct cgroup_plan *p, struct err *e);

/* Removes vm_id's group; it must hold no process (QEMU has exited: a process
 * that is still going away is waited for, up to 2 s). A missing group is
 * success. Nothing to do in mode none. */
int cgroup_vm_remove(const struct cgroup_host *h, const char *prefix, const char *vm_id, struct err *e);

/* Removes the daemon's parent group and every VM group left in it (for
 * `nubod --destroy`, after every QEMU is gone). */
int cgroup_parent_remove(const struct cgroup_host *h, const char *prefix, struct err *e);

/* The CPU time (user and system, in µs) that vm_id's QEMU has used since it
 * started, read from its group: cpu.stat's usage_usec (v2), or cpuacct.usage
 * where v1's cpu hierarchy carries it, else the sum of utime and stime of
 * the processes in the group (v1 without cpuacct beside cpu). A counter: the
 * caller takes differences; a smaller value than before means a new QEMU.
 * *epoch_ms: when the counter started at 0 where that is known (else 0); a
 * new epoch is a new counter too. ERR_UNAVAILABLE in mode none, or when the
 * group is gone. */
int cgroup_cpu_usec(const struct cgroup_host *h, const char *prefix, const char *vm_id, uint64_t *usec,
		    int64_t *epoch_ms, struct err *e);
/* What the recording host (hostops.h) answers for cgroup_cpu_usec, a test
 * hook (no QEMU, no group): the file dry_dir/<vm_id>, or
 * else dry_dir/all, holds a number, the percent of one CPU the VM burns
 * ("90", "12.5"); the counter is that share of the time since the file was
 * last written, and its epoch the file's mtime, so writing a new value
 * starts a new counter, as a new QEMU would. No file: ERR_UNAVAILABLE (no
 * reading). */
int cgroup_cpu_usec_from_file(const char *dry_dir, const char *vm_id, uint64_t *usec, int64_t *epoch_ms,
			      struct err *e);

/* The memory (bytes) vm_id's group holds now: memory.current (v2) or
 * memory.usage_in_bytes (v1). ERR_UNAVAILABLE in mode none or when the
 * group is gone. */
int cgroup_memory_bytes(const struct cgroup_host *h, const char *prefix, const char *vm_id, int64_t *bytes,
			struct err *e);
