/* lb: load balancers' specs, parsing and the health state machine (see lb.h). */
#include "model/lb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/port.h"
#include "model/vm.h"
#include "util/str.h"
#include "util/timeutil.h"

int lb_listener_parse(const char *s, const char *field, struct lb_listener *out, struct err *e)
{
	memset(out, 0, sizeof(*out));
	if (!s || !*s)
		return err_set(e, ERR_INVALID, "%s is empty: write PORT or PORT:TARGET_PORT, e.g. 80 or 443:8443", field);
	const char *colon = strchr(s, ':');
	if (!colon) {
		if (port_parse(s, field, &out->port, e) < 0)
			return -1;
		out->target_port = out->port;
		return 0;
	}
	autofree char *front = xstrndup(s, (size_t)(colon - s));
	if (port_parse(front, field, &out->port, e) < 0 || port_parse(colon + 1, field, &out->target_port, e) < 0) {
		err_prefix(e, "%s \"%s\" is not PORT or PORT:TARGET_PORT", field, s);
		return -1;
	}
	return 0;
}

int lb_target_parse(const char *s, const char *field, char name[NAME_MAX_LEN + 1], uint16_t *port, struct err *e)
{
	*port = 0;
	name[0] = 0;
	if (!s || !*s)
		return err_set(e, ERR_INVALID, "%s is empty: write VM or VM:PORT, e.g. web1 or web1:8080", field);
	const char *colon = strchr(s, ':');
	autofree char *vm = colon ? xstrndup(s, (size_t)(colon - s)) : xstrdup(s);
	if (vm_name_validate(vm, field, e) < 0)
		return -1;
	if (colon && port_parse(colon + 1, field, port, e) < 0) {
		err_prefix(e, "%s \"%s\" is not VM or VM:PORT", field, s);
		return -1;
	}
	snprintf(name, NAME_MAX_LEN + 1, "%s", vm);
	return 0;
}

int lb_check_parse(const char *s, const char *field, struct lb *out, struct err *e)
{
	if (s && strcmp(s, "tcp") == 0) {
		out->check = LB_CHECK_TCP;
		out->check_path[0] = 0;
		return 0;
	}
	if (s && strncmp(s, "http:", 5) == 0) {
		const char *path = s + 5;
		size_t n = strlen(path);
		/* It goes into a request line: printable, no space, no CR/LF. */
		bool clean = n > 0 && path[0] == '/' && n <= LB_PATH_MAX;
		for (size_t i = 0; clean && i < n; i++)
			clean = path[i] > ' ' && path[i] < 0x7f;
		if (!clean)
			return err_set(e, ERR_INVALID,
				       "%s \"%s\": the path must start with / and hold no spaces (at most %d characters)",
				       field, s, LB_PATH_MAX);
		out->check = LB_CHECK_HTTP;
		snprintf(out->check_path, sizeof(out->check_path), "%s", path);
		return 0;
	}
	return err_set(e, ERR_INVALID, "%s \"%s\" is not a health check: write tcp or http:/PATH", field, s ? s : "");
}

int lb_algorithm_parse(const char *s, const char *field, enum lb_algorithm *out, struct err *e)
{
	if (s && strcmp(s, "round-robin") == 0)
		*out = LB_ROUND_ROBIN;
	else if (s && strcmp(s, "source-hash") == 0)
		*out = LB_SOURCE_HASH;
	else
		return err_set(e, ERR_INVALID, "%s \"%s\" is not an algorithm: round-robin or source-hash", field,
			       s ? s : "");
	return 0;
}

int lb_duration_parse(const char *s, const char *field, int *ms, struct err *e)
{
	int64_t v;
	if (time_duration_parse(s, field, 100, 3600000, &v, e) < 0)
		return -1;
	*ms = (int)v;
	return 0;
}

int lb_drain_parse(const char *s, const char *field, int *ms, struct err *e)
{
	int64_t v = 0;
	/* a bare 0 reads as it is meant: no drain */
	if (!(s && strcmp(s, "0") == 0) && time_duration_parse(s, field, 0, LB_DRAIN_MAX_MS, &v, e) < 0)
		return -1;
	*ms = (int)v;
	return 0;
}

void lb_defaults(struct lb *lb)
{
	lb->drain_ms = LB_DRAIN_DEFAULT_MS;
	lb->algorithm = LB_ROUND_ROBIN;
	lb->check = LB_CHECK_TCP;
	lb->interval_ms = 5000;
	lb->timeout_ms = 2000;
	lb->rise = 2;
	lb->fall = 3;
}

int lb_validate(const struct lb *lb, struct err *e)
{
	if (lb->rise < 1 || lb->rise > 10)
		return err_set(e, ERR_INVALID, "rise %d is out of range: 1 to 10 successes", lb->rise);
	if (lb->fall < 1 || lb->fall > 10)
		return err_set(e, ERR_INVALID, "fall %d is out of range: 1 to 10 failures", lb->fall);
	if (lb->timeout_ms >= lb->interval_ms)
		return err_set(e, ERR_INVALID,
			       "timeout %d ms is not shorter than interval %d ms: a check must end before the next",
			       lb->timeout_ms, lb->interval_ms);
	return 0;
}

const char *lb_algorithm_name(enum lb_algorithm a)
{
	return a == LB_SOURCE_HASH ? "source-hash" : "round-robin";
}

static const char *const health_names[] = {"unknown", "healthy", "unhealthy"};

const char *lb_health_name(enum lb_health h)
{
	return (unsigned)h < 3 ? health_names[h] : "unknown";
}

const char *lb_target_state_name(enum lb_target_state s)
{
	return s == LB_DRAINING ? "draining" : "active";
}

int lb_target_state_parse(const char *s, enum lb_target_state *out)
{
	*out = s && strcmp(s, "draining") == 0 ? LB_DRAINING : LB_ACTIVE;
	return s && (strcmp(s, "draining") == 0 || strcmp(s, "active") == 0) ? 0 : -1;
}

int lb_health_parse(const char *s, enum lb_health *out)
{
	for (int i = 0; i < 3; i++)
		if (s && strcmp(s, health_names[i]) == 0) {
			*out = (enum lb_health)i;
			return 0;
		}
	*out = LB_UNKNOWN;
	return -1;
}

enum lb_health lb_health_step(enum lb_health now, struct lb_streak *s, bool ok, int rise, int fall)
{
	if (ok) {
		s->ok++;
		s->failed = 0;
		if (now != LB_HEALTHY && s->ok >= rise)
			return LB_HEALTHY;
	} else {
		s->failed++;
		s->ok = 0;
		if (now != LB_UNHEALTHY && s->failed >= fall)
			return LB_UNHEALTHY;
	}
	return now;
}

void lb_rotation(const struct lb_target *t, int n, bool *in_rotation, bool *fail_open)
{
	int healthy = 0, active = 0;
	for (int i = 0; i < n; i++) {
		active += t[i].state == LB_ACTIVE;
		healthy += in_rotation[i] = t[i].state == LB_ACTIVE && t[i].health == LB_HEALTHY;
	}
	*fail_open = active > 0 && healthy == 0;
	for (int i = 0; *fail_open && i < n; i++)
		in_rotation[i] = t[i].state == LB_ACTIVE;
}

/* The value of the n-th (0-based) "key=" field of line, or "". */
static void ct_field(const char *line, const char *end, const char *key, int n, char *out, size_t sz)
{
	size_t kl = strlen(key);
	out[0] = 0;
	for (const char *p = line; p < end; p++) {
		if ((p == line || p[-1] == ' ') && (size_t)(end - p) > kl && strncmp(p, key, kl) == 0 && n-- == 0) {
			size_t l = strcspn(p + kl, " \n");
			if (l >= sz)
				return;
			memcpy(out, p + kl, l);
			out[l] = 0;
			return;
		}
	}
}

int lb_conntrack_count(const char *table, const char *vip, const char *ip)
{
	int n = 0;
	for (const char *line = table; line && *line;) {
		const char *end = strchr(line, '\n');
		if (!end)
			end = line + strlen(line);
		char dst[64], src[64];
		ct_field(line, end, "dst=", 0, dst, sizeof(dst));
		ct_field(line, end, "src=", 1, src, sizeof(src));
		size_t len = (size_t)(end - line);
		bool closing = memmem(line, len, " TIME_WAIT ", 11) || memmem(line, len, " CLOSE ", 7);
		if (memmem(line, len, " tcp ", 5) && !closing && strcmp(dst, vip) == 0 && strcmp(src, ip) == 0)
			n++;
		line = *end ? end + 1 : end;
	}
	return n;
}

json_t *lb_to_json(const struct lb *lb, const struct lb_listener *ls, int n_ls, const struct lb_target *ts, int n_ts)
{
	json_t *listeners = json_array(), *targets = json_array();
	for (int i = 0; i < n_ls; i++)
		json_array_append_new(listeners,
				      json_pack("{s:i,s:i}", "port", ls[i].port, "target_port", ls[i].target_port));
	for (int i = 0; i < n_ts; i++) {
		char since[32] = "";
		if (ts[i].health_since)
			time_format_rfc3339(ts[i].health_since, since);
		json_t *t = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "id", ts[i].id, "vm", ts[i].vm_name, "vm_id",
				      ts[i].vm_id, "health", lb_health_name(ts[i].health), "health_since", since,
				      "reason", ts[i].reason);
		if (ts[i].port)
			json_object_set_new(t, "port", json_integer(ts[i].port));
		json_object_set_new(t, "state", json_string(lb_target_state_name(ts[i].state)));
		if (ts[i].state == LB_DRAINING) {
			char until[32];
			time_format_rfc3339(ts[i].drain_until, until);
			json_object_set_new(t, "drain_until", json_string(until));
		}
		json_object_set_new(t, "connections", json_integer(ts[i].connections));
		json_array_append_new(targets, t);
	}
	char created[32];
	time_format_rfc3339(lb->created_at, created);
	json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:i,s:i,s:i,s:i,s:b,s:s,s:o,s:o}", "id", lb->id, "name",
			      lb->name, "network", lb->network, "vip", lb->vip, "algorithm",
			      lb_algorithm_name(lb->algorithm), "check", lb->check == LB_CHECK_HTTP ? "http" : "tcp",
			      "interval_ms", lb->interval_ms, "timeout_ms", lb->timeout_ms, "rise", lb->rise, "fall",
			      lb->fall, "failing_open", lb->failing_open, "created_at", created,
			      "listeners", listeners, "targets", targets);
	json_object_set_new(j, "drain_ms", json_integer(lb->drain_ms));
	json_object_set_new(j, "host_port", json_boolean(lb->host_port));
	json_object_set_new(j, "state", json_string(lb->deleted ? "deleting" : "active"));
	if (lb->check == LB_CHECK_HTTP)
		json_object_set_new(j, "check_path", json_string(lb->check_path));
	return j;
}
