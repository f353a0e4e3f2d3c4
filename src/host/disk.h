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

#include <stdint.h>

#include "util/err.h"

/* qemu-img create -f qcow2 -F qcow2 -b BASE PATH (via PATH.tmp). An existing
 * PATH is left as it is and is success. BASE should be an absolute path: it
 * is recorded in the overlay. */
int disk_overlay_create(const char *base, const char *path, struct err *e);

/* The same with a virtual size in bytes larger than the base's (0: the base's
 * size). */
int disk_overlay_create_sized(const char *base, const char *path, uint64_t size_bytes, struct err *e);
