/*
 * machine_type: the catalog of machine types (vCPUs, memory, price per hour).
 * nubo ships nano … large; a config file may add more (see ctl/config).
 */
#pragma once

#include <jansson.h>

#include "util/err.h"

#define NAME_MAX_LEN 63

struct machine_type {
	char name[NAME_MAX_LEN + 1];
	int vcpus;
	int memory_mib;
	double price_per_hour;
};

struct type_catalog {
	struct machine_type *types;
	int n;
};

/* Fills cat with the built-in types; free with catalog_free. */
void catalog_init_default(struct type_catalog *cat);
void catalog_free(struct type_catalog *cat);
/* Adds or replaces a type after validating it (name, 1..256 vCPUs, 64 MiB..1 TiB). */
int catalog_add(struct type_catalog *cat, const struct machine_type *t, struct err *e);
const struct machine_type *catalog_find(const struct type_catalog *cat, const char *name);
/* "nano, micro, small, …" for error messages; caller frees. */
char *catalog_names(const struct type_catalog *cat);
json_t *machine_type_to_json(const struct machine_type *t);
