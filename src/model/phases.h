/*
 * phases: the named steps of an operation (scheduled, disk, boot, ssh-ready…)
 * with when each finished, counted from the operation's start, and how long
 * it took. Stored as JSON, shown by the CLI while it waits.
 */
#pragma once

#include <jansson.h>
#include <stdint.h>

#define PHASES_MAX 12

struct phase {
	char name[24];
	int64_t at_ms;        /* finished this long after the operation began */
	int64_t duration_ms;  /* since the previous phase finished */
};

struct phases {
	int n;
	struct phase p[PHASES_MAX];
};

/* Records that phase `name` finished at now_ms for an operation that began
 * at start_ms. A phase already recorded is not recorded twice. */
void phases_mark(struct phases *ph, const char *name, int64_t start_ms, int64_t now_ms);
int phases_has(const struct phases *ph, const char *name);
json_t *phases_to_json(const struct phases *ph);
/* Parses what phases_to_json wrote; bad input gives an empty list. */
void phases_from_json_text(struct phases *ph, const char *text);
