/* placement: the scheduler's choice of host, pure (see placement.h). */
#include "model/placement.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "util/str.h"

struct placement_pool {
	int n, size;                 /* hosts; leaves (a power of two) */
	struct placement_host *h;    /* n hosts */
	int *max_cpu, *max_mem;      /* 2 * size nodes; node 1 is the root */
	int *best;                   /* the best spread host of the range, or -1 */
};

const char *placement_policy_name(enum placement_policy p)
{
	return p == PLACEMENT_PACK ? "pack" : "spread";
}

int placement_policy_parse(const char *s, enum placement_policy *out)
{
	if (s && strcmp(s, "spread") == 0)
		*out = PLACEMENT_SPREAD;
	else if (s && strcmp(s, "pack") == 0)
		*out = PLACEMENT_PACK;
	else
		return -1;
	return 0;
}

static int free_cpu(const struct placement_host *h)
{
	return h->vcpus_allocatable - h->vcpus_used;
}

static int free_mem(const struct placement_host *h)
{
	return h->memory_mib_allocatable - h->memory_mib_used;
}

/* The share of the host still free: the scarcer of vCPUs and memory. */
static double score(const struct placement_host *h)
{
	double c = h->vcpus_allocatable > 0 ? (double)free_cpu(h) / h->vcpus_allocatable : 0;
	double m = h->memory_mib_allocatable > 0 ? (double)free_mem(h) / h->memory_mib_allocatable : 0;
	return c < m ? c : m;
}

/* Whether host a is a better spread choice than host b (-1: none). */
static bool better(const struct placement_pool *p, int a, int b)
{
	if (a < 0)
		return false;
	if (b < 0)
		return true;
	double sa = score(&p->h[a]), sb = score(&p->h[b]);
	return sa > sb || (sa == sb && a < b);
}

static void set_leaf(struct placement_pool *p, int i)
{
	int node = p->size + i;
	const struct placement_host *h = &p->h[i];
	p->max_cpu[node] = h->usable ? free_cpu(h) : INT_MIN;
	p->max_mem[node] = h->usable ? free_mem(h) : INT_MIN;
	p->best[node] = h->usable ? i : -1;
}

static void pull(struct placement_pool *p, int node)
{
	int l = 2 * node, r = l + 1;
	p->max_cpu[node] = p->max_cpu[l] > p->max_cpu[r] ? p->max_cpu[l] : p->max_cpu[r];
	p->max_mem[node] = p->max_mem[l] > p->max_mem[r] ? p->max_mem[l] : p->max_mem[r];
	p->best[node] = better(p, p->best[r], p->best[l]) ? p->best[r] : p->best[l];
}

struct placement_pool *placement_pool_new(const struct placement_host *hosts, int n)
{
	struct placement_pool *p = xcalloc(1, sizeof(*p));
	p->n = n > 0 ? n : 0;
	p->size = 1;
	while (p->size < p->n)
		p->size *= 2;
	p->h = xcalloc((size_t)p->n + 1, sizeof(*p->h));
	if (p->n)
		memcpy(p->h, hosts, (size_t)p->n * sizeof(*p->h));
	p->max_cpu = xcalloc(2 * (size_t)p->size, sizeof(int));
	p->max_mem = xcalloc(2 * (size_t)p->size, sizeof(int));
	p->best = xcalloc(2 * (size_t)p->size, sizeof(int));
	for (int node = 0; node < 2 * p->size; node++) {
		p->max_cpu[node] = p->max_mem[node] = INT_MIN;
		p->best[node] = -1;
	}
	for (int i = 0; i < p->n; i++)
		set_leaf(p, i);
	for (int node = p->size - 1; node >= 1; node--)
		pull(p, node);
	return p;
}

void placement_pool_free(struct placement_pool *p)
{
	if (!p)
		return;
	free(p->h);
	free(p->max_cpu);
	free(p->max_mem);
	free(p->best);
	free(p);
}

static bool room(const struct placement_pool *p, int node, int vcpus, int mem)
{
	return p->max_cpu[node] >= vcpus && p->max_mem[node] >= mem;
}

bool placement_pool_fits(const struct placement_pool *p, int i, int vcpus, int memory_mib)
{
	return i >= 0 && i < p->n && room(p, p->size + i, vcpus, memory_mib);
}

/* The first fitting host in node's range, or -1. The maxima may come from
 * different hosts, so a range that seems to fit can hold none: then the
 * search backs out and goes on to the right. */
static int first_fit(const struct placement_pool *p, int node, int vcpus, int mem)
{
	if (!room(p, node, vcpus, mem))
		return -1;
	if (node >= p->size)
		return node - p->size < p->n ? node - p->size : -1;
	int found = first_fit(p, 2 * node, vcpus, mem);
	return found >= 0 ? found : first_fit(p, 2 * node + 1, vcpus, mem);
}

/* The best spread host that fits in node's range, better than *best. A
 * range whose best host (fitting or not) is no better is skipped. */
static void best_fit(const struct placement_pool *p, int node, int vcpus, int mem, int *best)
{
	if (!room(p, node, vcpus, mem) || !better(p, p->best[node], *best))
		return;
	if (node >= p->size) {
		*best = p->best[node];   /* room() held for this host alone */
		return;
	}
	int l = 2 * node, r = l + 1;
	int first = better(p, p->best[r], p->best[l]) ? r : l;
	best_fit(p, first, vcpus, mem, best);
	best_fit(p, first == l ? r : l, vcpus, mem, best);
}

int placement_pool_pick(const struct placement_pool *p, int vcpus, int memory_mib, enum placement_policy policy)
{
	if (p->n == 0)
		return -1;
	if (policy == PLACEMENT_PACK)
		return first_fit(p, 1, vcpus, memory_mib);
	int best = -1;
	best_fit(p, 1, vcpus, memory_mib, &best);
	return best;
}

int placement_pool_pick_spread(const struct placement_pool *p, const int *members, int vcpus, int memory_mib,
			       enum placement_policy policy)
{
	/* The fewest members among the hosts that fit; a group is small, so a
	 * second pool over just those hosts costs little beside the admission
	 * transaction around it. */
	int fewest = INT_MAX;
	for (int i = 0; i < p->n; i++)
		if (placement_pool_fits(p, i, vcpus, memory_mib) && members[i] < fewest)
			fewest = members[i];
	if (fewest == INT_MAX)
		return -1;
	struct placement_host *h = xcalloc((size_t)p->n, sizeof(*h));
	for (int i = 0; i < p->n; i++) {
		h[i] = p->h[i];
		h[i].usable = h[i].usable && members[i] == fewest;
	}
	struct placement_pool *narrow = placement_pool_new(h, p->n);
	int pick = placement_pool_pick(narrow, vcpus, memory_mib, policy);
	placement_pool_free(narrow);
	free(h);
	return pick;
}

void placement_pool_take(struct placement_pool *p, int i, int vcpus, int memory_mib)
{
	if (i < 0 || i >= p->n)
		return;
	p->h[i].vcpus_used += vcpus;
	p->h[i].memory_mib_used += memory_mib;
	set_leaf(p, i);
	for (int node = (p->size + i) / 2; node >= 1; node /= 2)
		pull(p, node);
}
