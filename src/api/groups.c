/* groups: /v1/groups, auto-scaling groups, and /v1/vms/{}/protect. The
 * handlers parse and answer; ctl/groups-api.c checks the spec, and its
 * reconciler does the rest. */
#include <stdlib.h>
#include <string.h>

#include "api/body-priv.h"

/* An optional whole number in lo..hi; *out keeps dflt when absent. A value
 * of another type or out of range is a 400 naming the field and the value. */
static bool opt_int(json_t *body, const char *key, int lo, int hi, int dflt, int *out, struct api_resp *resp)
{
	json_t *v = json_object_get(body, key);
	*out = dflt;
	if (!v || json_is_null(v))
		return true;
	if (json_is_integer(v) && json_integer_value(v) >= lo && json_integer_value(v) <= hi) {
		*out = (int)json_integer_value(v);
		return true;
	}
	struct err e = {0};
	char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	err_set(&e, ERR_INVALID, "field \"%s\" must be a whole number from %d to %d; got %s", key, lo, hi,
		text ? text : "?");
	free(text);
	api_error(resp, &e);
	return false;
}

static void reply_group(const struct api_req *req, struct api_resp *resp, int status, const char *ref)
{
	json_t *j = NULL;
	struct err e = {0};
	if (ctl_group_show(req->ctl, ref, &j, &e) < 0)
		api_error(resp, &e);
	else
		api_json(resp, status, j);
}

static void list_groups(const struct api_req *req, struct api_resp *resp)
{
	json_t *j = NULL;
	struct err e = {0};
	if (ctl_group_list(req->ctl, &j, &e) < 0)
		api_error(resp, &e);
	else
		api_json(resp, 200, j);
}

static void get_group(const struct api_req *req, struct api_resp *resp)
{
	reply_group(req, resp, 200, req->args[0]);
}

bool api_group_create_parse(const struct api_req *req, struct api_resp *resp, struct api_group_create *out)
{
	static const char *const fields[] = {"name",	 "image",    "type",	 "network",  "firewalls",
					     "ssh_keys", "ssh_key_file", "user_data", "min",	"max",
					     "desired",	 "lb",	     "target_cpu", "grace",	 "warmup",
					     "cooldown", "drain",    NULL};
	memset(out, 0, sizeof(*out));
	struct ctl_group_request *r = &out->r;
	const char **fws = NULL, **keys = NULL;
	struct err e = {0};
	json_t *body = api_body_object(req, resp, false);
	if (!body)
		return false;
	if (!api_check_fields(body, fields, resp) || !api_opt_string(body, "name", &r->name, resp) ||
	    !api_opt_string(body, "image", &r->image, resp) || !api_opt_string(body, "type", &r->type, resp) ||
	    !api_opt_string(body, "network", &r->network, resp) ||
	    !api_opt_string_list(body, "firewalls", &fws, &r->n_firewalls, resp) ||
	    !api_opt_string_list(body, "ssh_keys", &keys, &r->n_ssh_keys, resp) ||
	    !api_opt_string(body, "ssh_key_file", &r->ssh_key_file, resp) ||
	    !api_opt_string(body, "user_data", &r->user_data, resp) ||
	    !opt_int(body, "min", 0, GROUP_SIZE_MAX, -1, &r->min_size, resp) ||
	    !opt_int(body, "max", 1, GROUP_SIZE_MAX, -1, &r->max_size, resp) ||
	    !opt_int(body, "desired", 0, GROUP_SIZE_MAX, -1, &r->desired, resp) ||
	    !api_opt_string(body, "lb", &r->lb, resp) || !opt_int(body, "target_cpu", 0, 100, 0, &r->target_cpu, resp) ||
	    !api_opt_string(body, "grace", &r->grace, resp) || !api_opt_string(body, "warmup", &r->warmup, resp) ||
	    !api_opt_string(body, "cooldown", &r->cooldown, resp) || !api_opt_string(body, "drain", &r->drain, resp))
		goto fail;
	if (!r->name)
		err_set(&e, ERR_INVALID, "field \"name\" is required: the group's name, e.g. web");
	else if (r->min_size < 0)
		err_set(&e, ERR_INVALID, "field \"min\" is required: the fewest VMs the group keeps, e.g. 2");
	else if (r->max_size < 0)
		err_set(&e, ERR_INVALID, "field \"max\" is required: the most VMs the group may have, e.g. 8");
	if (e.kind) {
		api_error(resp, &e);
		goto fail;
	}
	r->firewalls = fws;
	r->ssh_keys = keys;
	out->json = body;
	return true;
fail:
	free(keys);
	free(fws);
	json_decref(body);
	memset(out, 0, sizeof(*out));
	return false;
}

void api_group_create_free(struct api_group_create *b)
{
	free((void *)b->r.firewalls);
	free((void *)b->r.ssh_keys);
	json_decref(b->json);
	memset(b, 0, sizeof(*b));
}

static void create_group(const struct api_req *req, struct api_resp *resp)
{
	struct api_group_create b;
	struct err e = {0};
	struct scaling_group g;
	if (!api_group_create_parse(req, resp, &b))
		return;
	if (ctl_group_create(req->ctl, &b.r, &g, &e) < 0) {
		api_error(resp, &e);
	} else {
		reply_group(req, resp, 201, g.id);
		group_free_fields(&g);
	}
	api_group_create_free(&b);
}

bool api_group_set_parse(const struct api_req *req, struct api_resp *resp, struct api_group_set *out)
{
	static const char *const fields[] = {"min", "max", "desired", "target_cpu", NULL};
	struct err e = {0};
	json_t *body = api_body_object(req, resp, false);
	if (!body)
		return false;
	bool ok = api_check_fields(body, fields, resp) &&
		  opt_int(body, "min", 0, GROUP_SIZE_MAX, -1, &out->min_size, resp) &&
		  opt_int(body, "max", 1, GROUP_SIZE_MAX, -1, &out->max_size, resp) &&
		  opt_int(body, "desired", 0, GROUP_SIZE_MAX, -1, &out->desired, resp) &&
		  opt_int(body, "target_cpu", 0, 100, -1, &out->target_cpu, resp);
	json_decref(body);
	if (ok && out->min_size < 0 && out->max_size < 0 && out->desired < 0 && out->target_cpu < 0) {
		err_set(&e, ERR_INVALID, "give at least one of min, max, desired, target_cpu");
		api_error(resp, &e);
		ok = false;
	}
	return ok;
}

static void set_group(const struct api_req *req, struct api_resp *resp)
{
	struct api_group_set b;
	struct err e = {0};
	struct scaling_group g;
	if (!api_group_set_parse(req, resp, &b))
		return;
	if (ctl_group_set(req->ctl, req->args[0], b.min_size, b.max_size, b.desired, b.target_cpu, &g, &e) < 0) {
		api_error(resp, &e);
		return;
	}
	reply_group(req, resp, 200, g.id);
	group_free_fields(&g);
}

bool api_group_update_parse(const struct api_req *req, struct api_resp *resp, struct api_group_update *out)
{
	static const char *const fields[] = {"image", "type", NULL};
	memset(out, 0, sizeof(*out));
	json_t *body = api_body_object(req, resp, false);
	if (!body)
		return false;
	if (!api_check_fields(body, fields, resp) || !api_opt_string(body, "image", &out->image, resp) ||
	    !api_opt_string(body, "type", &out->type, resp)) {
		json_decref(body);
		memset(out, 0, sizeof(*out));
		return false;
	}
	out->json = body;
	return true;
}

static void update_group(const struct api_req *req, struct api_resp *resp)
{
	struct api_group_update b;
	struct err e = {0};
	struct scaling_group g;
	if (!api_group_update_parse(req, resp, &b))
		return;
	if (ctl_group_update(req->ctl, req->args[0], b.image, b.type, &g, &e) < 0) {
		api_error(resp, &e);
	} else {
		reply_group(req, resp, 202, g.id);
		group_free_fields(&g);
	}
	json_decref(b.json);
}

static void delete_group(const struct api_req *req, struct api_resp *resp)
{
	struct err e = {0};
	struct scaling_group g;
	if (ctl_group_delete(req->ctl, req->args[0], &g, &e) < 0) {
		api_error(resp, &e);
		return;
	}
	reply_group(req, resp, 202, g.id);
	group_free_fields(&g);
}

static void protect(const struct api_req *req, struct api_resp *resp, bool on)
{
	struct group_member m;
	struct err e = {0};
	if (ctl_vm_protect(req->ctl, req->args[0], on, &m, &e) < 0)
		api_error(resp, &e);
	else
		api_json(resp, 200, group_member_to_json(&m));
}

static void protect_vm(const struct api_req *req, struct api_resp *resp)
{
	protect(req, resp, true);
}

static void unprotect_vm(const struct api_req *req, struct api_resp *resp)
{
	protect(req, resp, false);
}

const struct api_route api_group_routes[] = {
	{"GET", "/v1/groups", list_groups},
	{"POST", "/v1/groups", create_group},
	{"GET", "/v1/groups/{}", get_group},
	{"PATCH", "/v1/groups/{}", set_group},
	{"DELETE", "/v1/groups/{}", delete_group},
	{"POST", "/v1/groups/{}/update", update_group},
	{"POST", "/v1/vms/{}/protect", protect_vm},
	{"DELETE", "/v1/vms/{}/protect", unprotect_vm},
	{NULL, NULL, NULL},
};
