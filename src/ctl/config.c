/* config: defaults and the optional JSON file (see config.h). */
#include "ctl/config.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "host/metadata.h"
#include "util/str.h"

void config_init_default(struct config *c)
{
	memset(c, 0, sizeof(*c));
	c->cpu_overcommit = 4.0;
	c->memory_overcommit = 1.0;
	c->reserved_memory_mib = -1;
	c->stop_timeout_s = 30;
	c->ssh_wait_s = 300;
	c->metadata_port = METADATA_PORT_DEFAULT;
	snprintf(c->qemu_user, sizeof(c->qemu_user), "nubo-qemu");
	snprintf(c->qboot, sizeof(c->qboot), "%s", CONFIG_QBOOT_DEFAULT);
	c->events_retention_days = 7;
	c->placement = PLACEMENT_SPREAD;
	c->host_down_after_s = 30;
	c->vxlan_port = 4789;
	c->image_upload_max_mib = CONFIG_IMAGE_UPLOAD_MAX_MIB;
	catalog_init_default(&c->types);
	usage_prices_default(&c->prices);
	metrics_policy_default(&c->metrics);
	idle_policy_default(&c->idle_stop);
}

static int config_apply(struct config *c, const char *path, json_t *root, struct err *e);

void config_free(struct config *c)
{
	catalog_free(&c->types);
}

static int number(json_t *v, const char *path, const char *key, double min, double max, double *out,
		  struct err *e)
{
	if (!json_is_number(v) || json_number_value(v) < min || json_number_value(v) > max)
		return err_set(e, ERR_INVALID, "%s: \"%s\" must be a number between %g and %g", path, key, min, max);
	*out = json_number_value(v);
	return 0;
}

/* A user name as useradd accepts it, and not root: QEMU must not run as root. */
static int user_name(json_t *v, const char *path, char *out, size_t n, struct err *e)
{
	const char *s = json_string_value(v);
	bool ok = s && *s && strlen(s) < n && *s != '-';
	for (const char *p = s; ok && *p; p++)
		ok = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", *p) != NULL;
	if (!ok)
		return err_set(e, ERR_INVALID, "%s: \"qemu_user\" must be a user name (letters, digits, . _ -; at most %zu)",
			       path, n - 1);
	if (strcmp(s, "root") == 0)
		return err_set(e, ERR_INVALID, "%s: \"qemu_user\" cannot be root: QEMU runs unprivileged", path);
	snprintf(out, n, "%s", s);
	return 0;
}

/* An absolute path, or "" for none. */
static int file_path(json_t *v, const char *path, const char *key, char *out, size_t n, struct err *e)
{
	const char *s = json_string_value(v);
	if (!s || (*s && *s != '/') || strlen(s) >= n)
		return err_set(e, ERR_INVALID, "%s: \"%s\" must be an absolute path (at most %zu characters) or \"\"",
			       path, key, n - 1);
	snprintf(out, n, "%s", s);
	return 0;
}

/* "" or a PostgreSQL connection URI; the value is not repeated in the
 * message, since it may hold a password. */
static int database(json_t *v, const char *path, char *out, size_t n, struct err *e)
{
	const char *s = json_string_value(v);
	if (!s || strlen(s) >= n ||
	    (*s && strncmp(s, "postgres://", 11) != 0 && strncmp(s, "postgresql://", 13) != 0))
		return err_set(e, ERR_INVALID,
			       "%s: \"database\" must be \"\" (SQLite in the state directory) or a postgres:// URI "
			       "(at most %zu characters), e.g. postgres://nubo@db.example/nubo",
			       path, n - 1);
	snprintf(out, n, "%s", s);
	return 0;
}

/* A short string of a known set of characters. */
static int word(json_t *v, const char *path, const char *key, const char *chars, const char *what, char *out,
		size_t n, struct err *e)
{
	const char *s = json_string_value(v);
	bool ok = s && strlen(s) < n;
	for (const char *p = s; ok && *p; p++)
		ok = strchr(chars, *p) != NULL;
	if (!ok)
		return err_set(e, ERR_INVALID, "%s: \"%s\" must be %s (at most %zu characters)", path, key, what, n - 1);
	snprintf(out, n, "%s", s);
	return 0;
}

static int load_import_dirs(struct config *c, const char *path, json_t *arr, struct err *e)
{
	if (!json_is_array(arr) || json_array_size(arr) > CONFIG_IMPORT_DIRS_MAX)
		return err_set(e, ERR_INVALID, "%s: \"import_dirs\" must be a list of at most %d folders", path,
			       CONFIG_IMPORT_DIRS_MAX);
	size_t i;
	json_t *v;
	c->n_import_dirs = 0;
	json_array_foreach(arr, i, v) {
		const char *s = json_string_value(v);
		if (!s || s[0] != '/' || strcmp(s, "/") == 0 || strlen(s) >= sizeof(c->import_dirs[0]))
			return err_set(e, ERR_INVALID, "%s: import_dirs[%zu] must be the absolute path of a folder other "
				       "than / (at most %zu characters)", path, i, sizeof(c->import_dirs[0]) - 1);
		snprintf(c->import_dirs[c->n_import_dirs++], sizeof(c->import_dirs[0]), "%s", s);
	}
	return 0;
}

static int load_types(struct config *c, const char *path, json_t *arr, struct err *e)
{
	if (!json_is_array(arr))
		return err_set(e, ERR_INVALID, "%s: \"types\" must be a list", path);
	size_t i;
	json_t *t;
	json_array_foreach(arr, i, t) {
		json_error_t je;
		const char *name = NULL;
		struct machine_type mt = {0};
		if (json_unpack_ex(t, &je, JSON_STRICT, "{s:s, s:i, s:i, s?F}", "name", &name, "vcpus", &mt.vcpus,
				   "memory_mib", &mt.memory_mib, "price_per_hour", &mt.price_per_hour) < 0)
			return err_set(e, ERR_INVALID, "%s: types[%zu]: %s", path, i, je.text);
		if (strlen(name) >= sizeof(mt.name))
			return err_set(e, ERR_INVALID, "%s: types[%zu]: name \"%s\" is too long", path, i, name);
		strcpy(mt.name, name);
		if (catalog_add(&c->types, &mt, e) < 0) {
			err_prefix(e, "%s", path);
			return -1;
		}
	}
	return 0;
}

/* "prices": storage per GiB-hour, and type prices, applied once every
 * type is known (types may come after prices in the file). */
static int load_prices(struct config *c, const char *path, json_t *obj, json_t **type_prices, struct err *e)
{
	static const struct {
		const char *key;
		enum usage_kind kind;
	} storage[] = {{"disk_gib_hour", USAGE_DISK},
		       {"volume_gib_hour", USAGE_VOLUME},
		       {"snapshot_gib_hour", USAGE_SNAPSHOT},
		       {"image_gib_hour", USAGE_IMAGE}};
	if (!json_is_object(obj))
		return err_set(e, ERR_INVALID, "%s: \"prices\" must be an object", path);
	const char *key;
	json_t *v;
	json_object_foreach(obj, key, v) {
		bool known = false;
		for (size_t i = 0; !known && i < sizeof(storage) / sizeof(storage[0]); i++) {
			if (strcmp(key, storage[i].key) != 0)
				continue;
			known = true;
			autofree char *name = xasprintf("prices.%s", key);
			if (number(v, path, name, 0, 1000, &c->prices.gib_hour[storage[i].kind], e) < 0)
				return -1;
		}
		if (known || key[0] == '#')
			continue;
		if (strcmp(key, "types") != 0)
			return err_set(e, ERR_INVALID,
				       "%s: unknown price \"%s\"; known: disk_gib_hour, volume_gib_hour, snapshot_gib_hour, "
				       "image_gib_hour, types",
				       path, key);
		if (!json_is_object(v))
			return err_set(e, ERR_INVALID, "%s: \"prices.types\" must be an object of type names and prices per hour",
				       path);
		json_decref(*type_prices);
		*type_prices = json_incref(v);
	}
	return 0;
}

static int apply_type_prices(struct config *c, const char *path, json_t *type_prices, struct err *e)
{
	const char *name;
	json_t *v;
	json_object_foreach(type_prices, name, v) {
		struct machine_type *t = (struct machine_type *)catalog_find(&c->types, name);
		if (!t) {
			autofree char *names = catalog_names(&c->types);
			return err_set(e, ERR_INVALID, "%s: prices.types: type \"%.64s\" does not exist; types: %s", path, name,
				       names);
		}
		autofree char *key = xasprintf("prices.types.%s", name);
		if (number(v, path, key, 0, 1000000, &t->price_per_hour, e) < 0)
			return -1;
	}
	return 0;
}

int config_load(struct config *c, const char *path, struct err *e)
{
	json_error_t je;
	json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return err_set(e, ERR_INVALID, "%s:%d: %s", path, je.line, je.text);
	return config_apply(c, path, root, e);
}

int config_load_buffer(struct config *c, const char *name, const char *text, size_t len, struct err *e)
{
	json_error_t je;
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return err_set(e, ERR_INVALID, "%s:%d: %s", name, je.line, je.text);
	return config_apply(c, name, root, e);
}

/* Applies root (its reference is taken) over c; path names it in errors. */
static int config_apply(struct config *c, const char *path, json_t *root, struct err *e)
{
	int rc = 0;
	json_t *type_prices = NULL;
	if (!json_is_object(root)) {
		rc = err_set(e, ERR_INVALID, "%s: the top level must be an object", path);
		goto out;
	}
	const char *key;
	json_t *v;
	json_object_foreach(root, key, v) {
		double d;
		/* JSON has no comments: the shipped file (dist/nubod.json) writes
		 * them, and every default, as keys that start with '#'. */
		if (key[0] == '#')
			continue;
		if (strcmp(key, "cpu_overcommit") == 0)
			rc = number(v, path, key, 0.1, 64, &c->cpu_overcommit, e);
		else if (strcmp(key, "memory_overcommit") == 0)
			rc = number(v, path, key, 0.1, 8, &c->memory_overcommit, e);
		else if (strcmp(key, "reserved_memory_mib") == 0) {
			rc = number(v, path, key, 0, 1 << 24, &d, e);
			c->reserved_memory_mib = (int)d;
		} else if (strcmp(key, "stop_timeout_s") == 0) {
			rc = number(v, path, key, 0, 3600, &d, e);
			c->stop_timeout_s = (int)d;
		} else if (strcmp(key, "ssh_wait_s") == 0) {
			rc = number(v, path, key, 1, 3600, &d, e);
			c->ssh_wait_s = (int)d;
		} else if (strcmp(key, "metadata_port") == 0) {
			rc = number(v, path, key, 1, 65535, &d, e);
			c->metadata_port = (int)d;
		} else if (strcmp(key, "qemu_user") == 0) {
			rc = user_name(v, path, c->qemu_user, sizeof(c->qemu_user), e);
		} else if (strcmp(key, "qboot") == 0) {
			rc = file_path(v, path, key, c->qboot, sizeof(c->qboot), e);
		} else if (strcmp(key, "events_retention_days") == 0) {
			rc = number(v, path, key, 1, 3650, &d, e);
			c->events_retention_days = (int)d;
		} else if (strcmp(key, "database") == 0) {
			rc = database(v, path, c->database, sizeof(c->database), e);
		} else if (strcmp(key, "host_name") == 0) {
			rc = word(v, path, key, "abcdefghijklmnopqrstuvwxyz0123456789-",
				  "a host name (a-z, 0-9, -; \"\": the machine's hostname)", c->host_name,
				  sizeof(c->host_name), e);
		} else if (strcmp(key, "advertise") == 0) {
			rc = word(v, path, key, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.:-[]",
				  "an address or name other hosts reach this one at", c->advertise, sizeof(c->advertise),
				  e);
		} else if (strcmp(key, "placement") == 0) {
			if (placement_policy_parse(json_string_value(v), &c->placement) < 0)
				rc = err_set(e, ERR_INVALID, "%s: \"placement\" must be \"spread\" or \"pack\"", path);
		} else if (strcmp(key, "host_down_after_s") == 0) {
			rc = number(v, path, key, 1, 3600, &d, e);
			c->host_down_after_s = (int)d;
		} else if (strcmp(key, "vxlan_port") == 0) {
			rc = number(v, path, key, 1, 65535, &d, e);
			c->vxlan_port = (int)d;
		} else if (strcmp(key, "import_dirs") == 0) {
			rc = load_import_dirs(c, path, v, e);
		} else if (strcmp(key, "image_upload_max_mib") == 0) {
			rc = number(v, path, key, 1, 1 << 24, &d, e);
			c->image_upload_max_mib = (int64_t)d;
		} else if (strcmp(key, "types") == 0)
			rc = load_types(c, path, v, e);
		else if (strcmp(key, "prices") == 0)
			rc = load_prices(c, path, v, &type_prices, e);
		else if (strcmp(key, "metrics") == 0)
			rc = metrics_policy_from_json(v, path, &c->metrics, e);
		else if (strcmp(key, "idle_stop") == 0) {
			autofree char *where = xasprintf("%s: \"idle_stop\": ", path);
			rc = idle_policy_from_json(v, where, &c->idle_stop, e);
		} else
			rc = err_set(e, ERR_INVALID,
				     "%s: unknown setting \"%s\"; known: cpu_overcommit, memory_overcommit, "
				     "reserved_memory_mib, stop_timeout_s, ssh_wait_s, metadata_port, qemu_user, qboot, database, "
				     "events_retention_days, host_name, advertise, placement, host_down_after_s, "
				     "vxlan_port, import_dirs, image_upload_max_mib, types, prices, metrics, idle_stop",
				     path, key);
		if (rc < 0)
			break;
	}
	if (rc == 0 && type_prices)
		rc = apply_type_prices(c, path, type_prices, e);
out:
	json_decref(type_prices);
	json_decref(root);
	return rc;
}
