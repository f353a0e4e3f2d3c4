/*
 * client: nubod's REST API over libcurl (see client.h).
 *
 * One easy handle per client, reused for every request so that a waiting
 * loop polling every 150 ms keeps its connection. Over the unix socket the
 * URL's host is a placeholder ("http://nubo/v1/...") and libcurl connects
 * to the socket path instead.
 */
#include "cli/client.h"

#include <curl/curl.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "util/str.h"
#include "util/timeutil.h"

struct client {
	char *socket_path;
	char *base_url; /* without a trailing '/' */
	char *auth_header;
	char *cacert;
	char *endpoint;
	CURL *curl;
	CURLM *multi;   /* for requests that tick while they wait (client_json_ticking) */
};

struct client *client_new(const struct client_opts *opts)
{
	struct client *c = xcalloc(1, sizeof(*c));
	if (opts->url && *opts->url) {
		c->base_url = xstrdup(opts->url);
		size_t n = strlen(c->base_url);
		while (n > 0 && c->base_url[n - 1] == '/')
			c->base_url[--n] = '\0';
		c->endpoint = xstrdup(c->base_url);
	} else {
		c->socket_path = xstrdup(opts->socket_path && *opts->socket_path ? opts->socket_path
										  : CLIENT_DEFAULT_SOCKET);
		c->base_url = xstrdup("http://nubo");
		c->endpoint = xasprintf("unix socket %s", c->socket_path);
	}
	if (opts->token && *opts->token)
		c->auth_header = xasprintf("Authorization: Bearer %s", opts->token);
	if (opts->cacert && *opts->cacert)
		c->cacert = xstrdup(opts->cacert);
	return c;
}

void client_free(struct client *c)
{
	if (!c)
		return;
	if (c->multi)
		curl_multi_cleanup(c->multi);
	if (c->curl)
		curl_easy_cleanup(c->curl);
	free(c->socket_path);
	free(c->base_url);
	free(c->auth_header);
	free(c->cacert);
	free(c->endpoint);
	free(c);
}

const char *client_endpoint(const struct client *c)
{
	return c->endpoint;
}

void client_response_free(struct client_response *r)
{
	if (!r)
		return;
	free(r->body);
	r->body = NULL;
	r->len = 0;
}

static size_t on_body(char *data, size_t size, size_t n, void *userdata)
{
	sbuf_addn(userdata, data, size * n);
	return size * n;
}

/* A sentence for a transport failure that tells the user what to check. */
static int unreachable(struct client *c, CURLcode cc, const char *curl_msg, struct err *e)
{
	long os_errno = 0;
	curl_easy_getinfo(c->curl, CURLINFO_OS_ERRNO, &os_errno);
	const char *why = *curl_msg ? curl_msg : curl_easy_strerror(cc);
	if (c->socket_path && cc == CURLE_COULDNT_CONNECT) {
		if (os_errno == EACCES)
			err_set(e, ERR_UNAUTHORIZED,
				"cannot connect to nubod at %s: permission denied (run as root or as a member of the socket's group)",
				c->socket_path);
		else
			err_set(e, ERR_INTERNAL,
				"cannot connect to nubod at %s: %s (is nubod running? use --socket PATH or NUBO_SOCKET)",
				c->socket_path, os_errno ? strerror((int)os_errno) : why);
		return CLIENT_EUNREACHABLE;
	}
	/* TLS: say which side failed and what would fix it; retrying would not. */
	if (cc == CURLE_PEER_FAILED_VERIFICATION) {
		if (c->cacert)
			return err_set(e, ERR_INTERNAL, "cannot trust nubod's certificate at %s: %s (checked against --cacert %s)",
				       c->endpoint, why, c->cacert);
		return err_set(e, ERR_INTERNAL,
			       "cannot trust nubod's certificate at %s: %s; if nubod uses a self-signed certificate or a "
			       "private CA, give that certificate with --cacert FILE (or NUBO_CACERT)",
			       c->endpoint, why);
	}
	if (cc == CURLE_SSL_CACERT_BADFILE)
		return err_set(e, ERR_INVALID, "cannot use --cacert %s: %s (give a PEM certificate file)",
			       c->cacert ? c->cacert : "(the system's CA bundle)", why);
	if (cc == CURLE_SSL_CONNECT_ERROR)
		return err_set(e, ERR_INTERNAL, "TLS handshake with nubod at %s failed: %s (is this nubod's --listen port?)",
			       c->endpoint, why);
	if (cc == CURLE_GOT_NOTHING && str_starts_with(c->endpoint, "http://")) {
		err_set(e, ERR_INTERNAL, "nubod at %s closed the connection without an answer: %s (nubod's TCP port "
			"speaks only TLS: use an https:// URL)", c->endpoint, why);
		return CLIENT_EUNREACHABLE;
	}
	if (cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST || cc == CURLE_OPERATION_TIMEDOUT) {
		err_set(e, ERR_INTERNAL, "cannot reach nubod at %s: %s", c->endpoint, why);
		return CLIENT_EUNREACHABLE;
	}
	err_set(e, ERR_INTERNAL, "request to nubod at %s failed: %s", c->endpoint, why);
	return cc == CURLE_GOT_NOTHING || cc == CURLE_RECV_ERROR || cc == CURLE_SEND_ERROR
		       ? CLIENT_EUNREACHABLE
		       : -EIO;
}

struct ticker {
	int every_ms;
	bool (*fn)(void *arg);
	void *arg;
	bool aborted;
};

/* curl_easy_perform, but through the multi interface so that t->fn runs
 * about every t->every_ms while the answer is awaited (a held request may
 * take many seconds); it returns false to drop the request. */
static CURLcode perform_ticking(struct client *c, CURL *h, struct ticker *t)
{
	if (!c->multi && !(c->multi = curl_multi_init()))
		return CURLE_OUT_OF_MEMORY;
	if (curl_multi_add_handle(c->multi, h) != CURLM_OK)
		return CURLE_FAILED_INIT;
	CURLcode cc = CURLE_GOT_NOTHING;
	int64_t next = time_mono_ms() + t->every_ms;
	for (;;) {
		int running = 0;
		if (curl_multi_perform(c->multi, &running) != CURLM_OK) {
			cc = CURLE_RECV_ERROR;
			break;
		}
		if (!running) {
			CURLMsg *m;
			int left;
			while ((m = curl_multi_info_read(c->multi, &left)))
				if (m->msg == CURLMSG_DONE && m->easy_handle == h)
					cc = m->data.result;
			break;
		}
		int64_t now = time_mono_ms();
		if (now >= next) {
			if (!t->fn(t->arg)) {
				t->aborted = true;
				break;
			}
			next = now + t->every_ms;
		}
		/* A signal (Ctrl-C) ends the poll early: tick at once to notice it. */
		if (curl_multi_poll(c->multi, NULL, 0, (int)(next - now), NULL) != CURLM_OK)
			next = 0;
	}
	curl_multi_remove_handle(c->multi, h);
	return cc;
}

/* libcurl's read callback for an upload: the next bytes of the file. */
static size_t on_upload_read(char *buf, size_t size, size_t n, void *arg)
{
	const struct client_upload *up = arg;
	size_t got = fread(buf, 1, size * n, up->file);
	return got == 0 && ferror(up->file) ? CURL_READFUNC_ABORT : got;
}

static int on_upload_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	const struct client_upload *up = arg;
	up->progress(up->arg, (int64_t)ulnow, up->size);
	return 0;
}

static int call(struct client *c, const char *method, const char *path, const json_t *body,
		const struct client_upload *up, struct client_response *r, struct ticker *t, struct err *e)
{
	memset(r, 0, sizeof(*r));
	if (!c->curl) {
		c->curl = curl_easy_init();
		if (!c->curl)
			return err_set(e, ERR_INTERNAL, "cannot initialise libcurl");
	} else {
		curl_easy_reset(c->curl);
	}
	CURL *h = c->curl;
	autofree char *url = xasprintf("%s%s", c->base_url, path);
	autofree char *payload = NULL;
	struct curl_slist *headers = NULL;
	struct sbuf out = {0};
	char curl_msg[CURL_ERROR_SIZE] = "";

	/* No 100-continue round trip for JSON; an upload waits for it, so that a
	 * refusal made with the headers (a taken name, too large) is read
	 * before the file is sent. */
	if (!up)
		headers = curl_slist_append(headers, "Expect:");
	else
		headers = curl_slist_append(headers, "Expect: 100-continue");
	if (c->auth_header)
		headers = curl_slist_append(headers, c->auth_header);
	if (up) {
		headers = curl_slist_append(headers, "Content-Type: application/octet-stream");
	} else if (body) {
		payload = json_dumps(body, JSON_COMPACT);
		if (!payload)
			abort();
		headers = curl_slist_append(headers, "Content-Type: application/json");
	}

	curl_easy_setopt(h, CURLOPT_URL, url);
	if (c->socket_path)
		curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, c->socket_path);
	if (c->cacert)
		curl_easy_setopt(h, CURLOPT_CAINFO, c->cacert);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	if (up) {
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, on_upload_read);
		curl_easy_setopt(h, CURLOPT_READDATA, (void *)up);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)up->size);
		if (up->progress) {
			curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
			curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_upload_progress);
			curl_easy_setopt(h, CURLOPT_XFERINFODATA, (void *)up);
		}
	} else if (payload) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, payload);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(payload));
	} else if (strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
	} else if (strcmp(method, "GET") == 0) {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "nubo/" NUBO_VERSION);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &out);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curl_msg);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
	if (up) {   /* as long as it takes, while it moves */
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 120L);
	} else {
		/* Long actions answer 202 at once; only a console dump is big. */
		curl_easy_setopt(h, CURLOPT_TIMEOUT, 300L);
	}

	CURLcode cc = t ? perform_ticking(c, h, t) : curl_easy_perform(h);
	curl_slist_free_all(headers);
	if (t && t->aborted) {
		sbuf_free(&out);
		err_set(e, ERR_INTERNAL, "the request to nubod at %s was dropped", c->endpoint);
		return CLIENT_EABORTED;
	}
	if (cc != CURLE_OK) {
		sbuf_free(&out);
		return unreachable(c, cc, curl_msg, e);
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
	r->len = out.len;
	r->body = sbuf_take(&out);
	return 0;
}

int client_call(struct client *c, const char *method, const char *path, const json_t *body,
		struct client_response *r, struct err *e)
{
	return call(c, method, path, body, NULL, r, NULL, e);
}

static enum err_kind kind_from_code(const char *code, long status)
{
	static const struct {
		const char *code;
		enum err_kind kind;
	} codes[] = {
		{"invalid_argument", ERR_INVALID},   {"not_found", ERR_NOT_FOUND},
		{"conflict", ERR_CONFLICT},          {"unprocessable", ERR_UNPROCESSABLE},
		{"insufficient_capacity", ERR_CAPACITY}, {"unauthorized", ERR_UNAUTHORIZED},
		{"internal", ERR_INTERNAL},          {"unavailable", ERR_UNAVAILABLE},
	};
	for (size_t i = 0; code && i < sizeof(codes) / sizeof(codes[0]); i++)
		if (strcmp(code, codes[i].code) == 0)
			return codes[i].kind;
	switch (status) {
	case 400: return ERR_INVALID;
	case 401: case 403: return ERR_UNAUTHORIZED;
	case 404: return ERR_NOT_FOUND;
	case 409: return ERR_CONFLICT;
	case 422: return ERR_UNPROCESSABLE;
	case 507: return ERR_CAPACITY;
	case 503: return ERR_UNAVAILABLE;
	default: return ERR_INTERNAL;
	}
}

int client_error_from_response(const struct client_response *r, struct err *e)
{
	json_t *j = r->body ? json_loadb(r->body, r->len, 0, NULL) : NULL;
	json_t *eo = json_object_get(j, "error");
	const char *msg = json_string_value(json_object_get(eo, "message"));
	const char *code = json_string_value(json_object_get(eo, "code"));
	int rc;
	if (msg && *msg) {
		rc = err_set(e, kind_from_code(code, r->status), "%s", msg);
	} else {
		/* Not nubod's error shape (a proxy, or an old nubod): show the start of the text. */
		autofree char *text = xstrndup(r->body ? r->body : "", 200);
		text[strcspn(text, "\r\n")] = '\0';
		str_rstrip(text);
		if (*text)
			rc = err_set(e, kind_from_code(code, r->status), "nubod answered HTTP %ld: %s", r->status, text);
		else
			rc = err_set(e, kind_from_code(code, r->status), "nubod answered HTTP %ld", r->status);
	}
	json_decref(j);
	return rc;
}

static int json_call(struct client *c, const char *method, const char *path, const json_t *body,
		     const struct client_upload *up, json_t **out, long *status, struct ticker *t, struct err *e)
{
	struct client_response r;
	*out = NULL;
	int rc = call(c, method, path, body, up, &r, t, e);
	if (rc < 0)
		return rc;
	if (status)
		*status = r.status;
	if (r.status < 200 || r.status >= 300) {
		rc = client_error_from_response(&r, e);
		client_response_free(&r);
		return rc;
	}
	json_error_t je;
	*out = r.len ? json_loadb(r.body, r.len, 0, &je) : json_object();
	client_response_free(&r);
	if (!*out)
		return err_set(e, ERR_INTERNAL, "nubod sent a reply that is not JSON (%s, line %d) for %s %s",
			       je.text, je.line, method, path);
	return 0;
}

int client_json(struct client *c, const char *method, const char *path, const json_t *body,
		json_t **out, long *status, struct err *e)
{
	return json_call(c, method, path, body, NULL, out, status, NULL, e);
}

int client_json_upload(struct client *c, const char *path, const struct client_upload *up, json_t **out,
		       struct err *e)
{
	return json_call(c, "POST", path, NULL, up, out, NULL, NULL, e);
}

int client_json_ticking(struct client *c, const char *path, json_t **out, int tick_ms, bool (*tick)(void *arg),
			void *arg, struct err *e)
{
	struct ticker t = {.every_ms = tick_ms > 0 ? tick_ms : 100, .fn = tick, .arg = arg};
	return json_call(c, "GET", path, NULL, NULL, out, NULL, &t, e);
}

char *client_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	struct sbuf b = {0};
	sbuf_add(&b, "");
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    *p == '-' || *p == '.' || *p == '_' || *p == '~') {
			sbuf_addn(&b, (const char *)p, 1);
		} else {
			char enc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
			sbuf_addn(&b, enc, 3);
		}
	}
	return sbuf_take(&b);
}

char *client_path(const char *fmt, ...)
{
	struct sbuf b = {0};
	va_list ap;
	va_start(ap, fmt);
	for (const char *p = fmt; *p; p++) {
		if (p[0] == '%' && p[1] == 's') {
			autofree char *enc = client_escape(va_arg(ap, const char *));
			sbuf_add(&b, enc);
			p++;
		} else {
			sbuf_addn(&b, p, 1);
		}
	}
	va_end(ap);
	return sbuf_take(&b);
}

/* --- raw connections after an upgrade -------------------------------------- */

struct client_conn {
	CURL *h;
	curl_socket_t fd;
	char *early;
	size_t early_len;
};

long client_conn_send(struct client_conn *k, const void *buf, size_t n)
{
	size_t sent = 0;
	CURLcode cc = curl_easy_send(k->h, buf, n, &sent);
	if (cc == CURLE_AGAIN)
		return -EAGAIN;
	return cc == CURLE_OK ? (long)sent : -EIO;
}

long client_conn_recv(struct client_conn *k, void *buf, size_t n)
{
	size_t got = 0;
	CURLcode cc = curl_easy_recv(k->h, buf, n, &got);
	if (cc == CURLE_AGAIN)
		return -EAGAIN;
	return cc == CURLE_OK ? (long)got : -EIO;
}

int client_conn_fd(struct client_conn *k)
{
	return (int)k->fd;
}

const char *client_conn_early(struct client_conn *k, size_t *len)
{
	*len = k->early_len;
	k->early_len = 0;
	return k->early;
}

void client_conn_free(struct client_conn *k)
{
	if (!k)
		return;
	if (k->h)
		curl_easy_cleanup(k->h);
	free(k->early);
	free(k);
}

/* Waits up to ms for fd to be readable (in) or writable (!in). */
static bool conn_wait(curl_socket_t fd, bool in, int ms)
{
	struct pollfd p = {.fd = fd, .events = in ? POLLIN : POLLOUT};
	return poll(&p, 1, ms) > 0;
}

#define UPGRADE_HEAD_MAX (64 * 1024)

int client_websocket(struct client *c, const char *path, struct client_conn **out, struct err *e)
{
	struct client_conn *k = xcalloc(1, sizeof(*k));
	k->h = curl_easy_init();
	if (!k->h) {
		free(k);
		return err_set(e, ERR_INTERNAL, "cannot initialise libcurl");
	}
	autofree char *url = xasprintf("%s%s", c->base_url, path);
	char curl_msg[CURL_ERROR_SIZE] = "";
	curl_easy_setopt(k->h, CURLOPT_URL, url);
	if (c->socket_path)
		curl_easy_setopt(k->h, CURLOPT_UNIX_SOCKET_PATH, c->socket_path);
	if (c->cacert)
		curl_easy_setopt(k->h, CURLOPT_CAINFO, c->cacert);
	curl_easy_setopt(k->h, CURLOPT_CONNECT_ONLY, 1L);
	curl_easy_setopt(k->h, CURLOPT_ERRORBUFFER, curl_msg);
	curl_easy_setopt(k->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(k->h, CURLOPT_CONNECTTIMEOUT, 10L);
	CURLcode cc = curl_easy_perform(k->h);
	if (cc != CURLE_OK) {
		CURL *saved = c->curl;
		c->curl = k->h;   /* unreachable() reads the failed handle's errno */
		int rc = unreachable(c, cc, curl_msg, e);
		c->curl = saved;
		client_conn_free(k);
		return rc;
	}
	curl_easy_getinfo(k->h, CURLINFO_ACTIVESOCKET, &k->fd);
	/* The key only has to be the base64 of 16 bytes; nubod's answer is
	 * checked by its status, the connection being nubod's own. */
	char head[1024];
	int n = snprintf(head, sizeof(head),
			 "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: nubo/" NUBO_VERSION "\r\n%s%s"
			 "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: bnVib2NvbnNvbGVrZXkxMg==\r\n"
			 "Sec-WebSocket-Version: 13\r\n\r\n",
			 path, c->socket_path ? "nubo" : c->base_url + (str_starts_with(c->base_url, "https://") ? 8 : 7),
			 c->auth_header ? c->auth_header : "", c->auth_header ? "\r\n" : "");
	for (int off = 0; off < n;) {
		long w = client_conn_send(k, head + off, (size_t)(n - off));
		if (w == -EAGAIN && conn_wait(k->fd, false, 10000))
			continue;
		if (w <= 0) {
			client_conn_free(k);
			return err_set(e, ERR_INTERNAL, "cannot send to nubod at %s", c->endpoint);
		}
		off += (int)w;
	}
	struct sbuf in = {0};
	char *end = NULL;
	while (!end) {
		char buf[4096];
		long r = client_conn_recv(k, buf, sizeof(buf));
		if (r == -EAGAIN && conn_wait(k->fd, true, 10000))
			continue;
		if (r <= 0 || in.len + (size_t)r > UPGRADE_HEAD_MAX) {
			sbuf_free(&in);
			client_conn_free(k);
			return err_set(e, ERR_INTERNAL, "nubod at %s closed the console's connection without an answer",
				       c->endpoint);
		}
		sbuf_addn(&in, buf, (size_t)r);
		end = strstr(in.data, "\r\n\r\n");
	}
	long status = 0;
	sscanf(in.data, "HTTP/1.%*d %ld", &status);
	size_t head_len = (size_t)(end + 4 - in.data);
	if (status != 101) {
		/* An error answer's body is the API's JSON: whatever arrived of it. */
		struct client_response r = {.status = status, .body = xstrdup(in.data + head_len),
					    .len = in.len - head_len};
		if (status < 400)
			err_set(e, ERR_INTERNAL, "nubod at %s answered HTTP %ld to the console's upgrade", c->endpoint,
				status);
		else
			client_error_from_response(&r, e);
		client_response_free(&r);
		sbuf_free(&in);
		client_conn_free(k);
		return -1;
	}
	k->early_len = in.len - head_len;
	k->early = xcalloc(1, k->early_len + 1);
	memcpy(k->early, in.data + head_len, k->early_len);
	sbuf_free(&in);
	*out = k;
	return 0;
}
