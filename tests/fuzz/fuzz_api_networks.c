/* fuzz_api_networks: the body of POST /v1/networks, then the checks the
 * network's creation runs on what it read (name, cidr). A parse either
 * fills exactly what the JSON says or answers a 400 naming the problem. */
#include <stdlib.h>
#include <string.h>

#include "api/body-priv.h"
#include "common.h"
#include "model/network.h"
#include "model/vm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct api_req req = fuzz_req(data, size);
	struct api_resp resp = {0};

	struct api_network_create b;
	bool ok = api_network_create_parse(&req, &resp, &b);
	fuzz_check_resp(ok, &resp);
	FUZZ_ASSERT(ok || (!b.json && !b.name && !b.cidr), "a refused body left fields set");
	if (ok) {
		fuzz_check_field(b.json, "name", b.name);
		fuzz_check_field(b.json, "cidr", b.cidr);
		json_t *nat = json_object_get(b.json, "nat");
		FUZZ_ASSERT(b.nat == !json_is_false(nat), "nat parsed as %d from a body whose nat is %s", b.nat,
			    json_is_false(nat) ? "false" : "true or absent");
		struct err e = {0};
		int rc = vm_name_validate(b.name, "name", &e);
		if (rc < 0)
			fuzz_check_err(rc, &e, b.name ? b.name : "(null)");
		if (b.cidr) {
			struct cidr c;
			memset(&e, 0, sizeof(e));
			rc = network_cidr_parse(b.cidr, "cidr", &c, &e);
			if (rc < 0)
				fuzz_check_err(rc, &e, b.cidr);
			else
				FUZZ_ASSERT(c.prefix >= NETWORK_PREFIX_MIN && c.prefix <= NETWORK_PREFIX_MAX,
					    "network cidr \"%s\" accepted with prefix %d", b.cidr, c.prefix);
		}
		json_decref(b.json);
	}
	fuzz_req_free(&req);
	return 0;
}
