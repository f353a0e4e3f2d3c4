/*
 * firewall: `nubo firewall create|list|show|delete` and `nubo firewall rule
 * add|list|delete` (/v1/firewalls), and the VM verbs about what reaches a
 * VM: `nubo vm set-firewall|expose|unexpose|ports`.
 */
#include <string.h>

#include "cli/commands.h"
#include "cli/format.h"
#include "cli/table.h"
#include "util/str.h"

static const struct arg_flag create_flags[] = {
	{"description", 0, ARG_VALUE, "TEXT", "what the firewall is for"},
	{"json", 0, ARG_BOOL, NULL, "print the API's JSON"},
	{NULL, 0, 0, NULL, NULL},
};

static const struct arg_flag rule_flags[] = {
	{"proto", 0, ARG_VALUE, "P", "tcp, udp, icmp (echo) or all (rule add; default tcp)"},
	{"port", 0, ARG_VALUE, "PORT", "a port or range, e.g. 80 or 8000-8100 (tcp/udp; default: all)"},
	{"from", 0, ARG_VALUE, "CIDR", "allowed sources, e.g. 0.0.0.0/0 or 10.20.0.5 (default: anywhere)"},
	{"from-firewall", 0, ARG_VALUE, "F", "or: the members of firewall F (their every address)"},
	{"json", 0, ARG_BOOL, NULL, "print the API's JSON"},
	{NULL, 0, 0, NULL, NULL},
};

static void rule_row(const json_t *r, const char *row[4], char **from)
{
	*from = cli_jstr(r, "from") ? xstrdup(cli_jstr(r, "from"))
				    : xasprintf("members of %s", cli_or_dash(cli_jstr(r, "from_firewall")));
	row[0] = cli_jstr(r, "id");
	row[1] = cli_jstr(r, "proto");
	row[2] = cli_or_dash(cli_jstr(r, "port"));
	row[3] = *from;
}

static void print_rules(struct cli_ctx *ctx, const json_t *rules, const char *indent)
{
	if (json_array_size(rules) == 0) {
		fprintf(ctx->out, "%sNo rules: nothing reaches its members from outside.\n", indent);
		return;
	}
	static const char *const headers[] = {"RULE", "PROTO", "PORT", "FROM"};
	struct table *t = table_new(4, headers);
	size_t i;
	const json_t *r;
	json_array_foreach(rules, i, r) {
		const char *row[4];
		autofree char *from = NULL;
		rule_row(r, row, &from);
		table_add_row(t, row);
	}
	autofree char *text = table_render(t);
	fputs(text, ctx->out);
	table_free(t);
}

static void print_firewalls(struct cli_ctx *ctx, const json_t *j)
{
	static const char *const headers[] = {"NAME", "RULES", "MEMBERS", "DESCRIPTION"};
	struct table *t = table_new(4, headers);
	table_align_right(t, 1);
	table_align_right(t, 2);
	size_t i;
	const json_t *f;
	json_array_foreach(json_object_get(j, "firewalls"), i, f) {
		autofree char *rules = xasprintf("%lld", (long long)cli_jint(f, "rule_count", 0));
		autofree char *members = xasprintf("%lld", (long long)cli_jint(f, "members", 0));
		const char *desc = cli_jstr(f, "description");
		const char *row[] = {cli_jstr(f, "name"), rules, members, desc && *desc ? desc : "-"};
		table_add_row(t, row);
	}
	autofree char *text = table_render(t);
	fputs(text, ctx->out);
	table_free(t);
}

static void print_firewall(struct cli_ctx *ctx, const json_t *f)
{
	const char *desc = cli_jstr(f, "description");
	fprintf(ctx->out, "Name:         %s\n", cli_or_dash(cli_jstr(f, "name")));
	fprintf(ctx->out, "ID:           %s\n", cli_or_dash(cli_jstr(f, "id")));
	fprintf(ctx->out, "Description:  %s\n", desc && *desc ? desc : "-");
	fprintf(ctx->out, "Members:      %lld VM(s)\n", (long long)cli_jint(f, "members", 0));
	fputs("Inbound:      what the rules below allow; replies and outbound traffic always pass\n", ctx->out);
	print_rules(ctx, json_object_get(f, "rules"), "  ");
}

static int firewall_list(struct cli_ctx *ctx, const struct args *a)
{
	return cli_show(ctx, a, "/v1/firewalls", print_firewalls);
}

static int firewall_show(struct cli_ctx *ctx, const struct args *a)
{
	autofree char *path = client_path("/v1/firewalls/%s", a->pos[0]);
	return cli_show(ctx, a, path, print_firewall);
}

static int firewall_create(struct cli_ctx *ctx, const struct args *a)
{
	json_t *body = json_pack("{s:s}", "name", a->pos[0]);
	if (args_value(a, "description"))
		json_object_set_new(body, "description", json_string(args_value(a, "description")));
	json_t *fw = cli_send(ctx, "POST", "/v1/firewalls", body);
	if (!fw)
		return CLI_EXIT_FAILED;
	if (args_has(a, "json"))
		cli_print_json(ctx, fw);
	else
		fprintf(ctx->out, "Created firewall %s (no rules yet: add some with nubo firewall rule add %s ...)\n",
			a->pos[0], a->pos[0]);
	json_decref(fw);
	return CLI_EXIT_OK;
}

static int firewall_delete(struct cli_ctx *ctx, const struct args *a)
{
	autofree char *path = client_path("/v1/firewalls/%s", a->pos[0]);
	json_t *r = cli_send(ctx, "DELETE", path, NULL);
	if (!r)
		return CLI_EXIT_FAILED;
	fprintf(ctx->out, "Deleted firewall %s\n", a->pos[0]);
	json_decref(r);
	return CLI_EXIT_OK;
}

static int rule_add(struct cli_ctx *ctx, const struct args *a)
{
	const char *fw = a->pos[1];
	json_t *body = json_pack("{s:s}", "proto", args_value(a, "proto") ? args_value(a, "proto") : "tcp");
	static const char *const keys[][2] = {{"port", "port"}, {"from", "from"}, {"from-firewall", "from_firewall"}};
	for (size_t i = 0; i < 3; i++)
		if (args_value(a, keys[i][0]))
			json_object_set_new(body, keys[i][1], json_string(args_value(a, keys[i][0])));
	autofree char *path = client_path("/v1/firewalls/%s/rules", fw);
	json_t *r = cli_send(ctx, "POST", path, body);
	if (!r)
		return CLI_EXIT_FAILED;
	if (args_has(a, "json")) {
		cli_print_json(ctx, r);
	} else {
		const char *row[4];
		autofree char *from = NULL;
		rule_row(r, row, &from);
		fprintf(ctx->out, "Added rule %s to firewall %s: %s %s from %s\n", row[0], fw, row[1],
			strcmp(row[2], "-") ? row[2] : "(all ports)", row[3]);
	}
	json_decref(r);
	return CLI_EXIT_OK;
}

static void print_rule_list(struct cli_ctx *ctx, const json_t *j)
{
	print_rules(ctx, json_object_get(j, "rules"), "");
}

static int firewall_rule(struct cli_ctx *ctx, const struct args *a)
{
	const char *sub = a->pos[0];
	if (strcmp(sub, "add") == 0 && a->npos == 2)
		return rule_add(ctx, a);
	if (strcmp(sub, "list") == 0 && a->npos == 2) {
		autofree char *path = client_path("/v1/firewalls/%s/rules", a->pos[1]);
		return cli_show(ctx, a, path, print_rule_list);
	}
	if (strcmp(sub, "delete") == 0 && a->npos == 3) {
		autofree char *fw = client_path("%s", a->pos[1]);
		autofree char *rule = client_path("%s", a->pos[2]);
		autofree char *path = xasprintf("/v1/firewalls/%s/rules/%s", fw, rule);
		json_t *r = cli_send(ctx, "DELETE", path, NULL);
		if (!r)
			return CLI_EXIT_FAILED;
		fprintf(ctx->out, "Deleted rule %s of firewall %s\n", a->pos[2], a->pos[1]);
		json_decref(r);
		return CLI_EXIT_OK;
	}
	fprintf(ctx->err, "nubo: usage: nubo firewall rule add FIREWALL [--proto P] [--port PORT] "
			  "[--from CIDR | --from-firewall F]\n"
			  "               nubo firewall rule list FIREWALL\n"
			  "               nubo firewall rule delete FIREWALL RULE\n");
	return CLI_EXIT_USAGE;
}

static const struct cli_verb firewall_verbs[] = {
	{"create", "NAME [--description TEXT]", "Create a firewall (security group) with no rules",
	 "A firewall's rules allow inbound traffic to its member VMs; anything else\n"
	 "inbound is dropped. Replies and outbound traffic always pass. VMs join with\n"
	 "nubo vm create --firewall NAME, or nubo vm set-firewall VM NAME[,NAME...].\n",
	 create_flags, 1, 1, false, firewall_create},
	{"list", "[--json]", "List firewalls with their rule and member counts", NULL, cli_json_flags, 0, 0, false,
	 firewall_list},
	{"show", "NAME [--json]", "Show a firewall and its rules", NULL, cli_json_flags, 1, 1, false, firewall_show},
	{"delete", "NAME", "Delete a firewall no VM uses", NULL, NULL, 1, 1, false, firewall_delete},
	{"rule", "add|list|delete FIREWALL [RULE] [--proto P] [--port PORT] [--from CIDR | --from-firewall F]",
	 "Add, list or delete a firewall's rules",
	 "  nubo firewall rule add web --proto tcp --port 80 --from 0.0.0.0/0\n"
	 "  nubo firewall rule add db --proto tcp --port 5432 --from-firewall app\n"
	 "  nubo firewall rule list web\n"
	 "  nubo firewall rule delete web fwr-1a2b3c4d5e6f\n"
	 "A change is in force on running VMs within a second; connections already\n"
	 "open stay open (the firewall is stateful).\n",
	 rule_flags, 2, 3, false, firewall_rule},
	{NULL, NULL, NULL, NULL, NULL, 0, 0, false, NULL},
};

const struct cli_noun firewall_noun = {"firewall", "Firewalls (security groups): what may reach VMs.",
				       firewall_verbs, false};

/* --- VM verbs ---------------------------------------------------------------- */

int vm_set_firewall(struct cli_ctx *ctx, const struct args *a)
{
	json_t *list = json_array();
	autofree char *copy = xstrdup(a->pos[1]);
	char *save = NULL;
	for (char *w = strtok_r(copy, ",", &save); w; w = strtok_r(NULL, ",", &save))
		json_array_append_new(list, json_string(w));
	autofree char *path = client_path("/v1/vms/%s/firewalls", a->pos[0]);
	json_t *vm = cli_send(ctx, "PUT", path, json_pack("{s:o}", "firewalls", list));
	if (!vm)
		return CLI_EXIT_FAILED;
	fprintf(ctx->out, "VM %s is now in firewall%s %s\n", a->pos[0], strchr(a->pos[1], ',') ? "s" : "", a->pos[1]);
	json_decref(vm);
	return CLI_EXIT_OK;
}

int vm_expose(struct cli_ctx *ctx, const struct args *a)
{
	autofree char *path = client_path("/v1/vms/%s/forwards", a->pos[0]);
	json_t *f = cli_send(ctx, "POST", path, json_pack("{s:s}", "ports", a->pos[1]));
	if (!f)
		return CLI_EXIT_FAILED;
	fprintf(ctx->out, "Host port %lld/%s now reaches port %lld of VM %s (on every address of this host)\n",
		(long long)cli_jint(f, "host_port", 0), cli_jstr(f, "proto"), (long long)cli_jint(f, "guest_port", 0),
		a->pos[0]);
	json_decref(f);
	return CLI_EXIT_OK;
}

int vm_unexpose(struct cli_ctx *ctx, const struct args *a)
{
	autofree char *port = xstrdup(a->pos[1]);
	char *slash = strchr(port, '/');
	if (slash)
		*slash++ = '\0';
	autofree char *base = client_path("/v1/vms/%s/forwards/%s", a->pos[0], port);
	autofree char *path = slash ? xasprintf("%s/%s", base, slash) : xstrdup(base);
	json_t *r = cli_send(ctx, "DELETE", path, NULL);
	if (!r)
		return CLI_EXIT_FAILED;
	fprintf(ctx->out, "Host port %s no longer forwarded to VM %s\n", a->pos[1], a->pos[0]);
	json_decref(r);
	return CLI_EXIT_OK;
}

static void print_ports(struct cli_ctx *ctx, const json_t *j)
{
	const json_t *fwds = json_object_get(j, "forwards");
	if (json_array_size(fwds) == 0) {
		fputs("No ports forwarded. Forward one with: nubo vm expose VM HOST_PORT:VM_PORT\n", ctx->out);
		return;
	}
	static const char *const headers[] = {"HOST PORT", "VM PORT", "PROTO"};
	struct table *t = table_new(3, headers);
	size_t i;
	const json_t *f;
	json_array_foreach(fwds, i, f) {
		autofree char *hp = xasprintf("%lld", (long long)cli_jint(f, "host_port", 0));
		autofree char *gp = xasprintf("%lld", (long long)cli_jint(f, "guest_port", 0));
		const char *row[] = {hp, gp, cli_jstr(f, "proto")};
		table_add_row(t, row);
	}
	autofree char *text = table_render(t);
	fputs(text, ctx->out);
	table_free(t);
}

int vm_ports(struct cli_ctx *ctx, const struct args *a)
{
	autofree char *path = client_path("/v1/vms/%s/forwards", a->pos[0]);
	return cli_show(ctx, a, path, print_ports);
}
