/* host: a server of the cloud (see host.h). */
#include "model/host.h"

#include <string.h>

#include "model/vm.h"
#include "util/timeutil.h"

const char *host_state_at(const struct host *h, int64_t now_ms, int64_t down_after_ms)
{
	if (now_ms - h->heartbeat > down_after_ms)
		return "down";
	return h->draining ? "draining" : "up";
}

int host_name_validate(const char *name, const char *field, struct err *e)
{
	return vm_name_validate(name, field, e);
}

json_t *host_to_json(const struct host *h, int64_t now_ms, int64_t down_after_ms)
{
	char beat[32] = "";
	if (h->heartbeat)
		time_format_rfc3339(h->heartbeat, beat);
	json_t *o = json_object();
	json_object_set_new(o, "id", json_string(h->id));
	json_object_set_new(o, "name", json_string(h->name));
	json_object_set_new(o, "state", json_string(host_state_at(h, now_ms, down_after_ms)));
	json_object_set_new(o, "draining", json_boolean(h->draining));
	json_object_set_new(o, "address", h->address[0] ? json_string(h->address) : json_null());
	json_object_set_new(o, "accel", h->accel[0] ? json_string(h->accel) : json_null());
	json_object_set_new(o, "vcpus", json_integer(h->vcpus));
	json_object_set_new(o, "memory_mib", json_integer(h->memory_mib));
	json_object_set_new(o, "cpu_overcommit", json_real(h->cpu_overcommit));
	json_object_set_new(o, "memory_overcommit", json_real(h->memory_overcommit));
	json_object_set_new(o, "reserved_memory_mib", json_integer(h->reserved_memory_mib));
	json_object_set_new(o, "vcpus_allocatable", json_integer(h->vcpus_allocatable));
	json_object_set_new(o, "memory_mib_allocatable", json_integer(h->memory_mib_allocatable));
	json_object_set_new(o, "vcpus_used", json_integer(h->vcpus_used));
	json_object_set_new(o, "memory_mib_used", json_integer(h->memory_mib_used));
	json_object_set_new(o, "vms", json_integer(h->n_vms));
	json_object_set_new(o, "heartbeat", beat[0] ? json_string(beat) : json_null());
	json_object_set_new(o, "heartbeat_age_ms", json_integer(h->heartbeat ? now_ms - h->heartbeat : -1));
	json_object_set_new(o, "version", h->version[0] ? json_string(h->version) : json_null());
	json_object_set_new(o, "peer_url", h->peer_url[0] ? json_string(h->peer_url) : json_null());
	json_object_set_new(o, "peer_pin", h->peer_pin[0] ? json_string(h->peer_pin) : json_null());
	return o;
}
