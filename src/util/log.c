/*
 * log: timestamped lines on stderr, one write per line so threads never interleave.
 *
 * When stderr is the journal (systemd sets JOURNAL_STREAM to its device and
 * inode), a line starts with its syslog priority instead ("<3>" for an
 * error, as sd-daemon.h spells it): the journal stores the priority, so
 * `journalctl -u nubod -p warning` finds the warnings, and it stamps the
 * time itself, so ours is left out.
 */
#include "util/log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static enum log_level min_level = LOG_INFO;

void log_set_level(enum log_level level)
{
	min_level = level;
}

/* Checked on every line, not once: a test (or a re-exec) may point stderr
 * elsewhere, and one fstat is cheap beside the write that follows. */
bool log_to_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const char *names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
	static const int syslog_priority[] = {7, 6, 4, 3};   /* LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR */
	if (level < min_level)
		return;
	char line[2048];
	int n;
	if (log_to_journal()) {
		n = snprintf(line, sizeof(line), "<%d>", syslog_priority[level]);
	} else {
		struct timeval tv;
		gettimeofday(&tv, NULL);
		struct tm tm;
		gmtime_r(&tv.tv_sec, &tm);
		n = (int)strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
		n += snprintf(line + n, sizeof(line) - (size_t)n, ".%03dZ %-5s ", (int)(tv.tv_usec / 1000),
			      names[level]);
	}
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	n += m;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, (size_t)n);
	(void)w;
}
