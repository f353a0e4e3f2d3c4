/* dry-run.h: cmocka setup and teardown for unit tests of the dry-run runner:
 * every such test starts from an empty capture and ends outside dry-run. */
#pragma once

#include <stdlib.h>

#include "util/runner.h"

static inline int dry_setup(void **state)
{
	(void)state;
	runner_set_dry_run(true);
	free(runner_take_capture());
	return 0;
}

static inline int dry_teardown(void **state)
{
	(void)state;
	free(runner_take_capture());
	runner_set_dry_run(false);
	return 0;
}
