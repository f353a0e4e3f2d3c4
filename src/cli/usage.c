/*
 * usage: `nubo usage [--from D] [--to D] [--by vm|type|day|image] [--json]`,
 * what was used and what it cost (GET /v1/usage), and `nubo budget set|show`
 * (PUT and GET /v1/budget). See docs/usage.md.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/format.h"
#include "cli/table.h"
#include "util/str.h"

static const struct arg_flag usage_flags[] = {
	{"from", 0, ARG_VALUE, "DATE", "from this day (YYYY-MM-DD, UTC) or moment (YYYY-MM-DDTHH:MM:SSZ); default: the 1st of this month"},
	{"to", 0, ARG_VALUE, "DATE", "up to (not including) this day or moment; default: now"},
	{"by", 0, ARG_VALUE, "vm|type|day|image", "one row per VM (and volume, snapshot, image), type, day or image; default vm"},
	{"json", 0, ARG_BOOL, NULL, "print the API's JSON"},
	{NULL, 0, 0, NULL, NULL},
};

static const struct arg_flag budget_set_flags[] = {
	{"monthly", 0, ARG_VALUE, "AMOUNT", "the budget per calendar month, in the prices' currency; 0 removes it"},
	{"json", 0, ARG_BOOL, NULL, "print the API's JSON"},
	{NULL, 0, 0, NULL, NULL},
};

/* "/v1/usage?from=…&to=…&by=…" with the flags given; caller frees. */
static char *usage_path(const struct args *a)
{
	static const char *const params[] = {"from", "to", "by", NULL};
	return cli_path_with_flags("/v1/usage", a, params);
}

static void usage_row(struct table *t, const json_t *row, const char *key, const char *kind, bool by_vm)
{
	autofree char *secs = xasprintf("%.0f", floor(cli_jreal(row, "seconds", 0)));
	autofree char *gh = xasprintf("%.2f", cli_jreal(row, "gib_hours", 0));
	autofree char *cost = fmt_price(cli_jreal(row, "cost", 0));
	if (by_vm) {
		const char *cells[] = {key, kind, secs, gh, cost};
		table_add_row(t, cells);
	} else {
		const char *cells[] = {key, secs, gh, cost};
		table_add_row(t, cells);
	}
}

static void print_usage(struct cli_ctx *ctx, const json_t *j)
{
	const char *by = cli_jstr(j, "by");
	bool by_vm = by && strcmp(by, "vm") == 0;
	const char *first = !by || by_vm	     ? "NAME"
			    : strcmp(by, "type") == 0 ? "TYPE"
			    : strcmp(by, "day") == 0  ? "DAY"
						      : "IMAGE";
	const char *const vm_headers[] = {first, "KIND", "SECONDS", "GIB-HOURS", "COST"};
	const char *const headers[] = {first, "SECONDS", "GIB-HOURS", "COST"};
	size_t cols = by_vm ? 5 : 4;
	struct table *t = table_new(cols, by_vm ? vm_headers : headers);
	for (size_t c = cols - 3; c < cols; c++)
		table_align_right(t, c);
	size_t i;
	const json_t *row;
	json_array_foreach(json_object_get(j, "rows"), i, row)
		usage_row(t, row, cli_or_dash(cli_jstr(row, "key")), cli_or_dash(cli_jstr(row, "kind")), by_vm);
	usage_row(t, json_object_get(j, "total"), "TOTAL", "", by_vm);
	autofree char *text = table_render(t);
	fprintf(ctx->out, "Usage from %s to %s\n", cli_or_dash(cli_jstr(j, "from")), cli_or_dash(cli_jstr(j, "to")));
	fputs(text, ctx->out);
	table_free(t);
}

static int usage_run(struct cli_ctx *ctx, const struct args *a)
{
	autofree char *path = usage_path(a);
	return cli_show(ctx, a, path, print_usage);
}

/* --- budget -------------------------------------------------------------------------- */

static void print_budget(struct cli_ctx *ctx, const json_t *j)
{
	const char *level = cli_or_dash(cli_jstr(j, "level"));
	autofree char *cost = fmt_price(cli_jreal(j, "month_cost", 0));
	if (strcmp(level, "none") == 0) {
		fprintf(ctx->out, "%-12snone (set one with: nubo budget set --monthly AMOUNT)\n", "Monthly:");
		fprintf(ctx->out, "%-12s%s so far in %s\n", "Cost:", cost, cli_or_dash(cli_jstr(j, "month")));
		fprintf(ctx->out, "%-12sno budget\n", "Status:");
		return;
	}
	autofree char *monthly = fmt_price(cli_jreal(j, "monthly", 0));
	fprintf(ctx->out, "%-12s%s\n", "Monthly:", monthly);
	fprintf(ctx->out, "%-12s%s so far in %s (%.1f %%)\n", "Cost:", cost, cli_or_dash(cli_jstr(j, "month")),
		cli_jreal(j, "percent", 0));
	fprintf(ctx->out, "%-12s%s\n", "Status:",
		strcmp(level, "exceeded") == 0  ? "exceeded: the month's cost has reached the budget"
		: strcmp(level, "warning") == 0 ? "warning: 80 % of the budget is used"
						: "ok");
}

static int budget_show(struct cli_ctx *ctx, const struct args *a)
{
	return cli_show(ctx, a, "/v1/budget", print_budget);
}

static int budget_set(struct cli_ctx *ctx, const struct args *a)
{
	const char *text = args_value(a, "monthly");
	if (!text)
		return cli_failf(ctx, CLI_EXIT_USAGE, "budget set needs --monthly AMOUNT (0 removes the budget)");
	char *end = NULL;
	double monthly = strtod(text, &end);
	if (!*text || *end || !isfinite(monthly) || monthly < 0)
		return cli_failf(ctx, CLI_EXIT_USAGE, "--monthly \"%s\" must be an amount such as 50 or 12.5 (0 removes the budget)",
				 text);
	json_t *j = cli_send(ctx, "PUT", "/v1/budget", json_pack("{s:f}", "monthly", monthly));
	if (!j)
		return CLI_EXIT_FAILED;
	if (args_has(a, "json"))
		cli_print_json(ctx, j);
	else
		print_budget(ctx, j);
	json_decref(j);
	return CLI_EXIT_OK;
}

void budget_warn(struct cli_ctx *ctx)
{
	json_t *j = NULL;
	struct err e = {0};
	if (client_json(cli_client(ctx), "GET", "/v1/budget", NULL, &j, NULL, &e) < 0)
		return;   /* the list is what was asked for: no budget, no warning */
	const char *level = cli_jstr(j, "level");
	if (level && (strcmp(level, "warning") == 0 || strcmp(level, "exceeded") == 0)) {
		autofree char *cost = fmt_price(cli_jreal(j, "month_cost", 0));
		autofree char *monthly = fmt_price(cli_jreal(j, "monthly", 0));
		fprintf(ctx->err, "nubo: warning: this month's cost, %s, is %.0f %% of the monthly budget of %s%s\n", cost,
			floor(cli_jreal(j, "percent", 0)), monthly,
			strcmp(level, "exceeded") == 0 ? ": the budget is used up" : "");
	}
	json_decref(j);
}

static const struct cli_verb usage_verbs[] = {
	{"", "[--from DATE] [--to DATE] [--by vm|type|day|image] [--json]",
	 "Show what was used and what it cost: seconds, GiB-hours and cost, with totals",
	 "A running VM costs its type's price per hour, by the second, at least a minute\n"
	 "per start. Root disks, volumes, snapshots and images cost their size per\n"
	 "GiB-hour, running or not. Days and months are UTC. See docs/usage.md.\n",
	 usage_flags, 0, 0, false, usage_run},
	{NULL, NULL, NULL, NULL, NULL, 0, 0, false, NULL},
};

const struct cli_noun usage_noun = {"usage", "Usage and cost.", usage_verbs, true};

static const struct cli_verb budget_verbs[] = {
	{"set", "--monthly AMOUNT [--json]", "Set the monthly budget (0 removes it)",
	 "nubo vm list warns once this month's cost reaches 80 % and 100 % of it.\n", budget_set_flags, 0, 0, false,
	 budget_set},
	{"show", "[--json]", "Show the monthly budget and this month's cost so far", NULL, cli_json_flags, 0, 0, false,
	 budget_show},
	{NULL, NULL, NULL, NULL, NULL, 0, 0, false, NULL},
};

const struct cli_noun budget_noun = {"budget", "A monthly budget for the cost of usage.", budget_verbs, false};
