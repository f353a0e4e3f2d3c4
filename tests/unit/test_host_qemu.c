/* Unit tests for host/qemu: the exact QEMU command line for each shape of VM,
 * and what qemu_launch hands to the runner in dry-run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pthread.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <jansson.h>

#include "host/hostops.h"
#include "host/qemu.h"
#include "host/qmp.h"
#include "util/runner.h"

static const struct qemu_nic one_nic[] = {{"nbt1", "52:54:00:12:34:56"}};
static const struct qemu_nic two_nics[] = {{"nbt1", "52:54:00:12:34:56"}, {"nbt2", "52:54:00:ab:cd:ef"}};

/* Every QEMU drops to its user and runs under seccomp; no -daemonize (which
 * spawn=deny forbids): nubo detaches QEMU itself. */
#define ISOLATION " -runas nubo-qemu -sandbox on,obsolete=deny,spawn=deny,resourcecontrol=deny"

/* A direct-boot VM as nubo starts them; tests change one thing at a time. */
static struct qemu_config base_config(void)
{
	return (struct qemu_config){
		.vm_id = "vm-0123456789ab",
		.accel = ACCEL_TCG,
		.vcpus = 1,
		.memory_mib = 512,
		.kernel = "/s/images/img-1/kernel",
		.initrd = "/s/images/img-1/initrd",
		.cmdline = "console=ttyS0 root=/dev/vda rw",
		.root_disk = "/s/vms/vm-0123456789ab/root.qcow2",
		.seed_iso = "/s/vms/vm-0123456789ab/seed.iso",
		.nics = one_nic,
		.n_nics = 1,
		.console_log = "/s/vms/vm-0123456789ab/console.log",
		.qmp_socket = "/s/vms/vm-0123456789ab/qmp.sock",
		.pidfile = "/s/vms/vm-0123456789ab/qemu.pid",
		.run_as = "nubo-qemu",
	};
}

static void assert_argv(const struct qemu_config *c, const char *expected)
{
	char **argv = qemu_argv_build(c);
	char *line = runner_format_argv((const char *const *)argv);
	assert_string_equal(line, expected);
	free(line);
	qemu_argv_free(argv);
}

#define DISKS_AND_TAIL \
	" -drive file=/s/vms/vm-0123456789ab/root.qcow2,if=none,id=root,format=qcow2,discard=unmap" \
	" -device virtio-blk-pci,drive=root" \
	" -drive file=/s/vms/vm-0123456789ab/seed.iso,if=none,id=seed,format=raw,readonly=on" \
	" -device virtio-blk-pci,drive=seed" \
	" -netdev tap,id=n0,ifname=nbt1,script=no,downscript=no" \
	" -device virtio-net-pci,netdev=n0,mac=52:54:00:12:34:56" \
	" -serial file:/s/vms/vm-0123456789ab/console.log" \
	" -qmp unix:/s/vms/vm-0123456789ab/qmp.sock,server=on,wait=off" \
	" -pidfile /s/vms/vm-0123456789ab/qemu.pid" ISOLATION

#define COMMON_HEAD " -nodefaults -no-user-config -display none -vga none -no-shutdown" \
	" -kernel /s/images/img-1/kernel -initrd /s/images/img-1/initrd -append 'console=ttyS0 root=/dev/vda rw'"

static void test_tcg_one_vcpu(void **state)
{
	(void)state;
	struct qemu_config c = base_config();
	assert_argv(&c, "qemu-system-x86_64 -name vm-0123456789ab -uuid 6e75626f-0000-8000-8000-0123456789ab -machine q35 -accel tcg,tb-size=64 -cpu max -smp 1 -m 512"
			COMMON_HEAD DISKS_AND_TAIL);
}

static void test_tcg_two_vcpus_uses_multithreaded_tcg(void **state)
{
	(void)state;
	struct qemu_config c = base_config();
	c.vcpus = 2;
	c.memory_mib = 1024;
	/* QEMU refuses "-machine accel=" together with "-accel". */
	assert_argv(&c, "qemu-system-x86_64 -name vm-0123456789ab -uuid 6e75626f-0000-8000-8000-0123456789ab -machine q35 -accel tcg,thread=multi,tb-size=64 -cpu max"
			" -smp 2 -m 1024" COMMON_HEAD DISKS_AND_TAIL);
}

/* Room to hot-add vCPUs: maxcpus, and single-threaded TCG, because QEMU
 * 7.2's multi-threaded TCG aborts on a hot-added vCPU (see qemu.c). */
static void test_tcg_room_for_hot_added_vcpus(void **state)
{
	(void)state;
	struct qemu_config c = base_config();
	c.vcpus = 1;
	c.max_vcpus = 4;
	assert_argv(&c, "qemu-system-x86_64 -name vm-0123456789ab -uuid 6e75626f-0000-8000-8000-0123456789ab -machine q35 -accel tcg,thread=single,tb-size=64 -cpu max"
			" -smp 1,maxcpus=4 -m 512" COMMON_HEAD DISKS_AND_TAIL);
	c.vcpus = 2;   /* shrunk offline below its ceiling: still room, still single */
	assert_argv(&c, "qemu-system-x86_64 -name vm-0123456789ab -uuid 6e75626f-0000-8000-8000-0123456789ab -machine q35 -accel tcg,thread=single,tb-size=64 -cpu max"
			" -smp 2,maxcpus=4 -m 512" COMMON_HEAD DISKS_AND_TAIL);
}

/* A ceiling at or below the vCPUs asked for adds nothing. */
static void test_kvm_ceiling_not_above_vcpus(void **state)
{
	(void)state;
	struct qemu_config c = base_config();
	c.accel = ACCEL_KVM;
	c.vcpus = 2;
	c.max_vcpus = 2;
	assert_argv(&c, "qemu-system-x86_64 -name vm-0123456789ab -uuid 6e75626f-0000-8000-8000-0123456789ab -machine q35,accel=kvm -cpu host -smp 2 -m 512"
			COMMON_HEAD DISKS_AND_TAIL);
	c.max_vcpus = 1;
	assert_argv(&c, "qemu-system-x86_64 -name vm-0123456789ab -uuid 6e75626f-0000-8000-8000-0123456789ab -machine q35,accel=kvm -cpu host -smp 2 -m 512"
			COMMON_HEAD DISKS_AND_TAIL);
	c.max_vcpus = 8;
	assert_argv(&c, "qemu-system-x86_64 -name vm-0123456789ab -uuid 6e75626f-0000-8000-8000-0123456789ab -machine q35,accel=kvm -cpu host -smp 2,maxcpus=8 -m 512"
			COMMON_HEAD DISKS_AND_TAIL);
	/* Room for memory: DIMM slots up to the ceiling; none without it. */
	c.max_memory_mib = 2048;
	assert_argv(&c, "qemu-system-x86_64 -name vm-0123456789ab -uuid 6e75626f-0000-8000-8000-0123456789ab -machine q35,accel=kvm -cpu host -smp 2,maxcpus=8 -m 512,slots=16,maxmem=2048M"
			COMMON_HEAD DISKS_AND_TAIL);
	c.max_memory_mib = 512;
	assert_argv(&c, "qemu-system-x86_64 -name vm-0123456789ab -uuid 6e75626f-0000-8000-8000-0123456789ab -machine q35,accel=kvm -cpu host -smp 2,maxcpus=8 -m 512"
			COMMON_HEAD DISKS_AND_TAIL);
}

static void test_kvm(void **state)
{
	(void)state;
	struct qemu_config c = base_config();
	c.accel = ACCEL_KVM;
	c.vcpus = 4;
	assert_argv(&c, "qemu-system-x86_64 -name vm-0123456789ab -uuid 6e75626f-0000-8000-8000-0123456789ab -machine q35,accel=kvm -cpu host -smp 4 -m 512"
			COMMON_HEAD DISKS_AND_TAIL);
}

static void test_without_seed_two_nics_custom_binary(void **state)
{
	(void)state;
	struct qemu_config c = base_config();
	c.binary = "/opt/qemu/bin/qemu-system-x86_64";
	c.seed_iso = NULL;
	c.nics = two_nics;
	c.n_nics = 2;
	/* Without a seed, the SMBIOS serial points cloud-init at the metadata service. */
	c.smbios_serial = "ds=nocloud-net;s=http://169.254.169.254/nocloud/0123456789abcdef0123456789abcdef/";
	assert_argv(&c, "/opt/qemu/bin/qemu-system-x86_64 -name vm-0123456789ab -uuid 6e75626f-0000-8000-8000-0123456789ab"
			" -smbios 'type=1,serial=ds=nocloud-net;s=http://169.254.169.254/nocloud/0123456789abcdef0123456789abcdef/'"
			" -machine q35 -accel tcg,tb-size=64 -cpu max -smp 1 -m 512"
			COMMON_HEAD
			" -drive file=/s/vms/vm-0123456789ab/root.qcow2,if=none,id=root,format=qcow2,discard=unmap"
			" -device virtio-blk-pci,drive=root"
			" -netdev tap,id=n0,ifname=nbt1,script=no,downscript=no"
			" -device virtio-net-pci,netdev=n0,mac=52:54:00:12:34:56"
			" -netdev tap,id=n1,ifname=nbt2,script=no,downscript=no"
			" -device virtio-net-pci,netdev=n1,mac=52:54:00:ab:cd:ef"
			" -serial file:/s/vms/vm-0123456789ab/console.log"
			" -qmp unix:/s/vms/vm-0123456789ab/qmp.sock,server=on,wait=off"
			" -pidfile /s/vms/vm-0123456789ab/qemu.pid" ISOLATION);
}

/* A kernel with its drivers built in boots without an initrd; qboot, the
 * firmware of direct boots, goes in as -bios before the kernel. */
static void test_direct_boot_qboot_without_initrd(void **state)
{
	(void)state;
	struct qemu_config c = base_config();
	c.initrd = NULL;
	c.firmware = "/usr/share/qemu/qboot.rom";
	assert_argv(&c, "qemu-system-x86_64 -name vm-0123456789ab -uuid 6e75626f-0000-8000-8000-0123456789ab -machine q35 -accel tcg,tb-size=64 -cpu max -smp 1 -m 512"
			" -nodefaults -no-user-config -display none -vga none -no-shutdown"
			" -bios /usr/share/qemu/qboot.rom"
			" -kernel /s/images/img-1/kernel -append 'console=ttyS0 root=/dev/vda rw'"
			DISKS_AND_TAIL);
}

static void test_firmware_boot_and_console_socket(void **state)
{
	(void)state;
	struct qemu_config c = base_config();
	c.kernel = c.initrd = c.cmdline = NULL;
	c.seed_iso = NULL;
	c.n_nics = 0;
	c.root_disk = "/s/dir,with,commas/root.qcow2";
	c.console_socket = "/s/vms/vm-0123456789ab/console.sock";
	assert_argv(&c, "qemu-system-x86_64 -name vm-0123456789ab -uuid 6e75626f-0000-8000-8000-0123456789ab -machine q35 -accel tcg,tb-size=64 -cpu max -smp 1 -m 512"
			" -nodefaults -no-user-config -display none -vga none -no-shutdown"
			" -drive file=/s/dir,,with,,commas/root.qcow2,if=none,id=root,format=qcow2,discard=unmap"
			" -device virtio-blk-pci,drive=root,bootindex=1"
			" -chardev socket,id=console,path=/s/vms/vm-0123456789ab/console.sock,server=on,wait=off,"
			"logfile=/s/vms/vm-0123456789ab/console.log,logappend=on"
			" -serial chardev:console"
			" -qmp unix:/s/vms/vm-0123456789ab/qmp.sock,server=on,wait=off"
			" -pidfile /s/vms/vm-0123456789ab/qemu.pid" ISOLATION);
}

static void test_without_user_still_sandboxed(void **state)
{
	(void)state;
	struct qemu_config c = base_config();
	c.run_as = NULL;
	char **argv = qemu_argv_build(&c);
	char *line = runner_format_argv((const char *const *)argv);
	assert_null(strstr(line, "-runas"));
	assert_non_null(strstr(line, " -sandbox on,obsolete=deny,spawn=deny,resourcecontrol=deny"));
	assert_null(strstr(line, "-daemonize"));
	free(line);
	qemu_argv_free(argv);
}

static void test_tcg_memory_overhead_covers_translation_cache(void **state)
{
	(void)state;
	/* The cgroup limit is guest memory plus this: under TCG it must hold the
	 * translation cache QEMU is told to keep (tb-size) and more. */
	assert_true(qemu_memory_overhead_mib(ACCEL_TCG) > QEMU_TCG_TB_MIB);
	assert_true(qemu_memory_overhead_mib(ACCEL_KVM) < qemu_memory_overhead_mib(ACCEL_TCG));
	assert_true(qemu_memory_overhead_mib(ACCEL_KVM) > 0);
}

static void test_launch_dry_run_captures_command(void **state)
{
	(void)state;
	runner_set_dry_run(true);
	free(runner_take_capture());
	struct qemu_config c = base_config();
	int pid = -1;
	struct err e = {0};
	assert_int_equal(hostops_recording.qemu_launch(&c, &pid, &e), 0);
	assert_int_equal(pid, 0);
	/* recorded as running: "-1", a QEMU without a process */
	assert_int_equal(hostops_recording.qemu_pid_from_file(c.pidfile, c.vm_id), -1);
	assert_true(hostops_recording.qemu_alive(-1, c.vm_id));
	hostops_recording_reset();
	char *cap = runner_take_capture();
	assert_string_equal(cap, "qemu-system-x86_64 -name vm-0123456789ab -uuid 6e75626f-0000-8000-8000-0123456789ab -machine q35 -accel tcg,tb-size=64 -cpu max -smp 1 -m 512"
				 COMMON_HEAD DISKS_AND_TAIL "\n");
	free(cap);
	runner_set_dry_run(false);
}

/* The machine UUID carries the VM's id; a serial's commas are doubled. */
static void test_uuid_and_smbios_serial(void **state)
{
	(void)state;
	char uuid[37];
	assert_true(qemu_vm_uuid("vm-3f9a1c0b2d4e", uuid));
	assert_string_equal(uuid, "6e75626f-0000-8000-8000-3f9a1c0b2d4e");
	const char *bad[] = {"vm-3f9a1c0b2d4", "vm-3f9a1c0b2d4e0", "vm-3F9A1C0B2D4E", "xx-3f9a1c0b2d4e", "vm-3f9a1c0b2d4g", "", NULL};
	for (int i = 0; i < 7; i++) {
		assert_false(qemu_vm_uuid(bad[i], uuid));
		assert_string_equal(uuid, "");
	}
	struct qemu_config c = base_config();
	c.vm_id = "test";   /* no UUID for an id of another shape */
	c.smbios_serial = "a,b";
	char **argv = qemu_argv_build(&c);
	char *line = runner_format_argv((const char *const *)argv);
	assert_non_null(strstr(line, "-name test -smbios type=1,serial=a,,b -machine"));
	assert_null(strstr(line, "-uuid"));
	free(line);
	qemu_argv_free(argv);
}

static void test_launch_rejects_comma_in_vm_id(void **state)
{
	(void)state;
	runner_set_dry_run(true);
	struct qemu_config c = base_config();
	c.vm_id = "vm-1,debug-threads=on";
	int pid;
	struct err e = {0};
	assert_true(qemu_launch(&c, &pid, &e) < 0);
	assert_int_equal(e.kind, ERR_INTERNAL);
	char *cap = runner_take_capture();
	assert_string_equal(cap, "");
	free(cap);
	runner_set_dry_run(false);
}

/* The recording host answers QMP itself and notes each effect in the
 * runner's capture, in order with the commands. */
static void test_qmp_dry_run_notes(void **state)
{
	(void)state;
	runner_set_dry_run(true);
	free(runner_take_capture());
	char status[32];
	struct err e = {0};
	const struct host_ops *h = &hostops_recording;
	assert_int_equal(h->qemu_status("/s/q.sock", status, sizeof(status), &e), 0);
	assert_string_equal(status, "running");
	assert_int_equal(h->qemu_powerdown("/s/q.sock", &e), 0);
	assert_int_equal(h->qemu_status("/s/q.sock", status, sizeof(status), &e), 0);
	assert_string_equal(status, "shutdown");
	assert_int_equal(h->qemu_quit("/s/q.sock", &e), 0);
	assert_int_equal(h->qemu_kill(1234, "vm-0123456789ab", 100, &e), 0);
	char *cap = runner_take_capture();
	assert_string_equal(cap, "qmp /s/q.sock system_powerdown\n"
				 "qmp /s/q.sock quit\n"
				 "kill qemu vm-0123456789ab\n");
	free(cap);
	hostops_recording_reset();
	runner_set_dry_run(false);
}

static void test_alive_rejects_other_process_and_missing_pidfile(void **state)
{
	(void)state;
	/* Our own pid is alive but carries no "-name vm-...": pid reuse guard. */
	assert_false(qemu_alive((int)getpid(), "vm-0123456789ab"));
	assert_false(qemu_alive(0, "vm-0123456789ab"));
	assert_int_equal(qemu_pid_from_file("/nonexistent/qemu.pid", "vm-0123456789ab"), 0);
}

/* A fake QEMU on a unix socket: greeting, then for each command line it
 * reads, the canned lines of the next reply (events included). */
struct fake_qmp {
	int listen_fd;
	const char *const *replies;   /* one string per command; may hold several lines */
	char got[4096];               /* commands received, one per line */
};

static void *fake_qmp_serve(void *arg)
{
	struct fake_qmp *f = arg;
	int fd = accept(f->listen_fd, NULL, NULL);
	if (fd < 0)
		return NULL;
	const char *greeting = "{\"QMP\": {\"version\": {}, \"capabilities\": [\"oob\"]}}\r\n";
	if (write(fd, greeting, strlen(greeting)) < 0) {
		close(fd);
		return NULL;
	}
	char line[1024];
	size_t len = 0;
	for (int i = 0; f->replies[i];) {
		char c;
		if (read(fd, &c, 1) != 1)
			break;
		if (c != '\n') {
			if (len + 1 < sizeof(line))
				line[len++] = c;
			continue;
		}
		line[len] = '\0';
		strncat(f->got, line, sizeof(f->got) - strlen(f->got) - 2);
		strcat(f->got, "\n");
		len = 0;
		if (write(fd, f->replies[i], strlen(f->replies[i])) < 0)
			break;
		i++;
	}
	close(fd);
	return NULL;
}

static void test_qmp_skips_events_and_reports_errors(void **state)
{
	(void)state;
	char path[64];
	snprintf(path, sizeof(path), "/tmp/nubo-test-qmp-%d.sock", (int)getpid());
	unlink(path);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	strcpy(sa.sun_path, path);
	const char *const replies[] = {
		"{\"return\": {}}\r\n",
		"{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, \"event\": \"SHUTDOWN\", \"data\": {}}\r\n"
		"{\"timestamp\": {\"seconds\": 1, \"microseconds\": 3}, \"event\": \"STOP\"}\r\n"
		"{\"return\": {\"status\": \"shutdown\", \"singlestep\": false, \"running\": false}}\r\n",
		"{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command bogus has not been found\"}}\r\n",
		NULL,
	};
	struct fake_qmp f = {.replies = replies};
	f.listen_fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(f.listen_fd >= 0);
	assert_int_equal(bind(f.listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(f.listen_fd, 1), 0);
	pthread_t t;
	pthread_create(&t, NULL, fake_qmp_serve, &f);

	struct qmp *q = NULL;
	struct err e = {0};
	assert_int_equal(qmp_open(path, 2000, &q, &e), 0);
	json_t *ret = NULL;
	assert_int_equal(qmp_execute(q, "query-status", NULL, &ret, &e), 0);
	assert_string_equal(json_string_value(json_object_get(ret, "status")), "shutdown");
	json_decref(ret);
	json_t *args = json_pack("{s:b}", "force", 1);
	assert_true(qmp_execute(q, "bogus", args, &ret, &e) < 0);
	json_decref(args);
	assert_null(ret);
	char want[256];
	snprintf(want, sizeof(want), "QMP %s: bogus failed: The command bogus has not been found", path);
	assert_string_equal(e.msg, want);
	qmp_close(q);
	pthread_join(t, NULL);
	close(f.listen_fd);
	unlink(path);
	assert_string_equal(f.got, "{\"execute\":\"qmp_capabilities\"}\n"
				   "{\"execute\":\"query-status\"}\n"
				   "{\"execute\":\"bogus\",\"arguments\":{\"force\":true}}\n");
}

static void test_qmp_open_fails_on_missing_socket(void **state)
{
	(void)state;
	struct qmp *q = NULL;
	struct err e = {0};
	assert_true(qmp_open("/nonexistent/qmp.sock", 100, &q, &e) < 0);
	assert_null(q);
	assert_string_equal(e.msg, "cannot connect to QMP socket /nonexistent/qmp.sock: No such file or directory");
	qmp_close(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tcg_one_vcpu),
		cmocka_unit_test(test_tcg_two_vcpus_uses_multithreaded_tcg),
		cmocka_unit_test(test_kvm),
		cmocka_unit_test(test_tcg_room_for_hot_added_vcpus),
		cmocka_unit_test(test_kvm_ceiling_not_above_vcpus),
		cmocka_unit_test(test_without_seed_two_nics_custom_binary),
		cmocka_unit_test(test_direct_boot_qboot_without_initrd),
		cmocka_unit_test(test_firmware_boot_and_console_socket),
		cmocka_unit_test(test_without_user_still_sandboxed),
		cmocka_unit_test(test_tcg_memory_overhead_covers_translation_cache),
		cmocka_unit_test(test_launch_dry_run_captures_command),
		cmocka_unit_test(test_uuid_and_smbios_serial),
		cmocka_unit_test(test_launch_rejects_comma_in_vm_id),
		cmocka_unit_test(test_qmp_dry_run_notes),
		cmocka_unit_test(test_alive_rejects_other_process_and_missing_pidfile),
		cmocka_unit_test(test_qmp_skips_events_and_reports_errors),
		cmocka_unit_test(test_qmp_open_fails_on_missing_socket),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
