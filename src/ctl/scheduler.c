/*
 * scheduler: admission against the host's capacity, and IP allocation.
 *
 * Capacity is vCPUs × cpu_overcommit and (memory − reserve) ×
 * memory_overcommit; VMs asked to run, or still running, hold their type's
 * share, stopped ones hold nothing. Callers run these inside a store
 * transaction so two creates cannot both take the last slot.
 */
#include "ctl/ctl-priv.h"

#include "model/cidr.h"

#include <string.h>

int sched_admit(struct ctl *c, const struct vm *vm, struct err *e)
{
	struct host_info h;
	if (ctl_host_info(c, &h, e) < 0)
		return -1;
	int used_cpu = 0, used_mem = 0;
	if (store_vm_usage(c->st, vm->id, &used_cpu, &used_mem, e) < 0)
		return -1;
	int free_cpu = h.vcpus_allocatable - used_cpu, free_mem = h.memory_mib_allocatable - used_mem;
	if (vm->vcpus <= free_cpu && vm->memory_mib <= free_mem)
		return 0;
	return err_set(e, ERR_CAPACITY,
		       "insufficient capacity: VM %s (type %s) needs %d vCPU and %d MiB; the host has %d of %d "
		       "vCPUs and %d of %d MiB free (cpu_overcommit %.1f, memory_overcommit %.1f, %d MiB "
		       "reserved for the host). Stop or delete a VM, or choose a smaller type.",
		       vm->name, vm->type, vm->vcpus, vm->memory_mib, free_cpu < 0 ? 0 : free_cpu,
		       h.vcpus_allocatable, free_mem < 0 ? 0 : free_mem, h.memory_mib_allocatable,
		       h.cpu_overcommit, h.memory_overcommit, h.reserved_memory_mib);
}

int sched_pick_ip(struct ctl *c, const struct network *net, char ip[16], struct err *e)
{
	struct cidr cidr;
	if (cidr4_parse(net->cidr, "network cidr", &cidr, e) < 0)
		return -1;
	/* .1 is the gateway on the host's bridge. */
	for (uint32_t i = 2; i <= cidr4_host_count(&cidr); i++) {
		bool taken = false;
		cidr4_host(&cidr, i, ip);
		if (store_ip_taken(c->st, net->id, ip, &taken, e) < 0)
			return -1;
		if (!taken)
			return 0;
	}
	return err_set(e, ERR_CAPACITY, "network %s (%s) has no free IP address left", net->name, net->cidr);
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
