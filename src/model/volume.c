/* volume: JSON (see volume.h). */
#include "model/volume.h"

#include <stdlib.h>

#include "util/timeutil.h"

void volume_list_free(struct volume *v, int n)
{
	(void)n;
	free(v);
}

json_t *volume_to_json(const struct volume *v, const char *vm_name)
{
	char created[32];
	time_format_rfc3339(v->created_at, created);
	return json_pack("{s:s, s:s, s:I, s:s, s:s?, s:s?, s:s?, s:s, s:s?, s:s?}", "id", v->id, "name", v->name,
			 "size_bytes", (json_int_t)v->size_bytes, "state", v->state, "attached_to",
			 v->attach_to[0] ? v->attach_to : NULL, "vm", vm_name, "device",
			 v->attached_vm[0] && v->slot >= 0 ? "virtio" : NULL, "created_at", created, "operation",
			 v->op_id[0] ? v->op_id : NULL, "host", v->host[0] ? v->host : NULL);
}
