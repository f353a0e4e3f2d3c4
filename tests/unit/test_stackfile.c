/* Unit tests: the stack file parser (cli/stackfile.c) and the stack
 * document's checks (model/stack.c): YAML to JSON with positions, what is
 * refused and where the error points, normalized specs and dependency order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli/stackfile.h"
#include "model/stack.h"

/* Parses and checks text; returns the error message ("" on success) in msg. */
static int check(const char *text, char msg[1024], struct stack *st)
{
	struct stackfile sf;
	struct err e = {0};
	struct stack tmp;
	int rc = stackfile_parse("s.yaml", text, strlen(text), NULL, &sf, &e);
	if (rc == 0)
		rc = stackfile_check(&sf, st ? st : &tmp, &e);
	if (rc == 0 && !st)
		stack_free(&tmp);
	snprintf(msg, 1024, "%s", rc == 0 ? "" : e.msg);
	stackfile_free(&sf);
	return rc < 0 ? -1 : 0;
}

static void test_scalars_and_positions(void **state)
{
	(void)state;
	const char *text = "stack: s\nnetworks:\n  n: {cidr: 10.1.0.0/24, nat: false}\n"
			   "vms:\n  a:\n    disk_size: 20G\n    forwards: [\"8080:80\"]\n";
	struct stackfile sf;
	struct err e = {0};
	assert_int_equal(stackfile_parse("s.yaml", text, strlen(text), NULL, &sf, &e), 0);
	json_t *n = json_object_get(json_object_get(sf.doc, "networks"), "n");
	assert_true(json_is_false(json_object_get(n, "nat")));
	assert_string_equal(json_string_value(json_object_get(n, "cidr")), "10.1.0.0/24");
	char out[256];
	stackfile_locate(&sf, "vms.a.disk_size: too big", out, sizeof(out));
	assert_string_equal(out, "s.yaml:6:16: vms.a.disk_size: too big");
	/* a field the file lacks points at the nearest one it has */
	stackfile_locate(&sf, "networks.n.mtu: is required", out, sizeof(out));
	assert_string_equal(out, "s.yaml:3:6: networks.n.mtu: is required");
	stackfile_locate(&sf, "nothing to locate", out, sizeof(out));
	assert_string_equal(out, "s.yaml: nothing to locate");
	stackfile_free(&sf);
}

static void test_refusals(void **state)
{
	(void)state;
	char msg[1024];
	assert_int_equal(check("stack: s\nvms: &a {}\n", msg, NULL), -1);
	assert_string_equal(msg, "s.yaml:2:6: vms: anchors (&name) are not supported; write the value out");
	assert_int_equal(check("stack: s\nstack: t\n", msg, NULL), -1);
	assert_string_equal(msg, "s.yaml:2:1: stack: \"stack\" is given twice; give each field once");
	assert_int_equal(check("stack: s\n---\nstack: t\n", msg, NULL), -1);
	assert_non_null(strstr(msg, "one YAML document"));
	assert_int_equal(check("", msg, NULL), -1);
	assert_non_null(strstr(msg, "the file is empty"));
	assert_int_equal(check("stack: s\nvms:\n  a: {user_data_file: x.sh}\n", msg, NULL), -1);
	assert_string_equal(msg, "s.yaml:3:23: vms.a.user_data_file: files are not read here");
	assert_int_equal(check("stack: s\nvms:\n  a: {networks: [n, n]}\n", msg, NULL), -1);
	assert_string_equal(msg, "s.yaml:3:21: vms.a.networks[1]: network \"n\" is listed twice; a VM has one NIC per network");
	assert_int_equal(check("stack: s\nfirewalls:\n  f: {rules: [{proto: icmp, port: 80}]}\n", msg, NULL), -1);
	assert_non_null(strstr(msg, "s.yaml:3:15: firewalls.f.rules[0]"));
	assert_int_equal(check("stack: Bad\n", msg, NULL), -1);
	assert_non_null(strstr(msg, "s.yaml:1:8: stack: name \"Bad\" must start with a lowercase letter"));
}

static void test_order_and_specs(void **state)
{
	(void)state;
	char msg[1024];
	struct stack st;
	const char *text = "stack: s\nvms:\n  web: {user_data: \"db=${vm.db.ip}\", networks: [back], volumes: [data]}\n"
			   "  db: {type: nano, networks: [{network: back, ip: 10.9.0.5}]}\n"
			   "networks:\n  back: {cidr: 10.9.0.0/24}\nvolumes:\n  data: {size: 1024M}\n";
	assert_int_equal(check(text, msg, &st), 0);
	assert_string_equal(msg, "");
	assert_int_equal(st.n, 4);
	/* each resource after what it needs: back, db, web, data */
	assert_string_equal(st.res[0].name, "back");
	assert_string_equal(st.res[1].name, "db");
	assert_string_equal(st.res[2].name, "web");
	assert_string_equal(st.res[3].name, "data");
	const struct stack_res *web = stack_find(&st, STACK_VM, "web");
	assert_string_equal(json_string_value(json_object_get(web->spec, "type")), "small");
	assert_string_equal(json_string_value(json_array_get(json_object_get(web->spec, "firewalls"), 0)), "default");
	const struct stack_res *net = stack_find(&st, STACK_NETWORK, "back");
	assert_true(json_is_true(json_object_get(net->spec, "nat")));
	const struct stack_res *data = stack_find(&st, STACK_VOLUME, "data");
	assert_string_equal(json_string_value(json_object_get(data->spec, "size")), "1G");
	assert_string_equal(json_string_value(json_object_get(data->spec, "vm")), "web");
	stack_free(&st);
}

static const char *ip_of(void *arg, const char *vm)
{
	(void)arg;
	return strcmp(vm, "db") == 0 ? "10.9.0.5" : NULL;
}

static void test_cycle_and_interpolate(void **state)
{
	(void)state;
	char msg[1024];
	assert_int_equal(check("stack: s\nvms:\n  a: {user_data: \"${vm.b.ip}\"}\n  b: {user_data: \"${vm.c.ip}\"}\n"
			       "  c: {user_data: \"${vm.a.ip}\"}\n",
			       msg, NULL),
			 -1);
	assert_non_null(strstr(msg, "reference cycle: vm a → vm b → vm c → vm a"));
	assert_int_equal(check("stack: s\nvms:\n  a: {user_data: \"${vm.a.mac}\"}\n", msg, NULL), -1);
	assert_non_null(strstr(msg, "s.yaml:3:18: vms.a.user_data: unknown reference ${vm.a.mac}"));
	bool unknown;
	char *s = stack_interpolate("db=${vm.db.ip} web=${vm.web.ip}", ip_of, NULL, &unknown);
	assert_string_equal(s, "db=10.9.0.5 web=${vm.web.ip}");
	assert_true(unknown);
	free(s);
}

/* Balancers and groups: specs with nubod's defaults, the order (a balancer
 * after its network and target VMs, a group after its balancer), and the
 * checks only the whole document can make. */
static void test_lbs_and_groups(void **state)
{
	(void)state;
	char msg[1024];
	struct stack st;
	const char *text = "stack: s\n"
			   "groups:\n  g: {min: 1, max: 3, network: n, lb: \"l:8080\", user_data: \"${vm.a.ip}\"}\n"
			   "lbs:\n  l: {network: n, listen: [80, \"443:8443\"], targets: [a, \"b:81\"], interval: 5000ms}\n"
			   "vms:\n  b: {networks: [n]}\n  a: {networks: [default, n]}\n"
			   "networks:\n  n: {cidr: 10.1.0.0/24}\n";
	assert_int_equal(check(text, msg, &st), 0);
	const char *order[] = {"n", "b", "a", "l", "g"};
	assert_int_equal(st.n, 5);
	for (int i = 0; i < 5; i++)
		assert_string_equal(st.res[i].name, order[i]);
	char *lb = json_dumps(st.res[3].spec, JSON_COMPACT);
	assert_string_equal(lb, "{\"network\":\"n\",\"listen\":[\"80\",\"443:8443\"],\"targets\":[\"a\",\"b:81\"],"
				"\"check\":\"tcp\",\"interval\":\"5s\",\"timeout\":\"2s\",\"rise\":2,\"fall\":3,"
				"\"algorithm\":\"round-robin\",\"drain\":\"30s\",\"host_port\":false}");
	free(lb);
	char *g = json_dumps(st.res[4].spec, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(g, "{\"cooldown\":\"2m\",\"drain\":\"10s\",\"firewalls\":[\"default\"],\"grace\":\"1m\","
			       "\"image\":\"tiny\",\"lb\":\"l:8080\",\"max\":3,\"min\":1,\"network\":\"n\",\"ssh_keys\":[],"
			       "\"target_cpu\":0,\"type\":\"small\",\"user_data\":\"${vm.a.ip}\",\"warmup\":\"1m\"}");
	free(g);
	assert_int_equal(st.res[4].n_deps, 3);   /* n, l, a */
	stack_free(&st);

	assert_int_equal(check("stack: s\nlbs:\n  l: {listen: 80, targets: [a]}\nvms:\n  a: {networks: [n]}\n"
			       "networks:\n  n: {cidr: 10.1.0.0/24}\n",
			       msg, NULL),
			 -1);
	assert_string_equal(msg, "s.yaml:3:29: lbs.l.targets[0]: VM a has no NIC on network default, where the balancer is; "
				 "add default to its networks or put the balancer on one of its networks");
	assert_int_equal(check("stack: s\nlbs:\n  l: {listen: 80, interval: 1s, timeout: 1s}\n", msg, NULL), -1);
	assert_string_equal(msg, "s.yaml:3:42: lbs.l.timeout: timeout 1000 ms is not shorter than interval 1000 ms: a check "
				 "must end before the next");
	assert_int_equal(check("stack: s\ngroups:\n  g: {min: 1, max: 2, desired: 3}\n", msg, NULL), -1);
	assert_string_equal(msg, "s.yaml:3:6: groups.g: desired 3 is outside min 1 and max 2");
	assert_int_equal(check("stack: s\ngroups:\n  g: {min: 1, max: 2, lb: \"l:x\"}\n", msg, NULL), -1);
	assert_string_equal(msg, "s.yaml:3:27: groups.g.lb \"l:x\" is not LB or LB:PORT: groups.g.lb \"x\" is not a port; give a "
				 "decimal number between 1 and 65535");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scalars_and_positions),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_order_and_specs),
		cmocka_unit_test(test_cycle_and_interpolate),
		cmocka_unit_test(test_lbs_and_groups),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
