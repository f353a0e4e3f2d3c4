/*
 * websocket: RFC 6455 framing, as nubod speaks it on an upgraded connection
 * (libmicrohttpd does the HTTP/1.1 upgrade and, on HTTPS, the TLS) and as
 * `nubo vm console` speaks it to nubod. Pure functions over buffers, so that
 * a fuzz harness and unit tests reach them.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

enum ws_opcode {
	WS_CONTINUATION = 0x0,
	WS_TEXT = 0x1,
	WS_BINARY = 0x2,
	WS_CLOSE = 0x8,
	WS_PING = 0x9,
	WS_PONG = 0xa,
};

/* The largest frame nubod takes from a client; keystrokes are a few bytes. */
#define WS_PAYLOAD_MAX (64 * 1024)
#define WS_HEADER_MAX 14   /* with a mask */
#define WS_ACCEPT_LEN 28   /* base64 of a SHA-1 */

struct ws_frame {
	bool fin;
	enum ws_opcode opcode;
	char *payload;         /* into the parsed buffer, unmasked in place */
	size_t len;
};

/* Parses one frame at buf (len bytes), from a client (from_client: it must
 * be masked) or from a server (it must not be). Returns the bytes it took
 * (> 0) with *f filled and its payload unmasked in place; 0 when buf holds
 * no whole frame yet; < 0 on a frame the protocol forbids (masked the wrong
 * way, reserved bits or opcodes, a control frame that is fragmented or
 * longer than 125 bytes, a payload past WS_PAYLOAD_MAX), e saying which. */
long ws_frame_parse(char *buf, size_t len, bool from_client, struct ws_frame *f, struct err *e);
/* Writes the header of a final frame into out and returns its length: a
 * server's without mask (mask NULL), a client's with the 4 bytes of mask
 * (the caller XORs the payload with them). */
size_t ws_frame_header(uint8_t out[WS_HEADER_MAX], enum ws_opcode op, size_t payload_len, const uint8_t *mask);
/* Sec-WebSocket-Accept for a client's Sec-WebSocket-Key, into out
 * (WS_ACCEPT_LEN + 1 bytes). False when the key is not the base64 of 16
 * bytes, as RFC 6455 section 4.1 says it is. */
bool ws_accept(const char *key, char out[WS_ACCEPT_LEN + 1]);
