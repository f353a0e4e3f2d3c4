/* bridge: bridges, taps, forwarding and subnet checks through `ip` (see bridge.h). */
#include "host/bridge.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/bridge-priv.h"
#include "util/fs.h"
#include "util/runner.h"
#include "util/str.h"

#define IP_FORWARD "/proc/sys/net/ipv4/ip_forward"

bool link_name_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n > 15 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return false;
	return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

static int sys_net_has(const char *name, const char *entry)
{
	autofree char *p = xasprintf("/sys/class/net/%s%s%s", name, entry ? "/" : "", entry ? entry : "");
	return fs_exists(p);
}

bool link_exists(const char *name)
{
	return link_name_valid(name) && sys_net_has(name, NULL);
}

static int ip_run(const char *const argv[], struct err *e)
{
	return runner_run(argv, NULL, NULL, e);
}

/* Runs add unless the link exists. Another nubod step may have created it
 * meanwhile: fine if it is there now. */
static int link_create(const struct bridge_kernel *k, const char *const add[], const char *name, struct err *e)
{
	if (k->has(name, NULL) == 1)
		return 0;
	int rc = ip_run(add, e);
	if (rc < 0 && k->has(name, NULL) == 1) {
		err_clear(e);
		rc = 0;
	}
	return rc;
}

/* Writes a /proc/sys setting unless it already has that value. */
static int sysctl_write(const char *path, const char *value, struct err *e)
{
	autofree char *cur = NULL;
	if (fs_read_file(path, 64, &cur, NULL, NULL) == 0 && strncmp(cur, value, strlen(value)) == 0 &&
	    cur[strlen(value)] == '\n')
		return 0;
	FILE *f = fopen(path, "we");
	if (!f)
		return err_set(e, ERR_INTERNAL, "cannot set %s to %s: %s", path, value, strerror(errno));
	int ok = fprintf(f, "%s\n", value) >= 0;
	ok = (fclose(f) == 0) && ok;
	if (!ok)
		return err_set(e, ERR_INTERNAL, "cannot set %s to %s: %s", path, value, strerror(errno));
	return 0;
}

void link_mac_read(const char *name, char out[18])
{
	out[0] = '\0';
	autofree char *path = xasprintf("/sys/class/net/%s/address", name);
	autofree char *text = NULL;
	if (fs_read_file(path, 64, &text, NULL, NULL) == 0)
		snprintf(out, 18, "%.17s", text);
}

const struct bridge_kernel bridge_kernel_real = {.has = sys_net_has, .sysctl_write = sysctl_write,
						  .mac = link_mac_read};

static int conf_set(const struct bridge_kernel *k, const char *dev, const char *key, const char *value,
		    struct err *e)
{
	autofree char *path = xasprintf("/proc/sys/net/ipv4/conf/%s/%s", dev, key);
	return k->sysctl_write(path, value, e);
}

/*
 * VMs on one bridge do not reach each other directly: nubo's nftables bridge
 * table drops frames from one tap to another (nft.h says why not port
 * isolation), and the host answers ARP for the whole subnet on the bridge
 * (proxy_arp_pvlan). Their traffic to each other is
 * routed through the host, where nftables filters it with connection
 * tracking. No ICMP redirects tell them otherwise. route_localnet lets a
 * port forward used as localhost:PORT on the host reach a VM (nft.c drops
 * anything from VMs to the host's loopback addresses).
 */
static int bridge_routing_setup(const struct bridge_kernel *k, const char *name, struct err *e)
{
	if (conf_set(k, name, "proxy_arp_pvlan", "1", e) < 0 || conf_set(k, name, "send_redirects", "0", e) < 0 ||
	    conf_set(k, name, "route_localnet", "1", e) < 0)
		return -1;
	return 0;
}

int bridge_ensure_on(const struct bridge_kernel *k, const char *name, const char *gw_cidr, struct err *e)
{
	if (!link_name_valid(name))
		return err_set(e, ERR_INTERNAL, "bridge name \"%s\" is not a valid interface name (1-15 of [A-Za-z0-9_.-])", name);
	uint32_t addr;
	int len;
	if (cidr_parse(gw_cidr, &addr, &len) < 0 || !strchr(gw_cidr, '/'))
		return err_set(e, ERR_INTERNAL, "bridge %s: gateway \"%s\" is not an IPv4 address/prefix", name, gw_cidr);
	const char *add[] = {"ip", "link", "add", "name", name, "type", "bridge", NULL};
	/* replace, not add: idempotent when the address is already there. */
	const char *address[] = {"ip", "addr", "replace", gw_cidr, "dev", name, NULL};
	const char *up[] = {"ip", "link", "set", "dev", name, "up", NULL};
	int rc = link_create(k, add, name, e);
	if (rc == 0 && k->has(name, "bridge") == 0)
		return err_set(e, ERR_INTERNAL, "cannot use %s as a bridge: an interface of another kind has that name", name);
	if (rc == 0)
		rc = ip_run(address, e);
	if (rc == 0)
		rc = bridge_routing_setup(k, name, e);
	if (rc == 0)
		rc = ip_run(up, e);
	if (rc < 0)
		err_prefix(e, "cannot set up bridge %s", name);
	return rc;
}

/* ip link del, where a link that is (or became) missing is success. */
static int link_remove(const struct bridge_kernel *k, const char *kind, const char *name, struct err *e)
{
	if (!link_name_valid(name))
		return err_set(e, ERR_INTERNAL, "%s name \"%s\" is not a valid interface name", kind, name);
	if (k->has(name, NULL) == 0)
		return 0;
	const char *del[] = {"ip", "link", "del", "dev", name, NULL};
	int rc = ip_run(del, e);
	if (rc < 0 && k->has(name, NULL) == 0)
		rc = 0;
	if (rc < 0)
		err_prefix(e, "cannot remove %s %s", kind, name);
	return rc;
}

int bridge_remove_on(const struct bridge_kernel *k, const char *name, struct err *e)
{
	return link_remove(k, "bridge", name, e);
}

int tap_ensure_on(const struct bridge_kernel *k, const char *name, const char *bridge, struct err *e)
{
	if (!link_name_valid(name) || !link_name_valid(bridge))
		return err_set(e, ERR_INTERNAL, "tap \"%s\" on bridge \"%s\": not valid interface names", name, bridge);
	const char *add[] = {"ip", "tuntap", "add", "dev", name, "mode", "tap", NULL};
	const char *attach[] = {"ip", "link", "set", "dev", name, "master", bridge, "up", NULL};
	/* Not an isolated port (nft.h: br_netfilter bridges a hairpin DNAT
	 * between taps); "off" also frees a tap an earlier nubo isolated. And
	 * in hairpin mode: a VM that reaches its own balancer and is picked
	 * gets its packet back through its own port when br_netfilter bridges
	 * it (the bridge's forward chain still drops every unmarked frame
	 * between taps, this one's own included). */
	const char *isolate[] = {"ip", "link", "set", "dev", name, "type", "bridge_slave", "isolated", "off", "hairpin",
				 "on", NULL};
	int rc = link_create(k, add, name, e);
	if (rc == 0 && k->has(name, "tun_flags") == 0)
		return err_set(e, ERR_INTERNAL, "cannot use %s as a tap: an interface of another kind has that name", name);
	if (rc == 0)
		rc = ip_run(attach, e);
	if (rc == 0)
		rc = ip_run(isolate, e);
	if (rc < 0)
		err_prefix(e, "cannot set up tap %s on bridge %s", name, bridge);
	return rc;
}

int tap_remove_on(const struct bridge_kernel *k, const char *name, struct err *e)
{
	return link_remove(k, "tap", name, e);
}

static bool neigh_args_valid(const char *bridge, const char *ip, const char *mac)
{
	struct in_addr a;
	size_t n = mac ? strlen(mac) : 17;
	return link_name_valid(bridge) && ip && inet_pton(AF_INET, ip, &a) == 1 && n == 17 &&
	       (!mac || strspn(mac, "0123456789abcdefABCDEF:") == n);
}

int neigh_set(const char *bridge, const char *ip, const char *mac, struct err *e)
{
	if (!mac || !neigh_args_valid(bridge, ip, mac))
		return err_set(e, ERR_INTERNAL, "neighbour %s %s on %s: not a valid address, MAC or bridge",
			       ip ? ip : "?", mac ? mac : "?", bridge ? bridge : "?");
	const char *argv[] = {"ip", "neigh", "replace", ip, "lladdr", mac, "dev", bridge, "nud", "permanent", NULL};
	int rc = ip_run(argv, e);
	if (rc < 0)
		err_prefix(e, "cannot set the neighbour entry of %s", ip);
	return rc;
}

int neigh_remove_on(const struct bridge_kernel *k, const char *bridge, const char *ip, struct err *e)
{
	if (!neigh_args_valid(bridge, ip, NULL))
		return err_set(e, ERR_INTERNAL, "neighbour %s on %s: not a valid address or bridge", ip ? ip : "?",
			       bridge ? bridge : "?");
	if (k->has(bridge, NULL) == 0)
		return 0;   /* the bridge took its neighbours with it */
	const char *argv[] = {"ip", "neigh", "del", ip, "dev", bridge, NULL};
	struct run_result r;
	int rc = runner_run(argv, NULL, &r, e);
	/* "RTNETLINK answers: No such file or directory": nothing to remove. */
	if (rc < 0 && r.errout && strstr(r.errout, "No such file"))
		rc = 0;
	run_result_free(&r);
	return rc;
}

int ip_forward_enable_on(const struct bridge_kernel *k, struct err *e)
{
	return k->sysctl_write(IP_FORWARD, "1", e);
}

int bridge_ensure(const char *name, const char *gw_cidr, struct err *e)
{
	return bridge_ensure_on(&bridge_kernel_real, name, gw_cidr, e);
}

int bridge_remove(const char *name, struct err *e)
{
	return bridge_remove_on(&bridge_kernel_real, name, e);
}

int tap_ensure(const char *name, const char *bridge, struct err *e)
{
	return tap_ensure_on(&bridge_kernel_real, name, bridge, e);
}

int tap_remove(const char *name, struct err *e)
{
	return tap_remove_on(&bridge_kernel_real, name, e);
}

int neigh_remove(const char *bridge, const char *ip, struct err *e)
{
	return neigh_remove_on(&bridge_kernel_real, bridge, ip, e);
}

int ip_forward_enable(struct err *e)
{
	return ip_forward_enable_on(&bridge_kernel_real, e);
}

int cidr_parse(const char *s, uint32_t *addr, int *len)
{
	char buf[INET_ADDRSTRLEN + 4];
	if (!s || strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	*len = 32;
	char *slash = strchr(buf, '/');
	if (slash) {
		*slash = '\0';
		char *end;
		long l = strtol(slash + 1, &end, 10);
		if (end == slash + 1 || *end || l < 0 || l > 32)
			return -1;
		*len = (int)l;
	}
	struct in_addr in;
	if (inet_pton(AF_INET, buf, &in) != 1)
		return -1;
	*addr = ntohl(in.s_addr);
	return 0;
}

static uint32_t prefix_mask(int len)
{
	return len == 0 ? 0 : 0xffffffffu << (32 - len);
}

bool cidr_overlap(uint32_t a, int alen, uint32_t b, int blen)
{
	/* Two prefixes overlap exactly when they agree on the shorter one. */
	uint32_t m = prefix_mask(alen < blen ? alen : blen);
	return (a & m) == (b & m);
}

static json_t *parse_ip_json(const char *text, const char *what, struct err *e)
{
	json_error_t je;
	json_t *j = json_loads(text && *text ? text : "[]", 0, &je);
	if (!j || !json_is_array(j)) {
		json_decref(j);
		err_set(e, ERR_INTERNAL, "cannot read the host's %s: `ip -j` printed %s", what,
			j ? "something that is not a list" : je.text);
		return NULL;
	}
	return j;
}

int subnet_conflict_in(const char *cidr, const char *except_dev, const char *routes_json, const char *addrs_json,
		       bool *in_use, char *what, size_t what_len, struct err *e)
{
	*in_use = false;
	uint32_t net;
	int len;
	if (cidr_parse(cidr, &net, &len) < 0)
		return err_set(e, ERR_INTERNAL, "subnet \"%s\" is not an IPv4 prefix", cidr);
	json_t *routes = parse_ip_json(routes_json, "routes", e);
	if (!routes)
		return -EIO;
	json_t *addrs = parse_ip_json(addrs_json, "addresses", e);
	if (!addrs) {
		json_decref(routes);
		return -EIO;
	}
	size_t i;
	json_t *r;
	json_array_foreach(routes, i, r) {
		const char *dst = json_string_value(json_object_get(r, "dst"));
		const char *dev = json_string_value(json_object_get(r, "dev"));
		uint32_t a;
		int l;
		/* The default route covers everything and says nothing about use. */
		if (!dst || strcmp(dst, "default") == 0 || cidr_parse(dst, &a, &l) < 0 || l == 0)
			continue;
		if (except_dev && dev && strcmp(dev, except_dev) == 0)
			continue;
		if (cidr_overlap(net, len, a, l)) {
			*in_use = true;
			if (what)
				snprintf(what, what_len, "route %s%s%s", dst, dev ? " dev " : "", dev ? dev : "");
			goto out;
		}
	}
	json_t *link;
	json_array_foreach(addrs, i, link) {
		const char *dev = json_string_value(json_object_get(link, "ifname"));
		if (except_dev && dev && strcmp(dev, except_dev) == 0)
			continue;
		size_t k;
		json_t *ai;
		json_array_foreach(json_object_get(link, "addr_info"), k, ai) {
			const char *local = json_string_value(json_object_get(ai, "local"));
			json_t *pl = json_object_get(ai, "prefixlen");
			uint32_t a;
			int l;
			if (!local || cidr_parse(local, &a, &l) < 0)
				continue;
			if (json_is_integer(pl) && json_integer_value(pl) >= 0 && json_integer_value(pl) <= 32)
				l = (int)json_integer_value(pl);
			if (cidr_overlap(net, len, a, l)) {
				*in_use = true;
				if (what)
					snprintf(what, what_len, "address %s/%d on %s", local, l, dev ? dev : "?");
				goto out;
			}
		}
	}
out:
	json_decref(routes);
	json_decref(addrs);
	return 0;
}

int host_subnet_conflict(const char *cidr, const char *except_dev, bool *in_use, char *what, size_t what_len,
			 struct err *e)
{
	*in_use = false;
	if (what && what_len)
		what[0] = '\0';
	struct run_opts o = {.dry_ok = true, .timeout_ms = 10000};
	struct run_result routes = {0}, addrs = {0};
	const char *route_argv[] = {"ip", "-j", "-4", "route", "show", "table", "all", NULL};
	const char *addr_argv[] = {"ip", "-j", "-4", "addr", "show", NULL};
	int rc = runner_run(route_argv, &o, &routes, e);
	if (rc == 0)
		rc = runner_run(addr_argv, &o, &addrs, e);
	if (rc == 0)
		rc = subnet_conflict_in(cidr, except_dev, routes.out, addrs.out, in_use, what, what_len, e);
	run_result_free(&routes);
	run_result_free(&addrs);
	if (rc < 0)
		err_prefix(e, "cannot check whether subnet %s is free", cidr);
	return rc;
}

int host_subnet_in_use(const char *cidr, bool *in_use, struct err *e)
{
	return host_subnet_conflict(cidr, NULL, in_use, NULL, 0, e);
}

/* Lines of /proc/net/{tcp,udp}[6]: "sl local_address:PORT rem_address st ...", hex. */
static bool port_in_table(const char *path, uint16_t port, bool tcp)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	char line[512];
	bool found = false;
	if (!fgets(line, sizeof(line), f))   /* the header */
		line[0] = '\0';
	while (!found && fgets(line, sizeof(line), f)) {
		char local[64], remote[64];
		unsigned st = 0;
		if (sscanf(line, " %*s %63s %63s %x", local, remote, &st) != 3)
			continue;
		const char *colon = strrchr(local, ':');
		unsigned p = colon ? (unsigned)strtoul(colon + 1, NULL, 16) : 0;
		found = p == port && (!tcp || st == 0x0a);   /* TCP_LISTEN */
	}
	fclose(f);
	return found;
}

int host_port_in_use(enum proto proto, uint16_t port, bool *in_use, struct err *e)
{
	(void)e;
	bool tcp = proto == PROTO_TCP;
	*in_use = port_in_table(tcp ? "/proc/net/tcp" : "/proc/net/udp", port, tcp) ||
		  port_in_table(tcp ? "/proc/net/tcp6" : "/proc/net/udp6", port, tcp);
	return 0;
}
