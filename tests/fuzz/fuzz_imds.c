/* fuzz_imds: the metadata service, pure: imds_path_parse on raw bytes, then
 * imds_respond on a sequence of requests from two VMs, checked against a
 * model of what EC2's IMDS promises:
 *
 *   - every answer is one of 200, 400, 401, 403, 404, 405, with a body;
 *     405 names the allowed methods, a new token its TTL;
 *   - a token is valid for the VM it was issued to until it expires, and
 *     never for the other VM; a VM that asked for a token gets 401 without one;
 *   - a 200 never holds the other VM's data; the key listing is one safe
 *     "N=name" line per key, whatever the keys hold.
 *
 * Input: first VM A's ssh_keys (fuzzed), then per request three strings,
 * all separated by NUL bytes: a control byte followed by the method, the
 * path, and a header value. The control byte says which VM asks (bit 0),
 * X-Forwarded-For (bit 1), where the token comes from (bits 2-3: none, the
 * header value, A's or B's last token), whether the header value is the TTL
 * (bit 4), and how far time moves first (bits 5-7). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "model/imds.h"

#define MAX_REQUESTS 24    /* fewer tokens than IMDS_TOKENS_PER_VM: none is evicted, the model is exact */
#define MAX_PIECES (1 + 3 * MAX_REQUESTS)

static const int64_t advance_ms[8] = {0, 1, 999, 1000, 60000, 3600000, 21600000, 21600001};

struct issued {
	int vm;
	char value[2 * IMDS_TOKEN_RANDOM + 1];
	int64_t expires_ms;
};

struct model {
	struct issued tokens[MAX_REQUESTS];
	int n_tokens;
	int last[2];          /* index of each VM's last token, or -1 */
	bool v2[2];
};

/* What may never reach the other VM. */
static const char *const secrets[2][4] = {
	{"vm-aaaaaaaaaaaa", "alpha-host", "alpha-user-data", "10.0.0.11"},
	{"vm-bbbbbbbbbbbb", "beta-host", "beta@bravo", "10.0.0.22"},
};

/* The idx-th non-empty line of keys (as imds counts them) into line, n; false if none. */
static bool nth_key(const char *keys, int idx, const char **line, size_t *n)
{
	int i = 0;
	for (const char *p = keys ? keys : ""; *p;) {
		size_t len = strcspn(p, "\n");
		if (len && i++ == idx) {
			*line = p;
			*n = len;
			return true;
		}
		p += len + (p[len] == '\n');
	}
	return false;
}

static int count_keys(const char *keys)
{
	const char *l;
	size_t n;
	int i = 0;
	while (nth_key(keys, i, &l, &n))
		i++;
	return i;
}

/* "1".."21600", digits only. */
static int ttl_of(const char *s)
{
	if (!s || !*s || strlen(s) > 9)
		return -1;
	long v = 0;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		v = v * 10 + (*p - '0');
	}
	return v >= 1 && v <= IMDS_TOKEN_TTL_MAX ? (int)v : -1;
}

static bool known_path(struct imds_path p)
{
	return p.kind != IMDS_UNKNOWN;
}

/* The path parser alone, on bytes that may hold NULs: a known path is
 * printable ASCII, its parts are what its kind says, and an index is the
 * decimal digits of the path. */
static void check_path(const uint8_t *data, size_t size)
{
	struct imds_path p = imds_path_parse((const char *)data, size);
	FUZZ_ASSERT(p.kind >= IMDS_UNKNOWN && p.kind <= IMDS_USER_DATA, "kind %d", p.kind);
	bool indexed = p.kind == IMDS_PUBLIC_KEY || p.kind == IMDS_OPENSSH_KEY;
	FUZZ_ASSERT(indexed ? p.key_index >= 0 && p.key_index <= 999 : p.key_index == -1, "kind %d with index %d",
		    p.kind, p.key_index);
	if (!known_path(p))
		return;
	for (size_t i = 0; i < size; i++)
		FUZZ_ASSERT(data[i] > ' ' && data[i] < 127, "a path with byte 0x%02x is known (kind %d)", data[i],
			    p.kind);
	char *s = fuzz_cstr(data, size);
	FUZZ_ASSERT(s, "a path with a NUL is known");
	if (p.kind == IMDS_ROOT) {
		FUZZ_ASSERT(strcmp(s, "/") == 0, "\"%s\" is the root", s);
		free(s);
		return;
	}
	/* "/VERSION/rest": VERSION is latest or YYYY-MM-DD. */
	const char *rest = strchr(s + 1, '/');
	size_t vlen = rest ? (size_t)(rest - s - 1) : strlen(s + 1);
	bool dated = vlen == 10;
	for (size_t i = 0; dated && i < 10; i++)
		dated = (i == 4 || i == 7) ? s[1 + i] == '-' : s[1 + i] >= '0' && s[1 + i] <= '9';
	FUZZ_ASSERT((vlen == 6 && strncmp(s + 1, "latest", 6) == 0) || dated, "\"%s\" has no API version", s);
	if (!rest)
		rest = "";
	static const struct {
		enum imds_kind kind;
		const char *path;
		bool dir;
	} canon[] = {
		{IMDS_VERSION, "", true},
		{IMDS_TOKEN, "/api/token", false},
		{IMDS_META_DATA, "/meta-data", true},
		{IMDS_INSTANCE_ID, "/meta-data/instance-id", false},
		{IMDS_LOCAL_IPV4, "/meta-data/local-ipv4", false},
		{IMDS_HOSTNAME, "/meta-data/hostname", false},
		{IMDS_LOCAL_HOSTNAME, "/meta-data/local-hostname", false},
		{IMDS_MAC, "/meta-data/mac", false},
		{IMDS_INSTANCE_TYPE, "/meta-data/instance-type", false},
		{IMDS_PUBLIC_KEYS, "/meta-data/public-keys", true},
		{IMDS_USER_DATA, "/user-data", false},
	};
	char want[64];
	if (indexed) {
		snprintf(want, sizeof(want), "/meta-data/public-keys/%d%s", p.key_index,
			 p.kind == IMDS_OPENSSH_KEY ? "/openssh-key" : "");
		bool ok = strcmp(rest, want) == 0;
		if (p.kind == IMDS_PUBLIC_KEY && !ok) {
			strcat(want, "/");
			ok = strcmp(rest, want) == 0;
		}
		FUZZ_ASSERT(ok, "\"%s\" was read as key %d (kind %d)", s, p.key_index, p.kind);
		free(s);
		return;
	}
	for (size_t i = 0; i < sizeof(canon) / sizeof(canon[0]); i++) {
		if (canon[i].kind != p.kind)
			continue;
		snprintf(want, sizeof(want), "%s/", canon[i].path);
		FUZZ_ASSERT(strcmp(rest, canon[i].path) == 0 || (canon[i].dir && strcmp(rest, want) == 0),
			    "\"%s\" was read as kind %d", s, p.kind);
		free(s);
		return;
	}
	FUZZ_ASSERT(false, "kind %d of \"%s\" has no known path", p.kind, s);
}

/* name's characters appear in line in order: it was made from that key. */
static bool drawn_from(const char *name, size_t n, const char *line, size_t len)
{
	size_t k = 0;
	for (size_t i = 0; i < len && k < n; i++)
		if (line[i] == name[k])
			k++;
	return k == n;
}

static void check_listing(const char *body, const char *keys)
{
	int n = count_keys(keys);
	const char *p = body;
	for (int i = 0; i < n; i++) {
		char head[16];
		snprintf(head, sizeof(head), "%d=", i);
		FUZZ_ASSERT(strncmp(p, head, strlen(head)) == 0, "line %d of the key listing is \"%s\"", i, p);
		p += strlen(head);
		size_t len = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@._+-");
		FUZZ_ASSERT(len > 0 && len <= 64, "key %d has a name of %zu safe characters", i, len);
		const char *line;
		size_t n_line;
		char fallback[16];
		snprintf(fallback, sizeof(fallback), "key-%d", i);
		nth_key(keys, i, &line, &n_line);
		FUZZ_ASSERT((len == strlen(fallback) && strncmp(p, fallback, len) == 0) || drawn_from(p, len, line, n_line),
			    "key %d's name \"%.*s\" is not from its key", i, (int)len, p);
		p += len;
		FUZZ_ASSERT(*p == (i + 1 < n ? '\n' : '\0'), "key %d's name is followed by 0x%02x", i, (unsigned char)*p);
		p++;
	}
}

static void respond(struct imds_tokens *t, struct model *m, const struct imds_vm vms[2], unsigned ctl,
		    const char *method, const char *path, const char *header, int64_t *now, unsigned *counter)
{
	int who = ctl & 1, other = !who;
	*now += advance_ms[ctl >> 5];
	const char *token = NULL;
	switch ((ctl >> 2) & 3) {
	case 1: token = header; break;
	case 2: token = m->last[0] >= 0 ? m->tokens[m->last[0]].value : NULL; break;
	case 3: token = m->last[1] >= 0 ? m->tokens[m->last[1]].value : NULL; break;
	}
	struct imds_request req = {
		.method = method, .path = path, .path_len = strlen(path), .token = token,
		.ttl = (ctl & 16) ? header : NULL, .forwarded = ctl & 2,
	};
	unsigned char random[IMDS_TOKEN_RANDOM];
	for (int i = 0; i < IMDS_TOKEN_RANDOM; i++)
		random[i] = (unsigned char)(*counter * 131u + (unsigned)i * 7u);
	(*counter)++;
	struct imds_response r;
	imds_respond(t, &req, &vms[who], *now, random, &r);

	int st = r.status;
	FUZZ_ASSERT(st == 200 || st == 400 || st == 401 || st == 403 || st == 404 || st == 405, "status %d", st);
	FUZZ_ASSERT(r.body && r.body_len == strlen(r.body) && r.content_type, "status %d without a proper body", st);
	FUZZ_ASSERT((st == 405) == (r.allow != NULL), "status %d with allow %s", st, r.allow ? r.allow : "(null)");

	/* What the model expects. */
	struct imds_path p = imds_path_parse(path, strlen(path));
	bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	/* These VMs have no NoCloud key: a /nocloud/ path is as absent as an
	 * unknown one, whatever the method. */
	bool nocloud = p.kind >= IMDS_NOCLOUD && p.kind <= IMDS_NOCLOUD_NETWORK_CONFIG;
	if (p.kind == IMDS_UNKNOWN || nocloud) {
		FUZZ_ASSERT(st == 404, "unknown path \"%s\" answered %d", path, st);
	} else if (p.kind == IMDS_TOKEN) {
		int ttl = ttl_of(req.ttl);
		int want = strcmp(method, "PUT") != 0 ? 405 : req.forwarded ? 403 : ttl < 0 ? 400 : 200;
		FUZZ_ASSERT(st == want, "a token request (method %s, ttl %s) answered %d, not %d", method,
			    req.ttl ? req.ttl : "(none)", st, want);
		FUZZ_ASSERT((st == 200) == (r.token_ttl != 0), "status %d with token_ttl %d", st, r.token_ttl);
		if (st == 200) {
			FUZZ_ASSERT(r.token_ttl == ttl, "ttl %s gave a token of %d s", req.ttl, r.token_ttl);
			struct issued *tok = &m->tokens[m->n_tokens];
			for (int i = 0; i < IMDS_TOKEN_RANDOM; i++)
				snprintf(tok->value + 2 * i, 3, "%02x", random[i]);
			FUZZ_ASSERT(strcmp(r.body, tok->value) == 0, "token \"%s\" is not the hex of its random bytes",
				    r.body);
			tok->vm = who;
			tok->expires_ms = *now + (int64_t)ttl * 1000;
			m->last[who] = m->n_tokens++;
			m->v2[who] = true;
		}
	} else if (!get) {
		FUZZ_ASSERT(st == 405, "method \"%s\" answered %d", method, st);
	} else {
		bool valid = false;
		for (int i = 0; token && i < m->n_tokens; i++)
			if (m->tokens[i].vm == who && *now < m->tokens[i].expires_ms &&
			    strcmp(m->tokens[i].value, token) == 0)
				valid = true;
		bool refused = token ? !valid : m->v2[who];
		FUZZ_ASSERT(refused == (st == 401), "VM %c, token %s (%s), v2 %d: answered %d", "AB"[who],
			    token ? token : "(none)", valid ? "valid" : "not valid", m->v2[who], st);
		if (!refused) {
			const struct imds_vm *vm = &vms[who];
			int keys = count_keys(vm->ssh_keys);
			bool missing = (p.kind == IMDS_PUBLIC_KEYS && keys == 0) ||
				       ((p.kind == IMDS_PUBLIC_KEY || p.kind == IMDS_OPENSSH_KEY) && p.key_index >= keys) ||
				       (p.kind == IMDS_USER_DATA && !vm->user_data);
			FUZZ_ASSERT(st == (missing ? 404 : 200), "kind %d for VM %c answered %d", p.kind, "AB"[who], st);
			const char *line;
			size_t n;
			if (p.kind == IMDS_INSTANCE_ID)
				FUZZ_ASSERT(strcmp(r.body, vm->instance_id) == 0, "instance-id is \"%s\"", r.body);
			if (p.kind == IMDS_PUBLIC_KEYS && st == 200)
				check_listing(r.body, vm->ssh_keys);
			if (p.kind == IMDS_OPENSSH_KEY && st == 200) {
				FUZZ_ASSERT(nth_key(vm->ssh_keys, p.key_index, &line, &n), "no key %d", p.key_index);
				FUZZ_ASSERT(r.body_len == n && memcmp(r.body, line, n) == 0, "key %d is \"%s\"",
					    p.key_index, r.body);
			}
		}
	}
	/* A listing of A's fuzzed keys may spell anything: it was checked above
	 * to come from A's own keys. */
	bool fuzzed_listing = who == 0 && p.kind == IMDS_PUBLIC_KEYS;
	if (st == 200 && !fuzzed_listing)
		for (int i = 0; i < 4; i++)
			if (!(vms[who].ssh_keys && strstr(vms[who].ssh_keys, secrets[other][i])))
				FUZZ_ASSERT(!strstr(r.body, secrets[other][i]),
					    "VM %c got \"%s\" of the other VM from %s %s", "AB"[who],
					    secrets[other][i], method, path);
	imds_response_free(&r);
	imds_response_free(&r);   /* harmless twice */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_path(data, size);

	char *piece[MAX_PIECES];
	int n = fuzz_split(data, size, piece, MAX_PIECES);
	struct imds_vm vms[2] = {
		/* No NoCloud keys: every /nocloud/ path is then 404, which the
		 * model's rules hold for (test_imds covers the keyed tree). */
		{secrets[0][0], secrets[0][1], secrets[0][3], "52:54:00:aa:aa:aa", "small", piece[0],
		 "#cloud-config\n# alpha-user-data\n", NULL, NULL, 0},
		{secrets[1][0], secrets[1][1], secrets[1][3], "52:54:00:bb:bb:bb", "large",
		 "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIbeta beta@bravo\n", NULL, NULL, NULL, 0},
	};
	struct imds_tokens t = {0};
	struct model m = {.last = {-1, -1}};
	int64_t now = 1700000000000;
	unsigned counter = 0;
	for (int i = 1; i + 2 < n; i += 3)
		respond(&t, &m, vms, (unsigned char)piece[i][0], piece[i][0] ? piece[i] + 1 : "", piece[i + 1],
			piece[i + 2], &now, &counter);
	imds_tokens_free(&t);
	imds_tokens_free(&t);
	for (int i = 0; i < n; i++)
		free(piece[i]);
	return 0;
}
