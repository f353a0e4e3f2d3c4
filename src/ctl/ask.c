/*
 * ask: questions to the host that an API request needs answered before it
 * replies ("is this host port free", "does this subnet clash with a route",
 * the tail of a VM's console log). An API thread never reaches the host
 * itself: it queues the question and waits, and the reconciler thread, the
 * one thread that touches the host, answers it between two reconcilers of
 * its pass (ctl.c), through the host table like every other host step.
 *
 * A question the thread has not taken within ASK_WAIT_MS is taken back and
 * answered "unavailable" (the reconciler is stuck on a long step); one it
 * has taken is waited for, since its arg lives on the asker's stack.
 * Without a reconciler thread (before ctl_start, in unit tests) the asking
 * thread answers: nothing else touches the host then; so does the
 * reconciler thread when it asks itself.
 */
#include "ctl/ctl-priv.h"

#include <time.h>

#define ASK_WAIT_MS 30000

struct ctl_question {
	ctl_ask_fn *fn;
	void *arg;
	struct err e;
	int rc;
	bool taken, done;
	struct ctl_question *next;
};

/* Under c->mu: drops q from the queue if it is still there. */
static bool unqueue(struct ctl *c, struct ctl_question *q)
{
	for (struct ctl_question **p = &c->questions; *p; p = &(*p)->next)
		if (*p == q) {
			*p = q->next;
			return true;
		}
	return false;
}

int ctl_ask(struct ctl *c, ctl_ask_fn *fn, void *arg, struct err *e)
{
	struct ctl_question q = {.fn = fn, .arg = arg};
	pthread_mutex_lock(&c->mu);
	if (!c->running || pthread_equal(pthread_self(), c->thread)) {   /* no other thread, or asked by it */
		pthread_mutex_unlock(&c->mu);
		return fn(c, arg, e);
	}
	if (c->quit) {
		pthread_mutex_unlock(&c->mu);
		return err_set(e, ERR_UNAVAILABLE, "nubod is stopping");
	}
	struct ctl_question **tail = &c->questions;
	while (*tail)
		tail = &(*tail)->next;
	*tail = &q;
	c->kicked = true;
	pthread_cond_signal(&c->cv);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ASK_WAIT_MS / 1000;
	while (!q.done) {
		if (q.taken) {
			pthread_cond_wait(&c->answered_cv, &c->mu);
		} else if (pthread_cond_timedwait(&c->answered_cv, &c->mu, &ts) != 0 && !q.taken && !q.done) {
			unqueue(c, &q);
			pthread_mutex_unlock(&c->mu);
			return err_set(e, ERR_UNAVAILABLE,
				       "nubod's reconciler has been busy for %d s and could not look at the host; "
				       "try again",
				       ASK_WAIT_MS / 1000);
		}
	}
	pthread_mutex_unlock(&c->mu);
	if (q.rc < 0 && e)
		*e = q.e;
	return q.rc;
}

void ctl_questions_answer(struct ctl *c)
{
	pthread_mutex_lock(&c->mu);
	while (c->questions) {
		struct ctl_question *q = c->questions;
		c->questions = q->next;
		q->taken = true;
		pthread_mutex_unlock(&c->mu);
		int rc = q->fn(c, q->arg, &q->e);
		pthread_mutex_lock(&c->mu);
		q->rc = rc;
		q->done = true;
		pthread_cond_broadcast(&c->answered_cv);
	}
	pthread_mutex_unlock(&c->mu);
}

void ctl_questions_refuse(struct ctl *c)
{
	pthread_mutex_lock(&c->mu);
	while (c->questions) {
		struct ctl_question *q = c->questions;
		c->questions = q->next;
		q->rc = err_set(&q->e, ERR_UNAVAILABLE, "nubod is stopping");
		q->done = true;
	}
	pthread_cond_broadcast(&c->answered_cv);
	pthread_mutex_unlock(&c->mu);
}
