/* network: a bridge with a subnet, DHCP and optional NAT. Issue-2 scope: the `default` network. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "model/machine_type.h"
#include "util/ids.h"

struct network {
	char id[ID_MAX];
	char name[NAME_MAX_LEN + 1];
	char cidr[20];
	char bridge[16];   /* host interface name, ≤ 15 characters */
	bool nat;
	int64_t created_at;
};
