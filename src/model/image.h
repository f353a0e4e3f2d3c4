/*
 * image: a bootable base disk (and, for direct boot, its kernel and initrd)
 * under <state-dir>/images/<id>/. VMs get qcow2 overlays on it, so an image
 * in use cannot be deleted.
 */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "model/machine_type.h"
#include "util/ids.h"

struct image {
	char id[ID_MAX];
	char name[NAME_MAX_LEN + 1];
	char recipe[NAME_MAX_LEN + 1];
	char state[16];        /* building | ready | error */
	char boot[16];         /* direct | firmware */
	char user[33];         /* default login user */
	char *cmdline;         /* kernel command line for direct boot */
	char *os;              /* what is inside, for people */
	char *error;
	int64_t size_bytes;          /* used on the host */
	int64_t virtual_size_bytes;  /* what a VM's root disk starts at */
	char *source;                /* imports: the file or URL it came from */
	char sha256[65];             /* imports: the checksum it was verified against, if given */
	char *kernel_source, *initrd_source;  /* direct-boot imports: where the boot files came from */
	int64_t created_at;
	char op_id[ID_MAX];
	char host[NAME_MAX_LEN + 1];   /* where it was built or imported: that host resumes a build cut off */
	/* Its files, for other hosts to fetch and check (ctl/peer.c): a JSON
	 * array of {"name", "size", "sha256"}, written by the host that made it
	 * once it is ready; NULL before. */
	char *files;
};

void image_free_fields(struct image *img);
void image_list_free(struct image *imgs, int n);
json_t *image_to_json(const struct image *img);
