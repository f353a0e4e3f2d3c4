/* Unit tests for host networking and guest seeding: the exact text of
 * dnsmasq.conf, the DHCP hosts file, the nftables ruleset and the NoCloud
 * meta-data, and the command lines the dry-run runner captures for links,
 * disks, seeds, dnsmasq and nft. No root, no network. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <dirent.h>
#include <poll.h>
#include <pthread.h>

#include "host/hostops.h"
#include "host/bridge-priv.h"
#include "host/bridge.h"
#include "host/disk.h"
#include "host/dnsmasq.h"
#include "host/metadata.h"
#include "host/nft.h"
#include "host/probe.h"
#include "host/seed.h"
#include "util/fs.h"
#include "util/runner.h"
#include "util/str.h"
#include "util/timeutil.h"

#include "dry-run.h"

static void assert_capture(const char *expected)
{
	char *cap = runner_take_capture();
	assert_string_equal(cap, expected);
	free(cap);
}

static char *temp_dir(void)
{
	char tmpl[] = "/tmp/nubo-test-host-XXXXXX";
	assert_non_null(mkdtemp(tmpl));
	return xstrdup(tmpl);
}

static char *read_text(const char *path)
{
	char *s = NULL;
	assert_int_equal(fs_read_file(path, 1 << 20, &s, NULL, NULL), 0);
	return s;
}

/* --- dnsmasq ------------------------------------------------------------ */

static const struct dnsmasq_config dcfg = {
	.dir = "/s/networks/net-1",
	.bridge = "nbbr1",
	.gateway_ip = "10.77.3.1",
	.netmask = "255.255.255.0",
	.range_start = "10.77.3.2",
	.range_end = "10.77.3.254",
};

#define DNSMASQ_CONF \
	"# Written by nubo for one network; changes are overwritten.\n" \
	"interface=nbbr1\n" \
	"bind-dynamic\n" \
	"except-interface=lo\n" \
	"dhcp-range=10.77.3.2,10.77.3.254,255.255.255.0,12h\n" \
	"dhcp-ignore=tag:!known\n" \
	"dhcp-authoritative\n" \
	"dhcp-option=option:router,10.77.3.1\n" \
	"dhcp-option=tag:secondary,option:router\n" \
	"dhcp-option=option:dns-server,10.77.3.1\n" \
	"dhcp-hostsfile=/s/networks/net-1/hosts\n" \
	"dhcp-leasefile=/s/networks/net-1/leases\n" \
	"pid-file=/s/networks/net-1/dnsmasq.pid\n" \
	"no-hosts\n" \
	"domain-needed\n" \
	"bogus-priv\n"

static void test_dnsmasq_conf_text(void **state)
{
	(void)state;
	char *conf = dnsmasq_conf_render(&dcfg);
	assert_string_equal(conf, DNSMASQ_CONF);
	free(conf);
	struct dnsmasq_config evil = dcfg;
	evil.bridge = "nbbr1\ndhcp-script=/tmp/x";
	assert_null(dnsmasq_conf_render(&evil));
	evil = dcfg;
	evil.gateway_ip = "10.77.3.1\nport=0";
	assert_null(dnsmasq_conf_render(&evil));
	struct err e = {0};
	assert_true(dnsmasq_ensure(&evil, &e) < 0);
}

static void test_dnsmasq_hosts_text(void **state)
{
	(void)state;
	const struct dhcp_host h[] = {
		{"52:54:00:12:34:56", "10.77.3.10", "web1", false},
		{"52:54:00:AB:cd:ef", "10.77.3.11", NULL, false},
		{"52:54:00:00:00:01", "10.77.3.12", "bad,name", false},   /* not a DNS label: left out */
		{"52:54:00:00:00:02", "10.77.3.13", "db1", true},         /* a second NIC: no default route */
	};
	char *text = dnsmasq_hosts_render(h, 4);
	assert_string_equal(text, "52:54:00:12:34:56,10.77.3.10,web1\n"
				  "52:54:00:AB:cd:ef,10.77.3.11\n"
				  "52:54:00:00:00:01,10.77.3.12\n"
				  "52:54:00:00:00:02,set:secondary,10.77.3.13,db1\n");
	free(text);
	text = dnsmasq_hosts_render(NULL, 0);
	assert_string_equal(text, "");
	free(text);
	const struct dhcp_host bad[] = {{"52:54:00:12:34:56\n", "10.77.3.10", "x", false}};
	assert_null(dnsmasq_hosts_render(bad, 1));
	const struct dhcp_host bad_ip[] = {{"52:54:00:12:34:56", "10.77.3.300", "x", false}};
	assert_null(dnsmasq_hosts_render(bad_ip, 1));
}

/* A lease no reservation stands for (a deleted VM's that dnsmasq did not
 * end) goes before dnsmasq starts again; the rest stay as they are. */
static void test_dnsmasq_leases_prune(void **state)
{
	(void)state;
	autofree char *dir = temp_dir();
	autofree char *hosts = xasprintf("%s/hosts", dir);
	autofree char *leases = xasprintf("%s/leases", dir);
	struct err e = {0};
	assert_int_equal(dnsmasq_leases_prune(dir, &e), 0);   /* no lease file yet */
	const char *reservations = "52:54:00:00:00:02,set:secondary,10.9.0.3,web2\n52:54:00:00:00:01,10.9.0.2,web1\n";
	assert_int_equal(fs_write_atomic(hosts, reservations, strlen(reservations), 0644, &e), 0);
	const char *text = "1796286158 52:54:00:00:00:0a 10.9.0.3 * 01:52:54:00:00:00:0a\n"
			   "1796286159 52:54:00:00:00:01 10.9.0.2 web1 01:52:54:00:00:00:01\n"
			   "1796286160 52:54:00:00:00:02 10.9.0.9 web2 *\n"
			   "duid 00:01:00:01:aa:bb\n";
	assert_int_equal(fs_write_atomic(leases, text, strlen(text), 0644, &e), 0);
	assert_int_equal(dnsmasq_leases_prune(dir, &e), 0);
	autofree char *left = read_text(leases);
	assert_string_equal(left, "1796286159 52:54:00:00:00:01 10.9.0.2 web1 01:52:54:00:00:00:01\n"
				  "duid 00:01:00:01:aa:bb\n");
	assert_int_equal(fs_rm_rf(dir, &e), 0);
}

static void test_dnsmasq_dry_run(void **state)
{
	(void)state;
	autofree char *dir = temp_dir();
	struct dnsmasq_config c = dcfg;
	c.dir = dir;
	struct err e = {0};
	const struct host_ops *hops = &hostops_recording;
	assert_int_equal(hops->dnsmasq_ensure(&c, &e), 0);
	autofree char *conf_path = xasprintf("%s/dnsmasq.conf", dir);
	autofree char *hosts_path = xasprintf("%s/hosts", dir);
	autofree char *want_conf = dnsmasq_conf_render(&c);
	autofree char *conf = read_text(conf_path);
	assert_string_equal(conf, want_conf);
	autofree char *hosts = read_text(hosts_path);
	assert_string_equal(hosts, "");
	/* Unchanged configuration: nothing more to do. */
	assert_int_equal(hops->dnsmasq_ensure(&c, &e), 0);
	const struct dhcp_host h[] = {{"52:54:00:12:34:56", "10.77.3.10", "web1", false}};
	assert_int_equal(hops->dnsmasq_hosts(dir, h, 1, &e), 0);
	assert_int_equal(hops->dnsmasq_hosts(dir, h, 1, &e), 0);   /* unchanged: no reload */
	/* A changed network restarts dnsmasq. */
	c.range_end = "10.77.3.100";
	assert_int_equal(hops->dnsmasq_ensure(&c, &e), 0);
	assert_int_equal(hops->dnsmasq_stop(dir, &e), 0);
	autofree char *want = xasprintf("dnsmasq --conf-file=%s/dnsmasq.conf\n"
					"reload dnsmasq %s\n"
					"dnsmasq --conf-file=%s/dnsmasq.conf\n"
					"stop dnsmasq %s\n",
					dir, dir, dir, dir);
	assert_capture(want);
	autofree char *hosts2 = read_text(hosts_path);
	assert_string_equal(hosts2, "52:54:00:12:34:56,10.77.3.10,web1\n");

	const struct dhcp_host bad[] = {{"nope", "10.77.3.10", "web1", false}};
	assert_true(hops->dnsmasq_hosts(dir, bad, 1, &e) < 0);
	assert_non_null(strstr(e.msg, "mac \"nope\""));
	assert_int_equal(fs_rm_rf(dir, &e), 0);
}

/* --- nftables ----------------------------------------------------------- */

/* Two networks (NAT and not), a VM with two NICs, one with one; rules by
 * CIDR, by members, ICMP and all; a port forward. */
static const struct nft_network t_nets[] = {
	{"nbab12aaaa", "10.77.3.0/24", "10.77.3.1", true, 8775, NULL, 0},   /* with the metadata service */
	{"nbab12bbbb", "10.20.0.0/24", "10.20.0.1", false, 0, NULL, 0},
};
static const struct nft_nic t_nics1[] = {
	{0, "ntab120123456", "52:54:00:00:00:01", "10.77.3.2"},
	{1, "ntab1201234561", "52:54:00:00:00:02", "10.20.0.10"},
};
static const struct nft_nic t_nics2[] = {{0, "ntab12abcdef", "52:54:00:00:00:03", "10.77.3.3"}};
static const char *const t_members[] = {"10.77.3.2", "10.20.0.10"};
static const struct nft_set t_sets[] = {
	{"fw_0123456789ab", t_members, 2},
	{"fw_abcdef012345", NULL, 0},   /* a firewall without members */
};
static const struct nft_rule t_rules1[] = {
	{PROTO_TCP, 22, 22, "0.0.0.0/0", -1},
	{PROTO_ICMP, 0, 0, "0.0.0.0/0", -1},
	{PROTO_ALL, 0, 0, NULL, 0},
};
static const struct nft_rule t_rules2[] = {
	{PROTO_TCP, 8000, 8100, "192.168.1.0/24", -1},
	{PROTO_UDP, 0, 0, "10.0.0.5/32", -1},
	{PROTO_TCP, 5432, 5432, NULL, 1},   /* from an empty firewall */
};
static const struct nft_vm t_vms[] = {
	{"vm-0123456789ab", t_nics1, 2, t_rules1, 3},
	{"vm-abcdef012345", t_nics2, 1, t_rules2, 3},
};
static const struct nft_forward t_fwd[] = {{PROTO_TCP, 8080, 80, "10.77.3.3", 0}};
static const struct nft_ruleset t_rs = {"nubo_ab12", "nbab12*", "ntab12*", t_nets, 2, t_sets, 2, t_vms, 2, t_fwd, 1, 0, NULL, 0, NULL};

/* Checked by hand and with `nft -c -f`; tests/e2e/network.sh applies such rulesets for real. */
#define NFT_EXPECTED \
	"# Written by nubo; both tables are replaced at once.\n" \
	"table inet nubo_ab12\n" \
	"delete table inet nubo_ab12\n" \
	"table bridge nubo_ab12\n" \
	"delete table bridge nubo_ab12\n" \
	"table ip nubo_ab12\n" \
	"delete table ip nubo_ab12\n" \
	"table inet nubo_ab12 {\n" \
	"\tset fw_0123456789ab {\n" \
	"\t\ttype ipv4_addr\n" \
	"\t\telements = { 10.77.3.2, 10.20.0.10 }\n" \
	"\t}\n" \
	"\tset fw_abcdef012345 {\n" \
	"\t\ttype ipv4_addr\n" \
	"\t}\n" \
	"\tset lb_vips {\n" \
	"\t\ttype ipv4_addr\n" \
	"\t}\n" \
	"\tset lb_host_ports {\n" \
	"\t\ttype inet_service\n" \
	"\t}\n" \
	"\tchain nat_prerouting {\n" \
	"\t\ttype nat hook prerouting priority dstnat; policy accept;\n" \
	"\t\tiifname \"nbab12aaaa\" ip daddr 169.254.169.254 tcp dport 80 dnat ip to 10.77.3.1:8775\n" \
	"\t\tfib daddr type local tcp dport 8080 dnat ip to 10.77.3.3:80\n" \
	"\t}\n" \
	"\tchain nat_output {\n" \
	"\t\ttype nat hook output priority -100; policy accept;\n" \
	"\t\tfib daddr type local tcp dport 8080 dnat ip to 10.77.3.3:80\n" \
	"\t}\n" \
	"\tchain nat_postrouting {\n" \
	"\t\ttype nat hook postrouting priority srcnat; policy accept;\n" \
	"\t\tip saddr 10.77.3.0/24 oifname != \"nbab12aaaa\" masquerade\n" \
	"\t\toifname \"nbab12aaaa\" ip saddr 127.0.0.0/8 masquerade\n" \
	"\t\toifname \"nbab12bbbb\" ip saddr 127.0.0.0/8 masquerade\n" \
	"\t}\n" \
	"\tchain hairpin_mark {\n" \
	"\t\ttype filter hook prerouting priority dstnat + 1; policy accept;\n" \
	"\t\tiifname \"nbab12*\" ct direction original ct status dnat meta mark set meta mark | 0x01000000\n" \
	"\t\tiifname \"nbab12*\" ct direction reply ct status snat ct status dnat meta mark set meta mark | 0x01000000\n" \
	"\t}\n" \
	"\tchain forward {\n" \
	"\t\ttype filter hook forward priority filter; policy accept;\n" \
	"\t\tiifname \"nbab12aaaa\" ip saddr != 10.77.3.0/24 drop\n" \
	"\t\toifname \"nbab12aaaa\" jump to_0\n" \
	"\t\tiifname \"nbab12aaaa\" jump from_0\n" \
	"\t\tiifname \"nbab12bbbb\" ip saddr != 10.20.0.0/24 drop\n" \
	"\t\toifname \"nbab12bbbb\" jump to_1\n" \
	"\t\tiifname \"nbab12bbbb\" jump from_1\n" \
	"\t}\n" \
	"\tchain input {\n" \
	"\t\ttype filter hook input priority filter; policy accept;\n" \
	"\t\tiifname \"nbab12aaaa\" jump in_0\n" \
	"\t\tiifname \"nbab12bbbb\" jump in_1\n" \
	"\t\tip daddr 10.77.3.1 tcp dport 8775 drop\n" \
	"\t}\n" \
	"\tchain output {\n" \
	"\t\ttype filter hook output priority filter; policy accept;\n" \
	"\t\toifname \"nbab12aaaa\" udp sport 67 udp dport 68 accept\n" \
	"\t\toifname \"nbab12aaaa\" jump to_0\n" \
	"\t\toifname \"nbab12bbbb\" udp sport 67 udp dport 68 accept\n" \
	"\t\toifname \"nbab12bbbb\" jump to_1\n" \
	"\t}\n" \
	"\tchain to_0 {\n" \
	"\t\tct state established,related accept\n" \
	"\t\tct state invalid drop\n" \
	"\t\tiifname \"nbab12*\" iifname != \"nbab12aaaa\" drop\n" \
	"\t\tct status dnat ct original ip daddr != @lb_vips meta l4proto != tcp accept\n" \
	"\t\tct status dnat ct original ip daddr != @lb_vips meta l4proto tcp ct original proto-dst != @lb_host_ports accept\n" \
	"\t\tip daddr vmap { 10.77.3.2 : jump vm_0123456789ab, 10.77.3.3 : jump vm_abcdef012345 }\n" \
	"\t\tdrop\n" \
	"\t}\n" \
	"\tchain from_0 {\n" \
	"\t\toifname \"nbab12*\" drop\n" \
	"\t\taccept\n" \
	"\t}\n" \
	"\tchain in_0 {\n" \
	"\t\tct state established,related accept\n" \
	"\t\tudp sport 68 udp dport 67 accept\n" \
	"\t\tip daddr 10.77.3.1 udp dport 53 accept\n" \
	"\t\tip daddr 10.77.3.1 tcp dport 53 accept\n" \
	"\t\tip daddr 10.77.3.1 tcp dport 8775 accept\n" \
	"\t\ticmp type echo-request accept\n" \
	"\t\tdrop\n" \
	"\t}\n" \
	"\tchain to_1 {\n" \
	"\t\tct state established,related accept\n" \
	"\t\tct state invalid drop\n" \
	"\t\tiifname \"nbab12*\" iifname != \"nbab12bbbb\" drop\n" \
	"\t\tct status dnat ct original ip daddr != @lb_vips meta l4proto != tcp accept\n" \
	"\t\tct status dnat ct original ip daddr != @lb_vips meta l4proto tcp ct original proto-dst != @lb_host_ports accept\n" \
	"\t\tip daddr vmap { 10.20.0.10 : jump vm_0123456789ab }\n" \
	"\t\tdrop\n" \
	"\t}\n" \
	"\tchain from_1 {\n" \
	"\t\toifname \"nbab12*\" drop\n" \
	"\t\tdrop\n" \
	"\t}\n" \
	"\tchain in_1 {\n" \
	"\t\tct state established,related accept\n" \
	"\t\tudp sport 68 udp dport 67 accept\n" \
	"\t\tip daddr 10.20.0.1 udp dport 53 accept\n" \
	"\t\tip daddr 10.20.0.1 tcp dport 53 accept\n" \
	"\t\ticmp type echo-request accept\n" \
	"\t\tdrop\n" \
	"\t}\n" \
	"\tchain vm_0123456789ab {\n" \
	"\t\ttcp dport 22 accept\n" \
	"\t\ticmp type echo-request accept\n" \
	"\t\tip saddr @fw_0123456789ab accept\n" \
	"\t\tdrop\n" \
	"\t}\n" \
	"\tchain vm_abcdef012345 {\n" \
	"\t\tip saddr 192.168.1.0/24 tcp dport 8000-8100 accept\n" \
	"\t\tip saddr 10.0.0.5/32 meta l4proto udp accept\n" \
	"\t\tip saddr @fw_abcdef012345 tcp dport 5432 accept\n" \
	"\t\tdrop\n" \
	"\t}\n" \
	"}\n" \
	"table bridge nubo_ab12 {\n" \
	"\tchain prerouting {\n" \
	"\t\ttype filter hook prerouting priority filter; policy accept;\n" \
	"\t\tiifname vmap { \"ntab120123456\" : jump tap_0, \"ntab1201234561\" : jump tap_1, \"ntab12abcdef\" : jump tap_2 }\n" \
	"\t}\n" \
	"\tchain tap_0 {\n" \
	"\t\tether saddr != 52:54:00:00:00:01 drop\n" \
	"\t\tarp saddr ip != { 10.77.3.2, 0.0.0.0 } drop\n" \
	"\t\tip saddr 10.77.3.2 return\n" \
	"\t\tip saddr 0.0.0.0 udp sport 68 udp dport 67 return\n" \
	"\t\tether type ip drop\n" \
	"\t\tether type ip6 drop\n" \
	"\t}\n" \
	"\tchain tap_1 {\n" \
	"\t\tether saddr != 52:54:00:00:00:02 drop\n" \
	"\t\tarp saddr ip != { 10.20.0.10, 0.0.0.0 } drop\n" \
	"\t\tip saddr 10.20.0.10 return\n" \
	"\t\tip saddr 0.0.0.0 udp sport 68 udp dport 67 return\n" \
	"\t\tether type ip drop\n" \
	"\t\tether type ip6 drop\n" \
	"\t}\n" \
	"\tchain tap_2 {\n" \
	"\t\tether saddr != 52:54:00:00:00:03 drop\n" \
	"\t\tarp saddr ip != { 10.77.3.3, 0.0.0.0 } drop\n" \
	"\t\tip saddr 10.77.3.3 return\n" \
	"\t\tip saddr 0.0.0.0 udp sport 68 udp dport 67 return\n" \
	"\t\tether type ip drop\n" \
	"\t\tether type ip6 drop\n" \
	"\t}\n" \
	"\tchain forward {\n" \
	"\t\ttype filter hook forward priority filter; policy accept;\n" \
	"\t\tiifname \"ntab12*\" oifname \"ntab12*\" meta mark & 0x01000000 == 0 drop\n" \
	"\t}\n" \
	"}\n"

static void test_nft_ruleset_text(void **state)
{
	(void)state;
	char *rs = nft_ruleset_render(&t_rs);
	assert_non_null(rs);
	assert_string_equal(rs, NFT_EXPECTED);
	free(rs);
}

/* With the probe's mark: the output chain, and only it, lets the marked SSH
 * probe from each network's gateway through to tcp/22, ahead of the VMs'
 * chains; everything else is the ruleset above. */
static void test_nft_probe_mark(void **state)
{
	(void)state;
	struct nft_ruleset marked = t_rs;
	marked.probe_mark = NFT_PROBE_MARK;
	char *rs = nft_ruleset_render(&marked);
	assert_non_null(rs);
	const char *probe0 = "\t\toifname \"nbab12aaaa\" ip saddr 10.77.3.1 meta mark 0x6e75626f tcp dport 22 accept\n";
	const char *probe1 = "\t\toifname \"nbab12bbbb\" ip saddr 10.20.0.1 meta mark 0x6e75626f tcp dport 22 accept\n";
	const char *out = strstr(rs, "\tchain output {\n");
	assert_non_null(out);
	const char *end = strstr(out, "\t}\n");
	const char *p0 = strstr(out, probe0), *p1 = strstr(out, probe1);
	assert_true(p0 && p0 < end && p0 < strstr(out, "jump to_0"));
	assert_true(p1 && p1 < end && p1 < strstr(out, "jump to_1"));
	/* Taking the two lines out gives the unmarked ruleset back. */
	struct sbuf b = {0};
	sbuf_addn(&b, rs, (size_t)(p0 - rs));
	sbuf_addn(&b, p0 + strlen(probe0), (size_t)(p1 - p0) - strlen(probe0));
	sbuf_add(&b, p1 + strlen(probe1));
	char *back = sbuf_take(&b);
	assert_string_equal(back, NFT_EXPECTED);
	free(back);
	free(rs);
}

/* --- metadata listener -------------------------------------------------- */

static const char *arp_text =
	"IP address       HW type     Flags       HW address            Mask     Device\n"
	"10.0.0.1         0x1         0x2         aa:bb:cc:dd:ee:ff     *        eth0\n"
	"10.77.3.10       0x1         0x2         52:54:00:AB:CD:EF     *        nbbr2\n"
	"10.77.3.10       0x1         0x2         52:54:00:12:34:56     *        nbbr1\n"
	"10.77.3.11       0x1         0x0         00:00:00:00:00:00     *        nbbr1\n";

static void test_metadata_arp(void **state)
{
	(void)state;
	char mac[18] = "";
	assert_true(metadata_arp_find(arp_text, "10.77.3.10", "nbbr1", mac));
	assert_string_equal(mac, "52:54:00:12:34:56");
	assert_true(metadata_arp_find(arp_text, "10.77.3.10", "nbbr2", mac));
	assert_string_equal(mac, "52:54:00:ab:cd:ef");   /* lowercase, as nubo stores MACs */
	assert_false(metadata_arp_find(arp_text, "10.77.3.11", "nbbr1", mac));   /* incomplete entry */
	assert_false(metadata_arp_find(arp_text, "10.77.3.1", "nbbr1", mac));    /* no entry */
	assert_false(metadata_arp_find(arp_text, "10.0.0.1", "nbbr1", mac));     /* another interface */
	assert_false(metadata_arp_find("", "10.77.3.10", "nbbr1", mac));
	assert_false(metadata_arp_find(NULL, "10.77.3.10", "nbbr1", mac));
}

static void no_handler(void *ctx, const struct metadata_request *req, struct metadata_reply *out)
{
	(void)ctx;
	(void)req;
	(void)out;
	fail_msg("dry-run listeners answer nothing");
}

static void test_metadata_dry_run(void **state)
{
	(void)state;
	struct metadata_listener *l = NULL;
	struct err e = {0};
	assert_int_equal(hostops_recording.metadata_listen("default", "nbbr1", "10.77.3.1", 8775, no_handler, NULL, &l, &e),
			 0);
	assert_string_equal(metadata_listener_network(l), "default");
	metadata_stop(l);
	metadata_stop(NULL);
	assert_capture("metadata listen 10.77.3.1:8775 nbbr1\n"
		       "metadata stop 10.77.3.1:8775\n");
}

static void test_metadata_listen_errors(void **state)
{
	(void)state;
	struct metadata_listener *l = NULL;
	struct err e = {0};
	assert_true(metadata_listen("default", "nbbr1", "10.77.3.x", 8775, no_handler, NULL, &l, &e) < 0);
	assert_non_null(strstr(e.msg, "10.77.3.x:8775"));
	assert_true(metadata_listen("default", "nbbr1", "127.0.0.1", 0, no_handler, NULL, &l, &e) < 0);
	/* 192.0.2.1 (TEST-NET-1) is on no host: it cannot be bound. */
	assert_true(metadata_listen("default", "nbbr1", "192.0.2.1", 8775, no_handler, NULL, &l, &e) < 0);
	assert_non_null(strstr(e.msg, "cannot listen on 192.0.2.1:8775"));
}

static void test_nft_rejects_injection(void **state)
{
	(void)state;
	struct nft_network evil_net = t_nets[0];
	struct nft_ruleset rs = t_rs;
	rs.nets = &evil_net;
	rs.n_nets = 1;
	rs.n_vms = 0;
	rs.n_forwards = 0;
	char *fine = nft_ruleset_render(&rs);
	assert_non_null(fine);
	free(fine);
	evil_net.bridge = "nb\" accept; #";
	assert_null(nft_ruleset_render(&rs));
	evil_net = t_nets[0];
	evil_net.cidr = "0.0.0.0/0 accept";
	assert_null(nft_ruleset_render(&rs));
	evil_net = t_nets[0];
	evil_net.gateway = "10.0.0.1; flush ruleset";
	assert_null(nft_ruleset_render(&rs));
	evil_net = t_nets[0];
	evil_net.metadata_port = 70000;
	assert_null(nft_ruleset_render(&rs));
	rs = t_rs;
	rs.table = "nubo; flush ruleset";
	assert_null(nft_ruleset_render(&rs));
	rs = t_rs;
	rs.tap_glob = "nt*\" accept";
	assert_null(nft_ruleset_render(&rs));
	rs.tap_glob = NULL;
	assert_null(nft_ruleset_render(&rs));
	struct nft_nic nic = t_nics2[0];
	struct nft_vm vm = t_vms[1];
	vm.nics = &nic;
	rs = t_rs;
	rs.vms = &vm;
	rs.n_vms = 1;
	nic.mac = "52:54:00:00:00:03 accept";
	assert_null(nft_ruleset_render(&rs));
	nic = t_nics2[0];
	nic.net = 7;   /* no such network */
	assert_null(nft_ruleset_render(&rs));
	nic = t_nics2[0];
	struct nft_rule rule = t_rules2[0];
	vm.rules = &rule;
	vm.n_rules = 1;
	rule.proto = (enum proto)42;   /* would render a bare "accept" */
	assert_null(nft_ruleset_render(&rs));
	rule = t_rules2[2];
	rule.from_set = 2;   /* no such set */
	assert_null(nft_ruleset_render(&rs));
	struct nft_set set = t_sets[0];
	rs = t_rs;
	rs.sets = &set;
	rs.n_sets = 1;
	set.name = "fw_x; flush ruleset";
	assert_null(nft_ruleset_render(&rs));
	struct err e = {0};
	assert_true(nft_apply(NULL, &e) < 0);
}

static void test_nft_dry_run(void **state)
{
	(void)state;
	struct nft_ruleset rs = {.table = "nubo_t", .bridge_glob = "nbt*", .tap_glob = "ntt*"};
	char *text = nft_ruleset_render(&rs);
	struct err e = {0};
	assert_int_equal(nft_apply(text, &e), 0);
	assert_int_equal(nft_table_delete("nubo_t", &e), 0);
	autofree char *want = xasprintf("nft -f -\n<<<%s>>>\n"
					"nft -f -\n"
					"<<<table inet nubo_t\ndelete table inet nubo_t\n"
					"table bridge nubo_t\ndelete table bridge nubo_t\n"
					"table ip nubo_t\ndelete table ip nubo_t\n"
					">>>\n", text);
	assert_capture(want);
	free(text);
}

static void test_seed_network_config(void **state)
{
	(void)state;
	const char *macs[] = {"52:54:00:00:00:01", "52:54:00:00:00:02"};
	struct nocloud one = {.instance_id = "vm-1", .hostname = "a", .macs = macs, .n_macs = 1};
	char *nc1 = nocloud_network_config_render(&one);
	assert_string_equal(nc1, "version: 2\n"
				 "ethernets:\n"
				 "  nic0:\n"
				 "    match:\n"
				 "      macaddress: \"52:54:00:00:00:01\"\n"
				 "    dhcp4: true\n");
	free(nc1);
	struct nocloud none = {.instance_id = "vm-1", .hostname = "a"};
	assert_null(nocloud_network_config_render(&none));
	/* The primary NIC's static address, for guests that skip DHCP. */
	one.ipv4 = "10.77.3.2/24";
	one.gateway = "10.77.3.1";
	char *md = nocloud_meta_data_render(&one);
	assert_string_equal(md, "instance-id: \"vm-1\"\n"
				"local-hostname: \"a\"\n"
				"nubo-ipv4: \"10.77.3.2/24\"\n"
				"nubo-gateway: \"10.77.3.1\"\n"
				"public-keys: []\n");
	free(md);
	struct nocloud two = one;
	two.n_macs = 2;
	char *nc = nocloud_network_config_render(&two);
	assert_string_equal(nc, "version: 2\n"
				"ethernets:\n"
				"  nic0:\n"
				"    match:\n"
				"      macaddress: \"52:54:00:00:00:01\"\n"
				"    dhcp4: true\n"
				"  nic1:\n"
				"    match:\n"
				"      macaddress: \"52:54:00:00:00:02\"\n"
				"    dhcp4: true\n");
	free(nc);
}

static void test_seed_meta_data_quoting(void **state)
{
	(void)state;
	const char *keys[] = {
		"ssh-ed25519 AAAAC3Nza alice@laptop",
		"ssh-rsa AAAAB3 \"quoted\" back\\slash: colon #hash",
		"ssh-rsa AAAA evil\npublic-keys: [injected]\ttab\x01",
	};
	struct nocloud s = {.instance_id = "vm-0123456789ab", .hostname = "web1", .ssh_keys = keys, .n_keys = 3};
	char *md = nocloud_meta_data_render(&s);
	assert_string_equal(md,
		"instance-id: \"vm-0123456789ab\"\n"
		"local-hostname: \"web1\"\n"
		"public-keys:\n"
		"  - \"ssh-ed25519 AAAAC3Nza alice@laptop\"\n"
		"  - \"ssh-rsa AAAAB3 \\\"quoted\\\" back\\\\slash: colon #hash\"\n"
		"  - \"ssh-rsa AAAA evil\\npublic-keys: [injected]\\ttab\\x01\"\n");
	free(md);
	struct nocloud none = {.instance_id = "vm-1", .hostname = "h"};
	md = nocloud_meta_data_render(&none);
	assert_string_equal(md, "instance-id: \"vm-1\"\nlocal-hostname: \"h\"\npublic-keys: []\n");
	free(md);
}

static void test_seed_iso_dry_run(void **state)
{
	(void)state;
	autofree char *dir = temp_dir();
	autofree char *work = xasprintf("%s/seed", dir);
	autofree char *iso = xasprintf("%s/seed.iso", dir);
	const char *keys[] = {"ssh-ed25519 AAAA k"};
	struct nocloud s = {.instance_id = "vm-1", .hostname = "h", .ssh_keys = keys, .n_keys = 1,
			 .user_data = "#!/bin/sh\necho hi\n"};
	struct err e = {0};
	assert_int_equal(hostops_recording.seed_build(&s, work, iso, &e), 0);
	autofree char *want = xasprintf("genisoimage -quiet -output %s.tmp -volid cidata -joliet -rock "
					"%s/user-data %s/meta-data\n", iso, work, work);
	assert_capture(want);
	autofree char *ud_path = xasprintf("%s/user-data", work);
	autofree char *ud = read_text(ud_path);
	assert_string_equal(ud, "#!/bin/sh\necho hi\n");
	assert_false(fs_exists(iso));
	assert_int_equal(fs_rm_rf(dir, &e), 0);
}

/* --- links and disks ---------------------------------------------------- */

/* The recording host looks at no link: every command is captured. */
static void test_links_dry_run(void **state)
{
	(void)state;
	struct err e = {0};
	const struct host_ops *h = &hostops_recording;
	assert_int_equal(h->bridge_ensure("nbbr1", "10.77.3.1/24", &e), 0);
	assert_int_equal(h->tap_ensure("nbt1", "nbbr1", &e), 0);
	assert_int_equal(h->ip_forward(&e), 0);
	assert_int_equal(h->tap_remove("nbt1", &e), 0);
	assert_int_equal(h->bridge_remove("nbbr1", &e), 0);
	assert_true(link_exists("lo"));   /* the real question looks, whatever the runner does */
	assert_capture("ip link add name nbbr1 type bridge\n"
		       "ip addr replace 10.77.3.1/24 dev nbbr1\n"
		       /* VM-to-VM traffic is routed through the host (nft.h) */
		       "write /proc/sys/net/ipv4/conf/nbbr1/proxy_arp_pvlan 1\n"
		       "write /proc/sys/net/ipv4/conf/nbbr1/send_redirects 0\n"
		       "write /proc/sys/net/ipv4/conf/nbbr1/route_localnet 1\n"
		       "ip link set dev nbbr1 up\n"
		       "ip tuntap add dev nbt1 mode tap\n"
		       "ip link set dev nbt1 master nbbr1 up\n"
		       "ip link set dev nbt1 type bridge_slave isolated off hairpin on\n"
		       "write /proc/sys/net/ipv4/ip_forward 1\n"
		       "ip link del dev nbt1\n"
		       "ip link del dev nbbr1\n");
}

static void test_links_reject_bad_names(void **state)
{
	(void)state;
	struct err e = {0};
	assert_true(bridge_ensure("a-name-that-is-too-long", "10.77.3.1/24", &e) < 0);
	assert_true(bridge_ensure("nbbr1", "10.77.3.1", &e) < 0);     /* no prefix length */
	assert_true(tap_ensure("nb t1", "nbbr1", &e) < 0);
	assert_true(tap_remove("", &e) < 0);
	assert_true(neigh_set("nbbr1", "10.77.3.2", "52:54:00:12:34:5", &e) < 0);
	assert_true(neigh_set("nbbr1", "10.77.3.2 nud", "52:54:00:12:34:56", &e) < 0);
	assert_true(neigh_remove("nb br1", "10.77.3.2", &e) < 0);
	assert_capture("");
	assert_int_equal(hostops_recording.neigh_set("nbbr1", "10.77.3.2", "52:54:00:12:34:56", &e), 0);
	assert_int_equal(hostops_recording.neigh_remove("nbbr1", "10.77.3.2", &e), 0);
	assert_capture("ip neigh replace 10.77.3.2 lladdr 52:54:00:12:34:56 dev nbbr1 nud permanent\n"
		       "ip neigh del 10.77.3.2 dev nbbr1\n");
	assert_true(link_name_valid("nb0123456789abc"));
	assert_false(link_name_valid("nb0123456789abcd"));
}

static void test_disk_overlay_dry_run(void **state)
{
	(void)state;
	struct err e = {0};
	assert_int_equal(hostops_recording.disk_overlay("/s/images/img-1/disk.qcow2", "/s/vms/vm-1/root.qcow2", 0, &e), 0);
	assert_int_equal(hostops_recording.disk_overlay("/s/images/img-1/disk.qcow2", "/s/vms/vm-2/root.qcow2",
							10737418240ull, &e), 0);
	assert_capture("qemu-img create -f qcow2 -F qcow2 -b /s/images/img-1/disk.qcow2 /s/vms/vm-1/root.qcow2.tmp\n"
		       "qemu-img create -f qcow2 -F qcow2 -b /s/images/img-1/disk.qcow2 /s/vms/vm-2/root.qcow2.tmp "
		       "10737418240\n");
}

/* --- subnet checks ------------------------------------------------------ */

static const char *routes_json =
	"[{\"dst\":\"default\",\"gateway\":\"10.0.0.1\",\"dev\":\"eth0\",\"flags\":[]},"
	"{\"dst\":\"10.0.0.0/24\",\"dev\":\"eth0\",\"protocol\":\"kernel\",\"scope\":\"link\",\"prefsrc\":\"10.0.0.5\",\"flags\":[]},"
	"{\"dst\":\"172.16.0.0/12\",\"gateway\":\"10.0.0.1\",\"dev\":\"eth0\",\"flags\":[]},"
	"{\"type\":\"local\",\"dst\":\"10.0.0.5\",\"table\":\"local\",\"dev\":\"eth0\",\"flags\":[]},"
	"{\"dst\":\"10.77.3.0/24\",\"dev\":\"nbbr1\",\"flags\":[]}]";
static const char *addrs_json =
	"[{\"ifindex\":1,\"ifname\":\"lo\",\"addr_info\":[{\"family\":\"inet\",\"local\":\"127.0.0.1\",\"prefixlen\":8}]},"
	"{\"ifindex\":2,\"ifname\":\"eth0\",\"addr_info\":[{\"family\":\"inet\",\"local\":\"10.0.0.5\",\"prefixlen\":24}]},"
	"{\"ifindex\":3,\"ifname\":\"nbbr1\",\"addr_info\":[{\"family\":\"inet\",\"local\":\"10.77.3.1\",\"prefixlen\":24}]},"
	"{\"ifindex\":4,\"ifname\":\"wg0\",\"addr_info\":[{\"family\":\"inet\",\"local\":\"192.168.50.2\",\"prefixlen\":32}]}]";

static void assert_conflict(const char *cidr, const char *except, bool want, const char *want_what)
{
	bool in_use = !want;
	char what[128] = "";
	struct err e = {0};
	assert_int_equal(subnet_conflict_in(cidr, except, routes_json, addrs_json, &in_use, what, sizeof(what), &e), 0);
	assert_int_equal(in_use, want);
	if (want_what)
		assert_string_equal(what, want_what);
}

static void test_subnet_conflicts(void **state)
{
	(void)state;
	assert_conflict("10.198.0.0/24", NULL, false, NULL);            /* the default route does not count */
	assert_conflict("10.0.0.0/16", NULL, true, "route 10.0.0.0/24 dev eth0");
	assert_conflict("172.20.1.0/24", NULL, true, "route 172.16.0.0/12 dev eth0");
	assert_conflict("10.77.3.0/24", NULL, true, "route 10.77.3.0/24 dev nbbr1");
	assert_conflict("10.77.3.0/24", "nbbr1", false, NULL);          /* its own bridge */
	assert_conflict("192.168.50.0/24", NULL, true, "address 192.168.50.2/32 on wg0");
	assert_conflict("192.168.51.0/24", NULL, false, NULL);
	assert_conflict("127.0.0.0/30", NULL, true, "address 127.0.0.1/8 on lo");

	bool in_use;
	struct err e = {0};
	assert_true(subnet_conflict_in("10.1.2.0/33", NULL, "[]", "[]", &in_use, NULL, 0, &e) < 0);
	assert_true(subnet_conflict_in("10.1.2.0/24", NULL, "{", "[]", &in_use, NULL, 0, &e) < 0);
	assert_true(cidr_overlap(0x0a000000, 8, 0x0a4d0300, 24));
	assert_false(cidr_overlap(0x0a4d0300, 24, 0x0a4d0400, 24));
}

static void test_host_subnet_in_use_runs_in_dry_run(void **state)
{
	(void)state;
	/* The probe is read-only, so it runs for real even in dry-run and
	 * captures nothing; 127.0.0.0/8 is on every host's loopback. */
	bool in_use = false;
	struct err e = {0};
	assert_int_equal(host_subnet_in_use("127.0.0.0/24", &in_use, &e), 0);
	assert_true(in_use);
	assert_capture("");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dnsmasq_conf_text),
		cmocka_unit_test(test_dnsmasq_hosts_text),
		cmocka_unit_test(test_dnsmasq_leases_prune),
		cmocka_unit_test_setup_teardown(test_dnsmasq_dry_run, dry_setup, dry_teardown),
		cmocka_unit_test(test_nft_ruleset_text),
		cmocka_unit_test(test_nft_probe_mark),
		cmocka_unit_test(test_metadata_arp),
		cmocka_unit_test_setup_teardown(test_metadata_dry_run, dry_setup, dry_teardown),
		cmocka_unit_test(test_metadata_listen_errors),
		cmocka_unit_test(test_nft_rejects_injection),
		cmocka_unit_test_setup_teardown(test_nft_dry_run, dry_setup, dry_teardown),
		cmocka_unit_test(test_seed_meta_data_quoting),
		cmocka_unit_test(test_seed_network_config),
		cmocka_unit_test_setup_teardown(test_seed_iso_dry_run, dry_setup, dry_teardown),
		cmocka_unit_test_setup_teardown(test_links_dry_run, dry_setup, dry_teardown),
		cmocka_unit_test_setup_teardown(test_links_reject_bad_names, dry_setup, dry_teardown),
		cmocka_unit_test_setup_teardown(test_disk_overlay_dry_run, dry_setup, dry_teardown),
		cmocka_unit_test(test_subnet_conflicts),
		cmocka_unit_test_setup_teardown(test_host_subnet_in_use_runs_in_dry_run, dry_setup, dry_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
