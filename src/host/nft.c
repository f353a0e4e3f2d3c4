/* nft: whole-ruleset rendering and atomic replacement (see nft.h). */
#include "host/nft.h"

#include <string.h>

#include "util/runner.h"
#include "util/str.h"

static bool only(const char *s, const char *allowed, size_t max)
{
	size_t n = s ? strlen(s) : 0;
	return n > 0 && n <= max && strspn(s, allowed) == n;
}

#define ALNUM "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

static bool table_name_valid(const char *s)
{
	return only(s, ALNUM "_", 64);
}

static bool ifname_valid(const char *s)
{
	return only(s, ALNUM "_.-", 15);
}

static bool ip_valid(const char *s)
{
	return only(s, "0123456789.", 15);
}

static bool cidr_valid(const char *s)
{
	return only(s, "0123456789./", 18) && strchr(s, '/');
}

#define METADATA_IP "169.254.169.254"

static bool input_valid(const struct nft_ruleset *rs)
{
	if (!table_name_valid(rs->table) || !only(rs->bridge_glob, ALNUM "*", 15) || !only(rs->tap_glob, ALNUM "*", 15) ||
	    (rs->vxlan_glob && !only(rs->vxlan_glob, ALNUM "*", 15)))
		return false;
	for (int i = 0; i < rs->n_nets; i++) {
		const struct nft_network *n = &rs->nets[i];
		if (!ifname_valid(n->bridge) || !cidr_valid(n->cidr) || !ip_valid(n->gateway) || n->metadata_port < 0 ||
		    n->metadata_port > 65535 || n->n_remote_ips < 0)
			return false;
		for (int k = 0; k < n->n_remote_ips; k++)
			if (!ip_valid(n->remote_ips[k]))
				return false;
	}
	for (int i = 0; i < rs->n_vms; i++) {
		const struct nft_vm *vm = &rs->vms[i];
		const char *dash = vm->id ? strchr(vm->id, '-') : NULL;
		if (!dash || !only(dash + 1, ALNUM, 32))
			return false;
		for (int k = 0; k < vm->n_nics; k++) {
			const struct nft_nic *nic = &vm->nics[k];
			if (nic->net < 0 || nic->net >= rs->n_nets || !ifname_valid(nic->tap) ||
			    !only(nic->mac, "0123456789abcdefABCDEF:", 17) || !ip_valid(nic->ip))
				return false;
		}
		for (int k = 0; k < vm->n_rules; k++) {
			const struct nft_rule *r = &vm->rules[k];
			if ((r->from_cidr && !cidr_valid(r->from_cidr)) ||
			    (!r->from_cidr && (r->from_set < 0 || r->from_set >= rs->n_sets)) ||
			    (r->proto != PROTO_TCP && r->proto != PROTO_UDP && r->proto != PROTO_ICMP && r->proto != PROTO_ALL))
				return false;
		}
	}
	for (int i = 0; i < rs->n_sets; i++) {
		if (!only(rs->sets[i].name, ALNUM "_", 31))
			return false;
		for (int j = 0; j < rs->sets[i].n_ips; j++)
			if (!ip_valid(rs->sets[i].ips[j]))
				return false;
	}
	for (int i = 0; i < rs->n_forwards; i++) {
		const struct nft_forward *f = &rs->forwards[i];
		if (!ip_valid(f->ip) || f->net < 0 || f->net >= rs->n_nets ||
		    (f->proto != PROTO_TCP && f->proto != PROTO_UDP))
			return false;
	}
	for (int i = 0; i < rs->n_lbs; i++) {
		const struct nft_lb *l = &rs->lbs[i];
		if (!ip_valid(l->vip) || !l->port || l->n_backends < 0)
			return false;
		for (int k = 0; k < l->n_backends; k++)
			if (!ip_valid(l->backends[k].ip) || !l->backends[k].port)
				return false;
	}
	return true;
}

static void base_chain(struct sbuf *b, const char *name, const char *type, const char *hook, const char *prio)
{
	sbuf_addf(b, "\tchain %s {\n\t\ttype %s hook %s priority %s; policy accept;\n", name, type, hook, prio);
}

/* New connections only: an established one keeps the target conntrack
 * gave it, whatever the rotation does since. The map's keys are what numgen
 * or jhash yields, 0..n-1; its values address and port. own: the host's
 * own connections (nat_output), which, like a host port's, go to targets
 * on this host only. */
static void lb_rule(struct sbuf *b, const struct nft_lb *l, bool own)
{
	for (int host = 0; host < (l->host_port ? 2 : 1); host++) {
		bool local = own || host;
		int n = 0;
		for (int k = 0; k < l->n_backends; k++)
			n += !local || !l->backends[k].remote;
		if (!n)
			continue;
		if (host)
			sbuf_addf(b, "\t\tfib daddr type local tcp dport %u ct state new dnat ip to %s mod %d map { ",
				  l->port, l->source_hash ? "jhash ip saddr" : "numgen inc", n);
		else
			sbuf_addf(b, "\t\tip daddr %s tcp dport %u ct state new dnat ip to %s mod %d map { ", l->vip,
				  l->port, l->source_hash ? "jhash ip saddr" : "numgen inc", n);
		for (int k = 0, i = 0; k < l->n_backends; k++)
			if (!local || !l->backends[k].remote) {
				sbuf_addf(b, "%s%d : %s . %u", i ? ", " : "", i, l->backends[k].ip, l->backends[k].port);
				i++;
			}
		sbuf_add(b, " }\n");
	}
}

/* A target that reached its own balancer and was picked: source and
 * destination are its one address. Masqueraded to the gateway, the reply
 * comes back through the host, which gives it the VIP back. */
static void lb_self_rule(struct sbuf *b, const struct nft_ruleset *rs)
{
	int shown = 0;
	for (int i = 0; i < rs->n_lbs; i++)
		for (int k = 0; k < rs->lbs[i].n_backends; k++) {
			const char *ip = rs->lbs[i].backends[k].ip;
			bool seen = false;
			for (int j = 0; j <= i && !seen; j++)
				for (int m = 0; m < rs->lbs[j].n_backends && !seen && (j < i || m < k); m++)
					seen = strcmp(rs->lbs[j].backends[m].ip, ip) == 0;
			if (!seen)
				sbuf_addf(b, "%s%s . %s", shown++ ? ", " : "\t\tct status dnat ip saddr . ip daddr { ", ip, ip);
		}
	if (shown)
		sbuf_addf(b, " } oifname \"%s\" masquerade\n", rs->bridge_glob);
}

static void nat_rules(struct sbuf *b, const struct nft_ruleset *rs)
{
	/* Port forwards: traffic to any of the host's addresses, from outside
	 * (prerouting) or from the host itself (output). */
	for (int pass = 0; pass < 2; pass++) {
		base_chain(b, pass ? "nat_output" : "nat_prerouting", "nat", pass ? "output" : "prerouting",
			   pass ? "-100" : "dstnat");
		/* The metadata service: 169.254.169.254:80 from a network's VMs
		 * goes to its listener on the network's gateway. */
		for (int i = 0; i < rs->n_nets && !pass; i++) {
			const struct nft_network *n = &rs->nets[i];
			if (n->metadata_port)
				sbuf_addf(b, "\t\tiifname \"%s\" ip daddr " METADATA_IP " tcp dport 80 dnat ip to %s:%d\n",
					  n->bridge, n->gateway, n->metadata_port);
		}
		for (int i = 0; i < rs->n_forwards; i++) {
			const struct nft_forward *f = &rs->forwards[i];
			sbuf_addf(b, "\t\tfib daddr type local %s dport %u dnat ip to %s:%u\n", proto_name(f->proto),
				  f->host_port, f->ip, f->guest_port);
		}
		for (int i = 0; i < rs->n_lbs; i++)
			lb_rule(b, &rs->lbs[i], pass == 1);
		sbuf_add(b, "\t}\n");
	}
	base_chain(b, "nat_postrouting", "nat", "postrouting", "srcnat");
	lb_self_rule(b, rs);
	for (int i = 0; i < rs->n_nets; i++) {
		const struct nft_network *n = &rs->nets[i];
		if (n->nat)
			sbuf_addf(b, "\t\tip saddr %s oifname != \"%s\" masquerade\n", n->cidr, n->bridge);
		/* A forward used from the host's own loopback leaves with a
		 * 127/8 source; the VM could not answer it. */
		sbuf_addf(b, "\t\toifname \"%s\" ip saddr 127.0.0.0/8 masquerade\n", n->bridge);
	}
	sbuf_add(b, "\t}\n");
	/* After the DNAT (and conntrack's, for a connection's later packets):
	 * the frames br_netfilter bridges from tap to tap (nft.h). */
	base_chain(b, "hairpin_mark", "filter", "prerouting", "dstnat + 1");
	sbuf_addf(b, "\t\tiifname \"%s\" ct direction original ct status dnat meta mark set meta mark | 0x%08x\n",
		  rs->bridge_glob, NFT_HAIRPIN_MARK);
	/* and the reply of a target that reached itself (lb_self_rule): its
	 * destination changes from the gateway back to the target, on the
	 * bridge it came from, so br_netfilter bridges it too, back to its tap */
	sbuf_addf(b, "\t\tiifname \"%s\" ct direction reply ct status snat ct status dnat meta mark set meta mark | 0x%08x\n",
		  rs->bridge_glob, NFT_HAIRPIN_MARK);
	sbuf_add(b, "\t}\n");
}

/* Per network: to_N (traffic that leaves by its bridge: to a VM), from_N
 * (traffic from its VMs to elsewhere), in_N (from its VMs to the host). */
static void network_chains(struct sbuf *b, const struct nft_ruleset *rs, int i)
{
	const struct nft_network *n = &rs->nets[i];
	sbuf_addf(b, "\tchain to_%d {\n", i);
	sbuf_add(b, "\t\tct state established,related accept\n");
	sbuf_add(b, "\t\tct state invalid drop\n");
	sbuf_addf(b, "\t\tiifname \"%s\" iifname != \"%s\" drop\n", rs->bridge_glob, n->bridge);
	/* a port forward's connection passes; a balancer's meets the VM's firewalls */
	sbuf_add(b, "\t\tct status dnat ct original ip daddr != @lb_vips meta l4proto != tcp accept\n");
	sbuf_add(b, "\t\tct status dnat ct original ip daddr != @lb_vips meta l4proto tcp ct original proto-dst != "
		    "@lb_host_ports accept\n");
	bool any = false;
	for (int v = 0; v < rs->n_vms; v++)
		for (int k = 0; k < rs->vms[v].n_nics; k++) {
			const struct nft_nic *nic = &rs->vms[v].nics[k];
			if (nic->net != i)
				continue;
			sbuf_addf(b, "%s%s : jump vm_%s", any ? ", " : "\t\tip daddr vmap { ", nic->ip,
				  strchr(rs->vms[v].id, '-') + 1);
			any = true;
		}
	/* the network's VMs on other hosts: their own host filters */
	for (int k = 0; k < n->n_remote_ips; k++) {
		sbuf_addf(b, "%s%s : accept", any ? ", " : "\t\tip daddr vmap { ", n->remote_ips[k]);
		any = true;
	}
	if (any)
		sbuf_add(b, " }\n");
	sbuf_add(b, "\t\tdrop\n\t}\n");

	sbuf_addf(b, "\tchain from_%d {\n", i);
	sbuf_addf(b, "\t\toifname \"%s\" drop\n", rs->bridge_glob);
	sbuf_addf(b, "\t\t%s\n\t}\n", n->nat ? "accept" : "drop");

	sbuf_addf(b, "\tchain in_%d {\n", i);
	sbuf_add(b, "\t\tct state established,related accept\n");
	sbuf_add(b, "\t\tudp sport 68 udp dport 67 accept\n");
	sbuf_addf(b, "\t\tip daddr %s udp dport 53 accept\n", n->gateway);
	sbuf_addf(b, "\t\tip daddr %s tcp dport 53 accept\n", n->gateway);
	if (n->metadata_port)
		sbuf_addf(b, "\t\tip daddr %s tcp dport %d accept\n", n->gateway, n->metadata_port);
	sbuf_add(b, "\t\ticmp type echo-request accept\n");
	sbuf_add(b, "\t\tdrop\n\t}\n");
}

static void rule_text(struct sbuf *b, const struct nft_ruleset *rs, const struct nft_rule *r)
{
	sbuf_add(b, "\t\t");
	if (r->from_cidr && strcmp(r->from_cidr, "0.0.0.0/0") != 0)
		sbuf_addf(b, "ip saddr %s ", r->from_cidr);
	else if (!r->from_cidr)
		sbuf_addf(b, "ip saddr @%s ", rs->sets[r->from_set].name);
	switch (r->proto) {
	case PROTO_TCP:
	case PROTO_UDP:
		if (!r->port_lo)
			sbuf_addf(b, "meta l4proto %s ", proto_name(r->proto));
		else if (r->port_lo == r->port_hi)
			sbuf_addf(b, "%s dport %u ", proto_name(r->proto), r->port_lo);
		else
			sbuf_addf(b, "%s dport %u-%u ", proto_name(r->proto), r->port_lo, r->port_hi);
		break;
	case PROTO_ICMP:
		sbuf_add(b, "icmp type echo-request ");
		break;
	case PROTO_ALL:
		break;
	}
	sbuf_add(b, "accept\n");
}

static void inet_table(struct sbuf *b, const struct nft_ruleset *rs)
{
	sbuf_addf(b, "table inet %s {\n", rs->table);
	for (int i = 0; i < rs->n_sets; i++) {
		const struct nft_set *set = &rs->sets[i];
		sbuf_addf(b, "\tset %s {\n\t\ttype ipv4_addr\n", set->name);
		for (int j = 0; j < set->n_ips; j++)
			sbuf_addf(b, "%s%s", j ? ", " : "\t\telements = { ", set->ips[j]);
		sbuf_add(b, set->n_ips ? " }\n\t}\n" : "\t}\n");
	}
	/* Every VIP, each once (a balancer has a rule per listener). */
	sbuf_add(b, "\tset lb_vips {\n\t\ttype ipv4_addr\n");
	int shown = 0;
	for (int i = 0; i < rs->n_lbs; i++) {
		bool seen = false;
		for (int k = 0; k < i && !seen; k++)
			seen = strcmp(rs->lbs[k].vip, rs->lbs[i].vip) == 0;
		if (!seen)
			sbuf_addf(b, "%s%s", shown++ ? ", " : "\t\telements = { ", rs->lbs[i].vip);
	}
	sbuf_add(b, shown ? " }\n\t}\n" : "\t}\n");
	/* Every host port of a balancer, each once. */
	sbuf_add(b, "\tset lb_host_ports {\n\t\ttype inet_service\n");
	shown = 0;
	for (int i = 0; i < rs->n_lbs; i++) {
		bool seen = !rs->lbs[i].host_port;
		for (int k = 0; k < i && !seen; k++)
			seen = rs->lbs[k].host_port && rs->lbs[k].port == rs->lbs[i].port;
		if (!seen)
			sbuf_addf(b, "%s%u", shown++ ? ", " : "\t\telements = { ", rs->lbs[i].port);
	}
	sbuf_add(b, shown ? " }\n\t}\n" : "\t}\n");
	nat_rules(b, rs);

	base_chain(b, "forward", "filter", "forward", "filter");
	for (int i = 0; i < rs->n_nets; i++) {
		const struct nft_network *n = &rs->nets[i];
		sbuf_addf(b, "\t\tiifname \"%s\" ip saddr != %s drop\n", n->bridge, n->cidr);
		sbuf_addf(b, "\t\toifname \"%s\" jump to_%d\n", n->bridge, i);
		sbuf_addf(b, "\t\tiifname \"%s\" jump from_%d\n", n->bridge, i);
	}
	sbuf_add(b, "\t}\n");
	base_chain(b, "input", "filter", "input", "filter");
	for (int i = 0; i < rs->n_nets; i++)
		sbuf_addf(b, "\t\tiifname \"%s\" jump in_%d\n", rs->nets[i].bridge, i);
	/* A metadata listener answers its network's VMs only (in_N), never
	 * another interface or the host itself. */
	for (int i = 0; i < rs->n_nets; i++)
		if (rs->nets[i].metadata_port)
			sbuf_addf(b, "\t\tip daddr %s tcp dport %d drop\n", rs->nets[i].gateway, rs->nets[i].metadata_port);
	sbuf_add(b, "\t}\n");
	/* The host's own connections to VMs meet the same filters, except
	 * nubod's own SSH probe. */
	base_chain(b, "output", "filter", "output", "filter");
	for (int i = 0; i < rs->n_nets; i++) {
		/* dnsmasq's answers to DHCP requests, which conntrack cannot pair */
		sbuf_addf(b, "\t\toifname \"%s\" udp sport 67 udp dport 68 accept\n", rs->nets[i].bridge);
		/* nubod's SSH probe: management traffic, not subject to the VM's
		 * firewalls (NFT_PROBE_MARK says why and what it allows). In the
		 * output hook only: a mark on a forwarded packet says nothing
		 * about who sent it. */
		if (rs->probe_mark)
			sbuf_addf(b, "\t\toifname \"%s\" ip saddr %s meta mark 0x%08x tcp dport 22 accept\n",
				  rs->nets[i].bridge, rs->nets[i].gateway, rs->probe_mark);
		sbuf_addf(b, "\t\toifname \"%s\" jump to_%d\n", rs->nets[i].bridge, i);
	}
	sbuf_add(b, "\t}\n");

	for (int i = 0; i < rs->n_nets; i++)
		network_chains(b, rs, i);
	for (int v = 0; v < rs->n_vms; v++) {
		const struct nft_vm *vm = &rs->vms[v];
		sbuf_addf(b, "\tchain vm_%s {\n", strchr(vm->id, '-') + 1);
		for (int k = 0; k < vm->n_rules; k++)
			rule_text(b, rs, &vm->rules[k]);
		sbuf_add(b, "\t\tdrop\n\t}\n");
	}
	sbuf_add(b, "}\n");
}

static void bridge_table(struct sbuf *b, const struct nft_ruleset *rs)
{
	sbuf_addf(b, "table bridge %s {\n", rs->table);
	base_chain(b, "prerouting", "filter", "prerouting", "filter");
	int k = 0;
	for (int v = 0; v < rs->n_vms; v++)
		for (int i = 0; i < rs->vms[v].n_nics; i++, k++)
			sbuf_addf(b, "%s\"%s\" : jump tap_%d", k ? ", " : "\t\tiifname vmap { ", rs->vms[v].nics[i].tap, k);
	if (k)
		sbuf_add(b, " }\n");
	sbuf_add(b, "\t}\n");
	k = 0;
	for (int v = 0; v < rs->n_vms; v++)
		for (int i = 0; i < rs->vms[v].n_nics; i++) {
			const struct nft_nic *nic = &rs->vms[v].nics[i];
			sbuf_addf(b, "\tchain tap_%d {\n", k++);
			sbuf_addf(b, "\t\tether saddr != %s drop\n", nic->mac);
			sbuf_addf(b, "\t\tarp saddr ip != { %s, 0.0.0.0 } drop\n", nic->ip);
			sbuf_addf(b, "\t\tip saddr %s return\n", nic->ip);
			sbuf_add(b, "\t\tip saddr 0.0.0.0 udp sport 68 udp dport 67 return\n");
			sbuf_add(b, "\t\tether type ip drop\n");
			sbuf_add(b, "\t\tether type ip6 drop\n");
			sbuf_add(b, "\t}\n");
		}
	/* No frame from one tap to another: VMs reach each other through the
	 * host, which filters (nft.h); a DNATed one br_netfilter bridges is
	 * the exception, marked by the inet table. */
	base_chain(b, "forward", "filter", "forward", "filter");
	sbuf_addf(b, "\t\tiifname \"%s\" oifname \"%s\" meta mark & 0x%08x == 0 drop\n", rs->tap_glob, rs->tap_glob,
		  NFT_HAIRPIN_MARK);
	/* nor from a tap to another host: only this host's routing sends
	 * there (host/overlay.h). The same exception: br_netfilter bridges a
	 * client's connection DNATed to a target on another host straight to
	 * the segment, after the inet table's forward chain saw it. */
	if (rs->vxlan_glob)
		sbuf_addf(b, "\t\tiifname \"%s\" oifname \"%s\" meta mark & 0x%08x == 0 drop\n", rs->tap_glob,
			  rs->vxlan_glob, NFT_HAIRPIN_MARK);
	sbuf_add(b, "\t}\n");
	sbuf_add(b, "}\n");
}

char *nft_ruleset_render(const struct nft_ruleset *rs)
{
	if (!input_valid(rs))
		return NULL;
	struct sbuf b = {0};
	sbuf_add(&b, "# Written by nubo; both tables are replaced at once.\n");
	/* Create-if-missing then delete: "delete" alone fails on a missing table. */
	sbuf_addf(&b, "table inet %s\ndelete table inet %s\n", rs->table, rs->table);
	sbuf_addf(&b, "table bridge %s\ndelete table bridge %s\n", rs->table, rs->table);
	/* nubo's rules lived in an ip-family table before; gone on upgrade. */
	sbuf_addf(&b, "table ip %s\ndelete table ip %s\n", rs->table, rs->table);
	inet_table(&b, rs);
	bridge_table(&b, rs);
	return sbuf_take(&b);
}

static int nft_run(const char *script, struct err *e)
{
	const char *argv[] = {"nft", "-f", "-", NULL};
	struct run_opts o = {.input = script, .timeout_ms = 30000};
	return runner_run(argv, &o, NULL, e);
}

int nft_apply(const char *ruleset, struct err *e)
{
	if (!ruleset)
		return err_set(e, ERR_INTERNAL, "cannot apply nftables rules: no ruleset (a name was not valid)");
	int rc = nft_run(ruleset, e);
	if (rc < 0)
		err_prefix(e, "cannot apply nftables rules");
	return rc;
}

int nft_table_delete(const char *table, struct err *e)
{
	if (!table_name_valid(table))
		return err_set(e, ERR_INTERNAL, "cannot delete nftables table \"%s\": not a valid table name", table);
	/* The table of the ip family is what nubo used before inet and bridge. */
	autofree char *script = xasprintf("table inet %s\ndelete table inet %s\ntable bridge %s\ndelete table bridge %s\n"
					  "table ip %s\ndelete table ip %s\n",
					  table, table, table, table, table, table);
	int rc = nft_run(script, e);
	if (rc < 0)
		err_prefix(e, "cannot delete nftables tables %s", table);
	return rc;
}
