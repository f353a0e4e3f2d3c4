/* hotplug: QMP blockdev-add/device_add and device_del/blockdev-del (see hotplug.h). */
#include "host/hotplug.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "host/qmp.h"
#include "util/runner.h"

/* Runs one QMP command on a fresh connection; takes args. */
static int qmp_one(const char *sock, const char *cmd, json_t *args, json_t **ret, struct err *e)
{
	if (runner_dry_run()) {
		char *text = args ? json_dumps(args, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
		runner_capture_note("qmp %s %s %s", sock, cmd, text ? text : "");
		free(text);
		json_decref(args);
		return 0;
	}
	struct qmp *q = NULL;
	int rc = qmp_open(sock, 2000, &q, e);
	if (rc == 0)
		rc = qmp_execute(q, cmd, args, ret, e);
	qmp_close(q);
	json_decref(args);
	return rc;
}

int hotplug_volume_add(const char *qmp_sock, const char *vol_id, const char *path, int slot, struct err *e)
{
	char dev[64], bus[16];
	snprintf(dev, sizeof(dev), "dev-%s", vol_id);
	snprintf(bus, sizeof(bus), "hp%d", slot);
	json_t *node = json_pack("{s:s, s:s, s:{s:s, s:s}}", "driver", "qcow2", "node-name", vol_id, "file", "driver",
				 "file", "filename", path);
	if (qmp_one(qmp_sock, "blockdev-add", node, NULL, e) < 0) {
		err_prefix(e, "attaching volume %s", vol_id);
		return -1;
	}
	json_t *device = json_pack("{s:s, s:s, s:s, s:s, s:s}", "driver", "virtio-blk-pci", "id", dev, "drive",
				   vol_id, "bus", bus, "serial", vol_id);
	if (qmp_one(qmp_sock, "device_add", device, NULL, e) < 0) {
		err_prefix(e, "attaching volume %s", vol_id);
		qmp_one(qmp_sock, "blockdev-del", json_pack("{s:s}", "node-name", vol_id), NULL, NULL);
		return -1;
	}
	return 0;
}

int hotplug_volume_present(const char *qmp_sock, const char *vol_id, bool *present, struct err *e)
{
	*present = false;
	if (runner_dry_run())
		return 0;
	json_t *ret = NULL;
	if (qmp_one(qmp_sock, "qom-list", json_pack("{s:s}", "path", "/machine/peripheral"), &ret, e) < 0)
		return -1;
	char dev[64];
	snprintf(dev, sizeof(dev), "dev-%s", vol_id);
	size_t i;
	json_t *p;
	json_array_foreach(ret, i, p) {
		const char *name = json_string_value(json_object_get(p, "name"));
		if (name && strcmp(name, dev) == 0)
			*present = true;
	}
	json_decref(ret);
	return 0;
}

int hotplug_volume_request_remove(const char *qmp_sock, const char *vol_id, struct err *e)
{
	bool present = true;
	if (hotplug_volume_present(qmp_sock, vol_id, &present, e) < 0)
		return -1;
	if (!present && !runner_dry_run())
		return 0;
	char dev[64];
	snprintf(dev, sizeof(dev), "dev-%s", vol_id);
	return qmp_one(qmp_sock, "device_del", json_pack("{s:s}", "id", dev), NULL, e);
}

int hotplug_volume_release(const char *qmp_sock, const char *vol_id, struct err *e)
{
	json_t *ret = NULL;
	if (!runner_dry_run()) {
		/* A node that is already gone needs nothing. */
		if (qmp_one(qmp_sock, "query-named-block-nodes", NULL, &ret, e) < 0)
			return -1;
		bool found = false;
		size_t i;
		json_t *n;
		json_array_foreach(ret, i, n) {
			const char *name = json_string_value(json_object_get(n, "node-name"));
			if (name && strcmp(name, vol_id) == 0)
				found = true;
		}
		json_decref(ret);
		if (!found)
			return 0;
	}
	return qmp_one(qmp_sock, "blockdev-del", json_pack("{s:s}", "node-name", vol_id), NULL, e);
}
