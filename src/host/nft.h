/*
 * nft: the nftables ruleset a nubod owns.
 *
 * The one idea: nubo never edits rules one by one. It renders every rule
 * from the desired state and hands the text to `nft -f -`, which applies the
 * file as one transaction: each table is created if missing, deleted, and
 * created again with every rule. Either the new ruleset is in place or the
 * old one still is; there is no moment without rules and no leftover rule.
 *
 * Two tables of the same name hold it, both replaced in that one transaction:
 *
 *   inet <table>    everything that needs connection tracking: NAT to the
 *                   uplink, port forwards, isolation between networks,
 *                   what VMs may reach on the host, and one inbound filter
 *                   chain per VM (its firewalls' rules), stateful: replies
 *                   and outbound traffic pass, inbound is dropped unless a
 *                   rule allows it;
 *   bridge <table>  anti-spoofing per tap: a VM sends only from its own
 *                   MAC and IP (stateless, so it needs no bridge conntrack).
 *
 * Packets find their VM's chain through verdict maps (by tap, by address)
 * and rules "from the members of F" use one named set per firewall, so the
 * cost of a packet and the size of the ruleset grow with the VMs, not with
 * their square.
 *
 * Load balancers are DNAT too, in the same nat chains as port forwards, but
 * unlike a forward their traffic still meets the target's firewalls: the
 * VM chains skip a DNATed connection only when its original destination is
 * not a VIP (the set lb_vips) nor a balancer's host port (lb_host_ports; a
 * host port is a forward's or a balancer's, never both). A target that
 * reaches its own balancer and is picked gets its packet back with its own
 * address as source, which it would not answer through the host: such a
 * packet (source and destination one backend's address, after DNAT) is
 * masqueraded to the network's gateway.
 *
 * VM-to-VM traffic on one network is routed through the host: the host
 * answers ARP for the subnet, and the bridge table's forward chain drops
 * every frame from one of nubo's taps to another, so it passes the inet
 * hooks like any other traffic: the VM chains apply to it and no
 * br_netfilter is needed.
 *
 * That chain, not the bridge's port isolation, keeps the taps apart for one
 * reason: hairpin DNAT where br_netfilter is on (Docker turns on
 * net.bridge.bridge-nf-call-iptables for the whole host). Then the IP hooks
 * run while a frame is still in the bridge, and a VM's packet to a VIP (or
 * to a port forward) whose target is on the same bridge is bridged straight
 * from the client's tap to the target's after the DNAT, instead of being
 * routed; isolated ports would drop it. So the inet table marks a DNATed
 * packet in its original direction (NFT_HAIRPIN_MARK) and the bridge's
 * forward chain lets a marked frame through; the inet forward chain still
 * applies the target's firewalls to it (br_netfilter runs it), and the
 * reply is routed through the host as always, where conntrack gives it the
 * VIP back. Without br_netfilter no DNATed frame is bridged between taps:
 * the chain drops every frame from tap to tap.
 *
 * Every rule matches only nubo's interfaces or addresses, so traffic that
 * is not nubo's passes through untouched.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "model/port.h"
#include "util/err.h"

struct nft_network {
	const char *bridge;    /* "nb1a2b3c4d" */
	const char *cidr;      /* "10.77.3.0/24" */
	const char *gateway;   /* "10.77.3.1": the host's address on it */
	bool nat;              /* reaches the uplink, masqueraded */
	/* The metadata service (host/metadata.h): 0, or the port its listener
	 * has on the gateway; 169.254.169.254:80 from the bridge goes there. */
	int metadata_port;
	/* In a cluster, the network's VMs on other hosts: traffic to them is
	 * routed over the network's segment (host/overlay.h) and filtered by
	 * their own host, so here it passes. */
	const char *const *remote_ips;
	int n_remote_ips;
};

/* A named set of addresses: the members of a firewall, for the rules that
 * allow traffic from them. Rendered once however many rules use it. */
struct nft_set {
	const char *name;                     /* "fw_1a2b3c4d5e6f" */
	const char *const *ips;
	int n_ips;                            /* may be 0: then it matches nothing */
};

/* One allow rule of a VM's inbound filter. */
struct nft_rule {
	enum proto proto;
	uint16_t port_lo, port_hi;            /* tcp/udp; 0: every port */
	const char *from_cidr;                /* "0.0.0.0/0" matches anything; or NULL and: */
	int from_set;                         /* index into the sets */
};

struct nft_nic {
	int net;                /* index into the networks */
	const char *tap, *mac, *ip;
};

struct nft_vm {
	const char *id;         /* "vm-1a2b3c4d5e6f": its chain is "vm_1a2b3c4d5e6f" */
	const struct nft_nic *nics;
	int n_nics;
	const struct nft_rule *rules;
	int n_rules;
};

/* Host port → a VM's address and port. */
struct nft_forward {
	enum proto proto;       /* PROTO_TCP or PROTO_UDP */
	uint16_t host_port, guest_port;
	const char *ip;
	int net;                /* the network of ip */
};

/*
 * The socket mark of nubod's own SSH probe (host/probe.h). Its connections
 * are management traffic: the output chain lets a packet through to a VM's
 * tcp/22 when it carries this mark and leaves from the host's own address on
 * the VM's network, whatever the VM's firewalls say, so that waiting for SSH
 * means "the guest is up" and not "the guest is up and its firewalls allow
 * the host". Only a process with CAP_NET_ADMIN can set a mark (it could
 * rewrite the ruleset as well), so no local user gains a way in; the mark
 * opens no other port and no path from anywhere else. ("nubo" in ASCII: an
 * unlikely value for the policy-routing marks other software uses.)
 */
#define NFT_PROBE_MARK 0x6e75626fu

/*
 * The packet mark bit of a DNATed packet from one of nubo's bridges, in its
 * original direction: the bridge's forward chain lets such a frame from one
 * tap to another (see the top of this file). One bit, set with an OR and
 * tested with a mask, so the other bits of the mark stay what other
 * software made them; bit 24 is not one that Docker, Podman's netavark or
 * kube-proxy use.
 */
#define NFT_HAIRPIN_MARK 0x01000000u

/* One listener of a load balancer: new TCP connections to vip:port are
 * spread over the backends (the targets in rotation). No backends: no rule,
 * and the VIP answers nothing. */
struct nft_lb_backend {
	const char *ip;
	uint16_t port;
	/* on another host of a cluster: it takes only connections from the
	 * balancer's network. One from the host itself or to a host port would
	 * be answered from the target's host, where its client is not. */
	bool remote;
};

struct nft_lb {
	const char *vip;
	uint16_t port;
	bool source_hash;       /* jhash of the client's address; else numgen round robin */
	const struct nft_lb_backend *backends;
	int n_backends;
	/* the port is one of the host's too: new TCP connections to any of the
	 * host's own addresses on it are spread the same way (like a port
	 * forward, but still subject to the targets' firewalls) */
	bool host_port;
};

struct nft_ruleset {
	const char *table;          /* "nubo_1a2b" */
	const char *bridge_glob;    /* "nb1a2b*": matches every bridge of this nubod and nothing else */
	const char *tap_glob;       /* "nt1a2b*": every tap of this nubod, the ones made since too */
	const struct nft_network *nets;
	int n_nets;
	const struct nft_set *sets;
	int n_sets;
	const struct nft_vm *vms;
	int n_vms;
	const struct nft_forward *forwards;
	int n_forwards;
	/* 0, or the mark (NFT_PROBE_MARK) of the SSH probe's connections to
	 * let through to every VM's tcp/22 from the network's gateway. */
	uint32_t probe_mark;
	const struct nft_lb *lbs;
	int n_lbs;
	/* "nx1a2b*": every vxlan device of this nubod (host/overlay.h), no
	 * frame from a tap reaches one (save a DNATed one br_netfilter
	 * bridges, marked as for hairpin); NULL: one host, none */
	const char *vxlan_glob;
};

/* The ruleset text. Pure; caller frees. NULL if a name or address holds
 * characters that have no place in it (it could otherwise inject rules). */
char *nft_ruleset_render(const struct nft_ruleset *rs);

/* Applies a rendered ruleset with `nft -f -` (dry-run: captured with it). */
int nft_apply(const char *ruleset, struct err *e);

/* Deletes both tables; missing tables are success (same create-then-delete
 * trick, in one transaction). */
int nft_table_delete(const char *table, struct err *e);
