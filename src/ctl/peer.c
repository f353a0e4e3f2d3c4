/*
 * peer: images between the hosts of a cloud. An image is one row in the
 * shared store, but its files are per host: the host that built or imported
 * it records their names, sizes and SHA-256 in the row (images.files) and
 * itself as holding a copy (image_copies). A host that must start a VM of
 * an image it lacks fetches the files from a host holding them, over HTTP
 * from that host's nubod (GET /v1/peer/images/ID/FILE, api/peer.c), and
 * becomes a holder in turn.
 *
 * Hosts show each other the cluster's secret (a random "nubo_…" kept in the
 * store's meta table, made by the first nubod that needs it) in the header
 * X-Nubo-Peer: only a holder of the database can read it, and a holder of
 * the database can do anything to the cloud anyway. It is no API token:
 * the peer routes give files and nothing else.
 *
 * A fetch, and what a kill at any point leaves:
 *
 *   images/<id>.fetch/<file>.part   bytes so far: the next try asks for the
 *                                   rest (Range) and checks the SHA-256
 *   images/<id>.fetch/<file>        whole and checked
 *   images/<id>/                    renamed from .fetch once every file is
 *                                   whole; only then the copy row is written
 *
 * so a nubod killed mid-fetch goes on from where it was at the next start
 * of a VM that needs the image; a wrong checksum removes the file and the
 * next try starts it over. Each host removes its own files of an image
 * whose row is gone (nubo image delete, on any host's API).
 */
#include "ctl/ctl-priv.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/download.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/secret.h"
#include "util/str.h"
#include "util/thread.h"
#include "util/timeutil.h"

#define PEER_SECRET_KEY "peer_secret"
/* How long after a failed fetch the next one may start. */
#define FETCH_RETRY_MS 5000
/* How often the reconciler looks for files to record or remove. */
#define PEER_PASS_MS 3000
#define FAILS_MAX 16

/* The files of an image, in the order they are fetched. */
static const char *const image_files[] = {"disk.qcow2", "vmlinuz", "initrd.img", NULL};

struct ctl_peer {
	char secret[SECRET_LEN + 1];
	int64_t pass_at;   /* reconciler thread only */
	pthread_mutex_t mu;
	struct {
		char image_id[ID_MAX];
		int64_t at;          /* mono ms */
		char why[512];
	} fails[FAILS_MAX];    /* the last failed fetch of each image, under mu */
	char **foreign;        /* folders in images/ this store never deleted: left alone, said once */
	int n_foreign;
};

int peer_init(struct ctl *c, struct err *e)
{
	c->peer = xcalloc(1, sizeof(*c->peer));
	pthread_mutex_init(&c->peer->mu, NULL);
	char fresh[SECRET_LEN + 1];
	secret_new(fresh);
	char *secret = NULL;
	if (store_meta_init(c->st, PEER_SECRET_KEY, fresh, &secret, e) < 0)
		return -1;
	snprintf(c->peer->secret, sizeof(c->peer->secret), "%s", secret ? secret : "");
	explicit_bzero(fresh, sizeof(fresh));
	free(secret);
	return 0;
}

void peer_free(struct ctl *c)
{
	if (!c->peer)
		return;
	explicit_bzero(c->peer->secret, sizeof(c->peer->secret));
	for (int i = 0; i < c->peer->n_foreign; i++)
		free(c->peer->foreign[i]);
	free(c->peer->foreign);
	pthread_mutex_destroy(&c->peer->mu);
	free(c->peer);
	c->peer = NULL;
}

bool ctl_peer_authorized(struct ctl *c, const char *presented)
{
	if (!c->peer || !presented || !secret_well_formed(presented))
		return false;
	char a[SECRET_HASH_LEN + 1], b[SECRET_HASH_LEN + 1];
	secret_hash(presented, a);
	secret_hash(c->peer->secret, b);
	return secret_hash_equal(a, b);
}

/* The entry of file in an image's files, or NULL. */
static json_t *files_entry(json_t *files, const char *file)
{
	size_t i;
	json_t *f;
	json_array_foreach(files, i, f)
		if (json_string_value(json_object_get(f, "name")) &&
		    strcmp(json_string_value(json_object_get(f, "name")), file) == 0)
			return f;
	return NULL;
}

int ctl_peer_image_open(struct ctl *c, const char *image_id, const char *file, int *fd, int64_t *size,
			struct err *e)
{
	struct image img;
	if (store_image_get(c->st, image_id, &img, e) < 0)
		return -1;
	json_t *files = img.files ? json_loads(img.files, 0, NULL) : NULL;
	int rc = 0;
	autofree char *dir = ctl_image_dir(c, img.id);
	autofree char *path = xasprintf("%s/%s", dir, file);
	if (strcmp(img.state, "ready") != 0 || !files_entry(files, file)) {
		rc = err_set(e, ERR_NOT_FOUND, "image %s has no file \"%s\" to fetch", img.name, file);
		goto out;
	}
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (*fd < 0 || fstat(*fd, &st) < 0) {
		rc = err_set(e, ERR_NOT_FOUND, "host %s holds no copy of image %s (%s: %s)", c->host_name, img.name, path,
			     strerror(errno));
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		goto out;
	}
	*size = (int64_t)st.st_size;
out:
	json_decref(files);
	image_free_fields(&img);
	return rc;
}

int peer_image_files(const char *dir, char **out, struct err *e)
{
	json_t *files = json_array();
	int rc = 0;
	for (int i = 0; image_files[i] && rc == 0; i++) {
		autofree char *path = xasprintf("%s/%s", dir, image_files[i]);
		struct stat st;
		char sum[65];
		if (stat(path, &st) < 0)
			continue;
		rc = download_sha256(path, sum, e);
		if (rc == 0)
			json_array_append_new(files, json_pack("{s:s, s:I, s:s}", "name", image_files[i], "size",
							       (json_int_t)st.st_size, "sha256", sum));
	}
	*out = rc == 0 ? json_dumps(files, JSON_COMPACT) : NULL;
	json_decref(files);
	return rc;
}

/* --- fetching ------------------------------------------------------------ */

struct fetch_job {
	struct ctl *c;
	char image_id[ID_MAX];
	char op_id[ID_MAX];    /* the operation of the VM waiting for it: its progress */
};

static void fail_record(struct ctl *c, const char *image_id, const char *why)
{
	struct ctl_peer *p = c->peer;
	pthread_mutex_lock(&p->mu);
	int slot = 0;
	for (int i = 0; i < FAILS_MAX; i++) {
		if (strcmp(p->fails[i].image_id, image_id) == 0 || !p->fails[i].image_id[0]) {
			slot = i;
			break;
		}
		if (p->fails[i].at < p->fails[slot].at)
			slot = i;
	}
	snprintf(p->fails[slot].image_id, sizeof(p->fails[slot].image_id), "%s", image_id);
	p->fails[slot].at = why ? time_mono_ms() : 0;
	snprintf(p->fails[slot].why, sizeof(p->fails[slot].why), "%s", why ? why : "");
	pthread_mutex_unlock(&p->mu);
}

/* Whether the last fetch of image_id failed less than FETCH_RETRY_MS ago;
 * why gets its reason. */
static bool fail_recent(struct ctl *c, const char *image_id, char why[512])
{
	struct ctl_peer *p = c->peer;
	bool recent = false;
	pthread_mutex_lock(&p->mu);
	for (int i = 0; i < FAILS_MAX; i++)
		if (strcmp(p->fails[i].image_id, image_id) == 0 && p->fails[i].at) {
			snprintf(why, 512, "%s", p->fails[i].why);
			recent = time_mono_ms() - p->fails[i].at < FETCH_RETRY_MS;
		}
	pthread_mutex_unlock(&p->mu);
	return recent;
}

/* The first host other than this one that holds a copy and is up, with the
 * URL its nubod serves other hosts at. */
static int pick_source(struct ctl *c, const struct image *img, struct host *src, struct err *e)
{
	char **holders = NULL;
	int n = 0, n_hosts = 0, rc = -1;
	struct host *hs = NULL;
	int64_t now = time_now_ms(), down_after = (int64_t)c->cfg.host_down_after_s * 1000;
	struct sbuf why = {0};
	char *reasons = NULL;
	if (store_image_copies(c->st, img->id, &holders, &n, e) < 0 || store_host_list(c->st, &hs, &n_hosts, e) < 0)
		goto out;
	for (int i = 0; i < n && rc < 0; i++)
		for (int j = 0; j < n_hosts && rc < 0; j++) {
			if (strcmp(hs[j].name, holders[i]) != 0 || strcmp(hs[j].name, c->host_name) == 0)
				continue;
			if (strcmp(host_state_at(&hs[j], now, down_after), "down") == 0)
				sbuf_addf(&why, "%s%s is down", why.len ? "; " : "", hs[j].name);
			else if (!hs[j].peer_url[0])
				sbuf_addf(&why, "%s%s serves no files to other hosts (it has no --listen or "
					  "--listen-http)", why.len ? "; " : "", hs[j].name);
			else {
				*src = hs[j];
				rc = 0;
			}
		}
	reasons = sbuf_take(&why);
	if (rc < 0)
		err_set(e, ERR_UNAVAILABLE, "no host can give image %s's files: %s", img->name,
			n == 0 ? "no host holds them" : reasons ? reasons : "only this host is named as holding them");
out:
	free(reasons);
	store_strv_free(holders);
	free(hs);
	return rc;
}

struct fetch_progress {
	struct ctl *c;
	const char *op_id;
	int64_t before, total;   /* the bytes of the files done, of all */
};

static void on_fetch_progress(void *arg, uint64_t done, uint64_t total)
{
	(void)total;
	struct fetch_progress *p = arg;
	if (p->op_id && p->op_id[0])
		ctl_op_progress(p->c, p->op_id, p->before + (int64_t)done, p->total);
}

int peer_fetch_files(struct ctl *c, json_t *files, const struct host *src, const char *base_url, const char *tmp,
		     const char *op_id,
		     const char *what, int (*after)(const char *name, const char *path, void *arg, struct err *e),
		     void *arg, struct err *e)
{
	struct fetch_progress fp = {.c = c, .op_id = op_id};
	size_t i;
	json_t *f;
	json_array_foreach(files, i, f)
		fp.total += json_integer_value(json_object_get(f, "size"));
	int rc = fs_mkdir_p(tmp, 0750, e);
	if (rc == 0 && fp.total)
		log_info("%s: fetching %lld bytes from %s", what, (long long)fp.total, base_url);
	autofree char *header = xasprintf("X-Nubo-Peer: %s", c->peer->secret);
	json_array_foreach(files, i, f) {
		if (rc < 0)
			break;
		const char *name = json_string_value(json_object_get(f, "name"));
		const char *sum = json_string_value(json_object_get(f, "sha256"));
		if (!name || !sum || strchr(name, '/')) {
			rc = err_set(e, ERR_INTERNAL, "the record of %s is malformed", what);
			break;
		}
		autofree char *dest = xasprintf("%s/%s", tmp, name);
		autofree char *url = xasprintf("%s/%s", base_url, name);
		if (!fs_exists(dest))   /* a file renamed in place before a kill is whole and checked */
			rc = download_resume(url, header, src->peer_pin, dest, sum, on_fetch_progress, &fp, e);
		if (rc == 0 && after)
			rc = after(name, dest, arg, e);
		fp.before += json_integer_value(json_object_get(f, "size"));
	}
	explicit_bzero(header, strlen(header));
	return rc;
}

static int fetch_files(struct ctl *c, const struct image *img, const char *op_id, struct err *e)
{
	autofree char *dir = ctl_image_dir(c, img->id);
	autofree char *tmp = xasprintf("%s.fetch", dir);
	struct host src;
	memset(&src, 0, sizeof(src));
	if (fs_exists(dir))
		return store_image_copy_set(c->st, img->id, c->host_name, true, e);
	json_t *files = img->files ? json_loads(img->files, 0, NULL) : NULL;
	if (!json_is_array(files)) {
		json_decref(files);
		return err_set(e, ERR_UNAVAILABLE, "image %s has no record of its files yet (its host %s records them "
						    "once it is ready)", img->name, img->host);
	}
	/* no files (dry-run): nothing to fetch, from nobody */
	int rc = json_array_size(files) ? pick_source(c, img, &src, e) : 0;
	if (rc == 0 && !json_array_size(files))
		snprintf(src.name, sizeof(src.name), "(none: the image has no files)");
	if (rc == 0) {
		autofree char *base = xasprintf("%s/v1/peer/images/%s", src.peer_url, img->id);
		autofree char *what = xasprintf("image %s's files", img->name);
		rc = peer_fetch_files(c, files, &src, base, tmp, op_id, what, NULL, NULL, e);
	}
	json_decref(files);
	if (rc == 0 && rename(tmp, dir) < 0)
		rc = err_set(e, ERR_INTERNAL, "cannot rename %s to %s: %s", tmp, dir, strerror(errno));
	if (rc == 0)
		rc = ctl_image_seal(c, dir, e);
	if (rc == 0)
		rc = store_image_copy_set(c->st, img->id, c->host_name, true, e);
	if (rc == 0)
		log_info("image %s: fetched from host %s, its checksums match", img->name, src.name);
	return rc;
}

static void *fetch_thread(void *arg)
{
	struct fetch_job *job = arg;
	struct image img;
	struct err e = {0};
	if (store_image_get(job->c->st, job->image_id, &img, &e) == 0) {
		if (fetch_files(job->c, &img, job->op_id, &e) < 0) {
			log_error("image %s: %s", img.name, e.msg);
			fail_record(job->c, img.id, e.msg);
		} else {
			fail_record(job->c, img.id, NULL);
		}
		image_free_fields(&img);
	}
	ctl_builds_track(job->c, job->image_id, false);
	ctl_kick(job->c);   /* the VM waiting for it starts now */
	free(job);
	return NULL;
}

/* Whether this host holds img: it made it (its files are what they are,
 * as on a single host), or its folder is in place, or the store says so. */
static bool holds(struct ctl *c, const struct image *img)
{
	autofree char *dir = ctl_image_dir(c, img->id);
	if (strcmp(img->host, c->host_name) == 0 || !img->host[0] || fs_exists(dir))
		return true;
	char **holders = NULL;
	int n = 0;
	bool found = false;
	if (store_image_copies(c->st, img->id, &holders, &n, NULL) == 0)
		for (int i = 0; i < n && !found; i++)
			found = strcmp(holders[i], c->host_name) == 0;
	store_strv_free(holders);
	return found;
}

int peer_image_local(struct ctl *c, const struct image *img, const char *op_id, struct err *e)
{
	if (holds(c, img))
		return 0;
	if (ctl_builds_has(c, img->id))
		return err_set(e, ERR_UNAVAILABLE, "fetching image %s from another host", img->name), 1;
	char why[512] = "";
	if (fail_recent(c, img->id, why))
		return err_set(e, ERR_UNAVAILABLE, "waiting for image %s: %s", img->name, why), 1;
	struct fetch_job *job = xcalloc(1, sizeof(*job));
	job->c = c;
	snprintf(job->image_id, sizeof(job->image_id), "%s", img->id);
	snprintf(job->op_id, sizeof(job->op_id), "%s", op_id ? op_id : "");
	ctl_builds_track(c, img->id, true);
	if (thread_start_detached(fetch_thread, job) != 0) {
		ctl_builds_track(c, img->id, false);
		free(job);
		return err_set(e, ERR_INTERNAL, "cannot start a thread to fetch image %s", img->name);
	}
	return err_set(e, ERR_UNAVAILABLE, "fetching image %s from another host", img->name), 1;
}

/* --- the reconciler ------------------------------------------------------- */

/* A copy this host has whole but the store does not name (its files put
 * there by hand, as from a backup): recorded once every file's checksum
 * matches the store's. */
static void record_found(struct ctl *c, const struct image *img, const char *dir)
{
	char **holders = NULL;
	int n = 0;
	bool known = false;
	if (store_image_copies(c->st, img->id, &holders, &n, NULL) < 0)
		return;
	for (int i = 0; i < n && !known; i++)
		known = strcmp(holders[i], c->host_name) == 0;
	store_strv_free(holders);
	if (known)
		return;
	autofree char *have = NULL;
	struct err e = {0};
	json_t *want = json_loads(img->files, 0, NULL), *got = NULL;
	if (peer_image_files(dir, &have, &e) == 0 && (got = json_loads(have, 0, NULL)) && json_equal(want, got) &&
	    store_image_copy_set(c->st, img->id, c->host_name, true, &e) == 0)
		log_info("image %s: a whole copy is here; recorded", img->name);
	json_decref(want);
	json_decref(got);
}

/* Records the files of images this host made before their files were
 * recorded (made by an older nubod), and itself as holding them; and copies
 * found whole here. */
static void record_own(struct ctl *c, struct image *img)
{
	autofree char *dir = ctl_image_dir(c, img->id);
	struct err e = {0};
	if (strcmp(img->state, "ready") != 0 || !fs_exists(dir))
		return;
	if (img->files && strcmp(img->host, c->host_name) != 0) {
		record_found(c, img, dir);
		return;
	}
	if (img->files || strcmp(img->host, c->host_name) != 0)
		return;
	if (peer_image_files(dir, &img->files, &e) < 0 || store_image_update(c->st, img, &e) < 0 ||
	    store_image_copy_set(c->st, img->id, c->host_name, true, &e) < 0)
		log_warn("image %s: recording its files for other hosts: %s", img->name, e.msg);
}

/* Whether the folder of images/ named name may go: the event log says its
 * image was deleted. A folder this store never knew (another store's, a
 * copy put there by hand, one older than the log's retention) is kept, and
 * said once. */
static bool sweepable(struct ctl *c, const char *id, const char *name)
{
	struct ctl_peer *p = c->peer;
	for (int i = 0; i < p->n_foreign; i++)
		if (strcmp(p->foreign[i], name) == 0)
			return false;
	bool deleted = false;
	struct err e = {0};
	if (store_event_seen(c->st, "image", id, "deleted", &deleted, &e) < 0) {
		log_warn("image %s: cannot read the event log: %s", id, e.msg);
		return false;
	}
	if (deleted)
		return true;
	log_warn("images/%s has no image in the store and none was deleted: left alone (remove it by hand if unwanted)",
		 name);
	p->foreign = xrealloc(p->foreign, sizeof(*p->foreign) * (size_t)(p->n_foreign + 1));
	p->foreign[p->n_foreign++] = xstrdup(name);
	return false;
}

/* Removes this host's files of images whose row is gone. A row is written
 * before its folder (a build, an import, a fetch), so a folder without one
 * is an image deleted through some host's API, if the event log says so. */
static void sweep(struct ctl *c, const struct image *imgs, int n)
{
	autofree char *root = xasprintf("%s/images", c->state_dir);
	DIR *d = opendir(root);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		char id[ID_MAX];
		if (de->d_name[0] == '.' || strlen(de->d_name) >= sizeof(id) + 6)
			continue;
		snprintf(id, sizeof(id), "%.*s", (int)strcspn(de->d_name, "."), de->d_name);
		bool known = ctl_builds_has(c, id);
		for (int i = 0; i < n && !known; i++)
			known = strcmp(imgs[i].id, id) == 0;
		if (known || !str_starts_with(id, "img-") || !sweepable(c, id, de->d_name))
			continue;
		autofree char *path = xasprintf("%s/%s", root, de->d_name);
		struct err e = {0};
		if (fs_rm_rf(path, &e) < 0)
			log_warn("image %s: removing the files of a deleted image: %s", id, e.msg);
		else
			log_info("image %s: deleted; its files on this host are removed", id);
	}
	if (d)
		closedir(d);
}

bool peer_reconcile(struct ctl *c)
{
	int64_t now = time_mono_ms();
	if (now - c->peer->pass_at < PEER_PASS_MS)
		return false;
	c->peer->pass_at = now;
	struct image *imgs = NULL;
	int n = 0;
	if (store_image_list(c->st, &imgs, &n, NULL) < 0)
		return false;
	for (int i = 0; i < n; i++)
		record_own(c, &imgs[i]);
	sweep(c, imgs, n);
	image_list_free(imgs, n);
	return false;
}
