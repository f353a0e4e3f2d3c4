/*
 * longpoll: requests that nubod holds until what they watch changes, their
 * time runs out, or nubod stops (GET /v1/operations/{id}?wait=SECONDS).
 *
 * The one idea: a held request costs no thread. The server suspends its
 * connection (libmicrohttpd's MHD_suspend_connection) and lists it here
 * under the key it watches (an operation id); whoever changes that thing
 * calls longpoll_notify(key), one timer thread watches the deadlines, and
 * either resumes the connection, whose handler then runs again and answers.
 *
 * The server gives the functions that suspend and resume a connection, so
 * this module knows nothing of HTTP (and its tests need no socket).
 *
 * No change is lost between a handler reading the state and its request
 * being listed: the handler reads longpoll_seq() before it reads the state,
 * and longpoll_hold() refuses (LONGPOLL_CHANGED) when any notification came
 * in between; the handler then simply runs again.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "util/err.h"

/* The longest a request may be held: clients (and libmicrohttpd's idle
 * timeout of 60 s) must be able to count on an answer within it. */
#define LONGPOLL_MAX_SECONDS 60

struct longpoll;

/* One held request: kept by the server with its connection (no allocation
 * here). Zero it before its first longpoll_hold(). */
struct longpoll_entry {
	void *conn;                 /* given to suspend() and resume() */
	char key[64];               /* what it watches */
	int64_t until_ms;           /* time_mono_ms() at which it is answered anyway */
	bool listed;                /* suspended and waiting (under the module's lock) */
	bool counted;               /* held at least once and not yet done */
	struct longpoll_entry *prev, *next;
};

enum longpoll_result {
	LONGPOLL_HELD,       /* suspended; it will be resumed */
	LONGPOLL_CHANGED,    /* something was notified since seq: run the handler again */
	LONGPOLL_STOPPING,   /* nubod is stopping: answer now */
};

/* suspend and resume are called with the module's lock held and must not
 * call back into it. Caller frees with longpoll_free(). */
struct longpoll *longpoll_new(void (*suspend)(void *conn), void (*resume)(void *conn));
/* After longpoll_stop() and once no connection can call in any more. */
void longpoll_free(struct longpoll *lp);

/* A number that grows with every notification; read it before reading the
 * state a hold depends on. */
uint64_t longpoll_seq(struct longpoll *lp);
/* Holds en (en->conn, en->key, en->until_ms filled) unless a notification
 * came after seq was read or nubod is stopping. Called from the request's
 * handler, where the connection may be suspended. */
enum longpoll_result longpoll_hold(struct longpoll *lp, struct longpoll_entry *en, uint64_t seq);
/* Resumes every request held on key. */
void longpoll_notify(struct longpoll *lp, const char *key);
/* The request of en is over (answered, or its connection closed). Safe on
 * an entry that was never held. */
void longpoll_done(struct longpoll *lp, struct longpoll_entry *en);
/* How many requests are held now (for tests and logs). */
int longpoll_count(struct longpoll *lp);
/* Resumes every held request, refuses new holds from now on, and waits up
 * to max_ms until every request that was held is done. Returns how many
 * were not. */
int longpoll_stop(struct longpoll *lp, int64_t max_ms);

/* Reads the wait parameter: a number of seconds from 0 to
 * LONGPOLL_MAX_SECONDS ("30", "0.5"), into milliseconds. On bad text, a 400
 * naming param and text. */
int longpoll_wait_parse(const char *param, const char *text, int64_t *ms, struct err *e);
