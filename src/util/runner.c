/*
 * runner: fork/exec with stdin, stdout and stderr through pipes, a deadline,
 * and a dry-run capture (see runner.h). poll() drains both output pipes while
 * feeding stdin, so a chatty child never blocks on a full pipe.
 *
 * Between fork and exec nubod's other threads may hold any lock (malloc's,
 * stdio's), so the children below call only async-signal-safe functions.
 */
#include "util/runner.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/log.h"
#include "util/str.h"
#include "util/timeutil.h"

static bool dry_run;
static pthread_mutex_t capture_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sbuf capture;
static FILE *capture_log;

void runner_set_dry_run(bool on)
{
	dry_run = on;
}

bool runner_dry_run(void)
{
	return dry_run;
}

char *runner_take_capture(void)
{
	pthread_mutex_lock(&capture_lock);
	char *s = sbuf_take(&capture);
	pthread_mutex_unlock(&capture_lock);
	return s;
}

void runner_set_capture_log(const char *path)
{
	pthread_mutex_lock(&capture_lock);
	if (capture_log)
		fclose(capture_log);
	capture_log = path ? fopen(path, "ae") : NULL;
	if (capture_log)
		setvbuf(capture_log, NULL, _IOLBF, 0);
	pthread_mutex_unlock(&capture_lock);
}

/* One captured command or note (with its stdin), to the log or the buffer. */
static void capture_add(const char *line, const char *input)
{
	pthread_mutex_lock(&capture_lock);
	if (capture_log) {
		fprintf(capture_log, "%s\n", line);
		if (input)
			fprintf(capture_log, "<<<%s>>>\n", input);
		fflush(capture_log);
	} else {
		sbuf_addf(&capture, "%s\n", line);
		if (input)
			sbuf_addf(&capture, "<<<%s>>>\n", input);
	}
	pthread_mutex_unlock(&capture_lock);
}

void runner_capture_note(const char *fmt, ...)
{
	if (!dry_run)
		return;
	va_list ap;
	va_start(ap, fmt);
	char *line = NULL;
	if (vasprintf(&line, fmt, ap) < 0)
		abort();
	va_end(ap);
	capture_add(line, NULL);
	free(line);
}

static bool needs_quote(const char *s)
{
	if (!*s)
		return true;
	for (; *s; s++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%", *s))
			return true;
	return false;
}

char *runner_format_argv(const char *const argv[])
{
	struct sbuf b = {0};
	for (int i = 0; argv[i]; i++) {
		if (i)
			sbuf_add(&b, " ");
		if (!needs_quote(argv[i])) {
			sbuf_add(&b, argv[i]);
			continue;
		}
		sbuf_add(&b, "'");
		for (const char *p = argv[i]; *p; p++) {
			if (*p == '\'')
				sbuf_add(&b, "'\\''");
			else
				sbuf_addn(&b, p, 1);
		}
		sbuf_add(&b, "'");
	}
	return sbuf_take(&b);
}

void run_result_free(struct run_result *r)
{
	if (!r)
		return;
	free(r->out);
	free(r->errout);
	r->out = r->errout = NULL;
}

static void set_nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* The first line of a child's stderr, for error messages. */
static void first_line(const char *s, char *out, size_t n)
{
	while (*s == '\n' || *s == ' ')
		s++;
	size_t i = 0;
	while (s[i] && s[i] != '\n' && i + 1 < n) {
		out[i] = s[i];
		i++;
	}
	out[i] = '\0';
}

/* Decimal text of n into buf (at least 12 bytes); returns its length. */
static int child_itoa(int n, char *buf)
{
	char tmp[12];
	int t = 0, len = 0;
	do {
		tmp[t++] = (char)('0' + n % 10);
		n /= 10;
	} while (n > 0);
	while (t)
		buf[len++] = tmp[--t];
	return len;
}

static void child_say(const char *s)
{
	ssize_t w = write(2, s, strlen(s));
	(void)w;
}

/* In a forked child: writes its pid into each of files (joining those
 * cgroups). Returns -1, or the index of the file that failed with *err set. */
static int child_join(const char *const *files, int *err)
{
	char buf[12];
	int len = child_itoa((int)getpid(), buf);
	for (int i = 0; files && files[i]; i++) {
		int fd = open(files[i], O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, buf, (size_t)len) != len) {
			*err = errno;
			if (fd >= 0)
				close(fd);
			return i;
		}
		close(fd);
	}
	return -1;
}

/* What the children of runner_spawn tell nubod through the status pipe. */
struct spawn_msg {
	int kind;   /* SPAWN_PID: value is the program's pid; else a step that failed with errno value */
	int value;
	int index;  /* SPAWN_JOIN: which of join_files */
};
enum { SPAWN_PID = 1, SPAWN_SETSID, SPAWN_FORK, SPAWN_OUTPUT, SPAWN_STDIN, SPAWN_JOIN, SPAWN_EXEC };

static void spawn_tell(int fd, int kind, int value, int index)
{
	if (fd < 0)
		return;
	struct spawn_msg m = {kind, value, index};
	ssize_t w = write(fd, &m, sizeof(m));
	(void)w;
}

/* The child side of both runner_run and runner_spawn, after its stdio is set:
 * joins the files, resets signals and executes. Never returns. */
static void child_exec(const char *const argv[], const struct run_opts *opts, int status_fd)
{
	int err = 0;
	int bad = child_join(opts->join_files, &err);
	if (bad >= 0) {
		spawn_tell(status_fd, SPAWN_JOIN, err, bad);
		child_say("cannot move into ");
		child_say(opts->join_files[bad]);
		child_say(": ");
		child_say(strerror(err));
		child_say("\n");
		_exit(126);
	}
	/* Children never inherit nubod's signal mask or dispositions. */
	sigset_t all;
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	signal(SIGPIPE, SIG_DFL);
	execvp(argv[0], (char *const *)argv);
	err = errno;
	spawn_tell(status_fd, SPAWN_EXEC, err, 0);
	child_say("cannot execute ");
	child_say(argv[0]);
	child_say(": ");
	child_say(strerror(err));
	child_say("\n");
	_exit(127);
}

/* Hands each complete line of out after byte `from` to opts->on_line;
 * returns where the next line starts. */
static size_t report_lines(const struct run_opts *opts, const struct sbuf *out, size_t from)
{
	while (from < out->len) {
		const char *nl = memchr(out->data + from, '\n', out->len - from);
		if (!nl)
			break;
		size_t n = (size_t)(nl - (out->data + from));
		char *line = xstrndup(out->data + from, n);
		opts->on_line(opts->line_arg, line);
		free(line);
		from += n + 1;
	}
	return from;
}

int runner_run(const char *const argv[], const struct run_opts *opts, struct run_result *r, struct err *e)
{
	static const struct run_opts none = {0};
	if (!opts)
		opts = &none;
	if (r)
		*r = (struct run_result){0};
	autofree char *line = runner_format_argv(argv);

	if (dry_run && !opts->dry_ok) {
		capture_add(line, opts->input);
		if (r) {
			r->out = xstrdup("");
			r->errout = xstrdup("");
		}
		return 0;
	}
	log_debug("run: %s", line);

	int pin[2], pout[2], perr[2];
	if (pipe2(pin, O_CLOEXEC) < 0)
		return err_set(e, ERR_INTERNAL, "cannot run %s: pipe: %s", argv[0], strerror(errno));
	if (pipe2(pout, O_CLOEXEC) < 0) {
		close(pin[0]);
		close(pin[1]);
		return err_set(e, ERR_INTERNAL, "cannot run %s: pipe: %s", argv[0], strerror(errno));
	}
	if (pipe2(perr, O_CLOEXEC) < 0) {
		close(pin[0]);
		close(pin[1]);
		close(pout[0]);
		close(pout[1]);
		return err_set(e, ERR_INTERNAL, "cannot run %s: pipe: %s", argv[0], strerror(errno));
	}
	pid_t pid = fork();
	if (pid < 0) {
		int saved = errno;
		for (int i = 0; i < 2; i++) {
			close(pin[i]);
			close(pout[i]);
			close(perr[i]);
		}
		return err_set(e, ERR_INTERNAL, "cannot run %s: fork: %s", argv[0], strerror(saved));
	}
	if (pid == 0) {
		dup2(pin[0], 0);
		dup2(pout[1], 1);
		dup2(perr[1], 2);
		/* QEMU and dnsmasq live long: they must hold none of nubod's descriptors
		 * (the API socket, the store), whatever flags those were opened with. */
		close_range(3, ~0U, 0);
		/* A child dies with nubod (an image build must not run on as an
		 * orphan); programs that daemonize (QEMU, dnsmasq) fork, which
		 * clears this, so their daemons live on. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		child_exec(argv, opts, -1);
	}
	close(pin[0]);
	close(pout[1]);
	close(perr[1]);
	set_nonblock(pin[1]);
	set_nonblock(pout[0]);
	set_nonblock(perr[0]);

	const char *in = opts->input;
	size_t in_len = in ? strlen(in) : 0, in_off = 0;
	if (!in) {
		close(pin[1]);
		pin[1] = -1;
	}
	struct sbuf out = {0}, err_buf = {0};
	size_t lines_seen = 0;   /* bytes of out already handed to on_line */
	int64_t deadline = time_mono_ms() + (opts->timeout_ms ? opts->timeout_ms : 120000);
	bool timed_out = false;
	while (pout[0] >= 0 || perr[0] >= 0) {
		struct pollfd fds[3] = {{pout[0], POLLIN, 0}, {perr[0], POLLIN, 0}, {pin[1], POLLOUT, 0}};
		int64_t left = deadline - time_mono_ms();
		if (left <= 0) {
			timed_out = true;
			kill(pid, SIGKILL);
			break;
		}
		int n = poll(fds, 3, (int)(left > 1000 ? 1000 : left));
		if (n < 0 && errno != EINTR)
			break;
		if (n <= 0)
			continue;
		if (pin[1] >= 0 && (fds[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
			ssize_t w = write(pin[1], in + in_off, in_len - in_off);
			if (w > 0)
				in_off += (size_t)w;
			if (w < 0 && errno != EAGAIN) 
				in_off = in_len;
			if (in_off >= in_len) {
				close(pin[1]);
				pin[1] = -1;
			}
		}
		int *rfd[2] = {&pout[0], &perr[0]};
		struct sbuf *rb[2] = {&out, &err_buf};
		for (int i = 0; i < 2; i++) {
			if (*rfd[i] < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			char chunk[8192];
			ssize_t got = read(*rfd[i], chunk, sizeof(chunk));
			if (got > 0) {
				sbuf_addn(rb[i], chunk, (size_t)got);
				if (i == 0 && opts->on_line)
					lines_seen = report_lines(opts, &out, lines_seen);
			} else if (got == 0 || errno != EAGAIN) {
				close(*rfd[i]);
				*rfd[i] = -1;
			}
		}
	}
	if (opts->on_line && lines_seen < out.len) {
		/* A last line without its newline is a line too. */
		sbuf_add(&out, "\n");
		report_lines(opts, &out, lines_seen);
		out.data[--out.len] = '\0';
	}
	if (pin[1] >= 0)
		close(pin[1]);
	if (pout[0] >= 0)
		close(pout[0]);
	if (perr[0] >= 0)
		close(perr[0]);
	int wst = 0;
	while (waitpid(pid, &wst, 0) < 0 && errno == EINTR)
		;
	int status = WIFEXITED(wst) ? WEXITSTATUS(wst) : 128 + WTERMSIG(wst);
	char *o = sbuf_take(&out), *eo = sbuf_take(&err_buf);
	int rc = 0;
	if (timed_out) {
		rc = err_set(e, ERR_INTERNAL, "%s did not finish within %d s", argv[0],
			     (opts->timeout_ms ? opts->timeout_ms : 120000) / 1000);
	} else if (status != 0) {
		char first[512];
		first_line(eo[0] ? eo : o, first, sizeof(first));
		rc = err_set(e, ERR_INTERNAL, "%s failed (exit %d)%s%s", argv[0], status, first[0] ? ": " : "", first);
	}
	if (r) {
		r->status = status;
		r->out = o;
		r->errout = eo;
	} else {
		free(o);
		free(eo);
	}
	return rc;
}

/* The grandchild: the program itself. fd 3 is the status pipe, closed by exec. */
static void spawn_grandchild(const char *const argv[], const struct run_opts *opts)
{
	int in = open("/dev/null", O_RDONLY);
	if (in < 0 || dup2(in, 0) < 0) {
		spawn_tell(3, SPAWN_STDIN, errno, 0);
		_exit(126);
	}
	int out = open(opts->output_file ? opts->output_file : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0600);
	if (out < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0) {
		spawn_tell(3, SPAWN_OUTPUT, errno, 0);
		_exit(126);
	}
	close_range(4, ~0U, 0);
	child_exec(argv, opts, 3);
}

int runner_spawn(const char *const argv[], const struct run_opts *opts, int *pid, struct err *e)
{
	static const struct run_opts none = {0};
	if (!opts)
		opts = &none;
	*pid = 0;
	autofree char *line = runner_format_argv(argv);
	if (dry_run && !opts->dry_ok) {
		capture_add(line, NULL);   /* to the log when there is one, like every other command */
		return 0;
	}
	log_debug("spawn: %s", line);
	int st[2];
	if (pipe2(st, O_CLOEXEC) < 0)
		return err_set(e, ERR_INTERNAL, "cannot run %s: pipe: %s", argv[0], strerror(errno));
	/* Two forks: the middle child starts a session and exits at once, so the
	 * program is nobody's child but init's and outlives nubod. */
	pid_t mid = fork();
	if (mid < 0) {
		int saved = errno;
		close(st[0]);
		close(st[1]);
		return err_set(e, ERR_INTERNAL, "cannot run %s: fork: %s", argv[0], strerror(saved));
	}
	if (mid == 0) {
		if (dup2(st[1], 3) < 0)
			_exit(126);
		fcntl(3, F_SETFD, FD_CLOEXEC);
		if (setsid() < 0) {
			spawn_tell(3, SPAWN_SETSID, errno, 0);
			_exit(126);
		}
		pid_t g = fork();
		if (g < 0) {
			spawn_tell(3, SPAWN_FORK, errno, 0);
			_exit(126);
		}
		if (g == 0)
			spawn_grandchild(argv, opts);
		spawn_tell(3, SPAWN_PID, (int)g, 0);
		_exit(0);
	}
	close(st[1]);
	/* EOF comes once the middle child exited and the program executed (the
	 * pipe is close-on-exec) or failed before that. */
	struct spawn_msg m, failed = {0};
	int got_pid = 0;
	ssize_t n;
	while ((n = read(st[0], &m, sizeof(m))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(m))
			break;
		if (m.kind == SPAWN_PID)
			got_pid = m.value;
		else
			failed = m;
	}
	close(st[0]);
	while (waitpid(mid, NULL, 0) < 0 && errno == EINTR)
		;
	if (failed.kind == SPAWN_JOIN)
		return err_set(e, ERR_INTERNAL, "cannot run %s: cannot move it into %s: %s", argv[0],
			       opts->join_files[failed.index], strerror(failed.value));
	static const char *const steps[] = {[SPAWN_SETSID] = "setsid", [SPAWN_FORK] = "fork",
					    [SPAWN_OUTPUT] = "opening its output file", [SPAWN_STDIN] = "opening /dev/null",
					    [SPAWN_EXEC] = "exec"};
	if (failed.kind > SPAWN_PID && failed.kind <= SPAWN_EXEC)
		return err_set(e, ERR_INTERNAL, "cannot run %s: %s: %s", argv[0], steps[failed.kind],
			       strerror(failed.value));
	if (!got_pid)
		return err_set(e, ERR_INTERNAL, "cannot run %s: its starter exited without a pid", argv[0]);
	*pid = got_pid;
	return 0;
}
