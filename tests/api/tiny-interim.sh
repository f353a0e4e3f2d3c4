#!/usr/bin/env bash
# images/tiny/interim-kernel.sh: the switch from Debian's interim kernel to
# tiny's own once it is built. Images registered while the compile runs are
# switched when it ends; one registered after it ended is switched at once;
# the new kernel keeps the image's owner and mode and is in place before the
# initrd goes; a deleted image, or one without an initrd, is left alone.
# (The compile itself and a boot on each kernel are e2e matters: lifecycle.sh
# and `make demo`.)
set -u
. "$(dirname "$0")/../lib.sh"

KERNELS=$T_DIR/cache/kernels
CONFIG_SUM=0123456789ab
KDIR=$KERNELS/6.1.999-1-$CONFIG_SUM
DEBS=$T_DIR/cache/debs WORK=$T_DIR/work HERE=$PWD/images/tiny
mkdir -p "$KERNELS" "$DEBS" "$WORK"
die() {
	echo "die: $*" >&2
	return 1
}
. images/tiny/interim-kernel.sh

# image DIR: an image on the interim kernel, as nubod seals it (0640, QEMU's group).
image() {
	mkdir -p "$1"
	echo debian-kernel >"$1/vmlinuz"
	echo initrd >"$1/initrd.img"
	echo '{"name":"tiny"}' >"$1/image.json"
	chown 0:nogroup "$1/vmlinuz"
	chmod 0640 "$1/vmlinuz"
}
image "$T_DIR/img-a"
image "$T_DIR/img-b"

out=$(interim_register "$T_DIR/img-a" && interim_register "$T_DIR/img-b" 2>&1)
ok $? "two images register while tiny's kernel is not built" "$out"
is "$(cat "$(interim_list)")" "$T_DIR/img-a
$T_DIR/img-b" "both are listed"
is "$(cat "$T_DIR/img-a/vmlinuz")" debian-kernel "a listed image keeps Debian's kernel meanwhile"

# One of them is deleted before the compile ends; another has no initrd.
rm -rf "$T_DIR/img-b"
mkdir -p "$KDIR"
echo tiny-kernel >"$KDIR/vmlinux"
out=$(interim_switch_all 2>&1)
ok $? "the switch after the build succeeds, though an image is gone" "$out"
is "$(cat "$T_DIR/img-a/vmlinuz")" tiny-kernel "the image boots tiny's kernel"
[ ! -e "$T_DIR/img-a/initrd.img" ]
ok $? "its initrd is gone"
is "$(stat -c '%U:%G %a' "$T_DIR/img-a/vmlinuz")" "root:nogroup 640" "the kernel keeps the image's owner and mode"
[ ! -e "$(interim_list)" ]
ok $? "the list is emptied"
[ ! -e "$T_DIR/img-b" ]
ok $? "a deleted image is not made again"
is "$(ls -A "$T_DIR/img-a" | xargs)" "image.json vmlinuz" "no temporary file is left in the image"

# Registered after the compile ended: switched at once, nothing listed.
image "$T_DIR/img-c"
interim_register "$T_DIR/img-c" >/dev/null
is "$(cat "$T_DIR/img-c/vmlinuz"):$([ -e "$T_DIR/img-c/initrd.img" ] && echo initrd)" "tiny-kernel:" \
	"an image registered after the build switches at once"
[ ! -s "$(interim_list)" ]
ok $? "and is not listed"

# An image without an initrd (imported, or switched already) is not touched.
mkdir -p "$T_DIR/img-d"
echo own-kernel >"$T_DIR/img-d/vmlinuz"
echo '{}' >"$T_DIR/img-d/image.json"
interim_switch "$T_DIR/img-d" "$KDIR/vmlinux" >/dev/null
is "$(cat "$T_DIR/img-d/vmlinuz")" own-kernel "an image without an initrd keeps its kernel"

# kernel_elf refuses what is not a bzImage with a PVH note.
head -c 4096 /dev/zero >"$T_DIR/not-a-kernel"
! kernel_elf "$T_DIR/not-a-kernel" "$T_DIR/out.elf"
ok $? "kernel_elf refuses a file that is no bzImage"

echo "1..$T_N"
