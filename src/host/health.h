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

/* The status code of an HTTP response that begins with buf ("HTTP/1.1 200
 * OK\r\n…"), 0 while the status line is incomplete, -1 if it is not HTTP. */
int health_http_status(const char *buf, size_t len);
