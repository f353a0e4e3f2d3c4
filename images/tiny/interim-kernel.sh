# nubo image "tiny": the interim kernel, sourced by build.sh.
#
# tiny's own kernel takes minutes to compile on two cores, once per source
# version and configuration. So that a host's very first image (and the VM
# `make demo` boots) need not wait for it, build.sh can boot the image on
# Debian's packaged cloud kernel meanwhile: linux-image-cloud-amd64, fetched
# with apt-get download (never installed), with a busybox initrd that loads
# the virtio, ISO 9660 and power-button modules (initrd-init) and hands over
# to the same root file system. tiny's own kernel compiles in the background
# and then replaces the interim one in every image that waits for it
# (interim_switch): from their next boot on, VMs run tiny's kernel. The disk
# is the same either way, so VMs made in between keep working.
#
# Uses from build.sh: DEBS, KERNELS, CONFIG_SUM, WORK, HERE, die, download.

INTERIM_META=linux-image-cloud-amd64
# The modules the initrd loads in one modprobe call (their dependencies come
# from modinfo): the disk and the NIC, isofs for the seed, and the power
# button as an input event for acpid (button, evdev).
INTERIM_MODULES="virtio_pci virtio_blk virtio_net isofs button evdev"
# Debian's kernel probes more than tiny's: one serial port, no PS/2, no
# crypto self-tests (the options tiny's kernel.config settles at build time).
# tiny's kernel ignores these when it takes over.
INTERIM_CMDLINE_EXTRA="8250.nr_uarts=1 i8042.noaux i8042.nokbd cryptomgr.notests"
# Images booted on the interim kernel, one directory a line, until tiny's own
# kernel of this configuration is built (then they switch and the list empties).
interim_list() { echo "$KERNELS/interim-$CONFIG_SUM"; }

# "PACKAGE VERSION" of the kernel the meta package points to.
interim_package() {
	apt-cache show --no-all-versions "$INTERIM_META" 2>/dev/null |
		sed -n 's/^Depends:.*\(linux-image-[0-9][^ ,]*-cloud-amd64\) (= \([^)]*\)).*/\1 \2/p' |
		head -n 1 || true
}

# interim_deb: the path of Debian's cloud kernel package, downloaded into
# DEBS if not there yet; nothing (and status 1) when apt cannot provide one
# and none is cached.
interim_deb() {
	local kpkg='' kver='' deb
	read -r kpkg kver < <(interim_package) || true
	if [ -n "$kpkg" ]; then
		deb=$DEBS/${kpkg}_${kver//:/%3a}_amd64.deb
		if [ -s "$deb" ] || download "$kpkg"; then
			[ -s "$deb" ] || deb=$(ls -1 "$DEBS/${kpkg}_"*.deb | sort -V | tail -n 1)
			echo "$deb"
			return 0
		fi
	fi
	# Offline: a cloud kernel fetched earlier will do.
	deb=$(ls -1 "$DEBS"/linux-image-[0-9]*-cloud-amd64_*.deb 2>/dev/null | sort -V | tail -n 1) || true
	[ -n "$deb" ] && echo "$deb"
}

# kernel_elf BZIMAGE OUT: the ELF inside a bzImage (payload_offset and
# payload_length of its setup header), if it carries the PVH entry note that
# lets QEMU boot it directly, skipping decompression under emulation.
kernel_elf() {
	local setup off len magic payload=$2.payload
	setup=$(od -An -t u1 -j $((0x1f1)) -N 1 "$1" | tr -d ' ')
	[ "$setup" = 0 ] && setup=4
	read -r off len < <(od -An -t u4 -j $((0x248)) -N 8 "$1")
	[ -n "$len" ] && [ "$len" -gt 0 ] || return 1
	tail -c +$(((setup + 1) * 512 + off + 1)) "$1" | head -c "$len" >"$payload"
	magic=$(od -An -t x1 -N 4 "$payload" | tr -d ' \n')
	# The kernel appends the uncompressed size to the payload, which the
	# decompressors call trailing garbage after writing everything: the ELF
	# magic of the result is the test.
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

# interim_make DEB: unpacks Debian's kernel from DEB into WORK and makes the
# initrd. Sets INTERIM_KERNEL (what QEMU boots), INTERIM_INITRD, INTERIM_KVER.
interim_make() {
	local deb=$1 vmlinuz modroot f n m deps
	dpkg -x "$deb" "$WORK/interim" || die "cannot unpack $deb"
	vmlinuz=$(ls -1 "$WORK"/interim/boot/vmlinuz-* 2>/dev/null | head -n 1)
	[ -n "$vmlinuz" ] || die "$deb holds no /boot/vmlinuz-*"
	INTERIM_KVER=${vmlinuz##*/vmlinuz-}
	modroot=$WORK/interim/lib/modules/$INTERIM_KVER
	[ -d "$modroot/kernel" ] || die "$deb holds no modules for $INTERIM_KVER"

	local -A ko=()
	while IFS= read -r f; do
		n=${f##*/}
		n=${n%.ko}
		ko[${n//-/_}]=$f
	done < <(cd "$modroot" && find kernel -name '*.ko')
	local I=$WORK/initrd todo=($INTERIM_MODULES)
	mkdir -p "$I"/{bin,dev,proc,sys,newroot}
	# Each module and what it depends on (modinfo), once.
	while [ ${#todo[@]} -gt 0 ]; do
		m=${todo[0]//-/_}
		todo=("${todo[@]:1}")
		f=${ko[$m]:-}
		if [ -z "$f" ]; then
			grep -q "/${m}.ko\$" "$modroot/modules.builtin" && continue
			die "kernel module $m is not in ${deb##*/}"
		fi
		[ -e "$I/lib/modules/$INTERIM_KVER/$f" ] && continue
		install -D -m 0644 "$modroot/$f" "$I/lib/modules/$INTERIM_KVER/$f"
		deps=$(modinfo -F depends "$modroot/$f")
		[ -z "$deps" ] || todo+=(${deps//,/ })
	done
	cp "$modroot"/modules.{builtin,builtin.modinfo,order} "$I/lib/modules/$INTERIM_KVER/"
	depmod -b "$I" "$INTERIM_KVER" || die "depmod failed"
	# busybox modprobe reads the text files only.
	rm -f "$I/lib/modules/$INTERIM_KVER"/*.bin "$I/lib/modules/$INTERIM_KVER/modules.builtin.modinfo"

	install -m 0755 /bin/busybox "$I/bin/busybox"
	/bin/busybox --list | grep -v -x busybox | (cd "$I/bin" && perl -nle 'symlink("busybox", $_) || die "symlink $_: $!\n"')
	install -m 0755 "$HERE/initrd-init" "$I/init"
	echo "$INTERIM_MODULES" >"$I/modules"
	# The kernel opens /dev/console for /init before anything is mounted.
	mknod -m 0600 "$I/dev/console" c 5 1
	mknod -m 0666 "$I/dev/null" c 1 3
	# Uncompressed: the kernel unpacks it fastest under emulation.
	(cd "$I" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$WORK/initrd.img"
	INTERIM_INITRD=$WORK/initrd.img
	INTERIM_KERNEL=$vmlinuz
	if kernel_elf "$vmlinuz" "$WORK/interim-vmlinux"; then
		INTERIM_KERNEL=$WORK/interim-vmlinux
	fi
	rm -rf "$WORK/interim/lib"
}

# interim_switch DIR VMLINUX: tiny's own kernel in place of the interim one
# in the image DIR, if it still has it. The new kernel is renamed over the
# old one before the initrd goes: a VM started in between boots tiny's kernel,
# which has no initrd support and ignores it. Owner and mode are the image's.
interim_switch() {
	local dir=$1 tmp
	[ -f "$dir/image.json" ] && [ -f "$dir/initrd.img" ] || return 0
	tmp=$dir/.vmlinuz.tiny
	cp "$2" "$tmp" && chown --reference="$dir/vmlinuz" "$tmp" && chmod --reference="$dir/vmlinuz" "$tmp" &&
		mv -f "$tmp" "$dir/vmlinuz" && rm -f "$dir/initrd.img" || {
		rm -f "$tmp"
		echo "    cannot switch $dir to tiny's kernel" >&2
		return 0
	}
	echo "    $dir now boots tiny's own kernel"
}

# interim_register DIR: DIR boots the interim kernel until tiny's own kernel
# of this configuration (KDIR) is built. Under the list's lock: if the kernel
# was built meanwhile, DIR switches now; else the build switches it when done.
interim_register() {
	local list
	list=$(interim_list)
	exec {ilock}>>"$list.lock"
	flock "$ilock"
	if [ -s "$KDIR/vmlinux" ]; then
		interim_switch "$1" "$KDIR/vmlinux"
	else
		echo "$1" >>"$list"
	fi
	exec {ilock}>&-
}

# interim_switch_all: after tiny's kernel of this configuration was built
# into KDIR, every image waiting for it switches.
interim_switch_all() {
	local list dir
	list=$(interim_list)
	exec {ilock}>>"$list.lock"
	flock "$ilock"
	if [ -s "$list" ]; then
		while IFS= read -r dir; do
			interim_switch "$dir" "$KDIR/vmlinux"
		done <"$list"
	fi
	rm -f "$list"
	exec {ilock}>&-
}
