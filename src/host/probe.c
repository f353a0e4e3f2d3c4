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
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/runner.h"
#include "util/str.h"
#include "util/timeutil.h"

#define PROBE_STALL_MS 10000
/* A SYN that got no answer is retried by the kernel only after a second;
 * a guest that was not up yet answers a fresh one at once. */
#define PROBE_CONNECT_MS 200

struct probe {
	int fd;
	bool connected;
	int64_t started;
	size_t got;
	char buf[64];
};

void probe_free(struct probe *p)
{
	if (!p)
		return;
	if (p->fd >= 0)
		close(p->fd);
	free(p);
}

static struct probe *probe_start(const char *ip, int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	if (!ip || inet_pton(AF_INET, ip, &sa.sin_addr) != 1)
		return NULL;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	if (connect(fd, (const struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
		close(fd);
		return NULL;
	}
	struct probe *p = xcalloc(1, sizeof(*p));
	p->fd = fd;
	p->started = time_mono_ms();
	return p;
}

/* Advances p; false when the attempt is over without a banner. */
static bool probe_advance(struct probe *p, const char *prefix, bool *ready)
{
	struct pollfd pf = {p->fd, p->connected ? POLLIN : POLLOUT, 0};
	if (poll(&pf, 1, 0) < 0)
		return errno == EINTR;
	if (!p->connected) {
		if (!(pf.revents & (POLLOUT | POLLERR | POLLHUP)))
			return true;   /* still connecting */
		int soerr = 0;
		socklen_t len = sizeof(soerr);
		if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0 || soerr != 0)
			return false;
		p->connected = true;
		p->started = time_mono_ms();
		pf.revents = 0;
	}
	size_t want = strlen(prefix);
	for (;;) {
		ssize_t r = read(p->fd, p->buf + p->got, sizeof(p->buf) - p->got);
		if (r > 0) {
			p->got += (size_t)r;
			if (p->got >= want) {
				*ready = memcmp(p->buf, prefix, want) == 0;
				return *ready;
			}
			continue;
		}
		if (r == 0)
			return false;   /* closed before the banner */
		return errno == EAGAIN || errno == EINTR;
	}
}

enum probe_state probe_step(struct probe **p, const char *ip, int port, const char *prefix)
{
	if (runner_dry_run())
		return PROBE_READY;
	if (!*p && !(*p = probe_start(ip, port)))
		return PROBE_WAITING;
	bool ready = false;
	bool going = probe_advance(*p, prefix, &ready);
	if (ready)
		return PROBE_READY;
	int64_t age = time_mono_ms() - (*p)->started;
	if (!going || age > ((*p)->connected ? PROBE_STALL_MS : PROBE_CONNECT_MS)) {
		probe_free(*p);
		*p = NULL;
	}
	return PROBE_WAITING;
}
