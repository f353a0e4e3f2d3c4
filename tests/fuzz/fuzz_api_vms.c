/* fuzz_api_vms: the bodies of POST /v1/vms, of the VM actions and of restore.
 * Every parser reads the same bytes; each must either fill its struct with
 * exactly what the JSON says or answer a 400 that names the problem. */
#include <stdlib.h>
#include <string.h>

#include "api/body-priv.h"
#include "common.h"

/* What a parsed field must be: the body's string, or NULL when absent or null. */
static void check_field(json_t *body, const char *key, const char *got)
{
	json_t *v = json_object_get(body, key);
	if (!v || json_is_null(v))
		FUZZ_ASSERT(!got, "field %s is absent but parsed as \"%s\"", key, got);
	else
		FUZZ_ASSERT(got && got == json_string_value(v), "field %s was not read from the body", key);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *body = malloc(size + 1);
	memcpy(body, data, size);
	body[size] = '\0';
	struct api_req req = fuzz_req(body, size);
	struct api_resp resp = {0};

	struct api_vm_create c;
	bool ok = api_vm_create_parse(&req, &resp, &c);
	fuzz_check_resp(ok, &resp);
	if (ok) {
		const struct vm_request *r = &c.r;
		check_field(c.json, "name", r->name);
		check_field(c.json, "type", r->type);
		check_field(c.json, "image", r->image);
		check_field(c.json, "ssh_key_file", r->ssh_key_file);
		check_field(c.json, "user_data", r->user_data);
		check_field(c.json, "disk_size", r->disk_size);
		check_field(c.json, "ephemeral", r->ephemeral);
		check_field(c.json, "from_snapshot", r->from_snapshot);
		json_t *keys = json_object_get(c.json, "ssh_keys");
		FUZZ_ASSERT((size_t)r->n_ssh_keys == (json_is_array(keys) ? json_array_size(keys) : 0),
			    "%d ssh keys parsed", r->n_ssh_keys);
		for (int i = 0; i < r->n_ssh_keys; i++)
			FUZZ_ASSERT(r->ssh_keys[i] == json_string_value(json_array_get(keys, (size_t)i)),
				    "ssh_keys[%d] was not read from the body", i);
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
		check_field(rs.json, "snapshot", rs.snapshot);
		json_decref(rs.json);
	}
	free(body);
	return 0;
}
