/*
 * tokens: the /v1/tokens endpoints, and the check of the bearer token that
 * every request over TCP carries.
 *
 * A token's secret is made here, answered once in the 201 of its creation
 * and then forgotten: the store keeps its SHA-256 only. To check a presented
 * secret, its hash is compared with every stored hash in constant time, so
 * the answer takes as long for a near miss as for garbage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api-priv.h"
#include "api/body-priv.h"
#include "util/log.h"
#include "util/timeutil.h"

/* last_used_at is a hint for people deciding what to revoke; a write per
 * request would be waste, so it is refreshed at most this often. */
#define TOKEN_TOUCH_EVERY_MS (60 * 1000)

/* Longest Authorization header value looked at; a secret is far shorter. */
#define AUTH_HEADER_MAX 512

static void list_tokens(const struct api_req *req, struct api_resp *resp)
{
	struct token *all = NULL;
	int n = 0;
	struct err e = {0};
	if (store_token_list(ctl_store(req->ctl), &all, &n, &e) < 0) {
		api_error(resp, &e);
		return;
	}
	json_t *arr = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(arr, token_to_json(&all[i]));
	free(all);
	api_json(resp, 200, json_pack("{s:o}", "tokens", arr));
}

static void get_token(const struct api_req *req, struct api_resp *resp)
{
	struct token t;
	struct err e = {0};
	if (store_token_get(ctl_store(req->ctl), req->args[0], &t, &e) < 0)
		api_error(resp, &e);
	else
		api_json(resp, 200, token_to_json(&t));
}

bool api_token_create_parse(const struct api_req *req, struct api_resp *resp, struct api_token_create *out)
{
	static const char *const fields[] = {"name", NULL};
	memset(out, 0, sizeof(*out));
	json_t *body = api_body_object(req, resp, false);
	if (!body)
		return false;
	struct err e = {0};
	if (!api_check_fields(body, fields, resp) || !api_opt_string(body, "name", &out->name, resp)) {
		/* answered */
	} else if (vm_name_validate(out->name, "name", &e) < 0) {
		api_error(resp, &e);
	} else {
		out->json = body;
		return true;
	}
	json_decref(body);
	memset(out, 0, sizeof(*out));
	return false;
}

static void create_token(const struct api_req *req, struct api_resp *resp)
{
	struct api_token_create b;
	struct err e = {0};
	if (!api_token_create_parse(req, resp, &b))
		return;
	struct token t = {0};
	char secret[SECRET_LEN + 1];
	id_new("tok", t.id);
	snprintf(t.name, sizeof(t.name), "%s", b.name);
	secret_new(secret);
	secret_hash(secret, t.hash);
	t.created_at = time_now_ms();
	if (store_token_insert(ctl_store(req->ctl), &t, &e) < 0) {
		api_error(resp, &e);
	} else {
		api_json(resp, 201, json_pack("{s:o, s:s}", "token", token_to_json(&t), "secret", secret));
		log_info("api: token %s (%s) created", t.name, t.id);
	}
	explicit_bzero(secret, sizeof(secret));
	json_decref(b.json);
}

static void delete_token(const struct api_req *req, struct api_resp *resp)
{
	struct token t;
	struct err e = {0};
	struct store *st = ctl_store(req->ctl);
	if (store_token_get(st, req->args[0], &t, &e) < 0 || store_token_delete(st, t.id, &e) < 0) {
		api_error(resp, &e);
		return;
	}
	log_info("api: token %s (%s) revoked", t.name, t.id);
	api_json(resp, 200, json_pack("{s:o}", "token", token_to_json(&t)));
}

bool api_bearer_secret(const char *header, char out[SECRET_LEN + 1])
{
	if (!header || strnlen(header, AUTH_HEADER_MAX + 1) > AUTH_HEADER_MAX || strncasecmp(header, "Bearer", 6) != 0 ||
	    (header[6] != ' ' && header[6] != '\t'))
		return false;
	const char *p = header + 6;
	while (*p == ' ' || *p == '\t')
		p++;
	size_t n = strcspn(p, " \t");
	const char *rest = p + n;
	while (*rest == ' ' || *rest == '\t')
		rest++;
	if (n != SECRET_LEN || *rest)
		return false;
	memcpy(out, p, n);
	out[n] = '\0';
	return secret_well_formed(out);
}

enum api_auth api_token_check_secret(struct store *st, const char *secret, struct token *out, const char **why,
				     struct err *e)
{
	char hash[SECRET_HASH_LEN + 1];
	*why = NULL;
	if (!secret || !secret_well_formed(secret)) {
		*why = "a secret that is not of the shape nubo_ and 64 hex digits";
		return API_AUTH_DENIED;
	}
	secret_hash(secret, hash);
	struct token *all = NULL;
	int n = 0;
	if (store_token_list(st, &all, &n, e) < 0)
		return API_AUTH_ERROR;
	/* Look at every token, whichever matches, so the time taken says nothing. */
	int match = -1;
	for (int i = 0; i < n; i++)
		if (secret_hash_equal(hash, all[i].hash))
			match = i;
	enum api_auth result = API_AUTH_DENIED;
	*why = "a token that does not exist or was revoked";
	if (match >= 0) {
		result = API_AUTH_OK;
		*why = NULL;
		if (out)
			*out = all[match];
		int64_t now = time_now_ms();
		struct err te = {0};
		if (now - all[match].last_used_at >= TOKEN_TOUCH_EVERY_MS &&
		    store_token_touch(st, all[match].id, now, &te) < 0)
			log_warn("api: cannot record the use of token %s: %s", all[match].name, te.msg);
	}
	free(all);
	return result;
}

enum api_auth api_token_check(struct store *st, const char *authorization, const char **why, struct err *e)
{
	char secret[SECRET_LEN + 1];
	*why = NULL;
	if (!authorization) {
		*why = "no Authorization header";
		return API_AUTH_DENIED;
	}
	if (!api_bearer_secret(authorization, secret)) {
		*why = "an Authorization header that is not \"Bearer nubo_…\"";
		return API_AUTH_DENIED;
	}
	enum api_auth a = api_token_check_secret(st, secret, NULL, why, e);
	explicit_bzero(secret, sizeof(secret));
	return a;
}

const struct api_route api_token_routes[] = {
	{"GET", "/v1/tokens", list_tokens},
	{"POST", "/v1/tokens", create_token},
	{"GET", "/v1/tokens/{}", get_token},
	{"DELETE", "/v1/tokens/{}", delete_token},
	{NULL, NULL, NULL},
};
