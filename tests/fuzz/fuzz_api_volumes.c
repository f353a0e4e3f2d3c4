/* fuzz_api_volumes: the bodies of POST /v1/volumes and of attach and detach. */
#include <stdlib.h>
#include <string.h>

#include "api/body-priv.h"
#include "common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct api_req req = fuzz_req(data, size);
	struct api_resp resp = {0};

	struct api_volume_create c;
	bool ok = api_volume_create_parse(&req, &resp, &c);
	fuzz_check_resp(ok, &resp);
	if (ok) {
		FUZZ_ASSERT(c.name, "a volume parsed without a name");
		json_t *size_json = json_object_get(c.json, "size");
		FUZZ_ASSERT(c.size == (json_is_string(size_json) ? json_string_value(size_json) : NULL),
			    "size was not read from the body");
		json_decref(c.json);
	}

	struct api_volume_attach a;
	ok = api_volume_attach_parse(&req, &resp, &a);
	fuzz_check_resp(ok, &resp);
	if (ok) {
		FUZZ_ASSERT(a.vm && a.vm == json_string_value(json_object_get(a.json, "vm")),
			    "attach parsed without the body's vm");
		json_decref(a.json);
	}

	ok = api_volume_detach_parse(&req, &resp);
	fuzz_check_resp(ok, &resp);
	fuzz_req_free(&req);
	return 0;
}
