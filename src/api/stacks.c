/*
 * stacks: the /v1/stacks endpoints. A stack document travels as JSON in
 * "document" (model/stack.h); the CLI reads the user's YAML into it. Errors
 * about the document start with the field's path, which the CLI turns back
 * into the file's line and column. See docs/stacks.md.
 */
#include <stdlib.h>
#include <string.h>

#include "api/api-priv.h"
#include "api/body-priv.h"

bool api_stack_body_parse(const struct api_req *req, struct api_resp *resp, const char *const fields[],
			  struct api_stack_body *out)
{
	struct err e = {0};
	memset(out, 0, sizeof(*out));
	json_t *body = api_body_object(req, resp, false);
	if (!body)
		return false;
	if (!api_check_fields(body, fields, resp) || !api_opt_string(body, "lease", &out->lease, resp) ||
	    !api_opt_string(body, "resource", &out->resource, resp) || !api_opt_string(body, "phase", &out->phase, resp))
		goto fail;
	out->document = json_object_get(body, "document");
	out->plan = json_object_get(body, "plan");
	for (int i = 0; fields[i]; i++) {
		const char *f = fields[i];
		bool optional = strcmp(f, "plan") == 0;
		if (!optional && !json_object_get(body, f)) {
			err_set(&e, ERR_INVALID, "field \"%s\" is required", f);
			api_error(resp, &e);
			goto fail;
		}
	}
	if (out->document && !json_is_object(out->document)) {
		api_error(resp, (err_set(&e, ERR_INVALID, "document must be an object: the stack file as JSON"), &e));
		goto fail;
	}
	if (out->plan && !json_is_object(out->plan)) {
		api_error(resp, (err_set(&e, ERR_INVALID, "plan must be an object: a plan from POST /v1/stacks/{name}/plan"), &e));
		goto fail;
	}
	out->json = body;
	return true;
fail:
	json_decref(body);
	memset(out, 0, sizeof(*out));
	return false;
}

static void list_stacks(const struct api_req *req, struct api_resp *resp)
{
	json_t *out;
	struct err e = {0};
	if (ctl_stack_list(req->ctl, &out, &e) < 0)
		api_error(resp, &e);
	else
		api_json(resp, 200, out);
}

static void get_stack(const struct api_req *req, struct api_resp *resp)
{
	json_t *out;
	struct err e = {0};
	if (ctl_stack_show(req->ctl, req->args[0], &out, &e) < 0)
		api_error(resp, &e);
	else
		api_json(resp, 200, out);
}

static void plan_stack(const struct api_req *req, struct api_resp *resp)
{
	static const char *const fields[] = {"document", NULL};
	struct api_stack_body b;
	json_t *plan;
	struct err e = {0};
	if (!api_stack_body_parse(req, resp, fields, &b))
		return;
	if (ctl_stack_plan(req->ctl, req->args[0], b.document, &plan, &e) < 0)
		api_error(resp, &e);
	else
		api_json(resp, 200, plan);
	json_decref(b.json);
}

static void lock_stack(const struct api_req *req, struct api_resp *resp)
{
	static const char *const fields[] = {"document", "plan", NULL};
	struct api_stack_body b;
	json_t *plan;
	char lease[ID_MAX];
	struct err e = {0};
	if (!api_stack_body_parse(req, resp, fields, &b))
		return;
	if (ctl_stack_lock(req->ctl, req->args[0], b.document, b.plan, lease, &plan, &e) < 0)
		api_error(resp, &e);
	else
		api_json(resp, 200, json_pack("{s:s, s:o}", "lease", lease, "plan", plan));
	json_decref(b.json);
}

static void apply_stack(const struct api_req *req, struct api_resp *resp)
{
	static const char *const fields[] = {"document", "lease", "resource", "phase", NULL};
	struct api_stack_body b;
	json_t *out;
	struct err e = {0};
	if (!api_stack_body_parse(req, resp, fields, &b))
		return;
	if (ctl_stack_step(req->ctl, req->args[0], b.lease, b.document, b.resource, b.phase, &out, &e) < 0)
		api_error(resp, &e);
	else
		api_json(resp, 200, out);
	json_decref(b.json);
}

static void unlock_stack(const struct api_req *req, struct api_resp *resp)
{
	static const char *const fields[] = {"lease", NULL};
	struct api_stack_body b;
	struct err e = {0};
	if (!api_stack_body_parse(req, resp, fields, &b))
		return;
	if (ctl_stack_unlock(req->ctl, req->args[0], b.lease, &e) < 0)
		api_error(resp, &e);
	else
		api_json(resp, 200, json_object());
	json_decref(b.json);
}

static void adopt_stack(const struct api_req *req, struct api_resp *resp)
{
	static const char *const fields[] = {"resource", NULL};
	struct api_stack_body b;
	json_t *out;
	struct err e = {0};
	if (!api_stack_body_parse(req, resp, fields, &b))
		return;
	if (ctl_stack_adopt(req->ctl, req->args[0], b.resource, &e) < 0 || ctl_stack_show(req->ctl, req->args[0], &out, &e) < 0)
		api_error(resp, &e);
	else
		api_json(resp, 200, out);
	json_decref(b.json);
}

const struct api_route api_stack_routes[] = {
	{"GET", "/v1/stacks", list_stacks},
	{"GET", "/v1/stacks/{}", get_stack},
	{"POST", "/v1/stacks/{}/plan", plan_stack},
	{"POST", "/v1/stacks/{}/lock", lock_stack},
	{"POST", "/v1/stacks/{}/apply", apply_stack},
	{"POST", "/v1/stacks/{}/unlock", unlock_stack},
	{"POST", "/v1/stacks/{}/adopt", adopt_stack},
	{NULL, NULL, NULL},
};
