/* fuzz_wait: longpoll_wait_parse, the wait= of GET /v1/operations/{id}, and
 * operation_revision_valid, its after=. An accepted wait is 0 to 60 s and
 * the text is digits with at most one point; a refused one is a 400 that
 * names the text. */
#include <stdlib.h>
#include <string.h>

#include "api/longpoll.h"
#include "common.h"
#include "model/operation.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);
	if (!s)
		return -1;
	struct err e = {0};
	int64_t ms = -1;
	int rc = longpoll_wait_parse("wait", s, &ms, &e);
	if (rc < 0) {
		fuzz_check_err(rc, &e, s);
		FUZZ_ASSERT(ms == -1, "\"%s\" was refused but changed the output", s);
	} else {
		FUZZ_ASSERT(ms >= 0 && ms <= LONGPOLL_MAX_SECONDS * 1000, "\"%s\" read as %lld ms", s, (long long)ms);
		FUZZ_ASSERT(*s && strspn(s, "0123456789.") == strlen(s) && strchr(s, '.') == strrchr(s, '.') &&
				    strpbrk(s, "0123456789"),
			    "\"%s\" was taken although it is not digits with at most one point", s);
	}
	if (operation_revision_valid(s))
		FUZZ_ASSERT(strlen(s) == OP_REVISION_LEN - 1 && strspn(s, "0123456789abcdef") == strlen(s),
			    "\"%s\" was taken as a revision", s);
	free(s);
	return 0;
}
