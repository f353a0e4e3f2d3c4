/* fuzz_usage: usage_time_parse and usage_by_parse, the from=, to= and by=
 * of GET /v1/usage. An accepted date is one that exists, written as
 * YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ, and prints back to the same text; a
 * refused one is a 400 that names the parameter. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "model/usage.h"
#include "util/timeutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);
	if (!s)
		return -1;
	struct err e = {0};
	int64_t ms = -1;
	int rc = usage_time_parse("from", s, &ms, &e);
	if (rc < 0) {
		fuzz_check_err(rc, &e, s);
		FUZZ_ASSERT(strncmp(e.msg, "from \"", 6) == 0, "\"%s\": the error does not name from: %s", s, e.msg);
		FUZZ_ASSERT(ms == -1, "\"%s\" was refused but changed the output", s);
	} else {
		char back[32];
		time_format_rfc3339(ms, back);   /* "2026-12-01T10:30:00Z" */
		size_t n = strlen(s);
		FUZZ_ASSERT(ms >= 0 && ms % 1000 == 0, "\"%s\" read as %lld ms", s, (long long)ms);
		FUZZ_ASSERT((n == 10 && strncmp(back, s, 10) == 0 && strcmp(back + 10, "T00:00:00Z") == 0) ||
				    (n == 20 && strcmp(back, s) == 0),
			    "\"%s\" was taken as %s", s, back);
	}
	enum usage_by by = USAGE_BY_DAY;
	memset(&e, 0, sizeof(e));
	rc = usage_by_parse("by", s, &by, &e);
	if (rc < 0)
		fuzz_check_err(rc, &e, s);
	else
		FUZZ_ASSERT(strcmp(usage_by_name(by), s) == 0, "\"%s\" was taken as %s", s, usage_by_name(by));
	free(s);
	return 0;
}
