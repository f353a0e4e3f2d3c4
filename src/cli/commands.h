/*
 * commands: the table of nubo's commands, their help and their dispatch.
 *
 * A command is a noun ("vm") and a verb ("create"). Each resource file
 * (vm.c, image.c, type.c, host.c, operation.c) defines one struct cli_noun
 * whose verbs are rows: name, usage, flags, how many positionals, and the
 * function that runs it. Adding a command is adding a row; help, usage
 * errors and flag parsing come from the row.
 *
 * The same tables make `nubo completion bash|zsh` and the man page
 * (`nubo --man`), so a new row is completed and documented too.
 */
#pragma once

#include <stdbool.h>

#include "cli/args.h"
#include "cli/cli.h"

struct cli_verb {
	const char *name;       /* "create"; NULL ends a noun's verbs */
	const char *usage;      /* what follows the verb: "NAME [--type T] [--wait]" */
	const char *summary;    /* one line for `nubo --help` */
	const char *details;    /* more paragraphs for --help, or NULL */
	const struct arg_flag *flags; /* table ending with a NULL name, or NULL */
	int min_pos, max_pos;   /* positionals accepted */
	bool rest;              /* accepts "-- CMD..." */
	int (*run)(struct cli_ctx *ctx, const struct args *a);
};

struct cli_noun {
	const char *name;
	const char *summary;
	const struct cli_verb *verbs;
	/* A command of one word (`nubo events --follow`): its one verb runs
	 * without a verb word, and the verb's name ("") is not shown. */
	bool direct;
};

/* The nouns, each defined in its own file. */
extern const struct cli_noun vm_noun;
extern const struct cli_noun image_noun;
extern const struct cli_noun type_noun;
extern const struct cli_noun host_noun;
extern const struct cli_noun operation_noun;
extern const struct cli_noun volume_noun;
extern const struct cli_noun snapshot_noun;
extern const struct cli_noun network_noun;
extern const struct cli_noun firewall_noun;
extern const struct cli_noun lb_noun;
extern const struct cli_noun group_noun;

/* vm create's reading of --ssh-key (or nubo's own key) and --user-data (vm.c),
 * shared with group create: an exit code (in *rc), or what to send. */
int vm_create_keys(struct cli_ctx *ctx, const struct args *a, char ***keys, char **key_file);
json_t *vm_create_user_data(struct cli_ctx *ctx, const char *file, int *rc);
/* vm protect and unprotect (group.c). */
int vm_protect(struct cli_ctx *ctx, const struct args *a);
int vm_unprotect(struct cli_ctx *ctx, const struct args *a);

/* vm stats and vm set (stats.c), with their flags. */
int vm_stats(struct cli_ctx *ctx, const struct args *a);
int vm_set(struct cli_ctx *ctx, const struct args *a);
extern const struct arg_flag vm_stats_flags[];
extern const struct arg_flag vm_set_flags[];

/* VM verbs about its network (firewall.c): set-firewall, expose, unexpose, ports. */
int vm_set_firewall(struct cli_ctx *ctx, const struct args *a);
int vm_expose(struct cli_ctx *ctx, const struct args *a);
int vm_unexpose(struct cli_ctx *ctx, const struct args *a);
int vm_ports(struct cli_ctx *ctx, const struct args *a);
extern const struct cli_noun token_noun;
extern const struct cli_noun events_noun;

/* One event of GET /v1/events as `nubo events` prints it: "SEQ TIME KIND NAME: WHAT". Caller frees. */
char *events_line(const json_t *ev);
extern const struct cli_noun stack_noun;
extern const struct cli_noun usage_noun;
extern const struct cli_noun budget_noun;
/* Prints on ctx->err a warning when this month's cost has reached 80 % or
 * 100 % of the monthly budget (usage.c); silent otherwise and on errors. */
void budget_warn(struct cli_ctx *ctx);

/* A word that stands for a noun and verb: `nubo plan` is `nubo stack plan`. */
struct cli_alias {
	const char *word;
	const struct cli_noun *noun;
	const char *verb;
};
/* The aliases, ending with a NULL word. */
extern const struct cli_alias commands_aliases[];
extern const struct cli_noun version_noun;
extern const struct cli_noun openapi_noun;
extern const struct cli_noun completion_noun;
extern const struct cli_noun profile_noun;

/* Every noun, in the order of `nubo --help`; NULL-terminated, static. */
const struct cli_noun *const *commands_nouns(void);
/* Whether n is a command on its own (n->direct: `nubo events`, `nubo version`). */
bool commands_noun_alone(const struct cli_noun *n);

/* Flags every verb understands: --profile, --socket, --url, --token, --cacert. */
extern const struct arg_flag commands_global_flags[];

/* Runs argv (without the program name): global flags, noun, verb, its flags.
 * Returns the process exit code. */
int commands_run(struct cli_ctx *ctx, int argc, char **argv);

/* The text of `nubo --help`; caller frees. */
char *commands_help(void);
/* nubo(1) in roff, from the tables (man.c); caller frees. */
char *commands_man(void);
/* Flags only before the noun: --version, --man. */
extern const struct arg_flag commands_top_flags[];
