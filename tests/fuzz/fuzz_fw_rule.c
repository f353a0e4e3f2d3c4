/* fuzz_fw_rule: fw_rule_parse, the firewall rule model, on fuzzed proto,
 * port, from and from_firewall. What it accepts must mean what the text
 * says: the proto prints back as given, a port range is 1 <= lo <= hi and
 * prints back as given, only tcp and udp take a port, one source at most,
 * and from_cidr is the normalised "from" (a bare address is its /32) that
 * re-parses to itself.
 *
 * Input: a flags byte (bit 0: proto given, 1: port given, 2: from given,
 * 3: from_firewall given), then proto, port, from and from_firewall
 * separated by NUL bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "model/cidr.h"
#include "model/firewall.h"

/* "N" or "N-M" in plain decimal digits (leading zeros allowed, as port.h
 * reads them); values capped so long runs cannot overflow. */
static bool digits_value(const char *s, size_t n, unsigned long *v)
{
	*v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		if (*v < 1000000)
			*v = *v * 10 + (unsigned long)(s[i] - '0');
	}
	return n > 0;
}

static bool port_values(const char *s, unsigned long *lo, unsigned long *hi)
{
	const char *dash = strchr(s, '-');
	if (!dash)
		return digits_value(s, strlen(s), lo) && digits_value(s, strlen(s), hi);
	return digits_value(s, (size_t)(dash - s), lo) && digits_value(dash + 1, strlen(dash + 1), hi);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return -1;
	unsigned flags = data[0];
	char *piece[4] = {0};
	int n = fuzz_split(data + 1, size - 1, piece, 4);
	const char *arg[4];
	for (int i = 0; i < 4; i++)
		arg[i] = (flags & (1u << i)) && i < n ? piece[i] : NULL;
	const char *proto = arg[0], *port = arg[1], *from = arg[2], *from_fw = arg[3];

	struct fw_rule r;
	memset(&r, 0xa5, sizeof(r));
	struct err e = {0};
	int rc = fw_rule_parse(proto, port, from, from_fw, &r, &e);
	if (rc < 0) {
		fuzz_check_err(rc, &e, proto ? proto : "(no proto)");
	} else {
		FUZZ_ASSERT(proto && strcmp(proto_name(r.proto), proto) == 0, "proto \"%s\" was read as %s",
			    proto ? proto : "(null)", proto_name(r.proto));
		if (port) {
			FUZZ_ASSERT(r.proto == PROTO_TCP || r.proto == PROTO_UDP, "a port was accepted for %s",
				    proto_name(r.proto));
			FUZZ_ASSERT(r.port_lo >= 1 && r.port_lo <= r.port_hi, "port \"%s\" was read as %u-%u", port,
				    r.port_lo, r.port_hi);
			unsigned long lo, hi;
			FUZZ_ASSERT(port_values(port, &lo, &hi) && lo == r.port_lo && hi == r.port_hi,
				    "port \"%s\" was read as %u-%u", port, r.port_lo, r.port_hi);
		} else {
			FUZZ_ASSERT(r.port_lo == 0 && r.port_hi == 0, "no port was read as %u-%u", r.port_lo, r.port_hi);
		}
		FUZZ_ASSERT(!(from && from_fw), "both from \"%s\" and from_firewall \"%s\" were accepted", from, from_fw);
		if (from_fw) {
			FUZZ_ASSERT(r.from_cidr[0] == '\0', "a rule from a firewall has from_cidr %s", r.from_cidr);
		} else {
			char want[40];
			snprintf(want, sizeof(want), "%s%s", from ? from : "0.0.0.0/0",
				 from && !strchr(from, '/') ? "/32" : "");
			FUZZ_ASSERT(strcmp(r.from_cidr, want) == 0, "from \"%s\" was read as %s", from ? from : "(none)",
				    r.from_cidr);
			struct cidr c;
			FUZZ_ASSERT(cidr4_parse_source(r.from_cidr, "from", &c, NULL) == 0, "from_cidr %s does not re-parse",
				    r.from_cidr);
			char again[20];
			cidr4_format(&c, again);
			FUZZ_ASSERT(strcmp(again, r.from_cidr) == 0, "from_cidr %s re-parses as %s", r.from_cidr, again);
		}
		/* What ctl fills in before it describes the rule. */
		snprintf(r.id, sizeof(r.id), "fwr-0123456789ab");
		snprintf(r.from_firewall, sizeof(r.from_firewall), "%s", from_fw ? "web" : "");
		char text[256];
		fw_rule_describe(&r, text, sizeof(text));
		FUZZ_ASSERT(fuzz_utf8(text, strlen(text)), "the description is not UTF-8: %s", text);
		json_t *j = fw_rule_to_json(&r);
		FUZZ_ASSERT(j && strcmp(json_string_value(json_object_get(j, "proto")), proto) == 0,
			    "the rule's JSON lost its proto");
		json_decref(j);
	}
	for (int i = 0; i < n; i++)
		free(piece[i]);
	return 0;
}
