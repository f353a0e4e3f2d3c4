/* machine_type: the built-in catalog and lookups (see machine_type.h). */
#include "model/machine_type.h"

#include <string.h>

#include "model/vm.h"
#include "util/str.h"

static const struct machine_type builtin[] = {
	{"nano", 1, 256, 0.0042},
	{"micro", 1, 512, 0.0084},
	{"small", 1, 1024, 0.0168},
	{"medium", 2, 2048, 0.0336},
	{"large", 4, 8192, 0.1344},
};

void catalog_init_default(struct type_catalog *cat)
{
	cat->n = (int)(sizeof(builtin) / sizeof(builtin[0]));
	cat->types = xcalloc((size_t)cat->n, sizeof(*cat->types));
	memcpy(cat->types, builtin, sizeof(builtin));
}

void catalog_free(struct type_catalog *cat)
{
	free(cat->types);
	cat->types = NULL;
	cat->n = 0;
}

int catalog_add(struct type_catalog *cat, const struct machine_type *t, struct err *e)
{
	if (vm_name_validate(t->name, "type name", e) < 0)
		return -1;
	if (t->vcpus < 1 || t->vcpus > 256)
		return err_set(e, ERR_INVALID, "type %s: vcpus %d must be between 1 and 256", t->name, t->vcpus);
	if (t->memory_mib < 64 || t->memory_mib > 1024 * 1024)
		return err_set(e, ERR_INVALID, "type %s: memory_mib %d must be between 64 and 1048576", t->name,
			       t->memory_mib);
	if (t->price_per_hour < 0)
		return err_set(e, ERR_INVALID, "type %s: price_per_hour must not be negative", t->name);
	for (int i = 0; i < cat->n; i++) {
		if (strcmp(cat->types[i].name, t->name) == 0) {
			cat->types[i] = *t;
			return 0;
		}
	}
	cat->types = xrealloc(cat->types, sizeof(*cat->types) * (size_t)(cat->n + 1));
	cat->types[cat->n++] = *t;
	return 0;
}

const struct machine_type *catalog_find(const struct type_catalog *cat, const char *name)
{
	for (int i = 0; name && i < cat->n; i++)
		if (strcmp(cat->types[i].name, name) == 0)
			return &cat->types[i];
	return NULL;
}

char *catalog_names(const struct type_catalog *cat)
{
	struct sbuf b = {0};
	for (int i = 0; i < cat->n; i++)
		sbuf_addf(&b, "%s%s", i ? ", " : "", cat->types[i].name);
	return sbuf_take(&b);
}

json_t *machine_type_to_json(const struct machine_type *t)
{
	return json_pack("{s:s, s:i, s:i, s:f}", "name", t->name, "vcpus", t->vcpus, "memory_mib", t->memory_mib,
			 "price_per_hour", t->price_per_hour);
}
