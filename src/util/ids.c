/* ids: random resource ids and MACs (see ids.h). */
#include "util/ids.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>

static void random_bytes(unsigned char *buf, size_t n)
{
	size_t off = 0;
	while (off < n) {
		ssize_t r = getrandom(buf + off, n - off, 0);
		if (r < 0)
			abort();
		off += (size_t)r;
	}
}

void id_new(const char *prefix, char out[ID_MAX])
{
	unsigned char b[6];
	random_bytes(b, sizeof(b));
	snprintf(out, ID_MAX, "%s-%02x%02x%02x%02x%02x%02x", prefix, b[0], b[1], b[2], b[3], b[4], b[5]);
}

void id_mac_new(char out[18])
{
	unsigned char b[3];
	random_bytes(b, sizeof(b));
	snprintf(out, 18, "52:54:00:%02x:%02x:%02x", b[0], b[1], b[2]);
}

unsigned id_hash32(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	}
	return h;
}
