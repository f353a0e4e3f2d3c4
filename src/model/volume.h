/*
 * volume: a persistent disk (volumes/<id>.qcow2) that outlives the VMs it is
 * attached to. The spec says which VM it should be attached to; the status
 * says where it is plugged now (and into which hot-plug slot), so the
 * reconciler can attach to a running VM (hot-plug) or at the next start.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "model/machine_type.h"
#include "util/ids.h"

#define VOLUME_SLOTS 4   /* hot-plug slots (PCIe root ports) per VM */

struct volume {
	char id[ID_MAX];
	char name[NAME_MAX_LEN + 1];
	uint64_t size_bytes;
	char state[16];          /* creating | available | in-use | deleting */
	/* spec */
	char attach_to[ID_MAX];  /* VM id, or "" */
	bool deleted;
	char from_snapshot[ID_MAX];  /* created as a copy of this volume snapshot */
	/* status */
	char attached_vm[ID_MAX];  /* VM id it is plugged into (or will be at its start), or "" */
	int slot;                  /* hot-plug slot in that VM, -1 if none */
	bool unplugging;           /* device_del sent, waiting for the guest */
	int64_t created_at;
	char op_id[ID_MAX];
	char host[NAME_MAX_LEN + 1];   /* where its file lives: only that host's nubod acts on it */
};

void volume_list_free(struct volume *v, int n);
json_t *volume_to_json(const struct volume *v, const char *vm_name);
