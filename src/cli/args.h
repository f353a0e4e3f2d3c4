/*
 * args: command-line flags for the nubo CLI, declared as tables.
 *
 * A verb declares its flags as an array of struct arg_flag ending with an
 * entry whose name is NULL. args_parse() walks argv once against one or more
 * such tables and fills struct args: flag values, positional arguments and,
 * for verbs that allow it, the words after "--". Flags may come before or
 * after positionals ("vm create web1 --wait" and "vm create --wait web1"), as
 * "--flag value" or "--flag=value"; short flags as "-i KEY" or "-iKEY".
 * "-h" and "--help" are always understood.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

enum arg_type {
	ARG_BOOL,  /* present or not */
	ARG_VALUE, /* takes one value */
};

struct arg_flag {
	const char *name;    /* long name without dashes ("type"); NULL ends a table */
	char short_name;     /* 'i' for -i, or 0 */
	enum arg_type type;
	const char *metavar; /* "T" in "--type T"; for ARG_VALUE */
	const char *help;    /* one line */
};

enum args_mode {
	ARGS_INTERLEAVED = 0,  /* flags anywhere; words after "--" are positionals */
	ARGS_STOP_AT_WORD = 1, /* stop at the first positional (global flags before the noun) */
	ARGS_REST = 2,         /* words after "--" go to rest (a remote command) */
};

struct args {
	/* Flags seen, in order; a later one overrides an earlier one of the same name. */
	const struct arg_flag **flags;
	const char **values; /* "" for ARG_BOOL */
	size_t nflags;
	char **pos;          /* positionals (pointers into argv) */
	size_t npos;
	char **rest;         /* after "--" in ARGS_REST mode */
	size_t nrest;
	bool has_rest;       /* "--" was given in ARGS_REST mode */
	bool help;           /* -h or --help */
	int next;            /* ARGS_STOP_AT_WORD: index of the first word not consumed */
};

/* Parses argv[0..argc) against the NULL-terminated list of flag tables.
 * Returns 0, or ERR_INVALID with a sentence ("unknown flag --foo",
 * "flag --type needs a value T") in e. out is owned by the caller and freed
 * with args_free() whatever the outcome; it points into argv. */
int args_parse(int argc, char **argv, const struct arg_flag *const tables[], enum args_mode mode,
	       struct args *out, struct err *e);
void args_free(struct args *a);

/* The value of --name (last one wins), or NULL when absent. */
const char *args_value(const struct args *a, const char *name);
/* Every value of a flag given more than once, in order (at most max); the count. */
size_t args_values(const struct args *a, const char *name, const char **out, size_t max);
/* Whether --name was given. */
bool args_has(const struct args *a, const char *name);

/* "  --type T        help" lines for a table, aligned, into a new string. Caller frees. */
char *args_describe(const struct arg_flag *const tables[]);
