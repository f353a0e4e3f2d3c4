/* overlay: a network's VXLAN device, forwarding and neighbour entries (see overlay.h). */
#include "host/overlay.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "host/bridge.h"
#include "util/fs.h"
#include "util/runner.h"
#include "util/str.h"

void overlay_bridge_mac(const char *prefix, const char *net_id, char out[18])
{
	const char *dash = strchr(net_id, '-');
	const char *n = dash ? dash + 1 : net_id;
	char p[5] = "0000", d[7] = "000000";
	memcpy(p, prefix, strnlen(prefix, 4));
	memcpy(d, n, strnlen(n, 6));
	snprintf(out, 18, OVERLAY_MAC_LEAD "%.2s:%.2s:%.2s:%.2s:%.2s", p, p + 2, d, d + 2, d + 4);
}

static bool mac_valid(const char *s)
{
	return s && strlen(s) == 17 && strspn(s, "0123456789abcdefABCDEF:") == 17;
}

static bool ip_valid(const char *s)
{
	struct in_addr a;
	return s && inet_pton(AF_INET, s, &a) == 1;
}

static bool input_valid(const struct overlay *o)
{
	if (!link_name_valid(o->bridge) || !link_name_valid(o->vxlan) || !mac_valid(o->bridge_mac) || o->vni < 1 ||
	    o->vni > 0xffffff || !ip_valid(o->local) || o->port < 1 || o->port > 65535)
		return false;
	for (int i = 0; i < o->n_peers; i++)
		if (!mac_valid(o->peers[i].mac) || !ip_valid(o->peers[i].addr))
			return false;
	for (int i = 0; i < o->n_routes; i++)
		if (!ip_valid(o->routes[i].ip) || !mac_valid(o->routes[i].mac))
			return false;
	return true;
}

static json_t *parse_list(const char *text, const char *what, struct err *e)
{
	json_error_t je;
	json_t *j = json_loads(text && *text ? text : "[]", 0, &je);
	if (!j || !json_is_array(j)) {
		json_decref(j);
		err_set(e, ERR_INTERNAL, "cannot read the %s: not a JSON list", what);
		return NULL;
	}
	return j;
}

static const char *str_of(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

static const struct overlay_peer *peer_of(const struct overlay *o, const char *mac)
{
	for (int i = 0; i < o->n_peers; i++)
		if (strcasecmp(o->peers[i].mac, mac) == 0)
			return &o->peers[i];
	return NULL;
}

static const struct overlay_route *route_of(const struct overlay *o, const char *ip)
{
	for (int i = 0; i < o->n_routes; i++)
		if (strcmp(o->routes[i].ip, ip) == 0)
			return &o->routes[i];
	return NULL;
}

/* The vxlan device's remote entries ("dst") and the bridge's static ones
 * on its port are the overlay's; the device's own (permanent, no dst) stays. */
static void fdb_plan(const struct overlay *o, json_t *fdb, struct sbuf *b)
{
	bool *have_self = xcalloc((size_t)o->n_peers + 1, sizeof(bool));
	bool *have_master = xcalloc((size_t)o->n_peers + 1, sizeof(bool));
	size_t i;
	json_t *f;
	json_array_foreach(fdb, i, f) {
		const char *mac = str_of(f, "mac"), *dst = str_of(f, "dst"), *state = str_of(f, "state");
		bool master = *str_of(f, "master") != '\0';
		if (!master && !*dst)
			continue;
		if (master && strcmp(state, "static") != 0)
			continue;
		const struct overlay_peer *p = peer_of(o, mac);
		if (p && master) {
			have_master[p - o->peers] = true;
			continue;
		}
		if (p && strcmp(dst, p->addr) == 0) {
			have_self[p - o->peers] = true;
			continue;
		}
		if (p)
			continue;   /* another address: replaced below */
		if (master)
			sbuf_addf(b, "fdb del %s dev %s master\n", mac, o->vxlan);
		else
			sbuf_addf(b, "fdb del %s dev %s dst %s self\n", mac, o->vxlan, dst);
	}
	for (int k = 0; k < o->n_peers; k++) {
		if (!have_master[k])
			sbuf_addf(b, "fdb replace %s dev %s master static\n", o->peers[k].mac, o->vxlan);
		if (!have_self[k])
			sbuf_addf(b, "fdb replace %s dev %s dst %s self permanent\n", o->peers[k].mac, o->vxlan,
				  o->peers[k].addr);
	}
	free(have_self);
	free(have_master);
}

static void neigh_plan(const struct overlay *o, json_t *neigh, struct sbuf *b)
{
	bool *have = xcalloc((size_t)o->n_routes + 1, sizeof(bool));
	size_t i;
	json_t *n;
	json_array_foreach(neigh, i, n) {
		const char *ip = str_of(n, "dst"), *mac = str_of(n, "lladdr");
		bool permanent = false;
		size_t k;
		json_t *st;
		json_array_foreach(json_object_get(n, "state"), k, st)
			permanent = permanent || (json_string_value(st) && strcmp(json_string_value(st), "PERMANENT") == 0);
		if (!permanent || strncasecmp(mac, OVERLAY_MAC_LEAD, strlen(OVERLAY_MAC_LEAD)) != 0 || !ip_valid(ip))
			continue;   /* a local VM's entry (bridge.c), or the kernel's own */
		const struct overlay_route *r = route_of(o, ip);
		if (r && strcasecmp(r->mac, mac) == 0)
			have[r - o->routes] = true;
		else if (!r)
			sbuf_addf(b, "neigh del %s dev %s\n", ip, o->bridge);
	}
	for (int k = 0; k < o->n_routes; k++)
		if (!have[k])
			sbuf_addf(b, "neigh replace %s lladdr %s dev %s nud permanent\n", o->routes[k].ip,
				  o->routes[k].mac, o->bridge);
	free(have);
}

int overlay_plan(const struct overlay *o, const char *fdb_json, const char *neigh_json, char **fdb_batch,
		 char **neigh_batch, struct err *e)
{
	*fdb_batch = *neigh_batch = NULL;
	if (!input_valid(o))
		return err_set(e, ERR_INTERNAL, "network segment on %s: a name, address, MAC, VNI or port is not valid",
			       o->bridge ? o->bridge : "?");
	json_t *fdb = parse_list(fdb_json, "forwarding entries", e);
	if (!fdb)
		return -1;
	json_t *neigh = parse_list(neigh_json, "neighbour entries", e);
	if (!neigh) {
		json_decref(fdb);
		return -1;
	}
	struct sbuf fb = {0}, nb = {0};
	fdb_plan(o, fdb, &fb);
	neigh_plan(o, neigh, &nb);
	json_decref(fdb);
	json_decref(neigh);
	*fdb_batch = sbuf_take(&fb);
	*neigh_batch = sbuf_take(&nb);
	return 0;
}

/* In dry-run nothing runs, the reads neither: the devices they would read
 * were never made, and an empty answer plans every entry. */
static int run(const char *const argv[], const char *input, struct run_result *r, struct err *e)
{
	struct run_opts o = {.input = input, .timeout_ms = 30000};
	return runner_run(argv, &o, r, e);
}

static int device_ensure(const struct bridge_kernel *k, const struct overlay *o, struct err *e)
{
	char vni[16], port[8], mtu[8], have[18];
	snprintf(vni, sizeof(vni), "%d", o->vni);
	snprintf(port, sizeof(port), "%d", o->port);
	snprintf(mtu, sizeof(mtu), "%d", OVERLAY_MTU);
	k->mac(o->bridge, have);
	if (strcasecmp(have, o->bridge_mac) != 0) {
		const char *argv[] = {"ip", "link", "set", "dev", o->bridge, "address", o->bridge_mac, NULL};
		if (run(argv, NULL, NULL, e) < 0)
			return -1;
	}
	if (k->has(o->vxlan, NULL) != 1) {
		const char *add[] = {"ip", "link", "add", o->vxlan, "mtu", mtu, "type", "vxlan", "id", vni,
				     "local", o->local, "dstport", port, "nolearning", NULL};
		if (run(add, NULL, NULL, e) < 0 && k->has(o->vxlan, NULL) != 1)
			return -1;
		err_clear(e);
	}
	const char *attach[] = {"ip", "link", "set", "dev", o->vxlan, "master", o->bridge, "up", NULL};
	/* Nothing is learnt on the port: the entries below are all it knows. */
	const char *port_opts[] = {"bridge", "link", "set", "dev", o->vxlan, "learning", "off", NULL};
	if (run(attach, NULL, NULL, e) < 0 || run(port_opts, NULL, NULL, e) < 0)
		return -1;
	return 0;
}

int overlay_ensure_on(const struct bridge_kernel *k, const struct overlay *o, struct err *e)
{
	if (!input_valid(o))
		return err_set(e, ERR_INTERNAL, "network segment on %s: a name, address, MAC, VNI or port is not valid",
			       o->bridge ? o->bridge : "?");
	struct run_result fdb = {0}, neigh = {0};
	autofree char *fdb_batch = NULL, *neigh_batch = NULL;
	const char *fdb_show[] = {"bridge", "-j", "fdb", "show", "dev", o->vxlan, NULL};
	const char *neigh_show[] = {"ip", "-j", "neigh", "show", "dev", o->bridge, NULL};
	const char *fdb_apply[] = {"bridge", "-force", "-batch", "-", NULL};
	const char *neigh_apply[] = {"ip", "-force", "-batch", "-", NULL};
	int rc = device_ensure(k, o, e);
	if (rc == 0)
		rc = run(fdb_show, NULL, &fdb, e);
	if (rc == 0)
		rc = run(neigh_show, NULL, &neigh, e);
	if (rc == 0)
		rc = overlay_plan(o, fdb.out, neigh.out, &fdb_batch, &neigh_batch, e);
	if (rc == 0 && *fdb_batch)
		rc = run(fdb_apply, fdb_batch, NULL, e);
	if (rc == 0 && *neigh_batch)
		rc = run(neigh_apply, neigh_batch, NULL, e);
	run_result_free(&fdb);
	run_result_free(&neigh);
	if (rc < 0)
		err_prefix(e, "cannot set up the network segment %s (VNI %d) on %s", o->vxlan, o->vni, o->bridge);
	return rc;
}

int overlay_remove_on(const struct bridge_kernel *k, const char *vxlan, struct err *e)
{
	if (!link_name_valid(vxlan))
		return err_set(e, ERR_INTERNAL, "vxlan name \"%s\" is not a valid interface name", vxlan);
	if (k->has(vxlan, NULL) == 0)
		return 0;
	const char *del[] = {"ip", "link", "del", "dev", vxlan, NULL};
	int rc = run(del, NULL, NULL, e);
	if (rc < 0 && k->has(vxlan, NULL) == 0)
		rc = 0;
	if (rc < 0)
		err_prefix(e, "cannot remove the network segment %s", vxlan);
	return rc;
}

int overlay_ensure(const struct overlay *o, struct err *e)
{
	return overlay_ensure_on(&bridge_kernel_real, o, e);
}

int overlay_remove(const char *vxlan, struct err *e)
{
	return overlay_remove_on(&bridge_kernel_real, vxlan, e);
}
