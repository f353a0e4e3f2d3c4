/* fields: reading typed fields of request bodies (see api-priv.h). */
#include <stdio.h>
#include <stdlib.h>

#include "api/api-priv.h"
#include "util/str.h"

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
