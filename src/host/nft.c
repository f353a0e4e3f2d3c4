/* nft: whole-table rendering and atomic replacement (see nft.h). */
#include "host/nft.h"

#include <string.h>

#include "util/runner.h"
#include "util/str.h"

#define FAMILY "ip"
#define METADATA_IP "169.254.169.254"

static bool only(const char *s, const char *allowed, size_t max)
{
	size_t n = s ? strlen(s) : 0;
	return n > 0 && n <= max && strspn(s, allowed) == n;
}

static bool table_name_valid(const char *s)
{
	return only(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_", 64);
}

/* The metadata service's DNAT and its door in input; nothing without a
 * network that has a metadata port. */
static void render_metadata(struct sbuf *b, const struct nft_network *nets, int n)
{
	bool any = false;
	for (int i = 0; i < n; i++)
		any = any || nets[i].metadata_port;
	if (!any)
		return;
	sbuf_add(b, "\tchain prerouting {\n");
	sbuf_add(b, "\t\ttype nat hook prerouting priority dstnat; policy accept;\n");
	for (int i = 0; i < n; i++)
		if (nets[i].metadata_port)
			sbuf_addf(b, "\t\tiifname \"%s\" ip daddr " METADATA_IP " tcp dport 80 dnat to %s:%d\n",
				  nets[i].bridge, nets[i].gateway, nets[i].metadata_port);
	sbuf_add(b, "\t}\n");
	sbuf_add(b, "\tchain input {\n");
	sbuf_add(b, "\t\ttype filter hook input priority filter; policy accept;\n");
	for (int i = 0; i < n; i++) {
		if (!nets[i].metadata_port)
			continue;
		sbuf_addf(b, "\t\tiifname \"%s\" ip daddr %s tcp dport %d accept\n", nets[i].bridge, nets[i].gateway,
			  nets[i].metadata_port);
		sbuf_addf(b, "\t\tip daddr %s tcp dport %d drop\n", nets[i].gateway, nets[i].metadata_port);
	}
	sbuf_add(b, "\t}\n");
}

char *nft_ruleset_render(const char *table, const struct nft_network *nets, int n)
{
	if (!table_name_valid(table))
		return NULL;
	for (int i = 0; i < n; i++) {
		if (!only(nets[i].bridge, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-", 15) ||
		    !only(nets[i].cidr, "0123456789./", 18) || !strchr(nets[i].cidr, '/'))
			return NULL;
		if (nets[i].metadata_port &&
		    (!only(nets[i].gateway, "0123456789.", 15) || nets[i].metadata_port < 1 || nets[i].metadata_port > 65535))
			return NULL;
	}
	struct sbuf b = {0};
	sbuf_addf(&b, "# Written by nubo; the whole table is replaced at once.\n");
	/* Create-if-missing then delete: "delete" alone fails on a missing table. */
	sbuf_addf(&b, "table %s %s\n", FAMILY, table);
	sbuf_addf(&b, "delete table %s %s\n", FAMILY, table);
	sbuf_addf(&b, "table %s %s {\n", FAMILY, table);

	sbuf_add(&b, "\tchain postrouting {\n");
	sbuf_add(&b, "\t\ttype nat hook postrouting priority srcnat; policy accept;\n");
	for (int i = 0; i < n; i++)
		if (nets[i].nat)
			sbuf_addf(&b, "\t\tip saddr %s oifname != \"%s\" masquerade\n", nets[i].cidr, nets[i].bridge);
	sbuf_add(&b, "\t}\n");

	/* policy accept: packets that match no rule here are not nubo's and
	 * go on to whatever else the host's firewall decides. */
	sbuf_add(&b, "\tchain forward {\n");
	sbuf_add(&b, "\t\ttype filter hook forward priority filter; policy accept;\n");
	for (int i = 0; i < n; i++) {
		const char *br = nets[i].bridge, *cidr = nets[i].cidr;
		sbuf_addf(&b, "\t\tiifname \"%s\" ip saddr %s accept\n", br, cidr);
		sbuf_addf(&b, "\t\tiifname \"%s\" drop\n", br);
		sbuf_addf(&b, "\t\toifname \"%s\" ct state established,related accept\n", br);
		sbuf_addf(&b, "\t\toifname \"%s\" drop\n", br);
	}
	sbuf_add(&b, "\t}\n");
	render_metadata(&b, nets, n);
	sbuf_add(&b, "}\n");
	return sbuf_take(&b);
}

int nft_apply(const char *ruleset, struct err *e)
{
	if (!ruleset)
		return err_set(e, ERR_INTERNAL, "cannot apply nftables rules: no ruleset (a name was not valid)");
	const char *argv[] = {"nft", "-f", "-", NULL};
	struct run_opts o = {.input = ruleset, .timeout_ms = 30000};
	int rc = runner_run(argv, &o, NULL, e);
	if (rc < 0)
		err_prefix(e, "cannot apply nftables rules");
	return rc;
}

int nft_table_delete(const char *table, struct err *e)
{
	if (!table_name_valid(table))
		return err_set(e, ERR_INTERNAL, "cannot delete nftables table \"%s\": not a valid table name", table);
	autofree char *script = xasprintf("table %s %s\ndelete table %s %s\n", FAMILY, table, FAMILY, table);
	const char *argv[] = {"nft", "-f", "-", NULL};
	struct run_opts o = {.input = script, .timeout_ms = 30000};
	int rc = runner_run(argv, &o, NULL, e);
	if (rc < 0)
		err_prefix(e, "cannot delete nftables table %s", table);
	return rc;
}
