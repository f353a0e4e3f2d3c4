/*
 * ssh: keys and the ssh command line (see ssh.h).
 *
 * nubo's own key is made once, under an flock on the config directory, into
 * a temporary name that is then renamed: a crash or a concurrent `nubo vm
 * create` never leaves a private key without its .pub, nor two different
 * keys handed to two VMs.
 */
#include "cli/ssh.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "cli/format.h"
#include "util/fs.h"
#include "util/runner.h"
#include "util/str.h"

#define SSH_KEY_MAX (64 * 1024)

char *ssh_config_dir(void)
{
	const char *xdg = getenv("XDG_CONFIG_HOME");
	if (xdg && xdg[0] == '/')
		return xasprintf("%s/nubo", xdg);
	const char *home = getenv("HOME");
	if (!home || !*home) {
		struct passwd *pw = getpwuid(getuid());
		home = pw ? pw->pw_dir : "/";
	}
	return xasprintf("%s/.config/nubo", home);
}

char *ssh_own_key_path(void)
{
	autofree char *dir = ssh_config_dir();
	return xasprintf("%s/id_ed25519", dir);
}

/* Key types as OpenSSH names them: ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256,
 * sk-ssh-ed25519@openssh.com, sk-ecdsa-sha2-nistp256@openssh.com, and
 * certificates (ssh-ed25519-cert-v01@openssh.com). */
static bool key_type_known(const char *line)
{
	return str_starts_with(line, "ssh-") || str_starts_with(line, "ecdsa-") ||
	       str_starts_with(line, "sk-");
}

static int check_line(const char *line, struct err *e)
{
	if (str_starts_with(line, "-----BEGIN")) {
		if (strstr(line, "PRIVATE KEY"))
			return err_set(e, ERR_INVALID, "it is a private key; pass the public key (the .pub file)");
		return err_set(e, ERR_INVALID, "it is a PEM file, not an OpenSSH public key");
	}
	if (!key_type_known(line))
		return err_set(e, ERR_INVALID,
			       "not an OpenSSH public key (a line should start with ssh-, ecdsa- or sk-)");
	const char *sp = strchr(line, ' ');
	if (!sp || sp[1] == '\0' || sp[1] == ' ')
		return err_set(e, ERR_INVALID, "not an OpenSSH public key (the key data after the type is missing)");
	return 0;
}

int ssh_pubkey_check(const char *text, struct err *e)
{
	int n = 0;
	const char *p = text;
	while (*p) {
		size_t len = strcspn(p, "\n");
		autofree char *line = xstrndup(p, len);
		str_rstrip(line);
		const char *l = line;
		while (*l == ' ' || *l == '\t')
			l++;
		if (*l && *l != '#') {
			int rc = check_line(l, e);
			if (rc < 0)
				return rc;
			n++;
		}
		p += len;
		if (*p == '\n')
			p++;
	}
	if (n == 0)
		return err_set(e, ERR_INVALID, "the file holds no key");
	return n;
}

void ssh_keys_free(char **keys)
{
	for (size_t i = 0; keys && keys[i]; i++)
		free(keys[i]);
	free(keys);
}

static char **split_keys(const char *text)
{
	char **keys = xcalloc(1, sizeof(char *));
	size_t n = 0;
	const char *p = text;
	while (*p) {
		size_t len = strcspn(p, "\n");
		char *line = xstrndup(p, len);
		str_rstrip(line);
		char *l = line;
		while (*l == ' ' || *l == '\t')
			l++;
		if (*l && *l != '#') {
			keys = xrealloc(keys, (n + 2) * sizeof(char *));
			keys[n++] = xstrdup(l);
			keys[n] = NULL;
		}
		free(line);
		p += len;
		if (*p == '\n')
			p++;
	}
	return keys;
}

int ssh_pubkey_read(const char *path, char ***keys, char **abs_path, struct err *e)
{
	*keys = NULL;
	*abs_path = NULL;
	autofree char *text = NULL;
	size_t len = 0;
	struct err fe = {0};
	if (fs_read_file(path, SSH_KEY_MAX, &text, &len, &fe) < 0) {
		const char *reason = fe.kind == ERR_INVALID ? "larger than 64 KiB, not a public key"
							    : fmt_read_reason(&fe, path);
		return err_set(e, ERR_INVALID, "cannot read SSH key %s: %s", path, reason);
	}
	if (strlen(text) != len)
		return err_set(e, ERR_INVALID, "cannot read SSH key %s: not a text file", path);
	struct err ke = {0};
	if (ssh_pubkey_check(text, &ke) < 0)
		return err_set(e, ERR_INVALID, "cannot read SSH key %s: %s", path, ke.msg);
	char *abs = realpath(path, NULL);
	if (!abs)
		return err_set(e, ERR_INVALID, "cannot read SSH key %s: %s", path, strerror(errno));
	*abs_path = abs;
	*keys = split_keys(text);
	return 0;
}

/* Runs ssh-keygen into a temporary name beside key and renames both files
 * into place, the .pub last: whoever sees the .pub sees a complete pair. */
static int keygen(const char *key, struct err *e)
{
	autofree char *tmp = xasprintf("%s.new.%d", key, (int)getpid());
	autofree char *tmp_pub = xasprintf("%s.pub", tmp);
	autofree char *pub = xasprintf("%s.pub", key);
	unlink(tmp);
	unlink(tmp_pub);
	const char *argv[] = {"ssh-keygen", "-t", "ed25519", "-N", "", "-q", "-C", "nubo", "-f", tmp, NULL};
	struct run_opts o = {.timeout_ms = 30000};
	int rc = runner_run(argv, &o, NULL, e);
	if (rc < 0) {
		err_prefix(e, "cannot make nubo's SSH key %s (is openssh-client installed?)", key);
		goto out;
	}
	if (runner_dry_run())
		goto out;
	if (rename(tmp, key) < 0 || rename(tmp_pub, pub) < 0) {
		rc = err_set(e, ERR_INTERNAL, "cannot make nubo's SSH key %s: %s", key, strerror(errno));
		goto out;
	}
out:
	unlink(tmp);
	unlink(tmp_pub);
	return rc;
}

int ssh_own_key_ensure(char **pub_path, struct err *e)
{
	*pub_path = NULL;
	autofree char *dir = ssh_config_dir();
	autofree char *key = xasprintf("%s/id_ed25519", dir);
	autofree char *pub = xasprintf("%s.pub", key);
	if (fs_exists(pub) && fs_exists(key)) {
		*pub_path = xstrdup(pub);
		return 0;
	}
	int rc = fs_mkdir_p(dir, 0700, e);
	if (rc < 0)
		return rc;
	autofree char *lock_path = xasprintf("%s/.keygen.lock", dir);
	int fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return err_set(e, ERR_INTERNAL, "cannot make nubo's SSH key in %s: %s", dir, strerror(errno));
	if (flock(fd, LOCK_EX) < 0) {
		rc = err_set(e, ERR_INTERNAL, "cannot lock %s: %s", lock_path, strerror(errno));
		goto out;
	}
	if (fs_exists(pub) && fs_exists(key))
		goto done; /* another nubo made it while we waited */
	if (fs_exists(key) && !fs_exists(pub)) {
		rc = err_set(e, ERR_INTERNAL,
			     "nubo's SSH key %s exists without %s; recreate it with: ssh-keygen -y -f %s > %s",
			     key, pub, key, pub);
		goto out;
	}
	rc = keygen(key, e);
	if (rc < 0)
		goto out;
done:
	*pub_path = xstrdup(pub);
out:
	close(fd);
	return rc;
}

char *ssh_choose_identity(const char *explicit_key, const char *ssh_key_file, const char *own_key)
{
	if (explicit_key && *explicit_key)
		return xstrdup(explicit_key);
	if (ssh_key_file && str_ends_with(ssh_key_file, ".pub") && strlen(ssh_key_file) > 4) {
		char *priv = xstrndup(ssh_key_file, strlen(ssh_key_file) - 4);
		if (fs_exists(priv))
			return priv;
		free(priv);
	}
	if (own_key && fs_exists(own_key))
		return xstrdup(own_key);
	return NULL;
}

/* Whether the host field (up to the first blank) of line lists alias. */
static bool line_names(const char *line, size_t len, const char *alias)
{
	size_t field = strcspn(line, " \t");
	if (field > len)
		field = len;
	size_t n = strlen(alias);
	for (size_t i = 0; i < field;) {
		size_t part = strcspn(line + i, ",");
		if (i + part > field)
			part = field - i;
		if (part == n && memcmp(line + i, alias, n) == 0)
			return true;
		i += part + 1;
	}
	return false;
}

char *ssh_known_hosts_without(const char *text, const char *alias)
{
	struct sbuf b = {0};
	sbuf_add(&b, "");
	for (const char *p = text ? text : ""; *p;) {
		size_t len = strcspn(p, "\n");
		size_t with_nl = len + (p[len] == '\n');
		if (!alias || !*alias || !line_names(p, len, alias))
			sbuf_addn(&b, p, with_nl);
		p += with_nl;
	}
	return sbuf_take(&b);
}

int ssh_known_hosts_forget(const char *path, const char *alias, struct err *e)
{
	char *text = NULL;
	size_t len = 0;
	if (!fs_exists(path))
		return 0;
	if (fs_read_file(path, 16 << 20, &text, &len, e) < 0)
		return -1;
	autofree char *kept = ssh_known_hosts_without(text, alias);
	int rc = 0;
	if (strlen(kept) != len)
		rc = fs_write_atomic(path, kept, strlen(kept), 0600, e);
	free(text);
	return rc;
}

char **ssh_argv(const struct ssh_target *t, char *const cmd[], size_t ncmd)
{
	char **argv = xcalloc(20 + ncmd, sizeof(char *));
	size_t n = 0;
	argv[n++] = xstrdup("ssh");
	if (t->identity) {
		argv[n++] = xstrdup("-i");
		argv[n++] = xstrdup(t->identity);
	}
	argv[n++] = xstrdup("-o");
	argv[n++] = xstrdup("StrictHostKeyChecking=accept-new");
	argv[n++] = xstrdup("-o");
	argv[n++] = xasprintf("UserKnownHostsFile=%s", t->known_hosts);
	argv[n++] = xstrdup("-o");
	argv[n++] = xasprintf("HostKeyAlias=%s", t->host_alias);
	/* Findable by id when the VM is deleted (ssh_known_hosts_forget),
	 * whatever the user's own ssh_config says. */
	argv[n++] = xstrdup("-o");
	argv[n++] = xstrdup("HashKnownHosts=no");
	argv[n++] = xstrdup("-o");
	argv[n++] = xstrdup("LogLevel=ERROR");
	argv[n++] = xstrdup("-o");
	argv[n++] = xstrdup("ConnectTimeout=10");
	argv[n++] = xasprintf("%s@%s", t->user, t->ip);
	for (size_t i = 0; i < ncmd; i++)
		argv[n++] = xstrdup(cmd[i]);
	argv[n] = NULL;
	return argv;
}

void ssh_argv_free(char **argv)
{
	for (size_t i = 0; argv && argv[i]; i++)
		free(argv[i]);
	free(argv);
}
