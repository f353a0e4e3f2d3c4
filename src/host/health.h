/*
 * health: load-balancer health checks, seen from the host. A batch of
 * checks (TCP connects, or HTTP GETs) runs at once on the caller's thread:
 * every socket is non-blocking and one poll() waits on all of them, so a
 * batch takes as long as its slowest check, not the sum.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

struct health_check {
	/* in */
	const char *ip;          /* dotted IPv4 */
	uint16_t port;
	const char *http_path;   /* NULL: a TCP connect is the check */
	int timeout_ms;
	/* out */
	bool ok;
	char reason[96];         /* "connected", "HTTP 200", "connection refused", "no answer within 2000 ms" */
};

/* Runs every check and fills ok and reason. */
void health_run(struct health_check *checks, int n);

/* The host's connection tracking table (/proc/net/nf_conntrack), or NULL
 * where the kernel has none. Caller frees. */
char *health_conntrack(void);

/* What a drained target's connections are known by: the reply comes from
 * ip (the target), and the client asked for vip, or for one of the host's
 * own addresses on a host port whose connections go to ip:target_port. */
struct conntrack_cut {
	const char *vip;                 /* NULL: no VIP entries to cut */
	const char *ip;
	const uint16_t *host_ports;      /* the balancer's host ports (with target_ports), or none */
	const uint16_t *target_ports;
	int n_host_ports;
};

/* Deletes the matching TCP entries from the host's conntrack table with
 * Debian's `conntrack -D` (package conntrack): each connection's next
 * packet finds no entry and no rule that leads to the target, so the
 * connection ends. Nothing to delete is success. */
int health_conntrack_cut(const struct conntrack_cut *cut, struct err *e);

/* The status code of an HTTP response that begins with buf ("HTTP/1.1 200
 * OK\r\n…"), 0 while the status line is incomplete, -1 if it is not HTTP. */
int health_http_status(const char *buf, size_t len);
