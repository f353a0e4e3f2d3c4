/* timeutil: wall-clock and monotonic milliseconds, RFC 3339 formatting. */
#pragma once

#include <stdint.h>

struct err;

int64_t time_now_ms(void);   /* wall clock, ms since the epoch */
int64_t time_mono_ms(void);  /* monotonic, for durations and deadlines */
/* Formats ms since the epoch as "2026-11-26T16:05:39Z" into out (32 bytes). */
void time_format_rfc3339(int64_t ms, char out[32]);
void time_sleep_ms(int64_t ms);
/* A duration as users write it: digits and a unit, ms, s, m, h or d ("500ms",
 * "5s", "2m", "1h", "7d"), from min_ms to max_ms. Errors name field and the text. */
int time_duration_parse(const char *s, const char *field, int64_t min_ms, int64_t max_ms, int64_t *ms,
			struct err *e);
/* ms in the largest unit that writes it whole: 100 -> "100ms", 3600000 -> "1h",
 * 172800000 -> "2d" (a single day stays "24h"). */
void time_duration_format(int64_t ms, char out[24]);
