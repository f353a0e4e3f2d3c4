/*
 * group: `nubo group create|list|show|set|update|delete` (/v1/groups) and
 * `nubo vm protect|unprotect` (/v1/vms/NAME/protect).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/commands.h"
#include "cli/format.h"
#include "cli/ssh.h"
#include "cli/table.h"
#include "util/str.h"
#include "util/timeutil.h"

static const struct arg_flag create_flags[] = {
	{"image", 0, ARG_VALUE, "I", "image of the VMs (default tiny)"},
	{"type", 0, ARG_VALUE, "T", "machine type of the VMs (default small)"},
	{"ssh-key", 0, ARG_VALUE, "FILE.pub", "public key to log in with (default: nubo's own key)"},
	{"user-data", 0, ARG_VALUE, "FILE", "cloud-init user data of every VM (max 64 KiB)"},
	{"network", 0, ARG_VALUE, "N", "the VMs' network (default: default)"},
	{"firewall", 0, ARG_VALUE, "F[,F…]", "firewalls the VMs join (default: default)"},
	{"min", 0, ARG_VALUE, "N", "the fewest VMs (required)"},
	{"max", 0, ARG_VALUE, "N", "the most VMs (required)"},
	{"desired", 0, ARG_VALUE, "N", "VMs to start with (default: min)"},
	{"lb", 0, ARG_VALUE, "LB[:PORT]", "load balancer the VMs join once ready (on PORT, default its listeners')"},
	{"target-cpu", 0, ARG_VALUE, "PCT", "keep the VMs' average CPU near PCT percent (1-100; default: off)"},
	{"grace", 0, ARG_VALUE, "D", "time a new VM has before failed checks replace it (default 60s)"},
	{"warmup", 0, ARG_VALUE, "D", "time after ready before a VM's CPU counts (default 60s)"},
	{"cooldown", 0, ARG_VALUE, "D", "time the CPU must stay below target before a scale-in (default 120s)"},
	{"drain", 0, ARG_VALUE, "D", "time a VM leaving the balancer keeps its connections (default 10s)"},
	{"json", 0, ARG_BOOL, NULL, "print the API's JSON"},
	{NULL, 0, 0, NULL, NULL},
};

static const struct arg_flag set_flags[] = {
	{"min", 0, ARG_VALUE, "N", "the fewest VMs"},
	{"max", 0, ARG_VALUE, "N", "the most VMs"},
	{"desired", 0, ARG_VALUE, "N", "VMs wanted now"},
	{"target-cpu", 0, ARG_VALUE, "PCT", "the CPU target (0: off)"},
	{"json", 0, ARG_BOOL, NULL, "print the API's JSON"},
	{NULL, 0, 0, NULL, NULL},
};

static const struct arg_flag update_flags[] = {
	{"image", 0, ARG_VALUE, "I", "the new image"},
	{"type", 0, ARG_VALUE, "T", "the new machine type"},
	{"json", 0, ARG_BOOL, NULL, "print the API's JSON"},
	{NULL, 0, 0, NULL, NULL},
};

static const struct arg_flag delete_flags[] = {
	{"wait", 0, ARG_BOOL, NULL, "return once every VM and the group are gone"},
	{NULL, 0, 0, NULL, NULL},
};

/* A whole number flag as a JSON integer; anything else goes as text, which
 * the API names in its answer. */
static void add_int(json_t *body, const struct args *a, const char *flag, const char *key)
{
	const char *v = args_value(a, flag);
	if (!v)
		return;
	size_t n = strspn(v, "0123456789");
	if (n && n <= 6 && !v[n])
		json_object_set_new(body, key, json_integer(strtol(v, NULL, 10)));
	else
		json_object_set_new(body, key, json_string(v));
}

static char *ms_text(const json_t *g, const char *key)
{
	long long ms = (long long)cli_jint(g, key, 0);
	if (ms % 1000 == 0)
		return xasprintf("%llds", ms / 1000);
	return xasprintf("%lldms", ms);
}

static void print_groups(struct cli_ctx *ctx, const json_t *j)
{
	const json_t *gs = json_object_get(j, "groups");
	if (json_array_size(gs) == 0) {
		fputs("No groups. Create one with: nubo group create NAME --min 2 --max 8\n", ctx->out);
		return;
	}
	static const char *const headers[] = {"NAME", "IMAGE", "TYPE", "MIN", "DESIRED", "MAX", "HEALTHY", "LB", "AGE"};
	struct table *t = table_new(9, headers);
	size_t i;
	const json_t *g;
	json_array_foreach(gs, i, g) {
		autofree char *age = fmt_age_since(cli_jstr(g, "created_at"), ctx->now_ms);
		autofree char *mn = xasprintf("%lld", (long long)cli_jint(g, "min", 0));
		autofree char *ds = xasprintf("%lld%s", (long long)cli_jint(g, "desired", 0),
					      json_is_true(json_object_get(g, "deleting")) ? " (deleting)" : "");
		autofree char *mx = xasprintf("%lld", (long long)cli_jint(g, "max", 0));
		autofree char *h = xasprintf("%lld/%lld", (long long)cli_jint(g, "healthy", 0),
					     (long long)cli_jint(g, "live", 0));
		const char *row[] = {cli_jstr(g, "name"), cli_jstr(g, "image"), cli_jstr(g, "type"), mn, ds, mx, h,
				     cli_or_dash(cli_jstr(g, "lb")), age};
		table_add_row(t, row);
	}
	autofree char *text = table_render(t);
	fputs(text, ctx->out);
	table_free(t);
}

static void print_group(struct cli_ctx *ctx, const json_t *g)
{
	struct sbuf fws = {0};
	size_t i;
	const json_t *f;
	json_array_foreach(json_object_get(g, "firewalls"), i, f) {
		sbuf_addf(&fws, "%s%s", i ? "," : "", json_string_value(f));
	}
	autofree char *fw = sbuf_take(&fws);
	fprintf(ctx->out, "Name:       %s%s\n", cli_or_dash(cli_jstr(g, "name")),
		json_is_true(json_object_get(g, "deleting")) ? " (being deleted)" : "");
	fprintf(ctx->out, "ID:         %s\n", cli_or_dash(cli_jstr(g, "id")));
	fprintf(ctx->out, "Template:   %lld: image %s, type %s, network %s, firewalls %s\n",
		(long long)cli_jint(g, "template", 0), cli_or_dash(cli_jstr(g, "image")), cli_or_dash(cli_jstr(g, "type")),
		cli_or_dash(cli_jstr(g, "network")), fw);
	fprintf(ctx->out, "Size:       min %lld, desired %lld, max %lld (%lld live, %lld healthy)\n",
		(long long)cli_jint(g, "min", 0), (long long)cli_jint(g, "desired", 0), (long long)cli_jint(g, "max", 0),
		(long long)cli_jint(g, "live", 0), (long long)cli_jint(g, "healthy", 0));
	if (cli_jstr(g, "lb")) {
		if (cli_jint(g, "lb_port", 0))
			fprintf(ctx->out, "Balancer:   %s, port %lld\n", cli_jstr(g, "lb"), (long long)cli_jint(g, "lb_port", 0));
		else
			fprintf(ctx->out, "Balancer:   %s\n", cli_jstr(g, "lb"));
	}
	autofree char *grace = ms_text(g, "grace_ms"), *warm = ms_text(g, "warmup_ms"), *cool = ms_text(g, "cooldown_ms"),
		      *drain = ms_text(g, "drain_ms");
	if (cli_jint(g, "target_cpu", 0))
		fprintf(ctx->out, "CPU target: %lld%% (warmup %s, cooldown %s)\n", (long long)cli_jint(g, "target_cpu", 0),
			warm, cool);
	else
		fprintf(ctx->out, "CPU target: none\n");
	fprintf(ctx->out, "Grace:      %s; drain %s\n", grace, drain);
	const json_t *ms = json_object_get(g, "members");
	if (json_array_size(ms) == 0) {
		fprintf(ctx->out, "VMs:        none\n");
		return;
	}
	fprintf(ctx->out, "VMs:\n");
	static const char *const headers[] = {"NAME",	  "MEMBER",    "VM STATE", "HEALTHY", "LB",
					      "TEMPLATE", "PROTECTED", "CPU",	    "IP"};
	struct table *t = table_new(9, headers);
	const json_t *m;
	json_array_foreach(ms, i, m) {
		autofree char *tmpl = xasprintf("%lld", (long long)cli_jint(m, "template", 0));
		autofree char *cpu = json_is_number(json_object_get(m, "cpu"))
					     ? xasprintf("%.0f%%", cli_jreal(m, "cpu", 0))
					     : xstrdup("-");
		const char *row[] = {cli_jstr(m, "name"),
				     cli_jstr(m, "state"),
				     cli_jstr(m, "vm_state"),
				     json_is_true(json_object_get(m, "healthy")) ? "yes" : "no",
				     cli_or_dash(cli_jstr(m, "lb_health")),
				     tmpl,
				     json_is_true(json_object_get(m, "protected")) ? "yes" : "no",
				     cpu,
				     cli_or_dash(cli_jstr(m, "ip"))};
		table_add_row(t, row);
	}
	autofree char *text = table_render(t);
	fputs(text, ctx->out);
	table_free(t);
}

static int group_list(struct cli_ctx *ctx, const struct args *a)
{
	return cli_show(ctx, a, "/v1/groups", print_groups);
}

static int group_show(struct cli_ctx *ctx, const struct args *a)
{
	autofree char *path = client_path("/v1/groups/%s", a->pos[0]);
	return cli_show(ctx, a, path, print_group);
}

/* The answer: --json prints it, else one line that says what happens now. */
static int answer(struct cli_ctx *ctx, const struct args *a, json_t *g, const char *verb)
{
	if (!g)
		return CLI_EXIT_FAILED;
	if (args_has(a, "json"))
		cli_print_json(ctx, g);
	else
		fprintf(ctx->out, "%s group %s: %lld VMs wanted (min %lld, max %lld); follow with: nubo group show %s\n",
			verb, cli_jstr(g, "name"), (long long)cli_jint(g, "desired", 0), (long long)cli_jint(g, "min", 0),
			(long long)cli_jint(g, "max", 0), cli_jstr(g, "name"));
	json_decref(g);
	return CLI_EXIT_OK;
}

static int group_create(struct cli_ctx *ctx, const struct args *a)
{
	if (!args_value(a, "min") || !args_value(a, "max")) {
		fprintf(ctx->err, "nubo: group create needs --min N and --max N, e.g. --min 2 --max 8\n");
		return CLI_EXIT_USAGE;
	}
	char **keys = NULL;
	autofree char *key_file = NULL;
	int rc = vm_create_keys(ctx, a, &keys, &key_file);
	if (rc != CLI_EXIT_OK)
		return rc;
	json_t *body = json_pack("{s:s}", "name", a->pos[0]);
	json_t *jkeys = json_array();
	for (size_t i = 0; keys[i]; i++)
		json_array_append_new(jkeys, json_string(keys[i]));
	ssh_keys_free(keys);
	json_object_set_new(body, "ssh_keys", jkeys);
	json_object_set_new(body, "ssh_key_file", json_string(key_file));
	if (args_value(a, "user-data")) {
		json_t *ud = vm_create_user_data(ctx, args_value(a, "user-data"), &rc);
		if (!ud) {
			json_decref(body);
			return rc;
		}
		json_object_set_new(body, "user_data", ud);
	}
	static const char *const strings[][2] = {{"image", "image"}, {"type", "type"},	    {"network", "network"},
						 {"lb", "lb"},	     {"grace", "grace"},    {"warmup", "warmup"},
						 {"cooldown", "cooldown"}, {"drain", "drain"}};
	for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++)
		if (args_value(a, strings[i][0]))
			json_object_set_new(body, strings[i][1], json_string(args_value(a, strings[i][0])));
	if (args_has(a, "firewall")) {
		const char *vals[32];
		size_t n = args_values(a, "firewall", vals, 32);
		json_t *list = json_array();
		for (size_t i = 0; i < n; i++) {
			autofree char *copy = xstrdup(vals[i]);
			char *save = NULL;
			for (char *w = strtok_r(copy, ",", &save); w; w = strtok_r(NULL, ",", &save))
				json_array_append_new(list, json_string(w));
		}
		json_object_set_new(body, "firewalls", list);
	}
	add_int(body, a, "min", "min");
	add_int(body, a, "max", "max");
	add_int(body, a, "desired", "desired");
	add_int(body, a, "target-cpu", "target_cpu");
	return answer(ctx, a, cli_send(ctx, "POST", "/v1/groups", body), "Created");
}

static int group_set(struct cli_ctx *ctx, const struct args *a)
{
	json_t *body = json_object();
	add_int(body, a, "min", "min");
	add_int(body, a, "max", "max");
	add_int(body, a, "desired", "desired");
	add_int(body, a, "target-cpu", "target_cpu");
	if (json_object_size(body) == 0) {
		json_decref(body);
		fprintf(ctx->err, "nubo: group set needs --desired N, --min N, --max N or --target-cpu PCT\n");
		return CLI_EXIT_USAGE;
	}
	autofree char *path = client_path("/v1/groups/%s", a->pos[0]);
	return answer(ctx, a, cli_send(ctx, "PATCH", path, body), "Resized");
}

static int group_update(struct cli_ctx *ctx, const struct args *a)
{
	json_t *body = json_object();
	if (args_value(a, "image"))
		json_object_set_new(body, "image", json_string(args_value(a, "image")));
	if (args_value(a, "type"))
		json_object_set_new(body, "type", json_string(args_value(a, "type")));
	if (json_object_size(body) == 0) {
		json_decref(body);
		fprintf(ctx->err, "nubo: group update needs --image I or --type T\n");
		return CLI_EXIT_USAGE;
	}
	autofree char *path = client_path("/v1/groups/%s/update", a->pos[0]);
	json_t *g = cli_send(ctx, "POST", path, body);
	if (!g)
		return CLI_EXIT_FAILED;
	if (args_has(a, "json"))
		cli_print_json(ctx, g);
	else
		fprintf(ctx->out, "Group %s: template %lld (image %s, type %s); its VMs are replaced one at a time\n",
			cli_jstr(g, "name"), (long long)cli_jint(g, "template", 0), cli_jstr(g, "image"), cli_jstr(g, "type"));
	json_decref(g);
	return CLI_EXIT_OK;
}

static int group_delete(struct cli_ctx *ctx, const struct args *a)
{
	autofree char *path = client_path("/v1/groups/%s", a->pos[0]);
	json_t *g = cli_send(ctx, "DELETE", path, NULL);
	if (!g)
		return CLI_EXIT_FAILED;
	fprintf(ctx->out, "Deleting group %s and its %lld VMs\n", a->pos[0], (long long)cli_jint(g, "live", 0));
	json_decref(g);
	if (!args_has(a, "wait"))
		return CLI_EXIT_OK;
	int rc = cli_wait_gone(ctx, path);
	if (rc)
		return rc;
	fprintf(ctx->out, "Deleted group %s\n", a->pos[0]);
	return CLI_EXIT_OK;
}

static int protect(struct cli_ctx *ctx, const struct args *a, bool on)
{
	autofree char *path = client_path("/v1/vms/%s/protect", a->pos[0]);
	json_t *m = cli_send(ctx, on ? "POST" : "DELETE", path, on ? json_object() : NULL);
	if (!m)
		return CLI_EXIT_FAILED;
	fprintf(ctx->out, on ? "VM %s is protected from scale-in\n" : "VM %s may be scaled in again\n", a->pos[0]);
	json_decref(m);
	return CLI_EXIT_OK;
}

int vm_protect(struct cli_ctx *ctx, const struct args *a)
{
	return protect(ctx, a, true);
}

int vm_unprotect(struct cli_ctx *ctx, const struct args *a)
{
	return protect(ctx, a, false);
}

static const struct cli_verb group_verbs[] = {
	{"create",
	 "NAME --min N --max N [--desired N] [--image I] [--type T] [--ssh-key FILE.pub] [--user-data FILE] "
	 "[--network N] [--firewall F,...] [--lb LB[:PORT]] [--target-cpu PCT] [--grace D --warmup D --cooldown D --drain D]",
	 "Create an auto-scaling group of VMs",
	 "The group keeps `desired` VMs named NAME-<suffix>, replacing any that fail.\n"
	 "With --lb each joins the balancer once SSH answers; with --target-cpu the\n"
	 "desired count follows the VMs' average CPU. See docs/groups.md.\n"
	 "  nubo group create web --image tiny --type nano --min 2 --max 8 --lb web --target-cpu 60\n",
	 create_flags, 1, 1, false, group_create},
	{"list", "[--json]", "List groups with their size and health", NULL, cli_json_flags, 0, 0, false, group_list},
	{"show", "NAME [--json]", "Show a group and its VMs", NULL, cli_json_flags, 1, 1, false, group_show},
	{"set", "NAME [--desired N] [--min N] [--max N] [--target-cpu PCT]", "Change a group's size",
	 "A desired count outside the new min and max is refused; without --desired it\n"
	 "is moved inside them.\n",
	 set_flags, 1, 1, false, group_set},
	{"update", "NAME [--image I] [--type T]", "Give a group a new template: a rolling refresh",
	 "One VM of the new template is added at a time; once it is healthy an old one\n"
	 "is drained and deleted. The group never has fewer than min healthy VMs.\n",
	 update_flags, 1, 1, false, group_update},
	{"delete", "NAME [--wait]", "Delete a group and its VMs", NULL, delete_flags, 1, 1, false, group_delete},
	{NULL, NULL, NULL, NULL, NULL, 0, 0, false, NULL},
};

const struct cli_noun group_noun = {"group", "Auto-scaling groups: VMs kept at a count.", group_verbs, false};
