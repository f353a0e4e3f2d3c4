/* probe: whether a guest service answers, seen from the host (the SSH banner). */
#pragma once



/*
 * A probe that never blocks, for a reconciler that checks many booting VMs
 * on one thread: each call advances one connection attempt as far as it can
 * go now and returns. The connection stays open between calls, so a server
 * that is slow to greet (OpenSSH under emulation) is seen the moment its
 * banner arrives rather than missed by a short blocking wait.
 */
enum probe_state { PROBE_WAITING, PROBE_READY };
struct probe;
/* *p NULL: starts an attempt. A refused, failed or stalled attempt (not
 * connected within 200 ms, or no banner 10 s after connecting) is closed
 * and the next call starts anew.
 * In dry-run: PROBE_READY at once. */
enum probe_state probe_step(struct probe **p, const char *ip, int port, const char *prefix);
void probe_free(struct probe *p);
