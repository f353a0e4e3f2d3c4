/*
 * ctl: the control layer's life cycle, its reconciler thread and the helpers
 * its parts share (see ctl.h). The thread wakes every half second, or at once
 * when the API kicks it, and runs each reconciler once.
 */
#include "ctl/ctl-priv.h"

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/download.h"
#include "host/qemu.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/str.h"
#include "util/timeutil.h"

/* Idle VMs are checked twice a second; while one boots or stops, ten times.
 * SSH-ready does not wait for a tick: the prober kicks the loop (instances.c). */

/* What the state directory holds besides nubo.db (see ARCHITECTURE.md). */
static const char *const state_subdirs[] = {"vms", "images", "volumes", "snapshots", "networks", NULL};
/* The folders that hold guest data (see guard_state_dirs). */
static const char *const guarded_subdirs[] = {"vms", "images", "volumes", "snapshots", NULL};
#define BUSY_TICK_MS 100

/* Makes the folders that hold disks root's, group QEMU's user, mode 0750:
 * QEMU reaches the files it is given, and no other local user reaches any
 * disk, layer or image base, whatever the files' own modes. Set at every
 * start, so a state folder an older nubod made is closed too. networks/
 * stays 0755: dnsmasq runs as nobody. Without QEMU's user (nothing can run
 * then) the folders are 0700. */
static int guard_state_dirs(struct ctl *c, struct err *e)
{
	struct qemu_user u;
	struct err ue = {0};
	bool have_user = qemu_user_lookup(c->cfg.qemu_user, &u, &ue) == 0;
	if (!have_user)
		log_warn("%s; the folders of guest data stay root's alone (0700)", ue.msg);
	for (int i = 0; guarded_subdirs[i]; i++) {
		autofree char *d = xasprintf("%s/%s", c->state_dir, guarded_subdirs[i]);
		if (chmod(d, have_user ? 0750 : 0700) < 0)
			return err_set(e, ERR_INTERNAL, "cannot close %s to other users: %s", d, strerror(errno));
		if (have_user && chown(d, 0, u.gid) < 0)
			log_warn("cannot give %s to group %u (QEMU's user %s): %s; QEMU may not reach its disks", d,
				 (unsigned)u.gid, u.name, strerror(errno));
	}
	return 0;
}

static int host_memory_mib(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGE_SIZE);
	return (pages > 0 && size > 0) ? (int)((long long)pages * size / (1024 * 1024)) : 1024;
}

static int resolve_accel(struct ctl *c, const char *want, struct err *e)
{
	char why[256] = "";
	if (!want || strcmp(want, "auto") == 0) {
		c->accel = accel_probe(NULL, NULL, why, sizeof(why));
		log_info("accel: %s (%s)", accel_name(c->accel), why);
		return 0;
	}
	if (accel_from_name(want, &c->accel) < 0)
		return err_set(e, ERR_INVALID, "--accel \"%s\" is not one of auto, kvm, tcg", want);
	log_info("accel: %s (set by --accel)", accel_name(c->accel));
	return 0;
}

/* Said once: VMs start without limits where no usable hierarchy exists. */
static void probe_cgroups(struct ctl *c)
{
	char why[512];
	c->host->cgroup_probe("/sys/fs/cgroup", &c->cgroups, why, sizeof(why));
	if (c->cgroups.mode == CGROUP_NONE)
		log_warn("cgroups: %s; VMs run without CPU and memory limits", why);
	else
		log_info("cgroups: %s", why);
}

/* Said once: which firmware direct boots get. A qboot that is not there
 * (QEMU built without it, or moved) leaves them on SeaBIOS, as firmware
 * boots always are: qboot loads a kernel handed to QEMU and cannot boot a
 * disk. */
static void probe_qboot(struct ctl *c)
{
	if (!c->cfg.qboot[0]) {
		log_info("qboot: off (config); direct boots use SeaBIOS");
	} else if (access(c->cfg.qboot, R_OK) < 0) {
		log_info("qboot: %s cannot be read (%s); direct boots use SeaBIOS", c->cfg.qboot, strerror(errno));
		c->cfg.qboot[0] = '\0';
	} else {
		log_info("qboot: direct boots start from %s", c->cfg.qboot);
	}
}

/*
 * The reconcilers, one row per kind of resource, in the order each tick runs
 * them. A new kind is a file in ctl/ and a row here:
 *   init       at ctl_open: rows the kind needs (the default network, ...)
 *   resume     on the reconciler thread before the first tick: take up what
 *              the host already has (QEMUs, listeners, cut-off builds)
 *   reconcile  once a tick: one idempotent step toward the spec; true while
 *              something is between states (the next tick comes sooner)
 *   free       at ctl_close, in reverse order
 * rules comes first, so a firewall change is in force before anything else a
 * tick does, and a new VM's rules before its QEMU starts.
 */
struct reconciler {
	const char *name;
	int (*init)(struct ctl *c, struct err *e);
	void (*resume)(struct ctl *c);
	bool (*reconcile)(struct ctl *c);
	void (*free)(struct ctl *c);
};

static const struct reconciler reconcilers[] = {
	{"hosts", NULL, NULL, hosts_reconcile, NULL},   /* the heartbeat: first, however slow the rest */
	{"rules", NULL, NULL, rules_sync, NULL},
	{"instances", NULL, instances_adopt, instances_reconcile, instances_free},
	{"usage", usage_init, NULL, usage_reconcile, NULL},   /* after instances: marks what its pass saw */
	{"metadata", NULL, metadata_resume, NULL, metadata_free},
	{"images", NULL, images_resume, NULL, NULL},
	{"peer", peer_init, NULL, peer_reconcile, peer_free},   /* images between hosts */
	{"moves", NULL, moves_resume, moves_reconcile, NULL},    /* stopped VMs to other hosts */
	{"volumes", NULL, volumes_resume, volumes_reconcile, NULL},
	{"snapshots", NULL, NULL, snapshots_reconcile, NULL},
	{"networks", networks_init, NULL, networks_reconcile, NULL},
	{"firewalls", firewalls_init, NULL, NULL, NULL},
	{"lbs", NULL, lbs_resume, NULL, lbs_free},   /* the health checker, a thread of its own */
	{"groups", groups_init, NULL, groups_reconcile, groups_free},   /* after instances: it reads what they did */
	{"metrics", NULL, metrics_resume, NULL, metrics_free},   /* the sampler, a thread of its own */
	{"events", NULL, NULL, NULL, events_free},   /* its thread starts in ctl_start, and stops first */
};
#define N_RECONCILERS (sizeof(reconcilers) / sizeof(reconcilers[0]))
_Static_assert(N_RECONCILERS <= CTL_RECONCILERS_MAX, "CTL_RECONCILERS_MAX is too small for the table");

/* Where other hosts reach this nubod's files (ctl/peer.c): its TLS
 * listener at the advertised address (the underlay other hosts reach it
 * on), or else its loopback HTTP listener (hosts on one machine). Other
 * hosts trust the TLS listener by its key's pin, which this host writes in
 * its row: the certificate need not name the address nor be signed by a CA
 * they know, and the store, which every host trusts already, vouches. */
static int peer_url_of(struct ctl *c, const struct ctl_options *o, struct err *e)
{
	const char *port = o->listen ? strrchr(o->listen, ':') : NULL;
	if (port && c->advertise[0]) {
		snprintf(c->peer_url, sizeof(c->peer_url), "https://%s%s", c->advertise, port);
		if (o->tls_cert && download_pin_of(o->tls_cert, c->peer_pin, e) < 0)
			return -1;
	} else if (o->listen_http) {
		snprintf(c->peer_url, sizeof(c->peer_url), "http://%s", o->listen_http);
	}
	return 0;
}

int ctl_open(struct store *st, struct ctl_options *o, struct ctl **out, struct err *e)
{
	struct ctl *c = xcalloc(1, sizeof(*c));
	c->st = st;
	c->host = o->host ? o->host : &hostops_real;
	c->state_dir = xstrdup(o->state_dir);
	c->recipes_dir = xstrdup(o->recipes_dir);
	c->cfg = o->config;
	snprintf(c->host_name, sizeof(c->host_name), "%s", o->host_name ? o->host_name : c->cfg.host_name);
	snprintf(c->advertise, sizeof(c->advertise), "%s", o->advertise ? o->advertise : c->cfg.advertise);
	snprintf(c->version, sizeof(c->version), "%s", o->version ? o->version : "");
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	pthread_cond_init(&c->rules_cv, NULL);
	pthread_cond_init(&c->answered_cv, NULL);
	pthread_mutex_init(&c->builds_mu, NULL);
	pthread_mutex_init(&c->op_listener_mu, NULL);
	c->rules_gen = 1;   /* apply the ruleset at the first tick: it may be gone (a host reboot) */
	metadata_init(c);
	c->host_vcpus = (int)sysconf(_SC_NPROCESSORS_ONLN);
	c->host_memory_mib = host_memory_mib();
	if (c->cfg.reserved_memory_mib < 0) {
		c->cfg.reserved_memory_mib = c->host_memory_mib / 10;
		if (c->cfg.reserved_memory_mib < 512)
			c->cfg.reserved_memory_mib = 512;
	}
	for (int i = 0; state_subdirs[i]; i++) {
		autofree char *d = xasprintf("%s/%s", c->state_dir, state_subdirs[i]);
		if (fs_mkdir_p(d, 0755, e) < 0)
			goto fail;
	}
	if (guard_state_dirs(c, e) < 0 || peer_url_of(c, o, e) < 0)
		goto fail;
	/* The host's row gives the prefix of its host objects. */
	if (resolve_accel(c, o->accel, e) < 0 || hosts_init(c, e) < 0)
		goto fail;
	for (size_t i = 0; i < N_RECONCILERS; i++)
		if (reconcilers[i].init && reconcilers[i].init(c, e) < 0) {
			err_prefix(e, "%s", reconcilers[i].name);
			goto fail;
		}
	probe_cgroups(c);
	probe_qboot(c);
	*out = c;
	return 0;
fail:
	ctl_close(c);
	return -1;
}

static int64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* For GET /metrics: each reconciler's passes and time (ctl_reconciler_timings). */
static void timing_add(struct ctl *c, size_t i, int64_t us)
{
	if (i >= CTL_RECONCILERS_MAX)
		return;
	atomic_fetch_add(&c->timing[i].passes, 1);
	atomic_fetch_add(&c->timing[i].total_us, us);
	atomic_store(&c->timing[i].last_us, us);
}

int ctl_reconciler_timings(struct ctl *c, struct ctl_reconciler_timing *out, int max)
{
	int n = 0;
	for (size_t i = 0; i < N_RECONCILERS && i < CTL_RECONCILERS_MAX && n < max; i++) {
		if (!reconcilers[i].reconcile)
			continue;
		out[n].name = reconcilers[i].name;
		out[n].passes = atomic_load(&c->timing[i].passes);
		out[n].total_us = atomic_load(&c->timing[i].total_us);
		out[n].last_us = atomic_load(&c->timing[i].last_us);
		n++;
	}
	return n;
}

static void *loop(void *arg)
{
	struct ctl *c = arg;
	for (size_t i = 0; i < N_RECONCILERS; i++)
		if (reconcilers[i].resume)
			reconcilers[i].resume(c);
	pthread_mutex_lock(&c->mu);
	while (!c->quit) {
		c->kicked = false;
		pthread_mutex_unlock(&c->mu);
		bool busy = false;
		for (size_t i = 0; i < N_RECONCILERS; i++) {
			ctl_questions_answer(c);   /* an API request waits for each */
			if (!reconcilers[i].reconcile)
				continue;
			int64_t t0 = mono_us();
			if (reconcilers[i].reconcile(c))
				busy = true;
			timing_add(c, i, mono_us() - t0);
		}
		pthread_mutex_lock(&c->mu);
		if (c->kicked || c->quit)
			continue;
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += (busy ? BUSY_TICK_MS : TICK_MS) * 1000000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&c->cv, &c->mu, &ts);
	}
	pthread_mutex_unlock(&c->mu);
	ctl_questions_refuse(c);
	return NULL;
}

int ctl_start(struct ctl *c, struct err *e)
{
	if (instances_start(c, e) < 0 || events_start(c, e) < 0)
		return -1;
	if (pthread_create(&c->thread, NULL, loop, c) != 0)
		return err_set(e, ERR_INTERNAL, "cannot start the reconciler thread");
	c->running = true;
	return 0;
}

void ctl_kick(struct ctl *c)
{
	pthread_mutex_lock(&c->mu);
	c->kicked = true;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

void ctl_close(struct ctl *c)
{
	if (!c)
		return;
	if (c->running) {
		pthread_mutex_lock(&c->mu);
		c->quit = true;
		pthread_cond_signal(&c->cv);
		pthread_mutex_unlock(&c->mu);
		pthread_join(c->thread, NULL);
	}
	/* Image builds run detached; wait for them so none writes after we free. */
	for (;;) {
		pthread_mutex_lock(&c->builds_mu);
		int n = c->n_builds;
		pthread_mutex_unlock(&c->builds_mu);
		if (n == 0)
			break;
		time_sleep_ms(100);
	}
	for (size_t i = N_RECONCILERS; i-- > 0;)
		if (reconcilers[i].free)
			reconcilers[i].free(c);
	for (int i = 0; i < c->n_ready_nets; i++)
		free(c->ready_nets[i]);
	free(c->ready_nets);
	free(c->overlay_applied);
	free(c->builds);
	config_free(&c->cfg);
	free(c->state_dir);
	free(c->recipes_dir);
	free(c);
}

int ctl_destroy_all(struct ctl *c, struct err *e)
{
	if (instances_destroy_all(c, e) < 0 || networks_destroy_host(c, e) < 0 ||
	    cgroup_parent_remove(&c->cgroups, c->prefix, e) < 0)
		return -1;
	for (int i = 0; state_subdirs[i]; i++) {
		autofree char *d = xasprintf("%s/%s", c->state_dir, state_subdirs[i]);
		if (fs_rm_rf(d, e) < 0)
			return -1;
	}
	/* The host leaves the cloud too (its VMs are gone; volumes or
	 * snapshots still recorded on it keep the row, and say so). */
	struct host h;
	struct err he = {0};
	if (store_host_remove(c->st, c->host_name, INT64_MAX, &h, &he) < 0 && he.kind != ERR_NOT_FOUND)
		log_warn("host %s stays in the hosts table: %s", c->host_name, he.msg);
	return 0;
}

struct store *ctl_store(struct ctl *c)
{
	return c->st;
}

const struct type_catalog *ctl_types(struct ctl *c)
{
	return &c->cfg.types;
}

const char *ctl_state_dir(struct ctl *c)
{
	return c->state_dir;
}

int ctl_host_info(struct ctl *c, struct host_info *h, struct err *e)
{
	memset(h, 0, sizeof(*h));
	h->vcpus = c->host_vcpus;
	h->memory_mib = c->host_memory_mib;
	h->cpu_overcommit = c->cfg.cpu_overcommit;
	h->memory_overcommit = c->cfg.memory_overcommit;
	h->reserved_memory_mib = c->cfg.reserved_memory_mib;
	h->vcpus_allocatable = (int)(c->host_vcpus * c->cfg.cpu_overcommit);
	int usable = c->host_memory_mib - c->cfg.reserved_memory_mib;
	h->memory_mib_allocatable = usable > 0 ? (int)(usable * c->cfg.memory_overcommit) : 0;
	h->accel = accel_name(c->accel);
	return store_vm_usage(c->st, c->host_name, NULL, &h->vcpus_used, &h->memory_mib_used, e);
}

char *ctl_vm_dir(struct ctl *c, const char *vm_id)
{
	return xasprintf("%s/vms/%s", c->state_dir, vm_id);
}

char *ctl_image_dir(struct ctl *c, const char *image_id)
{
	return xasprintf("%s/images/%s", c->state_dir, image_id);
}

char *ctl_network_dir(struct ctl *c, const char *net_id)
{
	return xasprintf("%s/networks/%s", c->state_dir, net_id);
}

void ctl_tap_name(struct ctl *c, const char *vm_id, int nic, char out[16])
{
	const char *dash = strchr(vm_id, '-');
	if (nic == 0)
		snprintf(out, 16, "nt%s%.6s", c->prefix, dash ? dash + 1 : vm_id);
	else
		snprintf(out, 16, "nt%.4s%.6s%d", c->prefix, dash ? dash + 1 : vm_id, nic % 10);
}

void ctl_nft_table(struct ctl *c, char out[32])
{
	snprintf(out, 32, "nubo_%s", c->prefix);
}

void ctl_set_op_listener(struct ctl *c, void (*fn)(void *arg, const char *op_id), void *arg)
{
	pthread_mutex_lock(&c->op_listener_mu);
	c->op_listener = fn;
	c->op_listener_arg = arg;
	pthread_mutex_unlock(&c->op_listener_mu);
}

void ctl_tell_op_listener(struct ctl *c, const char *key)
{
	pthread_mutex_lock(&c->op_listener_mu);
	if (c->op_listener)
		c->op_listener(c->op_listener_arg, key);
	pthread_mutex_unlock(&c->op_listener_mu);
}

static void tell_op_listener(void *arg, const char *op_id)
{
	ctl_tell_op_listener(arg, op_id);
}

/* After every store_op_update of an operation, so that clients waiting on
 * it (GET /v1/operations/{id}?wait=) hear of it at once; inside a
 * transaction, once it commits: a client told earlier would read, on
 * another connection, the operation as it was, and wait on. */
static void op_changed(struct ctl *c, const char *op_id)
{
	store_after_commit(c->st, tell_op_listener, c, op_id);
}

void ctl_op_phase(struct ctl *c, const char *op_id, const char *phase)
{
	struct operation op;
	if (!op_id || !*op_id || store_op_get(c->st, op_id, &op, NULL) < 0)
		return;
	if (op.state == OP_RUNNING && !phases_has(&op.phases, phase)) {
		phases_mark(&op.phases, phase, op.created_at, time_now_ms());
		if (store_op_update(c->st, &op, NULL) == 0)
			op_changed(c, op.id);
	}
	operation_free_fields(&op);
}

void ctl_op_progress(struct ctl *c, const char *op_id, int64_t done, int64_t total)
{
	struct operation op;
	if (!op_id || !*op_id || store_op_get(c->st, op_id, &op, NULL) < 0)
		return;
	if (op.state == OP_RUNNING) {
		op.progress_done = done;
		op.progress_total = total;
		if (store_op_update(c->st, &op, NULL) == 0)
			op_changed(c, op.id);
	}
	operation_free_fields(&op);
}

void ctl_op_retrying(struct ctl *c, const char *op_id, const char *why)
{
	struct operation op;
	if (!op_id || !*op_id || store_op_get(c->st, op_id, &op, NULL) < 0)
		return;
	char *msg = xasprintf("retrying: %s", why);
	if (op.state == OP_RUNNING && (!op.error || strcmp(op.error, msg) != 0)) {
		free(op.error);
		op.error = msg;
		msg = NULL;
		phases_mark(&op.phases, "retrying", op.created_at, time_now_ms());
		if (store_op_update(c->st, &op, NULL) == 0)
			op_changed(c, op.id);
	}
	free(msg);
	operation_free_fields(&op);
}

void ctl_op_finish(struct ctl *c, const char *op_id, bool ok, const char *error)
{
	struct operation op;
	if (!op_id || !*op_id || store_op_get(c->st, op_id, &op, NULL) < 0)
		return;
	if (op.state == OP_RUNNING) {
		op.state = ok ? OP_SUCCEEDED : OP_FAILED;
		op.finished_at = time_now_ms();
		free(op.error);
		op.error = ok ? NULL : xstrdup(error);
		if (store_op_update(c->st, &op, NULL) == 0)
			op_changed(c, op.id);
		if (ok)
			log_info("operation %s (%s %s) succeeded in %.2f s", op.id, op.kind, op.target_name,
				 (double)(op.finished_at - op.created_at) / 1000.0);
		else
			log_warn("operation %s (%s %s) failed: %s", op.id, op.kind, op.target_name, error);
	}
	operation_free_fields(&op);
}

int ctl_op_record_done(struct ctl *c, const char *kind, const char *target, const char *name,
		       struct operation *op, struct err *e)
{
	operation_init(op, kind, target, name);
	op->state = OP_SUCCEEDED;
	op->finished_at = op->created_at;
	return store_op_insert(c->st, op, e);
}
