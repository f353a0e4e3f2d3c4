/* firewalls: /v1/firewalls, their rules, and the firewall and port-forward
 * settings of VMs (/v1/vms/{}/firewalls, /v1/vms/{}/forwards). */
#include <stdlib.h>
#include <string.h>

#include "api/api-priv.h"
#include "api/body-priv.h"

static json_t *firewall_json(const struct api_req *req, const struct firewall *fw, bool with_rules)
{
	struct store *st = ctl_store(req->ctl);
	struct fw_rule *rules = NULL;
	int n = 0, members = -1, refs = 0;
	if (store_fw_rule_list(st, fw->id, &rules, &n, NULL) < 0)
		n = 0;
	if (store_firewall_usage(st, fw->id, &members, &refs, NULL) < 0)
		members = -1;
	json_t *j = firewall_to_json(fw, with_rules ? rules : NULL, n, members);
	free(rules);
	return j;
}

static void list_firewalls(const struct api_req *req, struct api_resp *resp)
{
	struct firewall *fws = NULL;
	int n = 0;
	struct err e = {0};
	if (store_firewall_list(ctl_store(req->ctl), &fws, &n, &e) < 0) {
		api_error(resp, &e);
		return;
	}
	json_t *arr = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(arr, firewall_json(req, &fws[i], false));
	free(fws);
	api_json(resp, 200, json_pack("{s:o}", "firewalls", arr));
}

static void get_firewall(const struct api_req *req, struct api_resp *resp)
{
	struct firewall fw;
	struct err e = {0};
	if (store_firewall_get(ctl_store(req->ctl), req->args[0], &fw, &e) < 0)
		api_error(resp, &e);
	else
		api_json(resp, 200, firewall_json(req, &fw, true));
}

bool api_firewall_create_parse(const struct api_req *req, struct api_resp *resp, struct api_firewall_create *out)
{
	static const char *const fields[] = {"name", "description", NULL};
	memset(out, 0, sizeof(*out));
	json_t *body = api_body_object(req, resp, false);
	if (!body)
		return false;
	if (!api_check_fields(body, fields, resp) || !api_opt_string(body, "name", &out->name, resp) ||
	    !api_opt_string(body, "description", &out->description, resp)) {
		json_decref(body);
		memset(out, 0, sizeof(*out));
		return false;
	}
	out->json = body;
	return true;
}

static void create_firewall(const struct api_req *req, struct api_resp *resp)
{
	struct api_firewall_create b;
	struct firewall fw;
	struct err e = {0};
	if (!api_firewall_create_parse(req, resp, &b))
		return;
	if (ctl_firewall_create(req->ctl, b.name, b.description, &fw, &e) < 0)
		api_error(resp, &e);
	else
		api_json(resp, 201, firewall_json(req, &fw, true));
	json_decref(b.json);
}

static void delete_firewall(const struct api_req *req, struct api_resp *resp)
{
	struct err e = {0};
	if (ctl_firewall_delete(req->ctl, req->args[0], &e) < 0)
		api_error(resp, &e);
	else
		resp->status = 204;
}

static void list_rules(const struct api_req *req, struct api_resp *resp)
{
	struct firewall fw;
	struct fw_rule *rules = NULL;
	int n = 0;
	struct err e = {0};
	if (store_firewall_get(ctl_store(req->ctl), req->args[0], &fw, &e) < 0 ||
	    store_fw_rule_list(ctl_store(req->ctl), fw.id, &rules, &n, &e) < 0) {
		api_error(resp, &e);
		return;
	}
	json_t *arr = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(arr, fw_rule_to_json(&rules[i]));
	free(rules);
	api_json(resp, 200, json_pack("{s:o}", "rules", arr));
}

bool api_fw_rule_add_parse(const struct api_req *req, struct api_resp *resp, struct api_fw_rule_add *out)
{
	static const char *const fields[] = {"proto", "port", "from", "from_firewall", NULL};
	memset(out, 0, sizeof(*out));
	json_t *body = api_body_object(req, resp, false);
	if (!body)
		return false;
	if (!api_check_fields(body, fields, resp) || !api_opt_string(body, "proto", &out->proto, resp) ||
	    !api_opt_port(body, "port", out->port_buf, &out->port, resp) ||
	    !api_opt_string(body, "from", &out->from, resp) ||
	    !api_opt_string(body, "from_firewall", &out->from_firewall, resp)) {
		/* answered */
	} else if (!out->proto) {
		struct err e = {0};
		err_set(&e, ERR_INVALID, "field \"proto\" is required: tcp, udp, icmp or all");
		api_error(resp, &e);
	} else {
		out->json = body;
		return true;
	}
	json_decref(body);
	memset(out, 0, sizeof(*out));
	return false;
}

static void add_rule(const struct api_req *req, struct api_resp *resp)
{
	struct api_fw_rule_add b;
	struct fw_rule r;
	struct err e = {0};
	if (!api_fw_rule_add_parse(req, resp, &b))
		return;
	if (ctl_firewall_rule_add(req->ctl, req->args[0], b.proto, b.port, b.from, b.from_firewall, &r, &e) < 0)
		api_error(resp, &e);
	else
		api_json(resp, 201, fw_rule_to_json(&r));
	json_decref(b.json);
}

static void delete_rule(const struct api_req *req, struct api_resp *resp)
{
	struct err e = {0};
	if (ctl_firewall_rule_delete(req->ctl, req->args[0], req->args[1], &e) < 0)
		api_error(resp, &e);
	else
		resp->status = 204;
}

bool api_vm_firewalls_parse(const struct api_req *req, struct api_resp *resp, struct api_vm_firewalls *out)
{
	static const char *const fields[] = {"firewalls", NULL};
	memset(out, 0, sizeof(*out));
	json_t *body = api_body_object(req, resp, false);
	if (!body)
		return false;
	if (!api_check_fields(body, fields, resp) ||
	    !api_opt_string_list(body, "firewalls", &out->names, &out->n, resp)) {
		json_decref(body);
		memset(out, 0, sizeof(*out));
		return false;
	}
	out->json = body;
	return true;
}

void api_vm_firewalls_free(struct api_vm_firewalls *b)
{
	if (!b)
		return;
	free(b->names);
	json_decref(b->json);
	memset(b, 0, sizeof(*b));
}

static void set_vm_firewalls(const struct api_req *req, struct api_resp *resp)
{
	struct api_vm_firewalls b;
	struct vm vm;
	struct err e = {0};
	if (!api_vm_firewalls_parse(req, resp, &b))
		return;
	if (ctl_vm_set_firewalls(req->ctl, req->args[0], b.names, b.n, &vm, &e) < 0) {
		api_error(resp, &e);
	} else {
		api_json(resp, 200, vm_to_json(&vm));
		vm_free_fields(&vm);
	}
	api_vm_firewalls_free(&b);
}

static void list_forwards(const struct api_req *req, struct api_resp *resp)
{
	struct vm vm;
	struct forward *f = NULL;
	int n = 0;
	struct err e = {0};
	if (store_vm_get(ctl_store(req->ctl), req->args[0], &vm, &e) < 0) {
		api_error(resp, &e);
		return;
	}
	int rc = store_forward_list(ctl_store(req->ctl), vm.id, &f, &n, &e);
	vm_free_fields(&vm);
	if (rc < 0) {
		api_error(resp, &e);
		return;
	}
	json_t *arr = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(arr, forward_to_json(&f[i]));
	free(f);
	api_json(resp, 200, json_pack("{s:o}", "forwards", arr));
}

bool api_forward_add_parse(const struct api_req *req, struct api_resp *resp, struct api_forward_add *out)
{
	memset(out, 0, sizeof(*out));
	return api_body_one_string(req, resp, "ports", "HOST:GUEST, e.g. 8080:80 or 5353:53/udp", &out->json, &out->ports);
}

static void add_forward(const struct api_req *req, struct api_resp *resp)
{
	struct api_forward_add b;
	struct forward f;
	struct err e = {0};
	if (!api_forward_add_parse(req, resp, &b))
		return;
	if (ctl_vm_expose(req->ctl, req->args[0], b.ports, &f, &e) < 0)
		api_error(resp, &e);
	else
		api_json(resp, 201, forward_to_json(&f));
	json_decref(b.json);
}

/* DELETE /v1/vms/{vm}/forwards/{host_port}[/{proto}] */
static void delete_forward(const struct api_req *req, struct api_resp *resp)
{
	struct err e = {0};
	if (ctl_vm_unexpose(req->ctl, req->args[0], req->args[1], req->args[2], &e) < 0)
		api_error(resp, &e);
	else
		resp->status = 204;
}

const struct api_route api_firewall_routes[] = {
	{"GET", "/v1/firewalls", list_firewalls},
	{"POST", "/v1/firewalls", create_firewall},
	{"GET", "/v1/firewalls/{}", get_firewall},
	{"DELETE", "/v1/firewalls/{}", delete_firewall},
	{"GET", "/v1/firewalls/{}/rules", list_rules},
	{"POST", "/v1/firewalls/{}/rules", add_rule},
	{"DELETE", "/v1/firewalls/{}/rules/{}", delete_rule},
	{"PUT", "/v1/vms/{}/firewalls", set_vm_firewalls},
	{"GET", "/v1/vms/{}/forwards", list_forwards},
	{"POST", "/v1/vms/{}/forwards", add_forward},
	{"DELETE", "/v1/vms/{}/forwards/{}", delete_forward},
	{"DELETE", "/v1/vms/{}/forwards/{}/{}", delete_forward},
	{NULL, NULL, NULL},
};
