/* volumes: the /v1/volumes endpoints. */
#include <string.h>

#include "api/api-priv.h"
#include "api/body-priv.h"

/* The name of the VM a volume is attached to, for people; NULL if none. */
static json_t *volume_json(const struct api_req *req, const struct volume *v)
{
	struct vm vm;
	const char *ref = v->attach_to[0] ? v->attach_to : v->attached_vm;
	bool named = ref[0] && store_vm_get(ctl_store(req->ctl), ref, &vm, NULL) == 0;
	json_t *j = volume_to_json(v, named ? vm.name : NULL);
	if (named)
		vm_free_fields(&vm);
	return j;
}

static void answer(const struct api_req *req, struct api_resp *resp, int status, const struct volume *v,
		   struct operation *op)
{
	api_json(resp, status, json_pack("{s:o, s:o}", "volume", volume_json(req, v), "operation", operation_to_json(op)));
	operation_free_fields(op);
}

static void list_volumes(const struct api_req *req, struct api_resp *resp)
{
	struct volume *vols = NULL;
	int n = 0;
	struct err e = {0};
	if (store_volume_list(ctl_store(req->ctl), &vols, &n, &e) < 0) {
		api_error(resp, &e);
		return;
	}
	json_t *arr = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(arr, volume_json(req, &vols[i]));
	volume_list_free(vols, n);
	api_json(resp, 200, json_pack("{s:o}", "volumes", arr));
}

static void get_volume(const struct api_req *req, struct api_resp *resp)
{
	struct volume v;
	struct err e = {0};
	if (store_volume_get(ctl_store(req->ctl), req->args[0], &v, &e) < 0)
		api_error(resp, &e);
	else
		api_json(resp, 200, volume_json(req, &v));
}

bool api_volume_create_parse(const struct api_req *req, struct api_resp *resp, struct api_volume_create *out)
{
	static const char *const fields[] = {"name", "size", "from_snapshot", NULL};
	memset(out, 0, sizeof(*out));
	json_t *body = api_body_object(req, resp, false);
	if (!body)
		return false;
	if (!api_check_fields(body, fields, resp) || !api_opt_string(body, "name", &out->name, resp) ||
	    !api_opt_string(body, "size", &out->size, resp) ||
	    !api_opt_string(body, "from_snapshot", &out->from_snapshot, resp)) {
		json_decref(body);
		memset(out, 0, sizeof(*out));
		return false;
	}
	if (!out->name)
		out->name = "";
	out->json = body;
	return true;
}

static void create_volume(const struct api_req *req, struct api_resp *resp)
{
	struct api_volume_create b;
	struct volume v;
	struct operation op;
	struct err e = {0};
	if (!api_volume_create_parse(req, resp, &b))
		return;
	if (ctl_volume_create(req->ctl, b.name, b.size, b.from_snapshot, &v, &op, &e) < 0)
		api_error(resp, &e);
	else
		answer(req, resp, 202, &v, &op);
	json_decref(b.json);
}

bool api_volume_attach_parse(const struct api_req *req, struct api_resp *resp, struct api_volume_attach *out)
{
	memset(out, 0, sizeof(*out));
	return api_body_one_string(req, resp, "vm", "the VM to attach the volume to", &out->json, &out->vm);
}

static void attach_volume(const struct api_req *req, struct api_resp *resp)
{
	struct api_volume_attach b;
	struct volume v;
	struct operation op;
	bool accepted = false;
	struct err e = {0};
	if (!api_volume_attach_parse(req, resp, &b))
		return;
	if (ctl_volume_attach(req->ctl, req->args[0], b.vm, &v, &op, &accepted, &e) < 0)
		api_error(resp, &e);
	else
		answer(req, resp, accepted ? 202 : 200, &v, &op);
	json_decref(b.json);
}

bool api_volume_detach_parse(const struct api_req *req, struct api_resp *resp)
{
	static const char *const none[] = {NULL};
	json_t *body = api_body_object(req, resp, true);
	bool ok = body && api_check_fields(body, none, resp);
	json_decref(body);
	return ok;
}

static void detach_volume(const struct api_req *req, struct api_resp *resp)
{
	struct volume v;
	struct operation op;
	bool accepted = false;
	struct err e = {0};
	if (!api_volume_detach_parse(req, resp))
		return;
	if (ctl_volume_detach(req->ctl, req->args[0], &v, &op, &accepted, &e) < 0)
		api_error(resp, &e);
	else
		answer(req, resp, accepted ? 202 : 200, &v, &op);
}

static void delete_volume(const struct api_req *req, struct api_resp *resp)
{
	struct volume v;
	struct operation op;
	struct err e = {0};
	if (ctl_volume_delete(req->ctl, req->args[0], &v, &op, &e) < 0)
		api_error(resp, &e);
	else
		answer(req, resp, 202, &v, &op);
}

const struct api_route api_volume_routes[] = {
	{"GET", "/v1/volumes", list_volumes},
	{"POST", "/v1/volumes", create_volume},
	{"GET", "/v1/volumes/{}", get_volume},
	{"DELETE", "/v1/volumes/{}", delete_volume},
	{"POST", "/v1/volumes/{}/attach", attach_volume},
	{"POST", "/v1/volumes/{}/detach", detach_volume},
	{NULL, NULL, NULL},
};
