/* stack: the stack document's schema, checks, normalized specs and order (see stack.h). */
#include "model/stack.h"
#include "model/stack-priv.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/cidr.h"
#include "model/firewall.h"
#include "model/network.h"
#include "model/port.h"
#include "model/size.h"
#include "model/vm.h"
#include "model/volume.h"
#include "util/str.h"

static const char *const kind_names[STACK_KINDS] = {"network", "firewall", "volume", "vm", "lb", "group"};
static const char *const kind_sections[STACK_KINDS] = {"networks", "firewalls", "volumes", "vms", "lbs", "groups"};

const char *stack_kind_name(enum stack_kind k)
{
	return k < STACK_KINDS ? kind_names[k] : "unknown";
}

const char *stack_kind_section(enum stack_kind k)
{
	return k < STACK_KINDS ? kind_sections[k] : "unknown";
}

bool stack_kind_parse(const char *s, enum stack_kind *out)
{
	for (int k = 0; k < STACK_KINDS; k++)
		if (s && strcmp(s, kind_names[k]) == 0) {
			*out = (enum stack_kind)k;
			return true;
		}
	return false;
}

/* "PATH: message"; returns -1. */
int __attribute__((format(printf, 3, 4))) stack_fail(struct err *e, const char *path, const char *fmt, ...)
{
	char msg[900];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return err_set(e, ERR_INVALID, "%s: %s", path, msg);
}

const char *stack_json_kind(const json_t *j)
{
	switch (json_typeof(j)) {
	case JSON_OBJECT: return "a mapping";
	case JSON_ARRAY: return "a list";
	case JSON_STRING: return "a string";
	case JSON_INTEGER:
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "true/false";
	default: return "empty (null)";
	}
}

/* Refuses keys of obj that are not in fields, naming them all in the message. */
int stack_check_fields(const json_t *obj, const char *path, const char *what, const char *const fields[],
			struct err *e)
{
	const char *key;
	const json_t *v;
	json_object_foreach((json_t *)obj, key, v) {
		bool known = false;
		for (int i = 0; fields[i] && !known; i++)
			known = strcmp(key, fields[i]) == 0;
		if (known)
			continue;
		struct sbuf b = {0};
		for (int i = 0; fields[i]; i++)
			sbuf_addf(&b, "%s%s", i ? ", " : "", fields[i]);
		autofree char *list = sbuf_take(&b);
		autofree char *p = path[0] ? xasprintf("%s.%s", path, key) : xstrdup(key);
		return stack_fail(e, p, "unknown field \"%s\"; %s has: %s", key, what, list);
	}
	return 0;
}

int stack_want(const json_t *j, json_type t, const char *path, const char *what, struct err *e)
{
	if (j && json_typeof(j) == t)
		return 0;
	return stack_fail(e, path, "must be %s, not %s", what, j ? stack_json_kind(j) : "missing");
}

/* A string field; a number is read as its decimal text (YAML's port: 80).
 * Absent or null: *out NULL, unless required. */
int stack_get_text(const json_t *obj, const char *key, const char *path, bool required, char buf[32],
		    const char **out, struct err *e)
{
	autofree char *p = xasprintf("%s.%s", path, key);
	const json_t *v = json_object_get(obj, key);
	*out = NULL;
	if (!v || json_is_null(v))
		return required ? stack_fail(e, p, "is required") : 0;
	if (json_is_integer(v)) {
		snprintf(buf, 32, "%lld", (long long)json_integer_value(v));
		*out = buf;
		return 0;
	}
	if (!json_is_string(v))
		return stack_fail(e, p, "must be a string, not %s", stack_json_kind(v));
	*out = json_string_value(v);
	return 0;
}

int stack_check_name(const char *name, const char *path, struct err *e)
{
	if (vm_name_validate(name, "name", e) < 0) {
		err_prefix(e, "%s", path);
		return -1;
	}
	return 0;
}

/* --- references in user data ------------------------------------------------ */

int stack_refs(const char *text, const char *field, char names[][NAME_MAX_LEN + 1], int max, int *n,
	       struct err *e)
{
	*n = 0;
	for (const char *p = text ? strstr(text, "${") : NULL; p; p = strstr(p, "${")) {
		const char *end = strchr(p, '}');
		if (!end)
			return stack_fail(e, field, "\"${\" is not closed by \"}\"; references are written ${vm.NAME.ip}");
		size_t len = (size_t)(end - p - 2);
		char ref[160];
		if (len >= sizeof(ref))
			return stack_fail(e, field, "a reference of %zu characters is too long", len);
		memcpy(ref, p + 2, len);
		ref[len] = '\0';
		size_t nl = len > 6 ? len - 6 : 0;
		if (!str_starts_with(ref, "vm.") || !str_ends_with(ref, ".ip") || nl == 0 || nl > NAME_MAX_LEN)
			return stack_fail(e, field, "unknown reference ${%s}; references are written ${vm.NAME.ip}", ref);
		if (*n < max)
			snprintf(names[*n], NAME_MAX_LEN + 1, "%.*s", (int)nl, ref + 3);
		(*n)++;
		p = end + 1;
	}
	return 0;
}

char *stack_interpolate(const char *text, const char *(*ip_of)(void *arg, const char *vm), void *arg,
			bool *unknown)
{
	struct sbuf b = {0};
	const char *p = text;
	*unknown = false;
	while (p && *p) {
		const char *s = strstr(p, "${vm.");
		const char *end = s ? strchr(s, '}') : NULL;
		if (!s || !end || end - s < 9 || strncmp(end - 3, ".ip", 3) != 0 || end - s - 8 > NAME_MAX_LEN) {
			sbuf_add(&b, p);
			break;
		}
		sbuf_addn(&b, p, (size_t)(s - p));
		char name[NAME_MAX_LEN + 1];
		snprintf(name, sizeof(name), "%.*s", (int)(end - s - 8), s + 5);
		const char *ip = ip_of(arg, name);
		if (ip)
			sbuf_add(&b, ip);
		else {
			sbuf_addn(&b, s, (size_t)(end - s + 1));
			*unknown = true;
		}
		p = end + 1;
	}
	return sbuf_take(&b);
}

/* --- each kind ------------------------------------------------------------------ */

static int parse_network(const json_t *j, const char *path, json_t **spec, struct err *e)
{
	static const char *const fields[] = {"cidr", "nat", NULL};
	char buf[32];
	const char *cidr;
	if (stack_want(j, JSON_OBJECT, path, "a mapping with cidr and nat", e) < 0 ||
	    stack_check_fields(j, path, "a network", fields, e) < 0 || stack_get_text(j, "cidr", path, true, buf, &cidr, e) < 0)
		return -1;
	struct cidr c;
	autofree char *cp = xasprintf("%s.cidr", path);
	if (network_cidr_parse(cidr, cp, &c, e) < 0)
		return -1;
	const json_t *nat = json_object_get(j, "nat");
	autofree char *np = xasprintf("%s.nat", path);
	if (nat && !json_is_null(nat) && !json_is_boolean(nat))
		return stack_fail(e, np, "must be true or false, not %s", stack_json_kind(nat));
	char norm[20];
	cidr4_format(&c, norm);
	*spec = json_pack("{s:s, s:b}", "cidr", norm, "nat", !nat || json_is_null(nat) || json_is_true(nat));
	return 0;
}

json_t *stack_rule_json(const char *proto, const char *port, const char *from, const char *from_firewall)
{
	json_t *o = json_pack("{s:s}", "proto", proto);
	if (port && *port && strcmp(port, "all") != 0)
		json_object_set_new(o, "port", json_string(port));
	if (from_firewall && *from_firewall)
		json_object_set_new(o, "from_firewall", json_string(from_firewall));
	else
		json_object_set_new(o, "from", json_string(from && *from ? from : "0.0.0.0/0"));
	return o;
}

static int parse_rule(const json_t *j, const char *path, json_t **out, struct err *e)
{
	static const char *const fields[] = {"proto", "port", "from", "from_firewall", NULL};
	char b1[32], b2[32], b3[32], b4[32];
	const char *proto, *port, *from, *from_fw;
	if (stack_want(j, JSON_OBJECT, path, "a mapping such as {proto: tcp, port: 80, from: 0.0.0.0/0}", e) < 0 ||
	    stack_check_fields(j, path, "a rule", fields, e) < 0 || stack_get_text(j, "proto", path, false, b1, &proto, e) < 0 ||
	    stack_get_text(j, "port", path, false, b2, &port, e) < 0 || stack_get_text(j, "from", path, false, b3, &from, e) < 0 ||
	    stack_get_text(j, "from_firewall", path, false, b4, &from_fw, e) < 0)
		return -1;
	if (!proto)
		proto = port ? "tcp" : "all";
	struct fw_rule r = {0};
	if (fw_rule_parse(proto, port, from, from_fw, &r, e) < 0) {
		err_prefix(e, "%s", path);
		return -1;
	}
	if (from_fw) {
		autofree char *fp = xasprintf("%s.from_firewall", path);
		if (stack_check_name(from_fw, fp, e) < 0)
			return -1;
	}
	char ports[16] = "";
	if (r.port_lo && r.port_lo == r.port_hi)
		snprintf(ports, sizeof(ports), "%u", r.port_lo);
	else if (r.port_lo)
		snprintf(ports, sizeof(ports), "%u-%u", r.port_lo, r.port_hi);
	*out = stack_rule_json(proto_name(r.proto), ports, r.from_cidr, from_fw);
	return 0;
}

static int parse_firewall(const json_t *j, const char *path, json_t **spec, struct err *e)
{
	static const char *const fields[] = {"rules", NULL};
	if (json_is_null(j)) {   /* "web: {}" or "web:" alike: a firewall without rules */
		*spec = json_pack("{s:[]}", "rules");
		return 0;
	}
	if (stack_want(j, JSON_OBJECT, path, "a mapping with rules", e) < 0 || stack_check_fields(j, path, "a firewall", fields, e) < 0)
		return -1;
	const json_t *rules = json_object_get(j, "rules");
	autofree char *rp = xasprintf("%s.rules", path);
	if (rules && !json_is_null(rules) && stack_want(rules, JSON_ARRAY, rp, "a list of rules", e) < 0)
		return -1;
	if (json_array_size(rules) > FIREWALL_RULES_MAX)
		return stack_fail(e, rp, "has %zu rules; a firewall has at most %d", json_array_size(rules), FIREWALL_RULES_MAX);
	json_t *arr = json_array();
	size_t i;
	const json_t *r;
	json_array_foreach((json_t *)rules, i, r) {
		autofree char *p = xasprintf("%s[%zu]", rp, i);
		json_t *rule;
		if (parse_rule(r, p, &rule, e) < 0) {
			json_decref(arr);
			return -1;
		}
		for (size_t k = 0; k < json_array_size(arr); k++)
			if (json_equal(json_array_get(arr, k), rule)) {
				json_decref(rule);
				json_decref(arr);
				return stack_fail(e, p, "is the same rule as %s[%zu]", rp, k);
			}
		json_array_append_new(arr, rule);
	}
	*spec = json_pack("{s:o}", "rules", arr);
	return 0;
}

static int parse_volume(const json_t *j, const char *path, json_t **spec, struct err *e)
{
	static const char *const fields[] = {"size", NULL};
	char buf[32];
	const char *size;
	if (stack_want(j, JSON_OBJECT, path, "a mapping with size", e) < 0 || stack_check_fields(j, path, "a volume", fields, e) < 0 ||
	    stack_get_text(j, "size", path, true, buf, &size, e) < 0)
		return -1;
	uint64_t bytes;
	autofree char *sp = xasprintf("%s.size", path);
	if (size_parse(size, sp, &bytes, e) < 0)
		return -1;
	char norm[32];
	size_format(bytes, norm);
	*spec = json_pack("{s:s}", "size", norm);
	return 0;
}

/* A list of names (firewalls, volumes, ssh keys): each a string. */
int stack_string_list(const json_t *j, const char *key, const char *path, bool names, json_t **out, struct err *e)
{
	const json_t *v = json_object_get(j, key);
	autofree char *p = xasprintf("%s.%s", path, key);
	*out = json_array();
	if (!v || json_is_null(v))
		return 0;
	if (json_is_string(v) && names) {   /* firewalls: web */
		json_array_append(*out, (json_t *)v);
		return stack_check_name(json_string_value(v), p, e);
	}
	if (stack_want(v, JSON_ARRAY, p, "a list", e) < 0)
		return -1;
	size_t i;
	const json_t *s;
	json_array_foreach((json_t *)v, i, s) {
		autofree char *ip = xasprintf("%s[%zu]", p, i);
		if (!json_is_string(s))
			return stack_fail(e, ip, "must be a string, not %s", stack_json_kind(s));
		if (names && stack_check_name(json_string_value(s), ip, e) < 0)
			return -1;
		for (size_t k = 0; names && k < i; k++)
			if (json_equal(json_array_get(v, k), s))
				return stack_fail(e, ip, "\"%s\" is listed twice", json_string_value(s));
		json_array_append(*out, (json_t *)s);
	}
	return 0;
}

static int parse_nics(const json_t *j, const char *path, json_t **out, struct err *e)
{
	static const char *const fields[] = {"network", "ip", NULL};
	const json_t *v = json_object_get(j, "networks");
	autofree char *p = xasprintf("%s.networks", path);
	*out = json_array();
	if (!v || json_is_null(v)) {
		json_array_append_new(*out, json_pack("{s:s}", "network", "default"));
		return 0;
	}
	if (stack_want(v, JSON_ARRAY, p, "a list of networks", e) < 0)
		return -1;
	if (json_array_size(v) == 0 || json_array_size(v) > VM_NICS_MAX)
		return stack_fail(e, p, "has %zu networks; a VM has 1 to %d", json_array_size(v), VM_NICS_MAX);
	size_t i;
	const json_t *n;
	json_array_foreach((json_t *)v, i, n) {
		autofree char *np = xasprintf("%s[%zu]", p, i);
		char b1[32], b2[32];
		const char *net, *ip = NULL;
		if (json_is_string(n)) {
			net = json_string_value(n);
		} else if (json_is_object(n)) {
			if (stack_check_fields(n, np, "a NIC", fields, e) < 0 || stack_get_text(n, "network", np, true, b1, &net, e) < 0 ||
			    stack_get_text(n, "ip", np, false, b2, &ip, e) < 0)
				return -1;
		} else {
			return stack_fail(e, np, "must be a network name or {network: NAME, ip: ADDRESS}, not %s", stack_json_kind(n));
		}
		autofree char *netp = json_is_object(n) ? xasprintf("%s.network", np) : xstrdup(np);
		if (stack_check_name(net, netp, e) < 0)
			return -1;
		if (ip) {
			struct in_addr a;
			autofree char *ipp = xasprintf("%s.ip", np);
			if (inet_pton(AF_INET, ip, &a) != 1)
				return stack_fail(e, ipp, "\"%s\" is not an IPv4 address", ip);
		}
		for (size_t k = 0; k < json_array_size(*out); k++)
			if (strcmp(json_string_value(json_object_get(json_array_get(*out, k), "network")), net) == 0)
				return stack_fail(e, np, "network \"%s\" is listed twice; a VM has one NIC per network", net);
		json_t *nic = json_pack("{s:s}", "network", net);
		if (ip)
			json_object_set_new(nic, "ip", json_string(ip));
		json_array_append_new(*out, nic);
	}
	return 0;
}

/* A VM's forwards in one spelling: "8080:80/tcp". */
static int parse_forwards(const json_t *list, const char *path, json_t **out, struct err *e)
{
	*out = json_array();
	size_t i;
	const json_t *f;
	json_array_foreach((json_t *)list, i, f) {
		autofree char *fp = xasprintf("%s.forwards[%zu]", path, i);
		struct port_map m;
		if (port_map_parse(json_string_value(f), fp, &m, e) < 0)
			return -1;
		autofree char *norm = xasprintf("%u:%u/%s", m.host, m.guest, proto_name(m.proto));
		json_array_append_new(*out, json_string(norm));
	}
	return 0;
}

static int parse_vm(const json_t *j, const char *path, json_t **spec, json_t **volumes, struct err *e)
{
	static const char *const fields[] = {"type",	  "image",     "networks", "firewalls", "ssh_keys",
					     "user_data", "disk_size", "forwards", "volumes",	NULL};
	char b1[32], b2[32], b3[32], b4[32], dnorm[32] = "";
	const char *type, *image, *user_data, *disk;
	json_t *obj = json_is_null(j) ? json_object() : json_incref((json_t *)j);
	json_t *nics = NULL, *fws = NULL, *keys = NULL, *fwd = NULL, *fwd_norm = NULL, *vols = NULL;
	autofree char *up = xasprintf("%s.user_data", path);
	autofree char *dp = xasprintf("%s.disk_size", path);
	uint64_t bytes = 0;
	int rc = -1;
	if (stack_want(obj, JSON_OBJECT, path, "a mapping of the VM's fields", e) < 0 ||
	    stack_check_fields(obj, path, "a VM", fields, e) < 0 || stack_get_text(obj, "type", path, false, b1, &type, e) < 0 ||
	    stack_get_text(obj, "image", path, false, b2, &image, e) < 0 ||
	    stack_get_text(obj, "user_data", path, false, b3, &user_data, e) < 0 ||
	    stack_get_text(obj, "disk_size", path, false, b4, &disk, e) < 0 || parse_nics(obj, path, &nics, e) < 0 ||
	    stack_string_list(obj, "firewalls", path, true, &fws, e) < 0 || stack_string_list(obj, "ssh_keys", path, false, &keys, e) < 0 ||
	    stack_string_list(obj, "forwards", path, false, &fwd, e) < 0 || stack_string_list(obj, "volumes", path, true, &vols, e) < 0 ||
	    parse_forwards(fwd, path, &fwd_norm, e) < 0)
		goto out;
	if (json_array_size(fws) == 0)
		json_array_append_new(fws, json_string("default"));
	if (json_array_size(fws) > VM_FIREWALLS_MAX) {
		rc = stack_fail(e, path, "firewalls has %zu entries; a VM has at most %d", json_array_size(fws), VM_FIREWALLS_MAX);
		goto out;
	}
	if (json_array_size(keys) > VM_SSH_KEYS_MAX) {
		rc = stack_fail(e, path, "ssh_keys has %zu keys; the limit is %d", json_array_size(keys), VM_SSH_KEYS_MAX);
		goto out;
	}
	if (json_array_size(vols) > VOLUME_SLOTS) {
		rc = stack_fail(e, path, "volumes has %zu entries; a VM has %d slots", json_array_size(vols), VOLUME_SLOTS);
		goto out;
	}
	if (user_data && strlen(user_data) > VM_USER_DATA_MAX) {
		rc = stack_fail(e, up, "is %zu bytes; the limit is %d", strlen(user_data), VM_USER_DATA_MAX);
		goto out;
	}
	if (disk) {
		if (size_parse(disk, dp, &bytes, e) < 0)
			goto out;
		size_format(bytes, dnorm);
	}
	*spec = json_pack("{s:s, s:s, s:O, s:O, s:O, s:O}", "type", type ? type : "small", "image", image ? image : "tiny",
			  "networks", nics, "firewalls", fws, "ssh_keys", keys, "forwards", fwd_norm);
	if (user_data && *user_data)
		json_object_set_new(*spec, "user_data", json_string(user_data));
	if (dnorm[0])
		json_object_set_new(*spec, "disk_size", json_string(dnorm));
	*volumes = json_incref(vols);
	rc = 0;
out:
	json_decref(nics);
	json_decref(fws);
	json_decref(keys);
	json_decref(fwd);
	json_decref(fwd_norm);
	json_decref(vols);
	json_decref(obj);
	return rc;
}

/* --- the document ------------------------------------------------------------ */

void stack_free(struct stack *s)
{
	if (!s)
		return;
	for (int i = 0; i < s->n; i++) {
		json_decref(s->res[i].spec);
		free(s->res[i].deps);
	}
	free(s->res);
	memset(s, 0, sizeof(*s));
}

const struct stack_res *stack_find(const struct stack *s, enum stack_kind kind, const char *name)
{
	for (int i = 0; i < s->n; i++)
		if (s->res[i].kind == kind && strcmp(s->res[i].name, name) == 0)
			return &s->res[i];
	return NULL;
}

int stack_find_index(const struct stack_res *res, int n, enum stack_kind kind, const char *name)
{
	for (int i = 0; i < n; i++)
		if (res[i].kind == kind && strcmp(res[i].name, name) == 0)
			return i;
	return -1;
}

void stack_add_dep(struct stack_res *r, int dep)
{
	for (int i = 0; i < r->n_deps; i++)
		if (r->deps[i] == dep)
			return;
	r->deps = xrealloc(r->deps, sizeof(int) * (size_t)(r->n_deps + 1));
	r->deps[r->n_deps++] = dep;
}

int stack_user_data_deps(struct stack_res *res, int n, int i, struct err *e)
{
	struct stack_res *r = &res[i];
	char names[16][NAME_MAX_LEN + 1];
	int nref = 0;
	autofree char *up = xasprintf("%s.user_data", r->path);
	if (stack_refs(json_string_value(json_object_get(r->spec, "user_data")), up, names, 16, &nref, e) < 0)
		return -1;
	if (nref > 16)
		return stack_fail(e, up, "has %d references; at most 16 are allowed", nref);
	for (int j = 0; j < nref; j++) {
		int d = stack_find_index(res, n, STACK_VM, names[j]);
		if (d < 0)
			return stack_fail(e, up, "${vm.%s.ip}: there is no VM %s in this stack", names[j], names[j]);
		stack_add_dep(r, d);
	}
	return 0;
}

/* What each resource needs first. References to names outside the stack are
 * left to nubod ("default" is nobody's stack's); a VM reference in user data
 * must be to a VM of the stack, whose address is known only there. */
static int link_deps(struct stack_res *res, int n, struct err *e)
{
	for (int i = 0; i < n; i++) {
		struct stack_res *r = &res[i];
		size_t k;
		json_t *v;
		if (r->kind == STACK_VOLUME) {
			const char *vm = json_string_value(json_object_get(r->spec, "vm"));
			int d = vm ? stack_find_index(res, n, STACK_VM, vm) : -1;
			if (d >= 0)
				stack_add_dep(r, d);
		}
		if (r->kind == STACK_FIREWALL) {
			/* a rule's from_firewall must exist when the rule is added; a
			 * firewall admitting its own members needs nothing first */
			json_array_foreach(json_object_get(r->spec, "rules"), k, v) {
				const char *src = json_string_value(json_object_get(v, "from_firewall"));
				int d = src ? stack_find_index(res, n, STACK_FIREWALL, src) : -1;
				if (d >= 0 && d != i)
					stack_add_dep(r, d);
			}
		}
		if (r->kind == STACK_LB && stack_lb_link(res, n, i, e) < 0)
			return -1;
		if (r->kind == STACK_GROUP && stack_group_link(res, n, i, e) < 0)
			return -1;
		if (r->kind != STACK_VM)
			continue;
		json_array_foreach(json_object_get(r->spec, "networks"), k, v) {
			int d = stack_find_index(res, n, STACK_NETWORK, json_string_value(json_object_get(v, "network")));
			if (d >= 0)
				stack_add_dep(r, d);
		}
		json_array_foreach(json_object_get(r->spec, "firewalls"), k, v) {
			int d = stack_find_index(res, n, STACK_FIREWALL, json_string_value(v));
			if (d >= 0)
				stack_add_dep(r, d);
		}
		if (stack_user_data_deps(res, n, i, e) < 0)
			return -1;
	}
	return 0;
}

/* Depth-first: order gets each resource after what it needs; a resource met
 * again while its own needs are being visited closes a cycle. */
static int visit(struct stack_res *res, int i, int *mark, int *stack_of, int depth, int *order, int *n_order,
		 struct err *e)
{
	if (mark[i] == 2)
		return 0;
	stack_of[depth] = i;
	if (mark[i] == 1) {
		int from = depth - 1;
		while (from > 0 && stack_of[from] != i)
			from--;
		struct sbuf b = {0};
		for (int k = from; k <= depth; k++)
			sbuf_addf(&b, "%s%s %s", k > from ? " → " : "", stack_kind_name(res[stack_of[k]].kind),
				  res[stack_of[k]].name);
		autofree char *cycle = sbuf_take(&b);
		bool fw = res[i].kind == STACK_FIREWALL;   /* a cycle is of firewalls (rules) or of VMs (user data) */
		autofree char *p = xasprintf("%s.%s", res[i].path, fw ? "rules" : "user_data");
		return stack_fail(e, p, "reference cycle: %s; %s", cycle,
			    fw ? "a rule's from_firewall must exist before the rule, so firewalls cannot admit from each other "
				 "in a circle"
			       : "a VM cannot wait for one that waits for it");
	}
	mark[i] = 1;
	for (int k = 0; k < res[i].n_deps; k++)
		if (visit(res, res[i].deps[k], mark, stack_of, depth + 1, order, n_order, e) < 0)
			return -1;
	mark[i] = 2;
	order[(*n_order)++] = i;
	return 0;
}

static int sort_res(struct stack *s, struct err *e)
{
	int n = s->n, n_order = 0, rc = 0;
	int *mark = xcalloc((size_t)n + 1, sizeof(int)), *order = xcalloc((size_t)n + 1, sizeof(int));
	int *stack_of = xcalloc((size_t)n + 2, sizeof(int));
	for (int i = 0; i < n && rc == 0; i++)
		rc = visit(s->res, i, mark, stack_of, 0, order, &n_order, e);
	if (rc == 0) {
		struct stack_res *sorted = xcalloc((size_t)n + 1, sizeof(*sorted));
		int *where = xcalloc((size_t)n + 1, sizeof(int));
		for (int k = 0; k < n; k++) {
			sorted[k] = s->res[order[k]];
			where[order[k]] = k;
		}
		for (int k = 0; k < n; k++)
			for (int d = 0; d < sorted[k].n_deps; d++)
				sorted[k].deps[d] = where[sorted[k].deps[d]];
		free(s->res);
		free(where);
		s->res = sorted;
	}
	free(mark);
	free(order);
	free(stack_of);
	return rc;
}

static void add_res(struct stack *s, enum stack_kind k, const char *name, const char *path, json_t *spec)
{
	s->res = xrealloc(s->res, sizeof(*s->res) * (size_t)(s->n + 1));
	struct stack_res *r = &s->res[s->n++];
	memset(r, 0, sizeof(*r));
	r->kind = k;
	snprintf(r->name, sizeof(r->name), "%s", name);
	snprintf(r->path, sizeof(r->path), "%s", path);
	r->spec = spec;
}

/* A volume's VM comes from the VM's volumes list: each volume on one VM. */
static int attach_volumes(struct stack *s, const char *vm, const char *vm_path, const json_t *vols, struct err *e)
{
	size_t i;
	const json_t *v;
	json_array_foreach((json_t *)vols, i, v) {
		autofree char *p = xasprintf("%s.volumes[%zu]", vm_path, i);
		const char *name = json_string_value(v);
		int d = stack_find_index(s->res, s->n, STACK_VOLUME, name);
		if (d < 0)
			return stack_fail(e, p, "there is no volume %s in this stack; declare it under volumes:", name);
		const char *other = json_string_value(json_object_get(s->res[d].spec, "vm"));
		if (other)
			return stack_fail(e, p, "volume %s is already on VM %s; a volume is on one VM at a time", name, other);
		json_object_set_new(s->res[d].spec, "vm", json_string(vm));
	}
	return 0;
}

int stack_parse(const json_t *doc, struct stack *out, struct err *e)
{
	static const char *const fields[] = {"stack", "networks", "firewalls", "volumes", "vms", "lbs", "groups", NULL};
	memset(out, 0, sizeof(*out));
	if (!json_is_object(doc))
		return stack_fail(e, "stack", "the file must be a mapping with stack: NAME and networks, firewalls, volumes, vms, lbs, groups");
	if (stack_check_fields(doc, "", "a stack file", fields, e) < 0)
		return -1;
	char buf[32];
	const char *name;
	const json_t *sv = json_object_get(doc, "stack");
	if (!sv)
		return stack_fail(e, "stack", "is required: the stack's name, e.g. stack: shop");
	if (!json_is_string(sv))
		return stack_fail(e, "stack", "must be a name, not %s", stack_json_kind(sv));
	name = json_string_value(sv);
	(void)buf;
	if (stack_check_name(name, "stack", e) < 0)
		return -1;
	snprintf(out->name, sizeof(out->name), "%s", name);
	json_t *vm_volumes = json_object();
	int rc = 0;
	/* volumes before VMs, so that a VM's volumes list finds them */
	static const enum stack_kind parse_order[] = {STACK_NETWORK, STACK_FIREWALL, STACK_VOLUME, STACK_VM, STACK_LB,
						     STACK_GROUP};
	for (int k = 0; rc == 0 && k < STACK_KINDS; k++) {
		enum stack_kind kind = parse_order[k];
		const char *section = stack_kind_section(kind);
		const json_t *sec = json_object_get(doc, section);
		if (!sec || json_is_null(sec))
			continue;
		if (!json_is_object(sec)) {
			rc = stack_fail(e, section, "must be a mapping of names to %ss, not %s", stack_kind_name(kind), stack_json_kind(sec));
			break;
		}
		const char *key;
		const json_t *v;
		json_object_foreach((json_t *)sec, key, v) {
			autofree char *path = xasprintf("%s.%s", section, key);
			json_t *spec = NULL, *vols = NULL;
			if (strlen(path) >= STACK_PATH_MAX) {
				rc = stack_fail(e, section, "name \"%.40s…\" is too long", key);
				break;
			}
			if (stack_check_name(key, path, e) < 0) {
				rc = -1;
				break;
			}
			switch (kind) {
			case STACK_NETWORK: rc = parse_network(v, path, &spec, e); break;
			case STACK_FIREWALL: rc = parse_firewall(v, path, &spec, e); break;
			case STACK_VOLUME: rc = parse_volume(v, path, &spec, e); break;
			case STACK_LB: rc = stack_lb_parse(v, path, &spec, e); break;
			case STACK_GROUP: rc = stack_group_parse(v, path, &spec, e); break;
			case STACK_VM:
				rc = parse_vm(v, path, &spec, &vols, e);
				if (rc == 0)
					rc = attach_volumes(out, key, path, vols, e);
				json_decref(vols);
				break;
			default: break;
			}
			if (rc < 0) {
				json_decref(spec);
				break;
			}
			add_res(out, kind, key, path, spec);
		}
	}
	json_decref(vm_volumes);
	if (rc == 0)
		rc = link_deps(out->res, out->n, e);
	if (rc == 0)
		rc = sort_res(out, e);
	if (rc < 0)
		stack_free(out);
	return rc;
}
