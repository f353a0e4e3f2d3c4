/*
 * longpoll: held requests, resumed on a change, a deadline or shutdown (see
 * longpoll.h).
 *
 * Held entries form one list under one lock; with a few dozen clients
 * following operations at most, a walk of the list per notification is
 * cheaper than any index. One timer thread sleeps until the earliest
 * deadline (or until a new hold may have brought it nearer).
 */
#include "api/longpoll.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/str.h"
#include "util/timeutil.h"

struct longpoll {
	pthread_mutex_t mu;
	pthread_cond_t timer_cv;   /* wakes the timer thread: a new hold, or quit */
	pthread_cond_t done_cv;    /* signalled when a counted request is done */
	void (*suspend)(void *conn);
	void (*resume)(void *conn);
	struct longpoll_entry *head;
	int listed;                /* entries in the list */
	int open;                  /* entries counted and not done */
	uint64_t seq;
	bool stopping, quit, joined;
	pthread_t timer;
};

/* Both condition variables count time on CLOCK_MONOTONIC, as time_mono_ms does. */
static void cond_init_mono(pthread_cond_t *cv)
{
	pthread_condattr_t a;
	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(cv, &a);
	pthread_condattr_destroy(&a);
}

static void cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *mu, int64_t until_ms)
{
	struct timespec ts = {.tv_sec = until_ms / 1000, .tv_nsec = (long)(until_ms % 1000) * 1000000L};
	pthread_cond_timedwait(cv, mu, &ts);
}

/* Under lp->mu: takes en out of the list. */
static void unlink_locked(struct longpoll *lp, struct longpoll_entry *en)
{
	if (en->prev)
		en->prev->next = en->next;
	else
		lp->head = en->next;
	if (en->next)
		en->next->prev = en->prev;
	en->prev = en->next = NULL;
	en->listed = false;
	lp->listed--;
}

/* Under lp->mu: takes en out of the list and resumes its connection. */
static void release_locked(struct longpoll *lp, struct longpoll_entry *en)
{
	unlink_locked(lp, en);
	lp->resume(en->conn);
}

static void *timer_main(void *arg)
{
	struct longpoll *lp = arg;
	pthread_mutex_lock(&lp->mu);
	while (!lp->quit) {
		int64_t now = time_mono_ms(), next = INT64_MAX;
		for (struct longpoll_entry *en = lp->head, *nx; en; en = nx) {
			nx = en->next;
			if (en->until_ms <= now)
				release_locked(lp, en);
			else if (en->until_ms < next)
				next = en->until_ms;
		}
		if (next == INT64_MAX)
			pthread_cond_wait(&lp->timer_cv, &lp->mu);
		else
			cond_wait_until(&lp->timer_cv, &lp->mu, next);
	}
	pthread_mutex_unlock(&lp->mu);
	return NULL;
}

struct longpoll *longpoll_new(void (*suspend)(void *conn), void (*resume)(void *conn))
{
	struct longpoll *lp = xcalloc(1, sizeof(*lp));
	pthread_mutex_init(&lp->mu, NULL);
	cond_init_mono(&lp->timer_cv);
	cond_init_mono(&lp->done_cv);
	lp->suspend = suspend;
	lp->resume = resume;
	if (pthread_create(&lp->timer, NULL, timer_main, lp) != 0)
		abort();   /* no thread at startup: nothing sensible to go on with */
	return lp;
}

static void timer_quit(struct longpoll *lp)
{
	pthread_mutex_lock(&lp->mu);
	lp->quit = true;
	pthread_cond_signal(&lp->timer_cv);
	bool joined = lp->joined;
	lp->joined = true;
	pthread_mutex_unlock(&lp->mu);
	if (!joined)
		pthread_join(lp->timer, NULL);
}

void longpoll_free(struct longpoll *lp)
{
	if (!lp)
		return;
	timer_quit(lp);
	pthread_cond_destroy(&lp->timer_cv);
	pthread_cond_destroy(&lp->done_cv);
	pthread_mutex_destroy(&lp->mu);
	free(lp);
}

uint64_t longpoll_seq(struct longpoll *lp)
{
	pthread_mutex_lock(&lp->mu);
	uint64_t s = lp->seq;
	pthread_mutex_unlock(&lp->mu);
	return s;
}

enum longpoll_result longpoll_hold(struct longpoll *lp, struct longpoll_entry *en, uint64_t seq)
{
	pthread_mutex_lock(&lp->mu);
	enum longpoll_result r = LONGPOLL_HELD;
	if (lp->stopping) {
		r = LONGPOLL_STOPPING;
	} else if (lp->seq != seq) {
		r = LONGPOLL_CHANGED;
	} else if (!en->listed) {
		if (!en->counted) {
			en->counted = true;
			lp->open++;
		}
		/* Suspended before it is listed, so that no resume can come first. */
		lp->suspend(en->conn);
		en->listed = true;
		en->prev = NULL;
		en->next = lp->head;
		if (lp->head)
			lp->head->prev = en;
		lp->head = en;
		lp->listed++;
		pthread_cond_signal(&lp->timer_cv);
	}
	pthread_mutex_unlock(&lp->mu);
	return r;
}

void longpoll_notify(struct longpoll *lp, const char *key)
{
	pthread_mutex_lock(&lp->mu);
	lp->seq++;
	for (struct longpoll_entry *en = lp->head, *nx; en; en = nx) {
		nx = en->next;
		if (strcmp(en->key, key) == 0)
			release_locked(lp, en);
	}
	pthread_mutex_unlock(&lp->mu);
}

void longpoll_done(struct longpoll *lp, struct longpoll_entry *en)
{
	if (!en->counted && !en->listed)
		return;
	pthread_mutex_lock(&lp->mu);
	if (en->listed) {
		/* Cannot happen through libmicrohttpd (a suspended connection
		 * does not complete); kept so that the list never holds freed
		 * memory. */
		unlink_locked(lp, en);
	}
	if (en->counted) {
		en->counted = false;
		lp->open--;
		pthread_cond_broadcast(&lp->done_cv);
	}
	pthread_mutex_unlock(&lp->mu);
}

int longpoll_count(struct longpoll *lp)
{
	pthread_mutex_lock(&lp->mu);
	int n = lp->listed;
	pthread_mutex_unlock(&lp->mu);
	return n;
}

int longpoll_stop(struct longpoll *lp, int64_t max_ms)
{
	int64_t until = time_mono_ms() + max_ms;
	pthread_mutex_lock(&lp->mu);
	lp->stopping = true;
	while (lp->head)
		release_locked(lp, lp->head);
	while (lp->open > 0 && time_mono_ms() < until)
		cond_wait_until(&lp->done_cv, &lp->mu, until);
	int left = lp->open;
	pthread_mutex_unlock(&lp->mu);
	timer_quit(lp);
	return left;
}

int longpoll_wait_parse(const char *param, const char *text, int64_t *ms, struct err *e)
{
	/* Digits with at most one point: no sign, exponent, hex, "inf" or "nan",
	 * which strtod would take. */
	bool ok = text && *text, point = false, digit = false;
	for (const char *p = text; ok && *p; p++) {
		if (*p >= '0' && *p <= '9')
			digit = true;
		else if (*p == '.' && !point)
			point = true;
		else
			ok = false;
	}
	double s = ok && digit ? strtod(text, NULL) : -1;
	if (!(s >= 0 && s <= LONGPOLL_MAX_SECONDS))
		return err_set(e, ERR_INVALID, "%s \"%s\" must be a number of seconds from 0 to %d (e.g. %s=30)",
			       param, text ? text : "", LONGPOLL_MAX_SECONDS, param);
	*ms = (int64_t)(s * 1000 + 0.5);
	return 0;
}
