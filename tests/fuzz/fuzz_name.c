/* fuzz_name: resource name validation (VMs, images, volumes, snapshots, types).
 * An accepted name is a DNS label; a refused one gets a message that can
 * travel in JSON. */
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "model/vm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);
	if (!s)
		return -1;
	struct err e = {0};
	int rc = vm_name_validate(s, "name", &e);
	if (rc < 0) {
		fuzz_check_err(rc, &e, s);
	} else {
		size_t n = strlen(s);
		FUZZ_ASSERT(n >= 1 && n <= NAME_MAX_LEN, "a name of %zu characters accepted", n);
		FUZZ_ASSERT(s[0] >= 'a' && s[0] <= 'z' && s[n - 1] != '-', "\"%s\" accepted", s);
		FUZZ_ASSERT(strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n, "\"%s\" accepted", s);
	}
	free(s);
	return 0;
}
