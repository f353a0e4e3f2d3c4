/*
 * crashpoint: named steps where a test build of nubod can be told to die.
 *
 * A step that touches disks, QEMU or the store in more than one move calls
 * crashpoint("snapshot.renamed-top") between the moves. In a build configured
 * with -Dcrashpoints=true, the environment arms them:
 *
 *   NUBO_CRASH_AT=NAME      nubod kills itself with SIGKILL (as kill -9 would)
 *   NUBO_CRASH_AT=NAME:N    ... the Nth time it passes NAME (1 = the first)
 *   NUBO_CRASH_TRACE=FILE   appends each NAME it passes to FILE, one a line
 *
 * The test harness (tests/e2e/crash.sh) runs an action once with a trace to
 * learn its steps, then once per step with NUBO_CRASH_AT, and checks that a
 * restarted nubod converges. In every other build crashpoint() is nothing.
 */
#pragma once

#ifdef NUBO_CRASHPOINTS
void crashpoint(const char *name);
#else
static inline void crashpoint(const char *name)
{
	(void)name;
}
#endif
