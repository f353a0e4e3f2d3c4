/*
 * disk: VM disks as qcow2 files, through qemu-img.
 *
 * A root disk is a copy-on-write overlay on the image's read-only base, so
 * creating a VM costs the same for any image size. The overlay is created
 * under a temporary name and renamed into place: a crash never leaves a
 * half-written disk under the real name, and an existing disk (which may hold
 * a VM's data) is never overwritten.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "util/err.h"

struct qemu_user;

/* qemu-img create -f qcow2 -F qcow2 -b BASE PATH (via PATH.tmp). An existing
 * PATH is left as it is and is success. BASE should be an absolute path: it
 * is recorded in the overlay. */
int disk_overlay_create(const char *base, const char *path, struct err *e);

/* The same with a virtual size in bytes larger than the base's (0: the base's
 * size). */
int disk_overlay_create_sized(const char *base, const char *path, uint64_t size_bytes, struct err *e);

/* A new empty qcow2 of size bytes at path, replacing any file there. */
int disk_create_empty(const char *path, uint64_t size_bytes, struct err *e);

/* What qemu-img says of an image file. */
struct disk_info {
	char format[16];          /* "qcow2", "raw", "vmdk", ... */
	uint64_t virtual_size;    /* bytes the guest sees */
	uint64_t actual_size;     /* bytes used on the host */
	bool has_backing;         /* a qcow2 overlay on another file */
};

/* `qemu-img info --output=json PATH`. */
int disk_info(const char *path, struct disk_info *out, struct err *e);

/* Makes dst a standalone qcow2 copy of src (qcow2 or raw, detected with
 * qemu-img info). Only a finished copy appears under dst: it is written to
 * dst.tmp, checked with `qemu-img check`, then renamed. A format other than
 * qcow2 or raw, a qcow2 with a backing file, or a damaged file is an
 * ERR_UNPROCESSABLE error naming it. */
int disk_import(const char *src, const char *dst, struct disk_info *info, struct err *e);

/* A standalone qcow2 copy of what the running VM behind qmp_sock sees on its
 * root disk, at one instant (QMP drive-backup, sync=full: the guest keeps
 * running and pauses for no copy). Written to dst.tmp, renamed when whole. */
/* QEMU writes the copy after it dropped to user u: dst.tmp is made
 * beforehand and handed to u, and the finished dst is root's, readable by
 * u's group (mode 0640), like every image base. */
int disk_backup_running(const char *qmp_sock, const char *job_id, const char *dst, const struct qemu_user *u,
			struct err *e);
/* The same for any drive or node of the VM (a volume's node is its id). */
int disk_backup_node(const char *qmp_sock, const char *node, const char *job_id, const char *dst,
		     const struct qemu_user *u, struct err *e);
/* The same for a stopped VM's disk file (qemu-img convert flattens its chain). */
int disk_flatten(const char *src, const char *dst, struct err *e);

/* The commands alone of disk_overlay_create_sized, disk_create_empty,
 * disk_import and disk_flatten, written straight to tmp (path for an empty
 * disk), with no file removed or renamed: what the recording host
 * (hostops.h) runs under the runner's dry-run capture. */
int disk_overlay_write(const char *base, const char *tmp, uint64_t size_bytes, struct err *e);
int disk_empty_write(const char *path, uint64_t size_bytes, struct err *e);
int disk_import_write(const char *src, const char *tmp, struct disk_info *info, struct err *e);
int disk_flatten_write(const char *src, const char *tmp, struct err *e);

/* Lowercase hex SHA-256 of a file, through sha256sum; out has 65 bytes. */
int disk_sha256(const char *path, char out[65], struct err *e);
