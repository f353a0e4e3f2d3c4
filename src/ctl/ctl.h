/*
 * ctl: nubod's control layer. The API calls it to change specs (create a VM,
 * stop it, build an image); its reconcilers, on their own thread, compare
 * each spec with what runs on the host and take idempotent steps toward it.
 *
 * The one idea: the store holds the truth and every step can be repeated, so
 * nubod may die at any instant and the next nubod converges from the store.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "ctl/config.h"
#include "model/firewall.h"
#include "model/group.h"
#include "model/image.h"
#include "model/lb.h"
#include "model/metrics.h"
#include "model/network.h"
#include "model/operation.h"
#include "model/vm.h"
#include "store/store.h"
#include "util/err.h"

struct ctl;
struct host_ops;

struct ctl_options {
	const char *state_dir;
	const char *recipes_dir;   /* images/<recipe>/build.sh */
	const char *accel;         /* "auto", "kvm" or "tcg" */
	const char *host_name;     /* NULL: config host_name, else the machine's hostname */
	const char *advertise;     /* NULL: config advertise */
	const char *version;       /* nubod's, recorded in the host's row; NULL: none */
	/* nubod's TCP listeners (--listen HOST:PORT with TLS, --listen-http on
	 * loopback), NULL for none: other hosts fetch this one's image files
	 * from the first, at https://ADVERTISE:PORT, or else from the second */
	const char *listen, *listen_http;
	const char *tls_cert;      /* --listen's certificate: its key's pin goes in the host's row */
	const struct host_ops *host;   /* how the host is reached (host/hostops.h); NULL: hostops_real */
	struct config config;      /* moved into the ctl; do not free */
};

int ctl_open(struct store *st, struct ctl_options *o, struct ctl **out, struct err *e);
/* Starts the reconciler thread. */
int ctl_start(struct ctl *c, struct err *e);
/* Stops the thread (VMs keep running) and frees c. */
void ctl_close(struct ctl *c);
/* Wakes the reconciler now instead of at its next tick. */
void ctl_kick(struct ctl *c);
/* Stops every VM now, removes every host object nubo made (taps, dnsmasq,
 * bridges, the nftables table) and the state directory's contents. */
int ctl_destroy_all(struct ctl *c, struct err *e);

/* The key ctl's listener is told when events were appended to the log. */
#define CTL_EVENTS_KEY "events"

/* Calls fn(arg, op_id) after each change this nubod stores to an operation
 * (a phase, progress, its end), on the thread that made it, and again when
 * the event log shows that any nubod changed it; fn(arg, CTL_EVENTS_KEY)
 * when events were appended. fn must be quick and must not call into ctl.
 * One listener at a time; fn NULL removes it, and returns once no call to
 * the old one is running. */
void ctl_set_op_listener(struct ctl *c, void (*fn)(void *arg, const char *op_id), void *arg);

struct store *ctl_store(struct ctl *c);
const struct type_catalog *ctl_types(struct ctl *c);
const char *ctl_state_dir(struct ctl *c);

/* Volumes (ctl/volumes.c). attach and detach set *accepted false when there was nothing to do. */
/* size NULL with from_snapshot: a copy of a volume snapshot, as large as it. */
int ctl_volume_create(struct ctl *c, const char *name, const char *size, const char *from_snapshot, struct volume *v,
		      struct operation *op, struct err *e);
int ctl_volume_attach(struct ctl *c, const char *ref, const char *vm_ref, struct volume *v, struct operation *op,
		      bool *accepted, struct err *e);
int ctl_volume_detach(struct ctl *c, const char *ref, struct volume *v, struct operation *op, bool *accepted,
		      struct err *e);
int ctl_volume_delete(struct ctl *c, const char *ref, struct volume *v, struct operation *op, struct err *e);

/* Snapshots (ctl/snapshots.c). name NULL: "<vm>-<id>". */
int ctl_snapshot_create(struct ctl *c, const char *vm_ref, const char *name, struct snapshot *sn,
			struct operation *op, struct err *e);
int ctl_snapshot_create_volume(struct ctl *c, const char *vol_ref, const char *name, struct snapshot *sn,
			       struct operation *op, struct err *e);
int ctl_snapshot_delete(struct ctl *c, const char *ref, struct snapshot *sn, struct operation *op, struct err *e);
/* Rolls a stopped VM's disk back to one of its snapshots. */
int ctl_vm_restore(struct ctl *c, const char *vm_ref, const char *snap_ref, struct vm *vm, struct operation *op,
		   struct err *e);

/* Networks (ctl/networks.c). Delete is refused (409) while NICs use it. */
int ctl_network_create(struct ctl *c, const char *name, const char *cidr, bool nat, struct network *net,
		       struct err *e);
int ctl_network_delete(struct ctl *c, const char *ref, struct network *net, struct err *e);

/* Load balancers (ctl/lbs.c). Each call returns once the ruleset carries
 * the change (or after 3 s; see ctl_rules_changed_wait). */
struct ctl_lb_request {
	const char *name;
	const char *network;                  /* NULL: "default" */
	const char *const *listen;            /* "80", "443:8443" */
	int n_listen;
	const char *const *targets;           /* "web1", "web2:8080" */
	int n_targets;
	const char *check, *interval, *timeout, *algorithm;   /* NULL: defaults */
	int rise, fall;                       /* -1: defaults */
	const char *drain;                    /* "30s", "0"; NULL: the default (30 s) */
	bool host_port;                       /* the listeners' ports are host ports too */
};
int ctl_lb_create(struct ctl *c, const struct ctl_lb_request *r, struct lb *out, struct err *e);
/* Takes the balancer out of the rules at once and starts ending the
 * connections made through it: out is the balancer as marked (deleted, its
 * targets draining with a deadline of now), and each host's checker cuts
 * them, then the rows go. *gone: it had no target and is gone already. */
int ctl_lb_delete(struct ctl *c, const char *ref, struct lb *out, bool *gone, struct err *e);
/* target: "VM" or "VM:PORT"; already there: 409. */
int ctl_lb_target_add(struct ctl *c, const char *ref, const char *target, struct lb_target *out, struct err *e);
/* Changes what may change after create: the drain time (drain, as
 * lb_drain_parse reads it; NULL: unchanged). */
int ctl_lb_set(struct ctl *c, const char *ref, const char *drain, struct lb *out, struct err *e);
/* The target leaves the rotation and drains (the balancer's drain time);
 * not a target, or draining already: 404. */
int ctl_lb_target_remove(struct ctl *c, const char *ref, const char *target, struct err *e);
/* Fills each target's connections with the checker's last count (0 before
 * the first, and in dry-run). */
void ctl_lb_connections(struct ctl *c, struct lb_target *ts, int n);

/* Auto-scaling groups (ctl/groups-api.c). The calls write the spec; the groups'
 * reconciler makes, joins, drains and deletes the VMs. */
struct ctl_group_request {
	const char *name, *image, *type, *network;   /* NULL: tiny, small, default */
	const char *const *firewalls;                /* none: "default" */
	int n_firewalls;
	const char *const *ssh_keys;
	int n_ssh_keys;
	const char *ssh_key_file, *user_data;
	int min_size, max_size, desired;             /* desired -1: min */
	const char *lb;                              /* "web" or "web:8080"; NULL: none */
	int target_cpu;                              /* 0: no target tracking */
	const char *grace, *warmup, *cooldown, *drain;   /* NULL: defaults */
};
int ctl_group_create(struct ctl *c, const struct ctl_group_request *r, struct scaling_group *out, struct err *e);
/* New sizes (-1: keep each); target_cpu -1: keep, 0: off. */
int ctl_group_set(struct ctl *c, const char *ref, int min_size, int max_size, int desired, int target_cpu,
		  struct scaling_group *out, struct err *e);
/* A new template (image and/or type; NULL: keep): the VMs are replaced one
 * at a time, never leaving fewer than min healthy. */
int ctl_group_update(struct ctl *c, const char *ref, const char *image, const char *type, struct scaling_group *out,
		     struct err *e);
/* Marks the group deleted: its VMs go, then the group. */
int ctl_group_delete(struct ctl *c, const char *ref, struct scaling_group *out, struct err *e);
/* The group with its members, each with its VM's state and health; caller decrefs. */
int ctl_group_show(struct ctl *c, const char *ref, json_t **out, struct err *e);
int ctl_group_list(struct ctl *c, json_t **out, struct err *e);
/* Exempts a group's VM from scale-in (or no longer); ERR_NOT_FOUND when the VM belongs to no group. */
int ctl_vm_protect(struct ctl *c, const char *vm_ref, bool on, struct group_member *out, struct err *e);

/* Firewalls and port forwards (ctl/firewalls.c). Every change is in force
 * within a reconciler tick. */
int ctl_firewall_create(struct ctl *c, const char *name, const char *description, struct firewall *fw,
			struct err *e);
int ctl_firewall_delete(struct ctl *c, const char *ref, struct err *e);
/* proto "tcp"|"udp"|"icmp"|"all"; port NULL: all; from (CIDR) or from_firewall (members), not both. */
int ctl_firewall_rule_add(struct ctl *c, const char *fw_ref, const char *proto, const char *port, const char *from,
			  const char *from_firewall, struct fw_rule *r, struct err *e);
int ctl_firewall_rule_delete(struct ctl *c, const char *fw_ref, const char *rule_id, struct err *e);
/* Replaces the VM's firewalls; vm gets the VM as it is now. */
int ctl_vm_set_firewalls(struct ctl *c, const char *vm_ref, const char *const *refs, int n, struct vm *vm,
			 struct err *e);
/* map: "8080:80[/tcp|udp]"; a host port taken by nubo or a program on the host: 409. */
int ctl_vm_expose(struct ctl *c, const char *vm_ref, const char *map, struct forward *f, struct err *e);
/* proto NULL: tcp. */
int ctl_vm_unexpose(struct ctl *c, const char *vm_ref, const char *host_port, const char *proto, struct err *e);

/* Stacks (ctl/stacks.c, ctl/stackplan.c). doc is a stack document
 * (model/stack.h); errors about it start with the field's path. An apply is
 * a lease (lock), steps that each move one resource one step toward the
 * document, and the lease's release (unlock): each step is computed afresh
 * from the store, so an apply cut off anywhere continues at the next. */
#define STACK_LEASE_MS (10 * 60 * 1000)
/* The plan as JSON (stackplan_to_json); caller decrefs. */
int ctl_stack_plan(struct ctl *c, const char *name, const json_t *doc, json_t **plan, struct err *e);
/* Takes the stack's lease (409 while another apply holds it). saved, a plan
 * from ctl_stack_plan or NULL, must still be the plan: 409 if the stack or
 * what it owns changed since. *plan is the plan now; lease gets the lease. */
int ctl_stack_lock(struct ctl *c, const char *name, const json_t *doc, const json_t *saved, char lease[ID_MAX],
		   json_t **plan, struct err *e);
/* One move of resource ("vm/web") in phase ("delete" or "create"):
 * *result is {done, did, operation?}: did says what was done ("" if
 * nothing); with an operation the caller follows it; done false: call again. */
int ctl_stack_step(struct ctl *c, const char *name, const char *lease, const json_t *doc, const char *resource,
		   const char *phase, json_t **result, struct err *e);
int ctl_stack_unlock(struct ctl *c, const char *name, const char *lease, struct err *e);
/* Makes an existing resource ("vm/web") the stack's, as it is now. */
int ctl_stack_adopt(struct ctl *c, const char *name, const char *resource, struct err *e);
/* {name, serial, applied_at, locked, resources: [{kind, name, id, state, exists, spec}]}; list: [{name, …}] */
int ctl_stack_show(struct ctl *c, const char *name, json_t **out, struct err *e);
int ctl_stack_list(struct ctl *c, json_t **out, struct err *e);

/* This nubod's host name in the cloud. */
const char *ctl_host_name(struct ctl *c);

/* Metrics (ctl/metrics.c). The last reading and sample of each VM this
 * host runs, by the sampler's order; free *out. */
struct ctl_vm_metrics {
	char name[NAME_MAX_LEN + 1];
	int vcpus;
	struct metric_raw raw;       /* counters since its QEMU started */
	struct metric_sample last;   /* the last interval */
	bool have_last;
};
int ctl_metrics_now(struct ctl *c, struct ctl_vm_metrics **out, int *n);
/* How often VMs are sampled and how long each resolution is kept. */
const struct metrics_policy *ctl_metrics_policy(struct ctl *c);
/* Each reconciler's passes and time spent in them since nubod started, in
 * the order a tick runs them; at most max. */
struct ctl_reconciler_timing {
	const char *name;
	uint64_t passes;
	int64_t total_us, last_us;
};
int ctl_reconciler_timings(struct ctl *c, struct ctl_reconciler_timing *out, int max);
/* The idle stop policy that applies to vm_id (NULL: the default), and
 * where it comes from ("vm" or "default"). */
int ctl_idle_policy(struct ctl *c, const char *vm_id, struct idle_policy *p, const char **source, struct err *e);
/* Hosts (ctl/hosts.c): every host with its state as of now; one by name or
 * id (404); drain and undrain (no new VMs on it); remove (409 while it
 * holds VMs or still beats). json gets host_to_json of each (caller decrefs). */
int ctl_host_list(struct ctl *c, json_t **out, struct err *e);
int ctl_host_show(struct ctl *c, const char *ref, json_t **out, struct err *e);
int ctl_host_drain(struct ctl *c, const char *ref, bool draining, json_t **out, struct err *e);
int ctl_host_remove(struct ctl *c, const char *ref, struct err *e);

struct host_info {
	int vcpus, memory_mib;                  /* the host's */
	double cpu_overcommit, memory_overcommit;
	int reserved_memory_mib;
	int vcpus_allocatable, memory_mib_allocatable;
	int vcpus_used, memory_mib_used;
	const char *accel;
};
int ctl_host_info(struct ctl *c, struct host_info *h, struct err *e);

/* --- what the API asks for (ctl/vms.c, ctl/images.c) --- */

struct vm_nic_request {
	const char *network;   /* name or id */
	const char *ip;        /* NULL: the next free address */
};

struct vm_request {
	const char *name, *type, *image;
	const char *max_type;                /* ceiling for live resizes; NULL: type */
	const struct vm_nic_request *nics;   /* in order, the first is the primary; none: one on "default" */
	int n_nics;
	const char *const *firewalls;        /* names or ids; none: "default" */
	int n_firewalls;
	const char *const *ssh_keys;
	int n_ssh_keys;
	const char *ssh_key_file;
	const char *user_data;
	const char *disk_size;     /* "20G"; NULL: the image's size */
	const char *ephemeral;     /* "2G": an instance-store disk empty at every start; NULL: none */
	const char *from_snapshot; /* boot from this snapshot's disk (and its VM's image) */
	const char *host;          /* pin to this host; NULL: placement chooses */
	const char *spread_group;  /* keep apart from the group's other VMs while hosts allow; NULL: none */
	bool no_seed;              /* no NoCloud seed: the guest must read the metadata service */
};

/* Validates, admits against capacity, allocates an IP and a MAC, and records
 * the VM (pending) with its create operation, all in one transaction. */
int ctl_vm_create(struct ctl *c, const struct vm_request *r, struct vm *vm, struct operation *op,
		  struct err *e);
/* Applies a user action. *accepted is false when the action was a no-op (the
 * VM is already there or on its way); op is then the operation in progress
 * or one that has already succeeded. */
int ctl_vm_act(struct ctl *c, const char *ref, enum vm_action a, bool force, struct vm *vm,
	       struct operation *op, bool *accepted, struct err *e);
/* The same, and when the action is accepted, also(c, vm, op, arg, e) in the
 * same transaction (an event saying why); its failure undoes the action. */
typedef int (*ctl_act_also)(struct ctl *c, const struct vm *vm, const struct operation *op, void *arg,
			    struct err *e);
int ctl_vm_act_also(struct ctl *c, const char *ref, enum vm_action a, bool force, ctl_act_also also, void *arg,
		    struct vm *vm, struct operation *op, bool *accepted, struct err *e);

/* A resize: a new type, a larger root disk, or both. */
struct vm_resize_request {
	const char *type;        /* NULL: keep */
	const char *disk_size;   /* "40G"; NULL: keep */
	bool restart;            /* when it cannot be live: stop, resize, start */
};
/* Checks the resize, admits the new capacity and writes the spec and a
 * "resize" operation in one transaction (see ctl/resize.c). *accepted is
 * false when nothing changes (op then is a finished one). */
int ctl_vm_resize(struct ctl *c, const char *ref, const struct vm_resize_request *r, struct vm *vm,
		  struct operation *op, bool *accepted, struct err *e);

/* The last 256 KiB of the VM's serial console log; caller frees *text. */
int ctl_vm_console(struct ctl *c, const char *ref, char **text, size_t *len, struct err *e);

/* The interactive serial console (host/serial.h), in the VM's directory. */
#define CTL_CONSOLE_SOCKET "console.sock"
struct serial_viewer;
/* Attaches a viewer to a running VM's serial console; out gets the recent
 * past, then whatever the guest writes (see serial_out_fn). A VM that is not
 * running, or whose QEMU has no console socket, is ERR_CONFLICT saying so.
 * *vm_id gets the VM's id. Detach with ctl_console_detach. */
int ctl_console_attach(struct ctl *c, const char *ref, void (*out)(void *arg, const char *data, size_t n), void *arg,
		       struct serial_viewer **v, char vm_id[ID_MAX], struct err *e);
/* Whether a viewer could attach now (the checks of ctl_console_attach but the connection). */
int ctl_console_check(struct ctl *c, const char *ref, struct err *e);
int ctl_console_write(struct serial_viewer *v, const char *data, size_t n, struct err *e);
void ctl_console_detach(struct serial_viewer *v);

int ctl_image_build(struct ctl *c, const char *name, const char *recipe, struct image *img,
		    struct operation *op, struct err *e);
int ctl_image_delete(struct ctl *c, const char *ref, struct err *e);
/* A template from a VM's root disk: copied live if it runs, else from its file. */
int ctl_image_from_vm(struct ctl *c, const char *name, const char *vm_ref, struct image *img,
		      struct operation *op, struct err *e);

/* Who asks, for what nubod does on their behalf with its own rights. */
struct ctl_caller {
	bool remote;          /* over TCP (a token holder): files only from import_dirs */
	bool has_cred;        /* on the unix socket with the kernel's word (SO_PEERCRED) for: */
	uid_t uid;
	gid_t gid;
};

struct image_import {
	struct ctl_caller caller;   /* zero: nubod itself, trusted */
	const char *name;
	const char *file;      /* absolute path of a qcow2 or raw image on the host; or */
	const char *url;       /* an http(s) URL to download it from */
	const char *sha256;    /* NULL, or the hex digest the file must have */
	const char *user;      /* default login user; NULL: root */
	const char *boot;      /* "firmware" (NULL) or "direct", which needs: */
	const char *kernel, *initrd;   /* absolute paths on the host, copied in beside the disk */
	const char *cmdline;   /* NULL: "console=ttyS0 root=/dev/vda1 rw" */
};
/* Records the image (state "importing") and copies it in on a thread of its own:
 * checksum, format detection, conversion to a standalone qcow2. */
int ctl_image_import(struct ctl *c, const struct image_import *r, struct image *img, struct operation *op,
		     struct err *e);

/*
 * An image whose disk comes in a request's body. ctl_image_upload_begin
 * records it (state "uploading"; only name, sha256, which is required, and
 * user of r count) and opens images/<id>/upload; each chunk is written and
 * hashed as it comes, never held whole in memory, and refused past the
 * configured maximum; ctl_image_upload_end compares the digest and hands the
 * file to the import job (format check, conversion), filling img and op
 * (the caller frees their fields). size is the body's length, -1 when not
 * known. ctl_image_upload_abort (the caller's answer to an error of write,
 * or to a body that breaks off) and an error of end remove the row, the
 * folder and the file, fail the operation and free u; so does a restart of
 * nubod for an upload it cut off.
 */
struct image_upload;
int64_t ctl_image_upload_max(struct ctl *c);   /* bytes */
int ctl_image_upload_begin(struct ctl *c, const struct image_import *r, int64_t size, struct image_upload **out,
			   struct err *e);
int ctl_image_upload_write(struct image_upload *u, const void *data, size_t n, struct err *e);
int ctl_image_upload_end(struct image_upload *u, struct image *img, struct operation *op, struct err *e);
void ctl_image_upload_abort(struct image_upload *u, const char *why);

/* Images between hosts (ctl/peer.c). Whether presented is the cluster's
 * secret (constant time). */
bool ctl_peer_authorized(struct ctl *c, const char *presented);
/* Opens FILE of an image this host holds, for another host's fetch: *fd
 * (the caller closes it) and *size. ERR_NOT_FOUND for an image, a file or
 * a copy this host does not have. */
int ctl_peer_image_open(struct ctl *c, const char *image_id, const char *file, int *fd, int64_t *size,
			struct err *e);
/* The same for the disk of a stopped VM moving away from this host (ctl/moves.c). */
int ctl_peer_vm_open(struct ctl *c, const char *vm_id, const char *file, int *fd, int64_t *size, struct err *e);
/* Moves a stopped VM to host to (ctl/moves.c): records the move and its
 * operation; the hosts copy the disk. Refused (409) for a VM that is not
 * stopped, has volumes or snapshots, or is on or going to a host that is
 * not up; 422 for an unknown host. */
int ctl_vm_move(struct ctl *c, const char *ref, const char *to, struct vm *vm, struct operation *op, struct err *e);
/* Drains the host and asks a move of each of its VMs to where placement
 * puts it: *out is the host (as ctl_host_drain) with "moves" [{vm, to,
 * operation}] and "not_moved" [{vm, why}]. */
int ctl_host_drain_move(struct ctl *c, const char *ref, json_t **out, struct err *e);
