/* nubod: the nubo daemon. Parses its flags, opens the store, starts the control layer and the API. */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "config.h"
#include "ctl/ctl.h"
#include "host/hostops.h"
#include "store/store.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/runner.h"
#include "util/service.h"
#include "util/str.h"

static const char usage[] =
	"Usage: nubod [OPTIONS]\n"
	"\n"
	"The nubo daemon: serves the REST API, runs VMs with QEMU and keeps them as asked.\n"
	"VMs keep running while nubod is stopped; a new nubod adopts them.\n"
	"\n"
	"Options:\n"
	"  --state-dir DIR    state directory (default /var/lib/nubo, or $NUBO_STATE_DIR);\n"
	"                     one nubod per directory: it holds DIR/nubod.lock while it runs\n"
	"  --socket PATH      API unix socket (default /run/nubo/nubod.sock, or $NUBO_SOCKET);\n"
	"                     mode 0660, group " API_SOCKET_GROUP " when that group exists\n"
	"  --listen HOST:PORT also serve the API over HTTPS, e.g. 0.0.0.0:8443; every request\n"
	"                     must carry an API token (nubo token create NAME)\n"
	"  --tls-cert FILE    PEM certificate (chain) for --listen\n"
	"  --tls-key FILE     PEM private key for --listen\n"
	"  --listen-http HOST:PORT  also serve plain HTTP on a loopback address only, e.g.\n"
	"                     127.0.0.1:8080: the web console for a browser on this machine\n"
	"                     (--listen serves it too, at https://HOST:PORT/)\n"
	"  --database URL     postgres://user@host/db: keep the store in PostgreSQL (default:\n"
	"                     SQLite at STATE-DIR/nubo.db, or \"database\" in the config file)\n"
	"  --host-name NAME   this host's name in the cloud (default: the machine's hostname, or\n"
	"                     \"host_name\" in the config file); one name per nubod on a database\n"
	"  --advertise ADDR   the address other hosts reach this one at (or \"advertise\")\n"
	"  --accel MODE       auto, kvm or tcg (default auto: KVM only where the CPU has vmx/svm)\n"
	"  --config FILE      settings and extra machine types (default /etc/nubo/nubod.json if present)\n"
	"  --recipes-dir DIR  image recipes (default: the ones installed with nubo)\n"
	"  --dry-run          run nothing on the host; log the commands instead (for tests)\n"
	"  --destroy          stop every VM, remove every host object and all state, then exit\n"
	"  --debug            log more\n"
	"  --help, --version\n";

/* Inside the state directory; held with flock for nubod's whole life. */
#define STATE_LOCK_FILE "nubod.lock"

static char *default_recipes_dir(void)
{
	autofree char *self = fs_self_dir();
	char *installed = xasprintf("%s/../share/nubo/images", self);
	if (fs_exists(installed))
		return installed;
	free(installed);
	return xstrdup(NUBO_SOURCE_IMAGES_DIR);
}

/* The web console's built files: installed beside nubod, else this build
 * tree's (web/ under the build directory); NULL when neither exists. */
static char *default_web_dir(void)
{
	autofree char *self = fs_self_dir();
	char *installed = xasprintf("%s/../share/nubo/web", self);
	autofree char *index = xasprintf("%s/index.html", installed);
	if (fs_exists(index))
		return installed;
	free(installed);
	if (fs_exists(NUBO_BUILD_WEB_DIR "/index.html"))
		return xstrdup(NUBO_BUILD_WEB_DIR);
	return NULL;
}

static const char *env_or(const char *name, const char *fallback)
{
	const char *v = getenv(name);
	return v && *v ? v : fallback;
}

/* Takes the state directory's lock (STATE/nubod.lock) for the rest of this
 * process's life, before anything else touches the directory: two nubods on
 * one state would both adopt its VMs and act on them, and a --destroy would
 * pull the store from under a running one. The kernel drops the lock when
 * nubod exits, however it exits, so a kill -9 never leaves it stale. */
static int lock_state_dir(const char *state_dir, bool destroy, int *fd)
{
	struct err e = {0};
	if (fs_mkdir_p(state_dir, 0755, &e) < 0) {
		fprintf(stderr, "nubod: %s\n", e.msg);
		return -1;
	}
	autofree char *path = xasprintf("%s/" STATE_LOCK_FILE, state_dir);
	pid_t holder = 0;
	if (fs_lock_exclusive(path, fd, &holder, &e) == 0)
		return 0;
	if (e.kind != ERR_CONFLICT) {
		fprintf(stderr, "nubod: %s\n", e.msg);
		return -1;
	}
	autofree char *who = holder ? xasprintf("nubod pid %d", (int)holder)
				    : xstrdup("another nubod (it has not written its pid yet)");
	fprintf(stderr, "nubod: state directory %s is in use by %s, which holds %s; %s\n", state_dir, who, path,
		destroy ? "stop it first (SIGTERM), then run --destroy again: nothing was changed"
			: "stop it first, or give this nubod another --state-dir");
	return -1;
}

/* Stops every VM and removes every host object and file of this state. The
 * lock file goes last, while its lock is still held, so no other nubod can
 * start on the directory before it is gone. */
static int destroy_state(struct ctl **ctl, struct store **st, const char *state_dir, struct err *e)
{
	autofree char *pg_shown = strcmp(store_engine(*st), "sqlite") ? xstrdup(store_target_shown(*st)) : NULL;
	if (ctl_destroy_all(*ctl, e) < 0)
		return -1;
	ctl_close(*ctl);
	*ctl = NULL;
	store_close(*st);
	*st = NULL;
	runner_set_capture_log(NULL);
	static const char *const files[] = {"nubo.db", "nubo.db-wal", "nubo.db-shm", "dry-run.log", NULL};
	for (int i = 0; files[i]; i++) {
		char *f = xasprintf("%s/%s", state_dir, files[i]);
		unlink(f);
		free(f);
	}
	autofree char *lock = xasprintf("%s/" STATE_LOCK_FILE, state_dir);
	unlink(lock);
	rmdir(state_dir);
	log_info("destroyed all state in %s", state_dir);
	if (pg_shown)
		log_info("the PostgreSQL database %s is left as it is: drop it (dropdb) to remove its rows too", pg_shown);
	return 0;
}

/* Open files nubod asks for: plenty for thousands of VMs and connections. */
#define NUBOD_NOFILE_MAX 262144ul

/* Runs the reconcilers and the API until SIGINT or SIGTERM; VMs keep running after. */
static int serve(struct ctl *ctl, const struct api_options *ao, struct err *e)
{
	autofree char *sock_dir = xstrdup(ao->socket_path);
	char *slash = strrchr(sock_dir, '/');
	if (slash && slash != sock_dir) {
		*slash = '\0';
		if (fs_mkdir_p(sock_dir, 0755, e) < 0)
			return -1;
	}
	/* SIGINT and SIGTERM are blocked in every thread, before the first one
	 * starts, and taken below with sigwaitinfo: a handler would run in
	 * whichever thread the kernel picks and could leave this one waiting.
	 * The runner clears the mask in every program it starts. */
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* Before anything opens a descriptor; api sizes its listeners from it. */
	unsigned long nofile = fs_nofile_raise(NUBOD_NOFILE_MAX);
	if (nofile < 4096)
		log_warn("nubod may open only %lu files (ulimit -n); raise the hard limit (LimitNOFILE= in its unit) "
			 "for many VMs and API clients", nofile);
	struct api_server *api = NULL;
	if (ctl_start(ctl, e) < 0 || api_start(ctl, ao, &api, e) < 0)
		return -1;
	log_info("nubod %s ready (state %s%s)", NUBO_VERSION, ctl_state_dir(ctl), runner_dry_run() ? ", dry-run" : "");
	/* Only now, with the API answering: systemctl start returns once nubo works. */
	service_notify_ready("serving the API");
	siginfo_t si;
	while (sigwaitinfo(&stop, &si) < 0)
		;
	service_notify_stopping();
	log_info("nubod stopping (%s from pid %d); VMs keep running", si.si_signo == SIGINT ? "SIGINT" : "SIGTERM",
		 (int)si.si_pid);
	api_stop(api);
	return 0;
}

int main(int argc, char **argv)
{
	const char *state_dir = env_or("NUBO_STATE_DIR", "/var/lib/nubo");
	const char *socket_path = env_or("NUBO_SOCKET", "/run/nubo/nubod.sock");
	const char *accel = "auto", *config_path = NULL, *database = NULL;
	const char *listen_addr = NULL, *tls_cert = NULL, *tls_key = NULL, *listen_http = NULL;
	const char *host_name = NULL, *advertise = NULL;
	autofree char *recipes = NULL;
	bool destroy = false;
	static const struct option opts[] = {
		{"state-dir", required_argument, 0, 's'}, {"socket", required_argument, 0, 'S'},
		{"accel", required_argument, 0, 'a'},     {"config", required_argument, 0, 'c'},
		{"recipes-dir", required_argument, 0, 'r'}, {"dry-run", no_argument, 0, 'n'},
		{"destroy", no_argument, 0, 'D'},         {"debug", no_argument, 0, 'd'},
		{"listen", required_argument, 0, 'l'},    {"tls-cert", required_argument, 0, 'C'},
		{"tls-key", required_argument, 0, 'K'},   {"database", required_argument, 0, 'B'},
		{"listen-http", required_argument, 0, 'P'},
		{"host-name", required_argument, 0, 'H'}, {"advertise", required_argument, 0, 'A'},
		{"help", no_argument, 0, 'h'},            {"version", no_argument, 0, 'V'},
		{0, 0, 0, 0},
	};
	int ch;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 's': state_dir = optarg; break;
		case 'S': socket_path = optarg; break;
		case 'a': accel = optarg; break;
		case 'c': config_path = optarg; break;
		case 'r': recipes = xstrdup(optarg); break;
		case 'n': runner_set_dry_run(true); break;
		case 'D': destroy = true; break;
		case 'l': listen_addr = optarg; break;
		case 'C': tls_cert = optarg; break;
		case 'K': tls_key = optarg; break;
		case 'B': database = optarg; break;
		case 'P': listen_http = optarg; break;
		case 'H': host_name = optarg; break;
		case 'A': advertise = optarg; break;
		case 'd': log_set_level(LOG_DEBUG); break;
		case 'h': fputs(usage, stdout); return 0;
		case 'V': printf("nubod %s\n", NUBO_VERSION); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "nubod: unexpected argument \"%s\"\n%s", argv[optind], usage);
		return 2;
	}
	/* Checked before anything starts: a TCP port never opens without TLS. */
	if (listen_addr && (!tls_cert || !tls_key)) {
		fprintf(stderr, "nubod: --listen %s needs --tls-cert FILE and --tls-key FILE (a PEM certificate and its "
				"key): API tokens never cross a network in clear\n", listen_addr);
		return 2;
	}
	if (!listen_addr && (tls_cert || tls_key)) {
		fprintf(stderr, "nubod: --tls-cert and --tls-key are for --listen HOST:PORT; give it too\n");
		return 2;
	}
	struct err ce = {0};
	if (listen_http && api_listen_http_check(listen_http, &ce) < 0) {
		fprintf(stderr, "nubod: %s\n", ce.msg);
		return 2;
	}
	struct err he = {0};
	if (host_name && host_name_validate(host_name, "--host-name", &he) < 0) {
		fprintf(stderr, "nubod: %s\n", he.msg);
		return 2;
	}
	if (advertise && (!*advertise || strlen(advertise) > 63 || strpbrk(advertise, " /\t\n"))) {
		fprintf(stderr, "nubod: --advertise \"%s\" must be an address or name (at most 63 characters)\n",
			advertise);
		return 2;
	}
	/* First of all: nothing below may touch a state another nubod runs. */
	int lock_fd = -1;
	if (lock_state_dir(state_dir, destroy, &lock_fd) < 0)
		return 1;
	if (!recipes)
		recipes = default_recipes_dir();

	curl_global_init(CURL_GLOBAL_DEFAULT);   /* before any thread: downloads run on build threads */
	struct err e = {0};
	if (runner_dry_run()) {
		autofree char *log_path = xasprintf("%s/dry-run.log", state_dir);
		if (fs_mkdir_p(state_dir, 0755, NULL) == 0)
			runner_set_capture_log(log_path);
	}
	struct ctl_options co = {.state_dir = state_dir, .recipes_dir = recipes, .accel = accel,
				 .host_name = host_name, .advertise = advertise, .version = NUBO_VERSION,
				 .listen = listen_addr, .listen_http = listen_http, .tls_cert = tls_cert,
				 /* the one place dry-run picks the host: recorded, not touched */
				 .host = runner_dry_run() ? &hostops_recording : &hostops_real};
	config_init_default(&co.config);
	if (!config_path && fs_exists("/etc/nubo/nubod.json"))
		config_path = "/etc/nubo/nubod.json";
	if ((config_path && config_load(&co.config, config_path, &e) < 0) || fs_mkdir_p(state_dir, 0755, &e) < 0) {
		fprintf(stderr, "nubod: %s\n", e.msg);
		config_free(&co.config);
		return 1;
	}
	if (!database && co.config.database[0])
		database = co.config.database;
	if (database && !store_target_is_pg(database)) {
		fprintf(stderr, "nubod: --database must be a postgres:// URI, e.g. postgres://nubo@db.example/nubo; "
				"without it the store is SQLite at %s/nubo.db\n", state_dir);
		config_free(&co.config);
		return 2;
	}
	autofree char *db = database ? xstrdup(database) : xasprintf("%s/nubo.db", state_dir);
	struct store *st = NULL;
	struct ctl *ctl = NULL;
	int rc = store_open(db, &st, &e);
	if (rc < 0)
		config_free(&co.config);
	else
		rc = ctl_open(st, &co, &ctl, &e);
	autofree char *web_dir = default_web_dir();
	struct api_options ao = {.socket_path = socket_path, .listen = listen_addr, .tls_cert = tls_cert,
				 .tls_key = tls_key, .listen_http = listen_http, .web_dir = web_dir};
	if (rc == 0)
		rc = destroy ? destroy_state(&ctl, &st, state_dir, &e) : serve(ctl, &ao, &e);
	if (rc < 0)
		fprintf(stderr, "nubod: %s\n", e.msg);
	ctl_close(ctl);
	store_close(st);
	close(lock_fd);   /* last: the state is no longer ours */
	return rc < 0 ? 1 : 0;
}
