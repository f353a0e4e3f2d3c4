/* timeutil: wall-clock and monotonic milliseconds, RFC 3339 formatting. */
#pragma once

#include <stdint.h>

int64_t time_now_ms(void);   /* wall clock, ms since the epoch */
int64_t time_mono_ms(void);  /* monotonic, for durations and deadlines */
/* Formats ms since the epoch as "2026-11-26T16:05:39Z" into out (32 bytes). */
void time_format_rfc3339(int64_t ms, char out[32]);
void time_sleep_ms(int64_t ms);
