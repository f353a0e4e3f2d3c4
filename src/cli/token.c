/*
 * token: `nubo token create|list|show|delete` (/v1/tokens), the API tokens
 * that let clients reach nubod over HTTPS (nubod --listen).
 *
 * The secret exists once, in the answer to create: nubod keeps only its
 * hash, so create prints it with a warning and list/show never can.
 */
#include <stdio.h>

#include "cli/commands.h"
#include "cli/format.h"
#include "cli/table.h"
#include "util/str.h"

/* "3m ago", or "never" for a token that was never used. */
static char *last_used(struct cli_ctx *ctx, const json_t *t)
{
	const char *ts = cli_jstr(t, "last_used_at");
	if (!ts)
		return xstrdup("never");
	autofree char *age = fmt_age_since(ts, ctx->now_ms);
	return xasprintf("%s ago", age);
}

static void print_tokens(struct cli_ctx *ctx, const json_t *j)
{
	const json_t *all = json_object_get(j, "tokens");
	if (json_array_size(all) == 0) {
		fputs("No tokens. Make one with: nubo token create NAME\n", ctx->out);
		return;
	}
	static const char *const headers[] = {"NAME", "ID", "AGE", "LAST USED"};
	struct table *t = table_new(4, headers);
	size_t i;
	const json_t *tok;
	json_array_foreach(all, i, tok) {
		autofree char *age = fmt_age_since(cli_jstr(tok, "created_at"), ctx->now_ms);
		autofree char *used = last_used(ctx, tok);
		const char *row[] = {cli_jstr(tok, "name"), cli_jstr(tok, "id"), age, used};
		table_add_row(t, row);
	}
	autofree char *text = table_render(t);
	fputs(text, ctx->out);
	table_free(t);
}

static void print_token(struct cli_ctx *ctx, const json_t *t)
{
	autofree char *age = fmt_age_since(cli_jstr(t, "created_at"), ctx->now_ms);
	autofree char *used = last_used(ctx, t);
	fprintf(ctx->out, "Name:       %s\n", cli_or_dash(cli_jstr(t, "name")));
	fprintf(ctx->out, "ID:         %s\n", cli_or_dash(cli_jstr(t, "id")));
	fprintf(ctx->out, "Created:    %s (%s ago)\n", cli_or_dash(cli_jstr(t, "created_at")), age);
	fprintf(ctx->out, "Last used:  %s\n", used);
}

static int token_create(struct cli_ctx *ctx, const struct args *a)
{
	json_t *body = json_pack("{s:s}", "name", a->pos[0]);
	json_t *resp = NULL;
	struct err e = {0};
	int rc = client_json(cli_client(ctx), "POST", "/v1/tokens", body, &resp, NULL, &e);
	json_decref(body);
	if (rc < 0)
		return cli_fail(ctx, CLI_EXIT_FAILED, &e);
	const char *secret = cli_jstr(resp, "secret");
	if (args_has(a, "json")) {
		cli_print_json(ctx, resp);
	} else if (secret) {
		const char *name = cli_or_dash(cli_jstr(json_object_get(resp, "token"), "name"));
		fprintf(ctx->out,
			"Created token %s. Its secret, shown this once only (nubod keeps just a hash):\n\n"
			"  %s\n\n"
			"Use it from another machine with --url https://HOST:PORT --token SECRET\n"
			"(or NUBO_URL and NUBO_TOKEN; add --cacert FILE for a self-signed certificate).\n"
			"Revoke it with: nubo token delete %s\n",
			name, secret, name);
	}
	json_decref(resp);
	if (!secret)
		return cli_failf(ctx, CLI_EXIT_FAILED, "nubod's answer has no \"secret\"; the token is unusable: delete it");
	return CLI_EXIT_OK;
}

static int token_list(struct cli_ctx *ctx, const struct args *a)
{
	return cli_show(ctx, a, "/v1/tokens", print_tokens);
}

static int token_show(struct cli_ctx *ctx, const struct args *a)
{
	autofree char *path = client_path("/v1/tokens/%s", a->pos[0]);
	return cli_show(ctx, a, path, print_token);
}

static int token_delete(struct cli_ctx *ctx, const struct args *a)
{
	autofree char *path = client_path("/v1/tokens/%s", a->pos[0]);
	json_t *resp = NULL;
	struct err e = {0};
	if (client_json(cli_client(ctx), "DELETE", path, NULL, &resp, NULL, &e) < 0)
		return cli_fail(ctx, CLI_EXIT_FAILED, &e);
	fprintf(ctx->out, "Revoked token %s: nubod refuses it from now on\n",
		cli_or_dash(cli_jstr(json_object_get(resp, "token"), "name")));
	json_decref(resp);
	return CLI_EXIT_OK;
}

static const char create_details[] =
	"The secret (nubo_ and 64 hex digits) is printed once: nubod stores only its\n"
	"SHA-256 and cannot show it again. A client sends it as\n"
	"\"Authorization: Bearer SECRET\" to nubod's HTTPS port (nubod --listen).\n"
	"Over the unix socket no token is needed: the socket's permissions decide.\n";

static const struct cli_verb token_verbs[] = {
	{"create", "NAME [--json]", "Make an API token and print its secret once", create_details, cli_json_flags, 1,
	 1, false, token_create},
	{"list", "[--json]", "List API tokens with their age and last use (never their secrets)", NULL,
	 cli_json_flags, 0, 0, false, token_list},
	{"show", "NAME [--json]", "Show one API token", NULL, cli_json_flags, 1, 1, false, token_show},
	{"delete", "NAME", "Revoke an API token: requests carrying it are refused at once", NULL, NULL, 1, 1, false,
	 token_delete},
	{NULL, NULL, NULL, NULL, NULL, 0, 0, false, NULL},
};

const struct cli_noun token_noun = {"token", "API tokens for reaching nubod over HTTPS.", token_verbs, false};
