/* seed: NoCloud meta-data text and the cidata ISO (see seed.h). */
#include "host/seed.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util/fs.h"
#include "util/runner.h"
#include "util/str.h"

/* Appends s as a YAML double-quoted scalar: backslash and quote escaped,
 * control characters as escapes, UTF-8 passed through. */
static void yaml_quote(struct sbuf *b, const char *s)
{
	sbuf_add(b, "\"");
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
		switch (*p) {
		case '\\': sbuf_add(b, "\\\\"); break;
		case '"': sbuf_add(b, "\\\""); break;
		case '\n': sbuf_add(b, "\\n"); break;
		case '\r': sbuf_add(b, "\\r"); break;
		case '\t': sbuf_add(b, "\\t"); break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				sbuf_addf(b, "\\x%02x", *p);
			else
				sbuf_addn(b, (const char *)p, 1);
		}
	}
	sbuf_add(b, "\"");
}

char *seed_meta_data_render(const struct seed *s)
{
	struct sbuf b = {0};
	sbuf_add(&b, "instance-id: ");
	yaml_quote(&b, s->instance_id);
	sbuf_add(&b, "\nlocal-hostname: ");
	yaml_quote(&b, s->hostname);
	if (s->ipv4 && s->gateway) {
		sbuf_add(&b, "\nnubo-ipv4: ");
		yaml_quote(&b, s->ipv4);
		sbuf_add(&b, "\nnubo-gateway: ");
		yaml_quote(&b, s->gateway);
	}
	if (s->n_keys == 0) {
		sbuf_add(&b, "\npublic-keys: []\n");
		return sbuf_take(&b);
	}
	sbuf_add(&b, "\npublic-keys:\n");
	for (int i = 0; i < s->n_keys; i++) {
		sbuf_add(&b, "  - ");
		yaml_quote(&b, s->ssh_keys[i]);
		sbuf_add(&b, "\n");
	}
	return sbuf_take(&b);
}

char *seed_network_config_render(const struct seed *s)
{
	if (s->n_macs < 2)
		return NULL;
	struct sbuf b = {0};
	sbuf_add(&b, "version: 2\nethernets:\n");
	for (int i = 0; i < s->n_macs; i++) {
		sbuf_addf(&b, "  nic%d:\n    match:\n      macaddress: ", i);
		yaml_quote(&b, s->macs[i]);
		sbuf_add(&b, "\n    dhcp4: true\n");
	}
	return sbuf_take(&b);
}

int seed_iso_build(const struct seed *s, const char *work_dir, const char *iso_path, struct err *e)
{
	int rc = fs_mkdir_p(work_dir, 0700, e);
	if (rc < 0)
		return rc;
	autofree char *meta_path = xasprintf("%s/meta-data", work_dir);
	autofree char *user_path = xasprintf("%s/user-data", work_dir);
	autofree char *net_path = xasprintf("%s/network-config", work_dir);
	autofree char *meta = seed_meta_data_render(s);
	autofree char *net = seed_network_config_render(s);
	const char *user = s->user_data ? s->user_data : "#cloud-config\n";
	/* 0600: user-data may carry secrets. */
	if ((rc = fs_write_atomic(meta_path, meta, strlen(meta), 0600, e)) < 0 ||
	    (rc = fs_write_atomic(user_path, user, strlen(user), 0600, e)) < 0 ||
	    (net && (rc = fs_write_atomic(net_path, net, strlen(net), 0600, e)) < 0)) {
		err_prefix(e, "cannot build seed %s", iso_path);
		return rc;
	}
	autofree char *tmp = xasprintf("%s.tmp", iso_path);
	const char *argv[] = {"genisoimage", "-quiet", "-output", tmp, "-volid", "cidata", "-joliet", "-rock",
			      user_path, meta_path, net ? net_path : NULL, NULL};
	bool real = !runner_dry_run();
	rc = runner_run(argv, NULL, NULL, e);
	if (rc < 0) {
		if (real)
			unlink(tmp);
		err_prefix(e, "cannot build seed %s", iso_path);
		return rc;
	}
	if (real && rename(tmp, iso_path) < 0) {
		int saved = errno;
		unlink(tmp);
		return err_set(e, ERR_INTERNAL, "cannot build seed %s: rename from %s: %s", iso_path, tmp,
			       strerror(saved));
	}
	return 0;
}
