/*
 * access: whether a caller of the API may have nubod (root) read a file on
 * its behalf. A path given over the network is read only from inside the
 * folders the host's admin names, resolved by the kernel without leaving
 * them (openat2 RESOLVE_BENEATH: no "..", no absolute link, no link out); a
 * path given by a local user is read only if that user could read it.
 */
#pragma once

#include <stddef.h>
#include <sys/types.h>

#include "util/err.h"

/* Opens path (absolute) beneath one of dirs (n absolute folders) and writes
 * the path it really reached, links resolved, into resolved (size bytes).
 * field names the input in errors: ERR_INVALID when path is not inside any
 * of dirs or leaves them, ERR_UNPROCESSABLE when it cannot be read. */
int access_file_beneath(const char *const *dirs, int n, const char *path, const char *field, char *resolved,
			size_t size, struct err *e);

/* Can uid (with gid and the groups the system gives its user) open path for
 * reading? Checked in a child process that takes on that identity, so the
 * kernel decides as it would for the user. ERR_UNPROCESSABLE when not. */
int access_file_readable_by(uid_t uid, gid_t gid, const char *path, const char *field, struct err *e);
