/*
 * networks: VM networks, from the API's requests to the host. Each network
 * is a bridge with the gateway address, a dnsmasq serving DHCP with one
 * reservation per NIC, the metadata service's listener on the gateway, and
 * its share of the nftables ruleset this nubod owns. The host side is made
 * the first time a VM needs it, and taken down by the reconciler when the
 * network is deleted.
 *
 * Names and the default subnet come from the per-daemon prefix, so a second
 * nubod with another state directory never collides with the first.
 */
#include "ctl/ctl-priv.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/bridge.h"
#include "host/dnsmasq.h"
#include "host/nft.h"
#include "model/cidr.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/str.h"
#include "util/timeutil.h"

/* 10.64.0.0 – 10.127.255.0: a /24 per try, starting where the prefix points,
 * skipping subnets the host or another network uses. */
static int pick_subnet(struct ctl *c, char out[20], struct err *e)
{
	unsigned start = (unsigned)strtoul(c->prefix, NULL, 16) & 0x3fff;
	for (unsigned k = 0; k < 0x4000; k++) {
		unsigned slot = (start + k) & 0x3fff;
		snprintf(out, 20, "10.%u.%u.0/24", 64 + (slot >> 8), slot & 255);
		bool in_use = false;
		struct cidr want;
		cidr4_parse(out, "cidr", &want, NULL);
		if (c->host->subnet_in_use(out, &in_use, e) < 0 || (!in_use && networks_overlap(c, &want, &in_use, NULL, e) < 0))
			return -1;
		if (!in_use)
			return 0;
	}
	return err_set(e, ERR_INTERNAL, "no free /24 subnet in 10.64.0.0/10 for the default network");
}

static void bridge_name(struct ctl *c, const char *net_id, char out[16])
{
	snprintf(out, 16, "nb%s%.4s", c->prefix, strchr(net_id, '-') + 1);
}

int ctl_network_get(struct ctl *c, const char *ref, struct network *out, struct err *e)
{
	if (store_network_get(c->st, ref, out, e) < 0)
		return -1;
	bridge_name(c, out->id, out->bridge);
	return 0;
}

int ctl_network_list(struct ctl *c, struct network **out, int *n, struct err *e)
{
	if (store_network_list(c->st, out, n, e) < 0)
		return -1;
	for (int i = 0; i < *n; i++)
		bridge_name(c, (*out)[i].id, (*out)[i].bridge);
	return 0;
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
	bridge_name(c, net.id, net.bridge);
	net.nat = true;
	net.created_at = time_now_ms();
	if (pick_subnet(c, net.cidr, e) < 0)
		return -1;
	log_info("network default: %s on bridge %s (NAT)", net.cidr, net.bridge);
	return store_network_insert(c->st, &net, e);
}

int networks_overlap(struct ctl *c, const struct cidr *want, bool *overlaps, char other[NAME_MAX_LEN + 1],
		     struct err *e)
{
	struct network *nets = NULL;
	int n = 0;
	*overlaps = false;
	if (ctl_network_list(c, &nets, &n, e) < 0)
		return -1;
	for (int i = 0; i < n && !*overlaps; i++) {
		struct cidr have;
		if (cidr4_parse(nets[i].cidr, "cidr", &have, NULL) == 0 && cidr4_overlaps(want, &have)) {
			*overlaps = true;
			if (other)
				snprintf(other, NAME_MAX_LEN + 1, "%s", nets[i].name);
		}
	}
	free(nets);
	return 0;
}

/* --- what the API asks for ------------------------------------------------ */

struct subnet_question {
	const char *cidr;
	bool in_use;
	char what[160];
};

/* On the reconciler thread (ctl_ask): the host's routes and addresses. */
static int ask_subnet(struct ctl *c, void *arg, struct err *e)
{
	struct subnet_question *q = arg;
	return c->host->subnet_conflict(q->cidr, NULL, &q->in_use, q->what, sizeof(q->what), e);
}

int ctl_network_create(struct ctl *c, const char *name, const char *cidr_text, bool nat, struct network *net,
		       struct err *e)
{
	struct cidr cidr;
	if (vm_name_validate(name, "name", e) < 0)
		return -1;
	if (!cidr_text)
		return err_set(e, ERR_INVALID, "field \"cidr\" is required, e.g. 10.20.0.0/24");
	if (network_cidr_parse(cidr_text, "cidr", &cidr, e) < 0)
		return -1;
	memset(net, 0, sizeof(*net));
	id_new("net", net->id);
	snprintf(net->name, sizeof(net->name), "%s", name);
	cidr4_format(&cidr, net->cidr);
	bridge_name(c, net->id, net->bridge);
	net->nat = nat;
	net->created_at = time_now_ms();

	struct subnet_question q = {.cidr = net->cidr};
	if (ctl_ask(c, ask_subnet, &q, e) < 0)
		return -1;
	if (q.in_use)
		return err_set(e, ERR_CONFLICT, "cidr \"%s\" overlaps a subnet the host already uses (%s)", cidr_text,
			       q.what);
	bool in_use = false;
	char other[NAME_MAX_LEN + 1];
	bool ok = store_tx_begin(c->st, e) == 0;
	if (!ok)
		return -1;
	ok = networks_overlap(c, &cidr, &in_use, other, e) == 0;
	if (ok && in_use)
		ok = err_set(e, ERR_CONFLICT, "cidr \"%s\" overlaps network %s", cidr_text, other) == 0;
	if (ok)
		ok = store_network_insert(c->st, net, e) == 0;
	if (store_tx_end(c->st, ok, ok ? e : NULL) < 0 || !ok)
		return -1;
	log_info("network %s: created, %s on bridge %s%s", net->name, net->cidr, net->bridge, nat ? " (NAT)" : "");
	ctl_rules_changed(c);
	return 0;
}

int ctl_network_delete(struct ctl *c, const char *ref, struct network *net, struct err *e)
{
	if (store_tx_begin(c->st, e) < 0)
		return -1;
	int nics = 0;
	bool ok = store_network_get(c->st, ref, net, e) == 0;
	if (ok && strcmp(net->name, "default") == 0)
		ok = err_set(e, ERR_CONFLICT, "the default network cannot be deleted: VMs created without --network use it") == 0;
	if (ok)
		ok = store_network_nic_count(c->st, net->id, &nics, e) == 0;
	if (ok && nics > 0)
		ok = err_set(e, ERR_CONFLICT, "network %s is in use by %d NIC%s; delete those VMs first", net->name, nics,
			     nics == 1 ? "" : "s") == 0;
	int lbs = 0, lbs_going = 0;
	if (ok)
		ok = store_lb_count_on_network(c->st, net->id, &lbs, &lbs_going, e) == 0;
	if (ok && lbs > 0 && lbs == lbs_going)   /* their connections are being cut: seconds */
		ok = err_set(e, ERR_CONFLICT,
			     "network %s holds the address of %d load balancer%s being deleted; try again once %s gone "
			     "(nubo lb list)",
			     net->name, lbs, lbs == 1 ? "" : "s", lbs == 1 ? "it is" : "they are") == 0;
	else if (ok && lbs > 0)
		ok = err_set(e, ERR_CONFLICT, "network %s holds the address of %d load balancer%s; delete %s first (nubo lb list)",
			     net->name, lbs, lbs == 1 ? "" : "s", lbs == 1 ? "it" : "them") == 0;
	if (ok && !net->deleted)
		ok = store_network_mark_deleted(c->st, net->id, e) == 0;
	if (store_tx_end(c->st, ok, ok ? e : NULL) < 0 || !ok)
		return -1;
	net->deleted = true;
	log_info("network %s: delete accepted", net->name);
	ctl_kick(c);
	return 0;
}

/* --- the host side -------------------------------------------------------- */

static int ready_index(struct ctl *c, const char *net_id)
{
	for (int i = 0; i < c->n_ready_nets; i++)
		if (strcmp(c->ready_nets[i], net_id) == 0)
			return i;
	return -1;
}

bool ctl_network_is_ready(struct ctl *c, const char *net_id)
{
	return ready_index(c, net_id) >= 0;
}

static void dnsmasq_config_of(const struct network *net, const struct cidr *cidr, char *dir, char gw[16],
			      char mask[16], char first[16], char last[16], struct dnsmasq_config *out)
{
	network_gateway(cidr, gw);
	cidr4_netmask(cidr, mask);
	cidr4_host(cidr, 2, first);
	cidr4_host(cidr, cidr4_host_count(cidr), last);
	*out = (struct dnsmasq_config){.dir = dir, .bridge = net->bridge, .gateway_ip = gw, .netmask = mask,
				       .range_start = first, .range_end = last};
}

int network_ensure_host(struct ctl *c, const char *ref, struct err *e)
{
	struct network net;
	if (ctl_network_get(c, ref, &net, e) < 0)
		return -1;
	/* Its take-down may already have run here: bringing it up again would
	 * leave it up once its row is gone. */
	if (net.deleted)
		return err_set(e, ERR_CONFLICT, "network %s is being deleted", net.name);
	autofree char *dir = ctl_network_dir(c, net.id);
	if (ready_index(c, net.id) >= 0 && c->host->link_exists(net.bridge) && c->host->dnsmasq_running(dir))
		return 0;
	struct cidr cidr;
	if (cidr4_parse(net.cidr, "cidr", &cidr, e) < 0)
		return -1;
	char gw[16], mask[16], first[16], last[16];
	autofree char *gw_cidr = NULL;
	struct dnsmasq_config dc;
	dnsmasq_config_of(&net, &cidr, dir, gw, mask, first, last, &dc);
	if (overlay_on(c))
		dc.mtu = OVERLAY_MTU;
	gw_cidr = xasprintf("%s/%d", gw, cidr.prefix);
	if (fs_mkdir_p(dir, 0755, e) < 0 || network_rules_apply(c, e) < 0 ||
	    c->host->bridge_ensure(net.bridge, gw_cidr, e) < 0 || c->host->ip_forward(e) < 0 ||
	    metadata_ensure(c, &net, gw, e) < 0 || c->host->dnsmasq_ensure(&dc, e) < 0 ||
	    network_sync_reservations(c, net.id, e) < 0) {
		err_prefix(e, "network %s", net.name);
		return -1;
	}
	if (ready_index(c, net.id) < 0) {
		c->ready_nets = xrealloc(c->ready_nets, sizeof(char *) * (size_t)(c->n_ready_nets + 1));
		c->ready_nets[c->n_ready_nets++] = xstrdup(net.id);
	}
	if (overlay_ensure_network(c, net.id, e) < 0)
		return -1;
	log_info("network %s: bridge %s up with %s, DHCP on", net.name, net.bridge, gw_cidr);
	return 0;
}

int network_sync_reservations(struct ctl *c, const char *ref, struct err *e)
{
	struct network net;
	if (ctl_network_get(c, ref, &net, e) < 0)
		return -1;
	struct vm_reservation *rs = NULL;
	int n = 0;
	/* This host's dnsmasq answers its own VMs only. */
	if (store_vm_reservations(c->st, net.id, c->host_name, &rs, &n, e) < 0)
		return -1;
	struct dhcp_host *hosts = xcalloc((size_t)n + 1, sizeof(*hosts));
	for (int i = 0; i < n; i++)
		hosts[i] = (struct dhcp_host){.mac = rs[i].mac, .ip = rs[i].ip, .hostname = rs[i].vm_name,
					      .secondary = rs[i].secondary};
	autofree char *dir = ctl_network_dir(c, net.id);
	int rc = fs_mkdir_p(dir, 0755, e);
	if (rc == 0)
		rc = c->host->dnsmasq_hosts(dir, hosts, n, e);
	free(hosts);
	free(rs);
	return rc;
}

/* The lease ends first, while dnsmasq still holds the VM's reservation:
 * dnsmasq 2.90 keeps pointers from a lease into the reservation it was
 * given from, and a DHCPRELEASE for a lease whose reservation a reload has
 * dropped makes it crash (and a network without dnsmasq gives no new VM an
 * address). */
int network_release_vm(struct ctl *c, const struct vm *vm, struct err *e)
{
	for (int i = 0; i < vm->n_nics; i++) {
		const struct vm_nic *nic = &vm->nics[i];
		struct network net;
		if (ctl_network_get(c, nic->network_id, &net, e) < 0)
			return -1;
		if (c->host->link_exists(net.bridge) &&   /* no bridge, no dnsmasq, no lease */
		    c->host->dnsmasq_release(net.bridge, nic->ip, nic->mac, e) < 0)
			return -1;
		if (network_sync_reservations(c, net.id, e) < 0)
			return -1;
	}
	return 0;
}

static int teardown(struct ctl *c, const struct network *net, struct err *e)
{
	autofree char *dir = ctl_network_dir(c, net->id);
	metadata_stop_network(c, net->id);
	if (c->host->dnsmasq_stop(dir, e) < 0 || overlay_remove_network(c, net->id, e) < 0 ||
	    c->host->bridge_remove(net->bridge, e) < 0 || fs_rm_rf(dir, e) < 0)
		return -1;
	int k = ready_index(c, net->id);
	if (k >= 0) {
		free(c->ready_nets[k]);
		c->ready_nets[k] = c->ready_nets[--c->n_ready_nets];
	}
	return 0;
}

/* Takes down this host's side of the network net_id, whose row is gone. */
static void take_down_gone(struct ctl *c, const char *net_id)
{
	struct network gone = {0};
	struct err e = {0};
	snprintf(gone.id, sizeof(gone.id), "%s", net_id);
	snprintf(gone.name, sizeof(gone.name), "%s", net_id);
	bridge_name(c, gone.id, gone.bridge);
	if (teardown(c, &gone, &e) < 0)
		log_error("network %s: cannot take down this host's side of it: %s", gone.id, e.msg);
	else
		log_info("network %s: deleted by another host; taken down here", gone.id);
}

/*
 * In a cluster the first host to get to a deleted network removes its row;
 * the others take down what they have of it once the row is gone. What a
 * host has is read from its state directory, not from memory: the folder
 * networks/ID is made before anything of the network is brought up here
 * (bridge, vxlan device, dnsmasq, listener) and removed last when it is
 * taken down. Going by the list of networks brought up since this nubod
 * started (ready_nets) alone left a network up for good when it was
 * deleted while this host's nubod was stopped, or when anything made its
 * folder or devices after that list had let it go.
 */
static void sweep_gone(struct ctl *c, const struct network *nets, int n)
{
	for (int k = c->n_ready_nets - 1; k >= 0; k--) {
		bool there = false;
		for (int i = 0; i < n && !there; i++)
			there = strcmp(nets[i].id, c->ready_nets[k]) == 0;
		if (!there)
			take_down_gone(c, c->ready_nets[k]);
	}
	autofree char *root = xasprintf("%s/networks", c->state_dir);
	DIR *d = opendir(root);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (!str_starts_with(de->d_name, "net-") || strlen(de->d_name) >= ID_MAX || !strchr(de->d_name, '-'))
			continue;
		bool there = false;
		for (int i = 0; i < n && !there; i++)
			there = strcmp(nets[i].id, de->d_name) == 0;
		if (!there)
			take_down_gone(c, de->d_name);
	}
	if (d)
		closedir(d);
}

/* How often the networks brought up here are looked at: a dnsmasq that
 * died (killed, or crashed) leaves the network's VMs without DHCP renewals
 * and new VMs without an address, and is started again within this. */
#define NETWORKS_CHECK_MS 5000

static void check_ready(struct ctl *c, const struct network *nets, int n)
{
	int64_t now = time_mono_ms();
	if (now < c->nets_checked_at + NETWORKS_CHECK_MS)
		return;
	c->nets_checked_at = now;
	for (int i = 0; i < n; i++) {
		if (nets[i].deleted || ready_index(c, nets[i].id) < 0)
			continue;
		autofree char *dir = ctl_network_dir(c, nets[i].id);
		if (c->host->dnsmasq_running(dir))
			continue;
		log_warn("network %s: its dnsmasq (DHCP and DNS on %s) is not running; starting it again", nets[i].name,
			 nets[i].bridge);
		struct err e = {0};
		if (network_ensure_host(c, nets[i].id, &e) < 0)
			log_error("%s", e.msg);
	}
}

bool networks_reconcile(struct ctl *c)
{
	struct network *nets = NULL;
	int n = 0;
	struct err e = {0};
	if (ctl_network_list(c, &nets, &n, &e) < 0) {
		log_error("networks: %s", e.msg);
		return false;
	}
	for (int i = 0; i < n; i++) {
		if (!nets[i].deleted)
			continue;
		if (teardown(c, &nets[i], &e) < 0 || store_network_delete(c->st, nets[i].id, &e) < 0) {
			log_error("network %s: cannot delete: %s", nets[i].name, e.msg);
			continue;
		}
		log_info("network %s: deleted", nets[i].name);
		ctl_rules_changed(c);
	}
	sweep_gone(c, nets, n);
	check_ready(c, nets, n);
	free(nets);
	return false;
}

int networks_destroy_host(struct ctl *c, struct err *e)
{
	struct network *nets = NULL;
	int n = 0;
	if (ctl_network_list(c, &nets, &n, e) < 0)
		return -1;
	int rc = 0;
	metadata_stop_all(c);
	for (int i = 0; i < n && rc == 0; i++)
		rc = teardown(c, &nets[i], e);
	free(nets);
	char table[32];
	ctl_nft_table(c, table);
	if (rc == 0)
		rc = c->host->nft_table_delete(table, e);
	return rc;
}
