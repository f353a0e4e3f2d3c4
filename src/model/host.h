/*
 * host: a server of the cloud, as the hosts table holds it. Every nubod is
 * one host; it writes its row at start (name, address, capacity) and renews
 * its heartbeat every few seconds. A host whose heartbeat is older than the
 * threshold (host_down_after_s) is down, whatever its row says:
 *
 *            nubod starts                  no heartbeat for host_down_after_s
 *   (new) ───────────────► up ◄──────────────────────────────────► down
 *                          │ ▲   its nubod starts again
 *               host drain │ │ host undrain
 *                          ▼ │
 *                        draining   (no new VMs; what it holds keeps running)
 *
 * "draining" is a flag beside the liveness, so a draining host that goes
 * down and comes back is draining again.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/err.h"
#include "util/ids.h"
#include "model/machine_type.h"

struct host {
	char id[ID_MAX];
	char name[NAME_MAX_LEN + 1];
	char address[64];        /* --advertise: where other hosts reach it ("" if not given) */
	char accel[8];
	int vcpus, memory_mib;   /* the machine's */
	double cpu_overcommit, memory_overcommit;
	int reserved_memory_mib;
	int vcpus_allocatable, memory_mib_allocatable;
	char state[12];          /* "up" or "down": the liveness last recorded */
	bool draining;
	int64_t heartbeat;       /* ms since the epoch, by the host's own clock */
	int64_t started_at, created_at;
	char prefix[8];          /* its host objects' prefix (ctl.c) */
	char version[32];        /* its nubod's */
	char peer_url[128];      /* where other hosts fetch its files (ctl/peer.c); "" if nowhere */
	char peer_pin[64];       /* the public-key pin of peer_url's TLS certificate; "" for none */
	/* Not columns: what store_host_list and store_host_get add. */
	int vcpus_used, memory_mib_used, n_vms;
};

/* "up", "draining" or "down" as of now_ms: down when the heartbeat is older
 * than down_after_ms. */
const char *host_state_at(const struct host *h, int64_t now_ms, int64_t down_after_ms);
/* A host name: a DNS label, as VM names (1..63 of a-z 0-9 -). */
int host_name_validate(const char *name, const char *field, struct err *e);
json_t *host_to_json(const struct host *h, int64_t now_ms, int64_t down_after_ms);
