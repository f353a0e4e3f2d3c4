/*
 * stackrun: a stack's apply steps, several at once (see stackrun.h).
 *
 * One thread and no blocking wait: each step under way is a small state
 * machine (ask nubod for the step's next move, or look at the operation the
 * last move started), and every round gives each one a turn, then starts
 * what became ready. The work itself runs in nubod (an operation per VM or
 * volume), so the steps under way overlap there while this loop only asks
 * and prints. Every line names its resource, so interleaved progress stays
 * readable in a pipe; on a terminal a live line at the bottom shows what is
 * under way and for how long.
 */
#include "cli/stackrun.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "cli/format.h"
#include "cli/wait.h"
#include "util/str.h"
#include "util/timeutil.h"

/* How long a resource may keep answering "not yet" (a delete under way) without an operation to follow. */
#define STEP_PATIENCE_MS (600 * 1000)
/* The pause before asking again about a resource that is not ready yet. */
#define STEP_RETRY_MS 200
/* How long nubod may be unreachable (restarting) before a step gives up. */
#define UNREACHABLE_MS 30000

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

struct run {
	int step;
	json_t *op;             /* the operation being followed, or NULL */
	bool done_after_op;     /* nubod said the step is done once op ends */
	bool said;              /* some move was made */
	size_t phases;          /* phases of op printed */
	int64_t started, next, unreachable_since;
	int64_t op_since;       /* when following op began, for --wait-timeout */
	char *error;            /* why it failed */
};

struct runner {
	struct cli_ctx *ctx;
	struct stackgraph *g;
	const struct stackrun_ops *ops;
	struct run *runs;       /* under way */
	int n_runs;
	bool live_shown;
	int timeouts;           /* steps given up on by --wait-timeout */
	char **errors;          /* by step: why it failed, or NULL */
};

static const char *res_of(const struct runner *r, int step)
{
	return r->g->steps[step].resource;
}

static void live_clear(struct runner *r)
{
	if (r->live_shown) {
		fputs("\r\033[K", r->ctx->out);
		r->live_shown = false;
	}
}

/* One line of a resource's progress: "  SIGN RESOURCE: text". */
static void __attribute__((format(printf, 4, 5))) say(struct runner *r, int step, char sign, const char *fmt, ...)
{
	char text[1200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	live_clear(r);
	fprintf(r->ctx->out, "  %c %s: %s\n", sign, res_of(r, step), text);
	fflush(r->ctx->out);
}

/* On a terminal: "  … under way: vm/db (boot 1.2s), vm/web (0.4s)". */
static void live_draw(struct runner *r)
{
	if (!r->ctx->tty || r->n_runs == 0)
		return;
	struct sbuf b = {0};
	int64_t now = time_mono_ms();
	for (int i = 0; i < r->n_runs; i++) {
		const struct run *u = &r->runs[i];
		const char *kind = u->op ? cli_jstr(u->op, "kind") : NULL;
		const char *next = kind ? wait_next_phase(kind, u->phases) : NULL;
		sbuf_addf(&b, "%s%s (%s%s%.1fs)", i ? ", " : "", res_of(r, u->step), next ? next : "",
			  next ? " " : "", (double)(now - u->started) / 1000.0);
	}
	autofree char *line = sbuf_take(&b);
	/* one terminal line, or \r cannot take it back: cut to the width */
	struct winsize ws;
	int width = ioctl(fileno(r->ctx->out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20 ? ws.ws_col : 80;
	int room = width - 16;   /* what "  … under way: " and a final "…" leave */
	autofree char *shown = (int)strlen(line) > room ? xasprintf("%.*s…", room, line) : xstrdup(line);
	fprintf(r->ctx->out, "\r\033[K  … under way: %s", shown);
	fflush(r->ctx->out);
	r->live_shown = true;
}

static void finish(struct runner *r, struct run *u, bool ok, char *error)
{
	struct stackgraph_step *s = &r->g->steps[u->step];
	s->state = ok ? STACKGRAPH_DONE : STACKGRAPH_FAILED;
	if (ok && u->said)
		say(r, u->step, '=', "%s in %.2fs", s->del ? "gone" : "done", (double)(time_mono_ms() - u->started) / 1000.0);
	else if (ok)
		say(r, u->step, '=', "%s", s->del ? "gone already" : "already as the file says");
	else {
		say(r, u->step, '!', "%sfailed: %s", s->del ? "delete " : "", error);
		r->errors[u->step] = error;
		error = NULL;
	}
	free(error);
	json_decref(u->op);
	u->op = NULL;
	u->step = -1;
}

static void print_phases(struct runner *r, struct run *u)
{
	const json_t *phases = json_object_get(u->op, "phases");
	for (; u->phases < json_array_size(phases); u->phases++) {
		const json_t *p = json_array_get(phases, u->phases);
		say(r, u->step, ' ', "%s %.2fs", cli_jstr(p, "name") ? cli_jstr(p, "name") : "?",
		    (double)cli_jint(p, "at_ms", 0) / 1000.0);
	}
}

/* Looks at the operation u follows; true when something moved. */
static bool tick_op(struct runner *r, struct run *u)
{
	autofree char *path = client_path("/v1/operations/%s", cli_jstr(u->op, "id"));
	json_t *op = NULL;
	struct err e = {0};
	int rc = client_json(cli_client(r->ctx), "GET", path, NULL, &op, NULL, &e);
	int64_t now = time_mono_ms();
	if (rc == CLIENT_EUNREACHABLE && (u->unreachable_since < 0 || now - u->unreachable_since < UNREACHABLE_MS)) {
		if (u->unreachable_since < 0)
			u->unreachable_since = now;
		u->next = now + STEP_RETRY_MS;
		return false;
	}
	if (rc < 0) {
		finish(r, u, false, xasprintf("while following %s: %s", cli_jstr(u->op, "id"), e.msg));
		return true;
	}
	u->unreachable_since = -1;
	bool moved = !json_equal(op, u->op);
	json_decref(u->op);
	u->op = op;
	print_phases(r, u);
	const char *state = cli_jstr(op, "state");
	if (state && strcmp(state, "failed") == 0) {
		const char *why = cli_jstr(op, "error");
		finish(r, u, false, xasprintf("%s %s failed: %s", cli_jstr(op, "kind") ? cli_jstr(op, "kind") : "operation",
					     cli_jstr(op, "id"), why ? why : "no reason given"));
		return true;
	}
	if (state && strcmp(state, "succeeded") != 0 && r->ctx->wait_timeout_ms &&
	    now - u->op_since >= r->ctx->wait_timeout_ms) {   /* given up on, as --wait does: it goes on in nubod */
		autofree char *d = fmt_duration_ms(r->ctx->wait_timeout_ms);
		r->timeouts++;
		finish(r, u, false, xasprintf("%s is still %s after %s (--wait-timeout); it goes on in nubod", cli_jstr(op, "id"),
					     state, d));
		return true;
	}
	if (!state || strcmp(state, "succeeded") != 0)
		return moved;
	json_decref(u->op);
	u->op = NULL;
	if (u->done_after_op)
		finish(r, u, true, NULL);
	return true;   /* not done: the next move is asked for at once */
}

/* Asks nubod for the step's next move; true when something moved. */
static bool tick_apply(struct runner *r, struct run *u)
{
	const struct stackgraph_step *s = &r->g->steps[u->step];
	struct err e = {0};
	json_t *a = r->ops->apply(r->ops->arg, s->resource, stackgraph_phase(s), &e);
	if (!a) {
		char msg[sizeof(e.msg) + 256];
		r->ops->explain(r->ops->arg, &e, msg, sizeof(msg));
		finish(r, u, false, xstrdup(msg));
		return true;
	}
	const char *did = cli_jstr(a, "did");
	bool done = json_is_true(json_object_get(a, "done"));
	const json_t *op = json_object_get(a, "operation");
	bool moved = did && *did;
	if (moved) {
		say(r, u->step, s->del ? '-' : '+', "%s", did);
		u->said = true;
	}
	if (op) {
		u->op = json_incref((json_t *)op);
		u->op_since = time_mono_ms();
		u->phases = 0;
		u->done_after_op = done;
		u->next = 0;
	} else if (done) {
		finish(r, u, true, NULL);
		moved = true;
	} else if (time_mono_ms() - u->started > STEP_PATIENCE_MS) {
		finish(r, u, false, xasprintf("still not ready after %d s", STEP_PATIENCE_MS / 1000));
		moved = true;
	} else {   /* more moves: the next at once after one that did something, else after a pause */
		u->next = moved ? 0 : time_mono_ms() + STEP_RETRY_MS;
	}
	json_decref(a);
	return moved;
}

static bool tick(struct runner *r, struct run *u)
{
	if (u->next > time_mono_ms())
		return false;
	return u->op ? tick_op(r, u) : tick_apply(r, u);
}

static void start(struct runner *r, int step)
{
	r->g->steps[step].state = STACKGRAPH_RUNNING;
	r->runs = xrealloc(r->runs, sizeof(*r->runs) * (size_t)(r->n_runs + 1));
	struct run *u = &r->runs[r->n_runs++];
	memset(u, 0, sizeof(*u));
	u->step = step;
	u->started = time_mono_ms();
	u->unreachable_since = -1;
	tick(r, u);
}

/* Drops the runs that finished. */
static void sweep(struct runner *r)
{
	int k = 0;
	for (int i = 0; i < r->n_runs; i++)
		if (r->runs[i].step >= 0)
			r->runs[k++] = r->runs[i];
	r->n_runs = k;
}

/* "vm/db, network/back (delete)" for the steps in state st; caller frees. */
static char *list_of(const struct runner *r, enum stackgraph_state st, bool why_waiting)
{
	struct sbuf b = {0};
	for (int i = 0; i < r->g->n; i++) {
		const struct stackgraph_step *s = &r->g->steps[i];
		if (s->state != st)
			continue;
		sbuf_addf(&b, "%s%s%s", b.len ? ", " : "", s->resource, s->del ? " (delete)" : "");
		int w = why_waiting ? stackgraph_blocker(r->g, i) : -1;
		if (w >= 0)
			sbuf_addf(&b, " (after %s)", res_of(r, w));
	}
	return sbuf_take(&b);
}

static void summary(struct runner *r, const char *verb)
{
	FILE *f = r->ctx->err;
	int failed = stackgraph_count(r->g, STACKGRAPH_FAILED), running = stackgraph_count(r->g, STACKGRAPH_RUNNING);
	if (failed)
		fprintf(f, "nubo: %s stopped: %d step%s failed:\n", verb, failed, failed == 1 ? "" : "s");
	else
		fprintf(f, "nubo: %s stopped on Ctrl-C.\n", verb);
	for (int i = 0; i < r->g->n; i++)
		if (r->errors[i])
			fprintf(f, "  failed:      %s%s: %s\n", res_of(r, i), r->g->steps[i].del ? " (delete)" : "",
				r->errors[i]);
	autofree char *done = list_of(r, STACKGRAPH_DONE, false);
	autofree char *cut = list_of(r, STACKGRAPH_RUNNING, false);
	autofree char *pending = list_of(r, STACKGRAPH_PENDING, true);
	fprintf(f, "  done:        %s\n", *done ? done : "none");
	if (running)
		fprintf(f, "  not waited for (their operations go on in nubod): %s\n", cut);
	fprintf(f, "  not started: %s\n", *pending ? pending : "none");
	fprintf(f, "Every resource is done or untouched: run %s again to continue from there.\n", verb);
}

int stackrun(struct cli_ctx *ctx, struct stackgraph *g, int parallel, const char *verb,
	     const struct stackrun_ops *ops)
{
	struct runner r = {.ctx = ctx, .g = g, .ops = ops};
	r.errors = xcalloc((size_t)g->n + 1, sizeof(char *));
	interrupted = 0;
	struct sigaction sa = {.sa_handler = on_sigint}, old_int;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	fprintf(ctx->out, "\n%d step%s, up to %d at once:\n", g->n, g->n == 1 ? "" : "s", parallel);
	for (;;) {
		int next;
		while (!interrupted && r.n_runs < parallel && (next = stackgraph_ready(g)) >= 0) {
			start(&r, next);
			sweep(&r);
		}
		if (r.n_runs == 0 || interrupted)
			break;
		bool moved = false;
		for (int i = 0; i < r.n_runs; i++)
			moved |= tick(&r, &r.runs[i]);
		sweep(&r);
		if (!moved && r.n_runs > 0) {
			live_draw(&r);
			time_sleep_ms(WAIT_POLL_MS);
		}
	}
	live_clear(&r);
	fflush(ctx->out);
	sigaction(SIGINT, &old_int, NULL);
	int rc = CLI_EXIT_OK;
	if (interrupted || stackgraph_count(g, STACKGRAPH_FAILED) > 0) {
		summary(&r, verb);
		int failed = stackgraph_count(g, STACKGRAPH_FAILED);
		rc = interrupted && !failed ? CLI_EXIT_INTERRUPTED
		   : failed && failed == r.timeouts ? CLI_EXIT_TIMEOUT : CLI_EXIT_FAILED;
	}
	for (int i = 0; i < r.n_runs; i++)
		json_decref(r.runs[i].op);
	for (int i = 0; i < g->n; i++)
		free(r.errors[i]);
	free(r.errors);
	free(r.runs);
	return rc;
}
