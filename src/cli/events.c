/*
 * events: `nubo events [--follow] [--kind K] [--name N] [--after SEQ] [--json]`,
 * the event log (GET /v1/events): one line per change, oldest first; with
 * --follow it goes on printing as things happen, one held request at a
 * time (the API answers the moment the log grows).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/format.h"
#include "util/str.h"

/* Events asked for per request (the API's most), and how long a follow's request is held. */
#define EVENTS_PAGE 1000
#define FOLLOW_HOLD_S 30

static const struct arg_flag events_flags[] = {
	{"follow", 'f', ARG_BOOL, NULL, "keep printing events as they happen, until Ctrl-C"},
	{"kind", 0, ARG_VALUE, "K",
	 "only events of one kind: vm, image, volume, snapshot, network, firewall, forward, token, operation, budget"},
	{"name", 0, ARG_VALUE, "N", "only events of resources named N (a VM's operations too)"},
	{"after", 0, ARG_VALUE, "SEQ", "only events numbered after SEQ (the first column)"},
	{"json", 0, ARG_BOOL, NULL, "one JSON object per line: each event as the API gives it"},
	{NULL, 0, 0, NULL, NULL},
};

char *events_line(const json_t *ev)
{
	const char *name = cli_jstr(ev, "name");
	return xasprintf("%6" PRId64 "  %s  %-9s %s%s%s", cli_jint(ev, "seq", 0), cli_or_dash(cli_jstr(ev, "at")),
			 cli_or_dash(cli_jstr(ev, "kind")), name && *name ? name : "", name && *name ? ": " : "",
			 cli_or_dash(cli_jstr(ev, "what")));
}

/* "/v1/events?after=A&limit=L[&kind=K][&name=N][&wait=S]"; caller frees. */
static char *events_path(const char *after, const struct args *a, bool wait)
{
	autofree char *enc_after = client_escape(after);
	struct sbuf b = {0};
	sbuf_addf(&b, "/v1/events?after=%s&limit=%d", enc_after, EVENTS_PAGE);
	const char *const params[] = {"kind", "name"};
	for (size_t i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
		const char *v = args_value(a, params[i]);
		if (v) {
			autofree char *enc = client_escape(v);
			sbuf_addf(&b, "&%s=%s", params[i], enc);
		}
	}
	if (wait)
		sbuf_addf(&b, "&wait=%d", FOLLOW_HOLD_S);
	return sbuf_take(&b);
}

static int events_run(struct cli_ctx *ctx, const struct args *a)
{
	bool follow = args_has(a, "follow"), json = args_has(a, "json");
	/* the first value is the user's, sent as given: the API names it if it is wrong */
	char *after = xstrdup(args_value(a, "after") ? args_value(a, "after") : "0");
	bool full = true;   /* the last page was full: ask again at once, not held */
	int rc = CLI_EXIT_OK;
	for (;;) {
		autofree char *path = events_path(after, a, follow && !full);
		json_t *ans = cli_get(ctx, path);
		if (!ans) {
			rc = CLI_EXIT_FAILED;
			break;
		}
		json_t *evs = json_object_get(ans, "events");
		size_t i;
		json_t *ev;
		json_array_foreach(evs, i, ev) {
			if (json) {
				char *text = json_dumps(ev, JSON_COMPACT);
				fprintf(ctx->out, "%s\n", text);
				free(text);
			} else {
				autofree char *line = events_line(ev);
				fprintf(ctx->out, "%s\n", line);
			}
		}
		fflush(ctx->out);
		full = json_array_size(evs) >= EVENTS_PAGE;
		json_t *last = json_object_get(ans, "last_seq");
		if (json_is_integer(last)) {
			free(after);
			after = xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(last));
		}
		json_decref(ans);
		if (!follow && !full)
			break;
	}
	free(after);
	return rc;
}

static const struct cli_verb events_verbs[] = {
	{"", "[--follow] [--kind K] [--name N] [--after SEQ] [--json]",
	 "Show what changed: every resource's creation, state changes, rules and deletion, oldest first",
	 "Each line is one event: its number, when, the kind of resource, its name and what\n"
	 "happened (\"created\", \"state: pending→running\", \"rule added: tcp 22 from 0.0.0.0/0\",\n"
	 "\"deleted\"). Events are kept for events_retention_days (nubod.json, default 7).\n"
	 "With --follow nubo keeps printing as changes happen, made through any nubod that\n"
	 "shares the database; --after SEQ starts after an event seen before.\n\n"
	 "Examples:\n"
	 "  nubo events --follow --name web1      a VM's changes and its operations' phases, as they come\n"
	 "  nubo events --kind firewall --json    firewall changes, one JSON object per line\n",
	 events_flags, 0, 0, false, events_run},
	{NULL, NULL, NULL, NULL, NULL, 0, 0, false, NULL},
};

const struct cli_noun events_noun = {"events", "What changed, and what changes: the event log.", events_verbs, true};
