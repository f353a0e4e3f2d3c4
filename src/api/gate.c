/* gate: waiting connections bounded by deadline, peer and total; refused tokens summed up (see gate.h). */
#include "api/gate.h"

#include <netdb.h>
#include <linux/tcp.h>   /* struct tcp_info with tcpi_bytes_received; glibc's lacks it */
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "util/log.h"
#include "util/str.h"
#include "util/timeutil.h"

#define PEER_NAME_MAX 64
/* Addresses named in one summary line; the rest are summed as "others". */
#define AUTH_LOG_PEERS 16

/* How many connections a peer has waiting; in a small hash table. */
struct peer {
	struct peer *next;
	unsigned waiting;
	char name[PEER_NAME_MAX];
};
#define PEER_BUCKETS 256

struct gate_conn {
	struct gate_conn *prev, *next;   /* in the waiting list when waiting */
	bool waiting;
	bool tcp;
	int fd;
	int64_t since_ms;
	char peer[PEER_NAME_MAX];
};

/* Reasons named per address in a summary (api_token_check has three). */
#define AUTH_LOG_REASONS 4

struct auth_count {
	char peer[PEER_NAME_MAX];
	uint64_t n;
	const char *why[AUTH_LOG_REASONS];   /* static strings */
	uint64_t why_n[AUTH_LOG_REASONS];
};

struct gate {
	pthread_mutex_t lock;
	char name[16];
	unsigned per_peer, total;
	int deadline_ms;
	/* waiting connections, oldest first (each appended with the time it began) */
	struct gate_conn *head, *tail;
	unsigned waiting;
	struct peer *peers[PEER_BUCKETS];   /* those with a connection waiting */
	uint64_t cut_deadline, cut_peer, cut_total;
	/* refused tokens of the current interval */
	int64_t auth_since_ms;
	bool auth_logged;                 /* the first of the interval was written out */
	struct auth_count auth[AUTH_LOG_PEERS];
	int n_auth;
	uint64_t auth_others, auth_total;
};

struct gate *gate_new(const char *name, unsigned per_peer, unsigned total, int deadline_ms)
{
	struct gate *g = xcalloc(1, sizeof(*g));
	pthread_mutex_init(&g->lock, NULL);
	snprintf(g->name, sizeof(g->name), "%s", name);
	g->per_peer = per_peer;
	g->total = total;
	g->deadline_ms = deadline_ms;
	g->auth_since_ms = time_mono_ms();
	return g;
}

void gate_free(struct gate *g)
{
	if (!g)
		return;
	/* The daemon has closed every connection, and with it freed each gate_conn
	 * and emptied the peer table. */
	for (int i = 0; i < PEER_BUCKETS; i++)
		for (struct peer *p = g->peers[i], *next; p; p = next) {
			next = p->next;
			free(p);
		}
	pthread_mutex_destroy(&g->lock);
	free(g);
}

void gate_peer_name(struct MHD_Connection *c, char *out, size_t n)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;
	char host[NI_MAXHOST];
	if (sa && (sa->sa_family == AF_INET || sa->sa_family == AF_INET6)) {
		socklen_t len = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
		if (getnameinfo(sa, len, host, sizeof(host), NULL, 0, NI_NUMERICHOST) == 0) {
			snprintf(out, n, sa->sa_family == AF_INET6 ? "[%s]" : "%s", host);
			return;
		}
	}
	/* The unix socket: the peer is the user at the other end, as the kernel says. */
	const union MHD_ConnectionInfo *fi = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	if (fi && getsockopt(fi->connect_fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == 0)
		snprintf(out, n, "uid %u", (unsigned)cred.uid);
	else
		snprintf(out, n, "?");
}

/* The waiting count of peer name, made (at 0) when create. */
static struct peer *peer_get(struct gate *g, const char *name, bool create)
{
	unsigned h = 2166136261u;
	for (const char *c = name; *c; c++)
		h = (h ^ (unsigned char)*c) * 16777619u;
	struct peer **slot = &g->peers[h % PEER_BUCKETS];
	for (struct peer *p = *slot; p; p = p->next)
		if (strcmp(p->name, name) == 0)
			return p;
	if (!create)
		return NULL;
	struct peer *p = xcalloc(1, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->next = *slot;
	*slot = p;
	return p;
}

static void peer_drop(struct gate *g, const char *name)
{
	unsigned h = 2166136261u;
	for (const char *c = name; *c; c++)
		h = (h ^ (unsigned char)*c) * 16777619u;
	for (struct peer **slot = &g->peers[h % PEER_BUCKETS]; *slot; slot = &(*slot)->next) {
		struct peer *p = *slot;
		if (strcmp(p->name, name) != 0)
			continue;
		if (--p->waiting == 0) {
			*slot = p->next;
			free(p);
		}
		return;
	}
}

static void list_remove(struct gate *g, struct gate_conn *gc)
{
	if (!gc->waiting)
		return;
	peer_drop(g, gc->peer);
	if (gc->prev)
		gc->prev->next = gc->next;
	else
		g->head = gc->next;
	if (gc->next)
		gc->next->prev = gc->prev;
	else
		g->tail = gc->prev;
	gc->prev = gc->next = NULL;
	gc->waiting = false;
	g->waiting--;
}

static void list_append(struct gate *g, struct gate_conn *gc, int64_t now)
{
	list_remove(g, gc);
	gc->since_ms = now;
	gc->prev = g->tail;
	gc->next = NULL;
	if (g->tail)
		g->tail->next = gc;
	else
		g->head = gc;
	g->tail = gc;
	gc->waiting = true;
	g->waiting++;
	peer_get(g, gc->peer, true)->waiting++;
}

/* Ends a waiting connection: libmicrohttpd reads the end of the stream and
 * closes it (NOTIFY_CLOSED then frees gc). The lock is held, and
 * NOTIFY_CLOSED takes it before the descriptor is closed, so fd is still
 * this connection's. */
static void cut(struct gate *g, struct gate_conn *gc, uint64_t *counter)
{
	list_remove(g, gc);
	shutdown(gc->fd, SHUT_RDWR);
	(*counter)++;
}

/* Has the peer sent nothing at all on gc, not even a TLS hello? The kernel
 * counts what arrived on a TCP socket, whoever has read it since. A unix
 * socket has no such count; what waits in its queue unread is the best sign
 * there is: a request sent whole but not yet read (a busy nubod, many
 * clients at once) is not silence. */
static bool silent(const struct gate_conn *gc)
{
	if (!gc->tcp) {
		int queued = 0;
		return ioctl(gc->fd, FIONREAD, &queued) < 0 || queued == 0;
	}
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	memset(&ti, 0, sizeof(ti));
	return getsockopt(gc->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 && ti.tcpi_bytes_received == 0;
}

void gate_on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			enum MHD_ConnectionNotificationCode code)
{
	struct gate *g = cls;
	if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		struct gate_conn *gc = *socket_context;
		if (!gc)
			return;
		pthread_mutex_lock(&g->lock);
		list_remove(g, gc);
		pthread_mutex_unlock(&g->lock);
		free(gc);
		*socket_context = NULL;
		return;
	}
	struct gate_conn *gc = xcalloc(1, sizeof(*gc));
	const union MHD_ConnectionInfo *fi = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	gc->fd = fi ? fi->connect_fd : -1;
	const union MHD_ConnectionInfo *ai = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	gc->tcp = ai && ai->client_addr &&
		  (ai->client_addr->sa_family == AF_INET || ai->client_addr->sa_family == AF_INET6);
	gate_peer_name(c, gc->peer, sizeof(gc->peer));
	*socket_context = gc;
	pthread_mutex_lock(&g->lock);
	int64_t now = time_mono_ms();
	struct peer *p = peer_get(g, gc->peer, false);
	/* The oldest connection of this peer that has been silent for
	 * GATE_SILENT_GRACE_MS goes: not the newest, since a real client's
	 * connection is new, sends its TLS hello or its request at once and is
	 * about to leave the list; and not one just accepted, whose client may
	 * not have been scheduled to send yet. Without such a connection none
	 * goes now, and gate_tick catches up. */
	if (p && p->waiting >= g->per_peer) {
		for (struct gate_conn *w = g->head; w && now - w->since_ms >= GATE_SILENT_GRACE_MS; w = w->next) {
			if (strcmp(w->peer, gc->peer) == 0 && silent(w)) {
				cut(g, w, &g->cut_peer);
				break;
			}
		}
	}
	if (g->waiting >= g->total)
		cut(g, g->head, &g->cut_total);
	list_append(g, gc, now);
	pthread_mutex_unlock(&g->lock);
}

static struct gate_conn *conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci ? ci->socket_context : NULL;
}

void gate_request_started(struct gate *g, struct MHD_Connection *c)
{
	struct gate_conn *gc = conn_of(c);
	if (!gc)
		return;
	pthread_mutex_lock(&g->lock);
	list_remove(g, gc);
	pthread_mutex_unlock(&g->lock);
}

void gate_request_done(struct gate *g, struct MHD_Connection *c)
{
	struct gate_conn *gc = conn_of(c);
	if (!gc)
		return;
	pthread_mutex_lock(&g->lock);
	list_append(g, gc, time_mono_ms());
	pthread_mutex_unlock(&g->lock);
}

void gate_auth_failed(struct gate *g, struct MHD_Connection *c, const char *method, const char *url,
		      const char *why)
{
	char peer[PEER_NAME_MAX];
	gate_peer_name(c, peer, sizeof(peer));
	pthread_mutex_lock(&g->lock);
	bool first = !g->auth_logged;
	if (first) {
		g->auth_logged = true;
	} else {
		g->auth_total++;
		int i = 0;
		while (i < g->n_auth && strcmp(g->auth[i].peer, peer) != 0)
			i++;
		if (i == g->n_auth && g->n_auth < AUTH_LOG_PEERS) {
			memset(&g->auth[i], 0, sizeof(g->auth[i]));
			snprintf(g->auth[i].peer, PEER_NAME_MAX, "%s", peer);
			g->n_auth++;
		}
		if (i < g->n_auth) {
			struct auth_count *a = &g->auth[i];
			a->n++;
			for (int r = 0; r < AUTH_LOG_REASONS; r++) {
				if (!a->why[r] || a->why[r] == why) {
					a->why[r] = why;
					a->why_n[r]++;
					break;
				}
			}
		} else {
			g->auth_others++;
		}
	}
	pthread_mutex_unlock(&g->lock);
	if (first)
		log_warn("%s %s from %s → 401: %s (further refusals in the next %d s are summed up)", method, url, peer,
			 why, GATE_AUTH_LOG_INTERVAL_MS / 1000);
}

void gate_tick(struct gate *g, int64_t now)
{
	struct sbuf line = {0};
	pthread_mutex_lock(&g->lock);
	while (g->head && now - g->head->since_ms >= g->deadline_ms)
		cut(g, g->head, &g->cut_deadline);
	/* Peers past their bound because their arrivals were all in their grace. */
	for (struct gate_conn *w = g->head, *next; w && now - w->since_ms >= GATE_SILENT_GRACE_MS; w = next) {
		next = w->next;
		struct peer *p = peer_get(g, w->peer, false);
		if (p && p->waiting > g->per_peer && silent(w))
			cut(g, w, &g->cut_peer);
	}
	if (now - g->auth_since_ms >= GATE_AUTH_LOG_INTERVAL_MS) {
		if (g->auth_total) {
			sbuf_addf(&line, "api %s: %llu more request%s refused for their token in the last %lld s:", g->name,
				  (unsigned long long)g->auth_total, g->auth_total == 1 ? " was" : "s were",
				  (long long)((now - g->auth_since_ms) / 1000));
			for (int i = 0; i < g->n_auth; i++) {
				const struct auth_count *a = &g->auth[i];
				sbuf_addf(&line, "%s %s ×%llu (", i ? "," : "", a->peer, (unsigned long long)a->n);
				for (int r = 0; r < AUTH_LOG_REASONS && a->why[r]; r++)
					sbuf_addf(&line, "%s%s ×%llu", r ? "; " : "", a->why[r], (unsigned long long)a->why_n[r]);
				sbuf_addf(&line, ")");
			}
			if (g->auth_others)
				sbuf_addf(&line, ", other addresses ×%llu", (unsigned long long)g->auth_others);
		}
		g->auth_since_ms = now;
		g->auth_logged = false;
		g->auth_total = g->auth_others = 0;
		g->n_auth = 0;
	}
	pthread_mutex_unlock(&g->lock);
	if (line.data)
		log_warn("%s", line.data);
	sbuf_free(&line);
}

void gate_stats(struct gate *g, struct gate_stats *out)
{
	pthread_mutex_lock(&g->lock);
	*out = (struct gate_stats){g->cut_deadline, g->cut_peer, g->cut_total, g->waiting};
	pthread_mutex_unlock(&g->lock);
}
