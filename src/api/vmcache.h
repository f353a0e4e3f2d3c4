/* vmcache: rendered VM JSON per (id, revision), for GET /v1/vms (see vmcache.c). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "util/str.h"

bool vmcache_has(const char *id, int64_t rev);
/* Appends the cached JSON of VM id at revision rev to b; false (b
 * unchanged) when there is none for that revision. */
bool vmcache_append(struct sbuf *b, const char *id, int64_t rev);
/* Keeps json (copied) as VM id's at revision rev. */
void vmcache_put(const char *id, int64_t rev, const char *json);
void vmcache_clear(void);
