/* stackgraph: the steps of a stack's apply and what each waits for (see stackgraph.h). */
#include "model/stackgraph.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/str.h"

void stackgraph_free(struct stackgraph *g)
{
	if (!g)
		return;
	for (int i = 0; i < g->n; i++) {
		free(g->steps[i].needs);
		free(g->steps[i].refs);
		free(g->steps[i].after);
	}
	free(g->steps);
	memset(g, 0, sizeof(*g));
}

int stackgraph_add(struct stackgraph *g, const char *resource, bool del, bool makes)
{
	g->steps = xrealloc(g->steps, sizeof(*g->steps) * (size_t)(g->n + 1));
	struct stackgraph_step *s = &g->steps[g->n];
	memset(s, 0, sizeof(*s));
	snprintf(s->resource, sizeof(s->resource), "%s", resource);
	s->del = del;
	s->makes = makes && !del;
	return g->n++;
}

static bool has(char (*list)[STACKGRAPH_RES_MAX], int n, const char *resource)
{
	for (int i = 0; i < n; i++)
		if (strcmp(list[i], resource) == 0)
			return true;
	return false;
}

static void add_name(char (**list)[STACKGRAPH_RES_MAX], int *n, const char *resource)
{
	if (!resource || has(*list, *n, resource))
		return;
	*list = xrealloc(*list, sizeof(**list) * (size_t)(*n + 1));
	snprintf((*list)[*n], STACKGRAPH_RES_MAX, "%s", resource);
	(*n)++;
}

void stackgraph_need(struct stackgraph *g, int i, const char *resource)
{
	add_name(&g->steps[i].needs, &g->steps[i].n_needs, resource);
}

void stackgraph_ref(struct stackgraph *g, int i, const char *resource)
{
	add_name(&g->steps[i].refs, &g->steps[i].n_refs, resource);
}

void stackgraph_after(struct stackgraph *g, int i, int j)
{
	struct stackgraph_step *s = &g->steps[i];
	for (int k = 0; k < s->n_after; k++)
		if (s->after[k] == j)
			return;
	s->after = xrealloc(s->after, sizeof(int) * (size_t)(s->n_after + 1));
	s->after[s->n_after++] = j;
}

/* "vm" of "vm/web", compared without copying. */
static bool same_kind(const char *a, const char *b)
{
	size_t la = strcspn(a, "/"), lb = strcspn(b, "/");
	return la == lb && strncmp(a, b, la) == 0;
}

/* The rules of stackgraph.h: whether s must wait for t, an earlier step. */
static bool must_wait(const struct stackgraph_step *s, const struct stackgraph_step *t)
{
	if (strcmp(s->resource, t->resource) == 0)
		return true;
	if (!s->del && !t->del && has(s->needs, s->n_needs, t->resource))
		return true;
	if ((s->del || t->del) && (has(s->refs, s->n_refs, t->resource) || has(t->refs, t->n_refs, s->resource)))
		return true;
	return s->makes && t->del && same_kind(s->resource, t->resource);
}

void stackgraph_link(struct stackgraph *g)
{
	for (int i = 0; i < g->n; i++)
		for (int j = 0; j < i; j++)
			if (must_wait(&g->steps[i], &g->steps[j]))
				stackgraph_after(g, i, j);
}

const char *stackgraph_phase(const struct stackgraph_step *s)
{
	return s->del ? "delete" : "create";
}

/* Depth-first along the afters; a step met again while its own afters are
 * being visited closes a cycle, which path[from..depth] spells out. */
static int visit(const struct stackgraph *g, int i, int *mark, int *path, int depth, struct err *e)
{
	path[depth] = i;
	if (mark[i] == 2)
		return 0;
	if (mark[i] == 1) {
		int from = depth - 1;
		while (from > 0 && path[from] != i)
			from--;
		struct sbuf b = {0};
		for (int k = from; k <= depth; k++)
			sbuf_addf(&b, "%s%s %s", k > from ? " → " : "", stackgraph_phase(&g->steps[path[k]]),
				  g->steps[path[k]].resource);
		autofree char *cycle = sbuf_take(&b);
		return err_set(e, ERR_INVALID, "the steps wait for each other in a circle: %s; none of them can start",
			       cycle);
	}
	mark[i] = 1;
	for (int k = 0; k < g->steps[i].n_after; k++)
		if (visit(g, g->steps[i].after[k], mark, path, depth + 1, e) < 0)
			return -1;
	mark[i] = 2;
	return 0;
}

int stackgraph_check(const struct stackgraph *g, struct err *e)
{
	for (int i = 0; i < g->n; i++)
		for (int k = 0; k < g->steps[i].n_after; k++) {
			int j = g->steps[i].after[k];
			if (j < 0 || j >= g->n)
				return err_set(e, ERR_INVALID, "steps[%d].after[%d]: %d is not a step (there are %d)", i, k, j,
					       g->n);
		}
	int *mark = xcalloc((size_t)g->n + 1, sizeof(int)), *path = xcalloc((size_t)g->n + 2, sizeof(int));
	int rc = 0;
	for (int i = 0; i < g->n && rc == 0; i++)
		rc = visit(g, i, mark, path, 0, e);
	free(mark);
	free(path);
	return rc;
}

json_t *stackgraph_to_json(const struct stackgraph *g)
{
	json_t *steps = json_array();
	for (int i = 0; i < g->n; i++) {
		const struct stackgraph_step *s = &g->steps[i];
		json_t *after = json_array();
		for (int k = 0; k < s->n_after; k++)
			json_array_append_new(after, json_integer(s->after[k]));
		json_array_append_new(steps, json_pack("{s:s, s:s, s:o}", "resource", s->resource, "phase",
						       stackgraph_phase(s), "after", after));
	}
	return steps;
}

int stackgraph_from_json(const json_t *steps, struct stackgraph *out, struct err *e)
{
	memset(out, 0, sizeof(*out));
	if (!json_is_array(steps))
		return err_set(e, ERR_INVALID, "steps: must be a list of steps");
	size_t i;
	const json_t *s;
	json_array_foreach(steps, i, s) {
		const char *res = json_string_value(json_object_get(s, "resource"));
		const char *phase = json_string_value(json_object_get(s, "phase"));
		const json_t *after = json_object_get(s, "after");
		if (!res || !strchr(res, '/') || strlen(res) >= STACKGRAPH_RES_MAX) {
			err_set(e, ERR_INVALID, "steps[%zu].resource: must be KIND/NAME", i);
			goto fail;
		}
		if (!phase || (strcmp(phase, "create") != 0 && strcmp(phase, "delete") != 0)) {
			err_set(e, ERR_INVALID, "steps[%zu].phase: must be create or delete, not \"%s\"", i, phase ? phase : "");
			goto fail;
		}
		if (after && !json_is_array(after)) {
			err_set(e, ERR_INVALID, "steps[%zu].after: must be a list of step indexes", i);
			goto fail;
		}
		int at = stackgraph_add(out, res, strcmp(phase, "delete") == 0, false);
		size_t k;
		const json_t *a;
		json_array_foreach(after, k, a) {
			if (!json_is_integer(a) || json_integer_value(a) < 0 || json_integer_value(a) >= (json_int_t)json_array_size(steps)) {
				err_set(e, ERR_INVALID, "steps[%zu].after[%zu]: must be the index of a step (0 to %zu)", i, k,
					json_array_size(steps) - 1);
				goto fail;
			}
			stackgraph_after(out, at, (int)json_integer_value(a));
		}
	}
	if (stackgraph_check(out, e) < 0)
		goto fail;
	return 0;
fail:
	stackgraph_free(out);
	return -1;
}

int stackgraph_blocker(const struct stackgraph *g, int i)
{
	const struct stackgraph_step *s = &g->steps[i];
	for (int k = 0; k < s->n_after; k++)
		if (g->steps[s->after[k]].state != STACKGRAPH_DONE)
			return s->after[k];
	return -1;
}

int stackgraph_ready(const struct stackgraph *g)
{
	if (stackgraph_count(g, STACKGRAPH_FAILED) > 0)
		return -1;
	for (int i = 0; i < g->n; i++)
		if (g->steps[i].state == STACKGRAPH_PENDING && stackgraph_blocker(g, i) < 0)
			return i;
	return -1;
}

int stackgraph_count(const struct stackgraph *g, enum stackgraph_state st)
{
	int n = 0;
	for (int i = 0; i < g->n; i++)
		n += g->steps[i].state == st;
	return n;
}
