/* fuzz_nft: nft_ruleset_render on a ruleset made of fuzzed strings. The
 * renderer is fed nubo's own data only, but it guards against injection:
 * if any string that would appear in the text holds a character outside
 * [A-Za-z0-9_.:/-] or '*' (a quote, a brace, a space, a newline, a '#', ...),
 * it must refuse (NULL) rather than write it. A ruleset of nubo's usual
 * names and addresses must render, with balanced braces.
 *
 * Input: a flags byte, then up to 12 strings separated by NUL bytes, in
 * the order of fields[] below; a string not given keeps its usual value.
 * Flags: bit 0 nat, bit 1 metadata listener, bits 2-3 the rules' proto,
 * bit 4 the forward is udp, bits 5-6 the metadata port (usual, 0, -1, 65536). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "host/nft.h"

enum { TABLE, GLOB, BRIDGE, CIDR, GATEWAY, VM_ID, TAP, MAC, IP, FROM_CIDR, FROM_IP, FWD_IP, N_FIELDS };

static const char *const usual[N_FIELDS] = {
	"nubo_1a2b", "nb1a2b*", "nb1a2b3c4d", "10.77.3.0/24", "10.77.3.1", "vm-1a2b3c4d5e6f",
	"tp1a2b3c4d", "52:54:00:12:34:56", "10.77.3.10", "192.168.0.0/16", "10.77.3.11", "10.77.3.10",
};

/* The part of a string that reaches the text: a VM's id lends its chain
 * only what follows its first dash. */
static const char *shown(int field, const char *s)
{
	const char *dash = field == VM_ID ? strchr(s, '-') : NULL;
	return dash ? dash + 1 : s;
}

static bool safe(const char *s)
{
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:/*-") == strlen(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return -1;
	unsigned flags = data[0];
	char *piece[N_FIELDS] = {0};
	int n = size > 1 ? fuzz_split(data + 1, size - 1, piece, N_FIELDS) : 0;
	const char *f[N_FIELDS];
	for (int i = 0; i < N_FIELDS; i++)
		f[i] = i < n ? piece[i] : usual[i];

	static const int mports[4] = {8169, 0, -1, 65536};
	struct nft_network net = {
		.bridge = f[BRIDGE], .cidr = f[CIDR], .gateway = f[GATEWAY], .nat = flags & 1,
		.metadata_port = (flags & 2) ? mports[(flags >> 5) & 3] : 0,
	};
	struct nft_nic nic = {.net = 0, .tap = f[TAP], .mac = f[MAC], .ip = f[IP]};
	const char *from_ips[] = {f[FROM_IP], f[IP]};
	struct nft_set set = {.name = "fw_members", .ips = from_ips, .n_ips = 2};
	enum proto proto = (enum proto)((flags >> 2) & 3);
	struct nft_rule rules[] = {
		{.proto = proto, .port_lo = 22, .port_hi = 22, .from_cidr = f[FROM_CIDR], .from_set = -1},
		{.proto = proto, .port_lo = 8000, .port_hi = 8100, .from_set = 0},
	};
	struct nft_vm vm = {.id = f[VM_ID], .nics = &nic, .n_nics = 1, .rules = rules, .n_rules = 2};
	struct nft_forward fwd = {
		.proto = (flags & 16) ? PROTO_UDP : PROTO_TCP, .host_port = 8080, .guest_port = 80, .ip = f[FWD_IP],
	};
	struct nft_ruleset rs = {
		.table = f[TABLE], .bridge_glob = f[GLOB], .tap_glob = f[GLOB], .nets = &net, .n_nets = 1, .sets = &set, .n_sets = 1,
		.vms = &vm, .n_vms = 1,
		.forwards = &fwd, .n_forwards = 1,
	};

	char *text = nft_ruleset_render(&rs);
	int bad = -1;
	for (int i = 0; i < N_FIELDS && bad < 0; i++)
		if (!safe(shown(i, f[i])))
			bad = i;
	if (text) {
		FUZZ_ASSERT(bad < 0, "field %d \"%s\" holds a character that has no place in a ruleset, yet it rendered",
			    bad, f[bad]);
		FUZZ_ASSERT(net.metadata_port >= 0 && net.metadata_port <= 65535, "metadata port %d rendered",
			    net.metadata_port);
		int depth = 0;
		for (const char *p = text; *p; p++) {
			depth += (*p == '{') - (*p == '}');
			FUZZ_ASSERT(depth >= 0, "a '}' closes nothing at offset %td", p - text);
		}
		FUZZ_ASSERT(depth == 0, "%d braces left open", depth);
		/* every string that was given reaches the text (so the check above saw what was written) */
		for (int i = 0; i < N_FIELDS; i++)
			if (i != FROM_CIDR || strcmp(f[i], "0.0.0.0/0") != 0)
				FUZZ_ASSERT(strstr(text, shown(i, f[i])), "field %d \"%s\" is not in the ruleset", i, f[i]);
		free(text);
	} else {
		bool usual_input = n == 0 && net.metadata_port >= 0 && net.metadata_port <= 65535;
		FUZZ_ASSERT(!usual_input, "a ruleset of the usual names and addresses did not render");
	}
	for (int i = 0; i < n; i++)
		free(piece[i]);
	return 0;
}
