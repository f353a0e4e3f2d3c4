/* images: the /v1/images endpoints. */
#include <string.h>

#include "api/api-priv.h"
#include "api/body-priv.h"

static void list_images(const struct api_req *req, struct api_resp *resp)
{
	struct image *imgs = NULL;
	int n = 0;
	struct err e = {0};
	if (store_image_list(ctl_store(req->ctl), &imgs, &n, &e) < 0) {
		api_error(resp, &e);
		return;
	}
	json_t *arr = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(arr, image_to_json(&imgs[i]));
	image_list_free(imgs, n);
	api_json(resp, 200, json_pack("{s:o}", "images", arr));
}

static void get_image(const struct api_req *req, struct api_resp *resp)
{
	struct image img;
	struct err e = {0};
	if (store_image_get(ctl_store(req->ctl), req->args[0], &img, &e) < 0) {
		api_error(resp, &e);
		return;
	}
	api_json(resp, 200, image_to_json(&img));
	image_free_fields(&img);
}

static void answer_image_op(struct api_resp *resp, struct image *img, struct operation *op)
{
	api_json(resp, 202, json_pack("{s:o, s:o}", "image", image_to_json(img), "operation", operation_to_json(op)));
	image_free_fields(img);
	operation_free_fields(op);
}

/* POST /v1/images: {"name", "recipe"} builds from a recipe shipped with nubo;
 * {"name", "file" or "url", "sha256", "user", "boot", ...} imports an image;
 * {"name", "from_vm"} copies a VM's disk. */
bool api_image_create_parse(const struct api_req *req, struct api_resp *resp, struct api_image_create *out)
{
	static const char *const fields[] = {"name", "recipe", "file", "url", "from_vm", "sha256", "user",
					     "boot", "kernel", "initrd", "cmdline", NULL};
	memset(out, 0, sizeof(*out));
	json_t *body = api_body_object(req, resp, false);
	if (!body)
		return false;
	struct image_import *imp = &out->imp;
	bool import_only = false;
	struct err e = {0};
	if (!api_check_fields(body, fields, resp) || !api_opt_string(body, "name", &out->name, resp) ||
	    !api_opt_string(body, "recipe", &out->recipe, resp) || !api_opt_string(body, "file", &imp->file, resp) ||
	    !api_opt_string(body, "url", &imp->url, resp) || !api_opt_string(body, "from_vm", &out->from_vm, resp) ||
	    !api_opt_string(body, "sha256", &imp->sha256, resp) || !api_opt_string(body, "user", &imp->user, resp) ||
	    !api_opt_string(body, "boot", &imp->boot, resp) || !api_opt_string(body, "kernel", &imp->kernel, resp) ||
	    !api_opt_string(body, "initrd", &imp->initrd, resp) || !api_opt_string(body, "cmdline", &imp->cmdline, resp))
		goto answered;
	import_only = imp->sha256 || imp->user || imp->boot || imp->kernel || imp->initrd || imp->cmdline;
	if ((out->recipe != NULL) + (imp->file != NULL) + (imp->url != NULL) + (out->from_vm != NULL) > 1) {
		err_set(&e, ERR_INVALID,
			"give one of recipe (to build an image), file or url (to import one), from_vm (to copy a VM's disk)");
	} else if (out->from_vm && import_only) {
		err_set(&e, ERR_INVALID, "sha256, user and boot go with file or url, not with from_vm");
	} else if (out->from_vm) {
		out->source = API_IMAGE_FROM_VM;
		if (!out->name)
			out->name = "";
	} else if (imp->file || imp->url) {
		out->source = API_IMAGE_IMPORT;
		imp->name = out->name;
	} else if (import_only) {
		err_set(&e, ERR_INVALID, "sha256, user, boot, kernel, initrd and cmdline go with file or url (an import), not with a recipe");
	} else {
		out->source = API_IMAGE_RECIPE;
		if (!out->recipe)
			out->recipe = out->name;
		if (!out->name)
			out->name = out->recipe;
		if (!out->name)
			out->name = out->recipe = "";
	}
	if (e.kind == ERR_NONE) {
		out->json = body;
		return true;
	}
	api_error(resp, &e);
answered:
	json_decref(body);
	memset(out, 0, sizeof(*out));
	return false;
}

static void create_image(const struct api_req *req, struct api_resp *resp)
{
	struct api_image_create b;
	if (!api_image_create_parse(req, resp, &b))
		return;
	struct image img;
	struct operation op;
	struct err e = {0};
	int rc;
	switch (b.source) {
	case API_IMAGE_FROM_VM: rc = ctl_image_from_vm(req->ctl, b.name, b.from_vm, &img, &op, &e); break;
	case API_IMAGE_IMPORT:
		b.imp.caller = req->caller;
		rc = ctl_image_import(req->ctl, &b.imp, &img, &op, &e);
		break;
	case API_IMAGE_RECIPE:
	default: rc = ctl_image_build(req->ctl, b.name, b.recipe, &img, &op, &e); break;
	}
	if (rc < 0)
		api_error(resp, &e);
	else
		answer_image_op(resp, &img, &op);
	json_decref(b.json);
}

static void delete_image(const struct api_req *req, struct api_resp *resp)
{
	struct err e = {0};
	if (ctl_image_delete(req->ctl, req->args[0], &e) < 0)
		api_error(resp, &e);
	else
		api_json(resp, 200, json_pack("{s:s}", "deleted", req->args[0]));
}

const struct api_route api_image_routes[] = {
	{"GET", "/v1/images", list_images},
	{"POST", "/v1/images", create_image},
	{"GET", "/v1/images/{}", get_image},
	{"DELETE", "/v1/images/{}", delete_image},
	{NULL, NULL, NULL},
};
