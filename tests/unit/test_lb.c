/* Unit tests for load balancers: the nftables text of a balancer (round
 * robin, source hash, no target in rotation), the rotation with and without
 * healthy targets, the health state machine, the parsers, and the health
 * checker against servers on loopback. No root; traffic to 127.0.0.1 only. */
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
#include <pthread.h>
#include <sys/socket.h>

#include "host/health.h"
#include "host/nft.h"
#include "model/lb.h"
#include "util/str.h"

static const struct nft_network t_nets[] = {{"nbab12aaaa", "10.77.3.0/24", "10.77.3.1", true, 0, NULL, 0}};
static const struct nft_nic t_nics[] = {{0, "ntab12000001", "52:54:00:00:00:01", "10.77.3.2"}};
static const struct nft_rule t_rules[] = {{PROTO_TCP, 80, 80, "10.77.3.0/24", -1}};
static const struct nft_vm t_vms[] = {{"vm-000000000001", t_nics, 1, t_rules, 1}};

/* The text between "\tchain NAME {\n" and its closing "\t}\n", inclusive. */
static char *chain_of(const char *text, const char *name)
{
	autofree char *head = xasprintf("\tchain %s {\n", name);
	const char *at = strstr(text, head);
	assert_non_null(at);
	const char *end = strstr(at, "\n\t}\n");
	assert_non_null(end);
	return xstrndup(at, (size_t)(end + 4 - at));
}

static char *render(const struct nft_lb *lbs, int n)
{
	struct nft_ruleset rs = {.table = "nubo_ab12", .bridge_glob = "nbab12*", .tap_glob = "ntab12*", .nets = t_nets, .n_nets = 1,
				 .vms = t_vms, .n_vms = 1, .lbs = lbs, .n_lbs = n};
	char *text = nft_ruleset_render(&rs);
	assert_non_null(text);
	return text;
}

static const struct nft_lb_backend t_three[] = {{"10.77.3.2", 80, false}, {"10.77.3.3", 8080, false}, {"10.77.3.4", 80, false}};

static void test_nft_round_robin_and_source_hash(void **state)
{
	(void)state;
	const struct nft_lb lbs[] = {
		{"10.77.3.250", 80, false, t_three, 3, false},
		{"10.77.3.250", 443, true, t_three, 2, false},
	};
	autofree char *text = render(lbs, 2);
	autofree char *pre = chain_of(text, "nat_prerouting");
	assert_string_equal(pre, "\tchain nat_prerouting {\n"
				 "\t\ttype nat hook prerouting priority dstnat; policy accept;\n"
				 "\t\tip daddr 10.77.3.250 tcp dport 80 ct state new dnat ip to numgen inc mod 3 map "
				 "{ 0 : 10.77.3.2 . 80, 1 : 10.77.3.3 . 8080, 2 : 10.77.3.4 . 80 }\n"
				 "\t\tip daddr 10.77.3.250 tcp dport 443 ct state new dnat ip to jhash ip saddr mod 2 map "
				 "{ 0 : 10.77.3.2 . 80, 1 : 10.77.3.3 . 8080 }\n"
				 "\t}\n");
	/* the host reaches the VIP too */
	autofree char *out = chain_of(text, "nat_output");
	assert_non_null(strstr(out, "\t\tip daddr 10.77.3.250 tcp dport 80 ct state new dnat ip to numgen inc mod 3 map"));
	/* one VIP in the set, however many listeners */
	assert_non_null(strstr(text, "\tset lb_vips {\n\t\ttype ipv4_addr\n\t\telements = { 10.77.3.250 }\n\t}\n"));
	/* a balancer's connection meets the VM's chain; a port forward's does not */
	autofree char *to = chain_of(text, "to_0");
	assert_string_equal(to, "\tchain to_0 {\n"
				"\t\tct state established,related accept\n"
				"\t\tct state invalid drop\n"
				"\t\tiifname \"nbab12*\" iifname != \"nbab12aaaa\" drop\n"
				"\t\tct status dnat ct original ip daddr != @lb_vips meta l4proto != tcp accept\n"
				"\t\tct status dnat ct original ip daddr != @lb_vips meta l4proto tcp ct original proto-dst != "
				"@lb_host_ports accept\n"
				"\t\tip daddr vmap { 10.77.3.2 : jump vm_000000000001 }\n"
				"\t\tdrop\n"
				"\t}\n");
}

/* A host-port listener: the host's own addresses on the port, in both nat
 * chains, beside the VIP; its port in lb_host_ports. And a target that is
 * given itself is masqueraded, each address once. */
static void test_nft_host_port_and_self(void **state)
{
	(void)state;
	const struct nft_lb lbs[] = {
		{"10.77.3.250", 8080, false, t_three, 2, true},
		{"10.77.3.251", 80, false, t_three, 3, false},
	};
	autofree char *text = render(lbs, 2);
	for (int pass = 0; pass < 2; pass++) {
		autofree char *nat = chain_of(text, pass ? "nat_output" : "nat_prerouting");
		assert_non_null(strstr(nat, "\t\tfib daddr type local tcp dport 8080 ct state new dnat ip to numgen inc mod 2 map "
					    "{ 0 : 10.77.3.2 . 80, 1 : 10.77.3.3 . 8080 }\n"));
		assert_non_null(strstr(nat, "\t\tip daddr 10.77.3.250 tcp dport 8080 ct state new dnat"));
		assert_null(strstr(nat, "fib daddr type local tcp dport 80 "));
	}
	assert_non_null(strstr(text, "\tset lb_host_ports {\n\t\ttype inet_service\n\t\telements = { 8080 }\n\t}\n"));
	autofree char *post = chain_of(text, "nat_postrouting");
	assert_non_null(strstr(post, "\t\tct status dnat ip saddr . ip daddr { 10.77.3.2 . 10.77.3.2, 10.77.3.3 . 10.77.3.3, "
				     "10.77.3.4 . 10.77.3.4 } oifname \"nbab12*\" masquerade\n"));
	/* its reply comes back on the bridge it left from: marked, so br_netfilter may bridge it */
	autofree char *mark = chain_of(text, "hairpin_mark");
	assert_non_null(strstr(mark, "iifname \"nbab12*\" ct direction reply ct status snat ct status dnat meta mark set"));
}

/* On a cluster a target on another host takes the balancer's network's
 * connections (the VIP, in prerouting) but neither the host's own nor a
 * host port's: its reply would leave from its own host. None on this host:
 * no such rule. */
static void test_nft_remote_backends(void **state)
{
	(void)state;
	const struct nft_lb_backend mixed[] = {{"10.77.3.2", 80, true}, {"10.77.3.3", 80, false}, {"10.77.3.4", 80, true}};
	const struct nft_lb_backend far[] = {{"10.77.3.2", 80, true}};
	const struct nft_lb lbs[] = {
		{"10.77.3.250", 8080, false, mixed, 3, true},
		{"10.77.3.251", 80, false, far, 1, true},
	};
	autofree char *text = render(lbs, 2);
	autofree char *pre = chain_of(text, "nat_prerouting");
	assert_non_null(strstr(pre, "\t\tip daddr 10.77.3.250 tcp dport 8080 ct state new dnat ip to numgen inc mod 3 map "
				    "{ 0 : 10.77.3.2 . 80, 1 : 10.77.3.3 . 80, 2 : 10.77.3.4 . 80 }\n"));
	assert_non_null(strstr(pre, "\t\tfib daddr type local tcp dport 8080 ct state new dnat ip to numgen inc mod 1 map "
				    "{ 0 : 10.77.3.3 . 80 }\n"));
	assert_non_null(strstr(pre, "\t\tip daddr 10.77.3.251 tcp dport 80 ct state new dnat ip to numgen inc mod 1 map "
				    "{ 0 : 10.77.3.2 . 80 }\n"));
	assert_null(strstr(pre, "dport 80 ct state new dnat ip to numgen inc mod 0"));
	assert_null(strstr(pre, "fib daddr type local tcp dport 80 "));
	autofree char *out = chain_of(text, "nat_output");
	assert_non_null(strstr(out, "\t\tip daddr 10.77.3.250 tcp dport 8080 ct state new dnat ip to numgen inc mod 1 map "
				    "{ 0 : 10.77.3.3 . 80 }\n"));
	assert_non_null(strstr(out, "\t\tfib daddr type local tcp dport 8080 ct state new dnat ip to numgen inc mod 1 map "
				    "{ 0 : 10.77.3.3 . 80 }\n"));
	assert_null(strstr(out, "10.77.3.251"));
}

static void test_nft_no_backend_no_rule(void **state)
{
	(void)state;
	const struct nft_lb lbs[] = {{"10.77.3.250", 80, false, NULL, 0, false}};
	autofree char *text = render(lbs, 1);
	autofree char *pre = chain_of(text, "nat_prerouting");
	assert_string_equal(pre, "\tchain nat_prerouting {\n"
				 "\t\ttype nat hook prerouting priority dstnat; policy accept;\n"
				 "\t}\n");
	/* still a VIP: nothing reaches a VM through it unfiltered */
	assert_non_null(strstr(text, "elements = { 10.77.3.250 }"));
}

static void test_nft_rejects_bad_lb(void **state)
{
	(void)state;
	const struct nft_lb_backend bad_ip[] = {{"10.0.0.1; flush ruleset", 80, false}};
	const struct nft_lb lbs1[] = {{"10.77.3.250", 80, false, bad_ip, 1, false}};
	const struct nft_lb lbs2[] = {{"10.77.3.250 }", 80, false, t_three, 1, false}};
	const struct nft_lb lbs3[] = {{"10.77.3.250", 0, false, t_three, 1, false}};
	const struct nft_lb *all[] = {lbs1, lbs2, lbs3};
	for (int i = 0; i < 3; i++) {
		struct nft_ruleset rs = {.table = "nubo_ab12", .bridge_glob = "nbab12*", .tap_glob = "ntab12*", .lbs = all[i], .n_lbs = 1};
		assert_null(nft_ruleset_render(&rs));
	}
}

static void test_rotation(void **state)
{
	(void)state;
	struct lb_target t[3] = {0};
	bool in[3], open;
	t[0].health = LB_HEALTHY;
	t[1].health = LB_UNHEALTHY;
	t[2].health = LB_UNKNOWN;
	lb_rotation(t, 3, in, &open);
	assert_false(open);
	assert_true(in[0]);
	assert_false(in[1]);
	assert_false(in[2]);
	/* none healthy: every target, failing open */
	t[0].health = LB_UNHEALTHY;
	lb_rotation(t, 3, in, &open);
	assert_true(open);
	assert_true(in[0] && in[1] && in[2]);
	/* no targets: nothing to fail open to */
	lb_rotation(t, 0, in, &open);
	assert_false(open);
	/* a draining target is never in rotation, even failing open, and does
	 * not count among those that could fail open */
	t[0].health = LB_HEALTHY;
	t[0].state = LB_DRAINING;
	lb_rotation(t, 3, in, &open);
	assert_true(open);
	assert_false(in[0]);
	assert_true(in[1] && in[2]);
	t[1].state = t[2].state = LB_DRAINING;
	lb_rotation(t, 3, in, &open);
	assert_false(open);
	assert_false(in[0] || in[1] || in[2]);
}

static void test_drain_parse(void **state)
{
	(void)state;
	struct err e = {0};
	int ms = -1;
	assert_int_equal(lb_drain_parse("0", "drain", &ms, &e), 0);
	assert_int_equal(ms, 0);
	assert_int_equal(lb_drain_parse("45s", "drain", &ms, &e), 0);
	assert_int_equal(ms, 45000);
	assert_int_equal(lb_drain_parse("1h", "drain", &ms, &e), 0);
	assert_int_equal(ms, 3600000);
	assert_int_equal(lb_drain_parse("61m", "drain", &ms, &e), -1);
	assert_non_null(strstr(e.msg, "drain \"61m\" is out of range"));
	assert_int_equal(lb_drain_parse("00", "drain", &ms, &e), -1);
	assert_non_null(strstr(e.msg, "drain \"00\" is not a duration"));
}

static void test_health_state_machine(void **state)
{
	(void)state;
	struct lb_streak s = {0};
	enum lb_health h = LB_UNKNOWN;
	/* rise 2: one success is not enough */
	h = lb_health_step(h, &s, true, 2, 3);
	assert_int_equal(h, LB_UNKNOWN);
	h = lb_health_step(h, &s, true, 2, 3);
	assert_int_equal(h, LB_HEALTHY);
	/* fall 3: two failures, a success in between resets the count */
	h = lb_health_step(h, &s, false, 2, 3);
	h = lb_health_step(h, &s, false, 2, 3);
	assert_int_equal(h, LB_HEALTHY);
	h = lb_health_step(h, &s, true, 2, 3);
	h = lb_health_step(h, &s, false, 2, 3);
	h = lb_health_step(h, &s, false, 2, 3);
	assert_int_equal(h, LB_HEALTHY);
	h = lb_health_step(h, &s, false, 2, 3);
	assert_int_equal(h, LB_UNHEALTHY);
	/* back: rise successes in a row */
	h = lb_health_step(h, &s, true, 2, 3);
	assert_int_equal(h, LB_UNHEALTHY);
	h = lb_health_step(h, &s, false, 2, 3);
	h = lb_health_step(h, &s, true, 2, 3);
	assert_int_equal(h, LB_UNHEALTHY);
	h = lb_health_step(h, &s, true, 2, 3);
	assert_int_equal(h, LB_HEALTHY);
	/* a new target that never answers goes unknown -> unhealthy after fall */
	struct lb_streak n = {0};
	enum lb_health g = LB_UNKNOWN;
	g = lb_health_step(g, &n, false, 2, 1);
	assert_int_equal(g, LB_UNHEALTHY);
}

static void test_parsers(void **state)
{
	(void)state;
	struct err e = {0};
	struct lb_listener l;
	assert_int_equal(lb_listener_parse("443:8443", "listen[0]", &l, &e), 0);
	assert_int_equal(l.port, 443);
	assert_int_equal(l.target_port, 8443);
	assert_int_equal(lb_listener_parse("80", "listen[0]", &l, &e), 0);
	assert_int_equal(l.target_port, 80);
	assert_true(lb_listener_parse("80:", "listen[1]", &l, &e) < 0);
	assert_non_null(strstr(e.msg, "listen[1] \"80:\""));
	char name[NAME_MAX_LEN + 1];
	uint16_t port;
	assert_int_equal(lb_target_parse("web2:8080", "targets[0]", name, &port, &e), 0);
	assert_string_equal(name, "web2");
	assert_int_equal(port, 8080);
	assert_true(lb_target_parse("web2:", "targets[3]", name, &port, &e) < 0);
	assert_non_null(strstr(e.msg, "targets[3]"));
	struct lb lb = {0};
	assert_int_equal(lb_check_parse("http:/healthz?x=1", "check", &lb, &e), 0);
	assert_string_equal(lb.check_path, "/healthz?x=1");
	assert_true(lb_check_parse("http:/a\r\nX: y", "check", &lb, &e) < 0);
	int ms;
	assert_int_equal(lb_duration_parse("500ms", "interval", &ms, &e), 0);
	assert_int_equal(ms, 500);
	assert_int_equal(lb_duration_parse("2m", "interval", &ms, &e), 0);
	assert_int_equal(ms, 120000);
	assert_true(lb_duration_parse("-5s", "interval", &ms, &e) < 0);
	assert_true(lb_duration_parse("99999999s", "interval", &ms, &e) < 0);
	assert_int_equal(health_http_status("HTTP/1.0 200 OK\r\n", 17), 200);
	assert_int_equal(health_http_status("HTTP/1.1 50", 11), 0);
	assert_int_equal(health_http_status("SSH-2.0-x\r\n", 11), -1);
	assert_int_equal(health_http_status("HTTP/1.1 abc\r\n", 14), -1);
	assert_int_equal(health_http_status("HTTP/1.1 204\n", 13), 204);
	assert_int_equal(health_http_status("HTTP/1.1 2000 OK\r\n", 18), -1);
	assert_int_equal(health_http_status("HTTP/1.1 099 X\r\n", 16), -1);
	/* the fuzzer's find: a short line, no NUL after it */
	static const char nonul[] = {'H', 'T', 'T', 'P', '/', '1', '.', ' ', '1', ',', '\n', 'x'};
	assert_int_equal(health_http_status(nonul, sizeof(nonul)), -1);
}

/* --- the checker against loopback servers ------------------------------------------ */

struct server {
	int fd;
	uint16_t port;
	const char *answer;   /* NULL: accept and close at once */
	int serve;            /* connections to answer */
};

static void *serve(void *arg)
{
	struct server *s = arg;
	for (int i = 0; i < s->serve; i++) {
		int c = accept(s->fd, NULL, NULL);
		if (c < 0)
			break;
		char buf[512];
		if (s->answer) {
			ssize_t r = recv(c, buf, sizeof(buf), 0);
			(void)r;
			ssize_t w = send(c, s->answer, strlen(s->answer), MSG_NOSIGNAL);
			(void)w;
		}
		close(c);
	}
	return NULL;
}

static void server_open(struct server *s)
{
	s->fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	assert_int_equal(bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(s->fd, 8), 0);
	assert_int_equal(getsockname(s->fd, (struct sockaddr *)&sa, &len), 0);
	s->port = ntohs(sa.sin_port);
}

static void test_checker_on_loopback(void **state)
{
	(void)state;
	struct server ok = {.answer = "HTTP/1.0 200 OK\r\n\r\nweb1\n", .serve = 2};
	struct server bad = {.answer = "HTTP/1.0 503 Busy\r\n\r\n", .serve = 1};
	struct server tcp = {.answer = NULL, .serve = 1};
	struct server silent = {.answer = NULL, .serve = 0};   /* listens, never answers a GET */
	server_open(&ok);
	server_open(&bad);
	server_open(&tcp);
	server_open(&silent);
	/* a port that refuses: one just closed */
	struct server gone = {0};
	server_open(&gone);
	close(gone.fd);
	pthread_t th[3];
	pthread_create(&th[0], NULL, serve, &ok);
	pthread_create(&th[1], NULL, serve, &bad);
	pthread_create(&th[2], NULL, serve, &tcp);
	struct health_check c[] = {
		{.ip = "127.0.0.1", .port = ok.port, .http_path = "/", .timeout_ms = 2000},
		{.ip = "127.0.0.1", .port = bad.port, .http_path = "/healthz", .timeout_ms = 2000},
		{.ip = "127.0.0.1", .port = tcp.port, .timeout_ms = 2000},
		{.ip = "127.0.0.1", .port = gone.port, .timeout_ms = 2000},
		{.ip = "127.0.0.1", .port = silent.port, .http_path = "/", .timeout_ms = 300},
		{.ip = "127.0.0.1", .port = ok.port, .timeout_ms = 2000},
	};
	health_run(c, 6);
	assert_true(c[0].ok);
	assert_string_equal(c[0].reason, "HTTP 200");
	assert_false(c[1].ok);
	assert_string_equal(c[1].reason, "HTTP 503");
	assert_true(c[2].ok);
	assert_string_equal(c[2].reason, "connected");
	assert_false(c[3].ok);
	assert_string_equal(c[3].reason, "Connection refused");
	assert_false(c[4].ok);
	assert_string_equal(c[4].reason, "no answer within 300 ms");
	assert_true(c[5].ok);
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	close(ok.fd);
	close(bad.fd);
	close(tcp.fd);
	close(silent.fd);
}

/* Lines as /proc/net/nf_conntrack writes them: a client's connection to
 * the VIP 10.9.0.5, DNATed to a target, answers from the target. */
static void test_conntrack_count(void **state)
{
	(void)state;
	const char *table =
		"ipv4     2 tcp      6 431999 ESTABLISHED src=10.9.0.9 dst=10.9.0.5 sport=40000 dport=80 src=10.9.0.2 "
		"dst=10.9.0.9 sport=80 dport=40000 [ASSURED] mark=0 zone=0 use=2\n"
		"ipv4     2 tcp      6 431990 ESTABLISHED src=10.9.0.9 dst=10.9.0.5 sport=40001 dport=443 src=10.9.0.2 "
		"dst=10.9.0.9 sport=8443 dport=40001 [ASSURED] mark=0 zone=0 use=2\n"
		"ipv4     2 tcp      6 100 TIME_WAIT src=10.9.0.9 dst=10.9.0.5 sport=40002 dport=80 src=10.9.0.2 "
		"dst=10.9.0.9 sport=80 dport=40002 [ASSURED] mark=0 zone=0 use=2\n"
		"ipv4     2 tcp      6 431999 ESTABLISHED src=10.9.0.9 dst=10.9.0.5 sport=40003 dport=80 src=10.9.0.3 "
		"dst=10.9.0.9 sport=80 dport=40003 [ASSURED] mark=0 zone=0 use=2\n"
		/* to the target straight, not through the balancer */
		"ipv4     2 tcp      6 431999 ESTABLISHED src=10.9.0.9 dst=10.9.0.2 sport=40004 dport=80 src=10.9.0.2 "
		"dst=10.9.0.9 sport=80 dport=40004 [ASSURED] mark=0 zone=0 use=2\n"
		"ipv4     2 udp      17 29 src=10.9.0.9 dst=10.9.0.5 sport=5353 dport=80 src=10.9.0.2 dst=10.9.0.9 "
		"sport=80 dport=5353 mark=0 zone=0 use=2\n"
		/* 10.9.0.22 starts like 10.9.0.2 */
		"ipv4     2 tcp      6 431999 ESTABLISHED src=10.9.0.9 dst=10.9.0.5 sport=40005 dport=80 src=10.9.0.22 "
		"dst=10.9.0.9 sport=80 dport=40005 [ASSURED] mark=0 zone=0 use=2";
	assert_int_equal(lb_conntrack_count(table, "10.9.0.5", "10.9.0.2"), 2);
	assert_int_equal(lb_conntrack_count(table, "10.9.0.5", "10.9.0.3"), 1);
	assert_int_equal(lb_conntrack_count(table, "10.9.0.5", "10.9.0.22"), 1);
	assert_int_equal(lb_conntrack_count(table, "10.9.0.5", "10.9.0.4"), 0);
	assert_int_equal(lb_conntrack_count(table, "10.9.0.6", "10.9.0.2"), 0);
	assert_int_equal(lb_conntrack_count("", "10.9.0.5", "10.9.0.2"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nft_round_robin_and_source_hash),
		cmocka_unit_test(test_nft_host_port_and_self),
		cmocka_unit_test(test_nft_remote_backends),
		cmocka_unit_test(test_nft_no_backend_no_rule),
		cmocka_unit_test(test_nft_rejects_bad_lb),
		cmocka_unit_test(test_rotation),
		cmocka_unit_test(test_drain_parse),
		cmocka_unit_test(test_health_state_machine),
		cmocka_unit_test(test_parsers),
		cmocka_unit_test(test_checker_on_loopback),
		cmocka_unit_test(test_conntrack_count),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
