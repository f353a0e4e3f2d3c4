/* group: auto-scaling groups' specs, the scaling arithmetic and the scale-in order (see group.h). */
#include "model/group.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/port.h"
#include "util/str.h"
#include "util/timeutil.h"

static const char *const member_states[] = {"creating", "active", "draining", "removing"};

void group_free_fields(struct scaling_group *g)
{
	if (!g)
		return;
	free(g->ssh_keys);
	free(g->ssh_key_file);
	free(g->user_data);
	g->ssh_keys = g->ssh_key_file = g->user_data = NULL;
}

void group_list_free(struct scaling_group *g, int n)
{
	for (int i = 0; g && i < n; i++)
		group_free_fields(&g[i]);
	free(g);
}

const char *member_state_name(enum member_state s)
{
	return (unsigned)s < sizeof(member_states) / sizeof(member_states[0]) ? member_states[s] : "unknown";
}

int member_state_parse(const char *s, enum member_state *out)
{
	for (size_t i = 0; s && i < sizeof(member_states) / sizeof(member_states[0]); i++)
		if (strcmp(s, member_states[i]) == 0) {
			*out = (enum member_state)i;
			return 0;
		}
	return -1;
}

int group_duration_parse(const char *s, const char *field, int64_t *ms, struct err *e)
{
	return time_duration_parse(s, field, 0, 24LL * 3600000, ms, e);
}

int group_lb_parse(const char *s, const char *field, char name[NAME_MAX_LEN + 1], int *port, struct err *e)
{
	*port = 0;
	name[0] = 0;
	if (!s || !*s)
		return err_set(e, ERR_INVALID, "%s is empty: write LB or LB:PORT, e.g. web or web:8080", field);
	const char *colon = strchr(s, ':');
	autofree char *lb = colon ? xstrndup(s, (size_t)(colon - s)) : xstrdup(s);
	if (vm_name_validate(lb, field, e) < 0)
		return -1;
	uint16_t p = 0;
	if (colon && port_parse(colon + 1, field, &p, e) < 0) {
		err_prefix(e, "%s \"%s\" is not LB or LB:PORT", field, s);
		return -1;
	}
	*port = p;
	snprintf(name, NAME_MAX_LEN + 1, "%s", lb);
	return 0;
}

int group_sizes_validate(int min_size, int max_size, int desired, struct err *e)
{
	if (min_size < 0 || min_size > GROUP_SIZE_MAX)
		return err_set(e, ERR_INVALID, "min %d is out of range: 0 to %d", min_size, GROUP_SIZE_MAX);
	if (max_size < 1 || max_size > GROUP_SIZE_MAX)
		return err_set(e, ERR_INVALID, "max %d is out of range: 1 to %d", max_size, GROUP_SIZE_MAX);
	if (min_size > max_size)
		return err_set(e, ERR_INVALID, "min %d is above max %d", min_size, max_size);
	if (desired < min_size || desired > max_size)
		return err_set(e, ERR_INVALID, "desired %d is outside min %d and max %d", desired, min_size, max_size);
	return 0;
}

int group_name_validate(const char *name, struct err *e)
{
	if (vm_name_validate(name, "name", e) < 0)
		return -1;
	if (strlen(name) > GROUP_NAME_MAX)
		return err_set(e, ERR_INVALID,
			       "name \"%s\" is %zu characters long: a group's name has at most %d, to leave room for "
			       "its VMs' \"-%.*s\" suffix",
			       name, strlen(name), GROUP_NAME_MAX, GROUP_SUFFIX_LEN, "xxxxxxxx");
	return 0;
}

void group_defaults(struct scaling_group *g)
{
	g->grace_ms = 60000;
	g->warmup_ms = 60000;
	g->cooldown_ms = 120000;
	g->drain_ms = 10000;
	g->template_gen = 1;
}

int group_scale_out_count(int n, double avg, int target)
{
	if (n <= 0 || target <= 0)
		return n > 0 ? n : 1;
	/* a hair below the next whole number is that number's worth of load
	 * only by rounding error: 2 × 90 / 60 is 3, never 4 */
	double want = (double)n * avg / (double)target;
	if (want > GROUP_SIZE_MAX * 10)
		return GROUP_SIZE_MAX * 10;
	int w = (int)want;
	if (want - (double)w > 1e-9)
		w++;
	return w < 1 ? 1 : w;
}

bool group_scale_in_fits(int n, double avg, int target)
{
	if (n <= 1)
		return false;
	return (double)n * avg / (double)(n - 1) <= (double)target;
}

int group_member_rank_cmp(const struct member_rank *a, const struct member_rank *b)
{
	if (a->healthy != b->healthy)
		return a->healthy ? 1 : -1;
	if (a->template_gen != b->template_gen)
		return a->template_gen < b->template_gen ? -1 : 1;
	if (a->created_at != b->created_at)
		return a->created_at < b->created_at ? -1 : 1;
	return 0;
}

json_t *group_member_to_json(const struct group_member *m)
{
	char created[32], ready[32] = "";
	time_format_rfc3339(m->created_at, created);
	if (m->ready_at)
		time_format_rfc3339(m->ready_at, ready);
	return json_pack("{s:s,s:s,s:s,s:i,s:s,s:s,s:b,s:b,s:s,s:s,s:s}", "id", m->id, "name", m->name, "vm_id",
			 m->vm_id, "template", m->template_gen, "image", m->image, "state", member_state_name(m->state),
			 "protected", m->protected_, "in_lb", m->target_id[0] != 0, "reason", m->reason, "ready_at",
			 ready, "created_at", created);
}

json_t *group_to_json(const struct scaling_group *g)
{
	char created[32];
	time_format_rfc3339(g->created_at, created);
	json_t *fws = json_array();
	autofree char *copy = xstrdup(g->firewalls);
	char *save = NULL;
	for (char *w = strtok_r(copy, ",", &save); w; w = strtok_r(NULL, ",", &save))
		json_array_append_new(fws, json_string(w));
	json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:s,s:o,s:i,s:i,s:i,s:i,s:i,s:I,s:I,s:I,s:I,s:b,s:s}", "id", g->id,
			      "name", g->name, "image", g->image, "type", g->type, "network", g->network, "firewalls",
			      fws, "template", g->template_gen, "min", g->min_size, "max", g->max_size, "desired",
			      g->desired, "target_cpu", g->target_cpu, "grace_ms", (json_int_t)g->grace_ms, "warmup_ms",
			      (json_int_t)g->warmup_ms, "cooldown_ms", (json_int_t)g->cooldown_ms, "drain_ms",
			      (json_int_t)g->drain_ms, "deleting", g->deleted, "created_at", created);
	if (g->lb[0]) {
		json_object_set_new(j, "lb", json_string(g->lb));
		if (g->lb_port)
			json_object_set_new(j, "lb_port", json_integer(g->lb_port));
	}
	return j;
}
