/* size: parsing and printing byte sizes (see size.h). */
#include "model/size.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct {
	const char *suffix;
	uint64_t mult;
} units[] = {
	{"", 1},
	{"K", 1ull << 10}, {"KIB", 1ull << 10}, {"M", 1ull << 20}, {"MIB", 1ull << 20},
	{"G", 1ull << 30}, {"GIB", 1ull << 30}, {"T", 1ull << 40}, {"TIB", 1ull << 40},
};

int size_parse(const char *s, const char *field, uint64_t *out, struct err *e)
{
	if (!s || !*s)
		return err_set(e, ERR_INVALID, "%s must not be empty; give a size such as 20G", field);
	/* DIGITS [. DIGITS] UNIT, read exactly with integers: strtod took hex,
	 * exponents, "inf" and spaces, and its binary fractions recorded a size
	 * a few bytes off from the one written into the file. */
	const char *p = s;
	uint64_t whole = 0, frac = 0, scale = 1;
	bool big = false;
	while (*p >= '0' && *p <= '9') {
		whole = whole * 10 + (uint64_t)(*p++ - '0');
		big = big || whole > SIZE_MAX_BYTES;
		if (big)
			whole = SIZE_MAX_BYTES + 1;   /* no overflow however many digits follow */
	}
	if (p == s)
		return err_set(e, ERR_INVALID, "%s \"%s\" is not a size such as 20G or 512M (digits, an optional "
			       "decimal part, a unit)", field, s);
	if (*p == '.') {
		const char *f = ++p;
		while (*p >= '0' && *p <= '9') {
			if (p - f == SIZE_DECIMALS_MAX)
				return err_set(e, ERR_INVALID, "%s \"%s\" has more than %d digits after the point", field, s,
					       SIZE_DECIMALS_MAX);
			frac = frac * 10 + (uint64_t)(*p++ - '0');
			scale *= 10;
		}
		if (p == f)
			return err_set(e, ERR_INVALID, "%s \"%s\" is not a size such as 20G or 1.5G: a point needs "
				       "digits after it", field, s);
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcasecmp(p, units[i].suffix) != 0)
			continue;
		uint64_t mult = units[i].mult;
		if (mult == 1 && scale > 1)
			return err_set(e, ERR_INVALID, "%s \"%s\" is a number of bytes with a decimal part; give whole "
				       "bytes or a unit such as 1.5G", field, s);
		if (big || whole > SIZE_MAX_BYTES / mult)
			return err_set(e, ERR_INVALID, "%s \"%s\" is too large", field, s);
		/* frac < 10^6 and mult <= 2^40: the product stays below 2^60 */
		uint64_t bytes = whole * mult + (frac * mult + scale - 1) / scale;
		bytes = (bytes + SIZE_ROUND - 1) / SIZE_ROUND * SIZE_ROUND;
		if (bytes > SIZE_MAX_BYTES)
			return err_set(e, ERR_INVALID, "%s \"%s\" is too large", field, s);
		if (bytes == 0)
			return err_set(e, ERR_INVALID, "%s \"%s\" is zero", field, s);
		*out = bytes;
		return 0;
	}
	return err_set(e, ERR_INVALID, "%s \"%s\" is not a size such as 20G or 512M: after the number comes a unit, "
		       "K, M, G or T", field, s);
}

void size_format(uint64_t bytes, char out[32])
{
	static const char *names[] = {"", "K", "M", "G", "T"};
	int u = 0;
	double v = (double)bytes;
	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	if (v == (double)(uint64_t)v)
		snprintf(out, 32, "%.0f%s", v, names[u]);
	else
		snprintf(out, 32, "%.1f%s", v, names[u]);
}
