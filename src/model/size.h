/* size: byte sizes as people write them: "20G", "512M", "1.5T", "4096". Units are binary (G = GiB). */
#pragma once

#include <stdint.h>

#include "util/err.h"

/* Parses s into bytes; field names the input in error messages. */
int size_parse(const char *s, const char *field, uint64_t *out, struct err *e);
/* "20G", "512M", "1.5G" (shortest exact-ish form) into out[32]. */
void size_format(uint64_t bytes, char out[32]);
