/*
 * access: whether a caller of the API may have nubod (root) read a file on
 * its behalf. A path given over the network is read only from inside the
 * folders the host's admin names, resolved by the kernel without leaving
 * them (openat2 RESOLVE_BENEATH: no "..", no absolute link, no link out); a
 * path given by a local user is read only if that user could read it.
 *
 * Each check is an open, and what it gives is the descriptor to read from:
 * the file checked is the file read, however the path changes afterwards
 * (a link swapped, a folder renamed). Read it through /proc/self/fd/N, or
 * /proc/<nubod's pid>/fd/N from a child process, never through the path.
 */
#pragma once

#include <stddef.h>
#include <sys/types.h>

#include "util/err.h"

/* Opens path (absolute) beneath one of dirs (n absolute folders) for
 * reading and returns the descriptor (O_CLOEXEC; the caller closes it); the
 * path it really reached, links resolved, goes into resolved (size bytes)
 * for the record. field names the input in errors: ERR_INVALID when path is
 * not inside any of dirs or leaves them, ERR_UNPROCESSABLE when it cannot be
 * read or is not a regular file. */
int access_open_beneath(const char *const *dirs, int n, const char *path, const char *field, char *resolved,
			size_t size, struct err *e);

/* Opens path for reading as uid (with gid and the groups the system gives
 * its user) would: a child process takes on that identity, opens it, and
 * hands the descriptor back (SCM_RIGHTS), so the kernel decides as it would
 * for the user. Returns the descriptor (O_CLOEXEC; the caller closes it);
 * ERR_UNPROCESSABLE when the user cannot read it or it is not a regular file. */
int access_open_as(uid_t uid, gid_t gid, const char *path, const char *field, struct err *e);
