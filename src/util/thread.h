/*
 * thread: a detached thread, for work that outlives the call that starts it
 * (an image build, a fetch, a move, a console viewer) and reports through
 * the store or its own state rather than through a join.
 */
#pragma once

/* Starts fn(arg) on a detached thread; 0, or pthread_create's error (the
 * caller still owns arg then). */
int thread_start_detached(void *(*fn)(void *), void *arg);
