/*
 * networks: the host side of VM networks. Each network is a bridge with the
 * gateway address, a dnsmasq serving DHCP with one reservation per VM, the
 * metadata service's listener on the gateway, and its share of the nftables
 * table this nubod owns. They are made the first
 * time a VM needs them and removed when nubod's state is destroyed.
 *
 * Names and subnets come from the per-daemon prefix, so a second nubod with
 * another state directory never collides with the first.
 */
#include "ctl/ctl-priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/bridge.h"
#include "host/dnsmasq.h"
#include "host/nft.h"
#include "model/cidr.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/runner.h"
#include "util/str.h"
#include "util/timeutil.h"

/* 10.64.0.0 – 10.127.255.0: a /24 per try, starting where the prefix points. */
static int pick_subnet(struct ctl *c, char out[20], struct err *e)
{
	unsigned start = (unsigned)strtoul(c->prefix, NULL, 16) & 0x3fff;
	for (unsigned k = 0; k < 0x4000; k++) {
		unsigned slot = (start + k) & 0x3fff;
		snprintf(out, 20, "10.%u.%u.0/24", 64 + (slot >> 8), slot & 255);
		bool in_use = false;
		if (host_subnet_in_use(out, &in_use, e) < 0)
			return -1;
		if (!in_use)
			return 0;
	}
	return err_set(e, ERR_INTERNAL, "no free /24 subnet in 10.64.0.0/10 for the default network");
}

int networks_init(struct ctl *c, struct err *e)
{
	struct network net;
	struct err ge = {0};
	if (store_network_get(c->st, "default", &net, &ge) == 0)
		return 0;
	if (ge.kind != ERR_NOT_FOUND)
		return err_set(e, ge.kind, "%s", ge.msg);
	memset(&net, 0, sizeof(net));
	id_new("net", net.id);
	snprintf(net.name, sizeof(net.name), "default");
	snprintf(net.bridge, sizeof(net.bridge), "nb%s%.4s", c->prefix, net.id + 4);
	net.nat = true;
	net.created_at = time_now_ms();
	if (pick_subnet(c, net.cidr, e) < 0)
		return -1;
	log_info("network default: %s on bridge %s (NAT)", net.cidr, net.bridge);
	return store_network_insert(c->st, &net, e);
}

static bool is_ready(struct ctl *c, const char *name)
{
	for (int i = 0; i < c->n_ready_nets; i++)
		if (strcmp(c->ready_nets[i], name) == 0)
			return true;
	return false;
}

static int apply_firewall(struct ctl *c, struct err *e)
{
	struct network *nets = NULL;
	int n = 0;
	if (store_network_list(c->st, &nets, &n, e) < 0)
		return -1;
	struct nft_network *nn = xcalloc((size_t)n, sizeof(*nn));
	char (*gws)[16] = xcalloc((size_t)n + 1, sizeof(*gws));
	for (int i = 0; i < n; i++) {
		nn[i] = (struct nft_network){.bridge = nets[i].bridge, .cidr = nets[i].cidr, .nat = nets[i].nat};
		struct cidr cidr;
		if (cidr4_parse(nets[i].cidr, "cidr", &cidr, NULL) == 0) {   /* the metadata service on the gateway */
			cidr4_host(&cidr, 1, gws[i]);
			nn[i].gateway = gws[i];
			nn[i].metadata_port = c->cfg.metadata_port;
		}
	}
	char table[32];
	ctl_nft_table(c, table);
	autofree char *rules = nft_ruleset_render(table, nn, n);
	int rc = nft_apply(rules, e);
	free(gws);
	free(nn);
	free(nets);
	return rc;
}

static void dnsmasq_config_of(struct ctl *c, const struct network *net, const struct cidr *cidr, char *dir,
			      char gw[16], char mask[16], char first[16], char last[16],
			      struct dnsmasq_config *out)
{
	(void)c;
	cidr4_host(cidr, 1, gw);
	cidr4_netmask(cidr, mask);
	cidr4_host(cidr, 2, first);
	cidr4_host(cidr, cidr4_host_count(cidr), last);
	*out = (struct dnsmasq_config){.dir = dir, .bridge = net->bridge, .gateway_ip = gw, .netmask = mask,
				       .range_start = first, .range_end = last};
}

int network_ensure_host(struct ctl *c, const char *name, struct err *e)
{
	struct network net;
	if (store_network_get(c->st, name, &net, e) < 0)
		return -1;
	if (is_ready(c, name) && (runner_dry_run() || link_exists(net.bridge)))
		return 0;
	struct cidr cidr;
	if (cidr4_parse(net.cidr, "cidr", &cidr, e) < 0)
		return -1;
	char gw[16], mask[16], first[16], last[16];
	autofree char *dir = ctl_network_dir(c, net.id);
	autofree char *gw_cidr = NULL;
	struct dnsmasq_config dc;
	dnsmasq_config_of(c, &net, &cidr, dir, gw, mask, first, last, &dc);
	gw_cidr = xasprintf("%s/%d", gw, cidr.prefix);
	if (fs_mkdir_p(dir, 0755, e) < 0 || bridge_ensure(net.bridge, gw_cidr, e) < 0 ||
	    (net.nat && ip_forward_enable(e) < 0) || apply_firewall(c, e) < 0 || metadata_ensure(c, &net, gw, e) < 0 ||
	    dnsmasq_ensure(&dc, e) < 0 ||
	    network_sync_reservations(c, name, e) < 0) {
		err_prefix(e, "network %s", name);
		return -1;
	}
	if (!is_ready(c, name)) {
		c->ready_nets = xrealloc(c->ready_nets, sizeof(char *) * (size_t)(c->n_ready_nets + 1));
		c->ready_nets[c->n_ready_nets++] = xstrdup(name);
	}
	log_info("network %s: bridge %s up with %s, DHCP on", name, net.bridge, gw_cidr);
	return 0;
}

int network_sync_reservations(struct ctl *c, const char *name, struct err *e)
{
	struct network net;
	if (store_network_get(c->st, name, &net, e) < 0)
		return -1;
	struct vm *vms = NULL;
	int n = 0;
	if (store_vm_list(c->st, &vms, &n, e) < 0)
		return -1;
	struct dhcp_host *hosts = xcalloc((size_t)n, sizeof(*hosts));
	int k = 0;
	for (int i = 0; i < n; i++) {
		if (strcmp(vms[i].network, name) != 0 || !vms[i].ip[0] || vms[i].power == POWER_DELETED)
			continue;
		hosts[k++] = (struct dhcp_host){.mac = vms[i].mac, .ip = vms[i].ip, .hostname = vms[i].name};
	}
	autofree char *dir = ctl_network_dir(c, net.id);
	int rc = fs_mkdir_p(dir, 0755, e);
	if (rc == 0)
		rc = dnsmasq_hosts_write(dir, hosts, k, e);
	free(hosts);
	vm_list_free(vms, n);
	return rc;
}

int network_release_lease(struct ctl *c, const struct vm *vm, struct err *e)
{
	struct network net;
	if (!vm->ip[0] || store_network_get(c->st, vm->network, &net, e) < 0)
		return vm->ip[0] ? -1 : 0;
	if (!runner_dry_run() && !link_exists(net.bridge))
		return 0;   /* no bridge, no dnsmasq, no lease */
	return dnsmasq_release_lease(net.bridge, vm->ip, vm->mac, e);
}

int networks_destroy_host(struct ctl *c, struct err *e)
{
	struct network *nets = NULL;
	int n = 0;
	if (store_network_list(c->st, &nets, &n, e) < 0)
		return -1;
	int rc = 0;
	metadata_stop_all(c);
	for (int i = 0; i < n && rc == 0; i++) {
		autofree char *dir = ctl_network_dir(c, nets[i].id);
		rc = dnsmasq_stop(dir, e);
		if (rc == 0)
			rc = bridge_remove(nets[i].bridge, e);
	}
	free(nets);
	char table[32];
	ctl_nft_table(c, table);
	if (rc == 0)
		rc = nft_table_delete(table, e);
	return rc;
}
