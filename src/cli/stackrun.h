/*
 * stackrun: running a stack's apply steps against nubod, several at once.
 *
 * A step is one resource and one phase (model/stackgraph.h); it is driven by
 * POST /v1/stacks/NAME/apply until nubod says it is done, following each
 * operation the step starts. Steps whose waits have all succeeded start at
 * once, up to a bound; after a failure nothing new starts, the steps under
 * way run to their end, and the summary says which failed, which succeeded
 * and which never started.
 */
#pragma once

#include <jansson.h>

#include "cli/cli.h"
#include "model/stackgraph.h"

/* How many steps run at once unless --parallel says otherwise, and the most it may say. */
#define STACKRUN_PARALLEL_DEFAULT 4
#define STACKRUN_PARALLEL_MAX 32

struct stackrun_ops {
	void *arg;
	/* One POST .../apply of the step: the answer ({done, did, operation?}),
	 * or NULL with e set. */
	json_t *(*apply)(void *arg, const char *resource, const char *phase, struct err *e);
	/* e as the user should read it (pointed into the stack file, say), into buf. */
	void (*explain)(void *arg, const struct err *e, char *buf, size_t len);
};

/* Runs every step of g (states all pending), at most parallel at once,
 * printing each resource's progress as it happens. Returns CLI_EXIT_OK when
 * all succeeded, CLI_EXIT_FAILED after a failure, CLI_EXIT_INTERRUPTED after
 * Ctrl-C; in both of the latter it prints what was done and what was not,
 * and to run verb ("apply", "destroy") again. */
int stackrun(struct cli_ctx *ctx, struct stackgraph *g, int parallel, const char *verb,
	     const struct stackrun_ops *ops);
