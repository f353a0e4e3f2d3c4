/*
 * stack-priv: what the files of the stack document's model share
 * (stack.c reads the document and orders it; stacklb.c reads its load
 * balancers and groups). Every helper names the field by its path in the
 * document, as stack.h promises.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "model/stack.h"

/* "PATH: message" as ERR_INVALID; returns -1. */
int __attribute__((format(printf, 3, 4))) stack_fail(struct err *e, const char *path, const char *fmt, ...);
/* "a mapping", "a list", "a string", … for messages. */
const char *stack_json_kind(const json_t *j);
/* Refuses keys of obj that are not in fields (NULL-ended), naming them all. */
int stack_check_fields(const json_t *obj, const char *path, const char *what, const char *const fields[],
		       struct err *e);
/* j is of type t, else "PATH: must be WHAT, not …". */
int stack_want(const json_t *j, json_type t, const char *path, const char *what, struct err *e);
/* A string field; a number is read as its decimal text (YAML's port: 80).
 * Absent or null: *out NULL, unless required. */
int stack_get_text(const json_t *obj, const char *key, const char *path, bool required, char buf[32],
		   const char **out, struct err *e);
int stack_check_name(const char *name, const char *path, struct err *e);
/* obj[key] as a list of strings (a single string too when names); names:
 * each a resource name, none twice. *out is a new list, also on error. */
int stack_string_list(const json_t *j, const char *key, const char *path, bool names, json_t **out,
		      struct err *e);

/* The index in res of the resource kind/name, or -1. */
int stack_find_index(const struct stack_res *res, int n, enum stack_kind kind, const char *name);
/* r needs res[dep] first (duplicates are dropped). */
void stack_add_dep(struct stack_res *r, int dep);
/* What the ${vm.NAME.ip} references of r's user data need: each a VM of
 * the stack, else an error naming PATH.user_data. */
int stack_user_data_deps(struct stack_res *res, int n, int i, struct err *e);

/* stacklb.c: a load balancer's and a group's normalized spec (stack.h). */
int stack_lb_parse(const json_t *j, const char *path, json_t **spec, struct err *e);
int stack_group_parse(const json_t *j, const char *path, json_t **spec, struct err *e);
/* Their needs within the stack: a balancer its network and target VMs, a
 * group its balancer, network, firewalls and the VMs its user data names;
 * and what only the whole document can tell (a target VM on the balancer's
 * network, a group on its balancer's network). */
int stack_lb_link(struct stack_res *res, int n, int i, struct err *e);
int stack_group_link(struct stack_res *res, int n, int i, struct err *e);
