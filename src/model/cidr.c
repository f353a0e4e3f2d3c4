/* cidr: IPv4 subnet arithmetic (see cidr.h). */
#include "model/cidr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t mask_of(int prefix)
{
	return prefix <= 0 ? 0 : 0xffffffffu << (32 - prefix);
}

static int parse_range(const char *s, const char *field, int min, int max, struct cidr *out, struct err *e);

int cidr4_parse(const char *s, const char *field, struct cidr *out, struct err *e)
{
	return parse_range(s, field, 8, 30, out, e);
}

int cidr4_parse_source(const char *s, const char *field, struct cidr *out, struct err *e)
{
	if (s && !strchr(s, '/')) {   /* a single address: a /32 */
		struct in_addr in;
		if (inet_pton(AF_INET, s, &in) != 1)
			return err_set(e, ERR_INVALID, "%s \"%s\" is not an IPv4 address or CIDR such as 0.0.0.0/0",
				       field, s);
		*out = (struct cidr){ntohl(in.s_addr), 32};
		return 0;
	}
	return parse_range(s, field, 0, 32, out, e);
}

void cidr4_format(const struct cidr *c, char out[20])
{
	snprintf(out, 20, "%u.%u.%u.%u/%d", c->net >> 24, (c->net >> 16) & 255, (c->net >> 8) & 255, c->net & 255,
		 c->prefix);
}

static int parse_range(const char *s, const char *field, int min, int max, struct cidr *out, struct err *e)
{
	char addr[32];
	const char *slash = s ? strchr(s, '/') : NULL;
	if (!slash || (size_t)(slash - s) >= sizeof(addr))
		return err_set(e, ERR_INVALID, "%s \"%s\" is not a CIDR such as 10.20.0.0/24", field, s ? s : "");
	memcpy(addr, s, (size_t)(slash - s));
	addr[slash - s] = '\0';
	struct in_addr in;
	/* The prefix is one or two plain digits: the text goes as given into
	 * nftables rules, so " 24", "+24" or "024" must not pass as 24. */
	const char *p = slash + 1;
	size_t digits = strspn(p, "0123456789");
	if (inet_pton(AF_INET, addr, &in) != 1 || digits == 0 || digits > 2 || p[digits] ||
	    (p[0] == '0' && digits > 1))
		return err_set(e, ERR_INVALID, "%s \"%s\" is not a CIDR such as 10.20.0.0/24", field, s);
	long prefix = strtol(p, NULL, 10);
	if (prefix < min || prefix > max)
		return err_set(e, ERR_INVALID, "%s \"%s\": the prefix length must be between %d and %d", field, s, min,
			       max);
	uint32_t a = ntohl(in.s_addr);
	if (a & ~mask_of((int)prefix))
		return err_set(e, ERR_INVALID, "%s \"%s\" has host bits set; did you mean %u.%u.%u.%u/%ld?", field,
			       s, (a & mask_of((int)prefix)) >> 24, ((a & mask_of((int)prefix)) >> 16) & 255,
			       ((a & mask_of((int)prefix)) >> 8) & 255, (a & mask_of((int)prefix)) & 255, prefix);
	out->net = a;
	out->prefix = (int)prefix;
	return 0;
}

uint32_t cidr4_host_count(const struct cidr *c)
{
	return (1u << (32 - c->prefix)) - 2;
}

static void ip_text(uint32_t a, char out[16])
{
	snprintf(out, 16, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
}

void cidr4_host(const struct cidr *c, uint32_t i, char out[16])
{
	ip_text(c->net + i, out);
}

void cidr4_netmask(const struct cidr *c, char out[16])
{
	ip_text(mask_of(c->prefix), out);
}

uint32_t cidr4_index_of(const struct cidr *c, const char *ip)
{
	struct in_addr in;
	if (!ip || inet_pton(AF_INET, ip, &in) != 1)
		return 0;
	uint32_t a = ntohl(in.s_addr);
	if ((a & mask_of(c->prefix)) != c->net)
		return 0;
	uint32_t i = a - c->net;
	return (i >= 1 && i <= cidr4_host_count(c)) ? i : 0;
}

bool cidr4_overlaps(const struct cidr *a, const struct cidr *b)
{
	int p = a->prefix < b->prefix ? a->prefix : b->prefix;
	return (a->net & mask_of(p)) == (b->net & mask_of(p));
}
