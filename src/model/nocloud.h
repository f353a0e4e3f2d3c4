/*
 * nocloud: the NoCloud documents that configure a guest: meta-data (YAML:
 * instance id, hostname, SSH keys), user-data (passed through as the user
 * gave it) and network-config. Pure. Two carriers deliver the same text:
 * the "cidata" seed disk (host/seed.h) and, for VMs without one, the
 * metadata service's /nocloud/ tree (model/imds.h), which the VM's SMBIOS
 * serial points cloud-init at.
 *
 * Every string nubo writes into these documents is a YAML double-quoted
 * scalar, so a key comment or hostname can never break the document or
 * inject keys.
 */
#pragma once

struct nocloud {
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
	/* The NICs' MTU, 0: the default. In a cluster a network's segment
	 * between hosts takes 50 bytes of each frame (host/overlay.h). */
	int mtu;
};

/* What user-data is when the user gave none. */
#define NOCLOUD_EMPTY_USER_DATA "#cloud-config\n"

/* The meta-data text. Caller frees. Example:
 *   instance-id: "vm-3f9a1c0b2d4e"
 *   local-hostname: "web1"
 *   nubo-ipv4: "10.77.3.2/24"        (when ipv4 and gateway are given)
 *   nubo-gateway: "10.77.3.1"
 *   public-keys:
 *     - "ssh-ed25519 AAAA... alice@laptop"
 * (no keys: "public-keys: []"). */
char *nocloud_meta_data_render(const struct nocloud *s);

/* The network-config text (version 2): DHCP on each NIC, matched by MAC;
 * NULL for a VM without NICs. Caller frees. The DHCP server gives the
 * default route on the primary NIC only. */
char *nocloud_network_config_render(const struct nocloud *s);
