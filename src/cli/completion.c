/*
 * completion: `nubo completion bash|zsh` prints a completion script made
 * from the command tables (commands_nouns()), so every noun, verb and flag
 * a row declares is completed, with nothing to keep in step by hand.
 *
 * What a positional or a flag's value names is read from the row itself:
 * a usage word "VM", "FIREWALL[,FIREWALL...]" or "NAME" (the noun's own
 * resource, except for verbs that make one), "add|list|delete" (those
 * words), a flag named after a resource ("--image", "--from-snapshot") or
 * holding a file ("--ssh-key FILE"). Names themselves come live from
 * nubod through `nubo completion names KIND`, which prints nothing when
 * nubod does not answer (a completion never shows an error).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "config.h"
#include "util/str.h"

/* Resources whose names can be completed, and where nubod lists them. */
static const struct {
	const char *kind, *path, *key;
} listable[] = {
	{"vm", "/v1/vms", "vms"},
	{"image", "/v1/images", "images"},
	{"volume", "/v1/volumes", "volumes"},
	{"snapshot", "/v1/snapshots", "snapshots"},
	{"network", "/v1/networks", "networks"},
	{"firewall", "/v1/firewalls", "firewalls"},
	{"type", "/v1/types", "types"},
	{"token", "/v1/tokens", "tokens"},
	{"profile", NULL, NULL},   /* from the config file, not from nubod */
};

static bool kind_known(const char *kind)
{
	for (size_t i = 0; i < sizeof(listable) / sizeof(listable[0]); i++)
		if (strcmp(listable[i].kind, kind) == 0)
			return true;
	return false;
}

/* Verbs whose NAME is a new resource's, so no existing name fits. */
static bool verb_makes(const char *verb)
{
	static const char *const makers[] = {"create", "add", "build", "import", NULL};
	for (int i = 0; makers[i]; i++)
		if (strcmp(makers[i], verb) == 0)
			return true;
	return false;
}

/* What the k-th positional of n v names: a kind, "=w1 w2" (those words), or NULL. Caller frees. */
static char *positional_kind(const struct cli_noun *n, const struct cli_verb *v, int k)
{
	autofree char *usage = xstrdup(v->usage);
	char *save = NULL;
	int i = 0;
	for (char *w = strtok_r(usage, " ", &save); w; w = strtok_r(NULL, " ", &save), i++) {
		if (w[0] == '[' || w[0] == '-' || w[0] == '|')
			break;
		if (i < k)
			continue;
		if (strchr(w, '|') && islower((unsigned char)w[0])) {
			struct sbuf b = {0};
			sbuf_add(&b, "=");
			for (char *c = w; *c; c++)
				sbuf_addf(&b, "%c", *c == '|' ? ' ' : *c);
			return sbuf_take(&b);
		}
		size_t len = 0;
		while (isupper((unsigned char)w[len]) || w[len] == '_')
			len++;
		autofree char *word = xstrndup(w, len);
		for (char *c = word; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		if (strcmp(word, "name") == 0)
			return verb_makes(v->name) || !kind_known(n->name) ? NULL : xstrdup(n->name);
		return kind_known(word) ? xstrdup(word) : NULL;
	}
	return NULL;
}

/* What a value flag's value names: a kind, "file", or "-" (free text). */
static const char *flag_kind(const struct arg_flag *f)
{
	const char *dash = strrchr(f->name, '-');
	const char *last = dash ? dash + 1 : f->name;
	if (kind_known(f->name))
		return f->name;
	if (kind_known(last) && strcmp(last, "key") != 0)
		return last;
	if ((f->metavar && (strstr(f->metavar, "FILE") || strstr(f->metavar, "KEY") || strstr(f->metavar, "PATH"))) ||
	    strcmp(f->name, "cacert") == 0)
		return "file";
	return "-";
}

static void add_flags(struct sbuf *b, const struct arg_flag *flags)
{
	for (const struct arg_flag *f = flags; f && f->name; f++)
		sbuf_addf(b, " --%s", f->name);
}

static void add_value_flags(struct sbuf *b, const char *pattern, const struct arg_flag *flags)
{
	for (const struct arg_flag *f = flags; f && f->name; f++)
		if (f->type == ARG_VALUE)
			sbuf_addf(b, "\t%s--%s) echo %s ;;\n", pattern, f->name, flag_kind(f));
}

static char *bash_script(void)
{
	const struct cli_noun *const *nouns = commands_nouns();
	struct sbuf b = {0};
	sbuf_addf(&b, "# bash completion for nubo %s, made by `nubo completion bash` from nubo's command tables.\n"
		      "# Load it with: source <(nubo completion bash)\n\n",
		  NUBO_VERSION);

	sbuf_add(&b, "_nubo_nouns() { echo 'help");
	for (size_t i = 0; nouns[i]; i++)
		sbuf_addf(&b, " %s", nouns[i]->name);
	for (const struct cli_alias *al = commands_aliases; al->word; al++)
		sbuf_addf(&b, " %s", al->word);
	sbuf_add(&b, "'; }\n\n");

	sbuf_add(&b, "# The noun and verb a short form stands for (`nubo plan` is `nubo stack plan`).\n"
		     "_nubo_alias() {\n\tcase $1 in\n");
	for (const struct cli_alias *al = commands_aliases; al->word; al++)
		sbuf_addf(&b, "\t%s) echo '%s %s' ;;\n", al->word, al->noun->name, al->verb);
	sbuf_add(&b, "\tesac\n}\n\n");

	sbuf_add(&b, "# A noun's verbs; nothing for a noun that is a command on its own.\n_nubo_verbs() {\n\tcase $1 in\n");
	for (size_t i = 0; nouns[i]; i++) {
		if (commands_noun_alone(nouns[i]))
			continue;
		sbuf_addf(&b, "\t%s) echo '", nouns[i]->name);
		for (const struct cli_verb *v = nouns[i]->verbs; v->name; v++)
			sbuf_addf(&b, "%s%s", v == nouns[i]->verbs ? "" : " ", v->name);
		sbuf_add(&b, "' ;;\n");
	}
	sbuf_add(&b, "\tesac\n}\n\n");

	sbuf_add(&b, "_nubo_alone() {\n\tcase $1 in\n");
	for (size_t i = 0; nouns[i]; i++)
		if (commands_noun_alone(nouns[i]))
			sbuf_addf(&b, "\t%s) return 0 ;;\n", nouns[i]->name);
	sbuf_add(&b, "\tesac\n\treturn 1\n}\n\n");

	struct sbuf g = {0};
	add_flags(&g, commands_global_flags);
	autofree char *global = sbuf_take(&g);
	sbuf_add(&b, "# Flags of NOUN VERB (\"\" \"\": before the noun).\n_nubo_flags() {\n\tcase \"$1 $2\" in\n");
	struct sbuf top = {0};
	add_flags(&top, commands_top_flags);
	autofree char *top_s = sbuf_take(&top);
	sbuf_addf(&b, "\t' ') echo '--help%s%s' ;;\n", global, top_s);
	for (size_t i = 0; nouns[i]; i++)
		for (const struct cli_verb *v = nouns[i]->verbs; v->name; v++) {
			struct sbuf f = {0};
			add_flags(&f, v->flags);
			autofree char *fs = sbuf_take(&f);
			sbuf_addf(&b, "\t'%s %s') echo '--help%s%s' ;;\n", nouns[i]->name, v->name, fs ? fs : "", global);
		}
	sbuf_add(&b, "\tesac\n}\n\n");

	sbuf_add(&b, "# What the value of NOUN VERB's --FLAG is: a kind of name, file, or - (nothing to offer);\n"
		     "# nothing at all for a flag that takes no value.\n_nubo_flag_kind() {\n\tcase \"$1 $2 $3\" in\n");
	for (size_t i = 0; nouns[i]; i++)
		for (const struct cli_verb *v = nouns[i]->verbs; v->name; v++) {
			autofree char *pat = xasprintf("'%s %s '", nouns[i]->name, v->name);
			add_value_flags(&b, pat, v->flags);
		}
	add_value_flags(&b, "*' '", commands_global_flags);
	sbuf_add(&b, "\tesac\n}\n\n");

	sbuf_add(&b, "# What NOUN VERB's positional number N (from 0) is: a kind of name, or =WORDS.\n"
		     "_nubo_positional() {\n\tcase \"$1 $2 $3\" in\n");
	for (size_t i = 0; nouns[i]; i++)
		for (const struct cli_verb *v = nouns[i]->verbs; v->name; v++)
			for (int k = 0; k < v->max_pos && k < 4; k++) {
				autofree char *kind = positional_kind(nouns[i], v, k);
				if (kind)
					sbuf_addf(&b, "\t'%s %s %d') echo '%s' ;;\n", nouns[i]->name, v->name, k, kind);
			}
	sbuf_add(&b, "\tesac\n}\n\n");

	sbuf_add(&b,
		 "# Offers what KIND names: live names from nubod, files, or the words of =WORDS.\n"
		 "_nubo_offer() {\n"
		 "\tlocal kind=$1 cur=$2\n"
		 "\tshift 2\n"
		 "\tcase $kind in\n"
		 "\t'' | -) COMPREPLY=() ;;\n"
		 "\tfile) COMPREPLY=($(compgen -f -- \"$cur\")) ;;\n"
		 "\t=*) COMPREPLY=($(compgen -W \"${kind#=}\" -- \"$cur\")) ;;\n"
		 "\t*) COMPREPLY=($(compgen -W \"$(\"${_nubo_cmd:-nubo}\" \"$@\" completion names \"$kind\" 2>/dev/null)\" -- \"$cur\")) ;;\n"
		 "\tesac\n"
		 "}\n\n"
		 "_nubo() {\n"
		 "\tlocal cur=${COMP_WORDS[COMP_CWORD]} i w noun='' verb='' npos=0 kind\n"
		 "\tlocal -a conn=()\n"
		 "\tlocal _nubo_cmd=${COMP_WORDS[0]}\n"
		 "\tCOMPREPLY=()\n"
		 "\tfor ((i = 1; i < COMP_CWORD; i++)); do\n"
		 "\t\tw=${COMP_WORDS[i]}\n"
		 "\t\tcase $w in\n"
		 "\t\t--*=*) continue ;;\n"
		 "\t\t--*)\n"
		 "\t\t\tkind=$(_nubo_flag_kind \"$noun\" \"$verb\" \"$w\")\n"
		 "\t\t\tif [ -n \"$kind\" ]; then\n"
		 "\t\t\t\tcase $w in --profile | --socket | --url | --token | --cacert) conn+=(\"$w\" \"${COMP_WORDS[i + 1]}\") ;; esac\n"
		 "\t\t\t\ti=$((i + 1))\n"
		 "\t\t\tfi\n"
		 "\t\t\tcontinue ;;\n"
		 "\t\t-*) continue ;;\n"
		 "\t\tesac\n"
		 "\t\tif [ -z \"$noun\" ]; then\n"
		 "\t\t\tnoun=$w\n"
		 "\t\t\t[ \"$noun\" = help ] && noun=''\n"
		 "\t\t\tkind=$(_nubo_alias \"$w\")\n"
		 "\t\t\tif [ -n \"$kind\" ]; then noun=${kind%% *} verb=${kind#* }; fi\n"
		 "\t\telif [ -z \"$verb\" ] && ! _nubo_alone \"$noun\"; then\n"
		 "\t\t\tverb=$w\n"
		 "\t\telse\n"
		 "\t\t\tnpos=$((npos + 1))\n"
		 "\t\tfi\n"
		 "\tdone\n"
		 "\tif [ \"$COMP_CWORD\" -gt 1 ]; then\n"
		 "\t\tkind=$(_nubo_flag_kind \"$noun\" \"$verb\" \"${COMP_WORDS[COMP_CWORD - 1]}\")\n"
		 "\t\tif [ -n \"$kind\" ]; then\n"
		 "\t\t\t_nubo_offer \"$kind\" \"$cur\" \"${conn[@]}\"\n"
		 "\t\t\treturn 0\n"
		 "\t\tfi\n"
		 "\tfi\n"
		 "\tif [[ $cur == -* ]]; then\n"
		 "\t\tCOMPREPLY=($(compgen -W \"$(_nubo_flags \"$noun\" \"$verb\")\" -- \"$cur\"))\n"
		 "\telif [ -z \"$noun\" ]; then\n"
		 "\t\tCOMPREPLY=($(compgen -W \"$(_nubo_nouns)\" -- \"$cur\"))\n"
		 "\telif [ -z \"$verb\" ] && ! _nubo_alone \"$noun\"; then\n"
		 "\t\tCOMPREPLY=($(compgen -W \"$(_nubo_verbs \"$noun\")\" -- \"$cur\"))\n"
		 "\telse\n"
		 "\t\t_nubo_offer \"$(_nubo_positional \"$noun\" \"$verb\" \"$npos\")\" \"$cur\" \"${conn[@]}\"\n"
		 "\tfi\n"
		 "\treturn 0\n"
		 "}\n");
	return sbuf_take(&b);
}

static int completion_bash(struct cli_ctx *ctx, const struct args *a)
{
	autofree char *s = bash_script();
	fputs(s, ctx->out);
	fputs("complete -o default -F _nubo nubo\n", ctx->out);
	return CLI_EXIT_OK;
}

/* zsh runs the same functions through its bash emulation (bashcompinit):
 * one generator, so the two shells never disagree. */
static int completion_zsh(struct cli_ctx *ctx, const struct args *a)
{
	autofree char *s = bash_script();
	fprintf(ctx->out, "#compdef nubo\n# zsh completion for nubo, made by `nubo completion zsh`.\n"
			  "# Install it as _nubo in a directory of $fpath, or: source <(nubo completion zsh)\n\n"
			  "autoload -U +X bashcompinit && bashcompinit\n\n%s\n"
			  "complete -o default -F _nubo nubo\n"
			  "# When autoloaded as _nubo, this file is also the first completion's function.\n"
			  "[ \"${funcstack[1]:-}\" = _nubo ] && _bash_complete -o default -F _nubo\n",
		s);
	return CLI_EXIT_OK;
}

static int print_names(struct cli_ctx *ctx, const char *path, const char *key)
{
	json_t *j = NULL;
	struct err e = {0};
	if (client_json(cli_client(ctx), "GET", path, NULL, &j, NULL, &e) < 0)
		return CLI_EXIT_OK;   /* nubod not answering: no candidates, and no noise on the command line */
	size_t i;
	json_t *item;
	json_array_foreach(json_object_get(j, key), i, item) {
		const char *name = cli_jstr(item, "name");
		if (name)
			fprintf(ctx->out, "%s\n", name);
	}
	json_decref(j);
	return CLI_EXIT_OK;
}

static int completion_names(struct cli_ctx *ctx, const struct args *a)
{
	const char *kind = a->pos[0];
	if (strcmp(kind, "profile") == 0) {
		autofree char *path = profile_config_path();
		json_t *root = json_load_file(path, 0, NULL);
		const char *name;
		json_t *p;
		json_object_foreach(json_object_get(root, "profiles"), name, p)
			fprintf(ctx->out, "%s\n", name);
		json_decref(root);
		return CLI_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(listable) / sizeof(listable[0]); i++)
		if (listable[i].path && strcmp(listable[i].kind, kind) == 0)
			return print_names(ctx, listable[i].path, listable[i].key);
	struct sbuf b = {0};
	for (size_t i = 0; i < sizeof(listable) / sizeof(listable[0]); i++)
		sbuf_addf(&b, "%s%s", i ? ", " : "", listable[i].kind);
	autofree char *kinds = sbuf_take(&b);
	return cli_failf(ctx, CLI_EXIT_USAGE, "no names of \"%s\" to complete; kinds: %s", kind, kinds);
}

static const struct cli_verb completion_verbs[] = {
	{"bash", "", "Print bash completion for nubo (source <(nubo completion bash))",
	 "The script completes nouns, verbs and flags from nubo's own command tables, and\n"
	 "names of VMs, images, volumes, snapshots, networks, firewalls, types and\n"
	 "tokens from nubod when it answers. The package installs it for every user.\n",
	 NULL, 0, 0, false, completion_bash},
	{"zsh", "", "Print zsh completion for nubo (the bash one, through zsh's bashcompinit)", NULL, NULL, 0, 0,
	 false, completion_zsh},
	{"names", "KIND", "Print the names of KIND (vm, image, ...), one a line; used by the completion scripts",
	 NULL, NULL, 1, 1, false, completion_names},
	{NULL, NULL, NULL, NULL, NULL, 0, 0, false, NULL},
};

const struct cli_noun completion_noun = {"completion", "Shell completion for nubo.", completion_verbs, false};
