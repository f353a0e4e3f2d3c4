/*
 * ssh: SSH keys for new VMs and the ssh command line of `nubo vm ssh`.
 *
 * nubo keeps its own key pair and known_hosts under $XDG_CONFIG_HOME/nubo
 * (default ~/.config/nubo), so that `nubo vm create` works for people who
 * have no key yet. Host keys are remembered by VM id (HostKeyAlias), not by
 * IP: a deleted VM's IP goes to the next VM, whose host key differs.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

/* $XDG_CONFIG_HOME/nubo, or $HOME/.config/nubo. Caller frees. */
char *ssh_config_dir(void);

/* Checks that text holds OpenSSH public keys, one per line ("ssh-ed25519 AAAA...
 * comment"; blank lines and # comments allowed). Returns the number of keys
 * (>= 1), or ERR_INVALID with the reason ("it is a private key; pass the
 * .pub file"). */
int ssh_pubkey_check(const char *text, struct err *e);

/* Reads the public key file at path: *keys (NULL-terminated array of lines,
 * caller frees with ssh_keys_free()) and *abs_path (absolute, caller frees).
 * On failure e reads "cannot read SSH key PATH: <reason>". */
int ssh_pubkey_read(const char *path, char ***keys, char **abs_path, struct err *e);
void ssh_keys_free(char **keys);

/* Path of nubo's own private key (config dir + "/id_ed25519"). Caller frees. */
char *ssh_own_key_path(void);
/* Makes nubo's own key pair with ssh-keygen unless it exists; returns the
 * public key's path in *pub_path (caller frees). Safe against two nubo
 * processes doing it at once. */
int ssh_own_key_ensure(char **pub_path, struct err *e);

/* Which private key `nubo vm ssh` uses: explicit (-i) if given; else
 * ssh_key_file without ".pub" when that file exists; else own_key when it
 * exists; else NULL (let ssh pick). Returns a string the caller frees. */
char *ssh_choose_identity(const char *explicit_key, const char *ssh_key_file, const char *own_key);

/* known_hosts text without the entries of host alias (a VM id): lines whose
 * host field, a comma-separated list, names it; every other line as it was.
 * Pure; caller frees. nubo's ssh writes entries unhashed (HashKnownHosts=no)
 * so that they can be found by id. */
char *ssh_known_hosts_without(const char *text, const char *alias);
/* Removes alias's entries from the known_hosts file at path (atomically; a
 * missing file is success): a deleted VM leaves no host key behind. */
int ssh_known_hosts_forget(const char *path, const char *alias, struct err *e);

struct ssh_target {
	const char *identity;    /* private key or NULL */
	const char *known_hosts; /* nubo's known_hosts file */
	const char *host_alias;  /* the VM id */
	const char *user;
	const char *ip;
};

/* The argv of ssh for target followed by cmd[0..ncmd). NULL-terminated;
 * free with ssh_argv_free(). */
char **ssh_argv(const struct ssh_target *t, char *const cmd[], size_t ncmd);
void ssh_argv_free(char **argv);
