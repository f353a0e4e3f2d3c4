/* vms: the /v1/vms endpoints. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "api/api-priv.h"
#include "api/vmcache.h"
#include "api/body-priv.h"
#include "util/str.h"

/* GET /v1/vms[?limit=N][&page_token=T]: one page, by name; next_page_token
 * (the last name) when more follow. A page costs the same however many VMs
 * there are, and little more than a copy of bytes: each VM's JSON is kept
 * (vmcache) until its revision changes. */
#define VM_PAGE_DEFAULT 100
#define VM_PAGE_MAX 1000

/* Renders the VMs of the page the cache lacks and keeps them. */
static int render_missing(const struct api_req *req, const struct vm_rev *revs, int n, struct err *e)
{
	const char **ids = xcalloc((size_t)n + 1, sizeof(*ids));
	int k = 0;
	for (int i = 0; i < n; i++)
		if (!vmcache_has(revs[i].id, revs[i].rev))
			ids[k++] = revs[i].id;
	struct vm *vms = NULL;
	int got = 0;
	int rc = k ? store_vm_get_many(ctl_store(req->ctl), ids, k, &vms, &got, e) : 0;
	for (int i = 0; rc == 0 && i < got; i++) {
		int64_t rev = 0;
		for (int j = 0; j < n; j++)   /* at least this revision: the row was read after the page */
			if (strcmp(revs[j].id, vms[i].id) == 0)
				rev = revs[j].rev;
		json_t *j = vm_to_json(&vms[i]);
		char *text = json_dumps(j, JSON_COMPACT);
		vmcache_put(vms[i].id, rev, text);
		free(text);
		json_decref(j);
	}
	vm_list_free(vms, got);
	free(ids);
	return rc;
}

/* ,"cost":C} with C as %.6f writes it. A cost is rounded to millionths
 * (usage_round6): below 10^9 it is then the double nearest to k / 10^6,
 * which %.6f shows as k's digits; these are written without printf, a
 * quarter of a page's work when done with it. */
static void add_cost(struct sbuf *b, double cost)
{
	if (!(cost >= 0 && cost < 1e9)) {
		sbuf_addf(b, ",\"cost\":%.6f}", cost);
		return;
	}
	long long k = llround(cost * 1e6), whole = k / 1000000, frac = k % 1000000;
	char text[32], *p = text + sizeof(text) - 9;   /* room for ".dddddd}" and the end */
	p[0] = '.';
	for (int i = 6; i >= 1; i--, frac /= 10)
		p[i] = (char)('0' + frac % 10);
	p[7] = '}';
	p[8] = '\0';
	do
		*--p = (char)('0' + whole % 10);
	while ((whole /= 10) > 0);
	sbuf_add(b, ",\"cost\":");
	sbuf_add(b, p);
}

static void list_vms(const struct api_req *req, struct api_resp *resp)
{
	struct err e = {0};
	const char *limit_text = api_query(req, "limit"), *token = api_query(req, "page_token");
	long limit = VM_PAGE_DEFAULT;
	if (limit_text) {
		char *end = NULL;
		limit = strtol(limit_text, &end, 10);
		if (!*limit_text || *end || limit < 1 || limit > VM_PAGE_MAX) {
			err_set(&e, ERR_INVALID, "limit \"%.32s\" must be a number from 1 to %d", limit_text, VM_PAGE_MAX);
			api_error(resp, &e);
			return;
		}
	}
	struct vm_rev *revs = NULL;
	int n = 0;
	bool more = false;
	if (store_vm_page_revs(ctl_store(req->ctl), token, (int)limit, &revs, &n, &more, &e) < 0 ||
	    render_missing(req, revs, n, &e) < 0) {
		free(revs);
		api_error(resp, &e);
		return;
	}
	/* The cost so far changes by the second, so it is not in the cached
	 * JSON: it is worked out for the whole page at once, from spans kept
	 * per revision beside the JSON, and put at each VM's end. */
	double *costs = xcalloc((size_t)n + 1, sizeof(*costs));
	bool have_costs = api_vm_page_costs(req, revs, n, costs, &e) == 0;
	struct sbuf b = {0};
	sbuf_add(&b, "{\"vms\":[");
	for (int i = 0, shown = 0; i < n; i++) {
		/* Changed again since render_missing: this one renders now. A VM
		 * deleted meanwhile (by any host) renders nothing and is left out. */
		struct sbuf one = {0};
		bool got = vmcache_append(&one, revs[i].id, revs[i].rev);
		if (!got && render_missing(req, &revs[i], 1, &e) == 0)
			got = vmcache_append(&one, revs[i].id, revs[i].rev);
		if (got && one.len) {
			if (shown++)
				sbuf_add(&b, ",");
			bool cost = have_costs && one.data[one.len - 1] == '}';   /* the cost goes before the VM's end */
			sbuf_addn(&b, one.data, cost ? one.len - 1 : one.len);
			if (cost)
				add_cost(&b, costs[i]);
		}
		free(sbuf_take(&one));
	}
	free(costs);
	sbuf_add(&b, "]");
	if (more)   /* names are DNS labels: nothing to escape */
		sbuf_addf(&b, ",\"next_page_token\":\"%s\"", revs[n - 1].name);
	sbuf_add(&b, "}");
	free(revs);
	resp->status = 200;
	resp->json_len = b.len;
	resp->json_text = sbuf_take(&b);
}

static void get_vm(const struct api_req *req, struct api_resp *resp)
{
	struct vm vm;
	struct err e = {0};
	if (store_vm_get(ctl_store(req->ctl), req->args[0], &vm, &e) < 0) {
		api_error(resp, &e);
		return;
	}
	const char *id = vm.id;
	double cost = 0;
	if (api_vm_costs(req, &id, 1, &cost, &e) < 0) {
		vm_free_fields(&vm);
		api_error(resp, &e);
		return;
	}
	json_t *j = vm_to_json(&vm);
	json_object_set_new(j, "cost", json_real(cost));
	api_json(resp, 200, j);
	vm_free_fields(&vm);
}

static void answer_vm_op(struct api_resp *resp, int status, struct vm *vm, struct operation *op)
{
	api_json(resp, status, json_pack("{s:o, s:o}", "vm", vm_to_json(vm), "operation", operation_to_json(op)));
	vm_free_fields(vm);
	operation_free_fields(op);
}

/* ssh_keys: a list of strings; borrowed pointers into obj. */
static bool read_keys(json_t *obj, const char ***keys, int *n, struct api_resp *resp)
{
	json_t *arr = json_object_get(obj, "ssh_keys");
	*keys = NULL;
	*n = 0;
	if (!arr || json_is_null(arr))
		return true;
	struct err e = {0};
	if (!json_is_array(arr)) {
		err_set(&e, ERR_INVALID, "field \"ssh_keys\" must be a list of public keys");
		api_error(resp, &e);
		return false;
	}
	*keys = xcalloc(json_array_size(arr) + 1, sizeof(char *));
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v) {
		if (!json_is_string(v)) {
			free(*keys);
			*keys = NULL;
			err_set(&e, ERR_INVALID, "ssh_keys[%zu] must be a string", i);
			api_error(resp, &e);
			return false;
		}
		if (!api_check_length("ssh_keys", (long)i, json_string_value(v), resp)) {
			free(*keys);
			*keys = NULL;
			return false;
		}
		(*keys)[(*n)++] = json_string_value(v);
	}
	return true;
}

/* nics: a list of {"network": N, "ip": A (optional)}; borrowed pointers into obj. */
static bool read_nics(json_t *obj, struct vm_nic_request **nics, int *n, struct api_resp *resp)
{
	static const char *const fields[] = {"network", "ip", NULL};
	json_t *arr = json_object_get(obj, "nics");
	*nics = NULL;
	*n = 0;
	if (!arr || json_is_null(arr))
		return true;
	struct err e = {0};
	if (!json_is_array(arr)) {
		err_set(&e, ERR_INVALID, "field \"nics\" must be a list of {\"network\": NAME, \"ip\": ADDRESS}");
		api_error(resp, &e);
		return false;
	}
	*nics = xcalloc(json_array_size(arr) + 1, sizeof(**nics));
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v) {
		struct vm_nic_request *r = &(*nics)[i];
		if (!json_is_object(v)) {
			err_set(&e, ERR_INVALID, "nics[%zu] must be an object such as {\"network\": \"default\"}", i);
			api_error(resp, &e);
			return false;
		}
		if (!api_check_fields(v, fields, resp) || !api_opt_string(v, "network", &r->network, resp) ||
		    !api_opt_string(v, "ip", &r->ip, resp))
			return false;
		(*n)++;
	}
	return true;
}

/* seed: true (the default) or false, for a VM that reads the metadata service alone. */
static bool read_seed(json_t *obj, bool *no_seed, struct api_resp *resp)
{
	json_t *v = json_object_get(obj, "seed");
	*no_seed = false;
	if (!v || json_is_null(v))
		return true;
	if (!json_is_boolean(v)) {
		struct err e = {0};
		err_set(&e, ERR_INVALID, "field \"seed\" must be true or false (false: no NoCloud seed disk; the guest "
				       "reads the metadata service at 169.254.169.254)");
		api_error(resp, &e);
		return false;
	}
	*no_seed = json_is_false(v);
	return true;
}

bool api_vm_create_parse(const struct api_req *req, struct api_resp *resp, struct api_vm_create *out)
{
	static const char *const fields[] = {"name",	  "type",      "image",	    "ssh_keys",	     "ssh_key_file",
					     "user_data", "disk_size", "ephemeral", "from_snapshot", "nics",
					     "firewalls", "seed",      "max_type", "host", "spread_group", NULL};
	memset(out, 0, sizeof(*out));
	json_t *body = api_body_object(req, resp, false);
	if (!body)
		return false;
	struct vm_request *r = &out->r;
	const char **keys = NULL, **fws = NULL;
	struct vm_nic_request *nics = NULL;
	if (!api_check_fields(body, fields, resp) || !api_opt_string(body, "name", &r->name, resp) ||
	    !api_opt_string(body, "type", &r->type, resp) || !api_opt_string(body, "image", &r->image, resp) ||
	    !api_opt_string(body, "max_type", &r->max_type, resp) ||
	    !api_opt_string(body, "host", &r->host, resp) ||
	    !api_opt_string(body, "spread_group", &r->spread_group, resp) ||
	    !api_opt_string(body, "ssh_key_file", &r->ssh_key_file, resp) ||
	    !api_opt_string(body, "user_data", &r->user_data, resp) ||
	    !api_opt_string(body, "disk_size", &r->disk_size, resp) ||
	    !api_opt_string(body, "ephemeral", &r->ephemeral, resp) ||
	    !api_opt_string(body, "from_snapshot", &r->from_snapshot, resp) ||
	    !read_seed(body, &r->no_seed, resp) || !read_keys(body, &keys, &r->n_ssh_keys, resp) ||
	    !read_nics(body, &nics, &r->n_nics, resp) ||
	    !api_opt_string_list(body, "firewalls", &fws, &r->n_firewalls, resp)) {
		free(keys);
		free(nics);
		free(fws);
		json_decref(body);
		memset(out, 0, sizeof(*out));
		return false;
	}
	r->ssh_keys = keys;
	r->nics = nics;
	r->firewalls = fws;
	out->json = body;
	return true;
}

void api_vm_create_free(struct api_vm_create *b)
{
	if (!b)
		return;
	free((void *)b->r.ssh_keys);
	free((void *)b->r.nics);
	free((void *)b->r.firewalls);
	json_decref(b->json);
	memset(b, 0, sizeof(*b));
}

static void create_vm(const struct api_req *req, struct api_resp *resp)
{
	struct api_vm_create b;
	if (!api_vm_create_parse(req, resp, &b))
		return;
	struct vm vm;
	struct operation op;
	struct err e = {0};
	if (ctl_vm_create(req->ctl, &b.r, &vm, &op, &e) < 0)
		api_error(resp, &e);
	else
		answer_vm_op(resp, 202, &vm, &op);
	api_vm_create_free(&b);
}

bool api_vm_action_parse(const struct api_req *req, struct api_resp *resp, bool takes_force, bool *force)
{
	static const char *const with_force[] = {"force", NULL};
	static const char *const none[] = {NULL};
	*force = false;
	json_t *body = api_body_object(req, resp, true);
	if (!body)
		return false;
	json_t *f = json_object_get(body, "force");
	bool ok = api_check_fields(body, takes_force ? with_force : none, resp);
	if (ok && f && !json_is_boolean(f)) {
		struct err e = {0};
		err_set(&e, ERR_INVALID, "field \"force\" must be true or false");
		api_error(resp, &e);
		ok = false;
	}
	if (ok)
		*force = json_is_true(f);
	json_decref(body);
	return ok;
}

static void act(const struct api_req *req, struct api_resp *resp, enum vm_action a, bool takes_force)
{
	struct vm vm;
	struct operation op;
	bool accepted = false, force;
	struct err e = {0};
	if (!api_vm_action_parse(req, resp, takes_force, &force))
		return;
	if (ctl_vm_act(req->ctl, req->args[0], a, force, &vm, &op, &accepted, &e) < 0)
		api_error(resp, &e);
	else
		answer_vm_op(resp, accepted ? 202 : 200, &vm, &op);
}

static void start_vm(const struct api_req *req, struct api_resp *resp)
{
	act(req, resp, VM_ACTION_START, false);
}

static void stop_vm(const struct api_req *req, struct api_resp *resp)
{
	act(req, resp, VM_ACTION_STOP, true);
}

static void reboot_vm(const struct api_req *req, struct api_resp *resp)
{
	act(req, resp, VM_ACTION_REBOOT, true);
}

static void delete_vm(const struct api_req *req, struct api_resp *resp)
{
	act(req, resp, VM_ACTION_DELETE, false);
}

bool api_vm_restore_parse(const struct api_req *req, struct api_resp *resp, struct api_vm_restore *out)
{
	memset(out, 0, sizeof(*out));
	return api_body_one_string(req, resp, "snapshot", "the snapshot to roll back to", &out->json, &out->snapshot);
}

static void restore_vm(const struct api_req *req, struct api_resp *resp)
{
	struct api_vm_restore b;
	struct vm vm;
	struct operation op;
	struct err e = {0};
	if (!api_vm_restore_parse(req, resp, &b))
		return;
	if (ctl_vm_restore(req->ctl, req->args[0], b.snapshot, &vm, &op, &e) < 0)
		api_error(resp, &e);
	else
		answer_vm_op(resp, 202, &vm, &op);
	json_decref(b.json);
}

bool api_vm_resize_parse(const struct api_req *req, struct api_resp *resp, struct api_vm_resize *out)
{
	static const char *const fields[] = {"type", "disk_size", "restart", NULL};
	memset(out, 0, sizeof(*out));
	json_t *body = api_body_object(req, resp, false);
	if (!body)
		return false;
	struct vm_resize_request *r = &out->r;
	if (!api_check_fields(body, fields, resp) || !api_opt_string(body, "type", &r->type, resp) ||
	    !api_opt_string(body, "disk_size", &r->disk_size, resp) ||
	    !api_opt_bool(body, "restart", false, &r->restart, resp)) {
		json_decref(body);
		memset(out, 0, sizeof(*out));
		return false;
	}
	if (!r->type && !r->disk_size) {
		struct err e = {0};
		err_set(&e, ERR_INVALID, "give \"type\", \"disk_size\" or both, such as {\"type\": \"medium\"}");
		api_error(resp, &e);
		json_decref(body);
		memset(out, 0, sizeof(*out));
		return false;
	}
	out->json = body;
	return true;
}

static void resize_vm(const struct api_req *req, struct api_resp *resp)
{
	struct api_vm_resize b;
	struct vm vm;
	struct operation op;
	bool accepted = false;
	struct err e = {0};
	if (!api_vm_resize_parse(req, resp, &b))
		return;
	if (ctl_vm_resize(req->ctl, req->args[0], &b.r, &vm, &op, &accepted, &e) < 0)
		api_error(resp, &e);
	else
		answer_vm_op(resp, accepted ? 202 : 200, &vm, &op);
	json_decref(b.json);
}

static void move_vm(const struct api_req *req, struct api_resp *resp)
{
	json_t *body = NULL;
	const char *to = NULL;
	struct vm vm;
	struct operation op;
	struct err e = {0};
	if (!api_body_one_string(req, resp, "to", "the host to move the VM to", &body, &to))
		return;
	if (ctl_vm_move(req->ctl, req->args[0], to, &vm, &op, &e) < 0)
		api_error(resp, &e);
	else
		answer_vm_op(resp, 202, &vm, &op);
	json_decref(body);
}

static void console_vm(const struct api_req *req, struct api_resp *resp)
{
	struct err e = {0};
	char *text = NULL;
	size_t len = 0;
	if (ctl_vm_console(req->ctl, req->args[0], &text, &len, &e) < 0) {
		api_error(resp, &e);
		return;
	}
	resp->status = 200;
	resp->text = text;
	resp->text_len = len;
}

const struct api_route api_vm_routes[] = {
	{"GET", "/v1/vms", list_vms},
	{"POST", "/v1/vms", create_vm},
	{"GET", "/v1/vms/{}", get_vm},
	{"DELETE", "/v1/vms/{}", delete_vm},
	{"POST", "/v1/vms/{}/start", start_vm},
	{"POST", "/v1/vms/{}/stop", stop_vm},
	{"POST", "/v1/vms/{}/reboot", reboot_vm},
	{"POST", "/v1/vms/{}/restore", restore_vm},
	{"POST", "/v1/vms/{}/resize", resize_vm},
	{"POST", "/v1/vms/{}/move", move_vm},
	{"GET", "/v1/vms/{}/console", console_vm},
	{NULL, NULL, NULL},
};
