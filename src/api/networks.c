/* networks: the /v1/networks endpoints. */
#include <stdlib.h>
#include <string.h>

#include "api/api-priv.h"
#include "api/body-priv.h"

static json_t *network_json(const struct api_req *req, const struct network *net)
{
	int nics = -1;
	if (store_network_nic_count(ctl_store(req->ctl), net->id, &nics, NULL) < 0)
		nics = -1;
	return network_to_json(net, nics);
}

static void list_networks(const struct api_req *req, struct api_resp *resp)
{
	struct network *nets = NULL;
	int n = 0;
	struct err e = {0};
	if (store_network_list(ctl_store(req->ctl), &nets, &n, &e) < 0) {
		api_error(resp, &e);
		return;
	}
	json_t *arr = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(arr, network_json(req, &nets[i]));
	free(nets);
	api_json(resp, 200, json_pack("{s:o}", "networks", arr));
}

static void get_network(const struct api_req *req, struct api_resp *resp)
{
	struct network net;
	struct err e = {0};
	if (store_network_get(ctl_store(req->ctl), req->args[0], &net, &e) < 0)
		api_error(resp, &e);
	else
		api_json(resp, 200, network_json(req, &net));
}

bool api_network_create_parse(const struct api_req *req, struct api_resp *resp, struct api_network_create *out)
{
	static const char *const fields[] = {"name", "cidr", "nat", NULL};
	memset(out, 0, sizeof(*out));
	json_t *body = api_body_object(req, resp, false);
	if (!body)
		return false;
	if (!api_check_fields(body, fields, resp) || !api_opt_string(body, "name", &out->name, resp) ||
	    !api_opt_string(body, "cidr", &out->cidr, resp) || !api_opt_bool(body, "nat", true, &out->nat, resp)) {
		json_decref(body);
		memset(out, 0, sizeof(*out));
		return false;
	}
	out->json = body;
	return true;
}

static void create_network(const struct api_req *req, struct api_resp *resp)
{
	struct api_network_create b;
	struct network net;
	struct err e = {0};
	if (!api_network_create_parse(req, resp, &b))
		return;
	if (ctl_network_create(req->ctl, b.name, b.cidr, b.nat, &net, &e) < 0)
		api_error(resp, &e);
	else
		api_json(resp, 201, network_json(req, &net));
	json_decref(b.json);
}

static void delete_network(const struct api_req *req, struct api_resp *resp)
{
	struct network net;
	struct err e = {0};
	if (ctl_network_delete(req->ctl, req->args[0], &net, &e) < 0)
		api_error(resp, &e);
	else
		api_json(resp, 202, network_json(req, &net));
}

const struct api_route api_network_routes[] = {
	{"GET", "/v1/networks", list_networks},
	{"POST", "/v1/networks", create_network},
	{"GET", "/v1/networks/{}", get_network},
	{"DELETE", "/v1/networks/{}", delete_network},
	{NULL, NULL, NULL},
};
