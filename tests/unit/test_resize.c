/* Unit tests for resize: which vCPU move follows from QEMU's answer to
 * query-hotpluggable-cpus, which memory move from query-memory-devices and
 * qom-list /objects, whether a type change can be live, and the disk size
 * rules. No QEMU, no store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl-priv.h"
#include "host/resize.h"

/* What QEMU 7.2 answers for -smp 1,maxcpus=4 with vCPU 2 hot-added as
 * "vcpu-s2-c0-t0" (slots listed last first, as QEMU does). */
static const char SLOTS_ONE_HOT[] =
	"[{\"props\":{\"core-id\":0,\"thread-id\":0,\"socket-id\":3},\"vcpus-count\":1,\"type\":\"max-x86_64-cpu\"},"
	" {\"props\":{\"core-id\":0,\"thread-id\":0,\"socket-id\":2},\"vcpus-count\":1,"
	"  \"qom-path\":\"/machine/peripheral/vcpu-s2-c0-t0\",\"type\":\"max-x86_64-cpu\"},"
	" {\"props\":{\"core-id\":0,\"thread-id\":0,\"socket-id\":1},\"vcpus-count\":1,\"type\":\"max-x86_64-cpu\"},"
	" {\"props\":{\"core-id\":0,\"thread-id\":0,\"socket-id\":0},\"vcpus-count\":1,"
	"  \"qom-path\":\"/machine/unattached/device[0]\",\"type\":\"max-x86_64-cpu\"}]";

static json_t *slots(void)
{
	json_t *j = json_loads(SLOTS_ONE_HOT, 0, NULL);
	assert_non_null(j);
	return j;
}

static void test_add_takes_lowest_free_slot(void **state)
{
	(void)state;
	json_t *s = slots(), *add = NULL;
	char del[64];
	const char *stuck = NULL;
	int plugged = -1;
	resize_vcpu_pick(s, 3, &plugged, &add, del, &stuck);
	assert_int_equal(plugged, 2);
	assert_null(stuck);
	assert_string_equal(del, "");
	assert_non_null(add);
	char *text = json_dumps(add, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(text, "{\"core-id\":0,\"driver\":\"max-x86_64-cpu\",\"id\":\"vcpu-s1-c0-t0\","
				  "\"socket-id\":1,\"thread-id\":0}");
	free(text);
	json_decref(add);
	json_decref(s);
}

/* Run again after a crash that followed the device_add: nothing more. */
static void test_nothing_when_qemu_already_has_it(void **state)
{
	(void)state;
	json_t *s = slots(), *add = NULL;
	char del[64];
	const char *stuck = NULL;
	int plugged = 0;
	resize_vcpu_pick(s, 2, &plugged, &add, del, &stuck);
	assert_int_equal(plugged, 2);
	assert_null(add);
	assert_string_equal(del, "");
	assert_null(stuck);
	json_decref(s);
}

static void test_remove_takes_hot_added_only(void **state)
{
	(void)state;
	json_t *s = slots(), *add = NULL;
	char del[64];
	const char *stuck = NULL;
	int plugged = 0;
	resize_vcpu_pick(s, 1, &plugged, &add, del, &stuck);
	assert_null(add);
	assert_string_equal(del, "vcpu-s2-c0-t0");
	/* Below the boot vCPU: impossible, said so. */
	json_t *boot_only = json_loads("[{\"props\":{\"socket-id\":0},\"qom-path\":\"/machine/unattached/device[0]\","
				       "\"type\":\"t\"},{\"props\":{\"socket-id\":1},\"type\":\"t\"}]",
				       0, NULL);
	resize_vcpu_pick(boot_only, 0, &plugged, &add, del, &stuck);
	assert_int_equal(plugged, 1);
	assert_null(add);
	assert_string_equal(del, "");
	assert_non_null(stuck);
	/* Above maxcpus: no slot. */
	resize_vcpu_pick(s, 5, &plugged, &add, del, &stuck);
	assert_non_null(add);   /* two free slots: one move now */
	json_decref(add);
	json_t *full = json_loads("[{\"props\":{\"socket-id\":0},\"qom-path\":\"/machine/unattached/device[0]\","
				  "\"type\":\"t\"}]",
				  0, NULL);
	resize_vcpu_pick(full, 2, &plugged, &add, del, &stuck);
	assert_null(add);
	assert_string_equal(stuck, "no free vCPU slot left (maxcpus reached)");
	json_decref(full);
	json_decref(boot_only);
	json_decref(s);
}

/* query-memory-devices with DIMMs dimm0 (256 MiB) and dimm1 (512 MiB) on
 * 512 MiB of boot memory, and qom-list /objects with their backends. */
static const char DIMMS[] =
	"[{\"type\":\"dimm\",\"data\":{\"id\":\"dimm0\",\"size\":268435456,\"memdev\":\"/objects/mem-dimm0\","
	"  \"slot\":0,\"hotplugged\":true}},"
	" {\"type\":\"dimm\",\"data\":{\"id\":\"dimm1\",\"size\":536870912,\"memdev\":\"/objects/mem-dimm1\","
	"  \"slot\":1,\"hotplugged\":true}}]";
static const char OBJECTS[] =
	"[{\"name\":\"mem-dimm0\",\"type\":\"child<memory-backend-ram>\"},"
	" {\"name\":\"mem-dimm1\",\"type\":\"child<memory-backend-ram>\"},"
	" {\"name\":\"pc.ram\",\"type\":\"child<memory-backend-ram>\"}]";

static void test_memory_pick(void **state)
{
	(void)state;
	json_t *dev = json_loads(DIMMS, 0, NULL), *obj = json_loads(OBJECTS, 0, NULL);
	json_t *none = json_array();
	assert_non_null(dev);
	assert_non_null(obj);
	struct resize_mem_move m;
	int have = 0;
	/* Re-learnt from QEMU: 512 + 256 + 512. */
	resize_memory_pick(dev, obj, 512, 1280, &have, &m);
	assert_int_equal(have, 1280);
	assert_string_equal(m.add_id, "");
	assert_string_equal(m.del_dimm, "");
	assert_string_equal(m.del_object, "");
	assert_null(m.stuck);
	/* Grow: one DIMM of the difference, in the lowest free slot. */
	resize_memory_pick(dev, obj, 512, 2048, &have, &m);
	assert_string_equal(m.add_id, "dimm2");
	assert_int_equal(m.add_mib, 768);
	resize_memory_pick(none, none, 512, 768, &have, &m);
	assert_int_equal(have, 512);
	assert_string_equal(m.add_id, "dimm0");
	assert_int_equal(m.add_mib, 256);
	/* Shrink: the DIMM of exactly the difference, else the newest. */
	resize_memory_pick(dev, obj, 512, 1024, &have, &m);
	assert_string_equal(m.del_dimm, "dimm0");
	assert_string_equal(m.add_id, "");
	resize_memory_pick(dev, obj, 512, 640, &have, &m);
	assert_string_equal(m.del_dimm, "dimm1");
	/* Never below the boot memory. */
	resize_memory_pick(none, none, 512, 256, &have, &m);
	assert_non_null(m.stuck);
	assert_string_equal(m.del_dimm, "");
	/* A backend left without its DIMM (cut off between object-add and
	 * device_add, or after the unplug) goes first. */
	json_t *one = json_loads("[{\"type\":\"dimm\",\"data\":{\"id\":\"dimm1\",\"size\":536870912,"
				 "\"memdev\":\"/objects/mem-dimm1\"}}]",
				 0, NULL);
	resize_memory_pick(one, obj, 512, 1024, &have, &m);
	assert_int_equal(have, 1024);
	assert_string_equal(m.del_object, "mem-dimm0");
	assert_string_equal(m.add_id, "");
	json_decref(one);
	json_decref(none);
	json_decref(dev);
	json_decref(obj);
}

static struct vm running_vm(void)
{
	struct vm vm;
	memset(&vm, 0, sizeof(vm));
	snprintf(vm.name, sizeof(vm.name), "web1");
	snprintf(vm.type, sizeof(vm.type), "c1");
	snprintf(vm.max_type, sizeof(vm.max_type), "c2");
	vm.vcpus = 1;
	vm.memory_mib = 512;
	vm.max_vcpus = 2;
	vm.max_memory_mib = 512;
	vm.power = POWER_RUNNING;
	vm.state = VM_RUNNING;
	return vm;
}

static void test_plan_live_within_ceiling_same_memory(void **state)
{
	(void)state;
	struct vm vm = running_vm();
	struct machine_type c2 = {"c2", 2, 512, 0}, c4 = {"c4", 4, 512, 0}, big = {"big", 1, 1024, 0};
	enum resize_mode mode = RESIZE_OFFLINE;
	struct err e = {0};
	assert_int_equal(resize_plan(&vm, &c2, false, false, &mode, &e), 0);
	assert_int_equal(mode, RESIZE_LIVE);
	/* Above the ceiling: a 409 with the numbers; with restart, a restart. */
	assert_true(resize_plan(&vm, &c4, false, false, &mode, &e) < 0);
	assert_int_equal(e.kind, ERR_CONFLICT);
	assert_string_equal(e.msg, "cannot resize VM web1 while it runs: type c4 has 4 vCPUs, above the VM's ceiling "
				   "of 2 fixed at create (max_type c2). Add --restart (\"restart\": true) to stop it, "
				   "resize it and start it again, keeping its address and disks");
	assert_int_equal(resize_plan(&vm, &c4, false, true, &mode, &e), 0);
	assert_int_equal(mode, RESIZE_RESTART);
	/* Memory: live up to the ceiling, in whole 128 MiB blocks. */
	memset(&e, 0, sizeof(e));
	assert_true(resize_plan(&vm, &big, true, false, &mode, &e) < 0);
	assert_string_equal(e.msg, "cannot resize VM web1 while it runs: type big has 1024 MiB of memory, above the "
				   "VM's ceiling of 512 MiB fixed at create (max_type c2). Add --restart (\"restart\": "
				   "true) to stop it, resize it and start it again, keeping its address and disks");
	vm.max_memory_mib = 2048;
	assert_int_equal(resize_plan(&vm, &big, false, false, &mode, &e), 0);
	assert_int_equal(mode, RESIZE_LIVE);
	struct machine_type odd = {"odd", 1, 600, 0}, less = {"less", 1, 256, 0};
	assert_int_equal(resize_plan(&vm, &less, false, false, &mode, &e), 0);   /* down, too */
	assert_int_equal(mode, RESIZE_LIVE);
	memset(&e, 0, sizeof(e));
	assert_true(resize_plan(&vm, &odd, false, false, &mode, &e) < 0);
	assert_non_null(strstr(e.msg, "type odd has 600 MiB of memory and the VM has 512 MiB; running, memory moves in "
				      "whole blocks of 128 MiB"));
	vm.max_memory_mib = 512;
	/* Fewer vCPUs: live only where QEMU can unplug them (KVM). */
	struct machine_type c1 = {"c1", 1, 512, 0};
	vm.vcpus = 2;
	assert_int_equal(resize_plan(&vm, &c1, true, false, &mode, &e), 0);
	assert_int_equal(mode, RESIZE_LIVE);
	memset(&e, 0, sizeof(e));
	assert_true(resize_plan(&vm, &c1, false, false, &mode, &e) < 0);
	assert_int_equal(e.kind, ERR_CONFLICT);
	assert_non_null(strstr(e.msg, "under TCG emulation vCPUs can be added live but not removed"));
	assert_int_equal(resize_plan(&vm, &c1, false, true, &mode, &e), 0);
	assert_int_equal(mode, RESIZE_RESTART);
	/* Stopped: whatever the type, the spec is the resize. */
	vm.power = POWER_STOPPED;
	vm.state = VM_STOPPED;
	assert_int_equal(resize_plan(&vm, &big, false, false, &mode, &e), 0);
	assert_int_equal(mode, RESIZE_OFFLINE);
}

static void test_disk_grows_never_shrinks(void **state)
{
	(void)state;
	uint64_t want = 0;
	struct err e = {0};
	assert_int_equal(resize_check_disk(1ull << 30, "2G", &want, &e), 0);
	assert_int_equal(want, 2ull << 30);
	assert_int_equal(resize_check_disk(2ull << 30, "2G", &want, &e), 0);   /* same: a no-op, not an error */
	assert_true(resize_check_disk(2ull << 30, "1G", &want, &e) < 0);
	assert_int_equal(e.kind, ERR_UNPROCESSABLE);
	assert_non_null(strstr(e.msg, "disk_size 1G is smaller than the disk's 2G: nubo never shrinks a disk"));
	memset(&e, 0, sizeof(e));
	assert_true(resize_check_disk(1ull << 30, "17T", &want, &e) < 0);
	assert_int_equal(e.kind, ERR_INVALID);
	memset(&e, 0, sizeof(e));
	assert_true(resize_check_disk(1ull << 30, "lots", &want, &e) < 0);
	assert_non_null(strstr(e.msg, "disk_size"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_takes_lowest_free_slot),
		cmocka_unit_test(test_nothing_when_qemu_already_has_it),
		cmocka_unit_test(test_remove_takes_hot_added_only),
		cmocka_unit_test(test_memory_pick),
		cmocka_unit_test(test_plan_live_within_ceiling_same_memory),
		cmocka_unit_test(test_disk_grows_never_shrinks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
