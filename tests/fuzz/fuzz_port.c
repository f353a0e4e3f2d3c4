/* fuzz_port: port, port range, protocol and port map parsing on the same
 * text. What is accepted is in range and prints back to an equivalent text
 * (leading zeros aside); what is refused says why in valid UTF-8. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "model/port.h"

/* s without leading zeros in each run of digits: "0080:08" -> "80:8". */
static void strip_zeros(const char *s, char *out)
{
	bool in_digits = false;
	for (; *s; s++) {
		if (*s == '0' && !in_digits && s[1] >= '0' && s[1] <= '9')
			continue;
		in_digits = *s >= '0' && *s <= '9';
		*out++ = *s;
	}
	*out = '\0';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);
	if (!s)
		return -1;
	char *canon = malloc(size + 1);
	strip_zeros(s, canon);
	char text[64];
	struct err e = {0};

	uint16_t p = 0;
	int rc = port_parse(s, "port", &p, &e);
	if (rc < 0) {
		fuzz_check_err(rc, &e, s);
	} else {
		FUZZ_ASSERT(p >= 1, "port 0 accepted");
		snprintf(text, sizeof(text), "%u", (unsigned)p);
		FUZZ_ASSERT(strcmp(text, canon) == 0, "\"%s\" was read as port %s", s, text);
	}

	uint16_t lo = 0, hi = 0;
	rc = port_range_parse(s, "ports", &lo, &hi, &e);
	if (rc < 0) {
		fuzz_check_err(rc, &e, s);
	} else {
		FUZZ_ASSERT(lo >= 1 && lo <= hi, "range %u-%u accepted", (unsigned)lo, (unsigned)hi);
		if (strchr(s, '-'))
			snprintf(text, sizeof(text), "%u-%u", (unsigned)lo, (unsigned)hi);
		else
			snprintf(text, sizeof(text), "%u", (unsigned)lo);
		FUZZ_ASSERT(strcmp(text, canon) == 0, "\"%s\" was read as %s", s, text);
	}

	enum proto pr = PROTO_TCP;
	rc = proto_parse(s, "protocol", &pr, &e);
	if (rc < 0)
		fuzz_check_err(rc, &e, s);
	else
		FUZZ_ASSERT(strcmp(proto_name(pr), s) == 0, "\"%s\" was read as %s", s, proto_name(pr));

	struct port_map m;
	rc = port_map_parse(s, "expose", &m, &e);
	if (rc < 0) {
		fuzz_check_err(rc, &e, s);
	} else {
		FUZZ_ASSERT(m.host >= 1 && m.guest >= 1, "port 0 in a map");
		FUZZ_ASSERT(m.proto == PROTO_TCP || m.proto == PROTO_UDP, "protocol %s in a map", proto_name(m.proto));
		snprintf(text, sizeof(text), "%u:%u/%s", (unsigned)m.host, (unsigned)m.guest, proto_name(m.proto));
		char with_proto[64];
		snprintf(with_proto, sizeof(with_proto), "%s%s", canon, strchr(s, '/') ? "" : "/tcp");
		FUZZ_ASSERT(strcmp(text, with_proto) == 0, "\"%s\" was read as %s", s, text);
	}
	free(canon);
	free(s);
	return 0;
}
