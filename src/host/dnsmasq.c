/* dnsmasq: configuration, reservations and the process (see dnsmasq.h). */
#include "host/dnsmasq.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/bridge.h"
#include "host/proc.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/runner.h"
#include "util/str.h"
#include "util/timeutil.h"

struct paths {
	char *conf, *hosts, *leases, *pid, *conf_arg;
};

static void paths_init(struct paths *p, const char *dir)
{
	p->conf = xasprintf("%s/dnsmasq.conf", dir);
	p->hosts = xasprintf("%s/hosts", dir);
	p->leases = xasprintf("%s/leases", dir);
	p->pid = xasprintf("%s/dnsmasq.pid", dir);
	/* The exact argument in /proc/<pid>/cmdline that marks our process. */
	p->conf_arg = xasprintf("--conf-file=%s", p->conf);
}

static void paths_free(struct paths *p)
{
	free(p->conf);
	free(p->hosts);
	free(p->leases);
	free(p->pid);
	free(p->conf_arg);
}

/* The pid of our dnsmasq for these paths, or 0. */
static int running_pid(const struct paths *p)
{
	int pid = proc_pidfile_read(p->pid);
	return pid && proc_has_args(pid, p->conf_arg, NULL) ? pid : 0;
}

static bool mac_valid(const char *s)
{
	if (!s || strlen(s) != 17)
		return false;
	for (int i = 0; i < 17; i++) {
		bool colon = i % 3 == 2;
		if (colon ? s[i] != ':' : !strchr("0123456789abcdefABCDEF", s[i]))
			return false;
	}
	return true;
}

static bool ipv4_valid(const char *s)
{
	unsigned a, b, c, d;
	char tail;
	return s && strlen(s) <= 15 && sscanf(s, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) == 4 && a < 256 &&
	       b < 256 && c < 256 && d < 256 && strspn(s, "0123456789.") == strlen(s);
}

/* A DNS label: what dnsmasq accepts as a DHCP host name. */
static bool hostname_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	return n > 0 && n <= 63 && s[0] != '-' && s[n - 1] != '-' &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") == n;
}

static bool conf_valid(const struct dnsmasq_config *c)
{
	return c->dir && *c->dir && !strpbrk(c->dir, "\n\r") && link_name_valid(c->bridge) &&
	       ipv4_valid(c->gateway_ip) && ipv4_valid(c->netmask) && ipv4_valid(c->range_start) &&
	       ipv4_valid(c->range_end);
}

char *dnsmasq_conf_render(const struct dnsmasq_config *c)
{
	if (!conf_valid(c))
		return NULL;
	struct paths p;
	paths_init(&p, c->dir);
	struct sbuf b = {0};
	sbuf_add(&b, "# Written by nubo for one network; changes are overwritten.\n");
	/* Serve only this bridge. bind-dynamic (rather than bind-interfaces)
	 * follows the bridge if it is recreated while dnsmasq runs, and lets
	 * one dnsmasq per bridge coexist on port 53 and 67. */
	sbuf_addf(&b, "interface=%s\n", c->bridge);
	sbuf_add(&b, "bind-dynamic\n");
	sbuf_add(&b, "except-interface=lo\n");
	/* DHCP: leases only for reserved MACs (tag "known"), so a VM never
	 * gets a pool address that nubo may hand to another VM. */
	sbuf_addf(&b, "dhcp-range=%s,%s,%s,12h\n", c->range_start, c->range_end, c->netmask);
	sbuf_add(&b, "dhcp-ignore=tag:!known\n");
	sbuf_add(&b, "dhcp-authoritative\n");
	sbuf_addf(&b, "dhcp-option=option:router,%s\n", c->gateway_ip);
	/* A VM's other NICs get no default route: its first NIC has it. */
	sbuf_add(&b, "dhcp-option=tag:secondary,option:router\n");
	sbuf_addf(&b, "dhcp-option=option:dns-server,%s\n", c->gateway_ip);
	if (c->mtu > 0)
		sbuf_addf(&b, "dhcp-option=option:mtu,%d\n", c->mtu);
	sbuf_addf(&b, "dhcp-hostsfile=%s\n", p.hosts);
	sbuf_addf(&b, "dhcp-leasefile=%s\n", p.leases);
	sbuf_addf(&b, "pid-file=%s\n", p.pid);
	/* DNS: answer VMs on the gateway, forward the rest upstream; never
	 * serve the host's own /etc/hosts, never leak private reverse lookups. */
	sbuf_add(&b, "no-hosts\n");
	sbuf_add(&b, "domain-needed\n");
	sbuf_add(&b, "bogus-priv\n");
	paths_free(&p);
	return sbuf_take(&b);
}

/* Index of the first malformed entry, or -1. */
static int hosts_first_invalid(const struct dhcp_host *h, int n)
{
	for (int i = 0; i < n; i++)
		if (!mac_valid(h[i].mac) || !ipv4_valid(h[i].ip))
			return i;
	return -1;
}

char *dnsmasq_hosts_render(const struct dhcp_host *h, int n)
{
	if (hosts_first_invalid(h, n) >= 0)
		return NULL;
	struct sbuf b = {0};
	for (int i = 0; i < n; i++) {
		sbuf_addf(&b, "%s,%s%s", h[i].mac, h[i].secondary ? "set:secondary," : "", h[i].ip);
		if (hostname_valid(h[i].hostname))
			sbuf_addf(&b, ",%s", h[i].hostname);
		sbuf_add(&b, "\n");
	}
	return sbuf_take(&b);
}

/* Writes path unless it already holds text; *changed says which. */
static int write_if_changed(const char *path, const char *text, bool *changed, struct err *e)
{
	autofree char *old = NULL;
	if (fs_read_file(path, 16u << 20, &old, NULL, NULL) == 0 && strcmp(old, text) == 0) {
		*changed = false;
		return 0;
	}
	*changed = true;
	return fs_write_atomic(path, text, strlen(text), 0644, e);
}

/* dnsmasq forks into the background itself; its parent exits only after
 * the child has bound its sockets, with a failing status if it could not
 * (address in use, bad option). */
static int launch(const struct paths *p, const char *dir, struct err *e)
{
	const char *argv[] = {"dnsmasq", p->conf_arg, NULL};
	int rc = runner_run(argv, &(struct run_opts){.timeout_ms = 30000}, NULL, e);
	if (rc < 0)
		err_prefix(e, "cannot start dnsmasq for %s", dir);
	return rc;
}

static int start(const struct paths *p, const char *dir, struct err *e)
{
	int rc = launch(p, dir, e);
	if (rc < 0)
		return rc;
	int64_t deadline = time_mono_ms() + 5000;
	while (!running_pid(p)) {
		if (time_mono_ms() >= deadline)
			return err_set(e, ERR_INTERNAL, "dnsmasq for %s started but %s names no running dnsmasq", dir,
				       p->pid);
		time_sleep_ms(20);
	}
	return 0;
}

static int stop(const struct paths *p, const char *dir, struct err *e)
{
	int pid = running_pid(p);
	if (pid) {
		autofree char *what = xasprintf("dnsmasq of %s", dir);
		int rc = proc_terminate(pid, p->conf_arg, NULL, 5000, what, e);
		if (rc < 0)
			return rc;
	}
	if (unlink(p->pid) < 0 && errno != ENOENT)
		return err_set(e, ERR_INTERNAL, "cannot remove %s: %s", p->pid, strerror(errno));
	return 0;
}

/* dnsmasq drops root for "nobody" right after start and re-reads the hosts
 * file as that user on SIGHUP. If any directory on the way is not
 * searchable by others, every later reservation fails silently (guests get
 * no lease), so refuse loudly instead. */
static int check_reachable_after_drop(const char *dir, struct err *e)
{
	autofree char *real = realpath(dir, NULL);
	if (!real)
		return err_set(e, ERR_INTERNAL, "cannot resolve %s: %s", dir, strerror(errno));
	for (char *slash = real;; slash = strchr(slash + 1, '/')) {
		if (slash)
			*slash = '\0';
		const char *part = real[0] ? real : "/";
		struct stat st;
		if (stat(part, &st) < 0)
			return err_set(e, ERR_INTERNAL, "cannot check %s: %s", part, strerror(errno));
		if (!(st.st_mode & S_IXOTH))
			return err_set(e, ERR_INTERNAL,
				       "dnsmasq for %s would not see DHCP reservations: it runs as \"nobody\" and "
				       "directory %s (mode %03o) is not searchable by others; chmod o+x it or use "
				       "another state directory",
				       dir, part, (unsigned)(st.st_mode & 0777));
		if (!slash)
			return 0;
		*slash = '/';
	}
}

int dnsmasq_files_write(const struct dnsmasq_config *c, bool *changed, struct err *e)
{
	*changed = false;
	autofree char *conf = dnsmasq_conf_render(c);
	if (!conf)
		return err_set(e, ERR_INTERNAL, "cannot configure dnsmasq in %s: bridge \"%s\" or an address is malformed",
			       c->dir ? c->dir : "", c->bridge ? c->bridge : "");
	struct paths p;
	paths_init(&p, c->dir);
	int rc = fs_mkdir_p(c->dir, 0755, e);
	/* Explicit: mkdir's mode is cut by the umask. */
	if (rc == 0 && chmod(c->dir, 0755) < 0)
		rc = err_set(e, ERR_INTERNAL, "cannot make %s readable for dnsmasq: %s", c->dir, strerror(errno));
	if (rc == 0 && !fs_exists(p.hosts))
		rc = fs_write_atomic(p.hosts, "", 0, 0644, e);
	if (rc == 0)
		rc = write_if_changed(p.conf, conf, changed, e);
	paths_free(&p);
	return rc;
}

int dnsmasq_launch(const char *dir, struct err *e)
{
	struct paths p;
	paths_init(&p, dir);
	int rc = launch(&p, dir, e);
	paths_free(&p);
	return rc;
}

int dnsmasq_ensure(const struct dnsmasq_config *c, struct err *e)
{
	bool changed = false;
	int rc = dnsmasq_files_write(c, &changed, e);
	if (rc < 0)
		return rc;
	if ((rc = check_reachable_after_drop(c->dir, e)) < 0)
		return rc;
	struct paths p;
	paths_init(&p, c->dir);
	bool running = running_pid(&p) != 0;
	if (running && changed)
		rc = stop(&p, c->dir, e);
	if (rc == 0 && (!running || changed))
		rc = start(&p, c->dir, e);
	paths_free(&p);
	return rc;
}

bool dnsmasq_running(const char *dir)
{
	struct paths p;
	paths_init(&p, dir);
	bool running = running_pid(&p) != 0;
	paths_free(&p);
	return running;
}

/* Whether the hosts file text has a reservation of ip for mac. */
static bool reserved(const char *hosts, const char *mac, const char *ip)
{
	for (const char *line = hosts; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		size_t len = strcspn(line, "\n");
		autofree char *l = xstrndup(line, len);
		char *save = NULL, *f = strtok_r(l, ",", &save);
		if (!f || strcasecmp(f, mac) != 0)
			continue;
		while ((f = strtok_r(NULL, ",", &save)) && strncmp(f, "set:", 4) == 0)
			;
		if (f && strcmp(f, ip) == 0)
			return true;
	}
	return false;
}

/* Drops from the lease file of a dnsmasq that is not running every lease
 * that no reservation stands for: nubo's dnsmasq leases reserved addresses
 * only, so such a lease is a deleted VM's that dnsmasq did not get to end,
 * and it would keep the address from the VM reserved it now ("not using
 * configured address ... because it is leased to ...": that VM would get
 * none, or one of the range). Lines that are not IPv4 leases stay. */
static int leases_prune(const struct paths *p, struct err *e)
{
	autofree char *hosts = NULL, *leases = NULL;
	if (fs_read_file(p->leases, 16u << 20, &leases, NULL, NULL) < 0)
		return 0;   /* no leases yet */
	if (fs_read_file(p->hosts, 16u << 20, &hosts, NULL, e) < 0)
		return -1;
	struct sbuf keep = {0};
	bool dropped = false;
	for (const char *line = leases; *line;) {
		size_t len = strcspn(line, "\n");
		autofree char *l = xstrndup(line, len);
		char mac[32], ip[64];
		long long expiry;
		if (sscanf(l, "%lld %31s %63s", &expiry, mac, ip) == 3 && mac_valid(mac) && ipv4_valid(ip) &&
		    !reserved(hosts, mac, ip))
			dropped = true;
		else if (len)
			sbuf_addf(&keep, "%s\n", l);
		line += len + (line[len] == '\n');
	}
	autofree char *text = sbuf_take(&keep);
	return dropped ? fs_write_atomic(p->leases, text, strlen(text), 0644, e) : 0;
}

int dnsmasq_leases_prune(const char *dir, struct err *e)
{
	struct paths p;
	paths_init(&p, dir);
	int rc = leases_prune(&p, e);
	paths_free(&p);
	return rc;
}

/* SIGHUP makes dnsmasq re-read the hosts file. One that is not running
 * reads the file when it starts: it is started again if the network was
 * set up here (its configuration is written), since a dnsmasq that died
 * would give no VM of the network an address until nubod restarts
 * (dnsmasq 2.90 can crash right after a DHCPRELEASE, as a VM's delete
 * sends, before it has written the lease file without the lease). */
static int reload(const struct paths *p, const char *dir, struct err *e)
{
	int pid = running_pid(p);
	if (!pid && fs_exists(p->conf)) {
		log_warn("dnsmasq of %s was not running; starting it again", dir);
		if (leases_prune(p, e) < 0)
			return -1;
		return start(p, dir, e);
	}
	if (pid && kill(pid, SIGHUP) < 0 && errno != ESRCH)
		return err_set(e, ERR_INTERNAL, "cannot signal dnsmasq of %s (pid %d) to reload: %s", dir, pid,
			       strerror(errno));
	return 0;
}

int dnsmasq_hosts_file_write(const char *dir, const struct dhcp_host *h, int n, bool *changed, struct err *e)
{
	*changed = false;
	int bad = hosts_first_invalid(h, n);
	if (bad >= 0)
		return err_set(e, ERR_INTERNAL, "cannot write DHCP reservations in %s: entry %d (mac \"%s\", ip \"%s\") is malformed",
			       dir, bad, h[bad].mac ? h[bad].mac : "", h[bad].ip ? h[bad].ip : "");
	struct paths p;
	paths_init(&p, dir);
	autofree char *text = dnsmasq_hosts_render(h, n);
	int rc = fs_mkdir_p(dir, 0755, e);
	if (rc == 0)
		rc = write_if_changed(p.hosts, text, changed, e);
	paths_free(&p);
	return rc;
}

int dnsmasq_hosts_write(const char *dir, const struct dhcp_host *h, int n, struct err *e)
{
	bool changed = false;
	int rc = dnsmasq_hosts_file_write(dir, h, n, &changed, e);
	if (rc < 0 || !changed)
		return rc;
	struct paths p;
	paths_init(&p, dir);
	rc = reload(&p, dir, e);
	paths_free(&p);
	return rc;
}

int dnsmasq_stop(const char *dir, struct err *e)
{
	struct paths p;
	paths_init(&p, dir);
	int rc = stop(&p, dir, e);
	paths_free(&p);
	return rc;
}

int dnsmasq_release_lease(const char *bridge, const char *ip, const char *mac, struct err *e)
{
	const char *argv[] = {"dhcp_release", bridge, ip, mac, NULL};
	if (runner_run(argv, NULL, NULL, e) < 0) {
		err_prefix(e, "releasing the DHCP lease of %s", ip);
		return -1;
	}
	return 0;
}
