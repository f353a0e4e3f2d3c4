/* images: the /v1/images endpoints. */
#include "api/api-priv.h"

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
 * {"name", "file", "sha256", "user", "boot"} imports an image file. */
static void create_image(const struct api_req *req, struct api_resp *resp)
{
	static const char *const fields[] = {"name", "recipe", "file", "url", "from_vm", "sha256", "user",
					     "boot", "kernel", "initrd", "cmdline", NULL};
	json_t *body = api_body_object(req, resp, false);
	const char *name = NULL, *recipe = NULL, *from_vm = NULL;
	struct image_import imp = {0};
	struct image img;
	struct operation op;
	struct err e = {0};
	if (!body || !api_check_fields(body, fields, resp) || !api_opt_string(body, "name", &name, resp) ||
	    !api_opt_string(body, "recipe", &recipe, resp) || !api_opt_string(body, "file", &imp.file, resp) ||
	    !api_opt_string(body, "url", &imp.url, resp) || !api_opt_string(body, "from_vm", &from_vm, resp) ||
	    !api_opt_string(body, "sha256", &imp.sha256, resp) || !api_opt_string(body, "user", &imp.user, resp) ||
	    !api_opt_string(body, "boot", &imp.boot, resp) || !api_opt_string(body, "kernel", &imp.kernel, resp) ||
	    !api_opt_string(body, "initrd", &imp.initrd, resp) || !api_opt_string(body, "cmdline", &imp.cmdline, resp)) {
		/* answered */
	} else if ((recipe != NULL) + (imp.file != NULL) + (imp.url != NULL) + (from_vm != NULL) > 1) {
		err_set(&e, ERR_INVALID,
			"give one of recipe (to build an image), file or url (to import one), from_vm (to copy a VM's disk)");
		api_error(resp, &e);
	} else if (from_vm && (imp.sha256 || imp.user || imp.boot || imp.kernel || imp.initrd || imp.cmdline)) {
		err_set(&e, ERR_INVALID, "sha256, user and boot go with file or url, not with from_vm");
		api_error(resp, &e);
	} else if (from_vm) {
		if (ctl_image_from_vm(req->ctl, name ? name : "", from_vm, &img, &op, &e) < 0)
			api_error(resp, &e);
		else
			answer_image_op(resp, &img, &op);
	} else if (imp.file || imp.url) {
		imp.name = name;
		if (ctl_image_import(req->ctl, &imp, &img, &op, &e) < 0)
			api_error(resp, &e);
		else
			answer_image_op(resp, &img, &op);
	} else if (imp.sha256 || imp.user || imp.boot || imp.kernel || imp.initrd || imp.cmdline) {
		err_set(&e, ERR_INVALID, "sha256, user, boot, kernel, initrd and cmdline go with file or url (an import), not with a recipe");
		api_error(resp, &e);
	} else {
		if (!recipe)
			recipe = name;
		if (!name)
			name = recipe;
		if (ctl_image_build(req->ctl, name ? name : "", recipe ? recipe : "", &img, &op, &e) < 0)
			api_error(resp, &e);
		else
			answer_image_op(resp, &img, &op);
	}
	json_decref(body);
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
