/* vm: validation, the state table and JSON (see vm.h for the state diagram). */
#include "model/vm.h"

#include <stdlib.h>
#include <string.h>

#include "util/str.h"
#include "util/timeutil.h"

static const char *state_names[] = {
	[VM_PENDING] = "pending",		[VM_RUNNING] = "running",
	[VM_STOPPING] = "stopping",		[VM_STOPPED] = "stopped",
	[VM_SHUTTING_DOWN] = "shutting-down", [VM_TERMINATED] = "terminated",
	[VM_ERROR] = "error",
};

static const char *power_names[] = {
	[POWER_RUNNING] = "running",
	[POWER_STOPPED] = "stopped",
	[POWER_DELETED] = "deleted",
};

void vm_free_fields(struct vm *vm)
{
	if (!vm)
		return;
	free(vm->ssh_keys);
	free(vm->ssh_key_file);
	free(vm->user_data);
	free(vm->reason);
	free(vm->move_files);
	vm->ssh_keys = vm->ssh_key_file = vm->user_data = vm->reason = vm->move_files = NULL;
}

void vm_list_free(struct vm *vms, int n)
{
	for (int i = 0; vms && i < n; i++)
		vm_free_fields(&vms[i]);
	free(vms);
}

int vm_cmp_id(const void *a, const void *b)
{
	return strcmp(((const struct vm *)a)->id, ((const struct vm *)b)->id);
}

const char *vm_state_name(enum vm_state s)
{
	return (unsigned)s < sizeof(state_names) / sizeof(state_names[0]) ? state_names[s] : "unknown";
}

int vm_state_parse(const char *s, enum vm_state *out)
{
	for (unsigned i = 0; s && i < sizeof(state_names) / sizeof(state_names[0]); i++) {
		if (strcmp(s, state_names[i]) == 0) {
			*out = (enum vm_state)i;
			return 0;
		}
	}
	return -1;
}

const char *vm_power_name(enum vm_power p)
{
	return (unsigned)p < sizeof(power_names) / sizeof(power_names[0]) ? power_names[p] : "unknown";
}

int vm_power_parse(const char *s, enum vm_power *out)
{
	for (unsigned i = 0; s && i < sizeof(power_names) / sizeof(power_names[0]); i++) {
		if (strcmp(s, power_names[i]) == 0) {
			*out = (enum vm_power)i;
			return 0;
		}
	}
	return -1;
}

int vm_name_validate(const char *name, const char *field, struct err *e)
{
	if (!name || !*name)
		return err_set(e, ERR_INVALID, "%s must not be empty", field);
	size_t n = strlen(name);
	if (n > NAME_MAX_LEN) {
		/* quote at most 80 bytes, cut between UTF-8 characters: the message travels in JSON */
		size_t cut = n > 80 ? 80 : n;
		while (cut > 0 && cut < n && ((unsigned char)name[cut] & 0xc0) == 0x80)
			cut--;
		return err_set(e, ERR_INVALID, "%s \"%.*s%s\" is %zu characters long; the limit is %d", field,
			       (int)cut, name, cut < n ? "…" : "", n, NAME_MAX_LEN);
	}
	if (!(name[0] >= 'a' && name[0] <= 'z'))
		return err_set(e, ERR_INVALID,
			       "%s \"%s\" must start with a lowercase letter (names are DNS labels: a-z, 0-9 and -)",
			       field, name);
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')
			continue;
		/* quote the whole character, not its first byte, so that the message stays UTF-8 */
		size_t len = 1;
		while ((unsigned char)c >= 0xc0 && len < 4 && ((unsigned char)name[i + len] & 0xc0) == 0x80)
			len++;
		return err_set(e, ERR_INVALID, "%s \"%s\" contains '%.*s'; names are DNS labels: a-z, 0-9 and -",
			       field, name, (int)len, name + i);
	}
	if (name[n - 1] == '-')
		return err_set(e, ERR_INVALID, "%s \"%s\" must not end with '-'", field, name);
	return 0;
}

const char *vm_action_name(enum vm_action a)
{
	switch (a) {
	case VM_ACTION_START: return "start";
	case VM_ACTION_STOP: return "stop";
	case VM_ACTION_REBOOT: return "reboot";
	case VM_ACTION_DELETE: return "delete";
	}
	return "?";
}

/*
 * The state table. Rows are observed states, columns user actions. Where the
 * spec already asks for the outcome, the action is a no-op (idempotent), so
 * "stop a stopped VM" and "start a running VM" succeed without doing anything.
 */
enum vm_verdict vm_action_verdict(enum vm_state state, enum vm_power power, enum vm_action a)
{
	if (power == POWER_DELETED)
		return a == VM_ACTION_DELETE ? VM_NOOP : VM_REFUSE;
	switch (a) {
	case VM_ACTION_START:
		if (power == POWER_RUNNING && state != VM_ERROR)
			return VM_NOOP;
		return state == VM_STOPPING ? VM_REFUSE : VM_ACCEPT;
	case VM_ACTION_STOP:
		if (power == POWER_STOPPED)
			return VM_NOOP;
		return VM_ACCEPT;
	case VM_ACTION_REBOOT:
		return (state == VM_RUNNING && power == POWER_RUNNING) ? VM_ACCEPT : VM_REFUSE;
	case VM_ACTION_DELETE:
		return VM_ACCEPT;
	}
	return VM_REFUSE;
}

bool vm_holds_capacity(const struct vm *vm)
{
	return vm->power == POWER_RUNNING || vm->state == VM_RUNNING || vm->state == VM_PENDING ||
	       vm->state == VM_STOPPING;
}

bool vm_resize_due(const struct vm *vm)
{
	return vm->state == VM_RUNNING && vm->power == POWER_RUNNING && !vm->reboot &&
	       (vm->live_vcpus != vm->vcpus || vm->live_memory_mib != vm->memory_mib ||
		vm->disk_size_bytes > vm->live_disk_bytes);
}

const char *vm_ip(const struct vm *vm)
{
	return vm->n_nics ? vm->nics[0].ip : "";
}

static json_t *time_or_null(int64_t ms)
{
	if (!ms)
		return json_null();
	char buf[32];
	time_format_rfc3339(ms, buf);
	return json_string(buf);
}

static json_t *str_or_null(const char *s)
{
	return (s && *s) ? json_string(s) : json_null();
}

json_t *vm_to_json(const struct vm *vm)
{
	json_t *o = json_object();
	json_object_set_new(o, "id", json_string(vm->id));
	json_object_set_new(o, "name", json_string(vm->name));
	if (vm->host_down[0]) {
		json_object_set_new(o, "state", json_string("unknown"));
		json_object_set_new(o, "reason", json_string(vm->host_down));
		json_object_set_new(o, "last_state", json_string(vm_state_name(vm->state)));
	} else {
		json_object_set_new(o, "state", json_string(vm_state_name(vm->state)));
		json_object_set_new(o, "reason", str_or_null(vm->reason));
	}
	json_object_set_new(o, "host", str_or_null(vm->host));
	json_object_set_new(o, "spread_group", str_or_null(vm->spread_group));
	json_object_set_new(o, "move_to", str_or_null(vm->move_to));
	json_object_set_new(o, "power", json_string(vm_power_name(vm->power)));
	json_object_set_new(o, "type", json_string(vm->type));
	json_object_set_new(o, "vcpus", json_integer(vm->vcpus));
	json_object_set_new(o, "memory_mib", json_integer(vm->memory_mib));
	json_object_set_new(o, "max_type", json_string(vm->max_type[0] ? vm->max_type : vm->type));
	json_object_set_new(o, "max_vcpus", json_integer(vm->max_vcpus ? vm->max_vcpus : vm->vcpus));
	json_object_set_new(o, "max_memory_mib", json_integer(vm->max_memory_mib ? vm->max_memory_mib : vm->memory_mib));
	/* What the running QEMU has, when it differs from the spec: a live resize under way. */
	json_object_set_new(o, "live_vcpus", vm->state == VM_RUNNING && vm->live_vcpus ? json_integer(vm->live_vcpus) : json_null());
	json_object_set_new(o, "live_memory_mib",
			    vm->state == VM_RUNNING && vm->live_memory_mib ? json_integer(vm->live_memory_mib) : json_null());
	json_object_set_new(o, "image", json_string(vm->image));
	json_object_set_new(o, "ssh_user", json_string(vm->ssh_user[0] ? vm->ssh_user : "root"));
	json_object_set_new(o, "disk_size_bytes", vm->disk_size_bytes ? json_integer((json_int_t)vm->disk_size_bytes) : json_null());
	json_object_set_new(o, "ephemeral_bytes", vm->ephemeral_bytes ? json_integer((json_int_t)vm->ephemeral_bytes) : json_null());
	json_object_set_new(o, "seed", json_boolean(!vm->no_seed));
	/* network, ip and mac: the primary NIC's, for people and scripts that want one address. */
	json_object_set_new(o, "network", vm->n_nics ? json_string(vm->nics[0].network) : json_null());
	json_object_set_new(o, "ip", str_or_null(vm_ip(vm)));
	json_object_set_new(o, "mac", vm->n_nics ? json_string(vm->nics[0].mac) : json_null());
	json_t *nics = json_array();
	for (int i = 0; i < vm->n_nics; i++) {
		const struct vm_nic *n = &vm->nics[i];
		json_t *nj = json_pack("{s:s, s:s, s:s}", "network", n->network, "ip", n->ip, "mac", n->mac);
		json_array_append_new(nics, nj);
	}
	json_object_set_new(o, "nics", nics);
	json_t *fws = json_array();
	for (int i = 0; i < vm->n_firewalls; i++)
		json_array_append_new(fws, json_string(vm->firewalls[i].name));
	json_object_set_new(o, "firewalls", fws);
	json_object_set_new(o, "accel", str_or_null(vm->accel));
	json_object_set_new(o, "pid", vm->pid > 0 ? json_integer(vm->pid) : json_null());
	json_object_set_new(o, "ssh_key_file", str_or_null(vm->ssh_key_file));
	json_object_set_new(o, "created_at", time_or_null(vm->created_at));
	json_object_set_new(o, "started_at", time_or_null(vm->started_at));
	json_object_set_new(o, "boot_phases", phases_to_json(&vm->boot));
	json_object_set_new(o, "operation", str_or_null(vm->op_id));
	return o;
}
