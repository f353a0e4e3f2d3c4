/*
 * cli: entry point and the context shared by every verb (see cli.h).
 *
 * The API client is made lazily: a verb validates everything local first
 * (flags, the SSH key file, user data), so a mistake there never reaches
 * nubod, then asks for the client.
 */
#include "cli/cli.h"
#include "cli/format.h"
#include "cli/wait.h"

#include <ctype.h>
#include <curl/curl.h>
#include <locale.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "util/str.h"
#include "util/timeutil.h"

struct client *cli_client(struct cli_ctx *ctx)
{
	if (!ctx->client)
		ctx->client = client_new(&ctx->conn);
	return ctx->client;
}

int cli_fail(struct cli_ctx *ctx, int code, const struct err *e)
{
	fprintf(ctx->err, "nubo: %s\n", e->msg[0] ? e->msg : "unknown error");
	/* nubod over TCP says only "401": the client knows whether it sent a token. */
	if (e->kind == ERR_UNAUTHORIZED && ctx->conn.url) {
		if (ctx->conn.token)
			fprintf(ctx->err, "nubo: nubod at %s refused the token: it is wrong or was revoked; check --token "
					  "or NUBO_TOKEN ('nubo token list' where nubod runs shows the valid ones)\n",
				ctx->conn.url);
		else
			fprintf(ctx->err, "nubo: nubod at %s needs an API token: give --token T or set NUBO_TOKEN (make "
					  "one where nubod runs with: nubo token create NAME)\n",
				ctx->conn.url);
	}
	return code;
}

int cli_failf(struct cli_ctx *ctx, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("nubo: ", ctx->err);
	vfprintf(ctx->err, fmt, ap);
	fputc('\n', ctx->err);
	va_end(ap);
	return code;
}

int cli_print_json(struct cli_ctx *ctx, const json_t *j)
{
	/* 15 significant digits print a price of 0.0125 as 0.0125, not 0.012500000000000001. */
	json_dumpf(j, ctx->out, JSON_INDENT(2) | JSON_REAL_PRECISION(15));
	fputc('\n', ctx->out);
	return 0;
}

json_t *cli_get(struct cli_ctx *ctx, const char *path)
{
	json_t *j = NULL;
	struct err e = {0};
	if (client_json(cli_client(ctx), "GET", path, NULL, &j, NULL, &e) < 0) {
		cli_fail(ctx, CLI_EXIT_FAILED, &e);
		return NULL;
	}
	return j;
}

const char *cli_or_dash(const char *s)
{
	return s ? s : "-";
}

const struct arg_flag cli_json_flags[] = {
	{"json", 0, ARG_BOOL, NULL, "print the API's JSON"},
	{NULL, 0, 0, NULL, NULL},
};

const struct arg_flag cli_wait_flags[] = {
	{"wait", 0, ARG_BOOL, NULL, "follow the action to its end, printing each phase"},
	{NULL, 0, 0, NULL, NULL},
};

json_t *cli_send(struct cli_ctx *ctx, const char *method, const char *path, json_t *body)
{
	json_t *resp = NULL;
	struct err e = {0};
	int rc = client_json(cli_client(ctx), method, path, body, &resp, NULL, &e);
	json_decref(body);
	if (rc < 0) {
		cli_fail(ctx, CLI_EXIT_FAILED, &e);
		return NULL;
	}
	return resp;
}

int cli_wait_gone(struct cli_ctx *ctx, const char *path)
{
	for (;;) {
		json_t *r = NULL;
		struct err e = {0};
		int code = client_json(cli_client(ctx), "GET", path, NULL, &r, NULL, &e);
		json_decref(r);
		if (code < 0 && e.kind == ERR_NOT_FOUND)
			return 0;
		if (code < 0)
			return cli_fail(ctx, CLI_EXIT_FAILED, &e);
		time_sleep_ms(250);
	}
}

int cli_act(struct cli_ctx *ctx, const struct args *a, const char *method, const char *path, json_t *body,
	    const char *noun, const char *name, const char *doing, const char *done)
{
	json_t *resp = NULL;
	struct err e = {0};
	long status = 0;
	int rc = client_json(cli_client(ctx), method, path, body, &resp, &status, &e);
	json_decref(body);
	if (rc < 0)
		return cli_fail(ctx, CLI_EXIT_FAILED, &e);
	if (!name)
		name = cli_jstr(json_object_get(resp, noun), "name");
	if (!name)
		name = "?";
	if (status == 200) {
		fprintf(ctx->out, "%c%s %s: nothing to do\n", toupper((unsigned char)noun[0]), noun + 1, name);
	} else {
		char *what = xasprintf("%s %s %s", doing, noun, name);
		bool finished = false;
		int64_t took = -1;
		rc = wait_or_report(ctx, json_object_get(resp, "operation"), args_has(a, "wait"), what, &finished, &took);
		if (finished) {
			char *d = fmt_duration_ms(took);
			fprintf(ctx->out, "%s %s %s in %s\n", done, noun, name, d);
			free(d);
		}
		free(what);
	}
	json_decref(resp);
	return rc;
}

int cli_show(struct cli_ctx *ctx, const struct args *a, const char *path,
	     void (*print)(struct cli_ctx *ctx, const json_t *answer))
{
	json_t *j = cli_get(ctx, path);
	if (!j)
		return CLI_EXIT_FAILED;
	if (args_has(a, "json"))
		cli_print_json(ctx, j);
	else
		print(ctx, j);
	json_decref(j);
	return CLI_EXIT_OK;
}

char *cli_path_with_flags(const char *base, const struct args *a, const char *const *names)
{
	struct sbuf b = {0};
	sbuf_add(&b, base);
	char sep = '?';
	for (; *names; names++) {
		const char *v = args_value(a, *names);
		if (!v)
			continue;
		autofree char *enc = client_escape(v);
		sbuf_addf(&b, "%c%s=%s", sep, *names, enc);
		sep = '&';
	}
	return sbuf_take(&b);
}

const char *cli_jstr(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

int64_t cli_jint(const json_t *o, const char *key, int64_t dflt)
{
	const json_t *v = json_object_get(o, key);
	if (json_is_integer(v))
		return json_integer_value(v);
	if (json_is_real(v))
		return (int64_t)json_real_value(v);
	return dflt;
}

double cli_jreal(const json_t *o, const char *key, double dflt)
{
	const json_t *v = json_object_get(o, key);
	return json_is_number(v) ? json_number_value(v) : dflt;
}

int cli_run(int argc, char **argv, FILE *out, FILE *err)
{
	struct cli_ctx ctx = {
		.out = out,
		.err = err,
		.tty = isatty(fileno(out)) == 1,
		.now_ms = time_now_ms(),
	};
	int rc = commands_run(&ctx, argc > 0 ? argc - 1 : 0, argc > 0 ? argv + 1 : argv);
	client_free(ctx.client);
	profile_clear(&ctx.profile);
	fflush(out);
	return rc;
}

int cli_main(int argc, char **argv)
{
	setlocale(LC_CTYPE, "");
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fputs("nubo: cannot initialise libcurl\n", stderr);
		return CLI_EXIT_FAILED;
	}
	int rc = cli_run(argc, argv, stdout, stderr);
	curl_global_cleanup();
	return rc;
}
