/*
 * vms: VMs with their NICs and firewall memberships (see store.h). A VM's
 * NICs and firewalls live in their own tables and are attached to the rows
 * read, for one VM, a page, or all of them, in one query each.
 */
#include "store/store-priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/str.h"

static char *power_text(const void *f)
{
	return xstrdup(vm_power_name(*(const enum vm_power *)f));
}

static void power_from(const char *text, void *f)
{
	vm_power_parse(text, f);
}

static char *state_text(const void *f)
{
	return xstrdup(vm_state_name(*(const enum vm_state *)f));
}

static void state_from(const char *text, void *f)
{
	vm_state_parse(text, f);
}

/* rev is left out: triggers keep it (migration 12). */
static const struct col vm_cols[] = {
	COL(struct vm, id, COL_TEXT),
	COL(struct vm, name, COL_TEXT),
	COL(struct vm, type, COL_TEXT),
	COL(struct vm, vcpus, COL_INT),
	COL(struct vm, memory_mib, COL_INT),
	COL(struct vm, image, COL_TEXT),
	COL(struct vm, image_id, COL_TEXT),
	COL(struct vm, ssh_keys, COL_STR),
	COL(struct vm, ssh_key_file, COL_STR),
	COL(struct vm, user_data, COL_STR),
	COL(struct vm, ssh_user, COL_TEXT),
	COL_FN("power", struct vm, power, power_text, power_from, EV_SHOW),
	COL(struct vm, force_stop, COL_BOOL),
	COL(struct vm, reboot, COL_BOOL),
	COL_FN("state", struct vm, state, state_text, state_from, EV_SHOW),
	COL(struct vm, reason, COL_STR),
	COL_EV(struct vm, pid, COL_INT, EV_QUIET),
	COL_EV(struct vm, accel, COL_TEXT_NULL, EV_QUIET),
	COL(struct vm, created_at, COL_I64),
	COL_EV(struct vm, started_at, COL_I64, EV_QUIET),
	COL_EV(struct vm, state_since, COL_I64, EV_QUIET),
	COL_EV(struct vm, deadline, COL_I64, EV_QUIET),
	COL_FN("boot_phases", struct vm, boot, col_phases_text, col_phases_from, EV_QUIET),
	COL_EV(struct vm, op_id, COL_TEXT_NULL, EV_QUIET),
	COL(struct vm, disk_size_bytes, COL_U64),
	COL_EV(struct vm, generation, COL_I64, EV_QUIET),
	COL(struct vm, ephemeral_bytes, COL_U64),
	COL(struct vm, base_snapshot, COL_TEXT),
	COL(struct vm, restore_from, COL_TEXT),
	COL(struct vm, no_seed, COL_BOOL),
	COL(struct vm, max_type, COL_TEXT),
	COL(struct vm, max_vcpus, COL_INT),
	COL(struct vm, max_memory_mib, COL_INT),
	COL_EV(struct vm, live_vcpus, COL_INT, EV_QUIET),
	COL_EV(struct vm, live_memory_mib, COL_INT, EV_QUIET),
	COL_EV(struct vm, live_disk_bytes, COL_U64, EV_QUIET),
	COL_EV(struct vm, host, COL_TEXT, EV_SHOW),
	COL_EV(struct vm, host_down, COL_TEXT, EV_QUIET),   /* written with the host's own event */
	COL(struct vm, spread_group, COL_TEXT),
	COL_EV(struct vm, move_to, COL_TEXT, EV_SHOW),
	COL_EV(struct vm, move_files, COL_STR, EV_QUIET),
};
static const struct table vm_table = {"vms", "VM", sizeof(struct vm), vm_cols, sizeof(vm_cols) / sizeof(vm_cols[0]),
				      "vm", NULL, NULL};

/* What the firewall rules and the segments between hosts need of every VM:
 * the rest of a row (keys, user-data, boot phases) is most of its reading. */
static const struct col vm_brief_cols[] = {
	COL(struct vm, id, COL_TEXT),
	COL(struct vm, name, COL_TEXT),
	COL_FN("power", struct vm, power, power_text, power_from, EV_SHOW),
	COL_FN("state", struct vm, state, state_text, state_from, EV_SHOW),
	COL_EV(struct vm, host, COL_TEXT, EV_SHOW),
};
static const struct table vm_brief_table = {"vms", "VM", sizeof(struct vm), vm_brief_cols,
					    sizeof(vm_brief_cols) / sizeof(vm_brief_cols[0]), "vm", NULL, NULL};

/* Where every VM is and is going: what the moves' pass reads each second. */
static const struct col vm_place_cols[] = {
	COL(struct vm, id, COL_TEXT),
	COL(struct vm, name, COL_TEXT),
	COL_EV(struct vm, host, COL_TEXT, EV_SHOW),
	COL_EV(struct vm, move_to, COL_TEXT, EV_SHOW),
};
static const struct table vm_place_table = {"vms", "VM", sizeof(struct vm), vm_place_cols,
					    sizeof(vm_place_cols) / sizeof(vm_place_cols[0]), "vm", NULL, NULL};

static int nics_insert(struct cx *cx, const struct vm *vm, struct err *e)
{
	for (int i = 0; i < vm->n_nics; i++) {
		const struct vm_nic *n = &vm->nics[i];
		struct q *q = q_prep(cx, "INSERT INTO nics (vm_id, idx, network_id, ip, mac) VALUES (?,?,?,?,?)", e);
		if (!q)
			return -1;
		q_text(q, 1, vm->id);
		q_int(q, 2, i);
		q_text(q, 3, n->network_id);
		q_text(q, 4, n->ip);
		q_text(q, 5, n->mac);
		if (q_done(q, "a NIC", e) == 0)
			continue;
		char key[128] = "";
		cx_unique_key(cx, key, sizeof(key));
		if (e && e->kind == ERR_CONFLICT && strstr(key, "nics.ip"))
			return err_set(e, ERR_CONFLICT, "ip \"%s\" is already in use on network %s", n->ip, n->network);
		return -1;
	}
	return 0;
}

/* The names of the VM's firewalls in order, "a, b" (caller frees), and its name. */
static int membership_text(struct cx *cx, const char *vm_id, char **out, char vm_name[NAME_MAX_LEN + 1],
			   struct err *e)
{
	struct q *q = q_prep(cx,
			     "SELECT COALESCE(f.name, v.firewall_id), COALESCE(m.name, '') FROM vm_firewalls v "
			     "LEFT JOIN firewalls f ON f.id = v.firewall_id LEFT JOIN vms m ON m.id = v.vm_id "
			     "WHERE v.vm_id = ?1 ORDER BY v.idx",
			     e);
	if (!q)
		return -1;
	q_text(q, 1, vm_id);
	struct sbuf b = {0};
	int rc;
	while ((rc = q_step(q)) == DB_ROW) {
		sbuf_addf(&b, "%s%s", b.len ? ", " : "", q_col(q, 0));
		q_col_copy(q, 1, vm_name, NAME_MAX_LEN + 1);
	}
	rc = rc == DB_DONE ? 0 : cx_fail(cx, e, "reading firewall memberships");
	q_free(q);
	*out = sbuf_take(&b);
	return rc;
}

/* record: a change of the memberships of a VM that exists (not its creation) is an event. */
static int vm_firewalls_set(struct cx *cx, const char *vm_id, const struct vm_firewall *fws, int n, bool record,
			    struct err *e)
{
	autofree char *before = NULL, *after = NULL;
	char name[NAME_MAX_LEN + 1] = "";
	if (record && membership_text(cx, vm_id, &before, name, e) < 0)
		return -1;
	if (cx_exec_id(cx, "DELETE FROM vm_firewalls WHERE vm_id = ?1", vm_id, e) < 0)
		return -1;
	for (int i = 0; i < n; i++) {
		struct q *q = q_prep(cx, "INSERT INTO vm_firewalls (vm_id, idx, firewall_id) VALUES (?,?,?)", e);
		if (!q)
			return -1;
		q_text(q, 1, vm_id);
		q_int(q, 2, i);
		q_text(q, 3, fws[i].id);
		if (q_done(q, "firewall membership", e) < 0)
			return -1;
	}
	if (!record)
		return 0;
	if (membership_text(cx, vm_id, &after, name, e) < 0)
		return -1;
	if (strcmp(before, after) == 0)
		return 0;
	struct sbuf what = {0};
	event_text_change(&what, "firewalls", before, after);
	autofree char *text = sbuf_take(&what);
	return ev_add(cx, "vm", vm_id, name, text, NULL, e);
}

static int vm_insert(struct cx *cx, const struct vm *vm, struct err *e)
{
	if (table_insert(cx, &vm_table, vm, vm->name, e) < 0 || nics_insert(cx, vm, e) < 0)
		return -1;
	return vm_firewalls_set(cx, vm->id, vm->firewalls, vm->n_firewalls, false, e);
}

int store_vm_insert(struct store *st, const struct vm *vm, struct err *e)
{
	RUN(st, CX_WRITE, e, vm_insert(cx, vm, e));
}

/* The NICs and firewalls of VMs live in their own tables; this attaches
 * them to VMs already read, vms[0..n) in id order: every VM's rows when
 * all, else those of these VMs. */
static struct vm *vm_cursor(struct vm *vms, int n, int *k, const char *id)
{
	if (!id)
		return NULL;
	while (*k < n && strcmp(vms[*k].id, id) < 0)
		(*k)++;
	return (*k < n && strcmp(vms[*k].id, id) == 0) ? &vms[*k] : NULL;
}

/* "SELECT … WHERE <col> IN (?,?,…) ORDER BY …" for these VMs, or unfiltered. */
static struct q *children_query(struct cx *cx, const char *head, const char *col, const char *order,
				const struct vm *vms, int n, bool all, struct err *e)
{
	struct sbuf b = {0};
	sbuf_add(&b, head);
	if (!all) {
		sbuf_addf(&b, " WHERE %s IN (", col);
		for (int i = 0; i < n; i++)
			sbuf_add(&b, i ? ",?" : "?");
		sbuf_add(&b, ")");
	}
	sbuf_addf(&b, " ORDER BY %s", order);
	autofree char *sql = sbuf_take(&b);
	struct q *q = q_prep(cx, sql, e);
	for (int i = 0; q && !all && i < n; i++)
		q_text(q, i + 1, vms[i].id);
	return q;
}

static int vm_attach_children(struct cx *cx, struct vm *vms, int n, bool all, struct err *e)
{
	if (n == 0)
		return 0;
	struct q *q = children_query(cx,
				     "SELECT n.vm_id, n.network_id, COALESCE(net.name, ''), n.ip, n.mac FROM nics n "
				     "LEFT JOIN networks net ON net.id = n.network_id",
				     "n.vm_id", "n.vm_id, n.idx", vms, n, all, e);
	if (!q)
		return -1;
	int rc, k = 0;
	while ((rc = q_step(q)) == DB_ROW) {
		struct vm *vm = vm_cursor(vms, n, &k, q_col(q, 0));
		if (!vm || vm->n_nics == VM_NICS_MAX)
			continue;
		struct vm_nic *nic = &vm->nics[vm->n_nics++];
		q_col_copy(q, 1, nic->network_id, sizeof(nic->network_id));
		q_col_copy(q, 2, nic->network, sizeof(nic->network));
		q_col_copy(q, 3, nic->ip, sizeof(nic->ip));
		q_col_copy(q, 4, nic->mac, sizeof(nic->mac));
	}
	rc = rc == DB_DONE ? 0 : cx_fail(cx, e, "reading NICs");
	q_free(q);
	if (rc < 0)
		return -1;
	q = children_query(cx,
			   "SELECT v.vm_id, v.firewall_id, COALESCE(f.name, '') FROM vm_firewalls v "
			   "LEFT JOIN firewalls f ON f.id = v.firewall_id",
			   "v.vm_id", "v.vm_id, v.idx", vms, n, all, e);
	if (!q)
		return -1;
	k = 0;
	while ((rc = q_step(q)) == DB_ROW) {
		struct vm *vm = vm_cursor(vms, n, &k, q_col(q, 0));
		if (!vm || vm->n_firewalls == VM_FIREWALLS_MAX)
			continue;
		struct vm_firewall *fw = &vm->firewalls[vm->n_firewalls++];
		q_col_copy(q, 1, fw->id, sizeof(fw->id));
		q_col_copy(q, 2, fw->name, sizeof(fw->name));
	}
	rc = rc == DB_DONE ? 0 : cx_fail(cx, e, "reading firewall memberships");
	q_free(q);
	return rc;
}

static int vm_get(struct cx *cx, const char *ref, struct vm *out, struct err *e)
{
	if (table_get(cx, &vm_table, ref, out, e) < 0)
		return -1;
	if (vm_attach_children(cx, out, 1, false, e) < 0) {
		vm_free_fields(out);
		return -1;
	}
	return 0;
}

int store_vm_get(struct store *st, const char *ref, struct vm *out, struct err *e)
{
	RUN(st, CX_READ, e, vm_get(cx, ref, out, e));
}

static int cmp_vm_name(const void *a, const void *b)
{
	return strcmp(((const struct vm *)a)->name, ((const struct vm *)b)->name);
}

/* Attaches children to vms read in any order; leaves them sorted by name. */
static int vms_finish(struct cx *cx, struct vm **out, int *n, bool all, struct err *e)
{
	if (*n > 1)   /* qsort of no array: undefined, UBSan says */
		qsort(*out, (size_t)*n, sizeof(struct vm), vm_cmp_id);
	if (vm_attach_children(cx, *out, *n, all, e) < 0) {
		vm_list_free(*out, *n);
		*out = NULL;
		*n = 0;
		return -1;
	}
	if (*n > 1)
		qsort(*out, (size_t)*n, sizeof(struct vm), cmp_vm_name);
	return 0;
}

/* Every VM, with the columns of t (vm_table or vm_brief_table), its NICs and firewalls. */
static int vm_list(struct cx *cx, const struct table *t, struct vm **out, int *n, struct err *e)
{
	if (table_list(cx, t, "id", (void **)out, n, e) < 0)
		return -1;
	return vms_finish(cx, out, n, true, e);
}

int store_vm_list(struct store *st, struct vm **out, int *n, struct err *e)
{
	RUN(st, CX_READ, e, vm_list(cx, &vm_table, out, n, e));
}

int store_vm_list_brief(struct store *st, struct vm **out, int *n, struct err *e)
{
	RUN(st, CX_READ, e, vm_list(cx, &vm_brief_table, out, n, e));
}

static int vm_list_places(struct cx *cx, struct vm **out, int *n, struct err *e)
{
	if (table_list(cx, &vm_place_table, "id", (void **)out, n, e) < 0)
		return -1;
	if (*n > 1)   /* by id in C's order, whatever the database's collation */
		qsort(*out, (size_t)*n, sizeof(struct vm), vm_cmp_id);
	return 0;
}

int store_vm_list_places(struct store *st, struct vm **out, int *n, struct err *e)
{
	RUN(st, CX_READ, e, vm_list_places(cx, out, n, e));
}

static int vm_list_on(struct cx *cx, const char *host, struct vm **out, int *n, struct err *e)
{
	autofree char *cols = table_cols(&vm_table, "");
	autofree char *sql = xasprintf("SELECT %s FROM vms WHERE host = ?1 ORDER BY id", cols);
	struct q *q = q_prep(cx, sql, e);
	if (!q)
		return -1;
	q_text(q, 1, host);
	q->table = &vm_table;
	if (q_all(q, sizeof(struct vm), table_fill, (void **)out, n, e) < 0)
		return -1;
	/* every child row, matched by id: an IN list of a host's VMs could pass the engines' parameter limits */
	return vms_finish(cx, out, n, true, e);
}

int store_vm_list_on(struct store *st, const char *host, struct vm **out, int *n, struct err *e)
{
	RUN(st, CX_READ, e, vm_list_on(cx, host, out, n, e));
}

static void reservation_fill(struct q *q, void *out)
{
	struct vm_reservation *r = out;
	q_col_copy(q, 0, r->vm_name, sizeof(r->vm_name));
	q_col_copy(q, 1, r->ip, sizeof(r->ip));
	q_col_copy(q, 2, r->mac, sizeof(r->mac));
	r->secondary = q_col_int(q, 3) > 0;
}

/* As the VMs of store_vm_list_on show them (by id, NICs by idx, up to
 * VM_NICS_MAX each), without reading whole VMs: a VM's start rewrites its
 * network's reservations, and reading every VM of the host for it made
 * each create slower with every VM in the store. */
static int reservations(struct cx *cx, const char *network_id, const char *host, struct vm_reservation **out, int *n,
			struct err *e)
{
	struct q *q = q_prep(cx,
			     "SELECT name, ip, mac, pos FROM (SELECT v.id, v.name, n.idx, n.ip, n.mac, n.network_id,"
			     "  (SELECT COUNT(*) FROM nics o WHERE o.vm_id = n.vm_id AND o.idx < n.idx) AS pos"
			     "  FROM vms v JOIN nics n ON n.vm_id = v.id WHERE v.host = ?2 AND v.power <> 'deleted') r"
			     " WHERE network_id = ?1 AND pos < ?3 ORDER BY id, idx",
			     e);
	if (!q)
		return -1;
	q_text(q, 1, network_id);
	q_text(q, 2, host);
	q_int(q, 3, VM_NICS_MAX);
	return q_all(q, sizeof(**out), reservation_fill, (void **)out, n, e);
}

int store_vm_reservations(struct store *st, const char *network_id, const char *host, struct vm_reservation **out,
			  int *n, struct err *e)
{
	*out = NULL;
	*n = 0;
	RUN(st, CX_READ, e, reservations(cx, network_id, host, out, n, e));
}

/* SELECT cols FROM vms WHERE name > ?1 ORDER BY name LIMIT ?2, one more than
 * limit to say whether there is a next page. */
static struct q *page_query(struct cx *cx, const char *cols, const char *after, int limit, struct err *e)
{
	autofree char *sql = xasprintf("SELECT %s FROM vms WHERE name > ?1 ORDER BY name LIMIT ?2", cols);
	struct q *q = q_prep(cx, sql, e);
	if (!q)
		return NULL;
	q_text(q, 1, after ? after : "");
	q_int(q, 2, limit + 1);
	return q;
}

static int vm_page(struct cx *cx, const char *after, int limit, struct vm **out, int *n, bool *more, struct err *e)
{
	autofree char *cols = table_cols(&vm_table, "");
	struct q *q = page_query(cx, cols, after, limit, e);
	if (!q)
		return -1;
	q->table = &vm_table;
	if (q_all(q, sizeof(struct vm), table_fill, (void **)out, n, e) < 0)
		return -1;
	*more = *n > limit;
	if (*more)
		vm_free_fields(&(*out)[--*n]);
	return vms_finish(cx, out, n, false, e);
}

int store_vm_page(struct store *st, const char *after, int limit, struct vm **out, int *n, bool *more,
		  struct err *e)
{
	RUN(st, CX_READ, e, vm_page(cx, after, limit, out, n, more, e));
}

static void rev_fill(struct q *q, void *out)
{
	struct vm_rev *r = out;
	q_col_copy(q, 0, r->id, sizeof(r->id));
	q_col_copy(q, 1, r->name, sizeof(r->name));
	r->rev = q_col_int(q, 2);
}

static int page_revs(struct cx *cx, const char *after, int limit, struct vm_rev **out, int *n, bool *more,
		     struct err *e)
{
	struct q *q = page_query(cx, "id, name, rev", after, limit, e);
	if (!q)
		return -1;
	if (q_all(q, sizeof(struct vm_rev), rev_fill, (void **)out, n, e) < 0)
		return -1;
	*more = *n > limit;
	if (*more)
		--*n;
	return 0;
}

int store_vm_page_revs(struct store *st, const char *after, int limit, struct vm_rev **out, int *n, bool *more,
		       struct err *e)
{
	RUN(st, CX_READ, e, page_revs(cx, after, limit, out, n, more, e));
}

static void id_rev_fill(struct q *q, void *out)
{
	struct vm_rev *r = out;
	q_col_copy(q, 0, r->id, sizeof(r->id));
	r->name[0] = '\0';
	r->rev = q_col_int(q, 1);
}

static int revs_on(struct cx *cx, const char *host, struct vm_rev **out, int *n, struct err *e)
{
	struct q *q = q_prep(cx, "SELECT id, rev FROM vms WHERE host = ?1", e);
	if (!q)
		return -1;
	q_text(q, 1, host);
	return q_all(q, sizeof(struct vm_rev), id_rev_fill, (void **)out, n, e);
}

int store_vm_revs_on(struct store *st, const char *host, struct vm_rev **out, int *n, struct err *e)
{
	*out = NULL;
	*n = 0;
	RUN(st, CX_READ, e, revs_on(cx, host, out, n, e));
}

static int by_nic(struct cx *cx, const char *network_id, const char *ip, struct vm *out, struct err *e)
{
	struct q *q = q_prep(cx, "SELECT vm_id FROM nics WHERE network_id = ?1 AND ip = ?2", e);
	if (!q)
		return -1;
	q_text(q, 1, network_id);
	q_text(q, 2, ip);
	char id[ID_MAX] = "";
	int rc = q_step(q);
	if (rc == DB_ROW)
		q_col_copy(q, 0, id, sizeof(id));
	else if (rc == DB_DONE)
		rc = err_set(e, ERR_NOT_FOUND, "no VM has address %s on network %s", ip, network_id);
	else
		rc = cx_fail(cx, e, "finding a NIC");
	q_free(q);
	return rc == DB_ROW ? vm_get(cx, id, out, e) : rc;
}

int store_vm_by_nic(struct store *st, const char *network_id, const char *ip, struct vm *out, struct err *e)
{
	RUN(st, CX_READ, e, by_nic(cx, network_id, ip, out, e));
}

static int get_many(struct cx *cx, const char *const *ids, int n_ids, struct vm **out, int *n, struct err *e)
{
	*out = NULL;
	*n = 0;
	if (n_ids == 0)
		return 0;
	autofree char *cols = table_cols(&vm_table, "");
	struct sbuf b = {0};
	sbuf_addf(&b, "SELECT %s FROM vms WHERE id IN (", cols);
	for (int i = 0; i < n_ids; i++)
		sbuf_add(&b, i ? ",?" : "?");
	sbuf_add(&b, ") ORDER BY id");
	autofree char *sql = sbuf_take(&b);
	struct q *q = q_prep(cx, sql, e);
	if (!q)
		return -1;
	for (int i = 0; i < n_ids; i++)
		q_text(q, i + 1, ids[i]);
	q->table = &vm_table;
	if (q_all(q, sizeof(struct vm), table_fill, (void **)out, n, e) < 0)
		return -1;
	if (vm_attach_children(cx, *out, *n, false, e) < 0) {
		vm_list_free(*out, *n);
		*out = NULL;
		*n = 0;
		return -1;
	}
	return 0;
}

int store_vm_get_many(struct store *st, const char *const *ids, int n_ids, struct vm **out, int *n, struct err *e)
{
	RUN(st, CX_READ, e, get_many(cx, ids, n_ids, out, n, e));
}

/* Partial updates (the status, a generation-checked spec) read the row
 * before and after, so that their event says what changed as a whole
 * update's does. */
int store_vm_update(struct store *st, const struct vm *vm, struct err *e)
{
	RUN(st, CX_WRITE, e, table_update(cx, &vm_table, vm, e));
}

static int save_status_rows(struct cx *cx, const struct vm *vm, bool *spec_saved, struct err *e)
{
	struct q *q = q_prep(cx,
			     "UPDATE vms SET state = ?2, reason = ?3, pid = ?4, accel = ?5, started_at = ?6, "
			     "state_since = ?7, deadline = ?8, boot_phases = ?9, base_snapshot = ?10, "
			     "live_vcpus = ?11, live_disk_bytes = ?12, live_memory_mib = ?13 WHERE id = ?1",
			     e);
	if (!q)
		return -1;
	q_text(q, 1, vm->id);
	q_text(q, 2, vm_state_name(vm->state));
	q_text(q, 3, vm->reason);
	q_int(q, 4, vm->pid);
	q_text(q, 5, vm->accel[0] ? vm->accel : NULL);
	q_int(q, 6, vm->started_at);
	q_int(q, 7, vm->state_since);
	q_int(q, 8, vm->deadline);
	q_phases(q, 9, &vm->boot);
	q_text(q, 10, vm->base_snapshot);
	q_int(q, 11, vm->live_vcpus);
	q_int(q, 12, (int64_t)vm->live_disk_bytes);
	q_int(q, 13, vm->live_memory_mib);
	if (q_done(q, "saving a VM's status", e) < 0)
		return -1;
	q = q_prep(cx,
		   "UPDATE vms SET power = ?2, reboot = ?3, force_stop = ?4, restore_from = ?6, type = ?7, vcpus = ?8, "
		   "memory_mib = ?9 WHERE id = ?1 AND generation = ?5",
		   e);
	if (!q)
		return -1;
	q_text(q, 1, vm->id);
	q_text(q, 2, vm_power_name(vm->power));
	q_int(q, 3, vm->reboot);
	q_int(q, 4, vm->force_stop);
	q_int(q, 5, vm->generation);
	q_text(q, 6, vm->restore_from);
	/* The type only changes here when a guest refused a live memory
	 * resize (ctl/resize.c undoes it); otherwise it is the spec read. */
	q_text(q, 7, vm->type);
	q_int(q, 8, vm->vcpus);
	q_int(q, 9, vm->memory_mib);
	if (q_step(q) != DB_DONE) {
		int rc = cx_fail(cx, e, "saving a VM's status");
		q_free(q);
		return rc;
	}
	if (spec_saved)
		*spec_saved = q_changes(q) > 0;
	q_free(q);
	return 0;
}

static int save_status(struct cx *cx, const struct vm *vm, bool *spec_saved, struct err *e)
{
	struct row before = {0}, after = {0};
	int rc = -1;
	if (row_read(cx, &vm_table, vm->id, &before, e) == 0 && save_status_rows(cx, vm, spec_saved, e) == 0 &&
	    row_read(cx, &vm_table, vm->id, &after, e) == 0 && ev_row_changed(cx, &before, &after, e) == 0 &&
	    meter_vm(cx, vm->id, e) == 0)
		rc = 0;
	row_free(&after);
	row_free(&before);
	return rc;
}

int store_vm_save_status(struct store *st, const struct vm *vm, bool *spec_saved, struct err *e)
{
	RUN(st, CX_WRITE, e, save_status(cx, vm, spec_saved, e));
}

static int vm_delete(struct cx *cx, const char *id, struct err *e)
{
	static const char *const sql[] = {
		"DELETE FROM nics WHERE vm_id = ?1",
		"DELETE FROM vm_firewalls WHERE vm_id = ?1",
		"DELETE FROM forwards WHERE vm_id = ?1",
	};
	for (size_t i = 0; i < sizeof(sql) / sizeof(sql[0]); i++)
		if (cx_exec_id(cx, sql[i], id, e) < 0)
			return -1;
	if (lb_targets_drop_vm(cx, id, e) < 0)
		return -1;
	return table_delete(cx, &vm_table, id, e);   /* its "deleted" stands for its NICs and forwards too */
}

int store_vm_delete(struct store *st, const char *id, struct err *e)
{
	RUN(st, CX_WRITE, e, vm_delete(cx, id, e));
}

int store_vm_set_firewalls(struct store *st, const char *vm_id, const struct vm_firewall *fws, int n,
			   struct err *e)
{
	RUN(st, CX_WRITE, e, vm_firewalls_set(cx, vm_id, fws, n, true, e));
}

static int vm_usage(struct cx *cx, const char *host, const char *exclude_id, int *vcpus, int *memory_mib,
		    struct err *e)
{
	/* Mirrors vm_holds_capacity(): asked to run, or still running. */
	struct q *q = q_prep(cx,
			     "SELECT COALESCE(SUM(vcpus),0), COALESCE(SUM(memory_mib),0) FROM vms "
			     "WHERE (power = 'running' OR state IN ('running','pending','stopping')) "
			     "AND id IS DISTINCT FROM ?1 AND (?2 IS NULL OR host = ?2)",
			     e);
	if (!q)
		return -1;
	q_text(q, 1, exclude_id);
	q_text(q, 2, host);
	int rc = q_step(q);
	if (rc == DB_ROW) {
		*vcpus = (int)q_col_int(q, 0);
		*memory_mib = (int)q_col_int(q, 1);
	}
	rc = rc == DB_ROW ? 0 : cx_fail(cx, e, "summing usage");
	q_free(q);
	return rc;
}

int store_vm_usage(struct store *st, const char *host, const char *exclude_id, int *vcpus, int *memory_mib,
		   struct err *e)
{
	RUN(st, CX_READ, e, vm_usage(cx, host, exclude_id, vcpus, memory_mib, e));
}

static int move_files_set(struct cx *cx, const char *id, const char *move_to, const char *files, struct err *e)
{
	struct q *q = q_prep(cx, "UPDATE vms SET move_files = ?3 WHERE id = ?1 AND move_to = ?2", e);
	if (!q)
		return -1;
	q_text(q, 1, id);
	q_text(q, 2, move_to);
	q_text(q, 3, files);
	return q_done(q, "VM", e);
}

int store_vm_move_files_set(struct store *st, const char *id, const char *move_to, const char *files, struct err *e)
{
	RUN(st, CX_WRITE, e, move_files_set(cx, id, move_to, files, e));
}

static int spread_members(struct cx *cx, const char *group, const struct host *hs, int n, int *members,
			  struct err *e)
{
	memset(members, 0, sizeof(*members) * (size_t)(n > 0 ? n : 0));
	struct q *q = q_prep(cx, "SELECT host, COUNT(*) FROM vms WHERE spread_group = ?1 GROUP BY host", e);
	if (!q)
		return -1;
	q_text(q, 1, group);
	int rc;
	while ((rc = q_step(q)) == DB_ROW)
		for (int i = 0; i < n; i++)
			if (strcmp(hs[i].name, q_col(q, 0) ? q_col(q, 0) : "") == 0)
				members[i] = (int)q_col_int(q, 1);
	rc = rc == DB_DONE ? 0 : cx_fail(cx, e, "counting the VMs of a spread group");
	q_free(q);
	return rc;
}

int store_spread_members(struct store *st, const char *group, const struct host *hs, int n, int *members,
			 struct err *e)
{
	RUN(st, CX_READ, e, spread_members(cx, group, hs, n, members, e));
}

static int taken(struct cx *cx, const char *sql, const char *a, const char *b, bool *out, struct err *e)
{
	int n = 0;
	int rc = cx_count(cx, sql, a, b, NULL, &n, e);
	*out = n > 0;
	return rc;
}

int store_ip_taken(struct store *st, const char *network_id, const char *ip, bool *is_taken, struct err *e)
{
	RUN(st, CX_READ, e,
	    taken(cx,
		  "SELECT (SELECT COUNT(*) FROM nics WHERE network_id = ?1 AND ip = ?2)"
		  " + (SELECT COUNT(*) FROM load_balancers WHERE network_id = ?1 AND vip = ?2)",
		  network_id, ip, is_taken, e));
}

static void ip_fill(struct q *q, void *out)
{
	q_col_copy(q, 0, ((struct ip_text *)out)->ip, sizeof(((struct ip_text *)out)->ip));
}

static int ips_taken(struct cx *cx, const char *network_id, struct ip_text **out, int *n, struct err *e)
{
	struct q *q = q_prep(cx,
			     "SELECT ip FROM nics WHERE network_id = ?1"
			     " UNION ALL SELECT vip FROM load_balancers WHERE network_id = ?1",
			     e);
	if (!q)
		return -1;
	q_text(q, 1, network_id);
	return q_all(q, sizeof(struct ip_text), ip_fill, (void **)out, n, e);
}

int store_ips_taken(struct store *st, const char *network_id, struct ip_text **out, int *n, struct err *e)
{
	RUN(st, CX_READ, e, ips_taken(cx, network_id, out, n, e));
}

int store_mac_taken(struct store *st, const char *mac, bool *is_taken, struct err *e)
{
	RUN(st, CX_READ, e, taken(cx, "SELECT COUNT(*) FROM nics WHERE mac = ?1", mac, NULL, is_taken, e));
}

int store_network_nic_count(struct store *st, const char *network_id, int *n, struct err *e)
{
	RUN(st, CX_READ, e, cx_count(cx, "SELECT COUNT(*) FROM nics WHERE network_id = ?1", network_id, NULL, NULL, n, e));
}

int store_vm_count_by_image(struct store *st, const char *image_id, int *n, struct err *e)
{
	RUN(st, CX_READ, e, cx_count(cx, "SELECT COUNT(*) FROM vms WHERE image_id = ?1", image_id, NULL, NULL, n, e));
}
