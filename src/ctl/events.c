/*
 * events: how this nubod hears of changes, its own or any other nubod's on
 * the same database, and how the log is kept from growing.
 *
 * One thread follows the event log from the last number it read. The store
 * wakes it when events may have been appended (a commit here, or on
 * PostgreSQL a NOTIFY from any nubod); it also looks once a second, so that
 * a wake-up lost with a connection, or a row written by another process on
 * an SQLite file, is seen all the same. What it reads it hands on:
 *   - every new event kicks the reconcilers;
 *   - an event about a VM, network, firewall or forward marks the nftables
 *     ruleset stale up to that number (rules.c re-applies it);
 *   - an operation's event, and "events" for any, go to the API's
 *     long-polls (ctl_set_op_listener).
 * In-process counters (rules_gen, ctl_kick from the API) remain, but only
 * to answer sooner: the log alone would reach the same end.
 *
 * The same thread prunes, at start and every PRUNE_EVERY_MS: events older
 * than events_retention_days, and finished operations of resources that no
 * longer exist once OPS_GRACE_MS has passed, so that a client can still read
 * the operation that deleted something.
 */
#include "ctl/ctl-priv.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/log.h"
#include "util/str.h"
#include "util/timeutil.h"

#define LOOK_EVERY_MS 1000
#define READ_BATCH 500
#define PRUNE_EVERY_MS (10 * 60 * 1000)
#define OPS_GRACE_MS (60 * 60 * 1000)
#define DAY_MS (24LL * 60 * 60 * 1000)

struct ctl_events {
	pthread_t thread;
	bool running;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool woken, quit;
	int64_t seen;        /* the last event read (thread only) */
	bool seen_known;     /* seen was read from the store */
	int64_t pruned_at;   /* time_mono_ms of the last prune; 0: never */
};

/* The store's hook: on a writer's thread or the store's listener. Quick. */
static void on_events(void *arg)
{
	struct ctl_events *ev = arg;
	pthread_mutex_lock(&ev->mu);
	ev->woken = true;
	pthread_cond_signal(&ev->cv);
	pthread_mutex_unlock(&ev->mu);
}

bool events_kind_shapes_rules(const char *kind)
{
	static const char *const kinds[] = {"vm", "network", "firewall", "forward", "lb", NULL};
	for (int i = 0; kinds[i]; i++)
		if (strcmp(kind, kinds[i]) == 0)
			return true;
	return false;
}

/* Reads everything after ev->seen and hands it on. */
static void follow(struct ctl *c, struct ctl_events *ev)
{
	struct err e = {0};
	if (!ev->seen_known) {
		if (store_events_last_seq(c->st, &ev->seen, &e) < 0)
			return;   /* the database is away; the next look tries again */
		ev->seen_known = true;
	}
	int64_t rules_seq = 0;
	bool any = false;
	for (;;) {
		struct event_query q = {.after = ev->seen, .limit = READ_BATCH};
		struct event *evs = NULL;
		int n = 0;
		int64_t last = ev->seen;
		if (store_events_list(c->st, &q, &evs, &n, &last, &e) < 0)
			break;
		for (int i = 0; i < n; i++) {
			if (events_kind_shapes_rules(evs[i].kind))
				rules_seq = evs[i].seq;
			if (strcmp(evs[i].kind, "operation") == 0)
				ctl_tell_op_listener(c, evs[i].id);
		}
		any = any || n > 0;
		ev->seen = last;
		event_list_free(evs, n);
		if (n < READ_BATCH)
			break;
	}
	if (!any)
		return;
	pthread_mutex_lock(&c->mu);
	if (rules_seq > c->rules_seq)
		c->rules_seq = rules_seq;
	pthread_mutex_unlock(&c->mu);
	ctl_tell_op_listener(c, CTL_EVENTS_KEY);
	ctl_kick(c);
}

static void prune(struct ctl *c, struct ctl_events *ev)
{
	int64_t now = time_mono_ms();
	if (ev->pruned_at && now - ev->pruned_at < PRUNE_EVERY_MS)
		return;
	ev->pruned_at = now;
	struct err e = {0};
	int n_ev = 0, n_ops = 0;
	int64_t wall = time_now_ms();
	if (store_events_prune(c->st, wall - c->cfg.events_retention_days * DAY_MS, &n_ev, &e) < 0 ||
	    store_ops_prune(c->st, wall - OPS_GRACE_MS, &n_ops, &e) < 0) {
		log_warn("events: pruning failed (tried again in %d min): %s", PRUNE_EVERY_MS / 60000, e.msg);
		return;
	}
	if (n_ev || n_ops)
		log_info("events: pruned %d event%s older than %d days and %d operation%s of deleted resources", n_ev,
			 n_ev == 1 ? "" : "s", c->cfg.events_retention_days, n_ops, n_ops == 1 ? "" : "s");
}

static void *events_main(void *arg)
{
	struct ctl *c = arg;
	struct ctl_events *ev = c->events;
	pthread_mutex_lock(&ev->mu);
	while (!ev->quit) {
		ev->woken = false;
		pthread_mutex_unlock(&ev->mu);
		follow(c, ev);
		prune(c, ev);
		pthread_mutex_lock(&ev->mu);
		if (ev->woken || ev->quit)
			continue;
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += LOOK_EVERY_MS * 1000000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&ev->cv, &ev->mu, &ts);
	}
	pthread_mutex_unlock(&ev->mu);
	return NULL;
}

int events_start(struct ctl *c, struct err *e)
{
	struct ctl_events *ev = xcalloc(1, sizeof(*ev));
	pthread_mutex_init(&ev->mu, NULL);
	pthread_cond_init(&ev->cv, NULL);
	c->events = ev;
	/* From now: what came before is history, not news (and a failed read is tried again). */
	ev->seen_known = store_events_last_seq(c->st, &ev->seen, NULL) == 0;
	if (pthread_create(&ev->thread, NULL, events_main, c) != 0)
		return err_set(e, ERR_INTERNAL, "cannot start the event follower's thread");
	ev->running = true;
	store_set_event_hook(c->st, on_events, ev);
	return 0;
}

void events_free(struct ctl *c)
{
	struct ctl_events *ev = c->events;
	if (!ev)
		return;
	store_set_event_hook(c->st, NULL, NULL);
	if (ev->running) {
		pthread_mutex_lock(&ev->mu);
		ev->quit = true;
		pthread_cond_signal(&ev->cv);
		pthread_mutex_unlock(&ev->mu);
		pthread_join(ev->thread, NULL);
	}
	pthread_cond_destroy(&ev->cv);
	pthread_mutex_destroy(&ev->mu);
	free(ev);
	c->events = NULL;
}
