/* snapshot: JSON (see snapshot.h). */
#include "model/snapshot.h"

#include <stdbool.h>

#include "util/timeutil.h"

json_t *snapshot_to_json(const struct snapshot *s)
{
	char created[32];
	time_format_rfc3339(s->created_at, created);
	bool vol = s->volume_id[0] != '\0';
	return json_pack("{s:s, s:s, s:s?, s:s?, s:s?, s:s?, s:s, s:s?, s:I, s:s, s:s?}", "id", s->id, "name", s->name,
			 "vm", vol ? NULL : s->vm_name, "vm_id", vol ? NULL : s->vm_id, "volume", vol ? s->vm_name : NULL,
			 "volume_id", vol ? s->volume_id : NULL, "state", s->state, "parent", s->parent[0] ? s->parent : NULL,
			 "virtual_size_bytes", (json_int_t)s->virtual_size, "created_at", created, "operation",
			 s->op_id[0] ? s->op_id : NULL);
}
