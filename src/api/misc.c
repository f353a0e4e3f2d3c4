/* misc: machine types, the host's capacity, nubod's version, operations, and
 * the OpenAPI document of the whole API. */
#include "api/api-priv.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

#include "api/longpoll.h"
#include "util/str.h"
#include "util/timeutil.h"

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
		 json_pack("{s:s, s:i, s:i, s:f, s:f, s:i, s:i, s:i, s:i, s:i, s:s}", "name", ctl_host_name(req->ctl),
			   "vcpus", h.vcpus, "memory_mib",
			   h.memory_mib, "cpu_overcommit", h.cpu_overcommit, "memory_overcommit",
			   h.memory_overcommit, "reserved_memory_mib", h.reserved_memory_mib, "vcpus_allocatable",
			   h.vcpus_allocatable, "memory_mib_allocatable", h.memory_mib_allocatable, "vcpus_used",
			   h.vcpus_used, "memory_mib_used", h.memory_mib_used, "accel", h.accel));
}

/* GET /v1/version: which nubod answers, and how it runs VMs and keeps its
 * store, for `nubo version` and for a user's bug report. The host is this
 * nubod's name in the cloud (--host-name; by default the machine's hostname). */
static void get_version(const struct api_req *req, struct api_resp *resp)
{
	struct host_info h;
	struct err e = {0};
	if (ctl_host_info(req->ctl, &h, &e) < 0) {
		api_error(resp, &e);
		return;
	}
	api_json(resp, 200,
		 json_pack("{s:s, s:s, s:s, s:s}", "version", NUBO_VERSION, "accel", h.accel ? h.accel : "",
			   "store", store_engine(ctl_store(req->ctl)), "host", ctl_host_name(req->ctl)));
}

/* GET /v1/operations/{id}[?wait=SECONDS[&after=REVISION]]: with wait, a
 * running operation whose revision is still `after` (or, without it, the one
 * read now) is held until it changes or the wait runs out; a finished one is
 * answered at once. Either way the answer is the operation as it is then. */
static void get_operation(const struct api_req *req, struct api_resp *resp)
{
	const char *wait = api_query(req, "wait"), *after = api_query(req, "after");
	int64_t wait_ms = 0;
	struct err e = {0};
	if (wait && longpoll_wait_parse("wait", wait, &wait_ms, &e) < 0) {
		api_error(resp, &e);
		return;
	}
	if (after && !wait) {
		err_set(&e, ERR_INVALID, "after \"%s\" needs wait=SECONDS: it says which revision to wait past", after);
		api_error(resp, &e);
		return;
	}
	if (after && !operation_revision_valid(after)) {
		err_set(&e, ERR_INVALID,
			"after \"%s\" is not an operation revision: give the \"revision\" field (16 hex digits) of an "
			"earlier answer", after);
		api_error(resp, &e);
		return;
	}
	struct operation op;
	if (store_op_get(ctl_store(req->ctl), req->args[0], &op, &e) < 0) {
		api_error(resp, &e);
		return;
	}
	char rev[OP_REVISION_LEN];
	operation_revision(&op, rev);
	const char *since = req->held ? req->held->since : after ? after : rev;
	int64_t until = req->held ? req->held->until_ms : time_mono_ms() + wait_ms;
	if (wait_ms > 0 && op.state == OP_RUNNING && strcmp(rev, since) == 0 && time_mono_ms() < until) {
		snprintf(resp->hold.key, sizeof(resp->hold.key), "%s", op.id);
		snprintf(resp->hold.since, sizeof(resp->hold.since), "%s", since);
		resp->hold.until_ms = until;
	} else {
		api_json(resp, 200, operation_to_json(&op));
	}
	operation_free_fields(&op);
}

/* /v1/hosts: the hosts of the cloud (ctl/hosts.c). */
static void answer_host(struct api_resp *resp, int rc, json_t *j, struct err *e)
{
	if (rc < 0)
		api_error(resp, e);
	else
		api_json(resp, 200, j);
}

static void list_hosts(const struct api_req *req, struct api_resp *resp)
{
	struct err e = {0};
	json_t *j = NULL;
	int rc = ctl_host_list(req->ctl, &j, &e);
	answer_host(resp, rc, j, &e);
}

static void show_host(const struct api_req *req, struct api_resp *resp)
{
	struct err e = {0};
	json_t *j = NULL;
	int rc = ctl_host_show(req->ctl, req->args[0], &j, &e);
	answer_host(resp, rc, j, &e);
}

/* Optional body {"move": true}: move its stopped VMs away too (ctl/moves.c). */
static void drain_host(const struct api_req *req, struct api_resp *resp)
{
	static const char *const fields[] = {"move", NULL};
	struct err e = {0};
	json_t *j = NULL;
	bool move = false;
	json_t *body = api_body_object(req, resp, true);
	if (!body)
		return;
	if (!api_check_fields(body, fields, resp) || !api_opt_bool(body, "move", false, &move, resp)) {
		json_decref(body);
		return;
	}
	json_decref(body);
	int rc = move ? ctl_host_drain_move(req->ctl, req->args[0], &j, &e)
		      : ctl_host_drain(req->ctl, req->args[0], true, &j, &e);
	answer_host(resp, rc, j, &e);
}

static void undrain_host(const struct api_req *req, struct api_resp *resp)
{
	struct err e = {0};
	json_t *j = NULL;
	int rc = ctl_host_drain(req->ctl, req->args[0], false, &j, &e);
	answer_host(resp, rc, j, &e);
}

static void remove_host(const struct api_req *req, struct api_resp *resp)
{
	struct err e = {0};
	if (ctl_host_remove(req->ctl, req->args[0], &e) < 0)
		api_error(resp, &e);
	else
		api_json(resp, 200, json_pack("{s:s}", "removed", req->args[0]));
}

/* GET /v1/openapi.json: the document built into nubod (src/api/openapi.json).
 * Like every path it needs a token over HTTPS: it tells nothing a token
 * holder cannot learn, and an open path would be one more thing to except. */
static void get_openapi(const struct api_req *req, struct api_resp *resp)
{
	(void)req;
	resp->status = 200;
	resp->json_len = api_openapi_json_len;
	resp->json_text = xcalloc(1, api_openapi_json_len + 1);
	memcpy(resp->json_text, api_openapi_json, api_openapi_json_len + 1);
}

const struct api_route api_misc_routes[] = {
	{"GET", "/v1/openapi.json", get_openapi},
	{"GET", "/v1/hosts", list_hosts},
	{"GET", "/v1/hosts/{}", show_host},
	{"POST", "/v1/hosts/{}/drain", drain_host},
	{"POST", "/v1/hosts/{}/undrain", undrain_host},
	{"DELETE", "/v1/hosts/{}", remove_host},
	{"GET", "/v1/types", list_types},
	{"GET", "/v1/host", get_host},
	{"GET", "/v1/version", get_version},
	{"GET", "/v1/operations/{}", get_operation},
	{NULL, NULL, NULL},
};
