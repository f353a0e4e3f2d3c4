/*
 * openapi: `nubo openapi`, the OpenAPI 3.1 document of the API of the nubod
 * it talks to (GET /v1/openapi.json), printed as nubod serves it, for API
 * clients, code generators and documentation tools. A direct noun.
 */
#include <stdio.h>

#include "cli/client.h"
#include "cli/commands.h"

static int openapi_print(struct cli_ctx *ctx, const struct args *a)
{
	(void)a;
	struct client_response r = {0};
	struct err e = {0};
	if (client_call(cli_client(ctx), "GET", "/v1/openapi.json", NULL, &r, &e) < 0)
		return cli_fail(ctx, CLI_EXIT_FAILED, &e);
	int rc = CLI_EXIT_OK;
	if (r.status >= 400) {
		client_error_from_response(&r, &e);
		rc = cli_fail(ctx, CLI_EXIT_FAILED, &e);
	} else {
		fwrite(r.body, 1, r.len, ctx->out);
	}
	client_response_free(&r);
	return rc;
}

static const struct cli_verb openapi_verbs[] = {
	{"", "", "Print the OpenAPI 3.1 document of nubod's REST API (GET /v1/openapi.json)",
	 "The document describes every path and method nubod routes, their parameters, request bodies, answers and "
	 "status codes (docs/api.md). It is printed as nubod serves it: nubo openapi > nubo-openapi.json.",
	 NULL, 0, 0, false, openapi_print},
	{NULL, NULL, NULL, NULL, NULL, 0, 0, false, NULL},
};

const struct cli_noun openapi_noun = {"openapi", "The OpenAPI document of nubod's API.", openapi_verbs, true};
