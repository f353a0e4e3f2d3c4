#!/bin/bash
# nubo image "debian-12": build.sh OUTDIR
#
# A real Debian 12 (bookworm) with systemd, OpenSSH and cloud-init, built
# from Debian's archive with debootstrap:
#   vmlinuz     Debian's cloud kernel (linux-image-cloud-amd64), taken from
#               the built root file system's /boot.
#   initrd.img  its initramfs-tools initrd, made inside the root file system
#               with only the virtio disk and NIC drivers (MODULES=list):
#               small, and independent of the build machine (MODULES=dep
#               would look at this host's disks; MODULES=most makes it three
#               times bigger and slower to unpack under emulation).
#   disk.qcow2  2 GiB (sparse) ext4 on the whole disk, no partition table;
#               made with mke2fs -d, no loop device or mount. cloud-init grows
#               it with resize2fs when nubo gives the VM a bigger disk.
#   image.json  how nubo boots it (direct kernel boot, command line, user).
#
# Two stages. The "base" (debootstrap, packages with the current security
# updates, initrd) is the slow part, about a minute; it is kept as a tarball
# in ${NUBO_CACHE_DIR:-/var/cache/nubo}/debian-12 and rebuilt when its
# recipe changes or it is older than a week (NUBO_DEBIAN_REFRESH=1 forces a
# rebuild; a failed rebuild falls back to the old one). The second stage,
# every build, unpacks it, applies nubo's settings (files of this directory)
# and makes the disk: seconds.
#
# Runs as root on Debian 12. Installs the host packages it needs if they are
# missing. Needs Debian's archive (NUBO_DEBIAN_MIRROR,
# NUBO_DEBIAN_SECURITY_MIRROR) only when the base is (re)built. The chroot's
# mounts (/proc, /sys, /dev) live in a private mount namespace (unshare -m):
# they vanish with it, whatever happens, so the clean-up never has to unmount
# anything and can never delete through a leftover bind mount. The result
# appears in OUTDIR only when everything succeeded.

set -Eeuo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${NUBO_CACHE_DIR:-/var/cache/nubo}/debian-12
SUITE=bookworm
MIRROR=${NUBO_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${NUBO_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
BASE_MAX_AGE_DAYS=7
DISK_SIZE=2G
# Bump when the base stage changes in a way its spec (below) does not show.
BASE_FORMAT=1

# Installed with apt (no Recommends) on top of debootstrap's minbase.
#   systemd-networkd does the network, driven by cloud-init's networkd
#   renderer (ifupdown + dhclient, the other choice, booted no faster);
#   systemd-resolved takes the DNS server from DHCP; dbus for
#   logind, which turns the ACPI power button into a clean poweroff.
#   zstd compresses the initrd (initramfs-tools' default).
PACKAGES=(
	systemd-sysv systemd-resolved dbus openssh-server sudo
	cloud-init cloud-guest-utils e2fsprogs iproute2 netbase ca-certificates
	linux-image-cloud-amd64 initramfs-tools zstd less
)

# The initrd loads nubo's disk and NIC drivers (ext4 is built into the
# cloud kernel). The NIC must exist before cloud-init-local looks for it:
# loaded later by udev from the root file system, it can appear after
# cloud-init has written its network config (seen under load: no network).
# Every other module (isofs for the seed, ...) comes from the root file
# system. virtio_scsi and sd_mod would cost 0.3 s of boot under TCG.
INITRD_MODULES="virtio_pci virtio_blk virtio_net"

# Kernel command line, tuned for a fast boot on QEMU (TCG or KVM):
#   console=ttyS0          nubo's console is the first serial port; no
#                          `quiet`: `nubo vm console` shows the boot messages
#   root=/dev/vda ro       the first virtio disk is nubo's root disk; ro so
#                          that systemd checks it before remounting it rw
#   net.ifnames=0          the NIC keeps the kernel's name, eth0: it exists
#                          from the initrd on, so cloud-init's config for it
#                          never races with udev renaming it
#   8250.nr_uarts=1        probe only the one serial port QEMU has
#   i8042.noaux i8042.nokbd  q35 has an i8042 without anything useful on it
#   tsc=reliable no_timer_check  trust the TSC, skip the clocksource watchdog
#                          and the timer IRQ check (both slow under emulation)
#   cryptomgr.notests      skip the crypto self-tests run at every boot
#   memhp_default_state=online_movable  a DIMM hot-plugged by a live memory
#                          resize comes online at once, in the movable zone
#                          so that it can be unplugged again (hotplug.rules
#                          does it too, for a kernel that ignores this)
CMDLINE="console=ttyS0 root=/dev/vda ro net.ifnames=0 8250.nr_uarts=1 i8042.noaux i8042.nokbd tsc=reliable no_timer_check cryptomgr.notests memhp_default_state=online_movable"

# Host commands (and files) and the packages that provide them. debootstrap
# checks the archive's signature with gpgv against Debian's keyring.
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
declare -A PKG_OF=(
	[debootstrap]=debootstrap [gpgv]=gpgv [$KEYRING]=debian-archive-keyring
	[mke2fs]=e2fsprogs [qemu-img]=qemu-utils [zstd]=zstd
	[unshare]=util-linux [flock]=util-linux
)

phase() { echo "==> $*"; }
die() {
	echo "build.sh: error: $*" >&2
	exit 1
}
trap 'die "command failed (line $LINENO, exit $?): $BASH_COMMAND"' ERR

[ $# -eq 1 ] || {
	echo "usage: $0 OUTDIR" >&2
	exit 2
}
OUT=$1
[ "$(id -u)" = 0 ] || die "must run as root (debootstrap, chroot, root-owned files)"

WORK='' STAGE='' TAR_TMP=''
cleanup() { rm -rf "$WORK" "$STAGE" "$TAR_TMP"; }
trap cleanup EXIT
# The root file system is ~16000 files: written to tmpfs they take a second,
# to a disk several (8 s on the project's machines). /dev/shm is used when it
# has room for the tree and the sparse disk image (~1 GiB at the peak).
work_parent=${TMPDIR:-/tmp}
if [ -z "${TMPDIR:-}" ] && [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ] &&
	[ "$(($(stat -f -c '%a * %S' /dev/shm)))" -gt $((4 << 30)) ]; then
	work_parent=/dev/shm
fi
WORK=$(mktemp -d "$work_parent/nubo-debian-12-build.XXXXXX")

# --- host packages -----------------------------------------------------------
phase "check host tools"
missing=()
for cmd in "${!PKG_OF[@]}"; do
	if [ "${cmd:0:1}" = / ]; then
		[ -s "$cmd" ] || missing+=("${PKG_OF[$cmd]}")
	else
		command -v "$cmd" >/dev/null 2>&1 || missing+=("${PKG_OF[$cmd]}")
	fi
done
if [ ${#missing[@]} -gt 0 ]; then
	mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
	phase "install ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null ||
		{ apt-get update >/dev/null && apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null; } ||
		die "cannot install ${missing[*]}"
fi

# --- base: debootstrap + packages (cached) -------------------------------------
# Everything the base depends on; its hash names the cached tarball.
base_spec() {
	printf 'format %s\nsuite %s\nmirror %s\nsecurity %s\npackages %s\ninitrd-modules %s\n' \
		"$BASE_FORMAT" "$SUITE" "$MIRROR" "$SECURITY_MIRROR" "${PACKAGES[*]}" "$INITRD_MODULES"
	declare -f make_base
}

# make_base ROOT: runs in its own mount namespace (see the header).
make_base() {
	set -Eeuo pipefail
	local R=$1
	export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 PATH=/usr/sbin:/usr/bin:/sbin:/bin
	echo "--- debootstrap"
	mkdir -p "$CACHE/debs"
	debootstrap --variant=minbase --keyring="$KEYRING" --cache-dir="$CACHE/debs" "$SUITE" "$R" "$MIRROR"

	cat >"$R/etc/apt/sources.list" <<-EOF
		deb $MIRROR $SUITE main
		deb $MIRROR $SUITE-updates main
		deb $SECURITY_MIRROR $SUITE-security main
	EOF
	# No daemon may start inside the chroot.
	printf '#!/bin/sh\nexit 101\n' >"$R/usr/sbin/policy-rc.d"
	chmod 0755 "$R/usr/sbin/policy-rc.d"
	# Before the kernel is installed, so that its initrd is made once, right.
	mkdir -p "$R/etc/initramfs-tools/conf.d"
	printf 'MODULES=list\nCOMPRESS=zstd\n' >"$R/etc/initramfs-tools/conf.d/nubo.conf"
	printf '# nubo: the disk drivers (MODULES=list in conf.d/nubo.conf)\n' >"$R/etc/initramfs-tools/modules"
	tr ' ' '\n' <<<"$INITRD_MODULES" >>"$R/etc/initramfs-tools/modules"

	mount -t proc proc "$R/proc"
	mount -t sysfs sysfs "$R/sys"
	mount --rbind /dev "$R/dev"
	# Downloaded debs stay in the cache for the next base.
	mkdir -p "$CACHE/archives/partial"
	mount --bind "$CACHE/archives" "$R/var/cache/apt/archives"
	local apt=(chroot "$R" apt-get -y -q -o Dpkg::Options::=--force-confold -o Dpkg::Options::=--force-confdef)
	echo "--- apt-get update, dist-upgrade, install"
	"${apt[@]}" update
	"${apt[@]}" dist-upgrade
	"${apt[@]}" install --no-install-recommends "${PACKAGES[@]}"
	# networkd (with wait-online, so network-online.target means it) and
	# resolved; ssh and cloud-init enable themselves.
	chroot "$R" systemctl enable systemd-networkd.service systemd-resolved.service
	# nubo boots the kernel beside the disk, not the one in /boot: an
	# upgrade inside the VM must not replace the modules of the running
	# kernel. New kernels come with a rebuilt image.
	local kpkgs
	# shellcheck disable=SC2016 # dpkg-query's format, not the shell's
	mapfile -t kpkgs < <(chroot "$R" dpkg-query -W -f '${Package}\n' 'linux-image-[0-9]*-cloud-amd64')
	chroot "$R" apt-mark hold linux-image-cloud-amd64 "${kpkgs[@]}"
	# The deb cache keeps what the archive still has, not every old version.
	"${apt[@]}" autoclean
	umount "$R/var/cache/apt/archives"
	"${apt[@]}" clean
	rm -f "$R/usr/sbin/policy-rc.d"
	rm -rf "$R"/var/lib/apt/lists/* "$R"/var/cache/apt/*.bin
	rm -f "$R"/etc/ssh/ssh_host_*
}

BASE_KEY=$( (base_spec) | sha256sum | cut -c1-16)
BASE_TAR=$CACHE/base-$BASE_KEY.tar.zst
mkdir -p "$CACHE"
# One base build at a time (a second build waits and then uses its result).
exec {lockfd}>"$CACHE/.lock"
flock "$lockfd"

base_fresh() {
	[ -s "$BASE_TAR" ] && [ -z "${NUBO_DEBIAN_REFRESH:-}" ] &&
		[ -n "$(find "$BASE_TAR" -mmin -$((BASE_MAX_AGE_DAYS * 24 * 60)))" ]
}

if base_fresh; then
	phase "base (cached: ${BASE_TAR##*/})"
else
	phase "base: debootstrap $SUITE and packages (about a minute)"
	B=$WORK/base
	export -f make_base
	export KEYRING CACHE SUITE MIRROR SECURITY_MIRROR INITRD_MODULES
	export PACKAGES_LIST="${PACKAGES[*]}"
	# shellcheck disable=SC2016 # expanded by the inner bash
	if unshare --mount --propagation private bash -c 'PACKAGES=($PACKAGES_LIST); make_base "$1"' _ "$B" \
		>"$WORK/base.log" 2>&1; then
		phase "base: save to cache"
		TAR_TMP=$BASE_TAR.tmp
		tar -C "$B" --numeric-owner --xattrs --xattrs-include='*' -cf - . | zstd -q -f -T0 -3 -o "$TAR_TMP"
		mv -f "$TAR_TMP" "$BASE_TAR"
		TAR_TMP=
		# Bases of earlier recipes are not used any more.
		find "$CACHE" -maxdepth 1 -name 'base-*.tar.zst' ! -name "${BASE_TAR##*/}" -delete
		rm -rf "$B"
	elif [ -s "$BASE_TAR" ]; then
		tail -n 20 "$WORK/base.log" | sed 's/^/    /' >&2
		echo "build.sh: warning: cannot rebuild the base; using the cached one from $(date -r "$BASE_TAR" +%F)" >&2
	else
		tail -n 20 "$WORK/base.log" | sed 's/^/    /' >&2
		die "cannot build the base (debootstrap or apt failed; log above)"
	fi
fi
flock -u "$lockfd"

# --- root file system: the base and nubo's settings ------------------------------
phase "rootfs"
R=$WORK/rootfs
mkdir -p "$R"
zstd -q -d -c "$BASE_TAR" | tar -C "$R" --numeric-owner --xattrs --xattrs-include='*' -xpf - ||
	die "cannot unpack $BASE_TAR"

install -m 0644 "$HERE/cloud.cfg" "$R/etc/cloud/cloud.cfg.d/90_nubo.cfg"
install -m 0644 "$HERE/dhcp-fallback.network" "$R/etc/systemd/network/99-nubo-dhcp.network"
install -m 0644 "$HERE/hotplug.rules" "$R/etc/udev/rules.d/80-nubo-hotplug.rules"

# sshd: keys only, no root. In the main file, where cloud-init's
# ssh_pwauth edits it (a sshd_config.d file would override user-data).
sed -i -e 's/^#\{0,1\}PermitRootLogin .*/PermitRootLogin no/' \
	-e 's/^#\{0,1\}PasswordAuthentication .*/PasswordAuthentication no/' \
	-e 's/^#\{0,1\}KbdInteractiveAuthentication .*/KbdInteractiveAuthentication no/' "$R/etc/ssh/sshd_config"
for kv in 'PermitRootLogin no' 'PasswordAuthentication no' 'KbdInteractiveAuthentication no'; do
	grep -qx "$kv" "$R/etc/ssh/sshd_config" || die "sshd_config: cannot set $kv"
done
# Per-instance host keys: cloud-init makes them at first boot.
rm -f "$R"/etc/ssh/ssh_host_*

# Boot time. Under TCG every process costs: this leaves out what can never
# apply to a nubo VM (each line measured on a 1-vCPU TCG boot).
#   Generators run before any unit, one exec each (~0.25 s): no LUKS,
#   dm-integrity or dm-verity, no GPT partitions, no hibernation image, no
#   offline system updates.
mkdir -p "$R/etc/systemd/system-generators"
for g in cryptsetup integritysetup veritysetup gpt-auto hibernate-resume system-update; do
	ln -sf /dev/null "$R/etc/systemd/system-generators/systemd-$g-generator"
done
#   systemd-repart (no partition table) and systemd-pstore (no EFI) are
#   skipped by their conditions, but what they want (modprobe@dm_mod,
#   @loop, @efi_pstore) still starts; no display for modprobe@drm (logind).
#   e2scrub_reap cleans e2scrub's LVM snapshots: no LVM.
for u in systemd-repart.service systemd-pstore.service modprobe@drm.service e2scrub_reap.service; do
	ln -sf /dev/null "$R/etc/systemd/system/$u"
done
rm -f "$R/etc/systemd/system/multi-user.target.wants/e2scrub_reap.service"
#   sshd without Debian's `sshd -t` first (a config error stops sshd
#   itself, with the same message).
mkdir -p "$R/etc/systemd/system/ssh.service.d"
cat >"$R/etc/systemd/system/ssh.service.d/nubo.conf" <<'EOF'
[Service]
ExecStartPre=
EOF

echo '/dev/vda / ext4 errors=remount-ro 0 1' >"$R/etc/fstab"
echo debian >"$R/etc/hostname"
cat >"$R/etc/hosts" <<'EOF'
127.0.0.1	localhost
::1		localhost ip6-localhost ip6-loopback
ff02::1		ip6-allnodes
ff02::2		ip6-allrouters
EOF
# Set, so that cloud-init's locale module has nothing to generate.
echo 'LANG=C.UTF-8' >"$R/etc/default/locale"

# Every VM gets its own machine-id: from an empty file systemd makes a new
# one at boot and writes it to the VM's disk (systemd-machine-id-commit).
: >"$R/etc/machine-id"
rm -f "$R/var/lib/dbus/machine-id"
ln -s /etc/machine-id "$R/var/lib/dbus/machine-id"
# Nothing of the build machine or the build's runs.
rm -rf "$R"/var/lib/cloud/* "$R"/tmp/* "$R"/var/tmp/* "$R"/root/.cache
rm -f "$R/var/log/bootstrap.log" "$R"/var/cache/debconf/*-old "$R"/var/lib/dpkg/*-old

vmlinuz=$(ls -1 "$R"/boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1)
[ -n "$vmlinuz" ] || die "the base has no /boot/vmlinuz-*"
KVER=${vmlinuz##*/vmlinuz-}
[ -s "$R/boot/initrd.img-$KVER" ] || die "the base has no /boot/initrd.img-$KVER"
[ -d "$R/lib/modules/$KVER/kernel" ] || die "the base has no modules for $KVER"
echo "    kernel $KVER, $(du -sh "$R" | cut -f1) of files"

# --- disk ----------------------------------------------------------------------
phase "disk"
truncate -s "$DISK_SIZE" "$WORK/disk.raw"
# Inode tables and journal are zeroed now (they stay sparse), so the guest
# kernel has no lazy init to do in every VM's overlay.
mke2fs -q -F -t ext4 -L debian-root -d "$R" \
	-E lazy_itable_init=0,lazy_journal_init=0 "$WORK/disk.raw" ||
	die "mke2fs failed"

OUTPARENT=$(dirname "$OUT")
mkdir -p "$OUTPARENT"
# Staged beside OUT so that the final moves are renames.
STAGE=$(mktemp -d "$OUTPARENT/.debian-12-build.XXXXXX")
# Plain qcow2 (compressed clusters would slow every read); zero blocks,
# i.e. the free space, are not written.
qemu-img convert -O qcow2 "$WORK/disk.raw" "$STAGE/disk.qcow2" || die "qemu-img convert failed"
install -m 0644 "$vmlinuz" "$STAGE/vmlinuz"
install -m 0644 "$R/boot/initrd.img-$KVER" "$STAGE/initrd.img"

phase "image.json"
cat >"$STAGE/image.json" <<EOF
{"name":"debian-12","boot":"direct","kernel":"vmlinuz","initrd":"initrd.img","disk":"disk.qcow2","cmdline":"$CMDLINE","user":"debian","os":"Debian 12 (bookworm) with cloud-init"}
EOF

phase "install"
echo "    into $OUT"
mkdir -p "$OUT"
# image.json last: its presence marks a complete image.
for f in vmlinuz initrd.img disk.qcow2 image.json; do
	mv -f "$STAGE/$f" "$OUT/$f"
done
echo "    $(du -h --apparent-size "$OUT/initrd.img" | cut -f1) initrd, $(du -h "$OUT/disk.qcow2" | cut -f1) disk, kernel $KVER"
