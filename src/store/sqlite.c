/*
 * sqlite: the embedded store backend (see store.h).
 *
 * One connection in WAL mode, serialised by a recursive lock so that a
 * transaction opened with store_tx_begin() can call the other functions.
 * Column lists are written once per table and shared by the insert, update
 * and select statements, so a new column is added in one place.
 */
#include "store/store.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/migrations.h"
#include "util/log.h"
#include "util/str.h"

struct store {
	sqlite3 *db;
	pthread_mutex_t lock;
};

static int db_err(struct store *st, struct err *e, const char *what)
{
	return err_set(e, ERR_INTERNAL, "store: %s: %s", what, sqlite3_errmsg(st->db));
}

static int exec_sql(struct store *st, const char *sql, struct err *e)
{
	char *msg = NULL;
	if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		int rc = err_set(e, ERR_INTERNAL, "store: %s", msg ? msg : "unknown error");
		sqlite3_free(msg);
		return rc;
	}
	return 0;
}

static int migrate(struct store *st, struct err *e)
{
	sqlite3_stmt *s;
	int version = 0;
	if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK)
		return db_err(st, e, "reading schema version");
	if (sqlite3_step(s) == SQLITE_ROW)
		version = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	for (int i = 0; i < store_migrations_count; i++) {
		const struct migration *m = &store_migrations[i];
		if (m->version <= version)
			continue;
		char pragma[64];
		snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d;", m->version);
		if (exec_sql(st, "BEGIN IMMEDIATE", e) < 0)
			return -1;
		if (exec_sql(st, m->sql, e) < 0 || exec_sql(st, pragma, e) < 0) {
			exec_sql(st, "ROLLBACK", NULL);
			err_prefix(e, "migration %d", m->version);
			return -1;
		}
		if (exec_sql(st, "COMMIT", e) < 0)
			return -1;
		log_info("store: schema migrated to version %d", m->version);
	}
	return 0;
}

int store_open(const char *path, struct store **out, struct err *e)
{
	struct store *st = xcalloc(1, sizeof(*st));
	pthread_mutexattr_t attr;
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&st->lock, &attr);
	pthread_mutexattr_destroy(&attr);
	if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
			    NULL) != SQLITE_OK) {
		int rc = err_set(e, ERR_INTERNAL, "cannot open store %s: %s", path,
				 st->db ? sqlite3_errmsg(st->db) : "out of memory");
		store_close(st);
		return rc;
	}
	sqlite3_busy_timeout(st->db, 5000);
	if (exec_sql(st, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
		     e) < 0 ||
	    migrate(st, e) < 0) {
		err_prefix(e, "store %s", path);
		store_close(st);
		return -1;
	}
	*out = st;
	return 0;
}

void store_close(struct store *st)
{
	if (!st)
		return;
	sqlite3_close(st->db);
	pthread_mutex_destroy(&st->lock);
	free(st);
}

int64_t store_change_count(struct store *st)
{
	pthread_mutex_lock(&st->lock);
	int64_t n = sqlite3_total_changes64(st->db);
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(st->db, "PRAGMA data_version", -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
		n += (int64_t)sqlite3_column_int64(s, 0) << 32;   /* other connections' commits */
	sqlite3_finalize(s);
	pthread_mutex_unlock(&st->lock);
	return n;
}

int store_tx_begin(struct store *st, struct err *e)
{
	pthread_mutex_lock(&st->lock);
	if (exec_sql(st, "BEGIN IMMEDIATE", e) < 0) {
		pthread_mutex_unlock(&st->lock);
		return -1;
	}
	return 0;
}

int store_tx_end(struct store *st, bool ok, struct err *e)
{
	int rc = exec_sql(st, ok ? "COMMIT" : "ROLLBACK", e);
	if (rc < 0 && ok)
		exec_sql(st, "ROLLBACK", NULL);
	pthread_mutex_unlock(&st->lock);
	return rc;
}

/* --- statement helpers ---------------------------------------------------- */

static sqlite3_stmt *prep(struct store *st, const char *sql, struct err *e)
{
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
		db_err(st, e, "preparing a statement");
		return NULL;
	}
	return s;
}

static void bind_text(sqlite3_stmt *s, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, i);
}

static void bind_phases(sqlite3_stmt *s, int i, const struct phases *ph)
{
	json_t *j = phases_to_json(ph);
	char *text = json_dumps(j, JSON_COMPACT);
	sqlite3_bind_text(s, i, text, -1, SQLITE_TRANSIENT);
	free(text);
	json_decref(j);
}

static void col_copy(sqlite3_stmt *s, int i, char *buf, size_t n)
{
	const char *v = (const char *)sqlite3_column_text(s, i);
	snprintf(buf, n, "%s", v ? v : "");
}

static char *col_dup(sqlite3_stmt *s, int i)
{
	const char *v = (const char *)sqlite3_column_text(s, i);
	return v ? xstrdup(v) : NULL;
}

/* Runs a statement that returns no rows; maps a UNIQUE violation to ERR_CONFLICT with what. */
static int step_done(struct store *st, sqlite3_stmt *s, const char *what, struct err *e)
{
	int rc = sqlite3_step(s);
	int ext = sqlite3_extended_errcode(st->db);
	int out = 0;
	if (rc != SQLITE_DONE) {
		if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY)
			out = err_set(e, ERR_CONFLICT, "%s already exists", what);
		else
			out = db_err(st, e, what);
	}
	sqlite3_finalize(s);
	return out;
}

#define LOCKED(st, body)                             \
	do {                                         \
		pthread_mutex_lock(&(st)->lock);     \
		int locked_rc_ = (body);             \
		pthread_mutex_unlock(&(st)->lock);   \
		return locked_rc_;                   \
	} while (0)

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
	bind_text(s, i++, vm->id);
	bind_text(s, i++, vm->name);
	bind_text(s, i++, vm->type);
	sqlite3_bind_int(s, i++, vm->vcpus);
	sqlite3_bind_int(s, i++, vm->memory_mib);
	bind_text(s, i++, vm->image);
	bind_text(s, i++, vm->image_id);
	bind_text(s, i++, vm->ssh_keys);
	bind_text(s, i++, vm->ssh_key_file);
	bind_text(s, i++, vm->user_data);
	bind_text(s, i++, vm->ssh_user);
	bind_text(s, i++, vm_power_name(vm->power));
	sqlite3_bind_int(s, i++, vm->force_stop);
	sqlite3_bind_int(s, i++, vm->reboot);
	bind_text(s, i++, vm_state_name(vm->state));
	bind_text(s, i++, vm->reason);
	sqlite3_bind_int(s, i++, vm->pid);
	bind_text(s, i++, vm->accel[0] ? vm->accel : NULL);
	sqlite3_bind_int64(s, i++, vm->created_at);
	sqlite3_bind_int64(s, i++, vm->started_at);
	sqlite3_bind_int64(s, i++, vm->state_since);
	sqlite3_bind_int64(s, i++, vm->deadline);
	bind_phases(s, i++, &vm->boot);
	bind_text(s, i++, vm->op_id[0] ? vm->op_id : NULL);
	sqlite3_bind_int64(s, i++, (sqlite3_int64)vm->disk_size_bytes);
	sqlite3_bind_int64(s, i++, vm->generation);
	sqlite3_bind_int64(s, i++, (sqlite3_int64)vm->ephemeral_bytes);
	bind_text(s, i++, vm->base_snapshot);
	bind_text(s, i++, vm->restore_from);
	sqlite3_bind_int(s, i++, vm->no_seed);
}

static void vm_read(sqlite3_stmt *s, struct vm *vm)
{
	memset(vm, 0, sizeof(*vm));
	int i = 0;
	col_copy(s, i++, vm->id, sizeof(vm->id));
	col_copy(s, i++, vm->name, sizeof(vm->name));
	col_copy(s, i++, vm->type, sizeof(vm->type));
	vm->vcpus = sqlite3_column_int(s, i++);
	vm->memory_mib = sqlite3_column_int(s, i++);
	col_copy(s, i++, vm->image, sizeof(vm->image));
	col_copy(s, i++, vm->image_id, sizeof(vm->image_id));
	vm->ssh_keys = col_dup(s, i++);
	vm->ssh_key_file = col_dup(s, i++);
	vm->user_data = col_dup(s, i++);
	col_copy(s, i++, vm->ssh_user, sizeof(vm->ssh_user));
	vm_power_parse((const char *)sqlite3_column_text(s, i++), &vm->power);
	vm->force_stop = sqlite3_column_int(s, i++);
	vm->reboot = sqlite3_column_int(s, i++);
	vm_state_parse((const char *)sqlite3_column_text(s, i++), &vm->state);
	vm->reason = col_dup(s, i++);
	vm->pid = sqlite3_column_int(s, i++);
	col_copy(s, i++, vm->accel, sizeof(vm->accel));
	vm->created_at = sqlite3_column_int64(s, i++);
	vm->started_at = sqlite3_column_int64(s, i++);
	vm->state_since = sqlite3_column_int64(s, i++);
	vm->deadline = sqlite3_column_int64(s, i++);
	phases_from_json_text(&vm->boot, (const char *)sqlite3_column_text(s, i++));
	col_copy(s, i++, vm->op_id, sizeof(vm->op_id));
	vm->disk_size_bytes = (uint64_t)sqlite3_column_int64(s, i++);
	vm->generation = sqlite3_column_int64(s, i++);
	vm->ephemeral_bytes = (uint64_t)sqlite3_column_int64(s, i++);
	col_copy(s, i++, vm->base_snapshot, sizeof(vm->base_snapshot));
	col_copy(s, i++, vm->restore_from, sizeof(vm->restore_from));
	vm->no_seed = sqlite3_column_int(s, i++);
}

/* Savepoints make a multi-statement write atomic whether or not the caller
 * holds a transaction (store_tx_begin) around it. */
static int savepoint_end(struct store *st, int rc)
{
	exec_sql(st, rc == 0 ? "RELEASE multi" : "ROLLBACK TO multi; RELEASE multi", NULL);
	return rc;
}

static int nics_insert_locked(struct store *st, const struct vm *vm, struct err *e)
{
	for (int i = 0; i < vm->n_nics; i++) {
		const struct vm_nic *n = &vm->nics[i];
		sqlite3_stmt *s = prep(st, "INSERT INTO nics (vm_id, idx, network_id, ip, mac) VALUES (?,?,?,?,?)", e);
		if (!s)
			return -1;
		bind_text(s, 1, vm->id);
		sqlite3_bind_int(s, 2, i);
		bind_text(s, 3, n->network_id);
		bind_text(s, 4, n->ip);
		bind_text(s, 5, n->mac);
		int rc = sqlite3_step(s);
		int ext = sqlite3_extended_errcode(st->db);
		bool ip_taken = rc != SQLITE_DONE && ext == SQLITE_CONSTRAINT_UNIQUE &&
				strstr(sqlite3_errmsg(st->db), "nics.ip");
		sqlite3_finalize(s);
		if (ip_taken)
			return err_set(e, ERR_CONFLICT, "ip \"%s\" is already in use on network %s", n->ip, n->network);
		if (rc != SQLITE_DONE)
			return db_err(st, e, "inserting a NIC");
	}
	return 0;
}

static int vm_firewalls_set_locked(struct store *st, const char *vm_id, const struct vm_firewall *fws, int n,
				   struct err *e)
{
	sqlite3_stmt *s = prep(st, "DELETE FROM vm_firewalls WHERE vm_id = ?1", e);
	if (!s)
		return -1;
	bind_text(s, 1, vm_id);
	if (step_done(st, s, "clearing a VM's firewalls", e) < 0)
		return -1;
	for (int i = 0; i < n; i++) {
		s = prep(st, "INSERT INTO vm_firewalls (vm_id, idx, firewall_id) VALUES (?,?,?)", e);
		if (!s)
			return -1;
		bind_text(s, 1, vm_id);
		sqlite3_bind_int(s, 2, i);
		bind_text(s, 3, fws[i].id);
		if (step_done(st, s, "firewall membership", e) < 0)
			return -1;
	}
	return 0;
}

static int vm_row_insert(struct store *st, const struct vm *vm, struct err *e)
{
	sqlite3_stmt *s = prep(st, "INSERT INTO vms (" VM_COLS ") VALUES (" VM_PARAMS ")", e);
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
			out = db_err(st, e, "inserting a VM");
	}
	sqlite3_finalize(s);
	return out;
}

static int vm_insert_locked(struct store *st, const struct vm *vm, struct err *e)
{
	if (exec_sql(st, "SAVEPOINT multi", e) < 0)
		return -1;
	int rc = vm_row_insert(st, vm, e);
	if (rc == 0)
		rc = nics_insert_locked(st, vm, e);
	if (rc == 0)
		rc = vm_firewalls_set_locked(st, vm->id, vm->firewalls, vm->n_firewalls, e);
	return savepoint_end(st, rc);
}

int store_vm_insert(struct store *st, const struct vm *vm, struct err *e)
{
	LOCKED(st, vm_insert_locked(st, vm, e));
}

/* Reads the single row a statement selects into fill(row) or reports not_found. */
static int get_one(struct store *st, sqlite3_stmt *s, void (*fill)(sqlite3_stmt *, void *), void *out,
		   const char *what, const char *ref, struct err *e)
{
	int rc = sqlite3_step(s);
	int result = 0;
	if (rc == SQLITE_ROW)
		fill(s, out);
	else if (rc == SQLITE_DONE)
		result = err_set(e, ERR_NOT_FOUND, "%s \"%s\" does not exist", what, ref);
	else
		result = db_err(st, e, what);
	sqlite3_finalize(s);
	return result;
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
	sqlite3_stmt *s = prep(st, sql, e);
	for (int i = 0; s && !all && i < n; i++)
		bind_text(s, i + 1, vms[i].id);
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
		col_copy(s, 1, nic->network_id, sizeof(nic->network_id));
		col_copy(s, 2, nic->network, sizeof(nic->network));
		col_copy(s, 3, nic->ip, sizeof(nic->ip));
		col_copy(s, 4, nic->mac, sizeof(nic->mac));
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return db_err(st, e, "reading NICs");
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
		col_copy(s, 1, fw->id, sizeof(fw->id));
		col_copy(s, 2, fw->name, sizeof(fw->name));
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : db_err(st, e, "reading firewall memberships");
}

static int vm_get_locked(struct store *st, const char *ref, struct vm *out, struct err *e)
{
	sqlite3_stmt *s = prep(st, "SELECT " VM_COLS " FROM vms WHERE name = ?1 OR id = ?1", e);
	if (!s)
		return -1;
	bind_text(s, 1, ref);
	if (get_one(st, s, vm_fill, out, "VM", ref, e) < 0)
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

/* Collects every row of s into a growing array of elements of size sz. */
static int list_all(struct store *st, sqlite3_stmt *s, size_t sz, void (*fill)(sqlite3_stmt *, void *),
		    void **out, int *n, struct err *e)
{
	char *arr = NULL;
	int count = 0, cap = 0, rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (count == cap) {
			cap = cap ? cap * 2 : 16;
			arr = xrealloc(arr, sz * (size_t)cap);
		}
		fill(s, arr + sz * (size_t)count);
		count++;
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		free(arr);
		return db_err(st, e, "listing");
	}
	*out = arr;
	*n = count;
	return 0;
}

static int cmp_vm_name(const void *a, const void *b)
{
	return strcmp(((const struct vm *)a)->name, ((const struct vm *)b)->name);
}

/* Read in id order so vm_attach_children walks both lists together, then
 * sorted by name as callers expect. */
static int vm_list_locked(struct store *st, struct vm **out, int *n, struct err *e)
{
	sqlite3_stmt *s = prep(st, "SELECT " VM_COLS " FROM vms ORDER BY id", e);
	if (!s)
		return -1;
	if (list_all(st, s, sizeof(struct vm), vm_fill, (void **)out, n, e) < 0)
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
	sqlite3_stmt *s = prep(st, "SELECT " VM_COLS " FROM vms WHERE name > ?1 ORDER BY name LIMIT ?2", e);
	if (!s)
		return -1;
	bind_text(s, 1, after ? after : "");
	sqlite3_bind_int(s, 2, limit + 1);   /* one more says whether there is a next page */
	if (list_all(st, s, sizeof(struct vm), vm_fill, (void **)out, n, e) < 0)
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
	col_copy(s, 0, r->id, sizeof(r->id));
	col_copy(s, 1, r->name, sizeof(r->name));
	r->rev = sqlite3_column_int64(s, 2);
}

static int page_revs_locked(struct store *st, const char *after, int limit, struct vm_rev **out, int *n,
			    bool *more, struct err *e)
{
	sqlite3_stmt *s = prep(st, "SELECT id, name, rev FROM vms WHERE name > ?1 ORDER BY name LIMIT ?2", e);
	if (!s)
		return -1;
	bind_text(s, 1, after ? after : "");
	sqlite3_bind_int(s, 2, limit + 1);
	if (list_all(st, s, sizeof(struct vm_rev), rev_fill, (void **)out, n, e) < 0)
		return -1;
	*more = *n > limit;
	if (*more)
		--*n;
	return 0;
}

static int by_nic_locked(struct store *st, const char *network_id, const char *ip, struct vm *out, struct err *e)
{
	sqlite3_stmt *s = prep(st, "SELECT vm_id FROM nics WHERE network_id = ?1 AND ip = ?2", e);
	if (!s)
		return -1;
	bind_text(s, 1, network_id);
	bind_text(s, 2, ip);
	char id[ID_MAX] = "";
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		col_copy(s, 0, id, sizeof(id));
	sqlite3_finalize(s);
	if (rc == SQLITE_ROW)
		return vm_get_locked(st, id, out, e);
	if (rc == SQLITE_DONE)
		return err_set(e, ERR_NOT_FOUND, "no VM has address %s on network %s", ip, network_id);
	return db_err(st, e, "finding a NIC");
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
	sqlite3_stmt *s = prep(st, sql, e);
	if (!s)
		return -1;
	for (int i = 0; i < n_ids; i++)
		bind_text(s, i + 1, ids[i]);
	if (list_all(st, s, sizeof(struct vm), vm_fill, (void **)out, n, e) < 0)
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
	sqlite3_stmt *s = prep(st, "UPDATE vms SET (" VM_COLS ") = (" VM_PARAMS ") WHERE id = ?31", e);
	if (!s)
		return -1;
	vm_bind(s, vm);
	bind_text(s, VM_NCOLS + 1, vm->id);
	return step_done(st, s, "updating a VM", e);
}

int store_vm_update(struct store *st, const struct vm *vm, struct err *e)
{
	LOCKED(st, vm_update_locked(st, vm, e));
}

static int save_status_locked(struct store *st, const struct vm *vm, bool *spec_saved, struct err *e)
{
	sqlite3_stmt *s = prep(st,
			       "UPDATE vms SET state = ?2, reason = ?3, pid = ?4, accel = ?5, started_at = ?6, "
			       "state_since = ?7, deadline = ?8, boot_phases = ?9, base_snapshot = ?10 WHERE id = ?1",
			       e);
	if (!s)
		return -1;
	bind_text(s, 1, vm->id);
	bind_text(s, 2, vm_state_name(vm->state));
	bind_text(s, 3, vm->reason);
	sqlite3_bind_int(s, 4, vm->pid);
	bind_text(s, 5, vm->accel[0] ? vm->accel : NULL);
	sqlite3_bind_int64(s, 6, vm->started_at);
	sqlite3_bind_int64(s, 7, vm->state_since);
	sqlite3_bind_int64(s, 8, vm->deadline);
	bind_phases(s, 9, &vm->boot);
	bind_text(s, 10, vm->base_snapshot);
	if (step_done(st, s, "saving a VM's status", e) < 0)
		return -1;
	s = prep(st,
		 "UPDATE vms SET power = ?2, reboot = ?3, force_stop = ?4, restore_from = ?6 "
		 "WHERE id = ?1 AND generation = ?5", e);
	if (!s)
		return -1;
	bind_text(s, 1, vm->id);
	bind_text(s, 2, vm_power_name(vm->power));
	sqlite3_bind_int(s, 3, vm->reboot);
	sqlite3_bind_int(s, 4, vm->force_stop);
	sqlite3_bind_int64(s, 5, vm->generation);
	bind_text(s, 6, vm->restore_from);
	if (step_done(st, s, "saving a VM's status", e) < 0)
		return -1;
	if (spec_saved)
		*spec_saved = sqlite3_changes(st->db) > 0;
	return 0;
}

int store_vm_save_status(struct store *st, const struct vm *vm, bool *spec_saved, struct err *e)
{
	LOCKED(st, save_status_locked(st, vm, spec_saved, e));
}

static int delete_by_id(struct store *st, const char *sql, const char *id, struct err *e)
{
	sqlite3_stmt *s = prep(st, sql, e);
	if (!s)
		return -1;
	bind_text(s, 1, id);
	return step_done(st, s, "deleting", e);
}

static int vm_delete_locked(struct store *st, const char *id, struct err *e)
{
	static const char *const sql[] = {
		"DELETE FROM nics WHERE vm_id = ?1", "DELETE FROM vm_firewalls WHERE vm_id = ?1",
		"DELETE FROM forwards WHERE vm_id = ?1", "DELETE FROM vms WHERE id = ?1",
	};
	if (exec_sql(st, "SAVEPOINT multi", e) < 0)
		return -1;
	int rc = 0;
	for (size_t i = 0; i < sizeof(sql) / sizeof(sql[0]) && rc == 0; i++)
		rc = delete_by_id(st, sql[i], id, e);
	return savepoint_end(st, rc);
}

int store_vm_delete(struct store *st, const char *id, struct err *e)
{
	LOCKED(st, vm_delete_locked(st, id, e));
}

int store_vm_set_firewalls(struct store *st, const char *vm_id, const struct vm_firewall *fws, int n,
			   struct err *e)
{
	pthread_mutex_lock(&st->lock);
	int rc = exec_sql(st, "SAVEPOINT multi", e);
	if (rc == 0)
		rc = savepoint_end(st, vm_firewalls_set_locked(st, vm_id, fws, n, e));
	pthread_mutex_unlock(&st->lock);
	return rc;
}

static int vm_usage_locked(struct store *st, const char *exclude_id, int *vcpus, int *memory_mib,
			   struct err *e)
{
	/* Mirrors vm_holds_capacity(): asked to run, or still running. */
	sqlite3_stmt *s = prep(st,
			       "SELECT COALESCE(SUM(vcpus),0), COALESCE(SUM(memory_mib),0) FROM vms "
			       "WHERE (power = 'running' OR state IN ('running','pending','stopping')) "
			       "AND id IS NOT ?1",
			       e);
	if (!s)
		return -1;
	bind_text(s, 1, exclude_id);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*vcpus = sqlite3_column_int(s, 0);
		*memory_mib = sqlite3_column_int(s, 1);
	}
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 0 : db_err(st, e, "summing usage");
}

int store_vm_usage(struct store *st, const char *exclude_id, int *vcpus, int *memory_mib, struct err *e)
{
	LOCKED(st, vm_usage_locked(st, exclude_id, vcpus, memory_mib, e));
}

static int count_query(struct store *st, const char *sql, const char *a, const char *b, const char *c,
		       int *n, struct err *e)
{
	sqlite3_stmt *s = prep(st, sql, e);
	if (!s)
		return -1;
	bind_text(s, 1, a);
	if (b)
		bind_text(s, 2, b);
	if (c)
		bind_text(s, 3, c);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*n = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 0 : db_err(st, e, "counting");
}

static int ip_taken_locked(struct store *st, const char *network_id, const char *ip, bool *taken, struct err *e)
{
	int n = 0;
	int rc = count_query(st, "SELECT COUNT(*) FROM nics WHERE network_id = ?1 AND ip = ?2", network_id, ip,
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
	int rc = count_query(st, "SELECT COUNT(*) FROM nics WHERE mac = ?1", mac, NULL, NULL, &n, e);
	pthread_mutex_unlock(&st->lock);
	*taken = n > 0;
	return rc;
}

int store_network_nic_count(struct store *st, const char *network_id, int *n, struct err *e)
{
	LOCKED(st, count_query(st, "SELECT COUNT(*) FROM nics WHERE network_id = ?1", network_id, NULL, NULL, n, e));
}

int store_vm_count_by_image(struct store *st, const char *image_id, int *n, struct err *e)
{
	LOCKED(st, count_query(st, "SELECT COUNT(*) FROM vms WHERE image_id = ?1", image_id, NULL, NULL, n, e));
}

/* --- operations --------------------------------------------------------- */

#define OP_COLS                                                                              \
	"id, kind, target, target_name, state, error, phases, created_at, finished_at, progress_done, " \
	"progress_total"
#define OP_PARAMS "?,?,?,?,?,?,?,?,?,?,?"

static void op_bind(sqlite3_stmt *s, const struct operation *op)
{
	bind_text(s, 1, op->id);
	bind_text(s, 2, op->kind);
	bind_text(s, 3, op->target);
	bind_text(s, 4, op->target_name);
	bind_text(s, 5, op_state_name(op->state));
	bind_text(s, 6, op->error);
	bind_phases(s, 7, &op->phases);
	sqlite3_bind_int64(s, 8, op->created_at);
	sqlite3_bind_int64(s, 9, op->finished_at);
	sqlite3_bind_int64(s, 10, op->progress_done);
	sqlite3_bind_int64(s, 11, op->progress_total);
}

static void op_fill(sqlite3_stmt *s, void *out)
{
	struct operation *op = out;
	memset(op, 0, sizeof(*op));
	col_copy(s, 0, op->id, sizeof(op->id));
	col_copy(s, 1, op->kind, sizeof(op->kind));
	col_copy(s, 2, op->target, sizeof(op->target));
	col_copy(s, 3, op->target_name, sizeof(op->target_name));
	op_state_parse((const char *)sqlite3_column_text(s, 4), &op->state);
	op->error = col_dup(s, 5);
	phases_from_json_text(&op->phases, (const char *)sqlite3_column_text(s, 6));
	op->created_at = sqlite3_column_int64(s, 7);
	op->finished_at = sqlite3_column_int64(s, 8);
	op->progress_done = sqlite3_column_int64(s, 9);
	op->progress_total = sqlite3_column_int64(s, 10);
}

static int op_write_locked(struct store *st, const struct operation *op, bool insert, struct err *e)
{
	sqlite3_stmt *s = prep(st,
			       insert ? "INSERT INTO operations (" OP_COLS ") VALUES (" OP_PARAMS ")"
				      : "UPDATE operations SET (" OP_COLS ") = (" OP_PARAMS ") WHERE id = ?1",
			       e);
	if (!s)
		return -1;
	op_bind(s, op);
	return step_done(st, s, "operation", e);
}

int store_op_insert(struct store *st, const struct operation *op, struct err *e)
{
	LOCKED(st, op_write_locked(st, op, true, e));
}

int store_op_update(struct store *st, const struct operation *op, struct err *e)
{
	LOCKED(st, op_write_locked(st, op, false, e));
}

static int op_get_locked(struct store *st, const char *id, struct operation *out, struct err *e)
{
	sqlite3_stmt *s = prep(st, "SELECT " OP_COLS " FROM operations WHERE id = ?1", e);
	if (!s)
		return -1;
	bind_text(s, 1, id);
	return get_one(st, s, op_fill, out, "operation", id, e);
}

int store_op_get(struct store *st, const char *id, struct operation *out, struct err *e)
{
	LOCKED(st, op_get_locked(st, id, out, e));
}

/* --- images ------------------------------------------------------------- */

#define IMG_COLS                                                                          \
	"id, name, recipe, state, boot, user, cmdline, os, error, size_bytes, created_at, op_id, " \
	"virtual_size_bytes, source, sha256, kernel_source, initrd_source"
#define IMG_PARAMS "?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?"

static void img_bind(sqlite3_stmt *s, const struct image *img)
{
	bind_text(s, 1, img->id);
	bind_text(s, 2, img->name);
	bind_text(s, 3, img->recipe);
	bind_text(s, 4, img->state);
	bind_text(s, 5, img->boot);
	bind_text(s, 6, img->user);
	bind_text(s, 7, img->cmdline);
	bind_text(s, 8, img->os);
	bind_text(s, 9, img->error);
	sqlite3_bind_int64(s, 10, img->size_bytes);
	sqlite3_bind_int64(s, 11, img->created_at);
	bind_text(s, 12, img->op_id[0] ? img->op_id : NULL);
	sqlite3_bind_int64(s, 13, img->virtual_size_bytes);
	bind_text(s, 14, img->source);
	bind_text(s, 15, img->sha256[0] ? img->sha256 : NULL);
	bind_text(s, 16, img->kernel_source);
	bind_text(s, 17, img->initrd_source);
}

static void img_fill(sqlite3_stmt *s, void *out)
{
	struct image *img = out;
	memset(img, 0, sizeof(*img));
	col_copy(s, 0, img->id, sizeof(img->id));
	col_copy(s, 1, img->name, sizeof(img->name));
	col_copy(s, 2, img->recipe, sizeof(img->recipe));
	col_copy(s, 3, img->state, sizeof(img->state));
	col_copy(s, 4, img->boot, sizeof(img->boot));
	col_copy(s, 5, img->user, sizeof(img->user));
	img->cmdline = col_dup(s, 6);
	img->os = col_dup(s, 7);
	img->error = col_dup(s, 8);
	img->size_bytes = sqlite3_column_int64(s, 9);
	img->created_at = sqlite3_column_int64(s, 10);
	col_copy(s, 11, img->op_id, sizeof(img->op_id));
	img->virtual_size_bytes = sqlite3_column_int64(s, 12);
	img->source = col_dup(s, 13);
	col_copy(s, 14, img->sha256, sizeof(img->sha256));
	img->kernel_source = col_dup(s, 15);
	img->initrd_source = col_dup(s, 16);
}

static int img_write_locked(struct store *st, const struct image *img, bool insert, struct err *e)
{
	sqlite3_stmt *s = prep(st,
			       insert ? "INSERT INTO images (" IMG_COLS ") VALUES (" IMG_PARAMS ")"
				      : "UPDATE images SET (" IMG_COLS ") = (" IMG_PARAMS ") WHERE id = ?1",
			       e);
	if (!s)
		return -1;
	img_bind(s, img);
	int rc = step_done(st, s, "image", e);
	if (rc < 0 && e && e->kind == ERR_CONFLICT)
		err_set(e, ERR_CONFLICT, "an image named \"%s\" already exists", img->name);
	return rc;
}

int store_image_insert(struct store *st, const struct image *img, struct err *e)
{
	LOCKED(st, img_write_locked(st, img, true, e));
}

int store_image_update(struct store *st, const struct image *img, struct err *e)
{
	LOCKED(st, img_write_locked(st, img, false, e));
}

static int img_get_locked(struct store *st, const char *ref, struct image *out, struct err *e)
{
	sqlite3_stmt *s = prep(st, "SELECT " IMG_COLS " FROM images WHERE name = ?1 OR id = ?1", e);
	if (!s)
		return -1;
	bind_text(s, 1, ref);
	return get_one(st, s, img_fill, out, "image", ref, e);
}

int store_image_get(struct store *st, const char *ref, struct image *out, struct err *e)
{
	LOCKED(st, img_get_locked(st, ref, out, e));
}

static int img_list_locked(struct store *st, struct image **out, int *n, struct err *e)
{
	sqlite3_stmt *s = prep(st, "SELECT " IMG_COLS " FROM images ORDER BY name", e);
	if (!s)
		return -1;
	return list_all(st, s, sizeof(struct image), img_fill, (void **)out, n, e);
}

int store_image_list(struct store *st, struct image **out, int *n, struct err *e)
{
	LOCKED(st, img_list_locked(st, out, n, e));
}

int store_image_delete(struct store *st, const char *id, struct err *e)
{
	LOCKED(st, delete_by_id(st, "DELETE FROM images WHERE id = ?1", id, e));
}

/* --- volumes ------------------------------------------------------------ */

#define VOL_COLS                                                                                      \
	"id, name, size_bytes, state, attach_to, deleted, attached_vm, slot, unplugging, created_at, op_id, " \
	"from_snapshot"
#define VOL_PARAMS "?,?,?,?,?,?,?,?,?,?,?,?"

static void vol_bind(sqlite3_stmt *s, const struct volume *v)
{
	bind_text(s, 1, v->id);
	bind_text(s, 2, v->name);
	sqlite3_bind_int64(s, 3, (sqlite3_int64)v->size_bytes);
	bind_text(s, 4, v->state);
	bind_text(s, 5, v->attach_to);
	sqlite3_bind_int(s, 6, v->deleted);
	bind_text(s, 7, v->attached_vm);
	sqlite3_bind_int(s, 8, v->slot);
	sqlite3_bind_int(s, 9, v->unplugging);
	sqlite3_bind_int64(s, 10, v->created_at);
	bind_text(s, 11, v->op_id[0] ? v->op_id : NULL);
	bind_text(s, 12, v->from_snapshot);
}

static void vol_fill(sqlite3_stmt *s, void *out)
{
	struct volume *v = out;
	memset(v, 0, sizeof(*v));
	col_copy(s, 0, v->id, sizeof(v->id));
	col_copy(s, 1, v->name, sizeof(v->name));
	v->size_bytes = (uint64_t)sqlite3_column_int64(s, 2);
	col_copy(s, 3, v->state, sizeof(v->state));
	col_copy(s, 4, v->attach_to, sizeof(v->attach_to));
	v->deleted = sqlite3_column_int(s, 5);
	col_copy(s, 6, v->attached_vm, sizeof(v->attached_vm));
	v->slot = sqlite3_column_int(s, 7);
	v->unplugging = sqlite3_column_int(s, 8);
	v->created_at = sqlite3_column_int64(s, 9);
	col_copy(s, 10, v->op_id, sizeof(v->op_id));
	col_copy(s, 11, v->from_snapshot, sizeof(v->from_snapshot));
}

static int vol_write_locked(struct store *st, const struct volume *v, bool insert, struct err *e)
{
	sqlite3_stmt *s = prep(st,
			       insert ? "INSERT INTO volumes (" VOL_COLS ") VALUES (" VOL_PARAMS ")"
				      : "UPDATE volumes SET (" VOL_COLS ") = (" VOL_PARAMS ") WHERE id = ?1",
			       e);
	if (!s)
		return -1;
	vol_bind(s, v);
	int rc = step_done(st, s, "volume", e);
	if (rc < 0 && e && e->kind == ERR_CONFLICT)
		err_set(e, ERR_CONFLICT, "a volume named \"%s\" already exists", v->name);
	return rc;
}

int store_volume_insert(struct store *st, const struct volume *v, struct err *e)
{
	LOCKED(st, vol_write_locked(st, v, true, e));
}

int store_volume_update(struct store *st, const struct volume *v, struct err *e)
{
	LOCKED(st, vol_write_locked(st, v, false, e));
}

static int vol_get_locked(struct store *st, const char *ref, struct volume *out, struct err *e)
{
	sqlite3_stmt *s = prep(st, "SELECT " VOL_COLS " FROM volumes WHERE name = ?1 OR id = ?1", e);
	if (!s)
		return -1;
	bind_text(s, 1, ref);
	return get_one(st, s, vol_fill, out, "volume", ref, e);
}

int store_volume_get(struct store *st, const char *ref, struct volume *out, struct err *e)
{
	LOCKED(st, vol_get_locked(st, ref, out, e));
}

static int vol_list_locked(struct store *st, struct volume **out, int *n, struct err *e)
{
	sqlite3_stmt *s = prep(st, "SELECT " VOL_COLS " FROM volumes ORDER BY name", e);
	if (!s)
		return -1;
	return list_all(st, s, sizeof(struct volume), vol_fill, (void **)out, n, e);
}

int store_volume_list(struct store *st, struct volume **out, int *n, struct err *e)
{
	LOCKED(st, vol_list_locked(st, out, n, e));
}

int store_volume_delete(struct store *st, const char *id, struct err *e)
{
	LOCKED(st, delete_by_id(st, "DELETE FROM volumes WHERE id = ?1", id, e));
}

/* --- snapshots ---------------------------------------------------------- */

#define SNAP_COLS "id, name, vm_id, vm_name, image_id, parent, state, virtual_size, created_at, op_id, volume_id"
#define SNAP_PARAMS "?,?,?,?,?,?,?,?,?,?,?"

static void snap_bind(sqlite3_stmt *s, const struct snapshot *sn)
{
	bind_text(s, 1, sn->id);
	bind_text(s, 2, sn->name);
	bind_text(s, 3, sn->vm_id);
	bind_text(s, 4, sn->vm_name);
	bind_text(s, 5, sn->image_id);
	bind_text(s, 6, sn->parent);
	bind_text(s, 7, sn->state);
	sqlite3_bind_int64(s, 8, (sqlite3_int64)sn->virtual_size);
	sqlite3_bind_int64(s, 9, sn->created_at);
	bind_text(s, 10, sn->op_id[0] ? sn->op_id : NULL);
	bind_text(s, 11, sn->volume_id);
}

static void snap_fill(sqlite3_stmt *s, void *out)
{
	struct snapshot *sn = out;
	memset(sn, 0, sizeof(*sn));
	col_copy(s, 0, sn->id, sizeof(sn->id));
	col_copy(s, 1, sn->name, sizeof(sn->name));
	col_copy(s, 2, sn->vm_id, sizeof(sn->vm_id));
	col_copy(s, 3, sn->vm_name, sizeof(sn->vm_name));
	col_copy(s, 4, sn->image_id, sizeof(sn->image_id));
	col_copy(s, 5, sn->parent, sizeof(sn->parent));
	col_copy(s, 6, sn->state, sizeof(sn->state));
	sn->virtual_size = (uint64_t)sqlite3_column_int64(s, 7);
	sn->created_at = sqlite3_column_int64(s, 8);
	col_copy(s, 9, sn->op_id, sizeof(sn->op_id));
	col_copy(s, 10, sn->volume_id, sizeof(sn->volume_id));
}

static int snap_write_locked(struct store *st, const struct snapshot *sn, bool insert, struct err *e)
{
	sqlite3_stmt *s = prep(st,
			       insert ? "INSERT INTO snapshots (" SNAP_COLS ") VALUES (" SNAP_PARAMS ")"
				      : "UPDATE snapshots SET (" SNAP_COLS ") = (" SNAP_PARAMS ") WHERE id = ?1",
			       e);
	if (!s)
		return -1;
	snap_bind(s, sn);
	int rc = step_done(st, s, "snapshot", e);
	if (rc < 0 && e && e->kind == ERR_CONFLICT)
		err_set(e, ERR_CONFLICT, "a snapshot named \"%s\" already exists", sn->name);
	return rc;
}

int store_snapshot_insert(struct store *st, const struct snapshot *sn, struct err *e)
{
	LOCKED(st, snap_write_locked(st, sn, true, e));
}

int store_snapshot_update(struct store *st, const struct snapshot *sn, struct err *e)
{
	LOCKED(st, snap_write_locked(st, sn, false, e));
}

static int snap_get_locked(struct store *st, const char *ref, struct snapshot *out, struct err *e)
{
	sqlite3_stmt *s = prep(st, "SELECT " SNAP_COLS " FROM snapshots WHERE name = ?1 OR id = ?1", e);
	if (!s)
		return -1;
	bind_text(s, 1, ref);
	return get_one(st, s, snap_fill, out, "snapshot", ref, e);
}

int store_snapshot_get(struct store *st, const char *ref, struct snapshot *out, struct err *e)
{
	LOCKED(st, snap_get_locked(st, ref, out, e));
}

static int snap_list_locked(struct store *st, struct snapshot **out, int *n, struct err *e)
{
	sqlite3_stmt *s = prep(st, "SELECT " SNAP_COLS " FROM snapshots ORDER BY created_at", e);
	if (!s)
		return -1;
	return list_all(st, s, sizeof(struct snapshot), snap_fill, (void **)out, n, e);
}

int store_snapshot_list(struct store *st, struct snapshot **out, int *n, struct err *e)
{
	LOCKED(st, snap_list_locked(st, out, n, e));
}

int store_snapshot_delete(struct store *st, const char *id, struct err *e)
{
	LOCKED(st, delete_by_id(st, "DELETE FROM snapshots WHERE id = ?1", id, e));
}

/* --- tokens ------------------------------------------------------------- */

#define TOK_COLS "id, name, hash, created_at, last_used_at"

static void tok_fill(sqlite3_stmt *s, void *out)
{
	struct token *t = out;
	memset(t, 0, sizeof(*t));
	col_copy(s, 0, t->id, sizeof(t->id));
	col_copy(s, 1, t->name, sizeof(t->name));
	col_copy(s, 2, t->hash, sizeof(t->hash));
	t->created_at = sqlite3_column_int64(s, 3);
	t->last_used_at = sqlite3_column_int64(s, 4);
}

static int tok_insert_locked(struct store *st, const struct token *t, struct err *e)
{
	sqlite3_stmt *s = prep(st, "INSERT INTO tokens (" TOK_COLS ") VALUES (?,?,?,?,?)", e);
	if (!s)
		return -1;
	bind_text(s, 1, t->id);
	bind_text(s, 2, t->name);
	bind_text(s, 3, t->hash);
	sqlite3_bind_int64(s, 4, t->created_at);
	sqlite3_bind_int64(s, 5, t->last_used_at);
	int rc = step_done(st, s, "token", e);
	if (rc < 0 && e && e->kind == ERR_CONFLICT)
		err_set(e, ERR_CONFLICT, "a token named \"%s\" already exists", t->name);
	return rc;
}

int store_token_insert(struct store *st, const struct token *t, struct err *e)
{
	LOCKED(st, tok_insert_locked(st, t, e));
}

static int tok_get_locked(struct store *st, const char *ref, struct token *out, struct err *e)
{
	sqlite3_stmt *s = prep(st, "SELECT " TOK_COLS " FROM tokens WHERE name = ?1 OR id = ?1", e);
	if (!s)
		return -1;
	bind_text(s, 1, ref);
	return get_one(st, s, tok_fill, out, "token", ref, e);
}

int store_token_get(struct store *st, const char *ref, struct token *out, struct err *e)
{
	LOCKED(st, tok_get_locked(st, ref, out, e));
}

static int tok_list_locked(struct store *st, struct token **out, int *n, struct err *e)
{
	sqlite3_stmt *s = prep(st, "SELECT " TOK_COLS " FROM tokens ORDER BY name", e);
	if (!s)
		return -1;
	return list_all(st, s, sizeof(struct token), tok_fill, (void **)out, n, e);
}

int store_token_list(struct store *st, struct token **out, int *n, struct err *e)
{
	LOCKED(st, tok_list_locked(st, out, n, e));
}

int store_token_delete(struct store *st, const char *id, struct err *e)
{
	LOCKED(st, delete_by_id(st, "DELETE FROM tokens WHERE id = ?1", id, e));
}

static int tok_touch_locked(struct store *st, const char *id, int64_t when_ms, struct err *e)
{
	sqlite3_stmt *s = prep(st, "UPDATE tokens SET last_used_at = ?2 WHERE id = ?1", e);
	if (!s)
		return -1;
	bind_text(s, 1, id);
	sqlite3_bind_int64(s, 2, when_ms);
	return step_done(st, s, "token", e);
}

int store_token_touch(struct store *st, const char *id, int64_t when_ms, struct err *e)
{
	LOCKED(st, tok_touch_locked(st, id, when_ms, e));
}

/* --- networks ----------------------------------------------------------- */

#define NET_COLS "id, name, cidr, bridge, nat, created_at, deleted"

static void net_fill(sqlite3_stmt *s, void *out)
{
	struct network *net = out;
	memset(net, 0, sizeof(*net));
	col_copy(s, 0, net->id, sizeof(net->id));
	col_copy(s, 1, net->name, sizeof(net->name));
	col_copy(s, 2, net->cidr, sizeof(net->cidr));
	col_copy(s, 3, net->bridge, sizeof(net->bridge));
	net->nat = sqlite3_column_int(s, 4);
	net->created_at = sqlite3_column_int64(s, 5);
	net->deleted = sqlite3_column_int(s, 6);
}

static int net_insert_locked(struct store *st, const struct network *net, struct err *e)
{
	sqlite3_stmt *s = prep(st, "INSERT INTO networks (" NET_COLS ") VALUES (?,?,?,?,?,?,?)", e);
	if (!s)
		return -1;
	bind_text(s, 1, net->id);
	bind_text(s, 2, net->name);
	bind_text(s, 3, net->cidr);
	bind_text(s, 4, net->bridge);
	sqlite3_bind_int(s, 5, net->nat);
	sqlite3_bind_int64(s, 6, net->created_at);
	sqlite3_bind_int(s, 7, net->deleted);
	int rc = sqlite3_step(s);
	int ext = sqlite3_extended_errcode(st->db);
	bool bridge_taken = rc != SQLITE_DONE && strstr(sqlite3_errmsg(st->db), "networks.bridge");
	sqlite3_finalize(s);
	if (rc == SQLITE_DONE)
		return 0;
	if (ext == SQLITE_CONSTRAINT_UNIQUE && bridge_taken)
		return err_set(e, ERR_CONFLICT, "bridge name %s is taken; try again", net->bridge);
	if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY)
		return err_set(e, ERR_CONFLICT, "a network named \"%s\" already exists", net->name);
	return db_err(st, e, "inserting a network");
}

int store_network_insert(struct store *st, const struct network *net, struct err *e)
{
	LOCKED(st, net_insert_locked(st, net, e));
}

static int net_get_locked(struct store *st, const char *ref, struct network *out, struct err *e)
{
	sqlite3_stmt *s = prep(st, "SELECT " NET_COLS " FROM networks WHERE name = ?1 OR id = ?1", e);
	if (!s)
		return -1;
	bind_text(s, 1, ref);
	return get_one(st, s, net_fill, out, "network", ref, e);
}

int store_network_get(struct store *st, const char *ref, struct network *out, struct err *e)
{
	LOCKED(st, net_get_locked(st, ref, out, e));
}

static int net_list_locked(struct store *st, struct network **out, int *n, struct err *e)
{
	sqlite3_stmt *s = prep(st, "SELECT " NET_COLS " FROM networks ORDER BY name", e);
	if (!s)
		return -1;
	return list_all(st, s, sizeof(struct network), net_fill, (void **)out, n, e);
}

int store_network_list(struct store *st, struct network **out, int *n, struct err *e)
{
	LOCKED(st, net_list_locked(st, out, n, e));
}

int store_network_delete(struct store *st, const char *id, struct err *e)
{
	LOCKED(st, delete_by_id(st, "DELETE FROM networks WHERE id = ?1", id, e));
}

int store_network_mark_deleted(struct store *st, const char *id, struct err *e)
{
	LOCKED(st, delete_by_id(st, "UPDATE networks SET deleted = 1 WHERE id = ?1", id, e));
}

/* --- meta --------------------------------------------------------------- */

static int meta_get_locked(struct store *st, const char *key, char **value, struct err *e)
{
	sqlite3_stmt *s = prep(st, "SELECT value FROM meta WHERE key = ?1", e);
	if (!s)
		return -1;
	bind_text(s, 1, key);
	int rc = sqlite3_step(s);
	*value = rc == SQLITE_ROW ? col_dup(s, 0) : NULL;
	sqlite3_finalize(s);
	return (rc == SQLITE_ROW || rc == SQLITE_DONE) ? 0 : db_err(st, e, "reading meta");
}

int store_meta_get(struct store *st, const char *key, char **value, struct err *e)
{
	LOCKED(st, meta_get_locked(st, key, value, e));
}

static int meta_set_locked(struct store *st, const char *key, const char *value, struct err *e)
{
	sqlite3_stmt *s = prep(st, "INSERT INTO meta (key, value) VALUES (?1, ?2) "
				   "ON CONFLICT (key) DO UPDATE SET value = excluded.value", e);
	if (!s)
		return -1;
	bind_text(s, 1, key);
	bind_text(s, 2, value);
	return step_done(st, s, "meta", e);
}

int store_meta_set(struct store *st, const char *key, const char *value, struct err *e)
{
	LOCKED(st, meta_set_locked(st, key, value, e));
}

/* --- firewalls ------------------------------------------------------------ */

#define FW_COLS "id, name, description, created_at"

static void fw_fill(sqlite3_stmt *s, void *out)
{
	struct firewall *fw = out;
	memset(fw, 0, sizeof(*fw));
	col_copy(s, 0, fw->id, sizeof(fw->id));
	col_copy(s, 1, fw->name, sizeof(fw->name));
	col_copy(s, 2, fw->description, sizeof(fw->description));
	fw->created_at = sqlite3_column_int64(s, 3);
}

static int fw_insert_locked(struct store *st, const struct firewall *fw, struct err *e)
{
	sqlite3_stmt *s = prep(st, "INSERT INTO firewalls (" FW_COLS ") VALUES (?,?,?,?)", e);
	if (!s)
		return -1;
	bind_text(s, 1, fw->id);
	bind_text(s, 2, fw->name);
	bind_text(s, 3, fw->description);
	sqlite3_bind_int64(s, 4, fw->created_at);
	autofree char *what = xasprintf("a firewall named \"%s\"", fw->name);
	return step_done(st, s, what, e);
}

int store_firewall_insert(struct store *st, const struct firewall *fw, struct err *e)
{
	LOCKED(st, fw_insert_locked(st, fw, e));
}

static int fw_get_locked(struct store *st, const char *ref, struct firewall *out, struct err *e)
{
	sqlite3_stmt *s = prep(st, "SELECT " FW_COLS " FROM firewalls WHERE name = ?1 OR id = ?1", e);
	if (!s)
		return -1;
	bind_text(s, 1, ref);
	return get_one(st, s, fw_fill, out, "firewall", ref, e);
}

int store_firewall_get(struct store *st, const char *ref, struct firewall *out, struct err *e)
{
	LOCKED(st, fw_get_locked(st, ref, out, e));
}

static int fw_list_locked(struct store *st, struct firewall **out, int *n, struct err *e)
{
	sqlite3_stmt *s = prep(st, "SELECT " FW_COLS " FROM firewalls ORDER BY name", e);
	if (!s)
		return -1;
	return list_all(st, s, sizeof(struct firewall), fw_fill, (void **)out, n, e);
}

int store_firewall_list(struct store *st, struct firewall **out, int *n, struct err *e)
{
	LOCKED(st, fw_list_locked(st, out, n, e));
}

static int fw_delete_locked(struct store *st, const char *id, struct err *e)
{
	if (exec_sql(st, "SAVEPOINT multi", e) < 0)
		return -1;
	int rc = delete_by_id(st, "DELETE FROM firewall_rules WHERE firewall_id = ?1", id, e);
	if (rc == 0)
		rc = delete_by_id(st, "DELETE FROM firewalls WHERE id = ?1", id, e);
	return savepoint_end(st, rc);
}

int store_firewall_delete(struct store *st, const char *id, struct err *e)
{
	LOCKED(st, fw_delete_locked(st, id, e));
}

int store_firewall_usage(struct store *st, const char *id, int *members, int *referencing_rules, struct err *e)
{
	pthread_mutex_lock(&st->lock);
	int rc = count_query(st, "SELECT COUNT(*) FROM vm_firewalls WHERE firewall_id = ?1", id, NULL, NULL, members, e);
	if (rc == 0)
		rc = count_query(st, "SELECT COUNT(*) FROM firewall_rules WHERE from_firewall_id = ?1 AND firewall_id != ?1",
				 id, NULL, NULL, referencing_rules, e);
	pthread_mutex_unlock(&st->lock);
	return rc;
}

#define RULE_COLS                                                                                       \
	"r.id, r.firewall_id, r.proto, r.port_lo, r.port_hi, r.from_cidr, r.from_firewall_id, "          \
	"COALESCE(f.name, ''), r.created_at"

static void rule_fill(sqlite3_stmt *s, void *out)
{
	struct fw_rule *r = out;
	memset(r, 0, sizeof(*r));
	col_copy(s, 0, r->id, sizeof(r->id));
	col_copy(s, 1, r->firewall_id, sizeof(r->firewall_id));
	proto_parse((const char *)sqlite3_column_text(s, 2), "proto", &r->proto, NULL);
	r->port_lo = (uint16_t)sqlite3_column_int(s, 3);
	r->port_hi = (uint16_t)sqlite3_column_int(s, 4);
	col_copy(s, 5, r->from_cidr, sizeof(r->from_cidr));
	col_copy(s, 6, r->from_firewall_id, sizeof(r->from_firewall_id));
	col_copy(s, 7, r->from_firewall, sizeof(r->from_firewall));
	r->created_at = sqlite3_column_int64(s, 8);
}

static int rule_insert_locked(struct store *st, const struct fw_rule *r, struct err *e)
{
	int n = 0;
	if (count_query(st, "SELECT COUNT(*) FROM firewall_rules WHERE firewall_id = ?1", r->firewall_id, NULL, NULL,
			&n, e) < 0)
		return -1;
	if (n >= FIREWALL_RULES_MAX)
		return err_set(e, ERR_CONFLICT, "the firewall has %d rules, the most it may have", n);
	sqlite3_stmt *s = prep(st,
			       "INSERT INTO firewall_rules (id, firewall_id, proto, port_lo, port_hi, from_cidr, "
			       "from_firewall_id, created_at) VALUES (?,?,?,?,?,?,?,?)", e);
	if (!s)
		return -1;
	bind_text(s, 1, r->id);
	bind_text(s, 2, r->firewall_id);
	bind_text(s, 3, proto_name(r->proto));
	sqlite3_bind_int(s, 4, r->port_lo);
	sqlite3_bind_int(s, 5, r->port_hi);
	bind_text(s, 6, r->from_cidr);
	bind_text(s, 7, r->from_firewall_id);
	sqlite3_bind_int64(s, 8, r->created_at);
	return step_done(st, s, "firewall rule", e);
}

int store_fw_rule_insert(struct store *st, const struct fw_rule *r, struct err *e)
{
	LOCKED(st, rule_insert_locked(st, r, e));
}

static int rule_list_locked(struct store *st, const char *firewall_id, struct fw_rule **out, int *n,
			    struct err *e)
{
	sqlite3_stmt *s = prep(st,
			       "SELECT " RULE_COLS " FROM firewall_rules r LEFT JOIN firewalls f ON f.id = r.from_firewall_id "
			       "WHERE ?1 IS NULL OR r.firewall_id = ?1 ORDER BY r.created_at, r.id", e);
	if (!s)
		return -1;
	bind_text(s, 1, firewall_id);
	return list_all(st, s, sizeof(struct fw_rule), rule_fill, (void **)out, n, e);
}

int store_fw_rule_list(struct store *st, const char *firewall_id, struct fw_rule **out, int *n, struct err *e)
{
	LOCKED(st, rule_list_locked(st, firewall_id, out, n, e));
}

static int rule_delete_locked(struct store *st, const char *firewall_id, const char *rule_id, struct err *e)
{
	sqlite3_stmt *s = prep(st, "DELETE FROM firewall_rules WHERE firewall_id = ?1 AND id = ?2", e);
	if (!s)
		return -1;
	bind_text(s, 1, firewall_id);
	bind_text(s, 2, rule_id);
	if (step_done(st, s, "deleting a rule", e) < 0)
		return -1;
	if (sqlite3_changes(st->db) == 0)
		return err_set(e, ERR_NOT_FOUND, "rule \"%s\" does not exist in this firewall", rule_id);
	return 0;
}

int store_fw_rule_delete(struct store *st, const char *firewall_id, const char *rule_id, struct err *e)
{
	LOCKED(st, rule_delete_locked(st, firewall_id, rule_id, e));
}

/* --- port forwards -------------------------------------------------------- */

static void fwd_fill(sqlite3_stmt *s, void *out)
{
	struct forward *f = out;
	memset(f, 0, sizeof(*f));
	col_copy(s, 0, f->vm_id, sizeof(f->vm_id));
	col_copy(s, 1, f->vm_name, sizeof(f->vm_name));
	proto_parse((const char *)sqlite3_column_text(s, 2), "proto", &f->proto, NULL);
	f->host_port = (uint16_t)sqlite3_column_int(s, 3);
	f->guest_port = (uint16_t)sqlite3_column_int(s, 4);
	f->created_at = sqlite3_column_int64(s, 5);
}

static int fwd_insert_locked(struct store *st, const struct forward *f, struct err *e)
{
	sqlite3_stmt *s = prep(st,
			       "INSERT INTO forwards (vm_id, proto, host_port, guest_port, created_at) VALUES (?,?,?,?,?)", e);
	if (!s)
		return -1;
	bind_text(s, 1, f->vm_id);
	bind_text(s, 2, proto_name(f->proto));
	sqlite3_bind_int(s, 3, f->host_port);
	sqlite3_bind_int(s, 4, f->guest_port);
	sqlite3_bind_int64(s, 5, f->created_at);
	autofree char *what = xasprintf("a forward of host port %u/%s", f->host_port, proto_name(f->proto));
	return step_done(st, s, what, e);
}

int store_forward_insert(struct store *st, const struct forward *f, struct err *e)
{
	LOCKED(st, fwd_insert_locked(st, f, e));
}

static int fwd_list_locked(struct store *st, const char *vm_id, struct forward **out, int *n, struct err *e)
{
	sqlite3_stmt *s = prep(st,
			       "SELECT f.vm_id, COALESCE(v.name, ''), f.proto, f.host_port, f.guest_port, f.created_at "
			       "FROM forwards f LEFT JOIN vms v ON v.id = f.vm_id WHERE ?1 IS NULL OR f.vm_id = ?1 "
			       "ORDER BY f.host_port, f.proto", e);
	if (!s)
		return -1;
	bind_text(s, 1, vm_id);
	return list_all(st, s, sizeof(struct forward), fwd_fill, (void **)out, n, e);
}

int store_forward_list(struct store *st, const char *vm_id, struct forward **out, int *n, struct err *e)
{
	LOCKED(st, fwd_list_locked(st, vm_id, out, n, e));
}

static int fwd_delete_locked(struct store *st, const char *vm_id, enum proto proto, int host_port, struct err *e)
{
	sqlite3_stmt *s = prep(st, "DELETE FROM forwards WHERE vm_id = ?1 AND proto = ?2 AND host_port = ?3", e);
	if (!s)
		return -1;
	bind_text(s, 1, vm_id);
	bind_text(s, 2, proto_name(proto));
	sqlite3_bind_int(s, 3, host_port);
	if (step_done(st, s, "deleting a forward", e) < 0)
		return -1;
	if (sqlite3_changes(st->db) == 0)
		return err_set(e, ERR_NOT_FOUND, "host port %d/%s is not forwarded to this VM", host_port,
			       proto_name(proto));
	return 0;
}

int store_forward_delete(struct store *st, const char *vm_id, enum proto proto, int host_port, struct err *e)
{
	LOCKED(st, fwd_delete_locked(st, vm_id, proto, host_port, e));
}
