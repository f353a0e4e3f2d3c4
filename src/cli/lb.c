/*
 * lb: `nubo lb create|list|show|set|delete` and `nubo lb target add|remove`
 * (/v1/lbs).
 */
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/format.h"
#include "cli/table.h"
#include "util/str.h"
#include "util/timeutil.h"

#define LIST_MAX 64

static const struct arg_flag create_flags[] = {
	{"listen", 0, ARG_VALUE, "PORT[:TARGET_PORT]", "a port on the virtual address (repeat for more), e.g. 80 or 443:8443"},
	{"network", 0, ARG_VALUE, "NETWORK", "where the virtual address is (default: default)"},
	{"targets", 0, ARG_VALUE, "VM[:PORT],...", "the VMs it spreads connections over"},
	{"check", 0, ARG_VALUE, "CHECK", "tcp (a connect; default) or http:/PATH (a GET answered 2xx or 3xx)"},
	{"interval", 0, ARG_VALUE, "D", "time between checks (default 5s)"},
	{"timeout", 0, ARG_VALUE, "D", "how long a check may take (default 2s)"},
	{"rise", 0, ARG_VALUE, "N", "successes in a row that bring a target in (default 2)"},
	{"fall", 0, ARG_VALUE, "N", "failures in a row that take a target out (default 3)"},
	{"algorithm", 0, ARG_VALUE, "A", "round-robin (default) or source-hash (a client keeps its target)"},
	{"drain", 0, ARG_VALUE, "D", "how long a removed target keeps its open connections (default 30s; 0: cut at once)"},
	{"host-port", 0, ARG_BOOL, NULL, "listen on the host's own addresses too, on each --listen port (like vm expose)"},
	{"json", 0, ARG_BOOL, NULL, "print the API's JSON"},
	{NULL, 0, 0, NULL, NULL},
};

static const struct arg_flag delete_flags[] = {
	{"wait", 0, ARG_BOOL, NULL, "return once its connections are cut and it is gone"},
	{NULL, 0, 0, NULL, NULL},
};

static const struct arg_flag set_flags[] = {
	{"drain", 0, ARG_VALUE, "D", "how long a removed target keeps its open connections (0: cut at once)"},
	{"json", 0, ARG_BOOL, NULL, "print the API's JSON"},
	{NULL, 0, 0, NULL, NULL},
};

static char *listeners_text(const json_t *lb)
{
	struct sbuf b = {0};
	size_t i;
	const json_t *l;
	json_array_foreach(json_object_get(lb, "listeners"), i, l) {
		long long p = cli_jint(l, "port", 0), tp = cli_jint(l, "target_port", 0);
		if (p == tp)
			sbuf_addf(&b, "%s%lld", i ? "," : "", p);
		else
			sbuf_addf(&b, "%s%lld:%lld", i ? "," : "", p, tp);
	}
	return sbuf_take(&b);
}

static void print_lbs(struct cli_ctx *ctx, const json_t *j)
{
	static const char *const headers[] = {"NAME", "NETWORK", "ADDRESS", "LISTEN", "TARGETS", "ALGORITHM", "AGE"};
	struct table *t = table_new(7, headers);
	size_t i;
	const json_t *lb;
	json_array_foreach(json_object_get(j, "lbs"), i, lb) {
		autofree char *age = fmt_age_since(cli_jstr(lb, "created_at"), ctx->now_ms);
		autofree char *listen = listeners_text(lb);
		size_t k, healthy = 0, n = json_array_size(json_object_get(lb, "targets"));
		const json_t *tg;
		json_array_foreach(json_object_get(lb, "targets"), k, tg) {
			healthy += strcmp(cli_or_dash(cli_jstr(tg, "health")), "healthy") == 0;
		}
		bool going = strcmp(cli_or_dash(cli_jstr(lb, "state")), "deleting") == 0;
		autofree char *targets = going ? xstrdup("(deleting)")
					       : xasprintf("%zu/%zu healthy%s", healthy, n,
							   json_is_true(json_object_get(lb, "failing_open")) ? " (open)" : "");
		const char *row[] = {cli_jstr(lb, "name"), cli_jstr(lb, "network"), cli_jstr(lb, "vip"), listen,
				     targets, cli_jstr(lb, "algorithm"), age};
		table_add_row(t, row);
	}
	autofree char *text = table_render(t);
	fputs(text, ctx->out);
	table_free(t);
}

static void print_lb(struct cli_ctx *ctx, const json_t *lb)
{
	autofree char *listen = listeners_text(lb);
	const char *check = cli_or_dash(cli_jstr(lb, "check"));
	fprintf(ctx->out, "Name:       %s\n", cli_or_dash(cli_jstr(lb, "name")));
	fprintf(ctx->out, "ID:         %s\n", cli_or_dash(cli_jstr(lb, "id")));
	fprintf(ctx->out, "Network:    %s\n", cli_or_dash(cli_jstr(lb, "network")));
	fprintf(ctx->out, "Address:    %s\n", cli_or_dash(cli_jstr(lb, "vip")));
	if (json_is_true(json_object_get(lb, "host_port")))
		fprintf(ctx->out, "Listen:     %s (and on the host's own addresses)\n", listen);
	else
		fprintf(ctx->out, "Listen:     %s\n", listen);
	fprintf(ctx->out, "Algorithm:  %s\n", cli_or_dash(cli_jstr(lb, "algorithm")));
	fprintf(ctx->out, "Check:      %s%s%s every %lld ms, timeout %lld ms, rise %lld, fall %lld\n", check,
		strcmp(check, "http") == 0 ? " " : "", strcmp(check, "http") == 0 ? cli_or_dash(cli_jstr(lb, "check_path")) : "",
		(long long)cli_jint(lb, "interval_ms", 0), (long long)cli_jint(lb, "timeout_ms", 0),
		(long long)cli_jint(lb, "rise", 0), (long long)cli_jint(lb, "fall", 0));
	char drain[24];
	time_duration_format(cli_jint(lb, "drain_ms", 0), drain);
	fprintf(ctx->out, "Drain:      %s\n", cli_jint(lb, "drain_ms", 0) ? drain : "0 (connections cut at once)");
	if (strcmp(cli_or_dash(cli_jstr(lb, "state")), "deleting") == 0)
		fprintf(ctx->out, "Deleting:   no new connection; its open ones are being cut, then it is gone\n");
	else if (json_is_true(json_object_get(lb, "failing_open")))
		fprintf(ctx->out, "Failing open: no target is healthy, so every target gets connections\n");
	const json_t *targets = json_object_get(lb, "targets");
	if (json_array_size(targets) == 0) {
		fprintf(ctx->out, "Targets:    none (nubo lb target add %s VM[:PORT])\n", cli_or_dash(cli_jstr(lb, "name")));
		return;
	}
	fprintf(ctx->out, "Targets:\n");
	static const char *const headers[] = {"VM", "PORT", "STATE", "HEALTH", "CONNS", "SINCE", "LAST CHECK"};
	struct table *t = table_new(7, headers);
	size_t i;
	const json_t *tg;
	json_array_foreach(targets, i, tg) {
		autofree char *port = cli_jint(tg, "port", 0) ? xasprintf("%lld", (long long)cli_jint(tg, "port", 0))
							     : xstrdup("-");
		const char *since = cli_jstr(tg, "health_since");
		autofree char *ago = since && *since ? fmt_age_since(since, ctx->now_ms) : xstrdup("-");
		autofree char *when = since && *since ? xasprintf("%s ago", ago) : xstrdup("-");
		const char *reason = cli_jstr(tg, "reason");
		autofree char *conns = xasprintf("%lld", (long long)cli_jint(tg, "connections", 0));
		/* draining: for how much longer (its connections are cut then) */
		const char *until = cli_jstr(tg, "drain_until");
		int64_t until_ms = 0;
		autofree char *left = until && fmt_parse_rfc3339(until, &until_ms)
					      ? fmt_age((until_ms - ctx->now_ms + 999) / 1000)
					      : NULL;
		autofree char *state = !left ? xstrdup(cli_or_dash(cli_jstr(tg, "state")))
				       : until_ms > ctx->now_ms ? xasprintf("draining (%s left)", left)
								: xstrdup("draining (being cut)");
		const char *row[] = {cli_jstr(tg, "vm"), port, state, cli_jstr(tg, "health"), conns, when,
				     reason && *reason ? reason : "-"};
		table_add_row(t, row);
	}
	autofree char *text = table_render(t);
	fputs(text, ctx->out);
	table_free(t);
}

static int lb_list(struct cli_ctx *ctx, const struct args *a)
{
	return cli_show(ctx, a, "/v1/lbs", print_lbs);
}

static int lb_show(struct cli_ctx *ctx, const struct args *a)
{
	autofree char *path = client_path("/v1/lbs/%s", a->pos[0]);
	return cli_show(ctx, a, path, print_lb);
}

/* A whole number for --rise/--fall; anything else goes to the API as text,
 * which names it in its answer. */
static void add_count(struct cli_ctx *ctx, json_t *body, const struct args *a, const char *name)
{
	const char *v = args_value(a, name);
	if (!v)
		return;
	size_t n = strspn(v, "0123456789");
	if (n && n <= 4 && !v[n])
		json_object_set_new(body, name, json_integer(strtol(v, NULL, 10)));
	else
		json_object_set_new(body, name, json_string(v));
	(void)ctx;
}

static int lb_create(struct cli_ctx *ctx, const struct args *a)
{
	const char *listen[LIST_MAX];
	size_t n_listen = args_values(a, "listen", listen, LIST_MAX);
	if (!n_listen) {
		fprintf(ctx->err, "nubo: lb create needs --listen PORT[:TARGET_PORT], e.g. --listen 80\n");
		return CLI_EXIT_USAGE;
	}
	json_t *body = json_pack("{s:s}", "name", a->pos[0]);
	json_t *ls = json_array();
	for (size_t i = 0; i < n_listen; i++)
		json_array_append_new(ls, json_string(listen[i]));
	json_object_set_new(body, "listen", ls);
	json_t *ts = json_array();
	const char *targets = args_value(a, "targets");
	if (targets && *targets) {
		autofree char *copy = xstrdup(targets);
		for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
			json_array_append_new(ts, json_string(tok));
	}
	json_object_set_new(body, "targets", ts);
	static const char *const strings[] = {"network", "check", "interval", "timeout", "algorithm", "drain", NULL};
	for (int i = 0; strings[i]; i++)
		if (args_value(a, strings[i]))
			json_object_set_new(body, strings[i], json_string(args_value(a, strings[i])));
	add_count(ctx, body, a, "rise");
	add_count(ctx, body, a, "fall");
	if (args_has(a, "host-port"))
		json_object_set_new(body, "host_port", json_true());
	json_t *lb = cli_send(ctx, "POST", "/v1/lbs", body);
	if (!lb)
		return CLI_EXIT_FAILED;
	if (args_has(a, "json")) {
		cli_print_json(ctx, lb);
	} else {
		autofree char *l = listeners_text(lb);
		fprintf(ctx->out, "Created load balancer %s at %s (port %s) on network %s, %zu target%s\n",
			cli_jstr(lb, "name"), cli_jstr(lb, "vip"), l, cli_jstr(lb, "network"),
			json_array_size(json_object_get(lb, "targets")),
			json_array_size(json_object_get(lb, "targets")) == 1 ? "" : "s");
	}
	json_decref(lb);
	return CLI_EXIT_OK;
}

static int lb_set(struct cli_ctx *ctx, const struct args *a)
{
	const char *drain = args_value(a, "drain");
	if (!drain) {
		fprintf(ctx->err, "nubo: lb set needs --drain D, e.g. --drain 10s (0: cut at once)\n");
		return CLI_EXIT_USAGE;
	}
	autofree char *path = client_path("/v1/lbs/%s", a->pos[0]);
	json_t *lb = cli_send(ctx, "PATCH", path, json_pack("{s:s}", "drain", drain));
	if (!lb)
		return CLI_EXIT_FAILED;
	if (args_has(a, "json")) {
		cli_print_json(ctx, lb);
	} else {
		char d[24];
		time_duration_format(cli_jint(lb, "drain_ms", 0), d);
		fprintf(ctx->out, "Load balancer %s: a removed target drains for %s\n", cli_jstr(lb, "name"),
			cli_jint(lb, "drain_ms", 0) ? d : "0 s (cut at once)");
	}
	json_decref(lb);
	return CLI_EXIT_OK;
}

/* 204: it had no target and is gone; 202: its connections are cut next,
 * then it is gone (--wait: until then). */
static int lb_delete(struct cli_ctx *ctx, const struct args *a)
{
	autofree char *path = client_path("/v1/lbs/%s", a->pos[0]);
	json_t *r = NULL;
	long status = 0;
	struct err e = {0};
	if (client_json(cli_client(ctx), "DELETE", path, NULL, &r, &status, &e) < 0)
		return cli_fail(ctx, CLI_EXIT_FAILED, &e);
	json_decref(r);
	if (status == 204) {
		fprintf(ctx->out, "Deleted load balancer %s\n", a->pos[0]);
		return CLI_EXIT_OK;
	}
	fprintf(ctx->out, "Deleting load balancer %s: no new connection from now; its open ones are cut, then it is gone\n",
		a->pos[0]);
	if (!args_has(a, "wait"))
		return CLI_EXIT_OK;
	int rc = cli_wait_gone(ctx, path);
	if (rc)
		return rc;
	fprintf(ctx->out, "Deleted load balancer %s\n", a->pos[0]);
	return CLI_EXIT_OK;
}

static int lb_target(struct cli_ctx *ctx, const struct args *a)
{
	const char *sub = a->pos[0];
	if (a->npos == 3 && strcmp(sub, "add") == 0) {
		autofree char *path = client_path("/v1/lbs/%s/targets", a->pos[1]);
		json_t *r = cli_send(ctx, "POST", path, json_pack("{s:s}", "target", a->pos[2]));
		if (!r)
			return CLI_EXIT_FAILED;
		fprintf(ctx->out, "Added target %s to load balancer %s\n", a->pos[2], a->pos[1]);
		json_decref(r);
		return CLI_EXIT_OK;
	}
	if (a->npos == 3 && strcmp(sub, "remove") == 0) {
		autofree char *lb = client_path("%s", a->pos[1]);
		autofree char *tg = client_path("%s", a->pos[2]);
		autofree char *path = xasprintf("/v1/lbs/%s/targets/%s", lb, tg);
		json_t *r = cli_send(ctx, "DELETE", path, NULL);
		if (!r)
			return CLI_EXIT_FAILED;
		fprintf(ctx->out, "Removed target %s from load balancer %s (no new connections; open ones drain)\n",
			a->pos[2], a->pos[1]);
		json_decref(r);
		return CLI_EXIT_OK;
	}
	fprintf(ctx->err, "nubo: usage: nubo lb target add LB VM[:PORT]\n"
			  "               nubo lb target remove LB VM[:PORT]\n");
	return CLI_EXIT_USAGE;
}

static const struct cli_verb lb_verbs[] = {
	{"create",
	 "NAME --listen PORT[:TARGET_PORT]... [--network N] [--host-port] --targets VM[:PORT],... "
	 "[--check tcp|http:/PATH] [--interval D --timeout D --rise N --fall N] [--algorithm round-robin|source-hash] "
	 "[--drain D]",
	 "Create a load balancer on a virtual address of a network",
	 "The address is taken from the network's subnet; the network's VMs and the\n"
	 "host reach it. New connections go to healthy targets only (all of them when\n"
	 "none is healthy). A target's firewalls still apply: allow the port from the\n"
	 "clients (and from the network's gateway, where the checks come from).\n"
	 "With --host-port each listener's port is also a port of the host, reached\n"
	 "from outside like a port forward. A removed target drains: no new\n"
	 "connections, and its open ones are cut after --drain (default 30s).\n"
	 "  nubo lb create web --listen 80 --targets web1,web2,web3 --check http:/\n"
	 "  nubo lb create www --listen 8080:80 --host-port --targets web1,web2 --drain 10s\n",
	 create_flags, 1, 1, false, lb_create},
	{"list", "[--json]", "List load balancers", NULL, cli_json_flags, 0, 0, false, lb_list},
	{"show", "NAME [--json]", "Show a load balancer and its targets' health", NULL, cli_json_flags, 1, 1, false,
	 lb_show},
	{"set", "NAME --drain D", "Change a load balancer's drain time",
	 "  nubo lb set web --drain 0      # a removed target's connections are cut at once\n", set_flags, 1, 1, false,
	 lb_set},
	{"delete", "NAME [--wait]", "Delete a load balancer and cut the connections made through it",
	 "It takes no new connection at once; the open ones are cut on every host\n"
	 "(as a drain with no drain time), then it is gone and its name and address\n"
	 "are free.\n",
	 delete_flags, 1, 1, false, lb_delete},
	{"target", "add|remove LB VM[:PORT]", "Add or remove a target",
	 "  nubo lb target add web web4\n"
	 "  nubo lb target remove web web2:8080\n",
	 NULL, 3, 3, false, lb_target},
	{NULL, NULL, NULL, NULL, NULL, 0, 0, false, NULL},
};

const struct cli_noun lb_noun = {"lb", "Load balancers: one address, many VMs.", lb_verbs, false};
