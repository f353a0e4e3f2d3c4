#!/bin/bash
# nubo image "tiny": build.sh OUTDIR
#
# Builds nubo's default image from Debian's packages alone, in seconds:
#   vmlinuz     Debian's cloud kernel (linux-image-cloud-amd64), never installed
#               on the host: fetched with apt-get download and unpacked.
#   initrd.img  busybox initramfs that loads the virtio modules and
#               switch_roots into /dev/vda (initrd-init).
#   disk.qcow2  1 GiB (sparse) ext4 root: busybox, dropbear, the init scripts
#               of this directory; made with mke2fs -d, no loop device.
#   image.json  how nubo boots it (direct kernel boot, command line, user).
#
# Runs as root on Debian 12 (device nodes and root-owned files in the images).
# Installs the host packages it needs if they are missing. Debs are cached in
# ${NUBO_CACHE_DIR:-/var/cache/nubo}/debs. The result appears in OUTDIR only
# when everything succeeded.

set -Eeuo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${NUBO_CACHE_DIR:-/var/cache/nubo}
DEBS=$CACHE/debs
KERNEL_META=linux-image-cloud-amd64
DISK_SIZE=1G

# Kernel command line, tuned for a fast boot on QEMU (TCG or KVM):
#   console=ttyS0          nubo's console is the first serial port
#   root=/dev/vda rw       read by initrd-init
#   (no quiet)             `nubo vm console` shows the kernel's boot messages;
#                          measured under TCG, printing them costs ~0.07 s
#   8250.nr_uarts=1        probe only the one serial port QEMU has
#   i8042.noaux i8042.nokbd  q35 has an i8042 without anything useful on it
#   tsc=reliable no_timer_check  trust the TSC, skip the clocksource watchdog
#                          and the timer IRQ check (both slow under emulation)
#   cryptomgr.notests      skip the crypto self-tests run at every boot
CMDLINE="console=ttyS0 root=/dev/vda rw 8250.nr_uarts=1 i8042.noaux i8042.nokbd tsc=reliable no_timer_check cryptomgr.notests"

# Modules, all loaded by the initrd in one modprobe call (their dependencies
# come from modinfo): the disk and the NIC, isofs for the seed, and the power
# button as an input event for acpid (button, evdev). The root file system
# gets the same set so that modprobe and modinfo know them there.
INITRD_MODULES="virtio_pci virtio_blk virtio_net isofs button evdev"

# Host commands and the packages that provide them.
declare -A PKG_OF=(
	[/bin/busybox]=busybox-static [dropbear]=dropbear-bin
	[dropbearkey]=dropbear-bin [depmod]=kmod [modinfo]=kmod [cpio]=cpio
	[mke2fs]=e2fsprogs [resize2fs]=e2fsprogs [qemu-img]=qemu-utils
	[lz4]=lz4 [zstd]=zstd [xz]=xz-utils [readelf]=binutils
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
[ "$(id -u)" = 0 ] || die "must run as root (it creates device nodes and root-owned files)"

WORK='' STAGE=''
cleanup() { rm -rf "$WORK" "$STAGE"; }
trap cleanup EXIT
WORK=$(mktemp -d "${TMPDIR:-/tmp}/nubo-tiny-build.XXXXXX")

# --- host packages -----------------------------------------------------------
phase "check host tools"
missing=()
for cmd in "${!PKG_OF[@]}"; do
	command -v "$cmd" >/dev/null 2>&1 || missing+=("${PKG_OF[$cmd]}")
done
# The image needs a static busybox: the dynamic "busybox" package would
# bring its libraries along.
if command -v /bin/busybox >/dev/null 2>&1 && ldd /bin/busybox >/dev/null 2>&1; then
	missing+=(busybox-static)
fi
if [ ${#missing[@]} -gt 0 ]; then
	mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
	phase "install ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null ||
		{ apt-get update >/dev/null && apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null; } ||
		die "cannot install ${missing[*]}"
fi

# --- kernel --------------------------------------------------------------------
# kernel_elf BZIMAGE OUT: the ELF inside a bzImage (its payload_offset and
# payload_length in the setup header), if it carries the PVH entry note
# (XEN_ELFNOTE_PHYS32_ENTRY, type 0x12) that lets QEMU boot it directly.
kernel_elf() {
	local setup off len magic payload=$2.payload
	setup=$(od -An -t u1 -j $((0x1f1)) -N 1 "$1" | tr -d ' ')
	[ "$setup" = 0 ] && setup=4
	read -r off len < <(od -An -t u4 -j $((0x248)) -N 8 "$1")
	[ -n "$len" ] && [ "$len" -gt 0 ] || return 1
	tail -c +$(((setup + 1) * 512 + off + 1)) "$1" | head -c "$len" >"$payload"
	magic=$(od -An -t x1 -N 4 "$payload" | tr -d ' \n')
	# The kernel appends the uncompressed size to the payload, which the
	# decompressors call trailing garbage after writing everything: the
	# ELF magic of the result is the test.
	case $magic in
	02214c18) lz4 -d -q -f "$payload" "$2" ;;
	28b52ffd) zstd -d -q -f "$payload" -o "$2" ;;
	fd377a58) xz -dc "$payload" >"$2" ;;
	1f8b08*) gzip -dc "$payload" >"$2" ;;
	esac 2>/dev/null
	rm -f "$payload"
	[ -s "$2" ] && [ "$(od -An -t x1 -N 4 "$2" | tr -d ' \n')" = 7f454c46 ] &&
		readelf -n "$2" 2>/dev/null | grep -q 'Xen .*(0x00000012)'
}

# "PACKAGE VERSION" of the kernel the meta package points to (apt's lists
# decide). One apt-cache call: each one parses all lists when apt keeps no
# binary cache.
kernel_package() {
	apt-cache show --no-all-versions "$KERNEL_META" 2>/dev/null |
		sed -n 's/^Depends:.*\(linux-image-[0-9][^ ,]*-cloud-amd64\) (= \([^)]*\)).*/\1 \2/p' |
		head -n 1 || true # unknown package: no output
}

# apt-get download into a private dir, then move: a cut-off download never
# looks like a cached deb. The sandbox option only silences apt's warning
# that root downloads unsandboxed.
download() {
	local tmp
	tmp=$(mktemp -d "$DEBS/.download.XXXXXX")
	if (cd "$tmp" && apt-get download -q -o APT::Sandbox::User=root "$1" >/dev/null 2>&1); then
		mv "$tmp"/*.deb "$DEBS/"
		rm -rf "$tmp"
		return 0
	fi
	rm -rf "$tmp"
	return 1
}

phase "download kernel"
mkdir -p "$DEBS"
read -r kpkg kver < <(kernel_package) || true
if [ -z "$kpkg" ]; then
	# No package lists yet (fresh machine): fetch them once.
	apt-get update -q >/dev/null 2>&1 || true
	read -r kpkg kver < <(kernel_package) || true
fi
deb=
if [ -n "$kpkg" ]; then
	# apt-get download's name for it (an epoch's ":" becomes "%3a").
	debfile=${kpkg}_${kver//:/%3a}_amd64.deb
	if [ -s "$DEBS/$debfile" ]; then
		deb=$DEBS/$debfile
		echo "    $debfile (cached)"
	elif download "$kpkg" || { apt-get update -q >/dev/null 2>&1 && download "$kpkg"; }; then
		# After an update the version may differ from the lists read above.
		deb=$(ls -1 "$DEBS/${kpkg}_"*.deb | sort -V | tail -n 1)
		echo "    ${deb##*/} (downloaded)"
	fi
fi
if [ -z "$deb" ]; then
	# Offline: any cloud kernel cached earlier will do.
	deb=$(ls -1 "$DEBS"/linux-image-[0-9]*-cloud-amd64_*.deb 2>/dev/null | sort -V | tail -n 1) || true
	[ -n "$deb" ] || die "cannot download $KERNEL_META (${kpkg:-not in the apt lists}) and none is cached in $DEBS"
	echo "    ${deb##*/} (cached; apt could not provide ${kpkg:-$KERNEL_META})"
fi

phase "unpack kernel"
dpkg -x "$deb" "$WORK/kernel" || die "cannot unpack $deb"
vmlinuz=$(ls -1 "$WORK"/kernel/boot/vmlinuz-* 2>/dev/null | head -n 1)
[ -n "$vmlinuz" ] || die "$deb holds no /boot/vmlinuz-*"
KVER=${vmlinuz##*/vmlinuz-}
MODROOT=$WORK/kernel/lib/modules/$KVER
[ -d "$MODROOT/kernel" ] || die "$deb holds no modules for $KVER"
echo "    kernel $KVER"

# Modules of the package by name (modprobe treats - and _ alike).
declare -A KO=()
while IFS= read -r f; do
	n=${f##*/}
	n=${n%.ko}
	KO[${n//-/_}]=$f
done < <(cd "$MODROOT" && find kernel -name '*.ko')

# install_modules ROOT NAME...: copy the modules and what they depend on.
install_modules() {
	local root=$1 m f deps
	shift
	for m in "$@"; do
		m=${m//-/_}
		f=${KO[$m]:-}
		if [ -z "$f" ]; then
			grep -q "/${m}.ko\$" "$MODROOT/modules.builtin" && continue
			die "kernel module $m is not in ${deb##*/}"
		fi
		[ -e "$root/lib/modules/$KVER/$f" ] && continue
		install -D -m 0644 "$MODROOT/$f" "$root/lib/modules/$KVER/$f"
		deps=$(modinfo -F depends "$MODROOT/$f")
		[ -z "$deps" ] || install_modules "$root" ${deps//,/ }
	done
}

# finish_modules ROOT: modules.dep for busybox modprobe (the package ships none).
finish_modules() {
	local d=$1/lib/modules/$KVER
	cp "$MODROOT"/modules.{builtin,builtin.modinfo,order} "$d/"
	depmod -b "$1" "$KVER" || die "depmod failed for $1"
	# busybox modprobe reads the text files only.
	rm -f "$d"/*.bin "$d/modules.builtin.modinfo"
}

# busybox_links ROOT [FLATDIR]: a symlink to /bin/busybox per applet, at the
# path busybox gives it (bin, sbin, usr/bin, usr/sbin) or all in FLATDIR.
# Existing files win. perl (Essential in Debian) makes ~270 links in one
# process instead of ~270 ln runs.
busybox_links() {
	/bin/busybox --list-full | grep -v -x -e bin/busybox -e linuxrc |
		(cd "$1" && FLAT=${2:-} perl -nle '
			s{.*/}{$ENV{FLAT}/} if $ENV{FLAT};
			-e || -l || symlink("/bin/busybox", $_) || die "symlink $_: $!\n";')
}

# --- initrd ----------------------------------------------------------------
phase "initrd"
I=$WORK/initrd
mkdir -p "$I"/{bin,dev,proc,sys,newroot}
install -m 0755 /bin/busybox "$I/bin/busybox"
busybox_links "$I" bin
install -m 0755 "$HERE/initrd-init" "$I/init"
echo "$INITRD_MODULES" >"$I/modules"
# The kernel opens /dev/console for /init before anything is mounted.
mknod -m 0600 "$I/dev/console" c 5 1
mknod -m 0666 "$I/dev/null" c 1 3
install_modules "$I" $INITRD_MODULES
finish_modules "$I"
# Uncompressed: the kernel unpacks it fastest (no decompression under
# emulation) and QEMU loads it by DMA; it is only a few MiB.
(cd "$I" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$WORK/initrd.img"

# --- root file system ------------------------------------------------------------
phase "rootfs"
R=$WORK/rootfs
mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,lib/nubo-tiny,lib64,etc/acpi/PWRF,dev,proc,sys,run,mnt,home}
mkdir -p "$R"/var/{log,lib/nubo-tiny} "$R/etc/dropbear"
mkdir -m 0700 "$R/root" "$R/root/.ssh"
mkdir -m 1777 "$R/tmp" "$R/var/tmp"
ln -s ../run "$R/var/run"
install -m 0755 /bin/busybox "$R/bin/busybox"

# dropbear and resize2fs are dynamic: take the host's binaries and the
# libraries ldd names (same paths; the loader searches them by default).
install -m 0755 "$(command -v dropbear)" "$R/usr/sbin/dropbear"
install -m 0755 "$(command -v dropbearkey)" "$R/usr/bin/dropbearkey"
install -m 0755 "$(command -v resize2fs)" "$R/sbin/resize2fs"
for lib in $(for b in usr/sbin/dropbear usr/bin/dropbearkey sbin/resize2fs; do ldd "$R/$b"; done |
	awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u); do
	install -D -m 0755 "$(readlink -f "$lib")" "$R$lib"
done
busybox_links "$R"

install -m 0755 "$HERE/rootfs-init" "$R/lib/nubo-tiny/boot"
install -m 0755 "$HERE/rootfs-shutdown" "$R/lib/nubo-tiny/shutdown"
install -m 0755 "$HERE/udhcpc.script" "$R/lib/nubo-tiny/udhcpc"
install -m 0755 "$HERE/run-user-data" "$R/lib/nubo-tiny/run-user-data"
install -m 0755 "$HERE/host-keys" "$R/lib/nubo-tiny/host-keys"
install -m 0755 "$HERE/imds" "$R/lib/nubo-tiny/imds"
install -m 0755 "$HERE/acpi-power" "$R/etc/acpi/PWRF/00000080"
install -m 0755 "$HERE/halt" "$R/lib/nubo-tiny/halt"
for a in halt poweroff reboot; do
	ln -sf /lib/nubo-tiny/halt "$R/sbin/$a"
done
install -m 0644 "$HERE/inittab" "$R/etc/inittab"

install_modules "$R" $INITRD_MODULES
finish_modules "$R"

# root has no usable password ("*", not "!": dropbear refuses every login,
# keys too, for a locked "!" account). Login is by SSH key only.
cat >"$R/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
EOF
cat >"$R/etc/group" <<'EOF'
root:x:0:
tty:x:5:
nogroup:x:65534:
EOF
cat >"$R/etc/shadow" <<'EOF'
root:*:19000:0:99999:7:::
nobody:*:19000:0:99999:7:::
EOF
chmod 0600 "$R/etc/shadow"
printf '/bin/sh\n/bin/ash\n' >"$R/etc/shells"
echo tiny >"$R/etc/hostname"
echo '/dev/vda / ext4 rw,relatime 0 1' >"$R/etc/fstab"
# busybox sh runs its own applets before looking at PATH; functions come
# first, so login shells get the quick halt/poweroff/reboot of /sbin.
cat >"$R/etc/profile" <<'EOF'
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PS1='\u@\h:\w\$ '
halt() { /sbin/halt "$@"; }
poweroff() { /sbin/poweroff "$@"; }
reboot() { /sbin/reboot "$@"; }
EOF
cat >"$R/etc/os-release" <<EOF
PRETTY_NAME="nubo tiny (Debian 12 kernel $KVER, busybox + dropbear)"
NAME="nubo tiny"
ID=nubo-tiny
ID_LIKE=debian
VERSION_ID="12"
EOF
printf 'nubo tiny: Debian 12 kernel, busybox and dropbear. \\n \\l\n\n' >"$R/etc/issue"
printf 'nubo tiny: busybox + dropbear on Debian 12 kernel %s\n' "$KVER" >"$R/etc/motd"

# Every absolute program inittab names must exist in the image.
for prog in $(sed -n 's/^\([^#:][^:]*\)\{0,1\}:[^:]*:[^:]*:\(\/[^ ]*\).*/\2/p' "$R/etc/inittab"); do
	[ -x "$R$prog" ] || [ -L "$R$prog" ] || die "inittab runs $prog, which is not in the image"
done

# --- disk ----------------------------------------------------------------------
phase "disk"
# Inode tables and journal are zeroed now (they stay sparse), so the guest
# kernel has no lazy init to do in every VM's overlay.
truncate -s "$DISK_SIZE" "$WORK/disk.raw"
# The file system already fills the disk: the guest runs resize2fs only when
# nubo made the disk bigger.
echo $(($(stat -c %s "$WORK/disk.raw") / 512)) >"$R/var/lib/nubo-tiny/root-sectors"
mke2fs -q -F -t ext4 -L tiny-root -m 1 -d "$R" \
	-E lazy_itable_init=0,lazy_journal_init=0,root_owner=0:0 "$WORK/disk.raw" ||
	die "mke2fs failed"

OUTPARENT=$(dirname "$OUT")
mkdir -p "$OUTPARENT"
# Staged beside OUT so that the final moves are renames.
STAGE=$(mktemp -d "$OUTPARENT/.tiny-build.XXXXXX")
qemu-img convert -O qcow2 "$WORK/disk.raw" "$STAGE/disk.qcow2" || die "qemu-img convert failed"
# The kernel as its uncompressed ELF: QEMU boots that through the kernel's
# PVH entry, skipping the firmware's real-mode boot path and decompression
# under emulation (about 0.4 s less to SSH under TCG, measured in bench/).
# A kernel without the PVH note keeps its bzImage.
if kernel_elf "$vmlinuz" "$WORK/vmlinux"; then
	install -m 0644 "$WORK/vmlinux" "$STAGE/vmlinuz"
	echo "    kernel booted through its PVH entry ($(du -h --apparent-size "$WORK/vmlinux" | cut -f1) ELF)"
else
	install -m 0644 "$vmlinuz" "$STAGE/vmlinuz"
fi
install -m 0644 "$WORK/initrd.img" "$STAGE/initrd.img"

phase "image.json"
cat >"$STAGE/image.json" <<EOF
{"name":"tiny","boot":"direct","kernel":"vmlinuz","initrd":"initrd.img","disk":"disk.qcow2","cmdline":"$CMDLINE","user":"root","os":"Debian 12 (busybox + dropbear)"}
EOF

phase "install into $OUT"
mkdir -p "$OUT"
# image.json last: its presence marks a complete image.
for f in vmlinuz initrd.img disk.qcow2 image.json; do
	mv -f "$STAGE/$f" "$OUT/$f"
done
echo "    $(du -h --apparent-size "$OUT/initrd.img" | cut -f1) initrd, $(du -h "$OUT/disk.qcow2" | cut -f1) disk, kernel $KVER"
