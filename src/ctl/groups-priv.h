/*
 * groups-priv: what the files of the group reconciler share; nothing
 * outside groups*.c includes this. groups.c is the reconciler, groups-cpu.c
 * its CPU samples and target tracking, groups-api.c the API's calls.
 */
#pragma once

#include <jansson.h>

#include "ctl/ctl-priv.h"

struct cpu_sample;   /* groups-cpu.c */
struct lease_seen;   /* groups.c */

struct ctl_groups {
	pthread_mutex_t mu;       /* s and n: the reconciler writes, `group show` reads */
	struct cpu_sample *s;
	int n;
	/* With no group, the store is looked at again only when it changed
	 * (store_change_count) or after IDLE_LOOK_MS: no query per tick. */
	bool none;
	int64_t none_changes, none_at;
	/* What this nubod knows of each group's lease (reconciler thread only). */
	struct lease_seen *leases;
	int n_leases;
};

/* What a tick reads. */
struct world {
	struct vm *vms;
	int n_vms;
	struct lb *lbs;
	int n_lbs;
	struct lb_target *ts;
	int n_ts;
};

/* Reads every VM, balancer and target; on failure w is empty. */
int groups_world_load(struct ctl *c, struct world *w, struct err *e);
void groups_world_free(struct world *w);

/* A member as this tick sees it. */
struct view {
	struct group_member m;
	const struct vm *vm;           /* NULL: none (yet, or any more) */
	const struct lb_target *t;     /* its balancer target, if in */
	bool ready;                    /* the VM runs and SSH answered */
	bool healthy;                  /* ready, and healthy on the balancer if the group has one */
	bool gone;                     /* the row was removed this tick */
};

void groups_view_fill(const struct scaling_group *g, const struct world *w, struct view *v);
/* Creating or active: counts toward the group's VMs. */
bool groups_view_live(const struct view *v);

/* Stores a new desired count (and below_since) with its event (what and
 * detail, which it takes; what NULL: no event), unless the group changed
 * since the decision was made from seen: then nothing, and the next tick
 * decides again. */
void groups_decide(struct ctl *c, const struct scaling_group *seen, int desired, int64_t below_since, const char *what,
		   json_t *detail);

/* groups-cpu.c: target tracking on the average CPU of the ready, warmed-up
 * members (reads their counters when a window is over). */
void groups_cpu_decide(struct ctl *c, const struct scaling_group *g, struct view *vs, int n);
/* The last reading of a VM's CPU use, percent of its vCPUs; false if none. */
bool groups_cpu_last(struct ctl *c, const char *vm_id, double *pct);
/* Forgets the samples of VMs no decision looked at since the last prune. */
void groups_cpu_prune(struct ctl *c);
