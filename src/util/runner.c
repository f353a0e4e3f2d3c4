/*
 * runner: fork/exec with stdin, stdout and stderr through pipes, a deadline,
 * and a dry-run capture (see runner.h). poll() drains both output pipes while
 * feeding stdin, so a chatty child never blocks on a full pipe.
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
		/* Children never inherit nubod's signal mask or dispositions. */
		sigset_t all;
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		signal(SIGPIPE, SIG_DFL);
		execvp(argv[0], (char *const *)argv);
		fprintf(stderr, "cannot execute %s: %s\n", argv[0], strerror(errno));
		_exit(127);
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
			} else if (got == 0 || errno != EAGAIN) {
				close(*rfd[i]);
				*rfd[i] = -1;
			}
		}
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
