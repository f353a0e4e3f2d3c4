/*
 * peer: the files one host gives another (ctl/peer.c), outside the API's
 * tokens: GET /v1/peer/images/ID/FILE (an image's files) and
 * /v1/peer/vms/ID/FILE (a stopped VM's disk on its way to another host,
 * ctl/moves.c) with the cluster's secret in the
 * header X-Nubo-Peer, on every listener. A Range of "bytes=N-" gets the
 * rest of the file from N (206), so a fetch cut off goes on where it was.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api-priv.h"
#include "util/log.h"
#include "util/str.h"

#define PEER_PREFIX "/v1/peer/"

bool api_peer_target(const char *target)
{
	return str_starts_with(target, PEER_PREFIX);
}

static int answer_text(struct MHD_Connection *conn, unsigned status, const char *text)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
	MHD_add_response_header(r, "Content-Type", "text/plain; charset=utf-8");
	int ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* A segment of a peer path: an id or a file name, nothing that walks. */
static bool segment_ok(const char *s, size_t n)
{
	if (n == 0 || n > 64 || s[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '.' ||
		      s[i] == '_'))
			return false;
	return true;
}

/* "bytes=N-": N; 0 with no Range; -1 for any other form. */
static int64_t range_from(const char *h)
{
	if (!h)
		return 0;
	if (!str_starts_with(h, "bytes="))
		return -1;
	char *end = NULL;
	long long n = strtoll(h + 6, &end, 10);
	return end != h + 6 && n >= 0 && strcmp(end, "-") == 0 ? n : -1;
}

int api_peer_answer(struct ctl *ctl, void *mhd_conn, const char *method, const char *target)
{
	struct MHD_Connection *conn = mhd_conn;
	if (!ctl_peer_authorized(ctl, MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Nubo-Peer"))) {
		log_info("%s %s → 403: no valid X-Nubo-Peer secret", method, target);
		return answer_text(conn, 403, "the files of a host are for the other hosts of its cloud: send the "
					      "cluster's secret in X-Nubo-Peer\n");
	}
	if (strcmp(method, "GET") != 0)
		return answer_text(conn, 405, "peer files are read with GET\n");
	const char *p = target + strlen(PEER_PREFIX);
	bool vm = str_starts_with(p, "vms/");
	if (!vm && !str_starts_with(p, "images/"))
		return answer_text(conn, 404, "no such peer path\n");
	p += strlen(vm ? "vms/" : "images/");
	size_t id_len = strcspn(p, "/");
	const char *file = p + id_len + (p[id_len] == '/');
	if (p[id_len] != '/' || !segment_ok(p, id_len) || !segment_ok(file, strlen(file)))
		return answer_text(conn, 404, "no such peer path: /v1/peer/images/ID/FILE or /v1/peer/vms/ID/FILE\n");
	autofree char *id = xstrndup(p, id_len);
	int fd = -1;
	int64_t size = 0;
	struct err e = {0};
	if ((vm ? ctl_peer_vm_open : ctl_peer_image_open)(ctl, id, file, &fd, &size, &e) < 0) {
		log_info("%s %s → 404: %s", method, target, e.msg);
		autofree char *msg = xasprintf("%s\n", e.msg);
		return answer_text(conn, 404, msg);
	}
	int64_t from = range_from(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_RANGE));
	char cr[96];
	if (from < 0 || from >= size) {
		close(fd);
		snprintf(cr, sizeof(cr), "bytes */%" PRId64, size);
		struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
		int ret = MHD_queue_response(conn, 416, r);
		MHD_destroy_response(r);
		return ret;
	}
	struct MHD_Response *r = MHD_create_response_from_fd_at_offset64((uint64_t)(size - from), fd, (uint64_t)from);
	MHD_add_response_header(r, "Content-Type", "application/octet-stream");
	unsigned status = 200;
	if (from > 0) {
		snprintf(cr, sizeof(cr), "bytes %" PRId64 "-%" PRId64 "/%" PRId64, from, size - 1, size);
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
		status = 206;
	}
	int ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	log_info("%s %s → %u (%" PRId64 " bytes from %" PRId64 ")", method, target, status, size - from, from);
	return ret;
}
