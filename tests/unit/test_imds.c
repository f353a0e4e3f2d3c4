/* Unit tests for model/imds: every path of the metadata service, the
 * IMDSv2 token rules (issue, bind to the VM, expire, required once asked),
 * and the 400/401/403/404/405 answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/imds.h"

static const struct imds_vm web1 = {
	.instance_id = "vm-0123456789ab",
	.hostname = "web1",
	.local_ipv4 = "10.77.3.10",
	.mac = "52:54:00:12:34:56",
	.instance_type = "small",
	.ssh_keys = "ssh-ed25519 AAAAC3Nza alice@laptop\n"
		    "ssh-rsa AAAAB3 bob's key; rm -rf\n"
		    "ssh-ed25519 AAAAnoComment",
	.user_data = "#!/bin/sh\necho hi\n",
};

#define KEY1 "0123456789abcdef0123456789abcdef"
static const char *const two_macs[] = {"52:54:00:12:34:56", "52:54:00:12:34:57"};
/* web1 booted without a seed: it has a NoCloud key. */
static const struct imds_vm web1_nc = {
	.instance_id = "vm-0123456789ab",
	.hostname = "web1",
	.local_ipv4 = "10.77.3.10",
	.mac = "52:54:00:12:34:56",
	.instance_type = "small",
	.ssh_keys = "ssh-ed25519 AAAAC3Nza alice@laptop\n\nssh-rsa AAAAB3 \"bob\"",
	.user_data = "#!/bin/sh\necho hi\n",
	.nocloud_key = KEY1,
	.macs = two_macs,
	.n_macs = 2,
};

static const struct imds_vm bare = {
	.instance_id = "vm-ba5eba5eba5e",
	.hostname = "bare",
	.local_ipv4 = "10.77.3.11",
	.mac = "52:54:00:00:00:01",
	.instance_type = "micro",
};

static const unsigned char rnd1[IMDS_TOKEN_RANDOM] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};
static const unsigned char rnd2[IMDS_TOKEN_RANDOM] = {0xff, 0xee};
#define TOKEN1 "0123456789abcdef000000000000000000000000000000000000000000000000"
#define TOKEN2 "ffee000000000000000000000000000000000000000000000000000000000000"
#define T0 1700000000000ll

struct call {
	const char *method, *path, *token, *ttl;
	bool forwarded;
};

/* One request; returns the status and leaves the body in *body (caller frees). */
static int ask(struct imds_tokens *t, struct call c, const struct imds_vm *vm, int64_t now, const unsigned char *rnd,
	       struct imds_response *r)
{
	struct imds_request req = {.method = c.method, .path = c.path, .path_len = strlen(c.path),
				   .token = c.token, .ttl = c.ttl, .forwarded = c.forwarded};
	imds_respond(t, &req, vm, now, rnd ? rnd : rnd1, r);
	assert_non_null(r->body);
	assert_int_equal(r->body_len, strlen(r->body));
	return r->status;
}

static void assert_get(struct imds_tokens *t, const struct imds_vm *vm, const char *path, int status,
		       const char *body, const char *type)
{
	struct imds_response r;
	assert_int_equal(ask(t, (struct call){"GET", path, NULL, NULL, false}, vm, T0, NULL, &r), status);
	if (body)
		assert_string_equal(r.body, body);
	if (type)
		assert_string_equal(r.content_type, type);
	imds_response_free(&r);
}

static void test_paths_parse(void **state)
{
	(void)state;
	struct {
		const char *path;
		enum imds_kind kind;
		int index;
	} cases[] = {
		{"/", IMDS_ROOT, -1},
		{"/latest", IMDS_VERSION, -1},
		{"/latest/", IMDS_VERSION, -1},
		{"/2009-04-04/", IMDS_VERSION, -1},
		{"/2021-03-23/meta-data/instance-id", IMDS_INSTANCE_ID, -1},
		{"/latest/api/token", IMDS_TOKEN, -1},
		{"/latest/api/token/", IMDS_UNKNOWN, -1},
		{"/latest/api", IMDS_UNKNOWN, -1},
		{"/latest/meta-data", IMDS_META_DATA, -1},
		{"/latest/meta-data/", IMDS_META_DATA, -1},
		{"/latest/meta-data/instance-id", IMDS_INSTANCE_ID, -1},
		{"/latest/meta-data/instance-id/", IMDS_UNKNOWN, -1},
		{"/latest/meta-data/local-ipv4", IMDS_LOCAL_IPV4, -1},
		{"/latest/meta-data/hostname", IMDS_HOSTNAME, -1},
		{"/latest/meta-data/local-hostname", IMDS_LOCAL_HOSTNAME, -1},
		{"/latest/meta-data/mac", IMDS_MAC, -1},
		{"/latest/meta-data/instance-type", IMDS_INSTANCE_TYPE, -1},
		{"/latest/meta-data/public-keys", IMDS_PUBLIC_KEYS, -1},
		{"/latest/meta-data/public-keys/", IMDS_PUBLIC_KEYS, -1},
		{"/latest/meta-data/public-keys/0", IMDS_PUBLIC_KEY, 0},
		{"/latest/meta-data/public-keys/12/", IMDS_PUBLIC_KEY, 12},
		{"/latest/meta-data/public-keys/2/openssh-key", IMDS_OPENSSH_KEY, 2},
		{"/latest/meta-data/public-keys/2/openssh-key/", IMDS_UNKNOWN, -1},
		{"/latest/meta-data/public-keys/01/openssh-key", IMDS_UNKNOWN, -1},
		{"/latest/meta-data/public-keys/1000", IMDS_UNKNOWN, -1},
		{"/latest/meta-data/public-keys/-1", IMDS_UNKNOWN, -1},
		{"/latest/meta-data/public-keys/x/openssh-key", IMDS_UNKNOWN, -1},
		{"/latest/meta-data/public-keys/0/openssh-key/extra", IMDS_UNKNOWN, -1},
		{"/latest/user-data", IMDS_USER_DATA, -1},
		{"/latest/user-data/", IMDS_UNKNOWN, -1},
		{"/latest//meta-data", IMDS_UNKNOWN, -1},
		{"//latest", IMDS_UNKNOWN, -1},
		{"/latest/meta-data/../user-data", IMDS_UNKNOWN, -1},
		{"/oldest/meta-data/", IMDS_UNKNOWN, -1},
		{"/2009-4-04/meta-data/", IMDS_UNKNOWN, -1},
		{"latest/meta-data/", IMDS_UNKNOWN, -1},
		{"", IMDS_UNKNOWN, -1},
		{"/latest/meta-data/instance-idx", IMDS_UNKNOWN, -1},
		{"/latest/meta-data/instance", IMDS_UNKNOWN, -1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct imds_path p = imds_path_parse(cases[i].path, strlen(cases[i].path));
		if (p.kind != cases[i].kind)
			fail_msg("%s: kind %d, expected %d", cases[i].path, p.kind, cases[i].kind);
		assert_int_equal(p.key_index, cases[i].index);
	}
	/* The length is what counts, not a NUL: an embedded NUL is unknown,
	 * a prefix of a longer buffer is parsed as what it is. */
	assert_int_equal(imds_path_parse("/latest/user-data\0x", 19).kind, IMDS_UNKNOWN);
	assert_int_equal(imds_path_parse("/latest/user-dataXYZ", 17).kind, IMDS_USER_DATA);
	assert_int_equal(imds_path_parse(NULL, 0).kind, IMDS_UNKNOWN);
	char longp[400];
	memset(longp, 'a', sizeof(longp));
	longp[0] = '/';
	assert_int_equal(imds_path_parse(longp, sizeof(longp)).kind, IMDS_UNKNOWN);
	assert_int_equal(imds_path_parse("/a/b/c/d/e/f/g/h", 16).kind, IMDS_UNKNOWN);
}

static void test_every_path(void **state)
{
	(void)state;
	struct imds_tokens t = {0};
	assert_get(&t, &web1, "/", 200, "latest", "text/plain");
	assert_get(&t, &web1, "/latest/", 200, "meta-data\nuser-data", NULL);
	assert_get(&t, &bare, "/latest", 200, "meta-data", NULL);
	assert_get(&t, &web1, "/latest/meta-data/", 200,
		   "hostname\ninstance-id\ninstance-type\nlocal-hostname\nlocal-ipv4\nmac\npublic-keys/", NULL);
	assert_get(&t, &bare, "/latest/meta-data", 200,
		   "hostname\ninstance-id\ninstance-type\nlocal-hostname\nlocal-ipv4\nmac", NULL);
	assert_get(&t, &web1, "/latest/meta-data/instance-id", 200, "vm-0123456789ab", "text/plain");
	assert_get(&t, &web1, "/2009-04-04/meta-data/instance-id", 200, "vm-0123456789ab", NULL);
	assert_get(&t, &web1, "/latest/meta-data/local-ipv4", 200, "10.77.3.10", NULL);
	assert_get(&t, &web1, "/latest/meta-data/hostname", 200, "web1", NULL);
	assert_get(&t, &web1, "/latest/meta-data/local-hostname", 200, "web1", NULL);
	assert_get(&t, &web1, "/latest/meta-data/mac", 200, "52:54:00:12:34:56", NULL);
	assert_get(&t, &web1, "/latest/meta-data/instance-type", 200, "small", NULL);
	assert_get(&t, &bare, "/latest/meta-data/instance-type", 200, "micro", NULL);
	/* Key names: the comment, cut to safe characters, or key-N. */
	assert_get(&t, &web1, "/latest/meta-data/public-keys/", 200, "0=alice@laptop\n1=bobs\n2=key-2", NULL);
	assert_get(&t, &web1, "/latest/meta-data/public-keys/1/", 200, "openssh-key", NULL);
	assert_get(&t, &web1, "/latest/meta-data/public-keys/0/openssh-key", 200,
		   "ssh-ed25519 AAAAC3Nza alice@laptop", NULL);
	assert_get(&t, &web1, "/latest/meta-data/public-keys/2/openssh-key", 200, "ssh-ed25519 AAAAnoComment", NULL);
	assert_get(&t, &web1, "/latest/meta-data/public-keys/3/openssh-key", 404, NULL, NULL);
	assert_get(&t, &web1, "/latest/meta-data/public-keys/3", 404, NULL, NULL);
	assert_get(&t, &bare, "/latest/meta-data/public-keys/", 404, NULL, NULL);
	assert_get(&t, &bare, "/latest/meta-data/public-keys/0/openssh-key", 404, NULL, NULL);
	assert_get(&t, &web1, "/latest/user-data", 200, "#!/bin/sh\necho hi\n", "application/octet-stream");
	assert_get(&t, &bare, "/latest/user-data", 404, "404 Not Found: this VM has no user-data\n", NULL);
	assert_get(&t, &web1, "/latest/meta-data/ami-id", 404, "404 Not Found\n", NULL);
	assert_get(&t, &web1, "/computeMetadata/v1/", 404, NULL, NULL);
	imds_tokens_free(&t);
}

/* /nocloud/KEY/: the seed's documents for the VM whose KEY it is; any
 * other KEY, or a VM without one, sees nothing there; no IMDSv2 token is
 * asked for (cloud-init sends none), even from a VM that took one. */
static void test_nocloud(void **state)
{
	(void)state;
	struct imds_tokens t = {0};
	assert_get(&t, &web1_nc, "/nocloud/" KEY1 "/", 200, "meta-data\nuser-data\nvendor-data\nnetwork-config", NULL);
	assert_get(&t, &web1_nc, "/nocloud/" KEY1, 200, NULL, NULL);
	assert_get(&t, &web1_nc, "/nocloud/" KEY1 "/meta-data", 200,
		   "instance-id: \"vm-0123456789ab\"\n"
		   "local-hostname: \"web1\"\n"
		   "public-keys:\n"
		   "  - \"ssh-ed25519 AAAAC3Nza alice@laptop\"\n"
		   "  - \"ssh-rsa AAAAB3 \\\"bob\\\"\"\n",
		   "text/plain");
	assert_get(&t, &web1_nc, "/nocloud/" KEY1 "/user-data", 200, "#!/bin/sh\necho hi\n", "application/octet-stream");
	assert_get(&t, &web1_nc, "/nocloud/" KEY1 "/vendor-data", 200, "", NULL);
	assert_get(&t, &web1_nc, "/nocloud/" KEY1 "/network-config", 200,
		   "version: 2\nethernets:\n"
		   "  nic0:\n    match:\n      macaddress: \"52:54:00:12:34:56\"\n    dhcp4: true\n"
		   "  nic1:\n    match:\n      macaddress: \"52:54:00:12:34:57\"\n    dhcp4: true\n",
		   NULL);
	assert_get(&t, &web1_nc, "/nocloud/" KEY1 "/meta-data/", 404, NULL, NULL);   /* a file, not a directory */
	assert_get(&t, &web1_nc, "/nocloud/" KEY1 "/instance-id", 404, NULL, NULL);
	/* A VM without user-data still has the file: cloud-init requires it. */
	struct imds_vm plain = web1_nc;
	plain.user_data = NULL;
	plain.ssh_keys = NULL;
	assert_get(&t, &plain, "/nocloud/" KEY1 "/user-data", 200, "#cloud-config\n", NULL);
	assert_get(&t, &plain, "/nocloud/" KEY1 "/meta-data", 200,
		   "instance-id: \"vm-0123456789ab\"\nlocal-hostname: \"web1\"\npublic-keys: []\n", NULL);
	/* Any other KEY, or none: 404, like a path that does not exist. */
	assert_get(&t, &web1_nc, "/nocloud/0123456789abcdef0123456789abcdee/meta-data", 404, "404 Not Found\n", NULL);
	assert_get(&t, &web1_nc, "/nocloud/0123456789abcdef0123456789abcde/meta-data", 404, NULL, NULL);
	assert_get(&t, &web1_nc, "/nocloud/" KEY1 "0/meta-data", 404, NULL, NULL);
	assert_get(&t, &web1_nc, "/nocloud/meta-data", 404, NULL, NULL);
	assert_get(&t, &web1_nc, "/nocloud//meta-data", 404, NULL, NULL);
	assert_get(&t, &web1, "/nocloud/" KEY1 "/meta-data", 404, NULL, NULL);   /* web1 has no key */
	assert_get(&t, &web1, "/nocloud/" KEY1 "/", 404, NULL, NULL);
	/* Only GET and HEAD. */
	struct imds_response r;
	assert_int_equal(ask(&t, (struct call){"PUT", "/nocloud/" KEY1 "/meta-data", NULL, NULL, false}, &web1_nc, T0,
			     NULL, &r), 405);
	assert_string_equal(r.allow, "GET, HEAD");
	imds_response_free(&r);
	/* A VM that took an IMDSv2 token: the EC2 tree wants it, NoCloud does not. */
	assert_int_equal(ask(&t, (struct call){"PUT", "/latest/api/token", NULL, "60", false}, &web1_nc, T0, NULL, &r), 200);
	imds_response_free(&r);
	assert_get(&t, &web1_nc, "/latest/meta-data/instance-id", 401, NULL, NULL);
	assert_get(&t, &web1_nc, "/nocloud/" KEY1 "/meta-data", 200, NULL, NULL);
	imds_tokens_free(&t);
}

static void test_methods(void **state)
{
	(void)state;
	struct imds_tokens t = {0};
	struct imds_response r;
	assert_int_equal(ask(&t, (struct call){"HEAD", "/latest/meta-data/mac", NULL, NULL, false}, &web1, T0, NULL, &r),
			 200);
	imds_response_free(&r);
	const char *bad[] = {"POST", "PUT", "DELETE", "PATCH", ""};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(ask(&t, (struct call){bad[i], "/latest/meta-data/instance-id", NULL, NULL, false}, &web1,
				     T0, NULL, &r),
				 405);
		assert_string_equal(r.allow, "GET, HEAD");
		assert_null(strstr(r.body, "vm-0123456789ab"));
		imds_response_free(&r);
	}
	const char *bad_token[] = {"GET", "POST", "HEAD"};
	for (size_t i = 0; i < sizeof(bad_token) / sizeof(bad_token[0]); i++) {
		assert_int_equal(ask(&t, (struct call){bad_token[i], "/latest/api/token", NULL, "60", false}, &web1, T0,
				     NULL, &r),
				 405);
		assert_string_equal(r.allow, "PUT");
		imds_response_free(&r);
	}
	/* An unknown path is 404 whatever the method. */
	assert_int_equal(ask(&t, (struct call){"DELETE", "/nope", NULL, NULL, false}, &web1, T0, NULL, &r), 404);
	imds_response_free(&r);
	assert_int_equal(t.n_tokens, 0);   /* nothing of this issued a token */
	imds_tokens_free(&t);
}

static void test_token_ttl(void **state)
{
	(void)state;
	struct imds_tokens t = {0};
	struct imds_response r;
	const char *bad[] = {NULL, "", "0", "21601", "-1", "60s", " 60", "1e3", "99999999999", "abc"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(ask(&t, (struct call){"PUT", "/latest/api/token", NULL, bad[i], false}, &web1, T0, NULL,
				     &r),
				 400);
		assert_non_null(strstr(r.body, "X-aws-ec2-metadata-token-ttl-seconds"));
		imds_response_free(&r);
	}
	/* A refused token request does not switch the VM to IMDSv2. */
	assert_get(&t, &web1, "/latest/meta-data/instance-id", 200, "vm-0123456789ab", NULL);
	assert_int_equal(ask(&t, (struct call){"PUT", "/latest/api/token", NULL, "1", false}, &web1, T0, rnd1, &r), 200);
	assert_string_equal(r.body, TOKEN1);
	assert_int_equal(r.token_ttl, 1);
	imds_response_free(&r);
	assert_int_equal(ask(&t, (struct call){"PUT", "/latest/api/token", NULL, "21600", false}, &web1, T0, rnd2, &r),
			 200);
	assert_string_equal(r.body, TOKEN2);
	assert_int_equal(r.token_ttl, 21600);
	imds_response_free(&r);
	/* Behind a proxy in the VM: refused. */
	assert_int_equal(ask(&t, (struct call){"PUT", "/latest/api/token", NULL, "60", true}, &web1, T0, rnd1, &r), 403);
	imds_response_free(&r);
	imds_tokens_free(&t);
}

static void test_imdsv2_rules(void **state)
{
	(void)state;
	struct imds_tokens t = {0};
	struct imds_response r;
	const char *id = "/latest/meta-data/instance-id";
	/* IMDSv1 until the VM asks for a token. */
	assert_get(&t, &web1, id, 200, "vm-0123456789ab", NULL);
	assert_int_equal(ask(&t, (struct call){"PUT", "/latest/api/token", NULL, "300", false}, &web1, T0, rnd1, &r), 200);
	imds_response_free(&r);
	/* From then on: no token 401, a valid one 200, a wrong one 401. */
	assert_get(&t, &web1, id, 401, NULL, NULL);
	assert_get(&t, &web1, "/latest/user-data", 401, NULL, NULL);
	assert_int_equal(ask(&t, (struct call){"GET", id, TOKEN1, NULL, false}, &web1, T0 + 1000, NULL, &r), 200);
	assert_string_equal(r.body, "vm-0123456789ab");
	imds_response_free(&r);
	assert_int_equal(ask(&t, (struct call){"GET", id, TOKEN2, NULL, false}, &web1, T0, NULL, &r), 401);
	assert_null(strstr(r.body, "vm-0123456789ab"));
	imds_response_free(&r);
	assert_int_equal(ask(&t, (struct call){"GET", id, "", NULL, false}, &web1, T0, NULL, &r), 401);
	imds_response_free(&r);
	assert_int_equal(ask(&t, (struct call){"GET", id, TOKEN1 "0", NULL, false}, &web1, T0, NULL, &r), 401);
	imds_response_free(&r);
	/* Bound to the VM that asked: another VM cannot use it... */
	assert_int_equal(ask(&t, (struct call){"GET", id, TOKEN1, NULL, false}, &bare, T0, NULL, &r), 401);
	assert_null(strstr(r.body, "vm-"));
	imds_response_free(&r);
	/* ...and that other VM, which never asked, still speaks IMDSv1. */
	assert_get(&t, &bare, id, 200, "vm-ba5eba5eba5e", NULL);
	/* Expiry: valid until the last millisecond, 401 from then on; the VM stays IMDSv2. */
	assert_int_equal(ask(&t, (struct call){"GET", id, TOKEN1, NULL, false}, &web1, T0 + 299999, NULL, &r), 200);
	imds_response_free(&r);
	assert_int_equal(ask(&t, (struct call){"GET", id, TOKEN1, NULL, false}, &web1, T0 + 300000, NULL, &r), 401);
	imds_response_free(&r);
	assert_int_equal(t.n_tokens, 0);   /* the expired token was pruned */
	assert_get(&t, &web1, id, 401, NULL, NULL);
	/* A fresh token works again. */
	assert_int_equal(ask(&t, (struct call){"PUT", "/latest/api/token", NULL, "60", false}, &web1, T0 + 400000, rnd2,
			     &r),
			 200);
	imds_response_free(&r);
	assert_int_equal(ask(&t, (struct call){"GET", id, TOKEN2, NULL, false}, &web1, T0 + 400001, NULL, &r), 200);
	imds_response_free(&r);
	/* A token also answers an IMDSv1 VM's request (it is this VM's). */
	assert_int_equal(ask(&t, (struct call){"PUT", "/latest/api/token", NULL, "60", false}, &bare, T0 + 400000, rnd1,
			     &r),
			 200);
	imds_response_free(&r);
	assert_int_equal(ask(&t, (struct call){"GET", id, TOKEN1, NULL, false}, &bare, T0 + 400001, NULL, &r), 200);
	assert_string_equal(r.body, "vm-ba5eba5eba5e");
	imds_response_free(&r);
	imds_tokens_free(&t);
}

static void test_tokens_bounded(void **state)
{
	(void)state;
	struct imds_tokens t = {0};
	struct imds_response r;
	unsigned char rnd[IMDS_TOKEN_RANDOM] = {0};
	char first[2 * IMDS_TOKEN_RANDOM + 1], newest[2 * IMDS_TOKEN_RANDOM + 1];
	for (int i = 0; i < 1000; i++) {
		rnd[0] = (unsigned char)i;
		rnd[1] = (unsigned char)(i >> 8);
		assert_int_equal(ask(&t, (struct call){"PUT", "/latest/api/token", NULL, "600", false}, &web1, T0 + i, rnd,
				     &r),
				 200);
		if (i == 0)
			snprintf(first, sizeof(first), "%s", r.body);
		snprintf(newest, sizeof(newest), "%s", r.body);
		imds_response_free(&r);
	}
	assert_int_equal(t.n_tokens, IMDS_TOKENS_PER_VM);
	assert_int_equal(t.n_v2, 1);
	/* The oldest went first; the newest works. */
	assert_int_equal(ask(&t, (struct call){"GET", "/latest/meta-data/mac", first, NULL, false}, &web1, T0 + 1000, NULL,
			     &r),
			 401);
	imds_response_free(&r);
	assert_int_equal(ask(&t, (struct call){"GET", "/latest/meta-data/mac", newest, NULL, false}, &web1, T0 + 1000, NULL,
			     &r),
			 200);
	assert_string_equal(r.body, web1.mac);
	imds_response_free(&r);
	imds_tokens_free(&t);
	imds_tokens_free(NULL);
	assert_int_equal(t.n_tokens, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_paths_parse),
		cmocka_unit_test(test_every_path),
		cmocka_unit_test(test_nocloud),
		cmocka_unit_test(test_methods),
		cmocka_unit_test(test_token_ttl),
		cmocka_unit_test(test_imdsv2_rules),
		cmocka_unit_test(test_tokens_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
