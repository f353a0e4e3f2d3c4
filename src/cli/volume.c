/*
 * volume: `nubo volume create|list|show|attach|detach|delete` (/v1/volumes).
 */
#include <string.h>

#include "cli/commands.h"
#include "cli/format.h"
#include "cli/table.h"
#include "cli/wait.h"
#include "util/str.h"

static const struct arg_flag create_flags[] = {
	{"size", 0, ARG_VALUE, "SIZE", "the volume's size, e.g. 5G"},
	{"from-snapshot", 0, ARG_VALUE, "SNAPSHOT", "or a copy of a volume snapshot (as large as it)"},
	{"wait", 0, ARG_BOOL, NULL, "follow the action to its end"},
	{NULL, 0, 0, NULL, NULL},
};

static const struct arg_flag attach_flags[] = {
	{"vm", 0, ARG_VALUE, "VM", "the VM to attach it to (running: hot-plugged now; stopped: at its start)"},
	{"wait", 0, ARG_BOOL, NULL, "follow the action to its end"},
	{NULL, 0, 0, NULL, NULL},
};

static void print_volumes(struct cli_ctx *ctx, const json_t *j)
{
	const json_t *vols = json_object_get(j, "volumes");
	if (json_array_size(vols) == 0) {
		fputs("No volumes. Create one with: nubo volume create NAME --size 5G\n", ctx->out);
		return;
	}
	static const char *const headers[] = {"NAME", "STATE", "SIZE", "VM", "AGE"};
	struct table *t = table_new(5, headers);
	table_align_right(t, 2);
	size_t i;
	const json_t *v;
	json_array_foreach(vols, i, v) {
		autofree char *size = fmt_bytes(cli_jint(v, "size_bytes", 0));
		autofree char *age = fmt_age_since(cli_jstr(v, "created_at"), ctx->now_ms);
		const char *row[] = {cli_jstr(v, "name"), cli_jstr(v, "state"), size, cli_or_dash(cli_jstr(v, "vm")), age};
		table_add_row(t, row);
	}
	autofree char *text = table_render(t);
	fputs(text, ctx->out);
	table_free(t);
}

static void print_volume(struct cli_ctx *ctx, const json_t *v)
{
	autofree char *size = fmt_bytes(cli_jint(v, "size_bytes", 0));
	autofree char *age = fmt_age_since(cli_jstr(v, "created_at"), ctx->now_ms);
	fprintf(ctx->out, "Name:       %s\n", cli_or_dash(cli_jstr(v, "name")));
	fprintf(ctx->out, "ID:         %s\n", cli_or_dash(cli_jstr(v, "id")));
	fprintf(ctx->out, "State:      %s\n", cli_or_dash(cli_jstr(v, "state")));
	fprintf(ctx->out, "Size:       %s\n", size);
	fprintf(ctx->out, "VM:         %s\n", cli_or_dash(cli_jstr(v, "vm")));
	if (cli_jstr(v, "vm"))
		fprintf(ctx->out, "In the VM:  a /dev/vdX whose serial is %s (/dev/disk/by-id/virtio-%s with udev)\n",
			cli_or_dash(cli_jstr(v, "id")), cli_or_dash(cli_jstr(v, "id")));
	fprintf(ctx->out, "Created:    %s (%s ago)\n", cli_or_dash(cli_jstr(v, "created_at")), age);
}

static int volume_list(struct cli_ctx *ctx, const struct args *a)
{
	return cli_show(ctx, a, "/v1/volumes", print_volumes);
}

static int volume_show(struct cli_ctx *ctx, const struct args *a)
{
	autofree char *path = client_path("/v1/volumes/%s", a->pos[0]);
	return cli_show(ctx, a, path, print_volume);
}

static int volume_create(struct cli_ctx *ctx, const struct args *a)
{
	const char *size = args_value(a, "size"), *from = args_value(a, "from-snapshot");
	if (!size == !from) {
		fprintf(ctx->err, "nubo: volume create needs --size SIZE (e.g. --size 5G) or --from-snapshot SNAPSHOT\n");
		return CLI_EXIT_USAGE;
	}
	json_t *body = json_pack("{s:s, s:s}", "name", a->pos[0], size ? "size" : "from_snapshot", size ? size : from);
	return cli_act(ctx, a, "POST", "/v1/volumes", body, "volume", a->pos[0], "Creating", "Created");
}

/* nubod attaches only a volume that exists, and `volume create` without
 * --wait answers before the disk is made (milliseconds, or longer on a busy
 * host). So attach first follows a creation still under way: create then
 * attach, as the README shows, always works. */
static int wait_created(struct cli_ctx *ctx, const char *name)
{
	autofree char *path = client_path("/v1/volumes/%s", name);
	json_t *v = cli_get(ctx, path);
	if (!v)
		return CLI_EXIT_FAILED;
	int rc = CLI_EXIT_OK;
	const char *state = cli_jstr(v, "state"), *op_id = cli_jstr(v, "operation");
	if (state && strcmp(state, "creating") == 0 && op_id) {
		autofree char *op_path = client_path("/v1/operations/%s", op_id);
		json_t *op = cli_get(ctx, op_path);
		if (!op) {
			rc = CLI_EXIT_FAILED;
		} else {
			fprintf(ctx->out, "Volume %s is still being created; waiting for it\n", cli_jstr(v, "name"));
			rc = wait_operation(ctx, op, NULL);
			json_decref(op);
		}
	}
	json_decref(v);
	return rc;
}

static int volume_attach(struct cli_ctx *ctx, const struct args *a)
{
	if (!args_value(a, "vm")) {
		fprintf(ctx->err, "nubo: volume attach needs --vm VM\n");
		return CLI_EXIT_USAGE;
	}
	int rc = wait_created(ctx, a->pos[0]);
	if (rc != CLI_EXIT_OK)
		return rc;
	autofree char *path = client_path("/v1/volumes/%s/attach", a->pos[0]);
	return cli_act(ctx, a, "POST", path, json_pack("{s:s}", "vm", args_value(a, "vm")), "volume", a->pos[0],
		       "Attaching", "Attached");
}

static int volume_detach(struct cli_ctx *ctx, const struct args *a)
{
	autofree char *path = client_path("/v1/volumes/%s/detach", a->pos[0]);
	return cli_act(ctx, a, "POST", path, NULL, "volume", a->pos[0], "Detaching", "Detached");
}

static int volume_delete(struct cli_ctx *ctx, const struct args *a)
{
	autofree char *path = client_path("/v1/volumes/%s", a->pos[0]);
	return cli_act(ctx, a, "DELETE", path, NULL, "volume", a->pos[0], "Deleting", "Deleted");
}

static const struct cli_verb volume_verbs[] = {
	{"create", "NAME --size SIZE | --from-snapshot SNAPSHOT [--wait]", "Create a persistent volume", NULL, create_flags, 1, 1, false,
	 volume_create},
	{"list", "[--json]", "List volumes with their state, size and VM", NULL, cli_json_flags, 0, 0, false, volume_list},
	{"show", "NAME [--json]", "Show one volume", NULL, cli_json_flags, 1, 1, false, volume_show},
	{"attach", "NAME --vm VM [--wait]", "Attach a volume to a VM",
	 "A running VM gets it at once as a new /dev/vdX (hot-plug); a stopped VM at its\n"
	 "next start. Its serial is the volume's id (/sys/block/vdX/serial, or\n"
	 "/dev/disk/by-id/virtio-<id> where udev runs). A VM takes up to 4 volumes.\n",
	 attach_flags, 1, 1, false, volume_attach},
	{"detach", "NAME [--wait]", "Detach a volume from its VM",
	 "A running VM is asked to release the device (the guest must let go of it:\n"
	 "unmount it first); the data stays on the volume.\n",
	 cli_wait_flags, 1, 1, false, volume_detach},
	{"delete", "NAME [--wait]", "Delete a volume that no VM uses", NULL, cli_wait_flags, 1, 1, false, volume_delete},
	{NULL, NULL, NULL, NULL, NULL, 0, 0, false, NULL},
};

const struct cli_noun volume_noun = {"volume", "Persistent disks that outlive VMs.", volume_verbs, false};
