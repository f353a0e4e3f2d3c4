/*
 * probe: non-blocking connects and a read of the server's greeting, for
 * every watched target, on one thread. SSH servers speak first
 * ("SSH-2.0-…"), so a banner proves sshd is serving, not only that the port
 * is open.
 *
 * Each target, while not ready, goes through attempts:
 *
 *   dial ──(refused, failed, or no answer within PROBE_CONNECT_MS)──→ closed
 *     │                  a new dial every PROBE_DIAL_MS while none is connected,
 *     │                  up to PROBE_CONNS in flight
 *     └─ connected (the other dials are closed) ──┬─ prefix read ─────→ ready (callback)
 *                                                 ├─ other text, hang-up → redial after PROBE_REDIAL_MS
 *                                                 └─ silent PROBE_STALL_MS → redial now
 *
 * Threads: the caller adds and drops targets under mu; only the prober's
 * thread dials, reads and frees targets (a dropped one is marked, its
 * sockets closed at once, and freed at the thread's next turn), so a target
 * the thread holds between poll() and the lock is never freed under it.
 */
#include "host/probe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/log.h"
#include "util/str.h"
#include "util/timeutil.h"

/* A connected server that says nothing for this long is dialled again. */
#define PROBE_STALL_MS 10000
/* A SYN that got no answer is retried by the kernel only after a second;
 * a guest that was not up yet answers a fresh one at once. So an attempt
 * gets this long to connect, and a new one starts every PROBE_DIAL_MS. */
#define PROBE_CONNECT_MS 200
#define PROBE_DIAL_MS 50
#define PROBE_CONNS (PROBE_CONNECT_MS / PROBE_DIAL_MS)
/* After a server answered with something else, or hung up. */
#define PROBE_REDIAL_MS 200

struct probe_conn {
	int fd;             /* -1: slot free */
	bool connected;
	int64_t started;    /* when dialled, then when connected */
	size_t got;         /* bytes of the prefix matched */
};

struct probe_target {
	char *key, *ip, *prefix;
	int port;
	struct sockaddr_in sa;
	bool addr_ok;       /* ip parsed; a bad one is never dialled */
	bool ready, dropped;
	int64_t next_dial;
	struct probe_conn conns[PROBE_CONNS];
};

struct prober {
	pthread_mutex_t mu;
	pthread_t thread;
	int wake;           /* eventfd: a target was added or dropped, or quit */
	bool quit;
	struct probe_target **targets;
	int n;
	prober_ready_fn *fn;
	void *arg;
	uint32_t mark;      /* SO_MARK of every socket; 0: none */
	bool mark_warned;
};

static void conn_close(struct probe_conn *k)
{
	if (k->fd >= 0)
		close(k->fd);
	*k = (struct probe_conn){.fd = -1};
}

static void target_close_all(struct probe_target *t)
{
	for (int i = 0; i < PROBE_CONNS; i++)
		conn_close(&t->conns[i]);
}

static void target_free(struct probe_target *t)
{
	if (!t)
		return;
	target_close_all(t);
	free(t->key);
	free(t->ip);
	free(t->prefix);
	free(t);
}

/* (Re)points t at ip:port; its attempts start over. */
static void target_aim(struct probe_target *t, const char *ip, int port)
{
	target_close_all(t);
	free(t->ip);
	t->ip = xstrdup(ip ? ip : "");
	t->port = port;
	t->sa = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	t->addr_ok = ip && port > 0 && port < 65536 && inet_pton(AF_INET, ip, &t->sa.sin_addr) == 1;
	t->ready = false;
	t->next_dial = 0;
}

static void wake(struct prober *pr)
{
	uint64_t one = 1;
	if (write(pr->wake, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("ssh probe: cannot wake the prober: %s", strerror(errno));
}

/* Starts a connect in a free slot; a failure shows as no new attempt. */
static void target_dial(struct prober *pr, struct probe_target *t, int64_t now)
{
	t->next_dial = now + PROBE_DIAL_MS;
	struct probe_conn *k = NULL;
	for (int i = 0; i < PROBE_CONNS && !k; i++)
		if (t->conns[i].fd < 0)
			k = &t->conns[i];
	if (!k)
		return;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (pr->mark && setsockopt(fd, SOL_SOCKET, SO_MARK, &pr->mark, sizeof(pr->mark)) < 0 && !pr->mark_warned) {
		/* Not fatal: a VM whose firewalls allow the host's tcp/22 is still seen. */
		log_warn("ssh probe: cannot mark its sockets (%s); VMs whose firewalls forbid SSH from the host "
			 "will not be seen as ready", strerror(errno));
		pr->mark_warned = true;
	}
	if (connect(fd, (const struct sockaddr *)&t->sa, sizeof(t->sa)) < 0 && errno != EINPROGRESS) {
		close(fd);
		return;
	}
	*k = (struct probe_conn){.fd = fd, .started = now};
}

/* Ends attempts that ran out of time and dials when one is due; lowers
 * *wake_at to when t next needs the thread. */
static void target_tend(struct prober *pr, struct probe_target *t, int64_t now, int64_t *wake_at)
{
	bool connected = false;
	for (int i = 0; i < PROBE_CONNS; i++) {
		struct probe_conn *k = &t->conns[i];
		if (k->fd < 0)
			continue;
		int64_t limit = k->started + (k->connected ? PROBE_STALL_MS : PROBE_CONNECT_MS);
		if (now >= limit) {
			if (k->connected)
				t->next_dial = now;
			conn_close(k);
			continue;
		}
		connected = connected || k->connected;
		if (limit < *wake_at)
			*wake_at = limit;
	}
	if (connected)
		return;
	if (now >= t->next_dial)
		target_dial(pr, t, now);
	if (t->next_dial < *wake_at)
		*wake_at = t->next_dial;
}

/* Advances k on what poll() saw; true when the prefix has been read. */
static bool conn_advance(struct probe_target *t, struct probe_conn *k, short revents, int64_t now)
{
	if (!k->connected) {
		if (!(revents & (POLLOUT | POLLERR | POLLHUP)))
			return false;
		int soerr = 0;
		socklen_t len = sizeof(soerr);
		if (getsockopt(k->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0 || soerr != 0) {
			conn_close(k);   /* refused or unreachable: the next dial is due soon */
			return false;
		}
		k->connected = true;
		k->started = now;
		for (int i = 0; i < PROBE_CONNS; i++)   /* one connection is enough */
			if (&t->conns[i] != k)
				conn_close(&t->conns[i]);
	}
	size_t want = strlen(t->prefix);
	while (k->got < want) {
		char buf[64];
		size_t n = want - k->got < sizeof(buf) ? want - k->got : sizeof(buf);
		ssize_t r = read(k->fd, buf, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			return false;
		if (r > 0 && memcmp(buf, t->prefix + k->got, (size_t)r) == 0) {
			k->got += (size_t)r;
			continue;
		}
		/* Hung up, failed, or something that is not the service. */
		conn_close(k);
		t->next_dial = now + PROBE_REDIAL_MS;
		return false;
	}
	return true;
}

struct probe_watch {
	struct probe_target *t;
	struct probe_conn *k;
};

static void *prober_loop(void *arg)
{
	struct prober *pr = arg;
	struct pollfd *pfds = NULL;
	struct probe_watch *who = NULL;
	size_t cap = 0;
	pthread_mutex_lock(&pr->mu);
	while (!pr->quit) {
		int64_t now = time_mono_ms(), wake_at = INT64_MAX;
		int kept = 0;
		for (int i = 0; i < pr->n; i++) {
			if (pr->targets[i]->dropped)
				target_free(pr->targets[i]);
			else
				pr->targets[kept++] = pr->targets[i];
		}
		pr->n = kept;
		size_t need = 1 + (size_t)pr->n * PROBE_CONNS;
		if (need > cap) {
			cap = need;
			pfds = xrealloc(pfds, cap * sizeof(*pfds));
			who = xrealloc(who, cap * sizeof(*who));
		}
		size_t n = 0;
		pfds[n++] = (struct pollfd){.fd = pr->wake, .events = POLLIN};
		for (int i = 0; i < pr->n; i++) {
			struct probe_target *t = pr->targets[i];
			if (t->ready || !t->addr_ok)
				continue;
			target_tend(pr, t, now, &wake_at);
			for (int j = 0; j < PROBE_CONNS; j++) {
				struct probe_conn *k = &t->conns[j];
				if (k->fd < 0)
					continue;
				who[n] = (struct probe_watch){t, k};
				pfds[n++] = (struct pollfd){.fd = k->fd, .events = k->connected ? POLLIN : POLLOUT};
			}
		}
		int timeout = -1;
		if (wake_at != INT64_MAX)
			timeout = wake_at - now > INT_MAX ? INT_MAX : (int)(wake_at > now ? wake_at - now : 0);
		pthread_mutex_unlock(&pr->mu);
		int r = poll(pfds, (nfds_t)n, timeout);
		if (r < 0 && errno != EINTR) {
			log_warn("ssh probe: poll: %s", strerror(errno));
			time_sleep_ms(PROBE_DIAL_MS);
		}
		pthread_mutex_lock(&pr->mu);
		if (r <= 0)
			continue;
		if (pfds[0].revents) {
			uint64_t count;
			if (read(pr->wake, &count, sizeof(count)) < 0 && errno != EAGAIN)
				log_warn("ssh probe: reading its wake-up: %s", strerror(errno));
		}
		now = time_mono_ms();
		bool became_ready = false;
		for (size_t i = 1; i < n; i++) {
			struct probe_target *t = who[i].t;
			struct probe_conn *k = who[i].k;
			/* Dropped, re-aimed or closed by a sibling since the poll: not ours to read. */
			if (!pfds[i].revents || t->dropped || t->ready || k->fd != pfds[i].fd)
				continue;
			if (conn_advance(t, k, pfds[i].revents, now)) {
				t->ready = true;
				target_close_all(t);
				became_ready = true;
			}
		}
		if (became_ready && pr->fn) {
			pthread_mutex_unlock(&pr->mu);
			pr->fn(pr->arg);
			pthread_mutex_lock(&pr->mu);
		}
	}
	pthread_mutex_unlock(&pr->mu);
	free(pfds);
	free(who);
	return NULL;
}

int prober_start(prober_ready_fn *fn, void *arg, uint32_t mark, struct prober **out, struct err *e)
{
	struct prober *pr = xcalloc(1, sizeof(*pr));
	int rc;
	pr->fn = fn;
	pr->arg = arg;
	pr->mark = mark;
	pthread_mutex_init(&pr->mu, NULL);
	pr->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (pr->wake < 0) {
		err_set(e, ERR_INTERNAL, "cannot start the SSH prober: eventfd: %s", strerror(errno));
		goto fail;
	}
	rc = pthread_create(&pr->thread, NULL, prober_loop, pr);
	if (rc != 0) {
		err_set(e, ERR_INTERNAL, "cannot start the SSH prober's thread: %s", strerror(rc));
		goto fail;
	}
	*out = pr;
	return 0;
fail:
	if (pr->wake >= 0)
		close(pr->wake);
	pthread_mutex_destroy(&pr->mu);
	free(pr);
	return -1;
}

void prober_stop(struct prober *pr)
{
	if (!pr)
		return;
	pthread_mutex_lock(&pr->mu);
	pr->quit = true;
	pthread_mutex_unlock(&pr->mu);
	wake(pr);
	pthread_join(pr->thread, NULL);
	for (int i = 0; i < pr->n; i++)
		target_free(pr->targets[i]);
	free(pr->targets);
	close(pr->wake);
	pthread_mutex_destroy(&pr->mu);
	free(pr);
}

/* Under mu: the live target of key, or NULL. */
static struct probe_target *target_find(struct prober *pr, const char *key)
{
	for (int i = 0; i < pr->n; i++)
		if (!pr->targets[i]->dropped && strcmp(pr->targets[i]->key, key) == 0)
			return pr->targets[i];
	return NULL;
}

enum probe_state prober_check(struct prober *pr, const char *key, const char *ip, int port, const char *prefix)
{
	if (!pr)
		return PROBE_WAITING;
	pthread_mutex_lock(&pr->mu);
	struct probe_target *t = target_find(pr, key);
	bool changed = false;
	if (!t) {
		t = xcalloc(1, sizeof(*t));
		t->key = xstrdup(key);
		t->prefix = xstrdup(prefix);
		for (int i = 0; i < PROBE_CONNS; i++)
			t->conns[i].fd = -1;
		target_aim(t, ip, port);
		pr->targets = xrealloc(pr->targets, sizeof(*pr->targets) * (size_t)(pr->n + 1));
		pr->targets[pr->n++] = t;
		changed = true;
	} else if (strcmp(t->ip, ip ? ip : "") != 0 || t->port != port || strcmp(t->prefix, prefix) != 0) {
		free(t->prefix);
		t->prefix = xstrdup(prefix);
		target_aim(t, ip, port);
		changed = true;
	}
	enum probe_state s = t->ready ? PROBE_READY : PROBE_WAITING;
	pthread_mutex_unlock(&pr->mu);
	if (changed)
		wake(pr);
	return s;
}

void prober_drop(struct prober *pr, const char *key)
{
	if (!pr)
		return;
	pthread_mutex_lock(&pr->mu);
	struct probe_target *t = target_find(pr, key);
	if (t) {
		target_close_all(t);
		t->dropped = true;
	}
	pthread_mutex_unlock(&pr->mu);
	if (t)
		wake(pr);
}
