/*
 * hosts: this nubod as one host of the cloud, and the API's view of all.
 *
 * At ctl_open the host writes its row (name, address, accel, capacity) and
 * takes its prefix from it. Once a tick, at most every beat interval, it
 * renews its heartbeat and marks down any other host whose heartbeat is
 * older than host_down_after_s: that host's VMs then show state "unknown"
 * and nothing is restarted elsewhere (their disks live on that host). When
 * a down host's nubod beats again, its VMs show their real state again; its
 * instance reconciler adopts the QEMUs that kept running, as after any
 * restart. Hosts talk only through the store: a beat is a row update, and
 * the marking is one write transaction, so two nubods never both do it.
 *
 * On SQLite there is one host: the store is a file of this machine.
 */
#include "ctl/ctl-priv.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"
#include "util/str.h"
#include "util/timeutil.h"

/* How often a host beats: often enough that a few lost beats do not make
 * it down, at most every 5 s. */
static int64_t beat_every_ms(const struct ctl *c)
{
	int64_t ms = (int64_t)c->cfg.host_down_after_s * 1000 / 4;
	return ms > 5000 ? 5000 : ms < 250 ? 250 : ms;
}

static int64_t down_after_ms(const struct ctl *c)
{
	return (int64_t)c->cfg.host_down_after_s * 1000;
}

/* The machine's hostname as a host name: its first label, lower case. */
static void default_name(char *out, size_t n)
{
	char buf[256] = "";
	if (gethostname(buf, sizeof(buf) - 1) < 0)
		snprintf(buf, sizeof(buf), "localhost");
	buf[strcspn(buf, ".")] = '\0';
	for (char *p = buf; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	snprintf(out, n, "%s", buf);
}

/* The prefix of this host's objects: its row's, kept from its first start;
 * for a new row the store's older single-host prefix (meta host_prefix)
 * when this is the store's only host, else one derived from the state
 * directory. */
static int pick_prefix(struct ctl *c, bool only_host, char out[8], bool *alone, struct err *e)
{
	struct host *hs = NULL;
	int n = 0;
	if (store_host_list(c->st, &hs, &n, e) < 0)
		return -1;
	bool known = false, first = n == 0;
	*alone = true;
	for (int i = 0; i < n; i++) {
		if (strcmp(hs[i].name, c->host_name) == 0 && hs[i].prefix[0]) {
			snprintf(out, 8, "%s", hs[i].prefix);
			known = true;
		} else if (strcmp(hs[i].name, c->host_name) != 0) {
			*alone = false;
		}
	}
	free(hs);
	if (known)
		return 0;
	char *saved = NULL;
	if ((only_host || first) && store_meta_get(c->st, "host_prefix", &saved, e) < 0)
		return -1;
	if (saved) {
		snprintf(out, 8, "%s", saved);
		free(saved);
		return 0;
	}
	char real[PATH_MAX];
	const char *dir = realpath(c->state_dir, real) ? real : c->state_dir;
	snprintf(out, 8, "%04x", id_hash32(dir) & 0xffff);
	return 0;
}

static void fill_row(struct ctl *c, struct host *h)
{
	struct host_info hi;
	memset(h, 0, sizeof(*h));
	ctl_host_info(c, &hi, NULL);
	id_new("host", h->id);
	snprintf(h->name, sizeof(h->name), "%s", c->host_name);
	snprintf(h->address, sizeof(h->address), "%s", c->advertise);
	snprintf(h->accel, sizeof(h->accel), "%s", hi.accel);
	h->vcpus = hi.vcpus;
	h->memory_mib = hi.memory_mib;
	h->cpu_overcommit = hi.cpu_overcommit;
	h->memory_overcommit = hi.memory_overcommit;
	h->reserved_memory_mib = hi.reserved_memory_mib;
	h->vcpus_allocatable = hi.vcpus_allocatable;
	h->memory_mib_allocatable = hi.memory_mib_allocatable;
	h->heartbeat = h->started_at = h->created_at = time_now_ms();
	snprintf(h->prefix, sizeof(h->prefix), "%s", c->prefix);
	snprintf(h->version, sizeof(h->version), "%s", c->version);
	snprintf(h->peer_url, sizeof(h->peer_url), "%s", c->peer_url);
	snprintf(h->peer_pin, sizeof(h->peer_pin), "%s", c->peer_pin);
}

static int register_host(struct ctl *c, struct err *e)
{
	bool only_host = strcmp(store_engine(c->st), "sqlite") == 0, alone = true;
	if (pick_prefix(c, only_host, c->prefix, &alone, e) < 0)
		return -1;
	struct host h;
	fill_row(c, &h);
	if (store_host_register(c->st, &h, only_host, e) < 0)
		return -1;
	snprintf(c->prefix, sizeof(c->prefix), "%s", h.prefix);
	c->beat_at = time_mono_ms();
	log_info("host %s%s%s: %d vCPUs and %d MiB allocatable%s (prefix %s)", h.name, h.address[0] ? " at " : "",
		 h.address, h.vcpus_allocatable, h.memory_mib_allocatable, h.draining ? ", draining" : "", h.prefix);
	/* Older nubods of a single-host store read it there (kept while this
	 * host is the store's only one). */
	return only_host || alone ? store_meta_set(c->st, "host_prefix", c->prefix, e) : 0;
}

int hosts_init(struct ctl *c, struct err *e)
{
	if (!c->host_name[0])
		default_name(c->host_name, sizeof(c->host_name));
	if (host_name_validate(c->host_name, "host name", e) < 0) {
		err_prefix(e, "give this host a name with --host-name NAME (or \"host_name\" in nubod.json)");
		return -1;
	}
	return register_host(c, e);
}

bool hosts_reconcile(struct ctl *c)
{
	int64_t now = time_mono_ms();
	if (now - c->beat_at < beat_every_ms(c))
		return false;
	c->beat_at = now;
	struct err e = {0};
	bool came_back = false;
	if (store_host_heartbeat(c->st, c->host_name, time_now_ms(), &came_back, &e) < 0) {
		if (e.kind == ERR_NOT_FOUND) {
			/* removed while this nubod ran (it was taken for dead): it joins again */
			log_warn("host %s: its row was removed; registering again", c->host_name);
			if (register_host(c, &e) < 0)
				log_error("host %s: %s", c->host_name, e.msg);
		} else {
			log_warn("host %s: heartbeat: %s", c->host_name, e.msg);
		}
		return false;
	}
	if (came_back)
		log_info("host %s: was marked down; up again, its VMs show their state again", c->host_name);
	char **down = NULL;
	int n = 0;
	if (store_hosts_mark_down(c->st, time_now_ms() - down_after_ms(c), &down, &n, &e) < 0)
		log_warn("hosts: %s", e.msg);
	for (int i = 0; i < n; i++) {
		log_warn("host %s: no heartbeat for %d s: down; its VMs' state is unknown until it is back", down[i],
			 c->cfg.host_down_after_s);
		free(down[i]);
	}
	free(down);
	return false;
}

bool ctl_vm_is_mine(struct ctl *c, const struct vm *vm)
{
	return strcmp(vm->host, c->host_name) == 0;
}

const char *ctl_host_name(struct ctl *c)
{
	return c->host_name;
}

/* --- the API's view ------------------------------------------------------------ */

int ctl_host_list(struct ctl *c, json_t **out, struct err *e)
{
	struct host *hs = NULL;
	int n = 0;
	if (store_host_list(c->st, &hs, &n, e) < 0)
		return -1;
	int64_t now = time_now_ms();
	json_t *arr = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(arr, host_to_json(&hs[i], now, down_after_ms(c)));
	free(hs);
	*out = json_pack("{s:o}", "hosts", arr);
	return 0;
}

int ctl_host_show(struct ctl *c, const char *ref, json_t **out, struct err *e)
{
	struct host h;
	if (store_host_get(c->st, ref, &h, e) < 0)
		return -1;
	*out = host_to_json(&h, time_now_ms(), down_after_ms(c));
	return 0;
}

int ctl_host_drain(struct ctl *c, const char *ref, bool draining, json_t **out, struct err *e)
{
	struct host h;
	if (store_host_set_draining(c->st, ref, draining, &h, e) < 0)
		return -1;
	log_info("host %s: %s", h.name, draining ? "draining: no new VMs" : "undrained: takes new VMs again");
	*out = host_to_json(&h, time_now_ms(), down_after_ms(c));
	return 0;
}

int ctl_host_remove(struct ctl *c, const char *ref, struct err *e)
{
	struct host h;
	if (store_host_remove(c->st, ref, time_now_ms() - down_after_ms(c), &h, e) < 0)
		return -1;
	log_info("host %s: removed", h.name);
	return 0;
}
