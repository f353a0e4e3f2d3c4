/* network: validation and JSON (see network.h). */
#include "model/network.h"

#include <stdio.h>

#include "util/timeutil.h"

static const struct {
	uint32_t net;
	int prefix;
} private_ranges[] = {
	{0x0a000000u, 8},    /* 10.0.0.0/8 */
	{0xac100000u, 12},   /* 172.16.0.0/12 */
	{0xc0a80000u, 16},   /* 192.168.0.0/16 */
	{0x64400000u, 10},   /* 100.64.0.0/10, shared address space */
};

int network_cidr_parse(const char *s, const char *field, struct cidr *out, struct err *e)
{
	if (cidr4_parse(s, field, out, e) < 0)
		return -1;
	if (out->prefix < NETWORK_PREFIX_MIN || out->prefix > NETWORK_PREFIX_MAX)
		return err_set(e, ERR_INVALID, "%s \"%s\": a network's prefix length must be between /%d and /%d",
			       field, s, NETWORK_PREFIX_MIN, NETWORK_PREFIX_MAX);
	for (size_t i = 0; i < sizeof(private_ranges) / sizeof(private_ranges[0]); i++) {
		struct cidr r = {private_ranges[i].net, private_ranges[i].prefix};
		if (out->prefix >= r.prefix && cidr4_overlaps(out, &r))
			return 0;
	}
	return err_set(e, ERR_INVALID,
		       "%s \"%s\" is not private address space: use a subnet of 10.0.0.0/8, 172.16.0.0/12, "
		       "192.168.0.0/16 or 100.64.0.0/10", field, s);
}

void network_gateway(const struct cidr *c, char out[16])
{
	cidr4_host(c, 1, out);
}

json_t *network_to_json(const struct network *net, int nics)
{
	struct cidr c;
	char gw[16] = "";
	if (cidr4_parse(net->cidr, "cidr", &c, NULL) == 0)
		network_gateway(&c, gw);
	char created[32];
	time_format_rfc3339(net->created_at, created);
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:b, s:s, s:s, s:s}", "id", net->id, "name", net->name, "cidr",
			      net->cidr, "gateway", gw, "nat", net->nat, "bridge", net->bridge, "state",
			      net->deleted ? "deleting" : "available", "created_at", created);
	if (nics >= 0)
		json_object_set_new(o, "nics", json_integer(nics));
	return o;
}

json_t *forward_to_json(const struct forward *f)
{
	char created[32];
	time_format_rfc3339(f->created_at, created);
	return json_pack("{s:s, s:s, s:i, s:i, s:s}", "vm", f->vm_name, "proto", proto_name(f->proto), "host_port",
			 f->host_port, "guest_port", f->guest_port, "created_at", created);
}
