/* layers: freezing, replacing and rebasing qcow2 layers (see layers.h for the states). */
#include "host/layers.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "host/disk.h"
#include "host/qemu.h"
#include "host/qmp.h"
#include "util/crashpoint.h"
#include "util/fs.h"
#include "util/runner.h"
#include "util/str.h"

static int rename_or_err(const char *from, const char *to, struct err *e)
{
	if (rename(from, to) == 0)
		return 0;
	return err_set(e, ERR_INTERNAL, "cannot rename %s to %s: %s", from, to, strerror(errno));
}

char *layer_next_path(const char *root, const char *snap_id)
{
	const char *slash = strrchr(root, '/');
	int dir_len = slash ? (int)(slash - root) : 1;
	return xasprintf("%.*s/top-%s.qcow2", dir_len, slash ? root : ".", snap_id);
}

/* Makes N, an empty top on layer, under a temporary name first. size: N's
 * virtual size, needed when layer does not exist yet (-u); 0 to read it from
 * layer. */
int layer_top_write(const char *layer, const char *path, uint64_t size, struct err *e)
{
	autofree char *size_text = xasprintf("%" PRIu64, size);
	const char *from_layer[] = {"qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", layer, path, NULL};
	/* -u: layer's path does not exist yet, so the size is given. */
	const char *ahead[] = {"qemu-img", "create", "-q", "-f", "qcow2", "-u", "-F", "qcow2", "-b", layer, path,
			       size_text, NULL};
	return runner_run(size ? ahead : from_layer, NULL, NULL, e);
}

static int make_next(const char *next, const char *layer, uint64_t size, struct err *e)
{
	autofree char *tmp = xasprintf("%s.tmp", next);
	unlink(tmp);
	int rc = layer_top_write(layer, tmp, size, e);
	if (rc == 0)
		rc = rename_or_err(tmp, next, e);
	if (rc < 0)
		unlink(tmp);
	return rc;
}

/* D -> E: the frozen layer exists; R becomes N (made first if missing). */
static int finish_freeze(const char *root, const char *layer, const char *next, struct err *e)
{
	if (fs_exists(root))
		return 0;   /* E already */
	if (!fs_exists(next) && make_next(next, layer, 0, e) < 0)
		return -1;
	crashpoint("snapshot.top-made");
	if (rename_or_err(next, root, e) < 0)
		return -1;
	crashpoint("snapshot.top-renamed");
	return 0;
}

int layer_freeze_stopped(const char *root, const char *layer, const char *snap_id, struct err *e)
{
	autofree char *next = layer_next_path(root, snap_id);
	if (!fs_exists(layer)) {
		/* A..C with no QEMU. An N left by a running VM's cut-off call
		 * is kept and put on top, never dropped: if its QEMU had
		 * switched to it (C) and then stopped, it holds the guest's
		 * last writes; if not (B), it is empty and reads as R. */
		if (!fs_exists(root))
			return err_set(e, ERR_CONFLICT, "%s does not exist: the VM has no disk yet; start it once first",
				       root);
		if (rename_or_err(root, layer, e) < 0)
			return -1;
		crashpoint("snapshot.frozen");
	}
	return finish_freeze(root, layer, next, e);
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

/* Whether QEMU has a block node of this name (1), not (0), or the query failed (-1). */
static int has_node(struct qmp *q, const char *node_name, struct err *e)
{
	json_t *nodes = NULL;
	if (qmp_execute(q, "query-named-block-nodes", NULL, &nodes, e) < 0)
		return -1;
	int found = 0;
	size_t i;
	json_t *n;
	json_array_foreach(nodes, i, n) {
		const char *name = json_string_value(json_object_get(n, "node-name"));
		if (name && strcmp(name, node_name) == 0)
			found = 1;
	}
	json_decref(nodes);
	return found;
}

static int qmp_node_cmd(struct qmp *q, const char *cmd, json_t *args, struct err *e)
{
	int rc = qmp_execute(q, cmd, args, NULL, e);
	json_decref(args);
	return rc;
}

/* A..C: brings QEMU's root drive onto node_name, backed by N; returns with
 * QEMU writing to N (state C). */
static int switch_to_next(struct qmp *q, const char *next, const char *layer, const char *node_name,
			  const struct qemu_user *u, struct err *e)
{
	char top[128];
	uint64_t size = 0;
	if (root_top(q, top, sizeof(top), &size, e) < 0)
		return -1;
	if (strcmp(top, node_name) == 0)
		return 0;   /* C already */
	int added = has_node(q, node_name, e);
	if (added < 0)
		return -1;
	if (!added) {
		/* N is in no QEMU: an N left by a cut-off call is whole (made
		 * under a temporary name) and empty, so it is used as it is. */
		if (!fs_exists(next) && make_next(next, layer, size, e) < 0)
			return -1;
		crashpoint("snapshot.next-made");
		if (qemu_file_owner(next, u->uid, u->gid, 0600, e) < 0)
			return -1;
		if (qmp_node_cmd(q, "blockdev-add",
				 json_pack("{s:s, s:s, s:{s:s, s:s}, s:n}", "driver", "qcow2", "node-name", node_name,
					   "file", "driver", "file", "filename", next, "backing"),
				 e) < 0) {
			unlink(next);   /* QEMU did not take it */
			return -1;
		}
		crashpoint("snapshot.next-added");
	}
	if (qmp_node_cmd(q, "blockdev-snapshot", json_pack("{s:s, s:s}", "node", top, "overlay", node_name), e) < 0) {
		/* Still B: QEMU writes to R. Take N out again so a later call
		 * starts clean; if that fails too, the later call reuses it. */
		if (qmp_node_cmd(q, "blockdev-del", json_pack("{s:s}", "node-name", node_name), NULL) == 0)
			unlink(next);
		return -1;
	}
	crashpoint("snapshot.switched");
	return 0;
}

int layer_freeze_running(const char *qmp_sock, const char *root, const char *layer, const char *snap_id,
			 const char *node_name, const struct qemu_user *u, struct err *e)
{
	autofree char *next = layer_next_path(root, snap_id);
	if (!fs_exists(layer)) {
		struct qmp *q = NULL;
		int rc = qmp_open(qmp_sock, QMP_DISK_TIMEOUT_MS, &q, e);
		if (rc == 0)
			rc = switch_to_next(q, next, layer, node_name, u, e);
		qmp_close(q);
		if (rc < 0) {
			err_prefix(e, "cannot take a snapshot of %s", root);
			return -1;
		}
		/* C: the guest writes into N now; R is frozen and only read. */
		if (rename_or_err(root, layer, e) < 0)
			return -1;
		crashpoint("snapshot.frozen");
	}
	return finish_freeze(root, layer, next, e);
}

int layer_overlay_new(const char *root, const char *layer, struct err *e)
{
	autofree char *fresh = xasprintf("%s.new", root);
	unlink(fresh);
	if (layer_top_write(layer, fresh, 0, e) < 0) {
		unlink(fresh);
		return -1;
	}
	return rename_or_err(fresh, root, e);
}

/* Writethrough (-t): every cluster the rebase copies into file is
 * referenced on disk before the next, and so before the header names the
 * new backing file. With qemu-img's default writeback cache the tables
 * that reference the copied clusters may still be in its memory when the
 * header is written, and a kill then (nubod's children die with it) leaves
 * file on the new backing without the data it took from the old one. */
int layer_rebase(const char *file, const char *new_backing, struct err *e)
{
	const char *argv[] = {"qemu-img", "rebase", "-q", "-t", "writethrough", "-f", "qcow2",
			      "-F", "qcow2", "-b", new_backing, file, NULL};
	struct run_opts opts = {.timeout_ms = 60 * 60 * 1000};
	if (runner_run(argv, &opts, NULL, e) < 0)
		return -1;
	/* A rebase killed midway (with nubod: its children die with it) can
	 * leave clusters it had allocated but not yet referenced; the run that
	 * finishes the job frees them, so the file passes qemu-img check. Only
	 * leaks are repaired: nothing that is referenced is touched. */
	const char *repair[] = {"qemu-img", "check", "-q", "-r", "leaks", "-f", "qcow2", file, NULL};
	if (runner_run(repair, &opts, NULL, e) < 0) {
		err_prefix(e, "freeing the clusters a rebase cut off midway left in %s", file);
		return -1;
	}
	return 0;
}
