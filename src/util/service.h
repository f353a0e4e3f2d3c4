/*
 * service: what nubod tells the service manager that started it.
 *
 * Under systemd (Type=notify) nubod says READY=1 once its API answers, so
 * `systemctl start nubod` returns when `nubo` can be used, and STOPPING=1
 * when it begins to stop. Through libsystemd's sd_notify when nubo is built
 * with it (-Dsystemd=enabled; the Debian package always is); built without
 * it these do nothing, which suits a nubod started by hand or by tests.
 */
#pragma once

#include <stdbool.h>

/* Whether this build can talk to systemd (was linked with libsystemd). */
bool service_notify_supported(void);
/* READY=1 with a STATUS line; does nothing outside a Type=notify service. */
void service_notify_ready(const char *status);
/* STOPPING=1. */
void service_notify_stopping(void);
