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
