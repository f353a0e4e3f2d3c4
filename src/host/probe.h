/*
 * probe: whether a guest service answers, seen from the host (the SSH banner).
 *
 * The one idea: a prober thread of its own waits in poll() on every probe
 * socket at once, so a banner is seen the moment it arrives, not at the
 * caller's next look; and while a target does not answer it dials afresh
 * every PROBE_DIAL_MS, so a guest whose network comes up is found at once
 * rather than when the kernel retries a lost SYN (a second later). The
 * caller (the reconciler) only asks "is it ready?" and is called back when
 * it becomes so.
 */
#pragma once

#include <stdint.h>

#include "util/err.h"

enum probe_state { PROBE_WAITING, PROBE_READY };

struct prober;

/* Called on the prober's thread, with none of its locks held, after some
 * target became ready. */
typedef void prober_ready_fn(void *arg);

/* Starts the prober's thread. fn may be NULL. mark: 0, or the SO_MARK its
 * sockets carry, so the host's firewall can tell the probe from other local
 * traffic (nft.h, NFT_PROBE_MARK); setting it needs CAP_NET_ADMIN, and
 * without it the probe still dials, unmarked. Stop it with prober_stop. */
int prober_start(prober_ready_fn *fn, void *arg, uint32_t mark, struct prober **out, struct err *e);
/* Stops the thread (fn is not called after this returns), closes every
 * socket and frees pr. NULL is fine. */
void prober_stop(struct prober *pr);

/*
 * Whether the service of key (a VM id) at ip:port greeted with prefix. The
 * first call for a key starts watching it; later calls only look (a new ip
 * or port starts over). A target stays ready until it is dropped.
 * pr NULL: PROBE_WAITING.
 */
enum probe_state prober_check(struct prober *pr, const char *key, const char *ip, int port, const char *prefix);
/* Stops watching key and closes its sockets before returning; unknown keys and NULL pr are fine. */
void prober_drop(struct prober *pr, const char *key);
