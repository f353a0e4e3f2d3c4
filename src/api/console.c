/*
 * console: a VM's serial console in the browser, over a WebSocket.
 *
 * A WebSocket cannot carry the CSRF header, and a browser sends cookies on
 * a WebSocket from any site; so the socket is opened with a ticket instead:
 * POST /v1/vms/NAME/console/tickets (authorised like any request: a token,
 * or a session with its CSRF token) answers a ticket that opens that VM's
 * console once, within CONSOLE_TICKET_TTL_MS:
 *   GET /v1/vms/NAME/console/ws?ticket=T   (Upgrade: websocket)
 * Tickets live in this nubod's memory only: the console is on the VM's
 * host, and a ticket outliving a restart would be worthless anyway.
 *
 * The WebSocket is libmicrohttpd's HTTP upgrade (it also does the TLS on
 * HTTPS). The guest's output reaches the browser as binary frames; what the
 * browser sends (text or binary frames) goes to the guest as typed. Each
 * viewer has a thread that reads its socket; the VM's hub (host/serial.h)
 * writes the guest's output to every viewer.
 */
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "api/api-priv.h"
#include "util/thread.h"
#include "util/websocket.h"
#include "util/log.h"
#include "util/str.h"
#include "util/timeutil.h"

#define CONSOLE_TICKET_TTL_MS 30000
#define CONSOLE_TICKETS_MAX 1024
/* Frames queued for one viewer: a viewer further behind is dropped, and
 * before its upgrade (no socket yet) newer output is dropped instead. */
#define QUEUE_MAX (1024 * 1024)
/* The socket's own send buffer for a viewer. */
#define SEND_BUFFER (128 * 1024)
/* A viewer whose socket takes nothing for this long is dropped. */
#define VIEWER_SEND_TIMEOUT_S 5

/* --- tickets ---------------------------------------------------------------- */

struct ticket {
	char hash[SECRET_HASH_LEN + 1];
	char vm_id[ID_MAX];
	int64_t until_ms;      /* time_mono_ms */
};

static pthread_mutex_t tickets_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ticket tickets[CONSOLE_TICKETS_MAX];

/* Keeps a new ticket for vm_id; the oldest gives way when all are taken. */
static void ticket_add(const char *hash, const char *vm_id)
{
	int64_t now = time_mono_ms();
	pthread_mutex_lock(&tickets_lock);
	int slot = 0;
	for (int i = 0; i < CONSOLE_TICKETS_MAX; i++) {
		if (tickets[i].until_ms <= now) {
			slot = i;
			break;
		}
		if (tickets[i].until_ms < tickets[slot].until_ms)
			slot = i;
	}
	snprintf(tickets[slot].hash, sizeof(tickets[slot].hash), "%s", hash);
	snprintf(tickets[slot].vm_id, sizeof(tickets[slot].vm_id), "%s", vm_id);
	tickets[slot].until_ms = now + CONSOLE_TICKET_TTL_MS;
	pthread_mutex_unlock(&tickets_lock);
}

/* Uses up the ticket whose secret is given, if it is valid for vm_id. */
static bool ticket_take(const char *secret, const char *vm_id)
{
	if (!secret || !secret_well_formed(secret))
		return false;
	char hash[SECRET_HASH_LEN + 1];
	secret_hash(secret, hash);
	int64_t now = time_mono_ms();
	bool ok = false;
	pthread_mutex_lock(&tickets_lock);
	for (int i = 0; i < CONSOLE_TICKETS_MAX; i++) {
		if (tickets[i].until_ms > now && secret_hash_equal(hash, tickets[i].hash)) {
			ok = strcmp(tickets[i].vm_id, vm_id) == 0;
			tickets[i].until_ms = 0;   /* used, whatever it was for */
		}
	}
	pthread_mutex_unlock(&tickets_lock);
	return ok;
}

/* POST /v1/vms/{}/console/tickets: 409 at once, with the reason, when the
 * console cannot be opened (a browser's WebSocket never sees an error's words). */
static void create_ticket(const struct api_req *req, struct api_resp *resp)
{
	struct vm vm;
	struct err e = {0};
	if (ctl_console_check(req->ctl, req->args[0], &e) < 0 ||
	    store_vm_get(ctl_store(req->ctl), req->args[0], &vm, &e) < 0) {
		api_error(resp, &e);
		return;
	}
	char secret[SECRET_LEN + 1], hash[SECRET_HASH_LEN + 1];
	secret_new(secret);
	secret_hash(secret, hash);
	ticket_add(hash, vm.id);
	autofree char *url = xasprintf("/v1/vms/%s/console/ws?ticket=%s", vm.name, secret);
	api_json(resp, 201, json_pack("{s:s, s:s, s:i}", "ticket", secret, "url", url, "expires_in_s",
				      CONSOLE_TICKET_TTL_MS / 1000));
	explicit_bzero(secret, sizeof(secret));
	vm_free_fields(&vm);
}

const struct api_route api_console_routes[] = {
	{"POST", "/v1/vms/{}/console/tickets", create_ticket},
	{NULL, NULL, NULL},
};

/* --- the WebSocket ------------------------------------------------------------ */

/*
 * A viewer has two threads: one reads its frames (viewer_main), one sends
 * (sender_main). Everything sent to it, the guest's output from the hub's
 * thread and the replies to its pings and close, is queued as frames under
 * ws->lock and sent by its sender alone, so a viewer that stops reading
 * never holds up the hub, and so the console's other viewers: it falls
 * behind until QUEUE_MAX, and is dropped.
 */
struct api_ws {
	struct api_ws *next;           /* among the live viewers (viewers_lock) */
	pthread_mutex_t lock;          /* sock, queue, ended, closing: the hub's thread and the viewer's two */
	pthread_cond_t queued;         /* the queue grew, or closing was set */
	int sock;                      /* the upgraded socket, -1 until the upgrade */
	struct sbuf queue;             /* frames not yet sent (output before the upgrade too) */
	bool ended;                    /* the console closed: the sender shuts the socket once the queue is out */
	bool closing;                  /* the viewer is leaving or was dropped: queue no more */
	int refs;                      /* the connection's (until on_completed) and the viewer thread's; viewers_lock */
	struct serial_viewer *sv;
	struct MHD_UpgradeResponseHandle *urh;
	char *extra;                   /* bytes that came with the request, past its headers */
	size_t extra_len;
	char vm_id[ID_MAX];
};

/* The viewers whose threads run, so that nubod's stop can end them before
 * libmicrohttpd's daemons go. */
static pthread_mutex_t viewers_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t viewers_gone = PTHREAD_COND_INITIALIZER;
static struct api_ws *viewers;
static bool viewers_closing;

static void viewer_remove(struct api_ws *ws)
{
	pthread_mutex_lock(&viewers_lock);
	for (struct api_ws **p = &viewers; *p; p = &(*p)->next) {
		if (*p == ws) {
			*p = ws->next;
			break;
		}
	}
	pthread_cond_broadcast(&viewers_gone);
	pthread_mutex_unlock(&viewers_lock);
}

/* Drops one of the two owners of ws (the connection, which libmicrohttpd
 * reports done after the upgraded socket is closed, and the viewer's
 * thread); the last one frees it. */
static void ws_free(struct api_ws *ws);
static void ws_unref(struct api_ws *ws)
{
	pthread_mutex_lock(&viewers_lock);
	bool last = --ws->refs == 0;
	pthread_mutex_unlock(&viewers_lock);
	if (last)
		ws_free(ws);
}

int api_console_stop(int wait_ms)
{
	pthread_mutex_lock(&viewers_lock);
	viewers_closing = true;
	for (struct api_ws *ws = viewers; ws; ws = ws->next) {
		pthread_mutex_lock(&ws->lock);
		if (ws->sock >= 0)
			shutdown(ws->sock, SHUT_RDWR);   /* its thread's recv returns */
		pthread_mutex_unlock(&ws->lock);
	}
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += wait_ms / 1000;
	until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	while (viewers && pthread_cond_timedwait(&viewers_gone, &viewers_lock, &until) == 0)
		;
	int left = 0;
	for (struct api_ws *ws = viewers; ws; ws = ws->next)
		left++;
	pthread_mutex_unlock(&viewers_lock);
	return left;
}

static bool send_all(int sock, const void *data, size_t n)
{
	const char *p = data;
	while (n) {
		ssize_t w = send(sock, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

/* Queues one frame for the sender. Under ws->lock. */
static void queue_frame(struct api_ws *ws, enum ws_opcode op, const char *data, size_t n)
{
	if (ws->closing)
		return;
	uint8_t h[WS_HEADER_MAX];
	size_t hl = ws_frame_header(h, op, n, NULL);
	if (ws->queue.len + hl + n > QUEUE_MAX) {
		if (ws->sock < 0)
			return;   /* not upgraded yet: it will see the log's tail, not all of this */
		log_info("console %s: dropping a viewer that fell %d KiB behind", ws->vm_id, QUEUE_MAX / 1024);
		ws->closing = true;
		shutdown(ws->sock, SHUT_RDWR);   /* its reading thread's recv returns */
		pthread_cond_signal(&ws->queued);
		return;
	}
	sbuf_addn(&ws->queue, (const char *)h, hl);
	sbuf_addn(&ws->queue, data, n);
	pthread_cond_signal(&ws->queued);
}

/* The viewer's sender: the queue, in order, until the viewer leaves (what
 * was queued before is still sent, a close frame last) or its socket fails. */
static void *sender_main(void *arg)
{
	struct api_ws *ws = arg;
	pthread_mutex_lock(&ws->lock);
	for (;;) {
		while (ws->queue.len == 0 && !ws->closing && !ws->ended)
			pthread_cond_wait(&ws->queued, &ws->lock);
		if (ws->queue.len == 0) {
			if (ws->ended)
				shutdown(ws->sock, SHUT_RDWR);
			break;
		}
		struct sbuf out = ws->queue;
		memset(&ws->queue, 0, sizeof(ws->queue));
		pthread_mutex_unlock(&ws->lock);
		bool sent = send_all(ws->sock, out.data, out.len);
		sbuf_free(&out);
		pthread_mutex_lock(&ws->lock);
		if (!sent) {
			if (!ws->closing)
				log_info("console %s: dropping a viewer that took no output for %d s", ws->vm_id,
					 VIEWER_SEND_TIMEOUT_S);
			ws->closing = true;
			shutdown(ws->sock, SHUT_RDWR);
			break;
		}
	}
	pthread_mutex_unlock(&ws->lock);
	return NULL;
}

/* serial_out_fn: the guest's output, or the console's end (n == 0). */
static void on_output(void *arg, const char *data, size_t n)
{
	struct api_ws *ws = arg;
	pthread_mutex_lock(&ws->lock);
	if (n == 0) {
		static const char bye[] = "\x03\xe8";   /* 1000: normal closure */
		queue_frame(ws, WS_CLOSE, bye, 2);
		ws->ended = true;
		pthread_cond_signal(&ws->queued);
	} else {
		queue_frame(ws, WS_BINARY, data, n);
	}
	pthread_mutex_unlock(&ws->lock);
}

static void ws_free(struct api_ws *ws)
{
	ctl_console_detach(ws->sv);
	pthread_mutex_destroy(&ws->lock);
	pthread_cond_destroy(&ws->queued);
	sbuf_free(&ws->queue);
	free(ws->extra);
	free(ws);
}

/* The viewer's thread: frames from the browser until it closes. */
static void *viewer_main(void *arg)
{
	struct api_ws *ws = arg;
	size_t cap = WS_PAYLOAD_MAX + 16, len = 0;
	char *buf = xcalloc(1, cap);
	if (ws->extra_len && ws->extra_len <= cap) {
		memcpy(buf, ws->extra, ws->extra_len);
		len = ws->extra_len;
	}
	pthread_t sender;
	bool open = pthread_create(&sender, NULL, sender_main, ws) == 0, have_sender = open;
	if (!have_sender)
		log_error("console %s: cannot start a viewer's sender thread", ws->vm_id);
	while (open) {
		struct ws_frame f;
		struct err e = {0};
		long used;
		while (open && (used = ws_frame_parse(buf, len, true, &f, &e)) > 0) {
			struct err we = {0};
			if (f.opcode == WS_CLOSE) {
				pthread_mutex_lock(&ws->lock);
				queue_frame(ws, WS_CLOSE, f.payload, f.len >= 2 ? 2 : 0);
				pthread_mutex_unlock(&ws->lock);
				open = false;
			} else if (f.opcode == WS_PING) {
				pthread_mutex_lock(&ws->lock);
				queue_frame(ws, WS_PONG, f.payload, f.len);
				pthread_mutex_unlock(&ws->lock);
			} else if (f.opcode != WS_PONG && f.len && ctl_console_write(ws->sv, f.payload, f.len, &we) < 0) {
				log_info("console %s: %s", ws->vm_id, we.msg);
				open = false;
			}
			memmove(buf, buf + used, len - (size_t)used);
			len -= (size_t)used;
		}
		if (used < 0) {
			log_info("console %s: closing a viewer: %s", ws->vm_id, e.msg);
			static const char proto[] = "\x03\xea";   /* 1002: protocol error */
			pthread_mutex_lock(&ws->lock);
			queue_frame(ws, WS_CLOSE, proto, 2);
			pthread_mutex_unlock(&ws->lock);
			break;
		}
		if (!open)
			break;
		ssize_t n = recv(ws->sock, buf + len, cap - len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	free(buf);
	/* The sender sends what is queued (a close frame last) and ends. */
	pthread_mutex_lock(&ws->lock);
	ws->closing = true;
	pthread_cond_signal(&ws->queued);
	pthread_mutex_unlock(&ws->lock);
	if (have_sender)
		pthread_join(sender, NULL);
	/* No more output after the detach; then the socket can go. */
	ctl_console_detach(ws->sv);
	ws->sv = NULL;
	log_info("console %s: a viewer left", ws->vm_id);
	viewer_remove(ws);
	MHD_upgrade_action(ws->urh, MHD_UPGRADE_ACTION_CLOSE);
	ws_unref(ws);
	return NULL;
}

static void on_upgrade(void *cls, struct MHD_Connection *connection, void *req_cls, const char *extra_in,
		       size_t extra_in_size, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
	(void)connection;
	(void)req_cls;
	struct api_ws *ws = cls;
	/* libmicrohttpd hands the socket over non-blocking: the viewer's
	 * threads block in recv and send, and a send that cannot go on within
	 * the timeout drops the viewer. */
	int fl = fcntl(sock, F_GETFL);
	if (fl >= 0)
		fcntl(sock, F_SETFL, fl & ~O_NONBLOCK);
	struct timeval tv = {.tv_sec = VIEWER_SEND_TIMEOUT_S};
	setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	/* A fixed send buffer (the kernel's own may grow to megabytes), so
	 * that QUEUE_MAX bounds what a viewer's backlog costs. */
	int sndbuf = SEND_BUFFER;
	setsockopt(sock, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	pthread_mutex_lock(&ws->lock);
	ws->urh = urh;
	ws->sock = sock;
	if (extra_in_size) {
		ws->extra = xcalloc(1, extra_in_size);
		memcpy(ws->extra, extra_in, extra_in_size);
		ws->extra_len = extra_in_size;
	}
	pthread_mutex_unlock(&ws->lock);
	pthread_mutex_lock(&viewers_lock);
	bool closing = viewers_closing;
	ws->refs++;   /* the viewer thread's, whether or not it starts */
	if (!closing) {
		ws->next = viewers;
		viewers = ws;
	}
	pthread_mutex_unlock(&viewers_lock);
	/* Logged before the thread starts: from then on the thread owns ws. */
	if (!closing)
		log_info("console %s: a viewer joined", ws->vm_id);
	if (closing || thread_start_detached(viewer_main, ws) != 0) {
		if (!closing) {
			viewer_remove(ws);
			log_error("console %s: cannot start a viewer's thread", ws->vm_id);
		}
		ctl_console_detach(ws->sv);
		ws->sv = NULL;
		MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
		ws_unref(ws);
	}
}

bool api_console_ws_target(const char *method, const char *target)
{
	struct api_path p;
	struct err e = {0};
	if (strcmp(method, "GET") != 0 || api_path_parse(target, &p, &e) < 0)
		return false;
	return p.n == 5 && strcmp(p.seg[0], "v1") == 0 && strcmp(p.seg[1], "vms") == 0 && p.seg[2][0] &&
	       strcmp(p.seg[3], "console") == 0 && strcmp(p.seg[4], "ws") == 0;
}

/* Whether a comma-separated header value holds token (any case). */
static bool header_has(const char *value, const char *token)
{
	if (!value)
		return false;
	size_t n = strlen(token);
	for (const char *p = value; *p;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		size_t len = strcspn(p, ",");
		size_t end = len;
		while (end && (p[end - 1] == ' ' || p[end - 1] == '\t'))
			end--;
		if (end == n && strncasecmp(p, token, n) == 0)
			return true;
		p += len;
	}
	return false;
}

static int answer_error(struct MHD_Connection *conn, int status, const char *code, const char *msg)
{
	json_t *j = json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", msg);
	char *text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(r, "Content-Type", "application/json");
	int ret = MHD_queue_response(conn, (unsigned)status, r);
	MHD_destroy_response(r);
	return ret;
}

int api_console_ws_answer(struct ctl *ctl, void *mhd_conn, const char *target, struct api_ws **out)
{
	struct MHD_Connection *conn = mhd_conn;
	struct api_path p;
	struct err e = {0};
	*out = NULL;
	api_path_parse(target, &p, &e);   /* api_console_ws_target said it parses */
	const char *ref = p.seg[2];
	const char *upgrade = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_UPGRADE);
	const char *connection = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONNECTION);
	const char *version = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Sec-WebSocket-Version");
	const char *key = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Sec-WebSocket-Key");
	const char *ticket = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "ticket");
	char accept[WS_ACCEPT_LEN + 1];
	if (!header_has(upgrade, "websocket") || !header_has(connection, "upgrade"))
		return answer_error(conn, 400, "invalid",
				    "this is a WebSocket: send Upgrade: websocket and Connection: Upgrade");
	if (!version || strcmp(version, "13") != 0)
		return answer_error(conn, 400, "invalid", "Sec-WebSocket-Version must be 13");
	if (!ws_accept(key, accept))
		return answer_error(conn, 400, "invalid", "Sec-WebSocket-Key must be the base64 of 16 bytes");
	struct vm vm;
	if (store_vm_get(ctl_store(ctl), ref, &vm, &e) < 0)
		return answer_error(conn, err_kind_http_status(e.kind), err_kind_code(e.kind), e.msg);
	bool ok = ticket_take(ticket, vm.id);
	autofree char *name = xstrdup(vm.name);
	vm_free_fields(&vm);
	if (!ok) {
		autofree char *msg = xasprintf("the console needs a ticket (?ticket=) that is valid, unused and for VM "
					       "%s; get one with POST /v1/vms/%s/console/tickets",
					       name, name);
		return answer_error(conn, 401, "unauthorized", msg);
	}
	struct api_ws *ws = xcalloc(1, sizeof(*ws));
	pthread_mutex_init(&ws->lock, NULL);
	pthread_cond_init(&ws->queued, NULL);
	ws->sock = -1;
	ws->refs = 1;   /* the connection's, dropped in api_console_ws_done */
	if (ctl_console_attach(ctl, name, on_output, ws, &ws->sv, ws->vm_id, &e) < 0) {
		ws_free(ws);
		return answer_error(conn, err_kind_http_status(e.kind), err_kind_code(e.kind), e.msg);
	}
	struct MHD_Response *r = MHD_create_response_for_upgrade(on_upgrade, ws);
	MHD_add_response_header(r, MHD_HTTP_HEADER_UPGRADE, "websocket");
	MHD_add_response_header(r, "Sec-WebSocket-Accept", accept);
	int ret = MHD_queue_response(conn, MHD_HTTP_SWITCHING_PROTOCOLS, r);
	MHD_destroy_response(r);
	*out = ws;
	return ret;
}

void api_console_ws_done(struct api_ws *ws)
{
	if (ws)
		ws_unref(ws);
}
