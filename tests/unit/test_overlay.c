/* Unit tests for networks across hosts: what overlay_plan writes from what
 * the kernel shows and what the store wants, the bridge MACs, the commands
 * overlay_ensure runs in dry-run, the ruleset's share of it (remote VMs
 * pass to their own host, no frame from a tap to a vxlan device), and the
 * lower MTU in DHCP and the seed. No root, no network. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "host/dnsmasq.h"
#include "host/hostops.h"
#include "host/nft.h"
#include "host/overlay.h"
#include "model/nocloud.h"
#include "util/runner.h"
#include "util/str.h"

static const struct overlay_peer t_peers[] = {
	{"0a:bb:bb:12:34:56", "192.0.2.12"},
	{"0a:cc:cc:12:34:56", "192.0.2.13"},
};
static const struct overlay_route t_routes[] = {
	{"10.77.3.20", "0a:bb:bb:12:34:56"},
	{"10.77.3.30", "0a:cc:cc:12:34:56"},
};
static const struct overlay t_o = {.bridge = "nbaaaa1234", .vxlan = "nxaaaa1234", .bridge_mac = "0a:aa:aa:12:34:56",
				   .vni = 7, .local = "192.0.2.11", .port = 4789, .peers = t_peers, .n_peers = 2,
				   .routes = t_routes, .n_routes = 2};

static void test_bridge_mac(void **state)
{
	(void)state;
	char mac[18];
	overlay_bridge_mac("aaaa", "net-123456789abc", mac);
	assert_string_equal(mac, "0a:aa:aa:12:34:56");
	overlay_bridge_mac("0b1c", "net-ffeedd", mac);
	assert_string_equal(mac, "0a:0b:1c:ff:ee:dd");
}

/* Nothing there yet: every entry is written. */
static void test_plan_from_nothing(void **state)
{
	(void)state;
	char *fdb = NULL, *neigh = NULL;
	struct err e = {0};
	assert_int_equal(overlay_plan(&t_o, "[]", "", &fdb, &neigh, &e), 0);
	assert_string_equal(fdb, "fdb replace 0a:bb:bb:12:34:56 dev nxaaaa1234 master static\n"
				 "fdb replace 0a:bb:bb:12:34:56 dev nxaaaa1234 dst 192.0.2.12 self permanent\n"
				 "fdb replace 0a:cc:cc:12:34:56 dev nxaaaa1234 master static\n"
				 "fdb replace 0a:cc:cc:12:34:56 dev nxaaaa1234 dst 192.0.2.13 self permanent\n");
	assert_string_equal(neigh, "neigh replace 10.77.3.20 lladdr 0a:bb:bb:12:34:56 dev nbaaaa1234 nud permanent\n"
				   "neigh replace 10.77.3.30 lladdr 0a:cc:cc:12:34:56 dev nbaaaa1234 nud permanent\n");
	free(fdb);
	free(neigh);
}

/* What the kernel shows (the shapes of `bridge -j fdb` and `ip -j neigh`):
 * entries already right stay, a gone host's and a gone VM's go, a moved
 * VM's is replaced, and what is not the overlay's (the device's own MAC,
 * a local VM's pinned entry, a learnt one) is left alone. */
static void test_plan_diff(void **state)
{
	(void)state;
	const char *fdb_json =
		"[{\"mac\":\"0a:bb:bb:12:34:56\",\"flags\":[],\"master\":\"nbaaaa1234\",\"state\":\"static\"},"
		"{\"mac\":\"36:81:df:0b:74:97\",\"flags\":[],\"master\":\"nbaaaa1234\",\"state\":\"permanent\"},"
		"{\"mac\":\"0a:bb:bb:12:34:56\",\"dst\":\"192.0.2.12\",\"flags\":[\"self\"],\"state\":\"permanent\"},"
		"{\"mac\":\"0a:dd:dd:12:34:56\",\"flags\":[],\"master\":\"nbaaaa1234\",\"state\":\"static\"},"
		"{\"mac\":\"0a:dd:dd:12:34:56\",\"dst\":\"192.0.2.14\",\"flags\":[\"self\"],\"state\":\"permanent\"},"
		"{\"mac\":\"0a:cc:cc:12:34:56\",\"dst\":\"192.0.2.99\",\"flags\":[\"self\"],\"state\":\"permanent\"}]";
	const char *neigh_json =
		"[{\"dst\":\"10.77.3.20\",\"lladdr\":\"0a:bb:bb:12:34:56\",\"state\":[\"PERMANENT\"]},"
		"{\"dst\":\"10.77.3.30\",\"lladdr\":\"0a:dd:dd:12:34:56\",\"state\":[\"PERMANENT\"]},"
		"{\"dst\":\"10.77.3.40\",\"lladdr\":\"0a:dd:dd:12:34:56\",\"state\":[\"PERMANENT\"]},"
		"{\"dst\":\"10.77.3.2\",\"lladdr\":\"52:54:00:00:00:01\",\"state\":[\"PERMANENT\"]},"
		"{\"dst\":\"10.77.3.9\",\"lladdr\":\"0a:ee:ee:00:00:01\",\"state\":[\"REACHABLE\"]}]";
	char *fdb = NULL, *neigh = NULL;
	struct err e = {0};
	assert_int_equal(overlay_plan(&t_o, fdb_json, neigh_json, &fdb, &neigh, &e), 0);
	assert_string_equal(fdb, "fdb del 0a:dd:dd:12:34:56 dev nxaaaa1234 master\n"
				 "fdb del 0a:dd:dd:12:34:56 dev nxaaaa1234 dst 192.0.2.14 self\n"
				 "fdb replace 0a:cc:cc:12:34:56 dev nxaaaa1234 master static\n"
				 "fdb replace 0a:cc:cc:12:34:56 dev nxaaaa1234 dst 192.0.2.13 self permanent\n");
	assert_string_equal(neigh, "neigh del 10.77.3.40 dev nbaaaa1234\n"
				   "neigh replace 10.77.3.30 lladdr 0a:cc:cc:12:34:56 dev nbaaaa1234 nud permanent\n");
	free(fdb);
	free(neigh);
	/* Everything right: nothing to run. */
	const char *fdb_ok =
		"[{\"mac\":\"0a:bb:bb:12:34:56\",\"master\":\"b\",\"state\":\"static\"},"
		"{\"mac\":\"0a:bb:bb:12:34:56\",\"dst\":\"192.0.2.12\",\"state\":\"permanent\"},"
		"{\"mac\":\"0a:cc:cc:12:34:56\",\"master\":\"b\",\"state\":\"static\"},"
		"{\"mac\":\"0a:cc:cc:12:34:56\",\"dst\":\"192.0.2.13\",\"state\":\"permanent\"}]";
	const char *neigh_ok = "[{\"dst\":\"10.77.3.20\",\"lladdr\":\"0a:bb:bb:12:34:56\",\"state\":[\"PERMANENT\"]},"
			       "{\"dst\":\"10.77.3.30\",\"lladdr\":\"0a:cc:cc:12:34:56\",\"state\":[\"PERMANENT\"]}]";
	assert_int_equal(overlay_plan(&t_o, fdb_ok, neigh_ok, &fdb, &neigh, &e), 0);
	assert_string_equal(fdb, "");
	assert_string_equal(neigh, "");
	free(fdb);
	free(neigh);
}

/* A name, address or MAC that could smuggle a command into a batch is refused. */
static void test_plan_rejects(void **state)
{
	(void)state;
	char *fdb = NULL, *neigh = NULL;
	struct err e = {0};
	struct overlay_route evil_route[] = {{"10.77.3.20\nlink del eth0", "0a:bb:bb:12:34:56"}};
	struct overlay o = t_o;
	o.routes = evil_route;
	o.n_routes = 1;
	assert_int_equal(overlay_plan(&o, "[]", "[]", &fdb, &neigh, &e) < 0, 1);
	struct overlay_peer evil_peer[] = {{"0a:bb:bb:12:34:56 x", "192.0.2.12"}};
	o = t_o;
	o.peers = evil_peer;
	o.n_peers = 1;
	assert_int_equal(overlay_plan(&o, "[]", "[]", &fdb, &neigh, &e) < 0, 1);
	o = t_o;
	o.vni = 1 << 24;
	assert_int_equal(overlay_plan(&o, "[]", "[]", &fdb, &neigh, &e) < 0, 1);
	o = t_o;
	assert_int_equal(overlay_plan(&o, "{", "[]", &fdb, &neigh, &e) < 0, 1);
}

static void test_ensure_dry_run(void **state)
{
	(void)state;
	runner_set_dry_run(true);
	free(runner_take_capture());
	struct overlay o = t_o;
	o.n_routes = 1;
	o.n_peers = 1;
	struct err e = {0};
	assert_int_equal(hostops_recording.overlay_ensure(&o, &e), 0);
	assert_int_equal(hostops_recording.overlay_remove("nxaaaa1234", &e), 0);
	char *got = runner_take_capture();
	assert_string_equal(got, "ip link set dev nbaaaa1234 address 0a:aa:aa:12:34:56\n"
				 "ip link add nxaaaa1234 mtu 1450 type vxlan id 7 local 192.0.2.11 dstport 4789 nolearning\n"
				 "ip link set dev nxaaaa1234 master nbaaaa1234 up\n"
				 "bridge link set dev nxaaaa1234 learning off\n"
				 "bridge -j fdb show dev nxaaaa1234\n"
				 "ip -j neigh show dev nbaaaa1234\n"
				 "bridge -force -batch -\n"
				 "<<<fdb replace 0a:bb:bb:12:34:56 dev nxaaaa1234 master static\n"
				 "fdb replace 0a:bb:bb:12:34:56 dev nxaaaa1234 dst 192.0.2.12 self permanent\n>>>\n"
				 "ip -force -batch -\n"
				 "<<<neigh replace 10.77.3.20 lladdr 0a:bb:bb:12:34:56 dev nbaaaa1234 nud permanent\n>>>\n"
				 "ip link del dev nxaaaa1234\n");
	free(got);
	runner_set_dry_run(false);
}

/* In a cluster: a remote VM's address passes to_0 (its host filters), and
 * the bridge table drops frames from a tap to a vxlan device. One host
 * (vxlan_glob NULL, no remote addresses) renders neither. */
static void test_nft_cluster(void **state)
{
	(void)state;
	const char *remote[] = {"10.77.3.20"};
	struct nft_network net = {"nbab12aaaa", "10.77.3.0/24", "10.77.3.1", true, 0, remote, 1};
	struct nft_nic nic = {0, "ntab120123456", "52:54:00:00:00:01", "10.77.3.2"};
	struct nft_vm vm = {"vm-0123456789ab", &nic, 1, NULL, 0};
	struct nft_ruleset rs = {.table = "nubo_ab12", .bridge_glob = "nbab12*", .tap_glob = "ntab12*", .nets = &net,
				 .n_nets = 1, .vms = &vm, .n_vms = 1, .vxlan_glob = "nxab12*"};
	autofree char *text = nft_ruleset_render(&rs);
	assert_non_null(text);
	assert_non_null(strstr(text, "\t\tip daddr vmap { 10.77.3.2 : jump vm_0123456789ab, 10.77.3.20 : accept }\n"));
	assert_non_null(strstr(text, "\t\tiifname \"ntab12*\" oifname \"nxab12*\" meta mark & 0x01000000 == 0 drop\n"));
	net.n_remote_ips = 0;
	rs.vxlan_glob = NULL;
	autofree char *one = nft_ruleset_render(&rs);
	assert_null(strstr(one, "accept }"));
	assert_null(strstr(one, "nxab12"));
	const char *evil[] = {"10.77.3.20 } drop"};
	net.remote_ips = evil;
	net.n_remote_ips = 1;
	assert_null(nft_ruleset_render(&rs));
}

static void test_mtu(void **state)
{
	(void)state;
	struct dnsmasq_config dc = {.dir = "/s/n", .bridge = "nbbr1", .gateway_ip = "10.77.3.1",
				    .netmask = "255.255.255.0", .range_start = "10.77.3.2", .range_end = "10.77.3.254"};
	autofree char *one = dnsmasq_conf_render(&dc);
	assert_null(strstr(one, "option:mtu"));
	dc.mtu = OVERLAY_MTU;
	autofree char *conf = dnsmasq_conf_render(&dc);
	assert_non_null(strstr(conf, "dhcp-option=option:mtu,1450\n"));

	const char *macs[] = {"52:54:00:00:00:01"};
	struct nocloud s = {.instance_id = "vm-1", .hostname = "a", .macs = macs, .n_macs = 1,
			    .ipv4 = "10.77.3.2/24", .gateway = "10.77.3.1", .mtu = OVERLAY_MTU};
	autofree char *nc = nocloud_network_config_render(&s);
	assert_string_equal(nc, "version: 2\n"
				"ethernets:\n"
				"  nic0:\n"
				"    match:\n"
				"      macaddress: \"52:54:00:00:00:01\"\n"
				"    dhcp4: true\n"
				"    mtu: 1450\n");
	autofree char *md = nocloud_meta_data_render(&s);
	assert_non_null(strstr(md, "nubo-gateway: \"10.77.3.1\"\nnubo-mtu: 1450\n"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bridge_mac),
		cmocka_unit_test(test_plan_from_nothing),
		cmocka_unit_test(test_plan_diff),
		cmocka_unit_test(test_plan_rejects),
		cmocka_unit_test(test_ensure_dry_run),
		cmocka_unit_test(test_nft_cluster),
		cmocka_unit_test(test_mtu),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
