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
 *
 * Freezing root R into layer L through the new top N (R's folder,
 * "top-<snapshot id>.qcow2"), the files pass through these states, and every
 * call starts by reading which one it is in, so a call cut off anywhere and
 * made again (after a kill -9 of nubod) goes on from there:
 *
 *   state  R        N                L        a running QEMU writes to
 *   A      top      -                -        R
 *   B      top      empty, on L      -        R (N may be added as a node)
 *   C      top      on L             -        N  (blockdev-snapshot done)
 *   D      -        on L             frozen   N  (R renamed to L)
 *   E      on L     -                frozen   N, under its old name
 *
 * A..C: nothing of the user's is moved yet; a failure removes N only if no
 * QEMU reads it, and leaves R as it was. An N that is left may hold the
 * guest's writes (its QEMU switched to it, then died): the caller tries
 * again rather than giving up, and the next call puts it on top. From D on the snapshot is taken:
 * calls only go forward (D -> E) and never delete or overwrite L or N. A
 * stopped VM goes A -> D -> (N made) -> E: when L exists and R does not, N
 * is made if missing, then renamed to R. N is made under a temporary name
 * and renamed into place, so an N that exists is whole.
 *
 * The store records the outcome (the VM sits on L, the snapshot is ready)
 * after E, in one transaction; until then the snapshot is "creating" and the
 * VM must not be started (its QEMU would open R without N's writes).
 */
#pragma once

#include <stdint.h>

#include "util/err.h"

struct qemu_user;

/* The new top N for a freeze of root into the snapshot snap_id; caller frees. */
char *layer_next_path(const char *root, const char *snap_id);

/* Freezes root into layer (in an existing directory), from whatever state
 * A..E the files are in; QEMU is not running on root. */
int layer_freeze_stopped(const char *root, const char *layer, const char *snap_id, struct err *e);
/* The same for a running QEMU: N is QEMU's to write (it opens it after
 * dropping to user u); node_name names N's node in QEMU. */
int layer_freeze_running(const char *qmp_sock, const char *root, const char *layer, const char *snap_id,
			 const char *node_name, const struct qemu_user *u, struct err *e);
/* Replaces root with a new empty top on layer (what was in root is gone). */
int layer_overlay_new(const char *root, const char *layer, struct err *e);
/* Puts file on new_backing instead of its current backing without changing
 * what it reads as (qemu-img rebase, safe mode: the data of the layer being
 * dropped is merged into file). Fails while a running QEMU holds file. A
 * rebase cut off midway leaves file reading as before (only clusters equal
 * to what it read through its backing were copied; the header changes last),
 * so it may simply be run again; it may also leave clusters allocated but
 * unreferenced (leaks), which every rebase frees once done (qemu-img check
 * -r leaks). */
int layer_rebase(const char *file, const char *new_backing, struct err *e);
/* qemu-img create of an empty top on layer straight at path (size 0: the
 * layer's): the command of the functions above, with nothing looked at,
 * renamed or removed, which the recording host (hostops.h) runs. */
int layer_top_write(const char *layer, const char *path, uint64_t size, struct err *e);
