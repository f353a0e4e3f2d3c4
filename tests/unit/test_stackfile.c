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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scalars_and_positions),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_order_and_specs),
		cmocka_unit_test(test_cycle_and_interpolate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
