/* fuzz_cidr: cidr4_parse, and the arithmetic on what it accepts. An accepted
 * subnet prints back as the very text it came from (no leniency such as
 * " 24" or "+24" slips through), and its first and last hosts map back to
 * their indexes. On the same text: cidr4_parse_source (a firewall rule's
 * source: /0../32 or a bare address, which is its /32) and
 * network_cidr_parse (a network's subnet: /16../28 of private space). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "model/cidr.h"
#include "model/network.h"

static void check_source(const char *s)
{
	struct err e = {0};
	struct cidr c;
	int rc = cidr4_parse_source(s, "from", &c, &e);
	if (rc < 0) {
		fuzz_check_err(rc, &e, s);
		return;
	}
	FUZZ_ASSERT(c.prefix >= 0 && c.prefix <= 32, "source \"%s\" has prefix %d", s, c.prefix);
	uint32_t mask = c.prefix ? 0xffffffffu << (32 - c.prefix) : 0;
	FUZZ_ASSERT((c.net & ~mask) == 0, "source \"%s\" kept host bits", s);
	char text[20], want[40];
	cidr4_format(&c, text);
	snprintf(want, sizeof(want), "%s%s", s, strchr(s, '/') ? "" : "/32");
	FUZZ_ASSERT(strcmp(text, want) == 0, "source \"%s\" was read as %s", s, text);
	struct cidr again;
	FUZZ_ASSERT(cidr4_parse_source(text, "from", &again, NULL) == 0 && again.net == c.net &&
			    again.prefix == c.prefix,
		    "source %s does not re-parse to itself", text);
}

/* In 10/8, 172.16/12, 192.168/16 or 100.64/10, computed here apart from the model. */
static bool private_subnet(const struct cidr *c)
{
	uint8_t a = (uint8_t)(c->net >> 24), b = (uint8_t)(c->net >> 16);
	return a == 10 || (a == 172 && (b & 0xf0) == 16) || (a == 192 && b == 168) || (a == 100 && (b & 0xc0) == 64);
}

static void check_network(const char *s, const struct cidr *plain)
{
	struct err e = {0};
	struct cidr c;
	int rc = network_cidr_parse(s, "cidr", &c, &e);
	if (rc < 0) {
		fuzz_check_err(rc, &e, s);
		FUZZ_ASSERT(!plain || plain->prefix < NETWORK_PREFIX_MIN || plain->prefix > NETWORK_PREFIX_MAX ||
				    !private_subnet(plain),
			    "network cidr \"%s\" refused: %s", s, e.msg);
		return;
	}
	FUZZ_ASSERT(plain && plain->net == c.net && plain->prefix == c.prefix,
		    "network cidr \"%s\" accepted but cidr4_parse reads it otherwise", s);
	FUZZ_ASSERT(c.prefix >= NETWORK_PREFIX_MIN && c.prefix <= NETWORK_PREFIX_MAX, "network cidr \"%s\" has prefix %d",
		    s, c.prefix);
	FUZZ_ASSERT(private_subnet(&c), "network cidr \"%s\" is not private address space", s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);
	if (!s)
		return -1;
	struct err e = {0};
	struct cidr c;
	int rc = cidr4_parse(s, "cidr", &c, &e);
	if (rc < 0) {
		fuzz_check_err(rc, &e, s);
	} else {
		FUZZ_ASSERT(c.prefix >= 8 && c.prefix <= 30, "prefix %d accepted", c.prefix);
		char text[32];
		snprintf(text, sizeof(text), "%u.%u.%u.%u/%d", c.net >> 24, (c.net >> 16) & 255, (c.net >> 8) & 255,
			 c.net & 255, c.prefix);
		FUZZ_ASSERT(strcmp(text, s) == 0, "\"%s\" was read as %s", s, text);
		uint32_t n = cidr4_host_count(&c);
		char ip[16];
		cidr4_host(&c, 1, ip);
		FUZZ_ASSERT(cidr4_index_of(&c, ip) == 1, "the first host %s of %s is not index 1", ip, s);
		cidr4_host(&c, n, ip);
		FUZZ_ASSERT(cidr4_index_of(&c, ip) == n, "the last host %s of %s is not index %u", ip, s, n);
		struct cidr same = c;
		FUZZ_ASSERT(cidr4_overlaps(&c, &same), "%s does not overlap itself", s);
	}
	check_source(s);
	check_network(s, rc == 0 ? &c : NULL);
	free(s);
	return 0;
}
