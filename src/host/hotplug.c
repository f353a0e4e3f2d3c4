/* hotplug: QMP blockdev-add/device_add, device_del/blockdev-del, and what QEMU has (see hotplug.h). */
#include "host/hotplug.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/qmp.h"
#include "util/str.h"

#define DEV_PREFIX "dev-"
#define BUS_PREFIX "/machine/peripheral/hp"

static struct hotplug_item *view_item(struct hotplug_view *v, const char *id)
{
	for (int i = 0; i < v->n; i++)
		if (strcmp(v->items[i].id, id) == 0)
			return &v->items[i];
	v->items = xrealloc(v->items, (size_t)(v->n + 1) * sizeof(*v->items));
	v->items[v->n] = (struct hotplug_item){.id = xstrdup(id), .slot = -1};
	return &v->items[v->n++];
}

/* "/machine/peripheral/hp2/hp2" → 2; -1 for any other bus. */
static int slot_of_bus(const char *bus)
{
	if (!bus || !str_starts_with(bus, BUS_PREFIX))
		return -1;
	char *end;
	long slot = strtol(bus + strlen(BUS_PREFIX), &end, 10);
	return (end != bus + strlen(BUS_PREFIX) && *end == '/' && slot >= 0 && slot < 1000) ? (int)slot : -1;
}

int hotplug_view_read(const char *qmp_sock, struct hotplug_view *out, struct err *e)
{
	*out = (struct hotplug_view){0};
	struct qmp *q = NULL;
	json_t *nodes = NULL, *devs = NULL;
	int rc = qmp_open(qmp_sock, 2000, &q, e);
	if (rc == 0)
		rc = qmp_execute(q, "query-named-block-nodes", NULL, &nodes, e);
	/* Only volumes have names of their own: the root disk, seed and
	 * ephemeral disk are -drive nodes QEMU names "#block…". */
	size_t i;
	json_t *it;
	json_array_foreach(nodes, i, it) {
		const char *name = json_string_value(json_object_get(it, "node-name"));
		if (name && *name && name[0] != '#')
			view_item(out, name)->node = true;
	}
	if (rc == 0) {
		json_t *args = json_pack("{s:s}", "path", "/machine/peripheral");
		rc = qmp_execute(q, "qom-list", args, &devs, e);
		json_decref(args);
	}
	json_array_foreach(devs, i, it) {
		const char *name = json_string_value(json_object_get(it, "name"));
		if (rc < 0 || !name || !str_starts_with(name, DEV_PREFIX) || !name[strlen(DEV_PREFIX)])
			continue;
		autofree char *path = xasprintf("/machine/peripheral/%s", name);
		json_t *args = json_pack("{s:s, s:s}", "path", path, "property", "parent_bus"), *bus = NULL;
		rc = qmp_execute(q, "qom-get", args, &bus, e);
		json_decref(args);
		if (rc == 0) {
			struct hotplug_item *item = view_item(out, name + strlen(DEV_PREFIX));
			item->device = true;
			item->slot = slot_of_bus(json_string_value(bus));
		}
		json_decref(bus);
	}
	json_decref(nodes);
	json_decref(devs);
	qmp_close(q);
	if (rc < 0)
		err_prefix(e, "reading which volumes QEMU has");
	return rc;
}

const struct hotplug_item *hotplug_view_find(const struct hotplug_view *v, const char *vol_id)
{
	for (int i = 0; v && i < v->n; i++)
		if (strcmp(v->items[i].id, vol_id) == 0)
			return &v->items[i];
	return NULL;
}

bool hotplug_view_slot_used(const struct hotplug_view *v, int slot)
{
	for (int i = 0; v && i < v->n; i++)
		if (v->items[i].device && v->items[i].slot == slot)
			return true;
	return false;
}

void hotplug_view_free(struct hotplug_view *v)
{
	if (!v)
		return;
	for (int i = 0; i < v->n; i++)
		free(v->items[i].id);
	free(v->items);
	*v = (struct hotplug_view){0};
}

int hotplug_node_add(qmp_once_fn *send, const char *qmp_sock, const char *vol_id, const char *path, struct err *e)
{
	json_t *node = json_pack("{s:s, s:s, s:{s:s, s:s}}", "driver", "qcow2", "node-name", vol_id, "file", "driver",
				 "file", "filename", path);
	if (send(qmp_sock, "blockdev-add", node, NULL, e) < 0) {
		err_prefix(e, "opening volume %s in QEMU", vol_id);
		return -1;
	}
	return 0;
}

int hotplug_device_add(qmp_once_fn *send, const char *qmp_sock, const char *vol_id, int slot, struct err *e)
{
	char dev[64], bus[16];
	snprintf(dev, sizeof(dev), DEV_PREFIX "%s", vol_id);
	snprintf(bus, sizeof(bus), "hp%d", slot);
	json_t *device = json_pack("{s:s, s:s, s:s, s:s, s:s}", "driver", "virtio-blk-pci", "id", dev, "drive",
				   vol_id, "bus", bus, "serial", vol_id);
	if (send(qmp_sock, "device_add", device, NULL, e) < 0) {
		err_prefix(e, "plugging volume %s into slot hp%d", vol_id, slot);
		return -1;
	}
	return 0;
}

int hotplug_device_del(qmp_once_fn *send, const char *qmp_sock, const char *vol_id, struct err *e)
{
	char dev[64];
	snprintf(dev, sizeof(dev), DEV_PREFIX "%s", vol_id);
	struct err e2 = {0};
	if (send(qmp_sock, "device_del", json_pack("{s:s}", "id", dev), NULL, &e2) == 0)
		return 0;
	/* QEMU refuses a second request while the guest has not answered the
	 * first (a nubod killed after device_del asks again): that one stands. */
	if (strstr(e2.msg, "already in the process of unplug"))
		return 0;
	if (e)
		*e = e2;
	err_prefix(e, "asking the guest to release volume %s", vol_id);
	return -1;
}

int hotplug_node_del(qmp_once_fn *send, const char *qmp_sock, const char *vol_id, struct err *e)
{
	if (send(qmp_sock, "blockdev-del", json_pack("{s:s}", "node-name", vol_id), NULL, e) < 0) {
		err_prefix(e, "closing volume %s in QEMU", vol_id);
		return -1;
	}
	return 0;
}
