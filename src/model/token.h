/*
 * token: an API token, the credential of a client that reaches nubod over
 * TCP. nubod keeps its name and the SHA-256 of its secret (util/secret.h),
 * never the secret itself: the secret is shown once, when it is made.
 * Deleting the row revokes the token.
 */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "model/machine_type.h"
#include "util/ids.h"
#include "util/secret.h"

struct token {
	char id[ID_MAX];                    /* "tok-…" */
	char name[NAME_MAX_LEN + 1];
	char hash[SECRET_HASH_LEN + 1];     /* hex SHA-256 of the secret; never leaves nubod */
	int64_t created_at;                 /* ms since the epoch */
	int64_t last_used_at;               /* ms since the epoch; 0: never used */
};

/* What clients may see of a token: id, name and times; never the hash. */
json_t *token_to_json(const struct token *t);

/* A web console session: a browser that logged in with an API token holds
 * a cookie whose SHA-256 is hash. It lasts until expires_at, until logout,
 * or until its token is revoked, whichever comes first. The CSRF token is
 * what every state-changing request of the session must carry in a header. */
struct session {
	char id[ID_MAX];                    /* "ses-…" */
	char hash[SECRET_HASH_LEN + 1];     /* hex SHA-256 of the cookie's secret */
	char csrf[SECRET_LEN + 1];
	char token_id[ID_MAX];
	int64_t created_at, expires_at;     /* ms since the epoch */
};
