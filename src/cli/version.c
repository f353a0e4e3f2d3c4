/*
 * version: `nubo version`, the CLI's version and the one of the nubod it
 * talks to (GET /v1/version), with how that nubod runs VMs (kvm or tcg),
 * where it keeps its store and on which host. A direct noun: one word,
 * its one verb row unnamed (see commands.h).
 */
#include <stdlib.h>

#include "cli/commands.h"
#include "config.h"

static int version_show(struct cli_ctx *ctx, const struct args *a)
{
	json_t *v = NULL;
	struct err e = {0};
	int rc = client_json(cli_client(ctx), "GET", "/v1/version", NULL, &v, NULL, &e);
	if (args_has(a, "json")) {
		json_t *out = json_pack("{s:s, s:O?}", "nubo", NUBO_VERSION, "nubod", rc < 0 ? NULL : v);
		cli_print_json(ctx, out);
		json_decref(out);
	} else {
		fprintf(ctx->out, "nubo %s\n", NUBO_VERSION);
		if (rc == 0)
			fprintf(ctx->out, "nubod %s (accel %s, store %s, host %s)\n", cli_or_dash(cli_jstr(v, "version")),
				cli_or_dash(cli_jstr(v, "accel")), cli_or_dash(cli_jstr(v, "store")),
				cli_or_dash(cli_jstr(v, "host")));
	}
	json_decref(v);
	/* The CLI's own version is printed either way; nubod's absence is still a failure. */
	if (rc < 0)
		return cli_fail(ctx, CLI_EXIT_FAILED, &e);
	return CLI_EXIT_OK;
}

static const struct cli_verb version_verbs[] = {
	{"", "[--json]", "Show nubo's version and nubod's (its accel, store engine and host name)", NULL,
	 cli_json_flags, 0, 0, false, version_show},
	{NULL, NULL, NULL, NULL, NULL, 0, 0, false, NULL},
};

const struct cli_noun version_noun = {"version", "The versions of nubo and nubod.", version_verbs, true};
