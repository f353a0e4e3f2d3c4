/* proc: pid files and /proc/<pid>/cmdline checks (see proc.h). */
#include "host/proc.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "util/fs.h"
#include "util/str.h"
#include "util/timeutil.h"

int proc_pidfile_read(const char *path)
{
	autofree char *s = NULL;
	if (!path || fs_read_file(path, 64, &s, NULL, NULL) < 0)
		return 0;
	char *end;
	errno = 0;
	long pid = strtol(s, &end, 10);
	if (errno || end == s || pid <= 1 || pid > 0x3fffffff)
		return 0;
	return (int)pid;
}

bool proc_has_args(int pid, const char *arg, const char *next)
{
	if (pid <= 1)
		return false;
	if (kill(pid, 0) < 0 && errno != EPERM)
		return false;
	autofree char *path = xasprintf("/proc/%d/cmdline", pid);
	autofree char *cmd = NULL;
	size_t len = 0;
	/* A zombie or a kernel thread has an empty cmdline: not ours. */
	if (fs_read_file(path, 1 << 20, &cmd, &len, NULL) < 0 || len == 0)
		return false;
	/* cmdline is argv joined by NULs; walk it argument by argument. */
	for (size_t off = 0; off < len;) {
		const char *a = cmd + off;
		size_t alen = strnlen(a, len - off);
		size_t nxt = off + alen + 1;
		if (strcmp(a, arg) == 0) {
			if (!next)
				return true;
			if (nxt < len && strcmp(cmd + nxt, next) == 0)
				return true;
		}
		off = nxt;
	}
	return false;
}

bool proc_wait_gone(int pid, const char *arg, const char *next, int timeout_ms)
{
	int64_t deadline = time_mono_ms() + timeout_ms;
	for (;;) {
		if (!proc_has_args(pid, arg, next))
			return true;
		if (time_mono_ms() >= deadline)
			return false;
		time_sleep_ms(20);
	}
}

int proc_terminate(int pid, const char *arg, const char *next, int timeout_ms, const char *what,
		   struct err *e)
{
	if (!proc_has_args(pid, arg, next))
		return 0;
	if (kill(pid, SIGTERM) < 0 && errno != ESRCH)
		return err_set(e, ERR_INTERNAL, "cannot stop %s (pid %d): %s", what, pid, strerror(errno));
	if (proc_wait_gone(pid, arg, next, timeout_ms))
		return 0;
	kill(pid, SIGKILL);
	if (proc_wait_gone(pid, arg, next, 5000))
		return 0;
	return err_set(e, ERR_INTERNAL, "%s (pid %d) did not exit after SIGTERM and SIGKILL", what, pid);
}
