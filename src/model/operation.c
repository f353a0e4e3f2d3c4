/* operation: fields and JSON (see operation.h). */
#include "model/operation.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/timeutil.h"

void operation_init(struct operation *op, const char *kind, const char *target, const char *target_name)
{
	memset(op, 0, sizeof(*op));
	id_new("op", op->id);
	snprintf(op->kind, sizeof(op->kind), "%s", kind);
	snprintf(op->target, sizeof(op->target), "%s", target);
	snprintf(op->target_name, sizeof(op->target_name), "%s", target_name);
	op->state = OP_RUNNING;
	op->created_at = time_now_ms();
}

void operation_free_fields(struct operation *op)
{
	if (!op)
		return;
	free(op->error);
	op->error = NULL;
}

static const char *names[] = {[OP_RUNNING] = "running", [OP_SUCCEEDED] = "succeeded", [OP_FAILED] = "failed"};

const char *op_state_name(enum op_state s)
{
	return (unsigned)s < 3 ? names[s] : "unknown";
}

int op_state_parse(const char *s, enum op_state *out)
{
	for (int i = 0; s && i < 3; i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = (enum op_state)i;
			return 0;
		}
	}
	return -1;
}

/* Milliseconds matter to people watching a 3-second boot: keep them. */
json_t *time_ms_json(int64_t ms)
{
	if (!ms)
		return json_null();
	char buf[40], base[32];
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, sizeof(buf), "%s.%03dZ", base, (int)(ms % 1000));
	return json_string(buf);
}

json_t *operation_to_json(const struct operation *op)
{
	json_t *o = json_object();
	json_object_set_new(o, "id", json_string(op->id));
	json_object_set_new(o, "kind", json_string(op->kind));
	json_object_set_new(o, "target", json_string(op->target));
	json_object_set_new(o, "target_name", json_string(op->target_name));
	json_object_set_new(o, "state", json_string(op_state_name(op->state)));
	char rev[OP_REVISION_LEN];
	operation_revision(op, rev);
	json_object_set_new(o, "revision", json_string(rev));
	json_object_set_new(o, "error", op->error ? json_string(op->error) : json_null());
	json_object_set_new(o, "phases", phases_to_json(&op->phases));
	json_object_set_new(o, "created_at", time_ms_json(op->created_at));
	json_object_set_new(o, "finished_at", time_ms_json(op->finished_at));
	json_object_set_new(o, "progress",
			    op->progress_done || op->progress_total
				    ? json_pack("{s:I, s:I}", "done_bytes", (json_int_t)op->progress_done, "total_bytes",
						(json_int_t)op->progress_total)
				    : json_null());
	return o;
}

/* FNV-1a, 64 bits: a mixing of the bytes, not a secret; a collision would
 * only make a waiting client wait for the next change. */
static uint64_t fnv(uint64_t h, const void *data, size_t n)
{
	const unsigned char *p = data;
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static uint64_t fnv_str(uint64_t h, const char *s)
{
	/* the NUL too, so that "ab"+"c" and "a"+"bc" differ */
	return fnv(h, s ? s : "", s ? strlen(s) + 1 : 1);
}

static uint64_t fnv_i64(uint64_t h, int64_t v)
{
	unsigned char b[8];
	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)((uint64_t)v >> (8 * i));
	return fnv(h, b, sizeof(b));
}

void operation_revision(const struct operation *op, char out[OP_REVISION_LEN])
{
	uint64_t h = 0xcbf29ce484222325ULL;
	h = fnv_i64(h, op->state);
	h = fnv_str(h, op->error ? op->error : NULL);
	h = fnv_i64(h, op->error != NULL);
	h = fnv_i64(h, op->phases.n);
	for (int i = 0; i < op->phases.n; i++) {
		h = fnv_str(h, op->phases.p[i].name);
		h = fnv_i64(h, op->phases.p[i].at_ms);
		h = fnv_i64(h, op->phases.p[i].duration_ms);
	}
	h = fnv_i64(h, op->finished_at);
	h = fnv_i64(h, op->progress_done);
	h = fnv_i64(h, op->progress_total);
	snprintf(out, OP_REVISION_LEN, "%016llx", (unsigned long long)h);
}

bool operation_revision_valid(const char *s)
{
	if (!s || strlen(s) != OP_REVISION_LEN - 1)
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}
