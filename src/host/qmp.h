/*
 * qmp: a small client of QEMU's machine protocol over its unix socket.
 *
 * QMP is one JSON object per line. After connecting, QEMU sends a greeting and
 * accepts nothing but qmp_capabilities; then each command gets exactly one
 * reply ({"return": ...} or {"error": ...}). Asynchronous events ({"event":
 * ...}) may arrive at any time, including between a command and its reply, so
 * the reader skips them while it waits. JSON is jansson's; nothing is parsed
 * by hand.
 */
#pragma once

#include <jansson.h>
#include <stddef.h>

#include "util/err.h"

struct qmp;

/* How long a disk move (a snapshot's switch, a backup job's steps) waits for
 * each QMP answer. Generous: under TCG on a loaded host QEMU's main loop can
 * be starved for seconds, and a move given up on is a failed operation the
 * user must retry, while waiting costs nothing. */
#define QMP_DISK_TIMEOUT_MS 30000

/* Connects (retrying a refused or missing socket for up to 0.5 s), reads the
 * greeting and negotiates capabilities. timeout_ms bounds every reply.
 * *out is freed with qmp_close. */
int qmp_open(const char *sock_path, int timeout_ms, struct qmp **out, struct err *e);

/* Runs cmd with args (borrowed, NULL for none). On success *ret (if ret is
 * not NULL) is a new reference to the "return" value; the caller json_decref()s
 * it. A QMP error reply fails with its description in e; a connection that
 * QEMU closed (it exited) fails with -ECONNRESET. */
int qmp_execute(struct qmp *q, const char *cmd, json_t *args, json_t **ret, struct err *e);

/* Waits up to timeout_ms for q's next event ({"event": ...}, a new
 * reference in *ev); run no command meanwhile. Nothing by then fails with
 * -ETIMEDOUT (e says so). */
int qmp_next_event(struct qmp *q, int timeout_ms, json_t **ev, struct err *e);

void qmp_close(struct qmp *q);   /* NULL safe */

/* Runs cmd on a fresh connection (QMP_DISK_TIMEOUT_MS), so nothing is held
 * between a reconciler's passes; takes args (decref'd whatever happens);
 * *ret as qmp_execute. */
int qmp_run_once(const char *sock, const char *cmd, json_t *args, json_t **ret, struct err *e);
/* The shape of qmp_run_once: the functions of host/ that send one QMP
 * command to change a QEMU take it as a parameter, so that the recording
 * host (hostops.h) can pass its own, which only notes the command. */
typedef int qmp_once_fn(const char *sock, const char *cmd, json_t *args, json_t **ret, struct err *e);

/* One-shot helpers: open, run one command, close (5 s timeout). The
 * recording host (hostops.h) answers them without a QEMU. */
int qmp_query_status(const char *sock, char *status, size_t n, struct err *e); /* "running", "shutdown", "paused", ... */
int qmp_system_powerdown(const char *sock, struct err *e);  /* ACPI power button: asks the guest */
int qmp_quit(const char *sock, struct err *e);              /* QEMU exits at once */
int qmp_system_reset(const char *sock, struct err *e);      /* hard reset */
int qmp_cont(const char *sock, struct err *e);              /* resume; also boots again after "shutdown" once reset */
