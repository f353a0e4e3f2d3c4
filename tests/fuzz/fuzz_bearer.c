/* fuzz_bearer: api_bearer_secret on an Authorization header value as a
 * client sends it. What it accepts is "Bearer" in any case, spaces or tabs,
 * one well-formed secret and nothing after it but spaces or tabs; the secret
 * handed on is the header's own bytes, SECRET_LEN long. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common.h"
#include "util/secret.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *h = fuzz_cstr(data, size);
	if (!h)
		return -1;
	char secret[SECRET_LEN + 1];
	memset(secret, 'x', sizeof(secret));
	if (api_bearer_secret(h, secret)) {
		FUZZ_ASSERT(strlen(h) <= 512, "a header of %zu bytes was read", strlen(h));
		FUZZ_ASSERT(strncasecmp(h, "bearer", 6) == 0 && (h[6] == ' ' || h[6] == '\t'),
			    "\"%s\" accepted without the Bearer scheme", h);
		FUZZ_ASSERT(strlen(secret) == SECRET_LEN, "a secret of %zu bytes from \"%s\"", strlen(secret), h);
		FUZZ_ASSERT(secret_well_formed(secret), "\"%s\" accepted with a malformed secret", h);
		const char *at = strstr(h + 6, secret);
		FUZZ_ASSERT(at != NULL, "the secret is not the header's own bytes: \"%s\"", h);
		FUZZ_ASSERT(strspn(h + 6, " \t") == (size_t)(at - h - 6), "\"%s\" has more than blanks before the secret", h);
		FUZZ_ASSERT(strspn(at + SECRET_LEN, " \t") == strlen(at + SECRET_LEN),
			    "\"%s\" has more than blanks after the secret", h);
	}
	free(h);
	return 0;
}
