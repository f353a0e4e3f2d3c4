/*
 * stackfile: a stack file (YAML, read with libyaml) turned into the JSON
 * document nubod reads (model/stack.h), with where each field sits in the
 * file, so that any error about a field, found here, by the model's checks
 * or by nubod, reaches the user as "shop.yaml:7:15: vms.web.type: …".
 *
 * YAML's plain scalars become JSON the way a reader expects: true/false,
 * null/~/nothing, integers; everything else, and every quoted scalar, is a
 * string. Anchors, aliases, tags and several documents are refused: a stack
 * file is a plain tree. A VM's or a group's user_data_file is read here,
 * relative to the stack file, and sent as user_data.
 */
#pragma once

#include <jansson.h>
#include <stddef.h>

#include "model/stack.h"
#include "util/err.h"

struct stackfile_pos {
	char *path;   /* "vms.web.networks[1]" */
	int line, col;   /* 1-based, of the value */
};

struct stackfile {
	char *name;      /* the file as the user named it */
	json_t *doc;     /* the document; owned */
	struct stackfile_pos *pos;
	int n_pos;
};

/* Reads and converts file. Errors are ERR_INVALID "FILE:LINE:COL: …"; a file
 * that cannot be read is "FILE: …". Free out with stackfile_free whatever the
 * outcome. */
int stackfile_load(const char *file, struct stackfile *out, struct err *e);
/* The same for text in memory; dir is where user_data_file is looked for
 * (NULL: user_data_file is refused). For tests and the fuzz harness. */
int stackfile_parse(const char *name, const char *text, size_t len, const char *dir, struct stackfile *out,
		    struct err *e);
void stackfile_free(struct stackfile *sf);

/* Runs the model's checks (stack_parse) on the document; errors are located
 * as stackfile_locate says. */
int stackfile_check(const struct stackfile *sf, struct stack *out, struct err *e);

/* "FILE:LINE:COL: MSG" when msg starts with a field path the file has (or a
 * path below one it has: a missing field points at its parent), else
 * "FILE: MSG". Into out[n]. */
void stackfile_locate(const struct stackfile *sf, const char *msg, char *out, size_t n);
