/* lbs: /v1/lbs, load balancers and their targets. The handlers parse and
 * answer; ctl/lbs.c checks the spec and waits for the ruleset. */
#include <stdlib.h>
#include <string.h>

#include "api/api-priv.h"

static json_t *lb_json(const struct api_req *req, const struct lb *lb)
{
	struct store *st = ctl_store(req->ctl);
	struct lb_listener *ls = NULL;
	struct lb_target *ts = NULL;
	int n_ls = 0, n_ts = 0;
	if (store_lb_listener_list(st, lb->id, &ls, &n_ls, NULL) < 0)
		n_ls = 0;
	if (store_lb_target_list(st, lb->id, &ts, &n_ts, NULL) < 0)
		n_ts = 0;
	ctl_lb_connections(req->ctl, ts, n_ts);
	json_t *j = lb_to_json(lb, ls, n_ls, ts, n_ts);
	free(ts);
	free(ls);
	return j;
}

static void list_lbs(const struct api_req *req, struct api_resp *resp)
{
	struct lb *lbs = NULL;
	int n = 0;
	struct err e = {0};
	if (store_lb_list(ctl_store(req->ctl), &lbs, &n, &e) < 0) {
		api_error(resp, &e);
		return;
	}
	json_t *arr = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(arr, lb_json(req, &lbs[i]));
	free(lbs);
	api_json(resp, 200, json_pack("{s:o}", "lbs", arr));
}

static void get_lb(const struct api_req *req, struct api_resp *resp)
{
	struct lb lb;
	struct err e = {0};
	if (store_lb_get(ctl_store(req->ctl), req->args[0], &lb, &e) < 0)
		api_error(resp, &e);
	else
		api_json(resp, 200, lb_json(req, &lb));
}

/* An optional small integer; -1 when absent. */
static bool opt_count(json_t *body, const char *key, int *out, struct api_resp *resp)
{
	json_t *v = json_object_get(body, key);
	*out = -1;
	if (!v || json_is_null(v))
		return true;
	if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= 1000) {
		*out = (int)json_integer_value(v);
		return true;
	}
	struct err e = {0};
	char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	err_set(&e, ERR_INVALID, "field \"%s\" must be a whole number of checks, e.g. 2; got %s", key, text ? text : "?");
	free(text);
	api_error(resp, &e);
	return false;
}

static void create_lb(const struct api_req *req, struct api_resp *resp)
{
	static const char *const fields[] = {"name", "network", "listen",    "targets", "check",     "interval",
					     "timeout", "rise",   "fall", "algorithm", "drain", "host_port", NULL};
	struct ctl_lb_request r = {0};
	const char **listen = NULL, **targets = NULL;
	struct err e = {0};
	struct lb lb;
	json_t *body = api_body_object(req, resp, false);
	if (!body)
		return;
	if (!api_check_fields(body, fields, resp) || !api_opt_string(body, "name", &r.name, resp) ||
	    !api_opt_string(body, "network", &r.network, resp) ||
	    !api_opt_string_list(body, "listen", &listen, &r.n_listen, resp) ||
	    !api_opt_string_list(body, "targets", &targets, &r.n_targets, resp) ||
	    !api_opt_string(body, "check", &r.check, resp) || !api_opt_string(body, "interval", &r.interval, resp) ||
	    !api_opt_string(body, "timeout", &r.timeout, resp) ||
	    !api_opt_string(body, "algorithm", &r.algorithm, resp) || !opt_count(body, "rise", &r.rise, resp) ||
	    !opt_count(body, "fall", &r.fall, resp) || !api_opt_string(body, "drain", &r.drain, resp) ||
	    !api_opt_bool(body, "host_port", false, &r.host_port, resp))
		goto out;
	r.listen = listen;
	r.targets = targets;
	if (!r.name)
		err_set(&e, ERR_INVALID, "field \"name\" is required: the balancer's name, e.g. web");
	if (!r.name || ctl_lb_create(req->ctl, &r, &lb, &e) < 0)
		api_error(resp, &e);
	else
		api_json(resp, 201, lb_json(req, &lb));
out:
	free(targets);
	free(listen);
	json_decref(body);
}

static void set_lb(const struct api_req *req, struct api_resp *resp)
{
	static const char *const fields[] = {"drain", NULL};
	const char *drain = NULL;
	struct err e = {0};
	struct lb lb;
	json_t *body = api_body_object(req, resp, false);
	if (!body)
		return;
	if (api_check_fields(body, fields, resp) && api_opt_string(body, "drain", &drain, resp)) {
		if (!drain)
			err_set(&e, ERR_INVALID, "give drain, e.g. {\"drain\": \"10s\"}: the one setting that changes");
		if (!drain || ctl_lb_set(req->ctl, req->args[0], drain, &lb, &e) < 0)
			api_error(resp, &e);
		else
			api_json(resp, 200, lb_json(req, &lb));
	}
	json_decref(body);
}

/* 202 with the balancer being deleted (its connections are cut next, then
 * it is gone), or 204 when it had no target and is gone already. */
static void delete_lb(const struct api_req *req, struct api_resp *resp)
{
	struct err e = {0};
	struct lb lb;
	bool gone = false;
	if (ctl_lb_delete(req->ctl, req->args[0], &lb, &gone, &e) < 0)
		api_error(resp, &e);
	else if (gone)
		resp->status = 204;
	else
		api_json(resp, 202, lb_json(req, &lb));
}

static void add_target(const struct api_req *req, struct api_resp *resp)
{
	json_t *body = NULL;
	const char *target = NULL;
	if (!api_body_one_string(req, resp, "target", "a VM, or VM:PORT", &body, &target))
		return;
	struct lb_target t;
	struct lb lb;
	struct err e = {0};
	if (ctl_lb_target_add(req->ctl, req->args[0], target, &t, &e) < 0 ||
	    store_lb_get(ctl_store(req->ctl), req->args[0], &lb, &e) < 0)
		api_error(resp, &e);
	else
		api_json(resp, 201, lb_json(req, &lb));
	json_decref(body);
}

static void remove_target(const struct api_req *req, struct api_resp *resp)
{
	struct err e = {0};
	if (ctl_lb_target_remove(req->ctl, req->args[0], req->args[1], &e) < 0)
		api_error(resp, &e);
	else
		resp->status = 204;
}

const struct api_route api_lb_routes[] = {
	{"GET", "/v1/lbs", list_lbs},
	{"POST", "/v1/lbs", create_lb},
	{"GET", "/v1/lbs/{}", get_lb},
	{"PATCH", "/v1/lbs/{}", set_lb},
	{"DELETE", "/v1/lbs/{}", delete_lb},
	{"POST", "/v1/lbs/{}/targets", add_target},
	{"DELETE", "/v1/lbs/{}/targets/{}", remove_target},
	{NULL, NULL, NULL},
};
