#!/usr/bin/env bash
# e2e: the debian-12 image. Built once (its debootstrap base is cached in
# NUBO_CACHE_DIR, /var/cache/nubo, between runs), booted with real cloud-init,
# which must apply nubo's seed: hostname, SSH key for the image's user, the
# root filesystem grown to --disk-size, and the user-data script; a live
# resize (a vCPU and a memory DIMM hot-plugged, onlined by the image's udev
# rules, and the DIMM unplugged again; the root disk grown, and its file
# system with it, by another rule); then the
# same without a seed disk (--no-seed), from the metadata service's NoCloud
# tree that the VM's SMBIOS serial names.
set -u
. "$(dirname "$0")/../lib.sh"

# Debian under TCG on a shared host can take minutes to reach sshd: a
# longer wait than the default 300 s, so that a slow boot is not a failure
# (a functional bound; the time itself is bench/'s business).
# d1 → d2 adds a vCPU, d2 → d2m a 512 MiB DIMM (live resize).
cat >"$T_DIR/nubod.json" <<'JSON'
{"ssh_wait_s": 900, "types": [
  {"name": "d1", "vcpus": 1, "memory_mib": 1024},
  {"name": "d2", "vcpus": 2, "memory_mib": 1024},
  {"name": "d2m", "vcpus": 2, "memory_mib": 1536}
]}
JSON
nubod_start --config "$T_DIR/nubod.json" || { ok 1 "nubod starts"; exit 1; }
out=$("$NUBO" image build debian-12 --wait 2>&1)
ok $? "nubo image build debian-12 --wait" "$out"
is "$("$NUBO" image show debian-12 --json | jq -r .user)" debian "the image's login user is debian"

# Two VMs boot at once, one with a seed disk and one without (a boot of
# Debian under TCG takes minutes, and each QEMU keeps one core busy).
printf '#!/bin/sh\necho ran > /var/tmp/user-data-ran\n' >"$T_DIR/ud.sh"
printf '#!/bin/sh\necho ran-from-nocloud > /var/tmp/user-data-ran\n' >"$T_DIR/ud2.sh"
timeout 1000 "$NUBO" vm create deb1 --image debian-12 --type d1 --max-type d2m --disk-size 4G --user-data "$T_DIR/ud.sh" \
	--wait >"$T_DIR/deb1.out" 2>&1 &
deb1=$!
timeout 1000 "$NUBO" vm create deb2 --image debian-12 --type small --no-seed --user-data "$T_DIR/ud2.sh" \
	--wait >"$T_DIR/deb2.out" 2>&1 &
deb2=$!
wait $deb1
ok $? "a debian-12 VM boots to SSH" "$(cat "$T_DIR/deb1.out")"
on() { "$NUBO" vm ssh deb1 -- "$@" 2>>"$T_DIR/ssh.err"; }
# ans VM CMD...: CMD's output in VM, tried up to three times while it is
# empty (on a loaded host a first connect after boot can time out during
# the banner exchange). For checks that expect an answer.
ans() { local vm=$1 out i; shift; for i in 1 2 3; do out=$("$NUBO" vm ssh "$vm" -- "$@" 2>>"$T_DIR/ssh.err"); [ -n "$out" ] && break; sleep 2; done; printf '%s' "$out"; }
is "$(ans deb1 hostname)" deb1 "cloud-init set the hostname from the seed"
is "$(ans deb1 whoami)" debian "the seed's SSH key logs in as debian"
# findfs is in /sbin, on root's path only: run through sudo, it exits 1
# when no filesystem has the label (127 would be findfs not found, 255 ssh).
is "$(ans deb1 'sudo -n findfs LABEL=cidata >/dev/null; echo $?')" 0 "the seeded VM has its cidata disk (the check of deb2 below can tell)"
on sudo -n true
ok $? "debian has passwordless sudo"
size_kib=$(ans deb1 df -k / | awk 'NR==2 {print $2}')
[ -n "$size_kib" ] && [ "$size_kib" -gt 3800000 ]
ok $? "the root filesystem grew to --disk-size 4G (${size_kib:-?} KiB)"
wait_for 120 sh -c "\"$NUBO\" vm ssh deb1 -- cat /var/tmp/user-data-ran 2>/dev/null | grep -q ran"
ok $? "the user-data script ran"

# --- live resize: udev brings a hot-added vCPU and DIMM online ------------------
# ans1 CMD...: CMD's output in deb1, tried up to five times while it is empty
# (under load a connect can time out in the banner exchange).
ans1() { local out i; for i in 1 2 3 4 5; do out=$(on "$@"); [ -n "$out" ] && break; sleep 2; done; printf '%s' "$out"; }
boot1=$(ans1 cat /proc/sys/kernel/random/boot_id)
memtotal() { ans1 free -m | awk '/^Mem:/ {print $2}'; }
is "$(ans1 nproc)" 1 "deb1 boots with 1 vCPU"
m0=$(memtotal)
like "$m0" '^[0-9]+$' "free -m shows deb1's memory ($m0 MiB)"
m0=${m0:-999999}   # unknown: the checks below must fail, not pass against 0
out=$("$NUBO" vm resize deb1 --type d2 --wait 2>&1)
ok $? "nubo vm resize deb1 --type d2 --wait" "$out"
wait_for 120 sh -c "[ \"\$(\"$NUBO\" vm ssh deb1 -- nproc 2>/dev/null)\" = 2 ]"
is "$(ans1 nproc)" 2 "nproc is 2 in debian-12 after the live resize (udev onlined the vCPU)"
out=$("$NUBO" vm resize deb1 --type d2m --wait 2>&1)
ok $? "nubo vm resize deb1 --type d2m --wait" "$out"
wait_for 120 sh -c "[ \"\$(\"$NUBO\" vm ssh deb1 -- free -m 2>/dev/null | awk '/^Mem:/ {print \$2}')\" -ge $((m0 + 400)) ]"
m1=$(memtotal)
[ "${m1:-0}" -ge $((m0 + 400)) ]
ok $? "free -m grew by the 512 MiB DIMM ($m0 → $m1 MiB)"
ans1 'cat /sys/devices/system/memory/memory*/valid_zones' | grep -qx Movable
ok $? "the new memory is online in the movable zone"
out=$("$NUBO" vm resize deb1 --type d2 --wait 2>&1)
ok $? "nubo vm resize deb1 --type d2 --wait (the DIMM unplugged)" "$out"
wait_for 120 sh -c "[ \"\$(\"$NUBO\" vm ssh deb1 -- free -m 2>/dev/null | awk '/^Mem:/ {print \$2}')\" -le $((m0 + 16)) ]"
m2=$(memtotal)
[ "${m2:-99999}" -le $((m0 + 16)) ]
ok $? "free -m is back to the boot memory ($m1 → $m2 MiB)"
if [ "$("$NUBO" vm show deb1 --json | jq -r .accel)" = kvm ]; then
	out=$("$NUBO" vm resize deb1 --type d1 --wait 2>&1)
	ok $? "nubo vm resize deb1 --type d1 --wait (live under KVM)" "$out"
	wait_for 120 sh -c "[ \"\$(\"$NUBO\" vm ssh deb1 -- nproc 2>/dev/null)\" = 1 ]"
	is "$(ans1 nproc)" 1 "nproc is 1 again"
else
	# QEMU 7.2 stops a TCG VM whose guest releases a vCPU: refused live
	# (tests/e2e/resize.sh does it with --restart, a slow boot here).
	out=$("$NUBO" vm resize deb1 --type d1 2>&1)
	is "$?" 1 "under TCG, removing the vCPU live is refused"
	like "$out" 'vCPUs can be added live but not removed.*--restart' "with the reason and the way out"
fi
# The root disk grows live: udev's rule runs resize2fs on the kernel's
# RESIZE=1 change event, and df follows without a reboot.
df0=$(ans1 df -k / | awk 'NR==2 {print $2}')
like "$df0" '^[0-9]+$' "df shows deb1's root file system (${df0:-?} KiB)"
df0=${df0:-999999999}   # unknown: the check below must fail, not pass against 0
out=$("$NUBO" vm resize deb1 --disk-size 6G --wait 2>&1)
ok $? "nubo vm resize deb1 --disk-size 6G --wait" "$out"
wait_for 120 sh -c "[ \"\$(\"$NUBO\" vm ssh deb1 -- df -k / 2>/dev/null | awk 'NR==2 {print \$2}')\" -gt $((df0 + 1500000)) ]"
df1=$(ans1 df -k / | awk 'NR==2 {print $2}')
[ "${df1:-0}" -gt $((df0 + 1500000)) ]
ok $? "its file system grew live with the disk ($df0 → $df1 KiB)"
is "$(ans1 cat /proc/sys/kernel/random/boot_id)" "$boot1" "deb1 resized without a reboot"

# A stock image without a seed disk (issue 20): cloud-init's own ds-identify
# must recognise the platform from the SMBIOS serial and read the metadata
# service's NoCloud tree. The image keeps cloud-init's default ds-identify
# policy (it is not told to trust any source), as a stock image does.
wait $deb2
ok $? "a debian-12 VM without a seed boots to SSH" "$(cat "$T_DIR/deb2.out")"
id2=$("$NUBO" vm show deb2 --json | jq -r .id)
is "$(ans deb2 whoami)" debian "the key from the metadata service logs in as debian"
is "$(ans deb2 hostname)" deb2 "cloud-init set the hostname from the service's meta-data"
is "$(ans deb2 'sudo -n findfs LABEL=cidata >/dev/null 2>&1; echo $?')" 1 "the guest has no cidata disk"
like "$(ans deb2 sudo -n cat /sys/class/dmi/id/product_serial)" '^ds=nocloud-net;s=http://169\.254\.169\.254/nocloud/[0-9a-f]{32}/$' \
	"the SMBIOS serial points cloud-init at the metadata service"
is "$(ans deb2 sudo -n cat /sys/class/dmi/id/product_uuid)" "6e75626f-0000-8000-8000-${id2#vm-}" "the machine UUID carries the VM's id"
is "$(ans deb2 cat /var/lib/cloud/data/instance-id)" "$id2" "cloud-init's instance-id is the VM's id"
wait_for 300 sh -c "\"$NUBO\" vm ssh deb2 -- cat /var/tmp/user-data-ran 2>/dev/null | grep -q ran-from-nocloud"
ok $? "the user-data script from the service ran"
# status.json exists from cloud-init's first stage on (result.json only
# once its last stage is over): which source, and where from.
like "$(ans deb2 cat /run/cloud-init/status.json)" '"datasource": "DataSourceNoCloudNet \[seed=dmi,http://169\.254\.169\.254/nocloud/' \
	"cloud-init used its NoCloud (net) source, found through the SMBIOS serial"
# The KEY guards the tree: a plain GET (what an SSRF could make) without it finds nothing.
get_status() { # URL, fetched in the guest by an unprivileged user: the HTTP status
	ans deb2 "python3 -c 'import sys, urllib.request as u, urllib.error as x
try: print(u.urlopen(sys.argv[1], timeout=10).status)
except x.HTTPError as e: print(e.code)' $1"
}
is "$(get_status http://169.254.169.254/nocloud/00000000000000000000000000000000/user-data)" 404 "another KEY gets 404"
key=$(ans deb2 sudo -n cat /sys/class/dmi/id/product_serial | sed 's|.*/nocloud/||; s|/$||')
is "$(get_status "http://169.254.169.254/nocloud/$key/user-data")" 200 "the VM's own KEY gets 200 (the check above can tell)"
is "$(ans deb2 'cat /sys/class/dmi/id/product_serial >/dev/null 2>&1; echo $?')" 1 \
	"an unprivileged user in the guest cannot read the serial (only root can)"
# deb1 powers off while deb2 reboots.
timeout 1000 "$NUBO" vm reboot deb2 --wait >"$T_DIR/reboot.out" 2>&1 &
reboot=$!
out=$("$NUBO" vm stop deb1 --wait 2>&1)
ok $? "nubo vm stop deb1 --wait" "$out"
is "$("$NUBO" vm show deb1 --json | jq -r '.state + " " + (.reason // "-")')" "stopped -" \
	"the guest powered off on ACPI power-down (stopped, not forced off after the timeout)"
out=$("$NUBO" vm delete deb1 --wait 2>&1)
ok $? "the VM is deleted" "$out"
"$NUBO" vm show deb1 >/dev/null 2>&1
is "$?" 1 "and is gone"
wait $reboot
ok $? "deb2 reboots to SSH" "$(cat "$T_DIR/reboot.out")"
is "$(ans deb2 cat /var/lib/cloud/data/instance-id)" "$id2" "after the reboot it is the same instance"
out=$("$NUBO" vm delete deb2 --wait 2>&1)
ok $? "deb2 is deleted" "$out"
"$NUBO" vm show deb2 >/dev/null 2>&1
is "$?" 1 "and is gone"
