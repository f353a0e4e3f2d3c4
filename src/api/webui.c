/*
 * webui: the web console's files (web/, built by esbuild into the build
 * tree's web/ or installed in share/nubo/web). They are public: the login
 * page must load before any login, and they hold no data; everything the
 * console shows comes from /v1 with the session's authority.
 *
 * Paths are taken as sent, with only [A-Za-z0-9._-] segments and no dot
 * first, so nothing outside dir is ever named. Every answer carries a
 * Content-Security-Policy that lets the page load code and data from this
 * origin only.
 */
#include <fcntl.h>
#include <microhttpd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api-priv.h"
#include "util/str.h"

/* xterm.js sets styles from its script: style-src needs 'unsafe-inline'. */
#define WEBUI_CSP                                                                                                     \
	"default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "             \
	"font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

static const char *type_of(const char *path)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
		{".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
		{".css", "text/css; charset=utf-8"},   {".svg", "image/svg+xml"},
		{".png", "image/png"},                 {".map", "application/json"},
		{".woff2", "font/woff2"},
	};
	const char *dot = strrchr(path, '.');
	for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(dot, types[i].ext) == 0)
			return types[i].type;
	return "application/octet-stream";
}

/* Whether the path (before '?') names a file under dir safely. */
static bool path_safe(const char *path, size_t n)
{
	bool seg_start = true;
	for (size_t i = 0; i < n; i++) {
		char c = path[i];
		if (c == '/') {
			seg_start = true;
			continue;
		}
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return false;
		if (seg_start && c == '.')
			return false;
		seg_start = false;
	}
	return true;
}

static int answer_text(struct MHD_Connection *conn, unsigned status, const char *text)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
	MHD_add_response_header(r, "Content-Type", "text/plain; charset=utf-8");
	int ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

int api_webui_answer(void *mhd_conn, const char *method, const char *target, const char *dir)
{
	struct MHD_Connection *conn = mhd_conn;
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return answer_text(conn, 405, "the web console's files are read with GET\n");
	if (!dir)
		return answer_text(conn, 404, "this nubod has no web console files (web/ was not built or installed)\n");
	size_t n = strcspn(target, "?#");
	if (!path_safe(target, n))
		return answer_text(conn, 404, "no such file\n");
	autofree char *rel = xstrndup(target, n);
	autofree char *path = xasprintf("%s%s", dir, rel);
	struct stat st;
	/* A page's address (/vms/web1) has no file: the script reads it. */
	if (stat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
		const char *last = strrchr(rel, '/');
		if (last && strchr(last, '.'))
			return answer_text(conn, 404, "no such file\n");
		free(path);
		path = xasprintf("%s/index.html", dir);
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		if (fd >= 0)
			close(fd);
		return answer_text(conn, 404, "no such file\n");
	}
	struct MHD_Response *r = MHD_create_response_from_fd((uint64_t)st.st_size, fd);
	MHD_add_response_header(r, "Content-Type", type_of(path));
	MHD_add_response_header(r, "Cache-Control", "no-cache");
	MHD_add_response_header(r, "Content-Security-Policy", WEBUI_CSP);
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	int ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}
