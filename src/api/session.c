/*
 * session: the web console's login. A browser trades an API token for a
 * session (POST /v1/session): a cookie that scripts cannot read (HttpOnly),
 * that no other site's page can make the browser send (SameSite=Strict),
 * and that travels only over TLS where the listener has it (Secure). The
 * store keeps the SHA-256 of the cookie's secret, like a token's.
 *
 * A cookie is sent by the browser whatever page asks, so every request of a
 * session that changes something must also carry the session's CSRF token
 * in a header (X-CSRF-Token), which only the console's own script can read
 * (from the login's answer or GET /v1/session). The server checks both
 * before any body is read (server.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api-priv.h"
#include "util/log.h"
#include "util/timeutil.h"

enum api_auth api_session_check(struct store *st, const char *cookie, struct session *out, const char **why,
				struct err *e)
{
	if (!cookie || !secret_well_formed(cookie)) {
		*why = "a session cookie that is not of the shape of a secret";
		return API_AUTH_DENIED;
	}
	char hash[SECRET_HASH_LEN + 1];
	secret_hash(cookie, hash);
	struct err ge = {0};
	if (store_session_get(st, hash, time_now_ms(), out, &ge) == 0)
		return API_AUTH_OK;
	if (ge.kind == ERR_NOT_FOUND) {
		*why = "a session that does not exist, has expired, was logged out, or whose token was revoked";
		return API_AUTH_DENIED;
	}
	*e = ge;
	return API_AUTH_ERROR;
}

bool api_csrf_ok(const struct session *s, const char *header)
{
	if (!header || !secret_well_formed(header))
		return false;
	char a[SECRET_HASH_LEN + 1], b[SECRET_HASH_LEN + 1];
	secret_hash(header, a);
	secret_hash(s->csrf, b);
	return secret_hash_equal(a, b);
}

static json_t *session_json(const struct session *s, const char *token_name)
{
	return json_pack("{s:{s:s, s:s, s:I, s:I}, s:s}", "session", "id", s->id, "token", token_name, "created_at",
			 (json_int_t)s->created_at, "expires_at", (json_int_t)s->expires_at, "csrf", s->csrf);
}

static char *cookie_header(const char *value, long max_age_s, bool secure)
{
	return xasprintf(API_SESSION_COOKIE "=%s; Path=/; Max-Age=%ld; HttpOnly; SameSite=Strict%s", value, max_age_s,
			 secure ? "; Secure" : "");
}

/* POST /v1/session {"token": "nubo_…"}: 201 with the session and its CSRF
 * token, and the cookie; 401 for a token that is not valid. */
static void login(const struct api_req *req, struct api_resp *resp)
{
	struct err e = {0};
	if (!req->caller.remote) {
		err_set(&e, ERR_INVALID,
			"console sessions are for the web console over TCP (--listen or --listen-http); the unix "
			"socket needs no login");
		api_error(resp, &e);
		return;
	}
	json_t *body = NULL;
	const char *secret = NULL;
	if (!api_body_one_string(req, resp, "token", "the API token to log in with (nubo token create NAME)", &body,
				 &secret))
		return;
	struct token t;
	const char *why = NULL;
	enum api_auth a = api_token_check_secret(ctl_store(req->ctl), secret, &t, &why, &e);
	json_decref(body);
	if (a == API_AUTH_ERROR) {
		api_error(resp, &e);
		return;
	}
	if (a == API_AUTH_DENIED) {
		log_info("api: console login refused: %s", why);
		err_set(&e, ERR_UNAUTHORIZED, "this API token is not valid: it does not exist or was revoked");
		api_error(resp, &e);
		return;
	}
	struct session s = {0};
	char cookie[SECRET_LEN + 1];
	id_new("ses", s.id);
	secret_new(cookie);
	secret_hash(cookie, s.hash);
	secret_new(s.csrf);
	snprintf(s.token_id, sizeof(s.token_id), "%s", t.id);
	s.created_at = time_now_ms();
	s.expires_at = s.created_at + API_SESSION_TTL_MS;
	if (store_session_insert(ctl_store(req->ctl), &s, &e) < 0) {
		api_error(resp, &e);
	} else {
		resp->set_cookie = cookie_header(cookie, (long)(API_SESSION_TTL_MS / 1000), req->secure);
		api_json(resp, 201, session_json(&s, t.name));
		log_info("api: console session %s opened with token %s", s.id, t.name);
	}
	explicit_bzero(cookie, sizeof(cookie));
}

static bool need_session(const struct api_req *req, struct api_resp *resp)
{
	if (req->session)
		return true;
	struct err e = {0};
	err_set(&e, ERR_NOT_FOUND, "this request has no console session (the %s cookie); log in with POST /v1/session",
		API_SESSION_COOKIE);
	api_error(resp, &e);
	return false;
}

/* GET /v1/session: the session and its CSRF token, for a page loaded anew. */
static void show(const struct api_req *req, struct api_resp *resp)
{
	if (!need_session(req, resp))
		return;
	struct token t;
	struct err e = {0};
	if (store_token_get(ctl_store(req->ctl), req->session->token_id, &t, &e) < 0)
		api_error(resp, &e);
	else
		api_json(resp, 200, session_json(req->session, t.name));
}

/* DELETE /v1/session: logs out; the cookie is no good from now on. */
static void logout(const struct api_req *req, struct api_resp *resp)
{
	if (!need_session(req, resp))
		return;
	struct err e = {0};
	if (store_session_delete(ctl_store(req->ctl), req->session->id, &e) < 0) {
		api_error(resp, &e);
		return;
	}
	log_info("api: console session %s closed (logout)", req->session->id);
	resp->set_cookie = cookie_header("", 0, req->secure);
	api_json(resp, 200, json_pack("{s:{s:s}}", "session", "id", req->session->id));
}

const struct api_route api_session_routes[] = {
	{"POST", "/v1/session", login},
	{"GET", "/v1/session", show},
	{"DELETE", "/v1/session", logout},
	{NULL, NULL, NULL},
};
