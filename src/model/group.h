/*
 * group: an auto-scaling group. A group keeps `desired` VMs (within min and
 * max) made from one template (image, type, keys, user data, network,
 * firewalls), named "<group>-<suffix>", and optionally puts each one behind
 * a load balancer once it is ready. With a CPU target, the desired count
 * follows the VMs' average CPU (target tracking).
 *
 * A member is one VM of the group, recorded before the VM exists (intent
 * first, outcome after), so a crash between the two is adopted, never
 * doubled:
 *
 *   creating ──VM made──► active ──picked for scale-in or replaced──► draining
 *      │                    │                                            │
 *      │ (VM found: adopted)│ VM in error, gone, or unhealthy           │ drain time over
 *      ▼                    ▼ after the grace period                    ▼
 *    active              removing ◄──────────────────────────────── removing ──VM gone──► (row removed)
 *
 * Pure model: parsing, validation, the scaling arithmetic and the scale-in
 * order; no I/O.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "model/machine_type.h"
#include "model/vm.h"
#include "util/err.h"
#include "util/ids.h"

#define GROUP_SIZE_MAX 100         /* the largest max a group may have */
#define GROUP_SUFFIX_LEN 5         /* "web-k3x9q" */
/* A group's name leaves room for "-" and the suffix within a VM name. */
#define GROUP_NAME_MAX (NAME_MAX_LEN - 1 - GROUP_SUFFIX_LEN)
#define GROUP_FIREWALLS_TEXT 160
#define GROUP_REASON_MAX 200

enum member_state {
	MEMBER_CREATING,   /* intent: the VM is being made (or was, before a crash) */
	MEMBER_ACTIVE,     /* the VM exists and counts toward desired */
	MEMBER_DRAINING,   /* out of the balancer, waiting for its connections */
	MEMBER_REMOVING,   /* its VM is being deleted */
};

struct scaling_group {
	char id[ID_MAX];                 /* "grp-…" */
	char name[NAME_MAX_LEN + 1];
	/* the template (template_gen counts its changes) */
	char image[NAME_MAX_LEN + 1];
	char type[NAME_MAX_LEN + 1];
	char network[NAME_MAX_LEN + 1];
	char firewalls[GROUP_FIREWALLS_TEXT];   /* "web,ssh"; "" for the default */
	char *ssh_keys;                  /* newline-separated; may be NULL */
	char *ssh_key_file;
	char *user_data;
	int template_gen;
	/* size */
	int min_size, max_size, desired;
	/* the balancer the members join, and on which port ("" : none; 0: the listeners') */
	char lb[NAME_MAX_LEN + 1];
	int lb_port;
	/* target tracking: average CPU % per VM; 0: off */
	int target_cpu;
	int64_t grace_ms, warmup_ms, cooldown_ms, drain_ms;
	int64_t below_since;             /* ms, wall: since when the average is below target; 0: it is not */
	bool deleted;                    /* delete asked: members go, then the row */
	int64_t created_at;
};

struct group_member {
	char id[ID_MAX];                 /* "gm-…" */
	char group_id[ID_MAX];
	char name[NAME_MAX_LEN + 1];     /* the VM's name, "web-k3x9q" */
	char vm_id[ID_MAX];              /* "" until the VM exists */
	int template_gen;
	char image[NAME_MAX_LEN + 1];
	enum member_state state;
	bool protected_;                 /* exempt from scale-in */
	char target_id[ID_MAX];          /* its balancer target, "" when not in */
	char reason[GROUP_REASON_MAX];   /* why it drains or is removed, or why its VM could not be made */
	int64_t ready_at;                /* ms, wall: when it first was healthy; 0: not yet */
	int64_t until;                   /* ms, wall: draining ends, or the next try to create */
	int64_t created_at;
};

void group_free_fields(struct scaling_group *g);
void group_list_free(struct scaling_group *g, int n);

const char *member_state_name(enum member_state s);
int member_state_parse(const char *s, enum member_state *out);

/* "0s", "500ms", "60s", "2m", "1h": 0 to 24 h. */
int group_duration_parse(const char *s, const char *field, int64_t *ms, struct err *e);
/* "web" or "web:8080": the balancer and an optional target port. */
int group_lb_parse(const char *s, const char *field, char name[NAME_MAX_LEN + 1], int *port, struct err *e);
/* Sizes: 0 <= min <= desired <= max <= GROUP_SIZE_MAX, max >= 1; the
 * message names the field at fault and its value. */
int group_sizes_validate(int min_size, int max_size, int desired, struct err *e);
/* The name leaves room for "-<suffix>"; a VM name otherwise. */
int group_name_validate(const char *name, struct err *e);
/* Defaults: grace 60 s, warmup 60 s, cooldown 120 s, drain 10 s, no target. */
void group_defaults(struct scaling_group *g);

/* Target tracking. n VMs counted (ready and warmed), their average CPU avg
 * (percent of their vCPUs), the target. The count that brings the average
 * to the target: ceil(n × avg / target), at least 1. */
int group_scale_out_count(int n, double avg, int target);
/* Whether n-1 VMs would carry the load of n at avg without passing target. */
bool group_scale_in_fits(int n, double avg, int target);

/* Scale-in order: which of two members goes first. unhealthy members before
 * healthy ones, then the oldest template, then the oldest VM. */
struct member_rank {
	bool healthy;
	int template_gen;
	int64_t created_at;
};
/* < 0: a goes before b. */
int group_member_rank_cmp(const struct member_rank *a, const struct member_rank *b);

/* The group without its members (the API adds them with what ctl knows of each). */
json_t *group_to_json(const struct scaling_group *g);
json_t *group_member_to_json(const struct group_member *m);
