/*
 * image: `nubo image list|show|build|import|delete` (GET/POST/DELETE /v1/images).
 */
#include <errno.h>
#include <gnutls/crypto.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/commands.h"
#include "cli/format.h"
#include "cli/table.h"
#include "cli/wait.h"
#include "util/str.h"
#include "util/timeutil.h"

static const struct arg_flag build_flags[] = {
	{"name", 0, ARG_VALUE, "NAME", "name of the new image (default: the recipe's name)"},
	{"wait", 0, ARG_BOOL, NULL, "follow the build to its end, printing each phase"},
	{NULL, 0, 0, NULL, NULL},
};

static const struct arg_flag import_flags[] = {
	{"file", 0, ARG_VALUE, "FILE", "the qcow2 or raw image file on nubod's host"},
	{"url", 0, ARG_VALUE, "URL", "or download it from an http:// or https:// URL (progress is shown)"},
	{"upload", 0, ARG_VALUE, "FILE", "or send this file, on this machine, to nubod (progress is shown)"},
	{"sha256", 0, ARG_VALUE, "HEX", "refuse the file unless its SHA-256 is HEX (with --upload: computed when not given)"},
	{"user", 0, ARG_VALUE, "USER", "the image's default login user (default root)"},
	{"boot", 0, ARG_VALUE, "MODE", "firmware (its own bootloader, the default) or direct (--kernel, and --initrd if it has one)"},
	{"kernel", 0, ARG_VALUE, "FILE", "with --boot direct: the kernel to boot it with"},
	{"initrd", 0, ARG_VALUE, "FILE", "with --boot direct: the initrd (none: the kernel mounts the root itself)"},
	{"cmdline", 0, ARG_VALUE, "TEXT", "with --boot direct: the kernel command line (default console=ttyS0 root=/dev/vda1 rw)"},
	{"wait", 0, ARG_BOOL, NULL, "follow the import to its end, printing each phase"},
	{NULL, 0, 0, NULL, NULL},
};

static const struct arg_flag create_flags[] = {
	{"from-vm", 0, ARG_VALUE, "VM", "the VM whose root disk becomes the image (running: copied live)"},
	{"wait", 0, ARG_BOOL, NULL, "follow the copy to its end"},
	{NULL, 0, 0, NULL, NULL},
};

static void print_images(struct cli_ctx *ctx, const json_t *j)
{
	const json_t *images = json_object_get(j, "images");
	if (json_array_size(images) == 0) {
		fputs("No images. Build the default one with: nubo image build tiny --wait\n", ctx->out);
		return;
	}
	static const char *const headers[] = {"NAME", "STATE", "BOOT", "USER", "SIZE", "AGE"};
	struct table *t = table_new(6, headers);
	table_align_right(t, 4);
	size_t i;
	const json_t *img;
	json_array_foreach(images, i, img) {
		autofree char *size = json_is_integer(json_object_get(img, "size_bytes"))
					      ? fmt_bytes(cli_jint(img, "size_bytes", 0))
					      : NULL;
		autofree char *age = fmt_age_since(cli_jstr(img, "created_at"), ctx->now_ms);
		const char *row[] = {cli_jstr(img, "name"), cli_jstr(img, "state"), cli_jstr(img, "boot"),
				     cli_jstr(img, "user"), size, age};
		table_add_row(t, row);
	}
	autofree char *text = table_render(t);
	fputs(text, ctx->out);
	table_free(t);
}

static int image_list(struct cli_ctx *ctx, const struct args *a)
{
	return cli_show(ctx, a, "/v1/images", print_images);
}

static void print_image(struct cli_ctx *ctx, const json_t *img)
{
	autofree char *size = json_is_integer(json_object_get(img, "size_bytes"))
				      ? fmt_bytes(cli_jint(img, "size_bytes", 0))
				      : xstrdup("-");
	autofree char *age = fmt_age_since(cli_jstr(img, "created_at"), ctx->now_ms);
	fprintf(ctx->out, "Name:       %s\n", cli_or_dash(cli_jstr(img, "name")));
	fprintf(ctx->out, "ID:         %s\n", cli_or_dash(cli_jstr(img, "id")));
	fprintf(ctx->out, "State:      %s\n", cli_or_dash(cli_jstr(img, "state")));
	if (cli_jstr(img, "error"))
		fprintf(ctx->out, "Error:      %s\n", cli_jstr(img, "error"));
	fprintf(ctx->out, "Recipe:     %s\n", cli_or_dash(cli_jstr(img, "recipe")));
	fprintf(ctx->out, "Boot:       %s\n", cli_or_dash(cli_jstr(img, "boot")));
	fprintf(ctx->out, "User:       %s\n", cli_or_dash(cli_jstr(img, "user")));
	fprintf(ctx->out, "Size:       %s on disk", size);
	if (json_is_integer(json_object_get(img, "virtual_size_bytes"))) {
		autofree char *vsize = fmt_bytes(cli_jint(img, "virtual_size_bytes", 0));
		fprintf(ctx->out, ", %s for the guest", vsize);
	}
	fputc('\n', ctx->out);
	if (cli_jstr(img, "source"))
		fprintf(ctx->out, "Source:     %s%s%s\n", cli_jstr(img, "source"), cli_jstr(img, "sha256") ? " sha256 " : "",
			cli_jstr(img, "sha256") ? cli_jstr(img, "sha256") : "");
	fprintf(ctx->out, "Created:    %s (%s ago)\n", cli_or_dash(cli_jstr(img, "created_at")), age);
}

static int image_show(struct cli_ctx *ctx, const struct args *a)
{
	autofree char *path = client_path("/v1/images/%s", a->pos[0]);
	return cli_show(ctx, a, path, print_image);
}

/* Follows the operation of nubod's answer to POST /v1/images (resp, which
 * it decrefs); doing and done say what for people. */
static int follow_image(struct cli_ctx *ctx, const struct args *a, json_t *resp, const char *name, const char *doing,
			const char *done)
{
	int rc;
	const json_t *img = json_object_get(resp, "image");
	autofree char *what = xasprintf("%s image %s (%s)", doing, name, cli_or_dash(cli_jstr(img, "id")));
	bool finished;
	int64_t took = -1;
	rc = wait_or_report(ctx, json_object_get(resp, "operation"), args_has(a, "wait"), what, &finished, &took);
	if (finished) {
		autofree char *path = client_path("/v1/images/%s", name);
		json_t *now = cli_get(ctx, path);
		autofree char *d = fmt_duration_ms(took);
		autofree char *size = fmt_bytes(cli_jint(now, "size_bytes", -1));
		fprintf(ctx->out, "%s image %s (%s) in %s: %s, boot %s, user %s\n", done, name,
			cli_or_dash(cli_jstr(img, "id")), d, size, cli_or_dash(cli_jstr(now, "boot")),
			cli_or_dash(cli_jstr(now, "user")));
		json_decref(now);
	}
	json_decref(resp);
	return rc;
}

/* POSTs body to /v1/images and follows the operation. */
static int post_image(struct cli_ctx *ctx, const struct args *a, json_t *body, const char *name, const char *doing,
		      const char *done)
{
	json_t *resp = NULL;
	struct err e = {0};
	int rc = client_json(cli_client(ctx), "POST", "/v1/images", body, &resp, NULL, &e);
	json_decref(body);
	if (rc < 0)
		return cli_fail(ctx, CLI_EXIT_FAILED, &e);
	return follow_image(ctx, a, resp, name, doing, done);
}

/* "\rUploading 45% (450 MiB of 1.0 GiB)" on a terminal, redrawn at most
 * ten times a second and once at the end. */
struct upload_progress {
	struct cli_ctx *ctx;
	const char *doing;
	int64_t shown_ms, shown;
};

static void show_progress(void *arg, int64_t done, int64_t total)
{
	struct upload_progress *p = arg;
	int64_t now = time_mono_ms();
	if ((done < total && now - p->shown_ms < 100) || (done == p->shown && p->shown_ms))
		return;
	p->shown_ms = now;
	p->shown = done;
	autofree char *d = fmt_bytes(done), *t = fmt_bytes(total);
	fprintf(p->ctx->out, "\r%s %3d%% (%s of %s)\033[K", p->doing, total > 0 ? (int)(done * 100 / total) : 100, d,
		t);
	fflush(p->ctx->out);
}

/* The SHA-256 of f (hex), read from its start; f is left at its start. */
static int file_sha256(FILE *f, int64_t size, struct upload_progress *p, char out[65], struct err *e)
{
	gnutls_hash_hd_t h;
	if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0)
		return err_set(e, ERR_INTERNAL, "cannot start a SHA-256 digest");
	static char buf[1 << 16];
	size_t n;
	int64_t done = 0;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
		gnutls_hash(h, buf, n);
		done += (int64_t)n;
		if (p)
			show_progress(p, done, size);
	}
	unsigned char d[32];
	gnutls_hash_deinit(h, d);
	if (ferror(f))
		return err_set(e, ERR_INVALID, "cannot read the file: %s", strerror(errno));
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
	rewind(f);
	return 0;
}

/* --upload FILE: the file's bytes are the request's body, its SHA-256
 * (given, or computed here first) in the query, so nubod checks what came. */
static int image_upload(struct cli_ctx *ctx, const struct args *a, const char *file)
{
	const char *name = a->pos[0];
	static const char *const refused[] = {"boot", "kernel", "initrd", "cmdline", NULL};
	for (int i = 0; refused[i]; i++)
		if (args_value(a, refused[i]))
			return cli_failf(ctx, CLI_EXIT_USAGE,
					 "--%s goes with --file or --url: an uploaded image boots with its own firmware",
					 refused[i]);
	FILE *f = fopen(file, "rb");
	struct stat st;
	if (!f || fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode)) {
		int rc = cli_failf(ctx, CLI_EXIT_USAGE, "cannot read image file %s: %s", file,
				   f ? "not a regular file" : strerror(errno));
		if (f)
			fclose(f);
		return rc;
	}
	struct upload_progress p = {.ctx = ctx, .doing = "Hashing  "};
	char sha[65];
	struct err e = {0};
	const char *given = args_value(a, "sha256");
	if (given) {
		snprintf(sha, sizeof(sha), "%s", given);
	} else if (file_sha256(f, (int64_t)st.st_size, ctx->tty ? &p : NULL, sha, &e) < 0) {
		fclose(f);
		err_prefix(&e, "%s", file);
		return cli_fail(ctx, CLI_EXIT_FAILED, &e);
	}
	const char *user = args_value(a, "user");
	autofree char *path = user ? client_path("/v1/images?name=%s&sha256=%s&user=%s", name, sha, user)
				   : client_path("/v1/images?name=%s&sha256=%s", name, sha);
	p.doing = "Uploading";
	p.shown_ms = p.shown = 0;
	struct client_upload up = {.file = f, .size = (int64_t)st.st_size, .progress = ctx->tty ? show_progress : NULL,
				   .arg = &p};
	json_t *resp = NULL;
	int rc = client_json_upload(cli_client(ctx), path, &up, &resp, &e);
	fclose(f);
	if (ctx->tty)
		fputc('\n', ctx->out);
	if (rc < 0)
		return cli_fail(ctx, CLI_EXIT_FAILED, &e);
	return follow_image(ctx, a, resp, name, "Importing", "Imported");
}

static int image_build(struct cli_ctx *ctx, const struct args *a)
{
	const char *recipe = a->pos[0];
	const char *name = args_value(a, "name") ? args_value(a, "name") : recipe;
	return post_image(ctx, a, json_pack("{s:s, s:s}", "name", name, "recipe", recipe), name, "Building", "Built");
}

static int image_import(struct cli_ctx *ctx, const struct args *a)
{
	const char *name = a->pos[0], *file = args_value(a, "file"), *url = args_value(a, "url");
	const char *upload = args_value(a, "upload");
	if ((file != NULL) + (url != NULL) + (upload != NULL) != 1) {
		fprintf(ctx->err, "nubo: image import needs one of --file FILE, --url URL or --upload FILE\n");
		return CLI_EXIT_USAGE;
	}
	if (upload)
		return image_upload(ctx, a, upload);
	json_t *body;
	if (url) {
		body = json_pack("{s:s, s:s}", "name", name, "url", url);
	} else {
		/* nubod reads the file itself: give it an absolute path. */
		char real[PATH_MAX];
		if (!realpath(file, real)) {
			fprintf(ctx->err, "nubo: cannot read image file %s: %s\n", file, strerror(errno));
			return CLI_EXIT_USAGE;
		}
		body = json_pack("{s:s, s:s}", "name", name, "file", real);
	}
	static const char *const passed[] = {"sha256", "user", "boot", "cmdline", NULL};
	for (int i = 0; passed[i]; i++)
		if (args_value(a, passed[i]))
			json_object_set_new(body, passed[i], json_string(args_value(a, passed[i])));
	static const char *const files[] = {"kernel", "initrd", NULL};
	for (int i = 0; files[i]; i++) {
		if (!args_value(a, files[i]))
			continue;
		char path[PATH_MAX];
		if (!realpath(args_value(a, files[i]), path)) {
			fprintf(ctx->err, "nubo: cannot read %s file %s: %s\n", files[i], args_value(a, files[i]),
				strerror(errno));
			json_decref(body);
			return CLI_EXIT_USAGE;
		}
		json_object_set_new(body, files[i], json_string(path));
	}
	return post_image(ctx, a, body, name, "Importing", "Imported");
}

static int image_create(struct cli_ctx *ctx, const struct args *a)
{
	const char *vm = args_value(a, "from-vm");
	if (!vm) {
		fprintf(ctx->err, "nubo: image create needs --from-vm VM\n");
		return CLI_EXIT_USAGE;
	}
	json_t *body = json_pack("{s:s, s:s}", "name", a->pos[0], "from_vm", vm);
	return post_image(ctx, a, body, a->pos[0], "Making", "Made");
}

static int image_delete(struct cli_ctx *ctx, const struct args *a)
{
	autofree char *path = client_path("/v1/images/%s", a->pos[0]);
	json_t *resp = NULL;
	struct err e = {0};
	if (client_json(cli_client(ctx), "DELETE", path, NULL, &resp, NULL, &e) < 0)
		return cli_fail(ctx, CLI_EXIT_FAILED, &e);
	json_decref(resp);
	fprintf(ctx->out, "Deleted image %s\n", a->pos[0]);
	return CLI_EXIT_OK;
}

static const struct cli_verb image_verbs[] = {
	{"list", "[--json]", "List images with their state, boot mode, login user, size and age", NULL,
	 cli_json_flags, 0, 0, false, image_list},
	{"show", "NAME [--json]", "Show one image", NULL, cli_json_flags, 1, 1, false, image_show},
	{"build", "RECIPE [--name NAME] [--wait]", "Build an image from a recipe shipped with nubo (tiny, debian-12)",
	 "Recipes live in nubo's images/ directory: 'tiny' (seconds to build, the default\n"
	 "image of new VMs) and 'debian-12' (about a minute).\n",
	 build_flags, 1, 1, false, image_build},
	{"import",
	 "NAME --file FILE | --url URL | --upload FILE [--sha256 HEX] [--user USER]\n"
	 "       [--boot firmware | --boot direct --kernel FILE [--initrd FILE] [--cmdline TEXT]] [--wait]",
	 "Import a qcow2 or raw image from a file, a URL or an upload",
	 "--file names a file on nubod's host, which nubod reads (over TCP only from the\n"
	 "folders its configuration names in import_dirs); --upload sends a file from\n"
	 "this machine in the request, checked against its SHA-256 as it arrives.\n"
	 "The format is detected with qemu-img; the file is verified against --sha256\n"
	 "when given and copied into nubo as a standalone qcow2. Imported images boot\n"
	 "through their own bootloader, or with --boot direct from the kernel given, and\n"
	 "its initrd if it needs one (many cloud images publish them beside the disk:\n"
	 "faster to boot), and get nubo's NoCloud seed, so cloud images work unchanged.\n",
	 import_flags, 1, 1, false, image_import},
	{"create", "NAME --from-vm VM [--wait]", "Make an image (a template) from a VM's root disk",
	 "A stopped VM's disk is copied as it is; a running VM's is copied at one instant\n"
	 "while the guest keeps running (crash-consistent, like pulling the plug). The\n"
	 "image boots like the VM's own image and keeps its login user.\n",
	 create_flags, 1, 1, false, image_create},
	{"delete", "NAME", "Delete an image that no VM uses", NULL, NULL, 1, 1, false, image_delete},
	{NULL, NULL, NULL, NULL, NULL, 0, 0, false, NULL},
};

const struct cli_noun image_noun = {"image", "Disk images that VMs boot from.", image_verbs, false};
