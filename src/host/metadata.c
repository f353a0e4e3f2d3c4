/* metadata: one libmicrohttpd listener per network (see metadata.h). */
#include "host/metadata.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/fs.h"
#include "util/log.h"
#include "util/runner.h"
#include "util/str.h"

#define ARP_TABLE "/proc/net/arp"
#define ATF_COM 0x2   /* a complete entry: the MAC is known */

struct metadata_listener {
	char *network, *bridge, *ip;
	int port;
	int fd;
	struct MHD_Daemon *daemon;   /* NULL in dry-run */
	metadata_handler_fn *fn;
	void *ctx;
};

bool metadata_arp_find(const char *arp_text, const char *ip, const char *dev, char mac[18])
{
	/* "IP address  HW type  Flags  HW address  Mask  Device", one entry per line. */
	const char *line = arp_text ? strchr(arp_text, '\n') : NULL;   /* skip the header */
	while (line && *line) {
		line++;
		char a[64], hw[64], m[64], d[64];
		unsigned type, flags;
		if (sscanf(line, "%63s %x %x %63s %63s %63s", a, &type, &flags, hw, m, d) == 6 && strcmp(a, ip) == 0 &&
		    strcmp(d, dev) == 0 && (flags & ATF_COM) && strlen(hw) == 17) {
			for (int i = 0; i < 17; i++)
				mac[i] = (char)tolower((unsigned char)hw[i]);
			mac[17] = '\0';
			return true;
		}
		line = strchr(line, '\n');
	}
	return false;
}

static enum MHD_Result reply(struct MHD_Connection *conn, int status, const char *type, char *body, size_t len,
			     const char *allow, int token_ttl)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", type);
	if (allow)
		MHD_add_response_header(r, "Allow", allow);
	if (token_ttl > 0) {
		char ttl[16];
		snprintf(ttl, sizeof(ttl), "%d", token_ttl);
		MHD_add_response_header(r, "X-aws-ec2-metadata-token-ttl-seconds", ttl);
	}
	enum MHD_Result ret = MHD_queue_response(conn, (unsigned)status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
				  const char *version, const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	static int started;
	(void)version;
	(void)upload_data;
	struct metadata_listener *l = cls;
	if (!*con_cls) {
		*con_cls = &started;
		return MHD_YES;
	}
	if (*upload_data_size) {   /* a body means nothing here: dropped */
		*upload_data_size = 0;
		return MHD_YES;
	}
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	char ip[INET_ADDRSTRLEN] = "";
	if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ci->client_addr)->sin_addr, ip, sizeof(ip));
	char mac[18] = "";
	char *arp = NULL;
	bool known = false;
	if (ip[0] && fs_read_file(ARP_TABLE, 4 << 20, &arp, NULL, NULL) == 0)
		known = metadata_arp_find(arp, ip, l->bridge, mac);
	free(arp);
	if (!known) {
		log_info("metadata %s: %s %s from %s: no MAC for that address on %s; refused", l->network, method, url,
			 ip[0] ? ip : "?", l->bridge);
		char *body = xstrdup("403 Forbidden: unknown asker\n");
		return reply(conn, 403, "text/plain", body, strlen(body), NULL, 0);
	}
	struct metadata_request req = {
		.network = l->network,
		.ip = ip,
		.mac = mac,
		.method = method,
		.path = url,
		.path_len = strlen(url),
		.token = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-aws-ec2-metadata-token"),
		.ttl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-aws-ec2-metadata-token-ttl-seconds"),
		.forwarded = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Forwarded-For") != NULL,
	};
	struct metadata_reply out = {0};
	l->fn(l->ctx, &req, &out);
	if (!out.body) {
		out.body = xstrdup("");
		out.body_len = 0;
	}
	if (out.status >= 400)
		log_info("metadata %s: %s %s from %s (%s) → %d", l->network, method, url, ip, mac, out.status);
	else
		log_debug("metadata %s: %s %s from %s (%s) → %d", l->network, method, url, ip, mac, out.status);
	return reply(conn, out.status, out.content_type ? out.content_type : "text/plain", out.body, out.body_len,
		     out.allow, out.token_ttl);
}

static void listener_free(struct metadata_listener *l)
{
	if (!l)
		return;
	free(l->network);
	free(l->bridge);
	free(l->ip);
	free(l);
}

/* A listening socket on ip:port, or -1 with e naming both. */
static int listen_inet(const char *ip, int port, struct err *e)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	if (port < 1 || port > 65535 || inet_pton(AF_INET, ip, &sa.sin_addr) != 1)
		return err_set(e, ERR_INVALID, "metadata service: %s:%d is not an IPv4 address and port", ip, port);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_set(e, ERR_INTERNAL, "metadata service: socket: %s", strerror(errno));
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));   /* a restart finds TIME_WAIT */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 64) < 0) {
		int saved = errno;
		close(fd);
		return err_set(e, ERR_INTERNAL,
			       "metadata service: cannot listen on %s:%d: %s%s", ip, port, strerror(saved),
			       saved == EADDRINUSE ? " (another program holds the port; choose another with "
						     "\"metadata_port\" in nubod's config)"
						   : "");
	}
	return fd;
}

struct metadata_listener *metadata_listener_new(const char *network, const char *bridge, const char *ip, int port,
						metadata_handler_fn *fn, void *ctx)
{
	struct metadata_listener *l = xcalloc(1, sizeof(*l));
	l->network = xstrdup(network);
	l->bridge = xstrdup(bridge);
	l->ip = xstrdup(ip);
	l->port = port;
	l->fn = fn;
	l->ctx = ctx;
	l->fd = -1;
	return l;
}

int metadata_listen(const char *network, const char *bridge, const char *ip, int port, metadata_handler_fn *fn,
		    void *ctx, struct metadata_listener **out, struct err *e)
{
	struct metadata_listener *l = metadata_listener_new(network, bridge, ip, port, fn, ctx);
	l->fd = listen_inet(ip, port, e);
	if (l->fd < 0) {
		listener_free(l);
		return -1;
	}
	/* Small limits: a guest needs a handful of short requests at boot. */
	l->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL, on_request, l,
				     MHD_OPTION_LISTEN_SOCKET, l->fd, MHD_OPTION_CONNECTION_TIMEOUT, 10,
				     MHD_OPTION_CONNECTION_LIMIT, 256, MHD_OPTION_PER_IP_CONNECTION_LIMIT, 16,
				     MHD_OPTION_END);
	if (!l->daemon) {
		close(l->fd);
		listener_free(l);
		return err_set(e, ERR_INTERNAL, "metadata service: cannot start the HTTP server on %s:%d", ip, port);
	}
	log_info("metadata %s: listening on %s:%d (169.254.169.254:80 on %s)", network, ip, port, bridge);
	*out = l;
	return 0;
}

void metadata_stop(struct metadata_listener *l)
{
	if (!l)
		return;
	if (l->daemon) {
		MHD_stop_daemon(l->daemon);
		close(l->fd);
		log_info("metadata %s: stopped listening on %s:%d", l->network, l->ip, l->port);
	} else {
		runner_capture_note("metadata stop %s:%d", l->ip, l->port);
	}
	listener_free(l);
}

const char *metadata_listener_network(const struct metadata_listener *l)
{
	return l->network;
}
