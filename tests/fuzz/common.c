/* common: shared checks of the harnesses (see common.h). */
#include "common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
{
	fprintf(stderr, "%s:%d: check failed: %s\n  ", file, line, cond);
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

char *fuzz_cstr(const uint8_t *data, size_t size)
{
	if (memchr(data, '\0', size))
		return NULL;
	char *s = malloc(size + 1);
	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* jansson checks UTF-8 when it makes a string, as it does for every answer. */
bool fuzz_utf8(const char *s, size_t n)
{
	json_t *j = json_stringn(s, n);
	json_decref(j);
	return j != NULL;
}

void fuzz_check_err(int rc, const struct err *e, const char *s)
{
	FUZZ_ASSERT(rc < 0, "a failure returned %d", rc);
	FUZZ_ASSERT(e->kind == ERR_INVALID, "kind %d for bad input \"%s\"", e->kind, s);
	FUZZ_ASSERT(e->msg[0], "an empty message for \"%s\"", s);
	FUZZ_ASSERT(fuzz_utf8(e->msg, strlen(e->msg)), "the message is not UTF-8: %s", e->msg);
}

void fuzz_check_resp(bool ok, struct api_resp *resp)
{
	if (ok) {
		FUZZ_ASSERT(resp->status == 0 && !resp->json && !resp->text, "a parse that succeeded answered %d",
			    resp->status);
		return;
	}
	FUZZ_ASSERT(resp->status == 400, "a bad body answered %d, not 400", resp->status);
	json_t *code = json_object_get(json_object_get(resp->json, "error"), "code");
	json_t *msg = json_object_get(json_object_get(resp->json, "error"), "message");
	FUZZ_ASSERT(json_is_string(code) && json_is_string(msg) && json_string_length(msg) > 0,
		    "a bad body got no {\"error\":{\"code\",\"message\"}} answer (%s)",
		    resp->json ? "JSON of another shape" : "no JSON at all");
	json_decref(resp->json);
	free(resp->text);
	memset(resp, 0, sizeof(*resp));
}

void fuzz_check_field(json_t *body, const char *key, const char *got)
{
	json_t *v = json_object_get(body, key);
	if (!v || json_is_null(v))
		FUZZ_ASSERT(!got, "field %s is absent but parsed as \"%s\"", key, got);
	else
		FUZZ_ASSERT(got && got == json_string_value(v), "field %s was not read from the body", key);
	FUZZ_ASSERT(!got || strlen(got) <= api_field_max(key), "field %s of %zu bytes accepted; its limit is %zu", key,
		    strlen(got), api_field_max(key));
}

int fuzz_split(const uint8_t *data, size_t size, char **out, int max)
{
	int n = 0;
	size_t start = 0;
	while (n < max && start <= size) {
		const uint8_t *nul = memchr(data + start, '\0', size - start);
		size_t end = nul ? (size_t)(nul - data) : size;
		out[n] = malloc(end - start + 1);
		if (!out[n])
			abort();
		memcpy(out[n], data + start, end - start);
		out[n][end - start] = '\0';
		n++;
		start = end + 1;
	}
	return n;
}

struct api_req fuzz_req(const uint8_t *data, size_t size)
{
	char *body = malloc(size + 1);
	if (!body)
		abort();
	memcpy(body, data, size);
	body[size] = '\0';
	return (struct api_req){.method = "POST", .path = "/v1/fuzz", .body = body, .body_len = size};
}

void fuzz_req_free(struct api_req *req)
{
	free((char *)req->body);
	req->body = NULL;
}
