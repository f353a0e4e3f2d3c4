/* websocket: RFC 6455 framing (websocket.h). */
#include "util/websocket.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <string.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

long ws_frame_parse(char *buf, size_t len, bool from_client, struct ws_frame *f, struct err *e)
{
	const uint8_t *b = (const uint8_t *)buf;
	if (len < 2)
		return 0;
	memset(f, 0, sizeof(*f));
	f->fin = b[0] & 0x80;
	f->opcode = (enum ws_opcode)(b[0] & 0x0f);
	if (b[0] & 0x70)
		return err_set(e, ERR_INVALID, "a WebSocket frame sets reserved bits (no extension was agreed)");
	bool control = f->opcode & 0x8;
	if (f->opcode != WS_CONTINUATION && f->opcode != WS_TEXT && f->opcode != WS_BINARY && f->opcode != WS_CLOSE &&
	    f->opcode != WS_PING && f->opcode != WS_PONG)
		return err_set(e, ERR_INVALID, "a WebSocket frame has the reserved opcode %d", f->opcode);
	bool masked = b[1] & 0x80;
	if (from_client && !masked)
		return err_set(e, ERR_INVALID, "a WebSocket frame from a client must be masked (RFC 6455, 5.1)");
	if (!from_client && masked)
		return err_set(e, ERR_INVALID, "a WebSocket frame from a server must not be masked (RFC 6455, 5.1)");
	uint64_t plen = b[1] & 0x7f;
	size_t at = 2;
	if (plen == 126) {
		if (len < 4)
			return 0;
		plen = (uint64_t)b[2] << 8 | b[3];
		at = 4;
	} else if (plen == 127) {
		if (len < 10)
			return 0;
		plen = 0;
		for (int i = 0; i < 8; i++)
			plen = plen << 8 | b[2 + i];
		at = 10;
	}
	if (control && (plen > 125 || !f->fin))
		return err_set(e, ERR_INVALID, "a WebSocket control frame must be whole and at most 125 bytes");
	if (plen > WS_PAYLOAD_MAX)
		return err_set(e, ERR_INVALID, "a WebSocket frame of %llu bytes; the limit is %d",
			       (unsigned long long)plen, WS_PAYLOAD_MAX);
	size_t mlen = masked ? 4 : 0;
	if (len < at + mlen + plen)
		return 0;
	const uint8_t *mask = b + at;
	at += mlen;
	f->payload = buf + at;
	f->len = (size_t)plen;
	for (size_t i = 0; masked && i < f->len; i++)
		f->payload[i] = (char)((uint8_t)f->payload[i] ^ mask[i % 4]);
	return (long)(at + plen);
}

size_t ws_frame_header(uint8_t out[WS_HEADER_MAX], enum ws_opcode op, size_t payload_len, const uint8_t *mask)
{
	size_t n;
	out[0] = (uint8_t)(0x80 | op);
	if (payload_len < 126) {
		out[1] = (uint8_t)payload_len;
		n = 2;
	} else if (payload_len <= 0xffff) {
		out[1] = 126;
		out[2] = (uint8_t)(payload_len >> 8);
		out[3] = (uint8_t)payload_len;
		n = 4;
	} else {
		out[1] = 127;
		for (int i = 0; i < 8; i++)
			out[2 + i] = (uint8_t)((uint64_t)payload_len >> (56 - 8 * i));
		n = 10;
	}
	if (mask) {
		out[1] |= 0x80;
		memcpy(out + n, mask, 4);
		n += 4;
	}
	return n;
}

bool ws_accept(const char *key, char out[WS_ACCEPT_LEN + 1])
{
	/* the base64 of 16 bytes: 22 characters and "==" */
	if (!key || strlen(key) != 24 || strcmp(key + 22, "==") != 0)
		return false;
	for (int i = 0; i < 22; i++) {
		char c = key[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/'))
			return false;
	}
	char cat[24 + sizeof(WS_GUID)];
	memcpy(cat, key, 24);
	memcpy(cat + 24, WS_GUID, sizeof(WS_GUID));
	unsigned char sha[20];
	if (gnutls_hash_fast(GNUTLS_DIG_SHA1, cat, strlen(cat), sha) < 0)
		return false;
	gnutls_datum_t in = {sha, sizeof(sha)}, b64 = {0};
	if (gnutls_base64_encode2(&in, &b64) < 0)
		return false;
	bool ok = b64.size == WS_ACCEPT_LEN;
	if (ok) {
		memcpy(out, b64.data, WS_ACCEPT_LEN);
		out[WS_ACCEPT_LEN] = '\0';
	}
	gnutls_free(b64.data);
	return ok;
}
