/*
 * stackplan: a stack's plan, shared by the files of ctl that plan and apply
 * stacks (stackplan.c, stacks.c). Nothing outside ctl/ includes this; the
 * API sees plans as JSON through ctl.h.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "ctl/ctl-priv.h"
#include "model/stack.h"

enum stack_action { STACK_NONE, STACK_CREATE, STACK_UPDATE, STACK_REPLACE, STACK_DELETE };
const char *stack_action_name(enum stack_action a);

/* A resource as the store holds it now. */
struct stack_live {
	bool exists;
	bool going;               /* being deleted */
	json_t *spec;             /* normalized like the document's (model/stack.h); owned */
	char id[ID_MAX];
	char ip[16];              /* VM: the primary address */
	char type[NAME_MAX_LEN + 1];   /* VM, group: its machine type, for the cost */
	int count;                /* group: its desired count of VMs, for the cost */
	uint64_t disk_bytes;      /* VM and each VM of a group: its root disk; volume: its size */
};
/* An image's virtual size (a root disk's size unless the file says), 0 if there is none. */
uint64_t stack_image_bytes(struct ctl *c, const char *name);
/* l->exists false when there is none; errors only when the store fails. */
int stack_live_get(struct ctl *c, enum stack_kind k, const char *name, struct stack_live *l, struct err *e);

/* Appends {field, old, new, forces_replace} to fields for every field that
 * differs between want and have (have is live, or what was applied); the
 * count. *replace: some differing field cannot change in place. */
int stack_diff(enum stack_kind k, const json_t *want, const json_t *have, json_t *fields, bool *replace);

struct stack_change {
	enum stack_kind kind;
	char name[NAME_MAX_LEN + 1];
	int res;                  /* index in the plan's stack.res; -1: owned, gone from the document */
	enum stack_action action;
	bool owned;
	bool unknown;             /* user data refers to an address known only after apply */
	json_t *want;             /* document's spec with references filled in; NULL for a delete */
	json_t *applied;          /* as last applied; NULL if never */
	json_t *fields;           /* what differs, want against live */
	json_t *drift;            /* NULL, or {what: deleted|changed, fields} */
	struct stack_live live;
};

struct stack_plan {
	struct stack stack;
	struct stack_change *ch;  /* the document's resources in dependency order, then the dropped ones */
	int n;
	struct stack_state state; /* zero if the stack has none yet */
	bool has_state;
	double hourly_before, hourly_after;
};

/* The plan for doc (the stack document), which must be stack name. Errors
 * about the document start with the field's path. */
int stackplan_make(struct ctl *c, const char *name, const json_t *doc, struct stack_plan *p, struct err *e);
void stackplan_free(struct stack_plan *p);
struct stack_change *stackplan_find(struct stack_plan *p, enum stack_kind k, const char *name);
/* {stack, serial, changes, drift, steps, summary, cost, changed}; caller decrefs. */
json_t *stackplan_to_json(const struct stack_plan *p);

/* stacklb.c: balancers and groups. Live specs as stack_live_get gives them
 * (errors as the store's: ERR_NOT_FOUND when there is none); a create makes
 * one from ch->want and gives its id; an update makes the in-place changes
 * stack_diff found (a balancer's targets; a group's sizes, target tracking,
 * image and type). */
int stack_live_lb(struct ctl *c, const char *name, struct stack_live *l, struct err *e);
int stack_live_group(struct ctl *c, const char *name, struct stack_live *l, struct err *e);
int stack_lb_create(struct ctl *c, const struct stack_change *ch, char id[ID_MAX], struct err *e);
int stack_group_create(struct ctl *c, const struct stack_change *ch, char id[ID_MAX], struct err *e);
int stack_lb_update(struct ctl *c, const struct stack_change *ch, struct err *e);
int stack_group_update(struct ctl *c, const struct stack_change *ch, struct err *e);
