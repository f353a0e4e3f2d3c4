/* qemu: argv, launch with -daemonize, adoption by pid file (see qemu.h). */
#include "host/qemu.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/proc.h"
#include "util/runner.h"
#include "util/str.h"

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

char **qemu_argv_build(const struct qemu_config *c)
{
	struct argv_buf a = {0};
	arg(&a, c->binary ? c->binary : "qemu-system-x86_64");
	arg(&a, "-name");
	arg(&a, c->vm_id);

	/* "-machine accel=" and "-accel" cannot be combined (QEMU refuses), so
	 * multi-threaded TCG, which needs -accel, moves the accelerator there. */
	if (c->accel == ACCEL_KVM) {
		arg(&a, "-machine");
		arg(&a, "q35,accel=kvm");
		arg(&a, "-cpu");
		arg(&a, "host");
	} else if (c->vcpus > 1) {
		arg(&a, "-machine");
		arg(&a, "q35");
		arg(&a, "-accel");
		arg(&a, "tcg,thread=multi");
		arg(&a, "-cpu");
		arg(&a, "max");
	} else {
		arg(&a, "-machine");
		arg(&a, "q35,accel=tcg");
		arg(&a, "-cpu");
		arg(&a, "max");
	}
	arg(&a, "-smp");
	argf(&a, "%d", c->vcpus > 0 ? c->vcpus : 1);
	arg(&a, "-m");
	argf(&a, "%d", c->memory_mib);
	/* Nothing QEMU would add on its own: every device is listed below. */
	arg(&a, "-nodefaults");
	arg(&a, "-no-user-config");
	arg(&a, "-display");
	arg(&a, "none");
	arg(&a, "-vga");
	arg(&a, "none");
	arg(&a, "-no-shutdown");

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
	arg(&a, "-daemonize");
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
	if (runner_dry_run())
		return true;
	return proc_has_args(pid, "-name", vm_id);
}

int qemu_pid_from_file(const char *pidfile, const char *vm_id)
{
	if (runner_dry_run())
		return 0;
	int pid = proc_pidfile_read(pidfile);
	return pid && proc_has_args(pid, "-name", vm_id) ? pid : 0;
}

int qemu_launch(const struct qemu_config *c, int *pid, struct err *e)
{
	*pid = 0;
	if (!c->vm_id || !*c->vm_id || strchr(c->vm_id, ','))
		return err_set(e, ERR_INTERNAL, "cannot start QEMU: vm id \"%s\" is empty or holds a comma",
			       c->vm_id ? c->vm_id : "");
	if (!c->pidfile && !runner_dry_run())
		return err_set(e, ERR_INTERNAL, "cannot start QEMU for %s: no pid file given", c->vm_id);
	int running = qemu_pid_from_file(c->pidfile, c->vm_id);
	if (running) {
		*pid = running;
		return 0;
	}
	char **argv = qemu_argv_build(c);
	/* -daemonize: the process we run exits once the VM is set up (or failed
	 * to be), so the runner's wait is the start-up check. */
	struct run_opts o = {.timeout_ms = 60000};
	int rc = runner_run((const char *const *)argv, &o, NULL, e);
	qemu_argv_free(argv);
	if (rc < 0) {
		err_prefix(e, "cannot start QEMU for %s", c->vm_id);
		return rc;
	}
	if (runner_dry_run())
		return 0;
	int p = proc_pidfile_read(c->pidfile);
	if (!p || !proc_has_args(p, "-name", c->vm_id))
		return err_set(e, ERR_INTERNAL, "QEMU for %s started but %s names no running QEMU (it may have exited at once; see %s)",
			       c->vm_id, c->pidfile, c->console_log ? c->console_log : "its console log");
	*pid = p;
	return 0;
}

bool qemu_wait_exit(int pid, const char *vm_id, int timeout_ms)
{
	if (runner_dry_run())
		return true;
	return proc_wait_gone(pid, "-name", vm_id, timeout_ms);
}

int qemu_kill(int pid, const char *vm_id, int timeout_ms, struct err *e)
{
	if (runner_dry_run()) {
		runner_capture_note("kill qemu %s", vm_id);
		return 0;
	}
	autofree char *what = xasprintf("QEMU of %s", vm_id);
	return proc_terminate(pid, "-name", vm_id, timeout_ms, what, e);
}
