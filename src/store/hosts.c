/*
 * hosts: the servers that share this store (see model/host.h and store.h).
 * A host's row is written by its own nubod (register, heartbeat) and by
 * the API (drain, remove); whether a host is down is read from its
 * heartbeat's age, and marking it down (its VMs' state unknown) is done by
 * whichever other nubod notices first, in one write transaction, so it
 * happens once.
 */
#include "store/store-priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/str.h"
#include "util/timeutil.h"

#define N_COLS(a) ((int)(sizeof(a) / sizeof((a)[0])))

static char *ratio_text(const void *f)
{
	return xasprintf("%g", *(const double *)f);
}

static void ratio_from(const char *text, void *f)
{
	*(double *)f = text ? strtod(text, NULL) : 1.0;
}

static const struct col host_cols[] = {
	COL(struct host, id, COL_TEXT),
	COL(struct host, name, COL_TEXT),
	COL(struct host, address, COL_TEXT),
	COL(struct host, accel, COL_TEXT),
	COL(struct host, vcpus, COL_INT),
	COL(struct host, memory_mib, COL_INT),
	COL_FN("cpu_overcommit", struct host, cpu_overcommit, ratio_text, ratio_from, EV_NAMED),
	COL_FN("memory_overcommit", struct host, memory_overcommit, ratio_text, ratio_from, EV_NAMED),
	COL(struct host, reserved_memory_mib, COL_INT),
	COL(struct host, vcpus_allocatable, COL_INT),
	COL(struct host, memory_mib_allocatable, COL_INT),
	COL_EV(struct host, state, COL_TEXT, EV_SHOW),
	COL_EV(struct host, draining, COL_BOOL, EV_SHOW),
	COL_EV(struct host, heartbeat, COL_I64, EV_QUIET),
	COL_EV(struct host, started_at, COL_I64, EV_QUIET),
	COL(struct host, created_at, COL_I64),
	COL_EV(struct host, prefix, COL_TEXT, EV_QUIET),
	COL(struct host, version, COL_TEXT),
	COL(struct host, peer_url, COL_TEXT),
	COL(struct host, peer_pin, COL_TEXT),
};
static const struct table host_table = {"hosts", "host", sizeof(struct host), host_cols, N_COLS(host_cols), "host",
					NULL, NULL};

/* What a VM holds, as vm_usage() counts it (vm_holds_capacity). */
#define HOLDS "(power = 'running' OR state IN ('running','pending','stopping'))"

/* Adds each host's use (VMs holding capacity) and its number of VMs. */
static int add_usage(struct cx *cx, struct host *hs, int n, struct err *e)
{
	struct q *q = q_prep(cx,
			     "SELECT host, COALESCE(SUM(CASE WHEN " HOLDS " THEN vcpus ELSE 0 END),0),"
			     " COALESCE(SUM(CASE WHEN " HOLDS " THEN memory_mib ELSE 0 END),0), COUNT(*)"
			     " FROM vms GROUP BY host",
			     e);
	if (!q)
		return -1;
	int rc;
	while ((rc = q_step(q)) == DB_ROW)
		for (int i = 0; i < n; i++)
			if (strcmp(hs[i].name, q_col(q, 0) ? q_col(q, 0) : "") == 0) {
				hs[i].vcpus_used = (int)q_col_int(q, 1);
				hs[i].memory_mib_used = (int)q_col_int(q, 2);
				hs[i].n_vms = (int)q_col_int(q, 3);
			}
	rc = rc == DB_DONE ? 0 : cx_fail(cx, e, "summing each host's usage");
	q_free(q);
	return rc;
}

static int host_list(struct cx *cx, struct host **out, int *n, struct err *e)
{
	if (table_list(cx, &host_table, "name", (void **)out, n, e) < 0)
		return -1;
	if (add_usage(cx, *out, *n, e) < 0) {
		free(*out);
		*out = NULL;
		*n = 0;
		return -1;
	}
	return 0;
}

int store_host_list(struct store *st, struct host **out, int *n, struct err *e)
{
	RUN(st, CX_READ, e, host_list(cx, out, n, e));
}

static int host_get(struct cx *cx, const char *ref, struct host *out, struct err *e)
{
	if (table_get(cx, &host_table, ref, out, e) < 0)
		return -1;
	return add_usage(cx, out, 1, e);
}

int store_host_get(struct store *st, const char *ref, struct host *out, struct err *e)
{
	RUN(st, CX_READ, e, host_get(cx, ref, out, e));
}

/* The host's VMs are no longer unknown (it beats again). */
static int host_back(struct cx *cx, struct host *h, struct err *e)
{
	snprintf(h->state, sizeof(h->state), "up");
	if (table_update(cx, &host_table, h, e) < 0)
		return -1;
	struct q *q = q_prep(cx, "UPDATE vms SET host_down = '' WHERE host = ?1 AND host_down != ''", e);
	if (!q)
		return -1;
	q_text(q, 1, h->name);
	return q_done(q, "clearing the unknown state of a host's VMs", e);
}

static int host_register(struct cx *cx, struct host *h, bool only_host, struct err *e)
{
	struct host old;
	struct err ge = {0};
	int n_hosts = 0;
	if (cx_count(cx, "SELECT COUNT(*) FROM hosts", NULL, NULL, NULL, &n_hosts, e) < 0)
		return -1;
	if (table_get(cx, &host_table, h->name, &old, &ge) == 0) {
		/* Known: its machine may have changed; its id, drain and prefix stay. */
		snprintf(h->id, sizeof(h->id), "%s", old.id);
		h->draining = old.draining;
		h->created_at = old.created_at;
		if (old.prefix[0])
			snprintf(h->prefix, sizeof(h->prefix), "%s", old.prefix);
		snprintf(h->state, sizeof(h->state), "%s", old.state);
		if (table_update(cx, &host_table, h, e) < 0 || host_back(cx, h, e) < 0)
			return -1;
	} else if (ge.kind != ERR_NOT_FOUND) {
		*e = ge;
		return -1;
	} else {
		snprintf(h->state, sizeof(h->state), "up");
		if (table_insert(cx, &host_table, h, h->name, e) < 0)
			return -1;
	}
	/* One host alone (SQLite) holds every VM, volume, snapshot and image,
	 * whatever its name was; otherwise the first host takes those made
	 * before hosts existed. */
	static const char *const tables[] = {"vms", "volumes", "snapshots", "images"};
	for (int i = 0; (only_host || n_hosts == 0) && i < 4; i++) {
		autofree char *sql = xasprintf("UPDATE %s SET host = ?1 WHERE %s", tables[i],
					       only_host ? "host != ?1" : "host = ''");
		if (cx_exec_id(cx, sql, h->name, e) < 0)
			return -1;
	}
	if (only_host && cx_exec_id(cx, "DELETE FROM hosts WHERE name != ?1", h->name, e) < 0)
		return -1;
	return 0;
}

int store_host_register(struct store *st, struct host *h, bool only_host, struct err *e)
{
	RUN(st, CX_WRITE, e, host_register(cx, h, only_host, e));
}

static int heartbeat(struct cx *cx, const char *name, int64_t now_ms, bool *came_back, struct err *e)
{
	struct host h;
	*came_back = false;
	if (table_get(cx, &host_table, name, &h, e) < 0)
		return -1;
	h.heartbeat = now_ms;
	if (strcmp(h.state, "up") != 0) {
		*came_back = true;
		return host_back(cx, &h, e);
	}
	/* The beat alone: no event (it would wake every nubod every few seconds). */
	struct q *q = q_prep(cx, "UPDATE hosts SET heartbeat = ?2 WHERE id = ?1", e);
	if (!q)
		return -1;
	q_text(q, 1, h.id);
	q_int(q, 2, now_ms);
	return q_done(q, "renewing a heartbeat", e);
}

int store_host_heartbeat(struct store *st, const char *name, int64_t now_ms, bool *came_back, struct err *e)
{
	RUN(st, CX_WRITE, e, heartbeat(cx, name, now_ms, came_back, e));
}

static int mark_down(struct cx *cx, int64_t before_ms, char ***names, int *n, struct err *e)
{
	struct host *hs = NULL;
	int nh = 0;
	if (table_list(cx, &host_table, "name", (void **)&hs, &nh, e) < 0)
		return -1;
	int rc = 0;
	for (int i = 0; rc == 0 && i < nh; i++) {
		struct host *h = &hs[i];
		if (strcmp(h->state, "up") != 0 || h->heartbeat >= before_ms)
			continue;
		char since[32];
		time_format_rfc3339(h->heartbeat, since);
		snprintf(h->state, sizeof(h->state), "down");
		rc = table_update(cx, &host_table, h, e);
		struct q *q = rc == 0 ? q_prep(cx, "UPDATE vms SET host_down = ?2 WHERE host = ?1", e) : NULL;
		if (rc == 0 && !q)
			rc = -1;
		if (q) {
			autofree char *why = xasprintf("host %s is down: no heartbeat since %s; the VM is left where it "
						       "is and comes back when its host does", h->name, since);
			q_text(q, 1, h->name);
			q_text(q, 2, why);
			rc = q_done(q, "marking a host's VMs unknown", e);
		}
		if (rc == 0 && names) {
			*names = xrealloc(*names, sizeof(char *) * (size_t)(*n + 1));
			(*names)[(*n)++] = xstrdup(h->name);
		}
	}
	free(hs);
	return rc;
}

int store_hosts_mark_down(struct store *st, int64_t before_ms, char ***names, int *n, struct err *e)
{
	RUN(st, CX_WRITE, e, mark_down(cx, before_ms, names, n, e));
}

static int set_draining(struct cx *cx, const char *ref, bool draining, struct host *out, struct err *e)
{
	if (table_get(cx, &host_table, ref, out, e) < 0)
		return -1;
	out->draining = draining;
	if (table_update(cx, &host_table, out, e) < 0)
		return -1;
	return add_usage(cx, out, 1, e);
}

int store_host_set_draining(struct store *st, const char *ref, bool draining, struct host *out, struct err *e)
{
	RUN(st, CX_WRITE, e, set_draining(cx, ref, draining, out, e));
}

static int host_remove(struct cx *cx, const char *ref, int64_t alive_after_ms, struct host *out, struct err *e)
{
	if (host_get(cx, ref, out, e) < 0)
		return -1;
	if (out->n_vms > 0)
		return err_set(e, ERR_CONFLICT,
			       "host %s holds %d VM%s; delete them (or wait for vm move, not done yet) before removing "
			       "it: nubo vm list shows them in the HOST column",
			       out->name, out->n_vms, out->n_vms == 1 ? "" : "s");
	if (out->heartbeat > alive_after_ms)
		return err_set(e, ERR_CONFLICT,
			       "host %s is up (its nubod beat %lld ms ago); stop its nubod first, or it registers again",
			       out->name, (long long)(time_now_ms() - out->heartbeat));
	return table_delete(cx, &host_table, out->id, e);
}

int store_host_remove(struct store *st, const char *ref, int64_t alive_after_ms, struct host *out, struct err *e)
{
	RUN(st, CX_WRITE, e, host_remove(cx, ref, alive_after_ms, out, e));
}
