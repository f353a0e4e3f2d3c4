/* Unit tests for the SSH-ready prober (host/probe.h): banners as they
 * arrive, wrong banners, refusing ports, a lost SYN, no leaked descriptors,
 * and dry-run. Loopback sockets only; no root. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <dirent.h>
#include <poll.h>
#include <pthread.h>

#include "host/hostops.h"
#include "host/bridge-priv.h"
#include "host/bridge.h"
#include "host/disk.h"
#include "host/dnsmasq.h"
#include "host/metadata.h"
#include "host/nft.h"
#include "host/probe.h"
#include "host/seed.h"
#include "util/fs.h"
#include "util/runner.h"
#include "util/str.h"
#include "util/timeutil.h"

#include "dry-run.h"

/* --- the SSH-ready probe --------------------------------------------------- */

static int listen_local(int *port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* What the prober's callback saw: how often it came, and when last. */
struct ready_log {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int calls;
	int64_t at;
};

static void on_ready(void *arg)
{
	struct ready_log *r = arg;
	pthread_mutex_lock(&r->mu);
	r->calls++;
	r->at = time_mono_ms();
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

/* Waits up to ms for the callback's n-th call; whether it came. */
static bool ready_wait(struct ready_log *r, int n, int ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	ts.tv_sec += ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	pthread_mutex_lock(&r->mu);
	while (r->calls < n && pthread_cond_timedwait(&r->cv, &r->mu, &ts) == 0)
		;
	bool came = r->calls >= n;
	pthread_mutex_unlock(&r->mu);
	return came;
}

static int ready_calls(struct ready_log *r)
{
	pthread_mutex_lock(&r->mu);
	int n = r->calls;
	pthread_mutex_unlock(&r->mu);
	return n;
}

static struct prober *prober_for(struct ready_log *r)
{
	*r = (struct ready_log){.calls = 0};
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	struct prober *pr = NULL;
	struct err e = {0};
	assert_int_equal(prober_start(on_ready, r, 0, &pr, &e), 0);
	return pr;
}

/* The next connection on lfd, waiting up to 3 s; -1 if none came. */
static int accept_within(int lfd, int ms)
{
	struct pollfd pf = {lfd, POLLIN, 0};
	if (poll(&pf, 1, ms) != 1)
		return -1;
	return accept(lfd, NULL, NULL);
}

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	assert_non_null(d);
	int n = 0;
	for (struct dirent *de; (de = readdir(d));)
		n += de->d_name[0] != '.';
	closedir(d);
	return n - 1;   /* the directory's own */
}

#define SSH "SSH-"

/* A server slow to greet: the banner is seen as it arrives, with no one
 * asking, and the callback says so. */
static void test_prober_sees_a_banner_as_it_arrives(void **state)
{
	(void)state;
	struct ready_log r;
	int port, lfd = listen_local(&port);
	struct prober *pr = prober_for(&r);
	assert_int_equal(prober_check(pr, "vm-a", "127.0.0.1", port, SSH), PROBE_WAITING);
	int cfd = accept_within(lfd, 3000);
	assert_true(cfd >= 0);
	sleep_ms(100);   /* connected, no banner yet */
	assert_int_equal(prober_check(pr, "vm-a", "127.0.0.1", port, SSH), PROBE_WAITING);
	assert_int_equal(write(cfd, "SS", 2), 2);   /* the prefix in two pieces */
	sleep_ms(50);
	assert_int_equal(ready_calls(&r), 0);
	assert_int_equal(prober_check(pr, "vm-a", "127.0.0.1", port, SSH), PROBE_WAITING);
	int64_t wrote = time_mono_ms();
	assert_int_equal(write(cfd, "H-2.0-x\r\n", 9), 9);
	assert_true(ready_wait(&r, 1, 5000));
	print_message("# ready %lld ms after the banner\n", (long long)(r.at - wrote));
	assert_int_equal(prober_check(pr, "vm-a", "127.0.0.1", port, SSH), PROBE_READY);
	assert_int_equal(prober_check(pr, "vm-a", "127.0.0.1", port, SSH), PROBE_READY);   /* stays ready */
	assert_int_equal(ready_calls(&r), 1);
	close(cfd);
	/* Dropped and asked again (the VM started anew): a fresh watch. */
	prober_drop(pr, "vm-a");
	assert_int_equal(prober_check(pr, "vm-a", "127.0.0.1", port, SSH), PROBE_WAITING);
	cfd = accept_within(lfd, 3000);
	assert_true(cfd >= 0);
	assert_int_equal(write(cfd, "SSH-2.0-x\r\n", 11), 11);
	assert_true(ready_wait(&r, 2, 5000));
	assert_int_equal(prober_check(pr, "vm-a", "127.0.0.1", port, SSH), PROBE_READY);
	prober_stop(pr);
	close(cfd);
	close(lfd);
}

/* Something that is not SSH is not ready; the prober hangs up and dials again. */
static void test_prober_refuses_a_wrong_banner(void **state)
{
	(void)state;
	struct ready_log r;
	int port, lfd = listen_local(&port);
	struct prober *pr = prober_for(&r);
	assert_int_equal(prober_check(pr, "vm-b", "127.0.0.1", port, SSH), PROBE_WAITING);
	int cfd = accept_within(lfd, 3000);
	assert_true(cfd >= 0);
	assert_int_equal(write(cfd, "HTTP/1.0 200\r\n", 14), 14);
	int again = accept_within(lfd, 3000);   /* the next attempt */
	assert_true(again >= 0);
	char c;
	assert_true(read(cfd, &c, 1) <= 0);   /* the first was closed (reset: its text was left unread) */
	assert_int_equal(ready_calls(&r), 0);
	assert_int_equal(prober_check(pr, "vm-b", "127.0.0.1", port, SSH), PROBE_WAITING);
	assert_int_equal(write(again, "SSH-2.0-x\r\n", 11), 11);
	assert_true(ready_wait(&r, 1, 5000));
	assert_int_equal(prober_check(pr, "vm-b", "127.0.0.1", port, SSH), PROBE_READY);
	prober_stop(pr);
	close(again);
	close(cfd);
	close(lfd);
}

/* A port that refuses is tried again until a server listens there. */
static void test_prober_retries_a_refusing_port(void **state)
{
	(void)state;
	struct ready_log r;
	int port, lfd = listen_local(&port);
	close(lfd);   /* nothing listens on port now */
	struct prober *pr = prober_for(&r);
	assert_int_equal(prober_check(pr, "vm-c", "127.0.0.1", port, SSH), PROBE_WAITING);
	sleep_ms(200);
	assert_int_equal(prober_check(pr, "vm-c", "127.0.0.1", port, SSH), PROBE_WAITING);
	assert_int_equal(ready_calls(&r), 0);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	assert_int_equal(setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	int cfd = accept_within(lfd, 3000);
	assert_true(cfd >= 0);
	assert_int_equal(write(cfd, "SSH-2.0-x\r\n", 11), 11);
	assert_true(ready_wait(&r, 1, 5000));
	assert_int_equal(prober_check(pr, "vm-c", "127.0.0.1", port, SSH), PROBE_READY);
	prober_stop(pr);
	close(cfd);
	close(lfd);
}

/* A SYN the server dropped (its queue was full, as a guest not up yet
 * drops one) is not left to the kernel's retry a second later: fresh
 * dials get through as soon as the server can take them. */
static void test_prober_dials_again_after_a_lost_syn(void **state)
{
	(void)state;
	struct ready_log r;
	int port, lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 0), 0);   /* room for one waiting connection */
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &len), 0);
	port = ntohs(sa.sin_port);
	int filler = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(filler, (struct sockaddr *)&sa, sizeof(sa)), 0);
	struct prober *pr = prober_for(&r);
	int64_t asked = time_mono_ms();
	assert_int_equal(prober_check(pr, "vm-d", "127.0.0.1", port, SSH), PROBE_WAITING);
	sleep_ms(100);   /* its SYNs are dropped */
	int first = accept_within(lfd, 0);
	assert_true(first >= 0);   /* the filler; now there is room */
	int cfd = accept_within(lfd, 3000);
	assert_true(cfd >= 0);
	int64_t took = time_mono_ms() - asked;
	print_message("# connected %lld ms after the first dial\n", (long long)took);
	/* The kernel would resend the first SYN only 1 s after it was sent. */
	assert_true(took < 900);
	assert_int_equal(write(cfd, "SSH-2.0-x\r\n", 11), 11);
	assert_true(ready_wait(&r, 1, 5000));
	prober_stop(pr);
	close(cfd);
	close(first);
	close(filler);
	close(lfd);
}

/* Dropping a target closes its sockets before it returns; stopping closes the rest. */
static void test_prober_leaks_no_fds(void **state)
{
	(void)state;
	struct ready_log r;
	int port, lfd = listen_local(&port);   /* accepts in its backlog, never greets */
	int base = open_fds();
	struct prober *pr = prober_for(&r);
	assert_int_equal(open_fds(), base + 1);   /* its wake-up eventfd */
	assert_int_equal(prober_check(pr, "vm-e", "127.0.0.1", port, SSH), PROBE_WAITING);
	assert_int_equal(prober_check(pr, "vm-f", "127.0.0.1", port + 1 > 65535 ? 1 : port + 1, SSH),
			 PROBE_WAITING);   /* most likely refusing */
	assert_int_equal(prober_check(pr, "vm-g", "not an address", 22, SSH), PROBE_WAITING);
	sleep_ms(100);
	assert_true(open_fds() > base + 1);   /* vm-e's connection at least */
	prober_drop(pr, "vm-e");
	prober_drop(pr, "vm-f");
	prober_drop(pr, "vm-g");
	prober_drop(pr, "vm-unknown");
	assert_int_equal(open_fds(), base + 1);
	sleep_ms(100);   /* and nothing dials for them afterwards */
	assert_int_equal(open_fds(), base + 1);
	assert_int_equal(prober_check(pr, "vm-e", "127.0.0.1", port, SSH), PROBE_WAITING);
	sleep_ms(50);
	prober_stop(pr);   /* with a watch still open */
	assert_int_equal(open_fds(), base);
	assert_int_equal(ready_calls(&r), 0);
	prober_stop(NULL);
	prober_drop(NULL, "vm-e");
	assert_int_equal(prober_check(NULL, "vm-e", "127.0.0.1", port, SSH), PROBE_WAITING);
	close(lfd);
}

/* The recording host touches no network: every VM's SSH is ready at once.
 * The real prober, in the same dry-run, still dials (and waits here). */
static void test_prober_dry_run(void **state)
{
	(void)state;
	struct ready_log r;
	struct prober *pr = prober_for(&r);
	int base = open_fds();
	assert_int_equal(hostops_recording.ssh_check(pr, "vm-h", "10.0.0.9", 22, SSH), PROBE_READY);
	assert_int_equal(hostops_recording.ssh_check(NULL, "vm-h", "10.0.0.9", 22, SSH), PROBE_READY);
	assert_int_equal(open_fds(), base);
	assert_int_equal(prober_check(pr, "vm-h", "not an address", 22, SSH), PROBE_WAITING);
	prober_stop(pr);
}

/* --- seed --------------------------------------------------------------- */

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prober_sees_a_banner_as_it_arrives),
		cmocka_unit_test(test_prober_refuses_a_wrong_banner),
		cmocka_unit_test(test_prober_retries_a_refusing_port),
		cmocka_unit_test(test_prober_dials_again_after_a_lost_syn),
		cmocka_unit_test(test_prober_leaks_no_fds),
		cmocka_unit_test_setup_teardown(test_prober_dry_run, dry_setup, dry_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
