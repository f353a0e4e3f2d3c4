/*
 * profile: `nubo profile add|list|use|remove` and the config file they
 * keep (see profile.h). The file is rewritten whole, under a temporary
 * name and renamed into place (fs_write_atomic), mode 0600.
 */
#include "cli/profile.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/ssh.h"
#include "cli/table.h"
#include "util/fs.h"
#include "util/str.h"

void profile_clear(struct profile *p)
{
	free(p->name);
	free(p->socket);
	free(p->url);
	free(p->token_file);
	if (p->token)
		explicit_bzero(p->token, strlen(p->token));
	free(p->token);
	free(p->cacert);
	*p = (struct profile){0};
}

char *profile_config_path(void)
{
	autofree char *dir = ssh_config_dir();
	return xasprintf("%s/config.json", dir);
}

static char *tokens_dir(void)
{
	autofree char *dir = ssh_config_dir();
	return xasprintf("%s/tokens", dir);
}

/* The config file, or an empty one when it does not exist yet (caller decrefs). */
static json_t *config_read(const char *path, struct err *e)
{
	json_error_t je;
	if (!fs_exists(path))
		return json_pack("{s:o}", "profiles", json_object());
	json_t *root = json_load_file(path, 0, &je);
	if (!root) {
		err_set(e, ERR_INVALID, "%s:%d: %s; fix or remove the file", path, je.line, je.text);
		return NULL;
	}
	if (!json_is_object(root) || (json_object_get(root, "profiles") && !json_is_object(json_object_get(root, "profiles")))) {
		json_decref(root);
		err_set(e, ERR_INVALID, "%s: expected {\"profiles\": {NAME: {...}}, \"current\": NAME}", path);
		return NULL;
	}
	if (!json_object_get(root, "profiles"))
		json_object_set_new(root, "profiles", json_object());
	return root;
}

static int config_write(const char *path, const json_t *root, struct err *e)
{
	autofree char *dir = ssh_config_dir();
	if (fs_mkdir_p(dir, 0700, e) < 0)
		return -1;
	autofree char *text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
	struct sbuf b = {0};
	sbuf_addf(&b, "%s\n", text);
	autofree char *data = sbuf_take(&b);
	return fs_write_atomic(path, data, strlen(data), 0600, e);
}

/* Reads a token file, refusing one that others may read. */
static int token_read(const char *path, char **out, struct err *e)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return err_set(e, ERR_INVALID, "the token file %s cannot be read: %s", path, strerror(errno));
	if (st.st_mode & 077)
		return err_set(e, ERR_INVALID,
			       "the token file %s is mode %04o: other users may read it, so nubo will not send it; "
			       "chmod 600 %s (and make a new token if it may have been seen: nubo token create)",
			       path, (unsigned)(st.st_mode & 07777), path);
	char *text = NULL;
	size_t len = 0;
	if (fs_read_file(path, 4096, &text, &len, e) < 0)
		return -1;
	str_rstrip(text);
	if (!*text) {
		free(text);
		return err_set(e, ERR_INVALID, "the token file %s is empty", path);
	}
	*out = text;
	return 0;
}

static char *field(const json_t *p, const char *key)
{
	const char *s = json_string_value(json_object_get(p, key));
	return s && *s ? xstrdup(s) : NULL;
}

int profile_resolve(const char *name, struct profile *out, struct err *e)
{
	autofree char *path = profile_config_path();
	*out = (struct profile){0};
	if (!name && !fs_exists(path))
		return 0;
	json_t *root = config_read(path, e);
	if (!root)
		return -1;
	int rc = 0;
	if (!name)
		name = json_string_value(json_object_get(root, "current"));
	json_t *p = name ? json_object_get(json_object_get(root, "profiles"), name) : NULL;
	if (!name)
		goto out;
	if (!json_is_object(p)) {
		rc = err_set(e, ERR_INVALID, "no profile \"%s\" in %s; 'nubo profile list' shows them, "
					     "'nubo profile add %s --url URL' makes it", name, path, name);
		goto out;
	}
	out->name = xstrdup(name);
	out->socket = field(p, "socket");
	out->url = field(p, "url");
	out->token_file = field(p, "token_file");
	out->cacert = field(p, "cacert");
	if (out->token_file && token_read(out->token_file, &out->token, e) < 0) {
		err_prefix(e, "profile %s", name);
		profile_clear(out);
		rc = -1;
		goto out;
	}
	rc = 1;
out:
	json_decref(root);
	return rc;
}

static const struct arg_flag add_flags[] = {
	{"url", 0, ARG_VALUE, "URL", "nubod's HTTPS address, e.g. https://host:8443"},
	{"token", 0, ARG_VALUE, "T", "an API token; saved in ~/.config/nubo/tokens/NAME, mode 0600"},
	{"token-file", 0, ARG_VALUE, "FILE", "a file (mode 0600) that holds the token"},
	{"cacert", 0, ARG_VALUE, "FILE", "the PEM certificate to trust for the URL"},
	{"socket", 0, ARG_VALUE, "PATH", "nubod's unix socket, for a nubod on this machine"},
	{NULL, 0, 0, NULL, NULL},
};

static bool name_ok(const char *name)
{
	if (!*name || strlen(name) > 63 || name[0] == '.' || name[0] == '-')
		return false;
	for (const char *c = name; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || strchr("-_.", *c)))
			return false;
	return true;
}

static char *absolute(const char *path)
{
	char *r = realpath(path, NULL);
	return r ? r : xstrdup(path);
}

static int profile_add(struct cli_ctx *ctx, const struct args *a)
{
	const char *name = a->pos[0];
	const char *url = args_value(a, "url"), *socket = args_value(a, "socket");
	const char *token = args_value(a, "token"), *token_file = args_value(a, "token-file");
	const char *cacert = args_value(a, "cacert");
	struct err e = {0};
	if (!name_ok(name))
		return cli_failf(ctx, CLI_EXIT_USAGE, "profile name \"%s\": use letters, digits, '-', '_' and '.' "
						      "(at most 63, not starting with '-' or '.')", name);
	if (!url == !socket)
		return cli_failf(ctx, CLI_EXIT_USAGE, "profile %s: give --url URL (a remote nubod) or --socket PATH "
						      "(one on this machine), not %s", name, url ? "both" : "neither");
	if (url && !str_starts_with(url, "https://") && !str_starts_with(url, "http://"))
		return cli_failf(ctx, CLI_EXIT_USAGE, "--url %s: give a URL that starts with https://", url);
	if (token && token_file)
		return cli_failf(ctx, CLI_EXIT_USAGE, "--token and --token-file both give the token; give one");
	autofree char *tf = token_file ? absolute(token_file) : NULL;
	autofree char *ca = cacert ? absolute(cacert) : NULL;
	autofree char *check = NULL;
	if (tf && token_read(tf, &check, &e) < 0)   /* refused now rather than at every later command */
		return cli_fail(ctx, CLI_EXIT_USAGE, &e);
	if (check)
		explicit_bzero(check, strlen(check));
	if (ca && !fs_exists(ca))
		return cli_failf(ctx, CLI_EXIT_USAGE, "--cacert %s: no such file", ca);

	autofree char *path = profile_config_path();
	json_t *root = config_read(path, &e);
	if (!root)
		return cli_fail(ctx, CLI_EXIT_FAILED, &e);
	int rc = CLI_EXIT_OK;
	json_t *p = json_object();
	bool existed = json_object_get(json_object_get(root, "profiles"), name) != NULL;
	bool first = !json_string_value(json_object_get(root, "current"));
	if (token) {
		autofree char *dir = tokens_dir();
		tf = xasprintf("%s/%s", dir, name);
		autofree char *data = xasprintf("%s\n", token);
		if (fs_mkdir_p(dir, 0700, &e) < 0 || fs_write_atomic(tf, data, strlen(data), 0600, &e) < 0) {
			rc = cli_fail(ctx, CLI_EXIT_FAILED, &e);
			goto out;
		}
	}
	if (url)
		json_object_set_new(p, "url", json_string(url));
	if (socket)
		json_object_set_new(p, "socket", json_string(socket));
	if (tf)
		json_object_set_new(p, "token_file", json_string(tf));
	if (ca)
		json_object_set_new(p, "cacert", json_string(ca));
	json_object_set(json_object_get(root, "profiles"), name, p);
	if (first)
		json_object_set_new(root, "current", json_string(name));
	if (config_write(path, root, &e) < 0) {
		rc = cli_fail(ctx, CLI_EXIT_FAILED, &e);
		goto out;
	}
	fprintf(ctx->out, "%s profile %s (%s)%s\n", existed ? "Replaced" : "Added", name, url ? url : socket,
		first ? "; it is the current profile" : "; use it with --profile or 'nubo profile use'");
out:
	json_decref(p);
	json_decref(root);
	return rc;
}

static int profile_list(struct cli_ctx *ctx, const struct args *a)
{
	autofree char *path = profile_config_path();
	struct err e = {0};
	json_t *root = config_read(path, &e);
	if (!root)
		return cli_fail(ctx, CLI_EXIT_FAILED, &e);
	if (args_has(a, "json")) {
		cli_print_json(ctx, root);
		json_decref(root);
		return CLI_EXIT_OK;
	}
	const char *current = json_string_value(json_object_get(root, "current"));
	const char *env = getenv("NUBO_PROFILE");
	static const char *const headers[] = {"CURRENT", "NAME", "NUBOD", "TOKEN", "CACERT"};
	struct table *t = table_new(5, headers);
	const char *name;
	json_t *p;
	json_object_foreach(json_object_get(root, "profiles"), name, p) {
		const char *where = json_string_value(json_object_get(p, "url"));
		const char *cells[] = {current && strcmp(current, name) == 0 ? "*" : "", name,
				       where ? where : json_string_value(json_object_get(p, "socket")),
				       json_string_value(json_object_get(p, "token_file")),
				       json_string_value(json_object_get(p, "cacert"))};
		table_add_row(t, cells);
	}
	autofree char *text = table_render(t);
	fputs(text, ctx->out);
	table_free(t);
	if (env && *env)
		fprintf(ctx->out, "NUBO_PROFILE=%s overrides the current profile here.\n", env);
	json_decref(root);
	return CLI_EXIT_OK;
}

static int profile_use(struct cli_ctx *ctx, const struct args *a)
{
	autofree char *path = profile_config_path();
	struct err e = {0};
	json_t *root = config_read(path, &e);
	if (!root)
		return cli_fail(ctx, CLI_EXIT_FAILED, &e);
	int rc = CLI_EXIT_OK;
	if (!json_object_get(json_object_get(root, "profiles"), a->pos[0]))
		rc = cli_failf(ctx, CLI_EXIT_FAILED, "no profile \"%s\" in %s; 'nubo profile list' shows them", a->pos[0],
			       path);
	else if (json_object_set_new(root, "current", json_string(a->pos[0])), config_write(path, root, &e) < 0)
		rc = cli_fail(ctx, CLI_EXIT_FAILED, &e);
	else
		fprintf(ctx->out, "Using profile %s\n", a->pos[0]);
	json_decref(root);
	return rc;
}

static int profile_remove(struct cli_ctx *ctx, const struct args *a)
{
	const char *name = a->pos[0];
	autofree char *path = profile_config_path();
	struct err e = {0};
	json_t *root = config_read(path, &e);
	if (!root)
		return cli_fail(ctx, CLI_EXIT_FAILED, &e);
	json_t *profiles = json_object_get(root, "profiles");
	json_t *p = json_object_get(profiles, name);
	/* The token file goes too when nubo made it (tokens/NAME), never a user's own file. */
	autofree char *dir = tokens_dir();
	autofree char *own = xasprintf("%s/%s", dir, name);
	const char *tf = json_string_value(json_object_get(p, "token_file"));
	bool remove_token = tf && strcmp(tf, own) == 0;
	const char *current = json_string_value(json_object_get(root, "current"));
	int rc = CLI_EXIT_OK;
	if (!p) {
		rc = cli_failf(ctx, CLI_EXIT_FAILED, "no profile \"%s\" in %s; 'nubo profile list' shows them", name, path);
	} else {
		if (current && strcmp(current, name) == 0)
			json_object_del(root, "current");
		json_object_del(profiles, name);   /* after the last use of current or p, which it may free */
		if (config_write(path, root, &e) < 0) {
			rc = cli_fail(ctx, CLI_EXIT_FAILED, &e);
		} else {
			if (remove_token)
				unlink(own);
			fprintf(ctx->out, "Removed profile %s\n", name);
		}
	}
	json_decref(root);
	return rc;
}

static const struct cli_verb profile_verbs[] = {
	{"add", "NAME --url URL [--token T | --token-file FILE] [--cacert FILE] | NAME --socket PATH",
	 "Save a remote nubod as a profile (the first one becomes current)",
	 "A token given with --token is saved in ~/.config/nubo/tokens/NAME (mode 0600),\n"
	 "never in config.json. A --token-file must be mode 0600: nubo refuses to send a\n"
	 "token that other users may read.\n\n"
	 "Example:\n  nubo profile add prod --url https://prod.example:8443 --token-file ~/prod.token \\\n"
	 "    --cacert ~/prod.pem\n  nubo --profile prod vm list\n",
	 add_flags, 1, 1, false, profile_add},
	{"list", "[--json]", "List the saved profiles; * marks the current one", NULL, cli_json_flags, 0, 0, false,
	 profile_list},
	{"use", "NAME", "Make NAME the profile commands use without --profile or NUBO_PROFILE", NULL, NULL, 1, 1,
	 false, profile_use},
	{"remove", "NAME", "Forget a profile (and the token file 'profile add --token' made for it)", NULL, NULL, 1, 1,
	 false, profile_remove},
	{NULL, NULL, NULL, NULL, NULL, 0, 0, false, NULL},
};

const struct cli_noun profile_noun = {"profile", "Saved remotes: where nubod is and how to authenticate "
						 "(~/.config/nubo/config.json).", profile_verbs, false};
