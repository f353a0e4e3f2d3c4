/* Unit tests for host/accel: KVM only with vmx/svm in the CPU flags AND a
 * working /dev/kvm; fake cpuinfo files stand in for the host's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host/accel.h"
#include "util/err.h"
#include "util/fs.h"
#include "util/str.h"

static char *fake_cpuinfo(const char *flags)
{
	char tmpl[] = "/tmp/nubo-test-cpuinfo-XXXXXX";
	int fd = mkstemp(tmpl);
	assert_true(fd >= 0);
	close(fd);
	char *text = xasprintf("processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Some CPU\n"
			       "flags\t\t: %s\nbugs\t\t: spectre_v1\n\n"
			       "processor\t: 1\nflags\t\t: %s\n\n", flags, flags);
	struct err e = {0};
	assert_int_equal(fs_write_atomic(tmpl, text, strlen(text), 0600, &e), 0);
	free(text);
	return xstrdup(tmpl);
}

static void test_no_hw_virt_flag_means_tcg(void **state)
{
	(void)state;
	/* "svm_lock" and "vmx_ept" style words must not count as svm/vmx. */
	char *path = fake_cpuinfo("fpu vme de pse tsc msr pae svm_lock npt_x hypervisor");
	char why[256];
	/* Even a /dev/kvm that works does not matter without the flags. */
	assert_int_equal(accel_probe(path, "/dev/kvm", why, sizeof(why)), ACCEL_TCG);
	char *want = xasprintf("no vmx/svm in %s (nested PVM KVM cannot run stock guests); using tcg", path);
	assert_string_equal(why, want);
	free(want);
	unlink(path);
	free(path);
}

static void test_flag_but_missing_kvm_device_means_tcg(void **state)
{
	(void)state;
	char why[256];
	for (int i = 0; i < 2; i++) {
		char *path = fake_cpuinfo(i == 0 ? "fpu vme vmx ept" : "fpu svm npt");
		assert_int_equal(accel_probe(path, "/nonexistent/kvm", why, sizeof(why)), ACCEL_TCG);
		assert_string_equal(why, "CPU has vmx/svm but /nonexistent/kvm cannot be opened "
					 "(No such file or directory); using tcg");
		unlink(path);
		free(path);
	}
}

static void test_flag_but_kvm_path_not_kvm_means_tcg(void **state)
{
	(void)state;
	/* A file that opens but does not answer the KVM API. */
	char *path = fake_cpuinfo("fpu vmx");
	char why[256];
	assert_int_equal(accel_probe(path, path, why, sizeof(why)), ACCEL_TCG);
	char *want = xasprintf("%s answers KVM API version -1, not 12; using tcg", path);
	assert_string_equal(why, want);
	free(want);
	unlink(path);
	free(path);
}

static void test_unreadable_cpuinfo_means_tcg(void **state)
{
	(void)state;
	char why[256];
	assert_int_equal(accel_probe("/nonexistent/cpuinfo", NULL, why, sizeof(why)), ACCEL_TCG);
	assert_non_null(strstr(why, "cannot read CPU flags"));
	assert_int_equal(accel_probe("/nonexistent/cpuinfo", NULL, NULL, 0), ACCEL_TCG);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(accel_name(ACCEL_TCG), "tcg");
	assert_string_equal(accel_name(ACCEL_KVM), "kvm");
	enum accel a = ACCEL_TCG;
	assert_int_equal(accel_from_name("kvm", &a), 0);
	assert_int_equal(a, ACCEL_KVM);
	assert_int_equal(accel_from_name("tcg", &a), 0);
	assert_int_equal(a, ACCEL_TCG);
	assert_int_equal(accel_from_name("auto", &a), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_hw_virt_flag_means_tcg),
		cmocka_unit_test(test_flag_but_missing_kvm_device_means_tcg),
		cmocka_unit_test(test_flag_but_kvm_path_not_kvm_means_tcg),
		cmocka_unit_test(test_unreadable_cpuinfo_means_tcg),
		cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
