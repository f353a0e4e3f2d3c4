/*
 * rules: the nftables ruleset of this nubod, built from the store: networks,
 * every VM's NICs and the rules of its firewalls ("from members of F" as a
 * named set of F's member addresses), port forwards, and load balancers
 * (a DNAT rule per listener over the targets in rotation). The whole ruleset
 * is rendered and applied as one transaction whenever something it depends
 * on changed; a failed apply leaves the previous ruleset in force and is
 * tried again at the next tick.
 */
#include "ctl/ctl-priv.h"

#include <stdlib.h>
#include <string.h>

#include "host/nft.h"
#include "model/cidr.h"
#include "util/log.h"
#include "util/str.h"

void ctl_rules_changed(struct ctl *c)
{
	pthread_mutex_lock(&c->mu);
	c->rules_gen++;
	pthread_mutex_unlock(&c->mu);
	ctl_kick(c);
}

void ctl_rules_changed_wait(struct ctl *c)
{
	pthread_mutex_lock(&c->mu);
	uint64_t want = ++c->rules_gen;
	c->kicked = true;
	pthread_cond_signal(&c->cv);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 3;
	while (c->rules_tried < want && c->running)
		if (pthread_cond_timedwait(&c->rules_cv, &c->mu, &ts) != 0)
			break;
	pthread_mutex_unlock(&c->mu);
}

/* Everything render needs, owned in one place. */
struct ruleset_data {
	struct network *nets;
	int n_nets;
	struct vm *vms;
	int n_vms;
	struct fw_rule *rules;
	int n_rules;
	struct forward *fwds;
	int n_fwds;
	char (*gateways)[16];
	struct nft_network *nn;
	const char **remote_ips;   /* per network, its VMs on other hosts (overlay.c), one slice each */
	/* one set per firewall that is the source of a rule */
	struct nft_set *sets;
	int n_sets;
	char (*set_names)[32];
	const char **set_fw;       /* the firewall id of each set */
	const char **set_ips;      /* every set's addresses, one slice per set */
	struct nft_vm *nv;
	int n_nv;
	struct nft_nic *nics;
	char (*taps)[16];
	struct nft_rule *nr;
	struct nft_forward *nf;
	int n_nf;
	struct lb *lbs;
	int n_lbs;
	struct lb_listener *lls;
	int n_lls;
	struct lb_target *lts;
	int n_lts;
	struct nft_lb *nl;
	int n_nl;
	struct nft_lb_backend *nb;
};

static void data_free(struct ruleset_data *d)
{
	free(d->nets);
	vm_list_free(d->vms, d->n_vms);
	free(d->rules);
	free(d->fwds);
	free(d->gateways);
	free(d->nn);
	free(d->remote_ips);
	free(d->sets);
	free(d->set_names);
	free(d->set_fw);
	free(d->set_ips);
	free(d->nv);
	free(d->nics);
	free(d->taps);
	free(d->nr);
	free(d->nf);
	free(d->lbs);
	free(d->lls);
	free(d->lts);
	free(d->nl);
	free(d->nb);
}

static int net_index(const struct ruleset_data *d, const char *net_id)
{
	for (int i = 0; i < d->n_nets; i++)
		if (strcmp(d->nets[i].id, net_id) == 0)
			return i;
	return -1;
}

static bool vm_in(const struct vm *vm, const char *fw_id)
{
	for (int i = 0; i < vm->n_firewalls; i++)
		if (strcmp(vm->firewalls[i].id, fw_id) == 0)
			return true;
	return false;
}

static bool live(const struct vm *vm)
{
	return vm->power != POWER_DELETED;
}

static int set_index(const struct ruleset_data *d, const char *fw_id)
{
	for (int i = 0; i < d->n_sets; i++)
		if (strcmp(d->set_fw[i], fw_id) == 0)
			return i;
	return -1;
}

/* In a cluster, the addresses of the network's VMs on other hosts: this
 * host routes to them over the segment, and their own host applies their
 * firewalls (host/overlay.h). */
static void load_remote(struct ctl *c, struct ruleset_data *d, int i)
{
	struct nft_network *n = &d->nn[i];
	n->remote_ips = d->remote_ips;
	for (int v = 0; v < d->n_vms && overlay_on(c); v++) {
		const struct vm *vm = &d->vms[v];
		if (vm->power == POWER_DELETED || ctl_vm_is_mine(c, vm))
			continue;
		for (int k = 0; k < vm->n_nics; k++)
			if (strcmp(vm->nics[k].network_id, d->nets[i].id) == 0 && vm->nics[k].ip[0])
				d->remote_ips[n->n_remote_ips++] = vm->nics[k].ip;
	}
	d->remote_ips += n->n_remote_ips;
}

static int load_networks(struct ctl *c, struct ruleset_data *d, struct err *e)
{
	d->gateways = xcalloc((size_t)d->n_nets + 1, sizeof(*d->gateways));
	d->nn = xcalloc((size_t)d->n_nets + 1, sizeof(*d->nn));
	const char **remote = xcalloc((size_t)d->n_vms * VM_NICS_MAX + 1, sizeof(*remote));
	d->remote_ips = remote;
	int rc = 0;
	for (int i = 0; i < d->n_nets && rc == 0; i++) {
		struct cidr cidr;
		rc = cidr4_parse(d->nets[i].cidr, "cidr", &cidr, e);
		if (rc < 0)
			break;
		network_gateway(&cidr, d->gateways[i]);
		d->nn[i] = (struct nft_network){.bridge = d->nets[i].bridge, .cidr = d->nets[i].cidr,
						.gateway = d->gateways[i], .nat = d->nets[i].nat,
						.metadata_port = c->cfg.metadata_port};
		load_remote(c, d, i);
	}
	d->remote_ips = remote;   /* the start again, for data_free */
	return rc;
}

/* A set per source firewall, holding every address of its live members. */
static void load_sets(struct ruleset_data *d)
{
	d->set_fw = xcalloc((size_t)d->n_rules + 1, sizeof(*d->set_fw));
	for (int r = 0; r < d->n_rules; r++)
		if (!d->rules[r].from_cidr[0] && set_index(d, d->rules[r].from_firewall_id) < 0)
			d->set_fw[d->n_sets++] = d->rules[r].from_firewall_id;
	d->sets = xcalloc((size_t)d->n_sets + 1, sizeof(*d->sets));
	d->set_names = xcalloc((size_t)d->n_sets + 1, sizeof(*d->set_names));
	d->set_ips = xcalloc((size_t)d->n_sets * (size_t)d->n_vms * VM_NICS_MAX + 1, sizeof(*d->set_ips));
	const char **ip = d->set_ips;
	for (int i = 0; i < d->n_sets; i++) {
		const char *dash = strchr(d->set_fw[i], '-');
		snprintf(d->set_names[i], sizeof(d->set_names[i]), "fw_%.24s", dash ? dash + 1 : d->set_fw[i]);
		d->sets[i] = (struct nft_set){.name = d->set_names[i], .ips = ip};
		for (int v = 0; v < d->n_vms; v++)
			if (live(&d->vms[v]) && vm_in(&d->vms[v], d->set_fw[i]))
				for (int k = 0; k < d->vms[v].n_nics; k++, d->sets[i].n_ips++)
					*ip++ = d->vms[v].nics[k].ip;
	}
}

/* Per live VM: its NICs (taps) and the rules of its firewalls. */
static void load_vms(struct ctl *c, struct ruleset_data *d)
{
	size_t n_rules = 0;
	for (int v = 0; v < d->n_vms; v++)
		for (int r = 0; r < d->n_rules; r++)
			n_rules += live(&d->vms[v]) && vm_in(&d->vms[v], d->rules[r].firewall_id);
	/* Chains for this host's VMs only (their taps are here); the source
	 * sets (load_sets) hold the addresses of VMs on every host. */
	d->nv = xcalloc((size_t)d->n_vms + 1, sizeof(*d->nv));
	d->nics = xcalloc((size_t)d->n_vms * VM_NICS_MAX + 1, sizeof(*d->nics));
	d->taps = xcalloc((size_t)d->n_vms * VM_NICS_MAX + 1, sizeof(*d->taps));
	d->nr = xcalloc(n_rules + 1, sizeof(*d->nr));
	struct nft_nic *nic = d->nics;
	struct nft_rule *nr = d->nr;
	for (int v = 0; v < d->n_vms; v++) {
		const struct vm *vm = &d->vms[v];
		if (!live(vm) || !ctl_vm_is_mine(c, vm))
			continue;
		struct nft_vm *out = &d->nv[d->n_nv++];
		*out = (struct nft_vm){.id = vm->id, .nics = nic, .rules = nr};
		for (int k = 0; k < vm->n_nics; k++) {
			int net = net_index(d, vm->nics[k].network_id);
			if (net < 0)
				continue;
			char *tap = d->taps[nic - d->nics];
			ctl_tap_name(c, vm->id, k, tap);
			*nic++ = (struct nft_nic){.net = net, .tap = tap, .mac = vm->nics[k].mac, .ip = vm->nics[k].ip};
			out->n_nics++;
		}
		for (int r = 0; r < d->n_rules; r++) {
			const struct fw_rule *fr = &d->rules[r];
			if (!vm_in(vm, fr->firewall_id))
				continue;
			*nr++ = (struct nft_rule){.proto = fr->proto, .port_lo = fr->port_lo, .port_hi = fr->port_hi,
						  .from_cidr = fr->from_cidr[0] ? fr->from_cidr : NULL,
						  .from_set = fr->from_cidr[0] ? -1 : set_index(d, fr->from_firewall_id)};
			out->n_rules++;
		}
	}
}

/* Forwards go to the VM's primary address, on the VM's own host. */
static void load_forwards(struct ctl *c, struct ruleset_data *d)
{
	d->nf = xcalloc((size_t)d->n_fwds + 1, sizeof(*d->nf));
	for (int i = 0; i < d->n_fwds; i++) {
		const struct forward *f = &d->fwds[i];
		for (int v = 0; v < d->n_vms; v++) {
			const struct vm *vm = &d->vms[v];
			if (strcmp(vm->id, f->vm_id) != 0 || !vm->n_nics || !live(vm) || !ctl_vm_is_mine(c, vm))
				continue;
			int net = net_index(d, vm->nics[0].network_id);
			if (net >= 0)
				d->nf[d->n_nf++] = (struct nft_forward){.proto = f->proto, .host_port = f->host_port,
									.guest_port = f->guest_port, .ip = vm->nics[0].ip,
									.net = net};
		}
	}
}

/* The address of a live VM's NIC on the network, or NULL; *vm_out: the VM. */
static const char *vm_ip_on(const struct ruleset_data *d, const char *vm_id, const char *net_id,
			    const struct vm **vm_out)
{
	for (int v = 0; v < d->n_vms; v++) {
		const struct vm *vm = &d->vms[v];
		if (strcmp(vm->id, vm_id) != 0 || !live(vm))
			continue;
		*vm_out = vm;
		for (int k = 0; k < vm->n_nics; k++)
			if (strcmp(vm->nics[k].network_id, net_id) == 0)
				return vm->nics[k].ip;
	}
	return NULL;
}

/* A rule per listener, over the balancer's targets in rotation (healthy,
 * or all when none is: lb_rotation). Targets whose VM is gone take no part;
 * a target on another host of a cluster takes no connection of this host's
 * own, nor of its host ports (nft.h). */
static void load_lbs(struct ctl *c, struct ruleset_data *d)
{
	d->nl = xcalloc((size_t)d->n_lls + 1, sizeof(*d->nl));
	d->nb = xcalloc((size_t)d->n_lls * (size_t)d->n_lts + 1, sizeof(*d->nb));
	struct lb_target *mine = xcalloc((size_t)d->n_lts + 1, sizeof(*mine));
	const char **ips = xcalloc((size_t)d->n_lts + 1, sizeof(*ips));
	bool *remote = xcalloc((size_t)d->n_lts + 1, sizeof(*remote));
	bool *in = xcalloc((size_t)d->n_lts + 1, sizeof(*in));
	struct nft_lb_backend *nb = d->nb;
	for (int b = 0; b < d->n_lbs; b++) {
		const struct lb *lb = &d->lbs[b];
		if (lb->deleted || net_index(d, lb->network_id) < 0)   /* deleting: no new connection at once */
			continue;
		int m = 0;
		for (int i = 0; i < d->n_lts; i++) {
			const struct vm *vm = NULL;
			const char *ip = strcmp(d->lts[i].lb_id, lb->id) == 0
						 ? vm_ip_on(d, d->lts[i].vm_id, lb->network_id, &vm)
						 : NULL;
			if (ip) {
				ips[m] = ip;
				remote[m] = overlay_on(c) && !ctl_vm_is_mine(c, vm);
				mine[m++] = d->lts[i];
			}
		}
		bool open = false;
		lb_rotation(mine, m, in, &open);
		for (int l = 0; l < d->n_lls; l++) {
			const struct lb_listener *ls = &d->lls[l];
			if (strcmp(ls->lb_id, lb->id) != 0)
				continue;
			struct nft_lb *out = &d->nl[d->n_nl++];
			*out = (struct nft_lb){.vip = lb->vip, .port = ls->port, .host_port = lb->host_port,
					       .source_hash = lb->algorithm == LB_SOURCE_HASH, .backends = nb};
			for (int i = 0; i < m; i++)
				if (in[i])
					nb[out->n_backends++] = (struct nft_lb_backend){
						.ip = ips[i], .port = mine[i].port ? mine[i].port : ls->target_port,
						.remote = remote[i]};
			nb += out->n_backends;
		}
	}
	free(in);
	free(remote);
	free(ips);
	free(mine);
}

static int load(struct ctl *c, struct ruleset_data *d, struct err *e)
{
	if (ctl_network_list(c, &d->nets, &d->n_nets, e) < 0 || store_vm_list_brief(c->st, &d->vms, &d->n_vms, e) < 0 ||
	    store_fw_rule_list(c->st, NULL, &d->rules, &d->n_rules, e) < 0 ||
	    store_forward_list(c->st, NULL, &d->fwds, &d->n_fwds, e) < 0 ||
	    store_lb_list(c->st, &d->lbs, &d->n_lbs, e) < 0 ||
	    store_lb_listener_list(c->st, NULL, &d->lls, &d->n_lls, e) < 0 ||
	    store_lb_target_list(c->st, NULL, &d->lts, &d->n_lts, e) < 0 ||
	    load_networks(c, d, e) < 0)
		return -1;
	load_sets(d);
	load_vms(c, d);
	load_forwards(c, d);
	load_lbs(c, d);
	return 0;
}

int network_rules_apply(struct ctl *c, struct err *e)
{
	pthread_mutex_lock(&c->mu);
	uint64_t gen = c->rules_gen;
	pthread_mutex_unlock(&c->mu);
	/* Read before the rules: every event up to head is in what load reads,
	 * so the follower's later word of it needs no second apply. */
	int64_t head = -1;
	if (store_events_last_seq(c->st, &head, NULL) < 0)
		head = -1;
	struct ruleset_data d = {0};
	int rc = load(c, &d, e);
	if (rc == 0) {
		char table[32], glob[16], tap_glob[16], vxlan_glob[16];
		ctl_nft_table(c, table);
		snprintf(glob, sizeof(glob), "nb%s*", c->prefix);
		snprintf(tap_glob, sizeof(tap_glob), "nt%s*", c->prefix);   /* ctl_tap_name */
		snprintf(vxlan_glob, sizeof(vxlan_glob), "nx%s*", c->prefix);   /* overlay_vxlan_name */
		struct nft_ruleset rs = {.table = table,
					 .bridge_glob = glob,
					 .tap_glob = tap_glob,
					 .vxlan_glob = overlay_on(c) ? vxlan_glob : NULL,
					 .nets = d.nn,
					 .n_nets = d.n_nets,
					 .sets = d.sets,
					 .n_sets = d.n_sets,
					 .vms = d.nv,
					 .n_vms = d.n_nv,
					 .forwards = d.nf,
					 .n_forwards = d.n_nf,
					 .probe_mark = NFT_PROBE_MARK,
					 .lbs = d.nl,
					 .n_lbs = d.n_nl};
		autofree char *text = nft_ruleset_render(&rs);
		rc = c->host->nft_apply(text, e);
	}
	data_free(&d);
	/* Whoever applies (this tick, or a VM start bringing up its network),
	 * API calls waiting for this generation are answered. */
	pthread_mutex_lock(&c->mu);
	if (rc == 0)
		c->rules_applied = gen;
	if (rc == 0 && head > c->rules_applied_seq)
		c->rules_applied_seq = head;
	if (c->rules_tried < gen)
		c->rules_tried = gen;
	pthread_cond_broadcast(&c->rules_cv);
	pthread_mutex_unlock(&c->mu);
	return rc;
}

bool rules_sync(struct ctl *c)
{
	pthread_mutex_lock(&c->mu);
	uint64_t gen = c->rules_gen;
	bool stale = c->rules_applied != gen || c->rules_seq > c->rules_applied_seq;
	bool heard = c->rules_applied == gen;   /* only through the log: another nubod's change */
	pthread_mutex_unlock(&c->mu);
	/* The segments between hosts follow the same changes (overlay.c). */
	bool segments = c->n_ready_nets > 0 && !c->overlay_applied && overlay_on(c);
	if (!stale && !segments)
		return false;
	if (heard)
		log_debug("firewall: the event log shows a change the rules depend on");
	struct err e = {0};
	if (stale && network_rules_apply(c, &e) < 0)
		log_error("firewall: the previous rules stay in force (tried again in %d ms): %s", TICK_MS, e.msg);
	else if (stale)
		log_debug("firewall: rules applied");
	overlay_sync(c);
	return false;   /* a failure is tried again at the next idle tick, not at once */
}
