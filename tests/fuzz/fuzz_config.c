/* fuzz_config: config_load_buffer on the text of nubod's configuration
 * file. A refusal is ERR_INVALID with a UTF-8 message; what is accepted keeps
 * every setting within the range config.c documents: QEMU never as root,
 * firmware an absolute path or none, import folders absolute and never /,
 * every machine type valid. */
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "ctl/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config c;
	config_init_default(&c);
	struct err e = {0};
	int rc = config_load_buffer(&c, "nubod.json", (const char *)data, size, &e);
	if (rc < 0) {
		fuzz_check_err(rc, &e, "(config)");
	} else {
		FUZZ_ASSERT(c.cpu_overcommit >= 0.1 && c.cpu_overcommit <= 64, "cpu_overcommit %g", c.cpu_overcommit);
		FUZZ_ASSERT(c.memory_overcommit >= 0.1 && c.memory_overcommit <= 8, "memory_overcommit %g",
			    c.memory_overcommit);
		FUZZ_ASSERT(c.stop_timeout_s >= 0 && c.stop_timeout_s <= 3600, "stop_timeout_s %d", c.stop_timeout_s);
		FUZZ_ASSERT(c.ssh_wait_s >= 1 && c.ssh_wait_s <= 3600, "ssh_wait_s %d", c.ssh_wait_s);
		FUZZ_ASSERT(c.metadata_port >= 1 && c.metadata_port <= 65535, "metadata_port %d", c.metadata_port);
		FUZZ_ASSERT(c.qemu_user[0] && strcmp(c.qemu_user, "root") != 0 && c.qemu_user[0] != '-',
			    "qemu_user \"%s\"", c.qemu_user);
		FUZZ_ASSERT(!c.qboot[0] || c.qboot[0] == '/', "qboot \"%s\"", c.qboot);
		FUZZ_ASSERT(c.image_upload_max_mib >= 1 && c.image_upload_max_mib <= (1 << 24), "image_upload_max_mib %lld",
			    (long long)c.image_upload_max_mib);
		FUZZ_ASSERT(c.n_import_dirs >= 0 && c.n_import_dirs <= CONFIG_IMPORT_DIRS_MAX, "%d import_dirs",
			    c.n_import_dirs);
		for (int i = 0; i < c.n_import_dirs; i++)
			FUZZ_ASSERT(c.import_dirs[i][0] == '/' && strcmp(c.import_dirs[i], "/") != 0, "import_dirs[%d] \"%s\"",
				    i, c.import_dirs[i]);
		for (int i = 0; i < c.types.n; i++) {
			const struct machine_type *t = &c.types.types[i];
			FUZZ_ASSERT(t->vcpus >= 1 && t->vcpus <= 256 && t->memory_mib >= 64 && t->memory_mib <= 1024 * 1024 &&
					    t->price_per_hour >= 0,
				    "type %s: %d vCPUs, %d MiB, %g an hour", t->name, t->vcpus, t->memory_mib, t->price_per_hour);
		}
		for (int k = 0; k < USAGE_KINDS; k++)
			FUZZ_ASSERT(c.prices.gib_hour[k] >= 0 && c.prices.gib_hour[k] <= 1000, "prices[%s] %g a GiB-hour",
				    usage_kind_name((enum usage_kind)k), c.prices.gib_hour[k]);
	}
	config_free(&c);
	return 0;
}
