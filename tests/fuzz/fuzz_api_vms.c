/* fuzz_api_vms: the bodies of POST /v1/vms (with its nics, firewalls and
 * seed), of the VM actions and of restore.
 * Every parser reads the same bytes; each must either fill its struct with
 * exactly what the JSON says or answer a 400 that names the problem. */
#include <stdlib.h>
#include <string.h>

#include "api/body-priv.h"
#include "common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct api_req req = fuzz_req(data, size);
	struct api_resp resp = {0};

	struct api_vm_create c;
	bool ok = api_vm_create_parse(&req, &resp, &c);
	fuzz_check_resp(ok, &resp);
	if (ok) {
		const struct vm_request *r = &c.r;
		fuzz_check_field(c.json, "name", r->name);
		fuzz_check_field(c.json, "type", r->type);
		fuzz_check_field(c.json, "image", r->image);
		fuzz_check_field(c.json, "ssh_key_file", r->ssh_key_file);
		fuzz_check_field(c.json, "user_data", r->user_data);
		fuzz_check_field(c.json, "disk_size", r->disk_size);
		fuzz_check_field(c.json, "ephemeral", r->ephemeral);
		fuzz_check_field(c.json, "from_snapshot", r->from_snapshot);
		json_t *keys = json_object_get(c.json, "ssh_keys");
		FUZZ_ASSERT((size_t)r->n_ssh_keys == (json_is_array(keys) ? json_array_size(keys) : 0),
			    "%d ssh keys parsed", r->n_ssh_keys);
		for (int i = 0; i < r->n_ssh_keys; i++)
			FUZZ_ASSERT(r->ssh_keys[i] == json_string_value(json_array_get(keys, (size_t)i)),
				    "ssh_keys[%d] was not read from the body", i);
		json_t *nics = json_object_get(c.json, "nics");
		FUZZ_ASSERT((size_t)r->n_nics == (json_is_array(nics) ? json_array_size(nics) : 0), "%d nics parsed",
			    r->n_nics);
		for (int i = 0; i < r->n_nics; i++) {
			json_t *nic = json_array_get(nics, (size_t)i);
			fuzz_check_field(nic, "network", r->nics[i].network);
			fuzz_check_field(nic, "ip", r->nics[i].ip);
		}
		json_t *fws = json_object_get(c.json, "firewalls");
		FUZZ_ASSERT((size_t)r->n_firewalls == (json_is_array(fws) ? json_array_size(fws) : 0),
			    "%d firewalls parsed", r->n_firewalls);
		for (int i = 0; i < r->n_firewalls; i++)
			FUZZ_ASSERT(r->firewalls[i] == json_string_value(json_array_get(fws, (size_t)i)),
				    "firewalls[%d] was not read from the body", i);
		FUZZ_ASSERT(r->no_seed == json_is_false(json_object_get(c.json, "seed")),
			    "no_seed is %d for a body whose seed is %s", r->no_seed,
			    json_is_false(json_object_get(c.json, "seed")) ? "false" : "true or absent");
		api_vm_create_free(&c);
		api_vm_create_free(&c);   /* a second free is harmless */
	}

	for (int takes_force = 0; takes_force <= 1; takes_force++) {
		bool force = true;
		ok = api_vm_action_parse(&req, &resp, takes_force, &force);
		fuzz_check_resp(ok, &resp);
		FUZZ_ASSERT(ok || !force, "a refused action body set force");
		FUZZ_ASSERT(takes_force || !force, "force was read where the action does not take it");
	}

	struct api_vm_restore rs;
	ok = api_vm_restore_parse(&req, &resp, &rs);
	fuzz_check_resp(ok, &resp);
	if (ok) {
		FUZZ_ASSERT(rs.snapshot, "restore parsed without a snapshot");
		fuzz_check_field(rs.json, "snapshot", rs.snapshot);
		json_decref(rs.json);
	}
	struct api_vm_resize rz;
	ok = api_vm_resize_parse(&req, &resp, &rz);
	fuzz_check_resp(ok, &resp);
	if (ok) {
		FUZZ_ASSERT(rz.r.type || rz.r.disk_size, "resize parsed with nothing to change");
		json_decref(rz.json);
	}
	fuzz_req_free(&req);
	return 0;
}
