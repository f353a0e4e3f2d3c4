/*
 * stack: `nubo stack plan|apply|destroy|list|show|adopt` (and `nubo plan`,
 * `nubo apply`, `nubo destroy`, the same verbs). See docs/stacks.md.
 *
 * The split: the CLI reads the file (YAML, with libyaml) because line and
 * column belong to the file the user has; nubod plans and applies, because
 * the stack's state, its drift and its lease live in the store, and the
 * plan must be computed where they are. An apply is driven from here, one
 * step (one resource, one move) per request, independent steps side by side
 * (cli/stackrun.c), so each resource's progress is shown as it happens and
 * an interrupted apply leaves the stack in a state the next one continues
 * from.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/format.h"
#include "cli/stackfile.h"
#include "cli/stackrun.h"
#include "cli/table.h"
#include "util/fs.h"
#include "util/str.h"

/* plan's exit codes: no changes, an error, changes to make. */
enum { PLAN_NO_CHANGES = 0, PLAN_ERROR = 1, PLAN_CHANGES = 2 };

static const struct arg_flag plan_flags[] = {
	{"file", 'f', ARG_VALUE, "FILE", "the stack file (YAML)"},
	{"out", 0, ARG_VALUE, "PLAN.json", "also save the plan, for: nubo apply PLAN.json"},
	{"json", 0, ARG_BOOL, NULL, "print the plan as JSON"},
	{NULL, 0, 0, NULL, NULL},
};

static const struct arg_flag apply_flags[] = {
	{"file", 'f', ARG_VALUE, "FILE", "the stack file (YAML)"},
	{"yes", 'y', ARG_BOOL, NULL, "do not ask before applying"},
	{"parallel", 0, ARG_VALUE, "N", "run up to N independent steps at once (default 4; 1: one at a time)"},
	{NULL, 0, 0, NULL, NULL},
};

static const struct arg_flag destroy_flags[] = {
	{"file", 'f', ARG_VALUE, "FILE", "the stack file (YAML): destroy the stack it names"},
	{"stack", 0, ARG_VALUE, "NAME", "destroy stack NAME (no file needed)"},
	{"yes", 'y', ARG_BOOL, NULL, "do not ask before destroying"},
	{"parallel", 0, ARG_VALUE, "N", "delete up to N independent resources at once (default 4)"},
	{NULL, 0, 0, NULL, NULL},
};

/* What an apply works from: the document, and where its errors point. */
struct source {
	struct stackfile sf;
	bool has_file;          /* errors can point into a file */
	json_t *doc;            /* borrowed from sf, or owned (destroy --stack, a saved plan) */
	bool own_doc;
	char name[NAME_MAX_LEN + 1];
	json_t *saved;          /* a saved plan's plan, or NULL */
};

static void source_free(struct source *s)
{
	stackfile_free(&s->sf);
	if (s->own_doc)
		json_decref(s->doc);
	json_decref(s->saved);
}

/* Prints e, pointed into the file when it names a field. */
static int fail_at(struct cli_ctx *ctx, const struct source *s, int code, const struct err *e)
{
	if (!s->has_file)
		return cli_fail(ctx, code, e);
	struct err out = {.kind = e->kind};
	stackfile_locate(&s->sf, e->msg, out.msg, sizeof(out.msg));
	return cli_fail(ctx, code, &out);
}

static int load_file(struct cli_ctx *ctx, const char *file, struct source *s)
{
	struct err e = {0};
	struct stack st;
	s->has_file = true;
	if (stackfile_load(file, &s->sf, &e) < 0 || stackfile_check(&s->sf, &st, &e) < 0) {
		cli_fail(ctx, CLI_EXIT_FAILED, &e);
		return -1;
	}
	snprintf(s->name, sizeof(s->name), "%s", st.name);
	stack_free(&st);
	s->doc = s->sf.doc;
	return 0;
}

/* A plan saved by plan --out: {"file", "document", "plan"}. */
static int load_saved(struct cli_ctx *ctx, const char *path, struct source *s)
{
	json_error_t je;
	json_t *j = json_load_file(path, 0, &je);
	json_t *doc = json_object_get(j, "document"), *plan = json_object_get(j, "plan");
	const char *name = json_string_value(json_object_get(doc, "stack"));
	if (!j || !json_is_object(doc) || !json_is_object(plan) || !name) {
		cli_failf(ctx, CLI_EXIT_FAILED, "%s: not a plan saved by nubo plan --out (%s)", path,
			  j ? "no document or plan" : je.text);
		json_decref(j);
		return -1;
	}
	s->doc = json_incref(doc);
	s->own_doc = true;
	s->saved = json_incref(plan);
	snprintf(s->name, sizeof(s->name), "%s", name);
	json_decref(j);
	return 0;
}

/* POST /v1/stacks/NAME/WHAT with body; NULL after printing the error. */
static json_t *stack_call(struct cli_ctx *ctx, const struct source *s, const char *what, json_t *body, struct err *e)
{
	autofree char *path = client_path("/v1/stacks/%s/%s", s->name, what);
	json_t *out = NULL;
	int rc = client_json(cli_client(ctx), "POST", path, body, &out, NULL, e);
	json_decref(body);
	return rc < 0 ? NULL : out;
}

/* --- printing a plan -------------------------------------------------------------- */

static char *compact(const json_t *j)
{
	return j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : xstrdup("(none)");
}

static const char *symbol(const char *action)
{
	if (!strcmp(action, "create")) return "+";
	if (!strcmp(action, "update")) return "~";
	if (!strcmp(action, "replace")) return "-/+";
	return "-";
}

/* Changes read old → new; drift (drift true) reads as applied, and what it is now. */
static void print_fields(struct cli_ctx *ctx, const json_t *fields, bool drift)
{
	size_t i;
	const json_t *f;
	json_array_foreach(fields, i, f) {
		autofree char *o = compact(json_object_get(f, "old"));
		autofree char *n = compact(json_object_get(f, "new"));
		if (drift)
			fprintf(ctx->out, "        %s: applied %s, now %s\n", cli_jstr(f, "field"), n, o);
		else
			fprintf(ctx->out, "        %s: %s → %s%s\n", cli_jstr(f, "field"), o, n,
				json_is_true(json_object_get(f, "forces_replace")) ? "   (forces replacement)" : "");
	}
}

static void print_plan(struct cli_ctx *ctx, const json_t *plan)
{
	const json_t *changes = json_object_get(plan, "changes"), *drift = json_object_get(plan, "drift");
	size_t i;
	const json_t *c;
	if (json_array_size(drift)) {
		fprintf(ctx->out, "Drift: changed outside stack %s since it was applied (apply puts it back):\n",
			cli_jstr(plan, "stack"));
		json_array_foreach(drift, i, c) {
			if (!strcmp(cli_jstr(c, "what"), "deleted"))
				fprintf(ctx->out, "  ! %s: deleted outside the stack\n", cli_jstr(c, "resource"));
			else {
				fprintf(ctx->out, "  ! %s: changed outside the stack\n", cli_jstr(c, "resource"));
				print_fields(ctx, json_object_get(c, "fields"), true);
			}
		}
		fputc('\n', ctx->out);
	}
	if (json_array_size(changes) == 0) {
		fprintf(ctx->out, "No changes: stack %s is up to date.\n", cli_jstr(plan, "stack"));
		return;
	}
	fprintf(ctx->out, "Stack %s: what apply will do, in order:\n", cli_jstr(plan, "stack"));
	json_array_foreach(changes, i, c) {
		const char *a = cli_jstr(c, "action");
		const char *words = !strcmp(a, "update") ? "update in place" : a;
		fprintf(ctx->out, "  %-3s %-28s %s", symbol(a), cli_jstr(c, "resource"), words);
		if (!strcmp(a, "replace")) {
			size_t k;
			const json_t *f;
			struct sbuf b = {0};
			json_array_foreach(json_object_get(c, "fields"), k, f)
				if (json_is_true(json_object_get(f, "forces_replace")))
					sbuf_addf(&b, "%s%s", b.len ? ", " : "", cli_jstr(f, "field"));
			autofree char *why = sbuf_take(&b);
			if (*why)
				fprintf(ctx->out, " (forced by %s)", why);
			if (cli_jstr(c, "note"))
				fprintf(ctx->out, " (%s)", cli_jstr(c, "note"));
		}
		fputc('\n', ctx->out);
		print_fields(ctx, json_object_get(c, "fields"), false);
		if (json_is_true(json_object_get(c, "user_data_known_after_apply")))
			fprintf(ctx->out, "        user_data: refers to an address known after apply\n");
	}
	const json_t *s = json_object_get(plan, "summary"), *cost = json_object_get(plan, "cost");
	fprintf(ctx->out, "\nPlan: %lld to create, %lld to update in place, %lld to replace, %lld to delete.\n",
		(long long)cli_jint(s, "create", 0), (long long)cli_jint(s, "update", 0),
		(long long)cli_jint(s, "replace", 0), (long long)cli_jint(s, "delete", 0));
	double dh = cli_jreal(cost, "hourly_change", 0), dm = cli_jreal(cost, "monthly_change", 0);
	fprintf(ctx->out, "Cost: %s%.4f per hour, %s%.2f per month (machine types and disks; %.4f per hour after apply)\n",
		dh >= 0 ? "+" : "-", dh >= 0 ? dh : -dh, dm >= 0 ? "+" : "-", dm >= 0 ? dm : -dm,
		cli_jreal(cost, "hourly_after", 0));
}

/* --- plan ------------------------------------------------------------------------- */

static int stack_plan(struct cli_ctx *ctx, const struct args *a)
{
	struct source s = {0};
	struct err e = {0};
	const char *file = args_value(a, "file");
	const char *out_path = args_value(a, "out");
	json_t *plan = NULL;
	int rc = PLAN_ERROR;
	if (!file) {
		fprintf(ctx->err, "nubo: plan needs the stack file: nubo plan -f FILE\n");
		return CLI_EXIT_USAGE;
	}
	if (load_file(ctx, file, &s) < 0)
		goto out;
	plan = stack_call(ctx, &s, "plan", json_pack("{s:O}", "document", s.doc), &e);
	if (!plan) {
		fail_at(ctx, &s, PLAN_ERROR, &e);
		goto out;
	}
	if (out_path) {
		json_t *saved = json_pack("{s:s, s:O, s:O}", "file", file, "document", s.doc, "plan", plan);
		autofree char *text = json_dumps(saved, JSON_INDENT(2) | JSON_SORT_KEYS);
		json_decref(saved);
		if (fs_write_atomic(out_path, text, strlen(text), 0644, &e) < 0) {
			cli_fail(ctx, PLAN_ERROR, &e);
			json_decref(plan);
			goto out;
		}
	}
	if (args_has(a, "json"))
		cli_print_json(ctx, plan);
	else {
		print_plan(ctx, plan);
		if (out_path)
			fprintf(ctx->out, "Saved the plan to %s; apply exactly it with: nubo apply %s\n", out_path, out_path);
	}
	rc = json_is_true(json_object_get(plan, "changed")) ? PLAN_CHANGES : PLAN_NO_CHANGES;
	json_decref(plan);
out:
	source_free(&s);
	return rc;
}

/* --- apply ------------------------------------------------------------------------ */

static bool confirm(struct cli_ctx *ctx, const char *question)
{
	if (!isatty(STDIN_FILENO)) {
		fprintf(ctx->err, "nubo: %s: not asked, since the input is not a terminal; give --yes\n", question);
		return false;
	}
	fprintf(ctx->out, "%s [y/N] ", question);
	fflush(ctx->out);
	char line[16];
	return fgets(line, sizeof(line), stdin) && (line[0] == 'y' || line[0] == 'Y');
}

struct step_call {
	struct cli_ctx *ctx;
	const struct source *s;
	const char *lease;
};

static json_t *apply_step(void *arg, const char *resource, const char *phase, struct err *e)
{
	struct step_call *c = arg;
	return stack_call(c->ctx, c->s, "apply",
			  json_pack("{s:O, s:s, s:s, s:s}", "document", c->s->doc, "lease", c->lease, "resource", resource,
				    "phase", phase),
			  e);
}

/* A step's error is about a resource ("vm/web: ..."): pointed at where the
 * file declares it ("shop.yaml:9:3: vms.web: ..."); a field's path is
 * pointed at as any. */
static void explain_step(void *arg, const struct err *e, char *buf, size_t len)
{
	struct step_call *c = arg;
	const char *slash = strchr(e->msg, '/'), *colon = strstr(e->msg, ": ");
	char kind_name[16];
	enum stack_kind k;
	if (!c->s->has_file) {
		snprintf(buf, len, "%s", e->msg);
		return;
	}
	if (slash && colon && slash < colon && (size_t)(slash - e->msg) < sizeof(kind_name)) {
		snprintf(kind_name, sizeof(kind_name), "%.*s", (int)(slash - e->msg), e->msg);
		if (stack_kind_parse(kind_name, &k)) {
			autofree char *at = xasprintf("%s.%.*s%s", stack_kind_section(k), (int)(colon - slash - 1), slash + 1, colon);
			stackfile_locate(&c->s->sf, at, buf, len);
			return;
		}
	}
	stackfile_locate(&c->s->sf, e->msg, buf, len);
}

/* --parallel N, or the default; -1 after saying what is wrong with it. */
static int parallel_of(struct cli_ctx *ctx, const struct args *a)
{
	const char *v = args_value(a, "parallel");
	if (!v)
		return STACKRUN_PARALLEL_DEFAULT;
	char *end;
	long n = strtol(v, &end, 10);
	if (*v == '\0' || *end != '\0' || n < 1 || n > STACKRUN_PARALLEL_MAX) {
		fprintf(ctx->err, "nubo: --parallel \"%s\": give a number of steps from 1 to %d\n", v, STACKRUN_PARALLEL_MAX);
		return -1;
	}
	return (int)n;
}

/* Lease, the plan's steps (independent ones at once), release. */
static int converge(struct cli_ctx *ctx, struct source *s, bool yes, int parallel, const char *verb)
{
	struct err e = {0};
	int rc = CLI_EXIT_FAILED;
	if (!s->saved) {
		json_t *plan = stack_call(ctx, s, "plan", json_pack("{s:O}", "document", s->doc), &e);
		if (!plan)
			return fail_at(ctx, s, CLI_EXIT_FAILED, &e);
		print_plan(ctx, plan);
		bool changed = json_is_true(json_object_get(plan, "changed"));
		if (!changed) {
			json_decref(plan);
			return CLI_EXIT_OK;
		}
		autofree char *q = xasprintf("%s these changes to stack %s?", verb, s->name);
		if (!yes && !confirm(ctx, q)) {
			json_decref(plan);
			fprintf(ctx->out, "Nothing was changed.\n");
			return CLI_EXIT_FAILED;
		}
		s->saved = plan;   /* the lease is refused if the stack changed since the plan shown */
	}
	json_t *lock = stack_call(ctx, s, "lock", json_pack("{s:O, s:O}", "document", s->doc, "plan", s->saved), &e);
	if (!lock)
		return fail_at(ctx, s, CLI_EXIT_FAILED, &e);
	const char *lease = cli_jstr(lock, "lease");
	struct stackgraph g;
	if (stackgraph_from_json(json_object_get(json_object_get(lock, "plan"), "steps"), &g, &e) < 0) {
		err_prefix(&e, "nubod's plan cannot be run");
		rc = cli_fail(ctx, CLI_EXIT_FAILED, &e);
	} else {
		struct step_call call = {ctx, s, lease};
		struct stackrun_ops ops = {&call, apply_step, explain_step};
		autofree char *v = xstrdup(verb);
		v[0] = (char)tolower((unsigned char)v[0]);
		rc = stackrun(ctx, &g, parallel, v, &ops);
		stackgraph_free(&g);
	}
	json_t *u = stack_call(ctx, s, "unlock", json_pack("{s:s}", "lease", lease), &e);
	if (!u && rc == CLI_EXIT_OK)
		rc = cli_fail(ctx, CLI_EXIT_FAILED, &e);
	json_decref(u);
	if (rc == CLI_EXIT_OK)
		fprintf(ctx->out, "%s complete: stack %s %s.\n", verb, s->name,
			strcmp(verb, "Destroy") == 0 ? "owns nothing any more" : "is as the file says");
	json_decref(lock);
	return rc;
}

static int stack_apply(struct cli_ctx *ctx, const struct args *a)
{
	struct source s = {0};
	const char *file = args_value(a, "file");
	const char *saved = a->npos ? a->pos[0] : NULL;
	if (!!file == !!saved) {
		fprintf(ctx->err, "nubo: apply needs the stack file (nubo apply -f FILE) or a saved plan (nubo apply PLAN.json)\n");
		return CLI_EXIT_USAGE;
	}
	int parallel = parallel_of(ctx, a);
	if (parallel < 0)
		return CLI_EXIT_USAGE;
	int rc = file ? load_file(ctx, file, &s) : load_saved(ctx, saved, &s);
	if (rc == 0)
		rc = converge(ctx, &s, args_has(a, "yes") || saved, parallel, "Apply");
	else
		rc = CLI_EXIT_FAILED;
	source_free(&s);
	return rc;
}

static int stack_destroy(struct cli_ctx *ctx, const struct args *a)
{
	struct source s = {0};
	const char *file = args_value(a, "file"), *name = args_value(a, "stack");
	if (!!file == !!name) {
		fprintf(ctx->err, "nubo: destroy needs the stack file (-f FILE) or the stack's name (--stack NAME)\n");
		return CLI_EXIT_USAGE;
	}
	int parallel = parallel_of(ctx, a);
	if (parallel < 0)
		return CLI_EXIT_USAGE;
	int rc = 0;
	if (file)
		rc = load_file(ctx, file, &s);
	else
		snprintf(s.name, sizeof(s.name), "%s", name);
	if (rc == 0) {
		/* the same stack with nothing in it: everything it owns goes, nothing else */
		if (s.own_doc)
			json_decref(s.doc);
		s.doc = json_pack("{s:s}", "stack", s.name);
		s.own_doc = true;
		rc = converge(ctx, &s, args_has(a, "yes"), parallel, "Destroy");
	} else {
		rc = CLI_EXIT_FAILED;
	}
	source_free(&s);
	return rc;
}

/* --- list, show, adopt ------------------------------------------------------------- */

static void print_stacks(struct cli_ctx *ctx, const json_t *j)
{
	static const char *const headers[] = {"NAME", "RESOURCES", "SERIAL", "APPLIED", "LOCKED"};
	struct table *t = table_new(5, headers);
	size_t i;
	const json_t *s;
	json_array_foreach(json_object_get(j, "stacks"), i, s) {
		autofree char *n = xasprintf("%lld", (long long)cli_jint(s, "resources_count", 0));
		autofree char *serial = xasprintf("%lld", (long long)cli_jint(s, "serial", 0));
		autofree char *age = fmt_age_since(cli_jstr(s, "applied_at"), ctx->now_ms);
		const char *row[] = {cli_jstr(s, "name"), n, serial, age,
				     json_is_true(json_object_get(s, "locked")) ? "yes" : "no"};
		table_add_row(t, row);
	}
	autofree char *text = table_render(t);
	fputs(text, ctx->out);
	table_free(t);
}

static void print_stack(struct cli_ctx *ctx, const json_t *s)
{
	fprintf(ctx->out, "Stack:     %s\n", cli_or_dash(cli_jstr(s, "name")));
	fprintf(ctx->out, "Serial:    %lld\n", (long long)cli_jint(s, "serial", 0));
	fprintf(ctx->out, "Applied:   %s\n", cli_or_dash(cli_jstr(s, "applied_at")));
	fprintf(ctx->out, "Locked:    %s\n\n", json_is_true(json_object_get(s, "locked")) ? "yes (an apply runs)" : "no");
	static const char *const headers[] = {"KIND", "NAME", "ID", "STATE", "LIVE"};
	struct table *t = table_new(5, headers);
	size_t i;
	const json_t *r;
	json_array_foreach(json_object_get(s, "resources"), i, r) {
		const char *row[] = {cli_jstr(r, "kind"), cli_jstr(r, "name"), cli_jstr(r, "id"), cli_jstr(r, "state"),
				     cli_jstr(r, "live")};
		table_add_row(t, row);
	}
	autofree char *text = table_render(t);
	fputs(text, ctx->out);
	table_free(t);
}

static int stack_list(struct cli_ctx *ctx, const struct args *a)
{
	return cli_show(ctx, a, "/v1/stacks", print_stacks);
}

static int stack_show(struct cli_ctx *ctx, const struct args *a)
{
	autofree char *path = client_path("/v1/stacks/%s", a->pos[0]);
	return cli_show(ctx, a, path, print_stack);
}

static int stack_adopt(struct cli_ctx *ctx, const struct args *a)
{
	autofree char *path = client_path("/v1/stacks/%s/adopt", a->pos[0]);
	json_t *s = cli_send(ctx, "POST", path, json_pack("{s:s}", "resource", a->pos[1]));
	if (!s)
		return CLI_EXIT_FAILED;
	fprintf(ctx->out, "Stack %s now owns %s; nubo plan shows what the file would change in it.\n", a->pos[0],
		a->pos[1]);
	json_decref(s);
	return CLI_EXIT_OK;
}

static const struct cli_verb stack_verbs[] = {
	{"plan", "-f FILE [--json] [--out PLAN.json]", "Show what applying a stack file would do, and its cost",
	 "Each resource: + create, ~ update in place, -/+ replace (and which field forces it),\n"
	 "- delete; drift (changes made outside the stack) is shown apart.\n"
	 "Exit status: 0 no changes, 2 changes to apply, 1 an error (the file's, or nubod's).\n",
	 plan_flags, 0, 0, false, stack_plan},
	{"apply", "-f FILE [--yes] [--parallel N] | PLAN.json", "Make the stack what its file says (asks first)",
	 "Shows the plan, asks, then creates in dependency order and deletes in reverse,\n"
	 "up to N independent resources at once (--parallel, default 4), each starting\n"
	 "as soon as what it needs is done.\n"
	 "A saved plan (nubo plan --out) is applied only if the stack is unchanged since.\n"
	 "After a failure nothing new starts and the steps under way finish, every resource\n"
	 "done or untouched; apply again continues.\n",
	 apply_flags, 0, 1, false, stack_apply},
	{"destroy", "-f FILE | --stack NAME [--yes] [--parallel N]", "Delete every resource the stack owns, and nothing else", NULL,
	 destroy_flags, 0, 0, false, stack_destroy},
	{"list", "[--json]", "List stacks", NULL, cli_json_flags, 0, 0, false, stack_list},
	{"show", "NAME [--json]", "Show what a stack owns and its state", NULL, cli_json_flags, 1, 1, false, stack_show},
	{"adopt", "NAME KIND/NAME", "Make an existing resource (e.g. vm/web) part of a stack", NULL, NULL, 2, 2, false,
	 stack_adopt},
	{NULL, NULL, NULL, NULL, NULL, 0, 0, false, NULL},
};

const struct cli_noun stack_noun = {"stack", "Stacks: a whole setup from one file (docs/stacks.md).", stack_verbs, false};
