/* Unit tests of the OpenAPI document built into nubod (src/api/openapi.json)
 * against the route tables themselves: every route nubod routes is in the
 * document with its method, every path and method of the document is routed
 * (through api_route_find, the router requests meet), and every operation
 * names its path parameters and answers errors in the one error shape.
 * tests/api/openapi.sh validates the document and checks it against real
 * answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api-priv.h"
#include "util/str.h"

static const char *const methods[] = {"get", "put", "post", "delete", "patch", "head", "options", "trace", NULL};

static json_t *doc_load(void)
{
	json_error_t je;
	json_t *doc = json_loadb(api_openapi_json, api_openapi_json_len, JSON_REJECT_DUPLICATES, &je);
	if (!doc)
		fail_msg("the built-in openapi.json does not parse: line %d, column %d: %s", je.line, je.column, je.text);
	return doc;
}

/* "/v1/vms/{vm}/forwards/{host_port}" → "/v1/vms/{}/forwards/{}", the route tables' spelling. */
static char *shape_of(const char *path)
{
	struct sbuf b = {0};
	for (const char *p = path; *p; p++) {
		if (*p == '{') {
			const char *end = strchr(p, '}');
			if (!end)
				break;
			sbuf_add(&b, "{}");
			p = end;
		} else {
			sbuf_addn(&b, p, 1);
		}
	}
	return sbuf_take(&b);
}

/* "METHOD SHAPE" of every operation of doc, as one JSON object (a set). */
static json_t *documented(const json_t *doc)
{
	json_t *set = json_object();
	const char *path;
	json_t *item;
	json_object_foreach(json_object_get(doc, "paths"), path, item) {
		autofree char *shape = shape_of(path);
		for (int m = 0; methods[m]; m++) {
			if (!json_object_get(item, methods[m]))
				continue;
			char up[16];
			size_t k = 0;
			for (; methods[m][k] && k < sizeof(up) - 1; k++)
				up[k] = (char)(methods[m][k] - 'a' + 'A');
			up[k] = '\0';
			autofree char *key = xasprintf("%s %s", up, shape);
			json_object_set_new(set, key, json_true());
		}
	}
	return set;
}

static void add_route(const struct api_route *r, void *arg)
{
	autofree char *key = xasprintf("%s %s", r->method, r->pattern);
	json_object_set_new(arg, key, json_true());
}

static json_t *routed(void)
{
	json_t *set = json_object();
	api_route_each(add_route, set);
	return set;
}

/* The keys of a that b lacks, one per line; "" when none. Caller frees. */
static char *missing(const json_t *a, const json_t *b)
{
	struct sbuf s = {0};
	sbuf_add(&s, "");
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)a, key, v)
		if (!json_object_get(b, key))
			sbuf_addf(&s, "%s\n", key);
	return sbuf_take(&s);
}

static void test_document_parses(void **state)
{
	(void)state;
	json_t *doc = doc_load();
	assert_string_equal(json_string_value(json_object_get(doc, "openapi")), "3.1.0");
	assert_int_equal(strlen(api_openapi_json), api_openapi_json_len);
	json_decref(doc);
}

static void test_every_route_documented(void **state)
{
	(void)state;
	json_t *doc = doc_load(), *have = routed(), *docs = documented(doc);
	assert_true(json_object_size(have) >= 60);   /* the tables were read */
	autofree char *undocumented = missing(have, docs);
	autofree char *unrouted = missing(docs, have);
	if (undocumented[0])
		fail_msg("routed but not in src/api/openapi.json:\n%s", undocumented);
	if (unrouted[0])
		fail_msg("in src/api/openapi.json but not routed:\n%s", unrouted);
	json_decref(docs);
	json_decref(have);
	json_decref(doc);
}

/* The comparison above can fail: a document without one route, and a route
 * table without one path, are both noticed. */
static void test_missing_noticed(void **state)
{
	(void)state;
	json_t *doc = doc_load(), *have = routed(), *docs = documented(doc);
	json_object_del(docs, "POST /v1/vms/{}/start");
	json_object_del(have, "GET /v1/types");
	autofree char *undocumented = missing(have, docs);
	autofree char *unrouted = missing(docs, have);
	assert_non_null(strstr(undocumented, "POST /v1/vms/{}/start\n"));
	assert_non_null(strstr(unrouted, "GET /v1/types\n"));
	json_decref(docs);
	json_decref(have);
	json_decref(doc);
}

/* Each documented path, with its parameters filled in, reaches a route of
 * that method in the router requests go through. */
static void test_router_takes_documented_paths(void **state)
{
	(void)state;
	json_t *doc = doc_load();
	const char *path;
	json_t *item;
	int n = 0;
	json_object_foreach(json_object_get(doc, "paths"), path, item) {
		autofree char *shape = shape_of(path);
		struct sbuf b = {0};
		for (const char *p = shape; *p; p++)
			if (p[0] == '{' && p[1] == '}') {
				sbuf_add(&b, "web-1");
				p++;
			} else {
				sbuf_addn(&b, p, 1);
			}
		autofree char *concrete = sbuf_take(&b);
		for (int m = 0; methods[m]; m++) {
			if (!json_object_get(item, methods[m]))
				continue;
			char up[16];
			size_t k = 0;
			for (; methods[m][k] && k < sizeof(up) - 1; k++)
				up[k] = (char)(methods[m][k] - 'a' + 'A');
			up[k] = '\0';
			struct api_path p;
			const char *args[API_PATH_ARGS];
			int status;
			struct err e = {0};
			const struct api_route *r = api_route_find(up, concrete, &p, args, &status, &e);
			if (!r)
				fail_msg("%s %s (%s): %d %s", up, concrete, path, status, e.msg);
			assert_string_equal(r->pattern, shape);
			n++;
		}
	}
	assert_true(n >= 60);
	json_decref(doc);
}

/* The names in {} of path, in order, as a JSON array. */
static json_t *path_names(const char *path)
{
	json_t *names = json_array();
	for (const char *p = strchr(path, '{'); p; p = strchr(p + 1, '{')) {
		const char *end = strchr(p, '}');
		assert_non_null(end);
		json_array_append_new(names, json_stringn(p + 1, (size_t)(end - p - 1)));
	}
	return names;
}

/* The response an operation gives for status, with a $ref to
 * #/components/responses/NAME followed. */
static const json_t *response(const json_t *doc, const json_t *op, const char *status)
{
	const json_t *r = json_object_get(json_object_get(op, "responses"), status);
	const char *ref = json_string_value(json_object_get(r, "$ref"));
	const char *prefix = "#/components/responses/";
	if (ref && strncmp(ref, prefix, strlen(prefix)) == 0)
		r = json_object_get(json_object_get(json_object_get(doc, "components"), "responses"), ref + strlen(prefix));
	return r;
}

/* The error code each status goes with (util/err.c; 405 and 413 are
 * invalid_argument, as the server answers them). */
static const char *error_code(const char *status)
{
	static const char *const codes[][2] = {
		{"400", "invalid_argument"}, {"401", "unauthorized"}, {"403", "forbidden"}, {"404", "not_found"},
		{"405", "invalid_argument"}, {"409", "conflict"},     {"413", "invalid_argument"},
		{"422", "unprocessable"},    {"500", "internal"},     {"503", "unavailable"},
		{"507", "insufficient_capacity"},
	};
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (strcmp(codes[i][0], status) == 0)
			return codes[i][1];
	return NULL;
}

/* Is r's JSON schema the Error schema with the code its status goes with:
 * {"allOf": [{"$ref": ".../Error"}, {... "code": {"const": CODE}}]}? */
static bool error_shaped(const json_t *r, const char *status)
{
	const json_t *schema =
		json_object_get(json_object_get(json_object_get(r, "content"), "application/json"), "schema");
	const json_t *all = json_object_get(schema, "allOf");
	const char *ref = json_string_value(json_object_get(json_array_get(all, 0), "$ref"));
	const json_t *code = json_object_get(
		json_object_get(json_object_get(json_object_get(json_object_get(json_array_get(all, 1), "properties"),
								 "error"),
						"properties"),
				"code"),
		"const");
	const char *want = error_code(status);
	return ref && strcmp(ref, "#/components/schemas/Error") == 0 && want && json_is_string(code) &&
	       strcmp(json_string_value(code), want) == 0;
}

static void test_operations_complete(void **state)
{
	(void)state;
	json_t *doc = doc_load();
	json_t *ids = json_object();
	const char *path;
	json_t *item;
	json_object_foreach(json_object_get(doc, "paths"), path, item) {
		json_t *names = path_names(path);
		for (int m = 0; methods[m]; m++) {
			const json_t *op = json_object_get(item, methods[m]);
			if (!op)
				continue;
			const char *id = json_string_value(json_object_get(op, "operationId"));
			if (!id || json_object_get(ids, id))
				fail_msg("%s %s: operationId missing or not unique", methods[m], path);
			json_object_set_new(ids, id, json_true());
			/* path parameters: the path's own and the operation's, each {} exactly once */
			int found = 0;
			const json_t *lists[] = {json_object_get(item, "parameters"), json_object_get(op, "parameters")};
			for (int l = 0; l < 2; l++) {
				size_t k;
				json_t *prm;
				json_array_foreach((json_t *)lists[l], k, prm) {
					if (strcmp(json_string_value(json_object_get(prm, "in")), "path") != 0)
						continue;
					const char *name = json_string_value(json_object_get(prm, "name"));
					bool known = false;
					size_t x;
					json_t *nm;
					json_array_foreach(names, x, nm)
						known = known || strcmp(json_string_value(nm), name) == 0;
					if (!known || !json_is_true(json_object_get(prm, "required")))
						fail_msg("%s %s: path parameter %s is not in the path or not required", methods[m],
							 path, name);
					found++;
				}
			}
			if ((size_t)found != json_array_size(names))
				fail_msg("%s %s: %zu {} in the path, %d path parameters", methods[m], path,
					 json_array_size(names), found);
			/* a success, and the errors every request may meet, in the error shape */
			bool success = false;
			const char *code;
			json_t *r;
			json_object_foreach(json_object_get(op, "responses"), code, r)
				success = success || code[0] == '2';
			if (!success)
				fail_msg("%s %s: no 2xx response", methods[m], path);
			static const char *const errors[] = {"400", "401", "500", "503"};
			for (size_t k = 0; k < sizeof(errors) / sizeof(errors[0]); k++)
				if (!error_shaped(response(doc, op, errors[k]), errors[k]))
					fail_msg("%s %s: response %s is not the Error shape with its code", methods[m], path,
						 errors[k]);
			json_object_foreach(json_object_get(op, "responses"), code, r)
				if (code[0] >= '4' && !error_shaped(response(doc, op, code), code))
					fail_msg("%s %s: response %s is not the Error shape with its code", methods[m], path,
						 code);
			if (json_object_get(op, "requestBody") && !response(doc, op, "413"))
				fail_msg("%s %s: takes a body but has no 413", methods[m], path);
			if (json_array_size(names) && !response(doc, op, "404"))
				fail_msg("%s %s: names a resource but has no 404", methods[m], path);
		}
		json_decref(names);
	}
	json_decref(ids);
	json_decref(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_document_parses),
		cmocka_unit_test(test_every_route_documented),
		cmocka_unit_test(test_missing_noticed),
		cmocka_unit_test(test_router_takes_documented_paths),
		cmocka_unit_test(test_operations_complete),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
