/* disk: qcow2 overlays through qemu-img (see disk.h). */
#include "host/disk.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "host/qemu.h"
#include "host/qmp.h"

#include "util/fs.h"
#include "util/runner.h"
#include "util/str.h"

/* Renames tmp into place when rc is 0; removes it on any failure. */
static int into_place(const char *tmp, const char *dst, int rc, struct err *e)
{
	if (rc == 0 && rename(tmp, dst) < 0)
		rc = err_set(e, ERR_INTERNAL, "cannot rename %s to %s: %s", tmp, dst, strerror(errno));
	if (rc < 0)
		unlink(tmp);
	return rc;
}

int disk_overlay_write(const char *base, const char *tmp, uint64_t size_bytes, struct err *e)
{
	autofree char *size = size_bytes ? xasprintf("%" PRIu64, size_bytes) : NULL;
	/* When size is NULL it ends argv early: qemu-img takes the base's size. */
	const char *argv[] = {"qemu-img", "create", "-f", "qcow2", "-F", "qcow2", "-b", base, tmp, size, NULL};
	return runner_run(argv, NULL, NULL, e);
}

int disk_overlay_create_sized(const char *base, const char *path, uint64_t size_bytes, struct err *e)
{
	if (fs_exists(path))
		return 0;
	autofree char *tmp = xasprintf("%s.tmp", path);
	unlink(tmp);   /* a leftover from a crash during an earlier attempt */
	int rc = into_place(tmp, path, disk_overlay_write(base, tmp, size_bytes, e), e);
	if (rc < 0)
		err_prefix(e, "cannot create disk %s on %s", path, base);
	return rc;
}

int disk_overlay_create(const char *base, const char *path, struct err *e)
{
	return disk_overlay_create_sized(base, path, 0, e);
}

int disk_info(const char *path, struct disk_info *out, struct err *e)
{
	memset(out, 0, sizeof(*out));
	const char *argv[] = {"qemu-img", "info", "--output=json", path, NULL};
	struct run_opts opts = {.timeout_ms = 30000, .dry_ok = true};
	struct run_result r = {0};
	int rc = runner_run(argv, &opts, &r, e);
	if (rc < 0) {
		run_result_free(&r);
		char why[sizeof(e->msg)];
		snprintf(why, sizeof(why), "%s", e ? e->msg : "");
		return err_set(e, ERR_UNPROCESSABLE, "%s is not an image qemu-img can read: %s", path, why);
	}
	json_error_t je;
	json_t *j = json_loads(r.out, 0, &je);
	run_result_free(&r);
	const char *fmt = json_string_value(json_object_get(j, "format"));
	if (!fmt) {
		json_decref(j);
		return err_set(e, ERR_INTERNAL, "qemu-img info %s gave no format", path);
	}
	snprintf(out->format, sizeof(out->format), "%s", fmt);
	out->virtual_size = (uint64_t)json_integer_value(json_object_get(j, "virtual-size"));
	out->actual_size = (uint64_t)json_integer_value(json_object_get(j, "actual-size"));
	out->has_backing = json_object_get(j, "backing-filename") != NULL;
	json_decref(j);
	return 0;
}

int disk_sha256(const char *path, char out[65], struct err *e)
{
	const char *argv[] = {"sha256sum", "--", path, NULL};
	struct run_opts opts = {.timeout_ms = 30 * 60 * 1000, .dry_ok = true};
	struct run_result r = {0};
	int rc = runner_run(argv, &opts, &r, e);
	if (rc == 0 && strlen(r.out) >= 64) {
		memcpy(out, r.out, 64);
		out[64] = '\0';
	} else if (rc == 0) {
		rc = err_set(e, ERR_INTERNAL, "sha256sum %s gave no digest", path);
	}
	run_result_free(&r);
	return rc;
}

int disk_import_write(const char *src, const char *tmp, struct disk_info *info, struct err *e)
{
	if (disk_info(src, info, e) < 0)
		return -1;
	if (strcmp(info->format, "qcow2") != 0 && strcmp(info->format, "raw") != 0)
		return err_set(e, ERR_UNPROCESSABLE, "%s is a %s image; nubo imports qcow2 and raw images", src,
			       info->format);
	if (info->has_backing)
		return err_set(e, ERR_UNPROCESSABLE,
			       "%s is a qcow2 overlay on another file; import a standalone image "
			       "(qemu-img convert -O qcow2 makes one)",
			       src);
	/* -n would reuse a target; a fresh one is what we want. No compression: compressed clusters are slow to read. */
	const char *convert[] = {"qemu-img", "convert", "-f", info->format, "-O", "qcow2", src, tmp, NULL};
	const char *check[] = {"qemu-img", "check", "-q", tmp, NULL};
	struct run_opts opts = {.timeout_ms = 60 * 60 * 1000};
	if (runner_run(convert, &opts, NULL, e) < 0 || runner_run(check, &opts, NULL, e) < 0) {
		err_prefix(e, "importing %s", src);
		return -1;
	}
	return 0;
}

int disk_import(const char *src, const char *dst, struct disk_info *info, struct err *e)
{
	autofree char *tmp = xasprintf("%s.tmp", dst);
	unlink(tmp);
	return into_place(tmp, dst, disk_import_write(src, tmp, info, e), e);
}

int disk_empty_write(const char *path, uint64_t size_bytes, struct err *e)
{
	autofree char *size = xasprintf("%" PRIu64, size_bytes);
	const char *argv[] = {"qemu-img", "create", "-q", "-f", "qcow2", path, size, NULL};
	if (runner_run(argv, NULL, NULL, e) < 0) {
		err_prefix(e, "cannot create disk %s", path);
		return -1;
	}
	return 0;
}

int disk_create_empty(const char *path, uint64_t size_bytes, struct err *e)
{
	unlink(path);
	int rc = disk_empty_write(path, size_bytes, e);
	if (rc < 0)
		unlink(path);
	return rc;
}

/* Checks dst.tmp and renames it into place; removes it on any failure. */
static int finish_copy(const char *tmp, const char *dst, int rc, struct err *e)
{
	const char *check[] = {"qemu-img", "check", "-q", tmp, NULL};
	struct run_opts opts = {.timeout_ms = 60 * 60 * 1000};
	if (rc == 0)
		rc = runner_run(check, &opts, NULL, e);
	return into_place(tmp, dst, rc, e);
}

int disk_flatten_write(const char *src, const char *tmp, struct err *e)
{
	const char *convert[] = {"qemu-img", "convert", "-O", "qcow2", src, tmp, NULL};
	const char *check[] = {"qemu-img", "check", "-q", tmp, NULL};
	struct run_opts opts = {.timeout_ms = 60 * 60 * 1000};
	int rc = runner_run(convert, &opts, NULL, e);
	return rc < 0 ? rc : runner_run(check, &opts, NULL, e);
}

int disk_flatten(const char *src, const char *dst, struct err *e)
{
	autofree char *tmp = xasprintf("%s.tmp", dst);
	unlink(tmp);
	return into_place(tmp, dst, disk_flatten_write(src, tmp, e), e);
}

/* Waits for a block job to conclude; returns its error, if any, in e. */
static int wait_job(struct qmp *q, const char *job_id, struct err *e)
{
	for (int i = 0; i < 60 * 60 * 10; i++) {
		json_t *jobs = NULL;
		if (qmp_execute(q, "query-jobs", NULL, &jobs, e) < 0)
			return -1;
		const char *status = NULL, *error = NULL;
		size_t k;
		json_t *j;
		json_array_foreach(jobs, k, j) {
			const char *id = json_string_value(json_object_get(j, "id"));
			if (id && strcmp(id, job_id) == 0) {
				status = json_string_value(json_object_get(j, "status"));
				error = json_string_value(json_object_get(j, "error"));
			}
		}
		int rc = 1;
		if (!status)
			rc = err_set(e, ERR_INTERNAL, "block job %s vanished", job_id);
		else if (strcmp(status, "concluded") == 0)
			rc = error ? err_set(e, ERR_INTERNAL, "copying the disk failed: %s", error) : 0;
		json_decref(jobs);
		if (rc <= 0) {
			json_t *args = json_pack("{s:s}", "id", job_id);
			qmp_execute(q, "job-dismiss", args, NULL, NULL);
			json_decref(args);
			return rc;
		}
		struct timespec ts = {0, 100 * 1000000L};
		nanosleep(&ts, NULL);
	}
	return err_set(e, ERR_INTERNAL, "copying the disk did not finish within an hour");
}

/* A job of this id left by a nubod killed mid-copy still writes into a file
 * the retry is about to replace: it is cancelled and dismissed first, so the
 * retry starts clean (and QEMU accepts its job id). */
static int drop_stale_job(struct qmp *q, const char *job_id, struct err *e)
{
	json_t *jobs = NULL;
	if (qmp_execute(q, "query-jobs", NULL, &jobs, e) < 0)
		return -1;
	bool found = false;
	size_t k;
	json_t *j;
	json_array_foreach(jobs, k, j) {
		const char *id = json_string_value(json_object_get(j, "id"));
		found = found || (id && strcmp(id, job_id) == 0);
	}
	json_decref(jobs);
	if (!found)
		return 0;
	json_t *args = json_pack("{s:s}", "id", job_id);
	qmp_execute(q, "job-cancel", args, NULL, NULL);   /* fails if it concluded already: fine */
	json_decref(args);
	struct err ignored = {0};
	wait_job(q, job_id, &ignored);   /* concluded (cancelled) and dismissed */
	return 0;
}

int disk_backup_running(const char *qmp_sock, const char *job_id, const char *dst, const struct qemu_user *u,
			struct err *e)
{
	return disk_backup_node(qmp_sock, "root", job_id, dst, u, e);
}

/* The virtual size of a drive (by its name, "root") or a named node (a volume). */
static int node_size(struct qmp *q, const char *node, uint64_t *size, struct err *e)
{
	json_t *blocks = NULL, *nodes = NULL;
	bool found = false;
	size_t i;
	json_t *b;
	if (qmp_execute(q, "query-block", NULL, &blocks, e) < 0)
		return -1;
	json_array_foreach(blocks, i, b) {
		const char *dev = json_string_value(json_object_get(b, "device"));
		json_t *image = json_object_get(json_object_get(b, "inserted"), "image");
		if (!found && dev && strcmp(dev, node) == 0 && image) {
			*size = (uint64_t)json_integer_value(json_object_get(image, "virtual-size"));
			found = true;
		}
	}
	json_decref(blocks);
	if (found)
		return 0;
	if (qmp_execute(q, "query-named-block-nodes", NULL, &nodes, e) < 0)
		return -1;
	json_array_foreach(nodes, i, b) {
		const char *name = json_string_value(json_object_get(b, "node-name"));
		if (!found && name && strcmp(name, node) == 0) {
			*size = (uint64_t)json_integer_value(json_object_get(json_object_get(b, "image"), "virtual-size"));
			found = true;
		}
	}
	json_decref(nodes);
	return found ? 0 : err_set(e, ERR_INTERNAL, "the VM has no drive or node \"%s\"", node);
}

int disk_backup_node(const char *qmp_sock, const char *node, const char *job_id, const char *dst,
		     const struct qemu_user *u, struct err *e)
{
	autofree char *tmp = xasprintf("%s.tmp", dst);
	struct qmp *q = NULL;
	uint64_t size = 0;
	int rc = qmp_open(qmp_sock, QMP_DISK_TIMEOUT_MS, &q, e);
	if (rc == 0)
		rc = drop_stale_job(q, job_id, e);
	unlink(tmp);
	if (rc == 0)
		rc = node_size(q, node, &size, e);
	/* QEMU runs unprivileged and may not create files in our directories:
	 * the target exists, empty and of the right size, before it opens it. */
	if (rc == 0) {
		autofree char *size_text = xasprintf("%" PRIu64, size);
		const char *create[] = {"qemu-img", "create", "-q", "-f", "qcow2", tmp, size_text, NULL};
		rc = runner_run(create, NULL, NULL, e);
	}
	if (rc == 0)
		rc = qemu_file_owner(tmp, u->uid, u->gid, 0600, e);
	if (rc == 0) {
		json_t *args = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b}", "job-id", job_id, "device", node, "target",
					 tmp, "sync", "full", "format", "qcow2", "mode", "existing", "auto-dismiss", 0);
		rc = qmp_execute(q, "drive-backup", args, NULL, e);
		json_decref(args);
	}
	if (rc == 0)
		rc = wait_job(q, job_id, e);
	qmp_close(q);
	rc = finish_copy(tmp, dst, rc, e);
	/* An image base: root's, readable by the QEMUs that boot from it, no one else. */
	if (rc == 0)
		rc = qemu_file_owner(dst, 0, u->gid, 0640, e);
	return rc;
}
