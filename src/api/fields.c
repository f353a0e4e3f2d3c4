/* fields: reading typed fields of request bodies (see api-priv.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api-priv.h"
#include "model/firewall.h"
#include "model/vm.h"
#include "util/str.h"

/* The longest value of each string field of a request body. A field not
 * listed is a name, a reference, an address, a port or a word, and gets
 * API_FIELD_MAX_DEFAULT. The limits are checked before anything else reads
 * the value, so no later code sees an unbounded string. */
static const struct {
	const char *key;
	size_t max;
} field_max[] = {
	{"user_data", VM_USER_DATA_MAX},
	{"ssh_keys", 8192},        /* one key; a 16384-bit RSA key with a comment fits */
	{"ssh_key_file", 4096},    /* PATH_MAX */
	{"file", 4096},
	{"kernel", 4096},
	{"initrd", 4096},
	{"url", 4096},
	{"cmdline", 2048},         /* COMMAND_LINE_SIZE of x86 Linux */
	{"description", FIREWALL_DESCRIPTION_MAX},
};

size_t api_field_max(const char *key)
{
	for (size_t i = 0; i < sizeof(field_max) / sizeof(field_max[0]); i++)
		if (strcmp(key, field_max[i].key) == 0)
			return field_max[i].max;
	return API_FIELD_MAX_DEFAULT;
}

bool api_check_length(const char *key, long index, const char *value, struct api_resp *resp)
{
	size_t max = api_field_max(key);
	size_t n = strnlen(value, max + 1);
	if (n <= max)
		return true;
	n += strlen(value + n);
	struct err e = {0};
	if (index >= 0)
		err_set(&e, ERR_INVALID, "field \"%s[%ld]\" is %zu bytes long; the limit is %zu", key, index, n, max);
	else
		err_set(&e, ERR_INVALID, "field \"%s\" is %zu bytes long; the limit is %zu", key, n, max);
	api_error(resp, &e);
	return false;
}

/* "field \"KEY\" must be WHAT" as a 400. */
static bool bad(struct api_resp *resp, const char *key, const char *what)
{
	struct err e = {0};
	err_set(&e, ERR_INVALID, "field \"%s\" must be %s", key, what);
	api_error(resp, &e);
	return false;
}

bool api_opt_bool(json_t *obj, const char *key, bool dflt, bool *out, struct api_resp *resp)
{
	json_t *v = json_object_get(obj, key);
	*out = dflt;
	if (!v || json_is_null(v))
		return true;
	if (!json_is_boolean(v))
		return bad(resp, key, "true or false");
	*out = json_is_true(v);
	return true;
}

bool api_opt_string_list(json_t *obj, const char *key, const char ***out, int *n, struct api_resp *resp)
{
	json_t *arr = json_object_get(obj, key);
	*out = NULL;
	*n = 0;
	if (!arr || json_is_null(arr))
		return true;
	if (!json_is_array(arr))
		return bad(resp, key, "a list of strings");
	const char **list = xcalloc(json_array_size(arr) + 1, sizeof(char *));
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v) {
		if (!json_is_string(v)) {
			free(list);
			struct err e = {0};
			err_set(&e, ERR_INVALID, "%s[%zu] must be a string", key, i);
			api_error(resp, &e);
			return false;
		}
		if (!api_check_length(key, (long)i, json_string_value(v), resp)) {
			free(list);
			return false;
		}
		list[(*n)++] = json_string_value(v);
	}
	*out = list;
	return true;
}

bool api_opt_port(json_t *obj, const char *key, char buf[API_PORT_BUF], const char **out, struct api_resp *resp)
{
	json_t *v = json_object_get(obj, key);
	*out = NULL;
	if (!v || json_is_null(v))
		return true;
	if (json_is_string(v)) {
		if (!api_check_length(key, -1, json_string_value(v), resp))
			return false;
		*out = json_string_value(v);
		return true;
	}
	if (!json_is_integer(v))
		return bad(resp, key, "a port (80) or a range (\"8000-8100\")");
	/* Out-of-range numbers keep their value so the error names it. */
	snprintf(buf, API_PORT_BUF, "%lld", (long long)json_integer_value(v));
	*out = buf;
	return true;
}

bool api_body_one_string(const struct api_req *req, struct api_resp *resp, const char *key, const char *what,
			 json_t **json, const char **value)
{
	const char *const fields[] = {key, NULL};
	*json = NULL;
	*value = NULL;
	json_t *body = api_body_object(req, resp, false);
	if (!body)
		return false;
	if (!api_check_fields(body, fields, resp) || !api_opt_string(body, key, value, resp)) {
		/* answered */
	} else if (!*value) {
		struct err e = {0};
		err_set(&e, ERR_INVALID, "field \"%s\" is required: %s", key, what);
		api_error(resp, &e);
	} else {
		*json = body;
		return true;
	}
	json_decref(body);
	*value = NULL;
	return false;
}
