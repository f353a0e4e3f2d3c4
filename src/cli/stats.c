/*
 * stats: `nubo vm stats NAME [--since 1h] [--step 1m]`, a VM's figures now
 * and a sparkline of each over the window (GET /v1/vms/NAME/stats), and
 * `nubo vm set NAME --idle-stop 30m [--idle-cpu 5%] [--idle-net BPS]`, its
 * idle stop policy (PUT /v1/vms/NAME/idle-stop). See docs/metrics.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/format.h"
#include "util/str.h"

/* The eight block characters a sparkline is drawn with, lowest first. */
static const char *const blocks[] = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
/* At most this many points are drawn: the newest. */
#define SPARK_MAX 60

/* One line per figure: how it is named and shown. */
static const struct {
	const char *key;     /* in a sample */
	const char *label;
	bool bytes;          /* shown as bytes (else as a number) */
	bool rate;           /* per interval: shown per second */
} figures[] = {
	{"cpu_pct", "CPU %", false, false},
	{"mem_bytes", "memory", true, false},
	{"net_rx_bytes", "net in/s", true, true},
	{"net_tx_bytes", "net out/s", true, true},
	{"net_rx_packets", "pkts in/s", false, true},
	{"net_tx_packets", "pkts out/s", false, true},
	{"disk_read_bytes", "disk read/s", true, true},
	{"disk_write_bytes", "disk write/s", true, true},
	{"disk_read_ops", "reads/s", false, true},
	{"disk_write_ops", "writes/s", false, true},
};

static char *value_text(double v, bool bytes)
{
	if (bytes)
		return fmt_bytes((int64_t)v);
	return xasprintf(v < 10 && v != (double)(int64_t)v ? "%.2f" : "%.0f", v);
}

/* The sparkline of key over samples (a space where a figure is unknown). */
static void spark(struct sbuf *b, const json_t *samples, const char *key)
{
	size_t n = json_array_size(samples), first = n > SPARK_MAX ? n - SPARK_MAX : 0;
	double lo = 0, hi = 0;
	bool any = false;
	for (size_t i = first; i < n; i++) {
		const json_t *v = json_object_get(json_array_get(samples, i), key);
		if (!json_is_number(v))
			continue;
		double x = json_number_value(v);
		lo = any && lo < x ? lo : x;
		hi = any && hi > x ? hi : x;
		any = true;
	}
	if (lo > 0)
		lo = 0;   /* every figure counts up from 0: a steady 40 % is a tall bar, not a flat low one */
	for (size_t i = first; i < n; i++) {
		const json_t *v = json_object_get(json_array_get(samples, i), key);
		if (!json_is_number(v)) {
			sbuf_add(b, " ");
			continue;
		}
		int k = hi > lo ? (int)((json_number_value(v) - lo) / (hi - lo) * 7.0 + 0.5) : 0;
		sbuf_add(b, blocks[k < 0 ? 0 : k > 7 ? 7 : k]);
	}
}

static void print_stats(struct cli_ctx *ctx, const json_t *j)
{
	const json_t *samples = json_object_get(j, "samples");
	size_t n = json_array_size(samples);
	double step_s = (double)cli_jint(j, "step", 10000) / 1000.0;
	autofree char *step = fmt_duration_ms(cli_jint(j, "step", 10000));
	fprintf(ctx->out, "VM %s: %zu point%s, one every %s\n", cli_or_dash(cli_jstr(j, "vm")), n, n == 1 ? "" : "s",
		step);
	if (n == 0) {
		fprintf(ctx->out, "No samples yet: the VM has not run in this window (it is sampled while it runs).\n");
		return;
	}
	const json_t *last = json_array_get(samples, n - 1);
	for (size_t f = 0; f < sizeof(figures) / sizeof(figures[0]); f++) {
		const json_t *v = json_object_get(last, figures[f].key);
		autofree char *now = NULL;
		if (json_is_number(v))
			now = value_text(json_number_value(v) / (figures[f].rate ? step_s : 1.0), figures[f].bytes);
		struct sbuf b = {0};
		spark(&b, samples, figures[f].key);
		autofree char *line = sbuf_take(&b);
		fprintf(ctx->out, "  %-13s %10s  %s\n", figures[f].label, now ? now : "-", line ? line : "");
	}
}

const struct arg_flag vm_stats_flags[] = {
	{"since", 0, ARG_VALUE, "D|TIME", "from this long ago (30m, 6h, 7d) or this moment (RFC 3339); default 1h"},
	{"step", 0, ARG_VALUE, "D", "one point every D (default: the finest kept for the window)"},
	{"json", 0, ARG_BOOL, NULL, "print the API's JSON"},
	{NULL, 0, 0, NULL, NULL},
};

int vm_stats(struct cli_ctx *ctx, const struct args *a)
{
	autofree char *base = client_path("/v1/vms/%s/stats", a->pos[0]);
	static const char *const params[] = {"since", "step", NULL};
	autofree char *path = cli_path_with_flags(base, a, params);
	return cli_show(ctx, a, path, print_stats);
}

const struct arg_flag vm_set_flags[] = {
	{"idle-stop", 0, ARG_VALUE, "D|off", "stop the VM once it has idled this long (10s to 30d); off: never"},
	{"idle-cpu", 0, ARG_VALUE, "PCT", "idle means below this CPU, percent of its vCPUs (default 5%)"},
	{"idle-net", 0, ARG_VALUE, "BPS", "and below this many bytes a second each way on its network (default 10240)"},
	{"idle-default", 0, ARG_BOOL, NULL, "drop the VM's own policy: nubod.json's \"idle_stop\" applies"},
	{"json", 0, ARG_BOOL, NULL, "print the API's JSON"},
	{NULL, 0, 0, NULL, NULL},
};

int vm_set(struct cli_ctx *ctx, const struct args *a)
{
	autofree char *path = client_path("/v1/vms/%s/idle-stop", a->pos[0]);
	json_t *p = NULL;
	if (args_has(a, "idle-default")) {
		p = cli_send(ctx, "DELETE", path, NULL);
	} else {
		const char *after = args_value(a, "idle-stop"), *cpu = args_value(a, "idle-cpu"),
			   *net = args_value(a, "idle-net");
		if (!after)
			return cli_failf(ctx, CLI_EXIT_USAGE, "vm set: --idle-stop D (or off) is required, or --idle-default");
		json_t *body = json_pack("{s:s}", "after", after);
		if (cpu)
			json_object_set_new(body, "cpu", json_string(cpu));
		if (net) {
			char *end = NULL;
			long long v = strtoll(net, &end, 10);
			if (!*net || *end || v < 0) {
				json_decref(body);
				return cli_failf(ctx, CLI_EXIT_USAGE, "vm set: --idle-net \"%s\" must be a whole number of bytes a second",
						 net);
			}
			json_object_set_new(body, "net_bps", json_integer(v));
		}
		p = cli_send(ctx, "PUT", path, body);
	}
	if (!p)
		return CLI_EXIT_FAILED;
	if (args_has(a, "json"))
		cli_print_json(ctx, p);
	else if (cli_jint(p, "after_ms", 0) == 0)
		fprintf(ctx->out, "VM %s is never idle-stopped (%s policy)\n", a->pos[0], cli_or_dash(cli_jstr(p, "source")));
	else
		fprintf(ctx->out, "VM %s stops after %s below %g%% CPU and %lld B/s network (%s policy)\n", a->pos[0],
			cli_or_dash(cli_jstr(p, "after")), cli_jreal(p, "cpu", 0), (long long)cli_jint(p, "net_bps", 0),
			cli_or_dash(cli_jstr(p, "source")));
	json_decref(p);
	return CLI_EXIT_OK;
}
