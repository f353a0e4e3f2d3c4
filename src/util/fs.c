/* fs: atomic writes, whole-file reads, recursive removal (see fs.h). */
#include "util/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/str.h"

int fs_mkdir_p(const char *path, mode_t mode, struct err *e)
{
	autofree char *p = xstrdup(path);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST)
			return err_set(e, ERR_INTERNAL, "cannot create directory %s: %s", p, strerror(errno));
		*s = '/';
	}
	if (mkdir(p, mode) < 0 && errno != EEXIST)
		return err_set(e, ERR_INTERNAL, "cannot create directory %s: %s", p, strerror(errno));
	return 0;
}

int fs_write_atomic(const char *path, const char *data, size_t len, mode_t mode, struct err *e)
{
	autofree char *tmp = xasprintf("%s.tmp.%d", path, (int)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return err_set(e, ERR_INTERNAL, "cannot write %s: %s", tmp, strerror(errno));
	size_t off = 0;
	while (off < len) {
		ssize_t w = write(fd, data + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			int saved = errno;
			close(fd);
			unlink(tmp);
			return err_set(e, ERR_INTERNAL, "cannot write %s: %s", tmp, strerror(saved));
		}
		off += (size_t)w;
	}
	if (fchmod(fd, mode) < 0 || fsync(fd) < 0 || close(fd) < 0) {
		int saved = errno;
		unlink(tmp);
		return err_set(e, ERR_INTERNAL, "cannot write %s: %s", tmp, strerror(saved));
	}
	if (rename(tmp, path) < 0) {
		int saved = errno;
		unlink(tmp);
		return err_set(e, ERR_INTERNAL, "cannot rename %s to %s: %s", tmp, path, strerror(saved));
	}
	return 0;
}

int fs_read_file(const char *path, size_t max, char **out, size_t *len, struct err *e)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set(e, errno == ENOENT ? ERR_NOT_FOUND : ERR_INTERNAL, "cannot read %s: %s",
			       path, strerror(errno));
	struct sbuf b = {0};
	char chunk[65536];
	for (;;) {
		ssize_t r = read(fd, chunk, sizeof(chunk));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int saved = errno;
			close(fd);
			sbuf_free(&b);
			return err_set(e, ERR_INTERNAL, "cannot read %s: %s", path, strerror(saved));
		}
		if (r == 0)
			break;
		if (b.len + (size_t)r > max) {
			close(fd);
			sbuf_free(&b);
			return err_set(e, ERR_INVALID, "%s is larger than %zu bytes", path, max);
		}
		sbuf_addn(&b, chunk, (size_t)r);
	}
	close(fd);
	if (len)
		*len = b.len;
	*out = sbuf_take(&b);
	return 0;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	int rc = (flag == FTW_DP) ? rmdir(p) : unlink(p);
	return (rc < 0 && errno != ENOENT) ? -1 : 0;
}

int fs_rm_rf(const char *path, struct err *e)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : err_set(e, ERR_INTERNAL, "cannot remove %s: %s", path, strerror(errno));
	if (nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) < 0)
		return err_set(e, ERR_INTERNAL, "cannot remove %s: %s", path, strerror(errno));
	return 0;
}

bool fs_exists(const char *path)
{
	return access(path, F_OK) == 0;
}

/* The pid a lock file holds, 0 if none can be read (its holder may not have written it yet). */
static pid_t lock_holder(int fd)
{
	char buf[32];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	long pid = strtol(buf, NULL, 10);
	return pid > 0 ? (pid_t)pid : 0;
}

int fs_lock_exclusive(const char *path, int *fd_out, pid_t *holder, struct err *e)
{
	*fd_out = -1;
	*holder = 0;
	/* The holder may unlink the file while we wait to open it (nubod
	 * --destroy removes it last): a lock on an unlinked file locks nothing,
	 * so it counts only if the path still names the file we locked. */
	for (;;) {
		int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0)
			return err_set(e, ERR_INTERNAL, "cannot open lock file %s: %s", path, strerror(errno));
		if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			int saved = errno;
			if (saved == EWOULDBLOCK)
				*holder = lock_holder(fd);
			close(fd);
			if (saved == EWOULDBLOCK)
				return err_set(e, ERR_CONFLICT, "%s is locked by another process", path);
			return err_set(e, ERR_INTERNAL, "cannot lock %s: %s", path, strerror(saved));
		}
		struct stat held, named;
		bool gone = stat(path, &named) < 0;
		if (fstat(fd, &held) < 0 || (gone && errno != ENOENT)) {
			int saved = errno;
			close(fd);
			return err_set(e, ERR_INTERNAL, "cannot lock %s: %s", path, strerror(saved));
		}
		if (!gone && held.st_ino == named.st_ino && held.st_dev == named.st_dev) {
			char pid[32];
			int len = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
			if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)len, 0) != len) {
				int saved = errno;
				close(fd);
				return err_set(e, ERR_INTERNAL, "cannot write the pid into %s: %s", path, strerror(saved));
			}
			*fd_out = fd;
			return 0;
		}
		close(fd);
	}
}

char *fs_self_dir(void)
{
	char buf[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
	if (n <= 0)
		return xstrdup(".");
	buf[n] = '\0';
	return xstrdup(dirname(buf));
}

unsigned long fs_nofile_raise(unsigned long max)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 1024;
	rlim_t want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > max ? (rlim_t)max : rl.rlim_max;
	if (want > rl.rlim_cur) {
		rlim_t old = rl.rlim_cur;
		rl.rlim_cur = want;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			rl.rlim_cur = old;
	}
	return (unsigned long)rl.rlim_cur;
}
