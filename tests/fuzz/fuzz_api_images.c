/* fuzz_api_images: the body of POST /v1/images. A body is exactly one of a
 * recipe build, an import or a copy of a VM, or a 400 saying why not. */
#include <stdlib.h>
#include <string.h>

#include "api/body-priv.h"
#include "common.h"

static bool has(json_t *body, const char *key)
{
	json_t *v = json_object_get(body, key);
	return v && !json_is_null(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct api_req req = fuzz_req(data, size);
	struct api_resp resp = {0};
	struct api_image_create b;
	bool ok = api_image_create_parse(&req, &resp, &b);
	fuzz_check_resp(ok, &resp);
	if (ok) {
		int sources = has(b.json, "recipe") + has(b.json, "file") + has(b.json, "url") + has(b.json, "from_vm");
		FUZZ_ASSERT(sources <= 1, "%d sources accepted at once", sources);
		switch (b.source) {
		case API_IMAGE_RECIPE:
			FUZZ_ASSERT(b.name && b.recipe, "a recipe build without a name or recipe");
			FUZZ_ASSERT(!b.imp.sha256 && !b.imp.boot && !b.imp.cmdline, "import fields on a recipe build");
			break;
		case API_IMAGE_IMPORT:
			FUZZ_ASSERT(!b.imp.file != !b.imp.url, "an import needs exactly one of file and url");
			FUZZ_ASSERT(b.imp.name == b.name, "the import lost its name");
			break;
		case API_IMAGE_FROM_VM:
			FUZZ_ASSERT(b.name && b.from_vm, "a copy without a name or a VM");
			FUZZ_ASSERT(!b.imp.sha256 && !b.imp.user && !b.imp.boot, "import fields on a copy");
			break;
		default:
			FUZZ_ASSERT(0, "source %d", (int)b.source);
		}
		json_decref(b.json);
	}
	fuzz_req_free(&req);
	return 0;
}
