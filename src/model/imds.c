/* imds: the metadata service's answers, pure (see imds.h). */
#include "model/imds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/nocloud.h"
#include "util/str.h"

#define PATH_MAX_LEN 256   /* longer paths are unknown: no real path comes close */
#define MAX_PARTS 6

struct part {
	const char *s;
	size_t n;
};

static bool part_is(struct part p, const char *word)
{
	size_t n = strlen(word);
	return p.n == n && memcmp(p.s, word, n) == 0;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* "latest" or a dated API version such as "2009-04-04". */
static bool part_is_version(struct part p)
{
	if (part_is(p, "latest"))
		return true;
	if (p.n != 10 || p.s[4] != '-' || p.s[7] != '-')
		return false;
	for (size_t i = 0; i < p.n; i++)
		if (i != 4 && i != 7 && !is_digit(p.s[i]))
			return false;
	return true;
}

/* A key index: "0" or digits without a leading zero, at most 3 of them. */
static int part_index(struct part p)
{
	if (p.n == 0 || p.n > 3 || (p.n > 1 && p.s[0] == '0'))
		return -1;
	int v = 0;
	for (size_t i = 0; i < p.n; i++) {
		if (!is_digit(p.s[i]))
			return -1;
		v = v * 10 + (p.s[i] - '0');
	}
	return v;
}

struct imds_path imds_path_parse(const char *path, size_t len)
{
	struct imds_path out = {.kind = IMDS_UNKNOWN, .key_index = -1};
	if (!path || len > PATH_MAX_LEN || len == 0 || path[0] != '/')
		return out;
	if (len == 1) {
		out.kind = IMDS_ROOT;
		return out;
	}
	/* Split "/a/b/c[/]" into parts; an empty part other than a final
	 * slash ("//", "/a//b") makes the path unknown. */
	struct part parts[MAX_PARTS];
	int n = 0;
	bool slash = false;
	size_t i = 1;
	while (i < len) {
		size_t j = i;
		while (j < len && path[j] != '/') {
			if (path[j] == '\0')
				return out;
			j++;
		}
		if (j == i)
			return out;   /* empty part */
		if (n == MAX_PARTS)
			return out;
		parts[n++] = (struct part){path + i, j - i};
		if (j == len) {
			slash = false;
			break;
		}
		slash = true;   /* the part ended with '/' */
		i = j + 1;
	}
	if (n >= 2 && part_is(parts[0], "nocloud")) {
		static const struct {
			const char *name;
			enum imds_kind kind;
		} files[] = {
			{"meta-data", IMDS_NOCLOUD_META_DATA},
			{"user-data", IMDS_NOCLOUD_USER_DATA},
			{"vendor-data", IMDS_NOCLOUD_VENDOR_DATA},
			{"network-config", IMDS_NOCLOUD_NETWORK_CONFIG},
		};
		out.nocloud_key = parts[1].s;
		out.nocloud_key_len = parts[1].n;
		if (n == 2)
			out.kind = IMDS_NOCLOUD;
		for (size_t k = 0; n == 3 && !slash && k < sizeof(files) / sizeof(files[0]); k++)
			if (part_is(parts[2], files[k].name))
				out.kind = files[k].kind;
		if (out.kind == IMDS_UNKNOWN) {
			out.nocloud_key = NULL;
			out.nocloud_key_len = 0;
		}
		return out;
	}
	if (n == 0 || !part_is_version(parts[0]))
		return out;
	if (n == 1) {
		out.kind = IMDS_VERSION;
		return out;
	}
	if (n == 2 && !slash && part_is(parts[1], "user-data")) {
		out.kind = IMDS_USER_DATA;
		return out;
	}
	if (n == 3 && !slash && part_is(parts[1], "api") && part_is(parts[2], "token")) {
		out.kind = IMDS_TOKEN;
		return out;
	}
	if (!part_is(parts[1], "meta-data"))
		return out;
	if (n == 2) {
		out.kind = IMDS_META_DATA;
		return out;
	}
	static const struct {
		const char *name;
		enum imds_kind kind;
	} leaves[] = {
		{"instance-id", IMDS_INSTANCE_ID}, {"local-ipv4", IMDS_LOCAL_IPV4},
		{"hostname", IMDS_HOSTNAME},       {"local-hostname", IMDS_LOCAL_HOSTNAME},
		{"mac", IMDS_MAC},                 {"instance-type", IMDS_INSTANCE_TYPE},
	};
	if (n == 3 && !slash) {
		for (size_t k = 0; k < sizeof(leaves) / sizeof(leaves[0]); k++)
			if (part_is(parts[2], leaves[k].name)) {
				out.kind = leaves[k].kind;
				return out;
			}
	}
	if (!part_is(parts[2], "public-keys"))
		return out;
	if (n == 3) {
		out.kind = IMDS_PUBLIC_KEYS;
		return out;
	}
	int idx = part_index(parts[3]);
	if (idx < 0)
		return out;
	if (n == 4) {
		out.kind = IMDS_PUBLIC_KEY;
		out.key_index = idx;
	} else if (n == 5 && !slash && part_is(parts[4], "openssh-key")) {
		out.kind = IMDS_OPENSSH_KEY;
		out.key_index = idx;
	}
	return out;
}

/* --- tokens ------------------------------------------------------------- */

void imds_tokens_free(struct imds_tokens *t)
{
	if (!t)
		return;
	free(t->tokens);
	free(t->v2_vms);
	memset(t, 0, sizeof(*t));
}

static void tokens_prune(struct imds_tokens *t, int64_t now_ms)
{
	int k = 0;
	for (int i = 0; i < t->n_tokens; i++)
		if (t->tokens[i].expires_ms > now_ms)
			t->tokens[k++] = t->tokens[i];
	t->n_tokens = k;
}

static bool vm_is_v2(const struct imds_tokens *t, const char *vm_id)
{
	for (int i = 0; i < t->n_v2; i++)
		if (strcmp(t->v2_vms[i], vm_id) == 0)
			return true;
	return false;
}

static void vm_mark_v2(struct imds_tokens *t, const char *vm_id)
{
	if (vm_is_v2(t, vm_id))
		return;
	if (t->n_v2 == t->cap_v2) {
		t->cap_v2 = t->cap_v2 ? 2 * t->cap_v2 : 16;
		t->v2_vms = xrealloc(t->v2_vms, (size_t)t->cap_v2 * sizeof(*t->v2_vms));
	}
	snprintf(t->v2_vms[t->n_v2++], ID_MAX, "%s", vm_id);
}

/* Adds a token for vm_id; a VM holding IMDS_TOKENS_PER_VM already loses its
 * oldest, so a VM asking in a loop cannot make the table grow. */
static const char *tokens_add(struct imds_tokens *t, const char *vm_id, const unsigned char *random,
			      int64_t now_ms, int ttl_s)
{
	int held = 0, oldest = -1;
	for (int i = 0; i < t->n_tokens; i++) {
		if (strcmp(t->tokens[i].vm_id, vm_id) != 0)
			continue;
		held++;
		if (oldest < 0 || t->tokens[i].issued_ms < t->tokens[oldest].issued_ms)
			oldest = i;
	}
	struct imds_token *tok;
	if (held >= IMDS_TOKENS_PER_VM) {
		tok = &t->tokens[oldest];
	} else {
		if (t->n_tokens == t->cap_tokens) {
			t->cap_tokens = t->cap_tokens ? 2 * t->cap_tokens : 16;
			t->tokens = xrealloc(t->tokens, (size_t)t->cap_tokens * sizeof(*t->tokens));
		}
		tok = &t->tokens[t->n_tokens++];
	}
	memset(tok, 0, sizeof(*tok));
	snprintf(tok->vm_id, sizeof(tok->vm_id), "%s", vm_id);
	static const char hex[] = "0123456789abcdef";
	for (int i = 0; i < IMDS_TOKEN_RANDOM; i++) {
		tok->value[2 * i] = hex[random[i] >> 4];
		tok->value[2 * i + 1] = hex[random[i] & 15];
	}
	tok->issued_ms = now_ms;
	tok->expires_ms = now_ms + (int64_t)ttl_s * 1000;
	return tok->value;
}

/* Compares in time independent of where the strings differ. */
static bool token_equal(const char *a, const char *b)
{
	size_t n = strlen(a);
	if (strlen(b) != n)
		return false;
	unsigned char d = 0;
	for (size_t i = 0; i < n; i++)
		d |= (unsigned char)(a[i] ^ b[i]);
	return d == 0;
}

static bool token_valid(const struct imds_tokens *t, const char *vm_id, const char *value, int64_t now_ms)
{
	for (int i = 0; i < t->n_tokens; i++)
		if (strcmp(t->tokens[i].vm_id, vm_id) == 0 && t->tokens[i].expires_ms > now_ms &&
		    token_equal(t->tokens[i].value, value))
			return true;
	return false;
}

/* "1".."21600", digits only; -1 otherwise. */
static int ttl_parse(const char *s)
{
	if (!s || !*s || strlen(s) > 9 || strspn(s, "0123456789") != strlen(s))
		return -1;
	long v = strtol(s, NULL, 10);
	return v >= 1 && v <= IMDS_TOKEN_TTL_MAX ? (int)v : -1;
}

/* --- answers ------------------------------------------------------------ */

static void answer(struct imds_response *r, int status, const char *type, char *body)
{
	r->status = status;
	r->content_type = type;
	r->body = body;
	r->body_len = strlen(body);
}

static void text(struct imds_response *r, const char *s)
{
	answer(r, 200, "text/plain", xstrdup(s ? s : ""));
}

static void fail(struct imds_response *r, int status, const char *why)
{
	answer(r, status, "text/plain", xasprintf("%d %s\n", status, why));
}

/* The idx-th line of the newline-separated keys (borrowed into *line, *n); false if there is none. */
static bool key_at(const char *keys, int idx, const char **line, size_t *n)
{
	int i = 0;
	for (const char *p = keys ? keys : ""; *p;) {
		size_t len = strcspn(p, "\n");
		if (len > 0) {
			if (i == idx) {
				*line = p;
				*n = len;
				return true;
			}
			i++;
		}
		p += len;
		if (*p == '\n')
			p++;
	}
	return false;
}

/* A key's name for the listing: its comment, kept to characters that are
 * safe in a "N=name" line, or "key-N". */
static void key_name(const char *line, size_t n, int idx, struct sbuf *out)
{
	/* "type base64 comment…": the comment starts after the second blank. */
	size_t i = 0;
	for (int field = 0; field < 2 && i < n; field++) {
		while (i < n && line[i] != ' ')
			i++;
		while (i < n && line[i] == ' ')
			i++;
	}
	size_t start = i, kept = 0;
	for (; i < n && kept < 64; i++) {
		char c = line[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || strchr("@._+-", c)) {
			sbuf_addn(out, &line[i], 1);
			kept++;
		} else if (c == ' ') {
			break;
		}
	}
	if (start >= n || kept == 0)
		sbuf_addf(out, "key-%d", idx);
}

/* Whether the path's KEY is the VM's, in time independent of where they differ. */
static bool nocloud_key_valid(const struct imds_path *p, const struct imds_vm *vm)
{
	if (!vm->nocloud_key || strlen(vm->nocloud_key) != IMDS_NOCLOUD_KEY_LEN ||
	    p->nocloud_key_len != IMDS_NOCLOUD_KEY_LEN)
		return false;
	unsigned char d = 0;
	for (size_t i = 0; i < IMDS_NOCLOUD_KEY_LEN; i++)
		d |= (unsigned char)(p->nocloud_key[i] ^ vm->nocloud_key[i]);
	return d == 0;
}

/* The VM's documents as a seed disk would hold them. */
static void answer_nocloud(const struct imds_path *p, const struct imds_vm *vm, struct imds_response *r)
{
	const char *line;
	size_t n;
	int n_keys = 0;
	while (key_at(vm->ssh_keys, n_keys, &line, &n))
		n_keys++;
	char **keys = xcalloc((size_t)n_keys + 1, sizeof(*keys));
	for (int i = 0; i < n_keys; i++) {
		key_at(vm->ssh_keys, i, &line, &n);
		keys[i] = xstrndup(line, n);
	}
	const struct nocloud doc = {.instance_id = vm->instance_id, .hostname = vm->hostname,
				    .ssh_keys = (const char *const *)keys, .n_keys = n_keys,
				    .user_data = vm->user_data, .macs = vm->macs, .n_macs = vm->n_macs};
	char *body;
	switch (p->kind) {
	case IMDS_NOCLOUD:
		text(r, "meta-data\nuser-data\nvendor-data\nnetwork-config");
		break;
	case IMDS_NOCLOUD_META_DATA:
		answer(r, 200, "text/plain", nocloud_meta_data_render(&doc));
		break;
	case IMDS_NOCLOUD_USER_DATA:
		/* Always there: cloud-init's NoCloud fails on a missing user-data. */
		answer(r, 200, "application/octet-stream",
		       xstrdup(vm->user_data ? vm->user_data : NOCLOUD_EMPTY_USER_DATA));
		break;
	case IMDS_NOCLOUD_VENDOR_DATA:
		text(r, "");   /* nubo has none; an empty answer spares cloud-init a logged error */
		break;
	case IMDS_NOCLOUD_NETWORK_CONFIG:
		body = nocloud_network_config_render(&doc);
		if (body)
			answer(r, 200, "text/plain", body);
		else
			fail(r, 404, "Not Found: this VM has no NICs");
		break;
	default:
		fail(r, 404, "Not Found");
		break;
	}
	for (int i = 0; i < n_keys; i++)
		free(keys[i]);
	free(keys);
}

static bool is_nocloud(enum imds_kind k)
{
	return k == IMDS_NOCLOUD || k == IMDS_NOCLOUD_META_DATA || k == IMDS_NOCLOUD_USER_DATA ||
	       k == IMDS_NOCLOUD_VENDOR_DATA || k == IMDS_NOCLOUD_NETWORK_CONFIG;
}

static void answer_get(const struct imds_path *p, const struct imds_vm *vm, struct imds_response *r)
{
	const char *line;
	size_t n;
	struct sbuf b = {0};
	switch (p->kind) {
	case IMDS_ROOT:
		text(r, "latest");
		return;
	case IMDS_VERSION:
		text(r, vm->user_data ? "meta-data\nuser-data" : "meta-data");
		return;
	case IMDS_META_DATA:
		text(r, key_at(vm->ssh_keys, 0, &line, &n)
				? "hostname\ninstance-id\ninstance-type\nlocal-hostname\nlocal-ipv4\nmac\npublic-keys/"
				: "hostname\ninstance-id\ninstance-type\nlocal-hostname\nlocal-ipv4\nmac");
		return;
	case IMDS_INSTANCE_ID:
		text(r, vm->instance_id);
		return;
	case IMDS_LOCAL_IPV4:
		text(r, vm->local_ipv4);
		return;
	case IMDS_HOSTNAME:
	case IMDS_LOCAL_HOSTNAME:
		text(r, vm->hostname);
		return;
	case IMDS_MAC:
		text(r, vm->mac);
		return;
	case IMDS_INSTANCE_TYPE:
		text(r, vm->instance_type);
		return;
	case IMDS_PUBLIC_KEYS:
		if (!key_at(vm->ssh_keys, 0, &line, &n)) {
			fail(r, 404, "Not Found: this VM has no public keys");
			return;
		}
		for (int i = 0; key_at(vm->ssh_keys, i, &line, &n); i++) {
			sbuf_addf(&b, "%s%d=", i ? "\n" : "", i);
			key_name(line, n, i, &b);
		}
		answer(r, 200, "text/plain", sbuf_take(&b));
		return;
	case IMDS_PUBLIC_KEY:
		if (!key_at(vm->ssh_keys, p->key_index, &line, &n)) {
			fail(r, 404, "Not Found: no public key with this index");
			return;
		}
		text(r, "openssh-key");
		return;
	case IMDS_OPENSSH_KEY:
		if (!key_at(vm->ssh_keys, p->key_index, &line, &n)) {
			fail(r, 404, "Not Found: no public key with this index");
			return;
		}
		answer(r, 200, "text/plain", xstrndup(line, n));
		return;
	case IMDS_USER_DATA:
		if (!vm->user_data) {
			fail(r, 404, "Not Found: this VM has no user-data");
			return;
		}
		answer(r, 200, "application/octet-stream", xstrdup(vm->user_data));
		return;
	case IMDS_TOKEN:
	case IMDS_UNKNOWN:
	case IMDS_NOCLOUD:
	case IMDS_NOCLOUD_META_DATA:
	case IMDS_NOCLOUD_USER_DATA:
	case IMDS_NOCLOUD_VENDOR_DATA:
	case IMDS_NOCLOUD_NETWORK_CONFIG:
		break;
	}
	fail(r, 404, "Not Found");
}

void imds_respond(struct imds_tokens *t, const struct imds_request *req, const struct imds_vm *vm, int64_t now_ms,
		  const unsigned char random[IMDS_TOKEN_RANDOM], struct imds_response *out)
{
	memset(out, 0, sizeof(*out));
	tokens_prune(t, now_ms);
	struct imds_path p = imds_path_parse(req->path, req->path_len);
	const char *m = req->method ? req->method : "";
	/* A NoCloud path with the wrong KEY is as absent as any unknown path. */
	if (p.kind == IMDS_UNKNOWN || (is_nocloud(p.kind) && !nocloud_key_valid(&p, vm))) {
		fail(out, 404, "Not Found");
		return;
	}
	if (is_nocloud(p.kind)) {
		/* No token rules: KEY is the credential (imds.h). */
		if (strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0) {
			fail(out, 405, "Method Not Allowed");
			out->allow = "GET, HEAD";
			return;
		}
		answer_nocloud(&p, vm, out);
		return;
	}
	if (p.kind == IMDS_TOKEN) {
		if (strcmp(m, "PUT") != 0) {
			fail(out, 405, "Method Not Allowed: a token is asked for with PUT");
			out->allow = "PUT";
			return;
		}
		/* A token request relayed by a proxy in the VM is refused, as EC2 does. */
		if (req->forwarded) {
			fail(out, 403, "Forbidden: token requests with X-Forwarded-For are refused");
			return;
		}
		int ttl = ttl_parse(req->ttl);
		if (ttl < 0) {
			fail(out, 400, "Bad Request: X-aws-ec2-metadata-token-ttl-seconds must be a whole number "
				       "of seconds from 1 to 21600");
			return;
		}
		vm_mark_v2(t, vm->instance_id);
		text(out, tokens_add(t, vm->instance_id, random, now_ms, ttl));
		out->token_ttl = ttl;
		return;
	}
	if (strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0) {
		fail(out, 405, "Method Not Allowed");
		out->allow = "GET, HEAD";
		return;
	}
	if (req->token ? !token_valid(t, vm->instance_id, req->token, now_ms) : vm_is_v2(t, vm->instance_id)) {
		fail(out, 401, req->token ? "Unauthorized: the token is not valid (expired, or not this VM's)"
					  : "Unauthorized: this VM uses IMDSv2; send X-aws-ec2-metadata-token");
		return;
	}
	answer_get(&p, vm, out);
}

void imds_response_free(struct imds_response *r)
{
	if (!r)
		return;
	free(r->body);
	r->body = NULL;
}
