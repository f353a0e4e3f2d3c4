/* size: parsing and printing byte sizes (see size.h). */
#include "model/size.h"

#include <ctype.h>
#include <math.h>
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
	char *end = NULL;
	double v = strtod(s, &end);
	if (end == s || !isfinite(v) || v <= 0 || !isdigit((unsigned char)s[0]))
		return err_set(e, ERR_INVALID, "%s \"%s\" is not a size such as 20G or 512M", field, s);
	while (*end == ' ')
		end++;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcasecmp(end, units[i].suffix) != 0)
			continue;
		double bytes = v * (double)units[i].mult;
		if (bytes > (double)(1ull << 50))
			return err_set(e, ERR_INVALID, "%s \"%s\" is too large", field, s);
		if (bytes < 1)
			return err_set(e, ERR_INVALID, "%s \"%s\" is less than one byte", field, s);
		*out = (uint64_t)bytes;
		return 0;
	}
	return err_set(e, ERR_INVALID, "%s \"%s\" has an unknown unit \"%s\"; use K, M, G or T", field, s, end);
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
