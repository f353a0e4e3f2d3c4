/* secret: API token secrets, their hashes and comparison (see secret.h). */
#include "util/secret.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

static const char hexdigits[] = "0123456789abcdef";

static void hex_encode(const unsigned char *in, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hexdigits[in[i] >> 4];
		out[2 * i + 1] = hexdigits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

void secret_new(char out[SECRET_LEN + 1])
{
	unsigned char b[SECRET_RANDOM_BYTES];
	size_t off = 0;
	while (off < sizeof(b)) {
		ssize_t r = getrandom(b + off, sizeof(b) - off, 0);
		if (r < 0)
			abort();   /* no randomness: never hand out a guessable secret */
		off += (size_t)r;
	}
	memcpy(out, SECRET_PREFIX, sizeof(SECRET_PREFIX) - 1);
	hex_encode(b, sizeof(b), out + sizeof(SECRET_PREFIX) - 1);
	memset(b, 0, sizeof(b));
}

bool secret_well_formed(const char *s)
{
	if (!s || strlen(s) != SECRET_LEN || strncmp(s, SECRET_PREFIX, sizeof(SECRET_PREFIX) - 1) != 0)
		return false;
	for (const char *p = s + sizeof(SECRET_PREFIX) - 1; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

void secret_hash(const char *s, char out[SECRET_HASH_LEN + 1])
{
	unsigned char digest[32];
	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, s, strlen(s), digest) < 0)
		abort();   /* SHA-256 is always there; failing to hash is a broken invariant */
	hex_encode(digest, sizeof(digest), out);
}

void secret_keyed_hash(const char *key, const char *msg, char out[SECRET_HASH_LEN + 1])
{
	unsigned char digest[32];
	if (gnutls_hmac_fast(GNUTLS_MAC_SHA256, key, strlen(key), msg, strlen(msg), digest) < 0)
		abort();   /* as secret_hash */
	hex_encode(digest, sizeof(digest), out);
}

bool secret_hash_equal(const char *a, const char *b)
{
	if (!a || !b || strlen(a) != SECRET_HASH_LEN || strlen(b) != SECRET_HASH_LEN)
		return false;
	/* Every byte is looked at whatever the first difference: no early exit. */
	volatile uint8_t diff = 0;
	for (size_t i = 0; i < SECRET_HASH_LEN; i++)
		diff |= (uint8_t)(a[i] ^ b[i]);
	return diff == 0;
}
