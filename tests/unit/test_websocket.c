/* WebSocket framing (util/websocket.h): RFC 6455's own example
 * handshake, frames from a client in pieces, and each frame a server must
 * refuse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "util/websocket.h"

static void test_accept(void **state)
{
	(void)state;
	char out[WS_ACCEPT_LEN + 1];
	/* RFC 6455, section 1.3 */
	assert_true(ws_accept("dGhlIHNhbXBsZSBub25jZQ==", out));
	assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	assert_false(ws_accept("short", out));
	assert_false(ws_accept("dGhlIHNhbXBsZSBub25jZQ=!", out));
	assert_false(ws_accept("dGhlIHNhbXBsZSBub25j*Q==", out));
	assert_false(ws_accept(NULL, out));
}

/* "Hello", masked, as RFC 6455 section 5.7 shows it. */
static const char hello[] = "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";

static void test_parse_masked(void **state)
{
	(void)state;
	char buf[sizeof(hello)];
	memcpy(buf, hello, sizeof(hello));
	struct ws_frame f;
	struct err e = {0};
	for (size_t n = 0; n < 11; n++)   /* any prefix is "not yet" */
		assert_int_equal(ws_frame_parse(buf, n, true, &f, &e), 0);
	assert_int_equal(ws_frame_parse(buf, 11, true, &f, &e), 11);
	assert_true(f.fin);
	assert_int_equal(f.opcode, WS_TEXT);
	assert_int_equal(f.len, 5);
	assert_memory_equal(f.payload, "Hello", 5);
}

static void test_parse_long(void **state)
{
	(void)state;
	static char buf[4 + 4 + 300];
	memset(buf, 0, sizeof(buf));
	buf[0] = (char)0x82;
	buf[1] = (char)(0x80 | 126);
	buf[2] = 1;
	buf[3] = 44;   /* 300 */
	memset(buf + 8, 'x', 300);
	struct ws_frame f;
	struct err e = {0};
	assert_int_equal(ws_frame_parse(buf, sizeof(buf), true, &f, &e), (long)sizeof(buf));
	assert_int_equal(f.len, 300);
	assert_int_equal(f.opcode, WS_BINARY);
}

static void refused(const char *frame, size_t n, const char *why)
{
	char buf[64];
	memcpy(buf, frame, n);
	struct ws_frame f;
	struct err e = {0};
	assert_true(ws_frame_parse(buf, n, true, &f, &e) < 0);
	assert_non_null(strstr(e.msg, why));
}

static void test_refusals(void **state)
{
	(void)state;
	refused("\x81\x05Hello", 7, "must be masked");
	{
		char buf[16];
		memcpy(buf, "\x81\x80\0\0\0\0", 6);
		struct ws_frame f;
		struct err e = {0};
		assert_true(ws_frame_parse(buf, 6, false, &f, &e) < 0);
		assert_non_null(strstr(e.msg, "from a server must not be masked"));
		memcpy(buf, "\x82\x03" "abc", 5);
		assert_int_equal(ws_frame_parse(buf, 5, false, &f, &e), 5);
		assert_memory_equal(f.payload, "abc", 3);
	}
	refused("\xc1\x80\0\0\0\0", 6, "reserved bits");
	refused("\x83\x80\0\0\0\0", 6, "reserved opcode 3");
	refused("\x09\x80\0\0\0\0", 6, "control frame");            /* a fragmented ping */
	refused("\x89\xfe\0\x7e\0\0\0\0", 8, "control frame");       /* a ping of 126 bytes */
	refused("\x82\xff\0\0\0\0\0\x01\0\x01", 10, "the limit is 65536");
}

static void test_header(void **state)
{
	(void)state;
	uint8_t h[WS_HEADER_MAX];
	assert_int_equal(ws_frame_header(h, WS_BINARY, 5, NULL), 2);
	assert_int_equal(h[0], 0x82);
	assert_int_equal(h[1], 5);
	assert_int_equal(ws_frame_header(h, WS_BINARY, 300, NULL), 4);
	assert_int_equal(h[1], 126);
	assert_int_equal(h[2] << 8 | h[3], 300);
	assert_int_equal(ws_frame_header(h, WS_BINARY, 70000, NULL), 10);
	assert_int_equal(h[1], 127);
	assert_int_equal(h[7] << 16 | h[8] << 8 | h[9], 70000);
	static const uint8_t mask[4] = {1, 2, 3, 4};
	assert_int_equal(ws_frame_header(h, WS_TEXT, 5, mask), 6);
	assert_int_equal(h[1], 0x85);
	assert_memory_equal(h + 2, mask, 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accept),      cmocka_unit_test(test_parse_masked), cmocka_unit_test(test_parse_long),
		cmocka_unit_test(test_refusals),    cmocka_unit_test(test_header),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
