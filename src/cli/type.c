/*
 * type: `nubo type list`, the machine types nubod offers (GET /v1/types).
 */
#include <stdlib.h>

#include "cli/commands.h"
#include "cli/format.h"
#include "cli/table.h"
#include "util/str.h"

static void print_types(struct cli_ctx *ctx, const json_t *j)
{
	static const char *const headers[] = {"NAME", "VCPUS", "MEMORY", "PRICE/HOUR"};
	struct table *t = table_new(4, headers);
	table_align_right(t, 1);
	table_align_right(t, 2);
	table_align_right(t, 3);
	size_t i;
	json_t *ty;
	json_array_foreach(json_object_get(j, "types"), i, ty) {
		autofree char *vcpus = xasprintf("%lld", (long long)cli_jint(ty, "vcpus", 0));
		autofree char *mem = fmt_mib(cli_jint(ty, "memory_mib", -1));
		autofree char *price = json_is_number(json_object_get(ty, "price_per_hour"))
					       ? fmt_price(cli_jreal(ty, "price_per_hour", 0))
					       : NULL;
		const char *row[] = {cli_jstr(ty, "name"), vcpus, mem, price};
		table_add_row(t, row);
	}
	autofree char *text = table_render(t);
	fputs(text, ctx->out);
	table_free(t);
}

static int type_list(struct cli_ctx *ctx, const struct args *a)
{
	return cli_show(ctx, a, "/v1/types", print_types);
}

static const struct cli_verb type_verbs[] = {
	{"list", "[--json]", "List machine types: vCPUs, memory and price per hour", NULL, cli_json_flags, 0, 0,
	 false, type_list},
	{NULL, NULL, NULL, NULL, NULL, 0, 0, false, NULL},
};

const struct cli_noun type_noun = {"type", "Machine types (sizes) a VM can have.", type_verbs, false};
