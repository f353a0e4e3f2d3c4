/*
 * api: nubod's REST API under /v1 (libmicrohttpd). Handlers validate the
 * request, call ctl to change specs and answer; they never touch the host.
 *
 * Two doors lead in: the unix socket, guarded by its file permissions, and
 * optionally a TCP port that speaks only TLS and lets no request through
 * without a valid API token (Authorization: Bearer).
 */
#pragma once

#include "ctl/ctl.h"
#include "util/err.h"

struct api_server;

/* Members of this group may use the unix socket (when the group exists). */
#define API_SOCKET_GROUP "nubo"

struct api_options {
	const char *socket_path;   /* unix socket, mode 0660, group API_SOCKET_GROUP; trusted by its permissions */
	const char *listen;        /* "HOST:PORT" to serve HTTPS too, every request needing a token; or NULL */
	const char *tls_cert;      /* PEM certificate (chain) file; required with listen */
	const char *tls_key;       /* PEM private key file; required with listen */
	const char *listen_http;   /* "HOST:PORT" on a loopback address to serve plain HTTP too (the web
				    * console on this machine), every request needing a token or a session */
	const char *web_dir;       /* the web console's built files, or NULL: none */
};

/* Checks that addr ("HOST:PORT") is a loopback address, for --listen-http. */
int api_listen_http_check(const char *addr, struct err *e);

/* Starts the listeners; either all start or none is left running. */
int api_start(struct ctl *c, const struct api_options *o, struct api_server **out, struct err *e);
void api_stop(struct api_server *s);
