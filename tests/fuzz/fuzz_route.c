/* fuzz_route: api_route_find on a method and a request target as a client
 * sends them (percent-encoded, maybe with a query). Input: METHOD NUL TARGET.
 * Whatever the target, a found route hands its handler arguments of a-z, 0-9
 * and - only, each at most a name long; a target with %00 before its query
 * is never routed and is a 400; a refusal is 400, 404 or 405 with a UTF-8
 * message; and a target with no % at all is routed on its own bytes. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common.h"
#include "model/machine_type.h"

/* Does target hold "%00" before its query? */
static bool has_encoded_nul(const char *target)
{
	size_t len = strcspn(target, "?");
	for (size_t i = 0; i + 3 <= len; i++)
		if (target[i] == '%' && target[i + 1] == '0' && target[i + 2] == '0')
			return true;
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *parts[2] = {NULL, NULL};
	if (fuzz_split(data, size, parts, 2) != 2) {
		free(parts[0]);
		return -1;
	}
	const char *method = parts[0], *target = parts[1];
	struct api_path p;
	const char *args[API_PATH_ARGS];
	int status = -1;
	struct err e = {0};
	const struct api_route *r = api_route_find(method, target, &p, args, &status, &e);
	if (r) {
		FUZZ_ASSERT(!has_encoded_nul(target), "\"%s\" holds %%00 and was routed to %s", target, r->pattern);
		FUZZ_ASSERT(strcmp(r->method, method) == 0, "%s routed to a %s route", method, r->method);
		int want = 0;
		for (const char *q = r->pattern; (q = strstr(q, "{}")); q += 2)
			want++;
		for (int i = 0; i < API_PATH_ARGS; i++) {
			FUZZ_ASSERT((args[i] != NULL) == (i < want), "argument %d of %s is %s", i, r->pattern,
				    args[i] ? "set" : "missing");
			if (!args[i])
				continue;
			size_t n = strlen(args[i]);
			FUZZ_ASSERT(n >= 1 && n <= NAME_MAX_LEN, "argument \"%s\" of \"%s\" is %zu bytes", args[i], target, n);
			/* a name, or a balancer's target NAME:PORT (digits after one ':') */
			size_t name = strspn(args[i], "abcdefghijklmnopqrstuvwxyz0123456789-");
			FUZZ_ASSERT(name == n || (name >= 1 && args[i][name] == ':' && args[i][name + 1] &&
						  strspn(args[i] + name + 1, "0123456789") == n - name - 1),
				    "argument \"%s\" of \"%s\" has a character no name has", args[i], target);
			/* an argument of a target without escapes is its own segment, as sent */
			if (!memchr(target, '%', strcspn(target, "?")))
				FUZZ_ASSERT(strstr(target, args[i]) != NULL, "argument \"%s\" is not in \"%s\"", args[i], target);
		}
	} else {
		FUZZ_ASSERT(status == 400 || status == 404 || status == 405, "\"%s %s\" answered %d", method, target,
			    status);
		FUZZ_ASSERT(e.msg[0] && fuzz_utf8(e.msg, strlen(e.msg)), "the message for \"%s\" is empty or not UTF-8",
			    target);
		if (has_encoded_nul(target) && target[0] == '/')
			FUZZ_ASSERT(status == 400, "\"%s\" holds %%00 but answered %d", target, status);
	}
	free(parts[0]);
	free(parts[1]);
	return 0;
}
