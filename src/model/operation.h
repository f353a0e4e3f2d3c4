/*
 * operation: a long action (create, start, stop, reboot, delete, image
 * build) as clients follow it: its phases as they complete, and how it ended.
 * Rows outlive nubod restarts; the reconciler finishes what was cut off.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
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
/* A time in ms since the epoch as RFC 3339 with milliseconds ("…T12:00:00.123Z"); 0: null. */
json_t *time_ms_json(int64_t ms);

/* The revision: 16 hex digits that change whenever anything a client sees of
 * the operation changes (state, error, phases, progress, end), and only then.
 * Derived from those fields, so it needs no storage and reads the same after
 * a restart; clients hand it back to wait for the next change
 * (GET /v1/operations/{id}?wait=…&after=REVISION). */
#define OP_REVISION_LEN 17
void operation_revision(const struct operation *op, char out[OP_REVISION_LEN]);
/* Whether s has the shape of a revision (16 lowercase hex digits). */
bool operation_revision_valid(const char *s);
