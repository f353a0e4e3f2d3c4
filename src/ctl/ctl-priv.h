/* ctl-priv: what the files of ctl share; nothing outside ctl/ includes this. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "ctl/ctl.h"
#include "host/accel.h"
#include "host/cgroup.h"
#include "host/hostops.h"
#include "model/cidr.h"
#include "model/network.h"

/* At most this many rows in ctl.c's table of reconcilers. */
#define CTL_RECONCILERS_MAX 24

/* The reconciler's idle tick (ctl.c). */
#define TICK_MS 500

/* The VMs as the instance reconciler last read them (instances.c). */
struct vm_cache {
	struct vm *vms;         /* by id */
	int64_t *revs;          /* each VM's revision when it was read */
	int n;
	bool valid, busy;       /* busy: some VM was between states */
	int64_t changes;        /* store_change_count() before that read */
	int64_t loaded_at;      /* ms, monotonic: the last whole read */
	int64_t status_at;      /* ms, monotonic: running QEMUs last asked for their run state */
	bool status_due;        /* this pass asks them again */
	int64_t passed_at;      /* ms, monotonic: the last pass that looked at every VM */
};

struct ctl {
	struct store *st;
	const struct host_ops *host;   /* every host effect and question of the reconcilers */
	char *state_dir;
	char *recipes_dir;
	struct config cfg;
	enum accel accel;
	char prefix[8];         /* per-daemon prefix of host objects: 4 hex digits */
	char host_name[NAME_MAX_LEN + 1];   /* this host in the cloud (hosts.c) */
	char advertise[64];
	char version[32];       /* nubod's (hosts.c records it) */
	int64_t beat_at;        /* time_mono_ms of the last heartbeat (reconciler thread) */
	int host_vcpus, host_memory_mib;
	struct cgroup_host cgroups;   /* where each QEMU gets its cgroup; mode none: nowhere */

	pthread_t thread;
	bool running;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool kicked, quit;
	/* questions of API threads for the host, answered by the reconciler
	 * thread (ask.c; under mu) */
	struct ctl_question *questions;
	pthread_cond_t answered_cv;

	/* The nftables ruleset: bumped by every change it depends on, and the
	 * generation last applied (under mu). */
	uint64_t rules_gen, rules_applied;
	pthread_cond_t rules_cv;   /* signalled when a generation was tried (under mu) */
	uint64_t rules_tried;
	/* The same by the event log, which also hears other nubods' changes:
	 * the newest event the ruleset depends on (events.c), and the newest
	 * event at the last apply (under mu). */
	int64_t rules_seq, rules_applied_seq;
	struct ctl_events *events;   /* the event follower (events.c) */
	struct ctl_lbs *lbs;         /* the load balancers' health checker (lbs.c) */
	struct ctl_groups *groups;   /* the groups' reconciler state and CPU samples (groups-priv.h) */
	struct ctl_metrics *metrics; /* the sampler's thread and last readings (metrics.c) */
	struct ctl_metadata *md;   /* the metadata service's listeners and tokens (metadata.c) */
	struct vm_cache vm_cache;   /* reconciler thread only */
	struct {
		_Atomic uint64_t passes;
		_Atomic int64_t total_us, last_us;
	} timing[CTL_RECONCILERS_MAX];   /* per row of ctl.c's reconcilers, for GET /metrics */
	int64_t usage_marked_at, usage_marked_pass;   /* usage.c, reconciler thread only */
	/* watches booting VMs' SSH on its own thread (instances.c); NULL until ctl_start */
	struct prober *prober;
	/* networks whose host objects were ensured by this nubod (by id) */
	char **ready_nets;
	int n_ready_nets;
	int64_t nets_checked_at;   /* time_mono_ms of networks' last look at their dnsmasqs */
	/* what overlay.c last wrote of the networks' segments; NULL: not yet,
	 * or to be written again (reconciler thread) */
	char *overlay_applied;
	/* who hears of operation changes (ctl_set_op_listener) */
	pthread_mutex_t op_listener_mu;
	void (*op_listener)(void *arg, const char *op_id);
	void *op_listener_arg;
	/* image builds and fetches running on their own threads, by image id */
	pthread_mutex_t builds_mu;
	char **builds;
	int n_builds;
	struct ctl_peer *peer;   /* the cluster's secret and failed fetches (peer.c) */
	char peer_url[128];      /* where other hosts fetch this one's files; "" if nowhere */
	char peer_pin[64];       /* the public-key pin of peer_url's certificate; "" for none */
	int64_t moves_pass_at;   /* moves.c, reconciler thread only */
	_Atomic int64_t moves_retry_at;   /* moves.c: no copy starts before (mono ms) */
};

/* Paths under the state directory; caller frees. */
char *ctl_vm_dir(struct ctl *c, const char *vm_id);
char *ctl_image_dir(struct ctl *c, const char *image_id);
char *ctl_network_dir(struct ctl *c, const char *net_id);
/* Host object names (≤ 15 characters): "nt<prefix><6 hex of the id>", and
 * the NIC's index after that for every NIC but the first. */
void ctl_tap_name(struct ctl *c, const char *vm_id, int nic, char out[16]);
void ctl_nft_table(struct ctl *c, char out[32]);

/* Operations, as the reconcilers advance them. Each loads the op by id, changes it and saves it. */
void ctl_op_phase(struct ctl *c, const char *op_id, const char *phase);
void ctl_op_finish(struct ctl *c, const char *op_id, bool ok, const char *error);
/* A running operation whose step failed and will be tried again: its error
 * says why until it ends (a success clears it), and a phase "retrying" marks
 * when that began. Writes only when the reason changes. */
void ctl_op_retrying(struct ctl *c, const char *op_id, const char *why);
void ctl_op_progress(struct ctl *c, const char *op_id, int64_t done, int64_t total);
/* Records a finished (succeeded) operation, for no-op actions. */
int ctl_op_record_done(struct ctl *c, const char *kind, const char *target, const char *name,
		       struct operation *op, struct err *e);

/* networks.c */
int networks_init(struct ctl *c, struct err *e);           /* the default network row */
/* A network as the store has it, with the name of its bridge on this host
 * (the row holds the name on the host that made it; in a cluster each host
 * names its own with its prefix, which its rules match). */
int ctl_network_get(struct ctl *c, const char *ref, struct network *out, struct err *e);
int ctl_network_list(struct ctl *c, struct network **out, int *n, struct err *e);
/* Whether this nubod brought the network's host side up. */
bool ctl_network_is_ready(struct ctl *c, const char *net_id);
/* Whether want overlaps a network's subnet; other (may be NULL) gets its name. */
int networks_overlap(struct ctl *c, const struct cidr *want, bool *overlaps, char other[NAME_MAX_LEN + 1],
		     struct err *e);
/* Takes down deleted networks (and their rules). Returns false: nothing to hurry for. */
bool networks_reconcile(struct ctl *c);
int network_ensure_host(struct ctl *c, const char *ref, struct err *e);
/* Rewrites the network's DHCP reservations from the VMs in the store. */
int network_sync_reservations(struct ctl *c, const char *ref, struct err *e);
int networks_destroy_host(struct ctl *c, struct err *e);
/* A deleted VM's addresses go back to the pools at once: its reservations
 * are dropped and its leases ended. */
int network_release_vm(struct ctl *c, const struct vm *vm, struct err *e);

/* overlay.c: networks across hosts as VXLAN segments (host/overlay.h). */
/* This host is one of a cluster's (PostgreSQL and an IPv4 advertise address). */
bool overlay_on(struct ctl *c);
void overlay_vxlan_name(struct ctl *c, const char *net_id, char out[16]);
/* The segment of one network this host just brought up (its bridge is up). */
int overlay_ensure_network(struct ctl *c, const char *net_id, struct err *e);
/* Every segment to the store's word, when it changed (a failure is logged
 * and tried again at the next tick). */
void overlay_sync(struct ctl *c);
int overlay_remove_network(struct ctl *c, const char *net_id, struct err *e);

/* firewalls.c */
int firewalls_init(struct ctl *c, struct err *e);          /* the default firewall and its rules */
/* Names or ids to memberships; unknown: 404, duplicates: 400 (field names the list). */
int firewalls_resolve(struct ctl *c, const char *const *refs, int n, const char *field, struct vm_firewall *out,
		      int *n_out, struct err *e);

/* rules.c */
/* Something the ruleset depends on changed: apply it again (wakes the reconciler). */
void ctl_rules_changed(struct ctl *c);
/* The same, for a change the user waits on (a rule, a forward, a VM's
 * firewalls): returns when the reconciler has applied it, or tried and
 * failed (logged; the previous ruleset stays), or after 3 s. */
void ctl_rules_changed_wait(struct ctl *c);
/* Renders the ruleset from the store and applies it now. */
int network_rules_apply(struct ctl *c, struct err *e);
/* Applies it if a change is not applied yet (a failure is logged and tried
 * again at the next tick). Returns false: nothing to hurry for. */
bool rules_sync(struct ctl *c);

/* lbs.c: the health checker's thread starts at resume and stops at free. */
void lbs_resume(struct ctl *c);
void lbs_free(struct ctl *c);
/* For groups, on the reconciler thread (so without waiting for the ruleset,
 * which that thread applies): vm_name joins the balancer lb_ref (on port; 0:
 * the listeners' ports); one that is a target already is given back as it is. */
int lbs_target_join(struct ctl *c, const char *lb_ref, const char *vm_name, int port, struct lb_target *out,
		    struct err *e);
int lbs_target_leave(struct ctl *c, const char *target_id, struct err *e);
/* Wakes the checker, which cuts the drains that are due at once. */
void lbs_kick(struct ctl *c);

/* metrics.c: the sampler's thread starts at resume and stops at free. */
void metrics_resume(struct ctl *c);
void metrics_free(struct ctl *c);

/* groups.c: auto-scaling groups' reconciler (with groups-cpu.c, groups-api.c). */
int groups_init(struct ctl *c, struct err *e);
bool groups_reconcile(struct ctl *c);
void groups_free(struct ctl *c);

/* events.c */
/* Starts following the event log (and pruning it); at ctl_start. */
int events_start(struct ctl *c, struct err *e);
void events_free(struct ctl *c);
/* Whether events of this kind can change the nftables ruleset. */
bool events_kind_shapes_rules(const char *kind);
/* Tells the operation listener (ctl_set_op_listener) that key changed. */
void ctl_tell_op_listener(struct ctl *c, const char *key);

/* metadata.c: the metadata service's glue */
struct ctl_metadata;
void metadata_init(struct ctl *c);
void metadata_free(struct ctl *c);   /* stops every listener */
/* Starts the network's listener on gateway unless it already listens. */
int metadata_ensure(struct ctl *c, const struct network *net, const char *gateway, struct err *e);
void metadata_stop_all(struct ctl *c);
void metadata_stop_network(struct ctl *c, const char *net_id);
/* Listeners for the networks of VMs that run (after a restart). */
void metadata_resume(struct ctl *c);
/* The VM whose NIC (*nic its index) on the network has ip and mac;
 * ERR_NOT_FOUND if none. The caller frees out's fields. */
/* The NoCloud KEY of vm_id (model/imds.h), IMDS_NOCLOUD_KEY_LEN hex digits
 * into out: an HMAC of the id under this host's metadata key, which is
 * made on first use (state-dir/metadata.key, 0600) and kept, so a VM's KEY
 * is the same at every boot and after a nubod restart. */
int metadata_nocloud_key(struct ctl *c, const char *vm_id, char *out, struct err *e);
/* The SMBIOS serial of a VM without a seed: "ds=nocloud-net;s=<its /nocloud/KEY/ URL>". Caller frees. */
int metadata_nocloud_serial(struct ctl *c, const char *vm_id, char **out, struct err *e);
int metadata_find_vm(struct ctl *c, const char *network_id, const char *ip, const char *mac, struct vm *out,
		     int *nic, struct err *e);

/* hosts.c: this host's row (name, capacity, prefix) at ctl_open, and its
 * heartbeat and the down-marking of others once a tick. */
int hosts_init(struct ctl *c, struct err *e);
bool hosts_reconcile(struct ctl *c);
/* Whether the VM is this host's to act on. */
bool ctl_vm_is_mine(struct ctl *c, const struct vm *vm);

/* scheduler.c: in the admission transaction. sched_place picks the host of
 * a new VM (spread or pack over the hosts that are up and not draining),
 * or checks the one it is pinned to (pin, may be NULL), and sets vm->host;
 * sched_admit checks that the VM's own host still has room for it (start,
 * resize). Both: ERR_CAPACITY (507) with the numbers. */
int sched_place(struct ctl *c, struct vm *vm, const char *pin, struct err *e);
int sched_admit(struct ctl *c, const struct vm *vm, struct err *e);
int sched_pick_ip(struct ctl *c, const struct network *net, char ip[16], struct err *e);
/* The address the user asked for: usable in the subnet, not the gateway, not taken (409). */
int sched_claim_ip(struct ctl *c, const struct network *net, const char *want, const char *field, char ip[16],
		   struct err *e);
int sched_pick_mac(struct ctl *c, char mac[18], struct err *e);

/* instances.c */
/* One pass over every VM; true while some VM is between states. */
bool instances_reconcile(struct ctl *c);
void instances_adopt(struct ctl *c);
/* Starts the SSH prober's thread (before the reconciler's). */
int instances_start(struct ctl *c, struct err *e);
/* Stops the SSH prober, closing its sockets, and drops the VM cache (after the reconciler stopped). */
void instances_free(struct ctl *c);
int instances_destroy_all(struct ctl *c, struct err *e);
/* The user QEMU runs as (config qemu_user). */
struct qemu_user;
int ctl_qemu_user(struct ctl *c, struct qemu_user *u, struct err *e);

/* volumes.c */
struct qemu_volume;
char *ctl_volume_path(struct ctl *c, const char *vol_id);
bool volumes_reconcile(struct ctl *c);
/* Once after adoption: records what running QEMUs really have of each volume (a crash may have cut a hot-plug short). */
void volumes_resume(struct ctl *c);
int volumes_release_vm(struct ctl *c, const char *vm_id, struct err *e);
/* After a VM's QEMU is gone for good (deleted): its volumes are unplugged. */
void volumes_forget_vm(struct ctl *c, const char *vm_id);
/* The volumes plugged into vm_id, for its QEMU command line; free with volumes_for_vm_free. */
int volumes_for_vm(struct ctl *c, const char *vm_id, struct qemu_volume **out, char ***paths, int *n,
		   struct err *e);
void volumes_for_vm_free(struct qemu_volume *v, char **paths, int n);

/* snapshots.c */
char *ctl_snapshot_path(struct ctl *c, const char *snap_id);
bool snapshots_reconcile(struct ctl *c);
void snapshots_restore_vm(struct ctl *c, struct vm *vm);
/* Whether a snapshot of the VM is being taken (its start must wait). */
bool snapshots_vm_busy(struct ctl *c, const char *vm_id);

/* instances.c: sets the VM's cgroup limits (CPU quota for vcpus, memory for
 * memory_mib of guest memory); the group may exist already. */
int instances_cgroup_limit(struct ctl *c, const struct vm *vm, int vcpus, int memory_mib, struct err *e);

/* resize.c */
enum resize_mode {
	RESIZE_OFFLINE,   /* the VM is stopped: the spec is the resize */
	RESIZE_LIVE,      /* QEMU changes while the guest runs */
	RESIZE_RESTART,   /* stop, change, start */
};
/* How a VM can take type t (NULL: the type stays): a 409 in e naming the
 * reason when it runs, cannot change live and restart is false. can_unplug:
 * vCPUs can be removed live (KVM; not under QEMU 7.2's TCG). Pure. */
int resize_plan(const struct vm *vm, const struct machine_type *t, bool can_unplug, bool restart,
		enum resize_mode *mode, struct err *e);
/* Parses want_text into *want; refuses a shrink below now (422) or a size
 * above VM_DISK_MAX. Pure. */
int resize_check_disk(uint64_t now, const char *want_text, uint64_t *want, struct err *e);
/* One live move toward the spec (vm_resize_due): true when vm's status
 * changed and must be saved. */
bool resize_live_step(struct ctl *c, struct vm *vm, const char *qmp_sock);
/* Nothing is left to change: finishes the VM's running resize operation. */
void resize_live_done(struct ctl *c, struct vm *vm);

/* images.c */
void images_resume(struct ctl *c);
/* Builds and fetches in flight, by image id (ctl_close waits for them). */
void ctl_builds_track(struct ctl *c, const char *id, bool add);
bool ctl_builds_has(struct ctl *c, const char *id);
/* An image's files are root's and readable by QEMU's group alone. */
int ctl_image_seal(struct ctl *c, const char *dir, struct err *e);

/* peer.c: images between hosts. init reads (or makes) the cluster's
 * secret; reconcile records this host's images' files for the others and
 * removes files of deleted images. */
int peer_init(struct ctl *c, struct err *e);
bool peer_reconcile(struct ctl *c);
void peer_free(struct ctl *c);
/* The JSON record of the files in an image folder (names, sizes, SHA-256),
 * for images.files; caller frees *out. */
int peer_image_files(const char *dir, char **out, struct err *e);
/* 0 when this host has img's files; else starts (or follows) a fetch from
 * a host that has them and returns 1 with e saying what is awaited (op_id,
 * if any, gets the bytes as progress). A VM waits in pending meanwhile. */
int peer_image_local(struct ctl *c, const struct image *img, const char *op_id, struct err *e);
/* Fetches every file of files (a JSON array of {name, size, sha256}) from
 * another host's nubod, base_url/NAME (the host src's peer URL, trusted by
 * its peer_pin), into tmp/NAME: each resumed after a
 * cut-off and checked against its sum, a file already there (renamed in
 * place before a kill) left as it is; op_id (if any) gets the bytes of all
 * as progress. after (if any) runs on each file once it is whole. what
 * names the record in an error ("image web's files"). */
int peer_fetch_files(struct ctl *c, json_t *files, const struct host *src, const char *base_url, const char *tmp,
		     const char *op_id,
		     const char *what, int (*after)(const char *name, const char *path, void *arg, struct err *e),
		     void *arg, struct err *e);

/* moves.c: a stopped VM's disk copied to another host (nubo vm move). */
bool moves_reconcile(struct ctl *c);
/* At start, before any pass: puts in place the volumes of VMs moved here
 * whose files a kill left in the VM's folder. */
void moves_resume(struct ctl *c);
/* 0, or a 409 in e when the VM vm_id is moving to another host: what
 * (e.g. "an attach") would change its disks or volumes under the copy. */
int ctl_vm_moving_refusal(struct ctl *c, const char *vm_id, const char *what, struct err *e);
/* vms.c: marks the VM's previous operation failed when next takes over. */
void ctl_vm_supersede(struct ctl *c, const struct vm *vm, const struct operation *next);

/* usage.c: the prices and a first run of every meter (init); the "seen"
 * mark of running VMs after the instance reconciler's passes (reconcile). */
int usage_init(struct ctl *c, struct err *e);
bool usage_reconcile(struct ctl *c);

/* ask.c: fn(c, arg, e) run on the reconciler thread while the caller (an
 * API thread) waits for its return value; see ask.c. */
typedef int ctl_ask_fn(struct ctl *c, void *arg, struct err *e);
int ctl_ask(struct ctl *c, ctl_ask_fn *fn, void *arg, struct err *e);
/* The reconciler thread: answers every queued question; at quit, refuses them. */
void ctl_questions_answer(struct ctl *c);
void ctl_questions_refuse(struct ctl *c);
