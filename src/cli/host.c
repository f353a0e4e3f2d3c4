/*
 * host: `nubo host show`, the host's capacity (GET /v1/host): what it has,
 * what overcommit allows, what VMs use, and how it runs them (kvm or tcg).
 */
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/format.h"
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

static int host_show(struct cli_ctx *ctx, const struct args *a)
{
	return cli_show(ctx, a, "/v1/host", print_host);
}

static const struct cli_verb host_verbs[] = {
	{"show", "[--json]", "Show the host's capacity: vCPUs and memory, used and free", NULL, cli_json_flags, 0, 0,
	 false, host_show},
	{NULL, NULL, NULL, NULL, NULL, 0, 0, false, NULL},
};

const struct cli_noun host_noun = {"host", "The machine nubod runs VMs on.", host_verbs, false};
