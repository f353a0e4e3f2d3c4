/*
 * lb: a load balancer. It listens on a virtual address (VIP) taken from a
 * network's subnet, on one or more ports, and spreads new connections over
 * its targets (VMs, each on a port) in the kernel: nubod renders DNAT rules
 * and never carries a byte itself.
 *
 * A target's health follows its checks (a TCP connect or an HTTP GET):
 *
 *                 rise successes in a row
 *   unknown ──────────────────────────────► healthy
 *      │                                    │    ▲
 *      │ fall failures in a row             │    │ rise successes in a row
 *      ▼                                    ▼    │
 *   unhealthy ◄──── fall failures in a row ──────┘
 *
 * Only healthy targets get new connections; when none is healthy the
 * balancer fails open to all of them (a checker wrong about every target
 * should not take the service down).
 *
 * A removed target drains: it leaves the rotation at once (whatever its
 * health, even failing open) but its row stays, state draining, until its
 * drain deadline; then the checker cuts its connections (conntrack) and
 * deletes it:
 *
 *   active ── removed ──► draining ── deadline: connections cut ──► (gone)
 *
 * A deleted balancer goes the same way: it is marked deleting (out of the
 * rules at once), every target drains with a deadline of now, and once the
 * last one is cut and gone the balancer's row goes too:
 *
 *   active ── delete ──► deleting (targets draining) ── all cut and gone ──► (gone)
 *
 * Pure model: no I/O.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "model/machine_type.h"
#include "util/err.h"
#include "util/ids.h"

#define LB_LISTENERS_MAX 8
#define LB_TARGETS_MAX 64
#define LB_PATH_MAX 200
#define LB_REASON_MAX 160
#define LB_DRAIN_DEFAULT_MS 30000
#define LB_DRAIN_MAX_MS 3600000

enum lb_algorithm {
	LB_ROUND_ROBIN,   /* numgen inc */
	LB_SOURCE_HASH,   /* jhash ip saddr: a client keeps its target */
};

enum lb_check {
	LB_CHECK_TCP,     /* a connect */
	LB_CHECK_HTTP,    /* GET path, any 2xx or 3xx */
};

enum lb_health {
	LB_UNKNOWN,
	LB_HEALTHY,
	LB_UNHEALTHY,
};

enum lb_target_state {
	LB_ACTIVE,       /* in the balancer (in rotation when its health says so) */
	LB_DRAINING,     /* removed: no new connection, open ones cut at drain_until */
};

struct lb_listener {
	char lb_id[ID_MAX];
	uint16_t port;          /* on the VIP */
	uint16_t target_port;   /* on each target that has no port of its own */
};

struct lb_target {
	char id[ID_MAX];        /* "lbt-…" */
	char lb_id[ID_MAX];
	char name[NAME_MAX_LEN * 2 + 8];   /* "web/web1:8080", what events name it by */
	char vm_id[ID_MAX];
	char vm_name[NAME_MAX_LEN + 1];
	uint16_t port;          /* 0: each listener's target port */
	enum lb_health health;
	int64_t health_since;   /* ms, wall clock; 0: never checked */
	char reason[LB_REASON_MAX];   /* the last check's outcome, "connection refused" */
	enum lb_target_state state;
	int64_t drain_until;    /* ms, wall clock, while draining: when its connections are cut */
	int64_t created_at;
	int connections;        /* open through this host now, from conntrack (not stored) */
};

struct lb {
	char id[ID_MAX];        /* "lb-…" */
	char name[NAME_MAX_LEN + 1];
	char network_id[ID_MAX];
	char network[NAME_MAX_LEN + 1];
	char vip[16];
	enum lb_algorithm algorithm;
	enum lb_check check;
	char check_path[LB_PATH_MAX + 1];   /* http: "/healthz" */
	int interval_ms, timeout_ms, rise, fall;
	bool failing_open;      /* no target is healthy: every target is in the rotation */
	int drain_ms;           /* how long a removed target's connections live on; 0: cut at once */
	bool host_port;         /* each listener's port is also a port of the host's own addresses */
	bool deleted;           /* being deleted: out of the rules; gone once its targets are cut */
	int64_t created_at;
};

/* A listener as written: "80" (target port 80) or "443:8443". */
int lb_listener_parse(const char *s, const char *field, struct lb_listener *out, struct err *e);
/* A target as written: "web1" or "web1:8080"; name gets the VM's part. */
int lb_target_parse(const char *s, const char *field, char name[NAME_MAX_LEN + 1], uint16_t *port, struct err *e);
/* "tcp" or "http:/PATH". */
int lb_check_parse(const char *s, const char *field, struct lb *out, struct err *e);
/* "round-robin" or "source-hash". */
int lb_algorithm_parse(const char *s, const char *field, enum lb_algorithm *out, struct err *e);
/* "500ms", "5s", "1m": 100 ms .. 1 h. */
int lb_duration_parse(const char *s, const char *field, int *ms, struct err *e);
/* "0", or a duration up to 1 h ("30s"): how long a removed target drains. */
int lb_drain_parse(const char *s, const char *field, int *ms, struct err *e);
/* Defaults (tcp, 5 s, 2 s, rise 2, fall 3, round robin), then checks the
 * whole: timeout below interval, rise and fall 1..10. */
void lb_defaults(struct lb *lb);
int lb_validate(const struct lb *lb, struct err *e);

const char *lb_algorithm_name(enum lb_algorithm a);
const char *lb_health_name(enum lb_health h);
const char *lb_target_state_name(enum lb_target_state s);
int lb_target_state_parse(const char *s, enum lb_target_state *out);
int lb_health_parse(const char *s, enum lb_health *out);

/* The checker's count of one target's results in a row (not stored: a
 * restarted nubod counts again from the stored health). */
struct lb_streak {
	int ok, failed;
};

/* One check's result: advances the streak and returns the health the
 * target has now (the same as before unless rise or fall was reached). */
enum lb_health lb_health_step(enum lb_health now, struct lb_streak *s, bool ok, int rise, int fall);

/* The targets that take new connections: the healthy ones, or all of them
 * when none is (*fail_open set). in_rotation[i] for each of the n. A
 * draining target is never in rotation, nor counted for failing open. */
void lb_rotation(const struct lb_target *t, int n, bool *in_rotation, bool *fail_open);

/* The open TCP connections in table (the text of /proc/net/nf_conntrack)
 * sent to vip and given to the target at ip: an entry whose original
 * destination is vip and whose reply comes from ip, save those closing
 * (TIME_WAIT, CLOSE). */
int lb_conntrack_count(const char *table, const char *vip, const char *ip);

json_t *lb_to_json(const struct lb *lb, const struct lb_listener *ls, int n_ls, const struct lb_target *ts, int n_ts);
