/*
 * args: table-driven flag parsing (see args.h).
 *
 * getopt_long() would do most of this, but it keeps global state, permutes
 * argv and prints its own messages; nubo wants messages that name the verb's
 * usage, several tables at once (a verb's flags and the global ones) and a
 * pure function the unit tests can call in any order.
 */
#include "cli/args.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/str.h"

static const struct arg_flag *find_long(const struct arg_flag *const tables[], const char *name, size_t len)
{
	for (size_t t = 0; tables[t]; t++)
		for (const struct arg_flag *f = tables[t]; f->name; f++)
			if (strlen(f->name) == len && strncmp(f->name, name, len) == 0)
				return f;
	return NULL;
}

static const struct arg_flag *find_short(const struct arg_flag *const tables[], char c)
{
	for (size_t t = 0; tables[t]; t++)
		for (const struct arg_flag *f = tables[t]; f->name; f++)
			if (f->short_name && f->short_name == c)
				return f;
	return NULL;
}

static void add_flag(struct args *a, const struct arg_flag *f, const char *value)
{
	a->flags = xrealloc(a->flags, (a->nflags + 1) * sizeof(*a->flags));
	a->values = xrealloc(a->values, (a->nflags + 1) * sizeof(*a->values));
	a->flags[a->nflags] = f;
	a->values[a->nflags] = value;
	a->nflags++;
}

static void add_pos(struct args *a, char *word)
{
	a->pos = xrealloc(a->pos, (a->npos + 1) * sizeof(*a->pos));
	a->pos[a->npos++] = word;
}

/* Handles one flag word at argv[*i]; may consume the next word as its value. */
static int parse_flag(int argc, char **argv, int *i, const struct arg_flag *const tables[],
		      struct args *a, struct err *e)
{
	const char *word = argv[*i];
	const struct arg_flag *f;
	const char *inline_value = NULL;
	char shown[64];

	if (word[1] == '-') {
		const char *name = word + 2;
		const char *eq = strchr(name, '=');
		size_t len = eq ? (size_t)(eq - name) : strlen(name);
		if (len == 4 && strncmp(name, "help", 4) == 0 && !eq) {
			a->help = true;
			return 0;
		}
		f = find_long(tables, name, len);
		if (!f)
			return err_set(e, ERR_INVALID, "unknown flag --%.*s", (int)len, name);
		if (eq)
			inline_value = eq + 1;
		snprintf(shown, sizeof(shown), "--%s", f->name);
	} else {
		if (word[1] == 'h' && word[2] == '\0') {
			a->help = true;
			return 0;
		}
		f = find_short(tables, word[1]);
		if (!f)
			return err_set(e, ERR_INVALID, "unknown flag -%c", word[1]);
		if (word[2] != '\0') {
			if (f->type == ARG_BOOL)
				return err_set(e, ERR_INVALID, "unknown flag %s", word);
			inline_value = word + 2;
		}
		snprintf(shown, sizeof(shown), "-%c", f->short_name);
	}

	if (f->type == ARG_BOOL) {
		if (inline_value)
			return err_set(e, ERR_INVALID, "flag %s takes no value", shown);
		add_flag(a, f, "");
		return 0;
	}
	if (!inline_value) {
		if (*i + 1 >= argc)
			return err_set(e, ERR_INVALID, "flag %s needs a value %s", shown, f->metavar);
		inline_value = argv[++*i];
	}
	if (*inline_value == '\0')
		return err_set(e, ERR_INVALID, "flag %s needs a value %s, not an empty string", shown,
			       f->metavar);
	add_flag(a, f, inline_value);
	return 0;
}

int args_parse(int argc, char **argv, const struct arg_flag *const tables[], enum args_mode mode,
	       struct args *out, struct err *e)
{
	memset(out, 0, sizeof(*out));
	int i;
	for (i = 0; i < argc; i++) {
		char *word = argv[i];
		if (strcmp(word, "--") == 0) {
			if (mode == ARGS_STOP_AT_WORD) {
				i++;
				break;
			}
			for (int j = i + 1; j < argc; j++) {
				if (mode == ARGS_REST) {
					out->rest = xrealloc(out->rest, (out->nrest + 1) * sizeof(*out->rest));
					out->rest[out->nrest++] = argv[j];
				} else {
					add_pos(out, argv[j]);
				}
			}
			out->has_rest = mode == ARGS_REST;
			i = argc;
			break;
		}
		if (word[0] == '-' && word[1] != '\0') {
			int rc = parse_flag(argc, argv, &i, tables, out, e);
			if (rc < 0)
				return rc;
			continue;
		}
		if (mode == ARGS_STOP_AT_WORD)
			break;
		add_pos(out, word);
	}
	out->next = i;
	return 0;
}

void args_free(struct args *a)
{
	if (!a)
		return;
	free(a->flags);
	free(a->values);
	free(a->pos);
	free(a->rest);
	memset(a, 0, sizeof(*a));
}

const char *args_value(const struct args *a, const char *name)
{
	for (size_t i = a->nflags; i-- > 0;)
		if (strcmp(a->flags[i]->name, name) == 0)
			return a->values[i];
	return NULL;
}

size_t args_values(const struct args *a, const char *name, const char **out, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < a->nflags; i++)
		if (strcmp(a->flags[i]->name, name) == 0 && n < max)
			out[n++] = a->values[i];
	return n;
}

bool args_has(const struct args *a, const char *name)
{
	return args_value(a, name) != NULL;
}

static char *flag_syntax(const struct arg_flag *f)
{
	const char *val = f->type == ARG_VALUE ? f->metavar : NULL;
	if (f->short_name)
		return val ? xasprintf("-%c, --%s %s", f->short_name, f->name, val)
			   : xasprintf("-%c, --%s", f->short_name, f->name);
	return val ? xasprintf("    --%s %s", f->name, val) : xasprintf("    --%s", f->name);
}

char *args_describe(const struct arg_flag *const tables[])
{
	size_t width = strlen("-h, --help");
	for (size_t t = 0; tables[t]; t++)
		for (const struct arg_flag *f = tables[t]; f->name; f++) {
			autofree char *s = flag_syntax(f);
			if (strlen(s) > width)
				width = strlen(s);
		}
	struct sbuf b = {0};
	for (size_t t = 0; tables[t]; t++)
		for (const struct arg_flag *f = tables[t]; f->name; f++) {
			autofree char *s = flag_syntax(f);
			sbuf_addf(&b, "  %-*s   %s\n", (int)width, s, f->help);
		}
	sbuf_addf(&b, "  %-*s   %s\n", (int)width, "-h, --help", "show this help");
	return sbuf_take(&b);
}
