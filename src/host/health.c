/*
 * health: a batch of checks on one thread (see health.h).
 *
 * Each check:  connect (non-blocking) ──► connected ──► tcp: passed
 *                   │                        │
 *                   │                        └─► http: GET sent ──► status line read: 2xx/3xx passed, else failed
 *                   └─► refused, unreachable, or the timeout: failed
 *
 * HTTP/1.0 with Connection: close, so the simplest servers (busybox httpd)
 * answer, and only the status line is read.
 */
#include "host/health.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/fs.h"
#include "util/runner.h"
#include "util/timeutil.h"

enum phase { CONNECTING, SENDING, READING, DONE };

struct state {
	int fd;
	enum phase phase;
	int64_t deadline;
	char buf[256];
	size_t got;
};

int health_http_status(const char *buf, size_t len)
{
	const char *nl = memchr(buf, '\n', len);
	if (len >= 5 && strncmp(buf, "HTTP/", 5) != 0)
		return -1;
	if (!nl)
		return len < 5 && strncmp(buf, "HTTP/", len) != 0 ? -1 : 0;
	/* The status code: three digits after the first space, then a space or
	 * the line's end. Read within the line: buf need not end in a NUL. */
	const char *sp = memchr(buf, ' ', (size_t)(nl - buf));
	if (!sp || nl - sp < 4)
		return -1;
	int code = 0;
	for (int i = 1; i <= 3; i++) {
		if (sp[i] < '0' || sp[i] > '9')
			return -1;
		code = code * 10 + (sp[i] - '0');
	}
	if (sp + 4 < nl && sp[4] != ' ' && sp[4] != '\r')
		return -1;
	return code >= 100 && code <= 599 ? code : -1;
}

static void finish(struct health_check *c, struct state *s, bool ok, const char *reason)
{
	c->ok = ok;
	snprintf(c->reason, sizeof(c->reason), "%s", reason);
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	s->phase = DONE;
}

static void start(struct health_check *c, struct state *s, int64_t now)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(c->port)};
	s->fd = -1;
	s->got = 0;
	s->deadline = now + c->timeout_ms;
	if (!c->ip || inet_pton(AF_INET, c->ip, &sa.sin_addr) != 1) {
		finish(c, s, false, "not an IPv4 address");
		return;
	}
	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0) {
		finish(c, s, false, strerror(errno));
		return;
	}
	s->phase = CONNECTING;
	if (connect(s->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		s->phase = c->http_path ? SENDING : DONE;
	else if (errno != EINPROGRESS)
		finish(c, s, false, strerror(errno));
	if (s->phase == DONE && s->fd >= 0)
		finish(c, s, true, "connected");
}

/* One step of a check whose socket poll() reported ready. */
static void advance(struct health_check *c, struct state *s, short revents)
{
	if (s->phase == CONNECTING) {
		int err = 0;
		socklen_t len = sizeof(err);
		if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err) {
			finish(c, s, false, strerror(err));
			return;
		}
		if (!c->http_path) {
			finish(c, s, true, "connected");
			return;
		}
		s->phase = SENDING;
	}
	if (s->phase == SENDING) {
		char req[512];
		int n = snprintf(req, sizeof(req),
				 "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: nubo-health\r\nConnection: close\r\n\r\n",
				 c->http_path, c->ip);
		/* A request this small fits a fresh socket's buffer: one send. */
		if (n < 0 || (size_t)n >= sizeof(req) || send(s->fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
			finish(c, s, false, "could not send the request");
			return;
		}
		s->phase = READING;
		return;
	}
	if (s->phase == READING) {
		ssize_t r = recv(s->fd, s->buf + s->got, sizeof(s->buf) - 1 - s->got, 0);
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (r > 0)
			s->got += (size_t)r;
		int code = health_http_status(s->buf, s->got);
		char why[64];
		if (code > 0) {
			snprintf(why, sizeof(why), "HTTP %d", code);
			finish(c, s, code >= 200 && code < 400, why);
		} else if (code < 0) {
			finish(c, s, false, "not an HTTP answer");
		} else if (r <= 0 || s->got >= sizeof(s->buf) - 1) {
			finish(c, s, false, r < 0 ? strerror(errno) : "closed before a status line");
		}
	}
	(void)revents;
}

char *health_conntrack(void)
{
	char *text = NULL;
	size_t len = 0;
	struct err e = {0};
	if (fs_read_file("/proc/net/nf_conntrack", 64u << 20, &text, &len, &e) < 0)
		return NULL;
	return text;
}

void health_run(struct health_check *checks, int n)
{
	if (n <= 0)
		return;
	struct state *st = calloc((size_t)n, sizeof(*st));
	struct pollfd *pfd = calloc((size_t)n, sizeof(*pfd));
	int *who = calloc((size_t)n, sizeof(*who));
	int64_t now = time_mono_ms();
	if (!st || !pfd || !who) {
		for (int i = 0; i < n; i++)
			checks[i].ok = false, snprintf(checks[i].reason, sizeof(checks[i].reason), "out of memory");
		goto out;
	}
	for (int i = 0; i < n; i++)
		start(&checks[i], &st[i], now);
	for (;;) {
		int np = 0;
		int64_t next = -1;
		now = time_mono_ms();
		for (int i = 0; i < n; i++) {
			if (st[i].phase == DONE)
				continue;
			if (now >= st[i].deadline) {
				char why[64];
				snprintf(why, sizeof(why), "no answer within %d ms", checks[i].timeout_ms);
				finish(&checks[i], &st[i], false, why);
				continue;
			}
			pfd[np] = (struct pollfd){.fd = st[i].fd,
						  .events = st[i].phase == READING ? POLLIN : POLLOUT};
			who[np++] = i;
			if (next < 0 || st[i].deadline < next)
				next = st[i].deadline;
		}
		if (!np)
			break;
		int r = poll(pfd, (nfds_t)np, (int)(next - now));
		if (r < 0 && errno != EINTR)
			break;
		for (int k = 0; r > 0 && k < np; k++)
			if (pfd[k].revents)
				advance(&checks[who[k]], &st[who[k]], pfd[k].revents);
	}
	for (int i = 0; i < n; i++)
		if (st[i].phase != DONE)
			finish(&checks[i], &st[i], false, "poll failed");
out:
	free(who);
	free(pfd);
	free(st);
}

/* One `conntrack -D`; its exit status is 1 when no entry matched (conntrack
 * 1.4.7 says "0 flow entries have been deleted"), which is what a second
 * run after a crash finds: success too. */
static int cut_run(const char *const argv[], struct err *e)
{
	struct run_result r = {0};
	int rc = runner_run(argv, &(struct run_opts){.timeout_ms = 10000}, &r, e);
	if (rc < 0 && r.status == 1 && strstr(r.errout ? r.errout : "", " 0 flow entries")) {
		err_clear(e);
		rc = 0;
	}
	run_result_free(&r);
	return rc;
}

int health_conntrack_cut(const struct conntrack_cut *cut, struct err *e)
{
	if (cut->vip) {
		const char *argv[] = {"conntrack", "-D", "-p", "tcp", "--orig-dst", cut->vip, "--reply-src", cut->ip, NULL};
		if (cut_run(argv, e) < 0)
			return -1;
	}
	for (int i = 0; i < cut->n_host_ports; i++) {
		char hp[8], tp[8];
		snprintf(hp, sizeof(hp), "%u", cut->host_ports[i]);
		snprintf(tp, sizeof(tp), "%u", cut->target_ports[i]);
		const char *argv[] = {"conntrack",	"-D",	  "-p",		      "tcp", "--orig-port-dst", hp,
				      "--reply-src", cut->ip, "--reply-port-src", tp,    NULL};
		if (cut_run(argv, e) < 0)
			return -1;
	}
	return 0;
}
