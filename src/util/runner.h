/*
 * runner: the single place where nubo runs another program.
 *
 * Every host command (qemu-img, ip, nft, dnsmasq, qemu-system-x86_64 with
 * -daemonize, ...) goes through runner_run(). In dry-run mode nothing is
 * executed: each command line is appended to a capture buffer instead, so
 * unit and API tests can compare what nubo *would* do with expected text.
 */
#pragma once

#include <stdbool.h>

#include "util/err.h"

struct run_result {
	int status;    /* exit code, or 128+signal; 0 in dry-run */
	char *out;     /* captured stdout (NUL-terminated, never NULL after a run); caller frees */
	char *errout;  /* captured stderr, same */
};

struct run_opts {
	const char *input;   /* data written to the child's stdin, or NULL for /dev/null */
	int timeout_ms;      /* 0: 120 s */
	bool dry_ok;         /* in dry-run, still run it (read-only probes such as `ip -j route`) */
	/* Files the child writes its own pid into just before exec, in order: the
	 * cgroup.procs files of the cgroups it must run in from its first
	 * instruction. A write that fails ends the child (exit 126, the reason on
	 * its stderr). NULL: none. */
	const char *const *join_files;
	/* runner_spawn only: stdout and stderr are appended to this file (created
	 * 0600); NULL: /dev/null. */
	const char *output_file;
	/* runner_run only: called with each line of the child's stdout (without
	 * its newline) as soon as the line is complete, on the caller's thread,
	 * so that a long job can report where it is while it runs. The output
	 * is still captured in r->out. NULL: none. */
	void (*on_line)(void *arg, const char *line);
	void *line_arg;
};

/* Runs argv[0] (searched in PATH) and waits for it. Returns 0 if it ran and
 * exited 0; otherwise a negative code with e naming the command and quoting
 * the first line of its stderr. r may be NULL; if given, the caller frees it
 * with run_result_free() whatever the outcome. */
int runner_run(const char *const argv[], const struct run_opts *opts, struct run_result *r, struct err *e);
void run_result_free(struct run_result *r);

/* Starts argv[0] detached and does not wait for it: the program runs in its
 * own session, reparented away from nubod (it outlives nubod), with stdin on
 * /dev/null and its output in opts->output_file. *pid is its pid. Fails, with
 * nothing left running, when it cannot be executed or cannot join
 * opts->join_files. Dry-run: captured like runner_run, *pid = 0. */
int runner_spawn(const char *const argv[], const struct run_opts *opts, int *pid, struct err *e);

/* Dry-run: after runner_set_dry_run(true) commands are captured, not run. */
void runner_set_dry_run(bool on);
bool runner_dry_run(void);
/* Returns the captured command lines so far ("argv joined by spaces\n" each,
 * stdin appended as "<<<input>>>\n" when given) and clears them; caller frees. */
char *runner_take_capture(void);
/* From now on the capture goes to the file at path (appended, one write per
 * command) instead of the buffer; NULL: back to the buffer. For nubod
 * --dry-run, so tests can read what it would have done. */
void runner_set_capture_log(const char *path);
/* Dry-run: appends one line to the capture for a host effect that is not a
 * command (a QMP command, a /proc write, a signal), so tests see it in order
 * with the commands. Does nothing outside dry-run. */
void runner_capture_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Shell-quotes argv into one line (for logs and captures); caller frees. */
char *runner_format_argv(const char *const argv[]);
