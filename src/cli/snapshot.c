/*
 * snapshot: `nubo snapshot create|list|show|delete` (/v1/snapshots).
 */
#include <string.h>

#include "cli/commands.h"
#include "cli/format.h"
#include "cli/table.h"
#include "cli/wait.h"
#include "util/str.h"

static const struct arg_flag create_flags[] = {
	{"name", 0, ARG_VALUE, "NAME", "the snapshot's name (default: the VM's name and an id)"},
	{"volume", 0, ARG_VALUE, "VOLUME", "take it of a volume instead of a VM (a standalone copy)"},
	{"wait", 0, ARG_BOOL, NULL, "follow the action to its end"},
	{NULL, 0, 0, NULL, NULL},
};

static void print_snapshots(struct cli_ctx *ctx, const json_t *j)
{
	const json_t *all = json_object_get(j, "snapshots");
	if (json_array_size(all) == 0) {
		fputs("No snapshots. Take one with: nubo snapshot create VM --name NAME\n", ctx->out);
		return;
	}
	static const char *const headers[] = {"NAME", "OF", "STATE", "AGE"};
	struct table *t = table_new(4, headers);
	size_t i;
	const json_t *s;
	json_array_foreach(all, i, s) {
		autofree char *age = fmt_age_since(cli_jstr(s, "created_at"), ctx->now_ms);
		autofree char *of = cli_jstr(s, "volume") ? xasprintf("volume %s", cli_jstr(s, "volume"))
							 : xasprintf("vm %s", cli_or_dash(cli_jstr(s, "vm")));
		const char *row[] = {cli_jstr(s, "name"), of, cli_jstr(s, "state"), age};
		table_add_row(t, row);
	}
	autofree char *text = table_render(t);
	fputs(text, ctx->out);
	table_free(t);
}

static void print_snapshot(struct cli_ctx *ctx, const json_t *s)
{
	autofree char *age = fmt_age_since(cli_jstr(s, "created_at"), ctx->now_ms);
	fprintf(ctx->out, "Name:       %s\n", cli_or_dash(cli_jstr(s, "name")));
	fprintf(ctx->out, "ID:         %s\n", cli_or_dash(cli_jstr(s, "id")));
	if (cli_jstr(s, "volume"))
		fprintf(ctx->out, "Volume:     %s\n", cli_jstr(s, "volume"));
	else
		fprintf(ctx->out, "VM:         %s\n", cli_or_dash(cli_jstr(s, "vm")));
	fprintf(ctx->out, "State:      %s\n", cli_or_dash(cli_jstr(s, "state")));
	fprintf(ctx->out, "Taken:      %s (%s ago)\n", cli_or_dash(cli_jstr(s, "created_at")), age);
}

static int snapshot_list(struct cli_ctx *ctx, const struct args *a)
{
	return cli_show(ctx, a, "/v1/snapshots", print_snapshots);
}

static int snapshot_show(struct cli_ctx *ctx, const struct args *a)
{
	autofree char *path = client_path("/v1/snapshots/%s", a->pos[0]);
	return cli_show(ctx, a, path, print_snapshot);
}

static int snapshot_create(struct cli_ctx *ctx, const struct args *a)
{
	const char *vol = args_value(a, "volume");
	if ((a->npos == 1) == (vol != NULL)) {
		fprintf(ctx->err, "nubo: snapshot create takes a VM, or --volume VOLUME\n");
		return CLI_EXIT_USAGE;
	}
	json_t *body = vol ? json_pack("{s:s}", "volume", vol) : json_pack("{s:s}", "vm", a->pos[0]);
	if (args_value(a, "name"))
		json_object_set_new(body, "name", json_string(args_value(a, "name")));
	return cli_act(ctx, a, "POST", "/v1/snapshots", body, "snapshot", NULL, "Taking", "Took");
}

static int snapshot_delete(struct cli_ctx *ctx, const struct args *a)
{
	autofree char *path = client_path("/v1/snapshots/%s", a->pos[0]);
	return cli_act(ctx, a, "DELETE", path, NULL, "snapshot", a->pos[0], "Deleting", "Deleted");
}

static const struct cli_verb snapshot_verbs[] = {
	{"create", "VM | --volume VOLUME [--name NAME] [--wait]", "Take a snapshot of a VM's disk or of a volume",
	 "A running VM is not stopped: its disk is frozen at one instant (the guest\n"
	 "pauses for milliseconds) and it goes on writing on top. Like pulling the\n"
	 "plug, what the guest had not yet written is not in it. A volume's snapshot\n"
	 "is a copy made at one instant; make a volume from it with\n"
	 "nubo volume create NAME --from-snapshot SNAPSHOT.\n",
	 create_flags, 0, 1, false, snapshot_create},
	{"list", "[--json]", "List snapshots with their VM, state and age", NULL, cli_json_flags, 0, 0, false,
	 snapshot_list},
	{"show", "NAME [--json]", "Show one snapshot", NULL, cli_json_flags, 1, 1, false, snapshot_show},
	{"delete", "NAME [--wait]", "Delete a snapshot",
	 "Its data is merged into the disks and snapshots built on it, so nothing else\n"
	 "changes. Refused while a running VM's disk is built on it: stop the VM first.\n",
	 cli_wait_flags, 1, 1, false, snapshot_delete},
	{NULL, NULL, NULL, NULL, NULL, 0, 0, false, NULL},
};

const struct cli_noun snapshot_noun = {"snapshot", "Point-in-time copies of VMs' disks.", snapshot_verbs, false};
