/* err: failure detail beside a negative return code (see err.h). */
#include "util/err.h"

#include <errno.h>
#include <stdbool.h>
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
	case ERR_UNAVAILABLE: return -EAGAIN;
	}
	return -EIO;
}

/* Length of the valid UTF-8 character at s (1..4), or 0 if s does not start
 * one (a stray continuation byte, an overlong form, a surrogate, past U+10FFFF,
 * or a character cut short by the end of the string). */
static size_t utf8_char_len(const unsigned char *s)
{
	unsigned char c = s[0];
	if (c < 0x80)
		return 1;
	size_t n;
	unsigned char lo = 0x80, hi = 0xbf;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
	else
		return 0;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

/*
 * A message is always UTF-8: the API sends it in JSON, where a single bad
 * byte makes no JSON at all (and an empty answer). A message cut to fit msg
 * loses the character cut in half; any other byte that is not UTF-8 (a
 * client's raw bytes quoted back) becomes '?'.
 */
static void make_utf8(char *msg, bool cut)
{
	unsigned char *s = (unsigned char *)msg;
	size_t i = 0;
	while (s[i]) {
		size_t n = utf8_char_len(s + i);
		if (n) {
			i += n;
			continue;
		}
		if (cut && s[i] >= 0xc2 && s[i] <= 0xf4 && strlen(msg + i) < 4) {
			/* the tail may be a character cut short: drop it if every byte after the lead continues it */
			size_t j = i + 1;
			while (s[j] && (s[j] & 0xc0) == 0x80)
				j++;
			if (!s[j]) {
				s[i] = '\0';
				return;
			}
		}
		s[i++] = '?';
	}
}

int err_setv(struct err *e, enum err_kind kind, const char *fmt, va_list ap)
{
	if (e) {
		e->kind = kind;
		make_utf8(e->msg, vsnprintf(e->msg, sizeof(e->msg), fmt, ap) >= (int)sizeof(e->msg));
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
		make_utf8(e->msg, snprintf(e->msg, sizeof(e->msg), "%s", joined) >= (int)sizeof(e->msg));
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
	case ERR_UNAVAILABLE: return "unavailable";
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
	case ERR_UNAVAILABLE: return 503;
	}
	return 500;
}
