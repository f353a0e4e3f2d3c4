/*
 * bridge: the host's links for VM networks: one Linux bridge per network
 * with the gateway address, and one persistent tap per VM NIC enslaved to it.
 *
 * Every change goes through `ip` via the runner, so dry-run captures it, and
 * every function is idempotent: "ensure" brings the link to the wanted state
 * whatever state it is in, "remove" of a missing link is success. Taps are
 * persistent (created before QEMU, which opens them by name), so a QEMU that
 * exits or is restarted does not take the VM's network identity with it.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "model/port.h"
#include "util/err.h"

/* Interface names: 1 to 15 characters of [A-Za-z0-9_.-]. */
bool link_name_valid(const char *name);

/* Creates the bridge if missing, gives it gw_cidr ("10.77.3.1/24") and sets it
 * up. Fails if name exists but is not a bridge. */
int bridge_ensure(const char *name, const char *gw_cidr, struct err *e);
/* Missing is success. */
int bridge_remove(const char *name, struct err *e);

/* Creates a persistent tap if missing (ip tuntap add mode tap), enslaves it
 * to bridge and sets it up. Fails if name exists but is not a tap. */
int tap_ensure(const char *name, const char *bridge, struct err *e);
int tap_remove(const char *name, struct err *e);      /* as bridge_remove */

/* The host's neighbour entry for a VM's address, fixed to its MAC on the
 * bridge (`ip neigh replace … nud permanent`): the host reaches the VM the
 * moment it is up, with no ARP round trip and no answer another VM could
 * forge. neigh_remove: a missing entry is success. */
int neigh_set(const char *bridge, const char *ip, const char *mac, struct err *e);
int neigh_remove(const char *bridge, const char *ip, struct err *e);

/* /sys/class/net/NAME exists. */
bool link_exists(const char *name);

/* /proc/sys/net/ipv4/ip_forward = 1, needed for NAT. */
int ip_forward_enable(struct err *e);

/* What the functions above ask of the kernel besides `ip`: whether
 * /sys/class/net/NAME (entry NULL) or NAME/ENTRY exists, 1 or 0, or -1 when
 * it is not looked at; a link's MAC; and a /proc/sys write. bridge_kernel_real looks and
 * writes (the functions above use it). The recording host (hostops.h)
 * passes one that never looks, so that every `ip` command is issued to the
 * runner's capture, and that notes its writes. */
struct bridge_kernel {
	int (*has)(const char *name, const char *entry);
	int (*sysctl_write)(const char *path, const char *value, struct err *e);
	void (*mac)(const char *name, char out[18]);   /* the link's MAC, lower case; "" if unknown */
};
/* /sys/class/net/NAME/address; "" if unreadable. */
void link_mac_read(const char *name, char out[18]);
extern const struct bridge_kernel bridge_kernel_real;
int bridge_ensure_on(const struct bridge_kernel *k, const char *name, const char *gw_cidr, struct err *e);
int bridge_remove_on(const struct bridge_kernel *k, const char *name, struct err *e);
int tap_ensure_on(const struct bridge_kernel *k, const char *name, const char *bridge, struct err *e);
int tap_remove_on(const struct bridge_kernel *k, const char *name, struct err *e);
int neigh_remove_on(const struct bridge_kernel *k, const char *bridge, const char *ip, struct err *e);
int ip_forward_enable_on(const struct bridge_kernel *k, struct err *e);

/* *in_use = whether cidr ("10.77.3.0/24") overlaps any IPv4 route (all
 * tables, the default route aside) or address on the host. Runs
 * `ip -j -4 route show table all` and `ip -j -4 addr show` even in dry-run
 * (they change nothing). */
int host_subnet_in_use(const char *cidr, bool *in_use, struct err *e);

/* The same, ignoring routes and addresses on except_dev (a network's own
 * bridge, when re-checking an existing network; NULL: none). what (may be
 * NULL) receives the conflicting object, e.g. "route 10.0.0.0/8 dev eth0". */
int host_subnet_conflict(const char *cidr, const char *except_dev, bool *in_use, char *what, size_t what_len,
			 struct err *e);

/* Whether a program on the host listens on (tcp) or has bound (udp) this
 * port, on any address, IPv4 or IPv6 (from /proc/net). */
int host_port_in_use(enum proto proto, uint16_t port, bool *in_use, struct err *e);
