/* Unit tests of the reconcilers on the recording host (host/hostops.h): a
 * real ctl on a real SQLite store in a temporary folder, its reconcilers run
 * by hand, tick by tick, and what they asked of the host compared with the
 * recorded operations. No root, no QEMU, no network: VM start, stop, a guest
 * that powers itself off, a QEMU that dies, adoption after a restart, delete;
 * a network up and down; a firewall rule change. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl/ctl-priv.h"
#include "host/hostops.h"
#include "util/fs.h"
#include "util/ids.h"
#include "util/log.h"
#include "util/runner.h"
#include "util/str.h"
#include "util/timeutil.h"

struct fixture {
	char dir[64];
	struct store *st;
	struct ctl *c;
};

static int open_ctl(struct fixture *f)
{
	struct err e = {0};
	struct ctl_options o = {.state_dir = f->dir, .recipes_dir = f->dir, .accel = "tcg", .host_name = "unit",
				.host = &hostops_recording};
	config_init_default(&o.config);
	if (ctl_open(f->st, &o, &f->c, &e) < 0) {
		print_error("ctl_open: %s\n", e.msg);
		return -1;
	}
	return 0;
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/nubo-unit-rec.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	chmod(f->dir, 0755);
	runner_set_dry_run(true);
	free(runner_take_capture());
	hostops_recording_reset();
	hostops_recording_keep(true);
	struct err e = {0};
	autofree char *db = xasprintf("%s/nubo.db", f->dir);
	if (store_open(db, &f->st, &e) < 0) {
		print_error("store_open: %s\n", e.msg);
		return -1;
	}
	if (open_ctl(f) < 0)
		return -1;
	/* An image as a build leaves it: its row, ready (its files are not
	 * read: the recording host makes no disk). */
	struct image img = {0};
	id_new("img", img.id);
	snprintf(img.name, sizeof(img.name), "tiny");
	snprintf(img.recipe, sizeof(img.recipe), "tiny");
	snprintf(img.state, sizeof(img.state), "ready");
	snprintf(img.boot, sizeof(img.boot), "direct");
	snprintf(img.host, sizeof(img.host), "unit");
	img.cmdline = xstrdup("console=ttyS0");
	img.created_at = time_now_ms();
	int rc = store_image_insert(f->st, &img, &e);
	image_free_fields(&img);
	if (rc < 0) {
		print_error("image: %s\n", e.msg);
		return -1;
	}
	free(hostops_recording_take());
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	ctl_close(f->c);
	store_close(f->st);
	struct err e = {0};
	fs_rm_rf(f->dir, &e);
	free(runner_take_capture());
	hostops_recording_keep(false);
	hostops_recording_reset();
	runner_set_dry_run(false);
	free(f);
	return 0;
}

/* What the host was asked since the last look. */
static char *taken(void)
{
	return hostops_recording_take();
}

static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	for (const char *p = text; (p = strstr(p, line)); p += n)
		if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
			return true;
	return false;
}

static void assert_line(const char *text, const char *line)
{
	if (!has_line(text, line))
		fail_msg("no line \"%s\" in what the host was asked:\n%s", line, text);
}

static void assert_no_line(const char *text, const char *line)
{
	if (has_line(text, line))
		fail_msg("a line \"%s\" in what the host was asked:\n%s", line, text);
}

static struct vm vm_now(struct fixture *f, const char *name)
{
	struct vm vm;
	struct err e = {0};
	if (store_vm_get(f->st, name, &vm, &e) < 0)
		fail_msg("vm %s: %s", name, e.msg);
	return vm;
}

static enum vm_state state_of(struct fixture *f, const char *name)
{
	struct vm vm = vm_now(f, name);
	enum vm_state s = vm.state;
	vm_free_fields(&vm);
	return s;
}

/* Creates name and runs the instance reconciler until it runs. */
static void create_running(struct fixture *f, const char *name, struct vm *out)
{
	struct vm_request r = {.name = name};
	struct operation op;
	struct err e = {0};
	if (ctl_vm_create(f->c, &r, out, &op, &e) < 0)
		fail_msg("create %s: %s", name, e.msg);
	operation_free_fields(&op);
	for (int i = 0; i < 3 && state_of(f, name) != VM_RUNNING; i++)
		instances_reconcile(f->c);
	assert_int_equal(state_of(f, name), VM_RUNNING);
}

static void act(struct fixture *f, const char *name, enum vm_action a)
{
	struct vm vm;
	struct operation op;
	bool accepted = false;
	struct err e = {0};
	if (ctl_vm_act(f->c, name, a, false, &vm, &op, &accepted, &e) < 0)
		fail_msg("%s %s: %s", vm_action_name(a), name, e.msg);
	assert_true(accepted);
	vm_free_fields(&vm);
	operation_free_fields(&op);
}

static void tap_of(struct fixture *f, const struct vm *vm, char tap[16])
{
	ctl_tap_name(f->c, vm->id, 0, tap);
}

static void test_vm_start(void **state)
{
	struct fixture *f = *state;
	struct vm vm;
	create_running(f, "web1", &vm);
	char tap[16], line[256];
	tap_of(f, &vm, tap);
	autofree char *got = taken();
	struct network net;
	assert_int_equal(store_network_get(f->st, "default", &net, NULL), 0);
	/* the root disk, the network with the VM's tap on its bridge, then QEMU */
	snprintf(line, sizeof(line), "disk overlay %s/vms/%s/root.qcow2", f->dir, vm.id);
	assert_line(got, line);
	snprintf(line, sizeof(line), "bridge ensure %s", net.bridge);
	assert_non_null(strstr(got, line));
	snprintf(line, sizeof(line), "dnsmasq ensure %s", net.bridge);
	assert_line(got, line);
	snprintf(line, sizeof(line), "tap ensure %s %s", tap, net.bridge);
	assert_line(got, line);
	snprintf(line, sizeof(line), "neigh set %s %s %s", net.bridge, vm.nics[0].ip, vm.nics[0].mac);
	assert_line(got, line);
	snprintf(line, sizeof(line), "qemu launch %s", vm.id);
	assert_line(got, line);
	assert_true(strstr(got, "tap ensure") < strstr(got, "qemu launch"));
	/* the runner captured QEMU's own command line beside it */
	autofree char *cmds = runner_take_capture();
	assert_non_null(strstr(cmds, "qemu-system-x86_64"));
	assert_non_null(strstr(cmds, vm.id));
	/* a running VM is left alone: nothing more is asked of the host */
	instances_reconcile(f->c);
	autofree char *again = taken();
	assert_null(strstr(again, "qemu launch"));
	vm_free_fields(&vm);
}

static void test_vm_stop_start(void **state)
{
	struct fixture *f = *state;
	struct vm vm;
	create_running(f, "web2", &vm);
	char tap[16], line[256];
	tap_of(f, &vm, tap);
	free(taken());
	act(f, "web2", VM_ACTION_STOP);
	instances_reconcile(f->c);   /* ACPI power-down */
	assert_int_equal(state_of(f, "web2"), VM_STOPPING);
	instances_reconcile(f->c);   /* the guest is off: QEMU quits */
	assert_int_equal(state_of(f, "web2"), VM_STOPPED);
	autofree char *got = taken();
	snprintf(line, sizeof(line), "qemu powerdown %s", vm.id);
	assert_line(got, line);
	snprintf(line, sizeof(line), "qemu quit %s", vm.id);
	assert_line(got, line);
	snprintf(line, sizeof(line), "tap remove %s", tap);
	assert_line(got, line);
	assert_true(strstr(got, "qemu powerdown") < strstr(got, "qemu quit"));
	struct vm now = vm_now(f, "web2");
	assert_int_equal(now.pid, 0);
	vm_free_fields(&now);

	/* started again: a new QEMU on the same disk */
	act(f, "web2", VM_ACTION_START);
	for (int i = 0; i < 3 && state_of(f, "web2") != VM_RUNNING; i++)
		instances_reconcile(f->c);
	assert_int_equal(state_of(f, "web2"), VM_RUNNING);
	autofree char *restart = taken();
	snprintf(line, sizeof(line), "qemu launch %s", vm.id);
	assert_line(restart, line);
	vm_free_fields(&vm);
}

static void test_guest_powers_off(void **state)
{
	struct fixture *f = *state;
	struct vm vm;
	create_running(f, "web3", &vm);
	free(taken());
	hostops_recording_guest_off(vm.id);
	time_sleep_ms(1100);   /* QEMUs are asked for their state once a second */
	instances_reconcile(f->c);
	struct vm now = vm_now(f, "web3");
	assert_int_equal(now.state, VM_STOPPED);
	assert_int_equal(now.power, POWER_STOPPED);
	assert_string_equal(now.reason, "the guest powered itself off");
	vm_free_fields(&now);
	autofree char *got = taken();
	char line[128];
	snprintf(line, sizeof(line), "qemu quit %s", vm.id);
	assert_line(got, line);
	vm_free_fields(&vm);
}

static void test_qemu_dies(void **state)
{
	struct fixture *f = *state;
	struct vm vm;
	create_running(f, "web4", &vm);
	char tap[16], line[128];
	tap_of(f, &vm, tap);
	free(taken());
	hostops_recording_qemu_dies(vm.id);
	instances_reconcile(f->c);
	struct vm now = vm_now(f, "web4");
	assert_int_equal(now.state, VM_ERROR);
	assert_int_equal(now.pid, 0);
	assert_non_null(strstr(now.reason, "exited unexpectedly"));
	vm_free_fields(&now);
	autofree char *got = taken();
	snprintf(line, sizeof(line), "tap remove %s", tap);
	assert_line(got, line);
	/* nothing is quit: there is nothing left to quit */
	snprintf(line, sizeof(line), "qemu quit %s", vm.id);
	assert_no_line(got, line);
	/* and an errored VM is not started again on its own */
	instances_reconcile(f->c);
	autofree char *after = taken();
	assert_null(strstr(after, "qemu launch"));
	vm_free_fields(&vm);
}

/* nubod died after launching QEMU and before saving its pid: the next nubod
 * finds the QEMU (its pid file) and adopts it rather than starting another
 * or calling the VM dead. */
static void test_adopt(void **state)
{
	struct fixture *f = *state;
	struct vm vm;
	create_running(f, "web5", &vm);
	struct vm now = vm_now(f, "web5");
	now.pid = 0;
	struct err e = {0};
	assert_int_equal(store_vm_update(f->st, &now, &e), 0);
	vm_free_fields(&now);
	ctl_close(f->c);   /* the QEMUs of the recording host outlive it, as real ones do */
	f->c = NULL;
	assert_int_equal(open_ctl(f), 0);
	free(taken());
	instances_adopt(f->c);
	now = vm_now(f, "web5");
	assert_int_not_equal(now.pid, 0);
	vm_free_fields(&now);
	instances_reconcile(f->c);
	assert_int_equal(state_of(f, "web5"), VM_RUNNING);
	autofree char *got = taken();
	assert_null(strstr(got, "qemu launch"));
	vm_free_fields(&vm);
}

static void test_vm_delete(void **state)
{
	struct fixture *f = *state;
	struct vm vm;
	create_running(f, "web6", &vm);
	char tap[16], line[256];
	tap_of(f, &vm, tap);
	free(taken());
	act(f, "web6", VM_ACTION_DELETE);
	instances_reconcile(f->c);
	struct vm gone;
	struct err e = {0};
	assert_int_not_equal(store_vm_get(f->st, "web6", &gone, &e), 0);
	assert_int_equal(e.kind, ERR_NOT_FOUND);
	autofree char *got = taken();
	snprintf(line, sizeof(line), "qemu quit %s", vm.id);
	assert_line(got, line);
	snprintf(line, sizeof(line), "tap remove %s", tap);
	assert_line(got, line);
	autofree char *vm_dir = xasprintf("%s/vms/%s", f->dir, vm.id);
	assert_false(fs_exists(vm_dir));
	vm_free_fields(&vm);
}

static void test_network_up_down(void **state)
{
	struct fixture *f = *state;
	struct network net;
	struct err e = {0};
	assert_int_equal(ctl_network_create(f->c, "back", "10.231.7.0/24", false, &net, &e), 0);
	assert_int_equal(network_ensure_host(f->c, "back", &e), 0);
	autofree char *up = taken();
	char line[256];
	snprintf(line, sizeof(line), "bridge ensure %s 10.231.7.1/24", net.bridge);
	assert_line(up, line);
	snprintf(line, sizeof(line), "dnsmasq ensure %s", net.bridge);
	assert_line(up, line);
	assert_non_null(strstr(up, "nft apply"));
	assert_non_null(strstr(up, "10.231.7.0/24"));   /* the ruleset knows the network */
	/* up already: nothing is asked again */
	assert_int_equal(network_ensure_host(f->c, "back", &e), 0);
	autofree char *again = taken();
	assert_string_equal(again, "");

	assert_int_equal(ctl_network_delete(f->c, "back", &net, &e), 0);
	networks_reconcile(f->c);
	autofree char *down = taken();
	autofree char *dir = xasprintf("%s/networks/%s", f->dir, net.id);
	snprintf(line, sizeof(line), "dnsmasq stop %s", dir);
	assert_line(down, line);
	snprintf(line, sizeof(line), "bridge remove %s", net.bridge);
	assert_line(down, line);
	assert_true(strstr(down, "dnsmasq stop") < strstr(down, "bridge remove"));
	struct network none;
	assert_int_not_equal(store_network_get(f->st, "back", &none, NULL), 0);
	assert_false(fs_exists(dir));
}

static void test_rule_change(void **state)
{
	struct fixture *f = *state;
	struct err e = {0};
	struct vm vm;
	create_running(f, "web7", &vm);   /* in the default firewall: its chain carries the rules */
	rules_sync(f->c);   /* the first tick applies the ruleset as it is */
	autofree char *before = taken();
	assert_non_null(strstr(before, "nft apply"));
	assert_null(strstr(before, "dport 8443"));
	rules_sync(f->c);   /* unchanged: not applied again */
	autofree char *idle = taken();
	assert_string_equal(idle, "");
	struct fw_rule r;
	assert_int_equal(ctl_firewall_rule_add(f->c, "default", "tcp", "8443", "192.0.2.0/24", NULL, &r, &e), 0);
	rules_sync(f->c);
	autofree char *after = taken();
	assert_non_null(strstr(after, "nft apply"));
	assert_non_null(strstr(after, "8443"));
	assert_non_null(strstr(after, "192.0.2.0/24"));
	assert_non_null(strstr(after, vm.nics[0].ip));
	vm_free_fields(&vm);
}

/* A host whose subnet and port checks say where they were asked: "busy", on
 * the thread that asked. */
static pthread_t asked_on;
static int asked;

static int busy_subnet(const char *cidr, const char *except_dev, bool *in_use, char *what, size_t what_len,
		       struct err *e)
{
	asked_on = pthread_self();
	asked++;
	*in_use = true;
	snprintf(what, what_len, "route %s on a test's link", cidr);
	return 0;
}

static int busy_port(enum proto proto, uint16_t port, bool *in_use, struct err *e)
{
	asked_on = pthread_self();
	asked++;
	*in_use = true;
	return 0;
}

/* An API thread never reaches the host: once the reconciler thread runs, a
 * new network's subnet check and a forward's port check are answered on it,
 * and their answers still reach the caller (409). Before it runs, the
 * caller's thread answers. */
static void test_api_checks_on_reconciler_thread(void **state)
{
	struct fixture *f = *state;
	struct host_ops busy = hostops_recording;
	busy.subnet_conflict = busy_subnet;
	busy.port_in_use = busy_port;
	f->c->host = &busy;
	struct network net;
	struct err e = {0};
	asked = 0;
	assert_true(ctl_network_create(f->c, "clash", "10.231.9.0/24", false, &net, &e) < 0);
	assert_int_equal(e.kind, ERR_CONFLICT);
	assert_int_equal(asked, 1);
	assert_true(pthread_equal(asked_on, pthread_self()));   /* no reconciler thread yet */

	struct vm vm;
	create_running(f, "fw1", &vm);
	assert_int_equal(ctl_start(f->c, &e), 0);
	memset(&e, 0, sizeof(e));
	assert_true(ctl_network_create(f->c, "clash", "10.231.9.0/24", false, &net, &e) < 0);
	assert_int_equal(e.kind, ERR_CONFLICT);
	assert_non_null(strstr(e.msg, "route 10.231.9.0/24 on a test's link"));
	assert_int_equal(asked, 2);
	assert_false(pthread_equal(asked_on, pthread_self()));
	struct forward fw;
	memset(&e, 0, sizeof(e));
	assert_true(ctl_vm_expose(f->c, "fw1", "18080:80", &fw, &e) < 0);
	assert_int_equal(e.kind, ERR_CONFLICT);
	assert_non_null(strstr(e.msg, "18080/tcp is in use"));
	assert_int_equal(asked, 3);
	assert_false(pthread_equal(asked_on, pthread_self()));
	ctl_close(f->c);   /* before busy goes out of scope */
	f->c = NULL;
	vm_free_fields(&vm);
}

int main(void)
{
	log_set_level(LOG_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_vm_start, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vm_stop_start, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guest_powers_off, setup, teardown),
		cmocka_unit_test_setup_teardown(test_qemu_dies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_adopt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vm_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_network_up_down, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rule_change, setup, teardown),
		cmocka_unit_test_setup_teardown(test_api_checks_on_reconciler_thread, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
