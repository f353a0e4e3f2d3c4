/*
 * metrics: what nubod measures of each running VM, as pure arithmetic and
 * text, so that every figure is testable without a QEMU or a clock.
 *
 * The one idea: the host gives counters that only grow while one QEMU
 * lives (CPU time, bytes and packets of its taps, bytes and operations of
 * its disks) and one gauge (the memory its cgroup holds). A sample is the
 * difference of two readings of the same QEMU over one interval, so a
 * sample is what happened in that interval, whatever happened before; a
 * counter that went down (a new QEMU) gives no figure rather than a wrong
 * one. The figures are a table (metric_defs): the store's columns, the
 * JSON names, how buckets merge them and the Prometheus names all come
 * from its rows.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "util/err.h"
#include "util/str.h"

/* A figure that could not be read (no cgroup, no tap, a new counter). */
#define METRIC_NONE (-1)

enum metric {
	METRIC_CPU,             /* sample: thousandths of a percent of the VM's vCPUs; raw: µs of CPU time */
	METRIC_MEM,             /* bytes the VM's cgroup holds (a gauge) */
	METRIC_NET_RX,          /* bytes the VM received on all its NICs */
	METRIC_NET_TX,
	METRIC_NET_RX_PACKETS,
	METRIC_NET_TX_PACKETS,
	METRIC_DISK_READ,       /* bytes read from all its disks */
	METRIC_DISK_WRITE,
	METRIC_DISK_READ_OPS,
	METRIC_DISK_WRITE_OPS,
	METRIC_N,
};

struct metric_def {
	const char *json;     /* name in a sample's JSON */
	const char *column;   /* the store's column */
	bool gauge;           /* buckets average it; else they add the intervals up */
	const char *prom;     /* the Prometheus family of the raw counter or gauge */
	const char *help;
};
extern const struct metric_def metric_defs[METRIC_N];

/* One interval of one VM: t (unix ms) is its start, aligned to the step. */
struct metric_sample {
	int64_t t;
	int64_t v[METRIC_N];   /* METRIC_NONE: unknown */
};

/* One reading of one QEMU's counters. */
struct metric_raw {
	int64_t at;            /* monotonic ms */
	int pid;               /* the QEMU read: another pid is another counter */
	int64_t cpu_epoch;     /* when the CPU counter started, if known (cgroup.h) */
	int64_t v[METRIC_N];   /* counters since QEMU started; v[METRIC_CPU] in µs; METRIC_NONE: unknown */
};

/* The sample of the interval from prev to cur of a VM with vcpus vCPUs:
 * differences of counters read from the same QEMU, the memory as cur read
 * it. false when there is no interval (a first reading, another QEMU, no
 * time passed): cur is then only a baseline. */
bool metrics_sample_make(const struct metric_raw *prev, const struct metric_raw *cur, int vcpus, int64_t t,
			 struct metric_sample *out);

/* Where the history is kept: every fine_step for fine_keep, then every
 * coarse_step for coarse_keep (nubod.json "metrics"). */
struct metrics_policy {
	int64_t fine_step, fine_keep, coarse_step, coarse_keep;
};
#define METRICS_FINE_STEP_MS 10000LL
#define METRICS_FINE_KEEP_MS (24LL * 3600000)
#define METRICS_COARSE_STEP_MS 300000LL
#define METRICS_COARSE_KEEP_MS (30LL * 86400000)
void metrics_policy_default(struct metrics_policy *p);
/* The coarse step is a multiple of the fine one, and each is kept longer than its step. */
int metrics_policy_validate(const struct metrics_policy *p, const char *where, struct err *e);

/* A series asked for: since (unix ms) and the step of its points. The step
 * asked (0: the finest kept for since) must be a multiple of the fine step;
 * *table_step is the resolution it is read from (fine while since is
 * within fine_keep and the step is below the coarse one, else coarse, and
 * then the step is at least that). 400 naming "step" otherwise. */
int metrics_series_plan(const struct metrics_policy *p, int64_t now, int64_t since, int64_t want_step,
			int64_t *step, int64_t *table_step, struct err *e);

/* {"t":…, "cpu_pct":…, "mem_bytes":…, …}: null for an unknown figure. */
json_t *metrics_sample_json(const struct metric_sample *s);

/* --- Prometheus text format (version 0.0.4) --------------------------------------- */

/* "# HELP name help\n# TYPE name type\n" */
void prom_family(struct sbuf *b, const char *name, const char *type, const char *help);
/* "name{k1="v1",k2="v2"} value\n": labels as NULL-terminated pairs, values escaped. */
void prom_value(struct sbuf *b, const char *name, const char *const *labels, double value);

/* Idle stop: a VM is idle for a sample when its CPU is below cpu_milli
 * (thousandths of a percent) and its network below net_bps bytes a second
 * both ways. A sample without a CPU figure is not idle (nothing says so);
 * one without network figures is judged on its CPU. */
struct idle_policy {
	int64_t after_ms;    /* 0: off */
	int64_t cpu_milli;
	int64_t net_bps;
};
#define IDLE_CPU_DEFAULT_MILLI 5000      /* 5 % */
#define IDLE_NET_DEFAULT_BPS 10240       /* 10 KiB/s */
#define IDLE_AFTER_MIN_MS 10000LL
#define IDLE_AFTER_MAX_MS (30LL * 86400000)
#define IDLE_WARN_MS 300000LL            /* the warning comes this long before the stop, or halfway */
bool metrics_sample_idle(const struct idle_policy *p, const struct metric_sample *s, int64_t step_ms);
/* "5%", "2.5%" or "5" into thousandths of a percent, 0 to 100 %; else 400 naming field. */
int metrics_percent_parse(const char *field, const char *text, int64_t *milli, struct err *e);
/* When, after idling began, the warning is due: IDLE_WARN_MS before the stop, or halfway for shorter windows. */
int64_t metrics_idle_warn_at(const struct idle_policy *p);

/* nubod.json's "metrics" object over p (defaults first): durations as
 * text; unknown keys and bad values are errors naming them, after where. */
int metrics_policy_from_json(json_t *o, const char *where, struct metrics_policy *p, struct err *e);
/* {"after": "30m" | "off", "cpu": "5%" | 5, "net_bps": 10240} over p (what
 * is left out keeps p's value): nubod.json's "idle_stop" and the body of
 * PUT /v1/vms/NAME/idle-stop. where prefixes every message ("" or "nubod.json: "). */
int idle_policy_from_json(json_t *o, const char *where, struct idle_policy *p, struct err *e);
void idle_policy_default(struct idle_policy *p);   /* off, 5 %, 10 KiB/s */
/* {"after", "after_ms", "cpu", "net_bps", "source"}: source says where it comes from ("vm", "default"). */
json_t *idle_policy_json(const struct idle_policy *p, const char *source);
