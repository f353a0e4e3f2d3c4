/* nocloud: the NoCloud documents (see nocloud.h). */
#include "model/nocloud.h"

#include "util/str.h"

/* Appends s as a YAML double-quoted scalar: backslash and quote escaped,
 * control characters as escapes, UTF-8 passed through. */
static void yaml_quote(struct sbuf *b, const char *s)
{
	sbuf_add(b, "\"");
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
		switch (*p) {
		case '\\': sbuf_add(b, "\\\\"); break;
		case '"': sbuf_add(b, "\\\""); break;
		case '\n': sbuf_add(b, "\\n"); break;
		case '\r': sbuf_add(b, "\\r"); break;
		case '\t': sbuf_add(b, "\\t"); break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				sbuf_addf(b, "\\x%02x", *p);
			else
				sbuf_addn(b, (const char *)p, 1);
		}
	}
	sbuf_add(b, "\"");
}

char *nocloud_meta_data_render(const struct nocloud *s)
{
	struct sbuf b = {0};
	sbuf_add(&b, "instance-id: ");
	yaml_quote(&b, s->instance_id);
	sbuf_add(&b, "\nlocal-hostname: ");
	yaml_quote(&b, s->hostname);
	if (s->ipv4 && s->gateway) {
		sbuf_add(&b, "\nnubo-ipv4: ");
		yaml_quote(&b, s->ipv4);
		sbuf_add(&b, "\nnubo-gateway: ");
		yaml_quote(&b, s->gateway);
	}
	if (s->mtu > 0)
		sbuf_addf(&b, "\nnubo-mtu: %d", s->mtu);
	if (s->n_keys == 0) {
		sbuf_add(&b, "\npublic-keys: []\n");
		return sbuf_take(&b);
	}
	sbuf_add(&b, "\npublic-keys:\n");
	for (int i = 0; i < s->n_keys; i++) {
		sbuf_add(&b, "  - ");
		yaml_quote(&b, s->ssh_keys[i]);
		sbuf_add(&b, "\n");
	}
	return sbuf_take(&b);
}

char *nocloud_network_config_render(const struct nocloud *s)
{
	if (s->n_macs < 1)
		return NULL;
	struct sbuf b = {0};
	sbuf_add(&b, "version: 2\nethernets:\n");
	for (int i = 0; i < s->n_macs; i++) {
		sbuf_addf(&b, "  nic%d:\n    match:\n      macaddress: ", i);
		yaml_quote(&b, s->macs[i]);
		sbuf_add(&b, "\n    dhcp4: true\n");
		if (s->mtu > 0)
			sbuf_addf(&b, "    mtu: %d\n", s->mtu);
	}
	return sbuf_take(&b);
}

