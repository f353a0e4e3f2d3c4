/*
 * nft: the one nftables table a nubod owns.
 *
 * The one idea: nubo never edits rules one by one. It renders the whole table
 * from the desired state and hands it to `nft -f -`, which applies the file
 * as one transaction: "create the table if missing, delete it, create it
 * again with every rule". Either the new ruleset is in place or the old one
 * still is; there is no moment without rules and no leftover rule. The table
 * holds only rules that match nubo's bridges and subnets, so traffic that is
 * not nubo's passes through untouched.
 */
#pragma once

#include <stdbool.h>

#include "util/err.h"

struct nft_network {
	const char *bridge;   /* "nb1a2b3c" */
	const char *cidr;     /* "10.77.3.0/24" */
	bool nat;             /* masquerade traffic that leaves the host */
	/* The metadata service (host/metadata.h): 0, or the port its listener
	 * has on gateway, the bridge's own address. */
	const char *gateway;  /* "10.77.3.1" */
	int metadata_port;
};

/* The ruleset text for table (family ip) with these networks. Pure; caller
 * frees. Per network:
 *   - postrouting (nat): saddr CIDR leaving by another interface is masqueraded;
 *   - forward: from the bridge with a source in CIDR: accepted; from the
 *     bridge otherwise (spoofed source): dropped; to the bridge: replies
 *     (established, related) accepted, anything else dropped (inbound is
 *     denied by default);
 *   - with a metadata port: prerouting (dstnat) sends 169.254.169.254:80
 *     from the bridge to gateway:port, and input takes gateway:port only from
 *     the bridge (never from another interface or the host itself).
 * NULL if table, a bridge, a cidr or a gateway holds characters that have no place in
 * them (they could otherwise inject rules). */
char *nft_ruleset_render(const char *table, const struct nft_network *nets, int n);

/* Applies a rendered ruleset with `nft -f -` (dry-run: captured with it). */
int nft_apply(const char *ruleset, struct err *e);

/* Deletes table; a missing table is success (same create-then-delete trick,
 * in one transaction). */
int nft_table_delete(const char *table, struct err *e);
