/*
 * events: GET /v1/events, the event log, read on from a sequence number and
 * long-polled like an operation: with wait, a request that finds nothing new
 * is held (api/longpoll.h, no thread) until the log grows, its wait runs
 * out, or nubod stops. The log grows when any nubod on the database writes
 * (ctl/events.c hears of it), so a change made elsewhere answers here too.
 */
#include "api/api-priv.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "api/longpoll.h"
#include "model/event.h"
#include "util/timeutil.h"

/* GET /v1/events?after=SEQ&wait=S&kind=K&name=N&limit=L:
 * {"events": [...oldest first], "last_seq": the number to pass as after next}. */
static void list_events(const struct api_req *req, struct api_resp *resp)
{
	const char *after = api_query(req, "after"), *wait = api_query(req, "wait");
	const char *kind = api_query(req, "kind"), *name = api_query(req, "name"), *limit = api_query(req, "limit");
	struct event_query q = {.after = 0, .kind = kind, .name = name, .limit = EVENTS_LIMIT_DEFAULT};
	int64_t wait_ms = 0;
	struct err e = {0};
	if ((after && event_seq_parse("after", after, &q.after, &e) < 0) ||
	    (wait && longpoll_wait_parse("wait", wait, &wait_ms, &e) < 0) ||
	    (kind && event_kind_parse("kind", kind, &e) < 0) ||
	    (limit && event_limit_parse("limit", limit, &q.limit, &e) < 0)) {
		api_error(resp, &e);
		return;
	}
	if (name && (!*name || strlen(name) > NAME_MAX_LEN)) {
		err_set(&e, ERR_INVALID, "name \"%s\" must be a resource's name, 1 to %d characters", name, NAME_MAX_LEN);
		api_error(resp, &e);
		return;
	}
	struct event *evs = NULL;
	int n = 0;
	int64_t last = q.after;
	if (store_events_list(ctl_store(req->ctl), &q, &evs, &n, &last, &e) < 0) {
		api_error(resp, &e);
		return;
	}
	int64_t until = req->held ? req->held->until_ms : time_mono_ms() + wait_ms;
	if (n == 0 && wait_ms > 0 && time_mono_ms() < until) {
		snprintf(resp->hold.key, sizeof(resp->hold.key), "%s", CTL_EVENTS_KEY);
		snprintf(resp->hold.since, sizeof(resp->hold.since), "%" PRId64, q.after);
		resp->hold.until_ms = until;
	} else {
		json_t *arr = json_array();
		for (int i = 0; i < n; i++)
			json_array_append_new(arr, event_to_json(&evs[i]));
		api_json(resp, 200, json_pack("{s:o, s:I}", "events", arr, "last_seq", (json_int_t)last));
	}
	event_list_free(evs, n);
}

const struct api_route api_event_routes[] = {
	{"GET", "/v1/events", list_events},
	{NULL, NULL, NULL},
};
