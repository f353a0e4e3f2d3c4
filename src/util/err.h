/*
 * err: the detail of a failure, carried beside a negative return code.
 *
 * Functions return 0 or a negative errno-style code and fill a caller-owned
 * struct err with what a user needs to read: a kind (which the API maps to an
 * HTTP status) and a sentence naming the field and the value at fault.
 */
#pragma once

#include <stdarg.h>

enum err_kind {
	ERR_NONE = 0,
	ERR_INVALID,      /* bad input: 400 */
	ERR_NOT_FOUND,    /* 404 */
	ERR_CONFLICT,     /* 409 */
	ERR_UNPROCESSABLE, /* well-formed but refers to something unusable: 422 */
	ERR_CAPACITY,     /* not enough host capacity: 507 */
	ERR_UNAUTHORIZED, /* 401 */
	ERR_INTERNAL,     /* host or store failure: 500 */
	ERR_UNAVAILABLE,  /* the database cannot be reached for now: 503 */
};

struct err {
	enum err_kind kind;
	char msg[1024];
};

/* Fills e (if not NULL) and returns -EINVAL-like code for kind, so callers can
 * write `return err_set(e, ERR_INVALID, "...", ...);`. */
int err_set(struct err *e, enum err_kind kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int err_setv(struct err *e, enum err_kind kind, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

/* Prefixes the existing message with context: "ctx: old message". */
void err_prefix(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void err_clear(struct err *e);

/* Short machine-readable code for a kind: "invalid_argument", "not_found", ... */
const char *err_kind_code(enum err_kind kind);
/* HTTP status for a kind. */
int err_kind_http_status(enum err_kind kind);
