/*
 * network: a private IPv4 network for VMs. On the host it is a bridge with
 * the gateway address (.1), dnsmasq for DHCP and DNS, and optionally NAT to
 * the host's uplink.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "model/cidr.h"
#include "model/machine_type.h"
#include "model/port.h"
#include "util/err.h"
#include "util/ids.h"

#define NETWORK_PREFIX_MIN 16   /* at most a /16 */
#define NETWORK_PREFIX_MAX 28   /* at least 13 VM addresses */

struct network {
	char id[ID_MAX];
	char name[NAME_MAX_LEN + 1];
	char cidr[20];
	char bridge[16];   /* host interface name, ≤ 15 characters */
	bool nat;
	bool deleted;      /* spec: being torn down; the row goes when the host side is gone */
	int64_t created_at;
	int vni;           /* its VXLAN segment's id across hosts (host/overlay.h); 0: none given yet */
};

/* A CIDR a user may give a network: a private range (10/8, 172.16/12,
 * 192.168/16, 100.64/10) with a prefix length of 16 to 28. */
int network_cidr_parse(const char *s, const char *field, struct cidr *out, struct err *e);

/* The gateway (the host's address on the network): the first host, ".1". */
void network_gateway(const struct cidr *c, char out[16]);

/* nics: how many VM interfaces use it (for show; -1 to leave out). */
json_t *network_to_json(const struct network *net, int nics);

/* A port forward ("expose"): the host's port, on every host address, to a
 * VM's port on its primary address. */
struct forward {
	char vm_id[ID_MAX];
	char vm_name[NAME_MAX_LEN + 1];
	enum proto proto;      /* PROTO_TCP or PROTO_UDP */
	uint16_t host_port, guest_port;
	int64_t created_at;
};

json_t *forward_to_json(const struct forward *f);
