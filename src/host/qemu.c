/* qemu: argv, detached launch, adoption by pid file (see qemu.h). */
#include "host/qemu.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/proc.h"
#include "host/qmp.h"
#include "host/resize.h"
#include "util/runner.h"
#include "util/str.h"
#include "util/timeutil.h"

/*
 * The seccomp filter. QEMU 7.2 installs it while it parses its options, long
 * before -runas takes effect, so:
 *   - elevateprivileges=deny would kill QEMU at its own setgid/setuid for
 *     -runas (SIGSYS; measured), so it stays allowed. The user has no
 *     capabilities and libseccomp sets no_new_privs, so set*id cannot gain
 *     anything after the drop.
 *   - spawn=deny forbids fork and exec, which -daemonize needs; so nubo does
 *     not use -daemonize and detaches QEMU itself (runner_spawn).
 */
/* QEMU's own memory beside the guest's and the translation cache. Measured
 * under TCG with QEMU 7.2: a micro VM (512 MiB) whose guest filled all its
 * memory (tmpfs) while burning CPU peaked at 146 MiB of RSS above guest
 * memory with tb-size=64, so about 82 MiB besides the cache; this leaves
 * room for block caches and hot-plugged devices. KVM is the same QEMU
 * without the translation cache. */
#define QEMU_OVERHEAD_BASE_MIB 160

#define QEMU_SANDBOX "on,obsolete=deny,spawn=deny,resourcecontrol=deny"

/* QEMU option lists are comma separated; a literal comma in a value is
 * written as two. Caller frees. */
static char *opt_escape(const char *s)
{
	struct sbuf b = {0};
	for (; *s; s++) {
		if (*s == ',')
			sbuf_add(&b, ",,");
		else
			sbuf_addn(&b, s, 1);
	}
	return sbuf_take(&b);
}

/* A growing argv whose strings are all owned by it. */
struct argv_buf {
	char **v;
	int n, cap;
};

static void arg_own(struct argv_buf *a, char *s)
{
	if (a->n + 2 > a->cap) {
		a->cap = a->cap ? a->cap * 2 : 64;
		a->v = xrealloc(a->v, (size_t)a->cap * sizeof(*a->v));
	}
	a->v[a->n++] = s;
	a->v[a->n] = NULL;
}

static void arg(struct argv_buf *a, const char *s)
{
	arg_own(a, xstrdup(s));
}

__attribute__((format(printf, 2, 3))) static void argf(struct argv_buf *a, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = NULL;
	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	va_end(ap);
	arg_own(a, s);
}

bool qemu_vm_uuid(const char *vm_id, char out[37])
{
	out[0] = '\0';
	if (!vm_id || strlen(vm_id) != 15 || strncmp(vm_id, "vm-", 3) != 0 ||
	    strspn(vm_id + 3, "0123456789abcdef") != 12)
		return false;
	snprintf(out, 37, "6e75626f-0000-8000-8000-%s", vm_id + 3);
	return true;
}

char **qemu_argv_build(const struct qemu_config *c)
{
	struct argv_buf a = {0};
	char uuid[37];
	int vcpus = c->vcpus > 0 ? c->vcpus : 1;
	int max_vcpus = c->max_vcpus > vcpus ? c->max_vcpus : vcpus;
	arg(&a, c->binary ? c->binary : "qemu-system-x86_64");
	arg(&a, "-name");
	arg(&a, c->vm_id);
	/* Without -uuid QEMU gives every guest the nil UUID: cloud-init and
	 * others could not tell one VM from another by it. */
	if (qemu_vm_uuid(c->vm_id, uuid)) {
		arg(&a, "-uuid");
		arg(&a, uuid);
	}
	if (c->smbios_serial) {
		autofree char *serial = opt_escape(c->smbios_serial);
		arg(&a, "-smbios");
		argf(&a, "type=1,serial=%s", serial);
	}

	/* "-machine accel=" and "-accel" cannot be combined (QEMU refuses), so
	 * multi-threaded TCG, which needs -accel, moves the accelerator there. */
	if (c->accel == ACCEL_KVM) {
		arg(&a, "-machine");
		arg(&a, "q35,accel=kvm");
		arg(&a, "-cpu");
		arg(&a, "host");
	} else {
		arg(&a, "-machine");
		arg(&a, "q35");
		arg(&a, "-accel");
		/* Multi-threaded TCG in QEMU 7.2 cannot take a hot-added vCPU:
		 * each new vCPU thread claims a translation-cache region and a
		 * context that are never given back, and QEMU aborts
		 * ("tcg_region_initial_alloc__locked: assertion failed", seen
		 * on the first hot-add once the running vCPU had used the
		 * regions). Single-threaded TCG shares one context among all
		 * vCPUs, so a VM with room to grow runs its vCPUs in turn on
		 * one host thread. KVM has no such limit. */
		const char *threads = max_vcpus > vcpus ? "thread=single," : vcpus > 1 ? "thread=multi," : "";
		argf(&a, "tcg,%stb-size=%d", threads, QEMU_TCG_TB_MIB);
		arg(&a, "-cpu");
		arg(&a, "max");
	}
	arg(&a, "-smp");
	if (max_vcpus > vcpus)
		argf(&a, "%d,maxcpus=%d", vcpus, max_vcpus);
	else
		argf(&a, "%d", vcpus);
	arg(&a, "-m");
	if (c->max_memory_mib > c->memory_mib)
		argf(&a, "%d,slots=%d,maxmem=%dM", c->memory_mib, RESIZE_DIMM_SLOTS, c->max_memory_mib);
	else
		argf(&a, "%d", c->memory_mib);
	/* Nothing QEMU would add on its own: every device is listed below. */
	arg(&a, "-nodefaults");
	arg(&a, "-no-user-config");
	arg(&a, "-display");
	arg(&a, "none");
	arg(&a, "-vga");
	arg(&a, "none");
	arg(&a, "-no-shutdown");
	if (c->firmware) {
		arg(&a, "-bios");
		arg(&a, c->firmware);
	}

	if (c->kernel) {
		arg(&a, "-kernel");
		arg(&a, c->kernel);
		if (c->initrd) {
			arg(&a, "-initrd");
			arg(&a, c->initrd);
		}
		if (c->cmdline) {
			arg(&a, "-append");
			arg(&a, c->cmdline);
		}
	}
	if (c->root_disk) {
		autofree char *f = opt_escape(c->root_disk);
		arg(&a, "-drive");
		argf(&a, "file=%s,if=none,id=root,format=qcow2,discard=unmap", f);
		arg(&a, "-device");
		/* Firmware boot: make the root disk the boot disk whatever the
		 * PCI order; with -kernel the firmware does not look at disks. */
		arg(&a, c->kernel ? "virtio-blk-pci,drive=root" : "virtio-blk-pci,drive=root,bootindex=1");
	}
	if (c->seed_iso) {
		autofree char *f = opt_escape(c->seed_iso);
		arg(&a, "-drive");
		argf(&a, "file=%s,if=none,id=seed,format=raw,readonly=on", f);
		arg(&a, "-device");
		arg(&a, "virtio-blk-pci,drive=seed");
	}
	if (c->ephemeral_disk) {
		autofree char *f = opt_escape(c->ephemeral_disk);
		arg(&a, "-drive");
		argf(&a, "file=%s,if=none,id=ephemeral,format=qcow2,discard=unmap", f);
		arg(&a, "-device");
		arg(&a, "virtio-blk-pci,drive=ephemeral,serial=ephemeral");
	}
	for (int i = 0; i < c->n_nics; i++) {
		autofree char *tap = opt_escape(c->nics[i].tap);
		arg(&a, "-netdev");
		argf(&a, "tap,id=n%d,ifname=%s,script=no,downscript=no", i, tap);
		arg(&a, "-device");
		argf(&a, "virtio-net-pci,netdev=n%d,mac=%s", i, c->nics[i].mac);
	}
	/* q35 cannot hot-plug into its root bus: each slot is a PCIe root port,
	 * and a volume (at boot or later) is a virtio-blk device on one. Volumes
	 * are -blockdev nodes so that detaching is the same at any time. */
	for (int i = 0; i < c->hotplug_slots; i++) {
		arg(&a, "-device");
		argf(&a, "pcie-root-port,id=hp%d,chassis=%d", i, i + 1);
	}
	for (int i = 0; i < c->n_volumes; i++) {
		autofree char *f = opt_escape(c->volumes[i].path);
		arg(&a, "-blockdev");
		argf(&a, "driver=qcow2,node-name=%s,file.driver=file,file.filename=%s", c->volumes[i].id, f);
		arg(&a, "-device");
		argf(&a, "virtio-blk-pci,drive=%s,id=dev-%s,bus=hp%d,serial=%s", c->volumes[i].id, c->volumes[i].id,
		     c->volumes[i].slot, c->volumes[i].id);
	}
	if (c->console_socket) {
		autofree char *sock = opt_escape(c->console_socket);
		arg(&a, "-chardev");
		if (c->console_log) {
			autofree char *log = opt_escape(c->console_log);
			argf(&a, "socket,id=console,path=%s,server=on,wait=off,logfile=%s,logappend=on", sock, log);
		} else {
			argf(&a, "socket,id=console,path=%s,server=on,wait=off", sock);
		}
		arg(&a, "-serial");
		arg(&a, "chardev:console");
	} else if (c->console_log) {
		/* -serial file: takes the rest of the string as the path, no escaping. */
		arg(&a, "-serial");
		argf(&a, "file:%s", c->console_log);
	}
	if (c->qmp_socket) {
		autofree char *sock = opt_escape(c->qmp_socket);
		arg(&a, "-qmp");
		argf(&a, "unix:%s,server=on,wait=off", sock);
	}
	if (c->pidfile) {
		arg(&a, "-pidfile");
		arg(&a, c->pidfile);
	}
	if (c->run_as) {
		arg(&a, "-runas");
		arg(&a, c->run_as);
	}
	arg(&a, "-sandbox");
	arg(&a, QEMU_SANDBOX);
	return a.v;
}

void qemu_argv_free(char **argv)
{
	if (!argv)
		return;
	for (char **p = argv; *p; p++)
		free(*p);
	free(argv);
}

bool qemu_alive(int pid, const char *vm_id)
{
	return proc_has_args(pid, "-name", vm_id);
}

int qemu_pid_from_file(const char *pidfile, const char *vm_id)
{
	int pid = proc_pidfile_read(pidfile);
	return pid && proc_has_args(pid, "-name", vm_id) ? pid : 0;
}

int qemu_memory_overhead_mib(enum accel accel)
{
	/* See QEMU_TCG_TB_MIB: under TCG the translation cache comes on top. */
	return accel == ACCEL_KVM ? QEMU_OVERHEAD_BASE_MIB : QEMU_OVERHEAD_BASE_MIB + QEMU_TCG_TB_MIB;
}

int qemu_user_lookup(const char *name, struct qemu_user *u, struct err *e)
{
	memset(u, 0, sizeof(*u));
	struct passwd pw, *found = NULL;
	char buf[4096];
	int rc = getpwnam_r(name, &pw, buf, sizeof(buf), &found);
	if (rc != 0 || !found)
		return err_set(e, ERR_INTERNAL,
			       "qemu_user \"%s\" does not exist%s%s; create it (useradd --system --no-create-home "
			       "--shell /usr/sbin/nologin %s) or name another in nubod's config",
			       name, rc ? ": " : "", rc ? strerror(rc) : "", name);
	if (found->pw_uid == 0)
		return err_set(e, ERR_INVALID, "qemu_user \"%s\" is root; QEMU must run as an unprivileged user", name);
	snprintf(u->name, sizeof(u->name), "%s", name);
	u->uid = found->pw_uid;
	u->gid = found->pw_gid;
	return 0;
}

int qemu_file_owner(const char *path, uid_t uid, gid_t gid, mode_t mode, struct err *e)
{
	if (chown(path, uid, gid) < 0 || chmod(path, mode) < 0)
		return err_set(e, ERR_INTERNAL, "cannot hand %s to uid %u: %s", path, (unsigned)uid, strerror(errno));
	return 0;
}

/* The last line QEMU wrote to its log, for an error message; "" if none. */
static void last_line(const char *path, char *out, size_t n)
{
	out[0] = '\0';
	if (!path)
		return;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	char buf[2048];
	off_t size = lseek(fd, 0, SEEK_END);
	off_t from = size > (off_t)sizeof(buf) - 1 ? size - (off_t)sizeof(buf) + 1 : 0;
	ssize_t got = pread(fd, buf, sizeof(buf) - 1, from);
	close(fd);
	if (got <= 0)
		return;
	buf[got] = '\0';
	while (got > 0 && (buf[got - 1] == '\n' || buf[got - 1] == ' '))
		buf[--got] = '\0';
	const char *start = strrchr(buf, '\n');
	start = start ? start + 1 : buf;
	size_t len = strnlen(start, n - 1);
	memcpy(out, start, len);
	out[len] = '\0';
}

/* Waits until QEMU answers on QMP (its set-up is done) or exits. */
int qemu_ready(int pid, const char *vm_id, const char *qmp_socket, const char *stderr_log, struct err *e)
{
	if (!proc_has_args(pid, "-name", vm_id)) {
		char why[512];
		last_line(stderr_log, why, sizeof(why));
		if (why[0])
			return err_set(e, ERR_INTERNAL, "QEMU for %s exited during start-up: %s", vm_id, why);
		return err_set(e, ERR_INTERNAL, "QEMU for %s exited during start-up without a message", vm_id);
	}
	/* A QEMU still setting up has its socket listening but greets only from
	 * its main loop: a short wait, the caller asks again later. */
	struct qmp *q = NULL;
	struct err qe = {0};
	if (qmp_open(qmp_socket, QEMU_READY_POLL_MS, &q, &qe) < 0)
		return 0;
	qmp_close(q);
	return 1;
}

static int vm_id_check(const struct qemu_config *c, struct err *e)
{
	if (!c->vm_id || !*c->vm_id || strchr(c->vm_id, ','))
		return err_set(e, ERR_INTERNAL, "cannot start QEMU: vm id \"%s\" is empty or holds a comma",
			       c->vm_id ? c->vm_id : "");
	return 0;
}

int qemu_spawn(const struct qemu_config *c, int *pid, struct err *e)
{
	*pid = 0;
	if (vm_id_check(c, e) < 0)
		return -1;
	char **argv = qemu_argv_build(c);
	struct run_opts o = {.join_files = c->cgroup_procs, .output_file = c->stderr_log};
	int rc = runner_spawn((const char *const *)argv, &o, pid, e);
	qemu_argv_free(argv);
	if (rc < 0)
		err_prefix(e, "cannot start QEMU for %s", c->vm_id);
	return rc;
}

int qemu_launch(const struct qemu_config *c, int *pid, struct err *e)
{
	*pid = 0;
	if (vm_id_check(c, e) < 0)
		return -1;
	if (!c->pidfile || !c->qmp_socket)
		return err_set(e, ERR_INTERNAL, "cannot start QEMU for %s: no %s given", c->vm_id,
			       !c->pidfile ? "pid file" : "QMP socket");
	int running = qemu_pid_from_file(c->pidfile, c->vm_id);
	if (running) {
		*pid = running;
		return 0;
	}
	return qemu_spawn(c, pid, e);
}

bool qemu_wait_exit(int pid, const char *vm_id, int timeout_ms)
{
	return proc_wait_gone(pid, "-name", vm_id, timeout_ms);
}

int qemu_kill(int pid, const char *vm_id, int timeout_ms, struct err *e)
{
	autofree char *what = xasprintf("QEMU of %s", vm_id);
	return proc_terminate(pid, "-name", vm_id, timeout_ms, what, e);
}
