/* thread: detached threads (see thread.h). */
#include "util/thread.h"

#include <pthread.h>

int thread_start_detached(void *(*fn)(void *), void *arg)
{
	pthread_t t;
	pthread_attr_t attr;
	int rc = pthread_attr_init(&attr);
	if (rc != 0)
		return rc;
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&t, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	return rc;
}
