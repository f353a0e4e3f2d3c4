/*
 * server: the HTTP side of the API. libmicrohttpd calls back once per chunk
 * of a request; the body is gathered (up to API_BODY_MAX), the route table
 * picks a handler, and its JSON is sent with the status it chose. Every
 * request is logged with its status and duration.
 *
 * A handler may ask for its request to be held (long-polling, see
 * longpoll.h): its connection is then suspended, which costs no thread, and
 * the handler runs again when the operation it watches changes, when its
 * wait runs out, or when nubod stops; every held request is answered before
 * the daemons stop.
 *
 * Each way in is a listener with its own libmicrohttpd daemon: the unix
 * socket (trusted: its mode and group decide who connects) and, when asked,
 * a TCP port with TLS where the token check runs as soon as the headers are
 * in, before any body is read or any handler runs.
 */
#include "api/api.h"

#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <grp.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "api/api-priv.h"
#include "api/gate.h"
#include "api/longpoll.h"
#include "api/vmcache.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/str.h"
#include "util/timeutil.h"

#define TLS_FILE_MAX (1024 * 1024)
/* TLS 1.2 and 1.3 only: every client nubo knows of speaks them. */
#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

struct api_server;

struct listener {
	struct api_server *srv;
	struct MHD_Daemon *daemon;
	struct gate *gate;        /* waiting connections and refused tokens (gate.h) */
	bool need_token;          /* TCP: every /v1 request needs a token or a console session */
	bool tls;
};

struct api_server {
	struct ctl *ctl;
	struct listener local;    /* the unix socket */
	struct listener remote;   /* HTTPS over TCP, or daemon NULL */
	struct listener http;     /* plain HTTP on a loopback address, or daemon NULL */
	char *socket_path;
	char *web_dir;            /* the web console's files, or NULL */
	char *tls_cert, *tls_key; /* PEM text, kept while the TLS daemon runs */
	struct longpoll *lp;      /* held requests of both listeners */
	/* the gates' clock: cuts waiting connections at their deadline */
	pthread_t ticker;
	bool ticking, stopping;
	pthread_mutex_t tick_lock;
	pthread_cond_t tick_cond;
};

/* How long a connection may take from its accept (TLS handshake included),
 * or from its previous answer, to the end of its next request's headers.
 * Every client nubo knows of sends them at once. */
#define WAIT_DEADLINE_MS 10000
/* Waiting connections one address (or, on the unix socket, one uid) may
 * hold; one more cuts its oldest. A real client's connection waits for a
 * millisecond or two, so many clients behind one NAT fit too; and a flood
 * from the client's own address must not reach this many between its
 * accept and the read of its headers (gate.h). */
#define WAITING_PER_PEER 64
/* Every connection of one address, waiting or not (libmicrohttpd refuses
 * the next at accept, before the gate sees it). Well above
 * WAITING_PER_PEER: connections the gate has cut take a moment to close,
 * and a flood that reconnects at once must not fill this with them while
 * a real client from the same address connects. */
#define TCP_PER_ADDRESS_MAX 1024
/* Each listener's share of the descriptors: a quarter of RLIMIT_NOFILE,
 * so that half is kept for QEMU's sockets, taps, the store and the rest;
 * at most this many. */
#define LISTENER_CONNECTIONS_MAX 65536u

/* How long nubod's stop waits for held requests to be answered. */
#define HELD_ANSWER_MAX_MS 3000
/* Runs of a handler in a row that notifications may cause before it answers anyway. */
#define HOLD_RETRIES_MAX 100

/* What a request's target leads to, which decides how it is let in over TCP. */
enum door {
	DOOR_API,       /* /v1: a token (Authorization: Bearer) or a console session */
	DOOR_LOGIN,     /* POST /v1/session: its body carries the token */
	DOOR_CONSOLE,   /* a console WebSocket: its ticket is the credential */
	DOOR_FILES,     /* the web console's files: public */
	DOOR_PEER,      /* /v1/peer/...: another host's fetch, with the cluster's secret (api/peer.c) */
};

static enum door door_of(const char *method, const char *target)
{
	size_t n = strcspn(target, "?");
	if (n == strlen("/metrics") && strncmp(target, "/metrics", n) == 0)
		return DOOR_API;   /* Prometheus text (api/metrics.c): as private as the API */
	if (!(n >= 3 && strncmp(target, "/v1", 3) == 0 && (n == 3 || target[3] == '/')))
		return DOOR_FILES;
	if (strcmp(method, "POST") == 0 && n == strlen("/v1/session") && strncmp(target, "/v1/session", n) == 0)
		return DOOR_LOGIN;
	if (api_console_ws_target(method, target))
		return DOOR_CONSOLE;
	if (api_peer_target(target))
		return DOOR_PEER;
	return DOOR_API;
}

struct conn {
	char *target;                 /* the request target as sent, before libmicrohttpd decodes it */
	bool started;                 /* on_request has seen the headers */
	struct sbuf body;
	bool too_large;
	int64_t t0;
	bool held;                    /* hold is what the handler asked for */
	struct api_hold hold;
	struct longpoll_entry lpe;
	enum door door;               /* what the target is, decided with the headers */
	struct session session;       /* the console session that sent it (has_session) */
	bool has_session;
	struct api_ws *ws;            /* a console WebSocket's state until its upgrade */
	struct image_upload *upload;  /* an image coming in as the body (upload.c), until it is in */
	bool answered;                /* queued before the body was read whole: the rest is dropped */
};

static void dispatch(struct api_req *req, struct api_resp *resp, const char *raw_path)
{
	struct api_path p;
	struct err e = {0};
	int status;
	const struct api_route *r = api_route_find(req->method, raw_path, &p, req->args, &status, &e);
	if (!r) {
		api_error(resp, &e);
		resp->status = status;
		return;
	}
	r->handler(req, resp);
}

static enum MHD_Result send_resp(struct MHD_Connection *conn, struct api_resp *resp)
{
	char *data;
	size_t len;
	const char *type;
	if (resp->json) {
		/* Compact: a third smaller than indented, and as cheap to make.
		 * The CLI indents what it prints. */
		data = json_dumps(resp->json, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
		len = strlen(data);
		type = "application/json";
	} else if (resp->json_text) {
		data = resp->json_text;
		resp->json_text = NULL;
		len = resp->json_len;
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
	if (resp->set_cookie) {
		MHD_add_response_header(r, MHD_HTTP_HEADER_SET_COOKIE, resp->set_cookie);
		MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	}
	if (resp->status == 401) {   /* RFC 6750: say which scheme would be accepted */
		MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"nubo\"");
		/* a client without a token gets nothing more from this connection */
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
	}
	enum MHD_Result ret = MHD_queue_response(conn, (unsigned)resp->status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result refuse(struct MHD_Connection *conn, int status, const struct err *e)
{
	struct api_resp resp = {0};
	api_error(&resp, e);
	resp.status = status;
	enum MHD_Result ret = send_resp(conn, &resp);
	json_decref(resp.json);
	return ret;
}

/* The check of a /v1 request on a listener that needs a token: a bearer
 * token, or else the console's session cookie, with its CSRF token on every
 * method but GET and HEAD. Returns true to go on (c->session set for a
 * session); on false the answer (401, 403, or 500 if the store failed) is
 * queued in *ret. A refused client learns nothing of why: the reason goes
 * to the log only. */
static bool authorized(struct listener *l, struct conn *c, struct MHD_Connection *conn, const char *method,
		       const char *url, enum MHD_Result *ret)
{
	const char *header = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	const char *cookie = MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, API_SESSION_COOKIE);
	const char *why = NULL;
	struct err e = {0};
	struct store *st = ctl_store(l->srv->ctl);
	enum api_auth a;
	if (header || !cookie) {
		a = api_token_check(st, header, &why, &e);
	} else {
		a = api_session_check(st, cookie, &c->session, &why, &e);
		c->has_session = a == API_AUTH_OK;
	}
	if (a == API_AUTH_OK && c->has_session && strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 &&
	    !api_csrf_ok(&c->session,
			 MHD_lookup_connection_value(conn, MHD_HEADER_KIND, API_CSRF_HEADER))) {
		char msg[256];
		snprintf(msg, sizeof(msg),
			 "a console session's %s needs the header " API_CSRF_HEADER " with the session's CSRF token "
			 "(from POST or GET /v1/session)", method);
		log_info("%s %s → 403: a console session without its CSRF token", method, url);
		struct api_resp resp = {.status = 403,
					.json = json_pack("{s:{s:s, s:s}}", "error", "code", "forbidden", "message", msg)};
		*ret = send_resp(conn, &resp);
		json_decref(resp.json);
		return false;
	}
	if (a == API_AUTH_OK)
		return true;
	if (a == API_AUTH_DENIED) {
		struct err u = {0};
		err_set(&u, ERR_UNAUTHORIZED,
			"a valid API token is required: send the header \"Authorization: Bearer <token>\"");
		*ret = refuse(conn, 401, &u);
		gate_auth_failed(l->gate, conn, method, url, why);
	} else {
		char peer[64];
		gate_peer_name(conn, peer, sizeof(peer));
		log_error("%s %s from %s → 500: cannot check its credentials: %s", method, url, peer, e.msg);
		*ret = refuse(conn, err_kind_http_status(e.kind), &e);
	}
	return false;
}

/* libmicrohttpd's first word of a request: its target as the client sent
 * it, before libmicrohttpd decodes it (route.c decodes segment by segment).
 * The struct conn made here is *con_cls in every later call. */
static void *on_target(void *cls, const char *uri, struct MHD_Connection *connection)
{
	(void)cls;
	(void)connection;
	struct conn *c = xcalloc(1, sizeof(*c));
	c->target = xstrdup(uri ? uri : "");
	c->t0 = time_mono_ms();
	return c;
}

struct framing {
	int content_length, transfer_encoding;
	bool chunked_only;
};

static enum MHD_Result count_framing(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	(void)kind;
	struct framing *f = cls;
	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
		f->content_length++;
	} else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
		f->transfer_encoding++;
		f->chunked_only = value && strcasecmp(value, "chunked") == 0;
	}
	return MHD_YES;
}

/* A body framed two ways is how a request is smuggled past whatever reads
 * it the other way (RFC 9112, section 6.3): such a request is refused as a
 * whole. libmicrohttpd would frame it by Transfer-Encoding and go on to
 * serve what follows the chunks as a second request. Only "chunked" is
 * understood as a transfer coding. Returns 0 or the status to refuse with. */
static int framing_check(struct MHD_Connection *conn, struct err *e)
{
	struct framing f = {0};
	MHD_get_connection_values(conn, MHD_HEADER_KIND, count_framing, &f);
	if (f.content_length && f.transfer_encoding) {
		err_set(e, ERR_INVALID,
			"the request has both Content-Length and Transfer-Encoding headers; send one of them "
			"(RFC 9112, section 6.3)");
		return 400;
	}
	if (f.content_length > 1 || f.transfer_encoding > 1) {
		err_set(e, ERR_INVALID, "the request repeats its %s header; send it once",
			f.content_length > 1 ? "Content-Length" : "Transfer-Encoding");
		return 400;
	}
	if (f.transfer_encoding && !f.chunked_only) {
		err_set(e, ERR_INVALID, "the only Transfer-Encoding understood is chunked");
		return 501;
	}
	return 0;
}

/* Who sent the request: a token holder over TCP, or on the unix socket the
 * user the kernel says is at the other end (SO_PEERCRED). */
static struct ctl_caller caller_of(const struct listener *l, struct MHD_Connection *conn)
{
	struct ctl_caller who = {.remote = l->need_token};
	const union MHD_ConnectionInfo *fi = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct ucred cred;
	socklen_t len = sizeof(cred);
	if (!who.remote && fi && getsockopt(fi->connect_fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
		who.has_cred = true;
		who.uid = cred.uid;
		who.gid = cred.gid;
	}
	return who;
}

/* An upload's part of on_request: its start (begin), a chunk, or its end
 * (n 0). A refusal before the body is whole is answered at once; if
 * libmicrohttpd cannot send it yet, the connection is closed. */
static enum MHD_Result upload_step(struct listener *l, struct conn *c, struct MHD_Connection *connection,
				   const char *method, const char *url, bool begin, const char *data, size_t n)
{
	if (c->answered)
		return MHD_YES;   /* the rest of a refused body */
	struct api_resp resp = {0};
	if (begin) {
		struct api_req req = {.method = method, .path = url, .ctl = l->srv->ctl, .conn = connection,
				      .caller = caller_of(l, connection)};
		c->upload = api_upload_begin(&req, &resp);
		if (c->upload)
			return MHD_YES;
	} else if (n) {
		if (api_upload_write(c->upload, data, n, &resp))
			return MHD_YES;
		c->upload = NULL;   /* freed */
	} else {
		api_upload_end(c->upload, &resp);
		c->upload = NULL;
	}
	c->answered = true;
	int status = resp.status;
	enum MHD_Result ret = send_resp(connection, &resp);
	json_decref(resp.json);
	log_info("%s %s → %d (%lld ms)", method, url, status, (long long)(time_mono_ms() - c->t0));
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *connection, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	(void)version;
	struct listener *l = cls;
	struct conn *c = *con_cls;
	if (!c) /* on_target always runs first; this is in case it did not */
		c = *con_cls = on_target(NULL, url, connection);
	if (!c->started) {
		/* Headers are in, the body is not: a refusal here never reads it,
		 * and libmicrohttpd closes the connection after answering it. */
		c->started = true;
		gate_request_started(l->gate, connection);
		struct err e = {0};
		int refuse = framing_check(connection, &e);
		if (refuse) {
			struct api_resp resp = {0};
			api_error(&resp, &e);
			resp.status = refuse;
			enum MHD_Result ret = send_resp(connection, &resp);
			json_decref(resp.json);
			log_info("%s %s → %d: %s", method, url, refuse, e.msg);
			return ret;
		}
		c->door = door_of(method, c->target);
		enum MHD_Result refused;
		if (l->need_token && c->door == DOOR_API && !authorized(l, c, connection, method, url, &refused))
			return refused;
		if (c->door == DOOR_API && api_upload_wanted(method, c->target, connection))
			return upload_step(l, c, connection, method, url, true, NULL, 0);
		return MHD_YES;
	}
	if (c->upload || c->answered) {
		enum MHD_Result ret = upload_step(l, c, connection, method, url, false, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return ret;
	}
	if (*upload_data_size) {
		if (c->body.len + *upload_data_size > API_BODY_MAX)
			c->too_large = true;
		else
			sbuf_addn(&c->body, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (c->door == DOOR_FILES) {
		enum MHD_Result ret = (enum MHD_Result)api_webui_answer(connection, method, c->target, l->srv->web_dir);
		log_debug("%s %s (web console file)", method, url);
		return ret;
	}
	if (c->door == DOOR_PEER)
		return (enum MHD_Result)api_peer_answer(l->srv->ctl, connection, method, c->target);
	if (c->door == DOOR_CONSOLE) {
		log_info("%s %s (console WebSocket)", method, url);   /* url has no query: the ticket stays out of the log */
		return (enum MHD_Result)api_console_ws_answer(l->srv->ctl, connection, c->target, &c->ws);
	}
	struct api_req req = {.method = method, .path = url, .ctl = l->srv->ctl, .caller = caller_of(l, connection),
			      .body = c->body.data ? c->body.data : "", .body_len = c->body.len, .conn = connection,
			      .held = c->held ? &c->hold : NULL, .session = c->has_session ? &c->session : NULL,
			      .secure = l->tls};
	struct api_resp resp = {0};
	if (c->too_large) {
		struct err e = {0};
		err_set(&e, ERR_INVALID, "the request body is larger than %d bytes", API_BODY_MAX);
		api_error(&resp, &e);
		resp.status = 413;
	} else {
		for (int run = 0;; run++) {
			struct longpoll *lp = l->srv->lp;
			uint64_t seq = longpoll_seq(lp);
			dispatch(&req, &resp, c->target);
			if (!resp.hold.key[0])
				break;
			c->hold = resp.hold;
			c->held = true;
			req.held = &c->hold;
			memset(&resp, 0, sizeof(resp));
			c->lpe.conn = connection;
			snprintf(c->lpe.key, sizeof(c->lpe.key), "%s", c->hold.key);
			c->lpe.until_ms = c->hold.until_ms;
			enum longpoll_result r = run < HOLD_RETRIES_MAX ? longpoll_hold(lp, &c->lpe, seq)
									: LONGPOLL_STOPPING;
			if (r == LONGPOLL_HELD)
				return MHD_YES;   /* resumed later: this function runs again */
			if (r == LONGPOLL_STOPPING)
				c->hold.until_ms = 0;   /* answer the state as it is */
		}
	}
	int status = resp.status;
	enum MHD_Result ret = send_resp(connection, &resp);
	json_decref(resp.json);
	free(resp.text);
	free(resp.json_text);   /* not sent (send_resp takes it when it is) */
	free(resp.set_cookie);
	int64_t ms = time_mono_ms() - c->t0;
	api_metrics_observe(ms * 1000);
	if (strcmp(method, "GET") == 0 && status < 400)
		log_debug("%s %s → %d (%lld ms)", method, url, status, (long long)ms);
	else
		log_info("%s %s → %d (%lld ms)", method, url, status, (long long)ms);
	return ret;
}

static void on_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct listener *l = cls;
	gate_request_done(l->gate, connection);
	struct conn *c = *con_cls;
	if (c) {
		if (c->upload)   /* the body broke off */
			ctl_image_upload_abort(c->upload, toe == MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN
								 ? "nubod stopped before the upload was whole"
								 : "the client went before the upload was whole");
		longpoll_done(l->srv->lp, &c->lpe);
		api_console_ws_done(c->ws);
		explicit_bzero(&c->session, sizeof(c->session));
		sbuf_free(&c->body);
		free(c->target);
		free(c);
		*con_cls = NULL;
	}
}

/* --- the unix socket ---------------------------------------------------- */

/* Gives the socket to API_SOCKET_GROUP so that its members may use nubo
 * without root. Without the group the socket keeps its owner and group
 * (root:root for a nubod run as root), and says so. */
static void socket_set_group(const char *path)
{
	struct group gr, *found = NULL;
	char buf[4096];
	int rc = getgrnam_r(API_SOCKET_GROUP, &gr, buf, sizeof(buf), &found);
	if (!found) {
		log_warn("api: group \"%s\" does not exist%s%s, so %s stays owned by uid %u, gid %u (mode 0660) and only "
			 "they can use nubo; to let other users in: groupadd --system %s, add them to it, restart nubod",
			 API_SOCKET_GROUP, rc ? ": " : "", rc ? strerror(rc) : "", path, (unsigned)geteuid(),
			 (unsigned)getegid(), API_SOCKET_GROUP);
		return;
	}
	if (chown(path, (uid_t)-1, found->gr_gid) < 0)
		log_warn("api: cannot give %s to group %s: %s; only its owner can use nubo", path, API_SOCKET_GROUP,
			 strerror(errno));
	else
		log_info("api: %s is mode 0660, group %s: members of %s may use nubo", path, API_SOCKET_GROUP,
			 API_SOCKET_GROUP);
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
	if (rc < 0 || listen(fd, SOMAXCONN) < 0) {   /* a burst of local clients waits, not refused */
		int saved = errno;
		close(fd);
		return err_set(e, ERR_INTERNAL, "cannot listen on %s: %s", path, strerror(saved));
	}
	chmod(path, 0660);
	socket_set_group(path);
	return fd;
}

/* --- HTTPS over TCP ----------------------------------------------------- */

/* Splits "HOST:PORT" or "[IPV6]:PORT" into *host and *port (caller frees both). */
static int split_listen(const char *addr, char **host, char **port, struct err *e)
{
	const char *colon = strrchr(addr, ':');
	const char *h = addr, *h_end = colon;
	if (addr[0] == '[') {
		h = addr + 1;
		h_end = strchr(addr, ']');
		if (!h_end || h_end[1] != ':')
			h_end = NULL;
		colon = h_end ? h_end + 1 : NULL;
	}
	if (!colon || h_end == h)
		return err_set(e, ERR_INVALID,
			       "--listen %s: give HOST:PORT, e.g. 0.0.0.0:8443 (all IPv4 addresses), [::]:8443 or "
			       "127.0.0.1:8443", addr);
	char *end = NULL;
	errno = 0;
	long p = strtol(colon + 1, &end, 10);
	if (!colon[1] || *end || errno || p < 1 || p > 65535)
		return err_set(e, ERR_INVALID, "--listen %s: the port \"%s\" must be a number from 1 to 65535", addr,
			       colon + 1);
	*host = xstrndup(h, (size_t)(h_end - h));
	*port = xstrdup(colon + 1);
	return 0;
}

static int listen_tcp(const char *addr, struct err *e)
{
	char *host = NULL, *port = NULL;
	if (split_listen(addr, &host, &port, e) < 0)
		return -1;
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *ai = NULL;
	int gai = getaddrinfo(host, port, &hints, &ai);
	int fd = -1;
	if (gai != 0) {
		err_set(e, ERR_INVALID, "--listen %s: cannot resolve \"%s\": %s", addr, host, gai_strerror(gai));
	} else {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		int one = 1;
		if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
		    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, SOMAXCONN) < 0) {
			err_set(e, ERR_INTERNAL, "cannot listen on %s: %s", addr, strerror(errno));
			if (fd >= 0)
				close(fd);
			fd = -1;
		}
		freeaddrinfo(ai);
	}
	free(host);
	free(port);
	return fd;
}

/* Reads the certificate and key and checks, with GnuTLS, that each parses
 * and that they belong together, so a mistake is named here rather than as
 * a failed handshake later. */
static int tls_load(struct api_server *s, const struct api_options *o, struct err *e)
{
	size_t cert_len = 0, key_len = 0;
	if (fs_read_file(o->tls_cert, TLS_FILE_MAX, &s->tls_cert, &cert_len, e) < 0) {
		err_prefix(e, "--tls-cert");
		return -1;
	}
	if (fs_read_file(o->tls_key, TLS_FILE_MAX, &s->tls_key, &key_len, e) < 0) {
		err_prefix(e, "--tls-key");
		return -1;
	}
	gnutls_datum_t cert = {(unsigned char *)s->tls_cert, (unsigned)cert_len};
	gnutls_datum_t key = {(unsigned char *)s->tls_key, (unsigned)key_len};
	gnutls_x509_crt_t *crts = NULL;
	unsigned ncrt = 0;
	int rc = gnutls_x509_crt_list_import2(&crts, &ncrt, &cert, GNUTLS_X509_FMT_PEM, 0);
	if (rc < 0)
		return err_set(e, ERR_INVALID, "--tls-cert %s is not a PEM certificate: %s", o->tls_cert,
			       gnutls_strerror(rc));
	time_t expires = gnutls_x509_crt_get_expiration_time(crts[0]);
	for (unsigned i = 0; i < ncrt; i++)
		gnutls_x509_crt_deinit(crts[i]);
	gnutls_free(crts);
	if (expires != (time_t)-1 && expires < time(NULL))
		log_warn("api: the certificate in %s has expired; clients will refuse it", o->tls_cert);

	gnutls_x509_privkey_t pk;
	gnutls_x509_privkey_init(&pk);
	rc = gnutls_x509_privkey_import2(pk, &key, GNUTLS_X509_FMT_PEM, NULL, 0);
	gnutls_x509_privkey_deinit(pk);
	if (rc < 0)
		return err_set(e, ERR_INVALID, "--tls-key %s is not an unencrypted PEM private key: %s", o->tls_key,
			       gnutls_strerror(rc));

	gnutls_certificate_credentials_t cred;
	gnutls_certificate_allocate_credentials(&cred);
	rc = gnutls_certificate_set_x509_key_mem(cred, &cert, &key, GNUTLS_X509_FMT_PEM);
	gnutls_certificate_free_credentials(cred);
	if (rc < 0)
		return err_set(e, ERR_INVALID, "--tls-cert %s and --tls-key %s do not go together: %s", o->tls_cert,
			       o->tls_key, gnutls_strerror(rc));
	struct stat kst;
	if (stat(o->tls_key, &kst) == 0 && (kst.st_mode & 0044))
		log_warn("api: the private key %s can be read by other users (mode %03o); chmod 600 it",
			 o->tls_key, (unsigned)(kst.st_mode & 0777));
	return 0;
}

/* Connections one listener may hold (see LISTENER_CONNECTIONS_MAX). */
static unsigned listener_connections(void)
{
	struct rlimit rl;
	rlim_t n = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ? rl.rlim_cur : 1024;
	n /= 4;
	if (n > LISTENER_CONNECTIONS_MAX)
		n = LISTENER_CONNECTIONS_MAX;
	return n < 64 ? 64 : (unsigned)n;
}

/* The gates' clock (gate_tick), until api_stop. */
static void *ticker_main(void *arg)
{
	struct api_server *s = arg;
	pthread_mutex_lock(&s->tick_lock);
	while (!s->stopping) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += GATE_TICK_MS * 1000000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&s->tick_cond, &s->tick_lock, &ts);
		if (s->stopping)
			break;
		pthread_mutex_unlock(&s->tick_lock);
		int64_t now = time_mono_ms();
		if (s->remote.gate)
			gate_tick(s->remote.gate, now);
		if (s->http.gate)
			gate_tick(s->http.gate, now);
		if (s->local.gate)
			gate_tick(s->local.gate, now);
		pthread_mutex_lock(&s->tick_lock);
	}
	pthread_mutex_unlock(&s->tick_lock);
	return NULL;
}

static void ticker_start(struct api_server *s)
{
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->tick_cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&s->tick_lock, NULL);
	s->ticking = pthread_create(&s->ticker, NULL, ticker_main, s) == 0;
	if (!s->ticking)
		log_error("api: cannot start the thread that cuts idle connections; a slow client can hold one until "
			  "the 60 s idle timeout");
}

static void ticker_stop(struct api_server *s)
{
	if (!s->ticking)
		return;
	pthread_mutex_lock(&s->tick_lock);
	s->stopping = true;
	pthread_cond_signal(&s->tick_cond);
	pthread_mutex_unlock(&s->tick_lock);
	pthread_join(s->ticker, NULL);
	s->ticking = false;
}

/* Starts a TCP listener on addr: with TLS (l is &s->remote) or plain (&s->http). */
static int start_tcp(struct api_server *s, struct listener *l, const char *addr, bool tls, struct err *e)
{
	int fd = listen_tcp(addr, e);
	if (fd < 0)
		return -1;
	l->srv = s;
	l->need_token = true;
	l->tls = tls;
	l->gate = gate_new(tls ? "https" : "http", WAITING_PER_PEER, listener_connections() / 2, WAIT_DEADLINE_MS);
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_ALLOW_UPGRADE;
	if (tls)
		l->daemon = MHD_start_daemon(
			flags | MHD_USE_TLS, 0, NULL, NULL, on_request, l, MHD_OPTION_LISTEN_SOCKET, fd,
			MHD_OPTION_HTTPS_MEM_CERT, s->tls_cert, MHD_OPTION_HTTPS_MEM_KEY, s->tls_key,
			MHD_OPTION_HTTPS_PRIORITIES, TLS_PRIORITIES, MHD_OPTION_THREAD_POOL_SIZE, 2,
			MHD_OPTION_NOTIFY_COMPLETED, on_completed, l, MHD_OPTION_URI_LOG_CALLBACK, on_target, NULL,
			MHD_OPTION_NOTIFY_CONNECTION, gate_on_connection, l->gate, MHD_OPTION_CONNECTION_TIMEOUT, 60,
			MHD_OPTION_CONNECTION_LIMIT, listener_connections(), MHD_OPTION_PER_IP_CONNECTION_LIMIT,
			(unsigned)TCP_PER_ADDRESS_MAX, MHD_OPTION_END);
	else
		l->daemon = MHD_start_daemon(
			flags, 0, NULL, NULL, on_request, l, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_THREAD_POOL_SIZE, 2,
			MHD_OPTION_NOTIFY_COMPLETED, on_completed, l, MHD_OPTION_URI_LOG_CALLBACK, on_target, NULL,
			MHD_OPTION_NOTIFY_CONNECTION, gate_on_connection, l->gate, MHD_OPTION_CONNECTION_TIMEOUT, 60,
			MHD_OPTION_CONNECTION_LIMIT, listener_connections(), MHD_OPTION_PER_IP_CONNECTION_LIMIT,
			(unsigned)TCP_PER_ADDRESS_MAX, MHD_OPTION_END);
	if (!l->daemon) {
		close(fd);
		return err_set(e, ERR_INTERNAL, "cannot start the %s server on %s", tls ? "HTTPS" : "HTTP", addr);
	}
	log_info("api: listening on %s://%s (%s; the web console at /, and every /v1 request needs an API token or a "
		 "console session)", tls ? "https" : "http", addr, tls ? "TLS" : "plain HTTP, loopback only");
	return 0;
}

static int start_remote(struct api_server *s, const struct api_options *o, struct err *e)
{
	if (!o->tls_cert || !o->tls_key)
		return err_set(e, ERR_INVALID,
			       "--listen %s needs --tls-cert FILE and --tls-key FILE: tokens never cross a network "
			       "in clear", o->listen);
	if (!MHD_is_feature_supported(MHD_FEATURE_TLS))
		return err_set(e, ERR_INTERNAL, "--listen: this libmicrohttpd was built without TLS support");
	if (tls_load(s, o, e) < 0)
		return -1;
	if (start_tcp(s, &s->remote, o->listen, true, e) < 0) {
		err_prefix(e, "--listen");
		return -1;
	}
	return 0;
}

static bool addr_is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		return IN6_IS_ADDR_LOOPBACK(a) ||
		       (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return false;
}

int api_listen_http_check(const char *addr, struct err *e)
{
	char *host = NULL, *port = NULL;
	if (split_listen(addr, &host, &port, e) < 0) {
		err_prefix(e, "--listen-http");
		return -1;
	}
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
	struct addrinfo *ai = NULL;
	int rc = 0;
	if (getaddrinfo(host, port, &hints, &ai) != 0 || !addr_is_loopback(ai->ai_addr))
		rc = err_set(e, ERR_INVALID,
			     "--listen-http %s: plain HTTP is served on a loopback address only (127.0.0.1:PORT or "
			     "[::1]:PORT), where nothing crosses a network; for any other address use --listen HOST:PORT "
			     "with --tls-cert and --tls-key", addr);
	if (ai)
		freeaddrinfo(ai);
	free(host);
	free(port);
	return rc;
}

/* longpoll's hands on libmicrohttpd; suspend runs inside the request's own callback. */
static void conn_suspend(void *conn)
{
	MHD_suspend_connection(conn);
}

static void conn_resume(void *conn)
{
	MHD_resume_connection(conn);
}

/* ctl's word that an operation changed: requests waiting on it answer now. */
static void on_op_changed(void *arg, const char *op_id)
{
	struct api_server *s = arg;
	longpoll_notify(s->lp, op_id);
}

static void server_free(struct api_server *s)
{
	ticker_stop(s);
	gate_free(s->remote.gate);
	gate_free(s->http.gate);
	gate_free(s->local.gate);
	longpoll_free(s->lp);
	if (s->tls_key)
		explicit_bzero(s->tls_key, strlen(s->tls_key));
	free(s->tls_key);
	free(s->tls_cert);
	free(s->socket_path);
	free(s->web_dir);
	free(s);
}

int api_start(struct ctl *ctl, const struct api_options *o, struct api_server **out, struct err *e)
{
	struct api_server *s = xcalloc(1, sizeof(*s));
	s->ctl = ctl;
	s->lp = longpoll_new(conn_suspend, conn_resume);
	s->web_dir = xstrdup(o->web_dir);
	if (o->listen && start_remote(s, o, e) < 0) {
		server_free(s);
		return -1;
	}
	if (o->listen_http && (api_listen_http_check(o->listen_http, e) < 0 ||
			       start_tcp(s, &s->http, o->listen_http, false, e) < 0)) {
		if (s->remote.daemon)
			MHD_stop_daemon(s->remote.daemon);
		server_free(s);
		return -1;
	}
	s->socket_path = xstrdup(o->socket_path);
	int fd = listen_unix(o->socket_path, e);
	if (fd >= 0) {
		s->local.srv = s;
		s->local.gate = gate_new("unix", WAITING_PER_PEER, listener_connections() / 2, WAIT_DEADLINE_MS);
		s->local.daemon = MHD_start_daemon(
			MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_TURBO | MHD_ALLOW_SUSPEND_RESUME |
				MHD_ALLOW_UPGRADE, 0, NULL, NULL, on_request,
			&s->local, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_THREAD_POOL_SIZE, 4,
			MHD_OPTION_NOTIFY_COMPLETED, on_completed, &s->local, MHD_OPTION_URI_LOG_CALLBACK, on_target, NULL,
			MHD_OPTION_NOTIFY_CONNECTION, gate_on_connection, s->local.gate, MHD_OPTION_CONNECTION_TIMEOUT, 60,
			MHD_OPTION_CONNECTION_LIMIT, listener_connections(), MHD_OPTION_END);
		if (!s->local.daemon) {
			close(fd);
			unlink(s->socket_path);
			err_set(e, ERR_INTERNAL, "cannot start the HTTP server on %s", o->socket_path);
		}
	}
	if (!s->local.daemon) {
		if (s->remote.daemon)
			MHD_stop_daemon(s->remote.daemon);   /* closes its listening socket */
		if (s->http.daemon)
			MHD_stop_daemon(s->http.daemon);
		server_free(s);
		return -1;
	}
	ticker_start(s);
	ctl_set_op_listener(ctl, on_op_changed, s);
	log_info("api: listening on %s (up to %u connections per listener; a request's headers are due within %d s)",
		 o->socket_path, listener_connections(), WAIT_DEADLINE_MS / 1000);
	*out = s;
	return 0;
}

void api_stop(struct api_server *s)
{
	if (!s)
		return;
	ctl_set_op_listener(s->ctl, NULL, NULL);
	ticker_stop(s);
	/* Held requests are answered (the state as it is) before the daemons
	 * stop; a client that does not read its answer is not waited for long. */
	int left = longpoll_stop(s->lp, HELD_ANSWER_MAX_MS);
	if (left)
		log_warn("api: %d waiting request%s not answered within %d ms of stopping", left, left == 1 ? " was" : "s were",
			 HELD_ANSWER_MAX_MS);
	/* Console viewers hold upgraded connections: they end before their daemons. */
	int viewers = api_console_stop(HELD_ANSWER_MAX_MS);
	if (viewers)
		log_warn("api: %d console viewer%s did not close within %d ms of stopping", viewers,
			 viewers == 1 ? "" : "s", HELD_ANSWER_MAX_MS);
	/* Each daemon closes the listening socket it was given. */
	if (s->remote.daemon)
		MHD_stop_daemon(s->remote.daemon);
	if (s->http.daemon)
		MHD_stop_daemon(s->http.daemon);
	MHD_stop_daemon(s->local.daemon);
	unlink(s->socket_path);
	server_free(s);
	vmcache_clear();
}
