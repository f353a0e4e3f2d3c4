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

#include "host/bridge-priv.h"
#include "host/bridge.h"
#include "host/disk.h"
#include "host/dnsmasq.h"
#include "host/metadata.h"
#include "host/nft.h"
#include "host/seed.h"
#include "util/fs.h"
#include "util/runner.h"
#include "util/str.h"

/* Every dry-run test starts from an empty capture and ends outside dry-run. */
static int dry_setup(void **state)
{
	(void)state;
	runner_set_dry_run(true);
	free(runner_take_capture());
	return 0;
}

static int dry_teardown(void **state)
{
	(void)state;
	free(runner_take_capture());
	runner_set_dry_run(false);
	return 0;
}

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
		{"52:54:00:12:34:56", "10.77.3.10", "web1"},
		{"52:54:00:AB:cd:ef", "10.77.3.11", NULL},
		{"52:54:00:00:00:01", "10.77.3.12", "bad,name"},   /* not a DNS label: left out */
	};
	char *text = dnsmasq_hosts_render(h, 3);
	assert_string_equal(text, "52:54:00:12:34:56,10.77.3.10,web1\n"
				  "52:54:00:AB:cd:ef,10.77.3.11\n"
				  "52:54:00:00:00:01,10.77.3.12\n");
	free(text);
	text = dnsmasq_hosts_render(NULL, 0);
	assert_string_equal(text, "");
	free(text);
	const struct dhcp_host bad[] = {{"52:54:00:12:34:56\n", "10.77.3.10", "x"}};
	assert_null(dnsmasq_hosts_render(bad, 1));
	const struct dhcp_host bad_ip[] = {{"52:54:00:12:34:56", "10.77.3.300", "x"}};
	assert_null(dnsmasq_hosts_render(bad_ip, 1));
}

static void test_dnsmasq_dry_run(void **state)
{
	(void)state;
	autofree char *dir = temp_dir();
	struct dnsmasq_config c = dcfg;
	c.dir = dir;
	struct err e = {0};
	assert_int_equal(dnsmasq_ensure(&c, &e), 0);
	autofree char *conf_path = xasprintf("%s/dnsmasq.conf", dir);
	autofree char *hosts_path = xasprintf("%s/hosts", dir);
	autofree char *want_conf = dnsmasq_conf_render(&c);
	autofree char *conf = read_text(conf_path);
	assert_string_equal(conf, want_conf);
	autofree char *hosts = read_text(hosts_path);
	assert_string_equal(hosts, "");
	/* Unchanged configuration: nothing more to do. */
	assert_int_equal(dnsmasq_ensure(&c, &e), 0);
	const struct dhcp_host h[] = {{"52:54:00:12:34:56", "10.77.3.10", "web1"}};
	assert_int_equal(dnsmasq_hosts_write(dir, h, 1, &e), 0);
	assert_int_equal(dnsmasq_hosts_write(dir, h, 1, &e), 0);   /* unchanged: no reload */
	/* A changed network restarts dnsmasq. */
	c.range_end = "10.77.3.100";
	assert_int_equal(dnsmasq_ensure(&c, &e), 0);
	assert_int_equal(dnsmasq_stop(dir, &e), 0);
	autofree char *want = xasprintf("dnsmasq --conf-file=%s/dnsmasq.conf\n"
					"reload dnsmasq %s\n"
					"dnsmasq --conf-file=%s/dnsmasq.conf\n"
					"stop dnsmasq %s\n",
					dir, dir, dir, dir);
	assert_capture(want);
	autofree char *hosts2 = read_text(hosts_path);
	assert_string_equal(hosts2, "52:54:00:12:34:56,10.77.3.10,web1\n");

	const struct dhcp_host bad[] = {{"nope", "10.77.3.10", "web1"}};
	assert_true(dnsmasq_hosts_write(dir, bad, 1, &e) < 0);
	assert_non_null(strstr(e.msg, "mac \"nope\""));
	assert_int_equal(fs_rm_rf(dir, &e), 0);
}

/* --- nftables ----------------------------------------------------------- */

static void test_nft_ruleset_text(void **state)
{
	(void)state;
	const struct nft_network nets[] = {
		{"nbbr1", "10.77.3.0/24", true, NULL, 0},
		{"nbbr2", "10.77.4.0/24", false, NULL, 0},
	};
	char *rs = nft_ruleset_render("nubo_ab12", nets, 2);
	assert_string_equal(rs,
		"# Written by nubo; the whole table is replaced at once.\n"
		"table ip nubo_ab12\n"
		"delete table ip nubo_ab12\n"
		"table ip nubo_ab12 {\n"
		"\tchain postrouting {\n"
		"\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
		"\t\tip saddr 10.77.3.0/24 oifname != \"nbbr1\" masquerade\n"
		"\t}\n"
		"\tchain forward {\n"
		"\t\ttype filter hook forward priority filter; policy accept;\n"
		"\t\tiifname \"nbbr1\" ip saddr 10.77.3.0/24 accept\n"
		"\t\tiifname \"nbbr1\" drop\n"
		"\t\toifname \"nbbr1\" ct state established,related accept\n"
		"\t\toifname \"nbbr1\" drop\n"
		"\t\tiifname \"nbbr2\" ip saddr 10.77.4.0/24 accept\n"
		"\t\tiifname \"nbbr2\" drop\n"
		"\t\toifname \"nbbr2\" ct state established,related accept\n"
		"\t\toifname \"nbbr2\" drop\n"
		"\t}\n"
		"}\n");
	free(rs);
}

/* The metadata service's part: DNAT of 169.254.169.254:80 per bridge, and
 * the metadata port open in input only from that bridge. */
static void test_nft_metadata_text(void **state)
{
	(void)state;
	const struct nft_network nets[] = {
		{"nbbr1", "10.77.3.0/24", false, "10.77.3.1", 8775},
		{"nbbr2", "10.77.4.0/24", false, NULL, 0},
		{"nbbr3", "10.77.5.0/24", false, "10.77.5.1", 9000},
	};
	char *rs = nft_ruleset_render("nubo_ab12", nets, 3);
	assert_string_equal(rs,
		"# Written by nubo; the whole table is replaced at once.\n"
		"table ip nubo_ab12\n"
		"delete table ip nubo_ab12\n"
		"table ip nubo_ab12 {\n"
		"\tchain postrouting {\n"
		"\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
		"\t}\n"
		"\tchain forward {\n"
		"\t\ttype filter hook forward priority filter; policy accept;\n"
		"\t\tiifname \"nbbr1\" ip saddr 10.77.3.0/24 accept\n"
		"\t\tiifname \"nbbr1\" drop\n"
		"\t\toifname \"nbbr1\" ct state established,related accept\n"
		"\t\toifname \"nbbr1\" drop\n"
		"\t\tiifname \"nbbr2\" ip saddr 10.77.4.0/24 accept\n"
		"\t\tiifname \"nbbr2\" drop\n"
		"\t\toifname \"nbbr2\" ct state established,related accept\n"
		"\t\toifname \"nbbr2\" drop\n"
		"\t\tiifname \"nbbr3\" ip saddr 10.77.5.0/24 accept\n"
		"\t\tiifname \"nbbr3\" drop\n"
		"\t\toifname \"nbbr3\" ct state established,related accept\n"
		"\t\toifname \"nbbr3\" drop\n"
		"\t}\n"
		"\tchain prerouting {\n"
		"\t\ttype nat hook prerouting priority dstnat; policy accept;\n"
		"\t\tiifname \"nbbr1\" ip daddr 169.254.169.254 tcp dport 80 dnat to 10.77.3.1:8775\n"
		"\t\tiifname \"nbbr3\" ip daddr 169.254.169.254 tcp dport 80 dnat to 10.77.5.1:9000\n"
		"\t}\n"
		"\tchain input {\n"
		"\t\ttype filter hook input priority filter; policy accept;\n"
		"\t\tiifname \"nbbr1\" ip daddr 10.77.3.1 tcp dport 8775 accept\n"
		"\t\tip daddr 10.77.3.1 tcp dport 8775 drop\n"
		"\t\tiifname \"nbbr3\" ip daddr 10.77.5.1 tcp dport 9000 accept\n"
		"\t\tip daddr 10.77.5.1 tcp dport 9000 drop\n"
		"\t}\n"
		"}\n");
	free(rs);
	const struct nft_network evil_gw[] = {{"nbbr1", "10.77.3.0/24", false, "10.77.3.1 accept", 8775}};
	assert_null(nft_ruleset_render("nubo", evil_gw, 1));
	const struct nft_network no_gw[] = {{"nbbr1", "10.77.3.0/24", false, NULL, 8775}};
	assert_null(nft_ruleset_render("nubo", no_gw, 1));
	const struct nft_network bad_port[] = {{"nbbr1", "10.77.3.0/24", false, "10.77.3.1", 70000}};
	assert_null(nft_ruleset_render("nubo", bad_port, 1));
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
	assert_int_equal(metadata_listen("default", "nbbr1", "10.77.3.1", 8775, no_handler, NULL, &l, &e), 0);
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
	const struct nft_network evil[] = {{"nb\" accept; #", "10.77.3.0/24", true, NULL, 0}};
	assert_null(nft_ruleset_render("nubo", evil, 1));
	const struct nft_network evil_cidr[] = {{"nbbr1", "0.0.0.0/0 accept", true, NULL, 0}};
	assert_null(nft_ruleset_render("nubo", evil_cidr, 1));
	assert_null(nft_ruleset_render("nubo; flush ruleset", NULL, 0));
	struct err e = {0};
	assert_true(nft_apply(NULL, &e) < 0);
}

static void test_nft_dry_run(void **state)
{
	(void)state;
	char *rs = nft_ruleset_render("nubo_t", NULL, 0);
	struct err e = {0};
	assert_int_equal(nft_apply(rs, &e), 0);
	assert_int_equal(nft_table_delete("nubo_t", &e), 0);
	assert_capture("nft -f -\n"
		       "<<<# Written by nubo; the whole table is replaced at once.\n"
		       "table ip nubo_t\n"
		       "delete table ip nubo_t\n"
		       "table ip nubo_t {\n"
		       "\tchain postrouting {\n"
		       "\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
		       "\t}\n"
		       "\tchain forward {\n"
		       "\t\ttype filter hook forward priority filter; policy accept;\n"
		       "\t}\n"
		       "}\n"
		       ">>>\n"
		       "nft -f -\n"
		       "<<<table ip nubo_t\n"
		       "delete table ip nubo_t\n"
		       ">>>\n");
	free(rs);
}

/* --- seed --------------------------------------------------------------- */

static void test_seed_meta_data_quoting(void **state)
{
	(void)state;
	const char *keys[] = {
		"ssh-ed25519 AAAAC3Nza alice@laptop",
		"ssh-rsa AAAAB3 \"quoted\" back\\slash: colon #hash",
		"ssh-rsa AAAA evil\npublic-keys: [injected]\ttab\x01",
	};
	struct seed s = {.instance_id = "vm-0123456789ab", .hostname = "web1", .ssh_keys = keys, .n_keys = 3};
	char *md = seed_meta_data_render(&s);
	assert_string_equal(md,
		"instance-id: \"vm-0123456789ab\"\n"
		"local-hostname: \"web1\"\n"
		"public-keys:\n"
		"  - \"ssh-ed25519 AAAAC3Nza alice@laptop\"\n"
		"  - \"ssh-rsa AAAAB3 \\\"quoted\\\" back\\\\slash: colon #hash\"\n"
		"  - \"ssh-rsa AAAA evil\\npublic-keys: [injected]\\ttab\\x01\"\n");
	free(md);
	struct seed none = {.instance_id = "vm-1", .hostname = "h"};
	md = seed_meta_data_render(&none);
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
	struct seed s = {.instance_id = "vm-1", .hostname = "h", .ssh_keys = keys, .n_keys = 1,
			 .user_data = "#!/bin/sh\necho hi\n"};
	struct err e = {0};
	assert_int_equal(seed_iso_build(&s, work, iso, &e), 0);
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

static void test_links_dry_run(void **state)
{
	(void)state;
	struct err e = {0};
	assert_int_equal(bridge_ensure("nbbr1", "10.77.3.1/24", &e), 0);
	assert_int_equal(tap_ensure("nbt1", "nbbr1", &e), 0);
	assert_int_equal(ip_forward_enable(&e), 0);
	assert_int_equal(tap_remove("nbt1", &e), 0);
	assert_int_equal(bridge_remove("nbbr1", &e), 0);
	assert_false(link_exists("lo"));   /* dry-run sees no links */
	assert_capture("ip link add name nbbr1 type bridge\n"
		       "ip addr replace 10.77.3.1/24 dev nbbr1\n"
		       "ip link set dev nbbr1 up\n"
		       "ip tuntap add dev nbt1 mode tap\n"
		       "ip link set dev nbt1 master nbbr1 up\n"
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
	assert_capture("");
	assert_true(link_name_valid("nb0123456789abc"));
	assert_false(link_name_valid("nb0123456789abcd"));
}

static void test_disk_overlay_dry_run(void **state)
{
	(void)state;
	struct err e = {0};
	assert_int_equal(disk_overlay_create("/s/images/img-1/disk.qcow2", "/s/vms/vm-1/root.qcow2", &e), 0);
	assert_int_equal(disk_overlay_create_sized("/s/images/img-1/disk.qcow2", "/s/vms/vm-2/root.qcow2",
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
		cmocka_unit_test_setup_teardown(test_dnsmasq_dry_run, dry_setup, dry_teardown),
		cmocka_unit_test(test_nft_ruleset_text),
		cmocka_unit_test(test_nft_metadata_text),
		cmocka_unit_test(test_metadata_arp),
		cmocka_unit_test_setup_teardown(test_metadata_dry_run, dry_setup, dry_teardown),
		cmocka_unit_test(test_metadata_listen_errors),
		cmocka_unit_test(test_nft_rejects_injection),
		cmocka_unit_test_setup_teardown(test_nft_dry_run, dry_setup, dry_teardown),
		cmocka_unit_test(test_seed_meta_data_quoting),
		cmocka_unit_test_setup_teardown(test_seed_iso_dry_run, dry_setup, dry_teardown),
		cmocka_unit_test_setup_teardown(test_links_dry_run, dry_setup, dry_teardown),
		cmocka_unit_test_setup_teardown(test_links_reject_bad_names, dry_setup, dry_teardown),
		cmocka_unit_test_setup_teardown(test_disk_overlay_dry_run, dry_setup, dry_teardown),
		cmocka_unit_test(test_subnet_conflicts),
		cmocka_unit_test_setup_teardown(test_host_subnet_in_use_runs_in_dry_run, dry_setup, dry_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
