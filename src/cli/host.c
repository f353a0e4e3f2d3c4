/*
 * host: the hosts of the cloud (GET /v1/hosts): `nubo host list`, `show`,
 * `drain`, `undrain`, `remove`. `nubo host show` without a name is the
 * host whose API answers (GET /v1/host): what it has, what overcommit
 * allows, what VMs use, and how it runs them (kvm or tcg).
 */
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/format.h"
#include "cli/table.h"
#include "util/str.h"

static void print_host(struct cli_ctx *ctx, const json_t *h)
{
	int64_t vcpus = cli_jint(h, "vcpus", -1), vcpus_alloc = cli_jint(h, "vcpus_allocatable", -1);
	int64_t vcpus_used = cli_jint(h, "vcpus_used", -1);
	int64_t mem = cli_jint(h, "memory_mib", -1), mem_alloc = cli_jint(h, "memory_mib_allocatable", -1);
	int64_t mem_used = cli_jint(h, "memory_mib_used", -1);
	autofree char *m = fmt_mib(mem), *ma = fmt_mib(mem_alloc), *mu = fmt_mib(mem_used);
	autofree char *mf = fmt_mib(mem_alloc >= 0 && mem_used >= 0 ? mem_alloc - mem_used : -1);
	const char *accel = cli_jstr(h, "accel");

	fprintf(ctx->out, "Accel:      %s%s\n", accel ? accel : "-",
		accel && strcmp(accel, "tcg") == 0 ? " (software emulation: no usable KVM)" : "");
	fprintf(ctx->out, "vCPUs:      %lld used of %lld allocatable, %lld free (%lld on the host, overcommit %.1fx)\n",
		(long long)vcpus_used, (long long)vcpus_alloc, (long long)(vcpus_alloc - vcpus_used),
		(long long)vcpus, cli_jreal(h, "cpu_overcommit", 1.0));
	fprintf(ctx->out, "Memory:     %s used of %s allocatable, %s free (%s on the host, overcommit %.1fx)\n",
		mu, ma, mf, m, cli_jreal(h, "memory_overcommit", 1.0));
}

/* One host of the cloud (GET /v1/hosts/NAME). */
static void print_cloud_host(struct cli_ctx *ctx, const json_t *h)
{
	fprintf(ctx->out, "Name:       %s\n", cli_or_dash(cli_jstr(h, "name")));
	fprintf(ctx->out, "State:      %s\n", cli_or_dash(cli_jstr(h, "state")));
	fprintf(ctx->out, "Address:    %s\n", cli_or_dash(cli_jstr(h, "address")));
	fprintf(ctx->out, "VMs:        %lld\n", (long long)cli_jint(h, "vms", 0));
	const char *beat = cli_jstr(h, "heartbeat");
	autofree char *age = beat ? fmt_age_since(beat, ctx->now_ms) : NULL;
	fprintf(ctx->out, "Heartbeat:  %s%s%s%s\n", cli_or_dash(beat), age ? " (" : "", age ? age : "", age ? " ago)" : "");
	print_host(ctx, h);
}

static void print_hosts(struct cli_ctx *ctx, const json_t *j)
{
	const json_t *hosts = json_object_get(j, "hosts");
	static const char *const headers[] = {"NAME", "STATE", "VCPUS", "MEMORY", "VMS", "HEARTBEAT"};
	struct table *t = table_new(6, headers);
	size_t i;
	const json_t *h;
	json_array_foreach(hosts, i, h) {
		autofree char *vcpus = xasprintf("%lld/%lld", (long long)cli_jint(h, "vcpus_used", 0),
						 (long long)cli_jint(h, "vcpus_allocatable", 0));
		autofree char *mu = fmt_mib(cli_jint(h, "memory_mib_used", 0));
		autofree char *ma = fmt_mib(cli_jint(h, "memory_mib_allocatable", 0));
		autofree char *mem = xasprintf("%s/%s", mu, ma);
		autofree char *vms = xasprintf("%lld", (long long)cli_jint(h, "vms", 0));
		const char *beat = cli_jstr(h, "heartbeat");
		autofree char *age = beat ? fmt_age_since(beat, ctx->now_ms) : xstrdup("-");
		autofree char *ago = beat ? xasprintf("%s ago", age) : xstrdup("-");
		const char *row[] = {cli_jstr(h, "name"), cli_jstr(h, "state"), vcpus, mem, vms, ago};
		table_add_row(t, row);
	}
	autofree char *text = table_render(t);
	fputs(text, ctx->out);
	table_free(t);
}

static int host_list(struct cli_ctx *ctx, const struct args *a)
{
	return cli_show(ctx, a, "/v1/hosts", print_hosts);
}

static int host_show(struct cli_ctx *ctx, const struct args *a)
{
	if (a->npos == 0)
		return cli_show(ctx, a, "/v1/host", print_host);
	autofree char *path = client_path("/v1/hosts/%s", a->pos[0]);
	return cli_show(ctx, a, path, print_cloud_host);
}

static int host_set_drain(struct cli_ctx *ctx, const struct args *a, bool drain)
{
	autofree char *path = client_path(drain ? "/v1/hosts/%s/drain" : "/v1/hosts/%s/undrain", a->pos[0]);
	bool move = drain && args_has(a, "move");
	json_t *body = move ? json_pack("{s:b}", "move", 1) : NULL;
	json_t *h = cli_send(ctx, "POST", path, body);   /* takes body */
	if (!h)
		return CLI_EXIT_FAILED;
	size_t i;
	json_t *m;
	if (args_has(a, "json")) {
		cli_print_json(ctx, h);
	} else if (move) {
		fprintf(ctx->out, "Host %s is draining: it takes no new VMs\n", a->pos[0]);
		json_array_foreach(json_object_get(h, "moves"), i, m)
			fprintf(ctx->out, "Moving %s to %s (operation %s)\n", cli_jstr(m, "vm"), cli_jstr(m, "to"),
				cli_jstr(m, "operation"));
		json_array_foreach(json_object_get(h, "not_moved"), i, m)
			fprintf(ctx->out, "Not moving %s: %s\n", cli_jstr(m, "vm"), cli_jstr(m, "why"));
	} else if (drain)
		fprintf(ctx->out, "Host %s is draining: it takes no new VMs; its %lld VM(s) keep running there\n",
			a->pos[0], (long long)cli_jint(h, "vms", 0));
	else
		fprintf(ctx->out, "Host %s takes new VMs again\n", a->pos[0]);
	json_decref(h);
	return CLI_EXIT_OK;
}

static const struct arg_flag drain_flags[] = {
	{"move", 0, ARG_BOOL, NULL, "also move its stopped VMs to other hosts"},
	{"json", 0, ARG_BOOL, NULL, "print the API's JSON"},
	{NULL, 0, 0, NULL, NULL},
};

static int host_drain(struct cli_ctx *ctx, const struct args *a)
{
	return host_set_drain(ctx, a, true);
}

static int host_undrain(struct cli_ctx *ctx, const struct args *a)
{
	return host_set_drain(ctx, a, false);
}

static int host_remove(struct cli_ctx *ctx, const struct args *a)
{
	autofree char *path = client_path("/v1/hosts/%s", a->pos[0]);
	json_t *r = cli_send(ctx, "DELETE", path, NULL);
	if (!r)
		return CLI_EXIT_FAILED;
	fprintf(ctx->out, "Removed host %s\n", a->pos[0]);
	json_decref(r);
	return CLI_EXIT_OK;
}

static const struct cli_verb host_verbs[] = {
	{"list", "[--json]", "List the hosts of the cloud: state, vCPUs and memory used/allocatable, VMs, heartbeat",
	 NULL, cli_json_flags, 0, 0, false, host_list},
	{"show", "[NAME] [--json]", "Show a host's capacity: vCPUs and memory, used and free",
	 "Without NAME: the host whose API answers.\n", cli_json_flags, 0, 1, false, host_show},
	{"drain", "NAME [--move] [--json]", "Stop placing new VMs on a host; its VMs keep running there",
	 "With --move, each of its stopped VMs is moved to where placement puts it\n"
	 "(as nubo vm move); those that cannot move are named with the reason (a\n"
	 "running VM: stop it first). Follow the moves with nubo operation wait.\n",
	 drain_flags, 1, 1, false, host_drain},
	{"undrain", "NAME [--json]", "Let a drained host take new VMs again", NULL, cli_json_flags, 1, 1, false,
	 host_undrain},
	{"remove", "NAME", "Forget a host whose nubod is stopped for good",
	 "Refused while the host holds VMs, or while its nubod still beats.\n", NULL, 1, 1, false, host_remove},
	{NULL, NULL, NULL, NULL, NULL, 0, 0, false, NULL},
};

const struct cli_noun host_noun = {"host", "The servers of the cloud, each running nubod.", host_verbs, false};
