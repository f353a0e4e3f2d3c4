/* timeutil: clocks and formatting (see timeutil.h). */
#include "util/timeutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/err.h"

int64_t time_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t time_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void time_format_rfc3339(int64_t ms, char out[32])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void time_sleep_ms(int64_t ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int time_duration_parse(const char *s, const char *field, int64_t min_ms, int64_t max_ms, int64_t *ms,
			struct err *e)
{
	static const struct {
		const char *unit;
		int64_t ms;
	} units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
	size_t digits = s ? strspn(s, "0123456789") : 0;
	int64_t v = -1;
	for (size_t i = 0; digits && digits <= 10 && i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(s + digits, units[i].unit) == 0)
			v = strtoll(s, NULL, 10) * units[i].ms;
	if (v < 0)
		return err_set(e, ERR_INVALID, "%s \"%s\" is not a duration: write e.g. 500ms, 5s, 2m or 1h", field,
			       s ? s : "");
	if (v < min_ms || v > max_ms) {
		char lo[24], hi[24];
		time_duration_format(min_ms, lo);
		time_duration_format(max_ms, hi);
		return err_set(e, ERR_INVALID, "%s \"%s\" is out of range: %s to %s", field, s, lo, hi);
	}
	*ms = v;
	return 0;
}

void time_duration_format(int64_t ms, char out[24])
{
	if (ms > 86400000 && ms % 86400000 == 0)   /* "2d"; one day stays "24h" */
		snprintf(out, 24, "%lldd", (long long)(ms / 86400000));
	else if (ms != 0 && ms % 3600000 == 0)
		snprintf(out, 24, "%lldh", (long long)(ms / 3600000));
	else if (ms != 0 && ms % 60000 == 0)
		snprintf(out, 24, "%lldm", (long long)(ms / 60000));
	else if (ms % 1000 == 0)
		snprintf(out, 24, "%llds", (long long)(ms / 1000));
	else
		snprintf(out, 24, "%lldms", (long long)ms);
}
