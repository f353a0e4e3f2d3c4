#!/usr/bin/env bash
# Prints nubod(8) in roff, made from `nubod --help` (its one help text), so
# the manual and the binary never disagree. Usage: man-nubod.sh NUBOD VERSION
set -euo pipefail
nubod=$1 version=$2
help=$("$nubod" --help)
esc() { sed -e 's/\\/\\e/g' -e 's/-/\\-/g' -e "s/^[.']/\\\\\\&&/"; }
cat <<EOT
.\\" Made by scripts/man-nubod.sh from \`nubod --help\`; do not edit.
.TH NUBOD 8 "" "nubo $version" "nubo"
.SH NAME
nubod \\- the nubo daemon: REST API, scheduler and reconcilers of VMs on this host
.SH SYNOPSIS
.B nubod
[\\fIOPTIONS\\fR]
.SH DESCRIPTION
EOT
# The paragraph between "Usage:" and "Options:".
sed -n '/^Usage:/,/^Options:/p' <<<"$help" | sed '1d;$d' | sed '/^$/d' | esc
echo ".SH OPTIONS"
# "  --flag ARG    text" starts an option; deeper-indented lines continue it.
sed -n '/^Options:/,$p' <<<"$help" | sed '1d' | awk '
	/^  --/ {
		# The option is "--flag" and its one argument (CAPITALS), or "--a, --b"; the rest is text.
		nw = split(substr($0, 3), w, / +/)
		opt = w[1]; i = 2
		while (i <= nw && opt ~ /,$/ && w[i] ~ /^--/) { opt = opt " " w[i]; i++ }
		if (i <= nw && opt !~ /,/ && w[i] ~ /^[A-Z][A-Z:_-]*$/) { opt = opt " " w[i]; i++ }
		text = ""
		for (; i <= nw; i++) text = text (text == "" ? "" : " ") w[i]
		print ".TP"
		print "\\fB" opt "\\fR"
		if (text != "") print text
		next
	}
	/^ +[^ ]/ { sub(/^ +/, ""); print; next }
' | sed -e '/^\.TP$/!{/^\\fB/!{s/\\/\\e/g}}' -e '/^\.TP$/!s/-/\\-/g'
cat <<'EOT'
.SH FILES
.TP
.I /etc/nubo/nubod.json
settings and extra machine types (keys that start with # are comments)
.TP
.I /var/lib/nubo
the state: the SQLite store, images, VMs' disks, volumes, snapshots, networks
.TP
.I /run/nubo/nubod.sock
the API's unix socket; members of the group nubo may use it
.SH SERVICE
The package runs nubod as the systemd service \fBnubod\fR (Type=notify; logs in
\fBjournalctl \-u nubod\fR). Stopping or restarting it leaves VMs running; the
next nubod adopts them.
.SH SEE ALSO
\fBnubo\fR(1), \fBsystemctl\fR(1), \fBjournalctl\fR(1); /usr/share/doc/nubo/install.md
EOT
