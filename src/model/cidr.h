/* cidr: IPv4 subnets as nubo uses them: parse "10.77.3.0/24", address the nth host. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "util/err.h"

struct cidr {
	uint32_t net;   /* host byte order, host bits zero */
	int prefix;     /* 8..30 for networks; 0..32 for traffic sources */
};

/* Parses "a.b.c.d/n"; field names the input in error messages. */
int cidr4_parse(const char *s, const char *field, struct cidr *out, struct err *e);
/* A traffic source: "a.b.c.d/n" with n 0..32, or a bare address (/32). */
int cidr4_parse_source(const char *s, const char *field, struct cidr *out, struct err *e);
/* "a.b.c.d/n" into out[20]. */
void cidr4_format(const struct cidr *c, char out[20]);
/* Number of usable host addresses (network and broadcast excluded). */
uint32_t cidr4_host_count(const struct cidr *c);
/* The address of host index i (1 = first usable) as dotted text into out[16]. */
void cidr4_host(const struct cidr *c, uint32_t i, char out[16]);
/* "255.255.255.0" into out[16]. */
void cidr4_netmask(const struct cidr *c, char out[16]);
/* Index of ip inside c, or 0 if outside / not a usable host. */
uint32_t cidr4_index_of(const struct cidr *c, const char *ip);
bool cidr4_overlaps(const struct cidr *a, const struct cidr *b);
