/*
 * config: nubod's settings. Defaults suit one host; a JSON file
 * (--config, default /etc/nubo/nubod.json when present) overrides them and
 * adds machine types:
 *
 *   {"cpu_overcommit": 4.0, "memory_overcommit": 1.0, "reserved_memory_mib": 1024,
 *    "stop_timeout_s": 30, "ssh_wait_s": 300, "metadata_port": 8775,
 *    "qemu_user": "nubo-qemu", "qboot": "/usr/share/qemu/qboot.rom", "import_dirs": ["/srv/images"],
 *    "image_upload_max_mib": 65536,
 *    "database": "postgres://nubo@db.example/nubo", "events_retention_days": 7,
 *    "host_name": "h2", "advertise": "192.0.2.12", "placement": "spread", "host_down_after_s": 30,
 *    "vxlan_port": 4789,
 *    "types": [{"name": "xlarge", "vcpus": 8, "memory_mib": 16384, "price_per_hour": 0.27}],
 *    "prices": {"disk_gib_hour": 0.0001, "volume_gib_hour": 0.0001, "snapshot_gib_hour": 0.00005,
 *               "image_gib_hour": 0.00005, "types": {"small": 0.02}},
 *    "metrics": {"interval": "10s", "keep": "24h", "coarse_step": "5m", "coarse_keep": "30d"},
 *    "idle_stop": {"after": "off", "cpu": "5%", "net_bps": 10240}}
 *
 * "prices" sets what usage costs (docs/usage.md): storage per GiB-hour, and
 * the price per hour of types already defined (built-in or in "types").
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "model/machine_type.h"
#include "model/metrics.h"
#include "model/usage.h"
#include "model/placement.h"
#include "util/err.h"

/* Where Debian's qemu-system-data puts QEMU's qboot ROM. */
#define CONFIG_QBOOT_DEFAULT "/usr/share/qemu/qboot.rom"
#define CONFIG_IMPORT_DIRS_MAX 16
#define CONFIG_IMAGE_UPLOAD_MAX_MIB 65536   /* 64 GiB */

struct config {
	double cpu_overcommit;     /* vCPUs handed out per host CPU */
	double memory_overcommit;  /* memory handed out per MiB of host memory left after the reserve */
	int reserved_memory_mib;   /* kept for the host itself; -1: 10% of RAM, at least 512 MiB */
	int stop_timeout_s;        /* ACPI power-down grace before a forced stop */
	int ssh_wait_s;            /* how long a start waits for SSH before the operation fails */
	int metadata_port;         /* the metadata service's port on each network's gateway address */
	char qemu_user[33];        /* the unprivileged user every QEMU runs as */
	/* The firmware of direct boots (kernel beside the disk): qboot, which
	 * only loads that kernel and so starts it sooner than SeaBIOS. "": none,
	 * SeaBIOS as for firmware boots. A missing file means SeaBIOS too
	 * (said once at startup). */
	char qboot[256];
	/* The store: "" for SQLite at STATE/nubo.db, or a postgres:// connection
	 * string (nubod --database overrides it). */
	char database[1024];
	/* This host in a cluster (ctl/hosts.c): its name ("": the machine's
	 * hostname), the address other hosts reach it at, how new VMs are
	 * placed, and how old a heartbeat may get before a host is down.
	 * nubod's --host-name and --advertise override the first two. */
	char host_name[NAME_MAX_LEN + 1];
	char advertise[64];
	enum placement_policy placement;
	int host_down_after_s;
	/* The UDP port of networks' VXLAN segments between hosts (ctl/overlay.c). */
	int vxlan_port;
	/* Events older than this are pruned (ctl/events.c). */
	int events_retention_days;
	/* Folders from which API callers over TCP may import files (none: no
	 * file imports over TCP; see host/access.h). */
	char import_dirs[CONFIG_IMPORT_DIRS_MAX][256];
	int n_import_dirs;
	/* The largest image an API caller may upload in a request's body. */
	int64_t image_upload_max_mib;
	struct type_catalog types;
	struct usage_prices prices;   /* storage per GiB-hour; types carry their own */
	struct metrics_policy metrics;   /* how often VMs are sampled and how long kept (docs/metrics.md) */
	struct idle_policy idle_stop;    /* the idle stop policy of VMs without their own (after 0: off) */
};

void config_init_default(struct config *c);
/* Reads path over the defaults; unknown keys and bad values are errors naming
 * them. Keys that start with '#' are comments. */
int config_load(struct config *c, const char *path, struct err *e);
/* The same for the text of a file (len bytes); name stands for its path in errors. */
int config_load_buffer(struct config *c, const char *name, const char *text, size_t len, struct err *e);
void config_free(struct config *c);
