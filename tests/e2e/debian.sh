#!/usr/bin/env bash
# e2e: the debian-12 image. Built once (its debootstrap base is cached in
# NUBO_CACHE_DIR, /var/cache/nubo, between runs), booted with real cloud-init,
# which must apply nubo's seed: hostname, SSH key for the image's user, the
# root filesystem grown to --disk-size, and the user-data script.
set -u
. "$(dirname "$0")/../lib.sh"

nubod_start || { ok 1 "nubod starts"; exit 1; }
out=$("$NUBO" image build debian-12 --wait 2>&1)
ok $? "nubo image build debian-12 --wait" "$out"
is "$("$NUBO" image show debian-12 --json | jq -r .user)" debian "the image's login user is debian"

printf '#!/bin/sh\necho ran > /var/tmp/user-data-ran\n' >"$T_DIR/ud.sh"
out=$("$NUBO" vm create deb1 --image debian-12 --type small --disk-size 4G --user-data "$T_DIR/ud.sh" --wait 2>&1)
ok $? "a debian-12 VM boots to SSH" "$out"
on() { "$NUBO" vm ssh deb1 -- "$@" 2>>"$T_DIR/ssh.err"; }
is "$(on hostname)" deb1 "cloud-init set the hostname from the seed"
is "$(on whoami)" debian "the seed's SSH key logs in as debian"
on sudo -n true
ok $? "debian has passwordless sudo"
size_kib=$(on df -k / | awk 'NR==2 {print $2}')
[ -n "$size_kib" ] && [ "$size_kib" -gt 3800000 ]
ok $? "the root filesystem grew to --disk-size 4G (${size_kib:-?} KiB)"
wait_for 120 sh -c "\"$NUBO\" vm ssh deb1 -- cat /var/tmp/user-data-ran 2>/dev/null | grep -q ran"
ok $? "the user-data script ran"
out=$("$NUBO" vm stop deb1 --wait 2>&1)
ok $? "the guest powers off on ACPI power-down" "$out"
"$NUBO" vm delete deb1 --wait >/dev/null 2>&1
ok $? "the VM is deleted"

echo "1..$T_N"
