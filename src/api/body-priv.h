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
