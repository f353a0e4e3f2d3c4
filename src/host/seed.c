/* seed: the cidata ISO (see seed.h). */
#include "host/seed.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util/fs.h"
#include "util/runner.h"
#include "util/str.h"

int seed_iso_write(const struct nocloud *s, const char *work_dir, const char *iso_path, const char *tmp,
		   struct err *e)
{
	int rc = fs_mkdir_p(work_dir, 0700, e);
	if (rc < 0)
		return rc;
	autofree char *meta_path = xasprintf("%s/meta-data", work_dir);
	autofree char *user_path = xasprintf("%s/user-data", work_dir);
	autofree char *net_path = xasprintf("%s/network-config", work_dir);
	autofree char *meta = nocloud_meta_data_render(s);
	/* One NIC: cloud-init's fallback (DHCP on it) is the same, and tiny's
	 * init takes a seed without network-config for one NIC; unless the
	 * NIC needs a smaller MTU (a network across hosts). */
	autofree char *net = s->n_macs >= 2 || s->mtu > 0 ? nocloud_network_config_render(s) : NULL;
	const char *user = s->user_data ? s->user_data : NOCLOUD_EMPTY_USER_DATA;
	/* 0600: user-data may carry secrets. */
	if ((rc = fs_write_atomic(meta_path, meta, strlen(meta), 0600, e)) < 0 ||
	    (rc = fs_write_atomic(user_path, user, strlen(user), 0600, e)) < 0 ||
	    (net && (rc = fs_write_atomic(net_path, net, strlen(net), 0600, e)) < 0)) {
		err_prefix(e, "cannot build seed %s", iso_path);
		return rc;
	}
	const char *argv[] = {"genisoimage", "-quiet", "-output", tmp, "-volid", "cidata", "-joliet", "-rock",
			      user_path, meta_path, net ? net_path : NULL, NULL};
	rc = runner_run(argv, NULL, NULL, e);
	if (rc < 0)
		err_prefix(e, "cannot build seed %s", iso_path);
	return rc;
}

int seed_iso_build(const struct nocloud *s, const char *work_dir, const char *iso_path, struct err *e)
{
	autofree char *tmp = xasprintf("%s.tmp", iso_path);
	int rc = seed_iso_write(s, work_dir, iso_path, tmp, e);
	if (rc < 0) {
		unlink(tmp);
		return rc;
	}
	if (rename(tmp, iso_path) < 0) {
		int saved = errno;
		unlink(tmp);
		return err_set(e, ERR_INTERNAL, "cannot build seed %s: rename from %s: %s", iso_path, tmp,
			       strerror(saved));
	}
	return 0;
}
