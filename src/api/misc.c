/* misc: machine types, the host's capacity, operations. */
#include "api/api-priv.h"

static void list_types(const struct api_req *req, struct api_resp *resp)
{
	const struct type_catalog *cat = ctl_types(req->ctl);
	json_t *arr = json_array();
	for (int i = 0; i < cat->n; i++)
		json_array_append_new(arr, machine_type_to_json(&cat->types[i]));
	api_json(resp, 200, json_pack("{s:o}", "types", arr));
}

static void get_host(const struct api_req *req, struct api_resp *resp)
{
	struct host_info h;
	struct err e = {0};
	if (ctl_host_info(req->ctl, &h, &e) < 0) {
		api_error(resp, &e);
		return;
	}
	api_json(resp, 200,
		 json_pack("{s:i, s:i, s:f, s:f, s:i, s:i, s:i, s:i, s:i, s:s}", "vcpus", h.vcpus, "memory_mib",
			   h.memory_mib, "cpu_overcommit", h.cpu_overcommit, "memory_overcommit",
			   h.memory_overcommit, "reserved_memory_mib", h.reserved_memory_mib, "vcpus_allocatable",
			   h.vcpus_allocatable, "memory_mib_allocatable", h.memory_mib_allocatable, "vcpus_used",
			   h.vcpus_used, "memory_mib_used", h.memory_mib_used, "accel", h.accel));
}

static void get_operation(const struct api_req *req, struct api_resp *resp)
{
	struct operation op;
	struct err e = {0};
	if (store_op_get(ctl_store(req->ctl), req->args[0], &op, &e) < 0) {
		api_error(resp, &e);
		return;
	}
	api_json(resp, 200, operation_to_json(&op));
	operation_free_fields(&op);
}

const struct api_route api_misc_routes[] = {
	{"GET", "/v1/types", list_types},
	{"GET", "/v1/host", get_host},
	{"GET", "/v1/operations/{}", get_operation},
	{NULL, NULL, NULL},
};
