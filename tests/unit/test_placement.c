/* Unit tests for model/placement: spread and pack over host capacities,
 * hosts that take no VMs, a VM no host can hold, and the tree's answers
 * against a plain scan of every host over many random pools. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "model/placement.h"

/* A host of cpu vCPUs and mem MiB, none used. */
static struct placement_host H(int cpu, int mem)
{
	return (struct placement_host){cpu, mem, 0, 0, true};
}

static void test_policy_names(void **state)
{
	(void)state;
	enum placement_policy p = PLACEMENT_SPREAD;
	assert_int_equal(placement_policy_parse("pack", &p), 0);
	assert_int_equal(p, PLACEMENT_PACK);
	assert_int_equal(placement_policy_parse("spread", &p), 0);
	assert_int_equal(p, PLACEMENT_SPREAD);
	assert_int_equal(placement_policy_parse("Pack", &p), -1);
	assert_int_equal(placement_policy_parse(NULL, &p), -1);
	assert_string_equal(placement_policy_name(PLACEMENT_PACK), "pack");
	assert_string_equal(placement_policy_name(PLACEMENT_SPREAD), "spread");
}

/* Equal hosts take VMs in turn; then the emptiest goes first. */
static void test_spread_in_turn(void **state)
{
	(void)state;
	struct placement_host hs[] = {H(4, 4096), H(4, 4096), H(4, 4096)};
	struct placement_pool *p = placement_pool_new(hs, 3);
	int got[6];
	for (int i = 0; i < 6; i++) {
		got[i] = placement_pool_pick(p, 1, 512, PLACEMENT_SPREAD);
		placement_pool_take(p, got[i], 1, 512);
	}
	int want[] = {0, 1, 2, 0, 1, 2};
	assert_memory_equal(got, want, sizeof(want));
	placement_pool_free(p);
}

/* Spread weighs the scarcer resource: a host with free vCPUs but little
 * memory left is not the emptiest. */
static void test_spread_scarcest(void **state)
{
	(void)state;
	struct placement_host hs[] = {H(8, 8192), H(8, 8192)};
	hs[0].memory_mib_used = 6144;   /* 25% of memory left, all vCPUs */
	hs[1].vcpus_used = 4;           /* 50% of vCPUs left, all memory */
	struct placement_pool *p = placement_pool_new(hs, 2);
	assert_int_equal(placement_pool_pick(p, 1, 256, PLACEMENT_SPREAD), 1);
	placement_pool_free(p);
}

/* Pack fills the first host that fits before the next. */
static void test_pack_first_fit(void **state)
{
	(void)state;
	struct placement_host hs[] = {H(2, 4096), H(8, 8192), H(8, 8192)};
	struct placement_pool *p = placement_pool_new(hs, 3);
	int got[5];
	for (int i = 0; i < 5; i++) {
		got[i] = placement_pool_pick(p, 1, 1024, PLACEMENT_PACK);
		placement_pool_take(p, got[i], 1, 1024);
	}
	int want[] = {0, 0, 1, 1, 1};
	assert_memory_equal(got, want, sizeof(want));
	/* a VM too big for host 0's remains goes on where it fits */
	assert_int_equal(placement_pool_pick(p, 4, 1024, PLACEMENT_PACK), 1);
	placement_pool_free(p);
}

/* The most free vCPUs and the most free memory of a range may be on
 * different hosts: neither holds the VM, and the search must go on. */
static void test_split_maxima(void **state)
{
	(void)state;
	struct placement_host hs[] = {H(8, 512), H(1, 8192), H(4, 4096), H(1, 1)};
	struct placement_pool *p = placement_pool_new(hs, 4);
	assert_int_equal(placement_pool_pick(p, 4, 2048, PLACEMENT_PACK), 2);
	assert_int_equal(placement_pool_pick(p, 4, 2048, PLACEMENT_SPREAD), 2);
	assert_int_equal(placement_pool_pick(p, 8, 8192, PLACEMENT_PACK), -1);
	assert_int_equal(placement_pool_pick(p, 8, 8192, PLACEMENT_SPREAD), -1);
	placement_pool_free(p);
}

/* Draining and down hosts take nothing, even when they are the emptiest. */
static void test_unusable_hosts(void **state)
{
	(void)state;
	struct placement_host hs[] = {H(64, 65536), H(2, 2048), H(64, 65536)};
	hs[0].usable = false;
	hs[2].usable = false;
	struct placement_pool *p = placement_pool_new(hs, 3);
	assert_int_equal(placement_pool_pick(p, 1, 1024, PLACEMENT_SPREAD), 1);
	assert_int_equal(placement_pool_pick(p, 1, 1024, PLACEMENT_PACK), 1);
	assert_false(placement_pool_fits(p, 0, 1, 1024));
	assert_true(placement_pool_fits(p, 1, 2, 2048));
	assert_false(placement_pool_fits(p, 1, 3, 2048));
	placement_pool_take(p, 1, 2, 2048);
	assert_int_equal(placement_pool_pick(p, 1, 1, PLACEMENT_SPREAD), -1);
	assert_false(placement_pool_fits(p, 7, 1, 1));
	placement_pool_free(p);
	/* no hosts at all */
	p = placement_pool_new(NULL, 0);
	assert_int_equal(placement_pool_pick(p, 1, 1, PLACEMENT_SPREAD), -1);
	assert_int_equal(placement_pool_pick(p, 1, 1, PLACEMENT_PACK), -1);
	placement_pool_free(p);
	placement_pool_free(NULL);
}

/* The reference: a scan of every host. */
static double share(const struct placement_host *h)
{
	double c = (double)(h->vcpus_allocatable - h->vcpus_used) / h->vcpus_allocatable;
	double m = (double)(h->memory_mib_allocatable - h->memory_mib_used) / h->memory_mib_allocatable;
	return c < m ? c : m;
}

static int scan(const struct placement_host *hs, int n, int cpu, int mem, enum placement_policy pol)
{
	int best = -1;
	for (int i = 0; i < n; i++) {
		const struct placement_host *h = &hs[i];
		if (!h->usable || h->vcpus_allocatable - h->vcpus_used < cpu ||
		    h->memory_mib_allocatable - h->memory_mib_used < mem)
			continue;
		if (pol == PLACEMENT_PACK)
			return i;
		if (best < 0 || share(h) > share(&hs[best]))
			best = i;
	}
	return best;
}

static void test_matches_a_scan(void **state)
{
	(void)state;
	srand(7);
	for (int round = 0; round < 40; round++) {
		int n = 1 + rand() % 37;
		struct placement_host *hs = calloc((size_t)n, sizeof(*hs));
		for (int i = 0; i < n; i++) {
			hs[i] = H(1 + rand() % 16, 512 * (1 + rand() % 16));
			hs[i].usable = rand() % 5 != 0;
		}
		enum placement_policy pol = round % 2 ? PLACEMENT_PACK : PLACEMENT_SPREAD;
		struct placement_pool *p = placement_pool_new(hs, n);
		for (int k = 0; k < 200; k++) {
			int cpu = 1 + rand() % 4, mem = 256 * (1 + rand() % 8);
			int want = scan(hs, n, cpu, mem, pol), got = placement_pool_pick(p, cpu, mem, pol);
			if (got != want)
				fail_msg("round %d, VM %d (%d vCPU, %d MiB): picked %d, a scan picks %d", round, k, cpu, mem,
					 got, want);
			if (got < 0)
				break;
			placement_pool_take(p, got, cpu, mem);
			hs[got].vcpus_used += cpu;
			hs[got].memory_mib_used += mem;
		}
		placement_pool_free(p);
		free(hs);
	}
}

/* A spread group: hosts without a member first (by the policy among them),
 * then the ones with fewest; a host that cannot fit never counts. */
static void test_spread_group(void **state)
{
	(void)state;
	struct placement_host hs[4] = {H(8, 8192), H(8, 8192), H(2, 1024), H(8, 8192)};
	hs[3].usable = false;
	int members[4] = {1, 0, 0, 0};
	struct placement_pool *p = placement_pool_new(hs, 4);
	/* h0 has the most room but holds a member: h1 (more room than h2) */
	assert_int_equal(placement_pool_pick_spread(p, members, 1, 256, PLACEMENT_SPREAD), 1);
	/* pack: the first member-free host by name */
	assert_int_equal(placement_pool_pick_spread(p, members, 1, 256, PLACEMENT_PACK), 1);
	members[1] = 1;
	assert_int_equal(placement_pool_pick_spread(p, members, 1, 256, PLACEMENT_SPREAD), 2);
	/* h2 cannot hold 4 vCPUs: among h0 and h1 (one member each), spread */
	assert_int_equal(placement_pool_pick_spread(p, members, 4, 256, PLACEMENT_SPREAD), 0);
	/* the unusable h3 never counts, even with no member */
	members[2] = 2;
	assert_int_equal(placement_pool_pick_spread(p, members, 1, 256, PLACEMENT_PACK), 0);
	/* nothing fits */
	assert_int_equal(placement_pool_pick_spread(p, members, 9, 256, PLACEMENT_SPREAD), -1);
	placement_pool_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy_names),
		cmocka_unit_test(test_spread_in_turn),
		cmocka_unit_test(test_spread_scarcest),
		cmocka_unit_test(test_pack_first_fit),
		cmocka_unit_test(test_split_maxima),
		cmocka_unit_test(test_unusable_hosts),
		cmocka_unit_test(test_matches_a_scan),
		cmocka_unit_test(test_spread_group),
	};
	return cmocka_run_group_tests_name("placement", tests, NULL, NULL);
}
