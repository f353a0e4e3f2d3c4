/*
 * qemu: the command line of one VM's QEMU, and starting, recognising and
 * stopping that process.
 *
 * The one idea: QEMU outlives nubod. It is started with -daemonize (its own
 * session, stdio on /dev/null) and -pidfile, and is later recognised by its
 * pid file plus "-name VMID" in /proc/<pid>/cmdline, so a restarted nubod
 * re-adopts every VM instead of starting or killing it. -no-shutdown keeps
 * QEMU alive after a guest power-off with QMP status "shutdown": that is how
 * nubo tells a clean shutdown (status "shutdown") from a crash (no process).
 *
 * Isolation: QEMU opens what the command line names as root, then drops to an
 * unprivileged user (-runas) under a seccomp filter (-sandbox) before it runs
 * the guest, inside the VM's own cgroup (see cgroup.h). Whatever QEMU opens
 * later (hot-plugged volumes, snapshot overlays, backup targets, a layer
 * reopened read-only) must therefore be reachable by that user: nubo hands
 * such files to it with qemu_file_owner().
 */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "host/accel.h"
#include "util/err.h"

struct qemu_nic {
	const char *tap;  /* existing persistent tap on a bridge */
	const char *mac;  /* "52:54:00:xx:xx:xx" */
};

/* A volume plugged at boot into hot-plug slot `slot` (node and device ids derive from id). */
struct qemu_volume { const char *id; const char *path; int slot; };

struct qemu_config {
	const char *binary;            /* NULL: "qemu-system-x86_64" */
	const char *vm_id;             /* -name; also how a process is recognised as ours;
					* and -uuid (qemu_vm_uuid), the guest's stable machine UUID */
	/* SMBIOS type 1 (system) serial number, or NULL: for a VM without a seed
	 * disk, where cloud-init finds its NoCloud source (model/imds.h). */
	const char *smbios_serial;
	enum accel accel;
	int vcpus, memory_mib;
	int max_vcpus;                 /* > vcpus: room for vCPUs hot-added later (-smp N,maxcpus=M) */
	int max_memory_mib;            /* > memory_mib: room for DIMMs hot-plugged later (-m N,slots=S,maxmem=M) */
	const char *kernel, *initrd, *cmdline;  /* direct boot; kernel NULL = firmware boot from the disk;
						 * initrd NULL: the kernel mounts its root itself */
	const char *firmware;          /* -bios: the ROM QEMU runs first; NULL: QEMU's own (SeaBIOS) */
	const char *root_disk;         /* qcow2; NULL: no disk (only useful in tests) */
	const char *seed_iso;          /* NULL: none */
	const char *ephemeral_disk;    /* qcow2 instance-store disk, NULL: none */
	const struct qemu_nic *nics;
	int n_nics;
	int hotplug_slots;             /* empty PCIe root ports "hp0".. for volumes plugged later */
	const struct qemu_volume *volumes;
	int n_volumes;
	const char *console_log;       /* serial output is appended here */
	const char *console_socket;    /* NULL: -serial file:LOG. Otherwise an interactive
					* unix socket for `nubo vm console`, still logged to console_log */
	const char *qmp_socket, *pidfile;
	const char *stderr_log;        /* QEMU's own messages are appended here; NULL: /dev/null */
	const char *run_as;            /* -runas: the user QEMU drops to; NULL: stays root (tests only) */
	const char *const *cgroup_procs; /* cgroup.procs files QEMU joins before it executes; NULL: none */
};

/* Under TCG, QEMU 7.2 reserves a translation cache of up to 1 GiB per VM by
 * default, which it fills as the guest runs new code; nubo bounds it so that
 * a VM's memory is guest memory plus a known overhead. */
#define QEMU_TCG_TB_MIB 64

/* Memory QEMU itself needs beside the guest's, for the VM's memory limit:
 * measured RSS of a busy tiny VM with a full translation cache, with room. */
int qemu_memory_overhead_mib(enum accel accel);

/* The unprivileged user QEMU runs as. */
struct qemu_user {
	char name[64];
	uid_t uid;
	gid_t gid;
};

/* Looks up name; an unknown user is an error saying how to create it. */
int qemu_user_lookup(const char *name, struct qemu_user *u, struct err *e);

/* chown + chmod of path, for files and directories QEMU reaches after it
 * dropped privileges. */
int qemu_file_owner(const char *path, uid_t uid, gid_t gid, mode_t mode, struct err *e);

/* The guest's machine UUID for a VM id "vm-" + 12 hex digits: the id in
 * the UUID's last group, under nubo's own prefix ("6e75626f" is "nubo"),
 * version 8 (RFC 9562: laid out by its maker) and the RFC variant:
 *   vm-3f9a1c0b2d4e → 6e75626f-0000-8000-8000-3f9a1c0b2d4e
 * So the guest (dmidecode, /sys/class/dmi/id/product_uuid, cloud-init)
 * sees the same UUID at every boot and a person can read the VM in it.
 * false, out empty, for an id of any other shape. */
bool qemu_vm_uuid(const char *vm_id, char out[37]);

/* The NULL-terminated argv for c; free with qemu_argv_free. Pure: no I/O.
 * Values embedded in QEMU option lists (file=, ifname=, ...) have their commas
 * doubled as QEMU requires. */
char **qemu_argv_build(const struct qemu_config *c);
void qemu_argv_free(char **argv);   /* NULL safe */

/* Starts QEMU detached (its own session, outliving nubod) and returns without
 * waiting for it to set up: qemu_ready says when it has. If a QEMU for
 * c->vm_id already runs from c->pidfile, nothing is started and *pid is that
 * process (idempotent). */
int qemu_launch(const struct qemu_config *c, int *pid, struct err *e);
/* Only the spawn of qemu_launch: no pid file is read. Under the runner's
 * dry-run (the recording host) the command line is captured and *pid = 0. */
int qemu_spawn(const struct qemu_config *c, int *pid, struct err *e);

/* How long qemu_ready waits for a listening QMP socket's greeting. */
#define QEMU_READY_POLL_MS 20

/* Whether a launched QEMU has set up its VM: 1 once it answers on QMP, 0 not
 * yet (ask again later; waits at most QEMU_READY_POLL_MS), or a negative code
 * when it has exited, e quoting the last line of its stderr_log. */
int qemu_ready(int pid, const char *vm_id, const char *qmp_socket, const char *stderr_log, struct err *e);

/* True when pid is alive and its /proc/<pid>/cmdline carries "-name" vm_id
 * (guards against pid reuse). */
bool qemu_alive(int pid, const char *vm_id);

/* The pid of the running QEMU for vm_id named in pidfile (adoption after a
 * nubod restart); 0 if none. */
int qemu_pid_from_file(const char *pidfile, const char *vm_id);

/* Waits up to timeout_ms for the QEMU of vm_id to exit (after qmp_quit or a
 * guest power-off without -no-shutdown); true if it did. */
bool qemu_wait_exit(int pid, const char *vm_id, int timeout_ms);

/* Last resort when QMP does not answer: SIGTERM (QEMU exits even with
 * -no-shutdown), then SIGKILL after timeout_ms. Already gone is success. */
int qemu_kill(int pid, const char *vm_id, int timeout_ms, struct err *e);
