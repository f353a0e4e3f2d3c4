/* layers: freezing, replacing and rebasing qcow2 layers (see layers.h). */
#include "host/layers.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "host/qemu.h"
#include "host/qmp.h"
#include "util/runner.h"
#include "util/str.h"

static int rename_or_err(const char *from, const char *to, struct err *e)
{
	if (runner_dry_run() || rename(from, to) == 0)
		return 0;
	return err_set(e, ERR_INTERNAL, "cannot rename %s to %s: %s", from, to, strerror(errno));
}

int layer_freeze_stopped(const char *root, const char *layer, struct err *e)
{
	if (rename_or_err(root, layer, e) < 0)
		return -1;
	const char *argv[] = {"qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", layer, root, NULL};
	if (runner_run(argv, NULL, NULL, e) < 0) {
		rename(layer, root);   /* put things back as they were */
		err_prefix(e, "cannot freeze %s", root);
		return -1;
	}
	return 0;
}

/* The node at the top of the VM's root drive and its virtual size. */
static int root_top(struct qmp *q, char *node, size_t n, uint64_t *size, struct err *e)
{
	json_t *blocks = NULL;
	if (qmp_execute(q, "query-block", NULL, &blocks, e) < 0)
		return -1;
	int rc = err_set(e, ERR_INTERNAL, "the VM has no root drive");
	size_t i;
	json_t *b;
	json_array_foreach(blocks, i, b) {
		const char *dev = json_string_value(json_object_get(b, "device"));
		json_t *ins = json_object_get(b, "inserted");
		const char *name = json_string_value(json_object_get(ins, "node-name"));
		if (dev && strcmp(dev, "root") == 0 && name) {
			snprintf(node, n, "%s", name);
			*size = (uint64_t)json_integer_value(json_object_get(json_object_get(ins, "image"), "virtual-size"));
			rc = 0;
		}
	}
	json_decref(blocks);
	return rc;
}

int layer_freeze_running(const char *qmp_sock, const char *root, const char *layer, const char *node_name,
			 const struct qemu_user *u, struct err *e)
{
	if (runner_dry_run()) {
		runner_capture_note("qmp %s blockdev-snapshot root -> %s", qmp_sock, layer);
		return 0;
	}
	autofree char *next = xasprintf("%s.next", root);
	struct qmp *q = NULL;
	char top[128];
	uint64_t size = 0;
	int rc = qmp_open(qmp_sock, 2000, &q, e);
	if (rc == 0)
		rc = root_top(q, top, sizeof(top), &size, e);
	autofree char *size_text = xasprintf("%" PRIu64, size);
	/* -u: the layer's final path does not exist until the rename below. */
	const char *create[] = {"qemu-img", "create", "-q", "-f", "qcow2", "-u", "-F", "qcow2", "-b", layer, next,
				size_text, NULL};
	if (rc == 0) {
		unlink(next);
		rc = runner_run(create, NULL, NULL, e);
	}
	if (rc == 0)
		rc = qemu_file_owner(next, u->uid, u->gid, 0600, e);
	bool added = false;
	if (rc == 0) {
		json_t *args = json_pack("{s:s, s:s, s:{s:s, s:s}, s:n}", "driver", "qcow2", "node-name", node_name,
					 "file", "driver", "file", "filename", next, "backing");
		rc = qmp_execute(q, "blockdev-add", args, NULL, e);
		json_decref(args);
		added = rc == 0;
	}
	if (rc == 0) {
		json_t *args = json_pack("{s:s, s:s}", "node", top, "overlay", node_name);
		rc = qmp_execute(q, "blockdev-snapshot", args, NULL, e);
		json_decref(args);
	}
	if (rc < 0) {
		if (added) {
			json_t *args = json_pack("{s:s}", "node-name", node_name);
			qmp_execute(q, "blockdev-del", args, NULL, NULL);
			json_decref(args);
		}
		qmp_close(q);
		unlink(next);
		err_prefix(e, "cannot take a snapshot of %s", root);
		return -1;
	}
	qmp_close(q);
	/* The guest writes into next now; root is frozen and only read. */
	if (rename_or_err(root, layer, e) < 0 || rename_or_err(next, root, e) < 0)
		return -1;
	return 0;
}

int layer_overlay_new(const char *root, const char *layer, struct err *e)
{
	autofree char *fresh = xasprintf("%s.new", root);
	const char *argv[] = {"qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", layer, fresh, NULL};
	if (!runner_dry_run())
		unlink(fresh);
	if (runner_run(argv, NULL, NULL, e) < 0) {
		unlink(fresh);
		return -1;
	}
	return rename_or_err(fresh, root, e);
}

int layer_rebase(const char *file, const char *new_backing, struct err *e)
{
	const char *argv[] = {"qemu-img", "rebase", "-q", "-f", "qcow2", "-F", "qcow2", "-b", new_backing, file, NULL};
	struct run_opts opts = {.timeout_ms = 60 * 60 * 1000};
	return runner_run(argv, &opts, NULL, e);
}
