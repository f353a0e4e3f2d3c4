/* fuzz_api_snapshots: the body of POST /v1/snapshots: exactly one of vm and volume. */
#include <stdlib.h>
#include <string.h>

#include "api/body-priv.h"
#include "common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct api_req req = fuzz_req(data, size);
	struct api_resp resp = {0};
	struct api_snapshot_create b;
	bool ok = api_snapshot_create_parse(&req, &resp, &b);
	fuzz_check_resp(ok, &resp);
	if (ok) {
		FUZZ_ASSERT(!b.vm != !b.volume, "a snapshot needs exactly one of vm and volume");
		json_decref(b.json);
	}
	fuzz_req_free(&req);
	return 0;
}
