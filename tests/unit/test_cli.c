/* Unit tests for the CLI's people-facing helpers: sizes, ages, durations,
 * timestamps, tables, flag parsing, SSH keys and argv, phase lines, paths
 * and API error mapping. No server, no network. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/client.h"
#include "cli/commands.h"
#include "cli/format.h"
#include "cli/ssh.h"
#include "cli/table.h"
#include "cli/wait.h"
#include "util/fs.h"
#include "util/str.h"

#define assert_fmt(call, expected)                 \
	do {                                       \
		char *s_ = (call);                 \
		assert_string_equal(s_, expected); \
		free(s_);                          \
	} while (0)

static void test_fmt_mib(void **state)
{
	(void)state;
	assert_fmt(fmt_mib(256), "256M");
	assert_fmt(fmt_mib(512), "512M");
	assert_fmt(fmt_mib(1000), "1000M");
	assert_fmt(fmt_mib(1024), "1G");
	assert_fmt(fmt_mib(1536), "1.5G");
	assert_fmt(fmt_mib(8192), "8G");
	assert_fmt(fmt_mib(23000), "22.5G");
	assert_fmt(fmt_mib(200 * 1024), "200G");
	assert_fmt(fmt_mib(2 * 1024 * 1024), "2T");
	assert_fmt(fmt_mib(0), "0M");
	assert_fmt(fmt_mib(-1), "-");
}

static void test_fmt_bytes(void **state)
{
	(void)state;
	assert_fmt(fmt_bytes(0), "0B");
	assert_fmt(fmt_bytes(1023), "1023B");
	assert_fmt(fmt_bytes(1024), "1K");
	assert_fmt(fmt_bytes(52428800), "50M");
	assert_fmt(fmt_bytes(48234496), "46M");
	assert_fmt(fmt_bytes(1288490189), "1.2G");
	assert_fmt(fmt_bytes(123LL * 1024 * 1024 + 400000), "123M");
	/* 1023.96 M rounds to 1024 M: shown as the next unit. */
	assert_fmt(fmt_bytes(1024LL * 1024 * 1024 - 40000), "1G");
	assert_fmt(fmt_bytes(-5), "-");
}

static void test_fmt_age(void **state)
{
	(void)state;
	assert_fmt(fmt_age(0), "0s");
	assert_fmt(fmt_age(5), "5s");
	assert_fmt(fmt_age(59), "59s");
	assert_fmt(fmt_age(60), "1m");
	assert_fmt(fmt_age(190), "3m");
	assert_fmt(fmt_age(7300), "2h");
	assert_fmt(fmt_age(4 * 86400 + 3600), "4d");
	assert_fmt(fmt_age(-30), "0s");
}

static void test_fmt_duration_and_price(void **state)
{
	(void)state;
	assert_fmt(fmt_duration_ms(850), "0.8s");
	assert_fmt(fmt_duration_ms(4120), "4.1s");
	assert_fmt(fmt_duration_ms(95000), "1m35s");
	assert_fmt(fmt_duration_ms(3720000), "1h2m");
	assert_fmt(fmt_price(0.0125), "0.0125");
	assert_fmt(fmt_price(0.1), "0.1000");
	assert_fmt(fmt_price(0.003125), "0.003125");
	assert_fmt(fmt_price(2), "2.0000");
}

static void test_fmt_rfc3339(void **state)
{
	(void)state;
	int64_t ms = 0;
	assert_true(fmt_parse_rfc3339("1970-01-01T00:00:01Z", &ms));
	assert_int_equal(ms, 1000);
	assert_true(fmt_parse_rfc3339("2026-11-26T16:05:39.120Z", &ms));
	assert_int_equal(ms, 1795709139120LL);
	assert_true(fmt_parse_rfc3339("2026-11-26T18:05:39.12+02:00", &ms));
	assert_int_equal(ms, 1795709139120LL);
	assert_true(fmt_parse_rfc3339("2026-11-26T16:05:39.123456789Z", &ms));
	assert_int_equal(ms, 1795709139123LL);
	assert_false(fmt_parse_rfc3339("2026-11-26 16:05", &ms));
	assert_false(fmt_parse_rfc3339("2026-11-26T16:05:39", &ms)); /* no zone */
	assert_false(fmt_parse_rfc3339("2026-13-26T16:05:39Z", &ms));
	assert_false(fmt_parse_rfc3339("", &ms));
	assert_false(fmt_parse_rfc3339(NULL, &ms));
	assert_fmt(fmt_age_since("2026-11-26T16:05:39Z", 1795709139000LL + 190000), "3m");
	assert_fmt(fmt_age_since(NULL, 0), "-");
	assert_fmt(fmt_age_since("yesterday", 0), "-");
}

static void test_table_aligns_columns(void **state)
{
	(void)state;
	const char *h[] = {"NAME", "STATE", "VCPUS", "IP"};
	struct table *t = table_new(4, h);
	table_align_right(t, 2);
	const char *r1[] = {"web1", "running", "1", "10.77.12.5"};
	const char *r2[] = {"database", "stopped", "16", NULL};
	table_add_row(t, r1);
	table_add_row(t, r2);
	assert_int_equal(table_rows(t), 2);
	assert_fmt(table_render(t),
		   "NAME       STATE     VCPUS   IP\n"
		   "web1       running       1   10.77.12.5\n"
		   "database   stopped      16   -\n");
	table_free(t);
	table_free(NULL);
}

static void test_table_counts_utf8_characters(void **state)
{
	(void)state;
	const char *h[] = {"A", "B"};
	struct table *t = table_new(2, h);
	const char *r1[] = {"caf\xc3\xa9", "x"};
	const char *r2[] = {"tea", "y"};
	table_add_row(t, r1);
	table_add_row(t, r2);
	assert_fmt(table_render(t), "A      B\ncaf\xc3\xa9   x\ntea    y\n");
	table_free(t);
}

static const struct arg_flag t_flags[] = {
	{"type", 0, ARG_VALUE, "T", "type"},
	{"wait", 0, ARG_BOOL, NULL, "wait"},
	{"identity", 'i', ARG_VALUE, "KEY", "key"},
	{NULL, 0, 0, NULL, NULL},
};
static const struct arg_flag t_global[] = {
	{"socket", 0, ARG_VALUE, "PATH", "socket"},
	{NULL, 0, 0, NULL, NULL},
};
static const struct arg_flag *const t_tables[] = {t_flags, t_global, NULL};

static int parse(struct args *a, enum args_mode mode, struct err *e, ...)
{
	char *argv[32];
	int argc = 0;
	va_list ap;
	va_start(ap, e);
	for (char *s; (s = va_arg(ap, char *));)
		argv[argc++] = s;
	va_end(ap);
	static char *keep[32];
	memcpy(keep, argv, sizeof(argv));
	return args_parse(argc, keep, t_tables, mode, a, e);
}

static void test_args_flags_anywhere(void **state)
{
	(void)state;
	struct args a;
	struct err e = {0};
	assert_int_equal(parse(&a, ARGS_INTERLEAVED, &e, "--wait", "web1", "--type=large", "--socket", "/s",
			       "--type", "small", NULL), 0);
	assert_int_equal(a.npos, 1);
	assert_string_equal(a.pos[0], "web1");
	assert_true(args_has(&a, "wait"));
	assert_string_equal(args_value(&a, "type"), "small"); /* last wins */
	assert_string_equal(args_value(&a, "socket"), "/s");
	assert_null(args_value(&a, "identity"));
	assert_false(a.help);
	args_free(&a);
}

static void test_args_short_flags_and_rest(void **state)
{
	(void)state;
	struct args a;
	struct err e = {0};
	assert_int_equal(parse(&a, ARGS_REST, &e, "web1", "-i", "k1", "-ik2", "--", "uname", "-a", NULL), 0);
	assert_string_equal(args_value(&a, "identity"), "k2");
	assert_int_equal(a.npos, 1);
	assert_true(a.has_rest);
	assert_int_equal(a.nrest, 2);
	assert_string_equal(a.rest[0], "uname");
	assert_string_equal(a.rest[1], "-a");
	args_free(&a);

	/* Without ARGS_REST, words after -- are positionals, even if they look like flags. */
	assert_int_equal(parse(&a, ARGS_INTERLEAVED, &e, "--", "-odd-name", NULL), 0);
	assert_int_equal(a.npos, 1);
	assert_string_equal(a.pos[0], "-odd-name");
	assert_false(a.has_rest);
	args_free(&a);
}

static void test_args_errors(void **state)
{
	(void)state;
	struct args a;
	struct err e = {0};
	assert_true(parse(&a, ARGS_INTERLEAVED, &e, "--bogus", NULL) < 0);
	assert_string_equal(e.msg, "unknown flag --bogus");
	args_free(&a);
	assert_true(parse(&a, ARGS_INTERLEAVED, &e, "--bogus=1", NULL) < 0);
	assert_string_equal(e.msg, "unknown flag --bogus");
	args_free(&a);
	assert_true(parse(&a, ARGS_INTERLEAVED, &e, "-x", NULL) < 0);
	assert_string_equal(e.msg, "unknown flag -x");
	args_free(&a);
	assert_true(parse(&a, ARGS_INTERLEAVED, &e, "web1", "--type", NULL) < 0);
	assert_string_equal(e.msg, "flag --type needs a value T");
	args_free(&a);
	assert_true(parse(&a, ARGS_INTERLEAVED, &e, "--type=", NULL) < 0);
	assert_string_equal(e.msg, "flag --type needs a value T, not an empty string");
	args_free(&a);
	assert_true(parse(&a, ARGS_INTERLEAVED, &e, "--wait=yes", NULL) < 0);
	assert_string_equal(e.msg, "flag --wait takes no value");
	args_free(&a);
	assert_int_equal(e.kind, ERR_INVALID);
}

static void test_args_help_and_stop_at_word(void **state)
{
	(void)state;
	struct args a;
	struct err e = {0};
	assert_int_equal(parse(&a, ARGS_INTERLEAVED, &e, "web1", "-h", NULL), 0);
	assert_true(a.help);
	args_free(&a);
	assert_int_equal(parse(&a, ARGS_STOP_AT_WORD, &e, "--socket", "/s", "vm", "list", "--wait", NULL), 0);
	assert_int_equal(a.next, 2);
	assert_int_equal(a.npos, 0);
	assert_string_equal(args_value(&a, "socket"), "/s");
	args_free(&a);
}

static void test_args_describe(void **state)
{
	(void)state;
	const struct arg_flag *const tables[] = {t_flags, NULL};
	assert_fmt(args_describe(tables),
		   "      --type T         type\n"
		   "      --wait           wait\n"
		   "  -i, --identity KEY   key\n"
		   "  -h, --help           show this help\n");
}

static void test_ssh_pubkey_check(void **state)
{
	(void)state;
	struct err e = {0};
	assert_int_equal(ssh_pubkey_check("ssh-ed25519 AAAAC3Nza me@host\n", &e), 1);
	assert_int_equal(ssh_pubkey_check("# mine\n\necdsa-sha2-nistp256 AAAAE2 a\nsk-ssh-ed25519@openssh.com AAAA b\n", &e), 2);
	assert_true(ssh_pubkey_check("-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl\n", &e) < 0);
	assert_string_equal(e.msg, "it is a private key; pass the public key (the .pub file)");
	assert_true(ssh_pubkey_check("hello\n", &e) < 0);
	assert_string_equal(e.msg, "not an OpenSSH public key (a line should start with ssh-, ecdsa- or sk-)");
	assert_true(ssh_pubkey_check("ssh-ed25519\n", &e) < 0);
	assert_true(ssh_pubkey_check("", &e) < 0);
	assert_string_equal(e.msg, "the file holds no key");
}

static char tmpdir[64];

static int make_tmpdir(void **state)
{
	(void)state;
	strcpy(tmpdir, "/tmp/nubo-test-cli-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state)
{
	(void)state;
	return fs_rm_rf(tmpdir, NULL);
}

static void write_file(const char *path, const char *text)
{
	assert_int_equal(fs_write_atomic(path, text, strlen(text), 0600, NULL), 0);
}

static void test_ssh_pubkey_read(void **state)
{
	(void)state;
	autofree char *pub = xasprintf("%s/k.pub", tmpdir);
	write_file(pub, "ssh-ed25519 AAAAC3Nza me@host\n\nssh-rsa AAAAB3 other\n");
	char **keys = NULL;
	char *abs = NULL;
	struct err e = {0};
	assert_int_equal(chdir(tmpdir), 0);
	assert_int_equal(ssh_pubkey_read("k.pub", &keys, &abs, &e), 0);
	assert_string_equal(abs, pub);
	assert_string_equal(keys[0], "ssh-ed25519 AAAAC3Nza me@host");
	assert_string_equal(keys[1], "ssh-rsa AAAAB3 other");
	assert_null(keys[2]);
	ssh_keys_free(keys);
	free(abs);

	assert_true(ssh_pubkey_read("missing.pub", &keys, &abs, &e) < 0);
	assert_string_equal(e.msg, "cannot read SSH key missing.pub: No such file or directory");
	assert_null(keys);
	assert_null(abs);
	write_file("priv", "-----BEGIN OPENSSH PRIVATE KEY-----\nxx\n");
	assert_true(ssh_pubkey_read("priv", &keys, &abs, &e) < 0);
	assert_string_equal(e.msg, "cannot read SSH key priv: it is a private key; pass the public key (the .pub file)");
	assert_true(ssh_pubkey_read(".", &keys, &abs, &e) < 0);
	assert_string_equal(e.msg, "cannot read SSH key .: Is a directory");
	assert_int_equal(chdir("/"), 0);
}

static void test_ssh_config_dir_and_identity(void **state)
{
	(void)state;
	setenv("XDG_CONFIG_HOME", tmpdir, 1);
	autofree char *dir = ssh_config_dir();
	autofree char *want = xasprintf("%s/nubo", tmpdir);
	assert_string_equal(dir, want);
	setenv("XDG_CONFIG_HOME", "relative/ignored", 1);
	setenv("HOME", "/home/ann", 1);
	assert_fmt(ssh_config_dir(), "/home/ann/.config/nubo");
	unsetenv("XDG_CONFIG_HOME");
	assert_fmt(ssh_config_dir(), "/home/ann/.config/nubo");

	autofree char *own = xasprintf("%s/own", tmpdir);
	autofree char *vm_priv = xasprintf("%s/vmkey", tmpdir);
	autofree char *vm_pub = xasprintf("%s/vmkey.pub", tmpdir);
	/* -i wins; then the VM's key file without .pub if it exists; then nubo's own key; else none. */
	assert_fmt(ssh_choose_identity("/x/explicit", vm_pub, own), "/x/explicit");
	assert_null(ssh_choose_identity(NULL, vm_pub, own));
	write_file(own, "k");
	assert_fmt(ssh_choose_identity(NULL, vm_pub, own), own);
	write_file(vm_priv, "k");
	assert_fmt(ssh_choose_identity(NULL, vm_pub, own), vm_priv);
	assert_fmt(ssh_choose_identity(NULL, vm_priv, own), own); /* not a .pub: not used */
	assert_fmt(ssh_choose_identity(NULL, NULL, own), own);
}

static void test_ssh_argv(void **state)
{
	(void)state;
	struct ssh_target t = {"/k/id", "/c/known_hosts", "vm-3f9a1c0b2d4e", "root", "10.77.12.5"};
	char *cmd[] = {"uname", "-a"};
	char **argv = ssh_argv(&t, cmd, 2);
	struct sbuf b = {0};
	for (size_t i = 0; argv[i]; i++)
		sbuf_addf(&b, "%s%s", i ? " " : "", argv[i]);
	char *line = sbuf_take(&b);
	assert_string_equal(line,
			    "ssh -i /k/id -o StrictHostKeyChecking=accept-new -o UserKnownHostsFile=/c/known_hosts "
			    "-o HostKeyAlias=vm-3f9a1c0b2d4e -o HashKnownHosts=no -o LogLevel=ERROR -o ConnectTimeout=10 "
			    "root@10.77.12.5 uname -a");
	free(line);
	ssh_argv_free(argv);

	t.identity = NULL;
	argv = ssh_argv(&t, NULL, 0);
	assert_string_equal(argv[1], "-o");
	assert_string_equal(argv[13], "root@10.77.12.5");
	assert_null(argv[14]);
	ssh_argv_free(argv);
}

/* A deleted VM's host keys go; every other line stays as it was. */
static void test_known_hosts_without(void **state)
{
	(void)state;
	const char *text = "vm-3f9a1c0b2d4e ssh-ed25519 AAAA1\n"
			   "vm-aaaaaaaaaaaa ssh-ed25519 AAAA2\n"
			   "# a comment naming vm-3f9a1c0b2d4e\n"
			   "vm-3f9a1c0b2d4e ecdsa-sha2-nistp256 AAAA3\n"
			   "10.0.0.1,vm-3f9a1c0b2d4e ssh-ed25519 AAAA4\n"
			   "vm-3f9a1c0b2d4ee ssh-ed25519 AAAA5\n"
			   "vm-3f9a1c0b2d4e";
	char *kept = ssh_known_hosts_without(text, "vm-3f9a1c0b2d4e");
	assert_string_equal(kept, "vm-aaaaaaaaaaaa ssh-ed25519 AAAA2\n"
				  "# a comment naming vm-3f9a1c0b2d4e\n"
				  "vm-3f9a1c0b2d4ee ssh-ed25519 AAAA5\n");
	free(kept);
	kept = ssh_known_hosts_without("", "vm-1");
	assert_string_equal(kept, "");
	free(kept);
	kept = ssh_known_hosts_without("a b\n", "");
	assert_string_equal(kept, "a b\n");
	free(kept);
}

/* Following an operation holds each request until the revision we have is
 * passed; a nubod without revisions is polled plainly. */
static void test_wait_poll_path(void **state)
{
	(void)state;
	json_t *op = json_pack("{s:s, s:s}", "id", "op-0a1b2c3d4e5f", "revision", "0123456789abcdef");
	assert_fmt(wait_poll_path("/v1/operations/op-0a1b2c3d4e5f", op),
		   "/v1/operations/op-0a1b2c3d4e5f?wait=30&after=0123456789abcdef");
	json_object_set_new(op, "revision", json_string("a&b c"));   /* never sent raw into the query */
	assert_fmt(wait_poll_path("/v1/operations/x", op), "/v1/operations/x?wait=30&after=a%26b%20c");
	json_object_del(op, "revision");
	assert_fmt(wait_poll_path("/v1/operations/x", op), "/v1/operations/x");
	json_decref(op);
}

static void test_wait_phase_lines(void **state)
{
	(void)state;
	assert_fmt(wait_phase_line("scheduled", 2), "  scheduled   0.00s");
	assert_fmt(wait_phase_line("ssh-ready", 4120), "  ssh-ready   4.12s");
	assert_fmt(wait_phase_line("boot", 12345), "  boot       12.35s");
	assert_string_equal(wait_next_phase("create", 0), "scheduled");
	assert_string_equal(wait_next_phase("create", 3), "ssh-ready");
	assert_null(wait_next_phase("create", 4));
	assert_string_equal(wait_next_phase("reboot", 2), "boot");
	assert_null(wait_next_phase("image-build", 1));   /* the recipe's own steps come first */
	assert_fmt(wait_phase_line("kernel: 812/2400 files", 95210), "  kernel: 812/2400 files  95.21s");
	assert_fmt(wait_phase_line("kernel: 1812/2400 files", 195210), "  kernel: 1812/2400 files 195.21s");
	assert_null(wait_next_phase("resize", 0));
	assert_null(wait_next_phase(NULL, 0));

	json_t *op = json_pack("{s:[{s:s,s:i},{s:s,s:i}]}", "phases", "name", "a", "at_ms", 5, "name", "b",
			       "at_ms", 4120);
	assert_int_equal(wait_op_elapsed_ms(op), 4120);
	json_decref(op);
	op = json_pack("{s:[], s:s, s:s}", "phases", "created_at", "2026-11-26T16:05:39.120Z", "finished_at",
		       "2026-11-26T16:05:40.000Z");
	assert_int_equal(wait_op_elapsed_ms(op), 880);
	json_decref(op);
	op = json_pack("{s:s}", "created_at", "2026-11-26T16:05:39.120Z");
	assert_int_equal(wait_op_elapsed_ms(op), -1);
	json_decref(op);
}

static void test_client_paths(void **state)
{
	(void)state;
	assert_fmt(client_escape("web1"), "web1");
	assert_fmt(client_escape("a b/c?d%"), "a%20b%2Fc%3Fd%25");
	assert_fmt(client_path("/v1/vms/%s/console", "we b"), "/v1/vms/we%20b/console");
	assert_fmt(client_path("/v1/operations/%s", "op-0a1b"), "/v1/operations/op-0a1b");
}

static void test_client_errors(void **state)
{
	(void)state;
	struct err e = {0};
	char body[] = "{\"error\": {\"code\": \"not_found\", \"message\": \"type \\\"huge\\\" does not exist\"}}";
	struct client_response r = {404, body, sizeof(body) - 1};
	assert_true(client_error_from_response(&r, &e) < 0);
	assert_int_equal(e.kind, ERR_NOT_FOUND);
	assert_string_equal(e.msg, "type \"huge\" does not exist");

	char cap[] = "{\"error\": {\"code\": \"insufficient_capacity\", \"message\": \"needs 4 vCPUs, 2 free\"}}";
	r = (struct client_response){507, cap, sizeof(cap) - 1};
	client_error_from_response(&r, &e);
	assert_int_equal(e.kind, ERR_CAPACITY);

	char html[] = "<html>Bad Gateway</html>\nmore";
	r = (struct client_response){502, html, sizeof(html) - 1};
	client_error_from_response(&r, &e);
	assert_int_equal(e.kind, ERR_INTERNAL);
	assert_string_equal(e.msg, "nubod answered HTTP 502: <html>Bad Gateway</html>");

	r = (struct client_response){409, NULL, 0};
	client_error_from_response(&r, &e);
	assert_int_equal(e.kind, ERR_CONFLICT);
	assert_string_equal(e.msg, "nubod answered HTTP 409");
}

static void test_help_lists_every_verb(void **state)
{
	(void)state;
	char *help = commands_help();
	/* Every noun the CLI dispatches to, each of those defined in commands.h. */
	const struct cli_noun *known[] = {&vm_noun,	 &image_noun,	&volume_noun,	 &snapshot_noun,  &network_noun,
					  &firewall_noun,  &lb_noun,	&group_noun,	 &type_noun,	 &host_noun,	  &usage_noun,	  &budget_noun,	 &operation_noun,
					  &token_noun,	 &events_noun,	&stack_noun,	 &profile_noun,	  &completion_noun,
					  &version_noun,   &openapi_noun};
	const struct cli_noun *const *nouns = commands_nouns();
	size_t n = 0;
	for (; nouns[n]; n++)
		;
	assert_int_equal(n, sizeof(known) / sizeof(known[0]));
	for (size_t i = 0; i < n; i++) {
		assert_ptr_equal(nouns[i], known[i]);
		size_t verbs = 0;
		for (const struct cli_verb *v = nouns[i]->verbs; v->name; v++, verbs++) {
			/* a one-word command (direct) is listed by its noun alone */
			autofree char *cmd = commands_noun_alone(nouns[i]) ? xasprintf("  %s ", nouns[i]->name)
								       : xasprintf("  %s %s ", nouns[i]->name, v->name);
			if (!strstr(help, cmd))
				fail_msg("help does not list \"%s\"", cmd + 2);
			assert_non_null(v->run);
			assert_true(v->min_pos <= v->max_pos);
		}
		assert_true(verbs > 0);
	}
	assert_non_null(strstr(help, "--socket PATH"));
	free(help);
}

static void test_events_line(void **state)
{
	(void)state;
	json_t *ev = json_pack("{s:I, s:s, s:s, s:s, s:s}", "seq", (json_int_t)42, "at", "2026-01-02T03:04:05.678Z", "kind",
			       "vm", "name", "web1", "what", "state: pending→running");
	char *s = events_line(ev);
	assert_string_equal(s, "    42  2026-01-02T03:04:05.678Z  vm        web1: state: pending→running");
	free(s);
	json_object_set_new(ev, "name", json_string(""));
	json_object_del(ev, "what");
	s = events_line(ev);
	assert_string_equal(s, "    42  2026-01-02T03:04:05.678Z  vm        -");
	free(s);
	json_decref(ev);
	/* `nubo events` is a command of one word: listed so, and its help says so */
	char *help = commands_help();
	assert_non_null(strstr(help, "\n  events "));
	free(help);
	char buf[4096] = "";
	FILE *out = fmemopen(buf, sizeof(buf) - 1, "w");
	char *argv[] = {"nubo", "events", "--help", NULL};
	assert_int_equal(cli_run(3, argv, out, stderr), 0);
	fclose(out);
	assert_true(strncmp(buf, "Usage: nubo events [--follow] [--kind K]", 40) == 0);
}

static void test_progress_note(void **state)
{
	(void)state;
	json_t *op = json_pack("{s:{s:I, s:I}}", "progress", "done_bytes", (json_int_t)(50 << 20), "total_bytes",
			       (json_int_t)(200 << 20));
	char *s = wait_progress_note(op);
	assert_string_equal(s, "[#####...............]  25%  50M of 200M");
	free(s);
	json_decref(op);
	op = json_pack("{s:n}", "progress");
	assert_null(wait_progress_note(op));
	json_decref(op);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fmt_mib),
		cmocka_unit_test(test_fmt_bytes),
		cmocka_unit_test(test_fmt_age),
		cmocka_unit_test(test_fmt_duration_and_price),
		cmocka_unit_test(test_fmt_rfc3339),
		cmocka_unit_test(test_table_aligns_columns),
		cmocka_unit_test(test_table_counts_utf8_characters),
		cmocka_unit_test(test_args_flags_anywhere),
		cmocka_unit_test(test_args_short_flags_and_rest),
		cmocka_unit_test(test_args_errors),
		cmocka_unit_test(test_args_help_and_stop_at_word),
		cmocka_unit_test(test_args_describe),
		cmocka_unit_test(test_ssh_pubkey_check),
		cmocka_unit_test_setup_teardown(test_ssh_pubkey_read, make_tmpdir, remove_tmpdir),
		cmocka_unit_test_setup_teardown(test_ssh_config_dir_and_identity, make_tmpdir, remove_tmpdir),
		cmocka_unit_test(test_ssh_argv),
		cmocka_unit_test(test_known_hosts_without),
		cmocka_unit_test(test_wait_phase_lines),
		cmocka_unit_test(test_wait_poll_path),
		cmocka_unit_test(test_client_paths),
		cmocka_unit_test(test_client_errors),
		cmocka_unit_test(test_help_lists_every_verb),
		cmocka_unit_test(test_progress_note),
		cmocka_unit_test(test_events_line),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
