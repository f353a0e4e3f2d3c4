/* image: fields and JSON (see image.h). */
#include "model/image.h"

#include <stdlib.h>

#include "util/timeutil.h"

void image_free_fields(struct image *img)
{
	if (!img)
		return;
	free(img->cmdline);
	free(img->os);
	free(img->error);
	free(img->source);
	free(img->kernel_source);
	free(img->files);
	free(img->initrd_source);
	img->cmdline = img->os = img->error = img->source = img->kernel_source = img->initrd_source = NULL;
}

void image_list_free(struct image *imgs, int n)
{
	for (int i = 0; imgs && i < n; i++)
		image_free_fields(&imgs[i]);
	free(imgs);
}

json_t *image_to_json(const struct image *img)
{
	char created[32];
	time_format_rfc3339(img->created_at, created);
	return json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:s?, s:s, s:s, s:s?, s:I, s:I, s:s, s:s?, s:s?}", "id",
			 img->id, "name", img->name, "state", img->state, "recipe",
			 img->recipe[0] ? img->recipe : NULL, "source", img->source, "sha256",
			 img->sha256[0] ? img->sha256 : NULL, "boot", img->boot, "user", img->user, "os", img->os,
			 "size_bytes", (json_int_t)img->size_bytes, "virtual_size_bytes",
			 (json_int_t)img->virtual_size_bytes, "created_at", created, "error", img->error,
			 "operation", img->op_id[0] ? img->op_id : NULL);
}
