/* metrics: samples from readings, durations, series plans and Prometheus text (see metrics.h). */
#include "model/metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/timeutil.h"

const struct metric_def metric_defs[METRIC_N] = {
	[METRIC_CPU] = {"cpu_pct", "cpu_milli", true, "nubo_vm_cpu_seconds_total",
			"CPU time the VM's QEMU used (guest and emulation), from its cgroup"},
	[METRIC_MEM] = {"mem_bytes", "mem_bytes", true, "nubo_vm_memory_bytes",
			"Memory the VM's cgroup holds (guest memory it touched and QEMU's own)"},
	[METRIC_NET_RX] = {"net_rx_bytes", "net_rx_bytes", false, "nubo_vm_network_receive_bytes_total",
			   "Bytes the VM received on its NICs"},
	[METRIC_NET_TX] = {"net_tx_bytes", "net_tx_bytes", false, "nubo_vm_network_transmit_bytes_total",
			   "Bytes the VM sent on its NICs"},
	[METRIC_NET_RX_PACKETS] = {"net_rx_packets", "net_rx_packets", false, "nubo_vm_network_receive_packets_total",
				   "Packets the VM received on its NICs"},
	[METRIC_NET_TX_PACKETS] = {"net_tx_packets", "net_tx_packets", false, "nubo_vm_network_transmit_packets_total",
				   "Packets the VM sent on its NICs"},
	[METRIC_DISK_READ] = {"disk_read_bytes", "disk_read_bytes", false, "nubo_vm_disk_read_bytes_total",
			      "Bytes the VM read from its disks"},
	[METRIC_DISK_WRITE] = {"disk_write_bytes", "disk_write_bytes", false, "nubo_vm_disk_written_bytes_total",
			       "Bytes the VM wrote to its disks"},
	[METRIC_DISK_READ_OPS] = {"disk_read_ops", "disk_read_ops", false, "nubo_vm_disk_reads_total",
				  "Read operations of the VM's disks"},
	[METRIC_DISK_WRITE_OPS] = {"disk_write_ops", "disk_write_ops", false, "nubo_vm_disk_writes_total",
				   "Write operations of the VM's disks"},
};

bool metrics_sample_make(const struct metric_raw *prev, const struct metric_raw *cur, int vcpus, int64_t t,
			 struct metric_sample *out)
{
	out->t = t;
	for (int i = 0; i < METRIC_N; i++)
		out->v[i] = METRIC_NONE;
	int64_t dt = cur->at - prev->at;
	if (!prev->at || prev->pid != cur->pid || dt <= 0)
		return false;
	if (vcpus < 1)
		vcpus = 1;
	for (int i = 0; i < METRIC_N; i++) {
		if (i == METRIC_MEM) {
			out->v[i] = cur->v[i];
			continue;
		}
		if (prev->v[i] < 0 || cur->v[i] < prev->v[i])
			continue;   /* unknown, or a counter that started again */
		out->v[i] = cur->v[i] - prev->v[i];
	}
	if (prev->cpu_epoch != cur->cpu_epoch)
		out->v[METRIC_CPU] = METRIC_NONE;
	else if (out->v[METRIC_CPU] >= 0)
		/* µs over dt ms of vcpus CPUs, in thousandths of a percent */
		out->v[METRIC_CPU] = (int64_t)llround((double)out->v[METRIC_CPU] * 100.0 / ((double)dt * vcpus));
	return true;
}

void metrics_policy_default(struct metrics_policy *p)
{
	p->fine_step = METRICS_FINE_STEP_MS;
	p->fine_keep = METRICS_FINE_KEEP_MS;
	p->coarse_step = METRICS_COARSE_STEP_MS;
	p->coarse_keep = METRICS_COARSE_KEEP_MS;
}

int metrics_policy_validate(const struct metrics_policy *p, const char *where, struct err *e)
{
	char f[24], c[24];
	time_duration_format(p->fine_step, f);
	time_duration_format(p->coarse_step, c);
	if (p->coarse_step % p->fine_step != 0 || p->coarse_step <= p->fine_step)
		return err_set(e, ERR_INVALID, "%s: \"coarse_step\" %s must be a multiple of \"interval\" %s, larger than it",
			       where, c, f);
	if (p->fine_keep < p->coarse_step)
		return err_set(e, ERR_INVALID, "%s: \"keep\" must be at least \"coarse_step\" %s: the coarse points are made "
			       "from the fine ones", where, c);
	if (p->coarse_keep < p->coarse_step)
		return err_set(e, ERR_INVALID, "%s: \"coarse_keep\" must be at least \"coarse_step\" %s", where, c);
	return 0;
}

int metrics_series_plan(const struct metrics_policy *p, int64_t now, int64_t since, int64_t want_step,
			int64_t *step, int64_t *table_step, struct err *e)
{
	bool fine = now - since <= p->fine_keep && (want_step == 0 || want_step < p->coarse_step);
	*table_step = fine ? p->fine_step : p->coarse_step;
	char s[24], t[24];
	time_duration_format(want_step, s);
	time_duration_format(*table_step, t);
	if (want_step && want_step % *table_step != 0)
		return err_set(e, ERR_INVALID, "step \"%s\" must be a multiple of %s, the resolution kept for that window",
			       s, t);
	*step = want_step ? want_step : *table_step;
	return 0;
}

json_t *metrics_sample_json(const struct metric_sample *s)
{
	json_t *o = json_pack("{s:I}", "t", (json_int_t)s->t);
	for (int i = 0; i < METRIC_N; i++) {
		json_t *v;
		if (s->v[i] < 0)
			v = json_null();
		else if (i == METRIC_CPU)
			v = json_real((double)s->v[i] / 1000.0);
		else
			v = json_integer(s->v[i]);
		json_object_set_new(o, metric_defs[i].json, v);
	}
	return o;
}

/* --- Prometheus -------------------------------------------------------------------- */

void prom_family(struct sbuf *b, const char *name, const char *type, const char *help)
{
	sbuf_addf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value: \ " and newline escaped, as the format says. */
static void label_value(struct sbuf *b, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			sbuf_addf(b, "\\%c", *v);
		else if (*v == '\n')
			sbuf_add(b, "\\n");
		else
			sbuf_addn(b, v, 1);
	}
}

void prom_value(struct sbuf *b, const char *name, const char *const *labels, double value)
{
	sbuf_add(b, name);
	for (int i = 0; labels && labels[i]; i += 2) {
		sbuf_addf(b, "%s%s=\"", i == 0 ? "{" : ",", labels[i]);
		label_value(b, labels[i + 1]);
		sbuf_add(b, "\"");
		if (!labels[i + 2])
			sbuf_add(b, "}");
	}
	if (isinf(value))
		sbuf_add(b, value > 0 ? " +Inf\n" : " -Inf\n");
	else if (value == floor(value) && fabs(value) < 1e15)
		sbuf_addf(b, " %.0f\n", value);
	else
		sbuf_addf(b, " %.6g\n", value);
}

/* --- idle stop ------------------------------------------------------------------------ */

bool metrics_sample_idle(const struct idle_policy *p, const struct metric_sample *s, int64_t step_ms)
{
	if (s->v[METRIC_CPU] < 0 || s->v[METRIC_CPU] >= p->cpu_milli)
		return false;
	int64_t limit = p->net_bps * (step_ms > 0 ? step_ms : 1000) / 1000;
	for (int i = METRIC_NET_RX; i <= METRIC_NET_TX; i++)
		if (s->v[i] >= 0 && s->v[i] > limit)
			return false;
	return true;
}

int metrics_percent_parse(const char *field, const char *text, int64_t *milli, struct err *e)
{
	char *end = NULL;
	double v = text && *text ? strtod(text, &end) : -1;
	if (end && *end == '%')
		end++;
	if (!end || *end || !(v >= 0 && v <= 100))
		return err_set(e, ERR_INVALID, "%s \"%.32s\" is not a percentage from 0 to 100: write e.g. 5%% or 2.5", field,
			       text ? text : "");
	*milli = (int64_t)llround(v * 1000.0);
	return 0;
}

int64_t metrics_idle_warn_at(const struct idle_policy *p)
{
	return p->after_ms > 2 * IDLE_WARN_MS ? p->after_ms - IDLE_WARN_MS : p->after_ms / 2;
}

/* --- settings from JSON -------------------------------------------------------------- */

/* A duration field of o, if there: a string like "10s". */
static int duration_field(json_t *o, const char *where, const char *key, int64_t min, int64_t max, int64_t *out,
			  struct err *e)
{
	json_t *v = json_object_get(o, key);
	if (!v)
		return 0;
	autofree char *field = xasprintf("%s\"%s\"", where, key);
	if (!json_is_string(v))
		return err_set(e, ERR_INVALID, "%s must be a duration as text, e.g. \"30s\", \"5m\" or \"1h\"", field);
	return time_duration_parse(json_string_value(v), field, min, max, out, e);
}

/* The keys of o that are not in known: an error naming the first. */
static int unknown_keys(json_t *o, const char *where, const char *const *known, const char *list, struct err *e)
{
	const char *key;
	json_t *v;
	json_object_foreach(o, key, v) {
		bool ok = key[0] == '#';
		for (int i = 0; known[i] && !ok; i++)
			ok = strcmp(key, known[i]) == 0;
		if (!ok)
			return err_set(e, ERR_INVALID, "%sunknown field \"%.64s\"; known: %s", where, key, list);
	}
	return 0;
}

int metrics_policy_from_json(json_t *o, const char *where, struct metrics_policy *p, struct err *e)
{
	static const char *const known[] = {"interval", "keep", "coarse_step", "coarse_keep", NULL};
	autofree char *w = xasprintf("%s: \"metrics\": ", where);
	if (!json_is_object(o))
		return err_set(e, ERR_INVALID, "%s: \"metrics\" must be an object", where);
	if (unknown_keys(o, w, known, "interval, keep, coarse_step, coarse_keep", e) < 0 ||
	    duration_field(o, w, "interval", 1000, 3600000, &p->fine_step, e) < 0 ||
	    duration_field(o, w, "keep", 1000, 366LL * 86400000, &p->fine_keep, e) < 0 ||
	    duration_field(o, w, "coarse_step", 1000, 86400000, &p->coarse_step, e) < 0 ||
	    duration_field(o, w, "coarse_keep", 1000, 3660LL * 86400000, &p->coarse_keep, e) < 0)
		return -1;
	return metrics_policy_validate(p, where, e);
}

int idle_policy_from_json(json_t *o, const char *where, struct idle_policy *p, struct err *e)
{
	static const char *const known[] = {"after", "cpu", "net_bps", NULL};
	if (!json_is_object(o))
		return err_set(e, ERR_INVALID, "%sthe idle stop policy must be an object", where);
	if (unknown_keys(o, where, known, "after, cpu, net_bps", e) < 0)
		return -1;
	json_t *after = json_object_get(o, "after");
	if (json_is_string(after) && (strcmp(json_string_value(after), "off") == 0 || strcmp(json_string_value(after), "0") == 0))
		p->after_ms = 0;
	else if (duration_field(o, where, "after", IDLE_AFTER_MIN_MS, IDLE_AFTER_MAX_MS, &p->after_ms, e) < 0)
		return -1;
	json_t *cpu = json_object_get(o, "cpu");
	if (cpu) {
		autofree char *field = xasprintf("%s\"cpu\"", where);
		autofree char *text = json_is_string(cpu)   ? xstrdup(json_string_value(cpu))
				      : json_is_number(cpu) ? xasprintf("%.6g", json_number_value(cpu))
							    : xstrdup("");
		if (metrics_percent_parse(field, text, &p->cpu_milli, e) < 0)
			return -1;
	}
	json_t *net = json_object_get(o, "net_bps");
	if (net) {
		if (!json_is_integer(net) || json_integer_value(net) < 0 || json_integer_value(net) > (1LL << 40))
			return err_set(e, ERR_INVALID, "%s\"net_bps\" must be a whole number of bytes a second, 0 to 2^40",
				       where);
		p->net_bps = json_integer_value(net);
	}
	return 0;
}

void idle_policy_default(struct idle_policy *p)
{
	p->after_ms = 0;
	p->cpu_milli = IDLE_CPU_DEFAULT_MILLI;
	p->net_bps = IDLE_NET_DEFAULT_BPS;
}

json_t *idle_policy_json(const struct idle_policy *p, const char *source)
{
	char after[24];
	time_duration_format(p->after_ms, after);
	return json_pack("{s:s, s:I, s:f, s:I, s:s}", "after", p->after_ms ? after : "off", "after_ms",
			 (json_int_t)p->after_ms, "cpu", (double)p->cpu_milli / 1000.0, "net_bps", (json_int_t)p->net_bps,
			 "source", source);
}
