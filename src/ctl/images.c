/*
 * images: building images from the recipes shipped with nubo
 * (images/<recipe>/build.sh OUTDIR), and deleting them.
 *
 * A build runs on its own thread so VMs keep being reconciled meanwhile. The
 * image row exists from the start (state "building") so the name is taken; a
 * failed build removes the row and every file, leaving nothing behind. A
 * build cut off by a nubod restart is started again.
 *
 * An upload (the disk in a request's body) is recorded first too, state
 * "uploading", and its bytes go to images/<id>/upload as they come, hashed
 * on the way. Only a body whose digest matches turns it into an import
 * ("importing", the same job as a file import). An upload cut off, by its
 * client or by a restart of nubod, removes the row and the folder: nothing
 * of it can be resumed without its client.
 */
#include "ctl/ctl-priv.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <unistd.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "host/disk.h"
#include "host/access.h"
#include "host/download.h"
#include "host/qemu.h"
#include "util/crashpoint.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/runner.h"
#include "util/str.h"
#include "util/thread.h"
#include "util/timeutil.h"

#define BUILD_TIMEOUT_MS (30 * 60 * 1000)

/* The files an import reads from nubod's host, as opened when its caller's
 * right to them was checked (host/access.h): -1 for none. */
struct import_fds {
	int file, kernel, initrd;
};
#define IMPORT_FDS_NONE ((struct import_fds){-1, -1, -1})

static void import_fds_close(struct import_fds *f)
{
	int *all[] = {&f->file, &f->kernel, &f->initrd};
	for (int i = 0; i < 3; i++) {
		if (*all[i] >= 0)
			close(*all[i]);
		*all[i] = -1;
	}
}

struct build_job {
	struct ctl *c;
	char image_id[ID_MAX];
	struct import_fds fds;   /* the job's to close */
};

static char *recipe_script(struct ctl *c, const char *recipe)
{
	return xasprintf("%s/%s/build.sh", c->recipes_dir, recipe);
}

static char *recipe_names(struct ctl *c)
{
	struct sbuf b = {0};
	DIR *d = opendir(c->recipes_dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		autofree char *script = recipe_script(c, de->d_name);
		if (fs_exists(script))
			sbuf_addf(&b, "%s%s", b.len ? ", " : "", de->d_name);
	}
	if (d)
		closedir(d);
	return sbuf_take(&b);
}

void ctl_builds_track(struct ctl *c, const char *id, bool add)
{
	pthread_mutex_lock(&c->builds_mu);
	if (add) {
		c->builds = xrealloc(c->builds, sizeof(char *) * (size_t)(c->n_builds + 1));
		c->builds[c->n_builds++] = xstrdup(id);
	} else {
		for (int i = 0; i < c->n_builds; i++) {
			if (strcmp(c->builds[i], id) == 0) {
				free(c->builds[i]);
				c->builds[i] = c->builds[--c->n_builds];
				break;
			}
		}
	}
	pthread_mutex_unlock(&c->builds_mu);
}

bool ctl_builds_has(struct ctl *c, const char *id)
{
	pthread_mutex_lock(&c->builds_mu);
	bool found = false;
	for (int i = 0; i < c->n_builds && !found; i++)
		found = strcmp(c->builds[i], id) == 0;
	pthread_mutex_unlock(&c->builds_mu);
	return found;
}

/* Reads what the recipe wrote into image.json. */
static int read_manifest(const char *dir, struct image *img, struct err *e)
{
	autofree char *path = xasprintf("%s/image.json", dir);
	json_error_t je;
	json_t *m = json_load_file(path, 0, &je);
	if (!m)
		return err_set(e, ERR_INTERNAL, "the recipe wrote no valid %s: %s", path, je.text);
	const char *boot = json_string_value(json_object_get(m, "boot"));
	const char *user = json_string_value(json_object_get(m, "user"));
	const char *cmdline = json_string_value(json_object_get(m, "cmdline"));
	const char *os = json_string_value(json_object_get(m, "os"));
	snprintf(img->boot, sizeof(img->boot), "%s", boot ? boot : "direct");
	snprintf(img->user, sizeof(img->user), "%s", user ? user : "root");
	free(img->cmdline);
	free(img->os);
	img->cmdline = xstrdup(cmdline);
	img->os = xstrdup(os);
	json_decref(m);
	autofree char *disk = xasprintf("%s/disk.qcow2", dir);
	struct stat st;
	if (stat(disk, &st) < 0)
		return err_set(e, ERR_INTERNAL, "the recipe produced no %s", disk);
	img->size_bytes = (int64_t)st.st_blocks * 512;
	struct disk_info info;
	if (disk_info(disk, &info, e) < 0)
		return -1;
	img->virtual_size_bytes = (int64_t)info.virtual_size;
	return 0;
}

/* An image's files are root's and readable by QEMU's group alone (0640, in
 * a 0750 folder), whatever mode the recipe or the import left. */
int ctl_image_seal(struct ctl *c, const char *dir, struct err *e)
{
	static const char *const files[] = {"disk.qcow2", "vmlinuz", "initrd.img", NULL};
	struct qemu_user u;
	if (ctl_qemu_user(c, &u, e) < 0 || c->host->file_owner(dir, 0, u.gid, 0750, e) < 0)
		return -1;
	for (int i = 0; files[i]; i++) {
		autofree char *f = xasprintf("%s/%s", dir, files[i]);
		if (fs_exists(f) && c->host->file_owner(f, 0, u.gid, 0640, e) < 0)
			return -1;
	}
	return 0;
}

/* Records how making an image ended: ready, or no row and no file at all. */
static void finish_image(struct ctl *c, struct image *img, const char *dir, int rc, struct err *e, const char *doing,
			 int64_t t0)
{
	if (rc == 0)
		rc = ctl_image_seal(c, dir, e);
	/* what other hosts fetch and check (peer.c) */
	if (rc == 0) {
		free(img->files);
		img->files = NULL;
		rc = peer_image_files(dir, &img->files, e);
	}
	if (rc == 0) {
		snprintf(img->state, sizeof(img->state), "ready");
		rc = store_image_update(c->st, img, e);
	}
	if (rc == 0)
		rc = store_image_copy_set(c->st, img->id, c->host_name, true, e);
	if (rc == 0) {
		ctl_op_phase(c, img->op_id, "ready");
		ctl_op_finish(c, img->op_id, true, NULL);
		log_info("image %s: ready in %.1f s", img->name, (double)(time_mono_ms() - t0) / 1000.0);
		return;
	}
	fs_rm_rf(dir, NULL);
	store_image_delete(c->st, img->id, NULL);
	err_prefix(e, "%s image %s", doing, img->name);
	ctl_op_finish(c, img->op_id, false, e->msg);
}

/*
 * A recipe says where it is with lines on its stdout:
 *   "==> STEP"           a step begins (so the one before has completed)
 *   "==> STEP: NOTE"     how far the step is ("kernel: 812/2400 files")
 * Each becomes a phase of the build's operation when it is reached, so
 * `--wait` shows a long build as it goes instead of a bare clock: a step is
 * recorded when the next one begins (phases are what has completed), a note
 * at once. Names are cut to printable text of bounded length: a recipe's
 * output is not trusted to be tidy.
 */
struct recipe_steps {
	struct ctl *c;
	const char *op_id;
	char current[48];   /* the step under way, "" before the first */
};

static void recipe_name(const char *text, char out[48])
{
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)text; *p && n < 47; p++)
		out[n++] = (*p >= 0x20 && *p < 0x7f) ? (char)*p : '?';
	while (n && out[n - 1] == ' ')
		n--;
	out[n] = '\0';
}

static void on_recipe_line(void *arg, const char *line)
{
	struct recipe_steps *rs = arg;
	if (strncmp(line, "==> ", 4) != 0)
		return;
	char name[48];
	recipe_name(line + 4, name);
	if (!name[0])
		return;
	if (strstr(name, ": ")) {
		ctl_op_phase(rs->c, rs->op_id, name);
		return;
	}
	if (rs->current[0])
		ctl_op_phase(rs->c, rs->op_id, rs->current);
	snprintf(rs->current, sizeof(rs->current), "%s", name);
}

/* Runs the recipe and records the outcome; the image row and its files go
 * away if anything fails. */
static void build_image(struct ctl *c, struct image *img)
{
	struct err e = {0};
	char *dir = ctl_image_dir(c, img->id);
	char *script = recipe_script(c, img->recipe);
	const char *argv[] = {"bash", script, dir, NULL};
	int64_t t0 = time_mono_ms();
	log_info("image %s: building from recipe %s", img->name, img->recipe);
	struct recipe_steps steps = {.c = c, .op_id = img->op_id};
	struct run_opts opts = {.timeout_ms = BUILD_TIMEOUT_MS, .on_line = on_recipe_line, .line_arg = &steps};
	struct run_result r = {0};
	int rc = fs_rm_rf(dir, &e);
	bool made = false;
	if (rc == 0 && (rc = c->host->recipe_run(argv, &opts, &r, &e)) >= 0) {
		made = rc == 0;
		rc = 0;
	}
	if (rc == 0 && steps.current[0])
		ctl_op_phase(c, img->op_id, steps.current);   /* the last step has completed too */
	if (rc < 0 && r.errout && *r.errout)
		log_error("image %s: build output:\n%s", img->name, r.errout);
	run_result_free(&r);
	ctl_op_phase(c, img->op_id, "build");
	if (rc == 0 && made) {
		rc = read_manifest(dir, img, &e);
	} else if (rc == 0) {   /* nothing made: what a recipe says when its manifest is silent */
		snprintf(img->boot, sizeof(img->boot), "direct");
		snprintf(img->user, sizeof(img->user), "root");
	}
	finish_image(c, img, dir, rc, &e, "building", t0);
	free(dir);
	free(script);
}

/* Copies an image file in: checksum first (a wrong file is refused before
 * any copy), then qemu-img converts it to a standalone qcow2 and checks it. */
struct progress_ctx {
	struct ctl *c;
	const char *op_id;
};

static void on_download_progress(void *arg, uint64_t done, uint64_t total)
{
	struct progress_ctx *p = arg;
	ctl_op_progress(p->c, p->op_id, (int64_t)done, (int64_t)total);
}

static bool is_url(const char *s)
{
	return str_starts_with(s, "http://") || str_starts_with(s, "https://");
}

/*
 * Where a child process (qemu-img, cp) reads a file of the host that the
 * import's caller named: the descriptor opened when the caller's right to
 * it was checked, through nubod's /proc entry, so the file read is the file
 * checked even if the path now leads elsewhere. Without one (the import was
 * cut off by a restart of nubod, which drops them) the file is not read
 * again by its path: that would skip the check. Caller frees *out.
 */
static int host_file_path(const struct image *img, const char *path, int fd, char **out, struct err *e)
{
	*out = NULL;
	if (fd < 0)
		return err_set(e, ERR_CONFLICT, "the import of %s was cut off by a restart of nubod; import %s again",
			       path, img->name);
	*out = xasprintf("/proc/%d/fd/%d", (int)getpid(), fd);
	return 0;
}

/* For direct boot: the kernel (and the initrd, when the import names one)
 * copied in beside the disk. */
static int copy_boot_files(struct image *img, const char *dir, const struct import_fds *fds, struct err *e)
{
	if (!img->kernel_source)
		return err_set(e, ERR_INTERNAL, "image %s has no kernel to copy", img->name);
	const char *from[] = {img->kernel_source, img->initrd_source}, *to[] = {"vmlinuz", "initrd.img"};
	const int fd[] = {fds->kernel, fds->initrd};
	for (int i = 0; i < 2 && from[i]; i++) {
		autofree char *dst = xasprintf("%s/%s", dir, to[i]);
		autofree char *src = NULL;
		if (host_file_path(img, from[i], fd[i], &src, e) < 0)
			return -1;
		const char *cp[] = {"cp", "--", src, dst, NULL};
		if (runner_run(cp, NULL, NULL, e) < 0)
			return -1;
	}
	return 0;
}

/* Errors about a file read through /proc/PID/fd/N name it as its caller did. */
static void name_host_file(struct err *e, const char *proc_path, const char *path)
{
	char *at = proc_path ? strstr(e->msg, proc_path) : NULL;
	if (!at)
		return;
	char msg[sizeof(e->msg)];
	snprintf(msg, sizeof(msg), "%.*s%s%s", (int)(at - e->msg), e->msg, path, at + strlen(proc_path));
	snprintf(e->msg, sizeof(e->msg), "%s", msg);
}

#define UPLOAD_SOURCE "upload"   /* an image's source when its disk came in the request */
#define UPLOAD_FILE "upload"     /* where it came to, in the image's folder */

static bool is_upload(const struct image *img)
{
	return img->source && strcmp(img->source, UPLOAD_SOURCE) == 0;
}

static int import_steps(struct ctl *c, struct image *img, const char *dir, const struct import_fds *fds,
			struct err *e)
{
	autofree char *download = xasprintf("%s/download", dir);
	autofree char *upload = xasprintf("%s/" UPLOAD_FILE, dir);
	autofree char *disk = xasprintf("%s/disk.qcow2", dir);
	autofree char *host_file = NULL;
	const char *src = img->source;
	if (fs_mkdir_p(dir, 0755, e) < 0)
		return -1;
	if (is_upload(img)) {
		/* Its digest was checked as it came. A restart after the
		 * conversion (the upload is removed then) converts the disk again. */
		src = fs_exists(upload) || !fs_exists(disk) ? upload : disk;
	} else if (is_url(img->source)) {
		struct progress_ctx pc = {c, img->op_id};
		int got = c->host->download(img->source, download, on_download_progress, &pc, e);
		if (got != 0)
			return got < 0 ? -1 : 0;   /* 1: nothing came, nothing to check or convert */
		ctl_op_phase(c, img->op_id, "download");
		src = download;
	} else {
		if (host_file_path(img, img->source, fds->file, &host_file, e) < 0)
			return -1;
		src = host_file;
	}
	if (img->sha256[0] && !is_upload(img)) {
		char got[65];
		if (disk_sha256(src, got, e) < 0)
			return -1;
		if (strcmp(got, img->sha256) != 0)
			return err_set(e, ERR_UNPROCESSABLE, "checksum mismatch for %s: expected sha256 %s, got %s",
				       img->source, img->sha256, got);
		ctl_op_phase(c, img->op_id, "verify");
	}
	struct disk_info info;
	int rc = c->host->disk_import(src, disk, &info, e);
	if (rc < 0)
		name_host_file(e, host_file, img->source);
	unlink(download);
	if (rc == 0)
		unlink(upload);
	if (rc < 0)
		return -1;
	if (strcmp(img->boot, "direct") == 0 && copy_boot_files(img, dir, fds, e) < 0)
		return -1;
	ctl_op_phase(c, img->op_id, "convert");
	struct stat st;
	img->virtual_size_bytes = (int64_t)info.virtual_size;
	img->size_bytes = stat(disk, &st) == 0 ? (int64_t)st.st_blocks * 512 : 0;
	free(img->os);
	bool direct = strcmp(img->boot, "direct") == 0;
	img->os = xasprintf("imported %s image%s%s", info.format, direct ? ", booted with its own kernel" : "",
			    direct && img->initrd_source ? " and initrd" : "");
	return 0;
}

#define FROM_VM "vm:"

/* Copies a VM's root disk into the image: live (drive-backup) when its QEMU
 * runs, else from the file. The kernel and initrd come from the VM's image
 * (the initrd only if that image has one). */
static int capture_steps(struct ctl *c, struct image *img, const char *dir, struct err *e)
{
	struct vm vm;
	struct image src;
	memset(&src, 0, sizeof(src));
	if (store_vm_get(c->st, img->source + strlen(FROM_VM), &vm, e) < 0)
		return -1;
	int rc = store_image_get(c->st, vm.image_id, &src, e);
	autofree char *vm_dir = ctl_vm_dir(c, vm.id);
	autofree char *root = xasprintf("%s/root.qcow2", vm_dir);
	autofree char *qmp = xasprintf("%s/qmp.sock", vm_dir);
	autofree char *disk = xasprintf("%s/disk.qcow2", dir);
	autofree char *src_dir = ctl_image_dir(c, vm.image_id);
	bool running = vm.pid != 0 && c->host->qemu_alive(vm.pid, vm.id);
	if (rc == 0)
		rc = fs_mkdir_p(dir, 0755, e);
	struct qemu_user user;
	if (rc == 0 && running)
		rc = ctl_qemu_user(c, &user, e);
	if (rc == 0)
		rc = running ? c->host->disk_backup(qmp, "root", img->id, disk, &user, e) : c->host->disk_flatten(root, disk, e);
	if (rc == 0)
		crashpoint("image.disk-copied");
	ctl_op_phase(c, img->op_id, "copy");
	static const char *const boot_files[] = {"vmlinuz", "initrd.img", NULL};
	for (int i = 0; rc == 0 && boot_files[i] && strcmp(src.boot, "direct") == 0; i++) {
		autofree char *from = xasprintf("%s/%s", src_dir, boot_files[i]);
		autofree char *to = xasprintf("%s/%s", dir, boot_files[i]);
		if (i > 0 && !fs_exists(from))
			continue;   /* no initrd: the kernel mounts its root itself */
		const char *cp[] = {"cp", "--reflink=auto", from, to, NULL};
		rc = runner_run(cp, NULL, NULL, e);
	}
	if (rc == 0) {
		snprintf(img->boot, sizeof(img->boot), "%s", src.boot);
		snprintf(img->user, sizeof(img->user), "%s", src.user);
		free(img->cmdline);
		free(img->os);
		img->cmdline = xstrdup(src.cmdline);
		img->os = xasprintf("%s, from VM %s", src.os ? src.os : src.name, vm.name);
		struct disk_info info;
		struct stat st;
		if (c->host->disk_info(disk, &info, NULL) == 0)   /* the recording host made none: size unknown */
			img->virtual_size_bytes = (int64_t)info.virtual_size;
		img->size_bytes = stat(disk, &st) == 0 ? (int64_t)st.st_blocks * 512 : 0;
	}
	image_free_fields(&src);
	vm_free_fields(&vm);
	return rc;
}

static void import_image(struct ctl *c, struct image *img, const struct import_fds *fds)
{
	struct err e = {0};
	char *dir = ctl_image_dir(c, img->id);
	int64_t t0 = time_mono_ms();
	log_info("image %s: importing %s", img->name, img->source);
	/* An upload's folder holds what came in; anything else starts afresh. */
	int rc = is_upload(img) ? 0 : fs_rm_rf(dir, &e);
	if (rc == 0 && str_starts_with(img->source, FROM_VM))
		rc = capture_steps(c, img, dir, &e);
	else if (rc == 0)
		rc = import_steps(c, img, dir, fds, &e);
	finish_image(c, img, dir, rc, &e, "making", t0);
	free(dir);
}

static void *build_thread(void *arg)
{
	struct build_job *job = arg;
	struct image img;
	struct err e = {0};
	if (store_image_get(job->c->st, job->image_id, &img, &e) < 0) {
		log_error("image build %s: %s", job->image_id, e.msg);
	} else {
		if (img.source)
			import_image(job->c, &img, &job->fds);
		else
			build_image(job->c, &img);
		image_free_fields(&img);
	}
	ctl_builds_track(job->c, job->image_id, false);
	import_fds_close(&job->fds);
	free(job);
	return NULL;
}

/* Starts the job that makes the image; it takes *fds (NULL: none), which
 * are closed when it ends or fails to start. */
static int start_build(struct ctl *c, const char *image_id, struct import_fds *fds, struct err *e)
{
	struct build_job *job = xcalloc(1, sizeof(*job));
	job->c = c;
	snprintf(job->image_id, sizeof(job->image_id), "%s", image_id);
	job->fds = fds ? *fds : IMPORT_FDS_NONE;
	if (fds)
		*fds = IMPORT_FDS_NONE;
	ctl_builds_track(c, image_id, true);
	if (thread_start_detached(build_thread, job) != 0) {
		ctl_builds_track(c, image_id, false);
		import_fds_close(&job->fds);
		free(job);
		return err_set(e, ERR_INTERNAL, "cannot start a build thread");
	}
	return 0;
}

/* Records the image and its operation in one transaction. */
static int record_image(struct ctl *c, struct image *img, struct operation *op, struct err *e)
{
	snprintf(img->host, sizeof(img->host), "%s", c->host_name);   /* its files are made here */
	bool ok = store_tx_begin(c->st, e) == 0;
	if (ok) {
		ok = store_image_insert(c->st, img, e) == 0 && store_op_insert(c->st, op, e) == 0;
		if (store_tx_end(c->st, ok, ok ? e : NULL) < 0)
			ok = false;
	}
	return ok ? 0 : -1;
}

/* Records the image and its operation, then starts the job that makes it
 * (which takes fds, NULL for none); on failure nothing is recorded and img's
 * fields are freed. */
static int record_and_start(struct ctl *c, struct image *img, struct operation *op, struct import_fds *fds,
			    struct err *e)
{
	bool ok = record_image(c, img, op, e) == 0;
	if (ok && start_build(c, img->id, fds, e) < 0) {
		store_image_delete(c->st, img->id, NULL);   /* nothing half-made is left */
		ctl_op_finish(c, op->id, false, e->msg);
		ok = false;
	}
	if (!ok)
		image_free_fields(img);
	if (!ok && fds)
		import_fds_close(fds);   /* not taken by a job */
	return ok ? 0 : -1;
}

int ctl_image_build(struct ctl *c, const char *name, const char *recipe, struct image *img,
		    struct operation *op, struct err *e)
{
	memset(img, 0, sizeof(*img));
	if (vm_name_validate(name, "name", e) < 0 || vm_name_validate(recipe, "recipe", e) < 0)
		return -1;
	autofree char *script = recipe_script(c, recipe);
	if (!fs_exists(script)) {
		autofree char *names = recipe_names(c);
		return err_set(e, ERR_UNPROCESSABLE, "recipe \"%s\" does not exist; available recipes: %s", recipe,
			       *names ? names : "none");
	}
	id_new("img", img->id);
	snprintf(img->name, sizeof(img->name), "%s", name);
	snprintf(img->recipe, sizeof(img->recipe), "%s", recipe);
	snprintf(img->state, sizeof(img->state), "building");
	snprintf(img->boot, sizeof(img->boot), "direct");
	snprintf(img->user, sizeof(img->user), "root");
	img->created_at = time_now_ms();
	operation_init(op, "image-build", img->id, img->name);
	snprintf(img->op_id, sizeof(img->op_id), "%s", op->id);
	return record_and_start(c, img, op, NULL, e);
}

/* Hex digits in either case: checksums are printed both ways (sha256sum
 * writes lower case, many download pages upper). */
static bool is_hex64(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++)
		if (!strchr("0123456789abcdefABCDEF", s[n]))
			return false;
	return n == 64;
}

static bool user_name_valid(const char *u)
{
	size_t n = strlen(u);
	if (n == 0 || n > 32 || !((u[0] >= 'a' && u[0] <= 'z') || u[0] == '_'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((u[i] >= 'a' && u[i] <= 'z') || (u[i] >= '0' && u[i] <= '9') || u[i] == '_' || u[i] == '-'))
			return false;
	return true;
}

/* May r's caller have nubod read path (field names it)? Over TCP, only from
 * import_dirs: *out is then where it really leads (links resolved), for the
 * record. On the unix socket, only what the caller could read itself.
 * Returns the descriptor the check opened (the caller closes it), which is
 * what the import reads: a path swapped after the check changes nothing. */
static int import_file_open(struct ctl *c, const struct ctl_caller *who, const char *field, const char *path,
			    char **out, struct err *e)
{
	*out = NULL;
	int fd;
	if (who->remote) {
		if (c->cfg.n_import_dirs == 0)
			return err_set(e, ERR_INVALID,
				       "%s %s: over TCP, files are imported only from folders that import_dirs in "
				       "nubod's configuration names, and it names none; give url instead, or upload it",
				       field, path);
		const char *dirs[CONFIG_IMPORT_DIRS_MAX];
		for (int i = 0; i < c->cfg.n_import_dirs; i++)
			dirs[i] = c->cfg.import_dirs[i];
		char resolved[4096];
		fd = access_open_beneath(dirs, c->cfg.n_import_dirs, path, field, resolved, sizeof(resolved), e);
		if (fd >= 0)
			*out = xstrdup(resolved);
		return fd;
	}
	/* no credentials: nubod itself, as root */
	fd = access_open_as(who->has_cred ? who->uid : 0, who->has_cred ? who->gid : 0, path, field, e);
	if (fd >= 0)
		*out = xstrdup(path);
	return fd;
}

int ctl_image_import(struct ctl *c, const struct image_import *r, struct image *img, struct operation *op,
		     struct err *e)
{
	autofree char *file = NULL, *kernel = NULL, *initrd = NULL;
	memset(img, 0, sizeof(*img));
	if (vm_name_validate(r->name, "name", e) < 0)
		return -1;
	if (r->url) {
		if (!is_url(r->url) || strlen(r->url) > 2048 || strpbrk(r->url, " \t\r\n"))
			return err_set(e, ERR_INVALID, "url \"%.200s\" is not an http:// or https:// URL", r->url);
	} else if (!r->file || r->file[0] != '/') {
		return err_set(e, ERR_INVALID, "file \"%s\" must be an absolute path on nubod's host",
			       r->file ? r->file : "");
	}
	if (r->sha256 && !is_hex64(r->sha256))
		return err_set(e, ERR_INVALID, "sha256 \"%s\" is not 64 hex digits", r->sha256);
	if (r->user && !user_name_valid(r->user))
		return err_set(e, ERR_INVALID, "user \"%s\" is not a valid login name", r->user);
	bool direct = r->boot && strcmp(r->boot, "direct") == 0;
	if (r->boot && !direct && strcmp(r->boot, "firmware") != 0)
		return err_set(e, ERR_INVALID, "boot \"%s\" is not one of firmware, direct", r->boot);
	if (direct && !r->kernel)
		return err_set(e, ERR_INVALID,
			       "boot direct needs kernel: the file to boot the image with (initrd is optional)");
	if (!direct && (r->kernel || r->initrd || r->cmdline))
		return err_set(e, ERR_INVALID, "kernel, initrd and cmdline go with boot direct");
	const char *const files[] = {r->kernel, r->initrd};
	for (int i = 0; i < 2; i++)
		if (files[i] && files[i][0] != '/')
			return err_set(e, ERR_INVALID, "%s \"%s\" must be an absolute path on nubod's host",
				       i ? "initrd" : "kernel", files[i]);
	/* Each file of the host is opened now, as its check; the job reads
	 * these descriptors, not the paths. */
	struct import_fds fds = IMPORT_FDS_NONE;
	if (!r->url && (fds.file = import_file_open(c, &r->caller, "file", r->file, &file, e)) < 0)
		goto fail;
	if (direct && (fds.kernel = import_file_open(c, &r->caller, "kernel", r->kernel, &kernel, e)) < 0)
		goto fail;
	if (direct && r->initrd && (fds.initrd = import_file_open(c, &r->caller, "initrd", r->initrd, &initrd, e)) < 0)
		goto fail;
	id_new("img", img->id);
	snprintf(img->name, sizeof(img->name), "%s", r->name);
	snprintf(img->state, sizeof(img->state), "importing");
	snprintf(img->boot, sizeof(img->boot), "%s", direct ? "direct" : "firmware");
	snprintf(img->user, sizeof(img->user), "%s", r->user ? r->user : "root");
	if (direct) {
		/* Where the import found them, for the record; the job copies them in beside the disk. */
		img->cmdline = xstrdup(r->cmdline ? r->cmdline : "console=ttyS0 root=/dev/vda1 rw");
		img->kernel_source = xstrdup(kernel);
		img->initrd_source = xstrdup(initrd);   /* NULL: none */
	}
	/* Kept in lower case, as disk_sha256 computes it and the API shows it. */
	snprintf(img->sha256, sizeof(img->sha256), "%s", r->sha256 ? r->sha256 : "");
	for (char *p = img->sha256; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	img->source = xstrdup(r->url ? r->url : file);
	img->created_at = time_now_ms();
	operation_init(op, "image-import", img->id, img->name);
	snprintf(img->op_id, sizeof(img->op_id), "%s", op->id);
	return record_and_start(c, img, op, &fds, e);
fail:
	import_fds_close(&fds);
	return -1;
}

/* --- uploads ------------------------------------------------------------ */

struct image_upload {
	struct ctl *c;
	struct image img;            /* as recorded: state "uploading" */
	struct operation op;
	char *path;                  /* images/<id>/upload */
	int fd;
	gnutls_hash_hd_t hash;
	int64_t done, total, max;    /* bytes; total -1: not known in advance */
	int64_t progress_ms;         /* when progress was last recorded */
};

int64_t ctl_image_upload_max(struct ctl *c)
{
	return c->cfg.image_upload_max_mib << 20;
}

/* Removes every trace of an upload that will not become an image: its file
 * and folder, then its row; its operation fails with why. Frees u. */
static void upload_discard(struct image_upload *u, const char *why)
{
	struct ctl *c = u->c;
	if (u->fd >= 0)
		close(u->fd);
	if (u->hash)
		gnutls_hash_deinit(u->hash, NULL);
	autofree char *dir = ctl_image_dir(c, u->img.id);
	fs_rm_rf(dir, NULL);
	store_image_delete(c->st, u->img.id, NULL);
	ctl_op_finish(c, u->op.id, false, why);
	log_info("image %s: upload refused: %s", u->img.name, why);
	image_free_fields(&u->img);
	operation_free_fields(&u->op);
	free(u->path);
	free(u);
}

int ctl_image_upload_begin(struct ctl *c, const struct image_import *r, int64_t size, struct image_upload **out,
			   struct err *e)
{
	*out = NULL;
	if (vm_name_validate(r->name, "name", e) < 0)
		return -1;
	if (!r->sha256)
		return err_set(e, ERR_INVALID, "sha256 is required with an upload: the digest of the image file "
			       "(sha256sum FILE), checked against the body as it comes");
	if (!is_hex64(r->sha256))
		return err_set(e, ERR_INVALID, "sha256 \"%s\" is not 64 hex digits", r->sha256);
	if (r->user && !user_name_valid(r->user))
		return err_set(e, ERR_INVALID, "user \"%s\" is not a valid login name", r->user);
	if (r->boot && strcmp(r->boot, "firmware") != 0)
		return err_set(e, ERR_INVALID, "boot \"%s\": an uploaded image boots with its own firmware; direct "
			       "boot needs kernel files, which file and url imports take", r->boot);
	if (size > ctl_image_upload_max(c))
		return err_set(e, ERR_INVALID, "the image is %lld bytes; uploads are at most %lld MiB "
			       "(image_upload_max_mib in nubod's configuration)",
			       (long long)size, (long long)c->cfg.image_upload_max_mib);
	struct image_upload *u = xcalloc(1, sizeof(*u));
	u->c = c;
	u->fd = -1;
	u->total = size;
	u->max = ctl_image_upload_max(c);
	struct image *img = &u->img;
	id_new("img", img->id);
	snprintf(img->name, sizeof(img->name), "%s", r->name);
	snprintf(img->state, sizeof(img->state), "uploading");
	snprintf(img->boot, sizeof(img->boot), "firmware");
	snprintf(img->user, sizeof(img->user), "%s", r->user ? r->user : "root");
	snprintf(img->sha256, sizeof(img->sha256), "%s", r->sha256);
	for (char *p = img->sha256; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	img->source = xstrdup(UPLOAD_SOURCE);
	img->created_at = time_now_ms();
	operation_init(&u->op, "image-import", img->id, img->name);
	snprintf(img->op_id, sizeof(img->op_id), "%s", u->op.id);
	if (record_image(c, img, &u->op, e) < 0) {   /* the name is taken: nothing was recorded */
		image_free_fields(img);
		operation_free_fields(&u->op);
		free(u);
		return -1;
	}
	/* The row is the record of intent: a restart removes what it names. */
	autofree char *dir = ctl_image_dir(c, img->id);
	u->path = xasprintf("%s/" UPLOAD_FILE, dir);
	int rc = fs_rm_rf(dir, e);
	if (rc == 0 && mkdir(dir, 0700) < 0)
		rc = err_set(e, ERR_INTERNAL, "cannot make %s: %s", dir, strerror(errno));
	if (rc == 0 && (u->fd = open(u->path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0)
		rc = err_set(e, ERR_INTERNAL, "cannot create %s: %s", u->path, strerror(errno));
	if (rc == 0 && gnutls_hash_init(&u->hash, GNUTLS_DIG_SHA256) < 0)
		rc = err_set(e, ERR_INTERNAL, "cannot start a SHA-256 digest");
	if (rc < 0) {
		upload_discard(u, e->msg);
		return -1;
	}
	ctl_op_progress(c, u->op.id, 0, size);
	if (size >= 0)
		log_info("image %s: upload of %lld bytes begins", img->name, (long long)size);
	else
		log_info("image %s: upload in chunks begins", img->name);
	*out = u;
	return 0;
}

int ctl_image_upload_write(struct image_upload *u, const void *data, size_t n, struct err *e)
{
	if (u->done + (int64_t)n > u->max)
		return err_set(e, ERR_INVALID, "the image is larger than %lld MiB, the most an upload may be "
			       "(image_upload_max_mib in nubod's configuration)", (long long)(u->max >> 20));
	for (size_t off = 0; off < n;) {
		ssize_t w = write(u->fd, (const char *)data + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return err_set(e, ERR_INTERNAL, "cannot write %s: %s", u->path, strerror(errno));
		off += (size_t)w;
	}
	gnutls_hash(u->hash, data, n);
	u->done += (int64_t)n;
	int64_t now = time_mono_ms();
	if (now - u->progress_ms >= 1000) {   /* the store hears of it once a second */
		u->progress_ms = now;
		ctl_op_progress(u->c, u->op.id, u->done, u->total);
	}
	return 0;
}

int ctl_image_upload_end(struct image_upload *u, struct image *img, struct operation *op, struct err *e)
{
	struct ctl *c = u->c;
	unsigned char digest[32];
	char got[65];
	gnutls_hash_deinit(u->hash, digest);
	u->hash = NULL;
	for (int i = 0; i < 32; i++)
		snprintf(got + 2 * i, 3, "%02x", digest[i]);
	int rc = 0;
	if (u->done == 0)
		rc = err_set(e, ERR_INVALID, "the body is empty: it must be the image file (qcow2 or raw)");
	else if (strcmp(got, u->img.sha256) != 0)
		rc = err_set(e, ERR_UNPROCESSABLE, "checksum mismatch for the uploaded image: expected sha256 %s, got %s "
			     "(%lld bytes received); nothing was kept",
			     u->img.sha256, got, (long long)u->done);
	/* On disk before the row says the file is whole. */
	if (rc == 0 && fsync(u->fd) < 0)
		rc = err_set(e, ERR_INTERNAL, "cannot write %s: %s", u->path, strerror(errno));
	close(u->fd);
	u->fd = -1;
	if (rc == 0) {
		ctl_op_progress(c, u->op.id, u->done, u->done);
		ctl_op_phase(c, u->op.id, "upload");
		snprintf(u->img.state, sizeof(u->img.state), "importing");
		u->img.size_bytes = u->done;
		rc = store_image_update(c->st, &u->img, e);
	}
	if (rc == 0)
		rc = start_build(c, u->img.id, NULL, e);
	if (rc < 0) {
		upload_discard(u, e->msg);
		return -1;
	}
	log_info("image %s: %lld bytes uploaded, sha256 %s", u->img.name, (long long)u->done, got);
	*img = u->img;   /* the caller has the fields now */
	*op = u->op;
	free(u->path);
	free(u);
	return 0;
}

void ctl_image_upload_abort(struct image_upload *u, const char *why)
{
	if (u)
		upload_discard(u, why);
}

int ctl_image_from_vm(struct ctl *c, const char *name, const char *vm_ref, struct image *img,
		      struct operation *op, struct err *e)
{
	memset(img, 0, sizeof(*img));
	struct vm vm;
	if (vm_name_validate(name, "name", e) < 0 || store_vm_get(c->st, vm_ref, &vm, e) < 0)
		return -1;
	bool usable = vm.power != POWER_DELETED && (vm.state == VM_RUNNING || vm.state == VM_STOPPED ||
						    (vm.state == VM_ERROR && vm.pid == 0));
	if (!usable) {
		int rc = err_set(e, ERR_CONFLICT, "VM %s is %s; make an image from it when it is running or stopped",
				 vm.name, vm_state_name(vm.state));
		vm_free_fields(&vm);
		return rc;
	}
	if (!ctl_vm_is_mine(c, &vm)) {   /* its disk is a file on its own host */
		int rc = err_set(e, ERR_CONFLICT, "VM %s runs on host %s; make the image through that host's API",
				 vm.name, vm.host);
		vm_free_fields(&vm);
		return rc;
	}
	id_new("img", img->id);
	snprintf(img->name, sizeof(img->name), "%s", name);
	snprintf(img->state, sizeof(img->state), "building");
	snprintf(img->boot, sizeof(img->boot), "direct");
	snprintf(img->user, sizeof(img->user), "root");
	img->source = xasprintf(FROM_VM "%s", vm.id);
	img->created_at = time_now_ms();
	vm_free_fields(&vm);
	operation_init(op, "image-create", img->id, img->name);
	snprintf(img->op_id, sizeof(img->op_id), "%s", op->id);
	return record_and_start(c, img, op, NULL, e);
}

int ctl_image_delete(struct ctl *c, const char *ref, struct err *e)
{
	struct image img;
	if (store_image_get(c->st, ref, &img, e) < 0)
		return -1;
	int rc = 0, users = 0, n_snaps = 0;
	struct snapshot *snaps = NULL;
	char *dir = ctl_image_dir(c, img.id);
	if (strcmp(img.state, "ready") != 0) {
		rc = err_set(e, ERR_CONFLICT, "image %s is still %s; delete it when that has ended", img.name,
			     img.state);
		goto out;
	}
	if (store_vm_count_by_image(c->st, img.id, &users, e) < 0) {
		rc = -1;
		goto out;
	}
	if (users > 0) {
		rc = err_set(e, ERR_CONFLICT, "image %s is used by %d VM(s); delete them first", img.name, users);
		goto out;
	}
	if (store_snapshot_list(c->st, &snaps, &n_snaps, e) < 0) {
		rc = -1;
		goto out;
	}
	for (int i = 0; i < n_snaps; i++)
		users += strcmp(snaps[i].image_id, img.id) == 0;
	free(snaps);
	if (users > 0) {
		rc = err_set(e, ERR_CONFLICT, "image %s is under %d snapshot(s); delete them first", img.name, users);
		goto out;
	}
	rc = store_image_delete(c->st, img.id, e);
	if (rc == 0 && fs_rm_rf(dir, e) < 0)
		log_warn("image %s: %s", img.name, e->msg);
	if (rc == 0)
		log_info("image %s (%s): deleted", img.name, img.id);
out:
	free(dir);
	image_free_fields(&img);
	return rc;
}

void images_resume(struct ctl *c)
{
	struct image *imgs = NULL;
	int n = 0;
	if (store_image_list(c->st, &imgs, &n, NULL) < 0)
		return;
	for (int i = 0; i < n; i++) {
		if (strcmp(imgs[i].state, "uploading") == 0 && strcmp(imgs[i].host, c->host_name) == 0) {
			/* its client went with the restart: nothing of it stays */
			autofree char *dir = ctl_image_dir(c, imgs[i].id);
			fs_rm_rf(dir, NULL);
			store_image_delete(c->st, imgs[i].id, NULL);
			ctl_op_finish(c, imgs[i].op_id, false,
				      "the upload was cut off by a restart of nubod; upload the image again");
			log_info("image %s: removed an upload cut off by a restart", imgs[i].name);
			continue;
		}
		bool unfinished = strcmp(imgs[i].state, "building") == 0 || strcmp(imgs[i].state, "importing") == 0;
		/* another host's build is that host's to resume */
		if (!unfinished || ctl_builds_has(c, imgs[i].id) || strcmp(imgs[i].host, c->host_name) != 0)
			continue;
		log_info("image %s: resuming a build cut off by a restart", imgs[i].name);
		struct err e = {0};
		if (start_build(c, imgs[i].id, NULL, &e) < 0)
			log_error("image %s: %s", imgs[i].name, e.msg);
	}
	image_list_free(imgs, n);
}
