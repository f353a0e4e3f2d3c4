/* fuzz_stackfile: the stack file parser (libyaml to the stack document) and
 * the model's checks on what it makes. Whatever the bytes: no crash or leak;
 * an error is ERR_INVALID whose message starts with the file's name and is
 * valid UTF-8 (nubod and the CLI print it); an accepted document passes
 * stack_parse or is refused by it with a located message; and what the model
 * accepts is in dependency order (everything a resource needs comes first). */
#include <stdlib.h>
#include <string.h>

#include "cli/stackfile.h"
#include "common.h"
#include "model/stack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct stackfile sf;
	struct err e = {0};
	/* Not a C string: YAML text may hold any byte, and the parser takes a length. */
	int rc = stackfile_parse("f.yaml", (const char *)data, size, NULL, &sf, &e);
	if (rc < 0) {
		fuzz_check_err(rc, &e, "(yaml)");
		FUZZ_ASSERT(strncmp(e.msg, "f.yaml:", 7) == 0, "an error does not name the file: %s", e.msg);
		stackfile_free(&sf);
		return 0;
	}
	struct stack st;
	struct err me = {0};
	rc = stackfile_check(&sf, &st, &me);
	if (rc < 0) {
		fuzz_check_err(rc, &me, "(document)");
		FUZZ_ASSERT(strncmp(me.msg, "f.yaml:", 7) == 0, "a check's error is not located: %s", me.msg);
	} else {
		for (int i = 0; i < st.n; i++)
			for (int d = 0; d < st.res[i].n_deps; d++)
				FUZZ_ASSERT(st.res[i].deps[d] < i, "%s comes before what it needs", st.res[i].path);
		stack_free(&st);
	}
	stackfile_free(&sf);
	return 0;
}
