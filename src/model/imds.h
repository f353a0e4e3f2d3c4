/*
 * imds: what the metadata service at 169.254.169.254 answers, EC2-compatible
 * (IMDSv1 and IMDSv2). Pure: a request, the asking VM's data and the time go
 * in; a status, a content type and a body come out. The listener (host/
 * metadata.c) does the I/O and the glue (ctl/metadata.c) finds the VM.
 *
 * The one idea of IMDSv2: a VM gets a session token with
 *   PUT /latest/api/token   X-aws-ec2-metadata-token-ttl-seconds: 1..21600
 * and sends it back in X-aws-ec2-metadata-token. Tokens are random (the
 * caller supplies the random bytes), bound to the VM that asked and expire.
 * Once a VM has asked for a token, every request of it without a valid one
 * gets 401: a VM that speaks IMDSv2 cannot be tricked into IMDSv1 requests
 * (an SSRF that can only make simple GETs learns nothing).
 *
 *   /latest/meta-data/            listing of the keys below
 *   /latest/meta-data/instance-id, local-ipv4, hostname, local-hostname,
 *                     mac, instance-type
 *   /latest/meta-data/public-keys/               "0=<name>" per key
 *   /latest/meta-data/public-keys/N/             "openssh-key"
 *   /latest/meta-data/public-keys/N/openssh-key  the key
 *   /latest/user-data                            404 when the VM has none
 * "latest" may also be a dated version (2009-04-04, …): all answer alike.
 *
 * NoCloud for images without a seed disk (docs/metadata.md): the VM's SMBIOS
 * serial says "ds=nocloud-net;s=http://169.254.169.254/nocloud/KEY/", which
 * cloud-init's ds-identify accepts as the platform's identity, and its
 * NoCloud data source then reads
 *   /nocloud/KEY/meta-data, user-data, vendor-data, network-config
 * (model/nocloud.h renders them, as on a seed disk). cloud-init sends no
 * IMDSv2 token there, so those answers cannot be guarded by one; KEY is the
 * guard instead: 32 hex digits only nubod can compute for the VM (a keyed
 * hash of its id), found in the guest only in the DMI serial, which only its
 * root can read. A request through an SSRF, which could read the EC2 tree's
 * IMDSv1 answers, cannot guess it. A wrong or missing KEY is 404, as for any
 * path that does not exist.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/ids.h"

#define IMDS_TOKEN_TTL_MAX 21600   /* seconds: six hours, as EC2 */
#define IMDS_TOKEN_RANDOM 32       /* random bytes per token; the token is their hex */
#define IMDS_TOKENS_PER_VM 32      /* live tokens kept per VM; the oldest goes first */
#define IMDS_NOCLOUD_KEY_LEN 32    /* hex digits of a VM's NoCloud key */

enum imds_kind {
	IMDS_UNKNOWN,          /* no such path: 404 */
	IMDS_ROOT,             /* "/": the versions */
	IMDS_VERSION,          /* "/latest/" */
	IMDS_TOKEN,            /* "/latest/api/token" */
	IMDS_META_DATA,        /* "/latest/meta-data/" */
	IMDS_INSTANCE_ID,
	IMDS_LOCAL_IPV4,
	IMDS_HOSTNAME,
	IMDS_LOCAL_HOSTNAME,
	IMDS_MAC,
	IMDS_INSTANCE_TYPE,
	IMDS_PUBLIC_KEYS,      /* "/latest/meta-data/public-keys/" */
	IMDS_PUBLIC_KEY,       /* "…/public-keys/N/": key_index */
	IMDS_OPENSSH_KEY,      /* "…/public-keys/N/openssh-key": key_index */
	IMDS_USER_DATA,        /* "/latest/user-data" */
	IMDS_NOCLOUD,          /* "/nocloud/KEY/": the listing; the rest are its files */
	IMDS_NOCLOUD_META_DATA,
	IMDS_NOCLOUD_USER_DATA,
	IMDS_NOCLOUD_VENDOR_DATA,
	IMDS_NOCLOUD_NETWORK_CONFIG,
};

struct imds_path {
	enum imds_kind kind;
	int key_index;         /* IMDS_PUBLIC_KEY, IMDS_OPENSSH_KEY */
	const char *nocloud_key;   /* IMDS_NOCLOUD*: KEY, borrowed from the path (not terminated) */
	size_t nocloud_key_len;
};

/* Parses a request path (already URL-decoded, without the query). Pure and
 * total: any input of any length gives a kind, IMDS_UNKNOWN for anything it
 * does not know (so it is safe to fuzz). Directories answer with or without
 * their trailing slash; leaves only without. */
struct imds_path imds_path_parse(const char *path, size_t len);

/* What the metadata service knows of one VM; borrowed strings. */
struct imds_vm {
	const char *instance_id;   /* "vm-3f9a1c0b2d4e" */
	const char *hostname;      /* the VM's name */
	const char *local_ipv4;
	const char *mac;
	const char *instance_type;
	const char *ssh_keys;      /* newline-separated OpenSSH public keys, or NULL */
	const char *user_data;     /* NULL: none */
	/* NoCloud: the VM's KEY (IMDS_NOCLOUD_KEY_LEN hex digits), or NULL:
	 * then every /nocloud/ path is 404. */
	const char *nocloud_key;
	const char *const *macs;   /* every NIC's MAC, the primary first (network-config) */
	int n_macs;
};

struct imds_request {
	const char *method;        /* "GET", "HEAD", "PUT", … */
	const char *path;
	size_t path_len;
	const char *token;         /* X-aws-ec2-metadata-token, or NULL */
	const char *ttl;           /* X-aws-ec2-metadata-token-ttl-seconds, or NULL */
	bool forwarded;            /* an X-Forwarded-For header came with it */
};

struct imds_response {
	int status;
	const char *content_type;  /* static */
	char *body;                /* caller frees with imds_response_free */
	size_t body_len;
	const char *allow;         /* 405: the methods the path takes (static), else NULL */
	int token_ttl;             /* a new token: its TTL in seconds (for the response header), else 0 */
};

struct imds_token {
	char vm_id[ID_MAX];
	char value[2 * IMDS_TOKEN_RANDOM + 1];
	int64_t expires_ms;
	int64_t issued_ms;
};

/* The tokens handed out and the VMs that asked for one. Not locked: the
 * caller serialises calls on one table. Zero-initialised is empty. */
struct imds_tokens {
	struct imds_token *tokens;
	int n_tokens, cap_tokens;
	char (*v2_vms)[ID_MAX];    /* VMs that asked for a token: IMDSv2 only from then on */
	int n_v2, cap_v2;
};

void imds_tokens_free(struct imds_tokens *t);

/* Answers req for vm at now_ms. random holds IMDS_TOKEN_RANDOM fresh random
 * bytes, used only when a token is issued. t is read, and changed when a
 * token is issued or expired ones are pruned. Never fails: every outcome is
 * a status (200, 400, 401, 403, 404, 405). */
void imds_respond(struct imds_tokens *t, const struct imds_request *req, const struct imds_vm *vm, int64_t now_ms,
		  const unsigned char random[IMDS_TOKEN_RANDOM], struct imds_response *out);

void imds_response_free(struct imds_response *r);
