/*
 * store: where the truth lives. Every resource row holds its spec and its
 * last observed status; nubod can die at any instant and converge from here.
 *
 * Written once over a small driver (driver.h) chosen at store_open(): SQLite
 * (a file, the default) or PostgreSQL (a postgres:// connection string).
 * Calls are safe from any thread; each borrows a connection of a small pool.
 * Getters fill caller-owned structs whose heap fields the caller frees
 * (vm_free_fields, …). A database that cannot be reached is ERR_UNAVAILABLE.
 *
 * Lookups by "ref" accept a name or an id.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "model/event.h"
#include "model/firewall.h"
#include "model/group.h"
#include "model/host.h"
#include "model/lb.h"
#include "model/image.h"
#include "model/network.h"
#include "model/operation.h"
#include "model/snapshot.h"
#include "model/token.h"
#include "model/metrics.h"
#include "model/usage.h"
#include "model/vm.h"
#include "model/volume.h"
#include "util/err.h"

struct store;

/* target: a SQLite file, or postgres://user@host/db (any libpq connection
 * URI). Brings the schema up to date before it returns. */
int store_open(const char *target, struct store **out, struct err *e);
void store_close(struct store *st);
/* Whether target is a PostgreSQL connection URI (postgres://, postgresql://). */
bool store_target_is_pg(const char *target);
/* "sqlite" or "postgresql". */
const char *store_engine(const struct store *st);
/* The target as logs and messages may show it: without a password. */
const char *store_target_shown(const struct store *st);

/* A write transaction: everything between begin and end is atomic and no
 * other writer interleaves, in this process or (PostgreSQL) any other, so
 * admission checks read what they write against. The thread's store calls
 * in between run in it. end commits when ok, else rolls back. */
int store_tx_begin(struct store *st, struct err *e);
int store_tx_end(struct store *st, bool ok, struct err *e);

/* Runs fn(arg, key) once the calling thread's transaction commits (never if
 * it rolls back), or at once if the thread holds none: what is told then
 * (e.g. "operation X changed") is what other threads can already read. */
void store_after_commit(struct store *st, void (*fn)(void *arg, const char *key), void *arg, const char *key);

/* A number that changes whenever any row of the store changed, by this
 * process or another: equal numbers mean nothing was written in between.
 * Cheap; for reconcilers that skip work when nothing changed. */
int64_t store_change_count(struct store *st);

/* VMs */
int store_vm_insert(struct store *st, const struct vm *vm, struct err *e);   /* name taken: ERR_CONFLICT */
int store_vm_get(struct store *st, const char *ref, struct vm *out, struct err *e); /* ERR_NOT_FOUND */
int store_vm_list(struct store *st, struct vm **out, int *n, struct err *e);
/* Every VM with its NICs and firewalls, but of its row only id, name, power,
 * state and host (the rest left zero): for the firewall rules and the
 * segments between hosts, which read every VM at each change. */
int store_vm_list_brief(struct store *st, struct vm **out, int *n, struct err *e);
/* Every VM's id, name, host and move_to only (no NICs or firewalls), by id. */
int store_vm_list_places(struct store *st, struct vm **out, int *n, struct err *e);  /* ordered by name */
/* At most limit VMs whose names sort after after (NULL: from the start), by
 * name; *more says whether others follow. The cost follows limit, not the
 * number of VMs. */
int store_vm_page(struct store *st, const char *after, int limit, struct vm **out, int *n, bool *more,
		  struct err *e);
/* The same page as ids, names and revisions only. A VM's revision changes
 * whenever anything its JSON shows changes (its row, NICs or firewalls). */
struct vm_rev {
	char id[ID_MAX];
	char name[NAME_MAX_LEN + 1];
	int64_t rev;
};
int store_vm_page_revs(struct store *st, const char *after, int limit, struct vm_rev **out, int *n, bool *more,
		       struct err *e);
/* The ids and revisions of host's VMs, in no order (name left empty): what
 * the reconciler compares with its copies to read again only what changed. */
int store_vm_revs_on(struct store *st, const char *host, struct vm_rev **out, int *n, struct err *e);
/* The VM whose NIC on network_id has ip (one query, however many VMs). */
int store_vm_by_nic(struct store *st, const char *network_id, const char *ip, struct vm *out, struct err *e);
/* The VMs with these ids that exist, in id order, with NICs and firewalls. */
int store_vm_get_many(struct store *st, const char *const *ids, int n_ids, struct vm **out, int *n, struct err *e);
int store_vm_update(struct store *st, const struct vm *vm, struct err *e);   /* whole row by id */
/* What a reconciler saves: the status always; power, reboot and force_stop
 * only if the spec's generation is still vm->generation (the API did not
 * change it meanwhile). *spec_saved (may be NULL) says which happened. A
 * row that is gone is success. */
int store_vm_save_status(struct store *st, const struct vm *vm, bool *spec_saved, struct err *e);
int store_vm_delete(struct store *st, const char *id, struct err *e);
/* Sum of vCPUs and memory held by VMs (vm_holds_capacity) on host (NULL:
 * every host), excluding exclude_id (may be NULL). */
int store_vm_usage(struct store *st, const char *host, const char *exclude_id, int *vcpus, int *memory_mib,
		   struct err *e);
/* Records the files of a VM's move to move_to (ctl/moves.c), if that move
 * is still the VM's; nothing else of the row is touched. */
int store_vm_move_files_set(struct store *st, const char *id, const char *move_to, const char *files, struct err *e);
/* members[i]: how many VMs of spread group group are on host hs[i]. */
int store_spread_members(struct store *st, const char *group, const struct host *hs, int n, int *members,
			 struct err *e);
/* The VMs on host, as store_vm_list. */
int store_vm_list_on(struct store *st, const char *host, struct vm **out, int *n, struct err *e);
/* The NICs on network_id of host's VMs that are not deleted, for its DHCP
 * reservations: by VM id, then NIC. */
struct vm_reservation {
	char vm_name[NAME_MAX_LEN + 1];
	char ip[16], mac[18];
	bool secondary;   /* not the VM's first NIC */
};
int store_vm_reservations(struct store *st, const char *network_id, const char *host, struct vm_reservation **out,
			  int *n, struct err *e);
/* Whether ip is held by a NIC on the network, or is a load balancer's address on it. */
int store_ip_taken(struct store *st, const char *network_id, const char *ip, bool *taken, struct err *e);
/* Every address held on the network (its NICs' and its balancers'), in one
 * query: admission picks a free one from them without a query per address. */
struct ip_text {
	char ip[16];
};
int store_ips_taken(struct store *st, const char *network_id, struct ip_text **out, int *n, struct err *e);
int store_mac_taken(struct store *st, const char *mac, bool *taken, struct err *e);
/* Replaces the VM's firewall memberships (in this order). */
int store_vm_set_firewalls(struct store *st, const char *vm_id, const struct vm_firewall *fws, int n,
			   struct err *e);
int store_vm_count_by_image(struct store *st, const char *image_id, int *n, struct err *e);

/* Operations */
int store_op_insert(struct store *st, const struct operation *op, struct err *e);
int store_op_get(struct store *st, const char *id, struct operation *out, struct err *e);
int store_op_update(struct store *st, const struct operation *op, struct err *e);

/* Images */
int store_image_insert(struct store *st, const struct image *img, struct err *e);
int store_image_get(struct store *st, const char *ref, struct image *out, struct err *e);
int store_image_list(struct store *st, struct image **out, int *n, struct err *e);
int store_image_update(struct store *st, const struct image *img, struct err *e);
int store_image_delete(struct store *st, const char *id, struct err *e);

/* Volumes */
int store_volume_insert(struct store *st, const struct volume *v, struct err *e);
int store_volume_get(struct store *st, const char *ref, struct volume *out, struct err *e);
int store_volume_list(struct store *st, struct volume **out, int *n, struct err *e);
int store_volume_update(struct store *st, const struct volume *v, struct err *e);
int store_volume_delete(struct store *st, const char *id, struct err *e);

/* Snapshots (listed oldest first) */
int store_snapshot_insert(struct store *st, const struct snapshot *sn, struct err *e);
int store_snapshot_get(struct store *st, const char *ref, struct snapshot *out, struct err *e);
int store_snapshot_list(struct store *st, struct snapshot **out, int *n, struct err *e);
int store_snapshot_update(struct store *st, const struct snapshot *sn, struct err *e);
int store_snapshot_delete(struct store *st, const char *id, struct err *e);

/* Networks */
int store_network_insert(struct store *st, const struct network *net, struct err *e);
int store_network_get(struct store *st, const char *ref, struct network *out, struct err *e);
int store_network_list(struct store *st, struct network **out, int *n, struct err *e);
int store_network_delete(struct store *st, const char *id, struct err *e);
int store_network_mark_deleted(struct store *st, const char *id, struct err *e);
/* The network's VNI (network.h), given now if it has none yet. */
int store_network_vni_ensure(struct store *st, const char *id, int *vni, struct err *e);
int store_network_nic_count(struct store *st, const char *network_id, int *n, struct err *e);

/* Firewalls and their rules. Deleting a firewall deletes its rules. */
int store_firewall_insert(struct store *st, const struct firewall *fw, struct err *e);
int store_firewall_get(struct store *st, const char *ref, struct firewall *out, struct err *e);
int store_firewall_list(struct store *st, struct firewall **out, int *n, struct err *e);
int store_firewall_delete(struct store *st, const char *id, struct err *e);
/* VMs in it, and rules of other firewalls that name it as their source. */
int store_firewall_usage(struct store *st, const char *id, int *members, int *referencing_rules, struct err *e);
int store_fw_rule_insert(struct store *st, const struct fw_rule *r, struct err *e);
/* firewall_id NULL: every firewall's rules. Oldest first. */
int store_fw_rule_list(struct store *st, const char *firewall_id, struct fw_rule **out, int *n, struct err *e);
int store_fw_rule_delete(struct store *st, const char *firewall_id, const char *rule_id, struct err *e);

/* Port forwards; (proto, host_port) is unique on the host: a taken one is ERR_CONFLICT. */
int store_forward_insert(struct store *st, const struct forward *f, struct err *e);
/* vm_id NULL: every forward. */
int store_forward_list(struct store *st, const char *vm_id, struct forward **out, int *n, struct err *e);
int store_forward_delete(struct store *st, const char *vm_id, enum proto proto, int host_port, struct err *e);

/* API tokens (listed by name). Deleting one revokes it at once. */
int store_token_insert(struct store *st, const struct token *t, struct err *e);   /* name taken: ERR_CONFLICT */
int store_token_get(struct store *st, const char *ref, struct token *out, struct err *e);
int store_token_list(struct store *st, struct token **out, int *n, struct err *e);
int store_token_delete(struct store *st, const char *id, struct err *e);
/* Records that the token was used at when_ms; a token that is gone is success. */
int store_token_touch(struct store *st, const char *id, int64_t when_ms, struct err *e);

/* Web console sessions (store/sessions.c); never in the event log. Insert
 * also drops every session that has expired. Get finds a session by the
 * hash of its cookie only while it has not expired and its token still
 * exists, else ERR_NOT_FOUND. Deleting a session that is gone is success. */
int store_session_insert(struct store *st, const struct session *s, struct err *e);
int store_session_get(struct store *st, const char *hash, int64_t now_ms, struct session *out, struct err *e);
int store_session_delete(struct store *st, const char *id, struct err *e);

/* The event log: every change of a resource's spec or status is a row,
 * written in the transaction of the change, numbered in commit order. */
struct event_query {
	int64_t after;      /* events with a higher number */
	const char *kind;   /* NULL: every kind */
	const char *name;   /* NULL: every name */
	int limit;          /* at most this many */
};
/* The matching events, oldest first, and *last_seq: the number to ask
 * after next time (past events that did not match, but never past one
 * that was not read). Free *out with event_list_free. */
int store_events_list(struct store *st, const struct event_query *q, struct event **out, int *n, int64_t *last_seq,
		      struct err *e);
/* Whether the log (as far back as it is kept) says resource id of kind
 * had what happen to it ("deleted"). */
int store_event_seen(struct store *st, const char *kind, const char *id, const char *what, bool *seen, struct err *e);
/* The newest event's number (0: none). */
int store_events_last_seq(struct store *st, int64_t *seq, struct err *e);
/* Deletes events older than before_ms; *n (may be NULL) says how many. */
int store_events_prune(struct store *st, int64_t before_ms, int *n, struct err *e);
/* Deletes finished operations whose target no longer exists and that
 * finished before finished_before_ms. */
int store_ops_prune(struct store *st, int64_t finished_before_ms, int *n, struct err *e);
/* Calls fn(arg) whenever events may have been appended: after this process
 * commits a change, and on PostgreSQL when any nubod on the database does
 * (LISTEN nubo_events, on a connection and thread of the store's own), and
 * after that connection was lost and is back. A wake-up only: read the log
 * on from the last number seen. fn must be quick and must not call the
 * store; NULL removes it. */
void store_set_event_hook(struct store *st, void (*fn)(void *arg), void *arg);

/* Load balancers (store/lbs.c). Inserting one inserts its listeners and
 * targets in the same transaction; deleting one deletes them. Targets are
 * listed by name ("web/web1:8080"); lb_id NULL: every balancer's. */
int store_lb_insert(struct store *st, const struct lb *lb, const struct lb_listener *ls, int n_ls,
		    const struct lb_target *ts, int n_ts, struct err *e);   /* name or target taken: ERR_CONFLICT */
int store_lb_get(struct store *st, const char *ref, struct lb *out, struct err *e);   /* ERR_NOT_FOUND */
int store_lb_list(struct store *st, struct lb **out, int *n, struct err *e);         /* by name */
int store_lb_update(struct store *st, const struct lb *lb, struct err *e);
/* failing_open, or drain_ms, written over the row as it is now (lb gets the
 * whole row as written); neither undoes the other's concurrent write. */
int store_lb_set_failing_open(struct store *st, const struct lb *lb, struct err *e);
int store_lb_set_drain(struct store *st, struct lb *lb, struct err *e);
int store_lb_delete(struct store *st, const char *id, struct err *e);
/* A delete's first step, in one transaction: the balancer marked deleted,
 * each target draining with a deadline of now (or its earlier one); *gone
 * when it had no target, and its rows are deleted at once instead. */
int store_lb_mark_deleted(struct store *st, const char *id, int64_t now, bool *gone, struct err *e);
int store_lb_listener_list(struct store *st, const char *lb_id, struct lb_listener **out, int *n, struct err *e);
int store_lb_target_list(struct store *st, const char *lb_id, struct lb_target **out, int *n, struct err *e);
int store_lb_target_insert(struct store *st, const struct lb_target *t, struct err *e);
int store_lb_target_update(struct store *st, const struct lb_target *t, struct err *e);
int store_lb_target_delete(struct store *st, const char *id, struct err *e);
/* A target's health (health, health_since, reason), or its state and drain
 * deadline, written over its row as it is now: the checker and a removal
 * never undo each other's write. Gone: ERR_NOT_FOUND. */
int store_lb_target_set_health(struct store *st, const struct lb_target *t, struct err *e);
int store_lb_target_set_state(struct store *st, const struct lb_target *t, struct err *e);
/* A VM going away: each of its targets that is active starts draining
 * (until now + its balancer's drain time; *started: how many did); *left:
 * how many of its targets are draining still (0: none is left). */
int store_lb_targets_drain_vm(struct store *st, const char *vm_id, int64_t now, int *started, int *left,
			      struct err *e);
/* Who holds host port port: a port forward (either protocol; looked for
 * only with forwards), or a listener of a balancer on the host's ports
 * other than except_lb (an id, or NULL). out gets "a port forward to VM
 * web1 (tcp, …)" or "load balancer web", or "" when the port is free. */
int store_host_port_owner(struct store *st, uint16_t port, const char *except_lb, bool forwards, char *out, size_t n,
			  struct err *e);
/* Balancers whose VIP is on the network, and how many of them are being deleted. */
int store_lb_count_on_network(struct store *st, const char *network_id, int *n, int *deleting, struct err *e);

/* Auto-scaling groups and their members (store/groups.c). Free a group's
 * fields with group_free_fields (group_list_free for lists). */
int store_group_insert(struct store *st, const struct scaling_group *g, struct err *e);   /* name taken: ERR_CONFLICT */
int store_group_get(struct store *st, const char *ref, struct scaling_group *out, struct err *e);   /* ERR_NOT_FOUND */
int store_group_list(struct store *st, struct scaling_group **out, int *n, struct err *e);         /* by name */
int store_group_update(struct store *st, const struct scaling_group *g, struct err *e);
/* A decision: the group as changed and an event (what; detail a JSON object
 * as text, or NULL) in one transaction, so no decision is acted on unrecorded. */
int store_group_decide(struct store *st, const struct scaling_group *g, const char *what, const char *detail, struct err *e);
/* An event of the group (kind "group") on its own. */
int store_group_event(struct store *st, const char *id, const char *name, const char *what, const char *detail,
		      struct err *e);
/* Only once it has no member left (else ERR_CONFLICT). */
int store_group_delete(struct store *st, const char *id, struct err *e);
int store_member_insert(struct store *st, const struct group_member *m, struct err *e);   /* VM name taken: ERR_CONFLICT */
int store_member_update(struct store *st, const struct group_member *m, struct err *e);
int store_member_delete(struct store *st, const char *id, struct err *e);
/* group_id NULL: every group's; oldest first. Free *out. */
int store_member_list(struct store *st, const char *group_id, struct group_member **out, int *n, struct err *e);
/* By the member's id, or its VM's name or id (ERR_NOT_FOUND: the VM belongs to no group). */
int store_member_get(struct store *st, const char *vm_ref, struct group_member *out, struct err *e);
/* A group's lease: which host's nubod acts on the group (ctl/groups.c), and
 * until when. */
struct group_lease {
	char host[NAME_MAX_LEN + 1];   /* "" when none ever held it or it was given up */
	int64_t until;                 /* ms since the epoch: void after it */
	bool held;                     /* host holds it, until until_ms */
};
/* Takes or renews the lease of the group for host until until_ms: when no
 * host holds it, its holder's lease lapsed (until <= now_ms), or host holds
 * it already. Either way out says who holds it after the call. One write
 * transaction (or part of the caller's), and no event. ERR_NOT_FOUND: the
 * group is gone. */
int store_group_lease(struct store *st, const char *group_id, const char *host, int64_t now_ms, int64_t until_ms,
		      struct group_lease *out, struct err *e);
/* Gives up every group lease host holds (its nubod stops): another host's
 * nubod takes them at its next look. */
int store_group_lease_release(struct store *st, const char *host, struct err *e);

/* Stacks (store/stacks.c): what each stack owns and who is applying it. */
struct stack_state {
	char name[NAME_MAX_LEN + 1];
	int64_t serial;          /* bumped by every apply, destroy or adopt that changed what it owns */
	char lease[ID_MAX];      /* the apply holding the stack, or "" */
	int64_t lease_until;     /* ms since the epoch: the lease is void after it */
	int64_t created_at, applied_at;
};
/* A resource a stack owns. state "creating": the stack asked for it and the
 * outcome was not recorded (nubod or the apply stopped in between); the
 * resource of that name, if there is one, is the stack's. */
struct stack_owned {
	char kind[16];           /* stack_kind_name() */
	char name[NAME_MAX_LEN + 1];
	char stack[NAME_MAX_LEN + 1];
	char id[ID_MAX];         /* "" while creating */
	char *spec;              /* JSON: the normalized spec it was last applied from */
	char state[16];          /* creating | ready */
};
void stack_owned_list_free(struct stack_owned *r, int n);
int store_stack_get(struct store *st, const char *name, struct stack_state *out, struct err *e);   /* ERR_NOT_FOUND */
int store_stack_list(struct store *st, struct stack_state **out, int *n, struct err *e);           /* by name */
int store_stack_insert(struct store *st, const struct stack_state *s, struct err *e);
int store_stack_update(struct store *st, const struct stack_state *s, struct err *e);
int store_stack_delete(struct store *st, const char *name, struct err *e);
/* stack NULL: every stack's resources. By kind, then name. */
int store_owned_list(struct store *st, const char *stack, struct stack_owned **out, int *n, struct err *e);
int store_owned_get(struct store *st, const char *kind, const char *name, struct stack_owned *out, struct err *e);
/* Inserts or replaces the row of (kind, name). */
int store_owned_put(struct store *st, const struct stack_owned *r, struct err *e);
int store_owned_delete(struct store *st, const char *kind, const char *name, struct err *e);

/* Usage and cost (store/usage.c). Spans are opened and closed by the
 * store itself, in the transaction of each change of a VM, volume,
 * snapshot or image (see usage.c); these are the rest. */
/* The prices the meters charge from now on (copied). Until called: the
 * default storage prices, and VMs at no cost. */
void store_usage_set_prices(struct store *st, const struct usage_prices *p, const struct type_catalog *types);
/* Runs every meter once: opens what is missing (resources older than the
 * meters), closes what is gone, and splits open spans whose price changed. */
int store_usage_sync(struct store *st, struct err *e);
/* Marks the open runs of every VM on host the store holds as running as
 * seen at now: call after a pass that checked each one's QEMU. */
int store_usage_seen(struct store *st, int64_t now, const char *host, struct err *e);
/* The spans that overlap [from, to), oldest first; ids (n_ids of them) NULL:
 * of every resource. Free *out. */
int store_usage_spans(struct store *st, int64_t from, int64_t to, const char *const *ids, int n_ids,
		      struct usage_span **out, int *n, struct err *e);
/* The monthly budget (0: none); setting it records an event (kind budget). */
int store_budget_get(struct store *st, double *monthly, struct err *e);
int store_budget_set(struct store *st, double monthly, struct err *e);

/* Metrics (store/metrics.c): each VM's sampled history and idle stop policy. */
struct metrics_row {
	char vm_id[ID_MAX];
	struct metric_sample s;
};
/* Records rows at resolution step (a row already there is replaced). */
int store_metrics_add(struct store *st, const struct metrics_row *rows, int n, int64_t step, struct err *e);
/* Makes (again) the coarse_step rows of the whole buckets in [from, to)
 * from the fine_step rows: averages of gauges, sums of intervals. */
int store_metrics_rollup(struct store *st, int64_t fine_step, int64_t coarse_step, int64_t from, int64_t to,
			 struct err *e);
/* Deletes the rows of resolution step older than before, and the idle
 * policies of VMs that are gone. */
int store_metrics_prune(struct store *st, int64_t step, int64_t before, struct err *e);
/* vm_id's rows of resolution table_step since (unix ms), merged into
 * buckets of step, oldest first. Free *out. */
int store_metrics_series(struct store *st, const char *vm_id, int64_t table_step, int64_t step, int64_t since,
			 struct metric_sample **out, int *n, struct err *e);
struct idle_row {
	char vm_id[ID_MAX];
	struct idle_policy p;
};
/* Every VM's own policy. Free *out. */
int store_idle_list(struct store *st, struct idle_row **out, int *n, struct err *e);
/* Sets (p NULL: removes) vm_id's policy, with an event saying so. */
int store_idle_set(struct store *st, const char *vm_id, const char *vm_name, const struct idle_policy *p,
		   struct err *e);
/* An event of a VM (kind "vm") on its own: what, and detail (a JSON object as text, or NULL). */
int store_vm_event(struct store *st, const char *vm_id, const char *vm_name, const char *what, const char *detail,
		   struct err *e);

/* Hosts (store/hosts.c), by name, each with its use (VMs holding
 * capacity) and its number of VMs. */
int store_host_list(struct store *st, struct host **out, int *n, struct err *e);
int store_host_get(struct store *st, const char *ref, struct host *out, struct err *e);   /* ERR_NOT_FOUND */
/* Writes h's row at its nubod's start (by name; a known host keeps its id,
 * drain and prefix, which h gets back) and brings its VMs back from
 * unknown. only_host (SQLite): every VM is this host's and other rows go;
 * else the first host to register takes the VMs made before hosts existed. */
int store_host_register(struct store *st, struct host *h, bool only_host, struct err *e);
/* Renews the host's heartbeat; *came_back says it was marked down and its
 * VMs were unknown until now. A removed host is ERR_NOT_FOUND. */
int store_host_heartbeat(struct store *st, const char *name, int64_t now_ms, bool *came_back, struct err *e);
/* Marks down every up host whose heartbeat is older than before_ms, with
 * its VMs' state unknown; *names (may be NULL; caller frees each and the
 * array) gets theirs. */
int store_hosts_mark_down(struct store *st, int64_t before_ms, char ***names, int *n, struct err *e);
int store_host_set_draining(struct store *st, const char *ref, bool draining, struct host *out, struct err *e);
/* Removes a host that holds no VM and has not beaten since
 * alive_after_ms (ERR_CONFLICT otherwise); out gets it as it was. */
int store_host_remove(struct store *st, const char *ref, int64_t alive_after_ms, struct host *out, struct err *e);

/* Small settings that belong to this store (e.g. the host-object prefix). */
int store_meta_get(struct store *st, const char *key, char **value, struct err *e); /* *value NULL if unset */
int store_meta_set(struct store *st, const char *key, const char *value, struct err *e);
/* The value of key, set to value first if it had none (two hosts racing
 * both read the one that won). Caller frees *out. */
int store_meta_init(struct store *st, const char *key, const char *value, char **out, struct err *e);

/* Image copies (store/copies.c): the hosts holding an image's whole files. */
int store_image_copy_set(struct store *st, const char *image_id, const char *host, bool have, struct err *e);
/* The hosts holding image_id, by name, NULL-terminated; free with store_strv_free. */
int store_image_copies(struct store *st, const char *image_id, char ***hosts, int *n, struct err *e);
void store_strv_free(char **v);
