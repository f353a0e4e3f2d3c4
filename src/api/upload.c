/*
 * upload: POST /v1/images with the image itself as the body
 * (Content-Type: application/octet-stream) and its name and sha256 in the
 * query. This is how a caller who is not on nubod's host gives it an image
 * file: nothing on the host is read on its behalf.
 *
 * The body is not gathered like a JSON body: the server hands each chunk
 * libmicrohttpd reads to ctl_image_upload_write, which writes it to the
 * image's folder and hashes it, so an image of any size costs a chunk of
 * memory. Everything that can be refused is refused with the headers,
 * before a byte of the body is read: a bad name or digest, a taken name, a
 * Content-Length over the limit. A body that breaks off (the client goes)
 * leaves nothing behind.
 */
#include <inttypes.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api-priv.h"
#include "util/log.h"

#define UPLOAD_TYPE "application/octet-stream"

bool api_upload_wanted(const char *method, const char *target, void *conn)
{
	size_t n = strcspn(target, "?");
	if (strcmp(method, "POST") != 0 || n != strlen("/v1/images") || strncmp(target, "/v1/images", n) != 0)
		return false;
	const char *type = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	return type && strncasecmp(type, UPLOAD_TYPE, strlen(UPLOAD_TYPE)) == 0 &&
	       (type[strlen(UPLOAD_TYPE)] == '\0' || type[strlen(UPLOAD_TYPE)] == ';');
}

/* The body's declared length, -1 when it is sent in chunks; -2 when the
 * header is not a number. */
static int64_t content_length(void *conn)
{
	const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (!v)
		return -1;
	if (!*v || strspn(v, "0123456789") != strlen(v) || strlen(v) > 18)
		return -2;
	return (int64_t)strtoll(v, NULL, 10);
}

static void too_large(struct api_resp *resp, const struct err *e)
{
	api_error(resp, e);
	resp->status = 413;
}

struct image_upload *api_upload_begin(const struct api_req *req, struct api_resp *resp)
{
	static const char *const known[] = {"name", "sha256", "user", "boot", NULL};
	if (!api_query_known(req, known, resp))
		return NULL;
	struct image_import imp = {.caller = req->caller, .name = api_query(req, "name"),
				   .sha256 = api_query(req, "sha256"), .user = api_query(req, "user"),
				   .boot = api_query(req, "boot")};
	struct err e = {0};
	int64_t size = content_length(req->conn);
	if (!imp.name) {
		err_set(&e, ERR_INVALID, "an upload needs name in the query: POST /v1/images?name=NAME&sha256=HEX");
	} else if (size == -2) {
		err_set(&e, ERR_INVALID, "Content-Length \"%s\" is not a number of bytes",
			MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH));
	} else if (size == 0) {
		err_set(&e, ERR_INVALID, "the body is empty: it must be the image file (qcow2 or raw)");
	} else if (size > ctl_image_upload_max(req->ctl)) {
		err_set(&e, ERR_INVALID,
			"the image is %" PRId64 " bytes; uploads are at most %" PRId64 " MiB "
			"(image_upload_max_mib in nubod's configuration)",
			size, ctl_image_upload_max(req->ctl) >> 20);
		too_large(resp, &e);
		return NULL;
	}
	struct image_upload *u = NULL;
	if (e.kind == ERR_NONE)
		ctl_image_upload_begin(req->ctl, &imp, size, &u, &e);
	if (!u)
		api_error(resp, &e);
	return u;
}

bool api_upload_write(struct image_upload *u, const char *data, size_t n, struct api_resp *resp)
{
	struct err e = {0};
	if (ctl_image_upload_write(u, data, n, &e) == 0)
		return true;
	ctl_image_upload_abort(u, e.msg);
	if (e.kind == ERR_INVALID)
		too_large(resp, &e);   /* the only refusal of a chunk: the limit */
	else
		api_error(resp, &e);
	return false;
}

void api_upload_end(struct image_upload *u, struct api_resp *resp)
{
	struct image img;
	struct operation op;
	struct err e = {0};
	if (ctl_image_upload_end(u, &img, &op, &e) < 0) {
		api_error(resp, &e);
		return;
	}
	api_json(resp, 202, json_pack("{s:o, s:o}", "image", image_to_json(&img), "operation", operation_to_json(&op)));
	image_free_fields(&img);
	operation_free_fields(&op);
}
