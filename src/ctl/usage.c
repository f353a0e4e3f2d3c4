/*
 * usage: the meters' part in the reconciler loop. The spans themselves are
 * opened and closed by the store in the transaction of each change
 * (store/usage.c); here nubod hands the store its prices at start, runs
 * every meter once (resources older than the meters, a price changed in
 * nubod.json), and after each pass of the instance reconciler that has
 * looked at every VM's QEMU, marks the running ones as seen, at most every
 * USAGE_SEEN_EVERY_MS: one UPDATE, whatever the number of VMs. The mark is
 * where a run ends when nubod itself was down as its VM stopped. Each host
 * marks its own VMs only: those of a host that is down stay unseen.
 */
#include "ctl/ctl-priv.h"

#include "util/log.h"
#include "util/timeutil.h"

int usage_init(struct ctl *c, struct err *e)
{
	store_usage_set_prices(c->st, &c->cfg.prices, &c->cfg.types);
	if (store_usage_sync(c->st, e) < 0) {
		err_prefix(e, "usage");
		return -1;
	}
	return 0;
}

bool usage_reconcile(struct ctl *c)
{
	const struct vm_cache *vc = &c->vm_cache;
	if (!vc->passed_at || vc->passed_at == c->usage_marked_pass)
		return false;   /* no pass since the last mark: nothing new was seen */
	int64_t now = time_mono_ms();
	if (c->usage_marked_at && now - c->usage_marked_at < USAGE_SEEN_EVERY_MS)
		return false;
	struct err e = {0};
	if (store_usage_seen(c->st, time_now_ms(), c->host_name, &e) < 0) {
		log_warn("usage: cannot mark running VMs as seen: %s", e.msg);
		return false;
	}
	c->usage_marked_at = now;
	c->usage_marked_pass = vc->passed_at;
	return false;
}
