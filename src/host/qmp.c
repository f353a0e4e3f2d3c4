/* qmp: line-framed JSON over a unix socket with a deadline (see qmp.h). */
#include "host/qmp.h"
#include "host/qmp-priv.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/str.h"
#include "util/timeutil.h"

/* A reply line longer than this is not QMP we asked for. */
#define QMP_LINE_MAX (16u << 20)

struct qmp {
	int fd;
	int timeout_ms;
	char *path;
	struct sbuf in;   /* bytes read but not yet consumed as lines */
};

static int qmp_connect(const char *path, int timeout_ms, int *fd_out, struct err *e)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		return err_set(e, ERR_INTERNAL, "QMP socket path %s is longer than %zu bytes", path,
			       sizeof(sa.sun_path) - 1);
	strcpy(sa.sun_path, path);
	/* Short: with -daemonize the socket listens before qemu_launch returns,
	 * so a refused connection almost always means QEMU is gone, and a
	 * status check of a dead VM must not stall a reconciler. */
	int64_t deadline = time_mono_ms() + (timeout_ms < 500 ? timeout_ms : 500);
	for (;;) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return err_set(e, ERR_INTERNAL, "cannot create a socket for QMP %s: %s", path, strerror(errno));
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
			*fd_out = fd;
			return 0;
		}
		int saved = errno;
		close(fd);
		/* Right after launch the socket may not be listening yet. */
		bool retry = saved == ENOENT || saved == ECONNREFUSED || saved == EAGAIN;
		if (!retry || time_mono_ms() >= deadline)
			return err_set(e, ERR_INTERNAL, "cannot connect to QMP socket %s: %s", path, strerror(saved));
		time_sleep_ms(20);
	}
}

/* Reads the next JSON object; events are skipped when skip_events. *out is a
 * new reference. */
static int qmp_read(struct qmp *q, bool skip_events, json_t **out, struct err *e)
{
	int64_t deadline = time_mono_ms() + q->timeout_ms;
	for (;;) {
		char *nl = q->in.len ? memchr(q->in.data, '\n', q->in.len) : NULL;
		if (nl) {
			size_t len = (size_t)(nl - q->in.data);
			json_error_t je;
			json_t *j = json_loadb(q->in.data, len, 0, &je);
			memmove(q->in.data, nl + 1, q->in.len - len - 1);
			q->in.len -= len + 1;
			q->in.data[q->in.len] = '\0';
			if (!j || !json_is_object(j)) {
				json_decref(j);
				return err_set(e, ERR_INTERNAL, "QMP %s sent something that is not a JSON object: %s",
					       q->path, j ? "not an object" : je.text);
			}
			if (skip_events && json_object_get(j, "event")) {
				json_decref(j);
				continue;
			}
			*out = j;
			return 0;
		}
		if (q->in.len > QMP_LINE_MAX)
			return err_set(e, ERR_INTERNAL, "QMP %s sent a line longer than %u bytes", q->path, QMP_LINE_MAX);
		int64_t left = deadline - time_mono_ms();
		if (left <= 0) {
			err_set(e, ERR_INTERNAL, "QMP %s did not answer within %d ms", q->path, q->timeout_ms);
			return -ETIMEDOUT;
		}
		struct pollfd p = {q->fd, POLLIN, 0};
		int n = poll(&p, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_set(e, ERR_INTERNAL, "cannot read QMP %s: %s", q->path, strerror(errno));
		if (n == 0)
			continue;
		char chunk[4096];
		ssize_t r = read(q->fd, chunk, sizeof(chunk));
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r < 0)
			return err_set(e, ERR_INTERNAL, "cannot read QMP %s: %s", q->path, strerror(errno));
		if (r == 0) {
			/* A distinct code: after "quit" this is the expected outcome. */
			err_set(e, ERR_INTERNAL, "QMP %s closed the connection", q->path);
			return -ECONNRESET;
		}
		sbuf_addn(&q->in, chunk, (size_t)r);
	}
}

static int qmp_write(struct qmp *q, const char *s, struct err *e)
{
	size_t len = strlen(s), off = 0;
	int64_t deadline = time_mono_ms() + q->timeout_ms;
	while (off < len) {
		/* MSG_NOSIGNAL: a QEMU that just exited must not kill nubod with SIGPIPE. */
		ssize_t w = send(q->fd, s + off, len - off, MSG_NOSIGNAL);
		if (w >= 0) {
			off += (size_t)w;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return err_set(e, ERR_INTERNAL, "cannot write to QMP %s: %s", q->path, strerror(errno));
		int64_t left = deadline - time_mono_ms();
		if (left <= 0)
			return err_set(e, ERR_INTERNAL, "QMP %s did not accept a command within %d ms", q->path,
				       q->timeout_ms);
		struct pollfd p = {q->fd, POLLOUT, 0};
		poll(&p, 1, (int)left);
	}
	return 0;
}

int qmp_execute(struct qmp *q, const char *cmd, json_t *args, json_t **ret, struct err *e)
{
	if (ret)
		*ret = NULL;
	json_t *req = json_pack("{s:s}", "execute", cmd);
	if (args)
		json_object_set(req, "arguments", args);
	char *text = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (!text)
		abort();
	autofree char *line = xasprintf("%s\n", text);
	free(text);
	int rc = qmp_write(q, line, e);
	if (rc < 0)
		return rc;
	json_t *reply = NULL;
	rc = qmp_read(q, true, &reply, e);
	if (rc < 0)
		return rc;
	json_t *error = json_object_get(reply, "error");
	if (error) {
		const char *desc = json_string_value(json_object_get(error, "desc"));
		rc = err_set(e, ERR_INTERNAL, "QMP %s: %s failed: %s", q->path, cmd, desc ? desc : "unknown error");
	} else if (!json_object_get(reply, "return")) {
		rc = err_set(e, ERR_INTERNAL, "QMP %s: %s got a reply with neither return nor error", q->path, cmd);
	} else if (ret) {
		*ret = json_incref(json_object_get(reply, "return"));
	}
	json_decref(reply);
	return rc;
}

int qmp_next_event(struct qmp *q, int timeout_ms, json_t **ev, struct err *e)
{
	*ev = NULL;
	int saved = q->timeout_ms;
	q->timeout_ms = timeout_ms > 0 ? timeout_ms : 1;
	int rc = qmp_read(q, false, ev, e);
	q->timeout_ms = saved;
	if (rc == 0 && !json_object_get(*ev, "event")) {
		json_decref(*ev);
		*ev = NULL;
		return err_set(e, ERR_INTERNAL, "QMP %s sent a reply where only an event could come", q->path);
	}
	return rc;
}

/* Reads the greeting on q's socket and negotiates capabilities. */
static int qmp_handshake(struct qmp *q, struct err *e)
{
	json_t *greeting = NULL;
	int rc = qmp_read(q, false, &greeting, e);
	if (rc < 0)
		return rc;
	bool is_qmp = json_object_get(greeting, "QMP") != NULL;
	json_decref(greeting);
	if (!is_qmp)
		return err_set(e, ERR_INTERNAL, "%s is not a QMP socket (no greeting)", q->path);
	return qmp_execute(q, "qmp_capabilities", NULL, NULL, e);
}

int qmp_open(const char *sock_path, int timeout_ms, struct qmp **out, struct err *e)
{
	*out = NULL;
	int fd = -1;
	int rc = qmp_connect(sock_path, timeout_ms > 0 ? timeout_ms : 5000, &fd, e);
	if (rc < 0)
		return rc;
	return qmp_open_fd(fd, sock_path, timeout_ms, out, e);
}

int qmp_open_fd(int fd, const char *name, int timeout_ms, struct qmp **out, struct err *e)
{
	*out = NULL;
	struct qmp *q = xcalloc(1, sizeof(*q));
	q->fd = fd;
	q->timeout_ms = timeout_ms > 0 ? timeout_ms : 5000;
	q->path = xstrdup(name);
	int rc = qmp_handshake(q, e);
	if (rc < 0) {
		qmp_close(q);
		return rc;
	}
	*out = q;
	return 0;
}

void qmp_close(struct qmp *q)
{
	if (!q)
		return;
	if (q->fd >= 0)
		close(q->fd);
	sbuf_free(&q->in);
	free(q->path);
	free(q);
}

/* Open, run cmd, close; *ret as in qmp_execute. */
static int qmp_once(const char *sock, const char *cmd, json_t **ret, struct err *e)
{
	struct qmp *q;
	int rc = qmp_open(sock, 5000, &q, e);
	if (rc < 0)
		return rc;
	rc = qmp_execute(q, cmd, NULL, ret, e);
	qmp_close(q);
	return rc;
}

int qmp_status_of(const char *sock, json_t *ret, char *status, size_t n, struct err *e)
{
	const char *s = json_string_value(json_object_get(ret, "status"));
	if (!s)
		return err_set(e, ERR_INTERNAL, "QMP %s: query-status returned no status", sock);
	if (strlen(s) >= n)
		return err_set(e, ERR_INTERNAL, "QMP %s: query-status returned a status of %zu bytes", sock, strlen(s));
	snprintf(status, n, "%s", s);
	return 0;
}

int qmp_query_status(const char *sock, char *status, size_t n, struct err *e)
{
	json_t *ret = NULL;
	int rc = qmp_once(sock, "query-status", &ret, e);
	if (rc < 0)
		return rc;
	rc = qmp_status_of(sock, ret, status, n, e);
	json_decref(ret);
	return rc;
}

static int qmp_simple(const char *sock, const char *cmd, struct err *e)
{
	return qmp_once(sock, cmd, NULL, e);
}

int qmp_system_powerdown(const char *sock, struct err *e)
{
	return qmp_simple(sock, "system_powerdown", e);
}

int qmp_system_reset(const char *sock, struct err *e)
{
	return qmp_simple(sock, "system_reset", e);
}

int qmp_cont(const char *sock, struct err *e)
{
	return qmp_simple(sock, "cont", e);
}

int qmp_quit(const char *sock, struct err *e)
{
	struct qmp *q;
	int rc = qmp_open(sock, 5000, &q, e);
	if (rc < 0)
		return rc;
	/* QEMU may close the socket before its reply reaches us; once the
	 * command is written, a closed connection means it is quitting. */
	rc = qmp_execute(q, "quit", NULL, NULL, e);
	if (rc == -ECONNRESET) {
		err_clear(e);
		rc = 0;
	}
	qmp_close(q);
	return rc;
}

int qmp_run_once(const char *sock, const char *cmd, json_t *args, json_t **ret, struct err *e)
{
	struct qmp *q = NULL;
	int rc = qmp_open(sock, QMP_DISK_TIMEOUT_MS, &q, e);
	if (rc == 0)
		rc = qmp_execute(q, cmd, args, ret, e);
	qmp_close(q);
	json_decref(args);
	return rc;
}
