/* api-priv: the request and response shapes the handler files share. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/reply.h"   /* reading a request, writing its answer */
#include "ctl/ctl.h"
#include "model/token.h"
#include "util/secret.h"

#define API_BODY_MAX (1024 * 1024)
#define API_PATH_ARGS 4
#define API_PATH_SEGS 8    /* no route has more */
#define API_SEG_MAX 255    /* bytes of a decoded path segment */

/* A request its handler wants held until something changes (long-polling,
 * api/longpoll.h): the server suspends it and runs the handler again when
 * key changes, at until_ms, or when nubod stops (then with until_ms 0). */
struct api_hold {
	char key[64];           /* what it watches: an operation id */
	char since[32];         /* the state the client has seen (an operation's revision) */
	int64_t until_ms;       /* time_mono_ms() at which to answer anyway */
};

struct api_req {
	const char *method;
	const char *path;
	const char *args[API_PATH_ARGS];   /* the {} segments of the route, in order */
	const char *body;                  /* NUL-terminated, may be empty */
	size_t body_len;
	struct ctl *ctl;
	void *conn;                        /* the MHD connection, for api_query */
	const struct api_hold *held;       /* when run again after being held: what it asked; else NULL */
	struct ctl_caller caller;          /* who asks: over TCP, or the unix socket's peer */
	const struct session *session;     /* the web console's session that sent it, or NULL */
	bool secure;                       /* it came over TLS (a cookie set in the answer is Secure) */
};

struct api_resp {
	int status;
	json_t *json;          /* owned; or */
	char *text;            /* owned, sent as text/plain; or */
	size_t text_len;
	char *json_text;       /* owned, JSON already written, sent as application/json */
	size_t json_len;
	struct api_hold hold;  /* hold.key set (and no answer): hold the request */
	char *set_cookie;      /* owned; a Set-Cookie header to send, or NULL */
};

/* POST /v1/images with the image as the body (upload.c), streamed rather
 * than gathered: api_upload_wanted says so from the headers;
 * api_upload_begin checks the query and the length and records the image
 * (NULL: resp holds the refusal); each chunk goes to api_upload_write
 * (false: the upload is gone and resp holds why); api_upload_end answers
 * when the body is in. The server calls ctl_image_upload_abort for a body
 * that breaks off. Each of write (on false) and end frees u. */
struct image_upload;
bool api_upload_wanted(const char *method, const char *target, void *conn);
struct image_upload *api_upload_begin(const struct api_req *req, struct api_resp *resp);
bool api_upload_write(struct image_upload *u, const char *data, size_t n, struct api_resp *resp);
void api_upload_end(struct image_upload *u, struct api_resp *resp);

typedef void (*api_handler)(const struct api_req *req, struct api_resp *resp);

struct api_route {
	const char *method;
	const char *pattern;   /* "/v1/vms/{}/start" */
	api_handler handler;
};

/* A request's path split at '/' and percent-decoded segment by segment. */
struct api_path {
	int n;
	char seg[API_PATH_SEGS][API_SEG_MAX + 1];   /* decoded; never holds a NUL */
	const char *raw[API_PATH_SEGS];             /* each segment as sent, raw_len bytes */
	size_t raw_len[API_PATH_SEGS];
};

/* Splits raw (the request target as sent; a query after '?' is ignored)
 * into p. A path that does not start with '/', or a segment anywhere with
 * %00, a malformed escape or more than API_SEG_MAX bytes, is ERR_INVALID;
 * a path of more than API_PATH_SEGS segments ERR_NOT_FOUND. p->raw points
 * into raw. */
int api_path_parse(const char *raw, struct api_path *p, struct err *e);

/* The route for method and raw path, with args[] pointing to the decoded
 * segments of its "{}" (into p). Every argument decodes to a-z, 0-9 and -,
 * at most NAME_MAX_LEN bytes. On NULL, *status is 400, 404 or 405 and e
 * says why, quoting the path as sent (valid UTF-8 whatever it holds). */
const struct api_route *api_route_find(const char *method, const char *raw, struct api_path *p,
				       const char *args[API_PATH_ARGS], int *status, struct err *e);

/* Calls fn once for every route of every table, in the order
 * api_route_find tries them (tests/unit/test_openapi.c compares them with
 * the OpenAPI document). */
void api_route_each(void (*fn)(const struct api_route *r, void *arg), void *arg);

/* The OpenAPI document of the API (src/api/openapi.json, made into a C array
 * at build time by scripts/embed-json.py): len bytes, then a NUL. */
extern const char api_openapi_json[];
extern const size_t api_openapi_json_len;

/* The longest value string field key may have (a list's items each), and
 * the check of it: a longer value is a 400 "field "KEY" (or "KEY[INDEX]",
 * when index >= 0) is N bytes long; the limit is MAX". Every string read
 * from a body goes through it. */
#define API_FIELD_MAX_DEFAULT 255
size_t api_field_max(const char *key);
bool api_check_length(const char *key, long index, const char *value, struct api_resp *resp);

/* api/fields.c: more optional fields; a present value of another type is a 400. */
bool api_opt_bool(json_t *obj, const char *key, bool dflt, bool *out, struct api_resp *resp);
/* A body of one required string field, {"KEY": "…"}: on success *json is the
 * body (caller decrefs) and *value points into it; a missing KEY is a 400
 * "field "KEY" is required: WHAT". */
bool api_body_one_string(const struct api_req *req, struct api_resp *resp, const char *key, const char *what,
			 json_t **json, const char **value);
/* A list of strings; *out (free it) points into obj. */
bool api_opt_string_list(json_t *obj, const char *key, const char ***out, int *n, struct api_resp *resp);
/* A port or range given as a number or a string; *out is text (in buf or obj).
 * buf holds any JSON integer in full, so an error names the number as sent. */
#define API_PORT_BUF 24
bool api_opt_port(json_t *obj, const char *key, char buf[API_PORT_BUF], const char **out, struct api_resp *resp);

/* The route tables of each resource file. */
extern const struct api_route api_vm_routes[];
extern const struct api_route api_image_routes[];
extern const struct api_route api_volume_routes[];
extern const struct api_route api_snapshot_routes[];
extern const struct api_route api_misc_routes[];
extern const struct api_route api_network_routes[];
extern const struct api_route api_firewall_routes[];
extern const struct api_route api_token_routes[];
extern const struct api_route api_event_routes[];
extern const struct api_route api_stack_routes[];
extern const struct api_route api_lb_routes[];
extern const struct api_route api_usage_routes[];

/* api/usage.c: what each VM of ids has cost so far (its runs and its root
 * disk), into costs[i]; 0 for a VM without spans. */
int api_vm_costs(const struct api_req *req, const char *const *ids, int n, double *costs, struct err *e);
/* The same for the VMs of a page of the list, at the revisions it read. */
int api_vm_page_costs(const struct api_req *req, const struct vm_rev *revs, int n, double *costs, struct err *e);
extern const struct api_route api_session_routes[];
extern const struct api_route api_console_routes[];
extern const struct api_route api_group_routes[];
extern const struct api_route api_metrics_routes[];
/* Counts one answer that took us µs in GET /metrics' latency histogram (metrics.c). */
void api_metrics_observe(int64_t us);

enum api_auth {
	API_AUTH_OK,
	API_AUTH_DENIED,   /* answered 401, the same for every reason */
	API_AUTH_ERROR,    /* the store failed: e says how */
};

/* Checks the value of a request's Authorization header (NULL if absent)
 * against the stored tokens. On API_AUTH_DENIED, *why says for the log (never
 * for the client) what was wrong; it never contains the secret. */
/* The secret of an Authorization header "Bearer <secret>" (scheme in any
 * case, RFC 7235; spaces or tabs around the secret) copied into out, or false
 * when the header is not of that shape or the secret is not well formed
 * (secret_well_formed). A header longer than 512 bytes is refused unread. */
bool api_bearer_secret(const char *header, char out[SECRET_LEN + 1]);

enum api_auth api_token_check(struct store *st, const char *authorization, const char **why, struct err *e);
/* The same check of a bare secret; on API_AUTH_OK, *out (if not NULL) is its token. */
enum api_auth api_token_check_secret(struct store *st, const char *secret, struct token *out, const char **why,
				     struct err *e);

/* --- the web console (session.c, console.c, webui.c) --------------------- */

/* The cookie that carries a console session, and the header that carries its CSRF token. */
#define API_SESSION_COOKIE "nubo_session"
#define API_CSRF_HEADER "X-CSRF-Token"
/* How long a session lasts from its login, at most. */
#define API_SESSION_TTL_MS (12LL * 3600 * 1000)

/* The session of a cookie's value: API_AUTH_OK with *out filled, or
 * API_AUTH_DENIED with *why for the log (never the secret). */
enum api_auth api_session_check(struct store *st, const char *cookie, struct session *out, const char **why,
				struct err *e);
/* Whether header is the session's CSRF token, compared in constant time. */
bool api_csrf_ok(const struct session *s, const char *header);

/* Whether a request target is the WebSocket of a VM's serial console. */
bool api_console_ws_target(const char *method, const char *target);
/* State a connection keeps for its console WebSocket (console.c). */
struct api_ws;
/* Answers a console WebSocket request: 101 and the console, or an error.
 * *ws is what on_completed hands to api_console_ws_done. */
int api_console_ws_answer(struct ctl *ctl, void *mhd_conn, const char *target, struct api_ws **ws);
/* The connection ended (after its upgraded socket, if any, closed): drops its hold on ws. NULL safe. */
void api_console_ws_done(struct api_ws *ws);
/* Closes every console viewer and waits up to wait_ms for their threads;
 * returns how many are left. No viewer joins after it. */
int api_console_stop(int wait_ms);

/* Answers a request for one of the console's files (anything outside /v1)
 * from dir: GET and HEAD only; a path without a file of its own gets
 * index.html (the console's pages are addresses its script reads). */
int api_webui_answer(void *mhd_conn, const char *method, const char *target, const char *dir);
/* peer.c: files for the other hosts of the cloud (/v1/peer/...), with the
 * cluster's secret instead of a token. */
bool api_peer_target(const char *target);
int api_peer_answer(struct ctl *ctl, void *mhd_conn, const char *method, const char *target);
