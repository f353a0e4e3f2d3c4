/*
 * cli: the nubo command, a thin client of nubod's REST API.
 *
 * cli_main() is all that src/cmd/nubo.c calls. The rest of this header is
 * the context that every verb receives and the few helpers they share:
 * the lazily made API client, "nubo: <message>" errors and --json output.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cli/args.h"
#include "cli/client.h"
#include "cli/profile.h"
#include "util/err.h"

/* Exit codes: 0 done; 1 the API or an operation said no; 2 the command line
 * (or a local file it names) is wrong and nothing was sent; 124 an operation
 * still running when --wait-timeout ran out; 130 interrupted. */
enum {
	CLI_EXIT_OK = 0,
	CLI_EXIT_FAILED = 1,
	CLI_EXIT_USAGE = 2,
	CLI_EXIT_TIMEOUT = 124,
	CLI_EXIT_INTERRUPTED = 130,
};

struct cli_ctx {
	FILE *out;                 /* results */
	FILE *err;                 /* "nubo: ..." messages */
	bool tty;                  /* out is a terminal: live progress while waiting */
	struct client_opts conn;   /* from --socket/--url/--token, the environment or a profile */
	struct profile profile;    /* the profile conn's strings may point into */
	struct client *client;     /* made on first use by cli_client() */
	int64_t now_ms;            /* one "now" per run, so that ages in a table agree */
	int64_t wait_timeout_ms;   /* --wait-timeout: how long --wait follows an operation; 0: to its end */
};

int cli_main(int argc, char **argv);
/* cli_main with chosen output streams and without process-wide setup; for tests. */
int cli_run(int argc, char **argv, FILE *out, FILE *err);

/* The API client for this run (made on first call; freed when the run ends). */
struct client *cli_client(struct cli_ctx *ctx);
/* base with "?NAME=VALUE&…" for each of the NULL-terminated flag names a
 * gives, values escaped; caller frees. */
char *cli_path_with_flags(const char *base, const struct args *a, const char *const *names);
/* Prints "nubo: <e->msg>" on ctx->err and returns code. */
int cli_fail(struct cli_ctx *ctx, int code, const struct err *e);
/* Prints "nubo: <formatted>" on ctx->err and returns code. */
int cli_failf(struct cli_ctx *ctx, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Pretty JSON for scripts (--json), with a final newline. Returns 0. */
int cli_print_json(struct cli_ctx *ctx, const json_t *j);
/* GETs path and returns the parsed JSON (caller decrefs), or NULL after
 * printing the error. */
json_t *cli_get(struct cli_ctx *ctx, const char *path);
/* s, or "-" for a field that is not set (tables and key: value views). */
const char *cli_or_dash(const char *s);
/* The flag tables most list/show and action verbs take. */
extern const struct arg_flag cli_json_flags[];   /* --json */
extern const struct arg_flag cli_wait_flags[];   /* --wait */

/* A request whose answer is the resource itself (no operation to follow):
 * the answer (caller decrefs; {} for 204), or NULL after printing the error.
 * Takes body. */
json_t *cli_send(struct cli_ctx *ctx, const char *method, const char *path, json_t *body);
/* Polls GET path until it is 404 (a delete that ends on its own): 0, or
 * the exit status of the failure it reported. */
int cli_wait_gone(struct cli_ctx *ctx, const char *path);

/* What every action on a resource does: send it, then follow the operation
 * (with --wait) or say how to. noun is the answer's key ("volume") and names
 * it for people; name NULL takes the resource's name from the answer. A 200
 * answer means there was nothing to do. Returns the exit code. */
int cli_act(struct cli_ctx *ctx, const struct args *a, const char *method, const char *path, json_t *body,
	    const char *noun, const char *name, const char *doing, const char *done);
/* What every list and show does: GET path, then print the API's JSON with
 * --json, or hand the answer to print (for people). Returns the exit code. */
int cli_show(struct cli_ctx *ctx, const struct args *a, const char *path,
	     void (*print)(struct cli_ctx *ctx, const json_t *answer));

/* Fields of API objects; NULL or a default when missing or JSON null. */
const char *cli_jstr(const json_t *o, const char *key);
int64_t cli_jint(const json_t *o, const char *key, int64_t dflt);
double cli_jreal(const json_t *o, const char *key, double dflt);
