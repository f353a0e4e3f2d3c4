/* token: JSON (see token.h). */
#include "model/token.h"

#include "util/timeutil.h"

json_t *token_to_json(const struct token *t)
{
	char created[32], used[32];
	time_format_rfc3339(t->created_at, created);
	if (t->last_used_at)
		time_format_rfc3339(t->last_used_at, used);
	return json_pack("{s:s, s:s, s:s, s:s?}", "id", t->id, "name", t->name, "created_at", created, "last_used_at",
			 t->last_used_at ? used : NULL);
}
