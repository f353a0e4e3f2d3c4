/*
 * operation: a long action (create, start, stop, reboot, delete, image
 * build) as clients follow it: its phases as they complete, and how it ended.
 * Rows outlive nubod restarts; the reconciler finishes what was cut off.
 */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "model/machine_type.h"
#include "model/phases.h"
#include "util/ids.h"

enum op_state { OP_RUNNING, OP_SUCCEEDED, OP_FAILED };

struct operation {
	char id[ID_MAX];
	char kind[16];
	char target[ID_MAX];
	char target_name[NAME_MAX_LEN + 1];
	enum op_state state;
	char *error;
	struct phases phases;
	int64_t created_at, finished_at;
	int64_t progress_done, progress_total;  /* bytes, for long transfers; 0/0: none */
};

/* A fresh running operation of kind on target, created now. */
void operation_init(struct operation *op, const char *kind, const char *target, const char *target_name);
void operation_free_fields(struct operation *op);
const char *op_state_name(enum op_state s);
int op_state_parse(const char *s, enum op_state *out);
json_t *operation_to_json(const struct operation *op);
