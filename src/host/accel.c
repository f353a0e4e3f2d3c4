/* accel: CPU flags first, then the KVM API itself (see accel.h). */
#include "host/accel.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "util/fs.h"
#include "util/str.h"

/* The stable KVM API version; anything else is not a KVM we know. */
#define KVM_API_EXPECTED 12

const char *accel_name(enum accel a)
{
	return a == ACCEL_KVM ? "kvm" : "tcg";
}

int accel_from_name(const char *name, enum accel *out)
{
	if (name && strcmp(name, "kvm") == 0)
		*out = ACCEL_KVM;
	else if (name && strcmp(name, "tcg") == 0)
		*out = ACCEL_TCG;
	else
		return -1;
	return 0;
}

/* True when a "flags" line of cpuinfo holds the word vmx or svm. Whole
 * words only: "svm" must not match inside some other flag name. */
static bool cpuinfo_has_hw_virt(const char *text)
{
	for (const char *line = text; line && *line;) {
		const char *eol = strchr(line, '\n');
		size_t len = eol ? (size_t)(eol - line) : strlen(line);
		if (strncmp(line, "flags", 5) == 0) {
			const char *colon = memchr(line, ':', len);
			const char *p = colon ? colon + 1 : line + len;
			const char *end = line + len;
			while (p < end) {
				while (p < end && (*p == ' ' || *p == '\t'))
					p++;
				const char *w = p;
				while (p < end && *p != ' ' && *p != '\t')
					p++;
				size_t wl = (size_t)(p - w);
				if (wl == 3 && (strncmp(w, "vmx", 3) == 0 || strncmp(w, "svm", 3) == 0))
					return true;
			}
		}
		line = eol ? eol + 1 : NULL;
	}
	return false;
}

enum accel accel_probe(const char *cpuinfo_path, const char *kvm_path, char *why, size_t why_len)
{
	char dummy[8];
	if (!why) {
		why = dummy;
		why_len = sizeof(dummy);
	}
	if (!cpuinfo_path)
		cpuinfo_path = "/proc/cpuinfo";
	if (!kvm_path)
		kvm_path = "/dev/kvm";

	autofree char *info = NULL;
	struct err e = {0};
	if (fs_read_file(cpuinfo_path, 64u << 20, &info, NULL, &e) < 0) {
		snprintf(why, why_len, "cannot read CPU flags (%s); using tcg", e.msg);
		return ACCEL_TCG;
	}
	if (!cpuinfo_has_hw_virt(info)) {
		snprintf(why, why_len, "no vmx/svm in %s (nested PVM KVM cannot run stock guests); using tcg",
			 cpuinfo_path);
		return ACCEL_TCG;
	}
	int fd = open(kvm_path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, why_len, "CPU has vmx/svm but %s cannot be opened (%s); using tcg", kvm_path,
			 strerror(errno));
		return ACCEL_TCG;
	}
	enum accel a = ACCEL_TCG;
	int version = ioctl(fd, KVM_GET_API_VERSION, 0);
	int vm = version == KVM_API_EXPECTED ? ioctl(fd, KVM_CREATE_VM, 0) : -1;
	if (version != KVM_API_EXPECTED) {
		snprintf(why, why_len, "%s answers KVM API version %d, not %d; using tcg", kvm_path, version,
			 KVM_API_EXPECTED);
	} else if (vm < 0) {
		snprintf(why, why_len, "%s cannot create a VM (%s); using tcg", kvm_path, strerror(errno));
	} else {
		close(vm);
		a = ACCEL_KVM;
		snprintf(why, why_len, "CPU has vmx/svm and %s creates VMs; using kvm", kvm_path);
	}
	close(fd);
	return a;
}
