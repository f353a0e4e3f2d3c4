/*
 * firewall: a security group. VMs are its members; its rules say what
 * inbound traffic reaches them. Firewalls are stateful and deny by default:
 * outbound traffic and replies always pass, inbound traffic passes only when
 * a rule of one of the VM's firewalls allows it.
 *
 * A rule allows a protocol (tcp, udp, icmp echo, or all), for tcp and udp a
 * port range, from a source: a CIDR, or the members of a firewall.
 */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "model/machine_type.h"
#include "model/port.h"
#include "util/err.h"
#include "util/ids.h"

#define FIREWALL_RULES_MAX 64
#define FIREWALL_DESCRIPTION_MAX 256

struct fw_rule {
	char id[ID_MAX];                 /* "fwr-…" */
	char firewall_id[ID_MAX];        /* the firewall it belongs to */
	enum proto proto;
	uint16_t port_lo, port_hi;       /* tcp/udp; 0, 0: every port */
	char from_cidr[20];              /* "0.0.0.0/0"; "" when from_firewall is set */
	char from_firewall_id[ID_MAX];   /* members of this firewall */
	char from_firewall[NAME_MAX_LEN + 1];
	int64_t created_at;
};

struct firewall {
	char id[ID_MAX];
	char name[NAME_MAX_LEN + 1];
	char description[FIREWALL_DESCRIPTION_MAX + 1];
	int64_t created_at;
};

/* Checks a rule as the user gave it and fills proto, ports and from_cidr
 * (normalised). port NULL: every port; from NULL: 0.0.0.0/0 unless
 * from_firewall is given (the caller resolves that one). */
int fw_rule_parse(const char *proto, const char *port, const char *from, const char *from_firewall,
		  struct fw_rule *out, struct err *e);

/* "tcp 80 from 0.0.0.0/0", "icmp from members of web": one line for people. */
void fw_rule_describe(const struct fw_rule *r, char *out, size_t n);

json_t *fw_rule_to_json(const struct fw_rule *r);
/* rules may be NULL (list view); members: VMs in it, or -1 to leave out. */
json_t *firewall_to_json(const struct firewall *fw, const struct fw_rule *rules, int n_rules, int members);
