/*
 * usage: what nubo meters and what it costs, as pure arithmetic over spans.
 *
 * A span is one stretch of one billable thing at one rate: a VM running
 * at its type's price per hour, or a disk, volume, snapshot or image of
 * some size at a price per GiB-hour. The store opens and closes spans in
 * the transaction that changes the resource (store/usage.c); this module
 * only adds them up over a window, so the whole bill is testable without
 * a clock.
 *
 * The one rule beyond "duration × rate": a VM is billed at least
 * USAGE_MIN_RUN_MS per start, as EC2 does. The spans of one run (a start,
 * then any type change or new price while it keeps running) share run_at,
 * the moment it started; when their time within the first minute after
 * run_at falls short of a minute, the rest is billed at the run's first
 * rate, at the moment of the start. A VM still running counts as if it
 * stopped now: its first minute is billed at once, as it will be in any case.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "model/machine_type.h"
#include "util/err.h"
#include "util/ids.h"

#define USAGE_MIN_RUN_MS 60000
#define USAGE_MS_PER_HOUR 3600000.0
#define USAGE_NANO 1000000000.0      /* rates are kept in billionths of a currency unit */
#define USAGE_GIB (1024.0 * 1024.0 * 1024.0)
#define USAGE_DAY_MS 86400000LL
/* How often the reconciler marks running VMs as seen, and how old a mark
 * must be for a run found ended to end at its mark rather than now. */
#define USAGE_SEEN_EVERY_MS 10000
#define USAGE_STALE_MS 30000

enum usage_kind {
	USAGE_VM,         /* a VM's run: per hour, at its type's price */
	USAGE_DISK,       /* a VM's root disk: per GiB-hour */
	USAGE_VOLUME,
	USAGE_SNAPSHOT,
	USAGE_IMAGE,
	USAGE_KINDS,
};

/* "vm", "disk", "volume", "snapshot", "image". */
const char *usage_kind_name(enum usage_kind k);
int usage_kind_parse(const char *s, enum usage_kind *out);

/* Prices per GiB-hour of each storage kind ([USAGE_VM] is unused: a VM's
 * price is its type's). */
struct usage_prices {
	double gib_hour[USAGE_KINDS];
};

/* Defaults, per GiB-hour (about 0.073 and 0.037 per GiB-month). */
#define USAGE_PRICE_DISK 0.0001
#define USAGE_PRICE_VOLUME 0.0001
#define USAGE_PRICE_SNAPSHOT 0.00005
#define USAGE_PRICE_IMAGE 0.00005
void usage_prices_default(struct usage_prices *p);
/* A price as the store keeps it: billionths, rounded. */
int64_t usage_rate_nano(double price);

struct usage_span {
	int64_t id;
	char resource_id[ID_MAX];
	enum usage_kind kind;
	char name[NAME_MAX_LEN + 1];    /* the resource's; for a disk, its VM's */
	char type[NAME_MAX_LEN + 1];    /* a run's machine type; "" for storage */
	char image[NAME_MAX_LEN + 1];   /* a run's or disk's image, an image's own name; "" otherwise */
	int64_t bytes;                  /* storage: the allocated size */
	int64_t rate_nano;              /* per hour (a run) or per GiB-hour (storage), in billionths */
	int64_t started_at, ended_at;   /* ms since the epoch; ended_at 0: still open */
	int64_t seen_at;                /* a run: the last moment its VM was seen running */
	int64_t run_at;                 /* a run: when the start that began it happened */
};

enum usage_by { USAGE_BY_VM, USAGE_BY_TYPE, USAGE_BY_DAY, USAGE_BY_IMAGE };
const char *usage_by_name(enum usage_by b);
/* "vm", "type", "day" or "image"; else 400 naming param and the value. */
int usage_by_parse(const char *param, const char *text, enum usage_by *out, struct err *e);

struct usage_row {
	char key[NAME_MAX_LEN + 1];     /* the VM or resource name, type, day (2026-12-01) or image */
	char kind[16];                  /* by vm: the resource's kind ("vm" for a VM and its disk); else "" */
	int64_t run_ms;                 /* VM time billed, the minimum included */
	double gib_hours;               /* storage */
	double cost;
};

struct usage_report {
	struct usage_row *rows;         /* sorted by key (then kind) */
	int n;
	struct usage_row total;
};

/* Adds up spans over [from, to) as of now (open spans end at now). The
 * caller passes every span that overlaps [from, to + USAGE_MIN_RUN_MS):
 * what a start's minimum needs. Free out with usage_report_free. */
void usage_report_make(const struct usage_span *spans, int n, int64_t from, int64_t to, int64_t now,
		       enum usage_by by, struct usage_report *out);
void usage_report_free(struct usage_report *r);
/* The cost of the spans over all time up to now (a VM's cost so far). */
double usage_cost_total(const struct usage_span *spans, int n, int64_t now);

/* The milliseconds of [a, b) inside [from, to). */
int64_t usage_overlap(int64_t a, int64_t b, int64_t from, int64_t to);
/* 00:00 UTC of the day and of the month that hold ms. */
int64_t usage_day_start(int64_t ms);
int64_t usage_month_start(int64_t ms);
/* "2026-12-01" (midnight UTC) or "2026-12-01T10:30:00Z" to ms; else 400
 * naming param and the value. */
int usage_time_parse(const char *param, const char *text, int64_t *out, struct err *e);
/* Rounded to millionths, as the API shows money and GiB-hours. */
double usage_round6(double v);

json_t *usage_report_to_json(const struct usage_report *r, enum usage_by by, int64_t from, int64_t to);
