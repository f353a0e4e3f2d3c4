/*
 * profile: named remotes in ~/.config/nubo/config.json ($XDG_CONFIG_HOME),
 * so that `nubo --profile prod vm list` reaches prod's nubod without
 * repeating its URL, token and certificate:
 *
 *   {"current": "prod",
 *    "profiles": {"prod": {"url": "https://prod:8443", "token_file": "/home/a/.config/nubo/tokens/prod",
 *                          "cacert": "/home/a/prod.pem"},
 *                 "here": {"socket": "/run/nubo/nubod.sock"}}}
 *
 * A token is never kept in config.json: `nubo profile add --token T` writes
 * it to tokens/NAME (0600). A token file that others may read (any of mode
 * 077) is refused with a sentence saying why and what to run.
 *
 * Which profile a command uses: --profile NAME, else NUBO_PROFILE, else
 * "current". Flags (--socket, --url, --token, --cacert) override a
 * profile's fields; an explicit profile (flag or NUBO_PROFILE) overrides
 * NUBO_URL/NUBO_SOCKET/NUBO_TOKEN/NUBO_CACERT, which override "current".
 */
#pragma once

#include <stdbool.h>

#include "util/err.h"

struct profile {
	char *name;
	char *socket;      /* or NULL */
	char *url;         /* or NULL */
	char *token_file;  /* or NULL */
	char *token;       /* read from token_file by profile_load_token; NULL until then */
	char *cacert;      /* or NULL */
};

void profile_clear(struct profile *p);

/* $XDG_CONFIG_HOME/nubo/config.json (or ~/.config/nubo/config.json). Caller frees. */
char *profile_config_path(void);

/* Finds the profile to use: name (from --profile or NUBO_PROFILE) when not
 * NULL, which must exist; else the file's "current", if any. Returns 1 with
 * *out filled, 0 when no profile applies (no name, no current), or negative
 * with e naming the file, the profile and what to do. Reads the token file. */
int profile_resolve(const char *name, struct profile *out, struct err *e);
