/*
 * serial: the interactive side of a VM's serial console. QEMU serves the
 * serial port on a unix socket (vms/<id>/console.sock, one client at a
 * time) and still appends everything the guest writes to console.log. A
 * hub holds that one connection for as many viewers as attach: what the
 * guest writes goes to each of them, what any of them types goes to the
 * guest. The hub keeps the last SERIAL_BACKLOG bytes, so a viewer that
 * attaches sees the screen's recent past first (read from console.log when
 * the hub opens). The hub opens with its first viewer and closes with its
 * last; nothing is lost meanwhile, since the log goes on.
 */
#pragma once

#include <stddef.h>

#include "util/err.h"

#define SERIAL_BACKLOG (64 * 1024)

struct serial_viewer;

/* Called from the hub's thread with what the guest wrote (n > 0), or once
 * with n == 0 when the console ended (QEMU closed it): then the viewer
 * should detach. It must not block for long (a viewer that cannot take
 * output should drop itself) and must not call serial_* itself. */
typedef void (*serial_out_fn)(void *arg, const char *data, size_t n);

/* Attaches a viewer to the console at sock_path (joining the hub that is
 * open on it, or opening one); out first receives the backlog. A socket
 * that does not answer is ERR_CONFLICT naming it. On success *v is the
 * viewer; serial_detach it. */
int serial_attach(const char *sock_path, const char *log_path, serial_out_fn out, void *arg,
		  struct serial_viewer **v, struct err *e);
/* Sends what the viewer typed to the guest. */
int serial_write(struct serial_viewer *v, const char *data, size_t n, struct err *e);
/* Detaches and frees v; the last viewer closes the hub. NULL safe. */
void serial_detach(struct serial_viewer *v);
/* Viewers attached to the console at sock_path now (for tests and logs). */
int serial_viewers(const char *sock_path);

/* The last max bytes of the console log at path into *text (*len bytes,
 * NUL-terminated; caller frees); a log not written yet is "". */
int serial_log_tail(const char *path, size_t max, char **text, size_t *len, struct err *e);
