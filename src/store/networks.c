/* networks: networks, firewalls and their rules, port forwards (see store.h). */
#include "store/store-priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/str.h"

#define N_COLS(a) ((int)(sizeof(a) / sizeof((a)[0])))

static char *proto_text(const void *f)
{
	return xstrdup(proto_name(*(const enum proto *)f));
}

static void proto_from(const char *text, void *f)
{
	proto_parse(text, "proto", f, NULL);
}

/* --- networks ----------------------------------------------------------- */

static const struct col net_cols[] = {
	COL(struct network, id, COL_TEXT),
	COL(struct network, name, COL_TEXT),
	COL(struct network, cidr, COL_TEXT),
	COL(struct network, bridge, COL_TEXT),
	COL(struct network, nat, COL_BOOL),
	COL(struct network, created_at, COL_I64),
	COL_EV(struct network, deleted, COL_BOOL, EV_DELETING),
	COL(struct network, vni, COL_INT),
};
static const struct table net_table = {"networks", "network", sizeof(struct network), net_cols, N_COLS(net_cols),
				       "network", NULL, NULL};

static int net_insert(struct cx *cx, const struct network *net, struct err *e)
{
	if (table_insert(cx, &net_table, net, net->name, e) == 0)
		return 0;
	char key[128] = "";
	if (e && e->kind == ERR_CONFLICT && (cx_unique_key(cx, key, sizeof(key)), strstr(key, "networks.bridge")))
		return err_set(e, ERR_CONFLICT, "bridge name %s is taken; try again", net->bridge);
	return -1;
}

int store_network_insert(struct store *st, const struct network *net, struct err *e)
{
	RUN(st, CX_WRITE, e, net_insert(cx, net, e));
}

int store_network_get(struct store *st, const char *ref, struct network *out, struct err *e)
{
	RUN(st, CX_READ, e, table_get(cx, &net_table, ref, out, e));
}

int store_network_list(struct store *st, struct network **out, int *n, struct err *e)
{
	RUN(st, CX_READ, e, table_list(cx, &net_table, "name", (void **)out, n, e));
}

int store_network_delete(struct store *st, const char *id, struct err *e)
{
	RUN(st, CX_WRITE, e, table_delete(cx, &net_table, id, e));
}

static int net_mark_deleted(struct cx *cx, const char *id, struct err *e)
{
	struct row before = {0}, after = {0};
	int rc = -1;
	if (row_read(cx, &net_table, id, &before, e) == 0 &&
	    cx_exec_id(cx, "UPDATE networks SET deleted = 1 WHERE id = ?1", id, e) == 0 &&
	    row_read(cx, &net_table, id, &after, e) == 0 && ev_row_changed(cx, &before, &after, e) == 0)
		rc = 0;
	row_free(&after);
	row_free(&before);
	return rc;
}

int store_network_mark_deleted(struct store *st, const char *id, struct err *e)
{
	RUN(st, CX_WRITE, e, net_mark_deleted(cx, id, e));
}

/* The next VNI after the highest given, under the write lock, so two hosts
 * never give one twice (the unique index says so too). */
static int net_vni_ensure(struct cx *cx, const char *id, int *vni, struct err *e)
{
	struct network net;
	if (cx_exec_id(cx, "UPDATE networks SET vni = (SELECT COALESCE(MAX(vni), 0) + 1 FROM networks) "
			   "WHERE id = ?1 AND vni = 0", id, e) < 0 ||
	    table_get(cx, &net_table, id, &net, e) < 0)
		return -1;
	*vni = net.vni;
	return 0;
}

int store_network_vni_ensure(struct store *st, const char *id, int *vni, struct err *e)
{
	RUN(st, CX_WRITE, e, net_vni_ensure(cx, id, vni, e));
}

/* --- firewalls ------------------------------------------------------------ */

static const struct col fw_cols[] = {
	COL(struct firewall, id, COL_TEXT),
	COL(struct firewall, name, COL_TEXT),
	COL(struct firewall, description, COL_TEXT),
	COL(struct firewall, created_at, COL_I64),
};
static const struct table fw_table = {"firewalls", "firewall", sizeof(struct firewall), fw_cols, N_COLS(fw_cols),
				      "firewall", NULL, NULL};

int store_firewall_insert(struct store *st, const struct firewall *fw, struct err *e)
{
	RUN(st, CX_WRITE, e, table_insert(cx, &fw_table, fw, fw->name, e));
}

int store_firewall_get(struct store *st, const char *ref, struct firewall *out, struct err *e)
{
	RUN(st, CX_READ, e, table_get(cx, &fw_table, ref, out, e));
}

int store_firewall_list(struct store *st, struct firewall **out, int *n, struct err *e)
{
	RUN(st, CX_READ, e, table_list(cx, &fw_table, "name", (void **)out, n, e));
}

static int fw_delete(struct cx *cx, const char *id, struct err *e)
{
	if (cx_exec_id(cx, "DELETE FROM firewall_rules WHERE firewall_id = ?1", id, e) < 0)
		return -1;
	return table_delete(cx, &fw_table, id, e);   /* its "deleted" stands for its rules too */
}

int store_firewall_delete(struct store *st, const char *id, struct err *e)
{
	RUN(st, CX_WRITE, e, fw_delete(cx, id, e));
}

static int fw_usage(struct cx *cx, const char *id, int *members, int *referencing_rules, struct err *e)
{
	if (cx_count(cx, "SELECT COUNT(*) FROM vm_firewalls WHERE firewall_id = ?1", id, NULL, NULL, members, e) < 0)
		return -1;
	return cx_count(cx, "SELECT COUNT(*) FROM firewall_rules WHERE from_firewall_id = ?1 AND firewall_id != ?1", id,
			NULL, NULL, referencing_rules, e);
}

int store_firewall_usage(struct store *st, const char *id, int *members, int *referencing_rules, struct err *e)
{
	RUN(st, CX_READ, e, fw_usage(cx, id, members, referencing_rules, e));
}

/* Rules are read with the name of the firewall they allow traffic from,
 * which is not a column of theirs: the descriptor covers the columns, the
 * join adds that one after them. */
static const struct col rule_cols[] = {
	COL(struct fw_rule, id, COL_TEXT),
	COL(struct fw_rule, firewall_id, COL_TEXT),
	COL_FN("proto", struct fw_rule, proto, proto_text, proto_from, EV_NAMED),
	COL(struct fw_rule, port_lo, COL_U16),
	COL(struct fw_rule, port_hi, COL_U16),
	COL(struct fw_rule, from_cidr, COL_TEXT),
	COL(struct fw_rule, from_firewall_id, COL_TEXT),
	COL(struct fw_rule, created_at, COL_I64),
};
static const struct table rule_table = {"firewall_rules", "firewall rule", sizeof(struct fw_rule), rule_cols,
					 N_COLS(rule_cols), NULL, NULL, NULL};   /* events: rule_event, on the firewall */

static void rule_fill(struct q *q, void *out)
{
	struct fw_rule *r = out;
	table_read(q, &rule_table, r, 0);
	q_col_copy(q, rule_table.n_cols, r->from_firewall, sizeof(r->from_firewall));
}

/* The rule as rule_list reads it (with its source's name); *found false if it is gone. */
static int rule_get(struct cx *cx, const char *firewall_id, const char *rule_id, struct fw_rule *out, bool *found,
		    struct err *e)
{
	autofree char *cols = table_cols(&rule_table, "r.");
	autofree char *sql = xasprintf("SELECT %s, COALESCE(f.name, '') FROM firewall_rules r "
				       "LEFT JOIN firewalls f ON f.id = r.from_firewall_id "
				       "WHERE r.firewall_id = ?1 AND r.id = ?2",
				       cols);
	struct q *q = q_prep(cx, sql, e);
	if (!q)
		return -1;
	q_text(q, 1, firewall_id);
	q_text(q, 2, rule_id);
	int rc = q_step(q);
	*found = rc == DB_ROW;
	if (rc == DB_ROW)
		rule_fill(q, out);
	rc = rc == DB_ROW || rc == DB_DONE ? 0 : cx_fail(cx, e, "reading a rule");
	q_free(q);
	return rc;
}

/* "rule added: tcp 22 from 0.0.0.0/0" on the firewall, with the rule's id in the detail. */
static int rule_event(struct cx *cx, const struct fw_rule *r, const char *verb, struct err *e)
{
	struct row fw = {0};
	if (row_read(cx, &fw_table, r->firewall_id, &fw, e) < 0)
		return -1;
	char text[160];
	fw_rule_describe(r, text, sizeof(text));
	autofree char *what = xasprintf("rule %s: %s", verb, text);
	json_t *d = json_pack("{s:s}", "rule", r->id);
	autofree char *detail = json_dumps(d, JSON_COMPACT);
	json_decref(d);
	int rc = ev_add(cx, "firewall", r->firewall_id, row_get(&fw, "name"), what, detail, e);
	row_free(&fw);
	return rc;
}

static int rule_insert(struct cx *cx, const struct fw_rule *r, struct err *e)
{
	int n = 0;
	if (cx_count(cx, "SELECT COUNT(*) FROM firewall_rules WHERE firewall_id = ?1", r->firewall_id, NULL, NULL, &n,
		     e) < 0)
		return -1;
	if (n >= FIREWALL_RULES_MAX)
		return err_set(e, ERR_CONFLICT, "the firewall has %d rules, the most it may have", n);
	if (table_insert(cx, &rule_table, r, r->id, e) < 0)
		return -1;
	struct fw_rule stored;
	bool found = false;
	if (rule_get(cx, r->firewall_id, r->id, &stored, &found, e) < 0)
		return -1;
	return rule_event(cx, found ? &stored : r, "added", e);
}

int store_fw_rule_insert(struct store *st, const struct fw_rule *r, struct err *e)
{
	RUN(st, CX_WRITE, e, rule_insert(cx, r, e));
}

static int rule_list(struct cx *cx, const char *firewall_id, struct fw_rule **out, int *n, struct err *e)
{
	autofree char *cols = table_cols(&rule_table, "r.");
	autofree char *sql = xasprintf("SELECT %s, COALESCE(f.name, '') FROM firewall_rules r "
				       "LEFT JOIN firewalls f ON f.id = r.from_firewall_id "
				       "WHERE ?1 IS NULL OR r.firewall_id = ?1 ORDER BY r.created_at, r.id",
				       cols);
	struct q *q = q_prep(cx, sql, e);
	if (!q)
		return -1;
	q_text(q, 1, firewall_id);
	return q_all(q, sizeof(struct fw_rule), rule_fill, (void **)out, n, e);
}

int store_fw_rule_list(struct store *st, const char *firewall_id, struct fw_rule **out, int *n, struct err *e)
{
	RUN(st, CX_READ, e, rule_list(cx, firewall_id, out, n, e));
}

static int rule_delete(struct cx *cx, const char *firewall_id, const char *rule_id, struct err *e)
{
	struct fw_rule old;
	bool found = false;
	if (rule_get(cx, firewall_id, rule_id, &old, &found, e) < 0)
		return -1;
	struct q *q = q_prep(cx, "DELETE FROM firewall_rules WHERE firewall_id = ?1 AND id = ?2", e);
	if (!q)
		return -1;
	q_text(q, 1, firewall_id);
	q_text(q, 2, rule_id);
	if (q_step(q) != DB_DONE) {
		int rc = cx_fail(cx, e, "deleting a rule");
		q_free(q);
		return rc;
	}
	int64_t changed = q_changes(q);
	q_free(q);
	if (changed == 0)
		return err_set(e, ERR_NOT_FOUND, "rule \"%s\" does not exist in this firewall", rule_id);
	return found ? rule_event(cx, &old, "deleted", e) : 0;
}

int store_fw_rule_delete(struct store *st, const char *firewall_id, const char *rule_id, struct err *e)
{
	RUN(st, CX_WRITE, e, rule_delete(cx, firewall_id, rule_id, e));
}

/* --- port forwards -------------------------------------------------------- */

/* Like rules: the VM's name comes from a join, after the columns. */
static const struct col fwd_cols[] = {
	COL(struct forward, vm_id, COL_TEXT),
	COL_FN("proto", struct forward, proto, proto_text, proto_from, EV_NAMED),
	COL(struct forward, host_port, COL_U16),
	COL(struct forward, guest_port, COL_U16),
	COL(struct forward, created_at, COL_I64),
};
static const struct table fwd_table = {"forwards", "forward", sizeof(struct forward), fwd_cols, N_COLS(fwd_cols), NULL,
				       NULL, NULL};   /* events: fwd_event */

static void fwd_fill(struct q *q, void *out)
{
	struct forward *f = out;
	table_read(q, &fwd_table, f, 0);
	q_col_copy(q, fwd_table.n_cols, f->vm_name, sizeof(f->vm_name));
}

/* "added: 8080→80/tcp" on the forward's VM. */
static int fwd_event(struct cx *cx, const char *vm_id, enum proto proto, int host_port, int guest_port,
		     const char *verb, struct err *e)
{
	char name[NAME_MAX_LEN + 1] = "";
	struct q *q = q_prep(cx, "SELECT name FROM vms WHERE id = ?1", e);
	if (!q)
		return -1;
	q_text(q, 1, vm_id);
	int rc = q_step(q);
	if (rc == DB_ROW)
		q_col_copy(q, 0, name, sizeof(name));
	rc = rc == DB_ROW || rc == DB_DONE ? 0 : cx_fail(cx, e, "reading a VM's name");
	q_free(q);
	if (rc < 0)
		return -1;
	autofree char *what = guest_port ? xasprintf("%s: %d→%d/%s", verb, host_port, guest_port, proto_name(proto))
					 : xasprintf("%s: %d/%s", verb, host_port, proto_name(proto));
	return ev_add(cx, "forward", vm_id, name, what, NULL, e);
}

static int fwd_insert(struct cx *cx, const struct forward *f, struct err *e)
{
	if (table_insert(cx, &fwd_table, f, "", e) == 0)
		return fwd_event(cx, f->vm_id, f->proto, f->host_port, f->guest_port, "added", e);
	if (e && e->kind == ERR_CONFLICT)
		err_set(e, ERR_CONFLICT, "a forward of host port %u/%s already exists", f->host_port, proto_name(f->proto));
	return -1;
}

int store_forward_insert(struct store *st, const struct forward *f, struct err *e)
{
	RUN(st, CX_WRITE, e, fwd_insert(cx, f, e));
}

static int fwd_list(struct cx *cx, const char *vm_id, struct forward **out, int *n, struct err *e)
{
	autofree char *cols = table_cols(&fwd_table, "f.");
	autofree char *sql = xasprintf("SELECT %s, COALESCE(v.name, '') FROM forwards f LEFT JOIN vms v ON v.id = f.vm_id "
				       "WHERE ?1 IS NULL OR f.vm_id = ?1 ORDER BY f.host_port, f.proto",
				       cols);
	struct q *q = q_prep(cx, sql, e);
	if (!q)
		return -1;
	q_text(q, 1, vm_id);
	return q_all(q, sizeof(struct forward), fwd_fill, (void **)out, n, e);
}

int store_forward_list(struct store *st, const char *vm_id, struct forward **out, int *n, struct err *e)
{
	RUN(st, CX_READ, e, fwd_list(cx, vm_id, out, n, e));
}

static int fwd_delete(struct cx *cx, const char *vm_id, enum proto proto, int host_port, struct err *e)
{
	struct q *q = q_prep(cx, "DELETE FROM forwards WHERE vm_id = ?1 AND proto = ?2 AND host_port = ?3", e);
	if (!q)
		return -1;
	q_text(q, 1, vm_id);
	q_text(q, 2, proto_name(proto));
	q_int(q, 3, host_port);
	if (q_step(q) != DB_DONE) {
		int rc = cx_fail(cx, e, "deleting a forward");
		q_free(q);
		return rc;
	}
	int64_t changed = q_changes(q);
	q_free(q);
	if (changed == 0)
		return err_set(e, ERR_NOT_FOUND, "host port %d/%s is not forwarded to this VM", host_port,
			       proto_name(proto));
	return fwd_event(cx, vm_id, proto, host_port, 0, "deleted", e);
}

int store_forward_delete(struct store *st, const char *vm_id, enum proto proto, int host_port, struct err *e)
{
	RUN(st, CX_WRITE, e, fwd_delete(cx, vm_id, proto, host_port, e));
}
