/*
 * body-priv: the request bodies of the API as C structs. Each *_parse reads
 * req->body and nothing else (no store, no host, no ctl), so the handlers
 * and the fuzz harnesses (tests/fuzz/) run the same code on the same bytes.
 *
 * On success a parse returns true and fills out; its strings borrow from
 * out->json, which the caller json_decref()s when done (api_vm_create_free
 * for a VM). On a bad body it answers resp (400, naming the field and the
 * value at fault), leaves nothing to free and returns false.
 */
#pragma once

#include <stdbool.h>

#include "api/api-priv.h"

/* POST /v1/vms */
struct api_vm_create {
	json_t *json;
	struct vm_request r;   /* r.ssh_keys, r.nics and r.firewalls are allocated */
};
bool api_vm_create_parse(const struct api_req *req, struct api_resp *resp, struct api_vm_create *out);
void api_vm_create_free(struct api_vm_create *b);

/* POST /v1/vms/{}/start|stop|reboot, DELETE /v1/vms/{}: {} or, when
 * takes_force, {"force": bool}. Nothing to free. */
bool api_vm_action_parse(const struct api_req *req, struct api_resp *resp, bool takes_force, bool *force);

/* POST /v1/vms/{}/restore */
struct api_vm_restore {
	json_t *json;
	const char *snapshot;  /* never NULL */
};
bool api_vm_restore_parse(const struct api_req *req, struct api_resp *resp, struct api_vm_restore *out);

/* POST /v1/vms/{}/resize: {"type": T, "disk_size": S, "restart": bool},
 * type or disk_size (or both) given. Strings borrowed from json. */
struct api_vm_resize {
	json_t *json;
	struct vm_resize_request r;
};
bool api_vm_resize_parse(const struct api_req *req, struct api_resp *resp, struct api_vm_resize *out);

/* POST /v1/images: one of a recipe build, an import (file or url) or a copy of a VM. */
enum api_image_source { API_IMAGE_RECIPE, API_IMAGE_IMPORT, API_IMAGE_FROM_VM };
struct api_image_create {
	json_t *json;
	enum api_image_source source;
	const char *name;      /* never NULL for a recipe or a copy; may be NULL for an import */
	const char *recipe;    /* API_IMAGE_RECIPE: never NULL */
	const char *from_vm;   /* API_IMAGE_FROM_VM: never NULL */
	struct image_import imp;  /* API_IMAGE_IMPORT: file or url set; imp.name = name */
};
bool api_image_create_parse(const struct api_req *req, struct api_resp *resp, struct api_image_create *out);

/* POST /v1/volumes */
struct api_volume_create {
	json_t *json;
	const char *name;      /* never NULL */
	const char *size, *from_snapshot;
};
bool api_volume_create_parse(const struct api_req *req, struct api_resp *resp, struct api_volume_create *out);

/* POST /v1/volumes/{}/attach */
struct api_volume_attach {
	json_t *json;
	const char *vm;        /* never NULL */
};
bool api_volume_attach_parse(const struct api_req *req, struct api_resp *resp, struct api_volume_attach *out);
/* POST /v1/volumes/{}/detach: {} only. Nothing to free. */
bool api_volume_detach_parse(const struct api_req *req, struct api_resp *resp);

/* POST /v1/snapshots: exactly one of vm and volume. */
struct api_snapshot_create {
	json_t *json;
	const char *vm, *volume, *name;
};
bool api_snapshot_create_parse(const struct api_req *req, struct api_resp *resp, struct api_snapshot_create *out);

/* POST /v1/networks. name and cidr may be NULL (ctl picks defaults). */
struct api_network_create {
	json_t *json;
	const char *name, *cidr;
	bool nat;              /* true unless the body says false */
};
bool api_network_create_parse(const struct api_req *req, struct api_resp *resp, struct api_network_create *out);

/* POST /v1/firewalls. name and description may be NULL. */
struct api_firewall_create {
	json_t *json;
	const char *name, *description;
};
bool api_firewall_create_parse(const struct api_req *req, struct api_resp *resp, struct api_firewall_create *out);

/* POST /v1/firewalls/{}/rules. port is a string as given, or a JSON number
 * printed into port_buf (so out must not be copied while port is in use). */
struct api_fw_rule_add {
	json_t *json;
	const char *proto;     /* never NULL */
	const char *port, *from, *from_firewall;
	char port_buf[API_PORT_BUF];
};
bool api_fw_rule_add_parse(const struct api_req *req, struct api_resp *resp, struct api_fw_rule_add *out);

/* PUT /v1/vms/{}/firewalls: the complete list (none or empty: no firewall
 * given). names is allocated: free with api_vm_firewalls_free. */
struct api_vm_firewalls {
	json_t *json;
	const char **names;
	int n;
};
bool api_vm_firewalls_parse(const struct api_req *req, struct api_resp *resp, struct api_vm_firewalls *out);
void api_vm_firewalls_free(struct api_vm_firewalls *b);

/* POST /v1/vms/{}/forwards */
struct api_forward_add {
	json_t *json;
	const char *ports;     /* never NULL: "HOST:GUEST[/PROTO]" as given, read by ctl */
};
bool api_forward_add_parse(const struct api_req *req, struct api_resp *resp, struct api_forward_add *out);

/* POST /v1/tokens: the name is checked as a VM name is (vm_name_validate). */
struct api_token_create {
	json_t *json;
	const char *name;      /* never NULL */
};
bool api_token_create_parse(const struct api_req *req, struct api_resp *resp, struct api_token_create *out);

/* POST /v1/stacks/{}/plan|lock|apply|unlock|adopt: fields lists the body's
 * fields, each required but "plan". document and plan are objects in json. */
struct api_stack_body {
	json_t *json;
	const json_t *document, *plan;
	const char *lease, *resource, *phase;
};
bool api_stack_body_parse(const struct api_req *req, struct api_resp *resp, const char *const fields[],
			  struct api_stack_body *out);

/* POST /v1/groups. name, min and max are required (a 400 names the one
 * missing); r.desired is -1 when absent. */
struct api_group_create {
	json_t *json;
	struct ctl_group_request r;   /* r.firewalls and r.ssh_keys are allocated */
};
bool api_group_create_parse(const struct api_req *req, struct api_resp *resp, struct api_group_create *out);
void api_group_create_free(struct api_group_create *b);

/* PATCH /v1/groups/{}: at least one of min, max, desired, target_cpu; each
 * absent one is -1. Nothing to free. */
struct api_group_set {
	int min_size, max_size, desired, target_cpu;
};
bool api_group_set_parse(const struct api_req *req, struct api_resp *resp, struct api_group_set *out);

/* POST /v1/groups/{}/update: image and/or type (both may be NULL: ctl says so). */
struct api_group_update {
	json_t *json;
	const char *image, *type;
};
bool api_group_update_parse(const struct api_req *req, struct api_resp *resp, struct api_group_update *out);
