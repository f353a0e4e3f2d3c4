/* fuzz_size: size_parse, and size_format on what it accepts. An accepted
 * size is at least one byte and at most the parser's own limit, and the
 * text size_format prints for it parses again to within its rounding. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "model/size.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);
	if (!s)
		return -1;
	struct err e = {0};
	uint64_t bytes = 0;
	int rc = size_parse(s, "size", &bytes, &e);
	if (rc < 0) {
		fuzz_check_err(rc, &e, s);
	} else {
		FUZZ_ASSERT(bytes >= 1 && bytes <= (1ull << 50), "\"%s\" parsed as %llu bytes", s,
			    (unsigned long long)bytes);
		char text[32];
		size_format(bytes, text);
		uint64_t again = 0;
		rc = size_parse(text, "size", &again, &e);
		FUZZ_ASSERT(rc == 0, "\"%s\" printed as \"%s\", which does not parse: %s", s, text, e.msg);
		/* one decimal of the unit: at most 5% off, and exact below 1K */
		double diff = fabs((double)again - (double)bytes);
		FUZZ_ASSERT(diff <= (double)bytes * 0.05, "\"%s\" = %llu printed as \"%s\" = %llu", s,
			    (unsigned long long)bytes, text, (unsigned long long)again);
	}
	free(s);
	return 0;
}
