/* fuzz_api_tokens: the body of POST /v1/tokens. What it accepts has a
 * name that is the body's own and a valid resource name; anything else is
 * a 400 naming the problem. */
#include <stdlib.h>
#include <string.h>

#include "api/body-priv.h"
#include "common.h"
#include "model/vm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct api_req req = fuzz_req(data, size);
	struct api_resp resp = {0};

	struct api_token_create b;
	bool ok = api_token_create_parse(&req, &resp, &b);
	fuzz_check_resp(ok, &resp);
	FUZZ_ASSERT(ok || (!b.json && !b.name), "a refused body left fields set");
	if (ok) {
		FUZZ_ASSERT(b.name, "a token parsed without a name");
		fuzz_check_field(b.json, "name", b.name);
		FUZZ_ASSERT(vm_name_validate(b.name, "name", NULL) == 0, "token name \"%s\" accepted but not valid",
			    b.name);
		json_decref(b.json);
	}
	fuzz_req_free(&req);
	return 0;
}
