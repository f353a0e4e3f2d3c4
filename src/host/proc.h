/*
 * proc: recognising and stopping the long-lived processes nubo starts
 * (QEMU, dnsmasq) from their pid files.
 *
 * A pid alone is not proof: after a reboot or a crash the number may belong to
 * an unrelated process. So a process counts as ours only when it is alive AND
 * its /proc/<pid>/cmdline carries the arguments nubo gave it (for QEMU
 * "-name VMID", for dnsmasq "--conf-file=PATH").
 */
#pragma once

#include <stdbool.h>

#include "util/err.h"

/* The pid written in path, or 0 when the file is missing or holds no number. */
int proc_pidfile_read(const char *path);

/* True when pid is alive and its command line contains the argument arg,
 * followed directly by next when next is not NULL. */
bool proc_has_args(int pid, const char *arg, const char *next);

/* Waits until pid no longer carries (arg, next) (it exited, or its number was
 * reused); true if that happened within timeout_ms. */
bool proc_wait_gone(int pid, const char *arg, const char *next, int timeout_ms);

/* Sends SIGTERM to pid if it still carries (arg, next), waits up to
 * timeout_ms, then SIGKILL and waits again. A process already gone is success.
 * what names the process for the error message ("dnsmasq of networks/x"). */
int proc_terminate(int pid, const char *arg, const char *next, int timeout_ms, const char *what,
		   struct err *e);
