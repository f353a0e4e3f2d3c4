/* firewall: rule validation and JSON (see firewall.h). */
#include "model/firewall.h"

#include <stdio.h>
#include <string.h>

#include "model/cidr.h"
#include "util/timeutil.h"

int fw_rule_parse(const char *proto, const char *port, const char *from, const char *from_firewall,
		  struct fw_rule *out, struct err *e)
{
	if (proto_parse(proto ? proto : "", "proto", &out->proto, e) < 0)
		return -1;
	out->port_lo = out->port_hi = 0;
	if (port) {
		if (out->proto != PROTO_TCP && out->proto != PROTO_UDP)
			return err_set(e, ERR_INVALID, "port \"%s\": a port applies to tcp and udp only, not to %s",
				       port, proto_name(out->proto));
		if (port_range_parse(port, "port", &out->port_lo, &out->port_hi, e) < 0)
			return -1;
	}
	if (from && from_firewall)
		return err_set(e, ERR_INVALID, "from \"%s\" and from_firewall \"%s\": give one source, not both", from,
			       from_firewall);
	out->from_cidr[0] = '\0';
	if (!from_firewall) {
		struct cidr c;
		if (cidr4_parse_source(from ? from : "0.0.0.0/0", "from", &c, e) < 0)
			return -1;
		cidr4_format(&c, out->from_cidr);
	}
	return 0;
}

static void ports_text(const struct fw_rule *r, char out[16])
{
	if (r->proto != PROTO_TCP && r->proto != PROTO_UDP)
		out[0] = '\0';
	else if (!r->port_lo)
		snprintf(out, 16, "all");
	else if (r->port_lo == r->port_hi)
		snprintf(out, 16, "%u", r->port_lo);
	else
		snprintf(out, 16, "%u-%u", r->port_lo, r->port_hi);
}

void fw_rule_describe(const struct fw_rule *r, char *out, size_t n)
{
	char ports[16];
	ports_text(r, ports);
	const char *what = r->proto == PROTO_ICMP ? "icmp echo" : proto_name(r->proto);
	if (r->from_cidr[0])
		snprintf(out, n, "%s%s%s from %s", what, ports[0] ? " " : "", ports, r->from_cidr);
	else
		snprintf(out, n, "%s%s%s from members of %s", what, ports[0] ? " " : "", ports, r->from_firewall);
}

json_t *fw_rule_to_json(const struct fw_rule *r)
{
	char ports[16];
	ports_text(r, ports);
	json_t *o = json_pack("{s:s, s:s}", "id", r->id, "proto", proto_name(r->proto));
	json_object_set_new(o, "port", ports[0] ? json_string(ports) : json_null());
	json_object_set_new(o, "from", r->from_cidr[0] ? json_string(r->from_cidr) : json_null());
	json_object_set_new(o, "from_firewall", r->from_cidr[0] ? json_null() : json_string(r->from_firewall));
	return o;
}

json_t *firewall_to_json(const struct firewall *fw, const struct fw_rule *rules, int n_rules, int members)
{
	char created[32];
	time_format_rfc3339(fw->created_at, created);
	json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "id", fw->id, "name", fw->name, "description",
			      fw->description, "created_at", created);
	if (rules) {
		json_t *arr = json_array();
		for (int i = 0; i < n_rules; i++)
			json_array_append_new(arr, fw_rule_to_json(&rules[i]));
		json_object_set_new(o, "rules", arr);
	} else {
		json_object_set_new(o, "rule_count", json_integer(n_rules));
	}
	if (members >= 0)
		json_object_set_new(o, "members", json_integer(members));
	return o;
}
