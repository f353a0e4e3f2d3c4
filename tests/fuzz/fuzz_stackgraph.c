/* fuzz_stackgraph: a plan's steps as the CLI reads them back from nubod
 * (model/stackgraph.c). Whatever the JSON: no crash or leak; a refusal is
 * ERR_INVALID with a UTF-8 message; and a graph that is accepted can be run
 * to its end: starting whatever is ready and finishing it, one at a time,
 * every step runs exactly once (no wait on a missing step, no circle). */
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "model/stackgraph.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *j = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
	if (!j)
		return 0;
	struct stackgraph g;
	struct err e = {0};
	int rc = stackgraph_from_json(j, &g, &e);
	json_decref(j);
	if (rc < 0) {
		fuzz_check_err(rc, &e, "(steps)");
		FUZZ_ASSERT(g.n == 0, "a refused graph keeps %d steps", g.n);
		return 0;
	}
	int ran = 0, i;
	while ((i = stackgraph_ready(&g)) >= 0) {
		FUZZ_ASSERT(g.steps[i].state == STACKGRAPH_PENDING, "step %d is ready twice", i);
		g.steps[i].state = STACKGRAPH_DONE;
		ran++;
	}
	FUZZ_ASSERT(ran == g.n, "an accepted graph ran %d of its %d steps", ran, g.n);
	stackgraph_free(&g);
	return 0;
}
