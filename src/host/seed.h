/*
 * seed: the NoCloud "cidata" seed that configures a guest on first boot.
 *
 * cloud-init (and the tiny image's init) look for a disk labelled "cidata"
 * holding two files: meta-data (YAML: instance id, hostname, SSH keys) and
 * user-data (passed through as the user gave it). Every string nubo writes
 * into meta-data is a YAML double-quoted scalar, so a key comment or hostname
 * can never break the document or inject keys.
 */
#pragma once

#include "util/err.h"

struct seed {
	const char *instance_id, *hostname;
	const char *const *ssh_keys;
	int n_keys;
	const char *user_data;   /* NULL: "#cloud-config\n" (nothing to do) */
	const char *const *macs; /* the NICs' MACs, the primary first */
	int n_macs;
	/* The primary NIC's address ("10.77.3.2/24") and gateway, or NULL: for
	 * guests that configure it at once instead of asking DHCP (tiny does;
	 * cloud-init ignores the keys and uses DHCP). */
	const char *ipv4, *gateway;
};

/* The meta-data text. Pure; caller frees. Example:
 *   instance-id: "vm-3f9a1c0b2d4e"
 *   local-hostname: "web1"
 *   nubo-ipv4: "10.77.3.2/24"        (when ipv4 and gateway are given)
 *   nubo-gateway: "10.77.3.1"
 *   public-keys:
 *     - "ssh-ed25519 AAAA... alice@laptop"
 * (no keys: "public-keys: []"). */
char *seed_meta_data_render(const struct seed *s);

/* The network-config text (version 2) for a VM with several NICs: DHCP on
 * each, matched by MAC; NULL for one NIC or none (cloud-init's fallback,
 * DHCP on the first NIC, is then right). Pure; caller frees. The DHCP
 * server gives the default route on the primary NIC only. */
char *seed_network_config_render(const struct seed *s);

/* Writes meta-data and user-data (and network-config, if any) into work_dir (created if missing) and runs
 * genisoimage -output ISO.tmp -volid cidata -joliet -rock ..., then renames
 * ISO.tmp to iso_path, so iso_path is either the old or the complete new
 * seed. In dry-run the files are written and the command is captured. */
int seed_iso_build(const struct seed *s, const char *work_dir, const char *iso_path, struct err *e);
