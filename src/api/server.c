/*
 * server: the HTTP side of the API. libmicrohttpd calls back once per chunk
 * of a request; the body is gathered (up to API_BODY_MAX), the route table
 * picks a handler, and its JSON is sent with the status it chose. Every
 * request is logged with its status and duration.
 */
#include "api/api.h"

#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "api/api-priv.h"
#include "util/log.h"
#include "util/str.h"
#include "util/timeutil.h"

struct api_server {
	struct MHD_Daemon *daemon;
	struct ctl *ctl;
	int listen_fd;
	char *socket_path;
};

struct conn {
	struct sbuf body;
	bool too_large;
	int64_t t0;
};

static const struct api_route *const tables[] = {api_vm_routes,       api_image_routes,   api_volume_routes,
						  api_snapshot_routes, api_misc_routes,    api_network_routes,
						  api_firewall_routes};

/* Matches path against pattern; {} matches one non-empty segment. */
static bool route_match(const char *pattern, const char *path, char segs[API_PATH_ARGS][256], int *nseg)
{
	*nseg = 0;
	while (*pattern && *path) {
		if (pattern[0] == '{' && pattern[1] == '}') {
			const char *end = strchr(path, '/');
			size_t n = end ? (size_t)(end - path) : strlen(path);
			if (n == 0 || n >= 256 || *nseg >= API_PATH_ARGS)
				return false;
			memcpy(segs[*nseg], path, n);
			segs[(*nseg)++][n] = '\0';
			path += n;
			pattern += 2;
			continue;
		}
		if (*pattern != *path)
			return false;
		pattern++;
		path++;
	}
	return *pattern == '\0' && *path == '\0';
}

static void dispatch(struct api_req *req, struct api_resp *resp)
{
	char segs[API_PATH_ARGS][256];
	int nseg;
	bool path_known = false;
	for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
		for (const struct api_route *r = tables[t]; r->method; r++) {
			if (!route_match(r->pattern, req->path, segs, &nseg))
				continue;
			path_known = true;
			if (strcmp(r->method, req->method) != 0)
				continue;
			for (int i = 0; i < nseg; i++)
				req->args[i] = segs[i];
			r->handler(req, resp);
			return;
		}
	}
	struct err e = {0};
	if (path_known) {
		err_set(&e, ERR_INVALID, "method %s is not allowed on %s", req->method, req->path);
		api_error(resp, &e);
		resp->status = 405;
	} else {
		err_set(&e, ERR_NOT_FOUND, "no such endpoint: %s %s", req->method, req->path);
		api_error(resp, &e);
	}
}

static enum MHD_Result send_resp(struct MHD_Connection *conn, struct api_resp *resp)
{
	char *data;
	size_t len;
	const char *type;
	if (resp->json) {
		data = json_dumps(resp->json, JSON_INDENT(2) | JSON_ENCODE_ANY);
		len = strlen(data);
		type = "application/json";
	} else {
		data = resp->text ? resp->text : xstrdup("");
		resp->text = NULL;
		len = resp->json ? 0 : strlen(data);
		if (resp->text_len)
			len = resp->text_len;
		type = "text/plain; charset=utf-8";
	}
	struct MHD_Response *r = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(r, "Content-Type", type);
	enum MHD_Result ret = MHD_queue_response(conn, (unsigned)resp->status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *connection, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	(void)version;
	struct api_server *srv = cls;
	struct conn *c = *con_cls;
	if (!c) {
		c = xcalloc(1, sizeof(*c));
		c->t0 = time_mono_ms();
		*con_cls = c;
		return MHD_YES;
	}
	if (*upload_data_size) {
		if (c->body.len + *upload_data_size > API_BODY_MAX)
			c->too_large = true;
		else
			sbuf_addn(&c->body, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	struct api_req req = {.method = method, .path = url, .ctl = srv->ctl,
			      .body = c->body.data ? c->body.data : "", .body_len = c->body.len};
	struct api_resp resp = {0};
	if (c->too_large) {
		struct err e = {0};
		err_set(&e, ERR_INVALID, "the request body is larger than %d bytes", API_BODY_MAX);
		api_error(&resp, &e);
		resp.status = 413;
	} else {
		dispatch(&req, &resp);
	}
	int status = resp.status;
	enum MHD_Result ret = send_resp(connection, &resp);
	json_decref(resp.json);
	free(resp.text);
	int64_t ms = time_mono_ms() - c->t0;
	if (strcmp(method, "GET") == 0 && status < 400)
		log_debug("%s %s → %d (%lld ms)", method, url, status, (long long)ms);
	else
		log_info("%s %s → %d (%lld ms)", method, url, status, (long long)ms);
	return ret;
}

static void on_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)connection;
	(void)toe;
	struct conn *c = *con_cls;
	if (c) {
		sbuf_free(&c->body);
		free(c);
		*con_cls = NULL;
	}
}

static int listen_unix(const char *path, struct err *e)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		return err_set(e, ERR_INVALID, "socket path %s is longer than %zu bytes", path, sizeof(sa.sun_path) - 1);
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_set(e, ERR_INTERNAL, "socket: %s", strerror(errno));
	/* A socket file left by a nubod that died is stale only if nobody answers on it. */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		close(fd);
		return err_set(e, ERR_CONFLICT, "another nubod is already listening on %s", path);
	}
	unlink(path);
	mode_t old = umask(0117);
	int rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc < 0 || listen(fd, 128) < 0) {
		int saved = errno;
		close(fd);
		return err_set(e, ERR_INTERNAL, "cannot listen on %s: %s", path, strerror(saved));
	}
	chmod(path, 0660);
	return fd;
}

int api_start(struct ctl *ctl, const struct api_options *o, struct api_server **out, struct err *e)
{
	struct api_server *s = xcalloc(1, sizeof(*s));
	s->ctl = ctl;
	s->socket_path = xstrdup(o->socket_path);
	s->listen_fd = listen_unix(o->socket_path, e);
	if (s->listen_fd < 0) {
		free(s->socket_path);
		free(s);
		return -1;
	}
	s->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_TURBO, 0, NULL, NULL,
				     on_request, s, MHD_OPTION_LISTEN_SOCKET, s->listen_fd,
				     MHD_OPTION_THREAD_POOL_SIZE, 4, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
				     MHD_OPTION_CONNECTION_TIMEOUT, 60, MHD_OPTION_END);
	if (!s->daemon) {
		close(s->listen_fd);
		unlink(s->socket_path);
		free(s->socket_path);
		free(s);
		return err_set(e, ERR_INTERNAL, "cannot start the HTTP server on %s", o->socket_path);
	}
	log_info("api: listening on %s", o->socket_path);
	*out = s;
	return 0;
}

void api_stop(struct api_server *s)
{
	if (!s)
		return;
	MHD_stop_daemon(s->daemon);
	close(s->listen_fd);
	unlink(s->socket_path);
	free(s->socket_path);
	free(s);
}

/* --- helpers for handlers ------------------------------------------------ */

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
	*out = json_string_value(v);
	return true;
}
