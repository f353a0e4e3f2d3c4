/*
 * metadata: the listener of the metadata service, one per network.
 *
 * The one idea: a guest asks 169.254.169.254:80; nftables DNATs that to the
 * network's gateway address and the metadata port, where this listener
 * (libmicrohttpd) is bound. Binding to the gateway address means that the
 * listener a request reaches says which network it came from, and that two
 * nubods (each with its own bridges) never collide on the port. The
 * listener names the asker by its source address and by the MAC the kernel's
 * neighbour table (/proc/net/arp) holds for that address on the bridge, and
 * hands the request to a handler (ctl/metadata.c) that finds the VM and
 * answers. This module never reads the store.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

#define METADATA_PORT_DEFAULT 8775

struct metadata_request {
	const char *network;     /* the network of the listener it reached */
	const char *ip;          /* the asker's source address */
	const char *mac;         /* its MAC on the bridge, lowercase */
	const char *method;
	const char *path;        /* URL-decoded, without the query */
	size_t path_len;
	const char *token;       /* X-aws-ec2-metadata-token, or NULL */
	const char *ttl;         /* X-aws-ec2-metadata-token-ttl-seconds, or NULL */
	bool forwarded;          /* an X-Forwarded-For header came with it */
};

struct metadata_reply {
	int status;
	const char *content_type;   /* static */
	char *body;                 /* malloc'd; the listener frees it */
	size_t body_len;
	const char *allow;          /* static, for 405; or NULL */
	int token_ttl;              /* >0: sent back as X-aws-ec2-metadata-token-ttl-seconds */
};

/* Called on the listener's thread, possibly on several listeners at once. */
typedef void metadata_handler_fn(void *ctx, const struct metadata_request *req, struct metadata_reply *out);

struct metadata_listener;

/* A listener for network that binds nothing and answers nobody: what the
 * recording host (hostops.h) hands out; metadata_stop frees it. */
struct metadata_listener *metadata_listener_new(const char *network, const char *bridge, const char *ip, int port,
						metadata_handler_fn *fn, void *ctx);
/* Listens on ip:port for network (whose bridge is bridge) and answers with
 * fn(ctx, …). Fails with a message naming the address and the port
 * (taken, or the address not on this host). */
int metadata_listen(const char *network, const char *bridge, const char *ip, int port, metadata_handler_fn *fn,
		    void *ctx, struct metadata_listener **out, struct err *e);
/* Stops the listener and frees it; NULL is fine. */
void metadata_stop(struct metadata_listener *l);
const char *metadata_listener_network(const struct metadata_listener *l);

/* From the text of /proc/net/arp: the MAC of a complete entry for ip on
 * dev, lowercase, into mac. false if there is none. Pure. */
bool metadata_arp_find(const char *arp_text, const char *ip, const char *dev, char mac[18]);
