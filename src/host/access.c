/* access: files read on a caller's behalf, checked as the caller (see access.h). */
#include "host/access.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/openat2.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int access_open_beneath(const char *const *dirs, int n, const char *path, const char *field, char *resolved,
			size_t size, struct err *e)
{
	for (int i = 0; i < n; i++) {
		size_t len = strlen(dirs[i]);
		while (len > 1 && dirs[i][len - 1] == '/')
			len--;
		if (strncmp(path, dirs[i], len) != 0 || path[len] != '/')
			continue;
		const char *rel = path + len;
		while (*rel == '/')
			rel++;
		int dfd = open(dirs[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0)
			return err_set(e, ERR_UNPROCESSABLE, "%s %s: import folder %.*s cannot be opened: %s", field, path,
				       (int)len, dirs[i], strerror(errno));
		struct open_how how = {.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
				       .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
		int fd = (int)syscall(SYS_openat2, dfd, rel, &how, sizeof(how));
		int saved = errno;
		close(dfd);
		if (fd < 0 && saved == EXDEV)
			break;   /* it leaves the folder: refused below */
		if (fd < 0)
			return err_set(e, ERR_UNPROCESSABLE, "%s %s cannot be read: %s", field, path, strerror(saved));
		struct stat st;
		char link[64];
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		ssize_t got = readlink(link, resolved, size - 1);
		bool regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
		if (got <= 0 || (size_t)got >= size - 1 || !regular) {
			close(fd);
			if (!regular)
				return err_set(e, ERR_UNPROCESSABLE, "%s %s is not a regular file", field, path);
			return err_set(e, ERR_UNPROCESSABLE, "%s %s: cannot tell where it leads", field, path);
		}
		resolved[got] = '\0';
		return fd;
	}
	return err_set(e, ERR_INVALID,
		       "%s %s is not inside import_dirs of nubod's configuration, or leads out of them through a link "
		       "or ..; over TCP files are read only from there",
		       field, path);
}

/* fd, if it is a regular file; else closed, and an error. */
static int regular_or_close(int fd, const char *path, const char *field, struct err *e)
{
	struct stat st;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		return fd;
	close(fd);
	return err_set(e, ERR_UNPROCESSABLE, "%s %s is not a regular file", field, path);
}

/* Sends fd over sock (SCM_RIGHTS), with one byte: 0. */
static int send_fd(int sock, int fd)
{
	char byte = 0, ctl[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl)};
	memset(ctl, 0, sizeof(ctl));
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return sendmsg(sock, &m, 0) == 1 ? 0 : -1;
}

/* The descriptor sent over sock, or -1. */
static int recv_fd(int sock)
{
	char byte, ctl[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl)};
	ssize_t got;
	while ((got = recvmsg(sock, &m, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
		;
	struct cmsghdr *c = got == 1 ? CMSG_FIRSTHDR(&m) : NULL;
	if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(int)))
		return -1;
	int fd;
	memcpy(&fd, CMSG_DATA(c), sizeof(int));
	return fd;
}

int access_open_as(uid_t uid, gid_t gid, const char *path, const char *field, struct err *e)
{
	if (uid == 0) {   /* root reads what it likes: nubod opens it itself */
		int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
		if (fd < 0)
			return err_set(e, ERR_UNPROCESSABLE, "%s %s cannot be read: %s", field, path, strerror(errno));
		return regular_or_close(fd, path, field, e);
	}
	/* The user's groups, found here: the child only makes system calls. */
	gid_t groups[256];
	int ngroups = 0;
	struct passwd pw, *found = NULL;
	char buf[4096];
	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &found) == 0 && found) {
		ngroups = (int)(sizeof(groups) / sizeof(groups[0]));
		if (getgrouplist(found->pw_name, gid, groups, &ngroups) < 0)
			ngroups = 0;
	}
	if (ngroups == 0) {
		groups[0] = gid;
		ngroups = 1;
	}
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sp) < 0)
		return err_set(e, ERR_INTERNAL, "cannot check %s %s as uid %u: socketpair: %s", field, path,
			       (unsigned)uid, strerror(errno));
	pid_t pid = fork();
	if (pid < 0) {
		close(sp[0]);
		close(sp[1]);
		return err_set(e, ERR_INTERNAL, "cannot check %s %s as uid %u: fork: %s", field, path, (unsigned)uid,
			       strerror(errno));
	}
	if (pid == 0) {
		/* The open is the check: the kernel decides as it would for
		 * the user, and the descriptor it gives is what nubod reads. */
		if (setgroups((size_t)ngroups, groups) < 0 || setgid(gid) < 0 || setuid(uid) < 0)
			_exit(254);
		int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
		if (fd < 0)
			_exit(errno & 0xff);
		_exit(send_fd(sp[1], fd) == 0 ? 0 : 254);
	}
	close(sp[1]);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : 255;
	int fd = code == 0 ? recv_fd(sp[0]) : -1;
	close(sp[0]);
	if (code == 0 && fd >= 0)
		return regular_or_close(fd, path, field, e);
	if (code == 0 || code >= 254)
		return err_set(e, ERR_INTERNAL, "cannot check %s %s as uid %u", field, path, (unsigned)uid);
	return err_set(e, ERR_UNPROCESSABLE, "%s %s cannot be read by uid %u (the caller): %s", field, path,
		       (unsigned)uid, strerror(code));
}
