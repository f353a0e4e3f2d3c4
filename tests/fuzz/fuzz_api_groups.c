/* fuzz_api_groups: the bodies of POST /v1/groups, PATCH /v1/groups/{} and
 * POST /v1/groups/{}/update, then the group's own parsers (durations, LB[:PORT])
 * on the input as text. */
#include <stdlib.h>
#include <string.h>

#include "api/body-priv.h"
#include "common.h"
#include "model/group.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct api_req req = fuzz_req(data, size);
	struct api_resp resp = {0};

	struct api_group_create c;
	bool ok = api_group_create_parse(&req, &resp, &c);
	fuzz_check_resp(ok, &resp);
	if (ok) {
		FUZZ_ASSERT(c.r.name, "a group parsed without a name");
		fuzz_check_field(c.json, "name", c.r.name);
		fuzz_check_field(c.json, "image", c.r.image);
		fuzz_check_field(c.json, "lb", c.r.lb);
		fuzz_check_field(c.json, "user_data", c.r.user_data);
		fuzz_check_field(c.json, "grace", c.r.grace);
		FUZZ_ASSERT(c.r.min_size >= 0 && c.r.min_size <= GROUP_SIZE_MAX, "min %d out of range", c.r.min_size);
		FUZZ_ASSERT(c.r.max_size >= 1 && c.r.max_size <= GROUP_SIZE_MAX, "max %d out of range", c.r.max_size);
		FUZZ_ASSERT(c.r.desired >= -1 && c.r.desired <= GROUP_SIZE_MAX, "desired %d out of range", c.r.desired);
		FUZZ_ASSERT(c.r.target_cpu >= 0 && c.r.target_cpu <= 100, "target_cpu %d out of range", c.r.target_cpu);
		api_group_create_free(&c);
	}

	struct api_group_set s;
	ok = api_group_set_parse(&req, &resp, &s);
	fuzz_check_resp(ok, &resp);
	if (ok)
		FUZZ_ASSERT(s.min_size >= 0 || s.max_size >= 0 || s.desired >= 0 || s.target_cpu >= 0,
			    "a set with nothing to set was accepted");

	struct api_group_update u;
	ok = api_group_update_parse(&req, &resp, &u);
	fuzz_check_resp(ok, &resp);
	if (ok) {
		fuzz_check_field(u.json, "image", u.image);
		fuzz_check_field(u.json, "type", u.type);
		json_decref(u.json);
	}
	fuzz_req_free(&req);

	char *text = fuzz_cstr(data, size);
	if (!text)
		return 0;
	struct err e = {0};
	int64_t ms = -1;
	int rc = group_duration_parse(text, "grace", &ms, &e);
	if (rc < 0)
		fuzz_check_err(rc, &e, text);
	else
		FUZZ_ASSERT(ms >= 0 && ms <= 24LL * 3600000, "duration %lld ms out of range", (long long)ms);
	char lb[NAME_MAX_LEN + 1];
	int port = -1;
	rc = group_lb_parse(text, "lb", lb, &port, &e);
	if (rc < 0)
		fuzz_check_err(rc, &e, text);
	else
		FUZZ_ASSERT(lb[0] && port >= 0 && port <= 65535 && strncmp(text, lb, strlen(lb)) == 0,
			    "lb \"%s\" port %d not read from the text", lb, port);
	free(text);
	return 0;
}
