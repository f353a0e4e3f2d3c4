/*
 * stack: a whole setup (networks, firewalls, volumes, VMs, load balancers,
 * auto-scaling groups) declared in one document, as nubo reads it: the
 * schema, its checks and the order in which its resources depend on each
 * other. No I/O.
 *
 * The one idea: a stack document is JSON (the CLI turns the user's YAML into
 * it, nubod reads it), and every error names the field by its path in the
 * document ("vms.web.type: ..."), so the CLI can point at the line and column
 * of the file the user wrote. The CLI and nubod run these same checks on the
 * same JSON: the CLI to fail before sending anything, nubod because it never
 * trusts a client.
 *
 * Each resource comes out as a normalized spec (JSON): only the fields a user
 * can write, defaults filled in, values in one canonical spelling, so that two
 * specs are equal exactly when applying one over the other changes nothing.
 *
 *   network   {"cidr": "10.30.0.0/24", "nat": false}
 *   firewall  {"rules": [{"proto": "tcp", "port": "80", "from": "0.0.0.0/0"} |
 *                        {"proto": "all", "from_firewall": "web"}]}
 *   volume    {"size": "10G", "vm": "db"}            (vm absent: not attached)
 *   vm        {"type", "image", "networks": [{"network", "ip"?}], "firewalls": [],
 *              "ssh_keys": [], "user_data"?, "disk_size"?, "forwards": ["8080:80/tcp"]}
 *   lb        {"network", "listen": ["80", "443:8443"], "targets": ["web1", "web2:8080"],
 *              "check": "tcp" | "http:/PATH", "interval": "5s", "timeout": "2s", "rise", "fall",
 *              "algorithm": "round-robin" | "source-hash", "drain": "30s", "host_port": false}
 *   group     {"image", "type", "network", "firewalls": [], "ssh_keys": [], "user_data"?,
 *              "min", "max", "desired"?, "target_cpu", "lb"?: "web" | "web:8080",
 *              "grace", "warmup", "cooldown", "drain": "1m"}
 *
 * A field the file leaves out that nubod computes (a VM's address, its disk
 * size, a group's desired count) is absent from the spec, and never compared.
 * Durations are written in the largest unit that holds them whole
 * (time_duration_format), listeners as stack_listener_format says.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "model/machine_type.h"
#include "util/err.h"

enum stack_kind { STACK_NETWORK, STACK_FIREWALL, STACK_VOLUME, STACK_VM, STACK_LB, STACK_GROUP, STACK_KINDS };

/* "network", "firewall", "volume", "vm", "lb", "group"; and back (false if unknown). */
const char *stack_kind_name(enum stack_kind k);
bool stack_kind_parse(const char *s, enum stack_kind *out);
/* The section of the document a kind sits in: "networks", "firewalls", … */
const char *stack_kind_section(enum stack_kind k);

#define STACK_PATH_MAX 160

struct stack_res {
	enum stack_kind kind;
	char name[NAME_MAX_LEN + 1];
	char path[STACK_PATH_MAX];    /* "vms.web": where it is in the document */
	json_t *spec;                 /* normalized (see above); owned */
	/* Resources of this stack it needs first, as indexes into stack.res. */
	int *deps;
	int n_deps;
};

struct stack {
	char name[NAME_MAX_LEN + 1];
	struct stack_res *res;   /* in dependency order: each after what it needs */
	int n;
};

/* Checks doc and fills out. Every error is ERR_INVALID and its message starts
 * with the field's path: "vms.web.networks[1]: ...". On failure out is empty. */
int stack_parse(const json_t *doc, struct stack *out, struct err *e);
void stack_free(struct stack *s);

/* The resource of kind named name, or NULL. */
const struct stack_res *stack_find(const struct stack *s, enum stack_kind kind, const char *name);

/* The ${vm.NAME.ip} references in text, as VM names (at most max; the
 * count found, which may exceed max). A malformed ${…} is an error that
 * names field. */
int stack_refs(const char *text, const char *field, char names[][NAME_MAX_LEN + 1], int max, int *n,
	       struct err *e);
/* text with every ${vm.NAME.ip} replaced by ip_of(arg, NAME); a NULL answer
 * leaves the reference as it was and sets *unknown. Caller frees. */
char *stack_interpolate(const char *text, const char *(*ip_of)(void *arg, const char *vm), void *arg,
			bool *unknown);

/* A balancer's listener in its canonical spelling: "80" when the target
 * port is the same, else "443:8443". */
void stack_listener_format(unsigned port, unsigned target_port, char out[16]);

/* A firewall rule in its canonical spelling ({"proto","port"?,"from"|"from_firewall"}),
 * from the parts of a stored rule. Caller decrefs. */
json_t *stack_rule_json(const char *proto, const char *port, const char *from, const char *from_firewall);
