/*
 * rules: the nftables ruleset of this nubod, built from the store: networks,
 * every VM's NICs and the rules of its firewalls (with "from members of F"
 * turned into F's member addresses), and port forwards. The whole ruleset
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
	char (*taps)[16];
	struct nft_network *nn;
	struct nft_vm *nv;
	struct nft_nic *nics;
	struct nft_rule *nr;
	const char **ips;          /* member addresses, sliced per rule */
	struct nft_forward *nf;
	int n_vms_out, n_nf;
};

static void data_free(struct ruleset_data *d)
{
	free(d->nets);
	vm_list_free(d->vms, d->n_vms);
	free(d->rules);
	free(d->fwds);
	free(d->gateways);
	free(d->taps);
	free(d->nn);
	free(d->nv);
	free(d->nics);
	free(d->nr);
	free(d->ips);
	free(d->nf);
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

/* The rules that apply to vm (those of its firewalls), appended to d->nr;
 * member addresses go to d->ips from *n_ips on. */
static int vm_rules(struct ruleset_data *d, const struct vm *vm, int *n_nr, int *n_ips, int ips_cap)
{
	int first = *n_nr;
	for (int r = 0; r < d->n_rules; r++) {
		const struct fw_rule *fr = &d->rules[r];
		if (!vm_in(vm, fr->firewall_id))
			continue;
		struct nft_rule *out = &d->nr[(*n_nr)++];
		*out = (struct nft_rule){.proto = fr->proto, .port_lo = fr->port_lo, .port_hi = fr->port_hi,
					 .from_cidr = fr->from_cidr[0] ? fr->from_cidr : NULL};
		if (fr->from_cidr[0])
			continue;
		out->from_ips = &d->ips[*n_ips];
		for (int v = 0; v < d->n_vms; v++) {
			if (d->vms[v].power == POWER_DELETED || !vm_in(&d->vms[v], fr->from_firewall_id))
				continue;
			for (int k = 0; k < d->vms[v].n_nics && *n_ips < ips_cap; k++) {
				d->ips[(*n_ips)++] = d->vms[v].nics[k].ip;
				out->n_from_ips++;
			}
		}
	}
	return *n_nr - first;
}

static int load(struct ctl *c, struct ruleset_data *d, struct err *e)
{
	if (store_network_list(c->st, &d->nets, &d->n_nets, e) < 0 || store_vm_list(c->st, &d->vms, &d->n_vms, e) < 0 ||
	    store_fw_rule_list(c->st, NULL, &d->rules, &d->n_rules, e) < 0 ||
	    store_forward_list(c->st, NULL, &d->fwds, &d->n_fwds, e) < 0)
		return -1;
	size_t nets = (size_t)d->n_nets + 1, vms = (size_t)d->n_vms + 1;
	size_t nics = vms * VM_NICS_MAX;
	d->gateways = xcalloc(nets, sizeof(*d->gateways));
	d->nn = xcalloc(nets, sizeof(*d->nn));
	for (int i = 0; i < d->n_nets; i++) {
		struct cidr cidr;
		if (cidr4_parse(d->nets[i].cidr, "cidr", &cidr, e) < 0)
			return -1;
		network_gateway(&cidr, d->gateways[i]);
		d->nn[i] = (struct nft_network){.bridge = d->nets[i].bridge, .cidr = d->nets[i].cidr,
						.gateway = d->gateways[i], .nat = d->nets[i].nat,
						.metadata_port = c->cfg.metadata_port};
	}
	d->nv = xcalloc(vms, sizeof(*d->nv));
	d->nics = xcalloc(nics, sizeof(*d->nics));
	d->taps = xcalloc(nics, sizeof(*d->taps));
	/* Each VM gets each rule at most once; each member rule at most every NIC. */
	size_t rules_cap = vms * (size_t)(d->n_rules + 1);
	size_t ips_cap = 0;
	for (int v = 0; v < d->n_vms; v++)
		for (int r = 0; r < d->n_rules; r++)
			if (!d->rules[r].from_cidr[0] && vm_in(&d->vms[v], d->rules[r].firewall_id))
				ips_cap += nics;
	d->nr = xcalloc(rules_cap, sizeof(*d->nr));
	d->ips = xcalloc(ips_cap + 1, sizeof(*d->ips));
	int n_nics = 0, n_nr = 0, n_ips = 0, nv = 0;
	for (int v = 0; v < d->n_vms; v++) {
		const struct vm *vm = &d->vms[v];
		if (vm->power == POWER_DELETED)
			continue;
		struct nft_vm *out = &d->nv[nv++];
		out->id = vm->id;
		out->nics = &d->nics[n_nics];
		for (int k = 0; k < vm->n_nics; k++) {
			int net = net_index(d, vm->nics[k].network_id);
			if (net < 0)
				continue;
			ctl_tap_name(c, vm->id, k, d->taps[n_nics]);
			d->nics[n_nics] = (struct nft_nic){.net = net, .tap = d->taps[n_nics], .mac = vm->nics[k].mac,
							  .ip = vm->nics[k].ip};
			n_nics++;
			out->n_nics++;
		}
		out->rules = &d->nr[n_nr];
		out->n_rules = vm_rules(d, vm, &n_nr, &n_ips, (int)ips_cap);
	}
	d->n_vms_out = nv;
	d->nf = xcalloc((size_t)d->n_fwds + 1, sizeof(*d->nf));
	int nf = 0;
	for (int i = 0; i < d->n_fwds; i++) {
		const struct forward *f = &d->fwds[i];
		for (int v = 0; v < d->n_vms; v++) {
			const struct vm *vm = &d->vms[v];
			if (strcmp(vm->id, f->vm_id) != 0 || !vm->n_nics || vm->power == POWER_DELETED)
				continue;
			int net = net_index(d, vm->nics[0].network_id);
			if (net >= 0)
				d->nf[nf++] = (struct nft_forward){.proto = f->proto, .host_port = f->host_port,
								   .guest_port = f->guest_port, .ip = vm->nics[0].ip,
								   .net = net};
		}
	}
	d->n_nf = nf;
	return 0;
}

int network_rules_apply(struct ctl *c, struct err *e)
{
	pthread_mutex_lock(&c->mu);
	uint64_t gen = c->rules_gen;
	pthread_mutex_unlock(&c->mu);
	struct ruleset_data d = {0};
	int rc = load(c, &d, e);
	if (rc == 0) {
		char table[32], glob[16];
		ctl_nft_table(c, table);
		snprintf(glob, sizeof(glob), "nb%s*", c->prefix);
		struct nft_ruleset rs = {.table = table, .bridge_glob = glob, .nets = d.nn, .n_nets = d.n_nets,
					 .vms = d.nv, .n_vms = d.n_vms_out, .forwards = d.nf, .n_forwards = d.n_nf};
		autofree char *text = nft_ruleset_render(&rs);
		rc = nft_apply(text, e);
	}
	data_free(&d);
	if (rc == 0) {
		pthread_mutex_lock(&c->mu);
		c->rules_applied = gen;
		pthread_mutex_unlock(&c->mu);
	}
	return rc;
}

bool rules_sync(struct ctl *c)
{
	pthread_mutex_lock(&c->mu);
	uint64_t gen = c->rules_gen;
	bool stale = c->rules_applied != gen;
	pthread_mutex_unlock(&c->mu);
	if (!stale)
		return false;
	struct err e = {0};
	if (network_rules_apply(c, &e) < 0)
		log_error("firewall: the previous rules stay in force (tried again in %d ms): %s", TICK_MS, e.msg);
	else
		log_debug("firewall: rules applied");
	pthread_mutex_lock(&c->mu);
	if (c->rules_tried < gen)
		c->rules_tried = gen;
	pthread_cond_broadcast(&c->rules_cv);
	pthread_mutex_unlock(&c->mu);
	return false;   /* a failure is tried again at the next idle tick, not at once */
}
