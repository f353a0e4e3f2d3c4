/* resize: live vCPU and root-disk changes over QMP (see resize.h). */
#include "host/resize.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/disk.h"
#include "host/qmp.h"
#include "util/runner.h"
#include "util/str.h"

static int prop(json_t *slot, const char *name)
{
	json_t *v = json_object_get(json_object_get(slot, "props"), name);
	return json_is_integer(v) ? (int)json_integer_value(v) : 0;
}

/* Slots in a stable order (socket, core, thread), whatever order QEMU lists them. */
static long slot_key(json_t *slot)
{
	return ((long)prop(slot, "socket-id") << 20) | ((long)prop(slot, "core-id") << 10) | prop(slot, "thread-id");
}

void resize_vcpu_pick(json_t *slots, int want, int *plugged, json_t **add, char del_id[64], const char **stuck)
{
	*plugged = 0;
	*add = NULL;
	del_id[0] = '\0';
	*stuck = NULL;
	json_t *free_slot = NULL, *last_hot = NULL;
	size_t i;
	json_t *s;
	json_array_foreach(slots, i, s) {
		const char *path = json_string_value(json_object_get(s, "qom-path"));
		if (!path) {
			if (!free_slot || slot_key(s) < slot_key(free_slot))
				free_slot = s;
			continue;
		}
		(*plugged)++;
		/* Only devices nubo added (under /machine/peripheral/ID) can be removed. */
		if (str_starts_with(path, "/machine/peripheral/") && (!last_hot || slot_key(s) > slot_key(last_hot)))
			last_hot = s;
	}
	if (want == *plugged)
		return;
	if (want > *plugged) {
		if (!free_slot) {
			*stuck = "no free vCPU slot left (maxcpus reached)";
			return;
		}
		char id[64];
		snprintf(id, sizeof(id), "vcpu-s%d-c%d-t%d", prop(free_slot, "socket-id"), prop(free_slot, "core-id"),
			 prop(free_slot, "thread-id"));
		*add = json_pack("{s:s, s:s}", "driver", json_string_value(json_object_get(free_slot, "type")), "id", id);
		json_t *props = json_object_get(free_slot, "props");
		const char *k;
		json_t *v;
		json_object_foreach(props, k, v)
			json_object_set(*add, k, v);
		return;
	}
	if (!last_hot) {
		*stuck = "only vCPUs present at boot are left, and those cannot be removed";
		return;
	}
	const char *path = json_string_value(json_object_get(last_hot, "qom-path"));
	snprintf(del_id, 64, "%s", path + strlen("/machine/peripheral/"));
}

int resize_vcpus_step(const char *qmp_sock, int want, int *have, struct err *e)
{
	*have = 0;
	if (runner_dry_run()) {
		runner_capture_note("qmp %s vcpus %d", qmp_sock, want);
		*have = want;
		return 0;
	}
	json_t *slots = NULL, *add = NULL;
	if (qmp_run_once(qmp_sock, "query-hotpluggable-cpus", NULL, &slots, e) < 0)
		return -1;
	char del_id[64];
	const char *stuck = NULL;
	resize_vcpu_pick(slots, want, have, &add, del_id, &stuck);
	json_decref(slots);
	if (stuck)
		return err_set(e, ERR_CONFLICT, "cannot bring the VM from %d to %d vCPUs: %s", *have, want, stuck);
	if (add)
		return qmp_run_once(qmp_sock, "device_add", add, NULL, e);
	if (del_id[0])
		return qmp_run_once(qmp_sock, "device_del", json_pack("{s:s}", "id", del_id), NULL, e);
	return 0;
}

/* The virtual size QEMU's block device `device` has now; 0 if not found. */
static int live_disk_size(const char *qmp_sock, const char *device, uint64_t *bytes, struct err *e)
{
	json_t *ret = NULL;
	*bytes = 0;
	if (qmp_run_once(qmp_sock, "query-block", NULL, &ret, e) < 0)
		return -1;
	size_t i;
	json_t *b;
	json_array_foreach(ret, i, b) {
		const char *name = json_string_value(json_object_get(b, "device"));
		if (name && strcmp(name, device) == 0)
			*bytes = (uint64_t)json_integer_value(
				json_object_get(json_object_get(json_object_get(b, "inserted"), "image"), "virtual-size"));
	}
	json_decref(ret);
	return 0;
}

int resize_disk_live(const char *qmp_sock, const char *device, uint64_t bytes, struct err *e)
{
	if (!runner_dry_run()) {
		uint64_t now = 0;
		if (live_disk_size(qmp_sock, device, &now, e) < 0)
			return -1;
		if (now == 0)
			return err_set(e, ERR_INTERNAL, "QEMU has no block device \"%s\" to grow", device);
		if (now >= bytes)
			return 0;   /* done already (or bigger: never shrink) */
	}
	json_t *args = json_pack("{s:s, s:I}", "device", device, "size", (json_int_t)bytes);
	if (qmp_run_once(qmp_sock, "block_resize", args, NULL, e) < 0) {
		err_prefix(e, "growing disk %s to %" PRIu64 " bytes", device, bytes);
		return -1;
	}
	return 0;
}

int resize_disk_file(const char *path, uint64_t bytes, struct err *e)
{
	if (!runner_dry_run()) {
		struct disk_info info;
		if (disk_info(path, &info, e) < 0)
			return -1;
		if (info.virtual_size >= bytes)
			return 0;
	}
	autofree char *size = xasprintf("%" PRIu64, bytes);
	/* qemu-img resize changes the header in one write: cut off before it
	 * the file keeps its old size, and the next start grows it. */
	const char *argv[] = {"qemu-img", "resize", "-f", "qcow2", path, size, NULL};
	if (runner_run(argv, NULL, NULL, e) < 0) {
		err_prefix(e, "growing disk %s", path);
		return -1;
	}
	return 0;
}
