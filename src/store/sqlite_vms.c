/*
 * sqlite_vms: VMs with their NICs and firewall memberships (see store.h).
 * A VM's NICs and firewalls live in their own tables and are attached to
 * the rows read, for one VM, a page, or all of them, in one query each.
 */
#include "store/sqlite-priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/str.h"

/* --- VMs ---------------------------------------------------------------- */

#define VM_COLS                                                                                        \
	"id, name, type, vcpus, memory_mib, image, image_id, ssh_keys, ssh_key_file, " \
	"user_data, ssh_user, power, force_stop, reboot, state, reason, pid, accel, created_at, "         \
	"started_at, state_since, deadline, boot_phases, op_id, disk_size_bytes, generation, ephemeral_bytes, " \
	"base_snapshot, restore_from, no_seed"
#define VM_NCOLS 30   /* rev is left out: triggers keep it (migration 12) */
#define VM_PARAMS "?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?"

static void vm_bind(sqlite3_stmt *s, const struct vm *vm)
{
	int i = 1;
	sq_bind_text(s, i++, vm->id);
	sq_bind_text(s, i++, vm->name);
	sq_bind_text(s, i++, vm->type);
	sqlite3_bind_int(s, i++, vm->vcpus);
	sqlite3_bind_int(s, i++, vm->memory_mib);
	sq_bind_text(s, i++, vm->image);
	sq_bind_text(s, i++, vm->image_id);
	sq_bind_text(s, i++, vm->ssh_keys);
	sq_bind_text(s, i++, vm->ssh_key_file);
	sq_bind_text(s, i++, vm->user_data);
	sq_bind_text(s, i++, vm->ssh_user);
	sq_bind_text(s, i++, vm_power_name(vm->power));
	sqlite3_bind_int(s, i++, vm->force_stop);
	sqlite3_bind_int(s, i++, vm->reboot);
	sq_bind_text(s, i++, vm_state_name(vm->state));
	sq_bind_text(s, i++, vm->reason);
	sqlite3_bind_int(s, i++, vm->pid);
	sq_bind_text(s, i++, vm->accel[0] ? vm->accel : NULL);
	sqlite3_bind_int64(s, i++, vm->created_at);
	sqlite3_bind_int64(s, i++, vm->started_at);
	sqlite3_bind_int64(s, i++, vm->state_since);
	sqlite3_bind_int64(s, i++, vm->deadline);
	sq_bind_phases(s, i++, &vm->boot);
	sq_bind_text(s, i++, vm->op_id[0] ? vm->op_id : NULL);
	sqlite3_bind_int64(s, i++, (sqlite3_int64)vm->disk_size_bytes);
	sqlite3_bind_int64(s, i++, vm->generation);
	sqlite3_bind_int64(s, i++, (sqlite3_int64)vm->ephemeral_bytes);
	sq_bind_text(s, i++, vm->base_snapshot);
	sq_bind_text(s, i++, vm->restore_from);
	sqlite3_bind_int(s, i++, vm->no_seed);
}

static void vm_read(sqlite3_stmt *s, struct vm *vm)
{
	memset(vm, 0, sizeof(*vm));
	int i = 0;
	sq_col_copy(s, i++, vm->id, sizeof(vm->id));
	sq_col_copy(s, i++, vm->name, sizeof(vm->name));
	sq_col_copy(s, i++, vm->type, sizeof(vm->type));
	vm->vcpus = sqlite3_column_int(s, i++);
	vm->memory_mib = sqlite3_column_int(s, i++);
	sq_col_copy(s, i++, vm->image, sizeof(vm->image));
	sq_col_copy(s, i++, vm->image_id, sizeof(vm->image_id));
	vm->ssh_keys = sq_col_dup(s, i++);
	vm->ssh_key_file = sq_col_dup(s, i++);
	vm->user_data = sq_col_dup(s, i++);
	sq_col_copy(s, i++, vm->ssh_user, sizeof(vm->ssh_user));
	vm_power_parse((const char *)sqlite3_column_text(s, i++), &vm->power);
	vm->force_stop = sqlite3_column_int(s, i++);
	vm->reboot = sqlite3_column_int(s, i++);
	vm_state_parse((const char *)sqlite3_column_text(s, i++), &vm->state);
	vm->reason = sq_col_dup(s, i++);
	vm->pid = sqlite3_column_int(s, i++);
	sq_col_copy(s, i++, vm->accel, sizeof(vm->accel));
	vm->created_at = sqlite3_column_int64(s, i++);
	vm->started_at = sqlite3_column_int64(s, i++);
	vm->state_since = sqlite3_column_int64(s, i++);
	vm->deadline = sqlite3_column_int64(s, i++);
	phases_from_json_text(&vm->boot, (const char *)sqlite3_column_text(s, i++));
	sq_col_copy(s, i++, vm->op_id, sizeof(vm->op_id));
	vm->disk_size_bytes = (uint64_t)sqlite3_column_int64(s, i++);
	vm->generation = sqlite3_column_int64(s, i++);
	vm->ephemeral_bytes = (uint64_t)sqlite3_column_int64(s, i++);
	sq_col_copy(s, i++, vm->base_snapshot, sizeof(vm->base_snapshot));
	sq_col_copy(s, i++, vm->restore_from, sizeof(vm->restore_from));
	vm->no_seed = sqlite3_column_int(s, i++);
}

static int nics_insert_locked(struct store *st, const struct vm *vm, struct err *e)
{
	for (int i = 0; i < vm->n_nics; i++) {
		const struct vm_nic *n = &vm->nics[i];
		sqlite3_stmt *s = sq_prep(st, "INSERT INTO nics (vm_id, idx, network_id, ip, mac) VALUES (?,?,?,?,?)", e);
		if (!s)
			return -1;
		sq_bind_text(s, 1, vm->id);
		sqlite3_bind_int(s, 2, i);
		sq_bind_text(s, 3, n->network_id);
		sq_bind_text(s, 4, n->ip);
		sq_bind_text(s, 5, n->mac);
		int rc = sqlite3_step(s);
		int ext = sqlite3_extended_errcode(st->db);
		bool ip_taken = rc != SQLITE_DONE && ext == SQLITE_CONSTRAINT_UNIQUE &&
				strstr(sqlite3_errmsg(st->db), "nics.ip");
		sqlite3_finalize(s);
		if (ip_taken)
			return err_set(e, ERR_CONFLICT, "ip \"%s\" is already in use on network %s", n->ip, n->network);
		if (rc != SQLITE_DONE)
			return sq_err(st, e, "inserting a NIC");
	}
	return 0;
}

static int vm_firewalls_set_locked(struct store *st, const char *vm_id, const struct vm_firewall *fws, int n,
				   struct err *e)
{
	sqlite3_stmt *s = sq_prep(st, "DELETE FROM vm_firewalls WHERE vm_id = ?1", e);
	if (!s)
		return -1;
	sq_bind_text(s, 1, vm_id);
	if (sq_step_done(st, s, "clearing a VM's firewalls", e) < 0)
		return -1;
	for (int i = 0; i < n; i++) {
		s = sq_prep(st, "INSERT INTO vm_firewalls (vm_id, idx, firewall_id) VALUES (?,?,?)", e);
		if (!s)
			return -1;
		sq_bind_text(s, 1, vm_id);
		sqlite3_bind_int(s, 2, i);
		sq_bind_text(s, 3, fws[i].id);
		if (sq_step_done(st, s, "firewall membership", e) < 0)
			return -1;
	}
	return 0;
}

static int vm_row_insert(struct store *st, const struct vm *vm, struct err *e)
{
	sqlite3_stmt *s = sq_prep(st, "INSERT INTO vms (" VM_COLS ") VALUES (" VM_PARAMS ")", e);
	if (!s)
		return -1;
	vm_bind(s, vm);
	int rc = sqlite3_step(s);
	int ext = sqlite3_extended_errcode(st->db);
	int out = 0;
	if (rc != SQLITE_DONE) {
		if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY)
			out = err_set(e, ERR_CONFLICT, "a VM named \"%s\" already exists", vm->name);
		else
			out = sq_err(st, e, "inserting a VM");
	}
	sqlite3_finalize(s);
	return out;
}

static int vm_insert_locked(struct store *st, const struct vm *vm, struct err *e)
{
	if (sq_exec(st, "SAVEPOINT multi", e) < 0)
		return -1;
	int rc = vm_row_insert(st, vm, e);
	if (rc == 0)
		rc = nics_insert_locked(st, vm, e);
	if (rc == 0)
		rc = vm_firewalls_set_locked(st, vm->id, vm->firewalls, vm->n_firewalls, e);
	return sq_savepoint_end(st, rc);
}

int store_vm_insert(struct store *st, const struct vm *vm, struct err *e)
{
	LOCKED(st, vm_insert_locked(st, vm, e));
}

static void vm_fill(sqlite3_stmt *s, void *out)
{
	vm_read(s, out);
}

/* The NICs and firewalls of VMs live in their own tables; this attaches
 * them to VMs already read, vms[0..n) in id order: every VM's rows when
 * all, else those of these VMs. */
static struct vm *vm_cursor(struct vm *vms, int n, int *k, const char *id)
{
	while (*k < n && strcmp(vms[*k].id, id) < 0)
		(*k)++;
	return (*k < n && strcmp(vms[*k].id, id) == 0) ? &vms[*k] : NULL;
}

/* "SELECT … WHERE <col> IN (?,?,…) ORDER BY …" for these VMs, or unfiltered. */
static sqlite3_stmt *children_query(struct store *st, const char *head, const char *col, const char *order,
				    const struct vm *vms, int n, bool all, struct err *e)
{
	struct sbuf q = {0};
	sbuf_add(&q, head);
	if (!all) {
		sbuf_addf(&q, " WHERE %s IN (", col);
		for (int i = 0; i < n; i++)
			sbuf_add(&q, i ? ",?" : "?");
		sbuf_add(&q, ")");
	}
	sbuf_addf(&q, " ORDER BY %s", order);
	autofree char *sql = sbuf_take(&q);
	sqlite3_stmt *s = sq_prep(st, sql, e);
	for (int i = 0; s && !all && i < n; i++)
		sq_bind_text(s, i + 1, vms[i].id);
	return s;
}

static int vm_attach_children(struct store *st, struct vm *vms, int n, bool all, struct err *e)
{
	if (n == 0)
		return 0;
	sqlite3_stmt *s = children_query(st,
					 "SELECT n.vm_id, n.network_id, COALESCE(net.name, ''), n.ip, n.mac FROM nics n "
					 "LEFT JOIN networks net ON net.id = n.network_id",
					 "n.vm_id", "n.vm_id, n.idx", vms, n, all, e);
	if (!s)
		return -1;
	int rc, k = 0;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct vm *vm = vm_cursor(vms, n, &k, (const char *)sqlite3_column_text(s, 0));
		if (!vm || vm->n_nics == VM_NICS_MAX)
			continue;
		struct vm_nic *nic = &vm->nics[vm->n_nics++];
		sq_col_copy(s, 1, nic->network_id, sizeof(nic->network_id));
		sq_col_copy(s, 2, nic->network, sizeof(nic->network));
		sq_col_copy(s, 3, nic->ip, sizeof(nic->ip));
		sq_col_copy(s, 4, nic->mac, sizeof(nic->mac));
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return sq_err(st, e, "reading NICs");
	s = children_query(st,
			   "SELECT v.vm_id, v.firewall_id, COALESCE(f.name, '') FROM vm_firewalls v "
			   "LEFT JOIN firewalls f ON f.id = v.firewall_id",
			   "v.vm_id", "v.vm_id, v.idx", vms, n, all, e);
	if (!s)
		return -1;
	k = 0;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct vm *vm = vm_cursor(vms, n, &k, (const char *)sqlite3_column_text(s, 0));
		if (!vm || vm->n_firewalls == VM_FIREWALLS_MAX)
			continue;
		struct vm_firewall *fw = &vm->firewalls[vm->n_firewalls++];
		sq_col_copy(s, 1, fw->id, sizeof(fw->id));
		sq_col_copy(s, 2, fw->name, sizeof(fw->name));
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : sq_err(st, e, "reading firewall memberships");
}

static int vm_get_locked(struct store *st, const char *ref, struct vm *out, struct err *e)
{
	sqlite3_stmt *s = sq_prep(st, "SELECT " VM_COLS " FROM vms WHERE name = ?1 OR id = ?1", e);
	if (!s)
		return -1;
	sq_bind_text(s, 1, ref);
	if (sq_get_one(st, s, vm_fill, out, "VM", ref, e) < 0)
		return -1;
	if (vm_attach_children(st, out, 1, false, e) < 0) {
		vm_free_fields(out);
		return -1;
	}
	return 0;
}

int store_vm_get(struct store *st, const char *ref, struct vm *out, struct err *e)
{
	LOCKED(st, vm_get_locked(st, ref, out, e));
}

static int cmp_vm_name(const void *a, const void *b)
{
	return strcmp(((const struct vm *)a)->name, ((const struct vm *)b)->name);
}

/* Read in id order so vm_attach_children walks both lists together, then
 * sorted by name as callers expect. */
static int vm_list_locked(struct store *st, struct vm **out, int *n, struct err *e)
{
	sqlite3_stmt *s = sq_prep(st, "SELECT " VM_COLS " FROM vms ORDER BY id", e);
	if (!s)
		return -1;
	if (sq_list_all(st, s, sizeof(struct vm), vm_fill, (void **)out, n, e) < 0)
		return -1;
	if (vm_attach_children(st, *out, *n, true, e) < 0) {
		vm_list_free(*out, *n);
		*out = NULL;
		return -1;
	}
	if (*n > 1)   /* qsort of no array: undefined, UBSan says */
		qsort(*out, (size_t)*n, sizeof(struct vm), cmp_vm_name);
	return 0;
}

int store_vm_list(struct store *st, struct vm **out, int *n, struct err *e)
{
	LOCKED(st, vm_list_locked(st, out, n, e));
}

static int cmp_vm_id(const void *a, const void *b)
{
	return strcmp(((const struct vm *)a)->id, ((const struct vm *)b)->id);
}

static int vm_page_locked(struct store *st, const char *after, int limit, struct vm **out, int *n, bool *more,
			  struct err *e)
{
	sqlite3_stmt *s = sq_prep(st, "SELECT " VM_COLS " FROM vms WHERE name > ?1 ORDER BY name LIMIT ?2", e);
	if (!s)
		return -1;
	sq_bind_text(s, 1, after ? after : "");
	sqlite3_bind_int(s, 2, limit + 1);   /* one more says whether there is a next page */
	if (sq_list_all(st, s, sizeof(struct vm), vm_fill, (void **)out, n, e) < 0)
		return -1;
	*more = *n > limit;
	if (*more)
		vm_free_fields(&(*out)[--*n]);
	if (*n > 1)
		qsort(*out, (size_t)*n, sizeof(struct vm), cmp_vm_id);
	if (vm_attach_children(st, *out, *n, false, e) < 0) {
		vm_list_free(*out, *n);
		*out = NULL;
		return -1;
	}
	if (*n > 1)   /* qsort of no array: undefined, UBSan says */
		qsort(*out, (size_t)*n, sizeof(struct vm), cmp_vm_name);
	return 0;
}

static void rev_fill(sqlite3_stmt *s, void *out)
{
	struct vm_rev *r = out;
	sq_col_copy(s, 0, r->id, sizeof(r->id));
	sq_col_copy(s, 1, r->name, sizeof(r->name));
	r->rev = sqlite3_column_int64(s, 2);
}

static int page_revs_locked(struct store *st, const char *after, int limit, struct vm_rev **out, int *n,
			    bool *more, struct err *e)
{
	sqlite3_stmt *s = sq_prep(st, "SELECT id, name, rev FROM vms WHERE name > ?1 ORDER BY name LIMIT ?2", e);
	if (!s)
		return -1;
	sq_bind_text(s, 1, after ? after : "");
	sqlite3_bind_int(s, 2, limit + 1);
	if (sq_list_all(st, s, sizeof(struct vm_rev), rev_fill, (void **)out, n, e) < 0)
		return -1;
	*more = *n > limit;
	if (*more)
		--*n;
	return 0;
}

static int by_nic_locked(struct store *st, const char *network_id, const char *ip, struct vm *out, struct err *e)
{
	sqlite3_stmt *s = sq_prep(st, "SELECT vm_id FROM nics WHERE network_id = ?1 AND ip = ?2", e);
	if (!s)
		return -1;
	sq_bind_text(s, 1, network_id);
	sq_bind_text(s, 2, ip);
	char id[ID_MAX] = "";
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		sq_col_copy(s, 0, id, sizeof(id));
	sqlite3_finalize(s);
	if (rc == SQLITE_ROW)
		return vm_get_locked(st, id, out, e);
	if (rc == SQLITE_DONE)
		return err_set(e, ERR_NOT_FOUND, "no VM has address %s on network %s", ip, network_id);
	return sq_err(st, e, "finding a NIC");
}

int store_vm_by_nic(struct store *st, const char *network_id, const char *ip, struct vm *out, struct err *e)
{
	LOCKED(st, by_nic_locked(st, network_id, ip, out, e));
}

int store_vm_page_revs(struct store *st, const char *after, int limit, struct vm_rev **out, int *n, bool *more,
		       struct err *e)
{
	LOCKED(st, page_revs_locked(st, after, limit, out, n, more, e));
}

static int get_many_locked(struct store *st, const char *const *ids, int n_ids, struct vm **out, int *n,
			   struct err *e)
{
	*out = NULL;
	*n = 0;
	if (n_ids == 0)
		return 0;
	struct sbuf q = {0};
	sbuf_add(&q, "SELECT " VM_COLS " FROM vms WHERE id IN (");
	for (int i = 0; i < n_ids; i++)
		sbuf_add(&q, i ? ",?" : "?");
	sbuf_add(&q, ") ORDER BY id");
	autofree char *sql = sbuf_take(&q);
	sqlite3_stmt *s = sq_prep(st, sql, e);
	if (!s)
		return -1;
	for (int i = 0; i < n_ids; i++)
		sq_bind_text(s, i + 1, ids[i]);
	if (sq_list_all(st, s, sizeof(struct vm), vm_fill, (void **)out, n, e) < 0)
		return -1;
	if (vm_attach_children(st, *out, *n, false, e) < 0) {
		vm_list_free(*out, *n);
		*out = NULL;
		*n = 0;
		return -1;
	}
	return 0;
}

int store_vm_get_many(struct store *st, const char *const *ids, int n_ids, struct vm **out, int *n, struct err *e)
{
	LOCKED(st, get_many_locked(st, ids, n_ids, out, n, e));
}

int store_vm_page(struct store *st, const char *after, int limit, struct vm **out, int *n, bool *more,
		  struct err *e)
{
	LOCKED(st, vm_page_locked(st, after, limit, out, n, more, e));
}

static int vm_update_locked(struct store *st, const struct vm *vm, struct err *e)
{
	sqlite3_stmt *s = sq_prep(st, "UPDATE vms SET (" VM_COLS ") = (" VM_PARAMS ") WHERE id = ?31", e);
	if (!s)
		return -1;
	vm_bind(s, vm);
	sq_bind_text(s, VM_NCOLS + 1, vm->id);
	return sq_step_done(st, s, "updating a VM", e);
}

int store_vm_update(struct store *st, const struct vm *vm, struct err *e)
{
	LOCKED(st, vm_update_locked(st, vm, e));
}

static int save_status_locked(struct store *st, const struct vm *vm, bool *spec_saved, struct err *e)
{
	sqlite3_stmt *s = sq_prep(st,
			       "UPDATE vms SET state = ?2, reason = ?3, pid = ?4, accel = ?5, started_at = ?6, "
			       "state_since = ?7, deadline = ?8, boot_phases = ?9, base_snapshot = ?10 WHERE id = ?1",
			       e);
	if (!s)
		return -1;
	sq_bind_text(s, 1, vm->id);
	sq_bind_text(s, 2, vm_state_name(vm->state));
	sq_bind_text(s, 3, vm->reason);
	sqlite3_bind_int(s, 4, vm->pid);
	sq_bind_text(s, 5, vm->accel[0] ? vm->accel : NULL);
	sqlite3_bind_int64(s, 6, vm->started_at);
	sqlite3_bind_int64(s, 7, vm->state_since);
	sqlite3_bind_int64(s, 8, vm->deadline);
	sq_bind_phases(s, 9, &vm->boot);
	sq_bind_text(s, 10, vm->base_snapshot);
	if (sq_step_done(st, s, "saving a VM's status", e) < 0)
		return -1;
	s = sq_prep(st,
		 "UPDATE vms SET power = ?2, reboot = ?3, force_stop = ?4, restore_from = ?6 "
		 "WHERE id = ?1 AND generation = ?5", e);
	if (!s)
		return -1;
	sq_bind_text(s, 1, vm->id);
	sq_bind_text(s, 2, vm_power_name(vm->power));
	sqlite3_bind_int(s, 3, vm->reboot);
	sqlite3_bind_int(s, 4, vm->force_stop);
	sqlite3_bind_int64(s, 5, vm->generation);
	sq_bind_text(s, 6, vm->restore_from);
	if (sq_step_done(st, s, "saving a VM's status", e) < 0)
		return -1;
	if (spec_saved)
		*spec_saved = sqlite3_changes(st->db) > 0;
	return 0;
}

int store_vm_save_status(struct store *st, const struct vm *vm, bool *spec_saved, struct err *e)
{
	LOCKED(st, save_status_locked(st, vm, spec_saved, e));
}

static int vm_delete_locked(struct store *st, const char *id, struct err *e)
{
	static const char *const sql[] = {
		"DELETE FROM nics WHERE vm_id = ?1", "DELETE FROM vm_firewalls WHERE vm_id = ?1",
		"DELETE FROM forwards WHERE vm_id = ?1", "DELETE FROM vms WHERE id = ?1",
	};
	if (sq_exec(st, "SAVEPOINT multi", e) < 0)
		return -1;
	int rc = 0;
	for (size_t i = 0; i < sizeof(sql) / sizeof(sql[0]) && rc == 0; i++)
		rc = sq_delete_by_id(st, sql[i], id, e);
	return sq_savepoint_end(st, rc);
}

int store_vm_delete(struct store *st, const char *id, struct err *e)
{
	LOCKED(st, vm_delete_locked(st, id, e));
}

int store_vm_set_firewalls(struct store *st, const char *vm_id, const struct vm_firewall *fws, int n,
			   struct err *e)
{
	pthread_mutex_lock(&st->lock);
	int rc = sq_exec(st, "SAVEPOINT multi", e);
	if (rc == 0)
		rc = sq_savepoint_end(st, vm_firewalls_set_locked(st, vm_id, fws, n, e));
	pthread_mutex_unlock(&st->lock);
	return rc;
}

static int vm_usage_locked(struct store *st, const char *exclude_id, int *vcpus, int *memory_mib,
			   struct err *e)
{
	/* Mirrors vm_holds_capacity(): asked to run, or still running. */
	sqlite3_stmt *s = sq_prep(st,
			       "SELECT COALESCE(SUM(vcpus),0), COALESCE(SUM(memory_mib),0) FROM vms "
			       "WHERE (power = 'running' OR state IN ('running','pending','stopping')) "
			       "AND id IS NOT ?1",
			       e);
	if (!s)
		return -1;
	sq_bind_text(s, 1, exclude_id);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*vcpus = sqlite3_column_int(s, 0);
		*memory_mib = sqlite3_column_int(s, 1);
	}
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 0 : sq_err(st, e, "summing usage");
}

int store_vm_usage(struct store *st, const char *exclude_id, int *vcpus, int *memory_mib, struct err *e)
{
	LOCKED(st, vm_usage_locked(st, exclude_id, vcpus, memory_mib, e));
}

static int ip_taken_locked(struct store *st, const char *network_id, const char *ip, bool *taken, struct err *e)
{
	int n = 0;
	int rc = sq_count_query(st, "SELECT COUNT(*) FROM nics WHERE network_id = ?1 AND ip = ?2", network_id, ip,
			     NULL, &n, e);
	*taken = n > 0;
	return rc;
}

int store_ip_taken(struct store *st, const char *network_id, const char *ip, bool *taken, struct err *e)
{
	LOCKED(st, ip_taken_locked(st, network_id, ip, taken, e));
}

int store_mac_taken(struct store *st, const char *mac, bool *taken, struct err *e)
{
	int n = 0;
	pthread_mutex_lock(&st->lock);
	int rc = sq_count_query(st, "SELECT COUNT(*) FROM nics WHERE mac = ?1", mac, NULL, NULL, &n, e);
	pthread_mutex_unlock(&st->lock);
	*taken = n > 0;
	return rc;
}

int store_network_nic_count(struct store *st, const char *network_id, int *n, struct err *e)
{
	LOCKED(st, sq_count_query(st, "SELECT COUNT(*) FROM nics WHERE network_id = ?1", network_id, NULL, NULL, n, e));
}

int store_vm_count_by_image(struct store *st, const char *image_id, int *n, struct err *e)
{
	LOCKED(st, sq_count_query(st, "SELECT COUNT(*) FROM vms WHERE image_id = ?1", image_id, NULL, NULL, n, e));
}
