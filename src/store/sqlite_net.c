/* sqlite_net: networks, firewalls and their rules, port forwards (see store.h). */
#include "store/sqlite-priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/str.h"

/* --- networks ----------------------------------------------------------- */

#define NET_COLS "id, name, cidr, bridge, nat, created_at, deleted"

static void net_fill(sqlite3_stmt *s, void *out)
{
	struct network *net = out;
	memset(net, 0, sizeof(*net));
	sq_col_copy(s, 0, net->id, sizeof(net->id));
	sq_col_copy(s, 1, net->name, sizeof(net->name));
	sq_col_copy(s, 2, net->cidr, sizeof(net->cidr));
	sq_col_copy(s, 3, net->bridge, sizeof(net->bridge));
	net->nat = sqlite3_column_int(s, 4);
	net->created_at = sqlite3_column_int64(s, 5);
	net->deleted = sqlite3_column_int(s, 6);
}

static int net_insert_locked(struct store *st, const struct network *net, struct err *e)
{
	sqlite3_stmt *s = sq_prep(st, "INSERT INTO networks (" NET_COLS ") VALUES (?,?,?,?,?,?,?)", e);
	if (!s)
		return -1;
	sq_bind_text(s, 1, net->id);
	sq_bind_text(s, 2, net->name);
	sq_bind_text(s, 3, net->cidr);
	sq_bind_text(s, 4, net->bridge);
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
	return sq_err(st, e, "inserting a network");
}

int store_network_insert(struct store *st, const struct network *net, struct err *e)
{
	LOCKED(st, net_insert_locked(st, net, e));
}

static int net_get_locked(struct store *st, const char *ref, struct network *out, struct err *e)
{
	sqlite3_stmt *s = sq_prep(st, "SELECT " NET_COLS " FROM networks WHERE name = ?1 OR id = ?1", e);
	if (!s)
		return -1;
	sq_bind_text(s, 1, ref);
	return sq_get_one(st, s, net_fill, out, "network", ref, e);
}

int store_network_get(struct store *st, const char *ref, struct network *out, struct err *e)
{
	LOCKED(st, net_get_locked(st, ref, out, e));
}

static int net_list_locked(struct store *st, struct network **out, int *n, struct err *e)
{
	sqlite3_stmt *s = sq_prep(st, "SELECT " NET_COLS " FROM networks ORDER BY name", e);
	if (!s)
		return -1;
	return sq_list_all(st, s, sizeof(struct network), net_fill, (void **)out, n, e);
}

int store_network_list(struct store *st, struct network **out, int *n, struct err *e)
{
	LOCKED(st, net_list_locked(st, out, n, e));
}

int store_network_delete(struct store *st, const char *id, struct err *e)
{
	LOCKED(st, sq_delete_by_id(st, "DELETE FROM networks WHERE id = ?1", id, e));
}

int store_network_mark_deleted(struct store *st, const char *id, struct err *e)
{
	LOCKED(st, sq_delete_by_id(st, "UPDATE networks SET deleted = 1 WHERE id = ?1", id, e));
}

/* --- firewalls ------------------------------------------------------------ */

#define FW_COLS "id, name, description, created_at"

static void fw_fill(sqlite3_stmt *s, void *out)
{
	struct firewall *fw = out;
	memset(fw, 0, sizeof(*fw));
	sq_col_copy(s, 0, fw->id, sizeof(fw->id));
	sq_col_copy(s, 1, fw->name, sizeof(fw->name));
	sq_col_copy(s, 2, fw->description, sizeof(fw->description));
	fw->created_at = sqlite3_column_int64(s, 3);
}

static int fw_insert_locked(struct store *st, const struct firewall *fw, struct err *e)
{
	sqlite3_stmt *s = sq_prep(st, "INSERT INTO firewalls (" FW_COLS ") VALUES (?,?,?,?)", e);
	if (!s)
		return -1;
	sq_bind_text(s, 1, fw->id);
	sq_bind_text(s, 2, fw->name);
	sq_bind_text(s, 3, fw->description);
	sqlite3_bind_int64(s, 4, fw->created_at);
	autofree char *what = xasprintf("a firewall named \"%s\"", fw->name);
	return sq_step_done(st, s, what, e);
}

int store_firewall_insert(struct store *st, const struct firewall *fw, struct err *e)
{
	LOCKED(st, fw_insert_locked(st, fw, e));
}

static int fw_get_locked(struct store *st, const char *ref, struct firewall *out, struct err *e)
{
	sqlite3_stmt *s = sq_prep(st, "SELECT " FW_COLS " FROM firewalls WHERE name = ?1 OR id = ?1", e);
	if (!s)
		return -1;
	sq_bind_text(s, 1, ref);
	return sq_get_one(st, s, fw_fill, out, "firewall", ref, e);
}

int store_firewall_get(struct store *st, const char *ref, struct firewall *out, struct err *e)
{
	LOCKED(st, fw_get_locked(st, ref, out, e));
}

static int fw_list_locked(struct store *st, struct firewall **out, int *n, struct err *e)
{
	sqlite3_stmt *s = sq_prep(st, "SELECT " FW_COLS " FROM firewalls ORDER BY name", e);
	if (!s)
		return -1;
	return sq_list_all(st, s, sizeof(struct firewall), fw_fill, (void **)out, n, e);
}

int store_firewall_list(struct store *st, struct firewall **out, int *n, struct err *e)
{
	LOCKED(st, fw_list_locked(st, out, n, e));
}

static int fw_delete_locked(struct store *st, const char *id, struct err *e)
{
	if (sq_exec(st, "SAVEPOINT multi", e) < 0)
		return -1;
	int rc = sq_delete_by_id(st, "DELETE FROM firewall_rules WHERE firewall_id = ?1", id, e);
	if (rc == 0)
		rc = sq_delete_by_id(st, "DELETE FROM firewalls WHERE id = ?1", id, e);
	return sq_savepoint_end(st, rc);
}

int store_firewall_delete(struct store *st, const char *id, struct err *e)
{
	LOCKED(st, fw_delete_locked(st, id, e));
}

int store_firewall_usage(struct store *st, const char *id, int *members, int *referencing_rules, struct err *e)
{
	pthread_mutex_lock(&st->lock);
	int rc = sq_count_query(st, "SELECT COUNT(*) FROM vm_firewalls WHERE firewall_id = ?1", id, NULL, NULL, members, e);
	if (rc == 0)
		rc = sq_count_query(st, "SELECT COUNT(*) FROM firewall_rules WHERE from_firewall_id = ?1 AND firewall_id != ?1",
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
	sq_col_copy(s, 0, r->id, sizeof(r->id));
	sq_col_copy(s, 1, r->firewall_id, sizeof(r->firewall_id));
	proto_parse((const char *)sqlite3_column_text(s, 2), "proto", &r->proto, NULL);
	r->port_lo = (uint16_t)sqlite3_column_int(s, 3);
	r->port_hi = (uint16_t)sqlite3_column_int(s, 4);
	sq_col_copy(s, 5, r->from_cidr, sizeof(r->from_cidr));
	sq_col_copy(s, 6, r->from_firewall_id, sizeof(r->from_firewall_id));
	sq_col_copy(s, 7, r->from_firewall, sizeof(r->from_firewall));
	r->created_at = sqlite3_column_int64(s, 8);
}

static int rule_insert_locked(struct store *st, const struct fw_rule *r, struct err *e)
{
	int n = 0;
	if (sq_count_query(st, "SELECT COUNT(*) FROM firewall_rules WHERE firewall_id = ?1", r->firewall_id, NULL, NULL,
			&n, e) < 0)
		return -1;
	if (n >= FIREWALL_RULES_MAX)
		return err_set(e, ERR_CONFLICT, "the firewall has %d rules, the most it may have", n);
	sqlite3_stmt *s = sq_prep(st,
			       "INSERT INTO firewall_rules (id, firewall_id, proto, port_lo, port_hi, from_cidr, "
			       "from_firewall_id, created_at) VALUES (?,?,?,?,?,?,?,?)", e);
	if (!s)
		return -1;
	sq_bind_text(s, 1, r->id);
	sq_bind_text(s, 2, r->firewall_id);
	sq_bind_text(s, 3, proto_name(r->proto));
	sqlite3_bind_int(s, 4, r->port_lo);
	sqlite3_bind_int(s, 5, r->port_hi);
	sq_bind_text(s, 6, r->from_cidr);
	sq_bind_text(s, 7, r->from_firewall_id);
	sqlite3_bind_int64(s, 8, r->created_at);
	return sq_step_done(st, s, "firewall rule", e);
}

int store_fw_rule_insert(struct store *st, const struct fw_rule *r, struct err *e)
{
	LOCKED(st, rule_insert_locked(st, r, e));
}

static int rule_list_locked(struct store *st, const char *firewall_id, struct fw_rule **out, int *n,
			    struct err *e)
{
	sqlite3_stmt *s = sq_prep(st,
			       "SELECT " RULE_COLS " FROM firewall_rules r LEFT JOIN firewalls f ON f.id = r.from_firewall_id "
			       "WHERE ?1 IS NULL OR r.firewall_id = ?1 ORDER BY r.created_at, r.id", e);
	if (!s)
		return -1;
	sq_bind_text(s, 1, firewall_id);
	return sq_list_all(st, s, sizeof(struct fw_rule), rule_fill, (void **)out, n, e);
}

int store_fw_rule_list(struct store *st, const char *firewall_id, struct fw_rule **out, int *n, struct err *e)
{
	LOCKED(st, rule_list_locked(st, firewall_id, out, n, e));
}

static int rule_delete_locked(struct store *st, const char *firewall_id, const char *rule_id, struct err *e)
{
	sqlite3_stmt *s = sq_prep(st, "DELETE FROM firewall_rules WHERE firewall_id = ?1 AND id = ?2", e);
	if (!s)
		return -1;
	sq_bind_text(s, 1, firewall_id);
	sq_bind_text(s, 2, rule_id);
	if (sq_step_done(st, s, "deleting a rule", e) < 0)
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
	sq_col_copy(s, 0, f->vm_id, sizeof(f->vm_id));
	sq_col_copy(s, 1, f->vm_name, sizeof(f->vm_name));
	proto_parse((const char *)sqlite3_column_text(s, 2), "proto", &f->proto, NULL);
	f->host_port = (uint16_t)sqlite3_column_int(s, 3);
	f->guest_port = (uint16_t)sqlite3_column_int(s, 4);
	f->created_at = sqlite3_column_int64(s, 5);
}

static int fwd_insert_locked(struct store *st, const struct forward *f, struct err *e)
{
	sqlite3_stmt *s = sq_prep(st,
			       "INSERT INTO forwards (vm_id, proto, host_port, guest_port, created_at) VALUES (?,?,?,?,?)", e);
	if (!s)
		return -1;
	sq_bind_text(s, 1, f->vm_id);
	sq_bind_text(s, 2, proto_name(f->proto));
	sqlite3_bind_int(s, 3, f->host_port);
	sqlite3_bind_int(s, 4, f->guest_port);
	sqlite3_bind_int64(s, 5, f->created_at);
	autofree char *what = xasprintf("a forward of host port %u/%s", f->host_port, proto_name(f->proto));
	return sq_step_done(st, s, what, e);
}

int store_forward_insert(struct store *st, const struct forward *f, struct err *e)
{
	LOCKED(st, fwd_insert_locked(st, f, e));
}

static int fwd_list_locked(struct store *st, const char *vm_id, struct forward **out, int *n, struct err *e)
{
	sqlite3_stmt *s = sq_prep(st,
			       "SELECT f.vm_id, COALESCE(v.name, ''), f.proto, f.host_port, f.guest_port, f.created_at "
			       "FROM forwards f LEFT JOIN vms v ON v.id = f.vm_id WHERE ?1 IS NULL OR f.vm_id = ?1 "
			       "ORDER BY f.host_port, f.proto", e);
	if (!s)
		return -1;
	sq_bind_text(s, 1, vm_id);
	return sq_list_all(st, s, sizeof(struct forward), fwd_fill, (void **)out, n, e);
}

int store_forward_list(struct store *st, const char *vm_id, struct forward **out, int *n, struct err *e)
{
	LOCKED(st, fwd_list_locked(st, vm_id, out, n, e));
}

static int fwd_delete_locked(struct store *st, const char *vm_id, enum proto proto, int host_port, struct err *e)
{
	sqlite3_stmt *s = sq_prep(st, "DELETE FROM forwards WHERE vm_id = ?1 AND proto = ?2 AND host_port = ?3", e);
	if (!s)
		return -1;
	sq_bind_text(s, 1, vm_id);
	sq_bind_text(s, 2, proto_name(proto));
	sqlite3_bind_int(s, 3, host_port);
	if (sq_step_done(st, s, "deleting a forward", e) < 0)
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
