/* phases: named, timed steps of an operation (see phases.h). */
#include "model/phases.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

int phases_has(const struct phases *ph, const char *name)
{
	for (int i = 0; i < ph->n; i++)
		if (strcmp(ph->p[i].name, name) == 0)
			return 1;
	return 0;
}

void phases_mark(struct phases *ph, const char *name, int64_t start_ms, int64_t now_ms)
{
	if (phases_has(ph, name) || ph->n >= PHASES_MAX)
		return;
	struct phase *p = &ph->p[ph->n];
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->at_ms = now_ms - start_ms;
	if (p->at_ms < 0)
		p->at_ms = 0;
	int64_t prev = ph->n ? ph->p[ph->n - 1].at_ms : 0;
	p->duration_ms = p->at_ms - prev;
	if (p->duration_ms < 0)
		p->duration_ms = 0;
	ph->n++;
}

json_t *phases_to_json(const struct phases *ph)
{
	json_t *a = json_array();
	for (int i = 0; i < ph->n; i++)
		json_array_append_new(a, json_pack("{s:s, s:I, s:I}", "name", ph->p[i].name, "at_ms",
						   (json_int_t)ph->p[i].at_ms, "duration_ms",
						   (json_int_t)ph->p[i].duration_ms));
	return a;
}

/* Reads what follows *s if it is lit; advances past it. */
static bool lit(const char **s, const char *l)
{
	size_t n = strlen(l);
	if (strncmp(*s, l, n) != 0)
		return false;
	*s += n;
	return true;
}

/* A JSON integer as jansson reads one: -?(0|[1-9][0-9]*), at most 18 digits. */
static bool integer(const char **s, int64_t *v)
{
	const char *p = *s;
	bool neg = *p == '-';
	p += neg;
	int digits = 0;
	int64_t x = 0;
	while (*p >= '0' && *p <= '9' && digits < 19) {
		x = x * 10 + (*p++ - '0');
		digits++;
	}
	if (digits == 0 || digits > 18 || (digits > 1 && (*s)[neg] == '0'))
		return false;
	*v = neg ? -x : x;
	*s = p;
	return true;
}

/* The text exactly as phases_to_json and json_dumps(JSON_COMPACT) write it,
 * read without building JSON: the reconciler reads every VM's phases at
 * each pass, and with jansson that was two thirds of its work. Anything
 * else (escapes, spaces, another order): false, and jansson reads it. */
static bool read_compact(struct phases *ph, const char *s)
{
	if (!lit(&s, "["))
		return false;
	if (lit(&s, "]"))
		return *s == '\0';
	for (;;) {
		if (ph->n >= PHASES_MAX || !lit(&s, "{\"name\":\""))
			return false;
		struct phase *p = &ph->p[ph->n];
		size_t len = 0;
		while ((unsigned char)s[len] >= 0x20 && (unsigned char)s[len] < 0x80 && s[len] != '"' && s[len] != '\\')
			len++;
		if (s[len] != '"')
			return false;
		memcpy(p->name, s, len < sizeof(p->name) ? len : sizeof(p->name) - 1);   /* cut as snprintf would */
		s += len + 1;
		if (!lit(&s, ",\"at_ms\":") || !integer(&s, &p->at_ms) || !lit(&s, ",\"duration_ms\":") ||
		    !integer(&s, &p->duration_ms) || !lit(&s, "}"))
			return false;
		ph->n++;
		if (lit(&s, "]"))
			return *s == '\0';
		if (!lit(&s, ","))
			return false;
	}
}

void phases_from_json_text(struct phases *ph, const char *text)
{
	memset(ph, 0, sizeof(*ph));
	if (!text || !*text)
		return;
	if (read_compact(ph, text))
		return;
	memset(ph, 0, sizeof(*ph));
	json_t *a = json_loads(text, 0, NULL);
	if (!json_is_array(a)) {
		json_decref(a);
		return;
	}
	size_t i;
	json_t *v;
	json_array_foreach(a, i, v) {
		if (ph->n >= PHASES_MAX)
			break;
		const char *name = json_string_value(json_object_get(v, "name"));
		if (!name)
			continue;
		struct phase *p = &ph->p[ph->n++];
		snprintf(p->name, sizeof(p->name), "%s", name);
		p->at_ms = json_integer_value(json_object_get(v, "at_ms"));
		p->duration_ms = json_integer_value(json_object_get(v, "duration_ms"));
	}
	json_decref(a);
}
