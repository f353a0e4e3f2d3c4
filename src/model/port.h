/*
 * port: TCP/UDP ports, port ranges, protocols and port maps as people write
 * them on the command line and in API bodies: "80", "8000-8100", "tcp",
 * "8080:80/udp". Pure parsing, no I/O; every error names the field and the
 * value at fault.
 */
#pragma once

#include <stdint.h>

#include "util/err.h"

enum proto {
	PROTO_TCP,
	PROTO_UDP,
	PROTO_ICMP,
	PROTO_ALL,
};

/* A host port forwarded to a guest port. */
struct port_map {
	uint16_t host, guest;
	enum proto proto;    /* PROTO_TCP or PROTO_UDP */
};

/* A decimal port 1..65535: digits only, no sign, space or suffix. */
int port_parse(const char *s, const char *field, uint16_t *out, struct err *e);
/* "80" (lo = hi = 80) or "8000-8100" (lo <= hi). */
int port_range_parse(const char *s, const char *field, uint16_t *lo, uint16_t *hi, struct err *e);
/* "tcp", "udp", "icmp" or "all" (lowercase). */
int proto_parse(const char *s, const char *field, enum proto *out, struct err *e);
/* The name proto_parse reads back; "unknown" for a value outside the enum. */
const char *proto_name(enum proto p);
/* "HOST:GUEST" with an optional "/tcp" or "/udp" (default tcp): "8080:80", "5353:53/udp". */
int port_map_parse(const char *s, const char *field, struct port_map *out, struct err *e);
