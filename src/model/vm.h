/*
 * vm: a virtual machine as nubo models it: the spec (what the user asked
 * for) and the status (what was last observed), their validation, the state
 * table that says what each user action does in each state, and the JSON the
 * API shows.
 *
 * States follow EC2:
 *
 *            create/start               QEMU up
 *   (new) ───────────────► pending ─────────────► running
 *                             ▲                      │ stop / guest power-off
 *                             │ start                ▼
 *                          stopped ◄───────────── stopping
 *                             ▲
 *       QEMU died unexpectedly │ start
 *                 error ───────┘
 *   any state ── delete ──► shutting-down ──► terminated (row removed)
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "model/machine_type.h"
#include "model/phases.h"
#include "util/err.h"
#include "util/ids.h"

enum vm_state {
	VM_PENDING,
	VM_RUNNING,
	VM_STOPPING,
	VM_STOPPED,
	VM_SHUTTING_DOWN,
	VM_TERMINATED,
	VM_ERROR,
};

/* What the user asked for: the reconciler drives the VM toward it. */
enum vm_power {
	POWER_RUNNING,
	POWER_STOPPED,
	POWER_DELETED,
};

enum vm_action { VM_ACTION_START, VM_ACTION_STOP, VM_ACTION_REBOOT, VM_ACTION_DELETE };

/* What an action does in a state. */
enum vm_verdict {
	VM_ACCEPT,    /* change the spec, start an operation: 202 */
	VM_NOOP,      /* already there or on its way: 200 */
	VM_REFUSE,    /* not in this state: 409 */
};

#define VM_USER_DATA_MAX (64 * 1024)
#define VM_SSH_KEYS_MAX 16
#define VM_DISK_MAX (16ull << 40)   /* 16 TiB */
#define VM_NICS_MAX 4             /* one NIC per network, in order; the first is the primary */
#define VM_FIREWALLS_MAX 8

/* A network interface: the VM's place on one network. */
struct vm_nic {
	char network[NAME_MAX_LEN + 1];   /* the network's name, for people */
	char network_id[ID_MAX];
	char ip[16], mac[18];
};

/* A firewall (security group) the VM is a member of. */
struct vm_firewall {
	char id[ID_MAX];
	char name[NAME_MAX_LEN + 1];
};

struct vm {
	char id[ID_MAX];
	char name[NAME_MAX_LEN + 1];
	/* spec */
	char type[NAME_MAX_LEN + 1];
	int vcpus, memory_mib;
	/* Ceilings fixed at create (--max-type; default the VM's own type) and
	 * raised only by an offline resize: QEMU boots with maxcpus=max_vcpus, so
	 * a live resize may add vCPUs up to it. Stored, never derived from the
	 * host at boot, so the same VM boots the same machine everywhere. */
	char max_type[NAME_MAX_LEN + 1];
	int max_vcpus, max_memory_mib;
	char image[NAME_MAX_LEN + 1];
	char image_id[ID_MAX];
	struct vm_nic nics[VM_NICS_MAX];
	int n_nics;
	struct vm_firewall firewalls[VM_FIREWALLS_MAX];
	int n_firewalls;
	char *ssh_keys;        /* newline-separated public keys */
	char *ssh_key_file;    /* the client's .pub path, for `nubo vm ssh` */
	char *user_data;
	char ssh_user[33];
	uint64_t disk_size_bytes;  /* root disk's virtual size; 0: the image's */
	uint64_t ephemeral_bytes;  /* instance-store disk, empty at every start; 0: none */
	bool no_seed;          /* no NoCloud seed disk: the guest reads the metadata service */
	enum vm_power power;
	bool force_stop;       /* stop without ACPI power-down */
	bool reboot;           /* a reboot was asked and is not finished */
	int64_t generation;    /* bumped by every change of the spec from the API */
	char restore_from[ID_MAX];   /* spec: roll the (stopped) disk back to this snapshot */
	char base_snapshot[ID_MAX];  /* status: the snapshot layer root.qcow2 sits on, or "" (the image) */
	/* status */
	enum vm_state state;
	char *reason;          /* why error, or why it stopped */
	int pid;
	char accel[8];
	int64_t created_at, started_at, state_since;  /* ms since the epoch */
	int64_t deadline;      /* ms: when a graceful stop turns forced, or SSH wait gives up */
	struct phases boot;    /* phases of the last start */
	char op_id[ID_MAX];    /* the operation in progress or last finished */
	int live_vcpus;        /* vCPUs the running QEMU was last seen with; != vcpus: a live resize is due */
	int live_memory_mib;   /* memory (boot + DIMMs) the running QEMU was last seen with; likewise */
	uint64_t live_disk_bytes; /* root.qcow2's size as nubo made or last grew it; < disk_size_bytes: grow it */
	/* The host it runs on (placement, or --host); only that host's nubod acts on it. */
	char host[NAME_MAX_LEN + 1];
	/* Its spread group (--spread-group), or "": VMs of one group go to
	 * different hosts while there are hosts without one (model/placement.h). */
	char spread_group[NAME_MAX_LEN + 1];
	/* A move to another host under way (ctl/moves.c): the host, and the
	 * disk's files with their SHA-256 once its host recorded them. */
	char move_to[NAME_MAX_LEN + 1];
	char *move_files;
	/* Why its state is unknown: its host stopped beating (store/hosts.c).
	 * "" while the host is up. The state above stays what was last seen. */
	char host_down[192];
};

void vm_free_fields(struct vm *vm);          /* frees heap fields; the struct stays */
void vm_list_free(struct vm *vms, int n);
/* qsort and bsearch order of VMs by id (strcmp). */
int vm_cmp_id(const void *a, const void *b);

const char *vm_state_name(enum vm_state s);
int vm_state_parse(const char *s, enum vm_state *out);
const char *vm_power_name(enum vm_power p);
int vm_power_parse(const char *s, enum vm_power *out);

/* DNS-safe: 1..63 of a-z 0-9 -, starting with a letter, not ending with -. */
int vm_name_validate(const char *name, const char *field, struct err *e);
enum vm_verdict vm_action_verdict(enum vm_state state, enum vm_power power, enum vm_action a);
const char *vm_action_name(enum vm_action a);
/* Whether a VM in this state holds host CPU and memory. */
bool vm_holds_capacity(const struct vm *vm);
/* Whether the running VM's QEMU differs from its spec (vCPUs, memory or root disk). */
bool vm_resize_due(const struct vm *vm);

/* The primary NIC's address ("" before one is given). */
const char *vm_ip(const struct vm *vm);

/* The API's view; a VM whose host is down shows state "unknown" with
 * host_down as its reason, and its last seen state as "last_state". */
json_t *vm_to_json(const struct vm *vm);
