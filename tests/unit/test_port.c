/* Unit tests for model/port: ports, ranges, protocols and port maps, with
 * the edges (1, 65535), the junk a user may type, and the exact messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "model/port.h"

/* Asserts that rc failed with ERR_INVALID and that the message contains want. */
static void expect_error(int rc, const struct err *e, const char *want)
{
	assert_true(rc < 0);
	assert_int_equal(e->kind, ERR_INVALID);
	if (!strstr(e->msg, want))
		fail_msg("message \"%s\" does not contain \"%s\"", e->msg, want);
}

static void test_port_valid(void **state)
{
	(void)state;
	struct err e = {0};
	uint16_t p = 0;
	assert_int_equal(port_parse("1", "port", &p, &e), 0);
	assert_int_equal(p, 1);
	assert_int_equal(port_parse("65535", "port", &p, &e), 0);
	assert_int_equal(p, 65535);
	assert_int_equal(port_parse("80", "port", &p, &e), 0);
	assert_int_equal(p, 80);
	assert_int_equal(port_parse("0080", "port", &p, &e), 0);   /* decimal, never octal */
	assert_int_equal(p, 80);
}

static void test_port_invalid(void **state)
{
	(void)state;
	struct err e = {0};
	uint16_t p = 7;
	expect_error(port_parse("0", "port", &p, &e), &e, "port \"0\" is out of range; a port is between 1 and 65535");
	expect_error(port_parse("65536", "port", &p, &e), &e, "port \"65536\" is out of range");
	expect_error(port_parse("", "port", &p, &e), &e, "port must not be empty");
	expect_error(port_parse(NULL, "port", &p, &e), &e, "port must not be empty");
	expect_error(port_parse("80x", "port", &p, &e), &e, "port \"80x\" is not a port; give a decimal number");
	expect_error(port_parse(" 80", "port", &p, &e), &e, "port \" 80\" is not a port");
	expect_error(port_parse("80 ", "port", &p, &e), &e, "port \"80 \" is not a port");
	expect_error(port_parse("-1", "port", &p, &e), &e, "port \"-1\" is not a port");
	expect_error(port_parse("+80", "port", &p, &e), &e, "port \"+80\" is not a port");
	expect_error(port_parse("0x50", "port", &p, &e), &e, "port \"0x50\" is not a port");
	expect_error(port_parse("99999999999999999999999999", "port", &p, &e), &e, "is out of range");
	expect_error(port_parse("18446744073709551696", "port", &p, &e), &e, "is out of range"); /* 2^64 + 80 */
	expect_error(port_parse("4294967376", "port", &p, &e), &e, "is out of range");           /* 2^32 + 80 */
	/* a failed parse leaves the output alone */
	p = 8080;
	assert_true(port_parse("8o8o", "port", &p, &e) < 0);
	assert_int_equal(p, 8080);
	/* the field name is the caller's */
	expect_error(port_parse("x", "guest_port", &p, &e), &e, "guest_port \"x\"");
}

static void test_port_range(void **state)
{
	(void)state;
	struct err e = {0};
	uint16_t lo = 0, hi = 0;
	assert_int_equal(port_range_parse("80", "ports", &lo, &hi, &e), 0);
	assert_int_equal(lo, 80);
	assert_int_equal(hi, 80);
	assert_int_equal(port_range_parse("8000-8100", "ports", &lo, &hi, &e), 0);
	assert_int_equal(lo, 8000);
	assert_int_equal(hi, 8100);
	assert_int_equal(port_range_parse("1-65535", "ports", &lo, &hi, &e), 0);
	assert_int_equal(lo, 1);
	assert_int_equal(hi, 65535);
	assert_int_equal(port_range_parse("443-443", "ports", &lo, &hi, &e), 0);
	assert_int_equal(lo, 443);
	assert_int_equal(hi, 443);

	expect_error(port_range_parse("8100-8000", "ports", &lo, &hi, &e), &e,
		     "ports \"8100-8000\" is reversed; write the lower port first: 8000-8100");
	expect_error(port_range_parse("", "ports", &lo, &hi, &e), &e, "ports must not be empty");
	expect_error(port_range_parse("-1", "ports", &lo, &hi, &e), &e, "ports \"-1\" has no first port");
	expect_error(port_range_parse("80-", "ports", &lo, &hi, &e), &e, "ports \"80-\" has no last port");
	expect_error(port_range_parse("0-80", "ports", &lo, &hi, &e), &e, "the first port is out of range");
	expect_error(port_range_parse("80-65536", "ports", &lo, &hi, &e), &e, "the last port is out of range");
	expect_error(port_range_parse("80-90-100", "ports", &lo, &hi, &e), &e,
		     "ports \"80-90-100\": the last port is not a decimal number");
	expect_error(port_range_parse("80 - 90", "ports", &lo, &hi, &e), &e, "the first port is not a decimal number");
	expect_error(port_range_parse("80x", "ports", &lo, &hi, &e), &e, "ports \"80x\" is not a port");
	expect_error(port_range_parse("70000", "ports", &lo, &hi, &e), &e, "ports \"70000\" is out of range");
	/* a failed parse leaves the outputs alone */
	lo = hi = 5;
	assert_true(port_range_parse("9-8", "ports", &lo, &hi, &e) < 0);
	assert_int_equal(lo, 5);
	assert_int_equal(hi, 5);
}

static void test_proto(void **state)
{
	(void)state;
	struct err e = {0};
	const char *names[] = {"tcp", "udp", "icmp", "all"};
	enum proto want[] = {PROTO_TCP, PROTO_UDP, PROTO_ICMP, PROTO_ALL};
	for (size_t i = 0; i < 4; i++) {
		enum proto p = PROTO_ALL;
		assert_int_equal(proto_parse(names[i], "protocol", &p, &e), 0);
		assert_int_equal(p, want[i]);
		assert_string_equal(proto_name(p), names[i]);
	}
	assert_string_equal(proto_name((enum proto)42), "unknown");
	enum proto p;
	expect_error(proto_parse("sctp", "protocol", &p, &e), &e,
		     "protocol \"sctp\" is not a protocol; use tcp, udp, icmp or all");
	expect_error(proto_parse("TCP", "protocol", &p, &e), &e, "protocol \"TCP\" is not a protocol");
	expect_error(proto_parse("tcp ", "protocol", &p, &e), &e, "protocol \"tcp \" is not a protocol");
	expect_error(proto_parse("", "protocol", &p, &e), &e, "protocol must not be empty");
	expect_error(proto_parse(NULL, "protocol", &p, &e), &e, "protocol must not be empty");
}

static void test_port_map(void **state)
{
	(void)state;
	struct err e = {0};
	struct port_map m;
	assert_int_equal(port_map_parse("8080:80", "expose", &m, &e), 0);
	assert_int_equal(m.host, 8080);
	assert_int_equal(m.guest, 80);
	assert_int_equal(m.proto, PROTO_TCP);
	assert_int_equal(port_map_parse("5353:53/udp", "expose", &m, &e), 0);
	assert_int_equal(m.host, 5353);
	assert_int_equal(m.guest, 53);
	assert_int_equal(m.proto, PROTO_UDP);
	assert_int_equal(port_map_parse("65535:1/tcp", "expose", &m, &e), 0);
	assert_int_equal(m.host, 65535);
	assert_int_equal(m.guest, 1);
	assert_int_equal(m.proto, PROTO_TCP);

	expect_error(port_map_parse("", "expose", &m, &e), &e, "expose must not be empty");
	expect_error(port_map_parse("8080", "expose", &m, &e), &e,
		     "expose \"8080\" is not a port map; give HOST:GUEST such as 8080:80");
	expect_error(port_map_parse(":80", "expose", &m, &e), &e, "expose \":80\" has no host port");
	expect_error(port_map_parse("8080:", "expose", &m, &e), &e, "expose \"8080:\" has no guest port");
	expect_error(port_map_parse("8080:/udp", "expose", &m, &e), &e, "has no guest port");
	expect_error(port_map_parse("0:80", "expose", &m, &e), &e, "the host port is out of range");
	expect_error(port_map_parse("8080:65536", "expose", &m, &e), &e, "the guest port is out of range");
	expect_error(port_map_parse("8080:80:90", "expose", &m, &e), &e, "has more than one ':'");
	expect_error(port_map_parse("8080:80/icmp", "expose", &m, &e), &e,
		     "expose \"8080:80/icmp\": the protocol \"icmp\" cannot be forwarded; use /tcp or /udp");
	expect_error(port_map_parse("8080:80/", "expose", &m, &e), &e, "the protocol \"\" cannot be forwarded");
	expect_error(port_map_parse("8080:80/udp/tcp", "expose", &m, &e), &e, "the protocol \"udp/tcp\"");
	expect_error(port_map_parse("80x:80", "expose", &m, &e), &e, "the host port is not a decimal number");
	expect_error(port_map_parse("8080:+80", "expose", &m, &e), &e, "the guest port is not a decimal number");
	expect_error(port_map_parse("8000-8100:80", "expose", &m, &e), &e, "the host port is not a decimal number");
	/* a failed parse leaves the output alone */
	m = (struct port_map){.host = 1, .guest = 2, .proto = PROTO_UDP};
	assert_true(port_map_parse("8080:80/sctp", "expose", &m, &e) < 0);
	assert_int_equal(m.host, 1);
	assert_int_equal(m.guest, 2);
	assert_int_equal(m.proto, PROTO_UDP);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_port_valid),
		cmocka_unit_test(test_port_invalid),
		cmocka_unit_test(test_port_range),
		cmocka_unit_test(test_proto),
		cmocka_unit_test(test_port_map),
	};
	return cmocka_run_group_tests_name("port", tests, NULL, NULL);
}
