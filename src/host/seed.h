/*
 * seed: the NoCloud "cidata" seed that configures a guest on first boot.
 *
 * cloud-init (and the tiny image's init) look for a disk labelled "cidata"
 * holding two files: meta-data (YAML: instance id, hostname, SSH keys) and
 * user-data (passed through as the user gave it); model/nocloud.h renders
 * them.
 */
#pragma once

#include "model/nocloud.h"
#include "util/err.h"

/* Writes meta-data and user-data (and network-config, if any) into work_dir (created if missing) and runs
 * genisoimage -output ISO.tmp -volid cidata -joliet -rock ..., then renames
 * ISO.tmp to iso_path, so iso_path is either the old or the complete new
 * seed. */
int seed_iso_build(const struct nocloud *s, const char *work_dir, const char *iso_path, struct err *e);
/* The same up to genisoimage, which writes tmp; nothing is renamed or
 * removed: what the recording host (hostops.h) runs. */
int seed_iso_write(const struct nocloud *s, const char *work_dir, const char *iso_path, const char *tmp,
		   struct err *e);
