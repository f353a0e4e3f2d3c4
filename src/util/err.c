/* err: failure detail beside a negative return code (see err.h). */
#include "util/err.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int kind_errno(enum err_kind kind)
{
	switch (kind) {
	case ERR_NONE: return 0;
	case ERR_INVALID: return -EINVAL;
	case ERR_NOT_FOUND: return -ENOENT;
	case ERR_CONFLICT: return -EEXIST;
	case ERR_UNPROCESSABLE: return -EINVAL;
	case ERR_CAPACITY: return -ENOSPC;
	case ERR_UNAUTHORIZED: return -EACCES;
	case ERR_INTERNAL: return -EIO;
	}
	return -EIO;
}

/* A message cut to fit msg must not end inside a UTF-8 character: the API
 * sends it in JSON, and half a character makes no JSON at all. */
static void cut_at_char(char *msg)
{
	size_t n = strlen(msg), i = n;
	while (i > 0 && ((unsigned char)msg[i - 1] & 0xc0) == 0x80)
		i--;
	if (i == 0)
		return;
	unsigned char lead = (unsigned char)msg[i - 1];
	size_t want = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
	if (n - (i - 1) < want)
		msg[i - 1] = '\0';
}

int err_setv(struct err *e, enum err_kind kind, const char *fmt, va_list ap)
{
	if (e) {
		e->kind = kind;
		if (vsnprintf(e->msg, sizeof(e->msg), fmt, ap) >= (int)sizeof(e->msg))
			cut_at_char(e->msg);
	}
	return kind_errno(kind);
}

int err_set(struct err *e, enum err_kind kind, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = err_setv(e, kind, fmt, ap);
	va_end(ap);
	return rc;
}

void err_prefix(struct err *e, const char *fmt, ...)
{
	if (!e)
		return;
	char *head = NULL, *joined = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&head, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (asprintf(&joined, "%s: %s", head, e->msg) >= 0) {
		if (snprintf(e->msg, sizeof(e->msg), "%s", joined) >= (int)sizeof(e->msg))
			cut_at_char(e->msg);
		free(joined);
	}
	free(head);
}

void err_clear(struct err *e)
{
	if (e) {
		e->kind = ERR_NONE;
		e->msg[0] = '\0';
	}
}

const char *err_kind_code(enum err_kind kind)
{
	switch (kind) {
	case ERR_NONE: return "ok";
	case ERR_INVALID: return "invalid_argument";
	case ERR_NOT_FOUND: return "not_found";
	case ERR_CONFLICT: return "conflict";
	case ERR_UNPROCESSABLE: return "unprocessable";
	case ERR_CAPACITY: return "insufficient_capacity";
	case ERR_UNAUTHORIZED: return "unauthorized";
	case ERR_INTERNAL: return "internal";
	}
	return "internal";
}

int err_kind_http_status(enum err_kind kind)
{
	switch (kind) {
	case ERR_NONE: return 200;
	case ERR_INVALID: return 400;
	case ERR_NOT_FOUND: return 404;
	case ERR_CONFLICT: return 409;
	case ERR_UNPROCESSABLE: return 422;
	case ERR_CAPACITY: return 507;
	case ERR_UNAUTHORIZED: return 401;
	case ERR_INTERNAL: return 500;
	}
	return 500;
}
