/*
 * metadata: the glue of the metadata service. host/metadata.c listens (one
 * listener per network, started with the network's host side) and names the
 * asker by network, source address and MAC; this file finds the VM those
 * three belong to in the store and lets model/imds answer with that VM's
 * data alone. A request that matches no VM gets 403 and nothing else.
 *
 * IMDSv2 tokens live in memory, in one table for all networks: a nubod
 * restart forgets them, and guests ask again after their 401 (as EC2 clients
 * do when a token expires).
 *
 * A VM without a seed disk also gets its NoCloud documents here, under a
 * per-VM KEY that its SMBIOS serial names (model/imds.h says why a KEY).
 */
#include "ctl/ctl-priv.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "host/metadata.h"
#include "model/imds.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/secret.h"
#include "util/str.h"
#include "util/timeutil.h"

struct ctl_metadata {
	pthread_mutex_t mu;              /* tokens, the host key and the listener list */
	struct imds_tokens tokens;
	char host_key[SECRET_LEN + 1];   /* "": not loaded yet */
	struct metadata_listener **listeners;
	int n_listeners;
};

void metadata_init(struct ctl *c)
{
	c->md = xcalloc(1, sizeof(*c->md));
	pthread_mutex_init(&c->md->mu, NULL);
}

int metadata_find_vm(struct ctl *c, const char *network_id, const char *ip, const char *mac, struct vm *out,
		     int *nic, struct err *e)
{
	struct err fe = {0};
	if (store_vm_by_nic(c->st, network_id, ip, out, &fe) < 0) {
		if (fe.kind != ERR_NOT_FOUND)
			return err_set(e, fe.kind, "%s", fe.msg);
		return err_set(e, ERR_NOT_FOUND, "no VM on network %s has address %s and MAC %s", network_id, ip, mac);
	}
	for (int k = 0; k < out->n_nics; k++) {
		const struct vm_nic *m = &out->nics[k];
		if (out->power != POWER_DELETED && strcmp(m->network_id, network_id) == 0 && strcmp(m->ip, ip) == 0 &&
		    strcasecmp(m->mac, mac) == 0) {
			*nic = k;
			return 0;
		}
	}
	vm_free_fields(out);
	return err_set(e, ERR_NOT_FOUND, "no VM on network %s has address %s and MAC %s", network_id, ip, mac);
}

/* Under md->mu: the host key, read from its file or made and saved. */
static int host_key_load(struct ctl *c, struct err *e)
{
	struct ctl_metadata *md = c->md;
	if (md->host_key[0])
		return 0;
	autofree char *path = xasprintf("%s/metadata.key", c->state_dir);
	char *text = NULL;
	size_t len = 0;
	struct err re = {0};
	if (fs_read_file(path, SECRET_LEN + 2, &text, &len, &re) == 0) {
		text[strcspn(text, "\n")] = '\0';
		bool ok = secret_well_formed(text);
		if (ok)
			snprintf(md->host_key, sizeof(md->host_key), "%s", text);
		free(text);
		if (!ok)
			return err_set(e, ERR_INTERNAL, "%s is not a metadata key (\"nubo_\" and 64 hex digits); "
				       "remove it and nubod makes a new one (VMs without a seed then need a restart)",
				       path);
		return 0;
	}
	if (fs_exists(path))
		return err_set(e, re.kind, "%s", re.msg);
	char key[SECRET_LEN + 1];
	secret_new(key);
	char line[SECRET_LEN + 2];
	snprintf(line, sizeof(line), "%s\n", key);
	if (fs_write_atomic(path, line, strlen(line), 0600, e) < 0) {
		err_prefix(e, "cannot save the metadata key");
		return -1;
	}
	snprintf(md->host_key, sizeof(md->host_key), "%s", key);
	return 0;
}

int metadata_nocloud_key(struct ctl *c, const char *vm_id, char *out, struct err *e)
{
	pthread_mutex_lock(&c->md->mu);
	int rc = host_key_load(c, e);
	char mac[SECRET_HASH_LEN + 1];
	if (rc == 0)
		secret_keyed_hash(c->md->host_key, vm_id, mac);
	pthread_mutex_unlock(&c->md->mu);
	if (rc == 0) {
		memcpy(out, mac, IMDS_NOCLOUD_KEY_LEN);   /* 128 bits of the HMAC are plenty for a URL */
		out[IMDS_NOCLOUD_KEY_LEN] = '\0';
	}
	return rc;
}

int metadata_nocloud_serial(struct ctl *c, const char *vm_id, char **out, struct err *e)
{
	char key[IMDS_NOCLOUD_KEY_LEN + 1];
	if (metadata_nocloud_key(c, vm_id, key, e) < 0)
		return -1;
	*out = xasprintf("ds=nocloud-net;s=http://169.254.169.254/nocloud/%s/", key);
	return 0;
}

static void reply_text(struct metadata_reply *out, int status, const char *text)
{
	out->status = status;
	out->content_type = "text/plain";
	out->body = xstrdup(text);
	out->body_len = strlen(text);
}

static void handle(void *ctx, const struct metadata_request *req, struct metadata_reply *out)
{
	struct ctl *c = ctx;
	struct vm vm;
	int nic = 0;
	struct err e = {0};
	if (metadata_find_vm(c, req->network, req->ip, req->mac, &vm, &nic, &e) < 0) {
		if (e.kind == ERR_NOT_FOUND) {
			log_info("metadata %s: %s", req->network, e.msg);
			reply_text(out, 403, "403 Forbidden: this address and MAC belong to no VM\n");
		} else {
			log_error("metadata %s: %s", req->network, e.msg);
			reply_text(out, 500, "500 Internal Server Error\n");
		}
		return;
	}
	unsigned char rnd[IMDS_TOKEN_RANDOM];
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		vm_free_fields(&vm);
		reply_text(out, 500, "500 Internal Server Error: no random bytes\n");
		return;
	}
	/* The NoCloud tree is for VMs without a seed: with one, the seed
	 * disk is the source and /nocloud/ stays empty. */
	char key[IMDS_NOCLOUD_KEY_LEN + 1] = "";
	if (vm.no_seed && metadata_nocloud_key(c, vm.id, key, &e) < 0)
		log_error("metadata %s: %s", req->network, e.msg);
	const char *macs[VM_NICS_MAX];
	for (int k = 0; k < vm.n_nics; k++)
		macs[k] = vm.nics[k].mac;
	const struct imds_vm iv = {
		.instance_id = vm.id,
		.hostname = vm.name,
		.local_ipv4 = vm.nics[nic].ip,
		.mac = vm.nics[nic].mac,
		.instance_type = vm.type,
		.ssh_keys = vm.ssh_keys,
		.user_data = vm.user_data && *vm.user_data ? vm.user_data : NULL,
		.nocloud_key = key[0] ? key : NULL,
		.macs = macs,
		.n_macs = vm.n_nics,
	};
	const struct imds_request ir = {.method = req->method, .path = req->path, .path_len = req->path_len,
					.token = req->token, .ttl = req->ttl, .forwarded = req->forwarded};
	struct imds_response r;
	pthread_mutex_lock(&c->md->mu);
	imds_respond(&c->md->tokens, &ir, &iv, time_mono_ms(), rnd, &r);
	pthread_mutex_unlock(&c->md->mu);
	*out = (struct metadata_reply){.status = r.status, .content_type = r.content_type, .body = r.body,
				       .body_len = r.body_len, .allow = r.allow, .token_ttl = r.token_ttl};
	vm_free_fields(&vm);
}

int metadata_ensure(struct ctl *c, const struct network *net, const char *gateway, struct err *e)
{
	struct ctl_metadata *md = c->md;
	struct metadata_listener *l = NULL;
	int rc = 0;
	pthread_mutex_lock(&md->mu);
	for (int i = 0; i < md->n_listeners; i++)
		if (strcmp(metadata_listener_network(md->listeners[i]), net->id) == 0)
			goto out;   /* already listening */
	rc = c->host->metadata_listen(net->id, net->bridge, gateway, c->cfg.metadata_port, handle, c, &l, e);
	if (rc == 0) {
		md->listeners = xrealloc(md->listeners, sizeof(*md->listeners) * (size_t)(md->n_listeners + 1));
		md->listeners[md->n_listeners++] = l;
	}
out:
	pthread_mutex_unlock(&md->mu);
	return rc;
}

void metadata_stop_network(struct ctl *c, const char *net_id)
{
	struct ctl_metadata *md = c->md;
	struct metadata_listener *l = NULL;
	pthread_mutex_lock(&md->mu);
	for (int i = 0; i < md->n_listeners && !l; i++)
		if (strcmp(metadata_listener_network(md->listeners[i]), net_id) == 0) {
			l = md->listeners[i];
			md->listeners[i] = md->listeners[--md->n_listeners];
		}
	pthread_mutex_unlock(&md->mu);
	if (l)
		metadata_stop(l);   /* outside the lock, as below */
}

void metadata_stop_all(struct ctl *c)
{
	struct ctl_metadata *md = c->md;
	if (!md)
		return;
	pthread_mutex_lock(&md->mu);
	struct metadata_listener **ls = md->listeners;
	int n = md->n_listeners;
	md->listeners = NULL;
	md->n_listeners = 0;
	pthread_mutex_unlock(&md->mu);
	/* Outside the lock: stopping waits for requests in flight, which take it. */
	for (int i = 0; i < n; i++)
		metadata_stop(ls[i]);
	free(ls);
}

void metadata_free(struct ctl *c)
{
	if (!c->md)
		return;
	metadata_stop_all(c);
	imds_tokens_free(&c->md->tokens);
	pthread_mutex_destroy(&c->md->mu);
	free(c->md);
	c->md = NULL;
}

/* After a restart nubod adopts running VMs without starting them, so their
 * networks' host side (and listener) is ensured here. */
void metadata_resume(struct ctl *c)
{
	struct vm *vms = NULL;
	int n = 0;
	struct err e = {0};
	if (store_vm_list_on(c->st, c->host_name, &vms, &n, &e) < 0) {
		log_error("metadata: %s", e.msg);
		return;
	}
	for (int i = 0; i < n; i++)
		/* pid > 0: a QEMU with a process (the recording host's have none) */
		for (int k = 0; k < vms[i].n_nics && vms[i].pid > 0 && vms[i].power != POWER_DELETED; k++)
			if (network_ensure_host(c, vms[i].nics[k].network_id, &e) < 0)
				log_error("metadata: network %s: %s", vms[i].nics[k].network, e.msg);
	vm_list_free(vms, n);
}
