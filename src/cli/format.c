/*
 * format: numbers and times for people (see format.h).
 *
 * Units are binary (a "G" is 1024 M) because that is what memory sizes,
 * qcow2 sizes and the API's *_mib fields mean. One decimal is shown only
 * when it carries information and the number is small: "1.5G" and "22.5G"
 * but "8G", "50M" (not "50.0M") and "123M".
 */
#include "cli/format.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/str.h"

/* "%.1f" without a useless ".0"; v is >= 0. */
static char *one_decimal(double v, const char *unit)
{
	double r = round(v * 10.0) / 10.0;
	if (r == floor(r) || r >= 100.0)
		return xasprintf("%.0f%s", round(v), unit);
	return xasprintf("%.1f%s", r, unit);
}

char *fmt_mib(int64_t mib)
{
	if (mib < 0)
		return xstrdup("-");
	if (mib < 1024)
		return xasprintf("%lldM", (long long)mib);
	if (mib < 1024 * 1024)
		return one_decimal((double)mib / 1024.0, "G");
	return one_decimal((double)mib / (1024.0 * 1024.0), "T");
}

char *fmt_bytes(int64_t bytes)
{
	static const char *const units[] = {"B", "K", "M", "G", "T", "P"};
	if (bytes < 0)
		return xstrdup("-");
	double v = (double)bytes;
	size_t u = 0;
	while (u + 1 < sizeof(units) / sizeof(units[0])) {
		/* Move up when this unit would print as 1024 or more after rounding. */
		double shown = v >= 100.0 ? round(v) : round(v * 10.0) / 10.0;
		if (shown < 1024.0)
			break;
		v /= 1024.0;
		u++;
	}
	if (u == 0)
		return xasprintf("%lldB", (long long)bytes);
	return one_decimal(v, units[u]);
}

char *fmt_age(int64_t s)
{
	if (s < 0)
		s = 0;
	if (s < 60)
		return xasprintf("%llds", (long long)s);
	if (s < 3600)
		return xasprintf("%lldm", (long long)(s / 60));
	if (s < 86400)
		return xasprintf("%lldh", (long long)(s / 3600));
	return xasprintf("%lldd", (long long)(s / 86400));
}

char *fmt_duration_ms(int64_t ms)
{
	if (ms < 0)
		ms = 0;
	if (ms < 60000)
		return xasprintf("%.1fs", (double)ms / 1000.0);
	int64_t s = ms / 1000;
	if (s < 3600)
		return xasprintf("%lldm%llds", (long long)(s / 60), (long long)(s % 60));
	return xasprintf("%lldh%lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
}

char *fmt_price(double price)
{
	/* Four decimals like a price list, more only when they are not zeros. */
	for (int prec = 4; prec < 8; prec++) {
		double scale = pow(10.0, prec);
		if (fabs(round(price * scale) / scale - price) < 1e-12)
			return xasprintf("%.*f", prec, price);
	}
	return xasprintf("%.8f", price);
}

static bool digits(const char **p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return false;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return true;
}

bool fmt_parse_rfc3339(const char *s, int64_t *ms)
{
	if (!s)
		return false;
	const char *p = s;
	int y, mo, d, h, mi, sec, frac_ms = 0;
	if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' ||
	    !digits(&p, 2, &d) || (*p != 'T' && *p != 't' && *p != ' '))
		return false;
	p++;
	if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi) || *p++ != ':' ||
	    !digits(&p, 2, &sec))
		return false;
	if (*p == '.') {
		p++;
		int scale = 100, n = 0;
		while (isdigit((unsigned char)*p)) {
			frac_ms += (*p - '0') * scale;
			scale /= 10;
			p++;
			n++;
		}
		if (n == 0)
			return false;
	}
	int offset_min = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p++ == '-' ? -1 : 1, oh, om;
		if (!digits(&p, 2, &oh) || *p++ != ':' || !digits(&p, 2, &om))
			return false;
		offset_min = sign * (oh * 60 + om);
	} else {
		return false;
	}
	if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return false;
	struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
			.tm_hour = h, .tm_min = mi, .tm_sec = sec};
	time_t t = timegm(&tm);
	*ms = ((int64_t)t - (int64_t)offset_min * 60) * 1000 + frac_ms;
	return true;
}

char *fmt_age_since(const char *ts, int64_t now_ms)
{
	int64_t ms;
	if (!fmt_parse_rfc3339(ts, &ms))
		return xstrdup("-");
	return fmt_age((now_ms - ms) / 1000);
}

const char *fmt_read_reason(const struct err *e, const char *path)
{
	autofree char *prefix = xasprintf("cannot read %s: ", path);
	return str_starts_with(e->msg, prefix) ? e->msg + strlen(prefix) : e->msg;
}
