/*
 * scheduler: placement and admission against the hosts' capacity, and IP
 * allocation. The choice of host is model/placement.c's, a pure function
 * over the hosts' free capacity; this file feeds it the hosts table.
 *
 * Capacity is vCPUs × cpu_overcommit and (memory − reserve) ×
 * memory_overcommit; VMs asked to run, or still running, hold their type's
 * share, stopped ones hold nothing. Callers run these inside a store
 * transaction so two creates cannot both take the last slot.
 */
#include "ctl/ctl-priv.h"

#include "model/cidr.h"
#include "model/placement.h"

#include <stdlib.h>
#include <string.h>

#include "util/str.h"
#include "util/timeutil.h"

/* The capacity message of one host, the words users of a single host know. */
static int no_room(const struct vm *vm, const struct host *h, struct err *e)
{
	int free_cpu = h->vcpus_allocatable - h->vcpus_used, free_mem = h->memory_mib_allocatable - h->memory_mib_used;
	return err_set(e, ERR_CAPACITY,
		       "insufficient capacity: VM %s (type %s) needs %d vCPU and %d MiB; the host has %d of %d "
		       "vCPUs and %d of %d MiB free (host %s: cpu_overcommit %.1f, memory_overcommit %.1f, %d MiB "
		       "reserved for the host). Stop or delete a VM, or choose a smaller type.",
		       vm->name, vm->type, vm->vcpus, vm->memory_mib, free_cpu < 0 ? 0 : free_cpu, h->vcpus_allocatable, free_mem < 0 ? 0 : free_mem,
		       h->memory_mib_allocatable, h->name, h->cpu_overcommit, h->memory_overcommit,
		       h->reserved_memory_mib);
}

/* This host as the hosts table would hold it, for VMs of no host row. */
static int own_host(struct ctl *c, struct host *h, const char *exclude_id, struct err *e)
{
	struct host_info hi;
	memset(h, 0, sizeof(*h));
	if (ctl_host_info(c, &hi, e) < 0)
		return -1;
	snprintf(h->name, sizeof(h->name), "%s", c->host_name);
	h->vcpus_allocatable = hi.vcpus_allocatable;
	h->memory_mib_allocatable = hi.memory_mib_allocatable;
	h->cpu_overcommit = hi.cpu_overcommit;
	h->memory_overcommit = hi.memory_overcommit;
	h->reserved_memory_mib = hi.reserved_memory_mib;
	return store_vm_usage(c->st, c->host_name, exclude_id, &h->vcpus_used, &h->memory_mib_used, e);
}

/* Narrows placement to the hosts that hold the VM's image or can fetch it
 * (ctl/peer.c): every host while a host holding it is up (or the image has
 * no files to fetch), else only its holders. A host that is down serves
 * nothing; one without a peer URL leaves the VM waiting with that reason. */
static int image_hosts(struct ctl *c, const struct vm *vm, const char *pin, const struct host *hs, int n,
		       struct placement_host *ph, int64_t now, int64_t down_after, struct err *e)
{
	struct image img;
	char **holders = NULL;
	int n_holders = 0, rc = 0;
	bool fetchable = false, any = false;
	if (!vm->image_id[0] || store_image_get(c->st, vm->image_id, &img, NULL) < 0)
		return 0;
	if (!img.files || strcmp(img.files, "[]") == 0 ||
	    store_image_copies(c->st, img.id, &holders, &n_holders, e) < 0 || n_holders == 0)
		goto out;   /* nothing to fetch, or an image of before copies were recorded: as before */
	for (int i = 0; i < n; i++)
		for (int j = 0; j < n_holders; j++)
			if (strcmp(hs[i].name, holders[j]) == 0 &&
			    strcmp(host_state_at(&hs[i], now, down_after), "down") != 0)
				fetchable = true;
	if (fetchable)
		goto out;
	for (int i = 0; i < n; i++) {
		bool holder = false;
		for (int j = 0; j < n_holders; j++)
			holder = holder || strcmp(hs[i].name, holders[j]) == 0;
		ph[i].usable = ph[i].usable && holder;
		any = any || (ph[i].usable && (!pin || strcmp(pin, hs[i].name) == 0));
	}
	if (!any) {
		struct sbuf names = {0};
		for (int j = 0; j < n_holders; j++)
			sbuf_addf(&names, "%s%s", j ? ", " : "", holders[j]);
		autofree char *list = sbuf_take(&names);
		rc = err_set(e, ERR_CONFLICT,
			     "image %s is only on host %s, which is down: no other host can fetch it until "
			     "that host's nubod is back (or build or import the image again)",
			     img.name, list);
	}
out:
	store_strv_free(holders);
	image_free_fields(&img);
	return rc;
}

/* Called in the admission transaction: on PostgreSQL every write
 * transaction holds the cluster's write lock (driver_pg.c), so what is read
 * here is what the next writer on any host reads after the VM is in: two
 * hosts never hand out the same capacity. */
int sched_place(struct ctl *c, struct vm *vm, const char *pin, struct err *e)
{
	struct host *hs = NULL;
	int n = 0, rc = -1;
	int *members = NULL;
	if (store_host_list(c->st, &hs, &n, e) < 0)
		return -1;
	int64_t now = time_now_ms(), down_after = (int64_t)c->cfg.host_down_after_s * 1000;
	struct placement_host *ph = xcalloc((size_t)n + 1, sizeof(*ph));
	for (int i = 0; i < n; i++) {
		ph[i] = (struct placement_host){hs[i].vcpus_allocatable, hs[i].memory_mib_allocatable, hs[i].vcpus_used,
						hs[i].memory_mib_used,
						strcmp(host_state_at(&hs[i], now, down_after), "up") == 0};
	}
	struct placement_pool *pool = NULL;
	int pick = -1;
	if (image_hosts(c, vm, pin, hs, n, ph, now, down_after, e) < 0)
		goto out;
	pool = placement_pool_new(ph, n);
	if (pin) {
		for (int i = 0; i < n; i++)
			if (strcmp(hs[i].name, pin) == 0)
				pick = i;
		if (pick < 0) {
			struct sbuf names = {0};
			for (int i = 0; i < n; i++)
				sbuf_addf(&names, "%s%s", i ? ", " : "", hs[i].name);
			autofree char *list = sbuf_take(&names);
			err_set(e, ERR_UNPROCESSABLE, "host \"%s\" does not exist; hosts: %s", pin, list ? list : "none");
			goto out;
		}
		const char *state = host_state_at(&hs[pick], now, down_after);
		if (strcmp(state, "up") != 0) {
			if (strcmp(state, "draining") == 0)
				err_set(e, ERR_CONFLICT, "host %s is draining: it takes no new VMs (nubo host undrain %s "
					"lets it take them again)", pin, pin);
			else
				err_set(e, ERR_CONFLICT, "host %s is down: it takes no new VMs until its nubod beats again",
					pin);
			goto out;
		}
		if (!placement_pool_fits(pool, pick, vm->vcpus, vm->memory_mib)) {
			no_room(vm, &hs[pick], e);
			goto out;
		}
	} else {
		if (vm->spread_group[0]) {
			members = xcalloc((size_t)n + 1, sizeof(*members));
			if (store_spread_members(c->st, vm->spread_group, hs, n, members, e) < 0)
				goto out;
			pick = placement_pool_pick_spread(pool, members, vm->vcpus, vm->memory_mib, c->cfg.placement);
		} else {
			pick = placement_pool_pick(pool, vm->vcpus, vm->memory_mib, c->cfg.placement);
		}
		if (pick < 0 && n == 1) {
			no_room(vm, &hs[0], e);
			goto out;
		}
		if (pick < 0) {
			struct sbuf why = {0};
			for (int i = 0; i < n; i++) {
				const char *state = host_state_at(&hs[i], now, down_after);
				if (strcmp(state, "up") != 0)
					sbuf_addf(&why, "%s%s %s", i ? ", " : "", hs[i].name, state);
				else
					sbuf_addf(&why, "%s%s %d of %d vCPUs and %d of %d MiB free", i ? ", " : "", hs[i].name,
						  hs[i].vcpus_allocatable - hs[i].vcpus_used, hs[i].vcpus_allocatable,
						  hs[i].memory_mib_allocatable - hs[i].memory_mib_used,
						  hs[i].memory_mib_allocatable);
			}
			autofree char *list = sbuf_take(&why);
			err_set(e, ERR_CAPACITY,
				"insufficient capacity: VM %s (type %s) needs %d vCPU and %d MiB and no host that takes new "
				"VMs has that free (%s). Stop or delete a VM, add or undrain a host, or choose a smaller type.",
				vm->name, vm->type, vm->vcpus, vm->memory_mib, n ? list : "no host has joined");
			goto out;
		}
	}
	snprintf(vm->host, sizeof(vm->host), "%s", hs[pick].name);
	rc = 0;
out:
	placement_pool_free(pool);
	free(members);
	free(ph);
	free(hs);
	return rc;
}

int sched_admit(struct ctl *c, const struct vm *vm, struct err *e)
{
	struct host h;
	struct err ge = {0};
	if (vm->host[0] && store_host_get(c->st, vm->host, &h, &ge) == 0) {
		if (store_vm_usage(c->st, vm->host, vm->id, &h.vcpus_used, &h.memory_mib_used, e) < 0)
			return -1;
	} else if (ge.kind && ge.kind != ERR_NOT_FOUND) {
		*e = ge;
		return -1;
	} else if (own_host(c, &h, vm->id, e) < 0) {   /* a VM of no host row: this host's */
		return -1;
	}
	if (vm->vcpus <= h.vcpus_allocatable - h.vcpus_used && vm->memory_mib <= h.memory_mib_allocatable - h.memory_mib_used)
		return 0;
	return no_room(vm, &h, e);
}

int sched_pick_ip(struct ctl *c, const struct network *net, char ip[16], struct err *e)
{
	struct cidr cidr;
	if (cidr4_parse(net->cidr, "network cidr", &cidr, e) < 0)
		return -1;
	struct ip_text *held = NULL;
	int n = 0;
	if (store_ips_taken(c->st, net->id, &held, &n, e) < 0)
		return -1;
	/* The lowest free host index from 2 up (.1 is the gateway on the host's
	 * bridge). Among indexes 2 .. n+2 one is free, so a bitmap of those is
	 * enough however large the network. */
	uint32_t last = cidr4_host_count(&cidr);
	if (last > (uint32_t)n + 2)
		last = (uint32_t)n + 2;
	bool *used = xcalloc((size_t)last + 1, sizeof(bool));
	for (int i = 0; i < n; i++) {
		uint32_t k = cidr4_index_of(&cidr, held[i].ip);
		if (k && k <= last)
			used[k] = true;
	}
	free(held);
	uint32_t k = 2;
	while (k <= last && used[k])
		k++;
	free(used);
	if (k > last)
		return err_set(e, ERR_CAPACITY, "network %s (%s) has no free IP address left", net->name, net->cidr);
	cidr4_host(&cidr, k, ip);
	return 0;
}

int sched_claim_ip(struct ctl *c, const struct network *net, const char *want, const char *field, char ip[16],
		   struct err *e)
{
	struct cidr cidr;
	if (cidr4_parse(net->cidr, "network cidr", &cidr, e) < 0)
		return -1;
	uint32_t i = cidr4_index_of(&cidr, want);
	if (i == 0 || strlen(want) >= 16)
		return err_set(e, ERR_INVALID, "%s \"%s\" is not a usable address in network %s (%s)", field, want,
			       net->name, net->cidr);
	cidr4_host(&cidr, i, ip);
	if (strcmp(ip, want) != 0)   /* "10.20.0.010" and the like: only the usual spelling */
		return err_set(e, ERR_INVALID, "%s \"%s\": write the address as %s", field, want, ip);
	if (i == 1)
		return err_set(e, ERR_INVALID, "%s \"%s\" is the gateway of network %s (the host's address)", field,
			       want, net->name);
	bool taken = false;
	if (store_ip_taken(c->st, net->id, ip, &taken, e) < 0)
		return -1;
	if (taken)
		return err_set(e, ERR_CONFLICT, "%s \"%s\" is already in use on network %s", field, want, net->name);
	return 0;
}

int sched_pick_mac(struct ctl *c, char mac[18], struct err *e)
{
	for (int tries = 0; tries < 64; tries++) {
		bool taken = false;
		id_mac_new(mac);
		if (store_mac_taken(c->st, mac, &taken, e) < 0)
			return -1;
		if (!taken)
			return 0;
	}
	return err_set(e, ERR_INTERNAL, "could not find a free MAC address in 64 tries");
}
