/*
 * placement: which host a VM goes to, as a pure function over the hosts'
 * free capacity. No I/O: nubod builds a pool from the hosts table inside the
 * admission transaction and picks once; bench/ builds one of 10,000
 * simulated hosts and places 100,000 VMs on it with the same code.
 *
 * The one idea: a segment tree over the hosts (in the order given, by
 * name) that keeps, for every range, the most free vCPUs, the most free
 * memory and the best spread score of any usable host in it. A pick
 * descends only into ranges that can hold the VM, so it costs about
 * log(hosts) whatever the number of hosts, and taking capacity updates one
 * path of the tree.
 *
 *   spread (default)  the host with the most headroom left: the highest
 *                     min(free vCPUs / allocatable, free memory / allocatable);
 *                     ties go to the first by name, so equal hosts fill in turn
 *   pack              the first host (by name) that fits: fill one, then the next
 *
 * A spread group (nubo vm create --spread-group G) narrows the choice
 * first: among the hosts that fit, those holding the fewest VMs of G, then
 * the policy above among them. So G's VMs go to different hosts while
 * there are hosts without one, and doubling up evenly after that.
 */
#pragma once

#include <stdbool.h>

enum placement_policy { PLACEMENT_SPREAD, PLACEMENT_PACK };

const char *placement_policy_name(enum placement_policy p);
/* "spread" or "pack"; -1 otherwise. */
int placement_policy_parse(const char *s, enum placement_policy *out);

/* A host as placement sees it. */
struct placement_host {
	int vcpus_allocatable, memory_mib_allocatable;
	int vcpus_used, memory_mib_used;
	bool usable;   /* up and not draining */
};

struct placement_pool;

/* A pool over a copy of hosts[0..n). Free with placement_pool_free (NULL is fine). */
struct placement_pool *placement_pool_new(const struct placement_host *hosts, int n);
void placement_pool_free(struct placement_pool *p);
/* The index of the host a VM of vcpus and memory_mib goes to, or -1 when
 * no usable host has room. Does not take the capacity. */
int placement_pool_pick(const struct placement_pool *p, int vcpus, int memory_mib, enum placement_policy policy);
/* Records that host i holds vcpus and memory_mib more. */
void placement_pool_take(struct placement_pool *p, int i, int vcpus, int memory_mib);
/* Like placement_pool_pick, among the fitting hosts that hold the fewest
 * members of a spread group: members[i] is how many host i holds. */
int placement_pool_pick_spread(const struct placement_pool *p, const int *members, int vcpus, int memory_mib,
			       enum placement_policy policy);
/* Whether host i is usable and has room for the VM. */
bool placement_pool_fits(const struct placement_pool *p, int i, int vcpus, int memory_mib);
