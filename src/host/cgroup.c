/* cgroup: per-VM control groups, v2 or v1 (see cgroup.h). */
#include "host/cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "util/fs.h"
#include "util/str.h"
#include "util/timeutil.h"

/* The v1 hierarchies nubo uses, each its own mount under the root. */
static const char *const v1_controllers[] = {"cpu", "memory"};

static bool is_fs(const char *path, long magic)
{
	struct statfs s;
	return statfs(path, &s) == 0 && (long)s.f_type == magic;
}

/* Whether the space-separated list in file holds word. */
static bool file_has_word(const char *file, const char *word)
{
	char *text = NULL;
	if (fs_read_file(file, 4096, &text, NULL, NULL) < 0)
		return false;
	bool found = false;
	char *save = NULL;
	for (char *w = strtok_r(text, " \n", &save); w && !found; w = strtok_r(NULL, " \n", &save))
		found = strcmp(w, word) == 0;
	free(text);
	return found;
}

void cgroup_probe(const char *root, struct cgroup_host *h, char *why, size_t n)
{
	memset(h, 0, sizeof(*h));
	snprintf(h->root, sizeof(h->root), "%s", root);
	if (is_fs(root, CGROUP2_SUPER_MAGIC)) {
		autofree char *ctl = xasprintf("%s/cgroup.controllers", root);
		if (file_has_word(ctl, "cpu") && file_has_word(ctl, "memory")) {
			h->mode = CGROUP_V2;
			snprintf(why, n, "cgroup v2 at %s", root);
		} else {
			snprintf(why, n, "%s is cgroup v2 but does not offer the cpu and memory controllers", root);
		}
		return;
	}
	for (size_t i = 0; i < sizeof(v1_controllers) / sizeof(v1_controllers[0]); i++) {
		autofree char *dir = xasprintf("%s/%s", root, v1_controllers[i]);
		if (!is_fs(dir, CGROUP_SUPER_MAGIC)) {
			snprintf(why, n, "neither %s is a cgroup v2 mount nor %s a cgroup v1 hierarchy", root, dir);
			return;
		}
	}
	h->mode = CGROUP_V1;
	snprintf(why, n, "cgroup v1 at %s/cpu and %s/memory", root, root);
}

void cgroup_parent_name(const char *prefix, char out[32])
{
	snprintf(out, 32, "nubo-%s", prefix);
}

static void set(struct cgroup_plan *p, char *path, char *value)
{
	p->settings[p->n_settings].path = path;
	p->settings[p->n_settings].value = value;
	p->n_settings++;
}

int cgroup_plan_build(const struct cgroup_host *h, const char *prefix, const char *vm_id, int vcpus,
		      int64_t memory_bytes, struct cgroup_plan *p)
{
	memset(p, 0, sizeof(*p));
	if (h->mode == CGROUP_NONE)
		return -1;
	char parent[32];
	cgroup_parent_name(prefix, parent);
	int64_t quota = (int64_t)(vcpus > 0 ? vcpus : 1) * CGROUP_CPU_PERIOD_US + CGROUP_EMULATOR_US;
	if (h->mode == CGROUP_V2) {
		char *top = xasprintf("%s/%s", h->root, parent);
		char *vm = xasprintf("%s/%s", top, vm_id);
		p->dirs[p->n_dirs++] = top;
		p->dirs[p->n_dirs++] = vm;
		/* A child sees a controller only when every ancestor enables it. */
		set(p, xasprintf("%s/cgroup.subtree_control", h->root), xstrdup("+cpu +memory"));
		set(p, xasprintf("%s/cgroup.subtree_control", top), xstrdup("+cpu +memory"));
		set(p, xasprintf("%s/cpu.max", vm), xasprintf("%" PRId64 " %d", quota, CGROUP_CPU_PERIOD_US));
		set(p, xasprintf("%s/memory.max", vm), xasprintf("%" PRId64, memory_bytes));
		p->procs[0] = xasprintf("%s/cgroup.procs", vm);
		return 0;
	}
	for (int i = 0; i < 2; i++) {
		char *top = xasprintf("%s/%s/%s", h->root, v1_controllers[i], parent);
		char *vm = xasprintf("%s/%s", top, vm_id);
		p->dirs[p->n_dirs++] = top;
		p->dirs[p->n_dirs++] = vm;
		if (i == 0) {
			set(p, xasprintf("%s/cpu.cfs_period_us", vm), xasprintf("%d", CGROUP_CPU_PERIOD_US));
			set(p, xasprintf("%s/cpu.cfs_quota_us", vm), xasprintf("%" PRId64, quota));
		} else {
			set(p, xasprintf("%s/memory.limit_in_bytes", vm), xasprintf("%" PRId64, memory_bytes));
		}
		p->procs[i] = xasprintf("%s/cgroup.procs", vm);
	}
	return 0;
}

void cgroup_plan_free(struct cgroup_plan *p)
{
	if (!p)
		return;
	for (int i = 0; i < p->n_dirs; i++)
		free(p->dirs[i]);
	for (int i = 0; i < p->n_settings; i++) {
		free(p->settings[i].path);
		free(p->settings[i].value);
	}
	for (int i = 0; p->procs[i]; i++)
		free(p->procs[i]);
	memset(p, 0, sizeof(*p));
}

static int write_value(const char *path, const char *value, struct err *e)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set(e, ERR_INTERNAL, "cannot set %s to \"%s\": %s", path, value, strerror(errno));
	ssize_t w = write(fd, value, strlen(value));
	int saved = errno;
	close(fd);
	if (w != (ssize_t)strlen(value))
		return err_set(e, ERR_INTERNAL, "cannot set %s to \"%s\": %s", path, value,
			       w < 0 ? strerror(saved) : "short write");
	return 0;
}

/* rmdir that waits for the group's last processes to be gone. */
static int remove_dir(const char *dir, struct err *e)
{
	int64_t end = time_mono_ms() + 2000;
	for (;;) {
		if (rmdir(dir) == 0 || errno == ENOENT)
			return 0;
		if (errno != EBUSY || time_mono_ms() >= end)
			return err_set(e, ERR_INTERNAL, "cannot remove cgroup %s: %s", dir, strerror(errno));
		time_sleep_ms(50);
	}
}

int cgroup_apply(const struct cgroup_plan *p, struct err *e)
{
	int rc = 0;
	for (int i = 0; i < p->n_dirs && rc == 0; i++)
		if (mkdir(p->dirs[i], 0755) < 0 && errno != EEXIST)
			rc = err_set(e, ERR_INTERNAL, "cannot create cgroup %s: %s", p->dirs[i], strerror(errno));
	for (int i = 0; i < p->n_settings && rc == 0; i++)
		rc = write_value(p->settings[i].path, p->settings[i].value, e);
	if (rc < 0) {
		/* Undo the VM's own directories (odd indexes); parents are shared. */
		for (int i = p->n_dirs - 1; i > 0; i -= 2)
			rmdir(p->dirs[i]);
	}
	return rc;
}

/* The directories holding the daemon's groups: one in v2, one per controller in v1. */
static int parent_dirs(const struct cgroup_host *h, const char *prefix, char *out[2])
{
	char parent[32];
	cgroup_parent_name(prefix, parent);
	if (h->mode == CGROUP_V2) {
		out[0] = xasprintf("%s/%s", h->root, parent);
		return 1;
	}
	if (h->mode == CGROUP_V1) {
		for (int i = 0; i < 2; i++)
			out[i] = xasprintf("%s/%s/%s", h->root, v1_controllers[i], parent);
		return 2;
	}
	return 0;
}

int cgroup_vm_remove(const struct cgroup_host *h, const char *prefix, const char *vm_id, struct err *e)
{
	char *parents[2] = {NULL, NULL};
	int n = parent_dirs(h, prefix, parents), rc = 0;
	for (int i = 0; i < n; i++) {
		autofree char *dir = xasprintf("%s/%s", parents[i], vm_id);
		if (rc == 0)
			rc = remove_dir(dir, e);
		free(parents[i]);
	}
	return rc;
}

int cgroup_parent_remove(const struct cgroup_host *h, const char *prefix, struct err *e)
{
	char *parents[2] = {NULL, NULL};
	int n = parent_dirs(h, prefix, parents), rc = 0;
	for (int i = 0; i < n; i++) {
		DIR *d = rc == 0 ? opendir(parents[i]) : NULL;
		struct dirent *de;
		while (d && rc == 0 && (de = readdir(d))) {
			if (de->d_type != DT_DIR || de->d_name[0] == '.')
				continue;
			autofree char *child = xasprintf("%s/%s", parents[i], de->d_name);
			rc = remove_dir(child, e);
		}
		if (d)
			closedir(d);
		if (rc == 0)
			rc = remove_dir(parents[i], e);
		free(parents[i]);
	}
	return rc;
}

/* dry-run: a percent of one CPU, written by a test, since the file's mtime. */
int cgroup_cpu_usec_from_file(const char *dry_dir, const char *vm_id, uint64_t *usec, int64_t *epoch_ms,
			      struct err *e)
{
	*usec = 0;
	if (!dry_dir)
		return err_set(e, ERR_UNAVAILABLE, "dry-run: no CPU file");
	autofree char *mine = xasprintf("%s/%s", dry_dir, vm_id);
	autofree char *all = xasprintf("%s/all", dry_dir);
	const char *path = access(mine, F_OK) == 0 ? mine : all;
	struct stat sb;
	char *text = NULL;
	size_t len = 0;
	if (stat(path, &sb) < 0 || fs_read_file(path, 64, &text, &len, NULL) < 0)
		return err_set(e, ERR_UNAVAILABLE, "dry-run: no CPU file %s", path);
	char *end = NULL;
	double pct = strtod(text, &end);
	bool good = end != text && pct >= 0 && pct <= 100000;
	free(text);
	if (!good)
		return err_set(e, ERR_INVALID, "dry-run CPU file %s does not hold a percent", path);
	int64_t since = (int64_t)sb.st_mtim.tv_sec * 1000 + sb.st_mtim.tv_nsec / 1000000;
	int64_t ms = time_now_ms() - since;
	*epoch_ms = since;
	*usec = ms > 0 ? (uint64_t)((double)ms * 1000.0 * pct / 100.0) : 0;
	return 0;
}

/* The sum of utime and stime (fields 14 and 15 of /proc/PID/stat, every
 * thread of the process) of the processes listed in procs_file. */
static int procs_cpu_usec(const char *procs_file, uint64_t *usec, struct err *e)
{
	char *list = NULL;
	size_t len = 0;
	if (fs_read_file(procs_file, 1 << 20, &list, &len, NULL) < 0)
		return err_set(e, ERR_UNAVAILABLE, "cannot read %s: the group is gone", procs_file);
	long hz = sysconf(_SC_CLK_TCK);
	uint64_t ticks = 0;
	char *save = NULL;
	for (char *pid = strtok_r(list, "\n", &save); pid; pid = strtok_r(NULL, "\n", &save)) {
		autofree char *path = xasprintf("/proc/%s/stat", pid);
		char *stat = NULL;
		size_t n = 0;
		if (fs_read_file(path, 4096, &stat, &n, NULL) < 0)
			continue;   /* gone meanwhile */
		/* after the command's ")": state is field 3, utime 14, stime 15 */
		char *p = strrchr(stat, ')');
		unsigned long long ut = 0, stt = 0;
		if (p && sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &stt) == 2)
			ticks += ut + stt;
		free(stat);
	}
	free(list);
	*usec = hz > 0 ? ticks * (1000000ull / (uint64_t)hz) : 0;
	return 0;
}

int cgroup_cpu_usec(const struct cgroup_host *h, const char *prefix, const char *vm_id, uint64_t *usec,
		    int64_t *epoch_ms, struct err *e)
{
	*usec = 0;
	*epoch_ms = 0;
	char *parents[2] = {NULL, NULL};
	int n = parent_dirs(h, prefix, parents), rc = 0;
	if (n == 0)
		return err_set(e, ERR_UNAVAILABLE, "no cgroups on this host: VM CPU time cannot be measured");
	autofree char *dir = xasprintf("%s/%s", parents[0], vm_id);
	for (int i = 0; i < n; i++)
		free(parents[i]);
	char *text = NULL;
	size_t len = 0;
	if (h->mode == CGROUP_V2) {
		autofree char *file = xasprintf("%s/cpu.stat", dir);
		if (fs_read_file(file, 4096, &text, &len, NULL) < 0)
			return err_set(e, ERR_UNAVAILABLE, "cannot read %s: the group is gone", file);
		const char *u = strstr(text, "usage_usec ");
		unsigned long long v = 0;
		rc = u && sscanf(u + 11, "%llu", &v) == 1 ? 0 : err_set(e, ERR_INTERNAL, "%s has no usage_usec", file);
		*usec = v;
		free(text);
		return rc;
	}
	autofree char *acct = xasprintf("%s/cpuacct.usage", dir);
	if (fs_read_file(acct, 64, &text, &len, NULL) == 0) {
		*usec = strtoull(text, NULL, 10) / 1000;   /* ns */
		free(text);
		return 0;
	}
	autofree char *procs = xasprintf("%s/cgroup.procs", dir);
	return procs_cpu_usec(procs, usec, e);
}

int cgroup_memory_bytes(const struct cgroup_host *h, const char *prefix, const char *vm_id, int64_t *bytes,
			struct err *e)
{
	*bytes = 0;
	char *parents[2] = {NULL, NULL};
	int n = parent_dirs(h, prefix, parents);
	if (n == 0)
		return err_set(e, ERR_UNAVAILABLE, "no cgroups on this host: VM memory cannot be measured");
	autofree char *file = h->mode == CGROUP_V2 ? xasprintf("%s/%s/memory.current", parents[0], vm_id)
						   : xasprintf("%s/%s/memory.usage_in_bytes", parents[1], vm_id);
	for (int i = 0; i < n; i++)
		free(parents[i]);
	char *text = NULL;
	size_t len = 0;
	if (fs_read_file(file, 64, &text, &len, NULL) < 0)
		return err_set(e, ERR_UNAVAILABLE, "cannot read %s: the group is gone", file);
	char *end = NULL;
	long long v = strtoll(text, &end, 10);
	int rc = end != text && v >= 0 ? 0 : err_set(e, ERR_INTERNAL, "%s does not hold a number of bytes", file);
	*bytes = v;
	free(text);
	return rc;
}
