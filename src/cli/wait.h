/*
 * wait: following a long action (an operation) to its end.
 *
 * Create, start, stop, reboot, delete and image build answer at once with an
 * operation; the CLI either prints how to follow it or, with --wait, follows
 * GET /v1/operations/{id}?wait=30&after=REVISION (each request held by nubod
 * until the operation changes) and prints each phase as it completes:
 *
 *     scheduled   0.00s
 *     disk        0.04s
 *     boot        0.35s
 *     ssh-ready   4.12s
 *
 * On a terminal a live line shows the phase being waited for and the time
 * so far; in a pipe only the finished lines appear.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "cli/cli.h"

/* The pause between two requests when an answer brought nothing new (a nubod
 * that does not hold requests), and how often the live line is redrawn. */
#define WAIT_POLL_MS 150

/* Follows op (as the API returned it) until it is no longer running.
 * Returns CLI_EXIT_OK when it succeeded, with its total time in *elapsed_ms
 * (may be NULL); CLI_EXIT_FAILED after printing "nubo: <its error>";
 * CLI_EXIT_INTERRUPTED after Ctrl-C (the operation goes on in nubod). */
int wait_operation(struct cli_ctx *ctx, const json_t *op, int64_t *elapsed_ms);

/* After an action answered with op: with follow, like wait_operation() and
 * *done = true on success; without, prints "<doing>: operation op-...",
 * how to follow it, and *done = false. Returns the exit code. */
int wait_or_report(struct cli_ctx *ctx, const json_t *op, bool follow, const char *doing,
		   bool *done, int64_t *elapsed_ms);

/* A progress bar for an operation that reports bytes ("progress"), or NULL. Caller frees. */
char *wait_progress_note(const json_t *op);
/* "  scheduled   0.00s": one finished phase. Caller frees. */
char *wait_phase_line(const char *name, int64_t at_ms);
/* Prints "TITLE:" and one wait_phase_line per phase of a JSON phase list; nothing if empty. */
void wait_print_phases(FILE *out, const char *title, const json_t *phases);
/* The path that waits for the next change of op, whose plain path is path:
 * "PATH?wait=30&after=REVISION", or path itself when op has no revision.
 * Caller frees. */
char *wait_poll_path(const char *path, const json_t *op);
/* The phase expected after the first done phases of an operation of kind
 * (docs/api.md), or NULL when unknown. */
const char *wait_next_phase(const char *kind, size_t done);
/* Total time of a finished operation: its last phase's at_ms, else
 * finished_at - created_at, else -1. */
int64_t wait_op_elapsed_ms(const json_t *op);
