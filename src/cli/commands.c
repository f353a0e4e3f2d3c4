/*
 * commands: the command table, help and dispatch (see commands.h).
 *
 * Parsing happens in two steps: the global flags before the noun (where
 * nubod is and how to authenticate), then the verb's own flags, which also
 * accept the global ones so that `nubo vm list --socket X` works too.
 */
#include "cli/commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "util/str.h"
#include "util/timeutil.h"

const struct arg_flag commands_global_flags[] = {
	{"profile", 0, ARG_VALUE, "NAME", "use the remote saved as NAME (env NUBO_PROFILE; see 'nubo profile --help')"},
	{"socket", 0, ARG_VALUE, "PATH", "nubod's unix socket (env NUBO_SOCKET; default " CLIENT_DEFAULT_SOCKET ")"},
	{"url", 0, ARG_VALUE, "URL", "reach nubod over HTTP(S) at URL instead, e.g. https://host:8443 (env NUBO_URL)"},
	{"token", 0, ARG_VALUE, "T", "send \"Authorization: Bearer T\" (env NUBO_TOKEN)"},
	{"cacert", 0, ARG_VALUE, "FILE", "trust this PEM certificate for --url https://… (env NUBO_CACERT)"},
	{"wait-timeout", 0, ARG_VALUE, "D",
	 "stop following an operation with --wait after D (e.g. 10m; env NUBO_WAIT_TIMEOUT); it goes on in nubod"},
	{NULL, 0, 0, NULL, NULL},
};

const struct arg_flag commands_top_flags[] = {
	{"version", 0, ARG_BOOL, NULL, "print nubo's version ('nubo version' shows nubod's too)"},
	{"man", 0, ARG_BOOL, NULL, "print the manual page nubo(1), made from these tables, as roff"},
	{NULL, 0, 0, NULL, NULL},
};

static const struct arg_flag no_flags[] = {{NULL, 0, 0, NULL, NULL}};

static const struct cli_noun *const nouns[] = {
	&vm_noun, &image_noun, &volume_noun, &snapshot_noun, &network_noun, &firewall_noun, &lb_noun, &group_noun, &type_noun, &host_noun,
	&usage_noun, &budget_noun, &operation_noun, &token_noun, &events_noun, &stack_noun, &profile_noun, &completion_noun, &version_noun, &openapi_noun, NULL,
};

const struct cli_alias commands_aliases[] = {
	{"plan", &stack_noun, "plan"},
	{"apply", &stack_noun, "apply"},
	{"destroy", &stack_noun, "destroy"},
	{NULL, NULL, NULL},
};

const struct cli_noun *const *commands_nouns(void)
{
	return nouns;
}

bool commands_noun_alone(const struct cli_noun *n)
{
	return n->direct;
}

static const struct cli_noun *find_noun(const char *name)
{
	for (size_t i = 0; nouns[i]; i++)
		if (strcmp(nouns[i]->name, name) == 0)
			return nouns[i];
	if (strcmp(name, "op") == 0)
		return &operation_noun;
	return NULL;
}

static const struct cli_verb *find_verb(const struct cli_noun *n, const char *name)
{
	for (const struct cli_verb *v = n->verbs; v->name; v++)
		if (strcmp(v->name, name) == 0)
			return v;
	return NULL;
}

/* "vm create", or "events" for a direct noun. Caller frees. */
static char *command_name(const struct cli_noun *n, const struct cli_verb *v)
{
	return n->direct ? xstrdup(n->name) : xasprintf("%s %s", n->name, v->name);
}

char *commands_help(void)
{
	struct sbuf b = {0};
	sbuf_add(&b, "nubo: virtual machines on your own servers, from nubod's API.\n\n"
		     "Usage: nubo [--socket PATH | --url URL [--token T] [--cacert FILE]] NOUN VERB [ARGS] [FLAGS]\n\n"
		     "Commands:\n");
	size_t width = 0;
	for (size_t i = 0; nouns[i]; i++)
		for (const struct cli_verb *v = nouns[i]->verbs; v->name; v++) {
			size_t w = strlen(nouns[i]->name) + (nouns[i]->direct ? 0 : 1 + strlen(v->name));
			if (w > width)
				width = w;
		}
	for (size_t i = 0; nouns[i]; i++) {
		for (const struct cli_verb *v = nouns[i]->verbs; v->name; v++) {
			autofree char *cmd = command_name(nouns[i], v);
			sbuf_addf(&b, "  %-*s   %s\n", (int)width, cmd, v->summary);
		}
	}
	const struct arg_flag *const tables[] = {commands_global_flags, commands_top_flags, NULL};
	autofree char *flags = args_describe(tables);
	sbuf_add(&b, "\nShort forms:\n");
	for (const struct cli_alias *al = commands_aliases; al->word; al++)
		sbuf_addf(&b, "  %-*s   nubo %s %s\n", (int)width, al->word, al->noun->name, al->verb);
	sbuf_addf(&b, "\nGlobal flags (before the noun):\n%s", flags);
	sbuf_add(&b, "\nRun 'nubo NOUN VERB --help' for a command's flags and examples.\n"
		     "Exit status: 0 done, 1 nubod or the operation failed, 2 wrong command line.\n");
	return sbuf_take(&b);
}

static char *noun_help(const struct cli_noun *n)
{
	struct sbuf b = {0};
	sbuf_addf(&b, "%s\n\nUsage: nubo %s VERB ...\n\nVerbs:\n", n->summary, n->name);
	size_t width = 0;
	for (const struct cli_verb *v = n->verbs; v->name; v++)
		if (strlen(v->name) > width)
			width = strlen(v->name);
	for (const struct cli_verb *v = n->verbs; v->name; v++)
		sbuf_addf(&b, "  %-*s   %s\n", (int)width, v->name, v->summary);
	sbuf_addf(&b, "\nRun 'nubo %s VERB --help' for a verb's flags.\n", n->name);
	return sbuf_take(&b);
}

static char *verb_help(const struct cli_noun *n, const struct cli_verb *v)
{
	struct sbuf b = {0};
	autofree char *cmd = command_name(n, v);
	sbuf_addf(&b, "Usage: nubo %s%s%s\n\n%s.\n", cmd, v->usage[0] ? " " : "", v->usage, v->summary);
	if (v->details)
		sbuf_addf(&b, "\n%s", v->details);
	const struct arg_flag *const tables[] = {v->flags ? v->flags : no_flags, NULL};
	autofree char *flags = args_describe(tables);
	sbuf_addf(&b, "\nFlags:\n%s", flags);
	sbuf_add(&b, "\nGlobal flags --profile, --socket, --url, --token and --cacert work here too (see 'nubo --help').\n");
	return sbuf_take(&b);
}

static int usage_error(struct cli_ctx *ctx, const struct cli_noun *n, const struct cli_verb *v,
		       const char *msg)
{
	fprintf(ctx->err, "nubo: %s\n", msg);
	if (n && v) {
		autofree char *cmd = command_name(n, v);
		fprintf(ctx->err, "Usage: nubo %s %s\nRun 'nubo %s --help' for details.\n", cmd, v->usage, cmd);
	}
	else if (n)
		fprintf(ctx->err, "Run 'nubo %s --help' for its verbs.\n", n->name);
	else
		fputs("Run 'nubo --help' for the list of commands.\n", ctx->err);
	return CLI_EXIT_USAGE;
}

static bool verb_has_flag(const struct cli_verb *v, const char *name)
{
	for (const struct arg_flag *f = v && v->flags ? v->flags : NULL; f && f->name; f++)
		if (strcmp(f->name, name) == 0)
			return true;
	return false;
}

/* A global flag's value: after the verb only when the verb has no flag of that
 * name (`image import --url` is the image's URL, not nubod's). */
static const char *global_flag(const struct cli_verb *v, const struct args *global, const struct args *verb,
				   const char *name)
{
	const char *value = verb && !verb_has_flag(v, name) ? args_value(verb, name) : NULL;
	return value ? value : (global ? args_value(global, name) : NULL);
}

static const char *env_value(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

/* Where nubod is and how to authenticate, from (first wins) the flags
 * --socket/--url/--token/--cacert; a profile named by --profile or
 * NUBO_PROFILE; NUBO_URL/NUBO_SOCKET/NUBO_TOKEN/NUBO_CACERT; the config
 * file's current profile, used only when neither flags nor the environment
 * say where nubod is (profile.h). */
static int apply_connection(struct cli_ctx *ctx, const struct cli_verb *v, const struct args *global,
			    const struct args *verb, struct err *e)
{
	const char *socket = global_flag(v, global, verb, "socket");
	const char *url = global_flag(v, global, verb, "url");
	const char *token = global_flag(v, global, verb, "token");
	const char *cacert = global_flag(v, global, verb, "cacert");
	const char *name = global_flag(v, global, verb, "profile");
	if (!name)
		name = env_value("NUBO_PROFILE");
	if (socket && url)
		return err_set(e, ERR_INVALID, "--socket and --url name two different nubods; give one");
	bool placed = socket || url || env_value("NUBO_URL") || env_value("NUBO_SOCKET");
	int have = 0;
	if (name || !placed) {
		have = profile_resolve(name, &ctx->profile, e);
		if (have < 0)
			return have;
	}
	if (have) {
		if (!socket && !url) {
			socket = ctx->profile.socket;
			url = ctx->profile.url;
		}
		if (!token)
			token = ctx->profile.token;
		if (!cacert)
			cacert = ctx->profile.cacert;
	}
	if (!socket && !url) {
		url = env_value("NUBO_URL");
		if (!url)
			socket = env_value("NUBO_SOCKET");
	}
	if (!token)
		token = env_value("NUBO_TOKEN");
	if (!cacert)
		cacert = env_value("NUBO_CACERT");
	if (url && !str_starts_with(url, "http://") && !str_starts_with(url, "https://"))
		return err_set(e, ERR_INVALID, "--url %s: give a URL that starts with https:// (or http://)", url);
	ctx->conn.socket_path = socket;
	ctx->conn.url = url;
	ctx->conn.token = token;
	ctx->conn.cacert = cacert;
	return 0;
}

/* --wait-timeout or NUBO_WAIT_TIMEOUT: up to a week, since nubod's own
 * operations (an image build, a large import) may take hours. */
static int apply_wait_timeout(struct cli_ctx *ctx, const struct cli_verb *v, const struct args *global,
			      const struct args *verb, struct err *e)
{
	const char *flag = global_flag(v, global, verb, "wait-timeout");
	const char *value = flag ? flag : env_value("NUBO_WAIT_TIMEOUT");
	if (!value)
		return 0;
	return time_duration_parse(value, flag ? "--wait-timeout" : "NUBO_WAIT_TIMEOUT", 1000, 7 * 24 * 3600000LL,
				   &ctx->wait_timeout_ms, e);
}

/* Runs v once its flags are parsed into a; returns the exit code. */
static int run_parsed(struct cli_ctx *ctx, const struct cli_noun *n, const struct cli_verb *v,
		      const struct args *global, const struct args *a)
{
	struct err e = {0};
	if (a->help) {
		autofree char *h = verb_help(n, v);
		fputs(h, ctx->out);
		return CLI_EXIT_OK;
	}
	if ((int)a->npos < v->min_pos) {
		/* Name the first missing word of the usage ("NAME", "RECIPE"). */
		char word[64] = "arguments";
		const char *u = v->usage;
		for (int i = 0; i < (int)a->npos && u; i++) {
			u = strchr(u, ' ');
			u = u ? u + 1 : NULL;
		}
		if (u)
			sscanf(u, "%63s", word);
		autofree char *msg = xasprintf("missing %s", word);
		return usage_error(ctx, n, v, msg);
	}
	if ((int)a->npos > v->max_pos) {
		autofree char *msg = xasprintf("unexpected argument '%s'%s", a->pos[v->max_pos],
					       v->rest ? "; put the remote command after --" : "");
		return usage_error(ctx, n, v, msg);
	}
	/* `nubo profile` edits the profiles: a broken one must not stop it from
	 * fixing it; the completion scripts are made at build time, anywhere. */
	bool local = n == &profile_noun || (n == &completion_noun && strcmp(v->name, "names") != 0);
	if (!local && apply_connection(ctx, v, global, a, &e) < 0)
		return usage_error(ctx, NULL, NULL, e.msg);
	if (apply_wait_timeout(ctx, v, global, a, &e) < 0)
		return usage_error(ctx, NULL, NULL, e.msg);
	return v->run(ctx, a);
}

static int run_verb(struct cli_ctx *ctx, const struct cli_noun *n, const struct cli_verb *v,
		    const struct args *global, int argc, char **argv)
{
	const struct arg_flag *const tables[] = {v->flags ? v->flags : no_flags, commands_global_flags, NULL};
	struct args a;
	struct err e = {0};
	int rc;
	if (args_parse(argc, argv, tables, v->rest ? ARGS_REST : ARGS_INTERLEAVED, &a, &e) < 0) {
		if (v->rest && str_starts_with(e.msg, "unknown flag"))
			snprintf(e.msg + strlen(e.msg), sizeof(e.msg) - strlen(e.msg),
				 "; put the remote command after --");
		rc = usage_error(ctx, n, v, e.msg);
	} else {
		rc = run_parsed(ctx, n, v, global, &a);
	}
	args_free(&a);
	return rc;
}

/* After the global flags: `help`, the noun, the verb. */
static int dispatch(struct cli_ctx *ctx, const struct args *g, int argc, char **argv)
{
	/* `nubo help [NOUN [VERB]]` is `nubo [NOUN [VERB]] --help`. */
	bool help = g->help;
	if (argc > 0 && strcmp(argv[0], "help") == 0) {
		help = true;
		argc--;
		argv++;
	}
	if (argc == 0) {
		autofree char *h = commands_help();
		fputs(h, help ? ctx->out : ctx->err);
		return help ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	}
	const struct cli_noun *n = find_noun(argv[0]);
	for (const struct cli_alias *al = commands_aliases; !n && al->word; al++)
		if (strcmp(argv[0], al->word) == 0) {
			const struct cli_verb *v = find_verb(al->noun, al->verb);
			if (help) {
				autofree char *h = verb_help(al->noun, v);
				fputs(h, ctx->out);
				return CLI_EXIT_OK;
			}
			return run_verb(ctx, al->noun, v, g, argc - 1, argv + 1);
		}
	if (!n) {
		autofree char *msg = xasprintf("unknown command '%s'", argv[0]);
		return usage_error(ctx, NULL, NULL, msg);
	}
	if (n->direct) {
		if (help) {
			autofree char *h = verb_help(n, n->verbs);
			fputs(h, ctx->out);
			return CLI_EXIT_OK;
		}
		return run_verb(ctx, n, n->verbs, g, argc - 1, argv + 1);
	}
	if (argc == 1 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		autofree char *h = noun_help(n);
		bool asked = help || argc > 1;
		fputs(h, asked ? ctx->out : ctx->err);
		return asked ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	}
	const struct cli_verb *v = find_verb(n, argv[1]);
	if (!v) {
		struct sbuf names = {0};
		for (const struct cli_verb *w = n->verbs; w->name; w++)
			sbuf_addf(&names, "%s%s", w == n->verbs ? "" : ", ", w->name);
		autofree char *list = sbuf_take(&names);
		autofree char *msg = xasprintf("'nubo %s' has no verb '%s'; its verbs are: %s", n->name, argv[1], list);
		return usage_error(ctx, NULL, NULL, msg);
	}
	if (help) {
		autofree char *h = verb_help(n, v);
		fputs(h, ctx->out);
		return CLI_EXIT_OK;
	}
	return run_verb(ctx, n, v, g, argc - 2, argv + 2);
}

int commands_run(struct cli_ctx *ctx, int argc, char **argv)
{
	const struct arg_flag *const tables[] = {commands_global_flags, commands_top_flags, NULL};
	struct args g;
	struct err e = {0};
	int rc;
	if (args_parse(argc, argv, tables, ARGS_STOP_AT_WORD, &g, &e) < 0) {
		rc = usage_error(ctx, NULL, NULL, e.msg);
	} else if (args_has(&g, "man")) {
		autofree char *m = commands_man();
		fputs(m, ctx->out);
		rc = CLI_EXIT_OK;
	} else if (args_has(&g, "version")) {
		fprintf(ctx->out, "nubo %s\n", NUBO_VERSION);
		rc = CLI_EXIT_OK;
	} else {
		rc = dispatch(ctx, &g, argc - g.next, argv + g.next);
	}
	args_free(&g);
	return rc;
}
