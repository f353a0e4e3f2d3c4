/* fuzz_size: size_parse, and size_format on what it accepts. An accepted
 * size is DIGITS[.DIGITS]UNIT and nothing else (checked here without the
 * parser's code), at least one sector and at most the parser's own limit,
 * a whole number of 512-byte sectors (what qemu-img creates, so what is
 * recorded), and the text size_format prints for it parses again to within
 * its rounding. */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common.h"
#include "model/size.h"

/* The grammar, read a second way: digits, at most one point with digits on
 * both sides, then only letters of a known unit. */
static bool grammar_ok(const char *s)
{
	size_t i = 0, digits = 0, decimals = 0;
	while (isdigit((unsigned char)s[i]))
		i++, digits++;
	if (s[i] == '.') {
		i++;
		while (isdigit((unsigned char)s[i]))
			i++, decimals++;
		if (!decimals)
			return false;
	}
	static const char *const units[] = {"", "k", "kib", "m", "mib", "g", "gib", "t", "tib"};
	for (size_t u = 0; u < sizeof(units) / sizeof(units[0]); u++)
		if (strcasecmp(s + i, units[u]) == 0)
			return digits > 0 && decimals <= SIZE_DECIMALS_MAX && !(u == 0 && decimals);
	return false;
}

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
		/* refused although well-formed: only zero or too large may be */
		FUZZ_ASSERT(!grammar_ok(s) || strstr(e.msg, "is zero") || strstr(e.msg, "too large"),
			    "\"%s\" refused: %s", s, e.msg);
	} else {
		FUZZ_ASSERT(grammar_ok(s), "\"%s\" is not DIGITS[.DIGITS]UNIT but parsed as %llu bytes", s,
			    (unsigned long long)bytes);
		FUZZ_ASSERT(bytes >= SIZE_ROUND && bytes <= SIZE_MAX_BYTES, "\"%s\" parsed as %llu bytes", s,
			    (unsigned long long)bytes);
		FUZZ_ASSERT(bytes % SIZE_ROUND == 0, "\"%s\" parsed as %llu bytes, not whole sectors", s,
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
