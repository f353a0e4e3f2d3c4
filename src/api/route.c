/*
 * route: from a request's path, as the client sent it, to the handler of its
 * route and the names it addresses.
 *
 * The path is split at '/' first and each segment percent-decoded on its
 * own, so an encoded slash can never make a new segment and an encoded NUL
 * can never cut one short (libmicrohttpd's own decoding of the whole URL
 * did both: "odd2%00.bak" reached a handler as "odd2"). A segment the route
 * takes as an argument must then decode to something a name or an id can
 * be; anything else is a 400 that quotes the segment as it was sent.
 */
#include <stdio.h>
#include <string.h>

#include "api/api-priv.h"
#include "model/machine_type.h"

static const struct api_route *const tables[] = {api_vm_routes,	   api_image_routes,	api_volume_routes,
						  api_snapshot_routes, api_misc_routes,	api_network_routes,
						  api_firewall_routes, api_token_routes, api_event_routes, api_stack_routes, api_lb_routes,
						  api_usage_routes, api_session_routes, api_console_routes,
						  api_group_routes, api_metrics_routes};

/* The longest quote of a segment in a message, in bytes of the quote. */
#define QUOTE_MAX 80

/* Writes seg (n bytes, as sent) into out for a message: printable ASCII as
 * it is, every other byte as %XX, cut at QUOTE_MAX with "…". The result is
 * always valid UTF-8, whatever the client sent, since it travels in JSON. */
static void quote(const char *seg, size_t n, char out[QUOTE_MAX + 8])
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)seg[i];
		if (o + 3 > QUOTE_MAX) {
			memcpy(out + o, "…", sizeof("…"));
			return;
		}
		if (c > 0x20 && c < 0x7f && c != '"' && c != '\\')
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, 4, "%%%02X", c);
	}
	out[o] = '\0';
}

static int hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes one segment (n bytes as sent) into out. */
static int segment_decode(const char *s, size_t n, char out[API_SEG_MAX + 1], struct err *e)
{
	char q[QUOTE_MAX + 8];
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '%') {
			int hi = i + 2 < n ? hex(s[i + 1]) : -1;
			int lo = hi >= 0 ? hex(s[i + 2]) : -1;
			if (lo < 0) {
				quote(s, n, q);
				return err_set(e, ERR_INVALID,
					       "path segment \"%s\" has a %% that is not followed by two hex digits", q);
			}
			c = (char)(hi * 16 + lo);
			i += 2;
			if (c == '\0') {
				quote(s, n, q);
				return err_set(e, ERR_INVALID,
					       "path segment \"%s\" holds an encoded NUL (%%00), which no name can", q);
			}
		}
		if (o == API_SEG_MAX) {
			quote(s, n, q);
			return err_set(e, ERR_INVALID, "path segment \"%s\" is %zu bytes long; the limit is %d", q, n,
				       API_SEG_MAX);
		}
		out[o++] = c;
	}
	out[o] = '\0';
	return 0;
}

int api_path_parse(const char *raw, struct api_path *p, struct err *e)
{
	memset(p, 0, sizeof(*p));
	size_t len = strcspn(raw, "?");
	if (len == 0 || raw[0] != '/')
		return err_set(e, ERR_INVALID, "the request target must be a path that starts with /");
	const char *s = raw + 1;
	const char *end = raw + len;
	/* Every segment is decoded, also past the last one p can hold, so that
	 * a bad segment is a 400 wherever it is. */
	char scratch[API_SEG_MAX + 1];
	int n_all = 0;
	for (;;) {
		const char *slash = memchr(s, '/', (size_t)(end - s));
		size_t n = slash ? (size_t)(slash - s) : (size_t)(end - s);
		bool kept = n_all < API_PATH_SEGS;
		if (segment_decode(s, n, kept ? p->seg[n_all] : scratch, e) < 0)
			return -1;
		if (kept) {
			p->raw[n_all] = s;
			p->raw_len[n_all] = n;
			p->n = n_all + 1;
		}
		n_all++;
		if (!slash)
			break;
		s = slash + 1;
	}
	if (n_all > API_PATH_SEGS)
		return err_set(e, ERR_NOT_FOUND, "no such endpoint: no path has more than %d segments", API_PATH_SEGS);
	return 0;
}

/* What a segment taken as an argument may decode to: a name (a DNS label),
 * a prefixed id, a port or a protocol, or a balancer's target with its own
 * port (NAME:PORT). All of them are lowercase letters, digits and dashes,
 * with at most one ':' followed by digits, no longer than a name. */
static int argument_check(const struct api_path *p, int i, struct err *e)
{
	const char *s = p->seg[i];
	size_t n = strlen(s);
	char q[QUOTE_MAX + 8];
	quote(p->raw[i], p->raw_len[i], q);
	if (n > NAME_MAX_LEN)
		return err_set(e, ERR_INVALID, "path segment \"%s\" is %zu bytes long; the limit is %d", q, n,
			       NAME_MAX_LEN);
	const char *colon = strchr(s, ':');
	bool port_ok = !colon || (colon > s && colon[1] && strspn(colon + 1, "0123456789") == strlen(colon + 1));
	for (size_t k = 0; k < n; k++) {
		char c = s[k];
		if (!port_ok || !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || s + k == colon))
			return err_set(e, ERR_INVALID,
				       "path segment \"%s\" is not a valid name: names and ids are made of a-z, 0-9 "
				       "and - (a target may add :PORT)",
				       q);
	}
	return 0;
}

/* Does p have the shape of pattern? Each "{}" takes one non-empty segment;
 * their indexes go to argi. */
static bool shape_match(const char *pattern, const struct api_path *p, int argi[API_PATH_ARGS], int *nargs)
{
	*nargs = 0;
	if (pattern[0] != '/')
		return false;
	const char *s = pattern + 1;
	for (int i = 0;; i++) {
		if (i == p->n)
			return false;
		const char *slash = strchr(s, '/');
		size_t n = slash ? (size_t)(slash - s) : strlen(s);
		if (n == 2 && s[0] == '{' && s[1] == '}') {
			if (!p->seg[i][0] || *nargs == API_PATH_ARGS)
				return false;
			argi[(*nargs)++] = i;
		} else if (strlen(p->seg[i]) != n || memcmp(p->seg[i], s, n) != 0) {
			return false;
		}
		if (!slash)
			return i + 1 == p->n;
		s = slash + 1;
	}
}

const struct api_route *api_route_find(const char *method, const char *raw, struct api_path *p,
				       const char *args[API_PATH_ARGS], int *status, struct err *e)
{
	*status = 0;
	memset(args, 0, sizeof(const char *) * API_PATH_ARGS);
	if (api_path_parse(raw, p, e) < 0) {
		*status = err_kind_http_status(e->kind);
		return NULL;
	}
	bool path_known = false;
	for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
		for (const struct api_route *r = tables[t]; r->method; r++) {
			int argi[API_PATH_ARGS], nargs;
			if (!shape_match(r->pattern, p, argi, &nargs))
				continue;
			if (!path_known) {
				for (int i = 0; i < nargs; i++) {
					if (argument_check(p, argi[i], e) < 0) {
						*status = 400;
						return NULL;
					}
				}
			}
			path_known = true;
			if (strcmp(r->method, method) != 0)
				continue;
			for (int i = 0; i < nargs; i++)
				args[i] = p->seg[argi[i]];
			return r;
		}
	}
	char q[QUOTE_MAX + 8];
	quote(raw, strcspn(raw, "?"), q);
	char m[QUOTE_MAX + 8];
	quote(method, strnlen(method, 16), m);
	if (path_known) {
		err_set(e, ERR_INVALID, "method %s is not allowed on %s", m, q);
		*status = 405;
	} else {
		err_set(e, ERR_NOT_FOUND, "no such endpoint: %s %s", m, q);
		*status = 404;
	}
	return NULL;
}

void api_route_each(void (*fn)(const struct api_route *r, void *arg), void *arg)
{
	for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
		for (const struct api_route *r = tables[t]; r->method; r++)
			fn(r, arg);
}
