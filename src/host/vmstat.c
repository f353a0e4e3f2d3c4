/* vmstat: a VM's tap and disk counters (see vmstat.h). */
#include "host/vmstat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/qmp.h"
#include "util/fs.h"
#include "util/str.h"

static int counter(const char *dir, const char *name, int64_t *v, struct err *e)
{
	autofree char *file = xasprintf("%s/statistics/%s", dir, name);
	char *text = NULL;
	size_t len = 0;
	if (fs_read_file(file, 64, &text, &len, NULL) < 0)
		return err_set(e, ERR_UNAVAILABLE, "cannot read %s: the tap is gone", file);
	char *end = NULL;
	long long n = strtoll(text, &end, 10);
	int rc = end != text && n >= 0 ? 0 : err_set(e, ERR_INTERNAL, "%s does not hold a counter", file);
	*v = n;
	free(text);
	return rc;
}

int vmstat_tap_add(const char *sysfs_net, const char *tap, struct vmstat_net *n, struct err *e)
{
	autofree char *dir = xasprintf("%s/%s", sysfs_net, tap);
	int64_t host_rx, host_tx, host_rx_p, host_tx_p;
	if (counter(dir, "rx_bytes", &host_rx, e) < 0 || counter(dir, "tx_bytes", &host_tx, e) < 0 ||
	    counter(dir, "rx_packets", &host_rx_p, e) < 0 || counter(dir, "tx_packets", &host_tx_p, e) < 0)
		return -1;
	/* the host receives what the guest sends */
	n->rx_bytes += host_tx;
	n->tx_bytes += host_rx;
	n->rx_packets += host_tx_p;
	n->tx_packets += host_rx_p;
	return 0;
}

int vmstat_blockstats_sum(const json_t *ret, struct vmstat_disk *d, struct err *e)
{
	memset(d, 0, sizeof(*d));
	if (!json_is_array(ret))
		return err_set(e, ERR_INTERNAL, "query-blockstats did not answer a list");
	size_t i;
	json_t *dev;
	json_array_foreach(ret, i, dev) {
		json_t *st = json_object_get(dev, "stats");
		if (!json_is_object(st))
			return err_set(e, ERR_INTERNAL, "query-blockstats: device %zu has no stats", i);
		d->read_bytes += json_integer_value(json_object_get(st, "rd_bytes"));
		d->write_bytes += json_integer_value(json_object_get(st, "wr_bytes"));
		d->read_ops += json_integer_value(json_object_get(st, "rd_operations"));
		d->write_ops += json_integer_value(json_object_get(st, "wr_operations"));
	}
	return 0;
}

int vmstat_disk_read(const char *qmp_sock, int timeout_ms, struct vmstat_disk *d, struct err *e)
{
	struct qmp *q = NULL;
	json_t *ret = NULL;
	int rc = qmp_open(qmp_sock, timeout_ms, &q, e);
	if (rc == 0)
		rc = qmp_execute(q, "query-blockstats", NULL, &ret, e);
	if (rc == 0)
		rc = vmstat_blockstats_sum(ret, d, e);
	json_decref(ret);
	qmp_close(q);
	return rc;
}
