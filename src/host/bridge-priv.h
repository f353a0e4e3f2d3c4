/* bridge-priv: the pure parts of bridge.c, for unit tests. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* Parses "a.b.c.d/len" (or a bare address, len 32) into host-order address
 * and prefix length. Returns 0 or -1. */
int cidr_parse(const char *s, uint32_t *addr, int *len);

/* Whether two prefixes share any address. */
bool cidr_overlap(uint32_t a, int alen, uint32_t b, int blen);

/* host_subnet_conflict on given `ip -j` outputs. */
int subnet_conflict_in(const char *cidr, const char *except_dev, const char *routes_json, const char *addrs_json,
		       bool *in_use, char *what, size_t what_len, struct err *e);
