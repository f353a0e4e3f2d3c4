/*
 * client: nubo's HTTP client for nubod's REST API (docs/api.md), on libcurl.
 *
 * By default it talks HTTP over the unix socket /run/nubo/nubod.sock; with a
 * base URL ("https://host:port") it talks TCP/TLS and, given a token, sends
 * "Authorization: Bearer <token>", checking nubod's certificate against the
 * system's CAs or a --cacert file. API errors ({"error":{"code","message"}})
 * come back as a struct err whose message is the API's own sentence.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/err.h"

#define CLIENT_DEFAULT_SOCKET "/run/nubo/nubod.sock"

struct client_opts {
	const char *socket_path; /* NULL: CLIENT_DEFAULT_SOCKET; ignored when url is set */
	const char *url;         /* "https://host:port" or NULL for the socket */
	const char *token;       /* bearer token or NULL */
	const char *cacert;      /* PEM file of the CA (or self-signed certificate) to trust for an https
				    URL, or NULL: the system's CAs */
};

struct client_response {
	long status;        /* HTTP status */
	char *body;         /* NUL-terminated, never NULL after success */
	size_t len;
};

/* Returned by client_call when nubod could not be reached at all (as opposed
 * to answering with an error), so that waiting loops may retry. */
#define CLIENT_EUNREACHABLE (-1000)
/* Returned by client_json_ticking when its tick asked to drop the request. */
#define CLIENT_EABORTED (-1001)

struct client;

/* Copies opts. Free with client_free(). */
struct client *client_new(const struct client_opts *opts);
void client_free(struct client *c);
/* Where requests go, for messages: "unix socket /run/nubo/nubod.sock" or the URL. */
const char *client_endpoint(const struct client *c);

/* One request. path starts with "/v1/". body may be NULL (no request body).
 * Returns 0 when nubod answered (any status; r filled, caller frees with
 * client_response_free()), CLIENT_EUNREACHABLE or another negative code with
 * e set when it did not. */
int client_call(struct client *c, const char *method, const char *path, const json_t *body,
		struct client_response *r, struct err *e);
void client_response_free(struct client_response *r);

/* A request whose answer is JSON. On 2xx, *out is the parsed body (caller
 * decrefs) and *status (if not NULL) the HTTP status. On an error status, e
 * holds the API's message and its kind, and the return is negative. */
int client_json(struct client *c, const char *method, const char *path, const json_t *body,
		json_t **out, long *status, struct err *e);

/* A POST whose body is a file (application/octet-stream), read as it is
 * sent: size bytes from file; progress (when not NULL) is called as they go. */
struct client_upload {
	FILE *file;
	int64_t size;
	void (*progress)(void *arg, int64_t sent, int64_t total);
	void *arg;
};
int client_json_upload(struct client *c, const char *path, const struct client_upload *up, json_t **out,
		       struct err *e);

/* A GET like client_json, for answers that may be held for seconds (a
 * long-poll): tick(arg) runs about every tick_ms while the answer is
 * awaited, to redraw a clock or notice Ctrl-C; when it returns false the
 * request is dropped and the return is CLIENT_EABORTED. */
int client_json_ticking(struct client *c, const char *path, json_t **out, int tick_ms, bool (*tick)(void *arg),
			void *arg, struct err *e);

/* Turns an error answer (status >= 400) into e: the API's message when the
 * body is the documented error JSON, else "nubod answered HTTP 502: <text>". */
int client_error_from_response(const struct client_response *r, struct err *e);

/* A raw connection to nubod after an HTTP upgrade (a WebSocket): bytes in
 * and out, through TLS on an https URL. */
struct client_conn;
/* Opens a connection to nubod (its socket, or the URL with TLS and the
 * token), asks for GET path with a WebSocket upgrade and reads the answer's
 * head. On 0, *out is open and past the 101; an error status is e with the
 * API's message. libcurl speaks no WebSocket here (Debian's is built
 * without it), so this sends the request line and headers itself and reads
 * back only the status line and the end of the head. */
int client_websocket(struct client *c, const char *path, struct client_conn **out, struct err *e);
/* What came after the 101's head with it (frames already sent), once: *len may be 0. */
const char *client_conn_early(struct client_conn *k, size_t *len);
/* Sends or receives without blocking: bytes moved, 0 at the end (recv),
 * -EAGAIN when nothing can move now (poll client_conn_fd), else negative. */
long client_conn_send(struct client_conn *k, const void *buf, size_t n);
long client_conn_recv(struct client_conn *k, void *buf, size_t n);
int client_conn_fd(struct client_conn *k);
void client_conn_free(struct client_conn *k);   /* NULL safe */

/* "/v1/vms/<name>" with the name percent-encoded; fmt holds one %s per name,
 * given as the following arguments. Caller frees. */
char *client_path(const char *fmt, ...);
/* Percent-encodes everything but RFC 3986 unreserved characters. Caller frees. */
char *client_escape(const char *s);
