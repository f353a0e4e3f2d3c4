/*
 * log: one line per event on stderr, "2026-11-26T16:05:39.123Z LEVEL msg",
 * or "<N>msg" with N the syslog priority when stderr is systemd's journal.
 * nubod logs each operation with its outcome; the CLI does not use this.
 */
#pragma once

#include <stdbool.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_set_level(enum log_level level);
/* Whether stderr is the journal (JOURNAL_STREAM names its device and inode). */
bool log_to_journal(void);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
