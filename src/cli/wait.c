/*
 * wait: following an operation and showing its phases (see wait.h).
 *
 * Each request long-polls: nubod holds it until the operation's revision
 * moves past the one we have (or WAIT_HOLD_S pass), so a phase is printed
 * the moment nubod records it, with one request per change. A nubod that
 * answers at once anyway (one that does not know wait=) is asked again only
 * after WAIT_POLL_MS, as a poll.
 *
 * The idea: the operation is the truth and lives in nubod; the CLI only
 * watches it. So Ctrl-C merely stops watching (the action goes on and the
 * user is told how to resume watching), and a nubod restart while waiting
 * is ridden out by retrying for a while instead of failing.
 */
#include "cli/wait.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "cli/format.h"
#include "util/str.h"
#include "util/timeutil.h"

/* How long nubod may be unreachable (restarting) before waiting gives up. */
#define WAIT_UNREACHABLE_MS 30000
/* How long nubod may hold one request (the API allows up to 60 s). */
#define WAIT_HOLD_S 30

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

static const struct {
	const char *kind;
	const char *phases[5];
} kind_phases[] = {
	{"create", {"scheduled", "disk", "boot", "ssh-ready", NULL}},
	{"start", {"scheduled", "disk", "boot", "ssh-ready", NULL}},
	{"stop", {"powerdown", "stopped", NULL}},
	{"reboot", {"powerdown", "stopped", "boot", "ssh-ready", NULL}},
	{"delete", {"stopped", "cleaned", NULL}},
	/* image-build: the recipe's own steps come first (ctl/images.c), so
	 * which phase is next is not known here. */
};

const char *wait_next_phase(const char *kind, size_t done)
{
	for (size_t i = 0; kind && i < sizeof(kind_phases) / sizeof(kind_phases[0]); i++) {
		if (strcmp(kind_phases[i].kind, kind) != 0)
			continue;
		for (size_t p = 0; p < 5 && kind_phases[i].phases[p]; p++)
			if (p == done)
				return kind_phases[i].phases[p];
		return NULL;
	}
	return NULL;
}

char *wait_phase_line(const char *name, int64_t at_ms)
{
	/* A long name (a recipe's "kernel: 812/2400 files") still gets a blank
	 * before its time. */
	if (strlen(name) >= 10)
		return xasprintf("  %s %6.2fs", name, (double)at_ms / 1000.0);
	return xasprintf("  %-10s%6.2fs", name, (double)at_ms / 1000.0);
}

int64_t wait_op_elapsed_ms(const json_t *op)
{
	const json_t *phases = json_object_get(op, "phases");
	size_t n = json_array_size(phases);
	if (n > 0)
		return cli_jint(json_array_get(phases, n - 1), "at_ms", -1);
	int64_t a, b;
	if (fmt_parse_rfc3339(cli_jstr(op, "created_at"), &a) &&
	    fmt_parse_rfc3339(cli_jstr(op, "finished_at"), &b))
		return b - a;
	return -1;
}

struct watch {
	struct cli_ctx *ctx;
	const char *kind;
	size_t printed;      /* phases printed so far */
	bool live_shown;     /* the live line is on screen */
	int64_t start_mono;
	int64_t offset_ms;   /* the operation's age when we started watching */
	char *said;          /* the running operation's error last printed ("retrying: …") */
};

static void live_clear(struct watch *w)
{
	if (w->live_shown) {
		fputs("\r\033[K", w->ctx->out);
		w->live_shown = false;
	}
}

static void live_draw(struct watch *w, const char *note)
{
	if (!w->ctx->tty)
		return;
	const char *next = wait_next_phase(w->kind, w->printed);
	int64_t elapsed = time_mono_ms() - w->start_mono + w->offset_ms;
	autofree char *line = wait_phase_line(next ? next : "...", elapsed);
	fprintf(w->ctx->out, "\r\033[K%s ...%s%s", line, note ? " " : "", note ? note : "");
	fflush(w->ctx->out);
	w->live_shown = true;
}

/* "[#########...........] 45%  120M of 264M" for an operation with byte progress; caller frees. */
char *wait_progress_note(const json_t *op)
{
	const json_t *p = json_object_get(op, "progress");
	if (!json_is_object(p))
		return NULL;
	int64_t done = cli_jint(p, "done_bytes", 0), total = cli_jint(p, "total_bytes", 0);
	autofree char *d = fmt_bytes(done);
	if (total <= 0)
		return xasprintf("%s", d);
	autofree char *t = fmt_bytes(total);
	int pct = (int)(done * 100 / total), filled = pct / 5;
	char bar[21];
	for (int i = 0; i < 20; i++)
		bar[i] = i < filled ? '#' : '.';
	bar[20] = '\0';
	return xasprintf("[%s] %3d%%  %s of %s", bar, pct, d, t);
}

static void print_new_phases(struct watch *w, const json_t *op)
{
	const json_t *phases = json_object_get(op, "phases");
	for (size_t i = w->printed; i < json_array_size(phases); i++) {
		const json_t *p = json_array_get(phases, i);
		autofree char *line = wait_phase_line(cli_jstr(p, "name") ? cli_jstr(p, "name") : "?",
						     cli_jint(p, "at_ms", 0));
		live_clear(w);
		fprintf(w->ctx->out, "%s\n", line);
		w->printed = i + 1;
	}
	fflush(w->ctx->out);
}

/* A running operation with an error is retrying a step: say why, once per reason. */
static void print_retrying(struct watch *w, const json_t *op)
{
	const char *error = cli_jstr(op, "error");
	if (!error || (w->said && strcmp(w->said, error) == 0))
		return;
	live_clear(w);
	fprintf(w->ctx->out, "  %s\n", error);
	fflush(w->ctx->out);
	free(w->said);
	w->said = xstrdup(error);
}

static int op_failed(struct watch *w, const json_t *op)
{
	live_clear(w);
	fflush(w->ctx->out);
	const char *msg = cli_jstr(op, "error");
	const char *kind = cli_jstr(op, "kind");
	const char *target = cli_jstr(op, "target_name") ? cli_jstr(op, "target_name") : cli_jstr(op, "target");
	return cli_failf(w->ctx, CLI_EXIT_FAILED, "%s%s%s failed: %s", kind ? kind : "operation",
			 target ? " " : "", target ? target : "", msg ? msg : "no reason given");
}

/* While a request is held: keep the live line's clock going, and drop the
 * request on Ctrl-C. */
struct tick_ctx {
	struct watch *w;
	const char *note;
	int64_t deadline;   /* time_mono_ms() when --wait-timeout runs out; 0: none */
};

static bool timed_out(const struct tick_ctx *t)
{
	return t->deadline && time_mono_ms() >= t->deadline;
}

static bool on_tick(void *arg)
{
	struct tick_ctx *t = arg;
	if (interrupted || timed_out(t))
		return false;
	live_draw(t->w, t->note);
	return true;
}

char *wait_poll_path(const char *path, const json_t *op)
{
	const char *rev = cli_jstr(op, "revision");
	if (!rev)   /* a nubod that gives no revision does not hold requests either */
		return xstrdup(path);
	autofree char *enc = client_escape(rev);
	return xasprintf("%s?wait=%d&after=%s", path, WAIT_HOLD_S, enc);
}

int wait_operation(struct cli_ctx *ctx, const json_t *op0, int64_t *elapsed_ms)
{
	const char *id = cli_jstr(op0, "id");
	if (!id)
		return cli_failf(ctx, CLI_EXIT_FAILED, "nubod's answer has no operation id to follow");
	struct watch w = {.ctx = ctx, .kind = cli_jstr(op0, "kind"), .start_mono = time_mono_ms()};
	/* Start the live clock at the operation's age; on one machine (the unix
	 * socket) both clocks agree. A remote clock that looks skewed is ignored. */
	int64_t created;
	if (fmt_parse_rfc3339(cli_jstr(op0, "created_at"), &created)) {
		int64_t age = time_now_ms() - created;
		if (age >= 0 && age < 600000)
			w.offset_ms = age;
	}
	autofree char *path = client_path("/v1/operations/%s", id);
	autofree char *op_id = xstrdup(id);
	json_t *op = json_incref((json_t *)op0);
	int64_t unreachable_since = -1;
	int64_t deadline = ctx->wait_timeout_ms ? w.start_mono + ctx->wait_timeout_ms : 0;
	bool again = false;   /* the last answer brought nothing new: pause before asking again */
	int rc;

	interrupted = 0;
	struct sigaction sa = {.sa_handler = on_sigint}, old_int;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);

	for (;;) {
		print_new_phases(&w, op);
		const char *state = cli_jstr(op, "state");
		if (state && strcmp(state, "succeeded") == 0) {
			live_clear(&w);
			if (elapsed_ms)
				*elapsed_ms = wait_op_elapsed_ms(op);
			rc = CLI_EXIT_OK;
			break;
		}
		if (state && strcmp(state, "failed") == 0) {
			rc = op_failed(&w, op);
			break;
		}
		print_retrying(&w, op);
		autofree char *progress = wait_progress_note(op);
		struct tick_ctx tick = {&w, unreachable_since >= 0 ? "(nubod unreachable, retrying)" : progress, deadline};
		live_draw(&w, tick.note);
		if (again)
			time_sleep_ms(WAIT_POLL_MS);
		json_t *next = NULL;
		struct err e = {0};
		int r = CLIENT_EABORTED;
		if (timed_out(&tick)) {
			live_clear(&w);
			fflush(ctx->out);
			autofree char *d = fmt_duration_ms(ctx->wait_timeout_ms);
			rc = cli_failf(ctx, CLI_EXIT_TIMEOUT,
				       "%s is still %s after %s (--wait-timeout); it goes on in nubod. Follow it with: "
				       "nubo operation wait %s",
				       op_id, state ? state : "running", d, op_id);
			break;
		}
		if (!interrupted) {
			autofree char *poll = wait_poll_path(path, op);
			r = client_json_ticking(cli_client(ctx), poll, &next, WAIT_POLL_MS, on_tick, &tick, &e);
		}
		if (r == CLIENT_EABORTED && !interrupted) {   /* the deadline, seen by on_tick */
			json_decref(next);
			continue;
		}
		if (r == CLIENT_EABORTED || interrupted) {
			json_decref(next);
			live_clear(&w);
			fflush(ctx->out);
			rc = cli_failf(ctx, CLI_EXIT_INTERRUPTED,
				       "stopped waiting; %s goes on in nubod. Follow it with: nubo operation wait %s",
				       op_id, op_id);
			break;
		}
		if (r == CLIENT_EUNREACHABLE) {
			if (unreachable_since < 0)
				unreachable_since = time_mono_ms();
			again = true;
			if (time_mono_ms() - unreachable_since < WAIT_UNREACHABLE_MS)
				continue;
		}
		if (r < 0) {
			live_clear(&w);
			fflush(ctx->out);
			rc = cli_failf(ctx, CLI_EXIT_FAILED, "while following %s: %s", op_id, e.msg);
			break;
		}
		unreachable_since = -1;
		again = json_equal(op, next);
		json_decref(op);
		op = next;
	}
	sigaction(SIGINT, &old_int, NULL);
	json_decref(op);
	free(w.said);
	return rc;
}

int wait_or_report(struct cli_ctx *ctx, const json_t *op, bool follow, const char *doing,
		   bool *done, int64_t *elapsed_ms)
{
	*done = false;
	if (follow) {
		int rc = wait_operation(ctx, op, elapsed_ms);
		*done = rc == CLI_EXIT_OK;
		return rc;
	}
	const char *id = cli_jstr(op, "id");
	fprintf(ctx->out, "%s: operation %s\nFollow it with: nubo operation wait %s\n", doing, id ? id : "?",
		id ? id : "?");
	return CLI_EXIT_OK;
}

void wait_print_phases(FILE *out, const char *title, const json_t *phases)
{
	if (json_array_size(phases) == 0)
		return;
	fprintf(out, "%s:\n", title);
	size_t i;
	const json_t *p;
	json_array_foreach(phases, i, p) {
		const char *name = json_string_value(json_object_get(p, "name"));
		char *line = wait_phase_line(name ? name : "?", json_integer_value(json_object_get(p, "at_ms")));
		fprintf(out, "%s\n", line);
		free(line);
	}
}
