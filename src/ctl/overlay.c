/*
 * overlay: networks across hosts (host/overlay.h says how the segment
 * works). A host of a cluster (a PostgreSQL store and an IPv4 --advertise
 * address) gives each network it brings up a vxlan device and, from the
 * store, the other hosts' bridges and where every VM of the network on
 * another host is. A nubod on SQLite, or without an address, is one host:
 * no vxlan device, nothing of this runs.
 *
 * The entries follow the store: rules.c calls overlay_sync after every
 * change the ruleset depends on (a VM made, moved or deleted on any host,
 * heard through the event log), and overlay_sync re-applies only when what
 * it would write differs from what it last wrote.
 */
#include "ctl/ctl-priv.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/overlay.h"
#include "util/log.h"
#include "util/str.h"

bool overlay_on(struct ctl *c)
{
	struct in_addr a;
	return strcmp(store_engine(c->st), "postgresql") == 0 && inet_pton(AF_INET, c->advertise, &a) == 1;
}

void overlay_vxlan_name(struct ctl *c, const char *net_id, char out[16])
{
	const char *dash = strchr(net_id, '-');
	snprintf(out, 16, "nx%s%.4s", c->prefix, dash ? dash + 1 : net_id);
}

static const struct host *host_named(const struct host *hs, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(hs[i].name, name) == 0)
			return &hs[i];
	return NULL;
}

static bool ipv4(const char *s)
{
	struct in_addr a;
	return inet_pton(AF_INET, s, &a) == 1;
}

/* What the segment of one network should hold, as the store says. */
struct segment {
	char vxlan[16], mac[18];
	struct overlay_peer *peers;
	struct overlay_route *routes;
	char (*macs)[18];   /* one per host, parallel to the host list */
	int n_peers, n_routes;
};

static void segment_free(struct segment *s)
{
	free(s->peers);
	free(s->routes);
	free(s->macs);
}

static void segment_of(struct ctl *c, const struct network *net, const struct host *hs, int n_hs,
		       const struct vm *vms, int n_vms, struct segment *s)
{
	memset(s, 0, sizeof(*s));
	overlay_vxlan_name(c, net->id, s->vxlan);
	overlay_bridge_mac(c->prefix, net->id, s->mac);
	s->peers = xcalloc((size_t)n_hs + 1, sizeof(*s->peers));
	s->macs = xcalloc((size_t)n_hs + 1, sizeof(*s->macs));
	s->routes = xcalloc((size_t)n_vms * VM_NICS_MAX + 1, sizeof(*s->routes));
	bool *peer = xcalloc((size_t)n_hs + 1, sizeof(bool));
	for (int i = 0; i < n_hs; i++)
		overlay_bridge_mac(hs[i].prefix, net->id, s->macs[i]);
	for (int v = 0; v < n_vms; v++) {
		const struct vm *vm = &vms[v];
		if (vm->power == POWER_DELETED || ctl_vm_is_mine(c, vm))
			continue;
		const struct host *h = host_named(hs, n_hs, vm->host);
		if (!h || !ipv4(h->address))
			continue;   /* a host without an address: nothing reaches it */
		int k = (int)(h - hs);
		for (int j = 0; j < vm->n_nics; j++)
			if (strcmp(vm->nics[j].network_id, net->id) == 0 && vm->nics[j].ip[0]) {
				s->routes[s->n_routes++] = (struct overlay_route){.ip = vm->nics[j].ip, .mac = s->macs[k]};
				peer[k] = true;
			}
	}
	for (int k = 0; k < n_hs; k++)
		if (peer[k])
			s->peers[s->n_peers++] = (struct overlay_peer){.mac = s->macs[k], .addr = hs[k].address};
	free(peer);
}

static void segment_text(const struct network *net, int vni, const struct segment *s, struct sbuf *b)
{
	sbuf_addf(b, "%s %s %d %s\n", net->id, net->bridge, vni, s->mac);
	for (int i = 0; i < s->n_peers; i++)
		sbuf_addf(b, " p %s %s\n", s->peers[i].mac, s->peers[i].addr);
	for (int i = 0; i < s->n_routes; i++)
		sbuf_addf(b, " r %s %s\n", s->routes[i].ip, s->routes[i].mac);
}

/* Brings the segments of the networks this host has up (or of only, if
 * given) to the store's word; all of them again when anything differs
 * from the last time, or when force. */
static int segments_apply(struct ctl *c, struct network *nets, int n_nets, const struct host *hs, int n_hs,
			  const struct vm *vms, int n_vms, const char *only, bool force, struct err *e)
{
	int rc = 0;
	struct sbuf text = {0};
	struct segment *segs = xcalloc((size_t)n_nets + 1, sizeof(*segs));
	int *vnis = xcalloc((size_t)n_nets + 1, sizeof(int));
	bool *up = xcalloc((size_t)n_nets + 1, sizeof(bool));
	for (int i = 0; i < n_nets && rc == 0; i++) {
		up[i] = !nets[i].deleted && ctl_network_is_ready(c, nets[i].id) &&
			(!only || strcmp(only, nets[i].id) == 0);
		if (!up[i])
			continue;
		vnis[i] = nets[i].vni;
		if (!vnis[i])
			rc = store_network_vni_ensure(c->st, nets[i].id, &vnis[i], e);
		segment_of(c, &nets[i], hs, n_hs, vms, n_vms, &segs[i]);
		segment_text(&nets[i], vnis[i], &segs[i], &text);
	}
	autofree char *now = sbuf_take(&text);
	bool same = !only && !force && c->overlay_applied && strcmp(c->overlay_applied, now) == 0;
	for (int i = 0; i < n_nets && rc == 0 && !same; i++) {
		if (!up[i])
			continue;
		struct overlay o = {.bridge = nets[i].bridge, .vxlan = segs[i].vxlan, .bridge_mac = segs[i].mac,
				    .vni = vnis[i], .local = c->advertise, .port = c->cfg.vxlan_port,
				    .peers = segs[i].peers, .n_peers = segs[i].n_peers,
				    .routes = segs[i].routes, .n_routes = segs[i].n_routes};
		rc = c->host->overlay_ensure(&o, e);
		if (rc == 0)
			log_debug("network %s: segment %s (VNI %d): %d other host%s, %d VM%s there", nets[i].name,
				  segs[i].vxlan, vnis[i], o.n_peers, o.n_peers == 1 ? "" : "s", o.n_routes,
				  o.n_routes == 1 ? "" : "s");
		else
			err_prefix(e, "network %s", nets[i].name);
	}
	/* One network alone (its first bring-up) says nothing of the rest:
	 * the next sync writes them all. */
	if (only || !same) {
		free(c->overlay_applied);
		c->overlay_applied = !only && rc == 0 ? xstrdup(now) : NULL;
	}
	for (int i = 0; i < n_nets; i++)
		if (up[i])
			segment_free(&segs[i]);
	free(segs);
	free(vnis);
	free(up);
	return rc;
}

static int sync_all(struct ctl *c, const char *only, bool force, struct err *e)
{
	struct network *nets = NULL;
	struct host *hs = NULL;
	struct vm *vms = NULL;
	int n_nets = 0, n_hs = 0, n_vms = 0, rc = -1;
	if (ctl_network_list(c, &nets, &n_nets, e) == 0 && store_host_list(c->st, &hs, &n_hs, e) == 0 &&
	    store_vm_list_brief(c->st, &vms, &n_vms, e) == 0)
		rc = segments_apply(c, nets, n_nets, hs, n_hs, vms, n_vms, only, force, e);
	vm_list_free(vms, n_vms);
	free(hs);
	free(nets);
	return rc;
}

int overlay_ensure_network(struct ctl *c, const char *net_id, struct err *e)
{
	if (!overlay_on(c))
		return 0;
	return sync_all(c, net_id, true, e);
}

void overlay_sync(struct ctl *c)
{
	if (!overlay_on(c))
		return;
	struct err e = {0};
	if (sync_all(c, NULL, false, &e) < 0)
		log_error("networks across hosts: the previous forwarding entries stay (tried again at the next change): %s",
			  e.msg);
}

int overlay_remove_network(struct ctl *c, const char *net_id, struct err *e)
{
	char vx[16];
	overlay_vxlan_name(c, net_id, vx);
	if (!overlay_on(c) && !c->host->link_exists(vx))
		return 0;
	return c->host->overlay_remove(vx, e);
}
