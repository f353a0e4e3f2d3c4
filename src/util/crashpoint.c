/* crashpoint: see crashpoint.h. Empty unless built with -Dcrashpoints=true. */
#include "util/crashpoint.h"

#ifdef NUBO_CRASHPOINTS

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned passes;   /* how often the armed name was passed */

void crashpoint(const char *name)
{
	const char *trace = getenv("NUBO_CRASH_TRACE");
	if (trace && *trace) {
		int fd = open(trace, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
		if (fd >= 0) {
			dprintf(fd, "%s\n", name);
			close(fd);
		}
	}
	const char *at = getenv("NUBO_CRASH_AT");
	if (!at || !*at)
		return;
	const char *colon = strrchr(at, ':');
	size_t len = colon ? (size_t)(colon - at) : strlen(at);
	unsigned nth = colon ? (unsigned)strtoul(colon + 1, NULL, 10) : 1;
	if (strlen(name) != len || strncmp(name, at, len) != 0)
		return;
	pthread_mutex_lock(&lock);
	bool die = ++passes == nth;
	pthread_mutex_unlock(&lock);
	if (!die)
		return;
	log_warn("crashpoint %s: killing nubod as asked (NUBO_CRASH_AT)", name);
	kill(getpid(), SIGKILL);
	pause();
}
#endif
