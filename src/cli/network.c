/*
 * network: `nubo network create|list|show|delete` (/v1/networks).
 */
#include <string.h>

#include "cli/commands.h"
#include "cli/format.h"
#include "cli/table.h"
#include "util/str.h"

static const struct arg_flag create_flags[] = {
	{"cidr", 0, ARG_VALUE, "CIDR", "the subnet, e.g. 10.20.0.0/24 (private, /16 to /28); .1 is the host"},
	{"no-nat", 0, ARG_BOOL, NULL, "no way out to the host's uplink: VMs reach only this network"},
	{"json", 0, ARG_BOOL, NULL, "print the API's JSON"},
	{NULL, 0, 0, NULL, NULL},
};

static void print_networks(struct cli_ctx *ctx, const json_t *j)
{
	static const char *const headers[] = {"NAME", "CIDR", "GATEWAY", "NAT", "NICS", "STATE", "AGE"};
	struct table *t = table_new(7, headers);
	table_align_right(t, 4);
	size_t i;
	const json_t *n;
	json_array_foreach(json_object_get(j, "networks"), i, n) {
		autofree char *age = fmt_age_since(cli_jstr(n, "created_at"), ctx->now_ms);
		autofree char *nics = xasprintf("%lld", (long long)cli_jint(n, "nics", 0));
		const char *row[] = {cli_jstr(n, "name"), cli_jstr(n, "cidr"),	       cli_jstr(n, "gateway"),
				     json_is_true(json_object_get(n, "nat")) ? "yes" : "no",
				     nics,		  cli_jstr(n, "state"), age};
		table_add_row(t, row);
	}
	autofree char *text = table_render(t);
	fputs(text, ctx->out);
	table_free(t);
}

static void print_network(struct cli_ctx *ctx, const json_t *n)
{
	autofree char *age = fmt_age_since(cli_jstr(n, "created_at"), ctx->now_ms);
	fprintf(ctx->out, "Name:       %s\n", cli_or_dash(cli_jstr(n, "name")));
	fprintf(ctx->out, "ID:         %s\n", cli_or_dash(cli_jstr(n, "id")));
	fprintf(ctx->out, "State:      %s\n", cli_or_dash(cli_jstr(n, "state")));
	fprintf(ctx->out, "CIDR:       %s\n", cli_or_dash(cli_jstr(n, "cidr")));
	fprintf(ctx->out, "Gateway:    %s (the host; DHCP, DNS and metadata)\n", cli_or_dash(cli_jstr(n, "gateway")));
	fprintf(ctx->out, "NAT:        %s\n",
		json_is_true(json_object_get(n, "nat")) ? "yes: VMs reach the host's uplink" : "no: VMs reach only this network");
	fprintf(ctx->out, "NICs:       %lld\n", (long long)cli_jint(n, "nics", 0));
	fprintf(ctx->out, "Bridge:     %s\n", cli_or_dash(cli_jstr(n, "bridge")));
	fprintf(ctx->out, "Created:    %s (%s ago)\n", cli_or_dash(cli_jstr(n, "created_at")), age);
}

static int network_list(struct cli_ctx *ctx, const struct args *a)
{
	return cli_show(ctx, a, "/v1/networks", print_networks);
}

static int network_show(struct cli_ctx *ctx, const struct args *a)
{
	autofree char *path = client_path("/v1/networks/%s", a->pos[0]);
	return cli_show(ctx, a, path, print_network);
}

static int network_create(struct cli_ctx *ctx, const struct args *a)
{
	if (!args_value(a, "cidr")) {
		fprintf(ctx->err, "nubo: network create needs --cidr CIDR, e.g. --cidr 10.20.0.0/24\n");
		return CLI_EXIT_USAGE;
	}
	json_t *body = json_pack("{s:s, s:s, s:b}", "name", a->pos[0], "cidr", args_value(a, "cidr"), "nat",
				 !args_has(a, "no-nat"));
	json_t *net = cli_send(ctx, "POST", "/v1/networks", body);
	if (!net)
		return CLI_EXIT_FAILED;
	if (args_has(a, "json"))
		cli_print_json(ctx, net);
	else
		fprintf(ctx->out, "Created network %s: %s, gateway %s, %s\n", cli_jstr(net, "name"), cli_jstr(net, "cidr"),
			cli_jstr(net, "gateway"), json_is_true(json_object_get(net, "nat")) ? "NAT" : "no NAT");
	json_decref(net);
	return CLI_EXIT_OK;
}

static int network_delete(struct cli_ctx *ctx, const struct args *a)
{
	autofree char *path = client_path("/v1/networks/%s", a->pos[0]);
	json_t *net = cli_send(ctx, "DELETE", path, NULL);
	if (!net)
		return CLI_EXIT_FAILED;
	fprintf(ctx->out, "Deleting network %s (its bridge and DHCP go within a second)\n", a->pos[0]);
	json_decref(net);
	return CLI_EXIT_OK;
}

static const struct cli_verb network_verbs[] = {
	{"create", "NAME --cidr CIDR [--no-nat]", "Create a private network for VMs",
	 "VMs join it with: nubo vm create NAME --network NETWORK [--ip ADDRESS].\n"
	 "VMs on one network reach each other (as their firewalls allow); VMs on\n"
	 "different networks never do. Subnets of networks may not overlap, nor\n"
	 "overlap a subnet the host already uses.\n",
	 create_flags, 1, 1, false, network_create},
	{"list", "[--json]", "List networks with their subnet, NAT and NIC count", NULL, cli_json_flags, 0, 0, false,
	 network_list},
	{"show", "NAME [--json]", "Show one network", NULL, cli_json_flags, 1, 1, false, network_show},
	{"delete", "NAME", "Delete a network no VM uses", NULL, NULL, 1, 1, false, network_delete},
	{NULL, NULL, NULL, NULL, NULL, 0, 0, false, NULL},
};

const struct cli_noun network_noun = {"network", "Private networks for VMs.", network_verbs, false};
