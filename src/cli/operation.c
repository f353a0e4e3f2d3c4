/*
 * operation: `nubo operation show|wait ID`, for long actions started without
 * --wait (GET /v1/operations/{id}).
 */
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/format.h"
#include "cli/wait.h"
#include "util/str.h"

static json_t *get_op(struct cli_ctx *ctx, const char *id)
{
	autofree char *path = client_path("/v1/operations/%s", id);
	return cli_get(ctx, path);
}

static void print_op(struct cli_ctx *ctx, const json_t *op)
{
	const char *target_name = cli_jstr(op, "target_name");
	fprintf(ctx->out, "ID:         %s\n", cli_jstr(op, "id") ? cli_jstr(op, "id") : "-");
	fprintf(ctx->out, "Kind:       %s\n", cli_jstr(op, "kind") ? cli_jstr(op, "kind") : "-");
	fprintf(ctx->out, "Target:     %s%s%s%s\n", target_name ? target_name : "", target_name ? " (" : "",
		cli_jstr(op, "target") ? cli_jstr(op, "target") : "-", target_name ? ")" : "");
	fprintf(ctx->out, "State:      %s\n", cli_jstr(op, "state") ? cli_jstr(op, "state") : "-");
	if (cli_jstr(op, "error"))
		fprintf(ctx->out, "Error:      %s\n", cli_jstr(op, "error"));
	autofree char *age = fmt_age_since(cli_jstr(op, "created_at"), ctx->now_ms);
	fprintf(ctx->out, "Created:    %s (%s ago)\n", cli_jstr(op, "created_at") ? cli_jstr(op, "created_at") : "-", age);
	int64_t took = wait_op_elapsed_ms(op);
	if (cli_jstr(op, "finished_at") && took >= 0) {
		autofree char *d = fmt_duration_ms(took);
		fprintf(ctx->out, "Finished:   %s (took %s)\n", cli_jstr(op, "finished_at"), d);
	}
	wait_print_phases(ctx->out, "Phases", json_object_get(op, "phases"));
}

static int op_show(struct cli_ctx *ctx, const struct args *a)
{
	autofree char *path = client_path("/v1/operations/%s", a->pos[0]);
	return cli_show(ctx, a, path, print_op);
}

static int op_wait(struct cli_ctx *ctx, const struct args *a)
{
	json_t *op = get_op(ctx, a->pos[0]);
	if (!op)
		return CLI_EXIT_FAILED;
	int64_t took = -1;
	int rc = wait_operation(ctx, op, &took);
	if (rc == CLI_EXIT_OK) {
		autofree char *d = fmt_duration_ms(took);
		fprintf(ctx->out, "Operation %s (%s %s) succeeded%s%s\n", cli_jstr(op, "id"),
			cli_jstr(op, "kind") ? cli_jstr(op, "kind") : "?",
			cli_jstr(op, "target_name") ? cli_jstr(op, "target_name") : cli_jstr(op, "target"),
			took >= 0 ? " in " : "", took >= 0 ? d : "");
	}
	json_decref(op);
	return rc;
}

static const struct cli_verb op_verbs[] = {
	{"show", "ID [--json]", "Show a long action: its kind, target, phases and outcome", NULL, cli_json_flags, 1, 1,
	 false, op_show},
	{"wait", "ID", "Follow a long action to its end, printing each phase; exit 1 if it fails", NULL, NULL, 1, 1,
	 false, op_wait},
	{NULL, NULL, NULL, NULL, NULL, 0, 0, false, NULL},
};

const struct cli_noun operation_noun = {
	"operation", "Long actions (create, start, stop, reboot, delete, image build); 'op' for short.", op_verbs, false};
