/* fuzz_api_firewalls: the bodies of POST /v1/firewalls, POST
 * /v1/firewalls/{}/rules, PUT /v1/vms/{}/firewalls and POST
 * /v1/vms/{}/forwards, all on the same bytes, then the model checks each
 * request runs next (fw_rule_parse, port_map_parse). Each parse either fills
 * exactly what the JSON says or answers a 400 naming the problem. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/body-priv.h"
#include "common.h"
#include "model/firewall.h"
#include "model/port.h"

static void check_rule(const struct api_req *req)
{
	struct api_resp resp = {0};
	struct api_fw_rule_add b;
	bool ok = api_fw_rule_add_parse(req, &resp, &b);
	fuzz_check_resp(ok, &resp);
	FUZZ_ASSERT(ok || (!b.json && !b.proto && !b.port), "a refused rule body left fields set");
	if (!ok)
		return;
	FUZZ_ASSERT(b.proto, "a rule parsed without proto");
	fuzz_check_field(b.json, "proto", b.proto);
	fuzz_check_field(b.json, "from", b.from);
	fuzz_check_field(b.json, "from_firewall", b.from_firewall);
	json_t *port = json_object_get(b.json, "port");
	if (json_is_integer(port)) {
		/* A number is printed as it is, out of range or not, so the error names it. */
		char want[32];
		snprintf(want, sizeof(want), "%" JSON_INTEGER_FORMAT, json_integer_value(port));
		FUZZ_ASSERT(b.port == b.port_buf && strcmp(b.port, want) == 0, "port %s was read as \"%s\"", want,
			    b.port ? b.port : "(null)");
	} else {
		fuzz_check_field(b.json, "port", b.port);
	}
	struct fw_rule r;
	struct err e = {0};
	int rc = fw_rule_parse(b.proto, b.port, b.from, b.from_firewall, &r, &e);
	if (rc < 0) {
		fuzz_check_err(rc, &e, b.proto);
	} else {
		FUZZ_ASSERT(strcmp(proto_name(r.proto), b.proto) == 0, "proto \"%s\" was read as %s", b.proto,
			    proto_name(r.proto));
		FUZZ_ASSERT(!b.port || r.port_lo, "port \"%s\" accepted as every port", b.port);
	}
	json_decref(b.json);
}

static void check_vm_firewalls(const struct api_req *req)
{
	struct api_resp resp = {0};
	struct api_vm_firewalls b;
	bool ok = api_vm_firewalls_parse(req, &resp, &b);
	fuzz_check_resp(ok, &resp);
	FUZZ_ASSERT(ok || (!b.json && !b.names && !b.n), "a refused firewalls body left fields set");
	if (!ok)
		return;
	json_t *list = json_object_get(b.json, "firewalls");
	FUZZ_ASSERT((size_t)b.n == (json_is_array(list) ? json_array_size(list) : 0), "%d firewalls parsed", b.n);
	for (int i = 0; i < b.n; i++)
		FUZZ_ASSERT(b.names[i] == json_string_value(json_array_get(list, (size_t)i)),
			    "firewalls[%d] was not read from the body", i);
	FUZZ_ASSERT(!b.names || !b.names[b.n], "the list of firewalls is not NULL-terminated");
	api_vm_firewalls_free(&b);
	api_vm_firewalls_free(&b);   /* a second free is harmless */
}

static void check_forward(const struct api_req *req)
{
	struct api_resp resp = {0};
	struct api_forward_add b;
	bool ok = api_forward_add_parse(req, &resp, &b);
	fuzz_check_resp(ok, &resp);
	FUZZ_ASSERT(ok || (!b.json && !b.ports), "a refused forward body left fields set");
	if (!ok)
		return;
	FUZZ_ASSERT(b.ports, "a forward parsed without ports");
	fuzz_check_field(b.json, "ports", b.ports);
	struct port_map pm;
	struct err e = {0};
	int rc = port_map_parse(b.ports, "ports", &pm, &e);
	if (rc < 0)
		fuzz_check_err(rc, &e, b.ports);
	else
		FUZZ_ASSERT(pm.host && pm.guest && (pm.proto == PROTO_TCP || pm.proto == PROTO_UDP),
			    "\"%s\" was read as %u:%u/%s", b.ports, pm.host, pm.guest, proto_name(pm.proto));
	json_decref(b.json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct api_req req = fuzz_req(data, size);
	struct api_resp resp = {0};

	struct api_firewall_create c;
	bool ok = api_firewall_create_parse(&req, &resp, &c);
	fuzz_check_resp(ok, &resp);
	FUZZ_ASSERT(ok || (!c.json && !c.name && !c.description), "a refused firewall body left fields set");
	if (ok) {
		fuzz_check_field(c.json, "name", c.name);
		fuzz_check_field(c.json, "description", c.description);
		json_decref(c.json);
	}
	check_rule(&req);
	check_vm_firewalls(&req);
	check_forward(&req);
	fuzz_req_free(&req);
	return 0;
}
