/* event: the event log's rows, their texts and the API's parameters (see event.h). */
#include "model/event.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/operation.h"

const char *const event_kinds[] = {"vm",       "image",   "volume", "snapshot",  "network",
				   "firewall", "forward", "token",  "operation", "budget", NULL};

void event_free_fields(struct event *ev)
{
	if (!ev)
		return;
	free(ev->what);
	free(ev->detail);
	ev->what = ev->detail = NULL;
}

void event_list_free(struct event *evs, int n)
{
	for (int i = 0; i < n; i++)
		event_free_fields(&evs[i]);
	free(evs);
}

json_t *event_to_json(const struct event *ev)
{
	json_t *o = json_pack("{s:I, s:o, s:s, s:s, s:s, s:s}", "seq", (json_int_t)ev->seq, "at", time_ms_json(ev->at),
			      "kind", ev->kind, "id", ev->id, "name", ev->name, "what", ev->what ? ev->what : "");
	/* detail is written by the store from known fields; text that does not
	 * parse (a row written by hand) is left out rather than failing the list */
	json_t *d = ev->detail ? json_loads(ev->detail, 0, NULL) : NULL;
	json_object_set_new(o, "detail", d ? d : json_null());
	return o;
}

/* Digits only: no sign, space, or hex, which strtoll would take. */
static bool all_digits(const char *s)
{
	if (!s || !*s)
		return false;
	for (const char *p = s; *p; p++)
		if (*p < '0' || *p > '9')
			return false;
	return true;
}

int event_seq_parse(const char *param, const char *text, int64_t *out, struct err *e)
{
	errno = 0;
	long long v = all_digits(text) ? strtoll(text, NULL, 10) : -1;
	if (v < 0 || errno == ERANGE)
		return err_set(e, ERR_INVALID,
			       "%s \"%s\" must be an event's sequence number, 0 or more (the \"last_seq\" of an earlier "
			       "answer; 0: from the oldest kept)",
			       param, text ? text : "");
	*out = v;
	return 0;
}

int event_limit_parse(const char *param, const char *text, int *out, struct err *e)
{
	long long v = all_digits(text) && strlen(text) <= 6 ? strtoll(text, NULL, 10) : -1;
	if (v < 1 || v > EVENTS_LIMIT_MAX)
		return err_set(e, ERR_INVALID, "%s \"%s\" must be a number of events from 1 to %d", param,
			       text ? text : "", EVENTS_LIMIT_MAX);
	*out = (int)v;
	return 0;
}

int event_kind_parse(const char *param, const char *text, struct err *e)
{
	for (int i = 0; text && event_kinds[i]; i++)
		if (strcmp(text, event_kinds[i]) == 0)
			return 0;
	struct sbuf b = {0};
	for (int i = 0; event_kinds[i]; i++)
		sbuf_addf(&b, "%s%s", i ? ", " : "", event_kinds[i]);
	autofree char *list = sbuf_take(&b);
	return err_set(e, ERR_INVALID, "%s \"%s\" is not a kind of resource; kinds: %s", param, text ? text : "",
		       list);
}

void event_text_change(struct sbuf *b, const char *col, const char *old, const char *now)
{
	sbuf_addf(b, "%s%s: %s→%s", b->len ? ", " : "", col, old && *old ? old : "-", now && *now ? now : "-");
}

void event_text_updated(struct sbuf *b, const char *const *cols, int n)
{
	if (n == 0)
		return;
	sbuf_addf(b, "%supdated: ", b->len ? ", " : "");
	for (int i = 0; i < n; i++)
		sbuf_addf(b, "%s%s", i ? ", " : "", cols[i]);
}
