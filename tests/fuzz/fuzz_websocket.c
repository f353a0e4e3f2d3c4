/* fuzz_websocket: the console WebSocket's frame parser (api/websocket.h) on
 * whatever a client sends. Frames are taken one after another as the viewer
 * does: each one taken stays inside the buffer and never takes more than is
 * there, a payload fits its limit, a control frame is whole and short, and
 * a refusal says why in valid UTF-8. A taken frame re-framed the way a
 * client must (masked, with a zero mask) parses back to the same frame. */
#include <stdlib.h>
#include <string.h>

#include "util/websocket.h"
#include "common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size ? size : 1);
	memcpy(buf, data, size);
	size_t at = 0;
	for (;;) {
		struct ws_frame f;
		struct err e = {0};
		long used = ws_frame_parse(buf + at, size - at, true, &f, &e);
		if (used < 0) {
			FUZZ_ASSERT(e.kind == ERR_INVALID && e.msg[0], "a refusal without a reason");
			FUZZ_ASSERT(fuzz_utf8(e.msg, strlen(e.msg)), "a message that is not UTF-8: %s", e.msg);
			break;
		}
		if (used == 0)
			break;
		FUZZ_ASSERT((size_t)used <= size - at, "took %ld of %zu bytes", used, size - at);
		FUZZ_ASSERT(f.len <= WS_PAYLOAD_MAX, "a payload of %zu bytes", f.len);
		FUZZ_ASSERT(f.payload >= buf + at && f.payload + f.len == buf + at + used, "the payload is not the frame's end");
		if (f.opcode & 0x8)
			FUZZ_ASSERT(f.fin && f.len <= 125, "a control frame fragmented or of %zu bytes", f.len);
		/* Re-framed by a client with a zero mask: the same frame comes back. */
		uint8_t h[WS_HEADER_MAX];
		static const uint8_t zero[4];
		size_t hl = ws_frame_header(h, f.opcode, f.len, zero);
		size_t n = hl + f.len;
		char *again = malloc(n);
		memcpy(again, h, hl);
		again[0] = (char)(f.fin ? again[0] : (again[0] & 0x7f));
		memcpy(again + hl, f.payload, f.len);
		struct ws_frame g;
		long used2 = ws_frame_parse(again, n, true, &g, &e);
		FUZZ_ASSERT(used2 == (long)n, "a re-framed frame parses to %ld of %zu bytes", used2, n);
		FUZZ_ASSERT(g.opcode == f.opcode && g.len == f.len && g.fin == f.fin && memcmp(g.payload, f.payload, f.len) == 0,
			    "a re-framed frame changed");
		free(again);
		at += (size_t)used;
	}
	free(buf);
	return 0;
}
