/* reply: reading a handler's request (query, JSON body, fields) and setting
 * its answer (JSON or an error). The request and response shapes are in
 * api-priv.h. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "util/err.h"

struct api_req;
struct api_resp;

/* The value of a query parameter ("?limit=100"), or NULL. */
const char *api_query(const struct api_req *req, const char *key);
/* Fails (400 naming it) when the query has a parameter not in allowed
 * (NULL-terminated). */
bool api_query_known(const struct api_req *req, const char *const allowed[], struct api_resp *resp);

/* Sets an error response from e: the status its kind maps to, its message. */
void api_error(struct api_resp *resp, const struct err *e);
/* Sets the answer to json (owned) with status. */
void api_json(struct api_resp *resp, int status, json_t *json);

/* Parses the body as a JSON object. An empty body is {} when allow_empty.
 * On failure sets a 400 response and returns NULL. */
json_t *api_body_object(const struct api_req *req, struct api_resp *resp, bool allow_empty);
/* Fails (400) when obj has a key not in allowed (NULL-terminated). */
bool api_check_fields(json_t *obj, const char *const allowed[], struct api_resp *resp);
/* Reads an optional string field; a present non-string is a 400. */
bool api_opt_string(json_t *obj, const char *key, const char **out, struct api_resp *resp);
