/*
 * benchtool: the measuring instruments of nubo's benchmarks (bench/README.md).
 *
 *   benchtool watch [--t0 MS] [--timeout S] [--interval MS] [--mark TEXT]... TARGET...
 *       Follows VMs as they boot and prints, per target, when (ms after t0,
 *       wall clock) its QEMU pid file appeared, its console log got its first
 *       byte, the kernel's clock read 0 (estimated from the printk stamps),
 *       each --mark text first appeared on the console, and its SSH server
 *       answered. SSH-ready is the same test for every peer: a TCP connect to
 *       port 22 and a read that starts with "SSH-". A new connect every
 *       --interval ms (default 50), several in flight, each given 1 s to be
 *       answered; once one is connected, it alone waits (up to 30 s) for the
 *       banner, as an SSH client would.
 *       TARGET is LABEL:key=value,... with keys
 *         ip=A.B.C.D  console=FILE  pidfile=FILE  file=FILE (when it appears)
 *         nubo=SOCKET name=VM state=DIR  (ip, console and pid file are read
 *                                         from nubod's API once the VM exists)
 *   benchtool load (--unix PATH | --tcp HOST:PORT [--tls]) --path P [--token T]
 *                  [--conns N] [--duration S] [--warmup S] [--post BODY] [--count N]
 *       Closed-loop HTTP/1.1 keep-alive load, one thread per connection:
 *       requests/s and latency percentiles. --post sends POST with BODY, in
 *       which each %d becomes the request's own number (unique names for
 *       creates); any 2xx answer counts. --count stops after N requests
 *       (then requests/s is over the time they took). --tls speaks HTTPS (GnuTLS; the
 *       server's certificate is not checked: this measures, it does not
 *       trust) with the handshake done once per connection, as a keep-alive
 *       client does; --token sends "Authorization: Bearer T".
 *   benchtool serve --unix PATH --file F
 *       Answers every HTTP request on a unix socket with the bytes of F: the
 *       transport floor that nubod's API is compared with.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <jansson.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("benchtool: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

static void *xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n, sz);
	if (!p)
		die("out of memory");
	return p;
}

static int unix_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		die("socket path too long: %s", path);
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* One GET over nubod's unix socket; returns the body of a 200 answer, or NULL. */
static char *http_get_unix(const char *sock, const char *path)
{
	int fd = unix_connect(sock);
	if (fd < 0)
		return NULL;
	char req[512];
	snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: nubo\r\n\r\n", path);
	if (write_all(fd, req, strlen(req)) < 0) {
		close(fd);
		return NULL;
	}
	size_t cap = 65536, len = 0;
	char *buf = malloc(cap);
	for (;;) {
		if (len + 4096 > cap)
			buf = realloc(buf, cap *= 2);
		ssize_t r = read(fd, buf + len, cap - len - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	buf[len] = '\0';
	char *body = strstr(buf, "\r\n\r\n");
	if (strncmp(buf, "HTTP/1.", 7) != 0 || strncmp(buf + 9, "200", 3) != 0 || !body) {
		free(buf);
		return NULL;
	}
	memmove(buf, body + 4, strlen(body + 4) + 1);
	return buf;
}

/* ------------------------------------------------------------------ watch */

#define MAX_MARKS 8
#define MAX_TRIES 24  /* > 1 s of attempts at 50 ms: a fresh SYN always goes out */

struct attempt {
	int fd;
	double started;
	bool connected;
};

struct target {
	char label[64];
	char ip[64];
	char console[512];
	char pidfile[512];
	char file[512];
	char nubo_sock[512], nubo_name[128], nubo_state[512];
	bool resolved;
	double last_resolve;
	/* results, wall-clock ms; 0 = not seen */
	double t_file, t_pid, t_console, t_k0, t_ssh, t_mark[MAX_MARKS];
	/* console reader */
	off_t offset;
	char line[8192];
	size_t line_len;
	/* ssh attempts */
	struct attempt tries[MAX_TRIES];
	double last_try;
	int n_attempts;
};

static const char *marks[MAX_MARKS];
static int n_marks;
static bool debug;  /* BENCHTOOL_DEBUG=1: each SSH attempt's events on stderr */
static double debug_t0;
#define DBG(...) do { if (debug) { fprintf(stderr, "%9.1f ", now_ms() - debug_t0); fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)

static void parse_target(struct target *t, const char *spec)
{
	const char *colon = strchr(spec, ':');
	if (!colon || colon == spec || (size_t)(colon - spec) >= sizeof(t->label))
		die("target \"%s\" is not LABEL:key=value,...", spec);
	memcpy(t->label, spec, (size_t)(colon - spec));
	char *rest = strdup(colon + 1), *save = NULL;
	for (char *kv = strtok_r(rest, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(kv, '=');
		if (!eq)
			die("\"%s\" in target %s is not key=value", kv, t->label);
		*eq = '\0';
		const char *v = eq + 1;
		char *dst = NULL;
		size_t cap = 0;
		if (!strcmp(kv, "ip"))
			dst = t->ip, cap = sizeof(t->ip);
		else if (!strcmp(kv, "console"))
			dst = t->console, cap = sizeof(t->console);
		else if (!strcmp(kv, "pidfile"))
			dst = t->pidfile, cap = sizeof(t->pidfile);
		else if (!strcmp(kv, "file"))
			dst = t->file, cap = sizeof(t->file);
		else if (!strcmp(kv, "nubo"))
			dst = t->nubo_sock, cap = sizeof(t->nubo_sock);
		else if (!strcmp(kv, "name"))
			dst = t->nubo_name, cap = sizeof(t->nubo_name);
		else if (!strcmp(kv, "state"))
			dst = t->nubo_state, cap = sizeof(t->nubo_state);
		else
			die("unknown key \"%s\" in target %s", kv, t->label);
		snprintf(dst, cap, "%s", v);
	}
	free(rest);
	t->resolved = !t->nubo_sock[0];
	for (int i = 0; i < MAX_TRIES; i++)
		t->tries[i].fd = -1;
}

/* nubo targets: the VM's ip and id come from GET /v1/vms/NAME once it exists. */
static void resolve(struct target *t, double now)
{
	if (t->resolved || now - t->last_resolve < 50)
		return;
	t->last_resolve = now;
	char path[256];
	snprintf(path, sizeof(path), "/v1/vms/%s", t->nubo_name);
	char *body = http_get_unix(t->nubo_sock, path);
	if (!body)
		return;
	json_t *vm = json_loads(body, 0, NULL);
	free(body);
	const char *ip = json_string_value(json_object_get(vm, "ip"));
	const char *id = json_string_value(json_object_get(vm, "id"));
	if (ip && id) {
		snprintf(t->ip, sizeof(t->ip), "%s", ip);
		if (t->nubo_state[0]) {
			snprintf(t->console, sizeof(t->console), "%s/vms/%s/console.log", t->nubo_state, id);
			snprintf(t->pidfile, sizeof(t->pidfile), "%s/vms/%s/qemu.pid", t->nubo_state, id);
		}
		t->resolved = true;
	}
	json_decref(vm);
}

/* Removes terminal colour sequences (ESC [ ... letter), which systemd puts
 * inside its status lines, so that marks match the text a person reads. */
static void strip_ansi(char *l)
{
	char *w = l;
	for (char *r = l; *r; r++) {
		if (r[0] == '\033' && r[1] == '[') {
			r += 2;
			while (*r && !((*r >= '@' && *r <= '~')))
				r++;
			if (!*r)
				break;
			continue;
		}
		*w++ = *r;
	}
	*w = '\0';
}

static void console_line(struct target *t, double now)
{
	t->line[t->line_len] = '\0';
	strip_ansi(t->line);
	const char *l = t->line;
	/* "[    1.234567] ..." : the kernel's clock when the line was printed. */
	if (l[0] == '[') {
		char *end = NULL;
		double s = strtod(l + 1, &end);
		if (end && *end == ']') {
			double k0 = now - s * 1000.0;
			if (!t->t_k0 || k0 < t->t_k0)
				t->t_k0 = k0;
		}
	}
	for (int i = 0; i < n_marks; i++)
		if (!t->t_mark[i] && strstr(l, marks[i]))
			t->t_mark[i] = now;
}

static void poll_files(struct target *t, double now)
{
	struct stat st;
	if (!t->t_file && t->file[0] && stat(t->file, &st) == 0)
		t->t_file = now;
	if (!t->t_pid && t->pidfile[0] && stat(t->pidfile, &st) == 0 && st.st_size > 0)
		t->t_pid = now;
	if (!t->console[0])
		return;
	int fd = open(t->console, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	char buf[65536];
	ssize_t r;
	while ((r = pread(fd, buf, sizeof(buf), t->offset)) > 0) {
		if (!t->t_console)
			t->t_console = now;
		t->offset += r;
		for (ssize_t i = 0; i < r; i++) {
			char c = buf[i];
			if (c == '\n' || c == '\r') {
				if (t->line_len)
					console_line(t, now);
				t->line_len = 0;
			} else if (t->line_len < sizeof(t->line) - 1) {
				t->line[t->line_len++] = c;
			}
		}
	}
	close(fd);
	/* A partial line may already hold a mark (the console has no newline yet). */
	if (t->line_len) {
		t->line[t->line_len] = '\0';
		for (int i = 0; i < n_marks; i++)
			if (!t->t_mark[i] && strstr(t->line, marks[i]))
				t->t_mark[i] = now;
	}
}

static void close_try(struct attempt *a)
{
	if (a->fd >= 0)
		DBG("close fd %d (connected %d, age %.0f ms)", a->fd, a->connected, now_ms() - a->started);
	if (a->fd >= 0)
		close(a->fd);
	a->fd = -1;
	a->connected = false;
}

static void start_try(struct target *t, double now)
{
	struct attempt *a = NULL;
	for (int i = 0; i < MAX_TRIES && !a; i++)
		if (t->tries[i].fd < 0)
			a = &t->tries[i];
	if (!a)
		return;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(22)};
	if (inet_pton(AF_INET, t->ip, &sa.sin_addr) != 1)
		die("bad ip \"%s\" for %s", t->ip, t->label);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	t->n_attempts++;
	int rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	DBG("%s fd %d connect rc %d errno %d", t->label, fd, rc, rc < 0 ? errno : 0);
	if (rc < 0 && errno != EINPROGRESS) {
		close(fd);
		return;
	}
	a->fd = fd;
	a->started = now;
	a->connected = rc == 0;
}

static int cmd_watch(int argc, char **argv)
{
	double t0 = 0, timeout_s = 120, interval = 50, tail_ms = 300;
	int n = 0;
	struct target *ts = xcalloc((size_t)argc, sizeof(*ts));
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--t0") && i + 1 < argc)
			t0 = atof(argv[++i]);
		else if (!strcmp(a, "--timeout") && i + 1 < argc)
			timeout_s = atof(argv[++i]);
		else if (!strcmp(a, "--interval") && i + 1 < argc)
			interval = atof(argv[++i]);
		else if (!strcmp(a, "--tail") && i + 1 < argc)
			tail_ms = atof(argv[++i]);
		else if (!strcmp(a, "--mark") && i + 1 < argc) {
			if (n_marks == MAX_MARKS)
				die("at most %d marks", MAX_MARKS);
			marks[n_marks++] = argv[++i];
		} else if (a[0] == '-')
			die("watch: unknown option %s", a);
		else
			parse_target(&ts[n++], a);
	}
	if (!n)
		die("watch: no target");
	if (!t0)
		t0 = now_ms();
	debug = getenv("BENCHTOOL_DEBUG") != NULL;
	debug_t0 = t0;
	double end = mono_ms() + timeout_s * 1000, all_done_at = 0;
	struct pollfd *pfd = xcalloc((size_t)n * MAX_TRIES, sizeof(*pfd));
	struct attempt **owner = xcalloc((size_t)n * MAX_TRIES, sizeof(*owner));
	struct target **otgt = xcalloc((size_t)n * MAX_TRIES, sizeof(*otgt));
	for (;;) {
		double now = now_ms();
		int done = 0, np = 0;
		for (int i = 0; i < n; i++) {
			struct target *t = &ts[i];
			resolve(t, now);
			poll_files(t, now);
			if (t->t_ssh) {
				done++;
				continue;
			}
			if (!t->resolved || !t->ip[0])
				continue;
			/* Connects still waiting for an answer (SYN-ACK) get 1 s; once one
			 * is connected it alone waits for the banner (up to 30 s), as a
			 * client would: a busy guest takes a while to fork its sshd, and
			 * more connections would only give it more work. */
			bool waiting_banner = false;
			for (int k = 0; k < MAX_TRIES; k++) {
				struct attempt *a = &t->tries[k];
				if (a->fd >= 0 && now - a->started > (a->connected ? 30000 : 1000))
					close_try(a);
				if (a->fd >= 0 && a->connected)
					waiting_banner = true;
			}
			if (!waiting_banner && now - t->last_try >= interval) {
				start_try(t, now);
				t->last_try = now;
			}
			for (int k = 0; k < MAX_TRIES; k++) {
				struct attempt *a = &t->tries[k];
				if (a->fd < 0)
					continue;
				pfd[np] = (struct pollfd){.fd = a->fd, .events = a->connected ? POLLIN : POLLOUT};
				owner[np] = a;
				otgt[np++] = t;
			}
		}
		if (done == n && !all_done_at)
			all_done_at = mono_ms();
		if (all_done_at && mono_ms() - all_done_at >= tail_ms)
			break;
		if (mono_ms() > end)
			break;
		int rc = poll(pfd, (nfds_t)np, 5);
		if (rc <= 0)
			continue;
		now = now_ms();
		for (int p = 0; p < np; p++) {
			struct attempt *a = owner[p];
			struct target *t = otgt[p];
			if (!pfd[p].revents || a->fd < 0 || t->t_ssh)
				continue;
			if (!a->connected) {
				int err = 0;
				socklen_t el = sizeof(err);
				getsockopt(a->fd, SOL_SOCKET, SO_ERROR, &err, &el);
				DBG("%s fd %d connect done err %d", t->label, a->fd, err);
				if (err) {
					close_try(a);
				} else {
					a->connected = true;
					a->started = now;
					for (int k = 0; k < MAX_TRIES; k++)
						if (&t->tries[k] != a)
							close_try(&t->tries[k]);
				}
				continue;
			}
			char buf[64];
			ssize_t r = read(a->fd, buf, sizeof(buf));
			DBG("%s fd %d read %zd %.4s", t->label, a->fd, r, r > 0 ? buf : "");
			if (r >= 4 && memcmp(buf, "SSH-", 4) == 0) {
				t->t_ssh = now;
				for (int k = 0; k < MAX_TRIES; k++)
					close_try(&t->tries[k]);
			} else if (r <= 0 || r < 4) {
				close_try(a);
			} else {
				close_try(a);
			}
		}
	}
	printf("#label\tip\tfile_ms\tpidfile_ms\tconsole_ms\tkernel0_ms\tssh_ms\tattempts");
	for (int i = 0; i < n_marks; i++)
		printf("\tmark:%s", marks[i]);
	printf("\n");
	int missing = 0;
	for (int i = 0; i < n; i++) {
		struct target *t = &ts[i];
#define REL(x) ((x) ? (x) - t0 : NAN)
		printf("%s\t%s\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%d", t->label, t->ip[0] ? t->ip : "-", REL(t->t_file), REL(t->t_pid),
		       REL(t->t_console), REL(t->t_k0), REL(t->t_ssh), t->n_attempts);
		for (int k = 0; k < n_marks; k++)
			printf("\t%.1f", REL(t->t_mark[k]));
		printf("\n");
		if (!t->t_ssh)
			missing++;
		for (int k = 0; k < MAX_TRIES; k++)
			close_try(&t->tries[k]);
	}
	return missing ? 1 : 0;
}

/* ------------------------------------------------------------------- load */

struct load_cfg {
	const char *unix_path;
	struct sockaddr_in tcp;
	bool is_tcp, tls;
	gnutls_certificate_credentials_t cred;   /* --tls: no trust anchors, nothing verified */
	const char *path, *token;
	const char *post;             /* NULL: GET */
	long count;                   /* 0: until end */
	double start, warm_end, end;  /* monotonic ms */
};

static long load_seq;        /* requests taken, over every thread (--count, --post's %d) */
static double load_last_ms;  /* monotonic ms of the last answer (--count) */
static pthread_mutex_t load_mu = PTHREAD_MUTEX_INITIALIZER;

struct load_thread {
	const struct load_cfg *cfg;
	pthread_t th;
	double *lat;
	size_t n, cap;
	long errors, bytes, warm_requests;
};

/* A connection of the load: a socket, and a TLS session on it with --tls. */
struct lconn {
	int fd;
	gnutls_session_t tls;   /* NULL: plain */
};

static void lconn_close(struct lconn *k)
{
	if (k->tls) {
		gnutls_deinit(k->tls);
		k->tls = NULL;
	}
	if (k->fd >= 0)
		close(k->fd);
	k->fd = -1;
}

static ssize_t lconn_read(struct lconn *k, char *buf, size_t n)
{
	if (!k->tls)
		return read(k->fd, buf, n);
	ssize_t r;
	do
		r = gnutls_record_recv(k->tls, buf, n);
	while (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED);
	return r < 0 ? -1 : r;
}

static int lconn_write_all(struct lconn *k, const char *p, size_t n)
{
	if (!k->tls)
		return write_all(k->fd, p, n);
	while (n) {
		ssize_t w = gnutls_record_send(k->tls, p, n);
		if (w == GNUTLS_E_AGAIN || w == GNUTLS_E_INTERRUPTED)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int load_connect(const struct load_cfg *c)
{
	if (!c->is_tcp)
		return unix_connect(c->unix_path);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (const struct sockaddr *)&c->tcp, sizeof(c->tcp)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Reads one response; returns its total size, or -1. *keep is false when the
 * server closes the connection after it. */
/* load_connect, then the TLS handshake with --tls; -1 on failure. */
static int lconn_open(const struct load_cfg *c, struct lconn *k)
{
	k->tls = NULL;
	k->fd = load_connect(c);
	if (k->fd < 0 || !c->tls)
		return k->fd < 0 ? -1 : 0;
	int r;
	if (gnutls_init(&k->tls, GNUTLS_CLIENT) < 0) {
		k->tls = NULL;
		lconn_close(k);
		return -1;
	}
	gnutls_set_default_priority(k->tls);
	gnutls_credentials_set(k->tls, GNUTLS_CRD_CERTIFICATE, c->cred);
	gnutls_transport_set_int(k->tls, k->fd);
	do
		r = gnutls_handshake(k->tls);
	while (r < 0 && !gnutls_error_is_fatal(r));
	if (r < 0) {
		lconn_close(k);
		return -1;
	}
	return 0;
}

static long read_response(struct lconn *k, char **buf, size_t *cap, bool *keep)
{
	size_t len = 0;
	char *hdr_end = NULL;
	for (;;) {
		if (len + 4096 > *cap)
			*buf = realloc(*buf, *cap = *cap * 2 + 8192);
		ssize_t r = lconn_read(k, *buf + len, *cap - len - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		len += (size_t)r;
		(*buf)[len] = '\0';
		if ((hdr_end = strstr(*buf, "\r\n\r\n")))
			break;
	}
	size_t hlen = (size_t)(hdr_end - *buf) + 4;
	long clen = -1;
	*keep = true;
	for (char *p = strstr(*buf, "\r\n") + 2; p < hdr_end;) {
		char *eol = strstr(p, "\r\n");
		if (!strncasecmp(p, "content-length:", 15))
			clen = strtol(p + 15, NULL, 10);
		else if (!strncasecmp(p, "connection:", 11)) {
			char *cl = strcasestr(p, "close");
			if (cl && cl < eol)
				*keep = false;
		}
		p = eol + 2;
	}
	if ((*buf)[9] != '2')
		return -1;
	if (clen < 0)
		return -1;  /* every server measured here sends Content-Length */
	size_t want = hlen + (size_t)clen;
	if (want + 1 > *cap)
		*buf = realloc(*buf, *cap = want + 1);
	while (len < want) {
		ssize_t r = lconn_read(k, *buf + len, want - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		len += (size_t)r;
	}
	return (long)want;
}

static void *load_run(void *arg)
{
	struct load_thread *lt = arg;
	const struct load_cfg *c = lt->cfg;
	char req[1024];
	int rl = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: nubo\r\nUser-Agent: benchtool\r\n%s%s%s\r\n",
			  c->path, c->token ? "Authorization: Bearer " : "", c->token ? c->token : "",
			  c->token ? "\r\n" : "");
	if (rl < 0 || (size_t)rl >= sizeof(req))
		die("load: the request does not fit");
	size_t cap = 1 << 20;
	char *buf = malloc(cap);
	struct lconn k = {.fd = -1};
	while (mono_ms() < c->end) {
		if (k.fd < 0 && lconn_open(c, &k) < 0) {
			lt->errors++;
			usleep(10000);
			continue;
		}
		if (c->post) {   /* a request of its own: its number in the body */
			pthread_mutex_lock(&load_mu);
			long seq = ++load_seq;
			pthread_mutex_unlock(&load_mu);
			if (c->count && seq > c->count)
				break;
			char body[512], num[24];
			snprintf(num, sizeof(num), "%ld", seq);
			size_t bl = 0;
			for (const char *p = c->post; *p && bl + 24 < sizeof(body); p++) {
				if (p[0] == '%' && p[1] == 'd') {
					bl += (size_t)snprintf(body + bl, sizeof(body) - bl, "%s", num);
					p++;
				} else {
					body[bl++] = *p;
				}
			}
			body[bl] = '\0';
			rl = snprintf(req, sizeof(req),
				      "POST %s HTTP/1.1\r\nHost: nubo\r\nUser-Agent: benchtool\r\nContent-Type: application/json\r\n"
				      "Content-Length: %zu\r\n%s%s%s\r\n%s",
				      c->path, bl, c->token ? "Authorization: Bearer " : "", c->token ? c->token : "",
				      c->token ? "\r\n" : "", body);
			if (rl < 0 || (size_t)rl >= sizeof(req))
				die("load: the request does not fit");
		}
		double t = mono_ms();
		bool keep = true;
		long got = -1;
		if (lconn_write_all(&k, req, (size_t)rl) == 0)
			got = read_response(&k, &buf, &cap, &keep);
		double done = mono_ms();
		if (c->count) {
			pthread_mutex_lock(&load_mu);
			if (done > load_last_ms)
				load_last_ms = done;
			pthread_mutex_unlock(&load_mu);
		}
		if (got < 0) {
			lt->errors++;
			lconn_close(&k);
			continue;
		}
		if (t >= c->warm_end && done <= c->end) {
			if (lt->n == lt->cap)
				lt->lat = realloc(lt->lat, (lt->cap = lt->cap * 2 + 1024) * sizeof(double));
			lt->lat[lt->n++] = done - t;
			lt->bytes += got;
		}
		if (!keep)
			lconn_close(&k);
	}
	lconn_close(&k);
	free(buf);
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(const double *v, size_t n, double p)
{
	if (!n)
		return NAN;
	size_t i = (size_t)ceil(p / 100.0 * (double)n);
	if (i < 1)
		i = 1;
	if (i > n)
		i = n;
	return v[i - 1];
}

static int cmd_load(int argc, char **argv)
{
	struct load_cfg c = {0};
	int conns = 4;
	double duration = 10, warmup = 1;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--unix") && i + 1 < argc) {
			c.unix_path = argv[++i];
		} else if (!strcmp(a, "--tcp") && i + 1 < argc) {
			char *hp = strdup(argv[++i]), *colon = strrchr(hp, ':');
			if (!colon)
				die("--tcp wants HOST:PORT");
			*colon = '\0';
			c.tcp.sin_family = AF_INET;
			c.tcp.sin_port = htons((uint16_t)atoi(colon + 1));
			if (inet_pton(AF_INET, hp, &c.tcp.sin_addr) != 1)
				die("bad address %s", hp);
			c.is_tcp = true;
			free(hp);
		} else if (!strcmp(a, "--path") && i + 1 < argc) {
			c.path = argv[++i];
		} else if (!strcmp(a, "--tls")) {
			c.tls = true;
		} else if (!strcmp(a, "--token") && i + 1 < argc) {
			c.token = argv[++i];
		} else if (!strcmp(a, "--conns") && i + 1 < argc) {
			conns = atoi(argv[++i]);
		} else if (!strcmp(a, "--duration") && i + 1 < argc) {
			duration = atof(argv[++i]);
		} else if (!strcmp(a, "--warmup") && i + 1 < argc) {
			warmup = atof(argv[++i]);
		} else if (!strcmp(a, "--post") && i + 1 < argc) {
			c.post = argv[++i];
		} else if (!strcmp(a, "--count") && i + 1 < argc) {
			c.count = atol(argv[++i]);
		} else {
			die("load: unknown option %s", a);
		}
	}
	if ((!c.unix_path && !c.is_tcp) || !c.path || conns < 1)
		die("load: needs --unix PATH or --tcp HOST:PORT, --path P");
	if (c.tls && !c.is_tcp)
		die("load: --tls goes with --tcp");
	if (c.count && (!c.post || warmup > 0))
		die("load: --count goes with --post and --warmup 0");
	if (c.tls && gnutls_certificate_allocate_credentials(&c.cred) < 0)
		die("load: cannot set up TLS");
	signal(SIGPIPE, SIG_IGN);
	c.start = mono_ms();
	c.warm_end = c.start + warmup * 1000;
	c.end = c.warm_end + duration * 1000;
	struct load_thread *th = xcalloc((size_t)conns, sizeof(*th));
	for (int i = 0; i < conns; i++) {
		th[i].cfg = &c;
		if (pthread_create(&th[i].th, NULL, load_run, &th[i]) != 0)
			die("pthread_create");
	}
	size_t total = 0;
	long errors = 0, bytes = 0;
	for (int i = 0; i < conns; i++) {
		pthread_join(th[i].th, NULL);
		total += th[i].n;
		errors += th[i].errors;
		bytes += th[i].bytes;
	}
	double *all = xcalloc(total + 1, sizeof(double));
	size_t k = 0;
	for (int i = 0; i < conns; i++) {
		memcpy(all + k, th[i].lat, th[i].n * sizeof(double));
		k += th[i].n;
		free(th[i].lat);
	}
	qsort(all, total, sizeof(double), cmp_double);
	if (c.count && load_last_ms > c.warm_end)
		duration = (load_last_ms - c.warm_end) / 1000.0;
	printf("requests=%zu rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f bytes_per_response=%.0f errors=%ld conns=%d duration_s=%.1f\n",
	       total, (double)total / duration, pct(all, total, 50), pct(all, total, 90), pct(all, total, 99),
	       total ? all[total - 1] : NAN, total ? (double)bytes / (double)total : 0.0, errors, conns, duration);
	free(all);
	free(th);
	return total ? 0 : 1;
}

/* ------------------------------------------------------------------ serve */

static char *serve_hdr;
static size_t serve_hdr_len;
static char *serve_body;
static size_t serve_body_len;

static void *serve_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[8192];
	size_t len = 0;
	for (;;) {
		ssize_t r = read(fd, buf + len, sizeof(buf) - len - 1);
		if (r <= 0)
			break;
		len += (size_t)r;
		buf[len] = '\0';
		char *end;
		while ((end = strstr(buf, "\r\n\r\n"))) {
			struct iovec iov[2] = {{serve_hdr, serve_hdr_len}, {serve_body, serve_body_len}};
			size_t want = serve_hdr_len + serve_body_len, sent = 0;
			while (sent < want) {
				ssize_t w = writev(fd, iov, 2);
				if (w <= 0)
					goto out;
				sent += (size_t)w;
				/* advance the iovecs */
				size_t adv = (size_t)w;
				for (int i = 0; i < 2; i++) {
					size_t take = adv < iov[i].iov_len ? adv : iov[i].iov_len;
					iov[i].iov_base = (char *)iov[i].iov_base + take;
					iov[i].iov_len -= take;
					adv -= take;
				}
			}
			size_t used = (size_t)(end - buf) + 4;
			memmove(buf, buf + used, len - used + 1);
			len -= used;
		}
		if (len >= sizeof(buf) - 1)
			break;
	}
out:
	close(fd);
	return NULL;
}

static int cmd_serve(int argc, char **argv)
{
	const char *path = NULL, *file = NULL;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--unix") && i + 1 < argc)
			path = argv[++i];
		else if (!strcmp(argv[i], "--file") && i + 1 < argc)
			file = argv[++i];
		else
			die("serve: unknown option %s", argv[i]);
	}
	if (!path || !file)
		die("serve: needs --unix PATH --file F");
	FILE *f = fopen(file, "rb");
	if (!f)
		die("cannot open %s", file);
	fseek(f, 0, SEEK_END);
	serve_body_len = (size_t)ftell(f);
	fseek(f, 0, SEEK_SET);
	serve_body = malloc(serve_body_len + 1);
	if (fread(serve_body, 1, serve_body_len, f) != serve_body_len)
		die("cannot read %s", file);
	fclose(f);
	serve_hdr_len = (size_t)asprintf(&serve_hdr,
					 "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
					 serve_body_len);
	signal(SIGPIPE, SIG_IGN);
	unlink(path);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 128) < 0)
		die("cannot listen on %s: %s", path, strerror(errno));
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR)
				continue;
			die("accept: %s", strerror(errno));
		}
		pthread_t t;
		pthread_attr_t at;
		pthread_attr_init(&at);
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&t, &at, serve_conn, (void *)(intptr_t)fd) != 0)
			close(fd);
		pthread_attr_destroy(&at);
	}
}

int main(int argc, char **argv)
{
	if (argc < 2)
		die("usage: benchtool watch|load|serve ... (see the comment at the top of bench/benchtool.c)");
	if (!strcmp(argv[1], "watch"))
		return cmd_watch(argc - 2, argv + 2);
	if (!strcmp(argv[1], "load"))
		return cmd_load(argc - 2, argv + 2);
	if (!strcmp(argv[1], "serve"))
		return cmd_serve(argc - 2, argv + 2);
	die("unknown command %s", argv[1]);
}
