/* networks: the /v1/networks endpoints. */
#include <stdlib.h>

#include "api/api-priv.h"

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

static void create_network(const struct api_req *req, struct api_resp *resp)
{
	static const char *const fields[] = {"name", "cidr", "nat", NULL};
	json_t *body = api_body_object(req, resp, false);
	const char *name = NULL, *cidr = NULL;
	bool nat = true;
	struct network net;
	struct err e = {0};
	if (!body || !api_check_fields(body, fields, resp) || !api_opt_string(body, "name", &name, resp) ||
	    !api_opt_string(body, "cidr", &cidr, resp) || !api_opt_bool(body, "nat", true, &nat, resp)) {
		/* answered */
	} else if (ctl_network_create(req->ctl, name, cidr, nat, &net, &e) < 0) {
		api_error(resp, &e);
	} else {
		api_json(resp, 201, network_json(req, &net));
	}
	json_decref(body);
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
