/*
 * overlay: a network's VXLAN segment between hosts, on this host.
 *
 * In a cluster a network spans hosts: on each host its bridge carries a
 * `vxlan` device (the network's VNI, this host's underlay address, no
 * learning). Each host stays the router of its own VMs (bridge.c: VM-to-VM
 * traffic goes through the host and its nftables): across hosts the
 * routers reach each other over the segment, bridge MAC to bridge MAC. So
 * a packet from a VM on h1 to a VM on h2 is routed by h1 (its forward
 * chain) to h2's bridge, and by h2 (the target's firewall) to the VM.
 *
 * Nothing is learnt or flooded: nubo knows where every VM is, so each host
 * is given, from the store,
 *   peers:  every other host with VMs on the network: its bridge's MAC →
 *           its underlay address (the vxlan device's forwarding entry, and
 *           the bridge's entry pointing at the vxlan port);
 *   routes: every VM of the network on another host: its address → its
 *           host's bridge MAC (a permanent neighbour entry on the bridge).
 * Broadcasts (ARP, DHCP) stay on their host: each host answers ARP for its
 * VMs (proxy_arp_pvlan) and serves DHCP, DNS and metadata to them alone.
 *
 * A bridge's MAC is fixed from its host's prefix and the network's id
 * (overlay_bridge_mac), so every host can name the others' without asking.
 * Those MACs start with OVERLAY_MAC_LEAD: a permanent neighbour entry with
 * such an address is the overlay's, and overlay_ensure removes the ones it
 * was not given (a VM deleted or moved while this nubod was down).
 */
#pragma once

#include <stddef.h>

#include "util/err.h"

/* The VXLAN header and its outer UDP, IPv4 and Ethernet headers: the guest
 * MTU is the underlay's less this. */
#define OVERLAY_OVERHEAD 50
#define OVERLAY_MTU (1500 - OVERLAY_OVERHEAD)
#define OVERLAY_MAC_LEAD "0a:"

struct overlay_peer {
	const char *mac;    /* the peer's bridge MAC */
	const char *addr;   /* its underlay address */
};

struct overlay_route {
	const char *ip;     /* a remote VM's address */
	const char *mac;    /* its host's bridge MAC */
};

struct overlay {
	const char *bridge;       /* the network's bridge, up already (bridge_ensure) */
	const char *vxlan;        /* the vxlan device's name */
	const char *bridge_mac;   /* overlay_bridge_mac of this host */
	int vni;                  /* 1..16777215 */
	const char *local;        /* this host's underlay address */
	int port;                 /* the UDP port, 4789 by default */
	const struct overlay_peer *peers;
	int n_peers;
	const struct overlay_route *routes;
	int n_routes;
};

/* "0a:PP:PP:NN:NN:NN" from a host's 4-hex prefix and the first 6 hex
 * digits of the network id's suffix ("net-1a2b3c…"). */
void overlay_bridge_mac(const char *prefix, const char *net_id, char out[18]);

/* Brings the segment to o: the bridge's MAC, the vxlan device on it, and
 * exactly the given forwarding entries and overlay neighbour entries (what
 * is there and not given is removed). Idempotent. */
int overlay_ensure(const struct overlay *o, struct err *e);

/* Removes the vxlan device (with its entries); missing is success. */
int overlay_remove(const char *vxlan, struct err *e);
/* The same on a given view of the kernel (host/bridge.h: bridge_kernel),
 * for the recording host. */
struct bridge_kernel;
int overlay_ensure_on(const struct bridge_kernel *k, const struct overlay *o, struct err *e);
int overlay_remove_on(const struct bridge_kernel *k, const char *vxlan, struct err *e);

/* The commands overlay_ensure gives `bridge -batch -` and `ip -batch -`,
 * from what `bridge -j fdb show dev VX` and `ip -j neigh show dev BR` print
 * now. Pure (for tests); caller frees both. */
int overlay_plan(const struct overlay *o, const char *fdb_json, const char *neigh_json, char **fdb_batch,
		 char **neigh_batch, struct err *e);
