/*
 * format: how the CLI shows numbers and times to people.
 *
 * Every function is pure (no I/O, no clock): callers pass "now" explicitly, so
 * the unit tests pin exact strings. Each returns a string the caller frees.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "util/err.h"

/* Memory given in MiB: 256 -> "256M", 1024 -> "1G", 1536 -> "1.5G", 23000 -> "22.5G". */
char *fmt_mib(int64_t mib);
/* Sizes in bytes with binary units: 0 -> "0B", 52428800 -> "50M", 1288490189 -> "1.2G". */
char *fmt_bytes(int64_t bytes);
/* Age of something, coarse: 5 -> "5s", 190 -> "3m", 7300 -> "2h", 4 days -> "4d".
 * Negative ages (clock skew) show as "0s". */
char *fmt_age(int64_t seconds);
/* A duration for summary lines: 850 -> "0.9s", 4120 -> "4.1s", 95000 -> "1m35s",
 * 3720000 -> "1h2m". */
char *fmt_duration_ms(int64_t ms);
/* A price per hour: 0.0125 -> "0.0125", 0.1 -> "0.1000", 0.003125 -> "0.003125". */
char *fmt_price(double price);

/* Parses an RFC 3339 timestamp ("2026-11-26T16:05:39.120Z", "...+02:00") into ms
 * since the epoch. Returns false (leaving *ms alone) when s is not one. */
bool fmt_parse_rfc3339(const char *s, int64_t *ms);
/* "5s" style age of an RFC 3339 timestamp at now_ms, or "-" when ts is NULL or
 * not a timestamp. */
char *fmt_age_since(const char *ts, int64_t now_ms);

/* The reason in an fs_read_file() error about path ("No such file or
 * directory"), without its "cannot read PATH: " start. Points into e. */
const char *fmt_read_reason(const struct err *e, const char *path);
