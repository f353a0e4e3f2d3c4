/* probe: whether a guest service answers, seen from the host (the SSH banner). */
#pragma once

#include <stdbool.h>

/* Connects to ip:port and reads the first bytes; true when they start with
 * prefix (e.g. "SSH-") within timeout_ms. In dry-run always true. */
bool probe_banner(const char *ip, int port, const char *prefix, int timeout_ms);
