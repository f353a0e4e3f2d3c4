/*
 * dnsmasq: one dnsmasq per network, serving DHCP and DNS on its bridge.
 *
 * The one idea: the configuration is fixed for the life of the process and
 * the per-VM part, the DHCP reservations, lives in a separate hosts file that
 * dnsmasq re-reads on SIGHUP. Adding or removing a VM rewrites that file and
 * signals; only a change of the network itself restarts dnsmasq. Only VMs
 * with a reservation get a lease, so every VM keeps the address nubo gave it.
 *
 * Files in dir (networks/<id>/): dnsmasq.conf, hosts, leases, dnsmasq.pid.
 * dnsmasq drops root after start and re-reads hosts as "nobody", so dir is
 * made 0755 and hosts 0644, and dnsmasq_ensure refuses (with a sentence
 * saying which) when a directory above dir is not searchable by others.
 */
#pragma once

#include <stdbool.h>

#include "util/err.h"

struct dhcp_host {
	const char *mac, *ip, *hostname;   /* hostname NULL or not a DNS label: left out */
	bool secondary;                    /* not the VM's first NIC: no default route through this network */
};

struct dnsmasq_config {
	const char *dir;
	const char *bridge, *gateway_ip, *netmask, *range_start, *range_end;
	int mtu;   /* handed to the VMs (DHCP option 26); 0: none */
};

/* The dnsmasq.conf text. Pure; caller frees. NULL if a field is missing or
 * malformed (a bridge that is no interface name, an address that is no IPv4
 * address, a newline in dir): it could otherwise inject options. */
char *dnsmasq_conf_render(const struct dnsmasq_config *c);

/* The hosts file text, one "MAC[,set:secondary],IP[,HOSTNAME]\n" per reservation. Pure;
 * caller frees. NULL if an entry's MAC or IP is not well formed (it could
 * otherwise corrupt the file); dnsmasq_hosts_write says which. */
char *dnsmasq_hosts_render(const struct dhcp_host *h, int n);

/* Writes the configuration (and an empty hosts file if there is none) and
 * starts `dnsmasq --conf-file=DIR/dnsmasq.conf` unless it already runs with
 * this configuration; a changed configuration restarts it. */
int dnsmasq_ensure(const struct dnsmasq_config *c, struct err *e);
/* The parts of dnsmasq_ensure the recording host (hostops.h) runs: the
 * files alone (*changed: the configuration is new or changed), and the
 * `dnsmasq` command alone, with no process looked at or waited for. */
int dnsmasq_files_write(const struct dnsmasq_config *c, bool *changed, struct err *e);
int dnsmasq_launch(const char *dir, struct err *e);

/* Rewrites the hosts file atomically and, if it changed and dnsmasq runs,
 * sends SIGHUP. */
int dnsmasq_hosts_write(const char *dir, const struct dhcp_host *h, int n, struct err *e);
/* Its file alone (*changed: it changed), for the recording host. */
int dnsmasq_hosts_file_write(const char *dir, const struct dhcp_host *h, int n, bool *changed, struct err *e);

/* Drops from dir's lease file every IPv4 lease that no reservation of its
 * hosts file stands for (a deleted VM's); for a dnsmasq that is not
 * running, which reads the file when it starts. */
int dnsmasq_leases_prune(const char *dir, struct err *e);

/* Ends the lease of ip held by mac (dhcp_release sends dnsmasq a DHCPRELEASE),
 * so the address can go to another VM at once: dnsmasq will not hand out an
 * address that is still leased to another MAC, reservation or not. */
int dnsmasq_release_lease(const char *bridge, const char *ip, const char *mac, struct err *e);

/* SIGTERM, wait (SIGKILL after 5 s). Not running is success. */
int dnsmasq_stop(const char *dir, struct err *e);
/* Whether our dnsmasq for dir runs (its pid file names a live process
 * started with dir's dnsmasq.conf). */
bool dnsmasq_running(const char *dir);
