/* phases: named, timed steps of an operation (see phases.h). */
#include "model/phases.h"

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

void phases_from_json_text(struct phases *ph, const char *text)
{
	memset(ph, 0, sizeof(*ph));
	if (!text || !*text)
		return;
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
