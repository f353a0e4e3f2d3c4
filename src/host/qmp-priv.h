/* qmp-priv: what qmp.c offers its tests and fuzz harness (tests/fuzz/fuzz_qmp.c). */
#pragma once

#include <jansson.h>
#include <stddef.h>

#include "host/qmp.h"

/* qmp_open on a connected socket fd, which *out then owns (and closes on
 * failure too); name stands for the socket's path in errors. */
int qmp_open_fd(int fd, const char *name, int timeout_ms, struct qmp **out, struct err *e);

/* The "status" of a query-status return into status (n bytes); a missing
 * status, or one that does not fit, is an error. */
int qmp_status_of(const char *sock, json_t *ret, char *status, size_t n, struct err *e);
