/*
 * stackgraph: the steps of a stack's apply and what each waits for, so that
 * independent steps run at once and each starts as soon as the steps it
 * needs have succeeded. No I/O: nubod builds the graph into a plan
 * (ctl/stackplan.c), the CLI reads it back and schedules it (cli/stackrun.c).
 *
 * The one idea: nubod first lays the steps out in one order that is safe to
 * run one at a time (what must go first, then creates and updates in
 * dependency order, then what goes last), and an edge only ever points from
 * a step to an earlier one in that order. Running a step once its edges are
 * done is then the sequential order with the waits that are not needed left
 * out, and it cannot deadlock. stackgraph_check() still proves that of any
 * graph it is given (a plan read from a file or from a nubod is input), and
 * names the steps of a cycle.
 *
 * A step S waits for an earlier step T when:
 *   1. they are the same resource (a replace: make it again after it is gone);
 *   2. both make or change, and S's resource needs T's (a VM its networks,
 *      firewalls and the VMs its user data names; a volume the VM it is
 *      attached to; a firewall the firewalls its rules admit from);
 *   3. either deletes, and one of the two resources names the other in any of
 *      its specs (what the file wants, what exists, what was applied): so a
 *      VM goes before its network, volumes and firewalls, a volume is
 *      detached before its VM goes, a firewall goes after the VMs give it up;
 *   4. S makes a resource anew and T deletes one of the same kind: a delete
 *      frees the addresses, names, CIDRs and host capacity a create may need.
 *
 * JSON (in a plan's "steps"): [{"resource": "vm/web", "phase": "create",
 * "after": [0, 2]}], "after" holding indexes of earlier steps.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "util/err.h"

/* "kind/name": a kind word and a resource name. */
#define STACKGRAPH_RES_MAX 96

enum stackgraph_state { STACKGRAPH_PENDING, STACKGRAPH_RUNNING, STACKGRAPH_DONE, STACKGRAPH_FAILED };

struct stackgraph_step {
	char resource[STACKGRAPH_RES_MAX];
	bool del;                 /* phase "delete", else "create" (make or change) */
	bool makes;               /* a create-phase step that makes the resource anew */
	char (*needs)[STACKGRAPH_RES_MAX];   /* resources it is made after (rule 2) */
	int n_needs;
	char (*refs)[STACKGRAPH_RES_MAX];    /* resources any of its specs names (rule 3) */
	int n_refs;
	int *after;               /* steps it waits for, as indexes */
	int n_after;
	enum stackgraph_state state;
};

struct stackgraph {
	struct stackgraph_step *steps;
	int n;
};

void stackgraph_free(struct stackgraph *g);

/* Appends a step; its index. */
int stackgraph_add(struct stackgraph *g, const char *resource, bool del, bool makes);
/* What step i needs (rule 2) and names (rule 3); duplicates are dropped. */
void stackgraph_need(struct stackgraph *g, int i, const char *resource);
void stackgraph_ref(struct stackgraph *g, int i, const char *resource);
/* Step i waits for step j. */
void stackgraph_after(struct stackgraph *g, int i, int j);
/* Fills every step's after from the rules above, over the order the steps were added in. */
void stackgraph_link(struct stackgraph *g);

/* Every after is a step, and no step waits for itself through others;
 * otherwise ERR_INVALID naming the steps: "the steps wait for each other in
 * a circle: create vm/a → create vm/b → create vm/a". */
int stackgraph_check(const struct stackgraph *g, struct err *e);

/* [{"resource", "phase", "after"}]; caller decrefs. */
json_t *stackgraph_to_json(const struct stackgraph *g);
/* Reads a plan's steps and checks them (as stackgraph_check); errors name
 * the step ("steps[3].after[0]: ..."). On failure out is empty. */
int stackgraph_from_json(const json_t *steps, struct stackgraph *out, struct err *e);

/* "create" or "delete". */
const char *stackgraph_phase(const struct stackgraph_step *s);
/* Scheduling: a pending step whose afters all succeeded, or -1: none is, or
 * a step failed (after a failure nothing new starts). */
int stackgraph_ready(const struct stackgraph *g);
/* How many steps are in state st. */
int stackgraph_count(const struct stackgraph *g, enum stackgraph_state st);
/* A step of the graph step i waits for (directly) that has not succeeded, or -1. */
int stackgraph_blocker(const struct stackgraph *g, int i);
