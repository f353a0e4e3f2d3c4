/*
 * common: what every harness shares. Inputs become C strings (an input with
 * a NUL inside is refused, since no caller can pass one), failures abort
 * with a sentence (libFuzzer then saves the input as crash-*), and the checks
 * that hold for every parser of outside input live here: an error is
 * ERR_INVALID with a message, and the message is valid UTF-8 whatever the
 * input was, since the API sends it inside JSON.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/api-priv.h"
#include "util/err.h"

/* Aborts with the message when cond is false. */
#define FUZZ_ASSERT(cond, ...) ((cond) ? (void)0 : fuzz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__))
void fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 4, 5)));

/* A NUL-terminated copy of data (caller frees), or NULL when data holds a NUL. */
char *fuzz_cstr(const uint8_t *data, size_t size);
bool fuzz_utf8(const char *s, size_t n);
/* Checks the error a parser returned (rc < 0) for input s. */
void fuzz_check_err(int rc, const struct err *e, const char *s);
/* Checks what a body parser answered: ok and an untouched resp, or a 400
 * with {"error":{"code","message"}}. Clears resp for the next parser. */
void fuzz_check_resp(bool ok, struct api_resp *resp);
/* What a parsed field must be: the body's own string (the very pointer),
 * within its length limit (api_field_max), or NULL when the key is absent
 * or null. */
void fuzz_check_field(json_t *body, const char *key, const char *got);
/* Splits data at NUL bytes into at most max C strings (copies, caller frees
 * each); returns how many. For harnesses whose input is several strings. */
int fuzz_split(const uint8_t *data, size_t size, char **out, int max);
/* A request carrying data as its body (a NUL-terminated copy, NULs inside
 * kept as they came: the API reads body_len bytes); free with fuzz_req_free. */
struct api_req fuzz_req(const uint8_t *data, size_t size);
void fuzz_req_free(struct api_req *req);
