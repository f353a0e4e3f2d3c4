/* Unit tests for API tokens: the secret's format, its hash, the constant-time
 * comparison, and what a token's JSON shows (never the hash). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "model/token.h"
#include "util/secret.h"
#include "util/str.h"

static void test_secret_new_has_the_format(void **state)
{
	(void)state;
	char a[SECRET_LEN + 1], b[SECRET_LEN + 1];
	secret_new(a);
	secret_new(b);
	assert_int_equal(strlen(a), 69);
	assert_true(str_starts_with(a, "nubo_"));
	assert_true(secret_well_formed(a));
	assert_true(secret_well_formed(b));
	assert_string_not_equal(a, b);
	/* 64 lowercase hex digits after the prefix */
	assert_int_equal(strspn(a + 5, "0123456789abcdef"), 64);
}

static void test_secret_well_formed_rejects(void **state)
{
	(void)state;
	char good[SECRET_LEN + 1];
	secret_new(good);
	char bad[SECRET_LEN + 2];

	assert_false(secret_well_formed(NULL));
	assert_false(secret_well_formed(""));
	assert_false(secret_well_formed("nubo_"));
	memcpy(bad, good, sizeof(good));
	bad[0] = 'N';                               /* prefix is case-sensitive */
	assert_false(secret_well_formed(bad));
	memcpy(bad, good, sizeof(good));
	bad[SECRET_LEN - 1] = '\0';                 /* one digit short */
	assert_false(secret_well_formed(bad));
	memcpy(bad, good, sizeof(good));
	bad[SECRET_LEN] = 'a';                      /* one digit long */
	bad[SECRET_LEN + 1] = '\0';
	assert_false(secret_well_formed(bad));
	memcpy(bad, good, sizeof(good));
	bad[10] = 'A';                              /* uppercase hex */
	assert_false(secret_well_formed(bad));
	memcpy(bad, good, sizeof(good));
	bad[20] = 'g';                              /* not hex */
	assert_false(secret_well_formed(bad));
	memcpy(bad, good, sizeof(good));
	memcpy(bad, "tok__", 5);                    /* another prefix */
	assert_false(secret_well_formed(bad));
}

static void test_secret_hash_is_sha256_hex(void **state)
{
	(void)state;
	char h[SECRET_HASH_LEN + 1];
	secret_hash("abc", h);   /* FIPS 180-2 test vector */
	assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	secret_hash("", h);
	assert_string_equal(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

	char s[SECRET_LEN + 1], h1[SECRET_HASH_LEN + 1], h2[SECRET_HASH_LEN + 1];
	secret_new(s);
	secret_hash(s, h1);
	secret_hash(s, h2);
	assert_string_equal(h1, h2);
	assert_null(strstr(h1, s + 5));   /* the hash does not carry the secret */
	s[SECRET_LEN - 1] = s[SECRET_LEN - 1] == '0' ? '1' : '0';
	secret_hash(s, h2);
	assert_string_not_equal(h1, h2);
}

static void test_secret_hash_equal(void **state)
{
	(void)state;
	char a[SECRET_HASH_LEN + 1], b[SECRET_HASH_LEN + 1];
	secret_hash("one", a);
	memcpy(b, a, sizeof(a));
	assert_true(secret_hash_equal(a, b));
	b[0] = b[0] == 'a' ? 'b' : 'a';
	assert_false(secret_hash_equal(a, b));
	memcpy(b, a, sizeof(a));
	b[SECRET_HASH_LEN - 1] = b[SECRET_HASH_LEN - 1] == 'a' ? 'b' : 'a';
	assert_false(secret_hash_equal(a, b));
	memcpy(b, a, sizeof(a));
	b[SECRET_HASH_LEN - 1] = '\0';   /* a prefix of a valid hash is not that hash */
	assert_false(secret_hash_equal(a, b));
	assert_false(secret_hash_equal(b, b));
	assert_false(secret_hash_equal("", ""));
	assert_false(secret_hash_equal(NULL, a));
	assert_false(secret_hash_equal(a, NULL));
}

static void test_token_json_hides_the_hash(void **state)
{
	(void)state;
	struct token t = {.id = "tok-0123456789ab", .name = "ci-bot", .created_at = 1764184800000};
	secret_hash("nubo_whatever", t.hash);
	json_t *j = token_to_json(&t);
	assert_string_equal(json_string_value(json_object_get(j, "id")), "tok-0123456789ab");
	assert_string_equal(json_string_value(json_object_get(j, "name")), "ci-bot");
	assert_string_equal(json_string_value(json_object_get(j, "created_at")), "2025-11-26T19:20:00Z");
	assert_true(json_is_null(json_object_get(j, "last_used_at")));
	char *text = json_dumps(j, 0);
	assert_null(strstr(text, t.hash));
	assert_null(strstr(text, "hash"));
	assert_null(strstr(text, "secret"));
	free(text);
	json_decref(j);

	t.last_used_at = 1764184860000;
	j = token_to_json(&t);
	assert_string_equal(json_string_value(json_object_get(j, "last_used_at")), "2025-11-26T19:21:00Z");
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_secret_new_has_the_format),
		cmocka_unit_test(test_secret_well_formed_rejects),
		cmocka_unit_test(test_secret_hash_is_sha256_hex),
		cmocka_unit_test(test_secret_hash_equal),
		cmocka_unit_test(test_token_json_hides_the_hash),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
