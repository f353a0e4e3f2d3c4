/*
 * fs: the file operations nubo needs, each reporting failures through err.
 * Writes are atomic (temp file + rename) so a crash never leaves half a file.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "util/err.h"

int fs_mkdir_p(const char *path, mode_t mode, struct err *e);
/* Writes data to path atomically with the given mode. */
int fs_write_atomic(const char *path, const char *data, size_t len, mode_t mode, struct err *e);
/* Reads a whole file (at most max bytes); *out is NUL-terminated, caller frees. */
int fs_read_file(const char *path, size_t max, char **out, size_t *len, struct err *e);
/* Removes path and everything below it; a missing path is success. */
int fs_rm_rf(const char *path, struct err *e);
bool fs_exists(const char *path);
/* Raises the soft limit of open files (RLIMIT_NOFILE) to the hard limit,
 * at most max: every API connection, QMP socket, console and tap is a
 * descriptor, and the default soft limit of 1024 is what 1,000 idle
 * connections ran into. Returns the limit now in force. */
unsigned long fs_nofile_raise(unsigned long max);
/* Takes an exclusive flock(2) on path (created if missing), without waiting,
 * and writes the caller's pid into it. On success *fd holds the lock (it is
 * close-on-exec, so no child keeps it) until it is closed or the process
 * dies. If another process holds it: ERR_CONFLICT, *holder its pid as the
 * file says (0 if it has not written it yet). */
int fs_lock_exclusive(const char *path, int *fd, pid_t *holder, struct err *e);
/* Directory of the running executable; caller frees. */
char *fs_self_dir(void);
