#!/usr/bin/env bash
# The Debian package, installed into a fresh Debian 12 root (a chroot):
#   - `apt-get install ./nubo_*.deb` pulls its dependencies from Debian;
#   - the files are where they belong, /etc/nubo/nubod.json is a conffile
#     and a local change to it survives reinstalling the package;
#   - the system group nubo and user nubo-qemu exist;
#   - `nubod --version` runs, and `systemd-analyze verify` accepts the unit;
#   - the unit's ExecStart line, run as systemd would (in a network
#     namespace of its own, with NOTIFY_SOCKET and JOURNAL_STREAM), says
#     READY=1 and answers `nubo version`.
#
# The root comes from the cached base of the debian-12 image recipe when
# there is one (/var/cache/nubo/debian-12/base-*.tar.zst), else from
# debootstrap --variant=minbase. The host's apt cache is hard-linked in, so
# packages already fetched once are not fetched again.
# NUBO_TEST_DEB=FILE installs that package instead of building one.
set -u
. "$(dirname "$0")/../lib.sh"
T_DESTROY_FLAGS=--dry-run   # no nubod of lib.sh runs here; t_cleanup's --destroy has nothing to do

ROOT=$T_DIR/root
pkg_cleanup() {
	# Every process whose root is the chroot was started by this test (nubod, dnsmasq).
	local p
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/root" 2>/dev/null)" = "$ROOT" ] && kill -9 "${p#/proc/}" 2>/dev/null
	done
	for m in "$ROOT/var/cache/apt/archives" "$ROOT/dev" "$ROOT/proc"; do
		mountpoint -q "$m" && umount -l "$m"
	done
	t_cleanup
}
trap pkg_cleanup EXIT

if [ "$(id -u)" -ne 0 ]; then
	echo "1..0 # skip: installing into a chroot needs root"
	exit 0
fi

# The package.
if [ -n "${NUBO_TEST_DEB:-}" ]; then
	DEB=$NUBO_TEST_DEB
else
	"$(dirname "$0")/../../scripts/deb.sh" "$T_DIR/build" >"$T_DIR/deb.log" 2>&1
	ok $? "make deb builds the package" "$(tail -20 "$T_DIR/deb.log")"
	DEB=$(ls "$T_DIR"/build/deb/nubo_*.deb 2>/dev/null | head -1)
fi
[ -f "$DEB" ] || { ok 1 "a package to install" "no .deb"; echo "1..$T_N"; exit 1; }
VERSION=$(dpkg-deb -f "$DEB" Version)

# A fresh root.
mkdir -p "$ROOT"
base=$(ls /var/cache/nubo/debian-12/base-*.tar.zst 2>/dev/null | head -1)
if [ -n "$base" ]; then
	tar --zstd -xf "$base" -C "$ROOT"
else
	debootstrap --variant=minbase bookworm "$ROOT" http://deb.debian.org/debian >"$T_DIR/debootstrap.log" 2>&1
fi
ok $? "a fresh Debian 12 root${base:+ (the cached image base)}"
[ -s "$ROOT/etc/apt/sources.list" ] || echo "deb http://deb.debian.org/debian bookworm main" >"$ROOT/etc/apt/sources.list"
rm -f "$ROOT/etc/resolv.conf"; cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
# No /sys: nubod would find the host's cgroups there and make its VM groups in them.
mount -t proc proc "$ROOT/proc" && mount --bind /dev "$ROOT/dev"
ok $? "/proc and /dev mounted in the root"
mkdir -p "$T_DIR/archives/partial"
cp -l /var/cache/apt/archives/*.deb "$T_DIR/archives/" 2>/dev/null
mount --bind "$T_DIR/archives" "$ROOT/var/cache/apt/archives"
in_root() { chroot "$ROOT" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"; }

cp "$DEB" "$ROOT/tmp/"
in_root apt-get update -qq >"$T_DIR/apt.log" 2>&1 &&
	DEBIAN_FRONTEND=noninteractive in_root env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends "/tmp/${DEB##*/}" man-db >>"$T_DIR/apt.log" 2>&1
ok $? "apt-get install ./${DEB##*/} pulls its dependencies from Debian" "$(tail -15 "$T_DIR/apt.log")"
is "$(in_root dpkg-query -W -f='${Status}' nubo 2>&1)" "install ok installed" "dpkg says nubo is installed"
for dep in qemu-system-x86 qemu-utils dnsmasq-base nftables iproute2; do
	is "$(in_root dpkg-query -W -f='${Status}' "$dep" 2>&1)" "install ok installed" "its dependency $dep is installed"
done

# Files.
for f in /usr/bin/nubo /usr/sbin/nubod /lib/systemd/system/nubod.service /etc/nubo/nubod.json \
	/usr/share/nubo/images/tiny/build.sh /usr/share/nubo/images/debian-12/build.sh \
	/usr/share/bash-completion/completions/nubo /usr/share/zsh/vendor-completions/_nubo \
	/usr/share/man/man1/nubo.1.gz /usr/share/man/man8/nubod.8.gz /usr/share/doc/nubo/install.md; do
	[ -e "$ROOT$f" ]
	ok $? "the package installs $f"
done
[ -x "$ROOT/usr/sbin/nubod" ] && [ -x "$ROOT/usr/bin/nubo" ]
ok $? "nubo and nubod are executable"
like "$(in_root dpkg-query -W -f='${Conffiles}' nubo)" '^ ?/etc/nubo/nubod.json [0-9a-f]{32}' "/etc/nubo/nubod.json is a conffile"
in_root getent group nubo >/dev/null
ok $? "the system group nubo exists (members may use nubod's socket)"
like "$(in_root getent passwd nubo-qemu)" '^nubo-qemu:x:[0-9]+:[0-9]+:.*:/usr/sbin/nologin$' "the system user nubo-qemu exists, without a login shell"
is "$(stat -c %a "$ROOT/var/lib/nubo" 2>&1)" 755 "/var/lib/nubo exists, mode 0755 (dnsmasq reads below it)"

# A local change to the conffile survives reinstalling (an upgrade's path through dpkg).
sed -i 's/"#cpu_overcommit": 4.0/"cpu_overcommit": 2.0/' "$ROOT/etc/nubo/nubod.json"
in_root dpkg -i --force-confold "/tmp/${DEB##*/}" >"$T_DIR/reinstall.log" 2>&1
ok $? "the package installs again over itself" "$(tail -5 "$T_DIR/reinstall.log")"
grep -q '^  "cpu_overcommit": 2.0' "$ROOT/etc/nubo/nubod.json"
ok $? "the local change to /etc/nubo/nubod.json is kept"

# The programs.
is "$(in_root nubod --version 2>&1)" "nubod $VERSION" "nubod --version runs in the root"
is "$(in_root nubo --version 2>&1)" "nubo $VERSION" "nubo --version runs in the root"
# man-db came with the package (a minimal root lacks it) so that the
# unit's Documentation=man:… links can be checked.
like "$(in_root man -w nubo 2>&1)" '/usr/share/man/man1/nubo.1.gz' "man nubo finds the page"
like "$(in_root man -w 8 nubod 2>&1)" '/usr/share/man/man8/nubod.8.gz' "man 8 nubod finds the page"

# The unit.
out=$(in_root systemd-analyze verify /lib/systemd/system/nubod.service 2>&1)
ok $? "systemd-analyze verify accepts nubod.service" "$out"
is "$(grep -c . <<<"$out")" 0 "systemd-analyze verify has nothing to say about it" 
unit=$ROOT/lib/systemd/system/nubod.service
like "$(grep '^Type=' "$unit")" '^Type=notify$' "the unit is Type=notify"
like "$(grep '^KillMode=' "$unit")" '^KillMode=process$' "the unit stops nubod alone (KillMode=process), leaving VMs and dnsmasq"
grep -B12 '^KillMode=process' "$unit" | grep -q '^# Why KillMode=process'
ok $? "the unit says why KillMode=process"
like "$(grep '^Restart=' "$unit")" '^Restart=on-failure$' "the unit restarts nubod on failure"
like "$(grep '^After=' "$unit")" 'network-online.target' "the unit starts after the network"
like "$(grep '^WantedBy=' "$unit")" 'multi-user.target' "the unit is wanted at boot"
ls "$ROOT"/etc/systemd/system/multi-user.target.wants/nubod.service >/dev/null 2>&1
ok $? "the package enabled the unit (starts at boot)"

# Its ExecStart line, as systemd would run it: stderr on the "journal",
# NOTIFY_SOCKET set; in a network namespace of its own, so that the default
# network's bridge, dnsmasq and nftables table never touch this host's
# (and without /sys, so no cgroup either).
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
is "$exec_start" "/usr/sbin/nubod" "ExecStart is the installed nubod"
: >"$ROOT/tmp/notify.out"
socat -u UNIX-RECV:"$ROOT/run/notify.sock" OPEN:"$ROOT/tmp/notify.out",append &
T_BG_PIDS+=($!)
wait_for 5 test -S "$ROOT/run/notify.sock"
: >"$ROOT/tmp/nubod.log"
journal=$(stat -c '%d:%i' "$ROOT/tmp/nubod.log")
unshare --net chroot "$ROOT" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin NOTIFY_SOCKET=/run/notify.sock \
	JOURNAL_STREAM="$journal" $exec_start 2>>"$ROOT/tmp/nubod.log" >&2 &
disown $!   # killed at the end; no "Killed" line from bash
T_BG_PIDS+=($!)
wait_for 20 grep -qx 'READY=1' "$ROOT/tmp/notify.out"
ok $? "nubod started by the ExecStart line says READY=1" "$(cat "$ROOT/tmp/nubod.log")"
like "$(in_root nubo version 2>&1)" "^nubod $VERSION .*store sqlite" "nubo version in the root reaches it over /run/nubo/nubod.sock"
like "$(grep ' ready' "$ROOT/tmp/nubod.log")" '^<6>nubod .* ready \(state /var/lib/nubo' "its log lines carry journal priorities; its state is /var/lib/nubo"

# Removal and purge keep /var/lib/nubo (the VMs' disks and the store), as
# docs/install.md says; purge alone takes the conffile.
nubod_pid=${T_BG_PIDS[-1]}
kill -9 "$nubod_pid" 2>/dev/null
wait_for 10 sh -c "! kill -0 $nubod_pid 2>/dev/null"
[ -s "$ROOT/var/lib/nubo/nubo.db" ]
ok $? "nubod left its store in /var/lib/nubo"
in_root env DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq nubo >"$T_DIR/remove.log" 2>&1
ok $? "apt-get remove nubo" "$(tail -5 "$T_DIR/remove.log")"
[ ! -e "$ROOT/usr/sbin/nubod" ] && [ -s "$ROOT/var/lib/nubo/nubo.db" ] && [ -e "$ROOT/etc/nubo/nubod.json" ]
ok $? "remove takes the programs and keeps the store and the conffile"
in_root env DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq nubo >"$T_DIR/purge.log" 2>&1
ok $? "apt-get purge nubo" "$(tail -5 "$T_DIR/purge.log")"
[ ! -e "$ROOT/etc/nubo/nubod.json" ] && [ -s "$ROOT/var/lib/nubo/nubo.db" ]
ok $? "purge takes the conffile and keeps /var/lib/nubo" "$(ls -la "$ROOT/etc/nubo" "$ROOT/var/lib/nubo" 2>&1)"
like "$(cat "$T_DIR/purge.log")" 'nubo: /var/lib/nubo .* is kept' "purge says /var/lib/nubo is kept and how to remove it"

echo "1..$T_N"
