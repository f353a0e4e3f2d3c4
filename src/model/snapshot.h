/*
 * snapshot: a point-in-time layer of a VM's root disk,
 * snapshots/<id>/disk.qcow2. Layers form a chain: a VM's root.qcow2 sits on
 * its newest snapshot (base_snapshot), each snapshot on the one before it
 * (parent), the oldest on the image. Deleting a layer merges it into what
 * sits directly on it, so no disk ever loses data.
 */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "model/machine_type.h"
#include "util/ids.h"

struct snapshot {
	char id[ID_MAX];
	char name[NAME_MAX_LEN + 1];
	char vm_id[ID_MAX];              /* the VM it was taken of; or */
	char volume_id[ID_MAX];          /* the volume (a standalone copy, no chain) */
	char vm_name[NAME_MAX_LEN + 1];
	char image_id[ID_MAX];           /* what boots it: the VM's image */
	char parent[ID_MAX];             /* the snapshot layer under it, or "" (the image) */
	char state[16];                  /* creating | ready | deleting */
	uint64_t virtual_size;
	int64_t created_at;
	char op_id[ID_MAX];
	char host[NAME_MAX_LEN + 1];     /* its VM's or volume's host, where its files live */
};

json_t *snapshot_to_json(const struct snapshot *s);
