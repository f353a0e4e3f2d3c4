/*
 * vm: `nubo vm ...`, the life of a VM (docs/api.md, "VMs").
 *
 * Every action validates what is local first (the SSH key file, user data,
 * the private key for ssh) and only then talks to nubod, so that a typo in
 * a path never leaves a half-made VM behind.
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/random.h>
#include <termios.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/format.h"
#include "cli/ssh.h"
#include "cli/table.h"
#include "cli/wait.h"
#include "util/fs.h"
#include "util/str.h"
#include "util/websocket.h"

#define USER_DATA_MAX (64 * 1024)

static const struct arg_flag create_flags[] = {
	{"type", 0, ARG_VALUE, "T", "machine type (default small; see 'nubo type list')"},
	{"max-type", 0, ARG_VALUE, "T", "largest type a live resize may reach (default: --type; fixes QEMU's maxcpus)"},
	{"image", 0, ARG_VALUE, "I", "image to boot (default tiny; see 'nubo image list')"},
	{"ssh-key", 0, ARG_VALUE, "FILE.pub", "public key to log in with (default: nubo's own key)"},
	{"user-data", 0, ARG_VALUE, "FILE", "cloud-init user data, e.g. a #!/bin/sh script (max 64 KiB)"},
	{"disk-size", 0, ARG_VALUE, "SIZE", "root disk size, e.g. 20G (default: the image's); the guest grows into it"},
	{"ephemeral", 0, ARG_VALUE, "SIZE", "an instance-store disk, empty at every start, gone on stop and delete"},
	{"from-snapshot", 0, ARG_VALUE, "SNAPSHOT", "start from a snapshot's disk (instead of --image)"},
	{"network", 0, ARG_VALUE, "N", "a NIC on network N; repeat for more, in order (default: default)"},
	{"ip", 0, ARG_VALUE, "A", "fixed address of the NIC on the --network given just before (default: next free)"},
	{"firewall", 0, ARG_VALUE, "F[,F…]", "firewalls (security groups) to join; repeatable (default: default)"},
	{"no-seed", 0, ARG_BOOL, NULL, "no NoCloud seed disk: the guest reads the metadata service at 169.254.169.254"},
	{"host", 0, ARG_VALUE, "H", "run it on host H (default: the scheduler places it; see 'nubo host list')"},
	{"spread-group", 0, ARG_VALUE, "G", "keep it on another host than the other VMs of group G while hosts allow"},
	{"wait", 0, ARG_BOOL, NULL, "follow the boot to its end, printing each phase"},
	{NULL, 0, 0, NULL, NULL},
};

static const struct arg_flag restore_flags[] = {
	{"snapshot", 0, ARG_VALUE, "SNAPSHOT", "the snapshot of this VM to roll its disk back to"},
	{"wait", 0, ARG_BOOL, NULL, "follow the action to its end"},
	{NULL, 0, 0, NULL, NULL},
};

static const struct arg_flag move_flags[] = {
	{"to", 0, ARG_VALUE, "H", "the host to move it to (see 'nubo host list')"},
	{"wait", 0, ARG_BOOL, NULL, "follow the move to its end, with the bytes copied"},
	{NULL, 0, 0, NULL, NULL},
};

static const struct arg_flag resize_flags[] = {
	{"type", 0, ARG_VALUE, "T", "the new machine type (vCPUs and memory)"},
	{"disk-size", 0, ARG_VALUE, "SIZE", "grow the root disk to SIZE, e.g. 40G (never shrinks)"},
	{"restart", 0, ARG_BOOL, NULL, "when the change cannot be live: stop, resize and start the VM"},
	{"wait", 0, ARG_BOOL, NULL, "follow the resize to its end, printing each phase"},
	{NULL, 0, 0, NULL, NULL},
};

static const struct arg_flag console_flags[] = {
	{"log", 0, ARG_BOOL, NULL, "print the console log (the last 256 KiB) instead of attaching"},
	{NULL, 0, 0, NULL, NULL},
};

static const struct arg_flag stop_flags[] = {
	{"force", 0, ARG_BOOL, NULL, "power off at once instead of asking the guest to shut down"},
	{"wait", 0, ARG_BOOL, NULL, "follow the action to its end, printing each phase"},
	{NULL, 0, 0, NULL, NULL},
};

static const struct arg_flag ssh_flags[] = {
	{"identity", 'i', ARG_VALUE, "KEY", "private key to use (default: the VM's key file without .pub, else nubo's key)"},
	{NULL, 0, 0, NULL, NULL},
};

static char *vm_path(const char *name, const char *suffix)
{
	autofree char *p = client_path("/v1/vms/%s", name);
	return xasprintf("%s%s", p, suffix ? suffix : "");
}

/* --- create --------------------------------------------------------------- */

/* The SSH keys to send: --ssh-key FILE, or nubo's own key (made on first use).
 * Fills *keys and *key_file; returns an exit code. */
int vm_create_keys(struct cli_ctx *ctx, const struct args *a, char ***keys, char **key_file)
{
	struct err e = {0};
	const char *file = args_value(a, "ssh-key");
	if (file) {
		if (ssh_pubkey_read(file, keys, key_file, &e) < 0)
			return cli_fail(ctx, CLI_EXIT_USAGE, &e);
		return CLI_EXIT_OK;
	}
	autofree char *pub = NULL;
	if (ssh_own_key_ensure(&pub, &e) < 0)
		return cli_fail(ctx, CLI_EXIT_FAILED, &e);
	if (ssh_pubkey_read(pub, keys, key_file, &e) < 0)
		return cli_fail(ctx, CLI_EXIT_FAILED, &e);
	return CLI_EXIT_OK;
}

/* --user-data FILE as a JSON string, or NULL with an exit code in *rc. */
json_t *vm_create_user_data(struct cli_ctx *ctx, const char *file, int *rc)
{
	autofree char *data = NULL;
	size_t len = 0;
	struct err e = {0};
	if (fs_read_file(file, USER_DATA_MAX, &data, &len, &e) < 0) {
		*rc = cli_failf(ctx, CLI_EXIT_USAGE, "cannot read user data %s: %s", file,
				e.kind == ERR_INVALID ? "larger than 64 KiB" : fmt_read_reason(&e, file));
		return NULL;
	}
	json_t *s = json_stringn(data, len);
	if (!s)
		*rc = cli_failf(ctx, CLI_EXIT_USAGE, "cannot read user data %s: not UTF-8 text", file);
	return s;
}

static void print_ready(struct cli_ctx *ctx, const char *verb, const char *name, int64_t took)
{
	autofree char *path = vm_path(name, NULL);
	json_t *vm = cli_get(ctx, path);
	autofree char *d = fmt_duration_ms(took);
	const char *ip = cli_jstr(vm, "ip");
	fprintf(ctx->out, "%s VM %s (%s)%s%s: %s, ssh: nubo vm ssh %s\n", verb, name, cli_or_dash(cli_jstr(vm, "id")),
		took >= 0 ? " in " : "", took >= 0 ? d : "", ip ? ip : "no IP yet", name);
	json_decref(vm);
}

/* --firewall web,ssh --firewall db: ["web","ssh","db"]. */
static json_t *firewall_list(const struct args *a)
{
	const char *vals[32];
	size_t n = args_values(a, "firewall", vals, 32);
	json_t *list = json_array();
	for (size_t i = 0; i < n; i++) {
		autofree char *copy = xstrdup(vals[i]);
		char *save = NULL;
		for (char *w = strtok_r(copy, ",", &save); w; w = strtok_r(NULL, ",", &save))
			json_array_append_new(list, json_string(w));
	}
	return list;
}

/* --network N [--ip A] ...: each --ip belongs to the --network before it. */
static bool add_nics(struct cli_ctx *ctx, const struct args *a, json_t *body, int *rc)
{
	json_t *nics = json_array();
	json_t *last = NULL;
	for (size_t i = 0; i < a->nflags; i++) {
		const char *flag = a->flags[i]->name, *v = a->values[i];
		if (strcmp(flag, "network") == 0) {
			last = json_pack("{s:s}", "network", v);
			json_array_append_new(nics, last);
		} else if (strcmp(flag, "ip") == 0) {
			if (!last) {   /* --ip before any --network: the default network's NIC */
				last = json_pack("{s:s}", "network", "default");
				json_array_append_new(nics, last);
			}
			if (json_object_get(last, "ip")) {
				fprintf(ctx->err, "nubo: --ip %s: give one --ip per --network, right after it\n", v);
				json_decref(nics);
				*rc = CLI_EXIT_USAGE;
				return false;
			}
			json_object_set_new(last, "ip", json_string(v));
		}
	}
	if (json_array_size(nics))
		json_object_set_new(body, "nics", nics);
	else
		json_decref(nics);
	return true;
}

/* The body of POST /v1/vms, or NULL after printing why (exit code in *rc).
 * Everything local is read here, before any request. */
static json_t *create_body(struct cli_ctx *ctx, const struct args *a, int *rc)
{
	char **keys = NULL;
	autofree char *key_file = NULL;
	*rc = vm_create_keys(ctx, a, &keys, &key_file);
	if (*rc != CLI_EXIT_OK)
		return NULL;
	json_t *body = json_pack("{s:s}", "name", a->pos[0]);
	if (args_value(a, "type"))
		json_object_set_new(body, "type", json_string(args_value(a, "type")));
	if (args_value(a, "max-type"))
		json_object_set_new(body, "max_type", json_string(args_value(a, "max-type")));
	if (args_value(a, "host"))
		json_object_set_new(body, "host", json_string(args_value(a, "host")));
	if (args_value(a, "spread-group"))
		json_object_set_new(body, "spread_group", json_string(args_value(a, "spread-group")));
	if (args_value(a, "image"))
		json_object_set_new(body, "image", json_string(args_value(a, "image")));
	if (args_value(a, "disk-size"))
		json_object_set_new(body, "disk_size", json_string(args_value(a, "disk-size")));
	if (args_value(a, "ephemeral"))
		json_object_set_new(body, "ephemeral", json_string(args_value(a, "ephemeral")));
	if (args_value(a, "from-snapshot"))
		json_object_set_new(body, "from_snapshot", json_string(args_value(a, "from-snapshot")));
	if (!add_nics(ctx, a, body, rc)) {
		ssh_keys_free(keys);
		json_decref(body);
		return NULL;
	}
	if (args_has(a, "firewall"))
		json_object_set_new(body, "firewalls", firewall_list(a));
	if (args_value(a, "no-seed"))
		json_object_set_new(body, "seed", json_false());
	json_t *jkeys = json_array();
	for (size_t i = 0; keys[i]; i++)
		json_array_append_new(jkeys, json_string(keys[i]));
	ssh_keys_free(keys);
	json_object_set_new(body, "ssh_keys", jkeys);
	json_object_set_new(body, "ssh_key_file", json_string(key_file));
	if (args_value(a, "user-data")) {
		json_t *ud = vm_create_user_data(ctx, args_value(a, "user-data"), rc);
		if (!ud) {
			json_decref(body);
			return NULL;
		}
		json_object_set_new(body, "user_data", ud);
	}
	return body;
}

static int vm_create(struct cli_ctx *ctx, const struct args *a)
{
	const char *name = a->pos[0];
	int rc;
	json_t *body = create_body(ctx, a, &rc);
	if (!body)
		return rc;
	json_t *resp = NULL;
	struct err e = {0};
	rc = client_json(cli_client(ctx), "POST", "/v1/vms", body, &resp, NULL, &e);
	json_decref(body);
	if (rc < 0)
		return cli_fail(ctx, CLI_EXIT_FAILED, &e);
	const json_t *vm = json_object_get(resp, "vm");
	autofree char *doing = xasprintf("Creating VM %s (%s)", name, cli_or_dash(cli_jstr(vm, "id")));
	bool done;
	int64_t took = -1;
	rc = wait_or_report(ctx, json_object_get(resp, "operation"), args_has(a, "wait"), doing, &done, &took);
	if (done)
		print_ready(ctx, "Created", name, took);
	json_decref(resp);
	return rc;
}

/* --- list and show ---------------------------------------------------------- */

static void print_vms(struct cli_ctx *ctx, const json_t *j)
{
	const json_t *vms = json_object_get(j, "vms");
	if (json_array_size(vms) == 0) {
		fputs("No VMs. Create one with: nubo vm create NAME --wait\n", ctx->out);
		return;
	}
	static const char *const headers[] = {"NAME", "STATE", "TYPE", "IMAGE", "IP", "HOST", "AGE", "COST"};
	struct table *t = table_new(8, headers);
	table_align_right(t, 7);
	size_t i;
	const json_t *vm;
	json_array_foreach(vms, i, vm) {
		autofree char *age = fmt_age_since(cli_jstr(vm, "created_at"), ctx->now_ms);
		autofree char *cost = json_is_number(json_object_get(vm, "cost")) ? fmt_price(cli_jreal(vm, "cost", 0)) : NULL;
		const char *row[] = {cli_jstr(vm, "name"), cli_jstr(vm, "state"), cli_jstr(vm, "type"),
				     cli_jstr(vm, "image"), cli_jstr(vm, "ip"), cli_jstr(vm, "host"), age, cost};
		table_add_row(t, row);
	}
	autofree char *text = table_render(t);
	fputs(text, ctx->out);
	table_free(t);
}

/* Every page of GET /v1/vms as one {"vms": [...]}. */
static int vm_list(struct cli_ctx *ctx, const struct args *a)
{
	json_t *all = json_array();
	autofree char *token = NULL;
	do {
		/* Names are DNS labels: nothing to escape in the query. */
		autofree char *path = token ? xasprintf("/v1/vms?limit=1000&page_token=%s", token)
					    : xstrdup("/v1/vms?limit=1000");
		json_t *page = cli_get(ctx, path);
		if (!page) {
			json_decref(all);
			return CLI_EXIT_FAILED;
		}
		json_array_extend(all, json_object_get(page, "vms"));
		free(token);
		token = xstrdup(cli_jstr(page, "next_page_token"));
		json_decref(page);
	} while (token);
	json_t *j = json_pack("{s:o}", "vms", all);
	if (args_has(a, "json")) {
		cli_print_json(ctx, j);
	} else {
		print_vms(ctx, j);
		budget_warn(ctx);
	}
	json_decref(j);
	return CLI_EXIT_OK;
}

static void show_time(struct cli_ctx *ctx, const char *label, const char *ts)
{
	if (!ts)
		return;
	autofree char *age = fmt_age_since(ts, ctx->now_ms);
	fprintf(ctx->out, "%-12s%s (%s ago)\n", label, ts, age);
}

static void print_vm(struct cli_ctx *ctx, const json_t *vm)
{
	const char *name = cli_or_dash(cli_jstr(vm, "name"));
	const char *state = cli_or_dash(cli_jstr(vm, "state"));
	int64_t vcpus = cli_jint(vm, "vcpus", -1);
	autofree char *mem = fmt_mib(cli_jint(vm, "memory_mib", -1));

	fprintf(ctx->out, "%-12s%s\n", "Name:", name);
	fprintf(ctx->out, "%-12s%s\n", "ID:", cli_or_dash(cli_jstr(vm, "id")));
	fprintf(ctx->out, "%-12s%s", "State:", state);
	if (cli_jstr(vm, "power") && strcmp(cli_jstr(vm, "power"), state) != 0 &&
	    strcmp(state, "error") != 0)
		fprintf(ctx->out, " (asked: %s)", cli_jstr(vm, "power"));
	fputc('\n', ctx->out);
	if (cli_jstr(vm, "reason"))
		fprintf(ctx->out, "%-12s%s\n", "Reason:", cli_jstr(vm, "reason"));
	fprintf(ctx->out, "%-12s%s (%lld vCPU%s, %s)\n", "Type:", cli_or_dash(cli_jstr(vm, "type")), (long long)vcpus,
		vcpus == 1 ? "" : "s", mem);
	int64_t max_vcpus = cli_jint(vm, "max_vcpus", 0), max_mib = cli_jint(vm, "max_memory_mib", 0);
	if (cli_jstr(vm, "max_type") && (max_vcpus > vcpus || max_mib > cli_jint(vm, "memory_mib", 0))) {
		autofree char *max_mem = fmt_mib(max_mib);
		fprintf(ctx->out, "%-12slive up to %s (%lld vCPU%s, %s)\n", "Resize:", cli_jstr(vm, "max_type"),
			(long long)max_vcpus, max_vcpus == 1 ? "" : "s", max_mem);
	}
	fprintf(ctx->out, "%-12s%s\n", "Image:", cli_or_dash(cli_jstr(vm, "image")));
	fprintf(ctx->out, "%-12s%s\n", "Host:", cli_or_dash(cli_jstr(vm, "host")));
	if (cli_jstr(vm, "spread_group"))
		fprintf(ctx->out, "%-12s%s\n", "Spread:", cli_jstr(vm, "spread_group"));
	fprintf(ctx->out, "%-12s%s\n", "IP:", cli_or_dash(cli_jstr(vm, "ip")));
	size_t i;
	const json_t *nic;
	json_array_foreach(json_object_get(vm, "nics"), i, nic)
		fprintf(ctx->out, "%-12s%s on %s, MAC %s%s\n", i ? "" : "NICs:", cli_or_dash(cli_jstr(nic, "ip")),
			cli_or_dash(cli_jstr(nic, "network")), cli_or_dash(cli_jstr(nic, "mac")), i ? "" : " (primary)");
	struct sbuf fws = {0};
	const json_t *fw;
	json_array_foreach(json_object_get(vm, "firewalls"), i, fw)
		sbuf_addf(&fws, "%s%s", i ? ", " : "", json_string_value(fw));
	autofree char *fw_text = sbuf_take(&fws);
	fprintf(ctx->out, "%-12s%s\n", "Firewalls:", *fw_text ? fw_text : "-");
	fprintf(ctx->out, "%-12snubo vm ssh %s  (user %s, key %s)\n", "SSH:", name,
		cli_jstr(vm, "ssh_user") ? cli_jstr(vm, "ssh_user") : "root", cli_or_dash(cli_jstr(vm, "ssh_key_file")));
	fprintf(ctx->out, "%-12s%s\n", "Accel:", cli_or_dash(cli_jstr(vm, "accel")));
	if (cli_jint(vm, "pid", 0) > 0)
		fprintf(ctx->out, "%-12s%lld\n", "PID:", (long long)cli_jint(vm, "pid", 0));
	show_time(ctx, "Created:", cli_jstr(vm, "created_at"));
	show_time(ctx, "Started:", cli_jstr(vm, "started_at"));
	if (json_is_number(json_object_get(vm, "cost"))) {
		autofree char *cost = fmt_price(cli_jreal(vm, "cost", 0));
		fprintf(ctx->out, "%-12s%s so far (its runs and its root disk; see nubo usage)\n", "Cost:", cost);
	}
	if (cli_jstr(vm, "operation"))
		fprintf(ctx->out, "%-12s%s\n", "Operation:", cli_jstr(vm, "operation"));
	wait_print_phases(ctx->out, "Boot phases", json_object_get(vm, "boot_phases"));
}

static int vm_show(struct cli_ctx *ctx, const struct args *a)
{
	autofree char *path = vm_path(a->pos[0], NULL);
	return cli_show(ctx, a, path, print_vm);
}

/* --- start, stop, reboot, delete --------------------------------------------- */

struct vm_action {
	const char *method;   /* POST or DELETE */
	const char *suffix;   /* "/start" or NULL */
	const char *doing;    /* "Starting" */
	const char *done;     /* "Started" */
	bool prints_ip;       /* the VM is up afterwards: show how to reach it */
};

/* What to print once resp (the answer to act) is in; returns the exit code. */
static int follow_action(struct cli_ctx *ctx, const struct args *a, const struct vm_action *act,
			 const json_t *resp, long status)
{
	const char *name = a->pos[0];
	const json_t *op = json_object_get(resp, "operation");
	const char *op_state = cli_jstr(op, "state");
	if (status == 200 && op_state && strcmp(op_state, "succeeded") == 0) {
		/* Nothing to do: starting a running VM, stopping a stopped one,
		 * or stopping one in error, which runs no more than a stopped
		 * one but is not what the user asked for: say what it is. */
		const json_t *vm = json_object_get(resp, "vm");
		const char *state = cli_or_dash(cli_jstr(vm, "state"));
		if (strcmp(state, "error") == 0)
			fprintf(ctx->out,
				"VM %s is in error (%s); it is not running. `nubo vm start %s` tries again, "
				"`nubo vm delete %s` removes it\n",
				name, cli_jstr(vm, "reason") ? cli_jstr(vm, "reason") : "no reason recorded", name, name);
		else
			fprintf(ctx->out, "VM %s is already %s\n", name, state);
		return CLI_EXIT_OK;
	}
	autofree char *doing = xasprintf("%s VM %s", act->doing, name);
	bool done;
	int64_t took = -1;
	int rc = wait_or_report(ctx, op, args_has(a, "wait"), doing, &done, &took);
	if (!done)
		return rc;
	if (act->prints_ip) {
		print_ready(ctx, act->done, name, took);
	} else {
		autofree char *d = fmt_duration_ms(took);
		fprintf(ctx->out, "%s VM %s%s%s\n", act->done, name, took >= 0 ? " in " : "", took >= 0 ? d : "");
	}
	return rc;
}

static int run_action(struct cli_ctx *ctx, const struct args *a, const struct vm_action *act, json_t *body)
{
	autofree char *path = vm_path(a->pos[0], act->suffix);
	json_t *resp = NULL;
	long status = 0;
	struct err e = {0};
	if (client_json(cli_client(ctx), act->method, path, body, &resp, &status, &e) < 0)
		return cli_fail(ctx, CLI_EXIT_FAILED, &e);
	int rc = follow_action(ctx, a, act, resp, status);
	json_decref(resp);
	return rc;
}

static int vm_start(struct cli_ctx *ctx, const struct args *a)
{
	static const struct vm_action act = {"POST", "/start", "Starting", "Started", true};
	return run_action(ctx, a, &act, NULL);
}

static int vm_stop(struct cli_ctx *ctx, const struct args *a)
{
	static const struct vm_action act = {"POST", "/stop", "Stopping", "Stopped", false};
	json_t *body = args_has(a, "force") ? json_pack("{s:b}", "force", 1) : NULL;
	int rc = run_action(ctx, a, &act, body);
	json_decref(body);
	return rc;
}

static int vm_restore(struct cli_ctx *ctx, const struct args *a)
{
	static const struct vm_action act = {"POST", "/restore", "Restoring", "Restored", false};
	if (!args_value(a, "snapshot")) {
		fprintf(ctx->err, "nubo: vm restore needs --snapshot SNAPSHOT\n");
		return CLI_EXIT_USAGE;
	}
	json_t *body = json_pack("{s:s}", "snapshot", args_value(a, "snapshot"));
	int rc = run_action(ctx, a, &act, body);
	json_decref(body);
	return rc;
}

static int vm_resize(struct cli_ctx *ctx, const struct args *a)
{
	static const struct vm_action act = {"POST", "/resize", "Resizing", "Resized", false};
	if (!args_value(a, "type") && !args_value(a, "disk-size")) {
		fprintf(ctx->err, "nubo: vm resize needs --type T, --disk-size SIZE or both\n");
		return CLI_EXIT_USAGE;
	}
	json_t *body = json_object();
	if (args_value(a, "type"))
		json_object_set_new(body, "type", json_string(args_value(a, "type")));
	if (args_value(a, "disk-size"))
		json_object_set_new(body, "disk_size", json_string(args_value(a, "disk-size")));
	if (args_has(a, "restart"))
		json_object_set_new(body, "restart", json_true());
	int rc = run_action(ctx, a, &act, body);
	json_decref(body);
	return rc;
}

static int vm_move(struct cli_ctx *ctx, const struct args *a)
{
	static const struct vm_action act = {"POST", "/move", "Moving", "Moved", false};
	if (!args_value(a, "to")) {
		fprintf(ctx->err, "nubo: vm move needs --to HOST\n");
		return CLI_EXIT_USAGE;
	}
	json_t *body = json_pack("{s:s}", "to", args_value(a, "to"));
	int rc = run_action(ctx, a, &act, body);
	json_decref(body);
	return rc;
}

static int vm_reboot(struct cli_ctx *ctx, const struct args *a)
{
	static const struct vm_action act = {"POST", "/reboot", "Rebooting", "Rebooted", true};
	return run_action(ctx, a, &act, NULL);
}

/* Once nubod has taken the delete, the VM's host keys are forgotten: its
 * id never comes back, so its entries would only pile up. */
static int vm_delete(struct cli_ctx *ctx, const struct args *a)
{
	static const struct vm_action act = {"DELETE", NULL, "Deleting", "Deleted", false};
	autofree char *path = vm_path(a->pos[0], act.suffix);
	json_t *resp = NULL;
	long status = 0;
	struct err e = {0};
	if (client_json(cli_client(ctx), act.method, path, NULL, &resp, &status, &e) < 0)
		return cli_fail(ctx, CLI_EXIT_FAILED, &e);
	const char *id = cli_jstr(json_object_get(resp, "vm"), "id");
	if (id) {
		autofree char *dir = ssh_config_dir();
		autofree char *known_hosts = xasprintf("%s/known_hosts", dir);
		if (ssh_known_hosts_forget(known_hosts, id, &e) < 0)
			fprintf(ctx->err, "nubo: warning: %s\n", e.msg);
	}
	int rc = follow_action(ctx, a, &act, resp, status);
	json_decref(resp);
	return rc;
}

/* --- ssh and console ------------------------------------------------------------ */

/* Checks that vm can be reached; returns 0 or prints why and returns the exit code. */
static int ssh_check_vm(struct cli_ctx *ctx, const char *name, const json_t *vm)
{
	const char *state = cli_or_dash(cli_jstr(vm, "state"));
	const char *ip = cli_jstr(vm, "ip");
	const char *reason = cli_jstr(vm, "reason");
	if (strcmp(state, "stopped") == 0)
		return cli_failf(ctx, CLI_EXIT_FAILED, "VM %s is stopped; start it with: nubo vm start %s --wait",
				 name, name);
	if (strcmp(state, "pending") == 0)
		return cli_failf(ctx, CLI_EXIT_FAILED,
				 "VM %s is still starting (pending); follow it with: nubo operation wait %s", name,
				 cli_or_dash(cli_jstr(vm, "operation")));
	if (strcmp(state, "running") != 0)
		return cli_failf(ctx, CLI_EXIT_FAILED, "VM %s is %s, not running%s%s", name, state,
				 reason ? ": " : "", reason ? reason : "");
	if (!ip || !*ip)
		return cli_failf(ctx, CLI_EXIT_FAILED, "VM %s has no IP address yet; see: nubo vm show %s", name,
				 name);
	return 0;
}

/* Replaces the process with ssh to vm; returns only on failure. */
static int ssh_exec(struct cli_ctx *ctx, const struct args *a, const json_t *vm)
{
	autofree char *dir = ssh_config_dir();
	autofree char *own = ssh_own_key_path();
	autofree char *known_hosts = xasprintf("%s/known_hosts", dir);
	autofree char *identity = ssh_choose_identity(args_value(a, "identity"), cli_jstr(vm, "ssh_key_file"), own);
	struct err e = {0};
	if (fs_mkdir_p(dir, 0700, &e) < 0)
		return cli_fail(ctx, CLI_EXIT_FAILED, &e);
	struct ssh_target t = {
		.identity = identity,
		.known_hosts = known_hosts,
		.host_alias = cli_jstr(vm, "id") ? cli_jstr(vm, "id") : a->pos[0],
		.user = cli_jstr(vm, "ssh_user") ? cli_jstr(vm, "ssh_user") : "root",
		.ip = cli_jstr(vm, "ip"),
	};
	char **argv = ssh_argv(&t, a->rest, a->nrest);
	fflush(ctx->out);
	fflush(ctx->err);
	execvp(argv[0], argv);
	int saved = errno;
	ssh_argv_free(argv);
	return cli_failf(ctx, CLI_EXIT_FAILED, "cannot run ssh: %s (install openssh-client)", strerror(saved));
}

static int vm_ssh(struct cli_ctx *ctx, const struct args *a)
{
	const char *name = a->pos[0];
	const char *explicit_key = args_value(a, "identity");
	if (explicit_key && access(explicit_key, R_OK) < 0)
		return cli_failf(ctx, CLI_EXIT_USAGE, "cannot read SSH key %s: %s", explicit_key, strerror(errno));
	autofree char *path = vm_path(name, NULL);
	json_t *vm = cli_get(ctx, path);
	if (!vm)
		return CLI_EXIT_FAILED;
	int rc = ssh_check_vm(ctx, name, vm);
	if (rc == 0)
		rc = ssh_exec(ctx, a, vm);
	json_decref(vm);
	return rc;
}

/* The old way, and the way for scripts: the log's last 256 KiB. */
static int console_log(struct cli_ctx *ctx, const struct args *a)
{
	autofree char *path = vm_path(a->pos[0], "/console");
	struct client_response r;
	struct err e = {0};
	if (client_call(cli_client(ctx), "GET", path, NULL, &r, &e) < 0)
		return cli_fail(ctx, CLI_EXIT_FAILED, &e);
	if (r.status >= 300) {
		client_error_from_response(&r, &e);
		client_response_free(&r);
		return cli_fail(ctx, CLI_EXIT_FAILED, &e);
	}
	fwrite(r.body, 1, r.len, ctx->out);
	client_response_free(&r);
	return CLI_EXIT_OK;
}

/* Ctrl-]: what telnet and virsh console detach with. */
#define CONSOLE_DETACH_KEY 0x1d

static bool send_all_conn(struct client_conn *k, const char *p, size_t n)
{
	while (n) {
		long w = client_conn_send(k, p, n);
		if (w == -EAGAIN) {
			struct pollfd pf = {.fd = client_conn_fd(k), .events = POLLOUT};
			if (poll(&pf, 1, 10000) <= 0)
				return false;
			continue;
		}
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

/* Sends what was typed as one masked binary frame (a client must mask). */
static bool console_send(struct client_conn *k, const char *data, size_t n)
{
	uint8_t mask[4] = {0}, h[WS_HEADER_MAX];
	if (getrandom(mask, sizeof(mask), 0) != sizeof(mask))
		memset(mask, 0x5a, sizeof(mask));   /* a mask guards proxies, not secrets */
	size_t hl = ws_frame_header(h, WS_BINARY, n, mask);
	char *frame = xcalloc(1, hl + n);
	memcpy(frame, h, hl);
	for (size_t i = 0; i < n; i++)
		frame[hl + i] = (char)((uint8_t)data[i] ^ mask[i % 4]);
	bool ok = send_all_conn(k, frame, hl + n);
	free(frame);
	return ok;
}

/* Writes every whole frame in *in (len bytes) to out; keeps the rest.
 * Returns false when the console closed (a close frame, or a bad frame). */
static bool console_take(char *in, size_t *len, FILE *out, struct err *e)
{
	size_t at = 0;
	bool open = true;
	while (open) {
		struct ws_frame f;
		long used = ws_frame_parse(in + at, *len - at, false, &f, e);
		if (used < 0)
			open = false;
		if (used <= 0)
			break;
		if (f.opcode == WS_BINARY || f.opcode == WS_TEXT || f.opcode == WS_CONTINUATION)
			fwrite(f.payload, 1, f.len, out);
		else if (f.opcode == WS_CLOSE)
			open = false;
		at += (size_t)used;
	}
	fflush(out);
	memmove(in, in + at, *len - at);
	*len -= at;
	return open;
}

/* Attached: the terminal in raw mode, keystrokes to the guest, its output
 * here, until Ctrl-] or the console closes. */
static int console_attach(struct cli_ctx *ctx, const char *name)
{
	autofree char *tpath = vm_path(name, "/console/tickets");
	json_t *t = NULL;
	struct err e = {0};
	if (client_json(cli_client(ctx), "POST", tpath, NULL, &t, NULL, &e) < 0)
		return cli_fail(ctx, CLI_EXIT_FAILED, &e);
	autofree char *url = xstrdup(cli_jstr(t, "url"));
	json_decref(t);
	struct client_conn *k = NULL;
	if (!url || client_websocket(cli_client(ctx), url, &k, &e) < 0) {
		if (!url)
			err_set(&e, ERR_INTERNAL, "nubod answered a console ticket without its url");
		return cli_fail(ctx, CLI_EXIT_FAILED, &e);
	}
	fprintf(ctx->err, "Connected to VM %s's serial console; detach with Ctrl-]\r\n", name);
	fflush(ctx->err);
	struct termios saved, raw;
	bool tty = tcgetattr(STDIN_FILENO, &saved) == 0;
	if (tty) {
		raw = saved;
		cfmakeraw(&raw);
		tcsetattr(STDIN_FILENO, TCSANOW, &raw);
	}
	size_t cap = WS_PAYLOAD_MAX + 16, len = 0;
	char *in = xcalloc(1, cap);
	size_t early_len = 0;
	const char *early = client_conn_early(k, &early_len);
	if (early_len <= cap) {
		memcpy(in, early, early_len);
		len = early_len;
	}
	const char *why = NULL;
	bool open = console_take(in, &len, ctx->out, &e);
	while (open) {
		struct pollfd p[2] = {{.fd = STDIN_FILENO, .events = POLLIN}, {.fd = client_conn_fd(k), .events = POLLIN}};
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[0].revents & (POLLIN | POLLHUP)) {
			char buf[1024];
			ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
			if (n <= 0)
				break;
			char *detach = memchr(buf, CONSOLE_DETACH_KEY, (size_t)n);
			size_t keep = detach ? (size_t)(detach - buf) : (size_t)n;
			if (keep && !console_send(k, buf, keep)) {
				why = "the connection to nubod broke";
				break;
			}
			if (detach) {
				why = "detached";
				break;
			}
		}
		if (p[1].revents) {
			for (;;) {   /* TLS may hold more than the socket shows */
				long r = client_conn_recv(k, in + len, cap - len);
				if (r == -EAGAIN)
					break;
				if (r <= 0) {
					open = false;
					break;
				}
				len += (size_t)r;
				if (!console_take(in, &len, ctx->out, &e) || len == cap) {
					open = false;
					break;
				}
			}
			if (!open && !why)
				why = e.msg[0] ? e.msg : "the console closed (the VM stopped?)";
		}
	}
	if (tty)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
	static const char bye[] = {(char)0x03, (char)0xe8};
	uint8_t h[WS_HEADER_MAX];
	static const uint8_t zero[4];
	size_t hl = ws_frame_header(h, WS_CLOSE, 2, zero);
	send_all_conn(k, (const char *)h, hl);
	send_all_conn(k, bye, 2);
	client_conn_free(k);
	free(in);
	fprintf(ctx->err, "\r\n%s from VM %s's serial console\n", why ? why : "disconnected", name);
	return CLI_EXIT_OK;
}

static int vm_console(struct cli_ctx *ctx, const struct args *a)
{
	/* A script, a pipe or --log gets the log, as before. */
	if (args_has(a, "log") || !isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))
		return console_log(ctx, a);
	return console_attach(ctx, a->pos[0]);
}

static const struct cli_verb vm_verbs[] = {
	{"create", "NAME [--type T] [--max-type T] [--image I] [--ssh-key FILE.pub] [--user-data FILE] [--disk-size SIZE] [--ephemeral SIZE] [--from-snapshot S] [--network N [--ip A]]... [--firewall F,...] [--no-seed] [--host H] [--spread-group G] [--wait]",
	 "Create a VM and boot it",
	 "Without --ssh-key, nubo uses its own key pair, made on first use in\n"
	 "$XDG_CONFIG_HOME/nubo/id_ed25519 (default ~/.config/nubo/). The key file is\n"
	 "checked before anything is sent: a bad one exits 2 and creates nothing.\n"
	 "Without --wait, nubo prints the operation to follow and returns at once.\n",
	 create_flags, 1, 1, false, vm_create},
	{"list", "[--json]", "List VMs with their state, type, image, IP, host, age and cost so far", NULL, cli_json_flags, 0, 0, false,
	 vm_list},
	{"show", "NAME [--json]", "Show one VM: state, size, address, SSH, boot phases, accel", NULL, cli_json_flags,
	 1, 1, false, vm_show},
	{"start", "NAME [--wait]", "Start a stopped VM", NULL, cli_wait_flags, 1, 1, false, vm_start},
	{"stop", "NAME [--force] [--wait]", "Stop a VM (ACPI shutdown, or power off with --force)",
	 "A stopped VM keeps its disk and IP address and uses no vCPU or memory.\n", stop_flags, 1, 1, false,
	 vm_stop},
	{"reboot", "NAME [--wait]", "Reboot a running VM", NULL, cli_wait_flags, 1, 1, false, vm_reboot},
	{"restore", "NAME --snapshot SNAPSHOT [--wait]", "Roll a stopped VM's disk back to one of its snapshots",
	 "What was written since the snapshot is gone; the snapshot stays. Stop the VM\n"
	 "first; start it again afterwards.\n",
	 restore_flags, 1, 1, false, vm_restore},
	{"resize", "NAME [--type T] [--disk-size SIZE] [--restart] [--wait]", "Change a VM's type or grow its root disk",
	 "A running VM changes live when it can: vCPUs up to the ceiling fixed at create\n"
	 "(--max-type), and a larger root disk. Memory changes only while the VM is\n"
	 "stopped: add --restart to stop, resize and start it, keeping its address and\n"
	 "disks. A stopped VM takes the new size at its next start. See docs/resize.md.\n",
	 resize_flags, 1, 1, false, vm_resize},
	{"move", "NAME --to HOST [--wait]", "Move a stopped VM to another host of the cloud",
	 "Its root disk is copied to HOST (checked by its SHA-256); its id, name, MAC, IP\n"
	 "and firewalls stay. A VM with volumes or snapshots is refused: their files stay\n"
	 "on their host. Start it afterwards. See docs/cluster.md.\n",
	 move_flags, 1, 1, false, vm_move},
	{"delete", "NAME [--wait]", "Delete a VM and its disk", NULL, cli_wait_flags, 1, 1, false, vm_delete},
	{"stats", "NAME [--since D|TIME] [--step D] [--json]", "Show a VM's CPU, memory, network and disk, now and as sparklines",
	 "nubod samples each running VM every 10 s and keeps 24 h of those, then 30 days\n"
	 "at 5 min (nubod.json \"metrics\"). Network and disk figures are per second over\n"
	 "each point's interval. See docs/metrics.md.\n",
	 vm_stats_flags, 1, 1, false, vm_stats},
	{"set", "NAME --idle-stop D|off [--idle-cpu PCT] [--idle-net BPS] | --idle-default", "Set a VM's idle stop policy",
	 "A running VM whose CPU and network stay below the thresholds for the whole\n"
	 "window is stopped, with an event saying why and what it saves; an event warns\n"
	 "first. Members of auto-scaling groups are never idle-stopped. See docs/metrics.md.\n",
	 vm_set_flags, 1, 1, false, vm_set},
	{"protect", "NAME", "Exempt a group's VM from scale-in",
	 "Its group never picks it when it scales in or refreshes; it is still replaced\n"
	 "when it fails, and deleted with its group. See docs/groups.md.\n",
	 NULL, 1, 1, false, vm_protect},
	{"unprotect", "NAME", "Let a group's VM be scaled in again", NULL, NULL, 1, 1, false, vm_unprotect},
	{"ssh", "NAME [-i KEY] [-- CMD...]", "Open a shell on a VM, or run CMD there",
	 "The exit status is the remote command's (255 when ssh itself fails).\n"
	 "The private key is -i KEY if given; else the VM's --ssh-key file without .pub\n"
	 "if it exists here; else nubo's own key. Host keys are kept per VM id in\n"
	 "~/.config/nubo/known_hosts, so a new VM reusing an old IP is no surprise.\n",
	 ssh_flags, 1, 1, true, vm_ssh},
	{"console", "NAME [--log]", "Attach to a VM's serial console, or print its log",
	 "On a terminal, nubo attaches: what you type goes to the VM's serial port and\n"
	 "its output comes here, beside anyone else watching (the web console too).\n"
	 "Detach with Ctrl-]. With --log, or when not on a terminal (a pipe, a script),\n"
	 "it prints the console log instead (the last 256 KiB).\n",
	 console_flags, 1, 1, false, vm_console},
	{"set-firewall", "NAME FIREWALL[,FIREWALL...]", "Replace the firewalls a VM is a member of",
	 "In force within a second, on a running VM too. Connections already open stay\n"
	 "open; new ones meet the new rules.\n",
	 NULL, 2, 2, false, vm_set_firewall},
	{"expose", "NAME HOST_PORT:VM_PORT[/tcp|udp]", "Forward a port of this host to a VM",
	 "Traffic to the port on any of the host's addresses (localhost included)\n"
	 "reaches the VM's primary address; the VM's firewalls do not filter it.\n",
	 NULL, 2, 2, false, vm_expose},
	{"unexpose", "NAME HOST_PORT[/tcp|udp]", "Stop forwarding a host port to a VM", NULL, NULL, 2, 2, false,
	 vm_unexpose},
	{"ports", "NAME [--json]", "List the host ports forwarded to a VM", NULL, cli_json_flags, 1, 1, false,
	 vm_ports},
	{NULL, NULL, NULL, NULL, NULL, 0, 0, false, NULL},
};

const struct cli_noun vm_noun = {"vm", "Virtual machines.", vm_verbs, false};
