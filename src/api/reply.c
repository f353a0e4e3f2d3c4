/*
 * reply: what every handler uses to read its request and write its answer:
 * query parameters, the JSON body and its fields, and the JSON reply or the
 * error (a status from the error's kind, and a message naming the field or
 * value). Kept apart from server.c, which moves the bytes.
 */
#include "api/reply.h"

#include <microhttpd.h>
#include <stdio.h>
#include <string.h>

#include "api/api-priv.h"
#include "util/str.h"

const char *api_query(const struct api_req *req, const char *key)
{
	return req->conn ? MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key) : NULL;
}

struct query_check {
	const char *const *allowed;
	char bad[64];
	bool found;
};

static enum MHD_Result query_key(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct query_check *qc = cls;
	(void)kind;
	(void)value;
	for (int i = 0; qc->allowed[i]; i++)
		if (strcmp(key, qc->allowed[i]) == 0)
			return MHD_YES;
	if (!qc->found) {
		qc->found = true;
		snprintf(qc->bad, sizeof(qc->bad), "%s", key);
	}
	return MHD_YES;
}

bool api_query_known(const struct api_req *req, const char *const allowed[], struct api_resp *resp)
{
	struct query_check qc = {.allowed = allowed};
	if (req->conn)
		MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, query_key, &qc);
	if (!qc.found)
		return true;
	struct sbuf b = {0};
	for (int i = 0; allowed[i]; i++)
		sbuf_addf(&b, "%s%s", i ? ", " : "", allowed[i]);
	autofree char *list = sbuf_take(&b);
	struct err e = {0};
	/* printable ASCII of the name alone: the message travels in JSON */
	for (char *p = qc.bad; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f || *p == '"' || *p == '\\')
			*p = '?';
	err_set(&e, ERR_INVALID, "unknown query parameter \"%s\"; known: %s", qc.bad, list);
	api_error(resp, &e);
	return false;
}

void api_json(struct api_resp *resp, int status, json_t *json)
{
	resp->status = status;
	json_decref(resp->json);
	resp->json = json;
}

void api_error(struct api_resp *resp, const struct err *e)
{
	enum err_kind kind = e->kind == ERR_NONE ? ERR_INTERNAL : e->kind;
	api_json(resp, err_kind_http_status(kind),
		 json_pack("{s:{s:s, s:s}}", "error", "code", err_kind_code(kind), "message",
			   e->msg[0] ? e->msg : "internal error"));
}

json_t *api_body_object(const struct api_req *req, struct api_resp *resp, bool allow_empty)
{
	struct err e = {0};
	size_t i = 0;
	while (i < req->body_len && strchr(" \t\r\n", req->body[i]))
		i++;
	if (i == req->body_len) {
		if (allow_empty)
			return json_object();
		err_set(&e, ERR_INVALID, "the request needs a JSON object body");
		api_error(resp, &e);
		return NULL;
	}
	json_error_t je;
	json_t *o = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &je);
	if (!o) {
		err_set(&e, ERR_INVALID, "malformed JSON at line %d, column %d: %s", je.line, je.column, je.text);
		api_error(resp, &e);
		return NULL;
	}
	if (!json_is_object(o)) {
		json_decref(o);
		err_set(&e, ERR_INVALID, "the request body must be a JSON object");
		api_error(resp, &e);
		return NULL;
	}
	return o;
}

bool api_check_fields(json_t *obj, const char *const allowed[], struct api_resp *resp)
{
	const char *key;
	json_t *v;
	json_object_foreach(obj, key, v) {
		bool ok = false;
		for (int i = 0; allowed[i] && !ok; i++)
			ok = strcmp(key, allowed[i]) == 0;
		if (!ok) {
			struct sbuf b = {0};
			for (int i = 0; allowed[i]; i++)
				sbuf_addf(&b, "%s%s", i ? ", " : "", allowed[i]);
			autofree char *list = sbuf_take(&b);
			struct err e = {0};
			err_set(&e, ERR_INVALID, "unknown field \"%s\"; known fields: %s", key, list);
			api_error(resp, &e);
			return false;
		}
	}
	return true;
}

bool api_opt_string(json_t *obj, const char *key, const char **out, struct api_resp *resp)
{
	json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v)) {
		*out = NULL;
		return true;
	}
	if (!json_is_string(v)) {
		struct err e = {0};
		err_set(&e, ERR_INVALID, "field \"%s\" must be a string", key);
		api_error(resp, &e);
		return false;
	}
	if (!api_check_length(key, -1, json_string_value(v), resp))
		return false;
	*out = json_string_value(v);
	return true;
}
