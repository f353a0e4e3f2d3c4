/* Unit tests for host/cgroup: where a VM's group lives and what limits it
 * gets, in the v2 and v1 layouts, with no cgroup file system touched. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/cgroup.h"

/* The plan as text: "mkdir DIR" per directory, "DIR/FILE = VALUE" per
 * setting, "join FILE" per cgroup.procs. Caller frees. */
static char *plan_text(const struct cgroup_plan *p)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	for (int i = 0; i < p->n_dirs; i++)
		fprintf(f, "mkdir %s\n", p->dirs[i]);
	for (int i = 0; i < p->n_settings; i++)
		fprintf(f, "%s = %s\n", p->settings[i].path, p->settings[i].value);
	for (int i = 0; p->procs[i]; i++)
		fprintf(f, "join %s\n", p->procs[i]);
	fclose(f);
	return out;
}

static void test_v2_plan(void **state)
{
	(void)state;
	struct cgroup_host h = {.mode = CGROUP_V2, .root = "/sys/fs/cgroup"};
	struct cgroup_plan p;
	/* 2 vCPUs, 1024 MiB guest + 192 MiB QEMU. */
	assert_int_equal(cgroup_plan_build(&h, "ab12", "vm-0123456789ab", 2, 1216LL << 20, &p), 0);
	char *text = plan_text(&p);
	assert_string_equal(text, "mkdir /sys/fs/cgroup/nubo-ab12\n"
				  "mkdir /sys/fs/cgroup/nubo-ab12/vm-0123456789ab\n"
				  "/sys/fs/cgroup/cgroup.subtree_control = +cpu +memory\n"
				  "/sys/fs/cgroup/nubo-ab12/cgroup.subtree_control = +cpu +memory\n"
				  "/sys/fs/cgroup/nubo-ab12/vm-0123456789ab/cpu.max = 250000 100000\n"
				  "/sys/fs/cgroup/nubo-ab12/vm-0123456789ab/memory.max = 1275068416\n"
				  "join /sys/fs/cgroup/nubo-ab12/vm-0123456789ab/cgroup.procs\n");
	free(text);
	cgroup_plan_free(&p);
	cgroup_plan_free(NULL);
}

static void test_v1_plan_one_group_per_controller(void **state)
{
	(void)state;
	struct cgroup_host h = {.mode = CGROUP_V1, .root = "/sys/fs/cgroup"};
	struct cgroup_plan p;
	assert_int_equal(cgroup_plan_build(&h, "00ff", "vm-aaaaaaaaaaaa", 1, 704LL << 20, &p), 0);
	char *text = plan_text(&p);
	assert_string_equal(text, "mkdir /sys/fs/cgroup/cpu/nubo-00ff\n"
				  "mkdir /sys/fs/cgroup/cpu/nubo-00ff/vm-aaaaaaaaaaaa\n"
				  "mkdir /sys/fs/cgroup/memory/nubo-00ff\n"
				  "mkdir /sys/fs/cgroup/memory/nubo-00ff/vm-aaaaaaaaaaaa\n"
				  "/sys/fs/cgroup/cpu/nubo-00ff/vm-aaaaaaaaaaaa/cpu.cfs_period_us = 100000\n"
				  "/sys/fs/cgroup/cpu/nubo-00ff/vm-aaaaaaaaaaaa/cpu.cfs_quota_us = 150000\n"
				  "/sys/fs/cgroup/memory/nubo-00ff/vm-aaaaaaaaaaaa/memory.limit_in_bytes = 738197504\n"
				  "join /sys/fs/cgroup/cpu/nubo-00ff/vm-aaaaaaaaaaaa/cgroup.procs\n"
				  "join /sys/fs/cgroup/memory/nubo-00ff/vm-aaaaaaaaaaaa/cgroup.procs\n");
	free(text);
	cgroup_plan_free(&p);
}

static void test_cpu_quota_scales_with_vcpus(void **state)
{
	(void)state;
	struct cgroup_host h = {.mode = CGROUP_V2, .root = "/c"};
	struct cgroup_plan p;
	assert_int_equal(cgroup_plan_build(&h, "1", "vm-1", 8, 1, &p), 0);
	assert_string_equal(p.settings[2].path, "/c/nubo-1/vm-1/cpu.max");
	assert_string_equal(p.settings[2].value, "850000 100000");   /* 8 vCPUs and half a CPU for QEMU */
	cgroup_plan_free(&p);
	/* A VM with no vCPU count still gets one CPU, never an unlimited "0". */
	assert_int_equal(cgroup_plan_build(&h, "1", "vm-1", 0, 1, &p), 0);
	assert_string_equal(p.settings[2].value, "150000 100000");
	cgroup_plan_free(&p);
}

static void test_no_hierarchy_no_plan(void **state)
{
	(void)state;
	struct cgroup_host h = {.mode = CGROUP_NONE};
	struct cgroup_plan p;
	assert_int_equal(cgroup_plan_build(&h, "ab12", "vm-1", 1, 1, &p), -1);
	assert_int_equal(p.n_dirs, 0);
	assert_null(p.procs[0]);
	struct err e = {0};
	/* Removing from no hierarchy is nothing to do, not an error. */
	assert_int_equal(cgroup_vm_remove(&h, "ab12", "vm-1", &e), 0);
	assert_int_equal(cgroup_parent_remove(&h, "ab12", &e), 0);
}

static void test_probe_of_a_plain_directory_is_none(void **state)
{
	(void)state;
	struct cgroup_host h;
	char why[512];
	cgroup_probe("/tmp", &h, why, sizeof(why));
	assert_int_equal(h.mode, CGROUP_NONE);
	assert_string_equal(why, "neither /tmp is a cgroup v2 mount nor /tmp/cpu a cgroup v1 hierarchy");
}

static void test_parent_name(void **state)
{
	(void)state;
	char name[32];
	cgroup_parent_name("ab12", name);
	assert_string_equal(name, "nubo-ab12");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v2_plan),
		cmocka_unit_test(test_v1_plan_one_group_per_controller),
		cmocka_unit_test(test_cpu_quota_scales_with_vcpus),
		cmocka_unit_test(test_no_hierarchy_no_plan),
		cmocka_unit_test(test_probe_of_a_plain_directory_is_none),
		cmocka_unit_test(test_parent_name),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
