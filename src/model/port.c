/*
 * port: ports, ranges, protocols and port maps (see port.h).
 *
 * One strict scanner (port_scan) reads a span of digits; every public parser
 * splits its input into spans and hands each to it, so "80x", " 80", "+80"
 * and "-1" fail the same way everywhere, and the message quotes the whole
 * value the user gave.
 */
#include "model/port.h"

#include <stddef.h>
#include <string.h>

static const char *const proto_names[] = {
	[PROTO_TCP] = "tcp",
	[PROTO_UDP] = "udp",
	[PROTO_ICMP] = "icmp",
	[PROTO_ALL] = "all",
};

enum scan { SCAN_OK, SCAN_EMPTY, SCAN_NOT_DIGITS, SCAN_RANGE };

/* Reads s[0..n) as a port. Digits are accumulated with a cap, so a
 * thousand-digit number cannot overflow. */
static enum scan port_scan(const char *s, size_t n, uint16_t *out)
{
	if (n == 0)
		return SCAN_EMPTY;
	unsigned long v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return SCAN_NOT_DIGITS;
		if (v <= 65535)
			v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v < 1 || v > 65535)
		return SCAN_RANGE;
	*out = (uint16_t)v;
	return SCAN_OK;
}

/* The sentence for a failed scan of what, a part of s. */
static int scan_error(enum scan r, const char *s, const char *field, const char *what, struct err *e)
{
	switch (r) {
	case SCAN_EMPTY:
		return err_set(e, ERR_INVALID, "%s \"%s\" has no %s; give a port between 1 and 65535", field, s, what);
	case SCAN_NOT_DIGITS:
		return err_set(e, ERR_INVALID, "%s \"%s\": the %s is not a decimal number between 1 and 65535", field,
			       s, what);
	case SCAN_RANGE:
		return err_set(e, ERR_INVALID, "%s \"%s\": the %s is out of range; a port is between 1 and 65535",
			       field, s, what);
	case SCAN_OK:
		break;
	}
	return 0;
}

int port_parse(const char *s, const char *field, uint16_t *out, struct err *e)
{
	if (!s || !*s)
		return err_set(e, ERR_INVALID, "%s must not be empty; give a port between 1 and 65535", field);
	uint16_t p = 0;
	enum scan r = port_scan(s, strlen(s), &p);
	if (r == SCAN_NOT_DIGITS)
		return err_set(e, ERR_INVALID, "%s \"%s\" is not a port; give a decimal number between 1 and 65535",
			       field, s);
	if (r == SCAN_RANGE)
		return err_set(e, ERR_INVALID, "%s \"%s\" is out of range; a port is between 1 and 65535", field, s);
	*out = p;
	return 0;
}

int port_range_parse(const char *s, const char *field, uint16_t *lo, uint16_t *hi, struct err *e)
{
	if (!s || !*s)
		return err_set(e, ERR_INVALID, "%s must not be empty; give a port such as 80 or a range such as 8000-8100",
			       field);
	const char *dash = strchr(s, '-');
	uint16_t a = 0, b = 0;
	if (!dash) {
		int rc = port_parse(s, field, &a, e);
		if (rc < 0)
			return rc;
		*lo = *hi = a;
		return 0;
	}
	enum scan r = port_scan(s, (size_t)(dash - s), &a);
	if (r != SCAN_OK)
		return scan_error(r, s, field, "first port", e);
	r = port_scan(dash + 1, strlen(dash + 1), &b);
	if (r != SCAN_OK)
		return scan_error(r, s, field, "last port", e);
	if (a > b)
		return err_set(e, ERR_INVALID, "%s \"%s\" is reversed; write the lower port first: %u-%u", field, s,
			       (unsigned)b, (unsigned)a);
	*lo = a;
	*hi = b;
	return 0;
}

const char *proto_name(enum proto p)
{
	return (unsigned)p < sizeof(proto_names) / sizeof(proto_names[0]) ? proto_names[p] : "unknown";
}

int proto_parse(const char *s, const char *field, enum proto *out, struct err *e)
{
	if (!s || !*s)
		return err_set(e, ERR_INVALID, "%s must not be empty; use tcp, udp, icmp or all", field);
	for (unsigned i = 0; i < sizeof(proto_names) / sizeof(proto_names[0]); i++) {
		if (strcmp(s, proto_names[i]) == 0) {
			*out = (enum proto)i;
			return 0;
		}
	}
	return err_set(e, ERR_INVALID, "%s \"%s\" is not a protocol; use tcp, udp, icmp or all", field, s);
}

int port_map_parse(const char *s, const char *field, struct port_map *out, struct err *e)
{
	if (!s || !*s)
		return err_set(e, ERR_INVALID, "%s must not be empty; give HOST:GUEST ports such as 8080:80 or 5353:53/udp",
			       field);
	const char *colon = strchr(s, ':');
	if (!colon)
		return err_set(e, ERR_INVALID, "%s \"%s\" is not a port map; give HOST:GUEST such as 8080:80 or 5353:53/udp",
			       field, s);
	const char *guest = colon + 1;
	const char *slash = strchr(guest, '/');
	size_t guest_len = slash ? (size_t)(slash - guest) : strlen(guest);
	struct port_map m = {.proto = PROTO_TCP};
	enum scan r = port_scan(s, (size_t)(colon - s), &m.host);
	if (r != SCAN_OK)
		return scan_error(r, s, field, "host port", e);
	if (memchr(guest, ':', guest_len))
		return err_set(e, ERR_INVALID, "%s \"%s\" has more than one ':'; give HOST:GUEST such as 8080:80",
			       field, s);
	r = port_scan(guest, guest_len, &m.guest);
	if (r != SCAN_OK)
		return scan_error(r, s, field, "guest port", e);
	if (slash) {
		const char *p = slash + 1;
		if (strcmp(p, "tcp") == 0)
			m.proto = PROTO_TCP;
		else if (strcmp(p, "udp") == 0)
			m.proto = PROTO_UDP;
		else
			return err_set(e, ERR_INVALID, "%s \"%s\": the protocol \"%s\" cannot be forwarded; use /tcp or /udp",
				       field, s, p);
	}
	*out = m;
	return 0;
}
