/* Unit tests: the steps of a stack's apply and what each waits for
 * (model/stackgraph.c): the rules that link them, the order a bounded
 * scheduler starts them in, what stops after a failure, cycles refused with
 * the steps named, plans read back from JSON; and the resources' own order
 * (model/stack.c), firewalls that admit from each other included. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "model/stack.h"
#include "model/stackgraph.h"
#include "util/str.h"

/* Step i's afters as resource names: "network/n firewall/db". Caller frees. */
static char *afters(const struct stackgraph *g, int i)
{
	struct sbuf b = {0};
	for (int k = 0; k < g->steps[i].n_after; k++) {
		const struct stackgraph_step *t = &g->steps[g->steps[i].after[k]];
		sbuf_addf(&b, "%s%s%s", b.len ? " " : "", t->del ? "-" : "", t->resource);
	}
	return sbuf_take(&b);
}

static void assert_afters(const struct stackgraph *g, int i, const char *want)
{
	char *got = afters(g, i);
	assert_string_equal(got, want);
	free(got);
}

/* Starts every ready step, as a scheduler with no bound would, up to max;
 * their resources in start order. Caller frees. */
static char *start_ready(struct stackgraph *g, int max)
{
	struct sbuf b = {0};
	int i;
	for (int n = 0; n < max && (i = stackgraph_ready(g)) >= 0; n++) {
		g->steps[i].state = STACKGRAPH_RUNNING;
		sbuf_addf(&b, "%s%s", b.len ? " " : "", g->steps[i].resource);
	}
	return sbuf_take(&b);
}

static void assert_starts(struct stackgraph *g, int max, const char *want)
{
	char *got = start_ready(g, max);
	assert_string_equal(got, want);
	free(got);
}

static int find(const struct stackgraph *g, const char *resource, bool del)
{
	for (int i = 0; i < g->n; i++)
		if (strcmp(g->steps[i].resource, resource) == 0 && g->steps[i].del == del)
			return i;
	fail_msg("no step %s", resource);
	return -1;
}

static void done(struct stackgraph *g, const char *resource, enum stackgraph_state st)
{
	g->steps[find(g, resource, false)].state = st;
}

/* A step as ctl/stackplan.c adds one: needs are refs too. */
static int add(struct stackgraph *g, const char *res, bool del, bool makes, const char *const needs[],
	       const char *const refs[])
{
	int i = stackgraph_add(g, res, del, makes);
	for (int k = 0; needs && needs[k]; k++) {
		stackgraph_need(g, i, needs[k]);
		stackgraph_ref(g, i, needs[k]);
	}
	for (int k = 0; refs && refs[k]; k++)
		stackgraph_ref(g, i, refs[k]);
	return i;
}

/* The web tier: a network, two firewalls (db's admits from web's), a
 * database VM, two web VMs whose user data names the database, a cache on
 * the default network. */
static void web_tier(struct stackgraph *g)
{
	memset(g, 0, sizeof(*g));
	add(g, "network/back", false, true, NULL, NULL);
	add(g, "firewall/web", false, true, NULL, NULL);
	add(g, "firewall/db", false, true, (const char *const[]){"firewall/web", NULL}, NULL);
	add(g, "vm/db", false, true, (const char *const[]){"network/back", "firewall/db", NULL},
	    (const char *const[]){"firewall/default", NULL});
	for (int i = 1; i <= 2; i++) {
		char name[16];
		snprintf(name, sizeof(name), "vm/web%d", i);
		add(g, name, false, true, (const char *const[]){"network/back", "firewall/web", "vm/db", NULL},
		    (const char *const[]){"network/default", NULL});
	}
	add(g, "vm/cache", false, true, NULL, (const char *const[]){"network/default", NULL});
	stackgraph_link(g);
}

static void test_creates(void **state)
{
	(void)state;
	struct stackgraph g;
	web_tier(&g);
	assert_int_equal(stackgraph_check(&g, NULL), 0);
	assert_afters(&g, find(&g, "network/back", false), "");
	assert_afters(&g, find(&g, "firewall/db", false), "firewall/web");
	assert_afters(&g, find(&g, "vm/db", false), "network/back firewall/db");
	assert_afters(&g, find(&g, "vm/web2", false), "network/back firewall/web vm/db");
	assert_afters(&g, find(&g, "vm/cache", false), "");   /* outside resources make no waits */

	/* what needs nothing starts at once, up to the bound */
	assert_starts(&g, 2, "network/back firewall/web");
	assert_starts(&g, 9, "vm/cache");
	done(&g, "firewall/web", STACKGRAPH_DONE);
	assert_starts(&g, 9, "firewall/db");
	done(&g, "firewall/db", STACKGRAPH_DONE);
	assert_starts(&g, 9, "");   /* vm/db still waits for the network */
	assert_int_equal(stackgraph_blocker(&g, find(&g, "vm/db", false)), find(&g, "network/back", false));
	done(&g, "network/back", STACKGRAPH_DONE);
	assert_starts(&g, 9, "vm/db");
	done(&g, "vm/db", STACKGRAPH_DONE);
	assert_starts(&g, 9, "vm/web1 vm/web2");   /* independent: both at once */
	stackgraph_free(&g);
}

static void test_failure_stops_new_starts(void **state)
{
	(void)state;
	struct stackgraph g;
	web_tier(&g);
	assert_starts(&g, 9, "network/back firewall/web vm/cache");
	done(&g, "firewall/web", STACKGRAPH_DONE);
	assert_starts(&g, 9, "firewall/db");
	done(&g, "firewall/db", STACKGRAPH_FAILED);
	done(&g, "network/back", STACKGRAPH_DONE);
	/* vm/db could start now, but after a failure nothing new does */
	assert_int_equal(stackgraph_ready(&g), -1);
	assert_int_equal(stackgraph_count(&g, STACKGRAPH_FAILED), 1);
	assert_int_equal(stackgraph_count(&g, STACKGRAPH_RUNNING), 1);   /* vm/cache runs to its end */
	assert_int_equal(stackgraph_count(&g, STACKGRAPH_PENDING), 3);
	assert_int_equal(stackgraph_blocker(&g, find(&g, "vm/db", false)), find(&g, "firewall/db", false));
	stackgraph_free(&g);
}

/* Deletes go in reverse: what holds a resource goes first; a resource made
 * anew waits for the deletes of its kind; a replace makes after it deletes. */
static void test_deletes_and_replaces(void **state)
{
	(void)state;
	struct stackgraph g = {0};
	/* laid out as ctl/stackplan.c does: dropped VMs, replaced (reverse), dropped volumes, creates, late deletes */
	add(&g, "vm/old", true, false, NULL, (const char *const[]){"network/n", "firewall/f", NULL});
	add(&g, "vm/app", true, false, (const char *const[]){"network/m", NULL}, NULL);
	add(&g, "network/m", true, false, NULL, NULL);
	add(&g, "volume/data", true, false, NULL, (const char *const[]){"vm/old", NULL});
	add(&g, "network/m", false, true, NULL, NULL);
	add(&g, "vm/app", false, true, (const char *const[]){"network/m", NULL}, NULL);
	add(&g, "vm/new", false, true, NULL, (const char *const[]){"network/default", NULL});
	add(&g, "firewall/f", true, false, NULL, NULL);
	add(&g, "network/n", true, false, NULL, NULL);
	stackgraph_link(&g);
	assert_int_equal(stackgraph_check(&g, NULL), 0);
	assert_afters(&g, find(&g, "vm/old", true), "");
	assert_afters(&g, find(&g, "vm/app", true), "");
	assert_afters(&g, find(&g, "network/m", true), "-vm/app");          /* its VM goes first */
	assert_afters(&g, find(&g, "volume/data", true), "-vm/old");        /* detached by its VM's delete */
	assert_afters(&g, find(&g, "network/m", false), "-vm/app -network/m");   /* a replace: made after it is gone */
	assert_afters(&g, find(&g, "vm/app", false), "-vm/old -vm/app -network/m network/m");
	assert_afters(&g, find(&g, "vm/new", false), "-vm/old -vm/app");    /* deletes free room for new VMs */
	assert_afters(&g, find(&g, "firewall/f", true), "-vm/old");
	assert_afters(&g, find(&g, "network/n", true), "-vm/old");

	/* the first round: every delete nothing holds back */
	assert_starts(&g, 9, "vm/old vm/app");
	g.steps[find(&g, "vm/app", true)].state = STACKGRAPH_DONE;
	assert_starts(&g, 9, "network/m");
	g.steps[find(&g, "vm/old", true)].state = STACKGRAPH_DONE;
	assert_starts(&g, 9, "volume/data vm/new firewall/f network/n");
	stackgraph_free(&g);
}

static void test_cycles_refused(void **state)
{
	(void)state;
	struct stackgraph g = {0};
	stackgraph_add(&g, "vm/a", false, true);
	stackgraph_add(&g, "vm/b", false, true);
	stackgraph_add(&g, "vm/c", false, true);
	stackgraph_add(&g, "vm/d", false, true);
	stackgraph_after(&g, 0, 2);
	stackgraph_after(&g, 2, 1);
	stackgraph_after(&g, 1, 0);
	stackgraph_after(&g, 3, 0);
	struct err e = {0};
	assert_true(stackgraph_check(&g, &e) < 0);
	assert_int_equal(e.kind, ERR_INVALID);
	assert_string_equal(e.msg, "the steps wait for each other in a circle: create vm/a → create vm/c → create vm/b → "
				   "create vm/a; none of them can start");
	stackgraph_free(&g);

	/* a step waiting for itself is a cycle of one */
	stackgraph_add(&g, "network/n", true, false);
	stackgraph_after(&g, 0, 0);
	assert_true(stackgraph_check(&g, &e) < 0);
	assert_non_null(strstr(e.msg, "delete network/n → delete network/n"));
	stackgraph_free(&g);
}

static void test_json(void **state)
{
	(void)state;
	struct stackgraph g, back;
	struct err e = {0};
	web_tier(&g);
	json_t *j = stackgraph_to_json(&g);
	assert_string_equal(json_string_value(json_object_get(json_array_get(j, 3), "resource")), "vm/db");
	assert_int_equal(stackgraph_from_json(j, &back, &e), 0);
	assert_int_equal(back.n, g.n);
	for (int i = 0; i < g.n; i++) {
		char *a = afters(&g, i), *b = afters(&back, i);
		assert_string_equal(a, b);
		free(a);
		free(b);
	}
	stackgraph_free(&back);
	json_decref(j);
	stackgraph_free(&g);

	static const struct {
		const char *json, *error;
	} bad[] = {
		{"{}", "steps: must be a list of steps"},
		{"[{\"resource\":\"vm\",\"phase\":\"create\"}]", "steps[0].resource: must be KIND/NAME"},
		{"[{\"resource\":\"vm/a\",\"phase\":\"make\"}]", "steps[0].phase: must be create or delete, not \"make\""},
		{"[{\"resource\":\"vm/a\",\"phase\":\"create\"},{\"resource\":\"vm/b\",\"phase\":\"create\",\"after\":[2]}]",
		 "steps[1].after[0]: must be the index of a step (0 to 1)"},
		{"[{\"resource\":\"vm/a\",\"phase\":\"create\",\"after\":[1]},{\"resource\":\"vm/b\",\"phase\":\"create\",\"after\":[0]}]",
		 "the steps wait for each other in a circle: create vm/a → create vm/b → create vm/a; none of them can start"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *in = json_loads(bad[i].json, 0, NULL);
		assert_true(stackgraph_from_json(in, &back, &e) < 0);
		assert_string_equal(e.msg, bad[i].error);
		assert_int_equal(back.n, 0);
		json_decref(in);
	}
}

/* The document's own order: a firewall after those its rules admit from,
 * whatever order the file lists them in; a circle of them is refused. */
static void test_document_order(void **state)
{
	(void)state;
	struct stack st;
	struct err e = {0};
	json_t *doc = json_loads("{\"stack\":\"s\",\"firewalls\":{"
				 "\"db\":{\"rules\":[{\"proto\":\"tcp\",\"port\":5432,\"from_firewall\":\"web\"},"
				 "{\"proto\":\"all\",\"from_firewall\":\"db\"}]},"
				 "\"web\":{\"rules\":[{\"proto\":\"tcp\",\"port\":80}]}}}",
				 0, NULL);
	assert_int_equal(stack_parse(doc, &st, &e), 0);
	assert_string_equal(st.res[0].name, "web");
	assert_string_equal(st.res[1].name, "db");
	assert_int_equal(st.res[1].n_deps, 1);   /* not on itself */
	stack_free(&st);
	json_decref(doc);

	doc = json_loads("{\"stack\":\"s\",\"firewalls\":{"
			 "\"a\":{\"rules\":[{\"from_firewall\":\"b\"}]},"
			 "\"b\":{\"rules\":[{\"from_firewall\":\"c\"}]},"
			 "\"c\":{\"rules\":[{\"from_firewall\":\"a\"}]}}}",
			 0, NULL);
	assert_true(stack_parse(doc, &st, &e) < 0);
	assert_non_null(strstr(e.msg, "firewalls.a.rules: reference cycle: firewall a → firewall b → firewall c → firewall a"));
	assert_int_equal(st.n, 0);
	json_decref(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_creates),
		cmocka_unit_test(test_failure_stops_new_starts),
		cmocka_unit_test(test_deletes_and_replaces),
		cmocka_unit_test(test_cycles_refused),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_document_order),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
