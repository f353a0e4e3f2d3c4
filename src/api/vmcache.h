/* vmcache: rendered VM JSON and usage spans per (id, revision), for GET /v1/vms (see vmcache.c). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "model/usage.h"
#include "util/str.h"

bool vmcache_has(const char *id, int64_t rev);
/* Appends the cached JSON of VM id at revision rev to b; false (b
 * unchanged) when there is none for that revision. */
bool vmcache_append(struct sbuf *b, const char *id, int64_t rev);
/* Keeps json (copied) as VM id's at revision rev. */
void vmcache_put(const char *id, int64_t rev, const char *json);
/* Appends the usage spans kept for VM id at revision rev to *spans (n
 * counts them); false when none are kept for that revision. */
bool vmcache_spans(const char *id, int64_t rev, struct usage_span **spans, int *n);
/* Keeps spans[0..n) (copied; n may be 0) as VM id's at revision rev. */
void vmcache_put_spans(const char *id, int64_t rev, const struct usage_span *spans, int n);
void vmcache_clear(void);
