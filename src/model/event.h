/*
 * event: one row of the event log, what changed in a resource's spec or
 * status ("created", "state: pending→running", "rule added: …",
 * "deleted"), numbered by a sequence that only grows. Clients and
 * reconcilers remember the last number they saw and read on from it.
 *
 * This module is pure: the texts the store writes, the JSON the API answers,
 * and the parsing of the API's query parameters.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "model/machine_type.h"
#include "util/err.h"
#include "util/ids.h"
#include "util/str.h"

/* Events a GET /v1/events answers at most, and by default. */
#define EVENTS_LIMIT_MAX 1000
#define EVENTS_LIMIT_DEFAULT 100

struct event {
	int64_t seq;
	int64_t at;                    /* ms since the epoch */
	char kind[16];                 /* one of event_kinds */
	char id[ID_MAX];               /* the resource's id */
	char name[NAME_MAX_LEN + 1];   /* its name (an operation: its target's) */
	char *what;                    /* "state: pending→running" */
	char *detail;                  /* a small JSON object as text, or NULL */
};

/* The kinds of resource events are about, NULL-terminated. */
extern const char *const event_kinds[];

void event_free_fields(struct event *ev);
void event_list_free(struct event *evs, int n);
json_t *event_to_json(const struct event *ev);

/* Query parameters of GET /v1/events; on bad text a 400 naming param and text. */
int event_seq_parse(const char *param, const char *text, int64_t *out, struct err *e);    /* 0 … 2^63-1 */
int event_limit_parse(const char *param, const char *text, int *out, struct err *e);      /* 1 … EVENTS_LIMIT_MAX */
int event_kind_parse(const char *param, const char *text, struct err *e);                 /* one of event_kinds */

/* Adds "col: old→new" to b, after ", " if b is not empty ("" shows as "-"). */
void event_text_change(struct sbuf *b, const char *col, const char *old, const char *now);
/* Adds "updated: a, b" (names, comma-separated) after what b holds. */
void event_text_updated(struct sbuf *b, const char *const *cols, int n);
