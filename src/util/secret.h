/*
 * secret: the bearer secrets of API tokens.
 *
 * A secret is "nubo_" and 64 hex digits: 256 bits from the kernel's random
 * source, with a prefix that secret scanners and people recognise. nubod
 * keeps only its SHA-256 (hex); a presented secret is hashed and the hashes
 * are compared in constant time, so neither the store nor the timing of a
 * refusal tells anything about a valid secret.
 */
#pragma once

#include <stdbool.h>

#define SECRET_PREFIX "nubo_"
#define SECRET_RANDOM_BYTES 32
#define SECRET_LEN (sizeof(SECRET_PREFIX) - 1 + 2 * SECRET_RANDOM_BYTES)   /* 69 characters */
#define SECRET_HASH_LEN 64                                                   /* hex SHA-256 */

/* Writes a new random secret into out (SECRET_LEN + 1 bytes). */
void secret_new(char out[SECRET_LEN + 1]);
/* Whether s has the shape of a secret (prefix, then exactly 64 lowercase hex digits). */
bool secret_well_formed(const char *s);
/* Writes the lowercase hex SHA-256 of s into out (SECRET_HASH_LEN + 1 bytes). */
void secret_hash(const char *s, char out[SECRET_HASH_LEN + 1]);
/* Writes the lowercase hex HMAC-SHA-256 of msg under key into out
 * (SECRET_HASH_LEN + 1 bytes): a value that only the key's holder can
 * compute for a given msg (the metadata service's per-VM NoCloud path). */
void secret_keyed_hash(const char *key, const char *msg, char out[SECRET_HASH_LEN + 1]);
/* Whether two hex hashes are equal, in time that does not depend on where they differ.
 * Anything that is not SECRET_HASH_LEN characters long is unequal to everything. */
bool secret_hash_equal(const char *a, const char *b);
