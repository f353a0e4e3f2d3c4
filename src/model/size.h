/* size: byte sizes as people write them: "20G", "512M", "1.5T", "4096". Units are binary (G = GiB). */
#pragma once

#include <stdint.h>

#include "util/err.h"

/* qemu-img rounds every size up to whole 512-byte sectors; size_parse
 * rounds the same way, so what is recorded is what the file gets. */
#define SIZE_ROUND 512
#define SIZE_MAX_BYTES (1ull << 50)
#define SIZE_DECIMALS_MAX 6

/* Parses s, DIGITS[.DIGITS][UNIT] with UNIT one of K, M, G, T (KiB … TiB,
 * any case; binary) or none for bytes, into bytes rounded up to SIZE_ROUND.
 * field names the input in error messages. */
int size_parse(const char *s, const char *field, uint64_t *out, struct err *e);
/* "20G", "512M", "1.5G" (shortest exact-ish form) into out[32]. */
void size_format(uint64_t bytes, char out[32]);
