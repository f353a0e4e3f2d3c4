/* Unit tests for the nubo commands end to end: cli_run() against a fake
 * nubod, a thread that answers scripted requests on a unix socket in a
 * temporary directory (no network, no root). Each test checks what was sent
 * (method, path, body, headers), what was printed and the exit code. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli/cli.h"
#include "util/fs.h"
#include "util/str.h"
#include "util/timeutil.h"

/* One expected request and its answer. */
struct canned {
	const char *request; /* "POST /v1/vms" */
	int status;
	const char *body;
	const char *content_type; /* NULL: application/json */
};

struct fake {
	char dir[64];
	char sock[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int lfd;
	pthread_t thread;
	const struct canned *script;
	size_t nscript, next;
	pthread_mutex_t lock;
	/* What arrived: "METHOD PATH\n" per request, and the last body and Authorization. */
	struct sbuf requests;
	char *last_body[16];
	char *last_auth;
	size_t nreq;
};

static struct fake fk;

static char *read_request(int fd, char **auth, char **body)
{
	struct sbuf b = {0};
	char buf[4096];
	char *end = NULL;
	while (!(end = b.data ? strstr(b.data, "\r\n\r\n") : NULL)) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		sbuf_addn(&b, buf, (size_t)n);
	}
	if (!end) {
		sbuf_free(&b);
		return NULL;
	}
	size_t head_len = (size_t)(end - b.data) + 4;
	size_t clen = 0;
	const char *cl = strcasestr(b.data, "\r\nContent-Length:");
	if (cl && cl < end)
		clen = strtoul(cl + 17, NULL, 10);
	const char *au = strcasestr(b.data, "\r\nAuthorization: ");
	*auth = au && au < end ? xstrndup(au + 17, strcspn(au + 17, "\r")) : NULL;
	while (b.len < head_len + clen) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		sbuf_addn(&b, buf, (size_t)n);
	}
	*body = xstrndup(b.data + head_len, clen);
	/* "METHOD PATH" from the request line. */
	char *line = xstrndup(b.data, strcspn(b.data, "\r"));
	char *sp = strrchr(line, ' ');
	if (sp)
		*sp = '\0';
	sbuf_free(&b);
	return line;
}

static void *serve(void *arg)
{
	(void)arg;
	for (;;) {
		int fd = accept(fk.lfd, NULL, NULL);
		if (fd < 0)
			return NULL;
		char *auth = NULL, *body = NULL;
		char *req = read_request(fd, &auth, &body);
		if (!req) {
			close(fd);
			continue;
		}
		pthread_mutex_lock(&fk.lock);
		sbuf_addf(&fk.requests, "%s\n", req);
		if (fk.nreq < 16)
			fk.last_body[fk.nreq] = xstrdup(body);
		fk.nreq++;
		free(fk.last_auth);
		fk.last_auth = auth;
		const struct canned *c = fk.next < fk.nscript ? &fk.script[fk.next++] : NULL;
		pthread_mutex_unlock(&fk.lock);
		autofree char *unexpected = NULL;
		int status = 500;
		const char *rbody, *ctype = "application/json";
		if (c && strcmp(c->request, req) == 0) {
			status = c->status;
			rbody = c->body;
			if (c->content_type)
				ctype = c->content_type;
		} else {
			unexpected = xasprintf("{\"error\":{\"code\":\"internal\",\"message\":\"fake: unexpected %s\"}}", req);
			rbody = unexpected;
		}
		autofree char *resp = xasprintf("HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
						"Connection: close\r\n\r\n%s",
						status, ctype, strlen(rbody), rbody);
		ssize_t w = write(fd, resp, strlen(resp));
		(void)w;
		close(fd);
		free(req);
		free(body);
	}
}

static void fake_start(const struct canned *script, size_t n)
{
	fk.script = script;
	fk.nscript = n;
	fk.next = 0;
	fk.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fk.lfd >= 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", fk.sock);
	unlink(fk.sock);
	assert_int_equal(bind(fk.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fk.lfd, 16), 0);
	assert_int_equal(pthread_create(&fk.thread, NULL, serve, NULL), 0);
}

static int setup(void **state)
{
	(void)state;
	memset(&fk, 0, sizeof(fk));
	pthread_mutex_init(&fk.lock, NULL);
	strcpy(fk.dir, "/tmp/nubo-test-cmd-XXXXXX");
	if (!mkdtemp(fk.dir))
		return -1;
	snprintf(fk.sock, sizeof(fk.sock), "%s/nubod.sock", fk.dir);
	setenv("XDG_CONFIG_HOME", fk.dir, 1);
	unsetenv("NUBO_SOCKET");
	unsetenv("NUBO_URL");
	unsetenv("NUBO_TOKEN");
	fk.lfd = -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (fk.lfd >= 0) {
		shutdown(fk.lfd, SHUT_RDWR);
		close(fk.lfd);
		pthread_join(fk.thread, NULL);
	}
	sbuf_free(&fk.requests);
	for (size_t i = 0; i < 16; i++)
		free(fk.last_body[i]);
	free(fk.last_auth);
	fs_rm_rf(fk.dir, NULL);
	return 0;
}

/* The requests the fake received so far, one "METHOD PATH" per line. */
static const char *requests(void)
{
	return fk.requests.data ? fk.requests.data : "";
}

struct run {
	int rc;
	char *out, *err;
};

static char *slurp(FILE *f)
{
	fflush(f);
	long n = ftell(f);
	rewind(f);
	char *s = xcalloc(1, (size_t)n + 1);
	size_t r = fread(s, 1, (size_t)n, f);
	s[r] = '\0';
	fclose(f);
	return s;
}

/* Runs `nubo --socket <fake> args...`. */
static struct run nubo(const char *first, ...)
{
	char *argv[32] = {"nubo", "--socket", fk.sock};
	int argc = 3;
	va_list ap;
	va_start(ap, first);
	for (const char *s = first; s; s = va_arg(ap, const char *))
		argv[argc++] = (char *)s;
	va_end(ap);
	FILE *out = tmpfile(), *err = tmpfile();
	struct run r;
	r.rc = cli_run(argc, argv, out, err);
	r.out = slurp(out);
	r.err = slurp(err);
	return r;
}

static void run_free(struct run *r)
{
	free(r->out);
	free(r->err);
}

static char *write_tmp(const char *name, const char *text)
{
	char *path = xasprintf("%s/%s", fk.dir, name);
	assert_int_equal(fs_write_atomic(path, text, strlen(text), 0600, NULL), 0);
	return path;
}

#define OP_RUNNING(kind) \
	"{\"id\":\"op-1\",\"kind\":\"" kind "\",\"target\":\"vm-1\",\"target_name\":\"web1\",\"state\":\"running\",\"error\":null,\"phases\":[]}"
#define VM_RUNNING \
	"{\"id\":\"vm-1\",\"name\":\"web1\",\"state\":\"running\",\"ip\":\"10.77.12.5\",\"ssh_user\":\"root\",\"type\":\"small\",\"image\":\"tiny\"}"

static void test_create_sends_key_and_user_data(void **state)
{
	(void)state;
	static const struct canned script[] = {
		{"POST /v1/vms", 202, "{\"vm\":" VM_RUNNING ",\"operation\":" OP_RUNNING("create") "}", NULL},
	};
	fake_start(script, 1);
	autofree char *key = write_tmp("me.pub", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI me@host\n");
	autofree char *ud = write_tmp("ud.sh", "#!/bin/sh\necho hi > /tmp/hi\n");
	struct run r = nubo("vm", "create", "web1", "--type", "medium", "--ssh-key", key, "--user-data", ud, NULL);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.err, "");
	assert_string_equal(r.out, "Creating VM web1 (vm-1): operation op-1\nFollow it with: nubo operation wait op-1\n");
	assert_string_equal(requests(), "POST /v1/vms\n");

	json_t *body = json_loads(fk.last_body[0], 0, NULL);
	assert_non_null(body);
	assert_int_equal(json_object_size(body), 5); /* no "image": nubod picks its default */
	assert_string_equal(json_string_value(json_object_get(body, "name")), "web1");
	assert_string_equal(json_string_value(json_object_get(body, "type")), "medium");
	assert_int_equal(json_array_size(json_object_get(body, "ssh_keys")), 1);
	assert_string_equal(json_string_value(json_array_get(json_object_get(body, "ssh_keys"), 0)),
			    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI me@host");
	assert_string_equal(json_string_value(json_object_get(body, "ssh_key_file")), key);
	assert_string_equal(json_string_value(json_object_get(body, "user_data")), "#!/bin/sh\necho hi > /tmp/hi\n");
	json_decref(body);
	run_free(&r);
}

/* `image import --url` is the image's URL; it must not redirect nubo to another nubod. */
static void test_import_url_is_the_images(void **state)
{
	(void)state;
	static const struct canned script[] = {
		{"POST /v1/images", 202,
		 "{\"image\":{\"id\":\"img-1\",\"name\":\"x\"},\"operation\":" OP_RUNNING("image-import") "}", NULL},
	};
	fake_start(script, 1);
	struct run r = nubo("image", "import", "x", "--url", "https://example.org/x.qcow2", "--sha256", "ab", NULL);
	assert_int_equal(r.rc, 0);
	assert_string_equal(requests(), "POST /v1/images\n");
	json_t *body = json_loads(fk.last_body[0], 0, NULL);
	assert_string_equal(json_string_value(json_object_get(body, "url")), "https://example.org/x.qcow2");
	assert_string_equal(json_string_value(json_object_get(body, "sha256")), "ab");
	assert_null(json_object_get(body, "file"));
	json_decref(body);
	run_free(&r);
}

static void test_create_with_bad_local_files_sends_nothing(void **state)
{
	(void)state;
	fake_start(NULL, 0);
	autofree char *priv = write_tmp("id", "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n");
	autofree char *big = xasprintf("%s/big", fk.dir);
	char *data = xcalloc(1, 70000);
	memset(data, 'a', 69999);
	assert_int_equal(fs_write_atomic(big, data, 69999, 0600, NULL), 0);
	free(data);

	struct run r = nubo("vm", "create", "web1", "--ssh-key", "/nonexistent/k.pub", NULL);
	assert_int_equal(r.rc, 2);
	assert_string_equal(r.err, "nubo: cannot read SSH key /nonexistent/k.pub: No such file or directory\n");
	assert_string_equal(r.out, "");
	run_free(&r);

	r = nubo("vm", "create", "web1", "--ssh-key", priv, NULL);
	assert_int_equal(r.rc, 2);
	autofree char *want = xasprintf("nubo: cannot read SSH key %s: it is a private key; pass the public key (the .pub file)\n", priv);
	assert_string_equal(r.err, want);
	run_free(&r);

	autofree char *key = write_tmp("me.pub", "ssh-ed25519 AAAA me\n");
	r = nubo("vm", "create", "web1", "--ssh-key", key, "--user-data", big, NULL);
	assert_int_equal(r.rc, 2);
	autofree char *want2 = xasprintf("nubo: cannot read user data %s: larger than 64 KiB\n", big);
	assert_string_equal(r.err, want2);
	run_free(&r);

	assert_string_equal(requests(), "");
}

static void test_create_makes_and_reuses_own_key(void **state)
{
	(void)state;
	if (access("/usr/bin/ssh-keygen", X_OK) != 0)
		skip();
	static const struct canned script[] = {
		{"POST /v1/vms", 202, "{\"vm\":" VM_RUNNING ",\"operation\":" OP_RUNNING("create") "}", NULL},
		{"POST /v1/vms", 202, "{\"vm\":" VM_RUNNING ",\"operation\":" OP_RUNNING("create") "}", NULL},
	};
	fake_start(script, 2);
	struct run r = nubo("vm", "create", "web1", NULL);
	assert_int_equal(r.rc, 0);
	run_free(&r);
	r = nubo("vm", "create", "web2", NULL);
	assert_int_equal(r.rc, 0);
	run_free(&r);

	autofree char *pub = xasprintf("%s/nubo/id_ed25519.pub", fk.dir);
	autofree char *priv = xasprintf("%s/nubo/id_ed25519", fk.dir);
	assert_true(fs_exists(priv));
	autofree char *text = NULL;
	assert_int_equal(fs_read_file(pub, 4096, &text, NULL, NULL), 0);
	str_rstrip(text);
	assert_true(str_starts_with(text, "ssh-ed25519 "));
	assert_true(str_ends_with(text, " nubo"));
	for (size_t i = 0; i < 2; i++) {
		json_t *body = json_loads(fk.last_body[i], 0, NULL);
		assert_string_equal(json_string_value(json_object_get(body, "ssh_key_file")), pub);
		assert_string_equal(json_string_value(json_array_get(json_object_get(body, "ssh_keys"), 0)), text);
		json_decref(body);
	}
}

static void test_create_wait_prints_phases(void **state)
{
	(void)state;
	static const struct canned script[] = {
		{"POST /v1/vms", 202,
		 "{\"vm\":" VM_RUNNING ",\"operation\":{\"id\":\"op-1\",\"kind\":\"create\",\"state\":\"running\","
		 "\"phases\":[{\"name\":\"scheduled\",\"at_ms\":2,\"duration_ms\":2}]}}", NULL},
		{"GET /v1/operations/op-1", 200,
		 "{\"id\":\"op-1\",\"kind\":\"create\",\"state\":\"running\",\"phases\":[{\"name\":\"scheduled\",\"at_ms\":2},"
		 "{\"name\":\"disk\",\"at_ms\":41}]}", NULL},
		{"GET /v1/operations/op-1", 200,
		 "{\"id\":\"op-1\",\"kind\":\"create\",\"state\":\"succeeded\",\"phases\":[{\"name\":\"scheduled\",\"at_ms\":2},"
		 "{\"name\":\"disk\",\"at_ms\":41},{\"name\":\"boot\",\"at_ms\":350},{\"name\":\"ssh-ready\",\"at_ms\":4120}]}", NULL},
		{"GET /v1/vms/web1", 200, VM_RUNNING, NULL},
	};
	fake_start(script, 4);
	autofree char *key = write_tmp("me.pub", "ssh-ed25519 AAAA me\n");
	struct run r = nubo("vm", "create", "--wait", "web1", "--ssh-key", key, NULL);
	assert_string_equal(r.err, "");
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.out,
			    "  scheduled   0.00s\n"
			    "  disk        0.04s\n"
			    "  boot        0.35s\n"
			    "  ssh-ready   4.12s\n"
			    "Created VM web1 (vm-1) in 4.1s: 10.77.12.5, ssh: nubo vm ssh web1\n");
	assert_string_equal(requests(), "POST /v1/vms\nGET /v1/operations/op-1\nGET /v1/operations/op-1\nGET /v1/vms/web1\n");
	run_free(&r);
}

static void test_wait_reports_failed_operation(void **state)
{
	(void)state;
	static const struct canned script[] = {
		{"POST /v1/vms/web1/start", 202, "{\"vm\":" VM_RUNNING ",\"operation\":" OP_RUNNING("start") "}", NULL},
		{"GET /v1/operations/op-1", 200,
		 "{\"id\":\"op-1\",\"kind\":\"start\",\"target_name\":\"web1\",\"state\":\"failed\","
		 "\"error\":\"qemu exited with status 1: could not open disk\","
		 "\"phases\":[{\"name\":\"scheduled\",\"at_ms\":3}]}", NULL},
	};
	fake_start(script, 2);
	struct run r = nubo("vm", "start", "web1", "--wait", NULL);
	assert_int_equal(r.rc, 1);
	assert_string_equal(r.out, "  scheduled   0.00s\n");
	assert_string_equal(r.err, "nubo: start web1 failed: qemu exited with status 1: could not open disk\n");
	run_free(&r);
}

static void test_api_error_is_printed(void **state)
{
	(void)state;
	static const struct canned script[] = {
		{"POST /v1/vms", 422,
		 "{\"error\":{\"code\":\"unprocessable\",\"message\":\"type \\\"huge\\\" does not exist; valid types: nano, micro, small, medium, large\"}}", NULL},
		{"GET /v1/vms/nope", 404, "{\"error\":{\"code\":\"not_found\",\"message\":\"VM \\\"nope\\\" does not exist\"}}", NULL},
	};
	fake_start(script, 2);
	autofree char *key = write_tmp("me.pub", "ssh-ed25519 AAAA me\n");
	struct run r = nubo("vm", "create", "web1", "--type", "huge", "--ssh-key", key, NULL);
	assert_int_equal(r.rc, 1);
	assert_string_equal(r.err, "nubo: type \"huge\" does not exist; valid types: nano, micro, small, medium, large\n");
	assert_string_equal(r.out, "");
	run_free(&r);
	r = nubo("vm", "show", "nope", "--json", NULL);
	assert_int_equal(r.rc, 1);
	assert_string_equal(r.err, "nubo: VM \"nope\" does not exist\n");
	run_free(&r);
}

static void test_type_list_table_and_json(void **state)
{
	(void)state;
	static const char types[] =
		"{\"types\":[{\"name\":\"nano\",\"vcpus\":1,\"memory_mib\":256,\"price_per_hour\":0.0031},"
		"{\"name\":\"small\",\"vcpus\":1,\"memory_mib\":1024,\"price_per_hour\":0.0125},"
		"{\"name\":\"large\",\"vcpus\":4,\"memory_mib\":8192,\"price_per_hour\":0.1}]}";
	static const struct canned script[] = {
		{"GET /v1/types", 200, types, NULL},
		{"GET /v1/types", 200, types, NULL},
	};
	fake_start(script, 2);
	struct run r = nubo("type", "list", NULL);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.out,
			    "NAME    VCPUS   MEMORY   PRICE/HOUR\n"
			    "nano        1     256M       0.0031\n"
			    "small       1       1G       0.0125\n"
			    "large       4       8G       0.1000\n");
	run_free(&r);
	r = nubo("type", "list", "--json", NULL);
	assert_int_equal(r.rc, 0);
	assert_true(str_starts_with(r.out, "{\n  \"types\": [\n    {\n      \"name\": \"nano\",\n"));
	assert_non_null(strstr(r.out, "\"price_per_hour\": 0.0125\n"));
	json_t *back = json_loads(r.out, 0, NULL);
	json_t *want = json_loads(types, 0, NULL);
	assert_true(json_equal(back, want));
	json_decref(back);
	json_decref(want);
	run_free(&r);
}

static void test_vm_list_shows_age_and_missing_ip(void **state)
{
	(void)state;
	char old[32], recent[32];
	time_format_rfc3339(time_now_ms() - 2 * 3600 * 1000 - 5000, old);
	time_format_rfc3339(time_now_ms() - 4 * 1000, recent);
	autofree char *vms = xasprintf(
		"{\"vms\":[{\"name\":\"db\",\"state\":\"stopped\",\"type\":\"large\",\"image\":\"debian-12\",\"ip\":\"10.77.12.9\",\"host\":\"h1\",\"created_at\":\"%s\",\"cost\":12.91},"
		"{\"name\":\"web1\",\"state\":\"pending\",\"type\":\"small\",\"image\":\"tiny\",\"ip\":null,\"created_at\":\"%s\"}]}",
		old, recent);
	/* The CLI asks for big pages and follows next_page_token. */
	const char *page2 = "{\"vms\":[]}";
	autofree char *page1 = xasprintf("%.*s,\"next_page_token\":\"web1\"}", (int)strlen(vms) - 1, vms);
	const struct canned script[] = {{"GET /v1/vms?limit=1000", 200, page1, NULL},
					{"GET /v1/vms?limit=1000&page_token=web1", 200, page2, NULL}};
	fake_start(script, 2);
	struct run r = nubo("vm", "list", NULL);
	assert_int_equal(r.rc, 0);
	/* The recent VM may be 4s or 5s old by the time the table is drawn;
	 * one without a cost (an older nubod) shows "-". */
	assert_true(str_starts_with(r.out,
				    "NAME   STATE     TYPE    IMAGE       IP           HOST   AGE      COST\n"
				    "db     stopped   large   debian-12   10.77.12.9   h1     2h    12.9100\n"
				    "web1   pending   small   tiny        -            -      "));
	assert_true(str_ends_with(r.out, "s          -\n"));
	run_free(&r);
}

static void test_actions_send_the_documented_requests(void **state)
{
	(void)state;
	static const struct canned script[] = {
		{"POST /v1/vms/web1/stop", 202, "{\"vm\":" VM_RUNNING ",\"operation\":" OP_RUNNING("stop") "}", NULL},
		{"POST /v1/vms/web1/stop", 202, "{\"vm\":" VM_RUNNING ",\"operation\":" OP_RUNNING("stop") "}", NULL},
		{"POST /v1/vms/web1/reboot", 202, "{\"vm\":" VM_RUNNING ",\"operation\":" OP_RUNNING("reboot") "}", NULL},
		{"DELETE /v1/vms/web1", 202, "{\"vm\":" VM_RUNNING ",\"operation\":" OP_RUNNING("delete") "}", NULL},
		{"POST /v1/vms/web1/start", 200,
		 "{\"vm\":" VM_RUNNING ",\"operation\":{\"id\":\"op-2\",\"kind\":\"start\",\"state\":\"succeeded\",\"phases\":[]}}", NULL},
	};
	fake_start(script, 5);
	struct run r = nubo("vm", "stop", "web1", "--force", NULL);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.out, "Stopping VM web1: operation op-1\nFollow it with: nubo operation wait op-1\n");
	run_free(&r);
	r = nubo("vm", "stop", "web1", NULL);
	run_free(&r);
	r = nubo("vm", "reboot", "web1", NULL);
	run_free(&r);
	r = nubo("vm", "delete", "web1", NULL);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.out, "Deleting VM web1: operation op-1\nFollow it with: nubo operation wait op-1\n");
	run_free(&r);
	r = nubo("vm", "start", "web1", "--wait", NULL);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.out, "VM web1 is already running\n");
	run_free(&r);
	assert_string_equal(requests(), "POST /v1/vms/web1/stop\nPOST /v1/vms/web1/stop\nPOST /v1/vms/web1/reboot\n"
					"DELETE /v1/vms/web1\nPOST /v1/vms/web1/start\n");
	assert_string_equal(fk.last_body[0], "{\"force\":true}");
	assert_string_equal(fk.last_body[1], "");
	assert_string_equal(fk.last_body[2], "");
}

#define VOL(state) "{\"id\":\"vol-1\",\"name\":\"data\",\"state\":\"" state "\",\"operation\":\"op-7\"}"
#define VOL_OP(state) "{\"id\":\"op-7\",\"kind\":\"volume-create\",\"state\":\"" state "\",\"phases\":[]}"
#define ATTACHED "{\"volume\":" VOL("available") ",\"operation\":" OP_RUNNING("volume-attach") "}"

/* `volume create` then `volume attach` at once (the README's sequence):
 * attach follows a creation still under way before it asks nubod, which
 * would refuse a volume that does not exist yet; an available volume is
 * attached straight away. */
static void test_attach_waits_for_a_volume_being_created(void **state)
{
	(void)state;
	static const struct canned script[] = {
		{"GET /v1/volumes/data", 200, VOL("creating"), NULL},
		{"GET /v1/operations/op-7", 200, VOL_OP("running"), NULL},
		{"GET /v1/operations/op-7", 200, VOL_OP("succeeded"), NULL},
		{"POST /v1/volumes/data/attach", 202, ATTACHED, NULL},
		{"GET /v1/volumes/data", 200, VOL("available"), NULL},
		{"POST /v1/volumes/data/attach", 202, ATTACHED, NULL},
	};
	fake_start(script, 6);
	struct run r = nubo("volume", "attach", "data", "--vm", "web1", NULL);
	assert_string_equal(r.err, "");
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.out, "Volume data is still being created; waiting for it\n"
				   "Attaching volume data: operation op-1\nFollow it with: nubo operation wait op-1\n");
	run_free(&r);
	r = nubo("volume", "attach", "data", "--vm", "web1", NULL);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.out, "Attaching volume data: operation op-1\nFollow it with: nubo operation wait op-1\n");
	run_free(&r);
	assert_string_equal(requests(), "GET /v1/volumes/data\nGET /v1/operations/op-7\nGET /v1/operations/op-7\n"
					"POST /v1/volumes/data/attach\nGET /v1/volumes/data\nPOST /v1/volumes/data/attach\n");
	assert_string_equal(fk.last_body[3], "{\"vm\":\"web1\"}");
}

/* Stopping a VM in error has nothing to do, but "already error" says
 * nothing useful: the answer names the state, the reason and the way out. */
static void test_stop_on_error_vm_says_what_to_do(void **state)
{
	(void)state;
	static const struct canned script[] = {
		{"POST /v1/vms/web1/stop", 200,
		 "{\"vm\":{\"id\":\"vm-1\",\"name\":\"web1\",\"state\":\"error\",\"reason\":\"QEMU (pid 7) exited unexpectedly\"},"
		 "\"operation\":{\"id\":\"op-2\",\"kind\":\"stop\",\"state\":\"succeeded\",\"phases\":[]}}", NULL},
	};
	fake_start(script, 1);
	struct run r = nubo("vm", "stop", "web1", NULL);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.out, "VM web1 is in error (QEMU (pid 7) exited unexpectedly); it is not running. "
				   "`nubo vm start web1` tries again, `nubo vm delete web1` removes it\n");
	run_free(&r);
}

/* `vm delete` forgets the VM's host keys (by its id) once nubod took the delete. */
static void test_delete_forgets_host_keys(void **state)
{
	(void)state;
	static const struct canned script[] = {
		{"DELETE /v1/vms/web1", 202, "{\"vm\":" VM_RUNNING ",\"operation\":" OP_RUNNING("delete") "}", NULL},
	};
	fake_start(script, 1);
	autofree char *dir = xasprintf("%s/nubo", fk.dir);
	assert_int_equal(fs_mkdir_p(dir, 0700, NULL), 0);
	autofree char *kh = xasprintf("%s/known_hosts", dir);
	const char *before = "vm-1 ssh-ed25519 AAAA1\nvm-2 ssh-ed25519 AAAA2\nvm-1 ecdsa-sha2-nistp256 AAAA3\n";
	assert_int_equal(fs_write_atomic(kh, before, strlen(before), 0600, NULL), 0);
	struct run r = nubo("vm", "delete", "web1", NULL);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.err, "");
	run_free(&r);
	char *after = NULL;
	size_t len = 0;
	assert_int_equal(fs_read_file(kh, 4096, &after, &len, NULL), 0);
	assert_string_equal(after, "vm-2 ssh-ed25519 AAAA2\n");
	free(after);
}

static void test_token_is_sent_as_bearer(void **state)
{
	(void)state;
	static const struct canned script[] = {
		{"GET /v1/host", 200, "{\"vcpus\":2,\"memory_mib\":23000,\"accel\":\"tcg\"}", NULL},
		{"GET /v1/host", 200, "{\"vcpus\":2,\"memory_mib\":23000,\"accel\":\"tcg\"}", NULL},
	};
	fake_start(script, 2);
	struct run r = nubo("host", "show", "--json", NULL);
	assert_int_equal(r.rc, 0);
	assert_null(fk.last_auth);
	run_free(&r);
	setenv("NUBO_TOKEN", "s3cret", 1);
	r = nubo("host", "show", NULL);
	unsetenv("NUBO_TOKEN");
	assert_int_equal(r.rc, 0);
	assert_string_equal(fk.last_auth, "Bearer s3cret");
	assert_true(str_starts_with(r.out, "Accel:      tcg"));
	run_free(&r);
}

static void test_ssh_refuses_a_stopped_vm_and_console_prints_text(void **state)
{
	(void)state;
	static const struct canned script[] = {
		{"GET /v1/vms/web1", 200, "{\"id\":\"vm-1\",\"name\":\"web1\",\"state\":\"stopped\",\"ip\":\"10.77.12.5\"}", NULL},
		{"GET /v1/vms/web1/console", 200, "[    0.000000] Linux version 6.1.0\nlogin: ", "text/plain"},
		{"GET /v1/vms/web2/console", 404, "{\"error\":{\"code\":\"not_found\",\"message\":\"VM \\\"web2\\\" does not exist\"}}", NULL},
	};
	fake_start(script, 3);
	struct run r = nubo("vm", "ssh", "web1", "--", "uname", "-a", NULL);
	assert_int_equal(r.rc, 1);
	assert_string_equal(r.err, "nubo: VM web1 is stopped; start it with: nubo vm start web1 --wait\n");
	run_free(&r);
	r = nubo("vm", "console", "web1", NULL);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.out, "[    0.000000] Linux version 6.1.0\nlogin: ");
	run_free(&r);
	r = nubo("vm", "console", "web2", NULL);
	assert_int_equal(r.rc, 1);
	assert_string_equal(r.err, "nubo: VM \"web2\" does not exist\n");
	run_free(&r);
}

static void test_usage_errors_exit_2_and_send_nothing(void **state)
{
	(void)state;
	fake_start(NULL, 0);
	struct run r = nubo("vm", "list", "--bogus", NULL);
	assert_int_equal(r.rc, 2);
	assert_true(str_starts_with(r.err, "nubo: unknown flag --bogus\nUsage: nubo vm list [--json]\n"));
	run_free(&r);
	r = nubo("vm", "create", NULL);
	assert_int_equal(r.rc, 2);
	assert_true(str_starts_with(r.err, "nubo: missing NAME\n"));
	run_free(&r);
	r = nubo("vm", "show", "a", "b", NULL);
	assert_int_equal(r.rc, 2);
	assert_true(str_starts_with(r.err, "nubo: unexpected argument 'b'\n"));
	run_free(&r);
	r = nubo("vm", "ssh", "web1", "ls", NULL);
	assert_int_equal(r.rc, 2);
	assert_true(str_starts_with(r.err, "nubo: unexpected argument 'ls'; put the remote command after --\n"));
	run_free(&r);
	r = nubo("frob", NULL);
	assert_int_equal(r.rc, 2);
	assert_true(str_starts_with(r.err, "nubo: unknown command 'frob'\n"));
	run_free(&r);
	r = nubo("vm", "create", "--help", NULL);
	assert_int_equal(r.rc, 0);
	assert_true(str_starts_with(r.out, "Usage: nubo vm create NAME "));
	assert_non_null(strstr(r.out, "--ssh-key FILE.pub"));
	run_free(&r);
	r = nubo("--help", NULL);
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.out, "  vm create "));
	assert_non_null(strstr(r.out, "  host show "));
	run_free(&r);
	assert_string_equal(requests(), "");
}

static void test_unreachable_nubod_is_explained(void **state)
{
	(void)state;
	char *argv[] = {"nubo", "--socket", "/nonexistent/nubod.sock", "vm", "list", NULL};
	FILE *out = tmpfile(), *err = tmpfile();
	int rc = cli_run(5, argv, out, err);
	autofree char *o = slurp(out);
	autofree char *e = slurp(err);
	assert_int_equal(rc, 1);
	assert_string_equal(e, "nubo: cannot connect to nubod at /nonexistent/nubod.sock: No such file or directory "
			       "(is nubod running? use --socket PATH or NUBO_SOCKET)\n");
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_create_sends_key_and_user_data),
		T(test_import_url_is_the_images),
		T(test_create_with_bad_local_files_sends_nothing),
		T(test_create_makes_and_reuses_own_key),
		T(test_create_wait_prints_phases),
		T(test_wait_reports_failed_operation),
		T(test_api_error_is_printed),
		T(test_type_list_table_and_json),
		T(test_vm_list_shows_age_and_missing_ip),
		T(test_actions_send_the_documented_requests),
		T(test_attach_waits_for_a_volume_being_created),
		T(test_delete_forgets_host_keys),
		T(test_stop_on_error_vm_says_what_to_do),
		T(test_token_is_sent_as_bearer),
		T(test_ssh_refuses_a_stopped_vm_and_console_prints_text),
		T(test_usage_errors_exit_2_and_send_nothing),
		T(test_unreachable_nubod_is_explained),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
