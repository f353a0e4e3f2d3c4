/*
 * stacklb: the load balancers and auto-scaling groups of a stack document
 * (lbs:, groups:), read into the normalized specs stack.h describes, with
 * the same checks `nubo lb create` and `nubo group create` make (model/lb.h,
 * model/group.h), each message naming the field by its path.
 *
 * Defaults are filled in as nubod fills them (a health check every 5s, a
 * group's grace of 1m, …), so a spec read back from the store compares
 * equal to the document's when nothing changed. A group's desired count is
 * the exception: it is in the spec only when the file gives it, since the
 * group (its target tracking) moves it on its own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/group.h"
#include "model/lb.h"
#include "model/stack-priv.h"
#include "model/vm.h"
#include "util/str.h"
#include "util/timeutil.h"

void stack_listener_format(unsigned port, unsigned target_port, char out[16])
{
	if (port == target_port)
		snprintf(out, 16, "%u", port);
	else
		snprintf(out, 16, "%u:%u", port, target_port);
}

/* obj[key]: one value or a list, each a string or a number (listen: 80),
 * as a new list of strings. Absent or null: an empty list. */
static int text_list(const json_t *obj, const char *key, const char *path, json_t **out, struct err *e)
{
	const json_t *v = json_object_get(obj, key);
	autofree char *p = xasprintf("%s.%s", path, key);
	*out = json_array();
	if (!v || json_is_null(v))
		return 0;
	json_t *one = json_is_array(v) ? NULL : json_pack("[O]", v);
	const json_t *list = one ? one : v;
	size_t i;
	const json_t *s;
	int rc = 0;
	json_array_foreach((json_t *)list, i, s) {
		autofree char *ip = one ? xstrdup(p) : xasprintf("%s[%zu]", p, i);
		if (json_is_integer(s)) {
			json_array_append_new(*out, json_sprintf("%lld", (long long)json_integer_value(s)));
		} else if (json_is_string(s)) {
			json_array_append(*out, (json_t *)s);
		} else {
			rc = stack_fail(e, ip, "must be a string, not %s", stack_json_kind(s));
			break;
		}
	}
	json_decref(one);
	return rc;
}

/* A whole number in lo..hi; absent or null: dflt (required: an error). */
static int get_int(const json_t *obj, const char *key, const char *path, int lo, int hi, bool required, int dflt,
		   int *out, struct err *e)
{
	autofree char *p = xasprintf("%s.%s", path, key);
	const json_t *v = json_object_get(obj, key);
	*out = dflt;
	if (!v || json_is_null(v))
		return required ? stack_fail(e, p, "is required: a whole number from %d to %d", lo, hi) : 0;
	if (!json_is_integer(v))
		return stack_fail(e, p, "must be a whole number from %d to %d, not %s", lo, hi, stack_json_kind(v));
	if (json_integer_value(v) < lo || json_integer_value(v) > hi)
		return stack_fail(e, p, "%lld is out of range: %d to %d", (long long)json_integer_value(v), lo, hi);
	*out = (int)json_integer_value(v);
	return 0;
}

/* A duration field, parsed by parse (which names the field) and written back
 * in its one spelling; absent: dflt_ms. */
static int get_duration(const json_t *obj, const char *key, const char *path, int64_t dflt_ms,
			int (*parse)(const char *s, const char *field, int64_t *ms, struct err *e), char out[24],
			int64_t *ms, struct err *e)
{
	char buf[32];
	const char *text;
	autofree char *p = xasprintf("%s.%s", path, key);
	*ms = dflt_ms;
	if (stack_get_text(obj, key, path, false, buf, &text, e) < 0 || (text && parse(text, p, ms, e) < 0))
		return -1;
	time_duration_format(*ms, out);
	return 0;
}

static int lb_duration(const char *s, const char *field, int64_t *ms, struct err *e)
{
	int v;
	if (lb_duration_parse(s, field, &v, e) < 0)
		return -1;
	*ms = v;
	return 0;
}

/* A drain time: "0", or a duration up to 1 h. */
static int lb_drain(const char *s, const char *field, int64_t *ms, struct err *e)
{
	int v;
	if (lb_drain_parse(s, field, &v, e) < 0)
		return -1;
	*ms = v;
	return 0;
}

/* --- load balancers -------------------------------------------------------------- */

static int lb_listeners(const json_t *j, const char *path, json_t **out, struct err *e)
{
	json_t *texts;
	autofree char *p = xasprintf("%s.listen", path);
	*out = json_array();
	if (text_list(j, "listen", path, &texts, e) < 0)
		goto fail;
	if (json_array_size(texts) < 1 || json_array_size(texts) > LB_LISTENERS_MAX) {
		stack_fail(e, p, "has %zu ports: give 1 to %d (PORT or PORT:TARGET_PORT, e.g. 80 or 443:8443)",
			   json_array_size(texts), LB_LISTENERS_MAX);
		goto fail;
	}
	struct lb_listener ls[LB_LISTENERS_MAX];
	for (size_t i = 0; i < json_array_size(texts); i++) {
		const char *t = json_string_value(json_array_get(texts, i));
		autofree char *ip = json_is_array(json_object_get(j, "listen")) ? xasprintf("%s[%zu]", p, i) : xstrdup(p);
		if (lb_listener_parse(t, ip, &ls[i], e) < 0)
			goto fail;
		for (size_t k = 0; k < i; k++)
			if (ls[k].port == ls[i].port) {
				stack_fail(e, ip, "\"%s\": port %u is already a listener", t, ls[i].port);
				goto fail;
			}
		char norm[16];
		stack_listener_format(ls[i].port, ls[i].target_port, norm);
		json_array_append_new(*out, json_string(norm));
	}
	json_decref(texts);
	return 0;
fail:
	json_decref(texts);
	return -1;
}

static int lb_targets(const json_t *j, const char *path, json_t **out, struct err *e)
{
	json_t *texts;
	autofree char *p = xasprintf("%s.targets", path);
	*out = json_array();
	if (text_list(j, "targets", path, &texts, e) < 0)
		goto fail;
	if (json_array_size(texts) > LB_TARGETS_MAX) {
		stack_fail(e, p, "has %zu targets: at most %d", json_array_size(texts), LB_TARGETS_MAX);
		goto fail;
	}
	for (size_t i = 0; i < json_array_size(texts); i++) {
		const char *t = json_string_value(json_array_get(texts, i));
		autofree char *ip = json_is_array(json_object_get(j, "targets")) ? xasprintf("%s[%zu]", p, i) : xstrdup(p);
		char vm[NAME_MAX_LEN + 1];
		uint16_t port;
		if (lb_target_parse(t, ip, vm, &port, e) < 0)
			goto fail;
		autofree char *norm = port ? xasprintf("%s:%u", vm, port) : xstrdup(vm);
		for (size_t k = 0; k < json_array_size(*out); k++)
			if (strcmp(json_string_value(json_array_get(*out, k)), norm) == 0) {
				stack_fail(e, ip, "\"%s\" is given twice", t);
				goto fail;
			}
		json_array_append_new(*out, json_string(norm));
	}
	json_decref(texts);
	return 0;
fail:
	json_decref(texts);
	return -1;
}

int stack_lb_parse(const json_t *j, const char *path, json_t **spec, struct err *e)
{
	static const char *const fields[] = {"network", "listen", "targets",   "check", "interval",  "timeout",
					     "rise",	"fall",	  "algorithm", "drain", "host_port", NULL};
	char b1[32], b2[32], b3[32], interval[24], timeout[24], drain[24];
	const char *network, *check, *algorithm;
	json_t *listen = NULL, *targets = NULL;
	autofree char *chk = NULL;
	struct lb lb = {0};
	int64_t iv, to, dr;
	int rc = -1;
	lb_defaults(&lb);
	const json_t *hp = json_object_get(j, "host_port");
	autofree char *hpp = xasprintf("%s.host_port", path);
	autofree char *np = xasprintf("%s.network", path);
	autofree char *cp = xasprintf("%s.check", path);
	autofree char *ap = xasprintf("%s.algorithm", path);
	if (stack_want(j, JSON_OBJECT, path, "a mapping with listen, targets, check, …", e) < 0 ||
	    stack_check_fields(j, path, "a load balancer", fields, e) < 0 ||
	    stack_get_text(j, "network", path, false, b1, &network, e) < 0 ||
	    stack_get_text(j, "check", path, false, b2, &check, e) < 0 ||
	    stack_get_text(j, "algorithm", path, false, b3, &algorithm, e) < 0 ||
	    (network && stack_check_name(network, np, e) < 0) || lb_listeners(j, path, &listen, e) < 0 ||
	    lb_targets(j, path, &targets, e) < 0 || (check && lb_check_parse(check, cp, &lb, e) < 0) ||
	    (algorithm && lb_algorithm_parse(algorithm, ap, &lb.algorithm, e) < 0) ||
	    get_duration(j, "interval", path, lb.interval_ms, lb_duration, interval, &iv, e) < 0 ||
	    get_duration(j, "timeout", path, lb.timeout_ms, lb_duration, timeout, &to, e) < 0 ||
	    get_int(j, "rise", path, 1, 10, false, lb.rise, &lb.rise, e) < 0 ||
	    get_int(j, "fall", path, 1, 10, false, lb.fall, &lb.fall, e) < 0 ||
	    get_duration(j, "drain", path, lb.drain_ms, lb_drain, drain, &dr, e) < 0)
		goto out;
	if (hp && !json_is_null(hp) && !json_is_boolean(hp)) {
		stack_fail(e, hpp, "must be true or false, not %s", stack_json_kind(hp));
		goto out;
	}
	lb.interval_ms = (int)iv;
	lb.timeout_ms = (int)to;
	if (lb_validate(&lb, e) < 0) {   /* rise and fall are in range: the timeout is at fault */
		err_prefix(e, "%s.timeout", path);
		goto out;
	}
	chk = lb.check == LB_CHECK_HTTP ? xasprintf("http:%s", lb.check_path) : xstrdup("tcp");
	*spec = json_pack("{s:s, s:O, s:O, s:s, s:s, s:s, s:i, s:i, s:s}", "network", network ? network : "default",
			  "listen", listen, "targets", targets, "check", chk, "interval", interval, "timeout", timeout,
			  "rise", lb.rise, "fall", lb.fall, "algorithm", lb_algorithm_name(lb.algorithm));
	json_object_set_new(*spec, "drain", json_string(drain));
	json_object_set_new(*spec, "host_port", json_boolean(json_is_true(hp)));
	rc = 0;
out:
	json_decref(listen);
	json_decref(targets);
	return rc;
}

static bool vm_on_network(const json_t *vm_spec, const char *network)
{
	size_t k;
	const json_t *v;
	json_array_foreach(json_object_get(vm_spec, "networks"), k, v)
		if (strcmp(json_string_value(json_object_get(v, "network")), network) == 0)
			return true;
	return false;
}

int stack_lb_link(struct stack_res *res, int n, int i, struct err *e)
{
	struct stack_res *r = &res[i];
	const char *network = json_string_value(json_object_get(r->spec, "network"));
	int d = stack_find_index(res, n, STACK_NETWORK, network);
	if (d >= 0)
		stack_add_dep(r, d);
	size_t k;
	const json_t *t;
	json_array_foreach(json_object_get(r->spec, "targets"), k, t) {
		const char *text = json_string_value(t);
		autofree char *vm = xstrndup(text, strcspn(text, ":"));
		d = stack_find_index(res, n, STACK_VM, vm);
		if (d < 0)
			continue;   /* a VM outside the stack: nubod says whether it exists */
		if (!vm_on_network(res[d].spec, network)) {
			autofree char *p = xasprintf("%s.targets[%zu]", r->path, k);
			return stack_fail(e, p, "VM %s has no NIC on network %s, where the balancer is; add %s to its "
				      "networks or put the balancer on one of its networks",
				      vm, network, network);
		}
		stack_add_dep(r, d);
	}
	return 0;
}

/* --- groups ------------------------------------------------------------------------ */

int stack_group_parse(const json_t *j, const char *path, json_t **spec, struct err *e)
{
	static const char *const fields[] = {"image",	 "type",     "network", "firewalls", "ssh_keys",
					     "user_data", "min",      "max",     "desired",   "target_cpu",
					     "lb",	 "grace",    "warmup",  "cooldown",  "drain",	 NULL};
	char b1[32], b2[32], b3[32], b4[32], b5[32], grace[24], warmup[24], cooldown[24], drain[24];
	const char *image, *type, *network, *user_data, *lb;
	json_t *fws = NULL, *keys = NULL;
	struct scaling_group g = {0};
	int64_t ms;
	int desired = -1, rc = -1;
	group_defaults(&g);
	autofree char *np = xasprintf("%s.network", path);
	autofree char *lp = xasprintf("%s.lb", path);
	autofree char *up = xasprintf("%s.user_data", path);
	const char *name = strrchr(path, '.') ? strrchr(path, '.') + 1 : path;
	if (group_name_validate(name, e) < 0) {
		err_prefix(e, "%s", path);
		return -1;
	}
	if (stack_want(j, JSON_OBJECT, path, "a mapping with image, type, min, max, …", e) < 0 ||
	    stack_check_fields(j, path, "a group", fields, e) < 0 ||
	    stack_get_text(j, "image", path, false, b1, &image, e) < 0 ||
	    stack_get_text(j, "type", path, false, b2, &type, e) < 0 ||
	    stack_get_text(j, "network", path, false, b3, &network, e) < 0 ||
	    stack_get_text(j, "user_data", path, false, b4, &user_data, e) < 0 ||
	    stack_get_text(j, "lb", path, false, b5, &lb, e) < 0 || (network && stack_check_name(network, np, e) < 0) ||
	    stack_string_list(j, "firewalls", path, true, &fws, e) < 0 ||
	    stack_string_list(j, "ssh_keys", path, false, &keys, e) < 0 ||
	    get_int(j, "min", path, 0, GROUP_SIZE_MAX, true, 0, &g.min_size, e) < 0 ||
	    get_int(j, "max", path, 1, GROUP_SIZE_MAX, true, 0, &g.max_size, e) < 0 ||
	    get_int(j, "desired", path, 0, GROUP_SIZE_MAX, false, -1, &desired, e) < 0 ||
	    get_int(j, "target_cpu", path, 0, 100, false, 0, &g.target_cpu, e) < 0 ||
	    (lb && group_lb_parse(lb, lp, g.lb, &g.lb_port, e) < 0) ||
	    get_duration(j, "grace", path, g.grace_ms, group_duration_parse, grace, &ms, e) < 0 ||
	    get_duration(j, "warmup", path, g.warmup_ms, group_duration_parse, warmup, &ms, e) < 0 ||
	    get_duration(j, "cooldown", path, g.cooldown_ms, group_duration_parse, cooldown, &ms, e) < 0 ||
	    get_duration(j, "drain", path, g.drain_ms, group_duration_parse, drain, &ms, e) < 0)
		goto out;
	if (group_sizes_validate(g.min_size, g.max_size, desired >= 0 ? desired : g.min_size, e) < 0) {
		err_prefix(e, "%s", path);
		goto out;
	}
	if (json_array_size(fws) == 0)
		json_array_append_new(fws, json_string("default"));
	if (json_array_size(fws) > VM_FIREWALLS_MAX) {
		stack_fail(e, path, "firewalls has %zu entries; a VM has at most %d", json_array_size(fws), VM_FIREWALLS_MAX);
		goto out;
	}
	if (json_array_size(keys) > VM_SSH_KEYS_MAX) {
		stack_fail(e, path, "ssh_keys has %zu keys; the limit is %d", json_array_size(keys), VM_SSH_KEYS_MAX);
		goto out;
	}
	if (user_data && strlen(user_data) > VM_USER_DATA_MAX) {
		stack_fail(e, up, "is %zu bytes; the limit is %d", strlen(user_data), VM_USER_DATA_MAX);
		goto out;
	}
	*spec = json_pack("{s:s, s:s, s:s, s:O, s:O, s:i, s:i, s:i, s:s, s:s, s:s, s:s}", "image", image ? image : "tiny",
			  "type", type ? type : "small", "network", network ? network : "default", "firewalls", fws,
			  "ssh_keys", keys, "min", g.min_size, "max", g.max_size, "target_cpu", g.target_cpu, "grace", grace,
			  "warmup", warmup, "cooldown", cooldown, "drain", drain);
	if (desired >= 0)
		json_object_set_new(*spec, "desired", json_integer(desired));
	if (user_data && *user_data)
		json_object_set_new(*spec, "user_data", json_string(user_data));
	if (lb) {
		autofree char *norm = g.lb_port ? xasprintf("%s:%d", g.lb, g.lb_port) : xstrdup(g.lb);
		json_object_set_new(*spec, "lb", json_string(norm));
	}
	rc = 0;
out:
	json_decref(fws);
	json_decref(keys);
	return rc;
}

int stack_group_link(struct stack_res *res, int n, int i, struct err *e)
{
	struct stack_res *r = &res[i];
	const char *network = json_string_value(json_object_get(r->spec, "network"));
	const char *lb = json_string_value(json_object_get(r->spec, "lb"));
	int d = stack_find_index(res, n, STACK_NETWORK, network);
	if (d >= 0)
		stack_add_dep(r, d);
	size_t k;
	const json_t *v;
	json_array_foreach(json_object_get(r->spec, "firewalls"), k, v) {
		d = stack_find_index(res, n, STACK_FIREWALL, json_string_value(v));
		if (d >= 0)
			stack_add_dep(r, d);
	}
	if (lb) {
		autofree char *name = xstrndup(lb, strcspn(lb, ":"));
		d = stack_find_index(res, n, STACK_LB, name);
		if (d >= 0) {
			const char *lb_net = json_string_value(json_object_get(res[d].spec, "network"));
			if (strcmp(lb_net, network) != 0) {
				autofree char *p = xasprintf("%s.lb", r->path);
				return stack_fail(e, p, "lb %s is on network %s, and the group's VMs would be on %s: give network: %s",
					      name, lb_net, network, lb_net);
			}
			stack_add_dep(r, d);
		}
	}
	return stack_user_data_deps(res, n, i, e);
}
