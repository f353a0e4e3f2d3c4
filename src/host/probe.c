/*
 * probe: a non-blocking connect and a read of the server's greeting. SSH
 * servers speak first ("SSH-2.0-…"), so a banner proves sshd is serving,
 * not only that the port is open.
 */
#include "host/probe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/runner.h"
#include "util/timeutil.h"

static bool wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - time_mono_ms();
		if (left <= 0)
			return false;
		struct pollfd p = {fd, events, 0};
		int n = poll(&p, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		return n > 0 && (p.revents & events);
	}
}

/* Reads until want bytes arrived, the peer closed, or the deadline passed. */
static size_t read_some(int fd, char *buf, size_t cap, size_t want, int64_t deadline)
{
	size_t got = 0;
	while (got < want && wait_fd(fd, POLLIN, deadline)) {
		ssize_t r = read(fd, buf + got, cap - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	return got;
}

static bool connected(int fd, const struct sockaddr_in *sa, int64_t deadline)
{
	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0 && errno != EINPROGRESS)
		return false;
	if (!wait_fd(fd, POLLOUT, deadline))
		return false;
	int soerr = 0;
	socklen_t len = sizeof(soerr);
	return getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr == 0;
}

bool probe_banner(const char *ip, int port, const char *prefix, int timeout_ms)
{
	if (runner_dry_run())
		return true;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	if (!ip || inet_pton(AF_INET, ip, &sa.sin_addr) != 1)
		return false;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	int64_t deadline = time_mono_ms() + timeout_ms;
	char buf[64];
	size_t want = strlen(prefix);
	bool ok = connected(fd, &sa, deadline) && read_some(fd, buf, sizeof(buf), want, deadline) >= want &&
		  memcmp(buf, prefix, want) == 0;
	close(fd);
	return ok;
}
