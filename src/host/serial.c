/*
 * serial: hubs over QEMU's serial sockets (serial.h). One registry of open
 * hubs, keyed by socket path, under one lock; each hub has its own lock and
 * a reader thread that fans the guest's output out to the viewers.
 *
 * Lifetime: a hub is in the registry from its first attach until its last
 * detach (or until QEMU closed the socket, when it leaves the registry at
 * once so that the next attach opens a fresh one). The last detach joins
 * the reader thread and frees the hub.
 */
#include "host/serial.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/log.h"
#include "util/str.h"

struct serial_viewer {
	struct hub *hub;
	serial_out_fn out;
	void *arg;
	struct serial_viewer *next;
};

struct hub {
	char *path;
	int fd;
	pthread_t reader;
	pthread_mutex_t lock;        /* viewers, backlog, ended; never held while blocked on fd */
	pthread_mutex_t write_lock;  /* one viewer's keystrokes at a time into fd */
	struct serial_viewer *viewers;
	int n_viewers;
	bool ended;                  /* QEMU closed the socket */
	char backlog[SERIAL_BACKLOG];
	size_t back_len, back_start; /* a ring: back_len bytes from back_start */
	struct hub *next;            /* in the registry */
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hub *registry;

static void backlog_add(struct hub *h, const char *data, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		size_t at = (h->back_start + h->back_len) % SERIAL_BACKLOG;
		h->backlog[at] = data[i];
		if (h->back_len < SERIAL_BACKLOG)
			h->back_len++;
		else
			h->back_start = (h->back_start + 1) % SERIAL_BACKLOG;
	}
}

static void registry_remove(struct hub *h)
{
	for (struct hub **p = &registry; *p; p = &(*p)->next) {
		if (*p == h) {
			*p = h->next;
			break;
		}
	}
}

static void *reader_main(void *arg)
{
	struct hub *h = arg;
	char buf[4096];
	for (;;) {
		ssize_t n = read(h->fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		pthread_mutex_lock(&h->lock);
		backlog_add(h, buf, (size_t)n);
		for (struct serial_viewer *v = h->viewers; v; v = v->next)
			v->out(v->arg, buf, (size_t)n);
		pthread_mutex_unlock(&h->lock);
	}
	/* QEMU went away (or the last viewer shut the socket): out of the
	 * registry first, so that a new attach opens a new hub. */
	pthread_mutex_lock(&registry_lock);
	registry_remove(h);
	pthread_mutex_unlock(&registry_lock);
	pthread_mutex_lock(&h->lock);
	h->ended = true;
	for (struct serial_viewer *v = h->viewers; v; v = v->next)
		v->out(v->arg, NULL, 0);
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

/* The last SERIAL_BACKLOG bytes of the log, as the hub's first backlog. */
static void backlog_from_log(struct hub *h, const char *log_path)
{
	if (!log_path)
		return;
	int fd = open(log_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	off_t size = lseek(fd, 0, SEEK_END);
	off_t start = size > SERIAL_BACKLOG ? size - SERIAL_BACKLOG : 0;
	if (size > 0 && lseek(fd, start, SEEK_SET) == start) {
		char buf[4096];
		ssize_t n;
		while ((n = read(fd, buf, sizeof(buf))) > 0)
			backlog_add(h, buf, (size_t)n);
	}
	close(fd);
}

static int hub_open(const char *sock_path, const char *log_path, struct hub **out, struct err *e)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(sock_path) >= sizeof(sa.sun_path))
		return err_set(e, ERR_INVALID, "console socket path %s is too long", sock_path);
	strcpy(sa.sun_path, sock_path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_set(e, ERR_INTERNAL, "socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int saved = errno;
		close(fd);
		return err_set(e, ERR_CONFLICT,
			       "the VM's serial console socket %s does not answer (%s): the VM is not running, or was "
			       "started by a nubod without interactive consoles (stop and start it to get one)",
			       sock_path, strerror(saved));
	}
	struct hub *h = xcalloc(1, sizeof(*h));
	h->path = xstrdup(sock_path);
	h->fd = fd;
	pthread_mutex_init(&h->lock, NULL);
	pthread_mutex_init(&h->write_lock, NULL);
	/* Read the log after connecting: whatever the guest writes from now on
	 * comes through the socket, so nothing falls in between (a byte may
	 * show twice, never not at all). */
	backlog_from_log(h, log_path);
	if (pthread_create(&h->reader, NULL, reader_main, h) != 0) {
		close(fd);
		pthread_mutex_destroy(&h->lock);
		pthread_mutex_destroy(&h->write_lock);
		free(h->path);
		free(h);
		return err_set(e, ERR_INTERNAL, "cannot start the console's reader thread");
	}
	*out = h;
	return 0;
}

static void hub_free(struct hub *h)
{
	shutdown(h->fd, SHUT_RDWR);   /* the reader's read returns 0 */
	pthread_join(h->reader, NULL);
	close(h->fd);
	pthread_mutex_destroy(&h->lock);
	pthread_mutex_destroy(&h->write_lock);
	free(h->path);
	free(h);
}

int serial_attach(const char *sock_path, const char *log_path, serial_out_fn out, void *arg,
		  struct serial_viewer **v, struct err *e)
{
	pthread_mutex_lock(&registry_lock);
	struct hub *h = registry;
	while (h && strcmp(h->path, sock_path) != 0)
		h = h->next;
	if (!h) {
		if (hub_open(sock_path, log_path, &h, e) < 0) {
			pthread_mutex_unlock(&registry_lock);
			return -1;
		}
		h->next = registry;
		registry = h;
		log_info("console: opened %s", sock_path);
	}
	struct serial_viewer *nv = xcalloc(1, sizeof(*nv));
	nv->hub = h;
	nv->out = out;
	nv->arg = arg;
	pthread_mutex_lock(&h->lock);
	/* The backlog first, under the hub's lock: nothing new can slip in before it. */
	size_t first = h->back_len;
	if (h->back_start + first > SERIAL_BACKLOG)
		first = SERIAL_BACKLOG - h->back_start;
	if (first)
		out(arg, h->backlog + h->back_start, first);
	if (h->back_len > first)
		out(arg, h->backlog, h->back_len - first);
	nv->next = h->viewers;
	h->viewers = nv;
	h->n_viewers++;
	pthread_mutex_unlock(&h->lock);
	pthread_mutex_unlock(&registry_lock);
	*v = nv;
	return 0;
}

/* Not under h->lock: a guest that takes its input slowly while it writes
 * (QEMU stops reading the socket when the UART's buffer is full) would
 * otherwise stop the reader, and with it every viewer's output. */
int serial_write(struct serial_viewer *v, const char *data, size_t n, struct err *e)
{
	struct hub *h = v->hub;
	pthread_mutex_lock(&h->lock);
	bool ended = h->ended;
	pthread_mutex_unlock(&h->lock);
	if (ended)
		return err_set(e, ERR_CONFLICT, "the VM's serial console closed");
	pthread_mutex_lock(&h->write_lock);
	int rc = 0;
	while (n) {
		ssize_t w = send(h->fd, data, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			rc = err_set(e, ERR_CONFLICT, "the VM's serial console closed: %s", strerror(errno));
			break;
		}
		data += w;
		n -= (size_t)w;
	}
	pthread_mutex_unlock(&h->write_lock);
	return rc;
}

void serial_detach(struct serial_viewer *v)
{
	if (!v)
		return;
	struct hub *h = v->hub;
	pthread_mutex_lock(&registry_lock);
	pthread_mutex_lock(&h->lock);
	for (struct serial_viewer **p = &h->viewers; *p; p = &(*p)->next) {
		if (*p == v) {
			*p = v->next;
			break;
		}
	}
	bool last = --h->n_viewers == 0;
	pthread_mutex_unlock(&h->lock);
	if (last) {
		registry_remove(h);   /* no-op when the reader already took it out */
		log_info("console: closed %s (no viewer left)", h->path);
	}
	pthread_mutex_unlock(&registry_lock);
	if (last)
		hub_free(h);
	free(v);
}

int serial_viewers(const char *sock_path)
{
	pthread_mutex_lock(&registry_lock);
	int n = 0;
	for (struct hub *h = registry; h; h = h->next)
		if (strcmp(h->path, sock_path) == 0)
			n = h->n_viewers;
	pthread_mutex_unlock(&registry_lock);
	return n;
}

int serial_log_tail(const char *path, size_t max, char **text, size_t *len, struct err *e)
{
	*text = NULL;
	*len = 0;
	FILE *f = fopen(path, "rb");
	if (!f) {
		if (errno != ENOENT)
			return err_set(e, ERR_INTERNAL, "cannot read the console log %s: %s", path, strerror(errno));
		*text = xstrdup("");
		return 0;
	}
	fseek(f, 0, SEEK_END);
	long size = ftell(f);
	long start = size > (long)max ? size - (long)max : 0;
	fseek(f, start, SEEK_SET);
	*text = xcalloc((size_t)(size - start) + 1, 1);
	*len = fread(*text, 1, (size_t)(size - start), f);
	fclose(f);
	return 0;
}
