/* resize: live vCPU and root-disk changes over QMP (see resize.h). */
#include "host/resize.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/disk.h"
#include "host/qmp.h"
#include "util/runner.h"
#include "util/str.h"
#include "util/timeutil.h"

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

int resize_disk_live_grow(qmp_once_fn *send, const char *qmp_sock, const char *device, uint64_t bytes,
			  struct err *e)
{
	json_t *args = json_pack("{s:s, s:I}", "device", device, "size", (json_int_t)bytes);
	if (send(qmp_sock, "block_resize", args, NULL, e) < 0) {
		err_prefix(e, "growing disk %s to %" PRIu64 " bytes", device, bytes);
		return -1;
	}
	return 0;
}

int resize_disk_live(const char *qmp_sock, const char *device, uint64_t bytes, struct err *e)
{
	uint64_t now = 0;
	if (live_disk_size(qmp_sock, device, &now, e) < 0)
		return -1;
	if (now == 0)
		return err_set(e, ERR_INTERNAL, "QEMU has no block device \"%s\" to grow", device);
	if (now >= bytes)
		return 0;   /* done already (or bigger: never shrink) */
	return resize_disk_live_grow(qmp_run_once, qmp_sock, device, bytes, e);
}

int resize_disk_file_grow(const char *path, uint64_t bytes, struct err *e)
{
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

/* --- memory ------------------------------------------------------------------ */

#define MIB (1024 * 1024)

/* K of a "dimmK" id, or -1. */
static int dimm_index(const char *id)
{
	if (!id || !str_starts_with(id, "dimm") || !id[4] || strspn(id + 4, "0123456789") != strlen(id + 4))
		return -1;
	return atoi(id + 4);
}

static json_t *dimm_data(json_t *dev)
{
	const char *type = json_string_value(json_object_get(dev, "type"));
	return type && strcmp(type, "dimm") == 0 ? json_object_get(dev, "data") : NULL;
}

static bool backend_used(json_t *devices, const char *name)
{
	size_t i;
	json_t *d;
	json_array_foreach(devices, i, d) {
		const char *memdev = json_string_value(json_object_get(dimm_data(d), "memdev"));
		if (memdev && str_starts_with(memdev, "/objects/") && strcmp(memdev + strlen("/objects/"), name) == 0)
			return true;
	}
	return false;
}

void resize_memory_pick(json_t *devices, json_t *objects, int base_mib, int want_mib, int *have_mib,
			struct resize_mem_move *m)
{
	memset(m, 0, sizeof(*m));
	*have_mib = base_mib;
	size_t i;
	json_t *o, *d;
	json_array_foreach(objects, i, o) {
		const char *name = json_string_value(json_object_get(o, "name"));
		if (name && str_starts_with(name, "mem-dimm") && !backend_used(devices, name) && !m->del_object[0])
			snprintf(m->del_object, sizeof(m->del_object), "%s", name);
	}
	/* Indexes in use (ids are dimm0..dimm{SLOTS-1} when nubo names them). */
	bool used[RESIZE_DIMM_SLOTS] = {false};
	json_t *newest = NULL, *exact = NULL;   /* the removal candidates */
	int newest_k = -1;
	json_array_foreach(devices, i, d) {
		json_t *data = dimm_data(d);
		if (!data)
			continue;
		int mib = (int)(json_integer_value(json_object_get(data, "size")) / MIB);
		*have_mib += mib;
		int k = dimm_index(json_string_value(json_object_get(data, "id")));
		if (k < 0)
			continue;   /* not nubo's: never removed */
		if (k < RESIZE_DIMM_SLOTS)
			used[k] = true;
		if (k > newest_k) {
			newest_k = k;
			newest = data;
		}
	}
	if (m->del_object[0] || want_mib == *have_mib)
		return;
	if (want_mib > *have_mib) {
		int k = 0;
		while (k < RESIZE_DIMM_SLOTS && used[k])
			k++;
		if (k == RESIZE_DIMM_SLOTS) {
			m->stuck = "all of its memory slots hold a DIMM already; a restart (--restart) gives it the "
				   "memory at boot";
			return;
		}
		snprintf(m->add_id, sizeof(m->add_id), "dimm%d", k);
		m->add_mib = want_mib - *have_mib;
		return;
	}
	json_array_foreach(devices, i, d) {
		json_t *data = dimm_data(d);
		int k = data ? dimm_index(json_string_value(json_object_get(data, "id"))) : -1;
		if (k >= 0 && json_integer_value(json_object_get(data, "size")) / MIB == *have_mib - want_mib)
			exact = data;
	}
	json_t *pick = exact ? exact : newest;
	if (!pick) {
		m->stuck = "only the memory it booted with is left, and that cannot be unplugged";
		return;
	}
	snprintf(m->del_dimm, sizeof(m->del_dimm), "%s", json_string_value(json_object_get(pick, "id")));
}

/* The ACPI _OST status codes a guest reports for an eject (ACPI 6, 6.3.5). */
#define OST_SUCCESS 0x00
#define OST_EJECT_IN_PROGRESS 0x84

static const struct {
	int status;
	const char *what;
} ost_reasons[] = {
	{0x01, "a failure it did not name"},
	/* Linux answers so too when its memory hot-remove is turned off
	 * (/sys/firmware/acpi/hotplug/memory/enabled is 0). */
	{0x80, "it does not eject memory: not supported, or turned off in the guest"},
	{0x81, "the memory is in use"},
	{0x82, "the memory is busy (pages it could not move out)"},
	{0x83, "something it depends on is busy"},
};

static const char *ost_reason(int status)
{
	for (size_t i = 0; i < sizeof(ost_reasons) / sizeof(ost_reasons[0]); i++)
		if (ost_reasons[i].status == status)
			return ost_reasons[i].what;
	return "an unknown status";
}

/* The guest's memory as QEMU has it: boot memory and plugged DIMMs, and its
 * memory backends. */
static int memory_read(struct qmp *q, int *base_mib, json_t **devices, json_t **objects, struct err *e)
{
	json_t *sum = NULL;
	*devices = *objects = NULL;
	int rc = qmp_execute(q, "query-memory-size-summary", NULL, &sum, e);
	if (rc == 0)
		rc = qmp_execute(q, "query-memory-devices", NULL, devices, e);
	json_t *path = json_pack("{s:s}", "path", "/objects");
	if (rc == 0)
		rc = qmp_execute(q, "qom-list", path, objects, e);
	json_decref(path);
	*base_mib = (int)(json_integer_value(json_object_get(sum, "base-memory")) / MIB);
	json_decref(sum);
	return rc;
}

/* Waits for DIMM id to be gone: its DEVICE_DELETED, or the guest's refusal
 * on ACPI _OST. Nothing by the deadline is a refusal too. */
static int dimm_wait_gone(struct qmp *q, const char *id, int *status, struct err *e)
{
	int64_t deadline = time_mono_ms() + RESIZE_DIMM_WAIT_MS;
	*status = -1;
	for (;;) {
		int64_t left = deadline - time_mono_ms();
		json_t *ev = NULL;
		int rc = left > 0 ? qmp_next_event(q, (int)left, &ev, e) : -ETIMEDOUT;
		if (rc == -ETIMEDOUT) {
			err_clear(e);
			return 1;
		}
		if (rc < 0)
			return rc;
		const char *name = json_string_value(json_object_get(ev, "event"));
		json_t *data = json_object_get(ev, "data");
		bool done = false;
		if (strcmp(name, "DEVICE_DELETED") == 0) {
			const char *dev = json_string_value(json_object_get(data, "device"));
			done = dev && strcmp(dev, id) == 0;
		} else if (strcmp(name, "ACPI_DEVICE_OST") == 0) {
			json_t *info = json_object_get(data, "info");
			const char *dev = json_string_value(json_object_get(info, "device"));
			int st = (int)json_integer_value(json_object_get(info, "status"));
			if (dev && strcmp(dev, id) == 0 && st != OST_SUCCESS && st != OST_EJECT_IN_PROGRESS) {
				*status = st;
				json_decref(ev);
				return 1;
			}
		}
		json_decref(ev);
		if (done)
			return 0;
	}
}

static int memory_add(struct qmp *q, const struct resize_mem_move *m, struct err *e)
{
	char backend[80];
	snprintf(backend, sizeof(backend), "mem-%s", m->add_id);
	json_t *obj = json_pack("{s:s, s:s, s:I}", "qom-type", "memory-backend-ram", "id", backend, "size",
				(json_int_t)m->add_mib * MIB);
	int rc = qmp_execute(q, "object-add", obj, NULL, e);
	json_decref(obj);
	if (rc < 0)
		return rc;
	json_t *dev = json_pack("{s:s, s:s, s:s}", "driver", "pc-dimm", "id", m->add_id, "memdev", backend);
	rc = qmp_execute(q, "device_add", dev, NULL, e);
	json_decref(dev);
	if (rc < 0) {
		/* QEMU cannot take it (no slots: a QEMU started without room,
		 * no address space left): no use trying again. */
		struct err ignored = {0};
		json_t *del = json_pack("{s:s}", "id", backend);
		qmp_execute(q, "object-del", del, NULL, &ignored);
		json_decref(del);
		e->kind = ERR_CONFLICT;
		err_prefix(e, "QEMU cannot plug a memory DIMM of %d MiB", m->add_mib);
	}
	return rc;
}

static int memory_remove(struct qmp *q, const char *id, struct err *e)
{
	json_t *args = json_pack("{s:s}", "id", id);
	int rc = qmp_execute(q, "device_del", args, NULL, e);
	json_decref(args);
	if (rc < 0)
		return rc;
	int status = -1;
	rc = dimm_wait_gone(q, id, &status, e);
	if (rc < 0)
		return rc;
	if (rc == 0) {
		/* Its backend goes with it (a cut-off here leaves it to the
		 * next pass, which finds it without a DIMM). */
		char backend[80];
		snprintf(backend, sizeof(backend), "mem-%s", id);
		json_t *del = json_pack("{s:s}", "id", backend);
		rc = qmp_execute(q, "object-del", del, NULL, e);
		json_decref(del);
		return rc;
	}
	/* Not gone: ask QEMU once more, the event may have come before we
	 * listened. */
	json_t *devices = NULL;
	if (qmp_execute(q, "query-memory-devices", NULL, &devices, e) < 0)
		return -1;
	bool present = false;
	size_t i;
	json_t *d;
	json_array_foreach(devices, i, d) {
		const char *did = json_string_value(json_object_get(dimm_data(d), "id"));
		present = present || (did && strcmp(did, id) == 0);
	}
	json_decref(devices);
	if (!present)
		return 0;
	if (status >= 0)
		return err_set(e, ERR_CONFLICT,
			       "the guest refused to give back memory DIMM %s (ACPI status 0x%02x: %s)", id, status,
			       ost_reason(status));
	return err_set(e, ERR_CONFLICT,
		       "the guest did not give back memory DIMM %s within %d s (its kernel may lack memory hot-remove, or "
		       "could not move the pages out)",
		       id, RESIZE_DIMM_WAIT_MS / 1000);
}

static int memory_move(struct qmp *q, const struct resize_mem_move *m, int want_mib, int have_mib, struct err *e)
{
	if (m->del_object[0]) {
		json_t *del = json_pack("{s:s}", "id", m->del_object);
		int rc = qmp_execute(q, "object-del", del, NULL, e);
		json_decref(del);
		return rc;
	}
	if (m->stuck)
		return err_set(e, ERR_CONFLICT, "cannot bring the VM from %d to %d MiB of memory: %s", have_mib, want_mib,
			       m->stuck);
	if (m->add_id[0])
		return memory_add(q, m, e);
	if (m->del_dimm[0])
		return memory_remove(q, m->del_dimm, e);
	return 0;
}

int resize_memory_step(const char *qmp_sock, int want_mib, int *have_mib, struct err *e)
{
	*have_mib = 0;
	struct qmp *q = NULL;
	if (qmp_open(qmp_sock, QMP_DISK_TIMEOUT_MS, &q, e) < 0)
		return -1;
	json_t *devices = NULL, *objects = NULL;
	int base = 0;
	int rc = memory_read(q, &base, &devices, &objects, e);
	struct resize_mem_move m;
	if (rc == 0) {
		resize_memory_pick(devices, objects, base, want_mib, have_mib, &m);
		rc = memory_move(q, &m, want_mib, *have_mib, e);
	}
	json_decref(devices);
	json_decref(objects);
	qmp_close(q);
	return rc;
}

int resize_disk_file(const char *path, uint64_t bytes, struct err *e)
{
	struct disk_info info;
	if (disk_info(path, &info, e) < 0)
		return -1;
	if (info.virtual_size >= bytes)
		return 0;
	return resize_disk_file_grow(path, bytes, e);
}
