#!/usr/bin/env bash
# API tests for the modes of guest data on the host (issue 12, part 1): the
# folders that hold disks (images, vms, volumes, snapshots) are root's, group
# QEMU's user, mode 0750, set at every start (also over an older state
# folder), so a local user who is neither root nor QEMU's user cannot list or
# read a disk in them, whatever the files' own modes; networks stays
# readable, since dnsmasq runs as nobody.
set -u
. "$(dirname "$0")/../lib.sh"
T_DESTROY_FLAGS=--dry-run

QEMU_USER=nubo-qemu
id "$QEMU_USER" >/dev/null 2>&1 || { echo "1..0 # SKIP no user $QEMU_USER"; exit 0; }
QGROUP=$(id -gn "$QEMU_USER")
# An older state folder: disk folders 0755 and a world-readable disk in each.
for d in images/img-1 vms/vm-1 volumes snapshots/snap-1 networks; do mkdir -p "$T_STATE/$d"; done
chmod 755 "$T_STATE"/{images,vms,volumes,snapshots}
for f in images/img-1/disk.qcow2 vms/vm-1/root.qcow2 volumes/vol-1.qcow2 snapshots/snap-1/layer.qcow2; do
	echo "guest data" >"$T_STATE/$f"
	chmod 644 "$T_STATE/$f"
done
chmod 755 "$T_STATE"

nubod_start --dry-run || { ok 1 "nubod starts"; exit 1; }
ok 0 "nubod starts over an older state folder"
for d in images vms volumes snapshots; do
	is "$(stat -c '%a %U:%G' "$T_STATE/$d")" "750 root:$QGROUP" "$d/ is root:$QGROUP 0750"
done
is "$(stat -c '%a' "$T_STATE/networks")" 755 "networks/ stays 0755 for dnsmasq"
for f in images/img-1/disk.qcow2 vms/vm-1/root.qcow2 volumes/vol-1.qcow2 snapshots/snap-1/layer.qcow2; do
	setpriv --reuid=nobody --regid=nogroup --clear-groups cat "$T_STATE/$f" >/dev/null 2>&1
	is "$?" 1 "nobody cannot read $f, though the file itself is 0644"
done
setpriv --reuid=nobody --regid=nogroup --clear-groups ls "$T_STATE/images" >/dev/null 2>&1
is "$?" 2 "nobody cannot list images/"
setpriv --reuid="$QEMU_USER" --regid="$QGROUP" --clear-groups cat "$T_STATE/images/img-1/disk.qcow2" >/dev/null 2>&1
is "$?" 0 "$QEMU_USER reads an image's disk through images/"
nubod_stop
ok $? "nubod stops cleanly"
echo "1..$T_N"
