/*
 * layers: a VM's root disk as a chain of qcow2 layers, for snapshots.
 *
 * The VM's root.qcow2 is always the active top. Freezing makes the current
 * top a read-only layer under a new, empty top: for a running VM with QMP
 * blockdev-snapshot onto an overlay made beforehand (atomic: the guest
 * pauses for milliseconds, nothing is copied), for a stopped one with files
 * alone. The frozen file is then renamed to where the snapshot keeps it;
 * QEMU holds its descriptors, and the new top's header already names the
 * final path, so the next QEMU finds the chain where it now is.
 */
#pragma once

#include "util/err.h"

struct qemu_user;

/* Freezes root into layer (a path that does not exist yet, in an existing directory). */
int layer_freeze_stopped(const char *root, const char *layer, struct err *e);
/* The new top is QEMU's to write: it opens it after dropping to user u. */
int layer_freeze_running(const char *qmp_sock, const char *root, const char *layer, const char *node_name,
			 const struct qemu_user *u, struct err *e);
/* Replaces root with a new empty top on layer (what was in root is gone). */
int layer_overlay_new(const char *root, const char *layer, struct err *e);
/* Puts file on new_backing instead of its current backing without changing
 * what it reads as (qemu-img rebase, safe mode: the data of the layer being
 * dropped is merged into file). Fails while a running QEMU holds file. */
int layer_rebase(const char *file, const char *new_backing, struct err *e);
