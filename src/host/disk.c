/* disk: qcow2 overlays through qemu-img (see disk.h). */
#include "host/disk.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util/fs.h"
#include "util/runner.h"
#include "util/str.h"

int disk_overlay_create_sized(const char *base, const char *path, uint64_t size_bytes, struct err *e)
{
	if (!runner_dry_run() && fs_exists(path))
		return 0;
	autofree char *tmp = xasprintf("%s.tmp", path);
	autofree char *size = size_bytes ? xasprintf("%" PRIu64, size_bytes) : NULL;
	/* When size is NULL it ends argv early: qemu-img takes the base's size. */
	const char *argv[] = {"qemu-img", "create", "-f", "qcow2", "-F", "qcow2", "-b", base, tmp, size, NULL};
	bool real = !runner_dry_run();
	if (real)
		unlink(tmp);   /* a leftover from a crash during an earlier attempt */
	int rc = runner_run(argv, NULL, NULL, e);
	if (rc < 0) {
		if (real)
			unlink(tmp);
		err_prefix(e, "cannot create disk %s on %s", path, base);
		return rc;
	}
	if (!real)
		return 0;
	if (rename(tmp, path) < 0) {
		int saved = errno;
		unlink(tmp);
		return err_set(e, ERR_INTERNAL, "cannot create disk %s: rename from %s: %s", path, tmp, strerror(saved));
	}
	return 0;
}

int disk_overlay_create(const char *base, const char *path, struct err *e)
{
	return disk_overlay_create_sized(base, path, 0, e);
}
