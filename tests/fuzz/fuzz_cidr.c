/* fuzz_cidr: cidr4_parse, and the arithmetic on what it accepts. An accepted
 * subnet prints back as the very text it came from (no leniency such as
 * " 24" or "+24" slips through), and its first and last hosts map back to
 * their indexes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "model/cidr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);
	if (!s)
		return -1;
	struct err e = {0};
	struct cidr c;
	int rc = cidr4_parse(s, "cidr", &c, &e);
	if (rc < 0) {
		fuzz_check_err(rc, &e, s);
	} else {
		FUZZ_ASSERT(c.prefix >= 8 && c.prefix <= 30, "prefix %d accepted", c.prefix);
		char text[32];
		snprintf(text, sizeof(text), "%u.%u.%u.%u/%d", c.net >> 24, (c.net >> 16) & 255, (c.net >> 8) & 255,
			 c.net & 255, c.prefix);
		FUZZ_ASSERT(strcmp(text, s) == 0, "\"%s\" was read as %s", s, text);
		uint32_t n = cidr4_host_count(&c);
		char ip[16];
		cidr4_host(&c, 1, ip);
		FUZZ_ASSERT(cidr4_index_of(&c, ip) == 1, "the first host %s of %s is not index 1", ip, s);
		cidr4_host(&c, n, ip);
		FUZZ_ASSERT(cidr4_index_of(&c, ip) == n, "the last host %s of %s is not index %u", ip, s, n);
		struct cidr same = c;
		FUZZ_ASSERT(cidr4_overlaps(&c, &same), "%s does not overlap itself", s);
	}
	free(s);
	return 0;
}
