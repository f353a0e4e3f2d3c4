/*
 * placement: benchmark 9, the scheduler's choice of host (model/placement.c,
 * the code nubod runs in its admission transaction) over simulated hosts in
 * memory. Places VMS VMs of mixed types on HOSTS hosts of mixed sizes, with
 * spread and with pack, and times it; the peer is a plain scan of every
 * host per VM (what a scheduler without the tree does), on the same load.
 * Checks that both make the same choices and that no host is overcommitted.
 *
 *   placement_bench [HOSTS [VMS]]     (default 10000 100000)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/placement.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const int type_cpu[] = {1, 1, 1, 2, 4}, type_mem[] = {256, 512, 1024, 2048, 8192};

static double share(const struct placement_host *h)
{
	double c = (double)(h->vcpus_allocatable - h->vcpus_used) / h->vcpus_allocatable;
	double m = (double)(h->memory_mib_allocatable - h->memory_mib_used) / h->memory_mib_allocatable;
	return c < m ? c : m;
}

static int scan(const struct placement_host *hs, int n, int cpu, int mem, enum placement_policy pol)
{
	int best = -1;
	double best_share = 0;
	for (int i = 0; i < n; i++) {
		const struct placement_host *h = &hs[i];
		if (!h->usable || h->vcpus_allocatable - h->vcpus_used < cpu ||
		    h->memory_mib_allocatable - h->memory_mib_used < mem)
			continue;
		if (pol == PLACEMENT_PACK)
			return i;
		double s = share(h);
		if (best < 0 || s > best_share) {
			best = i;
			best_share = s;
		}
	}
	return best;
}

/* Places vms VMs; picks[k] gets the host of VM k. Returns seconds. */
static double run(const struct placement_host *init, int n, int vms, enum placement_policy pol, bool tree,
		  int *picks, int *placed)
{
	struct placement_host *hs = malloc(sizeof(*hs) * (size_t)n);
	memcpy(hs, init, sizeof(*hs) * (size_t)n);
	double t0 = now_s();
	struct placement_pool *p = tree ? placement_pool_new(hs, n) : NULL;
	*placed = 0;
	for (int k = 0; k < vms; k++) {
		int t = k % 5, cpu = type_cpu[t], mem = type_mem[t];
		int i = tree ? placement_pool_pick(p, cpu, mem, pol) : scan(hs, n, cpu, mem, pol);
		picks[k] = i;
		if (i < 0)
			continue;
		if (tree)
			placement_pool_take(p, i, cpu, mem);
		hs[i].vcpus_used += cpu;
		hs[i].memory_mib_used += mem;
		(*placed)++;
	}
	placement_pool_free(p);
	double took = now_s() - t0;
	for (int i = 0; i < n; i++)
		if (hs[i].vcpus_used > hs[i].vcpus_allocatable || hs[i].memory_mib_used > hs[i].memory_mib_allocatable) {
			fprintf(stderr, "host %d is overcommitted\n", i);
			exit(1);
		}
	free(hs);
	return took;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 10000, vms = argc > 2 ? atoi(argv[2]) : 100000;
	if (n < 1 || vms < 1) {
		fprintf(stderr, "usage: placement_bench [HOSTS [VMS]]\n");
		return 2;
	}
	struct placement_host *hs = calloc((size_t)n, sizeof(*hs));
	srand(13);
	for (int i = 0; i < n; i++) {
		int size = 1 << (rand() % 3);   /* 16, 32 or 64 CPUs, 64 to 256 GiB */
		hs[i] = (struct placement_host){16 * size * 4, 65536 * size, 0, 0, rand() % 50 != 0};
	}
	int *a = malloc(sizeof(int) * (size_t)vms), *b = malloc(sizeof(int) * (size_t)vms);
	printf("policy\tcode\thosts\tvms\tplaced\tseconds\tus_per_vm\n");
	int rc = 0;
	for (int pol = 0; pol < 2; pol++) {
		int placed_tree = 0, placed_scan = 0;
		double t_tree = run(hs, n, vms, (enum placement_policy)pol, true, a, &placed_tree);
		double t_scan = run(hs, n, vms, (enum placement_policy)pol, false, b, &placed_scan);
		const char *name = placement_policy_name((enum placement_policy)pol);
		printf("%s\tnubo\t%d\t%d\t%d\t%.3f\t%.2f\n", name, n, vms, placed_tree, t_tree, t_tree * 1e6 / vms);
		printf("%s\tscan\t%d\t%d\t%d\t%.3f\t%.2f\n", name, n, vms, placed_scan, t_scan, t_scan * 1e6 / vms);
		printf("%s\tratio\tscan/nubo = %.1fx\n", name, t_scan / t_tree);
		if (memcmp(a, b, sizeof(int) * (size_t)vms) != 0) {
			fprintf(stderr, "%s: nubo and the scan chose different hosts\n", name);
			rc = 1;
		}
	}
	free(a);
	free(b);
	free(hs);
	return rc;
}
