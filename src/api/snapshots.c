/* snapshots: the /v1/snapshots endpoints. */
#include <string.h>

#include "api/api-priv.h"
#include "api/body-priv.h"

static void answer(struct api_resp *resp, const struct snapshot *sn, struct operation *op)
{
	api_json(resp, 202, json_pack("{s:o, s:o}", "snapshot", snapshot_to_json(sn), "operation", operation_to_json(op)));
	operation_free_fields(op);
}

static void list_snapshots(const struct api_req *req, struct api_resp *resp)
{
	struct snapshot *all = NULL;
	int n = 0;
	struct err e = {0};
	if (store_snapshot_list(ctl_store(req->ctl), &all, &n, &e) < 0) {
		api_error(resp, &e);
		return;
	}
	json_t *arr = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(arr, snapshot_to_json(&all[i]));
	free(all);
	api_json(resp, 200, json_pack("{s:o}", "snapshots", arr));
}

static void get_snapshot(const struct api_req *req, struct api_resp *resp)
{
	struct snapshot sn;
	struct err e = {0};
	if (store_snapshot_get(ctl_store(req->ctl), req->args[0], &sn, &e) < 0)
		api_error(resp, &e);
	else
		api_json(resp, 200, snapshot_to_json(&sn));
}

bool api_snapshot_create_parse(const struct api_req *req, struct api_resp *resp, struct api_snapshot_create *out)
{
	static const char *const fields[] = {"vm", "volume", "name", NULL};
	memset(out, 0, sizeof(*out));
	json_t *body = api_body_object(req, resp, false);
	if (!body)
		return false;
	if (!api_check_fields(body, fields, resp) || !api_opt_string(body, "vm", &out->vm, resp) ||
	    !api_opt_string(body, "name", &out->name, resp) || !api_opt_string(body, "volume", &out->volume, resp)) {
		/* answered */
	} else if (!out->vm == !out->volume) {
		struct err e = {0};
		err_set(&e, ERR_INVALID, "give one of \"vm\" or \"volume\": what to take a snapshot of");
		api_error(resp, &e);
	} else {
		out->json = body;
		return true;
	}
	json_decref(body);
	memset(out, 0, sizeof(*out));
	return false;
}

static void create_snapshot(const struct api_req *req, struct api_resp *resp)
{
	struct api_snapshot_create b;
	struct snapshot sn;
	struct operation op;
	struct err e = {0};
	if (!api_snapshot_create_parse(req, resp, &b))
		return;
	if ((b.vm ? ctl_snapshot_create(req->ctl, b.vm, b.name, &sn, &op, &e)
		  : ctl_snapshot_create_volume(req->ctl, b.volume, b.name, &sn, &op, &e)) < 0)
		api_error(resp, &e);
	else
		answer(resp, &sn, &op);
	json_decref(b.json);
}

static void delete_snapshot(const struct api_req *req, struct api_resp *resp)
{
	struct snapshot sn;
	struct operation op;
	struct err e = {0};
	if (ctl_snapshot_delete(req->ctl, req->args[0], &sn, &op, &e) < 0)
		api_error(resp, &e);
	else
		answer(resp, &sn, &op);
}

const struct api_route api_snapshot_routes[] = {
	{"GET", "/v1/snapshots", list_snapshots},
	{"POST", "/v1/snapshots", create_snapshot},
	{"GET", "/v1/snapshots/{}", get_snapshot},
	{"DELETE", "/v1/snapshots/{}", delete_snapshot},
	{NULL, NULL, NULL},
};
